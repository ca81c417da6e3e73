//! Command line and the settings it resolves to (quick or full mode).

use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, ValueEnum};

/// Durability level. Sluice gets `--appendfsync <level>`; Redis gets no AOF for `no`, and
/// `--appendonly yes --appendfsync <level>` for the others.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, ValueEnum)]
pub enum Fsync {
    No,
    Everysec,
    Always,
}

impl Fsync {
    pub fn name(self) -> &'static str {
        match self {
            Fsync::No => "no",
            Fsync::Everysec => "everysec",
            Fsync::Always => "always",
        }
    }
}

/// The phases of a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, ValueEnum)]
pub enum Phase {
    /// redis-benchmark and the Rust load generator: throughput and latency.
    Throughput,
    /// The job queue against the real Disque (not Redis): ADDJOB, GETJOB NOHANG, add → get →
    /// ack, memory per queued job and restart time. Skipped when disque-server is missing.
    Jobs,
    /// RSS (and Redis's used_memory) after loading N entries.
    Memory,
    /// Disk bytes per entry, and time from process start to the first answered command.
    Restart,
    /// Whether one client can hold up the others: PING latency and peak RSS while a client
    /// pipelines huge XRANGE replies; XADD rate with thousands of blocked readers.
    Fairness,
    /// Consumer groups as job queues (XQ.*): a flow with 10 % of jobs never acknowledged,
    /// server-side redelivery against Redis with a janitor; the longest pause while N delayed
    /// entries fall due at once (Sluice only). Not in the default phases.
    Queues,
}

/// Side-by-side benchmark of Sluice against the real redis-server.
///
/// Starts both servers (fresh data directories, free ports, matching durability), runs every
/// workload on both alternately (Sluice, Redis, Sluice, Redis, ...), and writes a markdown table,
/// CSV files and an SVG chart of the Sluice/Redis ratios to --out.
#[derive(Parser, Debug, Clone)]
#[command(name = "sluice-bench", version, about, long_about)]
pub struct Args {
    /// Quick mode: small data sets and short runs (under 3 minutes in all).
    #[arg(long)]
    pub quick: bool,

    /// Output directory [default: bench/results/<UTC timestamp>/].
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,

    /// Sluice binary [default: built with `cargo build --release -p sluice-server --bin sluice`].
    /// A redis-server binary works too (it is started with Redis's flags): useful to test the
    /// harness with Redis on both sides.
    #[arg(long, value_name = "PATH")]
    pub sluice_bin: Option<PathBuf>,

    /// redis-server binary.
    #[arg(long, value_name = "PATH", default_value = "redis-server")]
    pub redis_bin: PathBuf,

    /// redis-benchmark binary (Debian's redis-tools).
    #[arg(long, value_name = "PATH", default_value = "redis-benchmark")]
    pub redis_benchmark: PathBuf,

    /// disque-server binary for the jobs phase [default: $DISQUE_BIN, else
    /// target/disque/bin/disque-server, built by scripts/build-disque.sh].
    #[arg(long, value_name = "PATH")]
    pub disque_bin: Option<PathBuf>,

    /// Queues phase: delayed entries falling due at once in the pause row [quick: 100000,
    /// full: 1000000].
    #[arg(long, value_name = "N")]
    pub queue_delayed: Option<u64>,

    /// Jobs phase: queued jobs for the memory and restart rows [quick: 100000, full: 1000000].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1000..))]
    pub jobs_queued: Option<u64>,

    /// Use a Sluice that is already running at HOST:PORT instead of starting one
    /// (memory and restart phases are then skipped).
    #[arg(long, value_name = "HOST:PORT")]
    pub sluice_addr: Option<String>,

    /// Use a Redis that is already running at HOST:PORT instead of starting one.
    #[arg(long, value_name = "HOST:PORT")]
    pub redis_addr: Option<String>,

    /// Phases to run.
    #[arg(long, value_enum, value_delimiter = ',', default_values_t = [Phase::Throughput, Phase::Memory, Phase::Restart, Phase::Fairness, Phase::Jobs])]
    pub phases: Vec<Phase>,

    /// Durability levels. Every workload runs at `no`; the write workloads also run at each
    /// other level given.
    #[arg(long, value_enum, value_delimiter = ',', default_values_t = [Fsync::No, Fsync::Everysec, Fsync::Always])]
    pub fsync: Vec<Fsync>,

    /// Run only the workloads whose id contains one of these strings (see --list).
    #[arg(long, value_delimiter = ',', value_name = "PATTERN")]
    pub only: Vec<String>,

    /// Skip the workloads whose id contains one of these strings.
    #[arg(long, value_delimiter = ',', value_name = "PATTERN")]
    pub skip: Vec<String>,

    /// Repetitions of each workload on each server (at least 3 for a meaningful min-max).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..))]
    pub reps: u32,

