//! The Rust load generator: many connections, pipelining, HDR histograms of per-command latency
//! (time from the write of a pipeline batch to the arrival of each reply).
//!
//! A run lasts `warmup + duration`; only replies that arrive after the warm-up are counted and
//! recorded. Workloads that consume a finite stream take a `cap` on the number of commands and
//! end early when it is reached (throughput is then over the shorter measured time).

use std::io;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use indicatif::ProgressBar;
use tokio::task::JoinSet;

use crate::model::Latency;
use crate::resp::{self, rand12, Conn, Skipped, StreamId, Value};

/// Parameters of one run.
#[derive(Clone, Debug)]
pub struct Params {
    pub conns: usize,
    pub pipeline: usize,
    pub duration: Duration,
    pub warmup: Duration,
}

/// Why a run did not produce a number.
#[derive(Debug)]
pub enum LgError {
    /// The server answered with an error: the workload is unsupported there.
    Server(String),
    /// Connection lost, protocol error, unexpected reply, timeout.
    Other(String),
}

impl From<io::Error> for LgError {
    fn from(e: io::Error) -> Self {
        LgError::Other(e.to_string())
    }
}

impl std::fmt::Display for LgError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LgError::Server(e) => write!(f, "error reply: {e}"),
            LgError::Other(e) => write!(f, "{e}"),
        }
    }
}

/// The result of a run.
#[derive(Clone, Debug)]
pub struct Stats {
    /// Operations (or messages, or jobs) counted after the warm-up.
    pub ops: u64,
    /// Measured time.
    pub elapsed: Duration,
    /// Per-command latency, nanoseconds.
    pub hist: Histogram<u64>,
    pub note: String,
}

impl Stats {
    pub fn rate(&self) -> f64 {
        let s = self.elapsed.as_secs_f64();
        if s > 0.0 {
            self.ops as f64 / s
        } else {
            0.0
        }
    }

    pub fn latency(&self) -> Option<Latency> {
        if self.hist.is_empty() {
            return None;
        }
        let ms = |q: f64| self.hist.value_at_quantile(q) as f64 / 1e6;
        Some(Latency {
            p50: ms(0.5),
            p99: ms(0.99),
            p999: Some(ms(0.999)),
        })
    }
}

pub fn new_hist() -> Histogram<u64> {
    Histogram::new_with_bounds(1_000, 100_000_000_000, 3).expect("histogram bounds")
}

fn record(h: &mut Histogram<u64>, d: Duration) {
    h.saturating_record(d.as_nanos().min(u64::MAX as u128) as u64);
}

/// Start, end of warm-up, and end of a run.
///
/// The warm-up ends after `warmup`, or, for a run with a cap on its work, as soon as a tenth of
/// that work is done (whichever comes first), so that a short capped run is still measured.
#[derive(Clone)]
struct Clock {
    epoch: Instant,
    deadline: Instant,
    measure_ns: Arc<AtomicU64>,
    cap: Option<u64>,
    consumed: Arc<AtomicU64>,
}

impl Clock {
    fn new(p: &Params, cap: Option<u64>) -> Clock {
        let epoch = Instant::now();
        Clock {
            epoch,
            deadline: epoch + p.warmup + p.duration,
            measure_ns: Arc::new(AtomicU64::new(p.warmup.as_nanos() as u64)),
            cap,
            consumed: Arc::new(AtomicU64::new(0)),
        }
    }

    fn measure_from(&self) -> Instant {
        self.epoch + Duration::from_nanos(self.measure_ns.load(Ordering::Relaxed))
    }

    fn measuring(&self, t: Instant) -> bool {
        t >= self.measure_from()
    }

    /// Notes `n` units of capped work taken.
    fn consume(&self, n: u64) {
        if let Some(cap) = self.cap {
            let c = self.consumed.fetch_add(n, Ordering::Relaxed) + n;
            if c >= cap / 10 {
                let now = (Instant::now() - self.epoch).as_nanos() as u64;
                self.measure_ns.fetch_min(now, Ordering::Relaxed);
            }
        }
    }
}

