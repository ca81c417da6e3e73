//! Sluice: a Redis-protocol streams server on an LSM tree.
//!
//! * [`engine`] — the event loop: one thread that owns the store, every socket and all client
//!   state, and executes every command; group commit.
//! * [`net`] — listeners, and per connection the read buffer, parser and write rules.
//! * [`table`] and [`commands`] — the command table and one module per command family.
//! * [`config`] — every parameter once, for flags, config files and CONFIG GET/SET.

pub mod args;
pub mod client;
pub mod commands;
pub mod config;
pub mod engine;
pub mod fault;
pub mod fsync;
pub mod logging;
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
    std::fs::create_dir_all(&config.dir)
        .map_err(|e| format!("can't create data directory {}: {e}", config.dir.display()))?;
    let opts = store_options(&config);
    let started = std::time::Instant::now();
    let store = Store::open(&config.dir, &opts, engine::now_ms())
        .map_err(|e| format!("can't open the store in {}: {e}", config.dir.display()))?;
    tracing::info!(dir = %config.dir.display(), ms = started.elapsed().as_millis() as u64, "store opened");

    if config.io_threads > 1 {
        tracing::warn!(
            io_threads = config.io_threads,
            "io-threads is accepted for redis.conf compatibility and has no effect: the event loop does all socket I/O on its one thread (measured fastest on 2 cores)"
        );
    }
    let mut listeners = Vec::new();
    let mut ports = vec![(config.port, false)];
    if config.disque_port != 0 && config.disque_port != config.port {
        // Disque clients' port: every command, and Disque's bare HELLO (see the README).
        ports.push((config.disque_port, true));
    }
    for (port, disque) in ports {
        for addr in &config.bind {
            let l = net::listen(addr, port, config.tcp_backlog)
                .map_err(|e| format!("can't listen on {addr}:{port}: {e}"))?;
            tracing::info!(
                addr = %l.local_addr().map(|a| a.to_string()).unwrap_or_default(),
                disque,
                "listening"
            );
            listeners.push((l, disque));
        }
    }
    let poll =
        mio::Poll::new().map_err(|e| format!("can't create the event loop's poller: {e}"))?;
    let waker = Arc::new(
        mio::Waker::new(poll.registry(), engine::WAKER)
            .map_err(|e| format!("can't create the event loop's waker: {e}"))?,
    );
    let stop = Arc::new(AtomicBool::new(false));
    start_signal_thread(stop.clone(), waker)?;

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
    .map_err(|e| format!("can't poll the listeners: {e}"))?;
    engine
        .run()
        .map_err(|e| format!("engine stopped on a storage error: {e}"))
}

/// How the store is opened, from the configuration.
pub fn store_options(config: &Config) -> StoreOptions {
    StoreOptions {
        databases: config.databases as usize,
        cache_size: config.cache_size,
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
