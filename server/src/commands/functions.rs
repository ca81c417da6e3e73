//! Redis 7 functions: FCALL, FCALL_RO and FUNCTION LOAD/DELETE/FLUSH/LIST/DUMP/RESTORE/STATS/
//! KILL/HELP. Libraries live in the Lua VM (`crate::scripting`) and, durably, one record each
//! in the store (`storage/src/store/functions.rs`): every change is staged with the command's
//! drain and committed with it; the stored libraries are loaded again on the first function
//! command after a start. (The EVAL script cache, by contrast, is memory only, as in Redis.)
//!
//! FUNCTION DUMP's payload is Sluice's own (Redis's is RDB-encoded with LZF compression):
//! `SLFN` + version byte, then per library a 4-byte big-endian length and its code, then a
//! CRC32 of all that; RESTORE takes only such payloads.

use bytes::Bytes;

use super::common::*;
use super::scripting::{keys_and_args, sync_config};
use crate::args::parse_i64;
use crate::config::glob_match;
use crate::engine::Ctx;
use crate::reply::{CmdResult, ReplyError};
use crate::scripting::{self, Call};

/// Loads the stored libraries into the VM once per process.
fn ensure_loaded(ctx: &mut Ctx<'_>) -> CmdResult {
    sync_config(ctx);
    if ctx.srv.script.functions_loaded {
        return Ok(());
    }
    let libs = ctx
        .store
        .function_libraries()
        .map_err(|e| ReplyError::new(format!("ERR can't read the function libraries: {e}")))?;
    for (name, code) in libs {
        if let Err(e) = ctx.srv.script.load_library(&code, true) {
            tracing::warn!(library = %String::from_utf8_lossy(&name), error = %e.0, "a stored function library does not load; it is left out");
        }
    }
    ctx.srv.script.functions_loaded = true;
    Ok(())
}

fn fcall_generic(ctx: &mut Ctx<'_>, argv: &[Bytes], read_only: bool) -> CmdResult {
    ensure_loaded(ctx)?;
    // Redis looks the function up before it reads numkeys.
    let name = String::from_utf8_lossy(&argv[1]).into_owned();
    if !ctx.srv.script.functions.contains_key(&name) {
        return Err("ERR Function not found".into());
    }
    if parse_i64(&argv[2]).is_none() {
        return Err("ERR Bad number of keys provided".into());
    }
    let (keys, args) = keys_and_args(argv)?;
    scripting::run(
        ctx,
        Call {
            sha: name,
            keys,
            args,
            read_only,
            function: true,
        },
    )
}

pub fn fcall(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    fcall_generic(ctx, argv, false)
}

pub fn fcall_ro(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    fcall_generic(ctx, argv, true)
}

pub fn function_load(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    ensure_loaded(ctx)?;
    let code = &argv[argv.len() - 1];
    let mut replace = false;
    for opt in &argv[2..argv.len() - 1] {
        if opt.eq_ignore_ascii_case(b"replace") {
            replace = true;
        } else {
            return Err(ReplyError::new(format!(
                "ERR Unknown option given: {}",
                String::from_utf8_lossy(opt)
            )));
        }
    }
    let name = ctx.srv.script.load_library(code, replace)?;
    ctx.store
        .stage_function_library(name.as_bytes(), Some(code.as_ref()));
    ctx.out.bulk(name.as_bytes());
    Ok(())
}

pub fn function_delete(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    ensure_loaded(ctx)?;
    let name = String::from_utf8_lossy(&argv[2]).into_owned();
    if !ctx.srv.script.delete_library(&name) {
        return Err("ERR Library not found".into());
    }
    ctx.store.stage_function_library(name.as_bytes(), None);
    ctx.out.ok();
    Ok(())
}

fn flush_all(ctx: &mut Ctx<'_>) {
    let names: Vec<String> = ctx.srv.script.libraries.keys().cloned().collect();
    for n in names {
        ctx.store.stage_function_library(n.as_bytes(), None);
    }
    ctx.srv.script.flush_functions();
}

pub fn function_flush(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    ensure_loaded(ctx)?;
    match argv.len() {
        2 => {}
        3 if argv[2].eq_ignore_ascii_case(b"sync") || argv[2].eq_ignore_ascii_case(b"async") => {}
        3 => return Err("ERR FUNCTION FLUSH only supports SYNC|ASYNC option".into()),
        _ => return Err(crate::reply::subcommand_syntax("FUNCTION", &argv[1])),
    }
    flush_all(ctx);
    ctx.out.ok();
    Ok(())
}

