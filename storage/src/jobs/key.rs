//! The keys of the job store's staged writes (`Jobs::pending`, an ordered map that every
//! staged write and every read of the job store looks up).
//!
//! A [`Key`] holds a job-store key inline when it has at most [`INLINE`] bytes — every key but
//! the queue-index key of a queue whose name is longer than 30 bytes — so staging a write does
//! not allocate its key, and compares as bytes eight at a time: the keys of one kind share their
//! first bytes (a tag, then a time), which a byte-wise `memcmp` call per comparison, a dozen
//! per lookup, spent most of its time on.
//!
//! Invariant: the order of keys is the lexicographic order of their bytes (fjall's), whatever
//! their representation, so ranges over `pending` and over the keyspaces merge.

use std::cmp::Ordering;
use std::fmt;

/// Most bytes held inline (the enum is then 64 bytes).
pub(super) const INLINE: usize = 62;

/// A job-store key; see the module docs.
#[derive(Clone)]
pub(super) enum Key {
    Inline { len: u8, bytes: [u8; INLINE] },
    Heap(Box<[u8]>),
}

impl Key {
    pub(super) fn new(b: &[u8]) -> Key {
        if b.len() <= INLINE {
            let mut bytes = [0u8; INLINE];
            bytes[..b.len()].copy_from_slice(b);
            Key::Inline {
                len: b.len() as u8,
                bytes,
            }
        } else {
            Key::Heap(b.into())
        }
    }

    pub(super) fn as_slice(&self) -> &[u8] {
        match self {
            Key::Inline { len, bytes } => &bytes[..usize::from(*len)],
            Key::Heap(b) => b,
        }
    }
}

/// Eight bytes as a big-endian number (so that numbers compare as the bytes do).
fn be64(c: &[u8]) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(c);
    u64::from_be_bytes(w)
}

/// The lexicographic order of byte strings (`<[u8] as Ord>`), eight bytes at a time.
pub(super) fn compare(a: &[u8], b: &[u8]) -> Ordering {
    let n = a.len().min(b.len());
    let (a8, b8) = (a[..n].chunks_exact(8), b[..n].chunks_exact(8));
    let tail = n - n % 8;
    for (x, y) in a8.zip(b8) {
        let (x, y) = (be64(x), be64(y));
        if x != y {
            return x.cmp(&y);
        }
    }
    for (x, y) in a[tail..n].iter().zip(&b[tail..n]) {
        if x != y {
            return x.cmp(y);
        }
    }
    a.len().cmp(&b.len())
}

impl Ord for Key {
    fn cmp(&self, other: &Key) -> Ordering {
        compare(self.as_slice(), other.as_slice())
    }
}

impl PartialOrd for Key {
    fn partial_cmp(&self, other: &Key) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Key {
    fn eq(&self, other: &Key) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl Eq for Key {}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", bytes::Bytes::copy_from_slice(self.as_slice()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `compare` is the order of byte slices, and a key gives back its bytes, inline or not.
    #[test]
    fn keys_order_as_their_bytes() {
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let mut keys: Vec<Vec<u8>> = Vec::new();
        for _ in 0..3000 {
            let len = (next() % 80) as usize;
            // Few distinct bytes, so that keys share long prefixes and differ anywhere.
            let k: Vec<u8> = (0..len)
                .map(|_| [0u8, 1, 0x12, 0xff][(next() % 4) as usize])
                .collect();
            keys.push(k);
        }
        keys.push(Vec::new());
        for w in keys.windows(2) {
            let (a, b) = (&w[0], &w[1]);
            assert_eq!(compare(a, b), a.cmp(b), "{a:?} {b:?}");
            assert_eq!(compare(a, a), Ordering::Equal);
            let (ka, kb) = (Key::new(a), Key::new(b));
            assert_eq!(ka.as_slice(), &a[..]);
            assert_eq!(matches!(ka, Key::Inline { .. }), a.len() <= INLINE);
            assert_eq!(ka.cmp(&kb), a.cmp(b));
            assert_eq!(ka == kb, a == b);
        }
        // Prefixes: the shorter sorts first.
        assert_eq!(compare(b"\x12abcdefgh", b"\x12abcdefghi"), Ordering::Less);
        assert_eq!(
            compare(b"\x12abcdefghi", b"\x12abcdefgh"),
            Ordering::Greater
        );
        assert_eq!(std::mem::size_of::<Key>(), 64);
    }
}
