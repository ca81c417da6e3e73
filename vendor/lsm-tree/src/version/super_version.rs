// Copyright (c) 2024-present, fjall-rs
// This source code is licensed under both the Apache 2.0 and MIT License
// (found in the LICENSE-* files in the repository)

use crate::{
    memtable::Memtable,
    tree::sealed::SealedMemtables,
    version::{persist_version, Version},
    SeqNo, SequenceNumberCounter,
};
use std::{
    collections::VecDeque,
    path::{Path, PathBuf},
    sync::{Arc, RwLock, RwLockWriteGuard},
};

/// A super version is a point-in-time snapshot of memtables and a [`Version`] (list of disk files)
#[derive(Clone)]
pub struct SuperVersion {
    /// Active memtable that is being written to
    #[doc(hidden)]
    pub active_memtable: Arc<Memtable>,

    /// Frozen memtables that are being flushed
    pub(crate) sealed_memtables: Arc<SealedMemtables>,

    /// Current tree version
    pub(crate) version: Version,

    pub(crate) seqno: SeqNo,
}

/// SLUICE PATCH (vendor/README.md, lsm-tree patch 2): drops memtables on a thread of their own.
///
/// `SuperVersions::maintenance` runs under the version-history write lock, and the version it
/// pops is often the last holder of a memtable that was just flushed: upstream freed that
/// memtable there, node by node (a 16 MiB skiplist is hundreds of thousands of frees), while
/// every memtable insert and every new read iterator of the tree waited on the lock. Freeing
/// them later changes nothing but when the memory returns.
///
/// The popped version goes too (patch 3, vendor/README.md): it may hold the last reference to
/// a table that a compaction or a drop-range removed, and dropping that table unlinks its file.
/// With online discard (ext4 `-o discard`) an unlink waits for the device: 20 ms per table file
/// was seen, on whichever thread ran the maintenance (the server's event loop, when it rotated
/// a memtable). A table file deleted later is harmless: no version lists it any more, and a
/// crash before the unlink leaves an orphan that recovery deletes.
///
/// So does the popped version's own file, `v{id}` (patch 4, vendor/README.md): its unlink waits
/// for the device with online discard too (up to 14 ms seen, on a fjall worker holding the
/// lock while the server's event loop waited to insert). Deleting it later is harmless: the
/// file of the version that replaced it is already durable and named by `current`, and after a
/// crash before the unlink, recovery deletes every version file but the current one.
///
/// Bounded: at most [`DROP_QUEUE`] batches wait for the thread (a flush makes one); past that,
/// or if the thread cannot be started, they are dropped and the file is deleted here, under
/// the lock, as upstream did.
fn drop_memtables_later(
    active: Arc<Memtable>,
    sealed: Arc<SealedMemtables>,
    version: Version,
    file: PathBuf,
) -> crate::Result<()> {
    use std::sync::{mpsc, OnceLock};

    type Garbage = (Arc<Memtable>, Arc<SealedMemtables>, Version, PathBuf);
    static DROPPER: OnceLock<Option<mpsc::SyncSender<Garbage>>> = OnceLock::new();

    let tx = DROPPER.get_or_init(|| {
        let (tx, rx) = mpsc::sync_channel::<Garbage>(DROP_QUEUE);
        std::thread::Builder::new()
            .name("lsm:drop".into())
            .spawn(move || {
                for (active, sealed, version, file) in rx {
                    drop((active, sealed, version));
                    if let Err(e) = remove_version_file(&file) {
                        // As upstream's failed GC: the file stays, recovery deletes it.
                        log::warn!("Version GC failed: {e:?}");
                    }
                }
            })
            .ok()
            .map(|_| tx)
    });

    let garbage = (active, sealed, version, file);
    let garbage = match tx {
        Some(tx) => match tx.try_send(garbage) {
            Ok(()) => return Ok(()),
            Err(mpsc::TrySendError::Full(g) | mpsc::TrySendError::Disconnected(g)) => g,
        },
        None => garbage,
    };
    let (active, sealed, version, file) = garbage;
    drop((active, sealed, version));
    remove_version_file(&file)
}

