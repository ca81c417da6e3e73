//! Persistence of idempotent-producer windows (`stream::idmp`): records in the `smeta`
//! keyspace under the stream's incarnation, staged in the same batch as the XADD or XCFGSET
//! that changed them, so after a crash (kill -9, `appendfsync always`) the window holds
//! exactly the iids of the entries that survived.
//!
//! * `sid ‖ 0x20 ‖ 0x00` → header ([`Idmp::encode_header`], 44 bytes): settings, lifetime
//!   counters, allocators. Present iff the stream has a window.
//! * `sid ‖ 0x20 ‖ 0x01 ‖ pno u32` → the producer's name (its pid bytes).
//! * `sid ‖ 0x20 ‖ 0x02 ‖ pno u32 ‖ seq u64` → one remembered iid ([`IidRec::encode`], 40
//!   bytes): digest, entry ID, insertion time. Key order = insertion order per producer.
//!
//! Tag `0x20` is free in `smeta` (nodes use 0x01, groups 0x02–0x08). Deleting the stream (DEL,
//! expiry, FLUSHALL, an overwrite) drops the window with the incarnation: staged records are
//! forgotten with the rest of the `sid` prefix and the reaper deletes the committed ones;
//! RENAME keeps the incarnation, so the window moves with the stream.
//!
//! Disk cost: an iid is one 22-byte key and a 40-byte value (before fjall's prefix
//! compression and block compression), written once when added and removed by a tombstone when
//! it leaves the window (pushed out, expired or cleared by XCFGSET) — or neither, when it
//! leaves the window before the commit that would have written it. The header is rewritten
//! by every IDMP XADD (the map of staged writes keeps the last, so once per commit).

use bytes::Bytes;

use super::{Result, Store, StoreError};
use crate::keydir::Value;
use crate::stream::idmp::{Idmp, IdmpOp, IidRec};
use crate::stream::{StreamId, StreamMeta};

const TAG_IDMP: u8 = 0x20;
const SUB_HEADER: u8 = 0x00;
const SUB_PRODUCER: u8 = 0x01;
const SUB_IID: u8 = 0x02;

fn prefix(sid: u64, sub: Option<u8>) -> Vec<u8> {
    let mut k = Vec::with_capacity(22);
    k.extend_from_slice(&sid.to_be_bytes());
    k.push(TAG_IDMP);
    if let Some(s) = sub {
        k.push(s);
    }
    k
}

fn producer_key(sid: u64, pno: u32) -> Vec<u8> {
    let mut k = prefix(sid, Some(SUB_PRODUCER));
    k.extend_from_slice(&pno.to_be_bytes());
    k
}

fn iid_key(sid: u64, pno: u32, seq: u64) -> Vec<u8> {
    let mut k = prefix(sid, Some(SUB_IID));
    k.extend_from_slice(&pno.to_be_bytes());
    k.extend_from_slice(&seq.to_be_bytes());
    k
}

/// Streams with an IDMP window, by incarnation, for [`Store::idmp_cron`]: a round robin over
/// them expires the windows of streams no IDMP write visits any more. Best effort: an entry may
/// name a stream renamed or deleted since (the pass drops it; a renamed stream is noted again
/// by its next IDMP write); correctness never depends on it, since lookups check the clock.
#[derive(Default, Debug)]
pub(super) struct IdmpStreams {
    by_sid: std::collections::BTreeMap<u64, (usize, Bytes)>,
    cursor: u64,
}

impl IdmpStreams {
    pub(super) fn note(&mut self, sid: u64, db: usize, key: &[u8]) {
        self.by_sid
            .entry(sid)
            .or_insert_with(|| (db, Bytes::copy_from_slice(key)));
    }

    /// Forgets where a stream was (MOVE, RENAME: it is noted under its new name).
    pub(super) fn forget(&mut self, sid: u64) {
        self.by_sid.remove(&sid);
    }

    /// SWAPDB: every stream noted in one database is now in `remap(db)`.
    pub(super) fn remap_dbs(&mut self, remap: impl Fn(usize) -> usize) {
        for (db, _) in self.by_sid.values_mut() {
            *db = remap(*db);
        }
    }
}

/// Streams one [`Store::idmp_cron`] visits at most, and iids it expires in each at most.
pub const IDMP_CRON_STREAMS: usize = 16;
pub const IDMP_CRON_EXPIRE: usize = 256;

/// The settings a stream's window starts with (the server's `stream-idmp-duration` and
/// `stream-idmp-maxsize` when the window is created).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IdmpDefaults {
    pub duration_s: u64,
    pub maxsize: u64,
}

impl Default for IdmpDefaults {
    fn default() -> Self {
        IdmpDefaults {
            duration_s: crate::stream::idmp::DURATION_DEFAULT,
            maxsize: crate::stream::idmp::MAXSIZE_DEFAULT,
        }
    }
}

/// What XINFO STREAM shows of a window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IdmpInfo {
    pub duration_s: u64,
    pub maxsize: u64,
    pub pids_tracked: u64,
    pub iids_tracked: u64,
    pub iids_added: u64,
    pub iids_duplicates: u64,
}

