//! The durable store: one fjall `Database`, the in-memory key directories of every database,
//! the stream entries on disk, and the write path.
//!
//! Ownership: one thread (the server's engine) owns the `Store` and is the only one that reads
//! or writes it, so nothing here locks. fjall writes can stall the calling thread (write stalls,
//! see the design note), which is why that thread is never a tokio worker.
//!
//! Write path (group commit). Commands change the in-memory state and stage their disk writes:
//! appended entries are gathered per stream into an *open run* (see the layout below); full
//! runs, and the runs XDEL and trimming rewrite or remove, go into the *overlay* of staged
//! `entries` writes (`store/overlay.rs`, keyed by disk key, last write wins); a changed stream,
//! node or consumer group is only marked dirty, and its record is encoded once at the commit,
//! so a hot stream written a thousand times in one drain is written once; other records go
//! into maps keyed by disk key (last write wins).
//! [`Store::commit`] turns all of that into ONE atomic fjall batch; the engine calls it once per
//! drain, between commands, and nothing else commits while commands run (the reaper commits
//! from the engine's periodic task, also between commands). After the commit the engine calls
//! [`Store::persist`] — `write(2)` for `appendfsync no`/`everysec`, `fdatasync` for `always` —
//! and only then releases the drain's replies. fjall writes a batch to its journal as one
//! unit that recovery keeps or drops whole, and its journal buffer (8 KiB) may reach the OS
//! at any moment of a large batch, so a kill -9 keeps a prefix of whole batches. A crash
//! therefore loses whole drains at most, never part of a command or of a transaction, and
//! never anything that was acknowledged under `always`.
//!
//! Reads of stream entries never commit: they see fjall's runs merged with the overlay and the
//! stream's open run (`overlay::Runs`), exactly the runs fjall would hold after a commit. The
//! run cache that saves their seeks keeps sealed runs only, never a copy of an open run, which
//! later appends would leave behind (see `RunCache`).
//! (Earlier builds committed the staged writes before such a read — a "read barrier" — so a
//! read inside MULTI/EXEC committed the part of the transaction executed so far as a batch of
//! its own, and a kill -9 could keep half an EXEC.) The running command's own appended entry
//! (`fresh`) stays out of the runs until the command ends, so its own trim can still cancel it.
//! [`Store::begin_atomic`] / [`Store::end_atomic`] mark a section (EXEC, later scripts) whose
//! writes must land in one batch, and assert that nothing commits inside it.
//!
//! Why one batch per drain and not per command: fjall takes a global journal lock per commit,
//! and a stream's metadata and tail node change with every XADD; coalescing them per drain makes
//! an XADD cost one entry write instead of three.
//!
//! On-disk layout:
//! * keyspace `keys`:
//!   * `0x00 ‖ db u8 ‖ name` → `type u8 ‖ expire_at u64 BE (0 = none) ‖ payload`;
//!     string payload: its bytes; stream payload: [`StreamMeta::encode`].
//!   * `0xFE ‖ sid u64` → empty: stream incarnation `sid` is dead; the reaper is deleting its
//!     entries and node records (DEL of any stream answers at once).
//!   * `0xFF ‖ "next_sid"` → u64: stream incarnation allocator.
//!   * `0xFF ‖ "db-map"` → one byte per database: the slot (the `db` byte above) its key records
//!     are under. Written by SWAPDB, which exchanges two databases by exchanging their slots
//!     (O(1), as in Redis, instead of rewriting every key record); absent, database n is in
//!     slot n. `open` and `sluice repair` read it.
//!   * `0xFF ‖ "format"` → u32: the data format ([`DATA_FORMAT`]), written when the database is
//!     created; `open` refuses a directory without it (format 1, one record per entry, which
//!     this build would misread) or with another value.
//! * keyspace `entries`: `sid u64 ‖ ms u64 ‖ seq u64` → a *run* ([`crate::stream::run`]): the
//!   consecutive entries of one stream appended by one drain (between two commits), at most
//!   [`RunLimits`] of them; each entry's field list is the [`crate::stream::entry`] encoding.
//!   The key's ID is a lower bound of the run's IDs: the first entry's ID when the run is
//!   written; XDEL and trimming rewrite a run in place under the same key (or remove it when
//!   nothing is left), so it stays a lower bound. The runs of a stream never overlap: every
//!   entry is in exactly one run, and in key order the runs hold increasing, disjoint ID
//!   ranges. So the run that may hold an ID is the one with the greatest key ≤ that ID, and a
//!   scan from an ID starts there. Appends always open a new run above every existing one
//!   (an appended ID is greater than every live ID, and every run holds a live ID ≥ its key).
//!
//!   Why runs and not one record per entry: an XADD-heavy drain then costs one memtable insert
//!   per stream instead of one per entry (the skiplist insert was a quarter of the engine
//!   thread), and flushing and compaction handle a few keys instead of one per entry (no bloom
//!   filter key, index entry or key prefix per entry; the keyspace builds no bloom filter at
//!   all: its only point reads are of run keys the run index (`store/reads/run_index.rs`)
//!   learned from earlier reads, which exist unless a trim removed them); an entry costs a few bytes of ID deltas on disk
//!   instead of a 24-byte key. The price: XDEL and trimming rewrite the run at the boundary,
//!   and a read decodes the run its first ID falls in.
//! * keyspace `smeta`: `sid u64 ‖ 0x01 ‖ master id` → [`NodeSummary`] of that node; the
//!   consumer groups' records and PEL logs under tags `0x02`, `0x03`, `0x05` (see
//!   `store/groups.rs`: one log record per group per commit, never a record per pending
//!   entry).
//! * keyspaces `jobs`, `job_bodies`, `job_queued`, `job_timers` and `job_meta` (created by
//!   `open` when missing; small memtables, 16 MiB down to 2 MiB): the job store (jobs, bodies, queue and timer
//!   indexes, queues), one keyspace per kind of record (`jobs/spaces.rs` says why), laid out and
//!   owned by `crate::jobs`, staged and committed with the rest. (Data directories from before
//!   `jobs` had the job records in `keys` under tags `0x10`..=`0x15`, and those from before the
//!   split had them all in `jobs`; the first open moves them.)
//!
//! Invariants: the in-memory directories equal what `keys` holds once every staged write is
//! committed; `open` rebuilds them from disk (entries are not read at startup), dropping keys
//! that expired while the server was down. The runs readers see (fjall under the overlay, plus
//! the open runs) are the runs `entries` holds once every staged write is committed, and the
//! layout invariants above hold for them at every command boundary. Nothing commits inside a
//! command, and a commit inside an atomic section is a bug (asserted in debug builds).
//!
//! Modules, along the seams of the store: `startup` (open and load), `keyspace` (key
//! directories, expiry, WATCH and ready-key tracking), `appends` (stream creation, XADD, trims,
//! XDEL, atomic sections), `reads` (ranges, point reads, the run cache), `groups` (consumer
//! groups and their PEL log, changed only through `GroupMut`), `reaper` (dead incarnations),
//! `commit` (the batch, persist, close), `overlay` (staged entry writes readers see),
//! `opening`/`damage`/`salvage` (checks around open, damage reports, repair).

use std::collections::HashSet;

use ahash::{AHashMap as HashMap, AHashSet};
use std::path::Path;

use bytes::Bytes;
use fjall::config::FilterPolicy;
use fjall::{Database, Keyspace, KeyspaceCreateOptions, OwnedWriteBatch, PersistMode, Slice};

mod appends;
pub mod backup;
mod commit;
mod damage;
mod functions;
mod groups;
mod idmp;
mod keyspace;
mod memstats;
mod opening;
mod overlay;
mod queue;
mod reads;
mod reaper;
mod refs;
pub mod salvage;
mod startup;
mod stats;

pub use self::commit::sync_active_journal;
use self::reads::*;
pub use self::stats::StoreStats;

pub use self::groups::{ClaimOutcome, ClaimSpec, GroupMut, NackMode, NACK_FATAL_COUNT};
pub use self::idmp::{IdmpDefaults, IdmpInfo, IDMP_CRON_EXPIRE, IDMP_CRON_STREAMS};
use self::overlay::{Overlay, Runs};
pub use self::queue::{DeadLetterRun, QueueCronRun, RetainRun};
pub use self::refs::{DelOutcome, RefPolicy, ACKED_TRIM_SCAN_MAX};
use crate::keydir::{Entry, KeyDir, Value};
use crate::stream::layout::{NodeLayout, NodeLimits, NodeSummary, Trim};
use crate::stream::run::{self, RunBuilder};
use crate::stream::{entry, StreamId, StreamMeta};

