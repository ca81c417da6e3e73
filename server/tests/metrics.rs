//! The Prometheus endpoint (`metrics-port`): redis_exporter's names and labels for stream and
//! group figures, 404 for other paths, bounded requests and connections that never stop the
//! server, and off by default.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::{free_port, Resp, Server};

/// One HTTP request; the whole response (status line, headers, body) as text.
fn http(port: u16, request: &[u8]) -> std::io::Result<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    s.write_all(request)?;
    let mut out = Vec::new();
    s.read_to_end(&mut out)?;
    Ok(String::from_utf8_lossy(&out).into_owned())
}

fn get(port: u16, path: &str) -> String {
    http(
        port,
        format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes(),
    )
    .expect("http")
}

/// Scrapes until every line in `want` is in the body (the engine renders at its next tick);
/// the last body.
fn scrape_until(port: u16, want: &[&str]) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        // An error or a 503 (every connection slot taken) is retried too.
        let r = http(port, b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n").unwrap_or_default();
        let body = r.split_once("\r\n\r\n").map_or("", |(_, b)| b).to_string();
        if r.starts_with("HTTP/1.0 200 ") && want.iter().all(|w| body.lines().any(|l| l == *w)) {
            return r;
        }
        assert!(
            Instant::now() < deadline,
            "metrics never showed {want:?}; last scrape:\n{r}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn start_with_metrics() -> (Server, u16) {
    for _ in 0..5 {
        let mp = free_port();
        let s = Server::start(&["--metrics-port", &mp.to_string()]);
        // Another test may have taken the port between free_port and the bind: then the
        // server refused to start... or it started and the port is ours. Check it answers.
        // Any HTTP answer is ours (a 503 when the first snapshot is not rendered within its
        // wait, as on a loaded machine).
        if http(mp, b"GET /metrics HTTP/1.0\r\n\r\n").is_ok_and(|r| r.starts_with("HTTP/1.0 ")) {
            return (s, mp);
        }
    }
    panic!("could not start a server with a metrics port");
}

#[test]
fn streams_groups_and_consumers_under_redis_exporter_names() {
    let (s, mp) = start_with_metrics();
    let mut c = s.conn();
    for i in 1..=3 {
        c.req_str(&format!("XADD s 1-{i} f v"));
    }
    assert_eq!(c.req_str("XGROUP CREATE s g 0").text(), "OK");
    c.req_str("XREADGROUP GROUP g alice COUNT 2 STREAMS s >");
    c.req_str("XREADGROUP GROUP g bob COUNT 0 STREAMS s 0");
    // A name that needs escaping, and a group whose lag is unknown (a deleted entry after
    // its last-delivered ID).
    let odd: &[u8] = b"we\"ird\\na\nme\xff";
    for i in 1..=3 {
        c.req(&[b"XADD", odd, format!("2-{i}").as_bytes(), b"f", b"v"]);
    }
    c.req(&[b"XDEL", odd, b"2-2"]);
    c.req(&[b"XGROUP", b"CREATE", odd, b"h", b"0"]);
    let groups = c.req(&[b"XINFO", b"GROUPS", odd]);
    let lag_known = !matches!(groups.array()[0].field("lag"), Resp::Nil);

    let want = [
        "redis_up 1",
        "redis_db_keys{db=\"db0\"} 2",
        "redis_stream_length{db=\"db0\",stream=\"s\"} 3",
        "redis_stream_groups{db=\"db0\",stream=\"s\"} 1",
        "redis_stream_last_generated_id{db=\"db0\",stream=\"s\"} 1",
        "redis_stream_group_consumers{db=\"db0\",stream=\"s\",group=\"g\"} 2",
        "redis_stream_group_messages_pending{db=\"db0\",stream=\"s\",group=\"g\"} 2",
        "redis_stream_group_lag{db=\"db0\",stream=\"s\",group=\"g\"} 1",
        "redis_stream_group_entries_read{db=\"db0\",stream=\"s\",group=\"g\"} 2",
        "redis_stream_group_consumer_messages_pending{db=\"db0\",stream=\"s\",group=\"g\",consumer=\"alice\"} 2",
        "redis_stream_group_consumer_messages_pending{db=\"db0\",stream=\"s\",group=\"g\",consumer=\"bob\"} 0",
        "redis_stream_length{db=\"db0\",stream=\"we\\\"ird\\\\na\\nme\u{fffd}\"} 2",
        "redis_stream_group_messages_pending{db=\"db0\",stream=\"we\\\"ird\\\\na\\nme\u{fffd}\",group=\"h\"} 0",
    ];
    let r = scrape_until(mp, &want);
    assert!(r.starts_with("HTTP/1.0 200 OK\r\n"), "{r}");
    assert!(
        r.contains("\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n"),
        "{r}"
    );
    let body = r.split_once("\r\n\r\n").unwrap().1;
    let odd_lag = body
        .lines()
        .any(|l| l.starts_with("redis_stream_group_lag{db=\"db0\",stream=\"we"));
    assert_eq!(
        odd_lag, lag_known,
        "lag omitted exactly when XINFO says nil:\n{body}"
    );
    // Consumer idle is a number of seconds; the command counters count the XADDs.
    assert!(body.lines().any(|l| l
        .starts_with("redis_stream_group_consumer_idle_seconds{db=\"db0\",stream=\"s\",group=\"g\",consumer=\"alice\"} ")));
    assert!(
        body.lines()
            .any(|l| l == "redis_commands_total{cmd=\"xadd\"} 6"),
        "{body}"
    );
    assert!(body
        .lines()
        .any(|l| l.starts_with("redis_commands_duration_seconds_total{cmd=\"xadd\"} ")));
    for name in [
        "redis_uptime_in_seconds",
        "redis_connected_clients",
        "redis_blocked_clients",
        "redis_memory_used_bytes",
        "redis_commands_processed_total",
        "redis_keyspace_hits_total",
        "redis_keyspace_misses_total",
        "sluice_disk_bytes",
        "sluice_jobs_registered",
        "sluice_job_log_records",
        "sluice_job_staged_records",
        "sluice_metrics_truncated",
    ] {
        assert!(
            body.lines().any(|l| l.starts_with(&format!("{name} "))),
            "{name} missing:\n{body}"
        );
        assert!(
            body.contains(&format!("# TYPE {name} ")),
            "{name} has no TYPE"
        );
    }
    // Every sample line is `name{labels} value` or `name value`: no raw newline in a label.
    for l in body
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        assert!(l.starts_with("redis_") || l.starts_with("sluice_"), "{l:?}");
        let value = l.rsplit(' ').next().unwrap();
        assert!(value.parse::<f64>().is_ok(), "{l:?}");
    }

    // Acknowledging is seen at the next scrape.
    c.req_str("XACK s g 1-1");
    scrape_until(
        mp,
        &["redis_stream_group_consumer_messages_pending{db=\"db0\",stream=\"s\",group=\"g\",consumer=\"alice\"} 1"],
    );
}

