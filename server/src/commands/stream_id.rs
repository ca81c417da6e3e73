//! The one parser of the stream IDs clients send, with Redis 7.0's modes and error texts
//! (`streamGenericParseIDOrReply`, `streamParseStrictIDOrReply`, `streamParseIntervalIDOrReply`).
//!
//! Modes: [`strict`] (`<ms>` or `<ms>-<seq>`), [`with_bounds`] (also `-` and `+`), [`xadd`]
//! (also `<ms>-*`), and the range bounds [`range_start`]/[`range_end`] (also `(` exclusive).
//! A missing sequence is `missing_seq` (0 for a start, `u64::MAX` for an end). The special IDs
//! `$`, `>` and `*` mean different things to different commands: the callers that accept them
//! match them before calling in here. Every failure is one of this module's error texts.

use sluice_storage::stream::StreamId;

use crate::args::parse_i64;
use crate::reply::ReplyError;

pub const INVALID_ID: &str = "ERR Invalid stream ID specified as stream command argument";
pub const INVALID_START: &str = "ERR invalid start ID for the interval";
pub const INVALID_END: &str = "ERR invalid end ID for the interval";

/// Redis's `string2ull`: the strict integer parser first (a negative value is refused), then
/// `strtoull`, which also takes leading white space, a sign (a minus wraps around), and any
/// number of leading zeros, but nothing after the digits.
fn string2ull(s: &[u8]) -> Option<u64> {
    if let Some(v) = parse_i64(s) {
        return u64::try_from(v).ok();
    }
    let mut i = 0;
    while i < s.len() && matches!(s[i], b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c) {
        i += 1;
    }
    let neg = match s.get(i) {
        Some(b'-') => {
            i += 1;
            true
        }
        Some(b'+') => {
            i += 1;
            false
        }
        _ => false,
    };
    let digits = s.get(i..).unwrap_or_default();
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let mut v: u64 = 0;
    for &d in digits {
        v = v.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
    }
    Some(if neg { v.wrapping_neg() } else { v })
}

/// `streamGenericParseIDOrReply`: `-`, `+` (unless strict), `<ms>`, `<ms>-<seq>`, and with
/// `seq_star` also `<ms>-*`. Returns the ID and whether the sequence was given (false for `*`).
fn generic(
    arg: &[u8],
    missing_seq: u64,
    strict: bool,
    seq_star: bool,
) -> Result<(StreamId, bool), ReplyError> {
    if arg.len() > 127 {
        return Err(INVALID_ID.into());
    }
    match arg {
        b"-" if !strict => return Ok((StreamId::MIN, true)),
        b"+" if !strict => return Ok((StreamId::MAX, true)),
        _ => {}
    }
    let (ms, seq) = match arg.iter().position(|&b| b == b'-') {
        Some(p) => (&arg[..p], Some(&arg[p + 1..])),
        None => (arg, None),
    };
    let ms = string2ull(ms).ok_or(ReplyError::from(INVALID_ID))?;
    match seq {
        Some(b"*") if seq_star => Ok((StreamId::new(ms, 0), false)),
        Some(s) => Ok((
            StreamId::new(ms, string2ull(s).ok_or(ReplyError::from(INVALID_ID))?),
            true,
        )),
        None => Ok((StreamId::new(ms, missing_seq), true)),
    }
}

/// A complete ID: `<ms>-<seq>`, or `<ms>` with the sequence `missing_seq`.
pub fn strict(arg: &[u8], missing_seq: u64) -> Result<StreamId, ReplyError> {
    generic(arg, missing_seq, true, false).map(|(id, _)| id)
}

/// [`strict`], or `-` (0-0) and `+` (the maximum ID).
pub fn with_bounds(arg: &[u8], missing_seq: u64) -> Result<StreamId, ReplyError> {
    generic(arg, missing_seq, false, false).map(|(id, _)| id)
}

/// XADD's explicit ID: [`strict`] with a missing sequence of 0, or `<ms>-*`. Returns the ID and
/// whether its sequence was given (false for `<ms>-*`: the caller picks it).
pub fn xadd(arg: &[u8]) -> Result<(StreamId, bool), ReplyError> {
    generic(arg, 0, true, true)
}

