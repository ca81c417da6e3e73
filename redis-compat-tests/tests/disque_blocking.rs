//! Disque's blocking GETJOB and its timers, differential against a real disque-server 1.0-rc1:
//! a GETJOB blocked on empty queues is woken by ADDJOB, NACK, a DELAY that elapses or PAUSE
//! … none; blocked clients are served first come, first served, one job each whatever their
//! COUNT; TIMEOUT answers `*-1`; RETRY requeues a delivered job (counting an additional
//! delivery), TTL deletes a job, WORKING answers -TOOLATE after half the TTL.
//!
//! No sleeps: a step waits for the event it needs with `!until` (e.g. QSTAT's `blocked` count
//! reaching 1 before another connection adds a job; QLEN becoming 1 when a timer fires), on
//! each server. Timers in Disque tick 10 times a second; the cases with a timer take 1–3 s and
//! run in parallel (`run_disque_waiting`).

use redis_compat_tests::disque::{qstat, show};
use redis_compat_tests::*;

/// Wait until QSTAT of the queue says `n` clients are blocked on it.
fn blocked(conn: &str, queue: &str, n: usize) -> String {
    format!(r"@{conn} !until-has $7\r\nblocked\r\n:{n}\r\n QSTAT {queue}")
}

#[rustfmt::skip]
fn cases() -> Vec<Case> {
    vec![
        // woken by an ADDJOB from another connection; the job is then active (delivered)
        case("block_woken_by_addjob", &[
            step("!send GETJOB FROM {k}"), step(&blocked("b", "{k}", 1)), step("@b ADDJOB {k} body 0"), step("!read"), qstat("@b QSTAT {k}"), show("@b SHOW {id1}"), step("ACKJOB {id1}"),
        ]),
        case("block_with_timeout_woken", &[
            step("!send GETJOB TIMEOUT 10000 FROM {k}"), step(&blocked("b", "{k}", 1)), step("@b ADDJOB {k} body 0"), step("!read"), step("ACKJOB {id1}"), qstat("QSTAT {k}"),
        ]),
        // the timeout: a null array, not an empty one; nothing stays blocked
        case("block_timeout", &[
            step("GETJOB TIMEOUT 100 FROM {k}"), step("GETJOB TIMEOUT 50 COUNT 3 WITHCOUNTERS FROM {k} {k}b"), qstat("QSTAT {k}"), qstat("QSTAT {k}b"), step("@b ADDJOB {k} x 0"), step("QLEN {k}"), step("DELJOB {id1}"),
        ]),
        // first come, first served; one job wakes one client
        case("block_fifo", &[
            step("@c1 !send GETJOB FROM {k}"), step(&blocked("b", "{k}", 1)), step("@c2 !send GETJOB FROM {k}"), step(&blocked("b", "{k}", 2)), step("@c3 !send GETJOB WITHCOUNTERS FROM {k}"), step(&blocked("b", "{k}", 3)),
            step("@b ADDJOB {k} first 0"), step("@c1 !read"), step(&blocked("b", "{k}", 2)), step("@b ADDJOB {k} second 0"), step("@c2 !read"), step("@b ADDJOB {k} third 0"), step("@c3 !read"),
            qstat("@b QSTAT {k}"), step("@b DELJOB {id1} {id2} {id3}"),
        ]),
        // a blocked client gets exactly one job, whatever its COUNT (Disque serves blocked clients one job each)
        case("block_count_gets_one", &[
            step("!send GETJOB COUNT 3 FROM {k}"), step(&blocked("b", "{k}", 1)), step("@b !send ADDJOB {k} a 0"), step("@b !send ADDJOB {k} b 0"), step("@b !send ADDJOB {k} c 0"), step("@b !read"), step("@b !read"), step("@b !read"),
            step("!read"), step("QLEN {k}"), step("DELJOB {id1} {id2} {id3}"),
        ]),
        // blocked on several queues: woken by any, the reply holds that queue's job
        case("block_several_queues", &[
            step("!send GETJOB FROM {k}a {k}b {k}c"), step(&blocked("b", "{k}c", 1)), qstat("@b QSTAT {k}a"), step("@b ADDJOB {k}b job-b 0"), step("!read"), qstat("@b QSTAT {k}a"), qstat("@b QSTAT {k}c"), step("DELJOB {id1}"),
        ]),
        // the same queue twice: blocked once
        case("block_duplicate_queue", &[
            step("!send GETJOB FROM {k} {k}"), step(&blocked("b", "{k}", 1)), step("@b ADDJOB {k} a 0"), step("!read"), step("@b QLEN {k}"), step("DELJOB {id1}"),
        ]),
        // WITHCOUNTERS while blocked; a NACK from another worker wakes the client
        case("block_woken_by_nack", &[
            step("@b ADDJOB {k} a 0"), step("@b GETJOB FROM {k}"), step("!send GETJOB WITHCOUNTERS FROM {k}"), step(&blocked("b", "{k}", 1)), step("@b NACK {id1}"), step("!read"), show("SHOW {id1}"), step("DELJOB {id1}"),
        ]),
        case("block_woken_by_enqueue", &[
            step("@b ADDJOB {k} a 0"), step("@b DEQUEUE {id1}"), step("!send GETJOB WITHCOUNTERS FROM {k}"), step(&blocked("b", "{k}", 1)), step("@b ENQUEUE {id1}"), step("!read"), step("DELJOB {id1}"),
        ]),
        // a queue paused in output: GETJOB blocks although jobs are there; any PAUSE that clears `out` serves it
        // (here `in`: output is unpaused, input paused)
        case("block_paused_out", &[
            step("ADDJOB {k} a 0"), step("PAUSE {k} out"), step("!send GETJOB FROM {k}"), step(&blocked("b", "{k}", 1)), step("@b QLEN {k}"), step("@b ADDJOB {k} b 0"), step("@b PAUSE {k} all"), step(&blocked("b", "{k}", 1)),
            step("@b PAUSE {k} in"), step("!read"), step("QLEN {k}"), step("PAUSE {k} none"), step("DELJOB {id1} {id2}"),
        ]),
        case("block_paused_out_none", &[
            step("PAUSE {k} out"), step("!send GETJOB FROM {k}"), step(&blocked("b", "{k}", 1)), step("@b ADDJOB {k} b 0"), step("@b PAUSE {k} none"), step("!read"), step("QLEN {k}"), step("DELJOB {id1}"),
        ]),
        // DELAY: queued when the delay elapses (a blocked GETJOB is then served)
        case("delay_releases", &[
            step("ADDJOB {k} a 0 DELAY 1"), step("QLEN {k}"), show("SHOW {id1}"), step("!until :1 QLEN {k}"), show("SHOW {id1}"), step("GETJOB WITHCOUNTERS FROM {k}"), step("DELJOB {id1}"),
        ]),
        case("delay_wakes_blocked", &[
            step("!send GETJOB FROM {k}"), step(&blocked("b", "{k}", 1)), step("@b ADDJOB {k} later 0 DELAY 1"), step("@b QLEN {k}"), step("!read"), show("SHOW {id1}"), step("DELJOB {id1}"),
        ]),
        // RETRY: a delivered, unacknowledged job is queued again (additional-deliveries + 1)
        case("retry_requeues", &[
            step("ADDJOB {k} a 0 RETRY 1"), step("GETJOB FROM {k}"), step("QLEN {k}"), step("!until :1 QLEN {k}"), show("SHOW {id1}"), step("GETJOB WITHCOUNTERS FROM {k}"), step("ACKJOB {id1}"),
        ]),
        // TTL: the job is deleted whatever its state
        case("ttl_expires", &[
            step("ADDJOB {k} a 0 TTL 1"), step("ADDJOB {k} b 0 TTL 1 RETRY 0"), step("GETJOB FROM {k}"), step("!until $-1 SHOW {id1}"), step("!until $-1 SHOW {id2}"), step("QLEN {k}"), step("GETJOB NOHANG FROM {k}"),
        ]),
        // WORKING is refused once half the TTL has elapsed
        case("working_toolate", &[
            step("ADDJOB {k} a 0 TTL 4 RETRY 1"), step("GETJOB FROM {k}"), step("WORKING {id1}"), step("!until-has TOOLATE WORKING {id1}"), step("WORKING {id1}"), step("DELJOB {id1}"),
        ]),
    ]
}

fn main() {
    run_disque_waiting(cases());
}