/// A hard limit on a whole run, so that a hung server cannot hang the harness.
fn run_timeout(p: &Params) -> Duration {
    p.warmup + p.duration + p.duration.max(Duration::from_secs(10))
}

/// Takes up to `want` from a shared budget; 0 when it is spent.
fn claim(budget: &Option<Arc<AtomicI64>>, want: usize) -> usize {
    match budget {
        None => want,
        Some(b) => {
            let before = b.fetch_sub(want as i64, Ordering::Relaxed);
            if before <= 0 {
                0
            } else {
                (before as usize).min(want)
            }
        }
    }
}

/// Per-task result.
struct Part {
    ops: u64,
    hist: Histogram<u64>,
    last: Instant,
    nils: u64,
}

/// Encodes one command of a pipelined workload: (write buffer, rng, connection index).
pub type Gen = Arc<dyn Fn(&mut Vec<u8>, &mut fastrand::Rng, usize) + Send + Sync>;

async fn join_parts(
    mut set: JoinSet<Result<Part, LgError>>,
    timeout: Duration,
) -> Result<Vec<Part>, LgError> {
    let all = async {
        let mut parts = Vec::new();
        while let Some(r) = set.join_next().await {
            match r {
                Ok(Ok(p)) => parts.push(p),
                Ok(Err(e)) => return Err(e),
                Err(e) => return Err(LgError::Other(format!("task failed: {e}"))),
            }
        }
        Ok(parts)
    };
    match tokio::time::timeout(timeout, all).await {
        Ok(r) => r,
        Err(_) => Err(LgError::Other(format!("run timed out after {timeout:?}"))),
    }
}

fn merge(parts: Vec<Part>, clock: &Clock) -> (u64, Histogram<u64>, Duration, u64) {
    let mut hist = new_hist();
    let mut ops = 0;
    let mut nils = 0;
    let mut last = clock.measure_from();
    for p in parts {
        ops += p.ops;
        nils += p.nils;
        let _ = hist.add(&p.hist);
        last = last.max(p.last);
    }
    (
        ops,
        hist,
        last.saturating_duration_since(clock.measure_from()),
        nils,
    )
}

/// A pipelined closed-loop workload: each connection sends `pipeline` commands made by `gen`,
/// reads the replies, and repeats until the deadline or until `cap` commands were sent.
pub async fn pipelined(
    addr: &str,
    p: &Params,
    cap: Option<u64>,
    gen: Gen,
) -> Result<Stats, LgError> {
    let clock = Clock::new(p, cap);
    let budget = cap.map(|c| Arc::new(AtomicI64::new(c as i64)));
    let mut set = JoinSet::new();
    for idx in 0..p.conns {
        let addr = addr.to_string();
        let gen = gen.clone();
        let clock = clock.clone();
        let budget = budget.clone();
        let pipeline = p.pipeline;
        set.spawn(async move {
            let mut conn = Conn::connect(&addr).await?;
            let mut rng = fastrand::Rng::with_seed(0x5eed ^ (idx as u64) << 20);
            let mut part = Part {
                ops: 0,
                hist: new_hist(),
                last: clock.epoch,
                nils: 0,
            };
            while Instant::now() < clock.deadline {
                let k = claim(&budget, pipeline);
                if k == 0 {
                    break;
                }
                clock.consume(k as u64);
                for _ in 0..k {
                    gen(&mut conn.wbuf, &mut rng, idx);
                }
                let t0 = Instant::now();
                conn.flush().await?;
                for _ in 0..k {
                    let r = conn.read_skip().await?;
                    let t = Instant::now();
                    match r {
                        Skipped::Error(e) => return Err(LgError::Server(e)),
                        Skipped::Nil => part.nils += 1,
                        Skipped::Ok => {}
                    }
                    if clock.measuring(t) {
                        part.ops += 1;
                        record(&mut part.hist, t - t0);
                    }
                }
                part.last = Instant::now();
            }
            Ok(part)
        });
    }
    let parts = join_parts(set, run_timeout(p)).await?;
    let (ops, hist, elapsed, nils) = merge(parts, &clock);
    let mut note = String::new();
    if nils > 0 {
        note = format!("{nils} nil replies");
    }
    Ok(Stats {
        ops,
        elapsed,
        hist,
        note,
    })
}

