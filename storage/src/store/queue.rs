//! Consumer groups as job queues (Sluice's `XQ.*` extension; the state is in
//! `stream::queue`): configuring a group, renewing leases, giving entries back with a delay,
//! handling deadlines (an entry past its deadline becomes ready for redelivery, or, at the
//! delivery limit, moves to the dead-letter stream), serving ready entries to `>` readers, and
//! the periodic pass over the store's [`QueueSchedule`].
//!
//! Every change goes through [`GroupMut`] (so it is logged and staged like any group change)
//! or through `stream_append` (the dead-letter entry), all in the drain's one batch: an entry
//! is dead-lettered and acknowledged in the same atomic commit, so after a crash it is either
//! still pending or both in the dead-letter stream and gone from the PEL — exactly once.
//!
//! Bounded work: [`Store::queue_cron`] handles at most its budget of deadlines per call, and a
//! `>` read handles at most [`TAKE_HANDLE_BUDGET`] plus its COUNT; a million deadlines due at
//! once are spread over ticks (the indexes are in memory, so handling one is a B-tree move).

use bytes::Bytes;

use super::groups::{log_gone, log_state, GroupMut};
use super::{Result, Store};
use crate::keydir::Value;
use crate::stream::group::Nack;
use crate::stream::layout::NodeLimits;
use crate::stream::queue::{QueueConfig, QueueSchedule, QueueState};
use crate::stream::{StreamId, StreamMeta};
use crate::StreamEntry;

/// Deadlines a `>` read handles beyond its COUNT before it serves what is ready.
pub const TAKE_HANDLE_BUDGET: usize = 1024;

/// Most entries a `>` read without COUNT redelivers at once.
pub const TAKE_MAX: usize = 10_000;

/// The `reason` field of an entry moved to the dead-letter stream by the delivery limit.
pub const REASON_MAXDELIVER: &[u8] = b"maxdeliver";

/// What one call of [`Store::queue_cron`] did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct QueueCronRun {
    /// Deadlines handled.
    pub handled: usize,
    /// Entries moved to dead-letter streams.
    pub dead_lettered: usize,
    /// Streams whose groups have entries ready for `>` readers now (their blocked readers
    /// may be served).
    pub woken: Vec<(usize, Bytes)>,
    /// More deadlines were due than the budget allowed.
    pub more: bool,
}

/// What handling one group's deadlines did.
#[derive(Debug, Default, PartialEq, Eq, Clone, Copy)]
pub struct DeadLetterRun {
    pub handled: usize,
    pub readied: usize,
    pub dead_lettered: usize,
}

/// Puts a group's next deadline in the schedule if it is earlier than what is scheduled.
pub(super) fn schedule_group(
    schedule: &mut QueueSchedule,
    q: &mut QueueState,
    db: usize,
    key: &[u8],
    group: &[u8],
) {
    let Some(due) = q.next_due() else {
        return;
    };
    let item = |at: u64| {
        (
            at,
            db,
            Bytes::copy_from_slice(key),
            Bytes::copy_from_slice(group),
        )
    };
    // The item of `scheduled` may be under another key (the stream was renamed since): then
    // the group is scheduled again under this one.
    let lost = q.scheduled != u64::MAX && !schedule.items.contains(&item(q.scheduled));
    if due < q.scheduled || lost {
        q.scheduled = due;
        schedule.items.insert(item(due));
    }
}

/// Schedules the queue groups of a stream loaded at startup.
pub(super) fn schedule_loaded(
    schedule: &mut QueueSchedule,
    db: usize,
    key: &[u8],
    meta: &mut StreamMeta,
) {
    for (gname, g) in meta.groups.map.iter_mut() {
        if let Some(q) = g.queue.as_deref_mut() {
            q.scheduled = u64::MAX;
            schedule_group(schedule, q, db, key, gname);
        }
    }
    if meta.groups.retention.is_some() {
        schedule.retained.insert((db, Bytes::copy_from_slice(key)));
    }
}

