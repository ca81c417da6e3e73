//! Reference-aware deletion (Redis 8.2): XDELEX, XACKDEL, and the `KEEPREF` /
//! `DELREF` / `ACKED` policies of XADD and XTRIM.
//!
//! Redis 7.0.15 (the reference server) has none of these, so every step that
//! uses them, and every step after it that looks at what they changed, is a
//! [`sluice_only`] / [`sluice_check`] step: Sluice's reply is checked against
//! the behaviour and error texts of Redis's own tests
//! (`tests/unit/type/stream.tcl` and `stream-cgroups.tcl`, 8.2.7+ / 8.6 era,
//! i.e. after the `~`-with-DELREF/ACKED fix #14623), not against 7.0.15. The
//! setup steps (XADD, XGROUP, XREADGROUP, XACK) are still compared with
//! 7.0.15 byte for byte. Every reply here is an array of integers, an
//! integer, an error or a bulk string, identical in RESP2 and RESP3, except
//! the empty XPENDING summary (nulls), which is checked by predicate.

use redis_compat_tests::*;

const WHY: &str =
    "Redis 8.2 reference-aware deletion: checked against Redis's stream tests, not 7.0.15";

/// `*n` of integers.
fn codes(c: &[i64]) -> Vec<u8> {
    let mut v = format!("*{}\r\n", c.len()).into_bytes();
    for x in c {
        v.extend_from_slice(format!(":{x}\r\n").as_bytes());
    }
    v
}

fn so(line: &str, bytes: &[u8]) -> Step {
    sluice_only(line, bytes, WHY)
}

fn int(line: &str, n: i64) -> Step {
    so(line, format!(":{n}\r\n").as_bytes())
}

fn err(line: &str, text: &str) -> Step {
    so(line, format!("-{text}\r\n").as_bytes())
}

/// XPENDING summary with `n` pending entries (the empty one has nulls, RESP2 vs RESP3).
fn pending(line: &str, n: i64) -> Step {
    sluice_check(line, WHY, move |f| match f {
        Frame::Array(v) if v.len() == 4 && v[0] == Frame::Integer(n) => Ok(()),
        other => Err(format!("expected an XPENDING summary of {n}, got {other}")),
    })
}

/// Any reply but an error (a read whose shape is compared elsewhere).
fn any(line: &str) -> Step {
    sluice_check(line, WHY, |f| match f {
        Frame::Error(e) => Err(format!("error {}", String::from_utf8_lossy(e))),
        _ => Ok(()),
    })
}

/// A bulk string (an auto-generated ID).
fn bulk(line: &str) -> Step {
    sluice_check(line, WHY, |f| match f {
        Frame::Bulk(_) => Ok(()),
        other => Err(format!("expected an ID, got {other}")),
    })
}

const POSITIVE: &str = "ERR Number of IDs must be a positive integer";
const MISMATCH: &str = "ERR The `numids` parameter must match the number of arguments";
const SYNTAX: &str = "ERR syntax error";
const BAD_ID: &str = "ERR Invalid stream ID specified as stream command argument";
const WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";

/// Two groups that both read 1-0 and 2-0 (consumer1 in group1, consumer2 in group2).
const TWO_GROUPS: &[&str] = &[
    "XADD {k} 1-0 f v",
    "XADD {k} 2-0 f v",
    "XGROUP CREATE {k} group1 0",
    "XGROUP CREATE {k} group2 0",
    "XREADGROUP GROUP group1 consumer1 STREAMS {k} >",
    "XREADGROUP GROUP group2 consumer2 STREAMS {k} >",
];

fn with(setup: &[&str], rest: Vec<Step>) -> Vec<Step> {
    setup.iter().map(|s| step(s)).chain(rest).collect()
}

