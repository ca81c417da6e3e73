//! Job IDs in Disque's 40-character format, and their 20-byte stored form.
//!
//! `D-` ‖ the first 8 characters of the node ID ‖ `-` ‖ 24 base64 characters (144 bits:
//! Disque's are random; ours are the job's creation time, 64 bits, then 80 random bits, see
//! `Jobs::new_id`) ‖ `-` ‖ 4 lowercase hex digits: the TTL in minutes (capped at 65,535), odd for
//! at-least-once jobs (RETRY > 0) and even for at-most-once ones (RETRY 0), as Disque writes it
//! (`generateJobID` in job.c).
//!
//! The stored form ([`JobId`]) keeps only what is not the same for every job of this node:
//! the 18 bytes of the middle part and the TTL word. Every 24-character string over the base64 alphabet
//! decodes to exactly one 18-byte value and back, and only lowercase hex is accepted, so a
//! string parses to a `JobId` if and only if formatting that `JobId` gives the string back.
//! (Disque's own encoder drops 6 bits of each 3-byte group; ours is plain base64, which Disque
//! clients cannot tell apart: they treat IDs as opaque.)

/// Length of a job ID string.
pub const JOB_ID_LEN: usize = 40;

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const HEX: &[u8; 16] = b"0123456789abcdef";

/// A job's identity as stored: 18 random bytes, then the TTL word (big endian).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct JobId(pub [u8; 20]);

/// Disque's check (`validateJobID`): length 40 and the `D-`, `-`, `-` at offsets 0, 1, 10,
/// 35. Anything else is `-BADID`.
pub fn is_valid(s: &[u8]) -> bool {
    s.len() == JOB_ID_LEN && s[0] == b'D' && s[1] == b'-' && s[10] == b'-' && s[35] == b'-'
}

/// The TTL word of an ID: `ttl_secs / 60` capped at 65,535, forced odd for at-least-once and
/// even for at-most-once jobs.
pub fn ttl_word(ttl_secs: i64, retry: i64) -> u16 {
    let mut m = (ttl_secs / 60).clamp(0, 65_535) as u16;
    if ttl_secs < 0 {
        m = 1;
    }
    if retry > 0 {
        m | 1
    } else {
        m & !1
    }
}

fn b64_value(c: u8) -> Option<u32> {
    match c {
        b'A'..=b'Z' => Some(u32::from(c - b'A')),
        b'a'..=b'z' => Some(u32::from(c - b'a') + 26),
        b'0'..=b'9' => Some(u32::from(c - b'0') + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    }
}

fn hex_value(c: u8) -> Option<u16> {
    match c {
        b'0'..=b'9' => Some(u16::from(c - b'0')),
        b'a'..=b'f' => Some(u16::from(c - b'a') + 10),
        _ => None,
    }
}

impl JobId {
    /// A new ID from 18 random bytes and the TTL word.
    pub fn new(random: [u8; 18], ttl_word: u16) -> JobId {
        let mut b = [0u8; 20];
        b[..18].copy_from_slice(&random);
        b[18..].copy_from_slice(&ttl_word.to_be_bytes());
        JobId(b)
    }

    pub fn ttl_word(&self) -> u16 {
        u16::from_be_bytes([self.0[18], self.0[19]])
    }

    /// The ID says the job is at-least-once (odd TTL word).
    pub fn at_least_once(&self) -> bool {
        self.ttl_word() & 1 == 1
    }

    /// The 40-character form, with this node's 8-character prefix.
    pub fn format(&self, node: &[u8; 8]) -> [u8; JOB_ID_LEN] {
        let mut s = [0u8; JOB_ID_LEN];
        s[0] = b'D';
        s[1] = b'-';
        s[2..10].copy_from_slice(node);
        s[10] = b'-';
        for (g, chunk) in self.0[..18].chunks_exact(3).enumerate() {
            let v = (u32::from(chunk[0]) << 16) | (u32::from(chunk[1]) << 8) | u32::from(chunk[2]);
            for k in 0..4 {
                s[11 + g * 4 + k] = B64[((v >> (18 - 6 * k)) & 63) as usize];
            }
        }
        s[35] = b'-';
        let w = self.ttl_word();
        for k in 0..4 {
            s[36 + k] = HEX[usize::from((w >> (12 - 4 * k)) & 0xF)];
        }
        s
    }

    /// The stored form of `s` if it can name a job of this node (`node` is its prefix); `None`
    /// for an ID that is well formed but can't be ours (so: an unknown job).
    pub fn parse(s: &[u8], node: &[u8; 8]) -> Option<JobId> {
        if !is_valid(s) || &s[2..10] != node {
            return None;
        }
        let mut b = [0u8; 20];
        for g in 0..6 {
            let mut v = 0u32;
            for k in 0..4 {
                v = (v << 6) | b64_value(s[11 + g * 4 + k])?;
            }
            b[g * 3] = (v >> 16) as u8;
            b[g * 3 + 1] = (v >> 8) as u8;
            b[g * 3 + 2] = v as u8;
        }
        let mut w = 0u16;
        for k in 0..4 {
            w = (w << 4) | hex_value(s[36 + k])?;
        }
        b[18..].copy_from_slice(&w.to_be_bytes());
        Some(JobId(b))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_and_parse_round_trip() {
        let node = *b"d9fe57e9";
        for seed in 0u8..=255 {
            let mut r = [0u8; 18];
            for (i, x) in r.iter_mut().enumerate() {
                *x = seed
                    .wrapping_mul(31)
                    .wrapping_add((i as u8).wrapping_mul(17));
            }
            let id = JobId::new(r, u16::from(seed) * 257);
            let s = id.format(&node);
            assert!(is_valid(&s));
            assert_eq!(JobId::parse(&s, &node), Some(id));
        }
    }

    #[test]
    fn ttl_word_is_odd_for_at_least_once() {
        assert_eq!(ttl_word(86_400, 300), 0x05a1);
        assert_eq!(ttl_word(60, 2), 1);
        assert_eq!(ttl_word(1, 0), 0);
        assert_eq!(ttl_word(i64::MAX, 0), 65_534);
        assert_eq!(ttl_word(i64::MAX, 1), 65_535);
    }

    #[test]
    fn foreign_or_malformed_ids_do_not_parse() {
        let node = *b"d9fe57e9";
        let id = JobId::new([7; 18], 0x05a1).format(&node);
        assert!(JobId::parse(&id, b"00000000").is_none());
        let mut upper = id;
        upper[39] = b'A';
        assert!(is_valid(&upper));
        assert!(JobId::parse(&upper, &node).is_none());
        let mut bad = id;
        bad[20] = b'!';
        assert!(JobId::parse(&bad, &node).is_none());
        assert!(!is_valid(&id[..39]));
        assert!(!is_valid(b"D-xxxxxxxx+yyyyyyyyyyyyyyyyyyyyyyyy-0000"));
    }
}
