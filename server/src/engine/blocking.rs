//! Blocking commands: parking a client on keys (XREAD/XREADGROUP BLOCK), waking it when a key
//! it waits on changes, and answering it when its timeout passes. The same parking holds the
//! clients that wait on no key ([`BlockKind`]): WAIT (no replica ever acknowledges: it answers
//! at its timeout), WAITAOF (woken when the journal's fsync covers the client's last write,
//! [`Engine::serve_fsynced`]) and the commands CLIENT PAUSE holds (run again, in arrival
//! order, when the pause ends: [`Engine::end_pause`]). WAITJOB waits on jobs, not keys: each
//! job it waits for is a wait-list entry under the reserved database
//! `commands::jobs::WAITJOB_DB` (keyed by the job's stored ID), and each removal adds one to
//! the waiter's count in [`BlockKind::WaitJob`] ([`Engine::may_serve`]). CLIENT UNBLOCK
//! answers a parked client by moving its deadline to now with the reply it asked for
//! ([`force_unblock`]).
//!
//! Which keys changed comes from the store, not from the command handlers: while any client is
//! blocked the store records every key that may now serve a blocked reader (see
//! `Store::track_ready`), and [`Engine::after_writes`] queues the waiters of those keys after
//! each command. State outside the keyspace (job queues) signals through `Ctx::signal_ready`;
//! removed jobs through `commands::jobs::signal_gone`, after every command and the job timers.
//!
//! Invariants: a parked client is in `Server::clients` with `blocked` set, listed under each of
//! its keys in `Server::waiting` (in arrival order) and, with a timeout, in
//! `Server::deadlines`; [`Engine::unblock`] removes all three together. None of its pending
//! commands runs while it is parked. A woken client re-runs its command only if its
//! [`WakeIf`] says the change can serve it, and a re-run that still finds nothing leaves it
//! parked where it was (keeping its place and deadline).

use std::time::{Duration, Instant};

use bytes::Bytes;
use sluice_storage::stream::StreamId;

use super::{call, resolve, unwatch, Ctx, Engine};
use crate::client::Client;
use crate::commands;

/// What a blocking command waits for.
#[derive(Debug, Clone)]
pub struct BlockSpec {
    pub keys: Vec<Bytes>,
    /// For each key (same order), when a change to it can serve the client; the engine checks
    /// this before it re-runs the command, so a write wakes only the waiters it can serve
    /// (2,000 clients blocked on one stream cost one comparison each per XADD, not a command).
    pub wake_if: Vec<WakeIf>,
    /// 0 = forever.
    pub timeout_ms: u64,
    /// The command to re-run when a key is signalled, with `$` resolved to concrete IDs.
    pub argv: Vec<Bytes>,
}

/// When a signalled key may serve a blocked client (see [`BlockSpec::wake_if`]). Each must
/// be true whenever re-running the command would reply (a false "true" only costs a re-run).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WakeIf {
    /// Always re-run the command.
    Always,
    /// The key is a stream whose last ID is above this one (XREAD).
    StreamPast(StreamId),
    /// The key is a stream whose last ID is above this group's last delivered ID, or the key,
    /// the stream or the group is gone (XREADGROUP `>`, which then answers an error).
    GroupBehind(Bytes),
    /// As `GroupBehind`, or the group has a pending entry claimable with this min-idle-time
    /// (XREADGROUP `>` CLAIM: one released by XNACK, or idle long enough).
    GroupClaim(Bytes, u64),
    /// The key is a job queue (GETJOB), not a Redis key: it waits under database
    /// `commands::jobs::JOBS_DB`; always re-run.
    Queue,
    /// The key is a job's stored ID (WAITJOB), under database `commands::jobs::WAITJOB_DB`;
    /// signalled once, when the job is removed: the waiter's count goes up, and the command
    /// re-runs once every job it waits for is gone.
    JobGone,
}

