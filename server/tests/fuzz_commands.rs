//! Command-level fuzzing (issue #10 item 6): random argument lists through the real dispatch
//! path of the debug `sluice` binary.
//!
//! Commands come from the real command table (`sluice_server::commands::all()`: every command
//! and subcommand with its arity and key positions, and every option token of its argument
//! docs), from templates of the stream, group, key and string commands with their options in
//! random order, and from mutations of both. Arguments are drawn from a dictionary of
//! interesting values: integers at the i64/u64 edges and malformed numbers, stream IDs at the
//! edges and malformed IDs, IDs the server returned earlier, option keywords, a few key, group
//! and consumer names (so that commands meet streams, groups and pending entries that exist),
//! and random bytes.
//!
//! A debug build checks arithmetic overflow and the server aborts on any panic, so "no panic"
//! is: the server stays alive and answers. Every reply must be exactly one well-formed RESP2
//! frame — or RESP3 after `HELLO 3`, which alternate batches switch to. Each command is sent
//! with a `PING` behind it in the same write, and that PING's `+PONG` (`+QUEUED` in MULTI) must
//! come right after the reply, which pins down where the reply ends. Commands go one at a time,
//! so a failure names the command that killed, hung or garbled the server, with the commands
//! before it, the seed and the server's panic message. Besides, a second connection parks short
//! blocking XREAD/XREADGROUPs that the commands of the first one wake, time out, or kill; each
//! batch ends with `PING`, brings back the streams `s`/`s2` with a group if they are gone, and
//! every 16 batches the server is restarted on its data directory (kill -9 and SIGTERM in turn)
//! and must come back with the same keys, lengths and groups.
//!
//! * `SLUICE_FUZZ_SEED=n` (or `a,b,c`, or `0x…`): the seed(s); default [`DEFAULT_SEED`].
//! * `SLUICE_FUZZ_COMMANDS=n`: commands per seed; default [`DEFAULT_COMMANDS`] (about 10 s in a debug build).
//! * `SLUICE_FUZZ_VERBOSE=1`: print every command and reply.
//! * `SLUICE_FUZZ_PROFILE=1`: time and error texts per command at the end.
//!
//! The command sequence is a function of the seed (IDs the server returned feed later commands,
//! and these depend on the clock, so a replay is close but not byte-exact: the failure report
//! prints the exact commands). Commands that would stop the test rather than exercise the server
//! are defused: SHUTDOWN that would succeed, MONITOR, `CLIENT REPLY OFF|SKIP`, `CONFIG SET` of
//! parameters that would lock the test out (`requirepass`, `timeout`, `maxclients`, the query
//! limits) or slow it down (`appendfsync`), and blocking reads whose BLOCK (or GETJOB's and
//! WAITJOB's TIMEOUT, WAIT's and WAITAOF's timeout, CLIENT PAUSE's) would really wait (they wait at most 3 ms; `huge_block_timeouts_are_served` covers the huge BLOCK values).
//!
//! `regressions` replays every crash the fuzzer found, each time.
//!
//! `differential` (ignored; run by hand, needs redis-server 7.0.15) sends the same commands to
//! Sluice and to Redis and stops at the first reply that differs (byte for byte; by shape where
//! values depend on time; not at all for replies that differ by design), with the timing and
//! Sluice's deliberate differences taken out of the commands. `SLUICE_FUZZ_DIFF_STATE=1` also
//! compares the usual keys after every command, `SLUICE_FUZZ_DIFF_LOG=path` writes every command
//! and both replies, `SLUICE_FUZZ_DIFF_TRACE=1` prints the replies compared by shape only.
//! The differences it found are fixed with compat cases in `redis-compat-tests`.

mod common;

use std::collections::{BTreeSet, VecDeque};
use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::{encode, Rng, Server};
use sluice_server::table::{Arg, Command};

const DEFAULT_SEED: u64 = 0x5eed_0010_0006;
const DEFAULT_COMMANDS: usize = 60_000;
/// Commands between two `PING` checks; batches alternate between RESP2 and RESP3.
const BATCH: usize = 250;
/// Batches between two restarts of the server on its data directory (alternately kill -9 and
/// SIGTERM): whatever the commands stored must load again.
const RESTART_EVERY: usize = 16;
/// A reply that takes longer than this is a hang.
const REPLY_TIMEOUT: Duration = Duration::from_secs(15);

// ---------------------------------------------------------------------------------------------
// A strict RESP reader

#[derive(Debug, Clone)]
enum V {
    Simple(Vec<u8>),
    Error(Vec<u8>),
    Int(i64),
    Bulk(Vec<u8>),
    Nil,
    Agg(Vec<V>),
    Other,
}

impl V {
    fn is_error(&self) -> bool {
        matches!(self, V::Error(_))
    }
    fn is_simple(&self, s: &str) -> bool {
        matches!(self, V::Simple(t) if t == s.as_bytes())
    }
    /// The reply as text: `+OK`, `-ERR …`, `:1`, `"bulk"`, `(nil)`, `[a, b]`.
    fn render(&self) -> String {
        match self {
            V::Simple(s) => format!("+{}", String::from_utf8_lossy(s)),
            V::Error(s) => format!("-{}", String::from_utf8_lossy(s)),
            V::Int(n) => format!(":{n}"),
            V::Bulk(b) => show(b),
            V::Nil => "(nil)".into(),
            V::Agg(items) => format!(
                "[{}]",
                items.iter().map(V::render).collect::<Vec<_>>().join(", ")
            ),
            V::Other => "(resp3 scalar)".into(),
        }
    }
    /// Every bulk string in the reply, depth first.
    fn bulks<'a>(&'a self, out: &mut Vec<&'a [u8]>) {
        match self {
            V::Bulk(b) => out.push(b),
            V::Agg(items) => items.iter().for_each(|i| i.bulks(out)),
            _ => {}
        }
    }
}

/// Strict integer syntax: optional `-`, digits, no leading zeros, no `-0`.
fn strict_i64(s: &[u8]) -> Option<i64> {
    let digits = s.strip_prefix(b"-").unwrap_or(s);
    if digits.is_empty()
        || !digits.iter().all(u8::is_ascii_digit)
        || (digits.len() > 1 && digits[0] == b'0')
        || (digits != s && digits == b"0")
    {
        return None;
    }
    std::str::from_utf8(s).ok()?.parse().ok()
}

/// One frame at `b[pos..]`: `Ok(None)` if incomplete, `Err` if malformed.
fn parse_frame(
    b: &[u8],
    pos: usize,
    resp3: bool,
    depth: usize,
) -> Result<Option<(V, usize)>, String> {
    if depth > 32 {
        return Err("aggregate nested deeper than 32".into());
    }
    let Some(&t) = b.get(pos) else {
        return Ok(None);
    };
    let Some(rel) = b[pos..].windows(2).position(|w| w == b"\r\n") else {
        if b.len() - pos > 1 << 20 {
            return Err("header line longer than 1 MiB".into());
        }
        return Ok(None);
    };
    let line = &b[pos + 1..pos + rel];
    let after = pos + rel + 2;
    if line.iter().any(|&c| c == b'\r' || c == b'\n') {
        return Err(format!("CR or LF inside a {:?} line", t as char));
    }
    let num = |what: &str| {
        strict_i64(line).ok_or_else(|| format!("bad {what} {:?}", String::from_utf8_lossy(line)))
    };
    let need3 = |v: V| -> Result<Option<(V, usize)>, String> {
        if resp3 {
            Ok(Some((v, after)))
        } else {
            Err(format!("RESP3 type {:?} in a RESP2 reply", t as char))
        }
    };
    match t {
        b'+' => Ok(Some((V::Simple(line.to_vec()), after))),
        b'-' => {
            let code_len = line.iter().position(|&c| c == b' ').unwrap_or(line.len());
            let code = &line[..code_len];
            if code.is_empty() || !code.iter().all(|c| c.is_ascii_uppercase()) {
                return Err(format!(
                    "error reply without an upper-case code: {:?}",
                    String::from_utf8_lossy(line)
                ));
            }
            if code_len + 1 >= line.len() {
                return Err(format!(
                    "error reply without a message: {:?}",
                    String::from_utf8_lossy(line)
                ));
            }
            Ok(Some((V::Error(line.to_vec()), after)))
        }
        b':' => Ok(Some((V::Int(num("integer")?), after))),
        b'$' | b'=' | b'!' => {
            let n = num("length")?;
            if n == -1 && t == b'$' {
                return if resp3 {
                    Err("RESP2 null bulk `$-1` in a RESP3 reply".into())
                } else {
                    Ok(Some((V::Nil, after)))
                };
            }
            if n < 0 {
                return Err(format!("negative length {n}"));
            }
            let end = after + n as usize;
            if b.len() < end + 2 {
                return Ok(None);
            }
            if &b[end..end + 2] != b"\r\n" {
                return Err(format!("string of length {n} not followed by CRLF"));
            }
            let body = b[after..end].to_vec();
            match t {
                b'$' => Ok(Some((V::Bulk(body), end + 2))),
                b'=' if body.len() >= 4 && body[3] == b':' => {
                    if resp3 {
                        Ok(Some((V::Bulk(body), end + 2)))
                    } else {
                        Err("RESP3 verbatim string in a RESP2 reply".into())
                    }
                }
                b'=' => Err("verbatim string without a `xxx:` format".into()),
                _ => Err("blob error (Redis 7 never sends one)".into()),
            }
        }
        b'*' | b'%' | b'~' => {
            let n = num("aggregate length")?;
            if n == -1 && t == b'*' {
                return if resp3 {
                    Err("RESP2 null array `*-1` in a RESP3 reply".into())
                } else {
                    Ok(Some((V::Nil, after)))
                };
            }
            if n < 0 {
                return Err(format!("negative aggregate length {n}"));
            }
            if t != b'*' && !resp3 {
                return Err(format!("RESP3 type {:?} in a RESP2 reply", t as char));
            }
            let items = if t == b'%' { 2 * n } else { n };
            let mut pos = after;
            let mut out = Vec::new();
            for _ in 0..items {
                match parse_frame(b, pos, resp3, depth + 1)? {
                    Some((v, p)) => {
                        out.push(v);
                        pos = p;
                    }
                    None => return Ok(None),
                }
            }
            Ok(Some((V::Agg(out), pos)))
        }
        b'_' if line.is_empty() => need3(V::Nil),
        b'#' if line == b"t" || line == b"f" => need3(V::Other),
        b',' => {
            let s = String::from_utf8_lossy(line).to_ascii_lowercase();
            if matches!(s.as_str(), "inf" | "-inf" | "nan") || s.parse::<f64>().is_ok() {
                need3(V::Other)
            } else {
                Err(format!("bad double {s:?}"))
            }
        }
        b'(' => {
            let d = line.strip_prefix(b"-").unwrap_or(line);
            if !d.is_empty() && d.iter().all(u8::is_ascii_digit) {
                need3(V::Other)
            } else {
                Err("bad big number".into())
            }
        }
        b'>' | b'|' => Err(format!(
            "unexpected {:?} frame (no pub/sub, no attributes)",
            t as char
        )),
        _ => Err(format!(
            "bad type byte {:?} in line {:?}",
            t as char,
            String::from_utf8_lossy(line)
        )),
    }
}

// ---------------------------------------------------------------------------------------------
// The connection

enum Failure {
    /// EOF or reset while waiting for the reply.
    Closed,
    Timeout,
    Malformed(String),
}

struct FuzzConn {
    s: TcpStream,
    buf: Vec<u8>,
}

impl FuzzConn {
    fn new(port: u16) -> FuzzConn {
        let s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        s.set_nodelay(true).expect("nodelay");
        FuzzConn { s, buf: Vec::new() }
    }

    fn send(&mut self, argv: &[Vec<u8>]) -> Result<(), Failure> {
        let args: Vec<&[u8]> = argv.iter().map(Vec::as_slice).collect();
        self.s
            .write_all(&encode(&args))
            .map_err(|_| Failure::Closed)
    }

    /// A command and a `PING` after it in one write: the PING's reply must follow the
    /// command's, which pins down where the command's reply ends.
    fn send_with_ping(&mut self, argv: &[Vec<u8>]) -> Result<(), Failure> {
        let args: Vec<&[u8]> = argv.iter().map(Vec::as_slice).collect();
        let mut bytes = encode(&args);
        bytes.extend_from_slice(b"*1\r\n$4\r\nPING\r\n");
        self.s.write_all(&bytes).map_err(|_| Failure::Closed)
    }

    /// Reads exactly one frame; anything already received after it is an error too.
    fn read(&mut self, resp3: bool, timeout: Duration) -> Result<V, Failure> {
        let v = self.read_one(resp3, timeout)?;
        if !self.buf.is_empty() {
            return Err(Failure::Malformed(format!(
                "{} unexpected bytes after the reply: {}",
                self.buf.len(),
                show(&self.buf[..self.buf.len().min(200)])
            )));
        }
        Ok(v)
    }

