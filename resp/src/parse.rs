//! Incremental, bounded request parsing: RESP multibulk requests and inline commands.
//!
//! This module owns the request side of the wire protocol. [`RequestParser`] turns the bytes a
//! client sends into commands (`Vec<Bytes>`), one per [`RequestParser::parse`] call, with the
//! behaviour and the error texts of Redis 7.0's `processMultibulkBuffer` and
//! `processInlineBuffer` (`src/networking.c`).
//!
//! # Invariants
//!
//! * **Bounded.** Every length read from the network is checked against [`ParseLimits`] (and, for
//!   clients that have not authenticated, against Redis's fixed [`UNAUTHENTICATED_MAX_ARGS`] and
//!   [`UNAUTHENTICATED_MAX_BULK_LEN`]) before it is used. No allocation is sized by a network
//!   number beyond [`INITIAL_ARGS_CAPACITY`] argument slots; argument bytes are never copied into
//!   a buffer sized by the announced length, they are sliced out of the caller's buffer once they
//!   have arrived. A line (inline command, `*<n>` or `$<len>` header) is searched for its end
//!   only within its first `max_inline_len + 1` bytes.
//! * **Linear.** The state of a partial request (arguments still expected, arguments collected,
//!   length of the argument being read, how far the current line has been searched) lives in the
//!   parser, and the bytes of every complete header and argument are consumed from the buffer as
//!   soon as they are parsed. A partial request is therefore never re-scanned: bytes are searched
//!   once (plus at most one byte per call), argument bodies are never searched at all (waiting for
//!   one is a length comparison), so the work for a request is linear in its size however it is
//!   split across reads. [`RequestParser::bytes_examined`] counts that work so tests can check it.
//! * **Total.** No input makes the parser panic: every index is checked, numbers are parsed with
//!   overflow checks, and nothing from the network is `unwrap`ped.
//! * **No recursion.** Requests are flat arrays of bulk strings; a nested aggregate is the Redis
//!   error `expected '$', got '*'`.
//!
//! # Protocol, as Redis 7.0 does it
//!
//! * A request that starts with `*` is a multibulk: `*<n>\r\n` then `n` times `$<len>\r\n`,
//!   `len` bytes and two more bytes. Like Redis, the two bytes after a header's `\r` and after an
//!   argument are skipped without being checked to be `\r\n`.
//! * `*0` and negative counts (`*-1`) are empty requests: consumed and skipped, never returned.
//! * Anything else is an inline command: a line up to `\n` (a `\r` before it is dropped) split
//!   like `sdssplitargs` does, with `"double"` quotes (escapes `\n \r \t \b \a \\ \" \xHH`) and
//!   `'single'` quotes (escape `\'`). A line with no arguments is skipped.
//! * Numbers follow Redis's strict `string2ll`: optional `-`, no `+`, no spaces, no leading
//!   zeros, within `i64`.
//!
//! Deliberate differences from Redis, none reachable by a well-formed client:
//! * Redis searches lines with `strchr`, so a NUL byte in a header or an inline line hides the
//!   line end and the connection stalls until the 64 KiB limit trips. Here a NUL is an ordinary
//!   byte: it makes a header's number invalid, and it is part of an inline argument.
//! * Redis checks the 64 KiB limit only when a read leaves no line end in the buffer, so whether
//!   a longer line passes depends on how it was split into reads. Here a line whose end is not
//!   within its first `max_inline_len + 1` bytes is always the "too big" error.
//! * An `expected '$', got '%c'` byte that is not ASCII is written as the Unicode character of
//!   the same number (the error text is a `String`).

use bytes::{Buf, Bytes, BytesMut};

/// The most arguments a client that has not authenticated may send in one multibulk request
/// (Redis: `ll > 10 && authRequired(c)`).
pub const UNAUTHENTICATED_MAX_ARGS: usize = 10;

/// The longest bulk argument a client that has not authenticated may send
/// (Redis: `ll > 16384 && authRequired(c)`).
pub const UNAUTHENTICATED_MAX_BULK_LEN: usize = 16 * 1024;

/// The most argument slots reserved up front for a multibulk request, whatever count it
/// announces (Redis: `argv_len = min(multibulklen, 1024)`); the vector grows as arguments arrive.
pub const INITIAL_ARGS_CAPACITY: usize = 1024;

/// Memory counted per collected argument besides its bytes (the `Bytes` handle and its slot).
const ARG_OVERHEAD: usize = 48;

/// Limits on what a client may send, with Redis's names and defaults.
#[derive(Clone, Debug)]
pub struct ParseLimits {
    /// `proto-max-bulk-len`: the largest bulk string argument (Redis default 512 MB).
    pub max_bulk_len: usize,
    /// The largest number of arguments in one multibulk request. Redis 7.0 accepts up to
    /// `INT_MAX` (`ll > INT_MAX` is `invalid multibulk length`), which is the default here;
    /// memory is only spent as arguments actually arrive.
    pub max_multibulk_len: usize,
    /// The longest line: an inline command, or a `*<n>` / `$<len>` header (Redis
    /// `PROTO_INLINE_MAX_SIZE`, 64 KiB).
    pub max_inline_len: usize,
}

impl Default for ParseLimits {
    fn default() -> Self {
        ParseLimits {
            max_bulk_len: 512 * 1024 * 1024,
            max_multibulk_len: i32::MAX as usize,
            max_inline_len: 64 * 1024,
        }
    }
}

/// A protocol error: the connection gets `-ERR Protocol error: <msg>` and is closed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError(pub String);

impl ParseError {
    /// The error reply text, without the leading `-` and trailing CRLF.
    pub fn reply_text(&self) -> String {
        format!("ERR Protocol error: {}", self.0)
    }

