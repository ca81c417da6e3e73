//! Stream commands: XADD, XRANGE, XREVRANGE, XLEN, XDEL, XTRIM, XSETID, XREAD (with BLOCK) and
//! XINFO STREAM/HELP — with Redis 7.0.15's parsing order, replies, quirks and error texts.
//!
//! Parsing is separated from execution where it matters for error precedence: Redis validates
//! every argument before it looks the key up, so the parsers here run first and the store is
//! only touched by a command that parsed cleanly.

use bytes::Bytes;
use sluice_storage::stream::layout::{
    effective_trim_limit, NodeLimits, Trim, STREAM_LISTPACK_MAX_SIZE,
};
use sluice_storage::stream::StreamId;
use sluice_storage::{StreamEntry, TrimSpec, WrongType};

use super::common::*;
use crate::args::{eq, parse_i64};
use crate::engine::{BlockSpec, Ctx, WakeIf};
use crate::reply::{wrong_arity, CmdResult, ReplyError, NOT_INTEGER, SYNTAX, WRONGTYPE};

pub const INVALID_ID: &str = "ERR Invalid stream ID specified as stream command argument";

fn wrongtype(_: WrongType) -> ReplyError {
    WRONGTYPE.into()
}

/// A storage failure on a read path: reported to the client, logged with context.
pub fn storage_error(e: sluice_storage::StoreError) -> ReplyError {
    tracing::error!(error = %e, "stream read failed");
    ReplyError::new(format!("ERR {e}"))
}

/// Redis's `string2ull`: the strict integer parser first (a negative value is refused), then
/// `strtoull`, which also takes leading white space, a sign (a minus wraps around), and any
/// number of leading zeros, but nothing after the digits.
fn string2ull(s: &[u8]) -> Option<u64> {
    if let Some(v) = parse_i64(s) {
        return u64::try_from(v).ok();
    }
    let mut i = 0;
    while i < s.len() && matches!(s[i], b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c) {
        i += 1;
    }
    let neg = match s.get(i) {
        Some(b'-') => {
            i += 1;
            true
        }
        Some(b'+') => {
            i += 1;
            false
        }
        _ => false,
    };
    let digits = &s[i..];
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let mut v: u64 = 0;
    for &d in digits {
        v = v.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
    }
    Some(if neg { v.wrapping_neg() } else { v })
}

/// `streamGenericParseIDOrReply`: `-`, `+` (unless strict), `<ms>`, `<ms>-<seq>`, and with
/// `seq_star` also `<ms>-*`. Returns the ID and whether the sequence was given (false for `*`).
fn parse_id_generic(
    arg: &[u8],
    missing_seq: u64,
    strict: bool,
    seq_star: bool,
) -> Result<(StreamId, bool), ReplyError> {
    if arg.len() > 127 {
        return Err(INVALID_ID.into());
    }
    match arg {
        b"-" if !strict => return Ok((StreamId::MIN, true)),
        b"+" if !strict => return Ok((StreamId::MAX, true)),
        _ => {}
    }
    let (ms, seq) = match arg.iter().position(|&b| b == b'-') {
        Some(p) => (&arg[..p], Some(&arg[p + 1..])),
        None => (arg, None),
    };
    let ms = string2ull(ms).ok_or(ReplyError::from(INVALID_ID))?;
    match seq {
        Some(b"*") if seq_star => Ok((StreamId::new(ms, 0), false)),
        Some(s) => Ok((
            StreamId::new(ms, string2ull(s).ok_or(ReplyError::from(INVALID_ID))?),
            true,
        )),
        None => Ok((StreamId::new(ms, missing_seq), true)),
    }
}

/// A complete ID (no `-`/`+`), as the strict parser accepts.
pub fn parse_strict_id(arg: &[u8], missing_seq: u64) -> Result<StreamId, ReplyError> {
    parse_id_generic(arg, missing_seq, true, false).map(|(id, _)| id)
}

/// A range bound: `-`, `+`, an ID, or `(ID` exclusive. Returns the ID and exclusivity.
fn parse_interval(arg: &[u8], missing_seq: u64) -> Result<(StreamId, bool), ReplyError> {
    if arg.len() > 1 && arg[0] == b'(' {
        Ok((parse_strict_id(&arg[1..], missing_seq)?, true))
    } else {
        Ok((parse_id_generic(arg, missing_seq, false, false)?.0, false))
    }
}

/// Writes one entry: `[id, [field, value, …]]`.
pub fn write_entry(ctx: &mut Ctx<'_>, e: &StreamEntry) -> CmdResult {
    let fields = e.fields().map_err(storage_error)?;
    let out = &mut *ctx.out;
    out.array(2);
    out.bulk(e.id.text().as_bytes());
    out.array(fields.len());
    for f in fields {
        out.bulk(f);
    }
    Ok(())
}

