//! Salvage: reads every record of a possibly damaged database without stopping at the damage,
//! and writes what it read into a fresh store through the normal write path (`sluice repair`),
//! or only counts it (`sluice check`).
//!
//! Owns the tolerant scan — a range read that, when a block fails its checksum, finds by
//! bisection over the key space where readable data resumes and goes on — and the mapping of
//! Sluice's records (key records, node records, group records, entry runs) to the streams and
//! keys the report names. What is carried: string keys; streams with their entries, IDs and
//! counters; consumer groups with their consumers, PELs (delivery times and counts, XQ.NACK
//! due times, holds of delayed entries, the XNACK zone) and queue settings and counters
//! (`XQ.CONFIG`); delayed entries (`XQ.ADD`) and retention (`XQ.RETENTION`); IDMP windows;
//! function libraries (their records as they are); and the job store, read and restored by
//! `jobs/salvage.rs` (job records and bodies, queue records, node ID; its indexes rebuilt).
//!
//! Why bisection: a failed block load ends fjall's merged iterator (lsm-tree's `Merger` drops
//! the source that failed), and nothing in fjall's API says where the damaged block ends. A new
//! range read starting at key `k` fails while `k` falls in (or just before) the damaged block
//! and succeeds past it, so the first key past the damage is found in at most 8 probes per key
//! byte (keys are compared on their first [`PROBE_WIDTH`] bytes).
//!
//! Invariants: the source is only read (the tools run it on a shadow copy, see
//! `crate::repair`); the target is written only through `Store`'s write path (its public
//! methods, and the narrow `restore_*` ones of `GroupMut` and `Jobs` that stage like every
//! other change), so its node layouts, lengths, PEL logs and the job store's queue and timer
//! indexes, queue lengths and job count are rebuilt from what was read and agree with it even
//! where the source's no longer did. Every record that could not be read or decoded is named
//! in [`Findings::damage`].

use std::collections::{BTreeMap, HashMap as StdHashMap, HashSet as StdHashSet};

use bytes::Bytes;
use fjall::Keyspace;

use super::functions::TAG_FUNCTION;
use super::{
    decode_entry, run, Result, Store, StoreError, Sync, DATA_FORMAT, FORMAT_KEY, JOBS_KEYSPACE_KEY,
    JOBS_SPLIT, TAG_DEAD, TAG_KEY,
};
use crate::check::show_bytes;
use crate::keydir::{Entry, Value};
use crate::stream::group::UNOWNED;
use crate::stream::layout::NodeLimits;
use crate::stream::{entry, StreamId, StreamMeta};

/// Keys are bisected on this many leading bytes (longer keys resume at that granularity).
const PROBE_WIDTH: usize = 64;
/// Entries the target stages between two commits.
pub(crate) const COMMIT_EVERY: u64 = 8192;
/// The database orphaned entries are restored into, and their key prefix.
const ORPHAN_DB: usize = 0;
pub const ORPHAN_PREFIX: &str = "sluice-orphan:";
/// Where directories from before keyspace `jobs` kept job records, in `keys`.
const LEGACY_JOBS: ([u8; 1], [u8; 1]) = ([0x10], [0x16]);

/// A stretch of keys a scan could not read: after `after` (from the scan's start if `None`)
/// up to `resumed` (to the scan's end if `None`).
#[derive(Debug)]
pub(crate) struct Gap {
    pub after: Option<Vec<u8>>,
    pub resumed: Option<Vec<u8>>,
    pub error: String,
}

/// Reads `start..end` of `ks` in key order, calling `visit` for every readable record, and
/// returns the stretches it had to skip.
pub(crate) fn scan(
    ks: &Keyspace,
    start: &[u8],
    end: &[u8],
    mut visit: impl FnMut(&[u8], fjall::Slice),
) -> Vec<Gap> {
    let mut gaps = Vec::new();
    let mut from = start.to_vec();
    let mut last: Option<Vec<u8>> = None;
    loop {
        let mut failed = None;
        for guard in ks.range(from.clone()..end.to_vec()) {
            match guard.into_inner() {
                Ok((k, v)) => {
                    visit(&k, v);
                    last = Some(k.to_vec());
                }
                Err(e) => {
                    failed = Some(e);
                    break;
                }
            }
        }
        let Some(e) = failed else { return gaps };
        let lo = match &last {
            Some(k) if k.as_slice() >= from.as_slice() => successor(k),
            _ => from.clone(),
        };
        let resumed = resume_point(ks, &lo, end);
        gaps.push(Gap {
            after: last.clone(),
            resumed: resumed.clone(),
            error: e.to_string(),
        });
        match resumed {
            Some(k) => from = k,
            None => return gaps,
        }
    }
}

