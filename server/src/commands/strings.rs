//! String commands: GET, SET, SETNX, INCR/INCRBY/DECR/DECRBY, MGET, MSET — enough for the locks
//! and counters that job-queue code keeps beside its streams. Values live in memory and in the
//! `keys` keyspace (write-through).

use bytes::Bytes;
use sluice_storage::{Entry, Value};

use super::common::*;
use crate::args::{eq, parse_i64, Args};
use crate::engine::Ctx;
use crate::reply::{wrong_arity, CmdResult, ReplyError, NOT_INTEGER, OVERFLOW, SYNTAX, WRONGTYPE};

/// The string at `key`: `Ok(None)` if missing, WRONGTYPE if another type.
pub fn get_string(ctx: &mut Ctx<'_>, key: &[u8]) -> Result<Option<Bytes>, ReplyError> {
    let db = ctx.db();
    match ctx.store.lookup(db, key, ctx.now_ms) {
        None => {
            ctx.srv.stats.keyspace_misses += 1;
            Ok(None)
        }
        Some(Entry {
            value: Value::String(s),
            ..
        }) => {
            let s = s.clone();
            ctx.srv.stats.keyspace_hits += 1;
            Ok(Some(s))
        }
        #[allow(unreachable_patterns)]
        Some(_) => Err(WRONGTYPE.into()),
    }
}

pub fn get(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    match get_string(ctx, &argv[1])? {
        Some(v) => ctx.out.bulk(&v),
        None => ctx.out.null(),
    }
    Ok(())
}

#[derive(PartialEq, Clone, Copy)]
enum Cond {
    Always,
    Nx,
    Xx,
}

enum Ttl {
    None,
    Keep,
    At(u64),
}

/// Turns an EX/PX/EXAT/PXAT argument into an absolute ms time, with Redis's checks.
fn expire_at(
    ctx: &Ctx<'_>,
    unit_ms: i64,
    absolute: bool,
    v: &[u8],
    cmd: &str,
) -> Result<u64, ReplyError> {
    let invalid = || ReplyError::new(format!("ERR invalid expire time in '{cmd}' command"));
    let n = parse_i64(v).ok_or(ReplyError::from(NOT_INTEGER))?;
    if n <= 0 {
        return Err(invalid());
    }
    let ms = n.checked_mul(unit_ms).ok_or_else(invalid)?;
    if absolute {
        Ok(ms as u64)
    } else {
        (ms as u64)
            .checked_add(ctx.now_ms)
            .filter(|v| *v <= i64::MAX as u64)
            .ok_or_else(invalid)
    }
}

pub fn set(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let key = &argv[1];
    let value = &argv[2];
    let mut cond = Cond::Always;
    let mut keep_ttl = false;
    // The last EX/PX/EXAT/PXAT given: its name and value. Redis lets an option repeat (the last
    // one wins) but not combine with another expiry option, and checks the value after parsing.
    let mut expiry: Option<(&str, &Bytes)> = None;
    let mut get = false;
    let mut args = Args::new(&argv[3..]);
    while let Some(opt) = args.next_opt() {
        let kind = ["EX", "PX", "EXAT", "PXAT"]
            .into_iter()
            .find(|k| eq(opt, k));
        if eq(opt, "NX") && cond != Cond::Xx {
            cond = Cond::Nx;
        } else if eq(opt, "XX") && cond != Cond::Nx {
            cond = Cond::Xx;
        } else if eq(opt, "GET") {
            get = true;
        } else if eq(opt, "KEEPTTL") && expiry.is_none() {
            keep_ttl = true;
        } else if let Some(kind) =
            kind.filter(|k| !keep_ttl && expiry.is_none_or(|(prev, _)| prev == *k))
        {
            let Some(v) = args.next_opt() else {
                return Err(SYNTAX.into());
            };
            expiry = Some((kind, v));
        } else {
            return Err(SYNTAX.into());
        }
    }
    let ttl = match expiry {
        Some((kind, v)) => {
            let (unit, abs) = match kind {
                "EX" => (1000, false),
                "PX" => (1, false),
                "EXAT" => (1000, true),
                _ => (1, true),
            };
            Ttl::At(expire_at(ctx, unit, abs, v, "set")?)
        }
        None if keep_ttl => Ttl::Keep,
        None => Ttl::None,
    };
    let db = ctx.db();
    let old = if get { get_string(ctx, key)? } else { None };
    let existing = ctx.store.lookup(db, key, ctx.now_ms).map(|e| e.expire_at);
    let proceed = match cond {
        Cond::Always => true,
        Cond::Nx => existing.is_none(),
        Cond::Xx => existing.is_some(),
    };
    if proceed {
        let expire_at = match ttl {
            Ttl::None => None,
            Ttl::Keep => existing.flatten(),
            Ttl::At(at) => Some(at),
        };
        ctx.store.put(
            db,
            key.clone(),
            Entry {
                value: Value::String(value.clone()),
                expire_at,
            },
        );
    }
    if get {
        match old {
            Some(v) => ctx.out.bulk(&v),
            None => ctx.out.null(),
        }
    } else if proceed {
        ctx.out.ok();
    } else {
        ctx.out.null();
    }
    Ok(())
}

