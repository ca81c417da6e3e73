//! Parsing helpers over a command's arguments: integers as Redis parses them, and a cursor.

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
        self.args.len() - self.pos
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

    /// The arguments not consumed yet.
    pub fn rest(&self) -> &'a [Bytes] {
        &self.args[self.pos..]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
