//! Property test of the durable consumer-group state (`store/groups.rs`): random sequences of
//! group operations — create/destroy groups, deliveries, claims, acknowledgements, history
//! re-deliveries, consumer deletion, DEL of the stream — driven through the store the way the
//! server's handlers drive it (through the methods of the `GroupMut` handle `group_mut` returns,
//! which stage their own records), with commits, reopenings and crashes in between.
//!
//! The reference is the store's own in-memory state at each commit: what the disk must give
//! back is exactly the groups, consumers and pending entries that were in memory when the last
//! commit happened. The cleaning threshold is tiny here, so the oldest log records are deleted
//! and cleaned (their live states logged again) over and over:
//! * `Reopen` (commit, persist, drop, open) must give back the state of that commit;
//! * `Crash` drops the store without committing: the state of the last commit comes back;
//! * `ProcessCrash` opens a copy of the directory as it is (what kill -9 leaves): it must equal
//!   one of the states committed since the last persist.
//!
//! `PROPTEST_CASES` sets the number of cases (default 64).

use std::collections::BTreeMap;

use bytes::Bytes;
use proptest::collection::vec;
use proptest::prelude::*;
use sluice_storage::store::{ClaimSpec, GroupMut};
use sluice_storage::stream::StreamId;
use sluice_storage::{Store, StoreOptions, Sync};

const KEY: &[u8] = b"s";
const GROUPS: &[&[u8]] = &[b"g1", b"g2"];
const CONSUMERS: &[&[u8]] = &[b"alice", b"bob", b"carol"];
const T0: u64 = 1_000_000;

#[derive(Clone, Debug)]
enum Op {
    Create(usize),
    Destroy(usize),
    /// Deliver `n` IDs from `from` to a consumer (XREADGROUP `>` with COUNT n).
    Deliver {
        g: usize,
        c: usize,
        from: u64,
        n: u64,
    },
    /// XCLAIM of one ID (pending or not) to a consumer with a delivery count.
    Claim {
        g: usize,
        c: usize,
        id: u64,
        count: u64,
    },
    /// XACK of a few IDs.
    Ack {
        g: usize,
        ids: Vec<u64>,
    },
    /// History read of a pending ID: its delivery count and time change in place.
    History {
        g: usize,
        id: u64,
    },
    DelConsumer {
        g: usize,
        c: usize,
    },
    /// DEL of the stream, then a new one under the same name.
    Recreate,
    Commit,
    Reopen,
    Crash,
    ProcessCrash,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        2 => (0..GROUPS.len()).prop_map(Op::Create),
        1 => (0..GROUPS.len()).prop_map(Op::Destroy),
        10 => (0..GROUPS.len(), 0..CONSUMERS.len(), 1u64..16, 1u64..6)
            .prop_map(|(g, c, from, n)| Op::Deliver { g, c, from, n }),
        3 => (0..GROUPS.len(), 0..CONSUMERS.len(), 1u64..16, 1u64..5)
            .prop_map(|(g, c, id, count)| Op::Claim { g, c, id, count }),
        10 => (0..GROUPS.len(), vec(1u64..16, 1..6)).prop_map(|(g, ids)| Op::Ack { g, ids }),
        3 => (0..GROUPS.len(), 1u64..16).prop_map(|(g, id)| Op::History { g, id }),
        1 => (0..GROUPS.len(), 0..CONSUMERS.len()).prop_map(|(g, c)| Op::DelConsumer { g, c }),
        1 => Just(Op::Recreate),
        8 => Just(Op::Commit),
        3 => Just(Op::Reopen),
        2 => Just(Op::Crash),
        2 => Just(Op::ProcessCrash),
    ]
}

/// Everything about a stream's groups that must survive a restart.
type PendingState = BTreeMap<u64, (u32, u64, u64)>;
type ConsumerState = BTreeMap<Vec<u8>, (u32, u64, i64, Vec<u64>)>;
type State = BTreeMap<Vec<u8>, (u64, i64, ConsumerState, PendingState)>;

fn id(n: u64) -> StreamId {
    StreamId::new(n, 0)
}

fn state(store: &mut Store, now: u64) -> State {
    let Ok(Some(meta)) = store.stream(0, KEY, now) else {
        return State::new();
    };
    meta.groups
        .iter()
        .map(|(name, g)| {
            g.check().expect("group invariants");
            let consumers = g
                .consumers()
                .iter()
                .map(|(n, c)| {
                    let pel = c.pel().iter().map(|i| i.ms).collect();
                    (n.to_vec(), (c.cid(), c.seen_time(), c.active_time(), pel))
                })
                .collect();
            let pel = g
                .pel()
                .iter()
                .map(|(i, n)| (i.ms, (n.cid(), n.delivery_time(), n.delivery_count())))
                .collect();
            (
                name.to_vec(),
                (g.last_id().ms, g.entries_read(), consumers, pel),
            )
        })
        .collect()
}

