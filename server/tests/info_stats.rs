//! INFO's sampled and measured figures (the compat suite checks names and order against
//! Redis; here the values): the instantaneous rates, read/write counts, the recent largest
//! query buffer, the eviction-exceeded timer, `# Latencystats` following its two parameters
//! and CONFIG RESETSTAT, the `# Sluice` section, and `loglevel verbose`'s periodic lines.
//! Every wait polls with a bounded deadline.

mod common;

use std::io::Write;
use std::time::{Duration, Instant};

use common::{Conn, Resp, Server};

fn num(c: &mut Conn, section: &str, field: &str) -> f64 {
    c.info_field(section, field)
        .unwrap_or_else(|| panic!("no {field} in INFO {section}"))
        .parse()
        .unwrap_or_else(|_| panic!("{field} is not a number"))
}

/// Polls `cond` (bounded) until it holds.
fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn instantaneous_rates_rise_with_traffic_and_fall_without() {
    let s = Server::start(&[]);
    let mut c = s.conn();
    let mut load = s.conn();
    let pings: Vec<Vec<Vec<u8>>> = (0..2000).map(|_| vec![b"PING".to_vec()]).collect();
    wait_until("instantaneous_ops_per_sec >= 2000", || {
        load.pipeline(&pings);
        num(&mut c, "stats", "instantaneous_ops_per_sec") >= 2000.0
    });
    assert!(num(&mut c, "stats", "instantaneous_input_kbps") > 0.0);
    assert!(num(&mut c, "stats", "instantaneous_output_kbps") > 0.0);
    // Without the load (only these INFO calls, ~20 a second) the 1.6 s window empties.
    wait_until("instantaneous_ops_per_sec < 100", || {
        num(&mut c, "stats", "instantaneous_ops_per_sec") < 100.0
    });
}

#[test]
fn reads_writes_and_the_recent_largest_query_buffer_are_counted() {
    let s = Server::start(&[]);
    let mut c = s.conn();
    let reads = num(&mut c, "stats", "total_reads_processed");
    let writes = num(&mut c, "stats", "total_writes_processed");
    for _ in 0..10 {
        assert_eq!(c.req_str("PING").text(), "PONG");
    }
    assert!(num(&mut c, "stats", "total_reads_processed") >= reads + 10.0);
    assert!(num(&mut c, "stats", "total_writes_processed") >= writes + 10.0);

    // A command whose 100,000-byte argument is half sent sits in the query buffer.
    let mut half = s.conn();
    let mut head = b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$100000\r\n".to_vec();
    head.extend(std::iter::repeat_n(b'x', 60_000));
    half.s.write_all(&head).expect("write");
    wait_until("client_recent_max_input_buffer >= 60000", || {
        num(&mut c, "clients", "client_recent_max_input_buffer") >= 60_000.0
    });

    // CONFIG RESETSTAT starts the counters again.
    c.req_str("CONFIG RESETSTAT");
    assert!(num(&mut c, "stats", "total_reads_processed") < reads + 10.0);
}

/// The `name=value` fields of the CLIENT LIST line whose `name=` is `name`.
fn client_fields(c: &mut Conn, name: &str) -> Vec<(String, String)> {
    let list = String::from_utf8(c.req_str("CLIENT LIST").bulk().to_vec()).expect("utf8");
    let line = list
        .lines()
        .find(|l| l.contains(&format!(" name={name} ")))
        .unwrap_or_else(|| panic!("no client {name} in {list}"));
    line.split(' ')
        .filter_map(|f| {
            f.split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
        })
        .collect()
}

fn field_num(fields: &[(String, String)], k: &str) -> u64 {
    fields
        .iter()
        .find(|(n, _)| n == k)
        .unwrap_or_else(|| panic!("no {k}"))
        .1
        .parse()
        .unwrap_or_else(|_| panic!("{k} is not a number"))
}

