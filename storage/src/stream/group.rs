//! Consumer groups: the group record, its consumers, and the pending-entries list (PEL).
//!
//! Everything here lives in memory (write-through): the PEL is indexed twice — by ID for the
//! group (`pel`) and by consumer (`Consumer::pel`) — so XACK, XPENDING with a consumer, history
//! reads and DELCONSUMER cost what they touch, and the XPENDING summary is proportional to the
//! number of consumers. The store persists every change in the same batch as the command that
//! made it (see [`GroupChange`]); PEL changes go through the group's [`PelJournal`], a log
//! of one record per group per commit (see `store/groups.rs`).
//!
//! Invariants: every `pel` entry's `cid` names a consumer of the group whose `pel` set holds
//! that ID, and every ID in a consumer's set is in `pel` with that consumer's `cid`. For the
//! journal: a pending entry's `seq` names the log record holding its latest state (the
//! record being built when `seq == journal.next`), and every record's `live` counts the
//! pending entries whose `seq` names it.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap};

use bytes::Bytes;

use super::StreamId;

/// `entries-read` unknown (Redis's `SCG_INVALID_ENTRIES_READ`).
pub const ENTRIES_READ_UNKNOWN: i64 = -1;

/// One pending entry: delivered to `cid`, not acknowledged yet.
#[derive(Clone, Copy, Debug)]
pub struct Nack {
    pub cid: u32,
    /// Unix ms of the last delivery.
    pub delivery_time: u64,
    pub delivery_count: u64,
    /// The log record holding this entry's latest state ([`NO_SEQ`]: none yet).
    pub(crate) seq: u64,
}

/// [`Nack::seq`] of an entry not logged yet.
pub(crate) const NO_SEQ: u64 = u64::MAX;

impl PartialEq for Nack {
    /// The delivery state; where it is logged is not part of it.
    fn eq(&self, o: &Nack) -> bool {
        (self.cid, self.delivery_time, self.delivery_count)
            == (o.cid, o.delivery_time, o.delivery_count)
    }
}

impl Eq for Nack {}

/// What the store still has to write for a group (see `store/groups.rs`): the PEL log's ops
/// of the running commit, what the log records on disk hold, and which group and consumer
/// records changed.
#[derive(Clone, Debug, Default)]
pub struct PelJournal {
    /// Encoded ops not yet committed (`store::groups` encodes and replays them); they become
    /// record `next`.
    pub(crate) buf: Vec<u8>,
    pub(crate) buf_ops: u64,
    /// The ID of the last op in `buf` (IDs are coded as deltas from it).
    pub(crate) buf_prev: StreamId,
    /// Pending entries whose latest state is in `buf`.
    pub(crate) buf_live: u64,
    /// `buf` holds a "pending" op (else only acknowledgements, see `buf_ack_floor`).
    pub(crate) buf_pending: bool,
    /// The oldest record that may be left for `buf`'s acknowledgements to be needed: one more
    /// than the newest record holding the state one of them cancels (0: they cancel nothing
    /// on disk).
    pub(crate) buf_ack_floor: u64,
    pub(crate) next: u64,
    /// Log records on disk (committed or staged) by sequence number.
    pub(crate) records: BTreeMap<u64, LogRecord>,
    /// Records holding only acknowledgements, as `(ack floor, seq)`, smallest floor first: a
    /// record whose floor is at or below the oldest record on disk cancels nothing any more
    /// and is deleted out of order (see `store/groups.rs`). May hold records deleted since.
    pub(crate) acks_only: BinaryHeap<Reverse<(u64, u64)>>,
    /// Ops in all of `records`.
    pub(crate) ops: u64,
    /// Pending states logged again by cleaning, since the group was loaded (a statistic).
    pub(crate) cleaned_states: u64,
    /// The group record changed since the last commit.
    pub(crate) group_dirty: bool,
    /// Consumers whose record changed since the last commit (may repeat).
    pub(crate) consumers_dirty: Vec<u32>,
}

/// The size of a group's PEL log: what restart replays and the disk holds for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PelLogStats {
    /// Records on disk (committed or staged).
    pub records: usize,
    /// Ops in those records.
    pub ops: u64,
    /// Pending states logged again by cleaning since the group was loaded.
    pub cleaned_states: u64,
}

/// What the journal knows of one log record on disk.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct LogRecord {
    pub ops: u64,
    /// Pending entries whose latest state is in this record.
    pub live: u64,
}

