//! Reference-aware deletion (`store/refs.rs`: XDELEX, XACKDEL, trimming with DELREF / ACKED)
//! on a real store: the entry deletions and the PEL changes of one command land in the same
//! commit — both survive a reopen, neither survives a crash before the commit — and a queue
//! group's indexes stay consistent when DELREF removes its pending entries.

use std::collections::BTreeSet;

use bytes::Bytes;
use sluice_storage::stream::layout::{NodeLimits, Trim};
use sluice_storage::stream::queue::QueueConfig;
use sluice_storage::stream::StreamId;
use sluice_storage::{DelOutcome, RefPolicy, Store, StoreOptions, Sync, TrimSpec};

const KEY: &[u8] = b"s";
const T0: u64 = 1_000_000;

fn options() -> StoreOptions {
    StoreOptions {
        databases: 1,
        cache_size: 1 << 20,
        pel_log_min_ops: 3,
        ..StoreOptions::default()
    }
}

fn tempdir() -> tempfile::TempDir {
    let shm = std::path::Path::new("/dev/shm");
    if std::env::var_os("TMPDIR").is_none() && shm.is_dir() {
        if let Ok(dir) = tempfile::tempdir_in(shm) {
            return dir;
        }
    }
    tempfile::tempdir().expect("tempdir")
}

fn id(n: u64) -> StreamId {
    StreamId::new(n, 0)
}

/// Small nodes, so that trims and deletes cross node and run boundaries.
fn limits() -> NodeLimits {
    NodeLimits {
        max_entries: 4,
        max_bytes: 4096,
    }
}

fn commit(s: &mut Store) {
    s.commit().expect("commit");
    s.persist(Sync::Os).expect("persist");
}

/// A stream with entries 1..=n and the given groups, each of which delivered 1..=read to
/// consumer `c` (so those are pending), committed.
fn setup(dir: &std::path::Path, n: u64, groups: &[(&str, u64)]) -> Store {
    let mut s = Store::open(dir, &options(), T0).expect("open");
    s.stream_create(0, Bytes::from_static(KEY));
    for i in 1..=n {
        let fields = [Bytes::from_static(b"n"), Bytes::from(i.to_string())];
        s.stream_append(0, KEY, id(i), &fields, limits(), T0);
        s.end_command();
    }
    for (g, read) in groups {
        assert!(s.create_group(
            0,
            KEY,
            Bytes::copy_from_slice(g.as_bytes()),
            StreamId::MIN,
            0
        ));
        let mut gm = s.group_mut(0, KEY, g.as_bytes()).expect("group");
        gm.deliver(&Bytes::from_static(b"c"), (1..=*read).map(id), false, T0);
    }
    commit(&mut s);
    s
}

fn live(s: &mut Store) -> Vec<u64> {
    s.stream_read(0, KEY, (StreamId::MIN, StreamId::MAX), false, None, T0)
        .expect("read")
        .iter()
        .map(|e| e.id.ms)
        .collect()
}

/// The group PEL and its consumer's PEL (which must agree), checked against the invariants.
fn pel(s: &mut Store, g: &str) -> Vec<u64> {
    let m = s.stream(0, KEY, T0).unwrap().unwrap();
    let grp = m.groups.get(g.as_bytes()).expect("group");
    grp.check().expect("group invariants");
    let ids: Vec<u64> = grp.pel().keys().map(|i| i.ms).collect();
    let by_consumer: BTreeSet<u64> = grp
        .consumers()
        .values()
        .flat_map(|c| c.pel().iter().map(|i| i.ms))
        .collect();
    assert_eq!(ids, by_consumer.into_iter().collect::<Vec<_>>());
    ids
}

fn reopen(s: Store, dir: &std::path::Path) -> Store {
    drop(s);
    Store::open(dir, &options(), T0 + 1).expect("reopen")
}

fn trim(strategy: Trim) -> TrimSpec {
    TrimSpec {
        strategy,
        approx: false,
        limit: 0,
    }
}

use DelOutcome::{Deleted as D, NotFound as N, Referenced as R};

