//! String commands: GET, SET, SETNX, SETEX, PSETEX, GETEX, GETDEL, GETSET, APPEND, STRLEN,
//! GETRANGE, SETRANGE, INCR/INCRBY/DECR/DECRBY, INCRBYFLOAT, MGET, MSET, MSETNX — the locks and
//! counters that job-queue code keeps beside its streams, and what redis-cli's `--bigkeys` asks.
//! Values live in memory and in the `keys` keyspace (write-through). INCRBYFLOAT's arithmetic is
//! in C (`csrc/longdouble.c`): Redis computes in `long double` and prints 17 decimals, Rust has
//! no such type, and an f64 result would differ from Redis's in the last digits.

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
        put_string(ctx, &argv[1], argv[2].clone(), None);
        ctx.out.int(1);
    }
    Ok(())
}

fn incr_by(ctx: &mut Ctx<'_>, key: &Bytes, by: i64) -> CmdResult {
    let (current, expire_at) = match string_and_expiry(ctx, key)? {
        None => (0, None),
        Some((s, expire_at)) => (
            parse_i64(&s).ok_or(ReplyError::from(NOT_INTEGER))?,
            expire_at,
        ),
    };
    let new = current.checked_add(by).ok_or(ReplyError::from(OVERFLOW))?;
    put_string(ctx, key, Bytes::from(new.to_string()), expire_at);
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

mod longdouble {
    use std::os::raw::{c_char, c_long};

    extern "C" {
        fn sluice_incrbyfloat(
            cur: *const c_char,
            curlen: usize,
            incr: *const c_char,
            incrlen: usize,
            out: *mut c_char,
            outlen: usize,
        ) -> c_long;
        fn sluice_ld_chars() -> usize;
    }

    /// Why an INCRBYFLOAT cannot be done.
    #[derive(Debug, PartialEq, Eq)]
    pub enum Refused {
        /// The stored value or the increment does not parse as Redis's `string2ld`.
        NotAFloat,
        /// The sum is NaN or infinite.
        NanOrInfinity,
    }

    /// `current` (missing: 0) plus `incr` in C's `long double`, printed as Redis prints it.
    pub fn incr_by_float(current: Option<&[u8]>, incr: &[u8]) -> Result<Vec<u8>, Refused> {
        // SAFETY: a pure function of its inputs; both slices are valid for their lengths (C
        // copies at most that many bytes, after checking them against its buffer), and `out`
        // has the length passed. It writes at most `outlen` bytes and returns how many.
        unsafe {
            let mut out = vec![0u8; sluice_ld_chars()];
            let (cur, curlen) = match current {
                Some(c) => (c.as_ptr() as *const c_char, c.len()),
                None => (std::ptr::null(), 0),
            };
            let n = sluice_incrbyfloat(
                cur,
                curlen,
                incr.as_ptr() as *const c_char,
                incr.len(),
                out.as_mut_ptr() as *mut c_char,
                out.len(),
            );
            match n {
                -3 => Err(Refused::NanOrInfinity),
                n if n > 0 && (n as usize) < out.len() => {
                    out.truncate(n as usize);
                    Ok(out)
                }
                // -1, -2; -4 (no room) cannot happen with `sluice_ld_chars()` bytes, and if it
                // did, refusing is what Redis's empty result would not be, but it loses nothing.
                _ => Err(Refused::NotAFloat),
            }
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        fn add(cur: Option<&str>, by: &str) -> Result<String, Refused> {
            incr_by_float(cur.map(str::as_bytes), by.as_bytes())
                .map(|v| String::from_utf8(v).expect("ascii"))
        }

        #[test]
        fn prints_as_redis_long_double() {
            // Values from Redis's own tests (unit/type/incr.tcl) and its documentation.
            assert_eq!(add(None, "1").as_deref(), Ok("1"));
            assert_eq!(add(Some("10.50"), "0.1").as_deref(), Ok("10.6"));
            assert_eq!(add(Some("5.0e3"), "2.0e2").as_deref(), Ok("5200"));
            assert_eq!(add(Some("10"), "-1.1").as_deref(), Ok("8.9"));
            assert_eq!(
                add(Some("17179869184"), "1.5").as_deref(),
                Ok("17179869185.5")
            );
            assert_eq!(add(None, "-0.000000000000000001").as_deref(), Ok("0"));
            assert_eq!(add(Some("1"), "0x10").as_deref(), Ok("17"));
        }

        #[test]
        fn refuses_what_redis_refuses() {
            for bad in [
                "", " 1", "1 ", "1\x001", "nan", "abc", "1e99999", "-1e99999", "1e-99999",
            ] {
                assert_eq!(add(None, bad), Err(Refused::NotAFloat), "{bad:?}");
            }
            assert_eq!(add(Some("x"), "1"), Err(Refused::NotAFloat));
            assert_eq!(add(Some("inf"), "1"), Err(Refused::NanOrInfinity));
            assert_eq!(
                add(Some("1.1e4932"), "1.1e4932"),
                Err(Refused::NanOrInfinity)
            );
            let long = "1".repeat(5 * 1024);
            assert_eq!(add(None, &long), Err(Refused::NotAFloat));
            let max = add(None, "1.1e4932").expect("finite");
            assert!(max.len() > 4900 && max.len() < 5 * 1024, "{}", max.len());
        }
    }
}

/// INCRBYFLOAT key increment (Redis 7.0: the type check, then the stored value's parse, then
/// the increment's; the TTL is kept; the reply is the new value as a bulk string).
pub fn incrbyfloat(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let key = &argv[1];
    let (current, expire_at) = match string_and_expiry(ctx, key)? {
        None => (None, None),
        Some((s, expire_at)) => (Some(s), expire_at),
    };
    let new = longdouble::incr_by_float(current.as_deref(), &argv[2]).map_err(|e| match e {
        longdouble::Refused::NotAFloat => ReplyError::from("ERR value is not a valid float"),
        longdouble::Refused::NanOrInfinity => {
            ReplyError::from("ERR increment would produce NaN or Infinity")
        }
    })?;
    let new = Bytes::from(new);
    put_string(ctx, key, new.clone(), expire_at);
    ctx.out.bulk(&new);
    Ok(())
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
    for pair in argv[1..].chunks_exact(2) {
        put_string(ctx, &pair[0], pair[1].clone(), None);
    }
    ctx.out.ok();
    Ok(())
}

fn put_string(ctx: &mut Ctx<'_>, key: &Bytes, value: Bytes, expire_at: Option<u64>) {
    let db = ctx.db();
    ctx.store.put(
        db,
        key.clone(),
        Entry {
            value: Value::String(value),
            expire_at,
        },
    );
}

/// The string at `key` and its expiry, for commands that rewrite it in place.
fn string_and_expiry(
    ctx: &mut Ctx<'_>,
    key: &[u8],
) -> Result<Option<(Bytes, Option<u64>)>, ReplyError> {
    let db = ctx.db();
    match ctx.store.lookup(db, key, ctx.now_ms) {
        None => Ok(None),
        Some(Entry {
            value: Value::String(s),
            expire_at,
        }) => Ok(Some((s.clone(), *expire_at))),
        #[allow(unreachable_patterns)]
        Some(_) => Err(WRONGTYPE.into()),
    }
}

/// Redis's `checkStringLength`: a value may not grow past `proto-max-bulk-len`.
fn check_length(ctx: &Ctx<'_>, len: u64) -> Result<(), ReplyError> {
    if len > ctx.srv.config.proto_max_bulk_len {
        return Err("ERR string exceeds maximum allowed size (proto-max-bulk-len)".into());
    }
    Ok(())
}

pub fn strlen(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let n = get_string(ctx, &argv[1])?.map_or(0, |v| v.len());
    ctx.out.int(n as i64);
    Ok(())
}

fn set_with_expiry(ctx: &mut Ctx<'_>, argv: &[Bytes], unit_ms: i64, name: &str) -> CmdResult {
    let at = expire_at(ctx, unit_ms, false, &argv[2], name)?;
    put_string(ctx, &argv[1], argv[3].clone(), Some(at));
    ctx.out.ok();
    Ok(())
}

pub fn setex(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    set_with_expiry(ctx, argv, 1000, "setex")
}

pub fn psetex(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    set_with_expiry(ctx, argv, 1, "psetex")
}

/// GETEX key [EX s | PX ms | EXAT t | PXAT t | PERSIST]: options are parsed first, then the key
/// is looked up (missing: null; another type: WRONGTYPE), then the time is checked — Redis's
/// order.
pub fn getex(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    enum Change<'a> {
        None,
        Persist,
        At(&'static str, &'a Bytes),
    }
    let mut change = Change::None;
    let mut args = Args::new(&argv[2..]);
    while let Some(opt) = args.next_opt() {
        let kind = ["EX", "PX", "EXAT", "PXAT"]
            .into_iter()
            .find(|k| eq(opt, k));
        match (&change, kind) {
            (Change::None | Change::Persist, None) if eq(opt, "PERSIST") => {
                change = Change::Persist;
            }
            (Change::None, Some(k)) => {
                let Some(v) = args.next_opt() else {
                    return Err(SYNTAX.into());
                };
                change = Change::At(k, v);
            }
            // The same option again: the last value wins, as in Redis.
            (Change::At(prev, _), Some(k)) if *prev == k => {
                let Some(v) = args.next_opt() else {
                    return Err(SYNTAX.into());
                };
                change = Change::At(k, v);
            }
            _ => return Err(SYNTAX.into()),
        }
    }
    let Some((value, _)) = string_and_expiry(ctx, &argv[1])? else {
        ctx.out.null();
        return Ok(());
    };
    let at = match change {
        Change::At(kind, v) => {
            let (unit, abs) = match kind {
                "EX" => (1000, false),
                "PX" => (1, false),
                "EXAT" => (1000, true),
                _ => (1, true),
            };
            Some(expire_at(ctx, unit, abs, v, "getex")?)
        }
        _ => None,
    };
    ctx.out.bulk(&value);
    let db = ctx.db();
    match (change, at) {
        // An absolute time already past deletes the key, as Redis does.
        (Change::At(_, _), Some(at)) if at <= ctx.now_ms => {
            ctx.store.delete(db, &argv[1]);
        }
        (_, Some(at)) => {
            ctx.store.set_expire(db, &argv[1], Some(at));
        }
        (Change::Persist, _) => {
            ctx.store.set_expire(db, &argv[1], None);
        }
        _ => {}
    }
    Ok(())
}

pub fn getdel(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    match get_string(ctx, &argv[1])? {
        Some(v) => {
            ctx.out.bulk(&v);
            let db = ctx.db();
            ctx.store.delete(db, &argv[1]);
        }
        None => ctx.out.null(),
    }
    Ok(())
}

/// GETSET: the old value (or null), then the new one is set without an expiry.
pub fn getset(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    match get_string(ctx, &argv[1])? {
        Some(v) => ctx.out.bulk(&v),
        None => ctx.out.null(),
    }
    put_string(ctx, &argv[1], argv[2].clone(), None);
    Ok(())
}

/// APPEND: creates the key if missing; keeps its expiry.
pub fn append(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let (value, expire_at) = match string_and_expiry(ctx, &argv[1])? {
        None => (argv[2].clone(), None),
        Some((old, expire_at)) => {
            check_length(ctx, old.len() as u64 + argv[2].len() as u64)?;
            let mut v = Vec::with_capacity(old.len() + argv[2].len());
            v.extend_from_slice(&old);
            v.extend_from_slice(&argv[2]);
            (Bytes::from(v), expire_at)
        }
    };
    let len = value.len();
    put_string(ctx, &argv[1], value, expire_at);
    ctx.out.int(len as i64);
    Ok(())
}

/// GETRANGE with Redis 7.0's index rules (negative from the end, clamped; nothing when the
/// range is empty). The integers are parsed before the key is looked up.
pub fn getrange(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let start = crate::args::int(&argv[2])?;
    let end = crate::args::int(&argv[3])?;
    let value = get_string(ctx, &argv[1])?.unwrap_or_default();
    let len = value.len() as i64;
    if start < 0 && end < 0 && start > end {
        ctx.out.bulk(b"");
        return Ok(());
    }
    let start = if start < 0 { len + start } else { start }.max(0);
    let end = if end < 0 { len + end } else { end }.max(0).min(len - 1);
    if start > end || len == 0 {
        ctx.out.bulk(b"");
    } else {
        ctx.out.bulk(&value[start as usize..=end as usize]);
    }
    Ok(())
}

/// SETRANGE: pads with zero bytes; an empty value changes nothing (and creates nothing).
pub fn setrange(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let offset = crate::args::int(&argv[2])?;
    if offset < 0 {
        return Err("ERR offset is out of range".into());
    }
    let offset = offset as u64;
    let patch = &argv[3];
    let (old, expire_at) = match string_and_expiry(ctx, &argv[1])? {
        None if patch.is_empty() => {
            ctx.out.int(0);
            return Ok(());
        }
        None => (Bytes::new(), None),
        Some((old, _)) if patch.is_empty() => {
            ctx.out.int(old.len() as i64);
            return Ok(());
        }
        Some(found) => found,
    };
    let end = offset + patch.len() as u64;
    check_length(ctx, end)?;
    let (offset, end) = (offset as usize, end as usize);
    let mut v = old.to_vec();
    if v.len() < end {
        v.resize(end, 0);
    }
    v[offset..end].copy_from_slice(patch);
    let len = v.len();
    put_string(ctx, &argv[1], Bytes::from(v), expire_at);
    ctx.out.int(len as i64);
    Ok(())
}

pub fn msetnx(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    if argv.len().is_multiple_of(2) {
        return Err(wrong_arity("msetnx"));
    }
    let db = ctx.db();
    let now = ctx.now_ms;
    if argv[1..]
        .chunks_exact(2)
        .any(|pair| ctx.store.lookup(db, &pair[0], now).is_some())
    {
        ctx.out.int(0);
        return Ok(());
    }
    for pair in argv[1..].chunks_exact(2) {
        put_string(ctx, &pair[0], pair[1].clone(), None);
    }
    ctx.out.int(1);
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// The table rows of this family (see `commands/mod.rs`).

const RO_ONLY: &[KeySpec] = &[ks(&["RO"], 1, 0, 1)];
const OW_UPDATE: &[KeySpec] = &[ks(&["OW", "update"], 1, 0, 1)];

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
    cmd("incrbyfloat", 3, incrbyfloat)
        .flags(&["write", "denyoom", "fast"])
        .keys(1, 1, 1, RW_ACCESS_UPDATE)
        .acl(&["@write", "@string", "@fast"])
        .doc(
            "string",
            "2.6.0",
            "O(1)",
            "Increment the float value of a key by the given amount",
        )
        .args(&[arg("key", "key"), arg("increment", "double")]),
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
    cmd("strlen", 2, strlen)
        .flags(&["readonly", "fast"])
        .keys(1, 1, 1, RO_ONLY)
        .acl(&["@read", "@string", "@fast"])
        .doc("string", "2.2.0", "O(1)", "Get the length of the value stored in a key")
        .args(&[arg("key", "key")]),
    cmd("setex", 4, setex)
        .flags(&["write", "denyoom"])
        .keys(1, 1, 1, OW_UPDATE)
        .acl(&["@write", "@string", "@slow"])
        .doc("string", "2.0.0", "O(1)", "Set the value and expiration of a key")
        .args(&[arg("key", "key"), arg("seconds", "integer"), arg("value", "string")]),
    cmd("psetex", 4, psetex)
        .flags(&["write", "denyoom"])
        .keys(1, 1, 1, OW_UPDATE)
        .acl(&["@write", "@string", "@slow"])
        .doc(
            "string",
            "2.6.0",
            "O(1)",
            "Set the value and expiration in milliseconds of a key",
        )
        .args(&[
            arg("key", "key"),
            arg("milliseconds", "integer"),
            arg("value", "string"),
        ]),
    cmd("getex", -2, getex)
        .flags(&["write", "fast"])
        .keys(
            1,
            1,
            1,
            &[ks(&["RW", "access", "update"], 1, 0, 1)
                .notes("RW and UPDATE because it changes the TTL")],
        )
        .acl(&["@write", "@string", "@fast"])
        .doc(
            "string",
            "6.2.0",
            "O(1)",
            "Get the value of a key and optionally set its expiration",
        )
        .args(&[
            arg("key", "key"),
            arg("expiration", "oneof").opt().of(&[
                arg("seconds", "integer").token("EX"),
                arg("milliseconds", "integer").token("PX"),
                arg("unix-time-seconds", "unix-time").token("EXAT"),
                arg("unix-time-milliseconds", "unix-time").token("PXAT"),
                arg("persist", "pure-token").token("PERSIST"),
            ]),
        ]),
    cmd("getdel", 2, getdel)
        .flags(&["write", "fast"])
        .keys(1, 1, 1, &[ks(&["RW", "access", "delete"], 1, 0, 1)])
        .acl(&["@write", "@string", "@fast"])
        .doc("string", "6.2.0", "O(1)", "Get the value of a key and delete the key")
        .args(&[arg("key", "key")]),
    cmd("getset", 3, getset)
        .flags(&["write", "denyoom", "fast"])
        .keys(1, 1, 1, RW_ACCESS_UPDATE)
        .acl(&["@write", "@string", "@fast"])
        .doc(
            "string",
            "1.0.0",
            "O(1)",
            "Set the string value of a key and return its old value",
        )
        .deprecated("6.2.0", "`SET` with the `!GET` argument")
        .args(&[arg("key", "key"), arg("value", "string")]),
    cmd("append", 3, append)
        .flags(&["write", "denyoom", "fast"])
        .keys(1, 1, 1, &[ks(&["RW", "insert"], 1, 0, 1)])
        .acl(&["@write", "@string", "@fast"])
        .doc(
            "string",
            "2.0.0",
            "O(1). The amortized time complexity is O(1) assuming the appended value is small and the already present value is of any size, since the dynamic string library used by Redis will double the free space available on every reallocation.",
            "Append a value to a key",
        )
        .args(&[arg("key", "key"), arg("value", "string")]),
    cmd("msetnx", -3, msetnx)
        .tips(&["request_policy:multi_shard", "response_policy:agg_min"])
        .flags(&["write", "denyoom"])
        .keys(1, -1, 2, &[ks(&["OW", "insert"], 1, -1, 2)])
        .acl(&["@write", "@string", "@slow"])
        .doc(
            "string",
            "1.0.1",
            "O(N) where N is the number of keys to set.",
            "Set multiple keys to multiple values, only if none of the keys exist",
        )
        .args(&[arg("key_value", "block")
            .many()
            .of(&[arg("key", "key"), arg("value", "string")])]),
    cmd("getrange", 4, getrange)
        .flags(&["readonly"])
        .keys(1, 1, 1, RO)
        .acl(&["@read", "@string", "@slow"])
        .doc(
            "string",
            "2.4.0",
            "O(N) where N is the length of the returned string. The complexity is ultimately determined by the returned length, but because creating a substring from an existing string is very cheap, it can be considered O(1) for small strings.",
            "Get a substring of the string stored at a key",
        )
        .args(&[arg("key", "key"), arg("start", "integer"), arg("end", "integer")]),
    cmd("setrange", 4, setrange)
        .flags(&["write", "denyoom"])
        .keys(1, 1, 1, RW_UPDATE)
        .acl(&["@write", "@string", "@slow"])
        .doc(
            "string",
            "2.2.0",
            "O(1), not counting the time taken to copy the new string in place. Usually, this string is very small so the amortized complexity is O(1). Otherwise, complexity is O(M) with M being the length of the value argument.",
            "Overwrite part of a string at key starting at the specified offset",
        )
        .args(&[arg("key", "key"), arg("offset", "integer"), arg("value", "string")]),
];