impl PelJournal {
    /// An entry's latest state leaves record `seq` (it changed again, or it is gone).
    pub(crate) fn unlink(&mut self, seq: u64) {
        if seq == NO_SEQ {
            return;
        }
        let live = if seq == self.next {
            &mut self.buf_live
        } else {
            match self.records.get_mut(&seq) {
                Some(r) => &mut r.live,
                None => {
                    debug_assert!(false, "pending entry logged in missing record {seq}");
                    return;
                }
            }
        };
        debug_assert!(*live > 0, "record {seq} live count underflow");
        *live = live.saturating_sub(1);
    }

    /// The state of an entry logged in record `seq` is cancelled by an acknowledgement in
    /// the buffer: the buffer's acknowledgements are needed as long as record `seq` is there.
    pub(crate) fn note_cancel(&mut self, seq: u64) {
        if seq != NO_SEQ {
            self.buf_ack_floor = self.buf_ack_floor.max(seq.saturating_add(1));
        }
    }

    /// Forgets what the buffer's ops were (it was written or dropped).
    pub(crate) fn reset_buf(&mut self) {
        self.buf.clear();
        self.buf_ops = 0;
        self.buf_live = 0;
        self.buf_pending = false;
        self.buf_ack_floor = 0;
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Consumer {
    pub cid: u32,
    pub name: Bytes,
    /// Last attempted interaction (read or claim), Unix ms (Redis 7.2's `seen-time`).
    pub seen_time: u64,
    /// Last successful interaction, Unix ms; -1 if never (Redis 7.2's `active-time`).
    pub active_time: i64,
    pub pel: BTreeSet<StreamId>,
}

#[derive(Clone, Debug, Default)]
pub struct Group {
    pub gid: u32,
    pub last_id: StreamId,
    pub entries_read: i64,
    pub pel: BTreeMap<StreamId, Nack>,
    /// By name, in Redis's (byte) order.
    pub consumers: BTreeMap<Bytes, Consumer>,
    /// cid → name.
    pub names: BTreeMap<u32, Bytes>,
    pub next_cid: u32,
    pub(crate) journal: PelJournal,
}

/// A record of a group that changed and must be written (or removed) on disk.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum GroupChange {
    Group,
    Consumer(u32),
    ConsumerRemoved(u32),
    Nack(StreamId),
    NackRemoved(StreamId),
}

impl Group {
    pub fn new(gid: u32, last_id: StreamId, entries_read: i64) -> Self {
        Group {
            gid,
            last_id,
            entries_read,
            next_cid: 1,
            ..Default::default()
        }
    }

    pub fn consumer_name(&self, cid: u32) -> Option<&Bytes> {
        self.names.get(&cid)
    }

    /// Creates the consumer if missing; returns its cid and whether it was created.
    pub fn ensure_consumer(
        &mut self,
        name: &Bytes,
        now_ms: u64,
        changes: &mut Vec<GroupChange>,
    ) -> (u32, bool) {
        if let Some(c) = self.consumers.get(name) {
            return (c.cid, false);
        }
        let cid = self.next_cid;
        self.next_cid += 1;
        self.consumers.insert(
            name.clone(),
            Consumer {
                cid,
                name: name.clone(),
                seen_time: now_ms,
                active_time: -1,
                pel: BTreeSet::new(),
            },
        );
        self.names.insert(cid, name.clone());
        changes.push(GroupChange::Consumer(cid));
        (cid, true)
    }

    pub fn consumer_mut(&mut self, cid: u32) -> Option<&mut Consumer> {
        let name = self.names.get(&cid)?;
        self.consumers.get_mut(name)
    }

    /// Puts `nack` in the group PEL (not the consumer index); where the entry is logged
    /// carries over until the change itself is logged. Returns the previous state.
    pub(crate) fn set_nack(&mut self, id: StreamId, mut nack: Nack) -> Option<Nack> {
        match self.pel.get_mut(&id) {
            Some(slot) => {
                nack.seq = slot.seq;
                Some(std::mem::replace(slot, nack))
            }
            None => {
                nack.seq = NO_SEQ;
                self.pel.insert(id, nack);
                None
            }
        }
    }

    /// Removes `id` from the group PEL (not the consumer index); its log record loses a live
    /// entry.
    pub(crate) fn take_nack(&mut self, id: StreamId) -> Option<Nack> {
        let old = self.pel.remove(&id)?;
        self.journal.unlink(old.seq);
        self.journal.note_cancel(old.seq);
        Some(old)
    }

    /// Records a delivery of `id` to `cid` (XREADGROUP `>`): a fresh PEL entry, or one taken
    /// over from another consumer with its count reset, as Redis does.
    pub fn deliver(&mut self, id: StreamId, cid: u32, now_ms: u64, changes: &mut Vec<GroupChange>) {
        if let Some(old) = self.set_nack(id, Nack::new(cid, now_ms, 1)) {
            if old.cid != cid {
                if let Some(c) = self.consumer_mut(old.cid) {
                    c.pel.remove(&id);
                }
            }
        }
        if let Some(c) = self.consumer_mut(cid) {
            c.pel.insert(id);
        }
        changes.push(GroupChange::Nack(id));
    }

