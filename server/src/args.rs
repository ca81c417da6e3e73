//! Parsing helpers over a command's arguments: integers as Redis parses them, and a cursor.
//!
//! Handlers parse their arguments through an [`Args`] cursor into a typed value before they
//! touch any state; the cursor never indexes past the arguments it was given, so a handler that
//! reads through it cannot read past what its row's arity guarantees.

use bytes::Bytes;

use crate::reply::{ReplyError, NOT_INTEGER};

/// Parses a signed 64-bit integer exactly as Redis's `string2ll` (the protocol parser's).
pub fn parse_i64(b: &[u8]) -> Option<i64> {
    sluice_resp::parse::string_to_i64(b)
}

/// [`parse_i64`] with Redis's error.
pub fn int(b: &[u8]) -> Result<i64, ReplyError> {
    parse_i64(b).ok_or(ReplyError::from(NOT_INTEGER))
}

/// A whole string as C's `strtoll`/`strtoul` read it where Redis and Disque then check that
/// nothing follows (`eptr[0] == '\0'`): up to a NUL byte (C's end of string), no leading white
/// space, an optional sign, then digits only; the empty string is 0. The sign and the
/// magnitude; `None` past 2^64 - 1.
fn c_whole_number(b: &[u8]) -> Option<(bool, u64)> {
    let b = b.split(|c| *c == 0).next().unwrap_or_default();
    let Some(&first) = b.first() else {
        return Some((false, 0));
    };
    if matches!(first, b' ' | b'\t' | b'\n' | b'\x0b' | b'\x0c' | b'\r') {
        return None;
    }
    let (neg, digits) = match first {
        b'-' => (true, &b[1..]),
        b'+' => (false, &b[1..]),
        _ => (false, b),
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let mut v: u64 = 0;
    for d in digits {
        v = v.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
    }
    Some((neg, v))
}

/// A SCAN cursor as Redis's and Disque's `parseScanCursorOrReply` read it (`strtoul`, see
/// [`c_whole_number`]): `-1` wraps to 2^64 - 1.
pub fn scan_cursor(b: &[u8]) -> Option<u64> {
    let (neg, v) = c_whole_number(b)?;
    Some(if neg { v.wrapping_neg() } else { v })
}

/// Disque's `getLongLongFromObject` (`strtoll`, see [`c_whole_number`]): out of the i64 range
/// is refused.
pub fn strtoll(b: &[u8]) -> Option<i64> {
    let (neg, v) = c_whole_number(b)?;
    if neg {
        (v <= 1 << 63).then(|| (v as i64).wrapping_neg())
    } else {
        i64::try_from(v).ok()
    }
}

/// Parses a double as Redis's `string2ld`/`strtold` for user input: no spaces, finite or inf.
pub fn parse_f64(b: &[u8]) -> Option<f64> {
    let s = std::str::from_utf8(b).ok()?;
    if s.is_empty() || s.starts_with(char::is_whitespace) || s.ends_with(char::is_whitespace) {
        return None;
    }
    let v: f64 = match s.to_ascii_lowercase().as_str() {
        "inf" | "+inf" | "infinity" | "+infinity" => f64::INFINITY,
        "-inf" | "-infinity" => f64::NEG_INFINITY,
        _ => s.parse().ok()?,
    };
    (!v.is_nan()).then_some(v)
}

/// Case-insensitive ASCII comparison of an argument with a keyword.
pub fn eq(arg: &[u8], keyword: &str) -> bool {
    arg.eq_ignore_ascii_case(keyword.as_bytes())
}

/// A forward cursor over a command's arguments (after the command name).
pub struct Args<'a> {
    args: &'a [Bytes],
    pos: usize,
}

impl<'a> Args<'a> {
    pub fn new(args: &'a [Bytes]) -> Self {
        Args { args, pos: 0 }
    }

    pub fn remaining(&self) -> usize {
        self.args.len().saturating_sub(self.pos)
    }

    pub fn is_empty(&self) -> bool {
        self.remaining() == 0
    }

    pub fn peek(&self) -> Option<&'a Bytes> {
        self.args.get(self.pos)
    }

    /// The next argument, or a syntax error.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Result<&'a Bytes, ReplyError> {
        let a = self
            .args
            .get(self.pos)
            .ok_or(ReplyError::from(crate::reply::SYNTAX))?;
        self.pos += 1;
        Ok(a)
    }

    pub fn next_opt(&mut self) -> Option<&'a Bytes> {
        let a = self.args.get(self.pos)?;
        self.pos += 1;
        Some(a)
    }

    pub fn next_i64(&mut self) -> Result<i64, ReplyError> {
        int(self.next()?)
    }

    /// The next argument as an integer, with `err` if it is not one (a syntax error if there
    /// is none).
    pub fn next_int(&mut self, err: &'static str) -> Result<i64, ReplyError> {
        parse_i64(self.next()?).ok_or(ReplyError::from(err))
    }

    /// Whether the next argument is `keyword` (any case), without consuming it.
    pub fn peek_is(&self, keyword: &str) -> bool {
        self.peek().is_some_and(|a| eq(a, keyword))
    }

    /// Consumes the next argument if it is `keyword` (any case).
    pub fn next_if(&mut self, keyword: &str) -> bool {
        let hit = self.peek_is(keyword);
        if hit {
            self.pos += 1;
        }
        hit
    }

    /// The arguments not consumed yet.
    pub fn rest(&self) -> &'a [Bytes] {
        self.args.get(self.pos..).unwrap_or_default()
    }

    /// Consumes every argument left and returns them.
    pub fn take_rest(&mut self) -> &'a [Bytes] {
        let rest = self.rest();
        self.pos = self.args.len();
        rest
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_consumes_in_order_and_never_panics() {
        let v: Vec<Bytes> = ["COUNT", "5", "x"]
            .iter()
            .map(|s| Bytes::from(*s))
            .collect();
        let mut a = Args::new(&v);
        assert!(a.peek_is("count") && !a.next_if("BLOCK") && a.next_if("count"));
        assert_eq!(a.next_int("ERR bad"), Ok(5));
        assert_eq!(a.next_int("ERR bad"), Err(ReplyError::from("ERR bad")));
        assert!(a.is_empty() && a.rest().is_empty() && a.take_rest().is_empty());
        assert!(a.next().is_err() && a.next_opt().is_none() && !a.next_if("x"));
        let mut a = Args::new(&v);
        assert_eq!(a.take_rest().len(), 3);
        assert_eq!(a.remaining(), 0);
    }

    #[test]
    fn integers_parse_like_redis() {
        assert_eq!(parse_i64(b"0"), Some(0));
        assert_eq!(parse_i64(b"-9223372036854775808"), Some(i64::MIN));
        assert_eq!(parse_i64(b"9223372036854775807"), Some(i64::MAX));
        for bad in [
            &b""[..],
            b"9223372036854775808",
            b"-9223372036854775809",
            b"01",
            b"+1",
            b" 1",
            b"1 ",
            b"-",
            b"-0",
            b"1.0",
        ] {
            assert_eq!(parse_i64(bad), None, "{:?}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn doubles_reject_nan_and_spaces() {
        assert_eq!(parse_f64(b"1.5"), Some(1.5));
        assert_eq!(parse_f64(b"-inf"), Some(f64::NEG_INFINITY));
        assert_eq!(parse_f64(b"nan"), None);
        assert_eq!(parse_f64(b" 1"), None);
    }
}