fn options() -> StoreOptions {
    StoreOptions {
        databases: 1,
        cache_size: 1 << 20,
        // Clean after a handful of ops: cleaning happens all the time.
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

fn copy_tree(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for e in std::fs::read_dir(from).expect("read_dir") {
        let e = e.expect("dir entry");
        let target = to.join(e.file_name());
        if e.file_type().expect("file type").is_dir() {
            copy_tree(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), &target).expect("copy");
        }
    }
}

struct Harness {
    dir: tempfile::TempDir,
    store: Option<Store>,
    now: u64,
    /// The state at the last commit, and every state committed since the last persist.
    committed: State,
    since_persist: Vec<State>,
}

impl Harness {
    fn store(&mut self) -> &mut Store {
        self.store.as_mut().expect("open store")
    }

    fn commit(&mut self, persist: bool) {
        let now = self.now;
        let store = self.store();
        store.commit().expect("commit");
        if persist {
            store.persist(Sync::Os).expect("persist");
        }
        let s = state(store, now);
        if persist {
            self.since_persist.clear();
        }
        self.since_persist.push(s.clone());
        self.committed = s;
    }

    fn reopen_and_check(&mut self, what: &str) -> Result<(), TestCaseError> {
        let store = Store::open(self.dir.path(), &options(), self.now).expect("reopen");
        self.store = Some(store);
        let now = self.now;
        let got = state(self.store(), now);
        prop_assert_eq!(&got, &self.committed, "after {}", what);
        self.since_persist = vec![got];
        Ok(())
    }

    fn change(&mut self, g: usize, f: impl FnOnce(&mut GroupMut<'_>)) {
        if let Some(mut group) = self.store().group_mut(0, KEY, GROUPS[g]) {
            f(&mut group);
        }
    }

    fn apply(&mut self, op: &Op) -> Result<(), TestCaseError> {
        self.now += 7;
        let now = self.now;
        match op {
            Op::Create(g) => {
                self.store()
                    .create_group(0, KEY, Bytes::from_static(GROUPS[*g]), id(0), 0);
            }
            Op::Destroy(g) => {
                self.store().destroy_group(0, KEY, GROUPS[*g]);
            }
            Op::Deliver { g, c, from, n } => {
                let (from, n) = (*from, *n);
                self.change(*g, |grp| {
                    let consumer = Bytes::from_static(CONSUMERS[*c]);
                    grp.deliver(&consumer, (from..from + n).map(id), false, now);
                });
            }
            Op::Claim { g, c, id: i, count } => {
                let (i, count) = (*i, *count);
                self.change(*g, |grp| {
                    let spec = ClaimSpec {
                        min_idle: 0,
                        delivery_time: now,
                        retry_count: Some(count),
                        force: false,
                        justid: false,
                    };
                    grp.claim(&Bytes::from_static(CONSUMERS[*c]), id(i), true, &spec, now);
                });
            }
            Op::Ack { g, ids } => {
                self.change(*g, |grp| {
                    for i in ids {
                        grp.ack(id(*i));
                    }
                });
            }
            Op::History { g, id: i } => {
                let i = *i;
                self.change(*g, |grp| {
                    grp.redeliver(id(i), now);
                });
            }
            Op::DelConsumer { g, c } => {
                self.change(*g, |grp| {
                    grp.delete_consumer(CONSUMERS[*c]);
                });
            }
            Op::Recreate => {
                self.store().delete(0, KEY);
                self.store().stream_create(0, Bytes::from_static(KEY));
            }
            Op::Commit => self.commit(true),
            Op::Reopen => {
                self.commit(true);
                self.store = None;
                self.reopen_and_check("reopen")?;
            }
            Op::Crash => {
                self.store = None;
                self.reopen_and_check("crash")?;
            }
            Op::ProcessCrash => {
                let copy = tempdir();
                copy_tree(self.dir.path(), copy.path());
                let mut other = Store::open(copy.path(), &options(), now).expect("open copy");
                let got = state(&mut other, now);
                prop_assert!(
                    self.since_persist.contains(&got),
                    "process crash gave a state never committed: {:?}",
                    got
                );
            }
        }
        Ok(())
    }
}

fn run(ops: Vec<Op>) -> Result<(), TestCaseError> {
    let dir = tempdir();
    let mut store = Store::open(dir.path(), &options(), T0).expect("open");
    store.stream_create(0, Bytes::from_static(KEY));
    store.commit().expect("commit");
    let mut h = Harness {
        dir,
        store: Some(store),
        now: T0,
        committed: State::new(),
        since_persist: Vec::new(),
    };
    h.commit(true);
    for op in &ops {
        h.apply(op)?;
    }
    // Whatever the sequence ended with, a clean reopen gives back the last commit.
    h.apply(&Op::Reopen)
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(64),
        ..ProptestConfig::default()
    })]

    #[test]
    fn group_state_survives_reopen_and_crashes(ops in vec(op(), 1..200)) {
        run(ops)?;
    }
}

