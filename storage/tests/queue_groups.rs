//! Consumer groups as job queues (`store/queue.rs`, `stream/queue.rs`) on a real store and a
//! fake clock: visibility timeouts and redelivery, lease renewal, the delivery limit and the
//! dead-letter stream, NACK with a delay, bounded work when many deadlines fall due at once,
//! and timers across reopenings. Then a model property test: random reads, acks, renewals,
//! NACKs, clock advances, cron passes, appends, commits, reopenings and crashes against a
//! model of the group that says exactly which entries each read returns, what is pending and
//! what the dead-letter stream holds.
//!
//! `PROPTEST_CASES` sets the number of cases of the model test (default 64).

use std::collections::BTreeMap;

use bytes::Bytes;
use proptest::prelude::*;
use sluice_storage::stream::layout::NodeLimits;
use sluice_storage::stream::queue::QueueConfig;
use sluice_storage::stream::StreamId;
use sluice_storage::{Store, StoreOptions, Sync};

const KEY: &[u8] = b"jobs";
const DLQ: &[u8] = b"dead";
const GROUP: &[u8] = b"g";
const T0: u64 = 1_000_000;

fn limits() -> NodeLimits {
    NodeLimits::default()
}

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

fn append(s: &mut Store, n: u64, now: u64) {
    if s.stream(0, KEY, now).expect("stream").is_none() {
        s.stream_create(0, Bytes::from_static(KEY));
    }
    let fields = [Bytes::from_static(b"n"), Bytes::from(n.to_string())];
    s.stream_append(0, KEY, id(n), &fields, limits(), now);
    s.end_command();
}

fn setup(dir: &std::path::Path, entries: u64, config: QueueConfig) -> Store {
    let mut s = Store::open(dir, &options(), T0).expect("open");
    for n in 1..=entries {
        append(&mut s, n, T0);
    }
    if entries == 0 {
        s.stream_create(0, Bytes::from_static(KEY));
    }
    assert!(s.create_group(0, KEY, Bytes::from_static(GROUP), StreamId::MIN, 0));
    s.group_mut(0, KEY, GROUP).expect("group").configure(config);
    commit(&mut s);
    s
}

fn commit(s: &mut Store) {
    s.commit().expect("commit");
    s.persist(Sync::Os).expect("persist");
}

/// XREADGROUP `>` as the server runs it: redeliveries first, then new entries.
fn read(s: &mut Store, consumer: &str, count: usize, now: u64) -> Vec<u64> {
    let c = Bytes::copy_from_slice(consumer.as_bytes());
    let mut got: Vec<u64> = s
        .queue_take(0, KEY, GROUP, &c, now, Some(count), limits())
        .expect("take")
        .iter()
        .map(|e| e.id.ms)
        .collect();
    // New entries as the server reads them (`commands/xq.rs`, `read_past_delays`): entries
    // added with a delay not due yet are held by the group, the rest delivered.
    let mut all = Vec::new();
    let mut held = Vec::new();
    let mut from = s
        .stream(0, KEY, now)
        .unwrap()
        .unwrap()
        .groups
        .get(GROUP)
        .unwrap()
        .last_id()
        .successor();
    while let Some(f) = from {
        let room = count - got.len();
        if room == 0 {
            break;
        }
        let new = s
            .stream_read(0, KEY, (f, StreamId::MAX), false, Some(room), now)
            .expect("read");
        let Some(last) = new.last().map(|e| e.id) else {
            break;
        };
        let m = s.stream(0, KEY, now).unwrap().unwrap();
        for e in &new {
            all.push(e.id);
            match m.groups.delayed_until(e.id) {
                Some(d) if d > now => held.push((e.id, d)),
                _ => got.push(e.id.ms),
            }
        }
        from = last.successor();
    }
    if !all.is_empty() {
        let mut g = s.group_mut(0, KEY, GROUP).expect("group");
        g.deliver(&c, all.iter().copied(), false, now);
        for (i, d) in held {
            g.hold(i, d, true, now);
        }
    }
    check(s, now);
    got
}

fn check(s: &mut Store, now: u64) {
    let m = s.stream(0, KEY, now).unwrap().unwrap();
    m.groups
        .get(GROUP)
        .unwrap()
        .check()
        .expect("group invariants");
}

