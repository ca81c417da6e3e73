//! XNACK's NACK zone and XREADGROUP CLAIM's claims on a real store: a model property test of
//! random deliveries, acknowledgements, XNACKs (all modes, RETRYCOUNT, FORCE), claims,
//! commits, reopenings and crashes (a drop without commit), against a model that says who
//! owns each pending entry, its delivery count, and the NACK zone's order. After every
//! step the store must agree with the model (a crash rolls the model back to the last
//! commit), and `Group::check` holds (asserted in debug builds by the store itself).
//!
//! `PROPTEST_CASES` sets the number of cases (default 64).

use std::collections::BTreeMap;

use bytes::Bytes;
use proptest::prelude::*;
use sluice_storage::store::{ClaimSpec, NackMode, NACK_FATAL_COUNT};
use sluice_storage::stream::layout::NodeLimits;
use sluice_storage::stream::StreamId;
use sluice_storage::{Store, StoreOptions, Sync};

const KEY: &[u8] = b"s";
const GROUP: &[u8] = b"g";
const N: u64 = 12;
const T0: u64 = 1_000_000;

fn options() -> StoreOptions {
    StoreOptions {
        databases: 1,
        cache_size: 1 << 20,
        pel_log_min_ops: 3,
        ..StoreOptions::default()
    }
}

fn id(n: u64) -> StreamId {
    StreamId::new(n, 0)
}

#[derive(Clone, Debug)]
enum Op {
    Deliver(u8, usize),
    Ack(u64),
    Nack(u64, u8, Option<u64>, bool),
    Claim(u8, usize),
    Commit,
    Reopen,
    Crash,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0..3u8, 1..4usize).prop_map(|(c, n)| Op::Deliver(c, n)),
        2 => (1..=N).prop_map(Op::Ack),
        4 => (1..=N + 1, 0..3u8, proptest::option::weighted(0.2, 0..5u64), any::<bool>())
            .prop_map(|(i, m, r, f)| Op::Nack(i, m, r, f)),
        2 => (0..3u8, 1..4usize).prop_map(|(c, n)| Op::Claim(c, n)),
        2 => Just(Op::Commit),
        1 => Just(Op::Reopen),
        1 => Just(Op::Crash),
    ]
}

/// Pending entries: id → (owner, delivery count, NACK-zone order if released).
#[derive(Clone, Debug, Default, PartialEq)]
struct Model {
    pel: BTreeMap<u64, (Option<String>, u64, Option<u64>)>,
    last: u64,
    order: u64,
}

impl Model {
    fn zone(&self) -> Vec<u64> {
        let mut z: Vec<(u64, u64)> = self
            .pel
            .iter()
            .filter_map(|(i, (_, _, o))| o.map(|o| (o, *i)))
            .collect();
        z.sort();
        z.into_iter().map(|(_, i)| i).collect()
    }
}

fn name(c: u8) -> Bytes {
    Bytes::from(format!("c{c}"))
}

fn check(s: &mut Store, m: &Model) {
    let meta = s.stream(0, KEY, T0).expect("stream").expect("exists");
    let g = meta.groups.get(GROUP).expect("group");
    g.check().expect("invariants");
    let got: BTreeMap<u64, (Option<String>, u64, bool)> = g
        .pel()
        .iter()
        .map(|(i, n)| {
            let owner = g
                .consumer_name(n.cid())
                .map(|b| String::from_utf8_lossy(b).into_owned());
            (i.ms, (owner, n.delivery_count(), n.is_nacked()))
        })
        .collect();
    let want: BTreeMap<u64, (Option<String>, u64, bool)> = m
        .pel
        .iter()
        .map(|(i, (o, c, z))| (*i, (o.clone(), *c, z.is_some())))
        .collect();
    assert_eq!(got, want);
    let zone: Vec<u64> = g.nacked().values().map(|i| i.ms).collect();
    assert_eq!(zone, m.zone(), "NACK zone order");
    assert_eq!(g.last_id(), id(m.last));
}

