//! Orchestration: start the servers, run every phase, write the outputs.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::cli::{Args, Fsync, Phase, Settings};
use crate::fairness::{self, XrangeParams};
use crate::jobs;
use crate::loadgen::{self, Gen, LgError, Params};
use crate::model::{Outcome, Row, RunResult, Side, Unit};
use crate::rbench::{self, RbSpec};
use crate::report::{self, RunInfo};
use crate::resp::{self, Conn};
use crate::server::{self, Launch, Server};
use crate::util;
use crate::workloads::{catalog, Kind, Lg, RbCmd, Workload, LOCK_RELEASE, LOCK_RELEASE_SHA};

const STREAM_KEY: &str = "bench:s";

/// Progress bars and log lines that do not garble them.
#[derive(Clone)]
pub struct Ui {
    mp: MultiProgress,
}

impl Ui {
    fn new() -> Ui {
        Ui {
            mp: MultiProgress::with_draw_target(ProgressDrawTarget::stderr()),
        }
    }

    pub fn log(&self, msg: impl AsRef<str>) {
        if self.mp.is_hidden() {
            eprintln!("{}", msg.as_ref());
        } else {
            let _ = self.mp.println(msg.as_ref());
        }
    }

    fn bar(&self, len: u64, prefix: &str, template: &str) -> ProgressBar {
        let pb = self.mp.add(ProgressBar::new(len));
        pb.set_style(
            ProgressStyle::with_template(template)
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        pb.set_prefix(prefix.to_string());
        pb.enable_steady_tick(Duration::from_millis(200));
        pb
    }

    pub fn steps(&self, len: u64, prefix: &str) -> ProgressBar {
        self.bar(
            len,
            prefix,
            "{prefix:>10} [{elapsed_precise}] [{bar:30}] {pos}/{len} {wide_msg}",
        )
    }

    pub fn entries(&self, len: u64, prefix: &str) -> ProgressBar {
        self.bar(
            len,
            prefix,
            "{prefix:>10} [{elapsed_precise}] [{bar:30}] {human_pos}/{human_len} entries ({per_sec}, eta {eta}) {wide_msg}",
        )
    }
}

/// The stream pre-loaded for the read workloads.
#[derive(Clone, Copy, Debug)]
struct StreamInfo {
    len: u64,
    first_ms: u64,
    last_ms: u64,
}

/// A server and what it holds.
struct Slot {
    server: Server,
    stream: Option<StreamInfo>,
    /// Why loading the stream failed (not retried until the server is restarted).
    stream_err: Option<String>,
}

/// Everything a run carries along.
struct Ctx {
    s: Settings,
    ui: Ui,
    sluice: Option<Launch>,
    redis: Launch,
    sluice_addr: Option<String>,
    redis_addr: Option<String>,
    rb_bin: PathBuf,
    work_dir: PathBuf,
    logs: PathBuf,
    out: PathBuf,
    rows: Vec<Row>,
    info: RunInfo,
    started: Instant,
    publish: Option<PathBuf>,
}

pub async fn run(args: Args) -> Result<(), String> {
    let s = args.settings()?;
    if let Some(dir) = &args.replot {
        report::replot(dir)?;
        println!(
            "rewrote {0}/results.md, results.csv and ratios.svg from {0}/runs.csv",
            dir.display()
        );
        return Ok(());
    }
    if args.list {
        let mut out = String::new();
        for w in catalog(&s) {
            let also = if w.durable {
                "  [also at everysec/always]"
            } else {
                ""
            };
            out += &format!(
                "{:<14} {}{also}\n               {}\n",
                w.id, w.name, w.about
            );
        }
        out += &jobs::list(&jobs::JobSettings::new(&args, &s));
        out += &format!(
            "memory         RSS and used_memory after {:?} entries\n",
            s.mem_entries
        );
        out += &format!(
            "restart        disk bytes per entry and restart time with {} entries\n",
            s.restart_entries
        );
        out += &format!(
            "fair-xrange    PING latency and peak RSS while one client pipelines {} (Redis: {}) XRANGE - + of ~5.8 MB\n",
            s.fair.xranges[0], s.fair.xranges[1]
        );
        out += &format!(
            "fair-blocked   XADD/s of one unpipelined producer with {} readers blocked in XREADGROUP\n",
            s.fair.readers
        );
        // Ignore a closed pipe (`| head`).
        let _ = std::io::Write::write_all(&mut std::io::stdout(), out.as_bytes());
        return Ok(());
    }
    let ui = Ui::new();
    let out = args.out.clone().unwrap_or_else(|| {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("results")
            .join(util::timestamp_dir())
    });
    let logs = out.join("logs");
    std::fs::create_dir_all(&logs).map_err(|e| format!("creating {}: {e}", logs.display()))?;
    let work_dir = args.work_dir.clone().unwrap_or_else(std::env::temp_dir);

    let needs_redis_server = args.redis_addr.is_none();
    if needs_redis_server {
        check_bin(&args.redis_bin)?;
    }
    let uses_rb = catalog(&s)
        .iter()
        .any(|w| matches!(w.kind, Kind::Rb { .. }) && s.selected(&w.id));
    if uses_rb && s.has_phase(Phase::Throughput) {
        check_bin(&args.redis_benchmark)?;
    }
    let sluice = if args.sluice_addr.is_some() {
        None
    } else {
        let bin = match &args.sluice_bin {
            // The servers start in their data directories: a relative path would not resolve.
            Some(b) if b.components().count() > 1 => std::fs::canonicalize(b).unwrap_or(b.clone()),
            Some(b) => b.clone(),
            None => build_sluice(&ui)?,
        };
        check_bin(&bin)?;
        Some(Launch::detect(bin))
    };
    let redis = Launch {
        bin: args.redis_bin.clone(),
        flavor: server::Flavor::Redis,
    };

    let info = RunInfo {
        date: util::timestamp_human(),
        mode: if s.quick { "quick".into() } else { "full".into() },
        machine: format!("{}; load average {} at the start", util::machine(), util::loadavg()),
        sluice: match (&args.sluice_addr, &sluice) {
            (Some(a), _) => format!("external server at {a}"),
            (None, Some(l)) => format!(
                "{} ({}){}",
                l.bin.display(),
                util::version_of(&l.bin),
                if l.flavor == server::Flavor::Sluice {
                    git_rev().map(|r| format!(", tree at {r}")).unwrap_or_default()
                } else {
                    String::new()
                }
            ),
            _ => String::new(),
        },
        redis: match &args.redis_addr {
            Some(a) => format!("external server at {a}"),
            None => format!("{} ({})", redis.bin.display(), util::version_of(&redis.bin)),
        },
        settings: format!(
            "{} reps, {} connections, load generator pipeline {}, {} client thread(s), {:.1} s runs after {:.2} s warm-up, redis-benchmark -n {}/{} at -P 1/-P 16, {}-entry read stream",
            s.reps,
            s.connections,
            s.pipeline,
            s.client_threads,
            s.duration.as_secs_f64(),
            s.warmup.as_secs_f64(),
            s.rb_requests_p1,
            s.rb_requests_pn,
            util::count(s.stream_entries)
        ),
        duration: String::new(),
    };
    let mut info = info;
    if s.has_phase(Phase::Fairness) {
        let f = &s.fair;
        info.settings += &format!(
            "; fairness: {} (Sluice) / {} (Redis) pipelined XRANGE of {} entries × {} B, greedy connection closed above {} MiB RSS, {} blocked readers for {:.0} s",
            f.xranges[0],
            f.xranges[1],
            util::count(f.entries),
            f.value_len,
            f.rss_limit >> 20,
            f.readers,
            f.duration.as_secs_f64()
        );
    }
    let publish = args.publishes().then(|| {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("results")
            .join("latest")
    });
    let mut ctx = Ctx {
        s,
        ui,
        sluice,
        redis,
        sluice_addr: args.sluice_addr.clone(),
        redis_addr: args.redis_addr.clone(),
        rb_bin: args.redis_benchmark.clone(),
        work_dir,
        logs,
        out: out.clone(),
        rows: Vec::new(),
        info,
        started: Instant::now(),
        publish,
    };
    ctx.ui.log(format!(
        "sluice-bench: {} mode, output in {}",
        ctx.info.mode,
        out.display()
    ));
    ctx.ui.log(format!("  sluice side: {}", ctx.info.sluice));
    ctx.ui.log(format!("  redis side:  {}", ctx.info.redis));

    if ctx.s.has_phase(Phase::Throughput) {
        throughput_phase(&mut ctx).await?;
    }
    if ctx.s.has_phase(Phase::Jobs) {
        jobs_phase(&mut ctx, &args).await?;
    }
    if ctx.s.has_phase(Phase::Queues) {
        queues_phase(&mut ctx, &args).await?;
    }
    let external = ctx.sluice_addr.is_some() || ctx.redis_addr.is_some();
    if ctx.s.has_phase(Phase::Memory) && ctx.s.selected("memory") {
        if external {
            ctx.ui
                .log("memory phase skipped: it needs servers started by the harness");
        } else {
            memory_phase(&mut ctx).await?;
        }
    }
    if ctx.s.has_phase(Phase::Restart) && ctx.s.selected("restart") {
        if external {
            ctx.ui
                .log("restart phase skipped: it needs servers started by the harness");
        } else {
            restart_phase(&mut ctx).await?;
        }
    }
    if ctx.s.has_phase(Phase::Fairness)
        && ["fair-xrange", "fair-blocked", "fair-del"]
            .iter()
            .any(|id| ctx.s.selected(id))
    {
        fairness_phase(&mut ctx).await?;
    }
    ctx.info.duration = format!("{:.0} s", ctx.started.elapsed().as_secs_f64());
    ctx.info.machine = format!(
        "{}, load average {} at the end",
        ctx.info.machine,
        util::loadavg()
    );
    write_outputs(&ctx)?;
    if let Some(latest) = &ctx.publish {
        std::fs::create_dir_all(latest).map_err(|e| e.to_string())?;
        for f in [
            "results.md",
            "results.csv",
            "runs.csv",
            "run.txt",
            "ratios.svg",
        ] {
            let _ = std::fs::copy(out.join(f), latest.join(f));
        }
        ctx.ui.log(format!(
            "copied the table and chart to {}",
            latest.display()
        ));
    }
    println!("{}", report::markdown(&ctx.info, &ctx.rows));
    println!(
        "wrote {0}/results.md, {0}/results.csv, {0}/runs.csv, {0}/ratios.svg (in {1:.0} s)",
        out.display(),
        ctx.started.elapsed().as_secs_f64()
    );
    Ok(())
}

fn check_bin(bin: &Path) -> Result<(), String> {
    let found = if bin.components().count() > 1 {
        bin.exists()
    } else {
        std::env::var_os("PATH")
            .map(|p| std::env::split_paths(&p).any(|d| d.join(bin).is_file()))
            .unwrap_or(false)
    };
    if found {
        Ok(())
    } else {
        Err(format!(
            "{} not found (install Debian's redis-server and redis-tools, or give its path)",
            bin.display()
        ))
    }
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

fn git_rev() -> Option<String> {
    let git = |args: &[&str]| {
        std::process::Command::new("git")
            .args(args)
            .current_dir(workspace_root())
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    let rev = git(&["rev-parse", "--short", "HEAD"]).filter(|r| !r.is_empty())?;
    let dirty = git(&["status", "--porcelain", "--untracked-files=no"])
        .map(|s| !s.is_empty())
        .unwrap_or(false);
    Some(if dirty {
        format!("{rev} + uncommitted changes")
    } else {
        rev
    })
}

/// `cargo build --release -p sluice-server --bin sluice`; returns the executable.
fn build_sluice(ui: &Ui) -> Result<PathBuf, String> {
    let root = workspace_root();
    ui.log("building Sluice: cargo build --release -p sluice-server --bin sluice");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let out = std::process::Command::new(cargo)
        .args([
            "build",
            "--release",
            "-p",
            "sluice-server",
            "--bin",
            "sluice",
            "--message-format=json-render-diagnostics",
        ])
        .current_dir(&root)
        .stderr(std::process::Stdio::inherit())
        .output()
        .map_err(|e| format!("running cargo: {e}"))?;
    if !out.status.success() {
        return Err("building Sluice failed (or pass --sluice-bin PATH)".into());
    }
    let text = String::from_utf8_lossy(&out.stdout);
    for line in text.lines() {
        if line.contains("\"reason\":\"compiler-artifact\"") && line.contains("\"name\":\"sluice\"")
        {
            if let Some(i) = line.find("\"executable\":\"") {
                let rest = &line[i + 14..];
                if let Some(j) = rest.find('"') {
                    return Ok(PathBuf::from(rest[..j].replace("\\\\", "\\")));
                }
            }
        }
    }
    Err("cargo built Sluice but did not say where the binary is (pass --sluice-bin PATH)".into())
}

fn write_outputs(ctx: &Ctx) -> Result<(), String> {
    report::write_all(&ctx.out, &ctx.info, &ctx.rows)
}

/// Starts (or connects to) the two servers at a durability level.
async fn start_pair(ctx: &Ctx, level: Fsync, tag: &str) -> Result<[Slot; 2], String> {
    let mk = |side: Side| -> PathBuf {
        ctx.logs
            .join(format!("{}-{}-{}.log", side.name(), level.name(), tag))
    };
    let a = match (&ctx.sluice_addr, &ctx.sluice) {
        (Some(addr), _) => Server::external(Side::Sluice, addr.clone()),
        (None, Some(l)) => {
            Server::start(Side::Sluice, l, level, &ctx.work_dir, mk(Side::Sluice)).await?
        }
        _ => return Err("no Sluice".into()),
    };
    let b = match &ctx.redis_addr {
        Some(addr) => Server::external(Side::Redis, addr.clone()),
        None => {
            Server::start(
                Side::Redis,
                &ctx.redis,
                level,
                &ctx.work_dir,
                mk(Side::Redis),
            )
            .await?
        }
    };
    for srv in [&a, &b] {
        let mut c = Conn::connect_retry(&srv.addr, Duration::from_secs(10))
            .await
            .map_err(|e| format!("{} at {}: {e}", srv.side.name(), srv.addr))?;
        if srv.is_external() {
            // Leftovers of an earlier run would change the results.
            let _ = c.cmd_str(&["DEL", STREAM_KEY]).await;
        }
    }
    Ok([
        Slot {
            server: a,
            stream: None,
            stream_err: None,
        },
        Slot {
            server: b,
            stream: None,
            stream_err: None,
        },
    ])
}

async fn stop_pair(pair: &mut [Slot; 2]) {
    for s in pair.iter_mut() {
        if s.server.is_external() {
            // Leave an external server as it was found.
            quiet(&s.server.addr, &["DEL", STREAM_KEY]).await;
        }
        s.server.stop(Duration::from_secs(60));
    }
}

fn params(s: &Settings) -> Params {
    Params {
        conns: s.connections,
        pipeline: s.pipeline,
        duration: s.duration,
        warmup: s.warmup,
    }
}

/// Sends commands; the first error reply means "unsupported".
async fn probe(addr: &str, cmds: &[Vec<&str>]) -> Outcome {
    let current = std::sync::Mutex::new(String::new());
    let go = async {
        let mut c = Conn::connect(addr).await.map_err(|e| e.to_string())?;
        for cmd in cmds {
            *current.lock().unwrap() = cmd.join(" ");
            let v = c.cmd_str(cmd).await.map_err(|e| e.to_string())?;
            if let Some(e) = v.err() {
                // Cleanup commands may fail harmlessly.
                if cmd[0] == "DEL" || e.starts_with("BUSYGROUP") {
                    continue;
                }
                return Ok(Some(format!("{}: {e}", cmd[0])));
            }
        }
        Ok::<_, String>(None)
    };
    match tokio::time::timeout(Duration::from_secs(10), go).await {
        Ok(Ok(None)) => Outcome::Ok(RunResult::value(0.0)),
        Ok(Ok(Some(e))) => Outcome::Unsupported(e),
        Ok(Err(e)) => Outcome::Failed(e),
        Err(_) => Outcome::Failed(format!(
            "no reply within 10 s to `{}`",
            current.lock().unwrap()
        )),
    }
}

fn probe_cmds(kind: Kind) -> Vec<Vec<&'static str>> {
    const K: &str = "bench:probe:s";
    let xadd = vec!["XADD", K, "*", "field", "1"];
    let group = vec![
        vec!["XGROUP", "CREATE", K, "pg", "0"],
        vec![
            "XREADGROUP",
            "GROUP",
            "pg",
            "c",
            "COUNT",
            "1",
            "STREAMS",
            K,
            ">",
        ],
        vec!["XACK", K, "pg", "0-1"],
    ];
    let mut v: Vec<Vec<&str>> = vec![vec!["DEL", K]];
    match kind {
        Kind::Rb {
            cmd: RbCmd::Ping, ..
        } => v.push(vec!["PING"]),
        Kind::Rb {
            cmd: RbCmd::Set, ..
        } => v.push(vec!["SET", "bench:probe", "xxx"]),
        Kind::Rb {
            cmd: RbCmd::Get, ..
        } => v.push(vec!["GET", "bench:probe"]),
        Kind::Rb {
            cmd: RbCmd::Evalsha,
            ..
        } => {
            v.push(vec!["SCRIPT", "LOAD", LOCK_RELEASE]);
            v.push(vec![
                "EVALSHA",
                LOCK_RELEASE_SHA,
                "1",
                "bench:probe",
                "token",
            ]);
        }
        Kind::Rb {
            cmd: RbCmd::Xadd | RbCmd::XaddCapped,
            ..
        }
        | Kind::Lg { lg: Lg::Xadd, .. } => v.push(xadd),
        Kind::Lg { lg: Lg::Xrange, .. } => {
            v.push(xadd);
            v.push(vec!["XRANGE", K, "-", "+", "COUNT", "10"]);
        }
        Kind::Lg { lg: Lg::Xread, .. } => {
            v.push(xadd);
            v.push(vec!["XREAD", "COUNT", "10", "STREAMS", K, "0-0"]);
        }
        Kind::Lg {
            lg: Lg::XreadGroup | Lg::Xack | Lg::GroupFlow,
            ..
        } => {
            v.push(xadd);
            v.extend(group);
        }
        Kind::Lg {
            lg: Lg::JobQueue, ..
        } => {
            v.push(xadd);
            v.extend(group);
            v.push(vec![
                "XREADGROUP",
                "GROUP",
                "pg",
                "c",
                "COUNT",
                "1",
                "BLOCK",
                "1",
                "STREAMS",
                K,
                ">",
            ]);
            v.push(vec!["XAUTOCLAIM", K, "pg", "c", "0", "0-0", "COUNT", "1"]);
        }
    }
    v.push(vec!["DEL", K]);
    v
}

fn lg_outcome(r: Result<loadgen::Stats, LgError>) -> Outcome {
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

/// A duration in milliseconds, as the fairness rows report them.
fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// A fairness row's PING max in ms; its note says when a PING was still unanswered at the end
/// (it counts in the max).
fn ping_max_result(max: Duration, unanswered: Option<Duration>) -> RunResult {
    let mut m = RunResult::value(ms(max));
    if let Some(w) = unanswered {
        m.note = format!(
            "a PING was still unanswered after {:.1} s (counted in the max)",
            w.as_secs_f64()
        );
    }
    m
}

/// Runs a command, ignoring the reply (cleanup).
async fn quiet(addr: &str, args: &[&str]) {
    let go = async {
        if let Ok(mut c) = Conn::connect(addr).await {
            let _ = c.cmd_str(args).await;
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(120), go).await;
    if args.first().is_some_and(|a| a.eq_ignore_ascii_case("DEL")) {
        settle_deletes(addr).await;
    }
}

/// After the bench deletes one of its own streams (between runs, untimed): redis-server frees
/// it inside DEL, while Sluice answers at once and its reaper deletes the data in the
/// background. Waits (up to 120 s) until Sluice reports none left (`sluice_dead_streams:0`),
/// so that no run pays for the deletion of an earlier run's stream, as none does on Redis.
/// Returns at once for a server without that field (Redis).
async fn settle_deletes(addr: &str) {
    let go = async {
        let mut c = Conn::connect(addr).await.ok()?;
        loop {
            let v = c.cmd_str(&["INFO", "persistence"]).await.ok()?;
            let text = String::from_utf8_lossy(v.as_bytes().unwrap_or(b"")).into_owned();
            let dead: u64 = text
                .lines()
                .find_map(|l| l.strip_prefix("sluice_dead_streams:"))?
                .trim()
                .parse()
                .ok()?;
            if dead == 0 {
                return Some(());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(120), go).await;
}

/// Runs a command that must not fail.
async fn must(addr: &str, args: &[&str]) -> Result<resp::Value, LgError> {
    let mut c = Conn::connect(addr).await?;
    let v = tokio::time::timeout(Duration::from_secs(60), c.cmd_str(args))
        .await
        .map_err(|_| LgError::Other(format!("{} timed out", args[0])))??;
    match v.err() {
        Some(e) => Err(LgError::Server(format!("{}: {e}", args[0]))),
        None => Ok(v),
    }
}

/// Loads the read stream into a server if it does not have it yet.
async fn ensure_stream(ctx: &Ctx, slot: &mut Slot) -> Result<StreamInfo, LgError> {
    if let Some(si) = slot.stream {
        return Ok(si);
    }
    if let Some(e) = &slot.stream_err {
        return Err(LgError::Other(format!(
            "loading the stream failed earlier: {e}"
        )));
    }
    let n = ctx.s.stream_entries;
    let pb = ctx.ui.entries(n, slot.server.side.name());
    pb.set_message(format!("loading {STREAM_KEY} for the read workloads"));
    quiet(&slot.server.addr, &["DEL", STREAM_KEY]).await;
    let r = loadgen::load_stream(
        &slot.server.addr,
        STREAM_KEY,
        n,
        ctx.s.connections,
        ctx.s.load_pipeline,
        &pb,
    )
    .await;
    pb.finish_and_clear();
    let l = match r {
        Ok(l) => l,
        Err(LgError::Server(e)) => return Err(LgError::Server(e)),
        Err(LgError::Other(e)) => {
            slot.stream_err = Some(e.clone());
            return Err(LgError::Other(e));
        }
    };
    ctx.ui.log(format!(
        "  {}: loaded {} entries in {STREAM_KEY} at {:.0}k entries/s",
        slot.server.side.name(),
        util::count(n),
        l.rate / 1e3
    ));
    let si = StreamInfo {
        len: n,
        first_ms: l.first.ms,
        last_ms: l.last.ms.max(l.first.ms),
    };
    slot.stream = Some(si);
    Ok(si)
}

fn u64_arg(buf: &mut Vec<u8>, n: u64) {
    let s = n.to_string();
    buf.extend_from_slice(s.as_bytes());
}

/// One run of a load-generator workload.
async fn run_lg(
    ctx: &Ctx,
    slot: &mut Slot,
    lg: Lg,
    pipeline: usize,
    level: &str,
    rep: u32,
) -> Outcome {
    let addr = slot.server.addr.clone();
    let p = Params {
        pipeline,
        ..params(&ctx.s)
    };
    let stream = if lg.needs_stream() {
        match ensure_stream(ctx, slot).await {
            Ok(s) => Some(s),
            Err(e) => return lg_outcome(Err(e)),
        }
    } else {
        None
    };
    let r = match lg {
        Lg::Xadd => {
            let key = format!("bench:xadd:{level}:{rep}");
            let k = key.clone().into_bytes();
            let gen: Gen = Arc::new(move |buf, rng, _| {
                let v = resp::rand12(rng.u64(..));
                resp::encode(buf, &[b"XADD", &k, b"*", b"field", &v]);
            });
            let r = loadgen::pipelined(&addr, &p, None, gen).await;
            quiet(&addr, &["DEL", &key]).await;
            r
        }
        Lg::Xrange | Lg::Xread => {
            let si = stream.unwrap();
            let is_range = lg == Lg::Xrange;
            let gen: Gen = Arc::new(move |buf, rng, _| {
                let ms = rng.u64(si.first_ms..=si.last_ms);
                let mut id = Vec::with_capacity(24);
                u64_arg(&mut id, ms);
                if is_range {
                    resp::encode(
                        buf,
                        &[b"XRANGE", STREAM_KEY.as_bytes(), &id, b"+", b"COUNT", b"10"],
                    );
                } else {
                    id.extend_from_slice(b"-0");
                    resp::encode(
                        buf,
                        &[
                            b"XREAD",
                            b"COUNT",
                            b"10",
                            b"STREAMS",
                            STREAM_KEY.as_bytes(),
                            &id,
                        ],
                    );
                }
            });
            loadgen::pipelined(&addr, &p, None, gen).await
        }
        Lg::XreadGroup | Lg::Xack | Lg::GroupFlow => {
            let si = stream.unwrap();
            let group = format!("bench-{}-{rep}", level);
            quiet(&addr, &["XGROUP", "DESTROY", STREAM_KEY, &group]).await;
            if let Err(e) = must(&addr, &["XGROUP", "CREATE", STREAM_KEY, &group, "0"]).await {
                return lg_outcome(Err(e));
            }
            let r = match lg {
                Lg::XreadGroup => {
                    let g = group.clone().into_bytes();
                    let consumers: Vec<Vec<u8>> =
                        (0..p.conns).map(|i| format!("c{i}").into_bytes()).collect();
                    let gen: Gen = Arc::new(move |buf, _rng, idx| {
                        resp::encode(
                            buf,
                            &[
                                b"XREADGROUP",
                                b"GROUP",
                                &g,
                                &consumers[idx],
                                b"COUNT",
                                b"1",
                                b"STREAMS",
                                STREAM_KEY.as_bytes(),
                                b">",
                            ],
                        );
                    });
                    loadgen::pipelined(&addr, &p, Some(si.len), gen).await
                }
                Lg::Xack => {
                    match loadgen::claim_pending(&addr, STREAM_KEY, &group, "acker", si.len).await {
                        Ok(ids) if ids.is_empty() => {
                            Err(LgError::Other("XREADGROUP delivered no entries".into()))
                        }
                        Ok(ids) => {
                            loadgen::xack(&addr, &p, STREAM_KEY, &group, Arc::new(ids)).await
                        }
                        Err(e) => Err(e),
                    }
                }
                _ => loadgen::group_flow(&addr, &p, STREAM_KEY, &group, 16, si.len).await,
            };
            quiet(&addr, &["XGROUP", "DESTROY", STREAM_KEY, &group]).await;
            r
        }
        Lg::JobQueue => {
            let key = format!("bench:jobs:{level}:{rep}");
            quiet(&addr, &["DEL", &key]).await;
            let r = loadgen::job_queue(&addr, &p, &key, ctx.s.reclaim_idle).await;
            quiet(&addr, &["DEL", &key]).await;
            r
        }
    };
    lg_outcome(r)
}

async fn run_rb(ctx: &Ctx, slot: &Slot, cmd: RbCmd, pipeline: usize, requests: u64) -> Outcome {
    if cmd == RbCmd::Evalsha {
        // A server revived since the probe has an empty script cache.
        match must(&slot.server.addr, &["SCRIPT", "LOAD", LOCK_RELEASE]).await {
            Ok(v) if v.as_bytes() == Some(LOCK_RELEASE_SHA.as_bytes()) => {}
            Ok(v) => {
                return Outcome::Failed(format!(
                    "SCRIPT LOAD answered {}, expected {LOCK_RELEASE_SHA}",
                    v.brief()
                ))
            }
            Err(LgError::Server(e)) => return Outcome::Unsupported(e),
            Err(LgError::Other(e)) => return Outcome::Failed(format!("SCRIPT LOAD: {e}")),
        }
    }
    let spec = RbSpec {
        command: cmd.command(),
        clients: ctx.s.connections,
        requests,
        pipeline,
        keyspace: 100_000,
    };
    // Generous: 20k requests/s at least.
    let timeout = Duration::from_secs(30 + spec.requests / 20_000);
    match rbench::run(&ctx.rb_bin, &slot.server.addr, &spec, timeout).await {
        Ok(r) => Outcome::Ok(RunResult {
            value: r.rps,
            latency: Some(r.latency),
            note: String::new(),
        }),
        Err(e) if e.contains("Error from server") => Outcome::Unsupported(e),
        Err(e) => Outcome::Failed(e),
    }
}

/// Restarts a crashed server with fresh data so the next workloads can run.
async fn revive(ctx: &Ctx, slot: &mut Slot) {
    if slot.server.alive() {
        return;
    }
    ctx.ui.log(format!(
        "  {} died; log tail:\n{}\n  starting a fresh one",
        slot.server.side.name(),
        slot.server.log_tail()
    ));
    slot.stream = None;
    slot.stream_err = None;
    if let Err(e) = slot.server.respawn_fresh(&ctx.work_dir).await {
        ctx.ui.log(format!(
            "  could not restart {}: {e}",
            slot.server.side.name()
        ));
    }
}

async fn throughput_phase(ctx: &mut Ctx) -> Result<(), String> {
    let all = catalog(&ctx.s);
    let external = ctx.sluice_addr.is_some() || ctx.redis_addr.is_some();
    let levels: Vec<Fsync> = if external {
        vec![Fsync::No]
    } else {
        ctx.s.levels.clone()
    };
    let plan: Vec<(Fsync, Vec<Workload>)> = levels
        .iter()
        .map(|&l| {
            (
                l,
                all.iter()
                    .filter(|w| w.runs_at(l) && ctx.s.selected(&w.id))
                    .cloned()
                    .collect::<Vec<_>>(),
            )
        })
        .filter(|(_, ws)| !ws.is_empty())
        .collect();
    let total: u64 =
        plan.iter().map(|(_, ws)| ws.len() as u64).sum::<u64>() * ctx.s.reps as u64 * 2;
    if total == 0 {
        return Ok(());
    }
    let bar = ctx.ui.steps(total, "throughput");
    for (level, workloads) in plan {
        let label = if external {
            "external".to_string()
        } else {
            level.name().to_string()
        };
        bar.set_message(format!("starting the servers at appendfsync {label}"));
        let mut pair = start_pair(ctx, level, "tp").await?;
        for w in &workloads {
            let mut row = Row::new("throughput", &w.id, &w.name, &label, w.unit);
            let mut verdict: [Option<Outcome>; 2] = [None, None];
            let rb_default = match w.kind {
                Kind::Rb { pipeline, .. } if pipeline > 1 => ctx.s.rb_requests_pn,
                _ => ctx.s.rb_requests_p1,
            };
            let mut rb_requests = [rb_default; 2];
            for (i, slot) in pair.iter_mut().enumerate() {
                revive(ctx, slot).await;
                match probe(&slot.server.addr, &probe_cmds(w.kind)).await {
                    Outcome::Ok(_) => {}
                    o => {
                        ctx.ui.log(format!(
                            "  {} [{label}] on {}: {:?}",
                            w.name,
                            slot.server.side.name(),
                            o
                        ));
                        verdict[i] = Some(o);
                    }
                }
            }
            for rep in 0..ctx.s.reps {
                for (i, slot) in pair.iter_mut().enumerate() {
                    let side = slot.server.side;
                    bar.set_message(format!(
                        "[{label}] {} — {} run {}/{}",
                        w.name,
                        side.name(),
                        rep + 1,
                        ctx.s.reps
                    ));
                    let o = match &verdict[i] {
                        Some(o) => o.clone(),
                        None => {
                            revive(ctx, slot).await;
                            let o = match w.kind {
                                Kind::Rb { cmd, pipeline } => {
                                    let o = run_rb(ctx, slot, cmd, pipeline, rb_requests[i]).await;
                                    if let Outcome::Ok(r) = &o {
                                        let fit = (r.value * ctx.s.rb_target.as_secs_f64()) as u64;
                                        rb_requests[i] =
                                            fit.clamp(5_000.min(rb_default), rb_default);
                                    }
                                    o
                                }
                                Kind::Lg { lg, pipeline } => {
                                    run_lg(ctx, slot, lg, pipeline, level.name(), rep).await
                                }
                            };
                            match &o {
                                Outcome::Unsupported(_) => verdict[i] = Some(o.clone()),
                                Outcome::Failed(e) => {
                                    ctx.ui.log(format!(
                                        "  {} [{label}] on {} run {}: failed: {e}",
                                        w.name,
                                        side.name(),
                                        rep + 1
                                    ));
                                    // A server that hangs would hang every repetition.
                                    if e.contains("timed out") {
                                        verdict[i] = Some(o.clone());
                                    }
                                }
                                Outcome::Ok(_) => {}
                            }
                            o
                        }
                    };
                    row.push(side, o);
                    bar.inc(1);
                }
            }
            if let Kind::Rb {
                cmd: RbCmd::Xadd | RbCmd::XaddCapped,
                ..
            } = w.kind
            {
                for slot in pair.iter() {
                    quiet(&slot.server.addr, &["DEL", "bench:rb-xadd"]).await;
                }
            }
            ctx.ui.log(format!("  {}", one_line(&row)));
            ctx.rows.push(row);
            write_outputs(ctx)?;
        }
        stop_pair(&mut pair).await;
    }
    bar.finish_and_clear();
    Ok(())
}

/// A one-line summary of a row, for the log.
fn one_line(row: &Row) -> String {
    let u = match row.unit {
        Unit::Bytes | Unit::Seconds => String::new(),
        u => format!(" {}", u.name()),
    };
    let side = |o: &[Outcome]| match crate::model::summarize(o) {
        crate::model::SideStatus::Measured(s) => format!("{}{u}", row.unit.fmt(s.median)),
        crate::model::SideStatus::Unsupported(_) => "unsupported".into(),
        crate::model::SideStatus::Failed(_) => "failed".into(),
        crate::model::SideStatus::NotRun => "-".into(),
    };
    let ratio = crate::model::pair_ratios(row)
        .map(|(m, _, _, _)| format!("{m:.2}"))
        .unwrap_or_else(|| "n/a".into());
    format!(
        "{} [{}]: sluice {}, redis {}, ratio {ratio}",
        row.name,
        row.level,
        side(&row.sluice),
        side(&row.redis),
    )
}

/// Loads `n` more entries into `key`; returns the load rate.
async fn load_more(ctx: &Ctx, slot: &Slot, key: &str, n: u64, what: &str) -> Result<f64, LgError> {
    let pb = ctx.ui.entries(n, slot.server.side.name());
    pb.set_message(what.to_string());
    let r = loadgen::load_stream(
        &slot.server.addr,
        key,
        n,
        ctx.s.connections,
        ctx.s.load_pipeline,
        &pb,
    )
    .await;
    pb.finish_and_clear();
    r.map(|l| l.rate)
}

fn err_outcome(e: LgError) -> Outcome {
    match e {
        LgError::Server(m) => Outcome::Unsupported(m),
        LgError::Other(m) => Outcome::Failed(m),
    }
}

async fn memory_phase(ctx: &mut Ctx) -> Result<(), String> {
    let sizes = ctx.s.mem_entries.clone();
    ctx.ui.log(format!(
        "memory phase: RSS after {:?} entries (appendfsync no)",
        sizes
    ));
    let mut pair = start_pair(ctx, Fsync::No, "mem").await?;
    let mut rows: Vec<Row> = Vec::new();
    let mut load_row = Row::new(
        "memory",
        "memory-load",
        "XADD load rate (50 conns × pipeline 64)",
        "no",
        Unit::EntriesPerSec,
    );
    let mut per_size: Vec<[Row; 3]> = sizes
        .iter()
        .map(|&n| {
            let c = util::count(n);
            [
                Row::new(
                    "memory",
                    &format!("memory-rss-{c}"),
                    &format!("RSS after {c} entries"),
                    "no",
                    Unit::Bytes,
                ),
                Row::new(
                    "memory",
                    &format!("memory-rss-per-entry-{c}"),
                    &format!("RSS per entry ({c})"),
                    "no",
                    Unit::BytesPerEntry,
                ),
                Row::new(
                    "memory",
                    &format!("memory-used-per-entry-{c}"),
                    &format!("used_memory per entry ({c})"),
                    "no",
                    Unit::BytesPerEntry,
                ),
            ]
        })
        .collect();
    for slot in pair.iter_mut() {
        let side = slot.server.side;
        tokio::time::sleep(Duration::from_millis(500)).await;
        let rss0 = slot.server.rss().unwrap_or(0);
        let used0 = server::used_memory(&slot.server.addr).await;
        let mut loaded = 0u64;
        let mut failure: Option<Outcome> = None;
        let mut load_secs = 0.0f64;
        for (i, &n) in sizes.iter().enumerate() {
            let rs = &mut per_size[i];
            if let Some(f) = &failure {
                for r in rs.iter_mut() {
                    r.push(side, f.clone());
                }
                continue;
            }
            match load_more(
                ctx,
                slot,
                "bench:mem",
                n - loaded,
                &format!("memory: loading to {}", util::count(n)),
            )
            .await
            {
                Ok(rate) => {
                    load_secs += (n - loaded) as f64 / rate;
                    loaded = n;
                }
                Err(e) => {
                    let o = err_outcome(e);
                    for r in rs.iter_mut() {
                        r.push(side, o.clone());
                    }
                    failure = Some(o);
                    continue;
                }
            }
            // Let background work (flushes, compaction, lazy frees) settle.
            tokio::time::sleep(Duration::from_secs(if ctx.s.quick { 1 } else { 3 })).await;
            match slot.server.rss() {
                Some(rss) => {
                    rs[0].push(side, Outcome::Ok(RunResult::value(rss as f64)));
                    rs[1].push(
                        side,
                        Outcome::Ok(RunResult::value(rss.saturating_sub(rss0) as f64 / n as f64)),
                    );
                }
                None => {
                    rs[0].push(side, Outcome::Failed("no RSS".into()));
                    rs[1].push(side, Outcome::Failed("no RSS".into()));
                }
            }
            match (server::used_memory(&slot.server.addr).await, used0) {
                (Some(u), Some(u0)) => rs[2].push(
                    side,
                    Outcome::Ok(RunResult::value(u.saturating_sub(u0) as f64 / n as f64)),
                ),
                _ => rs[2].push(
                    side,
                    Outcome::Unsupported("no used_memory in INFO memory".into()),
                ),
            }
        }
        match &failure {
            Some(f) => load_row.push(side, f.clone()),
            None => load_row.push(
                side,
                Outcome::Ok(RunResult::value(loaded as f64 / load_secs.max(1e-9))),
            ),
        }
        ctx.ui.log(format!("  {} loaded", side.name()));
        // Free the memory before the other server loads.
        slot.server.stop(Duration::from_secs(60));
    }
    stop_pair(&mut pair).await;
    for [a, b, c] in per_size {
        rows.extend([a, b, c]);
    }
    rows.push(load_row);
    for r in &rows {
        ctx.ui.log(format!("  {}", one_line(r)));
    }
    ctx.rows.extend(rows);
    write_outputs(ctx)
}

async fn restart_phase(ctx: &mut Ctx) -> Result<(), String> {
    let n = ctx.s.restart_entries;
    let c = util::count(n);
    ctx.ui.log(format!(
        "restart phase: {c} entries at appendfsync everysec (Redis: AOF everysec)"
    ));
    let mut pair = start_pair(ctx, Fsync::Everysec, "restart").await?;
    let mut disk = Row::new(
        "disk",
        &format!("restart-disk-{c}"),
        &format!("disk per entry ({c})"),
        "everysec",
        Unit::BytesPerEntry,
    );
    let mut disk_total = Row::new(
        "disk",
        &format!("restart-disk-total-{c}"),
        &format!("data dir after {c} entries"),
        "everysec",
        Unit::Bytes,
    );
    let mut time = Row::new(
        "restart",
        &format!("restart-time-{c}"),
        &format!("start to first PONG ({c} entries)"),
        "everysec",
        Unit::Seconds,
    );
    let mut rss = Row::new(
        "restart",
        &format!("restart-rss-{c}"),
        &format!("RSS after restart ({c} entries)"),
        "everysec",
        Unit::Bytes,
    );
    let mut failed: [Option<Outcome>; 2] = [None, None];
    for (i, slot) in pair.iter_mut().enumerate() {
        let side = slot.server.side;
        let d0 = slot.server.disk_bytes().unwrap_or(0);
        match load_more(ctx, slot, "bench:r", n, "restart: loading").await {
            Ok(_) => {
                // appendfsync everysec: give the last second time to reach the disk.
                tokio::time::sleep(Duration::from_secs(3)).await;
                let d = slot.server.disk_bytes().unwrap_or(0);
                disk.push(
                    side,
                    Outcome::Ok(RunResult::value(d.saturating_sub(d0) as f64 / n as f64)),
                );
                disk_total.push(side, Outcome::Ok(RunResult::value(d as f64)));
            }
            Err(e) => {
                let o = err_outcome(e);
                disk.push(side, o.clone());
                disk_total.push(side, o.clone());
                failed[i] = Some(o);
            }
        }
    }
    let steps = ctx.ui.steps(ctx.s.reps as u64 * 2, "restart");
    for rep in 0..ctx.s.reps {
        for (i, slot) in pair.iter_mut().enumerate() {
            let side = slot.server.side;
            steps.set_message(format!(
                "{} restart {}/{}",
                side.name(),
                rep + 1,
                ctx.s.reps
            ));
            if let Some(o) = &failed[i] {
                time.push(side, o.clone());
                rss.push(side, o.clone());
                steps.inc(1);
                continue;
            }
            match slot.server.restart_timed(Duration::from_secs(1800)).await {
                Ok(d) => {
                    let mut r = RunResult::value(d.as_secs_f64());
                    if let Ok(v) = must(&slot.server.addr, &["XLEN", "bench:r"]).await {
                        if v.as_int() != Some(n as i64) {
                            r.note = format!("XLEN after restart is {}, expected {n}", v.brief());
                        }
                    }
                    time.push(side, Outcome::Ok(r));
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    match slot.server.rss() {
                        Some(b) => rss.push(side, Outcome::Ok(RunResult::value(b as f64))),
                        None => rss.push(side, Outcome::Failed("no RSS".into())),
                    }
                }
                Err(e) => {
                    ctx.ui.log(format!("  {} restart failed: {e}", side.name()));
                    time.push(side, Outcome::Failed(e.clone()));
                    rss.push(side, Outcome::Failed(e.clone()));
                    failed[i] = Some(Outcome::Failed(e));
                }
            }
            steps.inc(1);
        }
    }
    steps.finish_and_clear();
    stop_pair(&mut pair).await;
    for r in [&disk, &disk_total, &time, &rss] {
        ctx.ui.log(format!("  {}", one_line(r)));
    }
    ctx.rows.extend([disk, disk_total, time, rss]);
    write_outputs(ctx)
}

const FAIR_BIG_KEY: &str = "bench:fair:big";

/// For a server that died during a run: its log's last line (its full log is in `logs/`).
fn died_msg(server: &Server) -> String {
    let tail = server.log_tail();
    let last = tail.lines().last().unwrap_or("");
    format!("the server died during the run; last log line: {last}")
}

fn mib(b: u64) -> String {
    format!("{:.0} MiB", b as f64 / (1024.0 * 1024.0))
}

/// The fairness phase: a fresh pair at `no` (Redis without AOF). See `fairness.rs`.
async fn fairness_phase(ctx: &mut Ctx) -> Result<(), String> {
    let f = ctx.s.fair.clone();
    let external = ctx.sluice_addr.is_some() || ctx.redis_addr.is_some();
    let label = if external { "external" } else { "no" };
    ctx.ui.log(format!(
        "fairness phase (appendfsync no; Redis without AOF): {} / {} pipelined XRANGE, {} blocked readers",
        f.xranges[0], f.xranges[1], f.readers
    ));
    let mut pair = start_pair(ctx, Fsync::No, "fair").await?;
    let mut rows: Vec<Row> = Vec::new();

    if ctx.s.selected("fair-xrange") {
        let [ns, nr] = f.xranges;
        let counts = if ns == nr {
            format!("×{ns}")
        } else {
            format!("×{ns} (Redis ×{nr})")
        };
        let row = |id: &str, what: &str, unit: Unit| {
            Row::new(
                "fairness",
                &format!("fair-xrange-{id}"),
                &format!("XRANGE {counts}: {what}"),
                label,
                unit,
            )
        };
        let mut p50 = row("ping-p50", "PING p50", Unit::Millis);
        let mut p99 = row("ping-p99", "PING p99", Unit::Millis);
        let mut pmax = row("ping-max", "PING max", Unit::Millis);
        let mut rss = row("rss", "server peak RSS", Unit::Bytes);
        let mut time = row("time", "greedy client's time", Unit::Seconds);
        time.comparable = ns == nr;
        let mut reply_len: [Option<Result<u64, Outcome>>; 2] = [None, None];
        let steps = ctx.ui.steps(f.xrange_reps as u64 * 2, "fairness");
        for rep in 0..f.xrange_reps {
            for (i, slot) in pair.iter_mut().enumerate() {
                let side = slot.server.side;
                steps.set_message(format!(
                    "{} pipelined XRANGE on {} (run {}/{})",
                    f.xranges[i],
                    side.name(),
                    rep + 1,
                    f.xrange_reps
                ));
                if !slot.server.alive() {
                    revive(ctx, slot).await;
                    reply_len[i] = None;
                }
                if reply_len[i].is_none() {
                    let r = fairness::load_big_stream(
                        &slot.server.addr,
                        FAIR_BIG_KEY,
                        f.entries,
                        f.value_len,
                    )
                    .await
                    .map_err(err_outcome);
                    reply_len[i] = Some(r);
                }
                let len = match reply_len[i].clone() {
                    Some(Ok(len)) => len,
                    other => {
                        let o = match other {
                            Some(Err(o)) => o,
                            _ => Outcome::Failed("the stream was not loaded".into()),
                        };
                        for r in [&mut p50, &mut p99, &mut pmax, &mut rss, &mut time] {
                            r.push(side, o.clone());
                        }
                        steps.inc(1);
                        continue;
                    }
                };
                let params = XrangeParams {
                    key: FAIR_BIG_KEY.into(),
                    commands: f.xranges[i],
                    reply_len: len,
                    entries: f.entries,
                    hold: f.hold,
                    ping_every: f.ping_every,
                    rss_limit: f.rss_limit,
                    timeout: f.xrange_timeout,
                };
                let r =
                    fairness::xrange_pipeline(&slot.server.addr, slot.server.pid(), &params).await;
                let died = !slot.server.alive();
                match (r, died) {
                    (Ok(run), false) => {
                        // The histogram rounds up within its precision: never above the
                        // exact maximum.
                        let q = |h: &hdrhistogram::Histogram<u64>, x: f64| {
                            (h.value_at_quantile(x) as f64 / 1e6).min(ms(run.ping_max))
                        };
                        let answered = run.pings.len();
                        if answered == 0 {
                            let o = Outcome::Failed(format!(
                                "no PING answered in {:.1} s",
                                ms(run.ping_max) / 1e3
                            ));
                            p50.push(side, o.clone());
                            p99.push(side, o);
                        } else {
                            let mut a = RunResult::value(q(&run.pings, 0.5));
                            a.note = format!(
                                "{answered} PING(s) answered; the greedy client ran {:.1} s",
                                run.total.as_secs_f64()
                            );
                            p50.push(side, Outcome::Ok(a));
                            p99.push(side, Outcome::Ok(RunResult::value(q(&run.pings, 0.99))));
                        }
                        pmax.push(
                            side,
                            Outcome::Ok(ping_max_result(run.ping_max, run.ping_unanswered)),
                        );
                        match run.rss_peak {
                            Some(peak) => {
                                let mut r = RunResult::value(peak as f64);
                                r.note = format!(
                                    "RSS {} before the pipeline (sampled VmRSS every 10 ms, and VmHWM)",
                                    run.rss_before.map(mib).unwrap_or_else(|| "?".into())
                                );
                                if let Some(s) = &run.stopped {
                                    r.note += &format!("; {s}");
                                }
                                rss.push(side, Outcome::Ok(r));
                            }
                            None => rss.push(
                                side,
                                Outcome::Failed("external server: no process to measure".into()),
                            ),
                        }
                        let read = run.replies as f64 * len as f64;
                        match &run.stopped {
                            Some(s) => time.push(side, Outcome::Failed(s.clone())),
                            None => {
                                let mut t = RunResult::value(run.total.as_secs_f64());
                                t.note = format!(
                                    "{} replies of {:.2} MB ({:.1} GB) read, nothing read for the first {:.1} s",
                                    run.replies,
                                    len as f64 / 1e6,
                                    read / 1e9,
                                    f.hold.as_secs_f64()
                                );
                                time.push(side, Outcome::Ok(t));
                            }
                        }
                    }
                    (r, _) => {
                        let o = match r {
                            _ if died => Outcome::Failed(died_msg(&slot.server)),
                            Err(e) => err_outcome(e),
                            Ok(_) => Outcome::Failed("no result".into()),
                        };
                        ctx.ui
                            .log(format!("  XRANGE pipeline on {}: {:?}", side.name(), o));
                        for r in [&mut p50, &mut p99, &mut pmax, &mut rss, &mut time] {
                            r.push(side, o.clone());
                        }
                    }
                }
                steps.inc(1);
            }
        }
        steps.finish_and_clear();
        for slot in pair.iter() {
            quiet(&slot.server.addr, &["DEL", FAIR_BIG_KEY]).await;
        }
        for r in [p50, p99, pmax, rss, time] {
            ctx.ui.log(format!("  {}", one_line(&r)));
            rows.push(r);
        }
    }

    if ctx.s.selected("fair-blocked") {
        // The same producer with no reader first (each repetition, on each server): the
        // baseline that tells the readers' cost from the machine's noise.
        let mut base = Row::new(
            "fairness",
            "fair-blocked-baseline",
            "1-conn XADD, no reader (baseline)",
            label,
            Unit::OpsPerSec,
        );
        let mut row = Row::new(
            "fairness",
            "fair-blocked-xadd",
            &format!("1-conn XADD, {} readers blocked", f.readers),
            label,
            Unit::OpsPerSec,
        );
        let steps = ctx.ui.steps(ctx.s.reps as u64 * 4, "fairness");
        let mut verdict: [[Option<Outcome>; 2]; 2] = Default::default();
        for rep in 0..ctx.s.reps {
            for (i, slot) in pair.iter_mut().enumerate() {
                for (j, readers) in [0, f.readers].into_iter().enumerate() {
                    let side = slot.server.side;
                    steps.set_message(format!(
                        "XADD with {readers} blocked readers on {} (run {}/{})",
                        side.name(),
                        rep + 1,
                        ctx.s.reps
                    ));
                    let verdict = &mut verdict[j];
                    let o = match &verdict[i] {
                        Some(o) => o.clone(),
                        None => {
                            revive(ctx, slot).await;
                            let key = format!("bench:fair:q:{rep}:{j}");
                            let r = fairness::blocked_readers(
                                &slot.server.addr,
                                &key,
                                readers,
                                f.duration,
                            )
                            .await;
                            let o = if slot.server.alive() {
                                lg_outcome(r)
                            } else {
                                Outcome::Failed(died_msg(&slot.server))
                            };
                            match &o {
                                Outcome::Unsupported(_) => verdict[i] = Some(o.clone()),
                                Outcome::Failed(e) => ctx.ui.log(format!(
                                "  XADD with {readers} blocked readers on {} run {}: failed: {e}",
                                side.name(),
                                rep + 1
                            )),
                                Outcome::Ok(_) => {}
                            }
                            o
                        }
                    };
                    if j == 0 {
                        base.push(side, o)
                    } else {
                        row.push(side, o)
                    }
                    steps.inc(1);
                }
            }
        }
        steps.finish_and_clear();
        for r in [base, row] {
            ctx.ui.log(format!("  {}", one_line(&r)));
            rows.push(r);
        }
    }
    if ctx.s.selected("fair-del") {
        let row = |id: &str, what: &str| {
            Row::new(
                "fairness",
                &format!("fair-del-{id}"),
                &format!("DEL of a {}k-entry stream: {what}", f.del_entries / 1000),
                label,
                Unit::Millis,
            )
        };
        let mut p99 = row("ping-p99", "PING p99");
        let mut pmax = row("ping-max", "PING max");
        let mut del = row("reply", "DEL reply");
        let params = fairness::DelParams {
            key: "bench:fair:del".into(),
            entries: f.del_entries,
            ping_every: Duration::from_millis(1),
            window: f.del_window,
        };
        let steps = ctx.ui.steps(ctx.s.reps as u64 * 2, "fairness");
        for rep in 0..ctx.s.reps {
            for slot in pair.iter_mut() {
                let side = slot.server.side;
                steps.set_message(format!(
                    "DEL of a {}-entry stream on {} (run {}/{})",
                    f.del_entries,
                    side.name(),
                    rep + 1,
                    ctx.s.reps
                ));
                revive(ctx, slot).await;
                let r = fairness::big_del(&slot.server.addr, &params).await;
                let died = !slot.server.alive();
                match (r, died) {
                    (Ok(run), false) => {
                        let q =
                            (run.pings.value_at_quantile(0.99) as f64 / 1e6).min(ms(run.ping_max));
                        let mut a = RunResult::value(q);
                        a.note = format!(
                            "{} PINGs answered in the {:.0} s after the DEL",
                            run.pings.len(),
                            f.del_window.as_secs_f64()
                        );
                        p99.push(side, Outcome::Ok(a));
                        pmax.push(
                            side,
                            Outcome::Ok(ping_max_result(run.ping_max, run.ping_unanswered)),
                        );
                        del.push(side, Outcome::Ok(RunResult::value(ms(run.del))));
                    }
                    (r, _) => {
                        let o = match r {
                            _ if died => Outcome::Failed(died_msg(&slot.server)),
                            Err(e) => err_outcome(e),
                            Ok(_) => Outcome::Failed("no result".into()),
                        };
                        ctx.ui.log(format!("  big DEL on {}: {:?}", side.name(), o));
                        for r in [&mut p99, &mut pmax, &mut del] {
                            r.push(side, o.clone());
                        }
                    }
                }
                // The next run starts with the stream reclaimed (Sluice's reaper).
                quiet(&slot.server.addr, &["DEL", &params.key]).await;
                steps.inc(1);
            }
        }
        steps.finish_and_clear();
        for r in [p99, pmax, del] {
            ctx.ui.log(format!("  {}", one_line(&r)));
            rows.push(r);
        }
    }
    stop_pair(&mut pair).await;
    ctx.rows.extend(rows);
    write_outputs(ctx)
}

/// The queues phase (`queues.rs`); skipped when the servers are external.
async fn queues_phase(ctx: &mut Ctx, args: &Args) -> Result<(), String> {
    let Some(sluice) = ctx.sluice.clone() else {
        ctx.ui
            .log("queues phase skipped: it needs a Sluice started by the harness");
        return Ok(());
    };
    let qs = crate::queues::QueueSettings::new(&ctx.s, args.queue_delayed);
    ctx.info.settings += &format!("; {}", qs.describe());
    let env = crate::queues::Env {
        ui: ctx.ui.clone(),
        s: ctx.s.clone(),
        sluice,
        redis: ctx.redis.clone(),
        work_dir: ctx.work_dir.clone(),
        logs: ctx.logs.clone(),
    };
    crate::queues::run(&env, &qs, &mut |row| {
        ctx.rows.push(row);
        write_outputs(ctx)
    })
    .await
}

/// The jobs phase (Sluice against Disque, `jobs.rs`); skipped, saying why, when disque-server
/// is missing or the servers are external.
async fn jobs_phase(ctx: &mut Ctx, args: &Args) -> Result<(), String> {
    let bin = jobs::disque_bin(args);
    let Some(sluice) = ctx.sluice.clone() else {
        ctx.ui.log(
            "jobs phase skipped: it needs a Sluice started by the harness (not --sluice-addr)",
        );
        return Ok(());
    };
    if check_bin(&bin).is_err() {
        ctx.ui.log(format!(
            "jobs phase skipped: disque-server not found at {} (build it with scripts/build-disque.sh, or pass --disque-bin PATH)",
            bin.display()
        ));
        return Ok(());
    }
    let js = jobs::JobSettings::new(args, &ctx.s);
    ctx.info.redis += &format!(
        "; jobs rows: Disque {} ({})",
        bin.display(),
        util::version_of(&bin)
    );
    ctx.info.settings += &format!("; {}", js.describe());
    let env = jobs::Env {
        ui: ctx.ui.clone(),
        s: ctx.s.clone(),
        sluice,
        disque: jobs::disque_launch(bin),
        work_dir: ctx.work_dir.clone(),
        logs: ctx.logs.clone(),
    };
    jobs::run(&env, &js, &mut |row| {
        ctx.rows.push(row);
        write_outputs(ctx)
    })
    .await
}
