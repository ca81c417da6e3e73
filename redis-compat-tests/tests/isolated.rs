//! Cases that see the whole keyspace or change server-wide state: DBSIZE,
//! FLUSHDB, FLUSHALL, KEYS *, SCAN without MATCH, RANDOMKEY, SELECT with
//! data, INFO keyspace, successful CONFIG SET (always restored).
//!
//! `run_isolated` runs these one at a time, after a FLUSHALL on both servers.

use redis_compat_tests::pred::same_info;
use redis_compat_tests::*;

fn info(cmd: &str, required: &'static [&'static str]) -> Step {
    pair(
        cmd,
        "INFO: same sections, required lines present",
        same_info(required),
    )
}

#[rustfmt::skip]
fn cases() -> Vec<Case> {
    let proto_max = format!(r">*2\r\n$4\r\nECHO\r\n${}\r\n", 2 * 1024 * 1024);
    vec![
        case("dbsize", &["DBSIZE", "MSET a 1 b 2", "DBSIZE", "SELECT 1", "DBSIZE", "SET c 1", "DBSIZE", "SELECT 0", "DBSIZE", "DEL a", "DBSIZE"]),
        case("flushdb", &["MSET a 1 b 2", "SELECT 1", "SET c 3", "FLUSHDB", "DBSIZE", "SELECT 0", "DBSIZE", "FLUSHDB ASYNC", "DBSIZE", "SET d 1", "FLUSHDB SYNC", "DBSIZE", "FLUSHDB FOO", "FLUSHDB async", "FLUSHDB ASYNC SYNC"]),
        case("flushall", &["SET a 1", "@b SELECT 2", "@b SET b 1", "FLUSHALL", "DBSIZE", "@b DBSIZE", "SET c 1", "FLUSHALL ASYNC", "DBSIZE", "FLUSHALL SYNC", "FLUSHALL FOO", "FLUSHALL sync", "FLUSHALL a b"]),
        case("flush_touches_watched", &["SET a 1", "WATCH a", "@b FLUSHALL", "MULTI", "PING", "EXEC", "SET a 1", "WATCH a", "@b FLUSHDB", "MULTI", "PING", "EXEC"]),
        case("flush_watched_missing", &["WATCH nothere", "@b FLUSHALL", "MULTI", "PING", "EXEC", "SET x 1", "WATCH nothere", "@b FLUSHDB", "MULTI", "PING", "EXEC"]),
        case("keys_all", &["KEYS *", "MSET a 1 b 2 c 3 ab 4", "%KEYS *", "%KEYS a*", "%KEYS ?", "SELECT 1", "KEYS *", "SET z 1", "KEYS *"]),
        case("scan_all", &[
            "SCAN 0", "MSET k1 1 k2 2 k3 3 k4 4 k5 5 k6 6 k7 7 k8 8 k9 9 k10 10 k11 11 k12 12 k13 13 k14 14 k15 15 k16 16 k17 17 k18 18 k19 19 k20 20",
            "!scan SCAN {cursor}", "!scan SCAN {cursor} COUNT 3", "!scan SCAN {cursor} COUNT 1000", "!scan SCAN {cursor} TYPE string", "!scan SCAN {cursor} TYPE list",
            "!scan SCAN {cursor} MATCH k1*", "SELECT 1", "SCAN 0", "!scan SCAN {cursor}",
        ]),
        case("randomkey", &["RANDOMKEY", "SET only 1", "RANDOMKEY", "SELECT 1", "RANDOMKEY", "RANDOMKEY x"]),
        case("select_dbs", &["SELECT 15", "SET k v15", "DBSIZE", "SELECT 0", "DBSIZE", "GET k", "SELECT 15", "GET k", "@b SELECT 15", "@b GET k"]),
        case("info_keyspace", &[
            info("INFO keyspace", &["# Keyspace"]),
            step("MSET a 1 b 2"), step("SET c 3 EX 100"), step("SELECT 3"), step("SET d 4"),
            info("INFO keyspace", &["# Keyspace", "db0:keys=3,expires=1,avg_ttl=", "db3:keys=1,expires=0,avg_ttl=0"]),
            step("FLUSHALL"), info("INFO keyspace", &["# Keyspace"]), step("INFO keyspace"),
        ]),
        // Successful CONFIG SET, restored at the end of the case
        case("config_set_stream_node", &[
            "CONFIG SET stream-node-max-entries 200", "CONFIG GET stream-node-max-entries",
            "CONFIG SET stream-node-max-bytes 1mb", "CONFIG GET stream-node-max-bytes", "CONFIG SET stream-node-max-bytes 2KB", "CONFIG GET stream-node-max-bytes",
            "CONFIG SET stream-node-max-entries 300 stream-node-max-bytes 8192", "%CONFIG GET stream-node-max-*",
            "CONFIG SET stream-node-max-entries 100 stream-node-max-bytes 4096", "%CONFIG GET stream-node-max-*",
        ]),
        // XSETID below the entries deleted from the only node left, then XADD: Redis appends the
        // new entries to that node below its master ID, and XDEL, XTRIM and XINFO still find
        // them (nodes of 3 entries to make it quick).
        case("xsetid_below_deleted_node", &[
            "CONFIG SET stream-node-max-entries 3",
            "XADD s 0-1 f v", "XADD s 0-2 f v", "XADD s 0-3 f v", "XADD s 0-4 f v", "XADD s 0-5 f v",
            "XDEL s 0-5", "XTRIM s MINID 0-5", "XINFO STREAM s FULL", "XSETID s 0-1",
            "XADD s 0-2 f v", "XINFO STREAM s FULL", "XDEL s 0-2", "XLEN s", "XINFO STREAM s",
            "XADD s 0-3 f v", "XADD s 0-4 f w", "XADD s 0-5 f v", "XADD s 0-6 f v", "XINFO STREAM s FULL",
            "XTRIM s MINID 0-4", "XRANGE s - +", "XREVRANGE s + -", "XINFO STREAM s FULL",
            "XDEL s 0-4", "XTRIM s MAXLEN 1", "XRANGE s - +", "XINFO STREAM s FULL",
            "XDEL s 0-6", "XLEN s", "XINFO STREAM s",
        ]),
        // maxmemory: above it, commands that may add data (`denyoom`) are refused; inside MULTI
        // every command but EXEC/DISCARD is (queueing takes memory), and EXEC of a queue with a
        // denyoom command; reads and deletes still run. 1 byte is below either server's memory.
        case("maxmemory_refuses_writes", &[
            "SET k v", "CONFIG SET maxmemory 1", "SET k v2", "XADD s * f v", "SETNX n 1", "INCR n", "MSET a 1 b 2",
            "GET k", "XLEN s", "EXISTS k", "MULTI", "SET k v3", "GET k", "EXEC", "DEL k",
            "CONFIG SET maxmemory-policy allkeys-lru", "CONFIG GET maxmemory-policy", "SET k v4",
            "CONFIG SET maxmemory 0 maxmemory-policy noeviction", "MULTI", "SET k v5", "CONFIG SET maxmemory 1",
            "EXEC", "DISCARD", "CONFIG SET maxmemory 0", "SET k v6", "GET k", "CONFIG GET maxmemory",
        ]),
        // SLOWLOG with every command logged: entry shapes (ids, times, durations and client
        // ports differ), arguments as Redis keeps them (32 at most, 128 bytes each, AUTH
        // redacted), newest first, the length limit.
        case("slowlog_entries", &[
            step("CONFIG SET slowlog-log-slower-than 0"), step("SLOWLOG RESET"), step("SET {k} v"), step("SLOWLOG LEN"),
            step("~SLOWLOG GET"), step("~SLOWLOG GET 1"), step("~SLOWLOG GET -1"), step("SLOWLOG GET 0"),
            step(&format!("SET {{k}} {}", "x".repeat(300))), step("!send AUTH secret"), step("!read"),
            step("MSET a 1 b 2 c 3 d 4 e 5 f 6 g 7 h 8 i 9 j 10 k 11 l 12 m 13 n 14 o 15 p 16 q 17"),
            pair("SLOWLOG GET 4", "same arguments, newest first (ids, times, durations, ports masked)", slowlog_args_match),
            step("CONFIG SET slowlog-max-len 2"), step("PING"), step("PING"), step("PING"), step("SLOWLOG LEN"),
            step("CONFIG SET slowlog-log-slower-than -1"), step("SLOWLOG RESET"), step("PING"), step("SLOWLOG LEN"),
            step("CONFIG SET slowlog-log-slower-than 10000 slowlog-max-len 128"),
        ]),
        // MONITOR: each command another client runs, as a status line; admin commands hidden;
        // AUTH redacted; quoting as Redis's sdscatrepr. Times and client ports are masked.
        case("monitor", &[
            step("PING"), step("@m MONITOR"), step("SET {k} \"a b\\\"c\\n\\x01\""), pair("@m !read", "same monitor line", monitor_line_match),
            step("~CONFIG GET port"), step("SELECT 2"), pair("@m !read", "same monitor line", monitor_line_match),
            step("GET {k}"), pair("@m !read", "same monitor line", monitor_line_match),
            step("!send AUTH secret"), step("!read"), pair("@m !read", "same monitor line", monitor_line_match),
            // The script first, then the commands it runs, as `[db lua]`.
            step("EVAL \"return redis.call('SET', KEYS[1], 'x')\" 1 {k}"), pair("@m !read", "same monitor line", monitor_line_match),
            pair("@m !read", "same monitor line", monitor_line_match),
            step("@m RESET"), step("PING"), step("@m PING"),
        ]),
        // Error counting: INFO errorstats by first word, total_error_replies, and each command's
        // rejected_calls (refused before running) and failed_calls (ran, answered an error) —
        // also for the commands inside EXEC.
        case("errorstats", &[
            step("CONFIG RESETSTAT"), step("NOSUCH"), step("GET"), step("SET {k} v"), step("INCR {k}"), step("XADD {k}s"),
            step("XADD {k}s 1-1 f v"), step("GET {k}s"), step("MULTI"), step("INCR {k}"), step("EXEC"), step("MULTI"), step("GET"), step("EXEC"),
            step("INFO errorstats"), check("INFO stats", "total_error_replies:8", redis_compat_tests::pred::has_lines(&["total_error_replies:8"])),
            pair("INFO commandstats", "same calls, rejected_calls and failed_calls per command", cmdstats_match),
        ]),
        // A command that blocked is counted once, when it answers: served by an XADD, or at its
        // timeout (Redis 7.0 counts the call when the client is unblocked, not when it parks).
        case("blocked_commands_counted_once", &[
            step("CONFIG RESETSTAT"), step("@c !send XREAD BLOCK 0 STREAMS {k} $"), step("@c !silence"), step("XADD {k} 1-1 f v"),
            step("@c !read"), step("XREAD BLOCK 20 STREAMS {k} $"), step("XREADGROUP GROUP nog c BLOCK 20 STREAMS {k} >"),
            pair("INFO commandstats", "same calls, rejected_calls and failed_calls per command", cmdstats_match),
        ]),
        case("config_set_appendfsync", &["CONFIG SET appendfsync everysec", "CONFIG GET appendfsync", "CONFIG SET appendfsync ALWAYS", "CONFIG GET appendfsync", "CONFIG SET appendfsync no", "CONFIG GET appendfsync"]),
        // io-threads: 1 by default on both, and not settable at runtime (same error text).
        case("config_set_output_buffer_limit", &[
            "CONFIG SET client-output-buffer-limit \"normal 1mb 512kb 10\"", "CONFIG GET client-output-buffer-limit",
            "CONFIG SET client-output-buffer-limit \"pubsub 1gb 2 3 replica 4 5 6\"", "CONFIG GET client-output-buffer-limit",
            "CONFIG SET client-output-buffer-limit \"normal 0 0 0 slave 256mb 64mb 60 pubsub 32mb 8mb 60\"", "CONFIG GET client-output-buffer-limit",
        ]),
        case("config_io_threads", &["CONFIG GET io-threads", "CONFIG SET io-threads 2", "CONFIG GET io-threads"]),
        case("config_set_atomic", &["CONFIG SET stream-node-max-entries 5 appendfsync bogus", "CONFIG GET stream-node-max-entries"]),
        case("config_set_proto_max_bulk_len", &[step("CONFIG SET proto-max-bulk-len 1mb"), step("CONFIG GET proto-max-bulk-len"), step(&proto_max), step("!closed"), step("@b CONFIG SET proto-max-bulk-len 512mb"), step("@b CONFIG GET proto-max-bulk-len")]),
    ]
}

