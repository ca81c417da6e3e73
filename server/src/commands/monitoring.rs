//! SLOWLOG and MONITOR: what an operator reaches for to see which commands run and which are
//! slow. Both are fed by `engine::dispatch::call` for each executed command (never for a
//! command refused before it ran, nor again when a blocked command is re-run) once it ran (a
//! script before the commands it runs) — with Redis 7.0's rules:
//! - SLOWLOG keeps the last `slowlog-max-len` commands that took at least
//!   `slowlog-log-slower-than` µs (negative: none; 0: all), except those flagged `skip_slowlog`
//!   (EXEC: the commands inside it are logged one by one);
//! - MONITOR streams every command except the `admin` and `skip_monitor` ones to the clients
//!   in monitor mode, one `+<unix time> [<db> <addr>] "cmd" "arg" …` line each.
//!
//! Both show arguments as Redis does: AUTH's and HELLO's passwords as `(redacted)`; the slow log
//! keeps at most 32 arguments and 128 bytes of each, saying how much it left out.
//!
//! Invariant: `SlowLog::entries.len() <= slowlog-max-len` after every command (trimming happens
//! when an entry is added and when the limit is lowered, at the next addition).

use std::collections::VecDeque;

use bytes::Bytes;

use super::common::*;
use crate::engine::Ctx;
use crate::reply::{CmdResult, ReplyError};

/// Most arguments one slow-log entry keeps (the last slot says how many were left out).
const SLOWLOG_MAX_ARGC: usize = 32;
/// Most bytes of one argument a slow-log entry keeps.
const SLOWLOG_MAX_STRING: usize = 128;

/// One slow command.
#[derive(Debug, Clone)]
pub struct SlowEntry {
    pub id: u64,
    /// Unix time in seconds when it ran.
    pub time: u64,
    pub micros: u64,
    pub args: Vec<Bytes>,
    pub addr: String,
    pub name: Bytes,
}

/// The slow log and the monitor list (part of `engine::Server`).
#[derive(Default)]
pub struct Observers {
    pub slowlog: VecDeque<SlowEntry>,
    pub next_slow_id: u64,
    /// Clients in MONITOR mode, in the order they asked.
    pub monitors: Vec<u64>,
    /// Monitor clients given output during this drain (released with the drain's replies).
    pub fed: Vec<u64>,
    /// LATENCY's events and per-command histograms.
    pub latency: super::latency::Latency,
}

/// Which arguments are secrets, as Redis redacts them in SLOWLOG and MONITOR.
fn redacted(argv: &[Bytes], i: usize) -> bool {
    let name = &argv[0];
    if name.eq_ignore_ascii_case(b"auth") {
        return i >= 1;
    }
    if name.eq_ignore_ascii_case(b"hello") {
        // HELLO [protover [AUTH username password] [SETNAME name]]
        return argv
            .iter()
            .position(|a| a.eq_ignore_ascii_case(b"auth"))
            .is_some_and(|p| i == p + 1 || i == p + 2);
    }
    false
}

/// Adds a command that ran for `micros` to the slow log (the caller checked the threshold).
pub fn record_slow(ctx: &mut Ctx<'_>, argv: &[Bytes], micros: u64) {
    let max_len = ctx.srv.config.slowlog_max_len as usize;
    let mut args = Vec::with_capacity(argv.len().min(SLOWLOG_MAX_ARGC));
    let kept = if argv.len() > SLOWLOG_MAX_ARGC {
        SLOWLOG_MAX_ARGC - 1
    } else {
        argv.len()
    };
    for (i, a) in argv.iter().take(kept).enumerate() {
        if redacted(argv, i) {
            args.push(Bytes::from_static(b"(redacted)"));
        } else if a.len() > SLOWLOG_MAX_STRING {
            let mut s = a[..SLOWLOG_MAX_STRING].to_vec();
            s.extend_from_slice(
                format!("... ({} more bytes)", a.len() - SLOWLOG_MAX_STRING).as_bytes(),
            );
            args.push(Bytes::from(s));
        } else {
            // A copy: the argument is a slice of the client's read buffer.
            args.push(Bytes::copy_from_slice(a));
        }
    }
    if kept < argv.len() {
        args.push(Bytes::from(format!(
            "... ({} more arguments)",
            argv.len() - kept
        )));
    }
    let obs = &mut ctx.srv.observers;
    let entry = SlowEntry {
        id: obs.next_slow_id,
        time: ctx.now_ms / 1000,
        micros,
        args,
        addr: ctx.client.addr.to_string(),
        name: ctx.client.name.clone().unwrap_or_default(),
    };
    obs.next_slow_id += 1;
    obs.slowlog.push_front(entry);
    obs.slowlog.truncate(max_len);
    debug_assert!(obs.slowlog.len() <= max_len);
}

/// Redis's `sdscatrepr`: a quoted, escaped argument.
fn repr(out: &mut String, a: &[u8]) {
    out.push('"');
    for &b in a {
        match b {
            b'\\' => out.push_str("\\\\"),
            b'"' => out.push_str("\\\""),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            0x07 => out.push_str("\\a"),
            0x08 => out.push_str("\\b"),
            0x20..=0x7e => out.push(b as char),
            _ => out.push_str(&format!("\\x{b:02x}")),
        }
    }
    out.push('"');
}

