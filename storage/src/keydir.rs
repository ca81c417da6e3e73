//! The in-memory key directory of one database: every key, its type, its value or metadata, and
//! its expiry.
//!
//! Two structures over the same names:
//! - `map`, a hash map from name to entry: every command's lookup is one hash and (usually) one
//!   or two cache lines. (An ordered map was the whole index before; with 100k keys a GET
//!   walked five B-tree levels and compared a separately allocated key at every step, and the
//!   lookup was 40% of a pipelined GET.)
//! - `order`, a B-tree of `(hash(name), name)`: `SCAN` walks it, so a cursor (the hash of the
//!   next key to return) stays valid while keys are added and removed: every key present for
//!   the whole iteration is returned exactly once, and a full iteration never repeats a key.
//!   The hash uses fixed seeds, so cursors are stable for the life of the process. Only adding
//!   or removing a key touches it; overwriting a value does not.
//!
//! Invariants (checked by `debug_check` in tests and debug builds):
//! - `order` holds `(key_hash(name), name)` for exactly the names in `map`;
//! - `expires` holds `(at, name)` for exactly the keys whose entry has `expire_at == Some(at)`.
//!
//! Names are copied into one owned allocation when a key is created (never a slice of a client's
//! read buffer, which would pin it) and shared by the three structures.
//!
//! Each key also has an [`Access`] record beside its entry (8 bytes in the map's slot, no
//! separate structure): the Unix second of its last access and Redis's LFU counter, for OBJECT
//! IDLETIME and OBJECT FREQ. Reads through [`KeyDir::get_touched`] update it; [`KeyDir::get`]
//! does not (Redis's `LOOKUP_NOTOUCH`). It lives in memory only: after a restart every key was
//! last accessed when it was loaded, as after Redis loads its AOF.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use bytes::Bytes;

/// What a key holds.
#[derive(Clone, Debug)]
pub enum Value {
    String(Bytes),
    /// A stream's metadata; its entries are on disk.
    Stream(Box<crate::stream::StreamMeta>),
}

impl Value {
    /// The name `TYPE` reports.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::String(_) => "string",
            Value::Stream(_) => "stream",
        }
    }
}

/// A key's value and expiry (absolute Unix time in milliseconds).
#[derive(Clone, Debug)]
pub struct Entry {
    pub value: Value,
    pub expire_at: Option<u64>,
}

/// Redis's `LFU_INIT_VAL`: the counter of a new key.
pub const LFU_INIT: u8 = 5;
/// Redis's default `lfu-log-factor` and `lfu-decay-time` (minutes), which Sluice uses.
const LFU_LOG_FACTOR: f64 = 10.0;
const LFU_DECAY_MIN: u32 = 1;

/// A key's last access (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Access {
    /// Unix seconds of the last access (Redis's LRU clock also has a resolution of a second).
    pub at_s: u32,
    /// Redis's logarithmic access counter.
    pub counter: u8,
    /// Unix minutes (mod 2^16) of the counter's last decay (Redis's `ldt`).
    pub ldt_min: u16,
}

impl Access {
    fn new(now_s: u32) -> Access {
        Access {
            at_s: now_s,
            counter: LFU_INIT,
            ldt_min: (now_s / 60) as u16,
        }
    }

    /// Seconds since the last access.
    pub fn idle_s(&self, now_s: u32) -> u32 {
        now_s.saturating_sub(self.at_s)
    }

    /// Redis's `LFUDecrAndReturn`: the counter less one per `lfu-decay-time` minutes idle.
    pub fn freq(&self, now_s: u32) -> u8 {
        let now = (now_s / 60) as u16;
        let elapsed = if now >= self.ldt_min {
            u32::from(now - self.ldt_min)
        } else {
            65535 - u32::from(self.ldt_min) + u32::from(now)
        };
        let periods = elapsed / LFU_DECAY_MIN;
        self.counter.saturating_sub(periods.min(255) as u8)
    }