impl GroupMut<'_> {
    /// `XQ.CONFIG`: the group becomes a queue with these settings (its counters are kept);
    /// deadlines are recomputed over the whole PEL (a pass over it).
    pub fn configure(&mut self, config: QueueConfig) {
        match self.group.queue.as_deref_mut() {
            Some(q) => {
                q.config = config;
                q.dirty = true;
            }
            None => self.group.queue = Some(Box::new(QueueState::new(config))),
        }
        self.group.rebuild_queue_index();
        self.changed = true;
    }

    /// `XQ.RENEW`: the entry, pending for `consumer` and in flight (not given back with a
    /// delay), gets a new deadline a visibility timeout from now; its delivery count stays.
    /// False if it is not pending for that consumer.
    pub fn renew(&mut self, consumer: &[u8], id: StreamId, now_ms: u64) -> bool {
        let Some(c) = self.group.consumers.get(consumer) else {
            return false;
        };
        let cid = c.cid;
        let Some(n) = self.group.pel.get(&id).copied() else {
            return false;
        };
        if n.cid != cid || n.due != 0 {
            return false;
        }
        let mut n = n;
        n.delivery_time = now_ms;
        self.group.set_nack(id, n);
        log_state(self.group, id);
        if let Some(q) = self.group.queue.as_deref_mut() {
            q.stats.renewals += 1;
            q.dirty = true;
        }
        self.changed = true;
        true
    }

    /// `XQ.NACK`: the entry, pending for `consumer`, is given back: `>` readers get it again
    /// from `due_ms` on (its delivery count goes up when it is delivered again). The group
    /// becomes a queue if it was not. False if it is not pending for that consumer.
    pub fn nack(&mut self, consumer: &[u8], id: StreamId, due_ms: u64) -> bool {
        let Some(c) = self.group.consumers.get(consumer) else {
            return false;
        };
        let cid = c.cid;
        let Some(mut n) = self.group.pel.get(&id).copied() else {
            return false;
        };
        if n.cid != cid {
            return false;
        }
        if self.group.queue.is_none() {
            self.group.queue = Some(Box::new(QueueState::new(QueueConfig::default())));
            self.group.rebuild_queue_index();
        }
        n.due = due_ms.max(1);
        self.group.set_nack(id, n);
        log_state(self.group, id);
        if let Some(q) = self.group.queue.as_deref_mut() {
            q.stats.nacks += 1;
            q.dirty = true;
        }
        self.changed = true;
        true
    }

    /// Handles up to `budget` deadlines due at `now_ms`: an entry below the delivery limit
    /// becomes ready; one at the limit (with a dead-letter stream set) is left in the timers
    /// and returned, for the caller to dead-letter. Changes no durable state.
    fn handle_due(&mut self, now_ms: u64, budget: usize) -> (DeadLetterRun, Vec<StreamId>) {
        let mut run = DeadLetterRun::default();
        let mut dead = Vec::new();
        let g = &mut *self.group;
        let Some(q) = g.queue.as_deref_mut() else {
            return (run, dead);
        };
        let limit = match (&q.config.dead_letter, q.config.max_deliver) {
            (Some(_), m) if m > 0 => m,
            _ => u64::MAX,
        };
        let due: Vec<(u64, StreamId)> = q
            .timers
            .range(..=(now_ms, StreamId::MAX))
            .take(budget)
            .copied()
            .collect();
        for (d, id) in due {
            run.handled += 1;
            let count = g.pel.get(&id).map_or(0, |n| n.delivery_count);
            debug_assert!(g.pel.contains_key(&id), "timer of {id} not pending");
            if count >= limit {
                dead.push(id);
            } else {
                q.timers.remove(&(d, id));
                q.ready.insert((d, id));
                run.readied += 1;
            }
        }
        (run, dead)
    }

    /// The first entry ready for redelivery, with its state.
    fn first_ready(&self) -> Option<(StreamId, Nack)> {
        let q = self.group.queue.as_deref()?;
        let &(_, id) = q.ready.first()?;
        Some((id, *self.group.pel.get(&id)?))
    }

    /// Redelivers the pending entry `id` to `consumer` (created if missing) now: one more
    /// delivery, a new deadline.
    fn redeliver_to(&mut self, consumer: &Bytes, id: StreamId, old: &Nack, now_ms: u64) {
        let cid = self.touch_consumer(consumer, now_ms, true);
        self.group
            .put_pending(id, cid, now_ms, old.delivery_count.saturating_add(1));
        log_state(self.group, id);
        if let Some(q) = self.group.queue.as_deref_mut() {
            q.stats.deliveries += 1;
            q.stats.redeliveries += 1;
            q.dirty = true;
        }
        self.changed = true;
    }

    /// Drops a pending entry without counting an acknowledgement (dead-lettered, or gone
    /// from the stream).
    fn drop_pending(&mut self, id: StreamId, dead_lettered: bool) {
        if self.group.take_pending(id).is_none() {
            return;
        }
        log_gone(self.group, id);
        if let Some(q) = self.group.queue.as_deref_mut() {
            if dead_lettered {
                q.stats.dead_lettered += 1;
                q.dirty = true;
            }
        }
        self.changed = true;
    }

    /// Postpones an entry that could not be dead-lettered (the dead-letter key holds another
    /// type): it is tried again after a visibility timeout (at least a second).
    fn postpone(&mut self, id: StreamId, now_ms: u64) {
        let Some(mut n) = self.group.pel.get(&id).copied() else {
            return;
        };
        let wait = self
            .group
            .queue
            .as_deref()
            .map_or(1000, |q| q.config.visibility_ms.max(1000));
        n.due = now_ms.saturating_add(wait);
        self.group.set_nack(id, n);
        log_state(self.group, id);
        self.changed = true;
    }
}