    /// Client connections (redis-benchmark -c, and the load generator).
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..))]
    pub connections: u32,

    /// Pipeline depth of the load generator's pipelined workloads.
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u32).range(1..))]
    pub pipeline: u32,

    /// Threads of the load generator (redis-benchmark uses one).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    pub client_threads: u32,

    /// Seconds measured per load-generator run [quick: 1, full: 8].
    #[arg(long, value_name = "SECS")]
    pub duration: Option<f64>,

    /// Warm-up seconds before each load-generator run is measured [quick: 0.25, full: 1].
    #[arg(long, value_name = "SECS")]
    pub warmup: Option<f64>,

    /// Requests per redis-benchmark run at -P 1; runs at -P 16 send 8 times as many
    /// [quick: 40000, full: 200000].
    #[arg(long, value_name = "N")]
    pub rb_requests: Option<u64>,

    /// Entries of the stream read by XRANGE, XREAD, XREADGROUP, XACK and the group flow
    /// [quick: 300000, full: 3000000].
    #[arg(long, value_name = "N")]
    pub stream_entries: Option<u64>,

    /// Sizes at which the memory phase measures RSS [quick: 200000, full: 1000000,10000000].
    #[arg(long, value_delimiter = ',', value_name = "N,...")]
    pub mem_entries: Vec<u64>,

    /// Entries loaded before the restart phase restarts the servers [quick: 200000, full: 10000000].
    #[arg(long, value_name = "N")]
    pub restart_entries: Option<u64>,

    /// Fairness phase: pipelined `XRANGE key - +` (about 5.8 MB each) sent by the greedy client
    /// to Sluice [quick: 200, full: 2000].
    #[arg(long, value_name = "N")]
    pub fair_xranges: Option<u64>,

    /// Fairness phase: the same for Redis, which builds every reply in memory (N × 5.8 MB), so
    /// fewer [quick: 100, full: 300; at most --fair-xranges].
    #[arg(long, value_name = "N")]
    pub fair_redis_xranges: Option<u64>,

    /// Fairness phase: the greedy XRANGE connection is closed when the server's RSS passes this
    /// many MiB (either server; said in the report).
    #[arg(long, value_name = "MIB", default_value_t = 3072, value_parser = clap::value_parser!(u64).range(64..))]
    pub fair_rss_limit_mib: u64,

    /// Fairness phase: connections blocked in XREADGROUP ... BLOCK 0 while the producer runs.
    #[arg(long, value_name = "N", default_value_t = 2000, value_parser = clap::value_parser!(u64).range(1..100_000))]
    pub fair_readers: u64,

    /// Fairness phase: seconds the producer sends XADDs to the blocked readers [quick: 1, full: 5].
    #[arg(long, value_name = "SECS")]
    pub fair_duration: Option<f64>,

    /// Where the servers' data directories are created [default: the system temp dir].
    #[arg(long, value_name = "DIR")]
    pub work_dir: Option<PathBuf>,

    /// Rebuild results.md, results.csv and ratios.svg of an earlier run from its runs.csv and
    /// run.txt, and exit (no server is started).
    #[arg(long, value_name = "DIR")]
    pub replot: Option<PathBuf>,

    /// List the workloads and exit.
    #[arg(long)]
    pub list: bool,
}

/// Everything a run needs, with the mode's defaults filled in.
#[derive(Clone, Debug)]
pub struct Settings {
    pub quick: bool,
    pub reps: u32,
    pub connections: usize,
    pub pipeline: usize,
    pub client_threads: usize,
    pub duration: Duration,
    pub warmup: Duration,
    pub rb_requests_p1: u64,
    pub rb_requests_pn: u64,
    pub stream_entries: u64,
    pub mem_entries: Vec<u64>,
    pub restart_entries: u64,
    pub levels: Vec<Fsync>,
    pub phases: Vec<Phase>,
    pub only: Vec<String>,
    pub skip: Vec<String>,
    /// After its first run on a server, a redis-benchmark workload sends at most as many
    /// requests as that server answers in this time (so a slow server does not stretch a run).
    pub rb_target: Duration,
    /// Pipeline depth used to load data sets.
    pub load_pipeline: usize,
    /// Minimum idle time before the job queue's reaper reclaims a job with XAUTOCLAIM.
    pub reclaim_idle: Duration,
    pub fair: FairSettings,
}

/// The fairness phase's settings.
#[derive(Clone, Debug)]
pub struct FairSettings {
    /// Pipelined `XRANGE key - +` on Sluice and on Redis.
    pub xranges: [u64; 2],
    /// Entries of the stream the XRANGEs read, and the size of each entry's one value.
    pub entries: u64,
    pub value_len: usize,
    /// How long the greedy client reads nothing before reading every reply.
    pub hold: Duration,
    /// One PING every this long (one in flight).
    pub ping_every: Duration,
    /// The greedy connection is closed when the server's RSS passes this.
    pub rss_limit: u64,
    /// A hard limit on one XRANGE-pipeline run.
    pub xrange_timeout: Duration,
    /// Repetitions of the XRANGE pipeline on each server (the blocked-readers case uses --reps).
    pub xrange_reps: u32,
    pub readers: usize,
    /// How long the producer sends XADDs to the blocked readers.
    pub duration: Duration,
    /// Entries of the stream the big-DEL case deletes, and how long its prober runs after.
    pub del_entries: u64,
    pub del_window: Duration,
}