/// Sends one executed command to the clients in MONITOR mode.
pub fn feed_monitors(ctx: &mut Ctx<'_>, argv: &[Bytes]) {
    if ctx.srv.observers.monitors.is_empty() {
        return;
    }
    // Microseconds, as Redis prints them (only read when someone is monitoring).
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    // A command run by a script shows as the script's, as Redis's `[0 lua]`.
    let who = if crate::scripting::with_run(|_| ()).is_some() {
        "lua".to_string()
    } else if let crate::client::PeerAddr::Unix(path) = &ctx.client.addr {
        // Redis's `[0 unix:/path]` for a client of the unixsocket.
        format!("unix:{path}")
    } else {
        ctx.client.addr.to_string()
    };
    let mut line = format!(
        "{}.{:06} [{} {}]",
        now.as_secs(),
        now.subsec_micros(),
        ctx.client.db,
        who
    );
    for (i, a) in argv.iter().enumerate() {
        line.push(' ');
        if redacted(argv, i) {
            line.push_str("\"(redacted)\"");
        } else {
            repr(&mut line, a);
        }
    }
    let me = ctx.client.id;
    let srv = &mut *ctx.srv;
    for &id in &srv.observers.monitors {
        if id == me {
            continue;
        }
        if let Some(m) = srv.clients.get_mut(&id) {
            m.out.simple(&line);
            srv.observers.fed.push(id);
        }
    }
}

pub fn monitor(ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> CmdResult {
    if ctx.client.in_exec {
        return Err("ERR MONITOR isn't allowed for DENY BLOCKING client".into());
    }
    let id = ctx.client.id;
    if !ctx.srv.observers.monitors.contains(&id) {
        ctx.srv.observers.monitors.push(id);
        ctx.client.monitor = true;
    }
    ctx.out.ok();
    Ok(())
}

pub fn slowlog_get(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    if argv.len() > 3 {
        // Redis's addReplySubcommandSyntaxError, with the subcommand as the client wrote it.
        return Err(crate::reply::subcommand_syntax("SLOWLOG", &argv[1]));
    }
    let count_error = || ReplyError::new("ERR count should be greater than or equal to -1");
    let count = match argv.get(2) {
        None => 10,
        Some(a) => {
            let n = crate::args::parse_i64(a).ok_or_else(count_error)?;
            match n {
                -1 => usize::MAX,
                n if n < -1 => return Err(count_error()),
                n => usize::try_from(n).unwrap_or(usize::MAX),
            }
        }
    };
    let n = count.min(ctx.srv.observers.slowlog.len());
    ctx.out.array(n);
    for e in ctx.srv.observers.slowlog.iter().take(n) {
        ctx.out.array(6);
        ctx.out.int(e.id as i64);
        ctx.out.int(e.time as i64);
        ctx.out.int(e.micros as i64);
        ctx.out.array(e.args.len());
        for a in &e.args {
            ctx.out.bulk(a);
        }
        ctx.out.bulk(e.addr.as_bytes());
        ctx.out.bulk(&e.name);
    }
    Ok(())
}

pub fn slowlog_len(ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> CmdResult {
    ctx.out.int(ctx.srv.observers.slowlog.len() as i64);
    Ok(())
}

pub fn slowlog_reset(ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> CmdResult {
    ctx.srv.observers.slowlog.clear();
    ctx.out.ok();
    Ok(())
}

pub fn slowlog_help(ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> CmdResult {
    super::help_reply(
        ctx,
        "SLOWLOG",
        &[
            "GET [<count>]",
            "    Return top <count> entries from the slowlog (default: 10, -1 mean all).",
            "    Entries are made of:",
            "    id, timestamp, time in microseconds, arguments array, client IP and port,",
            "    client name",
            "LEN",
            "    Return the length of the slowlog.",
            "RESET",
            "    Reset the slowlog.",
        ],
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// The table rows of this family (see `commands/mod.rs`).

pub static COMMANDS: &[Command] = &[
    cmd("monitor", 1, monitor)
        .flags(&["admin", "noscript", "loading", "stale"])
        .acl(&["@admin", "@slow", "@dangerous"])
        .doc(
            "server",
            "1.0.0",
            "",
            "Listen for all requests received by the server in real time",
        ),
    container("slowlog", &SLOWLOG_SUBCOMMANDS)
        .acl(&["@slow"])
        .doc(
            "server",
            "2.2.12",
            "Depends on subcommand.",
            "A container for slow log commands",
        ),
];

const SLOWLOG_ACL: &[&str] = &["@admin", "@slow", "@dangerous"];

pub static SLOWLOG_SUBCOMMANDS: [Command; 4] = [
    cmd("slowlog|get", -2, slowlog_get)
        .tips(&["request_policy:all_nodes", "nondeterministic_output"])
        .flags(&["admin", "loading", "stale"])
        .acl(SLOWLOG_ACL)
        .doc(
            "server",
            "2.2.12",
            "O(N) where N is the number of entries returned",
            "Get the slow log's entries",
        )
        .history(&[(
            "4.0.0",
            "Added client IP address, port and name to the reply.",
        )])
        .args(&[arg("count", "integer").opt()]),
    cmd("slowlog|len", 2, slowlog_len)
        .tips(&[
            "request_policy:all_nodes",
            "response_policy:agg_sum",
            "nondeterministic_output",
        ])
        .flags(&["admin", "loading", "stale"])
        .acl(SLOWLOG_ACL)
        .doc("server", "2.2.12", "O(1)", "Get the slow log's length"),
    cmd("slowlog|reset", 2, slowlog_reset)
        .tips(&["request_policy:all_nodes", "response_policy:all_succeeded"])
        .flags(&["admin", "loading", "stale"])
        .acl(SLOWLOG_ACL)
        .doc(
            "server",
            "2.2.12",
            "O(N) where N is the number of entries in the slowlog",
            "Clear all entries from the slow log",
        ),
    cmd("slowlog|help", 2, slowlog_help)
        .flags(&["loading", "stale"])
        .acl(&["@slow"])
        .doc(
            "server",
            "6.2.0",
            "O(1)",
            "Show helpful text about the different subcommands",
        ),
];