/// Why a client is parked (a handler that parks for another reason than keys says so in
/// `Holds::kind` beside `Ctx::block`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockKind {
    /// On keys (XREAD, XREADGROUP, GETJOB): re-run when a key is signalled; a null array at
    /// the timeout.
    Keys,
    /// WAIT: there are no replicas, so it answers 0 at its timeout.
    Wait,
    /// WAITAOF: answered `[1, 0]` once the journal is fsynced up to `woff` (when no replica
    /// is asked for), else `[local, 0]` at the timeout.
    WaitAof { woff: u64, numreplicas: bool },
    /// Held by CLIENT PAUSE: its command runs again when the pause ends.
    Paused,
    /// WAITJOB: waits for `total` distinct jobs, `gone` of which are removed (acknowledged,
    /// deleted, expired); re-run when `gone` reaches `total`, answered `gone` at the timeout.
    WaitJob { total: usize, gone: usize },
}

/// How CLIENT UNBLOCK answers a parked client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unblock {
    /// As if its timeout had passed.
    Timeout,
    /// `-UNBLOCKED client unblocked via CLIENT UNBLOCK`.
    Error,
}

/// A client parked by a blocking command.
pub struct Blocked {
    pub argv: Vec<Bytes>,
    pub keys: Vec<(usize, Bytes)>,
    /// Aligned with `keys`.
    pub wake_if: Vec<WakeIf>,
    pub deadline: Option<Instant>,
    pub kind: BlockKind,
    /// Set by CLIENT UNBLOCK (its deadline is then now).
    pub forced: Option<Unblock>,
}

/// A CLIENT PAUSE in force.
#[derive(Debug, Clone, Copy)]
pub struct Pause {
    pub end: Instant,
    /// WRITE: only commands that may write (and EXEC of such a transaction, scripts) wait.
    pub write_only: bool,
}

/// The engine's state for the parkings that are not on keys (see the module docs).
#[derive(Default)]
pub struct Holds {
    /// Set by a handler beside `Ctx::block` when it parks for another reason than keys.
    pub kind: Option<BlockKind>,
    /// CLIENT PAUSE, while in force.
    pub pause: Option<Pause>,
    /// Clients held by the pause, in arrival order.
    pub paused: Vec<u64>,
    /// The journal is fsynced up to this persist (`Stats::persists` numbers them): WAITAOF's
    /// `fsynced_reploff`. Under `appendfsync always` every persist is an fsync; under
    /// `everysec` the fsync thread reports how far its last sync reached; under `no` nothing
    /// is ever fsynced by Sluice, so it does not move (as Redis's does not).
    pub fsynced: u64,
    /// Clients parked by WAITAOF.
    pub aof_waiters: usize,
    /// Clients parked by WAITJOB: while there are any, the job store records the jobs it
    /// removes (`Jobs::track_gone`).
    pub job_waiters: usize,
}

impl Holds {
    /// Whether CLIENT PAUSE holds a command with these flags now (Redis's rule: ALL holds
    /// every command; WRITE holds commands that may write or replicate, and EXEC of a
    /// transaction holding one).
    pub fn holds(&self, may_write: bool) -> bool {
        match self.pause {
            // A pause whose end passed holds nothing more (the engine clears it at its next
            // turn and releases the clients it held).
            Some(p) => (!p.write_only || may_write) && p.end > Instant::now(),
            None => false,
        }
    }
}

/// CLIENT UNBLOCK: if `id` is parked (and not held by CLIENT PAUSE, which Redis does not let
/// CLIENT UNBLOCK release), moves its deadline to now so the engine answers it this loop turn
/// with `how`; false if it is not parked.
pub fn force_unblock(srv: &mut crate::engine::Server, id: u64, how: Unblock) -> bool {
    let Some(b) = srv.clients.get_mut(&id).and_then(|c| c.blocked.as_mut()) else {
        return false;
    };
    if b.kind == BlockKind::Paused || b.forced.is_some() {
        return b.forced.is_some();
    }
    if let Some(d) = b.deadline {
        srv.deadlines.remove(&(d, id));
    }
    let now = Instant::now();
    b.deadline = Some(now);
    b.forced = Some(how);
    srv.deadlines.insert((now, id));
    true
}

