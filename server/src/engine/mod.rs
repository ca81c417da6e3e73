//! The engine: one OS thread that owns the store, every client's socket and state, and runs
//! the event loop, like Redis's main thread: it polls the sockets (epoll through mio), reads
//! and parses requests, executes every command one at a time, commits, and writes replies. No
//! request crosses a thread: the only other threads are the `everysec` fdatasync
//! (`fsync.rs`), the log writer, fjall's background flushes and compactions, the one that
//! turns SIGTERM/SIGINT into a wake-up of this loop, and with `metrics-port` the Prometheus
//! endpoint's (`metrics.rs`), which only serves the snapshots cron renders for it.
//!
//! One loop iteration (a *drain*):
//! 1. wait for socket events, the next blocked-client deadline or the next cron tick;
//! 2. accept new connections (TCP listeners and the `unixsocket`); mark clients whose sockets
//!    are readable, or that have commands waiting, as *scheduled*;
//! 3. serve each scheduled client once: read once (up to 16 KiB), parse, and execute its
//!    commands until they are done, one blocks, or its unwritten replies reach
//!    [`REPLY_BYTES_PER_TURN`] (the rest wait until the socket takes them: one client's
//!    pipeline cannot monopolise the loop or grow the buffer without bound);
//! 4. time out blocked clients, run cron;
//! 5. group commit: the drain's writes become ONE atomic batch and ONE journal write, synced
//!    with `fdatasync` under `appendfsync always`; only then are the drain's replies released
//!    to be written (see `net.rs`: `Conn::released`). A reply is therefore never sent for a
//!    write that a crash could still lose under the configured policy, and a failed commit
//!    withholds them (`fault.rs`).
//!
//! Clients with more work than one turn (more input buffered, commands left) are scheduled
//! again for the next iteration, after everyone else: that and the per-turn bounds are the
//! fairness rules. Because one thread executes everything, commands are serialized (MULTI/EXEC
//! needs no locks) and fjall is touched from this thread only.
//!
//! Modules: this one is the loop (sockets, scheduling, the drain's commit and release);
//! [`state`] the state handlers see ([`Server`], [`Ctx`]); [`dispatch`] lookup, checks and the
//! call of a handler; [`blocking`] parked clients and their wake-ups; [`faults`] the engine's
//! side of the storage fault policy.
//!
//! Invariants kept here: a client is in exactly one place — `Server::clients`, or lent to the
//! command running for it; the `todo` queue holds each scheduled client once (`scheduled`);
//! no byte after `Conn::released` is written, and `released` moves only after a successful
//! commit and persist of the drain that built those bytes.

use std::collections::{BTreeSet, VecDeque};

use ahash::AHashMap as HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mio::{Events, Interest, Poll, Token};
use sluice_storage::{Store, StoreError, StoreOptions, Sync};

use crate::client::{Client, ReplyMode};
use crate::config::{Config, Fsync, SharedLimits};
use crate::fault;
use crate::fsync::BackgroundFsync;
use crate::net::{Conn, Read_, MAX_PENDING_COMMANDS};

mod blocking;
mod dispatch;
mod faults;
mod state;

pub use blocking::{
    force_unblock, release_paused, BlockKind, BlockSpec, Blocked, Holds, Pause, Unblock, WakeIf,
};
pub use dispatch::{call, process, resolve};
pub use state::{now_ms, unwatch, Clock, CommandStats, Ctx, Server, Stats};

/// Unwritten reply bytes at which a client's commands stop running until its socket has taken
/// them (fairness, and a bound on memory: a pipeline of 2,000 `XRANGE key - +` of 5.8 MB each
/// once built 1,024 replies at once, 6 GB, and stalled every other client). A client that reads
/// slowly slows only itself.
pub const REPLY_BYTES_PER_TURN: usize = 1 << 20;

/// The longest a slice of the reaper runs (deleting a deleted stream's records in the
/// background, `storage/src/store/reaper.rs`): the most it holds other clients up.
const REAP_SLICE: Duration = Duration::from_micros(1500);
/// At most one reaper slice per this long, so reaping takes at most about 15% of the loop.
const REAP_EVERY: Duration = Duration::from_millis(10);
/// The most records a reaper slice deletes, whatever the clock says.
const REAP_SLICE_RECORDS: usize = 20_000;