fn write_entries(ctx: &mut Ctx<'_>, entries: &[StreamEntry]) -> CmdResult {
    // Decode everything first so a corrupt record cannot leave a half-written reply.
    for e in entries {
        e.fields().map_err(storage_error)?;
    }
    ctx.out.array(entries.len());
    for e in entries {
        write_entry(ctx, e)?;
    }
    Ok(())
}

fn node_limits(ctx: &Ctx<'_>) -> NodeLimits {
    NodeLimits {
        max_entries: ctx.srv.config.stream_node_max_entries,
        max_bytes: ctx.srv.config.stream_node_max_bytes,
    }
}

/// The trimming options of XADD and XTRIM (`streamParseAddOrTrimArgsOrReply`).
#[derive(Default)]
struct TrimArgs {
    strategy: Option<Trim>,
    approx: bool,
    limit: Option<i64>,
    nomkstream: bool,
    /// XADD: the ID argument (`None` = `*`) and whether its sequence was given.
    id: Option<(StreamId, bool)>,
    /// XADD: index of the first field.
    fields_at: usize,
}

fn parse_trim_args(argv: &[Bytes], xadd: bool) -> Result<TrimArgs, ReplyError> {
    let mut a = TrimArgs::default();
    let mut i = 2;
    let mut limit_given = false;
    while i < argv.len() {
        let more = argv.len() - 1 - i;
        let opt = &argv[i];
        if xadd && opt.as_ref() == b"*" {
            break;
        } else if (eq(opt, "MAXLEN") || eq(opt, "MINID")) && more > 0 {
            if a.strategy.is_some() {
                return Err("ERR syntax error, MAXLEN and MINID options at the same time are not compatible".into());
            }
            a.approx = false;
            let next = &argv[i + 1];
            if more >= 2 && next.as_ref() == b"~" {
                a.approx = true;
                i += 1;
            } else if more >= 2 && next.as_ref() == b"=" {
                i += 1;
            }
            let v = &argv[i + 1];
            if eq(opt, "MAXLEN") {
                let n = parse_i64(v).ok_or(ReplyError::from(NOT_INTEGER))?;
                if n < 0 {
                    return Err("ERR The MAXLEN argument must be >= 0.".into());
                }
                a.strategy = Some(Trim::MaxLen(n as u64));
            } else {
                a.strategy = Some(Trim::MinId(parse_strict_id(v, 0)?));
            }
            i += 1;
        } else if eq(opt, "LIMIT") && more > 0 {
            let n = parse_i64(&argv[i + 1]).ok_or(ReplyError::from(NOT_INTEGER))?;
            if n < 0 {
                return Err("ERR The LIMIT argument must be >= 0.".into());
            }
            a.limit = Some(n);
            limit_given = true;
            i += 1;
        } else if xadd && eq(opt, "NOMKSTREAM") {
            a.nomkstream = true;
        } else if xadd {
            a.id = Some(parse_id_generic(opt, 0, true, true)?);
            break;
        } else {
            return Err(SYNTAX.into());
        }
        i += 1;
    }
    if a.limit.is_some_and(|l| l != 0) && a.strategy.is_none() {
        return Err(
            "ERR syntax error, LIMIT cannot be used without specifying a trimming strategy".into(),
        );
    }
    if !xadd && a.strategy.is_none() {
        return Err("ERR syntax error, XTRIM must be called with a trimming strategy".into());
    }
    if limit_given && !a.approx {
        return Err("ERR syntax error, LIMIT cannot be used without the special ~ option".into());
    }
    a.fields_at = i + 1;
    Ok(a)
}