/// CLIENT UNPAUSE (and a shorter pause): the held clients are released this loop turn.
pub fn release_paused(srv: &mut crate::engine::Server) {
    let now = Instant::now();
    for id in srv.holds.paused.clone() {
        if let Some(b) = srv.clients.get_mut(&id).and_then(|c| c.blocked.as_mut()) {
            if let Some(d) = b.deadline {
                srv.deadlines.remove(&(d, id));
            }
            b.deadline = Some(now);
            srv.deadlines.insert((now, id));
        }
    }
}

impl Engine {
    /// Parks a client on the keys of `spec` until one is signalled or its timeout passes.
    pub(super) fn park(&mut self, mut client: Client, spec: BlockSpec) {
        let id = client.id;
        let db = client.db;
        let kind = self.srv.holds.kind.take().unwrap_or(BlockKind::Keys);
        let deadline = match kind {
            // Held until the pause ends (its end may move: `expire_blocked` looks again).
            BlockKind::Paused => self.srv.holds.pause.map(|p| p.end),
            _ => (spec.timeout_ms > 0)
                .then(|| Instant::now() + Duration::from_millis(spec.timeout_ms)),
        };
        match kind {
            BlockKind::Paused => self.srv.holds.paused.push(id),
            BlockKind::WaitAof { .. } => {
                self.srv.holds.aof_waiters += 1;
                // Ask the fsync thread for a sync as soon as this drain's writes reach the OS
                // rather than at its next second.
                self.fsync.set_urgent(true);
            }
            BlockKind::WaitJob { .. } => {
                // The handler counted the jobs that exist in this same turn, and no command
                // ran since: every removal from now on is recorded, so none is missed.
                self.srv.holds.job_waiters += 1;
                self.store_mut().jobs().track_gone(true);
            }
            _ => {}
        }
        debug_assert_eq!(
            spec.keys.len(),
            spec.wake_if.len(),
            "a wake condition per key"
        );
        let mut keys = Vec::new();
        let mut wake_if = Vec::new();
        // WAITJOB parks on up to 10,000 jobs: duplicates are found in a set, not by a scan of
        // `keys` per key.
        let mut seen = std::collections::HashSet::with_capacity(spec.keys.len());
        for (k, w) in spec.keys.into_iter().zip(spec.wake_if) {
            let db = match w {
                WakeIf::Queue => commands::jobs::JOBS_DB,
                WakeIf::JobGone => commands::jobs::WAITJOB_DB,
                _ => db,
            };
            let key = (db, k);
            if seen.insert(key.clone()) {
                self.srv.waiting.entry(key.clone()).or_default().push(id);
                keys.push(key);
                wake_if.push(w);
            }
        }
        if let Some(d) = deadline {
            self.srv.deadlines.insert((d, id));
        }
        client.blocked = Some(Blocked {
            argv: spec.argv,
            keys,
            wake_if,
            deadline,
            kind,
            forced: None,
        });
        self.srv.clients.insert(id, client);
    }

