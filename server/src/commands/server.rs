//! TIME and COMMAND (COUNT, INFO, DOCS, LIST, GETKEYS, HELP), all read from the command table.

use bytes::Bytes;

use super::common::*;
use crate::args::eq;
use crate::engine::{self, Ctx};
use crate::reply::{CmdResult, ReplyError};

pub fn time(ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> CmdResult {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    ctx.out.array(2);
    ctx.out.bulk(now.as_secs().to_string().as_bytes());
    ctx.out.bulk(now.subsec_micros().to_string().as_bytes());
    Ok(())
}

fn find(name: &[u8]) -> Option<&'static Command> {
    // `container|sub` names a subcommand.
    match name.iter().position(|&b| b == b'|') {
        Some(p) => super::lookup(&name[..p])?.subcommand(&name[p + 1..]),
        None => super::lookup(name),
    }
}

/// One command's entry in COMMAND / COMMAND INFO (Redis 7.0's ten fields).
fn write_info(ctx: &mut Ctx<'_>, c: &Command) {
    let out = &mut *ctx.out;
    out.array(10);
    out.bulk(c.name.as_bytes());
    out.int(i64::from(c.arity));
    out.set(c.flags.len());
    for f in c.flags {
        out.simple(f);
    }
    out.int(i64::from(c.first_key));
    out.int(i64::from(c.last_key));
    out.int(i64::from(c.step));
    out.set(c.acl.len());
    for a in c.acl {
        out.simple(a);
    }
    out.set(c.tips.len());
    for t in c.tips {
        out.bulk(t.as_bytes());
    }
    out.set(c.key_specs.len());
    for k in c.key_specs {
        out.map(3 + usize::from(k.notes.is_some()));
        if let Some(n) = k.notes {
            out.bulk(b"notes");
            out.bulk(n.as_bytes());
        }
        out.bulk(b"flags");
        out.set(k.flags.len());
        for f in k.flags {
            out.simple(f);
        }
        out.bulk(b"begin_search");
        out.map(2);
        out.bulk(b"type");
        match k.keyword {
            Some(kw) => {
                out.bulk(b"keyword");
                out.bulk(b"spec");
                out.map(2);
                out.bulk(b"keyword");
                out.bulk(kw.as_bytes());
                out.bulk(b"startfrom");
                out.int(i64::from(k.index));
            }
            None => {
                out.bulk(b"index");
                out.bulk(b"spec");
                out.map(1);
                out.bulk(b"index");
                out.int(i64::from(k.index));
            }
        }
        out.bulk(b"find_keys");
        out.map(2);
        out.bulk(b"type");
        out.bulk(b"range");
        out.bulk(b"spec");
        out.map(3);
        out.bulk(b"lastkey");
        out.int(i64::from(k.lastkey));
        out.bulk(b"keystep");
        out.int(i64::from(k.keystep));
        out.bulk(b"limit");
        out.int(i64::from(k.limit));
    }
    out.set(c.subcommands.len());
    for s in c.subcommands {
        write_info(ctx, s);
    }
}

/// Arguments for COMMAND DOCS, fields in Redis 7.0's order. Key arguments carry the index of
/// their key spec: the n-th key argument of a command is described by its n-th key spec.
fn write_args(ctx: &mut Ctx<'_>, args: &[Arg], key_index: &mut i64) {
    ctx.out.array(args.len());
    for a in args {
        let flags: Vec<&str> = [(a.optional, "optional"), (a.multiple, "multiple")]
            .iter()
            .filter(|(on, _)| *on)
            .map(|(_, f)| *f)
            .collect();
        let is_key = a.kind == "key";
        let n = 2
            + usize::from(is_key)
            + usize::from(a.token.is_some())
            + usize::from(a.since.is_some())
            + usize::from(!flags.is_empty())
            + usize::from(!a.children.is_empty());
        ctx.out.map(n);
        ctx.out.bulk(b"name");
        // Redis names a pure token after its token, in lower case (`nx` for `NX`).
        if a.kind == "pure-token" {
            ctx.out.bulk(a.name.to_ascii_lowercase().as_bytes());
        } else {
            ctx.out.bulk(a.name.as_bytes());
        }
        ctx.out.bulk(b"type");
        ctx.out.bulk(a.kind.as_bytes());
        if is_key {
            ctx.out.bulk(b"key_spec_index");
            ctx.out.int(*key_index);
            *key_index += 1;
        }
        if let Some(t) = a.token {
            ctx.out.bulk(b"token");
            ctx.out.bulk(t.as_bytes());
        }
        if let Some(v) = a.since {
            ctx.out.bulk(b"since");
            ctx.out.bulk(v.as_bytes());
        }
        if !flags.is_empty() {
            ctx.out.bulk(b"flags");
            ctx.out.set(flags.len());
            for f in flags {
                ctx.out.simple(f);
            }
        }
        if !a.children.is_empty() {
            ctx.out.bulk(b"arguments");
            write_args(ctx, a.children, key_index);
        }
    }
}

