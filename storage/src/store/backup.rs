//! Backups (SAVE / BGSAVE): a consistent copy of the database that a fresh Sluice starts from.
//!
//! [`Store::backup_source`] opens a cross-keyspace fjall snapshot: it sees exactly the batches
//! committed so far — every write ever acknowledged to a client (replies wait for their
//! commit) and nothing of the drain in progress — and keeps that view while writes go on.
//! [`BackupSource::write`], on any thread, copies each of Sluice's keyspaces from the snapshot
//! into a new fjall database by ingestion (sorted keys straight into table files: no journal to
//! replay when the copy is opened), persists it, and only then renames the directory into
//! place, so a backup directory either is complete or does not exist under its final name.
//!
//! The copy is of records, not files: it is what the database holds, compacted, and opens like
//! any data directory (`Store::open` loads it; its lock file is created on first open).
//!
//! Invariants: the source is only read; the target's final name appears only after
//! everything in it is synced (files and directory); a cancelled or failed copy leaves only
//! its `.partial` directory, which the next backup removes.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use fjall::{Database, Keyspace, PersistMode, Readable, Snapshot};

use super::startup::keyspace_options;
use super::{Result, Store, StoreError};

/// Records copied between two checks of the cancel flag.
const CANCEL_CHECK_EVERY: u64 = 4096;

/// What a backup reads: a snapshot and the keyspaces it covers.
pub struct BackupSource {
    snapshot: Snapshot,
    keyspaces: Vec<(&'static str, Keyspace)>,
}

/// What a finished backup copied.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BackupStats {
    pub records: u64,
    pub bytes: u64,
}

impl Store {
    /// A consistent view of everything committed so far, to copy with [`BackupSource::write`]
    /// (cheap: it pins the current state; fjall keeps what it sees until it is dropped).
    pub fn backup_source(&self) -> BackupSource {
        BackupSource {
            snapshot: self.db.snapshot(),
            keyspaces: self
                .keyspaces()
                .map(|(name, ks)| (name, ks.clone()))
                .collect(),
        }
    }
}

impl BackupSource {
    /// Copies the snapshot into a new database at `target` (which must not exist): written
    /// under `<target>.partial`, synced, then renamed. Stops with an error, leaving only the
    /// partial directory, when `cancel` is set.
    pub fn write(self, target: &Path, cancel: &Arc<AtomicBool>) -> Result<BackupStats> {
        let io = |what: &str, p: &Path, e: std::io::Error| {
            io_error(std::io::Error::new(
                e.kind(),
                format!("{what} {}: {e}", p.display()),
            ))
        };
        if target.exists() {
            return Err(io_error(std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                format!("backup target {} already exists", target.display()),
            )));
        }
        let partial = partial_path(target);
        if partial.exists() {
            std::fs::remove_dir_all(&partial)
                .map_err(|e| io("can't remove the unfinished backup", &partial, e))?;
        }
        let mut stats = BackupStats::default();
        {
            let db = Database::builder(&partial).open()?;
            for (name, src) in &self.keyspaces {
                let dst = db.keyspace(name, || keyspace_options(name))?;
                let mut ingest = dst.start_ingestion()?;
                for kv in self.snapshot.iter(src) {
                    let (k, v) = kv.into_inner()?;
                    stats.records += 1;
                    stats.bytes += (k.len() + v.len()) as u64;
                    ingest.write(k, v)?;
                    if stats.records % CANCEL_CHECK_EVERY == 0 && cancel.load(Ordering::Relaxed) {
                        return Err(io_error(std::io::Error::new(
                            std::io::ErrorKind::Interrupted,
                            "backup cancelled (the server is shutting down)",
                        )));
                    }
                }
                ingest.finish()?;
            }
            db.persist(PersistMode::SyncAll)?;
        }
        sync_tree(&partial).map_err(|e| io("can't sync the backup", &partial, e))?;
        std::fs::rename(&partial, target)
            .map_err(|e| io("can't move the finished backup to", target, e))?;
        if let Some(parent) = target.parent() {
            sync_dir(parent).map_err(|e| io("can't sync", parent, e))?;
        }
        Ok(stats)
    }
}

fn io_error(e: std::io::Error) -> StoreError {
    StoreError::Fjall(fjall::Error::Io(e))
}

/// Where a backup to `target` is written until it is complete.
pub fn partial_path(target: &Path) -> PathBuf {
    let mut name = target.file_name().unwrap_or_default().to_os_string();
    name.push(".partial");
    target.with_file_name(name)
}

fn sync_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

/// fsyncs every file and directory under `dir` (fjall syncs what it writes; this also covers
/// the directories the rename makes reachable).
fn sync_tree(dir: &Path) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        if entry.file_type()?.is_dir() {
            sync_tree(&path)?;
        } else {
            std::fs::File::open(&path)?.sync_all()?;
        }
    }
    sync_dir(dir)
}
