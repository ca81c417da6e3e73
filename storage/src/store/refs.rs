//! Reference-aware deletion (Redis 8.2): the `KEEPREF` / `DELREF` / `ACKED` policies of XADD
//! and XTRIM trimming, XDELEX and XACKDEL.
//!
//! Everything here is built from the store's existing paths, so each command's entry deletions
//! and PEL changes are staged in the same batch and land in one atomic commit:
//! * entries are removed by [`Store::stream_trim`] (a prefix of live entries) and
//!   [`Store::stream_delete`] (XDEL's path: single entries, `max_deleted` raised);
//! * PEL references are removed by [`GroupMut::ack`](super::GroupMut::ack), which keeps the
//!   consumer index, the PEL journal and the `XQ.*` queue indexes right.
//!
//! "Referenced" (Redis's `streamEntryIsReferenced`): some group has not delivered the entry yet
//! (its ID is above the group's last delivered ID) or holds it in its PEL. Checking one ID costs
//! O(groups × log PEL); a stream without groups references nothing.
//!
//! Costs: XDELEX and XACKDEL cost O(IDs × groups × log PEL) plus the XDEL path's per-ID cost.
//! DELREF on a trim costs what it removes: one range over each group's PEL below the cut.
//! ACKED on a trim looks only at live entries up to the lowest last delivered ID of the groups
//! (nothing above it can go), stops once it has what the strategy asks, and looks at no more
//! than [`ACKED_TRIM_SCAN_MAX`] entries per call: the entries it looks at are the ones it
//! deletes plus the still-pending ones it has to skip.

use super::*;
use crate::stream::group::Groups;

/// What deleting does to consumer-group references (Redis 8.2's deletion policies).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RefPolicy {
    /// Delete the entries, leave PEL references to them dangling (XDEL's and Redis 7's way).
    #[default]
    KeepRef,
    /// Delete the entries and remove every group's PEL references to them.
    DelRef,
    /// Delete only entries no group references (every group delivered and acknowledged them).
    Acked,
}

/// The outcome for one ID of XDELEX / XACKDEL.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DelOutcome {
    /// XDELEX: no such entry; XACKDEL: not pending in the group (or no such key or group).
    NotFound,
    /// Deleted (XACKDEL: acknowledged, and deleted if it still existed).
    Deleted,
    /// ACKED: kept because a group still references it (XACKDEL: acknowledged all the same).
    Referenced,
}

impl DelOutcome {
    /// The reply code: -1, 1 or 2.
    pub fn code(self) -> i64 {
        match self {
            DelOutcome::NotFound => -1,
            DelOutcome::Deleted => 1,
            DelOutcome::Referenced => 2,
        }
    }
}

/// Most live entries one ACKED trim looks at (deleted or skipped as still pending); the next
/// trim goes on from the head.
pub const ACKED_TRIM_SCAN_MAX: u64 = 100_000;

/// Whether some group still needs entry `id`: not delivered yet, or pending.
fn referenced(groups: &Groups, id: StreamId) -> bool {
    groups
        .values()
        .any(|g| id > g.last_id || g.pel.contains_key(&id))
}

/// Whether some group holds `id` in its PEL.
fn pending_anywhere(groups: &Groups, id: StreamId) -> bool {
    groups.values().any(|g| g.pel.contains_key(&id))
}

impl Store {
    fn stream_meta(&self, db: usize, name: &[u8]) -> Option<&StreamMeta> {
        match self.dirs.get(db)?.get(name).map(|e| &e.value) {
            Some(Value::Stream(m)) => Some(m),
            _ => None,
        }
    }

    /// DELREF: removes `ids` from every group PEL that holds them (through `GroupMut::ack`).
    fn drop_refs(&mut self, db: usize, name: &[u8], ids: &[StreamId]) {
        if ids.is_empty() {
            return;
        }
        let Some(meta) = self.stream_meta(db, name) else {
            return;
        };
        let holders: Vec<Bytes> = meta
            .groups
            .iter()
            .filter(|(_, g)| ids.iter().any(|id| g.pel.contains_key(id)))
            .map(|(n, _)| n.clone())
            .collect();
        for gname in holders {
            if let Some(mut g) = self.group_mut(db, name, &gname) {
                for id in ids {
                    g.ack(*id);
                }
            }
        }
    }

