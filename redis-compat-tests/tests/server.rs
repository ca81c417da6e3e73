//! Server commands that do not touch the keyspace: CONFIG GET/SET errors,
//! INFO, TIME, COMMAND. (CONFIG SET that succeeds is in tests/isolated.rs.)

use redis_compat_tests::pred::{help_lines, same_info};
use redis_compat_tests::*;

/// Lines every default INFO must have (section headers, and the fields
/// clients and tools commonly read).
const INFO_DEFAULT: &[&str] = &[
    "# Server",
    "redis_version:",
    "redis_mode:standalone",
    "arch_bits:",
    "process_id:",
    "run_id:",
    "tcp_port:",
    "uptime_in_seconds:",
    "# Clients",
    "connected_clients:",
    "maxclients:",
    "blocked_clients:",
    "# Memory",
    "used_memory:",
    "used_memory_human:",
    "maxmemory:",
    "maxmemory_policy:",
    "# Persistence",
    "loading:0",
    "aof_enabled:",
    "# Stats",
    "total_connections_received:",
    "total_commands_processed:",
    "expired_keys:",
    "keyspace_hits:",
    "keyspace_misses:",
    "# Replication",
    "role:master",
    "connected_slaves:0",
    "# CPU",
    "used_cpu_sys:",
    "used_cpu_user:",
    "# Modules",
    "# Errorstats",
    "# Cluster",
    "cluster_enabled:0",
    "# Keyspace",
];

fn info(cmd: &str, required: &'static [&'static str]) -> Step {
    pair(
        cmd,
        "INFO: same sections in the same order, required lines present",
        same_info(required),
    )
}

