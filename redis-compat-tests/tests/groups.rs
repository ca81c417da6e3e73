//! Consumer groups without blocking (run in parallel, one key prefix per
//! case): XGROUP (CREATE / SETID / DESTROY / CREATECONSUMER / DELCONSUMER /
//! HELP), XREADGROUP, XACK, XPENDING, XCLAIM, XAUTOCLAIM, XINFO GROUPS /
//! CONSUMERS / STREAM FULL, and what the keyspace commands do to groups.
//!
//! Every ID is explicit, so IDs, delivery counts, pending counts,
//! entries-read and lag are compared byte for byte. Time fields are not:
//! * XPENDING extended `idle` (ms since the last delivery): each reply must
//!   have it in a range and be byte-identical otherwise ([`xpending`]).
//! * XINFO CONSUMERS `idle` and XINFO STREAM FULL `seen-time` and delivery
//!   times: masked the same way ([`consumers`], [`full`]); a delivery time
//!   set with `XCLAIM ... TIME <small unix ms>` is *not* recent and stays
//!   compared exactly.
//! * Sluice follows Redis 7.2 for XINFO CONSUMERS (`idle` = since the last
//!   attempted interaction, plus `inactive` = since the last successful one)
//!   and for XINFO STREAM FULL consumers (`seen-time` = last attempt, plus
//!   `active-time` = last success). The comparisons above ignore Sluice's
//!   extra `inactive` / `active-time` fields; the `*_72` cases check the 7.2
//!   fields on Sluice alone ([`sluice_check`], deliberate differences).
//!
//! Redis 7.0.15 only creates a consumer when XREADGROUP actually serves it
//! (new entries, or a history read) and when XCLAIM / XAUTOCLAIM actually
//! claim something; Redis 7.2 creates it on every call. Cases that depend
//! on this are named `*_creation_70`; elsewhere every consumer is created
//! before any call that might not serve it, so both behaviours agree.
//!
//! Blocking XREADGROUP is in tests/groups_blocking.rs, the random
//! differential test in tests/groups_random.rs.

use std::time::{SystemTime, UNIX_EPOCH};

use redis_compat_tests::*;

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// A unix time in ms "close to now" (the servers run on this machine).
fn recent(t: i64) -> bool {
    let now = now_ms();
    (now - 120_000..=now + 5_000).contains(&t)
}

/// The fields of a record: a RESP3 map or a RESP2 flat name/value array.
fn fields(f: &Frame) -> Result<(Vec<(Frame, Frame)>, bool), String> {
    match f {
        Frame::Map(m) => Ok((m.clone(), true)),
        Frame::Array(v) if v.len() % 2 == 0 => Ok((
            v.chunks(2).map(|c| (c[0].clone(), c[1].clone())).collect(),
            false,
        )),
        other => Err(format!(
            "expected a record (map or flat array), got {other}"
        )),
    }
}

fn record(fields: Vec<(Frame, Frame)>, map: bool) -> Frame {
    if map {
        Frame::Map(fields)
    } else {
        Frame::Array(fields.into_iter().flat_map(|(k, v)| [k, v]).collect())
    }
}

fn name_of(k: &Frame) -> String {
    k.as_text().unwrap_or_default()
}

fn int_in(what: &str, v: &Frame, lo: i64, hi: i64) -> Result<(), String> {
    match v {
        Frame::Integer(n) if (lo..=hi).contains(n) => Ok(()),
        other => Err(format!(
            "{what}: expected an integer in {lo}..={hi}, got {other}"
        )),
    }
}

/// Compare two replies after `mask` (which checks and blanks the time
/// fields) was applied to both.
fn masked(
    line: &str,
    desc: &str,
    mask: impl Fn(&Frame) -> Result<Frame, String> + Send + Sync + 'static,
) -> Step {
    pair(line, desc, move |a, b| {
        let ma = mask(a).map_err(|e| format!("case bug: redis reply: {e}"))?;
        let mb = mask(b).map_err(|e| format!("sluice reply: {e}"))?;
        if ma.encode() == mb.encode() {
            Ok(())
        } else {
            Err(format!("replies differ beyond the time fields:\n    redis (masked):  {ma}\n    sluice (masked): {mb}"))
        }
    })
}

/// XPENDING extended form: every `idle` (3rd element of each entry) in
/// `lo..=hi`, everything else byte-identical. Errors compare exactly.
fn xpending(line: &str, lo: i64, hi: i64) -> Step {
    masked(
        line,
        &format!("same entries, idle in {lo}..={hi}"),
        move |f| match f {
            Frame::Array(entries) => {
                let mut out = Vec::new();
                for e in entries {
                    match e {
                        Frame::Array(x) if x.len() == 4 => {
                            int_in("idle", &x[2], lo, hi)?;
                            let mut x = x.clone();
                            x[2] = Frame::Integer(0);
                            out.push(Frame::Array(x));
                        }
                        other => {
                            return Err(format!(
                                "expected [id, consumer, idle, count], got {other}"
                            ))
                        }
                    }
                }
                Ok(Frame::Array(out))
            }
            other => Ok(other.clone()),
        },
    )
}

/// XINFO CONSUMERS: `idle` in `lo..=hi` for every consumer, the rest
/// byte-identical; Sluice's extra `inactive` field (Redis 7.2) is left to
/// the `*_72` cases.
fn consumers(line: &str, lo: i64, hi: i64) -> Step {
    masked(
        line,
        &format!("same consumers, idle in {lo}..={hi}"),
        move |f| match f {
            Frame::Array(list) => {
                let mut out = Vec::new();
                for c in list {
                    let (fs, map) = fields(c)?;
                    let mut kept = Vec::new();
                    for (k, v) in fs {
                        match name_of(&k).as_str() {
                            "idle" => {
                                int_in("idle", &v, lo, hi)?;
                                kept.push((k, Frame::Integer(0)));
                            }
                            "inactive" => {}
                            _ => kept.push((k, v)),
                        }
                    }
                    out.push(record(kept, map));
                }
                Ok(Frame::Array(out))
            }
            other => Ok(other.clone()),
        },
    )
}

/// A delivery time: blanked when recent (set by a read or claim now), kept
/// (compared exactly) otherwise (set with XCLAIM TIME).
fn delivery_time(v: &Frame) -> Result<Frame, String> {
    match v {
        Frame::Integer(t) if recent(*t) => Ok(Frame::Integer(0)),
        Frame::Integer(_) => Ok(v.clone()),
        other => Err(format!("delivery time: expected an integer, got {other}")),
    }
}

/// XINFO STREAM FULL: consumers' `seen-time` must be recent; delivery times
/// are blanked when recent (see [`delivery_time`]); Sluice's extra
/// `active-time` (Redis 7.2) is left to the `*_72` cases, its group field
/// `nacked-count` (Redis 8.8) to tests/groups_nack.rs; everything else
/// byte-identical.
fn full(line: &str) -> Step {
    fn mask_group(g: &Frame) -> Result<Frame, String> {
        let (fs, map) = fields(g)?;
        let mut kept = Vec::new();
        for (k, v) in fs {
            let v = match (name_of(&k).as_str(), &v) {
                // Redis 8.8's NACK-zone size: checked on Sluice alone in groups_nack.rs.
                ("nacked-count", _) => continue,
                ("pending", Frame::Array(rows)) => Frame::Array(
                    rows.iter()
                        .map(|r| match r {
                            Frame::Array(x) if x.len() == 4 => {
                                let mut x = x.clone();
                                x[2] = delivery_time(&x[2])?;
                                Ok(Frame::Array(x))
                            }
                            other => Err(format!("group pending row {other}")),
                        })
                        .collect::<Result<_, String>>()?,
                ),
                ("consumers", Frame::Array(list)) => Frame::Array(
                    list.iter()
                        .map(mask_consumer)
                        .collect::<Result<_, String>>()?,
                ),
                _ => v,
            };
            kept.push((k, v));
        }
        Ok(record(kept, map))
    }
    fn mask_consumer(c: &Frame) -> Result<Frame, String> {
        let (fs, map) = fields(c)?;
        let mut kept = Vec::new();
        for (k, v) in fs {
            match (name_of(&k).as_str(), &v) {
                ("seen-time", Frame::Integer(t)) if recent(*t) => kept.push((k, Frame::Integer(0))),
                ("seen-time", other) => {
                    return Err(format!("seen-time {other} is not a recent unix time in ms"))
                }
                ("active-time", _) => {}
                ("pending", Frame::Array(rows)) => {
                    let rows = rows
                        .iter()
                        .map(|r| match r {
                            Frame::Array(x) if x.len() == 3 => {
                                let mut x = x.clone();
                                x[1] = delivery_time(&x[1])?;
                                Ok(Frame::Array(x))
                            }
                            other => Err(format!("consumer pending row {other}")),
                        })
                        .collect::<Result<_, String>>()?;
                    kept.push((k, Frame::Array(rows)));
                }
                _ => kept.push((k, v)),
            }
        }
        Ok(record(kept, map))
    }
    masked(
        line,
        "same reply, seen-time and delivery times recent",
        |f| {
            if matches!(f, Frame::Error(_)) {
                return Ok(f.clone());
            }
            let (fs, map) = fields(f)?;
            let mut kept = Vec::new();
            for (k, v) in fs {
                let v = match (name_of(&k).as_str(), &v) {
                    ("groups", Frame::Array(gs)) => {
                        Frame::Array(gs.iter().map(mask_group).collect::<Result<_, String>>()?)
                    }
                    _ => v,
                };
                kept.push((k, v));
            }
            Ok(record(kept, map))
        },
    )
}

// ------------------------------------------------------------------ Redis 7.2 fields on Sluice

const WHY_72: &str = "Redis 7.2 fields; 7.0.15 lacks `inactive`/`active-time` (spec §4: idle/seen-time = last attempted interaction, inactive/active-time = last successful one)";

/// Expected `inactive` of a consumer (Redis 7.2).
#[derive(Clone, Copy)]
enum Active {
    /// `-1`: never read or claimed anything.
    Never,
    /// ms since the last successful read/claim in this range.
    Within(i64, i64),
}

