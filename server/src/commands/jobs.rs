//! Disque's job API (1.0-rc1) on the job store (`sluice_storage::jobs`): ADDJOB, GETJOB,
//! ACKJOB, FASTACK, NACK, ENQUEUE, DEQUEUE, WORKING, DELJOB, SHOW, QLEN, QPEEK, QSTAT, QSCAN,
//! JSCAN, PAUSE, Disque's HELLO, INFO's jobs and queues sections, and the job timers.
//!
//! Owns the protocol side of jobs: argument parsing with Disque's error texts, reply shapes
//! byte for byte as Disque's (status-string job IDs, `[queue, id, body]` jobs, flat key/value
//! arrays, `*-1` for nothing), blocking GETJOB, and the periodic timer work ([`jobs_cron`]).
//! The store owns the state and its invariants; this module never writes a record itself.
//!
//! A node is a cluster of one: REPLICATE 1 (the default) works, a larger factor gets
//! `-NOREPL`. Blocked GETJOB clients wait on their queue names in the engine's wait lists under
//! the reserved database index [`JOBS_DB`], so a queue never collides with a Redis key; every
//! command that queues a job signals its queue, and each woken client is served one job, in
//! arrival order (Disque's `handleClientsBlockedOnQueues`).
//!
//! Extensions (options a Disque client never sends): `NACK id … DELAY sec` (the job comes back
//! after the delay), `ADDJOB … MAXDELIVER n DEADLETTER queue` (after n deliveries the job moves
//! to that queue with its counters instead of being queued again), and `WAITJOB id …
//! [TIMEOUT ms]` (Disque issue #43: blocks until the jobs are gone). A WAITJOB client waits on
//! each of its jobs under the reserved database [`WAITJOB_DB`], keyed by the job's stored ID;
//! while any waits, the store records the jobs it removes (`Jobs::track_gone`), and
//! [`signal_gone`] wakes their waiters after every command and timer run, in the same engine
//! turn, so the reply leaves only with the drain that commits the removal.

use bytes::Bytes;
use sluice_storage::jobs::{self, Job, JobId, JobState, NewJob, Working};
use sluice_storage::{Store, StoreError};

use crate::args::{eq, strtoll};
use crate::engine::{BlockKind, BlockSpec, Ctx, Server, WakeIf};
use crate::reply::{CmdResult, ReplyError, SYNTAX};
use crate::table::{arg, cmd, tok, Command};

/// The database index under which blocked GETJOB clients wait for queues (no Redis database
/// has it).
pub const JOBS_DB: usize = usize::MAX;

/// The database index under which WAITJOB clients wait for jobs, keyed by the job's stored
/// 20-byte ID (no Redis database, and not [`JOBS_DB`]'s queues).
pub const WAITJOB_DB: usize = usize::MAX - 1;

/// Most job IDs one WAITJOB waits for.
pub const MAX_WAITJOB_IDS: usize = 10_000;

/// Most jobs one GETJOB or QPEEK returns (Disque has no bound): a reply never holds more.
pub const MAX_JOBS_PER_REPLY: usize = 10_000;

/// Most timers handled per cron tick (the rest on the next ticks, 10 per second at hz 10).
pub const TIMERS_PER_TICK: usize = 2_000;

/// Most time the timers take per cron tick (checked every [`TIMER_CHUNK`] timers), so a
/// million jobs due in the same second never stall other clients for more than this.
pub const TIMER_TIME_PER_TICK: std::time::Duration = std::time::Duration::from_millis(2);

/// Timers handled between two looks at the clock.
const TIMER_CHUNK: usize = 128;

/// Empty, unpaused queues without blocked clients are forgotten after this long (Disque's
/// `QUEUE_MAX_IDLE_TIME`).
pub const QUEUE_MAX_IDLE_S: u64 = 300;

const BADID: &str = "BADID Invalid Job ID format.";

fn storage_error(e: StoreError) -> ReplyError {
    tracing::error!(error = %e, "job store read failed");
    ReplyError::new(format!("ERR {e}"))
}

/// Disque's `parseScanCursorOrReply` (see [`crate::args::scan_cursor`]).
fn scan_cursor(b: &[u8]) -> Result<u64, ReplyError> {
    crate::args::scan_cursor(b).ok_or(ReplyError::from("ERR invalid cursor or option name"))
}

/// Disque's `getTimeoutFromObjectOrReply` in milliseconds.
fn timeout_ms(b: &[u8]) -> Result<u64, ReplyError> {
    let v = strtoll(b).ok_or(ReplyError::from(
        "ERR timeout is not an integer or out of range",
    ))?;
    if v < 0 {
        return Err("ERR timeout is negative".into());
    }
    Ok(v as u64)
}

fn long(b: &[u8]) -> Result<i64, ReplyError> {
    strtoll(b).ok_or(ReplyError::from(
        "ERR value is not an integer or out of range",
    ))
}

/// Validates every ID first (Disque answers -BADID and does nothing if one is malformed),
/// then gives the stored form of each (None: can't be a job of this node).
fn parse_ids(ctx: &mut Ctx<'_>, ids: &[Bytes]) -> Result<Vec<Option<JobId>>, ReplyError> {
    if !ids.iter().all(|i| jobs::is_valid(i)) {
        return Err(BADID.into());
    }
    let j = ctx.store.jobs_ref();
    Ok(ids.iter().map(|i| j.parse_id(i)).collect())
}

/// Wakes the clients blocked on queues that got jobs.
fn signal_queues(ctx: &mut Ctx<'_>) {
    for q in ctx.store.jobs().take_ready() {
        ctx.signal_ready(JOBS_DB, &q);
    }
}