    /// Removes a parked client from the wait lists and the deadline set.
    pub(super) fn unblock(&mut self, id: u64, b: &Blocked) {
        for k in &b.keys {
            if let Some(ids) = self.srv.waiting.get_mut(k) {
                ids.retain(|w| *w != id);
                if ids.is_empty() {
                    self.srv.waiting.remove(k);
                }
            }
        }
        if let Some(d) = b.deadline {
            self.srv.deadlines.remove(&(d, id));
        }
        match b.kind {
            BlockKind::Paused => self.srv.holds.paused.retain(|p| *p != id),
            BlockKind::WaitAof { .. } => {
                self.srv.holds.aof_waiters = self.srv.holds.aof_waiters.saturating_sub(1);
                if self.srv.holds.aof_waiters == 0 {
                    self.fsync.set_urgent(false);
                }
            }
            BlockKind::WaitJob { .. } => {
                self.srv.holds.job_waiters = self.srv.holds.job_waiters.saturating_sub(1);
                if self.srv.holds.job_waiters == 0 {
                    if let Some(store) = self.store.as_mut() {
                        store.jobs().track_gone(false);
                    }
                }
            }
            _ => {}
        }
    }

    /// After the store was reopened from disk (`faults.rs`): the new job store records
    /// removals again if clients wait in WAITJOB, and each waiter's count is taken again from
    /// what is on disk (the removals of the failed drain were lost: their jobs are back).
    pub(super) fn resync_job_waiters(&mut self) {
        let on = self.srv.holds.job_waiters > 0;
        let Some(store) = self.store.as_mut() else {
            return;
        };
        store.jobs().track_gone(on);
        if !on {
            return;
        }
        for c in self.srv.clients.values_mut() {
            let Some(b) = c.blocked.as_mut() else {
                continue;
            };
            let BlockKind::WaitJob { total, gone } = &mut b.kind else {
                continue;
            };
            // The jobs already gone when it parked are not in `keys`; the others are.
            let mut left = 0;
            for (db, k) in &b.keys {
                let Ok(id) = <[u8; 20]>::try_from(k.as_ref()) else {
                    continue;
                };
                if *db != commands::jobs::WAITJOB_DB {
                    continue;
                }
                // A read error counts the job as still there.
                let id = sluice_storage::jobs::JobId(id);
                if !matches!(store.jobs_ref().get(&id), Ok(None)) {
                    left += 1;
                }
            }
            *gone = total.saturating_sub(left);
        }
    }

    /// Re-runs the commands of clients blocked on signalled keys, in arrival order per key.
    pub(super) fn serve_ready(&mut self) {
        while !self.srv.ready.is_empty() {
            let ready = std::mem::take(&mut self.srv.ready);
            for key in ready {
                let ids = self.srv.waiting.get(&key).cloned().unwrap_or_default();
                // Groups of this key found not behind in this pass: serving a waiter never puts
                // a group behind (no blocked command adds entries), so the other waiters on
                // them are skipped without looking the stream up again. With N consumers of
                // one group blocked, an XADD cost N stream lookups.
                let mut caught_up: Vec<Bytes> = Vec::new();
                for id in ids {
                    if self.may_serve(id, &key, &mut caught_up) {
                        self.retry_blocked(id, key.1.clone());
                    }
                }
            }
        }
    }

