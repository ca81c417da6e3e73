//! INFO: Redis's section and field names, so tools and client libraries that read INFO
//! (ioredis and BullMQ look for `loading:0`, `redis_version`, `maxmemory_policy`) work.

use std::fmt::Write;
use std::time::{Duration, Instant};

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

/// Instantaneous metrics: samples kept (Redis's `STATS_METRIC_SAMPLES`) and how often one is
/// taken (Redis's `run_with_period(100)` in serverCron).
const INST_SAMPLES: usize = 16;
const INST_EVERY: Duration = Duration::from_millis(100);
/// `client_recent_max_*_buffer`: one-second slots (Redis's `CLIENTS_PEAK_MEM_USAGE_SLOTS`).
const PEAK_SLOTS: usize = 8;
/// `loglevel verbose`: the statistics lines' period (Redis's serverCron `run_with_period(5000)`).
const VERBOSE_STATS_EVERY: Duration = Duration::from_secs(5);

/// One instantaneous metric: per-second rates of a counter, sampled every [`INST_EVERY`].
#[derive(Debug, Default, Clone)]
struct InstMetric {
    samples: [u64; INST_SAMPLES],
    idx: usize,
    /// The previous sample's time and counter (`None` after RESETSTAT or at start).
    last: Option<(Instant, u64)>,
}

impl InstMetric {
    /// Redis's `trackInstantaneousMetric`.
    fn track(&mut self, now: Instant, count: u64) {
        if let Some((at, before)) = self.last {
            let ms = now.saturating_duration_since(at).as_millis() as u64;
            let per_sec = count
                .saturating_sub(before)
                .saturating_mul(1000)
                .checked_div(ms)
                .unwrap_or(0);
            self.samples[self.idx] = per_sec;
            self.idx = (self.idx + 1) % INST_SAMPLES;
        }
        self.last = Some((now, count));
    }

    /// Redis's `getInstantaneousMetric`: the mean of the samples.
    fn get(&self) -> u64 {
        self.samples.iter().sum::<u64>() / INST_SAMPLES as u64
    }
}

/// What INFO needs that is sampled in cron or measured around the drain's commit: the
/// instantaneous rates, the recent largest client buffers, the eviction-exceeded timer, the
/// commit and fsync latencies, and when `loglevel verbose` last logged its statistics.
#[derive(Debug, Default)]
pub struct InfoState {
    ops: InstMetric,
    net_in: InstMetric,
    net_out: InstMetric,
    last_inst: Option<Instant>,
    /// Per one-second slot (unix seconds mod [`PEAK_SLOTS`]): the largest query buffer and
    /// unwritten output of any client seen in that second.
    peak_in: [u64; PEAK_SLOTS],
    peak_out: [u64; PEAK_SLOTS],
    peak_second: u64,
    /// Since when the process is over `maxmemory` (Sluice never evicts: every policy acts as
    /// noeviction, so this is Redis's "eviction exceeded" time), and the total of past spells (ms).
    over_maxmemory_since: Option<Instant>,
    eviction_exceeded_ms: u64,
    /// A drain's commit, µs (last, maximum since start): its batch into fjall (memtables and
    /// journal buffer) and, except under `appendfsync always`, the journal's write to the OS.
    pub commit_us: (u64, u64),
    /// The journal's fdatasync, µs (last, maximum since start): the engine's under
    /// `appendfsync always` (journal write included), the background thread's under
    /// `everysec`; none under `no`.
    pub fsync_us: (u64, u64),
    /// Time spent in active expiry cycles, µs (INFO `expire_cycle_cpu_milliseconds`, which
    /// Redis also measures as elapsed time).
    pub expire_cycle_us: u64,
    last_verbose: Option<Instant>,
}

impl InfoState {
    /// CONFIG RESETSTAT: the rates and the eviction time restart (latency maxima are kept:
    /// they are "since start").
    pub fn reset(&mut self) {
        self.ops = InstMetric::default();
        self.net_in = InstMetric::default();
        self.net_out = InstMetric::default();
        self.eviction_exceeded_ms = 0;
        self.expire_cycle_us = 0;
        if self.over_maxmemory_since.is_some() {
            self.over_maxmemory_since = Some(Instant::now());
        }
    }

    /// Notes one timing into a (last, max) pair.
    pub fn note(pair: &mut (u64, u64), us: u64) {
        pair.0 = us;
        pair.1 = pair.1.max(us);
    }

