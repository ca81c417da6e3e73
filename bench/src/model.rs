//! Results: one [`Row`] per measured quantity, holding every run on both servers.

/// Which server.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Side {
    Sluice,
    Redis,
}

impl Side {
    pub fn name(self) -> &'static str {
        match self {
            Side::Sluice => "sluice",
            Side::Redis => "redis",
        }
    }

    pub const BOTH: [Side; 2] = [Side::Sluice, Side::Redis];
}

/// The unit of a row's value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    OpsPerSec,
    MsgPerSec,
    JobsPerSec,
    EntriesPerSec,
    BytesPerEntry,
    Bytes,
    Seconds,
    /// A latency, in milliseconds.
    Millis,
}

impl Unit {
    pub fn name(self) -> &'static str {
        match self {
            Unit::OpsPerSec => "ops/s",
            Unit::MsgPerSec => "msg/s",
            Unit::JobsPerSec => "jobs/s",
            Unit::EntriesPerSec => "entries/s",
            Unit::BytesPerEntry => "B/entry",
            Unit::Bytes => "bytes",
            Unit::Seconds => "s",
            Unit::Millis => "ms",
        }
    }

    /// Whether a higher value is better for the server.
    pub fn higher_is_better(self) -> bool {
        matches!(
            self,
            Unit::OpsPerSec | Unit::MsgPerSec | Unit::JobsPerSec | Unit::EntriesPerSec
        )
    }

    /// Formats a value of this unit compactly.
    pub fn fmt(self, v: f64) -> String {
        match self {
            Unit::OpsPerSec | Unit::MsgPerSec | Unit::JobsPerSec | Unit::EntriesPerSec => {
                if v >= 1e6 {
                    format!("{:.2}M", v / 1e6)
                } else if v >= 1e3 {
                    format!("{:.1}k", v / 1e3)
                } else {
                    format!("{v:.0}")
                }
            }
            Unit::BytesPerEntry => format!("{v:.1}"),
            Unit::Bytes => {
                if v >= 1024.0 * 1024.0 * 1024.0 {
                    format!("{:.2} GiB", v / (1024.0 * 1024.0 * 1024.0))
                } else if v >= 1024.0 * 1024.0 {
                    format!("{:.1} MiB", v / (1024.0 * 1024.0))
                } else {
                    format!("{:.0} KiB", v / 1024.0)
                }
            }
            Unit::Seconds => {
                if v < 1.0 {
                    format!("{:.0} ms", v * 1000.0)
                } else {
                    format!("{v:.2} s")
                }
            }
            Unit::Millis => {
                if v < 10.0 {
                    format!("{v:.2}")
                } else if v < 100.0 {
                    format!("{v:.1}")
                } else {
                    format!("{v:.0}")
                }
            }
        }
    }
}

/// Latency percentiles of one run, in milliseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Latency {
    pub p50: f64,
    pub p99: f64,
    /// Not available from redis-benchmark.
    pub p999: Option<f64>,
}

/// One successful run.
#[derive(Clone, Debug, PartialEq)]
pub struct RunResult {
    pub value: f64,
    pub latency: Option<Latency>,
    pub note: String,
}

impl RunResult {
    pub fn value(value: f64) -> RunResult {
        RunResult {
            value,
            latency: None,
            note: String::new(),
        }
    }
}

/// The outcome of one run.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    Ok(RunResult),
    /// The server answered a command of the workload with an error.
    Unsupported(String),
    /// Anything else: timeout, connection lost, crash.
    Failed(String),
}

impl Outcome {
    pub fn ok(&self) -> Option<&RunResult> {
        match self {
            Outcome::Ok(r) => Some(r),
            _ => None,
        }
    }
}

/// A measured quantity with every run on both servers.
#[derive(Clone, Debug)]
pub struct Row {
    /// "throughput", "memory", "disk", "restart" or "fairness".
    pub section: String,
    /// Stable id (for --only and the CSV).
    pub id: String,
    /// What it is, for people.
    pub name: String,
    /// Durability level, or "external".
    pub level: String,
    pub unit: Unit,
    /// Whether a Sluice/Redis ratio means something (false when the two sides did different
    /// amounts of work, e.g. a shorter pipeline on Redis to bound its memory).
    pub comparable: bool,
    pub sluice: Vec<Outcome>,
    pub redis: Vec<Outcome>,
}

impl Row {
    pub fn new(section: &str, id: &str, name: &str, level: &str, unit: Unit) -> Row {
        Row {
            section: section.into(),
            id: id.into(),
            name: name.into(),
            level: level.into(),
            unit,
            comparable: true,
            sluice: Vec::new(),
            redis: Vec::new(),
        }
    }

    pub fn runs(&self, side: Side) -> &[Outcome] {
        match side {
            Side::Sluice => &self.sluice,
            Side::Redis => &self.redis,
        }
    }

    pub fn push(&mut self, side: Side, o: Outcome) {
        match side {
            Side::Sluice => self.sluice.push(o),
            Side::Redis => self.redis.push(o),
        }
    }
}

/// Median of a non-empty list (mean of the middle two for an even length).
pub fn median(v: &[f64]) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    let n = s.len();
    Some(if n % 2 == 1 {
        s[n / 2]
    } else {
        (s[n / 2 - 1] + s[n / 2]) / 2.0
    })
}

