//! The queues phase (issue #14): consumer groups used as a job queue, Sluice's server-side
//! redelivery (`XQ.CONFIG … VISIBILITY … MAXDELIVER … DEADLETTER`) against Redis done the
//! usual way (a janitor that polls `XPENDING … IDLE`, XCLAIMs idle entries and moves those
//! delivered too often to a dead-letter stream), as a Sluice/Redis ratio; and, on Sluice
//! alone, the engine's longest pause (PING round trip) when N delayed entries fall due at once.
//!
//! The flow: `workers` connections each loop `XADD bq * seq <n> body <32 B>` →
//! `XREADGROUP GROUP g w<i> COUNT 1 BLOCK 100 STREAMS bq >` → `XACK` — except jobs whose
//! `seq` is a multiple of 10, which are never acknowledged (the worker "crashes" on them). They
//! come back after the 200 ms visibility timeout and are dead-lettered after 3 deliveries:
//! * Sluice: by the server (the workers see redeliveries in their `>` reads and abandon them
//!   again);
//! * Redis 7.0.15: by a janitor connection that loops `XPENDING bq g IDLE 200 - + 100`, then
//!   for each entry `XADD bq:dead …` + `XACK` once it has 3 deliveries, else `XCLAIM bq g
//!   janitor 200 id` (a redelivery it abandons too); it pauses 20 ms when it found nothing.
//!
//! The value is acknowledged jobs per second (the 90 % that succeed). Every run starts fresh
//! servers at `everysec` (Redis: AOF everysec).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::task::JoinSet;

use crate::cli::{Fsync, Settings};
use crate::model::{pair_ratios, summarize, Outcome, Row, RunResult, Side, SideStatus, Unit};
use crate::resp::{self, Conn, Value};
use crate::runner::Ui;
use crate::server::{Launch, Server};

/// The section of the rows.
pub const SECTION: &str = "queues";
const KEY: &str = "bq";
const DEAD: &str = "bq:dead";
const VIS_MS: u64 = 200;
const MAX_DELIVER: i64 = 3;

/// What the phase needs from the runner.
pub struct Env {
    pub ui: Ui,
    pub s: Settings,
    pub sluice: Launch,
    pub redis: Launch,
    pub work_dir: std::path::PathBuf,
    pub logs: std::path::PathBuf,
}

/// The phase's settings.
#[derive(Clone, Debug)]
pub struct QueueSettings {
    pub reps: u32,
    pub workers: usize,
    pub duration: Duration,
    /// Delayed entries falling due at once in the pause row.
    pub delayed: u64,
}

impl QueueSettings {
    pub fn new(s: &Settings, delayed: Option<u64>) -> QueueSettings {
        QueueSettings {
            reps: s.reps,
            workers: 20,
            duration: if s.quick {
                Duration::from_secs(2)
            } else {
                Duration::from_secs(5)
            },
            delayed: delayed.unwrap_or(if s.quick { 100_000 } else { 1_000_000 }),
        }
    }

    pub fn describe(&self) -> String {
        format!(
            "queues: {} workers, {:.0} s runs, 10 % of jobs never acknowledged, visibility {VIS_MS} ms, {MAX_DELIVER} deliveries then dead letter; pause with {} delayed entries due at once",
            self.workers,
            self.duration.as_secs_f64(),
            crate::util::count(self.delayed)
        )
    }
}

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

async fn call(c: &mut Conn, args: &[&str]) -> Result<Value, String> {
    let v = c.cmd_str(args).await.map_err(err)?;
    match v.err() {
        Some(e) => Err(format!("{args:?}: {e}")),
        None => Ok(v),
    }
}

/// The seq field of an entry (`seq <n> body …`).
fn seq_of(fields: &[Value]) -> u64 {
    fields
        .get(1)
        .and_then(Value::as_bytes)
        .and_then(|b| std::str::from_utf8(b).ok())
        .and_then(|s| s.parse().ok())
        .unwrap_or(1)
}

