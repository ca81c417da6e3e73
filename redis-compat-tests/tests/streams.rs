//! Stream commands without blocking (run in parallel, one key prefix per
//! case): XADD (every option and error), XRANGE / XREVRANGE, XLEN, XDEL,
//! XTRIM, XSETID, XREAD without BLOCK, XINFO STREAM / HELP, and the generic
//! keyspace commands on stream keys. Approximate trimming and the radix-tree
//! counters of XINFO STREAM are compared exactly (they are deterministic for
//! explicit IDs), also with small `stream-node-max-*` settings (those cases
//! are `.exclusive()`: they change server-wide state and restore it).
//!
//! Every reply that would contain a time-based ID uses explicit IDs or
//! `<ms>-*`; the few `*` steps are compared by shape (`~`).
//!
//! Blocking XREAD is in tests/streams_blocking.rs, the random differential
//! test in tests/streams_random.rs.

use redis_compat_tests::pred::int_between;
use redis_compat_tests::*;

/// `n` steps built from their index (1-based): a loop in a case table.
fn repeat(n: usize, f: impl Fn(usize) -> String) -> Vec<Step> {
    (1..=n).map(|i| step(&f(i))).collect()
}

/// Concatenate step lists (mixing DSL lines and generated steps).
fn steps(parts: &[&[Step]]) -> Vec<Step> {
    parts.iter().flat_map(|p| p.iter().cloned()).collect()
}

fn lines(v: &[&str]) -> Vec<Step> {
    v.iter().map(|s| step(s)).collect()
}

fn ttl_about(cmd: &str, lo: i64, hi: i64) -> Step {
    check(cmd, &format!("integer in {lo}..={hi}"), int_between(lo, hi))
}

/// A value whose length varies with `i` (1..=31 bytes), for listpacks of
/// varying sizes.
fn val(i: usize) -> String {
    "x".repeat(i % 7 * 5 + 1)
}

/// `XADD key <ms>-* ...` when `<ms>` already holds seq 2^64-1. Redis 7.0.15's append fails
/// there without setting errno, and XADD picks its text from the stale errno: usually "Elements
/// are too large to be stored" (what redis-cli shows), "equal or smaller" when the last failed
/// call left EDOM. Sluice always answers the usual one (issue #13 point 4); Redis may answer
/// either.
fn seq_overflow(cmd: &str) -> Step {
    const ELEMENTS: &[u8] = b"ERR Elements are too large to be stored";
    const EDOM: &[u8] =
        b"ERR The ID specified in XADD is equal or smaller than the target stream top item";
    pair(
        cmd,
        "Sluice: 'Elements are too large'; 7.0.15: either text (stale errno)",
        |redis, sluice| {
            match redis {
                Frame::Error(e) if e.as_slice() == ELEMENTS || e.as_slice() == EDOM => {}
                other => return Err(format!("case bug: redis answered {other}")),
            }
            match sluice {
                Frame::Error(e) if e.as_slice() == ELEMENTS => Ok(()),
                other => Err(format!(
                    "expected -{}, got {other}",
                    String::from_utf8_lossy(ELEMENTS)
                )),
            }
        },
    )
}

/// RESP bulk string.
fn bulk(s: &str) -> String {
    format!("${}\r\n{s}\r\n", s.len())
}

/// The reply Sluice must give to `XREAD ... STREAMS key +` on a stream whose
/// last entry is `2-2 b 2 c 3` (spec §3: `+` = the last entry, Redis 7.4).
fn xread_plus_reply(key: &str, resp3: bool) -> Vec<u8> {
    let entry = format!(
        "*1\r\n*2\r\n{}*4\r\n{}{}{}{}",
        bulk("2-2"),
        bulk("b"),
        bulk("2"),
        bulk("c"),
        bulk("3")
    );
    let head = if resp3 {
        "%1\r\n".to_string()
    } else {
        "*1\r\n*2\r\n".to_string()
    };
    format!("{head}{}{entry}", bulk(key)).into_bytes()
}

/// Same, after the last entry `2-2` was deleted: `1-1 a 1` is the last one.
fn xread_plus_reply_after_xdel(key: &str, resp3: bool) -> Vec<u8> {
    let entry = format!(
        "*1\r\n*2\r\n{}*2\r\n{}{}",
        bulk("1-1"),
        bulk("a"),
        bulk("1")
    );
    let head = if resp3 {
        "%1\r\n".to_string()
    } else {
        "*1\r\n*2\r\n".to_string()
    };
    format!("{head}{}{entry}", bulk(key)).into_bytes()
}

/// An XREAD / XREADGROUP reply: per stream, its key (protocol suffix added) and its entries
/// `(id, value)`, each entry with the one field `f`.
fn read_reply(streams: &[(&str, &[(&str, &str)])], resp3: bool) -> Vec<u8> {
    let mut out = if resp3 {
        format!("%{}\r\n", streams.len())
    } else {
        format!("*{}\r\n", streams.len())
    };
    for (key, entries) in streams {
        if !resp3 {
            out.push_str("*2\r\n");
        }
        out.push_str(&bulk(key));
        out.push_str(&format!("*{}\r\n", entries.len()));
        for (id, v) in *entries {
            out.push_str(&format!("*2\r\n{}*2\r\n{}{}", bulk(id), bulk("f"), bulk(v)));
        }
    }
    out.into_bytes()
}

/// XREAD MAXCOUNT / MAXSIZE (Redis 8.10; 7.0.15 answers `-ERR syntax error`): cumulative caps
/// over all the streams of one reply, streams served in the order named (spec §3, redis-py's
/// 8.10 tests). One case per protocol, as the keys in the expected bytes carry it.
fn xread_caps(name: &str, resp3: bool) -> Case {
    const WHY: &str = "MAXCOUNT/MAXSIZE are Redis 8.10; 7.0.15 has no such options (checked against spec §3 and redis-py 8.1's tests)";
    let p = if resp3 { 3 } else { 2 };
    let (a, b) = (format!("{name}:{p}a"), format!("{name}:{p}b"));
    let null: &[u8] = if resp3 { b"_\r\n" } else { b"*-1\r\n" };
    let three: &[(&str, &str)] = &[("1-1", "a1"), ("2-1", "a2"), ("3-1", "a3")];
    let c = case(
        name,
        &[
            step("XADD {k}a 1-1 f a1"),
            step("XADD {k}a 2-1 f a2"),
            step("XADD {k}a 3-1 f a3"),
            step("XADD {k}b 1-1 f b1"),
            step("XADD {k}b 2-1 f b2"),
            // COUNT is per stream, MAXCOUNT caps the sum: 2 from a, then 1 from b.
            sluice_only(
                "XREAD COUNT 2 MAXCOUNT 3 STREAMS {k}a {k}b 0 0",
                &read_reply(&[(&a, &three[..2]), (&b, &[("1-1", "b1")])], resp3),
                WHY,
            ),
            // Without COUNT, MAXCOUNT alone: the first stream takes it all, the second is skipped.
            sluice_only(
                "XREAD MAXCOUNT 2 STREAMS {k}a {k}b 0 0",
                &read_reply(&[(&a, &three[..2])], resp3),
                WHY,
            ),
            sluice_only(
                "XREAD MAXCOUNT 100 STREAMS {k}a {k}b 2-1 0",
                &read_reply(
                    &[(&a, &three[2..]), (&b, &[("1-1", "b1"), ("2-1", "b2")])],
                    resp3,
                ),
                WHY,
            ),
            // MAXSIZE: one entry here is 32 bytes of RESP; the first entry always comes, however small the cap.
            sluice_only(
                "XREAD MAXSIZE 1 STREAMS {k}a {k}b 0 0",
                &read_reply(&[(&a, &three[..1])], resp3),
                WHY,
            ),
            sluice_only(
                "XREAD MAXSIZE 70 STREAMS {k}a {k}b 0 0",
                &read_reply(&[(&a, &three[..2])], resp3),
                WHY,
            ),
            sluice_only(
                "XREAD MAXSIZE 66 STREAMS {k}a {k}b 2-1 0",
                &read_reply(&[(&a, &three[2..]), (&b, &[("1-1", "b1")])], resp3),
                WHY,
            ),
            // Nothing to read stays the null reply.
            sluice_only(
                "XREAD MAXCOUNT 1 MAXSIZE 1 STREAMS {k}a {k}b 3-1 2-1",
                null,
                WHY,
            ),
            // Checks (texts not confirmed against an 8.10 server, see the README).
            sluice_only(
                "XREAD COUNT 3 MAXCOUNT 2 STREAMS {k}a 0",
                b"-ERR MAXCOUNT must be greater than or equal to COUNT\r\n",
                WHY,
            ),
            sluice_only(
                "XREAD MAXCOUNT 2 COUNT 3 STREAMS {k}a 0",
                b"-ERR MAXCOUNT must be greater than or equal to COUNT\r\n",
                WHY,
            ),
            sluice_only(
                "XREAD MAXCOUNT 0 STREAMS {k}a 0",
                b"-ERR MAXCOUNT must be a positive integer\r\n",
                WHY,
            ),
            sluice_only(
                "XREAD MAXCOUNT -1 STREAMS {k}a 0",
                b"-ERR MAXCOUNT must be a positive integer\r\n",
                WHY,
            ),
            sluice_only(
                "XREAD MAXSIZE 0 STREAMS {k}a 0",
                b"-ERR MAXSIZE must be a positive integer\r\n",
                WHY,
            ),
            sluice_only(
                "XREAD MAXCOUNT x STREAMS {k}a 0",
                b"-ERR value is not an integer or out of range\r\n",
                WHY,
            ),
            sluice_only(
                "XREAD MAXSIZE 18446744073709551616 STREAMS {k}a 0",
                b"-ERR value is not an integer or out of range\r\n",
                WHY,
            ),
            step("DEL {k}a {k}b"),
        ],
    );
    if resp3 {
        c.resp3_only()
    } else {
        c.resp2_only()
    }
}