fn run(ops: Vec<Op>) {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut s = Store::open(dir.path(), &options(), T0).expect("open");
    s.stream_create(0, Bytes::from_static(KEY));
    for n in 1..=N {
        let f = [Bytes::from_static(b"f"), Bytes::from(n.to_string())];
        s.stream_append(0, KEY, id(n), &f, NodeLimits::default(), T0);
        s.end_command();
    }
    assert!(s.create_group(0, KEY, Bytes::from_static(GROUP), StreamId::MIN, 0));
    s.commit().expect("commit");
    s.persist(Sync::Os).expect("persist");
    let mut m = Model::default();
    let mut committed = m.clone();
    let mut now = T0;
    for op in ops {
        now += 1;
        match op {
            Op::Deliver(c, n) => {
                let ids: Vec<StreamId> = (m.last + 1..=N).take(n).map(id).collect();
                let mut g = s.group_mut(0, KEY, GROUP).expect("group");
                g.deliver(&name(c), ids.iter().copied(), false, now);
                for i in ids {
                    m.pel.insert(i.ms, (Some(format!("c{c}")), 1, None));
                    m.last = i.ms;
                }
            }
            Op::Ack(i) => {
                let mut g = s.group_mut(0, KEY, GROUP).expect("group");
                assert_eq!(g.ack(id(i)), m.pel.remove(&i).is_some());
            }
            Op::Nack(i, mode, retry, force) => {
                let mode = [NackMode::Silent, NackMode::Fail, NackMode::Fatal][mode as usize];
                let in_stream = i <= N;
                let mut g = s.group_mut(0, KEY, GROUP).expect("group");
                let done = g.xnack(id(i), mode, retry, force, in_stream);
                let count = match m.pel.get(&i) {
                    Some((_, c, _)) => Some(retry.unwrap_or(match mode {
                        NackMode::Silent => c.saturating_sub(1),
                        NackMode::Fail => *c,
                        NackMode::Fatal => NACK_FATAL_COUNT,
                    })),
                    None if force && in_stream => {
                        Some(retry.unwrap_or(if mode == NackMode::Fatal {
                            NACK_FATAL_COUNT
                        } else {
                            0
                        }))
                    }
                    None => None,
                };
                assert_eq!(done, count.is_some());
                if let Some(c) = count {
                    m.order += 1;
                    m.pel.insert(i, (None, c, Some(m.order)));
                }
            }
            Op::Claim(c, n) => {
                // XREADGROUP CLAIM 0: the zone first, then longest idle first.
                let mut g = s.group_mut(0, KEY, GROUP).expect("group");
                let got = g.claimable(now, 0, n, &Default::default());
                let spec = ClaimSpec {
                    min_idle: 0,
                    delivery_time: now,
                    retry_count: None,
                    force: false,
                    justid: false,
                };
                for (i, _) in &got {
                    g.claim(&name(c), *i, true, &spec, now);
                }
                drop(g);
                let zone = m.zone();
                let got_ids: Vec<u64> = got.iter().map(|(i, _)| i.ms).collect();
                let k = zone.len().min(n);
                assert_eq!(
                    &got_ids[..k.min(got_ids.len())],
                    &zone[..k],
                    "zone claimed first"
                );
                for i in got_ids {
                    let e = m.pel.get_mut(&i).expect("claimed a pending entry");
                    *e = (Some(format!("c{c}")), e.1.wrapping_add(1), None);
                }
            }
            Op::Commit => {
                s.commit().expect("commit");
                s.persist(Sync::Os).expect("persist");
                committed = m.clone();
            }
            Op::Reopen => {
                s.commit().expect("commit");
                s.persist(Sync::Os).expect("persist");
                drop(s);
                s = Store::open(dir.path(), &options(), now).expect("reopen");
                committed = m.clone();
            }
            Op::Crash => {
                drop(s);
                s = Store::open(dir.path(), &options(), now).expect("reopen");
                m = committed.clone();
            }
        }
        s.end_command();
        check(&mut s, &m);
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(64),
        ..ProptestConfig::default()
    })]

    #[test]
    fn nack_states_match_the_model_across_reopenings(ops in proptest::collection::vec(op(), 1..60)) {
        run(ops);
    }
}

/// `sluice repair` (salvage) keeps released entries, their counts and the zone's order.
#[test]
fn repair_keeps_the_nack_zone() {
    let dir = tempfile::tempdir().expect("tempdir");
    let src = dir.path().join("src");
    {
        let mut s = Store::open(&src, &options(), T0).expect("open");
        s.stream_create(0, Bytes::from_static(KEY));
        for n in 1..=4 {
            let f = [Bytes::from_static(b"f"), Bytes::from(n.to_string())];
            s.stream_append(0, KEY, id(n), &f, NodeLimits::default(), T0);
            s.end_command();
        }
        assert!(s.create_group(0, KEY, Bytes::from_static(GROUP), StreamId::MIN, 0));
        let mut g = s.group_mut(0, KEY, GROUP).expect("group");
        g.deliver(&name(1), (1..=4).map(id), false, T0);
        assert!(g.xnack(id(3), NackMode::Fatal, None, false, true));
        assert!(g.xnack(id(1), NackMode::Silent, None, false, true));
        drop(g);
        s.end_command();
        s.commit().expect("commit");
        s.persist(Sync::Os).expect("persist");
    }
    let to = dir.path().join("repaired");
    sluice_storage::repair::repair(&src, &to).expect("repair");
    let mut s = Store::open(&to, &options(), T0).expect("open repaired");
    let meta = s.stream(0, KEY, T0).expect("stream").expect("exists");
    let g = meta.groups.get(GROUP).expect("group");
    g.check().expect("invariants");
    let zone: Vec<(u64, u64)> = g
        .nacked()
        .values()
        .map(|i| (i.ms, g.pel()[i].delivery_count()))
        .collect();
    assert_eq!(zone, vec![(3, NACK_FATAL_COUNT), (1, 0)]);
    assert_eq!(g.pel().len(), 4);
}
