//! The records of the job store and their encodings (see the layout in `jobs/mod.rs`).

use bytes::Bytes;

use super::id::JobId;

/// Where a job is (Disque's `active` and `queued`; `wait-repl` does not outlive ADDJOB on a
/// cluster of one, and an acknowledged job is deleted at once, so neither is ever stored).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JobState {
    /// Known, not queued: delivered and not acknowledged yet, or waiting for its DELAY.
    Active,
    /// In its queue.
    Queued,
}

impl JobState {
    pub fn name(self) -> &'static str {
        match self {
            JobState::Active => "active",
            JobState::Queued => "queued",
        }
    }
}

/// The job was delivered at least once (GETJOB): an at-most-once job is never queued again.
pub const FLAG_DELIVERED: u8 = 1;
/// The job was queued at least once: later queuings count as additional deliveries (Disque's
/// `JOB_FLAG_BCAST_QUEUED`).
pub const FLAG_QUEUED_ONCE: u8 = 2;

/// Everything about a job but its body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Job {
    pub state: JobState,
    pub flags: u8,
    /// Replication factor (always 1 on a cluster of one; kept for SHOW).
    pub repl: u16,
    /// Creation time, ms × 1,000,000 plus a counter for jobs created in the same ms; the
    /// order of the queue.
    pub ctime: u64,
    /// Expiry, Unix seconds.
    pub etime: u64,
    /// Seconds.
    pub delay: u32,
    /// Seconds; 0 = at-most-once.
    pub retry: u32,
    pub nacks: u32,
    /// Disque's `additional-deliveries`.
    pub deliveries: u32,
    /// When the job is queued again if not acknowledged, Unix ms; 0 = never. For a queued job,
    /// the time set when it was queued (see [`Job::requeue_at`]).
    pub qtime: u64,
    /// When the timers must look at the job next, Unix ms (the key of its timer record);
    /// derived by [`Job::next_awake`], never 0 for a stored job.
    pub awake: u64,
    /// Delivery limit (a Sluice extension): after this many deliveries the job moves to
    /// `dead_letter` instead of being queued again; 0 = none.
    pub max_deliveries: u32,
    /// The queue a job that reached its delivery limit moves to (empty: none).
    pub dead_letter: Bytes,
    pub queue: Bytes,
    /// The body, if it is stored in this record (bodies of at most [`INLINE_BODY_MAX`]
    /// bytes); `None`: in its own record (`0x11 ‖ id`).
    pub body: Option<Bytes>,
}

/// Bodies up to this size are stored in the job's record (one record to write, read and
/// delete instead of two; every change of the job rewrites them with it), larger ones in a
/// record of their own, written once.
pub const INLINE_BODY_MAX: usize = 256;

/// Job records before bodies were inlined: the queue name runs to the end of the record.
const VERSION_1: u8 = 1;
/// Job records since: the queue name has a length, then a byte says whether the body follows.
const VERSION: u8 = 2;
/// Queue records.
const QUEUE_VERSION: u8 = 1;
const FIXED: usize = 1 + 1 + 1 + 2 + 8 + 8 + 4 + 4 + 4 + 4 + 8 + 8 + 4 + 2;

impl Job {
    /// When the job must be looked at next: its expiry (a second after `etime`, as Disque
    /// schedules it, so the check finds it expired), or its requeue time if that comes first
    /// and the job is active. A queued job's `qtime` needs no timer: Disque only pushes it
    /// forward while the job waits, which [`Job::requeue_at`] computes when it is fetched.
    pub fn next_awake(&self) -> u64 {
        let expire = self.etime.saturating_mul(1000).saturating_add(1000);
        if self.state == JobState::Active && self.qtime != 0 {
            expire.min(self.qtime)
        } else {
            expire
        }
    }

