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
    map: HashMap<Bytes, Entry, ahash::RandomState>,
    order: BTreeSet<(u64, Bytes)>,
    expires: BTreeSet<(u64, Bytes)>,
}

impl Default for KeyDir {
    fn default() -> Self {
        KeyDir {
            map: HashMap::with_hasher(map_hasher()),
            order: BTreeSet::new(),
            expires: BTreeSet::new(),
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
        self.map.get(name)
    }

    pub fn get_mut(&mut self, name: &[u8]) -> Option<&mut Entry> {
        self.map.get_mut(name)
    }

    /// Inserts or replaces; returns the previous entry.
    pub fn insert(&mut self, name: Bytes, entry: Entry) -> Option<Entry> {
        let new_at = entry.expire_at;
        // Overwrite (SET on an existing key, the common case): one lookup; `order` does not
        // change, and `expires` only if the expiry does.
        if let Some(slot) = self.map.get_mut(&name[..]) {
            let old = std::mem::replace(slot, entry);
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
        self.map.insert(owned, entry);
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
        if let Some(at) = old.expire_at {
            self.expires.remove(&(at, owned));
        }
        Some(old)
    }

    /// Changes a key's expiry; false if the key does not exist.
    pub fn set_expire(&mut self, name: &[u8], at: Option<u64>) -> bool {
        let Some(entry) = self.map.get_mut(name) else {
            return false;
        };
        let old = std::mem::replace(&mut entry.expire_at, at);
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
        self.order
            .iter()
            .filter_map(|(_, k)| self.map.get_key_value(&k[..]).map(|(k, e)| (&k[..], e)))
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
            if let Some(e) = self.map.get(&k[..]) {
                visit(k, e);
            }
            last_hash = Some(*h);
        }
        0
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
        for (k, e) in &self.map {
            if let Some(at) = e.expire_at {
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
