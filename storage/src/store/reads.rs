//! Reads of stream entries and their caches: ranges, XREAD's reads after an ID, point reads,
//! the merged view of fjall's runs under the overlay of staged writes and the open runs, and the
//! run cache that saves the reverse seek of readers moving forward.
//!
//! Invariant: reads never commit and never change what a later read sees; a cached run is
//! always exactly the run the merged view holds under its key (see `RunCache`).

use super::*;

impl Store {
    /// The runs of incarnation `sid` as readers see them: fjall's, the staged writes, the open
    /// run (see `store/overlay.rs`).
    pub(super) fn runs(&self, sid: u64) -> Runs<'_> {
        Runs::new(&self.entries, &self.overlay, self.open_runs.get(&sid), sid)
    }

    /// Visits the IDs of the entries of incarnation `sid` in `from..=to` in order, while `f`
    /// returns true.
    pub(super) fn scan_ids(
        &mut self,
        sid: u64,
        from: StreamId,
        to: StreamId,
        mut f: impl FnMut(StreamId) -> bool,
    ) -> Result<()> {
        visit_runs(&self.runs(sid), None, from, to, false, |key, value| {
            for item in run_iter(sid, key, &value)? {
                let (id, _) = item.map_err(|e| run_corrupt(sid, key, e))?;
                if id < from {
                    continue;
                }
                if id > to || !f(id) {
                    return Ok(false);
                }
            }
            Ok(true)
        })
    }

    /// Reads the entries of the stream incarnation `sid` with IDs in `from..=to`, ascending (or
    /// descending with `rev`), at most `count` of them (`None` = all).
    pub fn stream_range(
        &mut self,
        sid: u64,
        from: StreamId,
        to: StreamId,
        rev: bool,
        count: Option<usize>,
    ) -> Result<Vec<StreamEntry>> {
        let mut out = Vec::new();
        if from > to || count == Some(0) {
            return Ok(out);
        }
        let limit = count.unwrap_or(usize::MAX);
        let runs = Runs::new(&self.entries, &self.overlay, self.open_runs.get(&sid), sid);
        let cache = Some(&mut self.run_cache);
        visit_runs(&runs, cache, from, to, rev, |key, value| {
            // One shared buffer per run; the entries are slices of it.
            let value = Bytes::from_owner(value);
            if rev {
                let ids = decode_run(sid, key, &value)?;
                for (id, r) in ids.into_iter().rev() {
                    if id > to {
                        continue;
                    }
                    if id < from {
                        return Ok(false);
                    }
                    out.push(StreamEntry {
                        id,
                        raw: EntryBytes::Disk(value.slice(r)),
                    });
                    if out.len() >= limit {
                        return Ok(false);
                    }
                }
            } else {
                for item in run_iter(sid, key, &value)? {
                    let (id, r) = item.map_err(|e| run_corrupt(sid, key, e))?;
                    if id < from {
                        continue;
                    }
                    if id > to {
                        return Ok(false);
                    }
                    out.push(StreamEntry {
                        id,
                        raw: EntryBytes::Disk(value.slice(r)),
                    });
                    if out.len() >= limit {
                        return Ok(false);
                    }
                }
            }
            Ok(true)
        })?;
        Ok(out)
    }

    /// Entries of the stream at `name` with IDs in `from..=to` (see [`Store::stream_range`]),
    /// from the tail cache when it can answer alone — then without reading fjall — else from
    /// the runs (fjall under the staged writes).
    pub fn stream_read(
        &mut self,
        db: usize,
        name: &[u8],
        (from, to): (StreamId, StreamId),
        rev: bool,
        count: Option<usize>,
        now_ms: u64,
    ) -> Result<Vec<StreamEntry>> {
        let Ok(Some(meta)) = self.stream(db, name, now_ms) else {
            return Ok(Vec::new());
        };
        if count == Some(0) {
            return Ok(Vec::new());
        }
        if let Some(hit) = meta.tail_range(from, to, rev, count) {
            return Ok(hit
                .into_iter()
                .map(|(id, raw)| StreamEntry {
                    id,
                    raw: EntryBytes::Mem(raw),
                })
                .collect());
        }
        let sid = meta.sid;
        self.stream_range(sid, from, to, rev, count)
    }

    /// One entry by ID.
    pub fn stream_get(&mut self, sid: u64, id: StreamId) -> Result<Option<StreamEntry>> {
        let runs = Runs::new(&self.entries, &self.overlay, self.open_runs.get(&sid), sid);
        let found = run_at_or_before_cached(&runs, &mut self.run_cache, id)?;
        let Some((key, value)) = found else {
            return Ok(None);
        };
        for item in run_iter(sid, key, &value)? {
            let (e, r) = item.map_err(|e| run_corrupt(sid, key, e))?;
            if e == id {
                let value = Bytes::from_owner(value);
                return Ok(Some(StreamEntry {
                    id,
                    raw: EntryBytes::Disk(value.slice(r)),
                }));
            }
            if e > id {
                break;
            }
        }
        Ok(None)
    }
}

