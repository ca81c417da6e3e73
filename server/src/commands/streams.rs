//! Stream commands: XADD, XRANGE, XREVRANGE, XLEN, XDEL, XTRIM, XSETID, XREAD (with BLOCK) and
//! XINFO STREAM/HELP — with Redis 7.0.15's parsing order, replies, quirks and error texts.
//!
//! Every handler first parses its arguments (through an `Args` cursor, IDs through
//! `stream_id`) into a typed value, then executes. Where Redis looks the key up before it
//! reports a bad argument (XDEL, XINFO STREAM), the parse result is kept and its error returned
//! after the lookup, so the error that wins is Redis's.

use bytes::Bytes;
use sluice_storage::stream::layout::{
    effective_trim_limit, NodeLimits, Trim, STREAM_LISTPACK_MAX_SIZE,
};
use sluice_storage::stream::StreamId;
use sluice_storage::{RefPolicy, StreamEntry, TrimSpec, WrongType};

use super::common::*;
use super::stream_id;
use super::stream_refs::{ref_policy, REF_POLICY_ARGS};
use crate::args::{eq, Args};
use crate::engine::{BlockSpec, Ctx, WakeIf};
use crate::reply::{wrong_arity, CmdResult, ReplyError, SYNTAX, WRONGTYPE};

fn wrongtype(_: WrongType) -> ReplyError {
    WRONGTYPE.into()
}

/// A storage failure on a read path: reported to the client, logged with context.
pub fn storage_error(e: sluice_storage::StoreError) -> ReplyError {
    tracing::error!(error = %e, "stream read failed");
    ReplyError::new(format!("ERR {e}"))
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
    // A corrupt record must not leave a half-written reply: what this reply wrote is cut off
    // again before the error is returned (so a caller that handles the error itself has no
    // partial reply either; `dispatch::call` cuts off the rest of a failed command's reply).
    let start = ctx.out.len();
    // About the reply's size (each entry's fields with their RESP headers, its ID and arrays),
    // reserved at once: a 5 MB XRANGE grew its buffer by doubling, copying it each time (15%
    // of that command's time in a profile).
    ctx.out.reserve(
        entries
            .iter()
            .map(|e| e.raw.as_ref().len() + ENTRY_REPLY_OVERHEAD)
            .sum(),
    );
    ctx.out.array(entries.len());
    for e in entries {
        if let Err(err) = write_entry(ctx, e) {
            ctx.out.truncate(start);
            return Err(err);
        }
    }
    Ok(())
}

/// Bytes of an entry's reply beyond its encoded fields: the entry's and the fields' array
/// headers, the ID as a bulk string, and the bulk headers of a few fields.
const ENTRY_REPLY_OVERHEAD: usize = 64;

fn node_limits(ctx: &Ctx<'_>) -> NodeLimits {
    NodeLimits {
        max_entries: ctx.srv.config.stream_node_max_entries,
        max_bytes: ctx.srv.config.stream_node_max_bytes,
    }
}

/// The trimming options of XADD and XTRIM (`streamParseAddOrTrimArgsOrReply`), and XADD's ID.
#[derive(Default)]
struct TrimArgs {
    strategy: Option<Trim>,
    approx: bool,
    limit: Option<i64>,
    nomkstream: bool,
    /// `KEEPREF|DELREF|ACKED` (Redis 8.2), if given (at most one).
    policy: Option<RefPolicy>,
    /// XADD: the ID argument (`None` = `*`) and whether its sequence was given.
    id: Option<(StreamId, bool)>,
    /// XADD: `IDMP pid iid` / `IDMPAUTO pid` (see `idmp.rs`).
    idmp: Option<super::idmp::IdmpOpt>,
}

