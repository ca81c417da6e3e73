//! Persistence of consumer groups (see `stream::group`): records in the `smeta` keyspace,
//! written in the same batch as the command that changed them.
//!
//! * `sid ‖ 0x02 ‖ gid u32` → group record ([`Group::encode`])
//! * `sid ‖ 0x03 ‖ gid ‖ cid u32` → consumer record ([`Consumer::encode`])
//! * `sid ‖ 0x04 ‖ gid ‖ id` → PEL entry ([`Nack::encode`])
//!
//! The tags sort groups before consumers before PEL entries, so loading is three prefix scans.

use std::collections::BTreeMap;

use bytes::Bytes;

use super::{Result, Store, StoreError};
use crate::keydir::Value;
use crate::stream::group::{Consumer, Group, GroupChange, Nack};
use crate::stream::{StreamId, StreamMeta};

const TAG_GROUP: u8 = 0x02;
const TAG_CONSUMER: u8 = 0x03;
const TAG_NACK: u8 = 0x04;

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
            let nack = Nack::decode(&v).ok_or_else(|| corrupt("pel", &k))?;
            let group = by_gid
                .get(&gid)
                .and_then(|n| meta.groups.get_mut(n))
                .ok_or_else(|| corrupt("orphan pel", &k))?;
            let consumer = group
                .consumer_mut(nack.cid)
                .ok_or_else(|| corrupt("pel of unknown consumer", &k))?;
            consumer.pel.insert(id);
            group.pel.insert(id, nack);
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
        let Some(Value::Stream(meta)) = self.dirs[db].get(name).map(|e| &e.value) else {
            return;
        };
        let sid = meta.sid;
        let Some(g) = meta.groups.get(group) else {
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
                GroupChange::Nack(id) => writes.push((
                    nack_key(sid, gid, *id),
                    g.pel.get(id).map(|n| n.encode().to_vec()),
                )),
                GroupChange::NackRemoved(id) => writes.push((nack_key(sid, gid, *id), None)),
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
        for id in g.pel.keys() {
            self.pending_smeta.insert(nack_key(sid, g.gid, *id), None);
        }
        self.mark_dirty(db, name);
        true
    }

    /// Whether the entry `id` of stream incarnation `sid` exists (committed writes).
    pub fn entry_exists(&mut self, sid: u64, id: StreamId) -> Result<bool> {
        Ok(self.stream_get(sid, id)?.is_some())
    }
}
