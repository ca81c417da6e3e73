//! Sluice: a Redis-protocol streams server on an LSM tree.
//!
//! * [`engine`] — the event loop: one thread that owns the store, every socket and all client
//!   state, and executes every command; group commit.
//! * [`net`] — listeners, and per connection the read buffer, parser and write rules.
//! * [`table`] and [`commands`] — the command table and one module per command family.
//! * [`config`] — every parameter once, for flags, config files and CONFIG GET/SET.

pub mod alloc;
pub mod args;
pub mod client;
pub mod commands;
pub mod config;
pub mod engine;
pub mod fault;
pub mod fsync;
pub mod logging;
pub mod metrics;
pub mod net;
pub mod reply;
pub mod scripting;
pub mod table;

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use sluice_storage::{Store, StoreOptions};

use crate::config::{Config, SharedLimits};

/// Opens the store, binds the listeners and serves until SHUTDOWN or SIGINT/SIGTERM.
/// Returns once the store is closed (flushed and synced).
pub fn run(config: Config) -> Result<(), String> {
    // Process-wide (a second server in the same process reports the first one's version).
    commands::info::set_reported_version(&config.redis_version);
    if config.disable_thp {
        if let Err(e) = alloc::disable_thp() {
            tracing::warn!("disable-thp yes: can't turn transparent huge pages off for this process (prctl PR_SET_THP_DISABLE: {e}); page faults may zero 2 MB at a time");
        }
    }
    std::fs::create_dir_all(&config.dir)
        .map_err(|e| format!("can't create data directory {}: {e}", config.dir.display()))?;
    let opts = store_options(&config);
    let previous = PreviousRun::inspect(&config.dir);
    let always = config.appendfsync == config::Fsync::Always;
    sluice_storage::set_journal_zero_fill(always);
    let started = std::time::Instant::now();
    let store = Store::open(&config.dir, &opts, engine::now_ms()).map_err(|e| match e {
        e if e.is_locked() => {
            let holder = lock_holder(&config.dir.join("lock"))
                .map(|pid| format!(" (pid {pid})"))
                .unwrap_or_default();
            format!(
                "data directory {} is in use by another Sluice process{holder}: stop it, or give this one another --dir",
                config.dir.display()
            )
        }
        e => format!("can't open the store in {}: {e}", config.dir.display()),
    })?;
    previous.report(&config.dir, started.elapsed());
    let mut store = store;
    if always && previous.existed {
        // The journal a start reopens is appended to where it ends, so it cannot be
        // zero-filled ahead (`set_journal_zero_fill`): under `always` the writes go to a new
        // one. A new data directory's first journal is new already.
        if let Err(e) = store.start_new_journal() {
            tracing::warn!(dir = %config.dir.display(), error = %e, "can't start a new journal at startup; the journal's syncs allocate blocks until it is rotated");
        }
    }

    if config.io_threads > 1 {
        tracing::warn!(
            io_threads = config.io_threads,
            "io-threads is accepted for redis.conf compatibility and has no effect: the event loop does all socket I/O on its one thread (measured fastest on 2 cores)"
        );
    }
    let mut listeners = Vec::new();
    // As Redis, port 0 means no TCP port (with a `unixsocket`, say).
    let mut ports = Vec::new();
    if config.port != 0 {
        ports.push((config.port, false));
    }
    if config.disque_port != 0 && config.disque_port != config.port {
        // Disque clients' port: every command, and Disque's bare HELLO (see the README).
        ports.push((config.disque_port, true));
    }
    for (port, disque) in ports {
        for addr in &config.bind {
            let l = match net::listen(addr, port, config.tcp_backlog) {
                Ok(l) => l,
                // As Redis: a '-' address is optional, skipped where the machine lacks it
                // (`bind 127.0.0.1 -::1` on a host without IPv6).
                Err(e) if addr.starts_with('-') && optional_bind_failure(&e) => {
                    tracing::warn!(addr = %addr, port, "optional bind address unavailable, skipped: {e}");
                    continue;
                }
                Err(e) => return Err(format!("can't listen on {addr}:{port}: {e}")),
            };
            tracing::info!(
                addr = %l.local_addr().map(|a| a.to_string()).unwrap_or_default(),
                disque,
                "listening"
            );
            listeners.push((l, disque));
        }
    }
    let unix = if config.unixsocket.is_empty() {
        None
    } else {
        let l = net::listen_unix(
            &config.unixsocket,
            config.unixsocketperm,
            config.tcp_backlog,
        )?;
        tracing::info!(path = %config.unixsocket, perm = format!("{:o}", config.unixsocketperm), "listening on the unixsocket");
        Some((l, config.unixsocket.clone()))
    };
    if listeners.is_empty() && unix.is_none() {
        return Err(if config.port == 0 && config.disque_port == 0 {
            "configured to not listen anywhere: port is 0 and there is no unixsocket".to_string()
        } else {
            format!(
                "no bind address could be used (bind {})",
                config.bind.join(" ")
            )
        });
    }
    let poll =
        mio::Poll::new().map_err(|e| format!("can't create the event loop's poller: {e}"))?;
    let waker = Arc::new(
        mio::Waker::new(poll.registry(), engine::WAKER)
            .map_err(|e| format!("can't create the event loop's waker: {e}"))?,
    );
    let stop = Arc::new(AtomicBool::new(false));
    start_signal_thread(stop.clone(), waker)?;

    let metrics = match config.metrics_port {
        0 => None,
        port => Some(metrics::start(&config.metrics_bind, port)?),
    };
    let dir = config.dir.clone();
    let limits = SharedLimits::new(&config);
    let fsync = fsync::BackgroundFsync::start(config.dir.clone())
        .map_err(|e| format!("can't start the fsync thread: {e}"))?;
    let engine = engine::Engine::new(
        store,
        opts,
        fsync,
        config,
        limits,
        Arc::new(net::NetStats::default()),
        poll,
        listeners,
        stop,
    )
    .map_err(|e| format!("can't poll the listeners: {e}"))?
    .with_metrics(metrics);
    let engine = match unix {
        Some((l, path)) => engine
            .with_unix_listener(l, &path)
            .map_err(|e| format!("can't poll the unixsocket {path}: {e}"))?,
        None => engine,
    };
    engine
        .run()
        .map_err(|e| format!("engine stopped on a storage error: {e}"))?;
    // Only after the store is closed (flushed and synced): the next start says it was clean.
    if let Err(e) = std::fs::write(dir.join(CLEAN_MARKER), b"") {
        tracing::warn!(dir = %dir.display(), "can't mark the shutdown as clean: {e}");
    }
    Ok(())
}