/// XADD key [NOMKSTREAM] [MAXLEN|MINID [=|~] threshold [LIMIT count]] *|id field value …
pub fn xadd(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let a = parse_trim_args(argv, true)?;
    let fields = argv.get(a.fields_at..).unwrap_or(&[]);
    if fields.len() < 2 || fields.len() % 2 == 1 {
        return Err(wrong_arity("xadd"));
    }
    if let Some((id, true)) = a.id {
        if id == StreamId::MIN {
            return Err("ERR The ID specified in XADD must be greater than 0-0".into());
        }
    }
    let key = &argv[1];
    let db = ctx.db();
    let last = match ctx.store.stream(db, key, ctx.now_ms).map_err(wrongtype)? {
        Some(m) => m.last_id,
        None if a.nomkstream => {
            ctx.out.null();
            return Ok(());
        }
        None => {
            ctx.store.stream_create(db, key.clone());
            StreamId::MIN
        }
    };
    if last == StreamId::MAX {
        return Err(
            "ERR The stream has exhausted the last possible ID, unable to add more items".into(),
        );
    }
    const EDOM: &str =
        "ERR The ID specified in XADD is equal or smaller than the target stream top item";
    let id = match a.id {
        Some((id, true)) => id,
        Some((want, false)) => {
            if want.ms == last.ms {
                if last.seq == u64::MAX {
                    return Err(EDOM.into());
                }
                StreamId::new(last.ms, last.seq + 1)
            } else {
                want
            }
        }
        None => {
            if ctx.now_ms > last.ms {
                StreamId::new(ctx.now_ms, 0)
            } else {
                last.successor().ok_or(ReplyError::from(EDOM))?
            }
        }
    };
    if id <= last {
        return Err(EDOM.into());
    }
    let total: u64 = fields.iter().map(|f| f.len() as u64).sum();
    if total > STREAM_LISTPACK_MAX_SIZE {
        return Err("ERR Elements are too large to be stored".into());
    }
    let limits = node_limits(ctx);
    ctx.store
        .stream_append(db, key, id, fields, limits, ctx.now_ms);
    if let Some(strategy) = a.strategy {
        let limit = effective_trim_limit(a.approx, a.limit.map(|l| l as u64), limits.max_entries);
        let spec = TrimSpec {
            strategy,
            approx: a.approx,
            limit,
        };
        ctx.store
            .stream_trim(db, key, spec, Some(id), ctx.now_ms)
            .map_err(storage_error)?;
    }
    ctx.out.bulk(id.text().as_bytes());
    ctx.signal_ready(db, key);
    Ok(())
}

/// XTRIM key MAXLEN|MINID [=|~] threshold [LIMIT count]
pub fn xtrim(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let a = parse_trim_args(argv, false)?;
    if a.fields_at < argv.len() {
        return Err(SYNTAX.into());
    }
    let db = ctx.db();
    if ctx
        .store
        .stream(db, &argv[1], ctx.now_ms)
        .map_err(wrongtype)?
        .is_none()
    {
        ctx.out.int(0);
        return Ok(());
    }
    let limits = node_limits(ctx);
    let limit = effective_trim_limit(a.approx, a.limit.map(|l| l as u64), limits.max_entries);
    let Some(strategy) = a.strategy else {
        return Err(SYNTAX.into());
    };
    let spec = TrimSpec {
        strategy,
        approx: a.approx,
        limit,
    };
    let n = ctx
        .store
        .stream_trim(db, &argv[1], spec, None, ctx.now_ms)
        .map_err(storage_error)?;
    ctx.out.int(n as i64);
    Ok(())
}

/// XRANGE / XREVRANGE.
fn range_generic(ctx: &mut Ctx<'_>, argv: &[Bytes], rev: bool) -> CmdResult {
    let (start_arg, end_arg) = if rev {
        (&argv[3], &argv[2])
    } else {
        (&argv[2], &argv[3])
    };
    let (mut start, start_ex) = parse_interval(start_arg, 0)?;
    if start_ex {
        start = start
            .successor()
            .ok_or(ReplyError::from("ERR invalid start ID for the interval"))?;
    }
    let (mut end, end_ex) = parse_interval(end_arg, u64::MAX)?;
    if end_ex {
        end = end
            .predecessor()
            .ok_or(ReplyError::from("ERR invalid end ID for the interval"))?;
    }
    let mut count: i64 = -1;
    let mut j = 4;
    while j < argv.len() {
        if eq(&argv[j], "COUNT") && j + 1 < argv.len() {
            count = parse_i64(&argv[j + 1])
                .ok_or(ReplyError::from(NOT_INTEGER))?
                .max(0);
            j += 2;
        } else {
            return Err(SYNTAX.into());
        }
    }
    let db = ctx.db();
    if ctx
        .store
        .stream(db, &argv[1], ctx.now_ms)
        .map_err(wrongtype)?
        .is_none()
    {
        ctx.out.array(0);
        return Ok(());
    }
    if count == 0 {
        ctx.out.null_array();
        return Ok(());
    }
    let limit = (count > 0).then_some(count as usize);
    let now = ctx.now_ms;
    let entries = ctx
        .store
        .stream_read(db, &argv[1], (start, end), rev, limit, now)
        .map_err(storage_error)?;
    write_entries(ctx, &entries)
}

pub fn xrange(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    range_generic(ctx, argv, false)
}

pub fn xrevrange(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    range_generic(ctx, argv, true)
}

pub fn xlen(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let db = ctx.db();
    let n = ctx
        .store
        .stream(db, &argv[1], ctx.now_ms)
        .map_err(wrongtype)?
        .map_or(0, |m| m.len());
    ctx.out.int(n as i64);
    Ok(())
}