    /// The requeue time as Disque would have it at `now_ms`: while a job is queued, each time
    /// its `qtime` passes it is pushed forward by RETRY.
    pub fn requeue_at(&self, now_ms: u64) -> u64 {
        if self.qtime == 0 || self.qtime > now_ms || self.retry == 0 {
            return self.qtime;
        }
        let period = u64::from(self.retry) * 1000;
        let periods = (now_ms - self.qtime) / period + 1;
        self.qtime.saturating_add(periods.saturating_mul(period))
    }

    /// Deliveries so far, as the delivery limit counts them: the first delivery plus NACKs and
    /// additional deliveries.
    pub fn delivery_count(&self) -> u64 {
        u64::from(self.flags & FLAG_DELIVERED != 0)
            + u64::from(self.nacks)
            + u64::from(self.deliveries)
    }

    pub fn encode(&self) -> Vec<u8> {
        let body = self.body.as_ref().map_or(0, |b| b.len());
        let mut v =
            Vec::with_capacity(FIXED + self.dead_letter.len() + 3 + self.queue.len() + body);
        v.push(VERSION);
        v.push(match self.state {
            JobState::Active => 1,
            JobState::Queued => 2,
        });
        v.push(self.flags);
        v.extend_from_slice(&self.repl.to_be_bytes());
        v.extend_from_slice(&self.ctime.to_be_bytes());
        v.extend_from_slice(&self.etime.to_be_bytes());
        v.extend_from_slice(&self.delay.to_be_bytes());
        v.extend_from_slice(&self.retry.to_be_bytes());
        v.extend_from_slice(&self.nacks.to_be_bytes());
        v.extend_from_slice(&self.deliveries.to_be_bytes());
        v.extend_from_slice(&self.qtime.to_be_bytes());
        v.extend_from_slice(&self.awake.to_be_bytes());
        v.extend_from_slice(&self.max_deliveries.to_be_bytes());
        // Names are at most `MAX_QUEUE_NAME` bytes (checked by the callers).
        v.extend_from_slice(&(self.dead_letter.len() as u16).to_be_bytes());
        v.extend_from_slice(&self.dead_letter);
        v.extend_from_slice(&(self.queue.len() as u16).to_be_bytes());
        v.extend_from_slice(&self.queue);
        match &self.body {
            None => v.push(0),
            Some(b) => {
                v.push(1);
                v.extend_from_slice(b);
            }
        }
        v
    }

    /// Decodes versions 1 (written before bodies were inlined) and 2.
    pub fn decode(b: &[u8]) -> Option<Job> {
        if b.len() < FIXED || (b[0] != VERSION && b[0] != VERSION_1) {
            return None;
        }
        let version = b[0];
        let mut r = Reader(&b[1..]);
        let state = match r.u8()? {
            1 => JobState::Active,
            2 => JobState::Queued,
            _ => return None,
        };
        let flags = r.u8()?;
        let repl = r.u16()?;
        let ctime = r.u64()?;
        let etime = r.u64()?;
        let delay = r.u32()?;
        let retry = r.u32()?;
        let nacks = r.u32()?;
        let deliveries = r.u32()?;
        let qtime = r.u64()?;
        let awake = r.u64()?;
        let max_deliveries = r.u32()?;
        // The names and the body are slices of one copy of the record's tail: one allocation
        // per record instead of one per field, and clones of them share it.
        let at = |r: &Reader| b.len() - r.0.len();
        let dl_len = usize::from(r.u16()?);
        let dl = at(&r)..at(&r) + dl_len;
        r.take(dl_len)?;
        let (queue, body) = if version == VERSION_1 {
            (at(&r)..b.len(), None)
        } else {
            let q_len = usize::from(r.u16()?);
            let queue = at(&r)..at(&r) + q_len;
            r.take(q_len)?;
            let body = match r.u8()? {
                0 if r.0.is_empty() => None,
                1 => Some(at(&r)..b.len()),
                _ => return None,
            };
            (queue, body)
        };
        let tail = Bytes::copy_from_slice(&b[dl.start..]);
        let field = |f: std::ops::Range<usize>| {
            if f.is_empty() {
                Bytes::new()
            } else {
                tail.slice(f.start - dl.start..f.end - dl.start)
            }
        };
        let (dead_letter, queue, body) = (field(dl.clone()), field(queue), body.map(field));
        Some(Job {
            state,
            flags,
            repl,
            ctime,
            etime,
            delay,
            retry,
            nacks,
            deliveries,
            qtime,
            awake,
            max_deliveries,
            dead_letter,
            queue,
            body,
        })
    }
}

