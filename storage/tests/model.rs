//! Model-based property test of [`Store`]: random sequences of "commands" run against the real
//! store (on fjall, in a temporary directory) and against a plain in-memory model, compared
//! after every command, after every drain end, and across reopenings of the database.
//!
//! The store is driven the way the server's engine drives it (`server/src/engine.rs`: `call()`
//! and `finish_drain()`): nothing commits inside a command (reads see the staged writes
//! through the store's overlay), so every read below reads staged runs, open runs and fjall's
//! runs merged; every command ends with `end_command()`,
//! a drain ends with `commit()` then `persist()`, and cron work (`expire_cycle`, `reap`) runs
//! between commands. `Exec` runs several commands inside an atomic section
//! (`begin_atomic`/`end_atomic`, as EXEC does), its reads seeing its own appends, XDELs and
//! trims. The store's run limits (how many appended entries share one `entries` record)
//! switch between tiny and default ones, so run boundaries fall everywhere: XDEL of the first
//! or last entry of a run, trims and ranges starting inside one. Commands mirror the server's
//! handlers:
//! XADD (`server/src/commands/streams.rs`) creates the stream if needed, appends, then trims
//! with `protect: Some(id)`; XTRIM trims with `None`; the trim LIMIT comes from
//! `effective_trim_limit`; XDEL, XRANGE/XREVRANGE (`stream_range`), `stream_get`, XSETID
//! (through `stream_mut`); SET (with PX), DEL, EXPIRE/PERSIST, RENAME (of strings and streams,
//! onto missing keys, strings and streams), FLUSHDB (`server/src/commands/keys.rs`), each with
//! the lazy expiry (`lookup` / `expire_if_due`) its handler does first. The node limits change
//! between commands, as CONFIG SET does.
//!
//! The model keeps, per database, a `BTreeMap` of keys; a stream is its entries (a `BTreeMap`
//! from ID to the flat field/value list) plus `last_id`, `max_deleted`, `entries_added` and its
//! own [`NodeLayout`], fed the same appends, deletes and trims (the layout decides how many
//! entries a trim removes; `layout_vs_redis.rs` checks it against Redis). The rest is derived
//! independently: `first_id` is the smallest live ID or 0-0, the length is the number of live
//! entries, a trim removes the first `removed` entries, XDEL raises `max_deleted`.
//!
//! What is compared:
//! * after every command, without changing the store: `dir(db)` of every database (every key,
//!   its type, expiry and string value; a stream's sid, `len`, `first_id`, `last_id`,
//!   `max_deleted`, `entries_added`, and its layout: `len`, `radix_tree_keys`,
//!   `radix_tree_nodes`, every node summary), and the replies of XADD's trim, XTRIM, XDEL, DEL;
//! * on read commands: `stream_range` over random ranges, directions and counts, and
//!   `stream_get` of random IDs (live, deleted, trimmed, never added);
//! * after every drain end and reopening: every stream's entries (IDs and decoded fields), in
//!   both directions;
//! * `Reopen` (commit, persist, drop, `Store::open`) must give back exactly the model, minus the
//!   keys that expired meanwhile; layouts come back from the node records;
//! * `Crash` drops the store without committing: the reopened store must equal the model as of
//!   the last commit. fjall's `Journal` persists its buffer when dropped, so every committed
//!   batch survives a drop, and staged writes never reach the journal. The test knows the
//!   commit points through `Store::has_staged()`: whenever nothing is staged at a command
//!   boundary (after a command, after `reap`), the disk holds the model — except inside an
//!   atomic section, none of whose states may ever be what the disk holds;
//! * `ProcessCrash` opens a copy of the directory taken as it is, without committing or
//!   persisting (what a killed process leaves: all that `write(2)` handed to the OS): it must
//!   equal one of the states committed since the last persist — whole commits only; inside
//!   an atomic section, one from before the section (nothing of it reached the journal); and
//!   a section that starts with nothing committed since the last persist ends with nothing
//!   committed either;
//! * reaping: `reap(budget)` with small budgets; once `dead_streams()` is 0 no dead incarnation
//!   (DEL, SET or RENAME over a stream, FLUSHDB, expiry, expiry at open) has any entry left
//!   (checked with `stream_range` on the old sid); a new stream never reuses a sid, and a
//!   stream re-created under the name of a deleted one sees none of the old entries.
//!
//! `PROPTEST_CASES` sets the number of cases (default 100: about 10 s in a debug build with the
//! databases on a tmpfs, which the test uses when `/dev/shm` exists and `TMPDIR` is unset);
//! `PROPTEST_RNG_SEED` fixes the seed; `MODEL_MAX_OPS` bounds the length of a sequence (250);
//! `MODEL_STATS=1` prints what the run exercised. A failure
//! prints the shrunk sequence of operations, then runs it again with the normal panic output.

use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::test_runner::{TestError, TestRunner};
use sluice_storage::stream::layout::{
    effective_trim_limit, NodeLayout, NodeLimits, Trim, TrimOutcome,
};
use sluice_storage::stream::{StreamId, StreamMeta};
use sluice_storage::{
    Entry, RunLimits, Store, StoreOptions, StreamEntry, Sync, TrimSpec, Value, WrongType,
};

const DBS: usize = 3;
const KEYS: &[&[u8]] = &[b"a", b"b", b"s", b"t"];
const LONG_FIELD: &[u8] = &[b'x'; 70];
const FIELDS: &[&[u8]] = &[b"f", b"g", b"name", b"12", b"-7", LONG_FIELD];
/// `(stream-node-max-entries, stream-node-max-bytes)` settings the test switches between.
const LIMITS: &[(u64, u64)] = &[
    (100, 4096),
    (2, 0),
    (3, 0),
    (4, 160),
    (0, 100),
    (5, 4096),
    (1, 0),
];
/// `(max_entries, max_bytes)` of the store's runs (one `entries` record per run of appended
/// entries) the test switches between: tiny runs put run boundaries everywhere (XDEL of the
/// first or last entry of a run, trims and ranges starting inside one), one entry per run, the
/// defaults (a whole drain's appends in one run).
const RUN_LIMITS: &[(usize, usize)] = &[(4, 256), (1, 1 << 20), (256, 64 << 10), (7, 120)];
const T0: u64 = 1_000_000;

/// Counters of what the runs exercised, printed with `MODEL_STATS=1` (to check that the
/// generator reaches the interesting states).
mod stats {
    use std::sync::atomic::{AtomicU64, Ordering};

    pub const APPENDS: usize = 0;
    pub const TRIMS: usize = 1;
    pub const TRIMS_OWN: usize = 2;
    pub const TRIMS_APPROX: usize = 3;
    pub const MINID_PARTIAL: usize = 4;
    pub const XDELS: usize = 5;
    pub const XDELS_FIRST: usize = 6;
    pub const RENAMES: usize = 7;
    pub const RENAMES_ONTO: usize = 8;
    pub const KILLS: usize = 9;
    pub const REOPENS: usize = 10;
    pub const CRASHES_LOSING: usize = 11;
    pub const REAPS: usize = 12;
    pub const MAX_LEN: usize = 13;
    pub const MAX_NODES: usize = 14;
    pub const EMPTY_NODES: usize = 15;
    pub const EMPTY_DROPS: usize = 16;
    pub const PROCESS_CRASHES: usize = 17;
    pub const PROCESS_CRASHES_LOSING: usize = 18;
    pub const XDELS_LAST: usize = 19;
    pub const REV_RANGES_MID: usize = 20;
    pub const EXECS: usize = 21;
    pub const EXEC_READS_OF_STAGED: usize = 22;
    pub const EXEC_PROCESS_CRASHES: usize = 23;
    const NAMES: [&str; 24] = [
        "appends",
        "trims removing entries",
        "trims removing the new entry",
        "approx trims removing entries",
        "exact minid trims flagging inside a node",
        "xdel removing entries",
        "xdel of the first entry",
        "stream renames",
        "renames onto a stream",
        "streams killed",
        "reopens",
        "crashes losing staged writes",
        "reaps of dead data",
        "max stream length",
        "max nodes",
        "trims leaving a node without live entries",
        "trims dropping nodes but no entry",
        "process crashes",
        "process crashes losing committed but unpersisted writes",
        "xdel of the last entry",
        "reverse ranges ending before the last entry",
        "atomic sections (EXEC)",
        "reads in an atomic section after its own entry writes",
        "process crashes inside an atomic section",
    ];
    static C: [AtomicU64; 24] = [const { AtomicU64::new(0) }; 24];

    pub fn add(i: usize) {
        C[i].fetch_add(1, Ordering::Relaxed);
    }