/// Parses the options after the key; for XADD up to and including the ID (`*` or explicit),
/// leaving the cursor on the first field.
fn parse_trim_args(args: &mut Args<'_>, xadd: bool) -> Result<TrimArgs, ReplyError> {
    let mut a = TrimArgs::default();
    let mut limit_given = false;
    while let Some(opt) = args.next_opt() {
        let more = args.remaining();
        if xadd && opt.as_ref() == b"*" {
            break;
        } else if (eq(opt, "MAXLEN") || eq(opt, "MINID")) && more > 0 {
            if a.strategy.is_some() {
                return Err("ERR syntax error, MAXLEN and MINID options at the same time are not compatible".into());
            }
            a.approx = false;
            if more >= 2 && args.peek().is_some_and(|n| n.as_ref() == b"~") {
                a.approx = true;
                args.next()?;
            } else if more >= 2 && args.peek().is_some_and(|n| n.as_ref() == b"=") {
                args.next()?;
            }
            let v = args.next()?;
            if eq(opt, "MAXLEN") {
                let n = crate::args::int(v)?;
                if n < 0 {
                    return Err("ERR The MAXLEN argument must be >= 0.".into());
                }
                a.strategy = Some(Trim::MaxLen(n as u64));
            } else {
                a.strategy = Some(Trim::MinId(stream_id::strict(v, 0)?));
            }
        } else if eq(opt, "LIMIT") && more > 0 {
            let n = args.next_i64()?;
            if n < 0 {
                return Err("ERR The LIMIT argument must be >= 0.".into());
            }
            a.limit = Some(n);
            limit_given = true;
        } else if let Some(p) = ref_policy(opt).filter(|_| a.policy.is_none()) {
            // A second policy is not an option: XTRIM's syntax error, XADD's bad ID.
            a.policy = Some(p);
        } else if xadd && eq(opt, "NOMKSTREAM") {
            a.nomkstream = true;
        } else if xadd && super::idmp::parse_xadd_opt(opt, args, &mut a.idmp)? {
        } else if xadd {
            a.id = Some(stream_id::xadd(opt)?);
            break;
        } else {
            return Err(SYNTAX.into());
        }
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
    Ok(a)
}

/// XADD key [NOMKSTREAM] [KEEPREF|DELREF|ACKED] [MAXLEN|MINID [=|~] threshold [LIMIT count]] *|id field value …
struct Xadd<'a> {
    key: &'a Bytes,
    opts: TrimArgs,
    fields: &'a [Bytes],
}

impl<'a> Xadd<'a> {
    fn parse(argv: &'a [Bytes]) -> Result<Self, ReplyError> {
        let mut args = Args::new(argv.get(1..).unwrap_or_default());
        let key = args.next()?;
        let opts = parse_trim_args(&mut args, true)?;
        if opts.idmp.is_some() && opts.id.is_some() {
            return Err(super::idmp::AUTO_ID_ONLY.into());
        }
        let fields = args.take_rest();
        if fields.len() < 2 || fields.len() % 2 == 1 {
            return Err(wrong_arity("xadd"));
        }
        if let Some((id, true)) = opts.id {
            if id == StreamId::MIN {
                return Err("ERR The ID specified in XADD must be greater than 0-0".into());
            }
        }
        Ok(Xadd { key, opts, fields })
    }
}

pub fn xadd(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let Xadd {
        key,
        opts: a,
        fields,
    } = Xadd::parse(argv)?;
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
    // IDMP: a (pid, iid) still in the stream's window answers the entry it added, adding nothing.
    let idmp = a.idmp.as_ref().map(|o| (o.pid(), o.digest(fields)));
    if let Some((pid, iid)) = idmp {
        if let Some(orig) = ctx.store.idmp_lookup(db, key, pid, iid, ctx.now_ms) {
            ctx.out.bulk(orig.text().as_bytes());
            return Ok(());
        }
    }
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
                    // 7.0.15 reports the exhausted sequence of an `<ms>-*` ID this way (its
                    // append fails with ERANGE), not as an ID that is too small.
                    return Err("ERR Elements are too large to be stored".into());
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
        let policy = a.policy.unwrap_or_default();
        ctx.store
            .stream_trim_refs(db, key, spec, policy, Some(id), ctx.now_ms)
            .map_err(storage_error)?;
    }
    if let Some((pid, iid)) = idmp {
        let d = super::idmp::defaults(ctx);
        ctx.store.idmp_insert(db, key, pid, iid, id, ctx.now_ms, d);
    }
    ctx.out.bulk(id.text().as_bytes());
    Ok(())
}