/// How long [`Store::close`] waits for memtables to flush before it syncs the journal and
/// returns anyway.
pub const CLOSE_FLUSH_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

/// The largest key name accepted. fjall panics on keys over 65,535 bytes and our disk keys add
/// a prefix, so names are capped well below.
pub const MAX_KEY_LEN: usize = 65_000;

const TAG_KEY: u8 = 0x00;
const TAG_DEAD: u8 = 0xFE;
const NEXT_SID_KEY: &[u8] = b"\xFFnext_sid";
const FORMAT_KEY: &[u8] = b"\xFFformat";
/// In `keys`, once SWAPDB ran: which slot of the key records (the `db` byte of their disk keys)
/// holds each database, one byte per database (absent: database n in slot n).
const DB_MAP_KEY: &[u8] = b"\xFFdb-map";
/// In `keys`: present once the directory has a `jobs` keyspace (see `Store::open`).
pub(crate) const JOBS_KEYSPACE_KEY: &[u8] = b"\xFFjobs-keyspace";
/// The value of [`JOBS_KEYSPACE_KEY`] once the job store has its five keyspaces
/// (`jobs/spaces.rs`); 1 meant the one `jobs` keyspace.
const JOBS_SPLIT: u8 = 2;
/// The data format this build reads and writes: 3 = stream entries in runs, consumer-group
/// PEL logs with delta-coded ops. (2: the same with fixed-width PEL log ops; 1, one `entries`
/// record per entry, had no marker.)
pub const DATA_FORMAT: u32 = 3;
const TYPE_STRING: u8 = 1;
const TYPE_STREAM: u8 = 2;
const SMETA_NODE: u8 = 0x01;

/// How the store is opened.
#[derive(Clone, Debug)]
pub struct StoreOptions {
    /// Number of databases (`databases`, 16 by default).
    pub databases: usize,
    /// fjall block cache in bytes.
    pub cache_size: u64,
    /// A group's PEL log is cleaned once it holds more ops than twice the PEL plus this
    /// (see `store/groups.rs`; tests make it small).
    pub pel_log_min_ops: u64,
    /// Which Redis's rules a group's `entries-read` follows (see [`CounterRules`]).
    pub counter_rules: crate::stream::group::CounterRules,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            databases: 16,
            cache_size: 64 << 20,
            pel_log_min_ops: groups::LOG_MIN_OPS,
            counter_rules: Default::default(),
        }
    }
}

/// When an open run is full and the next appended entry starts a new one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RunLimits {
    /// Most entries in one run.
    pub max_entries: usize,
    /// Most bytes of encoded entries in one run (a bigger single entry gets a run of its own).
    pub max_bytes: usize,
}

impl Default for RunLimits {
    fn default() -> Self {
        RunLimits {
            max_entries: 256,
            max_bytes: 64 << 10,
        }
    }
}

/// How hard [`Store::persist`] pushes the journal towards the disk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sync {
    /// Hand the journal to the OS (`write(2)`): survives a process crash.
    Os,
    /// `fdatasync`: survives power loss.
    Disk,
}

/// Errors from the disk. The server treats them as fatal for writes (fjall poisons itself after
/// a failed journal write) and reports them for reads.
#[derive(Debug)]
pub enum StoreError {
    Fjall(fjall::Error),
    Corrupt(String),
}

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreError::Fjall(fjall::Error::Poisoned) => write!(
                f,
                "storage error: the store refuses writes after an earlier failed write, sync, \
                 flush or compaction (fjall: Poisoned)"
            ),
            StoreError::Fjall(fjall::Error::Locked) => write!(
                f,
                "storage error: the data directory is in use by another process (fjall: Locked)"
            ),
            StoreError::Fjall(e) if self.is_damage() => write!(
                f,
                "storage error: damaged data on disk ({e}); other keys are unaffected; run `sluice check` on the data directory"
            ),
            StoreError::Fjall(e) => match self.os_error() {
                Some(io) => write!(f, "storage I/O error: {io}"),
                None => write!(f, "storage error: {e}"),
            },
            StoreError::Corrupt(what) => write!(f, "corrupt data on disk: {what}"),
        }
    }
}

impl std::error::Error for StoreError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            StoreError::Fjall(e) => Some(e),
            StoreError::Corrupt(_) => None,
        }
    }
}

impl StoreError {
    /// Another process holds the data directory (fjall's lock file).
    pub fn is_locked(&self) -> bool {
        matches!(self, StoreError::Fjall(fjall::Error::Locked))
    }

    /// The OS error at the root of this one (`ENOSPC`, `EIO`, …), if there is one.
    pub fn os_error(&self) -> Option<&std::io::Error> {
        let mut cur: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(self);
        while let Some(e) = cur {
            if let Some(io) = e.downcast_ref::<std::io::Error>() {
                return Some(io);
            }
            cur = e.source();
        }
        None
    }

    /// fjall refused because an earlier write, sync, flush or compaction failed: nothing more
    /// can be written by this process.
    pub fn is_poisoned(&self) -> bool {
        matches!(self, StoreError::Fjall(fjall::Error::Poisoned))
    }
}

impl From<fjall::Error> for StoreError {
    fn from(e: fjall::Error) -> Self {
        StoreError::Fjall(e)
    }
}

pub type Result<T> = std::result::Result<T, StoreError>;

/// The key holds another type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WrongType;

/// The store. See the module docs.
pub struct Store {
    db: Database,
    keys: Keyspace,
    entries: Keyspace,
    smeta: Keyspace,
    dirs: Vec<KeyDir>,
    /// The slot of each database's key records (see `DB_MAP_KEY`).
    slots: Vec<u8>,
    /// The reaper's removals of dead incarnations' records, committed by [`Store::reap`].
    batch: Option<OwnedWriteBatch>,
    /// Entry writes of the current drain (full runs, run rewrites and removals), which every
    /// read of stream entries sees (see `store/overlay.rs`).
    overlay: Overlay,
    /// Depth of nested atomic sections ([`Store::begin_atomic`]); no commit while above 0.
    atomic: u32,
    /// The entry appended by the running command (sid, ID, encoded fields), added to its
    /// stream's open run when the command ends (so its own trim can still cancel it, as
    /// `XADD … MAXLEN 0` does).
    fresh: Option<(u64, StreamId, Bytes)>,
    /// Per stream incarnation, the run of entries appended since the last commit; staged into
    /// the batch when the drain commits (or when full).
    open_runs: HashMap<u64, RunBuilder>,
    run_limits: RunLimits,
    /// Runs read recently (see [`RunCache`]).
    run_cache: RunCache,
    /// `keys` records to write at the next commit (None = remove), last write wins.
    pending_keys: HashMap<Vec<u8>, Option<Vec<u8>>>,
    /// Node summaries to write at the next commit (None = remove).
    pending_smeta: HashMap<Vec<u8>, Option<Vec<u8>>>,
    /// Streams whose metadata changed since the last commit.
    dirty_streams: AHashSet<(usize, Bytes)>,
    /// The last stream marked dirty: a hot stream is marked once per commit, not per command.
    last_dirty: Option<(usize, Bytes)>,
    next_sid: u64,
    /// Dead stream incarnations still holding data, and where the reaper got to in each.
    dead: Vec<(u64, reaper::ReapAt)>,
    /// Dead incarnations big enough to have their tables dropped whole before the reaper's
    /// tombstones (see `store/reaper.rs`); in memory only: after a restart, tombstones only.
    drop_first: AHashSet<u64>,
    /// The table drop under way for the first dead incarnation, if any (`store/reaper.rs`).
    table_drop: Option<reaper::TableDrop>,
    /// The data directory (the journal a table drop syncs first); None: no table drops.
    data_dir: Option<std::path::PathBuf>,
    /// Dead incarnations with at least this many entries get a table drop.
    drop_min_entries: u64,
    /// Writes committed since the last [`Store::persist`].
    unpersisted: bool,
    /// Keys changed since the last drain of them (for WATCH), recorded while `track_touches`.
    touched: Vec<(usize, Bytes)>,
    track_touches: bool,
    /// Keys that may now serve a blocked reader (see [`Store::track_ready`]).
    ready: ReadyKeys,
    /// Lookups record an access (see [`Store::set_touching`]).
    touching: bool,
    pel_log_min_ops: u64,
    counter_rules: crate::stream::group::CounterRules,
    /// The job store (`crate::jobs`): its writes join every commit's batch.
    jobs: crate::jobs::Jobs,
    /// Queue groups by their next deadline (`store/queue.rs`).
    queue_schedule: crate::stream::queue::QueueSchedule,
    /// Streams with an IDMP window, for the periodic expiry pass (`store/idmp.rs`).
    idmp_streams: self::idmp::IdmpStreams,
}