/// The smallest key greater than `k`.
pub(crate) fn successor(k: &[u8]) -> Vec<u8> {
    let mut s = k.to_vec();
    s.push(0);
    s
}

/// What a read from `k` to `end` meets first.
enum Probe {
    Damaged,
    Readable,
    Nothing,
}

fn probe(ks: &Keyspace, k: &[u8], end: &[u8]) -> Probe {
    match ks.range(k.to_vec()..end.to_vec()).next() {
        None => Probe::Nothing,
        Some(g) => match g.into_inner() {
            Ok(_) => Probe::Readable,
            Err(_) => Probe::Damaged,
        },
    }
}

/// The first key after `lo` (where a read fails) from which a read succeeds, `None` if nothing
/// readable is left before `end`.
fn resume_point(ks: &Keyspace, lo: &[u8], end: &[u8]) -> Option<Vec<u8>> {
    let width = lo.len().max(end.len()).clamp(1, PROBE_WIDTH);
    // Fixed-width big-endian numbers; `lo` rounded up if it had to be cut.
    let mut a = fit(lo, width);
    if lo.len() > width {
        increment(&mut a)?;
    }
    if !matches!(probe(ks, &a, end), Probe::Damaged) {
        return Some(a);
    }
    let b = fit(end, width);
    if b <= a {
        return None;
    }
    let (mut bad, mut good) = (a, b);
    loop {
        let mid = midpoint(&bad, &good);
        if mid == bad {
            break;
        }
        match probe(ks, &mid, end) {
            Probe::Damaged => bad = mid,
            Probe::Readable | Probe::Nothing => good = mid,
        }
    }
    (good.as_slice() < end).then_some(good)
}

fn fit(k: &[u8], width: usize) -> Vec<u8> {
    let mut v = k[..k.len().min(width)].to_vec();
    v.resize(width, 0);
    v
}

/// Adds one; `None` on overflow.
fn increment(v: &mut [u8]) -> Option<()> {
    for b in v.iter_mut().rev() {
        let (n, carry) = b.overflowing_add(1);
        *b = n;
        if !carry {
            return Some(());
        }
    }
    None
}

/// `(a + b) / 2` of two equally wide big-endian numbers.
fn midpoint(a: &[u8], b: &[u8]) -> Vec<u8> {
    let mut sum = vec![0u8; a.len() + 1];
    let mut carry = 0u16;
    for i in (0..a.len()).rev() {
        let s = u16::from(a[i]) + u16::from(b[i]) + carry;
        sum[i + 1] = s as u8;
        carry = s >> 8;
    }
    sum[0] = carry as u8;
    let mut out = vec![0u8; a.len()];
    for i in 0..a.len() {
        out[i] = (sum[i + 1] >> 1) | (sum[i] << 7);
    }
    out
}

/// What the salvage found, for the report.
#[derive(Debug, Default)]
pub struct Findings {
    /// Records or files that could not be read: each line names the key, stream or file.
    pub damage: Vec<String>,
    /// Things worth knowing that lose nothing the server had acknowledged as intact.
    pub warnings: Vec<String>,
}

/// What was readable.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    pub strings: u64,
    pub streams: u64,
    pub entries: u64,
    pub groups: u64,
    pub pending: u64,
    /// Entries of stream incarnations no key record names (their key record was lost).
    pub orphan_entries: u64,
    /// Jobs of the job store (`crate::jobs`), and its queues (with a record or a queued job).
    pub jobs: u64,
    pub job_queues: u64,
    /// Jobs known to be lost (named by an index, timer or body record, or undecodable).
    pub lost_jobs: u64,
    /// Function libraries (FUNCTION LOAD).
    pub functions: u64,
}

/// One stream of the source.
struct StreamRec {
    db: usize,
    name: Bytes,
    meta: Box<StreamMeta>,
    /// Live entries per its node records, if those were readable.
    expected: Option<u64>,
    read: u64,
    last_appended: Option<StreamId>,
}

fn describe_key(k: &[u8]) -> String {
    match k {
        [TAG_KEY, db, name @ ..] => format!("key {} (db {db})", show_bytes(name)),
        other => show_bytes(other),
    }
}

