//! Idempotent producers (Redis 8.6): the `IDMP pid iid` / `IDMPAUTO pid` options of XADD (parsed
//! here, applied by `streams::xadd`), XCFGSET, and the IDMP fields of XINFO STREAM. The
//! window itself lives in the storage crate (`stream::idmp`, `store/idmp.rs`).
//!
//! Error texts and checking order follow Redis's own tests (`tests/unit/type/stream.tcl`,
//! 8.6): "IDMP/IDMPAUTO specified multiple times", "IDMP/IDMPAUTO can be used only with
//! auto-generated IDs", "IDMP requires a non-empty producer ID", "IDMP requires a non-empty
//! idempotent ID", "IDMPAUTO requires a non-empty producer ID", "At least one parameter must be
//! specified" (XCFGSET); the tests match the range errors only up to "IDMP-DURATION must be
//! between" / "IDMP-MAXSIZE must be between", the rest of those two texts is unconfirmed.

use bytes::Bytes;
use sluice_storage::stream::idmp::{auto_digest, iid_digest, DURATION_MAX, MAXSIZE_MAX};
use sluice_storage::stream::StreamId;
use sluice_storage::{IdmpDefaults, IdmpInfo, WrongType};

use super::common::*;
use crate::args::{eq, Args};
use crate::engine::Ctx;
use crate::reply::{CmdResult, ReplyError, SYNTAX, WRONGTYPE};

/// XADD's idempotency option.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IdmpOpt {
    /// `IDMP pid iid`
    Explicit { pid: Bytes, iid: Bytes },
    /// `IDMPAUTO pid`: the iid is a digest of the fields.
    Auto { pid: Bytes },
}

impl IdmpOpt {
    pub fn pid(&self) -> &Bytes {
        match self {
            IdmpOpt::Explicit { pid, .. } | IdmpOpt::Auto { pid } => pid,
        }
    }

    /// The iid digest the window keys this XADD by.
    pub fn digest(&self, fields: &[Bytes]) -> u128 {
        match self {
            IdmpOpt::Explicit { iid, .. } => iid_digest(iid),
            IdmpOpt::Auto { .. } => auto_digest(fields),
        }
    }
}

pub const MULTIPLE: &str = "ERR IDMP/IDMPAUTO specified multiple times";
pub const AUTO_ID_ONLY: &str = "ERR IDMP/IDMPAUTO can be used only with auto-generated IDs";

/// Parses `IDMP pid iid` / `IDMPAUTO pid` if `opt` is one of them (with enough arguments after
/// it; otherwise the caller treats `opt` as the ID, as Redis does). `Ok(false)`: not ours.
pub fn parse_xadd_opt(
    opt: &[u8],
    args: &mut Args<'_>,
    slot: &mut Option<IdmpOpt>,
) -> Result<bool, ReplyError> {
    let more = args.remaining();
    if eq(opt, "IDMP") && more >= 2 {
        if slot.is_some() {
            return Err(MULTIPLE.into());
        }
        let pid = args.next()?;
        if pid.is_empty() {
            return Err("ERR IDMP requires a non-empty producer ID".into());
        }
        let iid = args.next()?;
        if iid.is_empty() {
            return Err("ERR IDMP requires a non-empty idempotent ID".into());
        }
        *slot = Some(IdmpOpt::Explicit {
            pid: pid.clone(),
            iid: iid.clone(),
        });
        Ok(true)
    } else if eq(opt, "IDMPAUTO") && more >= 1 {
        if slot.is_some() {
            return Err(MULTIPLE.into());
        }
        let pid = args.next()?;
        if pid.is_empty() {
            return Err("ERR IDMPAUTO requires a non-empty producer ID".into());
        }
        *slot = Some(IdmpOpt::Auto { pid: pid.clone() });
        Ok(true)
    } else {
        Ok(false)
    }
}

/// The settings a new window starts with (the server's config).
pub fn defaults(ctx: &Ctx<'_>) -> IdmpDefaults {
    IdmpDefaults {
        duration_s: ctx.srv.config.stream_idmp_duration,
        maxsize: ctx.srv.config.stream_idmp_maxsize,
    }
}

/// Fields XINFO STREAM adds when the stream has a window: how many pairs, then the pairs.
pub const INFO_FIELDS: usize = 6;

pub fn write_info(ctx: &mut Ctx<'_>, info: &IdmpInfo) {
    let out = &mut *ctx.out;
    for (name, v) in [
        (&b"idmp-duration"[..], info.duration_s),
        (b"idmp-maxsize", info.maxsize),
        (b"pids-tracked", info.pids_tracked),
        (b"iids-tracked", info.iids_tracked),
        (b"iids-added", info.iids_added),
        (b"iids-duplicates", info.iids_duplicates),
    ] {
        out.bulk(name);
        out.int(v as i64);
    }
}

/// XCFGSET key [IDMP-DURATION duration] [IDMP-MAXSIZE maxsize]
struct Xcfgset<'a> {
    key: &'a Bytes,
    duration: Option<u64>,
    maxsize: Option<u64>,
}

