//! Consumer groups: the group record, its consumers, and the pending-entries list (PEL).
//!
//! Everything here lives in memory (write-through): the PEL is indexed twice — by ID for the
//! group (`pel`) and by consumer (`Consumer::pel`) — so XACK, XPENDING with a consumer, history
//! reads and DELCONSUMER cost what they touch, and the XPENDING summary is proportional to the
//! number of consumers.
//!
//! Ownership: outside the storage crate these structures are read-only — every field is
//! `pub(crate)` behind a read accessor, and a stream's [`Groups`] can only be read. Group state
//! changes only through the store: `Store::create_group` / `Store::destroy_group`, and the
//! methods of the `GroupMut` handle `Store::group_mut` returns (`store/groups.rs`: set the last
//! delivered ID, create / delete / touch consumers, deliver, redeliver, acknowledge, claim).
//! Each of those stages its own records in the same batch as the command — PEL changes go
//! into the group's [`PelJournal`], a log of one record per group per commit; group and
//! consumer records are marked for the commit — so no caller can change state and forget to
//! persist it. The methods here change the in-memory indexes only and are for those methods.
//!
//! Invariants: every `pel` entry's `cid` names a consumer of the group whose `pel` set holds
//! that ID, and every ID in a consumer's set is in `pel` with that consumer's `cid`. For the
//! journal: a pending entry's `seq` names the log record holding its latest state (the
//! record being built when `seq == journal.next`), and every record's `live` counts the
//! pending entries whose `seq` names it. [`Group::check`] verifies both (after every change in
//! debug builds, for groups small enough to check cheaply).

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap};

use bytes::Bytes;

use super::queue::QueueState;
use super::{StreamId, StreamMeta};

/// The consumer id of an unowned pending entry (a delayed entry no reader has had yet; XNACK's
/// unowned entries later): no consumer has it, consumer ids start at 1.
pub const UNOWNED: u32 = 0;

/// `entries-read` unknown (Redis's `SCG_INVALID_ENTRIES_READ`).
pub const ENTRIES_READ_UNKNOWN: i64 = -1;

/// One pending entry: delivered to `cid`, not acknowledged yet.
#[derive(Clone, Copy, Debug)]
pub struct Nack {
    pub(crate) cid: u32,
    /// Unix ms of the last delivery.
    pub(crate) delivery_time: u64,
    pub(crate) delivery_count: u64,
    /// Unix ms before which the entry is not delivered again, set explicitly (a NACK with a
    /// delay, a delayed entry); 0: none, the deadline is the last delivery plus the group's
    /// visibility timeout, if it has one (see `stream::queue`).
    pub(crate) due: u64,
    /// The log record holding this entry's latest state ([`NO_SEQ`]: none yet).
    pub(crate) seq: u64,
    /// Its place in the group's NACK zone (XNACK, Redis 8.8): 0 if it is not there; else
    /// the entry is unowned ([`UNOWNED`]) with delivery time 0, and entries with smaller
    /// numbers were released before it (see [`Group::nacked`]).
    pub(crate) nseq: u64,
}

/// [`Nack::seq`] of an entry not logged yet.
pub(crate) const NO_SEQ: u64 = u64::MAX;

impl PartialEq for Nack {
    /// The delivery state; where it is logged is not part of it.
    fn eq(&self, o: &Nack) -> bool {
        (
            self.cid,
            self.delivery_time,
            self.delivery_count,
            self.due,
            self.nseq,
        ) == (o.cid, o.delivery_time, o.delivery_count, o.due, o.nseq)
    }
}

impl Eq for Nack {}

/// Removes a pending entry's old state from the queue indexes.
fn unindex(q: &mut QueueState, id: StreamId, old: &Nack) {
    if let Some(d) = q.deadline(old.delivery_time, old.due) {
        if !q.timers.remove(&(d, id)) {
            q.ready.remove(&(d, id));
        }
    }
}

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
    pub(crate) cid: u32,
    pub(crate) name: Bytes,
    /// Last attempted interaction (read or claim), Unix ms (Redis 7.2's `seen-time`).
    pub(crate) seen_time: u64,
    /// Last successful interaction, Unix ms; -1 if never (Redis 7.2's `active-time`).
    pub(crate) active_time: i64,
    pub(crate) pel: BTreeSet<StreamId>,
}

