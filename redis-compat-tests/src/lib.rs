//! Differential test harness: the same commands are sent to a real
//! `redis-server` (7.0.15, the reference) and to Sluice over raw TCP, and
//! the replies are compared byte for byte, over RESP2 and RESP3.
//!
//! A test target (`tests/*.rs`, `harness = false`) is just:
//!
//! ```no_run
//! use redis_compat_tests::*;
//!
//! fn main() {
//!     run(vec![
//!         case("set_get", &["SET {k} v", "GET {k}", "GET {k}missing"]),
//!         case("ttl", &["SET {k} v EX 100", "~TTL {k}"]),
//!     ]);
//! }
//! ```
//!
//! See `README.md` for the step syntax and the environment variables.

pub mod case;
pub mod client;
pub mod disque;
pub mod pred;
pub mod resp;
pub mod rng;
pub mod server;

use std::sync::Arc;
use std::time::Duration;

pub use case::{case, check, pair, sluice_check, sluice_only, step, Case, Expect, Proto, Step};
pub use client::{Conn, Outcome, Reply};
pub use resp::Frame;
pub use rng::{seed_range, Rng};
pub use server::{DisquePair, ServerPair};

use libtest_mimic::{Arguments, Failed, Trial};

/// Per-read timeout, overridable with `COMPAT_TIMEOUT_MS`.
fn read_timeout() -> Duration {
    let ms = std::env::var("COMPAT_TIMEOUT_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    Duration::from_millis(ms)
}

/// Run the cases in parallel against one server pair (cases must use
/// `{k}`-derived keys so they do not see each other).
pub fn run(cases: Vec<Case>) -> ! {
    run_suite(cases, false)
}

/// Like [`run`], for cases that spend their time waiting (blocking commands,
/// `!silence`, `!sleep`) rather than working: unless `--test-threads` is
/// given, up to 16 cases run at a time even on a machine with fewer CPUs.
pub fn run_waiting(cases: Vec<Case>) -> ! {
    let mut args = Arguments::from_args();
    if args.test_threads.is_none() {
        let cpus = std::thread::available_parallelism().map_or(1, usize::from);
        args.test_threads = Some(cpus.max(16));
    }
    run_suite_with(cases, false, args)
}

/// Run the cases one at a time, with `FLUSHALL` on both servers before each
/// run: for cases that look at the whole keyspace (DBSIZE, KEYS *, SCAN,
/// FLUSHDB, FLUSHALL, SELECT).
pub fn run_isolated(cases: Vec<Case>) -> ! {
    run_suite(cases, true)
}

fn run_suite(cases: Vec<Case>, isolated: bool) -> ! {
    run_suite_with(cases, isolated, Arguments::from_args())
}

fn run_suite_with(cases: Vec<Case>, isolated: bool, mut args: Arguments) -> ! {
    if isolated {
        args.test_threads = Some(1);
    }
    let mut seen = std::collections::HashSet::new();
    for c in &cases {
        assert!(
            seen.insert(c.name.clone()),
            "duplicate case name {:?}",
            c.name
        );
    }

    // Trials are built first so that a filter matching nothing, or --list,
    // starts no server.
    let shared: Arc<std::sync::OnceLock<Arc<case::RunCtx>>> = Arc::new(std::sync::OnceLock::new());
    let sluice_is_redis = std::env::var_os("SLUICE_BIN").is_some_and(|p| {
        std::path::Path::new(&p)
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with("redis-server"))
    });
    let mut trials = Vec::new();
    for c in cases {
        let c = Arc::new(c);
        for &proto in &c.protos {
            let c = Arc::clone(&c);
            let ctx = Arc::clone(&shared);
            let ignore = sluice_is_redis && c.has_sluice_only();
            trials.push(
                Trial::test(format!("{}::{}", c.name, proto.label()), move || {
                    let ctx = ctx.get().expect("servers started");
                    // Exclusive cases hold the gate for writing, all others
                    // for reading: an exclusive case runs alone.
                    let _gate = Gate::enter(c.exclusive);
                    if isolated {
                        flushall(ctx)?;
                    }
                    case::run_case(&c, proto, ctx).map_err(Failed::from)
                })
                .with_ignored_flag(ignore),
            );
        }
    }

    let will_run = !args.list && trials.iter().any(|t| !args.is_filtered_out(t));
    let servers = will_run.then(ServerPair::start);
    if let Some(s) = &servers {
        let _ = shared.set(Arc::new(case::RunCtx::redis(
            [s.redis.addr, s.sluice.addr],
            read_timeout(),
            trace_on(),
        )));
        if !args.quiet {
            eprintln!(
                "compat: redis {} on {}, sluice {} on {}",
                s.redis.bin.display(),
                s.redis.addr,
                s.sluice.bin.display(),
                s.sluice.addr
            );
        }
    }
    run_and_exit(&args, trials, servers)
}