    pub fn max(i: usize, v: u64) {
        C[i].fetch_max(v, Ordering::Relaxed);
    }

    pub fn print() {
        if std::env::var_os("MODEL_STATS").is_some() {
            for (n, c) in NAMES.iter().zip(C.iter()) {
                eprintln!("{n}: {}", c.load(Ordering::Relaxed));
            }
        }
    }
}

fn options() -> StoreOptions {
    StoreOptions {
        databases: DBS,
        cache_size: 1 << 20,
        ..StoreOptions::default()
    }
}

// ---------------------------------------------------------------------------------------------
// Operations.

/// An entry ID chosen relative to the stream's state when the operation runs.
#[derive(Clone, Debug)]
enum Pick {
    /// The n-th live entry (mod length), or a raw ID if the stream is empty.
    Nth(usize),
    /// Just after the n-th live entry.
    After(usize),
    /// The n-th live entry from the end (mod length).
    FromEnd(usize),
    /// Any ID, mostly small (so it hits deleted and trimmed IDs).
    Raw(u64, u64),
    /// The master ID of the n-th node (mod node count) of the stream's layout.
    NodeMaster(usize),
    /// The last ID (live or deleted) of the n-th node.
    NodeLast(usize),
    /// Just after the last live entry of the n-th node (as MINID: flags all of its live
    /// entries, leaving the node without live entries if its listpack ends with deleted ones).
    AfterNodeLive(usize),
}

#[derive(Clone, Debug)]
enum IdStep {
    SameMs(u64),
    NextMs(u64, u64),
}

#[derive(Clone, Debug)]
enum Strat {
    MaxLen(u64),
    MinId(Pick),
}

#[derive(Clone, Debug)]
struct TrimArgs {
    strat: Strat,
    approx: bool,
    /// An explicit `LIMIT` (only with `~`).
    limit: Option<u64>,
}

#[derive(Clone, Debug)]
enum Op {
    /// SET, with PX `px` if given.
    Set {
        db: usize,
        key: usize,
        val: Vec<u8>,
        px: Option<u64>,
    },
    Del {
        db: usize,
        key: usize,
    },
    /// EXPIRE in `after` ms, or PERSIST.
    Expire {
        db: usize,
        key: usize,
        after: Option<u64>,
    },
    Rename {
        db: usize,
        src: usize,
        dst: usize,
    },
    XAdd {
        db: usize,
        key: usize,
        id: IdStep,
        fields: Vec<(usize, Vec<u8>)>,
        trim: Option<TrimArgs>,
    },
    /// `n` XADDs (separate commands, no trimming) with the same field names.
    Bulk {
        db: usize,
        key: usize,
        n: usize,
        fields: Vec<(usize, Vec<u8>)>,
    },
    XTrim {
        db: usize,
        key: usize,
        trim: TrimArgs,
    },
    /// XSETID to `to` (clamped up to the last live entry, as the server refuses lower IDs,
    /// and, unless `MODEL_XSETID_BELOW_TAIL` is set, to the last ID of the tail node: see
    /// [`xsetid_below_tail`]), with ENTRIESADDED `len + extra` and MAXDELETEDID if given.
    XSetId {
        db: usize,
        key: usize,
        to: Pick,
        entries_added: Option<u64>,
        max_deleted: Option<Pick>,
    },
    /// Several commands in a row (to reach states that random sequences rarely reach).
    Seq(Vec<Op>),
    /// The ops inside one atomic section, as EXEC runs its queue (`Store::begin_atomic`):
    /// commands and process crashes only; cron work, drain ends, reopenings and crashes of
    /// the store are skipped (none happens inside a command).
    Exec(Vec<Op>),
    XDel {
        db: usize,
        key: usize,
        ids: Vec<Pick>,
    },
    /// XDEL of `n` consecutive live entries from a picked one.
    XDelRun {
        db: usize,
        key: usize,
        from: Pick,
        n: usize,
    },
    XRange {
        db: usize,
        key: usize,
        from: Option<Pick>,
        to: Option<Pick>,
        rev: bool,
        count: Option<usize>,
    },
    XGet {
        db: usize,
        key: usize,
        id: Pick,
    },
    FlushDb {
        db: usize,
    },
    ExpireCycle {
        db: usize,
        limit: usize,
    },
    /// CONFIG SET of the node limits.
    SetLimits(usize),
    /// Run limits of the store ([`RUN_LIMITS`]), from now on and after reopenings.
    SetRunLimits(usize),
    Tick(u64),
    /// One cron tick's reaping.
    Reap(usize),
    /// Reap until nothing is dead, then check that no dead incarnation has entries left.
    ReapAll(usize),
    DrainEnd {
        disk: bool,
    },
    Reopen,
    /// Drop the store without committing, reopen.
    Crash,
    /// Open a copy of the directory as it is (see [`Harness::process_crash`]).
    ProcessCrash,
}

fn db() -> impl Strategy<Value = usize> {
    prop_oneof![6 => Just(0usize), 2 => Just(1usize), 1 => Just(2usize)]
}

fn key() -> impl Strategy<Value = usize> {
    0..KEYS.len()
}

/// Keys for stream commands: mostly the two that string commands hit less.
fn skey() -> impl Strategy<Value = usize> {
    prop_oneof![1 => 0..2usize, 4 => Just(2usize), 2 => Just(3usize)]
}

fn value() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        6 => vec(any::<u8>(), 0..12),
        3 => any::<i32>().prop_map(|n| n.to_string().into_bytes()),
        1 => any::<i64>().prop_map(|n| n.to_string().into_bytes()),
        1 => vec(any::<u8>(), 60..300),
    ]
}

/// Trimming works from the head: often the first entries.
fn entry_index() -> impl Strategy<Value = usize> {
    prop_oneof![1 => 0usize..3, 2 => 0usize..64]
}

/// Trimming works from the head: mostly the first nodes.
fn node_index() -> impl Strategy<Value = usize> {
    prop_oneof![4 => Just(0usize), 2 => Just(1usize), 1 => 0usize..64]
}

fn pick() -> impl Strategy<Value = Pick> {
    prop_oneof![
        5 => entry_index().prop_map(Pick::Nth),
        2 => entry_index().prop_map(Pick::After),
        2 => entry_index().prop_map(Pick::FromEnd),
        2 => (0u64..40, 0u64..4).prop_map(|(ms, seq)| Pick::Raw(ms, seq)),
        1 => node_index().prop_map(Pick::NodeMaster),
        2 => node_index().prop_map(Pick::NodeLast),
        3 => node_index().prop_map(Pick::AfterNodeLive),
    ]
}

fn trim_args() -> impl Strategy<Value = TrimArgs> {
    let strat = prop_oneof![
        1 => (0u64..3).prop_map(Strat::MaxLen),
        3 => (3u64..40).prop_map(Strat::MaxLen),
        3 => pick().prop_map(Strat::MinId),
    ];
    let limit = prop_oneof![
        3 => Just(None),
        1 => Just(Some(0u64)),
        2 => (1u64..8).prop_map(Some),
    ];
    (strat, any::<bool>(), limit).prop_map(|(strat, approx, limit)| TrimArgs {
        strat,
        approx,
        limit: if approx { limit } else { None },
    })
}

/// Many appends in one drain (one run or more), then XDEL of the first and the last entry, a
/// reverse range from inside and a trim into the middle.
fn bulk_then_edit() -> impl Strategy<Value = Op> {
    let fields = vec((0..FIELDS.len(), value()), 1..3);
    (db(), skey(), 2usize..40, fields, 0usize..20, any::<bool>()).prop_map(
        |(db, key, n, fields, at, end)| {
            let mut ops = vec![Op::Bulk { db, key, n, fields }];
            if end {
                ops.push(Op::DrainEnd { disk: false });
            }
            ops.push(Op::XDel {
                db,
                key,
                ids: vec![Pick::Nth(0), Pick::FromEnd(0)],
            });
            ops.push(Op::XRange {
                db,
                key,
                from: Some(Pick::Nth(at / 2)),
                to: Some(Pick::FromEnd(at)),
                rev: true,
                count: Some(at % 5 + 1),
            });
            let trim = TrimArgs {
                strat: Strat::MaxLen(n.saturating_sub(at) as u64),
                approx: false,
                limit: None,
            };
            ops.push(Op::XTrim { db, key, trim });
            Op::Seq(ops)
        },
    )
}

/// Any op, or an atomic section of several.
fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        30 => base_op(),
        1 => vec(base_op(), 1..10).prop_map(Op::Exec),
    ]
}