/// XTRIM key MAXLEN|MINID [=|~] threshold [LIMIT count] [KEEPREF|DELREF|ACKED]
struct Xtrim<'a> {
    key: &'a Bytes,
    strategy: Trim,
    approx: bool,
    limit: Option<i64>,
    policy: RefPolicy,
}

impl<'a> Xtrim<'a> {
    fn parse(argv: &'a [Bytes]) -> Result<Self, ReplyError> {
        let mut args = Args::new(argv.get(1..).unwrap_or_default());
        let key = args.next()?;
        let a = parse_trim_args(&mut args, false)?;
        let (Some(strategy), true) = (a.strategy, args.is_empty()) else {
            return Err(SYNTAX.into());
        };
        Ok(Xtrim {
            key,
            strategy,
            approx: a.approx,
            limit: a.limit,
            policy: a.policy.unwrap_or_default(),
        })
    }
}

pub fn xtrim(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let a = Xtrim::parse(argv)?;
    let db = ctx.db();
    if ctx
        .store
        .stream(db, a.key, ctx.now_ms)
        .map_err(wrongtype)?
        .is_none()
    {
        ctx.out.int(0);
        return Ok(());
    }
    let limits = node_limits(ctx);
    let limit = effective_trim_limit(a.approx, a.limit.map(|l| l as u64), limits.max_entries);
    let spec = TrimSpec {
        strategy: a.strategy,
        approx: a.approx,
        limit,
    };
    let n = ctx
        .store
        .stream_trim_refs(db, a.key, spec, a.policy, None, ctx.now_ms)
        .map_err(storage_error)?;
    ctx.out.int(n as i64);
    Ok(())
}

/// XRANGE key start end [COUNT n] / XREVRANGE key end start [COUNT n]
struct Range<'a> {
    key: &'a Bytes,
    start: StreamId,
    end: StreamId,
    /// -1: no COUNT.
    count: i64,
}

impl<'a> Range<'a> {
    fn parse(argv: &'a [Bytes], rev: bool) -> Result<Self, ReplyError> {
        let mut args = Args::new(argv.get(1..).unwrap_or_default());
        let key = args.next()?;
        let (first, second) = (args.next()?, args.next()?);
        // Redis parses the start first, whichever argument it is.
        let (start_arg, end_arg) = if rev {
            (second, first)
        } else {
            (first, second)
        };
        let start = stream_id::range_start(start_arg)?;
        let end = stream_id::range_end(end_arg)?;
        let mut count: i64 = -1;
        while let Some(opt) = args.next_opt() {
            if eq(opt, "COUNT") && !args.is_empty() {
                count = args.next_i64()?.max(0);
            } else {
                return Err(SYNTAX.into());
            }
        }
        Ok(Range {
            key,
            start,
            end,
            count,
        })
    }
}

fn range_generic(ctx: &mut Ctx<'_>, argv: &[Bytes], rev: bool) -> CmdResult {
    let Range {
        key,
        start,
        end,
        count,
    } = Range::parse(argv, rev)?;
    let db = ctx.db();
    if ctx
        .store
        .stream(db, key, ctx.now_ms)
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
        .stream_read(db, key, (start, end), rev, limit, now)
        .map_err(storage_error)?;
    write_entries(ctx, &entries)
}

pub fn xrange(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    range_generic(ctx, argv, false)
}

pub fn xrevrange(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    range_generic(ctx, argv, true)
}

/// XLEN key
pub fn xlen(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let key = Args::new(argv.get(1..).unwrap_or_default()).next()?;
    let db = ctx.db();
    let n = ctx
        .store
        .stream(db, key, ctx.now_ms)
        .map_err(wrongtype)?
        .map_or(0, |m| m.len());
    ctx.out.int(n as i64);
    Ok(())
}

/// Complete IDs (XDEL, XACK): every one is checked before anything is changed.
pub fn strict_ids(args: &[Bytes]) -> Result<Vec<StreamId>, ReplyError> {
    args.iter().map(|a| stream_id::strict(a, 0)).collect()
}

