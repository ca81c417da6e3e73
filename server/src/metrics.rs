//! The optional Prometheus endpoint (`metrics-port`, off by default).
//!
//! The engine owns every figure, so it renders the exposition text itself, in its cron
//! ([`Metrics::tick`]), and only when a scrape asked for it: the HTTP thread raises
//! [`Shared::wanted`], waits (up to [`FRESH_WAIT`]) for the engine to publish a new snapshot,
//! and serves the latest one. An idle endpoint costs the engine nothing. Rendering is bounded
//! per tick: a snapshot takes the server and command figures at its first tick, then SCANs
//! the keyspace a bounded amount of work per tick ([`WORK_PER_TICK`]: 50,000 keys that are
//! not streams, or 5,000 sample lines; a few ms), and is published at the tick that finishes
//! the scan. A small keyspace is done at the next tick (figures at most one tick, `1/hz` s,
//! old); a larger one takes more ticks, each stream's figures as of the tick that visited it
//! (200,000 keys of which 10,000 streams with a group and a consumer each: 29 ticks, about
//! 3 s at `hz 10`; steps of 3-12 ms on average, release build on 2 shared cores). In all, at
//! most [`MAX_KEYS_VISITED`] keys are looked at, [`MAX_STREAMS`] streams and
//! [`MAX_CONSUMERS`] consumer rows exported; what was left out is counted in
//! `sluice_metrics_streams_skipped` and `sluice_metrics_truncated`. A scrape that gets no new
//! snapshot in time is served the previous one, or 503 if there is none yet.
//!
//! The HTTP side is a small HTTP/1.0 server on threads of its own (std::net, blocking I/O):
//! one accept thread and at most [`MAX_CONNECTIONS`] connection threads; a request is at most
//! [`MAX_REQUEST_BYTES`] and must arrive within [`READ_TIMEOUT`]. `GET /metrics` answers the
//! text format (`text/plain; version=0.0.4`), other paths 404, other methods 405. Errors are
//! logged and the server goes on. Nothing here touches the engine's state.
//!
//! Metric names and labels are redis_exporter's (`redis_…`, `db="db0"`, `stream`, `group`,
//! `consumer`), so dashboards built for it work; Sluice's own figures are under `sluice_`.
//! The text format is written by hand (no `prometheus-client`): the snapshot is rebuilt from
//! the engine's state on each render, so a registry of long-lived metric objects would only
//! be filled and encoded once and thrown away, and the format for gauges and counters is a
//! few lines; and `prometheus-client` writes label values without escaping them
//! (prometheus/client_rust#151, open), while stream, group and consumer names are binary-safe
//! and must be escaped ([`escape_label`]) or one quote in a name breaks the whole scrape.

use std::fmt::Write as _;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use sluice_storage::keydir::Value;
use sluice_storage::stream::group::ENTRIES_READ_UNKNOWN;
use sluice_storage::Store;

use crate::engine::Server;

/// Most keys one render looks at (over every database).
pub const MAX_KEYS_VISITED: usize = 200_000;
/// Most streams one snapshot exports.
pub const MAX_STREAMS: usize = 10_000;
/// Most consumer rows (`redis_stream_group_consumer_*`) one snapshot exports.
pub const MAX_CONSUMERS: usize = 50_000;
/// Concurrent HTTP connections; more are answered 503 and closed.
pub const MAX_CONNECTIONS: usize = 4;
/// Largest request (request line and headers).
pub const MAX_REQUEST_BYTES: usize = 8 * 1024;
/// A request must be complete within this time.
pub const READ_TIMEOUT: Duration = Duration::from_secs(2);
/// Writing the response must progress within this time...
const WRITE_TIMEOUT: Duration = Duration::from_secs(5);
/// ...and end within about this one (checked every 64 KiB).
const WRITE_DEADLINE: Duration = Duration::from_secs(20);
/// How long a scrape waits for the engine's next snapshot before serving the latest one.
pub const FRESH_WAIT: Duration = Duration::from_secs(5);
/// Work one cron tick spends on a snapshot: a key that is not a stream costs 1, a sample line
/// written [`LINE_WORK`]. Measured (release build, 2 shared cores): 3-12 ms a tick on
/// average, the longest 9-42 ms.
pub const WORK_PER_TICK: usize = 50_000;
/// The work units of one sample line (formatting a number and escaped labels).
const LINE_WORK: usize = 10;
/// Keys per SCAN step of a snapshot.
const SCAN_CHUNK: usize = 500;