    fn new(msg: &str) -> Self {
        ParseError(msg.to_owned())
    }

    /// Redis's `expected '$', got '%c'`. Redis formats it with `addReplyErrorFormat`, which turns
    /// `\r` and `\n` into spaces, and with a C string, which ends at a NUL byte.
    fn expected_dollar(got: u8) -> Self {
        let mut msg = String::from("expected '$', got '");
        match got {
            0 => return ParseError(msg),
            b'\r' | b'\n' => msg.push(' '),
            other => msg.push(char::from(other)),
        }
        msg.push('\'');
        ParseError(msg)
    }
}

const INVALID_MULTIBULK_LEN: &str = "invalid multibulk length";
const UNAUTH_MULTIBULK_LEN: &str = "unauthenticated multibulk length";
const INVALID_BULK_LEN: &str = "invalid bulk length";
const UNAUTH_BULK_LEN: &str = "unauthenticated bulk length";
const TOO_BIG_MBULK_COUNT: &str = "too big mbulk count string";
const TOO_BIG_BULK_COUNT: &str = "too big bulk count string";
const TOO_BIG_INLINE: &str = "too big inline request";
const UNBALANCED_QUOTES: &str = "unbalanced quotes in request";

/// Where the parser is within the request at the front of the buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Between requests: the next byte decides multibulk (`*`) or inline.
    Idle,
    /// Reading the `*<n>` line.
    MultibulkCount,
    /// Reading the `$<len>` line of the next argument.
    BulkLen,
    /// Waiting for an argument's `len` bytes and the two bytes after them.
    BulkBody { len: usize },
    /// Reading an inline command line.
    Inline,
}

/// The outcome of searching the current line for its end.
enum Line {
    /// The line ends at this index (the index of the delimiter).
    End(usize),
    /// The end has not arrived yet.
    NeedMore,
    /// No end within `max_inline_len + 1` bytes.
    TooLong,
}

/// Parses requests out of a connection's read buffer, keeping state across partial reads.
///
/// The caller owns the buffer: it appends what it reads at the end and calls
/// [`parse`](Self::parse) until it returns `Ok(None)`, and must not remove or change bytes the
/// parser has not consumed. After an error the connection is to be closed; the parser is reset,
/// and the buffer is left where the error was found.
#[derive(Debug)]
pub struct RequestParser {
    limits: ParseLimits,
    state: State,
    /// Arguments of the multibulk request being read.
    args: Vec<Bytes>,
    /// Arguments of that request still to come.
    args_left: usize,
    /// How many bytes at the front of the buffer are known not to hold the delimiter the current
    /// line is searched for; a search resumes there.
    searched: usize,
    /// Bytes examined so far, see [`bytes_examined`](Self::bytes_examined).
    examined: u64,
    /// Memory held by `args`, see [`pending_bytes`](Self::pending_bytes).
    args_bytes: usize,
}

impl RequestParser {
    pub fn new(limits: ParseLimits) -> Self {
        RequestParser {
            limits,
            state: State::Idle,
            args: Vec::new(),
            args_left: 0,
            searched: 0,
            examined: 0,
            args_bytes: 0,
        }
    }

    pub fn limits(&self) -> &ParseLimits {
        &self.limits
    }

    pub fn set_limits(&mut self, limits: ParseLimits) {
        self.limits = limits;
    }

    /// While the parser waits for an argument's bytes: how many bytes the front of the buffer
    /// must hold for it to complete (the argument and the two bytes after it), so the caller can
    /// `buf.reserve(n.saturating_sub(buf.len()))` once instead of growing step by step. The
    /// number is bounded by `max_bulk_len + 2` (by 16 KiB + 2 before authentication).
    /// `None` when the parser is not waiting for an argument body.
    pub fn bytes_needed(&self) -> Option<usize> {
        match self.state {
            State::BulkBody { len } => Some(len.saturating_add(2)),
            _ => None,
        }
    }

    /// Memory held by the arguments of the request being read, counted as their bytes plus a
    /// fixed overhead per argument: the caller adds it to its buffer's length when it enforces
    /// `client-query-buffer-limit`, because consumed arguments no longer sit in the buffer.
    pub fn pending_bytes(&self) -> usize {
        self.args_bytes
    }

    /// Whether a request has been started but not completed.
    pub fn is_partial(&self) -> bool {
        self.state != State::Idle
    }

    /// A work counter: the total number of bytes this parser has examined (searching lines for
    /// their end and splitting inline commands; argument bodies are never examined). Parsing is
    /// linear when this stays within a small multiple of the bytes fed, however they were split.
    pub fn bytes_examined(&self) -> u64 {
        self.examined
    }

    /// Parses one complete command from the front of `buf`, consuming its bytes.
    /// `Ok(None)`: more bytes are needed. `authenticated`: false applies Redis's stricter
    /// limits for unauthenticated clients.
    ///
    /// Empty requests (`*0`, `*-1`, blank inline lines) are consumed and skipped, so a returned
    /// command always has at least one argument. Arguments of multibulk requests are slices of
    /// `buf`'s memory (no copy); inline arguments are copied only when they use quotes.
    pub fn parse(
        &mut self,
        buf: &mut BytesMut,
        authenticated: bool,
    ) -> Result<Option<Vec<Bytes>>, ParseError> {
        let result = self.parse_inner(buf, authenticated);
        if result.is_err() {
            self.reset();
        }
        result
    }

    fn reset(&mut self) {
        self.state = State::Idle;
        self.args = Vec::new();
        self.args_bytes = 0;
        self.args_left = 0;
        self.searched = 0;
    }

    /// Moves to `state` after consuming `n` bytes of the buffer.
    fn advance(&mut self, buf: &mut BytesMut, n: usize, state: State) {
        buf.advance(n.min(buf.len()));
        self.searched = 0;
        self.state = state;
    }

