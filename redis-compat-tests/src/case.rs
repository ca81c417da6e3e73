//! Cases, steps and expectations: the table-driven part of the harness.
//!
//! A case is a named script of steps. Each step is written as one line of a
//! tiny DSL (see [`Step::parse`] and the crate README):
//!
//! ```text
//! SET {k} v                 command (split like redis-cli: "quotes", 'single', \xHH)
//! ~TTL {k}                  same RESP type tree only ("shape")
//! %KEYS {k}*                same elements in any order
//! @b SET {k} 1              run on connection `b` (default connection: `a`)
//! >PING\r\n                 raw bytes (escapes \r \n \t \0 \\ \" \xHH), then read one reply
//! !send CLIENT REPLY OFF    send a command, read nothing
//! !send >*2\r\n$4\r\nECHO   send raw bytes, read nothing
//! !read                     read one more reply without sending anything
//! !closed                   the server must close the connection now
//! !silence                  nothing may arrive within 300 ms (partial request)
//! !sleep 50                 pause 50 ms (both servers)
//! !scan SCAN {cursor} ...   iterate a cursor to the end, compare the sorted distinct elements
//! !until :1 QLEN {k}        repeat the command until the reply is exactly `:1\r\n` (each server)
//! !until-has \r\n:1\r\n CMD  repeat the command until the reply contains these bytes
//! ```
//!
//! In the Disque suites (`run_disque*`), job and node IDs in replies are normalised and `{idN}`
//! in a command is that server's N-th job ID: see [`crate::disque`].
//!
//! `{k}` expands to a key prefix unique to the case and protocol, so cases can
//! run in parallel on the shared servers.

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;

use crate::client::{outcome_of_write, Conn, Outcome, Reply};
use crate::resp::{self, shape_diff, Frame};

/// A predicate on one reply (applied to both servers' replies).
pub type Pred = Arc<dyn Fn(&Frame) -> Result<(), String> + Send + Sync>;
/// A predicate comparing the reference reply (first) with Sluice's (second).
pub type PairPred = Arc<dyn Fn(&Frame, &Frame) -> Result<(), String> + Send + Sync>;

/// How the two replies of a step are compared.
#[derive(Clone)]
pub enum Expect {
    /// Byte-identical replies (the default).
    Same,
    /// Same RESP type tree, aggregate lengths and map keys; values may differ.
    Shape,
    /// Same aggregate type and length, elements equal as a multiset.
    Unordered,
    /// Both replies satisfy a predicate (e.g. "integer between 0 and 100").
    Each { desc: String, pred: Pred },
    /// A custom comparison of the reference reply with Sluice's.
    Pair { desc: String, pred: PairPred },
    /// A deliberate difference: Sluice must answer exactly `bytes`, the
    /// reference reply is ignored. `reason` documents why (e.g. "command
    /// added after Redis 7.0.15").
    SluiceOnly { bytes: Vec<u8>, reason: String },
    /// A deliberate difference whose bytes are not fixed (times, ...):
    /// Sluice's reply must satisfy `pred`, the reference reply is ignored.
    /// `reason` documents why.
    SluiceCheck { reason: String, pred: Pred },
}

impl Expect {
    fn describe(&self) -> String {
        match self {
            Expect::Same => "same bytes".into(),
            Expect::Shape => "same shape (RESP types, aggregate lengths, map keys)".into(),
            Expect::Unordered => "same elements in any order".into(),
            Expect::Each { desc, .. } => format!("each reply: {desc}"),
            Expect::Pair { desc, .. } => format!("pair: {desc}"),
            Expect::SluiceOnly { bytes, reason } => format!(
                "deliberate difference, Sluice must reply {} ({reason})",
                resp::escape(bytes)
            ),
            Expect::SluiceCheck { reason, .. } => {
                format!("deliberate difference, Sluice's reply must pass the check ({reason})")
            }
        }
    }
}

/// What a step does.
#[derive(Clone, Debug)]
pub enum Action {
    /// Send a command (arguments may contain `{k}`), read one reply.
    Command(Vec<Vec<u8>>),
    /// Send raw bytes, read one reply.
    Raw(Vec<u8>),
    /// Send a command without reading anything (e.g. `CLIENT REPLY OFF`).
    Send(Vec<Vec<u8>>),
    /// Send raw bytes without reading anything (e.g. half a request).
    SendRaw(Vec<u8>),
    /// Read one reply without sending.
    Read,
    /// The server must close the connection.
    Closed,
    /// No bytes may arrive for a short while.
    Silence,
    /// Sleep (no I/O).
    Sleep(Duration),
    /// Iterate a cursor command (one argument is `{cursor}`) until the cursor
    /// is 0 again; the distinct collected elements, sorted, are compared.
    Scan(Vec<Vec<u8>>),
    /// Repeat a command (every 10 ms, up to the read timeout) until its
    /// (normalised) reply equals `want` (`contains == false`) or contains it:
    /// waiting for a server-side event (a timer, a blocked client) without
    /// guessing a sleep. Both servers must get there.
    Until {
        want: Vec<u8>,
        contains: bool,
        args: Vec<Vec<u8>>,
    },
}

