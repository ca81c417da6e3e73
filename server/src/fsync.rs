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
    /// The last persist handed to the OS (the engine numbers them, `Stats::persists`).
    written: AtomicU64,
    /// The last persist the thread's last sync covered (WAITAOF's `fsynced_reploff`).
    synced: AtomicU64,
    /// A client waits for the sync (WAITAOF): sync after every persist instead of once a
    /// second.
    urgent: AtomicBool,
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

    /// Notes that journal writes up to persist number `upto` were handed to the OS (cheap:
    /// atomic stores; a wake-up of the thread only while a client waits for the sync).
    pub fn mark_dirty(&self, upto: u64) {
        self.shared.written.fetch_max(upto, Ordering::AcqRel);
        self.shared.dirty.store(true, Ordering::Release);
        if self.shared.urgent.load(Ordering::Acquire) {
            self.wake();
        }
    }

    /// The last persist the journal is fsynced up to.
    pub fn synced(&self) -> u64 {
        self.shared.synced.load(Ordering::Acquire)
    }

    /// While on, every persist is synced right away (a client waits in WAITAOF) rather than
    /// within the second; turning it on also syncs what was written and not synced yet.
    pub fn set_urgent(&self, on: bool) {
        let was = self.shared.urgent.swap(on, Ordering::AcqRel);
        if on && !was && self.shared.dirty.load(Ordering::Acquire) {
            self.wake();
        }
    }

    fn wake(&self) {
        if let Some(t) = &self.thread {
            t.thread().unpark();
        }
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
        // Everything handed to the OS before this point is covered by the sync below.
        let upto = s.written.load(Ordering::Acquire);
        let started = std::time::Instant::now();
        let synced = sluice_storage::sync_active_journal(dir);
        let us = started.elapsed().as_micros() as u64;
        s.last_us.store(us, Ordering::Relaxed);
        s.max_us.fetch_max(us, Ordering::Relaxed);
        match synced {
            Ok(()) => {
                s.synced.fetch_max(upto, Ordering::AcqRel);
            }
            Err(e) => {
                tracing::error!(error = %e, dir = %dir.display(), "background fdatasync of the journal failed");
                if let Ok(mut slot) = s.error.lock() {
                    slot.get_or_insert(e);
                }
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
        f.mark_dirty(1);
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