impl Consumer {
    pub fn cid(&self) -> u32 {
        self.cid
    }

    pub fn name(&self) -> &Bytes {
        &self.name
    }

    /// Last attempted interaction (read or claim), Unix ms (Redis 7.2's `seen-time`).
    pub fn seen_time(&self) -> u64 {
        self.seen_time
    }

    /// Last successful interaction, Unix ms; -1 if never (Redis 7.2's `active-time`).
    pub fn active_time(&self) -> i64 {
        self.active_time
    }

    /// The IDs pending for this consumer.
    pub fn pel(&self) -> &BTreeSet<StreamId> {
        &self.pel
    }
}

#[derive(Clone, Debug, Default)]
pub struct Group {
    pub(crate) gid: u32,
    pub(crate) last_id: StreamId,
    pub(crate) entries_read: i64,
    pub(crate) pel: BTreeMap<StreamId, Nack>,
    /// By name, in Redis's (byte) order.
    pub(crate) consumers: BTreeMap<Bytes, Consumer>,
    /// cid → name.
    pub(crate) names: BTreeMap<u32, Bytes>,
    pub(crate) next_cid: u32,
    pub(crate) journal: PelJournal,
    /// The job-queue side (`XQ.*`), if the group was configured as a queue: its settings,
    /// counters and deadline indexes over `pel` (see `stream::queue`).
    pub(crate) queue: Option<Box<QueueState>>,
    /// The NACK zone (XNACK): `nseq → id` for every pending entry with a non-zero
    /// [`Nack::nseq`], so in the order they were released (FIFO). Claims (XREADGROUP CLAIM)
    /// take these first. Derived from the PEL (rebuilt at load).
    pub(crate) nacked: BTreeMap<u64, StreamId>,
    /// The next NACK-zone number (above every `nseq` in the PEL).
    pub(crate) next_nseq: u64,
    /// `(delivery time, id)` of every pending entry outside the NACK zone, for XREADGROUP
    /// CLAIM's "longest idle first": built on the first claim of the group (a pass over the
    /// PEL) and kept up to date from then on, so groups that never use CLAIM pay nothing.
    /// Memory only.
    pub(crate) by_time: Option<BTreeSet<(u64, StreamId)>>,
}

/// The consumer groups of a stream, by name (Redis lists them in byte order). Read-only
/// outside the storage crate: groups are created and destroyed through the store.
#[derive(Clone, Debug, Default)]
pub struct Groups {
    pub(crate) map: BTreeMap<Bytes, Group>,
    /// Entries of the stream added with a delay (`XQ.ADD`), by ID → Unix ms when `>` readers
    /// may see them (a stream-level fact kept here, beside the groups it concerns; records
    /// tagged `0x07`, see `store/groups.rs`). A group whose `>` read passes one before it is
    /// due holds it as an unowned pending entry due then.
    pub(crate) delayed: BTreeMap<StreamId, u64>,
    /// The stream's retention policy (`XQ.RETENTION`; record tagged `0x08`), if it has one.
    pub(crate) retention: Option<Retention>,
}

/// A stream's retention by consumption (`XQ.RETENTION`): entries are deleted from the front
/// once every group has acknowledged them (`acked`), and/or once older than `max_age_ms` (by
/// their ID's time; 0: no age limit).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Retention {
    pub acked: bool,
    pub max_age_ms: u64,
}

impl Retention {
    /// The record: `acked u8 ‖ max_age_ms u64`.
    pub(crate) fn encode(&self) -> [u8; 9] {
        let mut v = [0u8; 9];
        v[0] = u8::from(self.acked);
        v[1..].copy_from_slice(&self.max_age_ms.to_be_bytes());
        v
    }

    pub(crate) fn decode(raw: &[u8]) -> Option<Retention> {
        let (&acked, age) = raw.split_first()?;
        Some(Retention {
            acked: match acked {
                0 => false,
                1 => true,
                _ => return None,
            },
            max_age_ms: u64::from_be_bytes(age.try_into().ok()?),
        })
    }
}

