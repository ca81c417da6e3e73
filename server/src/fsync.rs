//! The `appendfsync everysec` fsync, on a thread of its own, as Redis does it in a background
//! thread: the engine hands each drain's journal writes to the OS and goes on; once a second
//! this thread `fdatasync`s the active journal through its own file descriptor
//! ([`sluice_storage::sync_active_journal`]), without fjall's journal lock, so no command waits
//! for the disk. (On the engine thread, behind that lock, the sync stalled every client for its
//! duration once a second.)
//!
//! Invariants: the thread only syncs; it never writes or changes the store. An error is kept
//! for the engine, which takes it at its next periodic tick and gives it the fault policy's
//! answer (`fault.rs`): the sync failure is never just logged and forgotten.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// How often the thread syncs (when something was written since the last sync).
pub const EVERY: Duration = Duration::from_secs(1);

#[derive(Default)]
struct Shared {
    /// Journal writes were handed to the OS since the last sync.
    dirty: AtomicBool,
    stop: AtomicBool,
    error: Mutex<Option<std::io::Error>>,
    /// The last sync's duration and the longest, µs (INFO sluice).
    last_us: AtomicU64,
    max_us: AtomicU64,
}

/// The background fsync thread; stopped (and joined) when dropped.
pub struct BackgroundFsync {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl BackgroundFsync {
    /// Starts the thread for the journal in the data directory `dir`.
    pub fn start(dir: PathBuf) -> std::io::Result<BackgroundFsync> {
        let shared = Arc::new(Shared::default());
        let s = shared.clone();
        let thread = std::thread::Builder::new()
            .name("sluice-fsync".into())
            .spawn(move || run(&dir, &s))?;
        Ok(BackgroundFsync {
            shared,
            thread: Some(thread),
        })
    }

    /// Notes that journal writes were handed to the OS (cheap: one atomic store).
    pub fn mark_dirty(&self) {
        self.shared.dirty.store(true, Ordering::Release);
    }

    /// The last sync's duration and the longest since start, µs (0 before the first).
    pub fn timings(&self) -> (u64, u64) {
        (
            self.shared.last_us.load(Ordering::Relaxed),
            self.shared.max_us.load(Ordering::Relaxed),
        )
    }

    /// The error of a failed sync, once.
    pub fn take_error(&self) -> Option<std::io::Error> {
        self.shared.error.lock().ok().and_then(|mut e| e.take())
    }
}

fn run(dir: &std::path::Path, s: &Shared) {
    while !s.stop.load(Ordering::Acquire) {
        std::thread::park_timeout(EVERY);
        if s.stop.load(Ordering::Acquire) {
            break;
        }
        if !s.dirty.swap(false, Ordering::AcqRel) {
            continue;
        }
        let started = std::time::Instant::now();
        let synced = sluice_storage::sync_active_journal(dir);
        let us = started.elapsed().as_micros() as u64;
        s.last_us.store(us, Ordering::Relaxed);
        s.max_us.fetch_max(us, Ordering::Relaxed);
        if let Err(e) = synced {
            tracing::error!(error = %e, dir = %dir.display(), "background fdatasync of the journal failed");
            if let Ok(mut slot) = s.error.lock() {
                slot.get_or_insert(e);
            }
        }
    }
}

impl Drop for BackgroundFsync {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            t.thread().unpark();
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failing_sync_is_kept_for_the_engine() {
        // A data directory that does not exist: listing it fails, and the error is kept.
        let dir = tempfile::tempdir().expect("tempdir");
        let gone = dir.path().join("missing");
        let f = BackgroundFsync::start(gone).expect("start");
        f.mark_dirty();
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        let err = loop {
            if let Some(e) = f.take_error() {
                break e;
            }
            assert!(std::time::Instant::now() < deadline, "no error reported");
            std::thread::sleep(Duration::from_millis(20));
        };
        assert_eq!(err.kind(), std::io::ErrorKind::NotFound);
        assert!(f.take_error().is_none(), "an error is taken once");
    }
}