/// XDEL key id …
pub fn xdel(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let mut args = Args::new(argv.get(1..).unwrap_or_default());
    let key = args.next()?;
    // Redis looks the key up before it reports a bad ID.
    let ids = strict_ids(args.take_rest());
    let db = ctx.db();
    if ctx
        .store
        .stream(db, key, ctx.now_ms)
        .map_err(wrongtype)?
        .is_none()
    {
        ctx.out.int(0);
        return Ok(());
    }
    let ids = ids?;
    let n = ctx
        .store
        .stream_delete(db, key, &ids, ctx.now_ms)
        .map_err(storage_error)?;
    ctx.out.int(n as i64);
    Ok(())
}

/// XSETID key last-id [ENTRIESADDED n] [MAXDELETEDID id]
struct Xsetid<'a> {
    key: &'a Bytes,
    id: StreamId,
    entries_added: Option<u64>,
    /// 0-0: not given.
    max_deleted: StreamId,
}

impl<'a> Xsetid<'a> {
    fn parse(argv: &'a [Bytes]) -> Result<Self, ReplyError> {
        let mut args = Args::new(argv.get(1..).unwrap_or_default());
        let key = args.next()?;
        let id = stream_id::strict(args.next()?, 0)?;
        let mut entries_added: Option<u64> = None;
        let mut max_deleted = StreamId::MIN;
        while let Some(opt) = args.next_opt() {
            if eq(opt, "ENTRIESADDED") && !args.is_empty() {
                let n = args.next_i64()?;
                if n < 0 {
                    return Err("ERR entries_added must be positive".into());
                }
                entries_added = Some(n as u64);
            } else if eq(opt, "MAXDELETEDID") && !args.is_empty() {
                max_deleted = stream_id::strict(args.next()?, 0)?;
                if id < max_deleted {
                    return Err("ERR The ID specified in XSETID is smaller than the provided max_deleted_entry_id".into());
                }
            } else {
                return Err(SYNTAX.into());
            }
        }
        Ok(Xsetid {
            key,
            id,
            entries_added,
            max_deleted,
        })
    }
}