/// One step of a case.
#[derive(Clone)]
pub struct Step {
    /// The DSL line, for messages.
    pub text: String,
    /// Connection name (each name is one connection per server).
    pub conn: String,
    pub action: Action,
    pub expect: Expect,
}

impl std::fmt::Debug for Step {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Step({:?})", self.text)
    }
}

impl From<&str> for Step {
    fn from(s: &str) -> Step {
        Step::parse(s)
    }
}

impl From<&Step> for Step {
    fn from(s: &Step) -> Step {
        s.clone()
    }
}

impl From<&&str> for Step {
    fn from(s: &&str) -> Step {
        Step::parse(s)
    }
}

impl Step {
    /// Parse one DSL line. Panics with a clear message on malformed input
    /// (a bug in the case table).
    pub fn parse(text: &str) -> Step {
        let mut rest = text.trim_start();
        let mut conn = "a".to_string();
        if let Some(r) = rest.strip_prefix('@') {
            let end = r.find(char::is_whitespace).unwrap_or(r.len());
            conn = r[..end].to_string();
            assert!(!conn.is_empty(), "step {text:?}: empty connection name");
            rest = r[end..].trim_start();
        }
        let mut expect = Expect::Same;
        if let Some(r) = rest.strip_prefix('~') {
            expect = Expect::Shape;
            rest = r.trim_start();
        } else if let Some(r) = rest.strip_prefix('%') {
            expect = Expect::Unordered;
            rest = r.trim_start();
        }
        let action = if let Some(raw) = rest.strip_prefix('>') {
            Action::Raw(unescape(raw))
        } else if let Some(d) = rest.strip_prefix('!') {
            let (word, arg) = d.split_once(char::is_whitespace).unwrap_or((d, ""));
            match word {
                "read" => Action::Read,
                "send" => match arg.trim_start().strip_prefix('>') {
                    Some(raw) => Action::SendRaw(unescape(raw)),
                    None => Action::Send(
                        split_args(arg).unwrap_or_else(|e| panic!("step {text:?}: {e}")),
                    ),
                },
                "closed" => Action::Closed,
                "silence" => Action::Silence,
                "sleep" => {
                    Action::Sleep(Duration::from_millis(arg.trim().parse().unwrap_or_else(
                        |_| panic!("step {text:?}: !sleep needs milliseconds"),
                    )))
                }
                "until" | "until-has" => {
                    let arg = arg.trim_start();
                    let (want, cmd) = arg
                        .split_once(char::is_whitespace)
                        .unwrap_or_else(|| panic!("step {text:?}: !{word} <bytes> <command>"));
                    let mut want = unescape(want);
                    if word == "until" {
                        want.extend_from_slice(b"\r\n");
                    }
                    let args = split_args(cmd).unwrap_or_else(|e| panic!("step {text:?}: {e}"));
                    assert!(!args.is_empty(), "step {text:?}: empty command");
                    Action::Until {
                        want,
                        contains: word == "until-has",
                        args,
                    }
                }
                "scan" => {
                    let args = split_args(arg).unwrap_or_else(|e| panic!("step {text:?}: {e}"));
                    assert!(
                        args.iter().any(|a| a == b"{cursor}"),
                        "step {text:?}: !scan needs a {{cursor}} argument"
                    );
                    Action::Scan(args)
                }
                _ => panic!("step {text:?}: unknown directive !{word}"),
            }
        } else {
            let args = split_args(rest).unwrap_or_else(|e| panic!("step {text:?}: {e}"));
            assert!(!args.is_empty(), "step {text:?}: empty command");
            Action::Command(args)
        };
        Step {
            text: text.to_string(),
            conn,
            action,
            expect,
        }
    }

    /// Replace the expectation.
    pub fn expect(mut self, expect: Expect) -> Step {
        self.expect = expect;
        self
    }
}

/// Parse a step and compare with a predicate that both replies must satisfy.
pub fn check(
    text: &str,
    desc: &str,
    pred: impl Fn(&Frame) -> Result<(), String> + Send + Sync + 'static,
) -> Step {
    Step::parse(text).expect(Expect::Each {
        desc: desc.to_string(),
        pred: Arc::new(pred),
    })
}