/// A rendered snapshot: the text format in parts, written one after the other (the stream
/// families' buffers are moved in, not copied into one string by the engine).
pub type Snapshot = Vec<String>;

/// What the engine and the HTTP thread share.
#[derive(Default)]
pub struct Shared {
    /// A scrape is waiting for a fresh snapshot.
    wanted: AtomicBool,
    /// (generation, text) of the latest snapshot.
    latest: Mutex<(u64, Arc<Snapshot>)>,
    published: Condvar,
}

impl Shared {
    fn publish(&self, text: Snapshot) {
        let mut l = self.latest.lock().unwrap_or_else(|e| e.into_inner());
        l.0 += 1;
        l.1 = Arc::new(text);
        self.published.notify_all();
    }

    /// Asks the engine for a snapshot and waits up to `wait` for it; the latest one.
    /// `None` if no snapshot was ever published.
    fn fresh(&self, wait: Duration) -> Option<Arc<Snapshot>> {
        let l = self.latest.lock().unwrap_or_else(|e| e.into_inner());
        let generation = l.0;
        self.wanted.store(true, Ordering::Release);
        let (l, _) = self
            .published
            .wait_timeout_while(l, wait, |l| l.0 == generation)
            .unwrap_or_else(|e| e.into_inner());
        (l.0 > 0).then(|| l.1.clone())
    }
}

/// The engine's side: renders a snapshot in cron when a scrape wants one.
pub struct Metrics {
    shared: Arc<Shared>,
    /// The snapshot being rendered, if any.
    job: Option<Job>,
}

impl Metrics {
    /// Called from the engine's cron: starts a snapshot if a scrape is waiting for one, and
    /// renders a bounded step of the current one ([`WORK_PER_TICK`]); publishes it when done.
    pub fn tick(&mut self, srv: &Server, store: &Store, now_ms: u64) {
        if self.job.is_none() {
            if !self.shared.wanted.swap(false, Ordering::AcqRel) {
                return;
            }
            self.job = Some(Job::start(srv, store));
        }
        let Some(job) = self.job.as_mut() else {
            return;
        };
        let started = Instant::now();
        let done = job.step(store, now_ms, WORK_PER_TICK);
        job.ticks += 1;
        job.longest = job.longest.max(started.elapsed());
        job.total += started.elapsed();
        if done {
            if let Some(job) = self.job.take() {
                let (ticks, longest, total) = (job.ticks, job.longest, job.total);
                let text = job.finish(srv, store);
                tracing::debug!(
                    ticks,
                    longest_step_us = longest.as_micros() as u64,
                    total_us = total.as_micros() as u64,
                    finish_us = started.elapsed().as_micros() as u64,
                    bytes = text.iter().map(String::len).sum::<usize>(),
                    "metrics snapshot rendered"
                );
                self.shared.publish(text);
            }
        }
    }
}

/// Binds `addr:port` and starts the HTTP thread; the engine's handle.
pub fn start(addr: &str, port: u16) -> Result<Metrics, String> {
    let ip: std::net::IpAddr = match addr {
        "localhost" => std::net::Ipv4Addr::LOCALHOST.into(),
        "*" => std::net::Ipv4Addr::UNSPECIFIED.into(),
        "::*" => std::net::Ipv6Addr::UNSPECIFIED.into(),
        other => other
            .parse()
            .map_err(|_| format!("bad metrics-bind address {other:?}"))?,
    };
    let sa = SocketAddr::new(ip, port);
    let listener =
        TcpListener::bind(sa).map_err(|e| format!("can't listen for metrics on {sa}: {e}"))?;
    tracing::info!(addr = %sa, "metrics endpoint listening (GET /metrics)");
    let shared = Arc::new(Shared::default());
    let s = shared.clone();
    std::thread::Builder::new()
        .name("sluice-metrics".into())
        .spawn(move || accept_loop(listener, s))
        .map_err(|e| format!("can't start the metrics thread: {e}"))?;
    Ok(Metrics { shared, job: None })
}

fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    let active = Arc::new(AtomicUsize::new(0));
    loop {
        let (mut stream, peer) = match listener.accept() {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "metrics endpoint: accept failed");
                // EMFILE and the like: do not spin.
                std::thread::sleep(Duration::from_millis(100));
                continue;
            }
        };
        if active.fetch_add(1, Ordering::AcqRel) >= MAX_CONNECTIONS {
            active.fetch_sub(1, Ordering::AcqRel);
            let _ = stream.set_write_timeout(Some(Duration::from_millis(100)));
            let _ = stream.write_all(&response(
                "503 Service Unavailable",
                "text/plain",
                b"too many connections\n",
            ));
            // Take what request bytes are already here (without waiting), so closing does not
            // reset the connection before the client reads the answer.
            if stream.set_nonblocking(true).is_ok() {
                let mut sink = [0u8; 1024];
                let _ = stream.read(&mut sink);
            }
            let _ = stream.shutdown(std::net::Shutdown::Write);
            tracing::warn!(%peer, "metrics endpoint: too many connections, refused one");
            continue;
        }
        let (shared, slot) = (shared.clone(), active.clone());
        let spawned = std::thread::Builder::new()
            .name("sluice-metrics-conn".into())
            .spawn(move || {
                if let Err(e) = serve(stream, &shared) {
                    tracing::info!(%peer, error = %e, "metrics endpoint: connection ended with an error");
                }
                slot.fetch_sub(1, Ordering::AcqRel);
            });
        if let Err(e) = spawned {
            tracing::warn!(error = %e, "metrics endpoint: can't start a connection thread");
            active.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

/// Reads one request (bounded in size and time) and answers it.
fn serve(mut stream: TcpStream, shared: &Shared) -> std::io::Result<()> {
    stream.set_write_timeout(Some(WRITE_TIMEOUT))?;
    let deadline = Instant::now() + READ_TIMEOUT;
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    let head_end = loop {
        if let Some(p) = find(&buf, b"\r\n\r\n").or_else(|| find(&buf, b"\n\n")) {
            break p;
        }
        if buf.len() > MAX_REQUEST_BYTES {
            tracing::info!(
                bytes = buf.len(),
                "metrics endpoint: request too large, refused"
            );
            stream.write_all(&response(
                "431 Request Header Fields Too Large",
                "text/plain",
                b"request too large\n",
            ))?;
            return Ok(());
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "request not complete in time",
            ));
        }
        stream.set_read_timeout(Some(left))?;
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            return Ok(());
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let request = String::from_utf8_lossy(&buf[..head_end]);
    let line = request.lines().next().unwrap_or("");
    let mut parts = line.split_whitespace();
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let path = target.split('?').next().unwrap_or("");
    let mut body = None;
    let reply = match (method, path) {
        ("GET" | "HEAD", "/metrics") => {
            let Some(text) = shared.fresh(FRESH_WAIT) else {
                stream.write_all(&response(
                    "503 Service Unavailable",
                    "text/plain",
                    b"no snapshot yet: the server is busy, try again\n",
                ))?;
                return Ok(());
            };
            let len: usize = text.iter().map(String::len).sum();
            if method == "GET" {
                body = Some(text);
            }
            head("200 OK", "text/plain; version=0.0.4; charset=utf-8", len)
        }
        ("GET" | "HEAD", _) => response("404 Not Found", "text/plain", b"not found\n"),
        _ => response(
            "405 Method Not Allowed",
            "text/plain",
            b"method not allowed\n",
        ),
    };
    // A reader that takes a byte now and then cannot hold a connection slot for long.
    let deadline = Instant::now() + WRITE_DEADLINE;
    let parts =
        std::iter::once(&reply[..]).chain(body.iter().flat_map(|b| b.iter().map(|p| p.as_bytes())));
    for part in parts.flat_map(|p| p.chunks(64 * 1024)) {
        if Instant::now() >= deadline {
            return Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "response not taken in time",
            ));
        }
        stream.write_all(part)?;
    }
    stream.flush()
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn head(status: &str, content_type: &str, len: usize) -> Vec<u8> {
    format!(
        "HTTP/1.0 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {len}\r\nConnection: close\r\n\r\n"
    )
    .into_bytes()
}