/// Pending entries: id → (consumer, delivery count).
fn pending(s: &mut Store, now: u64) -> BTreeMap<u64, (String, u64)> {
    let m = s.stream(0, KEY, now).unwrap().unwrap();
    let g = m.groups.get(GROUP).unwrap();
    g.pel()
        .iter()
        .map(|(i, n)| {
            let name = g
                .consumer_name(n.cid())
                .map(|b| String::from_utf8_lossy(b).into_owned());
            (i.ms, (name.unwrap_or_default(), n.delivery_count()))
        })
        .collect()
}

/// The dead-letter stream: (original id, deliveries, consumer) per entry, in order.
fn dead(s: &mut Store, now: u64) -> Vec<(String, String, String)> {
    s.stream_read(0, DLQ, (StreamId::MIN, StreamId::MAX), false, None, now)
        .expect("read dlq")
        .iter()
        .map(|e| {
            let f: Vec<String> = e
                .fields()
                .expect("fields")
                .iter()
                .map(|b| String::from_utf8_lossy(b).into_owned())
                .collect();
            assert!(f.len() >= 14, "metadata fields: {f:?}");
            assert_eq!(f[0], "dlq-stream");
            assert_eq!(f[1], "jobs");
            assert_eq!(f[4], "dlq-group");
            assert_eq!(f[5], "g");
            assert_eq!(f[10], "dlq-reason");
            assert_eq!(f[11], "maxdeliver");
            (f[3].clone(), f[9].clone(), f[7].clone())
        })
        .collect()
}

fn vis(ms: u64) -> QueueConfig {
    QueueConfig {
        visibility_ms: ms,
        ..Default::default()
    }
}

#[test]
fn redelivered_after_the_visibility_timeout_before_new_entries() {
    let dir = tempdir();
    let mut s = setup(dir.path(), 5, vis(1000));
    assert_eq!(read(&mut s, "a", 2, T0), vec![1, 2]);
    assert_eq!(read(&mut s, "b", 1, T0 + 999), vec![3]);
    // 1 and 2 fall due at T0+1000: served before the new entries 4, 5.
    assert_eq!(read(&mut s, "b", 3, T0 + 1000), vec![1, 2, 4]);
    let p = pending(&mut s, T0 + 1000);
    assert_eq!(p[&1], ("b".into(), 2));
    assert_eq!(p[&3], ("b".into(), 1));
    // Acknowledged entries never come back.
    assert!(s.group_mut(0, KEY, GROUP).unwrap().ack(id(1)));
    // By deadline: 3's (T0+1999) before 2's (T0+2000).
    assert_eq!(read(&mut s, "c", 10, T0 + 5000), vec![3, 2, 4, 5]);
}

#[test]
fn renewal_pushes_the_deadline_without_counting_a_delivery() {
    let dir = tempdir();
    let mut s = setup(dir.path(), 2, vis(1000));
    assert_eq!(read(&mut s, "a", 2, T0), vec![1, 2]);
    {
        let mut g = s.group_mut(0, KEY, GROUP).unwrap();
        assert!(g.renew(b"a", id(1), T0 + 900));
        assert!(!g.renew(b"b", id(2), T0 + 900), "not b's entry");
        assert!(!g.renew(b"a", id(9), T0 + 900), "not pending");
    }
    assert_eq!(read(&mut s, "b", 10, T0 + 1000), vec![2]);
    assert_eq!(read(&mut s, "b", 10, T0 + 1899), Vec::<u64>::new());
    assert_eq!(pending(&mut s, T0 + 1899)[&1], ("a".into(), 1));
    assert_eq!(read(&mut s, "b", 10, T0 + 1900), vec![1]);
    assert_eq!(pending(&mut s, T0 + 1900)[&1], ("b".into(), 2));
    let st = *s
        .stream(0, KEY, T0)
        .unwrap()
        .unwrap()
        .groups
        .get(GROUP)
        .unwrap()
        .queue()
        .unwrap()
        .stats();
    assert_eq!((st.renewals, st.redeliveries, st.deliveries), (1, 2, 4));
}

