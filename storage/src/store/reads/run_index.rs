//! The run index: per stream incarnation, in memory, run keys learned by reads, so that a read
//! starting at an arbitrary ID finds the run holding it with a point lookup (or a reverse seek
//! bounded tightly below) instead of fjall's reverse seek over every table holding the stream.
//!
//! Why: a read starting mid-stream (`XRANGE key <ms> + COUNT 10`, `XREAD … <ms>-0`) must find
//! the run with the greatest key ≤ its start ID. Without an index that is a reverse range
//! `(sid, MIN)..=(sid, id)` in fjall, which opens an iterator on every memtable and every table
//! overlapping that range and merges them: in the profile of random XRANGEs it was a third of
//! the server's time, more than the rest of the command.
//!
//! What is kept: for each incarnation, a map from a *hint* `h` (a run key seen by a read, which
//! may since have been removed) to `c(h) ≥ h`, an ID up to which the gap after it is known to be
//! free of run keys. The index is never written to disk and starts empty at every open.
//!
//! Invariants, for every hint `h` of incarnation `sid` with value `c(h)`, about the runs of the
//! merged view (`overlay::Runs`):
//! * I1: no run with a key below `h` holds an ID ≥ `h`;
//! * I2: no run has a key in `(h, c(h)]`;
//! * I3: `c(h)` is below the next hint (so only the hint just below a key can cover it; checked
//!   in debug builds by [`RunIndex::check`]).
//!
//! Together: an ID `x` with `h ≤ x ≤ c(h)` can only be in the run keyed `h` (if that run still
//! exists; if not, no run holds `x`), and for `x > c(h)` the run holding `x`, if any, has a key
//! in `[h, x]`. Why they hold:
//! * a key is learned only while it is the key of a run of the merged view, or is already a
//!   hint. A run's key is above every ID of the runs before it (its key was the first appended
//!   ID, above every live ID, and sealed runs never gain entries), so I1 holds when it is
//!   learned; `c` is raised only to what a read proved: the run's last ID, or the ID it sought
//!   when no other run key came between;
//! * XDEL and trimming only shrink or remove runs, under the same keys: I1 and I2 stay true, a
//!   removed run's key stays a valid (stale) hint;
//! * appends create runs; a new run's key `a` is above every live ID but may be below a removed
//!   run's key (after XSETID went below deleted entries): [`RunIndex::new_run`] drops every
//!   hint above `a` (I1) and lowers the `c` of the hint below it (I2, only that one by I3);
//! * a dropped incarnation forgets its hints ([`RunIndex::forget`]); sids are never reused.
//!
//! Memory: about 40 bytes per hint; at most [`SID_CAP`] hints per incarnation (past it every
//! other hint is dropped: a subset of hints is still valid) and [`TOTAL_CAP`] in all (past it,
//! the incarnations read least recently are forgotten, down to three quarters of it). Appends alone never add hints, so a
//! write-only workload costs nothing here.

use std::collections::BTreeMap;
use std::ops::Bound::{Excluded, Unbounded};

use ahash::AHashMap as HashMap;

use crate::stream::StreamId;

/// Most hints kept for one incarnation.
pub(crate) const SID_CAP: usize = 1 << 16;
/// Most hints kept in all.
pub(crate) const TOTAL_CAP: usize = 1 << 17;

/// Where the run holding an ID is, as far as the index knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Where {
    /// Only the run keyed so can hold the ID (if it exists; if not, no run does).
    Exact(StreamId),
    /// The run holding the ID, if any, has a key between this and the ID.
    Above(StreamId),
    /// Nothing known.
    Unknown,
}

struct Hints {
    map: BTreeMap<StreamId, StreamId>,
    used: u64,
}

pub(crate) struct RunIndex {
    sids: HashMap<u64, Hints>,
    total: usize,
    tick: u64,
    sid_cap: usize,
    total_cap: usize,
}

impl Default for RunIndex {
    fn default() -> Self {
        Self::with_caps(SID_CAP, TOTAL_CAP)
    }
}

impl RunIndex {
    pub(crate) fn with_caps(sid_cap: usize, total_cap: usize) -> Self {
        RunIndex {
            sids: HashMap::new(),
            total: 0,
            tick: 0,
            sid_cap: sid_cap.max(2),
            total_cap: total_cap.max(2),
        }
    }

