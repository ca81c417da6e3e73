//! Reads of stream entries and their caches: ranges, XREAD's reads after an ID, point reads,
//! the merged view of fjall's runs under the overlay of staged writes and the open runs, and the
//! run cache that saves the reverse seek of readers moving forward.
//!
//! Invariant: reads never commit and never change what a later read sees; a cached run is
//! always exactly the run the merged view holds under its key (see `RunCache`).

use super::*;

mod run_index;

use self::run_index::{RunIndex, Where};

impl Store {
    /// The runs of incarnation `sid` as readers see them: fjall's, the staged writes, the open
    /// run (see `store/overlay.rs`).
    pub(super) fn runs(&self, sid: u64) -> Runs<'_> {
        Runs::new(&self.entries, &self.overlay, self.open_runs.get(&sid), sid)
    }

    /// Visits the IDs of the entries of incarnation `sid` in `from..=to` in order, while `f`
    /// returns true.
    pub(super) fn scan_ids(
        &mut self,
        sid: u64,
        from: StreamId,
        to: StreamId,
        mut f: impl FnMut(StreamId) -> bool,
    ) -> Result<()> {
        visit_runs(&self.runs(sid), None, from, to, false, |key, value| {
            for item in run_iter(sid, key, &value)? {
                let (id, _) = item.map_err(|e| run_corrupt(sid, key, e))?;
                if id < from {
                    continue;
                }
                if id > to || !f(id) {
                    return Ok(false);
                }
            }
            Ok(true)
        })
    }

    /// Reads the entries of the stream incarnation `sid` with IDs in `from..=to`, ascending (or
    /// descending with `rev`), at most `count` of them (`None` = all).
    pub fn stream_range(
        &mut self,
        sid: u64,
        from: StreamId,
        to: StreamId,
        rev: bool,
        count: Option<usize>,
    ) -> Result<Vec<StreamEntry>> {
        let mut out = Vec::new();
        if from > to || count == Some(0) {
            return Ok(out);
        }
        let limit = count.unwrap_or(usize::MAX);
        let runs = Runs::new(&self.entries, &self.overlay, self.open_runs.get(&sid), sid);
        let cache = Some(&mut self.run_cache);
        visit_runs(&runs, cache, from, to, rev, |key, value| {
            // One shared buffer per run; the entries are slices of it.
            let value = Bytes::from_owner(value);
            if rev {
                let ids = decode_run(sid, key, &value)?;
                for (id, r) in ids.into_iter().rev() {
                    if id > to {
                        continue;
                    }
                    if id < from {
                        return Ok(false);
                    }
                    out.push(StreamEntry {
                        id,
                        raw: EntryBytes::Disk(value.slice(r)),
                    });
                    if out.len() >= limit {
                        return Ok(false);
                    }
                }
            } else {
                for item in run_iter(sid, key, &value)? {
                    let (id, r) = item.map_err(|e| run_corrupt(sid, key, e))?;
                    if id < from {
                        continue;
                    }
                    if id > to {
                        return Ok(false);
                    }
                    out.push(StreamEntry {
                        id,
                        raw: EntryBytes::Disk(value.slice(r)),
                    });
                    if out.len() >= limit {
                        return Ok(false);
                    }
                }
            }
            Ok(true)
        })?;
        Ok(out)
    }

    /// Entries of the stream at `name` with IDs in `from..=to` (see [`Store::stream_range`]),
    /// from the tail cache when it can answer alone — then without reading fjall — else from
    /// the runs (fjall under the staged writes).
    pub fn stream_read(
        &mut self,
        db: usize,
        name: &[u8],
        (from, to): (StreamId, StreamId),
        rev: bool,
        count: Option<usize>,
        now_ms: u64,
    ) -> Result<Vec<StreamEntry>> {
        let Ok(Some(meta)) = self.stream(db, name, now_ms) else {
            return Ok(Vec::new());
        };
        if count == Some(0) {
            return Ok(Vec::new());
        }
        if let Some(hit) = meta.tail_range(from, to, rev, count) {
            return Ok(hit
                .into_iter()
                .map(|(id, raw)| StreamEntry {
                    id,
                    raw: EntryBytes::Mem(raw),
                })
                .collect());
        }
        let sid = meta.sid;
        self.stream_range(sid, from, to, rev, count)
    }

    /// One entry by ID.
    pub fn stream_get(&mut self, sid: u64, id: StreamId) -> Result<Option<StreamEntry>> {
        let runs = Runs::new(&self.entries, &self.overlay, self.open_runs.get(&sid), sid);
        let found = run_holding_cached(&runs, &mut self.run_cache, id)?;
        let Some((key, value)) = found else {
            return Ok(None);
        };
        for item in run_iter(sid, key, &value)? {
            let (e, r) = item.map_err(|e| run_corrupt(sid, key, e))?;
            if e == id {
                let value = Bytes::from_owner(value);
                return Ok(Some(StreamEntry {
                    id,
                    raw: EntryBytes::Disk(value.slice(r)),
                }));
            }
            if e > id {
                break;
            }
        }
        Ok(None)
    }
}