/// What loading a stream produced.
#[derive(Clone, Copy, Debug)]
pub struct Loaded {
    pub first: StreamId,
    pub last: StreamId,
    pub rate: f64,
}

/// Appends `n` entries (`XADD key * field <12 digits>`, like redis-benchmark) with `conns`
/// connections pipelining `pipeline` commands each.
pub async fn load_stream(
    addr: &str,
    key: &str,
    n: u64,
    conns: usize,
    pipeline: usize,
    pb: &ProgressBar,
) -> Result<Loaded, LgError> {
    let start = Instant::now();
    let budget = Some(Arc::new(AtomicI64::new(n as i64)));
    let mut set: JoinSet<Result<(StreamId, StreamId), LgError>> = JoinSet::new();
    for idx in 0..conns.max(1) {
        let addr = addr.to_string();
        let key = key.to_string();
        let budget = budget.clone();
        let pb = pb.clone();
        set.spawn(async move {
            let mut conn = Conn::connect(&addr).await?;
            let mut rng = fastrand::Rng::with_seed(idx as u64 + 7);
            let mut lo = StreamId {
                ms: u64::MAX,
                seq: u64::MAX,
            };
            let mut hi = StreamId { ms: 0, seq: 0 };
            loop {
                let k = claim(&budget, pipeline);
                if k == 0 {
                    break;
                }
                for _ in 0..k {
                    let v = rand12(rng.u64(..));
                    conn.push(&[b"XADD", key.as_bytes(), b"*", b"field", &v]);
                }
                conn.flush().await?;
                for _ in 0..k {
                    match conn.read().await? {
                        Value::Error(e) => return Err(LgError::Server(e)),
                        v => {
                            let id = v.as_bytes().and_then(StreamId::parse).ok_or_else(|| {
                                LgError::Other(format!("XADD replied {}", v.brief()))
                            })?;
                            lo = lo.min(id);
                            hi = hi.max(id);
                        }
                    }
                }
                pb.inc(k as u64);
            }
            Ok((lo, hi))
        });
    }
    let timeout = Duration::from_secs(120 + n / 5_000);
    let all = async {
        let mut lo = StreamId {
            ms: u64::MAX,
            seq: u64::MAX,
        };
        let mut hi = StreamId { ms: 0, seq: 0 };
        while let Some(r) = set.join_next().await {
            let (a, b) = r.map_err(|e| LgError::Other(e.to_string()))??;
            lo = lo.min(a);
            hi = hi.max(b);
        }
        Ok::<_, LgError>((lo, hi))
    };
    let (first, last) = tokio::time::timeout(timeout, all)
        .await
        .map_err(|_| LgError::Other(format!("loading timed out after {timeout:?}")))??;
    Ok(Loaded {
        first,
        last,
        rate: n as f64 / start.elapsed().as_secs_f64().max(1e-9),
    })
}

/// Moves up to `n` entries of `key` into the pending list of consumer `consumer` of `group`
/// (XREADGROUP COUNT 1000 ... >) and returns their IDs.
pub async fn claim_pending(
    addr: &str,
    key: &str,
    group: &str,
    consumer: &str,
    n: u64,
) -> Result<Vec<Vec<u8>>, LgError> {
    let mut conn = Conn::connect(addr).await?;
    let mut ids = Vec::with_capacity(n as usize);
    let fut = async {
        while (ids.len() as u64) < n {
            let want = (n - ids.len() as u64).min(1000).to_string();
            let v = conn
                .cmd_str(&[
                    "XREADGROUP",
                    "GROUP",
                    group,
                    consumer,
                    "COUNT",
                    &want,
                    "STREAMS",
                    key,
                    ">",
                ])
                .await?;
            if let Some(e) = v.err() {
                return Err(LgError::Server(e.to_string()));
            }
            let es = resp::xread_entries(&v);
            if es.is_empty() {
                break;
            }
            ids.extend(es.iter().map(|(id, _)| id.to_vec()));
        }
        Ok(())
    };
    tokio::time::timeout(Duration::from_secs(300 + n / 10_000), fut)
        .await
        .map_err(|_| LgError::Other("claiming entries timed out".into()))??;
    Ok(ids)
}

