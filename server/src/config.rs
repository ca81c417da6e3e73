//! Server configuration: every parameter once, with Redis's name, default, parser and
//! whether `CONFIG SET` may change it at run time.
//!
//! The same table serves the command line (`--port 6380`), the config file (redis.conf syntax,
//! `port 6380`), `CONFIG GET` (glob patterns) and `CONFIG SET`. Values the network side needs
//! while the engine owns the `Config` (limits, maxclients) are mirrored into [`SharedLimits`]
//! atomics whenever they change.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// `appendfsync`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fsync {
    Always,
    Everysec,
    No,
}

impl Fsync {
    pub fn name(self) -> &'static str {
        match self {
            Fsync::Always => "always",
            Fsync::Everysec => "everysec",
            Fsync::No => "no",
        }
    }
}

/// All configuration parameters.
#[derive(Clone, Debug)]
pub struct Config {
    pub port: u16,
    /// The Redis version reported to clients (INFO `redis_version`, HELLO, Lua's
    /// `redis.REDIS_VERSION`): clients switch features on by it. See
    /// `commands::info::DEFAULT_REDIS_VERSION`.
    pub redis_version: String,
    /// Where SAVE/BGSAVE write their copies (empty: `<dir>.backup`).
    pub backup_dir: String,
    /// The Disque port (0 = none; Disque's is 7711): on it a bare `HELLO` is Disque's. Every
    /// command works on both ports; equal to `port`, the main port is the Disque port.
    pub disque_port: u16,
    pub bind: Vec<String>,
    /// The Prometheus endpoint's port (0 = off) and address (see `metrics.rs`).
    pub metrics_port: u16,
    pub metrics_bind: String,
    pub dir: PathBuf,
    pub requirepass: Option<String>,
    pub appendfsync: Fsync,
    pub appendonly: bool,
    pub save: String,
    pub maxclients: u64,
    pub databases: u64,
    pub loglevel: String,
    pub proto_max_bulk_len: u64,
    pub client_query_buffer_limit: u64,
    pub stream_node_max_entries: u64,
    pub stream_node_max_bytes: u64,
    /// The window duration (seconds) and iids per producer a stream's IDMP window starts with.
    pub stream_idmp_duration: u64,
    pub stream_idmp_maxsize: u64,
    pub timeout: u64,
    pub tcp_keepalive: u64,
    pub maxmemory: u64,
    pub maxmemory_policy: String,
    pub hz: u64,
    pub cache_size: u64,
    pub tcp_backlog: u32,
    /// Threads doing network I/O and parsing, besides the engine thread (Redis's `io-threads`
    /// counts its main thread; ours is the engine). One is fastest on small machines.
    pub io_threads: u32,
    /// After a disk-full fault, writes resume once this many bytes are free in `dir` (and a
    /// probe write succeeds); see `fault.rs`.
    pub min_free_disk: u64,
    /// The job store's write log (`storage/src/jobs/log.rs`): `job-log`,
    /// `job-log-max-records`, `job-log-max-bytes`.
    pub job_log: sluice_storage::jobs::log::LogLimits,
    /// `client-output-buffer-limit`: (hard, soft bytes, soft seconds) for the classes normal,
    /// replica (`slave`) and pubsub, as Redis. Sluice enforces the normal class (it has no
    /// replicas or pub/sub clients yet).
    pub client_output_buffer_limit: [OutputLimit; 3],
    /// Log file ("" = standard error; with `daemonize yes`, nowhere, as Redis).
    pub logfile: String,
    /// Written with the server's pid once it listens, removed at a clean exit ("" = none).
    pub pidfile: String,
    /// Fork into the background at start (before any thread exists).
    pub daemonize: bool,
    /// Turn transparent huge pages off for the process at start (`alloc::disable_thp`).
    pub disable_thp: bool,
    /// The config file given on the command line, absolute (INFO `config_file`, CONFIG
    /// REWRITE).
    pub config_file: Option<PathBuf>,
    /// SLOWLOG: commands taking at least this many µs are logged (negative: none).
    pub slowlog_log_slower_than: i64,
    /// SLOWLOG: entries kept.
    pub slowlog_max_len: u64,
    /// LATENCY: events that take at least this many ms are recorded (0: monitor off).
    pub latency_monitor_threshold: u64,
    /// `latency-tracking`: per-command latency percentiles for INFO latencystats.
    pub latency_tracking: bool,
    /// `latency-tracking-info-percentiles`: the percentiles INFO latencystats prints.
    pub latency_tracking_info_percentiles: Vec<f64>,
    /// `unixsocket`: the path of a Unix socket to listen on as well ("" = none); start-only.
    pub unixsocket: String,
    /// `unixsocketperm`: the socket file's mode (0 = as the umask leaves it), start-only.
    pub unixsocketperm: u32,
    /// Redis directives from the config file or command line that do not apply to Sluice,
    /// with their values: accepted, and listed in one warning at start.
    pub ignored: Vec<(String, String)>,
    /// `busy-reply-threshold` (alias `lua-time-limit`), ms: a script running longer makes
    /// other clients get -BUSY and may be killed with SCRIPT KILL.
    pub busy_reply_threshold: u64,
    /// `lua-memory-limit`: the Lua heap's limit in bytes (0 = none). Sluice's own.
    pub lua_memory_limit: u64,
    /// `lua-script-max-size`: the largest script body EVAL / SCRIPT LOAD take. Sluice's own.
    pub lua_script_max_size: u64,
}

/// One class of `client-output-buffer-limit`: 0 = no limit.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OutputLimit {
    pub hard: u64,
    pub soft: u64,
    pub soft_seconds: u64,
}

const OUTPUT_CLASSES: [&str; 3] = ["normal", "slave", "pubsub"];