/// Deletes a popped version's file, if it is there.
fn remove_version_file(path: &Path) -> crate::Result<()> {
    if path.try_exists()? {
        crate::file::retry_transient_io(|| std::fs::remove_file(path))?;
    }
    Ok(())
}

/// Most batches of memtables waiting for the `lsm:drop` thread (see `drop_memtables_later`).
const DROP_QUEUE: usize = 8;

pub struct SuperVersions(VecDeque<SuperVersion>);

impl SuperVersions {
    pub fn new(version: Version) -> Self {
        Self(
            vec![SuperVersion {
                active_memtable: Arc::new(Memtable::new(0)),
                sealed_memtables: Arc::default(),
                version,
                seqno: 0,
            }]
            .into(),
        )
    }

    pub fn memtable_size_sum(&self) -> u64 {
        let mut set = crate::HashMap::default();

        for super_version in &self.0 {
            set.entry(super_version.active_memtable.id)
                .and_modify(|bytes| *bytes += super_version.active_memtable.size())
                .or_insert_with(|| super_version.active_memtable.size());

            for sealed in super_version.sealed_memtables.iter() {
                set.entry(sealed.id)
                    .and_modify(|bytes| *bytes += sealed.size())
                    .or_insert_with(|| sealed.size());
            }
        }

        set.into_values().sum()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn free_list_len(&self) -> usize {
        self.len().saturating_sub(1)
    }

    pub fn maintenance(&mut self, folder: &Path, gc_watermark: SeqNo) -> crate::Result<()> {
        if gc_watermark == 0 {
            return Ok(());
        }

        if self.free_list_len() < 1 {
            return Ok(());
        }

        log::trace!("Running manifest GC with watermark={gc_watermark}");

        if let Some(hi_idx) = self.0.iter().rposition(|x| x.seqno < gc_watermark) {
            for _ in 0..hi_idx {
                let Some(head) = self.0.front() else {
                    break;
                };

                log::trace!(
                    "Removing version #{} (seqno={})",
                    head.version.id(),
                    head.seqno,
                );

                let path = folder.join(format!("v{}", head.version.id()));

                // SLUICE PATCH (lsm-tree patch 2): the memtables of a popped version are
                // dropped on another thread, not under the version-history write lock; so is
                // the version itself, whose tables may be the last references to deleted
                // table files (patch 3: their unlink, with online discard, took 20 ms each),
                // and its own file (patch 4: up to 14 ms).
                if let Some(old) = self.0.pop_front() {
                    drop_memtables_later(
                        old.active_memtable,
                        old.sealed_memtables,
                        old.version,
                        path,
                    )?;
                }
            }
        }

        log::trace!("Manifest GC done, version length now {}", self.0.len());

        Ok(())
    }

    /// Modifies the level manifest atomically.
    ///
    /// The function accepts a transition function that receives the current version
    /// and returns a new version.
    ///
    /// The function takes care of persisting the version changes on disk.
    pub(crate) fn upgrade_version<F: FnOnce(&SuperVersion) -> crate::Result<SuperVersion>>(
        &mut self,
        tree_path: &Path,
        f: F,
        seqno: &SequenceNumberCounter,
        visible_seqno: &SequenceNumberCounter,
    ) -> crate::Result<()> {
        self.upgrade_version_with_seqno(tree_path, f, seqno.next(), visible_seqno)
    }

    /// Like `upgrade_version`, but takes an already-allocated sequence number.
    ///
    /// This is useful when the seqno must be coordinated with other operations
    /// (e.g., bulk ingestion where tables are recovered with the same seqno).
    pub(crate) fn upgrade_version_with_seqno<
        F: FnOnce(&SuperVersion) -> crate::Result<SuperVersion>,
    >(
        &mut self,
        tree_path: &Path,
        f: F,
        seqno: SeqNo,
        visible_seqno: &SequenceNumberCounter,
    ) -> crate::Result<()> {
        let mut next_version = f(&self.latest_version())?;
        next_version.seqno = seqno;
        log::trace!("Next version seqno={}", next_version.seqno);

        persist_version(tree_path, &next_version.version)?;
        self.append_version(next_version);

        visible_seqno.fetch_max(seqno + 1);

        Ok(())
    }

    /// SLUICE PATCH (vendor/README.md, lsm-tree patch 1): like [`SuperVersions::upgrade_version`],
    /// but the new version is written and fsynced to disk while the version-history lock is
    /// *not* held, then installed under the write lock, which is returned (for `maintenance`).
    ///
    /// Upstream computes, persists (four fsyncs) and installs a version while holding the
    /// write lock, and every memtable insert (`Tree::append_entry`) and every new read
    /// iterator takes its read lock: each flush and compaction stalled every writer of the
    /// tree for the length of those fsyncs.
    ///
    /// Invariant (the caller's): the caller holds the tree's compaction-state mutex, which
    /// every change of the disk `Version` holds (flush registration, compactions, ingestion,
    /// `clear`), so between this function's read and its install only a memtable rotation
    /// can change the latest super version. Rotation changes the active memtable and adds to
    /// the sealed ones, never the `Version`: the install keeps the latest active memtable and
    /// sealed list, minus the sealed memtables that `f` removed.
    ///
    /// Crash ordering is upstream's: the version is durable before it is visible, so before
    /// any caller deletes the files it replaces or fjall drops a journal it covers.
    pub(crate) fn upgrade_version_unlocked<'a, F: FnOnce(&SuperVersion) -> crate::Result<SuperVersion>>(
        lock: &'a RwLock<SuperVersions>,
        tree_path: &Path,
        f: F,
        seqno: &SequenceNumberCounter,
        visible_seqno: &SequenceNumberCounter,
    ) -> crate::Result<RwLockWriteGuard<'a, SuperVersions>> {
        #[expect(clippy::expect_used, reason = "lock is expected to not be poisoned")]
        let before = lock.read().expect("lock is poisoned").latest_version();
        let mut next_version = f(&before)?;

