//! The commit: turning the drain's staged writes (keys, streams, nodes, runs, groups' PEL
//! logs, jobs) into ONE atomic fjall batch, persisting the journal per `appendfsync`, health
//! checks, and closing.
//!
//! Invariants: nothing commits inside a command or an atomic section (asserted in debug
//! builds); after `commit` the staged maps are empty; `persist` is the only path to the disk
//! for a drain's writes.

use super::*;

/// Capacity the per-drain tables of staged key records keep between drains.
const PENDING_KEEP: usize = 4096;

impl Store {
    /// Commits everything staged since the last commit as one atomic batch (not yet persisted).
    /// Never inside a command, nor inside an atomic section ([`Store::begin_atomic`]).
    pub fn commit(&mut self) -> Result<()> {
        debug_assert!(self.atomic == 0, "commit inside an atomic section");
        self.end_command();
        self.seal_open_runs();
        self.last_dirty = None;
        for (db, name) in std::mem::take(&mut self.dirty_streams) {
            self.stage_journals(db, &name)?;
            let slot = self.slots[db];
            if let Some(entry) = self.dirs[db].get_mut(&name) {
                if let Value::Stream(meta) = &mut entry.value {
                    // Node summaries changed by appends: their state now.
                    for master in std::mem::take(&mut meta.dirty_nodes) {
                        let v = meta.layout.node(master).map(NodeSummary::to_bytes);
                        self.pending_smeta.insert(node_key(meta.sid, master), v);
                    }
                    self.pending_keys
                        .insert(disk_key(slot, &name), Some(encode_entry(entry)));
                }
            }
        }
        if self.pending_keys.is_empty()
            && self.pending_smeta.is_empty()
            && self.batch.is_none()
            && self.overlay.is_empty()
            && !self.jobs.has_staged()
        {
            return Ok(());
        }
        let mut batch = self.batch.take().unwrap_or_else(|| self.db.batch());
        self.jobs.drain_into(&mut batch);
        self.overlay.drain_into(&mut batch, &self.entries);
        for (k, v) in self.pending_keys.drain() {
            match v {
                Some(v) => batch.insert(&self.keys, k, v),
                None => batch.remove(&self.keys, k),
            }
        }
        for (k, v) in self.pending_smeta.drain() {
            match v {
                Some(v) => batch.insert(&self.smeta, k, v),
                None => batch.remove(&self.smeta, k),
            }
        }
        // A drain that wrote millions of keys (FLUSHALL) would otherwise leave both tables at
        // that size for good; a no-op while they are small.
        self.pending_keys.shrink_to(PENDING_KEEP);
        self.pending_smeta.shrink_to(PENDING_KEEP);
        debug_assert!(self.open_runs.is_empty() && self.overlay.is_empty());
        if !batch.is_empty() {
            batch.commit()?;
            self.unpersisted = true;
        }
        Ok(())
    }

    /// True if writes were committed since the last persist.
    pub fn has_unpersisted(&self) -> bool {
        self.unpersisted
    }

    /// True if writes are staged and not committed.
    pub fn has_staged(&self) -> bool {
        self.fresh.is_some()
            || !self.open_runs.is_empty()
            || !self.overlay.is_empty()
            || self.batch.is_some()
            || !self.pending_keys.is_empty()
            || !self.pending_smeta.is_empty()
            || !self.dirty_streams.is_empty()
            || self.jobs.has_staged()
    }

    /// Pushes committed writes to the OS or to the disk. Call once per drain, after
    /// [`Store::commit`] and before replying.
    pub fn persist(&mut self, sync: Sync) -> Result<()> {
        debug_assert!(!self.has_staged(), "persist with staged writes");
        let mode = match sync {
            Sync::Os => PersistMode::Buffer,
            Sync::Disk => PersistMode::SyncData,
        };
        self.db.persist(mode)?;
        self.unpersisted = false;
        Ok(())
    }