/// Parse a step and compare the two replies with a custom function
/// `(reference, sluice)`.
pub fn pair(
    text: &str,
    desc: &str,
    pred: impl Fn(&Frame, &Frame) -> Result<(), String> + Send + Sync + 'static,
) -> Step {
    Step::parse(text).expect(Expect::Pair {
        desc: desc.to_string(),
        pred: Arc::new(pred),
    })
}

/// A deliberate difference from Redis 7.0.15: Sluice must reply `bytes`.
pub fn sluice_only(text: &str, bytes: &[u8], reason: &str) -> Step {
    Step::parse(text).expect(Expect::SluiceOnly {
        bytes: bytes.to_vec(),
        reason: reason.to_string(),
    })
}

/// A deliberate difference from Redis 7.0.15 checked by a predicate (for
/// replies whose bytes are not fixed, e.g. times): Sluice's reply must
/// satisfy `pred`, the reference reply is ignored. Like [`sluice_only`], the
/// case is reported as ignored when `SLUICE_BIN` is a redis-server.
pub fn sluice_check(
    text: &str,
    reason: &str,
    pred: impl Fn(&Frame) -> Result<(), String> + Send + Sync + 'static,
) -> Step {
    Step::parse(text).expect(Expect::SluiceCheck {
        reason: reason.to_string(),
        pred: Arc::new(pred),
    })
}

/// Just parse a step (for mixing strings and builders in one table).
pub fn step(text: &str) -> Step {
    Step::parse(text)
}

/// Protocol version of a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Proto {
    Resp2,
    Resp3,
}

impl Proto {
    pub fn label(self) -> &'static str {
        match self {
            Proto::Resp2 => "resp2",
            Proto::Resp3 => "resp3",
        }
    }
}

/// A named script of steps, run on fresh connections to both servers, once
/// per protocol.
#[derive(Clone, Debug)]
pub struct Case {
    pub name: String,
    pub steps: Vec<Step>,
    pub protos: Vec<Proto>,
    /// Run while no other case of the same test binary runs (see
    /// [`Case::exclusive`]).
    pub exclusive: bool,
    /// Disque suites: connect to Sluice's Disque port (see [`Case::disque_port`]).
    pub disque_port: bool,
}

/// `case("set_get", &["SET {k} v", "GET {k}"])`: the one-line way to write a
/// case. Steps may be `&str` DSL lines or [`Step`]s built with [`check`],
/// [`pair`], [`sluice_only`], [`step`].
pub fn case<S>(name: &str, steps: &[S]) -> Case
where
    for<'a> &'a S: Into<Step>,
{
    assert!(
        name.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-'),
        "case name {name:?}: use [A-Za-z0-9_-]"
    );
    Case {
        name: name.to_string(),
        steps: steps.iter().map(Into::into).collect(),
        protos: vec![Proto::Resp2, Proto::Resp3],
        exclusive: false,
        disque_port: false,
    }
}

impl Case {
    /// Run only over RESP2.
    pub fn resp2_only(mut self) -> Case {
        self.protos = vec![Proto::Resp2];
        self
    }

    /// Run only over RESP3.
    pub fn resp3_only(mut self) -> Case {
        self.protos = vec![Proto::Resp3];
        self
    }

    /// Run this case alone: no other case of the same test binary runs at
    /// the same time (but there is no FLUSHALL, unlike `run_isolated`). For a
    /// case in a parallel file that changes server-wide state for a while
    /// (e.g. `CONFIG SET stream-node-max-entries`, restored at its end).
    pub fn exclusive(mut self) -> Case {
        self.exclusive = true;
        self
    }

    /// Disque suites: every connection of this case goes to Sluice's Disque
    /// listener (`--disque-port`, where bare `HELLO` is Disque's) instead of
    /// its normal port. When Sluice has no such listener, the case fails
    /// saying so (it is not skipped).
    pub fn disque_port(mut self) -> Case {
        self.disque_port = true;
        self
    }

    pub fn has_sluice_only(&self) -> bool {
        self.steps.iter().any(|s| {
            matches!(
                s.expect,
                Expect::SluiceOnly { .. } | Expect::SluiceCheck { .. }
            )
        })
    }
}

