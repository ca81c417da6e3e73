//! Changes and persistence of consumer groups (see `stream::group`): records in the `smeta`
//! keyspace, written in the same batch as the command that changed them.
//!
//! The only ways to change a group's state: [`Store::create_group`], [`Store::destroy_group`],
//! and the methods of [`GroupMut`] ([`Store::group_mut`]): `set_last_id` (XGROUP SETID),
//! `raise_last_id` (XCLAIM LASTID), `create_consumer` / `delete_consumer` (XGROUP
//! CREATECONSUMER / DELCONSUMER), `refresh_seen` / `touch_consumer` (a consumer's seen and
//! active times), `deliver` (XREADGROUP `>`), `redeliver` (XREADGROUP history), `ack` (XACK),
//! `claim` (XCLAIM / XAUTOCLAIM, with IDLE/TIME, RETRYCOUNT, FORCE and JUSTID in
//! [`ClaimSpec`]). Each one stages what it changed itself: PEL changes are appended to the
//! group's log buffer at once (`log_state`, `log_gone`), a changed group or consumer record is
//! marked for the commit (written once per commit however often it changes), a deleted
//! consumer's record is removed, and the handle marks the stream dirty when dropped, so the
//! commit calls [`Store::stage_journals`] for it. Destroying a group notes its key in the
//! store's ready tracking (`ReadyKeys`: its blocked readers answer NOGROUP); no other group
//! change wakes a reader, as in Redis 7.0.15.
//!
//! * `sid ‖ 0x02 ‖ gid u32` → group record ([`Group::encode`])
//! * `sid ‖ 0x03 ‖ gid ‖ cid u32` → consumer record ([`Consumer::encode`])
//! * `sid ‖ 0x05 ‖ gid ‖ seq u64` → PEL log record: `0x01` then the PEL changes of one
//!   commit, in order: `0x01 ‖ id ‖ cid ‖ delivery time ‖ delivery count` = pending with this
//!   state, `0x02 ‖ id` = no longer pending, `0x03` = as `0x01` then an explicit due time,
//!   `0x04` = as `0x01` then the entry's place in the NACK zone (XNACK; `Nack::nseq`, non-zero:
//!   written only for released entries, so data directories without them read as before);
//!   varints, each ID as a zigzag delta from the previous op's ID (see `push_op`).
//!   (Tag 0x04 held one record per pending entry in earlier builds.)
//!
//! Why a log: with one record per pending entry, a message delivered and acknowledged cost an
//! insert and a tombstone in the LSM's memtable (and in every flush and compaction after); at
//! `-P 16` those per-message writes were most of XREADGROUP's and XACK's cost. The log writes
//! one record per group per commit instead, and never a per-entry record:
//! * every pending entry knows the record holding its latest state ([`Nack`]'s `seq`), and
//!   every record how many pending entries it is the latest state of (`live`);
//! * the oldest record is deleted as soon as its `live` count is 0 (its other ops are
//!   superseded, or acknowledgements that cancel nothing older) — in a queue, records die in
//!   order as their messages are acknowledged, at the cost of one tombstone per record;
//! * a record holding only acknowledgements is deleted out of order as soon as every record
//!   holding a state it cancels is deleted. Each acknowledgement notes the record of the
//!   state it cancels (`Nack::seq`, [`PelJournal::note_cancel`]); that was the entry's latest
//!   state, so no record between the two holds a state of it, and records are otherwise
//!   deleted oldest first, so once that record is gone nothing older is left either. Without
//!   this, a backlog drained by XACK kept every acknowledgement until the last delivery
//!   record before it died, and the log outgrew the shrinking PEL until cleaning copied the
//!   rest of the backlog forward. Only acknowledgements-only records are deleted this way: a
//!   record holding superseded states must stay until it is the oldest, or acknowledgements
//!   of its entries could be deleted while an older state of them is still on disk;
//! * when the records hold more ops than twice the PEL plus [`LOG_MIN_OPS`], the commit
//!   *cleans* the oldest records: it reads them back, logs again the states still live in
//!   them (they move to the new record) and deletes them. A message pending for long is
//!   copied forward now and then; the log stays within a constant factor of the PEL.
//!
//! Loading replays the records in order, so restart work is bounded by the PEL plus the
//! cleaning threshold. A record deleted only when it is the oldest keeps replay correct: an
//! acknowledgement is dropped only once nothing older is left for it to cancel.
//!
//! The tags sort groups before consumers before logs, so loading is three prefix scans.

use std::cmp::Reverse;
use std::collections::BTreeMap;
use std::ops::Bound;

use ahash::AHashMap as HashMap;
use bytes::Bytes;

use ahash::AHashSet;

use super::{mark_dirty, Result, Store, StoreError};
use crate::keydir::Value;
use crate::stream::entry::{get_varint, put_varint};
use crate::stream::group::{
    Consumer, CounterRules, Group, LogRecord, Nack, PelJournal, StreamCounters,
    ENTRIES_READ_UNKNOWN, UNOWNED,
};
use crate::stream::queue::{QueueSchedule, QueueState};
use crate::stream::{StreamId, StreamMeta};

const TAG_GROUP: u8 = 0x02;
const TAG_CONSUMER: u8 = 0x03;
const TAG_LOG: u8 = 0x05;
pub(super) const TAG_QUEUE: u8 = 0x06;
/// `sid ‖ 0x07 ‖ id` → due ms u64: an entry added with a delay (`Groups::delayed`).
pub(super) const TAG_DELAYED: u8 = 0x07;
/// `sid ‖ 0x08` → the stream's retention policy (`Groups::retention`).
pub(super) const TAG_RETENTION: u8 = 0x08;

