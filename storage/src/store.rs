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
//!   all since nothing does point reads on it); an entry costs a few bytes of ID deltas on disk
//!   instead of a 24-byte key. The price: XDEL and trimming rewrite the run at the boundary,
//!   and a read decodes the run its first ID falls in.
//! * keyspace `smeta`: `sid u64 ‖ 0x01 ‖ master id` → [`NodeSummary`] of that node; the
//!   consumer groups' records and PEL logs under tags `0x02`, `0x03`, `0x05` (see
//!   `store/groups.rs`: one log record per group per commit, never a record per pending
//!   entry).
//! * keyspace `keys`, tags `0x10`..=`0x15`: the job store (jobs, bodies, queue and timer
//!   indexes, queues), laid out and owned by `crate::jobs`, staged and committed with the rest.
//!
//! Invariants: the in-memory directories equal what `keys` holds once every staged write is
//! committed; `open` rebuilds them from disk (entries are not read at startup), dropping keys
//! that expired while the server was down. The runs readers see (fjall under the overlay, plus
//! the open runs) are the runs `entries` holds once every staged write is committed, and the
//! layout invariants above hold for them at every command boundary. Nothing commits inside a
//! command, and a commit inside an atomic section is a bug (asserted in debug builds).

use std::collections::HashSet;

use ahash::{AHashMap as HashMap, AHashSet};
use std::path::Path;

use bytes::Bytes;
use fjall::config::FilterPolicy;
use fjall::{Database, Keyspace, KeyspaceCreateOptions, OwnedWriteBatch, PersistMode, Slice};

mod damage;
mod groups;
mod opening;
mod overlay;
pub mod salvage;

pub use self::groups::{ClaimOutcome, ClaimSpec, GroupMut};
use self::overlay::{Overlay, Runs};
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
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            databases: 16,
            cache_size: 64 << 20,
            pel_log_min_ops: groups::LOG_MIN_OPS,
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
    dead: Vec<(u64, Option<Vec<u8>>)>,
    /// Writes committed since the last [`Store::persist`].
    unpersisted: bool,
    /// Keys changed since the last drain of them (for WATCH), recorded while `track_touches`.
    touched: Vec<(usize, Bytes)>,
    track_touches: bool,
    /// Keys that may now serve a blocked reader (see [`Store::track_ready`]).
    ready: ReadyKeys,
    pel_log_min_ops: u64,
    /// The job store (`crate::jobs`): its writes join every commit's batch.
    jobs: crate::jobs::Jobs,
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

