//! Idempotent producers (Redis 8.6): XADD `IDMP pid iid` / `IDMPAUTO pid`, XCFGSET, the IDMP
//! fields of XINFO STREAM and the `stream-idmp-duration` / `stream-idmp-maxsize` configs.
//!
//! Redis 7.0.15 has none of this, so every step that uses them is a deliberate difference
//! ([`sluice_only`] / [`sluice_check`]), checked against Redis 8.6's own tests
//! (`tests/unit/type/stream.tcl`: error texts, checking order, counters, XCFGSET clearing),
//! not against the reference server. Steps without the new options are still compared with
//! 7.0.15 byte for byte — in particular XINFO STREAM of a stream that never used IDMP.
//!
//! IDs: IDMP works only with `*`, so each case first adds `9999999999999-0` (far in the
//! future): every `*` after it is `9999999999999-<n>`, the same on every run.
//!
//! Deliberate difference from Redis 8.6: Redis shows the six IDMP fields in XINFO STREAM of
//! every stream; Sluice only for a stream that used IDMP or XCFGSET (others answer as 7.0.15).

use redis_compat_tests::*;

const WHY: &str = "Redis 8.6 idempotent producers (checked against Redis's stream.tcl, not 7.0.15)";
const SEED: &str = "XADD {k} 9999999999999-0 f v";

fn bulk(s: &str) -> String {
    format!("${}\r\n{s}\r\n", s.len())
}

fn id(n: u64) -> Vec<u8> {
    bulk(&format!("9999999999999-{n}")).into_bytes()
}

/// `only(line, bytes)`: a Sluice-only step with the common reason.
fn only(line: &str, bytes: &[u8]) -> Step {
    sluice_only(line, bytes, WHY)
}

fn err(line: &str, text: &str) -> Step {
    sluice_only(line, format!("-{text}\r\n").as_bytes(), WHY)
}

