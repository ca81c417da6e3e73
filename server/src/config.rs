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
    /// The Disque port (0 = none; Disque's is 7711): on it a bare `HELLO` is Disque's. Every
    /// command works on both ports; equal to `port`, the main port is the Disque port.
    pub disque_port: u16,
    pub bind: Vec<String>,
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
    /// `client-output-buffer-limit`: (hard, soft bytes, soft seconds) for the classes normal,
    /// replica (`slave`) and pubsub, as Redis. Sluice enforces the normal class (it has no
    /// replicas or pub/sub clients yet).
    pub client_output_buffer_limit: [OutputLimit; 3],
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
            disque_port: 0,
            bind: vec!["127.0.0.1".into()],
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
            timeout: 0,
            tcp_keepalive: 300,
            maxmemory: 0,
            maxmemory_policy: "noeviction".into(),
            hz: 10,
            cache_size: 64 << 20,
            tcp_backlog: 511,
            io_threads: 1,
            min_free_disk: 64 << 20,
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
    ($name:literal, $mutable:expr, |$c:ident| $get:expr, |$cs:ident, $v:ident| $set:expr) => {
        Param {
            name: $name,
            mutable: $mutable,
            get: |$c: &Config| $get,
            set: |$cs: &mut Config, $v: &str| $set,
        }
    };
}