fn base_op() -> impl Strategy<Value = Op> {
    let id_step = prop_oneof![
        3 => (1u64..3).prop_map(IdStep::SameMs),
        2 => (1u64..4, 0u64..3).prop_map(|(d, s)| IdStep::NextMs(d, s)),
    ];
    let fields = vec((0..FIELDS.len(), value()), 1..4);
    prop_oneof![
        2 => (db(), key(), value(), prop::option::weighted(0.2, 1u64..40))
            .prop_map(|(db, key, val, px)| Op::Set { db, key, val, px }),
        2 => (db(), key()).prop_map(|(db, key)| Op::Del { db, key }),
        2 => (db(), key(), prop::option::weighted(0.8, 1u64..40))
            .prop_map(|(db, key, after)| Op::Expire { db, key, after }),
        3 => (db(), key(), key()).prop_map(|(db, src, dst)| Op::Rename { db, src, dst }),
        30 => (db(), skey(), id_step, fields, prop::option::weighted(0.25, trim_args()))
            .prop_map(|(db, key, id, fields, trim)| Op::XAdd { db, key, id, fields, trim }),
        3 => (db(), skey(), 1usize..120, vec((0..FIELDS.len(), value()), 1..3))
            .prop_map(|(db, key, n, fields)| Op::Bulk { db, key, n, fields }),
        8 => (db(), skey(), trim_args()).prop_map(|(db, key, trim)| Op::XTrim { db, key, trim }),
        5 => (db(), skey(), vec(pick(), 1..4)).prop_map(|(db, key, ids)| Op::XDel { db, key, ids }),
        4 => (db(), skey(), pick(), 1usize..6)
            .prop_map(|(db, key, from, n)| Op::XDelRun { db, key, from, n }),
        // The last entry of a node: leaves a node whose listpack ends with a deleted entry;
        // then, sometimes, an exact MINID just past its last live entry leaves it without any
        // live entry (Redis keeps such a node until a later trim drops it).
        3 => (db(), skey(), node_index(), any::<bool>()).prop_map(|(db, key, i, trim)| {
            let del = Op::XDel { db, key, ids: vec![Pick::NodeLast(i)] };
            if !trim {
                return del;
            }
            let strat = Strat::MinId(Pick::AfterNodeLive(i));
            let trim = TrimArgs { strat, approx: false, limit: None };
            Op::Seq(vec![del, Op::XTrim { db, key, trim }])
        }),
        4 => (
            db(),
            skey(),
            prop::option::weighted(0.6, pick()),
            prop::option::weighted(0.6, pick()),
            any::<bool>(),
            prop::option::weighted(0.4, 0usize..6),
        )
            .prop_map(|(db, key, from, to, rev, count)| Op::XRange {
                db,
                key,
                from,
                to,
                rev,
                count
            }),
        2 => (db(), skey(), pick()).prop_map(|(db, key, id)| Op::XGet { db, key, id }),
        1 => (
            db(),
            skey(),
            pick(),
            prop::option::of(0u64..5),
            prop::option::of(pick())
        )
            .prop_map(|(db, key, to, entries_added, max_deleted)| Op::XSetId {
                db,
                key,
                to,
                entries_added,
                max_deleted
            }),
        1 => db().prop_map(|db| Op::FlushDb { db }),
        1 => (db(), 1usize..3).prop_map(|(db, limit)| Op::ExpireCycle { db, limit }),
        2 => (0..LIMITS.len()).prop_map(Op::SetLimits),
        2 => (0..RUN_LIMITS.len()).prop_map(Op::SetRunLimits),
        2 => bulk_then_edit(),
        3 => (1u64..15).prop_map(Op::Tick),
        3 => (0usize..6).prop_map(Op::Reap),
        1 => (1usize..8).prop_map(Op::ReapAll),
        8 => any::<bool>().prop_map(|disk| Op::DrainEnd { disk }),
        4 => Just(Op::Reopen),
        3 => Just(Op::Crash),
        2 => Just(Op::ProcessCrash),
    ]
}

// ---------------------------------------------------------------------------------------------
// The model.

#[derive(Clone, Debug)]
struct MStream {
    sid: u64,
    entries: BTreeMap<StreamId, Vec<Vec<u8>>>,
    last_id: StreamId,
    max_deleted: StreamId,
    entries_added: u64,
    layout: NodeLayout,
}

impl MStream {
    fn new(sid: u64) -> Self {
        MStream {
            sid,
            entries: BTreeMap::new(),
            last_id: StreamId::MIN,
            max_deleted: StreamId::MIN,
            entries_added: 0,
            layout: NodeLayout::new(),
        }
    }

    fn first_id(&self) -> StreamId {
        self.entries.keys().next().copied().unwrap_or(StreamId::MIN)
    }

    fn append(&mut self, id: StreamId, flat: Vec<Vec<u8>>, limits: NodeLimits) {
        assert!(id > self.last_id);
        let pairs: Vec<(&[u8], &[u8])> = flat
            .chunks_exact(2)
            .map(|p| (p[0].as_slice(), p[1].as_slice()))
            .collect();
        self.layout.append(id, &pairs, limits);
        self.entries.insert(id, flat);
        self.last_id = id;
        self.entries_added += 1;
    }

    /// Redis's `streamTrim`: the layout says how many; they are the first live entries.
    fn trim(&mut self, strategy: Trim, approx: bool, limit: u64) -> TrimOutcome {
        let MStream {
            entries, layout, ..
        } = self;
        let out = layout.trim(strategy, approx, limit, |from, to| {
            if from < to {
                entries.range(from..to).count() as u64
            } else {
                0
            }
        });
        for _ in 0..out.removed {
            entries
                .pop_first()
                .expect("model: the layout trimmed more entries than the stream has");
        }
        out
    }

    /// XDEL: how many existed.
    fn delete(&mut self, ids: &[StreamId]) -> u64 {
        let mut n = 0;
        for id in ids {
            if self.entries.remove(id).is_some() {
                self.layout
                    .delete(*id)
                    .expect("model: layout has no live entry for an existing ID");
                if *id > self.max_deleted {
                    self.max_deleted = *id;
                }
                n += 1;
            }
        }
        n
    }

    fn resolve(&self, p: &Pick) -> StreamId {
        let nth = |i: usize| {
            let n = self.entries.len();
            (n > 0).then(|| *self.entries.keys().nth(i % n).unwrap())
        };
        match *p {
            Pick::Nth(i) => nth(i).unwrap_or(StreamId::new(i as u64 % 7, 1)),
            Pick::After(i) => nth(i)
                .and_then(StreamId::successor)
                .unwrap_or(StreamId::new(i as u64 % 7, 2)),
            Pick::FromEnd(i) => {
                let n = self.entries.len();
                match n.checked_sub(1 + i % n.max(1)) {
                    Some(k) => *self.entries.keys().nth(k).unwrap(),
                    None => StreamId::new(i as u64 % 7, 4),
                }
            }
            Pick::Raw(ms, seq) => StreamId::new(ms, seq),
            Pick::NodeMaster(i) | Pick::NodeLast(i) | Pick::AfterNodeLive(i) => {
                let n = self.layout.radix_tree_keys() as usize;
                let Some((master, node)) = self.layout.nodes().nth(i % n.max(1)) else {
                    return StreamId::new(i as u64 % 7, 3);
                };
                // After XSETID lowered the last ID, an XADD can append below the tail node's
                // master ID (see `xsetid_below_deleted_tail_then_xadd`): its last ID is then
                // below its master, and the node's entries lie between the two either way.
                let (lo, hi) = (*master.min(&node.last_id), *master.max(&node.last_id));
                match p {
                    Pick::NodeMaster(_) => *master,
                    Pick::NodeLast(_) => node.last_id,
                    _ => self
                        .entries
                        .range(lo..=hi)
                        .next_back()
                        .and_then(|(id, _)| id.successor())
                        .unwrap_or(node.last_id),
                }
            }
        }
    }
}

#[derive(Clone, Debug)]
enum MValue {
    Str(Vec<u8>),
    Stream(MStream),
}

#[derive(Clone, Debug)]
struct MKey {
    value: MValue,
    expire_at: Option<u64>,
}

#[derive(Clone, Debug)]
struct Model {
    dbs: Vec<BTreeMap<Vec<u8>, MKey>>,
    /// Incarnations that died; their data must be gone once the reaper has nothing left.
    dead: BTreeSet<u64>,
    /// Every incarnation ever handed out (and committed, for the committed copy).
    used_sids: BTreeSet<u64>,
}

impl Model {
    fn new() -> Self {
        Model {
            dbs: vec![BTreeMap::new(); DBS],
            dead: BTreeSet::new(),
            used_sids: BTreeSet::new(),
        }
    }