    /// Moves (or keeps) the PEL entry `id` to `cid` with new delivery data (XCLAIM/XAUTOCLAIM).
    pub fn assign(
        &mut self,
        id: StreamId,
        cid: u32,
        delivery_time: u64,
        delivery_count: u64,
        changes: &mut Vec<GroupChange>,
    ) {
        let old = self.set_nack(id, Nack::new(cid, delivery_time, delivery_count));
        if let Some(old) = old {
            if old.cid != cid {
                if let Some(c) = self.consumer_mut(old.cid) {
                    c.pel.remove(&id);
                }
            }
        }
        if let Some(c) = self.consumer_mut(cid) {
            c.pel.insert(id);
        }
        changes.push(GroupChange::Nack(id));
    }

    /// Removes `id` from the PEL (XACK, or a claim of a deleted entry); true if it was pending.
    pub fn remove_pending(&mut self, id: StreamId, changes: &mut Vec<GroupChange>) -> bool {
        let Some(old) = self.take_nack(id) else {
            return false;
        };
        if let Some(c) = self.consumer_mut(old.cid) {
            c.pel.remove(&id);
        }
        changes.push(GroupChange::NackRemoved(id));
        true
    }

    /// Deletes a consumer and drops its pending entries; returns how many it had.
    pub fn remove_consumer(
        &mut self,
        name: &[u8],
        changes: &mut Vec<GroupChange>,
    ) -> Option<usize> {
        let c = self.consumers.remove(name)?;
        self.names.remove(&c.cid);
        for id in &c.pel {
            self.take_nack(*id);
            changes.push(GroupChange::NackRemoved(*id));
        }
        changes.push(GroupChange::ConsumerRemoved(c.cid));
        Some(c.pel.len())
    }

    /// The size of the group's PEL log (see `store/groups.rs`).
    pub fn pel_log_stats(&self) -> PelLogStats {
        let j = &self.journal;
        PelLogStats {
            records: j.records.len(),
            ops: j.ops,
            cleaned_states: j.cleaned_states,
        }
    }

    /// Checks the invariants (tests and debug builds).
    pub fn check(&self) -> Result<(), String> {
        for (id, n) in &self.pel {
            let name = self
                .names
                .get(&n.cid)
                .ok_or(format!("pel {id} names unknown cid {}", n.cid))?;
            let c = self
                .consumers
                .get(name)
                .ok_or(format!("cid {} has no consumer", n.cid))?;
            if !c.pel.contains(id) {
                return Err(format!("pel {id} missing from consumer {:?}", name));
            }
        }
        let total: usize = self.consumers.values().map(|c| c.pel.len()).sum();
        if total != self.pel.len() {
            return Err(format!(
                "consumer PELs hold {total} ids, group PEL {}",
                self.pel.len()
            ));
        }
        let j = &self.journal;
        let mut live: BTreeMap<u64, u64> = BTreeMap::new();
        for n in self.pel.values().filter(|n| n.seq != NO_SEQ) {
            *live.entry(n.seq).or_default() += 1;
        }
        let want_buf = live.remove(&j.next).unwrap_or(0);
        if want_buf != j.buf_live {
            return Err(format!(
                "buffer holds {} live ops, expected {want_buf}",
                j.buf_live
            ));
        }
        for (seq, r) in &j.records {
            let want = live.remove(seq).unwrap_or(0);
            if r.live != want {
                return Err(format!(
                    "log record {seq} has {} live ops, expected {want}",
                    r.live
                ));
            }
        }
        if let Some((seq, n)) = live.first_key_value() {
            return Err(format!(
                "{n} pending entries logged in missing record {seq}"
            ));
        }
        for Reverse((floor, seq)) in j.acks_only.iter() {
            if let Some(r) = j.records.get(seq) {
                if r.live != 0 || *floor > *seq {
                    return Err(format!(
                        "acknowledgements-only record {seq} (floor {floor}) has {} live ops",
                        r.live
                    ));
                }
            }
        }
        if j.records.values().map(|r| r.ops).sum::<u64>() != j.ops {
            return Err("journal op count does not add up".into());
        }
        Ok(())
    }

    /// The group record: `last_id ‖ entries_read i64 ‖ next_cid u32 ‖ name`.
    pub fn encode(&self, name: &[u8]) -> Vec<u8> {
        let mut v = Vec::with_capacity(28 + name.len());
        v.extend_from_slice(&self.last_id.to_be_bytes());
        v.extend_from_slice(&self.entries_read.to_be_bytes());
        v.extend_from_slice(&self.next_cid.to_be_bytes());
        v.extend_from_slice(name);
        v
    }

