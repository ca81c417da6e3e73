//! Idempotent producers (Redis 8.6's `XADD … IDMP pid iid` / `IDMPAUTO pid`): the per-stream
//! window of recently seen idempotency IDs ("iids") of each producer ("pid"), and what each
//! one added.
//!
//! The window of one stream ([`Idmp`]) has a duration (seconds, 1–86400) and a maximum size
//! (iids per producer, 1–10000): an iid is remembered until `duration` seconds after it was
//! added or until `maxsize` newer iids of the same producer pushed it out, whichever comes
//! first. Iids are kept as 128-bit XXH3 digests, as Redis does, so a long iid costs no more
//! than a short one ([`iid_digest`], [`auto_digest`]).
//!
//! Invariants (checked by [`Idmp::check`] in debug builds):
//! * every producer has at least one iid; its `order` holds its iids oldest first (by
//!   insertion, with strictly increasing `seq`), exactly the keys of its `iids` map, and at
//!   most `maxsize` of them;
//! * `tracked` is the sum of the producers' iid counts;
//! * `expiry` holds exactly one item per producer: the insertion time of its oldest iid and
//!   its number (`pno`), so the producers whose oldest iid expired are found in O(log P).
//!
//! Bounded work: a lookup or an insertion expires at most [`EXPIRE_BUDGET`] iids (oldest
//! first, over all producers of the stream) besides the ones of its own producer it looks at,
//! and the store's periodic pass ([`crate::Store::idmp_cron`]) a bounded number per tick;
//! validity is checked against the clock at lookup, so an iid past its time that was not
//! expired yet is never answered. Memory is bounded by `maxsize` per producer.
//!
//! This module changes no durable state itself: each mutating method returns the [`IdmpOp`]s
//! the store stages in the same batch as the command (see `store/idmp.rs`).

use std::collections::{BTreeSet, VecDeque};

use ahash::AHashMap as HashMap;
use bytes::Bytes;

use super::StreamId;

/// Default and bounds of the window duration, seconds (`stream-idmp-duration`, XCFGSET).
pub const DURATION_DEFAULT: u64 = 100;
pub const DURATION_MAX: u64 = 86_400;
/// Default and bounds of the iids kept per producer (`stream-idmp-maxsize`, XCFGSET).
pub const MAXSIZE_DEFAULT: u64 = 100;
pub const MAXSIZE_MAX: u64 = 10_000;

/// Expired iids of other producers removed by one lookup or insertion at most.
pub const EXPIRE_BUDGET: usize = 8;

/// The digest an `IDMP pid iid` iid is kept as: XXH3-128 of its bytes (seed 0).
pub fn iid_digest(iid: &[u8]) -> u128 {
    xxhash_rust::xxh3::xxh3_128(iid)
}

/// The iid `IDMPAUTO` derives from an entry's fields: the XOR, over the field/value pairs, of
/// XXH3-128 (seed 1) of `len(field) as u64 LE ‖ field ‖ value`. Order-independent, like
/// Redis's (which also XORs one XXH3-128 per pair; its exact per-pair input is not known
/// here, so the digests differ from Redis's — they are never visible to clients).
pub fn auto_digest(fields: &[Bytes]) -> u128 {
    let mut acc = 0u128;
    let mut buf = Vec::new();
    for pair in fields.chunks(2) {
        let (f, v) = match pair {
            [f, v] => (f, v),
            _ => continue,
        };
        buf.clear();
        buf.extend_from_slice(&(f.len() as u64).to_le_bytes());
        buf.extend_from_slice(f);
        buf.extend_from_slice(v);
        acc ^= xxhash_rust::xxh3::xxh3_128_with_seed(&buf, 1);
    }
    acc
}

/// One remembered iid of a producer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IidRec {
    pub iid: u128,
    /// Record number, unique in the stream's window, increasing with insertion.
    pub seq: u64,
    /// When it was added (ms).
    pub at_ms: u64,
    /// The entry it added.
    pub id: StreamId,
}

#[derive(Clone, Debug)]
pub struct Producer {
    pub pno: u32,
    pub iids: HashMap<u128, StreamId>,
    pub order: VecDeque<IidRec>,
}

