//! Scripting commands: EVAL, EVALSHA, EVAL_RO, EVALSHA_RO and SCRIPT
//! LOAD/EXISTS/FLUSH/KILL/HELP. The Lua side (VM, sandbox, conversions, BUSY) is in
//! `crate::scripting`.
//!
//! SCRIPT KILL reaching this handler means no script runs (while one runs, the busy loop in
//! `scripting/busy.rs` answers it), so it is always `-NOTBUSY` here.

use bytes::Bytes;

use super::common::*;
use crate::args::parse_i64;
use crate::engine::Ctx;
use crate::reply::{CmdResult, ReplyError, NOT_INTEGER};
use crate::scripting::{self, Call};

/// Copies the scripting settings from the configuration (CONFIG SET may have changed them).
pub(crate) fn sync_config(ctx: &mut Ctx<'_>) {
    let c = &ctx.srv.config;
    let (busy, mem, size) = (
        c.busy_reply_threshold,
        c.lua_memory_limit,
        c.lua_script_max_size,
    );
    let s = &mut ctx.srv.script;
    s.busy_threshold_ms = busy;
    s.memory_limit = mem;
    s.max_script_size = size;
}

/// Splits `numkeys key… arg…` (argv[2..]) with Redis's errors.
pub(crate) fn keys_and_args(argv: &[Bytes]) -> Result<(&[Bytes], &[Bytes]), ReplyError> {
    let n = parse_i64(&argv[2]).ok_or(ReplyError::from(NOT_INTEGER))?;
    if n < 0 {
        return Err("ERR Number of keys can't be negative".into());
    }
    let rest = &argv[3..];
    if n as u64 > rest.len() as u64 {
        return Err("ERR Number of keys can't be greater than number of args".into());
    }
    Ok(rest.split_at(n as usize))
}

fn eval_generic(ctx: &mut Ctx<'_>, argv: &[Bytes], by_sha: bool, read_only: bool) -> CmdResult {
    sync_config(ctx);
    // Redis's evalShaCommand answers NOSCRIPT for a SHA that is not 40 bytes before it reads
    // numkeys; a 40-byte one is looked up after.
    if by_sha && argv[1].len() != 40 {
        return Err("NOSCRIPT No matching script. Please use EVAL.".into());
    }
    let (keys, args) = keys_and_args(argv)?;
    let sha = if by_sha {
        // A SHA is 40 hex digits; anything else is not in the cache (run answers NOSCRIPT for
        // a well-formed SHA that is not cached).
        match std::str::from_utf8(&argv[1]) {
            Ok(s) if s.len() == 40 => s.to_ascii_lowercase(),
            _ => return Err("NOSCRIPT No matching script. Please use EVAL.".into()),
        }
    } else {
        ctx.srv.script.load(&argv[1])?
    };
    scripting::run(
        ctx,
        Call {
            sha,
            keys,
            args,
            read_only,
            function: false,
        },
    )
}

pub fn eval(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    eval_generic(ctx, argv, false, false)
}

pub fn evalsha(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    eval_generic(ctx, argv, true, false)
}

pub fn eval_ro(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    eval_generic(ctx, argv, false, true)
}

pub fn evalsha_ro(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    eval_generic(ctx, argv, true, true)
}

pub fn script_load(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    sync_config(ctx);
    let sha = ctx.srv.script.load(&argv[2])?;
    ctx.out.bulk(sha.as_bytes());
    Ok(())
}

pub fn script_exists(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    ctx.out.array(argv.len() - 2);
    for sha in &argv[2..] {
        let e = ctx.srv.script.exists(sha);
        ctx.out.int(i64::from(e));
    }
    Ok(())
}

pub fn script_flush(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    match argv.len() {
        2 => {}
        3 if argv[2].eq_ignore_ascii_case(b"sync") || argv[2].eq_ignore_ascii_case(b"async") => {}
        _ => return Err("ERR SCRIPT FLUSH only support SYNC|ASYNC option".into()),
    }
    ctx.srv.script.flush();
    ctx.out.ok();
    Ok(())
}

