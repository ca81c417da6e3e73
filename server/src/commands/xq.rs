//! `XQ.*`: Sluice's extension that makes a consumer group behave like a job queue — server-side
//! redelivery after a per-group visibility timeout, lease renewal, a delivery limit with a
//! dead-letter stream, and giving an entry back with a delay (see the README's *Consumer
//! groups as job queues* for the design and why it is a namespaced family of its own).
//!
//! * `XQ.CONFIG key group [VISIBILITY ms] [MAXDELIVER n] [DEADLETTER key]` → `+OK`; without
//!   options, the group's settings.
//! * `XQ.RENEW key group consumer id [id …]` → how many leases were renewed.
//! * `XQ.NACK key group consumer delay-ms id [id …]` → how many entries were given back.
//!
//! The state and every change live in the store (`stream::queue`, `store/queue.rs`); this
//! module parses, checks and replies, and runs the periodic pass ([`queue_cron`]). A group
//! never configured stays a plain Redis group: every Redis command answers it byte for byte as
//! Redis does.

use bytes::Bytes;
use sluice_storage::stream::group::{Group, Retention};
use sluice_storage::stream::layout::NodeLimits;
use sluice_storage::stream::queue::{QueueConfig, QueueState};
use sluice_storage::stream::StreamId;
use sluice_storage::{Store, StoreError, Value};

use super::common::*;
use super::stream_id;
use crate::args::{eq, Args};
use crate::engine::{Ctx, Server};
use crate::reply::{printable, CmdResult, ReplyError, NO_SUCH_KEY, SYNTAX, WRONGTYPE};

/// Most deadlines handled per cron tick (the rest on the next ticks).
pub const DEADLINES_PER_TICK: usize = 5_000;

/// Most time the deadlines take per cron tick (checked every [`DEADLINE_CHUNK`]).
pub const DEADLINE_TIME_PER_TICK: std::time::Duration = std::time::Duration::from_millis(2);

/// Deadlines handled between two looks at the clock.
const DEADLINE_CHUNK: usize = 256;

/// Streams with a retention policy visited per cron tick (round robin).
pub const RETAIN_STREAMS_PER_TICK: usize = 16;

/// How many fields [`write_queue_fields`] adds to a queue group in XINFO GROUPS.
pub const QUEUE_FIELDS: usize = 11;

/// The stream node limits appends use (dead-letter entries are appends).
pub fn node_limits(ctx: &Ctx<'_>) -> NodeLimits {
    NodeLimits {
        max_entries: ctx.srv.config.stream_node_max_entries,
        max_bytes: ctx.srv.config.stream_node_max_bytes,
    }
}

/// The queue fields of a group in XINFO GROUPS (after Redis's six).
pub fn write_queue_fields(
    out: &mut sluice_resp::ReplyWriter,
    g: &Group,
    q: &QueueState,
    now_ms: u64,
) {
    let c = q.config();
    let s = q.stats();
    out.bulk(b"visibility-ms");
    out.int(c.visibility_ms as i64);
    out.bulk(b"max-deliver");
    out.int(c.max_deliver as i64);
    out.bulk(b"dead-letter");
    match &c.dead_letter {
        Some(k) => out.bulk(k),
        None => out.null(),
    }
    out.bulk(b"ready");
    out.int(q.ready_len() as i64);
    out.bulk(b"oldest-pending-age-ms");
    out.int(
        g.pel()
            .keys()
            .next()
            .map_or(0, |id| now_ms.saturating_sub(id.ms) as i64),
    );
    for (name, n) in [
        (&b"deliveries"[..], s.deliveries),
        (b"redeliveries", s.redeliveries),
        (b"acks", s.acks),
        (b"dead-lettered", s.dead_lettered),
        (b"renewals", s.renewals),
        (b"nacks", s.nacks),
    ] {
        out.bulk(name);
        out.int(n.min(i64::MAX as u64) as i64);
    }
}