    /// DELREF after a trim: removes every PEL reference in `from..to` (`to = None`: no upper
    /// bound). Costs what it removes plus one seek per group.
    fn drop_refs_range(&mut self, db: usize, name: &[u8], from: StreamId, to: Option<StreamId>) {
        let Some(meta) = self.stream_meta(db, name) else {
            return;
        };
        let range = (
            std::ops::Bound::Included(from),
            to.map_or(std::ops::Bound::Unbounded, std::ops::Bound::Excluded),
        );
        let work: Vec<(Bytes, Vec<StreamId>)> = meta
            .groups
            .iter()
            .filter_map(|(n, g)| {
                let ids: Vec<StreamId> = g.pel.range(range).map(|(id, _)| *id).collect();
                (!ids.is_empty()).then(|| (n.clone(), ids))
            })
            .collect();
        for (gname, ids) in work {
            if let Some(mut g) = self.group_mut(db, name, &gname) {
                for id in ids {
                    let acked = g.ack(id);
                    debug_assert!(acked, "pending entry {id} vanished");
                }
            }
        }
    }

    /// Trims the stream at `name` as XTRIM / XADD do with a reference policy; returns how many
    /// entries were removed. `KeepRef` is [`Store::stream_trim`]; `DelRef` trims the same
    /// entries and drops the PEL references to them; `Acked` deletes, among the entries the
    /// strategy would trim, only those no group references (skipping still-pending ones and
    /// going on past them, as Redis 8.2.7+ does; `~` is treated as `=`, within LIMIT).
    /// `protect`: XADD's own entry, as for [`Store::stream_trim`].
    pub fn stream_trim_refs(
        &mut self,
        db: usize,
        name: &[u8],
        spec: TrimSpec,
        policy: RefPolicy,
        protect: Option<StreamId>,
        now_ms: u64,
    ) -> Result<u64> {
        let Some((first, no_groups)) = self
            .stream_meta(db, name)
            .map(|m| (m.first_id, m.groups.is_empty()))
        else {
            return Ok(0);
        };
        if no_groups || policy == RefPolicy::KeepRef {
            // Without groups the policies change nothing.
            return self.stream_trim(db, name, spec, protect, now_ms);
        }
        if policy == RefPolicy::DelRef {
            let removed = self.stream_trim(db, name, spec, protect, now_ms)?;
            if removed > 0 {
                // The removed entries are the live ones below the new first entry.
                let to = match self.stream_meta(db, name) {
                    Some(m) if !m.is_empty() => Some(m.first_id),
                    _ => None,
                };
                self.drop_refs_range(db, name, first, to);
            }
            return Ok(removed);
        }
        self.trim_acked(db, name, spec, protect, now_ms)
    }

    /// ACKED trimming (see [`Store::stream_trim_refs`]).
    fn trim_acked(
        &mut self,
        db: usize,
        name: &[u8],
        spec: TrimSpec,
        protect: Option<StreamId>,
        now_ms: u64,
    ) -> Result<u64> {
        if protect.is_some() {
            // XADD's own entry becomes an ordinary staged entry (in the open run), so the
            // scan below sees it and the deletes below may remove it.
            self.end_command();
        }
        let Some(meta) = self.stream_meta(db, name) else {
            return Ok(0);
        };
        let (sid, first, len) = (meta.sid, meta.first_id, meta.len());
        // What the strategy asks for: how many deletions (MAXLEN), or below which ID (MINID).
        let (want, below) = match spec.strategy {
            Trim::MaxLen(n) => (len.saturating_sub(n), StreamId::MAX),
            Trim::MinId(m) => (u64::MAX, m),
        };
        let want = if spec.limit > 0 {
            want.min(spec.limit)
        } else {
            want
        };
        // Nothing above the lowest last delivered ID can go.
        let Some(hi) = meta.groups.values().map(|g| g.last_id).min() else {
            return Ok(0);
        };
        if want == 0 || len == 0 || hi < first || below <= first {
            return Ok(0);
        }
        let Store {
            dirs,
            entries,
            overlay,
            open_runs,
            ..
        } = &*self;
        let Some(Value::Stream(meta)) = dirs[db].get(name).map(|e| &e.value) else {
            return Ok(0);
        };
        let groups = &meta.groups;
        let runs = Runs::new(entries, overlay, open_runs.get(&sid), sid);
        // The deletable entries: a prefix of the live ones (trimmed), then the ones past the
        // first still-pending entry (deleted one by one).
        let mut prefix_end: Option<StreamId> = None;
        let mut first_kept: Option<StreamId> = None;
        let mut holes: Vec<StreamId> = Vec::new();
        let (mut found, mut scanned) = (0u64, 0u64);
        visit_runs(&runs, None, first, hi, false, |key, value| {
            for item in run_iter(sid, key, &value)? {
                let (id, _) = item.map_err(|e| run_corrupt(sid, key, e))?;
                if id < first {
                    continue;
                }
                if id > hi || id >= below || found >= want || scanned >= ACKED_TRIM_SCAN_MAX {
                    return Ok(false);
                }
                scanned += 1;
                if pending_anywhere(groups, id) {
                    first_kept.get_or_insert(id);
                    continue;
                }
                debug_assert!(!referenced(groups, id));
                found += 1;
                if first_kept.is_none() {
                    prefix_end = Some(id);
                } else {
                    holes.push(id);
                }
            }
            Ok(true)
        })?;
        let mut removed = 0;
        if let Some(end) = prefix_end {
            let strategy = match end.successor() {
                Some(next) => Trim::MinId(next),
                None => Trim::MaxLen(0),
            };
            let exact = TrimSpec {
                strategy,
                approx: false,
                limit: 0,
            };
            removed += self.stream_trim(db, name, exact, None, now_ms)?;
        }
        if !holes.is_empty() {
            removed += self.stream_delete(db, name, &holes, now_ms)?;
        }
        debug_assert_eq!(
            removed, found,
            "ACKED trim removed other entries than it chose"
        );
        Ok(removed)
    }