    /// Whether the change of `key` may serve the client `id` blocked on it (its [`WakeIf`]).
    /// `caught_up`: groups of `key` already found not behind in this pass of
    /// [`Engine::serve_ready`] (added to here).
    pub(super) fn may_serve(
        &mut self,
        id: u64,
        key: &(usize, Bytes),
        caught_up: &mut Vec<Bytes>,
    ) -> bool {
        if key.0 == commands::jobs::WAITJOB_DB {
            // A job it waits for is gone (each removal is signalled once:
            // `commands::jobs::signal_gone`): O(1), whatever the number of its jobs.
            let Some(b) = self
                .srv
                .clients
                .get_mut(&id)
                .and_then(|c| c.blocked.as_mut())
            else {
                return false;
            };
            return match &mut b.kind {
                BlockKind::WaitJob { total, gone } => {
                    *gone = (*gone + 1).min(*total);
                    *gone == *total
                }
                _ => false,
            };
        }
        let Some(b) = self.srv.clients.get(&id).and_then(|c| c.blocked.as_ref()) else {
            return false;
        };
        let Some(i) = b.keys.iter().position(|k| k == key) else {
            return false;
        };
        let cond = match &b.wake_if[i] {
            WakeIf::Always | WakeIf::Queue | WakeIf::JobGone => return true,
            WakeIf::GroupBehind(g) if caught_up.contains(g) => return false,
            c => c.clone(),
        };
        let now = self.srv.clock.now_ms();
        let meta = self.store_mut().stream(key.0, &key.1, now);
        match (cond, meta) {
            (WakeIf::StreamPast(after), Ok(Some(m))) => m.last_id > after,
            (WakeIf::StreamPast(_), _) => false,
            (WakeIf::GroupBehind(name), Ok(Some(m))) => match m.groups.get(name.as_ref()) {
                // A queue group (`XQ.CONFIG`) also serves entries past their deadline.
                Some(g) => {
                    let behind =
                        m.last_id > g.last_id() || g.queue().is_some_and(|q| q.has_due(now));
                    if !behind {
                        caught_up.push(name);
                    }
                    behind
                }
                None => true,
            },
            (WakeIf::GroupBehind(_), _) => true,
            (WakeIf::GroupClaim(g, min_idle), Ok(Some(m))) => {
                let later = match m.groups.get(g.as_ref()) {
                    Some(g) => {
                        if m.last_id > g.last_id()
                            || g.queue().is_some_and(|q| q.has_due(now))
                            || g.has_claimable(now, min_idle).unwrap_or(true)
                        {
                            return true;
                        }
                        commands::groups::claim_recheck_at(g, now, min_idle)
                    }
                    None => return true,
                };
                // Nothing claimable yet (a timer fired for an entry acknowledged since, say):
                // look again when the next one may be.
                self.store_mut().schedule_claim_wake(key.0, &key.1, later);
                false
            }
            (WakeIf::GroupClaim(..), _) => true,
            (WakeIf::Always | WakeIf::Queue | WakeIf::JobGone, _) => true,
        }
    }

    /// Re-runs the blocked command of `id`. A reply unparks it; if it still has nothing to
    /// return it stays parked where it was (so clients keep their arrival order) with its
    /// original deadline.
    pub(super) fn retry_blocked(&mut self, id: u64, wake_key: Bytes) {
        let Some(mut client) = self.srv.clients.remove(&id) else {
            return;
        };
        let Some(b) = client.blocked.take() else {
            self.srv.clients.insert(id, client);
            return;
        };
        let mut out = std::mem::take(&mut client.out);
        let mark = out.len();
        out.set_protocol(client.proto);
        self.srv.clock.restart();
        let mut ctx = Ctx {
            store: self
                .store
                .as_mut()
                .expect("the store is open outside reopen_store"),
            client: &mut client,
            out: &mut out,
            now_ms: self.srv.clock.now_ms(),
            srv: &mut self.srv,
            block: None,
            wake_key: Some(wake_key),
        };
        if let Some(cmd) = commands::lookup(&b.argv[0]).and_then(|c| resolve(c, &b.argv).ok()) {
            call(&mut ctx, cmd, &b.argv);
        }
        let blocked_again = ctx.block.take().is_some();
        // A re-run keeps its parking (`b`): a kind its handler set again is not for the next
        // client that parks.
        self.srv.holds.kind = None;
        if blocked_again {
            out.truncate(mark);
            client.out = out;
            client.blocked = Some(b);
            self.srv.clients.insert(id, client);
            return;
        }
        client.out = out;
        self.unblock(id, &b);
        self.after_writes(Some(&mut client));
        self.drive(client);
    }