impl<'a> Xcfgset<'a> {
    fn parse(argv: &'a [Bytes]) -> Result<Self, ReplyError> {
        let mut args = Args::new(argv.get(1..).unwrap_or_default());
        let key = args.next()?;
        let (mut duration, mut maxsize) = (None, None);
        while let Some(opt) = args.next_opt() {
            let dur = eq(opt, "IDMP-DURATION");
            if !dur && !eq(opt, "IDMP-MAXSIZE") {
                return Err(SYNTAX.into());
            }
            let Some(v) = args.next_opt() else {
                return Err(SYNTAX.into());
            };
            let n = crate::args::int(v)?;
            if dur {
                if !(1..=DURATION_MAX as i64).contains(&n) {
                    return Err(format!(
                        "ERR IDMP-DURATION must be between 1 and {DURATION_MAX} seconds"
                    )
                    .into());
                }
                duration = Some(n as u64);
            } else {
                if !(1..=MAXSIZE_MAX as i64).contains(&n) {
                    return Err(format!(
                        "ERR IDMP-MAXSIZE must be between 1 and {MAXSIZE_MAX} entries"
                    )
                    .into());
                }
                maxsize = Some(n as u64);
            }
        }
        if duration.is_none() && maxsize.is_none() {
            return Err("ERR At least one parameter must be specified".into());
        }
        Ok(Xcfgset {
            key,
            duration,
            maxsize,
        })
    }
}

pub fn xcfgset(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let Xcfgset {
        key,
        duration,
        maxsize,
    } = Xcfgset::parse(argv)?;
    let db = ctx.db();
    let exists = ctx
        .store
        .stream(db, key, ctx.now_ms)
        .map_err(|_: WrongType| ReplyError::from(WRONGTYPE))?
        .is_some();
    if !exists {
        return Err(crate::reply::NO_SUCH_KEY.into());
    }
    let d = defaults(ctx);
    ctx.store.idmp_configure(db, key, duration, maxsize, d);
    ctx.out.ok();
    Ok(())
}

/// XIDMPRECORD key pid iid id
struct Xidmprecord<'a> {
    key: &'a Bytes,
    pid: &'a Bytes,
    iid: &'a Bytes,
    id: StreamId,
}

impl<'a> Xidmprecord<'a> {
    fn parse(argv: &'a [Bytes]) -> Result<Self, ReplyError> {
        let mut args = Args::new(argv.get(1..).unwrap_or_default());
        let key = args.next()?;
        let pid = args.next()?;
        let iid = args.next()?;
        let id = super::stream_id::strict(args.next()?, 0)?;
        if pid.is_empty() {
            return Err("ERR IDMP requires a non-empty producer ID".into());
        }
        if iid.is_empty() {
            return Err("ERR IDMP requires a non-empty idempotent ID".into());
        }
        Ok(Xidmprecord { key, pid, iid, id })
    }
}

/// XIDMPRECORD (8.6.2/8.8, internal: Redis's AOF rewrite restores windows with it): records
/// that `pid`'s `iid` added the existing entry `id`.
pub fn xidmprecord(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let Xidmprecord { key, pid, iid, id } = Xidmprecord::parse(argv)?;
    let db = ctx.db();
    let Some(sid) = ctx
        .store
        .stream(db, key, ctx.now_ms)
        .map_err(|_: WrongType| ReplyError::from(WRONGTYPE))?
        .map(|m| m.sid)
    else {
        return Err(crate::reply::NO_SUCH_KEY.into());
    };
    let found = ctx
        .store
        .stream_range(sid, id, id, false, Some(1))
        .map_err(super::streams::storage_error)?;
    if found.is_empty() {
        return Err("ERR The specified stream ID was deleted or doesn't exist".into());
    }
    let d = defaults(ctx);
    let now = ctx.now_ms;
    if ctx
        .store
        .idmp_record(db, key, pid, iid_digest(iid), id, now, d)
        .is_err()
    {
        return Err(
            "ERR The specified IDMP producer-id/idempotent-id pair maps to a different stream ID"
                .into(),
        );
    }
    ctx.out.ok();
    Ok(())
}

pub static COMMANDS: &[Command] = &[
    cmd("xcfgset", -2, xcfgset)
        .flags(&["write", "fast"])
        .keys(1, 1, 1, &[ks(&["RW", "update"], 1, 0, 1)])
        .acl(&["@write", "@stream", "@fast"])
        .doc(
            "stream",
            "8.6.0",
            "O(1)",
            "Sets the IDMP configuration parameters for a stream.",
        )
        .args(&[
            arg("key", "key"),
            arg("duration", "integer").token("IDMP-DURATION").opt(),
            arg("maxsize", "integer").token("IDMP-MAXSIZE").opt(),
        ]),
    cmd("xidmprecord", 5, xidmprecord)
        .flags(&["write", "fast"])
        .keys(1, 1, 1, &[ks(&["RW", "update"], 1, 0, 1)])
        .acl(&["@write", "@stream", "@fast"])
        .doc(
            "stream",
            "8.8.0",
            "O(1)",
            "An internal command for restoring the IDMP state of a stream.",
        )
        .args(&[
            arg("key", "key"),
            arg("pid", "string"),
            arg("iid", "string"),
            arg("stream-id", "string"),
        ]),
];