/// A long, deterministic run: a queue that delivers and acknowledges far more messages than
/// the cleaning threshold, so the log is cleaned many times, with restarts.
#[test]
fn long_queue_cleans_its_log_and_reloads() {
    let mut ops = Vec::new();
    for round in 0..300u64 {
        let from = round % 12 + 1;
        ops.push(Op::Deliver {
            g: 0,
            c: (round % 3) as usize,
            from,
            n: 5,
        });
        ops.push(Op::Ack {
            g: 0,
            ids: (from..from + 4).collect(),
        });
        if round % 7 == 0 {
            ops.push(Op::Commit);
        }
        if round % 97 == 0 {
            ops.push(Op::Reopen);
        }
    }
    ops.insert(0, Op::Create(0));
    run(ops).expect("long run");
}

/// The shape of a backlog drained by acknowledgements (the XACK benchmark): many entries
/// delivered in big batches, then acknowledged in order in small commits. The records holding
/// only acknowledgements are deleted as soon as the delivery records they cancel are gone, so
/// the log stays within the PEL plus about two batches, and never needs cleaning (copying
/// pending states forward) with a cleaning threshold of a few batches. (Deleting only the
/// oldest records, the log kept all N ops until the last delivery record died, and cleaning
/// copied forward a good part of the backlog.)
#[test]
fn acknowledging_a_backlog_in_order_needs_no_cleaning() {
    const BATCH: u64 = 500;
    const N: u64 = 20 * BATCH;
    let options = StoreOptions {
        pel_log_min_ops: 4 * BATCH,
        ..options()
    };
    let dir = tempdir();
    let mut store = Store::open(dir.path(), &options, T0).expect("open");
    store.stream_create(0, Bytes::from_static(KEY));
    store.create_group(0, KEY, Bytes::from_static(GROUPS[0]), id(0), 0);
    let consumer = Bytes::from_static(CONSUMERS[0]);
    for from in (1..=N).step_by(BATCH as usize) {
        let mut g = store.group_mut(0, KEY, GROUPS[0]).expect("group");
        g.deliver(&consumer, (from..from + BATCH).map(id), false, T0);
        drop(g);
        store.commit().expect("commit");
    }
    let stats = |store: &mut Store| {
        let g = store.group_mut(0, KEY, GROUPS[0]).expect("group");
        let g = g.group();
        g.check().expect("invariants");
        (g.pel().len() as u64, g.pel_log_stats())
    };
    assert_eq!(stats(&mut store).1.ops, N);
    for from in (1..=N).step_by(37) {
        let mut g = store.group_mut(0, KEY, GROUPS[0]).expect("group");
        for i in from..(from + 37).min(N + 1) {
            assert!(g.ack(id(i)), "{i} pending");
        }
        drop(g);
        store.commit().expect("commit");
        let (pel, log) = stats(&mut store);
        assert!(
            log.ops <= pel + 2 * BATCH + 37,
            "log of {} ops for a PEL of {pel}",
            log.ops
        );
        assert_eq!(
            log.cleaned_states, 0,
            "cleaning copied pending states forward"
        );
    }
    let (pel, log) = stats(&mut store);
    assert_eq!((pel, log.records, log.ops), (0, 0, 0));
    store.persist(Sync::Os).expect("persist");
    drop(store);
    let mut store = Store::open(dir.path(), &options, T0).expect("reopen");
    assert_eq!(stats(&mut store).0, 0);
}

/// A pending entry changed in place by a history read (XREADGROUP with an ID) after its log
/// record was cleaned, then more churn that cleans the log again: the new state must survive.
#[test]
fn history_change_survives_log_cleaning() {
    let mut ops = vec![
        Op::Create(0),
        Op::Deliver {
            g: 0,
            c: 0,
            from: 1,
            n: 1,
        },
    ];
    let churn = |ops: &mut Vec<Op>| {
        for _ in 0..10 {
            ops.push(Op::Deliver {
                g: 0,
                c: 1,
                from: 10,
                n: 3,
            });
            ops.push(Op::Ack {
                g: 0,
                ids: vec![10, 11, 12],
            });
            ops.push(Op::Commit);
        }
    };
    churn(&mut ops);
    ops.push(Op::History { g: 0, id: 1 });
    ops.push(Op::Commit);
    churn(&mut ops);
    ops.push(Op::Crash);
    run(ops).expect("history change survives cleaning");
}