pub(super) fn retention_key(sid: u64) -> Vec<u8> {
    group_prefix(sid, TAG_RETENTION, None)
}

/// The log is cleaned once it holds more ops than twice the PEL plus this (the default of
/// [`crate::StoreOptions::pel_log_min_ops`]).
pub const LOG_MIN_OPS: u64 = 1 << 16;

/// Log records cleaned by one commit at most (bounds the pause; the next commit goes on).
const CLEAN_RECORDS_PER_COMMIT: usize = 8;

/// The first byte of a log record.
const LOG_FORMAT: u8 = 1;
const OP_PENDING: u8 = 0x01;
const OP_GONE: u8 = 0x02;
/// As [`OP_PENDING`], then the explicit due time (`Nack::due`, non-zero): entries without one
/// keep the older, shorter op.
const OP_PENDING_DUE: u8 = 0x03;
/// As [`OP_PENDING`], then the entry's place in the NACK zone (`Nack::nseq`, non-zero).
const OP_PENDING_NACK: u8 = 0x04;

fn group_prefix(sid: u64, tag: u8, gid: Option<u32>) -> Vec<u8> {
    let mut k = Vec::with_capacity(29);
    k.extend_from_slice(&sid.to_be_bytes());
    k.push(tag);
    if let Some(g) = gid {
        k.extend_from_slice(&g.to_be_bytes());
    }
    k
}

fn consumer_key(sid: u64, gid: u32, cid: u32) -> Vec<u8> {
    let mut k = group_prefix(sid, TAG_CONSUMER, Some(gid));
    k.extend_from_slice(&cid.to_be_bytes());
    k
}

pub(super) fn delayed_key(sid: u64, id: StreamId) -> Vec<u8> {
    let mut k = group_prefix(sid, TAG_DELAYED, None);
    k.extend_from_slice(&id.to_be_bytes());
    k
}

pub(super) fn queue_key(sid: u64, gid: u32) -> Vec<u8> {
    group_prefix(sid, TAG_QUEUE, Some(gid))
}

fn log_key(sid: u64, gid: u32, seq: u64) -> Vec<u8> {
    let mut k = group_prefix(sid, TAG_LOG, Some(gid));
    k.extend_from_slice(&seq.to_be_bytes());
    k
}

/// Appends the current state of `id` in `g` to the journal's uncommitted ops.
pub(super) fn log_state(g: &mut Group, id: StreamId) {
    let j = &mut g.journal;
    match g.pel.get_mut(&id) {
        Some(n) => {
            j.unlink(n.seq);
            n.seq = j.next;
            j.buf_live += 1;
            j.buf_pending = true;
            debug_assert!(
                n.nseq == 0 || n.due == 0,
                "NACKed entry {id} with a due time"
            );
            let op = if n.nseq != 0 {
                OP_PENDING_NACK
            } else if n.due != 0 {
                OP_PENDING_DUE
            } else {
                OP_PENDING
            };
            push_op(j, op, id);
            put_varint(&mut j.buf, u64::from(n.cid));
            put_varint(&mut j.buf, n.delivery_time);
            put_varint(&mut j.buf, n.delivery_count);
            if op == OP_PENDING_NACK {
                put_varint(&mut j.buf, n.nseq);
            } else if op == OP_PENDING_DUE {
                put_varint(&mut j.buf, n.due);
            }
        }
        None => push_op(j, OP_GONE, id),
    }
}

/// Appends "no longer pending" for `id`, which the command removed from the PEL (if it
/// re-added it afterwards, a later change logs that).
pub(super) fn log_gone(g: &mut Group, id: StreamId) {
    push_op(&mut g.journal, OP_GONE, id);
}

/// Starts an op: its tag and its ID as a delta from the previous op's ID in the record
/// (zigzag varints: IDs of one commit are close, and acknowledgements may go backwards), so an
/// acknowledgement costs 3–4 bytes instead of 17.
fn push_op(j: &mut PelJournal, op: u8, id: StreamId) {
    if j.buf.is_empty() {
        j.buf.push(LOG_FORMAT);
        j.buf_prev = StreamId::MIN;
    }
    j.buf.push(op);
    let dms = id.ms.wrapping_sub(j.buf_prev.ms);
    put_varint(&mut j.buf, zigzag(dms as i64));
    if dms == 0 {
        put_varint(
            &mut j.buf,
            zigzag(id.seq.wrapping_sub(j.buf_prev.seq) as i64),
        );
    } else {
        put_varint(&mut j.buf, id.seq);
    }
    j.buf_prev = id;
    j.buf_ops += 1;
}

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

/// One decoded log op: the entry's state, or `None` if it is no longer pending.
type LogOp = (StreamId, Option<Nack>);

/// Decodes a log record; `None` if it is corrupt.
fn decode_log(raw: &[u8]) -> Option<Vec<LogOp>> {
    let (&format, mut ops) = raw.split_first()?;
    if format != LOG_FORMAT {
        return None;
    }
    let mut out = Vec::with_capacity(ops.len() / 4);
    let mut prev = StreamId::MIN;
    while let Some((&op, rest)) = ops.split_first() {
        ops = rest;
        let dms = unzigzag(get_varint(&mut ops)?) as u64;
        let ms = prev.ms.wrapping_add(dms);
        let seq = if dms == 0 {
            prev.seq
                .wrapping_add(unzigzag(get_varint(&mut ops)?) as u64)
        } else {
            get_varint(&mut ops)?
        };
        let id = StreamId::new(ms, seq);
        prev = id;
        match op {
            OP_PENDING | OP_PENDING_DUE | OP_PENDING_NACK => {
                let cid = u32::try_from(get_varint(&mut ops)?).ok()?;
                let time = get_varint(&mut ops)?;
                let count = get_varint(&mut ops)?;
                let mut n = Nack::new(cid, time, count);
                if op == OP_PENDING_DUE {
                    n.due = get_varint(&mut ops)?;
                    if n.due == 0 {
                        return None;
                    }
                } else if op == OP_PENDING_NACK {
                    n.nseq = get_varint(&mut ops)?;
                    if n.nseq == 0 {
                        return None;
                    }
                }
                out.push((id, Some(n)));
            }
            OP_GONE => out.push((id, None)),
            _ => return None,
        }
    }
    Some(out)
}

