//! LATENCY LATEST/HISTORY/RESET/GRAPH/DOCTOR/HISTOGRAM/HELP: Redis's latency monitor and its
//! per-command latency histograms.
//!
//! Events (recorded when they take at least `latency-monitor-threshold` ms; 0 disables the
//! monitor, as in Redis): `command` and `fast-command` (one command's execution, by its
//! `fast` flag), `aof-write` (a loop turn's commit: its batch into fjall and, unless an
//! fdatasync follows, the journal write; Redis's AOF write) and `aof-fsync-always` (the
//! journal's fdatasync under `appendfsync always`, Sluice's equivalent of Redis's AOF fsync).
//! Each event keeps its last 160 samples, one per second at most (the worst of that second),
//! and its all-time maximum.
//!
//! Histograms: every executed command's duration is counted in power-of-two buckets of
//! nanoseconds starting at 1024, the buckets of Redis's hdr_histogram iteration; LATENCY
//! HISTOGRAM prints them cumulatively as Redis does, under the same µs keys (1, 2, 4, 8, 16,
//! 33, 66, …).

use std::collections::{BTreeMap, VecDeque};

use bytes::Bytes;

use super::common::*;
use crate::engine::Ctx;
use crate::reply::{CmdResult, ReplyError};

/// Samples kept per event (Redis's LATENCY_TS_LEN).
const SAMPLES_KEPT: usize = 160;
/// Histogram buckets: 1024 ns × 2^k for k < BUCKETS (the last also takes anything longer).
pub const BUCKETS: usize = 40;

/// One event's samples.
#[derive(Default, Debug, Clone)]
pub struct Event {
    /// (unix seconds, ms), oldest first.
    pub samples: VecDeque<(u64, u64)>,
    pub max: u64,
}

/// Redis's `LATENCY_HISTOGRAM_MIN_VALUE`/`MAX_VALUE` (ns) and `LATENCY_HISTOGRAM_PRECISION`.
const TRACKING_MIN_NS: u64 = 1;
const TRACKING_MAX_NS: u64 = 1_000_000_000;
const TRACKING_SIGFIG: u8 = 2;

/// One command's latency histogram for INFO latencystats (`latency-tracking`), made on its
/// first call as Redis does.
pub type Tracking = Option<Box<hdrhistogram::Histogram<u64>>>;

/// Records a call of `micros` µs, in ns clamped to 1 ns..1 s as Redis's
/// `updateCommandLatencyHistogram`.
pub fn track(h: &mut Tracking, micros: u64) {
    if h.is_none() {
        match hdrhistogram::Histogram::new_with_bounds(
            TRACKING_MIN_NS,
            TRACKING_MAX_NS,
            TRACKING_SIGFIG,
        ) {
            Ok(new) => *h = Some(Box::new(new)),
            // Constant, valid bounds: cannot fail; without a histogram the call is not counted.
            Err(_) => return,
        }
    }
    if let Some(h) = h {
        let ns = micros
            .saturating_mul(1000)
            .clamp(TRACKING_MIN_NS, TRACKING_MAX_NS);
        h.saturating_record(ns);
    }
}

/// The value at `percentile` (0..=100) as Redis's `hdr_value_at_percentile`: the highest value
/// equivalent to the bucket where the count reaches `percentile`% of the total, rounded to the
/// nearest count (C's `+ 0.5`, where the Rust crate rounds up).
pub fn value_at_percentile(h: &hdrhistogram::Histogram<u64>, percentile: f64) -> u64 {
    let p = percentile.min(100.0);
    let wanted = ((p / 100.0 * h.len() as f64) + 0.5) as u64;
    let wanted = wanted.max(1);
    let mut seen = 0u64;
    for v in h.iter_recorded() {
        seen += v.count_at_value();
        if seen >= wanted {
            return h.highest_equivalent(v.value_iterated_to());
        }
    }
    0
}

/// The INFO latencystats line of one command: `latency_percentiles_usec_<name>:p50=…,p99=…`.
pub fn percentiles_line(
    name: &str,
    h: &hdrhistogram::Histogram<u64>,
    percentiles: &[f64],
) -> String {
    let mut line = format!("latency_percentiles_usec_{name}:");
    for (i, p) in percentiles.iter().enumerate() {
        if i > 0 {
            line.push(',');
        }
        let v = value_at_percentile(h, *p) as f64 / 1000.0;
        line.push_str(&format!("p{}={v:.3}", crate::config::trim_double(*p)));
    }
    line.push_str("\r\n");
    line
}