    /// Hints kept in all.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.total
    }

    /// Where the run that may hold `id` is.
    pub(crate) fn lookup(&mut self, sid: u64, id: StreamId) -> Where {
        let Some(h) = self.sids.get_mut(&sid) else {
            return Where::Unknown;
        };
        self.tick += 1;
        h.used = self.tick;
        match h.map.range(..=id).next_back() {
            None => Where::Unknown,
            Some((&k, &c)) if id <= c => Where::Exact(k),
            Some((&k, _)) => Where::Above(k),
        }
    }

    /// `c(key)` if `key` is a hint.
    pub(crate) fn clear_to(&self, sid: u64, key: StreamId) -> Option<StreamId> {
        self.sids.get(&sid)?.map.get(&key).copied()
    }

    /// Records that `key` is a hint (a run key now, or already a hint) and that no run key lies
    /// in `(key, clear]`.
    pub(crate) fn learn(&mut self, sid: u64, key: StreamId, clear: StreamId) {
        debug_assert!(
            clear >= key,
            "run index: gap end {clear} below its key {key}"
        );
        let clear = clear.max(key);
        self.tick += 1;
        let tick = self.tick;
        let h = self.sids.entry(sid).or_insert_with(|| Hints {
            map: BTreeMap::new(),
            used: tick,
        });
        h.used = tick;
        // I3: stop below the next hint (a stale key may sit in the proven gap; it only loses
        // that much).
        let clear = match h.map.range((Excluded(key), Unbounded)).next() {
            Some((&next, _)) if clear >= next => next.predecessor().unwrap_or(key).max(key),
            _ => clear,
        };
        // The hint below must not cover `key` (I2 says no run key is in its gap, and `key` is a
        // run key or a hint already, which I3 keeps out of it).
        if let Some((&below, c)) = h.map.range_mut(..key).next_back() {
            debug_assert!(
                *c < key,
                "run index of {sid}: hint {below} covers {key} up to {c}"
            );
            if *c >= key {
                *c = key.predecessor().unwrap_or(below).max(below);
            }
        }
        match h.map.get_mut(&key) {
            Some(c) => *c = (*c).max(clear),
            None => {
                h.map.insert(key, clear);
                self.total += 1;
                if h.map.len() > self.sid_cap {
                    let before = h.map.len();
                    let mut keep = false;
                    h.map.retain(|k, _| {
                        keep = !keep;
                        keep || *k == key
                    });
                    self.total -= before - h.map.len();
                }
                if self.total > self.total_cap {
                    self.evict(sid);
                }
            }
        }
    }

    /// Brings the total down to three quarters of the cap, forgetting the incarnations read
    /// least recently (other than `keep`, which is thinned if that is not enough). One pass
    /// frees a quarter of the cap, so its cost is spread over that many insertions.
    fn evict(&mut self, keep: u64) {
        let target = self.total_cap / 4 * 3;
        let mut by_age: Vec<(u64, u64)> = self
            .sids
            .iter()
            .filter(|(s, _)| **s != keep)
            .map(|(s, h)| (h.used, *s))
            .collect();
        by_age.sort_unstable();
        for (_, s) in by_age {
            if self.total <= target {
                return;
            }
            self.forget(s);
        }
        while self.total > target {
            let Some(h) = self.sids.get_mut(&keep) else {
                return;
            };
            let before = h.map.len();
            let mut keep_it = false;
            h.map.retain(|_, _| {
                keep_it = !keep_it;
                keep_it
            });
            self.total -= before - h.map.len();
            if h.map.len() == before {
                return;
            }
        }
    }

    /// An append starts a run keyed `key` in `sid` (above every live ID).
    pub(crate) fn new_run(&mut self, sid: u64, key: StreamId) {
        let Some(h) = self.sids.get_mut(&sid) else {
            return;
        };
        if let Some(after) = key.successor() {
            if h.map.range(after..).next().is_some() {
                let dropped = h.map.split_off(&after);
                self.total -= dropped.len();
            }
        }
        if let Some((_, c)) = h.map.range_mut(..key).next_back() {
            if *c >= key {
                // `key` > the hint, so it has a predecessor.
                *c = key.predecessor().unwrap_or(*c);
            }
        }
    }

    /// Forgets every hint of `sid` (the incarnation is gone).
    pub(crate) fn forget(&mut self, sid: u64) {
        if let Some(h) = self.sids.remove(&sid) {
            self.total -= h.map.len();
        }
    }

    /// Checks I3 and the bookkeeping (debug builds and tests).
    pub(crate) fn check(&self) -> bool {
        let mut total = 0;
        for h in self.sids.values() {
            total += h.map.len();
            let mut prev: Option<StreamId> = None;
            for (&k, &c) in &h.map {
                if c < k || prev.is_some_and(|p| p >= k) {
                    return false;
                }
                prev = Some(c);
            }
        }
        total == self.total
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn id(n: u64) -> StreamId {
        StreamId::new(n, 0)
    }

    /// A model of a stream's runs: sorted keys, each with its IDs (all ≥ the key, below the
    /// next key), under the operations the store performs.
    #[derive(Debug, Clone)]
    enum Op {
        /// Append `n` entries to a new run (above every live ID, possibly below removed keys).
        Append { gap: u64, n: u64 },
        /// Delete the `i`-th live entry (modulo).
        Del(usize),
        /// Read at `x` (model of what the store learns).
        Read(u64),
        /// Lower the next append ID to just above the last live entry (XSETID below deleted).
        SetIdLow,
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            3 => (0u64..4, 1u64..5).prop_map(|(gap, n)| Op::Append { gap, n }),
            2 => any::<usize>().prop_map(Op::Del),
            4 => (0u64..200).prop_map(Op::Read),
            1 => Just(Op::SetIdLow),
        ]
    }

    /// The key of the run holding `x`, if any, from the model.
    fn holder(runs: &BTreeMap<u64, Vec<u64>>, x: u64) -> Option<u64> {
        runs.iter()
            .find(|(_, ids)| ids.contains(&x))
            .map(|(k, _)| *k)
    }

    proptest! {
        #[test]
        fn answers_agree_with_the_runs(ops in prop::collection::vec(op(), 1..120), cap in 2usize..8) {
            let sid = 7;
            let mut ix = RunIndex::with_caps(cap, cap * 2);
            let mut runs: BTreeMap<u64, Vec<u64>> = BTreeMap::new();
            let mut next = 1u64;
            for op in ops {
                match op {
                    Op::Append { gap, n } => {
                        let key = next + gap;
                        ix.new_run(sid, id(key));
                        runs.insert(key, (key..key + n).collect());
                        next = key + n;
                    }
                    Op::Del(i) => {
                        let live: Vec<(u64, u64)> = runs
                            .iter()
                            .flat_map(|(k, ids)| ids.iter().map(move |x| (*k, *x)))
                            .collect();
                        if !live.is_empty() {
                            let (k, x) = live[i % live.len()];
                            let ids = runs.get_mut(&k).expect("run");
                            ids.retain(|y| *y != x);
                            if ids.is_empty() {
                                runs.remove(&k);
                            }
                        }
                    }
                    Op::SetIdLow => {
                        let last = runs.values().flat_map(|v| v.iter()).max().copied();
                        next = last.map_or(1, |l| l + 1);
                    }
                    Op::Read(x) => {
                        // What the store does: ask, then learn from what the view shows.
                        let at_or_before = runs.range(..=x).next_back().map(|(k, v)| (*k, v.clone()));
                        match ix.lookup(sid, id(x)) {
                            Where::Exact(k) => {
                                if runs.contains_key(&k.ms) {
                                    prop_assert_eq!(Some(k.ms), at_or_before.as_ref().map(|r| r.0), "exact {} for {}", k, x);
                                } else {
                                    prop_assert_eq!(holder(&runs, x), None, "stale {} for {}", k, x);
                                }
                            }
                            Where::Above(l) => {
                                // The holder, if any, has a key in [l, x].
                                if let Some(k) = holder(&runs, x) {
                                    prop_assert!(l.ms <= k && k <= x);
                                }
                                // The store's bounded reverse seek, then what it learns.
                                match runs.range(l.ms..=x).next_back() {
                                    Some((k, ids)) => {
                                        let last = *ids.last().expect("live");
                                        ix.learn(sid, id(*k), id(last.max(x)));
                                    }
                                    None => ix.learn(sid, l, id(x)),
                                }
                            }
                            Where::Unknown => {
                                if let Some((k, ids)) = at_or_before {
                                    let last = *ids.last().expect("live");
                                    ix.learn(sid, id(k), id(last.max(x)));
                                }
                            }
                        }
                        // Adjacency, as a forward scan learns it.
                        if let Some((k, _)) = runs.range(..=x).next_back() {
                            if let Some((k2, _)) = runs.range(k + 1..).next() {
                                ix.learn(sid, id(*k), id(k2 - 1));
                                ix.learn(sid, id(*k2), id(*k2));
                            }
                        }
                    }
                }
                prop_assert!(ix.check());
                prop_assert!(ix.len() <= cap * 2);
                // Every hint obeys I1 and I2.
                if let Some(h) = ix.sids.get(&sid) {
                    for (&hk, &c) in &h.map {
                        for (&k, ids) in &runs {
                            if k < hk.ms {
                                prop_assert!(ids.iter().all(|&x| x < hk.ms), "I1 at {}", hk);
                            }
                            prop_assert!(!(hk.ms < k && k <= c.ms), "I2: run {} in ({}, {}]", k, hk, c);
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn new_run_drops_hints_above_and_clamps_the_one_below() {
        let mut ix = RunIndex::default();
        ix.learn(1, id(10), id(30));
        ix.learn(1, id(40), id(50));
        ix.new_run(1, id(20));
        assert_eq!(ix.clear_to(1, id(40)), None);
        assert_eq!(ix.clear_to(1, id(10)), Some(StreamId::new(19, u64::MAX)));
        assert_eq!(ix.lookup(1, id(15)), Where::Exact(id(10)));
        assert_eq!(ix.lookup(1, id(25)), Where::Above(id(10)));
        assert_eq!(ix.lookup(2, id(25)), Where::Unknown);
        assert!(ix.check());
        ix.forget(1);
        assert_eq!(ix.len(), 0);
    }

    #[test]
    fn caps_bound_the_hints() {
        let mut ix = RunIndex::with_caps(8, 12);
        for s in 0..3u64 {
            for k in 0..100u64 {
                ix.learn(s, id(k * 10), id(k * 10 + 5));
                assert!(ix.check());
                assert!(ix.len() <= 12);
            }
        }
    }
}
