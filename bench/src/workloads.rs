//! The catalogue of throughput workloads.

use crate::cli::{Fsync, Settings};
use crate::model::Unit;
use crate::util::count;

/// A redis-benchmark command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RbCmd {
    Ping,
    Set,
    Get,
    Xadd,
    /// XADD with `MAXLEN ~ 100000` (a capped stream, as job queues and logs keep them).
    XaddCapped,
    /// EVALSHA of [`LOCK_RELEASE`] (redis-py's and most lock libraries' release), loaded with
    /// SCRIPT LOAD on both servers before each run.
    Evalsha,
}

/// The lock-release script the EVALSHA rows run: delete the key only if it holds the caller's
/// token.
pub const LOCK_RELEASE: &str =
    "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end";

/// SHA1 of [`LOCK_RELEASE`], what SCRIPT LOAD answers (checked before every run).
pub const LOCK_RELEASE_SHA: &str = "e9f69f2beb755be68b5e456ee2ce9aadfbc4ebf4";

impl RbCmd {
    pub fn name(self) -> &'static str {
        match self {
            RbCmd::Ping => "PING",
            RbCmd::Set => "SET",
            RbCmd::Get => "GET",
            RbCmd::Xadd => "XADD",
            RbCmd::XaddCapped => "XADD MAXLEN ~",
            RbCmd::Evalsha => "EVALSHA",
        }
    }

    /// The command line given to redis-benchmark.
    pub fn command(self) -> Vec<String> {
        let v: &[&str] = match self {
            RbCmd::Ping => &["PING"],
            RbCmd::Set => &["SET", "key:__rand_int__", "xxx"],
            RbCmd::Get => &["GET", "key:__rand_int__"],
            RbCmd::Xadd => &["XADD", "bench:rb-xadd", "*", "field", "__rand_int__"],
            RbCmd::XaddCapped => &[
                "XADD",
                "bench:rb-xadd",
                "MAXLEN",
                "~",
                "100000",
                "*",
                "field",
                "__rand_int__",
            ],
            RbCmd::Evalsha => &[
                "EVALSHA",
                LOCK_RELEASE_SHA,
                "1",
                "key:__rand_int__",
                "token",
            ],
        };
        v.iter().map(|s| s.to_string()).collect()
    }
}

/// A load-generator workload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lg {
    Xadd,
    Xrange,
    Xread,
    XreadGroup,
    Xack,
    GroupFlow,
    JobQueue,
}