/// Visits the runs of `runs`' incarnation that may hold IDs in `from..=to`, in key order (or
/// reversed with `rev`): the run at or before `from` (which may hold `from`), then every run
/// with a key in `from..=to`. `f(key ID, value)` returns false to stop. With a `cache`, the run
/// holding `from` and, going forward, the runs after it are found through the run cache and the
/// run index where they can (runs that hold no ID in `from..=to` may then be left out).
pub(super) fn visit_runs(
    runs: &Runs<'_>,
    mut cache: Option<&mut RunCache>,
    from: StreamId,
    to: StreamId,
    rev: bool,
    mut f: impl FnMut(StreamId, Slice) -> Result<bool>,
) -> Result<()> {
    if from > to {
        return Ok(());
    }
    // No run key is below MIN: then the forward range below finds every run (`XRANGE s -`).
    let seek = if from == StreamId::MIN {
        None
    } else if let Some(cache) = cache.as_deref_mut() {
        run_holding_cached(runs, cache, from)?
    } else {
        runs.at_or_before(from)?
    };
    let mut learn_after = None;
    let start = match seek {
        Some((key, value)) if !rev => {
            if !f(key, value)? {
                return Ok(());
            }
            // Continue after it.
            let next = match cache.as_deref_mut() {
                Some(cache) => follow_index(runs, cache, key, to, &mut f)?,
                None => key.successor().map(|next| (key, next)),
            };
            match next {
                Some((last, next)) if next <= to => {
                    learn_after = cache.is_some().then_some(last);
                    next
                }
                _ => return Ok(()),
            }
        }
        Some((key, _)) => key,
        None => from,
    };
    let mut first = true;
    for item in runs.range(start, to, rev) {
        let (key, value) = item?;
        if first {
            first = false;
            // No run key lies between the run visited last and this one.
            if let (Some(prev), Some(cache)) = (learn_after, cache.as_deref_mut()) {
                if let Some(gap_end) = key.predecessor() {
                    cache.index.learn(runs.sid(), prev, gap_end);
                    cache.index.learn(runs.sid(), key, key);
                }
            }
        }
        if !f(key, value)? {
            return Ok(());
        }
    }
    if first {
        if let (Some(prev), Some(cache)) = (learn_after, cache) {
            cache.index.learn(runs.sid(), prev, to);
        }
    }
    Ok(())
}

/// Going forward after the visited run `key`: visits the runs the run index knows to follow it
/// (each found by a point lookup), while `f` wants more. Returns `None` when done (`f` said stop,
/// or no run key is left in `..=to`), else the last key visited or known and the key from which
/// a range must go on (nothing lies between them).
fn follow_index(
    runs: &Runs<'_>,
    cache: &mut RunCache,
    mut key: StreamId,
    to: StreamId,
    f: &mut impl FnMut(StreamId, Slice) -> Result<bool>,
) -> Result<Option<(StreamId, StreamId)>> {
    let sid = runs.sid();
    loop {
        let Some(clear) = cache.index.clear_to(sid, key) else {
            return Ok(key.successor().map(|next| (key, next)));
        };
        if clear >= to {
            return Ok(None);
        }
        // `clear < to`, so it has a successor: the first ID a run key may take.
        let Some(next) = clear.successor() else {
            return Ok(None);
        };
        if cache.index.clear_to(sid, next).is_none() {
            return Ok(Some((key, next)));
        }
        // A hint right after the gap: the next run is there, if it still exists.
        if let Some(value) = run_at(runs, next)? {
            if !f(next, value)? {
                return Ok(None);
            }
        }
        key = next;
    }
}

/// The run keyed exactly `key`, if the merged view holds one.
fn run_at(runs: &Runs<'_>, key: StreamId) -> Result<Option<Slice>> {
    let found = runs.get(key)?;
    debug_assert!(match runs.range(key, key, false).next() {
        Some(Ok((_, v))) => found.as_ref() == Some(&v),
        Some(Err(_)) => true,
        None => found.is_none(),
    });
    Ok(found)
}