fn response(status: &str, content_type: &str, body: &[u8]) -> Vec<u8> {
    let mut r = head(status, content_type, body.len());
    r.extend_from_slice(body);
    r
}

/// A label value in the text format: backslash, double quote and newline escaped; bytes
/// that are not UTF-8 replaced by U+FFFD.
pub fn escape_label(v: &[u8]) -> String {
    let s = String::from_utf8_lossy(v);
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// The text format, written family by family.
struct Text {
    out: String,
}

impl Text {
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = write!(self.out, "# HELP {name} {help}\n# TYPE {name} {kind}\n");
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        self.out.push_str(name);
        if !labels.is_empty() {
            self.out.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.out.push(',');
                }
                let _ = write!(self.out, "{k}=\"{v}\"");
            }
            self.out.push('}');
        }
        let _ = writeln!(self.out, " {}", number(value));
    }

    /// A family of one unlabelled sample.
    fn one(&mut self, name: &str, kind: &str, help: &str, value: f64) {
        self.family(name, kind, help);
        self.sample(name, &[], value);
    }
}

/// Integers without a fraction; others as Rust prints them (Prometheus parses both).
fn number(v: f64) -> String {
    if v.is_finite() && v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.into()
    } else {
        format!("{v}")
    }
}

/// The milliseconds part of a stream ID, as redis_exporter reports IDs.
fn id_ms(id: sluice_storage::stream::id::StreamId) -> f64 {
    id.ms as f64
}

/// The server, command and keyspace families (taken when a snapshot starts).
fn render_header(srv: &Server, store: &Store) -> Text {
    let mut t = Text {
        out: String::with_capacity(16 * 1024),
    };
    let rss = crate::commands::info::rss_bytes() as f64;
    t.one(
        "redis_up",
        "gauge",
        "Information about the Redis instance",
        1.0,
    );
    t.one(
        "redis_uptime_in_seconds",
        "gauge",
        "uptime_in_seconds metric",
        srv.started.elapsed().as_secs() as f64,
    );
    t.one(
        "redis_connected_clients",
        "gauge",
        "connected_clients metric",
        srv.clients.len() as f64,
    );
    t.one(
        "redis_blocked_clients",
        "gauge",
        "blocked_clients metric",
        srv.clients.values().filter(|c| c.blocked.is_some()).count() as f64,
    );
    t.one(
        "redis_max_clients",
        "gauge",
        "maxclients metric",
        srv.config.maxclients as f64,
    );
    t.one(
        "redis_memory_used_bytes",
        "gauge",
        "used_memory metric (the allocator's live bytes, as INFO)",
        crate::alloc::allocated().map_or(rss, |n| n as f64),
    );
    t.one(
        "redis_memory_used_rss_bytes",
        "gauge",
        "used_memory_rss metric",
        rss,
    );
    t.one(
        "redis_memory_max_bytes",
        "gauge",
        "maxmemory metric",
        srv.config.maxmemory as f64,
    );
    use std::sync::atomic::Ordering::Relaxed;
    for (name, help, v) in [
        (
            "redis_commands_processed_total",
            "total_commands_processed metric",
            srv.stats.commands,
        ),
        (
            "redis_connections_received_total",
            "total_connections_received metric",
            srv.stats.connections,
        ),
        (
            "redis_rejected_connections_total",
            "rejected_connections metric",
            srv.net.rejected.load(Relaxed),
        ),
        (
            "redis_net_input_bytes_total",
            "total_net_input_bytes metric",
            srv.net.bytes_in.load(Relaxed),
        ),
        (
            "redis_net_output_bytes_total",
            "total_net_output_bytes metric",
            srv.net.bytes_out.load(Relaxed),
        ),
        (
            "redis_keyspace_hits_total",
            "keyspace_hits metric",
            srv.stats.keyspace_hits,
        ),
        (
            "redis_keyspace_misses_total",
            "keyspace_misses metric",
            srv.stats.keyspace_misses,
        ),
        (
            "redis_expired_keys_total",
            "expired_keys metric",
            srv.stats.expired_keys,
        ),
        (
            "redis_total_error_replies",
            "total_error_replies metric",
            srv.stats.error_replies,
        ),
    ] {
        t.one(name, "counter", help, v as f64);
    }
    // Commandstats, sorted by name (stable output).
    let mut rows: Vec<_> = srv.stats.per_command.values().collect();
    rows.sort_by_key(|r| r.name);
    type Field = fn(&crate::engine::CommandStats) -> f64;
    let families: [(&str, &str, Field); 4] = [
        (
            "redis_commands_total",
            "Total number of calls per command",
            |r| r.calls as f64,
        ),
        (
            "redis_commands_duration_seconds_total",
            "Total amount of time in seconds spent per command",
            |r| r.usec as f64 / 1e6,
        ),
        (
            "redis_commands_rejected_calls_total",
            "Total number of errors prior command execution per command",
            |r| r.rejected as f64,
        ),
        (
            "redis_commands_failed_calls_total",
            "Total number of errors within command execution per command",
            |r| r.failed as f64,
        ),
    ];
    for (name, help, f) in families {
        t.family(name, "counter", help);
        for r in &rows {
            t.sample(name, &[("cmd", r.name)], f(r));
        }
    }
    t.family(
        "redis_errors_total",
        "counter",
        "Total number of errors per error type",
    );
    for (prefix, count) in &srv.stats.errors {
        let e = escape_label(prefix.as_bytes());
        t.sample("redis_errors_total", &[("err", &e)], *count as f64);
    }
    // Keyspace.
    t.family("redis_db_keys", "gauge", "Total number of keys by DB");
    for db in 0..store.databases() {
        let d = store.dir(db);
        if !d.is_empty() {
            t.sample(
                "redis_db_keys",
                &[("db", &format!("db{db}"))],
                d.len() as f64,
            );
        }
    }
    t.family(
        "redis_db_keys_expiring",
        "gauge",
        "Total number of expiring keys by DB",
    );
    for db in 0..store.databases() {
        let d = store.dir(db);
        if !d.is_empty() {
            t.sample(
                "redis_db_keys_expiring",
                &[("db", &format!("db{db}"))],
                d.expires_len() as f64,
            );
        }
    }
    t
}