/// XREADGROUP MAXCOUNT / MAXSIZE (Redis 8.10): the same caps, and what they leave out is not
/// delivered (it stays for the next `>` read); a history read is capped the same way.
fn xreadgroup_caps(name: &str, resp3: bool) -> Case {
    const WHY: &str = "MAXCOUNT/MAXSIZE are Redis 8.10; 7.0.15 has no such options (checked against spec §3 and redis-py 8.1's tests)";
    let p = if resp3 { 3 } else { 2 };
    let (a, b) = (format!("{name}:{p}a"), format!("{name}:{p}b"));
    let c = case(
        name,
        &[
            step("XADD {k}a 1-1 f a1"),
            step("XADD {k}a 2-1 f a2"),
            step("XADD {k}a 3-1 f a3"),
            step("XADD {k}b 1-1 f b1"),
            step("XADD {k}b 2-1 f b2"),
            step("XGROUP CREATE {k}a g 0"),
            step("XGROUP CREATE {k}b g 0"),
            sluice_only(
                "XREADGROUP GROUP g c COUNT 2 MAXCOUNT 3 STREAMS {k}a {k}b > >",
                &read_reply(
                    &[
                        (&a, &[("1-1", "a1"), ("2-1", "a2")]),
                        (&b, &[("1-1", "b1")]),
                    ],
                    resp3,
                ),
                WHY,
            ),
            // 32 bytes an entry: a3 fits in 40, b2 would not (it stays undelivered).
            sluice_only(
                "XREADGROUP GROUP g c MAXSIZE 40 STREAMS {k}a {k}b > >",
                &read_reply(&[(&a, &[("3-1", "a3")])], resp3),
                WHY,
            ),
            sluice_only(
                "XPENDING {k}a g",
                b"*4\r\n:3\r\n$3\r\n1-1\r\n$3\r\n3-1\r\n*1\r\n*2\r\n$1\r\nc\r\n$1\r\n3\r\n",
                WHY,
            ),
            sluice_only(
                "XPENDING {k}b g",
                b"*4\r\n:1\r\n$3\r\n1-1\r\n$3\r\n1-1\r\n*1\r\n*2\r\n$1\r\nc\r\n$1\r\n1\r\n",
                WHY,
            ),
            sluice_only(
                "XREADGROUP GROUP g c MAXCOUNT 1 STREAMS {k}b >",
                &read_reply(&[(&b, &[("2-1", "b2")])], resp3),
                WHY,
            ),
            // History: capped too.
            sluice_only(
                "XREADGROUP GROUP g c MAXSIZE 70 STREAMS {k}a {k}b 0 0",
                &read_reply(&[(&a, &[("1-1", "a1"), ("2-1", "a2")])], resp3),
                WHY,
            ),
            sluice_only(
                "XREADGROUP GROUP g c COUNT 5 MAXCOUNT 4 STREAMS {k}a >",
                b"-ERR MAXCOUNT must be greater than or equal to COUNT\r\n",
                WHY,
            ),
            sluice_only(
                "XREADGROUP GROUP g c MAXSIZE -5 STREAMS {k}a >",
                b"-ERR MAXSIZE must be a positive integer\r\n",
                WHY,
            ),
            step("DEL {k}a {k}b"),
        ],
    );
    if resp3 {
        c.resp3_only()
    } else {
        c.resp2_only()
    }
}

/// The XREAD `+` case (Redis 7.4; 7.0.15 answers `-ERR Invalid stream ID
/// specified as stream command argument`). The key in the expected bytes
/// depends on the protocol, hence one case per protocol.
fn xread_plus(name: &str, resp3: bool) -> Case {
    const WHY: &str = "XREAD + is Redis 7.4; 7.0.15 rejects it";
    let key = format!("{name}:{}", if resp3 { 3 } else { 2 });
    let null: &[u8] = if resp3 { b"_\r\n" } else { b"*-1\r\n" };
    let c = case(
        name,
        &[
            step("XADD {k} 1-1 a 1"),
            step("XADD {k} 2-2 b 2 c 3"),
            sluice_only("XREAD STREAMS {k} +", &xread_plus_reply(&key, resp3), WHY),
            sluice_only(
                "XREAD COUNT 5 STREAMS {k} +",
                &xread_plus_reply(&key, resp3),
                WHY,
            ),
            sluice_only("XREAD STREAMS {k}missing +", null, WHY),
            sluice_only(
                "XREAD STREAMS {k}missing {k} + +",
                &xread_plus_reply(&key, resp3),
                WHY,
            ),
            step("XDEL {k} 2-2"),
            sluice_only(
                "XREAD STREAMS {k} +",
                &xread_plus_reply_after_xdel(&key, resp3),
                WHY,
            ),
            step("XDEL {k} 1-1"),
            sluice_only("XREAD STREAMS {k} +", null, WHY),
            step("DEL {k}"),
        ],
    );
    if resp3 {
        c.resp3_only()
    } else {
        c.resp2_only()
    }
}

