//! `sluice repair` and `sluice check` (`repair.rs`, `store/salvage.rs`, `jobs/salvage.rs`) on
//! what the other repair tests do not cover: the job store (queued, active, delayed and
//! NACK-delayed jobs, paused queues, inline and large bodies, the node ID), consumer groups
//! used as queues (XQ settings and counters, NACK delays, holds, delayed entries, retention)
//! and function libraries — carried whole by a repair of an intact directory, and a damaged
//! block of job records named job by job while the rest is restored.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use sluice_storage::jobs::{
    ttl_word, Job, JobId, JobState, NewJob, INLINE_BODY_MAX, PAUSED_IN, PAUSED_OUT,
};
use sluice_storage::repair::Report;
use sluice_storage::stream::group::Retention;
use sluice_storage::stream::layout::NodeLimits;
use sluice_storage::stream::queue::QueueConfig;
use sluice_storage::stream::StreamId;
use sluice_storage::{Store, StoreOptions, Sync};

const T0: u64 = 1_700_000_000_000;

fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().expect("tempdir")
}

fn open(path: &Path) -> Store {
    Store::open(path, &StoreOptions::default(), T0).expect("open")
}

fn commit(s: &mut Store) {
    s.commit().expect("commit");
    s.persist(Sync::Os).expect("persist");
}

fn spec(queue: &str, body: Vec<u8>) -> NewJob {
    NewJob {
        queue: Bytes::copy_from_slice(queue.as_bytes()),
        body: Bytes::from(body),
        repl: 1,
        ttl: 86_400,
        retry: 300,
        delay: 0,
        ttl_word: ttl_word(86_400, 300),
        max_deliveries: 0,
        dead_letter: Bytes::new(),
    }
}

fn repair(from: &Path, to: &Path) -> Report {
    sluice_storage::repair::repair(from, to).expect("repair runs")
}

fn check(dir: &Path) -> Report {
    sluice_storage::repair::check(dir).expect("check runs")
}

/// A queue as clients see it: length, pause state, jobs in and out, ctime, atime, order.
type QueueView = (u64, u8, u64, u64, u64, u64, Vec<JobId>);

/// Everything about the job store a client can see: node, count, every job (record and
/// body) in ID order, and every queue (state, counters, order).
#[derive(Debug, PartialEq)]
struct JobsView {
    node: String,
    registered: u64,
    jobs: Vec<(JobId, Job, Bytes)>,
    queues: BTreeMap<Vec<u8>, QueueView>,
}

fn jobs_view(s: &mut Store, queues: &[&str]) -> JobsView {
    let j = s.jobs_ref();
    let (next, items) = j.scan(0, usize::MAX, usize::MAX, |_| true).expect("scan");
    assert_eq!(next, 0);
    let jobs = items
        .into_iter()
        .map(|it| {
            let body = j.body(&it.id).expect("read").expect("a body");
            let mut job = it.job;
            // Where the body is kept is the store's business; the body itself is compared.
            job.body = None;
            (it.id, job, body)
        })
        .collect();
    let queues = queues
        .iter()
        .map(|q| {
            let rec = j.queue(q.as_bytes()).expect("queue").clone();
            let order = j.peek(q.as_bytes(), 10_000, false).expect("peek");
            assert_eq!(
                order.len() as u64,
                rec.len,
                "queue {q}: length and index agree"
            );
            (
                q.as_bytes().to_vec(),
                (
                    rec.len,
                    rec.paused,
                    rec.jobs_in,
                    rec.jobs_out,
                    rec.ctime,
                    rec.atime,
                    order,
                ),
            )
        })
        .collect();
    JobsView {
        node: j.node_id().to_string(),
        registered: j.registered(),
        jobs,
        queues,
    }
}

const KEY: &[u8] = b"xs";
const GROUP: &[u8] = b"g";

fn sid(n: u64) -> StreamId {
    StreamId::new(n, 0)
}

/// A queue group's state: settings, counters, indexes, PEL (id → consumer, delivery time,
/// count, due, NACK zone place), delayed entries, retention.
type GroupView = (
    QueueConfig,
    String,
    usize,
    usize,
    Option<u64>,
    BTreeMap<StreamId, (String, u64, u64, u64, u64)>,
    Vec<(StreamId, Option<u64>)>,
    Option<Retention>,
);

