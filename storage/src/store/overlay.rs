//! The staged `entries` writes: what the runs of every stream look like before the drain's
//! batch is committed, and the reads that merge them with fjall.
//!
//! Owns [`Overlay`]: every run written, rewritten or removed since the last commit, keyed by
//! its disk key (`sid`, key ID), last write wins. [`Runs`] is the read view of one stream
//! incarnation that every read of stream entries goes through: fjall's `entries` records,
//! shadowed by the overlay at equal keys, plus the stream's open run (the entries appended since
//! the last commit, still being gathered, see `store.rs`). Reads therefore see every write of
//! every earlier command exactly as they would after a commit, without committing — so a
//! commit never has to fall inside a command or a transaction (see `Store::begin_atomic`).
//!
//! Invariants:
//! * the merged view holds the same runs the committed keyspace would hold after the next
//!   commit (with the open run finished): the run invariants of `store.rs` (runs never overlap,
//!   a key is a lower bound of its run, every run holds a live entry) hold for the view at
//!   every command boundary;
//! * an open run's key is above every other run key of its stream, in fjall or in the overlay
//!   (it starts at an appended ID, greater than every live ID); XDEL and trimming first move
//!   the stream's open run into the overlay ([`Overlay::put_new`]), so they only ever rewrite
//!   runs of the merged view, never an open run;
//! * [`Staged::New`] marks a run that fjall does not hold: removing it again drops it from the
//!   overlay instead of writing a tombstone. Anything written over an existing overlay record
//!   (a removal or a rewrite of a fjall run) is never `New`;
//! * the overlay holds nothing of a dead incarnation ([`Overlay::forget`]): the reaper deletes
//!   what fjall holds of it, and nothing staged may resurrect any of it;
//! * the overlay is empty right after a commit ([`Overlay::drain_into`]).

use std::collections::BTreeMap;
use std::iter::Peekable;

use fjall::{Keyspace, OwnedWriteBatch, Slice};

use super::{entry_key, run_key_id, Result};
use crate::stream::run::RunBuilder;
use crate::stream::StreamId;

/// One staged run write.
#[derive(Clone, Debug)]
pub(super) enum Staged {
    /// A run fjall does not hold (appended since the last commit, perhaps rewritten since).
    New(Slice),
    /// A new value for a run fjall may hold.
    Rewrite(Slice),
    /// Removes the run fjall holds under this key.
    Removed,
}

/// The staged `entries` writes of the current drain. See the module docs.
#[derive(Default)]
pub(super) struct Overlay {
    runs: BTreeMap<(u64, StreamId), Staged>,
}

impl Overlay {
    pub(super) fn is_empty(&self) -> bool {
        self.runs.is_empty()
    }

    /// True when something of incarnation `sid` is staged.
    fn holds(&self, sid: u64) -> bool {
        !self.runs.is_empty()
            && self
                .runs
                .range((sid, StreamId::MIN)..=(sid, StreamId::MAX))
                .next()
                .is_some()
    }

    /// Stages a run of newly appended entries (a full or a finished open run).
    pub(super) fn put_new(&mut self, sid: u64, key: StreamId, value: Slice) {
        match self.runs.get_mut(&(sid, key)) {
            // A removal or rewrite of a fjall run under the same key (possible after XSETID
            // went below deleted entries): fjall holds a record here, so this overwrites it.
            Some(slot) => {
                debug_assert!(
                    matches!(slot, Staged::Removed),
                    "a new run over a live staged run {key} of incarnation {sid}"
                );
                *slot = Staged::Rewrite(value);
            }
            None => {
                self.runs.insert((sid, key), Staged::New(value));
            }
        }
    }

    /// Stages a new value for an existing run of the merged view (XDEL, trimming).
    pub(super) fn rewrite(&mut self, sid: u64, key: StreamId, value: Slice) {
        let slot = self.runs.entry((sid, key)).or_insert(Staged::Removed);
        *slot = match slot {
            Staged::New(_) => Staged::New(value),
            Staged::Rewrite(_) => Staged::Rewrite(value),
            Staged::Removed => Staged::Rewrite(value),
        };
    }

    /// Stages the removal of an existing run of the merged view.
    pub(super) fn remove(&mut self, sid: u64, key: StreamId) {
        match self.runs.get(&(sid, key)) {
            Some(Staged::New(_)) => {
                // Never written: nothing to delete on disk.
                self.runs.remove(&(sid, key));
            }
            _ => {
                self.runs.insert((sid, key), Staged::Removed);
            }
        }
    }