fn nogroup(key: &[u8], group: &[u8]) -> ReplyError {
    ReplyError::new(format!(
        "NOGROUP No such consumer group '{}' for key name '{}'",
        printable(group, 1024),
        printable(key, 1024)
    ))
}

/// The stream at `key` must exist and have `group`.
fn check_group(ctx: &mut Ctx<'_>, key: &[u8], group: &[u8]) -> Result<(), ReplyError> {
    let db = ctx.db();
    match ctx.store.lookup(db, key, ctx.now_ms).map(|e| &e.value) {
        None => Err(NO_SUCH_KEY.into()),
        Some(Value::Stream(m)) if m.groups.contains_key(group) => Ok(()),
        Some(Value::Stream(_)) => Err(nogroup(key, group)),
        Some(_) => Err(WRONGTYPE.into()),
    }
}

/// A non-negative integer option.
fn non_negative(args: &mut Args<'_>, what: &str) -> Result<u64, ReplyError> {
    let v = args.next_i64()?;
    u64::try_from(v).map_err(|_| ReplyError::new(format!("ERR {what} must be >= 0")))
}

/// Most queue groups `INFO queuegroups` lists one by one (the totals count them all).
pub const INFO_MAX_GROUPS: usize = 1000;

/// A name in an INFO line: lossy UTF-8, with the separators INFO uses replaced.
fn info_name(b: &[u8]) -> String {
    String::from_utf8_lossy(&b[..b.len().min(256)])
        .chars()
        .map(|c| {
            if matches!(c, ',' | ':' | '=' | '\r' | '\n') {
                '_'
            } else {
                c
            }
        })
        .collect()
}

/// `INFO queuegroups` (only when named: it walks the key directories): totals, then one line
/// per queue group with its metrics.
pub fn info_section(store: &Store, now_ms: u64) -> String {
    use std::fmt::Write;
    let mut lines = String::new();
    let mut groups = 0usize;
    let mut t = sluice_storage::stream::queue::QueueStats::default();
    let (mut pending, mut ready) = (0usize, 0usize);
    for db in 0..store.databases() {
        for (key, e) in store.dir(db).iter() {
            let Value::Stream(m) = &e.value else { continue };
            for (gname, g) in &m.groups {
                let Some(q) = g.queue() else { continue };
                let s = q.stats();
                if groups < INFO_MAX_GROUPS {
                    let _ = write!(
                        lines,
                        "qgroup{groups}:db={db},key={},group={},pending={},ready={},in_flight={},oldest_pending_age_ms={},deliveries={},redeliveries={},acks={},dead_lettered={},renewals={},nacks={}\r\n",
                        info_name(key),
                        info_name(gname),
                        g.pel().len(),
                        q.ready_len(),
                        q.timers_len(),
                        g.pel().keys().next().map_or(0, |id| now_ms.saturating_sub(id.ms)),
                        s.deliveries,
                        s.redeliveries,
                        s.acks,
                        s.dead_lettered,
                        s.renewals,
                        s.nacks
                    );
                }
                groups += 1;
                pending += g.pel().len();
                ready += q.ready_len();
                t.deliveries += s.deliveries;
                t.redeliveries += s.redeliveries;
                t.acks += s.acks;
                t.dead_lettered += s.dead_lettered;
                t.renewals += s.renewals;
                t.nacks += s.nacks;
            }
        }
    }
    let sched = store.queue_schedule();
    format!(
        "# Queuegroups\r\nqueue_groups:{groups}\r\nqueue_groups_pending:{pending}\r\nqueue_groups_ready:{ready}\r\nqueue_groups_deliveries:{}\r\nqueue_groups_redeliveries:{}\r\nqueue_groups_acks:{}\r\nqueue_groups_dead_lettered:{}\r\nqueue_groups_renewals:{}\r\nqueue_groups_nacks:{}\r\nqueue_schedule_items:{}\r\nretained_streams:{}\r\n{lines}",
        t.deliveries,
        t.redeliveries,
        t.acks,
        t.dead_lettered,
        t.renewals,
        t.nacks,
        sched.len(),
        sched.retained()
    )
}