    fn parse_inner(
        &mut self,
        buf: &mut BytesMut,
        authenticated: bool,
    ) -> Result<Option<Vec<Bytes>>, ParseError> {
        loop {
            match self.state {
                State::Idle => {
                    let Some(&first) = buf.first() else {
                        return Ok(None);
                    };
                    self.searched = 0;
                    self.state = if first == b'*' {
                        State::MultibulkCount
                    } else {
                        State::Inline
                    };
                }
                State::MultibulkCount => {
                    let Some(end) = self.header_line(buf, TOO_BIG_MBULK_COUNT)? else {
                        return Ok(None);
                    };
                    // buf[0] is the '*' that chose this state.
                    let count = buf
                        .get(1..end)
                        .and_then(string_to_i64)
                        .ok_or_else(|| ParseError::new(INVALID_MULTIBULK_LEN))?;
                    if count > 0 && !fits(count, self.limits.max_multibulk_len) {
                        return Err(ParseError::new(INVALID_MULTIBULK_LEN));
                    }
                    if count > 0 && !authenticated && !fits(count, UNAUTHENTICATED_MAX_ARGS) {
                        return Err(ParseError::new(UNAUTH_MULTIBULK_LEN));
                    }
                    if count <= 0 {
                        // An empty request: Redis resets the client and reads on.
                        self.advance(buf, end + 2, State::Idle);
                        continue;
                    }
                    let count = usize::try_from(count)
                        .map_err(|_| ParseError::new(INVALID_MULTIBULK_LEN))?;
                    self.args = Vec::with_capacity(count.min(INITIAL_ARGS_CAPACITY));
                    self.args_left = count;
                    self.advance(buf, end + 2, State::BulkLen);
                }
                State::BulkLen => {
                    let Some(end) = self.header_line(buf, TOO_BIG_BULK_COUNT)? else {
                        return Ok(None);
                    };
                    // A whole line is there, so buf holds at least two bytes.
                    let first = buf.first().copied().unwrap_or(b'\r');
                    if first != b'$' {
                        return Err(ParseError::expected_dollar(first));
                    }
                    let len = buf
                        .get(1..end)
                        .and_then(string_to_i64)
                        .filter(|&len| len >= 0 && fits(len, self.limits.max_bulk_len))
                        .ok_or_else(|| ParseError::new(INVALID_BULK_LEN))?;
                    if !authenticated && !fits(len, UNAUTHENTICATED_MAX_BULK_LEN) {
                        return Err(ParseError::new(UNAUTH_BULK_LEN));
                    }
                    let len =
                        usize::try_from(len).map_err(|_| ParseError::new(INVALID_BULK_LEN))?;
                    self.advance(buf, end + 2, State::BulkBody { len });
                }
                State::BulkBody { len } => {
                    // Waiting for a body is a length check, never a scan.
                    if buf.len() < len.saturating_add(2) {
                        return Ok(None);
                    }
                    let arg = buf.split_to(len).freeze();
                    self.args_bytes = self.args_bytes.saturating_add(len + ARG_OVERHEAD);
                    self.args.push(arg);
                    self.args_left = self.args_left.saturating_sub(1);
                    // Redis skips the two bytes after the body without looking at them.
                    if self.args_left == 0 {
                        self.advance(buf, 2, State::Idle);
                        self.args_bytes = 0;
                        return Ok(Some(std::mem::take(&mut self.args)));
                    }
                    self.advance(buf, 2, State::BulkLen);
                }
                State::Inline => {
                    let end = match self.find_line_end(buf, b'\n') {
                        Line::End(end) => end,
                        Line::NeedMore => return Ok(None),
                        Line::TooLong => return Err(ParseError::new(TOO_BIG_INLINE)),
                    };
                    let text_len = match buf[..end].last() {
                        Some(b'\r') => end - 1,
                        _ => end,
                    };
                    self.examined = self.examined.saturating_add(text_len as u64);
                    let tokens = split_args(&buf[..text_len])
                        .ok_or_else(|| ParseError::new(UNBALANCED_QUOTES))?;
                    let line = buf.split_to(text_len).freeze();
                    self.advance(buf, end + 1 - text_len, State::Idle);
                    if tokens.is_empty() {
                        continue;
                    }
                    let args = tokens
                        .into_iter()
                        .map(|token| match token {
                            Token::Slice(start, stop) => line.slice(start..stop),
                            Token::Owned(bytes) => Bytes::from(bytes),
                        })
                        .collect();
                    return Ok(Some(args));
                }
            }
        }
    }

    /// Finds the end of a `*<n>` or `$<len>` header: Redis looks for `\r` and then needs one
    /// more byte (which it skips without checking). Returns the index of the `\r`.
    fn header_line(
        &mut self,
        buf: &BytesMut,
        too_big: &'static str,
    ) -> Result<Option<usize>, ParseError> {
        match self.find_line_end(buf, b'\r') {
            Line::End(end) if end + 1 < buf.len() => Ok(Some(end)),
            Line::End(_) | Line::NeedMore => Ok(None),
            Line::TooLong => Err(ParseError::new(too_big)),
        }
    }

    /// Searches the line at the front of `buf` for `delim`, resuming where the previous search
    /// stopped, and only within the first `max_inline_len + 1` bytes.
    fn find_line_end(&mut self, buf: &[u8], delim: u8) -> Line {
        let window = buf.len().min(self.limits.max_inline_len.saturating_add(1));
        let start = self.searched.min(window);
        let haystack = &buf[start..window];
        match memchr::memchr(delim, haystack) {
            Some(i) => {
                self.examined = self.examined.saturating_add(i as u64 + 1);
                // If the byte after a header's '\r' is missing, the next call starts here.
                self.searched = start + i;
                Line::End(start + i)
            }
            None => {
                self.examined = self.examined.saturating_add(haystack.len() as u64);
                self.searched = window;
                if buf.len() > self.limits.max_inline_len {
                    Line::TooLong
                } else {
                    Line::NeedMore
                }
            }
        }
    }
}