/// Every parameter, in the order `CONFIG GET *` lists them.
pub static PARAMS: &[Param] = &[
    param!("port", false, |c| c.port.to_string(), |c, v| {
        c.port = uint(v, 0, 65535)? as u16;
        Ok(())
    }),
    param!(
        "disque-port",
        false,
        |c| c.disque_port.to_string(),
        |c, v| {
            c.disque_port = uint(v, 0, 65535)? as u16;
            Ok(())
        }
    ),
    param!("bind", false, |c| c.bind.join(" "), |c, v| {
        c.bind = v.split_whitespace().map(str::to_string).collect();
        if c.bind.is_empty() {
            return Err("Too many bind addresses specified.".into());
        }
        Ok(())
    }),
    param!(
        "dir",
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
        "requirepass",
        true,
        |c| c.requirepass.clone().unwrap_or_default(),
        |c, v| {
            c.requirepass = (!v.is_empty()).then(|| v.to_string());
            Ok(())
        }
    ),
    param!(
        "appendfsync",
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
        "appendonly",
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
    param!("save", true, |c| c.save.clone(), |c, v| {
        let parts: Vec<&str> = v.split_whitespace().collect();
        if !parts.len().is_multiple_of(2) || parts.iter().any(|p| p.parse::<u64>().is_err()) {
            return Err("Invalid save parameters".into());
        }
        c.save = parts.join(" ");
        Ok(())
    }),
    param!("maxclients", true, |c| c.maxclients.to_string(), |c, v| {
        c.maxclients = uint(v, 1, u32::MAX as u64)?;
        Ok(())
    }),
    param!("databases", false, |c| c.databases.to_string(), |c, v| {
        c.databases = uint(v, 1, 256)?;
        Ok(())
    }),
    param!("loglevel", true, |c| c.loglevel.clone(), |c, v| {
        let l = v.to_ascii_lowercase();
        if !["debug", "verbose", "notice", "warning", "nothing"].contains(&l.as_str()) {
            return Err("argument(s) must be one of the following: debug, verbose, notice, warning, nothing".into());
        }
        c.loglevel = l;
        Ok(())
    }),
    param!(
        "proto-max-bulk-len",
        true,
        |c| c.proto_max_bulk_len.to_string(),
        |c, v| {
            c.proto_max_bulk_len = memory_in(v, 1024 * 1024, i64::MAX as u64)?;
            Ok(())
        }
    ),
    param!(
        "client-query-buffer-limit",
        true,
        |c| c.client_query_buffer_limit.to_string(),
        |c, v| {
            c.client_query_buffer_limit = memory_in(v, 1024 * 1024, i64::MAX as u64)?;
            Ok(())
        }
    ),
    param!(
        "stream-node-max-entries",
        true,
        |c| c.stream_node_max_entries.to_string(),
        |c, v| {
            c.stream_node_max_entries = uint(v, 0, i64::MAX as u64)?;
            Ok(())
        }
    ),
    param!(
        "stream-node-max-bytes",
        true,
        |c| c.stream_node_max_bytes.to_string(),
        |c, v| {
            c.stream_node_max_bytes = memory_in(v, 0, i64::MAX as u64)?;
            Ok(())
        }
    ),
    param!("timeout", true, |c| c.timeout.to_string(), |c, v| {
        c.timeout = uint(v, 0, i32::MAX as u64)?;
        Ok(())
    }),
    param!(
        "tcp-keepalive",
        true,
        |c| c.tcp_keepalive.to_string(),
        |c, v| {
            c.tcp_keepalive = uint(v, 0, i32::MAX as u64)?;
            Ok(())
        }
    ),
    param!("maxmemory", true, |c| c.maxmemory.to_string(), |c, v| {
        c.maxmemory = parse_memory(v)?;
        Ok(())
    }),
    param!(
        "maxmemory-policy",
        true,
        |c| c.maxmemory_policy.clone(),
        |c, v| {
            c.maxmemory_policy = v.to_ascii_lowercase();
            Ok(())
        }
    ),
    param!(
        "busy-reply-threshold",
        true,
        |c| c.busy_reply_threshold.to_string(),
        |c, v| {
            c.busy_reply_threshold = uint(v, 0, i64::MAX as u64)?;
            Ok(())
        }
    ),
    param!(
        "lua-time-limit",
        true,
        |c| c.busy_reply_threshold.to_string(),
        |c, v| {
            c.busy_reply_threshold = uint(v, 0, i64::MAX as u64)?;
            Ok(())
        }
    ),
    param!(
        "lua-memory-limit",
        true,
        |c| c.lua_memory_limit.to_string(),
        |c, v| {
            c.lua_memory_limit = parse_memory(v)?;
            Ok(())
        }
    ),
    param!(
        "lua-script-max-size",
        true,
        |c| c.lua_script_max_size.to_string(),
        |c, v| {
            c.lua_script_max_size = memory_in(v, 1024, i64::MAX as u64)?;
            Ok(())
        }
    ),
    param!("hz", true, |c| c.hz.to_string(), |c, v| {
        c.hz = uint(v, 1, 500)?;
        Ok(())
    }),
    param!(
        "tcp-backlog",
        false,
        |c| c.tcp_backlog.to_string(),
        |c, v| {
            c.tcp_backlog = uint(v, 0, i32::MAX as u64)? as u32;
            Ok(())
        }
    ),
    param!("io-threads", false, |c| c.io_threads.to_string(), |c, v| {
        c.io_threads = uint(v, 1, 128)? as u32;
        Ok(())
    }),
    param!("cache-size", false, |c| c.cache_size.to_string(), |c, v| {
        c.cache_size = parse_memory(v)?;
        Ok(())
    }),
    param!(
        "min-free-disk",
        true,
        |c| c.min_free_disk.to_string(),
        |c, v| {
            c.min_free_disk = parse_memory(v)?;
            Ok(())
        }
    ),
    param!(
        "client-output-buffer-limit",
        true,
        |c| output_limits_text(&c.client_output_buffer_limit),
        |c, v| set_output_limits(&mut c.client_output_buffer_limit, v)
    ),
];

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
                c.apply_file(&text)?;
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
            if name == "help" || name == "version" {
                return Err(ConfigError(usage()));
            }
            c.apply(name, &values)?;
        }
        Ok(c)
    }

    /// Applies a config file in redis.conf syntax.
    pub fn apply_file(&mut self, text: &str) -> Result<(), ConfigError> {
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
                self.apply(name, values)
                    .map_err(|e| ConfigError(format!("config file line {}: {}", n + 1, e.0)))?;
            }
        }
        Ok(())
    }
}

pub fn usage() -> String {
    let names: Vec<&str> = PARAMS.iter().map(|p| p.name).collect();
    format!(
        "Usage: sluice [/path/to/sluice.conf] [--option value ...]\n\
         Options (redis.conf names): {}\n\
         Example: sluice --port 6380 --dir ./data --appendfsync always",
        names.join(", ")
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
        c.apply_file("# comment\nport 7001\nbind 127.0.0.1 ::1\nrequirepass \"a b\"\n")
            .expect("file");
        assert_eq!(c.port, 7001);
        assert_eq!(c.bind, vec!["127.0.0.1", "::1"]);
        assert_eq!(c.requirepass.as_deref(), Some("a b"));
        assert!(Config::from_args(&["--nope".into(), "1".into()]).is_err());
        assert_eq!(parse_memory("1gb"), Ok(1 << 30));
        assert_eq!(parse_memory("512mb"), Ok(512 << 20));
    }
}
