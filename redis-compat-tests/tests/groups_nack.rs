//! XNACK (Redis 8.8) and XREADGROUP … CLAIM (Redis 8.4): commands that Redis 7.0.15 does not
//! have, so every reply after the first use of one is checked on Sluice alone
//! ([`sluice_only`] / [`sluice_check`]) against Redis's own test suite
//! (tests/unit/type/stream-cgroups.tcl: XNACK modes, FORCE, RETRYCOUNT, the NACK zone's
//! FIFO order, `idle -1` for released entries, `nacked-count`, CLAIM's 4-element entries
//! with `0, 0` for new ones, and the error texts), not against 7.0.15. The setup steps
//! before are still compared with 7.0.15.
//!
//! Blocked XREADGROUP CLAIM readers (woken by XNACK and by idle time) are tested in
//! server/tests/groups_claim.rs.

use redis_compat_tests::*;

const WHY: &str = "Redis 8.4/8.8 (XREADGROUP CLAIM, XNACK); checked against Redis's stream-cgroups.tcl, not 7.0.15";

fn ok_int(line: &str, n: i64) -> Step {
    sluice_only(line, format!(":{n}\r\n").as_bytes(), WHY)
}

fn err(line: &str, text: &str) -> Step {
    sluice_only(line, format!("-{text}\r\n").as_bytes(), WHY)
}

/// An XPENDING extended row as RESP bytes.
fn row(id: &str, consumer: &str, idle: i64, count: i64) -> String {
    format!(
        "*4\r\n${}\r\n{id}\r\n${}\r\n{consumer}\r\n:{idle}\r\n:{count}\r\n",
        id.len(),
        consumer.len()
    )
}

fn xpending(line: &str, rows: &[(&str, &str, i64, i64)]) -> Step {
    let mut b = format!("*{}\r\n", rows.len());
    for (id, c, idle, n) in rows {
        b.push_str(&row(id, c, *idle, *n));
    }
    sluice_only(line, b.as_bytes(), WHY)
}

fn text(f: &Frame) -> String {
    f.as_text().unwrap_or_default()
}

/// The entries of each stream in an XREADGROUP reply (RESP2 array of pairs, RESP3 map).
fn streams(f: &Frame) -> Result<Vec<Vec<Frame>>, String> {
    let pairs: Vec<(Frame, Frame)> = match f {
        Frame::Map(m) => m.clone(),
        Frame::Array(v) => v
            .iter()
            .map(|p| match p {
                Frame::Array(kv) if kv.len() == 2 => Ok((kv[0].clone(), kv[1].clone())),
                other => Err(format!("stream pair {other}")),
            })
            .collect::<Result<_, String>>()?,
        other => return Err(format!("expected streams, got {other}")),
    };
    pairs
        .into_iter()
        .map(|(_, es)| match es {
            Frame::Array(es) => Ok(es),
            other => Err(format!("entries {other}")),
        })
        .collect()
}

