//! Unit tests of the job store, on a real store in a temporary directory and a fake clock.

use super::*;
use crate::store::{Store, StoreOptions, Sync};

const T0: u64 = 1_700_000_000_000;

fn open(dir: &std::path::Path) -> Store {
    Store::open(dir, &StoreOptions::default(), T0).expect("open")
}

fn spec(queue: &str, body: &str) -> NewJob {
    NewJob {
        queue: Bytes::copy_from_slice(queue.as_bytes()),
        body: Bytes::copy_from_slice(body.as_bytes()),
        repl: 1,
        ttl: 86_400,
        retry: 300,
        delay: 0,
        ttl_word: ttl_word(86_400, 300),
        max_deliveries: 0,
        dead_letter: Bytes::new(),
    }
}

fn commit(s: &mut Store) {
    s.commit().expect("commit");
    s.persist(Sync::Os).expect("persist");
}

/// Where [`check_view`] reads the job store's records from.
#[derive(Clone, Copy, Debug)]
enum View {
    /// Pending writes merged over fjall: what every read of the job store sees.
    Merged,
    /// The keyspaces alone (after a fold, they hold everything).
    Disk,
}

fn records(j: &Jobs, view: View, tag: u8) -> Vec<(Vec<u8>, Vec<u8>)> {
    match view {
        View::Merged => j
            .range(&[tag], &[tag + 1], usize::MAX, false)
            .expect("read"),
        View::Disk => {
            j.ks.prefix(&[tag])
                .map(|g| {
                    let (k, v) = g.into_inner().expect("read");
                    (k.to_vec(), v.to_vec())
                })
                .collect()
        }
    }
}

fn holds(j: &Jobs, view: View, key: &[u8]) -> bool {
    match view {
        View::Merged => j.read_with(key, |_| ()).expect("read").is_some(),
        View::Disk => j.ks.get(key).expect("read").is_some(),
    }
}

/// Every invariant of the module docs over `view`.
fn check_view(j: &Jobs, view: View) {
    let mut jobs = 0u64;
    let mut bodies = 0u64;
    let mut per_queue: HashMap<Bytes, u64> = HashMap::new();
    for (k, v) in records(j, view, TAG_JOB) {
        let id = JobId(k[1..].try_into().expect("id"));
        let job = Job::decode(&v).expect("decodes");
        jobs += 1;
        assert_eq!(
            holds(j, view, &job_key(TAG_BODY, &id)),
            job.body.is_none(),
            "{view:?}: a body record if and only if the body is not in the job record"
        );
        bodies += u64::from(job.body.is_none());
        assert!(
            holds(j, view, &timer_key(job.awake, &id)),
            "{view:?}: timer"
        );
        assert!(job.awake >= j.timer_low.min(job.awake));
        let qk = queued_key(TAG_QUEUED, &job.queue, job.ctime, &id);
        let queued = holds(j, view, &qk);
        assert_eq!(
            queued,
            job.state == JobState::Queued,
            "{view:?}: queue index"
        );
        if queued {
            *per_queue.entry(job.queue.clone()).or_default() += 1;
        }
    }
    assert_eq!(jobs, j.registered, "{view:?}: job count");
    assert_eq!(
        records(j, view, TAG_TIMER).len() as u64,
        jobs,
        "{view:?}: one timer per job"
    );
    assert_eq!(
        records(j, view, TAG_BODY).len() as u64,
        bodies,
        "{view:?}: one body record per job whose body is not inline"
    );
    for (name, q) in &j.queues {
        assert_eq!(
            q.len,
            per_queue.get(name).copied().unwrap_or(0),
            "{view:?}: len of {name:?}"
        );
    }
}

/// Every invariant of the module docs, after a commit over the merged view, then after a fold
/// (`jobs/log.rs`) over what fjall holds, which must then be everything.
fn check_invariants(s: &mut Store) {
    commit(s);
    check_view(s.jobs_ref(), View::Merged);
    s.jobs().request_fold();
    commit(s);
    let j = s.jobs_ref();
    assert!(j.pending.is_empty(), "a fold writes every staged record");
    assert_eq!(
        j.ks.prefix(&[log::TAG_LOG]).count(),
        0,
        "a fold removes the log records"
    );
    check_view(j, View::Disk);
    for (name, ks) in j.ks.all() {
        for g in ks.iter() {
            let k = g.key().expect("read");
            assert!(
                std::ptr::eq(j.ks.of(&k), ks),
                "key {k:?} is in keyspace `{name}`, not where `Spaces::of` routes it"
            );
        }
    }
}

#[test]
fn jobs_are_queued_fetched_and_acked_in_order() {
    let dir = tempfile::tempdir().expect("tmp");
    let mut s = open(dir.path());
    let a = s.jobs().add(spec("q", "a"), T0).expect("add");
    let b = s.jobs().add(spec("q", "b"), T0).expect("add");
    let c = s.jobs().add(spec("q", "c"), T0 + 1).expect("add");
    assert_eq!(s.jobs().qlen(b"q"), 3);
    // Reads see what is staged, before any commit.
    assert_eq!(s.jobs().peek(b"q", 10, false).expect("peek"), vec![a, b, c]);
    assert_eq!(s.jobs().peek(b"q", 2, true).expect("peek"), vec![c, b]);
    let (got, job) = s
        .jobs()
        .fetch(b"q", T0 + 10)
        .expect("fetch")
        .expect("a job");
    assert_eq!(got, a);
    assert_eq!(job.state, JobState::Active);
    assert_eq!(s.jobs().body(&a).expect("body").as_deref(), Some(&b"a"[..]));
    check_invariants(&mut s);
    assert!(s.jobs().delete(&a, T0 + 20).expect("ack"));
    assert!(!s.jobs().delete(&a, T0 + 20).expect("ack again"));
    let (got, _) = s.jobs().fetch(b"q", T0 + 30).expect("fetch").expect("b");
    assert_eq!(got, b);
    assert_eq!(s.jobs().qlen(b"q"), 1);
    assert_eq!(s.jobs().registered(), 2);
    check_invariants(&mut s);
}