fn stream_label(db: usize, name: &[u8]) -> String {
    format!("stream {} (db {db})", show_bytes(name))
}

/// Reads everything readable from `src` (a store built on the source database, nothing
/// loaded) and, with `dst`, writes it there. `Err` only when the source cannot be salvaged at
/// all (another data format) or the target fails.
pub(crate) fn salvage(
    src: &mut Store,
    mut dst: Option<&mut Store>,
    out: &mut Findings,
) -> Result<Counts> {
    let mut counts = Counts::default();
    // The data format.
    let mut format = None;
    let gaps = scan(&src.keys, FORMAT_KEY, &successor(FORMAT_KEY), |_, v| {
        format = Some(v.to_vec())
    });
    for g in gaps {
        out.damage.push(format!(
            "the data format marker could not be read ({}); assuming format {DATA_FORMAT}",
            g.error
        ));
    }
    match format.as_deref().map(<[u8; 4]>::try_from) {
        Some(Ok(f)) if u32::from_be_bytes(f) == DATA_FORMAT => {}
        Some(Ok(f)) => {
            return Err(StoreError::Corrupt(format!(
                "the database has data format {}, this build reads {DATA_FORMAT}: salvage it \
                 with the Sluice build that wrote it",
                u32::from_be_bytes(f)
            )))
        }
        Some(Err(_)) => out.damage.push(format!(
            "the data format marker holds {}, not a format number; assuming format \
             {DATA_FORMAT}",
            show_bytes(format.as_deref().unwrap_or_default())
        )),
        None => out.warnings.push(format!(
            "no data format marker: the record was lost, or the database is empty; assuming \
             format {DATA_FORMAT}"
        )),
    }

    // Key records.
    let mut streams: Vec<StreamRec> = Vec::new();
    let mut strings: Vec<(usize, Bytes, Entry)> = Vec::new();
    // The database of each slot (SWAPDB's map, see `DB_MAP_KEY`).
    let map = super::read_db_map(&src.keys, src.dirs.len()).unwrap_or_else(|e| {
        out.damage.push(format!(
            "the database map could not be read ({e}); databases are taken as stored"
        ));
        (0..src.dirs.len()).map(|d| d as u8).collect()
    });
    let owners = super::slot_owners(&map);
    let gaps = scan(&src.keys, &[TAG_KEY], &[TAG_KEY + 1], |k, v| {
        let (db, name) = match k {
            [_, slot, name @ ..] => (
                owners[usize::from(*slot)].unwrap_or(usize::from(*slot)),
                Bytes::copy_from_slice(name),
            ),
            _ => {
                out.damage.push(format!(
                    "a key record with a malformed key {}",
                    show_bytes(k)
                ));
                return;
            }
        };
        match decode_entry(&v) {
            Some(Entry {
                value: Value::Stream(meta),
                ..
            }) => streams.push(StreamRec {
                db,
                name,
                meta,
                expected: None,
                read: 0,
                last_appended: None,
            }),
            Some(e) => strings.push((db, name, e)),
            None => out.damage.push(format!(
                "the record of {} does not decode: the key is lost",
                describe_key(k)
            )),
        }
    });
    for g in gaps {
        out.damage.push(format!(
            "key records from {} to {} could not be read ({}): those keys are lost (their \
             streams' entries are restored as {ORPHAN_PREFIX}<incarnation> where readable)",
            g.after
                .as_deref()
                .map_or("the first key".into(), describe_key),
            g.resumed
                .as_deref()
                .map_or("the last key".into(), describe_key),
            g.error
        ));
    }
    for (db, name, e) in strings {
        counts.strings += 1;
        if let Some(d) = dst.as_deref_mut() {
            d.put(db, name, e);
        }
    }
    // Expired keys keep their expiry: the server drops them when it loads.

    // Dead incarnations (DEL'd, being reaped): their entries are not salvaged.
    let mut dead = StdHashSet::new();
    let gaps = scan(&src.keys, &[TAG_DEAD], &[TAG_DEAD + 1], |k, _| {
        if let Some(sid) = k.get(1..9).and_then(|b| b.try_into().ok()) {
            dead.insert(u64::from_be_bytes(sid));
        }
    });
    for g in gaps {
        out.warnings.push(format!(
            "markers of deleted streams could not be read ({}): entries of streams deleted \
             before the damage may come back as {ORPHAN_PREFIX}<incarnation>",
            g.error
        ));
    }

    // Node records and groups, per stream; the streams are created in the target.
    let mut by_sid: StdHashMap<u64, usize> = StdHashMap::new();
    for (i, s) in streams.iter_mut().enumerate() {
        let sid = s.meta.sid;
        by_sid.insert(sid, i);
        match src.load_layout(sid) {
            Ok(layout) => s.expected = Some(layout.len()),
            Err(e) => out.damage.push(format!(
                "{}: its node records (keyspace smeta) could not be read ({e}); its entries \
                 are restored from what is readable",
                stream_label(s.db, &s.name)
            )),
        }
        if let Err(e) = src.load_groups(&mut s.meta) {
            out.damage.push(format!(
                "{}: its consumer groups (keyspace smeta) could not be read ({e}) and are lost",
                stream_label(s.db, &s.name)
            ));
            s.meta.groups.clear();
        }
        if let Err(e) = src.load_idmp(&mut s.meta) {
            out.damage.push(format!(
                "{}: its IDMP window (keyspace smeta) could not be read ({e}) and is lost",
                stream_label(s.db, &s.name)
            ));
            s.meta.idmp = None;
        }
        counts.streams += 1;
        if let Some(d) = dst.as_deref_mut() {
            d.stream_create(s.db, s.name.clone());
        }
    }

    // Entries, in key order: stream by stream, ID by ID.
    // Per orphaned incarnation: entries read, the last ID, the name it is restored under.
    let mut orphans: BTreeMap<u64, (u64, Option<StreamId>, Bytes)> = BTreeMap::new();
    let mut staged = 0u64;
    let mut write_error: Option<StoreError> = None;
    let entries_ks = src.entries.clone();
    let gaps = scan(&entries_ks, &[], &[0xFF; 25], |k, v| {
        if write_error.is_some() {
            return;
        }
        let (Some(sid), Some(key_id)) = (
            k.get(..8)
                .and_then(|b| b.try_into().ok())
                .map(u64::from_be_bytes),
            k.get(8..).and_then(StreamId::from_be_bytes),
        ) else {
            out.damage.push(format!(
                "an entry run with a malformed key {}",
                show_bytes(k)
            ));
            return;
        };
        if dead.contains(&sid) {
            return;
        }
        let ids = match run::decode(key_id, &v) {
            Ok(ids) => ids,
            Err(e) => {
                let what = match by_sid.get(&sid) {
                    Some(&i) => stream_label(streams[i].db, &streams[i].name),
                    None => format!("stream incarnation {sid}"),
                };
                out.damage.push(format!(
                    "{what}: the run of entries from ID {key_id} does not decode ({e}): its \
                     entries are lost"
                ));
                return;
            }
        };
        for (id, range) in ids {
            let Some(raw) = v.get(range) else { continue };
            let Some(fields) = entry::decode(raw) else {
                out.damage.push(format!(
                    "stream incarnation {sid}: entry {id} does not decode and is lost"
                ));
                continue;
            };
            let fields: Vec<Bytes> = fields.into_iter().map(Bytes::copy_from_slice).collect();
            let target = match by_sid.get(&sid) {
                Some(&i) => {
                    let s = &mut streams[i];
                    if s.last_appended.is_some_and(|l| id <= l) {
                        continue;
                    }
                    s.read += 1;
                    s.last_appended = Some(id);
                    counts.entries += 1;
                    (s.db, s.name.clone())
                }
                None => {
                    let o = orphans.entry(sid).or_insert_with(|| {
                        // A name no salvaged key has.
                        let mut name = Bytes::from(format!("{ORPHAN_PREFIX}{sid}"));
                        if let Some(d) = dst.as_deref_mut() {
                            let mut n = 1;
                            while d.dirs[ORPHAN_DB].get(&name).is_some() {
                                name = Bytes::from(format!("{ORPHAN_PREFIX}{sid}-{n}"));
                                n += 1;
                            }
                            d.stream_create(ORPHAN_DB, name.clone());
                        }
                        (0, None, name)
                    });
                    if o.1.is_some_and(|l| id <= l) {
                        continue;
                    }
                    o.0 += 1;
                    o.1 = Some(id);
                    counts.orphan_entries += 1;
                    (ORPHAN_DB, o.2.clone())
                }
            };
            if let Some(d) = dst.as_deref_mut() {
                d.stream_append(target.0, &target.1, id, &fields, NodeLimits::default(), 0);
                d.end_command();
                staged += 1;
                if staged.is_multiple_of(COMMIT_EVERY) {
                    if let Err(e) = d.commit().and_then(|()| d.persist(Sync::Os)) {
                        write_error = Some(e);
                        return;
                    }
                }
            }
        }
    });
    if let Some(e) = write_error {
        return Err(e);
    }
    let label_of = |k: &[u8]| -> String {
        // A resume point found by bisection may be longer or shorter than a run key.
        let mut k24 = [0u8; 24];
        let n = k.len().min(24);
        k24[..n].copy_from_slice(&k[..n]);
        let sid = k24
            .get(..8)
            .and_then(|b| b.try_into().ok())
            .map(u64::from_be_bytes);
        let id = k24.get(8..).and_then(StreamId::from_be_bytes);
        match (sid, id) {
            (Some(sid), Some(id)) => match by_sid.get(&sid) {
                Some(&i) => format!("{} ID {id}", stream_label(streams[i].db, &streams[i].name)),
                None => format!("stream incarnation {sid} ID {id}"),
            },
            _ => show_bytes(k),
        }
    };
    for g in gaps {
        out.damage.push(format!(
            "entries from {} to {} could not be read ({})",
            g.after
                .as_deref()
                .map_or("the first entry".into(), label_of),
            g.resumed
                .as_deref()
                .map_or("the last entry".into(), label_of),
            g.error
        ));
    }
    let restored = if dst.is_some() {
        "restored"
    } else {
        "restorable"
    };
    for (sid, (n, _, name)) in orphans.iter().take(5) {
        out.damage.push(format!(
            "{n} readable entries belong to stream incarnation {sid}, whose key record is lost: \
             {restored} as stream {} in db {ORPHAN_DB}",
            String::from_utf8_lossy(name)
        ));
    }
    if orphans.len() > 5 {
        let rest: u64 = orphans.values().skip(5).map(|(n, _, _)| n).sum();
        out.damage.push(format!(
            "{rest} readable entries belong to {} more stream incarnations whose key record is \
             lost: {restored} as streams {ORPHAN_PREFIX}<incarnation> in db {ORPHAN_DB}",
            orphans.len() - 5
        ));
    }

    // Stream metadata and groups.
    for s in &streams {
        if let Some(expected) = s.expected {
            if s.read < expected {
                out.damage.push(format!(
                    "{}: {} of its {expected} entries could not be read",
                    stream_label(s.db, &s.name),
                    expected - s.read
                ));
            }
        }
        counts.groups += s.meta.groups.len() as u64;
        counts.pending += s
            .meta
            .groups
            .values()
            .map(|g| g.pel.len() as u64)
            .sum::<u64>();
        let Some(d) = dst.as_deref_mut() else {
            continue;
        };
        if let Ok(Some(m)) = d.stream_mut(s.db, &s.name, 0) {
            m.last_id = s
                .last_appended
                .map_or(s.meta.last_id, |l| l.max(s.meta.last_id));
            m.max_deleted = s.meta.max_deleted;
            m.entries_added = s.meta.entries_added.max(s.read);
        }
        if let Some(w) = s.meta.idmp.as_deref() {
            d.idmp_restore(s.db, &s.name, w);
        }
        for (gname, g) in &s.meta.groups {
            d.create_group(s.db, &s.name, gname.clone(), g.last_id, g.entries_read);
            if let Some(mut ng) = d.group_mut(s.db, &s.name, gname) {
                let mut cids = StdHashMap::new();
                for c in g.consumers.values() {
                    cids.insert(c.cid, ng.restore_consumer(c));
                }
                for (id, nack) in &g.pel {
                    if nack.cid == UNOWNED {
                        // Held (a delayed entry a `>` read passed, due later); entries
                        // released by XNACK follow below.
                        if nack.nseq == 0 {
                            ng.restore_pending(*id, UNOWNED, nack);
                        }
                    } else if let Some(&cid) = cids.get(&nack.cid) {
                        ng.restore_pending(*id, cid, nack);
                    }
                }
                // Entries released by XNACK, in the NACK zone's order.
                for id in g.nacked.values() {
                    if let Some(nack) = g.pel.get(id) {
                        ng.restore_nacked(*id, nack);
                    }
                }
                // A queue group (XQ.CONFIG): settings and counters; its deadline indexes are
                // rebuilt over the PEL restored above.
                if let Some(q) = g.queue.as_deref() {
                    ng.restore_queue(q);
                }
            }
        }
        // Entries added with a delay (XQ.ADD), and the retention policy (XQ.RETENTION).
        for (id, due) in &s.meta.groups.delayed {
            d.add_delay(s.db, &s.name, *id, *due);
        }
        if let Some(policy) = s.meta.groups.retention {
            d.set_retention(s.db, &s.name, Some(policy));
        }
    }

    salvage_functions(src, dst.as_deref_mut(), out, &mut counts);

    // The job store: its own keyspace, and `keys` in directories from before it (whose job
    // records the first open would have moved).
    let spaces = src.jobs.spaces().clone();
    let mut sources: Vec<_> = spaces
        .all()
        .map(|(name, ks)| crate::jobs::salvage::Source { ks, name })
        .collect();
    let legacy = matches!(
        src.keys
            .range(LEGACY_JOBS.0..LEGACY_JOBS.1)
            .next()
            .map(|g| g.into_inner()),
        Some(Ok(_))
    );
    if legacy {
        out.warnings.push(
            "job records are in keyspace `keys` (a directory from before keyspace `jobs`): \
             they are read there"
                .into(),
        );
        sources.push(crate::jobs::salvage::Source {
            ks: &src.keys,
            name: "keys",
        });
    }
    crate::jobs::salvage::salvage(&sources, dst.as_deref_mut(), out, &mut counts, now_ms())?;
    if let Some(d) = dst {
        d.commit()?;
        d.persist(Sync::Os)?;
    }
    Ok(counts)
}

