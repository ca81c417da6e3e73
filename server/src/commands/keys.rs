//! Generic keyspace commands: DEL, UNLINK, EXISTS, TYPE, KEYS, SCAN, RENAME, COPY, MOVE,
//! SWAPDB, TOUCH, OBJECT, DBSIZE, FLUSHDB, FLUSHALL, and expiry (EXPIRE family, TTL, PTTL,
//! EXPIRETIME, PERSIST).
//!
//! Access times: every lookup records one (`Store::lookup`), except in the commands Redis runs
//! with `LOOKUP_NOTOUCH` (EXISTS, TYPE, the TTL family, OBJECT), which turn it off first, and
//! for CLIENT NO-TOUCH clients (`dispatch::call`); TOUCH always records.

use bytes::Bytes;

use super::common::*;
use crate::args::{eq, parse_i64, Args};
use crate::config::glob_match;
use crate::engine::Ctx;
use crate::reply::{CmdResult, ReplyError, NOT_INTEGER, NO_SUCH_KEY, SYNTAX};

fn exists_now(ctx: &mut Ctx<'_>, key: &[u8]) -> bool {
    let db = ctx.db();
    ctx.store.lookup(db, key, ctx.now_ms).is_some()
}

pub fn del(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let db = ctx.db();
    let mut n = 0;
    for key in &argv[1..] {
        if exists_now(ctx, key) && ctx.store.delete(db, key) {
            n += 1;
        }
    }
    ctx.out.int(n);
    Ok(())
}

pub fn exists(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    ctx.store.set_touching(false);
    let n = argv[1..].iter().filter(|k| exists_now(ctx, k)).count();
    ctx.out.int(n as i64);
    Ok(())
}

pub fn type_(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    ctx.store.set_touching(false);
    let db = ctx.db();
    let name = ctx
        .store
        .lookup(db, &argv[1], ctx.now_ms)
        .map_or("none", |e| e.value.type_name());
    ctx.out.simple(name);
    Ok(())
}

pub fn keys(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let db = ctx.db();
    let now = ctx.now_ms;
    let pattern = &argv[1];
    let all = pattern.as_ref() == b"*";
    let found: Vec<Bytes> = ctx
        .store
        .dir(db)
        .iter()
        .filter(|(k, e)| {
            e.expire_at.is_none_or(|at| at > now) && (all || glob_match(pattern, k, false))
        })
        .map(|(k, _)| Bytes::copy_from_slice(k))
        .collect();
    ctx.out.array(found.len());
    for k in &found {
        ctx.out.bulk(k);
    }
    Ok(())
}

pub fn scan(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    // Redis parses the cursor with strtoul: "" is 0, a negative number wraps.
    let cursor =
        crate::args::scan_cursor(&argv[1]).ok_or(ReplyError::from("ERR invalid cursor"))?;
    let mut args = Args::new(&argv[2..]);
    let (mut pattern, mut count, mut type_filter) = (None, 10usize, None);
    while let Some(opt) = args.next_opt() {
        if eq(opt, "MATCH") && !args.is_empty() {
            pattern = Some(args.next()?.clone());
        } else if eq(opt, "COUNT") && !args.is_empty() {
            let n = args.next_i64()?;
            if n < 1 {
                return Err(SYNTAX.into());
            }
            count = n as usize;
        } else if eq(opt, "TYPE") && !args.is_empty() {
            type_filter = Some(String::from_utf8_lossy(args.next()?).to_ascii_lowercase());
        } else {
            return Err(SYNTAX.into());
        }
    }
    let db = ctx.db();
    let now = ctx.now_ms;
    let mut found = Vec::new();
    let next = ctx.store.dir(db).scan(cursor, count, |k, e| {
        let live = e.expire_at.is_none_or(|at| at > now);
        let matches = pattern.as_ref().is_none_or(|p| glob_match(p, k, false));
        let typed = type_filter
            .as_deref()
            .is_none_or(|t| t == e.value.type_name());
        if live && matches && typed {
            found.push(Bytes::copy_from_slice(k));
        }
    });
    ctx.out.array(2);
    ctx.out.bulk(next.to_string().as_bytes());
    ctx.out.array(found.len());
    for k in &found {
        ctx.out.bulk(k);
    }
    Ok(())
}

