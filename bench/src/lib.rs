//! sluice-bench: side-by-side benchmark harness, Sluice against the real redis-server.
//!
//! The binary (`src/main.rs`) parses [`cli::Args`] and hands them to [`runner::run`]. See
//! `bench/README.md` for usage and for what each workload does.

pub mod cli;
pub mod fairness;
pub mod jobs;
pub mod loadgen;
pub mod model;
pub mod queues;
pub mod rbench;
pub mod report;
pub mod resp;
pub mod runner;
pub mod server;
pub mod util;
pub mod workloads;