/// The stream, group and consumer families: (name, type, help). Their samples are written as
/// the scan visits streams, one buffer per family (families must not interleave).
const STREAM_FAMILIES: [(&str, &str, &str); 13] = [
    (
        "redis_stream_length",
        "gauge",
        "The number of elements of the stream",
    ),
    ("redis_stream_groups", "gauge", "Groups count of stream"),
    (
        "redis_stream_last_generated_id",
        "gauge",
        "The epoch milliseconds of the last generated ID",
    ),
    (
        "redis_stream_first_entry_id",
        "gauge",
        "The epoch milliseconds of the first entry's ID",
    ),
    (
        "redis_stream_max_deleted_entry_id",
        "gauge",
        "The epoch milliseconds of the greatest deleted ID",
    ),
    (
        "sluice_stream_entries_added_total",
        "counter",
        "Entries ever added to the stream (XINFO STREAM entries-added)",
    ),
    (
        "redis_stream_group_consumers",
        "gauge",
        "Consumers count of stream group",
    ),
    (
        "redis_stream_group_messages_pending",
        "gauge",
        "Pending number of messages in that stream group",
    ),
    (
        "redis_stream_group_last_delivered_id",
        "gauge",
        "The epoch milliseconds of the last delivered ID",
    ),
    (
        "redis_stream_group_entries_read",
        "gauge",
        "Logical read counter of the group (omitted when unknown)",
    ),
    (
        "redis_stream_group_lag",
        "gauge",
        "Entries not yet delivered to the group (omitted when unknown)",
    ),
    (
        "redis_stream_group_consumer_messages_pending",
        "gauge",
        "Pending number of messages for this specific consumer",
    ),
    (
        "redis_stream_group_consumer_idle_seconds",
        "gauge",
        "Consumer idle time in seconds",
    ),
];

/// What a snapshot has gathered so far from its scan of the keyspace.
struct Acc {
    /// The samples of each of [`STREAM_FAMILIES`].
    fams: Vec<Text>,
    streams: usize,
    skipped: u64,
    consumers: usize,
    truncated: bool,
}