/// The keys that may now serve a blocked reader, recorded while the engine asks
/// ([`Store::track_ready`]: only while some client is blocked, so recording costs nothing in the
/// common case): a stream appended to, a key created or replaced (a new stream, a RENAME
/// destination), removed or changed in type (deleted, expired, overwritten, renamed away), a
/// consumer group destroyed (its readers answer NOGROUP). Every change of that kind notes its
/// key here, in the store method that makes it, so no command handler has to remember to. A
/// key may be noted more than once (consecutive repeats are not).
///
/// Not noted, as Redis 7.0.15 signals none of them (the differential tests
/// `block_setid_does_not_wake` and `block_other_writes_do_not_wake` pin it): a group created
/// (nobody waits on a group that does not exist: XREADGROUP answers NOGROUP), a group's last
/// delivered ID set back (XGROUP SETID: the reader stays blocked until the next append),
/// XSETID, XDEL, trims, and every other group change.
#[derive(Debug, Default)]
pub(crate) struct ReadyKeys {
    on: bool,
    keys: Vec<(usize, Bytes)>,
}

impl ReadyKeys {
    /// Notes that `name` changed in a way that may serve a blocked reader.
    #[inline]
    fn note(&mut self, db: usize, name: &[u8]) {
        if !self.on {
            return;
        }
        if self
            .keys
            .last()
            .is_some_and(|(d, n)| *d == db && n.as_ref() == name)
        {
            return;
        }
        self.keys.push((db, Bytes::copy_from_slice(name)));
    }
}

/// The disk key of a key record, in `slot` (see `DB_MAP_KEY`: `Store::slots[db]`).
fn disk_key(slot: u8, name: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(2 + name.len());
    k.push(TAG_KEY);
    k.push(slot);
    k.extend_from_slice(name);
    k
}

/// The slot of each database (see `DB_MAP_KEY`) as stored in `keys`, or the identity.
fn read_db_map(keys: &Keyspace, databases: usize) -> Result<Vec<u8>> {
    let identity: Vec<u8> = (0..databases).map(|d| d as u8).collect();
    let Some(raw) = keys.get(DB_MAP_KEY)? else {
        return Ok(identity);
    };
    let mut seen = [false; 256];
    for &s in raw.iter() {
        if std::mem::replace(&mut seen[usize::from(s)], true) {
            return Err(StoreError::Corrupt(
                "the database map repeats a slot".into(),
            ));
        }
    }
    // A map written with fewer databases than are configured now: the others keep their own
    // slot when it is free. (With more: keys in a database beyond the configured number are
    // refused at load, as without a map.)
    let mut map: Vec<u8> = raw.iter().copied().take(databases).collect();
    for d in map.len()..databases {
        let free = (d..256)
            .chain(0..d)
            .find(|s| !seen[*s])
            .ok_or_else(|| StoreError::Corrupt("the database map is full".into()))?;
        seen[free] = true;
        map.push(free as u8);
    }
    Ok(map)
}

/// The database whose records are in each slot (the inverse of [`read_db_map`]).
fn slot_owners(map: &[u8]) -> [Option<usize>; 256] {
    let mut owners = [None; 256];
    for (db, &slot) in map.iter().enumerate() {
        owners[usize::from(slot)] = Some(db);
    }
    owners
}

fn dead_key(sid: u64) -> Vec<u8> {
    let mut k = vec![TAG_DEAD];
    k.extend_from_slice(&sid.to_be_bytes());
    k
}

/// Records that the stream at `name` changed (its metadata is rewritten at the next commit);
/// a hot stream is recorded once per commit, not per command. (A function of the two fields,
/// so callers can hold a borrow of the key directory.)
fn mark_dirty(
    dirty: &mut AHashSet<(usize, Bytes)>,
    last: &mut Option<(usize, Bytes)>,
    db: usize,
    name: &[u8],
) {
    if let Some((d, n)) = last {
        if *d == db && n.as_ref() == name {
            return;
        }
    }
    let name = Bytes::copy_from_slice(name);
    dirty.insert((db, name.clone()));
    *last = Some((db, name));
}

/// The `entries` key of an entry.
pub fn entry_key(sid: u64, id: StreamId) -> [u8; 24] {
    let mut k = [0u8; 24];
    k[..8].copy_from_slice(&sid.to_be_bytes());
    k[8..].copy_from_slice(&id.to_be_bytes());
    k
}

fn node_key(sid: u64, master: StreamId) -> Vec<u8> {
    let mut k = Vec::with_capacity(25);
    k.extend_from_slice(&sid.to_be_bytes());
    k.push(SMETA_NODE);
    k.extend_from_slice(&master.to_be_bytes());
    k
}

fn encode_entry(entry: &Entry) -> Vec<u8> {
    let mut v = Vec::with_capacity(64);
    let (ty, payload_len) = match &entry.value {
        Value::String(s) => (TYPE_STRING, s.len()),
        Value::Stream(_) => (TYPE_STREAM, crate::stream::meta::META_LEN),
    };
    v.reserve(9 + payload_len);
    v.push(ty);
    v.extend_from_slice(&entry.expire_at.unwrap_or(0).to_be_bytes());
    match &entry.value {
        Value::String(s) => v.extend_from_slice(s),
        Value::Stream(m) => m.encode(&mut v),
    }
    v
}

fn decode_entry(raw: &[u8]) -> Option<Entry> {
    if raw.len() < 9 {
        return None;
    }
    let expire = u64::from_be_bytes(raw[1..9].try_into().ok()?);
    let expire_at = (expire != 0).then_some(expire);
    let value = match raw[0] {
        TYPE_STRING => Value::String(Bytes::copy_from_slice(&raw[9..])),
        TYPE_STREAM => Value::Stream(Box::new(StreamMeta::decode(&raw[9..])?)),
        _ => return None,
    };
    Some(Entry { value, expire_at })
}

/// A trim request: strategy, `~`, and the effective LIMIT (0 = none).
#[derive(Clone, Copy, Debug)]
pub struct TrimSpec {
    pub strategy: Trim,
    pub approx: bool,
    pub limit: u64,
}

/// One entry: its ID and its encoded flat field/value list, from disk or from the tail cache.
pub struct StreamEntry {
    pub id: StreamId,
    pub raw: EntryBytes,
}

/// Encoded entry bytes: a slice of a run read from fjall, or the tail cache's copy.
pub enum EntryBytes {
    Disk(Bytes),
    Mem(Bytes),
}

impl AsRef<[u8]> for EntryBytes {
    fn as_ref(&self) -> &[u8] {
        match self {
            EntryBytes::Disk(s) => s,
            EntryBytes::Mem(b) => b,
        }
    }
}