pub fn setnx(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let db = ctx.db();
    if ctx.store.lookup(db, &argv[1], ctx.now_ms).is_some() {
        ctx.out.int(0);
    } else {
        ctx.store.put(
            db,
            argv[1].clone(),
            Entry {
                value: Value::String(argv[2].clone()),
                expire_at: None,
            },
        );
        ctx.out.int(1);
    }
    Ok(())
}

fn incr_by(ctx: &mut Ctx<'_>, key: &Bytes, by: i64) -> CmdResult {
    let db = ctx.db();
    let (current, expire_at) = match ctx.store.lookup(db, key, ctx.now_ms) {
        None => (0, None),
        Some(Entry {
            value: Value::String(s),
            expire_at,
        }) => (
            parse_i64(s).ok_or(ReplyError::from(NOT_INTEGER))?,
            *expire_at,
        ),
        #[allow(unreachable_patterns)]
        Some(_) => return Err(WRONGTYPE.into()),
    };
    let new = current.checked_add(by).ok_or(ReplyError::from(OVERFLOW))?;
    ctx.store.put(
        db,
        key.clone(),
        Entry {
            value: Value::String(Bytes::from(new.to_string())),
            expire_at,
        },
    );
    ctx.out.int(new);
    Ok(())
}

pub fn incr(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    incr_by(ctx, &argv[1], 1)
}

pub fn decr(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    incr_by(ctx, &argv[1], -1)
}

pub fn incrby(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let by = crate::args::int(&argv[2])?;
    incr_by(ctx, &argv[1], by)
}

pub fn decrby(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let by = crate::args::int(&argv[2])?;
    if by == i64::MIN {
        return Err("ERR decrement would overflow".into());
    }
    incr_by(ctx, &argv[1], -by)
}

pub fn mget(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    ctx.out.array(argv.len() - 1);
    let db = ctx.db();
    for key in &argv[1..] {
        match ctx.store.lookup(db, key, ctx.now_ms) {
            Some(Entry {
                value: Value::String(s),
                ..
            }) => {
                let s = s.clone();
                ctx.out.bulk(&s);
            }
            _ => ctx.out.null(),
        }
    }
    Ok(())
}