#[test]
fn delivery_limit_dead_letters_exactly_once_in_the_same_commit() {
    let dir = tempdir();
    let config = QueueConfig {
        visibility_ms: 100,
        max_deliver: 2,
        dead_letter: Some(Bytes::from_static(DLQ)),
    };
    let mut s = setup(dir.path(), 3, config);
    assert_eq!(read(&mut s, "a", 3, T0), vec![1, 2, 3]);
    assert!(s.group_mut(0, KEY, GROUP).unwrap().ack(id(3)));
    assert_eq!(read(&mut s, "b", 1, T0 + 100), vec![1]);
    commit(&mut s);
    // 2 is ready, not yet dead (one delivery); 1 is out again at T0+200 with 2 deliveries.
    let run = s.queue_cron(T0 + 250, 100, limits()).expect("cron");
    assert_eq!(run.dead_lettered, 1, "{run:?}");
    assert_eq!(run.woken, vec![(0, Bytes::from_static(KEY))], "2 is ready");
    assert_eq!(
        dead(&mut s, T0 + 250),
        vec![("1-0".into(), "2".into(), "b".into())]
    );
    assert!(!pending(&mut s, T0 + 250).contains_key(&1));
    // Nothing more: further passes and a crash before the commit change nothing twice.
    assert_eq!(
        s.queue_cron(T0 + 260, 100, limits()).unwrap().dead_lettered,
        0
    );
    drop(s);
    let mut s = Store::open(dir.path(), &options(), T0 + 300).expect("reopen");
    assert!(
        pending(&mut s, T0 + 300).contains_key(&1),
        "crashed before the commit"
    );
    assert_eq!(dead(&mut s, T0 + 300), vec![]);
    assert_eq!(
        s.queue_cron(T0 + 300, 100, limits()).unwrap().dead_lettered,
        1
    );
    commit(&mut s);
    drop(s);
    let mut s = Store::open(dir.path(), &options(), T0 + 400).expect("reopen");
    assert_eq!(dead(&mut s, T0 + 400).len(), 1);
    assert_eq!(
        s.queue_cron(T0 + 400, 100, limits()).unwrap().dead_lettered,
        0
    );
    assert_eq!(read(&mut s, "c", 10, T0 + 400), vec![2]);
    let run = s.queue_cron(T0 + 600, 100, limits()).unwrap();
    assert_eq!(run.dead_lettered, 1);
    assert_eq!(dead(&mut s, T0 + 600).len(), 2);
    assert!(pending(&mut s, T0 + 600).is_empty());
    let st = *s
        .stream(0, KEY, T0)
        .unwrap()
        .unwrap()
        .groups
        .get(GROUP)
        .unwrap()
        .queue()
        .unwrap()
        .stats();
    assert_eq!(st.dead_lettered, 2);
}

#[test]
fn nack_with_a_delay_and_timers_survive_a_restart() {
    let dir = tempdir();
    let mut s = setup(dir.path(), 3, QueueConfig::default());
    assert_eq!(read(&mut s, "a", 3, T0), vec![1, 2, 3]);
    assert!(s
        .group_mut(0, KEY, GROUP)
        .unwrap()
        .nack(b"a", id(2), T0 + 5000));
    assert!(
        !s.group_mut(0, KEY, GROUP).unwrap().nack(b"b", id(3), T0),
        "not b's"
    );
    commit(&mut s);
    drop(s);
    let mut s = Store::open(dir.path(), &options(), T0 + 10).expect("reopen");
    assert_eq!(s.queue_schedule().next_due(), Some(T0 + 5000));
    assert_eq!(read(&mut s, "b", 10, T0 + 4999), Vec::<u64>::new());
    let run = s.queue_cron(T0 + 5000, 100, limits()).unwrap();
    assert_eq!(
        run.woken.len(),
        1,
        "a blocked reader is woken when it falls due"
    );
    assert_eq!(read(&mut s, "b", 10, T0 + 5000), vec![2]);
    assert_eq!(pending(&mut s, T0 + 5000)[&2], ("b".into(), 2));
    // Without a visibility timeout, 1 and 3 never come back by themselves.
    assert_eq!(read(&mut s, "b", 10, T0 + 1_000_000), Vec::<u64>::new());
}