/// Settings of one run of a case.
pub struct RunCtx {
    pub addrs: [std::net::SocketAddr; 2],
    pub timeout: Duration,
    pub trace: bool,
    /// The two servers' names in messages: `["redis", "sluice"]` (see [`NAMES`]),
    /// or `["disque", "sluice"]`.
    pub names: [&'static str; 2],
    /// The reference and Sluice's Disque listener, for [`Case::disque_port`]
    /// cases (`Err` says why Sluice has none; `None` outside Disque suites).
    pub disque_addrs: Option<Result<[std::net::SocketAddr; 2], String>>,
    /// Normalise job and node IDs and expand `{idN}` (Disque suites).
    pub job_ids: bool,
}

impl RunCtx {
    /// The context of a Redis suite.
    pub fn redis(addrs: [std::net::SocketAddr; 2], timeout: Duration, trace: bool) -> RunCtx {
        RunCtx {
            addrs,
            timeout,
            trace,
            names: NAMES,
            disque_addrs: None,
            job_ids: false,
        }
    }
}

pub const NAMES: [&str; 2] = ["redis", "sluice"];

enum Res {
    Out(Outcome),
    Assert(Result<(), String>),
}

impl Res {
    fn describe(&self) -> String {
        match self {
            Res::Out(o) => o.describe(),
            Res::Assert(Ok(())) => "<ok>".into(),
            Res::Assert(Err(e)) => format!("<{e}>"),
        }
    }
}

/// Run one case over one protocol. `Err` carries the failure report.
pub fn run_case(case: &Case, proto: Proto, ctx: &RunCtx) -> Result<(), String> {
    let key = format!(
        "{}:{}",
        case.name,
        if proto == Proto::Resp2 { 2 } else { 3 }
    );
    let mut conns: Vec<(String, [Conn; 2])> = Vec::new();
    let mut ids: [crate::disque::Ids; 2] = Default::default();
    let [n0, n1] = ctx.names;
    let mut transcript = String::new();
    let header = format!("case `{}` [{}]", case.name, proto.label());
    let result = (|| {
        for (i, st) in case.steps.iter().enumerate() {
            if let Action::Sleep(d) = st.action {
                std::thread::sleep(d);
                continue;
            }
            let idx = match conns.iter().position(|(n, _)| *n == st.conn) {
                Some(i) => i,
                None => {
                    let pair = open_pair(ctx, case, proto, &st.conn, &mut transcript)?;
                    conns.push((st.conn.clone(), pair));
                    conns.len() - 1
                }
            };
            let pair = &mut conns[idx].1;
            let [ids0, ids1] = &mut ids;
            let mut res = [
                exec(&mut pair[0], st, &key, ctx, ids0),
                exec(&mut pair[1], st, &key, ctx, ids1),
            ];
            if ctx.job_ids {
                for (r, side) in res.iter_mut().zip(ids.iter_mut()) {
                    if let Res::Out(Outcome::Reply(reply)) = r {
                        reply.raw = side.normalise(&reply.raw);
                        reply.frame = crate::disque::reparse(&reply.raw);
                    }
                }
            }
            let verdict = verify(st, &res, ctx.names);
            let (r0, r1) = (res[0].describe(), res[1].describe());
            let (r0, r1) = if ctx.trace {
                (r0, r1)
            } else {
                (clip(r0), clip(r1))
            };
            let _ = write!(
                transcript,
                "  {:>2}. {}\n        {n0}:{:w$}{r0}\n",
                i + 1,
                short(&st.text),
                "",
                w = 8 - n0.len()
            );
            if r0 != r1 {
                let _ = writeln!(transcript, "        {n1}:{:w$}{r1}", "", w = 8 - n1.len());
            }
            if let Err(why) = verdict {
                return Err(format!(
                    "step {} `{}` on connection @{} ({} expected)\n  {why}\n  {n0}:{:w0$}{r0}\n  {n1}:{:w1$}{r1}",
                    i + 1,
                    short(&st.text),
                    st.conn,
                    st.expect.describe(),
                    "",
                    "",
                    w0 = 8 - n0.len(),
                    w1 = 8 - n1.len(),
                ));
            }
        }
        Ok(())
    })();
    if ctx.trace {
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "--- {header} (key {key})\n{transcript}");
    }
    result.map_err(|e| format!("{header}: {e}\ntranscript (key {key}):\n{transcript}"))
}

/// Long replies (INFO, COMMAND INFO) are cut in failure messages (not in
/// COMPAT_TRACE output); the "bytes differ at offset" line pinpoints diffs.
fn clip(s: String) -> String {
    const MAX: usize = 2000;
    if s.len() <= MAX {
        return s;
    }
    let mut end = MAX;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} chars)", &s[..end], s.len())
}