#[rustfmt::skip]
fn cases() -> Vec<Case> {
    let mut v = vec![
        // ---------------------------------------------------------------- XADD
        case("xadd_basic", &["XADD {k} 1-1 f v", "XADD {k} 1-2 a 1 b 2", "XADD {k} 2-0 f v f w", "XLEN {k}", "XRANGE {k} - +", "TYPE {k}", "DEL {k}", "XLEN {k}"]),
        case("xadd_star_shape", &["~XADD {k} * f v", "~XADD {k} * f v", "XLEN {k}", "~XRANGE {k} - +", "DEL {k}"]),
        // `*` after an explicit future ms: same ms, seq + 1 (deterministic)
        case("xadd_star_after_future_id", &["XADD {k} 99999999999999-5 f v", "XADD {k} * f v", "XADD {k} * f v", "XADD {k} 99999999999999-* f v", "XRANGE {k} - +", "DEL {k}"]),
        case("xadd_ms_star", &["XADD {k} 5-* f v", "XADD {k} 5-* f v", "XADD {k} 6-* f v", "XADD {k} 4-* f v", "XADD {k} 6-* f v", "XADD {k} 5-9 f v", "XADD {k}b 0-* f v", "XADD {k}b 0-* f v", "XADD {k}c 9999999999999-* f v", "XRANGE {k} - +", "DEL {k} {k}b {k}c"]),
        // `<ms>-*` when that ms already holds seq 2^64-1 (see `seq_overflow`)
        case("xadd_ms_star_seq_overflow", &[
            step("XADD {k} 5-18446744073709551615 f v"), seq_overflow("XADD {k} 5-* f v"), seq_overflow("XADD {k} MAXLEN 1 5-* f v"), step("XADD {k} 6-* f v"), step("XADD {k} 18446744073709551615-* f v"), step("XADD {k} 18446744073709551615-* f v"),
            step("XADD {k} 18446744073709551615-18446744073709551615 f v"), step("XADD {k} 18446744073709551615-* f v"), step("XLEN {k}"), step("XRANGE {k} - +"), step("DEL {k}"),
        ]),
        case("xadd_ms_star_seq_exhausted_issue13", &[step("XADD {k} 18-18446744073709551615 f v"), seq_overflow("XADD {k} 18-* f v"), step("XADD {k} 17-* f v"), step("XADD {k} 19-* f v"), step("XRANGE {k} - +"), step("DEL {k}")]),
        case("xinfo_stream_missing_key_full_count_issue13", &["XINFO STREAM {k}missing FULL COUNT", "XINFO STREAM {k}missing FULL COUNT x", "XINFO STREAM {k}missing FULL COUNT 1 x", "XINFO STREAM {k}missing FULLY"]),
        case("xadd_partial_ids", &["XADD {k} 7 f v", "XADD {k} 7 f v", "XADD {k} 8 f v", "XADD {k} 8-0 f v", "XADD {k} 8-1 f v", "XRANGE {k} - +", "DEL {k}"]),
        case("xadd_leading_zeros", &["XADD {k} 000000012345 f v", "XADD {k} 000000012345-000001 f v", "XADD {k} 000000012345-1 f v", "XADD {k} 00000000000000000000000012346-0 f v", "XADD {k} 0000000000000000000000012347-00000000000000000000007 f v", "XADD {k} 000000012348-* f v", "XRANGE {k} 000000012345 00012346", "XRANGE {k} - +", "DEL {k}"]),
        // Redis parses each ID half with strtoull when the strict parse fails: `+`, leading blanks, `-0`, ` -1` (= 2^64-1) pass
        case("xadd_id_strtoull_quirks", &[
            "XADD {k} +1-1 f v", r#"XADD {k} " 2-1" f v"#, "XADD {k} 3-+1 f v", "XADD {k} 4--0 f v", r#"XADD {k} "5- 7" f v"#, r#"XADD {k} "\t6" f v"#, r#"XADD {k} "7 " f v"#, "XADD {k} +8-* f v", r#"XADD {k} "9- -1" f v"#,
            "XRANGE {k} - +", r#"XRANGE {k} " 2" +3"#, "XRANGE {k} (+1-1 (4--0", "XDEL {k} +1-1 3-+1",
            r#"XADD {k}b " -1" f v"#, "XADD {k}b +-1 f v", "XADD {k}b -0 f v", "XADD {k}b 1--1 f v", "XADD {k}b 0x1 f v", "XADD {k}b 1e3 f v", "XADD {k}b 1.5 f v", "XADD {k}b ++1 f v", "EXISTS {k}b", "DEL {k}",
        ]),
        case("xadd_id_errors", &[
            "XADD {k} 5-5 f v", "XADD {k} 5-5 f v", "XADD {k} 5-4 f v", "XADD {k} 4 f v", "XADD {k} 5 f v", "XADD {k} 0-0 f v", "XADD {k} 0 f v", "XADD {k} 0-* f v",
            "XADD {k} a-b f v", "XADD {k} 1-2-3 f v", "XADD {k} -1 f v", "XADD {k} 6- f v", "XADD {k} -6 f v", r#"XADD {k} "" f v"#, "XADD {k} - f v", "XADD {k} + f v", "XADD {k} $ f v", "XADD {k} > f v", "XADD {k} (6 f v",
            "XADD {k} *-1 f v", "XADD {k} 6-** f v", "XADD {k} ** f v", "XADD {k} 18446744073709551616 f v", "XADD {k} 6-18446744073709551616 f v", "XADD {k} 99999999999999999999999-1 f v", "XLEN {k}", "DEL {k}",
        ]),
        case("xadd_zero_id_missing_key", &["XADD {k} 0-0 f v", "XADD {k} 0 f v", "XADD {k} 00-000 f v", "EXISTS {k}", "XADD {k} 0-1 f v", "XADD {k} 0-1 f v", "XADD {k} 0-0 f v", "DEL {k}"]),
        case("xadd_exhausted", &["XADD {k} 18446744073709551615-18446744073709551615 f v", "XADD {k} * f v", "XADD {k} 18446744073709551615-* f v", "XADD {k} 18446744073709551615-18446744073709551615 f v", "XADD {k} 1-1 f v", "XADD {k} 0-0 f v", "XLEN {k}", "XINFO STREAM {k}", "DEL {k}"]),
        case("xadd_star_reaches_max", &["XADD {k} 18446744073709551615-18446744073709551614 f v", "XADD {k} * f v", "XADD {k} * f v", "XRANGE {k} (18446744073709551615-18446744073709551614 +", "DEL {k}"]),
        case("xadd_arity", &["XADD", "XADD {k}", "XADD {k} *", "XADD {k} * f", "XADD {k} 1-1 f v g", "XADD {k} 1-1 f v g w h", "XADD {k} MAXLEN 1 1-1 f", "XADD {k} NOMKSTREAM 1-1 f", "XADD {k} MAXLEN", "XADD {k} MAXLEN ~", "XADD {k} MAXLEN ~ 5", "XADD {k} LIMIT", "XADD {k} NOMKSTREAM", "EXISTS {k}"]),
        case("xadd_nomkstream", &[
            "XADD {k} NOMKSTREAM * f v", "XADD {k} NOMKSTREAM 1-1 f v", "EXISTS {k}", "XADD {k} 1-1 f v", "XADD {k} NOMKSTREAM 2-1 f v", "XADD {k} NOMKSTREAM NOMKSTREAM 3-1 f v", "XADD {k} nomkstream 4-1 f v", "XADD {k} NoMkStream 4-1 f v", "XRANGE {k} - +",
            "XADD {k}b NOMKSTREAM 0-0 f v", "XADD {k}b NOMKSTREAM MAXLEN -1 1-1 f v", "XADD {k}b NOMKSTREAM x f v", "XADD {k}b MAXLEN 5 NOMKSTREAM 1-1 f v", "XADD {k}b MAXLEN ~ 5 LIMIT 2 NOMKSTREAM 1-1 f v", "EXISTS {k}b", "DEL {k}",
        ]),
        case("xadd_nomkstream_empty_stream", &["XADD {k} 1-1 f v", "XDEL {k} 1-1", "XADD {k} NOMKSTREAM 2-1 f v", "XLEN {k}", "XTRIM {k} MAXLEN 0", "XADD {k} NOMKSTREAM 3-1 f v", "XRANGE {k} - +", "DEL {k}"]),
        case("xadd_maxlen_exact", &[
            "XADD {k} 1-1 a 1", "XADD {k} 2-1 b 2", "XADD {k} 3-1 c 3", "XADD {k} 4-1 d 4", "XADD {k} 5-1 e 5",
            "XADD {k} MAXLEN 3 6-1 f 6", "XRANGE {k} - +", "XADD {k} MAXLEN = 2 7-1 g 7", "XRANGE {k} - +", "XADD {k} maxlen 2 8-1 h 8", "XLEN {k}",
            "XADD {k} MAXLEN 9223372036854775807 9-1 i 9", "XADD {k} MAXLEN 0 10-1 j 10", "XLEN {k}", "EXISTS {k}", "XRANGE {k} - +", "XINFO STREAM {k}", "DEL {k}",
        ]),
        case("xadd_maxlen_approx_small", &["XADD {k} 1-1 a 1", "XADD {k} 2-1 b 2", "XADD {k} 3-1 c 3", "XADD {k} MAXLEN ~ 1 4-1 d 4", "XLEN {k}", "XADD {k} MAXLEN ~ 0 5-1 e 5", "XLEN {k}", "XADD {k} MAXLEN ~ 0 LIMIT 0 6-1 f 6", "XLEN {k}", "XINFO STREAM {k}", "DEL {k}"]),
        case("xadd_minid", &[
            "XADD {k} 1-1 a 1", "XADD {k} 2-1 b 2", "XADD {k} 3-1 c 3", "XADD {k} 4-1 d 4", "XADD {k} 5-1 e 5",
            "XADD {k} MINID 3 6-1 f 6", "XRANGE {k} - +", "XADD {k} MINID = 4-1 7-1 g 7", "XRANGE {k} - +", "XADD {k} MINID ~ 6 8-1 h 8", "XLEN {k}", "XADD {k} minid 6-1 9-1 i 9", "XRANGE {k} - +",
            // a MINID above the new ID trims the new entry too; the ID is still returned
            "XADD {k} MINID 100 10-1 j 10", "XLEN {k}", "XINFO STREAM {k}", "XADD {k} 11-1 k 11", "XADD {k} MINID 0 12-1 l 12", "XADD {k} MINID 0-0 13-1 m 13", "XLEN {k}", "DEL {k}",
        ]),
        case("xadd_minid_id_forms", &["XADD {k} 1-1 a 1", "XADD {k} 2-1 b 2", r#"XADD {k} MINID " 2" 3-1 c 3"#, "XLEN {k}", "XADD {k} MINID +2-1 4-1 d 4", "XLEN {k}", "XADD {k} MINID (3 5-1 e 5", "XADD {k} MINID - 5-1 e 5", "XADD {k} MINID + 5-1 e 5", "XADD {k} MINID $ 5-1 e 5", "XADD {k} MINID 18446744073709551615-18446744073709551615 5-1 e 5", "XLEN {k}", "DEL {k}"]),
        case("xadd_limit", &["XADD {k} 1-1 a 1", "XADD {k} MAXLEN ~ 0 LIMIT 0 2-1 b 2", "XLEN {k}", "XADD {k} MAXLEN ~ 0 LIMIT 1 3-1 c 3", "XLEN {k}", "XADD {k} MINID ~ 10 LIMIT 100 4-1 d 4", "XLEN {k}", "XADD {k} LIMIT 9223372036854775807 MAXLEN ~ 1 5-1 e 5", "XLEN {k}", "DEL {k}"]),
        case("xadd_options_any_order", &[
            "XADD {k} LIMIT 5 MAXLEN ~ 10 1-1 f v", "XADD {k} MAXLEN 10 NOMKSTREAM 2-1 f v", "XADD {k} LIMIT 5 NOMKSTREAM MINID ~ 0 3-1 f v", "XADD {k} NOMKSTREAM LIMIT 5 MAXLEN ~ 10 4-1 f v",
            "XADD {k} MAXLEN ~ 10 LIMIT 5 LIMIT 0 5-1 f v", "XADD {k} MAXLEN 2 MAXLEN 3 6-1 f v", "XADD {k} MINID 1 MINID 2 6-1 f v", "XADD {k} MAXLEN 1 MINID 1 6-1 f v", "XADD {k} MINID 1 MAXLEN 1 6-1 f v", "XADD {k} MINID ~ 5 MINID 1 6-1 f v",
            "XRANGE {k} - +", "DEL {k}",
        ]),
        case("xadd_trim_errors", &[
            "XADD {k} MAXLEN -1 1-1 f v", "XADD {k} MAXLEN ~ -1 1-1 f v", "XADD {k} MAXLEN = -5 1-1 f v", "XADD {k} MAXLEN 1 LIMIT 5 1-1 f v", "XADD {k} MAXLEN = 1 LIMIT 5 1-1 f v", "XADD {k} MINID 1 LIMIT 5 1-1 f v",
            "XADD {k} LIMIT 5 1-1 f v", "XADD {k} LIMIT -1 MAXLEN ~ 1 1-1 f v", "XADD {k} MAXLEN ~ 1 LIMIT -1 1-1 f v", "XADD {k} MAXLEN ~ 1 LIMIT x 1-1 f v",
            "XADD {k} MAXLEN abc 1-1 f v", "XADD {k} MAXLEN 1.5 1-1 f v", "XADD {k} MAXLEN 01 1-1 f v", "XADD {k} MAXLEN +1 1-1 f v", "XADD {k} MAXLEN 9223372036854775808 1-1 f v", "XADD {k} MINID abc 1-1 f v",
            "XADD {k} MAXLEN = ~ 1 1-1 f v", "XADD {k} MAXLEN ~ = 1 1-1 f v", "XADD {k} MAXLEN 1 ~ 1-1 f v", "XADD {k} MAXLEN ~ 1 LIMIT 1-1 f v", "XADD {k} FOO 1-1 f v",
            "XADD {k} MAXLEN -1 0-0 f v", "XADD {k} MAXLEN 1 MINID 1 0-0 f v", "XADD {k} MAXLEN -1 x f v", "XADD {k} LIMIT 5 0-0 f v", "EXISTS {k}",
        ]),
        case("xadd_wrongtype", &["SET {k} s", "XADD {k} * f v", "XADD {k} 1-1 f v", "XADD {k} NOMKSTREAM 1-1 f v", "XADD {k} 0-0 f v", "XADD {k} x f v", "XADD {k} MAXLEN -1 1-1 f v", "XADD {k} 1-1 f", "GET {k}", "DEL {k}"]),
        case("xadd_binary_and_numbers", &[
            r#"XADD {k} 1-1 "" """#, r#"XADD {k} 2-1 "\x00\xff" "a\r\nb""#, "XADD {k} 3-1 n 12345 m -7 big 18446744073709551616 f 1.5 z 0 neg -9223372036854775808 lz 007",
            "XADD {k} 4-1 n 12345 m -7 big 18446744073709551616 f 1.5 z 0 neg -9223372036854775808 lz 007", "XADD {k} 5-1 1 2 3 4", "XRANGE {k} - +", "XREVRANGE {k} + -", "XINFO STREAM {k}", "DEL {k}",
        ]),
        case("xadd_same_and_different_fields", &["XADD {k} 1-1 a 1 b 2", "XADD {k} 2-1 a 3 b 4", "XADD {k} 3-1 b 4 a 3", "XADD {k} 4-1 a 1", "XADD {k} 5-1 a 1 b 2 c 3", "XADD {k} 6-1 a 5 b 6", "XRANGE {k} - +", "XINFO STREAM {k}", "DEL {k}"]),
        case("xadd_many_fields", &[
            "XADD {k} 1-1 f1 v1 f2 v2 f3 v3 f4 v4 f5 v5 f6 v6 f7 v7 f8 v8 f9 v9 f10 v10 f11 v11 f12 v12 f13 v13 f14 v14 f15 v15 f16 v16 f17 v17 f18 v18 f19 v19 f20 v20",
            "XADD {k} 1-2 f1 v1 f2 v2 f3 v3 f4 v4 f5 v5 f6 v6 f7 v7 f8 v8 f9 v9 f10 v10 f11 v11 f12 v12 f13 v13 f14 v14 f15 v15 f16 v16 f17 v17 f18 v18 f19 v19 f20 v20",
            "XRANGE {k} - +", "XINFO STREAM {k}", "DEL {k}",
        ]),
        case("xadd_case_insensitive", &["xadd {k} 1-1 f v", "XaDd {k} MaXlEn ~ 5 LiMiT 3 2-1 f v", "xadd {k} minid = 1 3-1 f v", "xrange {k} - + count 2", "xrevrange {k} + - COUNT 1", "xlen {k}", "xdel {k} 1-1", "xtrim {k} maxlen 1", "DEL {k}"]),

        // ------------------------------------------------------- XRANGE / XREVRANGE
        case("xrange_basic", &[
            "XADD {k} 1-1 a 1", "XADD {k} 1-2 b 2", "XADD {k} 2-0 c 3", "XADD {k} 3-5 d 4",
            "XRANGE {k} - +", "XRANGE {k} 1-2 2-0", "XRANGE {k} 2-0 2-0", "XRANGE {k} 2-1 3-4", "XRANGE {k} 3 1", "XRANGE {k} + -", "XRANGE {k} - -", "XRANGE {k} + +", "XRANGE {k} 0 18446744073709551615",
            "XREVRANGE {k} + -", "XREVRANGE {k} 2-0 1-2", "XREVRANGE {k} - +", "XREVRANGE {k} 3-5 3-5", "DEL {k}",
        ]),
        case("xrange_partial_ids", &["XADD {k} 1-1 a 1", "XADD {k} 1-2 b 2", "XADD {k} 2-0 c 3", "XADD {k} 3-5 d 4", "XRANGE {k} 1 1", "XRANGE {k} 1 2", "XRANGE {k} 2 3", "XRANGE {k} 3 3", "XREVRANGE {k} 1 1", "XREVRANGE {k} 3 2", "XRANGE {k} 0 0", "XRANGE {k} 18446744073709551615 +", "DEL {k}"]),
        case("xrange_exclusive", &[
            "XADD {k} 1-1 a 1", "XADD {k} 1-2 b 2", "XADD {k} 2-0 c 3", "XADD {k} 3-5 d 4",
            "XRANGE {k} (1-1 +", "XRANGE {k} - (3-5", "XRANGE {k} (1-1 (3-5", "XRANGE {k} (1 2", "XRANGE {k} 1 (2", "XRANGE {k} (1-2 (2-0", "XRANGE {k} (1-1 (1-2", "XRANGE {k} (0-0 +", "XRANGE {k} - (0", "XRANGE {k} - (0-1",
            "XRANGE {k} (18446744073709551615 +", "XRANGE {k} (18446744073709551615-18446744073709551614 +",
            "XREVRANGE {k} (3-5 (1-1", "XREVRANGE {k} + (1-2", "XREVRANGE {k} (2 -", "XREVRANGE {k} (1-2 (1-1", "DEL {k}",
        ]),
        case("xrange_exclusive_errors", &[
            "XADD {k} 1-1 a 1",
            "XRANGE {k} (18446744073709551615-18446744073709551615 +", "XRANGE {k} - (0-0", "XRANGE {k} (0-0 (0-0", "XREVRANGE {k} (0-0 -", "XREVRANGE {k} + (18446744073709551615-18446744073709551615",
            "XRANGE {k} ( +", "XRANGE {k} (- +", "XRANGE {k} - (+", "XRANGE {k} ((1 +", "XRANGE {k} (x +", "XRANGE {k} 1-1( +",
            "XRANGE {k}missing (18446744073709551615-18446744073709551615 +", "XRANGE {k}missing - (0-0", "DEL {k}",
        ]),
        case("xrange_count", &[
            "XADD {k} 1-1 a 1", "XADD {k} 1-2 b 2", "XADD {k} 2-0 c 3", "XADD {k} 3-5 d 4",
            "XRANGE {k} - + COUNT 2", "XRANGE {k} - + COUNT 1", "XRANGE {k} - + COUNT 4", "XRANGE {k} - + COUNT 100", "XRANGE {k} (1-1 + COUNT 2", "XREVRANGE {k} + - COUNT 2", "XREVRANGE {k} (3-5 - COUNT 1",
            "XRANGE {k} - + count 1", "XRANGE {k} - + COUNT 1 COUNT 3", "XRANGE {k} - + COUNT 9223372036854775807", "DEL {k}",
        ]),
        // COUNT 0 and negative COUNT: a null array (only when the key exists)
        case("xrange_count_zero_and_negative", &[
            "XADD {k} 1-1 a 1", "XRANGE {k} - + COUNT 0", "XREVRANGE {k} + - COUNT 0", "XRANGE {k} - + COUNT -1", "XREVRANGE {k} + - COUNT -5", "XRANGE {k} - + COUNT -9223372036854775808", "XRANGE {k} 5 6 COUNT 0", "XRANGE {k} - + COUNT 2 COUNT 0",
            "XRANGE {k}missing - + COUNT 0", "XREVRANGE {k}missing + - COUNT -1", "XDEL {k} 1-1", "XRANGE {k} - + COUNT 0", "XRANGE {k} - + COUNT 1", "DEL {k}",
        ]),
        case("xrange_errors", &[
            "XADD {k} 1-1 a 1",
            "XRANGE {k} - + COUNT", "XRANGE {k} - + COUNT abc", "XRANGE {k} - + COUNT 1.5", "XRANGE {k} - + COUNT 9223372036854775808", "XRANGE {k} - + FOO 1", "XRANGE {k} - + COUNT 1 FOO", "XRANGE {k} - + FOO",
            "XRANGE {k} x +", "XRANGE {k} - x", "XRANGE {k} 1-x +", "XRANGE {k} - 18446744073709551616", "XRANGE {k} $ +", "XRANGE {k} - *", "XREVRANGE {k} x -", "XREVRANGE {k} + x",
            "XRANGE", "XRANGE {k}", "XRANGE {k} -", "XREVRANGE {k} +", "XRANGE {k}missing x +", "XRANGE {k}missing - + COUNT x", "DEL {k}",
        ]),
        case("xrange_missing_key", &["XRANGE {k} - +", "XREVRANGE {k} + -", "XRANGE {k} - + COUNT 5", "XRANGE {k} 1 2", "XRANGE {k} (1 (2"]),
        case("xrange_wrongtype", &["SET {k} s", "XRANGE {k} - +", "XREVRANGE {k} + -", "XRANGE {k} x +", "XRANGE {k} - + COUNT 0", "XRANGE {k} - + COUNT x", "DEL {k}"]),
        case("xrange_skips_deleted", &["XADD {k} 1-1 a 1", "XADD {k} 2-1 b 2", "XADD {k} 3-1 c 3", "XADD {k} 4-1 d 4", "XDEL {k} 2-1 3-1", "XRANGE {k} - +", "XRANGE {k} - + COUNT 1", "XRANGE {k} 2 3", "XREVRANGE {k} + - COUNT 1", "XREVRANGE {k} 3 - COUNT 1", "DEL {k}"]),
        case("xrange_extreme_ids", &[
            "XADD {k} 0-1 a 1", "XADD {k} 1-18446744073709551615 b 2", "XADD {k} 18446744073709551615-0 c 3", "XADD {k} 18446744073709551615-18446744073709551615 d 4",
            "XRANGE {k} - +", "XRANGE {k} 18446744073709551615 18446744073709551615", "XRANGE {k} (1-18446744073709551615 +", "XRANGE {k} 1 1", "XREVRANGE {k} + (18446744073709551615-0", "XREVRANGE {k} (18446744073709551615-18446744073709551615 -", "DEL {k}",
        ]),

        // ---------------------------------------------------------------- XLEN
        case("xlen", &["XLEN {k}", "XADD {k} 1-1 f v", "XLEN {k}", "XADD {k} 2-1 f v", "XLEN {k}", "XDEL {k} 1-1", "XLEN {k}", "XDEL {k} 2-1", "XLEN {k}", "EXISTS {k}", "XLEN", "XLEN {k} x", "SET {k}s v", "XLEN {k}s", "DEL {k} {k}s"]),

        // ---------------------------------------------------------------- XDEL
        case("xdel", &[
            "XADD {k} 1-1 a 1", "XADD {k} 2-1 b 2", "XADD {k} 3-1 c 3", "XADD {k} 4-1 d 4",
            "XDEL {k} 1-1 9-9 1-1", "XDEL {k} 1-1", "XDEL {k} 2", "XDEL {k} 2-1 3-1", "XRANGE {k} - +", "XINFO STREAM {k}", "DEL {k}",
        ]),
        // a bad ID anywhere: error, nothing deleted; on a missing key the IDs are not even parsed
        case("xdel_errors", &["XADD {k} 1-1 a 1", "XADD {k} 2-1 b 2", "XDEL {k} 1-1 x", "XDEL {k} x", "XDEL {k} -", "XDEL {k} +", "XDEL {k} (1", "XDEL {k} 18446744073709551616", "XLEN {k}", "XDEL {k}", "XDEL", "XDEL {k}missing x", "XDEL {k}missing 1-1", "SET {k}s v", "XDEL {k}s 1-1", "XDEL {k}s x", "DEL {k} {k}s"]),
        case("xdel_last_entry_keeps_last_id", &["XADD {k} 1-1 a 1", "XADD {k} 2-1 b 2", "XDEL {k} 2-1", "XADD {k} 2-1 b 2", "XADD {k} 1-5 b 2", "XADD {k} 2-* c 3", "XDEL {k} 1-1 2-2", "XLEN {k}", "EXISTS {k}", "TYPE {k}", "XINFO STREAM {k}", "XADD {k} 2-2 d 4", "XADD {k} 2-3 d 4", "XINFO STREAM {k}", "DEL {k}"]),
        case("xdel_max_deleted_id", &["XADD {k} 1-1 a 1", "XADD {k} 2-1 b 2", "XADD {k} 3-1 c 3", "XDEL {k} 2-1", "XINFO STREAM {k}", "XDEL {k} 1-1", "XINFO STREAM {k}", "XDEL {k} 3-1", "XINFO STREAM {k}", "DEL {k}"]),

        // ---------------------------------------------------------------- XTRIM
        case("xtrim_maxlen", &[
            "XADD {k} 1-1 a 1", "XADD {k} 2-1 b 2", "XADD {k} 3-1 c 3", "XADD {k} 4-1 d 4", "XADD {k} 5-1 e 5",
            "XTRIM {k} MAXLEN 10", "XTRIM {k} MAXLEN 4", "XTRIM {k} MAXLEN = 3", "XTRIM {k} maxlen 2", "XRANGE {k} - +", "XTRIM {k} MAXLEN ~ 0", "XLEN {k}", "XTRIM {k} MAXLEN 0", "XLEN {k}", "EXISTS {k}", "XINFO STREAM {k}", "DEL {k}",
        ]),
        case("xtrim_minid", &[
            "XADD {k} 1-1 a 1", "XADD {k} 2-1 b 2", "XADD {k} 3-1 c 3", "XADD {k} 4-1 d 4", "XADD {k} 5-1 e 5",
            "XTRIM {k} MINID 0", "XTRIM {k} MINID 2", "XTRIM {k} MINID = 3-1", "XTRIM {k} MINID 3-1", "XTRIM {k} minid ~ 5", "XLEN {k}", "XTRIM {k} MINID 4-2", "XRANGE {k} - +", "XTRIM {k} MINID 18446744073709551615-18446744073709551615", "XLEN {k}", "XINFO STREAM {k}", "DEL {k}",
        ]),
        case("xtrim_approx_and_limit", &[
            "XADD {k} 1-1 a 1", "XADD {k} 2-1 b 2", "XADD {k} 3-1 c 3",
            "XTRIM {k} MAXLEN ~ 1", "XTRIM {k} MAXLEN ~ 0 LIMIT 2", "XTRIM {k} MAXLEN ~ 0 LIMIT 3", "XLEN {k}", "XADD {k} 4-1 d 4", "XTRIM {k} MINID ~ 5 LIMIT 0", "XLEN {k}", "XINFO STREAM {k}", "DEL {k}",
        ]),
        case("xtrim_errors", &[
            "XADD {k} 1-1 a 1",
            "XTRIM {k}", "XTRIM {k} MAXLEN", "XTRIM {k} FOO", "XTRIM {k} FOO 1", "XTRIM {k} MAXLEN -1", "XTRIM {k} MAXLEN ~ -1", "XTRIM {k} MAXLEN x", "XTRIM {k} MAXLEN 1.5", "XTRIM {k} MINID x", "XTRIM {k} MINID -", "XTRIM {k} MINID +", "XTRIM {k} MINID (5",
            "XTRIM {k} MAXLEN 1 LIMIT 1", "XTRIM {k} MAXLEN = 1 LIMIT 1", "XTRIM {k} MAXLEN ~ 1 LIMIT -1", "XTRIM {k} MAXLEN ~ 1 LIMIT x", "XTRIM {k} LIMIT 1", "XTRIM {k} LIMIT 1 MAXLEN 1", "XTRIM {k} LIMIT 1 MAXLEN ~ 1",
            "XTRIM {k} MAXLEN 1 MINID 1", "XTRIM {k} MINID 1 MAXLEN 1", "XTRIM {k} MAXLEN 1 MAXLEN 1", "XTRIM {k} MAXLEN 1 FOO", "XTRIM {k} MAXLEN 1 LIMIT", "XTRIM {k} NOMKSTREAM MAXLEN 1", "XTRIM {k} MAXLEN ~ 1 ~", "XLEN {k}",
            "XTRIM {k}missing MAXLEN 1", "XTRIM {k}missing MAXLEN -1", "XTRIM {k}missing MINID x", "SET {k}s v", "XTRIM {k}s MAXLEN 1", "XTRIM {k}s MAXLEN -1", "XTRIM", "DEL {k} {k}s",
        ]),

        // ---------------------------------------------------------------- XSETID
        case("xsetid", &[
            "XADD {k} 5-5 a 1", "XADD {k} 6-6 b 2", "XSETID {k} 6-6", "XSETID {k} 7", "XINFO STREAM {k}", "XADD {k} 7-0 c 3", "XADD {k} 7-1 c 3", "XSETID {k} 8-0 ENTRIESADDED 10", "XINFO STREAM {k}",
            "XSETID {k} 9-0 ENTRIESADDED 10 MAXDELETEDID 8-5", "XINFO STREAM {k}", "XSETID {k} 9-0 MAXDELETEDID 3-0", "XSETID {k} 9-0 ENTRIESADDED 3 MAXDELETEDID 6-6", "XSETID {k} 9-0 entriesadded 5 entriesadded 6", "XSETID {k} 9-0 maxdeletedid 9-0", "XINFO STREAM {k}", "XSETID {k} 000009-00000", "DEL {k}",
        ]),
        case("xsetid_errors", &[
            "XSETID {k} 1-1", "XSETID {k} x", "XSETID {k} 1-1 ENTRIESADDED 5", "XSETID {k} 1-1 FOO", "EXISTS {k}",
            "XADD {k} 5-5 a 1", "XADD {k} 6-6 b 2",
            "XSETID {k} 6-5", "XSETID {k} 5", "XSETID {k} 0-0", "XSETID {k} x", "XSETID {k} (7", "XSETID {k} $", "XSETID {k} -", "XSETID {k} +", "XSETID {k} *",
            "XSETID {k} 8-0 ENTRIESADDED 1", "XSETID {k} 8-0 ENTRIESADDED -1", "XSETID {k} 8-0 ENTRIESADDED x", "XSETID {k} 8-0 ENTRIESADDED",
            "XSETID {k} 8-0 MAXDELETEDID 9-0", "XSETID {k} 8-0 MAXDELETEDID 8-1", "XSETID {k} 8-0 MAXDELETEDID x", "XSETID {k} 8-0 MAXDELETEDID", "XSETID {k} 8-0 ENTRIESADDED 5 MAXDELETEDID",
            "XSETID {k} 8-0 FOO", "XSETID {k} 8-0 FOO 1", "XSETID {k} 6-5 ENTRIESADDED -1", "XSETID {k} 6-5 MAXDELETEDID 9-0", "XSETID {k} 5-0 ENTRIESADDED 1", "XSETID {k} 8-0 ENTRIESADDED 1 MAXDELETEDID 9-0",
            "XSETID {k}", "XSETID", "SET {k}s v", "XSETID {k}s 1-1", "XSETID {k}s x", "XINFO STREAM {k}", "DEL {k} {k}s",
        ]),
        // an empty stream accepts any ID, even below its last ID
        case("xsetid_empty_stream", &["XADD {k} 5-5 a 1", "XADD {k} 6-6 b 2", "XDEL {k} 5-5 6-6", "XSETID {k} 1-0", "XINFO STREAM {k}", "XSETID {k} 0-0", "XSETID {k} 0-0 ENTRIESADDED 0", "XINFO STREAM {k}", "XADD {k} 0-1 c 3", "~XADD {k} * d 4", "XLEN {k}", "DEL {k}"]),
        case("xsetid_then_xadd", &["XADD {k} 1-1 a 1", "XSETID {k} 100-100", "XADD {k} 100-100 b 2", "XADD {k} 100 b 2", "XADD {k} 100-* b 2", "~XADD {k} * c 3", "XSETID {k} 18446744073709551615-18446744073709551615", "XADD {k} * d 4", "XLEN {k}", "DEL {k}"]),

        // ---------------------------------------------------------------- XREAD (no BLOCK)
        case("xread_basic", &[
            "XADD {k} 1-1 a 1", "XADD {k} 2-2 b 2 c 3", "XADD {k} 3-3 d 4",
            "XREAD STREAMS {k} 0", "XREAD STREAMS {k} 0-0", "XREAD STREAMS {k} 1-1", "XREAD STREAMS {k} 1", "XREAD STREAMS {k} 2-2", "XREAD STREAMS {k} 3-3", "XREAD STREAMS {k} 18446744073709551615-18446744073709551615", "XREAD STREAMS {k} 000001-000001",
            "xread streams {k} 2", "DEL {k}",
        ]),
        case("xread_count", &[
            "XADD {k} 1-1 a 1", "XADD {k} 2-2 b 2", "XADD {k} 3-3 c 3",
            "XREAD COUNT 1 STREAMS {k} 0", "XREAD COUNT 2 STREAMS {k} 1-1", "XREAD COUNT 100 STREAMS {k} 0", "XREAD COUNT 0 STREAMS {k} 0", "XREAD COUNT -1 STREAMS {k} 0", "XREAD COUNT 1 COUNT 2 STREAMS {k} 0", "XREAD count 1 STREAMS {k} 2-2",
            "XREAD COUNT abc STREAMS {k} 0", "XREAD COUNT 1.5 STREAMS {k} 0", "XREAD COUNT 9223372036854775808 STREAMS {k} 0", "XREAD COUNT STREAMS {k} 0", "DEL {k}",
        ]),
        case("xread_several_streams", &[
            "XADD {k}a 1-1 a 1", "XADD {k}a 2-1 a 2", "XADD {k}b 1-5 b 1", "XADD {k}c 9-9 c 1",
            "XREAD STREAMS {k}a {k}b {k}c 0 0 0", "XREAD STREAMS {k}c {k}a {k}b 0 1-1 0", "XREAD COUNT 1 STREAMS {k}a {k}b 0 0", "XREAD STREAMS {k}a {k}missing {k}b 2-1 0 1-4", "XREAD STREAMS {k}a {k}b 2-1 1-5",
            "XREAD STREAMS {k}a {k}a 0 1-1", "XREAD STREAMS {k}a {k}b $ 0", "XREAD STREAMS {k}missing {k}missing2 0 0", "DEL {k}a {k}b {k}c",
        ]),
        case("xread_dollar", &["XREAD STREAMS {k} $", "XADD {k} 1-1 a 1", "XREAD STREAMS {k} $", "XREAD COUNT 5 STREAMS {k} $", "XREAD STREAMS {k} {k} $ 0", "XDEL {k} 1-1", "XREAD STREAMS {k} 0", "DEL {k}"]),
        // XREAD + is 7.4: check what 7.0.15 answers for the other forms around it
        case("xread_plus_neighbours", &["XADD {k} 1-1 a 1", "XADD {k} 2-2 b 2 c 3", "XREAD STREAMS {k} 1-1", "XREAD STREAMS {k} 2-1", "XREAD STREAMS {k} ++", "XREAD STREAMS {k} -", "DEL {k}"]),
        case("xread_null_when_nothing", &["XREAD STREAMS {k} 0", "XREAD COUNT 1 STREAMS {k} {k}b 0 0", "XADD {k} 1-1 a 1", "XREAD STREAMS {k} 1-1", "XREAD STREAMS {k} 5", "XDEL {k} 1-1", "XREAD STREAMS {k} 0", "DEL {k}"]),
        case("xread_errors", &[
            "XADD {k} 1-1 a 1",
            "XREAD", "XREAD STREAMS", "XREAD STREAMS {k}", "XREAD COUNT 1", "XREAD COUNT 1 STREAMS {k}", "XREAD STREAMS {k} {k}b 0", "XREAD STREAMS {k} 0 {k}b", "XREAD STREAMS {k} {k}b {k}c 0 0",
            "XREAD GROUP g c STREAMS {k} 0", "XREAD GROUP g c STREAMS {k} >", "XREAD NOACK STREAMS {k} 0", "XREAD STREAMS {k} >", "XREAD STREAMS {k} {k}b > 0", "XREAD STREAMS {k} x", "XREAD STREAMS {k} 1-x", "XREAD STREAMS {k} (1",
            "XREAD FOO STREAMS {k} 0", "XREAD COUNT 1 FOO STREAMS {k} 0", "XREAD BLOCK", "XREAD STREAMS {k}missing x", "XREAD COUNT -1 STREAMS {k} 2-0", "XREAD streams", "DEL {k}",
        ]),
        case("xread_block_arg_errors", &["XADD {k} 1-1 a 1", "XREAD BLOCK -1 STREAMS {k} 0", "XREAD BLOCK abc STREAMS {k} 0", "XREAD BLOCK 1.5 STREAMS {k} 0", r#"XREAD BLOCK "" STREAMS {k} 0"#, "XREAD BLOCK -0 STREAMS {k} 0", "XREAD BLOCK 9223372036854775808 STREAMS {k} 0", "XREAD BLOCK 0x10 STREAMS {k} 0", "XREAD BLOCK -1 STREAMS {k} x", "DEL {k}"]),
        // with data available, BLOCK does not block
        case("xread_block_with_data", &["XADD {k} 1-1 a 1", "XREAD BLOCK 0 STREAMS {k} 0", "XREAD BLOCK 100 COUNT 1 STREAMS {k} 0-0", "XREAD COUNT 1 BLOCK 0 STREAMS {k}missing {k} 0 0", "DEL {k}"]),
        case("xread_wrongtype", &["SET {k}s v", "XADD {k} 1-1 a 1", "XREAD STREAMS {k}s 0", "XREAD STREAMS {k} {k}s 0 0", "XREAD STREAMS {k}missing {k}s 0 0", "XREAD BLOCK 10 STREAMS {k}s 0", "XREAD STREAMS {k}s x", "DEL {k} {k}s"]),
        xread_plus("xread_plus", false),
        xread_plus("xread_plus3", true),
        xread_caps("xread_maxcount_maxsize", false),
        xread_caps("xread_maxcount_maxsize3", true),
        xreadgroup_caps("xreadgroup_maxcount_maxsize", false),
        xreadgroup_caps("xreadgroup_maxcount_maxsize3", true),

        // ---------------------------------------------------------------- XINFO
        case("xinfo_stream_small", &["XADD {k} 1-1 a 1", "XADD {k} 2-2 b 2 c 3", "XINFO STREAM {k}", "xinfo stream {k}", "DEL {k}"]),
        case("xinfo_stream_single", &["XADD {k} 1-1 a 1", "XINFO STREAM {k}", "DEL {k}"]),
        case("xinfo_stream_empty", &["XADD {k} 3-3 a 1", "XDEL {k} 3-3", "XINFO STREAM {k}", "XADD {k} MAXLEN 0 4-4 b 2", "XINFO STREAM {k}", "DEL {k}"]),
        case("xinfo_stream_errors", &["XINFO STREAM {k}", "XINFO STREAM {k} FULL", "SET {k}s v", "XINFO STREAM {k}s", "XADD {k} 1-1 a 1", "XINFO STREAM {k} extra", "XINFO STREAM {k} extra more", "XINFO STREAM", "XINFO", "DEL {k} {k}s"]),
        // The key is looked up before the options are parsed (found by the differential fuzzer).
        case("xinfo_stream_key_before_options", &["XINFO STREAM {k} FULL x", "XINFO STREAM {k} x", "XINFO STREAM {k} FULL COUNT x", "SET {k}s v", "XINFO STREAM {k}s FULL x", "XINFO STREAM {k}s COUNT", "XADD {k} 1-1 a 1", "XINFO STREAM {k} FULL x", "XINFO STREAM {k} FULL COUNT x", "DEL {k} {k}s"]),
        case("xinfo_help", &["XINFO HELP", "XINFO help", "XINFO HELP x"]),
        case("xinfo_unknown_subcommand", &["XINFO FOO", "XINFO FOO bar", "XINFO foo bar baz", "XINFO STREAMS {k}"]),
        case("xinfo_after_trims", &[
            "XADD {k} 1-1 a 1", "XADD {k} 2-1 b 2", "XADD {k} 3-1 c 3", "XADD {k} 4-1 d 4", "XTRIM {k} MAXLEN 2", "XINFO STREAM {k}", "XDEL {k} 4-1", "XINFO STREAM {k}", "XTRIM {k} MINID 4", "XINFO STREAM {k}", "DEL {k}",
        ]),

        // ---------------------------------------------------------- keyspace on streams
        case("stream_type_and_wrongtype", &[
            "XADD {k} 1-1 f v", "TYPE {k}", "GET {k}", "SET {k}s v", "XADD {k}s 1-1 f v", "XLEN {k}s", "XRANGE {k}s - +", "INCR {k}", "INCRBY {k} 2", "MGET {k} {k}s", "SETNX {k} v",
            "SET {k} v", "TYPE {k}", "GET {k}", "XLEN {k}", "DEL {k} {k}s",
        ]),
        case("stream_del_unlink_exists", &["XADD {k}a 1-1 f v", "XADD {k}b 1-1 f v", "EXISTS {k}a {k}b {k}c", "DEL {k}a {k}c", "EXISTS {k}a", "UNLINK {k}b", "EXISTS {k}b", "XLEN {k}a", "XADD {k}a 1-1 f v", "XRANGE {k}a - +"]),
        case("stream_rename", &[
            "XADD {k}a 1-1 f v", "XADD {k}a 2-1 g w", "RENAME {k}a {k}b", "EXISTS {k}a", "XRANGE {k}b - +", "XINFO STREAM {k}b", "XADD {k}b 2-1 x y", "XADD {k}b 3-1 x y",
            "SET {k}s v", "RENAME {k}b {k}s", "TYPE {k}s", "XLEN {k}s", "SET {k}t v", "XADD {k}u 1-1 f v", "RENAME {k}t {k}u", "TYPE {k}u", "RENAMENX {k}s {k}u", "DEL {k}s {k}u",
        ]),
        case("stream_expire", &[
            step("XADD {k} 1-1 f v"), step("TTL {k}"), step("EXPIRE {k} 100"), ttl_about("TTL {k}", 99, 100), step("PERSIST {k}"), step("TTL {k}"), step("PERSIST {k}"),
            step("PEXPIRE {k} 50000"), ttl_about("PTTL {k}", 49_000, 50_000), step("XADD {k} 2-1 f v"), ttl_about("TTL {k}", 49, 50), step("XDEL {k} 1-1 2-1"), ttl_about("TTL {k}", 49, 50),
            step("PEXPIRE {k} 30"), step("!sleep 120"), step("EXISTS {k}"), step("XLEN {k}"), step("XADD {k} NOMKSTREAM 3-1 f v"), step("XADD {k} 1-1 f v"), step("DEL {k}"),
        ]),
        case("stream_scan_type", &[
            "XADD {k}:s1 1-1 f v", "XADD {k}:s2 1-1 f v", "SET {k}:str v", "XADD {k}:s3 1-1 f v", "XDEL {k}:s3 1-1",
            "!scan SCAN {cursor} MATCH {k}:* TYPE stream", "!scan SCAN {cursor} MATCH {k}:* TYPE STREAM", "!scan SCAN {cursor} MATCH {k}:* TYPE string", "!scan SCAN {cursor} MATCH {k}:*", "%KEYS {k}:s*",
            "DEL {k}:s1 {k}:s2 {k}:s3 {k}:str",
        ]),
        case("stream_in_multi", &["MULTI", "XADD {k} 1-1 a 1", "XADD {k} 1-1 a 1", "XLEN {k}", "XRANGE {k} - +", "XREAD STREAMS {k} 0", "XINFO STREAM {k}", "EXEC", "DEL {k}"]),
        case("stream_watch", &["XADD {k} 1-1 a 1", "WATCH {k}", "@b XADD {k} 2-1 b 2", "MULTI", "XLEN {k}", "EXEC", "WATCH {k}", "@b XDEL {k} 9-9", "MULTI", "XLEN {k}", "EXEC", "WATCH {k}", "@b XTRIM {k} MAXLEN 10", "MULTI", "XLEN {k}", "EXEC", "DEL {k}"]),
    ];

    // ------------------------------------------------ approximate trimming, default node sizes
    // 250 entries of varying value sizes, each XADD trimming to ~100
    v.push(case("approx_trim_xadd_varying", &steps(&[
        &repeat(250, |i| format!("XADD {{k}} MAXLEN ~ 100 {i}-1 f {}", val(i))),
        &lines(&["XLEN {k}", "XINFO STREAM {k}", "XRANGE {k} - + COUNT 3", "XREVRANGE {k} + - COUNT 3", "DEL {k}"]),
    ])));
    // values long enough that the 4096-byte node limit closes nodes before 100 entries
    v.push(case("approx_trim_xadd_big_values", &steps(&[
        &repeat(250, |i| format!("XADD {{k}} MAXLEN ~ 100 {i}-1 field {}", "v".repeat(60))),
        &lines(&["XLEN {k}", "XINFO STREAM {k}", "XTRIM {k} MAXLEN ~ 50", "XLEN {k}", "XINFO STREAM {k}", "XTRIM {k} MAXLEN 50", "XINFO STREAM {k}", "DEL {k}"]),
    ])));
    // numeric values (integer-encoded in listpacks) and changing field names
    v.push(case("approx_trim_xadd_numbers_and_fields", &steps(&[
        &repeat(250, |i| if i % 3 == 0 { format!("XADD {{k}} MAXLEN ~ 100 {i}-{i} n{} {} m {}", i % 5, i * 1000, i) } else { format!("XADD {{k}} MAXLEN ~ 100 {i}-{i} n 12345678901 m -{i}") }),
        &lines(&["XLEN {k}", "XINFO STREAM {k}", "XRANGE {k} - + COUNT 2", "DEL {k}"]),
    ])));
    v.push(case("approx_trim_xtrim_and_limit", &steps(&[
        &repeat(250, |i| format!("XADD {{k}} {i}-0 f {}", val(i))),
        &lines(&[
            "XINFO STREAM {k}", "XTRIM {k} MAXLEN ~ 240", "XTRIM {k} MAXLEN ~ 100 LIMIT 99", "XLEN {k}", "XTRIM {k} MAXLEN ~ 100 LIMIT 100", "XLEN {k}", "XINFO STREAM {k}",
            "XTRIM {k} MINID ~ 240", "XLEN {k}", "XINFO STREAM {k}", "XTRIM {k} MINID 240", "XINFO STREAM {k}", "XTRIM {k} MAXLEN ~ 0", "XINFO STREAM {k}", "DEL {k}",
        ]),
    ])));
    v.push(case("approx_trim_minid_xadd", &steps(&[
        &repeat(250, |i| format!("XADD {{k}} MINID ~ {} {i}-0 f {}", i.saturating_sub(120), val(i + 3))),
        &lines(&["XLEN {k}", "XINFO STREAM {k}", "DEL {k}"]),
    ])));
    // XDEL inside nodes, then trimming and XINFO
    v.push(case("approx_trim_after_xdel", &steps(&[
        &repeat(250, |i| format!("XADD {{k}} {i}-0 f {}", val(i))),
        &repeat(60, |i| format!("XDEL {{k}} {}-0 {}-0", i * 3, i * 4)),
        &lines(&["XLEN {k}", "XINFO STREAM {k}", "XTRIM {k} MAXLEN ~ 120", "XLEN {k}", "XINFO STREAM {k}", "XRANGE {k} - + COUNT 5", "XTRIM {k} MAXLEN 10", "XINFO STREAM {k}", "DEL {k}"]),
    ])));
    // a value larger than stream-node-max-bytes gets a node of its own
    v.push(case("xadd_large_values_nodes", &[
        "XADD {k} 1-1 f small".to_string(), format!("XADD {{k}} 2-1 f {}", "L".repeat(5000)), "XADD {k} 3-1 f small".to_string(), format!("XADD {{k}} 4-1 f {}", "M".repeat(5000)),
        "XINFO STREAM {k}".to_string(), "XLEN {k}".to_string(), "XRANGE {k} 3 3".to_string(), "XTRIM {k} MAXLEN ~ 1".to_string(), "XINFO STREAM {k}".to_string(), "DEL {k}".to_string(),
    ].iter().map(|s| step(s)).collect::<Vec<_>>()));

    // ------------------------------------------ small node sizes (server-wide: run alone)
    let restore = lines(&["CONFIG SET stream-node-max-entries 100", "CONFIG SET stream-node-max-bytes 4096", "CONFIG GET stream-node-max-entries", "CONFIG GET stream-node-max-bytes"]);
    v.push(case("approx_trim_node_max_entries_10", &steps(&[
        &lines(&["CONFIG SET stream-node-max-entries 10", "CONFIG SET stream-node-max-bytes 4096", "CONFIG GET stream-node-max-entries"]),
        &repeat(250, |i| format!("XADD {{k}} MAXLEN ~ 100 {i}-1 f {}", val(i))),
        &lines(&["XLEN {k}", "XINFO STREAM {k}", "XTRIM {k} MAXLEN ~ 55", "XLEN {k}", "XINFO STREAM {k}", "XTRIM {k} MAXLEN ~ 0 LIMIT 15", "XLEN {k}", "XTRIM {k} MINID ~ 236", "XINFO STREAM {k}", "DEL {k}"]),
        &restore,
    ])).exclusive());
    v.push(case("approx_trim_node_max_bytes_200", &steps(&[
        &lines(&["CONFIG SET stream-node-max-entries 100", "CONFIG SET stream-node-max-bytes 200", "CONFIG GET stream-node-max-bytes"]),
        &repeat(250, |i| format!("XADD {{k}} MAXLEN ~ 100 {i}-1 f {}", val(i))),
        &lines(&["XLEN {k}", "XINFO STREAM {k}", "XTRIM {k} MAXLEN ~ 30", "XLEN {k}", "XINFO STREAM {k}", "DEL {k}"]),
        &restore,
    ])).exclusive());
    v.push(case("approx_trim_node_both_small", &steps(&[
        &lines(&["CONFIG SET stream-node-max-entries 7", "CONFIG SET stream-node-max-bytes 300"]),
        &repeat(250, |i| if i % 4 == 0 { format!("XADD {{k}} MAXLEN ~ 100 {i}-1 a {} b {i}", val(i)) } else { format!("XADD {{k}} MINID ~ {} {i}-1 f {}", i.saturating_sub(90), val(i + 1)) }),
        &lines(&["XLEN {k}", "XINFO STREAM {k}", "XRANGE {k} - + COUNT 2", "DEL {k}"]),
        &restore,
    ])).exclusive());
    // 0 = no limit on entries (only bytes) / on bytes (only entries)
    v.push(case("approx_trim_node_limits_zero", &steps(&[
        &lines(&["CONFIG SET stream-node-max-entries 0", "CONFIG SET stream-node-max-bytes 4096"]),
        &repeat(150, |i| format!("XADD {{k}}a MAXLEN ~ 50 {i}-1 f {}", val(i))),
        &lines(&["XLEN {k}a", "XINFO STREAM {k}a", "CONFIG SET stream-node-max-entries 100", "CONFIG SET stream-node-max-bytes 0"]),
        &repeat(250, |i| format!("XADD {{k}}b MAXLEN ~ 50 {i}-1 f {}", "y".repeat(70))),
        &lines(&["XLEN {k}b", "XINFO STREAM {k}b", "DEL {k}a {k}b"]),
        &restore,
    ])).exclusive());
    // the default LIMIT of `~` is 100 * stream-node-max-entries
    v.push(case("approx_trim_default_limit", &steps(&[
        &lines(&["CONFIG SET stream-node-max-entries 3", "CONFIG SET stream-node-max-bytes 4096"]),
        &repeat(400, |i| format!("XADD {{k}} {i}-1 f v")),
        &lines(&["XTRIM {k} MAXLEN ~ 0", "XLEN {k}", "XINFO STREAM {k}", "XADD {k} MAXLEN ~ 0 401-1 f v", "XLEN {k}", "XTRIM {k} MAXLEN ~ 0 LIMIT 0", "XLEN {k}", "XINFO STREAM {k}", "DEL {k}"]),
        &restore,
    ])).exclusive());
    v
}

fn main() {
    run(cases());
}