#[test]
fn many_deadlines_at_once_are_handled_a_bounded_amount_per_pass() {
    let dir = tempdir();
    let n = 20_000u64;
    let config = QueueConfig {
        visibility_ms: 1000,
        max_deliver: 1,
        dead_letter: Some(Bytes::from_static(DLQ)),
    };
    let mut s = setup(dir.path(), n, config);
    assert_eq!(read(&mut s, "a", n as usize, T0).len(), n as usize);
    commit(&mut s);
    let mut passes = 0;
    let mut total = 0;
    loop {
        let run = s.queue_cron(T0 + 1000, 2000, limits()).unwrap();
        assert!(run.handled <= 2000, "{run:?}");
        total += run.dead_lettered;
        passes += 1;
        commit(&mut s);
        if !run.more {
            break;
        }
    }
    assert_eq!(total, n as usize);
    // (The last pass may find only the group's schedule item left over.)
    assert!(passes <= (n / 2000) as usize + 1, "{passes} passes");
    assert!(pending(&mut s, T0 + 1000).is_empty());
    assert_eq!(s.stream(0, DLQ, T0).unwrap().unwrap().len(), n);
}

// -------------------------------------------------------------------------------------------
// The model.

#[derive(Clone, Debug)]
enum Op {
    Read {
        c: usize,
        count: usize,
    },
    Ack(u64),
    Renew {
        c: usize,
        id: u64,
    },
    Nack {
        c: usize,
        id: u64,
        delay: u64,
    },
    Advance(u64),
    Cron,
    Append,
    /// XQ.ADD with a delay.
    AppendDelayed(u64),
    Commit,
    Reopen,
    Crash,
}

