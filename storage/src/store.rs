//! The durable store: one fjall `Database`, the in-memory key directories of every database,
//! and the write path.
//!
//! Ownership: one thread (the server's engine) owns the `Store` and is the only one that reads
//! or writes it, so nothing here locks. fjall writes can stall the calling thread (write stalls,
//! see the design note), which is why that thread is never a tokio worker.
//!
//! Write path: a command stages its writes with the `put_*`/`delete_*` helpers; the engine calls
//! [`Store::commit`] after every command, which commits the staged writes as ONE atomic fjall
//! batch (so a command is all-or-nothing after a crash) into the journal's user-space buffer
//! (the database is opened with `manual_journal_persist`). After a whole drain of commands from
//! many clients, the engine calls [`Store::persist`] once — `write(2)` for `appendfsync no`
//! and `everysec`, `fdatasync` for `always` — before it sends any reply of that drain. That
//! single persist per drain is the group commit.
//!
//! On-disk layout (keyspace `keys`):
//! * `0x00 ‖ db u8 ‖ name` → `type u8 ‖ expire_at u64 BE (0 = none) ‖ payload` (string: its bytes)
//!
//! Invariant: the in-memory directories equal what `keys` holds once every committed batch is
//! applied; `open` rebuilds them from disk, dropping keys that expired while the server was down.

use std::path::Path;

use bytes::Bytes;
use fjall::{Database, Keyspace, KeyspaceCreateOptions, OwnedWriteBatch, PersistMode};

use crate::keydir::{Entry, KeyDir, Value};

/// The largest key name accepted. fjall panics on keys over 65,535 bytes and our disk keys add
/// a prefix, so names are capped well below.
pub const MAX_KEY_LEN: usize = 65_000;

const TAG_KEY: u8 = 0x00;
const TYPE_STRING: u8 = 1;

/// How the store is opened.
#[derive(Clone, Debug)]
pub struct StoreOptions {
    /// Number of databases (`databases`, 16 by default).
    pub databases: usize,
    /// fjall block cache in bytes.
    pub cache_size: u64,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            databases: 16,
            cache_size: 64 << 20,
        }
    }
}

/// How hard [`Store::persist`] pushes the journal towards the disk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sync {
    /// Hand the journal to the OS (`write(2)`): survives a process crash.
    Os,
    /// `fdatasync`: survives power loss.
    Disk,
}

/// Errors from the disk. The server treats them as fatal for writes (fjall poisons itself after
/// a failed journal write) and reports them for reads.
#[derive(Debug)]
pub enum StoreError {
    Fjall(fjall::Error),
    Corrupt(String),
}

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreError::Fjall(e) => write!(f, "storage error: {e}"),
            StoreError::Corrupt(what) => write!(f, "corrupt data on disk: {what}"),
        }
    }
}

impl std::error::Error for StoreError {}

impl From<fjall::Error> for StoreError {
    fn from(e: fjall::Error) -> Self {
        StoreError::Fjall(e)
    }
}

pub type Result<T> = std::result::Result<T, StoreError>;

/// The store. See the module docs.
pub struct Store {
    db: Database,
    keys: Keyspace,
    dirs: Vec<KeyDir>,
    batch: Option<OwnedWriteBatch>,
    /// Writes committed since the last [`Store::persist`].
    unpersisted: bool,
    /// Keys changed by staged or committed writes, drained by the engine (for WATCH), recorded
    /// only while `track_touches` is on.
    touched: Vec<(usize, Bytes)>,
    track_touches: bool,
}

fn disk_key(db: usize, name: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(2 + name.len());
    k.push(TAG_KEY);
    k.push(db as u8);
    k.extend_from_slice(name);
    k
}

fn encode_entry(entry: &Entry) -> Vec<u8> {
    let Value::String(s) = &entry.value;
    let mut v = Vec::with_capacity(9 + s.len());
    v.push(TYPE_STRING);
    v.extend_from_slice(&entry.expire_at.unwrap_or(0).to_be_bytes());
    v.extend_from_slice(s);
    v
}