fn write_docs(ctx: &mut Ctx<'_>, c: &Command) {
    // A command without a complexity (MONITOR) has no such field, as in Redis.
    let n = 3
        + usize::from(!c.complexity.is_empty())
        + 3 * usize::from(c.deprecated.is_some())
        + usize::from(!c.history.is_empty())
        + usize::from(!c.args.is_empty())
        + usize::from(!c.subcommands.is_empty());
    ctx.out.map(n);
    ctx.out.bulk(b"summary");
    ctx.out.bulk(c.summary.as_bytes());
    ctx.out.bulk(b"since");
    ctx.out.bulk(c.since.as_bytes());
    ctx.out.bulk(b"group");
    ctx.out.bulk(c.group.as_bytes());
    if !c.complexity.is_empty() {
        ctx.out.bulk(b"complexity");
        ctx.out.bulk(c.complexity.as_bytes());
    }
    if let Some((since, replaced_by)) = c.deprecated {
        ctx.out.bulk(b"doc_flags");
        ctx.out.set(1);
        ctx.out.simple("deprecated");
        ctx.out.bulk(b"deprecated_since");
        ctx.out.bulk(since.as_bytes());
        ctx.out.bulk(b"replaced_by");
        ctx.out.bulk(replaced_by.as_bytes());
    }
    if !c.history.is_empty() {
        ctx.out.bulk(b"history");
        ctx.out.set(c.history.len());
        for (version, change) in c.history {
            ctx.out.array(2);
            ctx.out.bulk(version.as_bytes());
            ctx.out.bulk(change.as_bytes());
        }
    }
    if !c.args.is_empty() {
        ctx.out.bulk(b"arguments");
        write_args(ctx, c.args, &mut 0);
    }
    if !c.subcommands.is_empty() {
        ctx.out.bulk(b"subcommands");
        ctx.out.map(c.subcommands.len());
        for s in c.subcommands {
            ctx.out.bulk(s.name.as_bytes());
            write_docs(ctx, s);
        }
    }
}

pub fn command_count(ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> CmdResult {
    ctx.out.int(super::all().count() as i64);
    Ok(())
}

/// `COMMAND` with no subcommand is dispatched here too (see `lookup_command_bare`).
pub fn command_info(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    if argv.len() <= 2 {
        ctx.out.array(super::all().count());
        for c in super::all() {
            write_info(ctx, c);
        }
        return Ok(());
    }
    ctx.out.array(argv.len() - 2);
    for name in &argv[2..] {
        match find(name) {
            Some(c) => write_info(ctx, c),
            None => ctx.out.null(),
        }
    }
    Ok(())
}

pub fn command_docs(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let cmds: Vec<&'static Command> = if argv.len() <= 2 {
        super::all().collect()
    } else {
        argv[2..].iter().filter_map(|n| find(n)).collect()
    };
    ctx.out.map(cmds.len());
    for c in cmds {
        ctx.out.bulk(c.name.as_bytes());
        write_docs(ctx, c);
    }
    Ok(())
}

pub fn command_list(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let mut names: Vec<&str> = Vec::new();
    let filter = match argv.len() {
        2 => None,
        5 if eq(&argv[2], "FILTERBY") => Some((
            String::from_utf8_lossy(&argv[3]).to_ascii_lowercase(),
            argv[4].clone(),
        )),
        _ => return Err(crate::reply::SYNTAX.into()),
    };
    for c in super::all() {
        let keep = match &filter {
            None => true,
            Some((by, v)) if by == "pattern" => {
                crate::config::glob_match(v, c.name.as_bytes(), true)
            }
            Some((by, v)) if by == "aclcat" => {
                let cat = format!("@{}", String::from_utf8_lossy(v).to_ascii_lowercase());
                c.acl.contains(&cat.as_str())
            }
            Some((by, _)) if by == "module" => false,
            Some(_) => return Err(crate::reply::SYNTAX.into()),
        };
        if keep {
            names.push(c.name);
        }
        for s in c.subcommands {
            if filter.is_none() {
                names.push(s.name);
            }
        }
    }
    ctx.out.array(names.len());
    for n in names {
        ctx.out.bulk(n.as_bytes());
    }
    Ok(())
}

pub fn command_getkeys(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let target = &argv[2..];
    let Some(cmd) = super::lookup(&target[0]) else {
        return Err("ERR Invalid command specified".into());
    };
    let cmd = engine::resolve(cmd, target)
        .map_err(|_| ReplyError::from("ERR Invalid number of arguments specified for command"))?;
    let mut keys = super::keys_of(cmd, target);
    if keys.is_empty() && !cmd.key_specs.is_empty() {
        // Keys after a keyword (XREAD's STREAMS): found by the key specs, as Redis does.
        keys = keyword_keys(cmd, target);
        if keys.is_empty() {
            return Err("ERR Invalid arguments specified for command".into());
        }
    }
    if keys.is_empty() {
        return Err("ERR The command has no key arguments".into());
    }
    ctx.out.array(keys.len());
    for k in &keys {
        ctx.out.bulk(k);
    }
    Ok(())
}