impl IdmpInfo {
    pub fn of(meta: &StreamMeta) -> Option<IdmpInfo> {
        let w = meta.idmp.as_deref()?;
        Some(IdmpInfo {
            duration_s: w.duration_s,
            maxsize: w.maxsize,
            pids_tracked: w.pids_tracked() as u64,
            iids_tracked: w.tracked,
            iids_added: w.iids_added,
            iids_duplicates: w.iids_duplicates,
        })
    }
}

impl Store {
    fn stage_idmp(&mut self, sid: u64, header: Vec<u8>, ops: Vec<IdmpOp>) {
        let mut header_changed = false;
        for op in ops {
            match op {
                IdmpOp::PutProducer(pno, pid) => {
                    self.pending_smeta
                        .insert(producer_key(sid, pno), Some(pid.to_vec()));
                }
                IdmpOp::DelProducer(pno) => {
                    self.pending_smeta.insert(producer_key(sid, pno), None);
                }
                IdmpOp::PutIid(pno, rec) => {
                    self.pending_smeta
                        .insert(iid_key(sid, pno, rec.seq), Some(rec.encode().to_vec()));
                }
                IdmpOp::DelIid(pno, seq) => {
                    // Every iid key is written once (its `seq` is never reused): if its write
                    // is still staged, nothing of it is on disk, and dropping the staged write
                    // is the whole deletion. An iid pushed out in the drain that added it
                    // (a busy producer) then costs no write at all.
                    let k = iid_key(sid, pno, seq);
                    match self.pending_smeta.get(&k) {
                        Some(Some(_)) => {
                            self.pending_smeta.remove(&k);
                        }
                        _ => {
                            self.pending_smeta.insert(k, None);
                        }
                    }
                }
                IdmpOp::Header => header_changed = true,
            }
        }
        if header_changed {
            self.pending_smeta
                .insert(prefix(sid, Some(SUB_HEADER)), Some(header));
        }
    }

    /// Runs `f` on the window of the stream at `key` (creating it with `defaults` if `create`)
    /// and stages what it changed. `None` if there is no such stream, or no window and not
    /// `create`.
    fn with_idmp<T>(
        &mut self,
        db: usize,
        key: &[u8],
        create: Option<IdmpDefaults>,
        f: impl FnOnce(&mut Idmp, &mut Vec<IdmpOp>) -> T,
    ) -> Option<T> {
        let Some(Value::Stream(meta)) = self.dirs.get_mut(db)?.get_mut(key).map(|e| &mut e.value)
        else {
            return None;
        };
        let sid = meta.sid;
        let mut ops = Vec::new();
        if meta.idmp.is_none() {
            let d = create?;
            meta.idmp = Some(Box::new(Idmp::new(d.duration_s, d.maxsize)));
            ops.push(IdmpOp::Header);
        }
        let w = meta.idmp.as_deref_mut()?;
        let out = f(w, &mut ops);
        let header = w.encode_header();
        self.idmp_streams.note(sid, db, key);
        self.stage_idmp(sid, header, ops);
        Some(out)
    }

    /// The periodic expiry pass: visits up to `streams` streams with a window (round robin)
    /// and expires up to `budget` iids in each (oldest first). Returns the iids expired.
    pub fn idmp_cron(&mut self, now_ms: u64, streams: usize, budget: usize) -> usize {
        let visit: Vec<(u64, usize, Bytes)> = {
            let s = &self.idmp_streams;
            s.by_sid
                .range(s.cursor..)
                .chain(s.by_sid.range(..s.cursor))
                .take(streams)
                .map(|(sid, (db, k))| (*sid, *db, k.clone()))
                .collect()
        };
        let mut expired = 0;
        for (sid, db, key) in visit {
            self.idmp_streams.cursor = sid.saturating_add(1);
            let Some(Value::Stream(meta)) = self
                .dirs
                .get_mut(db)
                .and_then(|d| d.get_mut(&key))
                .map(|e| &mut e.value)
            else {
                self.idmp_streams.by_sid.remove(&sid);
                continue;
            };
            if meta.sid != sid {
                self.idmp_streams.by_sid.remove(&sid);
                continue;
            }
            let Some(w) = meta.idmp.as_deref_mut() else {
                self.idmp_streams.by_sid.remove(&sid);
                continue;
            };
            let before = w.tracked;
            let mut ops = Vec::new();
            w.expire(now_ms, budget, &mut ops);
            let n = (before - w.tracked) as usize;
            if n > 0 {
                expired += n;
                let header = w.encode_header();
                self.stage_idmp(sid, header, ops);
            }
        }
        expired
    }

    /// `XADD … IDMP`: the entry that `pid`'s iid (digest `iid`) added, if it is still in the
    /// stream's window (a duplicate is counted). Expires a bounded number of old iids.
    pub fn idmp_lookup(
        &mut self,
        db: usize,
        key: &[u8],
        pid: &[u8],
        iid: u128,
        now_ms: u64,
    ) -> Option<StreamId> {
        self.with_idmp(db, key, None, |w, ops| w.lookup(pid, iid, now_ms, ops))
            .flatten()
    }