/// Runs read recently, so readers that move forward through a stream — XREADGROUP `>` and
/// XREAD from the last ID they saw, one entry at a time — find the run holding their next ID
/// without a seek in fjall each time; and the run index (`reads/run_index.rs`), so readers
/// starting anywhere find it with a point lookup, or a reverse seek bounded tightly below.
///
/// Invariant: a cached run is exactly the run the merged view (`overlay::Runs`) holds under
/// its key — the whole run, not a part of it — and no other run holds an ID in its
/// `key..=last`, so [`run_holding_cached`] answers what [`Runs::at_or_before`] would, and
/// [`visit_runs`] can go on after the run's key. Hence:
/// * only sealed runs are cached (from fjall, or staged in the overlay); a sealed run changes
///   only when trimming or XDEL rewrites or removes it, or the incarnation dies, and every such
///   path (trim and XDEL: [`RunCache::rewritten`]; DEL and whatever drops a stream:
///   [`RunCache::forget`]) forgets the stream's cached runs. Appends only add runs after it —
///   [`RunCache::new_run`] drops a cached run whose `last` reaches the new key (`last` may be
///   past the run's last entry, up to where the index knows the next key is) — and a commit
///   writes the same runs to fjall, so the cache outlives commits;
/// * an open run is never cached: appends go on adding entries to it under the same key, and
///   sealing it (when full, before XDEL or a trim, at the commit) writes all of them, so a copy
///   taken when it was read would become a stale prefix of the run, and a scan seeking into
///   it would skip every entry appended since. It is in memory anyway: no seek to save.
#[derive(Default)]
pub(crate) struct RunCache {
    slots: Vec<CachedRun>,
    tick: u64,
    /// Run keys learned by reads, per incarnation (see `reads/run_index.rs`).
    index: RunIndex,
}

pub(super) struct CachedRun {
    sid: u64,
    key: StreamId,
    /// An ID in `key..=last` can only be in this run.
    last: StreamId,
    value: Slice,
    used: u64,
}

impl RunCache {
    const SLOTS: usize = 16;

    pub(super) fn get(&mut self, sid: u64, id: StreamId) -> Option<(StreamId, Slice)> {
        self.tick += 1;
        let tick = self.tick;
        let slot = self
            .slots
            .iter_mut()
            .find(|c| c.sid == sid && c.key <= id && id <= c.last)?;
        slot.used = tick;
        Some((slot.key, slot.value.clone()))
    }

    /// Caches the sealed run `key` of `sid`; no other run holds an ID in `key..=last`.
    fn put(&mut self, sid: u64, key: StreamId, last: StreamId, value: &Slice) {
        self.tick += 1;
        let run = CachedRun {
            sid,
            key,
            last,
            value: value.clone(),
            used: self.tick,
        };
        if let Some(same) = self.slots.iter_mut().find(|c| c.sid == sid && c.key == key) {
            *same = run;
        } else if self.slots.len() < Self::SLOTS {
            self.slots.push(run);
        } else if let Some(lru) = self.slots.iter_mut().min_by_key(|c| c.used) {
            *lru = run;
        }
    }

    /// Forgets the cached runs of `sid`, which trimming or XDEL is rewriting or removing. The
    /// run index stays: those only shrink or remove runs under their keys.
    pub(crate) fn rewritten(&mut self, sid: u64) {
        self.slots.retain(|c| c.sid != sid);
    }

    /// An append starts a run keyed `key` in `sid`.
    pub(crate) fn new_run(&mut self, sid: u64, key: StreamId) {
        self.slots.retain(|c| c.sid != sid || c.last < key);
        self.index.new_run(sid, key);
    }

    /// Forgets everything about `sid` (the incarnation is gone).
    pub(crate) fn forget(&mut self, sid: u64) {
        self.slots.retain(|c| c.sid != sid);
        self.index.forget(sid);
    }
}