    /// Drops everything staged for the dead incarnation `sid`.
    pub(super) fn forget(&mut self, sid: u64) {
        if !self.holds(sid) {
            return;
        }
        let keys: Vec<(u64, StreamId)> = self
            .runs
            .range((sid, StreamId::MIN)..=(sid, StreamId::MAX))
            .map(|(k, _)| *k)
            .collect();
        for k in keys {
            self.runs.remove(&k);
        }
    }

    /// Moves every staged write into `batch`, in key order; leaves the overlay empty.
    pub(super) fn drain_into(&mut self, batch: &mut OwnedWriteBatch, entries: &Keyspace) {
        for ((sid, key), staged) in std::mem::take(&mut self.runs) {
            match staged {
                Staged::New(v) | Staged::Rewrite(v) => {
                    batch.insert(entries, entry_key(sid, key), v)
                }
                Staged::Removed => batch.remove(entries, entry_key(sid, key).to_vec()),
            }
        }
    }

    /// The staged writes of `sid` with keys in `from..=to`, in key order.
    fn range(
        &self,
        sid: u64,
        from: StreamId,
        to: StreamId,
    ) -> impl DoubleEndedIterator<Item = (StreamId, &Staged)> {
        let range = if self.runs.is_empty() || from > to {
            None
        } else {
            Some(self.runs.range((sid, from)..=(sid, to)))
        };
        range.into_iter().flatten().map(|((_, k), v)| (*k, v))
    }
}

/// The runs of one stream incarnation as readers see them. See the module docs.
pub(super) struct Runs<'a> {
    entries: &'a Keyspace,
    overlay: &'a Overlay,
    /// The incarnation's open run, if it has one.
    open: Option<&'a RunBuilder>,
    sid: u64,
}

type RunItem = Result<(StreamId, Slice)>;

impl<'a> Runs<'a> {
    pub(super) fn new(
        entries: &'a Keyspace,
        overlay: &'a Overlay,
        open: Option<&'a RunBuilder>,
        sid: u64,
    ) -> Self {
        debug_assert!(open.is_none_or(|o| !o.is_empty()), "an empty open run");
        Runs {
            entries,
            overlay,
            open,
            sid,
        }
    }

    pub(super) fn sid(&self) -> u64 {
        self.sid
    }

    /// The key of the incarnation's open run, if it has one. That run still grows (appends,
    /// then its sealing, go on adding entries under this key), so a value read of it is a
    /// snapshot that only lasts until the next append: `store.rs`'s run cache never keeps one.
    pub(super) fn open_key(&self) -> Option<StreamId> {
        self.open.map(RunBuilder::key)
    }

    /// The open run as a run value, if its key is in `from..=to`.
    fn open_in(&self, from: StreamId, to: StreamId) -> Option<(StreamId, Slice)> {
        let open = self.open?;
        let key = open.key();
        (from <= key && key <= to).then(|| (key, Slice::from(open.finish())))
    }

