//! Consumer groups as job queues (`XQ.*`) on the real server:
//!
//! * a worker that takes a job and dies has it redelivered to a blocked worker after the
//!   visibility timeout, with no janitor (the blocked XREADGROUP is woken by the server);
//!   XQ.RENEW keeps a job; a job past MAXDELIVER lands in the dead-letter stream once;
//! * a job given back with a delay (XQ.NACK) is not served before it is due, also across a
//!   kill -9 and restart, and is served to a blocked reader once due;
//! * kill -9 under a producer/consumer load where 10 % of the jobs are abandoned (never
//!   acknowledged): after the last restart every job is acknowledged or in the dead-letter
//!   stream exactly once, nothing acknowledged comes back, nothing is lost.
//!
//! Waits are on events (a blocked read that returns, INFO-like fields), never sleeps; the
//! server's own `TIME` decides whether a delay had passed.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::{Conn, Resp, Rng, Server};

fn server_ms(c: &mut Conn) -> u64 {
    let t = c.req_str("TIME");
    let a = t.array();
    let s: u64 = a[0].text().parse().unwrap();
    let us: u64 = a[1].text().parse().unwrap();
    s * 1000 + us / 1000
}

/// The IDs of an XREADGROUP reply on one stream (nil: none).
fn ids(r: &Resp) -> Vec<String> {
    match r {
        Resp::Nil => Vec::new(),
        Resp::Array(streams) => streams
            .iter()
            .flat_map(|s| s.array()[1].array().iter().map(|e| e.array()[0].text()))
            .collect(),
        other => panic!("unexpected XREADGROUP reply {other:?}"),
    }
}

fn group_field(c: &mut Conn, key: &str, field: &str) -> Resp {
    let groups = c.req_str(&format!("XINFO GROUPS {key}"));
    groups.array()[0].field(field)
}

#[test]
fn crashed_worker_redelivered_renewed_and_dead_lettered() {
    let s = Server::start(&[]);
    let mut c = s.conn();
    c.req_str("XGROUP CREATE jobs w $ MKSTREAM");
    assert_eq!(
        c.req_str("XQ.CONFIG jobs w VISIBILITY 300 MAXDELIVER 2 DEADLETTER jobs:dead"),
        Resp::Status("OK".into())
    );
    let id = c.req_str("XADD jobs * task 1").text();
    // Worker a takes it and "crashes" (never acknowledges).
    assert_eq!(
        ids(&c.req_str("XREADGROUP GROUP w a COUNT 1 STREAMS jobs >")),
        vec![id.clone()]
    );
    // Worker b blocks: the server wakes it with the job once the visibility timeout passes.
    let got = c.req_str("XREADGROUP GROUP w b COUNT 1 BLOCK 10000 STREAMS jobs >");
    assert_eq!(ids(&got), vec![id.clone()]);
    let p = c.req_str("XPENDING jobs w - + 10");
    assert_eq!(p.array()[0].array()[1].text(), "b");
    assert_eq!(p.array()[0].array()[3].int(), 2);
    // b renews its lease (not a delivery); a cannot renew what it lost.
    assert_eq!(c.req_str(&format!("XQ.RENEW jobs w b {id}")).int(), 1);
    assert_eq!(c.req_str(&format!("XQ.RENEW jobs w a {id}")).int(), 0);
    assert_eq!(
        c.req_str("XPENDING jobs w - + 10").array()[0].array()[3].int(),
        2
    );
    // b dies too: at 2 deliveries the job goes to the dead-letter stream, once; a blocked
    // reader of the dead-letter stream sees it.
    let dead = c.req_str("XREAD COUNT 10 BLOCK 10000 STREAMS jobs:dead 0-0");
    let entries = dead.array()[0].array()[1].array().to_vec();
    assert_eq!(entries.len(), 1);
    let f: Vec<String> = entries[0].array()[1]
        .array()
        .iter()
        .map(Resp::text)
        .collect();
    assert_eq!(
        &f[..12],
        [
            "dlq-stream",
            "jobs",
            "dlq-id",
            &id,
            "dlq-group",
            "w",
            "dlq-consumer",
            "b",
            "dlq-deliveries",
            "2",
            "dlq-reason",
            "maxdeliver"
        ]
    );
    assert_eq!(&f[14..], ["task", "1"]);
    assert_eq!(c.req_str("XPENDING jobs w").array()[0].int(), 0);
    assert_eq!(group_field(&mut c, "jobs", "dead-lettered").int(), 1);
    assert_eq!(group_field(&mut c, "jobs", "redeliveries").int(), 1);
    assert_eq!(c.req_str("XLEN jobs:dead").int(), 1);
    assert_eq!(
        c.info_field("queuegroups", "queue_groups").as_deref(),
        Some("1")
    );
    assert_eq!(
        c.info_field("queuegroups", "queue_groups_dead_lettered")
            .as_deref(),
        Some("1")
    );
    let line = c
        .info_field("queuegroups", "qgroup0")
        .expect("per-group line");
    assert!(
        line.starts_with("db=0,key=jobs,group=w,pending=0,"),
        "{line}"
    );
    assert!(
        c.req_str("INFO").text().find("Queuegroups").is_none(),
        "not in the default INFO"
    );
    // Errors.
    assert!(matches!(c.req_str("XQ.CONFIG jobs nog"), Resp::Error(e) if e.starts_with("NOGROUP")));
    assert!(matches!(c.req_str("XQ.CONFIG nokey w"), Resp::Error(e) if e == "ERR no such key"));
    assert!(matches!(
        c.req_str("XQ.CONFIG jobs w MAXDELIVER 1 DEADLETTER jobs"),
        Resp::Error(_)
    ));
    assert!(matches!(
        c.req_str("XQ.CONFIG jobs w VISIBILITY -1"),
        Resp::Error(_)
    ));
    assert!(matches!(
        c.req_str("XQ.RENEW jobs w b notanid"),
        Resp::Error(_)
    ));
}

