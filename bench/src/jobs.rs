//! The jobs phase: Sluice's job queue (Disque's API) against the real Disque 1.0-rc1, in the
//! same run, as Sluice/Disque ratios (issue #12, item 7).
//!
//! Here the reference side ([`Side::Redis`] in the rows) is a `disque-server` built from source
//! by `scripts/build-disque.sh`, started with [`Flavor::Disque`]. Every throughput run gets a
//! fresh pair of servers (fresh data directories): a run leaves hundreds of thousands of jobs
//! behind, which Disque keeps in RAM, so each run starts from an empty server on both sides.
//!
//! Workloads (50 connections, one client thread, like the rest of the bench):
//! * `ADDJOB q <32 B> 1000` — per-request latency;
//! * `GETJOB NOHANG COUNT 1 FROM q` on a queue pre-filled (untimed) with `fill` jobs; the run
//!   ends when the queue is used up — per-request latency;
//! * the flow: every connection is a worker that loops `ADDJOB` (its job's body carries its
//!   send time), `GETJOB TIMEOUT 1000 COUNT 1 FROM q` (it gets whichever job is first, FIFO)
//!   and `ACKJOB id`; jobs acknowledged per second, and the end-to-end latency from the write
//!   of a job's ADDJOB to the reply of its ACKJOB. The batched variant adds 16 (pipelined),
//!   gets `COUNT 16` and acknowledges them with one ACKJOB.
//!
//! Each at pipeline 1 (one request in flight per connection, how workers talk) and at the
//! bench's pipeline depth (16). Then memory per queued job and restart time with `queued` jobs.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use indicatif::ProgressBar;
use tokio::task::JoinSet;

use crate::cli::{Args, Fsync, Settings};
use crate::loadgen::{self, Gen, LgError, Params, Stats};
use crate::model::{pair_ratios, summarize, Outcome, Row, RunResult, Side, SideStatus, Unit};
use crate::resp::{self, Conn, Value};
use crate::runner::Ui;
use crate::server::{self, Flavor, Launch, Server};
use crate::util;

/// The queue every workload uses (each run has fresh servers).
const QUEUE: &str = "bench:q";
/// The section of the jobs rows (the report gives them their own table, with Disque's name).
pub const SECTION: &str = "jobs";
/// Bytes of a job's body.
const BODY_LEN: usize = 32;
/// ADDJOB's ms-timeout (synchronous replication; a single node answers at once).
const ADD_TIMEOUT_MS: &str = "1000";
/// The workers' GETJOB TIMEOUT, ms (the queue is never empty for long in the flow).
const GET_TIMEOUT_MS: &str = "1000";

/// What the jobs table says about its rows (the report prints it above the table).
pub const ABOUT: &str = "The other side of these rows is the real **Disque 1.0-rc1** (built from \
source by `scripts/build-disque.sh`), not Redis; the ratio is Sluice/Disque. The fsync column \
gives both sides' durability: Sluice's `appendfsync`, then Disque's AOF (`AOF off` is \
`--appendonly no`). Every throughput run starts a fresh pair (Disque keeps every job in RAM). \
50 connections, one client thread; `-P 1` is one request in flight per connection. ADDJOB and \
GETJOB rows: per-request latency; GETJOB reads a queue pre-filled (untimed) until it is used up. \
Flow rows: 50 workers loop ADDJOB → GETJOB (FIFO: any worker's job) → ACKJOB, rate of \
acknowledged jobs, latency **end to end** from the write of a job's ADDJOB to the reply of its \
ACKJOB (batched: 16 ADDJOBs pipelined, GETJOB COUNT 16, one ACKJOB of those). Memory and \
restart rows: one load per side, Sluice at `everysec` and Disque with AOF everysec (so it has \
something to reload; Disque's default reload leaves the jobs un-queued until their RETRY fires, \
see the notes); restart time is from process start to the first integer reply to `QLEN`.";

/// One durability pairing of the throughput rows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pairing {
    pub sluice: Fsync,
    pub disque: Fsync,
}

impl Pairing {
    /// The row label: both sides' durability.
    pub fn label(self) -> String {
        format!(
            "{} / Disque {}",
            self.sluice.name(),
            disque_level(self.disque)
        )
    }
}

fn disque_level(l: Fsync) -> String {
    match l {
        Fsync::No => "AOF off".into(),
        l => format!("AOF {}", l.name()),
    }
}

