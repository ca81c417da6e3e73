//! The keyspace: the per-database key directories (strings and stream handles with their
//! expiry), lookups with lazy expiry, and the tracking the engine asks for — touched keys for
//! WATCH, keys that may serve blocked readers.
//!
//! Invariant: every change to a directory stages the matching `keys` record (or its removal)
//! in the same call, so the directory equals the keyspace once the drain commits.

use super::*;

/// Most bytes of copied entry runs one of COPY's side batches holds (see
/// [`Store::copy_stream`]).
pub const COPY_BATCH_BYTES: usize = 4 << 20;

impl Store {
    pub fn databases(&self) -> usize {
        self.dirs.len()
    }

    /// The job store (see `crate::jobs`).
    pub fn jobs(&mut self) -> &mut crate::jobs::Jobs {
        &mut self.jobs
    }

    /// The job store, read only.
    pub fn jobs_ref(&self) -> &crate::jobs::Jobs {
        &self.jobs
    }

    /// Read access to one database's directory (expired keys included: use [`Store::lookup`]).
    pub fn dir(&self, db: usize) -> &KeyDir {
        &self.dirs[db]
    }

    /// The live entry for `name`: an expired key is deleted (lazily, as Redis does) and reads as
    /// missing.
    /// A lookup records an access (OBJECT IDLETIME, OBJECT FREQ) unless the command asked
    /// otherwise ([`Store::set_touching`]).
    pub fn lookup(&mut self, db: usize, name: &[u8], now_ms: u64) -> Option<&Entry> {
        // Every command looks keys up: skip the expiry check when nothing can expire.
        if self.dirs[db].expires_len() > 0 {
            self.expire_if_due(db, name, now_ms);
        }
        if self.touching {
            let now_s = (now_ms / 1000) as u32;
            crate::keydir::set_clock(now_s);
            self.dirs[db].get_touched(name, now_s)
        } else {
            self.dirs[db].get(name)
        }
    }

    /// Whether the lookups of the running command record an access: the engine sets it per
    /// command (off for a CLIENT NO-TOUCH client), and commands that Redis runs with
    /// `LOOKUP_NOTOUCH` (TYPE, EXISTS, TTL, OBJECT…) turn it off.
    pub fn set_touching(&mut self, on: bool) {
        self.touching = on;
    }

    /// The access record of a key (expired or not).
    pub fn access(&self, db: usize, name: &[u8]) -> Option<crate::keydir::Access> {
        self.dirs[db].access(name)
    }

    /// Deletes `name` if its expiry has passed; true if it did.
    pub fn expire_if_due(&mut self, db: usize, name: &[u8], now_ms: u64) -> bool {
        let due = self.dirs[db]
            .get(name)
            .and_then(|e| e.expire_at)
            .is_some_and(|at| at <= now_ms);
        if due {
            self.delete(db, name);
        }
        due
    }

    /// Forgets a value that is leaving the keyspace: a stream's incarnation becomes dead and the
    /// reaper deletes its data.
    pub(super) fn drop_value(&mut self, old: Entry) {
        if let Value::Stream(meta) = old.value {
            let sid = meta.sid;
            if meta.len() >= self.drop_min_entries {
                self.drop_first.insert(sid);
            }
            self.pending_keys.insert(dead_key(sid), Some(Vec::new()));
            self.pending_smeta
                .retain(|k, _| !k.starts_with(&sid.to_be_bytes()));
            // Entries of the dead incarnation not written yet need never be, and the reaper
            // deletes what fjall holds of it.
            self.open_runs.remove(&sid);
            self.overlay.forget(sid);
            self.run_cache.forget(sid);
            self.dead.push((sid, reaper::ReapAt::Start));
        }
    }

    /// Stores `entry` under `name`, replacing whatever was there.
    pub fn put(&mut self, db: usize, name: Bytes, mut entry: Entry) {
        debug_assert!(name.len() <= MAX_KEY_LEN);
        if let Value::String(v) = &mut entry.value {
            *v = crate::keydir::owned_value(std::mem::take(v));
        }
        self.pending_keys
            .insert(disk_key(self.slots[db], &name), Some(encode_entry(&entry)));
        self.touch(db, &name);
        // Replaced, created or changed in type: blocked readers may be served (or must learn
        // that their stream is gone).
        self.ready.note(db, &name);
        if matches!(entry.value, Value::Stream(_)) {
            self.dirty_streams.insert((db, name.clone()));
        }
        if let Some(old) = self.dirs[db].insert(name, entry) {
            self.drop_value(old);
        }
    }

