//! Persistence of consumer groups (see `stream::group`): records in the `smeta` keyspace,
//! written in the same batch as the command that changed them.
//!
//! * `sid ‖ 0x02 ‖ gid u32` → group record ([`Group::encode`])
//! * `sid ‖ 0x03 ‖ gid ‖ cid u32` → consumer record ([`Consumer::encode`])
//! * `sid ‖ 0x04 ‖ gid ‖ id` → folded PEL entry ([`Nack::encode`])
//! * `sid ‖ 0x05 ‖ gid ‖ seq u64` → PEL log record: the PEL changes of one commit, in order
//!   (`0x01 ‖ id ‖ nack` = pending with this state, `0x02 ‖ id` = no longer pending).
//!
//! Why a log: a message delivered and acknowledged costs, with one record per pending entry,
//! an insert and a tombstone in the LSM's memtable (and in every flush and compaction after);
//! at `-P 16` those per-message records were most of XREADGROUP's and XACK's cost. The log
//! writes one record per group per commit instead. When a group's log holds more ops than
//! twice its PEL plus [`FOLD_MIN_OPS`] (by default), the commit *folds* it: it writes a record for every
//! pending entry changed since the last fold, a tombstone for every folded record whose entry
//! is no longer pending, and tombstones for the log records — all in the same atomic batch.
//! An entry delivered and acknowledged between two folds never gets a record of its own.
//! Loading reads the folded records, then replays the log, so restart work is bounded by
//! the PEL plus the fold threshold.
//!
//! The tags sort groups before consumers before PEL records before logs, so loading is four
//! prefix scans.

use std::collections::BTreeMap;

use bytes::Bytes;

use super::{Result, Store, StoreError};
use crate::keydir::Value;
use crate::stream::group::{Consumer, Group, GroupChange, Nack};
use crate::stream::{StreamId, StreamMeta};

const TAG_GROUP: u8 = 0x02;
const TAG_CONSUMER: u8 = 0x03;
const TAG_NACK: u8 = 0x04;
const TAG_LOG: u8 = 0x05;

/// A log is folded once it holds more ops than twice the PEL plus this (the default of
/// [`crate::StoreOptions::pel_fold_min_ops`]).
pub const FOLD_MIN_OPS: u64 = 1 << 16;

const OP_PENDING: u8 = 0x01;
const OP_GONE: u8 = 0x02;

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

fn nack_key(sid: u64, gid: u32, id: StreamId) -> Vec<u8> {
    let mut k = group_prefix(sid, TAG_NACK, Some(gid));
    k.extend_from_slice(&id.to_be_bytes());
    k
}

fn log_key(sid: u64, gid: u32, seq: u64) -> Vec<u8> {
    let mut k = group_prefix(sid, TAG_LOG, Some(gid));
    k.extend_from_slice(&seq.to_be_bytes());
    k
}

/// Appends the current state of `id` in `g` to the journal's uncommitted ops.
fn log_state(g: &mut Group, id: StreamId) {
    let buf = &mut g.journal.buf;
    match g.pel.get_mut(&id) {
        Some(n) => {
            n.dirty = true;
            buf.push(OP_PENDING);
            buf.extend_from_slice(&id.to_be_bytes());
            buf.extend_from_slice(&n.encode());
        }
        None => {
            buf.push(OP_GONE);
            buf.extend_from_slice(&id.to_be_bytes());
        }
    }
    g.journal.buf_ops += 1;
}

