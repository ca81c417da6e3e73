//! The job store: Disque-style jobs, their queues and their timers, durable in fjall.
//!
//! Owns every job record, every queue's order, every job's next timer, and the queues'
//! lengths, pause states and counters. Nothing here knows about clients or the protocol
//! (`server/src/commands/jobs.rs` does); time is always passed in (`now_ms`), so tests drive a
//! fake clock.
//!
//! Write path: operations change the in-memory state and stage their writes in `pending`
//! (keyed by disk key, last write wins; a record created and removed again before it reaches
//! its keyspace — a job acknowledged soon after it was added — leaves nothing, not even a
//! tombstone, see `Staged`). [`crate::Store::commit`] puts the drain's job writes into the
//! drain's ONE atomic batch with everything else — as a record of the job log, or by a fold
//! that writes `pending` into the keyspaces (`jobs/log.rs`) — so a job, its queue position,
//! its timer, its counters and its queue's length always change together, and a reply is
//! released only after the batch is persisted. Reads see `pending` over fjall (point reads and
//! range scans merge the two).
//!
//! Larger than RAM: no state of every job is kept in memory (`pending` holds at most about
//! `log::FOLD_ENTRIES` records between folds). A job is a small record (with its
//! body, if small) on disk; a queue's order is an index on disk (`0x12` keys, one empty record
//! per queued job, sorted by creation time); timers are an index on disk (`0x13` keys, one per
//! job, sorted by due time) that the engine's periodic task scans a bounded amount of each
//! tick. In memory: one [`Queue`] per queue (its length, pause state, counters, about 100 bytes
//! plus its name) with its head (the next jobs of its order, at most [`HEAD_MAX`], see
//! `jobs/head.rs`), a cache of recent job records of bounded size (`jobs/cache.rs`), and a few
//! words. After a restart queued jobs are queued at once (the queue index is on disk) and
//! timers resume where they were.
//!
//! On-disk layout, in five keyspaces of its own, one per kind of record (`jobs/spaces.rs`:
//! `jobs` for `0x10`, `job_bodies` for `0x11`, `job_queued` for `0x12`, `job_timers` for
//! `0x13`, `job_meta` for `0x14` and `0x15`), so that its memtables can be small
//! ([`MEMTABLE_SIZE`]) and each kind's time-ordered keys compact apart. Directories from before
//! had these records in `keys`, or all in `jobs`; `Jobs::load` moves them once:
//! * `0x10 ‖ id (20 bytes)` → [`Job`] record (state, times, counters, queue name, and the
//!   body if it has at most [`INLINE_BODY_MAX`] bytes).
//! * `0x11 ‖ id` → body bytes of a larger body (written once at ADDJOB, removed with the job).
//! * `0x12 ‖ queue name length u16 ‖ queue name ‖ ctime u64 BE ‖ id` → empty: the job is
//!   queued in that queue (the queue index; its order is the delivery order).
//! * `0x13 ‖ due ms u64 BE ‖ id` → empty: the job's next timer (expiry, requeue or end of
//!   DELAY), due at [`Job::awake`].
//! * `0x14 ‖ queue name` → [`Queue`] record.
//! * `0x15 ‖ "node"` → this node's 40-character ID (job IDs carry its first 8 characters);
//!   `0x15 ‖ "jobs"` → u64, the number of jobs.
//! * `0x16 ‖ seq u64 BE` → a record of the job log (`jobs/log.rs`).
//!
//! Invariants (at every command boundary, over `pending` merged with fjall): a job has exactly
//! one record, one body (in its record, or a body record if and only if its record has none)
//! and one timer record, keyed by its `awake`; it has a queue-index record
//! if and only if it is queued, keyed by its queue and ctime; every queue with a queued job has
//! a [`Queue`] whose `len` is the number of its index records and whose `scan_from` is ≤ their
//! ctimes; `registered` is the number of job records; no timer record is due before
//! `timer_low`. All job changes go through [`Jobs::put`], which keeps the indexes.

mod cache;
mod head;
mod id;
mod key;
pub mod log;
mod record;
pub(crate) mod salvage;
pub(crate) mod spaces;

use std::collections::BTreeMap;
use std::ops::Bound;

use ahash::{AHashMap as HashMap, AHashSet as HashSet};
use bytes::Bytes;
use fjall::{Keyspace, OwnedWriteBatch};

use self::spaces::Spaces;

use self::cache::RecordCache;
pub use self::head::HEAD_MAX;
pub use self::id::{is_valid, ttl_word, JobId, JOB_ID_LEN};
use self::key::Key;
use self::log::LogState;
use self::record::{parse_queued_key, queue_prefix, queued_key};
pub use self::record::{
    pause_name, Job, JobState, Queue, FLAG_DELIVERED, FLAG_QUEUED_ONCE, INLINE_BODY_MAX, PAUSED_IN,
    PAUSED_OUT,
};
use crate::store::{Result, StoreError};

/// Most records one head refill reads ahead into the cache (`Jobs::prefetch_head`).
const PREFETCH_SCAN: usize = 4 * HEAD_MAX;

const TAG_JOB: u8 = 0x10;
const TAG_BODY: u8 = 0x11;
const TAG_QUEUED: u8 = 0x12;
const TAG_TIMER: u8 = 0x13;
const TAG_QUEUE: u8 = 0x14;
/// `TAG_META` (0x15) ‖ name.
const NODE_KEY: &[u8] = b"\x15node";
const COUNT_KEY: &[u8] = b"\x15jobs";

/// Memtable size of the `jobs` keyspace. A queued job costs RAM only as its share of the
/// memtables until they are flushed (the active one and one being flushed), so this bounds the
/// job store's memory whatever the number of jobs.
pub const MEMTABLE_SIZE: u64 = 16 << 20;

/// The longest queue name (queue-index keys must stay under fjall's 65,535-byte key limit).
pub const MAX_QUEUE_NAME: usize = 60_000;

/// A NACK … DELAY is pending: the NACK was counted when it was made, so the requeue at the end
/// of the delay does not count again.
const FLAG_NACK_DELAYED: u8 = 4;

/// A staged write of [`Jobs::pending`].
#[derive(Debug)]
enum Staged {
    /// A record fjall does not hold (created since the last fold): removing it before a fold
    /// drops the staged write instead of writing a tombstone.
    New(Vec<u8>),
    /// A record that fjall may hold, overwritten.
    Put(Vec<u8>),
    /// A record that fjall may hold, removed.
    Del,
}