/// Replays log record `seq` onto the group PEL at load (the consumer index is rebuilt after).
fn replay_log(g: &mut Group, seq: u64, raw: &[u8]) -> Option<()> {
    let ops = decode_log(raw)?;
    let j = &mut g.journal;
    if j.records
        .last_key_value()
        .is_some_and(|(last, _)| *last >= seq)
    {
        return None;
    }
    j.records.insert(
        seq,
        LogRecord {
            ops: ops.len() as u64,
            live: 0,
        },
    );
    j.ops += ops.len() as u64;
    j.next = seq + 1;
    // The buffer is not used at load: its bookkeeping tells whether this record holds only
    // acknowledgements, and which records they cancel states of.
    j.reset_buf();
    for (id, state) in ops {
        match state {
            Some(mut nack) => {
                if let Some(old) = g.pel.get(&id) {
                    g.journal.unlink(old.seq);
                }
                nack.seq = seq;
                g.pel.insert(id, nack);
                g.journal.buf_pending = true;
                if let Some(r) = g.journal.records.get_mut(&seq) {
                    r.live += 1;
                }
            }
            None => {
                g.take_nack(id);
            }
        }
    }
    let j = &mut g.journal;
    if !j.buf_pending {
        j.acks_only.push(Reverse((j.buf_ack_floor, seq)));
    }
    j.reset_buf();
    Some(())
}

/// Deletes the oldest log record of `g`.
fn drop_oldest_log(
    pending: &mut HashMap<Vec<u8>, Option<Vec<u8>>>,
    sid: u64,
    gid: u32,
    g: &mut Group,
) {
    if let Some((seq, rec)) = g.journal.records.pop_first() {
        g.journal.ops -= rec.ops;
        pending.insert(log_key(sid, gid, seq), None);
    }
}

/// The oldest record of `g`'s log on disk: every record before it is deleted (the record
/// being built if there is none).
fn log_floor(g: &Group) -> u64 {
    g.journal
        .records
        .first_key_value()
        .map_or(g.journal.next, |(seq, _)| *seq)
}

/// Deletes the oldest records that hold no live state, then the records holding only
/// acknowledgements of states in records deleted since.
fn drop_dead_logs(
    pending: &mut HashMap<Vec<u8>, Option<Vec<u8>>>,
    sid: u64,
    gid: u32,
    g: &mut Group,
) {
    while g
        .journal
        .records
        .first_key_value()
        .is_some_and(|(_, r)| r.live == 0)
    {
        drop_oldest_log(pending, sid, gid, g);
    }
    let floor = log_floor(g);
    let j = &mut g.journal;
    while let Some(&Reverse((ack_floor, seq))) = j.acks_only.peek() {
        if ack_floor > floor {
            break;
        }
        j.acks_only.pop();
        if let Some(rec) = j.records.remove(&seq) {
            debug_assert_eq!(
                rec.live, 0,
                "acknowledgements-only record {seq} holds states"
            );
            j.ops -= rec.ops;
            pending.insert(log_key(sid, gid, seq), None);
        }
    }
}

/// How XCLAIM and XAUTOCLAIM claim an entry (see [`GroupMut::claim`]).
#[derive(Clone, Copy, Debug)]
pub struct ClaimSpec {
    /// Only entries idle for at least this long (ms) are claimed; 0 or less: any.
    pub min_idle: i64,
    /// The claimed entries' new delivery time: XCLAIM's IDLE/TIME, already clamped to
    /// `[0, now]`; `now` otherwise.
    pub delivery_time: u64,
    /// XCLAIM's RETRYCOUNT: the delivery count to set. Without it the count goes up by one,
    /// unless `justid`.
    pub retry_count: Option<u64>,
    /// XCLAIM's FORCE: an ID that is not pending is claimed as if it had been delivered once.
    pub force: bool,
    /// JUSTID: the claim is not a delivery (the count stays, unless `retry_count`).
    pub justid: bool,
}

/// XNACK's mode: what happens to the released entries' delivery counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NackMode {
    /// One less (the delivery did not count); 0 stays 0.
    Silent,
    /// Unchanged.
    Fail,
    /// [`NACK_FATAL_COUNT`]: a poison message.
    Fatal,
}

/// The delivery count XNACK FATAL sets (Redis's `LLONG_MAX`).
pub const NACK_FATAL_COUNT: u64 = i64::MAX as u64;

/// What [`GroupMut::claim`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClaimOutcome {
    /// The entry is now pending for the claimant.
    Claimed,
    /// Not pending (and not forced), or not idle long enough: nothing changed.
    Skipped,
    /// The entry is gone from the stream: it is dropped from the PEL if it was there.
    Deleted,
}