/// The latency monitor's events (part of `Observers`). The per-command histograms are kept
/// with the other per-command statistics (`engine::state::CommandStats`).
#[derive(Default)]
pub struct Latency {
    pub events: BTreeMap<&'static str, Event>,
}

/// The histogram bucket of a call that took `micros`.
pub fn bucket(micros: u64) -> usize {
    let ns = micros.saturating_mul(1000);
    if ns <= 1024 {
        return 0;
    }
    // The smallest k with 1024·2^k ≥ ns.
    let k = (64 - (ns - 1).leading_zeros()) as usize - 10;
    k.min(BUCKETS - 1)
}

impl Latency {
    /// Records an event that took `ms` if the monitor is on and it reached the threshold.
    pub fn add_sample(&mut self, threshold_ms: u64, event: &'static str, now_s: u64, ms: u64) {
        if threshold_ms == 0 || ms < threshold_ms {
            return;
        }
        let e = self.events.entry(event).or_default();
        e.max = e.max.max(ms);
        match e.samples.back_mut() {
            Some((t, worst)) if *t == now_s => *worst = (*worst).max(ms),
            _ => {
                e.samples.push_back((now_s, ms));
                if e.samples.len() > SAMPLES_KEPT {
                    e.samples.pop_front();
                }
            }
        }
    }
}

/// The µs label Redis prints for bucket `k` (hdr_histogram's highest equivalent value of
/// 1024·2^k ns at two significant digits, in µs).
fn bucket_label(k: usize) -> u64 {
    ((1024u128 << k) * 129 / 128 / 1000) as u64
}

fn threshold(ctx: &Ctx<'_>) -> u64 {
    ctx.srv.config.latency_monitor_threshold
}

