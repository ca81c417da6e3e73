//! The fairness phase's clients: whether one client can hold up the others.
//!
//! 1. [`xrange_pipeline`]: a greedy client pipelines `XRANGE key - +` on a stream whose reply is
//!    about 5.8 MB, reads nothing for a while, then reads every reply; meanwhile a prober sends
//!    one PING every 10 ms (one in flight) and times each, and a sampler follows the server's
//!    RSS. The greedy connection is closed when the RSS passes a limit (Redis builds every reply
//!    of the pipeline in memory).
//! 2. [`blocked_readers`]: many connections blocked in `XREADGROUP ... BLOCK 0` on one stream
//!    and group, each taking one entry when woken and blocking again, while one producer sends
//!    unpipelined XADDs as fast as it can.
//!
//! 3. [`big_del`]: a stream of many entries, appended unpipelined by 50 connections (as
//!    `redis-benchmark -P 1` does), is deleted while a prober sends one PING every millisecond
//!    (one in flight) for the next few seconds: what reclaiming it costs the other clients.
//!    Redis frees a stream inside DEL; Sluice answers DEL at once and reclaims in the
//!    background, so the window covers both.
//!
//! The prober, the sampler and the producer run on threads of their own, so what they time is
//! not delayed by the harness's other tasks (the greedy client's copying of gigabytes, the
//! thousands of readers).

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{oneshot, Notify, Semaphore};
use tokio::task::JoinSet;

use crate::loadgen::{new_hist, LgError, Stats};
use crate::resp::{self, Conn, Value};
use crate::server;

/// Runs `f` on a new thread with a current-thread runtime; the receiver gets its result.
fn on_own_thread<F, Fut, T>(name: &str, f: F) -> oneshot::Receiver<Result<T, LgError>>
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = Result<T, LgError>>,
    T: Send + 'static,
{
    let (tx, rx) = oneshot::channel();
    let spawned = std::thread::Builder::new()
        .name(name.to_string())
        .spawn(move || {
            let r = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt.block_on(f()),
                Err(e) => Err(LgError::Other(format!("starting a runtime: {e}"))),
            };
            let _ = tx.send(r);
        });
    if let Err(e) = spawned {
        // The sender was moved into the closure and dropped with it: the receiver sees a
        // closed channel, reported by `joined`.
        eprintln!("sluice-bench: cannot start a thread: {e}");
    }
    rx
}

/// Waits for a thread started by [`on_own_thread`].
async fn joined<T>(rx: oneshot::Receiver<Result<T, LgError>>, what: &str) -> Result<T, LgError> {
    rx.await
        .map_err(|_| LgError::Other(format!("the {what} thread ended without a result")))?
}

/// A field of `INFO <section>`, as an integer.
async fn info_field(conn: &mut Conn, section: &str, field: &str) -> Result<i64, LgError> {
    let v = tokio::time::timeout(Duration::from_secs(10), conn.cmd_str(&["INFO", section]))
        .await
        .map_err(|_| LgError::Other("INFO got no reply within 10 s".into()))??;
    if let Some(e) = v.err() {
        return Err(LgError::Server(format!("INFO: {e}")));
    }
    let text = String::from_utf8_lossy(v.as_bytes().unwrap_or(b"")).into_owned();
    text.lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| LgError::Other(format!("no {field} in INFO {section}")))
}

/// The number of bytes of `v` in RESP2.
pub fn encoded_len(v: &Value) -> u64 {
    let digits = |n: i64| n.to_string().len() as u64;
    match v {
        Value::Simple(s) | Value::Error(s) => 3 + s.len() as u64,
        Value::Int(i) => 3 + digits(*i),
        Value::Bulk(b) => 5 + digits(b.len() as i64) + b.len() as u64,
        Value::Array(a) => 3 + digits(a.len() as i64) + a.iter().map(encoded_len).sum::<u64>(),
        // `$-1\r\n` or `*-1\r\n`.
        Value::Nil => 5,
    }
}

