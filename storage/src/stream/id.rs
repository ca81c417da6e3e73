//! Stream entry IDs: `<ms>-<seq>`, two unsigned 64-bit integers ordered lexicographically.
//!
//! Owns the binary key encoding (16 bytes, big-endian, so byte order is ID order) and the
//! decimal text form. Parsing of user-supplied IDs with their command-specific rules (`*`, `-`,
//! `+`, `$`, `>`, `(`, `<ms>-*`) lives with the commands; this module only knows complete IDs.

use std::fmt;

/// A stream entry ID.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StreamId {
    pub ms: u64,
    pub seq: u64,
}

impl StreamId {
    pub const MIN: StreamId = StreamId { ms: 0, seq: 0 };
    pub const MAX: StreamId = StreamId {
        ms: u64::MAX,
        seq: u64::MAX,
    };

    pub const fn new(ms: u64, seq: u64) -> Self {
        StreamId { ms, seq }
    }

    /// The 16-byte big-endian encoding; byte order equals ID order.
    pub fn to_be_bytes(self) -> [u8; 16] {
        let mut out = [0u8; 16];
        out[..8].copy_from_slice(&self.ms.to_be_bytes());
        out[8..].copy_from_slice(&self.seq.to_be_bytes());
        out
    }

    /// Decodes [`StreamId::to_be_bytes`]; `None` unless `b` is exactly 16 bytes.
    pub fn from_be_bytes(b: &[u8]) -> Option<Self> {
        let b: &[u8; 16] = b.try_into().ok()?;
        let (ms, seq) = b.split_at(8);
        Some(StreamId {
            ms: u64::from_be_bytes(ms.try_into().ok()?),
            seq: u64::from_be_bytes(seq.try_into().ok()?),
        })
    }

    /// The next ID in order, or `None` at [`StreamId::MAX`].
    pub fn successor(self) -> Option<Self> {
        if self.seq < u64::MAX {
            Some(StreamId::new(self.ms, self.seq + 1))
        } else if self.ms < u64::MAX {
            Some(StreamId::new(self.ms + 1, 0))
        } else {
            None
        }
    }

    /// The previous ID in order, or `None` at [`StreamId::MIN`].
    pub fn predecessor(self) -> Option<Self> {
        if self.seq > 0 {
            Some(StreamId::new(self.ms, self.seq - 1))
        } else if self.ms > 0 {
            Some(StreamId::new(self.ms - 1, u64::MAX))
        } else {
            None
        }
    }

    /// Parses a complete `<ms>-<seq>` or `<ms>` (seq taken as `missing_seq`). Digits only, as
    /// Redis's `string2ull`: no sign, no spaces; leading zeros are accepted.
    pub fn parse(text: &[u8], missing_seq: u64) -> Option<Self> {
        match memchr_dash(text) {
            Some(pos) => Some(StreamId::new(
                parse_u64(&text[..pos])?,
                parse_u64(&text[pos + 1..])?,
            )),
            None => Some(StreamId::new(parse_u64(text)?, missing_seq)),
        }
    }
}

fn memchr_dash(text: &[u8]) -> Option<usize> {
    text.iter().position(|&b| b == b'-')
}

/// Parses an unsigned decimal as Redis's `string2ull` does for stream IDs: 1–20 digits,
/// no sign, no overflow.
pub fn parse_u64(text: &[u8]) -> Option<u64> {
    if text.is_empty() || text.len() > 20 || !text.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let mut v: u64 = 0;
    for &d in text {
        v = v.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
    }
    Some(v)
}

/// The decimal text of an ID on the stack (`ms-seq`: at most 20 + 1 + 20 bytes), for replies:
/// formatting through `Display` showed up in XADD profiles.
pub struct IdText {
    buf: [u8; 41],
    len: u8,
}

impl IdText {
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[..usize::from(self.len)]
    }
}

fn push_u64(buf: &mut [u8; 41], at: usize, mut v: u64) -> usize {
    let mut tmp = [0u8; 20];
    let mut i = tmp.len();
    loop {
        i -= 1;
        tmp[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    let digits = &tmp[i..];
    buf[at..at + digits.len()].copy_from_slice(digits);
    at + digits.len()
}

impl StreamId {
    /// The reply text `ms-seq` without allocating.
    pub fn text(self) -> IdText {
        let mut buf = [0u8; 41];
        let mut at = push_u64(&mut buf, 0, self.ms);
        buf[at] = b'-';
        at = push_u64(&mut buf, at + 1, self.seq);
        IdText { buf, len: at as u8 }
    }
}

impl fmt::Display for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.ms, self.seq)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_order_is_id_order() {
        let ids = [
            StreamId::new(0, 1),
            StreamId::new(1, 0),
            StreamId::new(1, u64::MAX),
            StreamId::new(256, 0),
        ];
        for w in ids.windows(2) {
            assert!(w[0] < w[1]);
            assert!(w[0].to_be_bytes() < w[1].to_be_bytes());
            assert_eq!(StreamId::from_be_bytes(&w[0].to_be_bytes()), Some(w[0]));
        }
    }

    #[test]
    fn parse_accepts_redis_forms_only() {
        assert_eq!(
            StreamId::parse(b"000000012345", 0),
            Some(StreamId::new(12345, 0))
        );
        assert_eq!(StreamId::parse(b"5-3", 0), Some(StreamId::new(5, 3)));
        assert_eq!(
            StreamId::parse(b"5", u64::MAX),
            Some(StreamId::new(5, u64::MAX))
        );
        assert_eq!(StreamId::parse(b"18446744073709551616", 0), None);
        for bad in [&b""[..], b"-1", b"+1", b"1-", b"-", b"1-2-3", b"a", b" 1"] {
            assert_eq!(StreamId::parse(bad, 0), None, "{:?}", bad);
        }
    }

    #[test]
    fn text_matches_display() {
        for id in [
            StreamId::MIN,
            StreamId::MAX,
            StreamId::new(1, 0),
            StreamId::new(1795493627849, 12),
            StreamId::new(10, u64::MAX),
        ] {
            assert_eq!(id.text().as_bytes(), id.to_string().as_bytes());
        }
    }

    #[test]
    fn successor_and_predecessor_wrap_sequence_into_ms() {
        assert_eq!(
            StreamId::new(1, u64::MAX).successor(),
            Some(StreamId::new(2, 0))
        );
        assert_eq!(
            StreamId::new(2, 0).predecessor(),
            Some(StreamId::new(1, u64::MAX))
        );
        assert_eq!(StreamId::MAX.successor(), None);
        assert_eq!(StreamId::MIN.predecessor(), None);
    }
}
