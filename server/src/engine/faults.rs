//! The engine's side of the storage fault policy (`crate::fault`): withholding the replies of
//! a drain whose commit failed, reopening the store from disk, and the read-only state.
//!
//! Invariant: after any storage error, no reply of the failed drain is written; the clients
//! that were waiting for one are closed.

use std::time::Instant;

use sluice_storage::{Store, StoreError};

use super::{now_ms, Engine};
use crate::fault::{self, DiskFault};

impl Engine {
    /// The one answer to a storage error (see `fault.rs`): exit, or withhold this drain's
    /// replies, reopen the store from disk and refuse writes until the disk has room.
    pub(super) fn storage_fault(&mut self, e: StoreError, during: &str) {
        let action = fault::classify(&e, &self.srv.config.dir, self.srv.config.min_free_disk);
        self.apply_fault(action, &e, during);
    }

    /// [`Engine::storage_fault`] once the answer is known.
    pub(super) fn apply_fault(
        &mut self,
        action: fault::Action,
        e: &dyn std::fmt::Display,
        during: &str,
    ) {
        let dir = self.srv.config.dir.clone();
        let fault = match action {
            fault::Action::FailStop => fault::fatal(&format!(
                "{during} failed: {e} (data directory {}); a restart recovers every acknowledged write from the journal",
                dir.display()
            )),
            fault::Action::ReadOnly(cause) => {
                tracing::error!(
                    error = %e,
                    during,
                    dir = %dir.display(),
                    "disk full: refusing writes (-MISCONF) until min-free-disk ({} bytes) is free; reads go on",
                    self.srv.config.min_free_disk
                );
                DiskFault::new(cause, now_ms())
            }
            fault::Action::Damaged(cause) => {
                tracing::error!(
                    error = %e,
                    during,
                    dir = %dir.display(),
                    "the store refuses writes after a failed background flush or compaction: refusing writes (-MISCONF) until the server restarts; reads go on. {cause}"
                );
                // Names the damaged table, if any, from a thread of its own (reads every table).
                self.store_mut().diagnose_in_background();
                DiskFault::damaged(cause, now_ms())
            }
        };
        // The drain's writes may or may not have reached the journal: none of its replies may
        // go out. Closing the connections tells those clients their commands' fate is unknown.
        let mut withheld = 0;
        for id in std::mem::take(&mut self.dirty) {
            if let Some(c) = self.srv.clients.get_mut(&id) {
                if c.out.len() > c.conn.released {
                    c.out.truncate(c.conn.released);
                    let _ = c.conn.write_released(&mut c.out, &self.srv.net);
                    withheld += 1;
                    self.remove_client(id);
                }
            }
        }
        if withheld > 0 {
            tracing::warn!(
                clients = withheld,
                "closed the connections whose replies were waiting on the failed write"
            );
        }
        self.reopen_store(during);
        self.srv.disk_fault = Some(fault);
        // Memory now equals the disk again, which may have lost this drain's changes: every
        // open transaction that WATCHes a key fails, as if the key had been touched.
        for c in self.srv.clients.values_mut() {
            if !c.watched.is_empty() {
                c.dirty_cas = true;
            }
        }
        self.release_kills();
    }

    /// Drops the store (and fjall's lock on the directory with it) and opens it again, so that
    /// memory holds exactly what the journal and tables hold. Exits if that fails.
    pub(super) fn reopen_store(&mut self, after: &str) {
        let started = Instant::now();
        drop(self.store.take());
        let dir = &self.srv.config.dir;
        match Store::open(dir, &self.store_opts, now_ms()) {
            Ok(s) => {
                self.store = Some(s);
                let watching = !self.srv.watchers.is_empty();
                self.store_mut().track_touches(watching);
                // WAITJOB clients: removals recorded again, counts taken from the disk.
                self.resync_job_waiters();
                tracing::info!(
                    dir = %self.srv.config.dir.display(),
                    ms = started.elapsed().as_millis() as u64,
                    "store reopened from disk"
                );
            }
            Err(e) => fault::fatal(&format!(
                "reopening the store in {} after a failed {after} failed: {e}",
                dir.display()
            )),
        }
    }
}