pub fn xdel(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let db = ctx.db();
    if ctx
        .store
        .stream(db, &argv[1], ctx.now_ms)
        .map_err(wrongtype)?
        .is_none()
    {
        ctx.out.int(0);
        return Ok(());
    }
    // Every ID is checked before anything is deleted.
    let ids = argv[2..]
        .iter()
        .map(|a| parse_strict_id(a, 0))
        .collect::<Result<Vec<_>, _>>()?;
    let n = ctx
        .store
        .stream_delete(db, &argv[1], &ids, ctx.now_ms)
        .map_err(storage_error)?;
    ctx.out.int(n as i64);
    Ok(())
}

pub fn xsetid(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let id = parse_strict_id(&argv[2], 0)?;
    let mut entries_added: Option<u64> = None;
    let mut max_deleted = StreamId::MIN;
    let mut i = 3;
    while i < argv.len() {
        let more = argv.len() - 1 - i;
        if eq(&argv[i], "ENTRIESADDED") && more > 0 {
            let n = parse_i64(&argv[i + 1]).ok_or(ReplyError::from(NOT_INTEGER))?;
            if n < 0 {
                return Err("ERR entries_added must be positive".into());
            }
            entries_added = Some(n as u64);
        } else if eq(&argv[i], "MAXDELETEDID") && more > 0 {
            max_deleted = parse_strict_id(&argv[i + 1], 0)?;
            if id < max_deleted {
                return Err("ERR The ID specified in XSETID is smaller than the provided max_deleted_entry_id".into());
            }
        } else {
            return Err(SYNTAX.into());
        }
        i += 2;
    }
    let db = ctx.db();
    let Some((sid, len)) = ctx
        .store
        .stream(db, &argv[1], ctx.now_ms)
        .map_err(wrongtype)?
        .map(|m| (m.sid, m.len()))
    else {
        return Err(crate::reply::NO_SUCH_KEY.into());
    };
    if len > 0 {
        let last_live = ctx
            .store
            .stream_range(sid, StreamId::MIN, StreamId::MAX, true, Some(1))
            .map_err(storage_error)?;
        if last_live.first().is_some_and(|e| id < e.id) {
            return Err(
                "ERR The ID specified in XSETID is smaller than the target stream top item".into(),
            );
        }
        if entries_added.is_some_and(|n| len > n) {
            return Err("ERR The entries_added specified in XSETID is smaller than the target stream length".into());
        }
    }
    if let Ok(Some(meta)) = ctx.store.stream_mut(db, &argv[1], ctx.now_ms) {
        meta.last_id = id;
        if let Some(n) = entries_added {
            meta.entries_added = n;
        }
        if max_deleted != StreamId::MIN {
            meta.max_deleted = max_deleted;
        }
    }
    ctx.out.ok();
    Ok(())
}

/// Default COUNT of a blocked XREAD when it is served (Redis's XREAD_BLOCKED_DEFAULT_COUNT).
const BLOCKED_DEFAULT_COUNT: usize = 1000;

/// XREAD [COUNT n] [BLOCK ms] STREAMS key … id …
/// The options of XREAD and XREADGROUP, parsed in Redis's order (`xreadCommand`).
pub struct ReadArgs<'a> {
    /// BLOCK in ms (0 = forever).
    pub timeout: Option<u64>,
    /// COUNT (0 = no limit).
    pub count: usize,
    pub noack: bool,
    /// XREADGROUP's GROUP group consumer.
    pub group: Option<(&'a Bytes, &'a Bytes)>,
    /// Index of the first key after STREAMS.
    pub streams_at: usize,
}