impl Store {
    /// Moves the pending entry `id` of `group` to the group's dead-letter stream with its
    /// metadata and drops it from the PEL, in the same batch. An entry deleted from the stream
    /// is only dropped. Returns whether it was dead-lettered.
    #[allow(clippy::too_many_arguments)]
    pub fn dead_letter(
        &mut self,
        db: usize,
        key: &[u8],
        group: &[u8],
        id: StreamId,
        reason: &[u8],
        now_ms: u64,
        limits: NodeLimits,
    ) -> Result<bool> {
        let Some(Value::Stream(meta)) = self.dirs[db].get(key).map(|e| &e.value) else {
            return Ok(false);
        };
        let sid = meta.sid;
        let Some(g) = meta.groups.get(group) else {
            return Ok(false);
        };
        let Some(n) = g.pel.get(&id).copied() else {
            return Ok(false);
        };
        let consumer = g.consumer_name(n.cid).cloned().unwrap_or_default();
        let Some(dlq) = g.queue().and_then(|q| q.config.dead_letter.clone()) else {
            return Ok(false);
        };
        let Some(entry) = self.stream_get(sid, id)? else {
            if let Some(mut gm) = self.group_mut(db, key, group) {
                gm.drop_pending(id, false);
            }
            return Ok(false);
        };
        let fields: Vec<Bytes> = entry
            .fields()?
            .into_iter()
            .map(Bytes::copy_from_slice)
            .collect();
        let last = match self.stream(db, &dlq, now_ms) {
            Ok(Some(m)) => Some(m.last_id),
            Ok(None) => None,
            Err(_) => {
                tracing::warn!(
                    stream = %String::from_utf8_lossy(key),
                    dead_letter = %String::from_utf8_lossy(&dlq),
                    "the dead-letter key holds another type: the entry stays pending"
                );
                if let Some(mut gm) = self.group_mut(db, key, group) {
                    gm.postpone(id, now_ms);
                }
                return Ok(false);
            }
        };
        let new_id = match last {
            None => StreamId::new(now_ms.max(1), 0),
            Some(l) if now_ms > l.ms => StreamId::new(now_ms, 0),
            Some(l) => match l.successor() {
                Some(s) => s,
                None => {
                    if let Some(mut gm) = self.group_mut(db, key, group) {
                        gm.postpone(id, now_ms);
                    }
                    return Ok(false);
                }
            },
        };
        let mut all = Vec::with_capacity(14 + fields.len());
        for (f, v) in [
            (&b"dlq-stream"[..], key.to_vec()),
            (b"dlq-id", id.text().as_bytes().to_vec()),
            (b"dlq-group", group.to_vec()),
            (b"dlq-consumer", consumer.to_vec()),
            (b"dlq-deliveries", n.delivery_count.to_string().into_bytes()),
            (b"dlq-reason", reason.to_vec()),
            (b"dlq-time", now_ms.to_string().into_bytes()),
        ] {
            all.push(Bytes::copy_from_slice(f));
            all.push(Bytes::from(v));
        }
        all.extend(fields);
        if last.is_none() {
            self.stream_create(db, dlq.clone());
        }
        self.stream_append(db, &dlq, new_id, &all, limits, now_ms);
        self.end_command();
        if let Some(mut gm) = self.group_mut(db, key, group) {
            gm.drop_pending(id, true);
        }
        Ok(true)
    }