    /// fjall's runs of the incarnation with keys in `from..=to`, in key order.
    fn disk(&self, from: StreamId, to: StreamId) -> impl DoubleEndedIterator<Item = RunItem> + 'a {
        let sid = self.sid;
        self.entries
            .range(entry_key(sid, from)..=entry_key(sid, to))
            .map(move |guard| {
                let (k, v) = guard.into_inner()?;
                Ok((run_key_id(sid, &k)?, v))
            })
    }

    /// The run with the greatest key ≤ `id`: the only one that may hold `id`.
    pub(super) fn at_or_before(&self, id: StreamId) -> Result<Option<(StreamId, Slice)>> {
        if let Some(open) = self.open_in(StreamId::MIN, id) {
            return Ok(Some(open));
        }
        let mut merged = self.range(StreamId::MIN, id, true);
        merged.next().transpose()
    }

    /// The run keyed exactly `key`, if the view holds one: a point read, no iterator (fjall's
    /// range iterators open every table and memtable they overlap).
    pub(super) fn get(&self, key: StreamId) -> Result<Option<Slice>> {
        if let Some(open) = self.open.filter(|o| o.key() == key) {
            return Ok(Some(Slice::from(open.finish())));
        }
        if let Some(staged) = self.overlay.runs.get(&(self.sid, key)) {
            return Ok(match staged {
                Staged::New(v) | Staged::Rewrite(v) => Some(v.clone()),
                Staged::Removed => None,
            });
        }
        Ok(self.entries.get(entry_key(self.sid, key))?)
    }

    /// The runs with keys in `from..=to`, in key order, or reversed with `rev`.
    pub(super) fn range(
        &self,
        from: StreamId,
        to: StreamId,
        rev: bool,
    ) -> Box<dyn Iterator<Item = RunItem> + 'a> {
        let mut staged = self.overlay.range(self.sid, from, to).peekable();
        let open = self.open_in(from, to);
        if open.is_none() && staged.peek().is_none() {
            // Nothing staged for this stream: fjall alone (the common case).
            return if rev {
                Box::new(self.disk(from, to).rev())
            } else {
                Box::new(self.disk(from, to))
            };
        }
        if rev {
            Box::new(Merge {
                disk: (Box::new(self.disk(from, to).rev()) as Box<dyn Iterator<Item = _>>)
                    .peekable(),
                staged: (Box::new(staged.rev()) as Box<dyn Iterator<Item = _>>).peekable(),
                first: open,
                last: None,
                rev,
            })
        } else {
            Box::new(Merge {
                disk: (Box::new(self.disk(from, to)) as Box<dyn Iterator<Item = _>>).peekable(),
                staged: (Box::new(staged) as Box<dyn Iterator<Item = _>>).peekable(),
                first: None,
                last: open,
                rev,
            })
        }
    }
}

/// fjall's runs merged with the staged writes (which win at equal keys; a removal hides the
/// run), between an optional run before them all and one after them all (the open run).
struct Merge<'a> {
    disk: Peekable<Box<dyn Iterator<Item = RunItem> + 'a>>,
    staged: Peekable<Box<dyn Iterator<Item = (StreamId, &'a Staged)> + 'a>>,
    first: Option<(StreamId, Slice)>,
    last: Option<(StreamId, Slice)>,
    /// Descending key order.
    rev: bool,
}