impl Lg {
    /// Whether it reads the pre-loaded stream.
    pub fn needs_stream(self) -> bool {
        matches!(
            self,
            Lg::Xrange | Lg::Xread | Lg::XreadGroup | Lg::Xack | Lg::GroupFlow
        )
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Rb {
        cmd: RbCmd,
        pipeline: usize,
    },
    /// A load-generator workload with its pipeline depth.
    Lg {
        lg: Lg,
        pipeline: usize,
    },
}

/// One throughput workload.
#[derive(Clone, Debug)]
pub struct Workload {
    pub id: String,
    pub name: String,
    pub kind: Kind,
    pub unit: Unit,
    /// Also run at the durability levels other than `no`.
    pub durable: bool,
    pub about: String,
}

impl Workload {
    pub fn runs_at(&self, level: Fsync) -> bool {
        level == Fsync::No || self.durable
    }
}

/// Every workload, in run order.
pub fn catalog(s: &Settings) -> Vec<Workload> {
    let mut v = Vec::new();
    let c = s.connections;
    let p = s.pipeline;
    // One request in flight per connection (-P 1) is how most workers talk to a server: those
    // rows run at every durability in the full mode.
    let durable_rb = |cmd: RbCmd, pl: usize| -> bool {
        (pl == 1 && !s.quick) || (pl > 1 && (cmd == RbCmd::Xadd || (cmd == RbCmd::Set && !s.quick)))
    };
    for pl in [1usize, 16] {
        let capped = if pl > 1 {
            Some(RbCmd::XaddCapped)
        } else {
            None
        };
        for cmd in [RbCmd::Ping, RbCmd::Set, RbCmd::Get, RbCmd::Xadd]
            .into_iter()
            .chain(capped)
            .chain([RbCmd::Evalsha])
        {
            let slug = match cmd {
                RbCmd::XaddCapped => "xadd-capped".to_string(),
                c => c.name().to_lowercase(),
            };
            let mut about = format!(
                "redis-benchmark -c {c} -P {pl} -r 100000 {}",
                cmd.command().join(" ")
            );
            if cmd == RbCmd::Evalsha {
                about.push_str(&format!(
                    " (lock release: {LOCK_RELEASE}; loaded with SCRIPT LOAD first; the keys hold no token, so each call runs GET and returns 0)"
                ));
            }
            v.push(Workload {
                id: format!("rb-{slug}-p{pl}"),
                name: format!("redis-benchmark {} -P {pl}", cmd.name()),
                kind: Kind::Rb { cmd, pipeline: pl },
                unit: Unit::OpsPerSec,
                // The EVALSHA rows never write (the keys never hold the token): one level is
                // enough.
                durable: durable_rb(cmd, pl) && cmd != RbCmd::Evalsha,
                about,
            });
        }
    }
    let n = count(s.stream_entries);
    let lg_p =
        |id: &str, name: String, k: Lg, pl: usize, unit: Unit, durable: bool, about: String| {
            Workload {
                id: id.into(),
                name,
                kind: Kind::Lg {
                    lg: k,
                    pipeline: pl,
                },
                unit,
                durable,
                about,
            }
        };
    let lg = |id: &str, name: String, k: Lg, unit: Unit, durable: bool, about: String| {
        lg_p(id, name, k, p, unit, durable, about)
    };
    v.push(lg(
        "xadd",
        format!("XADD (-P {p})"),
        Lg::Xadd,
        Unit::OpsPerSec,
        true,
        format!("{c} connections, pipeline {p}: XADD key * field <12 digits> on a new stream"),
    ));
    v.push(lg(
        "xrange",
        format!("XRANGE 10 on {n} (-P {p})"),
        Lg::Xrange,
        Unit::OpsPerSec,
        false,
        format!("XRANGE key <random ms> + COUNT 10 on a {n}-entry stream"),
    ));
    v.push(lg(
        "xread",
        format!("XREAD COUNT 10 on {n} (-P {p})"),
        Lg::Xread,
        Unit::OpsPerSec,
        false,
        format!("XREAD COUNT 10 STREAMS key <random ms>-0 on the {n}-entry stream"),
    ));
    v.push(lg(
        "xreadgroup",
        format!("XREADGROUP COUNT 1 > (-P {p})"),
        Lg::XreadGroup,
        Unit::OpsPerSec,
        false,
        format!("{c} consumers of a new group, XREADGROUP ... COUNT 1 STREAMS key >, pipeline {p}"),
    ));
    v.push(lg(
        "xack",
        format!("XACK 1 id (-P {p})"),
        Lg::Xack,
        Unit::OpsPerSec,
        false,
        format!(
            "XACK of one pending ID per command, pipeline {p} (IDs first delivered by XREADGROUP COUNT 1000)"
        ),
    ));
    v.push(lg(
        "group-flow",
        "group flow: read 16, ack 16".into(),
        Lg::GroupFlow,
        Unit::MsgPerSec,
        false,
        format!("{c} consumers loop XREADGROUP COUNT 16 > then XACK of those 16; messages acked per second"),
    ));
    v.push(lg(
        "job-queue",
        "job queue (XADD→XACK latency)".into(),
        Lg::JobQueue,
        Unit::JobsPerSec,
        !s.quick,
        format!(
            "{} producers XADD (pipeline {p}), {} consumers XREADGROUP COUNT 16 BLOCK 100 + XACK, 1 % never acked and recovered by XAUTOCLAIM; latency is XADD to XACK",
            (c / 5).max(1),
            c.saturating_sub((c / 5).max(1)).max(1)
        ),
    ));
    // The consumer-group and job-queue rows with one request in flight per connection.
    v.push(lg_p(
        "xreadgroup-p1",
        "XREADGROUP COUNT 1 > (-P 1)".into(),
        Lg::XreadGroup,
        1,
        Unit::OpsPerSec,
        !s.quick,
        format!("{c} consumers of a new group, XREADGROUP ... COUNT 1 STREAMS key >, one request in flight each"),
    ));
    v.push(lg_p(
        "xack-p1",
        "XACK 1 id (-P 1)".into(),
        Lg::Xack,
        1,
        Unit::OpsPerSec,
        !s.quick,
        "XACK of one pending ID per command, one request in flight per connection".into(),
    ));
    v.push(lg_p(
        "job-queue-p1",
        "job queue (XADD→XACK latency, -P 1)".into(),
        Lg::JobQueue,
        1,
        Unit::JobsPerSec,
        !s.quick,
        format!(
            "{} producers XADD one at a time, {} consumers XREADGROUP COUNT 16 BLOCK 100 + XACK, 1 % never acked and recovered by XAUTOCLAIM; latency is XADD to XACK",
            (c / 5).max(1),
            c.saturating_sub((c / 5).max(1)).max(1)
        ),
    ));
    v
}