fn group_view(s: &mut Store, now: u64) -> GroupView {
    let m = s.stream(0, KEY, now).expect("type").expect("stream");
    let g = m.groups.get(GROUP).expect("group");
    g.check().expect("group invariants");
    let q = g.queue().expect("a queue group");
    let pel = g
        .pel()
        .iter()
        .map(|(id, n)| {
            let c = g
                .consumer_name(n.cid())
                .map(|b| String::from_utf8_lossy(b).into_owned())
                .unwrap_or_default();
            (
                *id,
                (c, n.delivery_time(), n.delivery_count(), n.due(), n.nseq()),
            )
        })
        .collect();
    let delayed = (1..=8)
        .map(|n| (sid(n), m.groups.delayed_until(sid(n))))
        .collect();
    (
        q.config().clone(),
        format!("{:?}", q.stats()),
        q.ready_len(),
        q.timers_len(),
        q.next_due(),
        pel,
        delayed,
        m.groups.retention(),
    )
}

const LIB: &[u8] = b"#!lua name=mylib\nredis.register_function('one', function() return 1 end)";

/// Builds a directory with jobs in every state, a queue group with settings, a NACK delay, a
/// hold, a delayed entry and retention, and a function library. Returns the queue names.
/// `close`: closed cleanly; otherwise dropped as a crash leaves it, with the job store's writes
/// in its log (`jobs/log.rs`), not yet folded into its keyspaces.
fn populate(dir: &Path, close: bool) -> Vec<&'static str> {
    let mut s = open(dir);
    let mut now = T0;
    let j = s.jobs();
    // q1: queued jobs, one with a large body, in creation order.
    let mut q1 = Vec::new();
    for i in 0..6u8 {
        now += 1;
        let body = if i == 3 {
            vec![b'L'; INLINE_BODY_MAX * 4]
        } else {
            format!("body {i}").into_bytes()
        };
        q1.push(j.add(spec("q1", body), now).expect("add"));
    }
    // Two fetched: active, delivered, with their RETRY timers; one NACKed back (its place in
    // the queue is its creation time's), one NACKed with a delay.
    now += 1000;
    let (a, _) = j.fetch(b"q1", now).expect("fetch").expect("a job");
    let (b, _) = j.fetch(b"q1", now).expect("fetch").expect("a job");
    let (c, _) = j.fetch(b"q1", now).expect("fetch").expect("a job");
    assert_eq!((a, b, c), (q1[0], q1[1], q1[2]));
    assert!(j.enqueue(&b, true, 0, now).expect("nack"));
    assert!(j.enqueue(&c, true, 7_000, now).expect("nack delay"));
    // q2: a job with a DELAY (active until it ends), an at-most-once job delivered, a job with
    // a delivery limit and a dead-letter queue, a large body delayed.
    let mut delayed = spec("q2", b"later".to_vec());
    delayed.delay = 60;
    j.add(delayed, now).expect("add");
    let mut once = spec("q2", b"once".to_vec());
    once.retry = 0;
    once.ttl_word = ttl_word(86_400, 0);
    j.add(once, now).expect("add");
    let mut limited = spec("q2", b"limited".to_vec());
    limited.max_deliveries = 2;
    limited.dead_letter = Bytes::from_static(b"dead");
    j.add(limited, now).expect("add");
    let mut big = spec("q2", vec![b'B'; 5000]);
    big.delay = 30;
    j.add(big, now).expect("add");
    now += 10;
    let (o, job) = j.fetch(b"q2", now).expect("fetch").expect("a job");
    assert_eq!(job.retry, 0, "{o:?}");
    // q3: paused both ways, with queued jobs.
    for i in 0..3 {
        now += 1;
        j.add(spec("q3", format!("p{i}").into_bytes()), now)
            .expect("add");
    }
    j.set_pause(
        &Bytes::from_static(b"q3"),
        Some(PAUSED_IN | PAUSED_OUT),
        now,
    );
    // q4: paused, empty.
    j.set_pause(&Bytes::from_static(b"q4"), Some(PAUSED_IN), now);
    commit(&mut s);

    // A queue group.
    s.stream_create(0, Bytes::from_static(KEY));
    for n in 1..=8 {
        let f = [Bytes::from_static(b"n"), Bytes::from(n.to_string())];
        s.stream_append(0, KEY, sid(n), &f, NodeLimits::default(), now);
        s.end_command();
    }
    s.add_delay(0, KEY, sid(7), T0 + 3_600_000);
    s.add_delay(0, KEY, sid(8), T0 + 7_200_000);
    assert!(s.create_group(0, KEY, Bytes::from_static(GROUP), StreamId::MIN, 0));
    {
        let mut g = s.group_mut(0, KEY, GROUP).expect("group");
        g.configure(QueueConfig {
            visibility_ms: 30_000,
            max_deliver: 3,
            dead_letter: Some(Bytes::from_static(b"dlq")),
        });
        let consumer = Bytes::from_static(b"worker");
        g.deliver(&consumer, (1..=7).map(sid), false, now);
        assert!(g.nack(b"worker", sid(2), now + 5_000));
        assert!(g.renew(b"worker", sid(3), now + 100));
        g.hold(sid(7), T0 + 3_600_000, true, now);
    }
    assert!(s.set_retention(
        0,
        KEY,
        Some(Retention {
            acked: true,
            max_age_ms: 86_400_000
        })
    ));
    s.stage_function_library(b"mylib", Some(LIB));
    commit(&mut s);
    if close {
        s.close().expect("close");
        assert_eq!(s.jobs_ref().unfolded().0, 0, "a close folds the job log");
    } else {
        assert!(
            s.jobs_ref().unfolded().0 > 0,
            "the job writes are in the log"
        );
    }
    vec!["q1", "q2", "q3", "q4", "dead"]
}