    /// Reads one frame, leaving whatever follows it in the buffer.
    fn read_one(&mut self, resp3: bool, timeout: Duration) -> Result<V, Failure> {
        self.read_one_raw(resp3, timeout).map(|(v, _)| v)
    }

    /// [`FuzzConn::read_one`] with the frame's bytes.
    fn read_one_raw(&mut self, resp3: bool, timeout: Duration) -> Result<(V, Vec<u8>), Failure> {
        let deadline = Instant::now() + timeout;
        loop {
            match parse_frame(&self.buf, 0, resp3, 0) {
                Err(e) => return Err(Failure::Malformed(e)),
                Ok(Some((v, len))) => {
                    let raw = self.buf.drain(..len).collect();
                    return Ok((v, raw));
                }
                Ok(None) => {}
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(Failure::Timeout);
            }
            self.s.set_read_timeout(Some(left)).ok();
            let mut tmp = [0u8; 65536];
            match self.s.read(&mut tmp) {
                Ok(0) => return Err(Failure::Closed),
                Ok(n) => self.buf.extend_from_slice(&tmp[..n]),
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    return Err(Failure::Timeout)
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => return Err(Failure::Closed),
            }
        }
    }
}

/// An argument or reply as redis-cli would print it.
fn show(b: &[u8]) -> String {
    let plain = !b.is_empty()
        && b.iter()
            .all(|&c| c.is_ascii_graphic() && c != b'"' && c != b'\'' && c != b'\\');
    if plain {
        return String::from_utf8_lossy(b).into_owned();
    }
    let mut s = String::from("\"");
    for &c in b {
        match c {
            b'"' => s.push_str("\\\""),
            b'\\' => s.push_str("\\\\"),
            b'\r' => s.push_str("\\r"),
            b'\n' => s.push_str("\\n"),
            b'\t' => s.push_str("\\t"),
            c if c.is_ascii_graphic() || c == b' ' => s.push(c as char),
            c => s.push_str(&format!("\\x{c:02x}")),
        }
    }
    s.push('"');
    s
}

fn show_cmd(argv: &[Vec<u8>]) -> String {
    argv.iter().map(|a| show(a)).collect::<Vec<_>>().join(" ")
}

fn eqi(a: &[u8], b: &str) -> bool {
    a.eq_ignore_ascii_case(b.as_bytes())
}

// ---------------------------------------------------------------------------------------------
// The dictionary

const KEYS: &[&str] = &[
    "s", "s", "s", "s", "s", "s2", "s2", "str", "nokey", "{s}", "",
];
/// Keys for the string commands: mostly not the streams.
const STRING_KEYS: &[&str] = &["str", "str", "k", "k", "s", "nokey"];
const GROUPS: &[&str] = &["g", "g", "g", "g", "g", "g2", "g2", "nogroup", ""];
const CONSUMERS: &[&str] = &["c", "c", "c2", "c3", ""];

const INT_EDGES: &[&str] = &[
    "0",
    "1",
    "-1",
    "2",
    "-2",
    "10",
    "100",
    "1000",
    "9223372036854775807",
    "9223372036854775806",
    "-9223372036854775808",
    "-9223372036854775807",
    "9223372036854775808",
    "-9223372036854775809",
    "18446744073709551615",
    "18446744073709551614",
    "18446744073709551616",
    "4294967295",
    "4294967296",
    "2147483647",
    "2147483648",
    "-2147483648",
    "-2147483649",
    "4611686018427387904",
    "-4611686018427387904",
    "922337203685477580",
    "576460752303423487",
    "576460752303423488",
    "9223372036854",
    "9223372036854775",
    "-0",
    "+1",
    "+0",
    "1e3",
    "1.5",
    "-1.5",
    "0.0",
    " 1",
    "1 ",
    "",
    "00",
    "01",
    "0x10",
    "inf",
    "-inf",
    "nan",
    "99999999999999999999999999999999",
    "-99999999999999999999999999999999",
    "abc",
    "-",
];

const ID_EDGES: &[&str] = &[
    "0-0",
    "0-1",
    "1-0",
    "1-1",
    "1-2",
    "2-0",
    "5-5",
    "0",
    "1",
    "2",
    "18446744073709551615-18446744073709551615",
    "18446744073709551615-18446744073709551614",
    "18446744073709551614-18446744073709551615",
    "18446744073709551615-0",
    "18446744073709551615",
    "18446744073709551614",
    "18446744073709551615-*",
    "18446744073709551614-*",
    "1-*",
    "0-*",
    "*",
    "-",
    "+",
    "$",
    ">",
    "(0-0",
    "(0-1",
    "(1-1",
    "(18446744073709551615-18446744073709551615",
    "(18446744073709551615",
    "(18446744073709551615-0",
    "(-",
    "(+",
    "(",
    "((1-1",
    "1-",
    "-1",
    "1-2-3",
    "-1-1",
    "1--1",
    "1-18446744073709551616",
    "18446744073709551616-0",
    "9223372036854775807-9223372036854775807",
    "9223372036854775808-0",
    " 1-1",
    "1-1 ",
    "+1-1",
    "1-+1",
    "-0-0",
    "0x1-1",
];

const EXTRA_KEYWORDS: &[&str] = &[
    "COUNT",
    "BLOCK",
    "STREAMS",
    "IDLE",
    "TIME",
    "RETRYCOUNT",
    "FORCE",
    "JUSTID",
    "LASTID",
    "MAXLEN",
    "MINID",
    "LIMIT",
    "NOMKSTREAM",
    "~",
    "=",
    "MKSTREAM",
    "ENTRIESREAD",
    "NOACK",
    "GROUP",
    "EX",
    "PX",
    "EXAT",
    "PXAT",
    "NX",
    "XX",
    "GT",
    "LT",
    "GET",
    "KEEPTTL",
    "MATCH",
    "TYPE",
    "FULL",
    "WITHSCORES",
    "ENTRIESADDED",
    "MAXDELETEDID",
    "CREATE",
    "SETID",
    "DESTROY",
    "CREATECONSUMER",
    "DELCONSUMER",
    "HELP",
    "STREAM",
    "GROUPS",
    "CONSUMERS",
    "ID",
    "ADDR",
    "LADDR",
    "SKIPME",
    "USER",
    "ON",
    "YES",
    "NO",
    "normal",
    "master",
    "replica",
    "pubsub",
    "stream",
    "string",
    "none",
    "SYNC",
    "ASYNC",
    "NOSAVE",
    "SAVE",
    "NOW",
    "ABORT",
    "AUTH",
    "SETNAME",
    "LIB-NAME",
    "LIB-VER",
    "ENCODING",
    "GETKEYS",
    "INFO",
    "DOCS",
    "LIST",
    "FILTERBY",
    "MODULE",
    "ACLCAT",
    "PATTERN",
    "default",
    "all",
    "everything",
    "server",
    "keyspace",
    "stats",
    "clients",
    "memory",
    "persistence",
    "replication",
    "cpu",
    "commandstats",
];

const CONFIG_PARAMS: &[&str] = &[
    "stream-node-max-entries",
    "stream-node-max-bytes",
    "hz",
    "loglevel",
    "save",
    "tcp-keepalive",
    "maxmemory",
    "maxmemory-policy",
    "appendonly",
    "port",
    "bind",
    "dir",
    "databases",
    "io-threads",
    "cache-size",
    "tcp-backlog",
    "*",
    "*max*",
    "stream-*",
];

/// Parameters a fuzzed `CONFIG SET` must not change: they would lock the test out, close its
/// connections or slow it to a crawl.
const CONFIG_DENY: &[&str] = &[
    "requirepass",
    "timeout",
    "maxclients",
    "proto-max-bulk-len",
    "client-query-buffer-limit",
    "appendfsync",
    // Above it every write (and everything inside MULTI) is refused: the rest of the run
    // would test nothing.
    "maxmemory",
];

const PATTERNS: &[&str] = &[
    "*",
    "s*",
    "?",
    "[",
    "[a-",
    "\\",
    "[^s]*",
    "*[",
    "[]",
    "[z-a]*",
    "\\x",
    "*s*s*s*s*s*x",
    "[\\",
    "s[",
    "{s}",
    "**",
    "[!-~]",
];

/// One command of the table (a subcommand as `container sub`).
struct TableCmd {
    names: Vec<&'static str>,
    cmd: &'static Command,
}

fn collect_tokens(args: &'static [Arg], out: &mut BTreeSet<&'static str>) {
    for a in args {
        if let Some(t) = a.token {
            out.insert(t);
        }
        collect_tokens(a.children, out);
    }
}

/// A `since` version after 7.0 (what redis-server 7.0.15 lacks).
fn newer_than_7_0(v: &str) -> bool {
    let mut p = v.split('.').map(|n| n.parse::<u32>().unwrap_or(0));
    (p.next().unwrap_or(0), p.next().unwrap_or(0)) > (7, 0)
}

/// The tokens of arguments redis-server 7.0.15 has: those without a `since` later than 7.0.
fn collect_tokens_7_0(args: &'static [Arg], out: &mut BTreeSet<&'static str>) {
    for a in args {
        if a.since.is_some_and(newer_than_7_0) {
            continue;
        }
        if let Some(t) = a.token {
            out.insert(t);
        }
        collect_tokens_7_0(a.children, out);
    }
}

fn table() -> (Vec<TableCmd>, Vec<&'static str>) {
    let mut cmds = Vec::new();
    let mut tokens = BTreeSet::new();
    for c in sluice_server::commands::all() {
        collect_tokens(c.args, &mut tokens);
        if c.handler.is_some() {
            cmds.push(TableCmd {
                names: vec![c.name],
                cmd: c,
            });
        }
        for s in c.subcommands {
            collect_tokens(s.args, &mut tokens);
            let sub = s.name.split_once('|').map_or(s.name, |(_, b)| b);
            cmds.push(TableCmd {
                names: vec![c.name, sub],
                cmd: s,
            });
        }
    }
    let mut words: BTreeSet<&'static str> = tokens;
    words.extend(EXTRA_KEYWORDS.iter().copied());
    assert!(cmds.len() > 50, "the command table looks empty");
    (cmds, words.into_iter().collect())
}

// ---------------------------------------------------------------------------------------------
// The generator

struct Gen {
    rng: Rng,
    table: Vec<TableCmd>,
    words: Vec<&'static str>,
    /// IDs the server returned, most recent last.
    seen_ids: VecDeque<Vec<u8>>,
    /// The last commands generated, for mutation.
    recent: VecDeque<Vec<Vec<u8>>>,
    now_ms: u64,
    /// Percent of numbers and IDs drawn from the sane values (small numbers, IDs the server
    /// returned) rather than the edges; varies by batch.
    sane: u64,
    /// Random bytes stay printable ASCII (the differential mode: Sluice's error texts are
    /// UTF-8, so a non-UTF-8 byte echoed in an error comes back as U+FFFD).
    ascii: bool,
}

type Argv = Vec<Vec<u8>>;

fn b(s: &str) -> Vec<u8> {
    s.as_bytes().to_vec()
}

