//! INFO: Redis's section and field names, so tools and client libraries that read INFO
//! (ioredis and BullMQ look for `loading:0`, `redis_version`, `maxmemory_policy`) work.

use std::fmt::Write;

use bytes::Bytes;

use super::common::*;
use crate::engine::Ctx;
use crate::reply::CmdResult;

/// The Redis version Sluice reports by default (config `redis-version`). Client libraries
/// gate commands on it (redis-py, node-redis, go-redis, Jedis, Lettuce check `redis_version`
/// before using XACKDEL, XREADGROUP CLAIM, XNACK, IDMP, MAXCOUNT…), so it is the release whose
/// stream commands Sluice has: 8.10. It does not mean Sluice has the rest of 8.10 (lists,
/// hashes, sets, modules… are missing at any version, see the README's "Not supported").
pub const DEFAULT_REDIS_VERSION: &str = "8.10.0";

/// The version the running server reports: set once at start from the config.
static REPORTED: std::sync::OnceLock<(String, u32)> = std::sync::OnceLock::new();

/// Fixes the reported version (at start; a second call changes nothing). `version` must have
/// passed [`version_num`].
pub fn set_reported_version(version: &str) {
    let num = version_num(version).unwrap_or(0);
    let _ = REPORTED.set((version.to_string(), num));
}

/// The reported version and its number (`0x00MMmmpp`, Lua's `REDIS_VERSION_NUM`).
pub fn reported_version() -> (&'static str, u32) {
    let (v, n) = REPORTED.get_or_init(|| {
        let v = DEFAULT_REDIS_VERSION.to_string();
        let n = version_num(&v).unwrap_or(0);
        (v, n)
    });
    (v.as_str(), *n)
}

/// Whether the reported version is at least `major.minor.patch`: where a reply detail changed
/// after 7.0.15, Sluice copies the version it reports (the README lists those details).
pub fn redis_at_least(major: u32, minor: u32, patch: u32) -> bool {
    reported_version().1 >= (major << 16) | (minor << 8) | patch
}

/// `major.minor.patch` with each part 0–255 → `0x00MMmmpp`; `None` if it is not that.
pub fn version_num(v: &str) -> Option<u32> {
    let parts: Vec<&str> = v.split('.').collect();
    let [a, b, c] = parts.as_slice() else {
        return None;
    };
    let mut n = 0u32;
    for p in [a, b, c] {
        if p.is_empty() || p.len() > 3 || !p.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let x: u32 = p.parse().ok()?;
        if x > 255 {
            return None;
        }
        n = (n << 8) | x;
    }
    Some(n)
}

const DEFAULT_SECTIONS: &[&str] = &[
    "server",
    "clients",
    "memory",
    "persistence",
    "stats",
    "replication",
    "cpu",
    "modules",
    "errorstats",
    "cluster",
    "keyspace",
];
/// Disque's sections: printed when named, and in the default and `all` INFO of clients of the
/// Disque port (not of Redis clients, whose tools compare the section list with Redis's).
const JOB_SECTIONS: &[&str] = &["jobs", "queues"];
/// Every section, in the order Redis prints them whatever order they were asked in.
const ALL_SECTIONS: &[&str] = &[
    "server",
    "clients",
    "memory",
    "persistence",
    "stats",
    "replication",
    "cpu",
    "modules",
    "commandstats",
    "errorstats",
    "latencystats",
    "cluster",
    "keyspace",
];

/// The process's resident set size, from /proc (0 where that is unavailable).
pub(crate) fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| {
            s.split_whitespace()
                .nth(1)
                .and_then(|p| p.parse::<u64>().ok())
        })
        .map_or(0, |pages| pages * 4096)
}

/// The process's peak resident set size (VmHWM), from /proc (0 where that is unavailable).
pub(crate) fn peak_rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