#[test]
fn repair_carries_jobs_queue_groups_and_functions_whole() {
    repair_round_trip(true);
}

/// The same from a directory whose job writes are only in the job log (a crash before any
/// fold): check and repair read the log over the keyspaces, as an open replays it.
#[test]
fn repair_carries_jobs_committed_only_to_the_job_log() {
    repair_round_trip(false);
}

fn repair_round_trip(close: bool) {
    let tmp = tempdir();
    let src = tmp.path().join("src");
    let queues = populate(&src, close);

    let report = check(&src);
    assert!(report.is_clean(), "{:?}", report.damage);
    assert!(report.warnings.is_empty(), "{:?}", report.warnings);
    assert_eq!(report.counts.jobs, 13);
    assert_eq!(
        report.counts.job_queues, 4,
        "q1, q2, q3 and q4 have records"
    );
    assert_eq!(report.counts.functions, 1);
    let mut printed = Vec::new();
    report.print(&mut printed).expect("print");
    let printed = String::from_utf8(printed).expect("utf-8");
    assert!(
        printed.contains("readable: 13 jobs in 4 job queues, 1 function libraries"),
        "{printed}"
    );

    let to = tmp.path().join("repaired");
    let report = repair(&src, &to);
    assert!(report.is_clean(), "{:?}", report.damage);
    assert_eq!(report.counts.jobs, 13);

    // The repaired directory checks clean: its indexes agree with its job records.
    let again = check(&to);
    assert!(again.is_clean(), "{:?}", again.damage);
    assert!(again.warnings.is_empty(), "{:?}", again.warnings);
    assert_eq!(again.counts.jobs, 13);
    assert_eq!(again.counts.functions, 1);

    let mut a = open(&src);
    let mut b = open(&to);
    let now = T0 + 2_000;
    // Jobs: the node, every job (state, times, counters, flags, body), every queue.
    let (va, vb) = (
        jobs_view(&mut a, &queues[..4]),
        jobs_view(&mut b, &queues[..4]),
    );
    assert_eq!(va, vb);
    assert_eq!(va.jobs.len(), 13);
    let states: Vec<JobState> = va.jobs.iter().map(|(_, j, _)| j.state).collect();
    assert!(states.contains(&JobState::Active) && states.contains(&JobState::Queued));
    assert!(va.jobs.iter().any(|(_, j, _)| j.nacks == 1));
    assert_eq!(va.queues[&b"q3"[..]].1, PAUSED_IN | PAUSED_OUT);
    // The timers behave alike: the same jobs come due at the same times.
    for at in [
        T0 + 8_500,
        T0 + 40_000,
        T0 + 90_000,
        T0 + 400_000,
        T0 + 900_000,
    ] {
        let ra = a.jobs().run_timers(at, 1000).expect("timers");
        let rb = b.jobs().run_timers(at, 1000).expect("timers");
        assert_eq!(ra, rb, "timers at {at}");
        assert_eq!(
            jobs_view(&mut a, &queues[..4]),
            jobs_view(&mut b, &queues[..4]),
            "after the timers at {at}"
        );
    }
    // Fetching gives the same jobs in the same order.
    for q in ["q1", "q2"] {
        loop {
            let x = a.jobs().fetch(q.as_bytes(), T0 + 900_000).expect("fetch");
            let y = b.jobs().fetch(q.as_bytes(), T0 + 900_000).expect("fetch");
            assert_eq!(x.as_ref().map(|x| x.0), y.as_ref().map(|y| y.0));
            if x.is_none() {
                break;
            }
        }
    }

    // The queue group.
    let (ga, gb) = (group_view(&mut a, now), group_view(&mut b, now));
    assert_eq!(ga, gb);
    assert_eq!(ga.0.visibility_ms, 30_000);
    assert!(
        ga.5.values()
            .any(|(c, _, _, due, _)| c.is_empty() && *due > 0),
        "a held entry: {ga:?}"
    );
    assert!(ga.7.is_some());
    assert_eq!(
        a.queue_schedule().next_due(),
        b.queue_schedule().next_due(),
        "the group is scheduled at the same deadline"
    );

    // Function libraries.
    assert_eq!(
        b.function_libraries().expect("libraries"),
        vec![(b"mylib".to_vec(), LIB.to_vec())]
    );
    assert_eq!(
        a.function_libraries().expect("libraries"),
        b.function_libraries().expect("libraries")
    );
}