#[test]
fn a_restart_keeps_queues_in_order_and_timers_where_they_were() {
    let dir = tempfile::tempdir().expect("tmp");
    let (ids, active, node) = {
        let mut s = open(dir.path());
        let ids: Vec<JobId> = (0..50)
            .map(|i| {
                s.jobs()
                    .add(spec("q", &format!("j{i}")), T0 + i)
                    .expect("add")
            })
            .collect();
        let (active, _) = s.jobs().fetch(b"q", T0 + 100).expect("fetch").expect("job");
        let node = s.jobs().node_id().to_string();
        commit(&mut s);
        (ids, active, node)
    };
    let mut s = open(dir.path());
    assert_eq!(s.jobs().node_id(), node, "the node ID is stable");
    assert_eq!(s.jobs().qlen(b"q"), 49);
    assert_eq!(s.jobs().registered(), 50);
    assert_eq!(
        s.jobs().peek(b"q", 100, false).expect("peek"),
        ids[1..].to_vec()
    );
    let job = s.jobs().get(&active).expect("get").expect("job");
    assert_eq!(job.state, JobState::Active);
    assert_eq!(
        job.qtime,
        T0 + 300_000,
        "requeue time unchanged by the restart"
    );
    // Nothing is due before the retry time; at it, the job is queued again.
    assert_eq!(
        s.jobs()
            .run_timers(T0 + 299_999, 100)
            .expect("timers")
            .requeued,
        0
    );
    let run = s.jobs().run_timers(T0 + 300_000, 100).expect("timers");
    assert_eq!(run.requeued, 1);
    let job = s.jobs().get(&active).expect("get").expect("job");
    assert_eq!(
        (job.state, job.deliveries, job.nacks),
        (JobState::Queued, 1, 0)
    );
    // Requeued jobs go back to their place by creation time: the head.
    assert_eq!(s.jobs().peek(b"q", 1, false).expect("peek"), vec![active]);
    check_invariants(&mut s);
}

#[test]
fn nack_enqueue_dequeue_and_counters() {
    let dir = tempfile::tempdir().expect("tmp");
    let mut s = open(dir.path());
    let a = s.jobs().add(spec("q", "a"), T0).expect("add");
    assert!(
        !s.jobs().enqueue(&a, true, 0, T0).expect("nack queued"),
        "queued: no-op"
    );
    s.jobs().fetch(b"q", T0).expect("fetch");
    assert!(s.jobs().enqueue(&a, true, 0, T0).expect("nack"));
    s.jobs().fetch(b"q", T0).expect("fetch");
    assert!(s.jobs().enqueue(&a, false, 0, T0).expect("enqueue"));
    let j = s.jobs().get(&a).expect("get").expect("job");
    assert_eq!((j.nacks, j.deliveries, j.state), (1, 1, JobState::Queued));
    assert!(s.jobs().dequeue(&a, T0).expect("dequeue"));
    assert!(!s.jobs().dequeue(&a, T0).expect("dequeue again"));
    assert_eq!(s.jobs().qlen(b"q"), 0);
    check_invariants(&mut s);
}

#[test]
fn at_most_once_jobs_are_never_queued_again() {
    let dir = tempfile::tempdir().expect("tmp");
    let mut s = open(dir.path());
    let mut sp = spec("q", "x");
    sp.retry = 0;
    sp.ttl_word = ttl_word(86_400, 0);
    let a = s.jobs().add(sp, T0).expect("add");
    assert!(!a.at_least_once());
    s.jobs().fetch(b"q", T0).expect("fetch").expect("job");
    assert!(!s.jobs().enqueue(&a, true, 0, T0).expect("nack"));
    assert_eq!(
        s.jobs()
            .run_timers(T0 + 10_000_000, 100)
            .expect("t")
            .requeued,
        0
    );
    assert_eq!(s.jobs().qlen(b"q"), 0);
    check_invariants(&mut s);
}

#[test]
fn delay_ttl_and_working() {
    let dir = tempfile::tempdir().expect("tmp");
    let mut s = open(dir.path());
    let mut sp = spec("q", "d");
    sp.delay = 5;
    sp.ttl = 20;
    sp.retry = 2;
    let d = s.jobs().add(sp, T0).expect("add");
    assert_eq!(s.jobs().qlen(b"q"), 0, "delayed");
    assert_eq!(s.jobs().run_timers(T0 + 4_999, 10).expect("t").requeued, 0);
    assert_eq!(s.jobs().run_timers(T0 + 5_000, 10).expect("t").requeued, 1);
    let j = s.jobs().get(&d).expect("get").expect("job");
    assert_eq!(
        (j.state, j.deliveries),
        (JobState::Queued, 0),
        "the first queuing is no redelivery"
    );
    // WORKING dequeues and postpones; refused after half the TTL.
    assert_eq!(
        s.jobs().working(&d, T0 + 6_000).expect("w"),
        Working::Retry(2)
    );
    assert_eq!(s.jobs().qlen(b"q"), 0);
    assert_eq!(s.jobs().get(&d).expect("g").expect("j").qtime, T0 + 8_000);
    assert_eq!(
        s.jobs().working(&d, T0 + 10_001).expect("w"),
        Working::TooLate
    );
    assert_eq!(
        s.jobs().working(&JobId([1; 20]), T0).expect("w"),
        Working::NoJob
    );
    // Expiry a second after the TTL, whatever the state.
    let run = s.jobs().run_timers(T0 + 21_000, 100).expect("t");
    assert_eq!(run.expired, 1);
    assert!(s.jobs().get(&d).expect("get").is_none());
    assert_eq!(s.jobs().registered(), 0);
    check_invariants(&mut s);
}

#[test]
fn timers_do_a_bounded_amount_of_work_per_call() {
    let dir = tempfile::tempdir().expect("tmp");
    let mut s = open(dir.path());
    for i in 0..25 {
        let mut sp = spec("q", &format!("{i}"));
        sp.delay = 1;
        s.jobs().add(sp, T0).expect("add");
    }
    commit(&mut s);
    let now = T0 + 1_000;
    let r1 = s.jobs().run_timers(now, 10).expect("t");
    assert_eq!((r1.requeued, r1.more), (10, true));
    let r2 = s.jobs().run_timers(now, 10).expect("t");
    assert_eq!((r2.requeued, r2.more), (10, true));
    let r3 = s.jobs().run_timers(now, 10).expect("t");
    assert_eq!((r3.requeued, r3.more), (5, false));
    assert_eq!(s.jobs().qlen(b"q"), 25);
    check_invariants(&mut s);
}

