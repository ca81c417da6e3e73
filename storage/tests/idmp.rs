//! Idempotent-producer windows (`stream::idmp`, `store/idmp.rs`) on a real store and a fake
//! clock: a model property test of random IDMP adds, clock advances, XCFGSET changes,
//! deletions, commits, reopenings and crashes (drops without a commit). The model says for
//! every add whether it is a duplicate and of which entry (window by time and by size per
//! producer), and the lifetime counters; the store must agree, also after every reopening
//! (which reloads the window from disk) and every crash (which loses exactly the uncommitted
//! changes, the window's with the entries').
//!
//! `PROPTEST_CASES` sets the number of cases (default 64).

use std::collections::{BTreeMap, VecDeque};

use bytes::Bytes;
use proptest::prelude::*;
use sluice_storage::stream::layout::NodeLimits;
use sluice_storage::stream::StreamId;
use sluice_storage::{IdmpDefaults, IdmpInfo, Store, StoreOptions, Sync};

const KEY: &[u8] = b"s";
const T0: u64 = 1_000_000;
const DEFAULTS: IdmpDefaults = IdmpDefaults {
    duration_s: 2,
    maxsize: 3,
};

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

fn commit(s: &mut Store) {
    s.commit().expect("commit");
    s.persist(Sync::Os).expect("persist");
}

/// The window as the model sees it.
#[derive(Clone, Debug, Default)]
struct Window {
    duration_s: u64,
    maxsize: u64,
    /// Per producer: (iid, entry, added at), oldest first, at most `maxsize`.
    pids: BTreeMap<u8, VecDeque<(u8, u64, u64)>>,
    added: u64,
    dups: u64,
}

#[derive(Clone, Debug, Default)]
struct Model {
    /// The stream exists; its window, if it has one.
    stream: Option<Option<Window>>,
    /// Next entry number (IDs keep growing across deletions).
    next: u64,
}

impl Window {
    fn new(d: IdmpDefaults) -> Self {
        Window {
            duration_s: d.duration_s,
            maxsize: d.maxsize,
            ..Window::default()
        }
    }

    fn find(&self, pid: u8, iid: u8, now: u64) -> Option<u64> {
        self.pids
            .get(&pid)?
            .iter()
            .find_map(|&(i, e, at)| (i == iid && now < at + self.duration_s * 1000).then_some(e))
    }

    fn insert(&mut self, pid: u8, iid: u8, entry: u64, now: u64) {
        let dur = self.duration_s * 1000;
        let q = self.pids.entry(pid).or_default();
        // An expired record of the same iid is gone for good (the store may not have
        // removed it yet, but it never answers it).
        q.retain(|&(i, _, at)| !(i == iid && now >= at + dur));
        q.push_back((iid, entry, now));
        while q.len() as u64 > self.maxsize {
            q.pop_front();
        }
        self.added += 1;
    }

    /// Iids not yet pushed out (live or expired but maybe not removed yet).
    fn held(&self) -> u64 {
        self.pids.values().map(|q| q.len() as u64).sum()
    }

    fn live(&self, now: u64) -> u64 {
        let dur = self.duration_s * 1000;
        self.pids
            .values()
            .flatten()
            .filter(|&&(_, _, at)| now < at + dur)
            .count() as u64
    }
}

#[derive(Clone, Debug)]
enum Op {
    Add(u8, u8),
    Advance(u64),
    Configure(Option<u64>, Option<u64>),
    Delete,
    /// The periodic expiry pass, with a small budget.
    Cron,
    Commit,
    Reopen,
    Crash,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => (0u8..3, 0u8..6).prop_map(|(p, i)| Op::Add(p, i)),
        3 => prop_oneof![Just(0u64), 1..1500u64, Just(2000u64), Just(5000u64)].prop_map(Op::Advance),
        1 => (proptest::option::of(1u64..4), proptest::option::of(1u64..5))
            .prop_map(|(d, m)| Op::Configure(d, m)),
        1 => Just(Op::Delete),
        1 => Just(Op::Cron),
        2 => Just(Op::Commit),
        1 => Just(Op::Reopen),
        1 => Just(Op::Crash),
    ]
}

fn info(s: &mut Store, now: u64) -> Option<Option<IdmpInfo>> {
    s.stream(0, KEY, now).expect("stream").map(IdmpInfo::of)
}

fn check(s: &mut Store, model: &Model, now: u64) -> Result<(), TestCaseError> {
    let got = info(s, now);
    match (&model.stream, got) {
        (None, None) => {}
        (Some(None), Some(None)) => {}
        (Some(Some(w)), Some(Some(i))) => {
            prop_assert_eq!(
                (i.duration_s, i.maxsize, i.iids_added, i.iids_duplicates),
                (w.duration_s, w.maxsize, w.added, w.dups)
            );
            prop_assert!(
                i.iids_tracked <= w.held() && i.iids_tracked >= w.live(now),
                "tracked {} outside {}..={}",
                i.iids_tracked,
                w.live(now),
                w.held()
            );
            prop_assert!(i.pids_tracked <= w.pids.len() as u64);
        }
        (m, g) => prop_assert!(false, "model {:?} vs store {:?}", m, g),
    }
    Ok(())
}