/// A consumer group open for changes ([`Store::group_mut`]). Its methods are the only way to
/// change a group's state from outside the storage crate, and each stages what it changed
/// itself: PEL changes go to the group's log buffer at once (see the module docs), a changed
/// group or consumer record is marked for the commit, a deleted consumer's record is removed,
/// and the stream is marked dirty (when the handle is dropped, if anything changed) so that
/// the commit writes it all. None of them wakes a blocked reader (see `ReadyKeys`).
pub struct GroupMut<'a> {
    pub(super) group: &'a mut Group,
    /// The stream's counters when the handle was taken (they do not change through it).
    stream: StreamCounters,
    pub(super) sid: u64,
    db: usize,
    name: &'a [u8],
    /// The group's name (for the queue schedule).
    gname: &'a [u8],
    pending: &'a mut HashMap<Vec<u8>, Option<Vec<u8>>>,
    dirty_streams: &'a mut AHashSet<(usize, Bytes)>,
    last_dirty: &'a mut Option<(usize, Bytes)>,
    /// The store's schedule of queue groups (see `stream::queue`).
    schedule: &'a mut QueueSchedule,
    /// The store's ready keys: XNACK makes entries claimable at once, which wakes blocked
    /// XREADGROUP CLAIM readers.
    ready: &'a mut super::ReadyKeys,
    /// Something was staged: the stream is marked dirty on drop.
    pub(super) changed: bool,
}

