//! Consumer-group commands: XGROUP, XREADGROUP, XACK, XPENDING, XCLAIM, XAUTOCLAIM, and XINFO
//! GROUPS/CONSUMERS — Redis 7.0.15's parsing order, replies and error texts; XINFO CONSUMERS and
//! XINFO STREAM FULL report Redis 7.2's `inactive`/`active-time` fields (a deliberate
//! difference, see the compat tests).
//!
//! Every change to a group goes through the store's `GroupMut` handle (`Store::group_mut`), whose
//! methods stage their own records (the storage crate owns the group's state and its PEL log);
//! the handlers here only read groups directly. Blocked readers are woken from what the store
//! reports changed, never from here.

use bytes::Bytes;
use sluice_storage::store::{ClaimOutcome, ClaimSpec, NackMode};
use sluice_storage::stream::group::{CounterRules, Group, ENTRIES_READ_UNKNOWN};
use sluice_storage::stream::{StreamId, StreamMeta};
use sluice_storage::{StreamEntry, Value, WrongType};

use super::common::*;
use super::stream_id;
use super::streams::{
    entry_reply_size, parse_read_args, storage_error, strict_ids, write_entry, CapBudget, ReadArgs,
    ReadId, ReplyCaps,
};
use crate::args::{eq, parse_i64, Args};
use crate::engine::{BlockSpec, Ctx, WakeIf};
use crate::reply::{printable, CmdResult, ReplyError, SYNTAX, WRONGTYPE};

fn wrongtype(_: WrongType) -> ReplyError {
    WRONGTYPE.into()
}

/// The `entries-read` and `lag` fields of XINFO GROUPS and XINFO STREAM FULL (null when
/// unknown).
fn write_read_and_lag(out: &mut sluice_resp::ReplyWriter, meta: &StreamMeta, g: &Group) {
    out.bulk(b"entries-read");
    match g.entries_read() {
        ENTRIES_READ_UNKNOWN => out.null(),
        n => out.int(n),
    }
    out.bulk(b"lag");
    match lag(meta, g) {
        Some(l) => out.int(l),
        None => out.null(),
    }
}

/// A group's lag (`None`: unknown), by Redis 8.0's rules when the reported version is 8.0 or
/// later (see `CounterRules`).
pub(crate) fn lag(meta: &StreamMeta, g: &Group) -> Option<i64> {
    let rules = if super::info::redis_at_least(8, 0, 0) {
        CounterRules::Redis80
    } else {
        CounterRules::Redis70
    };
    g.lag(meta, rules)
}

/// XGROUP CREATE/SETID's ENTRIESREAD: since Redis 8.2.2 (#14259) at most the stream's
/// entries-added. Copied when the reported version is 8.2.2 or later.
fn capped_entries_read(ctx: &mut Ctx<'_>, key: &[u8], n: i64) -> i64 {
    if n == ENTRIES_READ_UNKNOWN || !super::info::redis_at_least(8, 2, 2) {
        return n;
    }
    let db = ctx.db();
    match ctx.store.stream(db, key, ctx.now_ms) {
        Ok(Some(m)) => n.min(m.entries_added.min(i64::MAX as u64) as i64),
        _ => n,
    }
}

fn nogroup_xgroup(group: &[u8], key: &[u8]) -> ReplyError {
    ReplyError::new(format!(
        "NOGROUP No such consumer group '{}' for key name '{}'",
        printable(group, 1024),
        printable(key, 1024)
    ))
}

fn nogroup(key: &[u8], group: &[u8]) -> ReplyError {
    ReplyError::new(format!(
        "NOGROUP No such key '{}' or consumer group '{}'",
        printable(key, 1024),
        printable(group, 1024)
    ))
}

/// The incarnation of the stream at `key` if it has the group `group` (XCLAIM, XAUTOCLAIM);
/// WRONGTYPE or Redis's NOGROUP otherwise.
fn group_sid(ctx: &mut Ctx<'_>, key: &[u8], group: &[u8]) -> Result<u64, ReplyError> {
    let db = ctx.db();
    ctx.store
        .stream(db, key, ctx.now_ms)
        .map_err(wrongtype)?
        .filter(|m| m.groups.contains_key(group))
        .map(|m| m.sid)
        .ok_or_else(|| nogroup(key, group))
}

// ---------------------------------------------------------------------------------------------
// XGROUP

/// Where XGROUP CREATE/SETID put the group: `$` is the stream's last ID when the command runs.
#[derive(Clone, Copy)]
enum GroupStart {
    Last,
    Id(StreamId),
}

/// XGROUP CREATE|SETID|DESTROY|CREATECONSUMER|DELCONSUMER key group [id|consumer] [options].
struct Xgroup<'a> {
    sub: &'a Bytes,
    key: &'a Bytes,
    group: &'a Bytes,
    /// CREATECONSUMER/DELCONSUMER's consumer (the argument CREATE/SETID take as the ID).
    consumer: Option<&'a Bytes>,
    /// CREATE/SETID's `<id|$>`: CREATE takes only complete IDs, SETID also `-` and `+`. Redis
    /// reports a bad ID after its checks of the key and the group, so the error waits here.
    start: Result<GroupStart, ReplyError>,
    mkstream: bool,
    entries_read: i64,
}

impl<'a> Xgroup<'a> {
    /// The options after `<key> <group> <id>`, checked before anything else.
    fn parse(argv: &'a [Bytes]) -> Result<Self, ReplyError> {
        let mut args = Args::new(argv.get(1..).unwrap_or_default());
        let sub = args.next()?;
        let key = args.next()?;
        let group = args.next()?;
        let consumer = args.next_opt();
        let create = eq(sub, "CREATE");
        let setid = eq(sub, "SETID");
        let start = match consumer.map(|a| a.as_ref()) {
            Some(b"$") => Ok(GroupStart::Last),
            Some(a) if create => stream_id::strict(a, 0).map(GroupStart::Id),
            Some(a) => stream_id::with_bounds(a, 0).map(GroupStart::Id),
            None => Err(crate::reply::subcommand_syntax("XGROUP", sub)),
        };
        let mut x = Xgroup {
            sub,
            key,
            group,
            consumer,
            start,
            mkstream: false,
            entries_read: ENTRIES_READ_UNKNOWN,
        };
        while let Some(opt) = args.next_opt() {
            if create && eq(opt, "MKSTREAM") {
                x.mkstream = true;
            } else if (create || setid) && eq(opt, "ENTRIESREAD") && !args.is_empty() {
                let n = args.next_i64()?;
                if n < 0 && n != ENTRIES_READ_UNKNOWN {
                    return Err("ERR value for ENTRIESREAD must be positive or -1".into());
                }
                x.entries_read = n;
            } else {
                return Err(crate::reply::subcommand_syntax("XGROUP", sub));
            }
        }
        Ok(x)
    }

    /// CREATECONSUMER/DELCONSUMER's consumer (their arity guarantees it).
    fn consumer(&self) -> Result<&'a Bytes, ReplyError> {
        self.consumer
            .ok_or_else(|| crate::reply::subcommand_syntax("XGROUP", self.sub))
    }
}

/// The checks Redis does before any XGROUP subcommand runs; returns whether the key holds a
/// stream.
fn xgroup_check(ctx: &mut Ctx<'_>, x: &Xgroup<'_>) -> Result<bool, ReplyError> {
    let db = ctx.db();
    let exists = ctx
        .store
        .stream(db, x.key, ctx.now_ms)
        .map_err(wrongtype)?
        .is_some();
    if !x.mkstream {
        if !exists {
            return Err("ERR The XGROUP subcommand requires the key to exist. Note that for CREATE you may want to use the MKSTREAM option to create an empty stream automatically.".into());
        }
        let has_group = group_exists(ctx, x.key, x.group);
        let sub = x.sub;
        if !has_group && (eq(sub, "SETID") || eq(sub, "CREATECONSUMER") || eq(sub, "DELCONSUMER")) {
            return Err(nogroup_xgroup(x.group, x.key));
        }
    }
    Ok(exists)
}