impl Groups {
    pub fn get(&self, name: &[u8]) -> Option<&Group> {
        self.map.get(name)
    }

    pub fn contains_key(&self, name: &[u8]) -> bool {
        self.map.contains_key(name)
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    pub fn iter(&self) -> std::collections::btree_map::Iter<'_, Bytes, Group> {
        self.map.iter()
    }

    pub fn values(&self) -> std::collections::btree_map::Values<'_, Bytes, Group> {
        self.map.values()
    }

    pub(crate) fn get_mut(&mut self, name: &[u8]) -> Option<&mut Group> {
        self.map.get_mut(name)
    }

    pub(crate) fn clear(&mut self) {
        self.map.clear();
        self.delayed.clear();
    }

    /// When `>` readers may see entry `id` (added with a delay), if it was.
    pub fn delayed_until(&self, id: StreamId) -> Option<u64> {
        self.delayed.get(&id).copied()
    }

    /// The stream's retention policy (`XQ.RETENTION`), if any.
    pub fn retention(&self) -> Option<Retention> {
        self.retention
    }

    /// The lowest ID some group still needs: below it, every group has read and acknowledged
    /// every entry (`None` without groups: nothing is known to be consumed).
    pub fn consumed_below(&self) -> Option<StreamId> {
        let mut low: Option<StreamId> = None;
        for g in self.map.values() {
            let need = match g.pel.keys().next() {
                Some(first) => *first,
                None => g.last_id.successor().unwrap_or(StreamId::MAX),
            };
            let need = need.min(g.last_id.successor().unwrap_or(StreamId::MAX));
            low = Some(low.map_or(need, |l| l.min(need)));
        }
        low
    }

    /// Whether any entry of the stream was added with a delay still recorded.
    pub fn has_delayed(&self) -> bool {
        !self.delayed.is_empty()
    }
}

impl<'a> IntoIterator for &'a Groups {
    type Item = (&'a Bytes, &'a Group);
    type IntoIter = std::collections::btree_map::Iter<'a, Bytes, Group>;

    fn into_iter(self) -> Self::IntoIter {
        self.map.iter()
    }
}

/// Which Redis's rules `entries-read` and `lag` follow where they changed after 7.0.15:
/// Redis 8.0 (#13338, #13473) counts a tombstone behind the first entry as still ahead of a
/// group that has not passed it, gives up estimating an ID before the greatest tombstone,
/// keeps counting a delivery exactly only while no tombstone lies past the group's previous
/// last ID, and answers the lag of an emptied stream (0) and of a group behind the first
/// entry and every tombstone (the length) directly. The server picks them by the Redis
/// version it reports.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum CounterRules {
    #[default]
    Redis70,
    Redis80,
}

/// What `entries-read` and the lag of a group depend on in its stream: a copy, so that a
/// group can change while they are known.
#[derive(Clone, Copy, Debug)]
pub(crate) struct StreamCounters {
    pub first_id: StreamId,
    pub last_id: StreamId,
    pub max_deleted: StreamId,
    pub entries_added: u64,
    pub len: u64,
    pub rules: CounterRules,
}

impl StreamCounters {
    pub fn of(s: &StreamMeta, rules: CounterRules) -> StreamCounters {
        StreamCounters {
            first_id: s.first_id,
            last_id: s.last_id,
            max_deleted: s.max_deleted,
            entries_added: s.entries_added,
            len: s.len(),
            rules,
        }
    }

    /// `streamRangeHasTombstones(s, start, NULL)`.
    pub fn has_tombstones_from(&self, start: StreamId) -> bool {
        if self.len == 0 || self.max_deleted == StreamId::MIN {
            return false;
        }
        // 7.0: a greatest tombstone behind the first entry is not ahead of anything.
        if self.rules == CounterRules::Redis70 && self.first_id > self.max_deleted {
            return false;
        }
        start <= self.max_deleted
    }