fn cpu_times() -> (f64, f64) {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return (0.0, 0.0);
    };
    // Fields after the parenthesised command name; utime and stime are the 12th and 13th.
    let after = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0) / 100.0;
    (ticks(11), ticks(12))
}

fn human(bytes: u64) -> String {
    let b = bytes as f64;
    if b < 1024.0 {
        format!("{bytes}B")
    } else if b < 1024.0 * 1024.0 {
        format!("{:.2}K", b / 1024.0)
    } else if b < 1024.0 * 1024.0 * 1024.0 {
        format!("{:.2}M", b / (1024.0 * 1024.0))
    } else {
        format!("{:.2}G", b / (1024.0 * 1024.0 * 1024.0))
    }
}

pub fn info(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let mut wanted: Vec<String> = argv[1..]
        .iter()
        .map(|a| String::from_utf8_lossy(a).to_ascii_lowercase())
        .collect();
    if wanted.is_empty() || wanted.iter().any(|w| w == "default") {
        wanted.extend(DEFAULT_SECTIONS.iter().map(|s| s.to_string()));
        if crate::commands::jobs::is_disque_client(ctx) {
            wanted.extend(JOB_SECTIONS.iter().map(|s| s.to_string()));
        }
    }
    if wanted.iter().any(|w| w == "all" || w == "everything") {
        wanted.extend(ALL_SECTIONS.iter().map(|s| s.to_string()));
        if crate::commands::jobs::is_disque_client(ctx) {
            wanted.extend(JOB_SECTIONS.iter().map(|s| s.to_string()));
        }
    }
    let text = render(ctx, &wanted);
    ctx.out.verbatim("txt", text.as_bytes());
    Ok(())
}