fn group_exists(ctx: &mut Ctx<'_>, key: &[u8], group: &[u8]) -> bool {
    let db = ctx.db();
    matches!(ctx.store.stream(db, key, ctx.now_ms), Ok(Some(m)) if m.groups.contains_key(group))
}

/// The ID a group starts at: `$` is the stream's last ID (0-0 if the key does not exist yet,
/// as with MKSTREAM).
fn group_start_id(ctx: &mut Ctx<'_>, x: &Xgroup<'_>) -> Result<StreamId, ReplyError> {
    match x.start.clone()? {
        GroupStart::Id(id) => Ok(id),
        GroupStart::Last => {
            let db = ctx.db();
            Ok(ctx
                .store
                .stream(db, x.key, ctx.now_ms)
                .map_err(wrongtype)?
                .map_or(StreamId::MIN, |m| m.last_id))
        }
    }
}

pub fn xgroup_create(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let x = Xgroup::parse(argv)?;
    let exists = xgroup_check(ctx, &x)?;
    if argv.len() > 8 {
        return Err(crate::reply::subcommand_syntax("XGROUP", x.sub));
    }
    let db = ctx.db();
    let id = group_start_id(ctx, &x)?;
    if !exists {
        ctx.store.stream_create(db, x.key.clone());
    }
    let entries_read = capped_entries_read(ctx, x.key, x.entries_read);
    if ctx
        .store
        .create_group(db, x.key, x.group.clone(), id, entries_read)
    {
        ctx.out.ok();
        Ok(())
    } else {
        Err("BUSYGROUP Consumer Group name already exists".into())
    }
}

pub fn xgroup_setid(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let x = Xgroup::parse(argv)?;
    xgroup_check(ctx, &x)?;
    if argv.len() != 5 && argv.len() != 7 {
        return Err(crate::reply::subcommand_syntax("XGROUP", x.sub));
    }
    let db = ctx.db();
    let id = group_start_id(ctx, &x)?;
    let entries_read = capped_entries_read(ctx, x.key, x.entries_read);
    if let Some(mut g) = ctx.store.group_mut(db, x.key, x.group) {
        g.set_last_id(id, entries_read);
    }
    ctx.out.ok();
    Ok(())
}

pub fn xgroup_destroy(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let x = Xgroup::parse(argv)?;
    xgroup_check(ctx, &x)?;
    let db = ctx.db();
    // The store wakes blocked XREADGROUP clients of the group (they learn that it is gone).
    let destroyed = ctx.store.destroy_group(db, x.key, x.group);
    ctx.out.int(destroyed as i64);
    Ok(())
}

pub fn xgroup_createconsumer(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let x = Xgroup::parse(argv)?;
    xgroup_check(ctx, &x)?;
    let consumer = x.consumer()?;
    let db = ctx.db();
    let now = ctx.now_ms;
    let created = ctx
        .store
        .group_mut(db, x.key, x.group)
        .is_some_and(|mut g| g.create_consumer(consumer, now));
    ctx.out.int(created as i64);
    Ok(())
}

pub fn xgroup_delconsumer(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let x = Xgroup::parse(argv)?;
    xgroup_check(ctx, &x)?;
    let consumer = x.consumer()?;
    let db = ctx.db();
    let pending = ctx
        .store
        .group_mut(db, x.key, x.group)
        .and_then(|mut g| g.delete_consumer(consumer))
        .unwrap_or(0);
    ctx.out.int(pending as i64);
    Ok(())
}