pub fn parse_read_args(argv: &[Bytes], xreadgroup: bool) -> Result<ReadArgs<'_>, ReplyError> {
    let mut a = ReadArgs {
        timeout: None,
        count: 0,
        noack: false,
        group: None,
        streams_at: 0,
    };
    let mut i = 1;
    while i < argv.len() {
        let more = argv.len() - i - 1;
        let o = &argv[i];
        if eq(o, "BLOCK") && more > 0 {
            i += 1;
            let t = parse_i64(&argv[i]).ok_or(ReplyError::from(
                "ERR timeout is not an integer or out of range",
            ))?;
            if t < 0 {
                return Err("ERR timeout is negative".into());
            }
            a.timeout = Some(t as u64);
        } else if eq(o, "COUNT") && more > 0 {
            i += 1;
            a.count = parse_i64(&argv[i])
                .ok_or(ReplyError::from(NOT_INTEGER))?
                .max(0) as usize;
        } else if eq(o, "STREAMS") && more > 0 {
            a.streams_at = i + 1;
            if !(argv.len() - a.streams_at).is_multiple_of(2) {
                return Err("ERR Unbalanced XREAD list of streams: for each stream key an ID or '$' must be specified.".into());
            }
            break;
        } else if eq(o, "GROUP") && more >= 2 {
            if !xreadgroup {
                return Err("ERR The GROUP option is only supported by XREADGROUP. You called XREAD instead.".into());
            }
            a.group = Some((&argv[i + 1], &argv[i + 2]));
            i += 2;
        } else if eq(o, "NOACK") {
            if !xreadgroup {
                return Err("ERR The NOACK option is only supported by XREADGROUP. You called XREAD instead.".into());
            }
            a.noack = true;
        } else {
            return Err(SYNTAX.into());
        }
        i += 1;
    }
    if a.streams_at == 0 {
        return Err(SYNTAX.into());
    }
    if xreadgroup && a.group.is_none() {
        return Err("ERR Missing GROUP option for XREADGROUP".into());
    }
    Ok(a)
}

pub fn xread(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let ReadArgs {
        timeout,
        mut count,
        streams_at,
        ..
    } = parse_read_args(argv, false)?;
    let n = (argv.len() - streams_at) / 2;
    let keys = &argv[streams_at..streams_at + n];
    let db = ctx.db();
    // Resolve every ID (and type-check every key) before reading anything. `None` is `+`
    // (Redis 7.4): the last entry.
    let mut ids: Vec<Option<StreamId>> = Vec::with_capacity(n);
    for (k, id_arg) in keys.iter().zip(&argv[streams_at + n..]) {
        // A woken client whose key now holds another type goes back to waiting, as in Redis.
        let meta = match ctx.store.stream(db, k, ctx.now_ms) {
            Err(_) if ctx.wake_key.is_some() => None,
            other => other.map_err(wrongtype)?,
        };
        let id = match id_arg.as_ref() {
            b"$" => Some(meta.map_or(StreamId::MIN, |m| m.last_id)),
            b"+" => None,
            b">" => return Err("ERR The > ID can be specified only when calling XREADGROUP using the GROUP <group> <consumer> option.".into()),
            other => Some(parse_strict_id(other, 0)?),
        };
        ids.push(id);
    }
    // Served after blocking: only the key that woke us (once, with the ID it was first listed
    // with), with the blocked default COUNT, and — as Redis — even if the entries that woke us
    // are already gone again (then with an empty list).
    let woken = ctx.wake_key.clone();
    if woken.is_some() && count == 0 {
        count = BLOCKED_DEFAULT_COUNT;
    }
    let mut results: Vec<(&Bytes, Vec<StreamEntry>)> = Vec::new();
    for (k, gt) in keys.iter().zip(&ids) {
        if let Some(w) = &woken {
            if w != k || results.iter().any(|(r, _)| *r == k) {
                continue;
            }
        }
        let Ok(Some((last_id, empty))) = ctx
            .store
            .stream(db, k, ctx.now_ms)
            .map(|m| m.map(|m| (m.last_id, m.is_empty())))
        else {
            continue;
        };
        let entries = match gt {
            None if empty => continue,
            None => ctx
                .store
                .stream_read(
                    db,
                    k,
                    (StreamId::MIN, StreamId::MAX),
                    true,
                    Some(1),
                    ctx.now_ms,
                )
                .map_err(storage_error)?,
            Some(gt) => {
                if woken.is_some() && last_id <= *gt {
                    continue;
                }
                let Some(start) = gt.successor() else {
                    continue;
                };
                if empty && woken.is_none() {
                    continue;
                }
                let now = ctx.now_ms;
                ctx.store
                    .stream_read(
                        db,
                        k,
                        (start, StreamId::MAX),
                        false,
                        (count > 0).then_some(count),
                        now,
                    )
                    .map_err(storage_error)?
            }
        };
        if !entries.is_empty() || woken.is_some() {
            results.push((k, entries));
        }
    }
    if !results.is_empty() {
        for (_, es) in &results {
            for e in es {
                e.fields().map_err(storage_error)?;
            }
        }
        // RESP3: a map key → entries; RESP2: an array of [key, entries] pairs.
        if ctx.out.is_resp3() {
            ctx.out.map(results.len());
        } else {
            ctx.out.array(results.len());
        }
        for (k, es) in &results {
            if !ctx.out.is_resp3() {
                ctx.out.array(2);
            }
            ctx.out.bulk(k);
            write_entries(ctx, es)?;
        }
        return Ok(());
    }
    match timeout {
        Some(ms) if !ctx.client.in_exec => {
            // Block with `$` fixed to the IDs resolved now.
            let mut retry: Vec<Bytes> = argv[..streams_at + n].to_vec();
            let mut wake_if = Vec::with_capacity(n);
            for (k, id) in keys.iter().zip(&ids) {
                // `+` on a stream with nothing to return waits like `$`.
                let id = match id {
                    Some(id) => *id,
                    None => ctx
                        .store
                        .stream(db, k, ctx.now_ms)
                        .map_err(wrongtype)?
                        .map_or(StreamId::MIN, |m| m.last_id),
                };
                retry.push(Bytes::from(id.to_string()));
                wake_if.push(WakeIf::StreamPast(id));
            }
            ctx.block = Some(BlockSpec {
                keys: keys.to_vec(),
                wake_if,
                timeout_ms: ms,
                argv: retry,
            });
        }
        _ => ctx.out.null_array(),
    }
    Ok(())
}