/// Whether a non-negative network number is at most `max`.
fn fits(n: i64, max: usize) -> bool {
    u64::try_from(n).is_ok_and(|n| n <= u64::try_from(max).unwrap_or(u64::MAX))
}

/// Redis's `string2ll`: an optional `-`, then `0` alone or digits without a leading zero, with
/// nothing else around them, within `i64`. The server parses every integer argument with it.
pub fn string_to_i64(s: &[u8]) -> Option<i64> {
    let (negative, digits) = match s.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, s),
    };
    match digits {
        [] => return None,
        [b'0'] if !negative => return Some(0),
        [b'1'..=b'9', ..] => {}
        _ => return None,
    }
    let mut magnitude: u64 = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return None;
        }
        magnitude = magnitude
            .checked_mul(10)?
            .checked_add(u64::from(d - b'0'))?;
    }
    if negative {
        0i64.checked_sub_unsigned(magnitude)
    } else {
        i64::try_from(magnitude).ok()
    }
}

/// An inline argument: a range of the line when it has no quotes, or the unescaped bytes.
enum Token {
    Slice(usize, usize),
    Owned(Vec<u8>),
}

/// C's `isspace` in the C locale.
fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Splits an inline command line into arguments the way Redis's `sdssplitargs` does. `None` is
/// Redis's `unbalanced quotes in request`: a quote never closed, or a closing quote followed by
/// something other than a space or the end of the line.
fn split_args(line: &[u8]) -> Option<Vec<Token>> {
    let mut tokens = Vec::new();
    let mut p = 0;
    loop {
        while line.get(p).is_some_and(|&b| is_space(b)) {
            p += 1;
        }
        if p >= line.len() {
            return Some(tokens);
        }
        let start = p;
        // The unescaped bytes, once the argument has used a quote.
        let mut owned: Option<Vec<u8>> = None;
        let mut in_double = false;
        let mut in_single = false;
        loop {
            let c = line.get(p).copied();
            if in_double {
                let out = owned.get_or_insert_with(Vec::new);
                match c {
                    None => return None,
                    Some(b'\\') => {
                        let hex = line
                            .get(p + 1)
                            .filter(|&&x| x == b'x')
                            .and_then(|_| Some((hex_value(*line.get(p + 2)?)?, line.get(p + 3)?)))
                            .and_then(|(hi, &lo)| Some(hi * 16 + hex_value(lo)?));
                        if let Some(byte) = hex {
                            out.push(byte);
                            p += 4;
                        } else if let Some(&escaped) = line.get(p + 1) {
                            out.push(match escaped {
                                b'n' => b'\n',
                                b'r' => b'\r',
                                b't' => b'\t',
                                b'b' => 0x08,
                                b'a' => 0x07,
                                other => other,
                            });
                            p += 2;
                        } else {
                            // A backslash ending the line is kept; the quote is then unclosed.
                            out.push(b'\\');
                            p += 1;
                        }
                    }
                    Some(b'"') => {
                        if line.get(p + 1).is_some_and(|&next| !is_space(next)) {
                            return None;
                        }
                        p += 1;
                        break;
                    }
                    Some(other) => {
                        out.push(other);
                        p += 1;
                    }
                }
            } else if in_single {
                let out = owned.get_or_insert_with(Vec::new);
                match c {
                    None => return None,
                    Some(b'\\') if line.get(p + 1) == Some(&b'\'') => {
                        out.push(b'\'');
                        p += 2;
                    }
                    Some(b'\'') => {
                        if line.get(p + 1).is_some_and(|&next| !is_space(next)) {
                            return None;
                        }
                        p += 1;
                        break;
                    }
                    Some(other) => {
                        out.push(other);
                        p += 1;
                    }
                }
            } else {
                match c {
                    None | Some(b' ' | b'\n' | b'\r' | b'\t') => break,
                    Some(quote @ (b'"' | b'\'')) => {
                        // The unquoted part so far starts the argument's bytes.
                        owned = Some(line[start..p].to_vec());
                        in_double = quote == b'"';
                        in_single = quote == b'\'';
                        p += 1;
                    }
                    Some(_) => p += 1,
                }
            }
        }
        tokens.push(match owned {
            Some(bytes) => Token::Owned(bytes),
            None => Token::Slice(start, p),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parser() -> RequestParser {
        RequestParser::new(ParseLimits::default())
    }

    /// Parses everything in `input` (authenticated), returning the commands and the error.
    fn parse_all(input: &[u8]) -> (Vec<Vec<Bytes>>, Option<ParseError>, BytesMut) {
        parse_all_with(&mut parser(), input, true)
    }

    fn parse_all_with(
        p: &mut RequestParser,
        input: &[u8],
        authenticated: bool,
    ) -> (Vec<Vec<Bytes>>, Option<ParseError>, BytesMut) {
        let mut buf = BytesMut::from(input);
        let mut out = Vec::new();
        loop {
            match p.parse(&mut buf, authenticated) {
                Ok(Some(cmd)) => out.push(cmd),
                Ok(None) => return (out, None, buf),
                Err(e) => return (out, Some(e), buf),
            }
        }
    }

    fn cmd(args: &[&[u8]]) -> Vec<Bytes> {
        args.iter().map(|a| Bytes::copy_from_slice(a)).collect()
    }

    fn error_of(input: &[u8]) -> String {
        match parse_all(input).1 {
            Some(e) => e.0,
            None => panic!("no error for {:?}", String::from_utf8_lossy(input)),
        }
    }

    fn inline(line: &[u8]) -> Result<Vec<Bytes>, String> {
        let mut input = line.to_vec();
        input.extend_from_slice(b"\r\n");
        let (cmds, err, buf) = parse_all(&input);
        if let Some(e) = err {
            return Err(e.0);
        }
        assert!(buf.is_empty());
        assert!(cmds.len() <= 1);
        Ok(cmds.into_iter().next().unwrap_or_default())
    }

    #[test]
    fn multibulk_simple() {
        let (cmds, err, buf) = parse_all(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nvalue\r\n");
        assert_eq!(err, None);
        assert_eq!(cmds, vec![cmd(&[b"SET", b"k", b"value"])]);
        assert!(buf.is_empty());
    }

    #[test]
    fn multibulk_empty_argument() {
        let (cmds, err, _) = parse_all(b"*2\r\n$4\r\nECHO\r\n$0\r\n\r\n");
        assert_eq!(err, None);
        assert_eq!(cmds, vec![cmd(&[b"ECHO", b""])]);
    }

    #[test]
    fn binary_safe_bulks() {
        let (cmds, err, buf) = parse_all(b"*2\r\n$4\r\na\r\nb\r\n$3\r\n\0\r\0\r\n");
        assert_eq!(err, None);
        assert_eq!(cmds, vec![cmd(&[b"a\r\nb", b"\0\r\0"])]);
        assert!(buf.is_empty());
    }

    #[test]
    fn pipelined_commands() {
        let input = b"*1\r\n$4\r\nPING\r\nECHO hi\r\n*2\r\n$3\r\nGET\r\n$1\r\nx\r\nPING\n";
        let (cmds, err, buf) = parse_all(input);
        assert_eq!(err, None);
        assert_eq!(
            cmds,
            vec![
                cmd(&[b"PING"]),
                cmd(&[b"ECHO", b"hi"]),
                cmd(&[b"GET", b"x"]),
                cmd(&[b"PING"]),
            ]
        );
        assert!(buf.is_empty());
    }

    #[test]
    fn empty_multibulk_is_skipped() {
        let (cmds, err, buf) = parse_all(b"*0\r\n*-1\r\n*-10\r\n*1\r\n$4\r\nPING\r\n*0\r\n");
        assert_eq!(err, None);
        assert_eq!(cmds, vec![cmd(&[b"PING"])]);
        assert!(buf.is_empty());
    }

    #[test]
    fn empty_inline_lines_are_skipped() {
        let (cmds, err, buf) = parse_all(b"\r\n\n   \r\n \t \nPING\r\n\r\n");
        assert_eq!(err, None);
        assert_eq!(cmds, vec![cmd(&[b"PING"])]);
        assert!(buf.is_empty());
    }

    #[test]
    fn partial_returns_none_and_keeps_state() {
        let mut p = parser();
        let mut buf = BytesMut::from(&b"*2\r\n$3\r\nGET\r\n$1"[..]);
        assert_eq!(p.parse(&mut buf, true), Ok(None));
        assert!(p.is_partial());
        // The first argument and the second header's start are consumed or searched already.
        assert_eq!(&buf[..], b"$1");
        buf.extend_from_slice(b"\r\nk\r");
        assert_eq!(p.parse(&mut buf, true), Ok(None));
        assert_eq!(p.bytes_needed(), Some(3));
        buf.extend_from_slice(b"\n");
        assert_eq!(p.parse(&mut buf, true), Ok(Some(cmd(&[b"GET", b"k"]))));
        assert!(!p.is_partial());
        assert!(buf.is_empty());
    }

    #[test]
    fn split_at_every_boundary() {
        let input: &[u8] =
            b"*3\r\n$3\r\nSET\r\n$4\r\nk\r\nk\r\n$0\r\n\r\nECHO \"a\\x41\" 'b'\r\n*0\r\n\r\nPING\n";
        let expected = vec![
            cmd(&[b"SET", b"k\r\nk", b""]),
            cmd(&[b"ECHO", b"aA", b"b"]),
            cmd(&[b"PING"]),
        ];
        for i in 0..=input.len() {
            for j in i..=input.len() {
                let mut p = parser();
                let mut buf = BytesMut::new();
                let mut out = Vec::new();
                for piece in [&input[..i], &input[i..j], &input[j..]] {
                    buf.extend_from_slice(piece);
                    while let Some(c) = p.parse(&mut buf, true).expect("valid input") {
                        out.push(c);
                    }
                }
                assert_eq!(out, expected, "split at {i}, {j}");
                assert!(buf.is_empty());
            }
        }
    }

    #[test]
    fn byte_at_a_time() {
        let input = b"*2\r\n$4\r\nECHO\r\n$11\r\nhello world\r\nSET a \"b c\"\r\n";
        let mut p = parser();
        let mut buf = BytesMut::new();
        let mut out = Vec::new();
        for &b in input.iter() {
            buf.extend_from_slice(&[b]);
            while let Some(c) = p.parse(&mut buf, true).unwrap() {
                out.push(c);
            }
        }
        assert_eq!(
            out,
            vec![
                cmd(&[b"ECHO", b"hello world"]),
                cmd(&[b"SET", b"a", b"b c"])
            ]
        );
        assert!(buf.is_empty());
    }

    #[test]
    fn bulk_trailer_is_skipped_unchecked_like_redis() {
        let (cmds, err, buf) = parse_all(b"*1\r\n$3\r\nfooXY*1\rZ$1\r\nx\r\n");
        assert_eq!(err, None);
        assert_eq!(cmds, vec![cmd(&[b"foo"]), cmd(&[b"x"])]);
        assert!(buf.is_empty());
    }

    #[test]
    fn header_needs_a_byte_after_cr() {
        let mut p = parser();
        let mut buf = BytesMut::from(&b"*1\r"[..]);
        assert_eq!(p.parse(&mut buf, true), Ok(None));
        assert_eq!(&buf[..], b"*1\r");
        buf.extend_from_slice(b"\n$1\r");
        assert_eq!(p.parse(&mut buf, true), Ok(None));
        buf.extend_from_slice(b"\nz\r\n");
        assert_eq!(p.parse(&mut buf, true), Ok(Some(cmd(&[b"z"]))));
    }

    #[test]
    fn zero_copy_bulk_arguments() {
        let mut p = parser();
        let mut buf = BytesMut::from(&b"*2\r\n$3\r\nGET\r\n$3\r\nkey\r\n"[..]);
        let base = buf.as_ptr() as usize;
        let end = base + buf.len();
        let out = p.parse(&mut buf, true).unwrap().unwrap();
        for arg in &out {
            let at = arg.as_ptr() as usize;
            assert!(at >= base && at < end, "argument was copied");
        }
    }

    // ---- error texts (Redis 7.0 networking.c) ----

    #[test]
    fn error_invalid_multibulk_length() {
        for input in [
            &b"*abc\r\n"[..],
            b"*\r\n",
            b"*+1\r\n",
            b"*01\r\n",
            b"*-0\r\n",
            b"* 1\r\n",
            b"*1 \r\n",
            b"*1\0\r\n",
            b"*3000000000\r\n",
            b"*2147483648\r\n",
            b"*99999999999999999999999\r\n",
        ] {
            assert_eq!(error_of(input), "invalid multibulk length", "{input:?}");
        }
        let mut p = RequestParser::new(ParseLimits {
            max_multibulk_len: 3,
            ..ParseLimits::default()
        });
        let (_, err, _) = parse_all_with(&mut p, b"*4\r\n", true);
        assert_eq!(err, Some(ParseError::new("invalid multibulk length")));
        let (cmds, err, _) =
            parse_all_with(&mut p, b"*3\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n", true);
        assert_eq!(err, None);
        assert_eq!(cmds.len(), 1);
    }

    #[test]
    fn int_max_multibulk_length_is_accepted_without_allocating() {
        let mut p = parser();
        let mut buf = BytesMut::from(&b"*2147483647\r\n$1\r\na\r\n"[..]);
        assert_eq!(p.parse(&mut buf, true), Ok(None));
        assert!(p.args.capacity() <= INITIAL_ARGS_CAPACITY);
        assert!(buf.is_empty());
    }

    #[test]
    fn error_unauthenticated_multibulk_length() {
        let mut p = parser();
        let (_, err, _) = parse_all_with(&mut p, b"*11\r\n", false);
        assert_eq!(err.unwrap().0, "unauthenticated multibulk length");
        // Invalid wins over unauthenticated, as in Redis.
        let (_, err, _) = parse_all_with(&mut p, b"*3000000000\r\n", false);
        assert_eq!(err.unwrap().0, "invalid multibulk length");
        // Ten arguments and empty requests are fine.
        let mut input = b"*-1\r\n*0\r\n*10\r\n".to_vec();
        for _ in 0..10 {
            input.extend_from_slice(b"$1\r\nx\r\n");
        }
        let (cmds, err, _) = parse_all_with(&mut p, &input, false);
        assert_eq!(err, None);
        assert_eq!(cmds.len(), 1);
        assert_eq!(cmds[0].len(), 10);
        // Authenticated: no such limit.
        let (_, err, _) = parse_all_with(&mut p, b"*100\r\n", true);
        assert_eq!(err, None);
    }

    #[test]
    fn error_invalid_bulk_length() {
        for input in [
            &b"*1\r\n$-1\r\n"[..],
            b"*1\r\n$-10\r\n",
            b"*1\r\n$blabla\r\n",
            b"*1\r\n$\r\n",
            b"*1\r\n$01\r\n",
            b"*1\r\n$+1\r\n",
            b"*1\r\n$9223372036854775808\r\n",
            b"*1\r\n$536870913\r\n",
            b"*3\r\n$3\r\nSET\r\n$1\r\nx\r\n$2000000000\r\n",
        ] {
            assert_eq!(error_of(input), "invalid bulk length", "{input:?}");
        }
        let (_, err, _) = parse_all(b"*1\r\n$536870912\r\n");
        assert_eq!(err, None);
        let mut p = RequestParser::new(ParseLimits {
            max_bulk_len: 4,
            ..ParseLimits::default()
        });
        let (_, err, _) = parse_all_with(&mut p, b"*1\r\n$5\r\n", true);
        assert_eq!(err.unwrap().0, "invalid bulk length");
        let (cmds, err, _) = parse_all_with(&mut p, b"*1\r\n$4\r\nabcd\r\n", true);
        assert_eq!((cmds.len(), err), (1, None));
    }

    #[test]
    fn error_unauthenticated_bulk_length() {
        let mut p = parser();
        let (_, err, _) = parse_all_with(&mut p, b"*1\r\n$16385\r\n", false);
        assert_eq!(err.unwrap().0, "unauthenticated bulk length");
        let (_, err, _) = parse_all_with(&mut p, b"*1\r\n$100000000\r\n", false);
        assert_eq!(err.unwrap().0, "unauthenticated bulk length");
        // Invalid wins over unauthenticated.
        let (_, err, _) = parse_all_with(&mut p, b"*1\r\n$-1\r\n", false);
        assert_eq!(err.unwrap().0, "invalid bulk length");
        let mut input = b"*1\r\n$16384\r\n".to_vec();
        input.extend(std::iter::repeat_n(b'v', 16384));
        input.extend_from_slice(b"\r\n");
        let (cmds, err, _) = parse_all_with(&mut p, &input, false);
        assert_eq!(err, None);
        assert_eq!(cmds[0][0].len(), 16384);
        assert_eq!(p.bytes_needed(), None);
    }

    #[test]
    fn error_expected_dollar() {
        assert_eq!(
            error_of(b"*3\r\n$3\r\nSET\r\n$1\r\nx\r\nfooz\r\n"),
            "expected '$', got 'f'"
        );
        assert_eq!(error_of(b"*1\r\nfoo\r\n"), "expected '$', got 'f'");
        assert_eq!(
            error_of(b"*1\r\n*1\r\n$1\r\na\r\n"),
            "expected '$', got '*'"
        );
        // Redis's addReplyErrorFormat turns CR and LF into spaces...
        assert_eq!(error_of(b"*1\r\n\r\n"), "expected '$', got ' '");
        assert_eq!(error_of(b"*1\r\n\n\r\n"), "expected '$', got ' '");
        // ...and a NUL ends its C string.
        assert_eq!(error_of(b"*1\r\n\0\r\n"), "expected '$', got '");
        assert_eq!(
            ParseError::expected_dollar(b'f').reply_text(),
            "ERR Protocol error: expected '$', got 'f'"
        );
    }

    #[test]
    fn expected_dollar_needs_a_whole_line() {
        // Like Redis, the first byte is only judged once the header line is complete.
        let mut p = parser();
        let mut buf = BytesMut::from(&b"*1\r\nfoo"[..]);
        assert_eq!(p.parse(&mut buf, true), Ok(None));
        buf.extend_from_slice(b"\r\n");
        assert_eq!(
            p.parse(&mut buf, true),
            Err(ParseError::new("expected '$', got 'f'"))
        );
    }

    #[test]
    fn nested_arrays_are_an_error_not_recursion() {
        let input = b"*1\r\n".repeat(100_000);
        assert_eq!(error_of(&input), "expected '$', got '*'");
    }

    #[test]
    fn error_too_big_count_strings() {
        let limit = ParseLimits::default().max_inline_len;
        // Exactly 64 KiB without a CR: Redis waits (its check is `> PROTO_INLINE_MAX_SIZE`).
        let mut input = vec![b'*'];
        input.extend(std::iter::repeat_n(b'1', limit - 1));
        let (_, err, _) = parse_all(&input);
        assert_eq!(err, None);
        input.push(b'1');
        assert_eq!(error_of(&input), "too big mbulk count string");

        let mut input = b"*1\r\n$".to_vec();
        input.extend(std::iter::repeat_n(b'1', limit));
        assert_eq!(error_of(&input), "too big bulk count string");
        // Even when the line does not start with '$', as in Redis.
        let mut input = b"*1\r\n".to_vec();
        input.extend(std::iter::repeat_n(b'x', limit + 1));
        assert_eq!(error_of(&input), "too big bulk count string");
    }

    #[test]
    fn error_too_big_count_string_incrementally() {
        let mut p = parser();
        let mut buf = BytesMut::from(&b"*"[..]);
        let mut fed = 1;
        let err = loop {
            match p.parse(&mut buf, true) {
                Ok(None) => {}
                Ok(Some(_)) => panic!("no command expected"),
                Err(e) => break e,
            }
            buf.extend_from_slice(&[b'9'; 1000]);
            fed += 1000;
        };
        assert_eq!(err.0, "too big mbulk count string");
        assert!(fed > 64 * 1024 && fed <= 64 * 1024 + 1001);
        // Each byte was searched once, not once per call.
        assert!(p.bytes_examined() <= 64 * 1024 + 1);
    }

    #[test]
    fn error_too_big_inline_request() {
        let limit = ParseLimits::default().max_inline_len;
        let (_, err, _) = parse_all(&vec![b'a'; limit]);
        assert_eq!(err, None);
        assert_eq!(error_of(&vec![b'a'; limit + 1]), "too big inline request");
        // A line of exactly the limit with its newline is accepted.
        let mut line = vec![b'a'; limit];
        line.push(b'\n');
        let (cmds, err, _) = parse_all(&line);
        assert_eq!(err, None);
        assert_eq!(cmds[0][0].len(), limit);
        // Longer than the limit even though the newline arrived in the same read.
        let mut line = vec![b'a'; limit + 10];
        line.push(b'\n');
        assert_eq!(error_of(&line), "too big inline request");
    }

    #[test]
    fn error_unbalanced_quotes() {
        for line in [
            &b"set \"\"\"test-key\"\"\" test-value"[..],
            b"\"unterminated",
            b"'unterminated",
            b"\"a\"b",
            b"'a'b",
            b"x \"a\\\"",
            b"\"a\\",
        ] {
            assert_eq!(
                inline(line),
                Err("unbalanced quotes in request".to_string()),
                "{:?}",
                String::from_utf8_lossy(line)
            );
        }
    }

    #[test]
    fn inline_splitting() {
        let ok = |line: &[u8], want: &[&[u8]]| {
            assert_eq!(
                inline(line),
                Ok(cmd(want)),
                "{:?}",
                String::from_utf8_lossy(line)
            );
        };
        ok(b"SET foo bar", &[b"SET", b"foo", b"bar"]);
        ok(b"  GET   foo  ", &[b"GET", b"foo"]);
        ok(b"a\tb", &[b"a", b"b"]);
        ok(b"\x0b\x0cPING", &[b"PING"]);
        // \v and \f separate only before an argument (isspace), not inside one.
        ok(b"a\x0bb", &[b"a\x0bb"]);
        ok(b"\"hello world\" x", &[b"hello world", b"x"]);
        ok(b"\"\" ''", &[b"", b""]);
        ok(b"\"\\n\\r\\t\\b\\a\\\\\\\"\\q\"", &[b"\n\r\t\x08\x07\\\"q"]);
        ok(b"\"\\x41\\x7a\\xFF\\x00\"", &[b"Az\xff\0"]);
        // An incomplete \x escape is an escaped 'x'.
        ok(b"\"\\x4\" \"\\xg1\"", &[b"x4", b"xg1"]);
        ok(b"'it\\'s' 'a\\nb'", &[b"it's", b"a\\nb"]);
        ok(b"'say \"hi\"'", &[b"say \"hi\""]);
        ok(b"\"it's\"", &[b"it's"]);
        // A quote inside an argument starts a quoted part; the closing quote ends the argument.
        ok(b"ab\"c d\" e", &[b"abc d", b"e"]);
        ok(b"\"a\"\tb", &[b"a", b"b"]);
        ok(b"\"a\"\x0bb", &[b"a", b"b"]);
        // Binary bytes outside quotes are kept as they are.
        ok(b"\xff\xfe \x01", &[b"\xff\xfe", b"\x01"]);
    }

    #[test]
    fn inline_line_endings() {
        let (cmds, err, buf) = parse_all(b"PING\nECHO a\r\nGET b\r\r\n");
        assert_eq!(err, None);
        // Only one CR before the LF is dropped; another CR is whitespace to sdssplitargs.
        assert_eq!(
            cmds,
            vec![cmd(&[b"PING"]), cmd(&[b"ECHO", b"a"]), cmd(&[b"GET", b"b"])]
        );
        assert!(buf.is_empty());
        // A lone CR in the middle of a line separates arguments.
        let (cmds, _, _) = parse_all(b"a\rb\n");
        assert_eq!(cmds, vec![cmd(&[b"a", b"b"])]);
    }

    #[test]
    fn inline_unquoted_arguments_are_not_copied() {
        let mut p = parser();
        let mut buf = BytesMut::from(&b"GET key\r\n"[..]);
        let base = buf.as_ptr() as usize;
        let out = p.parse(&mut buf, true).unwrap().unwrap();
        assert_eq!(out[1].as_ptr() as usize, base + 4);
    }

    #[test]
    fn inline_is_not_subject_to_unauthenticated_limits() {
        let line = format!("{}\r\n", vec!["a"; 20].join(" "));
        let (cmds, err, _) = parse_all_with(&mut parser(), line.as_bytes(), false);
        assert_eq!(err, None);
        assert_eq!(cmds[0].len(), 20);
    }

    #[test]
    fn error_resets_the_parser() {
        let mut p = parser();
        let mut buf = BytesMut::from(&b"*2\r\n$1\r\na\r\n$x\r\n"[..]);
        assert!(p.parse(&mut buf, true).is_err());
        assert!(!p.is_partial());
        let mut fresh = BytesMut::from(&b"PING\r\n"[..]);
        assert_eq!(p.parse(&mut fresh, true), Ok(Some(cmd(&[b"PING"]))));
    }

    #[test]
    fn string_to_i64_is_strict_like_string2ll() {
        assert_eq!(string_to_i64(b"0"), Some(0));
        assert_eq!(string_to_i64(b"-1"), Some(-1));
        assert_eq!(string_to_i64(b"9223372036854775807"), Some(i64::MAX));
        assert_eq!(string_to_i64(b"-9223372036854775808"), Some(i64::MIN));
        for bad in [
            &b""[..],
            b"-",
            b"-0",
            b"00",
            b"01",
            b"+1",
            b" 1",
            b"1 ",
            b"1a",
            b"9223372036854775808",
            b"-9223372036854775809",
            b"18446744073709551616",
        ] {
            assert_eq!(string_to_i64(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn bytes_needed_hint() {
        let mut p = parser();
        let mut buf = BytesMut::from(&b"*1\r\n$100000\r\nabc"[..]);
        assert_eq!(p.parse(&mut buf, true), Ok(None));
        assert_eq!(p.bytes_needed(), Some(100_002));
        let examined = p.bytes_examined();
        // Waiting for the body does not examine it.
        for _ in 0..10 {
            buf.extend_from_slice(&[b'z'; 1000]);
            assert_eq!(p.parse(&mut buf, true), Ok(None));
        }
        assert_eq!(p.bytes_examined(), examined);
    }
}

/// Splits a line into arguments as Redis's `sdssplitargs` does (used for inline commands and
/// for redis.conf lines). `None` for unbalanced quotes.
pub fn split_line(line: &[u8]) -> Option<Vec<Vec<u8>>> {
    let tokens = split_args(line)?;
    Some(
        tokens
            .into_iter()
            .map(|t| match t {
                Token::Slice(a, b) => line[a..b].to_vec(),
                Token::Owned(v) => v,
            })
            .collect(),
    )
}

#[cfg(test)]
mod pending_tests {
    use super::*;

    #[test]
    fn pending_bytes_count_collected_arguments_until_the_command_completes() {
        let mut p = RequestParser::new(ParseLimits::default());
        let mut buf = BytesMut::from(&b"*3\r\n$3\r\nSET\r\n$5\r\nhello\r\n"[..]);
        assert_eq!(p.parse(&mut buf, true), Ok(None));
        assert_eq!(p.pending_bytes(), 3 + 5 + 2 * ARG_OVERHEAD);
        buf.extend_from_slice(b"$1\r\nx\r\n");
        assert!(matches!(p.parse(&mut buf, true), Ok(Some(_))));
        assert_eq!(p.pending_bytes(), 0);
    }
}
