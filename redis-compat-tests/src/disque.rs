//! What the Disque-differential cases need beyond the Redis ones: job IDs and node IDs are
//! random, so each side's replies are normalised before they are compared, and the IDs a side
//! returned can be used in its later commands.
//!
//! * A **job ID** (Disque 1.0-rc1's format, 40 bytes: `D-` + 8 lowercase hex digits of the node
//!   ID + `-` + 24 base64 characters `[A-Za-z0-9+/]` + `-` + 4 lowercase hex digits, the TTL in
//!   minutes, odd for at-least-once jobs) found in a reply, as a bulk or a status string, is
//!   numbered in the order the side first returned it and replaced by
//!   `D-{node}..-{idN}..................-tttt`: the same length, the TTL digits kept. So the
//!   replies compare byte for byte when both sides return IDs of the same shape and TTL digits,
//!   in the same order of first appearance; an ID of another shape stays as it is and shows up
//!   in the diff.
//! * A **node ID** (a bulk string of exactly 40 lowercase hex digits: HELLO, SHOW's
//!   `nodes-delivered`/`nodes-confirmed`) becomes `{nodeN}` padded with dots to 40 bytes.
//! * In a later command, the argument text `{idN}` is replaced by that side's N-th job ID
//!   (each server gets its own), e.g. `ACKJOB {id1}`.
//!
//! The numbering is per case run and per side; a reply is normalised before its comparison, so
//! a predicate sees the normalised frame.

use crate::case::{pair, Step};
use crate::pred::same_but;
use crate::resp::{self, Frame};

/// A SHOW step (or anything holding SHOW's field list): exact but for the times, ctime and
/// next-*-within by shape and ttl within a second.
pub fn show(line: &str) -> Step {
    pair(
        line,
        "SHOW's fields; ctime and next-*-within by shape, ttl within 1 s",
        same_but(
            &["ctime", "next-requeue-within", "next-awake-within"],
            &[("ttl", 1)],
        ),
    )
}

/// A QSTAT step: exact but for age and idle (seconds, which may tick between the two servers).
pub fn qstat(line: &str) -> Step {
    pair(
        line,
        "QSTAT's fields; age and idle within 1 s",
        same_but(&[], &[("age", 1), ("idle", 1)]),
    )
}

/// The IDs one side has returned so far in one case run.
#[derive(Default, Debug)]
pub struct Ids {
    jobs: Vec<Vec<u8>>,
    nodes: Vec<Vec<u8>>,
}

pub const JOB_ID_LEN: usize = 40;

fn is_lower_hex(b: u8) -> bool {
    b.is_ascii_digit() || (b'a'..=b'f').contains(&b)
}

fn is_b64(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'+' || b == b'/'
}

/// `id` has Disque's job ID format (stricter than Disque's own check, which only looks at the
/// length and the `D-`, `-`, `-` positions).
pub fn is_job_id(id: &[u8]) -> bool {
    id.len() == JOB_ID_LEN
        && id.starts_with(b"D-")
        && id[2..10].iter().all(|&b| is_lower_hex(b))
        && id[10] == b'-'
        && id[11..35].iter().all(|&b| is_b64(b))
        && id[35] == b'-'
        && id[36..].iter().all(|&b| is_lower_hex(b))
}

fn is_node_id(id: &[u8]) -> bool {
    id.len() == 40 && id.iter().all(|&b| is_lower_hex(b))
}

fn pad(mut s: Vec<u8>, len: usize) -> Vec<u8> {
    s.resize(len.max(s.len()), b'.');
    s
}

impl Ids {
    fn job_placeholder(&mut self, id: &[u8]) -> Vec<u8> {
        let n = match self.jobs.iter().position(|j| j == id) {
            Some(i) => i + 1,
            None => {
                self.jobs.push(id.to_vec());
                self.jobs.len()
            }
        };
        let mut out = b"D-{node}..-".to_vec();
        out.extend(pad(format!("{{id{n}}}").into_bytes(), 24));
        out.push(b'-');
        out.extend_from_slice(&id[36..]);
        out
    }

    fn node_placeholder(&mut self, id: &[u8]) -> Vec<u8> {
        let n = match self.nodes.iter().position(|j| j == id) {
            Some(i) => i + 1,
            None => {
                self.nodes.push(id.to_vec());
                self.nodes.len()
            }
        };
        pad(format!("{{node{n}}}").into_bytes(), 40)
    }