impl StreamEntry {
    /// The field/value list; an error if the record is corrupt.
    pub fn fields(&self) -> Result<Vec<&[u8]>> {
        entry::decode(self.raw.as_ref())
            .ok_or_else(|| StoreError::Corrupt(format!("entry {} does not decode", self.id)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A string key as (value, expiry), for comparisons.
    fn view(s: &mut Store, db: usize, key: &[u8], now: u64) -> Option<(Vec<u8>, Option<u64>)> {
        match s.lookup(db, key, now) {
            Some(Entry {
                value: Value::String(v),
                expire_at,
            }) => Some((v.to_vec(), *expire_at)),
            Some(_) => panic!("not a string"),
            None => None,
        }
    }

    fn string(v: &str, expire_at: Option<u64>) -> Entry {
        Entry {
            value: Value::String(Bytes::copy_from_slice(v.as_bytes())),
            expire_at,
        }
    }

    /// Reaps until no dead incarnation is left, waiting for table drops (a flush, their
    /// thread); returns the records tombstoned.
    fn reap_all(s: &mut Store) -> usize {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        let mut tombstoned = 0;
        while s.dead_streams() > 0 {
            assert!(
                std::time::Instant::now() < deadline,
                "reaping does not finish"
            );
            tombstoned += s.reap(100_000).expect("reap");
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        tombstoned
    }

    /// Appends one entry `ms-seq` (one field) to stream `key` of database 0, as one command.
    fn append_entry(s: &mut Store, key: &[u8], ms: u64, seq: u64) {
        let fields = [Bytes::from_static(b"f"), Bytes::from(format!("{ms}-{seq}"))];
        s.stream_append(
            0,
            key,
            StreamId::new(ms, seq),
            &fields,
            NodeLimits::default(),
            0,
        );
        s.end_command();
    }

    /// Creates streams `dead` and `kept` in database 0, appends `n` entries `1-1..1-n` to each
    /// (committed every ten), and returns their sids.
    fn dead_and_kept(s: &mut Store, n: u64) -> (u64, u64) {
        for key in [&b"dead"[..], b"kept"] {
            s.stream_create(0, Bytes::from_static(key));
        }
        let sid = |s: &mut Store, k: &[u8]| s.stream(0, k, 0).expect("type").expect("stream").sid;
        let sids = (sid(s, b"dead"), sid(s, b"kept"));
        for seq in 1..=n {
            append_entry(s, b"dead", 1, seq);
            append_entry(s, b"kept", 1, seq);
            if seq % 10 == 0 {
                s.commit().expect("commit");
            }
        }
        s.commit().expect("commit");
        sids
    }

    /// A big dead incarnation has its tables dropped whole, then tombstones for the rest: its
    /// records are gone, only those in a table it shared got tombstones, and its neighbours
    /// (sids just below and above, in that shared table) are whole, before and after a reopen.
    /// At most three L0 tables exist, under fjall's compaction threshold (four), so no
    /// compaction merges them while the test runs.
    #[test]
    fn a_big_dead_stream_has_its_tables_dropped() {
        let dir = tempfile::tempdir().expect("tempdir");
        let records = |s: &Store, sid: u64| {
            s.entries
                .range(sid.to_be_bytes()..(sid + 1).to_be_bytes())
                .count()
        };
        let (before_sid, big_sid, after_sid);
        {
            let mut s = Store::open(dir.path(), &StoreOptions::default(), 0).expect("open");
            s.set_drop_min_entries(1_000);
            for key in [&b"before"[..], b"big", b"after"] {
                s.stream_create(0, Bytes::from_static(key));
            }
            let sid =
                |s: &mut Store, k: &[u8]| s.stream(0, k, 0).expect("type").expect("stream").sid;
            (before_sid, big_sid, after_sid) = (
                sid(&mut s, b"before"),
                sid(&mut s, b"big"),
                sid(&mut s, b"after"),
            );
            assert!(before_sid < big_sid && big_sid < after_sid);
            // One table shared by the three streams (50 runs of each)...
            for seq in 1..=50 {
                append_entry(&mut s, b"before", 1, seq);
                append_entry(&mut s, b"big", 1, seq);
                append_entry(&mut s, b"after", 1, seq);
                s.commit().expect("commit");
            }
            s.commit().expect("commit");
            s.entries.rotate_memtable_and_wait().expect("flush");
            // ... then 300 runs of `big` alone in a table, and 300 more in the memtable: the
            // reaper must have that one flushed before it drops.
            for ms in 2..=3 {
                for seq in 1..=3_000 {
                    append_entry(&mut s, b"big", ms, seq);
                    if seq % 10 == 0 {
                        s.commit().expect("commit");
                    }
                }
                if ms == 2 {
                    s.entries.rotate_memtable_and_wait().expect("flush");
                }
            }
            s.persist(Sync::Os).expect("persist");
            assert_eq!(s.entries.table_count(), 2);
            assert_eq!(records(&s, big_sid), 650);
            let nodes = s.smeta.prefix(big_sid.to_be_bytes()).count();
            s.delete(0, b"big");
            s.commit().expect("commit");
            s.persist(Sync::Os).expect("persist");
            let tombstoned = reap_all(&mut s);
            assert_eq!(records(&s, big_sid), 0);
            // The two tables of `big` alone were dropped; its 50 runs in the shared table and
            // its node records got tombstones.
            assert_eq!(s.entries.table_count(), 1);
            assert_eq!(
                tombstoned - nodes,
                50,
                "{tombstoned} tombstones, {nodes} node records"
            );
            s.close().expect("close");
        }
        let mut s = Store::open(dir.path(), &StoreOptions::default(), 0).expect("reopen");
        assert_eq!(s.dead_streams(), 0);
        assert!(s.dir(0).get(b"big").is_none());
        assert_eq!(records(&s, big_sid), 0);
        for (key, sid) in [(&b"before"[..], before_sid), (b"after", after_sid)] {
            let got = s
                .stream_range(sid, StreamId::MIN, StreamId::MAX, false, None)
                .expect("range");
            let ids: Vec<(u64, u64)> = got.iter().map(|e| (e.id.ms, e.id.seq)).collect();
            let want: Vec<(u64, u64)> = (1..=50).map(|q| (1, q)).collect();
            assert_eq!(ids, want, "{}", String::from_utf8_lossy(key));
        }
    }

    /// A reaper slice whose deadline has passed stops at the next look at the clock, and the
    /// next slice resumes where it stopped, in the entries and then in the node records: each
    /// slice deletes at least one record and at most `CLOCK_EVERY`, together every record of
    /// the dead stream and nothing of its neighbour, which a reopen still reads whole.
    #[test]
    fn a_reap_slice_stops_at_its_deadline_and_the_next_resumes() {
        use reaper::{ReapAt, CLOCK_EVERY};
        let dir = tempfile::tempdir().expect("tempdir");
        let (dead_sid, kept_sid);
        {
            let mut s = Store::open(dir.path(), &StoreOptions::default(), 0).expect("open");
            (dead_sid, kept_sid) = dead_and_kept(&mut s, 10_000);
            let records = s
                .entries
                .range(dead_sid.to_be_bytes()..(dead_sid + 1).to_be_bytes())
                .count();
            let nodes = s.smeta.prefix(dead_sid.to_be_bytes()).count();
            assert!(
                records > 4 * CLOCK_EVERY && nodes > 2 * CLOCK_EVERY,
                "{records} records, {nodes} nodes"
            );
            s.delete(0, b"dead");
            s.commit().expect("commit");
            let (mut deleted, mut slices, mut node_slices) = (0, 0, 0);
            while s.dead_streams() > 0 {
                let n = s
                    .reap_until(usize::MAX, Some(std::time::Instant::now()))
                    .expect("reap");
                assert!(n > 0 && n <= CLOCK_EVERY, "a slice deleted {n} records");
                deleted += n;
                slices += 1;
                if matches!(s.dead.first(), Some((_, ReapAt::Nodes(_)))) {
                    node_slices += 1;
                }
                assert!(slices <= records + nodes, "reaping does not finish");
            }
            assert_eq!(deleted, records + nodes);
            assert!(
                node_slices >= 2,
                "the node records took {node_slices} resumed slices"
            );
            assert_eq!(
                s.entries
                    .range(dead_sid.to_be_bytes()..(dead_sid + 1).to_be_bytes())
                    .count(),
                0
            );
            assert_eq!(s.smeta.prefix(dead_sid.to_be_bytes()).count(), 0);
            s.persist(Sync::Os).expect("persist");
            s.close().expect("close");
        }
        let mut s = Store::open(dir.path(), &StoreOptions::default(), 0).expect("reopen");
        assert_eq!(s.dead_streams(), 0);
        let got = s
            .stream_range(kept_sid, StreamId::MIN, StreamId::MAX, false, None)
            .expect("range");
        let seqs: Vec<u64> = got.iter().map(|e| e.id.seq).collect();
        assert_eq!(seqs, (1..=10_000).collect::<Vec<u64>>());
    }

    /// A close while a big dead stream's table drop is under way (its thread sealing the
    /// memtable, waiting for the flush, or dropping) loses nothing: after the reopen the dead
    /// incarnation is reaped to the last record, and its neighbour reads whole.
    #[test]
    fn a_close_during_a_table_drop_loses_nothing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (dead_sid, kept_sid);
        {
            let mut s = Store::open(dir.path(), &StoreOptions::default(), 0).expect("open");
            s.set_drop_min_entries(1_000);
            (dead_sid, kept_sid) = dead_and_kept(&mut s, 5_000);
            s.delete(0, b"dead");
            s.commit().expect("commit");
            s.persist(Sync::Os).expect("persist");
            // Starts the drop's thread, then closes at once.
            assert_eq!(s.reap(100_000).expect("reap"), 0);
            assert!(s.table_drop.is_some(), "no table drop started");
            s.close().expect("close");
        }
        let mut s = Store::open(dir.path(), &StoreOptions::default(), 0).expect("reopen");
        reap_all(&mut s);
        assert_eq!(
            s.entries
                .range(dead_sid.to_be_bytes()..(dead_sid + 1).to_be_bytes())
                .count(),
            0
        );
        assert_eq!(s.smeta.prefix(dead_sid.to_be_bytes()).count(), 0);
        let got = s
            .stream_range(kept_sid, StreamId::MIN, StreamId::MAX, false, None)
            .expect("range");
        let seqs: Vec<u64> = got.iter().map(|e| e.id.seq).collect();
        assert_eq!(seqs, (1..=5_000).collect::<Vec<u64>>());
    }

    /// A backup whose snapshot was taken before the DEL, written after the reaper dropped the
    /// stream's tables, still has every entry: lsm-tree keeps the table version an open
    /// snapshot reads.
    #[test]
    fn a_backup_snapshot_still_reads_a_dropped_stream() {
        let dir = tempfile::tempdir().expect("tempdir");
        let target = dir.path().join("backup");
        let data = dir.path().join("data");
        {
            let mut s = Store::open(&data, &StoreOptions::default(), 0).expect("open");
            s.set_drop_min_entries(1_000);
            s.stream_create(0, Bytes::from_static(b"big"));
            let sid = s.stream(0, b"big", 0).expect("type").expect("stream").sid;
            for seq in 1..=3_000 {
                let fields = [Bytes::from_static(b"f"), Bytes::from(seq.to_string())];
                s.stream_append(
                    0,
                    b"big",
                    StreamId::new(1, seq),
                    &fields,
                    NodeLimits::default(),
                    0,
                );
                s.end_command();
                if seq % 10 == 0 {
                    s.commit().expect("commit");
                }
            }
            s.persist(Sync::Os).expect("persist");
            s.entries.rotate_memtable_and_wait().expect("flush");
            let backup = s.backup_source();
            s.delete(0, b"big");
            s.commit().expect("commit");
            s.persist(Sync::Os).expect("persist");
            let tombstoned = reap_all(&mut s);
            // The 300 runs' table was dropped, not tombstoned.
            assert!(tombstoned < 300, "{tombstoned} tombstones");
            assert_eq!(
                s.entries
                    .range(sid.to_be_bytes()..(sid + 1).to_be_bytes())
                    .count(),
                0
            );
            let cancel = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
            backup.write(&target, &cancel).expect("backup");
            s.close().expect("close");
        }
        let mut b = Store::open(&target, &StoreOptions::default(), 0).expect("open the backup");
        let sid = b.stream(0, b"big", 0).expect("type").expect("stream").sid;
        let got = b
            .stream_range(sid, StreamId::MIN, StreamId::MAX, false, None)
            .expect("range");
        assert_eq!(got.len(), 3_000);
        assert_eq!(got[2_999].id, StreamId::new(1, 3_000));
    }

    #[test]
    fn committed_writes_survive_reopen_and_expired_keys_do_not() {
        let dir = tempfile::tempdir().expect("tempdir");
        {
            let mut s = Store::open(dir.path(), &StoreOptions::default(), 1000).expect("open");
            s.put(0, Bytes::from_static(b"a"), string("1", None));
            s.put(3, Bytes::from_static(b"b"), string("2", Some(5000)));
            s.put(0, Bytes::from_static(b"gone"), string("x", None));
            s.commit().expect("commit");
            s.delete(0, b"gone");
            s.commit().expect("commit");
            s.persist(Sync::Disk).expect("persist");
        }
        let mut s = Store::open(dir.path(), &StoreOptions::default(), 2000).expect("reopen");
        assert_eq!(view(&mut s, 0, b"a", 2000), Some((b"1".to_vec(), None)));
        assert_eq!(
            view(&mut s, 3, b"b", 2000),
            Some((b"2".to_vec(), Some(5000)))
        );
        assert_eq!(view(&mut s, 0, b"gone", 2000), None);
        drop(s);
        let mut s = Store::open(dir.path(), &StoreOptions::default(), 6000).expect("reopen late");
        assert_eq!(view(&mut s, 3, b"b", 6000), None);
        assert_eq!(s.dir(3).len(), 0);
    }

    /// Journal zero-fill (`set_journal_zero_fill`, under `appendfsync always`): the blocks
    /// ahead of the write position are allocated as the journal grows, and what was written
    /// across several zero-filled chunks reads back after a reopen that replays the journal,
    /// as do writes made after a reopen that started a new journal.
    #[test]
    fn a_zero_filled_journal_reads_back_everything_written() {
        use std::os::unix::fs::MetadataExt;
        fn allocated_journal_bytes(dir: &Path) -> u64 {
            std::fs::read_dir(dir)
                .expect("list")
                .flatten()
                .filter(|e| e.path().extension().is_some_and(|x| x == "jnl"))
                .map(|e| e.metadata().expect("stat").blocks() * 512)
                .sum()
        }
        let dir = tempfile::tempdir().expect("tempdir");
        // What the allocation checks measure: zeros written into a hole take blocks (ext4, XFS,
        // tmpfs). A file system that keeps them as holes (ZFS with compression) skips those
        // checks; the read-back checks run everywhere.
        let allocates_zeros = {
            use std::os::unix::fs::FileExt;
            let path = dir.path().join("zero-probe");
            let f = std::fs::File::create(&path).expect("probe");
            f.set_len(1 << 20).expect("probe size");
            f.write_all_at(&[0u8; 1 << 16], 0).expect("probe write");
            let blocks = f.metadata().expect("probe stat").blocks() * 512;
            std::fs::remove_file(&path).expect("probe remove");
            blocks >= 1 << 16
        };
        if !allocates_zeros {
            eprintln!(
                "this file system does not allocate written zeros: allocation checks skipped"
            );
        }
        // Incompressible (the journal compresses large values).
        let value = |i: usize| {
            let mut x = (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
            (0..7_000 + i % 13)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    char::from(b'!' + (x % 90) as u8)
                })
                .collect::<String>()
        };
        crate::set_journal_zero_fill(true);
        {
            let mut s = Store::open(dir.path(), &StoreOptions::default(), 0).expect("open");
            for i in 0..400 {
                s.put(0, Bytes::from(format!("k{i}")), string(&value(i), None));
                s.commit().expect("commit");
                s.persist(Sync::Os).expect("persist");
            }
            // About 2.8 MB of journal, and zero-filled past it.
            let allocated = allocated_journal_bytes(dir.path());
            assert!(
                !allocates_zeros || allocated >= 3 << 20,
                "zero-filled ahead: {allocated} bytes allocated"
            );
            // Dropped without a close: the reopen replays the journal.
        }
        {
            let mut s = Store::open(dir.path(), &StoreOptions::default(), 0).expect("reopen");
            for i in 0..400 {
                let want = value(i).into_bytes();
                assert_eq!(
                    view(&mut s, 0, format!("k{i}").as_bytes(), 0).map(|(v, _)| v),
                    Some(want),
                    "k{i}"
                );
            }
            s.start_new_journal().expect("new journal");
            for i in 400..500 {
                s.put(0, Bytes::from(format!("k{i}")), string(&value(i), None));
                s.commit().expect("commit");
                s.persist(Sync::Disk).expect("persist");
            }
        }
        crate::set_journal_zero_fill(false);
        let mut s = Store::open(dir.path(), &StoreOptions::default(), 0).expect("reopen");
        assert_eq!(s.dir(0).len(), 500);
        for i in [0, 399, 400, 499] {
            assert_eq!(
                view(&mut s, 0, format!("k{i}").as_bytes(), 0).map(|(v, _)| v),
                Some(value(i).into_bytes()),
                "k{i}"
            );
        }
    }

    #[test]
    fn flush_db_removes_only_that_database() {
        let dir = tempfile::tempdir().expect("tempdir");
        {
            let mut s = Store::open(dir.path(), &StoreOptions::default(), 0).expect("open");
            for i in 0..100 {
                s.put(1, Bytes::from(format!("k{i}")), string("v", None));
            }
            s.put(2, Bytes::from_static(b"keep"), string("v", None));
            s.commit().expect("commit");
            s.flush_db(1);
            s.commit().expect("commit");
            s.persist(Sync::Os).expect("persist");
        }
        let s = Store::open(dir.path(), &StoreOptions::default(), 0).expect("reopen");
        assert_eq!(s.dir(1).len(), 0);
        assert_eq!(s.dir(2).len(), 1);
    }

    /// SWAPDB exchanges two databases by their slots: a reopen shows the swap, twice too, and
    /// later writes land in the right slot.
    #[test]
    fn swapped_databases_survive_a_reopen() {
        let dir = tempfile::tempdir().expect("tempdir");
        {
            let mut s = Store::open(dir.path(), &StoreOptions::default(), 0).expect("open");
            s.put(0, Bytes::from_static(b"a"), string("zero", None));
            s.stream_create(1, Bytes::from_static(b"s"));
            let fields = [Bytes::from_static(b"f"), Bytes::from_static(b"v")];
            s.stream_append(
                1,
                b"s",
                StreamId::new(1, 1),
                &fields,
                NodeLimits::default(),
                0,
            );
            s.end_command();
            s.swap_dbs(0, 1);
            s.swap_dbs(1, 5);
            // Written after the swaps: database 0 (slot 1), database 5 (slot 0).
            s.put(0, Bytes::from_static(b"b"), string("b", None));
            s.put(5, Bytes::from_static(b"c"), string("c", None));
            s.commit().expect("commit");
            s.persist(Sync::Os).expect("persist");
        }
        let mut s = Store::open(dir.path(), &StoreOptions::default(), 0).expect("reopen");
        assert!(s.dir(0).get(b"s").is_some() && s.dir(0).get(b"b").is_some());
        assert_eq!(s.dir(0).len(), 2);
        assert_eq!(s.dir(1).len(), 0);
        assert_eq!(s.dir(5).len(), 2);
        assert!(s.dir(5).get(b"a").is_some() && s.dir(5).get(b"c").is_some());
        let got = s.stream_read(0, b"s", (StreamId::MIN, StreamId::MAX), false, None, 0);
        assert_eq!(got.expect("read").len(), 1);
    }

    /// A stream copy is a new incarnation with its own entries: deleting the source, a reopen
    /// and the reaper leave the copy whole.
    #[test]
    fn a_stream_copy_is_independent_and_durable() {
        let dir = tempfile::tempdir().expect("tempdir");
        let fields = [Bytes::from_static(b"f"), Bytes::from_static(b"v")];
        {
            let mut s = Store::open(dir.path(), &StoreOptions::default(), 0).expect("open");
            s.stream_create(0, Bytes::from_static(b"s"));
            for i in 1..=2000 {
                s.stream_append(
                    0,
                    b"s",
                    StreamId::new(i, 0),
                    &fields,
                    NodeLimits::default(),
                    0,
                );
                s.end_command();
                if i % 700 == 0 {
                    s.commit().expect("commit");
                }
            }
            // Some runs committed, some staged, the last ones in the open run.
            assert!(s
                .copy_stream(0, b"s", 3, Bytes::from_static(b"c"))
                .expect("copy"));
            s.delete(0, b"s");
            s.commit().expect("commit");
            s.persist(Sync::Os).expect("persist");
            while s.dead_streams() > 0 {
                s.reap(100_000).expect("reap");
            }
        }
        let mut s = Store::open(dir.path(), &StoreOptions::default(), 0).expect("reopen");
        assert!(s.dir(0).get(b"s").is_none());
        let got = s
            .stream_read(3, b"c", (StreamId::MIN, StreamId::MAX), false, None, 0)
            .expect("read");
        assert_eq!(got.len(), 2000);
        assert_eq!(got[1999].id, StreamId::new(2000, 0));
        assert_eq!(s.dead_streams(), 0);
    }

    /// The store reports the keys that may serve a blocked reader, only while tracking is on:
    /// appends, new or replaced keys, removals, a destroyed group; not other group changes.
    #[test]
    fn ready_keys_are_reported_only_while_tracking() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut s = Store::open(dir.path(), &StoreOptions::default(), 0).expect("open");
        let ready = |s: &mut Store| -> Vec<(usize, Vec<u8>)> {
            s.drain_ready().map(|(db, k)| (db, k.to_vec())).collect()
        };
        let key = |db: usize, k: &[u8]| (db, k.to_vec());
        let fields = [Bytes::from_static(b"f"), Bytes::from_static(b"v")];
        let limits = NodeLimits::default();
        // Off: nothing is recorded.
        s.stream_create(0, Bytes::from_static(b"s"));
        s.stream_append(0, b"s", StreamId::new(1, 1), &fields, limits, 0);
        s.end_command();
        assert!(ready(&mut s).is_empty());
        s.track_ready(true);
        // An append, repeated: noted once in a row.
        for seq in 2..4 {
            s.stream_append(0, b"s", StreamId::new(1, seq), &fields, limits, 0);
            s.end_command();
        }
        assert_eq!(ready(&mut s), vec![key(0, b"s")]);
        // A new stream (XADD creating it, MKSTREAM), then its first append.
        s.stream_create(1, Bytes::from_static(b"t"));
        s.stream_append(1, b"t", StreamId::new(1, 1), &fields, limits, 0);
        s.end_command();
        assert_eq!(ready(&mut s), vec![key(1, b"t")]);
        // Group changes other than DESTROY wake nobody (as in Redis 7.0.15).
        assert!(s.create_group(0, b"s", Bytes::from_static(b"g"), StreamId::MIN, 0));
        {
            let mut g = s.group_mut(0, b"s", b"g").expect("group");
            let c = Bytes::from_static(b"c");
            g.deliver(&c, [StreamId::new(1, 1)], false, 5);
            g.set_last_id(StreamId::MIN, 0);
            assert!(g.ack(StreamId::new(1, 1)));
        }
        assert!(ready(&mut s).is_empty());
        assert!(s.destroy_group(0, b"s", b"g"));
        assert_eq!(ready(&mut s), vec![key(0, b"s")]);
        // RENAME: the source is gone, the destination replaced; DEL; SET over a stream.
        s.put(0, Bytes::from_static(b"x"), string("v", None));
        assert!(s.rename(0, b"s", Bytes::from_static(b"x")));
        assert!(s.delete(1, b"t"));
        s.put(0, Bytes::from_static(b"x"), string("w", None));
        assert_eq!(
            ready(&mut s),
            vec![
                key(0, b"x"),
                key(0, b"s"),
                key(0, b"x"),
                key(1, b"t"),
                key(0, b"x")
            ]
        );
        // Turning it off forgets what was recorded.
        s.stream_create(0, Bytes::from_static(b"s"));
        s.track_ready(false);
        assert!(ready(&mut s).is_empty());
        s.stream_append(0, b"s", StreamId::new(1, 1), &fields, limits, 0);
        s.end_command();
        assert!(ready(&mut s).is_empty());
    }

    fn raw_db(path: &Path) -> (Database, Keyspace, Keyspace) {
        let db = Database::builder(path).open().expect("open fjall");
        let keys = db
            .keyspace("keys", KeyspaceCreateOptions::default)
            .expect("keys");
        let entries = db
            .keyspace("entries", KeyspaceCreateOptions::default)
            .expect("entries");
        (db, keys, entries)
    }

    fn open_err(path: &Path) -> String {
        match Store::open(path, &StoreOptions::default(), 0) {
            Ok(_) => panic!("opened a directory it should refuse"),
            Err(StoreError::Corrupt(what)) => what,
            Err(e) => panic!("unexpected error {e}"),
        }
    }

    #[test]
    fn refuses_a_data_directory_of_another_format() {
        // Format 1 had no marker: keys without it are refused, not misread.
        let dir = tempfile::tempdir().expect("tempdir");
        {
            let (db, keys, _) = raw_db(dir.path());
            keys.insert(NEXT_SID_KEY, 5u64.to_be_bytes())
                .expect("insert");
            db.persist(PersistMode::SyncAll).expect("persist");
        }
        let what = open_err(dir.path());
        assert!(what.contains("format 1"), "{what}");
        assert!(what.contains(&format!("reads {DATA_FORMAT}")), "{what}");

        // A new directory gets the marker and opens again; another version is refused.
        let dir = tempfile::tempdir().expect("tempdir");
        drop(Store::open(dir.path(), &StoreOptions::default(), 0).expect("create"));
        drop(Store::open(dir.path(), &StoreOptions::default(), 0).expect("reopen"));
        {
            let (db, keys, _) = raw_db(dir.path());
            let marker = keys.get(FORMAT_KEY).expect("get").expect("marker written");
            assert_eq!(marker.as_ref(), DATA_FORMAT.to_be_bytes());
            keys.insert(FORMAT_KEY, 2u32.to_be_bytes()).expect("insert");
            db.persist(PersistMode::SyncAll).expect("persist");
        }
        let what = open_err(dir.path());
        assert!(what.contains("format 2"), "{what}");
    }

    /// A store in `path` with stream `s` holding entries 7-1 … 7-`n` (one command each, not
    /// committed), and the stream's incarnation id.
    fn stream_of(path: &Path, n: u64) -> (Store, u64) {
        let mut s = Store::open(path, &StoreOptions::default(), 0).expect("open");
        s.stream_create(0, Bytes::from_static(b"s"));
        let sid = s.stream(0, b"s", 0).expect("type").expect("stream").sid;
        for seq in 1..=n {
            let fields = [Bytes::from_static(b"f"), Bytes::from(seq.to_string())];
            s.stream_append(
                0,
                b"s",
                StreamId::new(7, seq),
                &fields,
                NodeLimits::default(),
                0,
            );
            s.end_command();
        }
        (s, sid)
    }

    /// The run cache never serves a run that XDEL or a trim rewrote or removed.
    #[test]
    fn cached_runs_are_forgotten_when_rewritten() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (mut s, sid) = stream_of(dir.path(), 6);
        s.commit().expect("commit");
        let ids = |s: &mut Store, from: u64| -> Vec<u64> {
            s.stream_range(sid, StreamId::new(7, from), StreamId::MAX, false, None)
                .expect("range")
                .iter()
                .map(|e| e.id.seq)
                .collect()
        };
        let get = |s: &mut Store, seq: u64| s.stream_get(sid, StreamId::new(7, seq)).expect("get");
        // Reads from inside the run (they go through the cache) see all six.
        assert_eq!(ids(&mut s, 2), vec![2, 3, 4, 5, 6]);
        assert!(get(&mut s, 3).is_some());
        // XDEL rewrites the run: the cached copy must not be served.
        assert_eq!(
            s.stream_delete(0, b"s", &[StreamId::new(7, 3)], 0)
                .expect("xdel"),
            1
        );
        s.end_command();
        s.commit().expect("commit");
        assert!(get(&mut s, 3).is_none());
        assert_eq!(ids(&mut s, 2), vec![2, 4, 5, 6]);
        // An exact trim rewrites it again (the first entries go).
        let spec = TrimSpec {
            strategy: Trim::MaxLen(2),
            approx: false,
            limit: 0,
        };
        assert_eq!(s.stream_trim(0, b"s", spec, None, 0).expect("trim"), 3);
        s.end_command();
        s.commit().expect("commit");
        assert!(get(&mut s, 4).is_none());
        assert_eq!(ids(&mut s, 2), vec![5, 6]);
    }