/// XACK of `ids` (one ID per command, pipelined), spread over the connections.
pub async fn xack(
    addr: &str,
    p: &Params,
    key: &str,
    group: &str,
    ids: Arc<Vec<Vec<u8>>>,
) -> Result<Stats, LgError> {
    let next = Arc::new(AtomicUsize::new(0));
    let key = key.as_bytes().to_vec();
    let group = group.as_bytes().to_vec();
    let n = ids.len() as u64;
    let gen: Gen = Arc::new(move |buf, _rng, _idx| {
        let i = next.fetch_add(1, Ordering::Relaxed);
        let id = &ids[i.min(ids.len() - 1)];
        resp::encode(buf, &[b"XACK", &key, &group, id]);
    });
    pipelined(addr, p, Some(n), gen).await
}

/// The group flow: each connection is a consumer that reads 16 new entries with XREADGROUP and
/// then acknowledges them with one XACK, until the deadline or the end of the stream.
/// Counts acknowledged messages.
pub async fn group_flow(
    addr: &str,
    p: &Params,
    key: &str,
    group: &str,
    batch: usize,
    entries: u64,
) -> Result<Stats, LgError> {
    let clock = Clock::new(p, Some(entries));
    let mut set = JoinSet::new();
    let count = batch.to_string();
    for idx in 0..p.conns {
        let addr = addr.to_string();
        let key = key.to_string();
        let group = group.to_string();
        let count = count.clone();
        let clock = clock.clone();
        set.spawn(async move {
            let mut conn = Conn::connect(&addr).await?;
            let consumer = format!("c{idx}");
            let mut part = Part {
                ops: 0,
                hist: new_hist(),
                last: clock.epoch,
                nils: 0,
            };
            while Instant::now() < clock.deadline {
                let t0 = Instant::now();
                let v = conn
                    .cmd_str(&[
                        "XREADGROUP",
                        "GROUP",
                        &group,
                        &consumer,
                        "COUNT",
                        &count,
                        "STREAMS",
                        &key,
                        ">",
                    ])
                    .await?;
                let t1 = Instant::now();
                if let Some(e) = v.err() {
                    return Err(LgError::Server(e.to_string()));
                }
                let es = resp::xread_entries(&v);
                if es.is_empty() {
                    break; // the stream is exhausted
                }
                clock.consume(es.len() as u64);
                let mut args: Vec<&[u8]> = vec![b"XACK", key.as_bytes(), group.as_bytes()];
                args.extend(es.iter().map(|(id, _)| *id));
                let a = conn.cmd(&args).await?;
                let t2 = Instant::now();
                match a {
                    Value::Error(e) => return Err(LgError::Server(e)),
                    Value::Int(_) => {}
                    other => return Err(LgError::Other(format!("XACK replied {}", other.brief()))),
                }
                if clock.measuring(t1) {
                    record(&mut part.hist, t1 - t0);
                }
                if clock.measuring(t2) {
                    record(&mut part.hist, t2 - t1);
                    part.ops += es.len() as u64;
                }
                part.last = t2;
            }
            Ok(part)
        });
    }
    let parts = join_parts(set, run_timeout(p)).await?;
    let (ops, hist, elapsed, _) = merge(parts, &clock);
    Ok(Stats {
        ops,
        elapsed,
        hist,
        note: String::new(),
    })
}

/// Field value of `name` in a flat field list.
fn field<'a>(fields: &'a [Value], name: &[u8]) -> Option<&'a Value> {
    fields
        .chunks(2)
        .find(|kv| kv[0].as_bytes() == Some(name))
        .and_then(|kv| kv.get(1))
}