#[test]
fn delayed_nack_survives_kill9_and_wakes_a_blocked_reader() {
    let mut s = Server::start(&["--appendfsync", "always"]);
    let mut c = s.conn();
    c.req_str("XGROUP CREATE q w $ MKSTREAM");
    let id = c.req_str("XADD q * n 1").text();
    assert_eq!(
        ids(&c.req_str("XREADGROUP GROUP w a STREAMS q >")),
        vec![id.clone()]
    );
    let given_at = server_ms(&mut c);
    assert_eq!(c.req_str(&format!("XQ.NACK q w a 3000 {id}")).int(), 1);
    s.kill9();
    s.restart();
    let mut c = s.conn();
    let got = c.req_str("XREADGROUP GROUP w b STREAMS q >");
    if server_ms(&mut c) < given_at + 3000 {
        assert_eq!(got, Resp::Nil, "served before its delay");
    }
    let got = c.req_str("XREADGROUP GROUP w b BLOCK 20000 STREAMS q >");
    assert_eq!(ids(&got), vec![id.clone()]);
    assert!(server_ms(&mut c) >= given_at + 3000);
    assert_eq!(
        c.req_str("XPENDING q w - + 10").array()[0].array()[3].int(),
        2
    );
    assert_eq!(c.req_str(&format!("XACK q w {id}")).int(), 1);
}

#[test]
fn delayed_entry_is_durable_visible_to_xrange_and_served_once_due_across_kill9() {
    let mut s = Server::start(&["--appendfsync", "always"]);
    let mut c = s.conn();
    c.req_str("XGROUP CREATE q w $ MKSTREAM");
    let added_at = server_ms(&mut c);
    let late = c.req_str("XQ.ADD q DELAY 3000 * n late").text();
    let now = c.req_str("XADD q * n now").text();
    assert_eq!(
        c.req_str("XRANGE q - +").array().len(),
        2,
        "XRANGE sees it at once"
    );
    // COUNT 1: the delayed entry is passed over, the next one served.
    let got = c.req_str("XREADGROUP GROUP w a COUNT 1 STREAMS q >");
    if server_ms(&mut c) < added_at + 3000 {
        assert_eq!(ids(&got), vec![now.clone()]);
        let p = c.req_str("XPENDING q w - + 10");
        let held = p
            .array()
            .iter()
            .find(|e| e.array()[0].text() == late)
            .expect("held");
        assert_eq!(held.array()[1].text(), "", "unowned until due");
        assert_eq!(held.array()[3].int(), 0, "never delivered");
    }
    s.kill9();
    s.restart();
    let mut c = s.conn();
    let got = c.req_str("XREADGROUP GROUP w b BLOCK 20000 STREAMS q >");
    assert_eq!(ids(&got), vec![late.clone()]);
    assert!(
        server_ms(&mut c) >= added_at + 3000,
        "served before it was due"
    );
    let p = c.req_str(&format!("XPENDING q w {late} {late} 1"));
    assert_eq!(p.array()[0].array()[1].text(), "b");
    assert_eq!(p.array()[0].array()[3].int(), 1);
    // AT in the past: an ordinary entry.
    let id = c.req_str("XQ.ADD q AT 1 * n past").text();
    assert_eq!(ids(&c.req_str("XREADGROUP GROUP w b STREAMS q >")), [id]);
    assert!(
        matches!(c.req_str("XQ.ADD q SOON 1 * n x"), Resp::Error(e) if e == "ERR syntax error")
    );
}