/// Written into the data directory after a clean shutdown, removed by the next start: its
/// absence on a directory with data means the last run did not stop cleanly (crash, kill -9,
/// power loss) and the store recovered from its journal.
pub(crate) const CLEAN_MARKER: &str = "clean-shutdown";

/// What the start log says about the last run.
struct PreviousRun {
    existed: bool,
    clean: bool,
    journal_bytes: u64,
}

impl PreviousRun {
    fn inspect(dir: &std::path::Path) -> PreviousRun {
        let journal_bytes = std::fs::read_dir(dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| e.path().extension().is_some_and(|x| x == "jnl"))
            .filter_map(|e| e.metadata().ok())
            .map(|m| m.len())
            .sum();
        PreviousRun {
            existed: dir.join("version").exists(),
            clean: dir.join(CLEAN_MARKER).exists(),
            journal_bytes,
        }
    }

    /// Logs how the store came up; removes the clean-shutdown marker (we now own the
    /// directory: the store's lock is held).
    fn report(&self, dir: &std::path::Path, took: std::time::Duration) {
        let ms = took.as_millis() as u64;
        if !self.existed {
            tracing::info!(dir = %dir.display(), ms, "store opened: new data directory");
        } else if self.clean {
            tracing::info!(dir = %dir.display(), ms, "store opened: the last shutdown was clean");
        } else {
            tracing::warn!(
                dir = %dir.display(),
                ms,
                journal_bytes = self.journal_bytes,
                "store opened: the last run did not shut down cleanly (crash, kill or power loss); recovered from the journal ({} bytes of journal on disk at start)",
                self.journal_bytes
            );
        }
        if self.clean {
            if let Err(e) = std::fs::remove_file(dir.join(CLEAN_MARKER)) {
                tracing::warn!(dir = %dir.display(), "can't remove the clean-shutdown marker: {e}");
            }
        }
    }
}

