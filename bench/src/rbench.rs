//! Runs Debian's redis-benchmark and parses its `--csv` output.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use crate::model::Latency;

/// A redis-benchmark workload.
#[derive(Clone, Debug)]
pub struct RbSpec {
    /// The command, with redis-benchmark's `__rand_int__` placeholders.
    pub command: Vec<String>,
    pub clients: usize,
    pub requests: u64,
    pub pipeline: usize,
    /// `-r`: range of `__rand_int__`.
    pub keyspace: u64,
}

impl RbSpec {
    pub fn args(&self, host: &str, port: &str) -> Vec<String> {
        let mut a: Vec<String> = vec![
            "-h".into(),
            host.into(),
            "-p".into(),
            port.into(),
            "-c".into(),
            self.clients.to_string(),
            "-n".into(),
            self.requests.to_string(),
            "-P".into(),
            self.pipeline.to_string(),
            "-r".into(),
            self.keyspace.to_string(),
            "--csv".into(),
        ];
        a.extend(self.command.iter().cloned());
        a
    }
}

/// One run's result.
#[derive(Clone, Debug, PartialEq)]
pub struct RbResult {
    pub rps: f64,
    pub latency: Latency,
}

/// Parses the data line of `redis-benchmark --csv`:
/// `"test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms","p99_latency_ms","max_latency_ms"`.
pub fn parse_csv(out: &str) -> Option<RbResult> {
    let line = out
        .lines()
        .rfind(|l| l.starts_with('"') && !l.starts_with("\"test\""))?;
    // The test name may contain commas but not quotes: split on "," between quoted fields.
    let fields: Vec<&str> = line.trim().trim_matches('"').split("\",\"").collect();
    if fields.len() < 8 {
        return None;
    }
    let num = |i: usize| fields[i].parse::<f64>().ok();
    Some(RbResult {
        rps: num(1)?,
        latency: Latency {
            p50: num(4)?,
            p99: num(6)?,
            p999: None,
        },
    })
}

/// Runs redis-benchmark against `addr` (host:port), killing it after `timeout`.
pub async fn run(
    bin: &Path,
    addr: &str,
    spec: &RbSpec,
    timeout: Duration,
) -> Result<RbResult, String> {
    let (host, port) = addr
        .rsplit_once(':')
        .ok_or_else(|| format!("bad address {addr}"))?;
    let child = tokio::process::Command::new(bin)
        .args(spec.args(host, port))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("starting {}: {e}", bin.display()))?;
    let out = match tokio::time::timeout(timeout, child.wait_with_output()).await {
        Ok(r) => r.map_err(|e| e.to_string())?,
        Err(_) => return Err(format!("redis-benchmark timed out after {timeout:?}")),
    };
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        let msg = format!("{} {}", stdout.trim(), stderr.trim());
        let msg = msg
            .lines()
            .find(|l| l.contains("Error"))
            .unwrap_or(msg.trim())
            .to_string();
        return Err(format!("redis-benchmark failed ({}): {msg}", out.status));
    }
    parse_csv(&stdout).ok_or_else(|| format!("cannot parse redis-benchmark output: {stdout}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_csv() {
        let out = "\"test\",\"rps\",\"avg_latency_ms\",\"min_latency_ms\",\"p50_latency_ms\",\"p95_latency_ms\",\"p99_latency_ms\",\"max_latency_ms\"\n\"XADD bk * field __rand_int__\",\"800000.00\",\"0.870\",\"0.152\",\"0.871\",\"1.351\",\"1.543\",\"1.647\"\n";
        let r = parse_csv(out).unwrap();
        assert_eq!(r.rps, 800000.0);
        assert_eq!(r.latency.p50, 0.871);
        assert_eq!(r.latency.p99, 1.543);
        assert!(parse_csv("garbage").is_none());
    }
}