impl Default for Acc {
    fn default() -> Self {
        Acc {
            fams: (0..STREAM_FAMILIES.len())
                .map(|_| Text { out: String::new() })
                .collect(),
            streams: 0,
            skipped: 0,
            consumers: 0,
            truncated: false,
        }
    }
}

impl Acc {
    fn put(&mut self, fam: usize, labels: &[(&str, &str)], value: f64) {
        self.fams[fam].sample(STREAM_FAMILIES[fam].0, labels, value);
    }

    /// One key of the scan; the work it took ([`WORK_PER_TICK`]'s units: 1 for a key that
    /// is not a stream, [`LINE_WORK`] per sample line written).
    fn visit(&mut self, db: &str, key: &[u8], e: &sluice_storage::Entry, now_ms: u64) -> usize {
        let Value::Stream(m) = &e.value else {
            return 1;
        };
        if e.expire_at.is_some_and(|at| at <= now_ms) {
            return 1;
        }
        if self.streams >= MAX_STREAMS {
            self.skipped += 1;
            self.truncated = true;
            return 1;
        }
        self.streams += 1;
        let name = escape_label(key);
        let sl = [("db", db), ("stream", name.as_str())];
        self.put(0, &sl, m.len() as f64);
        self.put(1, &sl, m.groups.len() as f64);
        self.put(2, &sl, id_ms(m.last_id));
        self.put(3, &sl, id_ms(m.first_id));
        self.put(4, &sl, id_ms(m.max_deleted));
        self.put(5, &sl, m.entries_added as f64);
        let mut work = 6 * LINE_WORK;
        for (gname, g) in m.groups.iter() {
            work += 5 * LINE_WORK;
            let group = escape_label(gname);
            let gl = [
                ("db", db),
                ("stream", name.as_str()),
                ("group", group.as_str()),
            ];
            self.put(6, &gl, g.consumers().len() as f64);
            self.put(7, &gl, g.pel().len() as f64);
            self.put(8, &gl, id_ms(g.last_id()));
            if g.entries_read() != ENTRIES_READ_UNKNOWN {
                self.put(9, &gl, g.entries_read() as f64);
            }
            if let Some(lag) = crate::commands::groups::lag(m, g) {
                self.put(10, &gl, lag as f64);
            }
            for c in g.consumers().values() {
                if self.consumers >= MAX_CONSUMERS {
                    self.truncated = true;
                    break;
                }
                self.consumers += 1;
                work += 2 * LINE_WORK;
                let consumer = escape_label(c.name());
                let cl = [
                    ("db", db),
                    ("stream", name.as_str()),
                    ("group", group.as_str()),
                    ("consumer", consumer.as_str()),
                ];
                self.put(11, &cl, c.pel().len() as f64);
                self.put(12, &cl, now_ms.saturating_sub(c.seen_time()) as f64 / 1e3);
            }
        }
        work
    }
}

/// A snapshot being rendered, a bounded step per cron tick.
struct Job {
    text: Text,
    acc: Acc,
    /// The database being scanned and the SCAN cursor in it.
    db: usize,
    cursor: u64,
    visited: usize,
    /// Ticks spent so far, the longest step and all steps (the debug log's figures).
    ticks: u32,
    longest: Duration,
    total: Duration,
}

impl Job {
    fn start(srv: &Server, store: &Store) -> Job {
        Job {
            text: render_header(srv, store),
            acc: Acc::default(),
            db: 0,
            cursor: 0,
            visited: 0,
            ticks: 0,
            longest: Duration::ZERO,
            total: Duration::ZERO,
        }
    }

    /// Scans on for about `budget` units of work; true once every database is done.
    fn step(&mut self, store: &Store, now_ms: u64, budget: usize) -> bool {
        let mut done = 0;
        while done < budget && self.db < store.databases() {
            if self.visited >= MAX_KEYS_VISITED {
                // Keys left unvisited: say so, and stop.
                // (`self.db` is the one being scanned, or next and not started.)
                self.acc.truncated |=
                    (self.db..store.databases()).any(|db| !store.dir(db).is_empty());
                self.db = store.databases();
                break;
            }
            let dbl = format!("db{}", self.db);
            let count = SCAN_CHUNK.min(MAX_KEYS_VISITED - self.visited);
            let (acc, mut keys, mut work) = (&mut self.acc, 0, 0);
            let next = store.dir(self.db).scan(self.cursor, count, |k, e| {
                keys += 1;
                work += acc.visit(&dbl, k, e, now_ms);
            });
            self.visited += keys;
            done += work.max(1);
            if next == 0 {
                self.db += 1;
                self.cursor = 0;
            } else {
                self.cursor = next;
            }
        }
        self.db >= store.databases()
    }

