//! The job-queue state of a consumer group (Sluice's `XQ.*` extension, see the README's
//! *Consumer groups as job queues*): its configuration (visibility timeout, delivery limit,
//! dead-letter stream), its counters, and two in-memory indexes over its PEL that drive
//! server-side redelivery.
//!
//! Durability: the configuration and the counters are one record per group (`store/groups.rs`,
//! tag `0x06`); every deadline is *derived* from durable PEL state — an entry's explicit due
//! time ([`super::group::Nack`]'s `due`, logged in the PEL log) or, without one, its last
//! delivery time plus the group's visibility timeout. Nothing about timers is written apart
//! from the PEL: after a restart [`QueueState::rebuild`] recomputes both indexes from the
//! loaded PEL, so every timer resumes where it was.
//!
//! Invariants (checked by `Group::check`): every pending entry with a deadline is in exactly
//! one of `timers` (its deadline not yet handled) and `ready` (handled: past its deadline and
//! below the delivery limit, so it waits for a `>` reader), keyed by `(deadline, id)`; no
//! entry without a deadline is in either; `scheduled` is the due time of this group's entry in
//! the store's [`QueueSchedule`], or `u64::MAX` for none.

use std::collections::BTreeSet;

use bytes::Bytes;

use super::entry::{get_varint, put_varint};
use super::StreamId;

/// A group's queue settings (`XQ.CONFIG`). All zero / `None`: a plain Redis group.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct QueueConfig {
    /// An entry delivered and not acknowledged within this many ms is delivered again to the
    /// group's `>` readers; 0: never (Redis's behaviour).
    pub visibility_ms: u64,
    /// After this many deliveries an entry whose deadline passes is moved to `dead_letter`;
    /// 0: no limit.
    pub max_deliver: u64,
    /// Where entries over the delivery limit go (a stream key in the same database).
    pub dead_letter: Option<Bytes>,
}

/// Per-group counters (since the group was created; persisted with the configuration).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct QueueStats {
    /// Entries delivered by `>` reads (first deliveries and redeliveries).
    pub deliveries: u64,
    /// Of those, redeliveries of entries whose deadline had passed.
    pub redeliveries: u64,
    /// Entries acknowledged by XACK.
    pub acks: u64,
    /// Entries moved to the dead-letter stream.
    pub dead_lettered: u64,
    /// Leases renewed by `XQ.RENEW`.
    pub renewals: u64,
    /// Entries given back by `XQ.NACK`.
    pub nacks: u64,
}

/// The queue side of a group. See the module docs.
#[derive(Clone, Debug)]
pub struct QueueState {
    pub(crate) config: QueueConfig,
    pub(crate) stats: QueueStats,
    /// Pending entries whose deadline has not been handled yet, by `(deadline, id)`.
    pub(crate) timers: BTreeSet<(u64, StreamId)>,
    /// Pending entries past their deadline and below the delivery limit: served to `>`
    /// readers before new entries, oldest deadline first.
    pub(crate) ready: BTreeSet<(u64, StreamId)>,
    /// The due time of this group's entry in the [`QueueSchedule`] (`u64::MAX`: none).
    pub(crate) scheduled: u64,
    /// The configuration or counters changed since the last commit.
    pub(crate) dirty: bool,
}

impl QueueState {
    pub(crate) fn new(config: QueueConfig) -> QueueState {
        QueueState {
            config,
            stats: QueueStats::default(),
            timers: BTreeSet::new(),
            ready: BTreeSet::new(),
            scheduled: u64::MAX,
            dirty: true,
        }
    }

    pub fn config(&self) -> &QueueConfig {
        &self.config
    }

    pub fn stats(&self) -> &QueueStats {
        &self.stats
    }

    /// Entries waiting for a `>` reader now (their deadline handled).
    pub fn ready_len(&self) -> usize {
        self.ready.len()
    }

    /// Entries with a deadline not handled yet (in flight, or delayed).
    pub fn timers_len(&self) -> usize {
        self.timers.len()
    }

    /// The earliest deadline not handled yet.
    pub fn next_due(&self) -> Option<u64> {
        self.timers.first().map(|(d, _)| *d)
    }

    /// Whether a `>` reader would find a redelivery at `now_ms` (a handled one, or a deadline
    /// passed but not handled yet).
    pub fn has_due(&self, now_ms: u64) -> bool {
        !self.ready.is_empty() || self.next_due().is_some_and(|d| d <= now_ms)
    }

    /// The deadline of an entry in this state: its explicit due time, else its last delivery
    /// plus the visibility timeout; `None` if it has none.
    pub(crate) fn deadline(&self, delivery_time: u64, due: u64) -> Option<u64> {
        if due != 0 {
            Some(due)
        } else if self.config.visibility_ms > 0 {
            Some(delivery_time.saturating_add(self.config.visibility_ms))
        } else {
            None
        }
    }