    /// `streamEstimateDistanceFromFirstEverEntry`: entries-read as of `id`, if knowable.
    pub fn estimate_entries_read(&self, id: StreamId) -> i64 {
        if self.entries_added == 0 {
            return 0;
        }
        if self.len == 0 && id <= self.last_id {
            return self.entries_added as i64;
        }
        // 8.0: a tombstone past `id` makes any estimate wrong.
        if self.rules == CounterRules::Redis80 && id != StreamId::MIN && id < self.max_deleted {
            return ENTRIES_READ_UNKNOWN;
        }
        if id == self.last_id {
            return self.entries_added as i64;
        } else if id > self.last_id {
            return ENTRIES_READ_UNKNOWN;
        }
        // Redis computes these in unsigned 64-bit arithmetic, wrapping.
        if self.max_deleted == StreamId::MIN || self.max_deleted < self.first_id {
            if id < self.first_id {
                return self.entries_added.wrapping_sub(self.len) as i64;
            } else if id == self.first_id {
                return self.entries_added.wrapping_sub(self.len).wrapping_add(1) as i64;
            }
        }
        ENTRIES_READ_UNKNOWN
    }
}

impl Group {
    pub(crate) fn new(gid: u32, last_id: StreamId, entries_read: i64) -> Self {
        Group {
            gid,
            last_id,
            entries_read,
            next_cid: 1,
            next_nseq: 1,
            ..Default::default()
        }
    }

    // -----------------------------------------------------------------------------------------
    // Reads.

    pub fn gid(&self) -> u32 {
        self.gid
    }

    /// The last delivered ID.
    pub fn last_id(&self) -> StreamId {
        self.last_id
    }

    /// Entries read, or [`ENTRIES_READ_UNKNOWN`].
    pub fn entries_read(&self) -> i64 {
        self.entries_read
    }

    /// The job-queue state, if the group was configured as a queue (`XQ.CONFIG`).
    pub fn queue(&self) -> Option<&QueueState> {
        self.queue.as_deref()
    }

    /// The deadline of pending entry `n` (see `stream::queue`), if the group has one for it.
    pub fn deadline_of(&self, n: &Nack) -> Option<u64> {
        self.queue
            .as_ref()
            .and_then(|q| q.deadline(n.delivery_time, n.due))
    }

    /// The pending entries, by ID.
    pub fn pel(&self) -> &BTreeMap<StreamId, Nack> {
        &self.pel
    }

    /// The consumers, by name in Redis's (byte) order.
    pub fn consumers(&self) -> &BTreeMap<Bytes, Consumer> {
        &self.consumers
    }

    pub fn consumer(&self, name: &[u8]) -> Option<&Consumer> {
        self.consumers.get(name)
    }

    pub fn consumer_name(&self, cid: u32) -> Option<&Bytes> {
        self.names.get(&cid)
    }

    /// `streamReplyWithCGLag`: `None` is a null lag. Unsigned, wrapping arithmetic as in Redis
    /// (ENTRIESREAD and XSETID ENTRIESADDED can set either counter anywhere up to i64::MAX).
    pub fn lag(&self, s: &StreamMeta, rules: CounterRules) -> Option<i64> {
        let s = StreamCounters::of(s, rules);
        if s.entries_added == 0 {
            return Some(0);
        }
        if rules == CounterRules::Redis80 {
            if s.len == 0 {
                return Some(0);
            }
            if self.last_id < s.first_id && s.max_deleted < s.first_id {
                return Some(s.len as i64);
            }
        }
        if self.entries_read != ENTRIES_READ_UNKNOWN && !s.has_tombstones_from(self.last_id) {
            return Some(s.entries_added.wrapping_sub(self.entries_read as u64) as i64);
        }
        let read = s.estimate_entries_read(self.last_id);
        (read != ENTRIES_READ_UNKNOWN).then(|| s.entries_added.wrapping_sub(read as u64) as i64)
    }

    // -----------------------------------------------------------------------------------------
    // The in-memory side of changes: the two PEL indexes and the consumer directory. They log
    // nothing; `store::groups::GroupMut` pairs each with its records.

    /// Creates the consumer if missing (seen now, never active); returns its cid and whether
    /// it was created.
    pub(crate) fn add_consumer(&mut self, name: &Bytes, now_ms: u64) -> (u32, bool) {
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
        (cid, true)
    }

    pub(crate) fn consumer_mut(&mut self, cid: u32) -> Option<&mut Consumer> {
        let name = self.names.get(&cid)?;
        self.consumers.get_mut(name)
    }