/// The run that may hold `id`, through the cache and the run index: [`Runs::at_or_before`]'s
/// answer, or `None` when that run holds no ID ≥ `id` (then no run holds `id`, and a scan from
/// `id` starts at the keys after it). A hit of the cache costs no fjall read, one of the index a
/// point lookup; else a reverse seek bounded below by the index's nearest hint, and what it
/// finds is learned. Checked against `at_or_before` in debug builds.
pub(super) fn run_holding_cached(
    runs: &Runs<'_>,
    cache: &mut RunCache,
    id: StreamId,
) -> Result<Option<(StreamId, Slice)>> {
    let sid = runs.sid();
    let found = if let Some(hit) = cache.get(sid, id) {
        Some(hit)
    } else {
        let lower = match cache.index.lookup(sid, id) {
            Where::Exact(key) => {
                let found = run_at(runs, key)?.map(|v| (key, v));
                if let (Some((key, value)), Some(last)) = (&found, cache.index.clear_to(sid, key)) {
                    if runs.open_key() != Some(*key) {
                        cache.put(sid, *key, last, value);
                    }
                }
                debug_assert!(check_holding(runs, id, &found));
                return Ok(found);
            }
            Where::Above(lower) => Some(lower),
            Where::Unknown => None,
        };
        let mut seek = runs.range(lower.unwrap_or(StreamId::MIN), id, true);
        match seek.next().transpose()? {
            Some((key, value)) => {
                // No run key in `(key, id]`, nor up to the run's last ID.
                let mut last = id;
                for item in run_iter(sid, key, &value)? {
                    last = last.max(item.map_err(|e| run_corrupt(sid, key, e))?.0);
                }
                cache.index.learn(sid, key, last);
                // Not the open run: it is still growing (see `RunCache`).
                if runs.open_key() != Some(key) {
                    if let Some(last) = cache.index.clear_to(sid, key) {
                        cache.put(sid, key, last, &value);
                    }
                }
                Some((key, value))
            }
            None => {
                if let Some(lower) = lower {
                    cache.index.learn(sid, lower, id);
                }
                None
            }
        }
    };
    debug_assert!(check_holding(runs, id, &found));
    debug_assert!(cache.index.check());
    Ok(found)
}

/// What [`run_holding_cached`] promises, against a plain reverse seek.
fn check_holding(runs: &Runs<'_>, id: StreamId, found: &Option<(StreamId, Slice)>) -> bool {
    let Ok(now) = runs.at_or_before(id) else {
        return true;
    };
    match (&now, found) {
        (Some(a), Some(b)) => a == b,
        (None, None) => true,
        (Some((key, value)), None) => run::iter(*key, value)
            .map(|it| it.flatten().all(|(e, _)| e < id))
            .unwrap_or(true),
        (None, Some(_)) => false,
    }
}

/// The ID part of a run key of `sid`.
pub(super) fn run_key_id(sid: u64, k: &[u8]) -> Result<StreamId> {
    k.get(..8)
        .filter(|p| *p == sid.to_be_bytes())
        .and_then(|_| k.get(8..))
        .and_then(StreamId::from_be_bytes)
        .ok_or_else(|| StoreError::Corrupt(format!("bad entry key {k:?}")))
}

pub(super) fn run_corrupt(sid: u64, key: StreamId, e: run::Corrupt) -> StoreError {
    StoreError::Corrupt(format!("run {key} of stream incarnation {sid}: {e}"))
}

pub(super) fn run_iter(sid: u64, key: StreamId, value: &[u8]) -> Result<run::RunIter<'_>> {
    run::iter(key, value).map_err(|e| run_corrupt(sid, key, e))
}

pub(super) fn decode_run(
    sid: u64,
    key: StreamId,
    value: &[u8],
) -> Result<Vec<(StreamId, std::ops::Range<usize>)>> {
    run::decode(key, value).map_err(|e| run_corrupt(sid, key, e))
}