fn trace_on() -> bool {
    std::env::var_os("COMPAT_TRACE").is_some_and(|v| v != "0")
}

/// How a Disque suite shares its servers.
#[derive(Clone, Copy, PartialEq, Eq)]
enum DisqueMode {
    /// One server pair; cases in parallel (own queue names from `{k}`).
    Shared { waiting: bool },
    /// A fresh server pair for every case: for cases that look at every
    /// job or queue of the server (QSCAN, JSCAN without QUEUE, INFO jobs).
    Fresh,
}

/// Disque-differential cases: the same commands on a real disque-server
/// (1.0-rc1, built by `scripts/build-disque.sh`) and on Sluice, in parallel
/// on one pair of servers. Cases run over RESP2 only (Disque has no RESP3);
/// job and node IDs are normalised and `{idN}` expands to each server's own
/// IDs (see [`disque`]); `.disque_port()` cases talk to Sluice's
/// `--disque-port` listener. Without a disque-server every case is reported
/// as ignored, with one message saying why.
pub fn run_disque(cases: Vec<Case>) -> ! {
    run_disque_suite(cases, DisqueMode::Shared { waiting: false })
}

/// [`run_disque`] for cases that mostly wait (blocking GETJOB, timers): up to
/// 16 at a time (see [`run_waiting`]).
pub fn run_disque_waiting(cases: Vec<Case>) -> ! {
    run_disque_suite(cases, DisqueMode::Shared { waiting: true })
}

/// [`run_disque`] with a fresh pair of servers for every case (see
/// [`DisqueMode::Fresh`]): for cases that see the whole server.
pub fn run_disque_fresh(cases: Vec<Case>) -> ! {
    run_disque_suite(cases, DisqueMode::Fresh)
}

fn run_disque_suite(cases: Vec<Case>, mode: DisqueMode) -> ! {
    let mut args = Arguments::from_args();
    if mode == (DisqueMode::Shared { waiting: true }) && args.test_threads.is_none() {
        let cpus = std::thread::available_parallelism().map_or(1, usize::from);
        args.test_threads = Some(cpus.max(16));
    }
    let mut seen = std::collections::HashSet::new();
    for c in &cases {
        assert!(
            seen.insert(c.name.clone()),
            "duplicate case name {:?}",
            c.name
        );
    }
    // Why the whole suite is skipped, if it is.
    let skip: Option<String> = match server::disque_bin() {
        Err(why) => Some(why),
        Ok(_)
            if std::env::var_os("SLUICE_BIN")
                .is_some_and(|p| server::is_named(std::path::Path::new(&p), "redis-server")) =>
        {
            Some("SLUICE_BIN is a redis-server (the Redis validation run)".into())
        }
        Ok(_) => None,
    };
    let disque_bin = server::disque_bin().ok();
    let shared: Arc<std::sync::OnceLock<Arc<case::RunCtx>>> = Arc::new(std::sync::OnceLock::new());
    let mut trials = Vec::new();
    for c in cases {
        let c = Arc::new(c);
        // Disque predates RESP3: its cases run over RESP2 only.
        let proto = Proto::Resp2;
        let ctx = Arc::clone(&shared);
        let skip_why = skip.clone();
        let bin = disque_bin.clone();
        let cc = Arc::clone(&c);
        trials.push(
            Trial::test(format!("{}::{}", c.name, proto.label()), move || {
                if let Some(why) = skip_why {
                    return Err(format!("skipped: {why}").into());
                }
                let _gate = Gate::enter(cc.exclusive);
                match mode {
                    DisqueMode::Shared { .. } => {
                        let ctx = ctx.get().expect("servers started");
                        case::run_case(&cc, proto, ctx).map_err(Failed::from)
                    }
                    DisqueMode::Fresh => {
                        let bin = bin.expect("disque-server found");
                        let pair = DisquePair::start(&bin).map_err(Failed::from)?;
                        let ctx = disque_ctx(&pair);
                        let r = case::run_case(&cc, proto, &ctx);
                        if r.is_err() {
                            print_log_tail(&pair.sluice);
                        }
                        r.map_err(Failed::from)
                    }
                }
            })
            .with_ignored_flag(skip.is_some()),
        );
    }
    let will_run = !args.list && trials.iter().any(|t| !args.is_filtered_out(t));
    if let Some(why) = &skip {
        if will_run && !args.quiet {
            let n = trials.iter().filter(|t| !args.is_filtered_out(t)).count();
            eprintln!("compat: {why}: skipping {n} Disque-differential cases");
        }
        let conclusion = libtest_mimic::run(&args, trials);
        conclusion.exit()
    }
    let mut pair = None;
    if will_run && matches!(mode, DisqueMode::Shared { .. }) {
        let bin = disque_bin.expect("disque-server found");
        let p = DisquePair::start(&bin).unwrap_or_else(|e| panic!("{e}"));
        let _ = shared.set(Arc::new(disque_ctx(&p)));
        if !args.quiet {
            eprintln!(
                "compat: disque {} on {}, sluice {} on {} (Disque port: {})",
                p.disque.bin.display(),
                p.disque.addr,
                p.sluice.bin.display(),
                p.sluice.addr,
                match &p.sluice_disque {
                    Ok(a) => a.to_string(),
                    Err(e) => e.clone(),
                }
            );
        }
        pair = Some(p);
    }
    let conclusion = libtest_mimic::run(&args, trials);
    if conclusion.has_failed() {
        if let Some(p) = &pair {
            print_log_tail(&p.sluice);
        }
    }
    drop(pair);
    conclusion.exit()
}