/// The jobs phase's settings.
#[derive(Clone, Debug)]
pub struct JobSettings {
    pub reps: u32,
    pub conns: usize,
    pub pipeline: usize,
    pub warmup: Duration,
    pub duration: Duration,
    /// Jobs pre-filled for each GETJOB run (the run's cap).
    pub fill: u64,
    /// Queued jobs of the memory and restart rows.
    pub queued: u64,
    pub load_pipeline: usize,
    /// Pause after loading, before reading RSS.
    pub settle: Duration,
    /// In the order they run.
    pub pairings: Vec<Pairing>,
    /// Quick mode: the pipelined rows are left out.
    pub quick: bool,
}

impl JobSettings {
    /// Runs are shorter than the other throughput workloads' (0.5 s warm-up + 2 s in full
    /// mode; 0.25 + 1 s quick) unless `--warmup`/`--duration` are given, so that the phase
    /// stays within about 5 minutes with its three pairings. Full mode runs one pairing per
    /// `--fsync` level: `everysec` against Disque without AOF (the goal), `no` against
    /// Disque without AOF, `always` against Disque with AOF `always`; quick mode only the first
    /// of them. See [`JobSettings::runs`] for which rows run at each.
    pub fn new(args: &Args, s: &Settings) -> JobSettings {
        let q = s.quick;
        let secs = |v: Option<f64>, quick: f64, full: f64| {
            Duration::from_secs_f64(v.unwrap_or(if q { quick } else { full }))
        };
        let mut pairings: Vec<Pairing> = [Fsync::Everysec, Fsync::No, Fsync::Always]
            .into_iter()
            .filter(|l| s.levels.contains(l))
            .map(|l| Pairing {
                sluice: l,
                disque: if l == Fsync::Always {
                    Fsync::Always
                } else {
                    Fsync::No
                },
            })
            .collect();
        if q {
            pairings.truncate(1);
        }
        JobSettings {
            reps: s.reps,
            conns: s.connections,
            pipeline: s.pipeline,
            warmup: secs(args.warmup, 0.25, 0.5),
            duration: secs(args.duration, 1.0, 2.0),
            fill: if q { 30_000 } else { 150_000 },
            quick: q,
            queued: args
                .jobs_queued
                .unwrap_or(if q { 100_000 } else { 1_000_000 }),
            load_pipeline: s.load_pipeline,
            settle: Duration::from_secs(if q { 1 } else { 3 }),
            pairings,
        }
    }

    /// Whether workload `w` runs at the `i`-th pairing: every row at the first pairing (the
    /// goal's, `everysec` against Disque without AOF), only the unpipelined rows (how workers
    /// talk) at the others, and only those in quick mode.
    fn runs(&self, w: &Workload, i: usize) -> bool {
        w.pipeline == 1 || (i == 0 && !self.quick)
    }

    fn params(&self, pipeline: usize) -> Params {
        Params {
            conns: self.conns,
            pipeline,
            duration: self.duration,
            warmup: self.warmup,
        }
    }

    /// For the report's header.
    pub fn describe(&self) -> String {
        format!(
            "jobs: {:.1} s runs after {:.2} s warm-up, GETJOB from {} pre-filled jobs, memory and restart with {} queued jobs, {}-byte bodies, pairings {}",
            self.duration.as_secs_f64(),
            self.warmup.as_secs_f64(),
            util::count(self.fill),
            util::count(self.queued),
            BODY_LEN,
            self.pairings
                .iter()
                .map(|p| p.label())
                .collect::<Vec<_>>()
                .join(", ")
        )
    }
}

