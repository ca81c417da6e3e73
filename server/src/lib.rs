//! Sluice: a Redis-protocol streams server on an LSM tree.
//!
//! * [`net`] — TCP listener and connection tasks (tokio): bytes in, parsed commands to the
//!   engine, replies out.
//! * [`engine`] — the one thread that owns the store and all client state and executes every
//!   command; group commit.
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
pub mod table;

use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::Arc;

use sluice_storage::{Store, StoreOptions};
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::config::{Config, SharedLimits};

/// Opens the store, binds the listeners and serves until SIGINT/SIGTERM (or `stop` turns true).
/// Returns once every connection is closed and the store is synced.
pub fn run(config: Config, stop: Option<watch::Receiver<bool>>) -> Result<(), String> {
    std::fs::create_dir_all(&config.dir)
        .map_err(|e| format!("can't create data directory {}: {e}", config.dir.display()))?;
    let opts = store_options(&config);
    let started = std::time::Instant::now();
    let store = Store::open(&config.dir, &opts, engine::now_ms())
        .map_err(|e| format!("can't open the store in {}: {e}", config.dir.display()))?;
    tracing::info!(dir = %config.dir.display(), ms = started.elapsed().as_millis() as u64, "store opened");

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(config.io_threads as usize)
        .enable_all()
        .thread_name("sluice-net")
        .build()
        .map_err(|e| format!("can't start the runtime: {e}"))?;

    let limits = SharedLimits::new(&config);
    let (tx, rx) = std::sync::mpsc::channel();
    let requirepass_set = Arc::new(AtomicBool::new(config.requirepass.is_some()));
    let net_stats = Arc::new(net::NetStats::default());
    let listeners = runtime.block_on(async {
        let mut ls = Vec::new();
        for addr in &config.bind {
            let l = listen(addr, config.port, config.tcp_backlog).map_err(|e| format!("can't listen on {addr}:{}: {e}", config.port))?;
            tracing::info!(addr = %l.local_addr().map(|a| a.to_string()).unwrap_or_default(), "listening");
            ls.push(l);
        }
        Ok::<_, String>(ls)
    })?;

    // SHUTDOWN: the engine asks the network side to stop through this.
    let shutdown_request = Arc::new(tokio::sync::Notify::new());
    let fsync = fsync::BackgroundFsync::start(config.dir.clone())
        .map_err(|e| format!("can't start the fsync thread: {e}"))?;
    let mut engine = engine::Engine::new(
        store,
        opts,
        fsync,
        config,
        limits.clone(),
        rx,
        requirepass_set.clone(),
        net_stats.clone(),
    );
    engine.on_shutdown_request(shutdown_request.clone());
    // However the engine ends, the network side stops with it: never a server that accepts
    // connections with no engine behind them.
    let engine_done = shutdown_request.clone();
    let engine_thread = std::thread::Builder::new()
        .name("sluice-engine".into())
        .spawn(move || {
            let result = engine.run();
            engine_done.notify_one();
            result
        })
        .map_err(|e| format!("can't start the engine thread: {e}"))?;

    let shared = Arc::new(net::Shared {
        engine: tx.clone(),
        limits,
        stats: net_stats,
        next_id: AtomicU64::new(1),
        requirepass_set,
    });
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    runtime.block_on(async move {
        let server = tokio::spawn(net::serve(listeners, shared, shutdown_rx));
        tokio::select! {
            _ = wait_for_stop(stop) => {}
            _ = shutdown_request.notified() => {}
        }
        tracing::info!("shutting down");
        let _ = shutdown_tx.send(true);
        let _ = tokio::time::timeout(std::time::Duration::from_secs(5), server).await;
    });
    let _ = tx.send(engine::Msg::Shutdown);
    drop(tx);
    match engine_thread.join() {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(format!("engine stopped on a storage error: {e}")),
        Err(_) => Err("engine thread panicked".into()),
    }
}

/// How the store is opened, from the configuration.
pub fn store_options(config: &Config) -> StoreOptions {
    StoreOptions {
        databases: config.databases as usize,
        cache_size: config.cache_size,
        ..StoreOptions::default()
    }
}

/// Binds a listener with `tcp-backlog` (tokio's default backlog would drop SYNs under a burst
/// of connections, which clients see as multi-second connect stalls).
fn listen(addr: &str, port: u16, backlog: u32) -> std::io::Result<TcpListener> {
    let ip: std::net::IpAddr = match addr {
        "localhost" => std::net::Ipv4Addr::LOCALHOST.into(),
        "*" => std::net::Ipv4Addr::UNSPECIFIED.into(),
        other => other.trim_start_matches('-').parse().map_err(|_| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("bad bind address {other:?}"),
            )
        })?,
    };
    let sa = std::net::SocketAddr::new(ip, port);
    let socket = if sa.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(sa)?;
    socket.listen(backlog)
}

async fn wait_for_stop(stop: Option<watch::Receiver<bool>>) {
    let signals = async {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            match (
                signal(SignalKind::terminate()),
                signal(SignalKind::interrupt()),
            ) {
                (Ok(mut term), Ok(mut int)) => {
                    let which = tokio::select! {
                        _ = term.recv() => "SIGTERM",
                        _ = int.recv() => "SIGINT",
                    };
                    tracing::info!(signal = which, "received {which}: shutting down cleanly");
                }
                _ => std::future::pending::<()>().await,
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
    };
    match stop {
        Some(mut stop) => {
            tokio::select! { _ = signals => {}, _ = stop.wait_for(|s| *s) => {} }
        }
        None => signals.await,
    }
}
