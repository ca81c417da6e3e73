//! The keyspaces of the job store: one per kind of record, and which key goes where.
//!
//! Why several: every kind of job key is written in time order (job IDs and queue-index keys
//! begin with the creation time, timer keys with the due time), so a memtable of one kind holds
//! a narrow band of its kind's keys, and fjall's leveled compaction merges a flushed table only
//! with the tables of the next level whose key ranges overlap it. When all kinds shared one
//! keyspace, every flushed table spanned from the oldest job record touched to the queue and
//! meta records at the end of the key space, so it overlapped every table below it and each
//! compaction rewrote the whole job store (measured on a GETJOB load over 1.4M jobs: the
//! compaction threads took 42% of the CPU samples of the process, on a 2-core machine where
//! they compete with the engine thread).
//!
//! Each kind keeps its tag byte as the first byte of its keys (the key formats are those of
//! `jobs/mod.rs`), so routing is by that byte and a directory from before the split moves its
//! records by copying them unchanged ([`Spaces::split_legacy`]).
//!
//! Invariant: a key lives only in the keyspace [`Spaces::of`] names for it (after
//! [`Spaces::split_legacy`] has run at open).

use fjall::{Database, Keyspace, KeyspaceCreateOptions};

use super::{MEMTABLE_SIZE, TAG_BODY, TAG_JOB, TAG_QUEUE, TAG_QUEUED, TAG_TIMER};
use crate::store::Result;

/// The job store's keyspaces, in creation order: job records (`0x10`), large bodies (`0x11`),
/// the queue index (`0x12`), the timer index (`0x13`), and queue records with the store's
/// own records and the job log (`0x14`, `0x15`, `0x16`).
pub const NAMES: [&str; 5] = ["jobs", "job_bodies", "job_queued", "job_timers", "job_meta"];

/// Target size of a table written by a compaction of a job keyspace: smaller than fjall's
/// 64 MiB so that a flushed table's narrow key range overlaps little of the level below.
const TABLE_TARGET: u64 = 16 << 20;

/// The memtable size of each keyspace (see `MEMTABLE_SIZE` in `jobs/mod.rs` for why they are
/// small: a queued job costs RAM as its share of the memtables until they are flushed). The
/// records take most of the bytes written (over 1M ADDJOBs: records 68%, queue index 18%,
/// timers 14% of the tables). Measured with the bench's 1M queued jobs (`bench/results/
/// 2026-12-04-jobs-split/`): 16 MiB for every keyspace held 92 B per job live (the one
/// keyspace: 35); these sizes hold 43–47 B, with an RSS per job of 76–78 B (before: 94–112).
///
/// `job_meta` also takes the job log's records (`jobs/log.rs`), up to `FOLD_BYTES` between two
/// folds, each removed by the next fold: its memtable holds two folds' worth, so that most log
/// records are removed before they are flushed.
const MEMTABLE_SIZES: [u64; 5] = [MEMTABLE_SIZE, 8 << 20, 4 << 20, 4 << 20, 8 << 20];

/// Flushed tables in level 0 before a compaction merges them into level 1 (fjall: 4), for
/// the keyspaces with small memtables, so that each compaction merges about as much.
const L0_THRESHOLDS: [u8; 5] = [4, 8, 8, 8, 8];

/// The options a job keyspace is created (and reopened) with; `None` if `name` is not one.
pub fn options(name: &str) -> Option<KeyspaceCreateOptions> {
    let i = NAMES.iter().position(|n| *n == name)?;
    let strategy = fjall::compaction::Leveled::default()
        .with_table_target_size(TABLE_TARGET)
        .with_l0_threshold(L0_THRESHOLDS[i]);
    let options = KeyspaceCreateOptions::default()
        .max_memtable_size(MEMTABLE_SIZES[i])
        .compaction_strategy(std::sync::Arc::new(strategy));
    Some(match i {
        // The queue and timer indexes are only ever range-scanned: bloom filters would cost
        // flush time, space and pinned memory for nothing.
        2 | 3 => options.filter_policy(fjall::config::FilterPolicy::disabled()),
        _ => options,
    })
}