/// A durable change for the store to stage.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IdmpOp {
    /// The producer `pno` is named `pid`.
    PutProducer(u32, Bytes),
    DelProducer(u32),
    PutIid(u32, IidRec),
    DelIid(u32, u64),
    /// The header (settings, counters, allocators) changed.
    Header,
}

#[derive(Clone, Debug)]
pub struct Idmp {
    pub duration_s: u64,
    pub maxsize: u64,
    /// Lifetime counters (`iids-added`, `iids-duplicates`); XCFGSET keeps them.
    pub iids_added: u64,
    pub iids_duplicates: u64,
    pub next_seq: u64,
    pub next_pno: u32,
    pub producers: HashMap<Bytes, Producer>,
    pub names: HashMap<u32, Bytes>,
    pub tracked: u64,
    expiry: BTreeSet<(u64, u32)>,
}

impl Idmp {
    pub fn new(duration_s: u64, maxsize: u64) -> Self {
        Idmp {
            duration_s,
            maxsize,
            iids_added: 0,
            iids_duplicates: 0,
            next_seq: 0,
            next_pno: 0,
            producers: HashMap::new(),
            names: HashMap::new(),
            tracked: 0,
            expiry: BTreeSet::new(),
        }
    }

    fn duration_ms(&self) -> u64 {
        self.duration_s.saturating_mul(1000)
    }

    fn live(&self, at_ms: u64, now_ms: u64) -> bool {
        now_ms < at_ms.saturating_add(self.duration_ms())
    }

    /// The entry `pid`'s `iid` added, if it is still in the window. Counts a duplicate when
    /// found; expires a bounded number of old iids either way.
    pub fn lookup(
        &mut self,
        pid: &[u8],
        iid: u128,
        now_ms: u64,
        ops: &mut Vec<IdmpOp>,
    ) -> Option<StreamId> {
        self.expire_producer(pid, now_ms, usize::MAX, ops);
        self.expire(now_ms, EXPIRE_BUDGET, ops);
        let found = self
            .producers
            .get(pid)
            .and_then(|p| p.iids.get(&iid).copied());
        if found.is_some() {
            self.iids_duplicates += 1;
            ops.push(IdmpOp::Header);
        }
        self.debug_check();
        found
    }

    /// The entry `pid`'s `iid` added if it is in the window, without counting or expiring.
    pub fn peek(&self, pid: &[u8], iid: u128, now_ms: u64) -> Option<StreamId> {
        let p = self.producers.get(pid)?;
        let id = *p.iids.get(&iid)?;
        let at = p.order.iter().rev().find(|r| r.iid == iid)?.at_ms;
        self.live(at, now_ms).then_some(id)
    }

    /// Remembers that `pid`'s `iid` added entry `id` (the caller looked it up first and it
    /// was not there). Pushes out the producer's oldest iids beyond `maxsize`.
    pub fn insert(
        &mut self,
        pid: &Bytes,
        iid: u128,
        id: StreamId,
        now_ms: u64,
        ops: &mut Vec<IdmpOp>,
    ) {
        let seq = self.next_seq;
        self.next_seq += 1;
        let rec = IidRec {
            iid,
            seq,
            at_ms: now_ms,
            id,
        };
        self.insert_rec(pid, rec, ops);
        self.iids_added += 1;
        ops.push(IdmpOp::Header);
        self.expire(now_ms, EXPIRE_BUDGET, ops);
        self.debug_check();
    }

    /// Adds a record read back from disk, under the producer number it was written with.
    pub fn restore_rec(&mut self, pno: u32, pid: &Bytes, rec: IidRec, ops: &mut Vec<IdmpOp>) {
        if !self.producers.contains_key(pid) {
            self.producers.insert(
                pid.clone(),
                Producer {
                    pno,
                    iids: HashMap::new(),
                    order: VecDeque::with_capacity(1),
                },
            );
            self.names.insert(pno, pid.clone());
            self.next_pno = self.next_pno.max(pno.wrapping_add(1));
        }
        self.insert_rec(pid, rec, ops);
    }