/// Summary of one side of a row.
#[derive(Clone, Debug, PartialEq)]
pub struct SideSummary {
    pub median: f64,
    pub min: f64,
    pub max: f64,
    pub ok_runs: usize,
    pub latency: Option<Latency>,
}

/// What a side of a row amounts to.
#[derive(Clone, Debug, PartialEq)]
pub enum SideStatus {
    Measured(SideSummary),
    Unsupported(String),
    Failed(String),
    NotRun,
}

pub fn summarize(runs: &[Outcome]) -> SideStatus {
    let vals: Vec<f64> = runs
        .iter()
        .filter_map(|o| o.ok().map(|r| r.value))
        .collect();
    if vals.is_empty() {
        return match runs.iter().find(|o| !matches!(o, Outcome::Ok(_))) {
            Some(Outcome::Unsupported(m)) => SideStatus::Unsupported(m.clone()),
            Some(Outcome::Failed(m)) => SideStatus::Failed(m.clone()),
            _ => SideStatus::NotRun,
        };
    }
    let lats: Vec<Latency> = runs
        .iter()
        .filter_map(|o| o.ok().and_then(|r| r.latency))
        .collect();
    let latency = if lats.is_empty() {
        None
    } else {
        let p999: Vec<f64> = lats.iter().filter_map(|l| l.p999).collect();
        Some(Latency {
            p50: median(&lats.iter().map(|l| l.p50).collect::<Vec<_>>()).unwrap_or(0.0),
            p99: median(&lats.iter().map(|l| l.p99).collect::<Vec<_>>()).unwrap_or(0.0),
            p999: median(&p999),
        })
    };
    SideStatus::Measured(SideSummary {
        median: median(&vals).unwrap(),
        min: vals.iter().cloned().fold(f64::INFINITY, f64::min),
        max: vals.iter().cloned().fold(f64::NEG_INFINITY, f64::max),
        ok_runs: vals.len(),
        latency,
    })
}

/// The Sluice/Redis ratio of a row: (ratio of the medians, min and max of the per-pair ratios,
/// pairs). The headline is the ratio of the two medians the table shows, so it always agrees
/// with them (the median of per-pair ratios did not: 352.5k against 433.4k once showed 1.04);
/// the per-pair ratios of consecutive runs (Sluice then Redis) give the spread.
pub fn pair_ratios(row: &Row) -> Option<(f64, f64, f64, usize)> {
    if !row.comparable {
        return None;
    }
    let pairs: Vec<(f64, f64)> = row
        .sluice
        .iter()
        .zip(row.redis.iter())
        .filter_map(|(s, r)| match (s.ok(), r.ok()) {
            (Some(s), Some(r)) if r.value > 0.0 => Some((s.value, r.value)),
            _ => None,
        })
        .collect();
    let r: Vec<f64> = pairs.iter().map(|(s, r)| s / r).collect();
    let ms = median(&pairs.iter().map(|p| p.0).collect::<Vec<_>>())?;
    let mr = median(&pairs.iter().map(|p| p.1).collect::<Vec<_>>())?;
    Some((
        ms / mr,
        r.iter().cloned().fold(f64::INFINITY, f64::min),
        r.iter().cloned().fold(f64::NEG_INFINITY, f64::max),
        r.len(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians_and_ratios() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0]), Some(2.5));
        let mut row = Row::new("t", "x", "x", "no", Unit::OpsPerSec);
        for (s, r) in [(10.0, 5.0), (12.0, 4.0), (9.0, 9.0)] {
            row.push(Side::Sluice, Outcome::Ok(RunResult::value(s)));
            row.push(Side::Redis, Outcome::Ok(RunResult::value(r)));
        }
        row.push(Side::Sluice, Outcome::Unsupported("ERR".into()));
        row.push(Side::Redis, Outcome::Ok(RunResult::value(1.0)));
        // Medians 10 and 5: the ratio of the medians is 2 (pair ratios 2, 3, 1).
        let (m, lo, hi, n) = pair_ratios(&row).unwrap();
        assert_eq!((m, lo, hi, n), (2.0, 1.0, 3.0, 3));
        // Where the median of pair ratios and the ratio of medians differ, the table shows
        // the latter: medians 352.5 and 400, pair ratios 1.5, 1.04, 0.46 (median 1.04).
        let mut other = Row::new("t", "x", "x", "no", Unit::OpsPerSec);
        for (s, r) in [(600.0, 400.0), (352.5, 338.9), (200.0, 433.4)] {
            other.push(Side::Sluice, Outcome::Ok(RunResult::value(s)));
            other.push(Side::Redis, Outcome::Ok(RunResult::value(r)));
        }
        let (m, _, _, _) = pair_ratios(&other).unwrap();
        assert!((m - 352.5 / 400.0).abs() < 1e-9, "{m}");
        match summarize(&row.sluice) {
            SideStatus::Measured(s) => assert_eq!((s.median, s.min, s.max), (10.0, 9.0, 12.0)),
            o => panic!("{o:?}"),
        }
        assert!(matches!(
            summarize(&[Outcome::Unsupported("ERR x".into())]),
            SideStatus::Unsupported(_)
        ));
    }
}