/// Fills `key` with `entries` entries of one `value_len`-byte field (`XADD key * v <value>`,
/// pipelined); returns the byte length of the `XRANGE key - +` reply.
pub async fn load_big_stream(
    addr: &str,
    key: &str,
    entries: u64,
    value_len: usize,
) -> Result<u64, LgError> {
    let go = async {
        let mut c = Conn::connect(addr).await?;
        c.cmd_str(&["DEL", key]).await?;
        let value: Vec<u8> = (0..value_len).map(|i| b'a' + (i % 26) as u8).collect();
        let mut left = entries;
        while left > 0 {
            let k = left.min(256);
            for _ in 0..k {
                c.push(&[b"XADD", key.as_bytes(), b"*", b"v", &value]);
            }
            c.flush().await?;
            for _ in 0..k {
                if let resp::Skipped::Error(e) = c.read_skip().await? {
                    return Err(LgError::Server(format!("XADD: {e}")));
                }
            }
            left -= k;
        }
        let v = c.cmd_str(&["XRANGE", key, "-", "+"]).await?;
        if let Some(e) = v.err() {
            return Err(LgError::Server(format!("XRANGE: {e}")));
        }
        let n = v.as_array().map(|a| a.len()).unwrap_or(0);
        if n as u64 != entries {
            return Err(LgError::Other(format!(
                "XRANGE {key} - + returned {n} entries, expected {entries}"
            )));
        }
        Ok(encoded_len(&v))
    };
    tokio::time::timeout(Duration::from_secs(120), go)
        .await
        .map_err(|_| LgError::Other("loading the XRANGE stream timed out after 120 s".into()))?
}

/// Settings of one XRANGE-pipeline run.
#[derive(Clone, Debug)]
pub struct XrangeParams {
    pub key: String,
    /// Pipelined `XRANGE key - +`.
    pub commands: u64,
    /// Byte length of one reply (from [`load_big_stream`]) and its entry count.
    pub reply_len: u64,
    pub entries: u64,
    /// How long the greedy client reads nothing.
    pub hold: Duration,
    pub ping_every: Duration,
    /// The greedy connection is closed when the server's RSS passes this.
    pub rss_limit: u64,
    /// Hard limit of the run: the greedy client is stopped then, and a PING still unanswered
    /// is reported as such.
    pub timeout: Duration,
}

/// What an XRANGE-pipeline run measured.
#[derive(Debug)]
pub struct XrangeRun {
    /// Latency of every answered PING, nanoseconds.
    pub pings: Histogram<u64>,
    /// The longest PING wait, counting one still unanswered at the end.
    pub ping_max: Duration,
    /// How long a PING had been waiting when the run ended without its answer.
    pub ping_unanswered: Option<Duration>,
    /// Replies the greedy client read in full, and the time from its first write to the last
    /// byte it read (or to its stop).
    pub replies: u64,
    pub total: Duration,
    /// Why the greedy client stopped before its last reply.
    pub stopped: Option<String>,
    /// RSS before the pipeline, and its peak during it (None: no process to look at).
    pub rss_before: Option<u64>,
    pub rss_peak: Option<u64>,
}

/// Why the greedy client stops early.
enum Stop {
    Rss,
    Timeout,
}