impl Staged {
    fn value(&self) -> Option<&Vec<u8>> {
        match self {
            Staged::New(v) | Staged::Put(v) => Some(v),
            Staged::Del => None,
        }
    }

    /// This staged state as an op of the log.
    fn op(&self) -> log::Op<'_> {
        match self {
            Staged::New(v) => log::Op::New(v),
            Staged::Put(v) => log::Op::Put(v),
            Staged::Del => log::Op::Del,
        }
    }
}

/// What a new job is made of.
#[derive(Clone, Debug)]
pub struct NewJob {
    pub queue: Bytes,
    pub body: Bytes,
    pub repl: u16,
    /// Seconds, > 0.
    pub ttl: u64,
    /// Seconds.
    pub retry: u32,
    /// Seconds, < ttl.
    pub delay: u32,
    /// The TTL word of the ID ([`ttl_word`]).
    pub ttl_word: u16,
    pub max_deliveries: u32,
    pub dead_letter: Bytes,
}

/// Why [`Jobs::working`] did not postpone the job.
#[derive(Debug, PartialEq, Eq)]
pub enum Working {
    /// Postponed (or nothing to postpone): the job's RETRY, seconds.
    Retry(u32),
    NoJob,
    TooLate,
}

/// One job found by [`Jobs::scan`].
pub struct ScanItem {
    pub id: JobId,
    pub job: Job,
}

/// What the timers did in one call of [`Jobs::run_timers`].
#[derive(Debug, Default, PartialEq, Eq)]
pub struct TimerRun {
    pub processed: usize,
    pub requeued: usize,
    pub expired: usize,
    pub dead_lettered: usize,
    /// More timers were due than the budget allowed.
    pub more: bool,
}

/// The job store. See the module docs.
pub struct Jobs {
    /// The job store's keyspaces, one per kind of record (`jobs/spaces.rs`).
    ks: Spaces,
    /// Writes since the last fold, merged over fjall by every read; made durable by the log
    /// records of the commits since (`jobs/log.rs`), written to the keyspaces by a fold.
    pending: BTreeMap<Key, Staged>,
    /// The ops of the writes staged since the last commit, in order, as the next log records
    /// hold them (`jobs/log.rs`: appended as each write is staged, so a commit writes them
    /// without looking its keys up again). Only kept while the log is used
    /// (`log::Mode::Log`: a direct commit folds everything staged).
    ops: log::Ops,
    /// Writes staged since the last commit.
    staged_ops: usize,
    log: LogState,
    queues: HashMap<Bytes, Queue>,
    /// Queues whose record must be written (or removed, if no longer in `queues`).
    dirty_queues: HashSet<Bytes>,
    registered: u64,
    registered_dirty: bool,
    node: String,
    prefix: [u8; 8],
    last_ctime: u64,
    timer_low: u64,
    /// Queues that got a job since the last [`Jobs::take_ready`] (clients blocked on them may
    /// be served).
    ready: Vec<Bytes>,
    /// Jobs removed (acknowledged, deleted, expired) since the last [`Jobs::take_gone`], kept
    /// only while [`Jobs::track_gone`] is on (a client waits in WAITJOB), so removals cost
    /// nothing otherwise. Bounded by the removals between two drains (the server drains it
    /// after every job command and timer run).
    gone: Vec<JobId>,
    track_gone: bool,
    rng: [u64; 2],
    seq: u64,
    /// When [`Jobs::gc_queues`] last ran, Unix seconds.
    last_gc_s: u64,
    /// Recent job records and small bodies (`jobs/cache.rs`).
    cache: RecordCache,
}

/// SplitMix64's output function: a bijection of u64 with good diffusion.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    h.write_u32(std::process::id());
    h.finish()
}

fn job_key(tag: u8, id: &JobId) -> [u8; 21] {
    let mut k = [0u8; 21];
    k[0] = tag;
    k[1..].copy_from_slice(&id.0);
    k
}

fn timer_key(due: u64, id: &JobId) -> [u8; 29] {
    let mut k = [0u8; 29];
    k[0] = TAG_TIMER;
    k[1..9].copy_from_slice(&due.to_be_bytes());
    k[9..].copy_from_slice(&id.0);
    k
}

fn queue_key(name: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(1 + name.len());
    k.push(TAG_QUEUE);
    k.extend_from_slice(name);
    k
}

fn corrupt(what: String) -> StoreError {
    StoreError::Corrupt(what)
}

impl Jobs {
    /// The job store on its keyspaces; nothing loaded ([`Jobs::load`]).
    pub(crate) fn new(ks: Spaces) -> Jobs {
        let s = seed();
        Jobs {
            ks,
            pending: BTreeMap::new(),
            ops: log::Ops::default(),
            staged_ops: 0,
            log: LogState::default(),
            queues: HashMap::new(),
            dirty_queues: HashSet::new(),
            registered: 0,
            registered_dirty: false,
            node: String::new(),
            prefix: [b'0'; 8],
            last_ctime: 0,
            timer_low: 0,
            ready: Vec::new(),
            gone: Vec::new(),
            track_gone: false,
            rng: [mix(s), mix(s ^ 0x5851_f42d_4c95_7f2d)],
            seq: 0,
            last_gc_s: 0,
            cache: RecordCache::default(),
        }
    }

    /// The keyspaces of the job store.
    pub(crate) fn spaces(&self) -> &Spaces {
        &self.ks
    }

    /// Moves job records left in `legacy` (the `keys` keyspace, where directories made before
    /// the `jobs` keyspace existed kept them, under the same keys) to the job keyspaces
    /// ([`Spaces::move_from`]). Returns how many records moved.
    fn migrate(&self, legacy: &Keyspace) -> Result<usize> {
        let moved = self.ks.move_from(legacy, [TAG_JOB]..[NODE_KEY[0] + 1])?;
        if moved > 0 {
            tracing::info!(
                records = moved,
                "job records moved from keyspace `keys` to the job store's keyspaces"
            );
        }
        Ok(moved)
    }

