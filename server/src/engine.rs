//! The engine: one OS thread that owns the store and every client's state, and executes every
//! command, one at a time, like Redis's main thread.
//!
//! Connection tasks (tokio) parse requests and send them here as [`Msg`]s; the engine answers on
//! each client's own channel. Because one thread executes everything, commands are serialized
//! (MULTI/EXEC needs no locks) and fjall is never touched from a tokio worker.
//!
//! Group commit: the engine takes one message, then every message already queued (up to
//! [`MAX_DRAIN`]), executes them all, commits the drain's writes as one atomic batch, and then
//! persists the journal ONCE for the whole drain (`fdatasync` under `appendfsync always`) before
//! it releases any reply of that drain. A reply is therefore never sent for a write that a crash
//! could still lose under the configured policy.
//!
//! A drain is also cut short once it has worked [`DRAIN_WORK_PER_COMMIT`] times as long as a
//! commit takes (a moving average of the commits that wrote something). Without that bound the
//! clients of a drain all got their replies at once at its end, and sent their next requests
//! all at once into the next drain: the engine and the network thread took turns instead of
//! working at the same time (50 clients doing XREADGROUP then XACK, one request each in
//! flight: 39 requests per drain, engine and network threads each half idle). A short drain
//! releases its replies while the engine goes on with the next; where commits are expensive
//! (an `fdatasync` under `appendfsync always`) drains stay long and the fsyncs few.

use std::collections::{BTreeSet, VecDeque};

use ahash::AHashMap as HashMap;
use std::net::SocketAddr;
use std::sync::atomic::AtomicBool;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::{Bytes, BytesMut};
use sluice_resp::ReplyWriter;
use sluice_storage::{Store, StoreError, StoreOptions, Sync};
use tokio::sync::mpsc::UnboundedSender;

use crate::client::{Client, ReplyMode};
use crate::commands;
use crate::config::{Config, Fsync, SharedLimits};
use crate::fault::{self, DiskFault};
use crate::fsync::BackgroundFsync;
use crate::reply::{printable, wrong_arity, CmdResult, ReplyError};
use crate::table::Command;
use sluice_storage::stream::StreamId;

/// A drain also ends once it has executed this many times what a commit costs (measured, see
/// [`CommitCost`]), so committing takes at most about a fifth of the engine's time.
pub const DRAIN_WORK_PER_COMMIT: u32 = 4;

/// The least work a drain may do before it ends for the reason above.
pub const MIN_DRAIN_WORK: Duration = Duration::from_micros(20);

/// Most messages executed before the drain is committed and its replies released.
pub const MAX_DRAIN: usize = 1024;

/// Reply bytes one client's request may build before the rest of its commands wait until that
/// part is written to its socket (fairness, and a bound on memory: a pipeline of 2,000 `XRANGE
/// key - +` of 5.8 MB each built 1,024 replies at once, 6 GB, and stalled every other client).
/// The rest runs when the connection task asks for it ([`Msg::Continue`]), so a client that
/// reads slowly slows only itself.
pub const REPLY_BYTES_PER_TURN: usize = 1 << 20;

/// From a connection task to the engine.
pub enum Msg {
    Connect {
        id: u64,
        addr: SocketAddr,
        laddr: SocketAddr,
        tx: UnboundedSender<Response>,
    },
    /// Commands parsed from one read, executed in order; one [`Response`] carries all replies.
    Request {
        id: u64,
        commands: Vec<Vec<Bytes>>,
    },
    Disconnect {
        id: u64,
    },
    /// The part of a request's replies marked [`Response::more`] was written: run the rest.
    Continue {
        id: u64,
    },
    /// The client closed its side while a request was in flight: drop it if it is blocked.
    Eof {
        id: u64,
    },
    Shutdown,
}

/// From the engine to a connection task.
#[derive(Debug)]
pub struct Response {
    pub data: BytesMut,
    /// Close the connection after writing `data`.
    pub close: bool,
    /// The request has commands left ([`REPLY_BYTES_PER_TURN`]): once `data` is written, send
    /// [`Msg::Continue`]; the request is still in flight.
    pub more: bool,
    /// Whether the client is authenticated after these commands (the parser's limits depend
    /// on it).
    pub authenticated: bool,
}

impl Response {
    /// Closes the connection without sending anything more.
    pub fn close() -> Response {
        Response {
            data: BytesMut::new(),
            close: true,
            more: false,
            authenticated: false,
        }
    }
}

