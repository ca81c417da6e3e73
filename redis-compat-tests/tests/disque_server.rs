//! Disque cases that look at the whole server, each on a fresh pair of servers
//! (`run_disque_fresh`): QSCAN's listings and filters (COUNT, MINLEN, MAXLEN, IMPORTRATE,
//! BUSYLOOP), JSCAN of every job (STATE, REPLY all, COUNT), and INFO's jobs and queues figures.
//!
//! Cursors depend on each server's hash tables, so a listing is compared either iterated to the
//! end (`!scan`, elements sorted) or, for a call that covers everything (BUSYLOOP, or a small
//! server and the default COUNT), as the same final cursor and the same items in any order.

use redis_compat_tests::disque::{qstat, show};
use redis_compat_tests::pred::{has_lines, scan_reply_unordered};
use redis_compat_tests::*;

fn all(line: &str) -> Step {
    pair(line, "cursor and items in any order", scan_reply_unordered)
}

/// Three queues with 1, 2 and 3 queued jobs ({id1} … {id6}) and one paused, empty queue.
const QUEUES: &[&str] = &[
    "ADDJOB q1 a 0",
    "ADDJOB q2 a 0",
    "ADDJOB q2 b 0",
    "ADDJOB q3 a 0",
    "ADDJOB q3 b 0",
    "ADDJOB q3 c 0",
    "PAUSE q0 in",
];

fn with(setup: &[&str], rest: Vec<Step>) -> Vec<Step> {
    setup.iter().map(|s| step(s)).chain(rest).collect()
}

#[rustfmt::skip]
fn cases() -> Vec<Case> {
    vec![
        case("qscan_empty", &["QSCAN", "QSCAN 0", "QSCAN 0 COUNT 1", "QSCAN BUSYLOOP", "QSCAN MINLEN 1 0"]),
        case("qscan_all", &with(QUEUES, vec![
            all("QSCAN"), all("QSCAN 0"), all("QSCAN BUSYLOOP"), all("QSCAN COUNT 100 0"), step("!scan QSCAN {cursor} COUNT 1"), step("!scan QSCAN {cursor} COUNT 2 BUSYLOOP"),
        ])),
        // MINLEN / MAXLEN bound the queue length (inclusive); IMPORTRATE (jobs imported from other nodes per second) is 0 on a single node
        case("qscan_filters", &with(QUEUES, vec![
            all("QSCAN MINLEN 2"), all("QSCAN MAXLEN 2"), all("QSCAN MINLEN 2 MAXLEN 2"), all("QSCAN MINLEN 0"), all("QSCAN MAXLEN 0"), all("QSCAN MINLEN 4"), all("QSCAN MINLEN 3 MAXLEN 1"),
            all("QSCAN MINLEN -1"), all("QSCAN MAXLEN -5"), all("QSCAN IMPORTRATE 0"), all("QSCAN IMPORTRATE 1"), all("QSCAN IMPORTRATE -1"), step("!scan QSCAN {cursor} COUNT 1 MINLEN 2"),
            all("QSCAN BUSYLOOP MINLEN 1 MAXLEN 1 IMPORTRATE 0"),
        ])),
        // a queue emptied by GETJOB and ACKJOB is still listed (Disque collects idle queues after 5 minutes)
        case("qscan_after_ack", &with(QUEUES, vec![
            step("GETJOB FROM q1"), step("ACKJOB {id1}"), all("QSCAN"), all("QSCAN MINLEN 1"), qstat("QSTAT q1"),
        ])),
        case("jscan_empty", &["JSCAN", "JSCAN 0 COUNT 1", "JSCAN BUSYLOOP REPLY all", "JSCAN STATE queued"]),
        // every job of the server; STATE filters (several: OR)
        case("jscan_all", &with(QUEUES, vec![
            step("GETJOB FROM q3"), step("ADDJOB q4 d 0 DELAY 100"),
            all("JSCAN"), all("JSCAN BUSYLOOP"), step("%!scan JSCAN {cursor} COUNT 1"), all("JSCAN STATE queued"), all("JSCAN STATE active"), all("JSCAN STATE active STATE queued"), all("JSCAN STATE acked"),
            all("JSCAN STATE wait-repl"), all("JSCAN QUEUE q3 STATE queued"), all("JSCAN QUEUE nosuch"), step("%!scan JSCAN {cursor} COUNT 2 STATE queued"),
        ])),
        // REPLY all: SHOW's 30-element array per job
        case("jscan_reply_all", &[
            step("ADDJOB q1 body 0 TTL 100 RETRY 5"), show("JSCAN REPLY all"), show("JSCAN 0 BUSYLOOP REPLY ALL STATE queued"), step("GETJOB FROM q1"), show("JSCAN REPLY all"), step("JSCAN REPLY all STATE queued"),
        ]),
        // INFO's Jobs and Queues sections
        case("info_jobs_queues", &[
            step("INFO jobs"), step("INFO queues"), step("ADDJOB q1 a 0"), step("ADDJOB q1 b 0"), step("ADDJOB q2 c 0 DELAY 100"), step("INFO jobs"), step("INFO queues"), step("INFO JOBS"),
            step("GETJOB FROM q1"), step("INFO jobs"), step("ACKJOB {id1}"), step("DELJOB {id3}"), step("INFO jobs"),
            check("INFO", "the Jobs and Queues sections", has_lines(&["# Jobs", "registered_jobs:1", "# Queues", "registered_queues:"])),
            check("INFO all", "the Jobs and Queues sections", has_lines(&["# Jobs", "registered_jobs:1", "# Queues", "registered_queues:"])),
        ])
        // A Disque client's INFO, on the Disque port: on Redis's port the default and `all`
        // INFO list Redis's sections only (`INFO jobs` works on both).
        .disque_port(),
        // queues are counted until they are collected (empty, idle for 5 minutes, nobody blocked, not paused)
        case("info_queues_kept", &[
            "ADDJOB q1 a 0", "GETJOB FROM q1", "ACKJOB {id1}", "INFO queues", "PAUSE q2 in", "INFO queues", "PAUSE q2 none", "GETJOB TIMEOUT 10 FROM q3", "INFO queues", "INFO jobs",
        ]),
    ]
}

fn main() {
    run_disque_fresh(cases());
}