/// A queue: its length, pause state and counters. The jobs are in the queue index.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Queue {
    /// In memory only: the queue's head, the first `head.len()` entries of its queue index
    /// (ctime, job ID) in order, at most `HEAD_MAX` (see `jobs/head.rs`).
    pub(super) head: std::collections::VecDeque<(u64, JobId)>,
    /// Jobs queued.
    pub len: u64,
    /// [`PAUSED_IN`] | [`PAUSED_OUT`].
    pub paused: u8,
    pub jobs_in: u64,
    pub jobs_out: u64,
    /// Created, Unix seconds.
    pub ctime: u64,
    /// Last queued to or fetched from, Unix seconds.
    pub atime: u64,
    /// In memory only: no queued job of this queue has a ctime below this one, so a scan for
    /// the head starts here and not over the tombstones of the jobs fetched before.
    pub(super) scan_from: u64,
}

pub const PAUSED_IN: u8 = 1;
pub const PAUSED_OUT: u8 = 2;

impl Queue {
    pub fn pause_name(&self) -> &'static str {
        pause_name(self.paused)
    }

    pub(super) fn encode(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(42);
        v.push(QUEUE_VERSION);
        v.extend_from_slice(&self.len.to_be_bytes());
        v.push(self.paused);
        v.extend_from_slice(&self.jobs_in.to_be_bytes());
        v.extend_from_slice(&self.jobs_out.to_be_bytes());
        v.extend_from_slice(&self.ctime.to_be_bytes());
        v.extend_from_slice(&self.atime.to_be_bytes());
        v
    }

    pub(super) fn decode(b: &[u8]) -> Option<Queue> {
        if b.first() != Some(&QUEUE_VERSION) {
            return None;
        }
        let mut r = Reader(&b[1..]);
        let q = Queue {
            len: r.u64()?,
            paused: r.u8()?,
            jobs_in: r.u64()?,
            jobs_out: r.u64()?,
            ctime: r.u64()?,
            atime: r.u64()?,
            scan_from: 0,
            head: Default::default(),
        };
        r.0.is_empty().then_some(q)
    }
}

/// `none`, `in`, `out` or `all`.
pub fn pause_name(paused: u8) -> &'static str {
    match paused & (PAUSED_IN | PAUSED_OUT) {
        PAUSED_IN => "in",
        PAUSED_OUT => "out",
        3 => "all",
        _ => "none",
    }
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Some(a)
    }
    fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }
    fn u16(&mut self) -> Option<u16> {
        self.take(2)
            .and_then(|b| b.try_into().ok())
            .map(u16::from_be_bytes)
    }
    fn u32(&mut self) -> Option<u32> {
        self.take(4)
            .and_then(|b| b.try_into().ok())
            .map(u32::from_be_bytes)
    }
    fn u64(&mut self) -> Option<u64> {
        self.take(8)
            .and_then(|b| b.try_into().ok())
            .map(u64::from_be_bytes)
    }
}

/// A queue-index key: `TAG ‖ name length u16 ‖ name ‖ ctime u64 ‖ job ID`.
pub(super) fn queued_key(tag: u8, queue: &[u8], ctime: u64, id: &JobId) -> Vec<u8> {
    let mut k = queue_prefix(tag, queue);
    k.extend_from_slice(&ctime.to_be_bytes());
    k.extend_from_slice(&id.0);
    k
}