    /// Clean shutdown: commits, flushes every memtable to tables and syncs, then seals the
    /// journal, which fjall deletes once no memtable needs it: the next start has no journal
    /// to replay (fjall itself only seals a journal past 64 MB, and replaying one that size
    /// took most of a clean start's time). Never waits forever: a flush that fails (a full
    /// disk) poisons fjall and leaves its memtable sealed, so the wait ends with that error, or
    /// after [`CLOSE_FLUSH_WAIT`] with the journal synced and kept (a restart replays what was
    /// not flushed). A poisoned store returns its error at once.
    pub fn close(&mut self) -> Result<()> {
        self.finish_table_drop();
        // The job store's staged writes go to their keyspaces (`jobs/log.rs`): the next start
        // has no job log to replay.
        self.jobs.request_fold();
        self.commit()?;
        // Fails at once, with `Poisoned`, if an earlier write failed.
        self.db.persist(PersistMode::Buffer)?;
        let all: Vec<&fjall::Keyspace> = self.keyspaces().map(|(_, ks)| ks).collect();
        for ks in &all {
            ks.rotate_memtable()?;
        }
        let deadline = std::time::Instant::now() + CLOSE_FLUSH_WAIT;
        let mut flushed = true;
        while all.iter().any(|ks| ks.sealed_memtable_count() > 0) {
            // A failed background flush poisons the database: stop waiting for it.
            self.db.persist(PersistMode::Buffer)?;
            if std::time::Instant::now() >= deadline {
                tracing::warn!(
                    "memtables not flushed after {:?}; the next start replays them from the journal",
                    CLOSE_FLUSH_WAIT
                );
                flushed = false;
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        self.db.persist(PersistMode::SyncAll)?;
        if flushed {
            // Syncs the journal, opens the next one and deletes those every keyspace has
            // flushed past (all of them, unless a write raced the close: then that one stays
            // for the replay, as after any crash). Everything is in synced tables by now, so a
            // failure here (no room for the next journal file, say) costs the next start a
            // replay, not data: it is logged, not returned.
            if let Err(e) = self.db.seal_journal() {
                tracing::warn!(
                    error = %e,
                    "memtables flushed and synced, but the journal could not be sealed: the next start replays it"
                );
            }
        }
        self.unpersisted = false;
        Ok(())
    }

    /// Commits what is staged and syncs the journal, without flushing memtables: the stop of a
    /// server whose disk is full (a flush would need room). The next start replays the journal.
    pub fn sync_journal(&mut self) -> Result<()> {
        self.commit()?;
        self.db.persist(PersistMode::SyncAll)?;
        self.unpersisted = false;
        Ok(())
    }

    /// Moves the journal on to a new file (the old one is synced, and deleted once no memtable
    /// needs it). For a start under `appendfsync always`: the journal a start recovers is
    /// appended to where it ends, so it cannot be zero-filled ahead (see
    /// [`crate::set_journal_zero_fill`]); a new one can.
    pub fn start_new_journal(&mut self) -> Result<()> {
        self.db.seal_journal()?;
        Ok(())
    }

    /// Fails if fjall is poisoned (an earlier write, sync, flush or compaction failed), so the
    /// engine learns of a background failure without waiting for the next write. Cheap: hands
    /// the journal's buffer to the OS.
    pub fn health_check(&mut self) -> Result<()> {
        self.db.persist(PersistMode::Buffer)?;
        Ok(())
    }

    /// Bytes the database occupies on disk (tables and journals).
    pub fn disk_space(&self) -> u64 {
        self.db.disk_space().unwrap_or(0)
    }
}

/// `fdatasync`s the journal fjall is writing in the data directory `dir`, from any thread and
/// without fjall's journal lock (so commits are not held up for the duration of the sync, as
/// they are behind [`Store::persist`]`(Sync::Disk)`). Data handed to the OS before the call is
/// on disk when it returns.
///
/// Relies on fjall 3's journal layout: journals are `<n>.jnl` files in the directory's root,
/// the active one has the greatest `n`, and a journal is synced (`SyncAll`) when fjall seals it
/// and opens the next, so only the active one can hold data that is not on disk. A journal
/// sealed between the listing and the sync was synced by fjall itself.
pub fn sync_active_journal(dir: &Path) -> std::io::Result<()> {
    let mut newest: Option<(u64, std::path::PathBuf)> = None;
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let n = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(".jnl"))
            .and_then(|n| n.parse::<u64>().ok());
        if let Some(n) = n {
            if newest.as_ref().is_none_or(|(m, _)| n > *m) {
                newest = Some((n, path));
            }
        }
    }
    let Some((_, path)) = newest else {
        return Ok(());
    };
    match std::fs::File::open(&path) {
        Ok(f) => f.sync_data(),
        // Deleted after a flush since the listing: nothing in it needs syncing any more.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}