/// The job queue: producers XADD jobs (pipelined), consumers take them with
/// XREADGROUP COUNT 16 BLOCK 100 and XACK them; 1 % of jobs are never acknowledged by their
/// consumer and are recovered by a reaper with XAUTOCLAIM after `reclaim_idle`. Measures jobs
/// completed per second and the latency from XADD to the reply of its XACK.
pub async fn job_queue(
    addr: &str,
    p: &Params,
    key: &str,
    reclaim_idle: Duration,
) -> Result<Stats, LgError> {
    const GROUP: &str = "workers";
    let mut setup = Conn::connect(addr).await?;
    let v = setup
        .cmd_str(&["XGROUP", "CREATE", key, GROUP, "$", "MKSTREAM"])
        .await?;
    if let Some(e) = v.err() {
        return Err(LgError::Server(e.to_string()));
    }
    let producers = (p.conns / 5).max(1);
    let consumers = p.conns.saturating_sub(producers).max(1);
    // Flow control: a producer takes one permit per job; the XACK of the job gives it back.
    let max_inflight = (p.conns * p.pipeline * 8).max(256);
    let clock = Clock::new(p, None);
    let inflight = Arc::new(tokio::sync::Semaphore::new(max_inflight));
    let seq = Arc::new(AtomicU64::new(0));
    let dropped = Arc::new(AtomicU64::new(0));
    let recovered = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let mut set: JoinSet<Result<Part, LgError>> = JoinSet::new();
    let empty = || Part {
        ops: 0,
        hist: new_hist(),
        last: clock.epoch,
        nils: 0,
    };

    for idx in 0..producers {
        let addr = addr.to_string();
        let key = key.to_string();
        let inflight = inflight.clone();
        let seq = seq.clone();
        let pipeline = p.pipeline;
        let mut part = empty();
        let clock = clock.clone();
        set.spawn(async move {
            let mut conn = Conn::connect(&addr).await?;
            let mut rng = fastrand::Rng::with_seed(idx as u64 + 99);
            let payload: Vec<u8> = (0..32).map(|_| rng.alphanumeric() as u8).collect();
            while Instant::now() < clock.deadline {
                let deadline = tokio::time::Instant::from_std(clock.deadline);
                match tokio::time::timeout_at(deadline, inflight.acquire_many(pipeline as u32))
                    .await
                {
                    Ok(Ok(permits)) => permits.forget(),
                    _ => break,
                }
                for _ in 0..pipeline {
                    let n = seq.fetch_add(1, Ordering::Relaxed).to_string();
                    let t = (Instant::now() - clock.epoch).as_nanos().to_string();
                    conn.push(&[
                        b"XADD",
                        key.as_bytes(),
                        b"*",
                        b"t",
                        t.as_bytes(),
                        b"n",
                        n.as_bytes(),
                        b"payload",
                        &payload,
                    ]);
                }
                conn.flush().await?;
                for _ in 0..pipeline {
                    if let Skipped::Error(e) = conn.read_skip().await? {
                        return Err(LgError::Server(e));
                    }
                }
            }
            part.last = clock.deadline;
            Ok(part)
        });
    }

    for idx in 0..consumers {
        let addr = addr.to_string();
        let key = key.to_string();
        let inflight = inflight.clone();
        let dropped = dropped.clone();
        let mut part = empty();
        let clock = clock.clone();
        set.spawn(async move {
            let mut conn = Conn::connect(&addr).await?;
            let consumer = format!("c{idx}");
            while Instant::now() < clock.deadline {
                let v = conn
                    .cmd_str(&[
                        "XREADGROUP",
                        "GROUP",
                        GROUP,
                        &consumer,
                        "COUNT",
                        "16",
                        "BLOCK",
                        "100",
                        "STREAMS",
                        &key,
                        ">",
                    ])
                    .await?;
                if let Some(e) = v.err() {
                    return Err(LgError::Server(e.to_string()));
                }
                let es = resp::xread_entries(&v);
                if es.is_empty() {
                    continue;
                }
                let mut args: Vec<&[u8]> = vec![b"XACK", key.as_bytes(), GROUP.as_bytes()];
                let mut starts = Vec::with_capacity(es.len());
                for (id, fields) in &es {
                    let n = field(fields, b"n").and_then(|v| v.as_int()).unwrap_or(0);
                    if n % 100 == 99 {
                        dropped.fetch_add(1, Ordering::Relaxed);
                        continue; // this consumer "crashes" on the job: never acknowledged
                    }
                    let t = field(fields, b"t").and_then(|v| v.as_int()).unwrap_or(0);
                    starts.push(clock.epoch + Duration::from_nanos(t as u64));
                    args.push(id);
                }
                if starts.is_empty() {
                    continue;
                }
                let a = conn.cmd(&args).await?;
                let now = Instant::now();
                if let Value::Error(e) = a {
                    return Err(LgError::Server(e));
                }
                inflight.add_permits(starts.len());
                if clock.measuring(now) && now <= clock.deadline {
                    part.ops += starts.len() as u64;
                    for s in starts {
                        record(&mut part.hist, now.saturating_duration_since(s));
                    }
                }
            }
            part.last = clock.deadline;
            Ok(part)
        });
    }

    // The reaper: recovers jobs idle for longer than reclaim_idle.
    let reaper = {
        let addr = addr.to_string();
        let key = key.to_string();
        let inflight = inflight.clone();
        let recovered = recovered.clone();
        let stop = stop.clone();
        let idle = reclaim_idle.as_millis().to_string();
        let clock = clock.clone();
        tokio::spawn(async move {
            let mut conn = Conn::connect(&addr).await?;
            let mut part = Part {
                ops: 0,
                hist: new_hist(),
                last: clock.epoch,
                nils: 0,
            };
            while !stop.load(Ordering::Relaxed) && Instant::now() < clock.deadline {
                tokio::time::sleep(Duration::from_millis(20)).await;
                let v = conn
                    .cmd_str(&[
                        "XAUTOCLAIM",
                        &key,
                        GROUP,
                        "reaper",
                        &idle,
                        "0-0",
                        "COUNT",
                        "1000",
                    ])
                    .await?;
                if let Some(e) = v.err() {
                    return Err(LgError::Server(e.to_string()));
                }
                let es = match v.as_array() {
                    Some(a) if a.len() >= 2 => resp::entries(&a[1]),
                    _ => return Err(LgError::Other(format!("XAUTOCLAIM replied {}", v.brief()))),
                };
                if es.is_empty() {
                    continue;
                }
                let mut args: Vec<&[u8]> = vec![b"XACK", key.as_bytes(), GROUP.as_bytes()];
                let mut starts = Vec::new();
                for (id, fields) in &es {
                    let t = field(fields, b"t").and_then(|v| v.as_int()).unwrap_or(0);
                    starts.push(clock.epoch + Duration::from_nanos(t as u64));
                    args.push(id);
                }
                let a = conn.cmd(&args).await?;
                let now = Instant::now();
                if let Value::Error(e) = a {
                    return Err(LgError::Server(e));
                }
                inflight.add_permits(starts.len());
                recovered.fetch_add(starts.len() as u64, Ordering::Relaxed);
                if clock.measuring(now) {
                    part.ops += starts.len() as u64;
                    for s in starts {
                        record(&mut part.hist, now.saturating_duration_since(s));
                    }
                }
            }
            Ok::<Part, LgError>(part)
        })
    };

    let parts = join_parts(set, run_timeout(p)).await;
    stop.store(true, Ordering::Relaxed);
    let reaped = match tokio::time::timeout(Duration::from_secs(10), reaper).await {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => Err(LgError::Other(format!("reaper: {e}"))),
        Err(_) => Err(LgError::Other("reaper did not stop".into())),
    };
    let parts = parts?;
    let reaped = reaped?;
    let (ops, hist, _, _) = merge(parts, &clock);
    let elapsed = clock.deadline - clock.measure_from();
    let rec = recovered.load(Ordering::Relaxed);
    let drop = dropped.load(Ordering::Relaxed);
    let rec_p50 = if reaped.hist.is_empty() {
        String::new()
    } else {
        format!(
            ", recovery p50 {:.0} ms",
            reaped.hist.value_at_quantile(0.5) as f64 / 1e6
        )
    };
    Ok(Stats {
        ops: ops + reaped.ops,
        elapsed,
        hist,
        note: format!(
            "{} jobs produced, {drop} left unacked, {rec} recovered by XAUTOCLAIM{rec_p50}",
            seq.load(Ordering::Relaxed)
        ),
    })
}