/// A range bound: `(ID` is exclusive (then a complete ID), else [`with_bounds`].
fn interval(arg: &[u8], missing_seq: u64) -> Result<(StreamId, bool), ReplyError> {
    match arg.split_first() {
        Some((b'(', id)) if !id.is_empty() => Ok((strict(id, missing_seq)?, true)),
        _ => Ok((with_bounds(arg, missing_seq)?, false)),
    }
}

/// The first ID of an inclusive range (XRANGE's start, XPENDING's, XAUTOCLAIM's): a missing
/// sequence is 0, and `(ID` starts after ID.
pub fn range_start(arg: &[u8]) -> Result<StreamId, ReplyError> {
    match interval(arg, 0)? {
        (id, true) => id.successor().ok_or(ReplyError::from(INVALID_START)),
        (id, false) => Ok(id),
    }
}

/// The last ID of an inclusive range: a missing sequence is the largest, and `(ID` ends before
/// ID.
pub fn range_end(arg: &[u8]) -> Result<StreamId, ReplyError> {
    match interval(arg, u64::MAX)? {
        (id, true) => id.predecessor().ok_or(ReplyError::from(INVALID_END)),
        (id, false) => Ok(id),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(ms: u64, seq: u64) -> StreamId {
        StreamId::new(ms, seq)
    }

    #[test]
    fn modes_accept_what_redis_accepts() {
        assert_eq!(strict(b"5", 0), Ok(id(5, 0)));
        assert_eq!(strict(b"5", u64::MAX), Ok(id(5, u64::MAX)));
        assert_eq!(strict(b"5-3", 0), Ok(id(5, 3)));
        // strtoull: leading zeros, spaces, a sign; a minus wraps.
        assert_eq!(strict(b"007-1", 0), Ok(id(7, 1)));
        assert_eq!(strict(b" 7", 0), Ok(id(7, 0)));
        assert_eq!(strict(b"+7", 0), Ok(id(7, 0)));
        assert_eq!(strict(b"1- 2", 0), Ok(id(1, 2)));
        for bad in [
            &b""[..],
            b"1--1",
            b"-",
            b"+",
            b"x",
            b"1-",
            b"1-x",
            b"1-*",
            b"7 ",
            b"1-2-3",
        ] {
            assert_eq!(strict(bad, 0), Err(INVALID_ID.into()), "{bad:?}");
        }
        assert_eq!(strict(&[b'1'; 128], 0), Err(INVALID_ID.into()));
        assert_eq!(with_bounds(b"-", 5), Ok(StreamId::MIN));
        assert_eq!(with_bounds(b"+", 5), Ok(StreamId::MAX));
        assert_eq!(xadd(b"5-*"), Ok((id(5, 0), false)));
        assert_eq!(xadd(b"5"), Ok((id(5, 0), true)));
        assert_eq!(xadd(b"*"), Err(INVALID_ID.into()));
    }

    #[test]
    fn range_bounds_and_exclusive_ends() {
        assert_eq!(range_start(b"5"), Ok(id(5, 0)));
        assert_eq!(range_end(b"5"), Ok(id(5, u64::MAX)));
        assert_eq!(range_start(b"(5-1"), Ok(id(5, 2)));
        assert_eq!(range_end(b"(5-1"), Ok(id(5, 0)));
        assert_eq!(range_start(b"-"), Ok(StreamId::MIN));
        assert_eq!(range_end(b"+"), Ok(StreamId::MAX));
        // `(` alone is an ID like any other (invalid); `(-` and `(+` are not bounds.
        assert_eq!(range_start(b"("), Err(INVALID_ID.into()));
        assert_eq!(range_start(b"(-"), Err(INVALID_ID.into()));
        let max = StreamId::MAX.to_string();
        assert_eq!(
            range_start(format!("({max}").as_bytes()),
            Err(INVALID_START.into())
        );
        assert_eq!(range_end(b"(0-0"), Err(INVALID_END.into()));
        assert_eq!(range_end(b"(0"), Ok(id(0, u64::MAX - 1)));
    }
}