    /// An access now: Redis's `updateLFU` (decay, then a logarithmic increment drawing `r`
    /// uniformly in [0, 1)) and the LRU time.
    fn hit(&mut self, now_s: u32, r: f64) {
        let mut c = self.freq(now_s);
        if c < 255 {
            let base = f64::from(c.saturating_sub(LFU_INIT));
            if r < 1.0 / (base * LFU_LOG_FACTOR + 1.0) {
                c += 1;
            }
        }
        self.ldt_min = (now_s / 60) as u16;
        self.counter = c;
        self.at_s = now_s;
    }
}

/// The access clock (Unix seconds) new keys get: the last time the store saw (see
/// [`set_clock`]), or the system clock before any.
static CLOCK_S: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

/// Advances the access clock (the store calls it with each command's time).
pub fn set_clock(now_s: u32) {
    CLOCK_S.store(now_s, std::sync::atomic::Ordering::Relaxed);
}

/// The access clock in Unix seconds.
pub fn clock_s() -> u32 {
    match CLOCK_S.load(std::sync::atomic::Ordering::Relaxed) {
        0 => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as u32),
        s => s,
    }
}

/// A key's slot in the lookup map.
#[derive(Clone, Debug)]
struct Slot {
    entry: Entry,
    access: Access,
}

/// Values at least this long are kept as they arrived; shorter ones are copied (see
/// [`owned_value`]).
const COPY_BELOW: usize = 64 * 1024;

/// A string value fit to be kept for the life of a key. Arguments arrive as slices of the
/// client's read buffer (1–16 KiB), and keeping a 3-byte slice would pin the whole buffer, and
/// make every request allocate a fresh one: measured on SET -P 1 with 100k keys, 10% of the
/// server's time went to the kernel zeroing new pages for those buffers. A large value was read
/// into a buffer sized for it, so it is kept without a copy.
pub fn owned_value(v: Bytes) -> Bytes {
    if v.len() < COPY_BELOW {
        Bytes::copy_from_slice(&v)
    } else {
        v
    }
}

/// One database's keys.
pub struct KeyDir {
    map: HashMap<Bytes, Slot, ahash::RandomState>,
    order: BTreeSet<(u64, Bytes)>,
    expires: BTreeSet<(u64, Bytes)>,
    /// xorshift state for the LFU counter's draws.
    rng: u64,
}

impl Default for KeyDir {
    fn default() -> Self {
        KeyDir {
            map: HashMap::with_hasher(map_hasher()),
            order: BTreeSet::new(),
            expires: BTreeSet::new(),
            rng: 0x9e37_79b9_7f4a_7c15,
        }
    }
}

fn hasher() -> ahash::RandomState {
    ahash::RandomState::with_seeds(0x5eed_5100_1ce0_0001, 0x0dd5_eed5, 0x51_u64 << 40, 0xc0ffee)
}

/// The lookup map's hasher: seeded per process (the map's layout is never visible, unlike the
/// SCAN hash, so it can resist hash flooding).
fn map_hasher() -> ahash::RandomState {
    ahash::RandomState::new()
}

thread_local! {
    static HASHER: ahash::RandomState = hasher();
}

/// The SCAN position of a key name; never 0 (0 is the cursor that starts and ends a scan).
pub fn key_hash(name: &[u8]) -> u64 {
    HASHER.with(|h| h.hash_one(name)).max(1)
}