/// Long step lines (e.g. 70 KB of raw bytes) are cut in messages.
fn short(text: &str) -> String {
    const MAX: usize = 160;
    if text.len() <= MAX {
        return text.to_string();
    }
    let mut end = MAX;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} bytes)", &text[..end], text.len())
}

fn open_pair(
    ctx: &RunCtx,
    case: &Case,
    proto: Proto,
    name: &str,
    transcript: &mut String,
) -> Result<[Conn; 2], String> {
    let addrs = if case.disque_port {
        match &ctx.disque_addrs {
            Some(Ok(a)) => *a,
            Some(Err(why)) => {
                return Err(format!(
                    "this case needs Sluice's Disque port (`.disque_port()`): {why}"
                ))
            }
            None => return Err("`.disque_port()` cases run only in a Disque suite".into()),
        }
    } else {
        ctx.addrs
    };
    let open = |i: usize| {
        Conn::connect(addrs[i], ctx.timeout)
            .map_err(|e| format!("cannot connect to {} at {}: {e}", ctx.names[i], addrs[i]))
    };
    let mut pair = [open(0)?, open(1)?];
    if proto == Proto::Resp3 {
        let h = [pair[0].call(&["HELLO", "3"]), pair[1].call(&["HELLO", "3"])];
        let _ = writeln!(
            transcript,
            "   -. @{name} HELLO 3 (setup, shape compared)\n        redis:  {}",
            h[0].describe()
        );
        if h[0] != h[1] {
            let _ = writeln!(transcript, "        sluice: {}", h[1].describe());
        }
        match (h[0].frame(), h[1].frame()) {
            (Some(a), Some(b)) => {
                if let Some(d) = shape_diff(a, b, "reply") {
                    return Err(format!("setup `HELLO 3` on @{name}: shapes differ: {d}"));
                }
                if !matches!(a, Frame::Map(_)) {
                    return Err(format!("setup `HELLO 3` on @{name}: not a map"));
                }
            }
            _ => {
                return Err(format!(
                    "setup `HELLO 3` on @{name}: redis {}, sluice {}",
                    h[0].describe(),
                    h[1].describe()
                ))
            }
        }
    }
    Ok(pair)
}

fn expand(arg: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(arg.len());
    let mut i = 0;
    while i < arg.len() {
        if arg[i..].starts_with(from) {
            out.extend_from_slice(to);
            i += from.len();
        } else {
            out.push(arg[i]);
            i += 1;
        }
    }
    out
}