pub fn function_list(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    ensure_loaded(ctx)?;
    let mut with_code = false;
    let mut pattern: Option<Bytes> = None;
    let mut i = 2;
    while i < argv.len() {
        let a = &argv[i];
        if a.eq_ignore_ascii_case(b"withcode") && !with_code {
            with_code = true;
        } else if a.eq_ignore_ascii_case(b"libraryname") && pattern.is_none() {
            let Some(p) = argv.get(i + 1) else {
                return Err("ERR library name argument was not given".into());
            };
            pattern = Some(p.clone());
            i += 1;
        } else {
            return Err(ReplyError::new(crate::reply::crlf_to_spaces(format!(
                "ERR Unknown argument {}",
                String::from_utf8_lossy(a)
            ))));
        }
        i += 1;
    }
    let sc = &ctx.srv.script;
    let libs: Vec<(&String, &scripting::Library)> = sc
        .libraries
        .iter()
        .filter(|(name, _)| {
            pattern
                .as_ref()
                .is_none_or(|p| glob_match(p, name.as_bytes(), false))
        })
        .collect();
    let out = &mut *ctx.out;
    out.array(libs.len());
    for (name, lib) in libs {
        out.map(if with_code { 4 } else { 3 });
        out.bulk(b"library_name");
        out.bulk(name.as_bytes());
        out.bulk(b"engine");
        out.bulk(b"LUA");
        out.bulk(b"functions");
        out.array(lib.functions.len());
        for f in &lib.functions {
            let Some(e) = sc.functions.get(f) else {
                out.null();
                continue;
            };
            out.map(3);
            out.bulk(b"name");
            out.bulk(f.as_bytes());
            out.bulk(b"description");
            match &e.description {
                Some(d) => out.bulk(d.as_bytes()),
                None => out.null(),
            }
            out.bulk(b"flags");
            out.set(e.flag_names.len());
            for fl in &e.flag_names {
                out.simple(fl);
            }
        }
        if with_code {
            out.bulk(b"library_code");
            out.bulk(&lib.code);
        }
    }
    Ok(())
}

const DUMP_MAGIC: &[u8] = b"SLFN\x01";

/// CRC32 (IEEE), bitwise: payloads are small.
fn crc32(data: &[u8]) -> u32 {
    let mut c = !0u32;
    for &b in data {
        c ^= u32::from(b);
        for _ in 0..8 {
            c = if c & 1 != 0 {
                (c >> 1) ^ 0xEDB8_8320
            } else {
                c >> 1
            };
        }
    }
    !c
}