/// XINFO CONSUMERS as Redis 7.2 replies it: per consumer exactly the fields
/// `name`, `pending`, `idle`, `inactive`, with these values.
fn consumers_72(line: &str, expect: &'static [(&'static str, i64, (i64, i64), Active)]) -> Step {
    sluice_check(line, WHY_72, move |f| {
        let Frame::Array(list) = f else {
            return Err(format!("expected an array, got {f}"));
        };
        if list.len() != expect.len() {
            return Err(format!(
                "{} consumers, expected {}",
                list.len(),
                expect.len()
            ));
        }
        for (c, &(name, pending, (lo, hi), active)) in list.iter().zip(expect) {
            let (fs, _) = fields(c)?;
            let names: Vec<String> = fs.iter().map(|(k, _)| name_of(k)).collect();
            if names != ["name", "pending", "idle", "inactive"] {
                return Err(format!(
                    "consumer fields {names:?}, expected [name, pending, idle, inactive]"
                ));
            }
            if fs[0].1 != Frame::Bulk(name.as_bytes().to_vec()) {
                return Err(format!("name {}, expected {name}", fs[0].1));
            }
            if fs[1].1 != Frame::Integer(pending) {
                return Err(format!("{name}: pending {}, expected {pending}", fs[1].1));
            }
            int_in(&format!("{name}: idle"), &fs[2].1, lo, hi)?;
            match active {
                Active::Never => int_in(&format!("{name}: inactive"), &fs[3].1, -1, -1)?,
                Active::Within(lo, hi) => int_in(&format!("{name}: inactive"), &fs[3].1, lo, hi)?,
            }
        }
        Ok(())
    })
}

/// XINFO STREAM FULL as Redis 7.2 replies it, for the consumers of the
/// first group: exactly `name`, `seen-time` (recent), `active-time` (`-1`
/// or recent), `pel-count`, `pending`.
fn full_72(line: &str, expect: &'static [(&'static str, bool)]) -> Step {
    sluice_check(line, WHY_72, move |f| {
        let (top, _) = fields(f)?;
        let groups = top
            .iter()
            .find(|(k, _)| name_of(k) == "groups")
            .ok_or("no groups field")?;
        let Frame::Array(gs) = &groups.1 else {
            return Err("groups is not an array".into());
        };
        let g = gs.first().ok_or("no group")?;
        let (gf, _) = fields(g)?;
        let cs = gf
            .iter()
            .find(|(k, _)| name_of(k) == "consumers")
            .ok_or("no consumers field")?;
        let Frame::Array(list) = &cs.1 else {
            return Err("consumers is not an array".into());
        };
        if list.len() != expect.len() {
            return Err(format!(
                "{} consumers, expected {}",
                list.len(),
                expect.len()
            ));
        }
        for (c, &(name, active)) in list.iter().zip(expect) {
            let (fs, _) = fields(c)?;
            let names: Vec<String> = fs.iter().map(|(k, _)| name_of(k)).collect();
            if names != ["name", "seen-time", "active-time", "pel-count", "pending"] {
                return Err(format!("consumer fields {names:?}, expected [name, seen-time, active-time, pel-count, pending]"));
            }
            if fs[0].1 != Frame::Bulk(name.as_bytes().to_vec()) {
                return Err(format!("name {}, expected {name}", fs[0].1));
            }
            match fs[1].1 {
                Frame::Integer(t) if recent(t) => {}
                ref other => return Err(format!("{name}: seen-time {other} is not recent")),
            }
            match (active, &fs[2].1) {
                (false, Frame::Integer(-1)) => {}
                (true, Frame::Integer(t)) if recent(*t) => {}
                (_, other) => {
                    return Err(format!(
                        "{name}: active-time {other}, expected {}",
                        if active { "a recent unix time" } else { "-1" }
                    ))
                }
            }
        }
        Ok(())
    })
}

/// `n` steps built from their index (1-based).
fn repeat(n: usize, f: impl Fn(usize) -> String) -> Vec<Step> {
    (1..=n).map(|i| step(&f(i))).collect()
}

/// Concatenate step lists.
fn steps(parts: &[&[Step]]) -> Vec<Step> {
    parts.iter().flat_map(|p| p.iter().cloned()).collect()
}

fn lines(v: &[&str]) -> Vec<Step> {
    v.iter().map(|s| step(s)).collect()
}

/// Three entries and a group `g` at 0 (entries-read unknown).
const SETUP3: [&str; 4] = [
    "XADD {k} 1-1 a 1",
    "XADD {k} 2-1 b 2",
    "XADD {k} 3-1 c 3",
    "XGROUP CREATE {k} g 0",
];

fn with_setup3(rest: &[Step]) -> Vec<Step> {
    steps(&[&lines(&SETUP3), rest])
}

