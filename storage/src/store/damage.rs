//! Damage found while the server runs: which storage errors mean a damaged file or a poisoned
//! database, and the diagnosis that names the damaged tables.
//!
//! What fjall 3.1 does (fjall-3.1.13, lsm-tree-3.1.10): a read that loads a block whose
//! checksum fails returns `Storage(ChecksumMismatch)` to the caller and nothing else happens
//! (`lsm_tree::table::block` logs the block's offset, not its file). A compaction or flush that
//! does is different: the worker thread returns the error (`fjall::compaction::worker::run`),
//! `worker_pool` logs `Worker #n crashed` and poisons the database — in memory only — after
//! which every batch commit and every `persist` fails with `Poisoned`, while reads go on. A
//! restart clears the poison, but the next compaction that picks the damaged table poisons the
//! database again, so a server that exits on a poisoned commit fails every start after it.
//! fjall's public API offers no way to keep a compaction away from a table, so the answer is
//! in how the server reacts (`server/src/fault.rs`), helped by [`StoreError::is_damage`] and
//! [`Store::diagnose_in_background`].
//!
//! Invariant: the diagnosis only reads files.

use std::path::{Path, PathBuf};

use super::{Store, StoreError};
use crate::check;

impl StoreError {
    /// The error says data on disk is damaged: a block that fails its checksum or does not
    /// decode, or a record Sluice cannot decode.
    pub fn is_damage(&self) -> bool {
        match self {
            StoreError::Corrupt(_) => true,
            StoreError::Fjall(fjall::Error::Storage(e)) => matches!(
                e,
                fjall::LsmError::ChecksumMismatch { .. }
                    | fjall::LsmError::InvalidTrailer
                    | fjall::LsmError::InvalidHeader(_)
                    | fjall::LsmError::InvalidTag(_)
                    | fjall::LsmError::Decompress(_)
                    | fjall::LsmError::Unrecoverable
            ),
            StoreError::Fjall(
                fjall::Error::InvalidTrailer
                | fjall::Error::InvalidTag(_)
                | fjall::Error::Decompress(_)
                | fjall::Error::Unrecoverable,
            ) => true,
            StoreError::Fjall(_) => false,
        }
    }
}

/// The data directory a keyspace path `<dir>/keyspaces/<id>` belongs to.
pub(super) fn data_dir_of(keyspace: &Path) -> PathBuf {
    keyspace
        .parent()
        .and_then(Path::parent)
        .unwrap_or(keyspace)
        .to_path_buf()
}

impl Store {
    /// The data directory.
    pub fn data_dir(&self) -> PathBuf {
        data_dir_of(self.keys.path())
    }

    /// Verifies every table in a thread of its own and logs what it finds: each damaged
    /// table as an error naming the file, or that none is damaged. For a poisoned database
    /// (see the module docs): fjall's own log names no file.
    pub fn diagnose_in_background(&self) {
        let dir = self.data_dir();
        let spawned = std::thread::Builder::new()
            .name("sluice-diagnose".into())
            .spawn(move || {
                let found = check::damaged_files(&dir);
                if found.is_empty() {
                    tracing::error!(
                        dir = %dir.display(),
                        "diagnosis: every table matches its checksum, so no table is damaged; \
                         the background failure was an I/O error (a full disk?): see fjall's \
                         `Worker #n crashed` line"
                    );
                }
                for p in found {
                    tracing::error!(
                        file = %p.path.display(),
                        "diagnosis: {p}. Reads of the keys it holds fail and fjall's \
                         compactions of it crash. Run `sluice check {d}`, then stop the server \
                         and run `sluice repair {d} <new-dir>`",
                        d = dir.display()
                    );
                }
            });
        if let Err(e) = spawned {
            tracing::error!("can't start the diagnosis thread: {e}");
        }
    }
}