fn exec(conn: &mut Conn, st: &Step, key: &str, ctx: &RunCtx, ids: &mut crate::disque::Ids) -> Res {
    let k = key.as_bytes();
    let expand = |a: &[u8], from: &[u8], to: &[u8]| {
        let a = expand(a, from, to);
        if ctx.job_ids {
            ids.expand(&a)
        } else {
            a
        }
    };
    match &st.action {
        Action::Command(args) => {
            let args: Vec<Vec<u8>> = args.iter().map(|a| expand(a, b"{k}", k)).collect();
            Res::Out(conn.call(&args))
        }
        Action::Until {
            want,
            contains,
            args,
        } => {
            let args: Vec<Vec<u8>> = args.iter().map(|a| expand(a, b"{k}", k)).collect();
            let deadline = std::time::Instant::now() + ctx.timeout;
            loop {
                let out = conn.call(&args);
                let raw = match out.reply() {
                    Some(r) if ctx.job_ids => ids.normalise(&r.raw),
                    Some(r) => r.raw.clone(),
                    None => return Res::Assert(Err(format!("gave {}", out.describe()))),
                };
                let ok = if *contains {
                    raw.windows(want.len()).any(|w| w == want.as_slice())
                } else {
                    raw == *want
                };
                if ok {
                    return Res::Assert(Ok(()));
                }
                if std::time::Instant::now() >= deadline {
                    return Res::Assert(Err(format!(
                        "still answers {} after {:?}",
                        resp::escape(&raw),
                        ctx.timeout
                    )));
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        Action::Raw(bytes) => {
            let bytes = expand(bytes, b"{k}", k);
            if let Some(o) = outcome_of_write(conn.send_raw(&bytes)) {
                return Res::Out(o);
            }
            Res::Out(conn.read_reply())
        }
        Action::Send(args) => {
            let args: Vec<Vec<u8>> = args.iter().map(|a| expand(a, b"{k}", k)).collect();
            Res::Assert(conn.send_command(&args).map_err(|e| format!("write: {e}")))
        }
        Action::SendRaw(bytes) => {
            let bytes = expand(bytes, b"{k}", k);
            Res::Assert(conn.send_raw(&bytes).map_err(|e| format!("write: {e}")))
        }
        Action::Read => Res::Out(conn.read_reply()),
        Action::Closed => Res::Assert(conn.expect_closed(ctx.timeout.min(Duration::from_secs(3)))),
        Action::Silence => Res::Assert(conn.expect_silence(Duration::from_millis(300))),
        Action::Sleep(_) => Res::Assert(Ok(())),
        Action::Scan(args) => {
            let args: Vec<Vec<u8>> = args
                .iter()
                .map(|a| {
                    if a == b"{cursor}" {
                        a.clone()
                    } else {
                        expand(a, b"{k}", k)
                    }
                })
                .collect();
            Res::Out(scan(conn, &args, k))
        }
    }
}

/// Iterate a cursor command to the end; return the sorted elements as a
/// synthetic array reply, or the first reply that is not `[cursor, [..]]`.
fn scan(conn: &mut Conn, args: &[Vec<u8>], key: &[u8]) -> Outcome {
    let mut cursor = b"0".to_vec();
    let mut items: Vec<Frame> = Vec::new();
    for _ in 0..100_000 {
        let sent: Vec<Vec<u8>> = args
            .iter()
            .map(|a| {
                if a == b"{cursor}" {
                    cursor.clone()
                } else {
                    expand(a, b"{k}", key)
                }
            })
            .collect();
        let out = conn.call(&sent);
        let next = match out.frame() {
            Some(Frame::Array(v)) if v.len() == 2 => match (&v[0], &v[1]) {
                (Frame::Bulk(c), Frame::Array(elems)) => {
                    items.extend(elems.iter().cloned());
                    c.clone()
                }
                _ => return out,
            },
            _ => return out,
        };
        if next == b"0" {
            // SCAN may return an element more than once (e.g. while the
            // table is resized by other clients): compare distinct elements.
            items.sort_by_key(|f| f.encode());
            items.dedup();
            let frame = Frame::Array(items);
            return Outcome::Reply(Reply {
                raw: frame.encode(),
                frame,
            });
        }
        cursor = next;
    }
    Outcome::Io("cursor iteration did not end after 100000 calls".into())
}

fn verify(st: &Step, res: &[Res; 2], names: [&str; 2]) -> Result<(), String> {
    let reference = names[0];
    let (a, b) = match (&res[0], &res[1]) {
        (Res::Assert(ra), Res::Assert(rb)) => {
            if let Err(e) = ra {
                return Err(format!(
                    "case bug: the reference {reference} failed this check: {e}"
                ));
            }
            return rb.clone().map_err(|e| format!("sluice: {e}"));
        }
        (Res::Out(a), Res::Out(b)) => (a, b),
        _ => unreachable!("both servers run the same action"),
    };
    if let Expect::SluiceOnly { bytes, .. } = &st.expect {
        return match b.reply() {
            Some(r) if r.raw == *bytes => Ok(()),
            _ => Err("sluice did not give the documented reply".into()),
        };
    }
    if let Expect::SluiceCheck { pred, .. } = &st.expect {
        return match b.reply() {
            Some(r) => pred(&r.frame).map_err(|e| format!("sluice fails the check: {e}")),
            None => Err(format!("sluice gave {}", b.describe())),
        };
    }
    // The reference must behave sanely, otherwise the case itself is wrong.
    match a {
        Outcome::Reply(_) | Outcome::Closed { .. } => {}
        other => {
            return Err(format!(
                "case bug: the reference {reference} gave {}",
                other.describe()
            ))
        }
    }
    let (ra, rb) = match (a, b) {
        (Outcome::Reply(ra), Outcome::Reply(rb)) => (ra, rb),
        _ if a == b => return Ok(()),
        _ => return Err("different outcomes".into()),
    };
    match &st.expect {
        Expect::Same => {
            if ra.raw == rb.raw {
                Ok(())
            } else {
                Err(first_difference(&ra.raw, &rb.raw, reference))
            }
        }
        Expect::Shape => match shape_diff(&ra.frame, &rb.frame, "reply") {
            None => Ok(()),
            Some(d) => Err(format!("shapes differ: {d}")),
        },
        Expect::Unordered => unordered_diff(&ra.frame, &rb.frame),
        Expect::Each { pred, .. } => {
            pred(&ra.frame)
                .map_err(|e| format!("case bug: {reference} fails the predicate: {e}"))?;
            pred(&rb.frame).map_err(|e| format!("sluice fails the predicate: {e}"))
        }
        Expect::Pair { pred, .. } => pred(&ra.frame, &rb.frame),
        Expect::SluiceOnly { .. } | Expect::SluiceCheck { .. } => unreachable!(),
    }
}

fn first_difference(a: &[u8], b: &[u8], reference: &str) -> String {
    let at = a.iter().zip(b).take_while(|(x, y)| x == y).count();
    let lo = at.saturating_sub(16);
    format!(
        "bytes differ at offset {at}: {reference} …{} vs sluice …{}",
        resp::escape(&a[lo..(at + 24).min(a.len())]),
        resp::escape(&b[lo.min(b.len())..(at + 24).min(b.len())])
    )
}

fn unordered_diff(a: &Frame, b: &Frame) -> Result<(), String> {
    fn sorted(f: &Frame) -> Option<Vec<Vec<u8>>> {
        let mut v: Vec<Vec<u8>> = match f {
            Frame::Array(v) | Frame::Set(v) | Frame::Push(v) => {
                v.iter().map(Frame::encode).collect()
            }
            Frame::Map(m) => m
                .iter()
                .map(|(k, v)| [k.encode(), v.encode()].concat())
                .collect(),
            _ => return None,
        };
        v.sort();
        Some(v)
    }
    if a.kind() != b.kind() {
        return Err(format!("types differ: {} vs {}", a.kind(), b.kind()));
    }
    match (sorted(a), sorted(b)) {
        (Some(x), Some(y)) if x == y => Ok(()),
        (Some(x), Some(y)) => {
            let only_a: Vec<String> = x
                .iter()
                .filter(|e| !y.contains(e))
                .map(|e| resp::escape(e))
                .collect();
            let only_b: Vec<String> = y
                .iter()
                .filter(|e| !x.contains(e))
                .map(|e| resp::escape(e))
                .collect();
            Err(format!(
                "elements differ ({} vs {}): only in redis {only_a:?}, only in sluice {only_b:?}",
                x.len(),
                y.len()
            ))
        }
        _ if a == b => Ok(()),
        _ => Err("replies differ".into()),
    }
}

/// Split a command line into arguments like redis-cli / Redis's inline
/// protocol (`sdssplitargs`): whitespace separates; "double quotes" support
/// `\n \r \t \b \a \\ \" \xHH`; 'single quotes' support `\'`; a closing quote
/// must be followed by whitespace or the end.
pub fn split_args(line: &str) -> Result<Vec<Vec<u8>>, String> {
    let s = line.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    loop {
        while i < s.len() && s[i].is_ascii_whitespace() {
            i += 1;
        }
        if i >= s.len() {
            return Ok(out);
        }
        let mut cur = Vec::new();
        let (mut inq, mut insq) = (false, false);
        loop {
            if inq {
                if i >= s.len() {
                    return Err("unbalanced double quotes".into());
                }
                if s[i] == b'\\'
                    && i + 3 < s.len()
                    && s[i + 1] == b'x'
                    && s[i + 2].is_ascii_hexdigit()
                    && s[i + 3].is_ascii_hexdigit()
                {
                    let hex = std::str::from_utf8(&s[i + 2..i + 4]).unwrap();
                    cur.push(u8::from_str_radix(hex, 16).unwrap());
                    i += 3;
                } else if s[i] == b'\\' && i + 1 < s.len() {
                    i += 1;
                    cur.push(match s[i] {
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'b' => 8,
                        b'a' => 7,
                        c => c,
                    });
                } else if s[i] == b'"' {
                    if i + 1 < s.len() && !s[i + 1].is_ascii_whitespace() {
                        return Err("closing quote must be followed by a space".into());
                    }
                    i += 1;
                    break;
                } else {
                    cur.push(s[i]);
                }
            } else if insq {
                if i >= s.len() {
                    return Err("unbalanced single quotes".into());
                }
                if s[i] == b'\\' && i + 1 < s.len() && s[i + 1] == b'\'' {
                    i += 1;
                    cur.push(b'\'');
                } else if s[i] == b'\'' {
                    if i + 1 < s.len() && !s[i + 1].is_ascii_whitespace() {
                        return Err("closing quote must be followed by a space".into());
                    }
                    i += 1;
                    break;
                } else {
                    cur.push(s[i]);
                }
            } else {
                if i >= s.len() || s[i].is_ascii_whitespace() {
                    break;
                }
                match s[i] {
                    b'"' => inq = true,
                    b'\'' => insq = true,
                    c => cur.push(c),
                }
            }
            i += 1;
        }
        out.push(cur);
    }
}

/// Decode the escapes of a raw step: `\r \n \t \0 \\ \" \xHH`.
pub fn unescape(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 1 < b.len() {
            match b[i + 1] {
                b'r' => out.push(b'\r'),
                b'n' => out.push(b'\n'),
                b't' => out.push(b'\t'),
                b'0' => out.push(0),
                b'\\' => out.push(b'\\'),
                b'"' => out.push(b'"'),
                b'x' if i + 4 <= b.len() => {
                    let hex = std::str::from_utf8(&b[i + 2..i + 4]).unwrap_or("zz");
                    match u8::from_str_radix(hex, 16) {
                        Ok(v) => {
                            out.push(v);
                            i += 4;
                            continue;
                        }
                        Err(_) => panic!("raw step {s:?}: bad \\x escape"),
                    }
                }
                c => panic!("raw step {s:?}: unknown escape \\{}", c as char),
            }
            i += 2;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(items: &[&str]) -> Vec<Vec<u8>> {
        items.iter().map(|s| s.as_bytes().to_vec()).collect()
    }

    #[test]
    fn splits_like_redis() {
        assert_eq!(split_args("SET {k} v").unwrap(), v(&["SET", "{k}", "v"]));
        assert_eq!(
            split_args(r#"SET "a b" 'c d' "\x41\n""#).unwrap(),
            v(&["SET", "a b", "c d", "A\n"])
        );
        assert_eq!(split_args(r#"ECHO a"b""#).unwrap(), v(&["ECHO", "ab"]));
        assert_eq!(split_args(r#"ECHO """#).unwrap(), v(&["ECHO", ""]));
        assert!(split_args(r#"ECHO "a"#).is_err());
        assert!(split_args(r#"ECHO "a"b"#).is_err());
    }

    fn out(bytes: &[u8]) -> Res {
        let (frame, _) = crate::resp::parse(bytes).unwrap().unwrap();
        Res::Out(Outcome::Reply(Reply {
            raw: bytes.to_vec(),
            frame,
        }))
    }

    #[test]
    fn verifies_expectations() {
        let same = Step::parse("GET {k}");
        assert!(verify(&same, &[out(b"$1\r\nv\r\n"), out(b"$1\r\nv\r\n")], NAMES).is_ok());
        assert!(verify(&same, &[out(b"$1\r\nv\r\n"), out(b"$-1\r\n")], NAMES).is_err());
        let shape = Step::parse("~TTL {k}");
        assert!(verify(&shape, &[out(b":5\r\n"), out(b":7\r\n")], NAMES).is_ok());
        assert!(verify(&shape, &[out(b":5\r\n"), out(b"$1\r\n5\r\n")], NAMES).is_err());
        let unordered = Step::parse("%KEYS *");
        let ab = b"*2\r\n$1\r\na\r\n$1\r\nb\r\n";
        let ba = b"*2\r\n$1\r\nb\r\n$1\r\na\r\n";
        assert!(verify(&unordered, &[out(ab), out(ba)], NAMES).is_ok());
        assert!(verify(&unordered, &[out(ab), out(b"*1\r\n$1\r\na\r\n")], NAMES).is_err());
        let deliberate = sluice_only("FOO", b"+OK\r\n", "newer than 7.0.15");
        assert!(verify(&deliberate, &[out(b"-ERR x\r\n"), out(b"+OK\r\n")], NAMES).is_ok());
        assert!(verify(&deliberate, &[out(b"+OK\r\n"), out(b"-ERR x\r\n")], NAMES).is_err());
        let checked = sluice_check("FOO", "newer than 7.0.15", crate::pred::int_between(1, 5));
        assert!(verify(&checked, &[out(b"-ERR x\r\n"), out(b":3\r\n")], NAMES).is_ok());
        assert!(verify(&checked, &[out(b":3\r\n"), out(b":9\r\n")], NAMES).is_err());
        let closed = Step::parse("!closed");
        assert!(verify(&closed, &[Res::Assert(Ok(())), Res::Assert(Ok(()))], NAMES).is_ok());
        assert!(verify(
            &closed,
            &[Res::Assert(Ok(())), Res::Assert(Err("open".into()))],
            NAMES
        )
        .is_err());
    }

    #[test]
    fn parses_steps() {
        let s = Step::parse("@b ~TTL {k}");
        assert_eq!(s.conn, "b");
        assert!(matches!(s.expect, Expect::Shape));
        let s = Step::parse(r">PING\r\n\x00");
        assert!(matches!(s.action, Action::Raw(ref b) if b == b"PING\r\n\0"));
        assert!(matches!(Step::parse("!closed").action, Action::Closed));
        assert!(matches!(
            Step::parse("!scan SCAN {cursor} MATCH {k}*").action,
            Action::Scan(_)
        ));
    }
}
