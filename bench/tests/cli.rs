//! Smoke tests of the command line: no server is started.

use std::process::Command;

use clap::Parser;
use sluice_bench::cli::{Args, Fsync, Phase};
use sluice_bench::workloads::catalog;

#[test]
fn defaults_are_full_mode() {
    let a = Args::try_parse_from(["sluice-bench"]).unwrap();
    let s = a.settings().unwrap();
    assert!(!s.quick);
    assert_eq!(s.reps, 3);
    assert_eq!(s.connections, 50);
    assert_eq!(s.stream_entries, 3_000_000);
    assert_eq!(s.mem_entries, vec![1_000_000, 10_000_000]);
    assert_eq!(s.restart_entries, 10_000_000);
    assert_eq!(s.levels, vec![Fsync::No, Fsync::Everysec, Fsync::Always]);
    assert_eq!(
        s.phases,
        vec![
            Phase::Throughput,
            Phase::Memory,
            Phase::Restart,
            Phase::Fairness,
            Phase::Jobs
        ]
    );
    assert_eq!(s.fair.xranges, [2000, 300]);
    assert_eq!(s.fair.readers, 2000);
    assert_eq!(s.fair.duration.as_secs(), 5);
    assert_eq!(s.fair.rss_limit, 3072 << 20);
}

#[test]
fn fairness_settings() {
    let s = |a: &[&str]| {
        let mut v = vec!["sluice-bench"];
        v.extend_from_slice(a);
        Args::try_parse_from(v).unwrap().settings()
    };
    let q = s(&["--quick", "--phases", "fairness"]).unwrap();
    assert_eq!(q.phases, vec![Phase::Fairness]);
    assert_eq!(q.fair.xranges, [200, 100]);
    assert_eq!(q.fair.duration.as_secs(), 1);
    // Redis's pipeline is never longer than Sluice's.
    let c = s(&["--fair-xranges", "50", "--fair-redis-xranges", "400"]).unwrap();
    assert_eq!(c.fair.xranges, [50, 50]);
    assert!(s(&["--fair-xranges", "0"]).is_err());
    assert!(Args::try_parse_from(["sluice-bench", "--fair-readers", "0"]).is_err());
    assert!(Args::try_parse_from(["sluice-bench", "--fair-rss-limit-mib", "1"]).is_err());
}

#[test]
fn quick_mode_and_overrides() {
    let a = Args::try_parse_from([
        "sluice-bench",
        "--quick",
        "--sluice-bin",
        "/usr/bin/redis-server",
        "--fsync",
        "everysec",
        "--phases",
        "throughput,memory",
        "--only",
        "xadd,ping",
        "--mem-entries",
        "2000,1000",
        "--reps",
        "4",
        "--duration",
        "0.5",
    ])
    .unwrap();
    let s = a.settings().unwrap();
    assert!(s.quick);
    assert_eq!(s.reps, 4);
    assert_eq!(s.stream_entries, 300_000);
    assert_eq!(s.mem_entries, vec![1000, 2000]);
    // `no` is always run.
    assert_eq!(s.levels, vec![Fsync::No, Fsync::Everysec]);
    assert_eq!(s.phases, vec![Phase::Throughput, Phase::Memory]);
    assert!(s.selected("rb-xadd-p16") && s.selected("rb-ping-p1") && !s.selected("xrange"));
    assert_eq!(s.duration.as_millis(), 500);
}

#[test]
fn bad_arguments_are_rejected() {
    assert!(Args::try_parse_from(["sluice-bench", "--reps", "0"]).is_err());
    assert!(Args::try_parse_from(["sluice-bench", "--fsync", "sometimes"]).is_err());
    assert!(Args::try_parse_from(["sluice-bench", "--nope"]).is_err());
    let a = Args::try_parse_from(["sluice-bench", "--duration", "0"]).unwrap();
    assert!(a.settings().is_err());
}

#[test]
fn catalog_has_every_workload() {
    let s = Args::try_parse_from(["sluice-bench"])
        .unwrap()
        .settings()
        .unwrap();
    let ids: Vec<String> = catalog(&s).into_iter().map(|w| w.id).collect();
    for id in [
        "rb-ping-p1",
        "rb-set-p1",
        "rb-get-p1",
        "rb-xadd-p1",
        "rb-ping-p16",
        "rb-set-p16",
        "rb-get-p16",
        "rb-xadd-p16",
        "xadd",
        "xrange",
        "xread",
        "xreadgroup",
        "xack",
        "group-flow",
        "job-queue",
    ] {
        assert!(ids.iter().any(|i| i == id), "missing {id}");
    }
}

#[test]
fn help_and_list_work() {
    let bin = env!("CARGO_BIN_EXE_sluice-bench");
    let out = Command::new(bin).arg("--help").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("--quick") && text.contains("--sluice-bin"),
        "{text}"
    );
    let out = Command::new(bin)
        .args(["--quick", "--list"])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("group-flow"));
    let out = Command::new(bin).args(["--reps", "0"]).output().unwrap();
    assert!(!out.status.success());
}

#[test]
fn only_complete_full_runs_publish() {
    let p = |a: &[&str]| {
        let mut v = vec!["sluice-bench"];
        v.extend_from_slice(a);
        Args::try_parse_from(v).unwrap().publishes()
    };
    assert!(p(&[]));
    assert!(p(&["--sluice-bin", "/x/sluice", "--reps", "5"]));
    assert!(!p(&["--quick"]));
    assert!(!p(&["--only", "xadd"]));
    assert!(!p(&["--sluice-bin", "/usr/bin/redis-server"]));
    assert!(!p(&["--out", "/tmp/x"]));
    assert!(!p(&["--phases", "throughput"]));
    assert!(!p(&["--phases", "throughput,memory,restart"]));
    assert!(!p(&["--phases", "fairness,restart,memory,throughput"]));
    assert!(p(&["--phases", "fairness,restart,jobs,memory,throughput"]));
    assert!(!p(&["--fair-xranges", "100"]));
    assert!(!p(&["--duration", "2"]));
}

#[test]
fn jobs_phase_options() {
    let parse = |a: &[&str]| {
        let mut v = vec!["sluice-bench"];
        v.extend_from_slice(a);
        Args::try_parse_from(v)
    };
    let a = parse(&[
        "--quick",
        "--phases",
        "jobs",
        "--disque-bin",
        "/x/disque-server",
    ])
    .unwrap();
    assert_eq!(a.settings().unwrap().phases, vec![Phase::Jobs]);
    assert!(parse(&["--jobs-queued", "10"]).is_err());
    assert!(!parse(&["--jobs-queued", "5000"]).unwrap().publishes());
    assert!(!parse(&["--phases", "throughput,memory,restart"])
        .unwrap()
        .publishes());
    let bin = env!("CARGO_BIN_EXE_sluice-bench");
    let out = Command::new(bin).arg("--list").output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("jobs-flow-p1") && text.contains("jobs-memory"),
        "{text}"
    );
}