/// One worker: produce, take, acknowledge (or abandon), until `stop`.
async fn worker(
    addr: String,
    i: usize,
    next_seq: Arc<AtomicU64>,
    acked: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
) -> Result<(), String> {
    let mut c = Conn::connect(&addr).await.map_err(err)?;
    let name = format!("w{i}");
    let body = "x".repeat(32);
    while !stop.load(Ordering::Relaxed) {
        let seq = next_seq.fetch_add(1, Ordering::Relaxed).to_string();
        call(&mut c, &["XADD", KEY, "*", "seq", &seq, "body", &body]).await?;
        let got = call(
            &mut c,
            &[
                "XREADGROUP",
                "GROUP",
                "g",
                &name,
                "COUNT",
                "1",
                "BLOCK",
                "100",
                "STREAMS",
                KEY,
                ">",
            ],
        )
        .await?;
        for (id, fields) in resp::xread_entries(&got) {
            if seq_of(fields).is_multiple_of(10) {
                continue; // never acknowledged
            }
            let id = String::from_utf8_lossy(id).into_owned();
            if call(&mut c, &["XACK", KEY, "g", &id]).await?.as_int() == Some(1) {
                acked.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
    Ok(())
}

/// Redis's janitor: XPENDING IDLE, XCLAIM, dead-letter at MAX_DELIVER.
async fn janitor(addr: String, stop: Arc<AtomicBool>) -> Result<(), String> {
    let mut c = Conn::connect(&addr).await.map_err(err)?;
    let idle = VIS_MS.to_string();
    while !stop.load(Ordering::Relaxed) {
        let p = call(
            &mut c,
            &["XPENDING", KEY, "g", "IDLE", &idle, "-", "+", "100"],
        )
        .await?;
        let rows = p.as_array().unwrap_or(&[]).to_vec();
        if rows.is_empty() {
            tokio::time::sleep(Duration::from_millis(20)).await;
            continue;
        }
        for r in rows {
            let Some([id, consumer, _, count]) = r.as_array() else {
                continue;
            };
            let id = String::from_utf8_lossy(id.as_bytes().unwrap_or(b"")).into_owned();
            let consumer = String::from_utf8_lossy(consumer.as_bytes().unwrap_or(b"")).into_owned();
            if count.as_int().unwrap_or(0) >= MAX_DELIVER {
                let count = count.as_int().unwrap_or(0).to_string();
                call(
                    &mut c,
                    &[
                        "XADD",
                        DEAD,
                        "*",
                        "dlq-stream",
                        KEY,
                        "dlq-id",
                        &id,
                        "dlq-group",
                        "g",
                        "dlq-consumer",
                        &consumer,
                        "dlq-deliveries",
                        &count,
                    ],
                )
                .await?;
                call(&mut c, &["XACK", KEY, "g", &id]).await?;
            } else {
                // A redelivery; every idle job here is one that is never acknowledged.
                call(&mut c, &["XCLAIM", KEY, "g", "janitor", &idle, &id]).await?;
            }
        }
    }
    Ok(())
}

/// One run of the flow on a fresh server: acknowledged jobs per second.
async fn flow(env: &Env, qs: &QueueSettings, side: Side, rep: u32) -> Outcome {
    let log = env.logs.join(format!("queues-{}-{rep}.log", side.name()));
    let launch = match side {
        Side::Sluice => &env.sluice,
        Side::Redis => &env.redis,
    };
    let mut srv = match Server::start(side, launch, Fsync::Everysec, &env.work_dir, log).await {
        Ok(s) => s,
        Err(e) => return Outcome::Failed(e),
    };
    let r = flow_on(&srv.addr, qs, side).await;
    srv.stop(Duration::from_secs(5));
    match r {
        Ok(rate) => Outcome::Ok(RunResult::value(rate)),
        Err(e) => Outcome::Failed(e),
    }
}

async fn flow_on(addr: &str, qs: &QueueSettings, side: Side) -> Result<f64, String> {
    let mut c = Conn::connect_retry(addr, Duration::from_secs(10))
        .await
        .map_err(err)?;
    call(&mut c, &["XGROUP", "CREATE", KEY, "g", "$", "MKSTREAM"]).await?;
    if side == Side::Sluice {
        call(
            &mut c,
            &[
                "XQ.CONFIG",
                KEY,
                "g",
                "VISIBILITY",
                &VIS_MS.to_string(),
                "MAXDELIVER",
                &MAX_DELIVER.to_string(),
                "DEADLETTER",
                DEAD,
            ],
        )
        .await?;
    }
    let stop = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(AtomicU64::new(0));
    let seq = Arc::new(AtomicU64::new(1));
    let mut set = JoinSet::new();
    for i in 0..qs.workers {
        set.spawn(worker(
            addr.to_string(),
            i,
            seq.clone(),
            acked.clone(),
            stop.clone(),
        ));
    }
    if side == Side::Redis {
        set.spawn(janitor(addr.to_string(), stop.clone()));
    }
    let started = Instant::now();
    tokio::time::sleep(qs.duration).await;
    let done = acked.load(Ordering::Relaxed);
    let secs = started.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    while let Some(r) = set.join_next().await {
        r.map_err(err)??;
    }
    let dead = call(&mut c, &["XLEN", DEAD]).await?.as_int().unwrap_or(0);
    if dead == 0 {
        return Err("nothing was dead-lettered: the run was too short for redeliveries".into());
    }
    Ok(done as f64 / secs)
}

/// Sluice alone: N entries added with `XQ.ADD … AT t`, held by a group, all due at `t`; the
/// longest PING round trip from 1 s before `t` until every one is ready for redelivery.
async fn pause(env: &Env, qs: &QueueSettings) -> Outcome {
    let log = env.logs.join("queues-pause-sluice.log");
    let mut srv = match Server::start(
        Side::Sluice,
        &env.sluice,
        Fsync::Everysec,
        &env.work_dir,
        log,
    )
    .await
    {
        Ok(s) => s,
        Err(e) => return Outcome::Failed(e),
    };
    let r = pause_on(&env.ui, &srv.addr, qs).await;
    srv.stop(Duration::from_secs(10));
    match r {
        Ok((max_ms, ready_s, before_ms)) => Outcome::Ok(RunResult {
            value: max_ms,
            latency: None,
            note: format!(
                "all {} ready {:.1} s after they fell due; longest PING in as long a window before: {before_ms:.1} ms",
                crate::util::count(qs.delayed),
                ready_s
            ),
        }),
        Err(e) => Outcome::Failed(e),
    }
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

async fn group_ready(c: &mut Conn) -> Result<i64, String> {
    let v = call(c, &["XINFO", "GROUPS", "dq"]).await?;
    let g = v
        .as_array()
        .and_then(|a| a.first())
        .and_then(Value::as_array)
        .unwrap_or(&[])
        .to_vec();
    let pos = g.iter().position(|f| f.as_bytes() == Some(b"ready"));
    Ok(pos
        .and_then(|p| g.get(p + 1))
        .and_then(Value::as_int)
        .unwrap_or(0))
}

async fn pause_on(ui: &Ui, addr: &str, qs: &QueueSettings) -> Result<(f64, f64, f64), String> {
    let mut c = Conn::connect_retry(addr, Duration::from_secs(10))
        .await
        .map_err(err)?;
    call(&mut c, &["XGROUP", "CREATE", "dq", "g", "$", "MKSTREAM"]).await?;
    // Load rate is unknown: aim `due` well after the load, then wait for it.
    let load_start = Instant::now();
    let due = now_ms() + 60_000 + qs.delayed / 20 + qs.delayed / 50;
    let due_s = due.to_string();
    let batch = 1000u64;
    let mut sent = 0u64;
    while sent < qs.delayed {
        let n = batch.min(qs.delayed - sent);
        for _ in 0..n {
            c.push(&[b"XQ.ADD", b"dq", b"AT", due_s.as_bytes(), b"*", b"n", b"1"]);
        }
        c.flush().await.map_err(err)?;
        for _ in 0..n {
            let v = c.read().await.map_err(err)?;
            if let Some(e) = v.err() {
                return Err(format!("XQ.ADD: {e}"));
            }
        }
        sent += n;
    }
    // A reader passes them all: the group holds each one, due at `due`.
    loop {
        let v = call(
            &mut c,
            &[
                "XREADGROUP",
                "GROUP",
                "g",
                "r",
                "COUNT",
                "10000",
                "STREAMS",
                "dq",
                ">",
            ],
        )
        .await?;
        let lag = {
            let g = call(&mut c, &["XINFO", "GROUPS", "dq"]).await?;
            let g = g
                .as_array()
                .and_then(|a| a.first())
                .and_then(Value::as_array)
                .unwrap_or(&[])
                .to_vec();
            let pos = g.iter().position(|f| f.as_bytes() == Some(b"lag"));
            pos.and_then(|p| g.get(p + 1))
                .and_then(Value::as_int)
                .unwrap_or(0)
        };
        if !resp::xread_entries(&v).is_empty() {
            return Err("a delayed entry was served before it was due".into());
        }
        if lag == 0 {
            break;
        }
    }
    ui.log(format!(
        "  queues pause: {} delayed entries loaded and held in {:.1} s",
        crate::util::count(qs.delayed),
        load_start.elapsed().as_secs_f64()
    ));
    // PINGs start as long before `due` as the entries take to become ready after it (about
    // 50,000 a second), so the two windows are compared on an equal footing.
    let window_ms = (qs.delayed / 50).max(1000);
    let start_at = due.saturating_sub(window_ms);
    let wait = start_at.saturating_sub(now_ms());
    if now_ms() >= due {
        return Err("loading took longer than the margin before the entries fell due".into());
    }
    tokio::time::sleep(Duration::from_millis(wait)).await;
    let mut ping = Conn::connect(addr).await.map_err(err)?;
    let mut max = Duration::ZERO;
    // The same measure in an equally long window before they fall due: the machine's noise.
    let mut before = Duration::ZERO;
    let mut last_check = Instant::now();
    loop {
        let t = Instant::now();
        let sent_at = now_ms();
        call(&mut ping, &["PING"]).await?;
        if sent_at < due {
            before = before.max(t.elapsed());
        } else {
            max = max.max(t.elapsed());
        }
        if last_check.elapsed() >= Duration::from_millis(100) && now_ms() >= due {
            last_check = Instant::now();
            if group_ready(&mut c).await? as u64 >= qs.delayed {
                break;
            }
        }
        if now_ms() > due + 600_000 {
            return Err("the entries never all became ready".into());
        }
    }
    Ok((
        max.as_secs_f64() * 1000.0,
        (now_ms() - due) as f64 / 1000.0,
        before.as_secs_f64() * 1000.0,
    ))
}

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
        "{} [{}]: sluice {}, redis {}, ratio {ratio} ({})",
        row.name,
        row.level,
        side(&row.sluice),
        side(&row.redis),
        row.unit.name()
    )
}

/// Runs the phase; `emit` gets every finished row.
pub async fn run(
    env: &Env,
    qs: &QueueSettings,
    emit: &mut dyn FnMut(Row) -> Result<(), String>,
) -> Result<(), String> {
    env.ui.log(format!("queues phase: {}", qs.describe()));
    if env.s.selected("queue-redelivery") {
        let mut row = Row::new(
            SECTION,
            "queue-redelivery",
            "job flow, 10 % never acknowledged: server-side redelivery vs XPENDING/XCLAIM janitor",
            "everysec",
            Unit::JobsPerSec,
        );
        for rep in 0..qs.reps {
            for side in Side::BOTH {
                let o = flow(env, qs, side, rep).await;
                row.push(side, o);
            }
        }
        env.ui.log(format!("  {}", one_line(&row)));
        emit(row)?;
    }
    if env.s.selected("queue-due-pause") {
        let mut row = Row::new(
            SECTION,
            "queue-due-pause",
            &format!(
                "longest PING round trip while {} delayed entries fall due at once",
                crate::util::count(qs.delayed)
            ),
            "everysec",
            Unit::Millis,
        );
        row.comparable = false;
        row.push(Side::Sluice, pause(env, qs).await);
        row.push(
            Side::Redis,
            Outcome::Unsupported("Redis has no delayed delivery".into()),
        );
        env.ui.log(format!("  {}", one_line(&row)));
        emit(row)?;
    }
    Ok(())
}
