//! The reaper: deleting the entries and node records of dead stream incarnations (a DEL of a
//! stream answers at once; the data goes here, in short slices the engine runs from its loop:
//! [`Store::reap_until`] stops at a deadline, and the next slice resumes where it stopped).
//!
//! A big incarnation (at least [`DROP_MIN_ENTRIES`] entries when it died) first has the tables
//! that hold nothing but its entries dropped whole, which costs no tombstone and no compaction
//! (lsm-tree's drop-range compaction; fjall patch 9): a thread of its own seals the `entries`
//! memtable so that the stream's last writes reach tables, waits for that flush, syncs the
//! journal and drops the tables, while the reaper's slices only look whether it is done.
//! Sealing a memtable runs fjall's maintenance (old versions and journals deleted), which the
//! event loop must not wait for: an unlink with online discard took 20 ms per file. Whatever is
//! left (entries in tables shared with other streams, or written while the flush ran late) then
//! gets tombstones, as every small incarnation does. Deleting one record at a time costs the
//! loop thread about 1 µs per record; walking a stream's node records can cost more than
//! deleting them (their superseded versions in the memtable), which is why a slice is bounded
//! by time, not only by a count (one slice of 6,000 node records once took 87 ms).
//!
//! Invariants:
//! - a dead incarnation's records are only deleted after its tombstone is committed, and its
//!   tombstone only after its last record;
//! - tables are only dropped once the journal holding the tombstone is synced: a drop is
//!   durable at once (a new table version), so it must never outlive, after a power loss, the
//!   DEL that made the data dead;
//! - a sid is never used again, so nothing but the dead incarnation's records lies in its key
//!   range, and dropping every table inside the range loses nothing else;
//! - a backup's snapshot older than the DEL still reads every record of the stream: lsm-tree
//!   keeps the table version each open snapshot reads (a drop makes a new version, with a
//!   seqno after the DEL's), as it does for compactions (tested);
//! - at most one table drop runs, for the first dead incarnation; [`Store::close`] stops its
//!   flush wait and joins it (a drop already under way finishes);
//! - only the first dead incarnation is reaped, and [`ReapAt`] says how far: its entries from
//!   a key on, then its node records from a key on; the dead marker goes last.

use super::*;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

/// Dead incarnations with at least this many entries have their tables dropped first.
pub const DROP_MIN_ENTRIES: u64 = 50_000;

/// How long the drop thread waits for the flush of the sealed `entries` memtable before
/// dropping anyway (the entries still in a memtable then get tombstones).
const FLUSH_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

/// The table drop of one dead incarnation: the thread sealing the memtable, waiting for its
/// flush, syncing the journal and dropping the tables.
pub(crate) struct TableDrop {
    sid: u64,
    thread: std::thread::JoinHandle<fjall::Result<()>>,
    /// Set when the store closes: the thread stops waiting for the flush and drops nothing
    /// (after a restart the incarnation's entries get tombstones).
    stop: Arc<AtomicBool>,
}

/// Where the reaper got to in a dead incarnation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum ReapAt {
    /// Nothing done yet (a big incarnation's table drop comes first).
    Start,
    /// Deleting entries: the next `entries` key to look at.
    Entries(Vec<u8>),
    /// Entries are gone; deleting node records: the next `smeta` key to look at.
    Nodes(Vec<u8>),
}

/// How many records a slice deletes between two looks at the clock.
pub(crate) const CLOCK_EVERY: usize = 32;

impl Store {
    /// Deletes up to `budget` records of dead stream incarnations; returns how many. See
    /// [`Store::reap_until`], without the deadline.
    pub fn reap(&mut self, budget: usize) -> Result<usize> {
        self.reap_until(budget, None)
    }