    /// Answers blocked clients whose timeout passed (a null array for a key wait, WAIT's and
    /// WAITAOF's counts), or that CLIENT UNBLOCK released, then runs the rest of their
    /// request; releases the clients CLIENT PAUSE held once it ended; answers WAITAOF clients
    /// whose write the journal's fsync now covers.
    pub(super) fn expire_blocked(&mut self) {
        self.serve_fsynced();
        let now = Instant::now();
        if self.srv.holds.pause.is_some_and(|p| p.end <= now) {
            self.srv.holds.pause = None;
            tracing::debug!(held = self.srv.holds.paused.len(), "client pause ended");
        }
        if self.srv.holds.pause.is_none() && !self.srv.holds.paused.is_empty() {
            self.end_pause();
        }
        while let Some(&(deadline, id)) = self.srv.deadlines.first() {
            if deadline > now {
                break;
            }
            self.srv.deadlines.remove(&(deadline, id));
            let Some(mut client) = self.srv.clients.remove(&id) else {
                continue;
            };
            let Some(mut b) = client.blocked.take() else {
                self.srv.clients.insert(id, client);
                continue;
            };
            if b.kind == BlockKind::Paused {
                // The pause was extended (its end moved past this deadline): wait on.
                if let Some(p) = self.srv.holds.pause {
                    b.deadline = Some(p.end);
                    self.srv.deadlines.insert((p.end, id));
                    client.blocked = Some(b);
                    self.srv.clients.insert(id, client);
                    continue;
                }
            }
            b.deadline = None;
            self.unblock(id, &b);
            if b.kind != BlockKind::Paused {
                self.count_unblocked(&b.argv, b.forced == Some(Unblock::Error));
            }
            client.out.set_protocol(client.proto);
            match (b.forced, b.kind) {
                (_, BlockKind::Paused) => {
                    client.pending.push_front(b.argv);
                }
                (Some(Unblock::Error), _) => client
                    .out
                    .error("UNBLOCKED client unblocked via CLIENT UNBLOCK"),
                (_, BlockKind::Keys) => client.out.null_array(),
                (_, BlockKind::Wait) => client.out.int(0),
                (_, BlockKind::WaitJob { gone, .. }) => {
                    client.out.int(i64::try_from(gone).unwrap_or(i64::MAX))
                }
                (_, BlockKind::WaitAof { woff, .. }) => {
                    let local = self.aof_acked(woff);
                    client.out.array(2);
                    client.out.int(i64::from(local));
                    client.out.int(0);
                }
            }
            self.drive(client);
        }
    }

    /// Counts the parked command `argv` as run: it is answered here, without a re-run (its
    /// timeout, CLIENT UNBLOCK, WAITAOF's fsync). `dispatch::call` counted its time, not the
    /// call, when it parked. `failed`: the answer is an error (CLIENT UNBLOCK … ERROR's, which
    /// INFO errorstats counts as `UNBLOCKED`, as Redis does). Unlike Redis, the command's
    /// latency histogram (INFO latencystats) gets no sample for such an answer.
    fn count_unblocked(&mut self, argv: &[Bytes], failed: bool) {
        if failed {
            self.srv.stats.count_error(b"-UNBLOCKED");
        }
        let Some(cmd) = argv
            .first()
            .and_then(|name| commands::lookup(name))
            .and_then(|c| resolve(c, argv).ok())
        else {
            return;
        };
        self.srv.stats.commands += 1;
        let e = self.srv.stats.command(cmd);
        e.calls += 1;
        e.failed += u64::from(failed);
    }

    /// Whether the journal is fsynced past a write at `woff` (see `Holds::fsynced`), between
    /// drains: a `woff` past the last persist is a drain that committed nothing, covered once
    /// every persist is.
    fn aof_acked(&self, woff: u64) -> bool {
        let fsynced = self.srv.holds.fsynced;
        woff <= fsynced || (woff > self.srv.stats.persists && fsynced >= self.srv.stats.persists)
    }