pub fn function_dump(ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> CmdResult {
    ensure_loaded(ctx)?;
    let mut p = DUMP_MAGIC.to_vec();
    for lib in ctx.srv.script.libraries.values() {
        p.extend_from_slice(&(lib.code.len() as u32).to_be_bytes());
        p.extend_from_slice(&lib.code);
    }
    let crc = crc32(&p);
    p.extend_from_slice(&crc.to_be_bytes());
    ctx.out.bulk(&p);
    Ok(())
}

fn parse_dump(p: &[u8]) -> Option<Vec<&[u8]>> {
    p.strip_prefix(DUMP_MAGIC)?;
    let (body, crc) = p.split_at_checked(p.len().checked_sub(4)?)?;
    if crc32(body).to_be_bytes() != crc {
        return None;
    }
    let mut rest = &body[DUMP_MAGIC.len()..];
    let mut libs = Vec::new();
    while !rest.is_empty() {
        let (len, tail) = rest.split_at_checked(4)?;
        let len = u32::from_be_bytes(len.try_into().ok()?) as usize;
        let (code, tail) = tail.split_at_checked(len)?;
        libs.push(code);
        rest = tail;
    }
    Some(libs)
}

pub fn function_restore(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    ensure_loaded(ctx)?;
    if argv.len() > 4 {
        return Err(crate::reply::subcommand_syntax("FUNCTION", &argv[1]));
    }
    #[derive(PartialEq)]
    enum Policy {
        Append,
        Replace,
        Flush,
    }
    let policy =
        match argv.get(3) {
            None => Policy::Append,
            Some(a) if a.eq_ignore_ascii_case(b"append") => Policy::Append,
            Some(a) if a.eq_ignore_ascii_case(b"replace") => Policy::Replace,
            Some(a) if a.eq_ignore_ascii_case(b"flush") => Policy::Flush,
            Some(_) => return Err(
                "ERR Wrong restore policy given, value should be either FLUSH, APPEND or REPLACE."
                    .into(),
            ),
        };
    let Some(libs) = parse_dump(&argv[2]) else {
        return Err("ERR DUMP payload version or checksum are wrong".into());
    };
    let libs: Vec<Vec<u8>> = libs.into_iter().map(<[u8]>::to_vec).collect();
    // All or nothing: check every library against what exists before loading any.
    if policy == Policy::Append {
        for code in &libs {
            if let Ok(name) = scripting_library_name(code) {
                if ctx.srv.script.libraries.contains_key(&name) {
                    return Err(ReplyError::new(format!(
                        "ERR Library {name} already exists"
                    )));
                }
            }
        }
    }
    if policy == Policy::Flush {
        flush_all(ctx);
    }
    for code in &libs {
        let name = ctx
            .srv
            .script
            .load_library(code, policy != Policy::Append)?;
        ctx.store
            .stage_function_library(name.as_bytes(), Some(code.as_ref()));
    }
    ctx.out.ok();
    Ok(())
}

fn scripting_library_name(code: &[u8]) -> Result<String, ReplyError> {
    let end = code.iter().position(|&b| b == b'\n').unwrap_or(code.len());
    let line = String::from_utf8_lossy(&code[..end]).into_owned();
    line.split(' ')
        .find_map(|p| p.strip_prefix("name="))
        .map(str::to_string)
        .ok_or_else(|| "ERR Library name was not given".into())
}

pub fn function_stats(ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> CmdResult {
    ensure_loaded(ctx)?;
    let (libs, fns) = (
        ctx.srv.script.libraries.len(),
        ctx.srv.script.functions.len(),
    );
    let out = &mut *ctx.out;
    out.map(2);
    out.bulk(b"running_script");
    // While a function runs, the busy loop answers instead (SHUTDOWN NOSAVE / FUNCTION KILL
    // only); so here none runs.
    out.null();
    out.bulk(b"engines");
    out.map(1);
    out.bulk(b"LUA");
    out.map(2);
    out.bulk(b"libraries_count");
    out.int(libs as i64);
    out.bulk(b"functions_count");
    out.int(fns as i64);
    Ok(())
}

pub fn function_kill(_ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> CmdResult {
    Err("NOTBUSY No scripts in execution right now.".into())
}

pub fn function_help(ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> CmdResult {
    super::help_reply(
        ctx,
        "FUNCTION",
        &[
            "LOAD [REPLACE] <FUNCTION CODE>",
            "    Create a new library with the given library name and code.",
            "DELETE <LIBRARY NAME>",
            "    Delete the given library.",
            "LIST [LIBRARYNAME PATTERN] [WITHCODE]",
            "    Return general information on all the libraries:",
            "    * Library name",
            "    * The engine used to run the Library",
            "    * Library description",
            "    * Functions list",
            "    * Library code (if WITHCODE is given)",
            "    It also possible to get only function that matches a pattern using LIBRARYNAME argument.",
            "STATS",
            "    Return information about the current function running:",
            "    * Function name",
            "    * Command used to run the function",
            "    * Duration in MS that the function is running",
            "    If no function is running, return nil",
            "    In addition, returns a list of available engines.",
            "KILL",
            "    Kill the current running function.",
            "FLUSH [ASYNC|SYNC]",
            "    Delete all the libraries.",
            "    When called without the optional mode argument, the behavior is determined by the",
            "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
            "    * ASYNC: Asynchronously flush the libraries.",
            "    * SYNC: Synchronously flush the libraries.",
            "DUMP",
            "    Return a serialized payload representing the current libraries, can be restored using FUNCTION RESTORE command",
            "RESTORE <PAYLOAD> [FLUSH|APPEND|REPLACE]",
            "    Restore the libraries represented by the given payload, it is possible to give a restore policy to",
            "    control how to handle existing libraries (default APPEND):",
            "    * FLUSH: delete all existing libraries.",
            "    * APPEND: appends the restored libraries to the existing libraries. On collision, abort.",
            "    * REPLACE: appends the restored libraries to the existing libraries, On collision, replace the old",
            "      libraries with the new libraries (notice that even on this option there is a chance of failure",
            "      in case of functions name collision with another library).",
        ],
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// The table rows of this family (see `commands/mod.rs`).

const FCALL_ARGS: &[Arg] = &[
    arg("function", "string"),
    arg("numkeys", "integer"),
    // "string", not "key": the table has no keynum key specs (see the table tests).
    arg("key", "string").opt().many(),
    arg("arg", "string").opt().many(),
];
const FN_ACL: &[&str] = &["@slow", "@scripting"];

pub static COMMANDS: &[Command] = &[
    cmd("fcall", -3, fcall)
        .flags(&[
            "noscript",
            "stale",
            "skip_monitor",
            "may_replicate",
            "no_mandatory_keys",
        ])
        .acl(FN_ACL)
        .doc(
            "scripting",
            "7.0.0",
            "Depends on the function that is executed.",
            "Invoke a function",
        )
        .args(FCALL_ARGS),
    cmd("fcall_ro", -3, fcall_ro)
        .flags(&[
            "readonly",
            "noscript",
            "stale",
            "skip_monitor",
            "no_mandatory_keys",
        ])
        .acl(FN_ACL)
        .doc(
            "scripting",
            "7.0.0",
            "Depends on the function that is executed.",
            "Invoke a read-only function",
        )
        .args(FCALL_ARGS),
    container("function", &FUNCTION_SUBCOMMANDS)
        .acl(&["@slow"])
        .doc(
            "scripting",
            "7.0.0",
            "Depends on subcommand.",
            "A container for function commands",
        ),
];

pub static FUNCTION_SUBCOMMANDS: [Command; 9] = [
    cmd("function|load", -3, function_load)
        .flags(&["write", "denyoom", "noscript"])
        .acl(FN_ACL)
        .doc(
            "scripting",
            "7.0.0",
            "O(1) (considering compilation time is redundant)",
            "Create a function with the given arguments (name, code, description)",
        )
        .args(&[tok("REPLACE").opt(), arg("function-code", "string")]),
    cmd("function|delete", 3, function_delete)
        .flags(&["write", "noscript"])
        .acl(FN_ACL)
        .doc("scripting", "7.0.0", "O(1)", "Delete a function by name")
        .args(&[arg("library-name", "string")]),
    cmd("function|flush", -2, function_flush)
        .flags(&["write", "noscript"])
        .acl(FN_ACL)
        .doc(
            "scripting",
            "7.0.0",
            "O(N) where N is the number of functions deleted",
            "Deleting all functions",
        )
        .args(&[arg("flush-type", "oneof")
            .opt()
            .of(&[tok("ASYNC"), tok("SYNC")])]),
    cmd("function|list", -2, function_list)
        .flags(&["noscript"])
        .acl(FN_ACL)
        .doc(
            "scripting",
            "7.0.0",
            "O(N) where N is the number of functions",
            "List information about all the functions",
        )
        .args(&[
            arg("library-name-pattern", "string")
                .token("LIBRARYNAME")
                .opt(),
            tok("WITHCODE").opt(),
        ]),
    cmd("function|dump", 2, function_dump)
        .flags(&["noscript"])
        .acl(FN_ACL)
        .doc(
            "scripting",
            "7.0.0",
            "O(N) where N is the number of functions",
            "Dump all functions into a serialized binary payload",
        ),
    cmd("function|restore", -3, function_restore)
        .flags(&["write", "denyoom", "noscript"])
        .acl(FN_ACL)
        .doc(
            "scripting",
            "7.0.0",
            "O(N) where N is the number of functions on the payload",
            "Restore all the functions on the given payload",
        )
        .args(&[
            arg("serialized-value", "string"),
            arg("policy", "oneof")
                .opt()
                .of(&[tok("FLUSH"), tok("APPEND"), tok("REPLACE")]),
        ]),
    cmd("function|stats", 2, function_stats)
        .flags(&["noscript", "allow_busy"])
        .acl(FN_ACL)
        .doc(
            "scripting",
            "7.0.0",
            "O(1)",
            "Return information about the function currently running (name, description, duration)",
        ),
    cmd("function|kill", 2, function_kill)
        .flags(&["noscript", "allow_busy"])
        .acl(FN_ACL)
        .doc(
            "scripting",
            "7.0.0",
            "O(1)",
            "Kill the function currently in execution.",
        ),
    cmd("function|help", 2, function_help)
        .flags(&["loading", "stale"])
        .acl(FN_ACL)
        .doc(
            "scripting",
            "7.0.0",
            "O(1)",
            "Show helpful text about the different subcommands",
        ),
];