    /// Deletes up to `budget` records of dead stream incarnations, stopping early at
    /// `deadline`; returns how many. The engine runs it in short slices from its loop, so DEL of
    /// a huge stream answers at once, the space comes back in the background, and no slice
    /// holds other clients up for long.
    ///
    /// The deadline is looked at every few records: walking to the next record costs more than
    /// deleting it when the memtable holds many versions of the records (an XADD rewrites its
    /// node's summary, so a stream of N entries leaves about N versions of its node records in
    /// the `smeta` memtable). A slice with a budget always makes progress, however late: at
    /// least one record, or one step of a table drop.
    pub fn reap_until(&mut self, budget: usize, deadline: Option<Instant>) -> Result<usize> {
        let Some((sid, at)) = self.dead.first().cloned() else {
            return Ok(0);
        };
        debug_assert!(self.atomic == 0, "reap inside an atomic section");
        if at == ReapAt::Start && self.drop_first.contains(&sid) && !self.drop_tables(sid)? {
            return Ok(0);
        }
        let out_of_time = |done: usize| {
            done.is_multiple_of(CLOCK_EVERY) && deadline.is_some_and(|d| Instant::now() >= d)
        };
        // Nothing of a dead incarnation is staged (`drop_value`): fjall holds all there is.
        let prefix = sid.to_be_bytes();
        let mut done = 0usize;
        let nodes_from = match at {
            ReapAt::Start | ReapAt::Entries(_) => {
                let start = match at {
                    ReapAt::Entries(k) => k,
                    _ => prefix.to_vec(),
                };
                let entries = self.entries.clone();
                let end = (sid.checked_add(1)).map(|s| s.to_be_bytes().to_vec());
                let range: Box<dyn Iterator<Item = fjall::Guard>> = match &end {
                    Some(end) => Box::new(entries.range(start..end.clone())),
                    None => Box::new(entries.range(start..)),
                };
                let batch = self.batch.get_or_insert_with(|| self.db.batch());
                let mut stopped_at = None;
                for guard in range {
                    let k = guard.key()?;
                    if done >= budget || (done > 0 && out_of_time(done)) {
                        stopped_at = Some(k.to_vec());
                        break;
                    }
                    batch.remove(&entries, k.to_vec());
                    done += 1;
                }
                match stopped_at {
                    Some(k) => {
                        // Resume at the first key not deleted, never re-walking tombstones.
                        self.dead[0].1 = ReapAt::Entries(k);
                        self.commit()?;
                        return Ok(done);
                    }
                    None => prefix.to_vec(),
                }
            }
            ReapAt::Nodes(k) => k,
        };
        // Entries are gone: remove the node records, then the marker.
        let smeta = self.smeta.clone();
        let nodes: Box<dyn Iterator<Item = fjall::Guard>> = match sid.checked_add(1) {
            Some(end) => Box::new(smeta.range(nodes_from..end.to_be_bytes().to_vec())),
            None => Box::new(smeta.range(nodes_from..)),
        };
        for guard in nodes {
            let k = guard.key()?;
            if !k.starts_with(&prefix) {
                break;
            }
            if done >= budget || (done > 0 && out_of_time(done)) {
                self.dead[0].1 = ReapAt::Nodes(k.to_vec());
                self.commit()?;
                return Ok(done);
            }
            self.batch
                .get_or_insert_with(|| self.db.batch())
                .remove(&smeta, k.to_vec());
            done += 1;
        }
        self.pending_keys.insert(dead_key(sid), None);
        self.dead.remove(0);
        self.drop_first.remove(&sid);
        self.commit()?;
        Ok(done)
    }