impl KeyDir {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Slots of the hash table (it keeps them as keys are deleted, until [`KeyDir::clear`]).
    pub fn capacity(&self) -> usize {
        self.map.capacity()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Number of keys with an expiry.
    pub fn expires_len(&self) -> usize {
        self.expires.len()
    }

    /// The entry for `name`, expired or not (expiry is the store's business).
    pub fn get(&self, name: &[u8]) -> Option<&Entry> {
        self.map.get(name).map(|s| &s.entry)
    }

    pub fn get_mut(&mut self, name: &[u8]) -> Option<&mut Entry> {
        self.map.get_mut(name).map(|s| &mut s.entry)
    }

    /// The entry for `name`, recording an access at `now_s` (OBJECT IDLETIME, OBJECT FREQ).
    pub fn get_touched(&mut self, name: &[u8], now_s: u32) -> Option<&Entry> {
        let slot = self.map.get_mut(name)?;
        // xorshift64: one draw per access, for the LFU counter's probability.
        let mut x = self.rng;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.rng = x;
        slot.access
            .hit(now_s, (x >> 11) as f64 / (1u64 << 53) as f64);
        Some(&slot.entry)
    }

    /// The access record of `name`.
    pub fn access(&self, name: &[u8]) -> Option<Access> {
        self.map.get(name).map(|s| s.access)
    }

    /// Sets the access record of `name` (COPY, MOVE and RENAME carry it, as Redis carries
    /// the object).
    pub fn set_access(&mut self, name: &[u8], access: Access) {
        if let Some(s) = self.map.get_mut(name) {
            s.access = access;
        }
    }

    /// Inserts or replaces; returns the previous entry.
    pub fn insert(&mut self, name: Bytes, entry: Entry) -> Option<Entry> {
        let new_at = entry.expire_at;
        // Overwrite (SET on an existing key, the common case): one lookup; `order` does not
        // change, and `expires` only if the expiry does.
        if let Some(slot) = self.map.get_mut(&name[..]) {
            // Redis keeps the LFU counter of an overwritten key; the new value is accessed now.
            slot.access.at_s = clock_s();
            let old = std::mem::replace(&mut slot.entry, entry);
            if old.expire_at != new_at {
                let owned = self.owned_name(&name);
                if let Some(at) = old.expire_at {
                    self.expires.remove(&(at, owned.clone()));
                }
                if let Some(at) = new_at {
                    self.expires.insert((at, owned));
                }
            }
            return Some(old);
        }
        let owned = Bytes::copy_from_slice(&name);
        self.order.insert((key_hash(&owned), owned.clone()));
        if let Some(at) = new_at {
            self.expires.insert((at, owned.clone()));
        }
        self.map.insert(
            owned,
            Slot {
                entry,
                access: Access::new(clock_s()),
            },
        );
        None
    }

    /// The map's own copy of an existing name (shared with `order` and `expires`).
    fn owned_name(&self, name: &[u8]) -> Bytes {
        self.map
            .get_key_value(name)
            .map_or_else(|| Bytes::copy_from_slice(name), |(k, _)| k.clone())
    }

    pub fn remove(&mut self, name: &[u8]) -> Option<Entry> {
        let (owned, old) = self.map.remove_entry(name)?;
        self.order.remove(&(key_hash(&owned), owned.clone()));
        if let Some(at) = old.entry.expire_at {
            self.expires.remove(&(at, owned));
        }
        Some(old.entry)
    }

    /// Changes a key's expiry; false if the key does not exist.
    pub fn set_expire(&mut self, name: &[u8], at: Option<u64>) -> bool {
        let Some(slot) = self.map.get_mut(name) else {
            return false;
        };
        let old = std::mem::replace(&mut slot.entry.expire_at, at);
        if old != at {
            let owned = self.owned_name(name);
            if let Some(old) = old {
                self.expires.remove(&(old, owned.clone()));
            }
            if let Some(at) = at {
                self.expires.insert((at, owned));
            }
        }
        true
    }

    /// Up to `limit` keys whose expiry is at or before `now`, soonest first.
    pub fn expired(&self, now: u64, limit: usize) -> Vec<Bytes> {
        self.expires
            .iter()
            .take_while(|(at, _)| *at <= now)
            .take(limit)
            .map(|(_, k)| k.clone())
            .collect()
    }

    /// Every key name with its entry, in SCAN order.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], &Entry)> {
        self.order.iter().filter_map(|(_, k)| {
            self.map
                .get_key_value(&k[..])
                .map(|(k, s)| (&k[..], &s.entry))
        })
    }