/// Visits the runs of `runs`' incarnation that may hold IDs in `from..=to`, in key order (or
/// reversed with `rev`): the run at or before `from` (which may hold `from`), then every run
/// with a key in `from..=to`. `f(key ID, value)` returns false to stop.
pub(super) fn visit_runs(
    runs: &Runs<'_>,
    cache: Option<&mut RunCache>,
    from: StreamId,
    to: StreamId,
    rev: bool,
    mut f: impl FnMut(StreamId, Slice) -> Result<bool>,
) -> Result<()> {
    if from > to {
        return Ok(());
    }
    // No run key is below MIN: then the forward range below finds every run (`XRANGE s -`).
    let seek = if from == StreamId::MIN {
        None
    } else if let Some(cache) = cache {
        run_at_or_before_cached(runs, cache, from)?
    } else {
        runs.at_or_before(from)?
    };
    let start = match seek {
        Some((key, value)) if !rev => {
            if !f(key, value)? {
                return Ok(());
            }
            // Continue after it.
            match key.successor() {
                Some(next) if next <= to => next,
                _ => return Ok(()),
            }
        }
        Some((key, _)) => key,
        None => from,
    };
    for item in runs.range(start, to, rev) {
        let (key, value) = item?;
        if !f(key, value)? {
            break;
        }
    }
    Ok(())
}

/// Runs read recently, so readers that move forward through a stream — XREADGROUP `>` and
/// XREAD from the last ID they saw, one entry at a time — find the run holding their next ID
/// without a reverse seek in fjall each time.
///
/// Invariant: a cached run is exactly the run the merged view (`overlay::Runs`) holds under
/// its key — the whole run, not a part of it — so [`run_at_or_before_cached`] answers what
/// [`Runs::at_or_before`] would, and [`visit_runs`] can go on after the run's key. Hence:
/// * only sealed runs are cached (from fjall, or staged in the overlay); a sealed run changes
///   only when trimming or XDEL rewrites or removes it, or the incarnation dies, and every such
///   path (trim, XDEL, DEL and whatever drops a stream) forgets the stream's cached runs.
///   Appends only add runs after it, and a commit writes the same runs to fjall, so the cache
///   outlives commits;
/// * an open run is never cached: appends go on adding entries to it under the same key, and
///   sealing it (when full, before XDEL or a trim, at the commit) writes all of them, so a copy
///   taken when it was read would become a stale prefix of the run, and a scan seeking into
///   it would skip every entry appended since. It is in memory anyway: no seek to save.
#[derive(Default)]
pub(crate) struct RunCache {
    slots: Vec<CachedRun>,
    tick: u64,
}

pub(super) struct CachedRun {
    sid: u64,
    key: StreamId,
    /// The run's last ID: an ID in `key..=last` can only be in this run.
    last: StreamId,
    value: Slice,
    used: u64,
}

impl RunCache {
    const SLOTS: usize = 16;

