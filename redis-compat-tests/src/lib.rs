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
pub mod pred;
pub mod resp;
pub mod rng;
pub mod server;

use std::sync::Arc;
use std::time::Duration;

pub use case::{case, check, pair, sluice_check, sluice_only, step, Case, Expect, Proto, Step};
pub use client::{Conn, Outcome, Reply};
pub use resp::Frame;
pub use rng::Rng;
pub use server::ServerPair;

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
        let _ = shared.set(Arc::new(case::RunCtx {
            addrs: [s.redis.addr, s.sluice.addr],
            timeout: read_timeout(),
            trace: std::env::var_os("COMPAT_TRACE").is_some_and(|v| v != "0"),
        }));
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
            let log = s.sluice.log();
            let tail: Vec<&str> = log.lines().rev().take(40).collect();
            if !tail.is_empty() {
                eprintln!("--- last lines of the sluice server's output ---");
                for l in tail.iter().rev() {
                    eprintln!("{l}");
                }
            }
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