    /// Brings `Holds::fsynced` up to date and answers the WAITAOF clients it now covers (those
    /// that asked for no replica; the others wait for their timeout, as no replica exists).
    fn serve_fsynced(&mut self) {
        let persists = self.srv.stats.persists;
        let fsynced = match self.srv.config.appendfsync {
            crate::config::Fsync::Always => persists,
            crate::config::Fsync::Everysec => self.fsync.synced().max(self.srv.holds.fsynced),
            crate::config::Fsync::No => self.srv.holds.fsynced,
        };
        self.srv.holds.fsynced = fsynced.min(persists);
        if self.srv.holds.aof_waiters == 0 {
            return;
        }
        let mut done: Vec<u64> = self
            .srv
            .clients
            .values()
            .filter_map(|c| match c.blocked.as_ref().map(|b| (b.kind, b.forced)) {
                Some((
                    BlockKind::WaitAof {
                        woff,
                        numreplicas: false,
                    },
                    None,
                )) if self.aof_acked(woff) => Some(c.id),
                _ => None,
            })
            .collect();
        done.sort_unstable();
        for id in done {
            let Some(mut client) = self.srv.clients.remove(&id) else {
                continue;
            };
            let Some(b) = client.blocked.take() else {
                self.srv.clients.insert(id, client);
                continue;
            };
            self.unblock(id, &b);
            self.count_unblocked(&b.argv, false);
            client.out.set_protocol(client.proto);
            client.out.array(2);
            client.out.int(1);
            client.out.int(0);
            self.drive(client);
        }
    }

    /// Releases the clients CLIENT PAUSE held, in the order they arrived: each runs its held
    /// command (which the pause checks again) and the rest of its request.
    fn end_pause(&mut self) {
        for id in std::mem::take(&mut self.srv.holds.paused) {
            let Some(mut client) = self.srv.clients.remove(&id) else {
                continue;
            };
            let Some(b) = client.blocked.take() else {
                self.srv.clients.insert(id, client);
                continue;
            };
            if let Some(d) = b.deadline {
                self.srv.deadlines.remove(&(d, id));
            }
            client.pending.push_front(b.argv);
            self.drive(client);
        }
    }

    /// Wakes the clients blocked on keys the store reports changed, and marks WATCHers of
    /// changed keys dirty.
    pub(super) fn after_writes(&mut self, mut current: Option<&mut Client>) {
        // The store records the keys that may now serve a blocked reader (appended to,
        // created, replaced, removed, a group destroyed: see `Store::track_ready`), and only
        // while somebody is blocked, so a command costs
        // nothing here in the common case. Their waiters are re-run if their `WakeIf` allows
        // (XREADGROUP answers an error for a stream or group gone; XREAD goes back to waiting).
        let waiting = !self.srv.waiting.is_empty();
        let store = self
            .store
            .as_mut()
            .expect("the store is open outside reopen_store");
        store.track_ready(waiting);
        for key in store.drain_ready() {
            if self.srv.waiting.contains_key(&key) && !self.srv.ready.contains(&key) {
                self.srv.ready.push(key);
            }
        }
        // Jobs the command removed: their WAITJOB clients are served in this turn, so the
        // replies go out with the drain that commits the removals.
        commands::jobs::signal_gone(store, &mut self.srv);
        if self.srv.watchers.is_empty() {
            return;
        }
        let touched = self.store_mut().take_touched();
        let mut dirty: Vec<u64> = Vec::new();
        for key in touched {
            if let Some(ids) = self.srv.watchers.get(&key) {
                dirty.extend(ids);
            }
        }
        for id in dirty {
            match current.as_deref_mut() {
                Some(c) if c.id == id => c.dirty_cas = true,
                _ => {
                    if let Some(c) = self.srv.clients.get_mut(&id) {
                        c.dirty_cas = true;
                    }
                }
            }
        }
    }

    pub(super) fn unwatch_all(&mut self, id: u64, keys: &[(usize, Bytes)]) {
        let store = self
            .store
            .as_mut()
            .expect("the store is open outside reopen_store");
        unwatch(&mut self.srv, store, id, keys);
    }
}