    fn remove(&mut self, db: usize, key: &[u8]) -> Option<MKey> {
        let old = self.dbs[db].remove(key);
        if let Some(MKey {
            value: MValue::Stream(s),
            ..
        }) = &old
        {
            stats::add(stats::KILLS);
            self.dead.insert(s.sid);
        }
        old
    }

    fn put(&mut self, db: usize, key: &[u8], k: MKey) {
        self.remove(db, key);
        self.dbs[db].insert(key.to_vec(), k);
    }

    fn expire_if_due(&mut self, db: usize, key: &[u8], now: u64) -> bool {
        let due = self.dbs[db]
            .get(key)
            .and_then(|k| k.expire_at)
            .is_some_and(|at| at <= now);
        if due {
            self.remove(db, key);
        }
        due
    }

    /// What `Store::open` at `now` drops.
    fn expire_all(&mut self, now: u64) {
        for db in 0..DBS {
            let keys: Vec<Vec<u8>> = self.dbs[db].keys().cloned().collect();
            for k in keys {
                self.expire_if_due(db, &k, now);
            }
        }
    }

    fn stream(&self, db: usize, key: &[u8]) -> Option<&MStream> {
        match self.dbs[db].get(key) {
            Some(MKey {
                value: MValue::Stream(s),
                ..
            }) => Some(s),
            _ => None,
        }
    }

    fn stream_mut(&mut self, db: usize, key: &[u8]) -> Option<&mut MStream> {
        match self.dbs[db].get_mut(key) {
            Some(MKey {
                value: MValue::Stream(s),
                ..
            }) => Some(s),
            _ => None,
        }
    }

    fn is_string(&self, db: usize, key: &[u8]) -> bool {
        matches!(
            self.dbs[db].get(key),
            Some(MKey {
                value: MValue::Str(_),
                ..
            })
        )
    }
}

// ---------------------------------------------------------------------------------------------
// The harness.

struct Harness {
    dir: tempfile::TempDir,
    store: Option<Store>,
    now: u64,
    limits: NodeLimits,
    model: Model,
    /// The states the disk may hold after a process crash: the model as of the last persist,
    /// then as of every later commit; the last one is what the disk holds now.
    durable: Vec<Model>,
    /// See [`xsetid_below_tail`].
    xsetid_below_tail: bool,
    /// The store's run limits (see [`RUN_LIMITS`]).
    run_limits: RunLimits,
    /// Inside an atomic section: no state in it may reach the disk, so none is durable.
    in_exec: bool,
    /// Inside an atomic section, after one of its commands staged an entry write.
    exec_wrote_entries: bool,
}

/// The model's streams of at least this many entries have their tables dropped when they die.
const DROP_MIN_ENTRIES: u64 = 3;

/// Opens the store in `dir` with the run limits the test is using.
fn open_store(dir: &std::path::Path, now: u64, run_limits: RunLimits) -> Store {
    let mut store = Store::open(dir, &options(), now).expect("open");
    store.set_run_limits(run_limits);
    // Streams of 3 entries or more die with a table drop first (`store/reaper.rs`), smaller
    // ones with tombstones only: both paths run.
    store.set_drop_min_entries(DROP_MIN_ENTRIES);
    store
}

fn flat(fields: &[(usize, Vec<u8>)]) -> Vec<Vec<u8>> {
    fields
        .iter()
        .flat_map(|(f, v)| [FIELDS[*f].to_vec(), v.clone()])
        .collect()
}

/// A comparison: `Err` describes the first difference.
type Diff = Result<(), String>;

macro_rules! same {
    ($store:expr, $model:expr, $($what:tt)+) => {{
        let (store, model) = (&$store, &$model);
        if store != model {
            return Err(format!("{}: store {:?}, model {:?}", format!($($what)+), store, model));
        }
    }};
}

fn decoded(e: &StreamEntry) -> Result<(StreamId, Vec<Vec<u8>>), String> {
    let fields = e
        .fields()
        .map_err(|err| format!("entry {} does not decode: {err}", e.id))?;
    Ok((e.id, fields.into_iter().map(<[u8]>::to_vec).collect()))
}

fn diff_entries(got: &[StreamEntry], want: &[(StreamId, Vec<Vec<u8>>)], what: &str) -> Diff {
    let got_ids: Vec<String> = got.iter().map(|e| e.id.to_string()).collect();
    let want_ids: Vec<String> = want.iter().map(|(id, _)| id.to_string()).collect();
    same!(got_ids, want_ids, "{what}: entry IDs");
    for (g, w) in got.iter().zip(want) {
        let (id, fields) = decoded(g)?;
        same!(fields, w.1, "{what}: fields of {id}");
    }
    Ok(())
}

fn diff_meta(meta: &StreamMeta, m: &MStream, what: &str) -> Diff {
    same!(meta.sid, m.sid, "{what}: sid");
    same!(meta.len(), m.entries.len() as u64, "{what}: len");
    same!(meta.last_id, m.last_id, "{what}: last_id");
    same!(meta.first_id, m.first_id(), "{what}: first_id");
    same!(meta.max_deleted, m.max_deleted, "{what}: max_deleted");
    same!(meta.entries_added, m.entries_added, "{what}: entries_added");
    same!(meta.layout.len(), m.layout.len(), "{what}: layout len");
    same!(
        meta.layout.radix_tree_keys(),
        m.layout.radix_tree_keys(),
        "{what}: radix-tree-keys"
    );
    same!(
        meta.layout.radix_tree_nodes(),
        m.layout.radix_tree_nodes(),
        "{what}: radix-tree-nodes"
    );
    same!(
        meta.layout.nodes().collect::<Vec<_>>(),
        m.layout.nodes().collect::<Vec<_>>(),
        "{what}: node summaries"
    );
    Ok(())
}

/// Compares the store's key directories (every key, type, expiry, string value, stream
/// metadata and layout) with the model, without changing the store.
fn diff_dirs(store: &Store, model: &Model, when: &str) -> Diff {
    let mut sids = BTreeSet::new();
    for db in 0..DBS {
        let dir = store.dir(db);
        let keys = &model.dbs[db];
        let mut names: Vec<String> = dir
            .iter()
            .map(|(k, _)| String::from_utf8_lossy(k).into_owned())
            .collect();
        names.sort();
        let model_names: Vec<String> = keys
            .keys()
            .map(|k| String::from_utf8_lossy(k).into_owned())
            .collect();
        same!(names, model_names, "{when}: keys of db {db}");
        same!(dir.len(), keys.len(), "{when}: size of db {db}");
        for (name, e) in dir.iter() {
            let what = format!("{when}: db {db} key {:?}", String::from_utf8_lossy(name));
            let m = keys
                .get(name)
                .ok_or_else(|| format!("{what}: missing from the model"))?;
            same!(e.expire_at, m.expire_at, "{what}: expiry");
            match (&e.value, &m.value) {
                (Value::String(s), MValue::Str(v)) => same!(&s[..], &v[..], "{what}"),
                (Value::Stream(meta), MValue::Stream(ms)) => {
                    same!(
                        ms.layout.len(),
                        ms.entries.len() as u64,
                        "{what}: model itself"
                    );
                    diff_meta(meta, ms, &what)?;
                    if !sids.insert(meta.sid) {
                        return Err(format!("{what}: sid {} used twice", meta.sid));
                    }
                    if model.dead.contains(&meta.sid) {
                        return Err(format!("{what}: sid {} is live and dead", meta.sid));
                    }
                }
                (v, _) => return Err(format!("{what}: store has a {}, model not", v.type_name())),
            }
        }
    }
    Ok(())
}

/// Compares every stream's entries, in both directions. Reads entries: commits what is staged.
fn diff_streams(store: &mut Store, model: &Model, when: &str) -> Diff {
    for db in 0..DBS {
        for (name, k) in &model.dbs[db] {
            let MValue::Stream(s) = &k.value else {
                continue;
            };
            let what = format!("{when}: db {db} stream {:?}", String::from_utf8_lossy(name));
            let mut want: Vec<(StreamId, Vec<Vec<u8>>)> =
                s.entries.iter().map(|(k, v)| (*k, v.clone())).collect();
            let got = store
                .stream_range(s.sid, StreamId::MIN, StreamId::MAX, false, None)
                .map_err(|e| format!("{what}: {e}"))?;
            diff_entries(&got, &want, &what)?;
            let got = store
                .stream_range(s.sid, StreamId::MIN, StreamId::MAX, true, None)
                .map_err(|e| format!("{what}: {e}"))?;
            want.reverse();
            diff_entries(&got, &want, &format!("{what} (reverse)"))?;
        }
    }
    Ok(())
}

