//! The keyspace: the per-database key directories (strings and stream handles with their
//! expiry), lookups with lazy expiry, and the tracking the engine asks for — touched keys for
//! WATCH, keys that may serve blocked readers.
//!
//! Invariant: every change to a directory stages the matching `keys` record (or its removal)
//! in the same call, so the directory equals the keyspace once the drain commits.

use super::*;

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
    pub fn lookup(&mut self, db: usize, name: &[u8], now_ms: u64) -> Option<&Entry> {
        // Every command looks keys up: skip the expiry check when nothing can expire.
        if self.dirs[db].expires_len() > 0 {
            self.expire_if_due(db, name, now_ms);
        }
        self.dirs[db].get(name)
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
            self.pending_keys.insert(dead_key(sid), Some(Vec::new()));
            self.pending_smeta
                .retain(|k, _| !k.starts_with(&sid.to_be_bytes()));
            // Entries of the dead incarnation not written yet need never be, and the reaper
            // deletes what fjall holds of it.
            self.open_runs.remove(&sid);
            self.overlay.forget(sid);
            self.run_cache.forget(sid);
            self.dead.push((sid, None));
        }
    }

    /// Stores `entry` under `name`, replacing whatever was there.
    pub fn put(&mut self, db: usize, name: Bytes, mut entry: Entry) {
        debug_assert!(name.len() <= MAX_KEY_LEN);
        if let Value::String(v) = &mut entry.value {
            *v = crate::keydir::owned_value(std::mem::take(v));
        }
        self.pending_keys
            .insert(disk_key(db, &name), Some(encode_entry(&entry)));
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
        self.pending_keys.insert(disk_key(db, name), None);
        self.touch(db, name);
        self.ready.note(db, name);
        self.drop_value(old);
        true
    }

    /// Moves the value of `src` to `dst` (replacing `dst`), keeping its expiry; false if `src`
    /// does not exist. A stream keeps its incarnation, so no entry is copied.
    pub fn rename(&mut self, db: usize, src: &[u8], dst: Bytes) -> bool {
        let Some(entry) = self.dirs[db].remove(src) else {
            return false;
        };
        self.pending_keys.insert(disk_key(db, src), None);
        self.touch(db, src);
        self.ready.note(db, src);
        self.put(db, dst, entry);
        true
    }

    /// Changes the expiry of an existing key; false if it does not exist.
    pub fn set_expire(&mut self, db: usize, name: &[u8], at: Option<u64>) -> bool {
        if !self.dirs[db].set_expire(name, at) {
            return false;
        }
        if let Some(entry) = self.dirs[db].get(name) {
            let raw = encode_entry(entry);
            self.pending_keys.insert(disk_key(db, name), Some(raw));
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