/// XINFO STREAM key [FULL [COUNT n]]
pub fn xinfo_stream(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    // Redis looks the key up (no such key, WRONGTYPE) before it parses the options.
    let db = ctx.db();
    if ctx
        .store
        .stream(db, &argv[2], ctx.now_ms)
        .map_err(wrongtype)?
        .is_none()
    {
        return Err(crate::reply::NO_SUCH_KEY.into());
    }
    let mut full = false;
    let mut count: i64 = 10;
    let opts = &argv[3..];
    if !opts.is_empty() {
        let syntax = || {
            ReplyError::new(format!(
                "ERR unknown subcommand or wrong number of arguments for '{}'. Try XINFO HELP.",
                crate::reply::printable(&argv[1], 128)
            ))
        };
        if (opts.len() != 1 && opts.len() != 3) || !eq(&opts[0], "FULL") {
            return Err(syntax());
        }
        if opts.len() == 3 {
            if !eq(&opts[1], "COUNT") {
                return Err(syntax());
            }
            count = parse_i64(&opts[2]).ok_or(ReplyError::from(NOT_INTEGER))?;
            if count < 0 {
                count = 10;
            }
        }
        full = true;
    }
    let Some(meta) = ctx
        .store
        .stream(db, &argv[2], ctx.now_ms)
        .map_err(wrongtype)?
    else {
        return Err(crate::reply::NO_SUCH_KEY.into());
    };
    let groups = meta.groups.len();
    let (sid, len, keys, nodes) = (
        meta.sid,
        meta.len(),
        meta.layout.radix_tree_keys(),
        meta.layout.radix_tree_nodes(),
    );
    let (last, max_deleted, added, first) = (
        meta.last_id,
        meta.max_deleted,
        meta.entries_added,
        meta.first_id,
    );
    let (first_entry, last_entry, entries) = if full {
        let limit = (count > 0).then_some(count as usize);
        (
            vec![],
            vec![],
            ctx.store
                .stream_range(sid, StreamId::MIN, StreamId::MAX, false, limit)
                .map_err(storage_error)?,
        )
    } else {
        (
            ctx.store
                .stream_range(sid, StreamId::MIN, StreamId::MAX, false, Some(1))
                .map_err(storage_error)?,
            ctx.store
                .stream_range(sid, StreamId::MIN, StreamId::MAX, true, Some(1))
                .map_err(storage_error)?,
            vec![],
        )
    };
    for e in first_entry.iter().chain(&last_entry).chain(&entries) {
        e.fields().map_err(storage_error)?;
    }
    let out = &mut *ctx.out;
    out.map(if full { 9 } else { 10 });
    out.bulk(b"length");
    out.int(len as i64);
    out.bulk(b"radix-tree-keys");
    out.int(keys as i64);
    out.bulk(b"radix-tree-nodes");
    out.int(nodes as i64);
    out.bulk(b"last-generated-id");
    out.bulk(last.text().as_bytes());
    out.bulk(b"max-deleted-entry-id");
    out.bulk(max_deleted.text().as_bytes());
    out.bulk(b"entries-added");
    out.int(added as i64);
    out.bulk(b"recorded-first-entry-id");
    out.bulk(first.text().as_bytes());
    if full {
        out.bulk(b"entries");
        write_entries(ctx, &entries)?;
        ctx.out.bulk(b"groups");
        super::groups::write_full_groups(ctx, &argv[2], count.max(0) as usize)?;
    } else {
        out.bulk(b"groups");
        out.int(groups as i64);
        for (name, e) in [
            (&b"first-entry"[..], first_entry.first()),
            (b"last-entry", last_entry.first()),
        ] {
            ctx.out.bulk(name);
            match e {
                Some(e) => write_entry(ctx, e)?,
                None => ctx.out.null(),
            }
        }
    }
    Ok(())
}