#[test]
fn nack_delay_and_dead_letters() {
    let dir = tempfile::tempdir().expect("tmp");
    let mut s = open(dir.path());
    let mut sp = spec("q", "p");
    sp.max_deliveries = 2;
    sp.dead_letter = Bytes::from_static(b"dlq");
    let p = s.jobs().add(sp, T0).expect("add");
    s.jobs().fetch(b"q", T0).expect("f").expect("job");
    // NACK with a delay: counted now, queued later.
    assert!(s.jobs().enqueue(&p, true, 3_000, T0).expect("nack delay"));
    assert_eq!(s.jobs().qlen(b"q"), 0);
    assert_eq!(s.jobs().get(&p).expect("g").expect("j").nacks, 1);
    assert_eq!(s.jobs().run_timers(T0 + 3_000, 10).expect("t").requeued, 1);
    let j = s.jobs().get(&p).expect("g").expect("j");
    assert_eq!((j.state, j.nacks, j.deliveries), (JobState::Queued, 1, 0));
    // Second delivery, NACK: the limit is reached, the job moves to the dead-letter queue
    // with its counters.
    s.jobs().fetch(b"q", T0 + 4_000).expect("f").expect("job");
    assert!(s.jobs().enqueue(&p, true, 0, T0 + 4_000).expect("nack"));
    assert_eq!((s.jobs().qlen(b"q"), s.jobs().qlen(b"dlq")), (0, 1));
    let j = s.jobs().get(&p).expect("g").expect("j");
    assert_eq!((&j.queue[..], j.nacks), (&b"dlq"[..], 2));
    check_invariants(&mut s);
}

#[test]
fn scans_pause_and_queue_gc() {
    let dir = tempfile::tempdir().expect("tmp");
    let mut s = open(dir.path());
    let mut ids: Vec<JobId> = (0..30)
        .map(|i| {
            s.jobs()
                .add(spec(&format!("q{}", i % 3), "x"), T0)
                .expect("add")
        })
        .collect();
    ids.sort();
    commit(&mut s);
    // JSCAN: every job exactly once over a walk of small pages.
    let mut seen = Vec::new();
    let mut cursor = 0;
    loop {
        let (next, items) = s.jobs().scan(cursor, 4, 40, |_| true).expect("scan");
        seen.extend(items.into_iter().map(|i| i.id));
        if next == 0 {
            break;
        }
        cursor = next;
    }
    seen.sort();
    seen.dedup();
    assert_eq!(seen, ids);
    let (_, q1) = s
        .jobs()
        .scan(0, 100, 1000, |j| &j.queue[..] == b"q1")
        .expect("scan");
    assert_eq!(q1.len(), 10);
    // QSCAN.
    let (next, names) = s.jobs().scan_queues(0, 100, |_| true);
    assert_eq!((next, names.len()), (0, 3));
    let mut all = Vec::new();
    let mut cursor = 0;
    loop {
        let (next, names) = s.jobs().scan_queues(cursor, 1, |_| true);
        all.extend(names);
        if next == 0 {
            break;
        }
        cursor = next;
    }
    all.sort();
    assert_eq!(
        all,
        vec![Bytes::from("q0"), Bytes::from("q1"), Bytes::from("q2")]
    );
    // PAUSE.
    let q = Bytes::from_static(b"empty");
    assert_eq!(s.jobs().set_pause(&q, Some(0), T0), 0);
    assert!(
        s.jobs().queue(b"empty").is_none(),
        "PAUSE none creates nothing"
    );
    assert_eq!(s.jobs().set_pause(&q, Some(PAUSED_IN), T0), PAUSED_IN);
    assert_eq!(s.jobs().set_pause(&q, None, T0), PAUSED_IN);
    // GC: empty, unpaused and idle queues go.
    for i in 0..3 {
        while s
            .jobs()
            .fetch(format!("q{i}").as_bytes(), T0)
            .expect("f")
            .is_some()
        {}
    }
    assert_eq!(s.jobs().gc_queues(T0 + 299_000, 300, |_| false), 0);
    assert_eq!(s.jobs().gc_queues(T0 + 300_000, 300, |n| n == b"q0"), 2);
    assert!(s.jobs().queue(b"q0").is_some() && s.jobs().queue(b"empty").is_some());
    check_invariants(&mut s);
    drop(s);
    let mut s = open(dir.path());
    assert_eq!(s.jobs().queue_count(), 2);
    assert_eq!(
        s.jobs().set_pause(&q, None, T0),
        PAUSED_IN,
        "pause state survives"
    );
}

#[test]
fn uncommitted_jobs_are_gone_after_reopen() {
    let dir = tempfile::tempdir().expect("tmp");
    {
        let mut s = open(dir.path());
        s.jobs().add(spec("q", "kept"), T0).expect("add");
        commit(&mut s);
        s.jobs().add(spec("q", "lost"), T0).expect("add");
        // Dropped without a commit: what a crash before the drain's batch leaves.
        drop(s);
    }
    let mut s = open(dir.path());
    assert_eq!(s.jobs().qlen(b"q"), 1);
    let ids = s.jobs().peek(b"q", 10, false).expect("peek");
    assert_eq!(
        s.jobs().body(&ids[0]).expect("body").as_deref(),
        Some(&b"kept"[..])
    );
}

/// A queue longer than its in-memory head (`jobs/head.rs`) is fetched in order through
/// refills, with jobs requeued before the head, removed from the middle, and a restart (which
/// starts every head empty) in between; debug builds check the head against the index at
/// every fetch.
#[test]
fn long_queues_are_fetched_in_order_through_their_head() {
    let dir = tempfile::tempdir().expect("tmp");
    let n = 3 * HEAD_MAX as u64 + 17;
    let mut expect: std::collections::BTreeMap<u64, JobId> = Default::default();
    {
        let mut s = open(dir.path());
        for i in 0..n {
            let id = s
                .jobs()
                .add(spec("q", &format!("j{i}")), T0 + i)
                .expect("add");
            expect.insert(i, id);
        }
        commit(&mut s);
        // Take a head's worth and a half, then give some back (NACK: to their place, the
        // front) and delete a few queued ones from the middle and the far end.
        let mut taken = Vec::new();
        for i in 0..(HEAD_MAX as u64 * 3 / 2) {
            let (id, _) = s
                .jobs()
                .fetch(b"q", T0 + n + i)
                .expect("fetch")
                .expect("job");
            assert_eq!(Some(&id), expect.get(&i), "fetch {i} in order");
            taken.push(i);
        }
        for &i in taken.iter().step_by(7) {
            assert!(s
                .jobs()
                .enqueue(&expect[&i], true, 0, T0 + 2 * n)
                .expect("nack"));
        }
        for i in taken.iter().filter(|i| *i % 7 != 0) {
            expect.remove(i);
        }
        for i in [HEAD_MAX as u64 * 2, HEAD_MAX as u64 * 2 + 5, n - 1] {
            assert!(s.jobs().delete(&expect[&i], T0 + 2 * n).expect("deljob"));
            expect.remove(&i);
        }
        check_invariants(&mut s);
        // A few more fetches before the restart, committed.
        for _ in 0..5 {
            let (id, _) = s
                .jobs()
                .fetch(b"q", T0 + 3 * n)
                .expect("fetch")
                .expect("job");
            let (&first, &want) = expect.iter().next().expect("left");
            assert_eq!(id, want);
            expect.remove(&first);
        }
        commit(&mut s);
    }
    let mut s = open(dir.path());
    assert_eq!(s.jobs().qlen(b"q"), expect.len() as u64);
    // A job added after the restart goes to the tail even while the head is empty.
    let late = s.jobs().add(spec("q", "late"), T0 + 4 * n).expect("add");
    expect.insert(u64::MAX, late);
    for (_, want) in expect {
        let (id, _) = s
            .jobs()
            .fetch(b"q", T0 + 5 * n)
            .expect("fetch")
            .expect("job");
        assert_eq!(id, want);
    }
    assert!(s.jobs().fetch(b"q", T0 + 5 * n).expect("fetch").is_none());
    check_invariants(&mut s);
}