/// How the store is opened, from the configuration.
pub fn store_options(config: &Config) -> StoreOptions {
    StoreOptions {
        databases: config.databases as usize,
        cache_size: config.cache_size,
        // Where Redis 8.0 changed how entries-read and lag are kept, Sluice follows the
        // version it reports (`redis-version`).
        counter_rules: match commands::info::version_num(&config.redis_version) {
            Some(v) if v >= 0x08_00_00 => sluice_storage::stream::group::CounterRules::Redis80,
            _ => sluice_storage::stream::group::CounterRules::Redis70,
        },
        ..StoreOptions::default()
    }
}

/// Turns SIGTERM/SIGINT into `stop` plus a wake-up of the event loop, from a thread of its
/// own (a tokio current-thread runtime, used only for its signal handling).
fn start_signal_thread(stop: Arc<AtomicBool>, waker: Arc<mio::Waker>) -> Result<(), String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("can't start the signal thread's runtime: {e}"))?;
    // Install the handlers before returning, so a signal right after start is not missed.
    let signals = runtime.block_on(async {
        use tokio::signal::unix::{signal, SignalKind};
        Ok::<_, std::io::Error>((
            signal(SignalKind::terminate())?,
            signal(SignalKind::interrupt())?,
        ))
    });
    let (mut term, mut int) = signals.map_err(|e| format!("can't install signal handlers: {e}"))?;
    std::thread::Builder::new()
        .name("sluice-signals".into())
        .spawn(move || {
            runtime.block_on(async {
                let which = tokio::select! {
                    _ = term.recv() => "SIGTERM",
                    _ = int.recv() => "SIGINT",
                };
                tracing::info!(signal = which, "received {which}: shutting down cleanly");
            });
            stop.store(true, std::sync::atomic::Ordering::Relaxed);
            if let Err(e) = waker.wake() {
                tracing::error!(error = %e, "can't wake the event loop for the stop signal");
            }
        })
        .map_err(|e| format!("can't start the signal thread: {e}"))?;
    Ok(())
}

/// Errors that mean the address does not exist on this machine (not that it is taken).
fn optional_bind_failure(e: &std::io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EADDRNOTAVAIL | libc::EAFNOSUPPORT | libc::EPROTONOSUPPORT | libc::ENOPROTOOPT)
    ) || e.kind() == std::io::ErrorKind::InvalidInput
}

/// The pid holding an flock on `lock` (fjall's directory lock), from /proc/locks.
fn lock_holder(lock: &std::path::Path) -> Option<u32> {
    use std::os::unix::fs::MetadataExt;
    let inode = std::fs::metadata(lock).ok()?.ino();
    let locks = std::fs::read_to_string("/proc/locks").ok()?;
    locks.lines().find_map(|l| {
        // "1: FLOCK  ADVISORY  WRITE 3411 fe:00:10051675 0 EOF"
        let f: Vec<&str> = l.split_whitespace().collect();
        let dev_inode = f.get(5)?;
        let ino: u64 = dev_inode.rsplit(':').next()?.parse().ok()?;
        (ino == inode).then(|| f.get(4)?.parse().ok()).flatten()
    })
}