/// Counters for INFO.
#[derive(Default, Debug)]
pub struct Stats {
    pub commands: u64,
    pub connections: u64,
    pub keyspace_hits: u64,
    pub keyspace_misses: u64,
    pub expired_keys: u64,
    pub persists: u64,
    /// Per command (keyed by its table entry's address: no string hashing per call): its
    /// name, calls, µs.
    pub per_command: HashMap<usize, (&'static str, u64, u64)>,
}

/// The engine's clock: one reading of the monotonic clock per command, which both times the
/// command (INFO commandstats) and gives its Unix time, derived from a wall-clock reading
/// taken once per drain (3 clock reads per command became 1).
pub struct Clock {
    wall_ms: u64,
    mono: Instant,
    /// The last reading: the end of the previous command, or the start of the drain.
    mark: Instant,
}

impl Clock {
    fn new() -> Clock {
        let mono = Instant::now();
        Clock {
            wall_ms: now_ms(),
            mono,
            mark: mono,
        }
    }

    /// Reads both clocks again (each drain, so wall-clock steps are followed).
    pub fn sync(&mut self) {
        *self = Clock::new();
    }

    /// Starts a timing at the current time (before work that does not follow a command).
    pub fn restart(&mut self) {
        self.mark = Instant::now();
    }

    /// Unix ms as of the last reading.
    pub fn now_ms(&self) -> u64 {
        self.wall_ms + self.mark.saturating_duration_since(self.mono).as_millis() as u64
    }

    /// Ends a timing started at `start`: reads the clock once; returns the µs elapsed.
    fn lap(&mut self, start: Instant) -> u64 {
        self.mark = Instant::now();
        self.mark.saturating_duration_since(start).as_micros() as u64
    }
}

/// Server-wide state that commands may read and change.
pub struct Server {
    pub clock: Clock,
    pub config: Config,
    pub limits: Arc<SharedLimits>,
    /// Every connected client except the one executing (which is lent to its `Ctx`).
    pub clients: HashMap<u64, Client>,
    pub stats: Stats,
    pub started: Instant,
    pub run_id: String,
    /// Clients to disconnect once the current drain is replied to.
    pub kill: Vec<u64>,
    /// WATCHed keys → the clients watching them.
    pub watchers: HashMap<(usize, Bytes), Vec<u64>>,
    /// Mirrors whether `requirepass` is set, for connection tasks.
    pub requirepass_set: Arc<AtomicBool>,
    pub net: Arc<crate::net::NetStats>,
    /// Set by SHUTDOWN: stop once this drain is answered.
    pub shutdown_requested: bool,
    /// State of the xorshift generator behind RANDOMKEY.
    pub rng: u64,
    /// Blocked clients per key, in arrival order.
    pub waiting: HashMap<(usize, Bytes), Vec<u64>>,
    /// Keys signalled by the commands of this drain that have waiters.
    pub ready: Vec<(usize, Bytes)>,
    /// Deadlines of blocked clients.
    pub deadlines: BTreeSet<(Instant, u64)>,
    /// Set while writes are refused after a disk-full fault (see `fault.rs`).
    pub disk_fault: Option<DiskFault>,
}

impl Server {
    /// A pseudo-random number (xorshift64*); not for anything secret.
    pub fn random(&mut self) -> u64 {
        let mut x = self.rng;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

/// What a command handler works with.
pub struct Ctx<'a> {
    pub store: &'a mut Store,
    pub client: &'a mut Client,
    pub out: &'a mut ReplyWriter,
    pub srv: &'a mut Server,
    pub now_ms: u64,
    /// Set by a blocking command that found nothing to return: the engine parks the client.
    pub block: Option<BlockSpec>,
    /// When a blocked command is re-run: the key whose change woke it.
    pub wake_key: Option<Bytes>,
}

/// What a blocking command waits for.
#[derive(Debug, Clone)]
pub struct BlockSpec {
    pub keys: Vec<Bytes>,
    /// For each key (same order), when a change to it can serve the client; the engine checks
    /// this before it re-runs the command, so a write wakes only the waiters it can serve
    /// (2,000 clients blocked on one stream cost one comparison each per XADD, not a command).
    pub wake_if: Vec<WakeIf>,
    /// 0 = forever.
    pub timeout_ms: u64,
    /// The command to re-run when a key is signalled, with `$` resolved to concrete IDs.
    pub argv: Vec<Bytes>,
}

/// When a signalled key may serve a blocked client (see [`BlockSpec::wake_if`]). Each must
/// be true whenever re-running the command would reply (a false "true" only costs a re-run).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WakeIf {
    /// Always re-run the command.
    Always,
    /// The key is a stream whose last ID is above this one (XREAD).
    StreamPast(StreamId),
    /// The key is a stream whose last ID is above this group's last delivered ID, or the key,
    /// the stream or the group is gone (XREADGROUP `>`, which then answers an error).
    GroupBehind(Bytes),
    /// The key is a job queue (GETJOB), not a Redis key: it waits under database
    /// `commands::jobs::JOBS_DB`; always re-run.
    Queue,
}

/// A client parked by a blocking command.
pub struct Blocked {
    pub argv: Vec<Bytes>,
    pub keys: Vec<(usize, Bytes)>,
    /// Aligned with `keys`.
    pub wake_if: Vec<WakeIf>,
    pub deadline: Option<Instant>,
    /// Replies of the request's earlier commands, sent with the blocked command's reply.
    pub out: ReplyWriter,
    /// The request's commands after the blocked one.
    pub rest: VecDeque<Vec<Bytes>>,
}

impl Ctx<'_> {
    /// Wakes clients blocked on `key` once the current command is done (XADD and friends).
    pub fn signal_ready(&mut self, db: usize, key: &Bytes) {
        if self.srv.waiting.is_empty() {
            return; // nobody is blocked: the common case, without cloning the key
        }
        let k = (db, key.clone());
        if self.srv.waiting.contains_key(&k) && !self.srv.ready.contains(&k) {
            self.srv.ready.push(k);
        }
    }

