//! Sluice's storage layer: the keyspace and the stream store on fjall. No networking here.
//!
//! * [`store`] — the fjall database, the write path (one atomic batch per command, one persist
//!   per drain: group commit) and recovery.
//! * [`keydir`] — the in-memory directory of keys of one database, with expiry and SCAN order.
//! * [`stream`] — stream IDs and the stream store.
//! * [`jobs`] — Disque-style jobs, queues and timers, committed with everything else.
//! * [`check`] — what a data directory must hold before fjall opens it (checked without
//!   changing anything), and the file-level verification behind `sluice check`.
//! * [`repair`] — the offline tools `sluice check` and `sluice repair`.

pub mod check;
pub mod jobs;
pub mod keydir;
pub mod repair;
pub mod store;
pub mod stream;

pub use keydir::{Entry, KeyDir, Value};
pub use store::{
    sync_active_journal, DelOutcome, EntryBytes, IdmpDefaults, IdmpInfo, RefPolicy, RunLimits,
    Store, StoreError, StoreOptions, StreamEntry, Sync, TrimSpec, WrongType, MAX_KEY_LEN,
};

/// Under `appendfsync always`, has the journal keep the blocks ahead of its write position
/// zero-filled, so each drain's `fdatasync` overwrites allocated blocks instead of making the
/// file system allocate and record new ones (a patch of the vendored fjall: see
/// `vendor/README.md`). Process-wide; off by default.
pub fn set_journal_zero_fill(on: bool) {
    fjall::set_journal_zero_fill(on);
}