/// What a CLAIM entry must be: its ID, and for its idle time a range, and its delivery
/// count.
type Want = (&'static str, (i64, i64), i64);

/// An XREADGROUP CLAIM reply of one stream: exactly these entries, each `[id, fields, idle,
/// count]` with integer idle and count.
fn claim_reply(line: &str, want: &'static [Want]) -> Step {
    sluice_check(line, WHY, move |f| {
        let s = streams(f)?;
        if s.len() != 1 {
            return Err(format!("{} streams, expected 1: {f}", s.len()));
        }
        let es = &s[0];
        if es.len() != want.len() {
            return Err(format!(
                "{} entries, expected {}: {f}",
                es.len(),
                want.len()
            ));
        }
        for (e, (id, (lo, hi), n)) in es.iter().zip(want) {
            let Frame::Array(x) = e else {
                return Err(format!("entry {e}"));
            };
            match &x[..] {
                [i, Frame::Array(_), Frame::Integer(idle), Frame::Integer(c)]
                    if text(i) == *id && (*lo..=*hi).contains(idle) && c == n => {}
                _ => {
                    return Err(format!(
                        "entry {e}, expected [{id}, fields, {lo}..={hi}, {n}]"
                    ))
                }
            }
        }
        Ok(())
    })
}

/// A reply with nothing: RESP2 `*-1`, RESP3 `_`.
fn nothing(line: &str) -> Step {
    sluice_check(line, WHY, |f| match f {
        Frame::NullArray | Frame::Null => Ok(()),
        other => Err(format!("expected a null reply, got {other}")),
    })
}

/// XINFO STREAM FULL: each group has `nacked-count` (after `pel-count`, where the clones of
/// Redis 8.8 that copy its bytes put it) with these values, and its released entries show
/// consumer "" and delivery time 0.
fn full_nacked(line: &str, want: &'static [i64]) -> Step {
    sluice_check(line, WHY, move |f| {
        let top: Vec<(Frame, Frame)> = match f {
            Frame::Map(m) => m.clone(),
            Frame::Array(v) => v.chunks(2).map(|c| (c[0].clone(), c[1].clone())).collect(),
            other => return Err(format!("{other}")),
        };
        let Some((_, Frame::Array(groups))) = top.iter().find(|(k, _)| text(k) == "groups") else {
            return Err("no groups".into());
        };
        if groups.len() != want.len() {
            return Err(format!("{} groups", groups.len()));
        }
        for (g, n) in groups.iter().zip(want) {
            let fs: Vec<(Frame, Frame)> = match g {
                Frame::Map(m) => m.clone(),
                Frame::Array(v) => v.chunks(2).map(|c| (c[0].clone(), c[1].clone())).collect(),
                other => return Err(format!("{other}")),
            };
            let names: Vec<String> = fs.iter().map(|(k, _)| text(k)).collect();
            let expect = [
                "name",
                "last-delivered-id",
                "entries-read",
                "lag",
                "pel-count",
                "nacked-count",
                "pending",
                "consumers",
            ];
            if names != expect {
                return Err(format!("group fields {names:?}"));
            }
            if fs[5].1 != Frame::Integer(*n) {
                return Err(format!("nacked-count {}, expected {n}", fs[5].1));
            }
            let Frame::Array(rows) = &fs[6].1 else {
                return Err("pending".into());
            };
            let unowned = rows
                .iter()
                .filter(|r| matches!(r, Frame::Array(x) if x.len() == 4 && text(&x[1]).is_empty() && x[2] == Frame::Integer(0)))
                .count() as i64;
            if unowned != *n {
                return Err(format!(
                    "{unowned} rows with consumer \"\" and time 0, expected {n}"
                ));
            }
        }
        Ok(())
    })
}

const SETUP: [&str; 5] = [
    "XADD {k} 1-1 a 1",
    "XADD {k} 2-1 b 2",
    "XADD {k} 3-1 c 3",
    "XGROUP CREATE {k} g 0",
    "XREADGROUP GROUP g c1 STREAMS {k} >",
];

fn with_setup(rest: Vec<Step>) -> Vec<Step> {
    SETUP.iter().map(|s| step(s)).chain(rest).collect()
}

#[rustfmt::skip]
fn cases() -> Vec<Case> {
    vec![
        // FAIL keeps the count, SILENT takes one off (not below 0), FATAL sets LLONG_MAX; released entries are unowned with idle -1
        case("xnack_modes", &with_setup(vec![
            ok_int("XNACK {k} g FAIL IDS 1 3-1", 1), ok_int("XNACK {k} g SILENT IDS 1 1-1", 1), ok_int("XNACK {k} g SILENT IDS 1 1-1", 1),
            xpending("XPENDING {k} g 1-1 1-1 10", &[("1-1", "", -1, 0)]), xpending("XPENDING {k} g 3-1 3-1 10", &[("3-1", "", -1, 1)]),
            ok_int("XNACK {k} g FATAL IDS 1 2-1", 1),
            xpending("XPENDING {k} g - + 10", &[("1-1", "", -1, 0), ("2-1", "", -1, 9223372036854775807), ("3-1", "", -1, 1)]),
            xpending("XPENDING {k} g - + 10 c1", &[]), xpending("XPENDING {k} g IDLE 3600000 - + 1", &[("1-1", "", -1, 0)]),
            sluice_only("XPENDING {k} g", b"*4\r\n:3\r\n$3\r\n1-1\r\n$3\r\n3-1\r\n*0\r\n", WHY),
            // a released entry is not in its former consumer's history
            sluice_check("XREADGROUP GROUP g c1 STREAMS {k} 0", WHY, |f| match streams(f)?.as_slice() { [es] if es.is_empty() => Ok(()), _ => Err(format!("{f}")) }),
            step("DEL {k}"),
        ])),
        // RETRYCOUNT overrides the mode; FORCE creates unowned entries for IDs of the stream (count 0, or LLONG_MAX with FATAL); IDs not pending are skipped; repeats count
        case("xnack_retrycount_force_and_counting", &with_setup(vec![
            ok_int("XNACK {k} g FATAL IDS 1 1-1 RETRYCOUNT 42", 1), xpending("XPENDING {k} g 1-1 1-1 1", &[("1-1", "", -1, 42)]),
            ok_int("XACK {k} g 1-1 2-1 3-1", 3), ok_int("XNACK {k} g FAIL IDS 1 1-1", 0), ok_int("XNACK {k} g FAIL IDS 2 1-1 9-9 FORCE", 1),
            ok_int("XNACK {k} g FATAL FORCE IDS 1 2-1", 1), ok_int("XNACK {k} g SILENT RETRYCOUNT 5 IDS 1 3-1 FORCE", 1),
            xpending("XPENDING {k} g - + 10", &[("1-1", "", -1, 0), ("2-1", "", -1, 9223372036854775807), ("3-1", "", -1, 5)]),
            ok_int("XNACK {k} g FAIL IDS 3 1-1 1-1 8-8", 2), ok_int("XGROUP DELCONSUMER {k} g c1", 0),
            step("DEL {k}"),
        ])),
        case("xnack_errors", &with_setup(vec![
            err("XNACK {k} g BADMODE IDS 1 1-1", "ERR mode must be SILENT, FAIL, or FATAL"),
            err("XNACK {k} g FAIL BADOPT IDS 1 1-1", "ERR Unrecognized XNACK option 'BADOPT'"),
            err("XNACK {k} g FAIL IDS 1 1-1 BADOPT", "ERR Unrecognized XNACK option 'BADOPT'"),
            err("XNACK {k} g FAIL FATAL IDS 1 1-1", "ERR Unrecognized XNACK option 'FATAL'"),
            err("XNACK {k} g SILENT FORCE RETRYCOUNT 5", "ERR syntax error, expected IDS keyword"),
            err("XNACK {k} g SILENT IDS abc 1-1", "ERR numids must be a positive integer"),
            err("XNACK {k} g SILENT IDS 0 1-1", "ERR numids must be a positive integer"),
            err("XNACK {k} g SILENT IDS -1 1-1", "ERR numids must be a positive integer"),
            err("XNACK {k} g SILENT IDS 2 1-1", "ERR number of IDs doesn't match numids"),
            err("XNACK {k} g FAIL IDS 1 1-1 2-1", "ERR Unrecognized XNACK option '2-1'"),
            err("XNACK {k} g FAIL IDS 1 not-an-id", "ERR Invalid stream ID specified as stream command argument"),
            err("XNACK {k} g FAIL IDS 1 1-1 RETRYCOUNT abc", "ERR value is not an integer or out of range"),
            err("XNACK {k} g FAIL IDS 1 1-1 RETRYCOUNT -1", "ERR Invalid RETRYCOUNT value, must be >= 0"),
            err("XNACK {k} g FAIL IDS 1 1-1 RETRYCOUNT 99999999999999999999", "ERR value is not an integer or out of range"),
            err("XNACK {k} g FAIL IDS 1 1-1 RETRYCOUNT", "ERR Unrecognized XNACK option 'RETRYCOUNT'"),
            err("XNACK {k} g FAIL RETRYCOUNT", "ERR wrong number of arguments for 'xnack' command"),
            err("XNACK {k} g SILENT IDS 1", "ERR wrong number of arguments for 'xnack' command"),
            sluice_check("XNACK {k} nog FAIL IDS 1 1-1", WHY, |f| match f {
                Frame::Error(e) if e.starts_with(b"NOGROUP No such key '") && e.ends_with(b"' or consumer group 'nog'") => Ok(()),
                other => Err(format!("{other}")),
            }),
            step("SET {k}s v"), err("XNACK {k}s g FAIL IDS 1 1-1", "WRONGTYPE Operation against a key holding the wrong kind of value"),
            xpending("XPENDING {k} g 1-1 1-1 1 c2", &[]),
            step("DEL {k} {k}s"),
        ])),
        // the NACK zone is FIFO: re-released entries go to its end; XINFO STREAM FULL counts it (per group)
        case("xnack_zone_order_and_nacked_count", &with_setup(vec![
            step("XGROUP CREATE {k} h 0"),
            ok_int("XNACK {k} g FAIL IDS 3 3-1 1-1 2-1", 3), ok_int("XNACK {k} g FAIL IDS 1 3-1", 1),
            full_nacked("XINFO STREAM {k} FULL", &[3, 0]),
            claim_reply("XREADGROUP GROUP g c2 COUNT 1 CLAIM 3600000 STREAMS {k} >", &[("1-1", (-1, -1), 1)]),
            claim_reply("XREADGROUP GROUP g c2 COUNT 2 CLAIM 3600000 STREAMS {k} >", &[("2-1", (-1, -1), 1), ("3-1", (-1, -1), 1)]),
            full_nacked("XINFO STREAM {k} FULL", &[0, 0]),
            ok_int("XNACK {k} g FAIL IDS 1 2-1", 1), ok_int("XACK {k} g 2-1", 1), full_nacked("XINFO STREAM {k} FULL", &[0, 0]),
            step("DEL {k}"),
        ])),
        // XCLAIM and XAUTOCLAIM take released entries whatever their min-idle-time
        case("xnack_then_xclaim", &with_setup(vec![
            ok_int("XNACK {k} g FAIL IDS 2 1-1 2-1", 2),
            sluice_only("XCLAIM {k} g c2 3600000 1-1 JUSTID", b"*1\r\n$3\r\n1-1\r\n", WHY),
            sluice_only("XAUTOCLAIM {k} g c2 3600000 0 JUSTID", b"*3\r\n$3\r\n0-0\r\n*1\r\n$3\r\n2-1\r\n*0\r\n", WHY),
            full_nacked("XINFO STREAM {k} FULL", &[0]),
            step("DEL {k}"),
        ])),
        // CLAIM: released entries first, then idle ones (longest idle first), then new ones with 0, 0, all within COUNT
        case("claim_reply_shape", &[
            step("XADD {k} 1-1 a 1"), step("XADD {k} 2-1 b 2"), step("XADD {k} 3-1 c 3"), step("XADD {k} 4-1 d 4"), step("XGROUP CREATE {k} g 0"),
            step("XREADGROUP GROUP g c1 COUNT 2 STREAMS {k} >"), step("XCLAIM {k} g c1 0 1-1 TIME 1000 JUSTID"),
            ok_int("XNACK {k} g FAIL IDS 1 2-1", 1),
            claim_reply("XREADGROUP GROUP g c2 COUNT 3 CLAIM 3600000 STREAMS {k} >", &[("2-1", (-1, -1), 1), ("1-1", (3_600_000, i64::MAX), 1), ("3-1", (0, 0), 0)]),
            claim_reply("XREADGROUP GROUP g c2 CLAIM 0 STREAMS {k} >", &[("1-1", (0, 60_000), 2), ("2-1", (0, 60_000), 2), ("3-1", (0, 60_000), 1), ("4-1", (0, 0), 0)]),
            xpending("XPENDING {k} g - + 10 c1", &[]),
            claim_reply("XREADGROUP GROUP g c3 COUNT 1 CLAIM 0 NOACK STREAMS {k} >", &[("1-1", (0, 60_000), 3)]),
            sluice_only("XPENDING {k} g", b"*4\r\n:4\r\n$3\r\n1-1\r\n$3\r\n4-1\r\n*2\r\n*2\r\n$2\r\nc2\r\n$1\r\n3\r\n*2\r\n$2\r\nc3\r\n$1\r\n1\r\n", WHY),
            nothing("XREADGROUP GROUP g c4 CLAIM 3600000 STREAMS {k} >"),
            // CLAIM is ignored for a history read (2-element entries)
            sluice_check("XREADGROUP GROUP g c3 CLAIM 0 STREAMS {k} 0", WHY, |f| match streams(f)?.as_slice() {
                [es] if es.len() == 1 && matches!(&es[0], Frame::Array(x) if x.len() == 2) => Ok(()),
                _ => Err(format!("{f}")),
            }),
            // (that history read delivered 1-1 once more); entries gone from the stream are not returned but stay in the PEL, claimed (Redis's CLAIM leaves them there)
            step("XDEL {k} 2-1 3-1"),
            claim_reply("XREADGROUP GROUP g c4 CLAIM 0 STREAMS {k} >", &[("4-1", (0, 60_000), 1), ("1-1", (0, 60_000), 5)]),
            sluice_only("XPENDING {k} g", b"*4\r\n:4\r\n$3\r\n1-1\r\n$3\r\n4-1\r\n*1\r\n*2\r\n$2\r\nc4\r\n$1\r\n4\r\n", WHY),
            step("DEL {k}"),
        ]),
        // Redis's "CLAIM after XGROUP SETID moves before pending messages": the same entries come back claimed and then new (their count reset to 1)
        case("claim_then_setid_back", &[
            step("XADD {k} 1-1 a 1"), step("XADD {k} 2-1 b 2"), step("XGROUP CREATE {k} g 0"), step("XREADGROUP GROUP g c1 STREAMS {k} >"),
            claim_reply("XREADGROUP GROUP g c2 CLAIM 0 STREAMS {k} >", &[("1-1", (0, 60_000), 1), ("2-1", (0, 60_000), 1)]),
            step("XGROUP SETID {k} g 0"),
            claim_reply("XREADGROUP GROUP g c2 CLAIM 0 STREAMS {k} >", &[("1-1", (0, 60_000), 2), ("2-1", (0, 60_000), 2), ("1-1", (0, 0), 0), ("2-1", (0, 0), 0)]),
            claim_reply("XREADGROUP GROUP g c2 CLAIM 0 STREAMS {k} >", &[("1-1", (0, 60_000), 1), ("2-1", (0, 60_000), 1)]),
            sluice_only("XPENDING {k} g", b"*4\r\n:2\r\n$3\r\n1-1\r\n$3\r\n2-1\r\n*1\r\n*2\r\n$2\r\nc2\r\n$1\r\n2\r\n", WHY),
            step("DEL {k}"),
        ]),
        case("claim_errors", &[
            step("XADD {k} 1-1 a 1"), step("XGROUP CREATE {k} g 0"),
            err("XREAD COUNT 2 CLAIM 10 STREAMS {k} 0-0", "ERR The CLAIM option is only supported by XREADGROUP. You called XREAD instead."),
            err("XREADGROUP GROUP g c CLAIM test STREAMS {k} >", "ERR min-idle-time is not an integer"),
            err("XREADGROUP GROUP g c CLAIM 5.5 STREAMS {k} >", "ERR min-idle-time is not an integer"),
            err("XREADGROUP GROUP g c CLAIM +10 STREAMS {k} >", "ERR min-idle-time is not an integer"),
            err("XREADGROUP GROUP g c CLAIM -0 STREAMS {k} >", "ERR min-idle-time is not an integer"),
            err("XREADGROUP GROUP g c CLAIM -10 STREAMS {k} >", "ERR min-idle-time must be a positive integer"),
            err("XREADGROUP GROUP g c CLAIM STREAMS {k} >", "ERR min-idle-time is not an integer"),
            err("XREADGROUP GROUP g c CLAIM 10 CLAIM COUNT 1 STREAMS {k} >", "ERR min-idle-time is not an integer"),
            err("XREADGROUP GROUP g CLAIM 50 c STREAMS {k} >", "ERR syntax error"),
            sluice_check("XREADGROUP GROUP nog c CLAIM 50 STREAMS {k} >", WHY, |f| match f {
                Frame::Error(e) if e.starts_with(b"NOGROUP No such key '") => Ok(()),
                other => Err(format!("{other}")),
            }),
            step("DEL {k}"),
        ]),
    ]
}

fn main() {
    run(cases());
}