fn copy_tree(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for e in std::fs::read_dir(from).expect("read_dir") {
        let e = e.expect("dir entry");
        let target = to.join(e.file_name());
        if e.file_type().expect("file type").is_dir() {
            copy_tree(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), &target).expect("copy");
        }
    }
}

/// A temporary directory: in `TMPDIR` if set, else in `/dev/shm` when there is one (the test
/// syncs often; a tmpfs makes it several times faster and changes nothing it checks: its
/// "crashes" are drops of the store and copies of the directory, not power losses).
fn tempdir() -> tempfile::TempDir {
    let shm = std::path::Path::new("/dev/shm");
    if std::env::var_os("TMPDIR").is_none() && shm.is_dir() {
        if let Ok(dir) = tempfile::tempdir_in(shm) {
            return dir;
        }
    }
    tempfile::tempdir().expect("tempdir")
}

impl Harness {
    fn new() -> Self {
        let dir = tempdir();
        let (max_entries, max_bytes) = RUN_LIMITS[0];
        let run_limits = RunLimits {
            max_entries,
            max_bytes,
        };
        let store = open_store(dir.path(), T0, run_limits);
        Harness {
            run_limits,
            dir,
            store: Some(store),
            now: T0,
            limits: NodeLimits::default(),
            model: Model::new(),
            durable: vec![Model::new()],
            xsetid_below_tail: xsetid_below_tail(),
            in_exec: false,
            exec_wrote_entries: false,
        }
    }

    fn s(&mut self) -> &mut Store {
        self.store.as_mut().expect("store is open")
    }

    /// Nothing staged: the disk holds exactly the model. (Not inside an atomic section: a
    /// state in the middle of one must never be what the disk holds.)
    fn note_commit_point(&mut self) {
        if self.in_exec {
            return;
        }
        if !self.s().has_staged() {
            self.durable.push(self.model.clone());
        }
    }

    /// Everything committed is persisted: the disk holds exactly the model.
    fn note_persisted(&mut self) {
        self.durable = vec![self.model.clone()];
    }

    fn committed(&self) -> &Model {
        self.durable.last().expect("a durable state")
    }

    /// One command as the engine's `call()` runs it.
    fn command(&mut self, stream_group: bool, f: impl FnOnce(&mut Self)) {
        if stream_group {
            self.note_commit_point();
        }
        f(self);
        self.s().end_command();
        self.note_commit_point();
        self.check_meta("after command");
    }

    /// The type check every stream command starts with (after lazy expiry).
    fn stream_sid(&mut self, db: usize, key: &[u8]) -> Result<Option<u64>, WrongType> {
        let now = self.now;
        self.model.expire_if_due(db, key, now);
        let got = self.s().stream(db, key, now).map(|m| m.map(|m| m.sid));
        match &got {
            Err(WrongType) => assert!(self.model.is_string(db, key), "store says wrong type"),
            Ok(None) => assert!(!self.model.dbs[db].contains_key(key), "store lost a key"),
            Ok(Some(sid)) => assert_eq!(
                self.model.stream(db, key).map(|s| s.sid),
                Some(*sid),
                "stream sid"
            ),
        }
        got
    }