pub fn mset(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    if argv.len().is_multiple_of(2) {
        return Err(wrong_arity("mset"));
    }
    let db = ctx.db();
    for pair in argv[1..].chunks_exact(2) {
        ctx.store.put(
            db,
            pair[0].clone(),
            Entry {
                value: Value::String(pair[1].clone()),
                expire_at: None,
            },
        );
    }
    ctx.out.ok();
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// The table rows of this family (see `commands/mod.rs`).

pub static COMMANDS: &[Command] = &[
    cmd("get", 2, get)
        .flags(&["readonly", "fast"])
        .keys(1, 1, 1, RO)
        .acl(&["@read", "@string", "@fast"])
        .doc("string", "1.0.0", "O(1)", "Get the value of a key")
        .args(&[arg("key", "key")]),
    cmd("set", -3, set)
        .flags(&["write", "denyoom"])
        .keys(
            1,
            1,
            1,
            &[ks(&["RW", "access", "update", "variable_flags"], 1, 0, 1)
                .notes("RW and ACCESS due to the optional `GET` argument")],
        )
        .acl(&["@write", "@string", "@slow"])
        .doc("string", "1.0.0", "O(1)", "Set the string value of a key")
        .history(&[
            ("2.6.12", "Added the `EX`, `PX`, `NX` and `XX` options."),
            ("6.0.0", "Added the `KEEPTTL` option."),
            ("6.2.0", "Added the `GET`, `EXAT` and `PXAT` option."),
            (
                "7.0.0",
                "Allowed the `NX` and `GET` options to be used together.",
            ),
        ])
        .args(&[
            arg("key", "key"),
            arg("value", "string"),
            arg("condition", "oneof")
                .since("2.6.12")
                .opt()
                .of(&[tok("NX"), tok("XX")]),
            tok("GET").since("6.2.0").opt(),
            arg("expiration", "oneof").opt().of(&[
                arg("seconds", "integer").token("EX").since("2.6.12"),
                arg("milliseconds", "integer").token("PX").since("2.6.12"),
                arg("unix-time-seconds", "unix-time")
                    .token("EXAT")
                    .since("6.2.0"),
                arg("unix-time-milliseconds", "unix-time")
                    .token("PXAT")
                    .since("6.2.0"),
                tok("KEEPTTL").since("6.0.0"),
            ]),
        ]),
    cmd("setnx", 3, setnx)
        .flags(&["write", "denyoom", "fast"])
        .keys(1, 1, 1, &[ks(&["OW", "insert"], 1, 0, 1)])
        .acl(&["@write", "@string", "@fast"])
        .doc(
            "string",
            "1.0.0",
            "O(1)",
            "Set the value of a key, only if the key does not exist",
        )
        .args(&[arg("key", "key"), arg("value", "string")]),
    cmd("incr", 2, incr)
        .flags(&["write", "denyoom", "fast"])
        .keys(1, 1, 1, RW_ACCESS_UPDATE)
        .acl(&["@write", "@string", "@fast"])
        .doc(
            "string",
            "1.0.0",
            "O(1)",
            "Increment the integer value of a key by one",
        )
        .args(&[arg("key", "key")]),
    cmd("decr", 2, decr)
        .flags(&["write", "denyoom", "fast"])
        .keys(1, 1, 1, RW_ACCESS_UPDATE)
        .acl(&["@write", "@string", "@fast"])
        .doc(
            "string",
            "1.0.0",
            "O(1)",
            "Decrement the integer value of a key by one",
        )
        .args(&[arg("key", "key")]),
    cmd("incrby", 3, incrby)
        .flags(&["write", "denyoom", "fast"])
        .keys(1, 1, 1, RW_ACCESS_UPDATE)
        .acl(&["@write", "@string", "@fast"])
        .doc(
            "string",
            "1.0.0",
            "O(1)",
            "Increment the integer value of a key by the given amount",
        )
        .args(&[arg("key", "key"), arg("increment", "integer")]),
    cmd("decrby", 3, decrby)
        .flags(&["write", "denyoom", "fast"])
        .keys(1, 1, 1, RW_ACCESS_UPDATE)
        .acl(&["@write", "@string", "@fast"])
        .doc(
            "string",
            "1.0.0",
            "O(1)",
            "Decrement the integer value of a key by the given number",
        )
        .args(&[arg("key", "key"), arg("decrement", "integer")]),
    cmd("mget", -2, mget)
        .tips(&["request_policy:multi_shard"])
        .flags(&["readonly", "fast"])
        .keys(1, -1, 1, RO_ACCESS_ALL)
        .acl(&["@read", "@string", "@fast"])
        .doc(
            "string",
            "1.0.0",
            "O(N) where N is the number of keys to retrieve.",
            "Get the values of all the given keys",
        )
        .args(&[arg("key", "key").many()]),
    cmd("mset", -3, mset)
        .tips(&[
            "request_policy:multi_shard",
            "response_policy:all_succeeded",
        ])
        .flags(&["write", "denyoom"])
        .keys(1, -1, 2, &[ks(&["OW", "update"], 1, -1, 2)])
        .acl(&["@write", "@string", "@slow"])
        .doc(
            "string",
            "1.0.1",
            "O(N) where N is the number of keys to set.",
            "Set multiple keys to multiple values",
        )
        .args(&[arg("data", "block")
            .many()
            .of(&[arg("key", "key"), arg("value", "string")])]),
];