/// The largest table file of keyspace `jobs` (the fourth `Store::open` creates).
fn jobs_table(dir: &Path) -> PathBuf {
    let tables = dir.join("keyspaces/4/tables");
    std::fs::read_dir(&tables)
        .expect("tables dir")
        .flatten()
        .map(|e| e.path())
        .max_by_key(|p| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0))
        .expect("a table")
}

/// A body no compressor shrinks, so the job records fill most of the table.
fn noise(i: u64, len: usize) -> Vec<u8> {
    let mut x = i.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"[(x % 62) as usize]
        })
        .collect()
}

#[test]
fn a_damaged_block_of_job_records_is_named_job_by_job_and_the_rest_restored() {
    const JOBS: u64 = 3000;
    let tmp = tempdir();
    let src = tmp.path().join("src");
    let mut made: BTreeMap<JobId, Vec<u8>> = BTreeMap::new();
    let node;
    {
        let mut s = open(&src);
        let j = s.jobs();
        node = j.node_id().to_string();
        for i in 0..JOBS {
            let body = noise(i, if i % 100 == 7 { 2000 } else { 200 });
            let id = j.add(spec("big", body.clone()), T0 + i).expect("add");
            made.insert(id, body);
        }
        commit(&mut s);
        s.close().expect("close");
    }
    let table = jobs_table(&src);
    let len = std::fs::metadata(&table).expect("table").len() as usize;
    let mut raw = std::fs::read(&table).expect("read");
    for x in &mut raw[len / 4..len / 4 + 8] {
        *x ^= 0xFF;
    }
    std::fs::write(&table, raw).expect("write");

    let report = check(&src);
    assert!(!report.is_clean());
    let lost: Vec<&String> = report
        .damage
        .iter()
        .filter(|d| d.starts_with("job D-") && d.ends_with("the job is lost"))
        .collect();
    assert!(!lost.is_empty(), "{:#?}", report.damage);
    assert!(
        lost.iter().all(|d| d.contains("(queue \"big\")")),
        "{lost:#?}"
    );
    assert!(
        report
            .damage
            .iter()
            .any(|d| d.starts_with("job records from job D-") && d.contains("could not be read")),
        "{:#?}",
        report.damage
    );
    let readable = report.counts.jobs;
    assert_eq!(
        readable + report.counts.lost_jobs,
        JOBS,
        "every job is accounted for"
    );
    assert!(
        report.damage.iter().any(|d| d
            == &format!(
                "job queue \"big\": {} of its {JOBS} queued jobs could not be read",
                JOBS - readable
            )),
        "{:#?}",
        report.damage
    );

    let to = tmp.path().join("repaired");
    let report = repair(&src, &to);
    assert_eq!(report.counts.jobs, readable);
    let again = check(&to);
    assert!(again.is_clean(), "{:?}", again.damage);
    assert!(again.warnings.is_empty(), "{:?}", again.warnings);

    let mut s = open(&to);
    let j = s.jobs();
    assert_eq!(j.node_id(), node, "the repaired store is the same node");
    assert_eq!(j.registered(), readable);
    assert_eq!(j.qlen(b"big"), readable);
    let prefix: [u8; 8] = node.as_bytes()[..8].try_into().expect("8");
    let mut named = 0;
    for (id, body) in &made {
        let text = String::from_utf8_lossy(&id.format(&prefix)).into_owned();
        let is_named = lost.iter().any(|d| d.contains(&text));
        match j.get(id).expect("read") {
            Some(job) => {
                assert!(!is_named, "{text} restored and reported lost");
                assert_eq!(job.state, JobState::Queued);
                assert_eq!(j.body(id).expect("read").as_deref(), Some(&body[..]));
            }
            None => {
                assert!(is_named, "{text} is gone and not named");
                named += 1;
            }
        }
    }
    assert_eq!(named, lost.len());
    // The queue order is the creation order of the jobs left.
    let order = j.peek(b"big", usize::MAX, false).expect("peek");
    let want: Vec<JobId> = made
        .keys()
        .copied()
        .filter(|id| j.get(id).ok().flatten().is_some())
        .collect();
    assert_eq!(order, want);
    let (first, _) = j.fetch(b"big", T0 + JOBS).expect("fetch").expect("a job");
    assert_eq!(first, want[0]);
}