#[rustfmt::skip]
fn cases() -> Vec<Case> {
    vec![
        // --- XDELEX ---
        case("xdelex_errors", &[
            err("XDELEX {k} DELREF", "ERR wrong number of arguments for 'xdelex' command"),
            so("XDELEX {k}none IDS 2 1-1 2-2", &codes(&[-1, -1])),
            step("XADD {k} 1-0 f v"), step("XGROUP CREATE {k} g 0"),
            err("XDELEX {k} IDS abc 1-1", POSITIVE), err("XDELEX {k} IDS 0 1-1", POSITIVE), err("XDELEX {k} IDS -5 1-1", POSITIVE),
            err("XDELEX {k} IDS 3 1-1 2-2", MISMATCH), err("XDELEX {k} IDS 1 1-1 2-2", SYNTAX),
            so("XDELEX {k} IDS 2 1-1 2-2", &codes(&[-1, -1])),
            err("XDELEX {k} KEEPREF DELREF IDS 1 1-1", SYNTAX), err("XDELEX {k} KEEPREF ACKED IDS 1 1-1", SYNTAX), err("XDELEX {k} ACKED DELREF IDS 1 1-1", SYNTAX),
            err("XDELEX {k} ACKED ACKED IDS 1 1-1", SYNTAX), err("XDELEX {k} FOO IDS 1 1-1", SYNTAX), err("XDELEX {k} IDS 1 1-1 ACKED ACKED", SYNTAX),
            err("XDELEX {k} IDS 2 1-1 bad", BAD_ID), err("XDELEX {k} IDS 1 *", BAD_ID),
            step("SET {k}s x"), err("XDELEX {k}s IDS 1 1-0", WRONGTYPE), err("XDELEX {k}s IDS 1 bad", BAD_ID),
            // the policy may follow the IDS block; an incomplete ID is `<ms>-0`; the key was untouched by all of the above
            so("XDELEX {k} IDS 1 1 KEEPREF", &codes(&[1])), int("XLEN {k}", 0),
        ]),
        case("xdelex_delref", &with(TWO_GROUPS, vec![
            so("XDELEX {k} DELREF IDS 2 1-0 2-0", &codes(&[1, 1])), int("XLEN {k}", 0),
            pending("XPENDING {k} group1", 0), pending("XPENDING {k} group2", 0),
            so("XPENDING {k} group1 - + 10", b"*0\r\n"), so("XPENDING {k} group2 - + 10 consumer2", b"*0\r\n"),
        ])),
        case("xdelex_keepref", &with(TWO_GROUPS, vec![
            so("XDELEX {k} KEEPREF IDS 2 1-0 2-0", &codes(&[1, 1])), int("XLEN {k}", 0),
            so("XPENDING {k} group1", b"*4\r\n:2\r\n$3\r\n1-0\r\n$3\r\n2-0\r\n*1\r\n*2\r\n$9\r\nconsumer1\r\n$1\r\n2\r\n"),
            so("XPENDING {k} group2", b"*4\r\n:2\r\n$3\r\n1-0\r\n$3\r\n2-0\r\n*1\r\n*2\r\n$9\r\nconsumer2\r\n$1\r\n2\r\n"),
            // the default policy is KEEPREF; an ID deleted already (or given twice) is not found
            so("XDELEX {k} IDS 2 1-0 1-0", &codes(&[-1, -1])),
        ])),
        case("xdelex_default_and_duplicates", &[
            step("XADD {k} 1-0 f v"), step("XADD {k} 2-0 f v"), step("XADD {k} 3-0 f v"),
            so("XDELEX {k} IDS 4 2-0 2-0 9-0 3-0", &codes(&[1, -1, -1, 1])), so("XRANGE {k} - +", b"*1\r\n*2\r\n$3\r\n1-0\r\n*2\r\n$1\r\nf\r\n$1\r\nv\r\n"),
        ]),
        // delivered and acknowledged by every group, including one that had not read them yet
        case("xdelex_acked", &[
            step("XADD {k} 1-0 f v"), step("XADD {k} 2-0 f v"),
            step("XGROUP CREATE {k} group1 0"), step("XGROUP CREATE {k} group2 0"), step("XGROUP CREATE {k} group3 0"),
            step("XREADGROUP GROUP group1 consumer1 STREAMS {k} >"), step("XREADGROUP GROUP group2 consumer2 STREAMS {k} >"),
            step("XACK {k} group1 1-0 2-0"), so("XDELEX {k} ACKED IDS 2 1-0 2-0", &codes(&[2, 2])), int("XLEN {k}", 2),
            // an ID given twice: still there, still referenced
            so("XDELEX {k} ACKED IDS 2 1-0 1-0", &codes(&[2, 2])),
            step("XACK {k} group2 1-0 2-0"), so("XDELEX {k} ACKED IDS 2 1-0 2-0", &codes(&[2, 2])), int("XLEN {k}", 2),
            step("XREADGROUP GROUP group3 consumer3 STREAMS {k} >"), so("XDELEX {k} ACKED IDS 2 1-0 2-0", &codes(&[2, 2])),
            step("XACK {k} group3 1-0 2-0"), so("XDELEX {k} ACKED IDS 3 1-0 2-0 3-0", &codes(&[1, 1, -1])), int("XLEN {k}", 0),
        ]),
        case("xdelex_acked_new_group", &[
            step("XADD {k} 1-0 f v"), step("XADD {k} 2-0 f v"), step("XADD {k} 3-0 f v"),
            step("XGROUP CREATE {k} group1 0"), step("XREADGROUP GROUP group1 consumer1 STREAMS {k} >"), step("XACK {k} group1 1-0 2-0 3-0"),
            so("XDELEX {k} ACKED IDS 1 1-0", &codes(&[1])),
            step("XGROUP CREATE {k} group2 0"), so("XDELEX {k} ACKED IDS 1 2-0", &codes(&[2])),
        ]),
        // no groups: nothing references anything, ACKED deletes (as after the last XGROUP DESTROY)
        case("xdelex_acked_without_groups", &[
            step("XADD {k} 0-1 a 0"), step("XADD {k} 1-1 a 1"), step("XGROUP CREATE {k} g 0"), step("XREADGROUP GROUP g c STREAMS {k} >"),
            so("XDELEX {k} ACKED IDS 2 0-1 1-1", &codes(&[2, 2])), step("XGROUP DESTROY {k} g"),
            so("XDELEX {k} ACKED IDS 2 0-1 1-1", &codes(&[1, 1])), int("XLEN {k}", 0),
        ]),
        // a group's last delivered ID is the watermark: below it and not pending = deletable
        case("xdelex_acked_last_id", &[
            step("XADD {k} 1-0 f1 v1"), step("XADD {k} 2-0 f2 v2"), step("XADD {k} 3-0 f3 v3"),
            step("XGROUP CREATE {k} group1 1-0"), step("XGROUP CREATE {k} group2 3-0"),
            so("XDELEX {k} ACKED IDS 1 1-0", &codes(&[1])), so("XDELEX {k} ACKED IDS 1 2-0", &codes(&[2])),
            step("XGROUP DESTROY {k} group1"), so("XDELEX {k} ACKED IDS 1 2-0", &codes(&[1])),
        ]),
        // --- XACKDEL ---
        case("xackdel_errors", &[
            err("XACKDEL {k} g", "ERR wrong number of arguments for 'xackdel' command"),
            err("XACKDEL {k} g IDS 1", "ERR wrong number of arguments for 'xackdel' command"),
            so("XACKDEL {k} g IDS 2 1-1 2-2", &codes(&[-1, -1])),
            step("XADD {k} 1-0 f v"), so("XACKDEL {k} g IDS 2 1-1 2-2", &codes(&[-1, -1])),
            step("XGROUP CREATE {k} g 0"),
            err("XACKDEL {k} g IDS abc 1-1", POSITIVE), err("XACKDEL {k} g IDS 0 1-1", POSITIVE), err("XACKDEL {k} g IDS -5 1-1", POSITIVE),
            err("XACKDEL {k} g IDS 3 1-1 2-2", MISMATCH), err("XACKDEL {k} g IDS 1 1-1 2-2", SYNTAX),
            err("XACKDEL {k} g KEEPREF DELREF IDS 1 1-1", SYNTAX), err("XACKDEL {k} g KEEPREF ACKED IDS 1 1-1", SYNTAX), err("XACKDEL {k} g DELREF ACKED IDS 1 1-1", SYNTAX),
            err("XACKDEL {k} g IDS 1 x-y", BAD_ID),
            step("SET {k}s x"), err("XACKDEL {k}s g IDS 1 1-0", WRONGTYPE),
            // not pending in the group: -1, and the entry stays
            so("XACKDEL {k} g IDS 1 1-0", &codes(&[-1])), int("XLEN {k}", 1),
        ]),
        case("xackdel_delref", &with(TWO_GROUPS, vec![
            so("XACKDEL {k} group1 DELREF IDS 2 1-0 2-0", &codes(&[1, 1])), int("XLEN {k}", 0),
            pending("XPENDING {k} group1", 0), pending("XPENDING {k} group2", 0),
            so("XACKDEL {k} group2 DELREF IDS 2 1-0 2-0", &codes(&[-1, -1])),
        ])),
        case("xackdel_acked", &with(TWO_GROUPS, vec![
            so("XACKDEL {k} group1 ACKED IDS 2 1-0 2-0", &codes(&[2, 2])), int("XLEN {k}", 2),
            pending("XPENDING {k} group1", 0),
            so("XPENDING {k} group2", b"*4\r\n:2\r\n$3\r\n1-0\r\n$3\r\n2-0\r\n*1\r\n*2\r\n$9\r\nconsumer2\r\n$1\r\n2\r\n"),
            so("XACKDEL {k} group2 ACKED IDS 2 1-0 2-0", &codes(&[1, 1])), int("XLEN {k}", 0),
            pending("XPENDING {k} group1", 0), pending("XPENDING {k} group2", 0),
        ])),
        // KEEPREF: the other group's references stay; acknowledging them there later answers 1 (acked; the entry is gone already)
        case("xackdel_keepref", &with(TWO_GROUPS, vec![
            so("XACKDEL {k} group1 KEEPREF IDS 2 1-0 2-0", &codes(&[1, 1])), int("XLEN {k}", 0),
            so("XPENDING {k} group2", b"*4\r\n:2\r\n$3\r\n1-0\r\n$3\r\n2-0\r\n*1\r\n*2\r\n$9\r\nconsumer2\r\n$1\r\n2\r\n"),
            so("XACKDEL {k} group2 IDS 3 1-0 2-0 1-0", &codes(&[1, 1, -1])), pending("XPENDING {k} group2", 0),
        ])),
        // inside MULTI: queued, and the deletion and the PEL change happen at EXEC
        case("xackdel_multi", &with(TWO_GROUPS, vec![
            step("MULTI"), so("XACKDEL {k} group1 DELREF IDS 2 1-0 2-0", b"+QUEUED\r\n"), step("XLEN {k}"),
            so("EXEC", b"*2\r\n*2\r\n:1\r\n:1\r\n:0\r\n"), pending("XPENDING {k} group2", 0),
        ])),
        case("xackdel_many_ids", &[
            step("XGROUP CREATE {k} g $ MKSTREAM"),
            so(&format!("XACKDEL {{k}} g IDS 50 {}", (0..50).map(|i| format!("{i}-1")).collect::<Vec<_>>().join(" ")), &codes(&[-1; 50])),
        ]),
        // --- XADD / XTRIM policies ---
        case("xadd_maxlen_acked", &[
            step("XADD {k} 1-0 f v"), step("XADD {k} 2-0 f v"), step("XADD {k} 3-0 f v"), step("XADD {k} 4-0 f v"), step("XADD {k} 5-0 f v"),
            step("XGROUP CREATE {k} mygroup 0"),
            so("XADD {k} MAXLEN = 1 ACKED 6-0 f v", b"$3\r\n6-0\r\n"), int("XLEN {k}", 6),
            any("XREADGROUP GROUP mygroup consumer1 COUNT 1 STREAMS {k} >"), int("XACK {k} mygroup 1-0", 1), pending("XPENDING {k} mygroup", 0),
            so("XADD {k} MAXLEN = 1 ACKED 7-0 f v", b"$3\r\n7-0\r\n"), int("XLEN {k}", 6),
            any("XREADGROUP GROUP mygroup consumer1 STREAMS {k} >"), int("XACK {k} mygroup 2-0 3-0 4-0 5-0 6-0 7-0", 6),
            bulk("XADD {k} MAXLEN = 1 ACKED * f v"), int("XLEN {k}", 1),
        ]),
        case("xtrim_approx_acked", &[
            step("XADD {k} 1-0 f v"), step("XADD {k} 2-0 f v"), step("XADD {k} 3-0 f v"), step("XADD {k} 4-0 f v"), step("XADD {k} 5-0 f v"),
            step("XGROUP CREATE {k} mygroup 0"), step("XREADGROUP GROUP mygroup consumer1 STREAMS {k} >"), step("XACK {k} mygroup 1-0 2-0 4-0"),
            int("XTRIM {k} MINID ~ 6-0 ACKED", 3), int("XLEN {k}", 2),
            so("XRANGE {k} - +", b"*2\r\n*2\r\n$3\r\n3-0\r\n*2\r\n$1\r\nf\r\n$1\r\nv\r\n*2\r\n$3\r\n5-0\r\n*2\r\n$1\r\nf\r\n$1\r\nv\r\n"),
        ]),
        case("xtrim_approx_delref", &[
            step("XADD {k} 1-0 f v"), step("XADD {k} 2-0 f v"), step("XADD {k} 3-0 f v"), step("XADD {k} 4-0 f v"),
            step("XGROUP CREATE {k} mygroup 0"), step("XREADGROUP GROUP mygroup consumer1 STREAMS {k} >"),
            int("XTRIM {k} MINID ~ 5-0 DELREF", 4), int("XLEN {k}", 0), pending("XPENDING {k} mygroup", 0),
        ]),
        case("xtrim_policies_exact", &[
            step("XADD {k} 1-0 f v"), step("XADD {k} 2-0 f v"), step("XADD {k} 3-0 f v"), step("XADD {k} 4-0 f v"),
            step("XGROUP CREATE {k} g1 0"), step("XGROUP CREATE {k} g2 0"),
            step("XREADGROUP GROUP g1 c COUNT 3 STREAMS {k} >"), step("XREADGROUP GROUP g2 c COUNT 2 STREAMS {k} >"),
            // ACKED: nothing acknowledged, nothing goes (g2 has not even delivered 3-0)
            int("XTRIM {k} MAXLEN 0 ACKED", 0), step("XACK {k} g1 1-0 2-0 3-0"), step("XACK {k} g2 2-0"),
            // 1-0 is still pending in g2, 2-0 is done everywhere, 3-0 not delivered by g2
            int("XTRIM {k} MINID 9-0 ACKED", 1), so("XDELEX {k} IDS 1 2-0", &codes(&[-1])),
            // KEEPREF (explicit) trims 1-0 and leaves g2's reference; DELREF would drop it
            int("XTRIM {k} MAXLEN 2 KEEPREF", 1), pending("XPENDING {k} g2", 1),
            // DELREF drops the references of the entries it trims (3-0), not the dangling one below them (1-0, as Redis)
            int("XTRIM {k} MAXLEN 1 DELREF", 1), pending("XPENDING {k} g2", 1), pending("XPENDING {k} g1", 0), int("XLEN {k}", 1),
            int("XTRIM {k} MAXLEN 0 DELREF", 1), pending("XPENDING {k} g2", 1),
        ]),
        case("xadd_maxlen_delref", &[
            step("XADD {k} 1-0 f v"), step("XADD {k} 2-0 f v"), step("XADD {k} 3-0 f v"),
            step("XGROUP CREATE {k} mygroup 0"), step("XREADGROUP GROUP mygroup consumer1 COUNT 1 STREAMS {k} >"),
            bulk("XADD {k} MAXLEN = 1 DELREF * f v"), int("XLEN {k}", 1), pending("XPENDING {k} mygroup", 0),
        ]),
        case("trim_policy_errors", &[
            step("XADD {k} 1-0 f v"),
            err("XTRIM {k} MAXLEN 1 KEEPREF DELREF", SYNTAX), err("XTRIM {k} ACKED ACKED MAXLEN 1", SYNTAX), err("XTRIM {k} ACKED LIMIT 0", "ERR syntax error, XTRIM must be called with a trimming strategy"),
            err("XADD {k} KEEPREF DELREF * f v", BAD_ID),
            // a policy without a trimming strategy is accepted and does nothing
            so("XADD {k} ACKED 2-0 f v", b"$3\r\n2-0\r\n"), int("XTRIM {k} DELREF MAXLEN 5", 0), int("XLEN {k}", 2),
        ]),
    ]
}

fn main() {
    run(cases());
}