    fn run(&mut self, op: &Op) {
        let now = self.now;
        match op {
            Op::Set { db, key, val, px } => self.command(false, |h| {
                let name = KEYS[*key];
                let expire_at = px.map(|px| now + px);
                h.s().put(
                    *db,
                    Bytes::copy_from_slice(name),
                    Entry {
                        value: Value::String(Bytes::copy_from_slice(val)),
                        expire_at,
                    },
                );
                h.model.put(
                    *db,
                    name,
                    MKey {
                        value: MValue::Str(val.clone()),
                        expire_at,
                    },
                );
            }),
            Op::Del { db, key } => self.command(false, |h| {
                let name = KEYS[*key];
                let exp = h.s().expire_if_due(*db, name, now);
                assert_eq!(exp, h.model.expire_if_due(*db, name, now), "DEL expiry");
                let gone = h.s().delete(*db, name);
                assert_eq!(gone, h.model.remove(*db, name).is_some(), "DEL reply");
            }),
            Op::Expire { db, key, after } => self.command(false, |h| {
                let name = KEYS[*key];
                let exists = h.s().lookup(*db, name, now).is_some();
                h.model.expire_if_due(*db, name, now);
                assert_eq!(exists, h.model.dbs[*db].contains_key(name), "EXPIRE lookup");
                if !exists {
                    return;
                }
                let at = after.map(|a| now + a);
                assert!(h.s().set_expire(*db, name, at));
                h.model.dbs[*db].get_mut(name).expect("key").expire_at = at;
            }),
            Op::Rename { db, src, dst } => self.command(false, |h| {
                let (src, dst) = (KEYS[*src], KEYS[*dst]);
                let exists = h.s().lookup(*db, src, now).is_some();
                h.model.expire_if_due(*db, src, now);
                assert_eq!(exists, h.model.dbs[*db].contains_key(src), "RENAME lookup");
                if !exists || src == dst {
                    return;
                }
                h.s().expire_if_due(*db, dst, now);
                h.model.expire_if_due(*db, dst, now);
                if h.model.stream(*db, src).is_some() {
                    stats::add(stats::RENAMES);
                }
                if h.model.stream(*db, dst).is_some() {
                    stats::add(stats::RENAMES_ONTO);
                }
                assert!(h.s().rename(*db, src, Bytes::copy_from_slice(dst)));
                let moved = h.model.dbs[*db].remove(src).expect("src");
                h.model.put(*db, dst, moved);
            }),
            Op::XAdd {
                db,
                key,
                id,
                fields,
                trim,
            } => self.command(trim.is_some(), |h| {
                h.xadd(*db, KEYS[*key], id, fields, trim.as_ref())
            }),
            Op::Bulk { db, key, n, fields } => {
                for i in 0..*n {
                    let step = if i % 3 == 2 {
                        IdStep::NextMs(1, 0)
                    } else {
                        IdStep::SameMs(1)
                    };
                    let mut fields = fields.clone();
                    fields[0].1 = i.to_string().into_bytes();
                    self.command(false, |h| h.xadd(*db, KEYS[*key], &step, &fields, None));
                }
            }
            Op::XTrim { db, key, trim } => self.command(true, |h| {
                let name = KEYS[*key];
                let Ok(Some(_)) = h.stream_sid(*db, name) else {
                    return;
                };
                h.trim(*db, name, trim, None);
            }),
            Op::XDel { .. } | Op::XDelRun { .. } => self.command(true, |h| {
                let (db, name) = match op {
                    Op::XDel { db, key, .. } | Op::XDelRun { db, key, .. } => (*db, KEYS[*key]),
                    _ => unreachable!(),
                };
                let Ok(Some(_)) = h.stream_sid(db, name) else {
                    return;
                };
                let m = h.model.stream_mut(db, name).expect("model stream");
                let ids: Vec<StreamId> = match op {
                    Op::XDel { ids, .. } => ids.iter().map(|p| m.resolve(p)).collect(),
                    Op::XDelRun { from, n, .. } => {
                        let from = m.resolve(from);
                        m.entries.range(from..).take(*n).map(|(k, _)| *k).collect()
                    }
                    _ => unreachable!(),
                };
                if ids.contains(&m.first_id()) && !m.entries.is_empty() {
                    stats::add(stats::XDELS_FIRST);
                }
                if m.entries
                    .keys()
                    .next_back()
                    .is_some_and(|l| ids.contains(l))
                {
                    stats::add(stats::XDELS_LAST);
                }
                let want = m.delete(&ids);
                if want > 0 {
                    stats::add(stats::XDELS);
                }
                let got = h
                    .s()
                    .stream_delete(db, name, &ids, now)
                    .expect("stream_delete");
                assert_eq!(got, want, "XDEL {ids:?} reply");
            }),
            Op::XRange {
                db,
                key,
                from,
                to,
                rev,
                count,
            } => self.command(true, |h| {
                let name = KEYS[*key];
                let Ok(Some(sid)) = h.stream_sid(*db, name) else {
                    return;
                };
                let m = h.model.stream(*db, name).expect("model stream");
                let from = from.as_ref().map_or(StreamId::MIN, |p| m.resolve(p));
                let to = to.as_ref().map_or(StreamId::MAX, |p| m.resolve(p));
                let mut want: Vec<(StreamId, Vec<Vec<u8>>)> = if from <= to {
                    m.entries
                        .range(from..=to)
                        .map(|(k, v)| (*k, v.clone()))
                        .collect()
                } else {
                    Vec::new()
                };
                if *rev {
                    want.reverse();
                    if m.entries.keys().next_back().is_some_and(|l| *l > to) && !want.is_empty() {
                        stats::add(stats::REV_RANGES_MID);
                    }
                }
                if let Some(c) = count {
                    want.truncate(*c);
                }
                let got = h
                    .s()
                    .stream_range(sid, from, to, *rev, *count)
                    .expect("stream_range");
                let what = format!("range {from}..={to} rev={rev} count={count:?}");
                if let Err(e) = diff_entries(&got, &want, &what) {
                    panic!("{e}");
                }
            }),
            Op::XGet { db, key, id } => self.command(true, |h| {
                let name = KEYS[*key];
                let Ok(Some(sid)) = h.stream_sid(*db, name) else {
                    return;
                };
                let m = h.model.stream(*db, name).expect("model stream");
                let id = m.resolve(id);
                let want: Vec<_> = m
                    .entries
                    .get(&id)
                    .map(|v| (id, v.clone()))
                    .into_iter()
                    .collect();
                let got: Vec<_> = h
                    .s()
                    .stream_get(sid, id)
                    .expect("stream_get")
                    .into_iter()
                    .collect();
                if let Err(e) = diff_entries(&got, &want, &format!("get {id}")) {
                    panic!("{e}");
                }
            }),
            Op::FlushDb { db } => self.command(false, |h| {
                h.s().flush_db(*db);
                let keys: Vec<Vec<u8>> = h.model.dbs[*db].keys().cloned().collect();
                for k in keys {
                    h.model.remove(*db, &k);
                }
            }),
            Op::ExpireCycle { db, limit } => {
                // Cron work, between commands.
                let n = self.s().expire_cycle(*db, now, *limit);
                let mut due: Vec<(u64, Vec<u8>)> = self.model.dbs[*db]
                    .iter()
                    .filter_map(|(k, v)| {
                        v.expire_at
                            .filter(|at| *at <= now)
                            .map(|at| (at, k.clone()))
                    })
                    .collect();
                due.sort();
                due.truncate(*limit);
                assert_eq!(n, due.len(), "expire_cycle count");
                for (_, k) in due {
                    self.model.remove(*db, &k);
                }
                self.note_commit_point();
                self.check_meta("after expire_cycle");
            }
            Op::SetLimits(i) => {
                let (max_entries, max_bytes) = LIMITS[*i];
                self.limits = NodeLimits {
                    max_entries,
                    max_bytes,
                };
            }
            Op::SetRunLimits(i) => {
                let (max_entries, max_bytes) = RUN_LIMITS[*i];
                self.run_limits = RunLimits {
                    max_entries,
                    max_bytes,
                };
                let limits = self.run_limits;
                self.s().set_run_limits(limits);
            }
            Op::Tick(ms) => self.now += ms,
            Op::Reap(budget) => {
                if self.s().dead_streams() > 0 {
                    stats::add(stats::REAPS);
                }
                self.s().reap(*budget).expect("reap");
                self.note_commit_point();
                self.check_meta("after reap");
                if self.s().dead_streams() == 0 {
                    self.verify_reaped();
                }
            }
            Op::ReapAll(budget) => {
                let mut rounds = 0;
                while self.s().dead_streams() > 0 {
                    if self.s().reap(*budget).expect("reap") == 0 {
                        // A table drop waits for a flush or its thread.
                        std::thread::sleep(std::time::Duration::from_micros(200));
                    }
                    rounds += 1;
                    assert!(rounds < 100_000, "reaping does not finish");
                }
                self.note_commit_point();
                self.verify_reaped();
                self.check_meta("after reaping everything");
            }
            Op::XSetId {
                db,
                key,
                to,
                entries_added,
                max_deleted,
            } => self.command(true, |h| {
                let name = KEYS[*key];
                let Ok(Some(_)) = h.stream_sid(*db, name) else {
                    return;
                };
                let m = h.model.stream_mut(*db, name).expect("model stream");
                let len = m.entries.len() as u64;
                let mut top = m
                    .entries
                    .keys()
                    .next_back()
                    .copied()
                    .unwrap_or(StreamId::MIN);
                if !h.xsetid_below_tail {
                    if let Some((_, tail)) = m.layout.nodes().next_back() {
                        top = top.max(tail.last_id);
                    }
                }
                let id = m.resolve(to).max(top);
                let max_deleted = max_deleted.as_ref().map(|p| m.resolve(p).min(id));
                m.last_id = id;
                if let Some(extra) = entries_added {
                    m.entries_added = len + extra;
                }
                if let Some(md) = max_deleted.filter(|md| *md != StreamId::MIN) {
                    m.max_deleted = md;
                }
                let meta = h
                    .s()
                    .stream_mut(*db, name, now)
                    .expect("stream")
                    .expect("exists");
                meta.last_id = id;
                if let Some(extra) = entries_added {
                    meta.entries_added = len + extra;
                }
                if let Some(md) = max_deleted.filter(|md| *md != StreamId::MIN) {
                    meta.max_deleted = md;
                }
            }),
            Op::DrainEnd { disk } => self.drain_end(*disk),
            Op::Seq(ops) if self.in_exec => {
                for op in ops {
                    self.run_in_exec(op);
                }
            }
            Op::Seq(ops) => {
                for op in ops {
                    self.run(op);
                }
            }
            Op::Exec(ops) => {
                assert!(!self.in_exec, "atomic sections of the model do not nest");
                stats::add(stats::EXECS);
                // Nothing committed since the last persist: then nothing may be at the end.
                let clean = !self.s().has_unpersisted();
                self.s().begin_atomic();
                self.in_exec = true;
                self.exec_wrote_entries = false;
                for op in ops {
                    self.run_in_exec(op);
                }
                self.in_exec = false;
                self.s().end_atomic();
                if clean {
                    assert!(
                        !self.s().has_unpersisted(),
                        "a commit inside an atomic section"
                    );
                }
                self.note_commit_point();
            }
            Op::Reopen => {
                self.drain_end(false);
                self.reopen();
            }
            Op::ProcessCrash => self.process_crash(),
            Op::Crash => {
                if self.s().has_staged() {
                    stats::add(stats::CRASHES_LOSING);
                }
                self.model = self.committed().clone();
                self.reopen();
            }
        }
    }

    /// One op of an atomic section: see [`Op::Exec`].
    fn run_in_exec(&mut self, op: &Op) {
        match op {
            Op::DrainEnd { .. }
            | Op::Reopen
            | Op::Crash
            | Op::Reap(_)
            | Op::ReapAll(_)
            | Op::ExpireCycle { .. }
            | Op::Exec(_) => {}
            Op::ProcessCrash => {
                stats::add(stats::EXEC_PROCESS_CRASHES);
                self.process_crash();
            }
            Op::XRange { .. } | Op::XGet { .. } => {
                if self.exec_wrote_entries {
                    stats::add(stats::EXEC_READS_OF_STAGED);
                }
                self.run(op);
            }
            Op::XAdd { .. }
            | Op::Bulk { .. }
            | Op::XTrim { .. }
            | Op::XDel { .. }
            | Op::XDelRun { .. } => {
                self.run(op);
                self.exec_wrote_entries = true;
            }
            other => self.run(other),
        }
    }

    fn xadd(
        &mut self,
        db: usize,
        name: &[u8],
        step: &IdStep,
        fields: &[(usize, Vec<u8>)],
        trim: Option<&TrimArgs>,
    ) {
        let now = self.now;
        match self.stream_sid(db, name) {
            Err(WrongType) => return,
            Ok(Some(_)) => {}
            Ok(None) => {
                self.s().stream_create(db, Bytes::copy_from_slice(name));
                let sid = self
                    .s()
                    .stream(db, name, now)
                    .expect("stream")
                    .expect("created")
                    .sid;
                assert!(
                    !self.model.used_sids.contains(&sid),
                    "stream incarnation {sid} handed out twice"
                );
                self.model.used_sids.insert(sid);
                self.model.put(
                    db,
                    name,
                    MKey {
                        value: MValue::Stream(MStream::new(sid)),
                        expire_at: None,
                    },
                );
            }
        }
        let limits = self.limits;
        let m = self.model.stream_mut(db, name).expect("model stream");
        let last = m.last_id;
        let id = match *step {
            IdStep::SameMs(d) => StreamId::new(last.ms, last.seq + d),
            IdStep::NextMs(d, seq) => StreamId::new(last.ms + d, seq),
        };
        let flat = flat(fields);
        m.append(id, flat.clone(), limits);
        stats::add(stats::APPENDS);
        stats::max(stats::MAX_LEN, m.entries.len() as u64);
        stats::max(stats::MAX_NODES, m.layout.radix_tree_keys());
        let argv: Vec<Bytes> = flat.iter().map(|f| Bytes::copy_from_slice(f)).collect();
        self.s().stream_append(db, name, id, &argv, limits, now);
        if let Some(t) = trim {
            self.trim(db, name, t, Some(id));
        }
    }