    /// A read into the open run leaves no copy of it in the run cache: appends go on filling
    /// that run (and it is sealed with them, when full or at the commit), so a copy would be
    /// a stale prefix of it, and a range starting inside the copy would skip what was
    /// appended since (the scan goes on after the run's key). Before the fix, `ids(1)` after
    /// the second append returned only 7-1.
    #[test]
    fn reads_into_the_open_run_see_its_later_appends() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (mut s, sid) = stream_of(dir.path(), 1);
        s.set_run_limits(RunLimits {
            max_entries: 3,
            max_bytes: 1 << 20,
        });
        let ids = |s: &mut Store, from: u64| -> Vec<u64> {
            s.stream_range(sid, StreamId::new(7, from), StreamId::MAX, false, None)
                .expect("range")
                .iter()
                .map(|e| e.id.seq)
                .collect()
        };
        let get = |s: &mut Store, seq: u64| s.stream_get(sid, StreamId::new(7, seq)).expect("get");
        let mut model = std::collections::BTreeMap::new();
        model.insert(1, "1".to_string());
        let mut add = |s: &mut Store, seq: u64| append(s, seq, &mut model);
        // Both reads go through the cache's seek; the open run holds 7-1 alone.
        assert!(get(&mut s, 1).is_some());
        assert_eq!(ids(&mut s, 1), vec![1]);
        // Appended to the same open run.
        add(&mut s, 2);
        assert_eq!(ids(&mut s, 1), vec![1, 2]);
        assert!(get(&mut s, 2).is_some());
        add(&mut s, 3);
        assert_eq!(ids(&mut s, 2), vec![2, 3]);
        // The run is full: 7-1 … 7-3 are sealed into the overlay, 7-4 opens the next run.
        add(&mut s, 4);
        assert_eq!(ids(&mut s, 1), vec![1, 2, 3, 4]);
        assert_eq!(ids(&mut s, 2), vec![2, 3, 4]);
        assert_eq!(ids(&mut s, 4), vec![4]);
        add(&mut s, 5);
        assert_eq!(ids(&mut s, 4), vec![4, 5]);
        // Sealed and committed: fjall's runs read the same, through the cache and without.
        s.commit().expect("commit");
        assert_eq!(ids(&mut s, 4), vec![4, 5]);
        assert_eq!(ids(&mut s, 1), vec![1, 2, 3, 4, 5]);
        add(&mut s, 6);
        assert_eq!(ids(&mut s, 5), vec![5, 6]);
        assert_eq!(ids(&mut s, 6), vec![6]);
        for seq in 1..=6 {
            assert!(get(&mut s, seq).is_some(), "7-{seq}");
        }
    }

    /// Everything a reader can observe of incarnation `sid` over the IDs 7-0 … 7-(`top`+1):
    /// whole ranges both ways, short ranges from every ID both ways, every single entry.
    fn observe(s: &mut Store, sid: u64, top: u64) -> Vec<String> {
        let show = |es: Vec<StreamEntry>| -> String {
            es.iter()
                .map(|e| {
                    let fields = e.fields().expect("fields");
                    format!("{}={}", e.id, String::from_utf8_lossy(fields[1]))
                })
                .collect::<Vec<_>>()
                .join(",")
        };
        let mut out = Vec::new();
        for rev in [false, true] {
            let all = s
                .stream_range(sid, StreamId::MIN, StreamId::MAX, rev, None)
                .expect("range");
            out.push(format!("all rev={rev}: {}", show(all)));
        }
        for seq in 0..=top + 1 {
            let at = StreamId::new(7, seq);
            let fwd = s
                .stream_range(sid, at, StreamId::MAX, false, Some(3))
                .expect("range");
            let back = s
                .stream_range(sid, StreamId::MIN, at, true, Some(3))
                .expect("range");
            let inner = s
                .stream_range(sid, at, StreamId::new(7, seq + 4), false, None)
                .expect("range");
            let one = s.stream_get(sid, at).expect("get").into_iter().collect();
            out.push(format!(
                "{seq}: fwd {} back {} inner {} get {}",
                show(fwd),
                show(back),
                show(inner),
                show(one)
            ));
        }
        out
    }

    /// The entries a plain model says stream `s` holds, in the form [`observe`] reads them.
    fn model_view(model: &std::collections::BTreeMap<u64, String>, top: u64) -> Vec<String> {
        let show = |v: Vec<(&u64, &String)>| -> String {
            v.iter()
                .map(|(k, f)| format!("7-{k}={f}"))
                .collect::<Vec<_>>()
                .join(",")
        };
        let mut out = Vec::new();
        out.push(format!("all rev=false: {}", show(model.iter().collect())));
        out.push(format!(
            "all rev=true: {}",
            show(model.iter().rev().collect())
        ));
        for seq in 0..=top + 1 {
            out.push(format!(
                "{seq}: fwd {} back {} inner {} get {}",
                show(model.range(seq..).take(3).collect()),
                show(model.range(..=seq).rev().take(3).collect()),
                show(model.range(seq..=seq + 4).collect()),
                show(model.range(seq..=seq).collect()),
            ));
        }
        out
    }

    fn append(s: &mut Store, seq: u64, model: &mut std::collections::BTreeMap<u64, String>) {
        let fields = [Bytes::from_static(b"f"), Bytes::from(format!("v{seq}"))];
        s.stream_append(
            0,
            b"s",
            StreamId::new(7, seq),
            &fields,
            NodeLimits::default(),
            0,
        );
        s.end_command();
        model.insert(seq, format!("v{seq}"));
    }

    fn copy_dir(from: &Path, to: &Path) {
        std::fs::create_dir_all(to).expect("mkdir");
        for e in std::fs::read_dir(from).expect("read_dir") {
            let e = e.expect("dir entry");
            let target = to.join(e.file_name());
            if e.file_type().expect("file type").is_dir() {
                copy_dir(&e.path(), &target);
            } else {
                std::fs::copy(e.path(), &target).expect("copy");
            }
        }
    }

    /// Inside an atomic section, reads see the section's own appends, XDELs and trims — in
    /// runs on disk, staged runs and the open run, across run boundaries — exactly as they
    /// read after the commit, and nothing of the section reaches the journal before it.
    #[test]
    fn reads_in_an_atomic_section_see_its_writes_as_after_a_commit() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut model = std::collections::BTreeMap::new();
        let (mut s, sid) = stream_of(dir.path(), 0);
        s.set_run_limits(RunLimits {
            max_entries: 3,
            max_bytes: 1 << 20,
        });
        // On disk: 7-1 … 7-10 in runs of three.
        for seq in 1..=10 {
            append(&mut s, seq, &mut model);
        }
        s.commit().expect("commit");
        s.persist(Sync::Os).expect("persist");
        let before = model_view(&model, 30);
        assert_eq!(observe(&mut s, sid, 30), before);

        s.begin_atomic();
        // After each step, the reads equal the model's.
        let step = |s: &mut Store, model: &std::collections::BTreeMap<u64, String>, what: &str| {
            let got = observe(s, sid, 30);
            assert_eq!(
                got,
                model_view(model, 30),
                "inside the section, after {what}"
            );
            got
        };
        // Appends: two full staged runs and an open one.
        for seq in 11..=18 {
            append(&mut s, seq, &mut model);
        }
        step(&mut s, &model, "appends");
        // XDEL: the first entry, a run on disk emptied, an entry of a staged run, one of the
        // open run and the last one.
        let del = [1, 4, 5, 6, 12, 17, 18];
        let ids: Vec<StreamId> = del.iter().map(|q| StreamId::new(7, *q)).collect();
        assert_eq!(
            s.stream_delete(0, b"s", &ids, 0).expect("xdel"),
            del.len() as u64
        );
        s.end_command();
        for q in del {
            model.remove(&q);
        }
        step(&mut s, &model, "xdel");
        // More appends after the XDEL sealed the open run, then an exact trim into the middle
        // of a staged run.
        for seq in 19..=24 {
            append(&mut s, seq, &mut model);
        }
        let spec = TrimSpec {
            strategy: Trim::MaxLen(9),
            approx: false,
            limit: 0,
        };
        let removed = s.stream_trim(0, b"s", spec, None, 0).expect("trim");
        s.end_command();
        while model.len() > 9 {
            model.pop_first();
        }
        assert_eq!(removed, 17 - 9);
        step(&mut s, &model, "trim");
        // XADD's own trim removing its own entry (`MAXLEN 0`): nothing is left.
        let fields = [Bytes::from_static(b"f"), Bytes::from_static(b"v25")];
        s.stream_append(
            0,
            b"s",
            StreamId::new(7, 25),
            &fields,
            NodeLimits::default(),
            0,
        );
        let spec = TrimSpec {
            strategy: Trim::MaxLen(0),
            approx: false,
            limit: 0,
        };
        let own = Some(StreamId::new(7, 25));
        assert_eq!(s.stream_trim(0, b"s", spec, own, 0).expect("trim"), 10);
        s.end_command();
        model.clear();
        step(&mut s, &model, "trim own");
        for seq in 26..=28 {
            append(&mut s, seq, &mut model);
        }
        let inside = step(&mut s, &model, "appends after");

        // Nothing was committed inside the section, and the journal holds none of it: a copy
        // of the directory opens as the state before it.
        assert!(!s.has_unpersisted(), "a commit inside the atomic section");
        let copy = tempfile::tempdir().expect("tempdir");
        copy_dir(dir.path(), copy.path());
        {
            let mut other = Store::open(copy.path(), &StoreOptions::default(), 0).expect("copy");
            assert_eq!(observe(&mut other, sid, 30), before);
        }
        s.end_atomic();
        s.commit().expect("commit");
        // After the commit, the reads are the same as inside the section.
        assert_eq!(observe(&mut s, sid, 30), inside);
        s.persist(Sync::Os).expect("persist");
        drop(s);
        let mut s = Store::open(dir.path(), &StoreOptions::default(), 0).expect("reopen");
        assert_eq!(observe(&mut s, sid, 30), model_view(&model, 30));
    }

    /// A commit inside an atomic section is a bug, caught in debug builds; sections nest.
    #[test]
    #[cfg(debug_assertions)]
    fn commit_inside_an_atomic_section_panics_in_debug_builds() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (mut s, _) = stream_of(dir.path(), 2);
        s.begin_atomic();
        s.begin_atomic();
        s.end_atomic();
        assert!(s.in_atomic());
        let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| s.commit()));
        assert!(
            caught.is_err(),
            "commit inside an atomic section did not panic"
        );
        s.end_atomic();
        assert!(!s.in_atomic());
        s.commit().expect("commit after the section");
    }

    /// A clean close leaves no journal to replay: the one it wrote to is sealed and deleted
    /// once its data is in tables, the next holds no batch, and everything is still there
    /// after a reopen (twice: a close right after an open with nothing written seals too).
    #[test]
    fn a_clean_close_leaves_no_journal_to_replay() {
        let journals = |dir: &Path| -> Vec<crate::check::JournalScan> {
            let mut v: Vec<_> = std::fs::read_dir(dir)
                .expect("read_dir")
                .map(|e| e.expect("entry").path())
                .filter(|p| p.extension().is_some_and(|e| e == "jnl"))
                .collect();
            v.sort();
            v.iter()
                .map(|p| crate::check::scan_journal(p).expect("scan"))
                .collect()
        };
        let dir = tempfile::tempdir().expect("tempdir");
        {
            let (mut s, _) = stream_of(dir.path(), 500);
            s.commit().expect("commit");
            let before = journals(dir.path());
            assert!(
                before.iter().map(|j| j.batches).sum::<u64>() > 0,
                "the writes are in the journal before the close"
            );
            s.close().expect("close");
        }
        let after = journals(dir.path());
        assert_eq!(after.len(), 1, "only the new journal is left");
        assert_eq!(after[0].batches, 0, "with nothing to replay");
        for round in 0..2 {
            let mut s = Store::open(dir.path(), &StoreOptions::default(), 0).expect("reopen");
            let sid = s.stream(0, b"s", 0).expect("type").expect("stream").sid;
            let all = s
                .stream_range(sid, StreamId::MIN, StreamId::MAX, false, None)
                .expect("range");
            assert_eq!(all.len(), 500, "round {round}");
            s.close().expect("close");
        }
    }

    #[test]
    fn a_corrupt_run_is_an_error_not_a_panic() {
        let dir = tempfile::tempdir().expect("tempdir");
        let sid;
        {
            let (mut s, id) = stream_of(dir.path(), 3);
            sid = id;
            s.close().expect("close");
        }
        {
            let (db, _, entries) = raw_db(dir.path());
            let key = entry_key(sid, StreamId::new(7, 1));
            let value = entries
                .get(key)
                .expect("get")
                .expect("one run for the drain");
            assert_eq!(
                run::decode(StreamId::new(7, 1), &value).expect("run").len(),
                3
            );
            entries
                .insert(key, &value[..value.len() - 1])
                .expect("insert");
            db.persist(PersistMode::SyncAll).expect("persist");
        }
        let mut s = Store::open(dir.path(), &StoreOptions::default(), 0).expect("reopen");
        let corrupt = |r: Result<()>| matches!(r, Err(StoreError::Corrupt(_)));
        assert!(corrupt(
            s.stream_range(sid, StreamId::MIN, StreamId::MAX, false, None)
                .map(drop)
        ));
        assert!(corrupt(
            s.stream_range(sid, StreamId::MIN, StreamId::MAX, true, None)
                .map(drop)
        ));
        assert!(corrupt(s.stream_get(sid, StreamId::new(7, 3)).map(drop)));
        assert!(corrupt(
            s.stream_delete(0, b"s", &[StreamId::new(7, 2)], 0)
                .map(drop)
        ));
    }
}