fn main() {
    run_isolated(cases());
}

/// SLOWLOG GET replies compared on what both servers must agree on: the entry count, and each
/// entry's arguments and client name (id, time, duration and client port differ by nature).
fn slowlog_args_match(a: &Frame, b: &Frame) -> Result<(), String> {
    fn args(f: &Frame) -> Result<Vec<(Vec<Frame>, Frame)>, String> {
        let Frame::Array(entries) = f else {
            return Err(format!("not an array: {f:?}"));
        };
        entries
            .iter()
            .map(|e| match e {
                Frame::Array(parts) if parts.len() == 6 => match &parts[3] {
                    Frame::Array(a) => Ok((a.clone(), parts[5].clone())),
                    other => Err(format!("arguments not an array: {other:?}")),
                },
                other => Err(format!("entry not a 6-array: {other:?}")),
            })
            .collect()
    }
    let (ra, sa) = (args(a)?, args(b)?);
    if ra != sa {
        return Err(format!("redis {ra:?} vs sluice {sa:?}"));
    }
    Ok(())
}

/// A MONITOR line `+<secs>.<micros> [<db> <ip>:<port>] "cmd" …` with the time and the port
/// masked.
fn monitor_line_match(a: &Frame, b: &Frame) -> Result<(), String> {
    fn mask(f: &Frame) -> Result<String, String> {
        let Frame::Simple(line) = f else {
            return Err(format!("not a status line: {f:?}"));
        };
        let line = String::from_utf8_lossy(line);
        let (time, rest) = line.split_once(' ').ok_or("no time")?;
        let (secs, micros) = time.split_once('.').ok_or("time without micros")?;
        if secs.parse::<u64>().is_err() || micros.len() != 6 || micros.parse::<u32>().is_err() {
            return Err(format!("bad time {time}"));
        }
        let (client, args) = rest.split_once("] ").ok_or("no client")?;
        let (db, addr) = client
            .trim_start_matches('[')
            .split_once(' ')
            .ok_or("no db")?;
        let ip = addr.rsplit_once(':').map_or(addr, |(ip, _)| ip);
        let port = if addr.contains(':') { ":*" } else { "" };
        Ok(format!("[{db} {ip}{port}] {args}"))
    }
    let (ra, sa) = (mask(a)?, mask(b)?);
    if ra != sa {
        return Err(format!("redis {ra:?} vs sluice {sa:?}"));
    }
    Ok(())
}

/// INFO commandstats compared, in any order, on each command's calls, rejected_calls and failed_calls (the
/// times differ by nature).
fn cmdstats_match(a: &Frame, b: &Frame) -> Result<(), String> {
    fn rows(f: &Frame) -> Result<Vec<String>, String> {
        let text = f.as_text().ok_or("not text")?;
        Ok(text
            .split("\r\n")
            .filter_map(|l| l.strip_prefix("cmdstat_"))
            .map(|l| {
                let (name, fields) = l.split_once(':').unwrap_or((l, ""));
                let kept: Vec<&str> = fields
                    .split(',')
                    .filter(|f| !f.starts_with("usec"))
                    .collect();
                format!("{name}:{}", kept.join(","))
            })
            .collect())
    }
    // Redis lists commands in its dict's order.
    let (mut ra, mut sa) = (rows(a)?, rows(b)?);
    ra.sort();
    sa.sort();
    if ra != sa {
        return Err(format!("redis {ra:?} vs sluice {sa:?}"));
    }
    Ok(())
}
