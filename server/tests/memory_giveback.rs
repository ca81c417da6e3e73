//! Memory an operator can bound and trust (issue #11): INFO's `used_memory` is the allocator's
//! live bytes and falls back once a large transient allocation is freed, MEMORY PURGE gives the
//! freed pages back to the OS, FLUSHALL gives the key directory's table back, and INFO memory /
//! MEMORY STATS carry their fields. Figures are compared with bounds far from what the server
//! measures (a transient of 64 MiB against margins of a few MiB), and nothing waits on time.

mod common;

use common::{Resp, Server};

const MIB: u64 = 1 << 20;

fn info_u64(c: &mut common::Conn, field: &str) -> u64 {
    let v = c
        .info_field("memory", field)
        .unwrap_or_else(|| panic!("INFO memory has no {field}"));
    v.trim()
        .parse()
        .unwrap_or_else(|_| panic!("{field}:{v} is not a number"))
}

#[test]
fn a_large_argument_is_given_back_to_the_allocator_and_the_os() {
    let s = Server::start(&[]);
    let mut c = s.conn();
    let used0 = info_u64(&mut c, "used_memory");
    let rss0 = info_u64(&mut c, "used_memory_rss");
    assert!(used0 > 0, "used_memory counts live bytes");

    let big = vec![b'x'; (64 * MIB) as usize];
    let r = c.req(&[b"ECHO", &big]);
    assert_eq!(r.bulk().len(), big.len());
    drop(big);

    // The argument (read buffer) and the reply (output buffer) are freed once the reply is
    // written and the connection reads again: the next command's INFO sees it.
    let used1 = info_u64(&mut c, "used_memory");
    let peak = info_u64(&mut c, "used_memory_peak");
    assert!(
        used1 < used0 + 8 * MIB,
        "used_memory back near its start: {used0} -> {used1}"
    );
    assert!(
        peak >= used0 + 64 * MIB,
        "the peak saw the 64 MiB argument: {peak} (start {used0})"
    );

    assert_eq!(c.req_str("MEMORY PURGE"), Resp::Status("OK".into()));
    let rss_peak = info_u64(&mut c, "sluice_rss_peak");
    let rss1 = info_u64(&mut c, "used_memory_rss");
    assert!(
        rss_peak >= rss0 + 64 * MIB,
        "the process held the argument: peak RSS {rss_peak}, start {rss0}"
    );
    assert!(
        rss1 < rss0 + 48 * MIB,
        "after MEMORY PURGE the RSS is back near its start: {rss0} -> peak {rss_peak} -> {rss1}"
    );
}

#[test]
fn flushall_gives_the_key_directory_back() {
    let s = Server::start(&[]);
    let mut c = s.conn();
    for batch in 0..20 {
        let cmds: Vec<Vec<Vec<u8>>> = (0..5_000)
            .map(|i| {
                vec![
                    b"SET".to_vec(),
                    format!("key:{batch}:{i}").into_bytes(),
                    b"v".to_vec(),
                ]
            })
            .collect();
        c.pipeline(&cmds);
    }
    let stats = c.req_str("MEMORY STATS");
    assert_eq!(stats.field("keys.count").int(), 100_000);
    let keydir = stats.field("sluice.keydir.bytes").int();
    assert!(keydir >= 100_000 * 64, "{stats:?}");

    assert_eq!(c.req_str("FLUSHALL"), Resp::Status("OK".into()));
    let stats = c.req_str("MEMORY STATS");
    assert_eq!(stats.field("keys.count").int(), 0);
    let after = stats.field("sluice.keydir.bytes").int();
    assert!(
        after < 64 * 1024,
        "the emptied directory keeps no table: {keydir} -> {after}"
    );
}

#[test]
fn info_memory_and_memory_stats_carry_true_figures() {
    let s = Server::start(&[]);
    let mut c = s.conn();
    c.req_str("XADD s * f v");
    let allocator = c.info_field("memory", "mem_allocator").unwrap_or_default();
    assert!(allocator.starts_with("mimalloc-"), "{allocator}");
    let used = info_u64(&mut c, "used_memory");
    let rss = info_u64(&mut c, "used_memory_rss");
    assert!(info_u64(&mut c, "used_memory_peak") >= used);
    assert!(info_u64(&mut c, "allocator_allocated") > 0);
    let ratio: f64 = c
        .info_field("memory", "mem_fragmentation_ratio")
        .and_then(|v| v.trim().parse().ok())
        .expect("mem_fragmentation_ratio is a number");
    // Between two INFO calls the figures move a little; the ratio is RSS over live bytes.
    let expected = rss as f64 / used as f64;
    assert!(
        ratio > 0.0 && (ratio - expected).abs() / expected < 0.5,
        "ratio {ratio}, rss {rss}, used {used}"
    );

    let stats = c.req_str("MEMORY STATS");
    let fields: Vec<String> = stats.pairs().into_iter().map(|(k, _)| k).collect();
    for f in [
        "peak.allocated",
        "total.allocated",
        "clients.normal",
        "keys.count",
        "dataset.bytes",
        "allocator.allocated",
        "fragmentation",
        "sluice.keydir.bytes",
        "sluice.stream-caches.bytes",
        "sluice.groups.bytes",
        "sluice.memtables.bytes",
        "sluice.block-cache.bytes",
        "sluice.block-cache.capacity",
        "sluice.unattributed.bytes",
        "sluice.disk.bytes",
    ] {
        assert!(
            fields.iter().any(|k| k == f),
            "MEMORY STATS lacks {f}: {fields:?}"
        );
    }
    assert_eq!(stats.field("keys.count").int(), 1);
    assert!(stats.field("sluice.stream-caches.bytes").int() > 0);
    assert!(
        stats.field("sluice.memtables.bytes").int() > 0,
        "the XADD is in a memtable"
    );
    assert!(stats.field("total.allocated").int() > 0);

    let report = c.req_str("MEMORY MALLOC-STATS").text();
    assert!(report.starts_with("mimalloc-"), "{report}");
}

/// `THP_enabled` of the server process, from `/proc/<pid>/status` (None where the kernel does
/// not report it).
fn thp_enabled(s: &Server) -> Option<bool> {
    let pid = s.child.as_ref().expect("server running").id();
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("THP_enabled:"))
        .map(|v| v.trim() == "1")
}

#[test]
fn disable_thp_turns_transparent_huge_pages_off_for_the_process() {
    let s = Server::start(&[]);
    let Some(on) = thp_enabled(&s) else {
        eprintln!("skipped: this kernel reports no THP_enabled in /proc/<pid>/status");
        return;
    };
    assert!(
        !on,
        "disable-thp defaults to yes: THP is off for the server"
    );
    let mut c = s.conn();
    let r = c.req_str("CONFIG GET disable-thp");
    assert_eq!(r.array()[1].bulk(), b"yes");
    // Immutable, as in Redis.
    let r = c.req_str("CONFIG SET disable-thp no");
    assert!(
        matches!(&r, Resp::Error(e) if e.contains("can't set immutable config")),
        "{r:?}"
    );

    let s = Server::start(&["--disable-thp", "no"]);
    assert_eq!(
        thp_enabled(&s),
        Some(true),
        "disable-thp no leaves THP as the system has it"
    );
}