/// The open keyspaces of the job store.
#[derive(Clone)]
pub struct Spaces {
    ks: [Keyspace; 5],
}

impl Spaces {
    /// Opens (creating those missing) the job store's keyspaces in `db`.
    pub fn open(db: &Database) -> Result<Spaces> {
        let open = |i: usize| db.keyspace(NAMES[i], || options(NAMES[i]).unwrap_or_default());
        Ok(Spaces {
            ks: [open(0)?, open(1)?, open(2)?, open(3)?, open(4)?],
        })
    }

    /// Where `key` lives.
    pub fn of(&self, key: &[u8]) -> &Keyspace {
        &self.ks[Self::index(key)]
    }

    /// The name of the keyspace where `key` lives.
    pub fn name_of(key: &[u8]) -> &'static str {
        NAMES[Self::index(key)]
    }

    fn index(key: &[u8]) -> usize {
        match key.first() {
            Some(&TAG_BODY) => 1,
            Some(&TAG_QUEUED) => 2,
            Some(&TAG_TIMER) => 3,
            Some(&t) if t >= TAG_QUEUE => 4,
            _ => 0,
        }
    }

    /// The value of `key`, from its keyspace.
    pub fn get(&self, key: &[u8]) -> fjall::Result<Option<fjall::Slice>> {
        self.of(key).get(key)
    }

    /// The records whose keys begin with `prefix` (all of one kind: it begins with a tag).
    pub fn prefix(&self, prefix: &[u8]) -> impl DoubleEndedIterator<Item = fjall::Guard> + '_ {
        debug_assert!(!prefix.is_empty(), "a prefix scan names its kind");
        self.of(prefix).prefix(prefix)
    }

    /// Every keyspace with its name.
    pub fn all(&self) -> impl Iterator<Item = (&'static str, &Keyspace)> {
        NAMES.iter().copied().zip(self.ks.iter())
    }

    /// Moves the records of `from` whose keys are in `range` to the keyspaces [`Spaces::of`]
    /// names for them, under the same keys, for the one-time moves of older layouts. Each
    /// record is written to the journal before it is removed from `from` (a crash keeps a
    /// prefix of the journal, so it may leave both copies, equal, and the next open finishes
    /// the move). Returns how many moved.
    pub fn move_from(
        &self,
        from: &Keyspace,
        range: impl std::ops::RangeBounds<[u8; 1]>,
    ) -> Result<usize> {
        let mut moved = 0;
        let mut chunk = Vec::new();
        let remove = |chunk: &mut Vec<fjall::Slice>| -> Result<()> {
            for k in chunk.drain(..) {
                from.remove(k)?;
            }
            Ok(())
        };
        for guard in from.range(range) {
            let (k, v) = guard.into_inner()?;
            let to = self.of(&k);
            debug_assert!(!std::ptr::eq(to, from), "a record moved onto itself");
            to.insert(k.clone(), v)?;
            chunk.push(k);
            moved += 1;
            if chunk.len() == 10_000 {
                remove(&mut chunk)?;
            }
        }
        remove(&mut chunk)?;
        Ok(moved)
    }

    /// Moves the records that directories from before the split kept in `jobs` (every kind
    /// there, under the same keys) to their keyspaces ([`Spaces::move_from`]).
    pub fn split_legacy(&self) -> Result<usize> {
        let moved = self.move_from(&self.ks[0], [TAG_JOB + 1]..)?;
        if moved > 0 {
            tracing::info!(
                records = moved,
                "job store split: bodies, queue and timer indexes and queue records moved from \
                 keyspace `jobs` to their own"
            );
        }
        Ok(moved)
    }
}
