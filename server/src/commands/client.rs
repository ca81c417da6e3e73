//! CLIENT: ID, SETNAME, GETNAME, SETINFO, LIST, INFO, KILL, REPLY, PAUSE, UNPAUSE, UNBLOCK,
//! NO-EVICT, NO-TOUCH, HELP. The parking behind PAUSE and UNBLOCK is in `engine/blocking.rs`.

use bytes::Bytes;

use super::common::*;
use crate::args::{eq, Args};
use crate::engine::{force_unblock, release_paused, Ctx, Pause, Unblock};
use crate::reply::{printable, CmdResult, ReplyError, NOT_INTEGER, SYNTAX};

/// Redis refuses names with spaces, newlines or other characters outside `!`..`~`.
pub fn validate_name(name: &[u8]) -> Result<(), ReplyError> {
    if name.iter().any(|&b| !(b'!'..=b'~').contains(&b)) {
        return Err(
            "ERR Client names cannot contain spaces, newlines or special characters.".into(),
        );
    }
    Ok(())
}

pub fn id(ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> CmdResult {
    ctx.out.int(ctx.client.id as i64);
    Ok(())
}

pub fn setname(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    validate_name(&argv[2])?;
    ctx.client.name = (!argv[2].is_empty()).then(|| argv[2].clone());
    ctx.out.ok();
    Ok(())
}

pub fn getname(ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> CmdResult {
    match &ctx.client.name {
        Some(n) => {
            let n = n.clone();
            ctx.out.bulk(&n)
        }
        None => ctx.out.null(),
    }
    Ok(())
}

/// CLIENT SETINFO (Redis 7.2; clients send it on connect and ignore errors, but answering it
/// avoids an error in every client's log).
pub fn setinfo(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let (attr, value) = (&argv[2], &argv[3]);
    if value.iter().any(|&b| !(b'!'..=b'~').contains(&b)) {
        return Err(ReplyError::new(format!(
            "ERR {} cannot contain spaces, newlines or special characters.",
            printable(attr, 32).to_ascii_lowercase()
        )));
    }
    if eq(attr, "LIB-NAME") {
        ctx.client.lib_name = (!value.is_empty()).then(|| value.clone());
    } else if eq(attr, "LIB-VER") {
        ctx.client.lib_ver = (!value.is_empty()).then(|| value.clone());
    } else {
        return Err(ReplyError::new(format!(
            "ERR Unrecognized option '{}'",
            printable(attr, 128)
        )));
    }
    ctx.out.ok();
    Ok(())
}

pub fn list(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let mut args = Args::new(&argv[2..]);
    let mut ids: Option<Vec<u64>> = None;
    while let Some(opt) = args.next_opt() {
        if eq(opt, "TYPE") && !args.is_empty() {
            let t = args.next()?;
            if !(eq(t, "normal")
                || eq(t, "master")
                || eq(t, "replica")
                || eq(t, "slave")
                || eq(t, "pubsub"))
            {
                return Err(ReplyError::new(format!(
                    "ERR Unknown client type '{}'",
                    printable(t, 128)
                )));
            }
            if !eq(t, "normal") {
                ids = Some(Vec::new());
            }
        } else if eq(opt, "ID") && !args.is_empty() {
            let mut v = Vec::new();
            for a in args.rest() {
                // Redis rejects only what is not a number; 0 or negative just matches nothing.
                let n =
                    crate::args::parse_i64(a).ok_or(ReplyError::from("ERR Invalid client ID"))?;
                if n > 0 {
                    v.push(n as u64);
                }
            }
            ids = Some(ids.map_or(v.clone(), |old| {
                old.into_iter().filter(|i| v.contains(i)).collect()
            }));
            break;
        } else {
            return Err(SYNTAX.into());
        }
    }
    let now = ctx.now_ms;
    let mut all: Vec<&crate::client::Client> = ctx.srv.clients.values().collect();
    all.push(ctx.client);
    all.sort_by_key(|c| c.id);
    let mut text = String::new();
    for c in all {
        if ids.as_ref().is_none_or(|ids| ids.contains(&c.id)) {
            text.push_str(&c.info_line(now));
            text.push('\n');
        }
    }
    ctx.out.verbatim("txt", text.as_bytes());
    Ok(())
}

pub fn info(ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> CmdResult {
    let mut line = ctx.client.info_line(ctx.now_ms);
    line.push('\n');
    ctx.out.verbatim("txt", line.as_bytes());
    Ok(())
}

pub fn kill(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let me = ctx.client.id;
    if argv.len() == 3 {
        // Old form: CLIENT KILL addr:port → +OK or an error.
        let addr = String::from_utf8_lossy(&argv[2]).into_owned();
        let target = if ctx.client.addr.to_string() == addr {
            Some(me)
        } else {
            ctx.srv
                .clients
                .values()
                .find(|c| c.addr.to_string() == addr)
                .map(|c| c.id)
        };
        let Some(id) = target else {
            return Err("ERR No such client".into());
        };
        kill_one(ctx, id);
        ctx.out.ok();
        return Ok(());
    }
    let mut args = Args::new(&argv[2..]);
    let (mut id, mut addr, mut laddr, mut skipme) = (None, None, None, true);
    // TYPE: every Sluice client is a normal one (no replicas, masters or pub/sub clients).
    let mut type_normal = true;
    let mut user = None;
    while let Some(opt) = args.next_opt() {
        let Some(v) = args.next_opt() else {
            return Err(SYNTAX.into());
        };
        if eq(opt, "ID") {
            id = Some(
                crate::args::parse_i64(v)
                    .filter(|n| *n > 0)
                    .ok_or(ReplyError::from("ERR client-id should be greater than 0"))?
                    as u64,
            );
        } else if eq(opt, "ADDR") {
            addr = Some(String::from_utf8_lossy(v).into_owned());
        } else if eq(opt, "LADDR") {
            laddr = Some(String::from_utf8_lossy(v).into_owned());
        } else if eq(opt, "USER") {
            user = Some(v.clone());
        } else if eq(opt, "SKIPME") {
            skipme = if eq(v, "yes") {
                true
            } else if eq(v, "no") {
                false
            } else {
                return Err(SYNTAX.into());
            };
        } else if eq(opt, "TYPE") {
            if !(eq(v, "normal")
                || eq(v, "master")
                || eq(v, "replica")
                || eq(v, "slave")
                || eq(v, "pubsub"))
            {
                return Err(ReplyError::new(format!(
                    "ERR Unknown client type '{}'",
                    printable(v, 128)
                )));
            }
            type_normal = eq(v, "normal");
        } else {
            return Err(SYNTAX.into());
        }
    }
    if let Some(u) = &user {
        if u.as_ref() != b"default" {
            return Err(ReplyError::new(format!(
                "ERR No such user '{}'",
                printable(u, 128)
            )));
        }
    }
    let matches = |c: &crate::client::Client| {
        type_normal
            && id.is_none_or(|i| c.id == i)
            && addr.as_ref().is_none_or(|a| c.addr.to_string() == *a)
            && laddr.as_ref().is_none_or(|a| c.laddr.to_string() == *a)
    };
    let mut victims: Vec<u64> = ctx
        .srv
        .clients
        .values()
        .filter(|c| matches(c))
        .map(|c| c.id)
        .collect();
    if !skipme && matches(ctx.client) {
        victims.push(me);
    }
    for v in &victims {
        kill_one(ctx, *v);
    }
    ctx.out.int(victims.len() as i64);
    Ok(())
}

fn kill_one(ctx: &mut Ctx<'_>, id: u64) {
    if id == ctx.client.id {
        ctx.client.close_after_reply = true;
    } else {
        ctx.srv.kill.push(id);
    }
}

pub fn reply(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let mode = &argv[2];
    if eq(mode, "ON") {
        ctx.client.reply_mode = crate::client::ReplyMode::On;
        ctx.out.ok();
    } else if eq(mode, "OFF") {
        ctx.client.reply_mode = crate::client::ReplyMode::Off;
    } else if eq(mode, "SKIP") {
        if ctx.client.reply_mode != crate::client::ReplyMode::Off {
            ctx.client.reply_mode = crate::client::ReplyMode::Skip;
        }
    } else {
        return Err(SYNTAX.into());
    }
    Ok(())
}

/// Redis answers a CLIENT subcommand with the wrong number of arguments this way (its
/// subcommands check their own argument count).
fn wrong_args(argv: &[Bytes]) -> ReplyError {
    crate::reply::subcommand_syntax("CLIENT", &argv[1])
}

/// CLIENT PAUSE timeout [WRITE|ALL]: Redis's rules — a pause already in force keeps the more
/// restrictive mode and the later end; the mode is checked before the timeout.
pub fn pause(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    if argv.len() > 4 {
        return Err(wrong_args(argv));
    }
    let write_only = match argv.get(3) {
        None => false,
        Some(m) if eq(m, "WRITE") => true,
        Some(m) if eq(m, "ALL") => false,
        Some(_) => return Err("ERR CLIENT PAUSE mode must be WRITE or ALL".into()),
    };
    let ms = super::replication::timeout_ms(&argv[2], ctx.now_ms)?.unwrap_or(0);
    let end = std::time::Instant::now() + std::time::Duration::from_millis(ms);
    let p = match ctx.srv.holds.pause {
        Some(old) => Pause {
            end: old.end.max(end),
            write_only: old.write_only && write_only,
        },
        None => Pause { end, write_only },
    };
    tracing::debug!(
        client = ctx.client.id,
        ms,
        write_only = p.write_only,
        "client pause"
    );
    ctx.srv.holds.pause = Some(p);
    ctx.out.ok();
    Ok(())
}

/// CLIENT UNPAUSE: ends the pause; the held clients run this loop turn, in arrival order.
pub fn unpause(ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> CmdResult {
    if ctx.srv.holds.pause.take().is_some() {
        tracing::debug!(client = ctx.client.id, "client unpause");
    }
    release_paused(ctx.srv);
    ctx.out.ok();
    Ok(())
}

/// CLIENT UNBLOCK id [TIMEOUT|ERROR]: 1 if the client was blocked (XREAD, XREADGROUP,
/// GETJOB, WAIT, WAITAOF; not one held by CLIENT PAUSE), which then gets its timeout reply or
/// the UNBLOCKED error.
pub fn unblock(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    if argv.len() > 4 {
        return Err(wrong_args(argv));
    }
    let how = match argv.get(3) {
        None => Unblock::Timeout,
        Some(m) if eq(m, "TIMEOUT") => Unblock::Timeout,
        Some(m) if eq(m, "ERROR") => Unblock::Error,
        Some(_) => return Err("ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR".into()),
    };
    let id = crate::args::parse_i64(&argv[2]).ok_or(ReplyError::from(NOT_INTEGER))?;
    // The client running this command is not blocked (and is not in the table).
    let done = id > 0 && force_unblock(ctx.srv, id as u64, how);
    ctx.out.int(i64::from(done));
    Ok(())
}

fn on_off(argv: &[Bytes]) -> Result<bool, ReplyError> {
    if eq(&argv[2], "ON") {
        Ok(true)
    } else if eq(&argv[2], "OFF") {
        Ok(false)
    } else {
        Err(SYNTAX.into())
    }
}

/// CLIENT NO-EVICT ON|OFF: Sluice never evicts clients (`maxmemory-clients` is not
/// supported), so the flag only shows in CLIENT LIST (`e`), as it is kept.
pub fn no_evict(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    ctx.client.no_evict = on_off(argv)?;
    ctx.out.ok();
    Ok(())
}

/// CLIENT NO-TOUCH ON|OFF (Redis 7.2): while on, this client's commands leave keys' access
/// times (OBJECT IDLETIME, OBJECT FREQ) alone, except TOUCH, which still updates them.
pub fn no_touch(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    ctx.client.no_touch = on_off(argv)?;
    ctx.out.ok();
    Ok(())
}

pub fn help(ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> CmdResult {
    super::help_reply(
        ctx,
        "CLIENT",
        &[
            "GETNAME",
            "    Return the name of the current connection.",
            "ID",
            "    Return the ID of the current connection.",
            "INFO",
            "    Return information about the current client connection.",
            "KILL <ip:port>",
            "    Kill connection made from <ip:port>.",
            "KILL <option> <value> [<option> <value> [...]]",
            "    Kill connections. Options are:",
            "    * ADDR (<ip:port>|<unixsocket>:0)",
            "      Kill connections made from the specified address",
            "    * LADDR (<ip:port>|<unixsocket>:0)",
            "      Kill connections made to specified local address",
            "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
            "      Kill connections by type.",
            "    * USER <username>",
            "      Kill connections authenticated by <username>.",
            "    * SKIPME (YES|NO)",
            "      Skip killing current connection (default: yes).",
            "    * ID <client-id>",
            "      Kill connections by client id.",
            "LIST [options ...]",
            "    Return information about client connections. Options:",
            "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
            "      Return clients of specified type.",
            "UNPAUSE",
            "    Stop the current client pause, resuming traffic.",
            "PAUSE <timeout> [WRITE|ALL]",
            "    Suspend all, or just write, clients for <timeout> milliseconds.",
            "REPLY (ON|OFF|SKIP)",
            "    Control the replies sent to the current connection.",
            "SETNAME <name>",
            "    Assign the name <name> to the current connection.",
            "SETINFO <option> <value>",
            "    Set client meta attr. Options are:",
            "    * LIB-NAME: the client lib name.",
            "    * LIB-VER: the client lib version.",
            "UNBLOCK <clientid> [TIMEOUT|ERROR]",
            "    Unblock the specified blocked client.",
            "NO-EVICT (ON|OFF)",
            "    Protect current client connection from eviction.",
            "NO-TOUCH (ON|OFF)",
            "    Will not touch LRU/LFU stats when this mode is on.",
        ],
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// The table rows of this family (see `commands/mod.rs`).

pub static COMMANDS: &[Command] = &[container("client", &CLIENT_SUBCOMMANDS)
    .acl(&["@slow"])
    .doc(
        "connection",
        "2.4.0",
        "Depends on subcommand.",
        "A container for client connection commands",
    )];

const CLIENT_FLAGS: &[&str] = &["noscript", "loading", "stale"];

const CLIENT_ACL: &[&str] = &["@slow", "@connection"];

const CLIENT_ADMIN: &[&str] = &["admin", "noscript", "loading", "stale"];

const CLIENT_ADMIN_ACL: &[&str] = &["@admin", "@slow", "@dangerous", "@connection"];

pub static CLIENT_SUBCOMMANDS: [Command; 14] = [
    cmd("client|pause", -3, pause)
        .flags(CLIENT_ADMIN)
        .acl(CLIENT_ADMIN_ACL)
        .history(&[(
            "6.2.0",
            "`CLIENT PAUSE WRITE` mode added along with the `mode` option.",
        )])
        .doc(
            "connection",
            "2.9.50",
            "O(1)",
            "Stop processing commands from clients for some time",
        )
        .args(&[
            arg("timeout", "integer"),
            arg("mode", "oneof")
                .opt()
                .since("6.2.0")
                .of(&[tok("WRITE"), tok("ALL")]),
        ]),
    cmd("client|unpause", 2, unpause)
        .flags(CLIENT_ADMIN)
        .acl(CLIENT_ADMIN_ACL)
        .doc(
            "connection",
            "6.2.0",
            "O(N) Where N is the number of paused clients",
            "Resume processing of clients that were paused",
        ),
    cmd("client|unblock", -3, unblock)
        .flags(CLIENT_ADMIN)
        .acl(CLIENT_ADMIN_ACL)
        .doc(
            "connection",
            "5.0.0",
            "O(log N) where N is the number of client connections",
            "Unblock a client blocked in a blocking command from a different connection",
        )
        .args(&[
            arg("client-id", "integer"),
            arg("timeout_error", "oneof")
                .opt()
                .of(&[tok("TIMEOUT"), tok("ERROR")]),
        ]),
    cmd("client|no-evict", 3, no_evict)
        .flags(CLIENT_ADMIN)
        .acl(CLIENT_ADMIN_ACL)
        .doc(
            "connection",
            "7.0.0",
            "O(1)",
            "Set client eviction mode for the current connection",
        )
        .args(&[arg("enabled", "oneof").of(&[tok("ON"), tok("OFF")])]),
    cmd("client|no-touch", 3, no_touch)
        .flags(CLIENT_FLAGS)
        .acl(CLIENT_ACL)
        .doc(
            "connection",
            "7.2.0",
            "O(1)",
            "Controls whether commands sent by the client affect the LRU/LFU of accessed keys.",
        )
        .args(&[arg("enabled", "oneof").of(&[tok("ON"), tok("OFF")])]),
    cmd("client|reply", 3, reply)
        .flags(CLIENT_FLAGS)
        .acl(CLIENT_ACL)
        .doc(
            "connection",
            "3.2.0",
            "O(1)",
            "Instruct the server whether to reply to commands",
        )
        .args(&[arg("action", "oneof").of(&[tok("ON"), tok("OFF"), tok("SKIP")])]),
    cmd("client|id", 2, id)
        .flags(CLIENT_FLAGS)
        .acl(CLIENT_ACL)
        .doc(
            "connection",
            "5.0.0",
            "O(1)",
            "Returns the client ID for the current connection",
        ),
    cmd("client|setname", 3, setname)
        .flags(CLIENT_FLAGS)
        .acl(CLIENT_ACL)
        .doc(
            "connection",
            "2.6.9",
            "O(1)",
            "Set the current connection name",
        )
        .args(&[arg("connection-name", "string")]),
    cmd("client|getname", 2, getname)
        .flags(CLIENT_FLAGS)
        .acl(CLIENT_ACL)
        .doc(
            "connection",
            "2.6.9",
            "O(1)",
            "Get the current connection name",
        ),
    cmd("client|setinfo", 4, setinfo)
        .flags(CLIENT_FLAGS)
        .acl(CLIENT_ACL)
        .doc(
            "connection",
            "7.2.0",
            "O(1)",
            "Set client or connection specific info",
        )
        .args(&[arg("attr", "oneof").of(&[
            arg("libname", "string").token("LIB-NAME"),
            arg("libver", "string").token("LIB-VER"),
        ])]),
    cmd("client|list", -2, list)
        .tips(&["nondeterministic_output"])
        .flags(CLIENT_FLAGS)
        .acl(&["@admin", "@slow", "@dangerous", "@connection"])
        .doc(
            "connection",
            "2.4.0",
            "O(N) where N is the number of client connections",
            "Get the list of client connections",
        ),
    cmd("client|info", 2, info)
        .tips(&["nondeterministic_output"])
        .flags(CLIENT_FLAGS)
        .acl(CLIENT_ACL)
        .doc(
            "connection",
            "6.2.0",
            "O(1)",
            "Returns information about the current client connection.",
        ),
    cmd("client|kill", -3, kill)
        .flags(&["admin", "noscript", "loading", "stale"])
        .acl(&["@admin", "@slow", "@dangerous", "@connection"])
        .doc(
            "connection",
            "2.4.0",
            "O(N) where N is the number of client connections",
            "Kill the connection of a client",
        ),
    cmd("client|help", 2, help)
        .flags(&["loading", "stale"])
        .acl(CLIENT_ACL)
        .doc(
            "connection",
            "5.0.0",
            "O(1)",
            "Show helpful text about the different subcommands",
        ),
];
