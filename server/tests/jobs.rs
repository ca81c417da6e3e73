//! The Disque job API against a started `sluice`: every command's replies and errors byte for
//! byte as Disque 1.0-rc1 gives them (see ../shared/specs/disque.md), blocking GETJOB and its
//! FIFO wake-ups, the timers (RETRY, DELAY, TTL, NACK … DELAY), the delivery limit, durability
//! across a restart and 20 kill -9s under a job workload (`appendfsync always`), and bad input.
//!
//! Timers are whole seconds in Disque: the tests use 1-second values and wait for the event
//! they expect by polling with a deadline, never with a fixed sleep.

mod common;

use std::time::{Duration, Instant};

use common::{parse_resp, Conn, Resp, Server};

/// Polls `f` every 20 ms until it returns true, for at most `secs` seconds.
fn wait_for(secs: u64, what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn addjob(c: &mut Conn, line: &str) -> String {
    match c.req_str(line) {
        Resp::Status(id) => id,
        other => panic!("ADDJOB {line}: {other:?}"),
    }
}

fn is_job_id(id: &str) -> bool {
    let b = id.as_bytes();
    b.len() == 40 && b.starts_with(b"D-") && b[10] == b'-' && b[35] == b'-'
}

fn raw(c: &mut Conn, line: &str) -> String {
    String::from_utf8_lossy(&c.cmd(line)).into_owned()
}

fn blocked(c: &mut Conn) -> usize {
    c.info_field("clients", "blocked_clients")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

#[test]
fn addjob_replies_a_status_id_and_disques_errors() {
    let s = Server::start(&[]);
    let mut c = s.conn();
    let reply = raw(&mut c, "ADDJOB q body 0");
    assert!(
        reply.starts_with("+D-") && reply.ends_with("\r\n") && reply.len() == 43,
        "{reply:?}"
    );
    let id = &reply[1..41];
    assert!(is_job_id(id));
    assert!(
        id.ends_with("-05a1"),
        "default TTL 1 day, at-least-once: {id}"
    );
    assert!(addjob(&mut c, "ADDJOB q b 0 TTL 60 RETRY 2").ends_with("-0001"));
    assert!(addjob(&mut c, "ADDJOB q b 0 TTL 1 RETRY 0").ends_with("-0000"));
    assert!(addjob(&mut c, "ADDJOB q b 100 REPLICATE 1 ASYNC").ends_with("-05a1"));
    // Every ID of this node carries its ID's first 8 characters.
    let prefix = &id[2..10];
    assert!(addjob(&mut c, "ADDJOB q b 0")[2..10] == *prefix);
    for (line, err) in [
        ("ADDJOB q b 0 REPLICATE 0", "-ERR REPLICATE must be between 1 and 65535\r\n"),
        ("ADDJOB q b 0 REPLICATE 65536", "-ERR REPLICATE must be between 1 and 65535\r\n"),
        ("ADDJOB q b 0 TTL 0", "-ERR TTL must be a number > 0\r\n"),
        ("ADDJOB q b 0 TTL x", "-ERR TTL must be a number > 0\r\n"),
        ("ADDJOB q b 0 RETRY -1", "-ERR RETRY time must be a non negative number\r\n"),
        ("ADDJOB q b 0 DELAY -1", "-ERR DELAY time must be a non negative number\r\n"),
        ("ADDJOB q b 0 MAXLEN 0", "-ERR MAXLEN must be a positive number\r\n"),
        ("ADDJOB q b 0 RETRY 0 REPLICATE 2", "-ERR With RETRY set to 0 please explicitly set  REPLICATE to 1 (at-most-once delivery)\r\n"),
        ("ADDJOB q b 0 TTL 10 DELAY 10", "-ERR The specified DELAY is greater than TTL. Job refused since would never be delivered\r\n"),
        ("ADDJOB q b 0 REPLICATE 2", "-NOREPL Not enough reachable nodes for the requested replication level\r\n"),
        ("ADDJOB q b 0 REPLICATE 3 ASYNC", "-NOREPL Not enough reachable nodes for the requested replication level\r\n"),
        ("ADDJOB q b x", "-ERR timeout is not an integer or out of range\r\n"),
        ("ADDJOB q b -1", "-ERR timeout is negative\r\n"),
        ("ADDJOB q b 0 FOO", "-ERR syntax error\r\n"),
        ("ADDJOB q b 0 TTL", "-ERR syntax error\r\n"),
        ("ADDJOB q b 0 MAXLEN 100", "+"),
        ("ADDJOB q b", "-ERR wrong number of arguments for 'addjob' command\r\n"),
    ] {
        let got = raw(&mut c, line);
        assert!(got.starts_with(err), "{line}: {got:?}");
    }
    // Options are checked before the timeout, as Disque does.
    assert_eq!(
        raw(&mut c, "ADDJOB q b x TTL 0"),
        "-ERR TTL must be a number > 0\r\n"
    );
    // MAXLEN refuses (never trims) once the queue is that long.
    let n = c.req_str("QLEN q").int();
    assert_eq!(
        raw(&mut c, &format!("ADDJOB q b 0 MAXLEN {n}")),
        "-MAXLEN Queue is already longer than the specified MAXLEN count\r\n"
    );
    assert!(raw(&mut c, &format!("ADDJOB q b 0 MAXLEN {}", n + 1)).starts_with("+D-"));
    assert_eq!(c.req_str("QLEN q").int(), n + 1);
}

#[test]
fn getjob_reply_shapes_and_errors() {
    let s = Server::start(&[]);
    let mut c = s.conn();
    let id = addjob(&mut c, "ADDJOB q2 x 0");
    assert_eq!(
        raw(&mut c, "GETJOB FROM q2"),
        format!("*1\r\n*3\r\n$2\r\nq2\r\n$40\r\n{id}\r\n$1\r\nx\r\n")
    );
    assert_eq!(raw(&mut c, "GETJOB NOHANG FROM q2"), "*-1\r\n");
    assert_eq!(raw(&mut c, "GETJOB NOHANG FROM nosuchqueue"), "*-1\r\n");
    assert_eq!(raw(&mut c, "NACK"), ":0\r\n");
    assert_eq!(raw(&mut c, &format!("NACK {id}")), ":1\r\n");
    assert_eq!(
        raw(&mut c, "GETJOB WITHCOUNTERS FROM q2"),
        format!("*1\r\n*7\r\n$2\r\nq2\r\n$40\r\n{id}\r\n$1\r\nx\r\n$5\r\nnacks\r\n:1\r\n$21\r\nadditional-deliveries\r\n:0\r\n")
    );
    for (line, err) in [
        (
            "GETJOB",
            "-ERR wrong number of arguments for 'getjob' command\r\n",
        ),
        ("GETJOB NOHANG", "-ERR syntax error\r\n"),
        ("GETJOB FROM", "-ERR syntax error\r\n"),
        ("GETJOB BAD FROM q", "-ERR syntax error\r\n"),
        (
            "GETJOB COUNT 0 FROM q",
            "-ERR COUNT must be a number greater than zero\r\n",
        ),
        (
            "GETJOB COUNT -1 FROM q",
            "-ERR COUNT must be a number greater than zero\r\n",
        ),
        (
            "GETJOB COUNT x FROM q",
            "-ERR COUNT must be a number greater than zero\r\n",
        ),
        (
            "GETJOB TIMEOUT x FROM q",
            "-ERR timeout is not an integer or out of range\r\n",
        ),
        ("GETJOB TIMEOUT -5 FROM q", "-ERR timeout is negative\r\n"),
        ("GETJOB NOHANG TIMEOUT", "-ERR syntax error\r\n"),
    ] {
        assert_eq!(raw(&mut c, line), err, "{line}");
    }
    // COUNT interleaves the queues, one job per queue per pass, in the order named.
    let a: Vec<String> = (0..3)
        .map(|i| addjob(&mut c, &format!("ADDJOB qa a{i} 0")))
        .collect();
    let b: Vec<String> = (0..1)
        .map(|i| addjob(&mut c, &format!("ADDJOB qb b{i} 0")))
        .collect();
    let got = c.req_str("GETJOB COUNT 10 FROM qb qa");
    let ids: Vec<String> = got.array().iter().map(|j| j.array()[1].text()).collect();
    assert_eq!(
        ids,
        vec![b[0].clone(), a[0].clone(), a[1].clone(), a[2].clone()]
    );
    // A timeout with nothing to get: the null array.
    assert_eq!(raw(&mut c, "GETJOB TIMEOUT 50 FROM empty"), "*-1\r\n");
}

#[test]
fn blocked_getjob_clients_are_served_one_job_each_in_arrival_order() {
    let s = Server::start(&[]);
    let mut admin = s.conn();
    let mut waiters: Vec<Conn> = (0..3).map(|_| s.conn()).collect();
    for (i, w) in waiters.iter_mut().enumerate() {
        w.send_raw(&common::encode(&[
            b"GETJOB", b"COUNT", b"5", b"FROM", b"other", b"bq",
        ]));
        wait_for(10, "the client to block", || blocked(&mut admin) == i + 1);
    }
    let st = admin.req_str("QSTAT bq");
    assert_eq!(st.field("blocked").int(), 3);
    // Three jobs in one request: each waiter gets one, the first arrived the oldest.
    let jobs = admin.pipeline(&[
        vec![
            b"ADDJOB".to_vec(),
            b"bq".to_vec(),
            b"j0".to_vec(),
            b"0".to_vec(),
        ],
        vec![
            b"ADDJOB".to_vec(),
            b"bq".to_vec(),
            b"j1".to_vec(),
            b"0".to_vec(),
        ],
        vec![
            b"ADDJOB".to_vec(),
            b"bq".to_vec(),
            b"j2".to_vec(),
            b"0".to_vec(),
        ],
    ]);
    for (i, w) in waiters.iter_mut().enumerate() {
        let got = parse_resp(&w.read_reply()).0;
        let job = &got.array();
        assert_eq!(job.len(), 1, "a woken client gets one job");
        assert_eq!(job[0].array()[0].text(), "bq");
        assert_eq!(job[0].array()[1].text(), jobs[i].text());
        assert_eq!(job[0].array()[2].text(), format!("j{i}"));
    }
    assert_eq!(blocked(&mut admin), 0);
    // A paused-out queue keeps its clients blocked; unpausing serves them.
    let mut w = s.conn();
    admin.req_str("PAUSE pq out");
    addjob(&mut admin, "ADDJOB pq x 0");
    w.send_raw(&common::encode(&[b"GETJOB", b"FROM", b"pq"]));
    wait_for(10, "the client to block on a paused queue", || {
        blocked(&mut admin) == 1
    });
    assert_eq!(admin.req_str("PAUSE pq none"), Resp::Status("none".into()));
    let got = parse_resp(&w.read_reply()).0;
    assert_eq!(got.array()[0].array()[2].text(), "x");
    // Blocked with a timeout: the null array when it passes.
    let mut t = s.conn();
    assert_eq!(raw(&mut t, "GETJOB TIMEOUT 100 FROM never"), "*-1\r\n");
}

#[test]
fn ack_fastack_deljob_nack_enqueue_dequeue() {
    let s = Server::start(&[]);
    let mut c = s.conn();
    let a = addjob(&mut c, "ADDJOB q a 0");
    let b = addjob(&mut c, "ADDJOB q b 0");
    let unknown = format!("{}-AAAAAAAAAAAAAAAAAAAAAAAA-05a1", &a[..10]);
    assert_eq!(raw(&mut c, "ACKJOB"), ":0\r\n");
    assert_eq!(raw(&mut c, &format!("ACKJOB {a} {a} {unknown}")), ":1\r\n");
    assert_eq!(raw(&mut c, &format!("ACKJOB {a}")), ":0\r\n");
    assert_eq!(raw(&mut c, &format!("SHOW {a}")), "$-1\r\n");
    assert_eq!(
        raw(&mut c, &format!("ACKJOB {b} garbage")),
        "-BADID Invalid Job ID format.\r\n"
    );
    assert_eq!(
        c.req_str("QLEN q").int(),
        1,
        "nothing processed when an ID is malformed"
    );
    // DEQUEUE, ENQUEUE (additional delivery), NACK (nacks).
    assert_eq!(raw(&mut c, &format!("DEQUEUE {b} {b}")), ":1\r\n");
    assert_eq!(c.req_str("QLEN q").int(), 0);
    assert_eq!(raw(&mut c, &format!("ENQUEUE {b}")), ":1\r\n");
    assert_eq!(
        raw(&mut c, &format!("ENQUEUE {b}")),
        ":0\r\n",
        "already queued"
    );
    c.req_str("GETJOB FROM q");
    assert_eq!(raw(&mut c, &format!("NACK {b} {unknown}")), ":1\r\n");
    let show = c.req_str(&format!("SHOW {b}"));
    assert_eq!(show.field("nacks").int(), 1);
    assert_eq!(show.field("additional-deliveries").int(), 1);
    assert_eq!(show.field("state").text(), "queued");
    // An at-most-once job, once delivered, is never queued again.
    let m = addjob(&mut c, "ADDJOB m x 0 RETRY 0");
    c.req_str("GETJOB FROM m");
    assert_eq!(raw(&mut c, &format!("ENQUEUE {m} {b}")), ":0\r\n");
    assert_eq!(raw(&mut c, &format!("NACK {m}")), ":0\r\n");
    // FASTACK and DELJOB delete whatever the state.
    assert_eq!(raw(&mut c, &format!("FASTACK {b} {unknown}")), ":1\r\n");
    assert_eq!(raw(&mut c, &format!("DELJOB {m} {m}")), ":1\r\n");
    assert_eq!(
        raw(&mut c, "FASTACK x"),
        "-BADID Invalid Job ID format.\r\n"
    );
    assert_eq!(raw(&mut c, "DELJOB x"), "-BADID Invalid Job ID format.\r\n");
    assert_eq!(raw(&mut c, "NACK x"), "-BADID Invalid Job ID format.\r\n");
    assert_eq!(
        raw(&mut c, "DEQUEUE x"),
        "-BADID Invalid Job ID format.\r\n"
    );
    assert_eq!(
        c.info_field("jobs", "registered_jobs").as_deref(),
        Some("0")
    );
}

#[test]
fn working_show_and_tooloate() {
    let s = Server::start(&[]);
    let mut c = s.conn();
    let id = addjob(&mut c, "ADDJOB w body 0 TTL 120");
    assert_eq!(
        raw(&mut c, &format!("WORKING {id}")),
        ":12\r\n",
        "default RETRY is TTL/10"
    );
    assert_eq!(c.req_str("QLEN w").int(), 0, "WORKING dequeues");
    let unknown = format!("{}-AAAAAAAAAAAAAAAAAAAAAAAA-05a1", &id[..10]);
    assert_eq!(
        raw(&mut c, &format!("WORKING {unknown}")),
        "-NOJOB Job not known in the context of this node.\r\n"
    );
    assert_eq!(
        raw(&mut c, "WORKING D-"),
        "-BADID Invalid Job ID format.\r\n"
    );
    assert_eq!(
        raw(&mut c, "WORKING"),
        "-ERR wrong number of arguments for 'working' command\r\n"
    );
    let show = c.req_str(&format!("SHOW {id}"));
    let keys: Vec<String> = show.pairs().into_iter().map(|(k, _)| k).collect();
    assert_eq!(
        keys,
        [
            "id",
            "queue",
            "state",
            "repl",
            "ttl",
            "ctime",
            "delay",
            "retry",
            "nacks",
            "additional-deliveries",
            "nodes-delivered",
            "nodes-confirmed",
            "next-requeue-within",
            "next-awake-within",
            "body"
        ]
    );
    assert_eq!(show.field("id").text(), id);
    assert_eq!(show.field("queue").text(), "w");
    assert_eq!(show.field("state").text(), "active");
    assert_eq!(show.field("repl").int(), 1);
    assert!((119..=120).contains(&show.field("ttl").int()));
    assert_eq!(show.field("retry").int(), 12);
    assert!((11_000..=12_000).contains(&show.field("next-requeue-within").int()));
    assert_eq!(show.field("nodes-delivered").array().len(), 1);
    assert_eq!(show.field("body").text(), "body");
    assert_eq!(raw(&mut c, &format!("SHOW {unknown}")), "$-1\r\n");
    assert_eq!(raw(&mut c, "SHOW bad"), "-BADID Invalid Job ID format.\r\n");
    // An at-most-once job: no requeue time (null), WORKING answers 0.
    let m = addjob(&mut c, "ADDJOB w x 0 RETRY 0");
    assert!(raw(&mut c, &format!("SHOW {m}")).contains("$19\r\nnext-requeue-within\r\n$-1\r\n"));
    assert_eq!(raw(&mut c, &format!("WORKING {m}")), ":0\r\n");
    // After half the TTL, WORKING is refused.
    let t = addjob(&mut c, "ADDJOB w x 0 TTL 2 RETRY 1");
    wait_for(5, "half the TTL", || {
        raw(&mut c, &format!("WORKING {t}")).starts_with(
            "-TOOLATE Half of job TTL already elapsed, you are no longer allowed to postpone the next delivery.\r\n",
        )
    });
}

#[test]
fn queue_commands_qlen_qpeek_qstat_qscan_jscan_pause() {
    let s = Server::start(&[]);
    let mut c = s.conn();
    let ids: Vec<String> = (0..4)
        .map(|i| addjob(&mut c, &format!("ADDJOB pq j{i} 0")))
        .collect();
    assert_eq!(c.req_str("QLEN pq").int(), 4);
    assert_eq!(c.req_str("QLEN none").int(), 0);
    assert_eq!(
        raw(&mut c, "QPEEK pq 1"),
        format!("*1\r\n*3\r\n$2\r\npq\r\n$40\r\n{}\r\n$2\r\nj0\r\n", ids[0])
    );
    let newest: Vec<String> = c
        .req_str("QPEEK pq -2")
        .array()
        .iter()
        .map(|j| j.array()[1].text())
        .collect();
    assert_eq!(newest, vec![ids[3].clone(), ids[2].clone()]);
    assert_eq!(raw(&mut c, "QPEEK none 5"), "*0\r\n");
    assert_eq!(raw(&mut c, "QPEEK pq 0"), "*0\r\n");
    assert_eq!(
        raw(&mut c, "QPEEK pq x"),
        "-ERR value is not an integer or out of range\r\n"
    );
    assert_eq!(c.req_str("QPEEK pq 9223372036854775807").array().len(), 4);
    assert_eq!(c.req_str("QPEEK pq -9223372036854775808").array().len(), 4);
    // QSTAT: 20 elements in Disque's order; unknown queue: null array.
    c.req_str("GETJOB FROM pq");
    let st = c.req_str("QSTAT pq");
    let keys: Vec<String> = st.pairs().into_iter().map(|(k, _)| k).collect();
    assert_eq!(
        keys,
        [
            "name",
            "len",
            "age",
            "idle",
            "blocked",
            "import-from",
            "import-rate",
            "jobs-in",
            "jobs-out",
            "pause"
        ]
    );
    assert_eq!(st.field("len").int(), 3);
    assert_eq!(st.field("jobs-in").int(), 4);
    assert_eq!(st.field("jobs-out").int(), 1);
    assert_eq!(st.field("pause").text(), "none");
    assert_eq!(raw(&mut c, "QSTAT none"), "*-1\r\n");
    // PAUSE.
    assert_eq!(raw(&mut c, "PAUSE pq in"), "+in\r\n");
    assert_eq!(
        raw(&mut c, "ADDJOB pq x 0"),
        "-PAUSED Queue paused in input, try later\r\n"
    );
    assert_eq!(raw(&mut c, "PAUSE pq out"), "+out\r\n");
    assert_eq!(raw(&mut c, "PAUSE pq in out"), "+all\r\n");
    assert_eq!(raw(&mut c, "PAUSE pq state"), "+all\r\n");
    assert_eq!(
        raw(&mut c, "GETJOB NOHANG FROM pq"),
        "*-1\r\n",
        "paused out: as if empty"
    );
    assert_eq!(raw(&mut c, "PAUSE pq none bcast"), "+none\r\n");
    assert_eq!(raw(&mut c, "PAUSE pq bad"), "-ERR syntax error\r\n");
    assert_eq!(raw(&mut c, "PAUSE nq state"), "+none\r\n");
    assert_eq!(
        raw(&mut c, "PAUSE nq"),
        "-ERR wrong number of arguments for 'pause' command\r\n"
    );
    assert_eq!(
        raw(&mut c, "QSTAT nq"),
        "*-1\r\n",
        "PAUSE state creates no queue"
    );
    // QSCAN: [cursor as bulk, names].
    addjob(&mut c, "ADDJOB other x 0");
    let r = c.req_str("QSCAN");
    assert_eq!(r.array()[0].text(), "0");
    let mut names: Vec<String> = r.array()[1].array().iter().map(Resp::text).collect();
    names.sort();
    assert_eq!(names, vec!["other", "pq"]);
    let r = c.req_str("QSCAN 0 MINLEN 2");
    assert_eq!(
        r.array()[1]
            .array()
            .iter()
            .map(Resp::text)
            .collect::<Vec<_>>(),
        vec!["pq"]
    );
    assert_eq!(raw(&mut c, "QSCAN 0 0"), "-ERR syntax error\r\n");
    assert_eq!(
        raw(&mut c, "QSCAN abc"),
        "-ERR invalid cursor or option name\r\n"
    );
    assert_eq!(
        raw(&mut c, "QSCAN COUNT"),
        "-ERR invalid cursor or option name\r\n"
    );
    assert_eq!(
        raw(&mut c, "QSCAN COUNT x"),
        "-ERR value is not an integer or out of range\r\n"
    );
    let mut seen = Vec::new();
    let mut cursor = "0".to_string();
    loop {
        let r = c.req_str(&format!("QSCAN {cursor} COUNT 1"));
        seen.extend(r.array()[1].array().iter().map(Resp::text));
        cursor = r.array()[0].text();
        if cursor == "0" {
            break;
        }
    }
    seen.sort();
    seen.dedup();
    assert_eq!(seen, vec!["other", "pq"]);
    // JSCAN: IDs as status strings; filters; REPLY all is SHOW's array.
    let r = raw(&mut c, "JSCAN 0 QUEUE other");
    assert!(r.starts_with("*2\r\n$1\r\n0\r\n*1\r\n+D-"), "{r:?}");
    let all = c.req_str("JSCAN BUSYLOOP");
    assert_eq!(all.array()[1].array().len(), 5);
    let active = c.req_str("JSCAN STATE active REPLY all");
    assert_eq!(active.array()[1].array().len(), 1);
    assert_eq!(active.array()[1].array()[0].field("id").text(), ids[0]);
    assert_eq!(
        c.req_str("JSCAN STATE acked STATE wait-repl").array()[1]
            .array()
            .len(),
        0
    );
    assert_eq!(
        raw(&mut c, "JSCAN STATE foo"),
        "-ERR Invalid job state name\r\n"
    );
    assert_eq!(
        raw(&mut c, "JSCAN REPLY foo"),
        "-ERR Invalid REPLY type, try ID or ALL\r\n"
    );
    assert_eq!(raw(&mut c, "JSCAN 0 1"), "-ERR syntax error\r\n");
    let mut seen = Vec::new();
    let mut cursor = "0".to_string();
    for _ in 0..100 {
        let r = c.req_str(&format!("JSCAN {cursor} COUNT 2"));
        seen.extend(r.array()[1].array().iter().map(Resp::text));
        cursor = r.array()[0].text();
        if cursor == "0" {
            break;
        }
    }
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 5);
    assert_eq!(
        c.info_field("queues", "registered_queues").as_deref(),
        Some("2")
    );
}

#[test]
fn retry_requeues_delay_releases_ttl_expires() {
    let s = Server::start(&[]);
    let mut c = s.conn();
    // RETRY 1: delivered, not acknowledged, queued again with additional-deliveries 1.
    let r = addjob(&mut c, "ADDJOB rq x 0 RETRY 1");
    c.req_str("GETJOB FROM rq");
    assert_eq!(c.req_str("QLEN rq").int(), 0);
    wait_for(5, "the requeue", || c.req_str("QLEN rq").int() == 1);
    let got = c.req_str("GETJOB WITHCOUNTERS FROM rq");
    let job = got.array()[0].array();
    assert_eq!(job[1].text(), r);
    assert_eq!(job[6].int(), 1, "additional-deliveries");
    assert_eq!(raw(&mut c, &format!("ACKJOB {r}")), ":1\r\n");
    // DELAY 1: not queued until the delay ends; then a blocked client gets it.
    let d = addjob(&mut c, "ADDJOB dq y 0 DELAY 1");
    assert_eq!(c.req_str("QLEN dq").int(), 0);
    assert_eq!(
        c.req_str(&format!("SHOW {d}")).field("state").text(),
        "active"
    );
    let got = c.req_str("GETJOB TIMEOUT 5000 FROM dq");
    assert_eq!(got.array()[0].array()[1].text(), d);
    // TTL 1: gone a second or two later, whatever its state.
    let t = addjob(&mut c, "ADDJOB tq z 0 TTL 1");
    wait_for(5, "the expiry", || {
        raw(&mut c, &format!("SHOW {t}")) == "$-1\r\n"
    });
    assert_eq!(c.req_str("QLEN tq").int(), 0);
    // NACK … DELAY (extension): counted at once, queued after the delay.
    let n = addjob(&mut c, "ADDJOB nq w 0");
    c.req_str("GETJOB FROM nq");
    assert_eq!(raw(&mut c, &format!("NACK {n} DELAY 1")), ":1\r\n");
    assert_eq!(c.req_str("QLEN nq").int(), 0);
    assert_eq!(c.req_str(&format!("SHOW {n}")).field("nacks").int(), 1);
    wait_for(5, "the delayed NACK", || c.req_str("QLEN nq").int() == 1);
    assert_eq!(c.req_str(&format!("SHOW {n}")).field("nacks").int(), 1);
    assert_eq!(
        raw(&mut c, &format!("NACK {n} DELAY -1")),
        "-ERR DELAY time must be a non negative number\r\n"
    );
}

#[test]
fn delivery_limit_moves_a_job_to_its_dead_letter_queue() {
    let s = Server::start(&[]);
    let mut c = s.conn();
    let id = addjob(&mut c, "ADDJOB work x 0 MAXDELIVER 2 DEADLETTER dead");
    for _ in 0..2 {
        c.req_str("GETJOB FROM work");
        assert_eq!(raw(&mut c, &format!("NACK {id}")), ":1\r\n");
    }
    assert_eq!(c.req_str("QLEN work").int(), 0);
    assert_eq!(c.req_str("QLEN dead").int(), 1);
    let show = c.req_str(&format!("SHOW {id}"));
    assert_eq!(
        (show.field("queue").text(), show.field("nacks").int()),
        ("dead".into(), 2)
    );
    assert_eq!(
        raw(&mut c, "ADDJOB work x 0 MAXDELIVER 2"),
        "-ERR MAXDELIVER and DEADLETTER go together\r\n"
    );
    assert_eq!(
        raw(&mut c, "ADDJOB work x 0 MAXDELIVER 0 DEADLETTER d"),
        "-ERR MAXDELIVER must be between 1 and 4294967295\r\n"
    );
}

#[test]
fn bad_input_gets_errors_not_panics() {
    let s = Server::start(&[]);
    let mut c = s.conn();
    for line in [
        "ADDJOB q b 0 TTL 9223372036854775807",
        "ADDJOB q b 0 TTL 9223372036854775807 RETRY 9223372036854775807 DELAY 9223372036854775806",
        "ADDJOB q b 9223372036854775807",
        "ADDJOB q b 0 MAXLEN 9223372036854775807",
    ] {
        assert!(raw(&mut c, line).starts_with("+D-"), "{line}");
    }
    for (line, err) in [
        (
            "ADDJOB q b 0 TTL 9223372036854775808",
            "-ERR TTL must be a number > 0\r\n",
        ),
        (
            "ADDJOB q b 0 TTL -9223372036854775808",
            "-ERR TTL must be a number > 0\r\n",
        ),
        (
            "ADDJOB q b 0 RETRY -9223372036854775808",
            "-ERR RETRY time must be a non negative number\r\n",
        ),
        (
            "GETJOB COUNT 99999999999999999999 FROM q",
            "-ERR COUNT must be a number greater than zero\r\n",
        ),
        (
            "GETJOB TIMEOUT 99999999999999999999 FROM q",
            "-ERR timeout is not an integer or out of range\r\n",
        ),
        (
            "QPEEK q 99999999999999999999",
            "-ERR value is not an integer or out of range\r\n",
        ),
        (
            "JSCAN 99999999999999999999",
            "-ERR invalid cursor or option name\r\n",
        ),
        (
            "SHOW D-xxxxxxxx-yyyyyyyyyyyyyyyyyyyyyyyy-zzz",
            "-BADID Invalid Job ID format.\r\n",
        ),
        (
            "ACKJOB D-xxxxxxxx-yyyyyyyyyyyyyyyyyyyyyyyy-zzzzz",
            "-BADID Invalid Job ID format.\r\n",
        ),
    ] {
        assert_eq!(raw(&mut c, line), err, "{line}");
    }
    // Well-formed garbage: unknown jobs.
    for id in [
        "D-xxxxxxxx-yyyyyyyyyyyyyyyyyyyyyyyy-zzzz",
        "D-\u{1}\u{2}\u{3}\u{4}\u{5}\u{6}\u{7}\u{8}-!!!!!!!!!!!!!!!!!!!!!!!!-FFFF",
    ] {
        assert_eq!(raw(&mut c, &format!("SHOW {id}")), "$-1\r\n");
        assert_eq!(raw(&mut c, &format!("ACKJOB {id}")), ":0\r\n");
        assert_eq!(raw(&mut c, &format!("NACK {id}")), ":0\r\n");
        assert!(raw(&mut c, &format!("WORKING {id}")).starts_with("-NOJOB"));
    }
    // A huge COUNT returns what there is.
    let n = c.req_str("QLEN q").int() as usize;
    assert_eq!(
        c.req_str("GETJOB COUNT 9223372036854775807 FROM q")
            .array()
            .len(),
        n
    );
    // Many queues, many IDs.
    let mut args: Vec<Vec<u8>> = vec![b"GETJOB".to_vec(), b"NOHANG".to_vec(), b"FROM".to_vec()];
    args.extend((0..500).map(|i| format!("q{i}").into_bytes()));
    let refs: Vec<&[u8]> = args.iter().map(Vec::as_slice).collect();
    assert_eq!(c.cmd_args(&refs), b"*-1\r\n");
    let id = addjob(&mut c, "ADDJOB big x 0");
    let mut args: Vec<Vec<u8>> = vec![b"ACKJOB".to_vec()];
    args.extend((0..20_000).map(|_| id.clone().into_bytes()));
    let refs: Vec<&[u8]> = args.iter().map(Vec::as_slice).collect();
    assert_eq!(c.cmd_args(&refs), b":1\r\n");
    // A long queue name is refused; a body with any bytes round-trips.
    let long = "q".repeat(70_000);
    assert!(raw(&mut c, &format!("ADDJOB {long} x 0")).starts_with("-ERR queue name too long"));
    let body: Vec<u8> = (0..=255u8).cycle().take(100_000).collect();
    let id = match c.req(&[b"ADDJOB", b"bin", &body, b"0"]) {
        Resp::Status(id) => id,
        other => panic!("{other:?}"),
    };
    let got = c.req_str("GETJOB FROM bin");
    assert_eq!(got.array()[0].array()[1].text(), id);
    assert_eq!(got.array()[0].array()[2].bulk(), &body[..]);
}

#[test]
fn jobs_survive_restart_and_kill9_in_order_under_appendfsync_always() {
    let mut s = Server::start(&["--appendfsync", "always"]);
    let mut c = s.conn();
    let ids: Vec<String> = (0..20)
        .map(|i| addjob(&mut c, &format!("ADDJOB dur j{i} 0 RETRY 60")))
        .collect();
    // One delivered (active), one acknowledged, one delayed.
    let got = c.req_str("GETJOB FROM dur");
    assert_eq!(got.array()[0].array()[1].text(), ids[0]);
    assert_eq!(raw(&mut c, &format!("ACKJOB {}", ids[1])), ":1\r\n");
    let delayed = addjob(&mut c, "ADDJOB later d 0 DELAY 1");
    let node = c
        .req_str(&format!("SHOW {}", ids[2]))
        .field("nodes-delivered")
        .array()[0]
        .text();
    // All of it is in the job log so far (storage/src/jobs/log.rs), not yet folded.
    assert_eq!(
        c.info_field("persistence", "sluice_job_log_mode")
            .as_deref(),
        Some("log")
    );
    let logged = |c: &mut Conn| -> u64 {
        c.info_field("persistence", "sluice_job_log_records")
            .and_then(|v| v.parse().ok())
            .expect("sluice_job_log_records")
    };
    assert!(logged(&mut c) > 20);
    for restart in ["kill -9", "clean stop"] {
        match restart {
            "kill -9" => s.restart(),
            _ => {
                s.stop();
                s.restart();
            }
        }
        let mut c = s.conn();
        // A kill leaves the log to replay; a clean stop folds it into the keyspaces.
        let records = logged(&mut c);
        match restart {
            "kill -9" => assert!(records > 20, "{records}"),
            _ => assert_eq!(records, 0),
        }
        // Queued jobs are queued at once, in order; the acknowledged one never comes back.
        let queued: Vec<String> = c
            .req_str("QPEEK dur 100")
            .array()
            .iter()
            .map(|j| j.array()[1].text())
            .collect();
        assert_eq!(queued, ids[2..].to_vec(), "after {restart}");
        assert_eq!(raw(&mut c, &format!("SHOW {}", ids[1])), "$-1\r\n");
        // The delivered job is still active with its requeue time.
        let show = c.req_str(&format!("SHOW {}", ids[0]));
        assert_eq!(show.field("state").text(), "active");
        let within = show.field("next-requeue-within").int();
        assert!(within > 0 && within <= 60_000, "{within}");
        assert_eq!(
            show.field("nodes-delivered").array()[0].text(),
            node,
            "stable node ID"
        );
        assert_eq!(
            c.info_field("jobs", "registered_jobs").as_deref(),
            Some("20")
        );
    }
    // The delayed job's timer survived too.
    let mut c = s.conn();
    let got = c.req_str("GETJOB TIMEOUT 5000 FROM later");
    assert_eq!(got.array()[0].array()[1].text(), delayed);
}

/// What the kill -9 workload last learnt about a job, from the replies it got.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Known {
    /// ADDJOB answered, or NACK answered 1: in its queue.
    Queued,
    /// Delivered by GETJOB (RETRY 300 s: it stays delivered for the whole test).
    Active,
    /// ACKJOB answered 1: gone for good.
    Acked,
    /// ACKJOB or NACK sent, the server killed before it answered: either outcome is right.
    InDoubt,
}