#[test]
fn xackdel_delref_is_durable_and_atomic() {
    let dir = tempdir();
    let mut s = setup(dir.path(), 6, &[("g1", 6), ("g2", 4)]);
    let ids = [id(2), id(5), id(9), id(2)];
    // A crash before the commit: neither the deletions nor the PEL changes happened.
    let out = s
        .stream_ack_delete(0, KEY, b"g1", &ids, RefPolicy::DelRef, T0)
        .expect("xackdel");
    assert_eq!(out, vec![D, D, N, N]);
    assert_eq!(live(&mut s), vec![1, 3, 4, 6]);
    assert_eq!(pel(&mut s, "g2"), vec![1, 3, 4]);
    let mut s = reopen(s, dir.path());
    assert_eq!(live(&mut s), vec![1, 2, 3, 4, 5, 6]);
    assert_eq!(pel(&mut s, "g1"), vec![1, 2, 3, 4, 5, 6]);
    assert_eq!(pel(&mut s, "g2"), vec![1, 2, 3, 4]);
    // Committed: both survive.
    let out = s
        .stream_ack_delete(0, KEY, b"g1", &ids, RefPolicy::DelRef, T0)
        .expect("xackdel");
    assert_eq!(out, vec![D, D, N, N]);
    commit(&mut s);
    let mut s = reopen(s, dir.path());
    assert_eq!(live(&mut s), vec![1, 3, 4, 6]);
    assert_eq!(pel(&mut s, "g1"), vec![1, 3, 4, 6]);
    assert_eq!(pel(&mut s, "g2"), vec![1, 3, 4]);
    let m = s.stream(0, KEY, T0).unwrap().unwrap();
    assert_eq!((m.len(), m.first_id, m.max_deleted), (4, id(1), id(5)));
}

#[test]
fn xackdel_acked_keeps_what_another_group_needs() {
    let dir = tempdir();
    let mut s = setup(dir.path(), 4, &[("g1", 4), ("g2", 2)]);
    let all = [id(1), id(2), id(3), id(4)];
    // g2 has 1 and 2 pending and has not delivered 3 and 4: nothing can go.
    let out = s
        .stream_ack_delete(0, KEY, b"g1", &all, RefPolicy::Acked, T0)
        .expect("xackdel");
    assert_eq!(out, vec![R, R, R, R]);
    assert_eq!(pel(&mut s, "g1"), Vec::<u64>::new(), "acknowledged anyway");
    let out = s
        .stream_ack_delete(0, KEY, b"g2", &all, RefPolicy::Acked, T0)
        .expect("xackdel");
    assert_eq!(out, vec![D, D, N, N]);
    commit(&mut s);
    let mut s = reopen(s, dir.path());
    assert_eq!(live(&mut s), vec![3, 4]);
    assert_eq!(pel(&mut s, "g2"), Vec::<u64>::new());
    // XDELEX ACKED: 3 and 4 are still above g2's last delivered ID.
    let out = s
        .stream_delete_refs(0, KEY, &[id(3), id(1)], RefPolicy::Acked, T0)
        .expect("xdelex");
    assert_eq!(out, vec![R, N]);
}

#[test]
fn trim_delref_costs_the_cut_and_is_durable() {
    let dir = tempdir();
    let mut s = setup(dir.path(), 20, &[("g1", 20), ("g2", 10)]);
    // A KEEPREF delete leaves a dangling reference to 3 in both groups.
    let out = s
        .stream_delete_refs(0, KEY, &[id(3)], RefPolicy::KeepRef, T0)
        .expect("xdelex");
    assert_eq!(out, vec![D]);
    commit(&mut s);
    let removed = s
        .stream_trim_refs(0, KEY, trim(Trim::MaxLen(12)), RefPolicy::DelRef, None, T0)
        .expect("trim");
    assert_eq!(removed, 7, "1, 2, 4..=8");
    commit(&mut s);
    let mut s = reopen(s, dir.path());
    assert_eq!(live(&mut s), (9..=20).collect::<Vec<_>>());
    // The references inside the trimmed range went, the ones above stayed.
    assert_eq!(pel(&mut s, "g1"), (9..=20).collect::<Vec<_>>());
    assert_eq!(pel(&mut s, "g2"), vec![9, 10]);
    // XDELEX DELREF of an entry pending in both groups.
    let out = s
        .stream_delete_refs(0, KEY, &[id(10), id(10), id(99)], RefPolicy::DelRef, T0)
        .expect("xdelex");
    assert_eq!(out, vec![D, N, N]);
    commit(&mut s);
    let mut s = reopen(s, dir.path());
    assert_eq!(pel(&mut s, "g2"), vec![9]);
    assert_eq!(pel(&mut s, "g1").first(), Some(&9));
    assert!(!pel(&mut s, "g1").contains(&10));
}