pub fn xsetid(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let Xsetid {
        key,
        id,
        entries_added,
        max_deleted,
    } = Xsetid::parse(argv)?;
    let db = ctx.db();
    let Some((sid, len)) = ctx
        .store
        .stream(db, key, ctx.now_ms)
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
    if let Ok(Some(meta)) = ctx.store.stream_mut(db, key, ctx.now_ms) {
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

/// What XREAD/XREADGROUP say about a MAXCOUNT or MAXSIZE that is not a positive integer,
/// and about a MAXCOUNT below COUNT. Redis 8.10 has these checks; its exact texts could not be
/// checked against an 8.10 server here (see the README).
const MAXCOUNT_NOT_POSITIVE: &str = "ERR MAXCOUNT must be a positive integer";
const MAXSIZE_NOT_POSITIVE: &str = "ERR MAXSIZE must be a positive integer";
const MAXCOUNT_BELOW_COUNT: &str = "ERR MAXCOUNT must be greater than or equal to COUNT";

/// An odd number of arguments after STREAMS. Redis 7.2 (#11799) names the command and what
/// each stream needs; 7.4 added `+` for XREAD. Follows the reported version.
fn unbalanced(xreadgroup: bool) -> ReplyError {
    if !super::info::redis_at_least(7, 2, 0) {
        "ERR Unbalanced XREAD list of streams: for each stream key an ID or '$' must be specified."
            .into()
    } else if xreadgroup {
        "ERR Unbalanced 'xreadgroup' list of streams: for each stream key an ID or '>' must be specified.".into()
    } else if super::info::redis_at_least(7, 4, 0) {
        "ERR Unbalanced 'xread' list of streams: for each stream key an ID, '+', or '$' must be specified.".into()
    } else {
        "ERR Unbalanced 'xread' list of streams: for each stream key an ID or '$' must be specified.".into()
    }
}

/// MAXCOUNT / MAXSIZE (Redis 8.10): cumulative caps on one XREAD / XREADGROUP reply, over all
/// its streams, served in the order the command names them. MAXCOUNT bounds the entries;
/// MAXSIZE the reply's bytes (each entry counted as its RESP2 encoding) — softly: an entry
/// that would pass it is left out, unless the reply has no entry yet, so that a reader always
/// makes progress.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReplyCaps {
    pub max_count: Option<usize>,
    pub max_size: Option<u64>,
}

/// The running budget of one reply under [`ReplyCaps`].
#[derive(Clone, Copy, Debug)]
pub struct CapBudget {
    caps: ReplyCaps,
    entries: usize,
    bytes: u64,
}

impl CapBudget {
    pub fn new(caps: ReplyCaps) -> Self {
        CapBudget {
            caps,
            entries: 0,
            bytes: 0,
        }
    }

    /// The COUNT to use for the next stream: the per-stream COUNT (0 = none) lowered to what
    /// MAXCOUNT leaves; `None` when MAXCOUNT is used up (the stream is skipped).
    pub fn next_count(&self, count: usize) -> Option<usize> {
        match self.caps.max_count {
            None => Some(count),
            Some(max) => {
                let left = max.saturating_sub(self.entries);
                if left == 0 {
                    None
                } else if count == 0 {
                    Some(left)
                } else {
                    Some(count.min(left))
                }
            }
        }
    }

    /// Whether the budget is used up (later streams are skipped).
    pub fn exhausted(&self) -> bool {
        self.next_count(0).is_none()
            || self
                .caps
                .max_size
                .is_some_and(|m| self.entries > 0 && self.bytes >= m)
    }

    /// Charges an entry already in the reply (delivered before it could be sized).
    pub fn charge(&mut self, size: u64) {
        self.entries += 1;
        self.bytes = self.bytes.saturating_add(size);
    }

    /// Takes, from entries of these encoded sizes (in order), as many as the budget allows,
    /// and charges them; returns how many.
    pub fn take(&mut self, sizes: impl IntoIterator<Item = u64>) -> usize {
        let mut n = 0;
        for size in sizes {
            if self.next_count(0).is_none() {
                break;
            }
            if let Some(max) = self.caps.max_size {
                if self.entries > 0 && self.bytes.saturating_add(size) > max {
                    // Nothing after it fits either, as far as this reply is concerned.
                    self.bytes = max;
                    break;
                }
            }
            self.entries += 1;
            self.bytes = self.bytes.saturating_add(size);
            n += 1;
        }
        n
    }
}

/// The RESP2 size of `[id, [field, value, …]]` for an entry with this ID and these fields.
pub fn entry_reply_size(id: StreamId, fields: &[&[u8]]) -> u64 {
    fn bulk(len: usize) -> u64 {
        // `$<len>\r\n<bytes>\r\n`
        (len + decimal_len(len as u64) + 5) as u64
    }
    fn decimal_len(mut n: u64) -> usize {
        let mut d = 1;
        while n >= 10 {
            n /= 10;
            d += 1;
        }
        d
    }
    let id_len = decimal_len(id.ms) + 1 + decimal_len(id.seq);
    let head = 4 + (3 + decimal_len(fields.len() as u64)) as u64;
    head + bulk(id_len) + fields.iter().map(|f| bulk(f.len())).sum::<u64>()
}

/// The ID of one stream of XREAD / XREADGROUP.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReadId {
    /// XREAD `$`: entries after the stream's last ID now.
    Last,
    /// XREAD `+` (Redis 7.4): the last entry.
    Newest,
    /// XREADGROUP `>` (or the maximum ID, as Redis stores `>`): entries never delivered.
    New,
    /// Entries after this ID (XREAD), or the consumer's pending entries after it (XREADGROUP).
    After(StreamId),
}

