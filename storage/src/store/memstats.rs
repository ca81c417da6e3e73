//! Read-only memory figures of the store for MEMORY STATS and INFO memory: what fjall holds in
//! memory (memtables, block cache) and the key directories' hash tables. Each is cheap (a few
//! loads), so MEMORY STATS can call them on the event loop.

use super::*;

impl Store {
    /// Bytes in fjall's memtables, the active and the sealed ones not flushed yet, over every
    /// keyspace (written data still in memory; it is on disk in the journal).
    pub fn memtable_bytes(&self) -> u64 {
        self.db.write_buffer_size()
    }

    /// Bytes of table blocks in fjall's block cache now, and the cache's capacity
    /// (`cache-size`).
    pub fn block_cache_bytes(&self) -> (u64, u64) {
        (self.db.cache_size(), self.db.cache_capacity())
    }

    /// Keys over every database and the slots their directories' hash tables hold (a table
    /// keeps its slots until it is emptied by FLUSHDB/FLUSHALL).
    pub fn keydir_slots(&self) -> (usize, usize) {
        self.dirs
            .iter()
            .fold((0, 0), |(k, s), d| (k + d.len(), s + d.capacity()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flushing_a_database_gives_its_table_back() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut s = Store::open(dir.path(), &StoreOptions::default(), 0).expect("open");
        for i in 0..10_000u32 {
            s.put(
                0,
                Bytes::from(format!("k{i}")),
                Entry {
                    value: Value::String(Bytes::from_static(b"v")),
                    expire_at: None,
                },
            );
        }
        s.commit().expect("commit");
        let (keys, slots) = s.keydir_slots();
        assert_eq!(keys, 10_000);
        assert!(slots >= 10_000);
        s.flush_db(0);
        s.commit().expect("commit");
        assert_eq!(s.keydir_slots(), (0, 0));
        let (_, capacity) = s.block_cache_bytes();
        assert!(capacity > 0);
    }
}
