//! Seeded random differential test of Disque's job API against a real disque-server 1.0-rc1:
//! each case is a deterministic sequence (xorshift64*) of a couple of hundred ADDJOB (random
//! options), GETJOB NOHANG, ACKJOB, FASTACK, NACK, WORKING, ENQUEUE, DEQUEUE, DELJOB, QLEN,
//! QPEEK, SHOW, QSTAT and PAUSE on two queues, with job IDs drawn from those the case has seen
//! (and a few it has not), plus the occasional malformed command. Every reply is compared byte
//! for byte after the job IDs are normalised (see `src/disque.rs`), but SHOW's and QSTAT's
//! times, which are compared as in `tests/disque.rs`.
//!
//! Nothing in a case depends on time: TTLs are at least an hour, a RETRY is 0 or at least 300 s,
//! a DELAY 0 or at least an hour, so no timer fires while a case runs.
//!
//! To replay a failure: the case name holds the seed; the transcript of the failure report
//! shows every command sent. `DISQUE_RANDOM_CASES`/`DISQUE_RANDOM_STEPS` run more or longer
//! cases.

use redis_compat_tests::disque::{qstat, show};
use redis_compat_tests::rng::Rng;
use redis_compat_tests::*;

const QUEUES: [&str; 2] = ["{k}a", "{k}b"];

struct Gen {
    rng: Rng,
    /// ADDJOBs sent so far: an upper bound on the IDs either side has returned.
    added: usize,
}

impl Gen {
    fn queue(&mut self) -> &'static str {
        QUEUES[self.rng.below(2) as usize]
    }

    /// `{idN}` of a job the case probably added; now and then one past them (an unknown ID,
    /// left as the literal `{idN}`, which both servers refuse the same way).
    fn id(&mut self) -> String {
        let n = if self.added == 0 || self.rng.pct(4) {
            self.added + 1
        } else if self.rng.pct(60) {
            // The recent ones, which are more likely still queued.
            self.added - self.rng.below(self.added.min(4) as u64) as usize
        } else {
            1 + self.rng.below(self.added as u64) as usize
        };
        format!("{{id{n}}}")
    }

    fn ids(&mut self, max: u64) -> String {
        let n = 1 + self.rng.below(max);
        (0..n).map(|_| self.id()).collect::<Vec<_>>().join(" ")
    }

    fn addjob(&mut self) -> String {
        self.added += 1;
        let q = self.queue();
        let body = *self.rng.pick(&["b", "job", "''", "x1", "\"a b\""]);
        let mut cmd = format!("ADDJOB {q} {body} 0");
        let ttl: u64 = *self.rng.pick(&[3600, 7200, 86400, 864000]);
        if self.rng.pct(40) {
            cmd += &format!(" TTL {ttl}");
        }
        if self.rng.pct(30) {
            // 0 (at most once), or long enough never to fire during the case.
            cmd += &format!(" RETRY {}", self.rng.pick(&[0, 300, 600, 3600]));
        }
        if self.rng.pct(10) {
            // Only when the TTL is given or the default (a day) leaves room.
            let delay = if cmd.contains(" TTL ") { 0 } else { 3600 };
            cmd += &format!(" DELAY {delay}");
        }
        if self.rng.pct(15) {
            cmd += &format!(" MAXLEN {}", 1 + self.rng.below(6));
        }
        if self.rng.pct(10) {
            cmd += " ASYNC";
        }
        if self.rng.pct(10) {
            cmd += " REPLICATE 1";
        }
        cmd
    }

    fn getjob(&mut self) -> String {
        let mut cmd = "GETJOB NOHANG".to_string();
        if self.rng.pct(40) {
            cmd += &format!(" COUNT {}", 1 + self.rng.below(4));
        }
        if self.rng.pct(40) {
            cmd += " WITHCOUNTERS";
        }
        cmd += " FROM ";
        cmd += match self.rng.below(4) {
            0 => "{k}a {k}b",
            1 => "{k}b {k}a",
            2 => "{k}a",
            _ => "{k}b",
        };
        cmd
    }

    fn error_cmd(&mut self) -> String {
        let q = self.queue();
        let id = self.id();
        self.rng
            .pick(&[
                format!("ADDJOB {q} b 0 RETRY -1"),
                format!("ADDJOB {q} b 0 TTL 10 DELAY 10"),
                format!("ADDJOB {q} b"),
                format!("GETJOB NOHANG COUNT 0 FROM {q}"),
                "GETJOB NOHANG FROM".to_string(),
                format!("ACKJOB {id} not-an-id"),
                "NACK D-00000000-AAAAAAAAAAAAAAAAAAAAAAAA-05a1".to_string(),
                format!("QPEEK {q} x"),
                format!("PAUSE {q} sideways"),
                "WORKING not-an-id".to_string(),
                format!("SHOW {id} extra"),
                format!("QLEN {q} extra"),
            ])
            .clone()
    }

    fn step(&mut self) -> Step {
        let q = self.queue();
        match self.rng.below(1000) {
            0..=299 => step(&self.addjob()),
            300..=449 => step(&self.getjob()),
            450..=519 => step(&format!("ACKJOB {}", self.ids(3))),
            520..=549 => step(&format!("FASTACK {}", self.ids(3))),
            550..=609 => step(&format!("NACK {}", self.ids(3))),
            610..=639 => step(&format!("WORKING {}", self.id())),
            640..=669 => step(&format!("ENQUEUE {}", self.ids(3))),
            670..=699 => step(&format!("DEQUEUE {}", self.ids(3))),
            700..=729 => step(&format!("DELJOB {}", self.ids(3))),
            730..=779 => step(&format!("QLEN {q}")),
            780..=829 => {
                let n: i64 = *self.rng.pick(&[1, 2, 5, -1, -3, 0]);
                step(&format!("QPEEK {q} {n}"))
            }
            830..=889 => show(&format!("SHOW {}", self.id())),
            890..=919 => qstat(&format!("QSTAT {q}")),
            920..=959 => {
                let how = *self
                    .rng
                    .pick(&["in", "out", "all", "none", "state", "none"]);
                step(&format!("PAUSE {q} {how}"))
            }
            _ => step(&self.error_cmd()),
        }
    }
}

fn random_case(seed: u64, len: usize) -> Case {
    let mut g = Gen {
        rng: Rng::new(seed),
        added: 0,
    };
    let mut steps: Vec<Step> = (0..len).map(|_| g.step()).collect();
    // The final state: both queues' lengths and contents, every job the case added.
    for q in QUEUES {
        steps.push(step(&format!("PAUSE {q} none")));
        steps.push(step(&format!("QLEN {q}")));
        steps.push(step(&format!("QPEEK {q} 100")));
    }
    for n in 1..=g.added {
        steps.push(show(&format!("SHOW {{id{n}}}")));
    }
    let all: Vec<String> = (1..=g.added).map(|n| format!("{{id{n}}}")).collect();
    if !all.is_empty() {
        steps.push(step(&format!("DELJOB {}", all.join(" "))));
    }
    case(&format!("random_jobs_seed{seed}"), &steps)
}

/// `DISQUE_RANDOM_CASES` (default 24) and `DISQUE_RANDOM_STEPS` (default 160) for a longer
/// exploration by hand.
fn cases() -> Vec<Case> {
    let env = |name: &str, default: u64| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let (n, len) = (
        env("DISQUE_RANDOM_CASES", 24),
        env("DISQUE_RANDOM_STEPS", 160),
    );
    (1..=n)
        .map(|s| random_case(7000 + s, len as usize))
        .collect()
}

fn main() {
    run_disque(cases());
}