/// A head refill reads the records of the jobs it takes into the cache (one range scan
/// instead of a point read per GETJOB), skipping other queues' jobs between them, and what it
/// caches is what the store holds.
#[test]
fn a_head_refill_reads_its_jobs_ahead() {
    let dir = tempfile::tempdir().expect("tmp");
    let mut ids = Vec::new();
    {
        let mut s = open(dir.path());
        for i in 0..(2 * HEAD_MAX as u64) {
            let id = s
                .jobs()
                .add(spec("q", &format!("j{i}")), T0 + 2 * i)
                .expect("add");
            ids.push(id);
            // Another queue's job between each two of q's, among the record keys.
            s.jobs()
                .add(spec("other", &format!("o{i}")), T0 + 2 * i + 1)
                .expect("add");
        }
        commit(&mut s);
    }
    // Reopened: the cache is cold.
    let mut s = open(dir.path());
    assert!(ids.iter().all(|id| s.jobs_ref().cache.get(id).is_none()));
    let (first, _) = s
        .jobs()
        .fetch(b"q", T0 + 10_000)
        .expect("fetch")
        .expect("job");
    assert_eq!(first, ids[0]);
    let j = s.jobs_ref();
    // The head's jobs (half of the records the scan reads are the other queue's).
    const { assert!(2 * HEAD_MAX <= PREFETCH_SCAN) };
    for id in &ids[1..HEAD_MAX] {
        let cached = j.cache.get(id).expect("read ahead into the cache");
        let stored = j
            .read_with(&job_key(TAG_JOB, id), Job::decode)
            .expect("read")
            .flatten()
            .expect("stored");
        assert_eq!(cached, &stored);
    }
    assert!(
        j.cache.get(&ids[HEAD_MAX]).is_none(),
        "no further than the head"
    );
    assert_eq!(
        j.cache.len(),
        HEAD_MAX,
        "only q's head is read ahead, not the other queue's jobs"
    );
    for (i, want) in ids.iter().enumerate().skip(1) {
        let (id, job) = s
            .jobs()
            .fetch(b"q", T0 + 10_000)
            .expect("fetch")
            .expect("job");
        assert_eq!(&id, want);
        assert_eq!(job.body.as_deref(), Some(format!("j{i}").as_bytes()));
    }
    check_invariants(&mut s);
}

/// Small bodies live in the job record, large ones in a record of their own; both read back
/// the same before and after a restart (cold cache), and deleting a job removes either.
#[test]
fn small_bodies_are_inline_large_ones_separate() {
    let dir = tempfile::tempdir().expect("tmp");
    let small = "s".repeat(INLINE_BODY_MAX);
    let large = "L".repeat(cache::CACHE_BODY_MAX + 1);
    let (a, b) = {
        let mut s = open(dir.path());
        let a = s.jobs().add(spec("q", &small), T0).expect("add");
        let b = s.jobs().add(spec("q", &large), T0).expect("add");
        assert_eq!(
            s.jobs().body(&b).expect("body").as_deref(),
            Some(large.as_bytes())
        );
        check_invariants(&mut s);
        (a, b)
    };
    let mut s = open(dir.path());
    let job = s.jobs().get(&a).expect("get").expect("a");
    assert_eq!(job.body.as_deref(), Some(small.as_bytes()));
    assert!(s.jobs().get(&b).expect("get").expect("b").body.is_none());
    let (got, _) = s.jobs().fetch(b"q", T0 + 1).expect("fetch").expect("a");
    assert_eq!(got, a);
    assert_eq!(
        s.jobs().body(&a).expect("body").as_deref(),
        Some(small.as_bytes())
    );
    assert_eq!(
        s.jobs().body(&b).expect("body").as_deref(),
        Some(large.as_bytes())
    );
    assert!(s.jobs().delete(&a, T0 + 2).expect("ack"));
    assert!(s.jobs().delete(&b, T0 + 2).expect("ack"));
    assert_eq!(s.jobs().body(&b).expect("body"), None);
    check_invariants(&mut s);
    assert_eq!(s.jobs_ref().ks.prefix(&[TAG_BODY]).count(), 0);
}

/// A data directory from before the `jobs` keyspace (job records in `keys`) opens with its
/// jobs where they were: the first open moves them.
#[test]
fn job_records_in_the_old_keyspace_are_moved() {
    let dir = tempfile::tempdir().expect("tmp");
    let (a, b) = {
        let mut s = open(dir.path());
        let a = s.jobs().add(spec("q", "a"), T0).expect("add");
        let b = s
            .jobs()
            .add(spec("q", &"B".repeat(2000)), T0 + 1)
            .expect("add");
        s.jobs().fetch(b"q", T0 + 2).expect("fetch").expect("a");
        commit(&mut s);
        s.close().expect("close");
        (a, b)
    };
    {
        // Rewrite the directory into the old layout.
        let db = fjall::Database::builder(dir.path()).open().expect("fjall");
        let keys = db
            .keyspace("keys", fjall::KeyspaceCreateOptions::default)
            .expect("keys");
        let spaces = super::spaces::Spaces::open(&db).expect("job keyspaces");
        let mut moved = 0;
        for (_, ks) in spaces.all() {
            let all: Vec<_> = ks.iter().map(|g| g.into_inner().expect("read")).collect();
            for (k, v) in all {
                keys.insert(k.clone(), v).expect("insert");
                ks.remove(k).expect("remove");
                moved += 1;
            }
        }
        assert!(moved > 5);
        db.persist(fjall::PersistMode::SyncAll).expect("persist");
    }
    let mut s = open(dir.path());
    assert_eq!(s.jobs().registered(), 2);
    assert_eq!(
        s.jobs().get(&a).expect("get").expect("a").state,
        JobState::Active
    );
    assert_eq!(s.jobs().peek(b"q", 10, false).expect("peek"), vec![b]);
    assert_eq!(
        s.jobs().body(&b).expect("body").map(|b| b.len()),
        Some(2000)
    );
    check_invariants(&mut s);
    drop(s);
    let s = open(dir.path());
    assert_eq!(s.jobs_ref().registered(), 2, "nothing moved twice or lost");
}