/// A value in an expected XINFO STREAM reply.
enum V {
    I(i64),
    B(&'static str),
    /// An entry `[id, [field, value, ...]]`.
    E(&'static str, &'static [&'static str]),
}

fn record(resp3: bool, fields: &[(&str, V)]) -> Vec<u8> {
    let mut s = if resp3 {
        format!("%{}\r\n", fields.len())
    } else {
        format!("*{}\r\n", fields.len() * 2)
    };
    for (k, v) in fields {
        s.push_str(&bulk(k));
        match v {
            V::I(n) => s.push_str(&format!(":{n}\r\n")),
            V::B(b) => s.push_str(&bulk(b)),
            V::E(id, fv) => {
                s.push_str("*2\r\n");
                s.push_str(&bulk(id));
                s.push_str(&format!("*{}\r\n", fv.len()));
                for x in *fv {
                    s.push_str(&bulk(x));
                }
            }
        }
    }
    s.into_bytes()
}

/// XINFO STREAM after [`xinfo_steps`].
fn xinfo_expected(resp3: bool) -> Vec<u8> {
    record(
        resp3,
        &[
            ("length", V::I(3)),
            ("radix-tree-keys", V::I(1)),
            ("radix-tree-nodes", V::I(2)),
            ("last-generated-id", V::B("9999999999999-2")),
            ("max-deleted-entry-id", V::B("0-0")),
            ("entries-added", V::I(3)),
            ("recorded-first-entry-id", V::B("9999999999999-0")),
            ("idmp-duration", V::I(100)),
            ("idmp-maxsize", V::I(100)),
            ("pids-tracked", V::I(2)),
            ("iids-tracked", V::I(2)),
            ("iids-added", V::I(2)),
            ("iids-duplicates", V::I(1)),
            ("groups", V::I(0)),
            ("first-entry", V::E("9999999999999-0", &["f", "v"])),
            ("last-entry", V::E("9999999999999-2", &["a", "1"])),
        ],
    )
}

fn xinfo_steps(resp3: bool) -> Vec<Step> {
    vec![
        step(SEED),
        only("XADD {k} IDMP p1 r1 * a 1", &id(1)),
        only("XADD {k} IDMP p1 r1 * a 2", &id(1)),
        only("XADD {k} IDMPAUTO p2 * a 1", &id(2)),
        only("XINFO STREAM {k}", &xinfo_expected(resp3)),
    ]
}

/// The fields of a record (RESP3 map or RESP2 flat array), as (name, value).
fn fields(f: &Frame) -> Result<Vec<(String, Frame)>, String> {
    let pairs: Vec<(Frame, Frame)> = match f {
        Frame::Map(m) => m.clone(),
        Frame::Array(v) if v.len() % 2 == 0 => {
            v.chunks(2).map(|c| (c[0].clone(), c[1].clone())).collect()
        }
        other => return Err(format!("expected a record, got {other}")),
    };
    pairs
        .into_iter()
        .map(|(k, v)| match k {
            Frame::Bulk(b) => Ok((String::from_utf8_lossy(&b).into_owned(), v)),
            other => Err(format!("field name {other}")),
        })
        .collect()
}

/// XINFO STREAM [FULL]: the field names in order, and the IDMP values.
fn info_check(full: bool, idmp: [i64; 6]) -> impl Fn(&Frame) -> Result<(), String> {
    move |f| {
        let fs = fields(f)?;
        let names: Vec<&str> = fs.iter().map(|(k, _)| k.as_str()).collect();
        let mut want = vec![
            "length",
            "radix-tree-keys",
            "radix-tree-nodes",
            "last-generated-id",
            "max-deleted-entry-id",
            "entries-added",
            "recorded-first-entry-id",
            "idmp-duration",
            "idmp-maxsize",
            "pids-tracked",
            "iids-tracked",
            "iids-added",
            "iids-duplicates",
        ];
        if full {
            want.extend(["entries", "groups"]);
        } else {
            want.extend(["groups", "first-entry", "last-entry"]);
        }
        if names != want {
            return Err(format!("fields {names:?}, expected {want:?}"));
        }
        let got: Vec<Frame> = fs[7..13].iter().map(|(_, v)| v.clone()).collect();
        let exp: Vec<Frame> = idmp.iter().map(|n| Frame::Integer(*n)).collect();
        if got != exp {
            return Err(format!("IDMP values {got:?}, expected {exp:?}"));
        }
        Ok(())
    }
}

fn info(line: &str, full: bool, idmp: [i64; 6]) -> Step {
    sluice_check(line, WHY, info_check(full, idmp))
}

fn is_null(f: &Frame) -> Result<(), String> {
    match f {
        Frame::NullBulk | Frame::Null => Ok(()),
        other => Err(format!("expected a null, got {other}")),
    }
}

/// COMMAND INFO of the new commands: name and arity.
fn command_info(f: &Frame) -> Result<(), String> {
    let Frame::Array(list) = f else {
        return Err(format!("expected an array, got {f}"));
    };
    let want = [("xcfgset", -2), ("xidmprecord", 5)];
    if list.len() != want.len() {
        return Err(format!("{} commands, expected {}", list.len(), want.len()));
    }
    for (c, (name, arity)) in list.iter().zip(want) {
        let Frame::Array(fs) = c else {
            return Err(format!("{name}: expected an array, got {c}"));
        };
        if fs.first() != Some(&Frame::Bulk(name.as_bytes().to_vec()))
            || fs.get(1) != Some(&Frame::Integer(arity))
        {
            return Err(format!("{name}: got {c}"));
        }
    }
    Ok(())
}

#[rustfmt::skip]
fn cases() -> Vec<Case> {
    vec![
        // A duplicate answers the original ID and adds nothing; the original fields stay.
        case("idmp_duplicate_returns_original", &[
            step(SEED),
            only("XADD {k} IDMP p1 payment-abc * amount 100 currency USD", &id(1)),
            only("XADD {k} IDMP p1 payment-abc * amount 200 currency EUR", &id(1)),
            only("XLEN {k}", b":2\r\n"),
            only("XRANGE {k} 9999999999999-1 +", b"*1\r\n*2\r\n$15\r\n9999999999999-1\r\n*4\r\n$6\r\namount\r\n$3\r\n100\r\n$8\r\ncurrency\r\n$3\r\nUSD\r\n"),
            // Another iid, another producer with the same iid: new entries.
            only("XADD {k} IDMP p1 payment-def * amount 1", &id(2)),
            only("XADD {k} IDMP p2 payment-abc * amount 1", &id(3)),
            only("XADD {k} IDMP p2 payment-abc * amount 9", &id(3)),
            // Binary-safe and odd-looking iids.
            only("XADD {k} IDMP p1 '\\x00\\x01\\xff' * f v", &id(4)),
            only("XADD {k} IDMP p1 '\\x00\\x01\\xff' * f w", &id(4)),
            only("XADD {k} IDMP p1 123-456 * f v", &id(5)),
            only("XADD {k} IDMP p1 IDMP * f v", &id(6)),
            only("XLEN {k}", b":7\r\n"),
        ]),
        // IDMPAUTO: the iid is a digest of the field/value pairs, in any order.
        case("idmpauto_content_digest", &[
            step(SEED),
            only("XADD {k} IDMPAUTO p1 * field1 a field2 b field3 c", &id(1)),
            only("XADD {k} IDMPAUTO p1 * field2 b field3 c field1 a", &id(1)),
            only("XADD {k} IDMPAUTO p1 * field3 c field1 x field2 b", &id(2)),
            only("XADD {k} IDMPAUTO p1 * field1 value", &id(3)),
            only("XADD {k} IDMPAUTO p1 * field2 value", &id(4)),
            only("XADD {k} IDMPAUTO p1 * field ''", &id(5)),
            only("XADD {k} IDMPAUTO p1 * field ''", &id(5)),
            // Another producer, same content: a new entry.
            only("XADD {k} IDMPAUTO p2 * field1 value", &id(6)),
            // IDMP and IDMPAUTO mixed on one producer.
            only("XADD {k} IDMP p3 x * f v", &id(7)),
            only("XADD {k} IDMPAUTO p3 * f v", &id(8)),
            only("XADD {k} IDMP p3 x * g w", &id(7)),
            only("XLEN {k}", b":9\r\n"),
        ]),
        // With the other options, in any order; a duplicate does not trim.
        case("idmp_with_other_options", &[
            step(SEED),
            only("XADD {k} IDMP p1 req-1 MAXLEN ~ 100 * field value1", &id(1)),
            only("XADD {k} MAXLEN ~ 100 IDMP p1 req-2 * field value2", &id(2)),
            only("XADD {k} NOMKSTREAM IDMP p1 req-3 MAXLEN ~ 100 * field value3", &id(3)),
            only("XADD {k} IDMP p1 req-1 MAXLEN = 1 * field dup", &id(1)),
            only("XLEN {k}", b":4\r\n"),
            only("XADD {k} IDMPAUTO p1 MAXLEN 2 * field new", &id(4)),
            only("XLEN {k}", b":2\r\n"),
            // The window outlives the trimmed entry: the duplicate still answers its ID.
            only("XADD {k} IDMP p1 req-1 * field again", &id(1)),
            sluice_check("XADD {k}missing NOMKSTREAM IDMP p1 req-1 * f v", WHY, is_null),
            sluice_check("XADD {k}missing NOMKSTREAM IDMPAUTO p1 * f v", WHY, is_null),
            step("EXISTS {k}missing"),
        ]),
        // Parsing errors, in Redis's order.
        case("idmp_xadd_errors", &[
            step(SEED),
            err("XADD {k} IDMP p1 * f v", "ERR Invalid stream ID specified as stream command argument"),
            err("XADD {k} IDMP p1 iid1 1-1 f v", "ERR IDMP/IDMPAUTO can be used only with auto-generated IDs"),
            err("XADD {k} IDMPAUTO p1 1-1 f v", "ERR IDMP/IDMPAUTO can be used only with auto-generated IDs"),
            err("XADD {k} IDMP p1 iid1 IDMP p2 iid2 * f v", "ERR IDMP/IDMPAUTO specified multiple times"),
            err("XADD {k} IDMPAUTO p1 IDMP p2 iid2 * f v", "ERR IDMP/IDMPAUTO specified multiple times"),
            err("XADD {k} IDMP p1 iid1 IDMPAUTO p2 * f v", "ERR IDMP/IDMPAUTO specified multiple times"),
            err("XADD {k} IDMPAUTO p1 IDMPAUTO p2 * f v", "ERR IDMP/IDMPAUTO specified multiple times"),
            err("XADD {k} IDMP '' iid1 * f v", "ERR IDMP requires a non-empty producer ID"),
            err("XADD {k} IDMP p1 '' * f v", "ERR IDMP requires a non-empty idempotent ID"),
            err("XADD {k} IDMPAUTO '' * f v", "ERR IDMPAUTO requires a non-empty producer ID"),
            err("XADD {k} IDMP p1 iid1 * f", "ERR wrong number of arguments for 'xadd' command"),
            step("XLEN {k}"),
            step("XINFO STREAM {k}"),
        ]),
        // XINFO STREAM: the six IDMP fields after recorded-first-entry-id, exact bytes.
        case("idmp_xinfo_stream", &xinfo_steps(false)).resp2_only(),
        case("idmp_xinfo_stream3", &xinfo_steps(true)).resp3_only(),
        // Counters: iids-added and iids-duplicates are lifetime counters; maxsize evicts the
        // oldest iids of a producer; FULL has the same fields.
        case("idmp_counters_and_maxsize", &[
            step(SEED),
            only("XADD {k} IDMP p1 init * field init", &id(1)),
            only("XCFGSET {k} IDMP-MAXSIZE 3 IDMP-DURATION 60", b"+OK\r\n"),
            info("XINFO STREAM {k}", false, [60, 3, 0, 0, 1, 0]),
            only("XADD {k} IDMP p1 req-1 * field v1", &id(2)),
            only("XADD {k} IDMP p1 req-1 * field dup", &id(2)),
            only("XADD {k} IDMP p1 req-2 * field v2", &id(3)),
            only("XADD {k} IDMP p1 req-3 * field v3", &id(4)),
            only("XADD {k} IDMP p1 req-4 * field v4", &id(5)),
            // req-1 was pushed out by req-4.
            only("XADD {k} IDMP p1 req-1 * field new", &id(6)),
            only("XADD {k} IDMP p1 req-3 * field dup", &id(4)),
            only("XADD {k} IDMP p2 req-1 * field p2", &id(7)),
            info("XINFO STREAM {k}", false, [60, 3, 2, 4, 7, 2]),
            info("XINFO STREAM {k} FULL", true, [60, 3, 2, 4, 7, 2]),
        ]),
        // XCFGSET: same values keep the window, a change clears it (counters stay).
        case("idmp_xcfgset_clears", &[
            step(SEED),
            only("XADD {k} IDMP p1 req-1 * field value1", &id(1)),
            only("XCFGSET {k} IDMP-DURATION 100 IDMP-MAXSIZE 100", b"+OK\r\n"),
            only("XCFGSET {k} IDMP-DURATION 100", b"+OK\r\n"),
            only("XADD {k} IDMP p1 req-1 * field dup", &id(1)),
            info("XINFO STREAM {k}", false, [100, 100, 1, 1, 1, 1]),
            only("xcfgset {k} idmp-duration 50", b"+OK\r\n"),
            info("XINFO STREAM {k}", false, [50, 100, 0, 0, 1, 1]),
            only("XADD {k} IDMP p1 req-1 * field new", &id(2)),
            only("XADD {k} IDMP p1 req-1 * field dup", &id(2)),
            only("XCFGSET {k} IDMP-MAXSIZE 5000", b"+OK\r\n"),
            only("XADD {k} IDMP p1 req-1 * field newer", &id(3)),
            info("XINFO STREAM {k}", false, [50, 5000, 1, 1, 3, 2]),
            only("XLEN {k}", b":4\r\n"),
        ]),
        // XCFGSET on a stream that never used IDMP gives it a window (and the fields).
        case("idmp_xcfgset_plain_stream", &[
            step(SEED),
            step("XINFO STREAM {k}"),
            only("XCFGSET {k} IDMP-DURATION 5", b"+OK\r\n"),
            info("XINFO STREAM {k}", false, [5, 100, 0, 0, 0, 0]),
            only("XCFGSET {k} IDMP-DURATION 86400 IDMP-MAXSIZE 10000", b"+OK\r\n"),
            only("XCFGSET {k} IDMP-DURATION 1 IDMP-MAXSIZE 1", b"+OK\r\n"),
            info("XINFO STREAM {k}", false, [1, 1, 0, 0, 0, 0]),
        ]),
        case("idmp_xcfgset_errors", &[
            step(SEED),
            err("XCFGSET {k}missing IDMP-DURATION 5", "ERR no such key"),
            step("SET {k}str x"),
            err("XCFGSET {k}str IDMP-DURATION 5", "WRONGTYPE Operation against a key holding the wrong kind of value"),
            err("XCFGSET", "ERR wrong number of arguments for 'xcfgset' command"),
            err("XCFGSET {k}", "ERR At least one parameter must be specified"),
            err("XCFGSET {k} IDMP-DURATION", "ERR syntax error"),
            err("XCFGSET {k} IDMP-MAXSIZE", "ERR syntax error"),
            err("XCFGSET {k} INVALID", "ERR syntax error"),
            err("XCFGSET {k} DURATION 100", "ERR syntax error"),
            err("XCFGSET {k} IDMP-DURATION A", "ERR value is not an integer or out of range"),
            err("XCFGSET {k} IDMP-DURATION 3.14", "ERR value is not an integer or out of range"),
            err("XCFGSET {k} IDMP-DURATION 120-5", "ERR value is not an integer or out of range"),
            err("XCFGSET {k} IDMP-DURATION 000000000", "ERR value is not an integer or out of range"),
            err("XCFGSET {k} IDMP-DURATION INVALID IDMP-MAXSIZE", "ERR value is not an integer or out of range"),
            err("XCFGSET {k} IDMP-MAXSIZE INVALID IDMP-DURATION", "ERR value is not an integer or out of range"),
            err("XCFGSET {k} IDMP-DURATION 0", "ERR IDMP-DURATION must be between 1 and 86400 seconds"),
            err("XCFGSET {k} IDMP-DURATION -100", "ERR IDMP-DURATION must be between 1 and 86400 seconds"),
            err("XCFGSET {k} IDMP-DURATION 86401", "ERR IDMP-DURATION must be between 1 and 86400 seconds"),
            err("XCFGSET {k} IDMP-MAXSIZE 0", "ERR IDMP-MAXSIZE must be between 1 and 10000 entries"),
            err("XCFGSET {k} IDMP-MAXSIZE 10001", "ERR IDMP-MAXSIZE must be between 1 and 10000 entries"),
            // Nothing changed: the stream still has no window.
            step("XINFO STREAM {k}"),
        ]),
        // The window goes with the stream: DEL drops it, RENAME moves it.
        case("idmp_del_and_rename", &[
            step(SEED),
            only("XADD {k} IDMP p1 r1 * f v", &id(1)),
            step("RENAME {k} {k}b"),
            only("XADD {k}b IDMP p1 r1 * f w", &id(1)),
            info("XINFO STREAM {k}b", false, [100, 100, 1, 1, 1, 1]),
            step("DEL {k}b"),
            step("XADD {k}b 9999999999999-0 f v"),
            step("XINFO STREAM {k}b"),
            only("XADD {k}b IDMP p1 r1 * f w", &id(1)),
            info("XINFO STREAM {k}b", false, [100, 100, 1, 1, 1, 0]),
        ]),
        // Inside MULTI/EXEC the window sees the transaction's own earlier adds.
        case("idmp_in_transaction", &[
            step(SEED),
            step("MULTI"),
            only("XADD {k} IDMP p1 req-1 * field value1", b"+QUEUED\r\n"),
            only("XADD {k} IDMP p1 req-2 * field value2", b"+QUEUED\r\n"),
            only("XADD {k} IDMP p1 req-1 * field value3", b"+QUEUED\r\n"),
            only("EXEC", &[b"*3\r\n".to_vec(), id(1), id(2), id(1)].concat()),
            only("XLEN {k}", b":3\r\n"),
        ]),
        // XIDMPRECORD (internal, 8.6.2/8.8): records a pair for an existing entry.
        case("idmp_xidmprecord", &[
            step(SEED),
            step("XADD {k} 9999999999999-5 f w"),
            only("XIDMPRECORD {k} p1 r1 9999999999999-5", b"+OK\r\n"),
            only("XIDMPRECORD {k} p1 r1 9999999999999-5", b"+OK\r\n"),
            err("XIDMPRECORD {k} p1 r1 9999999999999-0", "ERR The specified IDMP producer-id/idempotent-id pair maps to a different stream ID"),
            err("XIDMPRECORD {k} p1 r2 9999999999999-3", "ERR The specified stream ID was deleted or doesn't exist"),
            err("XIDMPRECORD {k}missing p1 r2 1-0", "ERR no such key"),
            err("XIDMPRECORD {k} '' r2 9999999999999-0", "ERR IDMP requires a non-empty producer ID"),
            err("XIDMPRECORD {k} p1 '' 9999999999999-0", "ERR IDMP requires a non-empty idempotent ID"),
            err("XIDMPRECORD {k} p1 r2 bad", "ERR Invalid stream ID specified as stream command argument"),
            err("XIDMPRECORD {k} p1 r2", "ERR wrong number of arguments for 'xidmprecord' command"),
            only("XADD {k} IDMP p1 r1 * f v", &id(5)),
            info("XINFO STREAM {k}", false, [100, 100, 1, 1, 1, 1]),
        ]),
        case("idmp_command_info", &[sluice_check("COMMAND INFO xcfgset xidmprecord", WHY, command_info)]),
        // The server defaults a new window starts with.
        case("idmp_config_defaults", &[
            only("CONFIG SET stream-idmp-duration 86401", b"-ERR CONFIG SET failed (possibly related to argument 'stream-idmp-duration') - argument must be between 1 and 86400 inclusive\r\n"),
            only("CONFIG SET stream-idmp-maxsize 0", b"-ERR CONFIG SET failed (possibly related to argument 'stream-idmp-maxsize') - argument must be between 1 and 10000 inclusive\r\n"),
            only("CONFIG SET stream-idmp-duration 7", b"+OK\r\n"),
            only("CONFIG SET stream-idmp-maxsize 10000", b"+OK\r\n"),
            step(SEED),
            only("XADD {k} IDMP p1 r1 * f v", &id(1)),
            info("XINFO STREAM {k}", false, [7, 10000, 1, 1, 1, 0]),
            only("CONFIG SET stream-idmp-duration 100", b"+OK\r\n"),
            only("CONFIG SET stream-idmp-maxsize 100", b"+OK\r\n"),
        ]).resp2_only().exclusive(),
        case("idmp_config_get", &[
            only("CONFIG GET stream-idmp-duration", b"*2\r\n$20\r\nstream-idmp-duration\r\n$3\r\n100\r\n"),
            only("CONFIG GET stream-idmp-maxsize", b"*2\r\n$19\r\nstream-idmp-maxsize\r\n$3\r\n100\r\n"),
        ]).resp2_only().exclusive(),
        case("idmp_config_get3", &[
            only("CONFIG GET stream-idmp-duration", b"%1\r\n$20\r\nstream-idmp-duration\r\n$3\r\n100\r\n"),
        ]).resp3_only().exclusive(),
    ]
}

fn main() {
    run(cases())
}