    /// XDELEX: deletes entries by ID under a reference policy; one outcome per ID, in order (an
    /// ID given twice is not found the second time if the first deleted it). A missing stream
    /// finds nothing.
    pub fn stream_delete_refs(
        &mut self,
        db: usize,
        name: &[u8],
        ids: &[StreamId],
        policy: RefPolicy,
        now_ms: u64,
    ) -> Result<Vec<DelOutcome>> {
        let mut out = vec![DelOutcome::NotFound; ids.len()];
        let Some(sid) = self.stream_meta(db, name).map(|m| m.sid) else {
            return Ok(out);
        };
        let mut doomed: Vec<StreamId> = Vec::new();
        // Deleted by an earlier occurrence in this call (the deletes are staged at the end).
        let mut gone: AHashSet<StreamId> = AHashSet::new();
        for (slot, &id) in out.iter_mut().zip(ids) {
            if gone.contains(&id) || self.stream_get(sid, id)?.is_none() {
                continue;
            }
            let held = policy == RefPolicy::Acked
                && self
                    .stream_meta(db, name)
                    .is_some_and(|m| referenced(&m.groups, id));
            if held {
                *slot = DelOutcome::Referenced;
            } else {
                *slot = DelOutcome::Deleted;
                gone.insert(id);
                doomed.push(id);
            }
        }
        if !doomed.is_empty() {
            let n = self.stream_delete(db, name, &doomed, now_ms)?;
            debug_assert_eq!(n, doomed.len() as u64);
        }
        if policy == RefPolicy::DelRef {
            self.drop_refs(db, name, &doomed);
        }
        Ok(out)
    }

    /// XACKDEL: acknowledges `ids` in `group` and deletes them from the stream under a reference
    /// policy; one outcome per ID: not pending in the group (or no such stream or group), acked
    /// and deleted (also when the entry was gone already), or acked but kept (ACKED: another
    /// group still references it).
    pub fn stream_ack_delete(
        &mut self,
        db: usize,
        name: &[u8],
        group: &[u8],
        ids: &[StreamId],
        policy: RefPolicy,
        now_ms: u64,
    ) -> Result<Vec<DelOutcome>> {
        let mut out = vec![DelOutcome::NotFound; ids.len()];
        if self.stream_meta(db, name).is_none() {
            return Ok(out);
        }
        let mut acked = vec![false; ids.len()];
        {
            let Some(mut g) = self.group_mut(db, name, group) else {
                return Ok(out);
            };
            for (a, &id) in acked.iter_mut().zip(ids) {
                *a = g.ack(id);
            }
        }
        // The acknowledged IDs to delete (an entry gone already is simply not found by the
        // XDEL path: the answer is 1 either way).
        let mut doomed: Vec<StreamId> = Vec::new();
        for ((slot, &id), _) in out.iter_mut().zip(ids).zip(&acked).filter(|(_, a)| **a) {
            let held = policy == RefPolicy::Acked
                && self
                    .stream_meta(db, name)
                    .is_some_and(|m| referenced(&m.groups, id));
            if held {
                *slot = DelOutcome::Referenced;
                continue;
            }
            *slot = DelOutcome::Deleted;
            doomed.push(id);
        }
        if !doomed.is_empty() {
            self.stream_delete(db, name, &doomed, now_ms)?;
        }
        if policy == RefPolicy::DelRef {
            self.drop_refs(db, name, &doomed);
        }
        Ok(out)
    }
}