fn output_limits_text(l: &[OutputLimit; 3]) -> String {
    OUTPUT_CLASSES
        .iter()
        .zip(l)
        .map(|(name, l)| format!("{name} {} {} {}", l.hard, l.soft, l.soft_seconds))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Parses `class hard soft seconds [class hard soft seconds …]` with Redis's errors; classes
/// not named keep their values.
fn set_output_limits(l: &mut [OutputLimit; 3], v: &str) -> Result<(), String> {
    let words: Vec<&str> = v.split_whitespace().collect();
    // An empty value changes nothing (Redis answers OK).
    if !words.len().is_multiple_of(4) {
        return Err("Wrong number of arguments in buffer limit configuration.".into());
    }
    let mut new = *l;
    for group in words.chunks(4) {
        let class = match group[0].to_ascii_lowercase().as_str() {
            "normal" => 0,
            "slave" | "replica" => 1,
            "pubsub" => 2,
            _ => {
                return Err("Invalid client class specified in buffer limit configuration.".into())
            }
        };
        let bad = || "Error in hard, soft or soft_seconds setting in buffer limit configuration.";
        new[class] = OutputLimit {
            hard: parse_memory(group[1]).map_err(|_| bad())?,
            soft: parse_memory(group[2]).map_err(|_| bad())?,
            soft_seconds: group[3].parse::<u64>().map_err(|_| bad())?,
        };
    }
    *l = new;
    Ok(())
}

impl Default for Config {
    fn default() -> Self {
        Config {
            port: 6379,
            redis_version: crate::commands::info::DEFAULT_REDIS_VERSION.into(),
            backup_dir: String::new(),
            disque_port: 0,
            bind: vec!["127.0.0.1".into()],
            metrics_port: 0,
            metrics_bind: "127.0.0.1".into(),
            dir: PathBuf::from("./data"),
            requirepass: None,
            appendfsync: Fsync::Everysec,
            appendonly: true,
            save: String::new(),
            maxclients: 10_000,
            databases: 16,
            loglevel: "notice".into(),
            proto_max_bulk_len: 512 << 20,
            client_query_buffer_limit: 1 << 30,
            stream_node_max_entries: 100,
            stream_node_max_bytes: 4096,
            stream_idmp_duration: 100,
            stream_idmp_maxsize: 100,
            timeout: 0,
            tcp_keepalive: 300,
            maxmemory: 0,
            maxmemory_policy: "noeviction".into(),
            hz: 10,
            cache_size: 64 << 20,
            tcp_backlog: 511,
            io_threads: 1,
            min_free_disk: 64 << 20,
            job_log: sluice_storage::jobs::log::LogLimits::default(),
            client_output_buffer_limit: [
                OutputLimit::default(),
                OutputLimit {
                    hard: 256 << 20,
                    soft: 64 << 20,
                    soft_seconds: 60,
                },
                OutputLimit {
                    hard: 32 << 20,
                    soft: 8 << 20,
                    soft_seconds: 60,
                },
            ],
            slowlog_log_slower_than: 10_000,
            slowlog_max_len: 128,
            latency_monitor_threshold: 0,
            latency_tracking: true,
            latency_tracking_info_percentiles: vec![50.0, 99.0, 99.9],
            unixsocket: String::new(),
            unixsocketperm: 0,
            logfile: String::new(),
            pidfile: String::new(),
            daemonize: false,
            disable_thp: true,
            config_file: None,
            ignored: Vec::new(),
            busy_reply_threshold: 5000,
            lua_memory_limit: 256 << 20,
            lua_script_max_size: 64 << 20,
        }
    }
}

/// The limits the event loop reads on its hot paths (parsing, output), as atomics that CONFIG
/// SET updates in place.
#[derive(Debug)]
pub struct SharedLimits {
    /// `client-output-buffer-limit` of the normal class: hard, soft, soft seconds.
    pub output_hard: AtomicU64,
    pub output_soft: AtomicU64,
    pub output_soft_seconds: AtomicU64,
    pub proto_max_bulk_len: AtomicU64,
    pub client_query_buffer_limit: AtomicU64,
    pub maxclients: AtomicU64,
}

impl SharedLimits {
    pub fn new(c: &Config) -> Arc<Self> {
        let s = SharedLimits {
            output_hard: AtomicU64::new(0),
            output_soft: AtomicU64::new(0),
            output_soft_seconds: AtomicU64::new(0),
            proto_max_bulk_len: AtomicU64::new(0),
            client_query_buffer_limit: AtomicU64::new(0),
            maxclients: AtomicU64::new(0),
        };
        s.update(c);
        Arc::new(s)
    }

    pub fn update(&self, c: &Config) {
        let normal = c.client_output_buffer_limit[0];
        self.output_hard.store(normal.hard, Ordering::Relaxed);
        self.output_soft.store(normal.soft, Ordering::Relaxed);
        self.output_soft_seconds
            .store(normal.soft_seconds, Ordering::Relaxed);
        self.proto_max_bulk_len
            .store(c.proto_max_bulk_len, Ordering::Relaxed);
        self.client_query_buffer_limit
            .store(c.client_query_buffer_limit, Ordering::Relaxed);
        self.maxclients.store(c.maxclients, Ordering::Relaxed);
    }
}

type Getter = fn(&Config) -> String;
type Setter = fn(&mut Config, &str) -> Result<(), String>;

/// One parameter.
pub struct Param {
    pub name: &'static str,
    /// What it means, for `--help`.
    pub help: &'static str,
    pub get: Getter,
    pub set: Setter,
    /// `CONFIG SET` may change it.
    pub mutable: bool,
}

fn yes_no(v: &str) -> Result<bool, String> {
    match v.to_ascii_lowercase().as_str() {
        "yes" => Ok(true),
        "no" => Ok(false),
        _ => Err("argument must be 'yes' or 'no'".into()),
    }
}

/// Parses a memory size as Redis's `memtoull`: a number with an optional k/kb/m/mb/g/gb suffix.
pub fn parse_memory(v: &str) -> Result<u64, String> {
    let lower = v.to_ascii_lowercase();
    let (digits, mul) = [
        ("gb", 1u64 << 30),
        ("g", 1_000_000_000),
        ("mb", 1 << 20),
        ("m", 1_000_000),
        ("kb", 1 << 10),
        ("k", 1000),
        ("b", 1),
    ]
    .iter()
    .find_map(|(suf, mul)| lower.strip_suffix(suf).map(|d| (d.to_string(), *mul)))
    .unwrap_or((lower.clone(), 1));
    let n: u64 = digits
        .parse()
        .map_err(|_| "argument must be a memory value".to_string())?;
    n.checked_mul(mul)
        .ok_or_else(|| "argument must be a memory value".to_string())
}

fn uint(v: &str, min: u64, max: u64) -> Result<u64, String> {
    let n: i64 = v
        .parse()
        .map_err(|_| "argument couldn't be parsed into an integer".to_string())?;
    if n < min as i64 || (n as u64) > max {
        return Err(format!(
            "argument must be between {min} and {max} inclusive"
        ));
    }
    Ok(n as u64)
}

fn memory_in(v: &str, min: u64, max: u64) -> Result<u64, String> {
    let n = parse_memory(v)?;
    if n < min || n > max {
        return Err(format!(
            "argument must be between {min} and {max} inclusive"
        ));
    }
    Ok(n)
}

macro_rules! param {
    ($name:literal, $help:literal, $mutable:expr, |$c:ident| $get:expr, |$cs:ident, $v:ident| $set:expr) => {
        Param {
            name: $name,
            help: $help,
            mutable: $mutable,
            get: |$c: &Config| $get,
            set: |$cs: &mut Config, $v: &str| $set,
        }
    };
}

/// Every parameter, in the order `CONFIG GET *` lists them.
pub static PARAMS: &[Param] = &[
    param!("port", "TCP port for Redis clients", false, |c| c.port.to_string(), |c, v| {
        c.port = uint(v, 0, 65535)? as u16;
        Ok(())
    }),
    param!(
        "redis-version", "the Redis version reported to clients (INFO redis_version, HELLO, Lua's redis.REDIS_VERSION), by which client libraries switch features on; Sluice has Redis 8.10's stream commands",
        false,
        |c| c.redis_version.clone(),
        |c, v| {
            crate::commands::info::version_num(v).ok_or_else(|| {
                "redis-version must be major.minor.patch, each 0-255".to_string()
            })?;
            c.redis_version = v.to_string();
            Ok(())
        }
    ),
    param!(
        "backup-dir", "where SAVE and BGSAVE write their copies of the data directory (sluice-<unix ms> each, the two newest kept); empty: <dir>.backup beside the data directory",
        true,
        |c| c.backup_dir.clone(),
        |c, v| {
            c.backup_dir = v.to_string();
            Ok(())
        }
    ),
    param!(
        "disque-port", "TCP port for Disque clients, on which a bare HELLO is Disque's (0 = none; Disque uses 7711)",
        false,
        |c| c.disque_port.to_string(),
        |c, v| {
            c.disque_port = uint(v, 0, 65535)? as u16;
            Ok(())
        }
    ),
    param!("bind", "addresses to listen on; a leading '-' makes an address optional, '*' is every IPv4 address", false, |c| c.bind.join(" "), |c, v| {
        c.bind = v.split_whitespace().map(str::to_string).collect();
        if c.bind.is_empty() {
            return Err("Too many bind addresses specified.".into());
        }
        Ok(())
    }),
    param!(
        "metrics-port", "TCP port of the Prometheus endpoint, GET /metrics with redis_exporter's metric names (0 = off)",
        false,
        |c| c.metrics_port.to_string(),
        |c, v| {
            c.metrics_port = uint(v, 0, 65535)? as u16;
            Ok(())
        }
    ),
    param!(
        "metrics-bind", "address the Prometheus endpoint listens on (one address; '*' is every IPv4 address)",
        false,
        |c| c.metrics_bind.clone(),
        |c, v| {
            let v = v.trim();
            if v.is_empty() || v.split_whitespace().count() > 1 {
                return Err("metrics-bind takes one address".into());
            }
            c.metrics_bind = v.to_string();
            Ok(())
        }
    ),
    param!(
        "dir", "data directory (created if missing)",
        false,
        |c| std::fs::canonicalize(&c.dir)
            .unwrap_or_else(|_| c.dir.clone())
            .display()
            .to_string(),
        |c, v| {
            c.dir = PathBuf::from(v);
            Ok(())
        }
    ),
    param!(
        "requirepass", "password clients must give with AUTH or HELLO (empty = none)",
        true,
        |c| c.requirepass.clone().unwrap_or_default(),
        |c, v| {
            c.requirepass = (!v.is_empty()).then(|| v.to_string());
            Ok(())
        }
    ),
    param!(
        "appendfsync", "when the journal is synced to disk: always (before each reply), everysec, or no (left to the OS)",
        true,
        |c| c.appendfsync.name().to_string(),
        |c, v| {
            c.appendfsync = match v.to_ascii_lowercase().as_str() {
                "always" => Fsync::Always,
                "everysec" => Fsync::Everysec,
                "no" => Fsync::No,
                _ => {
                    return Err(
                        "argument(s) must be one of the following: everysec, always, no".into(),
                    )
                }
            };
            Ok(())
        }
    ),
    param!(
        "appendonly", "always yes: every write goes through the journal",
        true,
        |c| if c.appendonly { "yes" } else { "no" }.to_string(),
        |c, v| {
            // Every write goes through the journal: there is no mode without it.
            if !yes_no(v)? {
                return Err(
                    "Sluice always journals writes; appendonly cannot be turned off".into(),
                );
            }
            c.appendonly = true;
            Ok(())
        }
    ),
    param!("save", "accepted for redis.conf compatibility; Sluice has no RDB snapshots (every write is journaled)", true, |c| c.save.clone(), |c, v| {
        let parts: Vec<&str> = v.split_whitespace().collect();
        if !parts.len().is_multiple_of(2) || parts.iter().any(|p| p.parse::<u64>().is_err()) {
            return Err("Invalid save parameters".into());
        }
        c.save = parts.join(" ");
        Ok(())
    }),
    param!("maxclients", "most connected clients", true, |c| c.maxclients.to_string(), |c, v| {
        c.maxclients = uint(v, 1, u32::MAX as u64)?;
        Ok(())
    }),
    param!("databases", "number of databases (SELECT 0..n-1)", false, |c| c.databases.to_string(), |c, v| {
        c.databases = uint(v, 1, 256)?;
        Ok(())
    }),
    param!("loglevel", "debug, verbose, notice, warning or nothing", true, |c| c.loglevel.clone(), |c, v| {
        let l = v.to_ascii_lowercase();
        if !["debug", "verbose", "notice", "warning", "nothing"].contains(&l.as_str()) {
            return Err("argument(s) must be one of the following: debug, verbose, notice, warning, nothing".into());
        }
        c.loglevel = l;
        Ok(())
    }),
    param!(
        "proto-max-bulk-len", "largest bulk string a client may send",
        true,
        |c| c.proto_max_bulk_len.to_string(),
        |c, v| {
            c.proto_max_bulk_len = memory_in(v, 1024 * 1024, i64::MAX as u64)?;
            Ok(())
        }
    ),
    param!(
        "client-query-buffer-limit", "most unparsed bytes held for one client",
        true,
        |c| c.client_query_buffer_limit.to_string(),
        |c, v| {
            c.client_query_buffer_limit = memory_in(v, 1024 * 1024, i64::MAX as u64)?;
            Ok(())
        }
    ),
    param!(
        "stream-node-max-entries", "most entries in one stream node (XINFO and trimming granularity, as Redis)",
        true,
        |c| c.stream_node_max_entries.to_string(),
        |c, v| {
            c.stream_node_max_entries = uint(v, 0, i64::MAX as u64)?;
            Ok(())
        }
    ),
    param!(
        "stream-node-max-bytes", "most bytes in one stream node",
        true,
        |c| c.stream_node_max_bytes.to_string(),
        |c, v| {
            c.stream_node_max_bytes = memory_in(v, 0, i64::MAX as u64)?;
            Ok(())
        }
    ),
    param!(
        "stream-idmp-duration", "seconds an XADD IDMP idempotency ID is remembered by a new stream window (1-86400)",
        true,
        |c| c.stream_idmp_duration.to_string(),
        |c, v| {
            c.stream_idmp_duration = uint(v, 1, 86_400)?;
            Ok(())
        }
    ),
    param!(
        "stream-idmp-maxsize", "idempotency IDs a new stream window keeps per producer (1-10000)",
        true,
        |c| c.stream_idmp_maxsize.to_string(),
        |c, v| {
            c.stream_idmp_maxsize = uint(v, 1, 10_000)?;
            Ok(())
        }
    ),
    param!("timeout", "close a client idle this many seconds (0 = never)", true, |c| c.timeout.to_string(), |c, v| {
        c.timeout = uint(v, 0, i32::MAX as u64)?;
        Ok(())
    }),
    param!(
        "tcp-keepalive", "TCP keepalive period in seconds (0 = off)",
        true,
        |c| c.tcp_keepalive.to_string(),
        |c, v| {
            c.tcp_keepalive = uint(v, 0, i32::MAX as u64)?;
            Ok(())
        }
    ),
    param!("maxmemory", "refuse commands that may add data once the server's memory (RSS) is above this (0 = no limit); Sluice never evicts", true, |c| c.maxmemory.to_string(), |c, v| {
        c.maxmemory = parse_memory(v)?;
        Ok(())
    }),
    param!(
        "maxmemory-policy", "accepted and validated as Redis's; every policy acts as noeviction (Sluice keeps data on disk and never evicts)",
        true,
        |c| c.maxmemory_policy.clone(),
        |c, v| {
            let v = v.to_ascii_lowercase();
            if !MAXMEMORY_POLICIES.contains(&v.as_str()) {
                return Err(format!(
                    "argument(s) must be one of the following: {}",
                    MAXMEMORY_POLICIES.join(", ")
                ));
            }
            c.maxmemory_policy = v;
            Ok(())
        }
    ),
    param!(
        "busy-reply-threshold",
        "a script running longer than this many ms makes other clients get -BUSY and may be killed (SCRIPT KILL)",
        true,
        |c| c.busy_reply_threshold.to_string(),
        |c, v| {
            c.busy_reply_threshold = uint(v, 0, i64::MAX as u64)?;
            Ok(())
        }
    ),
    param!(
        "lua-time-limit",
        "the old name of busy-reply-threshold",
        true,
        |c| c.busy_reply_threshold.to_string(),
        |c, v| {
            c.busy_reply_threshold = uint(v, 0, i64::MAX as u64)?;
            Ok(())
        }
    ),
    param!(
        "lua-memory-limit",
        "the Lua heap's limit in bytes (0 = none; Sluice's own)",
        true,
        |c| c.lua_memory_limit.to_string(),
        |c, v| {
            c.lua_memory_limit = parse_memory(v)?;
            Ok(())
        }
    ),
    param!(
        "lua-script-max-size",
        "the largest script EVAL and SCRIPT LOAD take (Sluice's own)",
        true,
        |c| c.lua_script_max_size.to_string(),
        |c, v| {
            c.lua_script_max_size = memory_in(v, 1024, i64::MAX as u64)?;
            Ok(())
        }
    ),
    param!("hz", "timer frequency: expiry, timeouts, job timers", true, |c| c.hz.to_string(), |c, v| {
        c.hz = uint(v, 1, 500)?;
        Ok(())
    }),
    param!(
        "tcp-backlog", "listen(2) backlog",
        false,
        |c| c.tcp_backlog.to_string(),
        |c, v| {
            c.tcp_backlog = uint(v, 0, i32::MAX as u64)? as u32;
            Ok(())
        }
    ),
    param!("io-threads", "accepted; the event loop does all socket I/O on one thread", false, |c| c.io_threads.to_string(), |c, v| {
        c.io_threads = uint(v, 1, 128)? as u32;
        Ok(())
    }),
    param!("cache-size", "block cache of the LSM store", false, |c| c.cache_size.to_string(), |c, v| {
        c.cache_size = parse_memory(v)?;
        Ok(())
    }),
    param!(
        "job-log", "the job store writes each loop turn's job changes as log records and folds them into their keyspaces later (jobs acknowledged before the fold never reach them); no: every turn writes them directly",
        true,
        |c| if c.job_log.enabled { "yes" } else { "no" }.to_string(),
        |c, v| {
            c.job_log.enabled = yes_no(v)?;
            Ok(())
        }
    ),
    param!(
        "job-log-max-records", "the job log folds once this many job records are staged in memory",
        true,
        |c| c.job_log.max_records.to_string(),
        |c, v| {
            c.job_log.max_records = uint(v, 1, 1 << 24)? as usize;
            Ok(())
        }
    ),
    param!(
        "job-log-max-bytes", "the job log folds once its records since the last fold hold this many bytes (what a start replays)",
        true,
        |c| c.job_log.max_bytes.to_string(),
        |c, v| {
            c.job_log.max_bytes = memory_in(v, 4096, 1 << 30)? as usize;
            Ok(())
        }
    ),
    param!(
        "min-free-disk", "after a disk-full error, writes resume once this much is free",
        true,
        |c| c.min_free_disk.to_string(),
        |c, v| {
            c.min_free_disk = parse_memory(v)?;
            Ok(())
        }
    ),
    param!(
        "client-output-buffer-limit", "per-class output limits: class hard soft seconds",
        true,
        |c| output_limits_text(&c.client_output_buffer_limit),
        |c, v| set_output_limits(&mut c.client_output_buffer_limit, v)
    ),
    param!("slowlog-log-slower-than", "SLOWLOG logs commands taking at least this many microseconds (negative: none, 0: all)", true, |c| c.slowlog_log_slower_than.to_string(), |c, v| {
        let n: i64 = v.parse().map_err(|_| "argument couldn't be parsed into an integer".to_string())?;
        if n < -1 {
            return Err(format!("argument must be between -1 and {} inclusive", i64::MAX));
        }
        c.slowlog_log_slower_than = n;
        Ok(())
    }),
    param!("slowlog-max-len", "SLOWLOG entries kept", true, |c| c.slowlog_max_len.to_string(), |c, v| {
        c.slowlog_max_len = uint(v, 0, i64::MAX as u64)?;
        Ok(())
    }),
    param!("latency-monitor-threshold", "LATENCY records events taking at least this many milliseconds (0: off)", true, |c| c.latency_monitor_threshold.to_string(), |c, v| {
        c.latency_monitor_threshold = uint(v, 0, i64::MAX as u64)?;
        Ok(())
    }),
    param!("logfile", "log file; empty = standard error", false, |c| c.logfile.clone(), |c, v| {
        c.logfile = v.to_string();
        Ok(())
    }),
    param!("pidfile", "file the server writes its pid to (empty = none)", false, |c| c.pidfile.clone(), |c, v| {
        c.pidfile = v.to_string();
        Ok(())
    }),
    param!("daemonize", "yes = fork into the background (logs go to logfile, or nowhere)", false, |c| if c.daemonize { "yes" } else { "no" }.to_string(), |c, v| {
        c.daemonize = yes_no(v)?;
        Ok(())
    }),
    param!("disable-thp", "yes = turn transparent huge pages off for this process at start (as Redis; Sluice does it whatever the system's THP mode, because its allocator asks for huge pages, whose 2 MB zeroing faults cost every client latency)", false, |c| if c.disable_thp { "yes" } else { "no" }.to_string(), |c, v| {
        c.disable_thp = yes_no(v)?;
        Ok(())
    }),
    param!("unixsocket", "path of a Unix socket to listen on as well (empty = none); a stale socket file there is replaced at start, and removed at a clean exit", false, |c| c.unixsocket.clone(), |c, v| {
        c.unixsocket = v.to_string();
        Ok(())
    }),
    param!("unixsocketperm", "mode of the unixsocket file, in octal as chmod (0 = as the umask leaves it)", false, |c| format!("{:o}", c.unixsocketperm), |c, v| {
        c.unixsocketperm = octal_perm(v)?;
        Ok(())
    }),
    param!("latency-tracking", "yes = keep per-command latency histograms for INFO latencystats", true, |c| if c.latency_tracking { "yes" } else { "no" }.to_string(), |c, v| {
        c.latency_tracking = yes_no(v)?;
        Ok(())
    }),
    param!("latency-tracking-info-percentiles", "the percentiles INFO latencystats prints, separated by spaces (empty = none)", true, |c| c.latency_tracking_info_percentiles.iter().map(|p| trim_double(*p)).collect::<Vec<_>>().join(" "), |c, v| {
        c.latency_tracking_info_percentiles = percentiles(v)?;
        Ok(())
    }),
];

/// `maxmemory-policy` values, as Redis lists them in its error.
const MAXMEMORY_POLICIES: [&str; 8] = [
    "volatile-lru",
    "volatile-lfu",
    "volatile-random",
    "volatile-ttl",
    "allkeys-lru",
    "allkeys-lfu",
    "allkeys-random",
    "noeviction",
];

/// Redis 7.0 directives that mean nothing for Sluice (RDB, replication, cluster, encodings,
/// defragmentation, TLS, ...): accepted from a config file or the command line, so a stock
/// redis.conf starts, and listed in one warning at start. Values that would ask for a feature
/// Sluice lacks are refused instead (see [`refused`]).
const IGNORED: &[&str] = &[
    "acl-pubsub-default",
    "aclfile",
    "acllog-max-len",
    "active-defrag-cycle-max",
    "active-defrag-cycle-min",
    "active-defrag-ignore-bytes",
    "active-defrag-max-scan-fields",
    "active-defrag-threshold-lower",
    "active-defrag-threshold-upper",
    "active-expire-effort",
    "activedefrag",
    "activerehashing",
    "always-show-logo",
    "aof-disable-auto-gc",
    "aof-load-truncated",
    "aof-rewrite-incremental-fsync",
    "aof-timestamp-enabled",
    "aof-use-rdb-preamble",
    "aof_rewrite_cpulist",
    "appenddirname",
    "appendfilename",
    "auto-aof-rewrite-min-size",
    "auto-aof-rewrite-percentage",
    "bgsave_cpulist",
    "bind-source-addr",
    "bio_cpulist",
    "cluster-allow-pubsubshard-when-down",
    "cluster-allow-reads-when-down",
    "cluster-allow-replica-migration",
    "cluster-announce-bus-port",
    "cluster-announce-hostname",
    "cluster-announce-ip",
    "cluster-announce-port",
    "cluster-announce-tls-port",
    "cluster-config-file",
    "cluster-enabled",
    "cluster-link-sendbuf-limit",
    "cluster-migration-barrier",
    "cluster-node-timeout",
    "cluster-port",
    "cluster-preferred-endpoint-type",
    "cluster-replica-no-failover",
    "cluster-replica-validity-factor",
    "cluster-require-full-coverage",
    "cluster-slave-no-failover",
    "cluster-slave-validity-factor",
    "crash-log-enabled",
    "crash-memcheck-enabled",
    "dbfilename",
    "dynamic-hz",
    "enable-debug-command",
    "enable-module-command",
    "enable-protected-configs",
    "hash-max-listpack-entries",
    "hash-max-listpack-value",
    "hash-max-ziplist-entries",
    "hash-max-ziplist-value",
    "hll-sparse-max-bytes",
    "ignore-warnings",
    "io-threads-do-reads",
    "jemalloc-bg-thread",
    "lazyfree-lazy-eviction",
    "lazyfree-lazy-expire",
    "lazyfree-lazy-server-del",
    "lazyfree-lazy-user-del",
    "lazyfree-lazy-user-flush",
    "lfu-decay-time",
    "lfu-log-factor",
    "list-compress-depth",
    "list-max-listpack-size",
    "list-max-ziplist-size",
    "masterauth",
    "masteruser",
    "maxmemory-clients",
    "maxmemory-eviction-tenacity",
    "maxmemory-samples",
    "min-replicas-max-lag",
    "min-replicas-to-write",
    "min-slaves-max-lag",
    "min-slaves-to-write",
    "no-appendfsync-on-rewrite",
    "notify-keyspace-events",
    "oom-score-adj",
    "oom-score-adj-values",
    "proc-title-template",
    "propagation-error-behavior",
    "protected-mode",
    "rdb-del-sync-files",
    "rdb-save-incremental-fsync",
    "rdbchecksum",
    "rdbcompression",
    "repl-backlog-size",
    "repl-backlog-ttl",
    "repl-disable-tcp-nodelay",
    "repl-diskless-load",
    "repl-diskless-sync",
    "repl-diskless-sync-delay",
    "repl-diskless-sync-max-replicas",
    "repl-ping-replica-period",
    "repl-ping-slave-period",
    "repl-timeout",
    "replica-announce-ip",
    "replica-announce-port",
    "replica-announced",
    "replica-ignore-disk-write-errors",
    "replica-ignore-maxmemory",
    "replica-lazy-flush",
    "replica-priority",
    "replica-read-only",
    "replica-serve-stale-data",
    "sanitize-dump-payload",
    "server_cpulist",
    "set-max-intset-entries",
    "set-proc-title",
    "shutdown-on-sigint",
    "shutdown-on-sigterm",
    "shutdown-timeout",
    "slave-announce-ip",
    "slave-announce-port",
    "slave-ignore-maxmemory",
    "slave-lazy-flush",
    "slave-priority",
    "slave-read-only",
    "slave-serve-stale-data",
    "socket-mark-id",
    "stop-writes-on-bgsave-error",
    "supervised",
    "syslog-enabled",
    "syslog-facility",
    "syslog-ident",
    "tls-auth-clients",
    "tls-ca-cert-dir",
    "tls-ca-cert-file",
    "tls-cert-file",
    "tls-ciphers",
    "tls-ciphersuites",
    "tls-client-cert-file",
    "tls-client-key-file",
    "tls-client-key-file-pass",
    "tls-cluster",
    "tls-dh-params-file",
    "tls-key-file",
    "tls-key-file-pass",
    "tls-port",
    "tls-prefer-server-ciphers",
    "tls-protocols",
    "tls-replication",
    "tls-session-cache-size",
    "tls-session-cache-timeout",
    "tls-session-caching",
    "tracking-table-max-keys",
    "zset-max-listpack-entries",
    "zset-max-listpack-value",
    "zset-max-ziplist-entries",
    "zset-max-ziplist-value",
];

/// `unixsocketperm`: an octal mode up to 0777, as Redis's octal configs (`700`, `0770`).
fn octal_perm(v: &str) -> Result<u32, String> {
    let n = i64::from_str_radix(v, 8)
        .map_err(|_| "argument couldn't be parsed into an integer".to_string())?;
    if !(0..=0o777).contains(&n) {
        return Err("argument must be between 0 and 511 inclusive".into());
    }
    Ok(n as u32)
}

/// `latency-tracking-info-percentiles`: numbers between 0 and 100 separated by single spaces;
/// "" is none. Redis's errors.
fn percentiles(v: &str) -> Result<Vec<f64>, String> {
    if v.is_empty() {
        return Ok(Vec::new());
    }
    v.split(' ')
        .map(|p| {
            let n: f64 = p
                .parse()
                .ok()
                .filter(|n: &f64| !n.is_nan())
                .ok_or("Invalid latency-tracking-info-percentiles parameters")?;
            if !(0.0..=100.0).contains(&n) {
                return Err(
                    "latency-tracking-info-percentiles parameters should sit between [0.0,100.0]"
                        .to_string(),
                );
            }
            Ok(n)
        })
        .collect()
}

/// A percentile as Redis prints it (`%f` without trailing zeros or point): 50, 99.9.
pub fn trim_double(v: f64) -> String {
    let s = format!("{v:.6}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// Why a Redis directive that Sluice otherwise ignores cannot be accepted with this value:
/// the config asks for something Sluice would silently not do.
fn refused(name: &str, value: &str) -> Option<String> {
    let v = value.trim().to_ascii_lowercase();
    let why = match name {
        "replicaof" | "slaveof" => "Sluice has no replication; remove replicaof",
        "cluster-enabled" if v != "no" => "Sluice has no cluster mode; set cluster-enabled no",
        "tls-port" if v != "0" => "Sluice has no TLS; set tls-port 0",
        "rename-command" => {
            "Sluice does not support rename-command; remove it (ACLs are not supported either)"
        }
        "loadmodule" => "Sluice does not load Redis modules; remove loadmodule",
        "user" => "Sluice has no ACL users; use requirepass",
        _ => return None,
    };
    Some(why.to_string())
}

pub fn find(name: &str) -> Option<&'static Param> {
    PARAMS.iter().find(|p| p.name.eq_ignore_ascii_case(name))
}

/// Errors from the command line or config file.
#[derive(Debug)]
pub struct ConfigError(pub String);

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl Config {
    /// Applies `name value…` from the command line or a config file.
    pub fn apply(&mut self, name: &str, values: &[String]) -> Result<(), ConfigError> {
        let lower = name.to_ascii_lowercase();
        if let Some(why) = refused(&lower, &values.join(" ")) {
            return Err(ConfigError(format!("'{name}': {why}")));
        }
        // A stock redis.conf says `appendonly no`; Sluice journals every write whatever it is
        // told, which keeps more than was asked for, so the file still starts (CONFIG SET
        // appendonly no is refused: a running server cannot pretend to stop journaling).
        let appendonly_no =
            lower == "appendonly" && matches!(values, [v] if v.eq_ignore_ascii_case("no"));
        if appendonly_no || (find(name).is_none() && IGNORED.contains(&lower.as_str())) {
            self.ignored.push((lower, values.join(" ")));
            return Ok(());
        }
        let p = find(name).ok_or_else(|| {
            ConfigError(format!(
                "Bad directive or wrong number of arguments: '{name}'"
            ))
        })?;
        (p.set)(self, &values.join(" ")).map_err(|e| ConfigError(format!("'{name}': {e}")))
    }

    /// Builds the configuration as redis-server does: an optional config file as the first
    /// argument, then `--name value…` options that override it.
    pub fn from_args(args: &[String]) -> Result<Config, ConfigError> {
        let mut c = Config::default();
        let mut rest = args;
        if let Some(first) = args.first() {
            if !first.starts_with("--") {
                let text = std::fs::read_to_string(first)
                    .map_err(|e| ConfigError(format!("can't open config file '{first}': {e}")))?;
                c.apply_file(&text, 0)?;
                c.config_file =
                    Some(std::fs::canonicalize(first).unwrap_or_else(|_| PathBuf::from(first)));
                rest = &args[1..];
            }
        }
        let mut i = 0;
        while i < rest.len() {
            let name = rest[i].strip_prefix("--").ok_or_else(|| {
                ConfigError(format!(
                    "expected an option starting with --, got '{}'",
                    rest[i]
                ))
            })?;
            let mut values = Vec::new();
            i += 1;
            while i < rest.len() && !rest[i].starts_with("--") {
                values.push(rest[i].clone());
                i += 1;
            }
            c.apply(name, &values)?;
        }
        Ok(c)
    }

    /// Applies a config file in redis.conf syntax (`include` nests up to a few levels).
    pub fn apply_file(&mut self, text: &str, depth: usize) -> Result<(), ConfigError> {
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let words = sluice_resp::parse::split_line(line.as_bytes()).ok_or_else(|| {
                ConfigError(format!("config file line {}: unbalanced quotes", n + 1))
            })?;
            let words: Vec<String> = words
                .iter()
                .map(|w| String::from_utf8_lossy(w).into_owned())
                .collect();
            if let Some((name, values)) = words.split_first() {
                if name.eq_ignore_ascii_case("include") {
                    let [path] = values else {
                        return Err(ConfigError(format!(
                            "config file line {}: include takes one file",
                            n + 1
                        )));
                    };
                    if depth >= 8 {
                        return Err(ConfigError(format!(
                            "config file line {}: includes nested too deeply",
                            n + 1
                        )));
                    }
                    let text = std::fs::read_to_string(path).map_err(|e| {
                        ConfigError(format!(
                            "config file line {}: can't open included file '{path}': {e}",
                            n + 1
                        ))
                    })?;
                    self.apply_file(&text, depth + 1)?;
                    continue;
                }
                self.apply(name, values)
                    .map_err(|e| ConfigError(format!("config file line {}: {}", n + 1, e.0)))?;
            }
        }
        Ok(())
    }
}

impl Config {
    /// The config file rewritten as CONFIG REWRITE does: every line kept (comments, ignored
    /// Redis directives, includes) except that the first line of each Sluice parameter gets
    /// the current value and later duplicates are dropped; parameters that differ from their
    /// default and have no line are appended. `old` is the file's current text.
    pub fn rewritten(&self, old: &str) -> String {
        let defaults = Config::default();
        let mut done: Vec<&'static str> = Vec::new();
        let mut out = String::new();
        for line in old.lines() {
            let trimmed = line.trim();
            let name = trimmed.split_whitespace().next().unwrap_or("");
            let param = (!trimmed.starts_with('#')).then(|| find(name)).flatten();
            match param {
                Some(p) if done.contains(&p.name) => {}
                Some(p) => {
                    done.push(p.name);
                    out.push_str(&config_line(p.name, &(p.get)(self)));
                }
                None => {
                    out.push_str(line);
                    out.push('\n');
                }
            }
        }
        let mut header = false;
        for p in PARAMS {
            let value = (p.get)(self);
            if done.contains(&p.name) || value == (p.get)(&defaults) {
                continue;
            }
            if !header {
                out.push_str("# Generated by CONFIG REWRITE\n");
                header = true;
            }
            out.push_str(&config_line(p.name, &value));
        }
        out
    }
}

/// One `name value` line, the value quoted when it is empty or has spaces or quotes (the
/// config parser splits lines as redis-cli does).
fn config_line(name: &str, value: &str) -> String {
    let plain = !value.is_empty()
        && !value.bytes().any(|b| {
            b.is_ascii_whitespace()
                || b == b'"'
                || b == b'\''
                || b == b'\\'
                || !b.is_ascii_graphic()
        });
    // Multi-word values of list parameters stay unquoted: `bind 127.0.0.1 ::1`,
    // `save 3600 1 300 100`, `client-output-buffer-limit normal 0 0 0 ...`.
    let list = matches!(name, "bind" | "save" | "client-output-buffer-limit")
        && !value.is_empty()
        && value.bytes().all(|b| b.is_ascii_graphic() || b == b' ');
    if plain || list {
        format!("{name} {value}\n")
    } else {
        let mut q = String::from("\"");
        for c in value.chars() {
            match c {
                '"' => q.push_str("\\\""),
                '\\' => q.push_str("\\\\"),
                '\n' => q.push_str("\\n"),
                '\r' => q.push_str("\\r"),
                '\t' => q.push_str("\\t"),
                c => q.push(c),
            }
        }
        q.push('"');
        format!("{name} {q}\n")
    }
}

/// `sluice --help`: how to start it, then every parameter with its default and meaning.
pub fn usage() -> String {
    let defaults = Config::default();
    let mut out = String::from(
        "Usage: sluice [/path/to/sluice.conf] [--option value ...]\n\
         \x20      sluice -v | --version\n\
         \x20      sluice -h | --help\n\
         \x20      sluice check <data-dir>\n\
         \x20      sluice repair <damaged-data-dir> <new-data-dir>\n\n\
         The config file uses redis.conf syntax; --options override it. Redis directives that\n\
         do not apply to Sluice (RDB, replication, cluster, encodings...) are accepted and\n\
         listed in one warning at start.\n\n\
         Options (redis.conf names), with their defaults:\n",
    );
    for p in PARAMS {
        let def = (p.get)(&defaults);
        let def = if def.is_empty() {
            "\"\"".to_string()
        } else {
            def
        };
        let set = if p.mutable { "" } else { " (start only)" };
        out.push_str(&format!(
            "  --{} {}\n      {}{}\n",
            p.name, def, p.help, set
        ));
    }
    out.push_str(
        "\nExamples:\n  sluice\n  sluice --port 6380 --dir /var/lib/sluice --appendfsync always\n  \
         sluice /etc/redis/redis.conf --daemonize no\n",
    );
    out
}

/// `sluice --version`, in redis-server's format.
pub fn version_line() -> String {
    format!(
        "Sluice server v={} sha=00000000:0 malloc=mimalloc bits={} build=0",
        env!("CARGO_PKG_VERSION"),
        usize::BITS
    )
}

/// Redis's glob matching (`stringmatchlen`): `*`, `?`, `[...]` with ranges and `^`, `\` escapes.
pub fn glob_match(pattern: &[u8], text: &[u8], nocase: bool) -> bool {
    fn eq(a: u8, b: u8, nocase: bool) -> bool {
        if nocase {
            a.eq_ignore_ascii_case(&b)
        } else {
            a == b
        }
    }
    fn m(p: &[u8], t: &[u8], nocase: bool, depth: usize) -> bool {
        if depth > 1000 {
            return false;
        }
        let (mut pi, mut ti) = (0, 0);
        while pi < p.len() {
            match p[pi] {
                b'*' => {
                    while pi + 1 < p.len() && p[pi + 1] == b'*' {
                        pi += 1;
                    }
                    if pi + 1 == p.len() {
                        return true;
                    }
                    for start in ti..=t.len() {
                        if m(&p[pi + 1..], &t[start..], nocase, depth + 1) {
                            return true;
                        }
                    }
                    return false;
                }
                b'?' => {
                    if ti >= t.len() {
                        return false;
                    }
                    ti += 1;
                }
                b'[' => {
                    if ti >= t.len() {
                        return false;
                    }
                    pi += 1;
                    let not = pi < p.len() && p[pi] == b'^';
                    if not {
                        pi += 1;
                    }
                    let mut matched = false;
                    loop {
                        if pi >= p.len() {
                            pi -= 1;
                            break;
                        }
                        if p[pi] == b'\\' && pi + 2 < p.len() {
                            pi += 1;
                            matched |= eq(p[pi], t[ti], nocase);
                        } else if p[pi] == b']' {
                            break;
                        } else if pi + 2 < p.len() && p[pi + 1] == b'-' {
                            let (mut lo, mut hi) = (p[pi], p[pi + 2]);
                            if lo > hi {
                                std::mem::swap(&mut lo, &mut hi);
                            }
                            let c = if nocase {
                                t[ti].to_ascii_lowercase()
                            } else {
                                t[ti]
                            };
                            let (lo, hi) = if nocase {
                                (lo.to_ascii_lowercase(), hi.to_ascii_lowercase())
                            } else {
                                (lo, hi)
                            };
                            matched |= c >= lo && c <= hi;
                            pi += 2;
                        } else {
                            matched |= eq(p[pi], t[ti], nocase);
                        }
                        pi += 1;
                    }
                    if not {
                        matched = !matched;
                    }
                    if !matched {
                        return false;
                    }
                    ti += 1;
                }
                b'\\' if pi + 1 < p.len() => {
                    pi += 1;
                    if ti >= t.len() || !eq(p[pi], t[ti], nocase) {
                        return false;
                    }
                    ti += 1;
                }
                c => {
                    if ti >= t.len() || !eq(c, t[ti], nocase) {
                        return false;
                    }
                    ti += 1;
                }
            }
            pi += 1;
        }
        ti == t.len()
    }
    m(pattern, text, nocase, 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob_matches_like_redis() {
        assert!(glob_match(b"*", b"anything", false));
        assert!(glob_match(b"h?llo", b"hello", false));
        assert!(glob_match(b"h[ae]llo", b"hallo", false));
        assert!(!glob_match(b"h[^e]llo", b"hello", false));
        assert!(glob_match(b"h[a-b]llo", b"hbllo", false));
        assert!(!glob_match(
            b"*max-*-entries*",
            b"stream-node-max-entries",
            false
        ));
        assert!(glob_match(b"stream-*", b"stream-node-max-bytes", false));
        assert!(glob_match(b"SAVE", b"save", true));
        assert!(glob_match(b"a\\*b", b"a*b", false));
        assert!(!glob_match(b"a\\*b", b"axb", false));
    }

    #[test]
    fn args_and_file_apply_in_order() {
        let c = Config::from_args(&[
            "--port".into(),
            "7000".into(),
            "--appendfsync".into(),
            "always".into(),
        ])
        .expect("args");
        assert_eq!(c.port, 7000);
        assert_eq!(c.appendfsync, Fsync::Always);
        let mut c = Config::default();
        c.apply_file(
            "# comment\nport 7001\nbind 127.0.0.1 ::1\nrequirepass \"a b\"\n",
            0,
        )
        .expect("file");
        assert_eq!(c.port, 7001);
        assert_eq!(c.bind, vec!["127.0.0.1", "::1"]);
        assert_eq!(c.requirepass.as_deref(), Some("a b"));
        assert!(Config::from_args(&["--nope".into(), "1".into()]).is_err());
        assert_eq!(parse_memory("1gb"), Ok(1 << 30));
        assert_eq!(parse_memory("512mb"), Ok(512 << 20));
    }

    #[test]
    fn redis_directives_that_do_not_apply_are_listed_and_feature_requests_refused() {
        let mut c = Config::default();
        c.apply_file(
            "protected-mode yes\ndbfilename dump.rdb\nappendonly no\nsave 3600 1\ncluster-enabled no\n",
            0,
        )
        .expect("a stock-like file starts");
        let names: Vec<&str> = c.ignored.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "protected-mode",
                "dbfilename",
                "appendonly",
                "cluster-enabled"
            ]
        );
        assert!(c.appendonly);
        for bad in [
            "replicaof 10.0.0.1 6379",
            "cluster-enabled yes",
            "rename-command FLUSHALL \"\"",
            "loadmodule /x.so",
            "unixsocketperm 999",
            "nosuchdirective 1",
        ] {
            let e = Config::default().apply_file(bad, 0).expect_err(bad);
            assert!(e.0.starts_with("config file line 1: "), "{bad}: {}", e.0);
        }
        let e = Config::default()
            .apply_file("maxmemory-policy bogus", 0)
            .expect_err("bad policy");
        assert!(e.0.contains("volatile-lru, volatile-lfu"), "{}", e.0);
    }

    #[test]
    fn rewrite_keeps_the_file_and_updates_values() {
        let old = "# my server\nport 7001\nprotected-mode yes\nport 7002\nsave \"\"\ninclude /etc/x.conf\n";
        let c = Config {
            port: 7005,
            requirepass: Some("a b\"c".into()),
            maxmemory: 1 << 20,
            bind: vec!["127.0.0.1".into(), "::1".into()],
            ..Config::default()
        };
        let text = c.rewritten(old);
        assert_eq!(
            text,
            "# my server\nport 7005\nprotected-mode yes\nsave \"\"\ninclude /etc/x.conf\n\
             # Generated by CONFIG REWRITE\nbind 127.0.0.1 ::1\nrequirepass \"a b\\\"c\"\nmaxmemory 1048576\n"
        );
        // What is written reads back to the same values (the include line is dropped here
        // because the file does not exist).
        let mut back = Config::default();
        back.apply_file(&text.replace("include /etc/x.conf\n", ""), 0)
            .expect("rewritten file parses");
        assert_eq!(back.port, 7005);
        assert_eq!(back.requirepass.as_deref(), Some("a b\"c"));
        assert_eq!(back.maxmemory, 1 << 20);
        assert_eq!(back.bind, c.bind);
        // Rewriting again changes nothing.
        assert_eq!(c.rewritten(&text), text);
    }

    #[test]
    fn help_lists_every_parameter_with_its_default() {
        let u = usage();
        for p in PARAMS {
            assert!(u.contains(&format!("--{} ", p.name)), "{}", p.name);
            assert!(!p.help.is_empty(), "{} has no help", p.name);
        }
        assert!(u.contains("--port 6379\n"));
        assert!(version_line().starts_with("Sluice server v="));
    }
}
