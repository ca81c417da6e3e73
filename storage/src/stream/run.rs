//! The on-disk encoding of a *run*: one `entries` record holding consecutive entries of one
//! stream (see the module docs of `store` for why).
//!
//! Key (built by the store): `sid u64 BE ‖ key ID (ms u64 BE ‖ seq u64 BE)`. Value:
//!
//! ```text
//! FORMAT u8 ‖ varint count ‖ count × (varint dms ‖ varint s ‖ varint len ‖ len bytes)
//! ```
//!
//! Each entry's ID is coded against `prev` — the key ID for the first entry, the previous
//! entry's ID after that: `dms = ms − prev.ms`; `s = seq − prev.seq` if `dms == 0`, else the
//! entry's `seq` itself. The `len` bytes are the entry's field list ([`super::entry::encode`]).
//!
//! Invariants, all checked by the decoder (a violation is an error, never a panic):
//! * `count ≥ 1`: an empty run is removed, never written;
//! * the key ID is a lower bound of the run: first ID ≥ key ID (equal when the run is written
//!   by appends; greater after the first entry was deleted and the run rewritten in place);
//! * IDs strictly increase within a run;
//! * the value ends right after the `count`-th entry.
//!
//! The store adds the invariants between runs: the runs of one stream never overlap, so in
//! key order they hold increasing, disjoint ID ranges, and every entry is in exactly one run.

use std::ops::Range;

use super::entry::{get_varint, put_varint};
use super::StreamId;

/// The first byte of every run value.
pub const FORMAT: u8 = 1;

/// A run that does not decode. The store reports it as `StoreError::Corrupt`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Corrupt(pub &'static str);

impl std::fmt::Display for Corrupt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

/// Builds a run value entry by entry.
#[derive(Debug, Clone)]
pub struct RunBuilder {
    key: StreamId,
    prev: StreamId,
    count: u64,
    body: Vec<u8>,
}

impl RunBuilder {
    /// A run that will be stored under `key`, which must be ≤ every ID pushed.
    pub fn new(key: StreamId) -> Self {
        RunBuilder {
            key,
            prev: key,
            count: 0,
            body: Vec::new(),
        }
    }

    /// The key ID the run is stored under.
    pub fn key(&self) -> StreamId {
        self.key
    }

    /// Appends an entry: `id` must be greater than the last pushed (≥ the key for the first);
    /// `fields` is its encoded field list.
    pub fn push(&mut self, id: StreamId, fields: &[u8]) {
        debug_assert!(
            if self.count == 0 {
                id >= self.key
            } else {
                id > self.prev
            },
            "run IDs must increase: {id} after {}",
            self.prev
        );
        let dms = id.ms - self.prev.ms;
        put_varint(&mut self.body, dms);
        put_varint(
            &mut self.body,
            if dms == 0 {
                id.seq - self.prev.seq
            } else {
                id.seq
            },
        );
        put_varint(&mut self.body, fields.len() as u64);
        self.body.extend_from_slice(fields);
        self.prev = id;
        self.count += 1;
    }

    /// Entries pushed so far.
    pub fn len(&self) -> usize {
        self.count as usize
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Bytes of the value without its header.
    pub fn body_len(&self) -> usize {
        self.body.len()
    }

    /// The run value. Must not be empty (see the invariants).
    pub fn finish(&self) -> Vec<u8> {
        debug_assert!(self.count > 0, "empty run");
        let mut out = Vec::with_capacity(11 + self.body.len());
        out.push(FORMAT);
        put_varint(&mut out, self.count);
        out.extend_from_slice(&self.body);
        out
    }
}

/// The entries of a run value in order: each ID and the byte range of its field list within
/// the value. Yields an error (then stops) if the value is corrupt.
pub struct RunIter<'a> {
    value: &'a [u8],
    pos: usize,
    left: u64,
    prev: StreamId,
    first: bool,
}

/// Starts decoding the run stored under `key` with value `value`.
pub fn iter(key: StreamId, value: &[u8]) -> Result<RunIter<'_>, Corrupt> {
    let (&format, rest) = value.split_first().ok_or(Corrupt("empty run value"))?;
    if format != FORMAT {
        return Err(Corrupt("unknown run format"));
    }
    let mut buf = rest;
    let count = get_varint(&mut buf).ok_or(Corrupt("bad run entry count"))?;
    if count == 0 {
        return Err(Corrupt("empty run"));
    }
    // Each entry takes at least three bytes.
    if count > buf.len() as u64 / 3 {
        return Err(Corrupt("run entry count larger than the value"));
    }
    Ok(RunIter {
        pos: value.len() - buf.len(),
        value,
        left: count,
        prev: key,
        first: true,
    })
}

/// Decodes a whole run (see [`iter`]).
pub fn decode(key: StreamId, value: &[u8]) -> Result<Vec<(StreamId, Range<usize>)>, Corrupt> {
    iter(key, value)?.collect()
}

impl RunIter<'_> {
    /// Entries not yet yielded (as the header says).
    pub fn remaining(&self) -> u64 {
        self.left
    }

    fn step(&mut self) -> Result<(StreamId, Range<usize>), Corrupt> {
        let mut buf = &self.value[self.pos..];
        let dms = get_varint(&mut buf).ok_or(Corrupt("bad run ID delta"))?;
        let s = get_varint(&mut buf).ok_or(Corrupt("bad run ID delta"))?;
        let ms = self
            .prev
            .ms
            .checked_add(dms)
            .ok_or(Corrupt("run ID overflows"))?;
        let seq = if dms == 0 {
            if s == 0 && !self.first {
                return Err(Corrupt("run IDs do not increase"));
            }
            self.prev
                .seq
                .checked_add(s)
                .ok_or(Corrupt("run ID overflows"))?
        } else {
            s
        };
        let len = get_varint(&mut buf).ok_or(Corrupt("bad run entry length"))?;
        let len = usize::try_from(len)
            .ok()
            .filter(|&l| l <= buf.len())
            .ok_or(Corrupt("run entry runs past the value"))?;
        let start = self.value.len() - buf.len();
        self.pos = start + len;
        let id = StreamId::new(ms, seq);
        self.prev = id;
        self.first = false;
        Ok((id, start..start + len))
    }
}