    pub(super) fn mark_dirty(&mut self, db: usize, name: &[u8]) {
        mark_dirty(&mut self.dirty_streams, &mut self.last_dirty, db, name);
    }

    /// Deletes `name`; true if it existed.
    pub fn delete(&mut self, db: usize, name: &[u8]) -> bool {
        let Some(old) = self.dirs[db].remove(name) else {
            return false;
        };
        self.pending_keys
            .insert(disk_key(self.slots[db], name), None);
        self.touch(db, name);
        self.ready.note(db, name);
        self.drop_value(old);
        true
    }

    /// Moves the value of `src` to `dst` (replacing `dst`), keeping its expiry; false if `src`
    /// does not exist. A stream keeps its incarnation, so no entry is copied.
    pub fn rename(&mut self, db: usize, src: &[u8], dst: Bytes) -> bool {
        self.move_to(db, src, db, dst)
    }

    /// Moves the value of `src` in `db` to `dst` in `to` (replacing it), keeping its expiry
    /// and its access record (RENAME, MOVE: Redis moves the object itself); false if `src`
    /// does not exist. A stream keeps its incarnation, so no entry, node or group record is
    /// copied: only its key record moves, in the batch of the command.
    pub fn move_to(&mut self, db: usize, src: &[u8], to: usize, dst: Bytes) -> bool {
        let access = self.dirs[db].access(src);
        let Some(mut entry) = self.dirs[db].remove(src) else {
            return false;
        };
        self.pending_keys
            .insert(disk_key(self.slots[db], src), None);
        self.touch(db, src);
        self.ready.note(db, src);
        if let Value::Stream(meta) = &mut entry.value {
            // Its queue groups and retention are scheduled under the new name (the old items
            // are dropped as stale when the periodic pass meets them).
            queue::schedule_loaded(&mut self.queue_schedule, to, &dst, meta);
            if meta.idmp.is_some() {
                self.idmp_streams.forget(meta.sid);
                self.idmp_streams.note(meta.sid, to, &dst);
            }
        }
        self.put(to, dst.clone(), entry);
        if let Some(a) = access {
            self.dirs[to].set_access(&dst, a);
        }
        true
    }

    /// Puts a copy of the string at `src` in `db` under `dst` in `to` (replacing it), with the
    /// same expiry (COPY). False if `src` is missing or is not a string (streams:
    /// [`Store::copy_stream`]).
    pub fn copy_string(&mut self, db: usize, src: &[u8], to: usize, dst: Bytes) -> bool {
        let Some(entry) = self.dirs[db].get(src) else {
            return false;
        };
        if !matches!(entry.value, Value::String(_)) {
            return false;
        }
        let entry = entry.clone();
        self.put(to, dst, entry);
        true
    }