    /// Puts `nack` in the group PEL (not the consumer index); where the entry is logged
    /// carries over until the change itself is logged. Returns the previous state. A state
    /// in the NACK zone that has an owner, a delivery time or a due time (a released entry
    /// changed by a path that copies its old state, e.g. a queue group postponing it) leaves
    /// the zone: the zone holds only unowned entries with delivery time 0.
    pub(crate) fn set_nack(&mut self, id: StreamId, mut nack: Nack) -> Option<Nack> {
        if nack.nseq != 0 && (nack.cid != UNOWNED || nack.delivery_time != 0 || nack.due != 0) {
            nack.nseq = 0;
        }
        let old = match self.pel.get_mut(&id) {
            Some(slot) => {
                nack.seq = slot.seq;
                Some(std::mem::replace(slot, nack))
            }
            None => {
                nack.seq = NO_SEQ;
                self.pel.insert(id, nack);
                None
            }
        };
        if let Some(q) = self.queue.as_deref_mut() {
            if let Some(o) = &old {
                unindex(q, id, o);
            }
            if let Some(d) = q.deadline(nack.delivery_time, nack.due) {
                q.timers.insert((d, id));
            }
        }
        if let Some(o) = &old {
            self.unindex_claim(id, o);
        }
        self.index_claim(id, &nack);
        old
    }

    /// Adds a pending entry's state to the claim indexes (NACK zone, delivery-time order).
    fn index_claim(&mut self, id: StreamId, n: &Nack) {
        if n.nseq != 0 {
            self.nacked.insert(n.nseq, id);
            self.next_nseq = self.next_nseq.max(n.nseq.saturating_add(1));
        } else if let Some(t) = self.by_time.as_mut() {
            t.insert((n.delivery_time, id));
        }
    }

    /// Removes a pending entry's old state from the claim indexes.
    fn unindex_claim(&mut self, id: StreamId, old: &Nack) {
        if old.nseq != 0 {
            self.nacked.remove(&old.nseq);
        } else if let Some(t) = self.by_time.as_mut() {
            t.remove(&(old.delivery_time, id));
        }
    }

    /// Rebuilds the NACK zone from the PEL (at load) and drops the delivery-time index (it is
    /// built again on the next claim).
    pub(crate) fn rebuild_claim_index(&mut self) {
        self.nacked.clear();
        self.by_time = None;
        let mut next = 1u64;
        for (id, n) in &self.pel {
            if n.nseq != 0 {
                self.nacked.insert(n.nseq, *id);
                next = next.max(n.nseq.saturating_add(1));
            }
        }
        self.next_nseq = next;
    }

    /// Builds the delivery-time index if it is not there yet (a pass over the PEL).
    pub(crate) fn ensure_time_index(&mut self) -> &BTreeSet<(u64, StreamId)> {
        let pel = &self.pel;
        self.by_time.get_or_insert_with(|| {
            pel.iter()
                .filter(|(_, n)| n.nseq == 0)
                .map(|(id, n)| (n.delivery_time, *id))
                .collect()
        })
    }

    /// The NACK zone, in release order (`nseq → id`).
    pub fn nacked(&self) -> &BTreeMap<u64, StreamId> {
        &self.nacked
    }

    /// Whether XREADGROUP CLAIM with this min-idle-time would find a pending entry at
    /// `now_ms` (`None`: not known, the delivery-time index is not built).
    pub fn has_claimable(&self, now_ms: u64, min_idle: u64) -> Option<bool> {
        if !self.nacked.is_empty() {
            return Some(true);
        }
        let t = self.by_time.as_ref()?;
        Some(
            t.first()
                .is_some_and(|(d, _)| d.saturating_add(min_idle) <= now_ms),
        )
    }

    /// When a pending entry outside the NACK zone becomes claimable with this min-idle-time
    /// (`None`: there is none, or the index is not built).
    pub fn next_claimable(&self, min_idle: u64) -> Option<u64> {
        self.by_time
            .as_ref()?
            .first()
            .map(|(d, _)| d.saturating_add(min_idle))
    }