fn disk_key(db: usize, name: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(2 + name.len());
    k.push(TAG_KEY);
    k.push(db as u8);
    k.extend_from_slice(name);
    k
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

impl Store {
    /// Opens (or creates) the store in `path` and loads the key directories and stream
    /// metadata (not the entries).
    pub fn open(path: &Path, opts: &StoreOptions, now_ms: u64) -> Result<Store> {
        assert!(
            opts.databases >= 1 && opts.databases <= 256,
            "databases must be 1..=256"
        );
        // What fjall needs is checked before fjall touches the directory (it would delete a
        // keyspace without `current`, or create a database over one without its marker).
        let layout = opening::preflight(path)?;
        let db = Database::builder(path)
            .manual_journal_persist(true)
            .cache_size(opts.cache_size)
            .open()
            .map_err(|e| opening::open_failure(path, layout.as_ref(), e))?;
        if let Some(layout) = &layout {
            opening::report_dropped_tails(layout);
            opening::report_deleted_keyspaces(layout);
        }
        opening::require_keyspaces(&db, path)?;
        // fjall's default memtable size (64 MiB) for every keyspace. Each drain rewrites a few
        // small records here (the stream's key record, group and consumer records, a PEL log
        // record), and with 16 MiB memtables these keyspaces flushed four times as often; every
        // flush installs a new version of the tree under a lock that commits wait on (lsm-tree
        // fsyncs the version file while holding it). Measured on XREADGROUP -P 16: commits
        // over 5 ms 33 -> 11, p999 32.8 -> 7.5 ms.
        let keys = db.keyspace("keys", KeyspaceCreateOptions::default)?;
        // Nothing does point reads on `entries` (a read finds the run at or before an ID with
        // a range scan), so bloom filters would only cost flush time and space.
        let entries = db.keyspace("entries", || {
            KeyspaceCreateOptions::default().filter_policy(FilterPolicy::disabled())
        })?;
        let smeta = db.keyspace("smeta", KeyspaceCreateOptions::default)?;
        let mut store = Store::from_parts(db, keys, entries, smeta, opts);
        if let Err(e) = store.load(now_ms) {
            let read = [("keys", &store.keys), ("smeta", &store.smeta)];
            return Err(opening::load_failure(path, &read, e));
        }
        Ok(store)
    }

    /// A store on an open database with its keyspaces, nothing loaded (`open` loads; the
    /// offline salvage reads the records itself).
    pub(crate) fn from_parts(
        db: Database,
        keys: Keyspace,
        entries: Keyspace,
        smeta: Keyspace,
        opts: &StoreOptions,
    ) -> Store {
        Store {
            db,
            keys: keys.clone(),
            entries,
            smeta,
            dirs: (0..opts.databases).map(|_| KeyDir::new()).collect(),
            batch: None,
            overlay: Overlay::default(),
            atomic: 0,
            fresh: None,
            open_runs: HashMap::new(),
            run_limits: RunLimits::default(),
            run_cache: RunCache::default(),
            pending_keys: HashMap::new(),
            pending_smeta: HashMap::new(),
            dirty_streams: AHashSet::new(),
            last_dirty: None,
            next_sid: 1,
            dead: Vec::new(),
            unpersisted: false,
            touched: Vec::new(),
            track_touches: false,
            ready: ReadyKeys::default(),
            pel_log_min_ops: opts.pel_log_min_ops,
            jobs: crate::jobs::Jobs::new(keys),
        }
    }

    fn load(&mut self, now_ms: u64) -> Result<()> {
        self.check_format()?;
        self.jobs.load()?;
        if let Some(raw) = self.keys.get(NEXT_SID_KEY)? {
            let b: [u8; 8] = raw
                .as_ref()
                .try_into()
                .map_err(|_| StoreError::Corrupt("next_sid".into()))?;
            self.next_sid = u64::from_be_bytes(b);
        }
        let mut expired = Vec::new();
        let mut streams = 0usize;
        for guard in self.keys.prefix([TAG_KEY]) {
            let (k, v) = guard.into_inner()?;
            if k.len() < 2 {
                return Err(StoreError::Corrupt(format!("key record too short: {k:?}")));
            }
            let db = usize::from(k[1]);
            let mut entry = decode_entry(&v)
                .ok_or_else(|| StoreError::Corrupt(format!("bad key record for {k:?}")))?;
            if db >= self.dirs.len() {
                return Err(StoreError::Corrupt(format!(
                    "key in database {db} but only {} databases are configured",
                    self.dirs.len()
                )));
            }
            if let Value::Stream(meta) = &mut entry.value {
                meta.layout = self.load_layout(meta.sid)?;
                self.load_groups(meta)?;
                streams += 1;
            }
            if entry.expire_at.is_some_and(|at| at <= now_ms) {
                expired.push((db, Bytes::copy_from_slice(&k[2..]), entry));
                continue;
            }
            self.dirs[db].insert(Bytes::copy_from_slice(&k[2..]), entry);
        }
        for guard in self.keys.prefix([TAG_DEAD]) {
            let k = guard.key()?;
            let sid = k
                .get(1..9)
                .and_then(|b| b.try_into().ok())
                .map(u64::from_be_bytes);
            let sid =
                sid.ok_or_else(|| StoreError::Corrupt(format!("bad dead-stream marker {k:?}")))?;
            self.dead.push((sid, None));
        }
        for (db, name, entry) in expired {
            self.pending_keys.insert(disk_key(db, &name), None);
            self.drop_value(entry);
        }
        let written = self.commit().and_then(|()| {
            self.db
                .persist(PersistMode::Buffer)
                .map_err(StoreError::from)
        });
        match written {
            // A compaction started by the open crashed on a damaged table (see
            // `store/damage.rs`): the store is readable and refuses writes; the server starts
            // and its first commit reports it.
            Err(e) if e.is_poisoned() => {
                tracing::error!(
                    "a background compaction or flush failed while the store opened (see \
                     fjall's `Worker #n crashed` line): fjall refuses every write until the \
                     server restarts; reads go on. Looking for the damaged table"
                );
                self.diagnose_in_background();
            }
            other => other?,
        }
        tracing::info!(
            keys = self.dirs.iter().map(KeyDir::len).sum::<usize>(),
            streams,
            dead_streams = self.dead.len(),
            "keyspace loaded"
        );
        Ok(())
    }

    /// Refuses a data directory of another format; marks a new one with [`DATA_FORMAT`].
    fn check_format(&mut self) -> Result<()> {
        match self.keys.get(FORMAT_KEY)? {
            Some(raw) => {
                let found = <[u8; 4]>::try_from(raw.as_ref())
                    .map(u32::from_be_bytes)
                    .map_err(|_| {
                        StoreError::Corrupt(format!(
                            "the data format marker (key \"\\xFFformat\" in keyspace `keys`) \
                             holds {}, not a 4-byte format number: the record is damaged or was \
                             written by another program. {}",
                            crate::check::show_bytes(&raw),
                            crate::check::remedy(&damage::data_dir_of(self.keys.path()))
                        ))
                    })?;
                if found != DATA_FORMAT {
                    return Err(StoreError::Corrupt(format!(
                        "data directory has format {found}, this build reads {DATA_FORMAT}"
                    )));
                }
            }
            None => {
                if !(self.keys.is_empty()? && self.entries.is_empty()? && self.smeta.is_empty()?) {
                    return Err(StoreError::Corrupt(format!(
                        "data directory has format 1 (one record per stream entry), this build \
                         reads {DATA_FORMAT}"
                    )));
                }
                self.pending_keys.insert(
                    FORMAT_KEY.to_vec(),
                    Some(DATA_FORMAT.to_be_bytes().to_vec()),
                );
            }
        }
        Ok(())
    }

    /// Sets where open runs are cut (tests use small runs to exercise run boundaries).
    pub fn set_run_limits(&mut self, limits: RunLimits) {
        assert!(limits.max_entries >= 1, "runs hold at least one entry");
        self.run_limits = limits;
    }

    fn load_layout(&self, sid: u64) -> Result<NodeLayout> {
        let mut prefix = sid.to_be_bytes().to_vec();
        prefix.push(SMETA_NODE);
        let mut nodes = Vec::new();
        for guard in self.smeta.prefix(&prefix) {
            let (k, v) = guard.into_inner()?;
            let master = k.get(9..).and_then(StreamId::from_be_bytes);
            let summary = NodeSummary::decode(&v);
            match (master, summary) {
                (Some(m), Some(s)) => nodes.push((m, s)),
                _ => return Err(StoreError::Corrupt(format!("bad node record {k:?}"))),
            }
        }
        Ok(NodeLayout::from_nodes(nodes))
    }

    pub fn databases(&self) -> usize {
        self.dirs.len()
    }

    /// The job store (see `crate::jobs`).
    pub fn jobs(&mut self) -> &mut crate::jobs::Jobs {
        &mut self.jobs
    }

    /// The job store, read only.
    pub fn jobs_ref(&self) -> &crate::jobs::Jobs {
        &self.jobs
    }

    /// Read access to one database's directory (expired keys included: use [`Store::lookup`]).
    pub fn dir(&self, db: usize) -> &KeyDir {
        &self.dirs[db]
    }

    /// The live entry for `name`: an expired key is deleted (lazily, as Redis does) and reads as
    /// missing.
    pub fn lookup(&mut self, db: usize, name: &[u8], now_ms: u64) -> Option<&Entry> {
        // Every command looks keys up: skip the expiry check when nothing can expire.
        if self.dirs[db].expires_len() > 0 {
            self.expire_if_due(db, name, now_ms);
        }
        self.dirs[db].get(name)
    }

    /// Deletes `name` if its expiry has passed; true if it did.
    pub fn expire_if_due(&mut self, db: usize, name: &[u8], now_ms: u64) -> bool {
        let due = self.dirs[db]
            .get(name)
            .and_then(|e| e.expire_at)
            .is_some_and(|at| at <= now_ms);
        if due {
            self.delete(db, name);
        }
        due
    }

    /// Forgets a value that is leaving the keyspace: a stream's incarnation becomes dead and the
    /// reaper deletes its data.
    fn drop_value(&mut self, old: Entry) {
        if let Value::Stream(meta) = old.value {
            let sid = meta.sid;
            self.pending_keys.insert(dead_key(sid), Some(Vec::new()));
            self.pending_smeta
                .retain(|k, _| !k.starts_with(&sid.to_be_bytes()));
            // Entries of the dead incarnation not written yet need never be, and the reaper
            // deletes what fjall holds of it.
            self.open_runs.remove(&sid);
            self.overlay.forget(sid);
            self.run_cache.forget(sid);
            self.dead.push((sid, None));
        }
    }

    /// Stores `entry` under `name`, replacing whatever was there.
    pub fn put(&mut self, db: usize, name: Bytes, entry: Entry) {
        debug_assert!(name.len() <= MAX_KEY_LEN);
        self.pending_keys
            .insert(disk_key(db, &name), Some(encode_entry(&entry)));
        self.touch(db, &name);
        // Replaced, created or changed in type: blocked readers may be served (or must learn
        // that their stream is gone).
        self.ready.note(db, &name);
        if matches!(entry.value, Value::Stream(_)) {
            self.dirty_streams.insert((db, name.clone()));
        }
        if let Some(old) = self.dirs[db].insert(name, entry) {
            self.drop_value(old);
        }
    }

    fn mark_dirty(&mut self, db: usize, name: &[u8]) {
        mark_dirty(&mut self.dirty_streams, &mut self.last_dirty, db, name);
    }

    /// Deletes `name`; true if it existed.
    pub fn delete(&mut self, db: usize, name: &[u8]) -> bool {
        let Some(old) = self.dirs[db].remove(name) else {
            return false;
        };
        self.pending_keys.insert(disk_key(db, name), None);
        self.touch(db, name);
        self.ready.note(db, name);
        self.drop_value(old);
        true
    }

    /// Moves the value of `src` to `dst` (replacing `dst`), keeping its expiry; false if `src`
    /// does not exist. A stream keeps its incarnation, so no entry is copied.
    pub fn rename(&mut self, db: usize, src: &[u8], dst: Bytes) -> bool {
        let Some(entry) = self.dirs[db].remove(src) else {
            return false;
        };
        self.pending_keys.insert(disk_key(db, src), None);
        self.touch(db, src);
        self.ready.note(db, src);
        self.put(db, dst, entry);
        true
    }

    /// Changes the expiry of an existing key; false if it does not exist.
    pub fn set_expire(&mut self, db: usize, name: &[u8], at: Option<u64>) -> bool {
        if !self.dirs[db].set_expire(name, at) {
            return false;
        }
        if let Some(entry) = self.dirs[db].get(name) {
            let raw = encode_entry(entry);
            self.pending_keys.insert(disk_key(db, name), Some(raw));
        }
        self.touch(db, name);
        true
    }

    /// Empties one database.
    pub fn flush_db(&mut self, db: usize) {
        let names: Vec<Bytes> = self.dirs[db]
            .iter()
            .map(|(k, _)| Bytes::copy_from_slice(k))
            .collect();
        for k in names {
            self.delete(db, &k);
        }
        debug_assert!(self.dirs[db].is_empty());
    }

    /// Deletes up to `limit` keys of `db` whose expiry has passed (the active expire cycle);
    /// returns how many.
    pub fn expire_cycle(&mut self, db: usize, now_ms: u64, limit: usize) -> usize {
        let due = self.dirs[db].expired(now_ms, limit);
        for k in &due {
            self.delete(db, k);
        }
        due.len()
    }

    fn touch(&mut self, db: usize, name: &[u8]) {
        if self.track_touches {
            self.touched.push((db, Bytes::copy_from_slice(name)));
        }
    }

    /// Turns recording of changed keys on or off (the engine turns it on while any client
    /// WATCHes).
    pub fn track_touches(&mut self, on: bool) {
        self.track_touches = on;
        if !on {
            self.touched.clear();
        }
    }

    /// Turns recording of the keys that may now serve a blocked reader on or off (the engine
    /// turns it on while clients are blocked on keys): a stream appended to, a key created or
    /// replaced (a new stream, a RENAME destination), removed or changed in type, a consumer
    /// group destroyed. The store method that makes such a change notes its key
    /// (`ReadyKeys`); off, nothing is recorded and no key is cloned.
    pub fn track_ready(&mut self, on: bool) {
        self.ready.on = on;
        if !on {
            self.ready.keys.clear();
        }
    }

    /// Takes the keys recorded since the last call that may now serve a blocked reader (see
    /// [`Store::track_ready`]), oldest first; a key may repeat.
    pub fn drain_ready(&mut self) -> std::vec::Drain<'_, (usize, Bytes)> {
        self.ready.keys.drain(..)
    }

    /// Takes the keys changed since the last call (FLUSHDB reports every key it removed).
    pub fn take_touched(&mut self) -> Vec<(usize, Bytes)> {
        std::mem::take(&mut self.touched)
    }

    // ---------------------------------------------------------------------------------------
    // Streams.

    /// The stream at `name`: `Ok(None)` if missing, `Err(WrongType)` if another type.
    pub fn stream(
        &mut self,
        db: usize,
        name: &[u8],
        now_ms: u64,
    ) -> std::result::Result<Option<&StreamMeta>, WrongType> {
        match self.lookup(db, name, now_ms).map(|e| &e.value) {
            None => Ok(None),
            Some(Value::Stream(m)) => Ok(Some(m)),
            Some(_) => Err(WrongType),
        }
    }

    /// Mutable access to a stream; marks its metadata for rewriting at the next commit.
    pub fn stream_mut(
        &mut self,
        db: usize,
        name: &[u8],
        now_ms: u64,
    ) -> std::result::Result<Option<&mut StreamMeta>, WrongType> {
        if self.dirs[db].expires_len() > 0 {
            self.expire_if_due(db, name, now_ms);
        }
        let meta = match self.dirs[db].get_mut(name).map(|e| &mut e.value) {
            None => return Ok(None),
            Some(Value::Stream(m)) => m,
            Some(_) => return Err(WrongType),
        };
        // Rewritten at the next commit; WATCHers are touched only by real changes.
        mark_dirty(&mut self.dirty_streams, &mut self.last_dirty, db, name);
        Ok(Some(meta))
    }

    /// Creates an empty stream at `name` (which must not exist) with a new incarnation.
    pub fn stream_create(&mut self, db: usize, name: Bytes) {
        let sid = self.next_sid;
        self.next_sid += 1;
        self.pending_keys.insert(
            NEXT_SID_KEY.to_vec(),
            Some(self.next_sid.to_be_bytes().to_vec()),
        );
        let entry = Entry {
            value: Value::Stream(Box::new(StreamMeta::new(sid))),
            expire_at: None,
        };
        self.put(db, name, entry);
    }

    /// Appends an entry to the stream at `name`: `id` must be greater than its last ID. Updates
    /// the metadata and the node layout and stages the writes.
    pub fn stream_append(
        &mut self,
        db: usize,
        name: &[u8],
        id: StreamId,
        fields: &[Bytes],
        limits: NodeLimits,
        now_ms: u64,
    ) {
        // An earlier append of the same command (tests append several) is staged first.
        self.end_command();
        let Ok(Some(meta)) = self.stream_mut(db, name, now_ms) else {
            debug_assert!(false, "append to a missing stream");
            return;
        };
        debug_assert!(
            id > meta.last_id || (meta.last_id == StreamId::MIN && meta.entries_added == 0)
        );
        // The field/value pairs, on the stack for the usual handful of fields.
        let empty = Bytes::new();
        let mut small = [(&empty, &empty); 8];
        let heap: Vec<(&Bytes, &Bytes)>;
        let pairs: &[(&Bytes, &Bytes)] = if fields.len() <= 2 * small.len() {
            for (slot, p) in small.iter_mut().zip(fields.chunks_exact(2)) {
                *slot = (&p[0], &p[1]);
            }
            &small[..fields.len() / 2]
        } else {
            heap = fields.chunks_exact(2).map(|p| (&p[0], &p[1])).collect();
            &heap
        };
        let out = meta.layout.append(id, pairs, limits);
        if meta.len() == 1 {
            meta.first_id = id;
        }
        meta.last_id = id;
        meta.entries_added += 1;
        meta.node_changed(out.node);
        let raw = Bytes::from(entry::encode(fields));
        meta.tail_push(id, raw.clone());
        self.fresh = Some((meta.sid, id, raw));
        self.touch(db, name);
        self.ready.note(db, name);
    }

    /// Stages the running command's appended entry (into its stream's open run). The engine
    /// calls this after every command.
    pub fn end_command(&mut self) {
        let Some((sid, id, raw)) = self.fresh.take() else {
            return;
        };
        let limits = self.run_limits;
        debug_assert!(
            self.open_runs.contains_key(&sid)
                || Runs::new(&self.entries, &self.overlay, None, sid)
                    .range(id, StreamId::MAX, false)
                    .next()
                    .is_none(),
            "a new open run at {id} of incarnation {sid} is not above every run"
        );
        let open = self
            .open_runs
            .entry(sid)
            .or_insert_with(|| RunBuilder::new(id));
        if !open.is_empty()
            && (open.len() >= limits.max_entries || open.body_len() + raw.len() > limits.max_bytes)
        {
            // Full: stage it now and start the next run at this entry.
            let full = std::mem::replace(open, RunBuilder::new(id));
            self.overlay
                .put_new(sid, full.key(), Slice::from(full.finish()));
        }
        open.push(id, &raw);
    }

    /// Moves every open run into the overlay (at the commit).
    fn seal_open_runs(&mut self) {
        for (sid, open) in self.open_runs.drain() {
            self.overlay
                .put_new(sid, open.key(), Slice::from(open.finish()));
        }
    }

    /// Moves the open run of `sid` into the overlay, so that XDEL and trimming, which rewrite
    /// runs of the overlay and of fjall, never have to rewrite an open run. The stream's next
    /// append starts a new one.
    fn seal_open_run(&mut self, sid: u64) {
        if let Some(open) = self.open_runs.remove(&sid) {
            self.overlay
                .put_new(sid, open.key(), Slice::from(open.finish()));
        }
    }

    /// The runs of incarnation `sid` as readers see them: fjall's, the staged writes, the open
    /// run (see `store/overlay.rs`).
    fn runs(&self, sid: u64) -> Runs<'_> {
        Runs::new(&self.entries, &self.overlay, self.open_runs.get(&sid), sid)
    }

    /// True when trimming the stream at `name` certainly changes nothing (see
    /// [`NodeLayout::trim_is_noop`]); `adding`: an entry about to be appended.
    pub fn trim_is_noop(
        &mut self,
        db: usize,
        name: &[u8],
        strategy: Trim,
        approx: bool,
        adding: Option<StreamId>,
        now_ms: u64,
    ) -> bool {
        match self.stream(db, name, now_ms) {
            Ok(Some(m)) => m.layout.trim_is_noop(strategy, approx, m.first_id, adding),
            Ok(None) => adding.is_none(),
            Err(_) => false,
        }
    }

    /// Trims the stream at `name` as XTRIM/XADD do; returns how many entries were removed.
    /// `protect`: an entry staged by the running command (XADD's own), which may be trimmed too.
    pub fn stream_trim(
        &mut self,
        db: usize,
        name: &[u8],
        spec: TrimSpec,
        protect: Option<StreamId>,
        now_ms: u64,
    ) -> Result<u64> {
        let TrimSpec {
            strategy,
            approx,
            limit,
        } = spec;
        if self.trim_is_noop(db, name, strategy, approx, None, now_ms) {
            return Ok(0);
        }
        let Some((sid, first)) = self
            .stream(db, name, now_ms)
            .ok()
            .flatten()
            .map(|m| (m.sid, m.first_id))
        else {
            return Ok(0);
        };
        // Earlier commands' entries are read through the overlay; the running command's own
        // (XADD's, `protect`) waits in `fresh` and is counted apart. Trimming may rewrite the
        // run the stream's appends are gathered in: seal it first.
        self.seal_open_run(sid);
        // Read what trimming may need before changing anything: the live IDs from the head.
        let mut reader_error = None;
        let outcome = {
            let Store {
                dirs,
                entries,
                overlay,
                dirty_streams,
                last_dirty,
                ..
            } = self;
            let Some(Value::Stream(meta)) = dirs[db].get_mut(name).map(|e| &mut e.value) else {
                return Ok(0);
            };
            mark_dirty(dirty_streams, last_dirty, db, name);
            let runs = Runs::new(entries, overlay, None, sid);
            meta.layout.trim(strategy, approx, limit, |from, to| {
                match count_live(&runs, from.max(first), to) {
                    Ok(n) => n + u64::from(protect.is_some_and(|p| p >= from && p < to)),
                    Err(e) => {
                        reader_error = Some(e);
                        0
                    }
                }
            })
        };
        if let Some(e) = reader_error {
            return Err(e);
        }
        if outcome.removed == 0 {
            // Nodes left with no live entry (by an exact MINID trim) can still have been
            // dropped: the layout changed even though no entry did.
            for (m, _) in &outcome.dropped_nodes {
                self.pending_smeta.insert(node_key(sid, *m), None);
            }
            return Ok(0);
        }
        self.touch(db, name);
        // The removed entries are the first `removed` live ones: whole runs from the head go,
        // the run holding the last of them is rewritten without them.
        let mut left = outcome.removed;
        let mut last_doomed = None;
        let mut next_first = None;
        let mut gone: Vec<StreamId> = Vec::new();
        let mut rewrite = None;
        visit_runs(
            &self.runs(sid),
            None,
            first,
            StreamId::MAX,
            false,
            |key, value| {
                let ids = decode_run(sid, key, &value)?;
                debug_assert!(ids.first().is_some_and(|(id, _)| *id >= first));
                if left == 0 {
                    next_first = ids.first().map(|(id, _)| *id);
                    return Ok(false);
                }
                let n = ids.len() as u64;
                if left >= n {
                    left -= n;
                    gone.push(key);
                    last_doomed = ids.last().map(|(id, _)| *id);
                    return Ok(true);
                }
                let cut = left as usize;
                left = 0;
                last_doomed = Some(ids[cut - 1].0);
                next_first = Some(ids[cut].0);
                let mut b = RunBuilder::new(key);
                for (id, r) in &ids[cut..] {
                    b.push(*id, &value[r.clone()]);
                }
                rewrite = Some((key, b.finish()));
                Ok(false)
            },
        )?;
        let mut removed_own = false;
        if let Some(p) = protect {
            if left > 0 {
                debug_assert_eq!(left, 1, "trim removed more entries than the stream has");
                removed_own = true;
                last_doomed = Some(p);
            } else if next_first.is_none() {
                next_first = Some(p);
            }
        }
        debug_assert!(left == u64::from(removed_own), "trim past the stream's end");
        self.run_cache.forget(sid);
        for key in gone {
            self.overlay.remove(sid, key);
        }
        if let Some((key, value)) = rewrite {
            self.overlay.rewrite(sid, key, Slice::from(value));
        }
        if removed_own {
            // The command's own entry was never staged: dropping it is all it takes.
            debug_assert!(self
                .fresh
                .as_ref()
                .is_some_and(|(s, id, _)| *s == sid && Some(*id) == protect));
            self.fresh = None;
        }
        let Ok(Some(meta)) = self.stream_mut(db, name, now_ms) else {
            return Ok(outcome.removed);
        };
        if let Some(last_doomed) = last_doomed {
            meta.tail_drop_through(last_doomed);
        }
        meta.first_id = if meta.is_empty() {
            StreamId::MIN
        } else {
            next_first.unwrap_or(StreamId::MIN)
        };
        let changed: Vec<(StreamId, Option<Vec<u8>>)> = outcome
            .dropped_nodes
            .iter()
            .map(|(m, _)| (*m, None))
            .chain(
                outcome
                    .partial_node
                    .map(|m| (m, meta.layout.node(m).map(NodeSummary::to_bytes))),
            )
            .collect();
        for (m, v) in changed {
            self.pending_smeta.insert(node_key(sid, m), v);
        }
        Ok(outcome.removed)
    }

    /// Deletes entries by ID (XDEL); returns how many existed.
    pub fn stream_delete(
        &mut self,
        db: usize,
        name: &[u8],
        ids: &[StreamId],
        now_ms: u64,
    ) -> Result<u64> {
        let Some(sid) = self.stream(db, name, now_ms).ok().flatten().map(|m| m.sid) else {
            return Ok(0);
        };
        // XDEL may rewrite the run the stream's appends are gathered in: seal it first.
        self.seal_open_run(sid);
        let mut first_deleted = false;
        let mut seen = HashSet::new();
        let mut deleted: AHashSet<StreamId> = AHashSet::new();
        // The runs this command changes, by key: their value and the entries still in them.
        struct Touched {
            value: Slice,
            ids: Vec<(StreamId, std::ops::Range<usize>)>,
            changed: bool,
        }
        let mut touched: std::collections::BTreeMap<StreamId, Touched> = Default::default();
        for &id in ids {
            if !seen.insert(id) {
                continue;
            }
            // The runs do not change during the command (the rewrites are staged at its end),
            // so the run that may hold `id` is still the one at or before it.
            let Some((key, value)) = self.runs(sid).at_or_before(id)? else {
                continue;
            };
            let run = match touched.entry(key) {
                std::collections::btree_map::Entry::Occupied(o) => o.into_mut(),
                std::collections::btree_map::Entry::Vacant(v) => {
                    let ids = decode_run(sid, key, &value)?;
                    v.insert(Touched {
                        value,
                        ids,
                        changed: false,
                    })
                }
            };
            let Ok(at) = run.ids.binary_search_by(|(e, _)| e.cmp(&id)) else {
                continue;
            };
            let Ok(Some(meta)) = self.stream_mut(db, name, now_ms) else {
                break;
            };
            let Some(out) = meta.layout.delete(id) else {
                continue;
            };
            meta.tail_remove(id);
            if id == meta.first_id {
                first_deleted = true;
            }
            if id > meta.max_deleted {
                meta.max_deleted = id;
            }
            let node = if out.node_removed {
                None
            } else {
                meta.layout.node(out.node).map(NodeSummary::to_bytes)
            };
            self.pending_smeta.insert(node_key(sid, out.node), node);
            run.ids.remove(at);
            run.changed = true;
            deleted.insert(id);
        }
        if deleted.is_empty() {
            return Ok(0);
        }
        self.touch(db, name);
        // The deletes are not staged yet: find the new first entry past them.
        let (empty, first) = match self.stream(db, name, now_ms) {
            Ok(Some(m)) => (m.is_empty(), m.first_id),
            _ => return Ok(deleted.len() as u64),
        };
        let new_first = if empty {
            StreamId::MIN
        } else if first_deleted {
            let mut found = StreamId::MIN;
            self.scan_ids(sid, first, StreamId::MAX, |id| {
                if deleted.contains(&id) {
                    true
                } else {
                    found = id;
                    false
                }
            })?;
            found
        } else {
            first
        };
        if let Ok(Some(meta)) = self.stream_mut(db, name, now_ms) {
            meta.first_id = new_first;
        }
        self.run_cache.forget(sid);
        for (key, run) in touched {
            if !run.changed {
                continue;
            }
            if run.ids.is_empty() {
                self.overlay.remove(sid, key);
            } else {
                // Same key: still a lower bound of what is left.
                let mut b = RunBuilder::new(key);
                for (id, r) in &run.ids {
                    b.push(*id, &run.value[r.clone()]);
                }
                self.overlay.rewrite(sid, key, Slice::from(b.finish()));
            }
        }
        Ok(deleted.len() as u64)
    }

    /// Starts an atomic section: everything staged from here to the matching
    /// [`Store::end_atomic`] reaches the disk in the same fjall batch, committed after the
    /// section ends (at the end of the drain). EXEC runs its queued commands in one; so will
    /// scripts. Sections nest.
    ///
    /// Nothing in a command commits — reads see staged writes through the overlay, and the
    /// engine commits only between commands — so a section is kept whole by construction; the
    /// section asserts it: [`Store::commit`] and [`Store::reap`] inside one are bugs
    /// (`debug_assert!`; a release build commits anyway rather than leave the drain's
    /// writes unpersisted behind its replies).
    pub fn begin_atomic(&mut self) {
        self.atomic += 1;
    }

    /// Ends the atomic section started by the matching [`Store::begin_atomic`].
    pub fn end_atomic(&mut self) {
        debug_assert!(self.atomic > 0, "end_atomic without begin_atomic");
        self.atomic = self.atomic.saturating_sub(1);
    }

    /// True inside an atomic section.
    pub fn in_atomic(&self) -> bool {
        self.atomic > 0
    }

    /// Visits the IDs of the entries of incarnation `sid` in `from..=to` in order, while `f`
    /// returns true.
    fn scan_ids(
        &mut self,
        sid: u64,
        from: StreamId,
        to: StreamId,
        mut f: impl FnMut(StreamId) -> bool,
    ) -> Result<()> {
        visit_runs(&self.runs(sid), None, from, to, false, |key, value| {
            for item in run_iter(sid, key, &value)? {
                let (id, _) = item.map_err(|e| run_corrupt(sid, key, e))?;
                if id < from {
                    continue;
                }
                if id > to || !f(id) {
                    return Ok(false);
                }
            }
            Ok(true)
        })
    }

    /// Reads the entries of the stream incarnation `sid` with IDs in `from..=to`, ascending (or
    /// descending with `rev`), at most `count` of them (`None` = all).
    pub fn stream_range(
        &mut self,
        sid: u64,
        from: StreamId,
        to: StreamId,
        rev: bool,
        count: Option<usize>,
    ) -> Result<Vec<StreamEntry>> {
        let mut out = Vec::new();
        if from > to || count == Some(0) {
            return Ok(out);
        }
        let limit = count.unwrap_or(usize::MAX);
        let runs = Runs::new(&self.entries, &self.overlay, self.open_runs.get(&sid), sid);
        let cache = Some(&mut self.run_cache);
        visit_runs(&runs, cache, from, to, rev, |key, value| {
            // One shared buffer per run; the entries are slices of it.
            let value = Bytes::from_owner(value);
            if rev {
                let ids = decode_run(sid, key, &value)?;
                for (id, r) in ids.into_iter().rev() {
                    if id > to {
                        continue;
                    }
                    if id < from {
                        return Ok(false);
                    }
                    out.push(StreamEntry {
                        id,
                        raw: EntryBytes::Disk(value.slice(r)),
                    });
                    if out.len() >= limit {
                        return Ok(false);
                    }
                }
            } else {
                for item in run_iter(sid, key, &value)? {
                    let (id, r) = item.map_err(|e| run_corrupt(sid, key, e))?;
                    if id < from {
                        continue;
                    }
                    if id > to {
                        return Ok(false);
                    }
                    out.push(StreamEntry {
                        id,
                        raw: EntryBytes::Disk(value.slice(r)),
                    });
                    if out.len() >= limit {
                        return Ok(false);
                    }
                }
            }
            Ok(true)
        })?;
        Ok(out)
    }

    /// Entries of the stream at `name` with IDs in `from..=to` (see [`Store::stream_range`]),
    /// from the tail cache when it can answer alone — then without reading fjall — else from
    /// the runs (fjall under the staged writes).
    pub fn stream_read(
        &mut self,
        db: usize,
        name: &[u8],
        (from, to): (StreamId, StreamId),
        rev: bool,
        count: Option<usize>,
        now_ms: u64,
    ) -> Result<Vec<StreamEntry>> {
        let Ok(Some(meta)) = self.stream(db, name, now_ms) else {
            return Ok(Vec::new());
        };
        if count == Some(0) {
            return Ok(Vec::new());
        }
        if let Some(hit) = meta.tail_range(from, to, rev, count) {
            return Ok(hit
                .into_iter()
                .map(|(id, raw)| StreamEntry {
                    id,
                    raw: EntryBytes::Mem(raw),
                })
                .collect());
        }
        let sid = meta.sid;
        self.stream_range(sid, from, to, rev, count)
    }

    /// One entry by ID.
    pub fn stream_get(&mut self, sid: u64, id: StreamId) -> Result<Option<StreamEntry>> {
        let runs = Runs::new(&self.entries, &self.overlay, self.open_runs.get(&sid), sid);
        let found = run_at_or_before_cached(&runs, &mut self.run_cache, id)?;
        let Some((key, value)) = found else {
            return Ok(None);
        };
        for item in run_iter(sid, key, &value)? {
            let (e, r) = item.map_err(|e| run_corrupt(sid, key, e))?;
            if e == id {
                let value = Bytes::from_owner(value);
                return Ok(Some(StreamEntry {
                    id,
                    raw: EntryBytes::Disk(value.slice(r)),
                }));
            }
            if e > id {
                break;
            }
        }
        Ok(None)
    }
    /// Deletes up to `budget` records of dead stream incarnations; returns how many. The engine
    /// runs it from its periodic task, so DEL of a huge stream answers at once and the space
    /// comes back in the background.
    pub fn reap(&mut self, budget: usize) -> Result<usize> {
        let Some((sid, resume)) = self.dead.first().cloned() else {
            return Ok(0);
        };
        debug_assert!(self.atomic == 0, "reap inside an atomic section");
        // Nothing of a dead incarnation is staged (`drop_value`): fjall holds all there is.
        let prefix = sid.to_be_bytes();
        let start = resume.unwrap_or_else(|| prefix.to_vec());
        let mut done = 0usize;
        let mut last = None;
        let entries = self.entries.clone();
        let end = (sid.checked_add(1)).map(|s| s.to_be_bytes().to_vec());
        let range: Box<dyn Iterator<Item = fjall::Guard>> = match &end {
            Some(end) => Box::new(entries.range(start.clone()..end.clone())),
            None => Box::new(entries.range(start.clone()..)),
        };
        let batch = self.batch.get_or_insert_with(|| self.db.batch());
        for guard in range {
            if done >= budget {
                break;
            }
            let k = guard.key()?;
            batch.remove(&entries, k.to_vec());
            last = Some(k.to_vec());
            done += 1;
        }
        if done < budget {
            // Entries are gone: remove the node records and the marker.
            let smeta = self.smeta.clone();
            for guard in smeta.prefix(prefix) {
                let k = guard.key()?;
                self.batch
                    .get_or_insert_with(|| self.db.batch())
                    .remove(&smeta, k.to_vec());
                done += 1;
            }
            self.pending_keys.insert(dead_key(sid), None);
            self.dead.remove(0);
        } else if let Some(first) = self.dead.first_mut() {
            // Resume after the last key deleted, never re-walking its tombstones.
            let mut next = last.unwrap_or(start);
            next.push(0);
            first.1 = Some(next);
        }
        self.commit()?;
        Ok(done)
    }

    /// Dead stream incarnations still being reaped.
    pub fn dead_streams(&self) -> usize {
        self.dead.len()
    }

    // ---------------------------------------------------------------------------------------
    // Commit and persist.

    /// Commits everything staged since the last commit as one atomic batch (not yet persisted).
    /// Never inside a command, nor inside an atomic section ([`Store::begin_atomic`]).
    pub fn commit(&mut self) -> Result<()> {
        debug_assert!(self.atomic == 0, "commit inside an atomic section");
        self.end_command();
        self.seal_open_runs();
        self.last_dirty = None;
        for (db, name) in std::mem::take(&mut self.dirty_streams) {
            self.stage_journals(db, &name)?;
            if let Some(entry) = self.dirs[db].get_mut(&name) {
                if let Value::Stream(meta) = &mut entry.value {
                    // Node summaries changed by appends: their state now.
                    for master in std::mem::take(&mut meta.dirty_nodes) {
                        let v = meta.layout.node(master).map(NodeSummary::to_bytes);
                        self.pending_smeta.insert(node_key(meta.sid, master), v);
                    }
                    self.pending_keys
                        .insert(disk_key(db, &name), Some(encode_entry(entry)));
                }
            }
        }
        if self.pending_keys.is_empty()
            && self.pending_smeta.is_empty()
            && self.batch.is_none()
            && self.overlay.is_empty()
            && !self.jobs.has_staged()
        {
            return Ok(());
        }
        let mut batch = self.batch.take().unwrap_or_else(|| self.db.batch());
        self.jobs.drain_into(&mut batch);
        self.overlay.drain_into(&mut batch, &self.entries);
        for (k, v) in self.pending_keys.drain() {
            match v {
                Some(v) => batch.insert(&self.keys, k, v),
                None => batch.remove(&self.keys, k),
            }
        }
        for (k, v) in self.pending_smeta.drain() {
            match v {
                Some(v) => batch.insert(&self.smeta, k, v),
                None => batch.remove(&self.smeta, k),
            }
        }
        debug_assert!(self.open_runs.is_empty() && self.overlay.is_empty());
        if !batch.is_empty() {
            batch.commit()?;
            self.unpersisted = true;
        }
        Ok(())
    }

    /// True if writes were committed since the last persist.
    pub fn has_unpersisted(&self) -> bool {
        self.unpersisted
    }

    /// True if writes are staged and not committed.
    pub fn has_staged(&self) -> bool {
        self.fresh.is_some()
            || !self.open_runs.is_empty()
            || !self.overlay.is_empty()
            || self.batch.is_some()
            || !self.pending_keys.is_empty()
            || !self.pending_smeta.is_empty()
            || !self.dirty_streams.is_empty()
            || self.jobs.has_staged()
    }

    /// Pushes committed writes to the OS or to the disk. Call once per drain, after
    /// [`Store::commit`] and before replying.
    pub fn persist(&mut self, sync: Sync) -> Result<()> {
        debug_assert!(!self.has_staged(), "persist with staged writes");
        let mode = match sync {
            Sync::Os => PersistMode::Buffer,
            Sync::Disk => PersistMode::SyncData,
        };
        self.db.persist(mode)?;
        self.unpersisted = false;
        Ok(())
    }

    /// Clean shutdown: commits, flushes every memtable to tables and syncs, so the next start
    /// has (almost) no journal to replay. Never waits forever: a flush that fails (a full
    /// disk) poisons fjall and leaves its memtable sealed, so the wait ends with that error, or
    /// after [`CLOSE_FLUSH_WAIT`] with the journal synced (a restart replays what was not
    /// flushed). A poisoned store returns its error at once.
    pub fn close(&mut self) -> Result<()> {
        self.commit()?;
        // Fails at once, with `Poisoned`, if an earlier write failed.
        self.db.persist(PersistMode::Buffer)?;
        for ks in [&self.keys, &self.entries, &self.smeta] {
            ks.rotate_memtable()?;
        }
        let deadline = std::time::Instant::now() + CLOSE_FLUSH_WAIT;
        while [&self.keys, &self.entries, &self.smeta]
            .iter()
            .any(|ks| ks.sealed_memtable_count() > 0)
        {
            // A failed background flush poisons the database: stop waiting for it.
            self.db.persist(PersistMode::Buffer)?;
            if std::time::Instant::now() >= deadline {
                tracing::warn!(
                    "memtables not flushed after {:?}; the next start replays them from the journal",
                    CLOSE_FLUSH_WAIT
                );
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        self.db.persist(PersistMode::SyncAll)?;
        self.unpersisted = false;
        Ok(())
    }

    /// Commits what is staged and syncs the journal, without flushing memtables: the stop of a
    /// server whose disk is full (a flush would need room). The next start replays the journal.
    pub fn sync_journal(&mut self) -> Result<()> {
        self.commit()?;
        self.db.persist(PersistMode::SyncAll)?;
        self.unpersisted = false;
        Ok(())
    }

    /// Fails if fjall is poisoned (an earlier write, sync, flush or compaction failed), so the
    /// engine learns of a background failure without waiting for the next write. Cheap: hands
    /// the journal's buffer to the OS.
    pub fn health_check(&mut self) -> Result<()> {
        self.db.persist(PersistMode::Buffer)?;
        Ok(())
    }

    /// Bytes the database occupies on disk (tables and journals).
    pub fn disk_space(&self) -> u64 {
        self.db.disk_space().unwrap_or(0)
    }
}

/// `fdatasync`s the journal fjall is writing in the data directory `dir`, from any thread and
/// without fjall's journal lock (so commits are not held up for the duration of the sync, as
/// they are behind [`Store::persist`]`(Sync::Disk)`). Data handed to the OS before the call is
/// on disk when it returns.
///
/// Relies on fjall 3's journal layout: journals are `<n>.jnl` files in the directory's root,
/// the active one has the greatest `n`, and a journal is synced (`SyncAll`) when fjall seals it
/// and opens the next, so only the active one can hold data that is not on disk. A journal
/// sealed between the listing and the sync was synced by fjall itself.
pub fn sync_active_journal(dir: &Path) -> std::io::Result<()> {
    let mut newest: Option<(u64, std::path::PathBuf)> = None;
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let n = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(".jnl"))
            .and_then(|n| n.parse::<u64>().ok());
        if let Some(n) = n {
            if newest.as_ref().is_none_or(|(m, _)| n > *m) {
                newest = Some((n, path));
            }
        }
    }
    let Some((_, path)) = newest else {
        return Ok(());
    };
    match std::fs::File::open(&path) {
        Ok(f) => f.sync_data(),
        // Deleted after a flush since the listing: nothing in it needs syncing any more.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// Visits the runs of `runs`' incarnation that may hold IDs in `from..=to`, in key order (or
/// reversed with `rev`): the run at or before `from` (which may hold `from`), then every run
/// with a key in `from..=to`. `f(key ID, value)` returns false to stop.
fn visit_runs(
    runs: &Runs<'_>,
    cache: Option<&mut RunCache>,
    from: StreamId,
    to: StreamId,
    rev: bool,
    mut f: impl FnMut(StreamId, Slice) -> Result<bool>,
) -> Result<()> {
    if from > to {
        return Ok(());
    }
    // No run key is below MIN: then the forward range below finds every run (`XRANGE s -`).
    let seek = if from == StreamId::MIN {
        None
    } else if let Some(cache) = cache {
        run_at_or_before_cached(runs, cache, from)?
    } else {
        runs.at_or_before(from)?
    };
    let start = match seek {
        Some((key, value)) if !rev => {
            if !f(key, value)? {
                return Ok(());
            }
            // Continue after it.
            match key.successor() {
                Some(next) if next <= to => next,
                _ => return Ok(()),
            }
        }
        Some((key, _)) => key,
        None => from,
    };
    for item in runs.range(start, to, rev) {
        let (key, value) = item?;
        if !f(key, value)? {
            break;
        }
    }
    Ok(())
}

/// Runs read recently, so readers that move forward through a stream — XREADGROUP `>` and
/// XREAD from the last ID they saw, one entry at a time — find the run holding their next ID
/// without a reverse seek in fjall each time.
///
/// Invariant: a cached run is exactly the run the merged view (`overlay::Runs`) holds under
/// its key — the whole run, not a part of it — so [`run_at_or_before_cached`] answers what
/// [`Runs::at_or_before`] would, and [`visit_runs`] can go on after the run's key. Hence:
/// * only sealed runs are cached (from fjall, or staged in the overlay); a sealed run changes
///   only when trimming or XDEL rewrites or removes it, or the incarnation dies, and every such
///   path (trim, XDEL, DEL and whatever drops a stream) forgets the stream's cached runs.
///   Appends only add runs after it, and a commit writes the same runs to fjall, so the cache
///   outlives commits;
/// * an open run is never cached: appends go on adding entries to it under the same key, and
///   sealing it (when full, before XDEL or a trim, at the commit) writes all of them, so a copy
///   taken when it was read would become a stale prefix of the run, and a scan seeking into
///   it would skip every entry appended since. It is in memory anyway: no seek to save.
#[derive(Default)]
pub(crate) struct RunCache {
    slots: Vec<CachedRun>,
    tick: u64,
}

struct CachedRun {
    sid: u64,
    key: StreamId,
    /// The run's last ID: an ID in `key..=last` can only be in this run.
    last: StreamId,
    value: Slice,
    used: u64,
}

impl RunCache {
    const SLOTS: usize = 16;

    fn get(&mut self, sid: u64, id: StreamId) -> Option<(StreamId, Slice)> {
        self.tick += 1;
        let tick = self.tick;
        let slot = self
            .slots
            .iter_mut()
            .find(|c| c.sid == sid && c.key <= id && id <= c.last)?;
        slot.used = tick;
        Some((slot.key, slot.value.clone()))
    }

    fn put(&mut self, sid: u64, key: StreamId, value: &Slice) -> Result<()> {
        let mut last = None;
        for item in run_iter(sid, key, value)? {
            last = Some(item.map_err(|e| run_corrupt(sid, key, e))?.0);
        }
        let Some(last) = last else { return Ok(()) };
        self.tick += 1;
        let run = CachedRun {
            sid,
            key,
            last,
            value: value.clone(),
            used: self.tick,
        };
        if self.slots.len() < Self::SLOTS {
            self.slots.push(run);
        } else if let Some(lru) = self.slots.iter_mut().min_by_key(|c| c.used) {
            *lru = run;
        }
        Ok(())
    }

    /// Forgets the runs of `sid` (they are being rewritten or removed).
    pub(crate) fn forget(&mut self, sid: u64) {
        self.slots.retain(|c| c.sid != sid);
    }
}

/// [`Runs::at_or_before`] through the cache: a hit costs no fjall read. Same answer, always
/// (see the invariant of [`RunCache`]; checked in debug builds).
fn run_at_or_before_cached(
    runs: &Runs<'_>,
    cache: &mut RunCache,
    id: StreamId,
) -> Result<Option<(StreamId, Slice)>> {
    let sid = runs.sid();
    if let Some(hit) = cache.get(sid, id) {
        debug_assert!(
            runs.at_or_before(id)
                .map_or(true, |now| now.as_ref() == Some(&hit)),
            "the run cache served a stale copy of run {} of incarnation {sid} for {id}",
            hit.0
        );
        return Ok(Some(hit));
    }
    let found = runs.at_or_before(id)?;
    if let Some((key, value)) = &found {
        // Not the open run: it is still growing (see `RunCache`).
        if runs.open_key() != Some(*key) {
            cache.put(sid, *key, value)?;
        }
    }
    Ok(found)
}

/// The ID part of a run key of `sid`.
fn run_key_id(sid: u64, k: &[u8]) -> Result<StreamId> {
    k.get(..8)
        .filter(|p| *p == sid.to_be_bytes())
        .and_then(|_| k.get(8..))
        .and_then(StreamId::from_be_bytes)
        .ok_or_else(|| StoreError::Corrupt(format!("bad entry key {k:?}")))
}

fn run_corrupt(sid: u64, key: StreamId, e: run::Corrupt) -> StoreError {
    StoreError::Corrupt(format!("run {key} of stream incarnation {sid}: {e}"))
}

fn run_iter(sid: u64, key: StreamId, value: &[u8]) -> Result<run::RunIter<'_>> {
    run::iter(key, value).map_err(|e| run_corrupt(sid, key, e))
}

fn decode_run(
    sid: u64,
    key: StreamId,
    value: &[u8],
) -> Result<Vec<(StreamId, std::ops::Range<usize>)>> {
    run::decode(key, value).map_err(|e| run_corrupt(sid, key, e))
}

/// Live entries of `runs`' incarnation with `from <= id < to`.
fn count_live(runs: &Runs<'_>, from: StreamId, to: StreamId) -> Result<u64> {
    if from >= to {
        return Ok(0);
    }
    let sid = runs.sid();
    let mut n = 0;
    visit_runs(runs, None, from, to, false, |key, value| {
        for item in run_iter(sid, key, &value)? {
            let (id, _) = item.map_err(|e| run_corrupt(sid, key, e))?;
            if id >= to {
                return Ok(false);
            }
            if id >= from {
                n += 1;
            }
        }
        Ok(true)
    })?;
    Ok(n)
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