impl Gen {
    fn new(seed: u64) -> Gen {
        let (table, words) = table();
        // splitmix64 first: `Rng::new` alone maps seeds that differ in bit 0 to one stream.
        let mut z = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        Gen {
            rng: Rng::new(z ^ (z >> 31)),
            table,
            words,
            seen_ids: VecDeque::new(),
            recent: VecDeque::new(),
            sane: 70,
            ascii: false,
            now_ms: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as u64),
        }
    }

    fn pick<T: Copy>(&mut self, xs: &[T]) -> T {
        xs[self.rng.below(xs.len() as u64) as usize]
    }
    fn chance(&mut self, p: u64) -> bool {
        self.rng.chance(p)
    }

    fn key(&mut self) -> Vec<u8> {
        b(self.pick(KEYS))
    }
    fn skey(&mut self) -> Vec<u8> {
        b(self.pick(STRING_KEYS))
    }
    fn group(&mut self) -> Vec<u8> {
        b(self.pick(GROUPS))
    }
    fn consumer(&mut self) -> Vec<u8> {
        b(self.pick(CONSUMERS))
    }
    fn word(&mut self) -> Vec<u8> {
        let i = self.rng.below(self.words.len() as u64) as usize;
        let mut v = b(self.words[i]);
        if self.chance(20) {
            v.make_ascii_lowercase();
        }
        v
    }

    /// A number near the clock (ms or s), for TIME, EXAT, PXAT, IDLE.
    fn clock(&mut self) -> Vec<u8> {
        let now = self.now_ms as i64;
        let v = match self.rng.below(8) {
            0 => now,
            1 => now / 1000,
            2 => now + 1_000_000,
            3 => now - 1_000_000,
            4 => now / 1000 + 100,
            5 => i64::MAX - now + 1,
            6 => i64::MAX / 1000 + 1,
            _ => -now,
        };
        b(&v.to_string())
    }

    fn int_edge(&mut self) -> Vec<u8> {
        match self.rng.below(20) {
            0 => self.clock(),
            1 => b(&"9".repeat(1 + self.rng.below(40) as usize)),
            _ => b(self.pick(INT_EDGES)),
        }
    }
    fn small(&mut self) -> Vec<u8> {
        b(&(self.rng.below(12) as i64 - 1).to_string())
    }
    fn num(&mut self) -> Vec<u8> {
        if self.chance(self.sane) {
            self.small()
        } else {
            self.int_edge()
        }
    }

    fn id(&mut self) -> Vec<u8> {
        let sane = self.chance(self.sane);
        match self.rng.below(10) {
            _ if !sane => b(self.pick(ID_EDGES)),
            0..=7 if !self.seen_ids.is_empty() => {
                let i = self.rng.below(self.seen_ids.len() as u64) as usize;
                let id = self.seen_ids[i].clone();
                if self.chance(70) {
                    return id;
                }
                // A neighbour of a real ID.
                let s = String::from_utf8_lossy(&id).into_owned();
                let Some((ms, seq)) = s.split_once('-') else {
                    return id;
                };
                let (ms, seq): (u64, u64) = (ms.parse().unwrap_or(0), seq.parse().unwrap_or(0));
                let v = match self.rng.below(6) {
                    0 => format!("{}-{}", ms, seq.wrapping_add(1)),
                    1 => format!("{}-{}", ms, seq.wrapping_sub(1)),
                    2 => format!("{}-{}", ms.wrapping_add(1), 0),
                    3 => format!("{}", ms),
                    4 => format!("({}-{}", ms, seq),
                    _ => format!("{}-*", ms),
                };
                b(&v)
            }
            8 => {
                let parts = [
                    0u64,
                    1,
                    2,
                    self.now_ms,
                    self.now_ms + 1000,
                    u64::MAX,
                    u64::MAX - 1,
                    i64::MAX as u64,
                ];
                let ms = self.pick(&parts);
                let seq = self.pick(&parts);
                b(&format!("{ms}-{seq}"))
            }
            _ => b(self.pick(ID_EDGES)),
        }
    }

    fn random_bytes(&mut self) -> Vec<u8> {
        let n = self.rng.below(9) as usize;
        (0..n)
            .map(|_| match self.rng.below(4) {
                0 if self.ascii => b' ' + self.rng.below(95) as u8,
                0 => self.rng.below(256) as u8,
                // (No NUL in the differential mode: Redis's `%s` stops at one.)
                1 if self.ascii => self.pick(b"\r\n \"'\\*?[]-+$>(~=".as_slice()),
                1 => self.pick(b"\r\n\0 \"'\\*?[]-+$>(~=".as_slice()),
                _ => b'a' + self.rng.below(26) as u8,
            })
            .collect()
    }

    /// Any argument at all.
    fn any(&mut self) -> Vec<u8> {
        match self.rng.below(20) {
            0..=4 => self.word(),
            5..=8 => self.num(),
            9..=12 => self.id(),
            13..=14 => self.key(),
            15 => self.group(),
            16 => self.consumer(),
            17 => b(self.pick(PATTERNS)),
            18 => {
                let i = self.rng.below(self.table.len() as u64) as usize;
                b(self.table[i].names[0])
            }
            _ => self.random_bytes(),
        }
    }

    /// A command from the table with arguments from the dictionary, keys at the key positions.
    fn table_command(&mut self) -> Argv {
        let i = self.rng.below(self.table.len() as u64) as usize;
        let (names, arity) = (self.table[i].names.clone(), self.table[i].cmd.arity);
        let min = arity.unsigned_abs() as usize;
        let argc = if self.chance(4) {
            self.rng.below(min as u64 + 4) as usize + 1
        } else if arity >= 0 {
            min
        } else {
            min + self.rng.below(7) as usize
        };
        let argc = argc.max(names.len());
        let keys: Vec<usize> = self.table[i].cmd.key_indices(argc).collect();
        let mut argv: Argv = names.iter().map(|n| b(n)).collect();
        if self.chance(50) {
            argv.iter_mut().for_each(|a| a.make_ascii_uppercase());
        }
        while argv.len() < argc {
            let a = if keys.contains(&argv.len()) && self.chance(85) {
                self.key()
            } else {
                self.any()
            };
            argv.push(a);
        }
        argv
    }

    /// Shuffles option groups, sometimes repeating or dropping one.
    fn options(&mut self, mut groups: Vec<Argv>) -> Argv {
        for i in (1..groups.len()).rev() {
            let j = self.rng.below(i as u64 + 1) as usize;
            groups.swap(i, j);
        }
        if !groups.is_empty() && self.chance(10) {
            let g = groups[self.rng.below(groups.len() as u64) as usize].clone();
            groups.push(g);
        }
        if !groups.is_empty() && self.chance(5) {
            let i = self.rng.below(groups.len() as u64) as usize;
            groups.remove(i);
        }
        groups.into_iter().flatten().collect()
    }

    /// Each candidate option group with probability `p`.
    fn some(&mut self, p: u64, groups: Vec<Argv>) -> Vec<Argv> {
        groups.into_iter().filter(|_| self.rng.chance(p)).collect()
    }

    fn trim_opts(&mut self) -> Vec<Argv> {
        let mut g = Vec::new();
        if self.chance(60) {
            let mut t = vec![if self.chance(50) {
                b("MAXLEN")
            } else {
                b("MINID")
            }];
            match self.rng.below(3) {
                0 => t.push(b("~")),
                1 => t.push(b("=")),
                _ => {}
            }
            let v = if eqi(&t[0], "MAXLEN") {
                self.num()
            } else {
                self.id()
            };
            t.push(v);
            g.push(t);
        }
        if self.chance(25) {
            g.push(vec![b("LIMIT"), self.num()]);
        }
        g
    }

    fn fields(&mut self) -> Argv {
        let n = match self.rng.below(10) {
            0 => 1,
            1 => 3,
            2 => 4,
            _ => 2,
        };
        (0..n)
            .map(|i| {
                if self.chance(85) {
                    b(if i % 2 == 0 { "f" } else { "v" })
                } else {
                    self.any()
                }
            })
            .collect()
    }

    fn stream_ids(&mut self, n: usize) -> Argv {
        (0..n).map(|_| self.id()).collect()
    }

    fn read_streams(&mut self, group: bool) -> Argv {
        let n = 1 + (self.chance(25) as usize) + (self.chance(10) as usize);
        let mut v = vec![b("STREAMS")];
        for _ in 0..n {
            v.push(self.key());
        }
        for _ in 0..n {
            let id = match self.rng.below(4) {
                0 if group => b(">"),
                0 => b("$"),
                1 => b("0"),
                _ => self.id(),
            };
            v.push(id);
        }
        if self.chance(5) {
            v.pop();
        }
        v
    }

    /// A template command of the stream, group, key and string families.
    fn template(&mut self) -> Argv {
        // The Redis 8.x stream commands, which redis-server 7.0.15 (the differential run's
        // reference, in ASCII mode) does not have.
        if !self.ascii && self.chance(12) {
            return self.template8();
        }
        let k = self.key();
        match self.rng.below(46) {
            0..=5 => {
                let mut v = vec![b("XADD"), k];
                let mut opts = self.trim_opts();
                if self.chance(10) {
                    opts.push(vec![b("NOMKSTREAM")]);
                }
                v.extend(self.options(opts));
                v.push(if self.chance(55) { b("*") } else { self.id() });
                v.extend(self.fields());
                v
            }
            6 => {
                let mut v = vec![b("XTRIM"), k];
                let opts = self.trim_opts();
                v.extend(self.options(opts));
                v
            }
            7..=8 => {
                let cmd = if self.chance(50) {
                    "XRANGE"
                } else {
                    "XREVRANGE"
                };
                let mut v = vec![b(cmd), k, self.id(), self.id()];
                if self.chance(50) {
                    v.extend([b("COUNT"), self.num()]);
                }
                v
            }
            9 => {
                let mut v = vec![b("XDEL"), k];
                let n = 1 + self.rng.below(3) as usize;
                v.extend(self.stream_ids(n));
                v
            }
            10 => vec![b("XLEN"), k],
            11 => {
                let mut v = vec![b("XSETID"), k, self.id()];
                let o = vec![
                    vec![b("ENTRIESADDED"), self.num()],
                    vec![b("MAXDELETEDID"), self.id()],
                ];
                let o = self.some(40, o);
                v.extend(self.options(o));
                v
            }
            12..=13 => {
                let mut v = vec![b("XREAD")];
                let o = vec![vec![b("COUNT"), self.num()], vec![b("BLOCK"), self.block()]];
                let o = self.some(40, o);
                v.extend(self.options(o));
                v.extend(self.read_streams(false));
                v
            }
            14..=18 => {
                let mut v = vec![b("XREADGROUP")];
                let mut o = vec![
                    vec![b("GROUP"), self.group(), self.consumer()],
                    vec![b("COUNT"), self.num()],
                    vec![b("BLOCK"), self.block()],
                    vec![b("NOACK")],
                ];
                let head = o.remove(0);
                let mut o = self.some(30, o);
                o.push(head);
                v.extend(self.options(o));
                v.extend(self.read_streams(true));
                v
            }
            19..=20 => {
                let mut v = vec![b("XACK"), k, self.group()];
                let n = 1 + self.rng.below(3) as usize;
                v.extend(self.stream_ids(n));
                v
            }
            21..=22 => {
                let mut v = vec![b("XPENDING"), k, self.group()];
                if self.chance(75) {
                    if self.chance(40) {
                        v.extend([b("IDLE"), self.num()]);
                    }
                    v.extend([self.id(), self.id(), self.num()]);
                    if self.chance(50) {
                        v.push(self.consumer());
                    }
                }
                v
            }
            23..=26 => {
                let mut v = vec![b("XCLAIM"), k, self.group(), self.consumer(), self.num()];
                let n = 1 + self.rng.below(3) as usize;
                v.extend(self.stream_ids(n));
                let o = vec![
                    vec![b("IDLE"), self.num()],
                    vec![
                        b("TIME"),
                        if self.chance(50) {
                            self.clock()
                        } else {
                            self.num()
                        },
                    ],
                    vec![b("RETRYCOUNT"), self.num()],
                    vec![b("FORCE")],
                    vec![b("JUSTID")],
                    vec![b("LASTID"), self.id()],
                ];
                let o = self.some(30, o);
                v.extend(self.options(o));
                v
            }
            27..=28 => {
                let mut v = vec![
                    b("XAUTOCLAIM"),
                    k,
                    self.group(),
                    self.consumer(),
                    self.num(),
                    self.id(),
                ];
                let o = vec![vec![b("COUNT"), self.num()], vec![b("JUSTID")]];
                let o = self.some(40, o);
                v.extend(self.options(o));
                v
            }
            29..=31 => {
                let start = if self.chance(30) { b("$") } else { self.id() };
                let mut v = vec![b("XGROUP"), b("CREATE"), k, self.group(), start];
                let o = vec![vec![b("MKSTREAM")], vec![b("ENTRIESREAD"), self.num()]];
                let o = self.some(50, o);
                v.extend(self.options(o));
                v
            }
            32 => {
                let start = if self.chance(30) { b("$") } else { self.id() };
                let mut v = vec![b("XGROUP"), b("SETID"), k, self.group(), start];
                if self.chance(50) {
                    v.extend([b("ENTRIESREAD"), self.num()]);
                }
                v
            }
            33 => match self.rng.below(3) {
                0 => vec![b("XGROUP"), b("DESTROY"), k, self.group()],
                1 => vec![
                    b("XGROUP"),
                    b("CREATECONSUMER"),
                    k,
                    self.group(),
                    self.consumer(),
                ],
                _ => vec![
                    b("XGROUP"),
                    b("DELCONSUMER"),
                    k,
                    self.group(),
                    self.consumer(),
                ],
            },
            34..=35 => match self.rng.below(3) {
                0 => {
                    let mut v = vec![b("XINFO"), b("STREAM"), k];
                    if self.chance(60) {
                        v.push(b("FULL"));
                        if self.chance(60) {
                            v.extend([b("COUNT"), self.num()]);
                        }
                    }
                    v
                }
                1 => vec![b("XINFO"), b("GROUPS"), k],
                _ => vec![b("XINFO"), b("CONSUMERS"), k, self.group()],
            },
            36..=37 => {
                let mut v = vec![
                    b("SET"),
                    self.skey(),
                    if self.chance(50) { self.num() } else { b("v") },
                ];
                let exp = match self.rng.below(5) {
                    0 => vec![b("EX"), self.num()],
                    1 => vec![b("PX"), self.num()],
                    2 => vec![b("EXAT"), self.clock()],
                    3 => vec![b("PXAT"), self.clock()],
                    _ => vec![b("KEEPTTL")],
                };
                let cond = vec![if self.chance(50) { b("NX") } else { b("XX") }];
                let o = vec![cond, vec![b("GET")], exp];
                let o = self.some(35, o);
                v.extend(self.options(o));
                v
            }
            38 => {
                let cmd = self.pick(&["INCR", "DECR", "INCRBY", "DECRBY"]);
                let mut v = vec![b(cmd), self.skey()];
                if cmd.ends_with("BY") {
                    v.push(self.num());
                }
                v
            }
            39..=40 => {
                let cmd = self.pick(&["EXPIRE", "PEXPIRE", "EXPIREAT", "PEXPIREAT"]);
                let n = if cmd.ends_with("AT") && self.chance(50) {
                    self.clock()
                } else {
                    self.num()
                };
                let mut v = vec![b(cmd), k, n];
                let n = self.rng.below(3);
                for _ in 0..n {
                    v.push(b(self.pick(&["NX", "XX", "GT", "LT"])));
                }
                v
            }
            41 => {
                let cmd = self.pick(&[
                    "TTL",
                    "PTTL",
                    "EXPIRETIME",
                    "PEXPIRETIME",
                    "PERSIST",
                    "TYPE",
                    "EXISTS",
                    "GET",
                    "DEL",
                ]);
                vec![b(cmd), k]
            }
            42 => {
                let mut v = vec![b("SCAN"), self.num()];
                let o = vec![
                    vec![b("MATCH"), b(self.pick(PATTERNS))],
                    vec![b("COUNT"), self.num()],
                    vec![
                        b("TYPE"),
                        b(self.pick(&["stream", "string", "none", "list"])),
                    ],
                ];
                let o = self.some(40, o);
                v.extend(self.options(o));
                v
            }
            43 => {
                let cmd = self.pick(&["RENAME", "RENAMENX"]);
                vec![b(cmd), k, self.key()]
            }
            44 => {
                if self.chance(50) {
                    let mut v = vec![b("CONFIG"), b("SET")];
                    for _ in 0..1 + self.rng.below(2) {
                        v.push(b(self.pick(CONFIG_PARAMS)));
                        let val = match self.rng.below(4) {
                            0 => self.small(),
                            1 => self.any(),
                            _ => self.int_edge(),
                        };
                        v.push(val);
                    }
                    v
                } else {
                    vec![b("CONFIG"), b("GET"), b(self.pick(CONFIG_PARAMS))]
                }
            }
            _ => {
                let cmd = self.pick(&["SELECT", "OBJECT", "KEYS", "COMMAND"]);
                match cmd {
                    "SELECT" => vec![b(cmd), if self.chance(50) { b("0") } else { self.num() }],
                    "OBJECT" => vec![b(cmd), b("ENCODING"), k],
                    "KEYS" => vec![b(cmd), b(self.pick(PATTERNS))],
                    _ => {
                        let mut v = self.table_command();
                        v.insert(0, b(self.pick(&["GETKEYS", "INFO", "DOCS"])));
                        v.insert(0, b("COMMAND"));
                        v
                    }
                }
            }
        }
    }

    /// A Redis 8.x stream command: XDELEX, XACKDEL, the trim policies, XNACK, XREADGROUP
    /// CLAIM, XADD IDMP/IDMPAUTO, XCFGSET, XIDMPRECORD, MAXCOUNT/MAXSIZE.
    fn template8(&mut self) -> Argv {
        let k = self.key();
        let policy = |g: &mut Gen| b(g.pick(&["KEEPREF", "DELREF", "ACKED"]));
        match self.rng.below(9) {
            0 => {
                let mut v = vec![b("XDELEX"), k];
                if self.chance(60) {
                    v.push(policy(self));
                }
                let n = 1 + self.rng.below(3) as usize;
                v.extend([
                    b("IDS"),
                    if self.chance(90) {
                        b(&n.to_string())
                    } else {
                        self.num()
                    },
                ]);
                v.extend(self.stream_ids(n));
                v
            }
            1 => {
                let mut v = vec![b("XACKDEL"), k, self.group()];
                if self.chance(60) {
                    v.push(policy(self));
                }
                let n = 1 + self.rng.below(3) as usize;
                v.extend([
                    b("IDS"),
                    if self.chance(90) {
                        b(&n.to_string())
                    } else {
                        self.num()
                    },
                ]);
                v.extend(self.stream_ids(n));
                v
            }
            2 => {
                let cmd = if self.chance(50) { "XTRIM" } else { "XADD" };
                let mut v = vec![b(cmd), k];
                let mut opts = self.trim_opts();
                opts.push(vec![policy(self)]);
                v.extend(self.options(opts));
                if cmd == "XADD" {
                    v.push(if self.chance(70) { b("*") } else { self.id() });
                    v.extend(self.fields());
                }
                v
            }
            3 => {
                let mut v = vec![
                    b("XNACK"),
                    k,
                    self.group(),
                    b(self.pick(&["SILENT", "FAIL", "FATAL", "fail", "OTHER"])),
                ];
                let n = 1 + self.rng.below(3) as usize;
                v.extend([b("IDS"), b(&n.to_string())]);
                v.extend(self.stream_ids(n));
                let o = vec![vec![b("RETRYCOUNT"), self.num()], vec![b("FORCE")]];
                let o = self.some(30, o);
                v.extend(self.options(o));
                v
            }
            4 => {
                let mut v = vec![b("XREADGROUP")];
                let mut o = vec![
                    vec![b("GROUP"), self.group(), self.consumer()],
                    vec![b("CLAIM"), self.num()],
                    vec![b("COUNT"), self.num()],
                    vec![b("MAXCOUNT"), self.num()],
                    vec![b("MAXSIZE"), self.num()],
                    vec![b("NOACK")],
                ];
                let head = o.remove(0);
                let claim = o.remove(0);
                let mut o = self.some(40, o);
                o.push(head);
                o.push(claim);
                v.extend(self.options(o));
                v.extend(self.read_streams(true));
                v
            }
            5 => {
                let mut v = vec![b("XREAD")];
                let o = vec![
                    vec![b("COUNT"), self.num()],
                    vec![b("MAXCOUNT"), self.num()],
                    vec![b("MAXSIZE"), self.num()],
                ];
                let o = self.some(60, o);
                v.extend(self.options(o));
                v.extend(self.read_streams(false));
                v
            }
            6 => {
                let pid = b(self.pick(&["p1", "p2", ""]));
                let mut v = vec![b("XADD"), k];
                let idmp = if self.chance(50) {
                    vec![b("IDMPAUTO"), pid]
                } else {
                    vec![b("IDMP"), pid, b(self.pick(&["i1", "i2", "i3", ""]))]
                };
                let trim = self.trim_opts();
                let mut opts = self.some(30, trim);
                opts.push(idmp);
                v.extend(self.options(opts));
                v.push(if self.chance(90) { b("*") } else { self.id() });
                v.extend(self.fields());
                v
            }
            7 => {
                let mut v = vec![b("XCFGSET"), k];
                let o = vec![
                    vec![b("IDMP-DURATION"), self.num()],
                    vec![b("IDMP-MAXSIZE"), self.num()],
                ];
                let o = self.some(70, o);
                v.extend(self.options(o));
                v
            }
            _ => vec![
                b("XIDMPRECORD"),
                k,
                b(self.pick(&["p1", "p2"])),
                b(self.pick(&["i1", "i9"])),
                self.id(),
            ],
        }
    }

    /// A BLOCK argument: short waits and the values Redis refuses.
    fn block(&mut self) -> Vec<u8> {
        if self.chance(60) {
            b(&(1 + self.rng.below(3)).to_string())
        } else {
            self.int_edge()
        }
    }

    /// A read that blocks for a few ms on the second connection, unless a command on the first
    /// one (XADD, DEL, XGROUP DESTROY, RENAME, FLUSHALL, CLIENT KILL, …) ends it sooner.
    fn blocking(&mut self) -> Argv {
        let group = self.chance(60);
        let mut v = vec![b(if group { "XREADGROUP" } else { "XREAD" })];
        let mut o = vec![vec![b("BLOCK"), b(&(2 + self.rng.below(30)).to_string())]];
        if group {
            o.push(vec![b("GROUP"), self.group(), self.consumer()]);
            if self.chance(20) {
                o.push(vec![b("NOACK")]);
            }
        }
        if self.chance(40) {
            o.push(vec![b("COUNT"), self.num()]);
        }
        v.extend(self.options(o));
        let n = 1 + self.chance(20) as usize;
        v.push(b("STREAMS"));
        for _ in 0..n {
            v.push(self.key());
        }
        for _ in 0..n {
            v.push(if self.chance(80) {
                b(if group { ">" } else { "$" })
            } else {
                self.id()
            });
        }
        v
    }

    /// One of the recent commands with a few random edits.
    fn mutate(&mut self) -> Argv {
        let mut v = if self.recent.is_empty() {
            self.template()
        } else {
            let i = self.rng.below(self.recent.len() as u64) as usize;
            self.recent[i].clone()
        };
        for _ in 0..1 + self.rng.below(3) {
            let n = v.len() as u64;
            let i = 1 + self.rng.below(n.max(2) - 1) as usize;
            match self.rng.below(7) {
                0 | 1 if i < v.len() => v[i] = self.any(),
                2 => {
                    let a = self.any();
                    v.insert(i.min(v.len()), a);
                }
                3 if i < v.len() && v.len() > 1 => {
                    v.remove(i);
                }
                4 if i < v.len() => {
                    let a = v[i].clone();
                    v.insert(i, a);
                }
                5 if v.len() > 2 => {
                    let j = 1 + self.rng.below(n - 1) as usize;
                    let i = i.min(v.len() - 1);
                    v.swap(i, j);
                }
                _ if i < v.len() => v[i].make_ascii_lowercase(),
                _ => {}
            }
        }
        v
    }

    /// `argv` run from a Lua script instead (`EVAL body 0 argv…`), so that its reply goes
    /// through the script conversions both ways: Redis reply to Lua value (RESP2's or, after
    /// `redis.setresp(3)`, RESP3's) and back; errors raised (`call`) or returned (`pcall`).
    fn scripted(&mut self, argv: Argv) -> Argv {
        const BODIES: &[&str] = &[
            "return redis.call(unpack(ARGV))",
            "return redis.pcall(unpack(ARGV))",
            "redis.setresp(3); return redis.call(unpack(ARGV))",
            "redis.setresp(3); return redis.pcall(unpack(ARGV))",
            "local r = redis.pcall(unpack(ARGV)); if type(r) == 'table' and r.err then return 'caught: ' .. r.err end; return {type(r), r}",
        ];
        let mut v = vec![
            b(if self.chance(50) { "EVAL" } else { "eval" }),
            b(self.pick(BODIES)),
            b("0"),
        ];
        v.extend(argv);
        v
    }

    /// A Lua expression for a script to return: numbers (fractions, huge, infinite, NaN),
    /// strings, booleans, nil, and tables with holes, nesting and the special fields a script
    /// reply may carry (err, ok, double, map, set, big_number, verbatim_string).
    fn lua_value(&mut self, depth: usize) -> String {
        let leaf = depth >= 3 || self.chance(45);
        if leaf {
            return self
                .pick(&[
                    "1", "0", "-1", "3.7", "-2.5", "1e20", "-1e20", "2^53", "2^63", "1/0", "-1/0",
                    "0/0", "'x'", "''", "'a b'", "true", "false", "nil", "0.5", "-0.0",
                ])
                .to_string();
        }
        let n = self.rng.below(4) as usize;
        let items = |g: &mut Gen| {
            (0..n)
                .map(|_| g.lua_value(depth + 1))
                .collect::<Vec<_>>()
                .join(", ")
        };
        match self.rng.below(11) {
            0..=2 => format!("{{{}}}", items(self)),
            // Error texts that start with an upper-case code (the reader refuses others, from
            // either server alike).
            3 => format!(
                "{{err={}}}",
                self.pick(&["'ERR bad'", "'CODE with\\nnewline'", "'E x'", "5", "{}"])
            ),
            4 => format!("{{ok={}}}", self.lua_value(depth + 1)),
            5 => format!("{{double={}}}", self.lua_value(depth + 1)),
            6 => {
                let keys = ["a", "b", "c", "d", "e", "f", "g", "h"];
                let fields: Vec<String> = (0..n)
                    .map(|i| format!("{}={}", keys[i], self.lua_value(depth + 1)))
                    .collect();
                format!("{{map={{{}}}}}", fields.join(", "))
            }
            7 => {
                let members: Vec<String> = (0..n)
                    .map(|i| format!("['m{i}']={}", self.pick(&["true", "false", "1"])))
                    .collect();
                format!("{{set={{{}}}}}", members.join(", "))
            }
            // Digits only: Redis writes any string as a big number, which a RESP3 reader then
            // refuses on both sides alike.
            8 => format!(
                "{{big_number={}}}",
                self.pick(&["'12345678901234567890'", "'-1'", "'0'", "5"])
            ),
            // A format of three bytes (Redis copies three bytes from a shorter one: past its end).
            9 => format!(
                "{{verbatim_string={{format={}, string={}}}}}",
                self.pick(&["'txt'", "'mkd'", "1"]),
                self.lua_value(depth + 1)
            ),
            _ => format!("{{{}, nil, {}}}", items(self), self.lua_value(depth + 1)),
        }
    }

    /// Commands that give later ones something to find: entries, groups, pending entries.
    fn builder(&mut self) -> Argv {
        let k = b(self.pick(&["s", "s", "s2"]));
        match self.rng.below(6) {
            0..=2 => vec![b("XADD"), k, b("*"), b("f"), b("v")],
            3 => vec![
                b("XGROUP"),
                b("CREATE"),
                k,
                self.group(),
                b("0"),
                b("MKSTREAM"),
            ],
            _ => vec![
                b("XREADGROUP"),
                b("GROUP"),
                self.group(),
                self.consumer(),
                b("COUNT"),
                b(&(1 + self.rng.below(3)).to_string()),
                b("STREAMS"),
                k,
                b(if self.chance(80) { ">" } else { "0" }),
            ],
        }
    }

    fn next(&mut self) -> Argv {
        let v = match self.rng.below(100) {
            0..=39 => self.template(),
            40..=64 => self.table_command(),
            65..=84 => self.mutate(),
            _ => self.builder(),
        };
        if self.recent.len() == 64 {
            self.recent.pop_front();
        }
        self.recent.push_back(v.clone());
        v
    }

    fn learn(&mut self, reply: &V) {
        let mut bulks = Vec::new();
        reply.bulks(&mut bulks);
        for s in bulks {
            let id_like = s.len() < 48
                && s.iter().filter(|&&c| c == b'-').count() == 1
                && s.iter().all(|&c| c.is_ascii_digit() || c == b'-')
                && s[0] != b'-'
                && s[s.len() - 1] != b'-';
            if id_like && !self.seen_ids.iter().any(|x| x == s) {
                if self.seen_ids.len() == 48 {
                    self.seen_ids.pop_front();
                }
                self.seen_ids.push_back(s.to_vec());
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Defusing commands that would end or stall the run rather than exercise the server

fn is_valid_shutdown_flag(a: &[u8]) -> bool {
    ["NOSAVE", "SAVE", "NOW", "FORCE"].iter().any(|f| eqi(a, f))
}

/// Rewrites a generated command so that it cannot stop the test; `in_multi`: it will be queued.
fn defuse(mut v: Argv, in_multi: bool, gen: &mut Gen) -> Argv {
    let name = v[0].to_ascii_lowercase();
    let sub = v.get(1).map(|s| s.to_ascii_lowercase()).unwrap_or_default();
    match (name.as_slice(), sub.as_slice()) {
        // A SHUTDOWN that would succeed (or, queued, run at EXEC) is dropped; one with a bad
        // or ABORT flag stays, to exercise its parser.
        (b"shutdown", _) if in_multi || v[1..].iter().all(|a| is_valid_shutdown_flag(a)) => {
            v = vec![b("PING")];
        }
        (b"client", b"reply") if v.len() > 2 && (eqi(&v[2], "OFF") || eqi(&v[2], "SKIP")) => {
            v[2] = b("ON");
        }
        (b"config", b"set") => {
            let deny = v[2..]
                .iter()
                .step_by(2)
                .any(|p| CONFIG_DENY.iter().any(|d| eqi(p, d)));
            if deny {
                v.truncate(3);
                v[1] = b("GET");
            }
        }
        // GETJOB without NOHANG on an empty queue waits forever (Disque's default TIMEOUT 0):
        // at most 3 ms. A TIMEOUT of 0 or over 50 ms is shortened; without one, one is added
        // (options come before FROM). Unparsable values stay (errors).
        (b"getjob", _) if !v.iter().any(|a| eqi(a, "NOHANG")) => {
            let mut has_timeout = false;
            for i in 1..v.len().saturating_sub(1) {
                if eqi(&v[i], "TIMEOUT") {
                    has_timeout = true;
                    if let Some(n) = strict_i64(&v[i + 1]) {
                        if n == 0 || n > 50 {
                            v[i + 1] = b(&(1 + gen.rng.below(3)).to_string());
                        }
                    }
                }
            }
            if !has_timeout {
                let ms = (1 + gen.rng.below(3)).to_string();
                v.splice(1..1, [b("TIMEOUT"), b(&ms)]);
            }
        }
        // WAITJOB on jobs that exist waits until they are gone (no TIMEOUT, or 0: forever): at
        // most 3 ms. A TIMEOUT of 0 or over 50 ms is shortened; without one, one is added
        // (it comes last). Unparsable values stay (errors).
        (b"waitjob", _) if v.len() >= 2 => {
            let n = v.len();
            if n >= 3 && eqi(&v[n - 2], "TIMEOUT") {
                if strict_i64(&v[n - 1]).is_some_and(|t| t == 0 || t > 50) {
                    v[n - 1] = b(&(1 + gen.rng.below(3)).to_string());
                }
            } else {
                let ms = (1 + gen.rng.below(3)).to_string();
                v.extend([b("TIMEOUT"), b(&ms)]);
            }
        }
        // A MONITOR connection receives the other connections' commands between its own
        // replies (server/tests and the compat case `monitor` cover it); with arguments it
        // stays, for the arity error.
        (b"monitor", _) if v.len() == 1 => v = vec![b("PING")],
        // The protocol a queued HELLO would switch to mid-EXEC is not worth tracking.
        (b"hello", _) if in_multi => v = vec![b("PING")],
        (b"flushall" | b"flushdb", _) if gen.chance(70) => v = vec![b("PING")],
        // WAIT and WAITAOF asking for a replica (or, WAITAOF, an fsync that `appendfsync no`
        // never makes) wait for their timeout (0: forever): at most 3 ms.
        (b"wait" | b"waitaof", _) if v.len() >= 3 => {
            let last = v.len() - 1;
            if strict_i64(&v[last]).is_some_and(|n| n == 0 || n > 50) {
                v[last] = b(&(1 + gen.rng.below(3)).to_string());
            }
        }
        // A CLIENT PAUSE holds the test's own commands (ALL: every command, CLIENT UNPAUSE
        // too) for its timeout: at most 3 ms.
        (b"client", b"pause") if v.len() >= 3 && strict_i64(&v[2]).is_some_and(|n| n > 50) => {
            v[2] = b(&(1 + gen.rng.below(3)).to_string());
        }
        (b"xread" | b"xreadgroup", _) => {
            for i in 1..v.len().saturating_sub(1) {
                if !eqi(&v[i], "BLOCK") {
                    continue;
                }
                // 0 waits forever and a large value for long (Redis 7.0 blocks even for
                // i64::MAX): at most 3 ms. Negative and unparsable values stay (errors).
                if let Some(n) = strict_i64(&v[i + 1]) {
                    if n == 0 || n > 50 {
                        v[i + 1] = b(&(1 + gen.rng.below(3)).to_string());
                    }
                }
            }
        }
        _ => {}
    }
    v
}

/// Commands after which the server may close this connection.
fn may_close(v: &Argv) -> bool {
    eqi(&v[0], "QUIT") || (eqi(&v[0], "CLIENT") && v.len() > 1 && eqi(&v[1], "KILL"))
}

// ---------------------------------------------------------------------------------------------
// The run

struct Run {
    server: Server,
    /// The server's stderr (its panic message, if it dies).
    log: std::path::PathBuf,
    _log_dir: tempfile::TempDir,
    conn: FuzzConn,
    resp3: bool,
    in_multi: bool,
    queued_close: bool,
    history: VecDeque<String>,
    /// A second connection that parks blocking reads, and the read it is blocked in.
    blocker: Option<(FuzzConn, bool)>,
    blocked: Option<Argv>,
    /// A CLIENT KILL ran since the second connection was opened: it may be gone.
    blocker_killable: bool,
    /// How long each restart took to answer.
    restarts: Vec<Duration>,
    seed: u64,
    sent: usize,
    verbose: bool,
    /// `SLUICE_FUZZ_PROFILE`: time spent per command name.
    profile: Option<std::collections::HashMap<String, (u64, Duration, u64)>>,
    /// `SLUICE_FUZZ_PROFILE`: how often each error text (cut at 50 bytes) came back.
    errors: std::collections::HashMap<String, u64>,
}

impl Run {
    fn start(seed: u64) -> Run {
        let mut server = Server::start(&["--appendfsync", "no"]);
        let log_dir = tempfile::tempdir().expect("tempdir");
        let log = log_dir.path().join("sluice.log");
        server.restart_logged(&log);
        let conn = FuzzConn::new(server.port);
        Run {
            server,
            log,
            _log_dir: log_dir,
            conn,
            resp3: false,
            in_multi: false,
            queued_close: false,
            blocker: None,
            blocked: None,
            blocker_killable: false,
            restarts: Vec::new(),
            history: VecDeque::new(),
            seed,
            sent: 0,
            verbose: std::env::var_os("SLUICE_FUZZ_VERBOSE").is_some(),
            profile: std::env::var_os("SLUICE_FUZZ_PROFILE").map(|_| Default::default()),
            errors: Default::default(),
        }
    }

    /// Panics with everything needed to reproduce: the command, the ones before it, the seed,
    /// and whether the server is still running.
    fn fail(&mut self, argv: &Argv, what: &str) -> ! {
        // An aborting server may take a moment to go (the core dump): give it a few seconds.
        let mut status = "the server's state is unknown".to_string();
        for _ in 0..300 {
            match self.server.child.as_mut().map(|c| c.try_wait()) {
                Some(Ok(Some(st))) => {
                    status = format!("the server EXITED ({st})");
                    break;
                }
                Some(Ok(None)) => status = "the server is still running".to_string(),
                _ => break,
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        // The panic line and the message after it.
        let lines: Vec<&str> = log.lines().collect();
        let panics: Vec<&str> = lines
            .iter()
            .enumerate()
            .filter(|(_, l)| l.contains("panic"))
            .flat_map(|(i, _)| lines[i..(i + 2).min(lines.len())].iter().copied())
            .take(6)
            .collect();
        let tail = &lines[lines.len().saturating_sub(8)..];
        if !panics.is_empty() {
            status = format!("{status}\nserver log (panics):\n  {}", panics.join("\n  "));
        }
        status = format!(
            "{status}\nserver log (last lines):\n  {}",
            tail.join("\n  ")
        );
        let hist: Vec<String> = self.history.iter().cloned().collect();
        panic!(
            "\nfuzz failure (seed {seed}, command #{n}, {proto}): {what}; {status}\n\
             command: {cmd}\n\
             preceding commands (oldest first):\n  {hist}\n\
             reproduce: SLUICE_FUZZ_SEED={seed} SLUICE_FUZZ_COMMANDS={m} cargo test -p sluice-server --test fuzz_commands fuzz\n",
            seed = self.seed,
            n = self.sent,
            proto = if self.resp3 { "RESP3" } else { "RESP2" },
            cmd = show_cmd(argv),
            hist = hist.join("\n  "),
            m = self.sent + 1,
        )
    }

    fn reconnect(&mut self) {
        self.conn = FuzzConn::new(self.server.port);
        self.resp3 = false;
        self.in_multi = false;
        self.queued_close = false;
    }

    /// Sends one command, checks its reply and tracks the connection state.
    fn exec(&mut self, argv: &Argv) -> Option<V> {
        self.sent += 1;
        let shown = show_cmd(argv);
        while self.history.len() >= 100 {
            self.history.pop_front();
        }
        self.history.push_back(shown.clone());
        let is = |n: &str| eqi(&argv[0], n);
        // HELLO's reply comes in the protocol it asks for (if it succeeds).
        let parse3 = self.resp3 || (is("HELLO") && argv.len() > 1 && argv[1] == b"3");
        let closing = may_close(argv) || (is("EXEC") && self.queued_close);
        if closing {
            self.blocker_killable = true;
        }
        let t0 = Instant::now();
        // Commands that may close the connection go alone; the others with a PING after them.
        let sent = if closing {
            self.conn.send(argv)
        } else {
            self.conn.send_with_ping(argv)
        };
        if sent.is_err() && !closing {
            self.fail(
                argv,
                "the connection was closed before the command was sent",
            );
        }
        let got = if closing {
            self.conn.read(parse3, REPLY_TIMEOUT)
        } else {
            self.conn.read_one(parse3, REPLY_TIMEOUT)
        };
        let reply = match got {
            Ok(v) => v,
            Err(Failure::Closed) if closing => {
                self.check_alive(argv);
                self.reconnect();
                return None;
            }
            Err(Failure::Closed) => self.fail(argv, "the connection closed instead of a reply"),
            Err(Failure::Timeout) => {
                self.fail(argv, &format!("no reply within {REPLY_TIMEOUT:?} (hang)"))
            }
            Err(Failure::Malformed(e)) => self.fail(argv, &format!("malformed reply: {e}")),
        };
        if let Some(p) = self.profile.as_mut() {
            let e = p
                .entry(String::from_utf8_lossy(&argv[0]).to_ascii_uppercase())
                .or_default();
            e.0 += 1;
            e.1 += t0.elapsed();
            if let V::Error(t) = &reply {
                e.2 += 1;
                let t = format!(
                    "{}: {}",
                    String::from_utf8_lossy(&argv[0]).to_ascii_uppercase(),
                    String::from_utf8_lossy(&t[..t.len().min(50)])
                );
                *self.errors.entry(t).or_default() += 1;
            }
        }
        if self.verbose {
            eprintln!("{shown}\n  -> {}", reply.render());
        }
        if is("HELLO") && !reply.is_error() {
            if let Some(p) = argv.get(1) {
                self.resp3 = p.as_slice() == b"3";
            }
        } else if is("RESET") && reply.is_simple("RESET") {
            self.resp3 = false;
            self.in_multi = false;
            self.queued_close = false;
        } else if is("MULTI") && reply.is_simple("OK") {
            self.in_multi = true;
            self.queued_close = false;
        } else if (is("EXEC") || is("DISCARD"))
            && !matches!(&reply, V::Error(e) if e.starts_with(b"ERR wrong number of arguments"))
        {
            // (With the wrong arity they are refused like any command, inside MULTI too.)
            self.in_multi = false;
            self.queued_close = false;
        } else if self.in_multi && reply.is_simple("QUEUED") && may_close(argv) {
            self.queued_close = true;
        }
        if closing && (is("QUIT") || self.conn_closed_now()) {
            // QUIT (and a CLIENT KILL that hit us) close after the reply.
            self.check_alive(argv);
            self.reconnect();
        }
        if !closing {
            let want = if self.in_multi { "QUEUED" } else { "PONG" };
            match self.conn.read(self.resp3, REPLY_TIMEOUT) {
                Ok(v) if v.is_simple(want) => {}
                Ok(v) => self.fail(
                    argv,
                    &format!(
                        "the PING sent after this command answered {} instead of +{want}: \
                         the command's reply was {} (a miscounted reply?)",
                        v.render(),
                        reply.render()
                    ),
                ),
                Err(Failure::Closed) => self.fail(argv, "the connection closed after the reply"),
                Err(Failure::Timeout) => self.fail(argv, "no reply to the PING after the command"),
                Err(Failure::Malformed(e)) => self.fail(
                    argv,
                    &format!("malformed data after the reply {}: {e}", reply.render()),
                ),
            }
        }
        Some(reply)
    }

    /// After a reply to QUIT/CLIENT KILL: did the server close us?
    fn conn_closed_now(&mut self) -> bool {
        self.conn.s.set_nonblocking(true).ok();
        let mut tmp = [0u8; 1];
        let closed = matches!(self.conn.s.peek(&mut tmp), Ok(0));
        self.conn.s.set_nonblocking(false).ok();
        closed
    }

    fn check_alive(&mut self, argv: &Argv) {
        let mut c = FuzzConn::new_checked(self.server.port)
            .unwrap_or_else(|| self.fail(argv, "the server no longer accepts connections"));
        if c.send(&[b("PING")]).is_err() {
            self.fail(argv, "the server no longer accepts commands");
        }
        match c.read(false, REPLY_TIMEOUT) {
            Ok(v) if v.is_simple("PONG") => {}
            _ => self.fail(argv, "the server does not answer PING on a new connection"),
        }
    }

    /// Restarts the server on the same data directory, after a crash (kill -9) or a clean
    /// stop, and checks that it comes back with the data.
    fn restart(&mut self, clean: bool) {
        self.poll_blocked(true);
        let what = vec![b(if clean {
            "<SIGTERM and restart>"
        } else {
            "<kill -9 and restart>"
        })];
        self.history.push_back(show_cmd(&what));
        let before = self.snapshot(&what);
        if clean {
            let st = self.server.stop();
            if !st.success() {
                self.fail(&what, &format!("SIGTERM: the server exited with {st}"));
            }
        }
        let log = self.log.clone();
        // Starting fails with a panic in the test harness if the server never answers.
        let t0 = Instant::now();
        let started = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            self.server.restart_logged(&log)
        }));
        let took = t0.elapsed();
        self.restarts.push(started.as_ref().map_or(took, |d| *d));
        if started.is_err() {
            self.fail(
                &what,
                "the server did not start again on its data directory",
            );
        }
        self.blocker = None;
        self.blocked = None;
        self.reconnect();
        let after = self.snapshot(&what);
        if after != before {
            self.fail(
                &what,
                &format!("the data changed across the restart:\n  before: {before:?}\n  after:  {after:?}"),
            );
        }
    }

    /// What a restart must keep: type, length and groups of the keys without a TTL in db 0.
    fn snapshot(&mut self, what: &Argv) -> Vec<String> {
        let mut c = FuzzConn::new(self.server.port);
        let mut ask = |run: &mut Run, cmd: String| -> V {
            if c.send(&split_args(&cmd)).is_err() {
                run.fail(what, &format!("`{cmd}`: connection lost"));
            }
            match c.read(false, REPLY_TIMEOUT) {
                Ok(v) => v,
                Err(_) => run.fail(what, &format!("`{cmd}` failed")),
            }
        };
        let mut out = Vec::new();
        for k in ["s", "s2", "str", "k", "{s}"] {
            if !matches!(ask(self, format!("PTTL {k}")), V::Int(-1)) {
                continue;
            }
            let t = ask(self, format!("TYPE {k}")).render();
            out.push(format!("{k}: {t}"));
            if t == "+stream" {
                for cmd in ["XLEN", "XINFO GROUPS", "XPENDING"] {
                    let extra = if cmd == "XPENDING" { " g" } else { "" };
                    let v = ask(self, format!("{cmd} {k}{extra}")).render();
                    out.push(format!("{cmd} {k}{extra}: {v}"));
                }
            }
        }
        out
    }

    /// Sends a blocking read on the second connection (opened in RESP2 or RESP3 as `resp3`).
    fn park(&mut self, argv: Argv, resp3: bool) {
        if self.blocker.is_none() {
            let mut c = FuzzConn::new(self.server.port);
            if resp3 {
                let hello = vec![b("HELLO"), b("3")];
                let ok =
                    c.send(&hello).is_ok() && matches!(c.read(true, REPLY_TIMEOUT), Ok(V::Agg(_)));
                if !ok {
                    self.fail(&hello, "HELLO 3 failed on the second connection");
                }
            }
            self.blocker = Some((c, resp3));
            self.blocker_killable = false;
        }
        self.history
            .push_back(format!("[second connection] {}", show_cmd(&argv)));
        let sent = self
            .blocker
            .as_mut()
            .is_some_and(|(c, _)| c.send(&argv).is_ok());
        self.blocked = Some(argv);
        if !sent {
            self.poll_blocked(true);
        }
    }

    /// Checks the second connection's reply: if it has come (or, with `wait`, once it comes).
    fn poll_blocked(&mut self, wait: bool) {
        let (Some(argv), Some((c, resp3))) = (self.blocked.clone(), self.blocker.as_mut()) else {
            return;
        };
        let resp3 = *resp3;
        let got = if wait {
            c.read(resp3, REPLY_TIMEOUT).map(Some)
        } else {
            c.try_read(resp3)
        };
        let what = |e: &str| format!("second connection, blocked in this command: {e}");
        match got {
            Ok(None) => return,
            Ok(Some(v)) => {
                if self.verbose {
                    eprintln!(
                        "[second connection] {}\n  -> {}",
                        show_cmd(&argv),
                        v.render()
                    );
                }
            }
            Err(Failure::Closed) if self.blocker_killable => {
                self.check_alive(&argv);
                self.blocker = None;
            }
            Err(Failure::Closed) => {
                self.fail(&argv, &what("the connection closed instead of a reply"))
            }
            Err(Failure::Timeout) => {
                self.fail(&argv, &what(&format!("no reply within {REPLY_TIMEOUT:?}")))
            }
            Err(Failure::Malformed(e)) => self.fail(&argv, &what(&format!("malformed reply: {e}"))),
        }
        self.blocked = None;
    }

    /// Ends a batch: close a transaction, PING, switch protocol if asked, and bring back the
    /// streams `s` and `s2` (with group `g` and a pending entry) if they are gone, so that the
    /// next batch has something to work on.
    fn checkpoint(&mut self, gen: &mut Gen, want_resp3: bool) {
        self.poll_blocked(true);
        if self.in_multi {
            let end = if gen.chance(70) { "EXEC" } else { "DISCARD" };
            self.exec(&vec![b(end)]);
        }
        let ping = vec![b("PING")];
        match self.exec(&ping) {
            Some(v) if v.is_simple("PONG") => {}
            other => self.fail(
                &ping,
                &format!("PING answered {:?}", other.map(|v| v.render())),
            ),
        }
        if want_resp3 != self.resp3 {
            let hello = vec![b("HELLO"), b(if want_resp3 { "3" } else { "2" })];
            match self.exec(&hello) {
                Some(v) if !v.is_error() => {}
                other => self.fail(
                    &hello,
                    &format!("HELLO answered {:?}", other.map(|v| v.render())),
                ),
            }
        }
        self.exec(&split_args("SELECT 0"));
        for k in ["s", "s2"] {
            let is_stream = matches!(self.exec(&split_args(&format!("TYPE {k}"))),
                Some(V::Simple(t)) if t == b"stream");
            if is_stream {
                continue;
            }
            for c in [
                format!("DEL {k}"),
                format!("XADD {k} * f v"),
                format!("XADD {k} * f v"),
                format!("XGROUP CREATE {k} g 0"),
                format!("XREADGROUP GROUP g c COUNT 1 STREAMS {k} >"),
            ] {
                if let Some(v) = self.exec(&split_args(&c)) {
                    gen.learn(&v);
                }
            }
        }
    }
}

impl FuzzConn {
    /// A reply if one is complete without waiting.
    fn try_read(&mut self, resp3: bool) -> Result<Option<V>, Failure> {
        self.s.set_nonblocking(true).ok();
        let mut tmp = [0u8; 65536];
        let got = loop {
            match self.s.read(&mut tmp) {
                Ok(0) => break Err(Failure::Closed),
                Ok(n) => self.buf.extend_from_slice(&tmp[..n]),
                Err(e) if e.kind() == ErrorKind::WouldBlock => break Ok(()),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => break Err(Failure::Closed),
            }
        };
        self.s.set_nonblocking(false).ok();
        match parse_frame(&self.buf, 0, resp3, 0) {
            Err(e) => Err(Failure::Malformed(e)),
            Ok(Some(_)) => self.read(resp3, REPLY_TIMEOUT).map(Some),
            Ok(None) => got.map(|()| None),
        }
    }

    fn new_checked(port: u16) -> Option<FuzzConn> {
        let s = TcpStream::connect(("127.0.0.1", port)).ok()?;
        s.set_nodelay(true).ok()?;
        Some(FuzzConn { s, buf: Vec::new() })
    }
}

fn env_u64s(name: &str) -> Option<Vec<u64>> {
    let v = std::env::var(name).ok()?;
    Some(
        v.split(',')
            .map(|s| {
                let s = s.trim();
                s.strip_prefix("0x")
                    .map_or_else(|| s.parse(), |h| u64::from_str_radix(h, 16))
                    .unwrap_or_else(|_| panic!("{name}: not a number: {s:?}"))
            })
            .collect(),
    )
}

fn fuzz_one(seed: u64, commands: usize) {
    let started = Instant::now();
    let mut run = Run::start(seed);
    let mut gen = Gen::new(seed);
    // Something to start from.
    for c in [
        "XADD s 1-1 f v",
        "XADD s 2-0 f v",
        "XADD s * f v",
        "XGROUP CREATE s g 0",
        "XREADGROUP GROUP g c COUNT 2 STREAMS s >",
        "XADD s2 * f v",
        "XGROUP CREATE s2 g $",
        "SET str 1",
    ] {
        let argv: Argv = c.split(' ').map(b).collect();
        if let Some(v) = run.exec(&argv) {
            gen.learn(&v);
        }
    }
    let mut batch = 0usize;
    while run.sent < commands {
        gen.sane = gen.pick(&[30, 60, 70, 85]);
        for _ in 0..BATCH {
            let argv = if run.in_multi && gen.chance(8) {
                vec![b(if gen.chance(80) { "EXEC" } else { "DISCARD" })]
            } else {
                gen.next()
            };
            let mut argv = defuse(argv, run.in_multi, &mut gen);
            if gen.chance(4) {
                argv = gen.scripted(argv);
            }
            if let Some(v) = run.exec(&argv) {
                gen.learn(&v);
            }
            if run.blocked.is_some() {
                run.poll_blocked(false);
            } else if gen.chance(2) {
                let argv = gen.blocking();
                let resp3 = run.blocker.as_ref().map_or(gen.chance(50), |(_, r)| *r);
                run.park(argv, resp3);
            }
        }
        batch += 1;
        if batch.is_multiple_of(RESTART_EVERY) {
            run.restart(batch.is_multiple_of(2 * RESTART_EVERY));
        }
        run.checkpoint(&mut gen, batch % 2 == 1);
    }
    if let Some(p) = &run.profile {
        let mut rows: Vec<_> = p.iter().collect();
        rows.sort_by_key(|(_, (_, t, _))| std::cmp::Reverse(*t));
        for (name, (n, t, e)) in rows.iter().take(40) {
            eprintln!(
                "  {name:<14} {n:>7} {t:>10.1?} {:>8.1?}/cmd {:>3}% errors",
                *t / (*n as u32).max(1),
                e * 100 / n.max(&1)
            );
        }
        let mut errs: Vec<_> = run.errors.iter().collect();
        errs.sort_by_key(|(_, n)| std::cmp::Reverse(**n));
        for (t, n) in errs.iter().take(80) {
            eprintln!("  {n:>7} {t}");
        }
    }
    eprintln!(
        "fuzz seed {seed:#x}: {} commands in {:.1?}, {} restarts (slowest {:.1?}), server alive",
        run.sent,
        started.elapsed(),
        run.restarts.len(),
        run.restarts.iter().max().copied().unwrap_or_default()
    );
}

#[test]
fn fuzz() {
    let seeds = env_u64s("SLUICE_FUZZ_SEED").unwrap_or_else(|| vec![DEFAULT_SEED]);
    let commands = env_u64s("SLUICE_FUZZ_COMMANDS")
        .and_then(|v| v.first().copied())
        .map_or(DEFAULT_COMMANDS, |n| n as usize);
    for seed in seeds {
        eprintln!("fuzz seed {seed:#x} ({seed}), {commands} commands");
        fuzz_one(seed, commands);
    }
}

// ---------------------------------------------------------------------------------------------
// Regressions: every crash the fuzzer found, replayed each time

/// Each case starts on an empty keyspace; a step is a command split on spaces (`""` is an
/// empty argument), optionally followed by ` => ` and the start of its expected reply as
/// [`V::render`] writes it. The server must survive every step and answer PING afterwards.
const REGRESSIONS: &[(&str, &[&str])] = &[
    // XCLAIM's `now - IDLE` overflowed; Redis wraps it, and a delivery time out of range is
    // the current time: the entry is claimed with idle 0.
    (
        "xclaim_idle_i64_min",
        &[
            "XADD s 1-1 f v",
            "XGROUP CREATE s g 0",
            "XREADGROUP GROUP g c STREAMS s >",
            "XCLAIM s g c 0 1-1 IDLE -9223372036854775808 JUSTID => [1-1]",
            "XCLAIM s g c 0 1-1 IDLE -9223372036854775807 => [[1-1, [f, v]]]",
            "XCLAIM s g c 0 1-1 IDLE 9223372036854775807 JUSTID => [1-1]",
        ],
    ),
    // Delivering past ENTRIESREAD 9223372036854775807 overflowed the group's entries-read;
    // Redis's counter wraps, and so does the lag computed from it.
    (
        "xreadgroup_entries_read_wraps",
        &[
            "XADD s 1-1 f v",
            "XGROUP CREATE s g 0 ENTRIESREAD 9223372036854775807",
            "XINFO GROUPS s => [[name, g, consumers, :0, pending, :0, last-delivered-id, 0-0, entries-read, :9223372036854775807, lag, :-9223372036854775806]]",
            "XREADGROUP GROUP g c STREAMS s > => [[s, [[1-1, [f, v]]]]]",
            "XINFO GROUPS s => [[name, g, consumers, :1, pending, :1, last-delivered-id, 1-1, entries-read, :-9223372036854775808, lag, :-9223372036854775807]]",
            "XADD s 2-1 f v",
            "XREADGROUP GROUP g c STREAMS s > => [[s, [[2-1, [f, v]]]]]",
            "XINFO GROUPS s => [[name, g, consumers, :1, pending, :2, last-delivered-id, 2-1, entries-read, :-9223372036854775807, lag, :-9223372036854775807]]",
        ],
    ),
];

fn split_args(line: &str) -> Argv {
    line.split(' ')
        .map(|a| if a == "\"\"" { Vec::new() } else { b(a) })
        .collect()
}

#[test]
fn regressions() {
    // The expected replies are redis-server 7.0.15's: Sluice copies 7.0.15 where a reply detail
    // changed since (lag, ENTRIESREAD) when it reports that version.
    let server = Server::start(&["--appendfsync", "no", "--redis-version", "7.0.15"]);
    for (name, steps) in REGRESSIONS {
        let mut c = FuzzConn::new(server.port);
        for step in [&"FLUSHALL"].into_iter().chain(steps.iter()) {
            let (cmd, want) = match step.split_once(" => ") {
                Some((c, w)) => (c, Some(w)),
                None => (*step, None),
            };
            if c.send(&split_args(cmd)).is_err() {
                panic!("regression {name}: connection lost before `{cmd}`");
            }
            match c.read(false, REPLY_TIMEOUT) {
                Ok(v) => {
                    let got = v.render();
                    if let Some(want) = want {
                        assert!(
                            got.starts_with(want),
                            "regression {name}: `{cmd}`\n  answered {got}\n  expected {want}"
                        );
                    }
                }
                Err(Failure::Closed) => panic!("regression {name}: the server died on `{cmd}`"),
                Err(Failure::Timeout) => panic!("regression {name}: no reply to `{cmd}`"),
                Err(Failure::Malformed(e)) => panic!("regression {name}: `{cmd}`: {e}"),
            }
        }
        c.send(&[b("PING")]).ok();
        assert!(
            matches!(c.read(false, REPLY_TIMEOUT), Ok(v) if v.is_simple("PONG")),
            "regression {name}: no PONG at the end"
        );
    }
}

fn ask(c: &mut FuzzConn, line: &str) -> V {
    ask3(c, line, false)
}

fn ask3(c: &mut FuzzConn, line: &str, resp3: bool) -> V {
    if c.send(&split_args(line)).is_err() {
        panic!("`{line}`: connection lost");
    }
    match c.read(resp3, REPLY_TIMEOUT) {
        Ok(v) => v,
        Err(Failure::Closed) => panic!("`{line}`: the connection closed (server died?)"),
        Err(Failure::Timeout) => panic!("`{line}`: no reply"),
        Err(Failure::Malformed(e)) => panic!("`{line}`: {e}"),
    }
}

/// The fuzzer caps BLOCK at a few ms (Redis 7.0 blocks "forever" even for i64::MAX, where
/// `now + timeout` overflows); here the largest timeouts are parked for real and served by an
/// XADD from another connection.
#[test]
fn huge_block_timeouts_are_served() {
    let server = Server::start(&["--appendfsync", "no"]);
    let mut a = FuzzConn::new(server.port);
    let mut blocked = FuzzConn::new(server.port);
    ask(&mut a, "XADD s 1-1 f v");
    ask(&mut a, "XGROUP CREATE s g $");
    for block in [
        "9223372036854775807",
        "9223372036854775806",
        "9223372036854000000",
        "1000000000000000",
    ] {
        for cmd in [
            format!("XREAD BLOCK {block} STREAMS s $"),
            format!("XREADGROUP GROUP g c BLOCK {block} STREAMS s >"),
        ] {
            // Nothing new for the group either.
            ask(&mut a, "XGROUP SETID s g $");
            if blocked.send(&split_args(&cmd)).is_err() {
                panic!("`{cmd}`: connection lost");
            }
            // Parked once INFO says so (a busy loop on replies, no sleeping).
            let deadline = Instant::now() + REPLY_TIMEOUT;
            loop {
                let info = ask(&mut a, "INFO clients").render();
                if info.contains("blocked_clients:1") {
                    break;
                }
                assert!(Instant::now() < deadline, "`{cmd}` never blocked: {info}");
            }
            let id = match ask(&mut a, "XADD s * f v") {
                V::Bulk(id) => id,
                other => panic!("XADD answered {}", other.render()),
            };
            let reply = match blocked.read(false, REPLY_TIMEOUT) {
                Ok(v) => v.render(),
                Err(Failure::Closed) => panic!("`{cmd}`: the server died"),
                Err(Failure::Timeout) => panic!("`{cmd}` was not served by an XADD"),
                Err(Failure::Malformed(e)) => panic!("`{cmd}`: {e}"),
            };
            let want = format!("[[s, [[{}, [f, v]]]]]", show(&id));
            assert_eq!(reply, want, "`{cmd}`");
        }
    }
    assert!(ask(&mut a, "PING").is_simple("PONG"));
}

// ---------------------------------------------------------------------------------------------
// Differential mode: the same commands to redis-server 7.0.15, replies compared

/// How a command's replies are compared with Redis's.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
enum Cmp {
    /// Same bytes.
    Exact,
    /// Same RESP types and aggregate lengths (values depend on time, ids or layout); errors
    /// must still be the same text.
    Shape,
    /// Not compared: replies that differ by design (INFO, CONFIG, COMMAND, CLIENT, Redis 7.2
    /// fields, cursors, key order).
    Skip,
}

fn cmp_class(argv: &Argv) -> Cmp {
    let name = String::from_utf8_lossy(&argv[0]).to_ascii_lowercase();
    let sub = argv
        .get(1)
        .map(|s| String::from_utf8_lossy(s).to_ascii_lowercase())
        .unwrap_or_default();
    let full = argv.iter().any(|a| eqi(a, "FULL"));
    match name.as_str() {
        "info" | "config" | "command" | "client" | "time" | "randomkey" | "scan" | "keys"
        | "object" | "hello" | "reset" => Cmp::Skip,
        // The allocator's report, timings and the time of the last save.
        "memory" | "latency" | "slowlog" | "lastsave" => Cmp::Skip,
        // Redis counts expired keys its expire cycle has not reclaimed yet.
        "dbsize" => Cmp::Skip,
        "xinfo" if sub == "consumers" || (sub == "stream" && full) => Cmp::Skip,
        "xinfo" if sub == "stream" => Cmp::Shape,
        // Idle times, and claims that depend on them.
        "xpending" if argv.len() > 3 => Cmp::Shape,
        "xclaim" | "xautoclaim" => Cmp::Shape,
        // Sluice's payload is its own format, not Redis's RDB encoding (see the README).
        "function" if sub == "dump" => Cmp::Shape,
        "ttl" | "pttl" | "expiretime" | "pexpiretime" => Cmp::Shape,
        _ => Cmp::Exact,
    }
}

/// Same RESP types and lengths; errors compared by text.
fn same_shape(a: &V, b: &V) -> bool {
    match (a, b) {
        (V::Error(x), V::Error(y)) => x == y,
        (V::Agg(x), V::Agg(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| same_shape(p, q))
        }
        (V::Simple(_), V::Simple(_))
        | (V::Int(_), V::Int(_))
        | (V::Bulk(_), V::Bulk(_))
        | (V::Nil, V::Nil)
        | (V::Other, V::Other) => true,
        _ => false,
    }
}

/// Takes the timing (and Sluice's deliberate differences) out of a command, so that both
/// servers end in the same state: relative
/// TTLs of up to a day get a day longer (nothing expires during the run), and XCLAIM and
/// XAUTOCLAIM's min-idle-time and XPENDING's IDLE up to a day become 0 (claims and listings do
/// not depend on how many ms went by on each server).
fn untime(argv: &mut Argv) {
    const DAY_MS: i64 = 86_400_000;
    let bump = |a: &mut Vec<u8>, by: i64| {
        if let Some(n) = strict_i64(a) {
            if n > 0 && n <= DAY_MS {
                *a = b(&(n + by).to_string());
            }
        }
    };
    let name = String::from_utf8_lossy(&argv[0]).to_ascii_lowercase();
    match name.as_str() {
        "expire" if argv.len() > 2 => bump(&mut argv[2], 86_400),
        "pexpire" if argv.len() > 2 => bump(&mut argv[2], DAY_MS),
        "setex" if argv.len() > 2 => bump(&mut argv[2], 86_400),
        "psetex" if argv.len() > 2 => bump(&mut argv[2], DAY_MS),
        "set" | "getex" => {
            let from = if name == "set" { 3 } else { 2 };
            for i in from..argv.len().saturating_sub(1) {
                if eqi(&argv[i], "EX") {
                    bump(&mut argv[i + 1], 86_400);
                } else if eqi(&argv[i], "PX") {
                    bump(&mut argv[i + 1], DAY_MS);
                }
            }
        }
        // Known difference, in the engine (not fixed on this branch): Redis's EXEC with the
        // wrong arity also unwatches every key (execCommandAbort → discardTransaction).
        "exec" if argv.len() > 1 => argv.truncate(1),
        // CLIENT SETINFO is Redis 7.2.
        "client" if argv.len() > 1 && eqi(&argv[1], "SETINFO") => {
            *argv = vec![b("CLIENT"), b("GETNAME")];
        }
        // Parameters differ (Sluice has no `hash-max-*`, measures maxmemory against RSS, …).
        "config" if argv.len() > 1 && eqi(&argv[1], "SET") => argv[1] = b("GET"),
        // XREAD's `+` (last entry) is Redis 7.4, a deliberate difference.
        "xread" => {
            for a in argv.iter_mut().skip(2) {
                if a.as_slice() == b"+" {
                    *a = b("$");
                }
            }
        }
        // XPENDING's IDLE filter, like a claim's min-idle-time.
        "xpending" => {
            for i in 3..argv.len().saturating_sub(1) {
                if eqi(&argv[i], "IDLE")
                    && strict_i64(&argv[i + 1]).is_some_and(|n| n > 0 && n <= DAY_MS)
                {
                    argv[i + 1] = b("0");
                }
            }
        }
        "xclaim" | "xautoclaim" if argv.len() > 4 => {
            if strict_i64(&argv[4]).is_some_and(|n| n > 0 && n <= DAY_MS) {
                argv[4] = b("0");
            }
            // Redis refuses a COUNT only when malloc of 16 * COUNT bytes fails (which depends
            // on the machine); Sluice refuses above 2^32, by design.
            if name == "xautoclaim" {
                for i in 5..argv.len().saturating_sub(1) {
                    if eqi(&argv[i], "COUNT")
                        && strict_i64(&argv[i + 1]).is_some_and(|n| n > 1 << 32)
                    {
                        argv[i + 1] = b("100");
                    }
                }
            }
        }
        _ => {}
    }
}

/// `SLUICE_FUZZ_SEED`/`SLUICE_FUZZ_COMMANDS` as for `fuzz`; needs redis-server 7.0.15
/// (`REDIS_SERVER_BIN`, default /usr/bin/redis-server). Stops at the first difference.
#[test]
#[ignore = "differential exploration against redis-server; run by hand"]
fn differential() {
    let seeds = env_u64s("SLUICE_FUZZ_SEED").unwrap_or_else(|| vec![DEFAULT_SEED]);
    let commands = env_u64s("SLUICE_FUZZ_COMMANDS")
        .and_then(|v| v.first().copied())
        .map_or(20_000, |n| n as usize);
    let redis_bin =
        std::env::var("REDIS_SERVER_BIN").unwrap_or_else(|_| "/usr/bin/redis-server".into());
    for seed in seeds {
        let sluice = Server::start(&["--appendfsync", "no", "--redis-version", "7.0.15"]);
        let redis_dir = tempfile::tempdir().expect("tempdir");
        let port = common::free_port();
        let redis = std::process::Command::new(&redis_bin)
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
            ])
            .arg(redis_dir.path())
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("start redis-server");
        // Killed on every way out, panics included.
        struct Kill(std::process::Child);
        impl Drop for Kill {
            fn drop(&mut self) {
                let _ = self.0.kill();
                let _ = self.0.wait();
            }
        }
        let redis = Kill(redis);
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut r = loop {
            if let Some(c) = FuzzConn::new_checked(port) {
                break c;
            }
            assert!(Instant::now() < deadline, "redis-server did not start");
        };
        let mut s = FuzzConn::new(sluice.port);
        let mut gen = Gen::new(seed);
        gen.ascii = true;
        // Commands redis-server does not have (Redis 8.x's, Disque's, Sluice's own) are not
        // drawn from the table: Redis would only answer that they are unknown.
        assert!(r.send(&split_args("COMMAND LIST")).is_ok(), "COMMAND LIST");
        let Ok(V::Agg(names)) = r.read(false, REPLY_TIMEOUT) else {
            panic!("COMMAND LIST: no array from redis-server");
        };
        let known: BTreeSet<String> = names
            .iter()
            .filter_map(|n| match n {
                V::Bulk(n) => Some(String::from_utf8_lossy(n).to_ascii_lowercase()),
                _ => None,
            })
            .collect();
        assert!(
            known.contains("xadd"),
            "COMMAND LIST: {} names",
            known.len()
        );
        // Subcommands newer than 7.0 (CLIENT NO-TOUCH, …) are left out too.
        gen.table.retain(|c| {
            known.contains(&c.names[0].to_ascii_lowercase())
                && (c.names.len() == 1 || !newer_than_7_0(c.cmd.since))
        });
        // Nor the keywords of arguments added after 7.0 (XREADGROUP's MAXCOUNT, …).
        let mut words: BTreeSet<&'static str> = EXTRA_KEYWORDS.iter().copied().collect();
        for c in &gen.table {
            collect_tokens_7_0(c.cmd.args, &mut words);
        }
        gen.words = words.into_iter().collect();
        let (mut in_multi, mut queued) = (false, Cmp::Exact);
        // Odd seeds compare RESP3 replies.
        let resp3 = seed % 2 == 1;
        if resp3 {
            for c in [&mut s, &mut r] {
                let hello = split_args("HELLO 3");
                let ok =
                    c.send(&hello).is_ok() && matches!(c.read(true, REPLY_TIMEOUT), Ok(V::Agg(_)));
                assert!(ok, "HELLO 3 failed");
            }
        }
        let mut history: VecDeque<String> = VecDeque::new();
        let mut xadd_ms = 1_000_000u64;
        let trace = std::env::var_os("SLUICE_FUZZ_DIFF_TRACE").is_some();
        let state_check = std::env::var_os("SLUICE_FUZZ_DIFF_STATE").is_some();
        // SLUICE_FUZZ_DIFF_LOG=path: every command sent, numbered.
        let mut log = std::env::var_os("SLUICE_FUZZ_DIFF_LOG")
            .map(|p| std::fs::File::create(p).expect("create SLUICE_FUZZ_DIFF_LOG"));
        let mut n = 0usize;
        let mut result = Ok(());
        'run: while n < commands {
            gen.sane = gen.pick(&[30, 60, 70, 85]);
            for i in 0..BATCH + 1 {
                let mut argv = if i == BATCH {
                    vec![b(if in_multi { "EXEC" } else { "PING" })]
                } else if in_multi && gen.chance(8) {
                    vec![b(if gen.chance(80) { "EXEC" } else { "DISCARD" })]
                } else {
                    gen.next()
                };
                argv = defuse(argv, in_multi, &mut gen);
                // Deterministic IDs; no connection churn; no Redis-only commands; no saves
                // (whether the previous background save still runs is a matter of timing).
                if may_close(&argv)
                    || ["HELLO", "RESET", "SAVE", "BGSAVE", "BGREWRITEAOF"]
                        .iter()
                        .any(|c| eqi(&argv[0], c))
                {
                    argv = vec![b("PING")];
                }
                if sluice_server::commands::lookup(&argv[0]).is_none() {
                    argv[0] = b("NOSUCHCOMMAND");
                }
                untime(&mut argv);
                if eqi(&argv[0], "XADD") {
                    xadd_ms += 1;
                    for a in argv.iter_mut().skip(2) {
                        if a.as_slice() == b"*" {
                            *a = b(&format!("{xadd_ms}-*"));
                        }
                    }
                }
                // Now and then the command runs from a script (its comparison class stays the
                // command's own: a script returning TIME differs as TIME does).
                let inner = argv.clone();
                if !in_multi && gen.chance(5) {
                    argv = gen.scripted(argv);
                } else if !in_multi && gen.chance(2) {
                    // A script's own return value, converted to a reply.
                    let value = gen.lua_value(0);
                    let setresp = if gen.chance(50) {
                        "redis.setresp(3); "
                    } else {
                        ""
                    };
                    argv = vec![b("EVAL"), b(&format!("{setresp}return {value}")), b("0")];
                }
                n += 1;
                if let Some(f) = log.as_mut() {
                    let _ = writeln!(f, "#{n} {}", show_cmd(&argv));
                }
                history.push_back(show_cmd(&argv));
                if history.len() > 400 {
                    history.pop_front();
                }
                let class = if in_multi && eqi(&argv[0], "EXEC") {
                    queued
                } else if in_multi && !eqi(&argv[0], "DISCARD") {
                    // +QUEUED, or the error that will abort the transaction.
                    Cmp::Exact
                } else {
                    cmp_class(&inner)
                };
                let (got_s, got_r) = (
                    s.send(&argv)
                        .and_then(|_| s.read_one_raw(resp3, REPLY_TIMEOUT)),
                    r.send(&argv)
                        .and_then(|_| r.read_one_raw(resp3, REPLY_TIMEOUT)),
                );
                let ((vs, raw_s), (vr, raw_r)) = match (got_s, got_r) {
                    (Ok(a), Ok(b)) => (a, b),
                    (a, b) => {
                        let f = |x: Result<(V, Vec<u8>), Failure>| match x {
                            Ok((v, _)) => v.render(),
                            Err(Failure::Closed) => "<closed>".into(),
                            Err(Failure::Timeout) => "<timeout>".into(),
                            Err(Failure::Malformed(e)) => format!("<malformed: {e}>"),
                        };
                        result = Err(format!("sluice {} / redis {}", f(a), f(b)));
                        break 'run;
                    }
                };
                gen.learn(&vs);
                if let Some(f) = log.as_mut() {
                    let _ = writeln!(f, "   sluice {}\n   redis  {}", show(&raw_s), show(&raw_r));
                }
                let same = match class {
                    // Redis 7.0.15 bug: XADD <ms>-* after <ms>-18446744073709551615 returns
                    // without setting errno and reports a stale one ("Elements are too large");
                    // Sluice gives the ID error, as Redis means to.
                    Cmp::Exact
                        if eqi(&argv[0], "XADD")
                            && raw_r == b"-ERR Elements are too large to be stored\r\n"
                            && raw_s.starts_with(
                                b"-ERR The ID specified in XADD is equal or smaller",
                            ) =>
                    {
                        true
                    }
                    Cmp::Exact => raw_s == raw_r,
                    Cmp::Shape => same_shape(&vs, &vr),
                    // EXEC with such commands inside: still the same outcome (ran, aborted,
                    // or refused because of WATCH), element by element by kind.
                    Cmp::Skip if eqi(&argv[0], "EXEC") => match (&vs, &vr) {
                        (V::Agg(x), V::Agg(y)) => {
                            x.len() == y.len()
                                && x.iter().zip(y).all(|(p, q)| p.is_error() == q.is_error())
                        }
                        _ => raw_s == raw_r,
                    },
                    Cmp::Skip => true,
                };
                if same && class != Cmp::Exact && raw_s != raw_r && trace {
                    eprintln!(
                        "#{n} {} ({class:?}, differs in values):\n  sluice: {}\n  redis:  {}",
                        show_cmd(&argv),
                        show(&raw_s),
                        show(&raw_r)
                    );
                }
                if !same {
                    // The state of the usual keys on both sides, to see where they parted.
                    for k in ["s", "s2", "{s}", "\"\"", "str"] {
                        for q in ["TYPE", "XINFO GROUPS", "PTTL"] {
                            let line = format!("{q} {k}");
                            let (x, y) = (
                                ask3(&mut s, &line, resp3).render(),
                                ask3(&mut r, &line, resp3).render(),
                            );
                            eprintln!("  {line}:\n    sluice: {x}\n    redis:  {y}");
                        }
                    }
                    result = Err(format!(
                        "replies differ ({class:?}):\n  sluice: {}\n  redis:  {}",
                        show(&raw_s),
                        show(&raw_r)
                    ));
                    break 'run;
                }
                if state_check && !in_multi && !eqi(&argv[0], "MULTI") {
                    // The usual keys must agree after every command: type, TTL or not, groups.
                    for k in ["s", "s2", "{s}", "\"\"", "str", "k"] {
                        let probe = |c: &mut FuzzConn| {
                            let t = ask3(c, &format!("TYPE {k}"), resp3).render();
                            let ttl = match ask3(c, &format!("PTTL {k}"), resp3) {
                                V::Int(n) if n > 0 => ":ttl".to_string(),
                                v => v.render(),
                            };
                            let g = ask3(c, &format!("XINFO GROUPS {k}"), resp3).render();
                            format!("{t} {ttl} {g}")
                        };
                        let (x, y) = (probe(&mut s), probe(&mut r));
                        if x != y {
                            result = Err(format!(
                                "key {k} differs after this command:\n  sluice: {x}\n  redis:  {y}\n  (the command answered sluice {} / redis {})",
                                show(&raw_s),
                                show(&raw_r)
                            ));
                            break 'run;
                        }
                    }
                }
                if eqi(&argv[0], "MULTI") && vs.is_simple("OK") {
                    in_multi = true;
                    queued = Cmp::Exact;
                } else if (eqi(&argv[0], "EXEC") || eqi(&argv[0], "DISCARD"))
                    && !matches!(&vs, V::Error(e) if e.starts_with(b"ERR wrong number"))
                {
                    in_multi = false;
                } else if in_multi {
                    queued = queued.max(cmp_class(&argv));
                }
            }
        }
        drop(redis);
        if let Err(e) = result {
            panic!(
                "\ndifferential (seed {seed}, command #{n}): {e}\ncommand: {}\npreceding commands:\n  {}\n",
                history.back().cloned().unwrap_or_default(),
                history.iter().rev().skip(1).rev().cloned().collect::<Vec<_>>().join("\n  ")
            );
        }
        eprintln!("differential seed {seed}: {n} commands, no difference");
    }
}
