//! The state commands see: the server-wide [`Server`] (clients, counters, wait lists, WATCH
//! lists, the clock) and the per-command [`Ctx`] handed to every handler.
//!
//! Invariants: the client executing a command is lent to its `Ctx` and is not in
//! `Server::clients` meanwhile (so it is never reached twice); every id in `waiting` and
//! `deadlines` names a client in `clients` whose `blocked` lists that key / deadline;
//! `watchers` and each client's `watched` list agree.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use ahash::AHashMap as HashMap;
use bytes::Bytes;
use sluice_resp::ReplyWriter;
use sluice_storage::Store;

use super::BlockSpec;
use crate::client::Client;
use crate::config::{Config, SharedLimits};
use crate::fault::DiskFault;
use crate::reply::ReplyError;

/// Counters for INFO.
#[derive(Default, Debug)]
pub struct Stats {
    pub commands: u64,
    pub connections: u64,
    pub keyspace_hits: u64,
    pub keyspace_misses: u64,
    pub expired_keys: u64,
    pub persists: u64,
    /// Per command (keyed by its table entry's address: no string hashing per call).
    pub per_command: HashMap<usize, CommandStats>,
    /// Error replies by their first word (`ERR`, `WRONGTYPE`, …): INFO errorstats.
    pub errors: std::collections::BTreeMap<String, u64>,
    /// Every error reply (INFO stats `total_error_replies`).
    pub error_replies: u64,
}

/// One command's INFO commandstats line.
#[derive(Debug, Clone)]
pub struct CommandStats {
    pub name: &'static str,
    pub calls: u64,
    pub usec: u64,
    /// Refused before running (arity, OOM, a disk fault, MULTI queueing errors…).
    pub rejected: u64,
    /// Ran and answered an error.
    pub failed: u64,
    /// Calls by duration (LATENCY HISTOGRAM's buckets, see `commands::latency`).
    pub histogram: [u64; crate::commands::latency::BUCKETS],
    /// INFO latencystats' histogram (`latency-tracking`; `None` until the first call).
    pub latency: crate::commands::latency::Tracking,
}

impl CommandStats {
    /// Counts a call that took `micros` in the LATENCY HISTOGRAM buckets and, with
    /// `latency-tracking`, in the percentiles' histogram.
    pub fn record(&mut self, micros: u64, tracking: bool) {
        self.histogram[crate::commands::latency::bucket(micros)] += 1;
        if tracking {
            crate::commands::latency::track(&mut self.latency, micros);
        }
    }
}

impl Stats {
    /// Counts an error reply if the reply written from `mark` on is one (Redis counts every
    /// error reply, also inside EXEC, by its first word).
    pub fn count_error(&mut self, out: &[u8]) -> bool {
        let Some(rest) = out.strip_prefix(b"-") else {
            return false;
        };
        let end = rest
            .iter()
            .position(|b| *b == b' ' || *b == b'\r')
            .unwrap_or(rest.len());
        let prefix = String::from_utf8_lossy(&rest[..end.min(64)]).into_owned();
        *self.errors.entry(prefix).or_insert(0) += 1;
        self.error_replies += 1;
        true
    }

    /// The stats row of `cmd`.
    pub fn command(&mut self, cmd: &'static crate::table::Command) -> &mut CommandStats {
        let key = cmd as *const crate::table::Command as usize;
        self.per_command.entry(key).or_insert(CommandStats {
            name: cmd.name,
            calls: 0,
            usec: 0,
            rejected: 0,
            failed: 0,
            histogram: [0; crate::commands::latency::BUCKETS],
            latency: None,
        })
    }
}

/// The engine's clock: one reading of the monotonic clock per command, which both times the
/// command (INFO commandstats) and gives its Unix time, derived from a wall-clock reading
/// taken once per drain (3 clock reads per command became 1).
pub struct Clock {
    wall_ms: u64,
    mono: Instant,
    /// The last reading: the end of the previous command, or the start of the drain.
    pub(super) mark: Instant,
}

impl Clock {
    pub(super) fn new() -> Clock {
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
    pub(super) fn lap(&mut self, start: Instant) -> u64 {
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
    pub net: Arc<crate::net::NetStats>,
    /// Set by SHUTDOWN: stop once this drain is answered.
    pub shutdown_requested: bool,
    /// SAVE / BGSAVE: the running copy and the last result (`commands/persistence.rs`).
    pub backup: crate::commands::persistence::Backups,
    /// State of the xorshift generator behind RANDOMKEY.
    pub rng: u64,
    /// Blocked clients per key, in arrival order.
    pub waiting: HashMap<(usize, Bytes), Vec<u64>>,
    /// Keys signalled by the commands of this drain that have waiters.
    pub ready: Vec<(usize, Bytes)>,
    /// Deadlines of blocked clients.
    pub deadlines: BTreeSet<(Instant, u64)>,
    /// CLIENT PAUSE, WAIT, WAITAOF (`engine/blocking.rs`).
    pub holds: super::Holds,
    /// Set while writes are refused after a disk-full fault (see `fault.rs`).
    pub disk_fault: Option<DiskFault>,
    /// SLOWLOG's entries and the MONITOR clients.
    pub observers: crate::commands::monitoring::Observers,
    /// The process's memory (RSS) as last sampled for `maxmemory`, and when.
    pub used_memory: (u64, Option<Instant>),
    /// The next client's id (also taken by connections accepted while a script runs).
    pub next_client_id: u64,
    /// Lua scripting: the VM, the script cache, the busy loop's sockets.
    pub script: crate::scripting::Scripting,
    /// What INFO samples in cron and the drain's timings (`commands::info::InfoState`).
    pub info: crate::commands::info::InfoState,
}

/// How stale the memory sample behind `maxmemory` may be.
const MEMORY_SAMPLE_EVERY: std::time::Duration = std::time::Duration::from_millis(100);

impl Server {
    /// True when `maxmemory` is set and the process uses more: commands that may add data
    /// (`denyoom`) are refused with Redis's OOM error. Sluice never evicts (the data is on
    /// disk; what grows in memory is caches, memtables and buffers), so every
    /// `maxmemory-policy` acts as `noeviction`.
    pub fn over_maxmemory(&mut self) -> bool {
        let max = self.config.maxmemory;
        if max == 0 {
            return false;
        }
        let now = self.clock.mark;
        if self
            .used_memory
            .1
            .is_none_or(|at| now.saturating_duration_since(at) >= MEMORY_SAMPLE_EVERY)
        {
            self.used_memory = (crate::commands::info::rss_bytes(), Some(now));
        }
        self.used_memory.0 > max
    }

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

impl Ctx<'_> {
    /// Wakes clients blocked on `key` once the current command is done, for state that is
    /// NOT in the keyspace (job queues and the like). Keyspace and stream changes (appends,
    /// new, replaced or removed keys, consumer groups destroyed) are reported by the store
    /// itself (`Store::track_ready`) and woken in `Engine::after_writes`: no stream or key
    /// command calls this.
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