/// The prefix of every queue-index key of `queue`.
pub(super) fn queue_prefix(tag: u8, queue: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(3 + queue.len() + 28);
    k.push(tag);
    k.extend_from_slice(&(queue.len() as u16).to_be_bytes());
    k.extend_from_slice(queue);
    k
}

/// The ctime and job ID at the end of a queue-index key.
pub(super) fn parse_queued_key(k: &[u8]) -> Option<(u64, JobId)> {
    let n = k.len();
    if n < 3 + 28 {
        return None;
    }
    let ctime = u64::from_be_bytes(k[n - 28..n - 20].try_into().ok()?);
    let id = JobId(k[n - 20..].try_into().ok()?);
    Some((ctime, id))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job() -> Job {
        Job {
            state: JobState::Queued,
            flags: FLAG_QUEUED_ONCE,
            repl: 1,
            ctime: 1_700_000_000_000_000_001,
            etime: 1_700_086_400,
            delay: 0,
            retry: 300,
            nacks: 2,
            deliveries: 3,
            qtime: 1_700_000_300_000,
            awake: 1_700_086_401_000,
            max_deliveries: 5,
            dead_letter: Bytes::from_static(b"dead"),
            queue: Bytes::from_static(b"q\x00with-bytes"),
            body: None,
        }
    }

    #[test]
    fn job_and_queue_records_round_trip() {
        let j = job();
        assert_eq!(Job::decode(&j.encode()), Some(j.clone()));
        let enc = j.encode();
        for cut in 0..enc.len() {
            assert!(Job::decode(&enc[..cut]).is_none(), "cut {cut}");
        }
        let mut inline = job();
        for body in [&b""[..], b"body \x00 bytes"] {
            inline.body = Some(Bytes::copy_from_slice(body));
            assert_eq!(Job::decode(&inline.encode()), Some(inline.clone()));
            // The fields are slices of one buffer: empty ones next to others too.
            inline.dead_letter = Bytes::new();
            assert_eq!(Job::decode(&inline.encode()), Some(inline.clone()));
            inline.dead_letter = Bytes::from_static(b"dead");
        }
        // Version 1 (the queue name runs to the end, the body is in its own record).
        let mut v1 = enc[..FIXED + 4].to_vec();
        v1[0] = VERSION_1;
        v1.extend_from_slice(&j.queue);
        assert_eq!(Job::decode(&v1), Some(j.clone()));
        let q = Queue {
            len: 3,
            paused: PAUSED_OUT,
            jobs_in: 10,
            jobs_out: 7,
            ctime: 5,
            atime: 6,
            scan_from: 0,
            head: Default::default(),
        };
        assert_eq!(Queue::decode(&q.encode()), Some(q.clone()));
        assert!(Queue::decode(&q.encode()[..20]).is_none());
    }

    #[test]
    fn requeue_time_moves_forward_by_retry_while_queued() {
        let mut j = job();
        j.retry = 3;
        j.qtime = 10_000;
        assert_eq!(j.requeue_at(9_000), 10_000);
        assert_eq!(j.requeue_at(10_000), 13_000);
        assert_eq!(j.requeue_at(12_999), 13_000);
        assert_eq!(j.requeue_at(13_000), 16_000);
        j.qtime = 0;
        assert_eq!(j.requeue_at(20_000), 0);
    }

    #[test]
    fn queue_keys_sort_by_queue_then_ctime() {
        let id = JobId([9; 20]);
        let a = queued_key(0x12, b"a", 5, &id);
        let b = queued_key(0x12, b"a", 6, &id);
        let c = queued_key(0x12, b"ab", 1, &id);
        assert!(a < b);
        assert!(!c.starts_with(&queue_prefix(0x12, b"a")));
        assert_eq!(parse_queued_key(&b), Some((6, id)));
    }
}