        persist_version(tree_path, &next_version.version)?;

        #[expect(clippy::expect_used, reason = "lock is expected to not be poisoned")]
        let mut guard = lock.write().expect("lock is poisoned");
        let latest = guard.latest_version();

        if latest.version.id() != before.version.id() {
            // Impossible while the caller holds the compaction-state mutex (see above).
            log::error!(
                "version #{} changed to #{} while version #{} was persisted (compaction state not held?)",
                before.version.id(),
                latest.version.id(),
                next_version.version.id(),
            );
            debug_assert!(false, "the disk version changed during an unlocked upgrade");
        }

        let mut sealed = (*latest.sealed_memtables).clone();
        for mt in before.sealed_memtables.iter() {
            if !next_version.sealed_memtables.contains(&mt.id) {
                sealed = sealed.remove(mt.id);
            }
        }
        next_version.sealed_memtables = Arc::new(sealed);
        next_version.active_memtable = latest.active_memtable;

        let seqno = seqno.next();
        next_version.seqno = seqno;
        log::trace!("Next version seqno={}", next_version.seqno);
        guard.append_version(next_version);

        visible_seqno.fetch_max(seqno + 1);

        Ok(guard)
    }

    pub fn append_version(&mut self, version: SuperVersion) {
        self.0.push_back(version);
    }

    pub fn replace_latest_version(&mut self, version: SuperVersion) {
        if self.0.pop_back().is_some() {
            self.0.push_back(version);
        }
    }

    pub fn latest_version(&self) -> SuperVersion {
        #[expect(clippy::expect_used, reason = "SuperVersion is expected to exist")]
        self.0
            .iter()
            .last()
            .cloned()
            .expect("should always have a SuperVersion")
    }

    pub fn get_version_for_snapshot(&self, seqno: SeqNo) -> SuperVersion {
        if seqno == 0 {
            #[expect(clippy::expect_used, reason = "SuperVersion is expected to exist")]
            return self
                .0
                .front()
                .cloned()
                .expect("should always find a SuperVersion");
        }

        let version = self
            .0
            .iter()
            .rev()
            .find(|version| version.seqno < seqno)
            .cloned();

        if version.is_none() {
            log::error!("Failed to find a SuperVersion for snapshot with seqno={seqno}");
            log::error!("SuperVersions:");

            for version in self.0.iter().rev() {
                log::error!("-> {}, seqno={}", version.version.id(), version.seqno);
            }
        }

        #[expect(clippy::expect_used, reason = "SuperVersion is expected to exist")]
        version.expect("should always find a SuperVersion")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use test_log::test;

    /// SLUICE PATCH (lsm-tree patches 1 and 2): a writer rotates memtables while a flusher and
    /// a compactor install versions written outside the lock. Every memtable rotated meanwhile
    /// must survive the install (else its keys are lost), and flushes, compactions and
    /// rotations must never change the disk version under an unlocked upgrade (the debug
    /// assertion in `upgrade_version_unlocked`).
    #[test]
    #[expect(clippy::unwrap_used)]
    fn unlocked_upgrades_keep_memtables_rotated_meanwhile() -> crate::Result<()> {
        use crate::{AbstractTree, Config, SequenceNumberCounter};
        use std::sync::atomic::{AtomicBool, Ordering};

        const N: u64 = 30_000;

        let dir = tempfile::tempdir()?;
        let seqno = SequenceNumberCounter::default();
        let tree = Config::new(&dir, seqno.clone(), SequenceNumberCounter::default()).open()?;
        let done = AtomicBool::new(false);

        std::thread::scope(|s| {
            s.spawn(|| {
                for i in 0..N {
                    tree.insert(i.to_be_bytes(), i.to_le_bytes(), seqno.next());
                    if i % 97 == 0 {
                        tree.rotate_memtable();
                    }
                }
                done.store(true, Ordering::Release);
            });
            s.spawn(|| {
                let strategy = Arc::new(crate::compaction::Leveled::default());
                while !done.load(Ordering::Acquire) {
                    tree.compact(strategy.clone(), 0).unwrap();
                }
            });
            while !done.load(Ordering::Acquire) {
                tree.flush_active_memtable(0).unwrap();
            }
        });
        tree.flush_active_memtable(0)?;

        let read_at = seqno.get();
        for i in 0..N {
            assert_eq!(
                tree.get(i.to_be_bytes(), read_at)?.as_deref(),
                Some(&i.to_le_bytes()[..]),
                "key {i}"
            );
        }
        assert!(tree.table_count() > 0);

        Ok(())
    }

    /// SLUICE PATCH (lsm-tree patch 4): the files of the versions `maintenance` pops are
    /// deleted (on the `lsm:drop` thread, after the lock is released); the others stay.
    #[test]
    fn popped_versions_lose_their_files() -> crate::Result<()> {
        let dir = tempfile::tempdir()?;
        let version = |id: u64, seqno: SeqNo| SuperVersion {
            active_memtable: Arc::new(Memtable::new(id)),
            sealed_memtables: Arc::default(),
            version: Version::new(id, crate::TreeType::Standard),
            seqno,
        };
        for id in 0..4 {
            std::fs::write(dir.path().join(format!("v{id}")), b"version")?;
        }
        let mut history =
            SuperVersions(vec![version(0, 0), version(1, 1), version(2, 2), version(3, 3)].into());

        history.maintenance(dir.path(), 3)?;
        assert_eq!(history.len(), 2, "versions 0 and 1 popped");

        let gone = |id: u64| !dir.path().join(format!("v{id}")).exists();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while !(gone(0) && gone(1)) {
            assert!(
                std::time::Instant::now() < deadline,
                "the popped versions' files are still there"
            );
            std::thread::yield_now();
        }
        assert!(!gone(2) && !gone(3), "the versions kept keep their files");

        Ok(())
    }

    #[test]
    fn super_version_gc_above_watermark() -> crate::Result<()> {
        let mut history = SuperVersions(
            vec![
                SuperVersion {
                    active_memtable: Arc::new(Memtable::new(0)),
                    sealed_memtables: Arc::default(),
                    version: Version::new(0, crate::TreeType::Standard),
                    seqno: 0,
                },
                SuperVersion {
                    active_memtable: Arc::new(Memtable::new(0)),
                    sealed_memtables: Arc::default(),
                    version: Version::new(0, crate::TreeType::Standard),
                    seqno: 1,
                },
                SuperVersion {
                    active_memtable: Arc::new(Memtable::new(0)),
                    sealed_memtables: Arc::default(),
                    version: Version::new(0, crate::TreeType::Standard),
                    seqno: 2,
                },
            ]
            .into(),
        );

        history.maintenance(Path::new("."), 0)?;

        assert_eq!(history.free_list_len(), 2);

        Ok(())
    }

    #[test]
    fn super_version_gc_below_watermark_simple() -> crate::Result<()> {
        let mut history = SuperVersions(
            vec![
                SuperVersion {
                    active_memtable: Arc::new(Memtable::new(0)),
                    sealed_memtables: Arc::default(),
                    version: Version::new(0, crate::TreeType::Standard),
                    seqno: 0,
                },
                SuperVersion {
                    active_memtable: Arc::new(Memtable::new(0)),
                    sealed_memtables: Arc::default(),
                    version: Version::new(0, crate::TreeType::Standard),
                    seqno: 1,
                },
                SuperVersion {
                    active_memtable: Arc::new(Memtable::new(0)),
                    sealed_memtables: Arc::default(),
                    version: Version::new(0, crate::TreeType::Standard),
                    seqno: 2,
                },
            ]
            .into(),
        );

        history.maintenance(Path::new("."), 3)?;

        assert_eq!(history.len(), 1);

        Ok(())
    }

    #[test]
    fn super_version_gc_below_watermark_simple_2() -> crate::Result<()> {
        let mut history = SuperVersions(
            vec![
                SuperVersion {
                    active_memtable: Arc::new(Memtable::new(0)),
                    sealed_memtables: Arc::default(),
                    version: Version::new(0, crate::TreeType::Standard),
                    seqno: 0,
                },
                SuperVersion {
                    active_memtable: Arc::new(Memtable::new(0)),
                    sealed_memtables: Arc::default(),
                    version: Version::new(0, crate::TreeType::Standard),
                    seqno: 1,
                },
                SuperVersion {
                    active_memtable: Arc::new(Memtable::new(0)),
                    sealed_memtables: Arc::default(),
                    version: Version::new(0, crate::TreeType::Standard),
                    seqno: 2,
                },
                SuperVersion {
                    active_memtable: Arc::new(Memtable::new(0)),
                    sealed_memtables: Arc::default(),
                    version: Version::new(0, crate::TreeType::Standard),
                    seqno: 8,
                },
            ]
            .into(),
        );

        history.maintenance(Path::new("."), 3)?;

        assert_eq!(history.len(), 2);

        Ok(())
    }

    #[test]
    fn super_version_gc_below_watermark_keep() -> crate::Result<()> {
        let mut history = SuperVersions(
            vec![
                SuperVersion {
                    active_memtable: Arc::new(Memtable::new(0)),
                    sealed_memtables: Arc::default(),
                    version: Version::new(0, crate::TreeType::Standard),
                    seqno: 0,
                },
                SuperVersion {
                    active_memtable: Arc::new(Memtable::new(0)),
                    sealed_memtables: Arc::default(),
                    version: Version::new(0, crate::TreeType::Standard),
                    seqno: 8,
                },
            ]
            .into(),
        );

        history.maintenance(Path::new("."), 3)?;

        assert_eq!(history.len(), 2);

        Ok(())
    }

    #[test]
    fn super_version_gc_below_watermark_shadowed() -> crate::Result<()> {
        let mut history = SuperVersions(
            vec![
                SuperVersion {
                    active_memtable: Arc::new(Memtable::new(0)),
                    sealed_memtables: Arc::default(),
                    version: Version::new(0, crate::TreeType::Standard),
                    seqno: 0,
                },
                SuperVersion {
                    active_memtable: Arc::new(Memtable::new(0)),
                    sealed_memtables: Arc::default(),
                    version: Version::new(0, crate::TreeType::Standard),
                    seqno: 2,
                },
            ]
            .into(),
        );

        history.maintenance(Path::new("."), 3)?;

        assert_eq!(history.len(), 1);

        Ok(())
    }
}