/// The job store's keyspaces (`jobs/spaces.rs`): job records, bodies, queue index, timers,
/// queue records.
const JOB_SPACES: [&str; 5] = ["jobs", "job_bodies", "job_queued", "job_timers", "job_meta"];

/// Opens the directory with fjall itself, to damage or move records as no Sluice code would:
/// the database, `keys`, and the job store's keyspaces in [`JOB_SPACES`] order.
fn raw_db(dir: &Path) -> (fjall::Database, fjall::Keyspace, Vec<fjall::Keyspace>) {
    let db = fjall::Database::builder(dir).open().expect("fjall");
    let keys = db
        .keyspace("keys", fjall::KeyspaceCreateOptions::default)
        .expect("keys");
    let jobs = JOB_SPACES
        .iter()
        .map(|n| {
            db.keyspace(n, fjall::KeyspaceCreateOptions::default)
                .expect("job keyspace")
        })
        .collect();
    (db, keys, jobs)
}

fn key(tag: u8, id: &JobId) -> Vec<u8> {
    let mut k = vec![tag];
    k.extend_from_slice(&id.0);
    k
}

#[test]
fn a_job_whose_record_does_not_decode_or_whose_body_is_missing_is_named_not_restored() {
    let tmp = tempdir();
    let src = tmp.path().join("src");
    let mut ids = Vec::new();
    let node;
    {
        let mut s = open(&src);
        let j = s.jobs();
        node = j.node_id().to_string();
        for i in 0..10u64 {
            let body = if i % 3 == 2 {
                vec![b'x'; 1000]
            } else {
                format!("small {i}").into_bytes()
            };
            ids.push(j.add(spec("q", body), T0 + i).expect("add"));
        }
        commit(&mut s);
        s.close().expect("close");
    }
    {
        let (db, _, jobs) = raw_db(&src);
        jobs[0]
            .insert(key(0x10, &ids[1]), b"\x02not a job record")
            .expect("insert");
        assert!(jobs[1].get(key(0x11, &ids[5])).expect("read").is_some());
        jobs[1].remove(key(0x11, &ids[5])).expect("remove");
        db.persist(fjall::PersistMode::SyncAll).expect("persist");
    }
    let prefix: [u8; 8] = node.as_bytes()[..8].try_into().expect("8");
    let show = |id: &JobId| String::from_utf8_lossy(&id.format(&prefix)).into_owned();
    let report = check(&src);
    let want = [
        format!(
            "job {} (queue \"q\"): its record does not decode: the job is lost",
            show(&ids[1])
        ),
        format!(
            "job {} (queue \"q\"): its body record is missing: the job is lost",
            show(&ids[5])
        ),
        "job queue \"q\": 2 of its 10 queued jobs could not be read".to_string(),
    ];
    assert_eq!(report.damage, want);
    assert_eq!((report.counts.jobs, report.counts.lost_jobs), (8, 2));

    let to = tmp.path().join("repaired");
    let report = repair(&src, &to);
    assert_eq!(report.damage, want);
    let again = check(&to);
    assert!(again.is_clean(), "{:?}", again.damage);
    assert!(again.warnings.is_empty(), "{:?}", again.warnings);
    let mut s = open(&to);
    let j = s.jobs();
    let left: Vec<JobId> = ids
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != 1 && *i != 5)
        .map(|(_, id)| *id)
        .collect();
    assert_eq!(j.peek(b"q", 100, false).expect("peek"), left);
    assert_eq!(j.registered(), 8);
    assert_eq!(j.get(&ids[1]).expect("read"), None);
    assert_eq!(
        j.body(&ids[8]).expect("read").as_deref(),
        Some(&[b'x'; 1000][..])
    );
}

