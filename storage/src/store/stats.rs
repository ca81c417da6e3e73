//! Read-only figures about the store for INFO's `# Sluice` section: what fjall's public API
//! tells about the data directory (disk use, journals, memtables, tables, flushes and
//! compactions) and the block cache. Nothing here changes the store; every figure is read
//! when asked (cheap: counters and the current table list), never cached.
//!
//! Some of these come from fjall methods it marks experimental (`write_buffer_size`,
//! `outstanding_flushes`, `active_compactions`, `compactions_completed`, `time_compacting`,
//! `journal_disk_space`): a fjall upgrade that renames them breaks the build here, not
//! silently.

use super::Store;

/// The store's figures (see the module docs).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoreStats {
    /// Bytes the database occupies on disk: tables, blob files and journals.
    pub disk_bytes: u64,
    /// Bytes of the journals (the active one and sealed ones not yet flushed).
    pub journal_bytes: u64,
    /// Journal files on disk.
    pub journals: u64,
    /// Bytes held in memtables (active and sealed), all keyspaces.
    pub memtable_bytes: u64,
    /// Sealed memtables waiting to be flushed, all keyspaces.
    pub sealed_memtables: u64,
    /// Flush tasks queued.
    pub flushes_queued: u64,
    /// Tables (segments) on disk, all keyspaces, and how many of them are in level 0.
    pub tables: u64,
    pub l0_tables: u64,
    /// Blob files (large values kept apart), all keyspaces.
    pub blob_files: u64,
    /// Compactions running now, completed since the store opened, and the time they took (µs).
    pub compactions_running: u64,
    pub compactions_completed: u64,
    pub compaction_time_us: u64,
    /// The block cache: bytes used and its capacity.
    pub cache_bytes: u64,
    pub cache_capacity: u64,
    /// fjall keyspaces (Sluice's: keys, entries, stream metadata, and the job store's five).
    pub keyspaces: u64,
}

impl Store {
    /// Every keyspace of the store with its name: the key directory, entries, stream
    /// metadata, then the job store's five (stats, backups and the close's flush cover them
    /// all).
    pub(crate) fn keyspaces(&self) -> impl Iterator<Item = (&'static str, &fjall::Keyspace)> {
        [
            ("keys", &self.keys),
            ("entries", &self.entries),
            ("smeta", &self.smeta),
        ]
        .into_iter()
        .chain(self.jobs.spaces().all())
    }

    /// The store's figures now (see the module docs).
    pub fn stats(&self) -> StoreStats {
        let all: Vec<&fjall::Keyspace> = self.keyspaces().map(|(_, ks)| ks).collect();
        let sum = |f: fn(&fjall::Keyspace) -> usize| all.iter().map(|k| f(k) as u64).sum::<u64>();
        StoreStats {
            disk_bytes: self.db.disk_space().unwrap_or(0),
            journal_bytes: self.db.journal_disk_space().unwrap_or(0),
            journals: self.db.journal_count() as u64,
            memtable_bytes: self.db.write_buffer_size(),
            sealed_memtables: sum(fjall::Keyspace::sealed_memtable_count),
            flushes_queued: self.db.outstanding_flushes() as u64,
            tables: sum(fjall::Keyspace::table_count),
            l0_tables: sum(fjall::Keyspace::l0_table_count),
            blob_files: sum(fjall::Keyspace::blob_file_count),
            compactions_running: self.db.active_compactions() as u64,
            compactions_completed: self.db.compactions_completed() as u64,
            compaction_time_us: self.db.time_compacting().as_micros() as u64,
            cache_bytes: self.db.cache_size(),
            cache_capacity: self.db.cache_capacity(),
            keyspaces: self.db.keyspace_count() as u64,
        }
    }
}