impl Iterator for Merge<'_> {
    type Item = RunItem;

    fn next(&mut self) -> Option<RunItem> {
        if let Some(first) = self.first.take() {
            return Some(Ok(first));
        }
        loop {
            let disk = match self.disk.peek() {
                Some(Err(_)) => return self.disk.next(),
                Some(Ok((k, _))) => Some(*k),
                None => None,
            };
            let staged = self.staged.peek().map(|(k, _)| *k);
            let from_staged = match (disk, staged) {
                (None, None) => break,
                (Some(_), None) => false,
                (None, Some(_)) => true,
                (Some(d), Some(s)) if d == s => {
                    // The staged write replaces fjall's record.
                    self.disk.next();
                    true
                }
                (Some(d), Some(s)) => (s < d) != self.rev,
            };
            if !from_staged {
                return self.disk.next();
            }
            match self.staged.next() {
                Some((k, Staged::New(v) | Staged::Rewrite(v))) => return Some(Ok((k, v.clone()))),
                Some((_, Staged::Removed)) | None => continue,
            }
        }
        self.last.take().map(Ok)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use fjall::{Database, KeyspaceCreateOptions};
    use proptest::prelude::*;

    use super::*;

    fn id(n: u64) -> StreamId {
        StreamId::new(n, 0)
    }

    /// A run value that names its key and version (the merge never decodes values).
    fn value(key: u64, version: u8) -> Slice {
        Slice::from(vec![version, key as u8])
    }

    /// What each key starts as on disk, and what the drain stages for it.
    #[derive(Clone, Copy, Debug)]
    enum Case {
        Disk,
        DiskRewritten,
        DiskRemoved,
        /// On disk, removed, then a new run under the same key (XSETID below deleted entries).
        DiskRemovedThenNew,
        New,
        NewRewritten,
        NewRemoved,
        Absent,
    }

    fn case() -> impl Strategy<Value = Case> {
        prop_oneof![
            Just(Case::Disk),
            Just(Case::DiskRewritten),
            Just(Case::DiskRemoved),
            Just(Case::DiskRemovedThenNew),
            Just(Case::New),
            Just(Case::NewRewritten),
            Just(Case::NewRemoved),
            Just(Case::Absent),
        ]
    }

    proptest! {
        // Failures print the minimal case; no regression files next to the sources.
        #![proptest_config(ProptestConfig {
            failure_persistence: None,
            ..ProptestConfig::default()
        })]

        /// The merged view equals a plain map of what the keyspace holds after the commit, for
        /// every range, direction and seek; and after the commit fjall alone says the same.
        #[test]
        fn merged_runs_equal_the_committed_runs(
            cases in proptest::collection::vec(case(), 1..12),
            open in any::<bool>(),
            from in 0u64..16,
            to in 0u64..16,
        ) {
            let dir = tempfile::tempdir().expect("tempdir");
            let db = Database::builder(dir.path()).open().expect("open");
            let entries = db.keyspace("entries", KeyspaceCreateOptions::default).expect("ks");
            let sid = 7;
            // Another incarnation's runs on both sides, which no read may see.
            for other in [6u64, 8] {
                entries.insert(entry_key(other, id(3)), value(99, 0)).expect("insert");
            }
            let mut overlay = Overlay::default();
            let mut want: BTreeMap<StreamId, Slice> = BTreeMap::new();
            for (k, c) in cases.iter().enumerate() {
                let k = k as u64 + 1;
                let key = id(k);
                if matches!(
                    c,
                    Case::Disk | Case::DiskRewritten | Case::DiskRemoved | Case::DiskRemovedThenNew
                ) {
                    entries.insert(entry_key(sid, key), value(k, 1)).expect("insert");
                    want.insert(key, value(k, 1));
                }
                match c {
                    Case::Disk | Case::Absent => {}
                    Case::DiskRewritten => {
                        overlay.rewrite(sid, key, value(k, 2));
                        want.insert(key, value(k, 2));
                    }
                    Case::DiskRemoved => {
                        overlay.remove(sid, key);
                        want.remove(&key);
                    }
                    Case::DiskRemovedThenNew => {
                        overlay.remove(sid, key);
                        overlay.put_new(sid, key, value(k, 3));
                        want.insert(key, value(k, 3));
                    }
                    Case::New => {
                        overlay.put_new(sid, key, value(k, 4));
                        want.insert(key, value(k, 4));
                    }
                    Case::NewRewritten => {
                        overlay.put_new(sid, key, value(k, 4));
                        overlay.rewrite(sid, key, value(k, 5));
                        want.insert(key, value(k, 5));
                    }
                    Case::NewRemoved => {
                        overlay.put_new(sid, key, value(k, 4));
                        overlay.remove(sid, key);
                        prop_assert!(!overlay.runs.contains_key(&(sid, key)), "a tombstone for a run never written");
                    }
                }
            }
            // The open run, above every other key.
            let top = cases.len() as u64 + 2;
            let mut builder = RunBuilder::new(id(top));
            builder.push(id(top), b"x");
            if open {
                want.insert(id(top), Slice::from(builder.finish()));
            }
            let check = |runs: &Runs<'_>, when: &str| -> std::result::Result<(), TestCaseError> {
                let (lo, hi) = (id(from), id(to));
                for rev in [false, true] {
                    let got: Vec<(StreamId, Slice)> = runs
                        .range(lo, hi, rev)
                        .collect::<Result<_>>()
                        .expect("range");
                    let mut exp: Vec<(StreamId, Slice)> = if lo <= hi {
                        want.range(lo..=hi).map(|(k, v)| (*k, v.clone())).collect()
                    } else {
                        Vec::new()
                    };
                    if rev {
                        exp.reverse();
                    }
                    prop_assert_eq!(got, exp, "{} range {}..={} rev={}", when, from, to, rev);
                }
                let got = runs.at_or_before(id(from)).expect("seek");
                let exp = want.range(..=id(from)).next_back().map(|(k, v)| (*k, v.clone()));
                prop_assert_eq!(got, exp, "{} at or before {}", when, from);
                Ok(())
            };
            check(&Runs::new(&entries, &overlay, open.then_some(&builder), sid), "staged")?;
            let mut batch = db.batch();
            overlay.drain_into(&mut batch, &entries);
            if open {
                batch.insert(&entries, entry_key(sid, id(top)), builder.finish());
            }
            batch.commit().expect("commit");
            prop_assert!(overlay.is_empty());
            check(&Runs::new(&entries, &overlay, None, sid), "committed")?;
        }
    }
}
