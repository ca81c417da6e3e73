//! Connection commands: PING, ECHO, HELLO, AUTH, SELECT, QUIT, RESET.

use bytes::Bytes;
use sluice_resp::Protocol;

use super::common::*;
use crate::args::{eq, Args};
use crate::engine::Ctx;
use crate::reply::{wrong_arity, CmdResult, ReplyError, SYNTAX};

pub fn ping(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    match argv.len() {
        1 => ctx.out.simple("PONG"),
        2 => ctx.out.bulk(&argv[1]),
        _ => return Err(wrong_arity("ping")),
    }
    Ok(())
}

pub fn echo(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    ctx.out.bulk(&argv[1]);
    Ok(())
}

const WRONGPASS: &str = "WRONGPASS invalid username-password pair or user is disabled.";

/// Checks `user`/`pass` against `requirepass` (only the `default` user exists).
fn check_auth(ctx: &Ctx<'_>, user: &[u8], pass: &[u8]) -> Result<(), ReplyError> {
    let ok = user == b"default"
        && match &ctx.srv.config.requirepass {
            Some(p) => constant_time_eq(p.as_bytes(), pass),
            None => true,
        };
    if ok {
        Ok(())
    } else {
        Err(WRONGPASS.into())
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

pub fn auth(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let (user, pass): (&[u8], &[u8]) = match argv.len() {
        2 => {
            if ctx.srv.config.requirepass.is_none() {
                return Err("ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?".into());
            }
            (b"default", &argv[1])
        }
        3 => (&argv[1], &argv[2]),
        _ => return Err(SYNTAX.into()),
    };
    check_auth(ctx, user, pass)?;
    ctx.client.authenticated = true;
    ctx.out.ok();
    Ok(())
}

pub fn hello(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    if argv.len() == 1 && super::jobs::is_disque_client(ctx) {
        return super::jobs::disque_hello(ctx);
    }
    let mut args = Args::new(&argv[1..]);
    let mut proto = ctx.client.proto;
    if let Some(v) = args.next_opt() {
        let n = crate::args::parse_i64(v).ok_or(ReplyError::from(
            "ERR Protocol version is not an integer or out of range",
        ))?;
        proto = match n {
            2 => Protocol::Resp2,
            3 => Protocol::Resp3,
            _ => return Err("NOPROTO unsupported protocol version".into()),
        };
    }
    while let Some(opt) = args.next_opt() {
        if eq(opt, "AUTH") && args.remaining() >= 2 {
            let user = args.next()?;
            let pass = args.next()?;
            check_auth(ctx, user, pass)?;
            ctx.client.authenticated = true;
        } else if eq(opt, "SETNAME") && args.remaining() >= 1 {
            let n = args.next()?;
            super::client::validate_name(n)?;
            // Redis applies the name as it parses, before it looks at later options.
            ctx.client.name = (!n.is_empty()).then(|| n.clone());
        } else {
            return Err(ReplyError::new(format!(
                "ERR Syntax error in HELLO option '{}'",
                crate::reply::printable(opt, 128)
            )));
        }
    }
    if !ctx.client.authenticated {
        return Err("NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time".into());
    }
    ctx.client.proto = proto;
    ctx.out.set_protocol(proto);
    let out = &mut *ctx.out;
    out.map(7);
    out.bulk(b"server");
    out.bulk(b"redis");
    out.bulk(b"version");
    out.bulk(crate::commands::info::reported_version().0.as_bytes());
    out.bulk(b"proto");
    out.int(proto.version());
    out.bulk(b"id");
    out.int(ctx.client.id as i64);
    out.bulk(b"mode");
    out.bulk(b"standalone");
    out.bulk(b"role");
    out.bulk(b"master");
    out.bulk(b"modules");
    out.array(0);
    Ok(())
}

pub fn select(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let n = crate::args::int(&argv[1])?;
    // Redis reads the index as a C int (`getIntFromObjectOrReply`).
    if i32::try_from(n).is_err() {
        return Err(
            "ERR value is out of range, value must between -2147483648 and 2147483647".into(),
        );
    }
    if n < 0 || n as usize >= ctx.store.databases() {
        return Err("ERR DB index is out of range".into());
    }
    ctx.client.db = n as usize;
    ctx.out.ok();
    Ok(())
}

pub fn quit(ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> CmdResult {
    ctx.out.ok();
    ctx.client.close_after_reply = true;
    Ok(())
}

pub fn reset(ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> CmdResult {
    super::multi::discard_transaction(ctx);
    super::multi::unwatch_client(ctx);
    ctx.client.db = 0;
    ctx.client.proto = Protocol::Resp2;
    ctx.out.set_protocol(Protocol::Resp2);
    ctx.client.name = None;
    ctx.client.authenticated = ctx.srv.config.requirepass.is_none();
    if std::mem::take(&mut ctx.client.monitor) {
        let id = ctx.client.id;
        ctx.srv.observers.monitors.retain(|m| *m != id);
    }
    ctx.out.simple("RESET");
    Ok(())
}

/// SHUTDOWN [NOSAVE|SAVE] [NOW] [FORCE]: a clean stop (every write is already in the journal,
/// so SAVE and NOSAVE mean the same). The connection is closed without a reply, as Redis does.
pub fn shutdown(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    // Redis parses every flag first: ABORT with any other flag, or NOSAVE with SAVE, is a
    // syntax error.
    let (mut nosave, mut save, mut other, mut abort) = (false, false, false, false);
    for a in &argv[1..] {
        if eq(a, "NOSAVE") {
            nosave = true;
        } else if eq(a, "SAVE") {
            save = true;
        } else if eq(a, "NOW") || eq(a, "FORCE") {
            other = true;
        } else if eq(a, "ABORT") {
            abort = true;
        } else {
            return Err(SYNTAX.into());
        }
    }
    if (abort && (nosave || save || other)) || (nosave && save) {
        return Err(SYNTAX.into());
    }
    if abort {
        return Err("ERR No shutdown in progress.".into());
    }
    ctx.srv.shutdown_requested = true;
    ctx.client.close_after_reply = true;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// The table rows of this family (see `commands/mod.rs`).

pub static COMMANDS: &[Command] = &[
    cmd("ping", -1, ping)
        .tips(&["request_policy:all_shards", "response_policy:all_succeeded"])
        .flags(&["fast"])
        .acl(&["@fast", "@connection"])
        .doc("connection", "1.0.0", "O(1)", "Ping the server")
        .args(&[arg("message", "string").opt()]),
    cmd("echo", 2, echo)
        .flags(&["fast"])
        .acl(&["@fast", "@connection"])
        .doc("connection", "1.0.0", "O(1)", "Echo the given string")
        .args(&[arg("message", "string")]),
    cmd("hello", -1, hello)
        .flags(CONN)
        .acl(&["@fast", "@connection"])
        .doc("connection", "6.0.0", "O(1)", "Handshake with Redis")
        .args(&[arg("arguments", "block").opt().of(&[
            arg("protover", "integer"),
            arg("username_password", "block")
                .token("AUTH")
                .opt()
                .of(&[arg("username", "string"), arg("password", "string")]),
            arg("clientname", "string").token("SETNAME").opt(),
        ])]),
    cmd("auth", -2, auth)
        .flags(CONN)
        .acl(&["@fast", "@connection"])
        .doc(
            "connection",
            "1.0.0",
            "O(N) where N is the number of passwords defined for the user",
            "Authenticate to the server",
        )
        .args(&[arg("username", "string").opt(), arg("password", "string")]),
    cmd("select", 2, select)
        .flags(&["loading", "stale", "fast"])
        .acl(&["@fast", "@connection"])
        .doc(
            "connection",
            "1.0.0",
            "O(1)",
            "Change the selected database for the current connection",
        )
        .args(&[arg("index", "integer")]),
    cmd("quit", -1, quit)
        .flags(&[
            "noscript",
            "loading",
            "stale",
            "fast",
            "no_auth",
            "allow_busy",
        ])
        .acl(&["@fast", "@connection"])
        .doc("connection", "1.0.0", "O(1)", "Close the connection"),
    cmd("reset", 1, reset)
        .flags(CONN)
        .acl(&["@fast", "@connection"])
        .doc("connection", "6.2.0", "O(1)", "Reset the connection"),
    cmd("shutdown", -1, shutdown)
        .flags(&["admin", "noscript", "loading", "stale", "no_multi", "allow_busy"])
        .acl(&["@admin", "@slow", "@dangerous"])
        .doc("server", "1.0.0", "O(N) when saving, where N is the total number of keys in all databases when saving data, otherwise O(1)", "Synchronously save the dataset to disk and then shut down the server")
        .args(&[
            arg("nosave-save", "oneof").opt().of(&[tok("NOSAVE"), tok("SAVE")]),
            tok("NOW").since("7.0.0").opt(),
            tok("FORCE").since("7.0.0").opt(),
            tok("ABORT").since("7.0.0").opt(),
        ]),
];