impl GroupMut<'_> {
    /// The group as it is now.
    pub fn group(&self) -> &Group {
        self.group
    }

    fn group_changed(&mut self) {
        self.group.journal.group_dirty = true;
        self.changed = true;
    }

    fn consumer_changed(&mut self, cid: u32) {
        let dirty = &mut self.group.journal.consumers_dirty;
        if dirty.last() != Some(&cid) {
            dirty.push(cid);
        }
        self.changed = true;
    }

    /// XGROUP SETID: sets the last delivered ID and entries-read. (Setting it back does not
    /// wake the group's blocked readers, as in Redis 7.0.15: they wait for the next append.)
    pub fn set_last_id(&mut self, id: StreamId, entries_read: i64) {
        self.group.last_id = id;
        self.group.entries_read = entries_read;
        self.group_changed();
    }

    /// XCLAIM LASTID: raises the last delivered ID to `id` if it is below.
    pub fn raise_last_id(&mut self, id: StreamId) {
        if id > self.group.last_id {
            self.group.last_id = id;
            self.group_changed();
        }
    }

    /// XGROUP CREATECONSUMER: creates the consumer (seen now, never active); false if it
    /// exists.
    pub fn create_consumer(&mut self, name: &Bytes, now_ms: u64) -> bool {
        let (cid, created) = self.group.add_consumer(name, now_ms);
        if created {
            self.consumer_changed(cid);
        }
        created
    }

    /// XGROUP DELCONSUMER: deletes the consumer and drops its pending entries; returns how
    /// many it had, `None` if it did not exist.
    pub fn delete_consumer(&mut self, name: &[u8]) -> Option<usize> {
        let c = self.group.take_consumer(name)?;
        for id in &c.pel {
            log_gone(self.group, *id);
        }
        self.pending
            .insert(consumer_key(self.sid, self.group.gid, c.cid), None);
        self.changed = true;
        Some(c.pel.len())
    }

    /// A read or claim attempt (Redis 7.2's seen-time): refreshes the consumer's seen time if
    /// it exists; never creates it.
    pub fn refresh_seen(&mut self, name: &[u8], now_ms: u64) {
        if let Some(c) = self.group.consumers.get_mut(name) {
            c.seen_time = now_ms;
            let cid = c.cid;
            self.consumer_changed(cid);
        }
    }

    /// A served read: the consumer (created if missing) is seen now, and active now if
    /// `active` (it got pending entries). Returns its cid.
    pub fn touch_consumer(&mut self, name: &Bytes, now_ms: u64, active: bool) -> u32 {
        let cid = match self.group.consumers.get_mut(name.as_ref()) {
            Some(c) => {
                c.seen_time = now_ms;
                if active {
                    c.active_time = now_ms as i64;
                }
                c.cid
            }
            None => {
                let (cid, _) = self.group.add_consumer(name, now_ms);
                if active {
                    if let Some(c) = self.group.consumer_mut(cid) {
                        c.active_time = now_ms as i64;
                    }
                }
                cid
            }
        };
        self.consumer_changed(cid);
        cid
    }

    /// XREADGROUP `>`: `ids` (new entries, in order) are delivered to `consumer` (created if
    /// missing). The group's last delivered ID moves to the greatest of them and entries-read
    /// follows Redis (+1 per entry while it is exact, else an estimate); unless `noack`, each
    /// becomes pending for the consumer, delivered now once (taken over from another
    /// consumer with its count reset, as Redis does). The group record is written even when
    /// `ids` is empty (a woken reader whose entries are gone again).
    pub fn deliver(
        &mut self,
        consumer: &Bytes,
        ids: impl IntoIterator<Item = StreamId>,
        noack: bool,
        now_ms: u64,
    ) {
        let mut ids = ids.into_iter().peekable();
        let any = ids.peek().is_some();
        // Redis 7.2 counts a delivery as activity only when it creates pending entries.
        let cid = self.touch_consumer(consumer, now_ms, any && !noack);
        let s = self.stream;
        let g = &mut *self.group;
        let (mut last, mut read) = (g.last_id, g.entries_read);
        let mut delivered = 0u64;
        for id in ids {
            delivered += 1;
            if id > last {
                // 7.0 looks for tombstones from the delivered ID, 8.0 from the group's last one.
                let from = match s.rules {
                    CounterRules::Redis70 => id,
                    CounterRules::Redis80 => last,
                };
                if read != ENTRIES_READ_UNKNOWN && !s.has_tombstones_from(from) {
                    // Wraps past i64::MAX (set by ENTRIESREAD) as Redis's counter does.
                    read = read.wrapping_add(1);
                } else if s.entries_added > 0 {
                    read = s.estimate_entries_read(id);
                }
                last = id;
            }
            if !noack {
                g.put_pending(id, cid, now_ms, 1);
                log_state(g, id);
            }
        }
        if any {
            g.last_id = last;
            g.entries_read = read;
        }
        if let Some(q) = g.queue.as_deref_mut() {
            q.stats.deliveries += delivered;
            q.dirty |= delivered > 0;
        }
        self.group_changed();
    }

    /// XREADGROUP history: the pending entry `id` is delivered again now (one more delivery);
    /// false if it is not pending. (The reader is touched with [`GroupMut::touch_consumer`].)
    pub fn redeliver(&mut self, id: StreamId, now_ms: u64) -> bool {
        let Some(n) = self.group.pel.get(&id) else {
            return false;
        };
        let mut n = *n;
        n.delivery_time = now_ms;
        n.delivery_count = n.delivery_count.saturating_add(1);
        n.due = 0;
        self.group.set_nack(id, n);
        log_state(self.group, id);
        self.changed = true;
        true
    }

    /// XACK (and a claim of an entry gone from the stream): `id` is no longer pending; false
    /// if it was not.
    pub fn ack(&mut self, id: StreamId) -> bool {
        if self.group.take_pending(id).is_none() {
            return false;
        }
        if let Some(q) = self.group.queue.as_deref_mut() {
            q.stats.acks += 1;
            q.dirty = true;
        }
        log_gone(self.group, id);
        self.changed = true;
        true
    }

    /// XCLAIM / XAUTOCLAIM of `id` by `consumer`; `in_stream`: the entry still exists. An entry
    /// gone from the stream is dropped from the PEL. Otherwise a pending entry (or, with
    /// FORCE, one that is not) idle for at least `min_idle` becomes pending for `consumer`
    /// (created if missing, and then seen and active now) with the spec's delivery time and
    /// count.
    pub fn claim(
        &mut self,
        consumer: &Bytes,
        id: StreamId,
        in_stream: bool,
        spec: &ClaimSpec,
        now_ms: u64,
    ) -> ClaimOutcome {
        if !in_stream {
            self.ack(id);
            return ClaimOutcome::Deleted;
        }
        let (n, forced) = match self.group.pel.get(&id) {
            Some(n) => (*n, false),
            None if spec.force => (Nack::new(0, now_ms, 1), true),
            None => return ClaimOutcome::Skipped,
        };
        if !forced && spec.min_idle > 0 && (now_ms as i64 - n.delivery_time as i64) < spec.min_idle
        {
            return ClaimOutcome::Skipped;
        }
        let count = match spec.retry_count {
            Some(c) => c,
            None if spec.justid => n.delivery_count,
            None => n.delivery_count + 1,
        };
        let cid = self.touch_consumer(consumer, now_ms, true);
        self.group.put_pending(id, cid, spec.delivery_time, count);
        log_state(self.group, id);
        self.changed = true;
        ClaimOutcome::Claimed
    }

    /// XNACK of `id` (see [`NackMode`]): a pending entry (or, with `force`, an entry of the
    /// stream that is not pending: `in_stream` says whether it exists) is released: unowned,
    /// delivery time 0, its delivery count set by the mode or `retry_count`, and put at the
    /// end of the NACK zone (an entry already there moves to its end). Returns whether it
    /// was released. Wakes the stream's blocked readers (a CLAIM reader may take it now).
    pub fn xnack(
        &mut self,
        id: StreamId,
        mode: NackMode,
        retry_count: Option<u64>,
        force: bool,
        in_stream: bool,
    ) -> bool {
        let count = match self.group.pel.get(&id) {
            Some(n) => retry_count.unwrap_or(match mode {
                NackMode::Silent => n.delivery_count.saturating_sub(1),
                NackMode::Fail => n.delivery_count,
                NackMode::Fatal => NACK_FATAL_COUNT,
            }),
            None if force && in_stream => retry_count.unwrap_or(match mode {
                NackMode::Fatal => NACK_FATAL_COUNT,
                NackMode::Silent | NackMode::Fail => 0,
            }),
            None => return false,
        };
        let nseq = self.group.next_nseq.max(1);
        self.group.next_nseq = nseq.saturating_add(1);
        let mut n = Nack::new(UNOWNED, 0, count);
        n.nseq = nseq;
        if let Some(old) = self.group.set_nack(id, n) {
            if old.cid != UNOWNED {
                if let Some(c) = self.group.consumer_mut(old.cid) {
                    c.pel.remove(&id);
                }
            }
        }
        log_state(self.group, id);
        self.ready.note(self.db, self.name);
        self.changed = true;
        true
    }

    /// XREADGROUP CLAIM: up to `limit` pending entries claimable at `now_ms` with this
    /// min-idle-time, in claim order: the NACK zone first (release order), then the others
    /// longest idle first; `skip` ones are passed over. Each with its state before the claim.
    /// Builds the group's delivery-time index on first use (a pass over the PEL).
    pub fn claimable(
        &mut self,
        now_ms: u64,
        min_idle: u64,
        limit: usize,
        skip: &AHashSet<StreamId>,
    ) -> Vec<(StreamId, Nack)> {
        let g = &mut *self.group;
        g.ensure_time_index();
        let mut out = Vec::new();
        for id in g.nacked.values() {
            if out.len() >= limit {
                return out;
            }
            if !skip.contains(id) {
                if let Some(n) = g.pel.get(id) {
                    out.push((*id, *n));
                }
            }
        }
        if let Some(t) = g.by_time.as_ref() {
            for (d, id) in t {
                if out.len() >= limit || d.saturating_add(min_idle) > now_ms {
                    break;
                }
                if !skip.contains(id) {
                    if let Some(n) = g.pel.get(id) {
                        out.push((*id, *n));
                    }
                }
            }
        }
        out
    }

    /// Salvage: a consumer as it was (its times included); returns its cid here.
    pub(crate) fn restore_consumer(&mut self, c: &Consumer) -> u32 {
        let (cid, _) = self.group.add_consumer(&c.name, c.seen_time);
        if let Some(nc) = self.group.consumer_mut(cid) {
            nc.seen_time = c.seen_time;
            nc.active_time = c.active_time;
        }
        self.consumer_changed(cid);
        cid
    }

    /// Salvage: an entry released by XNACK as it was, at the end of this group's NACK zone.
    pub(crate) fn restore_nacked(&mut self, id: StreamId, n: &Nack) {
        let nseq = self.group.next_nseq.max(1);
        self.group.next_nseq = nseq.saturating_add(1);
        let mut m = Nack::new(UNOWNED, 0, n.delivery_count);
        m.nseq = nseq;
        self.group.set_nack(id, m);
        log_state(self.group, id);
        self.changed = true;
    }

    /// COPY: the group's queue side (`XQ.CONFIG`) as it is in another group, counters
    /// included; deadlines are recomputed over the restored PEL.
    pub(crate) fn restore_queue(&mut self, q: &QueueState) {
        let mut q = Box::new(q.clone());
        q.dirty = true;
        q.scheduled = u64::MAX;
        self.group.queue = Some(q);
        self.group.rebuild_queue_index();
        self.changed = true;
    }

    /// Salvage: a pending entry as it was, for consumer `cid` of this group ([`UNOWNED`]: held),
    /// its explicit due time (XQ.NACK's delay, a hold) included.
    pub(crate) fn restore_pending(&mut self, id: StreamId, cid: u32, n: &Nack) {
        self.group
            .put_pending(id, cid, n.delivery_time, n.delivery_count);
        if n.due != 0 {
            if let Some(mut m) = self.group.pel.get(&id).copied() {
                m.due = n.due;
                self.group.set_nack(id, m);
            }
        }
        log_state(self.group, id);
        self.changed = true;
    }
}