/// Live entries of `runs`' incarnation with `from <= id < to`.
pub(super) fn count_live(runs: &Runs<'_>, from: StreamId, to: StreamId) -> Result<u64> {
    if from >= to {
        return Ok(0);
    }
    let sid = runs.sid();
    let mut n = 0;
    visit_runs(runs, None, from, to, false, |key, value| {
        for item in run_iter(sid, key, &value)? {
            let (id, _) = item.map_err(|e| run_corrupt(sid, key, e))?;
            if id >= to {
                return Ok(false);
            }
            if id >= from {
                n += 1;
            }
        }
        Ok(true)
    })?;
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Live IDs of the stream, as `(ms, seq)` of the test's IDs `StreamId::new(ms, seq)`.
    fn model_range(live: &[StreamId], from: StreamId, count: usize, rev: bool) -> Vec<StreamId> {
        if rev {
            live.iter()
                .rev()
                .filter(|id| **id <= from)
                .take(count)
                .copied()
                .collect()
        } else {
            live.iter()
                .filter(|id| **id >= from)
                .take(count)
                .copied()
                .collect()
        }
    }

    /// Every start position — each entry, each gap between entries, before the first and past
    /// the last — reads what a plain scan reads, for forward and reverse ranges and point reads,
    /// twice (the second pass is answered by the run index and the run cache), with the runs
    /// sealed in the overlay or committed.
    fn check_every_start(s: &mut Store, sid: u64, live: &[StreamId], what: &str) {
        let top = live.last().map_or(10, |id| id.ms + 2);
        for pass in 0..2 {
            for ms in 0..=top {
                for seq in [0, 1, 2, u64::MAX] {
                    let from = StreamId::new(ms, seq);
                    for count in [1, 3, 50] {
                        let got: Vec<StreamId> = s
                            .stream_range(sid, from, StreamId::MAX, false, Some(count))
                            .expect("range")
                            .iter()
                            .map(|e| e.id)
                            .collect();
                        assert_eq!(
                            got,
                            model_range(live, from, count, false),
                            "{what}, pass {pass}: {from} + COUNT {count}"
                        );
                        let got: Vec<StreamId> = s
                            .stream_range(sid, StreamId::MIN, from, true, Some(count))
                            .expect("range")
                            .iter()
                            .map(|e| e.id)
                            .collect();
                        assert_eq!(
                            got,
                            model_range(live, from, count, true),
                            "{what}, pass {pass}: rev {from} COUNT {count}"
                        );
                    }
                    let got = s.stream_get(sid, from).expect("get").map(|e| e.id);
                    assert_eq!(
                        got,
                        live.contains(&from).then_some(from),
                        "{what}: get {from}"
                    );
                }
            }
        }
    }

    #[test]
    fn reads_from_every_position_agree_with_a_scan() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut s = Store::open(dir.path(), &StoreOptions::default(), 0).expect("open");
        s.set_run_limits(RunLimits {
            max_entries: 5,
            max_bytes: 1 << 20,
        });
        s.stream_create(0, Bytes::from_static(b"s"));
        let sid = s.stream(0, b"s", 0).expect("type").expect("stream").sid;
        let mut live = Vec::new();
        let append = |s: &mut Store, live: &mut Vec<StreamId>, id: StreamId| {
            let fields = [Bytes::from_static(b"f"), Bytes::from(id.to_string())];
            s.stream_append(0, b"s", id, &fields, NodeLimits::default(), 0);
            s.end_command();
            live.push(id);
        };
        // Runs of 5 and of fewer (a commit seals the open run), several IDs per ms.
        for ms in 1..=12u64 {
            for seq in 0..(ms % 3 + 1) {
                append(&mut s, &mut live, StreamId::new(ms * 2, seq));
            }
            if ms % 4 == 0 {
                s.commit().expect("commit");
            }
        }
        check_every_start(&mut s, sid, &live, "appended");
        s.commit().expect("commit");
        check_every_start(&mut s, sid, &live, "committed");
        // The second passes were answered through the index.
        assert!(s.run_cache.index.len() > 3);
        // XDEL: a run's first entry (the run keeps its key), a whole run, single entries.
        let doomed: Vec<StreamId> = [0usize, 5, 6, 7, 8, 9, 13, live.len() - 1]
            .iter()
            .map(|&i| live[i])
            .collect();
        assert_eq!(
            s.stream_delete(0, b"s", &doomed, 0).expect("xdel"),
            doomed.len() as u64
        );
        live.retain(|id| !doomed.contains(id));
        check_every_start(&mut s, sid, &live, "after XDEL");
        // Appends after the deletions, then a trim from the head.
        for seq in 0..4 {
            append(&mut s, &mut live, StreamId::new(40, seq));
        }
        check_every_start(&mut s, sid, &live, "appended after XDEL");
        let removed = s
            .stream_trim(
                0,
                b"s",
                TrimSpec {
                    strategy: Trim::MaxLen(live.len() as u64 - 7),
                    approx: false,
                    limit: 0,
                },
                None,
                0,
            )
            .expect("trim");
        assert_eq!(removed, 7);
        live.drain(..7);
        check_every_start(&mut s, sid, &live, "after a trim");
        s.commit().expect("commit");
        drop(s);
        // A reopened store starts with an empty index.
        let mut s = Store::open(dir.path(), &StoreOptions::default(), 0).expect("reopen");
        check_every_start(&mut s, sid, &live, "reopened");
    }
}