/// A data directory from before the split of the job store over five keyspaces (every kind
/// of job record in `jobs`) opens with its jobs where they were: the first open moves the
/// bodies, indexes and queue records to their keyspaces, and a second open finds nothing to
/// move.
#[test]
fn job_records_of_the_one_keyspace_layout_are_split() {
    let dir = tempfile::tempdir().expect("tmp");
    let (a, b, c) = {
        let mut s = open(dir.path());
        let a = s.jobs().add(spec("q", "a"), T0).expect("add");
        let b = s
            .jobs()
            .add(spec("q", &"B".repeat(2000)), T0 + 1)
            .expect("add");
        let c = s.jobs().add(spec("r", "c"), T0 + 2).expect("add");
        s.jobs().fetch(b"q", T0 + 3).expect("fetch").expect("a");
        commit(&mut s);
        s.close().expect("close");
        (a, b, c)
    };
    {
        // Rewrite the directory into the one-keyspace layout, its marker included.
        let db = fjall::Database::builder(dir.path()).open().expect("fjall");
        let keys = db
            .keyspace("keys", fjall::KeyspaceCreateOptions::default)
            .expect("keys");
        let spaces = super::spaces::Spaces::open(&db).expect("job keyspaces");
        let jobs = spaces.of(&[TAG_JOB]).clone();
        let mut moved = 0;
        let others: Vec<(&str, fjall::Keyspace)> =
            spaces.all().skip(1).map(|(n, k)| (n, k.clone())).collect();
        drop(spaces);
        for (name, ks) in others {
            let all: Vec<_> = ks.iter().map(|g| g.into_inner().expect("read")).collect();
            assert!(!all.is_empty(), "{name} is empty");
            for (k, v) in all {
                jobs.insert(k, v).expect("insert");
                moved += 1;
            }
            db.delete_keyspace(ks).expect("delete");
        }
        assert!(moved >= 8, "body, index, timer and queue records: {moved}");
        keys.insert(crate::store::JOBS_KEYSPACE_KEY, [1u8])
            .expect("marker");
        db.persist(fjall::PersistMode::SyncAll).expect("persist");
    }
    let mut s = open(dir.path());
    assert_eq!(s.jobs().registered(), 3);
    assert_eq!(
        s.jobs().get(&a).expect("get").expect("a").state,
        JobState::Active
    );
    assert_eq!(s.jobs().peek(b"q", 10, false).expect("peek"), vec![b]);
    assert_eq!(s.jobs().peek(b"r", 10, false).expect("peek"), vec![c]);
    assert_eq!(
        s.jobs().body(&b).expect("body").map(|b| b.len()),
        Some(2000)
    );
    check_invariants(&mut s);
    s.close().expect("close");
    drop(s);
    let mut s = open(dir.path());
    assert_eq!(
        s.jobs_ref().ks.split_legacy().expect("split"),
        0,
        "all moved at the first open"
    );
    assert_eq!(s.jobs().registered(), 3, "nothing moved twice or lost");
    check_invariants(&mut s);
}

/// Records created and removed within one drain leave nothing (not even tombstones), while a
/// record that fjall holds and that is removed, written again and removed again in one drain
/// is removed on disk, and one removed and written again is kept.
#[test]
fn records_made_and_dropped_in_one_drain_never_reach_the_batch() {
    let dir = tempfile::tempdir().expect("tmp");
    let mut s = open(dir.path());
    let a = s.jobs().add(spec("q", "a"), T0).expect("add");
    let b = s.jobs().add(spec("q", "b"), T0 + 1).expect("add");
    commit(&mut s);
    // a: fetched, NACKed (back to its place, same queue-index key), fetched again.
    assert_eq!(
        s.jobs().fetch(b"q", T0 + 2).expect("fetch").map(|j| j.0),
        Some(a)
    );
    assert!(s.jobs().enqueue(&a, true, 0, T0 + 3).expect("nack"));
    assert_eq!(
        s.jobs().fetch(b"q", T0 + 4).expect("fetch").map(|j| j.0),
        Some(a)
    );
    // b: dequeued and enqueued again.
    assert!(s.jobs().dequeue(&b, T0 + 5).expect("dequeue"));
    assert!(s.jobs().enqueue(&b, false, 0, T0 + 6).expect("enqueue"));
    check_invariants(&mut s);
    assert_eq!(s.jobs().peek(b"q", 10, false).expect("peek"), vec![b]);
    // c: added and fetched in the same drain: only its record and its requeue timer are
    // staged, both new.
    let c = s.jobs().add(spec("q2", "c"), T0 + 7).expect("add");
    assert_eq!(
        s.jobs().fetch(b"q2", T0 + 8).expect("fetch").map(|j| j.0),
        Some(c)
    );
    let staged: Vec<&Staged> = s.jobs_ref().pending.values().collect();
    assert_eq!(staged.len(), 2, "{staged:?}");
    assert!(staged.iter().all(|s| matches!(s, Staged::New(_))));
    // Acknowledged in the same drain too: nothing at all is written for it.
    assert!(s.jobs().delete(&c, T0 + 9).expect("ack"));
    assert!(s.jobs_ref().pending.is_empty());
    check_invariants(&mut s);
}