#[test]
fn trim_acked_skips_pending_entries_and_goes_on() {
    let dir = tempdir();
    let mut s = setup(dir.path(), 20, &[("g1", 16), ("g2", 18)]);
    // Everything acknowledged except 3 (g1) and 7, 12 (g2).
    {
        let mut g = s.group_mut(0, KEY, b"g1").unwrap();
        for i in (1..=16).filter(|i| *i != 3) {
            assert!(g.ack(id(i)));
        }
    }
    {
        let mut g = s.group_mut(0, KEY, b"g2").unwrap();
        for i in (1..=18).filter(|i| *i != 7 && *i != 12) {
            assert!(g.ack(id(i)));
        }
    }
    commit(&mut s);
    // MINID 10: 1, 2, 4, 5, 6, 8, 9 go; 3 and 7 stay.
    let n = s
        .stream_trim_refs(
            0,
            KEY,
            trim(Trim::MinId(id(10))),
            RefPolicy::Acked,
            None,
            T0,
        )
        .expect("trim");
    assert_eq!(n, 7);
    assert_eq!(
        live(&mut s),
        vec![3, 7, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20]
    );
    // MAXLEN 5 wants 8 more: only 10, 11, 13..=16 can go (17+ not delivered by g1).
    let n = s
        .stream_trim_refs(0, KEY, trim(Trim::MaxLen(5)), RefPolicy::Acked, None, T0)
        .expect("trim");
    assert_eq!(n, 6);
    // LIMIT caps the deletions of an approximate trim.
    s.group_mut(0, KEY, b"g1").unwrap().ack(id(3));
    let spec = TrimSpec {
        strategy: Trim::MaxLen(0),
        approx: true,
        limit: 1,
    };
    assert_eq!(
        s.stream_trim_refs(0, KEY, spec, RefPolicy::Acked, None, T0)
            .unwrap(),
        1
    );
    commit(&mut s);
    let mut s = reopen(s, dir.path());
    assert_eq!(live(&mut s), vec![7, 12, 17, 18, 19, 20]);
    assert_eq!(pel(&mut s, "g2"), vec![7, 12]);
    let m = s.stream(0, KEY, T0).unwrap().unwrap();
    assert_eq!((m.len(), m.first_id), (6, id(7)));
}

#[test]
fn acked_trim_of_xadds_own_entry() {
    let dir = tempdir();
    let mut s = setup(dir.path(), 3, &[("g", 0)]);
    // The group is past everything, even the entry about to be added.
    s.group_mut(0, KEY, b"g").unwrap().set_last_id(id(100), 0);
    let fields = [Bytes::from_static(b"n"), Bytes::from_static(b"4")];
    s.stream_append(0, KEY, id(4), &fields, limits(), T0);
    let n = s
        .stream_trim_refs(
            0,
            KEY,
            trim(Trim::MaxLen(0)),
            RefPolicy::Acked,
            Some(id(4)),
            T0,
        )
        .expect("trim");
    assert_eq!(n, 4);
    s.end_command();
    commit(&mut s);
    let mut s = reopen(s, dir.path());
    assert_eq!(live(&mut s), Vec::<u64>::new());
    let m = s.stream(0, KEY, T0).unwrap().unwrap();
    assert_eq!((m.len(), m.last_id), (0, id(4)));
}

#[test]
fn delref_keeps_a_queue_groups_indexes_right() {
    let dir = tempdir();
    let mut s = setup(dir.path(), 8, &[]);
    assert!(s.create_group(0, KEY, Bytes::from_static(b"q"), StreamId::MIN, 0));
    s.group_mut(0, KEY, b"q").unwrap().configure(QueueConfig {
        visibility_ms: 100,
        max_deliver: 0,
        dead_letter: None,
    });
    let c = Bytes::from_static(b"w");
    let got = s
        .queue_take(0, KEY, b"q", &c, T0, Some(8), limits())
        .expect("take");
    assert!(got.is_empty(), "nothing to redeliver yet");
    s.group_mut(0, KEY, b"q")
        .unwrap()
        .deliver(&c, (1..=8).map(id), false, T0);
    commit(&mut s);
    let n = s
        .stream_trim_refs(
            0,
            KEY,
            trim(Trim::MinId(id(6))),
            RefPolicy::DelRef,
            None,
            T0,
        )
        .expect("trim");
    assert_eq!(n, 5);
    assert_eq!(pel(&mut s, "q"), vec![6, 7, 8]);
    commit(&mut s);
    let mut s = reopen(s, dir.path());
    assert_eq!(pel(&mut s, "q"), vec![6, 7, 8]);
    // Past the visibility timeout only what is still pending is redelivered.
    let again: Vec<u64> = s
        .queue_take(0, KEY, b"q", &c, T0 + 1000, Some(10), limits())
        .expect("take")
        .iter()
        .map(|e| e.id.ms)
        .collect();
    assert_eq!(again, vec![6, 7, 8]);
}

