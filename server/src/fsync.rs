//! The `appendfsync everysec` fsync, on a thread of its own, as Redis does it in a background
//! thread: the engine hands each drain's journal writes to the OS and goes on; once a second
//! this thread `fdatasync`s the active journal through its own file descriptor
//! ([`sluice_storage::sync_active_journal`]), without fjall's journal lock, so no command waits
//! for the disk. (On the engine thread, behind that lock, the sync stalled every client for its
//! duration once a second.)
//!
//! Under `appendfsync always` the same thread runs the *pipelined group commit*: the engine
//! writes a drain's batch to the OS, asks for a sync ([`BackgroundFsync::request`]) and goes on
//! executing the next drain while this thread runs `fdatasync`; when it is done it records
//! which write it covered ([`BackgroundFsync::synced`]) and wakes the event loop, which then
//! releases the replies of every drain up to that one. A reply under `always` is therefore
//! still never written before its drain's data is on disk; the engine just does not sit idle
//! during the sync.
//!
//! Invariants: the thread only syncs; it never writes or changes the store. An error is kept
//! for the engine, which takes it at its next periodic tick and gives it the fault policy's
//! answer (`fault.rs`): the sync failure is never just logged and forgotten.

use std::path::PathBuf;
use std::sync::atomic::AtomicU64;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
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
    /// The last pipelined write the engine asked to have synced (a drain sequence number).
    requested: AtomicU64,
    /// The last requested write known to be on disk.
    synced: AtomicU64,
    /// Wakes the event loop when a requested sync is done (or failed).
    waker: OnceLock<Arc<mio::Waker>>,
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

    /// Where to wake the event loop when a requested sync completes.
    pub fn set_waker(&self, waker: Arc<mio::Waker>) {
        let _ = self.shared.waker.set(waker);
    }

    /// Asks for a sync covering every journal write handed to the OS so far, which the engine
    /// numbers `seq` (increasing). Returns at once.
    pub fn request(&self, seq: u64) {
        debug_assert!(
            seq > self.shared.requested.load(Ordering::Relaxed),
            "sequence numbers increase"
        );
        self.shared.requested.store(seq, Ordering::Release);
        if let Some(t) = &self.thread {
            t.thread().unpark();
        }
    }

    /// The greatest requested `seq` whose writes are on disk.
    pub fn synced(&self) -> u64 {
        self.shared.synced.load(Ordering::Acquire)
    }

    /// The error of a failed sync, once.
    pub fn take_error(&self) -> Option<std::io::Error> {
        self.shared.error.lock().ok().and_then(|mut e| e.take())
    }
}

fn run(dir: &std::path::Path, s: &Shared) {
    let mut last = std::time::Instant::now();
    while !s.stop.load(Ordering::Acquire) {
        let want = s.requested.load(Ordering::Acquire);
        if want > s.synced.load(Ordering::Acquire) {
            // Pipelined (`always`): sync now; this also covers any `everysec` dirt.
            s.dirty.store(false, Ordering::Release);
            match sluice_storage::sync_active_journal(dir) {
                Ok(()) => s.synced.store(want, Ordering::Release),
                Err(e) => fail(dir, s, e),
            }
            if let Some(w) = s.waker.get() {
                if let Err(e) = w.wake() {
                    tracing::error!(error = %e, "can't wake the event loop after a sync");
                }
            }
            if s.error.lock().map(|e| e.is_some()).unwrap_or(true) {
                // The engine answers the error (fault policy); nothing more to sync until it has.
                std::thread::park_timeout(EVERY);
            }
            continue;
        }
        let since = last.elapsed();
        if since < EVERY {
            std::thread::park_timeout(EVERY - since);
            continue;
        }
        last = std::time::Instant::now();
        if s.dirty.swap(false, Ordering::AcqRel) {
            if let Err(e) = sluice_storage::sync_active_journal(dir) {
                fail(dir, s, e);
            }
        }
    }
}

fn fail(dir: &std::path::Path, s: &Shared, e: std::io::Error) {
    tracing::error!(error = %e, dir = %dir.display(), "background fdatasync of the journal failed");
    if let Ok(mut slot) = s.error.lock() {
        slot.get_or_insert(e);
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