    /// Writes an error reply.
    pub fn error(&mut self, e: &ReplyError) {
        self.out.error(&e.0);
    }

    /// The current database.
    pub fn db(&self) -> usize {
        self.client.db
    }
}

pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

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
    rx: Receiver<Msg>,
    shutdown_notify: Option<Arc<tokio::sync::Notify>>,
    /// Replies of the current drain, released after the persist.
    outbox: Vec<(UnboundedSender<Response>, Response)>,
    commit_cost: CommitCost,
}

/// A moving average of how long the commit and persist of a drain that wrote something takes.
#[derive(Debug, Default)]
struct CommitCost {
    avg_ns: u64,
}

impl CommitCost {
    fn record(&mut self, took: Duration) {
        let ns = u64::try_from(took.as_nanos()).unwrap_or(u64::MAX);
        self.avg_ns = if self.avg_ns == 0 {
            ns
        } else {
            self.avg_ns - self.avg_ns / 8 + ns / 8
        };
    }

    /// How long the next drain may work before it ends.
    fn drain_budget(&self) -> Duration {
        Duration::from_nanos(self.avg_ns.saturating_mul(u64::from(DRAIN_WORK_PER_COMMIT)))
            .max(MIN_DRAIN_WORK)
    }
}

impl Engine {
    pub fn new(
        store: Store,
        store_opts: StoreOptions,
        fsync: BackgroundFsync,
        config: Config,
        limits: Arc<SharedLimits>,
        rx: Receiver<Msg>,
        requirepass_set: Arc<AtomicBool>,
        net: Arc<crate::net::NetStats>,
    ) -> Self {
        let run_id: String = {
            let seed = now_ms() ^ u64::from(std::process::id()).rotate_left(32);
            let h = ahash::RandomState::with_seeds(seed, seed ^ 0x9e37, 7, 11);
            (0..5)
                .map(|i| format!("{:016x}", h.hash_one(i)))
                .collect::<String>()[..40]
                .to_string()
        };
        Engine {
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
                requirepass_set,
                net,
                rng: now_ms() | 1,
                shutdown_requested: false,
                waiting: HashMap::new(),
                ready: Vec::new(),
                deadlines: BTreeSet::new(),
                disk_fault: None,
            },
            rx,
            shutdown_notify: None,
            outbox: Vec::new(),
            commit_cost: CommitCost::default(),
        }
    }

    /// Where SHUTDOWN asks the network side to stop.
    pub fn on_shutdown_request(&mut self, notify: Arc<tokio::sync::Notify>) {
        self.shutdown_notify = Some(notify);
    }

    /// Runs until a [`Msg::Shutdown`] or every sender is gone. Storage faults never end it
    /// with a half-alive server: they go through [`fault::classify`] (read-only, or exit). The
    /// error returned is only the final close's.
    pub fn run(mut self) -> Result<(), StoreError> {
        let mut next_cron = Instant::now();
        loop {
            let wake = self
                .srv
                .deadlines
                .first()
                .map_or(next_cron, |(d, _)| (*d).min(next_cron));
            let wait = wake.saturating_duration_since(Instant::now());
            let first = match self.rx.recv_timeout(wait) {
                Ok(m) => Some(m),
                Err(RecvTimeoutError::Timeout) => None,
                Err(RecvTimeoutError::Disconnected) => break,
            };
            let mut stop = false;
            self.srv.clock.sync();
            if let Some(m) = first {
                // The engine's clock is read once per command anyway (`Clock::lap`): the drain's
                // work so far is its last reading less the one `sync` just took.
                let started = self.srv.clock.mark;
                let budget = self.commit_cost.drain_budget();
                stop |= self.handle(m);
                let mut n = 1;
                while n < MAX_DRAIN
                    && !stop
                    && self.srv.clock.mark.saturating_duration_since(started) < budget
                {
                    match self.rx.try_recv() {
                        Ok(m) => stop |= self.handle(m),
                        Err(_) => break,
                    }
                    n += 1;
                }
            }
            self.expire_blocked();
            if Instant::now() >= next_cron {
                self.cron();
                next_cron =
                    Instant::now() + Duration::from_millis(1000 / self.srv.config.hz.max(1));
            }
            self.finish_drain();
            if self.srv.shutdown_requested {
                self.srv.shutdown_requested = false;
                tracing::info!("SHUTDOWN requested by a client");
                if let Some(n) = &self.shutdown_notify {
                    n.notify_one();
                }
            }
            if stop {
                break;
            }
        }
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

    fn store_mut(&mut self) -> &mut Store {
        self.store
            .as_mut()
            .expect("the store is open outside reopen_store")
    }

    /// Commits and persists per `appendfsync`, then releases the drain's replies and kills. A
    /// storage error instead goes to [`Engine::storage_fault`], which withholds the replies.
    fn finish_drain(&mut self) {
        let started = Instant::now();
        if let Err(e) = self.store_mut().commit() {
            return self.storage_fault(e, "committing a batch to the journal");
        }
        if self.store_mut().has_unpersisted() {
            let sync = match self.srv.config.appendfsync {
                Fsync::Always => Sync::Disk,
                Fsync::Everysec | Fsync::No => Sync::Os,
            };
            if let Err(e) = self.store_mut().persist(sync) {
                let during = match sync {
                    Sync::Disk => "fdatasync of the journal (appendfsync always)",
                    Sync::Os => "writing the journal",
                };
                return self.storage_fault(e, during);
            }
            self.srv.stats.persists += 1;
            if self.srv.config.appendfsync == Fsync::Everysec {
                // The once-a-second fdatasync runs on its own thread (`fsync.rs`).
                self.fsync.mark_dirty();
            }
            self.commit_cost.record(started.elapsed());
        }
        for (tx, resp) in self.outbox.drain(..) {
            // A closed channel means the connection is gone; its Disconnect is on the way.
            let _ = tx.send(resp);
        }
        self.release_kills();
    }

    /// Disconnects the clients marked for it during the drain.
    fn release_kills(&mut self) {
        for id in std::mem::take(&mut self.srv.kill) {
            if let Some(c) = self.srv.clients.get(&id) {
                let _ = c.tx.send(Response::close());
            }
            // Also drops its WATCHes and, if it was blocked, its place in the wait lists.
            self.remove_client(id);
        }
    }

    /// The one answer to a storage error (see `fault.rs`): exit, or withhold this drain's
    /// replies, reopen the store from disk and refuse writes until the disk has room.
    fn storage_fault(&mut self, e: StoreError, during: &str) {
        let action = fault::classify(&e, &self.srv.config.dir, self.srv.config.min_free_disk);
        self.apply_fault(action, &e, during);
    }

    /// [`Engine::storage_fault`] once the answer is known.
    fn apply_fault(&mut self, action: fault::Action, e: &dyn std::fmt::Display, during: &str) {
        let dir = self.srv.config.dir.clone();
        let fault = match action {
            fault::Action::FailStop => fault::fatal(&format!(
                "{during} failed: {e} (data directory {}); a restart recovers every acknowledged write from the journal",
                dir.display()
            )),
            fault::Action::ReadOnly(cause) => {
                tracing::error!(
                    error = %e,
                    during,
                    dir = %dir.display(),
                    "disk full: refusing writes (-MISCONF) until min-free-disk ({} bytes) is free; reads go on",
                    self.srv.config.min_free_disk
                );
                DiskFault::new(cause, now_ms())
            }
            fault::Action::Damaged(cause) => {
                tracing::error!(
                    error = %e,
                    during,
                    dir = %dir.display(),
                    "the store refuses writes after a failed background flush or compaction: refusing writes (-MISCONF) until the server restarts; reads go on. {cause}"
                );
                // Names the damaged table, if any, from a thread of its own (reads every table).
                self.store_mut().diagnose_in_background();
                DiskFault::damaged(cause, now_ms())
            }
        };
        // The drain's writes may or may not have reached the journal: none of its replies may
        // go out. Closing the connections tells those clients their commands' fate is unknown.
        let withheld = self.outbox.len();
        for (tx, _) in self.outbox.drain(..) {
            let _ = tx.send(Response::close());
        }
        if withheld > 0 {
            tracing::warn!(
                clients = withheld,
                "closed the connections whose replies were waiting on the failed write"
            );
        }
        self.reopen_store(during);
        self.srv.disk_fault = Some(fault);
        // Memory now equals the disk again, which may have lost this drain's changes: every
        // open transaction that WATCHes a key fails, as if the key had been touched.
        for c in self.srv.clients.values_mut() {
            if !c.watched.is_empty() {
                c.dirty_cas = true;
            }
        }
        self.release_kills();
    }

    /// Drops the store (and fjall's lock on the directory with it) and opens it again, so that
    /// memory holds exactly what the journal and tables hold. Exits if that fails.
    fn reopen_store(&mut self, after: &str) {
        let started = Instant::now();
        drop(self.store.take());
        let dir = &self.srv.config.dir;
        match Store::open(dir, &self.store_opts, now_ms()) {
            Ok(s) => {
                self.store = Some(s);
                let watching = !self.srv.watchers.is_empty();
                self.store_mut().track_touches(watching);
                tracing::info!(
                    dir = %self.srv.config.dir.display(),
                    ms = started.elapsed().as_millis() as u64,
                    "store reopened from disk"
                );
            }
            Err(e) => fault::fatal(&format!(
                "reopening the store in {} after a failed {after} failed: {e}",
                dir.display()
            )),
        }
    }

    /// Periodic work: active expiry, reclaiming deleted streams, noticing a background storage
    /// failure, and while writes are refused, probing whether they can resume.
    fn cron(&mut self) {
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
        for db in 0..self.store_mut().databases() {
            let n = self.store_mut().expire_cycle(db, now, 200);
            self.srv.stats.expired_keys += n as u64;
        }
        self.after_writes(None);
        if let Err(e) =
            commands::jobs::jobs_cron(self.store.as_mut().expect("open"), &mut self.srv, now)
        {
            return self.storage_fault(e, "running the job timers");
        }
        self.serve_ready();
        // Reclaim deleted streams in the background, a bounded amount per tick.
        if self.store_mut().dead_streams() > 0 {
            if let Err(e) = self.store_mut().reap(20_000) {
                self.storage_fault(e, "reclaiming deleted streams");
            }
        }
    }

    /// Returns true when the engine must stop.
    fn handle(&mut self, msg: Msg) -> bool {
        match msg {
            Msg::Connect {
                id,
                addr,
                laddr,
                tx,
            } => {
                let auth = self.srv.config.requirepass.is_none();
                self.srv
                    .clients
                    .insert(id, Client::new(id, addr, laddr, tx, now_ms(), auth));
                self.srv.stats.connections += 1;
            }
            Msg::Disconnect { id } => self.remove_client(id),
            Msg::Eof { id } => {
                if let Some(c) = self.srv.clients.get(&id).filter(|c| c.blocked.is_some()) {
                    let _ = c.tx.send(Response::close());
                    self.remove_client(id);
                }
            }
            Msg::Request { id, commands } => self.request(id, commands),
            Msg::Continue { id } => {
                if let Some(mut client) = self.srv.clients.remove(&id) {
                    let queue = std::mem::take(&mut client.deferred);
                    let out = ReplyWriter::new(client.proto);
                    self.drive(client, out, queue);
                }
            }
            Msg::Shutdown => return true,
        }
        false
    }

    fn request(&mut self, id: u64, commands: Vec<Vec<Bytes>>) {
        let Some(client) = self.srv.clients.remove(&id) else {
            return; // killed while its request was in flight
        };
        let out = ReplyWriter::new(client.proto);
        self.drive(client, out, commands.into());
    }

    fn remove_client(&mut self, id: u64) {
        if let Some(mut c) = self.srv.clients.remove(&id) {
            self.unwatch_all(id, &c.watched);
            if let Some(b) = c.blocked.take() {
                self.unblock(id, &b);
            }
        }
    }

    /// Executes a client's queued commands until they are done (then queues the reply) or one
    /// blocks (then parks the client with what it has so far).
    fn drive(&mut self, mut client: Client, mut out: ReplyWriter, mut queue: VecDeque<Vec<Bytes>>) {
        let id = client.id;
        while let Some(argv) = queue.pop_front() {
            if out.len() >= REPLY_BYTES_PER_TURN {
                // Fairness: the rest runs once this part is written (see the constant).
                queue.push_front(argv);
                client.deferred = std::mem::take(&mut queue);
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
                self.park(client, out, queue, spec);
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
                self.srv.clients.insert(id, client);
                self.serve_ready();
                match self.srv.clients.remove(&id) {
                    Some(c) => client = c,
                    None => return,
                }
            }
        }
        let resp = Response {
            data: out.take(),
            close: client.close_after_reply,
            more: !client.deferred.is_empty(),
            authenticated: client.authenticated,
        };
        self.outbox.push((client.tx.clone(), resp));
        if client.close_after_reply {
            self.unwatch_all(id, &client.watched);
        } else {
            self.srv.clients.insert(id, client);
        }
    }

    /// Parks a client on the keys of `spec` until one is signalled or its timeout passes.
    fn park(
        &mut self,
        mut client: Client,
        out: ReplyWriter,
        rest: VecDeque<Vec<Bytes>>,
        spec: BlockSpec,
    ) {
        let id = client.id;
        let db = client.db;
        let deadline =
            (spec.timeout_ms > 0).then(|| Instant::now() + Duration::from_millis(spec.timeout_ms));
        debug_assert_eq!(
            spec.keys.len(),
            spec.wake_if.len(),
            "a wake condition per key"
        );
        let mut keys = Vec::new();
        let mut wake_if = Vec::new();
        for (k, w) in spec.keys.into_iter().zip(spec.wake_if) {
            let db = if w == WakeIf::Queue {
                commands::jobs::JOBS_DB
            } else {
                db
            };
            let key = (db, k);
            if !keys.contains(&key) {
                self.srv.waiting.entry(key.clone()).or_default().push(id);
                keys.push(key);
                wake_if.push(w);
            }
        }
        if let Some(d) = deadline {
            self.srv.deadlines.insert((d, id));
        }
        client.blocked = Some(Blocked {
            argv: spec.argv,
            keys,
            wake_if,
            deadline,
            out,
            rest,
        });
        self.srv.clients.insert(id, client);
    }

    /// Removes a parked client from the wait lists and the deadline set.
    fn unblock(&mut self, id: u64, b: &Blocked) {
        for k in &b.keys {
            if let Some(ids) = self.srv.waiting.get_mut(k) {
                ids.retain(|w| *w != id);
                if ids.is_empty() {
                    self.srv.waiting.remove(k);
                }
            }
        }
        if let Some(d) = b.deadline {
            self.srv.deadlines.remove(&(d, id));
        }
    }

    /// Re-runs the commands of clients blocked on signalled keys, in arrival order per key.
    fn serve_ready(&mut self) {
        while !self.srv.ready.is_empty() {
            let ready = std::mem::take(&mut self.srv.ready);
            for key in ready {
                let ids = self.srv.waiting.get(&key).cloned().unwrap_or_default();
                for id in ids {
                    if self.may_serve(id, &key) {
                        self.retry_blocked(id, key.1.clone());
                    }
                }
            }
        }
    }

    /// Whether the change of `key` may serve the client `id` blocked on it (its [`WakeIf`]).
    fn may_serve(&mut self, id: u64, key: &(usize, Bytes)) -> bool {
        let Some(b) = self.srv.clients.get(&id).and_then(|c| c.blocked.as_ref()) else {
            return false;
        };
        let Some(i) = b.keys.iter().position(|k| k == key) else {
            return false;
        };
        let cond = match &b.wake_if[i] {
            WakeIf::Always | WakeIf::Queue => return true,
            c => c.clone(),
        };
        let now = self.srv.clock.now_ms();
        let meta = self.store_mut().stream(key.0, &key.1, now);
        match (cond, meta) {
            (WakeIf::StreamPast(after), Ok(Some(m))) => m.last_id > after,
            (WakeIf::StreamPast(_), _) => false,
            (WakeIf::GroupBehind(g), Ok(Some(m))) => match m.groups.get(g.as_ref()) {
                Some(g) => m.last_id > g.last_id,
                None => true,
            },
            (WakeIf::GroupBehind(_), _) => true,
            (WakeIf::Always | WakeIf::Queue, _) => true,
        }
    }

    /// Re-runs the blocked command of `id`. A reply unparks it; if it still has nothing to
    /// return it stays parked where it was (so clients keep their arrival order) with its
    /// original deadline.
    fn retry_blocked(&mut self, id: u64, wake_key: Bytes) {
        let Some(mut client) = self.srv.clients.remove(&id) else {
            return;
        };
        let Some(mut b) = client.blocked.take() else {
            self.srv.clients.insert(id, client);
            return;
        };
        let mark = b.out.len();
        b.out.set_protocol(client.proto);
        self.srv.clock.restart();
        let mut ctx = Ctx {
            store: self
                .store
                .as_mut()
                .expect("the store is open outside reopen_store"),
            client: &mut client,
            out: &mut b.out,
            now_ms: self.srv.clock.now_ms(),
            srv: &mut self.srv,
            block: None,
            wake_key: Some(wake_key),
        };
        if let Some(cmd) = commands::lookup(&b.argv[0]).and_then(|c| resolve(c, &b.argv).ok()) {
            call(&mut ctx, cmd, &b.argv);
        }
        if ctx.block.take().is_some() {
            b.out.truncate(mark);
            client.blocked = Some(b);
            self.srv.clients.insert(id, client);
            return;
        }
        self.unblock(id, &b);
        self.after_writes(Some(&mut client));
        let out = std::mem::take(&mut b.out);
        self.drive(client, out, std::mem::take(&mut b.rest));
    }

    /// Answers blocked clients whose timeout passed with the null reply, then runs the rest of
    /// their request.
    fn expire_blocked(&mut self) {
        let now = Instant::now();
        while let Some(&(deadline, id)) = self.srv.deadlines.first() {
            if deadline > now {
                break;
            }
            self.srv.deadlines.remove(&(deadline, id));
            let Some(mut client) = self.srv.clients.remove(&id) else {
                continue;
            };
            let Some(mut b) = client.blocked.take() else {
                self.srv.clients.insert(id, client);
                continue;
            };
            self.unblock(id, &b);
            let mut out = std::mem::take(&mut b.out);
            out.set_protocol(client.proto);
            out.null_array();
            self.drive(client, out, std::mem::take(&mut b.rest));
        }
    }

    /// Marks WATCHers of changed keys dirty.
    fn after_writes(&mut self, mut current: Option<&mut Client>) {
        // Keys that lost their stream wake the clients blocked on them (XREADGROUP answers
        // with an error; XREAD goes back to waiting).
        let waiting = !self.srv.waiting.is_empty();
        self.store_mut().track_removals(waiting);
        for key in self.store_mut().take_removed() {
            if self.srv.waiting.contains_key(&key) && !self.srv.ready.contains(&key) {
                self.srv.ready.push(key);
            }
        }
        if self.srv.watchers.is_empty() {
            return;
        }
        let touched = self.store_mut().take_touched();
        let mut dirty: Vec<u64> = Vec::new();
        for key in touched {
            if let Some(ids) = self.srv.watchers.get(&key) {
                dirty.extend(ids);
            }
        }
        for id in dirty {
            match current.as_deref_mut() {
                Some(c) if c.id == id => c.dirty_cas = true,
                _ => {
                    if let Some(c) = self.srv.clients.get_mut(&id) {
                        c.dirty_cas = true;
                    }
                }
            }
        }
    }

    fn unwatch_all(&mut self, id: u64, keys: &[(usize, Bytes)]) {
        let store = self
            .store
            .as_mut()
            .expect("the store is open outside reopen_store");
        unwatch(&mut self.srv, store, id, keys);
    }
}