    /// Handles up to `budget` of a queue group's deadlines due at `now_ms` (ready for
    /// redelivery, or dead-lettered at the delivery limit).
    pub fn queue_handle(
        &mut self,
        db: usize,
        key: &[u8],
        group: &[u8],
        now_ms: u64,
        budget: usize,
        limits: NodeLimits,
    ) -> Result<DeadLetterRun> {
        let Some(mut gm) = self.group_mut(db, key, group) else {
            return Ok(DeadLetterRun::default());
        };
        let (mut run, dead) = gm.handle_due(now_ms, budget);
        drop(gm);
        for id in dead {
            if self.dead_letter(db, key, group, id, REASON_MAXDELIVER, now_ms, limits)? {
                run.dead_lettered += 1;
            }
        }
        Ok(run)
    }

    /// A `>` read of a queue group: handles what is due, then redelivers up to `count`
    /// ready entries (oldest deadline first) to `consumer`; entries gone from the stream are
    /// dropped from the PEL, entries at the delivery limit dead-lettered.
    #[allow(clippy::too_many_arguments)]
    pub fn queue_take(
        &mut self,
        db: usize,
        key: &[u8],
        group: &[u8],
        consumer: &Bytes,
        now_ms: u64,
        count: Option<usize>,
        limits: NodeLimits,
    ) -> Result<Vec<StreamEntry>> {
        let want = count.unwrap_or(TAKE_MAX).min(TAKE_MAX);
        self.queue_handle(
            db,
            key,
            group,
            now_ms,
            want.saturating_add(TAKE_HANDLE_BUDGET),
            limits,
        )?;
        let mut out = Vec::new();
        while out.len() < want {
            let Some(gm) = self.group_mut(db, key, group) else {
                break;
            };
            let Some((id, n)) = gm.first_ready() else {
                break;
            };
            let sid = gm.sid;
            let over = gm.group.queue.as_deref().is_some_and(|q| {
                q.config.dead_letter.is_some()
                    && q.config.max_deliver > 0
                    && n.delivery_count >= q.config.max_deliver
            });
            drop(gm);
            if over {
                // The limit was lowered since this entry became ready.
                self.dead_letter(db, key, group, id, REASON_MAXDELIVER, now_ms, limits)?;
                continue;
            }
            let entry = self.stream_get(sid, id)?;
            let Some(mut gm) = self.group_mut(db, key, group) else {
                break;
            };
            match entry {
                None => gm.drop_pending(id, false),
                Some(e) => {
                    gm.redeliver_to(consumer, id, &n, now_ms);
                    out.push(e);
                }
            }
        }
        Ok(out)
    }