    /// Adds a record.
    pub fn insert_rec(&mut self, pid: &Bytes, rec: IidRec, ops: &mut Vec<IdmpOp>) {
        let pno = match self.producers.get(pid) {
            Some(p) => p.pno,
            None => {
                // Numbers wrap after 2^32 producers; skip the ones still in use.
                let mut pno = self.next_pno;
                while self.names.contains_key(&pno) {
                    pno = pno.wrapping_add(1);
                }
                self.next_pno = pno.wrapping_add(1);
                // A copy: `pid` may be a slice of a whole network read buffer, which a clone
                // would keep alive as long as the producer.
                let name = Bytes::copy_from_slice(pid);
                self.producers.insert(
                    name.clone(),
                    Producer {
                        pno,
                        iids: HashMap::new(),
                        order: VecDeque::with_capacity(1),
                    },
                );
                self.names.insert(pno, name.clone());
                ops.push(IdmpOp::PutProducer(pno, name));
                pno
            }
        };
        self.next_seq = self.next_seq.max(rec.seq + 1);
        let maxsize = self.maxsize.max(1) as usize;
        let Some(p) = self.producers.get_mut(pid) else {
            return;
        };
        let old_front = p.order.front().map(|r| r.at_ms);
        if p.iids.insert(rec.iid, rec.id).is_some() {
            // Only when loading damaged data: keep one record per iid.
            if let Some(i) = p.order.iter().position(|r| r.iid == rec.iid) {
                if let Some(r) = p.order.remove(i) {
                    ops.push(IdmpOp::DelIid(pno, r.seq));
                    self.tracked -= 1;
                }
            }
        }
        p.order.push_back(rec);
        self.tracked += 1;
        ops.push(IdmpOp::PutIid(pno, rec));
        while p.order.len() > maxsize {
            if let Some(r) = p.order.pop_front() {
                p.iids.remove(&r.iid);
                ops.push(IdmpOp::DelIid(pno, r.seq));
                self.tracked -= 1;
            }
        }
        let new_front = p.order.front().map(|r| r.at_ms);
        reindex(&mut self.expiry, pno, old_front, new_front);
    }

    /// Removes `pid`'s expired iids (oldest first), at most `budget`.
    fn expire_producer(&mut self, pid: &[u8], now_ms: u64, budget: usize, ops: &mut Vec<IdmpOp>) {
        let dur = self.duration_ms();
        let Some(p) = self.producers.get_mut(pid) else {
            return;
        };
        let pno = p.pno;
        let old_front = p.order.front().map(|r| r.at_ms);
        let mut n = 0;
        while n < budget {
            match p.order.front() {
                Some(r) if now_ms >= r.at_ms.saturating_add(dur) => {
                    let r = *r;
                    p.order.pop_front();
                    p.iids.remove(&r.iid);
                    ops.push(IdmpOp::DelIid(pno, r.seq));
                    self.tracked -= 1;
                    n += 1;
                }
                _ => break,
            }
        }
        let new_front = p.order.front().map(|r| r.at_ms);
        reindex(&mut self.expiry, pno, old_front, new_front);
        if p.order.is_empty() {
            self.producers.remove(pid);
            self.names.remove(&pno);
            ops.push(IdmpOp::DelProducer(pno));
        }
    }

    /// Expires up to `budget` iids over all producers, oldest producers first.
    pub fn expire(&mut self, now_ms: u64, budget: usize, ops: &mut Vec<IdmpOp>) {
        let mut left = budget;
        while left > 0 {
            let Some(&(at, pno)) = self.expiry.first() else {
                break;
            };
            if self.live(at, now_ms) {
                break;
            }
            let Some(pid) = self.names.get(&pno).cloned() else {
                self.expiry.remove(&(at, pno));
                continue;
            };
            let before = self.tracked;
            self.expire_producer(&pid, now_ms, left, ops);
            let done = (before - self.tracked) as usize;
            if done == 0 {
                break;
            }
            left = left.saturating_sub(done);
        }
    }