/// Removes `id` from the watchers of `keys`.
pub fn unwatch(srv: &mut Server, store: &mut Store, id: u64, keys: &[(usize, Bytes)]) {
    for k in keys {
        if let Some(ids) = srv.watchers.get_mut(k) {
            ids.retain(|w| *w != id);
            if ids.is_empty() {
                srv.watchers.remove(k);
            }
        }
    }
    store.track_touches(!srv.watchers.is_empty());
}

/// Executes one command from a client: authentication, lookup, arity, MULTI queueing, then the
/// handler, then the commit of its writes.
pub fn process(ctx: &mut Ctx<'_>, argv: &[Bytes]) {
    let Some(name) = argv.first() else { return };
    let Some(cmd) = commands::lookup(name) else {
        // Redis quotes arguments until the list reaches 128 characters.
        let mut args = String::new();
        for a in argv[1..].iter() {
            if args.len() >= 128 {
                break;
            }
            args.push_str(&format!("'{}' ", printable(a, 128 - args.len())));
        }
        let msg = format!(
            "ERR unknown command '{}', with args beginning with: {}",
            printable(name, 128),
            args
        );
        queue_error(ctx);
        ctx.out.error(&msg);
        return;
    };
    if !ctx.client.authenticated && !cmd.has_flag("no_auth") {
        queue_error(ctx);
        ctx.out.error("NOAUTH Authentication required.");
        return;
    }
    let cmd = match resolve(cmd, argv) {
        Ok(c) => c,
        Err(e) => {
            if cmd.name == "exec" {
                // Redis aborts the transaction and says why, even outside MULTI.
                ctx.client.multi = None;
                ctx.client.multi_error = false;
                crate::commands::multi::unwatch_client(ctx);
                let why = e.0.strip_prefix("ERR ").unwrap_or(&e.0);
                ctx.out.error(&format!(
                    "EXECABORT Transaction discarded because of: {why}"
                ));
                return;
            }
            queue_error(ctx);
            ctx.error(&e);
            return;
        }
    };
    if let Some(f) = &ctx.srv.disk_fault {
        // Redis refuses writes, and PING (a health check should fail), while its AOF cannot
        // be written.
        if cmd.has_flag("write") || cmd.name == "ping" {
            let msg = f.reply();
            queue_error(ctx);
            ctx.out.error(&msg);
            return;
        }
    }
    if let Some(queue) = ctx.client.multi.as_mut() {
        if !matches!(
            cmd.name,
            "exec" | "discard" | "multi" | "watch" | "quit" | "reset"
        ) {
            queue.push(argv.to_vec());
            ctx.out.simple("QUEUED");
            return;
        }
    }
    call(ctx, cmd, argv);
}

