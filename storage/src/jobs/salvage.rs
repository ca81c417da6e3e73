//! Salvage of the job store, for `sluice check` and `sluice repair` (driven by
//! `store/salvage.rs`, whose tolerant scan it uses).
//!
//! Owns the reading of the source's job-store records and the restoring of what was readable
//! into the target's job store. Only the *job records* (`0x10 ‖ id`, with their bodies), the
//! queue records (`0x14`, for each queue's pause state, counters and times) and the node ID
//! (`0x15node`) are carried; the queue index (`0x12`), the timer index (`0x13`), the queues'
//! lengths and the job count are rebuilt from the job records by [`Jobs::put`], the job
//! store's one write path, exactly as ADDJOB builds them. The source's index records are read
//! only to name what was lost: an index, timer or body record whose job record could not be
//! read names a lost job (and, for the queue index, its queue).
//!
//! The job log (`jobs/log.rs`) is replayed first, into [`LogView`]: the records it holds
//! (the changes committed since the last fold) shadow those of the keyspaces in every read
//! below, as they do in `Jobs`' reads. A log record that cannot be read or decoded is named in
//! [`Findings::damage`]: the changes it alone held are lost (its jobs come back as an earlier
//! record or the keyspaces have them, or not at all).
//!
//! Every job keeps its state, times and counters: a queued job is queued again in the same
//! order (the queue index sorts by ctime, then ID, both kept), an active job keeps its requeue
//! time (`qtime`, so its RETRY timer resumes where it was), a delayed job the end of its DELAY,
//! and every job its expiry, NACK and additional-delivery counters and flags. The node ID is
//! kept, so the job IDs clients hold still name the same jobs.
//!
//! Invariants: the source is only read; the target is written only through the `restore_*`
//! methods below, which stage like every other job change and keep the module invariants of
//! `jobs/mod.rs`; a job whose record or body could not be read or decoded is named in
//! [`Findings::damage`] and not restored (never half a job). Memory: a small record per
//! readable job (to match the index records against), none of their bodies.

use std::collections::{BTreeMap, BTreeSet, HashMap as StdHashMap};

use bytes::Bytes;
use fjall::Keyspace;

use super::*;
use crate::check::show_bytes;
use crate::store::salvage::{scan, successor, Counts, Findings, COMMIT_EVERY};
use crate::store::{Store, Sync};

/// Lost jobs named one per line; the rest are counted in one more line.
const LOST_LINES: usize = 100;

impl Jobs {
    /// Salvage: this store continues as node `node` (a 40-character hex ID), so restored jobs
    /// keep their IDs.
    pub(crate) fn restore_node(&mut self, node: &str) {
        debug_assert!(valid_node(node.as_bytes()));
        self.node = node.to_string();
        self.prefix.copy_from_slice(&node.as_bytes()[..8]);
        self.stage_put(NODE_KEY, node.as_bytes().to_vec(), false);
    }

    /// Salvage: queue `name`'s pause state, counters and times as `q` has them; its length
    /// counts the jobs restored into it.
    pub(crate) fn restore_queue(&mut self, name: &Bytes, q: &Queue, now_ms: u64) {
        let e = self.queue_entry(name, now_ms);
        e.paused = q.paused;
        e.jobs_in = q.jobs_in;
        e.jobs_out = q.jobs_out;
        e.ctime = q.ctime;
        e.atime = q.atime;
    }

    /// Salvage: job `id` (not stored yet) as `job` describes it, with `body`: its record, body
    /// record (bodies over [`INLINE_BODY_MAX`]), timer and queue-index records, queue length and
    /// the job count, all through [`Jobs::put`].
    pub(crate) fn restore_job(&mut self, id: &JobId, mut job: Job, body: Bytes, now_ms: u64) {
        if body.len() <= INLINE_BODY_MAX {
            job.body = Some(body);
        } else {
            job.body = None;
            self.stage_put(&job_key(TAG_BODY, id), body.to_vec(), true);
        }
        self.put(id, None, Some(job), now_ms);
    }
}

fn valid_node(v: &[u8]) -> bool {
    v.len() == 40 && v.iter().all(u8::is_ascii_hexdigit)
}

/// What is known of a readable job, to match the index records against.
struct Seen {
    awake: u64,
    /// Its ctime if it is queued.
    queued: Option<u64>,
    has_timer: bool,
    indexed: bool,
}

/// A job that could not be restored.
struct Lost {
    queue: Option<Bytes>,
    why: String,
}

const RECORD_UNREADABLE: &str = "its record could not be read";