pub fn script_kill(_ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> CmdResult {
    Err("NOTBUSY No scripts in execution right now.".into())
}

pub fn script_help(ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> CmdResult {
    super::help_reply(
        ctx,
        "SCRIPT",
        &[
            "DEBUG (YES|SYNC|NO)",
            "    Set the debug mode for subsequent scripts executed.",
            "EXISTS <sha1> [<sha1> ...]",
            "    Return information about the existence of the scripts in the script cache.",
            "FLUSH [ASYNC|SYNC]",
            "    Flush the Lua scripts cache. Very dangerous on replicas.",
            "    When called without the optional mode argument, the behavior is determined by the",
            "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
            "    * ASYNC: Asynchronously flush the scripts cache.",
            "    * SYNC: Synchronously flush the scripts cache.",
            "KILL",
            "    Kill the currently executing Lua script.",
            "LOAD <script>",
            "    Load a script into the scripts cache without executing it.",
        ],
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// The table rows of this family (see `commands/mod.rs`).

const EVAL_FLAGS: &[&str] = &[
    "noscript",
    "stale",
    "skip_monitor",
    "may_replicate",
    "no_mandatory_keys",
];
const EVAL_RO_FLAGS: &[&str] = &[
    "readonly",
    "noscript",
    "stale",
    "skip_monitor",
    "no_mandatory_keys",
];
const EVAL_ACL: &[&str] = &["@slow", "@scripting"];
const EVAL_ARGS: &[Arg] = &[
    arg("script", "string"),
    arg("numkeys", "integer"),
    // "string", not "key": the table has no keynum key specs (see the table tests).
    arg("key", "string").opt().many(),
    arg("arg", "string").opt().many(),
];
const EVALSHA_ARGS: &[Arg] = &[
    arg("sha1", "string"),
    arg("numkeys", "integer"),
    // "string", not "key": the table has no keynum key specs (see the table tests).
    arg("key", "string").opt().many(),
    arg("arg", "string").opt().many(),
];
const SCRIPT_ACL: &[&str] = &["@slow", "@scripting"];

pub static COMMANDS: &[Command] = &[
    cmd("eval", -3, eval)
        .flags(EVAL_FLAGS)
        .acl(EVAL_ACL)
        .doc(
            "scripting",
            "2.6.0",
            "Depends on the script that is executed.",
            "Execute a Lua script server side",
        )
        .args(EVAL_ARGS),
    cmd("evalsha", -3, evalsha)
        .flags(EVAL_FLAGS)
        .acl(EVAL_ACL)
        .doc(
            "scripting",
            "2.6.0",
            "Depends on the script that is executed.",
            "Execute a Lua script server side",
        )
        .args(EVALSHA_ARGS),
    cmd("eval_ro", -3, eval_ro)
        .flags(EVAL_RO_FLAGS)
        .acl(EVAL_ACL)
        .doc(
            "scripting",
            "7.0.0",
            "Depends on the script that is executed.",
            "Execute a read-only Lua script server side",
        )
        .args(EVAL_ARGS),
    cmd("evalsha_ro", -3, evalsha_ro)
        .flags(EVAL_RO_FLAGS)
        .acl(EVAL_ACL)
        .doc(
            "scripting",
            "7.0.0",
            "Depends on the script that is executed.",
            "Execute a read-only Lua script server side",
        )
        .args(EVALSHA_ARGS),
    container("script", &SCRIPT_SUBCOMMANDS)
        .acl(&["@slow"])
        .doc(
            "scripting",
            "2.6.0",
            "Depends on subcommand.",
            "A container for Lua scripts management commands",
        ),
];

pub static SCRIPT_SUBCOMMANDS: [Command; 5] = [
    cmd("script|load", 3, script_load)
        .flags(&["noscript", "stale"])
        .acl(SCRIPT_ACL)
        .doc("scripting", "2.6.0", "O(N) with N being the length in bytes of the script body.", "Load the specified Lua script into the script cache.")
        .args(&[arg("script", "string")]),
    cmd("script|exists", -3, script_exists)
        .flags(&["noscript"])
        .acl(SCRIPT_ACL)
        .doc("scripting", "2.6.0", "O(N) with N being the number of scripts to check (so checking a single script is an O(1) operation).", "Check existence of scripts in the script cache.")
        .args(&[arg("sha1", "string").many()]),
    cmd("script|flush", -2, script_flush)
        .flags(&["noscript"])
        .acl(SCRIPT_ACL)
        .doc("scripting", "2.6.0", "O(N) with N being the number of scripts in cache", "Remove all the scripts from the script cache.")
        .args(&[arg("flush-type", "oneof").opt().of(&[tok("ASYNC"), tok("SYNC")])]),
    cmd("script|kill", 2, script_kill)
        .flags(&["noscript", "allow_busy"])
        .acl(SCRIPT_ACL)
        .doc("scripting", "2.6.0", "O(1)", "Kill the script currently in execution."),
    cmd("script|help", 2, script_help)
        .flags(&["loading", "stale"])
        .acl(SCRIPT_ACL)
        .doc("scripting", "5.0.0", "O(1)", "Show helpful text about the different subcommands"),
];