    /// Rebuilds the queue indexes from the PEL (at load, and when the settings change): every
    /// entry with a deadline goes to the timers, to be handled again.
    pub(crate) fn rebuild_queue_index(&mut self) {
        let Some(q) = self.queue.as_deref_mut() else {
            return;
        };
        q.timers.clear();
        q.ready.clear();
        for (id, n) in &self.pel {
            if let Some(d) = q.deadline(n.delivery_time, n.due) {
                q.timers.insert((d, *id));
            }
        }
    }

    /// Removes `id` from the group PEL (not the consumer index); its log record loses a live
    /// entry.
    pub(crate) fn take_nack(&mut self, id: StreamId) -> Option<Nack> {
        let old = self.pel.remove(&id)?;
        self.unindex_claim(id, &old);
        self.journal.unlink(old.seq);
        self.journal.note_cancel(old.seq);
        if let Some(q) = self.queue.as_deref_mut() {
            unindex(q, id, &old);
        }
        Some(old)
    }

    /// Makes `id` pending for `cid` with this delivery state, in both indexes (a delivery, or
    /// a claim that may move it from another consumer).
    pub(crate) fn put_pending(
        &mut self,
        id: StreamId,
        cid: u32,
        delivery_time: u64,
        delivery_count: u64,
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
    }

    /// Removes `id` from both indexes; its previous state if it was pending.
    pub(crate) fn take_pending(&mut self, id: StreamId) -> Option<Nack> {
        let old = self.take_nack(id)?;
        if let Some(c) = self.consumer_mut(old.cid) {
            c.pel.remove(&id);
        }
        Some(old)
    }