/// XREAD [COUNT n] [BLOCK ms] STREAMS key … id …, and XREADGROUP GROUP g c [COUNT n]
/// [BLOCK ms] [NOACK] STREAMS key … id …: the options parsed in Redis's order
/// (`xreadCommand`).
pub struct ReadArgs<'a> {
    /// BLOCK in ms (0 = forever).
    pub timeout: Option<u64>,
    /// COUNT (0 = no limit).
    pub count: usize,
    /// MAXCOUNT and MAXSIZE (Redis 8.10): caps on the whole reply, across its streams.
    pub caps: ReplyCaps,
    pub noack: bool,
    /// XREADGROUP's CLAIM min-idle-time (Redis 8.4; see `commands::groups`).
    pub claim: Option<u64>,
    /// XREADGROUP's GROUP group consumer.
    pub group: Option<(&'a Bytes, &'a Bytes)>,
    /// The command name and options before the keys (a blocked XREAD is re-run with them).
    pub head: &'a [Bytes],
    pub keys: &'a [Bytes],
    /// One per key. Redis reports a bad ID only after it has looked up the keys before it
    /// (WRONGTYPE, NOGROUP), so the errors wait here until the key's turn.
    pub ids: Vec<Result<ReadId, ReplyError>>,
}

pub fn parse_read_args(argv: &[Bytes], xreadgroup: bool) -> Result<ReadArgs<'_>, ReplyError> {
    let mut timeout = None;
    let mut count = 0;
    let mut count_given = false;
    let mut caps = ReplyCaps::default();
    let mut noack = false;
    let mut claim = None;
    let mut group = None;
    let mut streams = None;
    let mut args = Args::new(argv.get(1..).unwrap_or_default());
    while let Some(o) = args.next_opt() {
        let more = args.remaining();
        if eq(o, "BLOCK") && more > 0 {
            // Refused from a script when the option is read, before its value, naming the
            // command as the script wrote it (Redis's xreadCommand).
            if crate::scripting::running() {
                return Err(ReplyError::new(format!(
                    "ERR {} command is not allowed with BLOCK option from scripts",
                    crate::reply::printable(&argv[0], usize::MAX)
                )));
            }
            let t = args.next_int("ERR timeout is not an integer or out of range")?;
            if t < 0 {
                return Err("ERR timeout is negative".into());
            }
            timeout = Some(t as u64);
        } else if eq(o, "COUNT") && more > 0 {
            count = args.next_i64()?.max(0) as usize;
            count_given = true;
        } else if eq(o, "MAXCOUNT") && more > 0 {
            let n = args.next_i64()?;
            if n <= 0 {
                return Err(MAXCOUNT_NOT_POSITIVE.into());
            }
            caps.max_count = Some(n as usize);
        } else if eq(o, "MAXSIZE") && more > 0 {
            let n = args.next_i64()?;
            if n <= 0 {
                return Err(MAXSIZE_NOT_POSITIVE.into());
            }
            caps.max_size = Some(n as u64);
        } else if eq(o, "STREAMS") && more > 0 {
            let rest = args.rest();
            if !rest.len().is_multiple_of(2) {
                return Err(unbalanced(xreadgroup));
            }
            streams = Some(rest);
            break;
        } else if eq(o, "GROUP") && more >= 2 {
            if !xreadgroup {
                return Err("ERR The GROUP option is only supported by XREADGROUP. You called XREAD instead.".into());
            }
            group = Some((args.next()?, args.next()?));
        } else if eq(o, "NOACK") {
            if !xreadgroup {
                return Err("ERR The NOACK option is only supported by XREADGROUP. You called XREAD instead.".into());
            }
            noack = true;
        } else if eq(o, "CLAIM") && more > 0 {
            claim = Some(super::groups::parse_claim(args.next()?, xreadgroup)?);
        } else {
            return Err(SYNTAX.into());
        }
    }
    let Some(streams) = streams else {
        return Err(SYNTAX.into());
    };
    if xreadgroup && group.is_none() {
        return Err("ERR Missing GROUP option for XREADGROUP".into());
    }
    if let Some(max) = caps.max_count {
        if count_given && count > 0 && max < count {
            return Err(MAXCOUNT_BELOW_COUNT.into());
        }
    }
    let (keys, id_args) = streams.split_at(streams.len() / 2);
    let ids = id_args
        .iter()
        .map(|a| match (a.as_ref(), xreadgroup) {
            (b"$", false) => Ok(ReadId::Last),
            (b"+", false) => Ok(ReadId::Newest),
            (b">", false) => Err("ERR The > ID can be specified only when calling XREADGROUP using the GROUP <group> <consumer> option.".into()),
            (b"$", true) => Err("ERR The $ ID is meaningless in the context of XREADGROUP: you want to read the history of this consumer by specifying a proper ID, or use the > ID to get new messages. The $ ID would just return an empty result set.".into()),
            (b">", true) => Ok(ReadId::New),
            (other, true) => match stream_id::strict(other, 0)? {
                StreamId::MAX => Ok(ReadId::New),
                id => Ok(ReadId::After(id)),
            },
            (other, false) => Ok(ReadId::After(stream_id::strict(other, 0)?)),
        })
        .collect();
    let head = argv.get(..argv.len() - streams.len()).unwrap_or_default();
    Ok(ReadArgs {
        timeout,
        count,
        caps,
        noack,
        claim,
        group,
        head,
        keys,
        ids,
    })
}