    /// The periodic pass: pops the groups whose next deadline is due and handles up to
    /// `budget` deadlines in all; reports the streams whose groups have entries ready (to wake
    /// their blocked readers).
    pub fn queue_cron(
        &mut self,
        now_ms: u64,
        budget: usize,
        limits: NodeLimits,
    ) -> Result<QueueCronRun> {
        let mut run = QueueCronRun::default();
        // CLAIM wake-ups due: their streams' blocked readers are re-checked.
        while let Some(first) = self.queue_schedule.claim_wakes.first().cloned() {
            if first.0 > now_ms {
                break;
            }
            self.queue_schedule.claim_wakes.remove(&first);
            let (_, db, key) = first;
            if !run.woken.iter().any(|(d, k)| *d == db && *k == key) {
                run.woken.push((db, key));
            }
        }
        while run.handled < budget {
            let Some(first) = self.queue_schedule.items.first().cloned() else {
                break;
            };
            if first.0 > now_ms {
                break;
            }
            self.queue_schedule.items.remove(&first);
            let (due, db, key, gname) = first;
            // A stale item (see `QueueSchedule`) is dropped.
            let live = self
                .dirs
                .get_mut(db)
                .and_then(|d| d.get_mut(&key))
                .and_then(|e| match &mut e.value {
                    Value::Stream(m) => m.groups.get_mut(&gname),
                    _ => None,
                })
                .and_then(|g| g.queue.as_deref_mut())
                .filter(|q| q.scheduled == due);
            let Some(q) = live else {
                continue;
            };
            q.scheduled = u64::MAX;
            let h = self.queue_handle(db, &key, &gname, now_ms, budget - run.handled, limits)?;
            run.handled += h.handled.max(1);
            run.dead_lettered += h.dead_lettered;
            let Some(Value::Stream(m)) = self.dirs[db].get_mut(&key).map(|e| &mut e.value) else {
                continue;
            };
            let Some(q) = m
                .groups
                .get_mut(&gname)
                .and_then(|g| g.queue.as_deref_mut())
            else {
                continue;
            };
            if !q.ready.is_empty() && !run.woken.iter().any(|(d, k)| *d == db && *k == key) {
                run.woken.push((db, key.clone()));
            }
            schedule_group(&mut self.queue_schedule, q, db, &key, &gname);
        }
        run.more = self.queue_schedule.next_due().is_some_and(|d| d <= now_ms);
        Ok(run)
    }

    /// The schedule of queue groups (for INFO and tests).
    pub fn queue_schedule(&self) -> &QueueSchedule {
        &self.queue_schedule
    }

    /// A blocked XREADGROUP CLAIM reader of stream `key` may find a claimable entry at `at`
    /// (Unix ms): the periodic pass reports the stream then (see `QueueSchedule`).
    pub fn schedule_claim_wake(&mut self, db: usize, key: &[u8], at: u64) {
        self.queue_schedule
            .claim_wakes
            .insert((at, db, Bytes::copy_from_slice(key)));
    }
}

/// How many of a stream's delayed-entry records (oldest ID first) a `>` read looks at to forget
/// those already due (see [`Store::forget_due_delays`]).
const FORGET_DELAYS_PER_READ: usize = 64;

impl GroupMut<'_> {
    /// A `>` read passed the delayed entry `id` before it is due: the group holds it as an
    /// unowned pending entry (no deliveries yet) due at `due_ms`; it is served as a
    /// redelivery once due. The group becomes a queue if it was not (for its deadline index).
    pub fn hold(&mut self, id: StreamId, due_ms: u64, was_delivered: bool, now_ms: u64) {
        if self.group.queue.is_none() {
            self.group.queue = Some(Box::new(QueueState::new(QueueConfig::default())));
            self.group.rebuild_queue_index();
        }
        self.group
            .put_pending(id, crate::stream::group::UNOWNED, now_ms, 0);
        if let Some(n) = self.group.pel.get(&id).copied() {
            let mut n = n;
            n.due = due_ms.max(1);
            self.group.set_nack(id, n);
        }
        log_state(self.group, id);
        if let Some(q) = self.group.queue.as_deref_mut() {
            if was_delivered {
                q.stats.deliveries = q.stats.deliveries.saturating_sub(1);
            }
            q.dirty = true;
        }
        self.changed = true;
    }
}

impl Store {
    /// `XQ.ADD`: the entry `id` of the stream at `key` is not seen by `>` readers before
    /// `due_ms` (durable: a record beside the stream's groups).
    pub fn add_delay(&mut self, db: usize, key: &[u8], id: StreamId, due_ms: u64) {
        let Some(Value::Stream(meta)) = self.dirs[db].get_mut(key).map(|e| &mut e.value) else {
            return;
        };
        meta.groups.delayed.insert(id, due_ms);
        let k = super::groups::delayed_key(meta.sid, id);
        self.pending_smeta
            .insert(k, Some(due_ms.to_be_bytes().to_vec()));
        self.mark_dirty(db, key);
    }