/// Now, Unix ms (a queue whose record was lost is created with this time).
fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Function libraries (FUNCTION LOAD): their records carried as they are (source text; the
/// server compiles them again at start).
fn salvage_functions(
    src: &Store,
    mut dst: Option<&mut Store>,
    out: &mut Findings,
    counts: &mut Counts,
) {
    let gaps = scan(&src.keys, &[TAG_FUNCTION], &[TAG_FUNCTION + 1], |k, v| {
        counts.functions += 1;
        if let Some(d) = dst.as_deref_mut() {
            d.stage_function_library(&k[1..], Some(&v));
        }
    });
    let name = |k: Option<&[u8]>, end: &str| {
        k.map_or(end.to_string(), |k| {
            format!("library {}", show_bytes(k.get(1..).unwrap_or_default()))
        })
    };
    for g in gaps {
        out.damage.push(format!(
            "function library records from {} to {} could not be read ({}): those libraries \
             are lost",
            name(g.after.as_deref(), "the first library"),
            name(g.resumed.as_deref(), "the last library"),
            g.error
        ));
    }
}

/// True when `keys` records that the directory had a `jobs` keyspace (so a missing one was
/// lost, not never made).
pub(crate) fn jobs_keyspace_was_made(src: &Store) -> bool {
    jobs_marker(src).is_some()
}

/// True when `keys` records that the directory had the job store's five keyspaces
/// (`jobs/spaces.rs`), so a missing one was lost, not never made.
pub(crate) fn jobs_split_was_made(src: &Store) -> bool {
    jobs_marker(src) == Some(Some(JOBS_SPLIT))
}

/// The job-keyspace marker: `None` if absent, `Some(None)` if unreadable or malformed.
fn jobs_marker(src: &Store) -> Option<Option<u8>> {
    let mut found = None;
    let gaps = scan(
        &src.keys,
        JOBS_KEYSPACE_KEY,
        &successor(JOBS_KEYSPACE_KEY),
        |_, v| found = Some(<[u8; 1]>::try_from(&v[..]).ok().map(|b| b[0])),
    );
    found.or((!gaps.is_empty()).then_some(None))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn midpoints_and_increments() {
        assert_eq!(midpoint(&[0, 0], &[0, 4]), vec![0, 2]);
        assert_eq!(midpoint(&[0, 255], &[1, 1]), vec![1, 0]);
        assert_eq!(midpoint(&[255, 255], &[255, 255]), vec![255, 255]);
        let mut v = vec![0, 255];
        increment(&mut v).expect("no overflow");
        assert_eq!(v, vec![1, 0]);
        assert!(increment(&mut [255, 255]).is_none());
    }
}
