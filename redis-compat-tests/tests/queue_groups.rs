//! Consumer groups as job queues (`XQ.*`, a Sluice extension that Redis 7.0.15 does not have):
//! what must stay byte-identical to Redis, and the extension's own replies.
//!
//! * A group configured with `XQ.CONFIG` answers XREADGROUP (`>` and history), XACK, XPENDING
//!   and XCLAIM exactly as Redis does while none of its entries is past its deadline.
//! * A plain group next to a queue group (same server, another stream) is untouched: XINFO
//!   GROUPS, XINFO STREAM, XPENDING identical.
//! * The `XQ.*` replies are checked on Sluice alone (Redis answers them with an unknown-command
//!   error); XINFO GROUPS of a queue group has Redis's six fields first, then Sluice's eleven.

use redis_compat_tests::*;

/// The fields of a record: a RESP3 map or a RESP2 flat name/value array.
fn names(f: &Frame) -> Result<Vec<Vec<u8>>, String> {
    let name = |f: &Frame| match f {
        Frame::Bulk(b) => Ok(b.clone()),
        other => Err(format!("field name {other}")),
    };
    match f {
        Frame::Map(m) => m.iter().map(|(k, _)| name(k)).collect(),
        Frame::Array(v) if v.len() % 2 == 0 => v.chunks(2).map(|c| name(&c[0])).collect(),
        other => Err(format!("expected a record, got {other}")),
    }
}

const REASON: &str = "XQ.* is a Sluice extension";

#[rustfmt::skip]
fn cases() -> Vec<Case> {
    vec![
        case("queue_group_keeps_redis_replies_until_a_deadline_passes", &[
            step("XADD {k} 1-1 a 1"), step("XADD {k} 2-1 b 2"), step("XADD {k} 3-1 c 3"), step("XGROUP CREATE {k} g 0"), step("XGROUP CREATECONSUMER {k} g c"), step("XGROUP CREATECONSUMER {k} g d"),
            sluice_only("XQ.CONFIG {k} g VISIBILITY 3600000 MAXDELIVER 5 DEADLETTER {k}dead", b"+OK\r\n", REASON),
            step("XREADGROUP GROUP g c COUNT 1 STREAMS {k} >"), step("XREADGROUP GROUP g c STREAMS {k} >"), step("XREADGROUP GROUP g c STREAMS {k} >"),
            step("XACK {k} g 1-1"), step("XREADGROUP GROUP g c STREAMS {k} 0"), step("XPENDING {k} g"), step("XCLAIM {k} g d 0 2-1 JUSTID"), step("XPENDING {k} g"),
            step("XREADGROUP GROUP g d COUNT 5 STREAMS {k} >"), step("XACK {k} g 2-1 3-1 9-9"), step("XPENDING {k} g"), step("EXISTS {k}dead"), step("DEL {k}"),
        ]),
        case("plain_group_next_to_a_queue_group_is_untouched", &[
            step("XADD {k}q 1-1 a 1"), step("XGROUP CREATE {k}q g 0"), sluice_only("XQ.CONFIG {k}q g VISIBILITY 1", b"+OK\r\n", REASON),
            step("XADD {k} 1-1 a 1"), step("XADD {k} 2-1 b 2"), step("XGROUP CREATE {k} g 0"), step("XGROUP CREATE {k} h $"),
            step("XREADGROUP GROUP g c STREAMS {k} >"), step("XINFO GROUPS {k}"), step("XINFO STREAM {k}"), step("XPENDING {k} g"), step("XACK {k} g 1-1"), step("XINFO GROUPS {k}"), step("DEL {k} {k}q"),
        ]),
        case("xq_replies", &[
            step("XADD {k} 1-1 a 1"), step("XGROUP CREATE {k} g 0"), step("XGROUP CREATECONSUMER {k} g c"),
            sluice_check("XQ.CONFIG {k} g", REASON, |f| {
                (names(f)? == [b"visibility-ms".to_vec(), b"max-deliver".to_vec(), b"dead-letter".to_vec()]).then_some(()).ok_or(format!("settings {f}"))
            }),
            sluice_only("XQ.CONFIG {k} g VISIBILITY 60000", b"+OK\r\n", REASON),
            step("XREADGROUP GROUP g c STREAMS {k} >"),
            sluice_only("XQ.RENEW {k} g c 1-1", b":1\r\n", REASON), sluice_only("XQ.RENEW {k} g other 1-1", b":0\r\n", REASON), sluice_only("XQ.RENEW {k} g c 1-1 7-7", b":1\r\n", REASON),
            sluice_check("XINFO GROUPS {k}", REASON, |f| {
                let Frame::Array(groups) = f else { return Err(format!("{f}")) };
                let n = names(&groups[0])?;
                let want: Vec<&[u8]> = vec![b"name", b"consumers", b"pending", b"last-delivered-id", b"entries-read", b"lag", b"visibility-ms", b"max-deliver", b"dead-letter", b"ready", b"oldest-pending-age-ms", b"deliveries", b"redeliveries", b"acks", b"dead-lettered", b"renewals", b"nacks"];
                (n == want).then_some(()).ok_or(format!("fields {f}"))
            }),
            sluice_only("XQ.NACK {k} g c 0 1-1", b":1\r\n", REASON),
            sluice_only("XQ.NACK {k} g c 0 1-1 zz", b"-ERR Invalid stream ID specified as stream command argument\r\n", REASON),
            sluice_only("XQ.CONFIG {k} g MAXDELIVER 3", b"-ERR MAXDELIVER needs a DEADLETTER stream\r\n", REASON),
            sluice_only("XQ.CONFIG {k} g MAXDELIVER 3 DEADLETTER {k}", b"-ERR the dead-letter stream must be another key\r\n", REASON),
            sluice_only("XQ.CONFIG {k} g VISIBILITY -5", b"-ERR VISIBILITY must be >= 0\r\n", REASON),
            sluice_only("XQ.CONFIG {k} g FOO 1", b"-ERR syntax error\r\n", REASON),
            sluice_check("XQ.CONFIG {k} nog", REASON, |f| match f {
                Frame::Error(e) if e.starts_with(b"NOGROUP No such consumer group 'nog' for key name 'xq_replies:") => Ok(()),
                other => Err(format!("{other}")),
            }),
            sluice_only("XQ.ADD {k} LATER 5 * a 1", b"-ERR syntax error\r\n", REASON),
            step("DEL {k}"),
        ]),
    ]
}

fn main() {
    run(cases());
}