    /// The finished snapshot: the header, each stream family's HELP/TYPE and its buffer
    /// (moved, not copied), Sluice's own families.
    fn finish(self, srv: &Server, store: &Store) -> Snapshot {
        let Job { text, mut acc, .. } = self;
        let mut parts = vec![text.out];
        for ((name, kind, help), samples) in STREAM_FAMILIES.iter().zip(acc.fams.drain(..)) {
            let mut h = Text { out: String::new() };
            h.family(name, kind, help);
            parts.push(h.out);
            parts.push(samples.out);
        }
        let mut own = Text { out: String::new() };
        render_own(&mut own, srv, store, &acc);
        parts.push(own.out);
        parts
    }
}

/// Sluice's own families.
fn render_own(t: &mut Text, srv: &Server, store: &Store, acc: &Acc) {
    let (skipped, truncated) = (acc.skipped, acc.truncated);
    t.one(
        "sluice_disk_bytes",
        "gauge",
        "Bytes the store occupies on disk (tables and journal)",
        store.disk_space() as f64,
    );
    t.one(
        "sluice_journal_persists_total",
        "counter",
        "Group commits written to the journal",
        srv.stats.persists as f64,
    );
    t.one(
        "sluice_dead_streams",
        "gauge",
        "Deleted streams whose entries are still being reclaimed",
        store.dead_streams() as f64,
    );
    t.one(
        "sluice_job_log_records",
        "gauge",
        "Records of the job log not yet folded into the job keyspaces",
        store.jobs_ref().unfolded().0 as f64,
    );
    t.one(
        "sluice_job_staged_records",
        "gauge",
        "Job store records staged in memory, not yet folded into the job keyspaces",
        store.jobs_ref().staged_records() as f64,
    );
    t.one(
        "sluice_writes_refused",
        "gauge",
        "1 while writes are refused after a disk fault",
        f64::from(u8::from(srv.disk_fault.is_some())),
    );
    t.one(
        "sluice_jobs_registered",
        "gauge",
        "Jobs in the job queue (Disque API)",
        store.jobs_ref().registered() as f64,
    );
    t.one(
        "sluice_job_queues",
        "gauge",
        "Job queues (Disque API)",
        store.jobs_ref().queue_count() as f64,
    );
    t.one(
        "sluice_metrics_streams_skipped",
        "gauge",
        "Streams left out of this snapshot (over the cap of streams exported)",
        skipped as f64,
    );
    t.one(
        "sluice_metrics_truncated",
        "gauge",
        "1 if this snapshot left out keys, streams or consumers (caps on the work per snapshot)",
        f64::from(u8::from(truncated)),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape_label(b"plain"), "plain");
        assert_eq!(escape_label(b"a\\b"), "a\\\\b");
        assert_eq!(escape_label(b"say \"hi\""), "say \\\"hi\\\"");
        assert_eq!(escape_label(b"two\nlines"), "two\\nlines");
        assert_eq!(escape_label(b"bad\xffbyte"), "bad\u{fffd}byte");
        assert_eq!(escape_label("naïve".as_bytes()), "naïve");
        assert_eq!(escape_label(b"tab\tcr\r"), "tab\tcr\r");
    }

    #[test]
    fn numbers_and_samples() {
        let mut t = Text { out: String::new() };
        t.family("x", "gauge", "help");
        t.sample("x", &[("a", "1"), ("b", "q\\\"")], 3.0);
        t.sample("x", &[], 0.25);
        assert_eq!(
            t.out,
            "# HELP x help\n# TYPE x gauge\nx{a=\"1\",b=\"q\\\"\"} 3\nx 0.25\n"
        );
        assert_eq!(number(f64::NAN), "NaN");
        assert_eq!(number(-2.0), "-2");
    }
}
