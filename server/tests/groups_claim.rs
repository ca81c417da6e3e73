//! XREADGROUP … CLAIM (Redis 8.4) and XNACK (Redis 8.8) on the real server:
//!
//! * a blocked XREADGROUP CLAIM reader is woken by XNACK (the released entry is claimable at
//!   once) and, with no write at all, when a pending entry has been idle for min-idle-time
//!   (a timer of the queue-group schedule, not polling by the client);
//! * released entries, their counts and the NACK zone's order survive kill -9 and restart.
//!
//! Waits are on events (INFO `blocked_clients`, a blocked read that returns), never sleeps.

mod common;

use common::{Conn, Resp, Server};

fn blocked(c: &mut Conn) -> u64 {
    c.info_field("clients", "blocked_clients")
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

fn wait_blocked(c: &mut Conn, n: u64) {
    let start = std::time::Instant::now();
    while blocked(c) != n {
        assert!(start.elapsed().as_secs() < 10, "never {n} blocked clients");
        std::thread::yield_now();
    }
}

/// `[id, idle, count]` of each entry of a one-stream CLAIM reply.
fn claimed(r: &Resp) -> Vec<(String, i64, i64)> {
    match r {
        Resp::Array(streams) => streams[0].array()[1]
            .array()
            .iter()
            .map(|e| {
                let e = e.array();
                assert_eq!(e.len(), 4, "CLAIM entries have 4 elements");
                (e[0].text(), e[2].int(), e[3].int())
            })
            .collect(),
        other => panic!("unexpected XREADGROUP reply {other:?}"),
    }
}

#[test]
fn blocked_claim_reader_is_woken_by_xnack_and_by_idle_time() {
    let s = Server::start(&[]);
    let mut c = s.conn();
    c.req_str("XADD s 1-0 f v1");
    c.req_str("XADD s 2-0 f v2");
    c.req_str("XGROUP CREATE s g 0");
    c.req_str("XREADGROUP GROUP g c1 STREAMS s >");

    // XNACK wakes a reader whose min-idle-time (an hour) is far away.
    let mut b = s.conn();
    b.send_raw(&common::encode(&[
        b"XREADGROUP",
        b"GROUP",
        b"g",
        b"c2",
        b"BLOCK",
        b"0",
        b"CLAIM",
        b"3600000",
        b"STREAMS",
        b"s",
        b">",
    ]));
    wait_blocked(&mut c, 1);
    assert_eq!(c.req_str("XNACK s g FAIL IDS 1 2-0").int(), 1);
    let r = common::parse_resp(&b.read_reply()).0;
    assert_eq!(claimed(&r), vec![("2-0".to_string(), -1, 1)]);
    wait_blocked(&mut c, 0);

    // Idle time alone wakes a reader: 1-0 (delivered to c1 above) becomes claimable with
    // min-idle-time 300 ms without any further command (the reader blocks first: nothing
    // is idle that long yet).
    let t0 = std::time::Instant::now();
    b.send_raw(&common::encode(&[
        b"XREADGROUP",
        b"GROUP",
        b"g",
        b"c3",
        b"BLOCK",
        b"10000",
        b"CLAIM",
        b"300",
        b"STREAMS",
        b"s",
        b">",
    ]));
    let r = common::parse_resp(&b.read_reply()).0;
    let got = claimed(&r);
    // Longest idle first: 1-0 (delivered to c1), then 2-0 if it is idle long enough too.
    assert!(!got.is_empty() && got.len() <= 2, "{got:?}");
    assert_eq!((got[0].0.as_str(), got[0].2), ("1-0", 1));
    assert!(got[0].1 >= 300, "claimed at idle {}", got[0].1);
    assert!(
        t0.elapsed().as_millis() < 5_000,
        "woken late: {:?}",
        t0.elapsed()
    );
    let p = c.req_str("XPENDING s g - + 10 c3");
    assert_eq!(p.array().len(), got.len());
}

#[test]
fn nack_zone_survives_kill9() {
    let mut s = Server::start(&["--appendfsync", "always"]);
    let mut c = s.conn();
    for i in 1..=5 {
        c.req_str(&format!("XADD s {i}-0 f v{i}"));
    }
    c.req_str("XGROUP CREATE s g 0");
    c.req_str("XREADGROUP GROUP g c1 STREAMS s >");
    assert_eq!(c.req_str("XNACK s g FAIL IDS 1 4-0").int(), 1);
    assert_eq!(c.req_str("XNACK s g FATAL IDS 1 2-0").int(), 1);
    assert_eq!(c.req_str("XNACK s g SILENT IDS 1 5-0").int(), 1);
    assert_eq!(c.req_str("XNACK s g FAIL IDS 1 4-0").int(), 1); // to the end of the zone
    c.req_str("XGROUP CREATE s h 0");
    assert_eq!(
        c.req_str("XNACK s h FAIL IDS 1 3-0 RETRYCOUNT 7 FORCE")
            .int(),
        1
    );
    let before = c.req_str("XPENDING s g - + 10");
    s.kill9();
    s.restart();
    let mut c = s.conn();
    let after = c.req_str("XPENDING s g - + 10");
    // Owned rows' idle times moved on; compare the rest.
    let strip = |r: &Resp| -> Vec<(String, String, i64)> {
        r.array()
            .iter()
            .map(|x| {
                let x = x.array();
                (x[0].text(), x[1].text(), x[3].int())
            })
            .collect()
    };
    assert_eq!(strip(&before), strip(&after));
    assert_eq!(
        strip(&after),
        vec![
            ("1-0".into(), "c1".into(), 1),
            ("2-0".into(), "".into(), i64::MAX),
            ("3-0".into(), "c1".into(), 1),
            ("4-0".into(), "".into(), 1),
            ("5-0".into(), "".into(), 0),
        ]
    );
    let h = c.req_str("XPENDING s h - + 10");
    assert_eq!(strip(&h), vec![("3-0".into(), "".into(), 7)]);
    // The zone's order came back: 2-0, 5-0, 4-0 (4-0 was released again last).
    let r = c.req_str("XREADGROUP GROUP g c2 COUNT 3 CLAIM 3600000 STREAMS s >");
    let order: Vec<String> = claimed(&r).into_iter().map(|e| e.0).collect();
    assert_eq!(order, vec!["2-0", "5-0", "4-0"]);
}

/// The entry a blocked CLAIM reader's timer was set for is acknowledged before it fires:
/// the reader must still be woken for the next entry once that one is idle long enough.
#[test]
fn claim_timer_moves_on_when_its_entry_is_acknowledged() {
    let s = Server::start(&[]);
    let mut c = s.conn();
    c.req_str("XADD s 1-0 f v1");
    c.req_str("XADD s 2-0 f v2");
    c.req_str("XGROUP CREATE s g 0");
    c.req_str("XREADGROUP GROUP g c1 COUNT 1 STREAMS s >");
    // 1-0 was delivered 1.5 s ago (as far as the PEL knows), 2-0 now: with min-idle 2 s the
    // reader's first timer is for 1-0, in 0.5 s.
    let t = c.req_str("TIME");
    let now = t.array()[0].text().parse::<u64>().unwrap() * 1000
        + t.array()[1].text().parse::<u64>().unwrap() / 1000;
    c.req_str(&format!("XCLAIM s g c1 0 1-0 TIME {} JUSTID", now - 1500));
    c.req_str("XREADGROUP GROUP g c2 STREAMS s >");
    let mut b = s.conn();
    b.send_raw(&common::encode(&[
        b"XREADGROUP",
        b"GROUP",
        b"g",
        b"c3",
        b"BLOCK",
        b"20000",
        b"CLAIM",
        b"2000",
        b"STREAMS",
        b"s",
        b">",
    ]));
    wait_blocked(&mut c, 1);
    assert_eq!(c.req_str("XACK s g 1-0").int(), 1);
    let t0 = std::time::Instant::now();
    let r = common::parse_resp(&b.read_reply()).0;
    let got = claimed(&r);
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!((got[0].0.as_str(), got[0].2), ("2-0", 1));
    assert!(got[0].1 >= 2000);
    assert!(
        t0.elapsed().as_secs() < 10,
        "woken by the timeout, not a timer"
    );
}

/// In a queue group (`XQ.CONFIG` with a visibility timeout) a released entry is past its
/// deadline at once: a FAIL goes back to the group's `>` readers, a FATAL (at the delivery
/// limit) to the dead-letter stream.
#[test]
fn released_entries_in_a_queue_group() {
    let s = Server::start(&[]);
    let mut c = s.conn();
    c.req_str("XGROUP CREATE jobs w $ MKSTREAM");
    assert_eq!(
        c.req_str("XQ.CONFIG jobs w VISIBILITY 60000 MAXDELIVER 3 DEADLETTER jobs:dead"),
        Resp::Status("OK".into())
    );
    let a = c.req_str("XADD jobs * task a").text();
    let b = c.req_str("XADD jobs * task b").text();
    c.req_str("XREADGROUP GROUP w w1 STREAMS jobs >");
    assert_eq!(c.req_str(&format!("XNACK jobs w FATAL IDS 1 {a}")).int(), 1);
    assert_eq!(c.req_str(&format!("XNACK jobs w FAIL IDS 1 {b}")).int(), 1);
    let r = c.req_str("XREADGROUP GROUP w w2 BLOCK 5000 STREAMS jobs >");
    let got: Vec<String> = r.array()[0].array()[1]
        .array()
        .iter()
        .map(|e| e.array()[0].text())
        .collect();
    assert_eq!(got, vec![b.clone()]);
    let start = std::time::Instant::now();
    while c.req_str("XLEN jobs:dead").int() != 1 {
        assert!(start.elapsed().as_secs() < 10, "never dead-lettered");
        std::thread::yield_now();
    }
    let p = c.req_str("XPENDING jobs w - + 10");
    assert_eq!(p.array().len(), 1, "only b is pending: {p:?}");
}
