//! Disque's job API, differential against a real disque-server 1.0-rc1 (see
//! `../shared/specs/disque.md` §3–§5): ADDJOB (every option and error), GETJOB without
//! blocking, ACKJOB, FASTACK, NACK, ENQUEUE, DEQUEUE, WORKING, DELJOB, SHOW, QLEN, QPEEK, QSTAT,
//! PAUSE, the argument errors of QSCAN and JSCAN, JSCAN restricted to the case's queue, Disque's
//! HELLO (on Sluice's `--disque-port`) and arity errors. Cases run in parallel on one pair of
//! servers, each with its own queues (`{k}`), over RESP2 only.
//!
//! Job IDs are random: every job ID in a reply becomes `D-{node}..-{idN}...-tttt` (numbered by
//! first appearance, TTL digits kept) and `{idN}` in a command is that server's own N-th job ID
//! (see `src/disque.rs`). Times (SHOW's `ctime`, `next-requeue-within`, `next-awake-within`,
//! QSTAT's `age`/`idle`) are compared by shape; SHOW's `ttl` to within a second.
//!
//! Blocking GETJOB and the timers (DELAY, RETRY, TTL, TOOLATE) are in tests/disque_blocking.rs;
//! what looks at the whole server (QSCAN listings, JSCAN of every job, INFO jobs/queues) in
//! tests/disque_server.rs.

use redis_compat_tests::disque::{qstat, show};
use redis_compat_tests::pred;
use redis_compat_tests::*;

/// A status reply holding a (normalised) job ID, whatever its TTL digits.
fn status_job_id(line: &str) -> Step {
    check(line, "a status job ID", |f| match f {
        Frame::Simple(s) if s.starts_with(b"D-{node}..-{id") && s.len() == 40 => Ok(()),
        other => Err(format!("expected a status job ID, got {other}")),
    })
}

// Unknown job IDs used below: D-00000000-AAAAAAAAAAAAAAAAAAAAAAAA-05a1 (well formed, odd TTL
// digits: at-least-once), and D-zzzzzzzz-!!!!!!!!!!!!!!!!!!!!!!!!-zzzz: Disque only checks the
// length and the `D-`, `-`, `-` positions, so this one is "valid" too.