fn run_model(ops: Vec<Op>) -> Result<(), TestCaseError> {
    let dir = tempdir();
    let mut store = Some(Store::open(dir.path(), &options(), T0).expect("open"));
    let mut now = T0;
    let mut model = Model {
        next: 1,
        ..Model::default()
    };
    let mut committed = model.clone();
    for op in &ops {
        let s = store.as_mut().expect("open");
        match *op {
            Op::Add(pid, iid) => {
                let pidb = Bytes::from(vec![b'p', pid]);
                let digest = sluice_storage::stream::idmp::iid_digest(&[iid]);
                if s.stream(0, KEY, now).expect("stream").is_none() {
                    s.stream_create(0, Bytes::from_static(KEY));
                    model.stream = Some(None);
                }
                let want = match &model.stream {
                    Some(Some(w)) => w.find(pid, iid, now),
                    _ => None,
                };
                let got = s.idmp_lookup(0, KEY, &pidb, digest, now);
                prop_assert_eq!(
                    got,
                    want.map(|n| StreamId::new(n, 0)),
                    "add {:?} at {}",
                    op,
                    now
                );
                let w = model
                    .stream
                    .as_mut()
                    .expect("exists")
                    .get_or_insert_with(|| Window::new(DEFAULTS));
                if want.is_some() {
                    w.dups += 1;
                } else {
                    let n = model.next;
                    model.next += 1;
                    let fields = [Bytes::from_static(b"f"), Bytes::from(n.to_string())];
                    let id = StreamId::new(n, 0);
                    s.stream_append(0, KEY, id, &fields, NodeLimits::default(), now);
                    assert!(s.idmp_insert(0, KEY, &pidb, digest, id, now, DEFAULTS));
                    w.insert(pid, iid, n, now);
                }
                s.end_command();
            }
            Op::Advance(ms) => now += ms,
            Op::Configure(d, m) => {
                let exists = s.stream(0, KEY, now).expect("stream").is_some();
                if exists && (d.is_some() || m.is_some()) {
                    assert!(s.idmp_configure(0, KEY, d, m, DEFAULTS));
                    let slot = model.stream.as_mut().expect("exists");
                    let w = slot.get_or_insert_with(|| Window::new(DEFAULTS));
                    let (nd, nm) = (d.unwrap_or(w.duration_s), m.unwrap_or(w.maxsize));
                    if (nd, nm) != (w.duration_s, w.maxsize) {
                        w.duration_s = nd;
                        w.maxsize = nm;
                        w.pids.clear();
                    }
                    s.end_command();
                }
            }
            Op::Delete => {
                s.delete(0, KEY);
                s.end_command();
                model.stream = None;
            }
            Op::Cron => {
                s.idmp_cron(now, 16, 2);
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
        check(s, &model, now)?;
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(64),
        ..ProptestConfig::default()
    })]

    #[test]
    fn idmp_window_matches_the_model(ops in proptest::collection::vec(op(), 1..100)) {
        run_model(ops)?;
    }
}

/// A window of many producers survives a reopening exactly, and deleting the stream removes
/// every record of it from disk once reaped.
#[test]
fn window_reloads_and_dies_with_the_stream() {
    let dir = tempdir();
    let mut s = Store::open(dir.path(), &options(), T0).expect("open");
    s.stream_create(0, Bytes::from_static(KEY));
    let d = IdmpDefaults {
        duration_s: 100,
        maxsize: 10,
    };
    let mut n = 1;
    for p in 0..20u32 {
        for i in 0..15u32 {
            let pid = Bytes::from(format!("producer-{p}"));
            let dig = sluice_storage::stream::idmp::iid_digest(format!("iid-{i}").as_bytes());
            assert_eq!(s.idmp_lookup(0, KEY, &pid, dig, T0), None);
            let id = StreamId::new(n, 0);
            s.stream_append(
                0,
                KEY,
                id,
                &[Bytes::from_static(b"f"), Bytes::from_static(b"v")],
                NodeLimits::default(),
                T0,
            );
            assert!(s.idmp_insert(0, KEY, &pid, dig, id, T0, d));
            s.end_command();
            n += 1;
        }
    }
    commit(&mut s);
    let before = IdmpInfo::of(s.stream(0, KEY, T0).unwrap().unwrap()).unwrap();
    assert_eq!(
        (before.pids_tracked, before.iids_tracked, before.iids_added),
        (20, 200, 300)
    );
    drop(s);
    let mut s = Store::open(dir.path(), &options(), T0).expect("reopen");
    let after = IdmpInfo::of(s.stream(0, KEY, T0).unwrap().unwrap()).unwrap();
    assert_eq!(before, after);
    // producer-3's iid-14 added entry 3*15+15 = 60.
    let dig = sluice_storage::stream::idmp::iid_digest(b"iid-14");
    assert_eq!(
        s.idmp_lookup(0, KEY, b"producer-3", dig, T0 + 1000),
        Some(StreamId::new(60, 0))
    );
    // iid-4 of every producer was pushed out by maxsize 10.
    let dig = sluice_storage::stream::idmp::iid_digest(b"iid-4");
    assert_eq!(s.idmp_lookup(0, KEY, b"producer-3", dig, T0 + 1000), None);
    // Past the duration nothing answers, and the lookups expire what they pass.
    let dig = sluice_storage::stream::idmp::iid_digest(b"iid-14");
    assert_eq!(
        s.idmp_lookup(0, KEY, b"producer-3", dig, T0 + 100_000),
        None
    );
    s.end_command();
    assert!(s.delete(0, KEY));
    s.end_command();
    commit(&mut s);
    while s.dead_streams() > 0 {
        s.reap(1000).expect("reap");
    }
    drop(s);
    let mut s = Store::open(dir.path(), &options(), T0).expect("reopen");
    assert!(s.stream(0, KEY, T0).unwrap().is_none());
    s.stream_create(0, Bytes::from_static(KEY));
    assert_eq!(IdmpInfo::of(s.stream(0, KEY, T0).unwrap().unwrap()), None);
}