fn render(ctx: &Ctx<'_>, wanted: &[String]) -> String {
    let mut out = String::new();
    let srv = &*ctx.srv;
    let uptime = srv.started.elapsed().as_secs();
    let rss = rss_bytes();
    for section in ALL_SECTIONS {
        if !wanted.iter().any(|w| w == section) {
            continue;
        }
        if !out.is_empty() {
            out.push_str("\r\n");
        }
        let w = &mut out;
        match *section {
            "server" => {
                let _ = write!(
                    w,
                    "# Server\r\nredis_version:{}\r\nsluice_version:{}\r\nredis_git_sha1:00000000\r\nredis_git_dirty:0\r\nredis_build_id:0\r\nredis_mode:standalone\r\nos:{} {}\r\narch_bits:64\r\nmultiplexing_api:epoll\r\nprocess_id:{}\r\nprocess_supervised:no\r\nrun_id:{}\r\ntcp_port:{}\r\nserver_time_usec:{}\r\nuptime_in_seconds:{uptime}\r\nuptime_in_days:{}\r\nhz:{}\r\nconfigured_hz:{}\r\nexecutable:{}\r\nconfig_file:{}\r\n",
                    reported_version().0,
                    env!("CARGO_PKG_VERSION"),
                    std::env::consts::OS,
                    std::env::consts::ARCH,
                    std::process::id(),
                    srv.run_id,
                    srv.config.port,
                    ctx.now_ms * 1000,
                    uptime / 86400,
                    srv.config.hz,
                    srv.config.hz,
                    std::env::current_exe().map(|p| p.display().to_string()).unwrap_or_default(),
                    srv.config.config_file.as_ref().map(|p| p.display().to_string()).unwrap_or_default(),
                );
            }
            "clients" => {
                let _ = write!(
                    w,
                    "# Clients\r\nconnected_clients:{}\r\ncluster_connections:0\r\nmaxclients:{}\r\nclient_recent_max_input_buffer:0\r\nclient_recent_max_output_buffer:0\r\nblocked_clients:{}\r\ntracking_clients:0\r\nclients_in_timeout_table:0\r\n",
                    srv.clients.len() + 1,
                    srv.config.maxclients
                ,
                    srv.clients.values().filter(|c| c.blocked.is_some()).count());
            }
            "memory" => {
                // used_memory: the allocator's live bytes (`alloc.rs`); the RSS where the
                // counting allocator is not installed.
                let used = crate::alloc::allocated().map_or(rss, |n| n as u64);
                let peak = (crate::alloc::peak() as u64).max(used);
                let clients: usize = srv
                    .clients
                    .values()
                    .map(|c| c.out.len() + c.conn.query_buffer_len())
                    .sum::<usize>()
                    + ctx.client.out.len()
                    + ctx.client.conn.query_buffer_len();
                let _ = write!(
                    w,
                    "# Memory\r\nused_memory:{used}\r\nused_memory_human:{}\r\nused_memory_rss:{rss}\r\nused_memory_rss_human:{}\r\nused_memory_peak:{peak}\r\nused_memory_peak_human:{}\r\nused_memory_peak_perc:{:.2}%\r\nallocator_allocated:{used}\r\nmaxmemory:{}\r\nmaxmemory_human:{}\r\nmaxmemory_policy:{}\r\nmem_fragmentation_ratio:{:.2}\r\nmem_fragmentation_bytes:{}\r\nmem_clients_normal:{clients}\r\nmem_allocator:{}\r\nsluice_rss_peak:{}\r\n",
                    human(used),
                    human(rss),
                    human(peak),
                    used as f64 * 100.0 / peak.max(1) as f64,
                    srv.config.maxmemory,
                    human(srv.config.maxmemory),
                    srv.config.maxmemory_policy,
                    rss as f64 / used.max(1) as f64,
                    rss as i64 - used as i64,
                    crate::alloc::name(),
                    peak_rss_bytes().max(rss),
                );
            }
            "persistence" => {
                let _ = write!(
                    w,
                    "# Persistence\r\nloading:0\r\nasync_loading:0\r\nrdb_changes_since_last_save:0\r\nrdb_bgsave_in_progress:{}\r\nrdb_last_save_time:{}\r\nrdb_last_bgsave_status:{}\r\nrdb_last_bgsave_time_sec:{}\r\nrdb_current_bgsave_time_sec:{}\r\naof_enabled:1\r\naof_rewrite_in_progress:0\r\naof_rewrite_scheduled:0\r\naof_last_write_status:{}\r\nsluice_appendfsync:{}\r\nsluice_disk_bytes:{}\r\nsluice_journal_persists:{}\r\nsluice_dead_streams:{}\r\nsluice_writes_refused:{}\r\nsluice_writes_refused_since:{}\r\nsluice_writes_refused_cause:{}\r\nsluice_min_free_disk:{}\r\nsluice_last_backup:{}\r\n",
                    u8::from(srv.backup.in_progress()),
                    srv.backup.last_save,
                    if srv.backup.last_ok { "ok" } else { "err" },
                    srv.backup.last_duration_s,
                    srv.backup.current_duration_s(),
                    if srv.disk_fault.is_some() { "err" } else { "ok" },
                    srv.config.appendfsync.name(),
                    ctx.store.disk_space(),
                    srv.stats.persists,
                    ctx.store.dead_streams(),
                    u8::from(srv.disk_fault.is_some()),
                    srv.disk_fault.as_ref().map_or(0, |f| f.since_ms / 1000),
                    srv.disk_fault.as_ref().map_or("", |f| f.cause.as_str()),
                    srv.config.min_free_disk,
                    srv.backup
                        .last_path
                        .as_ref()
                        .map_or(String::new(), |p| p.display().to_string()),
                );
            }
            "stats" => {
                use std::sync::atomic::Ordering::Relaxed;
                let _ = write!(
                    w,
                    "# Stats\r\ntotal_connections_received:{}\r\ntotal_commands_processed:{}\r\ninstantaneous_ops_per_sec:0\r\ntotal_net_input_bytes:{}\r\ntotal_net_output_bytes:{}\r\nrejected_connections:{}\r\nunexpected_error_replies:0\r\ntotal_error_replies:{}\r\nexpired_keys:{}\r\nevicted_keys:0\r\nkeyspace_hits:{}\r\nkeyspace_misses:{}\r\npubsub_channels:0\r\npubsub_patterns:0\r\n",
                    srv.stats.connections,
                    srv.stats.commands,
                    srv.net.bytes_in.load(Relaxed),
                    srv.net.bytes_out.load(Relaxed),
                    srv.net.rejected.load(Relaxed),
                    srv.stats.error_replies,
                    srv.stats.expired_keys,
                    srv.stats.keyspace_hits,
                    srv.stats.keyspace_misses
                );
            }
            "replication" => {
                let _ = write!(
                    w,
                    "# Replication\r\nrole:master\r\nconnected_slaves:0\r\nmaster_failover_state:no-failover\r\nmaster_replid:{}\r\nmaster_repl_offset:0\r\n",
                    srv.run_id
                );
            }
            "cpu" => {
                let (user, sys) = cpu_times();
                let _ = write!(
                    w,
                    "# CPU\r\nused_cpu_sys:{sys:.6}\r\nused_cpu_user:{user:.6}\r\n"
                );
            }
            "commandstats" => {
                let _ = write!(w, "# Commandstats\r\n");
                let mut rows: Vec<_> = srv.stats.per_command.values().collect();
                rows.sort_by_key(|r| r.name);
                for r in rows {
                    let per = if r.calls > 0 {
                        r.usec as f64 / r.calls as f64
                    } else {
                        0.0
                    };
                    let _ = write!(
                        w,
                        "cmdstat_{}:calls={},usec={},usec_per_call={per:.2},rejected_calls={},failed_calls={}\r\n",
                        r.name, r.calls, r.usec, r.rejected, r.failed
                    );
                }
            }
            "modules" => {
                let _ = write!(w, "# Modules\r\n");
            }
            "latencystats" => {
                let _ = write!(w, "# Latencystats\r\n");
            }
            "cluster" => {
                let _ = write!(w, "# Cluster\r\ncluster_enabled:0\r\n");
            }
            "errorstats" => {
                let _ = write!(w, "# Errorstats\r\n");
                for (prefix, count) in &srv.stats.errors {
                    let _ = write!(w, "errorstat_{prefix}:count={count}\r\n");
                }
            }
            "keyspace" => {
                let _ = write!(w, "# Keyspace\r\n");
                for db in 0..ctx.store.databases() {
                    let d = ctx.store.dir(db);
                    if !d.is_empty() {
                        let _ = write!(
                            w,
                            "db{db}:keys={},expires={},avg_ttl=0\r\n",
                            d.len(),
                            d.expires_len()
                        );
                    }
                }
            }
            _ => {}
        }
    }
    for section in JOB_SECTIONS {
        if wanted.iter().any(|w| w == section) {
            if !out.is_empty() {
                out.push_str("\r\n");
            }
            if let Some(text) = crate::commands::jobs::info_section(ctx.store, section) {
                out.push_str(&text);
            }
        }
    }
    if wanted.iter().any(|w| w == "queuegroups") {
        if !out.is_empty() {
            out.push_str("\r\n");
        }
        out.push_str(&crate::commands::xq::info_section(ctx.store, ctx.now_ms));
    }
    out
}

// ---------------------------------------------------------------------------------------------
// The table rows of this family (see `commands/mod.rs`).

pub static COMMANDS: &[Command] = &[cmd("info", -1, info)
    .tips(&[
        "nondeterministic_output",
        "request_policy:all_shards",
        "response_policy:special",
    ])
    .flags(&["loading", "stale"])
    .acl(&["@slow", "@dangerous"])
    .doc(
        "server",
        "1.0.0",
        "O(1)",
        "Get information and statistics about the server",
    )
    .args(&[arg("section", "string").opt().many()])];