/// Directories from before keyspace `jobs` kept the job records in `keys` (the first open of
/// a newer build moves them): a repair reads them there.
#[test]
fn job_records_left_in_keys_by_an_older_layout_are_carried() {
    let tmp = tempdir();
    let src = tmp.path().join("src");
    let queues = ["q1", "q2", "q3", "q4"];
    populate(&src, true);
    let before = jobs_view(&mut open(&src), &queues);
    {
        let (db, keys, jobs) = raw_db(&src);
        for ks in &jobs {
            let all: Vec<(fjall::Slice, fjall::Slice)> =
                ks.iter().map(|g| g.into_inner().expect("read")).collect();
            assert!(!all.is_empty());
            for (k, v) in all {
                keys.insert(k.clone(), v).expect("insert");
                ks.remove(k).expect("remove");
            }
        }
        keys.remove(b"\xFFjobs-keyspace").expect("remove");
        db.persist(fjall::PersistMode::SyncAll).expect("persist");
    }
    let to = tmp.path().join("repaired");
    let report = repair(&src, &to);
    assert!(report.is_clean(), "{:?}", report.damage);
    assert!(
        report
            .warnings
            .iter()
            .any(|w| w.starts_with("job records are in keyspace `keys`")),
        "{:?}",
        report.warnings
    );
    assert_eq!(report.counts.jobs, 13);
    assert_eq!(jobs_view(&mut open(&to), &queues), before);
}

/// The queue and timer indexes are rebuilt from the job records: losing their keyspaces
/// loses no job, no queue order and no timer.
#[test]
fn lost_job_index_keyspaces_are_reported_and_rebuilt() {
    let tmp = tempdir();
    let src = tmp.path().join("src");
    let queues = ["q1", "q2", "q3", "q4"];
    populate(&src, true);
    let before = jobs_view(&mut open(&src), &queues);
    // `job_queued` and `job_timers`: the sixth and seventh keyspaces `Store::open` creates.
    for (id, name) in [(6, "job_queued"), (7, "job_timers")] {
        std::fs::remove_dir_all(src.join(format!("keyspaces/{id}"))).expect("rm");
        let report = check(&src);
        assert!(
            report.damage.iter().any(|d| d.starts_with(&format!(
                "keyspace `{name}` is missing: what it held is lost"
            ))),
            "{:?}",
            report.damage
        );
    }
    let to = tmp.path().join("repaired");
    let report = repair(&src, &to);
    assert_eq!(report.counts.jobs, 13);
    assert_eq!(report.counts.lost_jobs, 0);
    assert!(check(&to).is_clean());
    assert_eq!(jobs_view(&mut open(&to), &queues), before);
}

#[test]
fn a_lost_jobs_keyspace_is_reported_and_the_rest_repaired() {
    let tmp = tempdir();
    let src = tmp.path().join("src");
    populate(&src, true);
    let node = open(&src).jobs_ref().node_id().to_string();
    std::fs::remove_dir_all(src.join("keyspaces/4")).expect("rm jobs");
    let report = check(&src);
    assert!(
        report.damage.iter().any(|d| d
            == "keyspace `jobs` is missing: every job record is lost (the queues and the job \
                store's node ID are in `job_meta`)"),
        "{:?}",
        report.damage
    );
    assert_eq!(report.counts.jobs, 0);
    let to = tmp.path().join("repaired");
    let report = repair(&src, &to);
    assert_eq!(report.counts.functions, 1);
    assert!(check(&to).is_clean());
    let mut s = open(&to);
    assert_eq!(s.jobs().registered(), 0);
    assert_eq!(
        s.jobs_ref().node_id(),
        node,
        "job IDs made before stay valid"
    );
    assert_eq!(s.function_libraries().expect("libraries").len(), 1);
    assert!(s.stream(0, KEY, T0).expect("type").is_some());
}