// ---------------------------------------------------------------------------------------------
// XQ.CONFIG

pub fn xq_config(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let mut args = Args::new(argv.get(1..).unwrap_or_default());
    let (key, group) = (args.next()?, args.next()?);
    let (mut vis, mut max, mut dlq) = (None, None, None);
    while let Some(opt) = args.next_opt() {
        if eq(opt, "VISIBILITY") && !args.is_empty() {
            vis = Some(non_negative(&mut args, "VISIBILITY")?);
        } else if eq(opt, "MAXDELIVER") && !args.is_empty() {
            max = Some(non_negative(&mut args, "MAXDELIVER")?);
        } else if eq(opt, "DEADLETTER") && !args.is_empty() {
            dlq = Some(args.next()?.clone());
        } else {
            return Err(SYNTAX.into());
        }
    }
    check_group(ctx, key, group)?;
    let db = ctx.db();
    let current = ctx
        .store
        .stream(db, key, ctx.now_ms)
        .ok()
        .flatten()
        .and_then(|m| m.groups.get(group))
        .and_then(|g| g.queue())
        .map(|q| q.config().clone())
        .unwrap_or_default();
    if vis.is_none() && max.is_none() && dlq.is_none() {
        let out = &mut *ctx.out;
        out.map(3);
        out.bulk(b"visibility-ms");
        out.int(current.visibility_ms.min(i64::MAX as u64) as i64);
        out.bulk(b"max-deliver");
        out.int(current.max_deliver.min(i64::MAX as u64) as i64);
        out.bulk(b"dead-letter");
        match &current.dead_letter {
            Some(k) => out.bulk(k),
            None => out.null(),
        }
        return Ok(());
    }
    let config = QueueConfig {
        visibility_ms: vis.unwrap_or(current.visibility_ms),
        max_deliver: max.unwrap_or(current.max_deliver),
        dead_letter: match dlq {
            Some(k) if k.is_empty() => None,
            Some(k) => Some(k),
            None => current.dead_letter,
        },
    };
    if config.dead_letter.as_deref() == Some(key.as_ref()) {
        return Err("ERR the dead-letter stream must be another key".into());
    }
    if config.max_deliver > 0 && config.dead_letter.is_none() {
        return Err("ERR MAXDELIVER needs a DEADLETTER stream".into());
    }
    if let Some(k) = &config.dead_letter {
        if ctx.store.stream(db, k, ctx.now_ms).is_err() {
            return Err(WRONGTYPE.into());
        }
    }
    if let Some(mut g) = ctx.store.group_mut(db, key, group) {
        g.configure(config);
    }
    ctx.out.ok();
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// XQ.RENEW, XQ.NACK

/// The IDs at the end of XQ.RENEW / XQ.NACK.
fn ids(args: &[Bytes]) -> Result<Vec<StreamId>, ReplyError> {
    args.iter().map(|a| stream_id::strict(a, 0)).collect()
}

pub fn xq_renew(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let mut args = Args::new(argv.get(1..).unwrap_or_default());
    let (key, group, consumer) = (args.next()?, args.next()?, args.next()?);
    let ids = ids(args.take_rest())?;
    check_group(ctx, key, group)?;
    let db = ctx.db();
    let now = ctx.now_ms;
    let renewed = match ctx.store.group_mut(db, key, group) {
        Some(mut g) => ids.iter().filter(|id| g.renew(consumer, **id, now)).count(),
        None => 0,
    };
    ctx.out.int(renewed as i64);
    Ok(())
}

pub fn xq_nack(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let mut args = Args::new(argv.get(1..).unwrap_or_default());
    let (key, group, consumer) = (args.next()?, args.next()?, args.next()?);
    let delay = non_negative(&mut args, "the delay")?;
    let ids = ids(args.take_rest())?;
    check_group(ctx, key, group)?;
    let db = ctx.db();
    let due = ctx.now_ms.saturating_add(delay);
    let given = match ctx.store.group_mut(db, key, group) {
        Some(mut g) => ids.iter().filter(|id| g.nack(consumer, **id, due)).count(),
        None => 0,
    };
    ctx.out.int(given as i64);
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// XQ.RETENTION

/// `XQ.RETENTION key [ACKED] [MAXAGE ms] | OFF`: the stream's retention by consumption; without
/// options, the policy.
pub fn xq_retention(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let mut args = Args::new(argv.get(1..).unwrap_or_default());
    let key = args.next()?;
    let mut policy = Retention::default();
    let (mut any, mut off) = (false, false);
    while let Some(opt) = args.next_opt() {
        if eq(opt, "ACKED") {
            policy.acked = true;
        } else if eq(opt, "MAXAGE") && !args.is_empty() {
            policy.max_age_ms = non_negative(&mut args, "MAXAGE")?;
        } else if eq(opt, "OFF") && argv.len() == 3 {
            off = true;
        } else {
            return Err(SYNTAX.into());
        }
        any = true;
    }
    let db = ctx.db();
    let current = match ctx.store.stream(db, key, ctx.now_ms) {
        Ok(Some(m)) => m.groups.retention(),
        Ok(None) => return Err(NO_SUCH_KEY.into()),
        Err(_) => return Err(WRONGTYPE.into()),
    };
    if !any {
        let p = current.unwrap_or_default();
        let out = &mut *ctx.out;
        out.map(2);
        out.bulk(b"acked");
        out.int(i64::from(p.acked));
        out.bulk(b"maxage-ms");
        out.int(p.max_age_ms.min(i64::MAX as u64) as i64);
        return Ok(());
    }
    let policy = (!off && (policy.acked || policy.max_age_ms > 0)).then_some(policy);
    ctx.store.set_retention(db, key, policy);
    ctx.out.ok();
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// XQ.ADD and `>` reads past delayed entries.

/// Most entries a `>` read scans past delayed ones to fill its COUNT.
const MAX_SCAN_PAST_DELAYS: usize = 10_000;

/// `XQ.ADD key DELAY ms|AT unix-ms <XADD arguments after the key>`: XADD, then the entry is
/// not seen by `>` readers of any group before the time (XRANGE and XREAD see it at once).
pub fn xq_add(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let mut args = Args::new(argv.get(1..).unwrap_or_default());
    let key = args.next()?;
    let how = args.next()?;
    let at = if eq(how, "DELAY") {
        ctx.now_ms.saturating_add(non_negative(&mut args, "DELAY")?)
    } else if eq(how, "AT") {
        non_negative(&mut args, "AT")?
    } else {
        return Err(SYNTAX.into());
    };
    let rest = args.take_rest();
    let mut xadd_argv = Vec::with_capacity(rest.len() + 2);
    xadd_argv.push(Bytes::from_static(b"XADD"));
    xadd_argv.push(key.clone());
    xadd_argv.extend_from_slice(rest);
    if xadd_argv.len() < 5 {
        return Err("ERR wrong number of arguments for 'xq.add' command".into());
    }
    let db = ctx.db();
    let before = match ctx.store.stream(db, key, ctx.now_ms) {
        Ok(m) => m.map(|m| (m.sid, m.last_id, m.entries_added)),
        Err(_) => return Err(WRONGTYPE.into()),
    };
    super::streams::xadd(ctx, &xadd_argv)?;
    let after = ctx
        .store
        .stream(db, key, ctx.now_ms)
        .ok()
        .flatten()
        .map(|m| (m.sid, m.last_id, m.entries_added));
    if let Some((sid, id, added)) = after {
        let appended = match before {
            Some((bsid, _, badded)) => bsid != sid || added > badded,
            None => true,
        };
        if appended && at > ctx.now_ms {
            ctx.store.add_delay(db, key, id, at);
        }
    }
    Ok(())
}

/// A `>` read of new entries on a stream with delayed entries: entries not due yet are held
/// by the group (unowned pending, served once due), the others delivered to `consumer`, up to
/// `room`. Returns the delivered entries and how many were held.
pub fn read_past_delays(
    ctx: &mut Ctx<'_>,
    key: &[u8],
    group: &[u8],
    consumer: &Bytes,
    mut from: StreamId,
    room: Option<usize>,
    noack: bool,
) -> Result<(Vec<sluice_storage::StreamEntry>, usize), ReplyError> {
    let db = ctx.db();
    let now = ctx.now_ms;
    ctx.store.forget_due_delays(db, key, now);
    let mut served = Vec::new();
    let mut held: Vec<(StreamId, u64)> = Vec::new();
    let mut all: Vec<StreamId> = Vec::new();
    loop {
        let want = room.map(|r| r.saturating_sub(served.len()));
        let batch = ctx
            .store
            .stream_read(db, key, (from, StreamId::MAX), false, want, now)
            .map_err(super::streams::storage_error)?;
        let Some(last) = batch.last().map(|e| e.id) else {
            break;
        };
        let delayed: Vec<Option<u64>> = match ctx.store.stream(db, key, now) {
            Ok(Some(m)) => batch.iter().map(|e| m.groups.delayed_until(e.id)).collect(),
            _ => break,
        };
        for (e, d) in batch.into_iter().zip(delayed) {
            all.push(e.id);
            match d {
                Some(d) if d > now => held.push((e.id, d)),
                _ => served.push(e),
            }
        }
        if room.is_none_or(|r| served.len() >= r) || all.len() >= MAX_SCAN_PAST_DELAYS {
            break;
        }
        match last.successor() {
            Some(n) => from = n,
            None => break,
        }
    }
    if let Some(mut g) = ctx.store.group_mut(db, key, group) {
        if !all.is_empty() {
            g.deliver(consumer, all.iter().copied(), noack, now);
        }
        for (id, due) in &held {
            g.hold(*id, *due, true, now);
        }
    }
    Ok((served, held.len()))
}

// ---------------------------------------------------------------------------------------------
// The periodic pass.

/// Handles the queue groups' deadlines due at `now_ms` (at most [`DEADLINES_PER_TICK`] or
/// [`DEADLINE_TIME_PER_TICK`]), then queues the blocked readers of streams with entries ready.
/// Called from the engine's periodic task.
pub fn queue_cron(store: &mut Store, srv: &mut Server, now_ms: u64) -> Result<(), StoreError> {
    if store.queue_schedule().retained() > 0 {
        let run = store.retain_pass(now_ms, RETAIN_STREAMS_PER_TICK)?;
        if run.deleted > 0 {
            tracing::debug!(streams = run.streams, deleted = run.deleted, "retention");
        }
    }
    if store.queue_schedule().next_due().is_none_or(|d| d > now_ms) {
        return Ok(());
    }
    let limits = NodeLimits {
        max_entries: srv.config.stream_node_max_entries,
        max_bytes: srv.config.stream_node_max_bytes,
    };
    let started = std::time::Instant::now();
    let mut done = 0;
    while done < DEADLINES_PER_TICK && started.elapsed() < DEADLINE_TIME_PER_TICK {
        let run = store.queue_cron(now_ms, DEADLINE_CHUNK, limits)?;
        if run.handled > 0 {
            tracing::debug!(
                handled = run.handled,
                dead_lettered = run.dead_lettered,
                "queue group deadlines"
            );
        }
        done += run.handled;
        for k in run.woken {
            if srv.waiting.contains_key(&k) && !srv.ready.contains(&k) {
                srv.ready.push(k);
            }
        }
        if !run.more {
            break;
        }
    }
    let took = started.elapsed();
    if took > 5 * DEADLINE_TIME_PER_TICK {
        tracing::warn!(
            took_ms = took.as_millis() as u64,
            handled = done,
            "queue group deadlines took longer than their budget"
        );
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// The command table rows.

pub static COMMANDS: &[Command] = &[
    cmd("xq.add", -6, xq_add)
        .flags(&["write", "denyoom", "fast"])
        .keys(1, 1, 1, RW_UPDATE)
        .acl(&["@write", "@stream", "@fast"])
        .doc(
            "stream",
            "1.0.0",
            "O(1) when adding a new entry, O(N) when trimming where N being the number of entries evicted.",
            "Sluice extension: XADD whose entry consumer-group `>` readers do not see before a delay has passed or a time has come (XRANGE and XREAD see it at once).",
        )
        .args(&[
            arg("key", "key"),
            arg("when", "oneof").of(&[
                arg("delay", "integer").token("DELAY"),
                arg("at", "unix-time").token("AT"),
            ]),
            arg("xadd-arguments", "string").many(),
        ]),
    cmd("xq.config", -3, xq_config)
        .flags(&["write"])
        .keys(1, 1, 1, RW_UPDATE)
        .acl(&["@write", "@stream", "@slow"])
        .doc(
            "stream",
            "1.0.0",
            "O(1) without options; O(N) with N the pending entries of the group when a setting changes",
            "Sluice extension: makes a consumer group a job queue (visibility timeout with server-side redelivery, delivery limit with a dead-letter stream), or shows its settings.",
        )
        .args(&[
            arg("key", "key"),
            arg("group", "string"),
            arg("visibility", "integer").token("VISIBILITY").opt(),
            arg("maxdeliver", "integer").token("MAXDELIVER").opt(),
            arg("deadletter", "string").token("DEADLETTER").opt(),
        ]),
    cmd("xq.retention", -2, xq_retention)
        .flags(&["write"])
        .keys(1, 1, 1, RW_UPDATE)
        .acl(&["@write", "@stream", "@slow"])
        .doc(
            "stream",
            "1.0.0",
            "O(1); the deletions happen in the background, in proportion to what is deleted",
            "Sluice extension: retention by consumption — entries every consumer group has acknowledged (ACKED) and/or older than MAXAGE ms are deleted in the background; OFF removes the policy; without options, shows it.",
        )
        .args(&[
            arg("key", "key"),
            tok("ACKED").opt(),
            arg("maxage", "integer").token("MAXAGE").opt(),
            tok("OFF").opt(),
        ]),
    cmd("xq.renew", -5, xq_renew)
        .flags(&["write", "fast"])
        .keys(1, 1, 1, RW_UPDATE)
        .acl(&["@write", "@stream", "@fast"])
        .doc(
            "stream",
            "1.0.0",
            "O(log N) for each ID",
            "Sluice extension: renews the lease (visibility deadline) of entries pending for a consumer, without counting a delivery.",
        )
        .args(&[
            arg("key", "key"),
            arg("group", "string"),
            arg("consumer", "string"),
            arg("id", "string").many(),
        ]),
    cmd("xq.nack", -6, xq_nack)
        .flags(&["write", "fast"])
        .keys(1, 1, 1, RW_UPDATE)
        .acl(&["@write", "@stream", "@fast"])
        .doc(
            "stream",
            "1.0.0",
            "O(log N) for each ID",
            "Sluice extension: gives entries pending for a consumer back to the group, to be delivered again to `>` readers after a delay.",
        )
        .args(&[
            arg("key", "key"),
            arg("group", "string"),
            arg("consumer", "string"),
            arg("delay", "integer"),
            arg("id", "string").many(),
        ]),
];