/// One event of the kill -9 workload, in the order the worker saw them.
enum Event {
    Added(String),
    Got(String),
    Nacked(String),
    Acked(String),
    InDoubt(String),
    /// ADDJOB sent, the server killed before it answered: the job may exist, under an ID the
    /// worker never learnt (its body says where it stands in the order of creation).
    AddInDoubt,
    /// GETJOB sent, the server killed before it answered: one queued job may have been
    /// delivered, the worker cannot know which.
    GetInDoubt,
}

/// Kill -9 cycles for [`kill9_under_a_job_workload_loses_no_acknowledged_job`]: 20 (the
/// issue's bar), or `SLUICE_JOB_KILL_CYCLES`.
fn kill_cycles() -> usize {
    std::env::var("SLUICE_JOB_KILL_CYCLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20)
}

/// The client side of one kill -9 cycle: ADDJOB; every third job a GETJOB NOHANG and then an
/// ACKJOB or a NACK of what it got, until the connection dies. Reports every completed round
/// trip on `progress`.
fn job_workload(port: u16, cycle: usize, progress: std::sync::mpsc::Sender<usize>) -> Vec<Event> {
    let mut c = Conn::new(port);
    let mut events = Vec::new();
    let mut done = 0usize;
    let mut step = |events: &mut Vec<Event>, e: Event| {
        events.push(e);
        done += 1;
        let _ = progress.send(done);
    };
    for i in 1u64.. {
        let line = format!("ADDJOB load c{cycle}-{i} 0");
        let args: Vec<&[u8]> = line.split(' ').map(str::as_bytes).collect();
        c.send_raw(&common::encode(&args));
        let Ok(Resp::Status(id)) = read_or_dead(&mut c) else {
            events.push(Event::AddInDoubt);
            break;
        };
        step(&mut events, Event::Added(id));
        if !i.is_multiple_of(3) {
            continue;
        }
        c.send_raw(&common::encode(&[b"GETJOB", b"NOHANG", b"FROM", b"load"]));
        let Ok(Resp::Array(jobs)) = read_or_dead(&mut c) else {
            events.push(Event::GetInDoubt);
            break;
        };
        let got = jobs[0].array()[1].text();
        step(&mut events, Event::Got(got.clone()));
        let ack = i.is_multiple_of(2);
        let verb: &[u8] = if ack { b"ACKJOB" } else { b"NACK" };
        c.send_raw(&common::encode(&[verb, got.as_bytes()]));
        match read_or_dead(&mut c) {
            Ok(Resp::Int(1)) if ack => step(&mut events, Event::Acked(got)),
            Ok(Resp::Int(1)) => step(&mut events, Event::Nacked(got)),
            Ok(other) => panic!("{} {got}: {other:?}", String::from_utf8_lossy(verb)),
            Err(()) => {
                events.push(Event::InDoubt(got));
                break;
            }
        }
    }
    events
}

/// Kill -9 while a client adds, gets, acks and nacks, 20 times in a row (the bar; set
/// `SLUICE_JOB_KILL_CYCLES` for more or fewer): every acknowledged ADDJOB survives, no
/// acknowledged ACKJOB comes back, every job is in the state its last answered command left it
/// in, and the queue keeps its order. Each kill lands once the client has done a number of
/// round trips that changes from cycle to cycle (waited for, not slept), so kills fall on
/// ADDJOBs, GETJOBs, ACKJOBs and NACKs.
#[test]
fn kill9_under_a_job_workload_loses_no_acknowledged_job() {
    use std::collections::HashMap;
    let started = Instant::now();
    let cycles = kill_cycles();
    let mut s = Server::start(&["--appendfsync", "always"]);
    let mut known: HashMap<String, Known> = HashMap::new();
    let mut added: Vec<String> = Vec::new();
    let (mut gets_in_doubt, mut adds_in_doubt, mut acks, mut nacks) = (0, 0, 0, 0);
    // Jobs delivered that no answered ADDJOB had named (their ADDJOB was cut by a kill).
    let mut unnamed = 0usize;
    for cycle in 0..cycles {
        let (tx, rx) = std::sync::mpsc::channel();
        let port = s.port;
        let worker = std::thread::spawn(move || job_workload(port, cycle, tx));
        // 40..=142 round trips, varying with the cycle.
        let kill_after = 40 + (cycle * 37) % 103;
        while rx
            .recv_timeout(Duration::from_secs(30))
            .expect("the workload is making progress")
            < kill_after
        {}
        s.kill9();
        drop(rx);
        for e in worker.join().expect("worker") {
            match e {
                Event::Added(id) => {
                    added.push(id.clone());
                    assert!(known.insert(id, Known::Queued).is_none(), "a job ID twice");
                }
                Event::Got(id) => match known.insert(id.clone(), Known::Active) {
                    // An ACKJOB in doubt that did not happen, or a NACK in doubt that did.
                    Some(Known::Queued) | Some(Known::InDoubt) => {}
                    None => {
                        unnamed += 1;
                        added.push(id);
                    }
                    Some(k) => panic!("GETJOB delivered {id}, which was {k:?}"),
                },
                Event::Nacked(id) => {
                    nacks += 1;
                    known.insert(id, Known::Queued);
                }
                Event::Acked(id) => {
                    acks += 1;
                    known.insert(id, Known::Acked);
                }
                Event::InDoubt(id) => {
                    known.insert(id, Known::InDoubt);
                }
                Event::GetInDoubt => gets_in_doubt += 1,
                Event::AddInDoubt => adds_in_doubt += 1,
            }
        }
        s.restart();
    }

    let mut c = s.conn();
    // A GETJOB killed before it answered may have delivered one queued job: that many jobs
    // expected queued may be found active, no more.
    let mut delivered_unseen = 0usize;
    for id in &added {
        let show = c.req_str(&format!("SHOW {id}"));
        let state = if show == Resp::Nil {
            None
        } else {
            Some(show.field("state").text())
        };
        match (known[id], state.as_deref()) {
            (Known::Acked, None) => {}
            (Known::Acked, Some(st)) => panic!("acknowledged job {id} came back ({st})"),
            (_, None) if known[id] != Known::InDoubt => {
                panic!("acknowledged ADDJOB {id} lost ({:?})", known[id])
            }
            (Known::InDoubt, _) => {}
            (Known::Queued, Some("queued")) | (Known::Active, Some("active")) => {}
            (Known::Queued, Some("active")) => delivered_unseen += 1,
            (k, st) => panic!("job {id}: expected {k:?}, found {st:?}"),
        }
    }
    assert!(
        delivered_unseen <= gets_in_doubt,
        "{delivered_unseen} jobs were delivered by no answered GETJOB \
         ({gets_in_doubt} GETJOBs were killed before they answered)"
    );
    // Queue order: by creation time, so the jobs in QPEEK appear in the order they were added
    // (their bodies say it: cycle, then round trip), and the queue holds exactly the jobs known
    // to be queued, give or take the ones in doubt.
    let peek = c.req_str("QPEEK load 10000");
    let order_of = |body: &[u8]| -> (usize, u64) {
        let t = std::str::from_utf8(body).expect("utf-8 body");
        let (cy, i) = t[1..].split_once('-').expect("c{cycle}-{i}");
        (cy.parse().expect("cycle"), i.parse().expect("i"))
    };
    let queued: Vec<(usize, u64)> = peek
        .array()
        .iter()
        .map(|j| order_of(j.array()[2].bulk()))
        .collect();
    assert!(queued.windows(2).all(|w| w[0] < w[1]), "queue order kept");
    let queued_known = peek
        .array()
        .iter()
        .filter(|j| known.contains_key(&j.array()[1].text()))
        .count();
    unnamed += queued.len() - queued_known;
    assert!(
        unnamed <= adds_in_doubt,
        "{unnamed} jobs no ADDJOB answer named, {adds_in_doubt} ADDJOBs cut by the kill"
    );
    let expected_queued = known.values().filter(|k| **k == Known::Queued).count();
    let in_doubt = known.values().filter(|k| **k == Known::InDoubt).count();
    assert!(
        queued_known + delivered_unseen <= expected_queued + in_doubt
            && queued_known + delivered_unseen >= expected_queued,
        "QPEEK has {queued_known} known jobs; {expected_queued} known queued, {in_doubt} in \
         doubt, {delivered_unseen} delivered unseen"
    );
    assert_eq!(
        c.req_str("QLEN load"),
        Resp::Int(queued.len() as i64),
        "QLEN agrees with QPEEK"
    );
    assert!(acks > 0 && nacks > 0, "the workload acked and nacked");
    eprintln!(
        "kill -9 x{cycles} under a job workload: {} jobs added, {acks} acked, {nacks} nacked, \
         {} queued at the end, {adds_in_doubt} ADDJOBs, {gets_in_doubt} GETJOBs and {in_doubt} \
         ACKJOB/NACKs cut by the kill; {:.1?}",
        added.len(),
        queued.len(),
        started.elapsed()
    );
}

/// One reply, or Err if the server died (the connection was reset or closed).
fn read_or_dead(c: &mut Conn) -> Result<Resp, ()> {
    use std::io::Read;
    let mut buf = Vec::new();
    let mut tmp = [0u8; 4096];
    loop {
        if let Some(n) = common::frame_len(&buf) {
            return Ok(parse_resp(&buf[..n]).0);
        }
        match c.s.read(&mut tmp) {
            Ok(0) | Err(_) => return Err(()),
            Ok(n) => buf.extend_from_slice(&tmp[..n]),
        }
    }
}

/// A server whose main port is also its Disque port (a drop-in Disque), started by hand: the
/// harness passes its own `--port`.
struct DisqueServer {
    child: std::process::Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl DisqueServer {
    fn start() -> DisqueServer {
        for _ in 0..5 {
            let dir = tempfile::tempdir().expect("tmp");
            let port = common::free_port();
            let p = port.to_string();
            let mut child = std::process::Command::new(common::sluice_bin())
                .args([
                    "--port",
                    &p,
                    "--disque-port",
                    &p,
                    "--bind",
                    "127.0.0.1",
                    "--dir",
                ])
                .arg(dir.path())
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .expect("spawn");
            let deadline = Instant::now() + Duration::from_secs(20);
            loop {
                if let Ok(Some(_)) = child.try_wait() {
                    break; // the port was taken: try another
                }
                if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    let mut c = Conn::new(port);
                    let pid = format!("process_id:{}", child.id());
                    if c.req_str("INFO server").text().contains(&pid) {
                        return DisqueServer {
                            child,
                            port,
                            _dir: dir,
                        };
                    }
                }
                assert!(Instant::now() < deadline, "sluice did not start");
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        panic!("sluice did not start after 5 attempts");
    }
}

impl Drop for DisqueServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn disque_hello_on_the_disque_port() {
    let s = DisqueServer::start();
    let p = s.port.to_string();
    let mut c = Conn::new(s.port);
    let hello = c.req_str("HELLO");
    let a = hello.array();
    assert_eq!(a.len(), 3);
    assert_eq!(a[0], Resp::Int(1));
    let node = a[1].text();
    assert_eq!(node.len(), 40);
    assert_eq!(
        a[2],
        Resp::Array(vec![
            Resp::Bulk(node.clone().into_bytes()),
            Resp::Bulk(Vec::new()),
            Resp::Bulk(p.clone().into_bytes()),
            Resp::Bulk(b"1".to_vec()),
        ])
    );
    let id = addjob(&mut c, "ADDJOB q x 0");
    assert_eq!(&id[2..10], &node[..8], "job IDs carry the node ID");
    // HELLO with arguments is still Redis's (redis-py 8 sends HELLO 3 at connect).
    assert!(raw(&mut c, "HELLO 2").starts_with("*14\r\n$6\r\nserver\r\n"));
    // Disque clients get the jobs and queues sections in the default INFO.
    let info = c.req_str("INFO").text();
    assert!(info.contains("# Jobs\r\nregistered_jobs:1\r\n"), "{info}");
    assert!(
        info.contains("# Queues\r\nregistered_queues:1\r\n"),
        "{info}"
    );
    // On a server without a Disque port, a bare HELLO is Redis's.
    let other = Server::start(&[]);
    let mut o = other.conn();
    assert!(raw(&mut o, "HELLO").starts_with("*14\r\n$6\r\nserver\r\n"));
    assert!(!o.req_str("INFO").text().contains("registered_jobs"));
}

// ---------------------------------------------------------------------------------------
// WAITJOB (Sluice extension, Disque issue #43). The tests wait for events (INFO
// `blocked_clients`, replies), never for a fixed time: a removal wakes its waiters in the
// engine turn of the removal, so once ACKJOB has answered, a waiter it did not finish is
// still blocked.

fn waitjob_send(c: &mut Conn, args: &[&str]) {
    let mut v: Vec<&[u8]> = vec![b"WAITJOB"];
    v.extend(args.iter().map(|a| a.as_bytes()));
    c.send_raw(&common::encode(&v));
}

fn client_id(c: &mut Conn) -> i64 {
    c.req_str("CLIENT ID").int()
}

#[test]
fn waitjob_answers_once_every_listed_job_is_gone() {
    let s = Server::start(&[]);
    let mut admin = s.conn();
    let mut w = s.conn();
    let a = addjob(&mut admin, "ADDJOB wq a 0");
    let b = addjob(&mut admin, "ADDJOB wq b 0");
    let c = addjob(&mut admin, "ADDJOB wq c 0");
    // No TIMEOUT (and TIMEOUT 0): no timeout, as GETJOB's. A job listed twice counts once.
    waitjob_send(&mut w, &[&a, &b, &c, &a]);
    wait_for(10, "WAITJOB to block", || blocked(&mut admin) == 1);
    // Each removal kind counts; the client stays blocked until the last one.
    assert_eq!(raw(&mut admin, &format!("ACKJOB {a}")), ":1\r\n");
    assert_eq!(blocked(&mut admin), 1, "one job of three is gone");
    assert_eq!(raw(&mut admin, &format!("DELJOB {b}")), ":1\r\n");
    assert_eq!(blocked(&mut admin), 1, "two jobs of three are gone");
    assert_eq!(raw(&mut admin, &format!("FASTACK {c}")), ":1\r\n");
    assert_eq!(w.read_reply(), b":3\r\n");
    assert_eq!(blocked(&mut admin), 0);
    // NACK, DEQUEUE and delivery are no removal.
    let d = addjob(&mut admin, "ADDJOB wq2 d 0");
    waitjob_send(&mut w, &[&d, "TIMEOUT", "0"]);
    wait_for(10, "WAITJOB to block", || blocked(&mut admin) == 1);
    admin.req_str("GETJOB FROM wq2");
    admin.req_str(&format!("NACK {d}"));
    admin.req_str(&format!("DEQUEUE {d}"));
    admin.req_str(&format!("ENQUEUE {d}"));
    assert_eq!(blocked(&mut admin), 1);
    // Two removals in one command, one of a job another waiter also waits for.
    let e = addjob(&mut admin, "ADDJOB wq2 e 0");
    let mut w2 = s.conn();
    waitjob_send(&mut w2, &[&e, &d]);
    wait_for(10, "the second WAITJOB to block", || {
        blocked(&mut admin) == 2
    });
    assert_eq!(raw(&mut admin, &format!("ACKJOB {d} {e}")), ":2\r\n");
    assert_eq!(w.read_reply(), b":1\r\n");
    assert_eq!(w2.read_reply(), b":2\r\n");
    assert_eq!(blocked(&mut admin), 0);
    // The connection goes on with its next commands.
    assert_eq!(raw(&mut w, "PING"), "+PONG\r\n");
}

#[test]
fn waitjob_counts_jobs_gone_before_the_call_and_answers_at_once() {
    let s = Server::start(&[]);
    let mut c = s.conn();
    let a = addjob(&mut c, "ADDJOB q a 0");
    let b = addjob(&mut c, "ADDJOB q b 0");
    c.req_str(&format!("ACKJOB {a}"));
    assert_eq!(raw(&mut c, &format!("WAITJOB {a}")), ":1\r\n");
    // An ID of another node's form names no job here: gone.
    let mut foreign = a.clone().into_bytes();
    foreign[2..10].copy_from_slice(b"zzzzzzzz");
    let foreign = String::from_utf8(foreign).expect("ascii");
    assert_eq!(raw(&mut c, &format!("WAITJOB {a} {foreign}")), ":2\r\n");
    // In MULTI it never blocks: the count now.
    c.req_str("MULTI");
    assert_eq!(raw(&mut c, &format!("WAITJOB {a} {b}")), "+QUEUED\r\n");
    assert_eq!(raw(&mut c, "EXEC"), "*1\r\n:1\r\n");
    // A removal earlier in the same transaction counts.
    c.req_str("MULTI");
    c.req_str(&format!("ACKJOB {b}"));
    c.req_str(&format!("WAITJOB {a} {b} TIMEOUT 0"));
    assert_eq!(raw(&mut c, "EXEC"), "*2\r\n:1\r\n:2\r\n");
    // Not from a script (as GETJOB).
    let script = format!("return redis.call('WAITJOB','{a}')");
    let got = c.cmd_args(&[b"EVAL", script.as_bytes(), b"0"]);
    let got = String::from_utf8_lossy(&got);
    assert!(
        got.starts_with("-ERR This Redis command is not allowed from script"),
        "{got}"
    );
}

#[test]
fn waitjob_errors() {
    let s = Server::start(&[]);
    let mut c = s.conn();
    let a = addjob(&mut c, "ADDJOB q a 0");
    // The malformed ID gets ACKJOB's and SHOW's -BADID, and nothing waits.
    let badid = raw(&mut c, "ACKJOB nope");
    assert_eq!(badid, "-BADID Invalid Job ID format.\r\n");
    assert_eq!(raw(&mut c, "WAITJOB nope"), badid);
    assert_eq!(raw(&mut c, &format!("WAITJOB {a} nope TIMEOUT 10")), badid);
    // GETJOB's TIMEOUT parsing and errors.
    assert_eq!(
        raw(&mut c, &format!("WAITJOB {a} TIMEOUT -1")),
        "-ERR timeout is negative\r\n"
    );
    assert_eq!(
        raw(&mut c, &format!("WAITJOB {a} TIMEOUT 1.5")),
        "-ERR timeout is not an integer or out of range\r\n"
    );
    assert_eq!(
        raw(&mut c, "GETJOB TIMEOUT 1.5 FROM q"),
        "-ERR timeout is not an integer or out of range\r\n"
    );
    assert_eq!(raw(&mut c, "WAITJOB TIMEOUT 5"), "-ERR syntax error\r\n");
    assert_eq!(
        raw(&mut c, "WAITJOB"),
        "-ERR wrong number of arguments for 'waitjob' command\r\n"
    );
    // At most 10,000 IDs.
    let mut args: Vec<&[u8]> = vec![b"WAITJOB"];
    args.extend(std::iter::repeat_n(a.as_bytes(), 10_001));
    assert_eq!(
        String::from_utf8_lossy(&c.cmd_args(&args)),
        "-ERR too many job IDs: 10001, the limit is 10000\r\n"
    );
    args.pop();
    args.extend([b"TIMEOUT".as_slice(), b"1"]);
    assert_eq!(c.cmd_args(&args), b":0\r\n", "10,000 IDs are fine");
    assert_eq!(blocked(&mut c), 0);
}

#[test]
fn waitjob_timeout_and_client_unblock_answer_the_count_so_far() {
    let s = Server::start(&[]);
    let mut admin = s.conn();
    let mut w = s.conn();
    let wid = client_id(&mut w);
    let a = addjob(&mut admin, "ADDJOB q a 0");
    let b = addjob(&mut admin, "ADDJOB q b 0");
    let c = addjob(&mut admin, "ADDJOB q c 0");
    // At its timeout: how many are gone by then.
    waitjob_send(&mut w, &[&a, &b, "TIMEOUT", "3000"]);
    wait_for(10, "WAITJOB to block", || blocked(&mut admin) == 1);
    admin.req_str(&format!("ACKJOB {a}"));
    assert_eq!(w.read_reply(), b":1\r\n");
    assert_eq!(blocked(&mut admin), 0);
    // CLIENT UNBLOCK (TIMEOUT): the same.
    waitjob_send(&mut w, &[&a, &b, &c]);
    wait_for(10, "WAITJOB to block", || blocked(&mut admin) == 1);
    admin.req_str(&format!("DELJOB {b}"));
    assert_eq!(
        admin.req_str(&format!("CLIENT UNBLOCK {wid}")).int(),
        1,
        "a WAITJOB client is unblockable"
    );
    assert_eq!(w.read_reply(), b":2\r\n");
    assert_eq!(admin.req_str(&format!("CLIENT UNBLOCK {wid}")).int(), 0);
    // CLIENT UNBLOCK … ERROR.
    waitjob_send(&mut w, &[&c]);
    wait_for(10, "WAITJOB to block", || blocked(&mut admin) == 1);
    admin.req_str(&format!("CLIENT UNBLOCK {wid} ERROR"));
    assert_eq!(
        String::from_utf8_lossy(&w.read_reply()),
        "-UNBLOCKED client unblocked via CLIENT UNBLOCK\r\n"
    );
    // Nothing of those waits is left: removing the job wakes nobody and breaks nothing.
    assert_eq!(raw(&mut admin, &format!("ACKJOB {c}")), ":1\r\n");
    assert_eq!(raw(&mut w, "PING"), "+PONG\r\n");
}

#[test]
fn waitjob_is_woken_by_ttl_expiry() {
    let s = Server::start(&[]);
    let mut c = s.conn();
    let t = addjob(&mut c, "ADDJOB tq z 0 TTL 1");
    let k = addjob(&mut c, "ADDJOB tq k 0");
    // Expired by the job timers (a second or two): the reply comes with that cron pass.
    assert_eq!(raw(&mut c, &format!("WAITJOB {t}")), ":1\r\n");
    assert_eq!(raw(&mut c, &format!("SHOW {t}")), "$-1\r\n");
    // A waiter for an expiring job and a job that stays: the count at the timeout.
    let u = addjob(&mut c, "ADDJOB tq u 0 TTL 1");
    assert_eq!(
        raw(&mut c, &format!("WAITJOB {u} {k} TIMEOUT 4000")),
        ":1\r\n"
    );
}

#[test]
fn waitjob_client_that_leaves_leaves_nothing_behind() {
    let s = Server::start(&[]);
    let mut admin = s.conn();
    let a = addjob(&mut admin, "ADDJOB q a 0");
    let b = addjob(&mut admin, "ADDJOB q b 0");
    {
        let mut w = s.conn();
        waitjob_send(&mut w, &[&a, &b]);
        let mut w2 = s.conn();
        waitjob_send(&mut w2, &[&a]);
        wait_for(10, "two WAITJOBs to block", || blocked(&mut admin) == 2);
    }
    wait_for(10, "the closed clients to be dropped", || {
        blocked(&mut admin) == 0
    });
    assert_eq!(raw(&mut admin, &format!("ACKJOB {a}")), ":1\r\n");
    assert_eq!(raw(&mut admin, "PING"), "+PONG\r\n");
    // A new waiter after the last one left is woken as the first ones would have been.
    let mut w = s.conn();
    waitjob_send(&mut w, &[&a, &b]);
    wait_for(10, "WAITJOB to block", || blocked(&mut admin) == 1);
    assert_eq!(raw(&mut admin, &format!("ACKJOB {b}")), ":1\r\n");
    assert_eq!(w.read_reply(), b":2\r\n");
}

#[test]
fn waitjob_on_many_jobs_with_many_waiters() {
    let s = Server::start(&[]);
    let mut admin = s.conn();
    let n = 2_000;
    let add: Vec<Vec<Vec<u8>>> = (0..n)
        .map(|i| {
            vec![
                b"ADDJOB".to_vec(),
                b"mq".to_vec(),
                format!("j{i}").into_bytes(),
                b"0".to_vec(),
            ]
        })
        .collect();
    let ids: Vec<String> = admin.pipeline(&add).iter().map(Resp::text).collect();
    // One waiter for every job, and one per job for the first ten.
    let mut all = s.conn();
    let mut args: Vec<&[u8]> = vec![b"WAITJOB"];
    args.extend(ids.iter().map(|i| i.as_bytes()));
    all.send_raw(&common::encode(&args));
    let mut one: Vec<Conn> = (0..10).map(|_| s.conn()).collect();
    for (i, w) in one.iter_mut().enumerate() {
        waitjob_send(w, &[&ids[i]]);
    }
    wait_for(10, "11 WAITJOBs to block", || blocked(&mut admin) == 11);
    // The first half in one ACKJOB: the ten single waiters are answered, not the big one.
    let mut ack: Vec<&[u8]> = vec![b"ACKJOB"];
    ack.extend(ids[..n / 2].iter().map(|i| i.as_bytes()));
    assert_eq!(admin.cmd_args(&ack), format!(":{}\r\n", n / 2).into_bytes());
    for w in &mut one {
        assert_eq!(w.read_reply(), b":1\r\n");
    }
    assert_eq!(blocked(&mut admin), 1);
    let mut ack: Vec<&[u8]> = vec![b"ACKJOB"];
    ack.extend(ids[n / 2..].iter().map(|i| i.as_bytes()));
    admin.cmd_args(&ack);
    assert_eq!(all.read_reply(), format!(":{n}\r\n").into_bytes());
    assert_eq!(blocked(&mut admin), 0);
}

#[test]
fn waitjob_on_the_disque_port() {
    let s = DisqueServer::start();
    let mut c = Conn::new(s.port);
    let mut w = Conn::new(s.port);
    let id = addjob(&mut c, "ADDJOB q x 0");
    waitjob_send(&mut w, &[&id]);
    wait_for(10, "WAITJOB to block", || blocked(&mut c) == 1);
    assert_eq!(raw(&mut c, &format!("ACKJOB {id}")), ":1\r\n");
    assert_eq!(w.read_reply(), b":1\r\n");
}

/// The job log's settings (`job-log`, `job-log-max-records`, `job-log-max-bytes`) change at
/// run time: off, every loop turn writes the job records directly (no log record); on again,
/// turns log; a record limit of 1 folds every turn. Jobs written under each setting survive a
/// kill -9.
#[test]
fn job_log_settings_apply_at_run_time_and_keep_jobs_across_kill9() {
    let mut s = Server::start(&["--appendfsync", "always"]);
    let mut c = s.conn();
    let field = |c: &mut Conn, f: &str| c.info_field("persistence", f).expect(f);
    assert_eq!(
        raw(&mut c, "CONFIG GET job-log"),
        "*2\r\n$7\r\njob-log\r\n$3\r\nyes\r\n"
    );
    assert_eq!(
        raw(&mut c, "CONFIG GET job-log-max-*"),
        "*4\r\n$19\r\njob-log-max-records\r\n$5\r\n16384\r\n$17\r\njob-log-max-bytes\r\n$7\r\n4194304\r\n"
    );
    let mut ids = vec![addjob(&mut c, "ADDJOB q a 0")];
    assert_eq!(field(&mut c, "sluice_job_log_mode"), "log");
    let logged: u64 = field(&mut c, "sluice_job_log_records")
        .parse()
        .expect("int");
    assert!(logged > 0);

    assert_eq!(raw(&mut c, "CONFIG SET job-log no"), "+OK\r\n");
    ids.push(addjob(&mut c, "ADDJOB q b 0"));
    assert_eq!(field(&mut c, "sluice_job_log_mode"), "off");
    assert_eq!(
        field(&mut c, "sluice_job_log_records"),
        "0",
        "turned off: folded"
    );
    assert_eq!(field(&mut c, "sluice_job_staged_records"), "0");

    assert_eq!(raw(&mut c, "CONFIG SET job-log yes"), "+OK\r\n");
    ids.push(addjob(&mut c, "ADDJOB q c 0"));
    ids.push(addjob(&mut c, "ADDJOB q d 0"));
    assert_eq!(field(&mut c, "sluice_job_log_mode"), "log");
    let logged: u64 = field(&mut c, "sluice_job_log_records")
        .parse()
        .expect("int");
    assert!(logged > 0, "on again: the turn after the switch logs");

    assert_eq!(raw(&mut c, "CONFIG SET job-log-max-records 1"), "+OK\r\n");
    ids.push(addjob(&mut c, "ADDJOB q e 0"));
    assert_eq!(
        field(&mut c, "sluice_job_log_records"),
        "0",
        "a fold every turn"
    );
    assert_eq!(
        raw(&mut c, "CONFIG SET job-log-max-records 16384"),
        "+OK\r\n"
    );
    assert_eq!(raw(&mut c, "CONFIG SET job-log-max-bytes 1mb"), "+OK\r\n");
    ids.push(addjob(&mut c, "ADDJOB q f 0"));
    assert!(raw(&mut c, "CONFIG SET job-log-max-bytes 100").starts_with("-ERR"));
    assert!(raw(&mut c, "CONFIG SET job-log-max-records 0").starts_with("-ERR"));
    assert!(raw(&mut c, "CONFIG SET job-log maybe").starts_with("-ERR"));

    s.restart();
    let mut c = s.conn();
    let queued: Vec<String> = c
        .req_str("QPEEK q 100")
        .array()
        .iter()
        .map(|j| j.array()[1].text())
        .collect();
    assert_eq!(queued, ids, "every job, in order, after kill -9");
}