impl Iterator for RunIter<'_> {
    type Item = Result<(StreamId, Range<usize>), Corrupt>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.left == 0 {
            if self.pos != self.value.len() {
                self.pos = self.value.len();
                return Some(Err(Corrupt("trailing bytes after the run's entries")));
            }
            return None;
        }
        match self.step() {
            Ok(item) => {
                self.left -= 1;
                Some(Ok(item))
            }
            Err(e) => {
                self.left = 0;
                self.pos = self.value.len();
                Some(Err(e))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stream::entry;

    fn sample() -> (StreamId, Vec<(StreamId, Vec<u8>)>) {
        let key = StreamId::new(1000, 5);
        let entries = vec![
            (
                StreamId::new(1000, 5),
                entry::encode(&[b"f".as_slice(), b"v"]),
            ),
            (
                StreamId::new(1000, 6),
                entry::encode(&[b"f".as_slice(), b""]),
            ),
            (StreamId::new(1000, 900), entry::encode(&[vec![7u8; 300]])),
            (StreamId::new(5000, 0), entry::encode::<&[u8]>(&[])),
            (
                StreamId::new(5000, 1),
                entry::encode(&[b"a".as_slice(), b"b"]),
            ),
            (StreamId::new(u64::MAX, u64::MAX), entry::encode(&[b"x"])),
        ];
        (key, entries)
    }

    fn build(key: StreamId, entries: &[(StreamId, Vec<u8>)]) -> Vec<u8> {
        let mut b = RunBuilder::new(key);
        for (id, raw) in entries {
            b.push(*id, raw);
        }
        assert_eq!(b.len(), entries.len());
        b.finish()
    }

    #[test]
    fn round_trips() {
        let (key, entries) = sample();
        let value = build(key, &entries);
        let back = decode(key, &value).expect("decode");
        assert_eq!(back.len(), entries.len());
        for ((id, range), (want_id, want_raw)) in back.iter().zip(&entries) {
            assert_eq!(id, want_id);
            assert_eq!(&value[range.clone()], want_raw.as_slice());
        }
        // A key below the first ID (the first entry was deleted and the run rewritten).
        let lower = StreamId::new(3, 9);
        let value = build(lower, &entries[1..]);
        let back = decode(lower, &value).expect("decode");
        let ids: Vec<StreamId> = back.iter().map(|(id, _)| *id).collect();
        let want: Vec<StreamId> = entries[1..].iter().map(|(id, _)| *id).collect();
        assert_eq!(ids, want);
    }

    #[test]
    fn rejects_truncation_and_trailing_bytes() {
        let (key, entries) = sample();
        let value = build(key, &entries);
        for cut in 0..value.len() {
            assert!(decode(key, &value[..cut]).is_err(), "truncated at {cut}");
        }
        let mut longer = value.clone();
        longer.push(0);
        assert!(decode(key, &longer).is_err());
    }

    #[test]
    fn rejects_corrupt_headers_and_ids() {
        let key = StreamId::new(10, 0);
        // Wrong format byte, empty run, count past the value, a varint that never ends.
        assert!(decode(key, &[]).is_err());
        assert!(decode(key, &[9, 1, 0, 0, 0]).is_err());
        assert!(decode(key, &[FORMAT, 0]).is_err());
        assert!(decode(key, &[FORMAT, 100, 0, 0, 0]).is_err());
        assert!(decode(key, &[FORMAT, 0xff, 0xff, 0xff]).is_err());
        let mut bad = vec![FORMAT, 1];
        bad.extend_from_slice(&[0xff; 11]);
        assert!(decode(key, &bad).is_err());
        // Two entries with the same ID.
        assert_eq!(
            decode(key, &[FORMAT, 2, 0, 0, 0, 0, 0, 0]),
            Err(Corrupt("run IDs do not increase"))
        );
        // An ms delta that overflows.
        let mut over = vec![FORMAT, 1];
        put_varint(&mut over, u64::MAX);
        over.extend_from_slice(&[0, 0]);
        assert!(decode(key, &over).is_err());
        // A seq delta that overflows.
        let top = StreamId::new(10, u64::MAX);
        assert!(decode(top, &[FORMAT, 2, 0, 0, 0, 0, 1, 0]).is_err());
        // An entry length past the end.
        assert!(decode(key, &[FORMAT, 1, 0, 0, 5, 1, 2]).is_err());
    }

    #[test]
    fn iterator_stops_after_an_error() {
        let mut it = iter(StreamId::MIN, &[FORMAT, 2, 0, 0, 0, 0, 0, 9]).expect("header");
        assert_eq!(it.remaining(), 2);
        assert!(matches!(it.next(), Some(Ok(_))));
        assert!(matches!(it.next(), Some(Err(_))));
        assert!(it.next().is_none());
    }

    #[test]
    fn never_panics_on_random_bytes() {
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let len = (x % 24) as usize;
            let mut v: Vec<u8> = (0..len)
                .map(|i| (x.rotate_left(i as u32 * 5) & 0xff) as u8)
                .collect();
            if let Some(b) = v.first_mut() {
                if x & 1 == 0 {
                    *b = FORMAT;
                }
            }
            let _ = decode(StreamId::new(x >> 40, x & 0xff), &v);
        }
    }
}