fn decode_entry(raw: &[u8]) -> Option<Entry> {
    if raw.len() < 9 {
        return None;
    }
    let expire = u64::from_be_bytes(raw[1..9].try_into().ok()?);
    let expire_at = (expire != 0).then_some(expire);
    match raw[0] {
        TYPE_STRING => Some(Entry {
            value: Value::String(Bytes::copy_from_slice(&raw[9..])),
            expire_at,
        }),
        _ => None,
    }
}

impl Store {
    /// Opens (or creates) the store in `path` and loads the key directories.
    pub fn open(path: &Path, opts: &StoreOptions, now_ms: u64) -> Result<Store> {
        assert!(
            opts.databases >= 1 && opts.databases <= 256,
            "databases must be 1..=256"
        );
        let db = Database::builder(path)
            .manual_journal_persist(true)
            .cache_size(opts.cache_size)
            .open()?;
        let keys = db.keyspace("keys", || {
            KeyspaceCreateOptions::default().max_memtable_size(16 << 20)
        })?;
        let mut store = Store {
            db,
            keys,
            dirs: (0..opts.databases).map(|_| KeyDir::new()).collect(),
            batch: None,
            unpersisted: false,
            touched: Vec::new(),
            track_touches: false,
        };
        store.load(now_ms)?;
        Ok(store)
    }

    fn load(&mut self, now_ms: u64) -> Result<()> {
        let mut expired = Vec::new();
        for guard in self.keys.prefix([TAG_KEY]) {
            let (k, v) = guard.into_inner()?;
            if k.len() < 2 {
                return Err(StoreError::Corrupt(format!("key record too short: {k:?}")));
            }
            let db = usize::from(k[1]);
            let entry = decode_entry(&v)
                .ok_or_else(|| StoreError::Corrupt(format!("bad key record for {k:?}")))?;
            if db >= self.dirs.len() {
                return Err(StoreError::Corrupt(format!(
                    "key in database {db} but only {} databases are configured",
                    self.dirs.len()
                )));
            }
            if entry.expire_at.is_some_and(|at| at <= now_ms) {
                expired.push(k.to_vec());
                continue;
            }
            self.dirs[db].insert(Bytes::copy_from_slice(&k[2..]), entry);
        }
        if !expired.is_empty() {
            let mut b = self.db.batch();
            for k in expired {
                b.remove(&self.keys, k);
            }
            b.commit()?;
            self.db.persist(PersistMode::Buffer)?;
        }
        tracing::info!(
            keys = self.dirs.iter().map(KeyDir::len).sum::<usize>(),
            "keyspace loaded"
        );
        Ok(())
    }

    pub fn databases(&self) -> usize {
        self.dirs.len()
    }

    /// Read access to one database's directory (expired keys included: use [`Store::lookup`]).
    pub fn dir(&self, db: usize) -> &KeyDir {
        &self.dirs[db]
    }