    /// Normalise one reply's raw bytes (same length out: the frame structure is unchanged).
    pub fn normalise(&mut self, raw: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(raw.len());
        let mut i = 0;
        while i < raw.len() {
            // An ID is a whole string: after `+` or `$40\r\n`, followed by \r\n.
            let starts = i > 0 && (raw[i - 1] == b'+' || raw[i - 1] == b'\n');
            let whole = raw.get(i + 40..i + 42) == Some(b"\r\n".as_slice());
            if starts && whole {
                let cand = &raw[i..i + 40];
                if is_job_id(cand) {
                    out.extend(self.job_placeholder(cand));
                    i += 40;
                    continue;
                }
                if raw[..i].ends_with(b"$40\r\n") && is_node_id(cand) {
                    out.extend(self.node_placeholder(cand));
                    i += 40;
                    continue;
                }
            }
            out.push(raw[i]);
            i += 1;
        }
        out
    }

    /// Replace `{idN}` in a command argument by this side's N-th job ID (left as is when there
    /// is no such ID: the step then fails on the reference too, which points at the case).
    pub fn expand(&self, arg: &[u8]) -> Vec<u8> {
        if !arg.windows(3).any(|w| w == b"{id") {
            return arg.to_vec();
        }
        let mut out = Vec::with_capacity(arg.len());
        let mut i = 0;
        while i < arg.len() {
            if arg[i..].starts_with(b"{id") {
                let digits = arg[i + 3..]
                    .iter()
                    .take_while(|b| b.is_ascii_digit())
                    .count();
                if digits > 0 && arg.get(i + 3 + digits) == Some(&b'}') {
                    let n: usize = std::str::from_utf8(&arg[i + 3..i + 3 + digits])
                        .unwrap()
                        .parse()
                        .unwrap_or(0);
                    if let Some(id) = n.checked_sub(1).and_then(|k| self.jobs.get(k)) {
                        out.extend_from_slice(id);
                        i += 4 + digits;
                        continue;
                    }
                }
            }
            out.push(arg[i]);
            i += 1;
        }
        out
    }
}

/// Re-parse normalised bytes (same structure as the original reply).
pub fn reparse(raw: &[u8]) -> Frame {
    match resp::parse(raw) {
        Ok(Some((f, n))) if n == raw.len() => f,
        other => panic!(
            "normalised reply does not parse ({other:?}): {}",
            resp::escape(raw)
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &[u8] = b"D-9549ba56-kR2rK6OoKPRwcMl9/S9UlC3l-05a1";
    const B: &[u8] = b"D-1234abcd-kR2rK6OoKPRwcMl9/S9UlC3+-0001";

    #[test]
    fn numbers_job_ids_by_first_appearance() {
        assert!(is_job_id(A) && is_job_id(B));
        assert!(!is_job_id(b"D-9549ba56-kR2rK6OoKPRwcMl9/S9UlC3l-05A1"));
        let mut ids = Ids::default();
        let raw = [b"+".as_slice(), A, b"\r\n"].concat();
        let n = ids.normalise(&raw);
        assert_eq!(n, b"+D-{node}..-{id1}...................-05a1\r\n");
        assert_eq!(n.len(), raw.len());
        let raw = [b"*2\r\n$40\r\n", B, b"\r\n$40\r\n", A, b"\r\n"].concat();
        let n = ids.normalise(&raw);
        assert_eq!(
            n,
            b"*2\r\n$40\r\nD-{node}..-{id2}...................-0001\r\n$40\r\nD-{node}..-{id1}...................-05a1\r\n"
        );
        assert!(matches!(reparse(&n), Frame::Array(_)));
        assert_eq!(ids.expand(b"{id2}"), B);
        assert_eq!(ids.expand(b"x{id1}y{id3}"), [b"x", A, b"y{id3}"].concat());
    }

    #[test]
    fn numbers_node_ids() {
        let node = b"9549ba56d2f1a8b0c3e4f5061728394a5b6c7d8e";
        let mut ids = Ids::default();
        let raw = [b"*2\r\n:1\r\n$40\r\n".as_slice(), node, b"\r\n"].concat();
        assert_eq!(
            ids.normalise(&raw),
            b"*2\r\n:1\r\n$40\r\n{node1}.................................\r\n"
        );
        // not a whole bulk string: left alone
        let raw = [b"$41\r\n".as_slice(), node, b"x\r\n"].concat();
        assert_eq!(ids.normalise(&raw), raw);
    }
}