#[test]
fn removed_jobs_are_reported_only_while_tracked() {
    let dir = tempfile::tempdir().expect("tmp");
    let mut s = open(dir.path());
    let a = s.jobs().add(spec("q", "a"), T0).expect("add");
    let b = s.jobs().add(spec("q", "b"), T0).expect("add");
    let mut short = spec("q", "c");
    short.ttl = 5;
    short.retry = 1;
    let c = s.jobs().add(short, T0).expect("add");
    // Not tracked: a removal leaves nothing behind.
    assert!(s.jobs().delete(&a, T0).expect("del"));
    assert!(s.jobs().take_gone().is_empty());
    s.jobs().track_gone(true);
    // A dequeue or a requeue is no removal; a delete and an expiry are.
    assert!(s.jobs().dequeue(&b, T0).expect("deq"));
    assert!(s.jobs().enqueue(&b, true, 0, T0).expect("enq"));
    assert!(s.jobs().take_gone().is_empty());
    assert!(s.jobs().delete(&b, T0).expect("del"));
    assert!(!s.jobs().delete(&b, T0).expect("del again"), "already gone");
    assert_eq!(s.jobs().take_gone(), vec![b]);
    assert_eq!(s.jobs().run_timers(T0 + 6_000, 100).expect("t").expired, 1);
    assert_eq!(s.jobs().take_gone(), vec![c]);
    assert!(s.jobs().take_gone().is_empty(), "taken once");
    // Turning tracking off forgets what it held.
    let d = s.jobs().add(spec("q", "d"), T0 + 6_000).expect("add");
    assert!(s.jobs().delete(&d, T0 + 6_000).expect("del"));
    s.jobs().track_gone(false);
    assert!(s.jobs().take_gone().is_empty());
    check_invariants(&mut s);
}

/// The job log (`jobs/log.rs`): commits write log records, not the records themselves; a
/// crash (a drop without a close) keeps everything committed, replayed from the log at the
/// next open; a job added, fetched and acknowledged in three drains never reaches the
/// keyspaces; a close folds.
#[test]
fn the_job_log_replays_what_was_not_folded() {
    let dir = tempfile::tempdir().expect("tmp");
    let (node, a, b, c);
    {
        let mut s = open(dir.path());
        node = s.jobs().node_id().to_string();
        a = s.jobs().add(spec("q", "a"), T0).expect("add");
        commit(&mut s);
        b = s.jobs().add(spec("q", "b"), T0 + 1).expect("add");
        let mut big = spec("q2", "");
        big.body = Bytes::from(vec![b'x'; INLINE_BODY_MAX + 1]);
        c = s.jobs().add(big, T0 + 2).expect("add");
        commit(&mut s);
        // a: fetched in one drain, acknowledged in the next.
        assert_eq!(
            s.jobs().fetch(b"q", T0 + 3).expect("fetch").map(|j| j.0),
            Some(a)
        );
        commit(&mut s);
        assert!(s.jobs().delete(&a, T0 + 4).expect("ack"));
        commit(&mut s);
        // b: fetched and NACKed; c: fetched (active).
        assert_eq!(
            s.jobs().fetch(b"q", T0 + 5).expect("fetch").map(|j| j.0),
            Some(b)
        );
        assert!(s.jobs().enqueue(&b, true, 0, T0 + 6).expect("nack"));
        assert_eq!(
            s.jobs().fetch(b"q2", T0 + 7).expect("fetch").map(|j| j.0),
            Some(c)
        );
        commit(&mut s);
        check_view(s.jobs_ref(), View::Merged);
        let j = s.jobs_ref();
        // One per commit: the open's (the new node ID) and these five.
        assert_eq!(
            j.ks.prefix(&[log::TAG_LOG]).count(),
            6,
            "one log record per commit"
        );
        for tag in [TAG_JOB, TAG_BODY, TAG_QUEUED, TAG_TIMER] {
            assert_eq!(
                j.ks.prefix(&[tag]).count(),
                0,
                "no record of kind {tag:#x} in the keyspaces before a fold"
            );
        }
        assert!(j.ks.get(NODE_KEY).expect("read").is_none());
        // Staged and not committed: lost, as any uncommitted write.
        s.jobs().add(spec("q", "lost"), T0 + 8).expect("add");
        drop(s);
    }
    let mut s = open(dir.path());
    assert_eq!(
        s.jobs().node_id(),
        node,
        "the node ID is replayed from the log"
    );
    assert_eq!(s.jobs().registered(), 2);
    assert!(
        s.jobs().get(&a).expect("get").is_none(),
        "a stays acknowledged"
    );
    let jb = s.jobs().get(&b).expect("get").expect("b");
    assert_eq!((jb.state, jb.nacks), (JobState::Queued, 1));
    let jc = s.jobs().get(&c).expect("get").expect("c");
    assert_eq!(jc.state, JobState::Active);
    assert_eq!(
        s.jobs().body(&c).expect("body").map(|b| b.len()),
        Some(INLINE_BODY_MAX + 1)
    );
    assert_eq!(s.jobs().peek(b"q", 10, false).expect("peek"), vec![b]);
    assert_eq!(s.jobs().qlen(b"q2"), 0);
    // Going on from the replayed log: a's records were never written, b's are replayed.
    assert_eq!(
        s.jobs().fetch(b"q", T0 + 9).expect("fetch").map(|j| j.0),
        Some(b)
    );
    check_invariants(&mut s);
    let d = s.jobs().add(spec("q", "d"), T0 + 10).expect("add");
    commit(&mut s);
    s.close().expect("close");
    drop(s);
    let mut s = open(dir.path());
    let j = s.jobs_ref();
    assert_eq!(j.ks.prefix(&[log::TAG_LOG]).count(), 0, "a close folds");
    assert!(j.pending.is_empty());
    assert!(j.ks.get(&job_key(TAG_JOB, &d)).expect("read").is_some());
    assert_eq!(s.jobs().node_id(), node);
    assert_eq!(s.jobs().peek(b"q", 10, false).expect("peek"), vec![d]);
    check_invariants(&mut s);
}