impl Args {
    pub fn settings(&self) -> Result<Settings, String> {
        let q = self.quick;
        let secs = |v: Option<f64>, quick: f64, full: f64| -> Result<Duration, String> {
            let s = v.unwrap_or(if q { quick } else { full });
            if !(s.is_finite() && s > 0.0 && s < 3600.0) {
                return Err(format!("bad number of seconds: {s}"));
            }
            Ok(Duration::from_secs_f64(s))
        };
        let rb = self.rb_requests.unwrap_or(if q { 40_000 } else { 200_000 });
        let mut mem = if self.mem_entries.is_empty() {
            if q {
                vec![200_000]
            } else {
                vec![1_000_000, 10_000_000]
            }
        } else {
            self.mem_entries.clone()
        };
        mem.sort_unstable();
        mem.dedup();
        if mem.first() == Some(&0) {
            return Err("--mem-entries: sizes must be positive".into());
        }
        let mut levels = self.fsync.clone();
        if !levels.contains(&Fsync::No) {
            levels.push(Fsync::No);
        }
        levels.sort_unstable();
        levels.dedup();
        let mut phases = self.phases.clone();
        phases.dedup();
        let xranges = self.fair_xranges.unwrap_or(if q { 200 } else { 2000 });
        if xranges == 0 {
            return Err("--fair-xranges must be positive".into());
        }
        let redis_xranges = self
            .fair_redis_xranges
            .unwrap_or(if q { 100 } else { 300 })
            .clamp(1, xranges);
        let fair = FairSettings {
            xranges: [xranges, redis_xranges],
            entries: 20_000,
            value_len: 248,
            hold: Duration::from_secs(if q { 1 } else { 2 }),
            ping_every: Duration::from_millis(10),
            rss_limit: self.fair_rss_limit_mib * 1024 * 1024,
            xrange_timeout: Duration::from_secs(if q { 60 } else { 150 }),
            xrange_reps: 1,
            readers: self.fair_readers as usize,
            duration: secs(self.fair_duration, 1.0, 5.0)?,
            del_entries: if q { 100_000 } else { 600_000 },
            del_window: Duration::from_secs(if q { 2 } else { 3 }),
        };
        let stream_entries = self
            .stream_entries
            .unwrap_or(if q { 300_000 } else { 3_000_000 });
        if stream_entries < 1000 {
            return Err("--stream-entries must be at least 1000".into());
        }
        Ok(Settings {
            quick: q,
            reps: self.reps,
            connections: self.connections as usize,
            pipeline: self.pipeline as usize,
            client_threads: self.client_threads as usize,
            duration: secs(self.duration, 1.0, 8.0)?,
            warmup: secs(self.warmup, 0.25, 1.0)?,
            rb_requests_p1: rb.max(1),
            rb_requests_pn: rb.max(1) * 8,
            stream_entries,
            mem_entries: mem,
            restart_entries: self
                .restart_entries
                .unwrap_or(if q { 200_000 } else { 10_000_000 })
                .max(1),
            levels,
            phases,
            only: self.only.clone(),
            skip: self.skip.clone(),
            rb_target: Duration::from_secs_f64(if q { 0.5 } else { 3.0 }),
            load_pipeline: 64,
            reclaim_idle: Duration::from_millis(if q { 100 } else { 200 }),
            fair,
        })
    }
}

impl Args {
    /// Whether this run's outputs also go to `bench/results/latest/` (the table and chart the
    /// README embeds): only a complete full run of Sluice against Redis, with the default output
    /// directory and no changes to sizes or durations.
    pub fn publishes(&self) -> bool {
        let sluice_is_redis = self
            .sluice_bin
            .as_ref()
            .and_then(|b| b.file_name())
            .map(|n| n.to_string_lossy().contains("redis"))
            .unwrap_or(false);
        !self.quick
            && self.out.is_none()
            && self.sluice_addr.is_none()
            && self.redis_addr.is_none()
            && !sluice_is_redis
            && self.only.is_empty()
            && self.skip.is_empty()
            && Phase::value_variants()
                .iter()
                .filter(|p| **p != Phase::Queues)
                .all(|p| self.phases.contains(p))
            && self.fsync.len() == 3
            && self.reps >= 3
            && self.duration.is_none()
            && self.warmup.is_none()
            && self.jobs_queued.is_none()
            && self.rb_requests.is_none()
            && self.stream_entries.is_none()
            && self.mem_entries.is_empty()
            && self.restart_entries.is_none()
            && self.fair_xranges.is_none()
            && self.fair_redis_xranges.is_none()
            && self.fair_rss_limit_mib == 3072
            && self.fair_readers == 2000
            && self.fair_duration.is_none()
    }
}

impl Settings {
    /// Whether the workload id passes --only/--skip.
    pub fn selected(&self, id: &str) -> bool {
        (self.only.is_empty() || self.only.iter().any(|p| id.contains(p.as_str())))
            && !self.skip.iter().any(|p| id.contains(p.as_str()))
    }

    pub fn has_phase(&self, p: Phase) -> bool {
        self.phases.contains(&p)
    }
}