    /// COPY of a stream: a new incarnation at `dst` in `to` (replacing it) with the source's
    /// entries, node layout, consumer groups (consumers with their times, the PEL with delivery
    /// times and counts, the NACK zone, queue settings and counters), delayed entries,
    /// retention, IDMP window and expiry. False if `src` is not a stream.
    ///
    /// Cost: O(N) in the size of the stream, as in Redis, but not in memory: the entry runs are
    /// copied as they are (no decoding) into side batches of at most [`COPY_BATCH_BYTES`],
    /// committed as they fill, under an incarnation marked dead in the first of them; the
    /// command's own batch then writes the key record and the groups and removes the mark. A
    /// crash before that batch leaves a dead incarnation for the reaper: the copy is all or
    /// nothing, like every command. What stays in memory is what the source already holds
    /// there (its node summaries, its PEL), copied once.
    pub fn copy_stream(&mut self, db: usize, src: &[u8], to: usize, dst: Bytes) -> Result<bool> {
        // The running command's own entry would be outside the runs read below.
        self.end_command();
        let Some(Entry {
            value: Value::Stream(meta),
            expire_at,
        }) = self.dirs[db].get(src)
        else {
            return Ok(false);
        };
        let expire_at = *expire_at;
        let old_sid = meta.sid;
        let mut m: StreamMeta = (**meta).clone();
        let groups = std::mem::take(&mut m.groups);
        let idmp = m.idmp.take();
        let sid = self.next_sid;
        self.next_sid += 1;
        let next_sid = self.next_sid.to_be_bytes().to_vec();
        self.pending_keys
            .insert(NEXT_SID_KEY.to_vec(), Some(next_sid.clone()));

        let mut runs_copied = 0u64;
        {
            let runs = Runs::new(
                &self.entries,
                &self.overlay,
                self.open_runs.get(&old_sid),
                old_sid,
            );
            let mut batch: Option<OwnedWriteBatch> = None;
            let mut bytes = 0usize;
            let (keys, entries, fjall_db) = (&self.keys, &self.entries, &self.db);
            visit_runs(
                &runs,
                None,
                StreamId::MIN,
                StreamId::MAX,
                false,
                |key, value| {
                    let b = batch.get_or_insert_with(|| {
                        let mut b = fjall_db.batch();
                        if runs_copied == 0 {
                            // Dead until the command's batch says otherwise; the allocator moves
                            // past it in the same batch, so a crash cannot hand it out again.
                            b.insert(keys, dead_key(sid), Vec::<u8>::new());
                            b.insert(keys, NEXT_SID_KEY, next_sid.clone());
                        }
                        b
                    });
                    bytes += value.len() + 24;
                    b.insert(entries, entry_key(sid, key), value);
                    runs_copied += 1;
                    if bytes >= COPY_BATCH_BYTES {
                        bytes = 0;
                        if let Some(b) = batch.take() {
                            b.commit()?;
                        }
                    }
                    Ok(true)
                },
            )
            .inspect_err(|_| {
                // Whatever was written of it is reaped.
                if runs_copied > 0 {
                    self.dead.push((sid, reaper::ReapAt::Start));
                }
            })?;
            if let Some(b) = batch {
                b.commit()?;
            }
        }
        if runs_copied > 0 {
            self.unpersisted = true;
            self.pending_keys.insert(dead_key(sid), None);
        }
        m.sid = sid;
        m.dirty_nodes = m.layout.nodes().map(|(master, _)| *master).collect();
        self.put(
            to,
            dst.clone(),
            Entry {
                value: Value::Stream(Box::new(m)),
                expire_at,
            },
        );
        for (gname, g) in &groups.map {
            self.create_group(to, &dst, gname.clone(), g.last_id, g.entries_read);
            let Some(mut ng) = self.group_mut(to, &dst, gname) else {
                continue;
            };
            let mut cids = std::collections::HashMap::new();
            for c in g.consumers.values() {
                cids.insert(c.cid, ng.restore_consumer(c));
            }
            for (id, nack) in &g.pel {
                if let Some(&cid) = cids.get(&nack.cid) {
                    ng.restore_pending(*id, cid, nack);
                }
            }
            for id in g.nacked.values() {
                if let Some(nack) = g.pel.get(id) {
                    ng.restore_nacked(*id, nack);
                }
            }
            if let Some(q) = g.queue.as_deref() {
                ng.restore_queue(q);
            }
        }
        for (id, due) in &groups.delayed {
            self.add_delay(to, &dst, *id, *due);
        }
        if groups.retention.is_some() {
            self.set_retention(to, &dst, groups.retention);
        }
        if let Some(w) = idmp.as_deref() {
            self.idmp_restore(to, &dst, w);
        }
        if let Some(Value::Stream(meta)) = self.dirs[to].get_mut(&dst).map(|e| &mut e.value) {
            queue::schedule_loaded(&mut self.queue_schedule, to, &dst, meta);
        }
        self.mark_dirty(to, &dst);
        Ok(true)
    }