/// The poll token that wakes the loop from another thread (a stop signal).
pub const WAKER: Token = Token(usize::MAX);
/// Listener `i` polls as `LISTENER_BASE + i`; client `id` polls as `Token(id)`.
const LISTENER_BASE: usize = usize::MAX / 2;
/// The `unixsocket` listener's token.
const UNIX_LISTENER: Token = Token(LISTENER_BASE - 1);
/// Socket events taken per poll.
const EVENTS_PER_POLL: usize = 1024;

/// The engine: see the module docs.
pub struct Engine {
    /// Always `Some`, except inside [`Engine::reopen_store`] (fjall's lock on the directory
    /// means the old store must be gone before the new one opens).
    store: Option<Store>,
    /// How the store is opened (again, after a disk-full fault).
    store_opts: StoreOptions,
    /// The `everysec` fdatasync thread.
    fsync: BackgroundFsync,
    srv: Server,
    poll: Poll,
    /// The listening sockets; `true` for those on `disque-port` (their clients get Disque's
    /// bare HELLO).
    listeners: Vec<(mio::net::TcpListener, bool)>,
    /// The `unixsocket` listener and its path (the socket file is removed at a clean stop).
    unix: Option<(mio::net::UnixListener, Arc<str>)>,
    /// Set by the signal thread (then it wakes the loop through [`WAKER`]).
    stop: Arc<AtomicBool>,
    /// Clients to serve in this iteration's pass, in order (each has `scheduled` set).
    todo: VecDeque<u64>,
    /// Clients whose output or state changed in this drain: released, written or closed at
    /// its end. May hold an id twice or a closed client's id; both are harmless.
    dirty: Vec<u64>,
    /// When the reaper may run its next slice.
    next_reap: Instant,
    /// An accept failed (EMFILE…): the listeners are tried again at the next cron tick, since
    /// the pending connections raise no new event.
    retry_accept: bool,
    /// The Prometheus endpoint, when `metrics-port` is set: cron renders its snapshots.
    metrics: Option<crate::metrics::Metrics>,
}