    /// Removes a consumer and its pending entries (from the group PEL too); returns it, with
    /// the IDs it had pending.
    pub(crate) fn take_consumer(&mut self, name: &[u8]) -> Option<Consumer> {
        let c = self.consumers.remove(name)?;
        self.names.remove(&c.cid);
        for id in &c.pel {
            self.take_nack(*id);
        }
        Some(c)
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
        let mut unowned = 0;
        for (id, n) in &self.pel {
            if n.cid == UNOWNED {
                unowned += 1;
                continue;
            }
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
        let mut zone = 0;
        for (id, n) in self.pel.iter().filter(|(_, n)| n.nseq != 0) {
            zone += 1;
            if n.cid != UNOWNED || n.delivery_time != 0 || n.due != 0 {
                return Err(format!(
                    "NACKed {id} is owned or has a delivery time: {n:?}"
                ));
            }
            if self.nacked.get(&n.nseq) != Some(id) {
                return Err(format!(
                    "NACKed {id} (nseq {}) missing from the zone",
                    n.nseq
                ));
            }
            if n.nseq >= self.next_nseq {
                return Err(format!(
                    "NACKed {id} nseq {} >= next {}",
                    n.nseq, self.next_nseq
                ));
            }
        }
        if zone != self.nacked.len() {
            return Err(format!(
                "{zone} NACKed entries, the zone holds {}",
                self.nacked.len()
            ));
        }
        if let Some(t) = &self.by_time {
            if t.len() + zone != self.pel.len() {
                return Err(format!(
                    "time index holds {}, {} pending outside the zone",
                    t.len(),
                    self.pel.len() - zone
                ));
            }
            for (d, id) in t {
                match self.pel.get(id) {
                    Some(n) if n.nseq == 0 && n.delivery_time == *d => {}
                    _ => return Err(format!("time index ({d}, {id}) is stale")),
                }
            }
        }
        let total: usize = self.consumers.values().map(|c| c.pel.len()).sum::<usize>() + unowned;
        if total != self.pel.len() {
            return Err(format!(
                "consumer PELs hold {total} ids, group PEL {}",
                self.pel.len()
            ));
        }
        if let Some(q) = self.queue.as_deref() {
            let mut indexed = 0;
            for (id, n) in &self.pel {
                if let Some(d) = q.deadline(n.delivery_time, n.due) {
                    indexed += 1;
                    let (t, r) = (q.timers.contains(&(d, *id)), q.ready.contains(&(d, *id)));
                    if t == r {
                        return Err(format!(
                            "pending {id} (deadline {d}) in timers: {t}, in ready: {r}"
                        ));
                    }
                }
            }
            if indexed != q.timers.len() + q.ready.len() {
                return Err(format!(
                    "{indexed} entries have deadlines, the queue indexes hold {} + {}",
                    q.timers.len(),
                    q.ready.len()
                ));
            }
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
    pub(crate) fn encode(&self, name: &[u8]) -> Vec<u8> {
        let mut v = Vec::with_capacity(28 + name.len());
        v.extend_from_slice(&self.last_id.to_be_bytes());
        v.extend_from_slice(&self.entries_read.to_be_bytes());
        v.extend_from_slice(&self.next_cid.to_be_bytes());
        v.extend_from_slice(name);
        v
    }

    /// Decodes [`Group::encode`] into (group without consumers/PEL, name).
    pub(crate) fn decode(gid: u32, raw: &[u8]) -> Option<(Group, Bytes)> {
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
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(16 + self.name.len());
        v.extend_from_slice(&self.seen_time.to_be_bytes());
        v.extend_from_slice(&self.active_time.to_be_bytes());
        v.extend_from_slice(&self.name);
        v
    }

    pub(crate) fn decode(cid: u32, raw: &[u8]) -> Option<Consumer> {
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
    /// The consumer it was delivered to.
    pub fn cid(&self) -> u32 {
        self.cid
    }

    /// Unix ms of the last delivery.
    pub fn delivery_time(&self) -> u64 {
        self.delivery_time
    }

    pub fn delivery_count(&self) -> u64 {
        self.delivery_count
    }

    /// Unix ms before which the entry is not delivered again, if set explicitly (0: none).
    pub fn due(&self) -> u64 {
        self.due
    }

    /// Whether the entry is in the NACK zone (released by XNACK: unowned, delivery time 0).
    pub fn is_nacked(&self) -> bool {
        self.nseq != 0
    }

    /// Its place in the NACK zone (0: not there).
    pub fn nseq(&self) -> u64 {
        self.nseq
    }

    /// A delivery state, not logged yet.
    pub(crate) fn new(cid: u32, delivery_time: u64, delivery_count: u64) -> Nack {
        Nack {
            cid,
            delivery_time,
            delivery_count,
            due: 0,
            seq: NO_SEQ,
            nseq: 0,
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
        let (a, _) = g.add_consumer(&Bytes::from_static(b"a"), 1);
        let (b, _) = g.add_consumer(&Bytes::from_static(b"b"), 1);
        for s in 1..=5 {
            g.put_pending(StreamId::new(1, s), a, 10, 1);
        }
        g.put_pending(StreamId::new(1, 2), b, 20, 2);
        g.put_pending(StreamId::new(1, 3), b, 30, 1);
        assert!(g.take_pending(StreamId::new(1, 4)).is_some());
        assert!(g.take_pending(StreamId::new(1, 4)).is_none());
        g.check().expect("consistent");
        assert_eq!(g.consumers[&Bytes::from_static(b"b")].pel.len(), 2);
        assert_eq!(g.take_consumer(b"a").map(|c| c.pel.len()), Some(2));
        g.check().expect("consistent after delconsumer");
        assert_eq!(g.pel.len(), 2);
    }

    #[test]
    fn nack_zone_keeps_only_released_states() {
        let mut g = Group::new(1, StreamId::MIN, 0);
        let (a, _) = g.add_consumer(&Bytes::from_static(b"a"), 1);
        let id = StreamId::new(1, 1);
        g.put_pending(id, a, 10, 1);
        let mut n = Nack::new(UNOWNED, 0, 1);
        n.nseq = 5;
        g.set_nack(id, n);
        if let Some(c) = g.consumer_mut(a) {
            c.pel.remove(&id);
        }
        assert_eq!(g.nacked().len(), 1);
        g.check().expect("released");
        // A copy of the released state with a due time (a queue group postponing it) leaves
        // the zone instead of breaking it.
        let mut later = g.pel[&id];
        later.due = 99;
        g.set_nack(id, later);
        assert!(g.nacked().is_empty() && !g.pel[&id].is_nacked());
        g.check().expect("left the zone");
        assert_eq!(g.next_nseq, 6);
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