impl Drop for GroupMut<'_> {
    fn drop(&mut self) {
        if !self.changed {
            return;
        }
        mark_dirty(self.dirty_streams, self.last_dirty, self.db, self.name);
        if let Some(q) = self.group.queue.as_deref_mut() {
            super::queue::schedule_group(self.schedule, q, self.db, self.name, self.gname);
        }
        // The two PEL indexes and the journal's live counts agree after every change (checked
        // where it is cheap: the full check walks the PEL).
        #[cfg(debug_assertions)]
        if self.group.pel.len() <= 256 {
            if let Err(e) = self.group.check() {
                panic!("group invariants broken: {e}");
            }
        }
    }
}

fn corrupt(what: &str, k: &[u8]) -> StoreError {
    StoreError::Corrupt(format!("bad {what} record {k:?}"))
}

impl Store {
    /// Loads the groups, consumers and PELs of a stream at startup.
    pub(super) fn load_groups(&self, meta: &mut StreamMeta) -> Result<()> {
        let sid = meta.sid;
        let mut by_gid: BTreeMap<u32, Bytes> = BTreeMap::new();
        for guard in self.smeta.prefix(group_prefix(sid, TAG_GROUP, None)) {
            let (k, v) = guard.into_inner()?;
            let gid = k
                .get(9..13)
                .and_then(|b| b.try_into().ok())
                .map(u32::from_be_bytes)
                .ok_or_else(|| corrupt("group", &k))?;
            let (group, name) = Group::decode(gid, &v).ok_or_else(|| corrupt("group", &k))?;
            by_gid.insert(gid, name.clone());
            meta.groups.map.insert(name, group);
        }
        for guard in self.smeta.prefix(group_prefix(sid, TAG_CONSUMER, None)) {
            let (k, v) = guard.into_inner()?;
            let ids = (k.get(9..13), k.get(13..17));
            let (Some(g), Some(c)) = ids else {
                return Err(corrupt("consumer", &k));
            };
            let gid = u32::from_be_bytes(g.try_into().map_err(|_| corrupt("consumer", &k))?);
            let cid = u32::from_be_bytes(c.try_into().map_err(|_| corrupt("consumer", &k))?);
            let consumer = Consumer::decode(cid, &v).ok_or_else(|| corrupt("consumer", &k))?;
            let group = by_gid
                .get(&gid)
                .and_then(|n| meta.groups.get_mut(n))
                .ok_or_else(|| corrupt("orphan consumer", &k))?;
            group.names.insert(cid, consumer.name.clone());
            group.next_cid = group.next_cid.max(cid + 1);
            group.consumers.insert(consumer.name.clone(), consumer);
        }
        for guard in self.smeta.prefix(group_prefix(sid, TAG_LOG, None)) {
            let (k, v) = guard.into_inner()?;
            let (Some(g), Some(s)) = (k.get(9..13), k.get(13..21)) else {
                return Err(corrupt("pel log", &k));
            };
            let gid = u32::from_be_bytes(g.try_into().map_err(|_| corrupt("pel log", &k))?);
            let seq = u64::from_be_bytes(s.try_into().map_err(|_| corrupt("pel log", &k))?);
            let group = by_gid
                .get(&gid)
                .and_then(|n| meta.groups.get_mut(n))
                .ok_or_else(|| corrupt("orphan pel log", &k))?;
            replay_log(group, seq, &v).ok_or_else(|| corrupt("pel log", &k))?;
        }
        for guard in self.smeta.prefix(group_prefix(sid, TAG_QUEUE, None)) {
            let (k, v) = guard.into_inner()?;
            let gid = k
                .get(9..13)
                .and_then(|b| b.try_into().ok())
                .map(u32::from_be_bytes)
                .ok_or_else(|| corrupt("queue", &k))?;
            let group = by_gid
                .get(&gid)
                .and_then(|n| meta.groups.get_mut(n))
                .ok_or_else(|| corrupt("orphan queue", &k))?;
            let q = QueueState::decode(&v).ok_or_else(|| corrupt("queue", &k))?;
            group.queue = Some(Box::new(q));
            group.rebuild_queue_index();
        }
        for guard in self.smeta.prefix(group_prefix(sid, TAG_DELAYED, None)) {
            let (k, v) = guard.into_inner()?;
            let id = k
                .get(9..)
                .and_then(StreamId::from_be_bytes)
                .ok_or_else(|| corrupt("delayed entry", &k))?;
            let due = <[u8; 8]>::try_from(v.as_ref())
                .map(u64::from_be_bytes)
                .map_err(|_| corrupt("delayed entry", &k))?;
            meta.groups.delayed.insert(id, due);
        }
        if let Some(v) = self.smeta.get(retention_key(sid))? {
            meta.groups.retention = Some(
                crate::stream::group::Retention::decode(&v)
                    .ok_or_else(|| corrupt("retention", &retention_key(sid)))?,
            );
        }
        for group in meta.groups.map.values_mut() {
            let Group {
                pel,
                consumers,
                names,
                ..
            } = group;
            for (id, nack) in pel.iter() {
                if nack.cid == UNOWNED {
                    continue;
                }
                let consumer = names
                    .get(&nack.cid)
                    .and_then(|name| consumers.get_mut(name))
                    .ok_or_else(|| {
                        StoreError::Corrupt(format!(
                            "stream {sid}: pending {id} of unknown consumer {}",
                            nack.cid
                        ))
                    })?;
                consumer.pel.insert(*id);
            }
        }
        for g in meta.groups.map.values_mut() {
            g.rebuild_claim_index();
        }
        for g in meta.groups.values() {
            g.check()
                .map_err(|e| StoreError::Corrupt(format!("stream {sid}: {e}")))?;
        }
        Ok(())
    }

