//! Backups: SAVE, BGSAVE [SCHEDULE] and LASTSAVE, with Redis's replies, and the state the
//! engine keeps for them ([`Backups`]: the running copy, the last result, INFO's figures).
//!
//! Every write is already durable in the journal, so SAVE and BGSAVE do not make the data
//! safe — they make a *copy* to keep elsewhere: a complete data directory, taken from a
//! consistent snapshot of what was committed when the command ran (every acknowledged write;
//! see `storage/src/store/backup.rs`), written under `backup-dir` as `sluice-<unix ms>`
//! (`.partial` until complete). A fresh Sluice starts from it with `--dir <that directory>`.
//! BGSAVE copies on a thread of its own while the server goes on; SAVE copies before it
//! answers, blocking every client as Redis's SAVE does. The two newest backups are kept.
//!
//! Invariants: at most one copy runs; a copy is joined (or cancelled and joined, at shutdown)
//! before the store closes; LASTSAVE moves only when a copy completed.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Instant;

use bytes::Bytes;
use sluice_storage::store::backup::{BackupSource, BackupStats};
use sluice_storage::Store;

use super::common::*;
use crate::args::eq;
use crate::config::Config;
use crate::engine::{Ctx, Server};
use crate::reply::{CmdResult, ReplyError, SYNTAX};

/// Backups kept under `backup-dir` (older ones are removed after a new one completes).
pub const BACKUPS_KEPT: usize = 2;

const IN_PROGRESS: &str = "ERR Background save already in progress";

/// The engine's backup state.
pub struct Backups {
    running: Option<Running>,
    /// BGSAVE SCHEDULE while a copy ran: start another when it ends.
    scheduled: bool,
    /// Unix seconds of the last completed backup (server start before the first, as Redis).
    pub last_save: u64,
    pub last_ok: bool,
    /// Seconds the last copy took (-1: none yet).
    pub last_duration_s: i64,
    pub last_path: Option<PathBuf>,
    pub last_error: Option<String>,
}

struct Running {
    handle: JoinHandle<Result<BackupStats, String>>,
    cancel: Arc<AtomicBool>,
    started: Instant,
    target: PathBuf,
}

impl Backups {
    pub fn new(now_s: u64) -> Backups {
        Backups {
            running: None,
            scheduled: false,
            last_save: now_s,
            last_ok: true,
            last_duration_s: -1,
            last_path: None,
            last_error: None,
        }
    }

    pub fn in_progress(&self) -> bool {
        self.running.is_some()
    }

    /// Seconds the running copy has taken so far (-1: none running).
    pub fn current_duration_s(&self) -> i64 {
        self.running
            .as_ref()
            .map_or(-1, |r| r.started.elapsed().as_secs() as i64)
    }

    fn finished(&mut self, target: PathBuf, started: Instant, r: Result<BackupStats, String>) {
        self.last_duration_s = started.elapsed().as_secs() as i64;
        match r {
            Ok(stats) => {
                tracing::info!(
                    path = %target.display(),
                    records = stats.records,
                    bytes = stats.bytes,
                    ms = started.elapsed().as_millis() as u64,
                    "backup completed"
                );
                self.last_ok = true;
                self.last_error = None;
                self.last_save = now_s();
                if let Some(dir) = target.parent() {
                    prune(dir, BACKUPS_KEPT);
                }
                self.last_path = Some(target);
            }
            Err(e) => {
                tracing::error!(path = %target.display(), error = %e, "backup failed");
                self.last_ok = false;
                self.last_error = Some(e);
            }
        }
    }

    /// Cancels a running copy and waits for it (at shutdown: the store closes next).
    pub fn cancel_and_wait(&mut self) {
        if let Some(r) = self.running.take() {
            tracing::warn!(path = %r.target.display(), "shutting down during a backup: cancelling it");
            r.cancel.store(true, Ordering::Relaxed);
            let res = r
                .handle
                .join()
                .unwrap_or_else(|_| Err("the backup thread panicked".into()));
            self.finished(r.target, r.started, res);
        }
    }
}

fn now_s() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// `backup-dir`, or `<dir>.backup` beside the data directory when it is empty.
pub fn backup_dir(config: &Config) -> PathBuf {
    if config.backup_dir.is_empty() {
        let mut s = config.dir.as_os_str().to_os_string();
        s.push(".backup");
        PathBuf::from(s)
    } else {
        PathBuf::from(&config.backup_dir)
    }
}

/// A new backup's directory under `dir` (unique by time).
fn new_target(dir: &Path) -> PathBuf {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    let mut t = dir.join(format!("sluice-{ms}"));
    let mut n = 1;
    while t.exists() {
        t = dir.join(format!("sluice-{ms}-{n}"));
        n += 1;
    }
    t
}

/// Removes all but the `keep` newest complete backups (and any unfinished one) under `dir`.
fn prune(dir: &Path, keep: usize) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    let mut done: Vec<(std::time::SystemTime, PathBuf)> = Vec::new();
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if !name.starts_with("sluice-") {
            continue;
        }
        if name.ends_with(".partial") {
            let _ = std::fs::remove_dir_all(e.path());
            continue;
        }
        let t = e
            .metadata()
            .and_then(|m| m.modified())
            .unwrap_or(std::time::UNIX_EPOCH);
        done.push((t, e.path()));
    }
    done.sort();
    let n = done.len();
    for (_, p) in done.into_iter().take(n.saturating_sub(keep)) {
        if let Err(e) = std::fs::remove_dir_all(&p) {
            tracing::warn!(path = %p.display(), error = %e, "can't remove an old backup");
        } else {
            tracing::info!(path = %p.display(), "removed an old backup");
        }
    }
}