#[test]
fn other_paths_and_methods() {
    let (_s, mp) = start_with_metrics();
    assert!(get(mp, "/").starts_with("HTTP/1.0 404 "));
    assert!(get(mp, "/metricsx").starts_with("HTTP/1.0 404 "));
    assert!(get(mp, "/metrics?x=1").starts_with("HTTP/1.0 200 "));
    assert!(http(mp, b"POST /metrics HTTP/1.0\r\n\r\n")
        .unwrap()
        .starts_with("HTTP/1.0 405 "));
}

#[test]
fn large_requests_and_slow_clients_do_not_hold_up_the_server() {
    let (s, mp) = start_with_metrics();
    let mut c = s.conn();
    // Larger than the limit: refused, the connection closed.
    let mut big = b"GET /metrics HTTP/1.0\r\nX-Big: ".to_vec();
    big.extend(std::iter::repeat_n(b'a', 64 * 1024));
    let r = {
        let mut t = TcpStream::connect(("127.0.0.1", mp)).unwrap();
        t.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let _ = t.write_all(&big);
        let mut out = Vec::new();
        let _ = t.read_to_end(&mut out);
        String::from_utf8_lossy(&out).into_owned()
    };
    assert!(r.is_empty() || r.starts_with("HTTP/1.0 431 "), "{r}");
    assert_eq!(c.req_str("PING").text(), "PONG");

    // Slow clients that never finish their request take every connection slot...
    let slow: Vec<TcpStream> = (0..4)
        .map(|_| {
            let mut t = TcpStream::connect(("127.0.0.1", mp)).unwrap();
            t.write_all(b"GET /met").unwrap();
            t
        })
        .collect();
    // ...a fifth connection is refused at once (503, or a reset if the refusal closed the
    // socket before the request was read)...
    let fifth = http(mp, b"GET /metrics HTTP/1.0\r\n\r\n");
    assert!(
        fifth
            .as_ref()
            .map_or(true, |r| r.starts_with("HTTP/1.0 503 ")),
        "{fifth:?}"
    );
    // ...the server itself goes on (answers while the slots are held)...
    assert_eq!(c.req_str("PING").text(), "PONG");
    c.req_str("XADD s 1-1 f v");
    // ...and once their read timeout has passed they are dropped and scrapes work again.
    scrape_until(mp, &["redis_stream_length{db=\"db0\",stream=\"s\"} 1"]);
    for mut t in slow {
        t.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut out = Vec::new();
        // Closed by the server (EOF or reset), not left hanging.
        let _ = t.read_to_end(&mut out);
        assert!(out.is_empty(), "{:?}", String::from_utf8_lossy(&out));
    }
    assert_eq!(c.req_str("PING").text(), "PONG");
}