/// `sluice repair` carries a stream's window over to the new directory.
#[test]
fn repair_keeps_the_window() {
    let dir = tempdir();
    {
        let mut s = Store::open(dir.path(), &options(), T0).expect("open");
        s.stream_create(0, Bytes::from_static(KEY));
        for n in 1..=5u64 {
            let pid = Bytes::from(format!("p{}", n % 2));
            let dig = sluice_storage::stream::idmp::iid_digest(&n.to_be_bytes());
            let id = StreamId::new(n, 0);
            s.stream_append(
                0,
                KEY,
                id,
                &[Bytes::from_static(b"f"), Bytes::from_static(b"v")],
                NodeLimits::default(),
                T0,
            );
            assert!(s.idmp_insert(0, KEY, &pid, dig, id, T0, DEFAULTS));
            s.end_command();
        }
        commit(&mut s);
        s.close().expect("close");
    }
    let to = dir.path().with_extension("repaired");
    let _ = std::fs::remove_dir_all(&to);
    sluice_storage::repair::repair(dir.path(), &to).expect("repair");
    let mut s = Store::open(&to, &options(), T0).expect("open repaired");
    let info = IdmpInfo::of(s.stream(0, KEY, T0).unwrap().unwrap()).expect("window");
    assert_eq!(
        (info.pids_tracked, info.iids_tracked, info.iids_added),
        (2, 5, 5)
    );
    let dig = sluice_storage::stream::idmp::iid_digest(&5u64.to_be_bytes());
    assert_eq!(
        s.idmp_lookup(0, KEY, b"p1", dig, T0),
        Some(StreamId::new(5, 0))
    );
    drop(s);
    let _ = std::fs::remove_dir_all(&to);
}

/// The periodic pass expires the window of a stream no IDMP write visits, durably.
#[test]
fn cron_expires_idle_windows() {
    let dir = tempdir();
    let mut s = Store::open(dir.path(), &options(), T0).expect("open");
    for key in [&b"a"[..], b"b"] {
        s.stream_create(0, Bytes::copy_from_slice(key));
        for n in 1..=3u64 {
            let pid = Bytes::from(format!("p{n}"));
            let dig = sluice_storage::stream::idmp::iid_digest(b"x");
            let id = StreamId::new(n, 0);
            s.stream_append(
                0,
                key,
                id,
                &[Bytes::from_static(b"f"), Bytes::from_static(b"v")],
                NodeLimits::default(),
                T0,
            );
            assert!(s.idmp_insert(0, key, &pid, dig, id, T0, DEFAULTS));
            s.end_command();
        }
    }
    commit(&mut s);
    let tracked = |s: &mut Store, key: &[u8]| {
        let i = IdmpInfo::of(s.stream(0, key, T0).unwrap().unwrap()).unwrap();
        (i.pids_tracked, i.iids_tracked)
    };
    // Not yet expired: nothing to do.
    assert_eq!(s.idmp_cron(T0 + 1999, 16, 100), 0);
    // Expired (duration 2 s): a budget of 2 per stream, then the rest.
    assert_eq!(s.idmp_cron(T0 + 2000, 16, 2), 4);
    assert_eq!(tracked(&mut s, b"a"), (1, 1));
    assert_eq!(s.idmp_cron(T0 + 2000, 16, 2), 2);
    assert_eq!(tracked(&mut s, b"a"), (0, 0));
    assert_eq!(tracked(&mut s, b"b"), (0, 0));
    commit(&mut s);
    drop(s);
    let mut s = Store::open(dir.path(), &options(), T0).expect("reopen");
    assert_eq!(tracked(&mut s, b"a"), (0, 0));
    assert_eq!(tracked(&mut s, b"b"), (0, 0));
    // A deleted stream leaves the round robin.
    assert!(s.delete(0, b"a"));
    assert_eq!(s.idmp_cron(T0 + 5000, 16, 2), 0);
}