    /// One SCAN step: visits keys from `cursor` on until `count` keys have been visited (never
    /// splitting keys that share a hash), and returns the next cursor (0 when done).
    pub fn scan(&self, cursor: u64, count: usize, mut visit: impl FnMut(&[u8], &Entry)) -> u64 {
        let mut last_hash = None;
        let range = self.order.range((
            std::ops::Bound::Included((cursor, Bytes::new())),
            std::ops::Bound::Unbounded,
        ));
        for (seen, (h, k)) in range.enumerate() {
            if seen >= count && last_hash != Some(*h) {
                return *h;
            }
            if let Some(s) = self.map.get(&k[..]) {
                visit(k, &s.entry);
            }
            last_hash = Some(*h);
        }
        0
    }

    /// Exchanges the contents of two directories (SWAPDB).
    pub fn swap(&mut self, other: &mut KeyDir) {
        std::mem::swap(self, other);
    }

    /// Empties the directory and gives its table's memory back (`clear` would keep the hash
    /// table's capacity: hundreds of MB after millions of keys, held after FLUSHALL).
    pub fn clear(&mut self) {
        *self = KeyDir::default();
    }

    /// Asserts the invariants in the module comment (O(n); tests and debug checks only).
    pub fn debug_check(&self) {
        assert_eq!(self.map.len(), self.order.len(), "order and map disagree");
        for (h, k) in &self.order {
            assert_eq!(*h, key_hash(k));
            assert!(self.map.contains_key(&k[..]), "order names a missing key");
        }
        let mut with_expiry = BTreeMap::new();
        for (k, s) in &self.map {
            if let Some(at) = s.entry.expire_at {
                with_expiry.insert((at, k.clone()), ());
            }
        }
        assert!(
            with_expiry.keys().eq(self.expires.iter()),
            "expires does not match the entries' expiry"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &str) -> Entry {
        Entry {
            value: Value::String(Bytes::copy_from_slice(v.as_bytes())),
            expire_at: None,
        }
    }

    #[test]
    fn access_record_follows_redis_lru_and_lfu() {
        let t = 1_000_000u32;
        let mut a = Access::new(t);
        assert_eq!((a.idle_s(t + 7), a.freq(t)), (7, LFU_INIT));
        // The first access from the initial value always counts; later ones less often.
        a.hit(t + 7, 0.99);
        assert_eq!((a.idle_s(t + 7), a.counter), (0, LFU_INIT + 1));
        a.hit(t + 8, 0.99);
        assert_eq!(a.counter, LFU_INIT + 1, "p = 1/11 at base 1");
        a.hit(t + 8, 0.0);
        assert_eq!(a.counter, LFU_INIT + 2);
        // One point lost per idle minute (lfu-decay-time 1), never below 0.
        assert_eq!(a.freq(t + 8 + 180), LFU_INIT - 1);
        assert_eq!(a.freq(t + 8 + 60 * 300), 0);
        // A key read through `get` keeps its record; `get_touched` updates it.
        let mut d = KeyDir::new();
        d.insert(Bytes::from_static(b"k"), s("v"));
        // A record made at the start of a minute, so that five seconds later no decay is due
        // (the clock's own second could be :55 or later, and the counter would decay first).
        let minute = 1_000_020u32;
        assert_eq!(minute % 60, 0);
        d.set_access(b"k", Access::new(minute));
        let before = d.access(b"k").expect("record");
        d.get(b"k");
        assert_eq!(d.access(b"k"), Some(before));
        d.get_touched(b"k", before.at_s + 5);
        let after = d.access(b"k").expect("record");
        assert_eq!((after.at_s, after.counter), (before.at_s + 5, LFU_INIT + 1));
        // An overwrite keeps the counter (as Redis keeps an overwritten key's LFU data).
        d.insert(Bytes::from_static(b"k"), s("w"));
        assert_eq!(d.access(b"k").map(|a| a.counter), Some(LFU_INIT + 1));
    }

    #[test]
    fn expiry_index_follows_entries() {
        let mut d = KeyDir::new();
        d.insert(
            Bytes::from_static(b"a"),
            Entry {
                expire_at: Some(10),
                ..s("1")
            },
        );
        d.insert(
            Bytes::from_static(b"b"),
            Entry {
                expire_at: Some(5),
                ..s("1")
            },
        );
        assert_eq!(d.expired(9, 10), vec![Bytes::from_static(b"b")]);
        d.set_expire(b"b", None);
        assert_eq!(d.expired(100, 10), vec![Bytes::from_static(b"a")]);
        d.insert(Bytes::from_static(b"a"), s("2"));
        assert_eq!(d.expires_len(), 0);
        d.insert(
            Bytes::from_static(b"a"),
            Entry {
                expire_at: Some(7),
                ..s("1")
            },
        );
        d.insert(
            Bytes::from_static(b"a"),
            Entry {
                expire_at: Some(7),
                ..s("3")
            },
        );
        assert_eq!(d.expires_len(), 1);
        d.debug_check();
        d.remove(b"a");
        assert_eq!(d.expires_len(), 0);
        d.debug_check();
    }

    #[test]
    fn scan_visits_each_stable_key_once_while_keys_change() {
        let mut d = KeyDir::new();
        for i in 0..1000 {
            d.insert(Bytes::from(format!("k{i}")), s("v"));
        }
        let mut seen = std::collections::HashMap::new();
        let mut cursor = 0;
        let mut round = 0;
        loop {
            let mut batch = vec![];
            cursor = d.scan(cursor, 10, |k, _| batch.push(Bytes::copy_from_slice(k)));
            for k in batch {
                *seen.entry(k).or_insert(0) += 1;
            }
            // Churn: add and remove keys that are not part of the stable set.
            d.insert(Bytes::from(format!("tmp{round}")), s("v"));
            d.remove(format!("tmp{}", round.max(1) - 1).as_bytes());
            round += 1;
            if cursor == 0 {
                break;
            }
        }
        for i in 0..1000 {
            assert_eq!(seen.get(format!("k{i}").as_bytes()), Some(&1), "k{i}");
        }
        d.debug_check();
    }

    proptest::proptest! {
        /// Random inserts, removals and expiry changes keep the three structures in step with
        /// a plain model map.
        #[test]
        fn keydir_matches_a_model(ops in proptest::collection::vec((0u8..4, 0u8..24, proptest::option::of(0u64..5)), 0..300)) {
            let mut d = KeyDir::new();
            let mut model: std::collections::HashMap<Vec<u8>, Option<u64>> = Default::default();
            for (op, k, at) in ops {
                let name = format!("key:{k}").into_bytes();
                match op {
                    0 | 1 => {
                        d.insert(Bytes::from(name.clone()), Entry { expire_at: at, ..s("v") });
                        model.insert(name, at);
                    }
                    2 => {
                        proptest::prop_assert_eq!(d.remove(&name).is_some(), model.remove(&name).is_some());
                    }
                    _ => {
                        let had = model.get_mut(&name).map(|e| *e = at).is_some();
                        proptest::prop_assert_eq!(d.set_expire(&name, at), had);
                    }
                }
                d.debug_check();
            }
            proptest::prop_assert_eq!(d.len(), model.len());
            let mut scanned = vec![];
            let mut cursor = 0;
            loop {
                cursor = d.scan(cursor, 3, |k, _| scanned.push(k.to_vec()));
                if cursor == 0 { break; }
            }
            scanned.sort();
            let mut want: Vec<_> = model.keys().cloned().collect();
            want.sort();
            proptest::prop_assert_eq!(scanned, want);
        }
    }
}