    /// XCFGSET: new settings; if either changed, every producer's window is emptied (the
    /// counters stay). Returns whether anything changed.
    pub fn configure(
        &mut self,
        duration_s: Option<u64>,
        maxsize: Option<u64>,
        ops: &mut Vec<IdmpOp>,
    ) -> bool {
        let d = duration_s.unwrap_or(self.duration_s);
        let m = maxsize.unwrap_or(self.maxsize);
        if d == self.duration_s && m == self.maxsize {
            return false;
        }
        self.duration_s = d;
        self.maxsize = m;
        for p in self.producers.values() {
            for r in &p.order {
                ops.push(IdmpOp::DelIid(p.pno, r.seq));
            }
            ops.push(IdmpOp::DelProducer(p.pno));
        }
        self.producers.clear();
        self.names.clear();
        self.expiry.clear();
        self.tracked = 0;
        ops.push(IdmpOp::Header);
        self.debug_check();
        true
    }

    /// Producers with at least one iid in the window.
    pub fn pids_tracked(&self) -> usize {
        self.producers.len()
    }

    /// Bytes of heap this window takes, roughly: per producer its name, its slots in the
    /// producer and name maps and the expiry index, and its two tables (an iid costs a
    /// 32-byte hash-map slot plus a control byte, at hashbrown's 7/8 load, and a 48-byte
    /// queue slot), at their allocated capacity.
    pub fn heap_estimate(&self) -> usize {
        let per_pid =
            std::mem::size_of::<(Bytes, Producer)>() + std::mem::size_of::<(u32, Bytes)>() + 2 + 32;
        self.producers
            .iter()
            .map(|(k, p)| {
                k.len().div_ceil(16) * 16
                    + per_pid
                    + p.iids.capacity() * 8 / 7 * 33
                    + p.order.capacity() * std::mem::size_of::<IidRec>()
            })
            .sum()
    }

    fn debug_check(&self) {
        #[cfg(debug_assertions)]
        if let Err(e) = self.check() {
            panic!("IDMP window invariant broken: {e}");
        }
    }

    /// Checks the invariants in the module docs.
    pub fn check(&self) -> Result<(), String> {
        let mut total = 0u64;
        if self.expiry.len() != self.producers.len() || self.names.len() != self.producers.len() {
            return Err("expiry index or names out of step with producers".into());
        }
        for (pid, p) in &self.producers {
            if p.order.is_empty() {
                return Err(format!("producer {pid:?} without iids"));
            }
            if p.order.len() != p.iids.len() || p.order.len() as u64 > self.maxsize.max(1) {
                return Err(format!(
                    "producer {pid:?}: {} iids in order, {} in map",
                    p.order.len(),
                    p.iids.len()
                ));
            }
            if !p
                .order
                .iter()
                .zip(p.order.iter().skip(1))
                .all(|(a, b)| a.seq < b.seq)
            {
                return Err(format!("producer {pid:?}: order not by seq"));
            }
            if p.order.iter().any(|r| p.iids.get(&r.iid) != Some(&r.id)) {
                return Err(format!("producer {pid:?}: map disagrees with order"));
            }
            let front = p.order.front().map(|r| r.at_ms).unwrap_or(0);
            if !self.expiry.contains(&(front, p.pno)) {
                return Err(format!("producer {pid:?} missing from the expiry index"));
            }
            if self.names.get(&p.pno) != Some(pid) {
                return Err(format!("producer {pid:?}: name index wrong"));
            }
            total += p.order.len() as u64;
        }
        if total != self.tracked {
            return Err(format!("tracked {} but {total} iids held", self.tracked));
        }
        Ok(())
    }

    /// The header record: duration, maxsize, iids added, duplicates, next seq (u64 BE each),
    /// next producer number (u32 BE).
    pub fn encode_header(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(HEADER_LEN);
        for x in [
            self.duration_s,
            self.maxsize,
            self.iids_added,
            self.iids_duplicates,
            self.next_seq,
        ] {
            v.extend_from_slice(&x.to_be_bytes());
        }
        v.extend_from_slice(&self.next_pno.to_be_bytes());
        v
    }