    fn eviction_exceeded(&self) -> (u64, u64) {
        let current = self
            .over_maxmemory_since
            .map_or(0, |at| at.elapsed().as_millis() as u64);
        (self.eviction_exceeded_ms + current, current)
    }
}

/// INFO's periodic work, called from every cron tick: the instantaneous rates (every 100 ms),
/// the clients' recent largest buffers, the eviction-exceeded timer, and under `loglevel
/// verbose` (or debug) Redis's statistics lines every 5 s.
pub fn cron(srv: &mut crate::engine::Server, store: &sluice_storage::Store) {
    use std::sync::atomic::Ordering::Relaxed;
    let now = Instant::now();
    let st = &mut srv.info;
    if st
        .last_inst
        .is_none_or(|at| now.saturating_duration_since(at) >= INST_EVERY)
    {
        st.last_inst = Some(now);
        st.ops.track(now, srv.stats.commands);
        st.net_in.track(now, srv.net.bytes_in.load(Relaxed));
        st.net_out.track(now, srv.net.bytes_out.load(Relaxed));
    }
    let second = crate::engine::now_ms() / 1000;
    if second != st.peak_second {
        // Slots of the seconds since the last tick are over 8 s old by now: start them afresh.
        for s in st.peak_second.max(second.saturating_sub(PEAK_SLOTS as u64)) + 1..=second {
            let i = (s % PEAK_SLOTS as u64) as usize;
            st.peak_in[i] = 0;
            st.peak_out[i] = 0;
        }
        st.peak_second = second;
    }
    let slot = (second % PEAK_SLOTS as u64) as usize;
    for c in srv.clients.values() {
        st.peak_in[slot] = st.peak_in[slot].max(c.conn.query_buffer_len() as u64);
        st.peak_out[slot] = st.peak_out[slot].max(c.out.len() as u64);
    }
    let max = srv.config.maxmemory;
    let over = max > 0 && rss_bytes() > max;
    match (over, st.over_maxmemory_since) {
        (true, None) => st.over_maxmemory_since = Some(now),
        (false, Some(at)) => {
            st.eviction_exceeded_ms += now.saturating_duration_since(at).as_millis() as u64;
            st.over_maxmemory_since = None;
        }
        _ => {}
    }
    if matches!(srv.config.loglevel.as_str(), "verbose" | "debug")
        && st
            .last_verbose
            .is_none_or(|at| now.saturating_duration_since(at) >= VERBOSE_STATS_EVERY)
    {
        st.last_verbose = Some(now);
        // Redis's serverCron lines at `verbose`: the keys of each database, then the clients
        // and the memory in use.
        for db in 0..store.databases() {
            let d = store.dir(db);
            if !d.is_empty() {
                tracing::info!("DB {db}: {} keys ({} volatile)", d.len(), d.expires_len());
            }
        }
        tracing::info!(
            "{} clients connected (0 replicas), {} bytes in use",
            srv.clients.len(),
            rss_bytes()
        );
    }
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
    "sluice",
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
    "sluice",
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

/// User and system CPU seconds of the process (`/proc/self/stat`) or of the calling thread
/// (`/proc/thread-self/stat`: INFO runs on the engine thread, Redis's "main thread").
fn cpu_times(path: &str) -> (f64, f64) {
    let Ok(stat) = std::fs::read_to_string(path) else {
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
                    "# Server\r\nredis_version:{}\r\nsluice_version:{}\r\nredis_git_sha1:00000000\r\nredis_git_dirty:0\r\nredis_build_id:0\r\nredis_mode:standalone\r\nos:{} {}\r\narch_bits:64\r\nmultiplexing_api:epoll\r\nprocess_id:{}\r\nprocess_supervised:no\r\nrun_id:{}\r\ntcp_port:{}\r\nserver_time_usec:{}\r\nuptime_in_seconds:{uptime}\r\nuptime_in_days:{}\r\nhz:{}\r\nconfigured_hz:{}\r\nexecutable:{}\r\nconfig_file:{}\r\nio_threads_active:0\r\n",
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
                let (recent_in, recent_out) = (
                    srv.info.peak_in.iter().max().copied().unwrap_or(0),
                    srv.info.peak_out.iter().max().copied().unwrap_or(0),
                );
                let _ = write!(
                    w,
                    "# Clients\r\nconnected_clients:{}\r\ncluster_connections:0\r\nmaxclients:{}\r\nclient_recent_max_input_buffer:{recent_in}\r\nclient_recent_max_output_buffer:{recent_out}\r\nblocked_clients:{}\r\ntracking_clients:0\r\nclients_in_timeout_table:{}\r\n",
                    srv.clients.len() + 1,
                    srv.config.maxclients,
                    srv.clients.values().filter(|c| c.blocked.is_some()).count(),
                    srv.deadlines.len(),
                );
                if redis_at_least(7, 2, 0) {
                    // Keys with clients blocked on them (Redis 7.2's field).
                    let _ = write!(w, "total_blocking_keys:{}\r\n", srv.waiting.len());
                }
            }
            "memory" => {
                // used_memory: the allocator's live bytes (`alloc.rs`); the RSS where the
                // counting allocator is not installed.
                let used = crate::alloc::allocated().map_or(rss, |n| n as u64);
                let peak = (crate::alloc::peak() as u64).max(used);
                let clients: usize = srv.clients.values().map(|c| c.mem_bytes()).sum::<usize>()
                    + ctx.client.mem_bytes();
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
                    "# Persistence\r\nloading:0\r\nasync_loading:0\r\nrdb_changes_since_last_save:0\r\nrdb_bgsave_in_progress:{}\r\nrdb_last_save_time:{}\r\nrdb_last_bgsave_status:{}\r\nrdb_last_bgsave_time_sec:{}\r\nrdb_current_bgsave_time_sec:{}\r\naof_enabled:1\r\naof_rewrite_in_progress:0\r\naof_rewrite_scheduled:0\r\naof_last_write_status:{}\r\nsluice_appendfsync:{}\r\nsluice_disk_bytes:{}\r\nsluice_journal_persists:{}\r\nsluice_dead_streams:{}\r\nsluice_writes_refused:{}\r\nsluice_writes_refused_since:{}\r\nsluice_writes_refused_cause:{}\r\nsluice_min_free_disk:{}\r\nsluice_last_backup:{}\r\nsluice_job_log_mode:{}\r\nsluice_job_log_records:{}\r\nsluice_job_log_bytes:{}\r\nsluice_job_staged_records:{}\r\n",
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
                    ctx.store.jobs_ref().log_mode(),
                    ctx.store.jobs_ref().unfolded().0,
                    ctx.store.jobs_ref().unfolded().1,
                    ctx.store.jobs_ref().staged_records(),
                );
            }
            "stats" => {
                use std::sync::atomic::Ordering::Relaxed;
                let st = &srv.info;
                let (eviction_total, eviction_current) = st.eviction_exceeded();
                // Fields Sluice has nothing behind (replication, forks, defragmentation, client
                // tracking, MIGRATE, RESTORE, key eviction) are 0 as on a Redis that never
                // used them: true here, since Sluice never does those things.
                let _ = write!(
                    w,
                    "# Stats\r\ntotal_connections_received:{}\r\ntotal_commands_processed:{}\r\ninstantaneous_ops_per_sec:{}\r\ntotal_net_input_bytes:{}\r\ntotal_net_output_bytes:{}\r\ntotal_net_repl_input_bytes:0\r\ntotal_net_repl_output_bytes:0\r\ninstantaneous_input_kbps:{:.2}\r\ninstantaneous_output_kbps:{:.2}\r\ninstantaneous_input_repl_kbps:0.00\r\ninstantaneous_output_repl_kbps:0.00\r\nrejected_connections:{}\r\nsync_full:0\r\nsync_partial_ok:0\r\nsync_partial_err:0\r\nexpired_keys:{}\r\nexpire_cycle_cpu_milliseconds:{}\r\nevicted_keys:0\r\nevicted_clients:0\r\ntotal_eviction_exceeded_time:{eviction_total}\r\ncurrent_eviction_exceeded_time:{eviction_current}\r\nkeyspace_hits:{}\r\nkeyspace_misses:{}\r\npubsub_channels:0\r\npubsub_patterns:0\r\npubsubshard_channels:0\r\nlatest_fork_usec:0\r\ntotal_forks:0\r\nmigrate_cached_sockets:0\r\nslave_expires_tracked_keys:0\r\nactive_defrag_hits:0\r\nactive_defrag_misses:0\r\nactive_defrag_key_hits:0\r\nactive_defrag_key_misses:0\r\ntotal_active_defrag_time:0\r\ncurrent_active_defrag_time:0\r\ntracking_total_keys:0\r\ntracking_total_items:0\r\ntracking_total_prefixes:0\r\nunexpected_error_replies:0\r\ntotal_error_replies:{}\r\ndump_payload_sanitizations:0\r\ntotal_reads_processed:{}\r\ntotal_writes_processed:{}\r\nio_threaded_reads_processed:0\r\nio_threaded_writes_processed:0\r\n",
                    srv.stats.connections,
                    srv.stats.commands,
                    st.ops.get(),
                    srv.net.bytes_in.load(Relaxed),
                    srv.net.bytes_out.load(Relaxed),
                    st.net_in.get() as f64 / 1024.0,
                    st.net_out.get() as f64 / 1024.0,
                    srv.net.rejected.load(Relaxed),
                    srv.stats.expired_keys,
                    st.expire_cycle_us / 1000,
                    srv.stats.keyspace_hits,
                    srv.stats.keyspace_misses,
                    srv.stats.error_replies,
                    srv.net.reads.load(Relaxed),
                    srv.net.writes.load(Relaxed),
                );
            }
            "replication" => {
                let _ = write!(
                    w,
                    "# Replication\r\nrole:master\r\nconnected_slaves:0\r\nmaster_failover_state:no-failover\r\nmaster_replid:{}\r\nmaster_replid2:0000000000000000000000000000000000000000\r\nmaster_repl_offset:0\r\nsecond_repl_offset:-1\r\nrepl_backlog_active:0\r\n",
                    srv.run_id
                );
            }
            "cpu" => {
                let (user, sys) = cpu_times("/proc/self/stat");
                let (main_user, main_sys) = cpu_times("/proc/thread-self/stat");
                // No child processes: backups are copied by a thread.
                let _ = write!(
                    w,
                    "# CPU\r\nused_cpu_sys:{sys:.6}\r\nused_cpu_user:{user:.6}\r\nused_cpu_sys_children:0.000000\r\nused_cpu_user_children:0.000000\r\nused_cpu_sys_main_thread:{main_sys:.6}\r\nused_cpu_user_main_thread:{main_user:.6}\r\n"
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
                let mut rows: Vec<_> = srv.stats.per_command.values().collect();
                rows.sort_by_key(|r| r.name);
                let percentiles = &srv.config.latency_tracking_info_percentiles;
                // As Redis: nothing while `latency-tracking` is off (the histograms are kept).
                let rows = if srv.config.latency_tracking {
                    rows
                } else {
                    Vec::new()
                };
                for r in rows {
                    if let Some(h) = &r.latency {
                        w.push_str(&crate::commands::latency::percentiles_line(
                            r.name,
                            h,
                            percentiles,
                        ));
                    }
                }
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
            "sluice" => {
                let s = ctx.store.stats();
                let st = &srv.info;
                let _ = write!(
                    w,
                    "# Sluice\r\ndisk_bytes:{}\r\njournal_bytes:{}\r\njournals:{}\r\njournal_persists:{}\r\nmemtable_bytes:{}\r\nsealed_memtables:{}\r\nflushes_queued:{}\r\ntables:{}\r\nl0_tables:{}\r\nblob_files:{}\r\ncompactions_running:{}\r\ncompactions_completed:{}\r\ncompaction_time_usec:{}\r\nblock_cache_bytes:{}\r\nblock_cache_capacity:{}\r\nlast_commit_usec:{}\r\nmax_commit_usec:{}\r\nlast_fsync_usec:{}\r\nmax_fsync_usec:{}\r\nunixsocket:{}\r\n",
                    s.disk_bytes,
                    s.journal_bytes,
                    s.journals,
                    srv.stats.persists,
                    s.memtable_bytes,
                    s.sealed_memtables,
                    s.flushes_queued,
                    s.tables,
                    s.l0_tables,
                    s.blob_files,
                    s.compactions_running,
                    s.compactions_completed,
                    s.compaction_time_us,
                    s.cache_bytes,
                    s.cache_capacity,
                    st.commit_us.0,
                    st.commit_us.1,
                    st.fsync_us.0,
                    st.fsync_us.1,
                    srv.config.unixsocket,
                );
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