fn check_queue_name(q: &[u8]) -> CmdResult {
    if q.len() > jobs::MAX_QUEUE_NAME {
        return Err(ReplyError::new(format!(
            "ERR queue name too long: {} bytes, the limit is {} bytes",
            q.len(),
            jobs::MAX_QUEUE_NAME
        )));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// ADDJOB

/// `ADDJOB queue body ms-timeout [REPLICATE n] [DELAY sec] [RETRY sec] [TTL sec] [MAXLEN n]
/// [ASYNC] [MAXDELIVER n] [DEADLETTER queue]`
pub fn addjob(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let mut replicate: i64 = 1;
    let mut ttl: i64 = 86_400;
    let mut retry: i64 = -1;
    let mut delay: i64 = 0;
    let mut maxlen: i64 = 0;
    let mut max_deliver: i64 = 0;
    let mut dead_letter: Option<Bytes> = None;
    let mut j = 4;
    while j < argv.len() {
        let opt = &argv[j];
        let last = j == argv.len() - 1;
        let next = || argv.get(j + 1).map(Bytes::as_ref).unwrap_or_default();
        if eq(opt, "replicate") && !last {
            replicate =
                strtoll(next())
                    .filter(|v| (1..=65_535).contains(v))
                    .ok_or(ReplyError::from(
                        "ERR REPLICATE must be between 1 and 65535",
                    ))?;
            j += 1;
        } else if eq(opt, "ttl") && !last {
            ttl = strtoll(next())
                .filter(|v| *v > 0)
                .ok_or(ReplyError::from("ERR TTL must be a number > 0"))?;
            j += 1;
        } else if eq(opt, "retry") && !last {
            retry = strtoll(next()).filter(|v| *v >= 0).ok_or(ReplyError::from(
                "ERR RETRY time must be a non negative number",
            ))?;
            j += 1;
        } else if eq(opt, "delay") && !last {
            delay = strtoll(next()).filter(|v| *v >= 0).ok_or(ReplyError::from(
                "ERR DELAY time must be a non negative number",
            ))?;
            j += 1;
        } else if eq(opt, "maxlen") && !last {
            maxlen = strtoll(next())
                .filter(|v| *v > 0)
                .ok_or(ReplyError::from("ERR MAXLEN must be a positive number"))?;
            j += 1;
        } else if eq(opt, "async") {
        } else if eq(opt, "maxdeliver") && !last {
            max_deliver = strtoll(next())
                .filter(|v| (1..=i64::from(u32::MAX)).contains(v))
                .ok_or(ReplyError::from(
                    "ERR MAXDELIVER must be between 1 and 4294967295",
                ))?;
            j += 1;
        } else if eq(opt, "deadletter") && !last {
            let q = Bytes::copy_from_slice(next());
            check_queue_name(&q)?;
            dead_letter = Some(q);
            j += 1;
        } else {
            return Err(SYNTAX.into());
        }
        j += 1;
    }
    timeout_ms(&argv[3])?;
    if replicate > 1 && retry == 0 {
        return Err(
            "ERR With RETRY set to 0 please explicitly set  REPLICATE to 1 (at-most-once delivery)"
                .into(),
        );
    }
    if delay >= ttl {
        return Err("ERR The specified DELAY is greater than TTL. Job refused since would never be delivered".into());
    }
    if retry == -1 {
        retry = (ttl / 10).clamp(1, 300);
    }
    if replicate > 1 {
        return Err("NOREPL Not enough reachable nodes for the requested replication level".into());
    }
    if (max_deliver > 0) != dead_letter.is_some() {
        return Err("ERR MAXDELIVER and DEADLETTER go together".into());
    }
    let queue = argv[1].clone();
    check_queue_name(&queue)?;
    if let Some(q) = ctx.store.jobs_ref().queue(&queue) {
        if maxlen > 0 && q.len >= maxlen as u64 {
            return Err("MAXLEN Queue is already longer than the specified MAXLEN count".into());
        }
        if q.paused & jobs::PAUSED_IN != 0 {
            return Err("PAUSED Queue paused in input, try later".into());
        }
    }
    let spec = NewJob {
        queue,
        body: argv[2].clone(),
        repl: replicate as u16,
        ttl: ttl as u64,
        retry: u32::try_from(retry).unwrap_or(u32::MAX),
        delay: u32::try_from(delay).unwrap_or(u32::MAX),
        ttl_word: jobs::ttl_word(ttl, retry),
        max_deliveries: max_deliver as u32,
        dead_letter: dead_letter.unwrap_or_default(),
    };
    let now = ctx.now_ms;
    let id = ctx.store.jobs().add(spec, now).map_err(storage_error)?;
    let s = ctx.store.jobs_ref().format_id(&id);
    ctx.out.simple(std::str::from_utf8(&s).unwrap_or_default());
    signal_queues(ctx);
    Ok(())
}

// ---------------------------------------------------------------------------------------
// GETJOB

/// The bodies of `jobs`, read before any reply is written (a read error then answers an
/// error, never half an array).
fn with_bodies(
    ctx: &Ctx<'_>,
    jobs: Vec<(JobId, Job)>,
) -> Result<Vec<(JobId, Job, Bytes)>, ReplyError> {
    let mut out = Vec::with_capacity(jobs.len());
    for (id, job) in jobs {
        // A small body is in the record the fetch returned; a large one is read.
        let body = match &job.body {
            Some(b) => b.clone(),
            None => ctx
                .store
                .jobs_ref()
                .body(&id)
                .map_err(storage_error)?
                .unwrap_or_default(),
        };
        out.push((id, job, body));
    }
    Ok(out)
}

/// One job as GETJOB and QPEEK give it: `[queue, id, body]`, plus the counters.
fn reply_job(ctx: &mut Ctx<'_>, id: &JobId, job: &Job, body: &[u8], withcounters: bool) {
    let s = ctx.store.jobs_ref().format_id(id);
    let out = &mut *ctx.out;
    out.array(if withcounters { 7 } else { 3 });
    out.bulk(&job.queue);
    out.bulk(&s);
    out.bulk(body);
    if withcounters {
        out.bulk(b"nacks");
        out.int(i64::from(job.nacks));
        out.bulk(b"additional-deliveries");
        out.int(i64::from(job.deliveries));
    }
}

/// `GETJOB [NOHANG] [TIMEOUT ms] [COUNT n] [WITHCOUNTERS] FROM queue …`
pub fn getjob(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let mut timeout = 0u64;
    let mut count: i64 = 1;
    let mut nohang = false;
    let mut withcounters = false;
    let mut queues: &[Bytes] = &[];
    let mut j = 1;
    while j < argv.len() {
        let opt = &argv[j];
        let last = j == argv.len() - 1;
        if eq(opt, "nohang") {
            nohang = true;
        } else if eq(opt, "withcounters") {
            withcounters = true;
        } else if eq(opt, "timeout") && !last {
            timeout = timeout_ms(&argv[j + 1])?;
            j += 1;
        } else if eq(opt, "count") && !last {
            count = strtoll(&argv[j + 1])
                .filter(|v| *v > 0)
                .ok_or(ReplyError::from(
                    "ERR COUNT must be a number greater than zero",
                ))?;
            j += 1;
        } else if eq(opt, "from") {
            queues = &argv[j + 1..];
            break;
        } else {
            return Err(SYNTAX.into());
        }
        j += 1;
    }
    if queues.is_empty() {
        return Err(SYNTAX.into());
    }
    let now = ctx.now_ms;
    // Woken by a job queued in one of our queues: one job from that queue, as Disque serves
    // blocked clients.
    if let Some(q) = ctx.wake_key.take() {
        let paused_out = ctx
            .store
            .jobs_ref()
            .queue(&q)
            .is_some_and(|s| s.paused & jobs::PAUSED_OUT != 0);
        let got = if paused_out {
            None
        } else {
            ctx.store.jobs().fetch(&q, now).map_err(storage_error)?
        };
        if let Some(got) = got {
            let jobs = with_bodies(ctx, vec![got])?;
            ctx.out.array(1);
            for (id, job, body) in &jobs {
                reply_job(ctx, id, job, body, withcounters);
            }
            return Ok(());
        }
        return block(ctx, argv, queues, timeout);
    }
    let mut left = usize::try_from(count)
        .unwrap_or(usize::MAX)
        .min(MAX_JOBS_PER_REPLY);
    let mut got: Vec<(JobId, Job)> = Vec::new();
    // Disque's passes: one job from each queue in turn until COUNT is reached or a pass finds
    // none. A queue visited that does not exist is created (Disque keeps its federation state
    // there), even for NOHANG, and QSTAT then shows it until the idle-queue collection; a queue
    // after the one that reached COUNT is not visited, so not created.
    loop {
        let before = got.len();
        for q in queues {
            let open = match ctx.store.jobs_ref().queue(q) {
                Some(s) => s.len > 0 && s.paused & jobs::PAUSED_OUT == 0,
                None => {
                    if q.len() <= jobs::MAX_QUEUE_NAME {
                        ctx.store.jobs().touch_queue(q, now);
                    }
                    false
                }
            };
            if !open {
                continue;
            }
            if let Some(j) = ctx.store.jobs().fetch(q, now).map_err(storage_error)? {
                got.push(j);
                left -= 1;
                if left == 0 {
                    break;
                }
            }
        }
        if left == 0 || got.len() == before {
            break;
        }
    }
    if !got.is_empty() {
        let jobs = with_bodies(ctx, got)?;
        ctx.out.array(jobs.len());
        for (id, job, body) in &jobs {
            reply_job(ctx, id, job, body, withcounters);
        }
        return Ok(());
    }
    if nohang || ctx.client.in_exec {
        ctx.out.null_array();
        return Ok(());
    }
    block(ctx, argv, queues, timeout)
}

fn block(ctx: &mut Ctx<'_>, argv: &[Bytes], queues: &[Bytes], timeout: u64) -> CmdResult {
    let now = ctx.now_ms;
    for q in queues {
        check_queue_name(q)?;
        ctx.store.jobs().touch_queue(q, now);
    }
    ctx.block = Some(BlockSpec {
        keys: queues.to_vec(),
        wake_if: vec![WakeIf::Queue; queues.len()],
        timeout_ms: timeout,
        argv: argv.to_vec(),
    });
    Ok(())
}

// ---------------------------------------------------------------------------------------
// ACKJOB, FASTACK, DELJOB, NACK, ENQUEUE, DEQUEUE, WORKING

/// Deletes every known job; replies how many were known (ACKJOB, FASTACK, DELJOB are the same
/// on a cluster of one: an acknowledged job is garbage-collected at once).
fn delete_jobs(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let ids = parse_ids(ctx, &argv[1..])?;
    let now = ctx.now_ms;
    let mut known = 0i64;
    for id in ids.iter().flatten() {
        if ctx.store.jobs().delete(id, now).map_err(storage_error)? {
            known += 1;
        }
    }
    ctx.out.int(known);
    Ok(())
}

/// `ACKJOB id …`
pub fn ackjob(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    delete_jobs(ctx, argv)
}

/// `FASTACK id …`
pub fn fastack(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    delete_jobs(ctx, argv)
}

/// `DELJOB id …`
pub fn deljob(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    delete_jobs(ctx, argv)
}

fn enqueue_generic(ctx: &mut Ctx<'_>, argv: &[Bytes], nack: bool) -> CmdResult {
    let mut ids = &argv[1..];
    let mut delay_ms = 0u64;
    if nack && ids.len() >= 2 && eq(&ids[ids.len() - 2], "delay") {
        let d = strtoll(&ids[ids.len() - 1])
            .filter(|v| *v >= 0)
            .ok_or(ReplyError::from(
                "ERR DELAY time must be a non negative number",
            ))?;
        delay_ms = u64::try_from(d).unwrap_or(0).saturating_mul(1000);
        ids = &ids[..ids.len() - 2];
    }
    let ids = parse_ids(ctx, ids)?;
    let now = ctx.now_ms;
    let mut n = 0i64;
    for id in ids.iter().flatten() {
        if ctx
            .store
            .jobs()
            .enqueue(id, nack, delay_ms, now)
            .map_err(storage_error)?
        {
            n += 1;
        }
    }
    ctx.out.int(n);
    signal_queues(ctx);
    Ok(())
}

/// `NACK id … [DELAY sec]`
pub fn nack(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    enqueue_generic(ctx, argv, true)
}

/// `ENQUEUE id …`
pub fn enqueue(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    enqueue_generic(ctx, argv, false)
}

/// `DEQUEUE id …`
pub fn dequeue(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let ids = parse_ids(ctx, &argv[1..])?;
    let now = ctx.now_ms;
    let mut n = 0i64;
    for id in ids.iter().flatten() {
        if ctx.store.jobs().dequeue(id, now).map_err(storage_error)? {
            n += 1;
        }
    }
    ctx.out.int(n);
    Ok(())
}

/// `WORKING id`
pub fn working(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let ids = parse_ids(ctx, &argv[1..2])?;
    let now = ctx.now_ms;
    let r = match &ids[0] {
        None => Working::NoJob,
        Some(id) => ctx.store.jobs().working(id, now).map_err(storage_error)?,
    };
    match r {
        Working::Retry(s) => ctx.out.int(i64::from(s)),
        Working::NoJob => return Err("NOJOB Job not known in the context of this node.".into()),
        Working::TooLate => return Err("TOOLATE Half of job TTL already elapsed, you are no longer allowed to postpone the next delivery.".into()),
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// WAITJOB (Sluice extension)

/// `WAITJOB id … [TIMEOUT ms]`: the number of the listed jobs that are gone (acknowledged,
/// deleted, expired; an ID naming no job counts as gone; each job counts once however often
/// it is listed), once they all are, or when the timeout passes (0 or none: no timeout, as
/// GETJOB's). Inside EXEC it answers at once (it is `noscript`).
pub fn waitjob(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let mut ids = &argv[1..];
    let mut timeout_arg: Option<&Bytes> = None;
    if ids.len() >= 2 && eq(&ids[ids.len() - 2], "timeout") {
        timeout_arg = Some(&ids[ids.len() - 1]);
        ids = &ids[..ids.len() - 2];
    }
    if ids.is_empty() {
        return Err(SYNTAX.into());
    }
    if ids.len() > MAX_WAITJOB_IDS {
        return Err(ReplyError::new(format!(
            "ERR too many job IDs: {}, the limit is {MAX_WAITJOB_IDS}",
            ids.len()
        )));
    }
    let parsed = parse_ids(ctx, ids)?;
    let timeout = match timeout_arg {
        Some(t) => timeout_ms(t)?,
        None => 0,
    };
    // Distinct jobs: those of this node by stored ID (argument order), the others (which
    // cannot exist, so are gone) by their text.
    let mut mine: Vec<JobId> = Vec::new();
    let mut seen = std::collections::HashSet::with_capacity(ids.len());
    let mut foreign = std::collections::HashSet::new();
    for (text, id) in ids.iter().zip(parsed) {
        match id {
            Some(id) => {
                if seen.insert(id) {
                    mine.push(id);
                }
            }
            None => {
                foreign.insert(text.as_ref());
            }
        }
    }
    let total = mine.len() + foreign.len();
    let mut present = Vec::new();
    for id in &mine {
        if ctx
            .store
            .jobs_ref()
            .get(id)
            .map_err(storage_error)?
            .is_some()
        {
            present.push(Bytes::copy_from_slice(&id.0));
        }
    }
    let gone = total - present.len();
    if present.is_empty() || ctx.client.in_exec {
        ctx.out.int(i64::try_from(gone).unwrap_or(i64::MAX));
        return Ok(());
    }
    // Re-run because its last job went (`Engine::may_serve`) yet one is still here: it stays
    // parked as it was (its count and place are the engine's).
    if ctx.wake_key.take().is_none() {
        ctx.srv.holds.kind = Some(BlockKind::WaitJob { total, gone });
    }
    let n = present.len();
    ctx.block = Some(BlockSpec {
        keys: present,
        wake_if: vec![WakeIf::JobGone; n],
        timeout_ms: timeout,
        argv: argv.to_vec(),
    });
    Ok(())
}

/// Queues the WAITJOB clients of the jobs removed since the last call (the store records
/// them only while a client waits): each removal is reported once, so it is pushed without
/// a look through the ready list, and costs one map lookup plus one count per waiter of that
/// job (`Engine::may_serve`). Called after every command (`Engine::after_writes`) and after
/// the job timers ([`jobs_cron`]).
pub fn signal_gone(store: &mut Store, srv: &mut Server) {
    if srv.holds.job_waiters == 0 {
        return;
    }
    for id in store.jobs().take_gone() {
        let k = (WAITJOB_DB, Bytes::copy_from_slice(&id.0));
        if srv.waiting.contains_key(&k) {
            srv.ready.push(k);
        }
    }
}

// ---------------------------------------------------------------------------------------
// SHOW, JSCAN

/// SHOW's 30-element array.
fn reply_job_info(ctx: &mut Ctx<'_>, id: &JobId, job: &Job, body: &[u8]) {
    let s = ctx.store.jobs_ref().format_id(id);
    let node = ctx.store.jobs_ref().node_id().to_string();
    let now = ctx.now_ms;
    let out = &mut *ctx.out;
    out.array(30);
    out.bulk(b"id");
    out.bulk(&s);
    out.bulk(b"queue");
    out.bulk(&job.queue);
    out.bulk(b"state");
    out.bulk(job.state.name().as_bytes());
    out.bulk(b"repl");
    out.int(i64::from(job.repl));
    out.bulk(b"ttl");
    out.int(i64::try_from(job.etime.saturating_sub(now / 1000)).unwrap_or(i64::MAX));
    out.bulk(b"ctime");
    out.int(i64::try_from(job.ctime).unwrap_or(i64::MAX));
    out.bulk(b"delay");
    out.int(i64::from(job.delay));
    out.bulk(b"retry");
    out.int(i64::from(job.retry));
    out.bulk(b"nacks");
    out.int(i64::from(job.nacks));
    out.bulk(b"additional-deliveries");
    out.int(i64::from(job.deliveries));
    out.bulk(b"nodes-delivered");
    out.array(1);
    out.bulk(node.as_bytes());
    out.bulk(b"nodes-confirmed");
    out.array(0);
    out.bulk(b"next-requeue-within");
    let qtime = job.requeue_at(now);
    if qtime == 0 {
        out.null();
    } else {
        out.int(i64::try_from(qtime.saturating_sub(now)).unwrap_or(i64::MAX));
    }
    out.bulk(b"next-awake-within");
    let awake = if job.state == JobState::Queued {
        // Disque wakes a queued job at its requeue time too (to push it forward).
        job.awake.min(if qtime == 0 { u64::MAX } else { qtime })
    } else {
        job.awake
    };
    out.int(i64::try_from(awake.saturating_sub(now)).unwrap_or(i64::MAX));
    out.bulk(b"body");
    out.bulk(body);
}

/// `SHOW id`
pub fn show(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let ids = parse_ids(ctx, &argv[1..2])?;
    let Some(id) = ids[0] else {
        ctx.out.null();
        return Ok(());
    };
    match ctx.store.jobs_ref().get(&id).map_err(storage_error)? {
        None => ctx.out.null(),
        Some(job) => {
            let jobs = with_bodies(ctx, vec![(id, job)])?;
            for (id, job, body) in &jobs {
                reply_job_info(ctx, id, job, body);
            }
        }
    }
    Ok(())
}

/// `JSCAN [cursor] [COUNT n] [BUSYLOOP] [QUEUE q] [STATE s …] [REPLY id|all]`
pub fn jscan(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let mut count: i64 = 100;
    let mut busyloop = false;
    let mut queue: Option<Bytes> = None;
    let mut states: Vec<Option<JobState>> = Vec::new();
    let mut all = false;
    let mut cursor: Option<u64> = None;
    let mut j = 1;
    while j < argv.len() {
        let opt = &argv[j];
        let remaining = argv.len() - j - 1;
        if eq(opt, "count") && remaining > 0 {
            count = long(&argv[j + 1])?;
            j += 1;
        } else if eq(opt, "busyloop") {
            busyloop = true;
        } else if eq(opt, "queue") && remaining > 0 {
            queue = Some(argv[j + 1].clone());
            j += 1;
        } else if eq(opt, "state") && remaining > 0 {
            let s = &argv[j + 1];
            let st = if eq(s, "wait-repl") || eq(s, "acked") {
                None // never stored on a cluster of one
            } else if eq(s, "active") {
                Some(JobState::Active)
            } else if eq(s, "queued") {
                Some(JobState::Queued)
            } else {
                return Err("ERR Invalid job state name".into());
            };
            states.push(st);
            j += 1;
        } else if eq(opt, "reply") && remaining > 0 {
            let r = &argv[j + 1];
            if eq(r, "id") {
                all = false;
            } else if eq(r, "all") {
                all = true;
            } else {
                return Err("ERR Invalid REPLY type, try ID or ALL".into());
            }
            j += 1;
        } else {
            if cursor.is_some() {
                return Err(SYNTAX.into());
            }
            cursor = Some(scan_cursor(opt)?);
        }
        j += 1;
    }
    let count = usize::try_from(count.max(1))
        .unwrap_or(usize::MAX)
        .min(MAX_JOBS_PER_REPLY);
    let filter = |job: &Job| {
        queue.as_ref().is_none_or(|q| job.queue == *q)
            && (states.is_empty() || states.contains(&Some(job.state)))
    };
    let mut cursor = cursor.unwrap_or(0);
    let mut items = Vec::new();
    loop {
        let (next, found) = ctx
            .store
            .jobs_ref()
            .scan(cursor, count, count.saturating_mul(10), filter)
            .map_err(storage_error)?;
        items.extend(found);
        cursor = next;
        if cursor == 0 || !busyloop {
            break;
        }
    }
    let items: Vec<(JobId, Job)> = items.into_iter().map(|i| (i.id, i.job)).collect();
    let items = if all {
        with_bodies(ctx, items)?
    } else {
        items
            .into_iter()
            .map(|(i, j)| (i, j, Bytes::new()))
            .collect()
    };
    ctx.out.array(2);
    ctx.out.bulk(cursor.to_string().as_bytes());
    ctx.out.array(items.len());
    for (id, job, body) in &items {
        if all {
            reply_job_info(ctx, id, job, body);
        } else {
            let s = ctx.store.jobs_ref().format_id(id);
            ctx.out.simple(std::str::from_utf8(&s).unwrap_or_default());
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Queues: QLEN, QPEEK, QSTAT, QSCAN, PAUSE

/// `QLEN queue`
pub fn qlen(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let n = ctx.store.jobs_ref().qlen(&argv[1]);
    ctx.out.int(i64::try_from(n).unwrap_or(i64::MAX));
    Ok(())
}

/// `QPEEK queue count`
pub fn qpeek(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let count = long(&argv[2])?;
    let n = usize::try_from(count.unsigned_abs())
        .unwrap_or(usize::MAX)
        .min(MAX_JOBS_PER_REPLY);
    let ids = ctx
        .store
        .jobs_ref()
        .peek(&argv[1], n, count < 0)
        .map_err(storage_error)?;
    let mut jobs = Vec::with_capacity(ids.len());
    for id in ids {
        let job = ctx.store.jobs_ref().get(&id).map_err(storage_error)?;
        if let Some(job) = job {
            jobs.push((id, job));
        }
    }
    let jobs = with_bodies(ctx, jobs)?;
    ctx.out.array(jobs.len());
    for (id, job, body) in &jobs {
        reply_job(ctx, id, job, body, false);
    }
    Ok(())
}

fn blocked_on(srv: &Server, queue: &[u8]) -> usize {
    srv.waiting
        .get(&(JOBS_DB, Bytes::copy_from_slice(queue)))
        .map_or(0, Vec::len)
}

/// `QSTAT queue`
pub fn qstat(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let Some(q) = ctx.store.jobs_ref().queue(&argv[1]).cloned() else {
        ctx.out.null_array();
        return Ok(());
    };
    let now_s = ctx.now_ms / 1000;
    let blocked = blocked_on(ctx.srv, &argv[1]);
    let out = &mut *ctx.out;
    out.array(20);
    out.bulk(b"name");
    out.bulk(&argv[1]);
    out.bulk(b"len");
    out.int(i64::try_from(q.len).unwrap_or(i64::MAX));
    out.bulk(b"age");
    out.int(now_s.saturating_sub(q.ctime) as i64);
    out.bulk(b"idle");
    out.int(now_s.saturating_sub(q.atime) as i64);
    out.bulk(b"blocked");
    out.int(blocked as i64);
    out.bulk(b"import-from");
    out.array(0);
    out.bulk(b"import-rate");
    out.int(0);
    out.bulk(b"jobs-in");
    out.int(i64::try_from(q.jobs_in).unwrap_or(i64::MAX));
    out.bulk(b"jobs-out");
    out.int(i64::try_from(q.jobs_out).unwrap_or(i64::MAX));
    out.bulk(b"pause");
    out.bulk(q.pause_name().as_bytes());
    Ok(())
}

/// `QSCAN [cursor] [COUNT n] [BUSYLOOP] [MINLEN n] [MAXLEN n] [IMPORTRATE r]`
pub fn qscan(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let mut count: i64 = 100;
    let mut busyloop = false;
    let (mut minlen, mut maxlen, mut importrate) = (-1i64, -1i64, -1i64);
    let mut cursor: Option<u64> = None;
    let mut j = 1;
    while j < argv.len() {
        let opt = &argv[j];
        let remaining = argv.len() - j - 1;
        if eq(opt, "count") && remaining > 0 {
            count = long(&argv[j + 1])?;
            j += 1;
        } else if eq(opt, "busyloop") {
            busyloop = true;
        } else if eq(opt, "minlen") && remaining > 0 {
            minlen = long(&argv[j + 1])?;
            j += 1;
        } else if eq(opt, "maxlen") && remaining > 0 {
            maxlen = long(&argv[j + 1])?;
            j += 1;
        } else if eq(opt, "importrate") && remaining > 0 {
            importrate = long(&argv[j + 1])?;
            j += 1;
        } else {
            if cursor.is_some() {
                return Err(SYNTAX.into());
            }
            cursor = Some(scan_cursor(opt)?);
        }
        j += 1;
    }
    let count = usize::try_from(count.max(1)).unwrap_or(usize::MAX);
    let filter = |q: &jobs::Queue| {
        let len = i64::try_from(q.len).unwrap_or(i64::MAX);
        (minlen == -1 || len >= minlen)
            && (maxlen == -1 || len <= maxlen)
            // No federation: every queue's import rate is 0.
            && (importrate == -1 || 0 >= importrate)
    };
    let mut cursor = cursor.unwrap_or(0);
    let mut names = Vec::new();
    loop {
        let (next, found) = ctx.store.jobs_ref().scan_queues(cursor, count, filter);
        names.extend(found);
        cursor = next;
        if cursor == 0 || !busyloop {
            break;
        }
    }
    ctx.out.array(2);
    ctx.out.bulk(cursor.to_string().as_bytes());
    ctx.out.array(names.len());
    for n in &names {
        ctx.out.bulk(n);
    }
    Ok(())
}

/// `PAUSE queue option …` (in, out, all, none, state, bcast)
pub fn pause(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let queue = argv[1].clone();
    let mut flags = 0u8;
    let mut update = false;
    for opt in &argv[2..] {
        if eq(opt, "none") {
            flags = 0;
            update = true;
        } else if eq(opt, "in") {
            flags |= jobs::PAUSED_IN;
            update = true;
        } else if eq(opt, "out") {
            flags |= jobs::PAUSED_OUT;
            update = true;
        } else if eq(opt, "all") {
            flags |= jobs::PAUSED_IN | jobs::PAUSED_OUT;
            update = true;
        } else if eq(opt, "state") || eq(opt, "bcast") {
            // STATE only reports; BCAST has no other node to tell.
        } else {
            return Err(SYNTAX.into());
        }
    }
    check_queue_name(&queue)?;
    let now = ctx.now_ms;
    let state = ctx
        .store
        .jobs()
        .set_pause(&queue, update.then_some(flags), now);
    ctx.out.simple(jobs::pause_name(state));
    signal_queues(ctx);
    Ok(())
}

// ---------------------------------------------------------------------------------------
// HELLO, INFO, timers

/// Whether the client came through the Disque port: flagged at accept, or connected to
/// `disque-port` (which may be the main port: a drop-in Disque).
pub fn is_disque_client(ctx: &Ctx<'_>) -> bool {
    let p = ctx.srv.config.disque_port;
    ctx.client.disque || (p != 0 && ctx.client.laddr.port() == p)
}

/// Disque's `HELLO`: `[1, node id, [node id, ip, port, priority]]`, this node only. Its IP is
/// the empty string, as Disque's own entry on a node that never met another; the port is the
/// one the client connected to.
pub fn disque_hello(ctx: &mut Ctx<'_>) -> CmdResult {
    let node = ctx.store.jobs_ref().node_id().to_string();
    let port = ctx.client.laddr.port();
    let out = &mut *ctx.out;
    out.array(3);
    out.int(1);
    out.bulk(node.as_bytes());
    out.array(4);
    out.bulk(node.as_bytes());
    out.bulk(b"");
    out.bulk(port.to_string().as_bytes());
    out.bulk(b"1");
    Ok(())
}

/// INFO's `jobs` and `queues` sections (Disque's field names).
pub fn info_section(store: &Store, section: &str) -> Option<String> {
    match section {
        "jobs" => Some(format!(
            "# Jobs\r\nregistered_jobs:{}\r\n",
            store.jobs_ref().registered()
        )),
        "queues" => Some(format!(
            "# Queues\r\nregistered_queues:{}\r\n",
            store.jobs_ref().queue_count()
        )),
        _ => None,
    }
}

/// The job timers, from the engine's periodic task: requeues unacknowledged jobs, queues
/// delayed jobs, expires jobs past their TTL (at most [`TIMERS_PER_TICK`] and about
/// [`TIMER_TIME_PER_TICK`] per call: the rest waits for the next ticks), wakes
/// the clients blocked on queues that got jobs, and forgets idle empty queues.
///
/// Precision: the engine's cron runs `hz` times a second (10 by default), so a timer fires
/// up to 100 ms late. Disque's own scheduler runs every 1 to 100 ms and adds up to ±500 ms
/// of random jitter to every requeue, and its RETRY, DELAY and TTL are whole seconds, so this
/// is as precise as what Disque clients rely on.
pub fn jobs_cron(store: &mut Store, srv: &mut Server, now_ms: u64) -> Result<(), StoreError> {
    let started = std::time::Instant::now();
    let mut done = 0;
    while done < TIMERS_PER_TICK && started.elapsed() < TIMER_TIME_PER_TICK {
        let run = store.jobs().run_timers(now_ms, TIMER_CHUNK)?;
        if run.processed > 0 {
            tracing::debug!(?run, "job timers");
        }
        done += run.processed;
        if !run.more {
            break;
        }
    }
    for q in store.jobs().take_ready() {
        let k = (JOBS_DB, q);
        if srv.waiting.contains_key(&k) && !srv.ready.contains(&k) {
            srv.ready.push(k);
        }
    }
    // Expired jobs: their WAITJOB clients are served by the engine right after this pass.
    signal_gone(store, srv);
    // Forget idle queues once a second or so (a pass over the queue table).
    if now_ms / 1000 != store.jobs_ref().last_gc_s() {
        let waiting = &srv.waiting;
        store.jobs().gc_queues(now_ms, QUEUE_MAX_IDLE_S, |name| {
            waiting.contains_key(&(JOBS_DB, Bytes::copy_from_slice(name)))
        });
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// The command table rows.

const JOB_IDS: &[crate::table::Arg] = &[arg("job-id", "string").many()];

pub static COMMANDS: &[Command] = &[
    cmd("addjob", -4, addjob)
        .flags(&["write", "denyoom", "fast"])
        .acl(&["@write", "@fast"])
        .doc("jobs", "1.0.0", "O(1)", "Add a job to a queue (Disque)")
        .args(&[
            arg("queue", "string"),
            arg("body", "string"),
            arg("ms-timeout", "integer"),
            arg("replicate", "integer").token("REPLICATE").opt(),
            arg("delay", "integer").token("DELAY").opt(),
            arg("retry", "integer").token("RETRY").opt(),
            arg("ttl", "integer").token("TTL").opt(),
            arg("maxlen", "integer").token("MAXLEN").opt(),
            tok("ASYNC").opt(),
            arg("maxdeliver", "integer").token("MAXDELIVER").opt(),
            arg("deadletter", "string").token("DEADLETTER").opt(),
        ]),
    cmd("getjob", -2, getjob)
        .flags(&["write", "noscript"])
        .acl(&["@write", "@blocking"])
        .doc(
            "jobs",
            "1.0.0",
            "O(N) in the number of jobs returned",
            "Get jobs from queues, blocking if there are none (Disque)",
        )
        .args(&[
            tok("NOHANG").opt(),
            arg("timeout", "integer").token("TIMEOUT").opt(),
            arg("count", "integer").token("COUNT").opt(),
            tok("WITHCOUNTERS").opt(),
            arg("queue", "string").token("FROM").many(),
        ]),
    cmd("ackjob", -1, ackjob)
        .flags(&["write", "fast"])
        .acl(&["@write", "@fast"])
        .doc(
            "jobs",
            "1.0.0",
            "O(N) in the number of IDs",
            "Acknowledge jobs (Disque)",
        )
        .args(JOB_IDS),
    cmd("fastack", -1, fastack)
        .flags(&["write", "fast"])
        .acl(&["@write", "@fast"])
        .doc(
            "jobs",
            "1.0.0",
            "O(N) in the number of IDs",
            "Acknowledge jobs at once (Disque)",
        )
        .args(JOB_IDS),
    cmd("nack", -1, nack)
        .flags(&["write", "fast"])
        .acl(&["@write", "@fast"])
        .doc(
            "jobs",
            "1.0.0",
            "O(N) in the number of IDs",
            "Give jobs back to their queue (Disque)",
        )
        .args(&[
            arg("job-id", "string").many(),
            arg("delay", "integer").token("DELAY").opt(),
        ]),
    cmd("enqueue", -1, enqueue)
        .flags(&["write", "fast"])
        .acl(&["@write", "@fast"])
        .doc(
            "jobs",
            "1.0.0",
            "O(N) in the number of IDs",
            "Queue active jobs (Disque)",
        )
        .args(JOB_IDS),
    cmd("dequeue", -1, dequeue)
        .flags(&["write", "fast"])
        .acl(&["@write", "@fast"])
        .doc(
            "jobs",
            "1.0.0",
            "O(N) in the number of IDs",
            "Remove jobs from their queue (Disque)",
        )
        .args(JOB_IDS),
    cmd("working", 2, working)
        .flags(&["write", "fast"])
        .acl(&["@write", "@fast"])
        .doc(
            "jobs",
            "1.0.0",
            "O(1)",
            "Postpone a job's next requeue (Disque)",
        )
        .args(&[arg("job-id", "string")]),
    cmd("deljob", -1, deljob)
        .flags(&["write", "fast"])
        .acl(&["@write", "@fast"])
        .doc(
            "jobs",
            "1.0.0",
            "O(N) in the number of IDs",
            "Delete jobs (Disque)",
        )
        .args(JOB_IDS),
    cmd("waitjob", -2, waitjob)
        .flags(&["readonly", "noscript", "blocking"])
        .acl(&["@read", "@slow", "@blocking"])
        .doc(
            "jobs",
            "1.0.0",
            "O(N) in the number of IDs",
            "Sluice extension: waits until jobs are acknowledged, deleted or expired, and replies how many are gone (Disque issue #43)",
        )
        .args(&[
            arg("job-id", "string").many(),
            arg("timeout", "integer").token("TIMEOUT").opt(),
        ]),
    cmd("show", 2, show)
        .flags(&["readonly", "fast"])
        .acl(&["@read", "@fast"])
        .doc("jobs", "1.0.0", "O(1)", "Describe a job (Disque)")
        .args(&[arg("job-id", "string")]),
    cmd("qlen", 2, qlen)
        .flags(&["readonly", "fast"])
        .acl(&["@read", "@fast"])
        .doc("jobs", "1.0.0", "O(1)", "Number of jobs queued (Disque)")
        .args(&[arg("queue", "string")]),
    cmd("qpeek", 3, qpeek)
        .flags(&["readonly"])
        .acl(&["@read", "@slow"])
        .doc(
            "jobs",
            "1.0.0",
            "O(N) in the count",
            "Look at the jobs of a queue (Disque)",
        )
        .args(&[arg("queue", "string"), arg("count", "integer")]),
    cmd("qstat", 2, qstat)
        .flags(&["readonly", "fast"])
        .acl(&["@read", "@fast"])
        .doc("jobs", "1.0.0", "O(1)", "Describe a queue (Disque)")
        .args(&[arg("queue", "string")]),
    cmd("qscan", -1, qscan)
        .flags(&["readonly"])
        .acl(&["@read", "@slow"])
        .doc(
            "jobs",
            "1.0.0",
            "O(N) in the number of queues",
            "Iterate the queues (Disque)",
        )
        .args(&[arg("cursor", "integer").opt()]),
    cmd("jscan", -1, jscan)
        .flags(&["readonly"])
        .acl(&["@read", "@slow"])
        .doc(
            "jobs",
            "1.0.0",
            "O(N) in the count",
            "Iterate the jobs (Disque)",
        )
        .args(&[arg("cursor", "integer").opt()]),
    cmd("pause", -3, pause)
        .flags(&["write", "fast"])
        .acl(&["@write", "@fast"])
        .doc(
            "jobs",
            "1.0.0",
            "O(1)",
            "Pause a queue in input, output or both (Disque)",
        )
        .args(&[arg("queue", "string"), arg("option", "string").many()]),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_parse_as_disques_strtoll() {
        assert_eq!(strtoll(b""), Some(0));
        assert_eq!(strtoll(b"+5"), Some(5));
        assert_eq!(strtoll(b"007"), Some(7));
        assert_eq!(strtoll(b"-9223372036854775808"), Some(i64::MIN));
        assert_eq!(strtoll(b"9223372036854775808"), None);
        assert_eq!(strtoll(b" 5"), None);
        assert_eq!(strtoll(b"5 "), None);
        assert_eq!(strtoll(b"-"), None);
        assert_eq!(strtoll(b"1e3"), None);
        assert_eq!(strtoll(b"9223372036854775807"), Some(i64::MAX));
        assert_eq!(strtoll(b"-9223372036854775809"), None);
        assert_eq!(strtoll(b"\x0b5"), None);
        // C stops at a NUL byte.
        assert_eq!(strtoll(b"12\0x"), Some(12));
    }

    #[test]
    fn cursors_parse_as_disques_strtoul() {
        assert_eq!(scan_cursor(b"0"), Ok(0));
        assert_eq!(scan_cursor(b""), Ok(0));
        assert_eq!(scan_cursor(b"18446744073709551615"), Ok(u64::MAX));
        assert_eq!(scan_cursor(b"-1"), Ok(u64::MAX));
        assert!(scan_cursor(b"18446744073709551616").is_err());
        assert!(scan_cursor(b"count").is_err());
        assert!(scan_cursor(b" 0").is_err());
        assert!(scan_cursor(b"\x0b0").is_err());
        assert!(scan_cursor(b"-").is_err());
        assert_eq!(scan_cursor(b"+5"), Ok(5));
        assert_eq!(scan_cursor(b"-18446744073709551615"), Ok(1));
        // C stops at a NUL byte.
        assert_eq!(scan_cursor(b"7\0x"), Ok(7));
    }
}