    fn trim(&mut self, db: usize, name: &[u8], t: &TrimArgs, protect: Option<StreamId>) {
        let now = self.now;
        let max_entries = self.limits.max_entries;
        let m = self.model.stream_mut(db, name).expect("model stream");
        let strategy = match &t.strat {
            Strat::MaxLen(n) => Trim::MaxLen(*n),
            Strat::MinId(p) => Trim::MinId(m.resolve(p)),
        };
        let limit = effective_trim_limit(t.approx, t.limit, max_entries);
        let out = m.trim(strategy, t.approx, limit);
        let want = out.removed;
        if m.layout.nodes().any(|(_, n)| n.live == 0) {
            stats::add(stats::EMPTY_NODES);
        }
        if want == 0 && !out.dropped_nodes.is_empty() {
            stats::add(stats::EMPTY_DROPS);
        }
        if want > 0 {
            stats::add(stats::TRIMS);
            if t.approx {
                stats::add(stats::TRIMS_APPROX);
            }
            if protect.is_some_and(|p| !m.entries.contains_key(&p)) {
                stats::add(stats::TRIMS_OWN);
            }
            if out.partial_node.is_some() && matches!(strategy, Trim::MinId(_)) {
                stats::add(stats::MINID_PARTIAL);
            }
        }
        let spec = TrimSpec {
            strategy,
            approx: t.approx,
            limit,
        };
        let got = self
            .s()
            .stream_trim(db, name, spec, protect, now)
            .expect("stream_trim");
        assert_eq!(got, want, "trim {spec:?} protect {protect:?}: removed");
    }

    fn drain_end(&mut self, disk: bool) {
        self.s().commit().expect("commit");
        assert!(!self.s().has_staged(), "staged writes after commit");
        self.s()
            .persist(if disk { Sync::Disk } else { Sync::Os })
            .expect("persist");
        self.note_persisted();
        self.check_full("after drain end");
    }

    /// Drops the store (committing nothing) and opens the directory again.
    fn reopen(&mut self) {
        stats::add(stats::REOPENS);
        drop(self.store.take());
        self.store = Some(open_store(self.dir.path(), self.now, self.run_limits));
        self.model.expire_all(self.now);
        assert!(!self.s().has_staged(), "staged writes after open");
        self.note_persisted();
        self.check_full("after reopen");
    }

    fn verify_reaped(&mut self) {
        assert_eq!(self.s().dead_streams(), 0);
        let dead: Vec<u64> = self.model.dead.iter().copied().collect();
        for sid in dead {
            let left = self
                .s()
                .stream_range(sid, StreamId::MIN, StreamId::MAX, false, Some(3))
                .expect("stream_range");
            let ids: Vec<StreamId> = left.iter().map(|e| e.id).collect();
            assert!(
                ids.is_empty(),
                "dead incarnation {sid} still has entries {ids:?}"
            );
        }
        self.model.dead.clear();
        self.note_commit_point();
    }

    /// Compares the store's in-memory state with the model, without changing either.
    fn check_meta(&self, when: &str) {
        let store = self.store.as_ref().expect("store is open");
        if let Err(e) = diff_dirs(store, &self.model, when) {
            panic!("{e}");
        }
    }

    /// [`Harness::check_meta`] plus every stream's entries. Only call with nothing staged.
    fn check_full(&mut self, when: &str) {
        self.check_meta(when);
        let store = self.store.as_mut().expect("store is open");
        if let Err(e) = diff_streams(store, &self.model, when) {
            panic!("{e}");
        }
        self.note_commit_point();
    }

    /// A process crash, without committing or persisting anything more: a copy of the
    /// directory (all that `write(2)` has handed to the OS) must open as one of the states
    /// committed since the last persist — never a part of a commit.
    fn process_crash(&mut self) {
        let copy = tempdir();
        copy_tree(self.dir.path(), copy.path());
        let mut other = open_store(copy.path(), self.now, self.run_limits);
        let mut diffs = Vec::new();
        for (i, state) in self.durable.iter().enumerate().rev() {
            let mut state = state.clone();
            state.expire_all(self.now);
            let when = format!("copy vs durable state {i}");
            match diff_dirs(&other, &state, &when)
                .and_then(|()| diff_streams(&mut other, &state, &when))
            {
                Ok(()) => {
                    stats::add(stats::PROCESS_CRASHES);
                    if i + 1 < self.durable.len() {
                        stats::add(stats::PROCESS_CRASHES_LOSING);
                    }
                    return;
                }
                Err(e) => diffs.push(e),
            }
        }
        panic!(
            "after a process crash the store matches none of the {} states committed since \
             the last persist:\n{}",
            self.durable.len(),
            diffs.join("\n")
        );
    }
}

/// Whether XSETID may set the last ID below the last (deleted) entry of the tail node, which
/// Redis allows (it only checks the last live entry). The next XADD then appends an ID smaller
/// than the tail node's last ID, even below its master ID when no live entry is left in it
/// (see `NodeSummary::misplaced`). On by default; `MODEL_XSETID_BELOW_TAIL=0` turns it off.
fn xsetid_below_tail() -> bool {
    std::env::var_os("MODEL_XSETID_BELOW_TAIL").is_none_or(|v| v != "0")
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(100)
}

fn run_ops(ops: &[Op]) {
    let mut h = Harness::new();
    for op in ops {
        h.run(op);
    }
    // The end of the run: everything committed survives a reopen, then a crash.
    h.run(&Op::Reopen);
    h.run(&Op::Crash);
    h.run(&Op::ReapAll(3));
}