    /// The record: `version 1 ‖ varints (visibility, max_deliver, 6 counters) ‖ dead-letter
    /// key length varint (0: none, else length + 1) ‖ key`.
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(48);
        v.push(1);
        let c = &self.config;
        let s = &self.stats;
        for n in [
            c.visibility_ms,
            c.max_deliver,
            s.deliveries,
            s.redeliveries,
            s.acks,
            s.dead_lettered,
            s.renewals,
            s.nacks,
        ] {
            put_varint(&mut v, n);
        }
        match &c.dead_letter {
            None => put_varint(&mut v, 0),
            Some(k) => {
                put_varint(&mut v, k.len() as u64 + 1);
                v.extend_from_slice(k);
            }
        }
        v
    }

    /// Decodes [`QueueState::encode`] (indexes empty: see [`crate::stream::group::Group`]'s
    /// rebuild at load); `None` if malformed.
    pub(crate) fn decode(raw: &[u8]) -> Option<QueueState> {
        let (&version, mut r) = raw.split_first()?;
        if version != 1 {
            return None;
        }
        let mut n = [0u64; 8];
        for slot in &mut n {
            *slot = get_varint(&mut r)?;
        }
        let klen = get_varint(&mut r)?;
        let dead_letter = match klen {
            0 => None,
            l => {
                let l = usize::try_from(l - 1).ok()?;
                if r.len() != l {
                    return None;
                }
                Some(Bytes::copy_from_slice(r))
            }
        };
        if klen == 0 && !r.is_empty() {
            return None;
        }
        let mut q = QueueState::new(QueueConfig {
            visibility_ms: n[0],
            max_deliver: n[1],
            dead_letter,
        });
        q.stats = QueueStats {
            deliveries: n[2],
            redeliveries: n[3],
            acks: n[4],
            dead_lettered: n[5],
            renewals: n[6],
            nacks: n[7],
        };
        q.dirty = false;
        Some(q)
    }
}

/// The store-wide schedule of queue groups: `(due ms, db, stream key, group)` for each group
/// whose earliest unhandled deadline is `due`. The engine's periodic task pops what is due
/// (a bounded amount per tick) and handles those groups' deadlines. An item may be stale (the
/// stream renamed, deleted or recreated, the group destroyed, or an earlier deadline
/// scheduled since): it is dropped when popped, as the group's `scheduled` no longer names
/// it.
#[derive(Debug, Default)]
pub struct QueueSchedule {
    pub(crate) items: BTreeSet<(u64, usize, Bytes, Bytes)>,
    /// Streams with a retention policy (`XQ.RETENTION`), visited by the periodic pass (a
    /// stale one, renamed or deleted, is dropped when visited).
    pub(crate) retained: BTreeSet<(usize, Bytes)>,
    /// Where the last retention pass stopped (it visits a bounded number per tick).
    pub(crate) retain_cursor: Option<(usize, Bytes)>,
    /// `(due ms, db, stream key)`: a blocked XREADGROUP CLAIM reader of that stream may find
    /// a pending entry idle long enough then (`Store::schedule_claim_wake`). The periodic
    /// pass reports each as woken when due (a stale one only costs a check of the waiters).
    pub(crate) claim_wakes: BTreeSet<(u64, usize, Bytes)>,
}

impl QueueSchedule {
    /// Items scheduled (stale ones included).
    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Streams with a retention policy (stale ones included).
    pub fn retained(&self) -> usize {
        self.retained.len()
    }

    /// The earliest due time scheduled (queue deadlines and CLAIM wake-ups).
    pub fn next_due(&self) -> Option<u64> {
        let items = self.items.first().map(|i| i.0);
        let claims = self.claim_wakes.first().map(|i| i.0);
        match (items, claims) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// CLAIM wake-ups scheduled.
    pub fn claim_wakes(&self) -> usize {
        self.claim_wakes.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_round_trips_and_rejects_garbage() {
        let mut q = QueueState::new(QueueConfig {
            visibility_ms: 30_000,
            max_deliver: 5,
            dead_letter: Some(Bytes::from_static(b"dlq")),
        });
        q.stats.deliveries = 1 << 40;
        q.stats.nacks = 3;
        let raw = q.encode();
        let back = QueueState::decode(&raw).expect("decodes");
        assert_eq!(back.config, q.config);
        assert_eq!(back.stats, q.stats);
        for cut in 0..raw.len() {
            assert!(QueueState::decode(&raw[..cut]).is_none(), "cut at {cut}");
        }
        let mut longer = raw.clone();
        longer.push(b'x');
        assert!(QueueState::decode(&longer).is_none());
        let plain = QueueState::new(QueueConfig::default());
        assert_eq!(
            QueueState::decode(&plain.encode()).map(|q| q.config),
            Some(QueueConfig::default())
        );
    }

    #[test]
    fn deadlines() {
        let mut q = QueueState::new(QueueConfig::default());
        assert_eq!(q.deadline(100, 0), None);
        assert_eq!(q.deadline(100, 7), Some(7));
        q.config.visibility_ms = 50;
        assert_eq!(q.deadline(100, 0), Some(150));
        assert_eq!(q.deadline(u64::MAX, 0), Some(u64::MAX));
    }
}