/// The greedy client: writes every command (on a task of its own, so a server that stops
/// reading its input cannot deadlock it), reads nothing for `hold`, then counts reply bytes.
/// Every reply is the same (the stream does not change), so `replies = bytes / reply_len`;
/// the first bytes are checked to be the expected array.
async fn greedy(
    addr: &str,
    p: &XrangeParams,
    over: Arc<Notify>,
    deadline: tokio::time::Instant,
) -> Result<(u64, Duration, Option<Stop>), LgError> {
    let stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let (mut rd, mut wr) = stream.into_split();
    let mut cmds = Vec::with_capacity(p.commands as usize * (40 + p.key.len()));
    for _ in 0..p.commands {
        resp::encode(&mut cmds, &[b"XRANGE", p.key.as_bytes(), b"-", b"+"]);
    }
    let t0 = Instant::now();
    let mut writer = AbortOnDrop(tokio::spawn(async move {
        wr.write_all(&cmds).await.map(|_| wr)
    }));
    let expect_total = p.commands * p.reply_len;
    let prefix = format!("*{}\r\n", p.entries).into_bytes();
    let mut head: Vec<u8> = Vec::with_capacity(prefix.len());
    let mut got = 0u64;
    let mut buf = vec![0u8; 1 << 20];
    let stop = 'run: {
        tokio::select! {
            _ = tokio::time::sleep(p.hold) => {}
            _ = over.notified() => break 'run Some(Stop::Rss),
            _ = tokio::time::sleep_until(deadline) => break 'run Some(Stop::Timeout),
        }
        while got < expect_total {
            let n = tokio::select! {
                r = rd.read(&mut buf) => r?,
                _ = over.notified() => break 'run Some(Stop::Rss),
                _ = tokio::time::sleep_until(deadline) => break 'run Some(Stop::Timeout),
            };
            if n == 0 {
                return Err(LgError::Other(format!(
                    "the server closed the connection after {} of {} XRANGE replies",
                    got / p.reply_len,
                    p.commands
                )));
            }
            if head.len() < prefix.len() {
                let k = (prefix.len() - head.len()).min(n);
                head.extend_from_slice(&buf[..k]);
                if head.first() == Some(&b'-') {
                    let line = String::from_utf8_lossy(&buf[..n]);
                    let line = line.lines().next().unwrap_or("").trim_start_matches('-');
                    return Err(LgError::Server(format!("XRANGE: {line}")));
                }
                if !prefix.starts_with(&head) {
                    return Err(LgError::Other(format!(
                        "XRANGE reply starts with {:?}, expected {:?}",
                        String::from_utf8_lossy(&head),
                        String::from_utf8_lossy(&prefix)
                    )));
                }
            }
            got += n as u64;
            // Let the runtime's other tasks run between large reads.
            tokio::task::yield_now().await;
        }
        None
    };
    let total = t0.elapsed();
    if got > expect_total {
        return Err(LgError::Other(format!(
            "read {got} bytes of replies, expected {expect_total}"
        )));
    }
    if stop.is_none() {
        match (&mut writer.0).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => return Err(LgError::Other(format!("writing the pipeline: {e}"))),
            Err(e) => return Err(LgError::Other(format!("writer task: {e}"))),
        }
    }
    // Dropping both halves (the writer's with its task) closes the connection.
    Ok((got / p.reply_len, total, stop))
}

/// Aborts its task when dropped (on every return path of [`greedy`]).
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// PINGs every `every`, one in flight, until `done` (the PING in flight is waited for), or
/// until `deadline` (a PING still unanswered then is returned as such).
async fn prober(
    addr: String,
    every: Duration,
    done: Arc<AtomicBool>,
    ready: oneshot::Sender<()>,
    deadline: Instant,
) -> Result<Probed, LgError> {
    let deadline = tokio::time::Instant::from_std(deadline);
    let mut c = Conn::connect(&addr).await?;
    match tokio::time::timeout(Duration::from_secs(10), c.cmd(&[b"PING"])).await {
        Ok(Ok(Value::Simple(s))) if s == "PONG" => {}
        Ok(Ok(v)) => return Err(LgError::Other(format!("PING replied {}", v.brief()))),
        Ok(Err(e)) => return Err(e.into()),
        Err(_) => return Err(LgError::Other("PING got no reply within 10 s".into())),
    }
    let _ = ready.send(());
    let mut hist = new_hist();
    let mut max = Duration::ZERO;
    let mut next = tokio::time::Instant::now();
    while !done.load(Ordering::Relaxed) {
        tokio::time::sleep_until(next).await;
        let t0 = tokio::time::Instant::now();
        next = t0 + every;
        let reply = tokio::time::timeout_at(deadline, c.cmd(&[b"PING"])).await;
        let waited = t0.elapsed();
        max = max.max(waited);
        match reply {
            Ok(Ok(Value::Simple(s))) if s == "PONG" => {
                hist.saturating_record(waited.as_nanos().min(u64::MAX as u128) as u64);
            }
            Ok(Ok(v)) => return Err(LgError::Other(format!("PING replied {}", v.brief()))),
            Ok(Err(e)) => return Err(LgError::Other(format!("PING: {e}"))),
            Err(_) => return Ok((hist, max, Some(waited))),
        }
    }
    Ok((hist, max, None))
}

/// What the PING prober returns: the round trips, the longest wait, and a PING still
/// unanswered at its deadline.
type Probed = (Histogram<u64>, Duration, Option<Duration>);

/// Starts [`prober`] on a thread of its own and waits (at most 15 s) until its connection has
/// answered a first PING. If it does not, sets `done` and returns the prober's error.
async fn start_prober(
    addr: &str,
    every: Duration,
    done: Arc<AtomicBool>,
    deadline: Instant,
) -> Result<oneshot::Receiver<Result<Probed, LgError>>, LgError> {
    let (ready_tx, ready_rx) = oneshot::channel();
    let probe = {
        let (addr, done) = (addr.to_string(), done.clone());
        on_own_thread("ping-prober", move || {
            prober(addr, every, done, ready_tx, deadline)
        })
    };
    if tokio::time::timeout(Duration::from_secs(15), ready_rx)
        .await
        .ok()
        .and_then(|r| r.ok())
        .is_none()
    {
        done.store(true, Ordering::Relaxed);
        return Err(match joined(probe, "PING prober").await {
            Err(e) => e,
            Ok(_) => LgError::Other("the PING prober did not start".into()),
        });
    }
    Ok(probe)
}