#[test]
fn retention_deletes_consumed_entries_in_the_background() {
    let s = Server::start(&[]);
    let mut c = s.conn();
    c.req_str("XGROUP CREATE r g $ MKSTREAM");
    for i in 0..500 {
        c.req_str(&format!("XADD r * n {i}"));
    }
    assert_eq!(c.req_str("XQ.RETENTION r ACKED"), Resp::Status("OK".into()));
    let policy = c.req_str("XQ.RETENTION r");
    assert_eq!(policy.field("acked"), Resp::Int(1));
    let got = c.req_str("XREADGROUP GROUP g a COUNT 400 STREAMS r >");
    let delivered = ids(&got);
    for id in &delivered {
        c.req_str(&format!("XACK r g {id}"));
    }
    // The periodic task deletes whole nodes below the first entry still needed (the 401st).
    let start = std::time::Instant::now();
    while c.req_str("XLEN r").int() > 200 {
        assert!(start.elapsed().as_secs() < 20, "retention never ran");
        std::thread::yield_now();
    }
    let len = c.req_str("XLEN r").int();
    assert!(len >= 100, "deleted entries not yet consumed: {len} left");
    let first = c.req_str("XINFO STREAM r").field("first-entry").array()[0].text();
    assert_eq!(c.req_str("XPENDING r g").array()[0].int(), 0);
    assert!(
        !delivered.contains(&first) || first != delivered[0],
        "the oldest consumed entry is gone"
    );
    assert_eq!(c.req_str("XQ.RETENTION r OFF"), Resp::Status("OK".into()));
    assert_eq!(c.req_str("XQ.RETENTION r").field("acked"), Resp::Int(0));
}

/// kill -9 under load with redelivery and dead-lettering.
#[test]
fn kill9_under_load_every_job_acked_or_dead_lettered_once() {
    let seed = std::env::var("SLUICE_QUEUE_CRASH_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| std::process::id() as u64 * 7919);
    eprintln!("seed {seed}");
    let mut rng = Rng::new(seed);
    let mut s = Server::start(&[]);
    let mut c = s.conn();
    c.req_str("XGROUP CREATE jobs w $ MKSTREAM");
    c.req_str("XQ.CONFIG jobs w VISIBILITY 150 MAXDELIVER 3 DEADLETTER dead");
    let mut produced: BTreeSet<String> = BTreeSet::new();
    let mut acked: BTreeSet<String> = BTreeSet::new();
    const CYCLES: usize = 5;
    for cycle in 0..=CYCLES {
        let mut conns: Vec<Conn> = (0..3).map(|_| s.conn()).collect();
        let steps = if cycle == CYCLES {
            0
        } else {
            50 + rng.below(150)
        };
        for _ in 0..steps {
            let w = rng.below(3) as usize;
            if rng.chance(40) {
                let id = conns[w].req_str("XADD jobs * job x").text();
                produced.insert(id);
                continue;
            }
            let got = conns[w].req_str(&format!("XREADGROUP GROUP w c{w} COUNT 4 STREAMS jobs >"));
            for id in ids(&got) {
                assert!(!acked.contains(&id), "acknowledged {id} came back");
                // 10 % of the jobs are abandoned (the worker "crashes" on them).
                if rng.chance(90) {
                    // 0: its deadline passed since the read and it was dead-lettered (a
                    // stall of the test longer than the visibility timeout); checked below.
                    if conns[w].req_str(&format!("XACK jobs w {id}")).int() == 1 {
                        acked.insert(id);
                    }
                }
            }
        }
        if cycle < CYCLES {
            drop(conns);
            s.kill9();
            s.restart();
        }
    }
    // Drain: workers acknowledge everything now; abandoned jobs come back until they are
    // acknowledged or dead-lettered. Done when nothing is pending and nothing is new.
    let mut c = s.conn();
    loop {
        let got = c.req_str("XREADGROUP GROUP w drain COUNT 100 BLOCK 1000 STREAMS jobs >");
        for id in ids(&got) {
            assert!(!acked.contains(&id), "acknowledged {id} came back");
            // The drain abandons too, so dead-lettering happens here as well.
            if rng.chance(25) && c.req_str(&format!("XACK jobs w {id}")).int() == 1 {
                acked.insert(id);
            }
        }
        let pending = c.req_str("XPENDING jobs w").array()[0].int();
        let lag = group_field(&mut c, "jobs", "lag");
        if got == Resp::Nil && pending == 0 && lag == Resp::Int(0) {
            break;
        }
    }
    let mut dead: BTreeMap<String, usize> = BTreeMap::new();
    if let Resp::Array(es) = c.req_str("XRANGE dead - +") {
        for e in es {
            let f = e.array()[1].array();
            assert_eq!(f[2].text(), "dlq-id");
            assert_eq!(f[9].text(), "3", "dead-lettered after 3 deliveries");
            *dead.entry(f[3].text()).or_default() += 1;
        }
    }
    for (id, n) in &dead {
        assert_eq!(*n, 1, "{id} dead-lettered {n} times");
        assert!(!acked.contains(id), "{id} acknowledged and dead-lettered");
    }
    for id in &produced {
        assert!(
            acked.contains(id) || dead.contains_key(id),
            "{id} neither acknowledged nor dead-lettered"
        );
    }
    assert_eq!(acked.len() + dead.len(), produced.len());
    assert!(
        !dead.is_empty(),
        "the load dead-lettered nothing (seed {seed})"
    );
    eprintln!(
        "{} jobs: {} acknowledged, {} dead-lettered",
        produced.len(),
        acked.len(),
        dead.len()
    );
}