    /// SWAPDB: databases `a` and `b` exchange their contents — in memory their directories,
    /// on disk their slots (one record, `DB_MAP_KEY`, in the batch of the command: O(1)
    /// whatever the number of keys, as in Redis; see the layout in `store.rs`). What the
    /// store tracks per database and key (dirty streams, queue schedules, IDMP windows)
    /// follows. Blocked readers and WATCHers are the engine's business (it knows which keys
    /// have them).
    pub fn swap_dbs(&mut self, a: usize, b: usize) {
        if a == b {
            return;
        }
        self.dirs.swap(a, b);
        self.slots.swap(a, b);
        self.pending_keys
            .insert(DB_MAP_KEY.to_vec(), Some(self.slots.clone()));
        let other = |d: usize| {
            if d == a {
                b
            } else if d == b {
                a
            } else {
                d
            }
        };
        self.last_dirty = None;
        self.dirty_streams = std::mem::take(&mut self.dirty_streams)
            .into_iter()
            .map(|(d, k)| (other(d), k))
            .collect();
        self.idmp_streams.remap_dbs(other);
        // Queue groups' deadlines, retention and claim wake-ups (bounded by the number of
        // queue groups and blocked CLAIM readers, not by keys).
        let q = &mut self.queue_schedule;
        q.items = std::mem::take(&mut q.items)
            .into_iter()
            .map(|(at, d, k, g)| (at, other(d), k, g))
            .collect();
        q.retained = std::mem::take(&mut q.retained)
            .into_iter()
            .map(|(d, k)| (other(d), k))
            .collect();
        q.retain_cursor = q.retain_cursor.take().map(|(d, k)| (other(d), k));
        q.claim_wakes = std::mem::take(&mut q.claim_wakes)
            .into_iter()
            .map(|(at, d, k)| (at, other(d), k))
            .collect();
    }

    /// Changes the expiry of an existing key; false if it does not exist.
    pub fn set_expire(&mut self, db: usize, name: &[u8], at: Option<u64>) -> bool {
        if !self.dirs[db].set_expire(name, at) {
            return false;
        }
        if let Some(entry) = self.dirs[db].get(name) {
            let raw = encode_entry(entry);
            self.pending_keys
                .insert(disk_key(self.slots[db], name), Some(raw));
        }
        self.touch(db, name);
        true
    }

    /// Empties one database.
    pub fn flush_db(&mut self, db: usize) {
        let names: Vec<Bytes> = self.dirs[db]
            .iter()
            .map(|(k, _)| Bytes::copy_from_slice(k))
            .collect();
        for k in names {
            self.delete(db, &k);
        }
        debug_assert!(self.dirs[db].is_empty());
        // Deleting keys one by one leaves the directory's table at its largest size.
        self.dirs[db].clear();
    }

    /// Deletes up to `limit` keys of `db` whose expiry has passed (the active expire cycle);
    /// returns how many.
    pub fn expire_cycle(&mut self, db: usize, now_ms: u64, limit: usize) -> usize {
        let due = self.dirs[db].expired(now_ms, limit);
        for k in &due {
            self.delete(db, k);
        }
        due.len()
    }

    pub(super) fn touch(&mut self, db: usize, name: &[u8]) {
        if self.track_touches {
            self.touched.push((db, Bytes::copy_from_slice(name)));
        }
    }

    /// Turns recording of changed keys on or off (the engine turns it on while any client
    /// WATCHes).
    pub fn track_touches(&mut self, on: bool) {
        self.track_touches = on;
        if !on {
            self.touched.clear();
        }
    }

    /// Turns recording of the keys that may now serve a blocked reader on or off (the engine
    /// turns it on while clients are blocked on keys): a stream appended to, a key created or
    /// replaced (a new stream, a RENAME destination), removed or changed in type, a consumer
    /// group destroyed. The store method that makes such a change notes its key
    /// (`ReadyKeys`); off, nothing is recorded and no key is cloned.
    pub fn track_ready(&mut self, on: bool) {
        self.ready.on = on;
        if !on {
            self.ready.keys.clear();
        }
    }

    /// Takes the keys recorded since the last call that may now serve a blocked reader (see
    /// [`Store::track_ready`]), oldest first; a key may repeat.
    pub fn drain_ready(&mut self) -> std::vec::Drain<'_, (usize, Bytes)> {
        self.ready.keys.drain(..)
    }

    /// Takes the keys changed since the last call (FLUSHDB reports every key it removed).
    pub fn take_touched(&mut self) -> Vec<(usize, Bytes)> {
        std::mem::take(&mut self.touched)
    }
}
