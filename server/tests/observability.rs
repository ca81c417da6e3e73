//! The latency monitor's samples and histograms, and MEMORY USAGE following what a stream holds
//! in memory (the compat suite checks the replies' formats against Redis; here the values).

mod common;

use common::{Resp, Server};

fn pairs_of(r: &Resp) -> Vec<(String, Resp)> {
    r.pairs()
}

/// A slow commit is Redis's `aof-write` event, with LATENCY DOCTOR's advice for it.
#[test]
fn latency_monitor_records_slow_journal_writes() {
    let s = Server::start(&[]);
    let mut c = s.conn();
    let value = vec![b'x'; 32 << 20];
    // Off by default: nothing is recorded.
    c.req(&[b"SET", b"big", &value]);
    assert_eq!(c.req_str("LATENCY LATEST").array().len(), 0);
    assert_eq!(
        c.req_str("CONFIG SET latency-monitor-threshold 1").text(),
        "OK"
    );
    // Its commit copies 32 MB into fjall's memtable and journal: well over a millisecond in
    // any build.
    assert_eq!(c.req(&[b"SET", b"big2", &value]).text(), "OK");
    let latest = c.req_str("LATENCY LATEST");
    let event = latest
        .array()
        .iter()
        .find(|e| e.array()[0].bulk() == b"aof-write")
        .unwrap_or_else(|| panic!("an `aof-write` event in {latest:?}"))
        .array()
        .to_vec();
    assert!(
        event[2].int() >= 1 && event[3].int() >= event[2].int(),
        "{event:?}"
    );
    let doctor = c.req_str("LATENCY DOCTOR").text();
    assert!(doctor.contains(". aof-write: 1 latency spikes"), "{doctor}");
    assert!(
        doctor.contains("Commits to the journal are slow"),
        "{doctor}"
    );
}

#[test]
fn latency_monitor_records_slow_commands_and_histograms_count_calls() {
    let s = Server::start(&[]);
    let mut c = s.conn();
    // Off by default: nothing is recorded.
    let big: Vec<Vec<Vec<u8>>> = (0..20_000)
        .map(|i| {
            vec![
                b"XADD".to_vec(),
                b"s".to_vec(),
                format!("1-{}", i + 1).into_bytes(),
                b"field".to_vec(),
                vec![b'x'; 64],
            ]
        })
        .collect();
    c.pipeline(&big);
    c.req_str("XRANGE s - +");
    assert_eq!(c.req_str("LATENCY LATEST").array().len(), 0);

    assert_eq!(
        c.req_str("CONFIG SET latency-monitor-threshold 1").text(),
        "OK"
    );
    // A full XRANGE of 20,000 entries takes well over a millisecond in any build.
    c.req_str("XRANGE s - +");
    let latest = c.req_str("LATENCY LATEST");
    let events = latest.array();
    let command = events
        .iter()
        .find(|e| e.array()[0].bulk() == b"command")
        .expect("a `command` event");
    let e = command.array();
    let (latest_ms, max_ms) = (e[2].int(), e[3].int());
    assert!(latest_ms >= 1 && max_ms >= latest_ms, "{e:?}");
    let history = c.req_str("LATENCY HISTORY command");
    assert_eq!(history.array().len(), 1);
    let doctor = c.req_str("LATENCY DOCTOR").text();
    // (Another event, such as a slow commit on a loaded machine, may come before it.)
    assert!(doctor.contains(". command: 1 latency spikes"), "{doctor}");
    assert!(
        !c.req_str("LATENCY GRAPH command").text().is_empty(),
        "a graph for an event with samples"
    );
    assert_eq!(c.req_str("LATENCY RESET").int(), 1);
    assert_eq!(c.req_str("LATENCY LATEST").array().len(), 0);

    // Histograms count every call, cumulatively, under Redis's µs keys.
    for _ in 0..7 {
        c.req_str("PING");
    }
    let h = c.req_str("LATENCY HISTOGRAM ping nosuch");
    let rows = pairs_of(&h);
    assert_eq!(rows.len(), 1, "{h:?}");
    assert_eq!(rows[0].0, "ping");
    let fields = pairs_of(&rows[0].1);
    assert_eq!(fields[0].0, "calls");
    assert_eq!(fields[0].1.int(), 7);
    // RESP2: a flat [µs, cumulative count, …] array (integer keys).
    let buckets: Vec<(i64, i64)> = fields[1]
        .1
        .array()
        .chunks_exact(2)
        .map(|p| (p[0].int(), p[1].int()))
        .collect();
    let last = buckets.last().expect("at least one bucket");
    assert_eq!(last.1, 7, "cumulative counts end at the number of calls");
    let counts: Vec<i64> = buckets.iter().map(|(_, n)| *n).collect();
    assert!(counts.windows(2).all(|w| w[0] < w[1]), "{counts:?}");
}

#[test]
fn memory_usage_follows_what_a_stream_holds_in_memory() {
    let s = Server::start(&[]);
    let mut c = s.conn();
    c.req_str("SET k v");
    let small = c.req_str("MEMORY USAGE k").int();
    c.req_str(&format!("SET k {}", "x".repeat(1000)));
    let large = c.req_str("MEMORY USAGE k").int();
    assert!(large >= small + 990, "{small} -> {large}");

    for i in 0..100 {
        c.req_str(&format!("XADD s 1-{} f v", i + 1));
    }
    c.req_str("XGROUP CREATE s g 0");
    let before = c.req_str("MEMORY USAGE s").int();
    c.req_str("XREADGROUP GROUP g alice COUNT 100 STREAMS s >");
    let pending = c.req_str("MEMORY USAGE s").int();
    assert!(
        pending >= before + 100 * 64,
        "100 pending entries are counted: {before} -> {pending}"
    );
    c.req_str("XACK s g 1-1 1-2 1-3 1-4 1-5 1-6 1-7 1-8 1-9 1-10");
    let acked = c.req_str("MEMORY USAGE s").int();
    assert!(acked < pending, "{pending} -> {acked}");
    assert_eq!(c.req_str("MEMORY USAGE nosuch"), Resp::Nil);
    let stats = c.req_str("MEMORY STATS");
    let dataset = stats.field("dataset.bytes").int();
    assert!(dataset >= acked + large, "{stats:?}");
}