fn disque_ctx(p: &DisquePair) -> case::RunCtx {
    case::RunCtx {
        addrs: [p.disque.addr, p.sluice.addr],
        timeout: read_timeout(),
        trace: trace_on(),
        names: ["disque", "sluice"],
        disque_addrs: Some(p.sluice_disque.clone().map(|s| [p.disque.addr, s])),
        job_ids: true,
    }
}

fn print_log_tail(s: &server::Server) {
    let log = s.log();
    let tail: Vec<&str> = log.lines().rev().take(40).collect();
    if !tail.is_empty() {
        eprintln!("--- last lines of the {} server's output ---", s.name);
        for l in tail.iter().rev() {
            eprintln!("{l}");
        }
    }
}

/// Runs the trials, shows the tail of Sluice's log if any failed, stops the servers and exits
/// with libtest's status (shared by every test target that starts a server pair).
pub fn run_and_exit(
    args: &libtest_mimic::Arguments,
    trials: Vec<libtest_mimic::Trial>,
    servers: Option<ServerPair>,
) -> ! {
    let conclusion = libtest_mimic::run(args, trials);
    if conclusion.has_failed() {
        if let Some(s) = &servers {
            print_log_tail(&s.sluice);
        }
    }
    // Conclusion::exit() does not run destructors: kill the servers first.
    drop(servers);
    conclusion.exit()
}

/// The lock that lets a [`Case::exclusive`] case run alone.
enum Gate {
    Shared(#[allow(dead_code)] std::sync::RwLockReadGuard<'static, ()>),
    Alone(#[allow(dead_code)] std::sync::RwLockWriteGuard<'static, ()>),
}

impl Gate {
    fn enter(exclusive: bool) -> Gate {
        static GATE: std::sync::RwLock<()> = std::sync::RwLock::new(());
        if exclusive {
            Gate::Alone(GATE.write().unwrap_or_else(|e| e.into_inner()))
        } else {
            Gate::Shared(GATE.read().unwrap_or_else(|e| e.into_inner()))
        }
    }
}

fn flushall(ctx: &case::RunCtx) -> Result<(), Failed> {
    for (i, addr) in ctx.addrs.iter().enumerate() {
        let mut c = Conn::connect(*addr, ctx.timeout)
            .map_err(|e| Failed::from(format!("connect for FLUSHALL: {e}")))?;
        match c.call(&["FLUSHALL"]) {
            Outcome::Reply(r) if r.raw == b"+OK\r\n" => {}
            other => {
                return Err(format!(
                    "FLUSHALL before the case on {} answered {}",
                    ["redis", "sluice"][i],
                    other.describe()
                )
                .into())
            }
        }
    }
    Ok(())
}