const CONSUMERS: &[&str] = &["a", "b", "c"];
const VIS: u64 = 100;
const MAX: u64 = 3;

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0..3usize, 1..4usize).prop_map(|(c, count)| Op::Read { c, count }),
        4 => (1..14u64).prop_map(Op::Ack),
        2 => (0..3usize, 1..14u64).prop_map(|(c, id)| Op::Renew { c, id }),
        2 => (0..3usize, 1..14u64, 0..300u64).prop_map(|(c, id, delay)| Op::Nack { c, id, delay }),
        5 => (1..160u64).prop_map(Op::Advance),
        2 => Just(Op::Cron),
        1 => Just(Op::Append),
        1 => (1..400u64).prop_map(Op::AppendDelayed),
        2 => Just(Op::Commit),
        1 => Just(Op::Reopen),
        1 => Just(Op::Crash),
    ]
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Pending {
    consumer: usize,
    time: u64,
    count: u64,
    /// Explicit due time (a NACK), 0: none.
    due: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Model {
    entries: u64,
    last: u64,
    pel: BTreeMap<u64, Pending>,
    /// (original id, deliveries, consumer) in order.
    dead: Vec<(u64, u64, usize)>,
    /// Entries added with a delay: id → due (not observed: only through reads).
    delayed: BTreeMap<u64, u64>,
}

/// The model's consumer index of an unowned (held) entry.
const UNOWNED: usize = usize::MAX;

impl Model {
    fn deadline(p: &Pending) -> u64 {
        if p.due != 0 {
            p.due
        } else {
            p.time + VIS
        }
    }

    /// Due entries in (deadline, id) order.
    fn due(&self, now: u64) -> Vec<(u64, u64)> {
        let mut v: Vec<(u64, u64)> = self
            .pel
            .iter()
            .map(|(i, p)| (Self::deadline(p), *i))
            .filter(|(d, _)| *d <= now)
            .collect();
        v.sort();
        v
    }

    fn handle(&mut self, now: u64) {
        for (_, i) in self.due(now) {
            let p = &self.pel[&i];
            if p.count >= MAX {
                self.dead.push((i, p.count, p.consumer));
                self.pel.remove(&i);
            }
        }
    }

    fn read(&mut self, c: usize, count: usize, now: u64) -> Vec<u64> {
        self.handle(now);
        let mut out = Vec::new();
        for (_, i) in self.due(now).into_iter().take(count) {
            let p = self.pel.get_mut(&i).expect("due entry pending");
            *p = Pending {
                consumer: c,
                time: now,
                count: p.count + 1,
                due: 0,
            };
            out.push(i);
        }
        while out.len() < count && self.last < self.entries {
            self.last += 1;
            match self.delayed.get(&self.last) {
                Some(&d) if d > now => {
                    self.pel.insert(
                        self.last,
                        Pending {
                            consumer: UNOWNED,
                            time: now,
                            count: 0,
                            due: d,
                        },
                    );
                }
                _ => {
                    self.pel.insert(
                        self.last,
                        Pending {
                            consumer: c,
                            time: now,
                            count: 1,
                            due: 0,
                        },
                    );
                    out.push(self.last);
                }
            }
        }
        out
    }
}

fn observed(s: &mut Store, now: u64) -> Model {
    let entries = s.stream(0, KEY, now).unwrap().unwrap().last_id.ms;
    let (last, pel) = {
        let m = s.stream(0, KEY, now).unwrap().unwrap();
        let g = m.groups.get(GROUP).unwrap();
        g.check().expect("group invariants");
        let pel = g
            .pel()
            .iter()
            .map(|(i, n)| {
                let consumer = match g.consumer_name(n.cid()) {
                    Some(name) => CONSUMERS
                        .iter()
                        .position(|c| c.as_bytes() == &name[..])
                        .unwrap(),
                    None => UNOWNED,
                };
                (
                    i.ms,
                    Pending {
                        consumer,
                        time: n.delivery_time(),
                        count: n.delivery_count(),
                        due: n.due(),
                    },
                )
            })
            .collect();
        (g.last_id().ms, pel)
    };
    let dead = if s.stream(0, DLQ, now).unwrap().is_some() {
        dead(s, now)
            .into_iter()
            .map(|(i, n, c)| {
                let i: u64 = i.trim_end_matches("-0").parse().unwrap();
                (
                    i,
                    n.parse().unwrap(),
                    CONSUMERS.iter().position(|x| *x == c).unwrap(),
                )
            })
            .collect()
    } else {
        Vec::new()
    };
    Model {
        entries,
        last,
        pel,
        dead,
        delayed: BTreeMap::new(),
    }
}

/// Compares all but `delayed` (which the store forgets once due).
fn same(a: &Model, b: &Model) -> bool {
    (a.entries, a.last, &a.pel, &a.dead) == (b.entries, b.last, &b.pel, &b.dead)
}

fn run_model(ops: Vec<Op>) -> Result<(), TestCaseError> {
    let dir = tempdir();
    let config = QueueConfig {
        visibility_ms: VIS,
        max_deliver: MAX,
        dead_letter: Some(Bytes::from_static(DLQ)),
    };
    let mut store = Some(setup(dir.path(), 8, config));
    let mut model = Model {
        entries: 8,
        ..Default::default()
    };
    let mut committed = model.clone();
    let mut now = T0;
    for op in &ops {
        let s = store.as_mut().expect("open");
        match op {
            Op::Read { c, count } => {
                let got = read(s, CONSUMERS[*c], *count, now);
                let want = model.read(*c, *count, now);
                prop_assert_eq!(got, want, "read at {}", now);
            }
            Op::Ack(i) => {
                let acked = s.group_mut(0, KEY, GROUP).unwrap().ack(id(*i));
                prop_assert_eq!(acked, model.pel.remove(i).is_some());
            }
            Op::Renew { c, id: i } => {
                let got = s.group_mut(0, KEY, GROUP).unwrap().renew(
                    CONSUMERS[*c].as_bytes(),
                    id(*i),
                    now,
                );
                let want = match model.pel.get_mut(i) {
                    Some(p) if p.consumer == *c && p.due == 0 => {
                        p.time = now;
                        true
                    }
                    _ => false,
                };
                prop_assert_eq!(got, want);
            }
            Op::Nack { c, id: i, delay } => {
                let got = s.group_mut(0, KEY, GROUP).unwrap().nack(
                    CONSUMERS[*c].as_bytes(),
                    id(*i),
                    now + delay,
                );
                let want = match model.pel.get_mut(i) {
                    Some(p) if p.consumer == *c => {
                        p.due = now + delay;
                        true
                    }
                    _ => false,
                };
                prop_assert_eq!(got, want);
            }
            Op::Advance(ms) => now += ms,
            Op::Cron => {
                s.queue_cron(now, 1000, limits()).expect("cron");
                model.handle(now);
            }
            Op::Append => {
                model.entries += 1;
                append(s, model.entries, now);
            }
            Op::AppendDelayed(delay) => {
                model.entries += 1;
                append(s, model.entries, now);
                s.add_delay(0, KEY, id(model.entries), now + delay);
                model.delayed.insert(model.entries, now + delay);
            }
            Op::Commit => {
                commit(s);
                committed = model.clone();
            }
            Op::Reopen => {
                commit(s);
                committed = model.clone();
                drop(store.take());
                store = Some(Store::open(dir.path(), &options(), now).expect("reopen"));
            }
            Op::Crash => {
                drop(store.take());
                store = Some(Store::open(dir.path(), &options(), now).expect("reopen"));
                model = committed.clone();
            }
        }
        let s = store.as_mut().expect("open");
        let got = observed(s, now);
        prop_assert!(
            same(&got, &model),
            "after {:?} at {}: {:?} vs {:?}",
            op,
            now,
            got,
            model
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(64),
        ..ProptestConfig::default()
    })]

    #[test]
    fn queue_group_matches_the_model(ops in proptest::collection::vec(op(), 1..80)) {
        run_model(ops)?;
    }
}