#[test]
fn client_list_reports_what_each_client_holds() {
    let s = Server::start(&[]);
    let mut c = s.conn();
    let mut idle = s.conn();
    idle.req_str("CLIENT SETNAME idle");
    let f = client_fields(&mut c, "idle");
    assert_eq!(field_num(&f, "qbuf"), 0);
    // Its record at least, and a query buffer it read into.
    let idle_mem = field_num(&f, "tot-mem");
    assert!(idle_mem >= 200, "tot-mem {idle_mem}");
    assert_eq!(field_num(&f, "qbuf-free"), field_num(&f, "rbs"));

    // A 1,000,000-byte argument, 900,000 bytes of it sent: qbuf, rbs and tot-mem show it.
    let mut half = s.conn();
    half.req_str("CLIENT SETNAME half");
    let mut head = b"*2\r\n$4\r\nECHO\r\n$1000000\r\n".to_vec();
    head.extend(std::iter::repeat_n(b'x', 900_000));
    half.s.write_all(&head).expect("write");
    let mut f = client_fields(&mut c, "half");
    wait_until("qbuf >= 900000", || {
        f = client_fields(&mut c, "half");
        field_num(&f, "qbuf") >= 900_000
    });
    let qbuf = field_num(&f, "qbuf");
    assert!(field_num(&f, "tot-mem") >= qbuf, "{f:?}");
    assert!(
        field_num(&f, "rbs") + field_num(&f, "argv-mem") >= qbuf,
        "{f:?}"
    );
    // INFO's mem_clients_normal is the sum of what the clients hold.
    assert!(num(&mut c, "memory", "mem_clients_normal") >= (qbuf + idle_mem) as f64);
    // Three clients holding over 900 KB: MEMORY DOCTOR names the client buffers.
    let doctor = c.req_str("MEMORY DOCTOR").text();
    assert!(doctor.contains("Big client buffers"), "{doctor}");

    // Once the command ran and its reply was read, the grown buffers are given back.
    half.s.write_all(&vec![b'x'; 100_000]).expect("write");
    half.s.write_all(b"\r\n").expect("write");
    assert_eq!(
        half.read_reply().len(),
        1_000_000 + "$1000000\r\n\r\n".len()
    );
    wait_until("tot-mem back under 100 KB", || {
        let f = client_fields(&mut c, "half");
        field_num(&f, "qbuf") == 0 && field_num(&f, "tot-mem") < 100_000
    });
    let doctor = c.req_str("MEMORY DOCTOR").text();
    assert!(doctor.contains("can't find any memory issue"), "{doctor}");
}

#[test]
fn eviction_exceeded_time_runs_while_over_maxmemory() {
    // 1 MB: the process's RSS is always above it.
    let s = Server::start(&["--maxmemory", "1mb"]);
    let mut c = s.conn();
    wait_until("current_eviction_exceeded_time > 0", || {
        num(&mut c, "stats", "current_eviction_exceeded_time") > 0.0
    });
    c.req_str("CONFIG SET maxmemory 0");
    wait_until("current_eviction_exceeded_time back to 0", || {
        num(&mut c, "stats", "current_eviction_exceeded_time") == 0.0
    });
    assert!(num(&mut c, "stats", "total_eviction_exceeded_time") > 0.0);
}

/// `latency_percentiles_usec_<cmd>` lines of INFO latencystats: command → [(pNN, value)].
fn latencystats(c: &mut Conn) -> Vec<(String, Vec<(String, f64)>)> {
    let text = c.req_str("INFO latencystats").text();
    text.lines()
        .filter_map(|l| l.strip_prefix("latency_percentiles_usec_"))
        .map(|l| {
            let (cmd, rest) = l.split_once(':').expect("name:values");
            let values = rest
                .split(',')
                .filter(|v| !v.is_empty())
                .map(|kv| {
                    let (k, v) = kv.split_once('=').expect("pNN=value");
                    (k.to_string(), v.parse().expect("a number"))
                })
                .collect();
            (cmd.to_string(), values)
        })
        .collect()
}

#[test]
fn latencystats_follow_their_parameters_and_resetstat() {
    let s = Server::start(&[]);
    let mut c = s.conn();
    for i in 0..100 {
        c.req_str(&format!("SET k{i} v"));
    }
    let stats = latencystats(&mut c);
    let (_, set) = stats
        .iter()
        .find(|(n, _)| n == "set")
        .expect("a line for SET");
    let keys: Vec<&str> = set.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(keys, ["p50", "p99", "p99.9"]);
    assert!(
        set[0].1 > 0.0 && set[0].1 <= set[1].1 && set[1].1 <= set[2].1,
        "{set:?}"
    );

    assert_eq!(
        c.req_str("CONFIG SET latency-tracking-info-percentiles 90")
            .text(),
        "OK"
    );
    let stats = latencystats(&mut c);
    let (_, set) = stats.iter().find(|(n, _)| n == "set").expect("SET");
    assert_eq!(
        set.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>(),
        ["p90"]
    );

    c.req_str("CONFIG SET latency-tracking no");
    assert!(latencystats(&mut c).is_empty());
    c.req_str("CONFIG SET latency-tracking yes");
    assert!(latencystats(&mut c).iter().any(|(n, _)| n == "set"));

    c.req_str("CONFIG RESETSTAT");
    let names: Vec<String> = latencystats(&mut c).into_iter().map(|(n, _)| n).collect();
    assert_eq!(names, ["config|resetstat"]);
}