    /// The live entry for `name`: an expired key is deleted (lazily, as Redis does) and reads as
    /// missing.
    pub fn lookup(&mut self, db: usize, name: &[u8], now_ms: u64) -> Option<&Entry> {
        self.expire_if_due(db, name, now_ms);
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

    /// Stores `entry` under `name`, replacing whatever was there.
    pub fn put(&mut self, db: usize, name: Bytes, entry: Entry) {
        debug_assert!(name.len() <= MAX_KEY_LEN);
        let raw = encode_entry(&entry);
        let key = disk_key(db, &name);
        self.stage_insert(key, raw);
        self.touch(db, &name);
        self.dirs[db].insert(name, entry);
    }

    /// Deletes `name`; true if it existed.
    pub fn delete(&mut self, db: usize, name: &[u8]) -> bool {
        if self.dirs[db].remove(name).is_none() {
            return false;
        }
        let key = disk_key(db, name);
        self.stage_remove(key);
        self.touch(db, name);
        true
    }

    /// Changes the expiry of an existing key; false if it does not exist.
    pub fn set_expire(&mut self, db: usize, name: &[u8], at: Option<u64>) -> bool {
        if !self.dirs[db].set_expire(name, at) {
            return false;
        }
        if let Some(entry) = self.dirs[db].get(name) {
            let raw = encode_entry(entry);
            let key = disk_key(db, name);
            self.stage_insert(key, raw);
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
            self.stage_remove(disk_key(db, &k));
            self.touch(db, &k);
        }
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

    fn stage_insert(&mut self, key: Vec<u8>, value: Vec<u8>) {
        let batch = self.batch.get_or_insert_with(|| self.db.batch());
        batch.insert(&self.keys, key, value);
    }

    fn stage_remove(&mut self, key: Vec<u8>) {
        let batch = self.batch.get_or_insert_with(|| self.db.batch());
        batch.remove(&self.keys, key);
    }

    fn touch(&mut self, db: usize, name: &[u8]) {
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

    /// Takes the keys changed since the last call (FLUSHDB reports every key it removed).
    pub fn take_touched(&mut self) -> Vec<(usize, Bytes)> {
        std::mem::take(&mut self.touched)
    }

    /// Commits the staged writes of one command as one atomic batch (not yet persisted).
    pub fn commit(&mut self) -> Result<()> {
        if let Some(batch) = self.batch.take() {
            if !batch.is_empty() {
                batch.commit()?;
                self.unpersisted = true;
            }
        }
        Ok(())
    }

    /// True if writes were committed since the last persist.
    pub fn has_unpersisted(&self) -> bool {
        self.unpersisted
    }

    /// Pushes committed writes to the OS or to the disk. Call once per drain, before replying.
    pub fn persist(&mut self, sync: Sync) -> Result<()> {
        debug_assert!(self.batch.is_none(), "persist with an uncommitted batch");
        let mode = match sync {
            Sync::Os => PersistMode::Buffer,
            Sync::Disk => PersistMode::SyncData,
        };
        self.db.persist(mode)?;
        if sync == Sync::Disk || mode == PersistMode::Buffer {
            self.unpersisted = false;
        }
        Ok(())
    }

    /// Bytes the database occupies on disk (tables and journals).
    pub fn disk_space(&self) -> u64 {
        self.db.disk_space().unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn string(v: &str, expire_at: Option<u64>) -> Entry {
        Entry {
            value: Value::String(Bytes::copy_from_slice(v.as_bytes())),
            expire_at,
        }
    }

    #[test]
    fn committed_writes_survive_reopen_and_expired_keys_do_not() {
        let dir = tempfile::tempdir().expect("tempdir");
        {
            let mut s = Store::open(dir.path(), &StoreOptions::default(), 1000).expect("open");
            s.put(0, Bytes::from_static(b"a"), string("1", None));
            s.put(3, Bytes::from_static(b"b"), string("2", Some(5000)));
            s.put(0, Bytes::from_static(b"gone"), string("x", None));
            s.commit().expect("commit");
            s.delete(0, b"gone");
            s.commit().expect("commit");
            s.persist(Sync::Disk).expect("persist");
        }
        let mut s = Store::open(dir.path(), &StoreOptions::default(), 2000).expect("reopen");
        assert_eq!(s.lookup(0, b"a", 2000), Some(&string("1", None)));
        assert_eq!(s.lookup(3, b"b", 2000), Some(&string("2", Some(5000))));
        assert_eq!(s.lookup(0, b"gone", 2000), None);
        drop(s);
        let mut s = Store::open(dir.path(), &StoreOptions::default(), 6000).expect("reopen late");
        assert_eq!(s.lookup(3, b"b", 6000), None);
        assert_eq!(s.dir(3).len(), 0);
    }

    #[test]
    fn flush_db_removes_only_that_database() {
        let dir = tempfile::tempdir().expect("tempdir");
        {
            let mut s = Store::open(dir.path(), &StoreOptions::default(), 0).expect("open");
            for i in 0..100 {
                s.put(1, Bytes::from(format!("k{i}")), string("v", None));
            }
            s.put(2, Bytes::from_static(b"keep"), string("v", None));
            s.commit().expect("commit");
            s.flush_db(1);
            s.commit().expect("commit");
            s.persist(Sync::Os).expect("persist");
        }
        let s = Store::open(dir.path(), &StoreOptions::default(), 0).expect("reopen");
        assert_eq!(s.dir(1).len(), 0);
        assert_eq!(s.dir(2).len(), 1);
    }
}