    pub fn decode_header(raw: &[u8]) -> Option<Self> {
        if raw.len() != HEADER_LEN {
            return None;
        }
        let u = |i: usize| -> Option<u64> {
            raw.get(i * 8..i * 8 + 8)
                .and_then(|b| b.try_into().ok())
                .map(u64::from_be_bytes)
        };
        let mut w = Idmp::new(u(0)?, u(1)?);
        if !(1..=DURATION_MAX).contains(&w.duration_s) || !(1..=MAXSIZE_MAX).contains(&w.maxsize) {
            return None;
        }
        w.iids_added = u(2)?;
        w.iids_duplicates = u(3)?;
        w.next_seq = u(4)?;
        w.next_pno = raw
            .get(40..44)
            .and_then(|b| b.try_into().ok())
            .map(u32::from_be_bytes)?;
        Some(w)
    }
}

/// Bytes of the header record.
pub const HEADER_LEN: usize = 8 * 5 + 4;
/// Bytes of one iid record's value: digest 16 ‖ entry ID 16 ‖ insertion ms 8.
pub const IID_VALUE_LEN: usize = 40;

impl IidRec {
    pub fn encode(&self) -> [u8; IID_VALUE_LEN] {
        let mut v = [0u8; IID_VALUE_LEN];
        v[..16].copy_from_slice(&self.iid.to_be_bytes());
        v[16..32].copy_from_slice(&self.id.to_be_bytes());
        v[32..].copy_from_slice(&self.at_ms.to_be_bytes());
        v
    }

    pub fn decode(seq: u64, raw: &[u8]) -> Option<Self> {
        if raw.len() != IID_VALUE_LEN {
            return None;
        }
        Some(IidRec {
            iid: u128::from_be_bytes(raw.get(..16)?.try_into().ok()?),
            id: StreamId::from_be_bytes(raw.get(16..32)?)?,
            at_ms: u64::from_be_bytes(raw.get(32..40)?.try_into().ok()?),
            seq,
        })
    }
}

fn reindex(expiry: &mut BTreeSet<(u64, u32)>, pno: u32, old: Option<u64>, new: Option<u64>) {
    if old == new {
        return;
    }
    if let Some(o) = old {
        expiry.remove(&(o, pno));
    }
    if let Some(n) = new {
        expiry.insert((n, pno));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u64) -> StreamId {
        StreamId::new(n, 0)
    }

    #[test]
    fn window_by_size_and_time() {
        let mut w = Idmp::new(10, 3);
        let mut ops = Vec::new();
        let p = Bytes::from_static(b"p");
        for i in 0..5u64 {
            assert_eq!(w.lookup(&p, i as u128, 1000, &mut ops), None);
            w.insert(&p, i as u128, id(i + 1), 1000, &mut ops);
        }
        assert_eq!(w.tracked, 3);
        assert_eq!(w.lookup(&p, 1, 1000, &mut ops), None);
        assert_eq!(w.lookup(&p, 2, 1000, &mut ops), Some(id(3)));
        assert_eq!(w.iids_duplicates, 1);
        // Expired 10 s later.
        assert_eq!(w.lookup(&p, 4, 11_000, &mut ops), None);
        assert_eq!(w.pids_tracked(), 0);
        assert_eq!(w.tracked, 0);
        assert_eq!(w.iids_added, 5);
    }

    #[test]
    fn auto_digest_is_order_independent() {
        let a: Vec<Bytes> = ["f1", "a", "f2", "b"]
            .iter()
            .map(|s| Bytes::from(*s))
            .collect();
        let b: Vec<Bytes> = ["f2", "b", "f1", "a"]
            .iter()
            .map(|s| Bytes::from(*s))
            .collect();
        let c: Vec<Bytes> = ["f1", "b", "f2", "a"]
            .iter()
            .map(|s| Bytes::from(*s))
            .collect();
        assert_eq!(auto_digest(&a), auto_digest(&b));
        assert_ne!(auto_digest(&a), auto_digest(&c));
    }

    #[test]
    fn header_round_trip() {
        let mut w = Idmp::new(5, 7);
        w.iids_added = 9;
        w.iids_duplicates = 2;
        w.next_seq = 11;
        w.next_pno = 3;
        let d = Idmp::decode_header(&w.encode_header()).expect("decodes");
        assert_eq!(
            (
                d.duration_s,
                d.maxsize,
                d.iids_added,
                d.iids_duplicates,
                d.next_seq,
                d.next_pno
            ),
            (5, 7, 9, 2, 11, 3)
        );
    }
}