/// TIME: [unix seconds, microseconds] as bulk strings, close to our clock.
fn time_reply(f: &Frame) -> Result<(), String> {
    let v = f.elements().ok_or(format!("not an array: {f}"))?;
    let num = |i: usize| -> Result<i64, String> {
        match v.get(i) {
            Some(Frame::Bulk(b)) => std::str::from_utf8(b)
                .ok()
                .and_then(|s| s.parse().ok())
                .ok_or(format!("element {i} is not a number: {}", v[i])),
            _ => Err(format!("element {i} is not a bulk string")),
        }
    };
    if v.len() != 2 {
        return Err(format!("{} elements", v.len()));
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let (s, us) = (num(0)?, num(1)?);
    if (s - now).abs() > 60 {
        return Err(format!("seconds {s} far from now {now}"));
    }
    if !(0..1_000_000).contains(&us) {
        return Err(format!("microseconds {us} out of range"));
    }
    Ok(())
}

#[rustfmt::skip]
fn cases() -> Vec<Case> {
    vec![
        // CONFIG GET of the parameters Sluice knows
        // Sluice journals every write; it reports appendonly yes whatever the config says.
        case("config_get_persistence", &[step("CONFIG GET save"), sluice_only("CONFIG GET appendonly", b"*2\r\n$10\r\nappendonly\r\n$3\r\nyes\r\n", "Sluice always journals writes")]).resp2_only(),
        case("config_get_persistence3", &[step("CONFIG GET save"), sluice_only("CONFIG GET appendonly", b"%1\r\n$10\r\nappendonly\r\n$3\r\nyes\r\n", "Sluice always journals writes")]).resp3_only(),
        case("config_get_network", &["~CONFIG GET port", "CONFIG GET bind", "~CONFIG GET dir", "CONFIG GET requirepass", "CONFIG GET maxclients"]),
        case("config_get_limits", &["CONFIG GET proto-max-bulk-len", "CONFIG GET client-query-buffer-limit", "CONFIG GET stream-node-max-entries", "CONFIG GET stream-node-max-bytes", "CONFIG GET client-output-buffer-limit"]),
        case("config_set_output_buffer_limit_errors", &[
            "CONFIG SET client-output-buffer-limit \"normal 1mb 512kb\"", "CONFIG SET client-output-buffer-limit \"bogus 1 2 3\"",
            "CONFIG SET client-output-buffer-limit \"normal x 2 3\"", "CONFIG SET client-output-buffer-limit \"normal 1 2 x\"",
            "CONFIG SET client-output-buffer-limit \"\"", "CONFIG GET client-output-buffer-limit",
        ]),
        case("config_get_glob", &["%CONFIG GET stream-node-max-*", "%CONFIG GET stream-node-max-entrie?", "CONFIG GET nosuchparam*", "CONFIG GET nosuchparam"]),
        case("config_get_multi", &["%CONFIG GET save bind", "%CONFIG GET stream-node-max-bytes stream-node-max-entries", "CONFIG GET maxclients maxclients", "%CONFIG GET maxclients nosuch requirepass"]),
        case("config_get_case", &["CONFIG GET SAVE", "CONFIG GET MaxClients", "config get appendfsync"]),
        // CONFIG SET errors (nothing is changed)
        case("config_set_errors", &[
            "CONFIG SET maxclients abc", "CONFIG SET nosuch 1", "CONFIG SET appendfsync bogus", "CONFIG SET appendonly maybe",
            "CONFIG SET stream-node-max-entries -1", "CONFIG SET stream-node-max-bytes abc", "CONFIG SET save bad", "CONFIG SET save \"1\"",
            "CONFIG SET proto-max-bulk-len 1", "CONFIG SET client-query-buffer-limit 1", "CONFIG SET port abc", "CONFIG SET a b c",
            "CONFIG SET maxclients 10 maxclients 20", "CONFIG SET maxclients 10 nosuch 1", "CONFIG SET requirepass", "CONFIG SET",
            "CONFIG SET dir /nonexistent/dir", "CONFIG SET maxmemory-policy bogus", "CONFIG SET maxmemory-policy \"\"",
            "CONFIG SET maxmemory abc", "CONFIG GET maxmemory-policy",
        ]),
        case("config_subcommands", &["CONFIG", "CONFIG FOO", "CONFIG foo bar", "~CONFIG HELP", "CONFIG HELP x", "CONFIG RESETSTAT", "CONFIG RESETSTAT x", "CONFIG GET",
            // Both servers run without a config file here (tests/config_file.rs in the server
            // crate rewrites a real one).
            "CONFIG REWRITE", "CONFIG REWRITE x"]),
        // SLOWLOG (the entries themselves are in tests/isolated.rs: they need the threshold at 0)
        case("slowlog_errors", &[
            "SLOWLOG GET abc", "SLOWLOG GET -2", "SLOWLOG GET 1.5", "SLOWLOG GET 1 2", "SLOWLOG LEN x", "SLOWLOG RESET x",
            "SLOWLOG FOO", "SLOWLOG", "~SLOWLOG HELP", "SLOWLOG HELP x", "CONFIG SET slowlog-log-slower-than -2",
            "CONFIG SET slowlog-log-slower-than abc", "CONFIG SET slowlog-max-len -1", "%CONFIG GET slowlog-*",
            // One subcommand at a time: a container lists them in the order of Redis's dict.
            "COMMAND INFO monitor", "COMMAND INFO slowlog|get slowlog|len slowlog|reset slowlog|help", "COMMAND DOCS slowlog|get", "COMMAND DOCS monitor slowlog|len",
        ]),
        // MEMORY: sizes differ by nature (shapes only); errors and argument order are Redis's.
        case("memory", &[
            step("SET {k} v"), step("~MEMORY USAGE {k}"), step("MEMORY USAGE {k}missing"), step("MEMORY USAGE {k} SAMPLES x"), step("MEMORY USAGE {k} FOO"),
            step("MEMORY USAGE {k} SAMPLES"), step("MEMORY USAGE {k} SAMPLES -1"), step("~MEMORY USAGE {k} SAMPLES 0"), step("~MEMORY USAGE {k} samples 5 SAMPLES 1"),
            step("MEMORY USAGE {k}missing SAMPLES x"), step("MEMORY USAGE {k}missing FOO"), step("XADD {k}s 1-1 f v"), step("XGROUP CREATE {k}s g 0"),
            step("XREADGROUP GROUP g c STREAMS {k}s >"), step("~MEMORY USAGE {k}s"), step("MEMORY USAGE"), step("~MEMORY HELP"), step("MEMORY HELP x"),
            step("MEMORY PURGE"), step("MEMORY FOO"), step("~MEMORY DOCTOR"), step("~MEMORY MALLOC-STATS"), step("MEMORY STATS x"),
            sluice_check("MEMORY STATS", "Sluice reports its own memory figures (RSS, key directory, block cache, disk)", |f| match f {
                Frame::Map(kv) if kv.iter().any(|(k, _)| matches!(k, Frame::Bulk(b) if b == b"dataset.bytes")) => Ok(()),
                Frame::Array(items) if items.iter().any(|i| matches!(i, Frame::Bulk(b) if b == b"dataset.bytes")) => Ok(()),
                other => Err(format!("no dataset.bytes in {other:?}")),
            }),
            step("COMMAND INFO memory|usage memory|doctor memory|purge memory|stats memory|malloc-stats memory|help"),
            step("COMMAND DOCS memory|usage memory|doctor memory|help"), step("DEL {k} {k}s"),
        ]),
        // LATENCY with the monitor off (Redis's default): nothing recorded; reports by shape.
        // The monitor's samples and histograms are checked in server/tests/observability.rs.
        case("latency", &[
            "LATENCY LATEST", "LATENCY HISTORY command", "LATENCY HISTORY", "LATENCY HISTORY a b", "LATENCY RESET", "LATENCY RESET command foo",
            "LATENCY GRAPH command", "LATENCY GRAPH", "~LATENCY DOCTOR", "LATENCY HISTOGRAM nosuch", "LATENCY HISTOGRAM nosuch alsonot",
            "~LATENCY HELP", "LATENCY HELP x", "LATENCY FOO", "LATENCY", "LATENCY LATEST x",
            "CONFIG SET latency-monitor-threshold -1", "CONFIG SET latency-monitor-threshold x", "CONFIG GET latency-monitor-threshold",
            "COMMAND INFO latency|doctor latency|graph latency|history latency|latest latency|reset latency|histogram latency|help",
            "COMMAND DOCS latency|histogram latency|reset latency|graph",
        ]),
        // INFO
        case("info_default", &[info("INFO", INFO_DEFAULT), info("INFO default", INFO_DEFAULT), info("INFO DEFAULT", INFO_DEFAULT)]),
        case("info_sections", &[
            info("INFO server", &["# Server", "redis_version:", "tcp_port:"]),
            info("INFO SERVER", &["# Server", "redis_version:"]),
            info("INFO clients", &["# Clients", "connected_clients:"]),
            info("INFO memory", &[
                "# Memory", "used_memory:", "used_memory_rss:", "used_memory_peak:", "used_memory_peak_human:", "used_memory_peak_perc:",
                "allocator_allocated:", "maxmemory_policy:", "mem_fragmentation_ratio:", "mem_fragmentation_bytes:",
                "mem_clients_normal:", "mem_allocator:",
            ]),
            info("INFO persistence", &["# Persistence", "loading:0"]),
            info("INFO stats", &["# Stats", "total_commands_processed:"]),
            info("INFO replication", &["# Replication", "role:master"]),
            info("INFO cpu", &["# CPU"]),
            info("INFO keyspace", &["# Keyspace"]),
            info("INFO errorstats", &["# Errorstats"]),
            info("INFO server clients", &["# Server", "# Clients"]),
            info("INFO clients server", &["# Server", "# Clients"]),
            info("INFO server nosuchsection", &["# Server"]),
        ]),
        case("info_all", &[info("INFO all", &["# Server", "# Commandstats", "# Keyspace"]), info("INFO everything", &["# Server", "# Commandstats", "# Latencystats", "# Keyspace"])]),
        case("info_empty", &["INFO nosuchsection", "INFO a b c"]),
        // TIME
        case("time", &[step("~TIME"), check("TIME", "[seconds, microseconds] near now", time_reply), step("TIME x")]),
        // COMMAND
        case("command_count", &["~COMMAND COUNT"]),
        case("save_bgsave_lastsave", &["BGSAVE x", "BGSAVE SCHEDULE x", "SAVE x", "LASTSAVE x", "~LASTSAVE", "COMMAND INFO save bgsave lastsave", "COMMAND DOCS save bgsave lastsave"]),
        case("command_info_get", &["COMMAND INFO get", "COMMAND INFO GET", "command info Get"]),
        case("command_info_shape", &["~COMMAND INFO set", "~COMMAND INFO xadd", "~COMMAND INFO del", "~COMMAND INFO ping", "~COMMAND INFO multi", "~COMMAND INFO xread", "~COMMAND INFO xrange", "~COMMAND INFO get set"]),
        case("command_info_unknown", &["COMMAND INFO nosuch", "COMMAND INFO nosuch get", "COMMAND INFO get|x"]),
        case("command_docs", &["~COMMAND DOCS get", "~COMMAND DOCS set", "COMMAND DOCS nosuch"]),
        // COMMAND GETKEYS takes a command and at least one argument: arity -4 (found by the
        // differential fuzzer, through a transaction Redis aborted and Sluice ran).
        case("command_getkeys_arity", &["COMMAND GETKEYS TIME", "COMMAND GETKEYS GET", "COMMAND GETKEYS nosuch", "COMMAND GETKEYS", "MULTI", "COMMAND GETKEYS TIME", "SET {k} x", "EXEC", "EXISTS {k}"]),
        // XREAD/XREADGROUP keys follow STREAMS: found by the keyword key spec as Redis does.
        case("command_getkeys_keyword", &["COMMAND GETKEYS XREAD STREAMS a 0", "COMMAND GETKEYS XREAD COUNT 1 STREAMS a b 0 0", "COMMAND GETKEYS XREAD STREAMS a b 0", "COMMAND GETKEYS XREAD streams a 0", "COMMAND GETKEYS XREAD COUNT STREAMS STREAMS a 0", "COMMAND GETKEYS XREAD COUNT 1 BLOCK 2 a", "COMMAND GETKEYS XREAD a 0 STREAMS", "COMMAND GETKEYS XREAD a STREAMS 0", "COMMAND GETKEYS XREADGROUP GROUP g c STREAMS a b c > > >", "COMMAND GETKEYS XREADGROUP GROUP STREAMS c STREAMS a >", "COMMAND GETKEYS XREADGROUP GROUP g c COUNT 1 STREAMS", "COMMAND GETKEYS XREADGROUP GROUP g c COUNT 1 STREAMS a"]),
        case("command_getkeys", &["COMMAND GETKEYS SET a b", "COMMAND GETKEYS MSET a 1 b 2", "COMMAND GETKEYS GET a b", "COMMAND GETKEYS PING x", "COMMAND GETKEYS NOSUCH x", "COMMAND GETKEYS DEL a b c", "COMMAND GETKEYS EXPIRE a 10", "COMMAND GETKEYS RENAME a b"]),
        case("command_help", &[check("COMMAND HELP", "help lines", help_lines("COMMAND")), step("COMMAND FOO")]),
    ]
}

fn main() {
    run(cases());
}