/// Follows the RSS of `pid` every 10 ms until `done`; notifies `over` once when it passes
/// `limit`. Returns the highest RSS seen.
fn sampler(
    pid: u32,
    limit: u64,
    done: Arc<AtomicBool>,
    over: Arc<Notify>,
    peak: Arc<AtomicU64>,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name("rss-sampler".into())
        .spawn(move || {
            let mut told = false;
            while !done.load(Ordering::Relaxed) {
                if let Some(rss) = server::rss_of(pid) {
                    peak.fetch_max(rss, Ordering::Relaxed);
                    if rss > limit && !told {
                        told = true;
                        over.notify_one();
                    }
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        })
}

/// One XRANGE-pipeline run against the server at `addr` (process `pid` when started by the
/// harness, for its RSS).
pub async fn xrange_pipeline(
    addr: &str,
    pid: Option<u32>,
    p: &XrangeParams,
) -> Result<XrangeRun, LgError> {
    let start = Instant::now();
    let deadline = start + p.timeout;
    let done = Arc::new(AtomicBool::new(false));
    let over = Arc::new(Notify::new());
    let peak = Arc::new(AtomicU64::new(0));
    let rss_before = pid.and_then(server::rss_of);
    let hwm_reset = pid.map(server::reset_peak_rss).unwrap_or(false);
    let sampling = match pid {
        Some(pid) => Some(
            sampler(pid, p.rss_limit, done.clone(), over.clone(), peak.clone())
                .map_err(|e| LgError::Other(format!("starting the RSS sampler: {e}")))?,
        ),
        None => None,
    };
    let stop_all = |done: &AtomicBool| done.store(true, Ordering::Relaxed);
    // A little longer than the greedy client's limit: a PING sent just before it stops may
    // still be answered.
    let probe = match start_prober(
        addr,
        p.ping_every,
        done.clone(),
        deadline + Duration::from_secs(10),
    )
    .await
    {
        Ok(probe) => probe,
        Err(e) => {
            if let Some(h) = sampling {
                let _ = h.join();
            }
            return Err(e);
        }
    };
    let g = greedy(
        addr,
        p,
        over.clone(),
        tokio::time::Instant::from_std(deadline),
    )
    .await;
    stop_all(&done);
    let pings = joined(probe, "PING prober").await;
    if let Some(h) = sampling {
        let _ = h.join();
    }
    let (replies, total, stop) = g?;
    let (pings, ping_max, ping_unanswered) = pings?;
    let sampled = peak.load(Ordering::Relaxed);
    let rss_peak = pid.map(|pid| {
        let hwm = if hwm_reset {
            server::peak_rss_of(pid).unwrap_or(0)
        } else {
            0
        };
        sampled.max(hwm)
    });
    let stopped = stop.map(|s| match s {
        Stop::Rss => format!(
            "greedy connection closed when the server's RSS passed {} MiB, after {replies} of {} replies and {:.1} s",
            p.rss_limit >> 20,
            p.commands,
            total.as_secs_f64()
        ),
        Stop::Timeout => format!(
            "greedy client stopped at the {} s limit, after {replies} of {} replies",
            p.timeout.as_secs(),
            p.commands
        ),
    });
    Ok(XrangeRun {
        pings,
        ping_max,
        ping_unanswered,
        replies,
        total,
        stopped,
        rss_before,
        rss_peak,
    })
}

/// Settings of one big-DEL run.
#[derive(Clone, Debug)]
pub struct DelParams {
    pub key: String,
    /// Entries appended before the DEL (50 connections, one XADD in flight each).
    pub entries: u64,
    /// One PING every this long after the DEL (one in flight).
    pub ping_every: Duration,
    /// How long the prober runs after the DEL.
    pub window: Duration,
}

/// What one big-DEL run saw.
#[derive(Debug)]
pub struct DelRun {
    /// PING round trips in the window, nanoseconds.
    pub pings: Histogram<u64>,
    pub ping_max: Duration,
    /// A PING still unanswered when the prober gave up (counted in `ping_max`).
    pub ping_unanswered: Option<Duration>,
    /// The DEL's own round trip.
    pub del: Duration,
}

/// Appends `p.entries` entries to `p.key`, lets the server settle for a second, then DELs the
/// stream while a prober PINGs for `p.window` (see the module docs).
pub async fn big_del(addr: &str, p: &DelParams) -> Result<DelRun, LgError> {
    crate::loadgen::load_stream(
        addr,
        &p.key,
        p.entries,
        50,
        1,
        &indicatif::ProgressBar::hidden(),
    )
    .await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let mut c = Conn::connect(addr).await?;
    let done = Arc::new(AtomicBool::new(false));
    let probe = start_prober(
        addr,
        p.ping_every,
        done.clone(),
        Instant::now() + p.window + Duration::from_secs(30),
    )
    .await?;
    let t0 = Instant::now();
    let reply = tokio::time::timeout(Duration::from_secs(30), c.cmd_str(&["DEL", &p.key])).await;
    let del = t0.elapsed();
    let checked = match reply {
        Ok(Ok(Value::Int(1))) => Ok(()),
        Ok(Ok(v)) => Err(LgError::Other(format!("DEL replied {}", v.brief()))),
        Ok(Err(e)) => Err(e.into()),
        Err(_) => Err(LgError::Other("DEL got no reply within 30 s".into())),
    };
    if checked.is_ok() {
        tokio::time::sleep(p.window.saturating_sub(del)).await;
    }
    done.store(true, Ordering::Relaxed);
    let pings = joined(probe, "PING prober").await;
    checked?;
    let (pings, ping_max, ping_unanswered) = pings?;
    Ok(DelRun {
        pings,
        ping_max,
        ping_unanswered,
        del,
    })
}

/// XADDs per second of one unpipelined producer while `readers` connections are blocked in
/// `XREADGROUP GROUP g c<i> COUNT 1 BLOCK 0 STREAMS key >` (each woken reader takes its entry
/// and blocks again). The run starts when the server's INFO reports them all blocked.
pub async fn blocked_readers(
    addr: &str,
    key: &str,
    readers: usize,
    duration: Duration,
) -> Result<Stats, LgError> {
    const GROUP: &str = "g";
    let mut admin = Conn::connect(addr).await?;
    admin.cmd_str(&["DEL", key]).await?;
    let v = admin
        .cmd_str(&["XGROUP", "CREATE", key, GROUP, "$", "MKSTREAM"])
        .await?;
    if let Some(e) = v.err() {
        return Err(LgError::Server(format!("XGROUP CREATE: {e}")));
    }
    let blocked0 = info_field(&mut admin, "clients", "blocked_clients").await?;
    let stop = Arc::new(AtomicBool::new(false));
    let deliveries = Arc::new(AtomicU64::new(0));
    let woken = Arc::new(AtomicU64::new(0));
    // Connect a few at a time (the listen backlog is finite).
    let connecting = Arc::new(Semaphore::new(64));
    let mut set: JoinSet<Result<(), LgError>> = JoinSet::new();
    for i in 0..readers {
        let (addr, key) = (addr.to_string(), key.to_string());
        let (stop, deliveries, woken) = (stop.clone(), deliveries.clone(), woken.clone());
        let connecting = connecting.clone();
        set.spawn(async move {
            let mut c = {
                let _permit = connecting.acquire().await;
                Conn::connect(&addr).await?
            };
            let consumer = format!("c{i}");
            let mut first = true;
            while !stop.load(Ordering::Relaxed) {
                let v = c
                    .cmd_str(&[
                        "XREADGROUP",
                        "GROUP",
                        GROUP,
                        &consumer,
                        "COUNT",
                        "1",
                        "BLOCK",
                        "0",
                        "STREAMS",
                        &key,
                        ">",
                    ])
                    .await?;
                if let Some(e) = v.err() {
                    return Err(LgError::Server(format!("XREADGROUP: {e}")));
                }
                let n = resp::xread_entries(&v).len() as u64;
                deliveries.fetch_add(n, Ordering::Relaxed);
                if first && n > 0 {
                    first = false;
                    woken.fetch_add(1, Ordering::Relaxed);
                }
            }
            Ok(())
        });
    }
    let r = async {
        // Wait until every reader is blocked (or one failed).
        let wait = Duration::from_secs(30) + Duration::from_millis(readers as u64 * 10);
        let t = Instant::now();
        loop {
            if let Some(r) = set.try_join_next() {
                let e = match r {
                    Ok(Err(e)) => e,
                    Ok(Ok(())) => LgError::Other("a reader ended early".into()),
                    Err(e) => LgError::Other(format!("reader task: {e}")),
                };
                return Err(match e {
                    LgError::Other(m) => LgError::Other(format!("a reader failed: {m}")),
                    s => s,
                });
            }
            let b = info_field(&mut admin, "clients", "blocked_clients").await?;
            if b - blocked0 >= readers as i64 {
                break;
            }
            if t.elapsed() > wait {
                return Err(LgError::Other(format!(
                    "only {} of {readers} readers blocked after {:.0} s",
                    b - blocked0,
                    wait.as_secs_f64()
                )));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let blocked_start = info_field(&mut admin, "clients", "blocked_clients").await? - blocked0;
        let producer = {
            let (addr, key) = (addr.to_string(), key.to_string());
            on_own_thread("xadd-producer", move || async move {
                let mut c = Conn::connect(&addr).await?;
                let mut hist = new_hist();
                let mut ops = 0u64;
                let t0 = Instant::now();
                let end = t0 + duration;
                let mut n = 0u64;
                while Instant::now() < end {
                    n += 1;
                    let val = n.to_string();
                    let t = Instant::now();
                    let v = tokio::time::timeout(
                        Duration::from_secs(10),
                        c.cmd_str(&["XADD", &key, "*", "n", &val]),
                    )
                    .await
                    .map_err(|_| LgError::Other("an XADD got no reply within 10 s".into()))??;
                    let d = t.elapsed();
                    if let Some(e) = v.err() {
                        return Err(LgError::Server(format!("XADD: {e}")));
                    }
                    hist.saturating_record(d.as_nanos().min(u64::MAX as u128) as u64);
                    ops += 1;
                }
                Ok((ops, t0.elapsed(), hist))
            })
        };
        let (ops, elapsed, hist) = joined(producer, "producer").await?;
        // The readers were woken by the last XADDs; let their XREADGROUPs come back.
        tokio::time::sleep(Duration::from_millis(200)).await;
        let blocked_end = info_field(&mut admin, "clients", "blocked_clients").await? - blocked0;
        let d = deliveries.load(Ordering::Relaxed);
        let w = woken.load(Ordering::Relaxed);
        let note = if readers == 0 {
            format!("{ops} XADDs in {:.1} s, no reader", elapsed.as_secs_f64())
        } else {
            format!(
                "{ops} XADDs in {:.1} s; {d} entries delivered, {w} of {readers} readers woken at least once; {blocked_start} blocked at the start, {blocked_end} 0.2 s after the end (each woken reader blocks again)",
                elapsed.as_secs_f64()
            )
        };
        Ok(Stats {
            ops,
            elapsed,
            hist,
            note,
        })
    }
    .await;
    // Close every reader, and wait until the server has let go of them so that the next run
    // starts from none blocked.
    stop.store(true, Ordering::Relaxed);
    set.shutdown().await;
    let t = Instant::now();
    while t.elapsed() < Duration::from_secs(30) {
        match info_field(&mut admin, "clients", "blocked_clients").await {
            Ok(b) if b > blocked0 => tokio::time::sleep(Duration::from_millis(20)).await,
            _ => break,
        }
    }
    let _ = tokio::time::timeout(Duration::from_secs(30), admin.cmd_str(&["DEL", key])).await;
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoded_len_matches_the_wire() {
        let wire = b"*2\r\n*2\r\n$3\r\n1-1\r\n*2\r\n$1\r\nv\r\n$10\r\naaaaaaaaaa\r\n$-1\r\n";
        let (v, end) = resp::parse(wire, 0).unwrap().unwrap();
        assert_eq!(end, wire.len());
        assert_eq!(encoded_len(&v), wire.len() as u64);
        for w in [
            &b"+OK\r\n"[..],
            b"-ERR x\r\n",
            b":-42\r\n",
            b"$0\r\n\r\n",
            b"*0\r\n",
        ] {
            let (v, _) = resp::parse(w, 0).unwrap().unwrap();
            assert_eq!(encoded_len(&v), w.len() as u64, "{w:?}");
        }
    }
}