/// A commit folds when `pending` reaches `FOLD_ENTRIES` records, or when the log records since
/// the last fold reach `FOLD_BYTES` (here: one job dequeued and enqueued again drain after
/// drain, which keeps `pending` small), so neither grows without bound. A fold that finds most
/// records created since the last one still there makes the store go direct; one that finds
/// them gone (jobs acknowledged) keeps the log.
#[test]
fn the_job_log_folds_at_its_limits() {
    let dir = tempfile::tempdir().expect("tmp");
    let mut s = open(dir.path());
    let mut n = 0u64;
    // A backlog: each job stages three records (record, timer, queue index), all kept.
    while s.jobs_ref().pending.len() + 3 < log::FOLD_ENTRIES {
        s.jobs().add(spec("q", "j"), T0 + n).expect("add");
        n += 1;
        if n.is_multiple_of(1000) {
            commit(&mut s);
        }
    }
    commit(&mut s);
    assert!(s.jobs_ref().ks.prefix(&[log::TAG_LOG]).count() > 0);
    assert_eq!(s.jobs_ref().log.mode, log::Mode::Log);
    s.jobs().add(spec("q", "j"), T0 + n).expect("add");
    s.jobs().add(spec("q", "j"), T0 + n + 1).expect("add");
    commit(&mut s);
    assert!(s.jobs_ref().pending.is_empty(), "folded at FOLD_ENTRIES");
    assert_eq!(s.jobs_ref().ks.prefix(&[log::TAG_LOG]).count(), 0);
    assert_eq!(s.jobs_ref().ks.prefix(&[TAG_JOB]).count() as u64, n + 2);
    assert_eq!(
        s.jobs_ref().log.mode,
        log::Mode::Direct(log::DIRECT_OPS),
        "every record of the backlog was still there: direct"
    );
    // Direct: a commit writes the records themselves, no log record.
    let direct = s.jobs().add(spec("q", "d"), T0 + n + 2).expect("add");
    assert!(s.jobs_ref().ops.is_empty(), "no log record to write");
    commit(&mut s);
    assert!(s.jobs_ref().pending.is_empty());
    assert_eq!(s.jobs_ref().ks.prefix(&[log::TAG_LOG]).count(), 0);
    assert!(s
        .jobs_ref()
        .ks
        .get(&job_key(TAG_JOB, &direct))
        .expect("read")
        .is_some());
    assert_eq!(
        s.jobs_ref().log.mode,
        log::Mode::Direct(log::DIRECT_OPS - 3)
    );

    // As after DIRECT_OPS writes: the log again. A flow (add, fetch, acknowledge, each in a
    // drain of its own) keeps its records out of the keyspaces and stays on the log.
    s.jobs().log.mode = log::Mode::Log;
    let mut folds = 0;
    for i in 0..30_000u64 {
        let id = s.jobs().add(spec("flow", "f"), T0 + i).expect("add");
        commit(&mut s);
        assert_eq!(
            s.jobs().fetch(b"flow", T0 + i).expect("fetch").map(|j| j.0),
            Some(id)
        );
        commit(&mut s);
        assert!(s.jobs().delete(&id, T0 + i).expect("ack"));
        let before = s.jobs_ref().log.bytes;
        commit(&mut s);
        if s.jobs_ref().log.bytes == 0 {
            assert!(before >= log::FOLD_BYTES, "folded at {before} bytes");
            assert_eq!(
                s.jobs_ref().log.mode,
                log::Mode::Log,
                "the flow's records died"
            );
            folds += 1;
        }
        assert!(s.jobs_ref().pending.len() <= 4);
    }
    assert!(folds >= 1, "folded at FOLD_BYTES");
    assert_eq!(s.jobs().qlen(b"flow"), 0);
    check_invariants(&mut s);
}

/// A job log that cannot be replayed whole (a record that does not decode, a missing record)
/// stops the open with an error naming it, instead of opening with the changes it held lost.
#[test]
fn a_damaged_job_log_stops_the_open() {
    for damage in ["undecodable", "gap"] {
        let dir = tempfile::tempdir().expect("tmp");
        {
            let mut s = open(dir.path());
            for i in 0..3 {
                s.jobs().add(spec("q", "a"), T0 + i).expect("add");
                commit(&mut s);
            }
            let j = s.jobs_ref();
            let (first, next) = (j.log.first, j.log.next);
            assert!(next - first >= 3);
            let ks = j.ks.of(&log::key(0));
            match damage {
                "undecodable" => ks.insert(log::key(first + 1), b"\x01\x07").expect("insert"),
                _ => ks.remove(log::key(first + 1)).expect("remove"),
            }
            s.persist(Sync::Os).expect("persist");
            drop(s);
        }
        let err = match Store::open(dir.path(), &StoreOptions::default(), T0) {
            Ok(_) => panic!("{damage}: opened"),
            Err(e) => e.to_string(),
        };
        let want = match damage {
            "undecodable" => "does not decode",
            _ => "are missing",
        };
        assert!(
            err.contains("job log record") && err.contains(want),
            "{damage}: {err}"
        );
    }
}

/// A drain that stages more than one record's worth of keys writes several log records, each
/// at most `RECORD_MAX` bytes (under fjall's journal compression threshold) unless a single
/// op is larger; a replay takes them all.
#[test]
fn a_large_drain_is_logged_in_records_of_bounded_size() {
    let dir = tempfile::tempdir().expect("tmp");
    let mut ids = Vec::new();
    let big;
    {
        let mut s = open(dir.path());
        commit(&mut s);
        let before = s.jobs_ref().unfolded().0;
        for i in 0..200 {
            ids.push(s.jobs().add(spec("q", "body"), T0 + i).expect("add"));
        }
        let mut large = spec("q", "");
        large.body = Bytes::from(vec![b'z'; 3 * log::RECORD_MAX]);
        big = s.jobs().add(large, T0 + 200).expect("add");
        commit(&mut s);
        let j = s.jobs_ref();
        assert!(j.unfolded().0 - before > 3, "{:?}", j.unfolded());
        let mut oversized = 0;
        for g in j.ks.prefix(&[log::TAG_LOG]) {
            let (_, v) = g.into_inner().expect("read");
            if v.len() > log::RECORD_MAX {
                oversized += 1;
                let ops = log::decode(&v).expect("decodes");
                assert_eq!(ops.len(), 1, "only a lone large op exceeds RECORD_MAX");
            }
        }
        assert_eq!(oversized, 1, "the large body's record");
        drop(s);
    }
    let mut s = open(dir.path());
    assert_eq!(s.jobs().qlen(b"q"), 201);
    ids.push(big);
    assert_eq!(s.jobs().peek(b"q", 300, false).expect("peek"), ids);
    assert_eq!(
        s.jobs().body(&big).expect("body").map(|b| b.len()),
        Some(3 * log::RECORD_MAX)
    );
    check_invariants(&mut s);
}

/// What a client can see of the job store: the job count, each queue's jobs in order, and
/// every job ever added (its record and body, or nothing).
#[derive(Debug, PartialEq)]
struct Seen {
    registered: u64,
    queues: Vec<(u64, Vec<JobId>)>,
    jobs: Vec<(JobId, Option<Job>, Option<Bytes>)>,
}