pub fn xinfo_help(ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> CmdResult {
    super::help_reply(
        ctx,
        "XINFO",
        &[
            "CONSUMERS <key> <groupname>",
            "    Show consumers of <groupname>.",
            "GROUPS <key>",
            "    Show the stream consumer groups.",
            "STREAM <key> [FULL [COUNT <count>]",
            "    Show information about the stream.",
        ],
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// The table rows of this family (see `commands/mod.rs`).

pub static COMMANDS: &[Command] = &[
    cmd("xadd", -5, xadd)
        .flags(&["write", "denyoom", "fast"])
        .keys(1, 1, 1, &[ks(&["RW", "update"], 1, 0, 1).notes("UPDATE instead of INSERT because of the optional trimming feature")])
        .acl(&["@write", "@stream", "@fast"])
        .tips(&["nondeterministic_output"])
        .doc("stream", "5.0.0", "O(1) when adding a new entry, O(N) when trimming where N being the number of entries evicted.", "Appends a new entry to a stream")
        .history(&[
            ("6.2.0", "Added the `NOMKSTREAM` option, `MINID` trimming strategy and the `LIMIT` option."),
            ("7.0.0", "Added support for the `<ms>-*` explicit ID form."),
        ])
        .args(&[
            arg("key", "key"),
            tok("NOMKSTREAM").since("6.2.0").opt(),
            arg("trim", "block").opt().of(&[
                arg("strategy", "oneof").of(&[tok("MAXLEN"), tok("MINID").since("6.2.0")]),
                arg("operator", "oneof").opt().of(&[arg("equal", "pure-token").token("="), arg("approximately", "pure-token").token("~")]),
                arg("threshold", "string"),
                arg("count", "integer").token("LIMIT").since("6.2.0").opt(),
            ]),
            arg("id-selector", "oneof").of(&[arg("auto-id", "pure-token").token("*"), arg("id", "string")]),
            arg("data", "block").many().of(&[arg("field", "string"), arg("value", "string")]),
        ]),
    cmd("xrange", -4, xrange)
        .flags(&["readonly"])
        .keys(1, 1, 1, RO)
        .acl(&["@read", "@stream", "@slow"])
        .doc("stream", "5.0.0", "O(N) with N being the number of elements being returned. If N is constant (e.g. always asking for the first 10 elements with COUNT), you can consider it O(1).", "Return a range of elements in a stream, with IDs matching the specified IDs interval")
        .history(&[("6.2.0", "Added exclusive ranges.")])
        .args(&[arg("key", "key"), arg("start", "string"), arg("end", "string"), arg("count", "integer").token("COUNT").opt()]),
    cmd("xrevrange", -4, xrevrange)
        .flags(&["readonly"])
        .keys(1, 1, 1, RO)
        .acl(&["@read", "@stream", "@slow"])
        .doc("stream", "5.0.0", "O(N) with N being the number of elements returned. If N is constant (e.g. always asking for the first 10 elements with COUNT), you can consider it O(1).", "Return a range of elements in a stream, with IDs matching the specified IDs interval, in reverse order (from greater to smaller IDs) compared to XRANGE")
        .history(&[("6.2.0", "Added exclusive ranges.")])
        .args(&[arg("key", "key"), arg("end", "string"), arg("start", "string"), arg("count", "integer").token("COUNT").opt()]),
    cmd("xlen", 2, xlen)
        .flags(&["readonly", "fast"])
        .keys(1, 1, 1, &[ks(&["RO"], 1, 0, 1)])
        .acl(&["@read", "@stream", "@fast"])
        .doc("stream", "5.0.0", "O(1)", "Return the number of entries in a stream")
        .args(&[arg("key", "key")]),
    cmd("xdel", -3, xdel)
        .flags(&["write", "fast"])
        .keys(1, 1, 1, &[ks(&["RW", "delete"], 1, 0, 1)])
        .acl(&["@write", "@stream", "@fast"])
        .doc("stream", "5.0.0", "O(1) for each single item to delete in the stream, regardless of the stream size.", "Removes the specified entries from the stream. Returns the number of items actually deleted, that may be different from the number of IDs passed in case certain IDs do not exist.")
        .args(&[arg("key", "key"), arg("id", "string").many()]),
    cmd("xtrim", -4, xtrim)
        .flags(&["write"])
        .keys(1, 1, 1, &[ks(&["RW", "delete"], 1, 0, 1)])
        .acl(&["@write", "@stream", "@slow"])
        .tips(&["nondeterministic_output"])
        .doc("stream", "5.0.0", "O(N), with N being the number of evicted entries. Constant times are very small however, since entries are organized in macro nodes containing multiple entries that can be released with a single deallocation.", "Trims the stream to (approximately if '~' is passed) a certain size")
        .history(&[("6.2.0", "Added the `MINID` trimming strategy and the `LIMIT` option.")])
        .args(&[
            arg("key", "key"),
            arg("trim", "block").of(&[
                arg("strategy", "oneof").of(&[tok("MAXLEN"), tok("MINID").since("6.2.0")]),
                arg("operator", "oneof").opt().of(&[arg("equal", "pure-token").token("="), arg("approximately", "pure-token").token("~")]),
                arg("threshold", "string"),
                arg("count", "integer").token("LIMIT").since("6.2.0").opt(),
            ]),
        ]),
    cmd("xsetid", -3, xsetid)
        .flags(&["write", "denyoom", "fast"])
        .keys(1, 1, 1, &[ks(&["RW", "update"], 1, 0, 1)])
        .acl(&["@write", "@stream", "@fast"])
        .doc("stream", "5.0.0", "O(1)", "An internal command for replicating stream values")
        .history(&[("7.0.0", "Added the `entries_added` and `max_deleted_entry_id` arguments.")])
        .args(&[
            arg("key", "key"),
            arg("last-id", "string"),
            arg("entries-added", "integer").token("ENTRIESADDED").since("7.0.0").opt(),
            arg("max-deleted-id", "string").token("MAXDELETEDID").since("7.0.0").opt(),
        ]),
    cmd("xread", -4, xread)
        .flags(&["readonly", "blocking", "movablekeys"])
        .keys(0, 0, 0, &[ks_keyword(&["RO", "access"], "STREAMS", 1, -1, 1, 2)])
        .acl(&["@read", "@stream", "@slow", "@blocking"])
        .doc("stream", "5.0.0", "For each stream mentioned: O(N) with N being the number of elements being returned, it means that XREAD-ing with a fixed COUNT is O(1). Note that when the BLOCK option is used, XADD will pay O(M) time in order to serve the M clients blocked on the stream getting new data.", "Return never seen elements in multiple streams, with IDs greater than the ones reported by the caller for each stream. Can block.")
        .args(&[
            arg("count", "integer").token("COUNT").opt(),
            arg("milliseconds", "integer").token("BLOCK").opt(),
            arg("streams", "block").token("STREAMS").of(&[arg("key", "key").many(), arg("id", "string").many()]),
        ]),
    container("xinfo", &XINFO_SUBCOMMANDS)
        .acl(&["@slow"])
        .doc("stream", "5.0.0", "Depends on subcommand.", "A container for stream introspection commands"),
];

/// XINFO STREAM and HELP are handled here, GROUPS and CONSUMERS beside the other group code.
pub static XINFO_SUBCOMMANDS: [Command; 4] = [
    cmd("xinfo|groups", 3, super::groups::xinfo_groups)
        .flags(&["readonly"])
        .keys(2, 2, 1, &[ks(&["RO", "access"], 2, 0, 1)])
        .acl(&["@read", "@stream", "@slow"])
        .doc("stream", "5.0.0", "O(1)", "List the consumer groups of a stream")
        .history(&[("7.0.0", "Added the `entries-read` and `lag` fields")])
        .args(&[arg("key", "key")]),
    cmd("xinfo|consumers", 4, super::groups::xinfo_consumers)
        .flags(&["readonly"])
        .keys(2, 2, 1, &[ks(&["RO", "access"], 2, 0, 1)])
        .acl(&["@read", "@stream", "@slow"])
        .tips(&["nondeterministic_output"])
        .doc("stream", "5.0.0", "O(1)", "List the consumers in a consumer group")
        .args(&[arg("key", "key"), arg("group", "string")]),
    cmd("xinfo|stream", -3, xinfo_stream)
        .flags(&["readonly"])
        .keys(2, 2, 1, &[ks(&["RO", "access"], 2, 0, 1)])
        .acl(&["@read", "@stream", "@slow"])
        .doc("stream", "5.0.0", "O(1)", "Get information about a stream")
        .history(&[
            ("6.0.0", "Added the `FULL` modifier."),
            ("7.0.0", "Added the `max-deleted-entry-id`, `entries-added`, `recorded-first-entry-id`, `entries-read` and `lag` fields"),
        ])
        .args(&[
            arg("key", "key"),
            arg("full-block", "block").token("FULL").opt().of(&[arg("count", "integer").token("COUNT").opt()]),
        ]),
    cmd("xinfo|help", 2, xinfo_help)
        .flags(&["loading", "stale"])
        .acl(&["@stream", "@slow"])
        .doc("stream", "5.0.0", "O(1)", "Show helpful text about the different subcommands"),
];