    /// Forgets the delayed-entry records already due among the oldest few of the stream (a
    /// due entry is an ordinary one; a group that held it has its own pending state).
    pub fn forget_due_delays(&mut self, db: usize, key: &[u8], now_ms: u64) {
        let Some(Value::Stream(meta)) = self.dirs[db].get_mut(key).map(|e| &mut e.value) else {
            return;
        };
        let due: Vec<StreamId> = meta
            .groups
            .delayed
            .iter()
            .take(FORGET_DELAYS_PER_READ)
            .filter(|(_, d)| **d <= now_ms)
            .map(|(id, _)| *id)
            .collect();
        if due.is_empty() {
            return;
        }
        let sid = meta.sid;
        for id in due {
            meta.groups.delayed.remove(&id);
            self.pending_smeta
                .insert(super::groups::delayed_key(sid, id), None);
        }
        self.mark_dirty(db, key);
    }
}

/// Most entries one retention pass deletes from one stream (whole nodes, as `XTRIM … ~`).
pub const RETAIN_DELETE_PER_STREAM: u64 = 10_000;

/// What one retention pass did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct RetainRun {
    pub streams: usize,
    pub deleted: u64,
}

impl Store {
    /// `XQ.RETENTION`: sets (or with `None` removes) the stream's retention policy. False if
    /// there is no such stream.
    pub fn set_retention(
        &mut self,
        db: usize,
        key: &[u8],
        policy: Option<crate::stream::group::Retention>,
    ) -> bool {
        let Some(Value::Stream(meta)) = self.dirs[db].get_mut(key).map(|e| &mut e.value) else {
            return false;
        };
        meta.groups.retention = policy;
        let k = super::groups::retention_key(meta.sid);
        self.pending_smeta
            .insert(k, policy.map(|p| p.encode().to_vec()));
        if policy.is_some() {
            self.queue_schedule
                .retained
                .insert((db, Bytes::copy_from_slice(key)));
        }
        self.mark_dirty(db, key);
        true
    }

    /// The retention pass: visits up to `streams` streams with a policy (round robin) and
    /// deletes from each the whole nodes below what every group has acknowledged (ACKED) or
    /// older than MAXAGE, at most [`RETAIN_DELETE_PER_STREAM`] entries each: the work is
    /// proportional to what it deletes (plus one look at each group's PEL head).
    pub fn retain_pass(&mut self, now_ms: u64, streams: usize) -> Result<RetainRun> {
        use crate::stream::layout::Trim;
        let mut run = RetainRun::default();
        let mut visit = Vec::new();
        {
            let set = &self.queue_schedule.retained;
            let after: Box<dyn Iterator<Item = &(usize, Bytes)>> =
                match &self.queue_schedule.retain_cursor {
                    Some(c) => Box::new(
                        set.range((
                            std::ops::Bound::Excluded(c.clone()),
                            std::ops::Bound::Unbounded,
                        ))
                        .chain(set.range(..=c.clone())),
                    ),
                    None => Box::new(set.iter()),
                };
            visit.extend(after.take(streams).cloned());
        }
        for (db, key) in visit {
            self.queue_schedule.retain_cursor = Some((db, key.clone()));
            run.streams += 1;
            let Some(Value::Stream(meta)) = self
                .dirs
                .get(db)
                .and_then(|d| d.get(&key))
                .map(|e| &e.value)
            else {
                self.queue_schedule.retained.remove(&(db, key));
                continue;
            };
            let Some(policy) = meta.groups.retention else {
                self.queue_schedule.retained.remove(&(db, key));
                continue;
            };
            let mut below = StreamId::MIN;
            if policy.acked {
                if let Some(w) = meta.groups.consumed_below() {
                    below = below.max(w);
                }
            }
            if policy.max_age_ms > 0 {
                below = below.max(StreamId::new(now_ms.saturating_sub(policy.max_age_ms), 0));
            }
            if meta.is_empty() || below <= meta.first_id {
                continue;
            }
            let spec = crate::TrimSpec {
                strategy: Trim::MinId(below),
                approx: true,
                limit: RETAIN_DELETE_PER_STREAM,
            };
            run.deleted += self.stream_trim(db, &key, spec, None, now_ms)?;
        }
        Ok(run)
    }
}