/// The disque-server to use: `--disque-bin`, else `$DISQUE_BIN`, else the one
/// `scripts/build-disque.sh` builds.
pub fn disque_bin(args: &Args) -> PathBuf {
    if let Some(b) = &args.disque_bin {
        return b.clone();
    }
    if let Some(b) = std::env::var_os("DISQUE_BIN").filter(|b| !b.is_empty()) {
        return PathBuf::from(b);
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    target.join("disque").join("bin").join("disque-server")
}

/// The workload ids, for `--list`.
pub fn list(js: &JobSettings) -> String {
    let mut out = String::new();
    for w in catalog(js) {
        let at: Vec<String> = js
            .pairings
            .iter()
            .enumerate()
            .filter(|(i, _)| js.runs(&w, *i))
            .map(|(_, p)| p.label())
            .collect();
        out += &format!(
            "{:<14} {} (vs Disque)\n               at {}\n",
            w.id,
            w.name,
            if at.is_empty() {
                "none in this mode".to_string()
            } else {
                at.join("; ")
            }
        );
    }
    let c = util::count(js.queued);
    out += &format!(
        "jobs-memory    RSS per queued job, disk per job and restart time with {c} queued jobs (vs Disque)\n"
    );
    out
}

/// Everything the phase needs from the runner.
pub struct Env {
    pub ui: Ui,
    pub s: Settings,
    pub sluice: Launch,
    pub disque: Launch,
    pub work_dir: PathBuf,
    pub logs: PathBuf,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Work {
    Add,
    Get,
    Flow,
}

#[derive(Clone, Debug)]
struct Workload {
    id: String,
    name: String,
    work: Work,
    pipeline: usize,
}

fn catalog(js: &JobSettings) -> Vec<Workload> {
    let mut v = Vec::new();
    let p = js.pipeline.max(2);
    for (work, id, name) in [
        (Work::Add, "addjob", "ADDJOB"),
        (Work::Get, "getjob", "GETJOB NOHANG (pre-filled queue)"),
        (Work::Flow, "flow", "add → get → ack, 50 workers"),
    ] {
        for pl in [1, p] {
            let what = match (work, pl) {
                (_, 1) => "-P 1".to_string(),
                (Work::Flow, n) => format!("batches of {n}"),
                (_, n) => format!("-P {n}"),
            };
            v.push(Workload {
                id: format!("jobs-{id}-p{pl}"),
                name: format!("{name}, {what}"),
                work,
                pipeline: pl,
            });
        }
    }
    v
}

/// Runs the phase; `emit` gets every finished row (the runner stores it and rewrites the
/// outputs). Returns Ok when the phase was skipped.
pub async fn run(
    env: &Env,
    js: &JobSettings,
    emit: &mut dyn FnMut(Row) -> Result<(), String>,
) -> Result<(), String> {
    let started = Instant::now();
    let workloads: Vec<Workload> = catalog(js)
        .into_iter()
        .filter(|w| env.s.selected(&w.id))
        .collect();
    let plan: Vec<(Pairing, Vec<&Workload>)> = js
        .pairings
        .iter()
        .enumerate()
        .map(|(i, &p)| (p, workloads.iter().filter(|w| js.runs(w, i)).collect()))
        .collect();
    let total = plan.iter().map(|(_, ws)| ws.len() as u64).sum::<u64>() * js.reps as u64 * 2;
    env.ui.log(format!(
        "jobs phase: Sluice against Disque ({}); {}",
        env.disque.bin.display(),
        js.describe()
    ));
    if total > 0 {
        let bar = env.ui.steps(total, "jobs");
        for (pairing, ws) in &plan {
            for &w in ws {
                let row = run_workload(env, js, *pairing, w, &bar).await;
                env.ui.log(format!("  {}", one_line(&row)));
                emit(row)?;
            }
        }
        bar.finish_and_clear();
    }
    if env.s.selected("jobs-memory") || env.s.selected("jobs-restart") {
        for row in memory_and_restart(env, js).await {
            env.ui.log(format!("  {}", one_line(&row)));
            emit(row)?;
        }
    }
    env.ui.log(format!(
        "jobs phase done in {:.0} s",
        started.elapsed().as_secs_f64()
    ));
    Ok(())
}

/// A one-line summary for the log.
fn one_line(row: &Row) -> String {
    let side = |o: &[Outcome]| match summarize(o) {
        SideStatus::Measured(s) => row.unit.fmt(s.median),
        SideStatus::Unsupported(m) => format!("unsupported ({m})"),
        SideStatus::Failed(m) => format!("failed ({})", m.lines().next().unwrap_or("")),
        SideStatus::NotRun => "-".into(),
    };
    let ratio = pair_ratios(row)
        .map(|(m, _, _, _)| format!("{m:.2}"))
        .unwrap_or_else(|| "n/a".into());
    format!(
        "{} [{}]: sluice {}, disque {}, ratio {ratio} ({})",
        row.name,
        row.level,
        side(&row.sluice),
        side(&row.redis),
        row.unit.name()
    )
}

fn launch_of(env: &Env, side: Side) -> &Launch {
    match side {
        Side::Sluice => &env.sluice,
        Side::Redis => &env.disque,
    }
}

fn side_name(side: Side) -> &'static str {
    match side {
        Side::Sluice => "sluice",
        Side::Redis => "disque",
    }
}

/// Starts a fresh server for one side.
async fn start(env: &Env, side: Side, level: Fsync, tag: &str) -> Result<Server, String> {
    let log = env.logs.join(format!(
        "jobs-{}-{}-{tag}.log",
        side_name(side),
        level.name()
    ));
    Server::start(side, launch_of(env, side), level, &env.work_dir, log).await
}

fn lg_outcome(r: Result<Stats, LgError>) -> Outcome {
    match r {
        Ok(st) if st.ops == 0 => Outcome::Failed("no operation completed after the warm-up".into()),
        Ok(st) => Outcome::Ok(RunResult {
            value: st.rate(),
            latency: st.latency(),
            note: st.note.clone(),
        }),
        Err(LgError::Server(e)) => Outcome::Unsupported(e),
        Err(LgError::Other(e)) => Outcome::Failed(e),
    }
}

/// Why a server is gone, for a failed run.
fn died(srv: &Server) -> String {
    let tail = srv.log_tail();
    format!(
        "{} died during the run; last log line: {}",
        srv.name(),
        tail.lines().last().unwrap_or("")
    )
}

async fn run_workload(
    env: &Env,
    js: &JobSettings,
    pairing: Pairing,
    w: &Workload,
    bar: &ProgressBar,
) -> Row {
    let label = pairing.label();
    let mut row = Row::new(SECTION, &w.id, &w.name, &label, Unit::JobsPerSec);
    // A side whose server answered with an error, or hung, keeps that verdict.
    let mut verdict: [Option<Outcome>; 2] = [None, None];
    for rep in 0..js.reps {
        for (i, side) in Side::BOTH.into_iter().enumerate() {
            bar.set_message(format!(
                "[{label}] {} — {} run {}/{}",
                w.name,
                side_name(side),
                rep + 1,
                js.reps
            ));
            let o = match &verdict[i] {
                Some(o) => o.clone(),
                None => {
                    let level = match side {
                        Side::Sluice => pairing.sluice,
                        Side::Redis => pairing.disque,
                    };
                    let o = one_run(env, js, side, level, w).await;
                    match &o {
                        Outcome::Ok(_) => {}
                        Outcome::Unsupported(e) => {
                            env.ui.log(format!(
                                "  {} [{label}] on {}: unsupported: {e}",
                                w.name,
                                side_name(side)
                            ));
                            verdict[i] = Some(o.clone());
                        }
                        Outcome::Failed(e) => {
                            env.ui.log(format!(
                                "  {} [{label}] on {} run {}: failed: {e}",
                                w.name,
                                side_name(side),
                                rep + 1
                            ));
                            if e.contains("timed out") || e.contains("starting") {
                                verdict[i] = Some(o.clone());
                            }
                        }
                    }
                    o
                }
            };
            row.push(side, o);
            bar.inc(1);
        }
    }
    row
}

/// One run on a fresh server, which is killed afterwards.
async fn one_run(env: &Env, js: &JobSettings, side: Side, level: Fsync, w: &Workload) -> Outcome {
    let mut srv = match start(env, side, level, "tp").await {
        Ok(s) => s,
        Err(e) => return Outcome::Failed(format!("starting {}: {e}", side_name(side))),
    };
    let addr = srv.addr.clone();
    let p = js.params(w.pipeline);
    let r = match w.work {
        Work::Add => {
            let gen: Gen = Arc::new(|buf, rng, _| {
                let body = body(rng, None);
                resp::encode(
                    buf,
                    &[
                        b"ADDJOB",
                        QUEUE.as_bytes(),
                        &body,
                        ADD_TIMEOUT_MS.as_bytes(),
                    ],
                );
            });
            loadgen::pipelined(&addr, &p, None, gen).await
        }
        Work::Get => match fill(&addr, js.fill, js.conns, js.load_pipeline, None).await {
            Err(e) => Err(e),
            Ok(_) => {
                let gen: Gen = Arc::new(|buf, _, _| {
                    resp::encode(
                        buf,
                        &[
                            b"GETJOB",
                            b"NOHANG",
                            b"COUNT",
                            b"1",
                            b"FROM",
                            QUEUE.as_bytes(),
                        ],
                    );
                });
                loadgen::pipelined(&addr, &p, Some(js.fill), gen)
                    .await
                    .map(|mut st| {
                        if !st.note.is_empty() {
                            st.note = format!("{} (queue empty before the cap)", st.note);
                        }
                        st
                    })
            }
        },
        Work::Flow => flow(&addr, &p, w.pipeline).await,
    };
    let mut o = lg_outcome(r);
    if let Outcome::Failed(_) = o {
        // A lost connection may be the server's death, seen a moment later.
        for _ in 0..50 {
            if !srv.alive() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    if !srv.alive() {
        o = Outcome::Failed(died(&srv));
    }
    // Killed (SIGKILL) and its data directory removed.
    drop(srv);
    o
}

/// A job body of [`BODY_LEN`] bytes: the send time (ns since `epoch`, 20 digits) when given,
/// then random letters.
fn body(rng: &mut fastrand::Rng, t_ns: Option<u128>) -> Vec<u8> {
    let mut b = Vec::with_capacity(BODY_LEN);
    if let Some(t) = t_ns {
        b.extend_from_slice(format!("{t:020}").as_bytes());
    }
    while b.len() < BODY_LEN {
        b.push(rng.alphanumeric() as u8);
    }
    b
}

/// Reads the send time back from a body written by [`body`].
fn body_time(b: &[u8]) -> Option<u64> {
    std::str::from_utf8(b.get(..20)?).ok()?.parse().ok()
}

/// Adds `n` jobs to [`QUEUE`] (`conns` connections, `pipeline` in flight each) and checks
/// QLEN; returns the rate.
async fn fill(
    addr: &str,
    n: u64,
    conns: usize,
    pipeline: usize,
    pb: Option<&ProgressBar>,
) -> Result<f64, LgError> {
    let start = Instant::now();
    let budget = Arc::new(AtomicI64::new(n as i64));
    let mut set: JoinSet<Result<(), LgError>> = JoinSet::new();
    for idx in 0..conns.max(1) {
        let addr = addr.to_string();
        let budget = budget.clone();
        let pb = pb.cloned();
        set.spawn(async move {
            let mut conn = Conn::connect(&addr).await?;
            let mut rng = fastrand::Rng::with_seed(idx as u64 + 1234);
            loop {
                let before = budget.fetch_sub(pipeline as i64, Ordering::Relaxed);
                if before <= 0 {
                    break;
                }
                let k = (before as usize).min(pipeline);
                for _ in 0..k {
                    let b = body(&mut rng, None);
                    conn.push(&[b"ADDJOB", QUEUE.as_bytes(), &b, ADD_TIMEOUT_MS.as_bytes()]);
                }
                conn.flush().await?;
                for _ in 0..k {
                    match conn.read().await? {
                        Value::Error(e) => return Err(LgError::Server(format!("ADDJOB: {e}"))),
                        Value::Simple(_) | Value::Bulk(_) => {}
                        v => return Err(LgError::Other(format!("ADDJOB replied {}", v.brief()))),
                    }
                }
                if let Some(pb) = &pb {
                    pb.inc(k as u64);
                }
            }
            Ok(())
        });
    }
    // Generous: 5k jobs/s at least.
    let timeout = Duration::from_secs(60 + n / 5_000);
    let all = async {
        while let Some(r) = set.join_next().await {
            r.map_err(|e| LgError::Other(format!("task failed: {e}")))??;
        }
        Ok::<_, LgError>(())
    };
    tokio::time::timeout(timeout, all)
        .await
        .map_err(|_| LgError::Other(format!("filling the queue timed out after {timeout:?}")))??;
    let rate = n as f64 / start.elapsed().as_secs_f64().max(1e-9);
    let len = qlen(addr).await?;
    if len != n as i64 {
        return Err(LgError::Other(format!(
            "QLEN is {len} after adding {n} jobs"
        )));
    }
    Ok(rate)
}

async fn qlen(addr: &str) -> Result<i64, LgError> {
    let mut c = Conn::connect(addr).await?;
    let v = tokio::time::timeout(Duration::from_secs(30), c.cmd_str(&["QLEN", QUEUE]))
        .await
        .map_err(|_| LgError::Other("QLEN timed out".into()))??;
    match v {
        Value::Int(n) => Ok(n),
        Value::Error(e) => Err(LgError::Server(format!("QLEN: {e}"))),
        v => Err(LgError::Other(format!("QLEN replied {}", v.brief()))),
    }
}

/// What a flow worker counted: acknowledged jobs, GETJOBs that timed out, latencies.
type Worker = (u64, u64, Histogram<u64>);

/// The flow: `p.conns` workers, each looping ADDJOB ×`batch` (pipelined), GETJOB COUNT `batch`
/// and one ACKJOB of what it got. Counts acknowledged jobs; the histogram is end to end, from
/// the write of a job's ADDJOB to the reply of its ACKJOB.
pub async fn flow(addr: &str, p: &Params, batch: usize) -> Result<Stats, LgError> {
    let epoch = Instant::now();
    let measure = epoch + p.warmup;
    let deadline = measure + p.duration;
    let count = batch.to_string();
    let mut set: JoinSet<Result<Worker, LgError>> = JoinSet::new();
    for idx in 0..p.conns {
        let addr = addr.to_string();
        let count = count.clone();
        set.spawn(async move {
            let mut conn = Conn::connect(&addr).await?;
            let mut rng = fastrand::Rng::with_seed(0xd15c ^ (idx as u64) << 16);
            let mut hist = loadgen::new_hist();
            let (mut ops, mut nils) = (0u64, 0u64);
            while Instant::now() < deadline {
                for _ in 0..batch {
                    let t = (Instant::now() - epoch).as_nanos();
                    let b = body(&mut rng, Some(t));
                    conn.push(&[b"ADDJOB", QUEUE.as_bytes(), &b, ADD_TIMEOUT_MS.as_bytes()]);
                }
                conn.flush().await?;
                for _ in 0..batch {
                    match conn.read().await? {
                        Value::Error(e) => return Err(LgError::Server(format!("ADDJOB: {e}"))),
                        Value::Simple(_) | Value::Bulk(_) => {}
                        v => return Err(LgError::Other(format!("ADDJOB replied {}", v.brief()))),
                    }
                }
                let v = conn
                    .cmd_str(&[
                        "GETJOB",
                        "TIMEOUT",
                        GET_TIMEOUT_MS,
                        "COUNT",
                        &count,
                        "FROM",
                        QUEUE,
                    ])
                    .await?;
                let jobs = match &v {
                    Value::Nil => {
                        nils += 1;
                        continue;
                    }
                    Value::Error(e) => return Err(LgError::Server(format!("GETJOB: {e}"))),
                    Value::Array(a) => a,
                    v => return Err(LgError::Other(format!("GETJOB replied {}", v.brief()))),
                };
                let mut args: Vec<&[u8]> = vec![b"ACKJOB"];
                let mut sent = Vec::with_capacity(jobs.len());
                for j in jobs {
                    let f = j.as_array().unwrap_or(&[]);
                    match (
                        f.get(1).and_then(Value::as_bytes),
                        f.get(2).and_then(Value::as_bytes).and_then(body_time),
                    ) {
                        (Some(id), Some(t)) => {
                            args.push(id);
                            sent.push(t);
                        }
                        _ => {
                            return Err(LgError::Other(format!(
                                "GETJOB replied a job {}",
                                j.brief()
                            )))
                        }
                    }
                }
                match conn.cmd(&args).await? {
                    Value::Int(_) => {}
                    Value::Error(e) => return Err(LgError::Server(format!("ACKJOB: {e}"))),
                    v => return Err(LgError::Other(format!("ACKJOB replied {}", v.brief()))),
                }
                let now = Instant::now();
                if now >= measure && now <= deadline {
                    ops += sent.len() as u64;
                    let at = (now - epoch).as_nanos() as u64;
                    for t in sent {
                        hist.saturating_record(at.saturating_sub(t).max(1));
                    }
                }
            }
            Ok((ops, nils, hist))
        });
    }
    let limit = p.warmup + p.duration + p.duration.max(Duration::from_secs(10));
    let all = async {
        let mut ops = 0;
        let mut nils = 0;
        let mut hist = loadgen::new_hist();
        while let Some(r) = set.join_next().await {
            let (o, n, h) = r.map_err(|e| LgError::Other(format!("task failed: {e}")))??;
            ops += o;
            nils += n;
            let _ = hist.add(&h);
        }
        Ok::<_, LgError>((ops, nils, hist))
    };
    let (ops, nils, hist) = tokio::time::timeout(limit, all)
        .await
        .map_err(|_| LgError::Other(format!("run timed out after {limit:?}")))??;
    Ok(Stats {
        ops,
        elapsed: p.duration,
        hist,
        note: if nils > 0 {
            format!("{nils} GETJOBs timed out on an empty queue")
        } else {
            String::new()
        },
    })
}

/// `aof_rewrite_in_progress:1` in `INFO persistence` (Disque); false when absent.
async fn aof_rewriting(addr: &str) -> bool {
    let go = async {
        let mut c = Conn::connect(addr).await.ok()?;
        let v = c.cmd_str(&["INFO", "persistence"]).await.ok()?;
        let text = String::from_utf8_lossy(v.as_bytes()?).into_owned();
        Some(
            text.lines()
                .any(|l| l.trim() == "aof_rewrite_in_progress:1"),
        )
    };
    tokio::time::timeout(Duration::from_secs(10), go)
        .await
        .ok()
        .flatten()
        .unwrap_or(false)
}

fn is_int(v: &Value) -> bool {
    matches!(v, Value::Int(_))
}

/// Memory per queued job and restart time: one fresh server per side, Sluice at `everysec`
/// and Disque with AOF everysec, each loaded with `queued` jobs; then `reps` restarts each,
/// alternately.
async fn memory_and_restart(env: &Env, js: &JobSettings) -> Vec<Row> {
    let n = js.queued;
    let c = util::count(n);
    let level = Fsync::Everysec;
    let label = format!("everysec / Disque {}", disque_level(level));
    env.ui.log(format!(
        "  jobs memory and restart: {c} queued jobs, Sluice at appendfsync everysec, Disque with AOF everysec"
    ));
    let mk = |id: &str, name: &str, unit: Unit| {
        Row::new(SECTION, &format!("jobs-{id}-{c}"), name, &label, unit)
    };
    let mut per_job = mk(
        "memory-rss-per-job",
        &format!("RSS per queued job ({c})"),
        Unit::BytesPerEntry,
    );
    let mut rss_total = mk(
        "memory-rss",
        &format!("RSS with {c} queued jobs"),
        Unit::Bytes,
    );
    let mut load = mk(
        "memory-load",
        &format!("ADDJOB load, 50 conns × pipeline {}", js.load_pipeline),
        Unit::JobsPerSec,
    );
    let mut disk = mk(
        "memory-disk-per-job",
        &format!("disk per queued job ({c})"),
        Unit::BytesPerEntry,
    );
    let mut time = mk(
        "restart-time",
        &format!("restart: start to first QLEN reply ({c} jobs)"),
        Unit::Seconds,
    );
    let mut rss_after = mk(
        "restart-rss",
        &format!("RSS after restart ({c} jobs)"),
        Unit::Bytes,
    );
    let mut servers: Vec<Option<Server>> = Vec::new();
    for side in Side::BOTH {
        let fail = |rows: &mut [&mut Row], o: Outcome| {
            for r in rows.iter_mut() {
                r.push(side, o.clone());
            }
        };
        let mut srv = match start(env, side, level, "mem").await {
            Ok(s) => s,
            Err(e) => {
                env.ui.log(format!("  {}: {e}", side_name(side)));
                fail(
                    &mut [&mut per_job, &mut rss_total, &mut load, &mut disk],
                    Outcome::Failed(e),
                );
                servers.push(None);
                continue;
            }
        };
        tokio::time::sleep(Duration::from_millis(500)).await;
        let rss0 = srv.rss().unwrap_or(0);
        let used0 = server::used_memory(&srv.addr).await;
        let d0 = srv.disk_bytes().unwrap_or(0);
        let pb = env.ui.entries(n, side_name(side));
        pb.set_message(format!("jobs: adding {c} jobs"));
        let r = fill(&srv.addr, n, js.conns, js.load_pipeline, Some(&pb)).await;
        pb.finish_and_clear();
        let rate = match r {
            Ok(rate) => rate,
            Err(e) => {
                // An error reply here is a refusal (Disque past 95 % of its maxmemory), not an
                // unsupported command: say how far it got.
                let o = if srv.alive() {
                    let at = match qlen(&srv.addr).await {
                        Ok(q) => format!(" (QLEN {q} when it failed)"),
                        Err(_) => String::new(),
                    };
                    Outcome::Failed(format!("{e}{at}"))
                } else {
                    Outcome::Failed(died(&srv))
                };
                env.ui.log(format!(
                    "  {}: adding {c} jobs failed: {o:?}",
                    side_name(side)
                ));
                fail(&mut [&mut per_job, &mut rss_total, &mut load, &mut disk], o);
                servers.push(None);
                continue;
            }
        };
        load.push(side, Outcome::Ok(RunResult::value(rate)));
        // Let background work settle: flushes, compaction, Disque's AOF rewrite (waited for).
        tokio::time::sleep(js.settle).await;
        let t = Instant::now();
        while aof_rewriting(&srv.addr).await && t.elapsed() < Duration::from_secs(120) {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let mut note = String::new();
        // Both sides report used_memory (Sluice: the bytes Rust code holds live), steadier
        // than the RSS, which also holds what the allocator freed but has not given back yet.
        if let (Some(u), Some(u0)) = (server::used_memory(&srv.addr).await, used0) {
            note = format!(
                "used_memory grew by {:.0} B per job",
                u.saturating_sub(u0) as f64 / n as f64
            );
        }
        match srv.rss() {
            Some(rss) => {
                let mut r = RunResult::value(rss.saturating_sub(rss0) as f64 / n as f64);
                r.note = note;
                per_job.push(side, Outcome::Ok(r));
                rss_total.push(side, Outcome::Ok(RunResult::value(rss as f64)));
            }
            None => fail(
                &mut [&mut per_job, &mut rss_total],
                Outcome::Failed("no RSS".into()),
            ),
        }
        let d = srv.disk_bytes().unwrap_or(0);
        disk.push(
            side,
            Outcome::Ok(RunResult::value(d.saturating_sub(d0) as f64 / n as f64)),
        );
        servers.push(Some(srv));
    }
    let steps = env.ui.steps(js.reps as u64 * 2, "jobs");
    for rep in 0..js.reps {
        for (side, slot) in Side::BOTH.into_iter().zip(servers.iter_mut()) {
            steps.set_message(format!(
                "{} restart {}/{} with {c} jobs",
                side_name(side),
                rep + 1,
                js.reps
            ));
            let Some(srv) = slot else {
                time.push(side, Outcome::Failed("not loaded".into()));
                rss_after.push(side, Outcome::Failed("not loaded".into()));
                steps.inc(1);
                continue;
            };
            match srv
                .restart_timed_reply(
                    Duration::from_secs(600),
                    &[b"QLEN", QUEUE.as_bytes()],
                    is_int,
                )
                .await
            {
                Ok(d) => {
                    let mut r = RunResult::value(d.as_secs_f64());
                    match qlen(&srv.addr).await {
                        Ok(q) if q == n as i64 => {}
                        Ok(q) => {
                            r.note = format!(
                                "QLEN right after the restart is {q}, not {n}{}",
                                if side == Side::Redis {
                                    " (Disque reloads the jobs un-queued; they come back when their RETRY fires, 300 s by default)"
                                } else {
                                    ""
                                }
                            )
                        }
                        Err(e) => r.note = format!("QLEN after the restart: {e}"),
                    }
                    time.push(side, Outcome::Ok(r));
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    match srv.rss() {
                        Some(b) => rss_after.push(side, Outcome::Ok(RunResult::value(b as f64))),
                        None => rss_after.push(side, Outcome::Failed("no RSS".into())),
                    }
                }
                Err(e) => {
                    env.ui
                        .log(format!("  {} restart failed: {e}", side_name(side)));
                    time.push(side, Outcome::Failed(e.clone()));
                    rss_after.push(side, Outcome::Failed(e));
                    *slot = None;
                }
            }
            steps.inc(1);
        }
    }
    steps.finish_and_clear();
    drop(servers);
    let mut rows = Vec::new();
    if env.s.selected("jobs-memory") {
        rows.extend([per_job, rss_total, load, disk]);
    }
    if env.s.selected("jobs-restart") {
        rows.extend([time, rss_after]);
    }
    rows
}

/// A Disque launch for `bin`.
pub fn disque_launch(bin: PathBuf) -> Launch {
    Launch {
        bin,
        flavor: Flavor::Disque,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[test]
    fn bodies_carry_their_time() {
        let mut rng = fastrand::Rng::with_seed(1);
        let b = body(&mut rng, Some(123_456_789));
        assert_eq!(b.len(), BODY_LEN);
        assert_eq!(body_time(&b), Some(123_456_789));
        assert_eq!(body(&mut rng, None).len(), BODY_LEN);
    }

    #[test]
    fn jobs_rows_are_reported_against_disque() {
        use crate::report;
        let mut row = Row::new(
            SECTION,
            "jobs-addjob-p1",
            "ADDJOB, -P 1",
            "everysec / Disque AOF off",
            Unit::JobsPerSec,
        );
        for (a, b) in [(30.0, 20.0), (33.0, 22.0), (36.0, 24.0)] {
            row.push(Side::Sluice, Outcome::Ok(RunResult::value(a)));
            row.push(Side::Redis, Outcome::Ok(RunResult::value(b)));
        }
        let rows = vec![row];
        let info = report::RunInfo::default();
        let md = report::markdown(&info, &rows);
        assert!(md.contains("### Job queue: Sluice vs Disque"), "{md}");
        assert!(
            md.contains("| ADDJOB, -P 1 | everysec / Disque AOF off | jobs/s | 33 (30–36) | 22 (20–24) | **1.50** (1.50–1.50) |"),
            "{md}"
        );
        let csv = report::runs_csv(&rows);
        assert!(csv.contains(",disque,ok,"), "{csv}");
        let back = report::parse_runs_csv(&csv).unwrap();
        assert_eq!(report::markdown(&info, &back), md);
    }

    #[test]
    fn settings_and_catalog() {
        let a = Args::try_parse_from(["sluice-bench"]).unwrap();
        let js = JobSettings::new(&a, &a.settings().unwrap());
        assert_eq!(js.pairings.len(), 3);
        assert_eq!(js.pairings[0].label(), "everysec / Disque AOF off");
        assert_eq!(js.pairings[2].label(), "always / Disque AOF always");
        assert_eq!(js.queued, 1_000_000);
        let ids: Vec<String> = catalog(&js).into_iter().map(|w| w.id).collect();
        assert_eq!(
            ids,
            [
                "jobs-addjob-p1",
                "jobs-addjob-p16",
                "jobs-getjob-p1",
                "jobs-getjob-p16",
                "jobs-flow-p1",
                "jobs-flow-p16"
            ]
        );
        let q = Args::try_parse_from(["sluice-bench", "--quick", "--jobs-queued", "5000"]).unwrap();
        let qs = JobSettings::new(&q, &q.settings().unwrap());
        assert_eq!(qs.pairings.len(), 1);
        assert_eq!(qs.queued, 5000);
        assert!(qs.duration < js.duration);
    }
}
