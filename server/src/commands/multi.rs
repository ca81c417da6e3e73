//! Transactions: MULTI, EXEC, DISCARD, WATCH, UNWATCH.
//!
//! The engine executes one command at a time, so EXEC runs its queue with nothing interleaved.
//!
//! Crash atomicity: EXEC runs its queue inside an atomic section of the store
//! (`Store::begin_atomic` / `end_atomic`). No queued command commits anything: each one stages
//! its writes, and a later command of the same EXEC that reads stream entries sees the earlier
//! ones' through the store's overlay of staged writes (`storage/src/store/overlay.rs`), not
//! through a commit. The whole transaction — with the rest of the drain — is committed as ONE
//! fjall batch when the drain ends and persisted before any reply of the drain is sent. A
//! fjall batch is atomic in the journal (recovery drops a torn last batch whole), so after a
//! crash an EXEC is either wholly there or wholly absent, and under `appendfsync always` every
//! acknowledged EXEC is there (`server/tests/crash_exec.rs` checks both with kill -9).

use bytes::Bytes;

use super::common::*;
use crate::engine::{self, Ctx};
use crate::reply::CmdResult;

pub fn multi(ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> CmdResult {
    if ctx.client.multi.is_some() {
        return Err("ERR MULTI calls can not be nested".into());
    }
    ctx.client.multi = Some(Vec::new());
    ctx.client.multi_error = false;
    ctx.out.ok();
    Ok(())
}

pub fn discard_transaction(ctx: &mut Ctx<'_>) {
    ctx.client.multi = None;
    ctx.client.multi_error = false;
}

pub fn unwatch_client(ctx: &mut Ctx<'_>) {
    let keys = std::mem::take(&mut ctx.client.watched);
    engine::unwatch(ctx.srv, ctx.store, ctx.client.id, &keys);
    ctx.client.dirty_cas = false;
}

pub fn discard(ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> CmdResult {
    if ctx.client.multi.is_none() {
        return Err("ERR DISCARD without MULTI".into());
    }
    discard_transaction(ctx);
    unwatch_client(ctx);
    ctx.out.ok();
    Ok(())
}

pub fn exec(ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> CmdResult {
    let Some(queue) = ctx.client.multi.take() else {
        return Err("ERR EXEC without MULTI".into());
    };
    let failed = std::mem::take(&mut ctx.client.multi_error);
    let dirty = ctx.client.dirty_cas;
    unwatch_client(ctx);
    if failed {
        return Err("EXECABORT Transaction discarded because of previous errors.".into());
    }
    if dirty {
        ctx.out.null_array();
        return Ok(());
    }
    ctx.out.array(queue.len());
    ctx.client.in_exec = true;
    ctx.store.begin_atomic();
    for argv in &queue {
        // Queued commands were resolved when queued; resolve again for the table entry.
        match super::lookup(&argv[0]).map(|c| engine::resolve(c, argv)) {
            Some(Ok(cmd)) => engine::call(ctx, cmd, argv),
            Some(Err(e)) => ctx.error(&e),
            None => ctx.out.error("ERR unknown command"),
        }
    }
    ctx.store.end_atomic();
    ctx.client.in_exec = false;
    Ok(())
}

pub fn watch(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    if ctx.client.multi.is_some() {
        return Err("ERR WATCH inside MULTI is not allowed".into());
    }
    let db = ctx.client.db;
    for key in &argv[1..] {
        let k = (db, key.clone());
        if ctx.client.watched.contains(&k) {
            continue;
        }
        let ids = ctx.srv.watchers.entry(k.clone()).or_default();
        ids.push(ctx.client.id);
        ctx.client.watched.push(k);
    }
    ctx.store.track_touches(true);
    ctx.out.ok();
    Ok(())
}

pub fn unwatch(ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> CmdResult {
    unwatch_client(ctx);
    ctx.out.ok();
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// The table rows of this family (see `commands/mod.rs`).

pub static COMMANDS: &[Command] = &[
    cmd("multi", 1, multi)
        .flags(TX)
        .acl(&["@fast", "@transaction"])
        .doc(
            "transactions",
            "1.2.0",
            "O(1)",
            "Mark the start of a transaction block",
        ),
    cmd("exec", 1, exec)
        .flags(&["noscript", "loading", "stale", "skip_slowlog"])
        .acl(&["@slow", "@transaction"])
        .doc(
            "transactions",
            "1.2.0",
            "Depends on commands in the transaction",
            "Execute all commands issued after MULTI",
        ),
    cmd("discard", 1, discard)
        .flags(TX)
        .acl(&["@fast", "@transaction"])
        .doc(
            "transactions",
            "2.0.0",
            "O(N), when N is the number of queued commands",
            "Discard all commands issued after MULTI",
        ),
    cmd("watch", -2, watch)
        .flags(TX)
        .keys(1, -1, 1, RO_ALL)
        .acl(&["@fast", "@transaction"])
        .doc(
            "transactions",
            "2.2.0",
            "O(1) for every key.",
            "Watch the given keys to determine execution of the MULTI/EXEC block",
        )
        .args(&[arg("key", "key").many()]),
    cmd("unwatch", 1, unwatch)
        .flags(TX)
        .acl(&["@fast", "@transaction"])
        .doc(
            "transactions",
            "2.2.0",
            "O(1)",
            "Forget about all watched keys",
        ),
];