// ---------------------------------------------------------------------------------------------
// Model test: random appends, deliveries, acks, XDELEX, XACKDEL and exact trims under every
// policy, commits, reopenings and crashes, against a model of the stream and two groups.

use proptest::prelude::*;

const GROUPS: [&str; 2] = ["g0", "g1"];

#[derive(Clone, Debug)]
enum Op {
    Append(u8),
    Deliver(usize, u8),
    Ack(usize, u64),
    DelEx(Vec<u64>, RefPolicy),
    AckDel(usize, Vec<u64>, RefPolicy),
    Trim(bool, u64, RefPolicy),
    Commit,
    Reopen,
    Crash,
}

fn policy() -> impl Strategy<Value = RefPolicy> {
    prop_oneof![
        Just(RefPolicy::KeepRef),
        Just(RefPolicy::DelRef),
        Just(RefPolicy::Acked)
    ]
}

fn op() -> impl Strategy<Value = Op> {
    let ids = proptest::collection::vec(1u64..40, 1..5);
    prop_oneof![
        3 => (1u8..6).prop_map(Op::Append),
        3 => (0usize..2, 1u8..6).prop_map(|(g, n)| Op::Deliver(g, n)),
        3 => (0usize..2, 1u64..40).prop_map(|(g, i)| Op::Ack(g, i)),
        2 => (ids.clone(), policy()).prop_map(|(i, p)| Op::DelEx(i, p)),
        2 => (0usize..2, ids, policy()).prop_map(|(g, i, p)| Op::AckDel(g, i, p)),
        2 => (any::<bool>(), 0u64..40, policy()).prop_map(|(m, n, p)| Op::Trim(m, n, p)),
        1 => Just(Op::Commit),
        1 => Just(Op::Reopen),
        1 => Just(Op::Crash),
    ]
}

#[derive(Clone, Debug, Default, PartialEq)]
struct Model {
    entries: BTreeSet<u64>,
    next: u64,
    /// Per group: last delivered ID and the pending IDs.
    groups: [(u64, BTreeSet<u64>); 2],
}

impl Model {
    fn referenced(&self, i: u64) -> bool {
        self.groups
            .iter()
            .any(|(last, pel)| i > *last || pel.contains(&i))
    }

    fn drop_refs(&mut self, i: u64) {
        for (_, pel) in self.groups.iter_mut() {
            pel.remove(&i);
        }
    }

    fn delex(&mut self, ids: &[u64], p: RefPolicy) -> Vec<DelOutcome> {
        ids.iter()
            .map(|&i| {
                if !self.entries.contains(&i) {
                    DelOutcome::NotFound
                } else if p == RefPolicy::Acked && self.referenced(i) {
                    DelOutcome::Referenced
                } else {
                    self.entries.remove(&i);
                    if p == RefPolicy::DelRef {
                        self.drop_refs(i);
                    }
                    DelOutcome::Deleted
                }
            })
            .collect()
    }

    fn ackdel(&mut self, g: usize, ids: &[u64], p: RefPolicy) -> Vec<DelOutcome> {
        ids.iter()
            .map(|&i| {
                if !self.groups[g].1.remove(&i) {
                    DelOutcome::NotFound
                } else if p == RefPolicy::Acked && self.referenced(i) {
                    DelOutcome::Referenced
                } else {
                    self.entries.remove(&i);
                    if p == RefPolicy::DelRef {
                        self.drop_refs(i);
                    }
                    DelOutcome::Deleted
                }
            })
            .collect()
    }

    fn trim(&mut self, maxlen: bool, n: u64, p: RefPolicy) -> u64 {
        let live: Vec<u64> = self.entries.iter().copied().collect();
        let (want, below) = if maxlen {
            ((live.len() as u64).saturating_sub(n), u64::MAX)
        } else {
            (u64::MAX, n)
        };
        let mut gone = Vec::new();
        if p == RefPolicy::Acked {
            let hi = self
                .groups
                .iter()
                .map(|(l, _)| *l)
                .min()
                .unwrap_or(u64::MAX);
            for &i in &live {
                if i > hi || i >= below || gone.len() as u64 >= want {
                    break;
                }
                if !self.groups.iter().any(|(_, pel)| pel.contains(&i)) {
                    gone.push(i);
                }
            }
        } else {
            gone = live
                .iter()
                .copied()
                .take_while(|i| *i < below)
                .take(want.min(live.len() as u64) as usize)
                .collect();
        }
        for i in &gone {
            self.entries.remove(i);
        }
        if p == RefPolicy::DelRef && !gone.is_empty() {
            // Every reference from the old first entry up to the new first one goes.
            let from = live[0];
            let to = self.entries.first().copied().unwrap_or(u64::MAX);
            for (_, pel) in self.groups.iter_mut() {
                pel.retain(|i| *i < from || *i >= to);
            }
        }
        gone.len() as u64
    }
}