#[test]
fn off_by_default() {
    let tmp = tempfile::tempdir().unwrap();
    let log = tmp.path().join("log");
    let data = tmp.path().join("data");
    let s = Server::start_env(&data, &[], &[("SLUICE_LOG", "info")], &log);
    let mut c = s.conn();
    let got = c.req_str("CONFIG GET metrics-port");
    assert_eq!(got.array()[1].text(), "0");
    let got = c.req_str("CONFIG GET metrics-bind");
    assert_eq!(got.array()[1].text(), "127.0.0.1");
    common::wait_for_log_line(&log, "listening");
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(!text.contains("metrics endpoint"), "{text}");
    // The endpoint is start-only.
    assert!(matches!(
        c.req_str("CONFIG SET metrics-port 9121"),
        Resp::Error(_)
    ));
    // With it on, the start log names it; a port nobody configured is refused.
    let p = free_port();
    let e = TcpStream::connect(("127.0.0.1", p)).unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::ConnectionRefused);
}

#[test]
fn snapshots_are_capped_and_say_what_they_left_out() {
    let (s, mp) = start_with_metrics();
    let mut c = s.conn();
    let cmds: Vec<Vec<Vec<u8>>> = (0..10_003)
        .map(|i| {
            vec![
                b"XADD".to_vec(),
                format!("s{i}").into_bytes(),
                b"1-1".to_vec(),
                b"f".to_vec(),
                b"v".to_vec(),
            ]
        })
        .collect();
    c.pipeline(&cmds);
    let r = scrape_until(
        mp,
        &[
            "redis_db_keys{db=\"db0\"} 10003",
            "sluice_metrics_streams_skipped 3",
            "sluice_metrics_truncated 1",
        ],
    );
    let exported = r
        .lines()
        .filter(|l| l.starts_with("redis_stream_length{"))
        .count();
    assert_eq!(exported, 10_000);
    assert_eq!(c.req_str("PING").text(), "PONG");
}