pub fn xgroup_help(ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> CmdResult {
    super::help_reply(
        ctx,
        "XGROUP",
        &[
            "CREATE <key> <groupname> <id|$> [option]",
            "    Create a new consumer group. Options are:",
            "    * MKSTREAM",
            "      Create the empty stream if it does not exist.",
            "    * ENTRIESREAD entries_read",
            "      Set the group's entries_read counter (internal use).",
            "CREATECONSUMER <key> <groupname> <consumer>",
            "    Create a new consumer in the specified group.",
            "DELCONSUMER <key> <groupname> <consumer>",
            "    Remove the specified consumer.",
            "DESTROY <key> <groupname>",
            "    Remove the specified group.",
            "SETID <key> <groupname> <id|$> [ENTRIESREAD entries_read]",
            "    Set the current group ID and entries_read counter.",
        ],
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// XREADGROUP

/// Default COUNT of a blocked read when it is served (Redis's XREAD_BLOCKED_DEFAULT_COUNT).
const BLOCKED_DEFAULT_COUNT: usize = 1000;

/// What one stream contributes to an XREADGROUP reply.
enum Served {
    /// `>`: new entries (already recorded in the PEL).
    New(Vec<StreamEntry>),
    /// `>` with CLAIM: the claimed entries with the idle time (ms, -1 for one released by
    /// XNACK) and delivery count they had before the claim, then the new entries (written
    /// with `0, 0`).
    Claim(Vec<(StreamEntry, i64, u64)>, Vec<StreamEntry>),
    /// History: the consumer's pending entries; `None` for one deleted from the stream.
    History(Vec<(StreamId, Option<StreamEntry>)>),
}

pub fn xreadgroup(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let ReadArgs {
        timeout,
        mut count,
        caps,
        noack,
        claim,
        group,
        keys,
        ids: id_args,
        ..
    } = parse_read_args(argv, true)?;
    let Some((group, consumer)) = group else {
        return Err("ERR Missing GROUP option for XREADGROUP".into());
    };
    let db = ctx.db();
    if let Some(w) = ctx.wake_key.clone() {
        // Woken because the key changed under a blocked client: Redis 7.0's texts.
        match ctx.store.stream(db, &w, ctx.now_ms) {
            Ok(Some(m)) if m.groups.contains_key(group.as_ref()) => {}
            Ok(Some(_)) => {
                return Err(
                    "NOGROUP the consumer group this client was blocked on no longer exists".into(),
                )
            }
            _ => return Err("UNBLOCKED the stream key no longer exists".into()),
        }
    }
    // Every key, group and ID is checked before anything is served. `None` is `>`.
    let mut ids: Vec<Option<StreamId>> = Vec::with_capacity(keys.len());
    for (k, id_arg) in keys.iter().zip(id_args) {
        let meta = ctx.store.stream(db, k, ctx.now_ms).map_err(wrongtype)?;
        if !meta.is_some_and(|m| m.groups.contains_key(group)) {
            return Err(ReplyError::new(format!(
                "NOGROUP No such key '{}' or consumer group '{}' in XREADGROUP with GROUP option",
                printable(k, 1024),
                printable(group, 1024)
            )));
        }
        ids.push(match id_arg? {
            ReadId::After(id) => Some(id),
            ReadId::New | ReadId::Last | ReadId::Newest => None,
        });
    }
    let woken = ctx.wake_key.clone();
    if woken.is_some() && count == 0 {
        count = BLOCKED_DEFAULT_COUNT;
    }
    // Redis 7.2: every read attempt refreshes an existing consumer's seen-time (`idle`); a
    // consumer is created only when something is served, as in 7.0.
    let now = ctx.now_ms;
    for k in keys {
        if let Some(mut g) = ctx.store.group_mut(db, k, group) {
            g.refresh_seen(consumer, now);
        }
    }
    let mut results: Vec<(&Bytes, Served)> = Vec::new();
    // MAXCOUNT / MAXSIZE (Redis 8.10): caps over the whole reply, streams in the order named.
    let mut budget = CapBudget::new(caps);
    for (k, id) in keys.iter().zip(&ids) {
        if woken.as_ref().is_some_and(|w| w != k)
            || (woken.is_some() && results.iter().any(|(r, _)| *r == k))
        {
            continue;
        }
        if budget.exhausted() {
            break;
        }
        let Some(count) = budget.next_count(count) else {
            break;
        };
        let limit = (count > 0).then_some(count);
        let Some(meta) = ctx.store.stream(db, k, ctx.now_ms).map_err(wrongtype)? else {
            continue;
        };
        let sid = meta.sid;
        let Some(g) = meta.groups.get(group) else {
            continue;
        };
        match id {
            Some(after) => {
                // History: this consumer's pending entries with IDs greater than `after`.
                let Some(start) = after.successor() else {
                    continue;
                };
                let pending: Vec<StreamId> = g
                    .consumer(consumer)
                    .map(|c| {
                        c.pel()
                            .range(start..)
                            .take(limit.unwrap_or(usize::MAX))
                            .copied()
                            .collect()
                    })
                    .unwrap_or_default();
                let mut served = Vec::with_capacity(pending.len());
                for pid in pending {
                    let e = ctx.store.stream_get(sid, pid).map_err(storage_error)?;
                    served.push((pid, e));
                }
                if caps.max_size.is_some() {
                    // Sized before anything is redelivered: what does not fit stays as it is.
                    let mut sizes = Vec::with_capacity(served.len());
                    for (pid, e) in &served {
                        sizes.push(match e {
                            Some(e) => entry_reply_size(*pid, &e.fields().map_err(storage_error)?),
                            None => entry_reply_size(*pid, &[]),
                        });
                    }
                    let n = budget.take(sizes);
                    served.truncate(n);
                } else {
                    budget.take(served.iter().map(|_| 0));
                }
                let now = ctx.now_ms;
                if let Some(mut g) = ctx.store.group_mut(db, k, group) {
                    // Re-reading history is not new activity (Redis 7.2 leaves active-time
                    // alone); an entry deleted from the stream is not delivered again.
                    g.touch_consumer(consumer, now, false);
                    for (pid, e) in &served {
                        if e.is_some() {
                            g.redeliver(*pid, now);
                        }
                    }
                }
                results.push((k, Served::History(served)));
            }
            None => {
                // MAXSIZE: as many of the next entries as fit, found before any is delivered
                // (a plain group's new entries; claimed and redelivered ones are sized after).
                let limit = match caps.max_size {
                    Some(_) if claim.is_none() => fitting_new(ctx, k, group, limit, &budget)?,
                    _ => limit,
                };
                // CLAIM (Redis 8.4): idle pending entries first, within COUNT.
                let claimed = match claim {
                    Some(min_idle) => claim_for_read(ctx, k, group, consumer, min_idle, limit)?,
                    None => Vec::new(),
                };
                let limit = limit.map(|l| l.saturating_sub(claimed.len()));
                let new = if limit == Some(0) {
                    None
                } else {
                    read_new(ctx, k, group, consumer, limit, noack, woken.is_some())?
                };
                if caps != ReplyCaps::default() {
                    let mut sizes = Vec::new();
                    for e in claimed
                        .iter()
                        .map(|(e, _, _)| e)
                        .chain(new.iter().flatten())
                    {
                        sizes.push(entry_reply_size(e.id, &e.fields().map_err(storage_error)?));
                    }
                    // Already delivered: charged in full, even past MAXSIZE.
                    for size in sizes {
                        budget.charge(size);
                    }
                }
                match (claim, new) {
                    (None, Some(new)) => results.push((k, Served::New(new))),
                    (None, None) => {}
                    (Some(_), new) => {
                        if !claimed.is_empty() || new.is_some() {
                            results.push((k, Served::Claim(claimed, new.unwrap_or_default())));
                        }
                    }
                }
            }
        }
    }
    if !results.is_empty() {
        write_results(ctx, &results)?;
        return Ok(());
    }
    match timeout {
        Some(ms) if !ctx.client.in_exec => {
            let wake_if = match claim {
                // Woken by new entries, by XNACK, or when a pending entry has been idle
                // long enough (a timer of the queue-group schedule, see `claim_wake_at`).
                Some(min_idle) => {
                    for k in keys {
                        if let Some(at) = claim_wake_at(ctx, k, group, min_idle) {
                            ctx.store.schedule_claim_wake(db, k, at);
                        }
                    }
                    WakeIf::GroupClaim(group.clone(), min_idle)
                }
                None => WakeIf::GroupBehind(group.clone()),
            };
            ctx.block = Some(BlockSpec {
                keys: keys.to_vec(),
                // Only `>` blocks (a history read answers at once).
                wake_if: keys.iter().map(|_| wake_if.clone()).collect(),
                timeout_ms: ms,
                argv: argv.to_vec(),
            });
        }
        _ => ctx.out.null_array(),
    }
    Ok(())
}

/// For MAXSIZE: how many of the entries a plain `>` read of `key` would deliver fit in what
/// `budget` has left (at least one if the reply has none yet), within `limit`. A queue group's
/// redeliveries and delayed entries are not looked at (they are sized once delivered).
fn fitting_new(
    ctx: &mut Ctx<'_>,
    key: &Bytes,
    group: &Bytes,
    limit: Option<usize>,
    budget: &CapBudget,
) -> Result<Option<usize>, ReplyError> {
    let db = ctx.db();
    let now = ctx.now_ms;
    let Some(meta) = ctx.store.stream(db, key, now).map_err(wrongtype)? else {
        return Ok(limit);
    };
    let Some(g) = meta.groups.get(group) else {
        return Ok(limit);
    };
    if g.queue().is_some() || meta.groups.has_delayed() {
        return Ok(limit);
    }
    let Some(from) = g.last_id().successor() else {
        return Ok(limit);
    };
    let peek = ctx
        .store
        .stream_read(db, key, (from, StreamId::MAX), false, limit, now)
        .map_err(storage_error)?;
    if peek.is_empty() {
        return Ok(limit);
    }
    let mut trial = *budget;
    let mut sizes = Vec::with_capacity(peek.len());
    for e in &peek {
        sizes.push(entry_reply_size(e.id, &e.fields().map_err(storage_error)?));
    }
    // 0 when not even one more fits: the stream is not read.
    Ok(Some(trial.take(sizes)))
}

/// When a CLAIM reader blocked on `key` should look again: when the longest-idle pending
/// entry reaches `min_idle`; with none pending, `min_idle` (at least
/// [`CLAIM_RECHECK_MS`]) from now — anything delivered from now on becomes claimable no
/// sooner, and the look then schedules the next one.
fn claim_wake_at(ctx: &mut Ctx<'_>, key: &[u8], group: &[u8], min_idle: u64) -> Option<u64> {
    let now = ctx.now_ms;
    let db = ctx.db();
    let meta = ctx.store.stream(db, key, now).ok()??;
    let g = meta.groups.get(group)?;
    Some(claim_recheck_at(g, now, min_idle))
}

/// When a blocked CLAIM reader of group `g` with nothing claimable at `now_ms` should look
/// again (see [`claim_wake_at`]).
pub fn claim_recheck_at(g: &Group, now_ms: u64, min_idle: u64) -> u64 {
    match g.next_claimable(min_idle) {
        Some(at) => at.max(now_ms + 1),
        None => now_ms.saturating_add(min_idle.max(CLAIM_RECHECK_MS)),
    }
}

/// The shortest re-check of a blocked CLAIM reader whose group has nothing pending.
const CLAIM_RECHECK_MS: u64 = 100;

/// Parses XREADGROUP's CLAIM min-idle-time (Redis 8.4's texts); XREAD refuses the option.
pub fn parse_claim(arg: &[u8], xreadgroup: bool) -> Result<u64, ReplyError> {
    if !xreadgroup {
        return Err(
            "ERR The CLAIM option is only supported by XREADGROUP. You called XREAD instead."
                .into(),
        );
    }
    match parse_i64(arg) {
        Some(v) if v < 0 => Err("ERR min-idle-time must be a positive integer".into()),
        Some(v) => Ok(v as u64),
        None => Err("ERR min-idle-time is not an integer".into()),
    }
}

/// XREADGROUP CLAIM on one stream: claims up to `limit` pending entries idle for at least
/// `min_idle` (the NACK zone first, then longest idle first) for `consumer`, each becoming
/// pending for it, delivered now once more. An entry gone from the stream is claimed the same
/// way but neither returned nor counted: it stays in the PEL (Redis's CLAIM leaves such
/// entries there, unlike XCLAIM and XAUTOCLAIM, which drop them), and as it was delivered
/// now it is not looked at again before min-idle-time has passed.
fn claim_for_read(
    ctx: &mut Ctx<'_>,
    key: &Bytes,
    group: &Bytes,
    consumer: &Bytes,
    min_idle: u64,
    limit: Option<usize>,
) -> Result<Vec<(StreamEntry, i64, u64)>, ReplyError> {
    let db = ctx.db();
    let now = ctx.now_ms;
    let Some(meta) = ctx.store.stream(db, key, now).map_err(wrongtype)? else {
        return Ok(Vec::new());
    };
    let sid = meta.sid;
    let want = limit.unwrap_or(usize::MAX);
    let spec = ClaimSpec {
        min_idle: 0,
        delivery_time: now,
        retry_count: None,
        force: false,
        justid: false,
    };
    let mut out = Vec::new();
    let mut seen = ahash::AHashSet::new();
    loop {
        let Some(mut g) = ctx.store.group_mut(db, key, group) else {
            break;
        };
        let candidates = g.claimable(now, min_idle, want - out.len(), &seen);
        drop(g);
        if candidates.is_empty() {
            break;
        }
        let mut gone = false;
        for (id, n) in candidates {
            seen.insert(id);
            let e = ctx.store.stream_get(sid, id).map_err(storage_error)?;
            let Some(mut g) = ctx.store.group_mut(db, key, group) else {
                break;
            };
            // `in_stream` true either way: a claim of an entry gone from the stream would
            // drop it from the PEL (XCLAIM's rule), which CLAIM does not do.
            g.claim(consumer, id, true, &spec, now);
            match e {
                None => gone = true,
                Some(e) => {
                    let idle = if n.is_nacked() {
                        -1
                    } else {
                        (now as i64 - n.delivery_time() as i64).max(0)
                    };
                    out.push((e, idle, n.delivery_count()));
                }
            }
        }
        if !gone || out.len() >= want {
            break;
        }
    }
    Ok(out)
}

/// XREADGROUP `>` on one stream: the entries after the group's last delivered ID (a queue
/// group's due redeliveries first), delivered to `consumer`; `None` if there is nothing to
/// answer for this stream.
#[allow(clippy::too_many_arguments)]
fn read_new(
    ctx: &mut Ctx<'_>,
    k: &Bytes,
    group: &Bytes,
    consumer: &Bytes,
    limit: Option<usize>,
    noack: bool,
    woken: bool,
) -> Result<Option<Vec<StreamEntry>>, ReplyError> {
    let db = ctx.db();
    let Some(meta) = ctx.store.stream(db, k, ctx.now_ms).map_err(wrongtype)? else {
        return Ok(None);
    };
    let Some(g) = meta.groups.get(group) else {
        return Ok(None);
    };
    // `>`: entries after the group's last delivered ID, if the stream has any.
    let last_delivered = g.last_id();
    let is_queue = g.queue().is_some();
    let has_delayed = meta.groups.has_delayed();
    // Served when the stream moved past the group; a woken client is answered even
    // if those entries are gone again (then with an empty list), as Redis does.
    let has_new = (woken || !meta.is_empty()) && meta.last_id > last_delivered;
    let now = ctx.now_ms;
    // A queue group (`XQ.CONFIG`) first redelivers entries past their deadline.
    let mut entries = if is_queue {
        let limits = super::xq::node_limits(ctx);
        ctx.store
            .queue_take(db, k, group, consumer, now, limit, limits)
            .map_err(storage_error)?
    } else {
        Vec::new()
    };
    let redelivered = entries.len();
    let room = limit.map(|l| l.saturating_sub(redelivered));
    let from = last_delivered.successor();
    if !has_new || room == Some(0) || from.is_none() {
        return Ok((redelivered > 0).then_some(entries));
    }
    let Some(from) = from else {
        return Ok(None);
    };
    if has_delayed {
        // Entries added with XQ.ADD … DELAY: held by the group until due.
        let (new, held) = super::xq::read_past_delays(ctx, k, group, consumer, from, room, noack)?;
        // Only held entries: nothing to answer (a blocked reader waits on).
        let _ = held;
        if new.is_empty() && redelivered == 0 {
            return Ok(None);
        }
        entries.extend(new);
        return Ok(Some(entries));
    }
    let new = ctx
        .store
        .stream_read(db, k, (from, StreamId::MAX), false, room, now)
        .map_err(storage_error)?;
    if new.is_empty() && !woken && redelivered == 0 {
        return Ok(None);
    }
    if let Some(mut g) = ctx.store.group_mut(db, k, group) {
        g.deliver(consumer, new.iter().map(|e| e.id), noack, now);
    }
    entries.extend(new);
    Ok(Some(entries))
}

fn write_results(ctx: &mut Ctx<'_>, results: &[(&Bytes, Served)]) -> CmdResult {
    for (_, s) in results {
        match s {
            Served::New(es) => es
                .iter()
                .try_for_each(|e| e.fields().map(|_| ()).map_err(storage_error))?,
            Served::History(es) => es
                .iter()
                .filter_map(|(_, e)| e.as_ref())
                .try_for_each(|e| e.fields().map(|_| ()).map_err(storage_error))?,
            Served::Claim(claimed, new) => claimed
                .iter()
                .map(|(e, _, _)| e)
                .chain(new)
                .try_for_each(|e| e.fields().map(|_| ()).map_err(storage_error))?,
        }
    }
    if ctx.out.is_resp3() {
        ctx.out.map(results.len());
    } else {
        ctx.out.array(results.len());
    }
    for (k, s) in results {
        if !ctx.out.is_resp3() {
            ctx.out.array(2);
        }
        ctx.out.bulk(k);
        match s {
            Served::New(es) => {
                ctx.out.array(es.len());
                for e in es {
                    write_entry(ctx, e)?;
                }
            }
            Served::Claim(claimed, new) => {
                ctx.out.array(claimed.len() + new.len());
                let rows = claimed
                    .iter()
                    .map(|(e, idle, n)| (e, *idle, *n as i64))
                    .chain(new.iter().map(|e| (e, 0, 0)));
                for (e, idle, deliveries) in rows {
                    let fields = e.fields().map_err(storage_error)?;
                    let out = &mut *ctx.out;
                    out.array(4);
                    out.bulk(e.id.text().as_bytes());
                    out.array(fields.len());
                    for f in fields {
                        out.bulk(f);
                    }
                    out.int(idle);
                    out.int(deliveries);
                }
            }
            Served::History(es) => {
                ctx.out.array(es.len());
                for (id, e) in es {
                    match e {
                        Some(e) => write_entry(ctx, e)?,
                        None => {
                            ctx.out.array(2);
                            ctx.out.bulk(id.text().as_bytes());
                            ctx.out.null_array();
                        }
                    }
                }
            }
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// XACK, XPENDING

/// XACK key group id …
pub fn xack(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let mut args = Args::new(argv.get(1..).unwrap_or_default());
    let (key, group) = (args.next()?, args.next()?);
    // Redis looks the key and the group up before it reports a bad ID.
    let ids = strict_ids(args.take_rest());
    let db = ctx.db();
    let exists = ctx
        .store
        .stream(db, key, ctx.now_ms)
        .map_err(wrongtype)?
        .is_some_and(|m| m.groups.contains_key(group.as_ref()));
    if !exists {
        ctx.out.int(0);
        return Ok(());
    }
    let ids = ids?;
    let acked = match ctx.store.group_mut(db, key, group) {
        Some(mut g) => ids.into_iter().filter(|id| g.ack(*id)).count(),
        None => 0,
    };
    ctx.out.int(acked as i64);
    Ok(())
}

/// XPENDING key group [[IDLE min-idle-time] start end count [consumer]]
struct Xpending<'a> {
    key: &'a Bytes,
    group: &'a Bytes,
    /// `None`: the summary form.
    range: Option<PendingRange<'a>>,
}

struct PendingRange<'a> {
    min_idle: i64,
    start: StreamId,
    end: StreamId,
    count: i64,
    consumer: Option<&'a Bytes>,
}

impl<'a> Xpending<'a> {
    /// `xpendingCommand`: the argument count first, then IDLE, count, start, end.
    fn parse(argv: &'a [Bytes]) -> Result<Self, ReplyError> {
        let mut args = Args::new(argv.get(1..).unwrap_or_default());
        let (key, group) = (args.next()?, args.next()?);
        let opts = args.take_rest();
        if !opts.is_empty() && (opts.len() < 3 || opts.len() > 6) {
            return Err(SYNTAX.into());
        }
        if opts.is_empty() {
            return Ok(Xpending {
                key,
                group,
                range: None,
            });
        }
        let (min_idle, opts) = match opts {
            [idle, v, rest @ ..] if eq(idle, "IDLE") => {
                let min_idle = crate::args::int(v)?;
                // With IDLE, start end count must follow.
                if rest.len() < 3 {
                    return Err(SYNTAX.into());
                }
                (min_idle, rest)
            }
            _ => (0, opts),
        };
        let [start, end, count, rest @ ..] = opts else {
            return Err(SYNTAX.into());
        };
        let count = crate::args::int(count)?.max(0);
        let start = stream_id::range_start(start)?;
        let end = stream_id::range_end(end)?;
        Ok(Xpending {
            key,
            group,
            range: Some(PendingRange {
                min_idle,
                start,
                end,
                count,
                consumer: rest.first(),
            }),
        })
    }
}

pub fn xpending(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let Xpending { key, group, range } = Xpending::parse(argv)?;
    let summary = range.is_none();
    let (min_idle, start, end, mut count, consumer) = match range {
        Some(r) => (r.min_idle, r.start, r.end, r.count, r.consumer),
        None => (0, StreamId::MIN, StreamId::MAX, 0, None),
    };
    let db = ctx.db();
    let Some(meta) = ctx.store.stream(db, key, ctx.now_ms).map_err(wrongtype)? else {
        return Err(nogroup(key, group));
    };
    let Some(g) = meta.groups.get(group.as_ref()) else {
        return Err(nogroup(key, group));
    };
    let now = ctx.now_ms;
    let out = &mut *ctx.out;
    if summary {
        out.array(4);
        out.int(g.pel().len() as i64);
        match (g.pel().keys().next(), g.pel().keys().next_back()) {
            (Some(first), Some(last)) => {
                out.bulk(first.text().as_bytes());
                out.bulk(last.text().as_bytes());
                let with: Vec<_> = g
                    .consumers()
                    .values()
                    .filter(|c| !c.pel().is_empty())
                    .collect();
                out.array(with.len());
                for c in with {
                    out.array(2);
                    out.bulk(c.name());
                    out.bulk_int(c.pel().len() as i64);
                }
            }
            _ => {
                out.null();
                out.null();
                out.null_array();
            }
        }
        return Ok(());
    }
    let ids: Box<dyn Iterator<Item = StreamId>> = match consumer {
        Some(name) => match g.consumer(name) {
            Some(c) => Box::new(
                c.pel()
                    .range(start..)
                    .copied()
                    .take_while(move |id| *id <= end)
                    .collect::<Vec<_>>()
                    .into_iter(),
            ),
            None => {
                out.array(0);
                return Ok(());
            }
        },
        None => Box::new(
            g.pel()
                .range(start..)
                .map(|(id, _)| *id)
                .take_while(move |id| *id <= end)
                .collect::<Vec<_>>()
                .into_iter(),
        ),
    };
    let mut rows = Vec::new();
    for id in ids {
        if count == 0 {
            break;
        }
        let Some(n) = g.pel().get(&id) else { continue };
        // An entry released by XNACK (delivery time 0) reports idle -1, as Redis 8.8 does,
        // and passes any IDLE filter (it is claimable at once).
        let idle = if n.is_nacked() {
            -1
        } else {
            (now as i64 - n.delivery_time() as i64).max(0)
        };
        if min_idle != 0 && idle < min_idle && !n.is_nacked() {
            continue;
        }
        count -= 1;
        let name = g.consumer_name(n.cid()).cloned().unwrap_or_default();
        rows.push((id, name, idle, n.delivery_count()));
    }
    out.array(rows.len());
    for (id, name, idle, deliveries) in rows {
        out.array(4);
        out.bulk(id.text().as_bytes());
        out.bulk(&name);
        out.int(idle);
        out.int(deliveries as i64);
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// XCLAIM, XAUTOCLAIM

/// XCLAIM key group consumer min-idle-time id … [IDLE ms] [TIME ms] [RETRYCOUNT n] [FORCE]
/// [JUSTID] [LASTID id]
struct Xclaim<'a> {
    key: &'a Bytes,
    group: &'a Bytes,
    consumer: &'a Bytes,
    /// Redis looks the key and the group up before it parses the rest, so its error waits.
    opts: Result<XclaimOpts, ReplyError>,
}

struct XclaimOpts {
    min_idle: i64,
    ids: Vec<StreamId>,
    force: bool,
    justid: bool,
    /// -1: not given.
    retrycount: i64,
    /// Already clamped to `[0, now]` (an unset, negative or future time is `now`).
    delivery_time: u64,
    last_id: StreamId,
}

impl<'a> Xclaim<'a> {
    fn parse(argv: &'a [Bytes], now: i64) -> Result<Self, ReplyError> {
        let mut args = Args::new(argv.get(1..).unwrap_or_default());
        let (key, group, consumer) = (args.next()?, args.next()?, args.next()?);
        Ok(Xclaim {
            key,
            group,
            consumer,
            opts: Self::parse_opts(args, now),
        })
    }

    fn parse_opts(mut args: Args<'_>, now: i64) -> Result<XclaimOpts, ReplyError> {
        let min_idle = args
            .next_int("ERR Invalid min-idle-time argument for XCLAIM")?
            .max(0);
        // IDs up to the first argument that is not one: the options start there.
        let mut ids = Vec::new();
        while let Some(id) = args.peek().and_then(|a| stream_id::strict(a, 0).ok()) {
            ids.push(id);
            args.next()?;
        }
        let mut o = XclaimOpts {
            min_idle,
            ids,
            force: false,
            justid: false,
            retrycount: -1,
            delivery_time: 0,
            last_id: StreamId::MIN,
        };
        let mut delivery_time = -1i64;
        while let Some(opt) = args.next_opt() {
            let more = args.remaining();
            if eq(opt, "FORCE") {
                o.force = true;
            } else if eq(opt, "JUSTID") {
                o.justid = true;
            } else if eq(opt, "IDLE") && more > 0 {
                // Redis's `now - idle` wraps (IDLE -9223372036854775808 is accepted); the
                // clamp below then turns a wrapped value into `now`.
                delivery_time =
                    now.wrapping_sub(args.next_int("ERR Invalid IDLE option argument for XCLAIM")?);
            } else if eq(opt, "TIME") && more > 0 {
                delivery_time = args.next_int("ERR Invalid TIME option argument for XCLAIM")?;
            } else if eq(opt, "RETRYCOUNT") && more > 0 {
                o.retrycount =
                    args.next_int("ERR Invalid RETRYCOUNT option argument for XCLAIM")?;
            } else if eq(opt, "LASTID") && more > 0 {
                o.last_id = stream_id::strict(args.next()?, 0)?;
            } else {
                return Err(ReplyError::new(format!(
                    "ERR Unrecognized XCLAIM option '{}'",
                    printable(opt, 128)
                )));
            }
        }
        o.delivery_time = if delivery_time < 0 || delivery_time > now {
            now
        } else {
            delivery_time
        } as u64;
        Ok(o)
    }
}

pub fn xclaim(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let now = ctx.now_ms as i64;
    let Xclaim {
        key,
        group,
        consumer,
        opts,
    } = Xclaim::parse(argv, now)?;
    let db = ctx.db();
    let sid = group_sid(ctx, key, group)?;
    let XclaimOpts {
        min_idle,
        ids,
        force,
        justid,
        retrycount,
        delivery_time,
        last_id,
    } = opts?;
    let spec = ClaimSpec {
        min_idle,
        delivery_time,
        retry_count: (retrycount >= 0).then_some(retrycount as u64),
        force,
        justid,
    };
    let now = now as u64;
    // The entries first (reading them changes nothing), then the claims.
    let mut claimed: Vec<(StreamId, Option<StreamEntry>)> = Vec::with_capacity(ids.len());
    for id in ids {
        claimed.push((id, ctx.store.stream_get(sid, id).map_err(storage_error)?));
    }
    match ctx.store.group_mut(db, key, group) {
        Some(mut g) => {
            g.refresh_seen(consumer, now);
            g.raise_last_id(last_id);
            // An entry deleted from the stream is purged from the PEL, and not reported.
            claimed.retain_mut(|(id, e)| {
                let outcome = g.claim(consumer, *id, e.is_some(), &spec, now);
                if justid {
                    *e = None;
                }
                outcome == ClaimOutcome::Claimed
            });
        }
        None => claimed.clear(),
    }
    for (_, e) in &claimed {
        if let Some(e) = e {
            e.fields().map_err(storage_error)?;
        }
    }
    ctx.out.array(claimed.len());
    for (id, e) in &claimed {
        match e {
            Some(e) => write_entry(ctx, e)?,
            None => ctx.out.bulk(id.text().as_bytes()),
        }
    }
    Ok(())
}

/// XAUTOCLAIM key group consumer min-idle-time start [COUNT count] [JUSTID]
struct Xautoclaim<'a> {
    key: &'a Bytes,
    group: &'a Bytes,
    consumer: &'a Bytes,
    min_idle: i64,
    start: StreamId,
    count: i64,
    justid: bool,
}

impl<'a> Xautoclaim<'a> {
    fn parse(argv: &'a [Bytes]) -> Result<Self, ReplyError> {
        let mut args = Args::new(argv.get(1..).unwrap_or_default());
        let (key, group, consumer) = (args.next()?, args.next()?, args.next()?);
        let min_idle = args
            .next_int("ERR Invalid min-idle-time argument for XAUTOCLAIM")?
            .max(0);
        let start = stream_id::range_start(args.next()?)?;
        let mut count: i64 = 100;
        let mut justid = false;
        while let Some(opt) = args.next_opt() {
            if eq(opt, "COUNT") && !args.is_empty() {
                // Redis's bound: LONG_MAX / max(sizeof(streamID), attempts factor).
                let max = i64::MAX / 16;
                count = parse_i64(args.next()?)
                    .filter(|c| (1..=max).contains(c))
                    .ok_or(ReplyError::from("ERR COUNT must be > 0"))?;
            } else if eq(opt, "JUSTID") {
                justid = true;
            } else {
                return Err(SYNTAX.into());
            }
        }
        Ok(Xautoclaim {
            key,
            group,
            consumer,
            min_idle,
            start,
            count,
            justid,
        })
    }
}

pub fn xautoclaim(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let Xautoclaim {
        key,
        group,
        consumer,
        min_idle,
        start,
        mut count,
        justid,
    } = Xautoclaim::parse(argv)?;
    let db = ctx.db();
    let sid = group_sid(ctx, key, group)?;
    // Redis allocates COUNT stream IDs up front and refuses a COUNT it cannot allocate; Sluice
    // allocates nothing per COUNT but keeps the refusal for absurd values.
    if count > 1 << 32 {
        return Err(
            "ERR Insufficient memory, failed allocating transient memory, COUNT too high.".into(),
        );
    }
    let now = ctx.now_ms;
    let spec = ClaimSpec {
        min_idle,
        delivery_time: now,
        retry_count: None,
        force: false,
        justid,
    };
    // Which pending entries to claim or purge (reading them changes nothing), then the claims.
    let mut attempts = count * 10;
    let mut claimed: Vec<(StreamId, Option<StreamEntry>)> = Vec::new();
    let mut cursor = start;
    let mut next = StreamId::MIN;
    // A loop, not `while let`: it also stops on COUNT and attempts, setting the cursor.
    #[allow(clippy::while_let_loop)]
    loop {
        let Ok(Some(meta)) = ctx.store.stream(db, key, now) else {
            break;
        };
        let Some(g) = meta.groups.get(group) else {
            break;
        };
        let Some((&id, &n)) = g.pel().range(cursor..).next() else {
            next = StreamId::MIN;
            break;
        };
        if attempts == 0 || count == 0 {
            next = id;
            break;
        }
        attempts -= 1;
        cursor = match id.successor() {
            Some(s) => s,
            None => StreamId::MAX,
        };
        let entry = ctx.store.stream_get(sid, id).map_err(storage_error)?;
        // Deleted from the stream (purged and reported), or idle long enough: counted.
        let idle = now as i64 - n.delivery_time() as i64;
        if entry.is_none() || min_idle <= 0 || idle >= min_idle {
            claimed.push((id, entry));
            count -= 1;
        }
        if id == StreamId::MAX {
            break;
        }
    }
    let mut deleted = Vec::new();
    match ctx.store.group_mut(db, key, group) {
        Some(mut g) => {
            g.refresh_seen(consumer, now);
            claimed.retain_mut(
                |(id, e)| match g.claim(consumer, *id, e.is_some(), &spec, now) {
                    ClaimOutcome::Claimed => {
                        if justid {
                            *e = None;
                        }
                        true
                    }
                    ClaimOutcome::Deleted => {
                        deleted.push(*id);
                        false
                    }
                    ClaimOutcome::Skipped => {
                        debug_assert!(false, "XAUTOCLAIM chose {id}, which its claim skipped");
                        false
                    }
                },
            );
        }
        None => claimed.clear(),
    }
    for (_, e) in &claimed {
        if let Some(e) = e {
            e.fields().map_err(storage_error)?;
        }
    }
    ctx.out.array(3);
    ctx.out.bulk(next.text().as_bytes());
    ctx.out.array(claimed.len());
    for (id, e) in &claimed {
        match e {
            Some(e) => write_entry(ctx, e)?,
            None => ctx.out.bulk(id.text().as_bytes()),
        }
    }
    ctx.out.array(deleted.len());
    for id in deleted {
        ctx.out.bulk(id.text().as_bytes());
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// XINFO GROUPS / CONSUMERS and the FULL groups section

fn stream_or_err<'a>(ctx: &'a mut Ctx<'_>, key: &[u8]) -> Result<&'a StreamMeta, ReplyError> {
    let db = ctx.db();
    let now = ctx.now_ms;
    match ctx.store.lookup(db, key, now).map(|e| &e.value) {
        None => Err(crate::reply::NO_SUCH_KEY.into()),
        Some(Value::Stream(m)) => Ok(m),
        Some(_) => Err(WRONGTYPE.into()),
    }
}

pub fn xinfo_groups(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let key = Args::new(argv.get(2..).unwrap_or_default()).next()?;
    stream_or_err(ctx, key)?;
    let db = ctx.db();
    let Ok(Some(meta)) = ctx.store.stream(db, key, ctx.now_ms) else {
        return Ok(());
    };
    let out = &mut *ctx.out;
    out.array(meta.groups.len());
    let now = ctx.now_ms;
    for (name, g) in &meta.groups {
        // A queue group (`XQ.CONFIG`) gets Sluice's fields after Redis's six; a plain group's
        // reply is Redis's, byte for byte.
        out.map(6 + g.queue().map_or(0, |_| super::xq::QUEUE_FIELDS));
        out.bulk(b"name");
        out.bulk(name);
        out.bulk(b"consumers");
        out.int(g.consumers().len() as i64);
        out.bulk(b"pending");
        out.int(g.pel().len() as i64);
        out.bulk(b"last-delivered-id");
        out.bulk(g.last_id().text().as_bytes());
        write_read_and_lag(out, meta, g);
        if let Some(q) = g.queue() {
            super::xq::write_queue_fields(out, g, q, now);
        }
    }
    Ok(())
}

/// XINFO CONSUMERS with Redis 7.2's fields: `idle` since the last attempted interaction,
/// `inactive` since the last successful one (-1 if never).
pub fn xinfo_consumers(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let mut args = Args::new(argv.get(2..).unwrap_or_default());
    let (key, group) = (args.next()?, args.next()?);
    stream_or_err(ctx, key)?;
    let db = ctx.db();
    let now = ctx.now_ms as i64;
    let Ok(Some(meta)) = ctx.store.stream(db, key, ctx.now_ms) else {
        return Ok(());
    };
    let Some(g) = meta.groups.get(group.as_ref()) else {
        return Err(nogroup_xgroup(group, key));
    };
    let out = &mut *ctx.out;
    out.array(g.consumers().len());
    for c in g.consumers().values() {
        out.map(4);
        out.bulk(b"name");
        out.bulk(c.name());
        out.bulk(b"pending");
        out.int(c.pel().len() as i64);
        out.bulk(b"idle");
        out.int((now - c.seen_time() as i64).max(0));
        out.bulk(b"inactive");
        out.int(if c.active_time() < 0 {
            -1
        } else {
            (now - c.active_time()).max(0)
        });
    }
    Ok(())
}

/// The `groups` section of XINFO STREAM FULL (Redis 7.2 consumer fields).
pub fn write_full_groups(ctx: &mut Ctx<'_>, key: &[u8], count: usize) -> CmdResult {
    let db = ctx.db();
    let Ok(Some(meta)) = ctx.store.stream(db, key, ctx.now_ms) else {
        ctx.out.array(0);
        return Ok(());
    };
    let take = if count == 0 { usize::MAX } else { count };
    let out = &mut *ctx.out;
    out.array(meta.groups.len());
    for (name, g) in &meta.groups {
        out.map(8);
        out.bulk(b"name");
        out.bulk(name);
        out.bulk(b"last-delivered-id");
        out.bulk(g.last_id().text().as_bytes());
        write_read_and_lag(out, meta, g);
        out.bulk(b"pel-count");
        out.int(g.pel().len() as i64);
        // Redis 8.8: the size of the NACK zone (entries released by XNACK).
        out.bulk(b"nacked-count");
        out.int(g.nacked().len() as i64);
        out.bulk(b"pending");
        let rows: Vec<_> = g.pel().iter().take(take).collect();
        out.array(rows.len());
        for (id, n) in rows {
            out.array(4);
            out.bulk(id.text().as_bytes());
            out.bulk(g.consumer_name(n.cid()).map_or(&b""[..], |b| b.as_ref()));
            out.int(n.delivery_time() as i64);
            out.int(n.delivery_count() as i64);
        }
        out.bulk(b"consumers");
        out.array(g.consumers().len());
        for c in g.consumers().values() {
            out.map(5);
            out.bulk(b"name");
            out.bulk(c.name());
            out.bulk(b"seen-time");
            out.int(c.seen_time() as i64);
            out.bulk(b"active-time");
            out.int(c.active_time());
            out.bulk(b"pel-count");
            out.int(c.pel().len() as i64);
            out.bulk(b"pending");
            let rows: Vec<_> = c.pel().iter().take(take).collect();
            out.array(rows.len());
            for id in rows {
                let n = g.pel().get(id);
                out.array(3);
                out.bulk(id.text().as_bytes());
                out.int(n.map_or(0, |n| n.delivery_time()) as i64);
                out.int(n.map_or(0, |n| n.delivery_count()) as i64);
            }
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// XNACK (Redis 8.8)

/// XNACK key group <SILENT|FAIL|FATAL> IDS numids id … [RETRYCOUNT n] [FORCE], the options
/// before or after the IDS block (Redis 8.8's parser and texts).
struct Xnack<'a> {
    key: &'a Bytes,
    group: &'a Bytes,
    mode: NackMode,
    ids: Vec<StreamId>,
    retry_count: Option<u64>,
    force: bool,
}

impl<'a> Xnack<'a> {
    fn parse(argv: &'a [Bytes]) -> Result<Self, ReplyError> {
        let mut args = Args::new(argv.get(1..).unwrap_or_default());
        let (key, group, mode) = (args.next()?, args.next()?, args.next()?);
        let mode = if eq(mode, "SILENT") {
            NackMode::Silent
        } else if eq(mode, "FAIL") {
            NackMode::Fail
        } else if eq(mode, "FATAL") {
            NackMode::Fatal
        } else {
            return Err("ERR mode must be SILENT, FAIL, or FATAL".into());
        };
        let (mut ids, mut retry_count, mut force) = (None, None, false);
        while let Some(o) = args.next_opt() {
            let more = args.remaining();
            if eq(o, "IDS") && more > 0 {
                let n = match parse_i64(args.next()?) {
                    Some(n) if n > 0 => n as u64,
                    _ => return Err("ERR numids must be a positive integer".into()),
                };
                if n > args.remaining() as u64 {
                    return Err("ERR number of IDs doesn't match numids".into());
                }
                let rest = args.rest();
                ids = Some(&rest[..n as usize]);
                for _ in 0..n {
                    args.next()?;
                }
            } else if eq(o, "RETRYCOUNT") && more > 0 {
                let n = args.next_i64()?;
                if n < 0 {
                    return Err("ERR Invalid RETRYCOUNT value, must be >= 0".into());
                }
                retry_count = Some(n as u64);
            } else if eq(o, "FORCE") {
                force = true;
            } else {
                return Err(ReplyError::new(format!(
                    "ERR Unrecognized XNACK option '{}'",
                    printable(o, 128)
                )));
            }
        }
        let Some(ids) = ids else {
            return Err("ERR syntax error, expected IDS keyword".into());
        };
        Ok(Xnack {
            key,
            group,
            mode,
            ids: strict_ids(ids)?,
            retry_count,
            force,
        })
    }
}

/// XNACK: releases pending entries without acknowledging them (see `GroupMut::xnack`);
/// replies how many were released (IDs not pending are skipped unless FORCE finds them in
/// the stream; a repeated ID counts each time).
pub fn xnack(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let x = Xnack::parse(argv)?;
    let db = ctx.db();
    let sid = group_sid(ctx, x.key, x.group)?;
    let mut released = 0i64;
    for id in &x.ids {
        let pending = ctx
            .store
            .stream(db, x.key, ctx.now_ms)
            .map_err(wrongtype)?
            .and_then(|m| m.groups.get(x.group.as_ref()))
            .is_some_and(|g| g.pel().contains_key(id));
        let in_stream =
            !pending && x.force && ctx.store.entry_exists(sid, *id).map_err(storage_error)?;
        if let Some(mut g) = ctx.store.group_mut(db, x.key, x.group) {
            if g.xnack(*id, x.mode, x.retry_count, x.force, in_stream) {
                released += 1;
            }
        }
    }
    ctx.out.int(released);
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// The table rows of this family (see `commands/mod.rs`).

pub static COMMANDS: &[Command] = &[
    cmd("xreadgroup", -7, xreadgroup)
        .flags(&["write", "blocking", "movablekeys"])
        .keys(0, 0, 0, &[ks_keyword(&["RO", "access"], "STREAMS", 4, -1, 1, 2)])
        .acl(&["@write", "@stream", "@slow", "@blocking"])
        .doc("stream", "5.0.0", "For each stream mentioned: O(M) with M being the number of elements returned. If M is constant (e.g. always asking for the first 10 elements with COUNT), you can consider it O(1). On the other side when XREADGROUP blocks, XADD will pay the O(N) time in order to serve the N clients blocked on the stream getting new data.", "Return new entries from a stream using a consumer group, or access the history of the pending entries for a given consumer. Can block.")
        .history(&[("8.4.0", "Added the `CLAIM` option."), ("8.10.0", "Added the `MAXCOUNT` and `MAXSIZE` options.")])
        .args(&[
            arg("group-block", "block").token("GROUP").of(&[arg("group", "string"), arg("consumer", "string")]),
            arg("count", "integer").token("COUNT").opt(),
            arg("maxcount", "integer").token("MAXCOUNT").since("8.10.0").opt(),
            arg("maxsize", "integer").token("MAXSIZE").since("8.10.0").opt(),
            arg("milliseconds", "integer").token("BLOCK").opt(),
            arg("min-idle-time", "integer").token("CLAIM").since("8.4.0").opt(),
            tok("NOACK").opt(),
            arg("streams", "block").token("STREAMS").of(&[arg("key", "key").many(), arg("id", "string").many()]),
        ]),
    cmd("xnack", -7, xnack)
        .flags(&["write", "fast"])
        .keys(1, 1, 1, &[ks(&["RW", "update"], 1, 0, 1)])
        .acl(&["@write", "@stream", "@fast"])
        .doc("stream", "8.8.0", "O(1) for each message ID processed.", "Releases pending messages back to the group's PEL without acknowledging them, making them available for re-delivery.")
        .args(&[
            arg("key", "key"),
            arg("group", "string"),
            arg("mode", "oneof").of(&[tok("SILENT"), tok("FAIL"), tok("FATAL")]),
            arg("ids", "block").token("IDS").of(&[arg("numids", "integer"), arg("id", "string").many()]),
            arg("count", "integer").token("RETRYCOUNT").opt(),
            tok("FORCE").opt(),
        ]),
    cmd("xack", -4, xack)
        .flags(&["write", "fast"])
        .keys(1, 1, 1, &[ks(&["RW", "update"], 1, 0, 1)])
        .acl(&["@write", "@stream", "@fast"])
        .doc("stream", "5.0.0", "O(1) for each message ID processed.", "Marks a pending message as correctly processed, effectively removing it from the pending entries list of the consumer group. Return value of the command is the number of messages successfully acknowledged, that is, the IDs we were actually able to resolve in the PEL.")
        .args(&[arg("key", "key"), arg("group", "string"), arg("id", "string").many()]),
    cmd("xpending", -3, xpending)
        .flags(&["readonly"])
        .keys(1, 1, 1, RO)
        .acl(&["@read", "@stream", "@slow"])
        .tips(&["nondeterministic_output"])
        .doc("stream", "5.0.0", "O(N) with N being the number of elements returned, so asking for a small fixed number of entries per call is O(1). O(M), where M is the total number of entries scanned when used with the IDLE filter. When the command returns just the summary and the list of consumers is small, it runs in O(1) time; otherwise, an additional O(N) time for iterating every consumer.", "Return information and entries from a stream consumer group pending entries list, that are messages fetched but never acknowledged.")
        .history(&[("6.2.0", "Added the `IDLE` option and exclusive range intervals.")])
        .args(&[
            arg("key", "key"),
            arg("group", "string"),
            arg("filters", "block").opt().of(&[
                arg("min-idle-time", "integer").token("IDLE").since("6.2.0").opt(),
                arg("start", "string"),
                arg("end", "string"),
                arg("count", "integer"),
                arg("consumer", "string").opt(),
            ]),
        ]),
    cmd("xclaim", -6, xclaim)
        .flags(&["write", "fast"])
        .keys(1, 1, 1, &[ks(&["RW", "update"], 1, 0, 1)])
        .acl(&["@write", "@stream", "@fast"])
        .tips(&["nondeterministic_output"])
        .doc("stream", "5.0.0", "O(log N) with N being the number of messages in the PEL of the consumer group.", "Changes (or acquires) ownership of a message in a consumer group, as if the message was delivered to the specified consumer.")
        .args(&[
            arg("key", "key"),
            arg("group", "string"),
            arg("consumer", "string"),
            arg("min-idle-time", "string"),
            arg("id", "string").many(),
            arg("ms", "integer").token("IDLE").opt(),
            arg("unix-time-milliseconds", "unix-time").token("TIME").opt(),
            arg("count", "integer").token("RETRYCOUNT").opt(),
            tok("FORCE").opt(),
            tok("JUSTID").opt(),
            arg("lastid", "string").token("LASTID").opt(),
        ]),
    cmd("xautoclaim", -6, xautoclaim)
        .flags(&["write", "fast"])
        .keys(1, 1, 1, &[ks(&["RW", "delete"], 1, 0, 1)])
        .acl(&["@write", "@stream", "@fast"])
        .tips(&["nondeterministic_output"])
        .doc("stream", "6.2.0", "O(1) if COUNT is small.", "Changes (or acquires) ownership of messages in a consumer group, as if the messages were delivered to the specified consumer.")
        .history(&[("7.0.0", "Added an element to the reply array, containing deleted entries the command cleared from the PEL")])
        .args(&[
            arg("key", "key"),
            arg("group", "string"),
            arg("consumer", "string"),
            arg("min-idle-time", "string"),
            arg("start", "string"),
            arg("count", "integer").token("COUNT").opt(),
            tok("JUSTID").opt(),
        ]),
    container("xgroup", &XGROUP_SUBCOMMANDS)
        .acl(&["@slow"])
        .doc("stream", "5.0.0", "Depends on subcommand.", "A container for consumer groups commands"),
];

pub static XGROUP_SUBCOMMANDS: [Command; 6] = [
    cmd("xgroup|create", -5, xgroup_create)
        .flags(&["write", "denyoom"])
        .keys(2, 2, 1, &[ks(&["RW", "insert"], 2, 0, 1)])
        .acl(&["@write", "@stream", "@slow"])
        .doc("stream", "5.0.0", "O(1)", "Create a consumer group.")
        .history(&[("7.0.0", "Added the `entries_read` named argument.")])
        .args(&[
            arg("key", "key"),
            arg("group", "string"),
            arg("id-selector", "oneof")
                .of(&[arg("id", "string"), arg("new-id", "pure-token").token("$")]),
            tok("MKSTREAM").opt(),
            arg("entries-read", "integer").token("ENTRIESREAD").opt(),
        ]),
    cmd("xgroup|setid", -5, xgroup_setid)
        .flags(&["write"])
        .keys(2, 2, 1, &[ks(&["RW", "update"], 2, 0, 1)])
        .acl(&["@write", "@stream", "@slow"])
        .doc(
            "stream",
            "5.0.0",
            "O(1)",
            "Set a consumer group to an arbitrary last delivered ID value.",
        )
        .history(&[("7.0.0", "Added the optional `entries_read` argument.")])
        .args(&[
            arg("key", "key"),
            arg("group", "string"),
            arg("id-selector", "oneof")
                .of(&[arg("id", "string"), arg("new-id", "pure-token").token("$")]),
            arg("entriesread", "integer").token("ENTRIESREAD").opt(),
        ]),
    cmd("xgroup|destroy", 4, xgroup_destroy)
        .flags(&["write"])
        .keys(2, 2, 1, &[ks(&["RW", "delete"], 2, 0, 1)])
        .acl(&["@write", "@stream", "@slow"])
        .doc(
            "stream",
            "5.0.0",
            "O(N) where N is the number of entries in the group's pending entries list (PEL).",
            "Destroy a consumer group.",
        )
        .args(&[arg("key", "key"), arg("group", "string")]),
    cmd("xgroup|createconsumer", 5, xgroup_createconsumer)
        .flags(&["write", "denyoom"])
        .keys(2, 2, 1, &[ks(&["RW", "insert"], 2, 0, 1)])
        .acl(&["@write", "@stream", "@slow"])
        .doc(
            "stream",
            "6.2.0",
            "O(1)",
            "Create a consumer in a consumer group.",
        )
        .args(&[
            arg("key", "key"),
            arg("group", "string"),
            arg("consumer", "string"),
        ]),
    cmd("xgroup|delconsumer", 5, xgroup_delconsumer)
        .flags(&["write"])
        .keys(2, 2, 1, &[ks(&["RW", "delete"], 2, 0, 1)])
        .acl(&["@write", "@stream", "@slow"])
        .doc(
            "stream",
            "5.0.0",
            "O(1)",
            "Delete a consumer from a consumer group.",
        )
        .args(&[
            arg("key", "key"),
            arg("group", "string"),
            arg("consumer", "string"),
        ]),
    cmd("xgroup|help", 2, xgroup_help)
        .flags(&["loading", "stale"])
        .acl(&["@stream", "@slow"])
        .doc(
            "stream",
            "5.0.0",
            "O(1)",
            "Show helpful text about the different subcommands",
        ),
];