/// Replays one log record onto the group PEL (the consumer index is rebuilt after loading).
fn replay_log(g: &mut Group, mut ops: &[u8]) -> Option<u64> {
    let mut n = 0;
    while let Some((&op, rest)) = ops.split_first() {
        let id = StreamId::from_be_bytes(rest.get(..16)?)?;
        match op {
            OP_PENDING => {
                let nack = Nack::decode(rest.get(16..36)?)?;
                g.set_nack(id, nack);
                ops = &rest[36..];
            }
            OP_GONE => {
                g.take_nack(id);
                ops = &rest[16..];
            }
            _ => return None,
        }
        n += 1;
    }
    Some(n)
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
            meta.groups.insert(name, group);
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
        for guard in self.smeta.prefix(group_prefix(sid, TAG_NACK, None)) {
            let (k, v) = guard.into_inner()?;
            let gid = k
                .get(9..13)
                .and_then(|b| b.try_into().ok())
                .map(u32::from_be_bytes)
                .ok_or_else(|| corrupt("pel", &k))?;
            let id = k
                .get(13..)
                .and_then(StreamId::from_be_bytes)
                .ok_or_else(|| corrupt("pel", &k))?;
            let mut nack = Nack::decode(&v).ok_or_else(|| corrupt("pel", &k))?;
            nack.record = true;
            let group = by_gid
                .get(&gid)
                .and_then(|n| meta.groups.get_mut(n))
                .ok_or_else(|| corrupt("orphan pel", &k))?;
            group.pel.insert(id, nack);
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
            let ops = replay_log(group, &v).ok_or_else(|| corrupt("pel log", &k))?;
            let j = &mut group.journal;
            if j.first == j.next {
                j.first = seq;
            }
            j.next = seq + 1;
            j.ops += ops;
        }
        for group in meta.groups.values_mut() {
            let Group {
                pel,
                consumers,
                names,
                ..
            } = group;
            for (id, nack) in pel.iter() {
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
        for g in meta.groups.values() {
            g.check()
                .map_err(|e| StoreError::Corrupt(format!("stream {sid}: {e}")))?;
        }
        Ok(())
    }

    /// The group `group` of the stream at `name`, mutably (the caller records what it changed
    /// and hands that to [`Store::save_group`]).
    pub fn group_mut(&mut self, db: usize, name: &[u8], group: &[u8]) -> Option<&mut Group> {
        match self.dirs[db].get_mut(name).map(|e| &mut e.value) {
            Some(Value::Stream(m)) => m.groups.get_mut(group),
            _ => None,
        }
    }

    /// Stages the records a group operation changed. `changes` may repeat records; the last
    /// state wins.
    pub fn save_group(&mut self, db: usize, name: &[u8], group: &[u8], changes: &[GroupChange]) {
        if changes.is_empty() {
            return;
        }
        let Some(Value::Stream(meta)) = self.dirs[db].get_mut(name).map(|e| &mut e.value) else {
            return;
        };
        let sid = meta.sid;
        let Some(g) = meta.groups.get_mut(group) else {
            return;
        };
        let gid = g.gid;
        let mut writes = Vec::with_capacity(changes.len());
        for ch in changes {
            match ch {
                GroupChange::Group => writes.push((
                    group_prefix(sid, TAG_GROUP, Some(gid)),
                    Some(g.encode(group)),
                )),
                GroupChange::Consumer(cid) => {
                    let rec = g
                        .consumer_name(*cid)
                        .and_then(|n| g.consumers.get(n))
                        .map(Consumer::encode);
                    writes.push((consumer_key(sid, gid, *cid), rec));
                }
                GroupChange::ConsumerRemoved(cid) => {
                    writes.push((consumer_key(sid, gid, *cid), None))
                }
                GroupChange::Nack(id) | GroupChange::NackRemoved(id) => log_state(g, *id),
            }
        }
        for (k, v) in writes {
            self.pending_smeta.insert(k, v);
        }
        self.mark_dirty(db, name);
    }

    /// Creates a group; false if one with that name exists.
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
        meta.groups
            .insert(group.clone(), Group::new(gid, last_id, entries_read));
        self.save_group(db, name, &group, &[GroupChange::Group]);
        true
    }

    /// Destroys a group and stages the removal of all its records; false if it did not exist.
    pub fn destroy_group(&mut self, db: usize, name: &[u8], group: &[u8]) -> bool {
        let Some(Value::Stream(meta)) = self.dirs[db].get_mut(name).map(|e| &mut e.value) else {
            return false;
        };
        let sid = meta.sid;
        let Some(g) = meta.groups.remove(group) else {
            return false;
        };
        self.pending_smeta
            .insert(group_prefix(sid, TAG_GROUP, Some(g.gid)), None);
        for c in g.consumers.values() {
            self.pending_smeta
                .insert(consumer_key(sid, g.gid, c.cid), None);
        }
        let folded = g.pel.iter().filter(|(_, n)| n.record).map(|(id, _)| id);
        for id in folded.chain(g.journal.stale.iter()) {
            self.pending_smeta.insert(nack_key(sid, g.gid, *id), None);
        }
        for seq in g.journal.first..g.journal.next {
            self.pending_smeta.insert(log_key(sid, g.gid, seq), None);
        }
        self.mark_dirty(db, name);
        true
    }

    /// Stages the PEL journals of a stream's groups at commit: each group's ops of this commit
    /// become one log record, or the log is folded (see the module docs).
    pub(super) fn stage_journals(&mut self, db: usize, name: &[u8]) {
        let Some(Value::Stream(meta)) = self.dirs[db].get_mut(name).map(|e| &mut e.value) else {
            return;
        };
        let sid = meta.sid;
        let fold_min = self.pel_fold_min_ops;
        for g in meta.groups.values_mut() {
            let gid = g.gid;
            let j = &mut g.journal;
            if j.buf_ops == 0 {
                continue;
            }
            if j.ops + j.buf_ops <= 2 * g.pel.len() as u64 + fold_min {
                let seq = j.next;
                j.next += 1;
                j.ops += j.buf_ops;
                j.buf_ops = 0;
                let ops = std::mem::take(&mut j.buf);
                self.pending_smeta.insert(log_key(sid, gid, seq), Some(ops));
                continue;
            }
            // Fold: the state of every entry changed since the last fold, in place of the log.
            for (id, n) in g.pel.iter_mut().filter(|(_, n)| n.dirty) {
                n.dirty = false;
                n.record = true;
                self.pending_smeta
                    .insert(nack_key(sid, gid, *id), Some(n.encode().to_vec()));
            }
            let j = &mut g.journal;
            for id in j.stale.drain() {
                self.pending_smeta.insert(nack_key(sid, gid, id), None);
            }
            for seq in j.first..j.next {
                self.pending_smeta.insert(log_key(sid, gid, seq), None);
            }
            j.first = j.next;
            j.ops = 0;
            j.buf_ops = 0;
            j.buf.clear();
        }
    }

    /// Whether the entry `id` of stream incarnation `sid` exists (committed writes).
    pub fn entry_exists(&mut self, sid: u64, id: StreamId) -> Result<bool> {
        Ok(self.stream_get(sid, id)?.is_some())
    }
}