    /// The group `group` of the stream at `name` (which must be live: the caller looked it
    /// up), as a handle whose methods are the only way to change it; `None` if there is no
    /// such stream or group.
    pub fn group_mut<'a>(
        &'a mut self,
        db: usize,
        name: &'a [u8],
        group: &[u8],
    ) -> Option<GroupMut<'a>> {
        let Some(Value::Stream(meta)) = self.dirs[db].get_mut(name).map(|e| &mut e.value) else {
            return None;
        };
        let sid = meta.sid;
        let stream = StreamCounters::of(meta, self.counter_rules);
        let (gname, group) = meta
            .groups
            .map
            .range_mut::<[u8], _>((Bound::Included(group), Bound::Included(group)))
            .next()?;
        Some(GroupMut {
            group,
            stream,
            sid,
            db,
            name,
            gname,
            pending: &mut self.pending_smeta,
            dirty_streams: &mut self.dirty_streams,
            last_dirty: &mut self.last_dirty,
            schedule: &mut self.queue_schedule,
            ready: &mut self.ready,
            changed: false,
        })
    }

    /// XGROUP CREATE: creates a group; false if one with that name exists.
    pub fn create_group(
        &mut self,
        db: usize,
        name: &[u8],
        group: Bytes,
        last_id: StreamId,
        entries_read: i64,
    ) -> bool {
        let Some(Value::Stream(meta)) = self.dirs[db].get_mut(name).map(|e| &mut e.value) else {
            return false;
        };
        if meta.groups.contains_key(&group) {
            return false;
        }
        let gid = meta.next_gid;
        meta.next_gid += 1;
        let mut g = Group::new(gid, last_id, entries_read);
        g.journal.group_dirty = true;
        meta.groups.map.insert(group, g);
        self.mark_dirty(db, name);
        true
    }

    /// XGROUP DESTROY: destroys a group and stages the removal of all its records; false if it
    /// did not exist. Its blocked readers are woken (to learn that it is gone).
    pub fn destroy_group(&mut self, db: usize, name: &[u8], group: &[u8]) -> bool {
        let Some(Value::Stream(meta)) = self.dirs[db].get_mut(name).map(|e| &mut e.value) else {
            return false;
        };
        let sid = meta.sid;
        let Some(g) = meta.groups.map.remove(group) else {
            return false;
        };
        self.pending_smeta
            .insert(group_prefix(sid, TAG_GROUP, Some(g.gid)), None);
        for c in g.consumers.values() {
            self.pending_smeta
                .insert(consumer_key(sid, g.gid, c.cid), None);
        }
        for seq in g.journal.records.keys() {
            self.pending_smeta.insert(log_key(sid, g.gid, *seq), None);
        }
        if g.queue.is_some() {
            self.pending_smeta.insert(queue_key(sid, g.gid), None);
        }
        self.mark_dirty(db, name);
        self.ready.note(db, name);
        true
    }

    /// Stages the PEL logs of a stream's groups at commit (see the module docs): cleans the
    /// oldest records if the log outgrew the PEL, deletes the oldest records that hold no live
    /// state, and writes the ops of this commit as one new record.
    pub(super) fn stage_journals(&mut self, db: usize, name: &[u8]) -> Result<()> {
        let Some(Value::Stream(meta)) = self.dirs[db].get_mut(name).map(|e| &mut e.value) else {
            return Ok(());
        };
        let sid = meta.sid;
        let min_ops = self.pel_log_min_ops;
        for (gname, g) in meta.groups.map.iter_mut() {
            let gid = g.gid;
            if std::mem::take(&mut g.journal.group_dirty) {
                self.pending_smeta.insert(
                    group_prefix(sid, TAG_GROUP, Some(gid)),
                    Some(g.encode(gname)),
                );
            }
            if let Some(q) = g.queue.as_deref_mut() {
                if std::mem::take(&mut q.dirty) {
                    self.pending_smeta
                        .insert(queue_key(sid, gid), Some(q.encode()));
                }
            }
            let mut dirty = std::mem::take(&mut g.journal.consumers_dirty);
            dirty.sort_unstable();
            dirty.dedup();
            for cid in dirty {
                // A consumer deleted since is gone already (its tombstone is staged).
                if let Some(c) = g.consumer_name(cid).and_then(|n| g.consumers.get(n)) {
                    self.pending_smeta
                        .insert(consumer_key(sid, gid, cid), Some(c.encode()));
                }
            }
            // Clean: the oldest records' live states move to the record of this commit.
            let mut cleaned = 0;
            loop {
                drop_dead_logs(&mut self.pending_smeta, sid, gid, g);
                if cleaned == CLEAN_RECORDS_PER_COMMIT
                    || g.journal.ops + g.journal.buf_ops <= 2 * g.pel.len() as u64 + min_ops
                {
                    break;
                }
                let Some((&seq, rec)) = g.journal.records.first_key_value() else {
                    break;
                };
                if rec.live > 0 {
                    let key = log_key(sid, gid, seq);
                    let raw = self
                        .smeta
                        .get(&key)?
                        .ok_or_else(|| corrupt("missing pel log", &key))?;
                    let ops = decode_log(&raw).ok_or_else(|| corrupt("pel log", &key))?;
                    for (id, _) in ops {
                        if g.pel.get(&id).is_some_and(|n| n.seq == seq) {
                            log_state(g, id);
                            g.journal.cleaned_states += 1;
                        }
                    }
                }
                debug_assert_eq!(g.journal.records.get(&seq).map(|r| r.live), Some(0));
                cleaned += 1;
                drop_oldest_log(&mut self.pending_smeta, sid, gid, g);
            }
            let floor = log_floor(g);
            let j = &mut g.journal;
            if j.buf_ops == 0 {
                j.reset_buf();
                continue;
            }
            if (j.buf_live == 0 && j.records.is_empty())
                || (!j.buf_pending && j.buf_ack_floor <= floor)
            {
                // Everything this commit logged is already gone and nothing older is left to
                // cancel, or it only acknowledges states of records deleted already: nothing
                // to write.
                j.reset_buf();
                continue;
            }
            let seq = j.next;
            j.records.insert(
                seq,
                LogRecord {
                    ops: j.buf_ops,
                    live: j.buf_live,
                },
            );
            j.ops += j.buf_ops;
            j.next += 1;
            if !j.buf_pending {
                j.acks_only.push(Reverse((j.buf_ack_floor, seq)));
            }
            let ops = std::mem::take(&mut j.buf);
            j.reset_buf();
            self.pending_smeta.insert(log_key(sid, gid, seq), Some(ops));
        }
        Ok(())
    }

    /// Whether the entry `id` of stream incarnation `sid` exists (staged writes included).
    pub fn entry_exists(&mut self, sid: u64, id: StreamId) -> Result<bool> {
        Ok(self.stream_get(sid, id)?.is_some())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Ops round-trip through the delta coding: IDs up, down, equal ms, the extremes.
    #[test]
    fn log_ops_round_trip() {
        let ids = [
            StreamId::new(5, 7),
            StreamId::new(5, 9),
            StreamId::new(5, 2),
            StreamId::MAX,
            StreamId::MIN,
            StreamId::new(u64::MAX, 0),
            StreamId::new(0, u64::MAX),
            StreamId::new(1_795_493_627_849, 12),
            StreamId::new(1_795_493_627_848, 99),
        ];
        let mut g = Group::new(1, StreamId::MIN, 0);
        let mut want = Vec::new();
        for (i, id) in ids.iter().enumerate() {
            if i % 2 == 0 {
                let nack = Nack::new(i as u32, u64::MAX - i as u64, i as u64 * 1000);
                g.set_nack(*id, nack);
                log_state(&mut g, *id);
                want.push((*id, Some(nack)));
            } else {
                log_gone(&mut g, *id);
                want.push((*id, None));
            }
        }
        // An entry released by XNACK carries its place in the NACK zone (op 0x04).
        let mut released = Nack::new(UNOWNED, 0, 7);
        released.nseq = 3;
        let rid = StreamId::new(9, 9);
        g.set_nack(rid, released);
        log_state(&mut g, rid);
        want.push((rid, Some(released)));
        let got = decode_log(&g.journal.buf).expect("decodes");
        assert_eq!(got, want);
        assert!(decode_log(&[LOG_FORMAT, OP_PENDING_NACK, 2, 2, 0, 0, 7, 1]).is_some());
        assert!(
            decode_log(&[LOG_FORMAT, OP_PENDING_NACK, 2, 2, 0, 0, 7, 0]).is_none(),
            "nseq 0"
        );
        // Truncated records and unknown tags are errors, not panics.
        for cut in 0..g.journal.buf.len() {
            let _ = decode_log(&g.journal.buf[..cut]);
        }
        assert!(decode_log(&[LOG_FORMAT, 0x07, 0]).is_none());
        assert!(decode_log(&[9]).is_none());
    }
}
