//! WAIT and WAITAOF. Sluice has no replicas, so no replica ever acknowledges: WAIT answers 0,
//! at once when it asks for none, else at its timeout; WAITAOF answers whether the journal is
//! fsynced past the client's last write (`Holds::fsynced`, see `engine/blocking.rs`) and 0
//! replicas. Both park the client through the engine's blocking machinery (no thread is held,
//! the client counts in `blocked_clients`, CLIENT UNBLOCK releases it) and never block inside
//! MULTI or a script (Redis's CLIENT_DENY_BLOCKING: they answer what holds now).
//!
//! A client's last write (`Client::woff`, Redis's `c->woff`) is numbered by persists: the
//! persist that will carry the drain's writes, set after every command (`dispatch::call`), so a
//! read also waits for what other clients wrote before it, as in Redis.

use bytes::Bytes;

use super::common::*;
use crate::args::parse_i64;
use crate::engine::{BlockKind, BlockSpec, Ctx};
use crate::reply::{CmdResult, ReplyError, NOT_INTEGER};

/// Redis's `getTimeoutFromObjectOrReply` in milliseconds: the timeout in ms (0 = none), or
/// `None` when the deadline overflows (Redis adds the time to it and the sum wraps negative:
/// a blocked client then never times out, a pause ends at once).
pub fn timeout_ms(arg: &[u8], now_ms: u64) -> Result<Option<u64>, ReplyError> {
    let v = parse_i64(arg).ok_or(ReplyError::from(
        "ERR timeout is not an integer or out of range",
    ))?;
    if v < 0 {
        return Err("ERR timeout is negative".into());
    }
    if v > 0 && v.checked_add(now_ms as i64).is_none() {
        return Ok(None);
    }
    Ok(Some(v as u64))
}

/// Whether the client may block: not inside EXEC or a script.
fn may_block(ctx: &Ctx<'_>) -> bool {
    !ctx.client.in_exec
}

fn park(ctx: &mut Ctx<'_>, argv: &[Bytes], kind: BlockKind, timeout_ms: u64) {
    ctx.srv.holds.kind = Some(kind);
    ctx.block = Some(BlockSpec {
        keys: Vec::new(),
        wake_if: Vec::new(),
        timeout_ms,
        argv: argv.to_vec(),
    });
}

pub fn wait(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let numreplicas = parse_i64(&argv[1]).ok_or(ReplyError::from(NOT_INTEGER))?;
    let timeout = timeout_ms(&argv[2], ctx.now_ms)?.unwrap_or(0);
    // No replica acknowledges: enough only when none is asked for.
    if numreplicas <= 0 || !may_block(ctx) {
        ctx.out.int(0);
        return Ok(());
    }
    park(ctx, argv, BlockKind::Wait, timeout);
    Ok(())
}

pub fn waitaof(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let numlocal = parse_i64(&argv[1]).ok_or(ReplyError::from(NOT_INTEGER))?;
    if !(0..=1).contains(&numlocal) {
        return Err("ERR value is out of range, value must between 0 and 1".into());
    }
    let numreplicas = parse_i64(&argv[2]).ok_or(ReplyError::from(NOT_INTEGER))?;
    if numreplicas < 0 {
        return Err("ERR value is out of range, must be positive".into());
    }
    let timeout = timeout_ms(&argv[3], ctx.now_ms)?.unwrap_or(0);
    // (Sluice always journals: Redis's "numlocal is set but appendonly is disabled" error
    // cannot happen.)
    let woff = ctx.client.woff;
    // Under `always` the reply leaves only after this drain's fdatasync, so every write
    // acknowledged before it is on disk by then.
    let acked =
        woff <= ctx.srv.holds.fsynced || ctx.srv.config.appendfsync == crate::config::Fsync::Always;
    if (acked as i64 >= numlocal && numreplicas == 0) || !may_block(ctx) {
        ctx.out.array(2);
        ctx.out.int(i64::from(acked));
        ctx.out.int(0);
        return Ok(());
    }
    let kind = BlockKind::WaitAof {
        woff,
        numreplicas: numreplicas > 0,
    };
    park(ctx, argv, kind, timeout);
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// The table rows of this family (see `commands/mod.rs`).

pub static COMMANDS: &[Command] = &[
    cmd("wait", 3, wait)
        .tips(&["request_policy:all_shards", "response_policy:agg_min"])
        .flags(&["noscript"])
        .acl(&["@slow", "@connection"])
        .doc(
            "generic",
            "3.0.0",
            "O(1)",
            "Wait for the synchronous replication of all the write commands sent in the context of the current connection",
        )
        .args(&[arg("numreplicas", "integer"), arg("timeout", "integer")]),
    cmd("waitaof", 4, waitaof)
        .tips(&["request_policy:all_shards", "response_policy:agg_min"])
        .flags(&["noscript"])
        .acl(&["@slow", "@connection"])
        .doc(
            "generic",
            "7.2.0",
            "O(1)",
            "Blocks until all of the preceding write commands sent by the connection are written to the append-only file of the master and/or replicas.",
        )
        .args(&[
            arg("numlocal", "integer"),
            arg("numreplicas", "integer"),
            arg("timeout", "integer"),
        ]),
];