fn prepare(config: &Config) -> Result<PathBuf, String> {
    let dir = backup_dir(config);
    std::fs::create_dir_all(&dir)
        .map_err(|e| format!("can't create the backup directory {}: {e}", dir.display()))?;
    Ok(new_target(&dir))
}

fn copy(src: BackupSource, target: &Path, cancel: &Arc<AtomicBool>) -> Result<BackupStats, String> {
    let stats = src.write(target, cancel).map_err(|e| e.to_string())?;
    // The copy was closed cleanly: a server started on it says so (instead of "recovered").
    if let Err(e) = std::fs::write(target.join(crate::CLEAN_MARKER), b"") {
        tracing::warn!(path = %target.display(), error = %e, "can't mark the backup as cleanly closed");
    }
    Ok(stats)
}

/// Starts a background copy of what `store` has committed.
fn start(srv: &mut Server, store: &Store) -> Result<(), String> {
    let target = prepare(&srv.config)?;
    let src = store.backup_source();
    let cancel = Arc::new(AtomicBool::new(false));
    let (c, t) = (Arc::clone(&cancel), target.clone());
    let handle = std::thread::Builder::new()
        .name("sluice-backup".into())
        .spawn(move || copy(src, &t, &c))
        .map_err(|e| format!("can't start the backup thread: {e}"))?;
    tracing::info!(path = %target.display(), "background backup started");
    srv.backup.running = Some(Running {
        handle,
        cancel,
        started: Instant::now(),
        target,
    });
    Ok(())
}

/// The engine's periodic check: collects a finished copy, starts a scheduled one.
pub fn cron(srv: &mut Server, store: &Store) {
    if srv
        .backup
        .running
        .as_ref()
        .is_some_and(|r| r.handle.is_finished())
    {
        if let Some(r) = srv.backup.running.take() {
            let res = r
                .handle
                .join()
                .unwrap_or_else(|_| Err("the backup thread panicked".into()));
            srv.backup.finished(r.target, r.started, res);
        }
    }
    if srv.backup.scheduled && srv.backup.running.is_none() {
        srv.backup.scheduled = false;
        if let Err(e) = start(srv, store) {
            tracing::error!(error = %e, "scheduled backup failed to start");
            srv.backup.last_ok = false;
            srv.backup.last_error = Some(e);
        }
    }
}

/// SAVE: copies what is committed now, then answers (every client waits, as with Redis).
pub fn save(ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> CmdResult {
    if ctx.srv.backup.in_progress() {
        return Err(IN_PROGRESS.into());
    }
    let target = prepare(&ctx.srv.config).map_err(|e| ReplyError::new(format!("ERR {e}")))?;
    let started = Instant::now();
    let src = ctx.store.backup_source();
    let res = copy(src, &target, &Arc::new(AtomicBool::new(false)));
    let failed = res.as_ref().err().cloned();
    ctx.srv.backup.finished(target, started, res);
    if let Some(e) = failed {
        return Err(ReplyError::new(format!("ERR {e}")));
    }
    ctx.out.ok();
    Ok(())
}

/// BGSAVE [SCHEDULE]
pub fn bgsave(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let schedule = match argv.get(1) {
        None => false,
        Some(a) if argv.len() == 2 && eq(a, "SCHEDULE") => true,
        Some(_) => return Err(SYNTAX.into()),
    };
    if ctx.srv.backup.in_progress() {
        if schedule {
            ctx.srv.backup.scheduled = true;
            ctx.out.simple("Background saving scheduled");
            return Ok(());
        }
        return Err(IN_PROGRESS.into());
    }
    start(ctx.srv, ctx.store).map_err(|e| ReplyError::new(format!("ERR {e}")))?;
    ctx.out.simple("Background saving started");
    Ok(())
}

pub fn lastsave(ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> CmdResult {
    ctx.out.int(ctx.srv.backup.last_save as i64);
    Ok(())
}

#[rustfmt::skip]
pub static COMMANDS: &[Command] = &[
    cmd("save", 1, save)
        .flags(&["admin", "noscript", "no_async_loading", "no_multi"])
        .acl(&["@admin", "@slow", "@dangerous"])
        .doc("server", "1.0.0", "O(N) where N is the total number of keys in all databases", "Synchronously save the dataset to disk"),
    cmd("bgsave", -1, bgsave)
        .flags(&["admin", "noscript", "no_async_loading"])
        .acl(&["@admin", "@slow", "@dangerous"])
        .doc("server", "1.0.0", "O(1)", "Asynchronously save the dataset to disk")
        .history(&[("3.2.2", "Added the `SCHEDULE` option.")])
        .args(&[tok("SCHEDULE").since("3.2.2").opt()]),
    cmd("lastsave", 1, lastsave)
        .flags(&["loading", "stale", "fast"])
        .acl(&["@admin", "@fast", "@dangerous"])
        .tips(&["nondeterministic_output"])
        .doc("server", "1.0.0", "O(1)", "Get the UNIX time stamp of the last successful save to disk"),
];