/// Where job records are: the `jobs` keyspace, and `keys` in directories from before it
/// (same keys; `Jobs::load` moves them at the first open, a salvage reads them where they are).
pub(crate) struct Source<'a> {
    pub ks: &'a Keyspace,
    pub name: &'static str,
}

/// The job log of the source replayed (`jobs/log.rs`): each key it names with its state after
/// the last commit (`None`: removed), over the keyspaces.
#[derive(Default)]
struct LogView {
    map: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
}

impl LogView {
    /// Replays the log records of `sources`, naming in `out` those that could not be read.
    fn read(sources: &[Source<'_>], out: &mut Findings) -> LogView {
        let mut view = LogView::default();
        let mut undecoded = Vec::new();
        for src in sources {
            let gaps = scan(src.ks, &[log::TAG_LOG], &[log::TAG_LOG + 1], |k, v| {
                let seq = log::seq_of(k);
                let Some(ops) = log::decode(&v) else {
                    undecoded.push(seq.map_or_else(|| show_bytes(k), |s| s.to_string()));
                    return;
                };
                for (key, op) in ops {
                    match op {
                        log::Op::New(v) | log::Op::Put(v) => {
                            view.map.insert(key.to_vec(), Some(v.to_vec()));
                        }
                        log::Op::Del => {
                            view.map.insert(key.to_vec(), None);
                        }
                        log::Op::Cancel => {
                            view.map.remove(key);
                        }
                    }
                }
            });
            for g in gaps {
                out.damage.push(format!(
                    "job log records {} (keyspace `{}`) could not be read ({}): the job changes \
                     committed since the last fold that only they held are lost",
                    gap_range(
                        g.after.as_deref(),
                        g.resumed.as_deref(),
                        b"????????",
                        "log record"
                    ),
                    src.name,
                    g.error
                ));
            }
        }
        if !undecoded.is_empty() {
            out.damage.push(format!(
                "job log records {} do not decode: the job changes committed since the last fold \
                 that only they held are lost",
                undecoded.join(", ")
            ));
        }
        view
    }

    /// `scan` of `src` over `[start, end)` with the log's records shadowing the keyspace's, in
    /// the keyspace where `Spaces::of` puts that kind of record (older directories' sources
    /// have no log).
    fn scan(
        &self,
        src: &Source<'_>,
        start: &[u8],
        end: &[u8],
        mut visit: impl FnMut(&[u8], fjall::Slice),
    ) -> Vec<crate::store::salvage::Gap> {
        let owner = spaces::Spaces::name_of(start) == src.name;
        let gaps = scan(src.ks, start, end, |k, v| {
            if !(owner && self.map.contains_key(k)) {
                visit(k, v);
            }
        });
        if owner {
            for (k, v) in self.map.range(start.to_vec()..end.to_vec()) {
                if let Some(v) = v {
                    visit(k, fjall::Slice::from(v));
                }
            }
        }
        gaps
    }
}

/// The body record of job `id`, from the log, else the first source that has one (the
/// `job_bodies` keyspace; `jobs` or `keys` in older directories); an error only if none has it
/// and one could not be read.
fn body_in(
    log: &LogView,
    sources: &[Source<'_>],
    id: &JobId,
) -> fjall::Result<Option<fjall::Slice>> {
    if let Some(v) = log.map.get(&job_key(TAG_BODY, id)[..]) {
        return Ok(v.as_ref().map(fjall::Slice::from));
    }
    let mut err = None;
    for src in sources {
        match src.ks.get(job_key(TAG_BODY, id)) {
            Ok(Some(b)) => return Ok(Some(b)),
            Ok(None) => {}
            Err(e) => err = Some(e),
        }
    }
    err.map_or(Ok(None), Err)
}

/// The ID of a job key (`tag ‖ id`); `None` if the key is malformed.
fn id_of(k: &[u8]) -> Option<JobId> {
    if k.len() != 21 {
        return None;
    }
    k.get(1..21)
        .and_then(|b| <[u8; 20]>::try_from(b).ok())
        .map(JobId)
}

/// The queue name of a queue-index key (`0x12 ‖ len u16 ‖ name ‖ ctime ‖ id`).
fn queue_of_index_key(k: &[u8]) -> Option<&[u8]> {
    let len = usize::from(u16::from_be_bytes(k.get(1..3)?.try_into().ok()?));
    (k.len() == 3 + len + 28).then(|| &k[3..3 + len])
}

/// How a report names a job: its 40-character ID with the node's prefix.
fn show_id(id: &JobId, prefix: &[u8; 8]) -> String {
    String::from_utf8_lossy(&id.format(prefix)).into_owned()
}

/// How a report names a key of the job store (a gap's end, found by bisection, may be any
/// prefix of a real key).
fn describe(k: &[u8], prefix: &[u8; 8]) -> String {
    let padded_id = || {
        let mut b = [0u8; 20];
        let tail = k.get(1..).unwrap_or_default();
        let n = tail.len().min(20);
        b[..n].copy_from_slice(&tail[..n]);
        JobId(b)
    };
    match k.first() {
        Some(&TAG_JOB) => format!("job {}", show_id(&padded_id(), prefix)),
        Some(&TAG_BODY) => format!("the body of job {}", show_id(&padded_id(), prefix)),
        Some(&TAG_QUEUED) => match queue_of_index_key(k) {
            Some(q) => format!("queue {}", show_bytes(q)),
            None => show_bytes(k),
        },
        Some(&TAG_TIMER) => match k.get(1..9).and_then(|b| b.try_into().ok()) {
            Some(b) => format!("the timer due at {} ms", u64::from_be_bytes(b)),
            None => show_bytes(k),
        },
        Some(&TAG_QUEUE) => format!("queue {}", show_bytes(&k[1..])),
        _ => show_bytes(k),
    }
}

fn gap_range(after: Option<&[u8]>, resumed: Option<&[u8]>, prefix: &[u8; 8], what: &str) -> String {
    format!(
        "from {} to {}",
        after.map_or(format!("the first {what}"), |k| describe(k, prefix)),
        resumed.map_or(format!("the last {what}"), |k| describe(k, prefix)),
    )
}

/// Reads the job store of the source (`sources`: the job store's keyspaces first, then where
/// older directories kept job records) and, with `dst`, restores every readable job there. Reports
/// what was lost in `out` and counts jobs and queues in `counts`. `Err` only when the target
/// fails.
pub(crate) fn salvage(
    sources: &[Source<'_>],
    mut dst: Option<&mut Store>,
    out: &mut Findings,
    counts: &mut Counts,
    now_ms: u64,
) -> crate::store::Result<()> {
    // The job log, over the keyspaces in every read below.
    let logged = LogView::read(sources, out);

    // The node ID.
    let mut node: Option<String> = None;
    let mut node_trouble = Vec::new();
    for src in sources {
        let gaps = logged.scan(src, NODE_KEY, &successor(NODE_KEY), |_, v| {
            if node.is_some() {
                return;
            }
            if valid_node(&v) {
                node = Some(String::from_utf8_lossy(&v).into_owned());
            } else {
                node_trouble.push(format!(
                    "the job store's node ID record (keyspace `{}`) holds {}, not a node ID",
                    src.name,
                    show_bytes(&v)
                ));
            }
        });
        for g in gaps {
            node_trouble.push(format!(
                "the job store's node ID record (keyspace `{}`) could not be read ({})",
                src.name, g.error
            ));
        }
    }
    let prefix: [u8; 8] = match &node {
        Some(n) => {
            if let Some(d) = dst.as_deref_mut() {
                d.jobs().restore_node(n);
            }
            let mut p = [0u8; 8];
            p.copy_from_slice(&n.as_bytes()[..8]);
            p
        }
        None => *b"????????",
    };

    // Queue records: pause states, counters, times.
    let mut queues: BTreeMap<Bytes, Queue> = BTreeMap::new();
    for src in sources {
        let gaps = logged.scan(src, &[TAG_QUEUE], &[TAG_QUEUE + 1], |k, v| {
            let name = Bytes::copy_from_slice(&k[1..]);
            if queues.contains_key(&name) {
                return;
            }
            match Queue::decode(&v) {
                Some(q) => {
                    queues.insert(name, q);
                }
                None => out.damage.push(format!(
                    "the record of job queue {} does not decode: its pause state and counters \
                     are lost (its readable jobs are restored into it, unpaused)",
                    show_bytes(&name)
                )),
            }
        });
        for g in gaps {
            out.damage.push(format!(
                "job queue records {} could not be read ({}): those queues' pause states and \
                 counters are lost (their readable jobs are restored, unpaused)",
                gap_range(g.after.as_deref(), g.resumed.as_deref(), &prefix, "queue"),
                g.error
            ));
        }
    }
    if let Some(d) = dst.as_deref_mut() {
        for (name, q) in &queues {
            d.jobs().restore_queue(name, q, now_ms);
        }
    }

    // The job count, to say how many jobs nothing names were lost.
    let mut recorded: Option<u64> = None;
    for src in sources {
        let gaps = logged.scan(src, COUNT_KEY, &successor(COUNT_KEY), |_, v| {
            if let Ok(b) = <[u8; 8]>::try_from(v.as_ref()) {
                recorded.get_or_insert(u64::from_be_bytes(b));
            }
        });
        for g in gaps {
            out.warnings.push(format!(
                "the job count record (keyspace `{}`) could not be read ({}): jobs lost with \
                 no other record naming them cannot be counted",
                src.name, g.error
            ));
        }
    }

    // Job records, with their bodies.
    let mut seen: StdHashMap<JobId, Seen> = StdHashMap::new();
    let mut lost: BTreeMap<JobId, Lost> = BTreeMap::new();
    let mut queued_in: StdHashMap<Bytes, u64> = StdHashMap::new();
    let mut staged = 0u64;
    let mut write_error = None;
    for src in sources {
        let gaps = logged.scan(src, &[TAG_JOB], &[TAG_JOB + 1], |k, v| {
            if write_error.is_some() {
                return;
            }
            let Some(id) = id_of(k) else {
                out.damage.push(format!(
                    "a job record with a malformed key {} (keyspace `{}`)",
                    show_bytes(k),
                    src.name
                ));
                return;
            };
            if seen.contains_key(&id) {
                return; // also in a later source (a move interrupted by a crash): equal
            }
            let Some(mut job) = Job::decode(&v) else {
                lost.insert(
                    id,
                    Lost {
                        queue: None,
                        why: "its record does not decode".into(),
                    },
                );
                return;
            };
            if job.queue.len() > MAX_QUEUE_NAME || job.dead_letter.len() > MAX_QUEUE_NAME {
                // Its queue-index key would be longer than fjall takes.
                lost.insert(
                    id,
                    Lost {
                        queue: None,
                        why: format!("its record names a queue longer than {MAX_QUEUE_NAME} bytes"),
                    },
                );
                return;
            }
            let body = match job.body.take() {
                Some(b) => b,
                None => match body_in(&logged, sources, &id) {
                    Ok(Some(b)) => Bytes::copy_from_slice(&b),
                    Ok(None) => {
                        lost.insert(
                            id,
                            Lost {
                                queue: Some(job.queue.clone()),
                                why: "its body record is missing".into(),
                            },
                        );
                        return;
                    }
                    Err(e) => {
                        lost.insert(
                            id,
                            Lost {
                                queue: Some(job.queue.clone()),
                                why: format!("its body could not be read ({e})"),
                            },
                        );
                        return;
                    }
                },
            };
            lost.remove(&id);
            let queued = (job.state == JobState::Queued).then_some(job.ctime);
            if queued.is_some() {
                *queued_in.entry(job.queue.clone()).or_default() += 1;
            }
            seen.insert(
                id,
                Seen {
                    awake: job.awake,
                    queued,
                    has_timer: false,
                    indexed: false,
                },
            );
            counts.jobs += 1;
            if let Some(d) = dst.as_deref_mut() {
                d.jobs().restore_job(&id, job, body, now_ms);
                staged += 1;
                if staged.is_multiple_of(COMMIT_EVERY) {
                    if let Err(e) = d.commit().and_then(|()| d.persist(Sync::Os)) {
                        write_error = Some(e);
                    }
                }
            }
        });
        for g in gaps {
            out.damage.push(format!(
                "job records {} (keyspace `{}`) could not be read ({}): those jobs are lost \
                 (named below where another record names them)",
                gap_range(g.after.as_deref(), g.resumed.as_deref(), &prefix, "job"),
                src.name,
                g.error
            ));
        }
    }
    if let Some(e) = write_error {
        return Err(e);
    }

    // The index records: matched against the jobs read, they name the jobs lost.
    let mut stale = 0u64;
    let mut index_gaps = Vec::new();
    for src in sources {
        let gaps = logged.scan(src, &[TAG_QUEUED], &[TAG_QUEUED + 1], |k, _| {
            let (Some(queue), Some((ctime, id))) = (queue_of_index_key(k), parse_queued_key(k))
            else {
                stale += 1;
                return;
            };
            match seen.get_mut(&id) {
                Some(s) if s.queued == Some(ctime) => s.indexed = true,
                Some(_) => stale += 1,
                None => {
                    let l = lost.entry(id).or_insert_with(|| Lost {
                        queue: None,
                        why: RECORD_UNREADABLE.into(),
                    });
                    l.queue.get_or_insert_with(|| Bytes::copy_from_slice(queue));
                }
            }
        });
        index_gaps.extend(gaps.into_iter().map(|g| (src.name, "queue-index", g)));
        let gaps = logged.scan(src, &[TAG_TIMER], &[TAG_TIMER + 1], |k, _| {
            let due = k
                .get(1..9)
                .and_then(|b| b.try_into().ok())
                .map(u64::from_be_bytes);
            let id = k
                .get(9..29)
                .filter(|_| k.len() == 29)
                .and_then(|b| <[u8; 20]>::try_from(b).ok())
                .map(JobId);
            let (Some(due), Some(id)) = (due, id) else {
                stale += 1;
                return;
            };
            match seen.get_mut(&id) {
                Some(s) if s.awake == due => s.has_timer = true,
                Some(_) => stale += 1,
                None => {
                    lost.entry(id).or_insert_with(|| Lost {
                        queue: None,
                        why: RECORD_UNREADABLE.into(),
                    });
                }
            }
        });
        index_gaps.extend(gaps.into_iter().map(|g| (src.name, "timer", g)));
        let gaps = logged.scan(src, &[TAG_BODY], &[TAG_BODY + 1], |k, _| match id_of(k) {
            Some(id) if !seen.contains_key(&id) => {
                lost.entry(id).or_insert_with(|| Lost {
                    queue: None,
                    why: RECORD_UNREADABLE.into(),
                });
            }
            Some(_) => {}
            None => stale += 1,
        });
        index_gaps.extend(gaps.into_iter().map(|g| (src.name, "job body", g)));
    }
    for (ks, what, g) in index_gaps {
        out.warnings.push(format!(
            "{what} records {} (keyspace `{ks}`) could not be read ({}): the job store's indexes \
             are rebuilt from the job records by repair (jobs lost in that range may go unnamed)",
            gap_range(g.after.as_deref(), g.resumed.as_deref(), &prefix, "record"),
            g.error
        ));
    }
    let untimed = seen.values().filter(|s| !s.has_timer).count();
    let unindexed = seen
        .values()
        .filter(|s| s.queued.is_some() && !s.indexed)
        .count();
    if stale + untimed as u64 + unindexed as u64 > 0 {
        out.warnings.push(format!(
            "the job store's indexes disagree with its job records ({untimed} jobs without \
             their timer record, {unindexed} queued jobs without their queue-index record, \
             {stale} index records naming no such state): repair rebuilds them from the job \
             records"
        ));
    }

    // What was lost.
    counts.lost_jobs = lost.len() as u64;
    for (id, l) in lost.iter().take(LOST_LINES) {
        out.damage.push(format!(
            "job {} (queue {}): {}: the job is lost",
            show_id(id, &prefix),
            l.queue.as_deref().map_or("unknown".into(), show_bytes),
            l.why
        ));
    }
    if lost.len() > LOST_LINES {
        out.damage.push(format!(
            "{} more jobs could not be read and are lost",
            lost.len() - LOST_LINES
        ));
    }
    for (name, q) in &queues {
        let got = queued_in.get(name).copied().unwrap_or(0);
        if q.len > got {
            out.damage.push(format!(
                "job queue {}: {} of its {} queued jobs could not be read",
                show_bytes(name),
                q.len - got,
                q.len
            ));
        } else if q.len < got {
            out.warnings.push(format!(
                "job queue {}: its record counts {} queued jobs, {got} were read: repair \
                 counts them again",
                show_bytes(name),
                q.len
            ));
        }
    }
    if let Some(n) = recorded {
        let known = seen.len() as u64 + lost.len() as u64;
        if n > known {
            out.damage.push(format!(
                "the job store counted {n} jobs: {} were readable and {} are named above; {} \
                 more are lost with nothing left to name them",
                seen.len(),
                lost.len(),
                n - known
            ));
        } else if n < seen.len() as u64 {
            out.warnings.push(format!(
                "the job count record says {n} jobs, {} were read: repair counts them again",
                seen.len()
            ));
        }
    }
    if node.is_none() && (!seen.is_empty() || !lost.is_empty() || !node_trouble.is_empty()) {
        node_trouble.push(
            "the job store's node ID is lost: the repaired store gets a new one, so the IDs of \
             its jobs change (their characters 3 to 10)"
                .into(),
        );
    }
    if node.is_some() {
        // A readable node ID in one place outweighs a damaged copy in another.
        node_trouble.clear();
    }
    out.damage.extend(node_trouble);
    let names: BTreeSet<&Bytes> = queues.keys().chain(queued_in.keys()).collect();
    counts.job_queues = names.len() as u64;
    Ok(())
}