    /// One step of dead incarnation `sid`'s table drop (see the module docs); true once it is
    /// over (done, or given up: the tombstones then delete everything), false while it waits.
    /// Never blocks: sealing the memtable, its flush and the drop run on another thread. A
    /// failed journal sync or drop is the caller's storage error.
    fn drop_tables(&mut self, sid: u64) -> Result<bool> {
        let Some(dir) = self.data_dir.clone() else {
            return Ok(true);
        };
        let Some(TableDrop {
            sid: for_sid,
            thread,
            stop,
        }) = self.table_drop.take()
        else {
            // The DEL's tombstone is committed (it went out with its drain) and its journal
            // write is with the OS before the thread syncs the journal.
            self.commit()?;
            self.db.persist(PersistMode::Buffer)?;
            let entries = self.entries.clone();
            let stop = Arc::new(AtomicBool::new(false));
            let stopped = stop.clone();
            let spawned = std::thread::Builder::new()
                .name("sluice:reap".into())
                .spawn(move || drop_thread(&entries, &dir, sid, &stopped));
            return match spawned {
                Ok(thread) => {
                    self.table_drop = Some(TableDrop { sid, thread, stop });
                    Ok(false)
                }
                Err(e) => {
                    tracing::warn!(sid, "can't start the thread that drops a deleted stream's tables ({e}); deleting its entries one by one");
                    Ok(true)
                }
            };
        };
        debug_assert_eq!(for_sid, sid, "a table drop for another incarnation");
        if !thread.is_finished() {
            self.table_drop = Some(TableDrop { sid, thread, stop });
            return Ok(false);
        }
        match thread.join() {
            Ok(Ok(())) => Ok(true),
            Ok(Err(e)) => Err(e.into()),
            Err(_) => {
                tracing::error!(sid, "the thread dropping a deleted stream's tables panicked; deleting its entries one by one");
                Ok(true)
            }
        }
    }

    /// Waits for a table drop under way (at close: the drop holds the `entries` keyspace).
    pub(super) fn finish_table_drop(&mut self) {
        if let Some(TableDrop { thread, sid, stop }) = self.table_drop.take() {
            stop.store(true, Ordering::Relaxed);
            match thread.join() {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::warn!(
                    sid,
                    "dropping a deleted stream's tables: {e}; the next start deletes what is left"
                ),
                Err(_) => tracing::error!(
                    sid,
                    "the thread dropping a deleted stream's tables panicked"
                ),
            }
        }
    }

    /// Sets the size from which a dead incarnation has its tables dropped first (tests; the
    /// default is [`DROP_MIN_ENTRIES`]).
    pub fn set_drop_min_entries(&mut self, n: u64) {
        self.drop_min_entries = n;
    }

    /// Dead stream incarnations still being reaped.
    pub fn dead_streams(&self) -> usize {
        self.dead.len()
    }
}

impl Drop for Store {
    /// A table drop under way holds the `entries` keyspace, and with it the data directory's
    /// lock: wait for it, so that the directory can be opened again at once.
    fn drop(&mut self) {
        self.finish_table_drop();
    }
}

/// The table drop's thread: seals the `entries` memtable so that the dead incarnation's last
/// entries reach tables, waits (at most [`FLUSH_WAIT`]) for that flush, syncs the journal that
/// holds the DEL, then drops every table holding only keys of `sid`.
fn drop_thread(
    entries: &Keyspace,
    dir: &std::path::Path,
    sid: u64,
    stop: &AtomicBool,
) -> fjall::Result<()> {
    entries.rotate_memtable()?;
    let waited = std::time::Instant::now();
    while entries.sealed_memtable_count() > 0 && waited.elapsed() < FLUSH_WAIT {
        if stop.load(Ordering::Relaxed) {
            tracing::info!(sid, "closing: the tables of a deleted stream are not dropped; its entries get tombstones after the restart");
            return Ok(());
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    if let Err(e) = sync_active_journal(dir) {
        tracing::error!(dir = %dir.display(), "syncing the journal before dropping the tables of a deleted stream failed: {e}");
        return Err(fjall::Error::Io(e));
    }
    let started = std::time::Instant::now();
    let tables = entries.table_count();
    let lo = sid.to_be_bytes();
    let dropped = match sid.checked_add(1) {
        Some(hi) => entries.drop_range(lo..hi.to_be_bytes()),
        None => entries.drop_range(lo..),
    };
    match &dropped {
        Ok(()) => tracing::info!(
            sid,
            tables_before = tables,
            tables_after = entries.table_count(),
            flush_wait_ms = (started - waited).as_millis() as u64,
            ms = started.elapsed().as_millis() as u64,
            "dropped the tables holding only a deleted stream's entries"
        ),
        Err(e) => tracing::error!(sid, "dropping the tables of a deleted stream failed: {e}"),
    }
    dropped
}