impl Engine {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        store: Store,
        store_opts: StoreOptions,
        fsync: BackgroundFsync,
        config: Config,
        limits: Arc<SharedLimits>,
        net: Arc<crate::net::NetStats>,
        poll: Poll,
        listeners: Vec<(mio::net::TcpListener, bool)>,
        stop: Arc<AtomicBool>,
    ) -> std::io::Result<Self> {
        let run_id: String = {
            let seed = now_ms() ^ u64::from(std::process::id()).rotate_left(32);
            let h = ahash::RandomState::with_seeds(seed, seed ^ 0x9e37, 7, 11);
            (0..5)
                .map(|i| format!("{:016x}", h.hash_one(i)))
                .collect::<String>()[..40]
                .to_string()
        };
        let mut listeners = listeners;
        for (i, (l, _)) in listeners.iter_mut().enumerate() {
            poll.registry()
                .register(l, Token(LISTENER_BASE + i), Interest::READABLE)?;
        }
        let mut script = crate::scripting::Scripting::default();
        script.io = Some(crate::scripting::busy::BusyIo::new(
            poll.registry(),
            &listeners,
        )?);
        Ok(Engine {
            store: Some(store),
            store_opts,
            fsync,
            srv: Server {
                clock: Clock::new(),
                config,
                limits,
                clients: HashMap::new(),
                stats: Stats::default(),
                started: Instant::now(),
                run_id,
                kill: Vec::new(),
                watchers: HashMap::new(),
                net,
                rng: now_ms() | 1,
                shutdown_requested: false,
                backup: crate::commands::persistence::Backups::new(now_ms() / 1000),
                waiting: HashMap::new(),
                ready: Vec::new(),
                deadlines: BTreeSet::new(),
                holds: Default::default(),
                disk_fault: None,
                used_memory: (0, None),
                observers: Default::default(),
                next_client_id: 1,
                script,
                info: Default::default(),
            },
            poll,
            listeners,
            unix: None,
            stop,
            todo: VecDeque::new(),
            dirty: Vec::new(),
            next_reap: Instant::now(),
            retry_accept: false,
            metrics: None,
        })
    }

    /// Gives cron the Prometheus endpoint's handle (`metrics-port`): each tick renders a
    /// snapshot if a scrape is waiting for one.
    pub fn with_metrics(mut self, metrics: Option<crate::metrics::Metrics>) -> Self {
        self.metrics = metrics;
        self
    }

    /// Adds the `unixsocket` listener bound at `path` (see `net::listen_unix`).
    pub fn with_unix_listener(
        mut self,
        mut listener: mio::net::UnixListener,
        path: &str,
    ) -> std::io::Result<Self> {
        self.poll
            .registry()
            .register(&mut listener, UNIX_LISTENER, Interest::READABLE)?;
        let path: Arc<str> = Arc::from(path);
        // Served too while a script runs past busy-reply-threshold.
        if let Some(io) = self.srv.script.io.as_mut() {
            io.add_unix(&listener, path.clone())?;
        }
        self.unix = Some((listener, path));
        Ok(self)
    }

    /// Runs the event loop until SHUTDOWN or a stop signal. Storage faults never end it with a
    /// half-alive server: they go through [`fault::classify`] (read-only, or exit). The error
    /// returned is only the final close's.
    pub fn run(mut self) -> Result<(), StoreError> {
        let mut events = Events::with_capacity(EVENTS_PER_POLL);
        let mut next_cron = Instant::now();
        loop {
            let timeout = if self.todo.is_empty() {
                let mut wake = self
                    .srv
                    .deadlines
                    .first()
                    .map_or(next_cron, |(d, _)| (*d).min(next_cron));
                if self.reaping() {
                    wake = wake.min(self.next_reap);
                }
                wake.saturating_duration_since(Instant::now())
            } else {
                Duration::ZERO
            };
            if let Err(e) = self.poll.poll(&mut events, Some(timeout)) {
                if e.kind() != std::io::ErrorKind::Interrupted {
                    fault::fatal(&format!("epoll_wait failed: {e}"));
                }
            }
            self.srv.clock.sync();
            for ev in events.iter() {
                match ev.token() {
                    WAKER => {}
                    UNIX_LISTENER => self.accept_unix(),
                    Token(t) if t >= LISTENER_BASE => self.accept(t - LISTENER_BASE),
                    Token(t) => self.socket_event(t as u64, ev),
                }
            }
            // Each scheduled client once; those scheduled again go after everyone else.
            for _ in 0..self.todo.len() {
                let Some(id) = self.todo.pop_front() else {
                    break;
                };
                self.serve(id);
            }
            self.expire_blocked();
            if Instant::now() >= next_cron {
                self.cron();
                next_cron =
                    Instant::now() + Duration::from_millis(1000 / self.srv.config.hz.max(1));
            }
            self.finish_drain();
            self.reap_slice();
            if self.srv.shutdown_requested {
                tracing::info!("SHUTDOWN requested by a client");
                break;
            }
            if self.stop.load(Ordering::Relaxed) {
                break;
            }
        }
        tracing::info!("shutting down");
        // What is released goes out if the sockets take it now; nobody waits for slow readers.
        let ids: Vec<u64> = self.srv.clients.keys().copied().collect();
        for id in ids {
            if let Some(c) = self.srv.clients.get_mut(&id) {
                let _ = c.conn.write_released(&mut c.out, &self.srv.net);
            }
            self.remove_client(id);
        }
        drop(std::mem::take(&mut self.listeners));
        if let Some((listener, path)) = self.unix.take() {
            drop(listener);
            // As Redis at shutdown: the socket file goes with the server.
            if let Err(e) = std::fs::remove_file(&*path) {
                tracing::warn!(path = %path, "can't remove the unixsocket file: {e}");
            }
        }
        // A background backup holds a snapshot of the store: cancel it before closing.
        self.srv.backup.cancel_and_wait();
        if let Some(f) = &self.srv.disk_fault {
            // Flushing memtables needs room the disk does not have: sync the journal only;
            // the next start replays it.
            tracing::warn!(cause = %f.cause, "stopping while writes are refused: memtables are not flushed to tables, the next start replays the journal");
            self.store_mut().sync_journal()?;
            tracing::info!("engine stopped; journal synced to disk");
        } else {
            self.store_mut().close()?;
            tracing::info!("engine stopped; data flushed and synced to disk");
        }
        Ok(())
    }

    /// Accepts every pending connection of listener `i` (`maxclients` refuses with Redis's
    /// error).
    fn accept(&mut self, i: usize) {
        loop {
            let Some((l, disque)) = self.listeners.get(i) else {
                return;
            };
            let disque = *disque;
            match l.accept() {
                Ok((sock, addr)) => {
                    let laddr = sock.local_addr().unwrap_or(addr);
                    self.add_client(sock.into(), addr.into(), laddr.into(), disque);
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return self.accept_failed(&e),
            }
        }
    }

    /// Accepts every pending connection of the `unixsocket` listener.
    fn accept_unix(&mut self) {
        loop {
            let Some((l, path)) = &self.unix else {
                return;
            };
            let path = path.clone();
            match l.accept() {
                Ok((sock, _)) => {
                    let addr = crate::client::PeerAddr::Unix(path);
                    self.add_client(sock.into(), addr.clone(), addr, false);
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return self.accept_failed(&e),
            }
        }
    }

    /// EMFILE and friends: the listeners are tried again at the next cron tick instead of
    /// spinning.
    fn accept_failed(&mut self, e: &std::io::Error) {
        tracing::warn!(error = %e, "accept failed");
        self.retry_accept = true;
    }

    /// Takes an accepted connection as a client (or refuses it over `maxclients`).
    fn add_client(
        &mut self,
        mut sock: crate::net::Stream,
        addr: crate::client::PeerAddr,
        laddr: crate::client::PeerAddr,
        disque: bool,
    ) {
        let max = self.srv.limits.maxclients.load(Ordering::Relaxed) as usize;
        let net = &self.srv.net;
        if net.connected.load(Ordering::Relaxed) >= max {
            net.rejected.fetch_add(1, Ordering::Relaxed);
            let _ = std::io::Write::write(&mut sock, b"-ERR max number of clients reached\r\n");
            return;
        }
        let id = self.srv.next_client_id;
        self.srv.next_client_id += 1;
        let mut conn = Conn::new(sock, &self.srv.limits);
        if let Err(e) = self.poll.registry().register(
            &mut conn.sock,
            Token(id as usize),
            Interest::READABLE | Interest::WRITABLE,
        ) {
            tracing::warn!(error = %e, %addr, "can't poll the new connection; closing it");
            return;
        }
        // As redis-server logs at `verbose`: one line per accepted and per closed connection.
        tracing::debug!(client = id, %addr, "accepted connection");
        let auth = self.srv.config.requirepass.is_none();
        let mut client = Client::new(id, conn, addr, laddr, now_ms(), auth);
        client.disque = disque;
        self.srv.clients.insert(id, client);
        self.srv.net.connected.fetch_add(1, Ordering::Relaxed);
        self.srv.stats.connections += 1;
    }

    /// A client's socket is readable (or closed) and/or writable.
    fn socket_event(&mut self, id: u64, ev: &mio::event::Event) {
        if ev.is_writable() {
            let Some(c) = self.srv.clients.get_mut(&id) else {
                return;
            };
            if c.conn.released > 0 {
                match c.conn.write_released(&mut c.out, &self.srv.net) {
                    Ok(true) => {
                        if c.close_after_reply && c.out.is_empty() {
                            return self.remove_client(id);
                        }
                        // Commands held back by the reply budget may run again.
                        if Self::wants_turn(c) {
                            self.schedule(id);
                        }
                    }
                    Ok(false) => {}
                    Err(e) => {
                        tracing::debug!(client = id, error = %e, "connection closed");
                        return self.remove_client(id);
                    }
                }
            }
        }
        if ev.is_readable() || ev.is_read_closed() || ev.is_error() {
            self.schedule(id);
        }
    }

    /// Queues a client for this iteration's pass (once).
    fn schedule(&mut self, id: u64) {
        if let Some(c) = self.srv.clients.get_mut(&id) {
            if !c.scheduled {
                c.scheduled = true;
                self.todo.push_back(id);
            }
        }
    }

    /// One turn of a client: read once, parse, and run what it sent.
    fn serve(&mut self, id: u64) {
        let Some(mut c) = self.srv.clients.remove(&id) else {
            return;
        };
        c.scheduled = false;
        if c.close_after_reply {
            // Its last replies are being written; nothing it sends runs.
            self.srv.clients.insert(id, c);
            return;
        }
        let limits = self.srv.limits.clone();
        c.conn.parse_into(&mut c.pending, c.authenticated, &limits);
        if !c.conn.eof && c.conn.protocol_error.is_none() {
            if c.pending.len() < MAX_PENDING_COMMANDS {
                self.srv.net.reads.fetch_add(1, Ordering::Relaxed);
                match c.conn.read(&limits, &self.srv.net) {
                    Ok(Read_::Data { more }) => c.conn.maybe_unread = more,
                    Ok(Read_::WouldBlock) => c.conn.maybe_unread = false,
                    Ok(Read_::Eof) => {
                        c.conn.eof = true;
                        c.conn.maybe_unread = false;
                    }
                    Ok(Read_::TooBig) => {
                        tracing::warn!(client = id, addr = %c.addr, bytes = c.conn.query_buffer_len(), "closing client that reached max query buffer length");
                        self.srv.clients.insert(id, c);
                        return self.remove_client(id);
                    }
                    Err(e) => {
                        tracing::debug!(client = id, addr = %c.addr, error = %e, "connection closed");
                        self.srv.clients.insert(id, c);
                        return self.remove_client(id);
                    }
                }
                c.conn.parse_into(&mut c.pending, c.authenticated, &limits);
                if c.pending.len() >= MAX_PENDING_COMMANDS {
                    // Parsing stopped at the limit: the read buffer may hold more commands
                    // that no socket event will announce (a read that took a long pipeline
                    // whole left them there, and the client then waited forever).
                    c.conn.maybe_unread = true;
                }
            } else {
                // Not read for lack of room: once its commands have run (see `wants_turn`).
                c.conn.maybe_unread = true;
            }
        }
        if c.blocked.is_some() {
            if c.conn.eof {
                // It left while blocked: nobody to answer.
                tracing::debug!(client = id, addr = %c.addr, "client closed connection");
                self.srv.clients.insert(id, c);
                return self.remove_client(id);
            }
            self.srv.clients.insert(id, c);
            return;
        }
        if c.out.len() >= REPLY_BYTES_PER_TURN {
            // Its socket must take some replies first (then `wants_turn` schedules it).
            self.srv.clients.insert(id, c);
            return;
        }
        self.drive(c);
    }

    /// Whether a client that is not scheduled should get a turn: it can run commands now
    /// (not blocked, not closing, under the reply budget) and has something to do — commands
    /// waiting, input perhaps left unread, or an end of input or protocol error to answer.
    fn wants_turn(c: &Client) -> bool {
        c.blocked.is_none()
            && !c.close_after_reply
            && c.out.len() < REPLY_BYTES_PER_TURN
            && (!c.pending.is_empty()
                || c.conn.maybe_unread
                || c.conn.eof
                || c.conn.protocol_error.is_some())
    }

    fn store_mut(&mut self) -> &mut Store {
        self.store
            .as_mut()
            .expect("the store is open outside reopen_store")
    }

    /// Commits and persists per `appendfsync`, then releases the drain's replies, writes them
    /// and closes the clients that are done. A storage error instead goes to
    /// [`Engine::storage_fault`], which withholds the replies.
    fn finish_drain(&mut self) {
        // The job log's limits follow the configuration (CONFIG SET may change them).
        let job_log = self.srv.config.job_log;
        self.store_mut().jobs().set_log_limits(job_log);
        // Timed for INFO sluice only when there is something to commit.
        let commit_started = self.store_mut().has_staged().then(Instant::now);
        if let Err(e) = self.store_mut().commit() {
            return self.storage_fault(e, "committing a batch to the journal");
        }
        if self.store_mut().has_unpersisted() {
            let sync = match self.srv.config.appendfsync {
                Fsync::Always => Sync::Disk,
                Fsync::Everysec | Fsync::No => Sync::Os,
            };
            let started = Instant::now();
            let persisted = self.store_mut().persist(sync);
            let info = &mut self.srv.info;
            if let Some(at) = commit_started {
                let until = if sync == Sync::Disk {
                    started
                } else {
                    Instant::now()
                };
                let us = until.saturating_duration_since(at).as_micros() as u64;
                crate::commands::info::InfoState::note(&mut info.commit_us, us);
                // Redis's `aof-write` (the write of its AOF buffer): here the drain's batch
                // into fjall and, unless the fdatasync follows, its journal write.
                // (The clock is read only for a sample the monitor keeps.)
                let threshold = self.srv.config.latency_monitor_threshold;
                if threshold > 0 && us / 1000 >= threshold {
                    self.srv.observers.latency.add_sample(
                        threshold,
                        "aof-write",
                        now_ms() / 1000,
                        us / 1000,
                    );
                }
            }
            if sync == Sync::Disk {
                let us = started.elapsed().as_micros() as u64;
                crate::commands::info::InfoState::note(&mut info.fsync_us, us);
                let ms = us / 1000;
                let threshold = self.srv.config.latency_monitor_threshold;
                self.srv.observers.latency.add_sample(
                    threshold,
                    "aof-fsync-always",
                    now_ms() / 1000,
                    ms,
                );
            }
            if let Err(e) = persisted {
                let during = match sync {
                    Sync::Disk => "fdatasync of the journal (appendfsync always)",
                    Sync::Os => "writing the journal",
                };
                return self.storage_fault(e, during);
            }
            self.srv.stats.persists += 1;
            if self.srv.config.appendfsync == Fsync::Everysec {
                // The once-a-second fdatasync runs on its own thread (`fsync.rs`).
                self.fsync.mark_dirty(self.srv.stats.persists);
            }
        }
        let now = Instant::now();
        // Monitor clients fed by this drain's commands have output to release too.
        let fed = std::mem::take(&mut self.srv.observers.fed);
        self.dirty.extend(fed);
        for id in std::mem::take(&mut self.dirty) {
            let Some(c) = self.srv.clients.get_mut(&id) else {
                continue;
            };
            c.conn.released = c.out.len();
            // Over a limit, nothing more is written: Redis checks as replies are added.
            if !c
                .conn
                .output_within_limits(c.out.len(), &self.srv.limits, now)
            {
                self.close_over_output_limit(id);
                continue;
            }
            match c.conn.write_released(&mut c.out, &self.srv.net) {
                Ok(true) if c.close_after_reply => self.remove_client(id),
                // Commands held back by the reply budget may run again.
                Ok(true) if Self::wants_turn(c) => self.schedule(id),
                Ok(_) => {}
                Err(e) => {
                    tracing::debug!(client = id, error = %e, "connection closed");
                    self.remove_client(id);
                }
            }
        }
        self.release_kills();
    }

    /// `client-output-buffer-limit`: closes a client whose unwritten replies are over it.
    fn close_over_output_limit(&mut self, id: u64) {
        if let Some(c) = self.srv.clients.get(&id) {
            tracing::warn!(client = id, addr = %c.addr, bytes = c.out.len(), "client closed for overcoming of output buffer limits (client-output-buffer-limit normal)");
        }
        self.remove_client(id);
    }

    /// Disconnects the clients marked for it during the drain (after writing what the socket
    /// takes of their released replies).
    fn release_kills(&mut self) {
        for id in std::mem::take(&mut self.srv.kill) {
            if let Some(c) = self.srv.clients.get_mut(&id) {
                let _ = c.conn.write_released(&mut c.out, &self.srv.net);
            }
            // Also drops its WATCHes and, if it was blocked, its place in the wait lists.
            self.remove_client(id);
        }
    }

    /// Periodic work: INFO's samples (`commands::info::cron`: rates, recent buffers, the
    /// eviction-exceeded timer, `loglevel verbose` statistics), active expiry, reclaiming
    /// deleted streams, noticing a background storage failure, and while writes are refused,
    /// probing whether they can resume.
    fn cron(&mut self) {
        if std::mem::take(&mut self.retry_accept) {
            for i in 0..self.listeners.len() {
                self.accept(i);
            }
            self.accept_unix();
        }
        // Gives freed memory back to the OS when a large free happened (`alloc.rs`).
        crate::alloc::cron(self.srv.config.maxmemory);
        // First, so a disk fault (which ends cron early) does not stop the metrics.
        if let (Some(m), Some(store)) = (&mut self.metrics, &self.store) {
            m.tick(&self.srv, store, now_ms());
        }
        if let Some(store) = &self.store {
            crate::commands::info::cron(&mut self.srv, store);
        }
        if self.srv.config.appendfsync == Fsync::Everysec {
            let (last, max) = self.fsync.timings();
            if max > 0 {
                let f = &mut self.srv.info.fsync_us;
                *f = (last, f.1.max(max));
            }
        }
        // The soft output limit is a time limit: clients whose socket takes nothing are checked
        // here, since nothing else happens to them.
        let now = Instant::now();
        let mut over = Vec::new();
        for c in self.srv.clients.values_mut() {
            if !c.out.is_empty()
                && !c
                    .conn
                    .output_within_limits(c.out.len(), &self.srv.limits, now)
            {
                over.push(c.id);
            }
        }
        for id in over {
            self.close_over_output_limit(id);
        }
        if let Some(f) = &mut self.srv.disk_fault {
            if f.permanent || f.last_probe.elapsed() < fault::PROBE_EVERY {
                return;
            }
            f.last_probe = Instant::now();
            match fault::probe(&self.srv.config.dir, self.srv.config.min_free_disk) {
                Ok(()) => {
                    tracing::warn!(
                        refused_for_s = f.since.elapsed().as_secs(),
                        "the data directory has room again: writes resume"
                    );
                    self.srv.disk_fault = None;
                }
                Err(e) => {
                    let now = fault::strerror(&e);
                    if now != f.last_probe_error {
                        tracing::warn!(probe = %now, "still refusing writes: the disk has no room");
                        f.last_probe_error = now;
                    }
                }
            }
            // Expiry and reaping write: not while the disk is full.
            return;
        }
        if let Some(e) = self.fsync.take_error() {
            let action = fault::classify_io(&e);
            return self.apply_fault(
                action,
                &format!("storage I/O error: {e}"),
                "fdatasync of the journal (appendfsync everysec)",
            );
        }
        if let Err(e) = self.store_mut().health_check() {
            return self.storage_fault(e, "a background flush or compaction");
        }
        let now = now_ms();
        let expire_started = Instant::now();
        for db in 0..self.store_mut().databases() {
            let n = self.store_mut().expire_cycle(db, now, 200);
            self.srv.stats.expired_keys += n as u64;
        }
        self.srv.info.expire_cycle_us += expire_started.elapsed().as_micros() as u64;
        // Queue groups' deadlines (`commands/xq.rs`): redelivery wake-ups, dead letters.
        let store = self
            .store
            .as_mut()
            .expect("the store is open outside reopen_store");
        if let Err(e) = crate::commands::xq::queue_cron(store, &mut self.srv, now) {
            return self.storage_fault(e, "running the queue group deadlines");
        }
        // BGSAVE: collect a finished copy, start a scheduled one.
        crate::commands::persistence::cron(&mut self.srv, store);
        // IDMP windows of streams no IDMP write visits (`storage/src/store/idmp.rs`).
        store.idmp_cron(
            now,
            sluice_storage::store::IDMP_CRON_STREAMS,
            sluice_storage::store::IDMP_CRON_EXPIRE,
        );
        self.after_writes(None);
        if let Err(e) = crate::commands::jobs::jobs_cron(
            self.store
                .as_mut()
                .expect("the store is open outside reopen_store"),
            &mut self.srv,
            now,
        ) {
            return self.storage_fault(e, "running the job timers");
        }
        self.serve_ready();
    }

    /// Whether a deleted stream still holds data the reaper can delete now (not while the disk
    /// is full: reaping writes).
    fn reaping(&mut self) -> bool {
        self.srv.disk_fault.is_none() && self.store_mut().dead_streams() > 0
    }

    /// Runs one slice of the reaper, at most [`REAP_SLICE`] long, if one is due (one per
    /// [`REAP_EVERY`]); its tombstones are then persisted as a drain's writes are. The loop runs
    /// it after the drain's replies went out, so a slice delays no reply already computed.
    fn reap_slice(&mut self) {
        if !self.reaping() {
            return;
        }
        let now = Instant::now();
        if now < self.next_reap {
            return;
        }
        self.next_reap = now + REAP_EVERY;
        let reaped = self
            .store_mut()
            .reap_until(REAP_SLICE_RECORDS, Some(now + REAP_SLICE));
        if let Err(e) = reaped {
            return self.storage_fault(e, "reclaiming deleted streams");
        }
        self.finish_drain();
    }

    /// Closes a client: drops its socket, its WATCHes and its place in the wait lists.
    fn remove_client(&mut self, id: u64) {
        self.srv.observers.monitors.retain(|m| *m != id);
        if let Some(mut c) = self.srv.clients.remove(&id) {
            self.unwatch_all(id, &c.watched);
            if let Some(b) = c.blocked.take() {
                self.unblock(id, &b);
            }
            let _ = self.poll.registry().deregister(&mut c.conn.sock);
            self.srv.net.connected.fetch_sub(1, Ordering::Relaxed);
            tracing::debug!(client = id, addr = %c.addr, "connection closed");
        }
    }

    /// Runs a client's pending commands until they are done, one blocks (then the client is
    /// parked), it closes, or its unwritten replies reach [`REPLY_BYTES_PER_TURN`] (the rest
    /// run once its socket has taken them). Then answers a protocol error or an end of input
    /// that waited behind those commands, and marks the client dirty for the drain's end.
    fn drive(&mut self, mut client: Client) {
        let id = client.id;
        let mut out = std::mem::take(&mut client.out);
        while let Some(argv) = client.pending.pop_front() {
            if out.len() >= REPLY_BYTES_PER_TURN {
                client.pending.push_front(argv);
                break;
            }
            let now = self.srv.clock.now_ms();
            out.set_protocol(client.proto);
            let mark = out.len();
            let mode = client.reply_mode;
            let mut ctx = Ctx {
                store: self
                    .store
                    .as_mut()
                    .expect("the store is open outside reopen_store"),
                client: &mut client,
                out: &mut out,
                srv: &mut self.srv,
                now_ms: now,
                block: None,
                wake_key: None,
            };
            process(&mut ctx, &argv);
            if let Some(spec) = ctx.block.take() {
                // The replies so far go out with this drain, as Redis sends them.
                client.out = out;
                self.dirty.push(id);
                self.park(client, spec);
                self.after_writes(None);
                self.serve_ready();
                return;
            }
            // CLIENT REPLY OFF/SKIP: drop this command's reply (CLIENT REPLY ON is answered).
            match mode {
                ReplyMode::Off if client.reply_mode == ReplyMode::Off => out.truncate(mark),
                ReplyMode::Skip => {
                    out.truncate(mark);
                    if client.reply_mode == ReplyMode::Skip {
                        client.reply_mode = ReplyMode::On;
                    }
                }
                _ => {}
            }
            self.after_writes(Some(&mut client));
            if client.close_after_reply {
                break;
            }
            if !self.srv.ready.is_empty() {
                // Serve the clients this command woke before the next command runs, as Redis
                // does between commands; this client waits in the table meanwhile.
                client.out = out;
                self.srv.clients.insert(id, client);
                self.serve_ready();
                match self.srv.clients.remove(&id) {
                    Some(c) => client = c,
                    None => return,
                }
                out = std::mem::take(&mut client.out);
            }
        }
        if client.pending.is_empty() && !client.close_after_reply {
            if let Some(text) = client.conn.protocol_error.take() {
                // As Redis: the error after the replies to the commands before it, then close.
                tracing::debug!(client = id, addr = %client.addr, error = %text, "protocol error");
                out.error(&text);
                client.close_after_reply = true;
            } else if client.conn.eof {
                // Like Redis, answer what was received, then close.
                tracing::debug!(client = id, addr = %client.addr, "client closed connection");
                client.close_after_reply = true;
            }
        }
        let again = Self::wants_turn(&client) && client.conn.maybe_unread;
        client.out = out;
        self.dirty.push(id);
        self.srv.clients.insert(id, client);
        if again {
            // Its input was not all read (a full read, or no room for more commands).
            self.schedule(id);
        }
    }
}