pub fn xread(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let ReadArgs {
        timeout,
        mut count,
        caps,
        head,
        keys,
        ids: id_args,
        ..
    } = parse_read_args(argv, false)?;
    let n = keys.len();
    let db = ctx.db();
    // Resolve every ID (and type-check every key) before reading anything. `None` is `+`
    // (Redis 7.4): the last entry.
    let mut ids: Vec<Option<StreamId>> = Vec::with_capacity(n);
    for (k, id_arg) in keys.iter().zip(id_args) {
        // A woken client whose key now holds another type goes back to waiting, as in Redis.
        let meta = match ctx.store.stream(db, k, ctx.now_ms) {
            Err(_) if ctx.wake_key.is_some() => None,
            other => other.map_err(wrongtype)?,
        };
        let id = match id_arg? {
            ReadId::Last => Some(meta.map_or(StreamId::MIN, |m| m.last_id)),
            ReadId::Newest => None,
            ReadId::After(id) => Some(id),
            ReadId::New => return Err(SYNTAX.into()),
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
    let mut budget = CapBudget::new(caps);
    for (k, gt) in keys.iter().zip(&ids) {
        if let Some(w) = &woken {
            if w != k || results.iter().any(|(r, _)| *r == k) {
                continue;
            }
        }
        if budget.exhausted() {
            break;
        }
        let Some(count) = budget.next_count(count) else {
            break;
        };
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
        let mut entries = entries;
        if caps != ReplyCaps::default() {
            let mut sizes = Vec::with_capacity(entries.len());
            for e in &entries {
                sizes.push(entry_reply_size(e.id, &e.fields().map_err(storage_error)?));
            }
            let n = budget.take(sizes);
            entries.truncate(n);
        }
        if !entries.is_empty() || woken.is_some() {
            results.push((k, entries));
        }
    }
    if !results.is_empty() {
        // An entry that does not decode fails the command, and the dispatcher cuts off what
        // was written of the reply (`dispatch::call`).
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
            let mut retry: Vec<Bytes> = head.iter().chain(keys).cloned().collect();
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
struct XinfoStream<'a> {
    key: &'a Bytes,
    /// `Some(count)` for FULL (0 = everything). Redis looks the key up (no such key,
    /// WRONGTYPE) before it reports bad options, so their error waits here.
    full: Result<Option<i64>, ReplyError>,
}

impl<'a> XinfoStream<'a> {
    fn parse(argv: &'a [Bytes]) -> Result<Self, ReplyError> {
        let mut args = Args::new(argv.get(1..).unwrap_or_default());
        let sub = args.next()?;
        let key = args.next()?;
        let syntax = || crate::reply::subcommand_syntax("XINFO", sub);
        let full = match args.rest() {
            [] => Ok(None),
            [full] if eq(full, "FULL") => Ok(Some(10)),
            [full, count, n] if eq(full, "FULL") && eq(count, "COUNT") => {
                crate::args::int(n).map(|c| Some(if c < 0 { 10 } else { c }))
            }
            _ => Err(syntax()),
        };
        Ok(XinfoStream { key, full })
    }
}

pub fn xinfo_stream(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let XinfoStream { key, full } = XinfoStream::parse(argv)?;
    let db = ctx.db();
    if ctx
        .store
        .stream(db, key, ctx.now_ms)
        .map_err(wrongtype)?
        .is_none()
    {
        return Err(crate::reply::NO_SUCH_KEY.into());
    }
    let full = full?;
    let count = full.unwrap_or(10);
    let full = full.is_some();
    let d = super::idmp::defaults(ctx);
    let Some(meta) = ctx.store.stream(db, key, ctx.now_ms).map_err(wrongtype)? else {
        return Err(crate::reply::NO_SUCH_KEY.into());
    };
    let groups = meta.groups.len();
    // The IDMP fields: Redis 8.6 shows them on every stream (a stream without a window with
    // the configured defaults and zero counts). Below a reported 8.6 only a stream that used
    // IDMP or XCFGSET shows them, so that others answer as 7.0.15.
    let idmp = sluice_storage::IdmpInfo::of(meta).or_else(|| {
        super::info::redis_at_least(8, 6, 0).then_some(sluice_storage::IdmpInfo {
            duration_s: d.duration_s,
            maxsize: d.maxsize,
            pids_tracked: 0,
            iids_tracked: 0,
            iids_added: 0,
            iids_duplicates: 0,
        })
    });
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
    let extra = if idmp.is_some() {
        super::idmp::INFO_FIELDS
    } else {
        0
    };
    out.map(if full { 9 } else { 10 } + extra);
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
    if let Some(info) = &idmp {
        super::idmp::write_info(ctx, info);
    }
    let out = &mut *ctx.out;
    if full {
        out.bulk(b"entries");
        write_entries(ctx, &entries)?;
        ctx.out.bulk(b"groups");
        super::groups::write_full_groups(ctx, key, count.max(0) as usize)?;
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
            ("8.2.0", "Added the `KEEPREF`, `DELREF` and `ACKED` options."),
            ("8.6.0", "Added the `IDMPAUTO` and `IDMP` arguments."),
        ])
        .args(&[
            arg("key", "key"),
            tok("NOMKSTREAM").since("6.2.0").opt(),
            arg("condition", "oneof").since("8.2.0").opt().of(REF_POLICY_ARGS),
            arg("idmp", "oneof").since("8.6.0").opt().of(&[
                arg("idmpauto-block", "block").of(&[tok("IDMPAUTO"), arg("producer-id", "string")]),
                arg("idmp-block", "block").of(&[tok("IDMP"), arg("producer-id", "string"), arg("idempotent-id", "string")]),
            ]),
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
        .history(&[
            ("6.2.0", "Added the `MINID` trimming strategy and the `LIMIT` option."),
            ("8.2.0", "Added the `KEEPREF`, `DELREF` and `ACKED` options."),
        ])
        .args(&[
            arg("key", "key"),
            arg("trim", "block").of(&[
                arg("strategy", "oneof").of(&[tok("MAXLEN"), tok("MINID").since("6.2.0")]),
                arg("operator", "oneof").opt().of(&[arg("equal", "pure-token").token("="), arg("approximately", "pure-token").token("~")]),
                arg("threshold", "string"),
                arg("count", "integer").token("LIMIT").since("6.2.0").opt(),
            ]),
            arg("condition", "oneof").since("8.2.0").opt().of(REF_POLICY_ARGS),
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
        .history(&[("8.10.0", "Added the `MAXCOUNT` and `MAXSIZE` options.")])
        .args(&[
            arg("count", "integer").token("COUNT").opt(),
            arg("maxcount", "integer").token("MAXCOUNT").since("8.10.0").opt(),
            arg("maxsize", "integer").token("MAXSIZE").since("8.10.0").opt(),
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
            ("8.6.0", "Added the `idmp-duration`, `idmp-maxsize`, `pids-tracked`, `iids-tracked`, `iids-added` and `iids-duplicates` fields"),
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
