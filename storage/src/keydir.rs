//! The in-memory key directory of one database: every key, its type, its value or metadata, and
//! its expiry.
//!
//! Keys are held in a `BTreeMap` ordered by `(hash(name), name)`: point lookups cost a few
//! integer comparisons, and `SCAN` gets a cursor that stays valid while keys are added and
//! removed (the cursor is the hash of the next key to return, so every key present for the whole
//! iteration is returned exactly once, and a full iteration never repeats a key). The hash uses
//! fixed seeds so cursors are stable for the life of the process.
//!
//! Invariants: `expires` holds `(at, name)` for exactly the keys whose entry has `expire_at ==
//! Some(at)`; the stored map key is `hash(name).to_be_bytes() ‖ name`.

use std::collections::{BTreeMap, BTreeSet};

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

type DirKey = Box<[u8]>;

/// One database's keys.
#[derive(Default)]
pub struct KeyDir {
    map: BTreeMap<DirKey, Entry>,
    expires: BTreeSet<(u64, Bytes)>,
}

fn hasher() -> ahash::RandomState {
    ahash::RandomState::with_seeds(0x5eed_5100_1ce0_0001, 0x0dd5_eed5, 0x51_u64 << 40, 0xc0ffee)
}

thread_local! {
    static HASHER: ahash::RandomState = hasher();
}

/// The SCAN position of a key name; never 0 (0 is the cursor that starts and ends a scan).
pub fn key_hash(name: &[u8]) -> u64 {
    HASHER.with(|h| h.hash_one(name)).max(1)
}

fn dir_key(name: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(8 + name.len());
    k.extend_from_slice(&key_hash(name).to_be_bytes());
    k.extend_from_slice(name);
    k
}

/// Calls `f` with the map key of `name`, built on the stack for names up to 120 bytes (every
/// lookup of every command goes through here).
fn with_dir_key<R>(name: &[u8], f: impl FnOnce(&[u8]) -> R) -> R {
    const STACK: usize = 128;
    if name.len() + 8 <= STACK {
        let mut buf = [0u8; STACK];
        buf[..8].copy_from_slice(&key_hash(name).to_be_bytes());
        buf[8..8 + name.len()].copy_from_slice(name);
        f(&buf[..8 + name.len()])
    } else {
        f(&dir_key(name))
    }
}

impl KeyDir {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn len(&self) -> usize {
        self.map.len()
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
        with_dir_key(name, |k| self.map.get(k))
    }

    pub fn get_mut(&mut self, name: &[u8]) -> Option<&mut Entry> {
        with_dir_key(name, |k| self.map.get_mut(k))
    }

    /// Inserts or replaces; returns the previous entry.
    pub fn insert(&mut self, name: Bytes, entry: Entry) -> Option<Entry> {
        if let Some(at) = entry.expire_at {
            self.expires.insert((at, name.clone()));
        }
        let old = self.map.insert(dir_key(&name).into_boxed_slice(), entry);
        if let Some(at) = old.as_ref().and_then(|e| e.expire_at) {
            if self
                .map
                .get(dir_key(&name).as_slice())
                .is_none_or(|e| e.expire_at != Some(at))
            {
                self.expires.remove(&(at, name));
            }
        }
        old
    }

    pub fn remove(&mut self, name: &[u8]) -> Option<Entry> {
        let old = with_dir_key(name, |k| self.map.remove(k))?;
        if let Some(at) = old.expire_at {
            self.expires.remove(&(at, Bytes::copy_from_slice(name)));
        }
        Some(old)
    }

    /// Changes a key's expiry; false if the key does not exist.
    pub fn set_expire(&mut self, name: &[u8], at: Option<u64>) -> bool {
        let Some(entry) = with_dir_key(name, |k| self.map.get_mut(k)) else {
            return false;
        };
        let old = std::mem::replace(&mut entry.expire_at, at);
        if old != at {
            let name = Bytes::copy_from_slice(name);
            if let Some(old) = old {
                self.expires.remove(&(old, name.clone()));
            }
            if let Some(at) = at {
                self.expires.insert((at, name));
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
        self.map.iter().map(|(k, e)| (&k[8..], e))
    }

    /// One SCAN step: visits keys from `cursor` on until `count` keys have been visited (never
    /// splitting keys that share a hash), and returns the next cursor (0 when done).
    pub fn scan(&self, cursor: u64, count: usize, mut visit: impl FnMut(&[u8], &Entry)) -> u64 {
        let start = cursor.to_be_bytes();
        let mut last_hash = None;
        let range = self.map.range::<[u8], _>((
            std::ops::Bound::Included(&start[..]),
            std::ops::Bound::Unbounded,
        ));
        for (seen, (k, e)) in range.enumerate() {
            let h = u64::from_be_bytes(k[..8].try_into().unwrap_or([0; 8]));
            if seen >= count && last_hash != Some(h) {
                return h;
            }
            visit(&k[8..], e);
            last_hash = Some(h);
        }
        0
    }

    pub fn clear(&mut self) {
        self.map.clear();
        self.expires.clear();
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
        d.remove(b"a");
        assert_eq!(d.expires_len(), 0);
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
    }
}