/// The keys of `argv` by the command's keyword key specs, as Redis's
/// `getKeysUsingKeySpecs`: the keyword is searched from `startfrom` up to, but not including,
/// the last argument; the keys follow it, `(argc - first) / limit` of them for `lastkey -1`.
fn keyword_keys(cmd: &Command, argv: &[Bytes]) -> Vec<Bytes> {
    let argc = argv.len() as i64;
    let mut keys = Vec::new();
    for spec in cmd.key_specs {
        let Some(keyword) = spec.keyword else {
            continue;
        };
        let start = i64::from(spec.index);
        if start <= 0 {
            continue;
        }
        let Some(kw) =
            (start..argc - 1).find(|&i| argv[i as usize].eq_ignore_ascii_case(keyword.as_bytes()))
        else {
            continue;
        };
        let first = kw + 1;
        let last = match (spec.lastkey, spec.limit) {
            (l, _) if l >= 0 => first + i64::from(l),
            (l, 0) => argc + i64::from(l),
            (l, limit) => first + (argc - first) / i64::from(limit) + i64::from(l),
        };
        let step = i64::from(spec.keystep.max(1));
        let mut i = first;
        while i <= last && i < argc {
            keys.push(argv[i as usize].clone());
            i += step;
        }
    }
    keys
}

pub fn command_help(ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> CmdResult {
    super::help_reply(
        ctx,
        "COMMAND",
        &[
            "(no subcommand)",
            "    Return details about all Redis commands.",
            "COUNT",
            "    Return the total number of commands in this Redis server.",
            "LIST",
            "    Return a list of all commands in this Redis server.",
            "INFO [<command-name> ...]",
            "    Return details about multiple Redis commands.",
            "    If no command names are given, documentation details for all",
            "    commands are returned.",
            "DOCS [<command-name> ...]",
            "    Return documentation details about multiple Redis commands.",
            "    If no command names are given, documentation details for all",
            "    commands are returned.",
            "GETKEYS <full-command>",
            "    Return the keys from a full Redis command.",
        ],
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// The table rows of this family (see `commands/mod.rs`).

pub static COMMANDS: &[Command] = &[
    cmd("time", 1, time)
        .tips(&["nondeterministic_output"])
        .flags(&["loading", "stale", "fast"])
        .acl(&["@fast"])
        .doc("server", "2.6.0", "O(1)", "Return the current server time"),
    container("command", &COMMAND_SUBCOMMANDS)
        .tips(&["nondeterministic_output_order"])
        .bare(-1, command_info)
        .flags(&["loading", "stale"])
        .acl(&["@slow", "@connection"])
        .doc(
            "server",
            "2.8.13",
            "O(N) where N is the total number of Redis commands",
            "Get array of Redis command details",
        ),
];

pub static COMMAND_SUBCOMMANDS: [Command; 6] = [
    cmd("command|count", 2, command_count)
        .flags(&["loading", "stale"])
        .acl(&["@slow", "@connection"])
        .doc(
            "server",
            "2.8.13",
            "O(1)",
            "Get total number of Redis commands",
        ),
    cmd("command|info", -2, command_info)
        .tips(&["nondeterministic_output_order"])
        .flags(&["loading", "stale"])
        .acl(&["@slow", "@connection"])
        .doc(
            "server",
            "2.8.13",
            "O(N) where N is the number of commands to look up",
            "Get array of specific Redis command details, or all when no argument is given.",
        )
        .args(&[arg("command-name", "string").opt().many()]),
    cmd("command|docs", -2, command_docs)
        .tips(&["nondeterministic_output_order"])
        .flags(&["loading", "stale"])
        .acl(&["@slow", "@connection"])
        .doc(
            "server",
            "7.0.0",
            "O(N) where N is the number of commands to look up",
            "Get array of specific Redis command documentation",
        )
        .args(&[arg("command-name", "string").opt().many()]),
    cmd("command|list", -2, command_list)
        .tips(&["nondeterministic_output_order"])
        .flags(&["loading", "stale"])
        .acl(&["@slow", "@connection"])
        .doc(
            "server",
            "7.0.0",
            "O(N) where N is the total number of Redis commands",
            "Get an array of Redis command names",
        ),
    cmd("command|getkeys", -4, command_getkeys)
        .flags(&["loading", "stale"])
        .acl(&["@slow", "@connection"])
        .doc(
            "server",
            "2.8.13",
            "O(N) where N is the number of arguments to the command",
            "Extract keys given a full Redis command",
        ),
    cmd("command|help", 2, command_help)
        .flags(&["loading", "stale"])
        .acl(&["@slow", "@connection"])
        .doc(
            "server",
            "5.0.0",
            "O(1)",
            "Show helpful text about the different subcommands",
        ),
];