fn run_model(ops: Vec<Op>) -> Result<(), TestCaseError> {
    let dir = tempdir();
    let mut s = setup(dir.path(), 0, &[("g0", 0), ("g1", 0)]);
    let mut m = Model {
        next: 1,
        ..Model::default()
    };
    let mut committed = m.clone();
    let ids = |v: &[u64]| v.iter().map(|i| id(*i)).collect::<Vec<_>>();
    for op in ops {
        match op {
            Op::Append(n) => {
                for _ in 0..n {
                    let fields = [Bytes::from_static(b"f"), Bytes::from_static(b"v")];
                    s.stream_append(0, KEY, id(m.next), &fields, limits(), T0);
                    s.end_command();
                    m.entries.insert(m.next);
                    m.next += 1;
                }
            }
            Op::Deliver(g, n) => {
                let last = m.groups[g].0;
                let new: Vec<u64> = m
                    .entries
                    .range(last + 1..)
                    .take(n as usize)
                    .copied()
                    .collect();
                let got: Vec<u64> = s
                    .stream_read(
                        0,
                        KEY,
                        (id(last + 1), StreamId::MAX),
                        false,
                        Some(n as usize),
                        T0,
                    )
                    .expect("read")
                    .iter()
                    .map(|e| e.id.ms)
                    .collect();
                prop_assert_eq!(&got, &new);
                if !new.is_empty() {
                    s.group_mut(0, KEY, GROUPS[g].as_bytes()).unwrap().deliver(
                        &Bytes::from_static(b"c"),
                        new.iter().map(|i| id(*i)),
                        false,
                        T0,
                    );
                    m.groups[g].0 = *new.last().unwrap();
                    m.groups[g].1.extend(new);
                }
            }
            Op::Ack(g, i) => {
                let got = s
                    .group_mut(0, KEY, GROUPS[g].as_bytes())
                    .unwrap()
                    .ack(id(i));
                prop_assert_eq!(got, m.groups[g].1.remove(&i));
            }
            Op::DelEx(v, p) => {
                let got = s
                    .stream_delete_refs(0, KEY, &ids(&v), p, T0)
                    .expect("xdelex");
                prop_assert_eq!(got, m.delex(&v, p));
            }
            Op::AckDel(g, v, p) => {
                let got = s
                    .stream_ack_delete(0, KEY, GROUPS[g].as_bytes(), &ids(&v), p, T0)
                    .expect("xackdel");
                prop_assert_eq!(got, m.ackdel(g, &v, p));
            }
            Op::Trim(maxlen, n, p) => {
                let strategy = if maxlen {
                    Trim::MaxLen(n)
                } else {
                    Trim::MinId(id(n))
                };
                let got = s
                    .stream_trim_refs(0, KEY, trim(strategy), p, None, T0)
                    .expect("trim");
                s.end_command();
                prop_assert_eq!(got, m.trim(maxlen, n, p));
            }
            Op::Commit => {
                commit(&mut s);
                committed = m.clone();
            }
            Op::Reopen => {
                commit(&mut s);
                committed = m.clone();
                s = reopen(s, dir.path());
            }
            Op::Crash => {
                s = reopen(s, dir.path());
                m = committed.clone();
            }
        }
        prop_assert_eq!(live(&mut s), m.entries.iter().copied().collect::<Vec<_>>());
        for (g, name) in GROUPS.iter().enumerate() {
            prop_assert_eq!(
                pel(&mut s, name),
                m.groups[g].1.iter().copied().collect::<Vec<_>>()
            );
        }
        let meta = s.stream(0, KEY, T0).unwrap().unwrap();
        prop_assert_eq!(meta.len(), m.entries.len() as u64);
        prop_assert_eq!(meta.first_id.ms, m.entries.first().copied().unwrap_or(0));
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(64),
        ..ProptestConfig::default()
    })]

    #[test]
    fn reference_aware_deletion_matches_the_model(ops in proptest::collection::vec(op(), 1..80)) {
        run_model(ops)?;
    }
}