#[test]
fn the_sluice_section_reports_the_store() {
    let s = Server::start(&["--appendfsync", "always"]);
    let mut c = s.conn();
    let persists = num(&mut c, "sluice", "journal_persists");
    for i in 0..50 {
        c.req(&[
            b"XADD",
            b"s",
            b"*",
            b"field",
            format!("value {i}").as_bytes(),
        ]);
    }
    assert!(num(&mut c, "sluice", "journal_persists") >= persists + 50.0);
    assert!(num(&mut c, "sluice", "memtable_bytes") > 0.0);
    assert!(num(&mut c, "sluice", "disk_bytes") >= num(&mut c, "sluice", "journal_bytes"));
    assert!(num(&mut c, "sluice", "journals") >= 1.0);
    assert!(num(&mut c, "sluice", "block_cache_capacity") > 0.0);
    let (last, max) = (
        num(&mut c, "sluice", "last_fsync_usec"),
        num(&mut c, "sluice", "max_fsync_usec"),
    );
    assert!(last > 0.0 && max >= last, "fsync {last} / {max}");
    let (last, max) = (
        num(&mut c, "sluice", "last_commit_usec"),
        num(&mut c, "sluice", "max_commit_usec"),
    );
    assert!(last > 0.0 && max >= last, "commit {last} / {max}");
    for field in [
        "tables",
        "l0_tables",
        "compactions_running",
        "compactions_completed",
    ] {
        assert!(c.info_field("sluice", field).is_some(), "{field}");
    }
    // Part of the default and `all` INFO, last.
    for cmd in ["INFO", "INFO all"] {
        let text = c.req_str(cmd).text();
        let last = text.lines().rfind(|l| l.starts_with("# "));
        assert_eq!(last, Some("# Sluice"), "{cmd}");
    }
    let e = c.req_str("INFO sluice");
    assert!(matches!(&e, Resp::Bulk(_)), "{e:?}");
}

#[test]
fn loglevel_verbose_logs_statistics_periodically() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let log = tmp.path().join("sluice.log");
    let data = tmp.path().join("data");
    std::fs::create_dir_all(&data).expect("mkdir");
    let s = Server::start_env(&data, &[], &[], &log);
    let mut c = s.conn();
    c.req_str("SET a 1");
    c.req_str("CONFIG SET loglevel verbose");
    wait_until("the verbose statistics lines", || {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        text.contains("DB 0: 1 keys (0 volatile)")
            && text.contains("clients connected (0 replicas)")
    });
}

/// `cmdstat_xread` as (calls, failed_calls).
fn xread_stats(c: &mut Conn) -> (u64, u64) {
    let v = c
        .info_field("commandstats", "cmdstat_xread")
        .expect("cmdstat_xread");
    let field = |k: &str| -> u64 {
        v.split(',')
            .find_map(|kv| kv.strip_prefix(k)?.strip_prefix('='))
            .unwrap_or_else(|| panic!("no {k} in {v}"))
            .parse()
            .expect("number")
    };
    (field("calls"), field("failed_calls"))
}

/// A command that parks its client is counted once, when it answers — served by a write, at
/// its timeout, or released by CLIENT UNBLOCK … ERROR (a failed call, and an `UNBLOCKED` error)
/// — as redis-server 7.0.15 counts it (the same sequence against it gives `calls=3`,
/// `failed_calls=1`, `total_commands_processed` 9 and `errorstat_UNBLOCKED:count=1`). It was
/// counted once when it parked and again when its re-run answered.
#[test]
fn a_parked_command_is_counted_once_when_it_answers() {
    let s = Server::start(&[]);
    let mut c = s.conn();
    let blocked = |c: &mut Conn, n: f64| {
        wait_until("a client blocked", || {
            num(c, "clients", "blocked_clients") == n
        })
    };
    assert_eq!(c.req_str("CONFIG RESETSTAT"), Resp::Status("OK".into()));

    // Served by an XADD.
    let mut reader = s.conn();
    reader.send_raw(&common::encode(&[
        b"XREAD", b"BLOCK", b"0", b"STREAMS", b"bs", b"$",
    ]));
    blocked(&mut c, 1.0);
    assert!(matches!(c.req_str("XADD bs * a 1"), Resp::Bulk(_)));
    assert!(matches!(
        common::parse_resp(&reader.read_reply()).0,
        Resp::Array(_)
    ));
    assert_eq!(xread_stats(&mut c), (1, 0));

    // At its timeout.
    assert_eq!(reader.req_str("XREAD BLOCK 1 STREAMS bs $"), Resp::Nil);
    assert_eq!(xread_stats(&mut c), (2, 0));

    // Released by CLIENT UNBLOCK … ERROR.
    let id = reader.req_str("CLIENT ID").int();
    reader.send_raw(&common::encode(&[
        b"XREAD", b"BLOCK", b"0", b"STREAMS", b"bs", b"$",
    ]));
    blocked(&mut c, 1.0);
    assert_eq!(c.req_str(&format!("CLIENT UNBLOCK {id} ERROR")).int(), 1);
    assert!(
        matches!(common::parse_resp(&reader.read_reply()).0, Resp::Error(e) if e.starts_with("UNBLOCKED"))
    );
    assert_eq!(xread_stats(&mut c), (3, 1));
    assert_eq!(
        c.info_field("errorstats", "errorstat_UNBLOCKED").as_deref(),
        Some("count=1")
    );
}