pub fn rename(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let db = ctx.db();
    let (src, dst) = (&argv[1], &argv[2]);
    if ctx.store.lookup(db, src, ctx.now_ms).is_none() {
        return Err(NO_SUCH_KEY.into());
    }
    if src != dst {
        // A move, not a copy: a stream keeps its incarnation and its entries stay where they are.
        ctx.store.expire_if_due(db, dst, ctx.now_ms);
        ctx.store.rename(db, src, dst.clone());
    }
    ctx.out.ok();
    Ok(())
}

pub fn renamenx(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let db = ctx.db();
    let (src, dst) = (&argv[1], &argv[2]);
    if ctx.store.lookup(db, src, ctx.now_ms).is_none() {
        return Err(NO_SUCH_KEY.into());
    }
    if src == dst || exists_now(ctx, dst) {
        ctx.out.int(0);
        return Ok(());
    }
    ctx.store.rename(db, src, dst.clone());
    ctx.out.int(1);
    Ok(())
}

pub fn dbsize(ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> CmdResult {
    let n = ctx.store.dir(ctx.db()).len();
    ctx.out.int(n as i64);
    Ok(())
}

fn flush_mode(argv: &[Bytes]) -> CmdResult {
    match argv.get(1) {
        None => Ok(()),
        Some(a) if argv.len() == 2 && (eq(a, "ASYNC") || eq(a, "SYNC")) => Ok(()),
        _ => Err(SYNTAX.into()),
    }
}

pub fn flushdb(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    flush_mode(argv)?;
    let db = ctx.db();
    ctx.store.flush_db(db);
    ctx.out.ok();
    Ok(())
}

pub fn flushall(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    flush_mode(argv)?;
    for db in 0..ctx.store.databases() {
        ctx.store.flush_db(db);
    }
    ctx.out.ok();
    Ok(())
}

/// EXPIRE, PEXPIRE, EXPIREAT, PEXPIREAT with Redis 7.0's NX/XX/GT/LT.
fn expire_generic(
    ctx: &mut Ctx<'_>,
    argv: &[Bytes],
    unit_ms: i64,
    absolute: bool,
    name: &str,
) -> CmdResult {
    let key = &argv[1];
    let (mut nx, mut xx, mut gt, mut lt) = (false, false, false, false);
    for opt in &argv[3..] {
        if eq(opt, "NX") {
            nx = true;
        } else if eq(opt, "XX") {
            xx = true;
        } else if eq(opt, "GT") {
            gt = true;
        } else if eq(opt, "LT") {
            lt = true;
        } else {
            // Redis formats the option with `%s` (it ends at a NUL byte), in full, and trims
            // CR and LF off the end of the message.
            let opt = opt.split(|&c| c == 0).next().unwrap_or_default();
            let msg = format!("ERR Unsupported option {}", String::from_utf8_lossy(opt));
            return Err(ReplyError::new(
                msg.trim_end_matches(['\r', '\n']).to_string(),
            ));
        }
    }
    if nx && (xx || gt || lt) {
        return Err("ERR NX and XX, GT or LT options at the same time are not compatible".into());
    }
    if gt && lt {
        return Err("ERR GT and LT options at the same time are not compatible".into());
    }
    // Redis checks the options first, then the time.
    let n = parse_i64(&argv[2]).ok_or(ReplyError::from(NOT_INTEGER))?;
    let invalid = || ReplyError::new(format!("ERR invalid expire time in '{name}' command"));
    let mut when = n.checked_mul(unit_ms).ok_or_else(invalid)?;
    if !absolute {
        when = when.checked_add(ctx.now_ms as i64).ok_or_else(invalid)?;
    }
    let db = ctx.db();
    let Some(current) = ctx.store.lookup(db, key, ctx.now_ms).map(|e| e.expire_at) else {
        ctx.out.int(0);
        return Ok(());
    };
    // A key without a TTL counts as an infinite TTL for GT and LT.
    let ok = if nx {
        current.is_none()
    } else if xx {
        current.is_some()
    } else {
        true
    } && if gt {
        current.is_some_and(|c| when > c as i64)
    } else if lt {
        current.is_none_or(|c| when < c as i64)
    } else {
        true
    };
    if !ok {
        ctx.out.int(0);
        return Ok(());
    }
    if when <= ctx.now_ms as i64 {
        ctx.store.delete(db, key);
    } else {
        ctx.store.set_expire(db, key, Some(when as u64));
    }
    ctx.out.int(1);
    Ok(())
}

pub fn expire(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    expire_generic(ctx, argv, 1000, false, "expire")
}

pub fn pexpire(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    expire_generic(ctx, argv, 1, false, "pexpire")
}

pub fn expireat(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    expire_generic(ctx, argv, 1000, true, "expireat")
}

pub fn pexpireat(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    expire_generic(ctx, argv, 1, true, "pexpireat")
}

/// TTL-family reply: -2 missing, -1 no expiry, else the value computed by `f`.
fn ttl_generic(ctx: &mut Ctx<'_>, key: &[u8], f: impl Fn(u64, u64) -> i64) -> CmdResult {
    ctx.store.set_touching(false);
    let db = ctx.db();
    let now = ctx.now_ms;
    let reply = match ctx.store.lookup(db, key, now) {
        None => -2,
        Some(e) => match e.expire_at {
            None => -1,
            Some(at) => f(at, now),
        },
    };
    ctx.out.int(reply);
    Ok(())
}

pub fn ttl(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    ttl_generic(ctx, &argv[1], |at, now| {
        ((at.saturating_sub(now) + 500) / 1000) as i64
    })
}

pub fn pttl(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    ttl_generic(ctx, &argv[1], |at, now| at.saturating_sub(now) as i64)
}

pub fn expiretime(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    ttl_generic(ctx, &argv[1], |at, _| (at / 1000) as i64)
}

pub fn pexpiretime(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    ttl_generic(ctx, &argv[1], |at, _| at as i64)
}

pub fn persist(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let db = ctx.db();
    let had = ctx
        .store
        .lookup(db, &argv[1], ctx.now_ms)
        .and_then(|e| e.expire_at)
        .is_some();
    if had {
        ctx.store.set_expire(db, &argv[1], None);
    }
    ctx.out.int(had as i64);
    Ok(())
}

pub fn randomkey(ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> CmdResult {
    let db = ctx.db();
    // Start at a random SCAN position and take the first key there (wrapping to the start);
    // expired keys found on the way are deleted, as Redis does.
    for _ in 0..100 {
        let start = ctx.srv.random();
        let mut pick: Option<Bytes> = None;
        let dir = ctx.store.dir(db);
        for cursor in [start, 0] {
            dir.scan(cursor, 1, |k, _| {
                if pick.is_none() {
                    pick = Some(Bytes::copy_from_slice(k));
                }
            });
            if pick.is_some() {
                break;
            }
        }
        let Some(key) = pick else {
            ctx.out.null();
            return Ok(());
        };
        if !ctx.store.expire_if_due(db, &key, ctx.now_ms) {
            ctx.out.bulk(&key);
            return Ok(());
        }
    }
    ctx.out.null();
    Ok(())
}

/// TOUCH key [key ...]: how many exist; records an access to each (also for a CLIENT
/// NO-TOUCH client: Redis exempts TOUCH from NO-TOUCH).
pub fn touch(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    ctx.store.set_touching(true);
    let n = argv[1..].iter().filter(|k| exists_now(ctx, k)).count();
    ctx.out.int(n as i64);
    Ok(())
}

/// The database index of COPY's DB and MOVE (Redis's `getIntFromObjectOrReply`, then
/// `selectDb`).
fn db_index(ctx: &Ctx<'_>, arg: &[u8]) -> Result<usize, ReplyError> {
    let n = parse_i64(arg).ok_or(ReplyError::from(NOT_INTEGER))?;
    if i32::try_from(n).is_err() {
        return Err(
            "ERR value is out of range, value must between -2147483648 and 2147483647".into(),
        );
    }
    usize::try_from(n)
        .ok()
        .filter(|d| *d < ctx.store.databases())
        .ok_or(ReplyError::from("ERR DB index is out of range"))
}

const SAME_OBJECT: &str = "ERR source and destination objects are the same";

/// COPY source destination [DB n] [REPLACE]. The copy gets the source's expiry and a fresh
/// access record (Redis duplicates the object). A stream copy is a new incarnation holding
/// copies of the entries, consumer groups (consumers, PEL, NACK zone), IDMP window and queue
/// settings (`Store::copy_stream`).
pub fn copy(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let src_db = ctx.db();
    let mut dst_db = src_db;
    let mut replace = false;
    let mut args = Args::new(&argv[3..]);
    while let Some(opt) = args.next_opt() {
        if eq(opt, "REPLACE") {
            replace = true;
        } else if eq(opt, "DB") && !args.is_empty() {
            dst_db = db_index(ctx, args.next()?)?;
        } else {
            return Err(SYNTAX.into());
        }
    }
    let (src, dst) = (&argv[1], &argv[2]);
    if src_db == dst_db && src == dst {
        return Err(SAME_OBJECT.into());
    }
    let now = ctx.now_ms;
    let is_stream = match ctx.store.lookup(src_db, src, now) {
        None => {
            ctx.out.int(0);
            return Ok(());
        }
        Some(e) => matches!(e.value, sluice_storage::Value::Stream(_)),
    };
    if ctx.store.lookup(dst_db, dst, now).is_some() {
        if !replace {
            ctx.out.int(0);
            return Ok(());
        }
        ctx.store.delete(dst_db, dst);
    }
    let copied = if is_stream {
        ctx.store
            .copy_stream(src_db, src, dst_db, dst.clone())
            .map_err(|e| ReplyError::new(format!("ERR {e}")))?
    } else {
        ctx.store.copy_string(src_db, src, dst_db, dst.clone())
    };
    ctx.out.int(i64::from(copied));
    Ok(())
}

/// MOVE key db: the key itself moves (a stream keeps its incarnation: O(1) whatever its
/// size), with its expiry and access record.
pub fn move_(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let src_db = ctx.db();
    let dst_db = db_index(ctx, &argv[2])?;
    if src_db == dst_db {
        return Err(SAME_OBJECT.into());
    }
    let key = &argv[1];
    let now = ctx.now_ms;
    if ctx.store.lookup(src_db, key, now).is_none() || ctx.store.lookup(dst_db, key, now).is_some()
    {
        ctx.out.int(0);
        return Ok(());
    }
    ctx.store.move_to(src_db, key, dst_db, key.clone());
    ctx.out.int(1);
    Ok(())
}

/// SWAPDB index1 index2: O(1) in memory and on disk (`Store::swap_dbs`). As in Redis, clients
/// stay in their database: WATCHers of a key that exists in either database fail their
/// EXEC, and clients blocked on keys of either database are re-checked (a stream that now
/// exists may serve an XREAD; an XREADGROUP whose stream is gone answers its error).
pub fn swapdb(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let parse = |arg: &[u8], msg: &'static str| {
        parse_i64(arg)
            .filter(|n| i32::try_from(*n).is_ok())
            .ok_or(ReplyError::from(msg))
    };
    let a = parse(&argv[1], "ERR invalid first DB index")?;
    let b = parse(&argv[2], "ERR invalid second DB index")?;
    let n = ctx.store.databases() as i64;
    if !(0..n).contains(&a) || !(0..n).contains(&b) {
        return Err("ERR DB index is out of range".into());
    }
    let (a, b) = (a as usize, b as usize);
    if a != b {
        // WATCHed keys of both databases that exist in either (Redis's
        // touchAllWatchedKeysInDb, both ways).
        let watched: Vec<(usize, Bytes)> = ctx
            .srv
            .watchers
            .keys()
            .filter(|(d, _)| *d == a || *d == b)
            .cloned()
            .collect();
        for (d, k) in watched {
            let other = if d == a { b } else { a };
            let now = ctx.now_ms;
            let exists = ctx
                .store
                .dir(d)
                .get(&k)
                .is_some_and(|e| e.expire_at.is_none_or(|at| at > now))
                || ctx
                    .store
                    .dir(other)
                    .get(&k)
                    .is_some_and(|e| e.expire_at.is_none_or(|at| at > now));
            if !exists {
                continue;
            }
            let ids = ctx.srv.watchers.get(&(d, k)).cloned().unwrap_or_default();
            for id in ids {
                if id == ctx.client.id {
                    ctx.client.dirty_cas = true;
                } else if let Some(c) = ctx.srv.clients.get_mut(&id) {
                    c.dirty_cas = true;
                }
            }
        }
        ctx.store.swap_dbs(a, b);
        // Every blocked key of both databases is looked at again (its `WakeIf` decides).
        let blocked: Vec<(usize, Bytes)> = ctx
            .srv
            .waiting
            .keys()
            .filter(|(d, _)| *d == a || *d == b)
            .cloned()
            .collect();
        for (d, k) in blocked {
            ctx.signal_ready(d, &k);
        }
    }
    ctx.out.ok();
    Ok(())
}

/// The key of an OBJECT subcommand, without recording an access (Redis's `LOOKUP_NOTOUCH`).
fn object_key<'c>(ctx: &'c mut Ctx<'_>, key: &[u8]) -> Option<&'c sluice_storage::Entry> {
    ctx.store.set_touching(false);
    let db = ctx.db();
    ctx.store.lookup(db, key, ctx.now_ms)
}

fn lfu_policy(ctx: &Ctx<'_>) -> bool {
    ctx.srv.config.maxmemory_policy.ends_with("-lfu")
}

/// OBJECT REFCOUNT: 1, except Redis's shared integers: a string holding a canonical integer
/// in 0..10000 is the shared object (refcount `INT_MAX`) unless `maxmemory` is set with an
/// LRU or LFU policy (Redis then gives each key its own object, for its access record).
pub fn object_refcount(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let shared_allowed = ctx.srv.config.maxmemory == 0
        || !(ctx.srv.config.maxmemory_policy.ends_with("-lru") || lfu_policy(ctx));
    let n = match object_key(ctx, &argv[2]).map(|e| &e.value) {
        None => {
            ctx.out.null();
            return Ok(());
        }
        Some(sluice_storage::Value::String(s)) if shared_allowed && shared_integer(s) => {
            i64::from(i32::MAX)
        }
        Some(_) => 1,
    };
    ctx.out.int(n);
    Ok(())
}

/// A value Redis stores as one of its shared integers (0..10000, written canonically).
fn shared_integer(s: &[u8]) -> bool {
    s.len() <= 20
        && parse_i64(s).is_some_and(|n| (0..10_000).contains(&n) && n.to_string().as_bytes() == s)
}

/// OBJECT IDLETIME: seconds since the key's last access (Redis refuses under an LFU policy).
pub fn object_idletime(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    if object_key(ctx, &argv[2]).is_none() {
        ctx.out.null();
        return Ok(());
    }
    if lfu_policy(ctx) {
        return Err("ERR An LFU maxmemory policy is selected, idle time not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.".into());
    }
    let now_s = (ctx.now_ms / 1000) as u32;
    let idle = ctx
        .store
        .access(ctx.db(), &argv[2])
        .map_or(0, |a| a.idle_s(now_s));
    ctx.out.int(i64::from(idle));
    Ok(())
}

/// OBJECT FREQ: Redis's logarithmic access counter (kept for every key, with Redis's default
/// `lfu-log-factor` 10 and `lfu-decay-time` 1), shown only under an LFU policy as in Redis.
pub fn object_freq(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    if object_key(ctx, &argv[2]).is_none() {
        ctx.out.null();
        return Ok(());
    }
    if !lfu_policy(ctx) {
        return Err("ERR An LFU maxmemory policy is not selected, access frequency not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.".into());
    }
    let now_s = (ctx.now_ms / 1000) as u32;
    let freq = ctx
        .store
        .access(ctx.db(), &argv[2])
        .map_or(0, |a| a.freq(now_s));
    ctx.out.int(i64::from(freq));
    Ok(())
}

/// OBJECT ENCODING: the encoding Redis would use for the value.
pub fn object_encoding(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    ctx.store.set_touching(false);
    let db = ctx.db();
    let enc = match ctx.store.lookup(db, &argv[2], ctx.now_ms).map(|e| &e.value) {
        None => {
            ctx.out.null();
            return Ok(());
        }
        Some(sluice_storage::Value::Stream(_)) => "stream",
        Some(sluice_storage::Value::String(s)) => {
            if s.len() <= 20 && parse_i64(s).is_some() {
                "int"
            } else if s.len() <= 44 {
                "embstr"
            } else {
                "raw"
            }
        }
    };
    ctx.out.bulk(enc.as_bytes());
    Ok(())
}

pub fn object_help(ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> CmdResult {
    super::help_reply(
        ctx,
        "OBJECT",
        &[
            "ENCODING <key>",
            "    Return the kind of internal representation used in order to store the value",
            "    associated with a <key>.",
            "FREQ <key>",
            "    Return the access frequency index of the <key>. The returned integer is",
            "    proportional to the logarithm of the recent access frequency of the key.",
            "IDLETIME <key>",
            "    Return the idle time of the <key>, that is the approximated number of",
            "    seconds elapsed since the last access to the key.",
            "REFCOUNT <key>",
            "    Return the number of references of the value associated with the specified",
            "    <key>.",
        ],
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// The table rows of this family (see `commands/mod.rs`).

const EXPIRE_ARGS: &[Arg] = &[
    arg("key", "key"),
    arg("seconds", "integer"),
    arg("condition", "oneof")
        .opt()
        .of(&[tok("NX"), tok("XX"), tok("GT"), tok("LT")]),
];

pub static COMMANDS: &[Command] = &[
    cmd("dbsize", 1, dbsize)
        .tips(&["request_policy:all_shards", "response_policy:agg_sum"])
        .flags(&["readonly", "fast"])
        .acl(&["@keyspace", "@read", "@fast"])
        .doc(
            "server",
            "1.0.0",
            "O(1)",
            "Return the number of keys in the selected database",
        ),
    cmd("flushdb", -1, flushdb)
        .tips(&["request_policy:all_shards", "response_policy:all_succeeded"])
        .flags(&["write"])
        .acl(&["@keyspace", "@write", "@slow", "@dangerous"])
        .doc(
            "server",
            "1.0.0",
            "O(N) where N is the number of keys in the selected database",
            "Remove all keys from the current database",
        )
        .args(&[arg("flush-type", "oneof")
            .opt()
            .of(&[tok("ASYNC"), tok("SYNC")])]),
    cmd("flushall", -1, flushall)
        .tips(&["request_policy:all_shards", "response_policy:all_succeeded"])
        .flags(&["write"])
        .acl(&["@keyspace", "@write", "@slow", "@dangerous"])
        .doc(
            "server",
            "1.0.0",
            "O(N) where N is the total number of keys in all databases",
            "Remove all keys from all databases",
        )
        .args(&[arg("flush-type", "oneof")
            .opt()
            .of(&[tok("ASYNC"), tok("SYNC")])]),
    cmd("del", -2, del)
        .tips(&["request_policy:multi_shard", "response_policy:agg_sum"])
        .flags(&["write"])
        .keys(1, -1, 1, RM_ALL)
        .acl(&["@keyspace", "@write", "@slow"])
        .doc(
            "generic",
            "1.0.0",
            "O(N) where N is the number of keys that will be removed.",
            "Delete a key",
        )
        .args(&[arg("key", "key").many()]),
    cmd("unlink", -2, del)
        .tips(&["request_policy:multi_shard", "response_policy:agg_sum"])
        .flags(&["write", "fast"])
        .keys(1, -1, 1, RM_ALL)
        .acl(&["@keyspace", "@write", "@fast"])
        .doc(
            "generic",
            "4.0.0",
            "O(1) for each key removed regardless of its size.",
            "Delete a key asynchronously in another thread.",
        )
        .args(&[arg("key", "key").many()]),
    cmd("exists", -2, exists)
        .tips(&["request_policy:multi_shard", "response_policy:agg_sum"])
        .flags(&["readonly", "fast"])
        .keys(1, -1, 1, RO_ALL)
        .acl(&["@keyspace", "@read", "@fast"])
        .doc(
            "generic",
            "1.0.0",
            "O(N) where N is the number of keys to check.",
            "Determine if a key exists",
        )
        .args(&[arg("key", "key").many()]),
    cmd("type", 2, type_)
        .flags(&["readonly", "fast"])
        .keys(1, 1, 1, &[ks(&["RO"], 1, 0, 1)])
        .acl(&["@keyspace", "@read", "@fast"])
        .doc(
            "generic",
            "1.0.0",
            "O(1)",
            "Determine the type stored at key",
        )
        .args(&[arg("key", "key")]),
    cmd("keys", 2, keys)
        .tips(&["request_policy:all_shards", "nondeterministic_output_order"])
        .flags(&["readonly"])
        .acl(&["@keyspace", "@read", "@slow", "@dangerous"])
        .doc(
            "generic",
            "1.0.0",
            "O(N) with N being the number of keys in the database",
            "Find all keys matching the given pattern",
        )
        .args(&[arg("pattern", "pattern")]),
    cmd("scan", -2, scan)
        .tips(&["nondeterministic_output", "request_policy:special"])
        .flags(&["readonly"])
        .acl(&["@keyspace", "@read", "@slow"])
        .doc(
            "generic",
            "2.8.0",
            "O(1) for every call. O(N) for a complete iteration.",
            "Incrementally iterate the keys space",
        )
        .args(&[
            arg("cursor", "integer"),
            arg("pattern", "pattern").token("MATCH").opt(),
            arg("count", "integer").token("COUNT").opt(),
            arg("type", "string").token("TYPE").opt(),
        ]),
    cmd("rename", 3, rename)
        .flags(&["write"])
        .keys(
            1,
            2,
            1,
            &[
                ks(&["RW", "access", "delete"], 1, 0, 1),
                ks(&["OW", "update"], 2, 0, 1),
            ],
        )
        .acl(&["@keyspace", "@write", "@slow"])
        .doc("generic", "1.0.0", "O(1)", "Rename a key")
        .args(&[arg("key", "key"), arg("newkey", "key")]),
    cmd("renamenx", 3, renamenx)
        .flags(&["write", "fast"])
        .keys(
            1,
            2,
            1,
            &[
                ks(&["RW", "access", "delete"], 1, 0, 1),
                ks(&["OW", "insert"], 2, 0, 1),
            ],
        )
        .acl(&["@keyspace", "@write", "@fast"])
        .doc(
            "generic",
            "1.0.0",
            "O(1)",
            "Rename a key, only if the new key does not exist",
        )
        .args(&[arg("key", "key"), arg("newkey", "key")]),
    cmd("copy", -3, copy)
        .flags(&["write", "denyoom"])
        .keys(
            1,
            2,
            1,
            &[
                ks(&["RO", "access"], 1, 0, 1),
                ks(&["OW", "update"], 2, 0, 1),
            ],
        )
        .acl(&["@keyspace", "@write", "@slow"])
        .doc(
            "generic",
            "6.2.0",
            "O(N) worst case for collections, where N is the number of nested items. O(1) for string values.",
            "Copy a key",
        )
        .args(&[
            arg("source", "key"),
            arg("destination", "key"),
            arg("destination-db", "integer").token("DB").opt(),
            tok("REPLACE").opt(),
        ]),
    cmd("move", 3, move_)
        .flags(&["write", "fast"])
        .keys(1, 1, 1, &[ks(&["RW", "access", "update"], 1, 0, 1)])
        .acl(&["@keyspace", "@write", "@fast"])
        .doc("generic", "1.0.0", "O(1)", "Move a key to another database")
        .args(&[arg("key", "key"), arg("db", "integer")]),
    cmd("swapdb", 3, swapdb)
        .flags(&["write", "fast"])
        .acl(&["@keyspace", "@write", "@fast", "@dangerous"])
        .doc(
            "server",
            "4.0.0",
            "O(N) where N is the count of clients watching or blocking on keys from both databases.",
            "Swaps two Redis databases",
        )
        .args(&[arg("index1", "integer"), arg("index2", "integer")]),
    cmd("touch", -2, touch)
        .tips(&["request_policy:multi_shard", "response_policy:agg_sum"])
        .flags(&["readonly", "fast"])
        .keys(1, -1, 1, RO_ALL)
        .acl(&["@keyspace", "@read", "@fast"])
        .doc(
            "generic",
            "3.2.1",
            "O(N) where N is the number of keys that will be touched.",
            "Alters the last access time of a key(s). Returns the number of existing keys specified.",
        )
        .args(&[arg("key", "key").many()]),
    cmd("expire", -3, expire)
        .flags(&["write", "fast"])
        .keys(1, 1, 1, RW_UPDATE)
        .acl(&["@keyspace", "@write", "@fast"])
        .doc(
            "generic",
            "1.0.0",
            "O(1)",
            "Set a key's time to live in seconds",
        )
        .args(EXPIRE_ARGS),
    cmd("pexpire", -3, pexpire)
        .flags(&["write", "fast"])
        .keys(1, 1, 1, RW_UPDATE)
        .acl(&["@keyspace", "@write", "@fast"])
        .doc(
            "generic",
            "2.6.0",
            "O(1)",
            "Set a key's time to live in milliseconds",
        )
        .args(EXPIRE_ARGS),
    cmd("expireat", -3, expireat)
        .flags(&["write", "fast"])
        .keys(1, 1, 1, RW_UPDATE)
        .acl(&["@keyspace", "@write", "@fast"])
        .doc(
            "generic",
            "1.2.0",
            "O(1)",
            "Set the expiration for a key as a UNIX timestamp",
        )
        .args(EXPIRE_ARGS),
    cmd("pexpireat", -3, pexpireat)
        .flags(&["write", "fast"])
        .keys(1, 1, 1, RW_UPDATE)
        .acl(&["@keyspace", "@write", "@fast"])
        .doc(
            "generic",
            "2.6.0",
            "O(1)",
            "Set the expiration for a key as a UNIX timestamp specified in milliseconds",
        )
        .args(EXPIRE_ARGS),
    cmd("ttl", 2, ttl)
        .tips(&["nondeterministic_output"])
        .flags(&["readonly", "fast"])
        .keys(1, 1, 1, RO)
        .acl(&["@keyspace", "@read", "@fast"])
        .doc(
            "generic",
            "1.0.0",
            "O(1)",
            "Get the time to live for a key in seconds",
        )
        .args(&[arg("key", "key")]),
    cmd("pttl", 2, pttl)
        .tips(&["nondeterministic_output"])
        .flags(&["readonly", "fast"])
        .keys(1, 1, 1, RO)
        .acl(&["@keyspace", "@read", "@fast"])
        .doc(
            "generic",
            "2.6.0",
            "O(1)",
            "Get the time to live for a key in milliseconds",
        )
        .args(&[arg("key", "key")]),
    cmd("expiretime", 2, expiretime)
        .flags(&["readonly", "fast"])
        .keys(1, 1, 1, RO)
        .acl(&["@keyspace", "@read", "@fast"])
        .doc(
            "generic",
            "7.0.0",
            "O(1)",
            "Get the expiration Unix timestamp for a key",
        )
        .args(&[arg("key", "key")]),
    cmd("pexpiretime", 2, pexpiretime)
        .flags(&["readonly", "fast"])
        .keys(1, 1, 1, RO)
        .acl(&["@keyspace", "@read", "@fast"])
        .doc(
            "generic",
            "7.0.0",
            "O(1)",
            "Get the expiration Unix timestamp for a key in milliseconds",
        )
        .args(&[arg("key", "key")]),
    cmd("randomkey", 1, randomkey)
        .tips(&["request_policy:all_shards", "nondeterministic_output"])
        .flags(&["readonly"])
        .acl(&["@keyspace", "@read", "@slow"])
        .doc(
            "generic",
            "1.0.0",
            "O(1)",
            "Return a random key from the keyspace",
        ),
    container("object", &OBJECT_SUBCOMMANDS)
        .acl(&["@slow"])
        .doc(
            "generic",
            "2.2.3",
            "Depends on subcommand.",
            "A container for object introspection commands",
        ),
    cmd("persist", 2, persist)
        .flags(&["write", "fast"])
        .keys(1, 1, 1, RW_UPDATE)
        .acl(&["@keyspace", "@write", "@fast"])
        .doc(
            "generic",
            "2.2.0",
            "O(1)",
            "Remove the expiration from a key",
        )
        .args(&[arg("key", "key")]),
];

pub static OBJECT_SUBCOMMANDS: [Command; 5] = [
    cmd("object|freq", 3, object_freq)
        .tips(&["nondeterministic_output"])
        .flags(&["readonly"])
        .keys(2, 2, 1, &[ks(&["RO"], 2, 0, 1)])
        .acl(&["@keyspace", "@read", "@slow"])
        .doc(
            "generic",
            "4.0.0",
            "O(1)",
            "Get the logarithmic access frequency counter of a Redis object",
        )
        .args(&[arg("key", "key")]),
    cmd("object|idletime", 3, object_idletime)
        .tips(&["nondeterministic_output"])
        .flags(&["readonly"])
        .keys(2, 2, 1, &[ks(&["RO"], 2, 0, 1)])
        .acl(&["@keyspace", "@read", "@slow"])
        .doc(
            "generic",
            "2.2.3",
            "O(1)",
            "Get the time since a Redis object was last accessed",
        )
        .args(&[arg("key", "key")]),
    cmd("object|refcount", 3, object_refcount)
        .tips(&["nondeterministic_output"])
        .flags(&["readonly"])
        .keys(2, 2, 1, &[ks(&["RO"], 2, 0, 1)])
        .acl(&["@keyspace", "@read", "@slow"])
        .doc(
            "generic",
            "2.2.3",
            "O(1)",
            "Get the number of references to the value of the key",
        )
        .args(&[arg("key", "key")]),
    cmd("object|encoding", 3, object_encoding)
        .tips(&["nondeterministic_output"])
        .flags(&["readonly"])
        .keys(2, 2, 1, &[ks(&["RO"], 2, 0, 1)])
        .acl(&["@keyspace", "@read", "@slow"])
        .doc(
            "generic",
            "2.2.3",
            "O(1)",
            "Inspect the internal encoding of a Redis object",
        )
        .args(&[arg("key", "key")]),
    cmd("object|help", 2, object_help)
        .flags(&["loading", "stale"])
        .acl(&["@keyspace", "@slow"])
        .doc(
            "generic",
            "6.2.0",
            "O(1)",
            "Show helpful text about the different subcommands",
        ),
];