#[rustfmt::skip]
fn cases() -> Vec<Case> {
    vec![
        // ---------------------------------------------------------------- ADDJOB
        // the reply is a status string (+D-…), not a bulk; default TTL 1 day → -05a1 (odd: at-least-once)
        case("addjob_reply_is_status", &[step("ADDJOB {k} body 0"), step("QLEN {k}"), show("SHOW {id1}"), step("GETJOB NOHANG FROM {k}"), step("ACKJOB {id1}")]),
        // the TTL in minutes in the ID's last 4 hex digits: odd when RETRY > 0, even for RETRY 0; capped at ffff
        case("addjob_id_ttl_digits", &[
            "ADDJOB {k} b 0 TTL 60 RETRY 2", "ADDJOB {k} b 0 TTL 1 RETRY 0", "ADDJOB {k} b 0 TTL 3600", "ADDJOB {k} b 0 TTL 3600 RETRY 0",
            "ADDJOB {k} b 0 TTL 3932100 RETRY 0", "ADDJOB {k} b 0 TTL 3932160", "ADDJOB {k} b 0 TTL 99999999 RETRY 5", "ADDJOB {k} b 0 TTL 119", "ADDJOB {k} b 0 TTL 120 RETRY 0",
            "QLEN {k}", "DELJOB {id1} {id2} {id3} {id4} {id5} {id6} {id7} {id8} {id9}",
        ]),
        // options in any order and any case; every option at once
        case("addjob_all_options", &[
            step("ADDJOB {k} body 0 ttl 100 retry 5 delay 0 maxlen 10 async replicate 1"), step("AddJob {k} body2 100 Replicate 1 Async MaxLen 10 Delay 0 Retry 5 TTL 100"),
            show("SHOW {id1}"), show("SHOW {id2}"), step("QLEN {k}"), step("DELJOB {id1} {id2}"),
        ]),
        // default RETRY: TTL/10, at least 1, at most 300
        case("addjob_default_retry", &[
            step("ADDJOB {k} a 0 TTL 120"), step("ADDJOB {k} b 0 TTL 5"), step("ADDJOB {k} c 0"), step("ADDJOB {k} d 0 TTL 100000"), step("ADDJOB {k} e 0 TTL 9"),
            show("SHOW {id1}"), show("SHOW {id2}"), show("SHOW {id3}"), show("SHOW {id4}"), show("SHOW {id5}"), step("DELJOB {id1} {id2} {id3} {id4} {id5}"),
        ]),
        // RETRY 0 (at-most-once): queued once, next-requeue-within is null
        case("addjob_retry_zero", &[step("ADDJOB {k} b 0 RETRY 0"), show("SHOW {id1}"), step("GETJOB NOHANG FROM {k}"), show("SHOW {id1}"), step("ACKJOB {id1}"), step("SHOW {id1}")]),
        // DELAY: not queued until the delay elapses (state active, next-awake-within set)
        case("addjob_delay", &[step("ADDJOB {k} b 0 DELAY 100"), step("QLEN {k}"), show("SHOW {id1}"), step("QPEEK {k} 10"), step("GETJOB NOHANG FROM {k}"), step("DELJOB {id1}"), step("SHOW {id1}")]),
        // DELAY must be < TTL
        case("addjob_delay_vs_ttl", &[
            "ADDJOB {k} b 0 DELAY 10 TTL 10", "ADDJOB {k} b 0 DELAY 11 TTL 10", "ADDJOB {k} b 0 DELAY 86400", "ADDJOB {k} b 0 DELAY 10 TTL 11", "QLEN {k}", "DELJOB {id1}",
        ]),
        // a single node is a cluster of one: REPLICATE 1 works, more is NOREPL (synchronous or ASYNC)
        case("addjob_replicate", &[
            "ADDJOB {k} b 0 REPLICATE 1", "ADDJOB {k} b 0 REPLICATE 2", "ADDJOB {k} b 0 REPLICATE 2 ASYNC", "ADDJOB {k} b 0 REPLICATE 3 TTL 100", "ADDJOB {k} b 0 REPLICATE 65535",
            "ADDJOB {k} b 0 REPLICATE 1 RETRY 0", "QLEN {k}", "DELJOB {id1} {id2}",
        ]),
        // RETRY 0 with REPLICATE > 1 is refused before the replication check (note the double space)
        case("addjob_retry_zero_replicate", &["ADDJOB {k} b 0 REPLICATE 2 RETRY 0", "ADDJOB {k} b 0 RETRY 0 REPLICATE 65535", "QLEN {k}"]),
        case("addjob_replicate_errors", &[
            "ADDJOB {k} b 0 REPLICATE 0", "ADDJOB {k} b 0 REPLICATE -1", "ADDJOB {k} b 0 REPLICATE 65536", "ADDJOB {k} b 0 REPLICATE abc", "ADDJOB {k} b 0 REPLICATE 1.5",
            "ADDJOB {k} b 0 REPLICATE 9223372036854775807", "ADDJOB {k} b 0 REPLICATE 9223372036854775808", "ADDJOB {k} b 0 REPLICATE -9223372036854775808", "ADDJOB {k} b 0 REPLICATE ''", "QLEN {k}",
        ]),
        case("addjob_ttl_errors", &[
            "ADDJOB {k} b 0 TTL 0", "ADDJOB {k} b 0 TTL -1", "ADDJOB {k} b 0 TTL abc", "ADDJOB {k} b 0 TTL 1e3", "ADDJOB {k} b 0 TTL 9223372036854775808", "ADDJOB {k} b 0 TTL -9223372036854775808", "ADDJOB {k} b 0 TTL ' 5'", "QLEN {k}",
        ]),
        // a TTL beyond an int is accepted (the ID's TTL digits then come from Disque's int truncation: not pinned)
        case("addjob_ttl_huge", &[status_job_id("ADDJOB {k} b 0 TTL 9223372036854775807"), status_job_id("ADDJOB {k} b 0 TTL 2147483648"), step("QLEN {k}"), step("DELJOB {id1} {id2}")]),
        case("addjob_retry_errors", &[
            "ADDJOB {k} b 0 RETRY -1", "ADDJOB {k} b 0 RETRY abc", "ADDJOB {k} b 0 RETRY 9223372036854775808", "ADDJOB {k} b 0 RETRY -9223372036854775808", "ADDJOB {k} b 0 RETRY 0.5", "QLEN {k}",
        ]),
        case("addjob_delay_errors", &[
            "ADDJOB {k} b 0 DELAY -1", "ADDJOB {k} b 0 DELAY abc", "ADDJOB {k} b 0 DELAY 9223372036854775808", "ADDJOB {k} b 0 DELAY 9223372036854775807", "ADDJOB {k} b 0 DELAY 1.0", "QLEN {k}",
        ]),
        case("addjob_maxlen_errors", &[
            "ADDJOB {k} b 0 MAXLEN 0", "ADDJOB {k} b 0 MAXLEN -1", "ADDJOB {k} b 0 MAXLEN abc", "ADDJOB {k} b 0 MAXLEN 9223372036854775808", "QLEN {k}",
        ]),
        // MAXLEN refuses (does not trim) when the queue already has >= n jobs
        case("addjob_maxlen", &[
            "ADDJOB {k} a 0 MAXLEN 1", "ADDJOB {k} b 0 MAXLEN 1", "ADDJOB {k} b 0 MAXLEN 2", "ADDJOB {k} c 0 MAXLEN 2", "QLEN {k}", "ADDJOB {k} c 0 MAXLEN 9223372036854775807",
            "GETJOB NOHANG FROM {k}", "ADDJOB {k} d 0 MAXLEN 3", "QLEN {k}", "DELJOB {id1} {id2} {id3} {id4}",
        ]),
        // the ms-timeout argument (parsed after the options: an option error wins)
        case("addjob_timeout_arg", &[
            "ADDJOB {k} b abc", "ADDJOB {k} b -1", "ADDJOB {k} b 1.5", "ADDJOB {k} b 9223372036854775808", "ADDJOB {k} b abc TTL 0", "ADDJOB {k} b -1 FOO",
            "ADDJOB {k} b 9223372036854775807", "ADDJOB {k} b 100", "QLEN {k}", "DELJOB {id1} {id2}",
        ]),
        // unknown options and options missing their value: syntax error
        case("addjob_syntax_errors", &[
            "ADDJOB {k} b 0 FOO", "ADDJOB {k} b 0 TTL", "ADDJOB {k} b 0 RETRY", "ADDJOB {k} b 0 DELAY", "ADDJOB {k} b 0 MAXLEN", "ADDJOB {k} b 0 REPLICATE", "ADDJOB {k} b 0 ASYNC ASYNC FOO",
            "ADDJOB {k} b 0 TTL 10 TTL", "ADDJOB {k} b 0 NOHANG", "QLEN {k}",
        ]),
        // later occurrences of an option win
        case("addjob_repeated_options", &[step("ADDJOB {k} b 0 TTL 10 TTL 200 RETRY 1 RETRY 3"), show("SHOW {id1}"), step("DELJOB {id1}")]),
        case("addjob_arity", &["ADDJOB", "ADDJOB {k}", "ADDJOB {k} b", "AddJob {k} b"]),
        // bodies: empty, binary, with CRLF; empty queue name
        case("addjob_bodies", &[
            step("ADDJOB {k} '' 0"), step(r#"ADDJOB {k} "\x00\xff\r\n\t" 0"#), step("ADDJOB {k} Привет 0"), step("ADDJOB '' b 0"), step("QLEN {k}"), step("QLEN ''"),
            step("GETJOB COUNT 3 FROM {k}"), step("GETJOB NOHANG FROM ''"), step("DELJOB {id1} {id2} {id3} {id4}"),
        ]),
        case("addjob_big_body", &[step(&format!("ADDJOB {{k}} {} 0", "x".repeat(100_000))), step("QPEEK {k} 1"), step("DELJOB {id1}")]),
        // ADDJOB to a queue paused in input: -PAUSED
        case("addjob_paused", &["PAUSE {k} in", "ADDJOB {k} b 0", "ADDJOB {k} b 0 ASYNC", "QLEN {k}", "PAUSE {k} out", "ADDJOB {k} b 0", "QLEN {k}", "PAUSE {k} all", "ADDJOB {k} b 0", "PAUSE {k} none", "ADDJOB {k} c 0", "QLEN {k}", "DELJOB {id1} {id2}"]),

        // ---------------------------------------------------------------- GETJOB (non-blocking)
        // nothing to get with NOHANG: a null array *-1 (not an empty array)
        case("getjob_nohang_empty", &["GETJOB NOHANG FROM {k}", "GETJOB NOHANG FROM {k} {k}b", "GETJOB NOHANG COUNT 10 WITHCOUNTERS FROM {k}", "QLEN {k}"]),
        // each job is [queue, id, body]; fetching moves it queued -> active
        case("getjob_basic", &[
            step("ADDJOB {k} first 0"), step("ADDJOB {k} second 0"), step("GETJOB FROM {k}"), show("SHOW {id1}"), step("QLEN {k}"), step("GETJOB NOHANG FROM {k}"), step("GETJOB NOHANG FROM {k}"),
            show("SHOW {id2}"), step("ACKJOB {id1} {id2}"),
        ]),
        case("getjob_count", &[
            "ADDJOB {k} a 0", "ADDJOB {k} b 0", "ADDJOB {k} c 0", "GETJOB COUNT 2 FROM {k}", "GETJOB NOHANG COUNT 5 FROM {k}", "GETJOB NOHANG COUNT 9223372036854775807 FROM {k}", "DELJOB {id1} {id2} {id3}",
        ]),
        // several queues: scanned left to right, one job per queue per pass
        case("getjob_several_queues", &[
            "ADDJOB {k}a a1 0", "ADDJOB {k}a a2 0", "ADDJOB {k}a a3 0", "ADDJOB {k}b b1 0", "ADDJOB {k}c c1 0", "ADDJOB {k}c c2 0",
            "GETJOB COUNT 4 FROM {k}b {k}a {k}empty {k}c", "GETJOB COUNT 10 FROM {k}a {k}b {k}c", "GETJOB NOHANG FROM {k}a {k}b {k}c", "DELJOB {id1} {id2} {id3} {id4} {id5} {id6}",
        ]),
        // the same queue twice in FROM
        case("getjob_duplicate_queue", &["ADDJOB {k} a 0", "ADDJOB {k} b 0", "ADDJOB {k} c 0", "GETJOB COUNT 2 FROM {k} {k}", "GETJOB FROM {k} {k} {k}", "QLEN {k}", "DELJOB {id1} {id2} {id3}"]),
        // WITHCOUNTERS: [queue, id, body, "nacks", n, "additional-deliveries", n]
        case("getjob_withcounters", &[
            "ADDJOB {k} a 0", "ADDJOB {k} b 0", "GETJOB WITHCOUNTERS FROM {k}", "NACK {id1}", "GETJOB WITHCOUNTERS COUNT 2 FROM {k}", "NACK {id1} {id2}", "NACK {id1}", "ENQUEUE {id2}", "DEQUEUE {id2}", "ENQUEUE {id2}",
            "GETJOB withcounters nohang count 3 FROM {k}", "DELJOB {id1} {id2}",
        ]),
        // options after FROM are queue names
        case("getjob_options_after_from", &["ADDJOB {k} a 0", "GETJOB FROM {k} NOHANG", "GETJOB NOHANG FROM COUNT 2 {k}", "QLEN COUNT", "DELJOB {id1}"]),
        case("getjob_syntax_errors", &[
            "GETJOB NOHANG", "GETJOB NOHANG FROM", "GETJOB FROM", "GETJOB {k}", "GETJOB NOHANG FOO FROM {k}", "GETJOB TIMEOUT", "GETJOB COUNT", "GETJOB NOHANG COUNT", "GETJOB NOHANG TIMEOUT 10", "GETJOB", "getjob",
        ]),
        case("getjob_count_errors", &[
            "GETJOB NOHANG COUNT 0 FROM {k}", "GETJOB NOHANG COUNT -1 FROM {k}", "GETJOB NOHANG COUNT abc FROM {k}", "GETJOB NOHANG COUNT 9223372036854775808 FROM {k}", "GETJOB NOHANG COUNT 1.5 FROM {k}",
            "GETJOB COUNT 0 NOHANG FROM {k}", "GETJOB NOHANG COUNT 1 COUNT 0 FROM {k}",
        ]),
        case("getjob_timeout_errors", &[
            "GETJOB NOHANG TIMEOUT abc FROM {k}", "GETJOB NOHANG TIMEOUT -1 FROM {k}", "GETJOB NOHANG TIMEOUT 1.5 FROM {k}", "GETJOB NOHANG TIMEOUT 9223372036854775808 FROM {k}",
            "GETJOB NOHANG TIMEOUT 9223372036854775807 FROM {k}", "GETJOB NOHANG TIMEOUT 0 FROM {k}", "GETJOB TIMEOUT -1 COUNT 0 FROM {k}",
        ]),
        // a queue paused in output behaves as empty; QLEN still counts its jobs
        case("getjob_paused_out", &[
            "ADDJOB {k} a 0", "PAUSE {k} out", "GETJOB NOHANG FROM {k}", "QLEN {k}", "ADDJOB {k}b b 0", "GETJOB NOHANG COUNT 5 FROM {k} {k}b", "PAUSE {k} in", "GETJOB NOHANG FROM {k}", "PAUSE {k} none", "DELJOB {id1}",
        ]),
        // a job in a non-string queue name... queue names are binary safe
        case("getjob_binary_queue", &[r#"ADDJOB "{k}\x00\r\n" b 0"#, r#"QLEN "{k}\x00\r\n""#, "QLEN {k}", r#"GETJOB NOHANG FROM "{k}\x00\r\n""#, "DELJOB {id1}"]),

        // ---------------------------------------------------------------- ACKJOB / FASTACK
        // known and not yet acked: counted; on a single node the job is gone at once
        case("ackjob_known", &[
            step("ADDJOB {k} a 0"), step("ADDJOB {k} b 0"), step("ACKJOB {id1}"), step("SHOW {id1}"), step("QLEN {k}"), step("ACKJOB {id1}"), step("GETJOB FROM {k}"), step("ACKJOB {id2}"), step("ACKJOB {id2} {id1}"), step("QLEN {k}"),
        ]),
        // duplicates in one call count once; unknown IDs count 0; no ID at all is legal
        case("ackjob_unknown_and_duplicates", &["ACKJOB D-00000000-AAAAAAAAAAAAAAAAAAAAAAAA-05a1", "ACKJOB D-zzzzzzzz-!!!!!!!!!!!!!!!!!!!!!!!!-zzzz", "ADDJOB {k} a 0", "ACKJOB {id1} {id1} D-00000000-AAAAAAAAAAAAAAAAAAAAAAAA-05a1 {id1}", "ACKJOB", "ackjob", "SHOW {id1}"]),
        // any bad ID: -BADID and nothing is acked
        case("ackjob_bad_ids", &[
            "ADDJOB {k} a 0", "ACKJOB {id1} D-00000000-AAAAAAAAAAAAAAAAAAAAAAAA-05a", "QLEN {k}", "ACKJOB foo", "ACKJOB ''", "ACKJOB X-00000000-AAAAAAAAAAAAAAAAAAAAAAAA-05a1", "ACKJOB D-00000000xAAAAAAAAAAAAAAAAAAAAAAAA-05a1",
            "ACKJOB D-00000000-AAAAAAAAAAAAAAAAAAAAAAAAx05a1", "ACKJOB d-00000000-AAAAAAAAAAAAAAAAAAAAAAAA-05a1", "ACKJOB D-00000000-AAAAAAAAAAAAAAAAAAAAAAAA-05a1x", "QLEN {k}", "ACKJOB {id1}",
        ]),
        // at-most-once and delayed jobs are acked too
        case("ackjob_states", &["ADDJOB {k} a 0 RETRY 0", "ADDJOB {k} b 0 DELAY 100", "ADDJOB {k} c 0", "GETJOB FROM {k}", "ACKJOB {id1} {id2} {id3}", "SHOW {id2}", "QLEN {k}", "JSCAN 0 QUEUE {k}"]),
        case("fastack", &[
            "FASTACK D-00000000-AAAAAAAAAAAAAAAAAAAAAAAA-05a1", "ADDJOB {k} a 0", "ADDJOB {k} b 0", "FASTACK {id1}", "FASTACK {id1}", "SHOW {id1}", "QLEN {k}", "GETJOB FROM {k}", "FASTACK {id2} {id2} D-00000000-AAAAAAAAAAAAAAAAAAAAAAAA-05a1", "SHOW {id2}", "FASTACK", "QLEN {k}",
        ]),
        case("fastack_bad_ids", &["ADDJOB {k} a 0", "FASTACK {id1} foo", "QLEN {k}", "FASTACK D-00000000-AAAAAAAAAAAAAAAAAAAAAAAA-05a1 x", "FASTACK D-zzzzzzzz-!!!!!!!!!!!!!!!!!!!!!!!!-zzzz", "FASTACK {id1}"]),

        // ---------------------------------------------------------------- NACK / ENQUEUE / DEQUEUE
        // NACK: an active (delivered) job goes back to the queue at once, nacks + 1
        case("nack", &[
            step("ADDJOB {k} a 0"), step("GETJOB FROM {k}"), step("NACK {id1}"), step("QLEN {k}"), show("SHOW {id1}"), step("NACK {id1}"), step("GETJOB WITHCOUNTERS FROM {k}"), step("NACK {id1} {id1}"),
            step("GETJOB WITHCOUNTERS FROM {k}"), step("DELJOB {id1}"),
        ]),
        // not active (queued), unknown, at-most-once already delivered: skipped
        case("nack_skipped", &[
            "NACK D-00000000-AAAAAAAAAAAAAAAAAAAAAAAA-05a1", "ADDJOB {k} a 0", "NACK {id1}", "ADDJOB {k}b b 0 RETRY 0", "GETJOB FROM {k}b", "NACK {id2}", "QLEN {k}b", "NACK", "GETJOB FROM {k}", "NACK {id1} D-00000000-AAAAAAAAAAAAAAAAAAAAAAAA-05a1 {id2}", "QLEN {k}", "DELJOB {id1} {id2}",
        ]),
        case("nack_bad_ids", &["ADDJOB {k} a 0", "GETJOB FROM {k}", "NACK {id1} bad", "QLEN {k}", "NACK bad {id1}", "DELJOB {id1}"]),
        // a delayed job is active: NACK queues it at once (counting a nack)
        case("nack_delayed", &[step("ADDJOB {k} a 0 DELAY 100"), step("NACK {id1}"), step("QLEN {k}"), show("SHOW {id1}"), step("DELJOB {id1}")]),
        // ENQUEUE: like NACK, but counts an additional delivery (not on a job's very first queueing)
        case("enqueue", &[
            step("ADDJOB {k} a 0"), step("ENQUEUE {id1}"), step("GETJOB FROM {k}"), step("ENQUEUE {id1}"), step("QLEN {k}"), show("SHOW {id1}"), step("ENQUEUE {id1}"), step("GETJOB WITHCOUNTERS FROM {k}"),
            step("ENQUEUE D-00000000-AAAAAAAAAAAAAAAAAAAAAAAA-05a1 {id1} {id1}"), step("ENQUEUE"), step("DELJOB {id1}"),
        ]),
        // the first queueing of a delayed job counts nothing
        case("enqueue_delayed", &[step("ADDJOB {k} a 0 DELAY 100"), step("ENQUEUE {id1}"), step("QLEN {k}"), show("SHOW {id1}"), step("GETJOB WITHCOUNTERS FROM {k}"), step("DELJOB {id1}")]),
        // a delivered RETRY 0 job is refused; an at-least-once one next to it is queued
        case("enqueue_at_most_once", &[
            "ADDJOB {k} a 0 RETRY 0", "ADDJOB {k} b 0", "GETJOB COUNT 2 FROM {k}", "ENQUEUE {id2} {id1}", "QLEN {k}", "DEQUEUE {id2}", "ENQUEUE {id2}", "GETJOB WITHCOUNTERS FROM {k}", "DELJOB {id1} {id2}",
        ]),
        // an undelivered RETRY 0 job, dequeued, cannot be queued again either
        case("enqueue_at_most_once_undelivered", &["ADDJOB {k} a 0 RETRY 0", "DEQUEUE {id1}", "QLEN {k}", "ENQUEUE {id1}", "NACK {id1}", "QLEN {k}", "DELJOB {id1}"]),
        case("enqueue_bad_ids", &["ADDJOB {k} a 0", "GETJOB FROM {k}", "ENQUEUE {id1} bad", "QLEN {k}", "DELJOB {id1}"]),
        // DEQUEUE: queued -> active
        case("dequeue", &[
            step("ADDJOB {k} a 0"), step("ADDJOB {k} b 0"), step("DEQUEUE {id1}"), step("QLEN {k}"), show("SHOW {id1}"), step("DEQUEUE {id1}"), step("DEQUEUE {id2} {id2} D-00000000-AAAAAAAAAAAAAAAAAAAAAAAA-05a1"), step("QLEN {k}"),
            step("GETJOB NOHANG FROM {k}"), step("DEQUEUE"), step("DEQUEUE bad"), step("DELJOB {id1} {id2}"),
        ]),

        // ---------------------------------------------------------------- WORKING
        // WORKING replies the job's RETRY; a queued job is dequeued
        case("working", &[
            step("ADDJOB {k} a 0 TTL 120"), step("WORKING {id1}"), step("QLEN {k}"), show("SHOW {id1}"), step("ADDJOB {k} b 0 RETRY 7"), step("GETJOB FROM {k}"), step("WORKING {id2}"), step("WORKING {id2}"),
            step("ADDJOB {k} c 0"), step("WORKING {id3}"), step("DELJOB {id1} {id2} {id3}"),
        ]),
        // RETRY 0: WORKING answers 0
        case("working_at_most_once", &[step("ADDJOB {k} a 0 RETRY 0"), step("GETJOB FROM {k}"), step("WORKING {id1}"), show("SHOW {id1}"), step("DELJOB {id1}")]),
        case("working_errors", &[
            "WORKING D-00000000-AAAAAAAAAAAAAAAAAAAAAAAA-05a1", "WORKING bad", "WORKING", "WORKING D-00000000-AAAAAAAAAAAAAAAAAAAAAAAA-05a1 D-00000000-AAAAAAAAAAAAAAAAAAAAAAAA-05a1", "ADDJOB {k} a 0", "ACKJOB {id1}", "WORKING {id1}",
        ]),

        // ---------------------------------------------------------------- DELJOB / SHOW
        case("deljob", &[
            "DELJOB D-00000000-AAAAAAAAAAAAAAAAAAAAAAAA-05a1", "DELJOB", "ADDJOB {k} a 0", "ADDJOB {k} b 0", "ADDJOB {k} c 0 DELAY 100", "GETJOB FROM {k}", "DELJOB {id1} {id1} {id2} {id3}", "QLEN {k}", "SHOW {id2}", "DELJOB {id1}",
        ]),
        case("deljob_bad_ids", &["ADDJOB {k} a 0", "DELJOB {id1} bad", "QLEN {k}", "DELJOB {id1}"]),
        case("show_errors", &["SHOW D-00000000-AAAAAAAAAAAAAAAAAAAAAAAA-05a1", "SHOW D-zzzzzzzz-!!!!!!!!!!!!!!!!!!!!!!!!-zzzz", "SHOW bad", "SHOW ''", "SHOW", "SHOW D-00000000-AAAAAAAAAAAAAAAAAAAAAAAA-05a1 x"]),
        // the 30-element field list of a queued, an active, an at-most-once and a delayed job
        case("show_fields", &[
            step("ADDJOB {k} body 0 TTL 3600 RETRY 60"), show("SHOW {id1}"), step("GETJOB FROM {k}"), show("SHOW {id1}"), step("ADDJOB {k} b2 0 RETRY 0 TTL 50"), show("SHOW {id2}"),
            step("ADDJOB {k}d b3 0 DELAY 30 TTL 100 RETRY 9"), show("SHOW {id3}"), step("DELJOB {id1} {id2} {id3}"),
        ]),

        // ---------------------------------------------------------------- QLEN / QPEEK
        case("qlen", &["QLEN {k}", "ADDJOB {k} a 0", "ADDJOB {k} b 0", "QLEN {k}", "GETJOB FROM {k}", "QLEN {k}", "QLEN", "QLEN {k} x", "DELJOB {id1} {id2}", "QLEN {k}"]),
        // oldest first for count > 0, newest first for count < 0; unknown/empty queue: *0
        case("qpeek", &[
            "QPEEK {k} 1", "QPEEK {k} -1", "QPEEK {k} 0", "ADDJOB {k} a 0", "ADDJOB {k} b 0", "ADDJOB {k} c 0", "QPEEK {k} 1", "QPEEK {k} 2", "QPEEK {k} 10", "QPEEK {k} -1", "QPEEK {k} -2", "QPEEK {k} -10", "QPEEK {k} 0",
            "QPEEK {k} 9223372036854775807", "QPEEK {k} -9223372036854775807", "QPEEK {k} -9223372036854775808", "QLEN {k}", "GETJOB FROM {k}", "QPEEK {k} 10", "DELJOB {id1} {id2} {id3}", "QPEEK {k} 10",
        ]),
        case("qpeek_errors", &["QPEEK {k} abc", "QPEEK {k} 1.5", "QPEEK {k} 9223372036854775808", "QPEEK {k} -9223372036854775809", "QPEEK {k} ''", "QPEEK {k}", "QPEEK", "QPEEK {k} 1 2"]),
        // a NACKed (older) job goes back near the head: queues are ordered by creation time
        case("qpeek_order_after_nack", &["ADDJOB {k} a 0", "ADDJOB {k} b 0", "GETJOB FROM {k}", "ADDJOB {k} c 0", "NACK {id1}", "QPEEK {k} 10", "GETJOB COUNT 3 FROM {k}", "DELJOB {id1} {id2} {id3}"]),

        // ---------------------------------------------------------------- QSTAT
        // unknown queue: null array; fields name, len, age, idle, blocked, import-from, import-rate, jobs-in, jobs-out, pause
        case("qstat", &[
            step("QSTAT {k}"), step("ADDJOB {k} a 0"), step("ADDJOB {k} b 0"), qstat("QSTAT {k}"), step("GETJOB FROM {k}"), qstat("QSTAT {k}"), step("NACK {id1}"), qstat("QSTAT {k}"),
            step("PAUSE {k} out"), qstat("QSTAT {k}"), step("DELJOB {id1} {id2}"), step("PAUSE {k} none"), qstat("QSTAT {k}"),
        ]),
        case("qstat_errors", &["QSTAT", "QSTAT {k} x"]),
        // GETJOB creates a queue it visits that does not exist (NOHANG too), in its passes over
        // the queues: one after the queue that reached COUNT is not visited, so not created
        case("getjob_creates_only_visited_queues", &[
            step("ADDJOB {k}b a 0"), step("GETJOB NOHANG COUNT 1 FROM {k}b {k}a"), step("QSTAT {k}a"), qstat("QSTAT {k}b"),
            step("GETJOB NOHANG COUNT 1 FROM {k}b {k}c"), qstat("QSTAT {k}c"), step("ACKJOB {id1}"),
        ]),

        // ---------------------------------------------------------------- PAUSE
        // replies the resulting state as a status; `state` only reports; unknown queue is created only by a change
        case("pause_states", &[
            "PAUSE {k} state", "QSTAT {k}", "PAUSE {k} none", "QSTAT {k}", "PAUSE {k} in", "PAUSE {k} state", "PAUSE {k} out", "PAUSE {k} in out", "PAUSE {k} all", "PAUSE {k} none", "PAUSE {k} out in state",
            "PAUSE {k} all none", "PAUSE {k} none in", "PAUSE {k} IN", "PAUSE {k} Out BCAST", "PAUSE {k} bcast", "PAUSE {k} state all", "PAUSE {k} none",
        ]),
        case("pause_creates_queue", &[qstat("QSTAT {k}"), step("PAUSE {k} in"), qstat("QSTAT {k}"), step("QLEN {k}"), step("PAUSE {k} none"), qstat("QSTAT {k}")]),
        case("pause_errors", &["PAUSE {k} foo", "PAUSE {k} in foo", "PAUSE {k} state", "PAUSE {k}", "PAUSE", "PAUSE {k} ''"]),

        // ---------------------------------------------------------------- QSCAN / JSCAN (argument errors; listings in disque_server.rs)
        case("qscan_errors", &[
            "QSCAN abc", "QSCAN 0 0", "QSCAN 0 COUNT abc", "QSCAN 0 MINLEN abc", "QSCAN 0 MAXLEN 1.5", "QSCAN 0 IMPORTRATE x", "QSCAN 0 COUNT", "QSCAN 0 FOO", "QSCAN ' 0'", "QSCAN 18446744073709551616",
            "QSCAN 0 COUNT 9223372036854775808",
        ]),
        case("jscan_errors", &[
            "JSCAN abc", "JSCAN 0 0", "JSCAN 0 COUNT abc", "JSCAN 0 STATE foo", "JSCAN 0 STATE", "JSCAN 0 REPLY foo", "JSCAN 0 REPLY", "JSCAN 0 QUEUE", "JSCAN 0 BUSYLOOP x", "JSCAN ' 0'", "JSCAN 18446744073709551616",
        ]),
        // JSCAN restricted to the case's queue: IDs as status strings, STATE filters (OR), REPLY all
        case("jscan_queue", &[
            step("ADDJOB {k} a 0"), step("ADDJOB {k} b 0"), step("ADDJOB {k} c 0 DELAY 100"), step("GETJOB FROM {k}"), step("ADDJOB {k}other d 0"),
            pair("JSCAN 0 QUEUE {k}", "cursor and IDs in any order", pred::scan_reply_unordered),
            pair("JSCAN QUEUE {k} STATE queued", "cursor and IDs in any order", pred::scan_reply_unordered),
            pair("JSCAN QUEUE {k} STATE active", "cursor and IDs in any order", pred::scan_reply_unordered),
            pair("JSCAN QUEUE {k} STATE active STATE queued BUSYLOOP", "cursor and IDs in any order", pred::scan_reply_unordered),
            pair("JSCAN QUEUE {k} STATE acked STATE wait-repl", "cursor and IDs in any order", pred::scan_reply_unordered),
            pair("JSCAN 0 COUNT 1000 QUEUE {k} STATE queued REPLY id", "cursor and IDs in any order", pred::scan_reply_unordered),
            step("%!scan JSCAN {cursor} COUNT 1 QUEUE {k}"),
            show("JSCAN 0 QUEUE {k} STATE queued REPLY all"), show("JSCAN 0 QUEUE {k}other REPLY ALL"),
            step("DELJOB {id1} {id2} {id3} {id4}"), step("JSCAN 0 QUEUE {k}"),
        ]),

        // ---------------------------------------------------------------- arity and misc
        case("arity", &[
            "GETJOB", "ACKJOB", "FASTACK", "DELJOB", "SHOW", "QLEN", "QPEEK {k}", "QSTAT", "ENQUEUE", "NACK", "DEQUEUE", "WORKING", "PAUSE {k}", "SHOW a b", "WORKING a b", "QLEN a b", "QSTAT a b", "QPEEK a b c",
        ]),
        // Disque's HELLO on Sluice's Disque port: [version 1, my node ID, [node ID, ip, port, priority] …];
        // the port is each server's own, compared by shape
        case("hello", &[
            pair("HELLO", "Disque's node list: version, node IDs, ip and priority exact, port by shape", |a, b| {
                let mask = |f: &Frame| -> Frame {
                    let mut f = f.clone();
                    if let Frame::Array(v) = &mut f {
                        for node in v.iter_mut().skip(2) {
                            if let Frame::Array(n) = node {
                                if let Some(p @ Frame::Bulk(_)) = n.get_mut(2) {
                                    *p = Frame::Bulk(b"<port>".to_vec());
                                }
                            }
                        }
                    }
                    f
                };
                let (ma, mb) = (mask(a), mask(b));
                if ma == mb { Ok(()) } else { Err(format!("{ma} vs {mb}")) }
            }),
            step("PING"),
        ]).disque_port(),
        // Deliberate difference: on the Disque port HELLO *with arguments* stays Redis's (Disque
        // has no such form and answers an arity error), so a Redis client library that sends
        // `HELLO 3` at connect (redis-py 8, under pydisque) still works there.
        case("hello_with_arguments_is_redis", &[
            sluice_check("HELLO 3", "Redis's HELLO (Disque: arity error)", |f| match f {
                Frame::Map(kv) if kv.first().is_some_and(|(k, v)| k == &Frame::Bulk(b"server".to_vec()) && v == &Frame::Bulk(b"redis".to_vec())) => Ok(()),
                other => Err(format!("not Redis's HELLO 3 map: {other}")),
            }),
            sluice_check("HELLO 2", "Redis's HELLO (Disque: arity error)", |f| match f {
                Frame::Array(v) if v.first() == Some(&Frame::Bulk(b"server".to_vec())) => Ok(()),
                other => Err(format!("not Redis's HELLO 2 reply: {other}")),
            }),
            sluice_only("hello x y", b"-ERR Protocol version is not an integer or out of range\r\n", "Redis's HELLO error (Disque: arity error)"),
            step("PING"),
        ]).disque_port(),
        // job commands work on the Disque port too
        case("disque_port_jobs", &["ADDJOB {k} a 0", "GETJOB FROM {k}", "ACKJOB {id1}", "QLEN {k}"]).disque_port(),
    ]
}

fn main() {
    run_disque(cases());
}