    /// Moves job records of an older layout (see [`Jobs::migrate`]), then reads the node ID
    /// (creating one for a new store), the job count and the queues.
    pub(crate) fn load(&mut self, legacy: &Keyspace) -> Result<()> {
        self.migrate(legacy)?;
        self.ks.split_legacy()?;
        self.replay_log()?;
        match self.read_with(NODE_KEY, <[u8]>::to_vec)? {
            Some(v) if v.len() == 40 && v.iter().all(u8::is_ascii_hexdigit) => {
                self.node = String::from_utf8_lossy(&v).into_owned();
            }
            Some(v) => return Err(corrupt(format!("bad job node ID record {v:?}"))),
            None => {
                let node: String = (0..3)
                    .map(|i| format!("{:016x}", mix(self.rng[0] ^ mix(i))))
                    .collect::<String>()[..40]
                    .to_string();
                self.stage_put(NODE_KEY, node.as_bytes().to_vec(), false);
                self.node = node;
            }
        }
        self.prefix.copy_from_slice(&self.node.as_bytes()[..8]);
        if let Some(v) = self.ks.get(COUNT_KEY)? {
            let b: [u8; 8] = v
                .as_ref()
                .try_into()
                .map_err(|_| corrupt("bad job count record".into()))?;
            self.registered = u64::from_be_bytes(b);
        }
        for guard in self.ks.prefix(&[TAG_QUEUE]) {
            let (k, v) = guard.into_inner()?;
            let q = Queue::decode(&v)
                .ok_or_else(|| corrupt(format!("bad queue record {:?}", &k[..])))?;
            self.queues.insert(Bytes::copy_from_slice(&k[1..]), q);
        }
        tracing::info!(
            jobs = self.registered,
            queues = self.queues.len(),
            node = %self.node,
            log_records = self.log.next - self.log.first,
            "job store loaded"
        );
        Ok(())
    }

    /// Rebuilds `pending` from the log records of the commits since the last fold
    /// (`jobs/log.rs`).
    fn replay_log(&mut self) -> Result<()> {
        debug_assert!(
            self.pending.is_empty(),
            "replayed once, before anything is staged"
        );
        let mut range: Option<(u64, u64)> = None;
        for guard in self.ks.prefix(&[log::TAG_LOG]) {
            let (k, v) = guard.into_inner()?;
            let seq = log::seq_of(&k)
                .ok_or_else(|| corrupt(format!("bad job log record key {:?}", &k[..])))?;
            match range {
                Some((_, last)) if last.checked_add(1) != Some(seq) => {
                    return Err(corrupt(format!(
                        "job log records {} to {seq} are missing: the job changes they held are lost",
                        last.saturating_add(1)
                    )));
                }
                _ => {}
            }
            range = Some((range.map_or(seq, |r| r.0), seq));
            let ops = log::decode(&v)
                .ok_or_else(|| corrupt(format!("job log record {seq} does not decode")))?;
            for (key, op) in ops {
                let staged = match op {
                    log::Op::New(v) => Staged::New(v.to_vec()),
                    log::Op::Put(v) => Staged::Put(v.to_vec()),
                    log::Op::Del => Staged::Del,
                    log::Op::Cancel => {
                        self.pending.remove(&Key::new(key));
                        continue;
                    }
                };
                self.pending.insert(Key::new(key), staged);
            }
            self.log.bytes += v.len();
        }
        if let Some((first, last)) = range {
            self.log.first = first;
            self.log.next = last + 1;
        }
        Ok(())
    }

    /// The job log since the last fold (`jobs/log.rs`): its records and their bytes.
    pub fn unfolded(&self) -> (u64, usize) {
        (self.log.next - self.log.first, self.log.bytes)
    }

    /// Records staged and not yet folded into the keyspaces (`jobs/log.rs`).
    pub fn staged_records(&self) -> usize {
        self.pending.len()
    }