    /// `XADD … IDMP`, after the entry `id` was appended: remembers it for `pid`'s iid. Creates
    /// the stream's window with `defaults` if it has none. False if there is no such stream.
    #[allow(clippy::too_many_arguments)]
    pub fn idmp_insert(
        &mut self,
        db: usize,
        key: &[u8],
        pid: &Bytes,
        iid: u128,
        id: StreamId,
        now_ms: u64,
        defaults: IdmpDefaults,
    ) -> bool {
        self.with_idmp(db, key, Some(defaults), |w, ops| {
            w.insert(pid, iid, id, now_ms, ops)
        })
        .is_some()
    }

    /// XIDMPRECORD: remembers that `pid`'s iid added entry `id` (counted as added), unless it
    /// is already in the window: `Ok(())` if with this same entry, `Err(other)` if with
    /// another. The caller checked that the stream and the entry exist.
    #[allow(clippy::too_many_arguments)]
    pub fn idmp_record(
        &mut self,
        db: usize,
        key: &[u8],
        pid: &Bytes,
        iid: u128,
        id: StreamId,
        now_ms: u64,
        defaults: IdmpDefaults,
    ) -> std::result::Result<(), StreamId> {
        self.with_idmp(db, key, Some(defaults), |w, ops| {
            match w.peek(pid, iid, now_ms) {
                Some(have) if have == id => Ok(()),
                Some(other) => Err(other),
                None => {
                    w.insert(pid, iid, id, now_ms, ops);
                    Ok(())
                }
            }
        })
        .unwrap_or(Ok(()))
    }

    /// XCFGSET: sets the window's duration and/or maxsize (creating the window with
    /// `defaults` first if the stream has none); a change empties every producer's window.
    /// False if there is no such stream.
    pub fn idmp_configure(
        &mut self,
        db: usize,
        key: &[u8],
        duration_s: Option<u64>,
        maxsize: Option<u64>,
        defaults: IdmpDefaults,
    ) -> bool {
        self.with_idmp(db, key, Some(defaults), |w, ops| {
            w.configure(duration_s, maxsize, ops);
        })
        .is_some()
    }

    /// `sluice repair`: gives the stream at `key` this window (read from the damaged store) and
    /// stages all its records.
    pub(super) fn idmp_restore(&mut self, db: usize, key: &[u8], w: &Idmp) {
        let Some(Value::Stream(meta)) = self
            .dirs
            .get_mut(db)
            .and_then(|d| d.get_mut(key))
            .map(|e| &mut e.value)
        else {
            return;
        };
        let sid = meta.sid;
        meta.idmp = Some(Box::new(w.clone()));
        let mut ops = vec![IdmpOp::Header];
        for p in w.producers.values() {
            if let Some(name) = w.names.get(&p.pno) {
                ops.push(IdmpOp::PutProducer(p.pno, name.clone()));
            }
            ops.extend(p.order.iter().map(|r| IdmpOp::PutIid(p.pno, *r)));
        }
        self.stage_idmp(sid, w.encode_header(), ops);
    }

    /// Loads the window of a stream (startup).
    pub(super) fn load_idmp(&self, meta: &mut StreamMeta) -> Result<()> {
        let sid = meta.sid;
        let corrupt = |what: &str, k: &[u8]| {
            StoreError::Corrupt(format!("stream {sid}: bad idmp {what} record {k:?}"))
        };
        let hk = prefix(sid, Some(SUB_HEADER));
        let Some(h) = self.smeta.get(&hk)? else {
            return Ok(());
        };
        let mut w = Idmp::decode_header(&h).ok_or_else(|| corrupt("header", &hk))?;
        let mut names = ahash::AHashMap::new();
        for guard in self.smeta.prefix(prefix(sid, Some(SUB_PRODUCER))) {
            let (k, v) = guard.into_inner()?;
            let pno = k
                .get(10..14)
                .and_then(|b| b.try_into().ok())
                .map(u32::from_be_bytes)
                .ok_or_else(|| corrupt("producer", &k))?;
            names.insert(pno, Bytes::copy_from_slice(&v));
        }
        let mut ignored = Vec::new();
        for guard in self.smeta.prefix(prefix(sid, Some(SUB_IID))) {
            let (k, v) = guard.into_inner()?;
            let (Some(p), Some(s)) = (k.get(10..14), k.get(14..22)) else {
                return Err(corrupt("iid", &k));
            };
            let pno = u32::from_be_bytes(p.try_into().map_err(|_| corrupt("iid", &k))?);
            let seq = u64::from_be_bytes(s.try_into().map_err(|_| corrupt("iid", &k))?);
            let rec = IidRec::decode(seq, &v).ok_or_else(|| corrupt("iid", &k))?;
            let pid = names.get(&pno).ok_or_else(|| corrupt("orphan iid", &k))?;
            // Keep the numbering: the producer gets its number back.
            w.restore_rec(pno, pid, rec, &mut ignored);
            ignored.clear();
        }
        w.check()
            .map_err(|e| StoreError::Corrupt(format!("stream {sid}: idmp window: {e}")))?;
        meta.idmp = Some(Box::new(w));
        Ok(())
    }
}