/// The first difference between two views, to report it in a line rather than whole.
fn first_difference(a: &Seen, b: &Seen) -> Option<String> {
    if a.registered != b.registered {
        return Some(format!("job count {} vs {}", a.registered, b.registered));
    }
    if let Some(i) = (0..a.queues.len()).find(|&i| a.queues[i] != b.queues[i]) {
        return Some(format!("queue {i}: {:?} vs {:?}", a.queues[i], b.queues[i]));
    }
    a.jobs
        .iter()
        .zip(&b.jobs)
        .find(|(x, y)| x != y)
        .map(|(x, y)| format!("job {:?}: {:?} vs {:?}", x.0, x.1, y.1))
}

fn seen(s: &mut Store, queues: &[&str], ids: &[JobId]) -> Seen {
    let j = s.jobs();
    Seen {
        registered: j.registered(),
        queues: queues
            .iter()
            .map(|q| {
                (
                    j.qlen(q.as_bytes()),
                    j.peek(q.as_bytes(), 100_000, false).expect("peek"),
                )
            })
            .collect(),
        jobs: ids
            .iter()
            .map(|id| (*id, j.get(id).expect("get"), j.body(id).expect("body")))
            .collect(),
    }
}

/// Random job operations (add, fetch, acknowledge, NACK with and without a delay, dequeue,
/// WORKING, timers) with random commits, forced folds, switches between the log and direct
/// writes at commit boundaries, clean closes and crashes (a drop without a close): after every
/// reopen the store shows exactly what it showed at the last commit, and its invariants hold
/// over the merged view and, after a fold, over the disk. `SLUICE_JOBLOG_CASES` (default 6)
/// and `SLUICE_JOBLOG_STEPS` (default 600) size it.
#[test]
fn random_job_operations_survive_crashes_through_the_log() {
    let env = |k: &str, d: u64| {
        std::env::var(k)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(d)
    };
    let (cases, steps) = (
        env("SLUICE_JOBLOG_CASES", 6),
        env("SLUICE_JOBLOG_STEPS", 600),
    );
    let queues = ["q0", "q1", "q2", "dead"];
    for case in 0..cases {
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15 ^ (case + 1).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        let mut rnd = move |n: u64| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x % n
        };
        let dir = tempfile::tempdir().expect("tmp");
        let mut s = open(dir.path());
        let mut now = T0;
        let mut ids: Vec<JobId> = Vec::new();
        let (mut crashes, mut closes, mut folds) = (0, 0, 0);
        for step in 0..steps {
            now += rnd(700);
            let pick = |r: u64, ids: &[JobId]| ids.get(r as usize % ids.len().max(1)).copied();
            match rnd(100) {
                0..=29 => {
                    let mut sp = spec(queues[rnd(3) as usize], "");
                    sp.body = Bytes::from(vec![b'a' + rnd(26) as u8; 1 + rnd(400) as usize]);
                    sp.ttl = 5 + rnd(60);
                    sp.retry = if rnd(5) == 0 { 0 } else { 1 + rnd(3) as u32 };
                    sp.ttl_word = ttl_word(sp.ttl as i64, i64::from(sp.retry));
                    if rnd(6) == 0 {
                        sp.delay = 1 + rnd(3) as u32;
                    }
                    if rnd(4) == 0 {
                        sp.max_deliveries = 1 + rnd(3) as u32;
                        sp.dead_letter = Bytes::from_static(b"dead");
                    }
                    ids.push(s.jobs().add(sp, now).expect("add"));
                }
                30..=49 => {
                    s.jobs()
                        .fetch(queues[rnd(4) as usize].as_bytes(), now)
                        .expect("fetch");
                }
                50..=61 => {
                    if let Some(id) = pick(rnd(1 << 20), &ids) {
                        s.jobs().delete(&id, now).expect("ack");
                    }
                }
                62..=69 => {
                    if let Some(id) = pick(rnd(1 << 20), &ids) {
                        let delay = if rnd(2) == 0 { 0 } else { 500 + rnd(2000) };
                        s.jobs().enqueue(&id, true, delay, now).expect("nack");
                    }
                }
                70..=74 => {
                    if let Some(id) = pick(rnd(1 << 20), &ids) {
                        s.jobs().dequeue(&id, now).expect("dequeue");
                    }
                }
                75..=79 => {
                    if let Some(id) = pick(rnd(1 << 20), &ids) {
                        s.jobs().working(&id, now).expect("working");
                    }
                }
                80..=84 => {
                    s.jobs().run_timers(now, 50).expect("timers");
                }
                _ => {
                    // A commit boundary: commit, sometimes forcing a fold or switching the
                    // mode (only ever at a commit, as the store does), then sometimes a crash
                    // or a clean close.
                    if rnd(8) == 0 {
                        s.jobs().request_fold();
                        folds += 1;
                    }
                    commit(&mut s);
                    let committed = seen(&mut s, &queues, &ids);
                    match rnd(6) {
                        0 => s.jobs().log.mode = log::Mode::Direct(1 + rnd(200) as usize),
                        1 => s.jobs().log.mode = log::Mode::Log,
                        _ => {}
                    }
                    match rnd(10) {
                        0 => {
                            // Staged after the commit, then a crash: lost, as it should be.
                            if let Some(id) = pick(rnd(1 << 20), &ids) {
                                s.jobs().delete(&id, now).expect("ack");
                            }
                            drop(s);
                            s = open(dir.path());
                            crashes += 1;
                            let now_seen = seen(&mut s, &queues, &ids);
                            assert!(
                                now_seen == committed,
                                "case {case} step {step}: after a crash: {:?}",
                                first_difference(&now_seen, &committed)
                            );
                        }
                        1 => {
                            s.close().expect("close");
                            drop(s);
                            s = open(dir.path());
                            closes += 1;
                            assert_eq!(s.jobs_ref().unfolded().0, 0, "a close folds");
                            let now_seen = seen(&mut s, &queues, &ids);
                            assert!(
                                now_seen == committed,
                                "case {case} step {step}: after a close: {:?}",
                                first_difference(&now_seen, &committed)
                            );
                        }
                        _ => {}
                    }
                }
            }
        }
        commit(&mut s);
        check_invariants(&mut s);
        assert!(
            steps < 300 || (crashes > 0 && closes > 0 && folds > 0),
            "case {case}: {crashes} crashes, {closes} closes, {folds} folds"
        );
    }
}