#[test]
fn retention_deletes_what_every_group_acknowledged_and_what_is_too_old() {
    use sluice_storage::stream::group::Retention;
    let dir = tempdir();
    let mut s = setup(dir.path(), 1000, vis(0));
    assert!(s.create_group(0, KEY, Bytes::from_static(b"g2"), StreamId::MIN, 0));
    assert!(s.set_retention(
        0,
        KEY,
        Some(Retention {
            acked: true,
            max_age_ms: 0
        })
    ));
    // g reads and acknowledges everything; g2 reads 500 and acknowledges the first 300.
    assert_eq!(read(&mut s, "a", 1000, T0).len(), 1000);
    {
        let mut g = s.group_mut(0, KEY, GROUP).unwrap();
        for n in 1..=1000 {
            assert!(g.ack(id(n)));
        }
    }
    let c = Bytes::from_static(b"x");
    let mut g2 = s.group_mut(0, KEY, b"g2").unwrap();
    g2.deliver(&c, (1..=500).map(id), false, T0);
    for n in 1..=300 {
        assert!(g2.ack(id(n)));
    }
    drop(g2);
    commit(&mut s);
    drop(s);
    let mut s = Store::open(dir.path(), &options(), T0).expect("reopen");
    assert_eq!(
        s.queue_schedule().retained(),
        1,
        "the policy survives a restart"
    );
    let run = s.retain_pass(T0, 16).unwrap();
    // Whole nodes (as `XTRIM … MINID ~`) below 301, the oldest entry g2 still needs.
    assert!((100..=300).contains(&run.deleted), "{run:?}");
    let m = s.stream(0, KEY, T0).unwrap().unwrap();
    assert!(
        m.first_id <= id(301) && m.first_id > id(100),
        "{}",
        m.first_id
    );
    assert_eq!(m.len(), 1000 - run.deleted);
    assert_eq!(
        s.retain_pass(T0, 16).unwrap().deleted,
        0,
        "nothing more is consumed"
    );
    // MAXAGE: entries whose ID time is older than the age go too, consumed or not.
    assert!(s.set_retention(
        0,
        KEY,
        Some(Retention {
            acked: true,
            max_age_ms: T0 - 600
        })
    ));
    assert!(s.retain_pass(T0, 16).unwrap().deleted > 0);
    let first = s.stream(0, KEY, T0).unwrap().unwrap().first_id;
    assert!(first <= id(601) && first > id(400), "{first}");
    assert!(s.set_retention(0, KEY, None));
    assert_eq!(s.retain_pass(T0, 16).unwrap().streams, 1);
    assert_eq!(
        s.queue_schedule().retained(),
        0,
        "dropped once the policy is gone"
    );
}

#[test]
fn a_renamed_stream_is_scheduled_again_at_its_next_change() {
    let dir = tempdir();
    let config = QueueConfig {
        visibility_ms: 100,
        max_deliver: 1,
        dead_letter: Some(Bytes::from_static(DLQ)),
    };
    let mut s = setup(dir.path(), 2, config);
    assert_eq!(read(&mut s, "a", 1, T0), vec![1]);
    assert!(s.rename(0, KEY, Bytes::from_static(b"moved")));
    // The old schedule item is stale; a change of the group under its new name schedules it.
    let c = Bytes::from_static(b"a");
    let mut g = s.group_mut(0, b"moved", GROUP).unwrap();
    g.deliver(&c, [id(2)], false, T0 + 10);
    drop(g);
    let run = s.queue_cron(T0 + 200, 100, limits()).unwrap();
    assert_eq!(run.dead_lettered, 2, "{run:?}");
    assert_eq!(s.stream(0, DLQ, T0 + 200).unwrap().unwrap().len(), 2);
}