/// Flags the open transaction as failed (a command could not be queued).
fn queue_error(ctx: &mut Ctx<'_>) {
    if ctx.client.multi.is_some() {
        ctx.client.multi_error = true;
    }
}

/// Finds the subcommand of a container and checks arity and key lengths.
pub fn resolve(cmd: &'static Command, argv: &[Bytes]) -> Result<&'static Command, ReplyError> {
    let mut cmd = cmd;
    let bare_container = argv.len() == 1 && cmd.handler.is_some();
    if !cmd.subcommands.is_empty() && !bare_container {
        let Some(sub) = argv.get(1) else {
            return Err(wrong_arity(cmd.name));
        };
        cmd = match cmd.subcommand(sub) {
            Some(s) => s,
            None => return Err(crate::reply::unknown_subcommand(cmd.name, sub)),
        };
    }
    if !cmd.arity_ok(argv.len()) {
        return Err(wrong_arity(cmd.name));
    }
    for i in cmd.key_indices(argv.len()) {
        if argv[i].len() > sluice_storage::MAX_KEY_LEN {
            return Err(ReplyError::new(format!(
                "ERR key too long: {} bytes, the limit is {} bytes",
                argv[i].len(),
                sluice_storage::MAX_KEY_LEN
            )));
        }
    }
    Ok(cmd)
}

/// Runs a resolved command (also used by EXEC) and commits its writes.
pub fn call(ctx: &mut Ctx<'_>, cmd: &'static Command, argv: &[Bytes]) {
    let Some(handler) = cmd.handler else {
        ctx.error(&wrong_arity(cmd.name));
        return;
    };
    if let Some(f) = &ctx.srv.disk_fault {
        // Also inside EXEC and for re-run blocked commands: nothing writes while the disk is
        // full.
        if cmd.has_flag("write") {
            let msg = f.reply();
            ctx.out.error(&msg);
            return;
        }
    }
    let start = ctx.srv.clock.mark;
    // CLIENT LIST shows the command being run, as Redis does.
    ctx.client.last_cmd = cmd.name;
    let result: CmdResult = handler(ctx, argv);
    if let Err(e) = result {
        ctx.error(&e);
    }
    ctx.store.end_command();
    ctx.client.last_cmd_ms = ctx.now_ms;
    let stats = &mut ctx.srv.stats;
    stats.commands += 1;
    let key = cmd as *const Command as usize;
    let e = stats.per_command.entry(key).or_insert((cmd.name, 0, 0));
    e.1 += 1;
    e.2 += ctx.srv.clock.lap(start);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drain_budget_follows_the_commit_cost() {
        let mut c = CommitCost::default();
        // Nothing committed yet: the floor.
        assert_eq!(c.drain_budget(), MIN_DRAIN_WORK);
        // Cheap commits (a write to the OS): the floor still.
        c.record(Duration::from_micros(2));
        assert_eq!(c.drain_budget(), MIN_DRAIN_WORK);
        // Expensive commits (fdatasync): the budget follows the average, 4x.
        for _ in 0..200 {
            c.record(Duration::from_millis(2));
        }
        let b = c.drain_budget();
        assert!(
            b > Duration::from_micros(7_900) && b <= Duration::from_millis(8),
            "{b:?}"
        );
        // One outlier moves the average by an eighth of the difference only.
        c.record(Duration::from_millis(18));
        let b = c.drain_budget();
        assert!(
            b > Duration::from_micros(15_900) && b <= Duration::from_millis(16),
            "{b:?}"
        );
    }
}
