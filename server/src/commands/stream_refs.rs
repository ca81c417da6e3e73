//! Reference-aware deletion (Redis 8.2): XDELEX and XACKDEL, and the `KEEPREF|DELREF|ACKED`
//! tokens XADD and XTRIM share with them (`ref_policy`).
//!
//! Parsing follows Redis's `streamParseAckDelArgsOrReply` as its tests show it: after the key
//! (and XACKDEL's group) any order of at most one policy and the `IDS numids id …` block; a
//! second policy or anything else is a syntax error; `numids` must be a positive integer and
//! no larger than what follows it. The IDs are parsed (strictly) before the key is looked up.
//! Execution is the store's (`Store::stream_delete_refs`, `Store::stream_ack_delete`), which
//! stages the entry deletions and the PEL changes in the command's batch.
//!
//! Replies: an array with one integer per requested ID (RESP2 and RESP3 alike): -1 not found
//! (XACKDEL: not pending in the group, or no such key or group), 1 deleted, 2 kept because a
//! group still references it (ACKED). A stream without groups references nothing, so XDELEX
//! ACKED deletes there (Redis's tests: after XGROUP DESTROY of the last group, ACKED deletes).

use bytes::Bytes;
use sluice_storage::stream::StreamId;
use sluice_storage::{DelOutcome, RefPolicy, WrongType};

use super::common::*;
use super::stream_id;
use super::streams::storage_error;
use crate::args::{eq, parse_i64, Args};
use crate::engine::Ctx;
use crate::reply::{CmdResult, ReplyError, SYNTAX, WRONGTYPE};

/// The argument docs of the policy tokens (XADD, XTRIM, XDELEX, XACKDEL).
pub const REF_POLICY_ARGS: &[Arg] = &[
    arg("keepref", "pure-token").token("KEEPREF"),
    arg("delref", "pure-token").token("DELREF"),
    arg("acked", "pure-token").token("ACKED"),
];

/// `KEEPREF`, `DELREF` or `ACKED` (any case).
pub fn ref_policy(opt: &[u8]) -> Option<RefPolicy> {
    if eq(opt, "KEEPREF") {
        Some(RefPolicy::KeepRef)
    } else if eq(opt, "DELREF") {
        Some(RefPolicy::DelRef)
    } else if eq(opt, "ACKED") {
        Some(RefPolicy::Acked)
    } else {
        None
    }
}

const NUMIDS_NOT_POSITIVE: &str = "ERR Number of IDs must be a positive integer";
const NUMIDS_MISMATCH: &str = "ERR The `numids` parameter must match the number of arguments";
const IDS_REQUIRED: &str = "ERR IDS option is required";

/// `[KEEPREF|DELREF|ACKED] IDS numids id …` in any order.
struct RefArgs {
    policy: RefPolicy,
    ids: Vec<StreamId>,
}

impl RefArgs {
    fn parse(args: &mut Args<'_>) -> Result<RefArgs, ReplyError> {
        let mut policy: Option<RefPolicy> = None;
        let mut ids: Option<Vec<StreamId>> = None;
        while let Some(opt) = args.next_opt() {
            if let Some(p) = ref_policy(opt).filter(|_| policy.is_none()) {
                policy = Some(p);
            } else if eq(opt, "IDS") && args.remaining() > 0 {
                let n = args
                    .next_opt()
                    .and_then(|v| parse_i64(v))
                    .filter(|n| *n >= 1)
                    .ok_or(ReplyError::from(NUMIDS_NOT_POSITIVE))?;
                if n as u64 > args.remaining() as u64 {
                    return Err(NUMIDS_MISMATCH.into());
                }
                let mut v = Vec::with_capacity(n as usize);
                for _ in 0..n {
                    v.push(stream_id::strict(args.next()?, 0)?);
                }
                ids = Some(v);
            } else {
                return Err(SYNTAX.into());
            }
        }
        let ids = ids.ok_or(ReplyError::from(IDS_REQUIRED))?;
        Ok(RefArgs {
            policy: policy.unwrap_or_default(),
            ids,
        })
    }
}

fn reply_codes(ctx: &mut Ctx<'_>, outcomes: &[DelOutcome]) {
    ctx.out.array(outcomes.len());
    for o in outcomes {
        ctx.out.int(o.code());
    }
}

fn wrongtype(_: WrongType) -> ReplyError {
    WRONGTYPE.into()
}

/// XDELEX key [KEEPREF|DELREF|ACKED] IDS numids id [id …]
pub fn xdelex(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let mut args = Args::new(argv.get(1..).unwrap_or_default());
    let key = args.next()?;
    let RefArgs { policy, ids } = RefArgs::parse(&mut args)?;
    let db = ctx.db();
    if ctx
        .store
        .stream(db, key, ctx.now_ms)
        .map_err(wrongtype)?
        .is_none()
    {
        reply_codes(ctx, &vec![DelOutcome::NotFound; ids.len()]);
        return Ok(());
    }
    let outcomes = ctx
        .store
        .stream_delete_refs(db, key, &ids, policy, ctx.now_ms)
        .map_err(storage_error)?;
    reply_codes(ctx, &outcomes);
    Ok(())
}

/// XACKDEL key group [KEEPREF|DELREF|ACKED] IDS numids id [id …]
pub fn xackdel(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let mut args = Args::new(argv.get(1..).unwrap_or_default());
    let (key, group) = (args.next()?, args.next()?);
    let RefArgs { policy, ids } = RefArgs::parse(&mut args)?;
    let db = ctx.db();
    // A missing key or group answers -1 for every ID (Redis's tests), not NOGROUP.
    let found = ctx
        .store
        .stream(db, key, ctx.now_ms)
        .map_err(wrongtype)?
        .is_some_and(|m| m.groups.contains_key(group.as_ref()));
    if !found {
        reply_codes(ctx, &vec![DelOutcome::NotFound; ids.len()]);
        return Ok(());
    }
    let outcomes = ctx
        .store
        .stream_ack_delete(db, key, group, &ids, policy, ctx.now_ms)
        .map_err(storage_error)?;
    reply_codes(ctx, &outcomes);
    Ok(())
}

const IDS_ARGS: &[Arg] = &[arg("numids", "integer"), arg("id", "string").many()];

#[rustfmt::skip]
pub static COMMANDS: &[Command] = &[
    cmd("xdelex", -5, xdelex)
        .flags(&["write", "fast"])
        .keys(1, 1, 1, &[ks(&["RW", "delete"], 1, 0, 1)])
        .acl(&["@write", "@stream", "@fast"])
        .doc("stream", "8.2.0", "O(1) for each single item to delete in the stream, regardless of the stream size.", "Deletes one or multiple entries from the stream.")
        .args(&[
            arg("key", "key"),
            arg("condition", "oneof").opt().of(REF_POLICY_ARGS),
            arg("ids", "block").token("IDS").of(IDS_ARGS),
        ]),
    cmd("xackdel", -6, xackdel)
        .flags(&["write", "fast"])
        .keys(1, 1, 1, &[ks(&["RW", "delete"], 1, 0, 1)])
        .acl(&["@write", "@stream", "@fast"])
        .doc("stream", "8.2.0", "O(1) for each entry ID processed.", "Acknowledges and deletes one or multiple messages for a stream consumer group.")
        .args(&[
            arg("key", "key"),
            arg("group", "string"),
            arg("condition", "oneof").opt().of(REF_POLICY_ARGS),
            arg("ids", "block").token("IDS").of(IDS_ARGS),
        ]),
];