    pub(super) fn get(&mut self, sid: u64, id: StreamId) -> Option<(StreamId, Slice)> {
        self.tick += 1;
        let tick = self.tick;
        let slot = self
            .slots
            .iter_mut()
            .find(|c| c.sid == sid && c.key <= id && id <= c.last)?;
        slot.used = tick;
        Some((slot.key, slot.value.clone()))
    }

    pub(super) fn put(&mut self, sid: u64, key: StreamId, value: &Slice) -> Result<()> {
        let mut last = None;
        for item in run_iter(sid, key, value)? {
            last = Some(item.map_err(|e| run_corrupt(sid, key, e))?.0);
        }
        let Some(last) = last else { return Ok(()) };
        self.tick += 1;
        let run = CachedRun {
            sid,
            key,
            last,
            value: value.clone(),
            used: self.tick,
        };
        if self.slots.len() < Self::SLOTS {
            self.slots.push(run);
        } else if let Some(lru) = self.slots.iter_mut().min_by_key(|c| c.used) {
            *lru = run;
        }
        Ok(())
    }

    /// Forgets the runs of `sid` (they are being rewritten or removed).
    pub(crate) fn forget(&mut self, sid: u64) {
        self.slots.retain(|c| c.sid != sid);
    }
}

/// [`Runs::at_or_before`] through the cache: a hit costs no fjall read. Same answer, always
/// (see the invariant of [`RunCache`]; checked in debug builds).
pub(super) fn run_at_or_before_cached(
    runs: &Runs<'_>,
    cache: &mut RunCache,
    id: StreamId,
) -> Result<Option<(StreamId, Slice)>> {
    let sid = runs.sid();
    if let Some(hit) = cache.get(sid, id) {
        debug_assert!(
            runs.at_or_before(id)
                .map_or(true, |now| now.as_ref() == Some(&hit)),
            "the run cache served a stale copy of run {} of incarnation {sid} for {id}",
            hit.0
        );
        return Ok(Some(hit));
    }
    let found = runs.at_or_before(id)?;
    if let Some((key, value)) = &found {
        // Not the open run: it is still growing (see `RunCache`).
        if runs.open_key() != Some(*key) {
            cache.put(sid, *key, value)?;
        }
    }
    Ok(found)
}

/// The ID part of a run key of `sid`.
pub(super) fn run_key_id(sid: u64, k: &[u8]) -> Result<StreamId> {
    k.get(..8)
        .filter(|p| *p == sid.to_be_bytes())
        .and_then(|_| k.get(8..))
        .and_then(StreamId::from_be_bytes)
        .ok_or_else(|| StoreError::Corrupt(format!("bad entry key {k:?}")))
}

pub(super) fn run_corrupt(sid: u64, key: StreamId, e: run::Corrupt) -> StoreError {
    StoreError::Corrupt(format!("run {key} of stream incarnation {sid}: {e}"))
}

pub(super) fn run_iter(sid: u64, key: StreamId, value: &[u8]) -> Result<run::RunIter<'_>> {
    run::iter(key, value).map_err(|e| run_corrupt(sid, key, e))
}

pub(super) fn decode_run(
    sid: u64,
    key: StreamId,
    value: &[u8],
) -> Result<Vec<(StreamId, std::ops::Range<usize>)>> {
    run::decode(key, value).map_err(|e| run_corrupt(sid, key, e))
}

/// Live entries of `runs`' incarnation with `from <= id < to`.
pub(super) fn count_live(runs: &Runs<'_>, from: StreamId, to: StreamId) -> Result<u64> {
    if from >= to {
        return Ok(0);
    }
    let sid = runs.sid();
    let mut n = 0;
    visit_runs(runs, None, from, to, false, |key, value| {
        for item in run_iter(sid, key, &value)? {
            let (id, _) = item.map_err(|e| run_corrupt(sid, key, e))?;
            if id >= to {
                return Ok(false);
            }
            if id >= from {
                n += 1;
            }
        }
        Ok(true)
    })?;
    Ok(n)
}