#[rustfmt::skip]
fn cases() -> Vec<Case> {
    let mut v = vec![
        // ------------------------------------------------------------ XGROUP CREATE
        case("create_ids", &[
            "XADD {k} 1-1 a 1", "XADD {k} 2-1 b 2", "XGROUP CREATE {k} g $", "XGROUP CREATE {k} g0 0", "XGROUP CREATE {k} g1 1-1", "XGROUP CREATE {k} gp 2", "XGROUP CREATE {k} gf 99-0", "XGROUP CREATE {k} gz 0-0",
            "XINFO GROUPS {k}", "XINFO STREAM {k}", "XREADGROUP GROUP g c STREAMS {k} >", "XREADGROUP GROUP g1 c STREAMS {k} >", "XREADGROUP GROUP gp c STREAMS {k} >", "XREADGROUP GROUP gf c STREAMS {k} >", "DEL {k}",
        ]),
        case("create_mkstream", &[
            "XGROUP CREATE {k} g $ MKSTREAM", "EXISTS {k}", "TYPE {k}", "XLEN {k}", "XINFO STREAM {k}", "XINFO GROUPS {k}", "XGROUP CREATE {k} g2 $ mkstream", "XGROUP CREATE {k} g $ MKSTREAM",
            "XGROUP CREATE {k}b g 5-5 MKSTREAM", "XINFO GROUPS {k}b", "XINFO STREAM {k}b", "XADD {k}b 1-1 a 1", "XADD {k}b 6-1 a 1", "XREADGROUP GROUP g c STREAMS {k}b >",
            "XGROUP CREATE {k}c g $ MKSTREAM MKSTREAM", "XGROUP CREATE {k}d g 0 MkStReAm ENTRIESREAD 0", "XINFO GROUPS {k}d", "XGROUP CREATE {k}e g 0 ENTRIESREAD 3 MKSTREAM", "XINFO GROUPS {k}e", "DEL {k} {k}b {k}c {k}d {k}e",
        ]),
        // $ on a stream whose last entry was deleted: the last generated ID
        case("create_dollar_after_xdel", &["XADD {k} 1-1 a 1", "XADD {k} 2-1 b 2", "XDEL {k} 2-1", "XGROUP CREATE {k} g $", "XINFO GROUPS {k}", "XDEL {k} 1-1", "XGROUP CREATE {k} g2 $", "XINFO GROUPS {k}", "XADD {k} 3-1 c 3", "XREADGROUP GROUP g c STREAMS {k} >", "XINFO GROUPS {k}", "DEL {k}"]),
        case("create_entriesread", &[
            "XADD {k} 1-1 a 1", "XADD {k} 2-1 b 2", "XADD {k} 3-1 c 3", "XGROUP CREATE {k} g0 0 ENTRIESREAD 0", "XGROUP CREATE {k} g1 1-1 ENTRIESREAD 1", "XGROUP CREATE {k} g2 2-1 ENTRIESREAD 2", "XGROUP CREATE {k} g3 $ ENTRIESREAD 3",
            "XGROUP CREATE {k} gm 2-1 ENTRIESREAD -1", "XGROUP CREATE {k} gbig 0 ENTRIESREAD 100", "XGROUP CREATE {k} gmax 0 ENTRIESREAD 9223372036854775807", "XGROUP CREATE {k} gtwice 0 ENTRIESREAD 7 ENTRIESREAD 1", "XINFO GROUPS {k}",
            "XREADGROUP GROUP g1 c COUNT 1 STREAMS {k} >", "XREADGROUP GROUP gm c STREAMS {k} >", "XREADGROUP GROUP gbig c STREAMS {k} >", "XINFO GROUPS {k}", "DEL {k}",
        ]),
        // option parsing comes before the key lookup; the key check before the ID parse; nothing is created on an error
        case("create_errors", &[
            "XGROUP CREATE {k} g $", "XGROUP CREATE {k} g 0", "EXISTS {k}", "XGROUP CREATE {k} g $ FOO", "XGROUP CREATE {k} g $ ENTRIESREAD -2", "XGROUP CREATE {k} g $ ENTRIESREAD x", "XGROUP CREATE {k} g $ ENTRIESREAD", "XGROUP CREATE {k} g x",
            "XGROUP CREATE {k} g x MKSTREAM", "XGROUP CREATE {k} g - MKSTREAM", "XGROUP CREATE {k} g + MKSTREAM", "XGROUP CREATE {k} g > MKSTREAM", "XGROUP CREATE {k} g (1 MKSTREAM", "XGROUP CREATE {k} g 1-x MKSTREAM", "XGROUP CREATE {k} g ENTRIESREAD 5 MKSTREAM", "EXISTS {k}",
            "XGROUP CREATE {k} g $ MKSTREAM ENTRIESREAD 1 MKSTREAM", "XGROUP CREATE {k} g $ MKSTREAM ENTRIESREAD 9223372036854775808", "XGROUP CREATE {k} g $ MKSTREAM ENTRIESREAD -9", "EXISTS {k}",
            "XGROUP CREATE {k}", "XGROUP CREATE {k} g", "XGROUP CREATE", "XGROUP", "EXISTS {k}",
            "XGROUP CREATE {k} g $ MKSTREAM", "XGROUP CREATE {k} g $ MKSTREAM", "XGROUP CREATE {k} g 0", "XGROUP CREATE {k} g x", "XGROUP CREATE {k} G 0", "XINFO GROUPS {k}", "DEL {k}",
        ]),
        case("create_wrongtype", &["SET {k} s", "XGROUP CREATE {k} g $", "XGROUP CREATE {k} g $ MKSTREAM", "XGROUP CREATE {k} g x", "XGROUP CREATE {k} g $ FOO", "XGROUP SETID {k} g 0", "XGROUP DESTROY {k} g", "XGROUP CREATECONSUMER {k} g c", "XGROUP DELCONSUMER {k} g c", "GET {k}", "DEL {k}"]),
        // groups and consumers are listed in byte order, whatever the creation order
        case("create_names_order", &[
            "XADD {k} 1-1 a 1", "XGROUP CREATE {k} b 0", "XGROUP CREATE {k} a 0", "XGROUP CREATE {k} ab 0", "XGROUP CREATE {k} B 0", r#"XGROUP CREATE {k} "" 0"#, r#"XGROUP CREATE {k} "\xff\x00" 0"#, r#"XGROUP CREATE {k} "a b" 0"#, "XGROUP CREATE {k} 10 0", "XGROUP CREATE {k} 9 0",
            "XINFO GROUPS {k}", "XINFO STREAM {k}", r#"XREADGROUP GROUP "" "" STREAMS {k} >"#, r#"XREADGROUP GROUP "a b" "c d" STREAMS {k} >"#, r#"XPENDING {k} """#, r#"XPENDING {k} "a b""#, r#"XGROUP DESTROY {k} "\xff\x00""#, "XINFO GROUPS {k}", "DEL {k}",
        ]),
        case("create_case_insensitive", &["xgroup create {k} g $ mkstream", "XGROUP cReAtE {k} g2 $", "xgroup setid {k} g 0 entriesread 0", "xgroup createconsumer {k} g c", "xgroup delconsumer {k} g c", "xgroup destroy {k} g2", "XINFO GROUPS {k}", "DEL {k}"]),
        // ------------------------------------------------------------ XGROUP SETID
        case("setid_ids_and_lag", &[
            "XADD {k} 1-1 a 1", "XADD {k} 2-1 b 2", "XADD {k} 3-1 c 3", "XGROUP CREATE {k} g $", "XINFO GROUPS {k}",
            "XGROUP SETID {k} g 0", "XINFO GROUPS {k}", "XGROUP SETID {k} g 1-1", "XINFO GROUPS {k}", "XGROUP SETID {k} g 2-1", "XINFO GROUPS {k}", "XGROUP SETID {k} g $", "XINFO GROUPS {k}",
            "XGROUP SETID {k} g 2-1 ENTRIESREAD 2", "XINFO GROUPS {k}", "XGROUP SETID {k} g 2-1 ENTRIESREAD 7", "XINFO GROUPS {k}", "XGROUP SETID {k} g 0 ENTRIESREAD -1", "XINFO GROUPS {k}",
            "XGROUP SETID {k} g 2", "XINFO GROUPS {k}", "XGROUP SETID {k} g -", "XINFO GROUPS {k}", "XGROUP SETID {k} g +", "XINFO GROUPS {k}", "XGROUP SETID {k} g 99-99", "XINFO GROUPS {k}", "XREADGROUP GROUP g c STREAMS {k} >", "DEL {k}",
        ]),
        case("setid_errors", &[
            "XGROUP SETID {k} g 0", "XGROUP SETID {k} g $", "XADD {k} 1-1 a 1", "XGROUP SETID {k} g 0", "XGROUP SETID {k} g x", "XGROUP CREATE {k} g 0",
            "XGROUP SETID {k} g x", "XGROUP SETID {k} g (1", "XGROUP SETID {k} g 0 MKSTREAM", "XGROUP SETID {k} g 0 ENTRIESREAD", "XGROUP SETID {k} g 0 ENTRIESREAD -2", "XGROUP SETID {k} g 0 ENTRIESREAD x", "XGROUP SETID {k} g 0 FOO",
            "XGROUP SETID {k} g 0 ENTRIESREAD 1 ENTRIESREAD 2", "XGROUP SETID {k} nog 0", "XGROUP SETID {k} nog x", "XGROUP SETID {k} nog 0 ENTRIESREAD -5", "XGROUP SETID {k} g", "XGROUP SETID {k}", "XINFO GROUPS {k}", "DEL {k}",
        ]),
        // moving the group back re-delivers entries: the PEL entry moves to the new reader and its delivery count restarts at 1
        case("setid_redelivers", &steps(&[&lines(&SETUP3), &lines(&[
            "XREADGROUP GROUP g c1 STREAMS {k} >", "XREADGROUP GROUP g c1 STREAMS {k} 0", "XGROUP SETID {k} g 1-1", "XREADGROUP GROUP g c2 COUNT 1 STREAMS {k} >", "XPENDING {k} g",
        ]), &[xpending("XPENDING {k} g - + 10", 0, 5000)], &lines(&["XREADGROUP GROUP g c1 STREAMS {k} 0", "XREADGROUP GROUP g c2 STREAMS {k} 0", "XINFO GROUPS {k}", "DEL {k}"])])),
        // $ on a stream whose entries were all deleted
        case("setid_dollar_empty_stream", &["XADD {k} 1-1 a 1", "XADD {k} 7-7 b 2", "XGROUP CREATE {k} g 0", "XDEL {k} 1-1 7-7", "XGROUP SETID {k} g $", "XINFO GROUPS {k}", "XINFO STREAM {k}", "XADD {k} 8-8 c 3", "XINFO GROUPS {k}", "XREADGROUP GROUP g c STREAMS {k} >", "XINFO GROUPS {k}", "DEL {k}"]),
        // ------------------------------------------------------------ XGROUP DESTROY
        case("destroy", &[
            "XGROUP DESTROY {k} g", "XADD {k} 1-1 a 1", "XGROUP DESTROY {k} g", "XGROUP CREATE {k} g 0", "XGROUP CREATE {k} h 0", "XREADGROUP GROUP g c STREAMS {k} >", "XGROUP DESTROY {k} g", "XGROUP DESTROY {k} g", "XGROUP DESTROY {k} G",
            "XINFO GROUPS {k}", "XINFO STREAM {k}", "XREADGROUP GROUP g c STREAMS {k} >", "XPENDING {k} g", "XACK {k} g 1-1", "XGROUP CREATE {k} g 0", "XPENDING {k} g", "XREADGROUP GROUP g c STREAMS {k} 0", "XREADGROUP GROUP g c STREAMS {k} >", "DEL {k}",
        ]),
        case("destroy_arity", &["XADD {k} 1-1 a 1", "XGROUP CREATE {k} g 0", "XGROUP DESTROY {k}", "XGROUP DESTROY {k} g extra", "XGROUP DESTROY", "XINFO GROUPS {k}", "DEL {k}"]),
        // ------------------------------------------------------------ XGROUP CREATECONSUMER
        case("createconsumer", &[
            "XGROUP CREATECONSUMER {k} g c", "XADD {k} 1-1 a 1", "XGROUP CREATECONSUMER {k} g c", "XGROUP CREATE {k} g 0", "XGROUP CREATECONSUMER {k} g c", "XGROUP CREATECONSUMER {k} g c", "XGROUP CREATECONSUMER {k} g C",
            r#"XGROUP CREATECONSUMER {k} g """#, "XINFO GROUPS {k}", "XPENDING {k} g", "XREADGROUP GROUP g c STREAMS {k} 0", "XREADGROUP GROUP g c STREAMS {k} >", "XGROUP CREATECONSUMER {k} g c", "XPENDING {k} g",
            "XGROUP CREATECONSUMER {k} nog c", "XGROUP CREATECONSUMER {k} g", "XGROUP CREATECONSUMER {k} g c d", "XINFO GROUPS {k}", "DEL {k}",
        ]),
        // ------------------------------------------------------------ XGROUP DELCONSUMER
        // returns the consumer's pending count; its PEL entries are dropped (not re-delivered, not claimable, not ackable)
        case("delconsumer", &steps(&[&lines(&SETUP3), &lines(&[
            "XADD {k} 4-1 d 4", "XREADGROUP GROUP g c1 COUNT 3 STREAMS {k} >", "XREADGROUP GROUP g c2 STREAMS {k} >", "XPENDING {k} g", "XGROUP DELCONSUMER {k} g c1", "XPENDING {k} g", "XINFO GROUPS {k}",
            "XGROUP DELCONSUMER {k} g c1", "XGROUP DELCONSUMER {k} g nobody", "XACK {k} g 1-1", "XCLAIM {k} g c2 0 2-1", "XREADGROUP GROUP g c2 STREAMS {k} >", "XREADGROUP GROUP g c1 STREAMS {k} 0", "XINFO GROUPS {k}",
            "XGROUP CREATECONSUMER {k} g c3", "XGROUP DELCONSUMER {k} g c3", "XGROUP DELCONSUMER {k} g c2", "XPENDING {k} g", "XINFO GROUPS {k}",
            "XGROUP DELCONSUMER {k} nog c2", "XGROUP DELCONSUMER {k} g", "XGROUP DELCONSUMER {k} g c d", "XGROUP DELCONSUMER {k}x g c", "DEL {k}",
        ])])),
        // ------------------------------------------------------------ XGROUP HELP / unknown
        case("xgroup_help", &["XGROUP HELP", "XGROUP help", "XGROUP HELP x", "XGROUP HELP x y"]),
        case("xgroup_unknown_subcommand", &["XGROUP FOO", "XGROUP FOO bar", "XGROUP foo {k} g", "XGROUP foo {k} g 0 MKSTREAM", "XGROUP CREATECONSUMERS {k} g c", "XGROUP SET {k} g 0", "EXISTS {k}"]),
        // ------------------------------------------------------------ XREADGROUP
        case("xreadgroup_new_entries", &steps(&[&lines(&SETUP3), &lines(&[
            "XINFO GROUPS {k}", "XREADGROUP GROUP g c1 COUNT 1 STREAMS {k} >", "XINFO GROUPS {k}", "XREADGROUP GROUP g c2 STREAMS {k} >", "XINFO GROUPS {k}", "XGROUP CREATECONSUMER {k} g c3", "XREADGROUP GROUP g c3 STREAMS {k} >",
            "XREADGROUP GROUP g c3 COUNT 5 STREAMS {k} >", "XPENDING {k} g", "XADD {k} 4-1 d 4", "XREADGROUP GROUP g c3 COUNT 0 STREAMS {k} >", "XADD {k} 5-1 e 5", "XREADGROUP GROUP g c3 COUNT -1 STREAMS {k} >", "XPENDING {k} g", "XINFO GROUPS {k}", "DEL {k}",
        ])])),
        // The maximum ID is how Redis stores `>`: given explicitly it reads new entries too
        // (found by the differential fuzzer).
        case("xreadgroup_max_id_reads_new", &with_setup3(&lines(&[
            "XREADGROUP GROUP g c1 COUNT 1 STREAMS {k} 18446744073709551615-18446744073709551615", "XINFO GROUPS {k}", "XREADGROUP GROUP g c2 STREAMS {k} 18446744073709551615-18446744073709551615",
            "XPENDING {k} g", "XREADGROUP GROUP g c1 STREAMS {k} 18446744073709551615-18446744073709551615", "XREADGROUP GROUP g c1 STREAMS {k} 18446744073709551615", "XREADGROUP GROUP g c1 STREAMS {k} 18446744073709551615-18446744073709551614", "DEL {k}",
        ]))),
        // history: only this consumer's PEL after the given ID; a deleted entry is [id, nil]; delivery counts go up (not for deleted ones)
        case("xreadgroup_history", &steps(&[&lines(&SETUP3), &lines(&[
            "XREADGROUP GROUP g c1 COUNT 2 STREAMS {k} >", "XREADGROUP GROUP g c2 STREAMS {k} >", "XREADGROUP GROUP g c1 STREAMS {k} 0", "XREADGROUP GROUP g c1 STREAMS {k} 0-0", "XREADGROUP GROUP g c1 STREAMS {k} 1-1", "XREADGROUP GROUP g c1 STREAMS {k} 1",
            "XREADGROUP GROUP g c1 COUNT 1 STREAMS {k} 0", "XREADGROUP GROUP g c1 STREAMS {k} 2-1", "XREADGROUP GROUP g c1 STREAMS {k} 99-99", "XREADGROUP GROUP g c2 STREAMS {k} 0", "XREADGROUP GROUP g c2 BLOCK 100 STREAMS {k} 0", "XREADGROUP GROUP g c2 NOACK STREAMS {k} 0",
        ]), &[xpending("XPENDING {k} g - + 10", 0, 5000)], &lines(&[
            "XDEL {k} 1-1", "XREADGROUP GROUP g c1 STREAMS {k} 0", "XREADGROUP GROUP g c1 STREAMS {k} 0", "XTRIM {k} MAXLEN 0", "XREADGROUP GROUP g c1 STREAMS {k} 0", "XREADGROUP GROUP g c2 STREAMS {k} 0", "XREADGROUP GROUP g c1 COUNT 1 STREAMS {k} 1-1",
        ]), &[xpending("XPENDING {k} g - + 10", 0, 5000)], &lines(&["XPENDING {k} g", "XACK {k} g 1-1", "XREADGROUP GROUP g c1 STREAMS {k} 0", "XINFO GROUPS {k}", "DEL {k}"])])),
        // a history read creates the consumer (also in 7.0.15), even when it returns nothing
        case("xreadgroup_history_creates_consumer", &steps(&[&lines(&SETUP3), &lines(&["XREADGROUP GROUP g fresh STREAMS {k} 0", "XINFO GROUPS {k}", "XREADGROUP GROUP g fresh2 STREAMS {k} 5-0", "XINFO GROUPS {k}", "XPENDING {k} g"]), &[consumers("XINFO CONSUMERS {k} g", 0, 5000)], &lines(&["DEL {k}"])])),
        case("xreadgroup_noack", &steps(&[&lines(&SETUP3), &lines(&[
            "XGROUP CREATECONSUMER {k} g c", "XREADGROUP GROUP g c NOACK COUNT 2 STREAMS {k} >", "XPENDING {k} g", "XINFO GROUPS {k}", "XREADGROUP GROUP g c STREAMS {k} 0", "XREADGROUP GROUP g c2 NOACK STREAMS {k} >", "XINFO GROUPS {k}",
            "XADD {k} 4-1 d 4", "XREADGROUP GROUP g c noack STREAMS {k} >", "XREADGROUP GROUP g c NOACK NOACK STREAMS {k} >", "XPENDING {k} g", "XADD {k} 5-1 e 5", "XREADGROUP NOACK GROUP g c COUNT 1 STREAMS {k} >", "XPENDING {k} g", "XINFO GROUPS {k}", "DEL {k}",
        ])])),
        // several streams: only streams with something new are in the reply; a history stream is always there
        case("xreadgroup_several_streams", &[
            "XADD {k}a 1-1 a 1", "XADD {k}b 1-1 b 1", "XADD {k}b 2-1 b 2", "XGROUP CREATE {k}a g $", "XGROUP CREATE {k}b g 0", "XGROUP CREATECONSUMER {k}a g c", "XGROUP CREATECONSUMER {k}b g c",
            "XREADGROUP GROUP g c STREAMS {k}a {k}b > >", "XREADGROUP GROUP g c STREAMS {k}a {k}b > >", "XREADGROUP GROUP g c STREAMS {k}a {k}b 0 >", "XREADGROUP GROUP g c STREAMS {k}a {k}b 0 0", "XADD {k}a 2-1 a 2", "XADD {k}b 3-1 b 3",
            "XREADGROUP GROUP g c COUNT 1 STREAMS {k}b {k}a > >", "XREADGROUP GROUP g c STREAMS {k}a {k}b > >", "XREADGROUP GROUP g c STREAMS {k}b {k}a 0 0", "XPENDING {k}a g", "XPENDING {k}b g", "DEL {k}a {k}b",
        ]),
        // the same key twice: `> >` serves once, `> 0` serves the new entries and then the history including them
        case("xreadgroup_same_key_twice", &steps(&[&lines(&SETUP3), &lines(&["XGROUP CREATECONSUMER {k} g c", "XREADGROUP GROUP g c COUNT 1 STREAMS {k} {k} > >", "XREADGROUP GROUP g c COUNT 1 STREAMS {k} {k} > 0"]), &[xpending("XPENDING {k} g - + 10", 0, 5000)], &lines(&["XREADGROUP GROUP g c STREAMS {k} {k} 0 >", "DEL {k}"])])),
        // the IDs are all checked before anything is served: an error on the 2nd stream leaves the 1st untouched
        case("xreadgroup_errors_no_side_effects", &[
            "XADD {k}a 1-1 a 1", "XADD {k}b 1-1 b 1", "XGROUP CREATE {k}a g 0", "XGROUP CREATECONSUMER {k}a g c", "XREADGROUP GROUP g c STREAMS {k}a {k}b > >", "XREADGROUP GROUP g c STREAMS {k}a {k}missing > >", "SET {k}s x",
            "XREADGROUP GROUP g c STREAMS {k}a {k}s > >", "XREADGROUP GROUP g c STREAMS {k}a {k}a > $", "XREADGROUP GROUP g c STREAMS {k}a {k}a > x", "XPENDING {k}a g", "XINFO GROUPS {k}a", "DEL {k}a {k}b {k}s",
        ]),
        case("xreadgroup_errors", &[
            "XADD {k} 1-1 a 1", "XGROUP CREATE {k} g 0", "XREADGROUP GROUP g c STREAMS {k} $", "XREADGROUP GROUP g c STREAMS {k} +", "XREADGROUP GROUP g c STREAMS {k} -", "XREADGROUP GROUP g c STREAMS {k} x", "XREADGROUP GROUP g c STREAMS {k} (0",
            "XREADGROUP GROUP g c STREAMS {k} 1-x", "XREADGROUP GROUP nog c STREAMS {k} >", "XREADGROUP GROUP nog c STREAMS {k} $", "XREADGROUP GROUP nog c STREAMS {k} x", "XREADGROUP GROUP g c STREAMS {k}missing >", "XREADGROUP GROUP g c STREAMS {k}missing $",
            "XREADGROUP COUNT 1 NOACK STREAMS {k} >", "XREADGROUP COUNT 1 BLOCK 0 STREAMS {k} >", "XREADGROUP STREAMS {k} >", "XREADGROUP GROUP g STREAMS {k} >", "XREADGROUP GROUP g c STREAMS {k} {k}b >", "XREADGROUP GROUP g c STREAMS",
            "XREADGROUP GROUP g c COUNT x STREAMS {k} >", "XREADGROUP GROUP g c BLOCK x STREAMS {k} >", "XREADGROUP GROUP g c BLOCK -1 STREAMS {k} >", "XREADGROUP GROUP g c FOO STREAMS {k} >", "XREADGROUP GROUP g c COUNT 1", "XREADGROUP GROUP g c NOACK {k} >",
            "XREAD GROUP g c STREAMS {k} >", "XREAD NOACK STREAMS {k} 0", "XREAD STREAMS {k} >", "XPENDING {k} g", "DEL {k}",
        ]),
        case("xreadgroup_wrongtype", &["SET {k} s", "XREADGROUP GROUP g c STREAMS {k} >", "XREADGROUP GROUP g c STREAMS {k} $", "XREADGROUP GROUP g c STREAMS {k} 0", "DEL {k}"]),
        // nothing new: null (not an empty array), RESP2 *-1 / RESP3 _
        case("xreadgroup_nothing", &[
            "XGROUP CREATE {k} g $ MKSTREAM", "XGROUP CREATECONSUMER {k} g c", "XREADGROUP GROUP g c STREAMS {k} >", "XADD {k} 1-1 a 1", "XDEL {k} 1-1", "XREADGROUP GROUP g c STREAMS {k} >", "XREADGROUP GROUP g c COUNT 3 STREAMS {k} >", "XINFO GROUPS {k}",
            "XADD {k} 2-1 b 2", "XADD {k} 3-1 c 3", "XDEL {k} 3-1", "XREADGROUP GROUP g c STREAMS {k} >", "XREADGROUP GROUP g c STREAMS {k} >", "XINFO GROUPS {k}", "DEL {k}",
        ]),
        case("xreadgroup_consumer_names", &steps(&[&lines(&[
            "XADD {k} 1-1 a 1", "XADD {k} 2-1 b 2", "XADD {k} 3-1 c 3", "XGROUP CREATE {k} g 0", r#"XREADGROUP GROUP g "" COUNT 1 STREAMS {k} >"#, r#"XREADGROUP GROUP g "\x00\xff" COUNT 1 STREAMS {k} >"#, r#"XREADGROUP GROUP g "c d" COUNT 1 STREAMS {k} >"#, "XPENDING {k} g",
        ]), &[xpending(r#"XPENDING {k} g - + 10 """#, 0, 5000)], &lines(&[r#"XREADGROUP GROUP g "" STREAMS {k} 0"#, "XINFO GROUPS {k}", "DEL {k}"])])),
        case("xreadgroup_in_multi", &["XADD {k} 1-1 a 1", "XGROUP CREATE {k} g 0", "XGROUP CREATECONSUMER {k} g c", "MULTI", "XREADGROUP GROUP g c STREAMS {k} >", "XREADGROUP GROUP g c STREAMS {k} >", "XADD {k} 2-1 b 2", "XREADGROUP GROUP g c BLOCK 0 STREAMS {k} >", "XREADGROUP GROUP g c BLOCK 0 STREAMS {k} >", "XPENDING {k} g", "EXEC", "DEL {k}"]),
        // entries-read and lag as reads go on, with tombstones behind and ahead of the group
        case("xreadgroup_entries_read_lag", &[
            "XADD {k} 1-1 a 1", "XADD {k} 2-1 b 2", "XADD {k} 3-1 c 3", "XADD {k} 4-1 d 4", "XADD {k} 5-1 e 5", "XGROUP CREATE {k} g 0", "XGROUP CREATE {k} h 0 ENTRIESREAD 0", "XGROUP CREATECONSUMER {k} g c", "XGROUP CREATECONSUMER {k} h c",
            "XINFO GROUPS {k}", "XREADGROUP GROUP g c COUNT 1 STREAMS {k} >", "XREADGROUP GROUP h c COUNT 1 STREAMS {k} >", "XINFO GROUPS {k}", "XDEL {k} 1-1", "XINFO GROUPS {k}", "XDEL {k} 3-1", "XINFO GROUPS {k}",
            "XREADGROUP GROUP g c COUNT 1 STREAMS {k} >", "XINFO GROUPS {k}", "XREADGROUP GROUP h c COUNT 2 STREAMS {k} >", "XINFO GROUPS {k}", "XREADGROUP GROUP g c STREAMS {k} >", "XREADGROUP GROUP h c STREAMS {k} >", "XINFO GROUPS {k}",
            "XADD {k} 6-1 f 6", "XINFO GROUPS {k}", "XREADGROUP GROUP g c STREAMS {k} >", "XINFO GROUPS {k}", "XTRIM {k} MAXLEN 1", "XINFO GROUPS {k}", "XINFO STREAM {k}", "DEL {k}",
        ]),
        case("xreadgroup_entries_read_after_xsetid", &[
            "XADD {k} 1-1 a 1", "XADD {k} 2-1 b 2", "XGROUP CREATE {k} g 0", "XGROUP CREATECONSUMER {k} g c", "XSETID {k} 5-0 ENTRIESADDED 10", "XINFO GROUPS {k}", "XREADGROUP GROUP g c COUNT 1 STREAMS {k} >", "XINFO GROUPS {k}",
            "XREADGROUP GROUP g c STREAMS {k} >", "XINFO GROUPS {k}", "XADD {k} 6-0 c 3", "XINFO GROUPS {k}", "XSETID {k} 6-0 MAXDELETEDID 5-5", "XINFO GROUPS {k}", "DEL {k}",
        ]),
        // ------------------------------------------------------------ XACK
        case("xack", &steps(&[&lines(&SETUP3), &lines(&[
            "XREADGROUP GROUP g c1 COUNT 2 STREAMS {k} >", "XREADGROUP GROUP g c2 STREAMS {k} >", "XACK {k} g 1-1 3-1", "XACK {k} g 1-1 3-1", "XACK {k} g 2-1 2-1", "XPENDING {k} g", "XACK {k} g 9-9", "XACK {k} g 1", "XACK {k} g 0-0",
            "XACK {k} nog 1-1", "XACK {k}missing g 1-1", "XACK {k}missing g x", "XACK {k} nog x", "XACK {k} g", "XACK {k}", "XREADGROUP GROUP g c1 STREAMS {k} 0", "DEL {k}",
        ])])),
        // all IDs are parsed first: one bad ID acks nothing
        case("xack_bad_id_acks_nothing", &steps(&[&lines(&SETUP3), &lines(&[
            "XREADGROUP GROUP g c STREAMS {k} >", "XACK {k} g 1-1 x", "XACK {k} g 1-1 -", "XACK {k} g 1-1 +", "XACK {k} g 1-1 (2-1", "XACK {k} g 1-1 2-1 3-1 4-1 5-1 6-1 7-1 8-1 9-1 bad", "XPENDING {k} g",
            "XACK {k} g 1-1 2-1 3-1 4-1 5-1 6-1 7-1 8-1 9-1 10-1", "XPENDING {k} g", "SET {k}s x", "XACK {k}s g 1-1", "XACK {k}s g x", "DEL {k} {k}s",
        ])])),
        // a PEL entry whose stream entry is gone can still be acked
        case("xack_deleted_entry", &steps(&[&lines(&SETUP3), &lines(&["XREADGROUP GROUP g c STREAMS {k} >", "XDEL {k} 2-1", "XTRIM {k} MAXLEN 0", "XPENDING {k} g", "XACK {k} g 1-1 2-1", "XPENDING {k} g", "XREADGROUP GROUP g c STREAMS {k} 0", "DEL {k}"])])),
        // ------------------------------------------------------------ XPENDING summary
        // empty: [0, nil, nil, nil]; per-consumer counts are bulk strings; consumers without pending entries are left out
        case("xpending_summary", &[
            "XADD {k} 1-1 a 1", "XADD {k} 2-1 b 2", "XADD {k} 3-1 c 3", "XADD {k} 4-1 d 4", "XGROUP CREATE {k} g 0", "XPENDING {k} g", "XGROUP CREATECONSUMER {k} g zed", "XPENDING {k} g",
            "XREADGROUP GROUP g bob COUNT 1 STREAMS {k} >", "XPENDING {k} g", "XREADGROUP GROUP g alice COUNT 2 STREAMS {k} >", "XREADGROUP GROUP g Bob STREAMS {k} >", "XPENDING {k} g", "XACK {k} g 1-1", "XPENDING {k} g",
            "XACK {k} g 2-1 3-1 4-1", "XPENDING {k} g", "xpending {k} g", "DEL {k}",
        ]),
        case("xpending_summary_many", &steps(&[
            &repeat(12, |i| format!("XADD {{k}} {i}-0 f {i}")), &lines(&["XGROUP CREATE {k} g 0"]), &repeat(12, |i| format!("XREADGROUP GROUP g c{} COUNT 1 STREAMS {{k}} >", i % 4)), &lines(&["XPENDING {k} g", "XINFO GROUPS {k}", "DEL {k}"]),
        ])),
        case("xpending_errors", &[
            "XPENDING {k} g", "XPENDING {k} g - + 10", "XPENDING {k} g IDLE 10 - + 10", "XPENDING {k} g - + x", "XADD {k} 1-1 a 1", "XPENDING {k} g", "XGROUP CREATE {k} g 0", "XPENDING {k} nog", "XPENDING {k} nog - + 10 c",
            "XPENDING {k} g -", "XPENDING {k} g - +", "XPENDING {k} g IDLE 10", "XPENDING {k} g IDLE 10 - +", "XPENDING {k} g IDLE 10 -", "XPENDING {k} g - + 10 c x y", "XPENDING {k} g IDLE 10 - + 10 c x",
            "XPENDING {k} g - + x", "XPENDING {k} g x + 10", "XPENDING {k} g - x 10", "XPENDING {k} g IDLE x - + 10", "XPENDING {k} g IDLE 1.5 - + 10", "XPENDING {k} g (18446744073709551615-18446744073709551615 + 10", "XPENDING {k} g - (0-0 10",
            "XPENDING {k} g ( + 10", "XPENDING {k} g (- + 10", "XPENDING {k} g - (+ 10", "XPENDING {k} nog x + 10", "XPENDING {k}missing g - + x", "XPENDING {k}", "XPENDING", "SET {k}s x", "XPENDING {k}s g", "XPENDING {k}s g - + 10", "XPENDING {k}s g - + x", "DEL {k} {k}s",
        ]),
        // an argument after the consumer is ignored when there is no IDLE (argc 8 passes the 6..=9 check)
        case("xpending_extra_argument_ignored", &steps(&[&lines(&SETUP3), &lines(&["XREADGROUP GROUP g c COUNT 2 STREAMS {k} >"]), &[xpending("XPENDING {k} g - + 10 c extra", 0, 5000), xpending("XPENDING {k} g - + 10 other extra", 0, 5000)], &lines(&["DEL {k}"])])),
    ];

    // ------------------------------------------------------------ XPENDING extended (idle masked)
    v.push(case("xpending_extended", &with_setup3(&steps(&[
        &lines(&["XADD {k} 4-1 d 4", "XADD {k} 5-1 e 5", "XREADGROUP GROUP g bob COUNT 2 STREAMS {k} >", "XREADGROUP GROUP g alice STREAMS {k} >", "XREADGROUP GROUP g bob STREAMS {k} 0"]),
        &[
            xpending("XPENDING {k} g - + 10", 0, 5000), xpending("XPENDING {k} g - + 2", 0, 5000), xpending("XPENDING {k} g - + 0", 0, 5000), xpending("XPENDING {k} g - + -3", 0, 5000), xpending("XPENDING {k} g - + 9223372036854775807", 0, 5000),
            xpending("XPENDING {k} g - + 10 alice", 0, 5000), xpending("XPENDING {k} g - + 10 bob", 0, 5000), xpending("XPENDING {k} g - + 1 alice", 0, 5000), xpending("XPENDING {k} g - + 10 nobody", 0, 5000),
            xpending("XPENDING {k} g 2-1 4-1 10", 0, 5000), xpending("XPENDING {k} g (2-1 (4-1 10", 0, 5000), xpending("XPENDING {k} g (1-1 + 10", 0, 5000), xpending("XPENDING {k} g - (5-1 10", 0, 5000), xpending("XPENDING {k} g 2 4 10", 0, 5000),
            xpending("XPENDING {k} g 4-1 2-1 10", 0, 5000), xpending("XPENDING {k} g (3-1 (3-1 10", 0, 5000), xpending("XPENDING {k} g 3-1 3-1 10", 0, 5000), xpending("XPENDING {k} g + - 10", 0, 5000), xpending("XPENDING {k} g 6 + 10", 0, 5000),
            xpending("XPENDING {k} g IDLE 0 - + 10", 0, 5000), xpending("XPENDING {k} g IDLE -5 - + 10", 0, 5000), xpending("XPENDING {k} g IDLE 100000000 - + 10", 0, 5000), xpending("XPENDING {k} g idle 100000000 - + 10 bob", 0, 5000),
            xpending("XPENDING {k} g IDLE 0 (1-1 + 2 bob", 0, 5000),
        ],
        &lines(&["DEL {k}"]),
    ]))));
    // IDLE filters on the time since the last delivery
    v.push(case("xpending_idle_filter", &with_setup3(&steps(&[
        &lines(&["XREADGROUP GROUP g c COUNT 2 STREAMS {k} >", "!sleep 400", "XREADGROUP GROUP g c STREAMS {k} >"]),
        &[xpending("XPENDING {k} g IDLE 300 - + 10", 300, 10_000), xpending("XPENDING {k} g IDLE 300 - + 1", 300, 10_000), xpending("XPENDING {k} g - + 10 c", 0, 10_000)],
        &lines(&["XREADGROUP GROUP g c STREAMS {k} 1-1"]),
        &[xpending("XPENDING {k} g IDLE 300 - + 10", 300, 10_000), xpending("XPENDING {k} g IDLE 300 - + 10 nobody", 0, 0)],
        &lines(&["DEL {k}"]),
    ]))));

    // ------------------------------------------------------------ XCLAIM
    v.extend([
        case("xclaim_basic", &with_setup3(&steps(&[
            &lines(&["XREADGROUP GROUP g c1 STREAMS {k} >", "XCLAIM {k} g c2 0 1-1", "XPENDING {k} g", "XCLAIM {k} g c2 0 2-1 3-1 9-9", "XPENDING {k} g", "XCLAIM {k} g c2 0 3-1", "XCLAIM {k} g c2 0 3-1 3-1"]),
            &[xpending("XPENDING {k} g - + 10", 0, 5000)],
            &lines(&["XREADGROUP GROUP g c2 STREAMS {k} 0", "XREADGROUP GROUP g c1 STREAMS {k} 0", "XINFO GROUPS {k}", "DEL {k}"]),
        ]))),
        // JUSTID: IDs only, delivery count unchanged; RETRYCOUNT sets it (negative = not given)
        case("xclaim_justid_retrycount", &with_setup3(&steps(&[
            &lines(&["XREADGROUP GROUP g c1 STREAMS {k} >", "XCLAIM {k} g c2 0 1-1 2-1 JUSTID", "XCLAIM {k} g c2 0 2-1 JUSTID JUSTID", "XCLAIM {k} g c2 0 3-1 RETRYCOUNT 7", "XCLAIM {k} g c1 0 1-1 RETRYCOUNT 0 JUSTID"]),
            &[xpending("XPENDING {k} g - + 10", 0, 5000)],
            &lines(&["XCLAIM {k} g c1 0 2-1 RETRYCOUNT -1", "XCLAIM {k} g c1 0 3-1 RETRYCOUNT -5 JUSTID", "XCLAIM {k} g c1 0 3-1 RETRYCOUNT 9223372036854775807 JUSTID"]),
            &[xpending("XPENDING {k} g - + 10", 0, 5000)],
            &lines(&["XPENDING {k} g", "DEL {k}"]),
        ]))),
        // IDLE / TIME set the last delivery time (bogus values mean now)
        case("xclaim_idle_time", &with_setup3(&steps(&[
            &lines(&["XREADGROUP GROUP g c1 STREAMS {k} >", "XCLAIM {k} g c2 0 1-1 IDLE 50000 JUSTID"]),
            &[xpending("XPENDING {k} g - + 1", 50_000, 60_000)],
            &lines(&["XCLAIM {k} g c2 0 2-1 TIME 1000 JUSTID"]),
            &[xpending("XPENDING {k} g 2-1 2-1 1", 1_000_000_000_000, 9_000_000_000_000)],
            &lines(&["XCLAIM {k} g c2 0 3-1 TIME 99999999999999 JUSTID", "XCLAIM {k} g c2 0 1-1 IDLE -5000 JUSTID"]),
            &[xpending("XPENDING {k} g 3-1 3-1 1", 0, 5000), xpending("XPENDING {k} g 1-1 1-1 1", 0, 5000)],
            &lines(&["XCLAIM {k} g c2 0 1-1 IDLE 10 TIME 2000 JUSTID", "XCLAIM {k} g c2 0 2-1 TIME 3000 IDLE 10 JUSTID", "XCLAIM {k} g c2 0 3-1 TIME -1 JUSTID"]),
            &[xpending("XPENDING {k} g 2-1 2-1 1", 0, 5000), xpending("XPENDING {k} g 3-1 3-1 1", 0, 5000)],
            &[full("XINFO STREAM {k} FULL")],
            &lines(&["DEL {k}"]),
        ]))),
        // min-idle-time: only entries idle at least that long are claimed
        case("xclaim_min_idle", &with_setup3(&steps(&[
            &lines(&["XREADGROUP GROUP g c1 COUNT 2 STREAMS {k} >", "XCLAIM {k} g c2 100000 1-1 2-1", "XCLAIM {k} g c2 100000 1-1 JUSTID", "XPENDING {k} g", "!sleep 400", "XREADGROUP GROUP g c1 STREAMS {k} >",
                "XCLAIM {k} g c2 300 1-1 2-1 3-1 JUSTID", "XPENDING {k} g", "XCLAIM {k} g c2 300 1-1 2-1 3-1 JUSTID", "XCLAIM {k} g c2 -5 3-1 JUSTID", "XCLAIM {k} g c1 0 1-1 IDLE 1000000 JUSTID", "XCLAIM {k} g c2 999999 1-1 2-1 3-1 JUSTID"]),
            &[xpending("XPENDING {k} g - + 10", 0, 2_000_000)],
            &lines(&["XPENDING {k} g", "DEL {k}"]),
        ]))),
        // FORCE creates the PEL entry (delivery count 1, then incremented unless JUSTID) if the stream entry exists
        case("xclaim_force", &steps(&[&lines(&[
            "XADD {k} 1-1 a 1", "XADD {k} 2-1 b 2", "XADD {k} 3-1 c 3", "XADD {k} 4-1 d 4", "XGROUP CREATE {k} g $", "XCLAIM {k} g c 0 1-1", "XPENDING {k} g", "XCLAIM {k} g c 0 1-1 FORCE", "XCLAIM {k} g c 0 2-1 FORCE JUSTID",
            "XCLAIM {k} g c 0 3-1 FORCE RETRYCOUNT 5 JUSTID", "XCLAIM {k} g c 0 9-9 FORCE", "XCLAIM {k} g d 100000 4-1 FORCE JUSTID", "XCLAIM {k} g d 100000 1-1 FORCE JUSTID", "XPENDING {k} g", "XINFO GROUPS {k}",
        ]), &[xpending("XPENDING {k} g - + 10", 0, 5000)], &lines(&["XREADGROUP GROUP g c STREAMS {k} 0", "DEL {k}"])])),
        // LASTID raises the group's last-delivered-id (never lowers it); entries-read is left alone
        case("xclaim_lastid", &with_setup3(&lines(&[
            "XGROUP CREATECONSUMER {k} g c", "XINFO GROUPS {k}", "XCLAIM {k} g c 0 9-9 LASTID 2-1", "XINFO GROUPS {k}", "XCLAIM {k} g c 0 9-9 LASTID 1-1", "XINFO GROUPS {k}", "XCLAIM {k} g c 0 9-9 LASTID 5", "XINFO GROUPS {k}", "XCLAIM {k} g c 0 LASTID 6-0",
            "XCLAIM {k} g c 0 1-1 LASTID x", "XCLAIM {k} g c 0 1-1 LASTID -", "XINFO GROUPS {k}", "XADD {k} 6-1 f 6", "XREADGROUP GROUP g c STREAMS {k} >", "XINFO GROUPS {k}", "DEL {k}",
        ]))),
        // PEL entries whose stream entry was deleted are dropped by XCLAIM and left out of the reply (regardless of min-idle)
        case("xclaim_deleted_entries", &with_setup3(&lines(&[
            "XREADGROUP GROUP g c1 STREAMS {k} >", "XDEL {k} 2-1", "XCLAIM {k} g c2 100000 2-1", "XPENDING {k} g", "XDEL {k} 3-1", "XCLAIM {k} g c2 0 1-1 3-1", "XPENDING {k} g", "XCLAIM {k} g c2 0 3-1 FORCE", "XCLAIM {k} g c2 0 1-1 2-1 3-1 JUSTID", "XPENDING {k} g",
            "XREADGROUP GROUP g c1 STREAMS {k} 0", "XREADGROUP GROUP g c2 STREAMS {k} 0", "DEL {k}",
        ]))),
        case("xclaim_errors", &with_setup3(&lines(&[
            "XREADGROUP GROUP g c1 STREAMS {k} >", "XCLAIM {k} nog c 0 1-1", "XCLAIM {k}missing g c 0 1-1", "XCLAIM {k} nog c x 1-1", "XCLAIM {k} g c x 1-1", "XCLAIM {k} g c 1.5 1-1", "XCLAIM {k} g c 0 1-1 FOO", "XCLAIM {k} g c 0 1-1 foo bar",
            "XCLAIM {k} g c 0 1-1 IDLE", "XCLAIM {k} g c 0 1-1 IDLE x", "XCLAIM {k} g c 0 1-1 TIME x", "XCLAIM {k} g c 0 1-1 RETRYCOUNT x", "XCLAIM {k} g c 0 1-1 RETRYCOUNT", "XCLAIM {k} g c 0 1-1 LASTID", "XCLAIM {k} g c 0 1-1 LASTID x",
            "XCLAIM {k} g c 0 x", "XCLAIM {k} g c 0 x 1-1", "XCLAIM {k} g c 0 1-1 x 2-1", "XCLAIM {k} g c 0 1-1 JUSTID 2-1", "XCLAIM {k} g c 0 +", "XCLAIM {k} g c 0 -", "XCLAIM {k} g c 0 (1-1", "XCLAIM {k} g c 0 1-1 FORCE FOO",
            "XCLAIM {k} g c 0", "XCLAIM {k} g c", "XPENDING {k} g", "SET {k}s x", "XCLAIM {k}s g c 0 1-1", "XCLAIM {k}s g c x 1-1", "DEL {k} {k}s",
        ]))),
        // ------------------------------------------------------------ XAUTOCLAIM
        case("xautoclaim_cursor", &steps(&[
            &repeat(7, |i| format!("XADD {{k}} {i}-1 f {i}")), &lines(&["XGROUP CREATE {k} g 0", "XREADGROUP GROUP g c1 STREAMS {k} >"]),
            &lines(&["XAUTOCLAIM {k} g c2 0 0 COUNT 3", "XAUTOCLAIM {k} g c2 0 4-1 COUNT 3", "XAUTOCLAIM {k} g c2 0 7-1 COUNT 3", "XAUTOCLAIM {k} g c2 0 7-1 COUNT 1", "XAUTOCLAIM {k} g c2 0 8-1", "XAUTOCLAIM {k} g c2 0 (5-1 COUNT 1", "XAUTOCLAIM {k} g c2 0 - COUNT 2 JUSTID",
                "XAUTOCLAIM {k} g c2 0 5 COUNT 1 JUSTID", "XAUTOCLAIM {k} g c2 0 + JUSTID", "XAUTOCLAIM {k} g c1 0 0", "XAUTOCLAIM {k} g c1 0 0 JUSTID JUSTID", "XAUTOCLAIM {k} g c3 0 0 COUNT 2 COUNT 100 JUSTID"]),
            &[xpending("XPENDING {k} g - + 10", 0, 5000)],
            &lines(&["XPENDING {k} g", "DEL {k}"]),
        ])),
        // deleted entries: dropped from the PEL, listed in the 3rd element, and they use up COUNT
        case("xautoclaim_deleted", &steps(&[
            &repeat(6, |i| format!("XADD {{k}} {i}-1 f {i}")), &lines(&["XGROUP CREATE {k} g 0", "XREADGROUP GROUP g c1 STREAMS {k} >", "XDEL {k} 2-1 3-1 5-1"]),
            &lines(&["XAUTOCLAIM {k} g c2 0 0 COUNT 1", "XAUTOCLAIM {k} g c2 0 0 COUNT 2", "XPENDING {k} g", "XAUTOCLAIM {k} g c2 0 0 COUNT 10 JUSTID", "XPENDING {k} g", "XAUTOCLAIM {k} g c2 0 0", "XTRIM {k} MAXLEN 0", "XAUTOCLAIM {k} g c2 100000 0", "XPENDING {k} g"]),
            &lines(&["XINFO GROUPS {k}", "DEL {k}"]),
        ])),
        // min-idle: idle-enough entries only; the scan stops after 10 * COUNT PEL entries and returns the next one as cursor
        case("xautoclaim_min_idle_attempts", &steps(&[
            &repeat(25, |i| format!("XADD {{k}} {i}-1 f {i}")), &lines(&["XGROUP CREATE {k} g 0", "XGROUP CREATECONSUMER {k} g c2", "XREADGROUP GROUP g c1 STREAMS {k} >"]),
            &lines(&["XAUTOCLAIM {k} g c2 100000 0 COUNT 1", "XAUTOCLAIM {k} g c2 100000 11-1 COUNT 1 JUSTID", "XAUTOCLAIM {k} g c2 100000 21-1 COUNT 1", "XAUTOCLAIM {k} g c2 100000 0 COUNT 2 JUSTID", "XAUTOCLAIM {k} g c2 100000 0 COUNT 3", "XPENDING {k} g"]),
            &lines(&["XDEL {k} 1-1 2-1", "XAUTOCLAIM {k} g c2 100000 0 COUNT 1", "XAUTOCLAIM {k} g c2 100000 0 COUNT 2", "XPENDING {k} g", "!sleep 400", "XREADGROUP GROUP g c1 COUNT 5 STREAMS {k} 10-1", "XAUTOCLAIM {k} g c2 300 9-1 COUNT 3 JUSTID", "XAUTOCLAIM {k} g c2 300 0 COUNT 2", "XAUTOCLAIM {k} g c2 -1 24-1 JUSTID"]),
            &[xpending("XPENDING {k} g 20-1 + 10", 0, 5000)],
            &lines(&["XPENDING {k} g", "DEL {k}"]),
        ])),
        // option errors come before NOGROUP; COUNT 0 / negative / above LONG_MAX/16 is "COUNT must be > 0"; COUNT = LONG_MAX/16 fails the allocation
        case("xautoclaim_errors", &with_setup3(&lines(&[
            "XREADGROUP GROUP g c1 STREAMS {k} >", "XAUTOCLAIM {k} g c 0 0 COUNT 0", "XAUTOCLAIM {k} g c 0 0 COUNT -1", "XAUTOCLAIM {k} g c 0 0 COUNT x", "XAUTOCLAIM {k} g c 0 0 COUNT 576460752303423488", "XAUTOCLAIM {k} g c 0 0 COUNT 9223372036854775807",
            "XAUTOCLAIM {k} g c 0 0 COUNT 576460752303423487", "XAUTOCLAIM {k}missing g c 0 0 COUNT 576460752303423487", "XAUTOCLAIM {k} g c 0 0 COUNT", "XAUTOCLAIM {k} g c 0 0 FOO", "XAUTOCLAIM {k} g c 0 0 JUSTID COUNT",
            "XAUTOCLAIM {k} g c x 0", "XAUTOCLAIM {k} g c 1.5 0", "XAUTOCLAIM {k} g c 0 x", "XAUTOCLAIM {k} g c 0 (18446744073709551615-18446744073709551615", "XAUTOCLAIM {k} g c 0 ( ", "XAUTOCLAIM {k} g c 0 (-",
            "XAUTOCLAIM {k} nog c 0 0", "XAUTOCLAIM {k}missing g c 0 0", "XAUTOCLAIM {k} nog c x 0", "XAUTOCLAIM {k} nog c 0 x", "XAUTOCLAIM {k} nog c 0 0 COUNT 0", "XAUTOCLAIM {k} nog c 0 0 FOO",
            "XAUTOCLAIM {k} g c 0", "XAUTOCLAIM {k} g", "XPENDING {k} g", "SET {k}s x", "XAUTOCLAIM {k}s g c 0 0", "XAUTOCLAIM {k}s g c x 0", "DEL {k} {k}s",
        ]))),
        // ------------------------------------------------------------ consumer creation (7.0.15: only when served / when something is claimed)
        case("xreadgroup_creation_70", &with_setup3(&lines(&[
            "XREADGROUP GROUP g c1 STREAMS {k} >", "XREADGROUP GROUP g c2 STREAMS {k} >", "XINFO GROUPS {k}", "XREADGROUP GROUP g c3 NOACK STREAMS {k} >", "XINFO GROUPS {k}", "XADD {k} 4-1 d 4", "XREADGROUP GROUP g c4 NOACK STREAMS {k} >", "XINFO GROUPS {k}", "XPENDING {k} g", "DEL {k}",
        ]))),
        case("xclaim_creation_70", &with_setup3(&lines(&[
            "XREADGROUP GROUP g c1 STREAMS {k} >", "XCLAIM {k} g c2 100000 1-1", "XCLAIM {k} g c3 0 9-9", "XCLAIM {k} g c4 0 9-9 FORCE", "XINFO GROUPS {k}", "XCLAIM {k} g c5 0 1-1 JUSTID", "XINFO GROUPS {k}", "XPENDING {k} g",
            "XAUTOCLAIM {k} g c6 100000 0", "XAUTOCLAIM {k} g c7 0 9-9", "XINFO GROUPS {k}", "XAUTOCLAIM {k} g c8 0 0 COUNT 1 JUSTID", "XINFO GROUPS {k}", "XDEL {k} 2-1", "XAUTOCLAIM {k} g c9 0 2-1 COUNT 1", "XINFO GROUPS {k}", "XPENDING {k} g", "DEL {k}",
        ]))),
        // ------------------------------------------------------------ XINFO GROUPS
        case("xinfo_groups", &[
            "XINFO GROUPS {k}", "XADD {k} 1-1 a 1", "XINFO GROUPS {k}", "XGROUP CREATE {k} g 0", "XINFO GROUPS {k}", "XINFO GROUPS {k} extra", "XINFO GROUPS", "XINFO groups {k}", "SET {k}s x", "XINFO GROUPS {k}s", "DEL {k} {k}s",
        ]),
        // lag is null when it cannot be computed: group ID in the middle or in the future with entries-read unknown, a tombstone after the group's ID
        case("xinfo_groups_null_lag", &[
            "XADD {k} 1-1 a 1", "XADD {k} 2-1 b 2", "XADD {k} 3-1 c 3", "XADD {k} 4-1 d 4", "XGROUP CREATE {k} mid 2-1", "XGROUP CREATE {k} future 9-9", "XGROUP CREATE {k} max 18446744073709551615-18446744073709551615", "XGROUP CREATE {k} start 0", "XGROUP CREATE {k} first 1-1",
            "XGROUP CREATE {k} last $", "XGROUP CREATE {k} known 2-1 ENTRIESREAD 2", "XINFO GROUPS {k}", "XDEL {k} 3-1", "XINFO GROUPS {k}", "XDEL {k} 1-1", "XINFO GROUPS {k}", "XDEL {k} 2-1 4-1", "XINFO GROUPS {k}", "XINFO STREAM {k}",
            "XADD {k} 5-1 e 5", "XINFO GROUPS {k}", "DEL {k}",
        ]),
        // an empty stream (entries-added 0): lag 0 whatever the group's ID
        case("xinfo_groups_empty_stream", &["XGROUP CREATE {k} g $ MKSTREAM", "XGROUP CREATE {k} f 9-9", "XGROUP CREATE {k} e 0 ENTRIESREAD 5", "XINFO GROUPS {k}", "XSETID {k} 3-3", "XINFO GROUPS {k}", "XSETID {k} 3-3 ENTRIESADDED 4 MAXDELETEDID 3-3", "XINFO GROUPS {k}", "DEL {k}"]),
        // ------------------------------------------------------------ XINFO CONSUMERS (idle masked; Sluice's `inactive` is checked by the *_72 cases)
        case("xinfo_consumers_errors", &["XINFO CONSUMERS {k} g", "XADD {k} 1-1 a 1", "XINFO CONSUMERS {k} g", "XINFO CONSUMERS {k}", "XINFO CONSUMERS {k} g extra", "XGROUP CREATE {k} g 0", "XINFO CONSUMERS {k} g", "XINFO CONSUMERS {k} G", "SET {k}s x", "XINFO CONSUMERS {k}s g", "DEL {k} {k}s"]),
        case("xinfo_consumers", &with_setup3(&steps(&[
            &lines(&["XGROUP CREATECONSUMER {k} g zed", "XREADGROUP GROUP g bob COUNT 2 STREAMS {k} >", "XREADGROUP GROUP g alice STREAMS {k} >", r#"XGROUP CREATECONSUMER {k} g """#, "XGROUP CREATECONSUMER {k} g Bob"]),
            &[consumers("XINFO CONSUMERS {k} g", 0, 5000)],
            &lines(&["XGROUP DELCONSUMER {k} g bob", "XACK {k} g 3-1"]),
            &[consumers("XINFO CONSUMERS {k} g", 0, 5000), consumers("xinfo consumers {k} g", 0, 5000)],
            &lines(&["DEL {k}"]),
        ]))),
        // idle grows while nothing happens (both versions agree here: only served reads / successful claims in between)
        case("xinfo_consumers_idle", &with_setup3(&steps(&[
            &lines(&["XGROUP CREATECONSUMER {k} g a", "XREADGROUP GROUP g b COUNT 1 STREAMS {k} >", "!sleep 400"]),
            &[consumers("XINFO CONSUMERS {k} g", 300, 10_000)],
            // neither XPENDING with a consumer, XACK, nor CREATECONSUMER / DELCONSUMER of others touch the idle time
            &lines(&["XGROUP CREATECONSUMER {k} g a", "XGROUP DELCONSUMER {k} g nobody", "XACK {k} g 9-9", "XPENDING {k} g"]),
            &[xpending("XPENDING {k} g - + 10 b", 300, 10_000), consumers("XINFO CONSUMERS {k} g", 300, 10_000)],
            &lines(&["XREADGROUP GROUP g a COUNT 1 STREAMS {k} >", "XCLAIM {k} g b 0 2-1 JUSTID"]),
            &[consumers("XINFO CONSUMERS {k} g", 0, 300)],
            &lines(&["DEL {k}"]),
        ]))),
        // ------------------------------------------------------------ XINFO STREAM FULL
        case("xinfo_full_no_consumers", &steps(&[
            &lines(&["XADD {k} 1-1 a 1", "XADD {k} 2-1 b 2", "XGROUP CREATE {k} g 0", "XGROUP CREATE {k} h $ ENTRIESREAD 2"]),
            &[full("XINFO STREAM {k} FULL"), full("XINFO STREAM {k} FULL COUNT 1"), full("XINFO STREAM {k} full count 0"), step("XDEL {k} 2-1"), full("XINFO STREAM {k} FULL"), step("DEL {k}")],
        ])),
        // delivery times set with XCLAIM TIME are compared exactly
        case("xinfo_full_one_group", &with_setup3(&steps(&[
            &lines(&["XGROUP CREATECONSUMER {k} g zed", "XREADGROUP GROUP g bob COUNT 2 STREAMS {k} >", "XREADGROUP GROUP g alice STREAMS {k} >", "XCLAIM {k} g bob 0 1-1 TIME 1000 RETRYCOUNT 4 JUSTID", "XCLAIM {k} g alice 0 2-1 TIME 2000 JUSTID", "XCLAIM {k} g alice 0 3-1 TIME 3000 JUSTID"]),
            &[full("XINFO STREAM {k} FULL"), full("XINFO STREAM {k} FULL COUNT 1"), full("XINFO STREAM {k} FULL COUNT 0"), full("XINFO STREAM {k} FULL COUNT -1")],
            &lines(&["XDEL {k} 2-1", "XGROUP CREATE {k} h 3-1", "XGROUP CREATECONSUMER {k} h x"]),
            &[full("XINFO STREAM {k} FULL")],
            &lines(&["XINFO STREAM {k} FULL COUNT", "XINFO STREAM {k} FULL COUNT x", "XINFO STREAM {k} FULL LIMIT 1", "XINFO STREAM {k} FULLY", "DEL {k}"]),
        ]))),
        // ------------------------------------------------------------ keyspace
        case("groups_die_with_the_key", &with_setup3(&lines(&[
            "XREADGROUP GROUP g c STREAMS {k} >", "DEL {k}", "XADD {k} 1-1 a 1", "XINFO GROUPS {k}", "XREADGROUP GROUP g c STREAMS {k} >", "XPENDING {k} g", "XACK {k} g 1-1", "XINFO STREAM {k}",
            "XGROUP CREATE {k} g 0", "SET {k} s", "XGROUP CREATE {k} g 0", "DEL {k}",
        ]))),
        case("groups_survive_rename", &with_setup3(&lines(&["XREADGROUP GROUP g c COUNT 2 STREAMS {k} >", "RENAME {k} {k}new", "XINFO GROUPS {k}new", "XPENDING {k}new g", "XREADGROUP GROUP g c STREAMS {k}new 0", "XREADGROUP GROUP g c STREAMS {k}new >", "DEL {k}new"]))),
        case("groups_survive_trimming", &with_setup3(&lines(&[
            "XREADGROUP GROUP g c COUNT 2 STREAMS {k} >", "XTRIM {k} MAXLEN 0", "XLEN {k}", "XINFO GROUPS {k}", "XPENDING {k} g", "XREADGROUP GROUP g c STREAMS {k} >", "XREADGROUP GROUP g c STREAMS {k} 0", "XADD {k} 4-1 d 4", "XREADGROUP GROUP g c STREAMS {k} >", "XINFO STREAM {k}", "DEL {k}",
        ]))),
        case("groups_in_multi", &[
            "MULTI", "XGROUP CREATE {k} g $ MKSTREAM", "XADD {k} 1-1 a 1", "XREADGROUP GROUP g c STREAMS {k} >", "XPENDING {k} g", "XACK {k} g 1-1", "XGROUP CREATE {k} g 0", "XGROUP DESTROY {k} g", "XINFO GROUPS {k}", "EXEC", "DEL {k}",
        ]),
        case("groups_watch", &[
            "XADD {k} 1-1 a 1", "XGROUP CREATE {k} g 0", "WATCH {k}", "@b XREADGROUP GROUP g c STREAMS {k} >", "MULTI", "PING", "EXEC", "WATCH {k}", "@b XACK {k} g 1-1", "MULTI", "PING", "EXEC",
            "WATCH {k}", "@b XGROUP CREATECONSUMER {k} g d", "MULTI", "PING", "EXEC", "WATCH {k}", "@b XGROUP SETID {k} g 0", "MULTI", "PING", "EXEC",
            "WATCH {k}", "@b XCLAIM {k} g d 0 1-1 FORCE JUSTID", "@b XAUTOCLAIM {k} g c 0 0", "@b XGROUP DELCONSUMER {k} g d", "MULTI", "PING", "EXEC", "WATCH {k}", "@b XGROUP CREATE {k} h $", "@b XGROUP DESTROY {k} g", "MULTI", "PING", "EXEC",
            "WATCH {k}new", "@b XGROUP CREATE {k}new g $ MKSTREAM", "MULTI", "PING", "EXEC", "WATCH {k}", "@b XDEL {k} 1-1", "MULTI", "PING", "EXEC", "DEL {k} {k}new",
        ]),
    ]);

    // ------------------------------------------------------------ Redis 7.2 fields on Sluice (deliberate differences)
    v.extend([
        // CREATECONSUMER: never active (inactive -1); idle counts from creation
        case("xinfo_consumers_created_72", &[
            step("XGROUP CREATE {k} g $ MKSTREAM"), step("XGROUP CREATECONSUMER {k} g c"), consumers_72("XINFO CONSUMERS {k} g", &[("c", 0, (0, 300), Active::Never)]),
            step("!sleep 400"), consumers_72("XINFO CONSUMERS {k} g", &[("c", 0, (300, 10_000), Active::Never)]), step("DEL {k}"),
        ]),
        // an XREADGROUP that finds nothing is an attempt (idle resets, still inactive); one that delivers is a success
        case("xinfo_consumers_read_72", &[
            step("XGROUP CREATE {k} g $ MKSTREAM"), step("XGROUP CREATECONSUMER {k} g c"), step("!sleep 400"), step("XREADGROUP GROUP g c STREAMS {k} >"), consumers_72("XINFO CONSUMERS {k} g", &[("c", 0, (0, 300), Active::Never)]),
            step("XADD {k} 1-1 a 1"), step("XREADGROUP GROUP g c STREAMS {k} >"), consumers_72("XINFO CONSUMERS {k} g", &[("c", 1, (0, 300), Active::Within(0, 300))]),
            step("!sleep 400"), step("XREADGROUP GROUP g c STREAMS {k} 0"), consumers_72("XINFO CONSUMERS {k} g", &[("c", 1, (0, 300), Active::Within(300, 10_000))]),
            step("XADD {k} 2-1 b 2"), step("XREADGROUP GROUP g c NOACK STREAMS {k} >"), consumers_72("XINFO CONSUMERS {k} g", &[("c", 1, (0, 300), Active::Within(300, 10_000))]), step("DEL {k}"),
        ]),
        // XCLAIM / XAUTOCLAIM / XREADGROUP that get nothing are attempts (idle resets, inactive does not);
        // the consumers are created first: which calls create consumers is compared with 7.0.15 by the *_creation_70 cases
        case("xinfo_consumers_claim_72", &[
            step("XADD {k} 1-1 a 1"), step("XGROUP CREATE {k} g 0"), step("XREADGROUP GROUP g owner STREAMS {k} >"), step("XGROUP CREATECONSUMER {k} g idle1"), step("XGROUP CREATECONSUMER {k} g idle2"), step("XGROUP CREATECONSUMER {k} g idle3"), step("XCLAIM {k} g idle1 100000 1-1"), step("XAUTOCLAIM {k} g idle2 100000 0"), step("XREADGROUP GROUP g idle3 STREAMS {k} >"),
            consumers_72("XINFO CONSUMERS {k} g", &[("idle1", 0, (0, 300), Active::Never), ("idle2", 0, (0, 300), Active::Never), ("idle3", 0, (0, 300), Active::Never), ("owner", 1, (0, 300), Active::Within(0, 300))]),
            step("!sleep 400"), step("XCLAIM {k} g idle1 0 1-1 JUSTID"), step("XAUTOCLAIM {k} g owner 100000 0"),
            consumers_72("XINFO CONSUMERS {k} g", &[("idle1", 1, (0, 300), Active::Within(0, 300)), ("idle2", 0, (300, 10_000), Active::Never), ("idle3", 0, (300, 10_000), Active::Never), ("owner", 0, (0, 300), Active::Within(300, 10_000))]),
            step("DEL {k}"),
        ]),
        case("xinfo_full_consumers_72", &[
            step("XADD {k} 1-1 a 1"), step("XGROUP CREATE {k} g 0"), step("XGROUP CREATECONSUMER {k} g a"), step("XREADGROUP GROUP g b STREAMS {k} >"), full_72("XINFO STREAM {k} FULL", &[("a", false), ("b", true)]),
            step("XREADGROUP GROUP g a STREAMS {k} >"), full_72("XINFO STREAM {k} FULL", &[("a", false), ("b", true)]), step("XCLAIM {k} g a 0 1-1 JUSTID"), full_72("XINFO STREAM {k} FULL COUNT 1", &[("a", true), ("b", true)]), step("DEL {k}"),
        ]),
    ]);
    v
}

fn main() {
    run(cases());
}