    /// Decodes [`Group::encode`] into (group without consumers/PEL, name).
    pub fn decode(gid: u32, raw: &[u8]) -> Option<(Group, Bytes)> {
        if raw.len() < 28 {
            return None;
        }
        let last_id = StreamId::from_be_bytes(&raw[..16])?;
        let entries_read = i64::from_be_bytes(raw[16..24].try_into().ok()?);
        let next_cid = u32::from_be_bytes(raw[24..28].try_into().ok()?);
        let mut g = Group::new(gid, last_id, entries_read);
        g.next_cid = next_cid.max(1);
        Some((g, Bytes::copy_from_slice(&raw[28..])))
    }
}

impl Consumer {
    /// The consumer record: `seen_time u64 ‖ active_time i64 ‖ name`.
    pub fn encode(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(16 + self.name.len());
        v.extend_from_slice(&self.seen_time.to_be_bytes());
        v.extend_from_slice(&self.active_time.to_be_bytes());
        v.extend_from_slice(&self.name);
        v
    }

    pub fn decode(cid: u32, raw: &[u8]) -> Option<Consumer> {
        if raw.len() < 16 {
            return None;
        }
        Some(Consumer {
            cid,
            seen_time: u64::from_be_bytes(raw[..8].try_into().ok()?),
            active_time: i64::from_be_bytes(raw[8..16].try_into().ok()?),
            name: Bytes::copy_from_slice(&raw[16..]),
            pel: BTreeSet::new(),
        })
    }
}

impl Nack {
    /// A delivery state, not logged yet.
    pub fn new(cid: u32, delivery_time: u64, delivery_count: u64) -> Nack {
        Nack {
            cid,
            delivery_time,
            delivery_count,
            seq: NO_SEQ,
        }
    }

    /// The PEL state as logged: `cid u32 ‖ delivery_time u64 ‖ delivery_count u64`.
    pub fn encode(&self) -> [u8; 20] {
        let mut v = [0u8; 20];
        v[..4].copy_from_slice(&self.cid.to_be_bytes());
        v[4..12].copy_from_slice(&self.delivery_time.to_be_bytes());
        v[12..].copy_from_slice(&self.delivery_count.to_be_bytes());
        v
    }

    pub fn decode(raw: &[u8]) -> Option<Nack> {
        if raw.len() != 20 {
            return None;
        }
        Some(Nack::new(
            u32::from_be_bytes(raw[..4].try_into().ok()?),
            u64::from_be_bytes(raw[4..12].try_into().ok()?),
            u64::from_be_bytes(raw[12..].try_into().ok()?),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indexes_stay_consistent_through_deliveries_claims_and_acks() {
        let mut g = Group::new(1, StreamId::MIN, 0);
        let mut ch = Vec::new();
        let (a, _) = g.ensure_consumer(&Bytes::from_static(b"a"), 1, &mut ch);
        let (b, _) = g.ensure_consumer(&Bytes::from_static(b"b"), 1, &mut ch);
        for s in 1..=5 {
            g.deliver(StreamId::new(1, s), a, 10, &mut ch);
        }
        g.assign(StreamId::new(1, 2), b, 20, 2, &mut ch);
        g.deliver(StreamId::new(1, 3), b, 30, &mut ch);
        assert!(g.remove_pending(StreamId::new(1, 4), &mut ch));
        assert!(!g.remove_pending(StreamId::new(1, 4), &mut ch));
        g.check().expect("consistent");
        assert_eq!(g.consumers[&Bytes::from_static(b"b")].pel.len(), 2);
        assert_eq!(g.remove_consumer(b"a", &mut ch), Some(2));
        g.check().expect("consistent after delconsumer");
        assert_eq!(g.pel.len(), 2);
    }

    #[test]
    fn records_round_trip() {
        let mut g = Group::new(7, StreamId::new(5, 6), -1);
        g.next_cid = 9;
        let (back, name) = Group::decode(7, &g.encode(b"grp")).expect("group");
        assert_eq!(
            (back.last_id, back.entries_read, back.next_cid, &name[..]),
            (g.last_id, -1, 9, &b"grp"[..])
        );
        let c = Consumer {
            cid: 3,
            name: Bytes::from_static(b"c"),
            seen_time: 11,
            active_time: -1,
            pel: BTreeSet::new(),
        };
        assert_eq!(Consumer::decode(3, &c.encode()), Some(c));
        let n = Nack::new(3, 99, 2);
        assert_eq!(Nack::decode(&n.encode()), Some(n));
        assert!(Nack::decode(&[0; 19]).is_none());
    }
}