#[test]
fn store_matches_model() {
    let config = ProptestConfig {
        cases: cases(),
        // Regression files would land next to this file; failures print the minimal sequence.
        failure_persistence: None,
        ..ProptestConfig::default()
    };
    let mut runner = TestRunner::new(config);
    // Shrinking runs many failing cases: keep their panic messages quiet (on this thread
    // only), then run the minimal one again with the normal hook so that its message and
    // location show.
    let quiet = std::thread::current().id();
    let hook = std::sync::Arc::new(std::panic::take_hook());
    let other = hook.clone();
    std::panic::set_hook(Box::new(move |info| {
        if std::thread::current().id() != quiet {
            other(info);
        }
    }));
    // Every run starts with its own node limits (Redis's defaults make few nodes).
    let max_ops = std::env::var("MODEL_MAX_OPS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(250usize);
    let ops = (0..LIMITS.len(), vec(op(), 1..max_ops.max(2))).prop_map(|(limits, mut ops)| {
        ops.insert(0, Op::SetLimits(limits));
        ops
    });
    let result = runner.run(&ops, |ops| {
        run_ops(&ops);
        Ok(())
    });
    std::panic::set_hook(Box::new(move |info| hook(info)));
    stats::print();
    match result {
        Ok(()) => {}
        Err(TestError::Fail(reason, ops)) => {
            eprintln!("minimal failing sequence ({} ops):", ops.len());
            for op in &ops {
                eprintln!("    {op:?}");
            }
            eprintln!("failure: {reason}");
            run_ops(&ops);
            panic!("the minimal sequence did not fail again: {reason}");
        }
        Err(e) => panic!("{e}"),
    }
}

/// An exact MINID trim can leave a node with no live entry; a later trim that drops only such
/// nodes removes no entry but still changes the layout, which must reach the disk.
#[test]
fn trim_dropping_only_empty_nodes_is_persisted() {
    let f = || vec![(0usize, b"v".to_vec())];
    let xadd = || Op::XAdd {
        db: 0,
        key: 2,
        id: IdStep::SameMs(1),
        fields: f(),
        trim: None,
    };
    let mut ops = vec![Op::SetLimits(2)];
    ops.extend((0..6).map(|_| xadd()));
    ops.extend([
        Op::XDel {
            db: 0,
            key: 2,
            ids: vec![Pick::Raw(0, 3)],
        },
        Op::XTrim {
            db: 0,
            key: 2,
            trim: TrimArgs {
                strat: Strat::MinId(Pick::Raw(0, 3)),
                approx: false,
                limit: None,
            },
        },
        Op::XTrim {
            db: 0,
            key: 2,
            trim: TrimArgs {
                strat: Strat::MaxLen(2),
                approx: true,
                limit: None,
            },
        },
        Op::Reopen,
    ]);
    run_ops(&ops);
}

/// Found by `store_matches_model` on 2026-12-05 and reduced by hand: after an XDEL of a node's
/// last entry, an EXEC of XTRIM MINID and an XSETID that lowers the last ID below that node's
/// deleted entries, 84 XADDs (`Bulk`, with small nodes) come back to that node's master ID while
/// it is full. The layout made a new node under the same key, replacing the old one and the live
/// entry appended to it below its master, so the length counter (84) no longer matched the node
/// summaries (83) and a reopen, which rebuilds it from them, lost one. The entry now joins the
/// existing node (see `NodeLayout::append`).
#[test]
fn xsetid_in_exec_then_bulk_xadd_keeps_the_length_across_a_reopen() {
    let xadd = |id: IdStep| Op::XAdd {
        db: 0,
        key: 2,
        id,
        fields: vec![(0, vec![])],
        trim: None,
    };
    let ops = vec![
        xadd(IdStep::NextMs(1, 0)),
        Op::SetLimits(2),
        xadd(IdStep::NextMs(3, 0)),
        xadd(IdStep::SameMs(1)),
        xadd(IdStep::NextMs(3, 0)),
        xadd(IdStep::SameMs(1)),
        Op::XDel {
            db: 0,
            key: 2,
            ids: vec![Pick::NodeLast(1)],
        },
        Op::Exec(vec![
            Op::XTrim {
                db: 0,
                key: 2,
                trim: TrimArgs {
                    strat: Strat::MinId(Pick::NodeLast(27)),
                    approx: false,
                    limit: None,
                },
            },
            Op::XSetId {
                db: 0,
                key: 2,
                to: Pick::FromEnd(34),
                entries_added: Some(3),
                max_deleted: None,
            },
        ]),
        Op::Bulk {
            db: 0,
            key: 2,
            n: 84,
            fields: vec![
                (2, vec![56, 55, 52, 52, 56, 57, 56, 57, 53]),
                (4, vec![49, 57, 49, 48, 48, 56, 54, 53, 50, 52]),
            ],
        },
    ];
    run_ops(&ops);
}

/// Found by `store_matches_model` (shrunk): after XSETID lowered the last ID and an XADD
/// appended below the tail node's master ID, that node's last ID is below its master, and the
/// harness's `AfterNodeLive` pick took the range master..=last, which panicked. The store was
/// not at fault; the pick now orders the two.
#[test]
fn after_node_live_on_a_node_whose_last_id_is_below_its_master() {
    let xadd = |id: IdStep, fields: Vec<(usize, Vec<u8>)>, trim: Option<TrimArgs>| Op::XAdd {
        db: 0,
        key: 2,
        id,
        fields,
        trim,
    };
    let ops = vec![
        Op::SetLimits(0),
        Op::Exec(vec![xadd(IdStep::NextMs(1, 0), vec![(0, vec![])], None)]),
        Op::SetLimits(3),
        xadd(IdStep::SameMs(1), vec![(0, vec![])], None),
        Op::Expire {
            db: 0,
            key: 0,
            after: None,
        },
        xadd(IdStep::SameMs(1), vec![(0, vec![])], None),
        Op::Seq(vec![
            Op::XDel {
                db: 0,
                key: 2,
                ids: vec![Pick::NodeLast(0)],
            },
            Op::XTrim {
                db: 0,
                key: 2,
                trim: TrimArgs {
                    strat: Strat::MinId(Pick::AfterNodeLive(0)),
                    approx: false,
                    limit: None,
                },
            },
        ]),
        Op::Seq(vec![
            Op::Bulk {
                db: 1,
                key: 0,
                n: 2,
                fields: vec![(0, b"2598800".to_vec())],
            },
            Op::DrainEnd { disk: false },
            Op::XDel {
                db: 1,
                key: 0,
                ids: vec![Pick::Nth(0), Pick::FromEnd(0)],
            },
            Op::XRange {
                db: 1,
                key: 0,
                from: Some(Pick::Nth(7)),
                to: Some(Pick::FromEnd(15)),
                rev: true,
                count: Some(1),
            },
            Op::XTrim {
                db: 1,
                key: 0,
                trim: TrimArgs {
                    strat: Strat::MaxLen(0),
                    approx: false,
                    limit: None,
                },
            },
        ]),
        Op::XSetId {
            db: 0,
            key: 2,
            to: Pick::FromEnd(0),
            entries_added: Some(3),
            max_deleted: Some(Pick::Nth(49)),
        },
        Op::Exec(vec![xadd(
            IdStep::SameMs(1),
            vec![(3, vec![197, 127, 211, 255, 35])],
            None,
        )]),
        Op::DrainEnd { disk: true },
        xadd(
            IdStep::NextMs(2, 1),
            vec![
                (1, b"-5436697324129464407".to_vec()),
                (0, vec![8, 144]),
                (0, b"-79673278".to_vec()),
            ],
            None,
        ),
        xadd(
            IdStep::SameMs(2),
            vec![
                (1, b"1603378444".to_vec()),
                (4, vec![220, 139, 147, 216, 59, 169]),
            ],
            Some(TrimArgs {
                strat: Strat::MinId(Pick::AfterNodeLive(0)),
                approx: true,
                limit: Some(5),
            }),
        ),
        Op::Reopen,
    ];
    run_ops(&ops);
}

/// Redis lets XSETID lower the last ID below the last, deleted, entries of the tail node (it
/// only checks the last live entry), and the next XADD then appends an ID below the tail
/// node's last ID — here even below its master ID. The layout remembers such entries
/// (`NodeSummary::misplaced`, persisted with the node), so XDEL finds them, before and after
/// a reopen (checked against redis-server 7.0.15 in the compat case
/// `xsetid_below_deleted_node`).
#[test]
fn xsetid_below_deleted_tail_then_xadd() {
    let xadd = || Op::XAdd {
        db: 0,
        key: 2,
        id: IdStep::SameMs(1),
        fields: vec![(0, b"v".to_vec())],
        trim: None,
    };
    let mut ops = vec![Op::SetLimits(2)];
    ops.extend((0..5).map(|_| xadd()));
    ops.extend([
        Op::XDel {
            db: 0,
            key: 2,
            ids: vec![Pick::Raw(0, 5)],
        },
        Op::XTrim {
            db: 0,
            key: 2,
            trim: TrimArgs {
                strat: Strat::MinId(Pick::Raw(0, 5)),
                approx: false,
                limit: None,
            },
        },
        Op::XSetId {
            db: 0,
            key: 2,
            to: Pick::Raw(0, 1),
            entries_added: None,
            max_deleted: None,
        },
        xadd(),
        Op::Reopen,
        xadd(),
        Op::XDel {
            db: 0,
            key: 2,
            ids: vec![Pick::Raw(0, 2)],
        },
        Op::Reopen,
        Op::XTrim {
            db: 0,
            key: 2,
            trim: TrimArgs {
                strat: Strat::MaxLen(0),
                approx: false,
                limit: None,
            },
        },
        Op::Reopen,
    ]);
    let mut h = Harness::new();
    h.xsetid_below_tail = true;
    for op in &ops {
        h.run(op);
    }
}

/// The minimal failing sequence of `store_matches_model` (about one run in 12 failed): XGet
/// read entry 0-1 from the stream's open run and the run cache kept that copy of the run; the
/// next XADD went on filling the same run, and a range from 0-1 then sought through the cache,
/// got the stale copy (0-1 only) and went on after its key, skipping 0-2. The RENAME and the
/// atomic section were incidental (the variant without either failed the same way); both are
/// kept as found, with the plain one.
#[test]
fn range_from_inside_an_open_run_read_before_an_append() {
    let xadd = |key| Op::XAdd {
        db: 0,
        key,
        id: IdStep::SameMs(1),
        fields: vec![(0, b"v".to_vec())],
        trim: None,
    };
    let range = Op::XRange {
        db: 0,
        key: 2,
        from: Some(Pick::Nth(2)),
        to: None,
        rev: false,
        count: None,
    };
    run_ops(&[
        Op::SetLimits(0),
        xadd(1),
        Op::XGet {
            db: 0,
            key: 1,
            id: Pick::Nth(0),
        },
        Op::Rename {
            db: 0,
            src: 1,
            dst: 2,
        },
        xadd(2),
        Op::Exec(vec![range.clone()]),
    ]);
    run_ops(&[
        xadd(2),
        Op::XGet {
            db: 0,
            key: 2,
            id: Pick::Nth(0),
        },
        xadd(2),
        range,
    ]);
}