    /// How commits write the job store now (`jobs/log.rs`): `log`, `direct`, or `off` (the
    /// log is turned off).
    pub fn log_mode(&self) -> &'static str {
        match self.log.mode {
            _ if !self.log.limits.enabled => "off",
            log::Mode::Log => "log",
            log::Mode::Direct(_) => "direct",
        }
    }

    /// Sets the job log's limits (`jobs/log.rs`); they apply from the next commit, and may
    /// change at any time: turning the log off makes the next commit fold, and turning it on
    /// makes the next commit fold too, since the keys staged while it was off were not kept
    /// for a log record.
    pub fn set_log_limits(&mut self, limits: log::LogLimits) {
        debug_assert!(limits.max_records > 0 && limits.max_bytes > 0);
        if limits.enabled != self.log.limits.enabled && limits.enabled {
            // Keys staged while it was off were not kept for a record: fold this drain.
            self.log.fold = true;
        }
        self.log.limits = limits;
    }

    /// This node's 40-character ID.
    pub fn node_id(&self) -> &str {
        &self.node
    }

    /// The 40-character form of `id`.
    pub fn format_id(&self, id: &JobId) -> [u8; JOB_ID_LEN] {
        id.format(&self.prefix)
    }

    /// The stored form of an ID string that passed [`is_valid`]; `None` if it cannot name a
    /// job of this node.
    pub fn parse_id(&self, s: &[u8]) -> Option<JobId> {
        JobId::parse(s, &self.prefix)
    }

    /// Number of jobs.
    pub fn registered(&self) -> u64 {
        self.registered
    }

    pub fn queue(&self, name: &[u8]) -> Option<&Queue> {
        self.queues.get(name)
    }

    pub fn queue_count(&self) -> usize {
        self.queues.len()
    }

    /// Jobs queued in `name` (0 for an unknown queue).
    pub fn qlen(&self, name: &[u8]) -> u64 {
        self.queues.get(name).map_or(0, |q| q.len)
    }

    /// When [`Jobs::gc_queues`] last ran, Unix seconds.
    pub fn last_gc_s(&self) -> u64 {
        self.last_gc_s
    }

    /// Queues that got a job since the last call.
    pub fn take_ready(&mut self) -> Vec<Bytes> {
        std::mem::take(&mut self.ready)
    }

    /// Records (or stops recording) the jobs removed from now on, for [`Jobs::take_gone`]
    /// (WAITJOB). Turning it off forgets what was recorded.
    pub fn track_gone(&mut self, on: bool) {
        self.track_gone = on;
        if !on {
            self.gone.clear();
        }
    }

    /// Jobs removed since the last call while [`Jobs::track_gone`] was on.
    pub fn take_gone(&mut self) -> Vec<JobId> {
        std::mem::take(&mut self.gone)
    }

    // -----------------------------------------------------------------------------------
    // Reads over pending ∪ fjall.

    /// The value of `key` over pending ∪ fjall, given to `f` where it lies (no copy).
    fn read_with<T>(&self, key: &[u8], f: impl FnOnce(&[u8]) -> T) -> Result<Option<T>> {
        if let Some(v) = self.pending.get(&Key::new(key)) {
            return Ok(v.value().map(|v| f(v)));
        }
        Ok(self.ks.get(key)?.map(|s| f(&s)))
    }

    /// Up to `limit` live records in `[start, end)`, merged over pending; backwards if `rev`.
    /// The range is within the keys of one kind (`start`'s tag; `jobs/spaces.rs`).
    /// Also stops after `max_scanned` records read from either side.
    fn range(
        &self,
        start: &[u8],
        end: &[u8],
        limit: usize,
        rev: bool,
    ) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        let mut out = Vec::new();
        if limit == 0 || start >= end {
            return Ok(out);
        }
        let bounds = (
            Bound::Included(Key::new(start)),
            Bound::Excluded(Key::new(end)),
        );
        let mut disk: Box<dyn Iterator<Item = fjall::Guard>> = if rev {
            Box::new(self.ks.of(start).range(start..end).rev())
        } else {
            Box::new(self.ks.of(start).range(start..end))
        };
        type Item<'a> = (&'a Key, &'a Staged);
        let mut mem: Box<dyn Iterator<Item = Item<'_>>> = if rev {
            Box::new(self.pending.range(bounds).rev())
        } else {
            Box::new(self.pending.range(bounds))
        };
        let mut d = disk.next().map(|g| g.into_inner()).transpose()?;
        let mut m = mem.next();
        while out.len() < limit {
            // Which side comes first in the scan's direction (pending wins a tie).
            let take_mem = match (&d, &m) {
                (None, None) => break,
                (None, Some(_)) => true,
                (Some(_), None) => false,
                (Some((dk, _)), Some((mk, _))) => {
                    let ord = key::compare(mk.as_slice(), dk);
                    if ord == std::cmp::Ordering::Equal {
                        d = disk.next().map(|g| g.into_inner()).transpose()?;
                        true
                    } else {
                        (ord == std::cmp::Ordering::Less) != rev
                    }
                }
            };
            if take_mem {
                if let Some((k, Some(v))) = m.map(|(k, s)| (k, s.value())) {
                    out.push((k.as_slice().to_vec(), v.clone()));
                }
                m = mem.next();
            } else if let Some((k, v)) = d.take() {
                out.push((k.to_vec(), v.to_vec()));
                d = disk.next().map(|g| g.into_inner()).transpose()?;
            }
        }
        Ok(out)
    }

    /// The job record of `id`.
    pub fn get(&self, id: &JobId) -> Result<Option<Job>> {
        if let Some(job) = self.cache.get(id) {
            return Ok(Some(job.clone()));
        }
        match self.read_with(&job_key(TAG_JOB, id), Job::decode)? {
            None => Ok(None),
            Some(job) => job
                .map(Some)
                .ok_or_else(|| corrupt(format!("job record {id:?} does not decode"))),
        }
    }

    /// The body of `id`.
    pub fn body(&self, id: &JobId) -> Result<Option<Bytes>> {
        if let Some(b) = self.cache.body(id) {
            return Ok(Some(b.clone()));
        }
        match self.get(id)? {
            None => Ok(None),
            Some(Job { body: Some(b), .. }) => Ok(Some(b)),
            Some(_) => self.read_with(&job_key(TAG_BODY, id), Bytes::copy_from_slice),
        }
    }

    // -----------------------------------------------------------------------------------
    // The one write path of a job.

    /// Stages `key` → `value`. `absent`: the caller knows that the merged view does not hold
    /// `key` (a new job's record, a job's new timer or queue-index record), so fjall does not
    /// either unless a removal of it is staged.
    fn stage_put(&mut self, key: &[u8], value: Vec<u8>, absent: bool) {
        use std::collections::btree_map::Entry;
        self.staged_ops += 1;
        let logging = self.log.logging();
        match self.pending.entry(Key::new(key)) {
            Entry::Vacant(e) => {
                let staged = if absent {
                    self.log.created += 1;
                    Staged::New(value)
                } else {
                    Staged::Put(value)
                };
                if logging {
                    self.ops.push(e.key().as_slice(), &staged.op());
                }
                e.insert(staged);
            }
            Entry::Occupied(mut e) => {
                let staged = match e.get() {
                    Staged::New(_) => Staged::New(value),
                    _ => Staged::Put(value),
                };
                if logging {
                    self.ops.push(e.key().as_slice(), &staged.op());
                }
                e.insert(staged);
            }
        }
    }

    /// Stages the removal of `key`: nothing at all if it was created since the last fold.
    fn stage_del(&mut self, key: &[u8]) {
        use std::collections::btree_map::Entry;
        self.staged_ops += 1;
        let logging = self.log.logging();
        match self.pending.entry(Key::new(key)) {
            Entry::Vacant(e) => {
                if logging {
                    self.ops.push(e.key().as_slice(), &log::Op::Del);
                }
                e.insert(Staged::Del);
            }
            Entry::Occupied(mut e) => {
                if matches!(e.get(), Staged::New(_)) {
                    if logging {
                        self.ops.push(e.key().as_slice(), &log::Op::Cancel);
                    }
                    e.remove();
                } else {
                    if logging {
                        self.ops.push(e.key().as_slice(), &log::Op::Del);
                    }
                    e.insert(Staged::Del);
                }
            }
        }
    }

    /// Replaces the stored job `id` (`old` as stored, `None` if new) with `new` (`None`:
    /// delete it and its body), keeping the queue index, the timer index, the queue lengths
    /// and the job count. Sets `new.awake`.
    fn put(&mut self, id: &JobId, old: Option<&Job>, new: Option<Job>, now_ms: u64) {
        let jk = job_key(TAG_JOB, id);
        if let Some(o) = old {
            debug_assert_ne!(o.awake, 0, "a stored job has a timer");
            self.stage_del(&timer_key(o.awake, id));
            if o.state == JobState::Queued {
                self.stage_del(&queued_key(TAG_QUEUED, &o.queue, o.ctime, id));
                if let Some(q) = self.queues.get_mut(&o.queue) {
                    debug_assert!(q.len > 0, "queue length matches its index");
                    head::index_remove(q, o.ctime, id);
                    q.len = q.len.saturating_sub(1);
                    self.dirty_queues.insert(o.queue.clone());
                }
            }
        }
        match new {
            Some(mut n) => {
                n.awake = n.next_awake();
                debug_assert!(n.awake > 0);
                // A job has one timer record, keyed by its awake, and the old one's removal is
                // staged: the new key is absent.
                self.stage_put(&timer_key(n.awake, id), Vec::new(), true);
                self.timer_low = self.timer_low.min(n.awake);
                if n.state == JobState::Queued {
                    // Likewise: queued if and only if it has this record.
                    self.stage_put(
                        &queued_key(TAG_QUEUED, &n.queue, n.ctime, id),
                        Vec::new(),
                        true,
                    );
                    let q = self.queue_entry(&n.queue, now_ms);
                    head::index_insert(q, n.ctime, *id);
                    q.len += 1;
                    q.scan_from = q.scan_from.min(n.ctime);
                }
                self.stage_put(&jk, n.encode(), old.is_none());
                self.cache.put(id, &n);
                if old.is_none() {
                    self.registered += 1;
                    self.registered_dirty = true;
                }
            }
            None => {
                self.cache.remove(id);
                self.stage_del(&jk);
                if old.is_some_and(|o| o.body.is_none()) {
                    self.stage_del(&job_key(TAG_BODY, id));
                }
                if old.is_some() {
                    debug_assert!(self.registered > 0);
                    self.registered = self.registered.saturating_sub(1);
                    self.registered_dirty = true;
                    if self.track_gone {
                        self.gone.push(*id);
                    }
                }
            }
        }
    }

    /// The queue `name`, created if it does not exist (marked dirty either way).
    fn queue_entry(&mut self, name: &Bytes, now_ms: u64) -> &mut Queue {
        self.dirty_queues.insert(name.clone());
        self.queues.entry(name.clone()).or_insert_with(|| Queue {
            ctime: now_ms / 1000,
            atime: now_ms / 1000,
            scan_from: 0,
            ..Queue::default()
        })
    }

    /// Creates the queue `name` if it does not exist (GETJOB blocking on it, PAUSE).
    pub fn touch_queue(&mut self, name: &Bytes, now_ms: u64) {
        if !self.queues.contains_key(name) {
            self.queue_entry(name, now_ms);
        }
    }

    /// A new ID: the job's ctime (unique within a process, see `add`), then 80 random bits.
    /// IDs, and so job records, sort by creation time: a new record goes to the end of the
    /// memtable's skiplist (whose search path there stays in cache) instead of a random place,
    /// a table flushed from it covers a range of time that later tables do not overlap, and
    /// the jobs at the head of a queue, read one after the other, are neighbours on disk.
    /// Clients see 24 base64 characters as before (they treat IDs as opaque).
    fn new_id(&mut self, ctime: u64, ttl_word: u16) -> JobId {
        self.seq += 1;
        let a = mix(self.rng[0] ^ mix(self.seq));
        let b = mix(self.rng[1] ^ mix(self.seq.rotate_left(32)));
        let mut r = [0u8; 18];
        r[..8].copy_from_slice(&ctime.to_be_bytes());
        r[8..16].copy_from_slice(&a.to_be_bytes());
        r[16..].copy_from_slice(&b.to_be_bytes()[..2]);
        JobId::new(r, ttl_word)
    }

    /// Creates a job: queued at once, or active until its DELAY ends. Returns its ID.
    pub fn add(&mut self, spec: NewJob, now_ms: u64) -> Result<JobId> {
        debug_assert!(spec.queue.len() <= MAX_QUEUE_NAME);
        debug_assert!(u64::from(spec.delay) < spec.ttl);
        let mut ctime = now_ms.saturating_mul(1_000_000);
        if ctime <= self.last_ctime {
            ctime = self.last_ctime + 1;
        }
        self.last_ctime = ctime;
        // No read to check for a collision: the first 8 bytes of an ID are its ctime, which
        // never repeats within a process, and an ID drawn after a restart (when the clock may
        // have gone back) equals a stored one with the same ctime with a probability of 2^-80.
        let id = self.new_id(ctime, spec.ttl_word);
        let now_s = now_ms / 1000;
        let mut job = Job {
            state: JobState::Active,
            flags: 0,
            repl: spec.repl,
            ctime,
            etime: now_s.saturating_add(spec.ttl),
            delay: spec.delay,
            retry: spec.retry,
            nacks: 0,
            deliveries: 0,
            // Never 0 (which means "never queue again") before the first queuing.
            qtime: if spec.delay > 0 {
                now_ms + u64::from(spec.delay) * 1000
            } else {
                now_ms + u64::from(spec.retry) * 1000
            }
            .max(1),
            awake: 0,
            max_deliveries: spec.max_deliveries,
            dead_letter: spec.dead_letter,
            queue: spec.queue,
            body: (spec.body.len() <= INLINE_BODY_MAX).then(|| spec.body.clone()),
        };
        if spec.delay == 0 {
            self.enqueue_job(&mut job, false, now_ms);
        }
        if job.body.is_none() {
            self.stage_put(&job_key(TAG_BODY, &id), spec.body.to_vec(), true);
        }
        self.put(&id, None, Some(job), now_ms);
        self.cache.put_body(&id, &spec.body);
        Ok(id)
    }

    /// Disque's `enqueueJob` on the in-memory job (the caller stores it): false if the job is
    /// already queued or must never be queued again (at-most-once).
    fn enqueue_job(&mut self, job: &mut Job, nack: bool, now_ms: u64) -> bool {
        if job.state == JobState::Queued || job.qtime == 0 {
            return false;
        }
        if job.retry == 0 && job.flags & FLAG_DELIVERED != 0 {
            return false;
        }
        let counted = job.flags & FLAG_NACK_DELAYED != 0;
        job.flags &= !FLAG_NACK_DELAYED;
        if !counted {
            if job.flags & FLAG_QUEUED_ONCE != 0 || nack {
                if nack {
                    job.nacks = job.nacks.saturating_add(1);
                } else {
                    job.deliveries = job.deliveries.saturating_add(1);
                }
            } else {
                job.flags |= FLAG_QUEUED_ONCE;
            }
        }
        // The delivery limit: a job delivered that many times goes to its dead-letter queue.
        if job.max_deliveries > 0
            && !job.dead_letter.is_empty()
            && job.flags & FLAG_DELIVERED != 0
            && job.delivery_count() > u64::from(job.max_deliveries)
        {
            tracing::debug!(queue = ?job.queue, to = ?job.dead_letter, "job reached its delivery limit");
            job.queue = std::mem::take(&mut job.dead_letter);
            job.max_deliveries = 0;
        }
        job.state = JobState::Queued;
        job.qtime = if job.retry > 0 {
            now_ms + u64::from(job.retry) * 1000
        } else {
            0
        };
        let q = self.queue_entry(&job.queue, now_ms);
        q.atime = now_ms / 1000;
        q.jobs_in += 1;
        let paused_out = q.paused & PAUSED_OUT != 0;
        if !paused_out && !self.ready.contains(&job.queue) {
            self.ready.push(job.queue.clone());
        }
        true
    }

    /// NACK (`nack`) or ENQUEUE of an active job; `delay_ms` > 0 (NACK … DELAY, a Sluice
    /// extension) queues it after that long instead of at once. True if it was queued (or
    /// scheduled to be).
    pub fn enqueue(&mut self, id: &JobId, nack: bool, delay_ms: u64, now_ms: u64) -> Result<bool> {
        let Some(old) = self.get(id)? else {
            return Ok(false);
        };
        if old.state != JobState::Active {
            return Ok(false);
        }
        let mut job = old.clone();
        if delay_ms > 0 {
            // Same checks as the enqueue at the end of the delay will make.
            if job.qtime == 0 || (job.retry == 0 && job.flags & FLAG_DELIVERED != 0) {
                return Ok(false);
            }
            if nack && job.flags & FLAG_NACK_DELAYED == 0 {
                job.nacks = job.nacks.saturating_add(1);
                job.flags |= FLAG_NACK_DELAYED | FLAG_QUEUED_ONCE;
            }
            job.qtime = now_ms.saturating_add(delay_ms);
            self.put(id, Some(&old), Some(job), now_ms);
            return Ok(true);
        }
        if !self.enqueue_job(&mut job, nack, now_ms) {
            return Ok(false);
        }
        self.put(id, Some(&old), Some(job), now_ms);
        Ok(true)
    }

    /// DEQUEUE: a queued job becomes active (its requeue timer runs). True if it was queued.
    pub fn dequeue(&mut self, id: &JobId, now_ms: u64) -> Result<bool> {
        let Some(old) = self.get(id)? else {
            return Ok(false);
        };
        if old.state != JobState::Queued {
            return Ok(false);
        }
        let mut job = old.clone();
        job.state = JobState::Active;
        job.qtime = job.requeue_at(now_ms);
        self.put(id, Some(&old), Some(job), now_ms);
        Ok(true)
    }

    /// Fetches the oldest job of the queue (GETJOB): it becomes active and delivered. The
    /// caller checks the pause state.
    pub fn fetch(&mut self, queue: &[u8], now_ms: u64) -> Result<Option<(JobId, Job)>> {
        let Some(q) = self.queues.get(queue) else {
            return Ok(None);
        };
        if q.len == 0 {
            return Ok(None);
        }
        if q.head.is_empty() {
            self.refill_head(queue)?;
        }
        #[cfg(debug_assertions)]
        self.check_head(queue)?;
        let first = self.queues.get(queue).and_then(|q| q.head.front().copied());
        let Some((ctime, id)) = first else {
            tracing::error!(queue = ?Bytes::copy_from_slice(queue), "queue length says jobs are queued, the queue index holds none: length reset to 0");
            debug_assert!(false, "queue length matches its index");
            if let Some(q) = self.queues.get_mut(queue) {
                q.len = 0;
            }
            self.dirty_queues.insert(Bytes::copy_from_slice(queue));
            return Ok(None);
        };
        let old = self
            .get(&id)?
            .ok_or_else(|| corrupt(format!("queued job {id:?} has no record")))?;
        let mut job = old.clone();
        job.state = JobState::Active;
        job.flags |= FLAG_DELIVERED;
        job.qtime = job.requeue_at(now_ms);
        self.put(&id, Some(&old), Some(job.clone()), now_ms);
        if let Some(q) = self.queues.get_mut(queue) {
            q.scan_from = q.scan_from.max(ctime);
            q.jobs_out += 1;
            q.atime = now_ms / 1000;
        }
        Ok(Some((id, job)))
    }

    /// The first entries of the queue index of `queue`, at most [`HEAD_MAX`] (from
    /// `scan_from`, which no queued job's ctime is below).
    fn index_head(&self, queue: &[u8], scan_from: u64, n: usize) -> Result<Vec<(u64, JobId)>> {
        let prefix = queue_prefix(TAG_QUEUED, queue);
        let mut start = prefix.clone();
        start.extend_from_slice(&scan_from.to_be_bytes());
        let mut end = prefix;
        end.extend_from_slice(&[0xFF; 29]);
        self.range(&start, &end, n, false)?
            .iter()
            .map(|(k, _)| {
                parse_queued_key(k).ok_or_else(|| corrupt(format!("bad queue index key {k:?}")))
            })
            .collect()
    }

    /// Fills the empty head of `queue` from its queue index (see `jobs/head.rs`).
    fn refill_head(&mut self, queue: &[u8]) -> Result<()> {
        let Some(scan_from) = self.queues.get(queue).map(|q| q.scan_from) else {
            return Ok(());
        };
        let entries = self.index_head(queue, scan_from, HEAD_MAX)?;
        if let Some(q) = self.queues.get_mut(queue) {
            debug_assert!(q.head.is_empty());
            q.head.extend(entries);
        }
        self.prefetch_head(queue)
    }

    /// Reads the records of the jobs in the head of `queue` into the cache with one range
    /// scan of the record keys, so that the GETJOBs that take them do not each make a point
    /// read (which checks every memtable and, through its filter, every table). A job ID
    /// begins with its creation time, so a queue's next jobs are near each other among the
    /// records unless other queues' jobs were added between them; the scan reads at most
    /// [`PREFETCH_SCAN`] records, and a job it does not reach is read when it is fetched, as
    /// before. What it reads is the merged view (pending over fjall), as a point read would
    /// be, so the cache's invariant holds.
    fn prefetch_head(&mut self, queue: &[u8]) -> Result<()> {
        let Some(q) = self.queues.get(queue) else {
            return Ok(());
        };
        let want: HashSet<JobId> = q
            .head
            .iter()
            .map(|&(_, id)| id)
            .filter(|id| self.cache.get(id).is_none())
            .collect();
        let (Some(lo), Some(hi)) = (want.iter().min(), want.iter().max()) else {
            return Ok(());
        };
        if want.len() < 2 {
            return Ok(());
        }
        let start = job_key(TAG_JOB, lo);
        let mut end = job_key(TAG_JOB, hi).to_vec();
        end.push(0);
        for (k, v) in self.range(&start, &end, PREFETCH_SCAN, false)? {
            let Some(id) = k.get(1..).and_then(|b| <[u8; 20]>::try_from(b).ok()) else {
                continue;
            };
            let id = JobId(id);
            if want.contains(&id) {
                let job = Job::decode(&v)
                    .ok_or_else(|| corrupt(format!("job record {id:?} does not decode")))?;
                self.cache.put_owned(id, job);
            }
        }
        Ok(())
    }

    /// Debug builds: the head of `queue` is the start of its queue index.
    #[cfg(debug_assertions)]
    fn check_head(&self, queue: &[u8]) -> Result<()> {
        if let Some(q) = self.queues.get(queue) {
            let index = self.index_head(queue, q.scan_from, q.head.len())?;
            assert!(
                q.head.iter().eq(index.iter()),
                "the head of queue {queue:?} is not the start of its index"
            );
        }
        Ok(())
    }

    /// Deletes a job whatever its state (ACKJOB, FASTACK, DELJOB). True if it existed.
    pub fn delete(&mut self, id: &JobId, now_ms: u64) -> Result<bool> {
        let Some(old) = self.get(id)? else {
            return Ok(false);
        };
        self.put(id, Some(&old), None, now_ms);
        Ok(true)
    }

    /// WORKING: postpones the next requeue by RETRY (dequeuing a queued job), unless half the
    /// TTL has passed.
    pub fn working(&mut self, id: &JobId, now_ms: u64) -> Result<Working> {
        let Some(old) = self.get(id)? else {
            return Ok(Working::NoJob);
        };
        let created_ms = (old.ctime / 1_000_000) as i64;
        let ttl = (old.etime as i64).saturating_mul(1000) - created_ms;
        let elapsed = now_ms as i64 - created_ms;
        if ttl > 0 && elapsed > ttl / 2 {
            return Ok(Working::TooLate);
        }
        let mut job = old.clone();
        if job.state == JobState::Queued {
            job.state = JobState::Active;
        }
        if job.retry != 0 && job.qtime != 0 {
            job.qtime = now_ms + u64::from(job.retry) * 1000;
        }
        let retry = job.retry;
        if job != old {
            self.put(id, Some(&old), Some(job), now_ms);
        }
        Ok(Working::Retry(retry))
    }

    /// Up to `count` job IDs of the queue, oldest first, or newest first if `newest`.
    pub fn peek(&self, queue: &[u8], count: usize, newest: bool) -> Result<Vec<JobId>> {
        let Some(q) = self.queues.get(queue) else {
            return Ok(Vec::new());
        };
        if q.len == 0 {
            return Ok(Vec::new());
        }
        let prefix = queue_prefix(TAG_QUEUED, queue);
        let mut start = prefix.clone();
        start.extend_from_slice(&q.scan_from.to_be_bytes());
        let mut end = prefix;
        end.extend_from_slice(&[0xFF; 29]);
        let mut ids = Vec::new();
        for (k, _) in self.range(&start, &end, count, newest)? {
            let (_, id) = parse_queued_key(&k)
                .ok_or_else(|| corrupt(format!("bad queue index key {k:?}")))?;
            ids.push(id);
        }
        Ok(ids)
    }

    /// Sets the pause state; returns the queue's state after. `None` leaves it (PAUSE … STATE).
    pub fn set_pause(&mut self, name: &Bytes, paused: Option<u8>, now_ms: u64) -> u8 {
        if let Some(flags) = paused {
            let old = self.queues.get(name).map_or(0, |q| q.paused);
            if old == flags && !self.queues.contains_key(name) {
                return 0;
            }
            let q = self.queue_entry(name, now_ms);
            q.paused = flags;
            let unpaused_out = old & PAUSED_OUT != 0 && flags & PAUSED_OUT == 0;
            if unpaused_out && q.len > 0 && !self.ready.contains(name) {
                self.ready.push(name.clone());
            }
        }
        self.queues.get(name).map_or(0, |q| q.paused)
    }

    /// Removes queues that are empty, not paused, idle for `max_idle_s` and that `busy` does
    /// not name (clients blocked on them). Returns how many.
    pub fn gc_queues(
        &mut self,
        now_ms: u64,
        max_idle_s: u64,
        busy: impl Fn(&[u8]) -> bool,
    ) -> usize {
        let now_s = now_ms / 1000;
        self.last_gc_s = now_s;
        let gone: Vec<Bytes> = self
            .queues
            .iter()
            .filter(|(n, q)| {
                q.len == 0
                    && q.paused == 0
                    && now_s.saturating_sub(q.atime) >= max_idle_s
                    && !busy(n)
            })
            .map(|(n, _)| n.clone())
            .collect();
        for n in &gone {
            self.queues.remove(n);
            self.dirty_queues.insert(n.clone());
        }
        gone.len()
    }

    /// Queue names in a stable order for QSCAN: (hash, name), with the cursor a hash.
    /// Returns the names from `cursor` on (at most `count`) and the next cursor (0 = done).
    pub fn scan_queues(
        &self,
        cursor: u64,
        count: usize,
        filter: impl Fn(&Queue) -> bool,
    ) -> (u64, Vec<Bytes>) {
        let hasher = ahash::RandomState::with_seeds(1, 2, 3, 4);
        let mut all: Vec<(u64, &Bytes, &Queue)> = self
            .queues
            .iter()
            .map(|(n, q)| (hasher.hash_one(n).max(1), n, q))
            .filter(|(h, _, _)| *h >= cursor)
            .collect();
        all.sort_unstable_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)));
        let mut out = Vec::new();
        let mut next = 0;
        for (i, (h, n, q)) in all.iter().enumerate() {
            if out.len() >= count || i >= count.saturating_mul(10) {
                // Never stop between two names with the same hash: the cursor could not
                // resume between them.
                if i > 0 && *h != all[i - 1].0 {
                    next = *h;
                    break;
                }
            }
            if filter(q) {
                out.push((*n).clone());
            }
        }
        (next, out)
    }

    /// JSCAN: jobs from `cursor` (0 = start) in ID order, reading at most `budget` records,
    /// keeping those `filter` accepts until `count` are found. Returns the next cursor (0 =
    /// done): the first 8 bytes of the next job's stored ID.
    pub fn scan(
        &self,
        cursor: u64,
        count: usize,
        budget: usize,
        filter: impl Fn(&Job) -> bool,
    ) -> Result<(u64, Vec<ScanItem>)> {
        let mut start = vec![TAG_JOB];
        start.extend_from_slice(&cursor.to_be_bytes());
        let end = [TAG_JOB + 1];
        let mut out = Vec::new();
        let mut scanned = 0usize;
        let mut from = start;
        loop {
            let batch = self.range(&from, &end, 256.min(budget.max(1)), false)?;
            if batch.is_empty() {
                return Ok((0, out));
            }
            for (k, v) in &batch {
                let Some(idb) = k.get(1..21).and_then(|b| <[u8; 20]>::try_from(b).ok()) else {
                    return Err(corrupt(format!("bad job key {k:?}")));
                };
                let id = JobId(idb);
                if scanned >= budget || out.len() >= count {
                    let next = u64::from_be_bytes(idb[..8].try_into().unwrap_or([0; 8]));
                    return Ok((next.max(1), out));
                }
                scanned += 1;
                let job = Job::decode(v)
                    .ok_or_else(|| corrupt(format!("job record {id:?} does not decode")))?;
                if filter(&job) {
                    out.push(ScanItem { id, job });
                }
            }
            let Some((last, _)) = batch.last() else {
                return Ok((0, out));
            };
            from = last.clone();
            from.push(0);
        }
    }

    // -----------------------------------------------------------------------------------
    // Timers.

    /// Handles the timers due at `now_ms`: expiry, requeue of unacknowledged jobs, end of
    /// DELAY; at most `budget` of them (the rest on the next call).
    pub fn run_timers(&mut self, now_ms: u64, budget: usize) -> Result<TimerRun> {
        let mut run = TimerRun::default();
        let start = timer_key(self.timer_low, &JobId([0; 20]));
        let end = timer_key(now_ms.saturating_add(1), &JobId([0; 20]));
        let due = self.range(&start, &end, budget.saturating_add(1), false)?;
        if due.len() > budget {
            run.more = true;
        }
        let mut last_due = self.timer_low;
        for (k, _) in due.iter().take(budget) {
            let due_at = k
                .get(1..9)
                .and_then(|b| b.try_into().ok())
                .map(u64::from_be_bytes);
            let id = k.get(9..29).and_then(|b| <[u8; 20]>::try_from(b).ok());
            let (Some(due_at), Some(id)) = (due_at, id) else {
                return Err(corrupt(format!("bad timer key {k:?}")));
            };
            let id = JobId(id);
            last_due = due_at;
            run.processed += 1;
            let Some(old) = self.get(&id)? else {
                tracing::error!(?id, "a timer for a job that does not exist: removed");
                debug_assert!(false, "timer of a missing job");
                self.stage_del(k);
                continue;
            };
            if old.awake != due_at {
                tracing::error!(?id, "a stale timer of a job: removed");
                debug_assert!(false, "stale timer");
                self.stage_del(k);
                continue;
            }
            if old.etime <= now_ms / 1000 {
                self.put(&id, Some(&old), None, now_ms);
                run.expired += 1;
                continue;
            }
            let mut job = old.clone();
            if job.state == JobState::Active && job.qtime != 0 && job.qtime <= now_ms {
                let paused_in = self
                    .queues
                    .get(&job.queue)
                    .is_some_and(|q| q.paused & PAUSED_IN != 0);
                if job.retry != 0 && paused_in {
                    job.qtime = now_ms + u64::from(job.retry) * 1000;
                } else {
                    let queue = job.queue.clone();
                    if self.enqueue_job(&mut job, false, now_ms) {
                        run.requeued += 1;
                        if job.queue != queue {
                            run.dead_lettered += 1;
                        }
                    } else {
                        // Never to be queued again: only its expiry is left.
                        job.qtime = 0;
                    }
                }
            }
            self.put(&id, Some(&old), Some(job), now_ms);
        }
        self.timer_low = if run.more {
            last_due
        } else {
            now_ms.saturating_add(1)
        };
        Ok(run)
    }

    // -----------------------------------------------------------------------------------
    // Commit hooks (called by `Store`).

    pub(crate) fn has_staged(&self) -> bool {
        self.staged_ops > 0
            || !self.dirty_queues.is_empty()
            || self.registered_dirty
            || self.log.fold
    }

    /// Makes the next commit fold (`jobs/log.rs`): a clean close, so that the next start has
    /// no log to replay.
    pub(crate) fn request_fold(&mut self) {
        self.log.fold = true;
    }

    /// Puts the drain's job writes into its batch: the queue records and the job count, and
    /// either one log record of the keys staged in the drain, or a fold (`jobs/log.rs`).
    pub(crate) fn drain_into(&mut self, batch: &mut OwnedWriteBatch) {
        for name in self.dirty_queues.drain() {
            let k = queue_key(&name);
            match self.queues.get(&name) {
                Some(q) => batch.insert(self.ks.of(&k), k, q.encode()),
                None => batch.remove(self.ks.of(&k), k),
            }
        }
        if std::mem::take(&mut self.registered_dirty) {
            batch.insert(
                self.ks.of(COUNT_KEY),
                COUNT_KEY,
                self.registered.to_be_bytes().to_vec(),
            );
        }
        if self.log.folds_now(self.pending.len()) {
            self.fold_into(batch);
        } else {
            for rec in self.ops.records() {
                Self::write_log_record(&self.ks, &mut self.log, batch, rec);
            }
            self.ops.clear();
        }
        self.staged_ops = 0;
    }

    /// Puts `rec` into the batch as the next log record.
    fn write_log_record(ks: &Spaces, log: &mut LogState, batch: &mut OwnedWriteBatch, rec: &[u8]) {
        log.bytes += rec.len();
        let key = log::key(log.next);
        log.next += 1;
        batch.insert(ks.of(&key), &key[..], rec);
    }

    /// Writes `pending` into the keyspaces and removes the log records, in the drain's batch.
    fn fold_into(&mut self, batch: &mut OwnedWriteBatch) {
        let mut alive = 0;
        for (k, v) in std::mem::take(&mut self.pending) {
            let k = k.as_slice();
            match v {
                Staged::New(v) => {
                    alive += 1;
                    batch.insert(self.ks.of(k), k, v);
                }
                Staged::Put(v) => batch.insert(self.ks.of(k), k, v),
                Staged::Del => batch.remove(self.ks.of(k), k),
            }
        }
        for seq in self.log.first..self.log.next {
            let key = log::key(seq);
            batch.remove(self.ks.of(&key), key.to_vec());
        }
        self.log.folded(self.staged_ops, alive);
        self.ops.clear();
    }
}

#[cfg(test)]
mod tests;