pub fn latest(ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> CmdResult {
    let l = &ctx.srv.observers.latency;
    ctx.out.array(l.events.len());
    for (name, e) in &l.events {
        let (t, ms) = e.samples.back().copied().unwrap_or((0, 0));
        ctx.out.array(4);
        ctx.out.bulk(name.as_bytes());
        ctx.out.int(t as i64);
        ctx.out.int(ms as i64);
        ctx.out.int(e.max as i64);
    }
    Ok(())
}

pub fn history(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let name = String::from_utf8_lossy(&argv[2]);
    let l = &ctx.srv.observers.latency;
    match l.events.get(name.as_ref()) {
        None => ctx.out.array(0),
        Some(e) => {
            ctx.out.array(e.samples.len());
            for (t, ms) in &e.samples {
                ctx.out.array(2);
                ctx.out.int(*t as i64);
                ctx.out.int(*ms as i64);
            }
        }
    }
    Ok(())
}

pub fn reset(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let l = &mut ctx.srv.observers.latency;
    let n = if argv.len() == 2 {
        let n = l.events.len();
        l.events.clear();
        n
    } else {
        argv[2..]
            .iter()
            .filter(|a| {
                let name = String::from_utf8_lossy(a);
                l.events.remove(name.as_ref()).is_some()
            })
            .count()
    };
    ctx.out.int(n as i64);
    Ok(())
}

pub fn graph(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let name = String::from_utf8_lossy(&argv[2]).into_owned();
    let Some(e) = ctx.srv.observers.latency.events.get(name.as_str()) else {
        return Err(ReplyError::new(format!(
            "ERR No samples available for event '{name}'"
        )));
    };
    let now = ctx.now_ms / 1000;
    let mut text = format!(
        "{name} - high {} ms, low {} ms (all time high {} ms)\n",
        e.samples.iter().map(|s| s.1).max().unwrap_or(0),
        e.samples.iter().map(|s| s.1).min().unwrap_or(0),
        e.max
    );
    text.push_str(&"-".repeat(80));
    text.push('\n');
    let high = e.samples.iter().map(|s| s.1).max().unwrap_or(1).max(1);
    for (t, ms) in &e.samples {
        let bar = ((ms * 40) / high).max(1) as usize;
        text.push_str(&format!(
            "{:>6}s ago {:>6} ms |{}\n",
            now.saturating_sub(*t),
            ms,
            "#".repeat(bar)
        ));
    }
    ctx.out.verbatim("txt", text.as_bytes());
    Ok(())
}

pub fn doctor(ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> CmdResult {
    let l = &ctx.srv.observers.latency;
    let text = if threshold(ctx) == 0 {
        "I'm sorry, Dave, I can't do that. Latency monitoring is disabled in this Sluice instance. You may use \"CONFIG SET latency-monitor-threshold <milliseconds>.\" in order to enable it.\n".to_string()
    } else if l.events.is_empty() {
        "Dave, no latency spike was observed during the lifetime of this Sluice instance, not in the slightest bit. I honestly think you ought to sit down calmly, take a stress pill, and think things over.\n".to_string()
    } else {
        let mut t = String::from(
            "Dave, I have observed latency spikes in this Sluice instance. You don't mind talking about it, do you Dave?\n\n",
        );
        for (i, (name, e)) in l.events.iter().enumerate() {
            let n = e.samples.len().max(1) as u64;
            let avg = e.samples.iter().map(|s| s.1).sum::<u64>() / n;
            let period = match (e.samples.front(), e.samples.back()) {
                (Some(a), Some(b)) if e.samples.len() > 1 => (b.0 - a.0) / (n - 1),
                _ => 0,
            };
            t.push_str(&format!(
                "{}. {name}: {} latency spikes (average {avg}ms, period {period} sec). Worst all time event {}ms.\n",
                i + 1,
                e.samples.len(),
                e.max
            ));
        }
        t.push_str("\nI have a few advices for you:\n\n");
        if l.events.contains_key("command") || l.events.contains_key("fast-command") {
            t.push_str("- Check your SLOWLOG (SLOWLOG GET) for the commands behind the spikes. Long XRANGE/XREVRANGE without COUNT, XINFO STREAM FULL and large MULTI blocks run whole on the event loop; use COUNT to page.\n");
        }
        if l.events.contains_key("aof-write") {
            t.push_str("- Commits to the journal are slow. Check INFO's # Sluice section: compactions and flushes compete with the event loop for CPU and for the disk. On a machine with few cores, keep other busy processes off it.\n");
        }
        if l.events.contains_key("aof-fsync-always") {
            t.push_str("- The journal's fdatasync (appendfsync always) is slow: the disk is the bottleneck. Use a faster disk or appendfsync everysec.\n");
        }
        t
    };
    ctx.out.verbatim("txt", text.as_bytes());
    Ok(())
}

pub fn histogram(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let wanted: Vec<String> = argv[2..]
        .iter()
        .map(|a| String::from_utf8_lossy(a).to_ascii_lowercase())
        .collect();
    let mut rows: Vec<(&str, [u64; BUCKETS])> = ctx
        .srv
        .stats
        .per_command
        .values()
        .filter(|r| r.calls > 0)
        .filter(|r| wanted.is_empty() || wanted.iter().any(|w| w == r.name))
        .map(|r| (r.name, r.histogram))
        .collect();
    rows.sort_by_key(|r| r.0);
    ctx.out.map(rows.len());
    for (name, buckets) in rows {
        ctx.out.bulk(name.as_bytes());
        ctx.out.map(2);
        ctx.out.bulk(b"calls");
        ctx.out.int(buckets.iter().sum::<u64>() as i64);
        ctx.out.bulk(b"histogram_usec");
        let used = buckets.iter().filter(|c| **c > 0).count();
        ctx.out.map(used);
        let mut cumulative = 0;
        for (k, c) in buckets.iter().enumerate() {
            if *c > 0 {
                cumulative += c;
                ctx.out.int(bucket_label(k) as i64);
                ctx.out.int(cumulative as i64);
            }
        }
    }
    Ok(())
}

pub fn help(ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> CmdResult {
    super::help_reply(
        ctx,
        "LATENCY",
        &[
            "DOCTOR",
            "    Return a human readable latency analysis report.",
            "GRAPH <event>",
            "    Return an ASCII latency graph for the <event> class.",
            "HISTORY <event>",
            "    Return time-latency samples for the <event> class.",
            "LATEST",
            "    Return the latest latency samples for all events.",
            "RESET [<event> ...]",
            "    Reset latency data of one or more <event> classes.",
            "    (default: reset all data for all event classes)",
            "HISTOGRAM [COMMAND ...]",
            "    Return a cumulative distribution of latencies in the format of a histogram for the specified command names.",
            "    If no commands are specified then all histograms are replied.",
        ],
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// The table rows of this family (see `commands/mod.rs`).

pub static COMMANDS: &[Command] = &[container("latency", &LATENCY_SUBCOMMANDS)
    .acl(&["@slow"])
    .doc(
        "server",
        "2.8.13",
        "Depends on subcommand.",
        "A container for latency diagnostics commands",
    )];

const FLAGS: &[&str] = &["admin", "noscript", "loading", "stale"];
const ACL: &[&str] = &["@admin", "@slow", "@dangerous"];
const SPECIAL: &[&str] = &[
    "nondeterministic_output",
    "request_policy:all_nodes",
    "response_policy:special",
];

pub static LATENCY_SUBCOMMANDS: [Command; 7] = [
    cmd("latency|doctor", 2, doctor)
        .tips(SPECIAL)
        .flags(FLAGS)
        .acl(ACL)
        .doc(
            "server",
            "2.8.13",
            "O(1)",
            "Return a human readable latency analysis report.",
        ),
    cmd("latency|graph", 3, graph)
        .tips(SPECIAL)
        .flags(FLAGS)
        .acl(ACL)
        .doc(
            "server",
            "2.8.13",
            "O(1)",
            "Return a latency graph for the event.",
        )
        .args(&[arg("event", "string")]),
    cmd("latency|history", 3, history)
        .tips(SPECIAL)
        .flags(FLAGS)
        .acl(ACL)
        .doc(
            "server",
            "2.8.13",
            "O(1)",
            "Return timestamp-latency samples for the event.",
        )
        .args(&[arg("event", "string")]),
    cmd("latency|latest", 2, latest)
        .tips(SPECIAL)
        .flags(FLAGS)
        .acl(ACL)
        .doc(
            "server",
            "2.8.13",
            "O(1)",
            "Return the latest latency samples for all events.",
        ),
    cmd("latency|reset", -2, reset)
        .tips(&["request_policy:all_nodes", "response_policy:all_succeeded"])
        .flags(FLAGS)
        .acl(ACL)
        .doc(
            "server",
            "2.8.13",
            "O(1)",
            "Reset latency data for one or more events.",
        )
        .args(&[arg("event", "string").opt().many()]),
    cmd("latency|histogram", -2, histogram)
        .tips(SPECIAL)
        .flags(FLAGS)
        .acl(ACL)
        .doc(
            "server",
            "7.0.0",
            "O(N) where N is the number of commands with latency information being retrieved.",
            "Return the cumulative distribution of latencies of a subset of commands or all.",
        )
        .args(&[arg("command", "string").opt().many()]),
    cmd("latency|help", 2, help)
        .flags(&["loading", "stale"])
        .acl(&["@slow"])
        .doc(
            "server",
            "2.8.13",
            "O(1)",
            "Show helpful text about the different subcommands.",
        ),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_labels_are_redis_hdr_keys() {
        let labels: Vec<u64> = (0..16).map(bucket_label).collect();
        assert_eq!(
            labels,
            [1, 2, 4, 8, 16, 33, 66, 132, 264, 528, 1056, 2113, 4227, 8454, 16908, 33816]
        );
    }

    #[test]
    fn samples_keep_the_worst_per_second_and_a_bounded_history() {
        let mut l = Latency::default();
        l.add_sample(0, "command", 1, 100);
        assert!(l.events.is_empty(), "threshold 0 = monitor off");
        l.add_sample(10, "command", 1, 5);
        assert!(l.events.is_empty(), "below the threshold");
        l.add_sample(10, "command", 1, 12);
        l.add_sample(10, "command", 1, 30);
        l.add_sample(10, "command", 2, 11);
        let e = &l.events["command"];
        assert_eq!(e.samples, [(1, 30), (2, 11)]);
        assert_eq!(e.max, 30);
        for t in 3..400 {
            l.add_sample(10, "command", t, 10);
        }
        assert_eq!(l.events["command"].samples.len(), SAMPLES_KEPT);
        assert_eq!(
            [0, 1, 2, 3, 4, 5, 1000, u64::MAX].map(bucket),
            [0, 0, 1, 2, 2, 3, 10, BUCKETS - 1]
        );
    }
}
