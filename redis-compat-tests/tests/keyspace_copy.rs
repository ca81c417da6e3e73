//! COPY, MOVE, TOUCH, OBJECT (REFCOUNT, IDLETIME, FREQ, HELP), WAIT and WAITAOF without
//! replicas, CLIENT NO-EVICT / NO-TOUCH / UNBLOCK (its error paths; a real unblock needs the
//! blocked connection's id, which differs between the servers: `server/tests/keyspace_copy.rs`
//! covers it), on the case's own keys. Whole-server cases (SWAPDB, CLIENT PAUSE, an LFU
//! policy) are in `tests/server_wide.rs`.
//!
//! WAITAOF and CLIENT NO-TOUCH are Redis 7.2: checked on Sluice alone against Redis's source
//! (`src/replication.c` `waitaofCommand`, `src/networking.c`), as `sluice_only` steps.

use redis_compat_tests::pred::int_between;
use redis_compat_tests::*;

const WAITAOF: &str = "WAITAOF is Redis 7.2: checked against replication.c, not 7.0.15";
const NO_TOUCH: &str = "CLIENT NO-TOUCH is Redis 7.2: checked against networking.c, not 7.0.15";

fn so(line: &str, bytes: &[u8], why: &str) -> Step {
    sluice_only(line, bytes, why)
}

/// `[local, 0]` with local 0 or 1: whether the journal is fsynced past this connection's last
/// command depends on what other cases wrote meanwhile (as in Redis, a read waits for every
/// write before it), and the suite runs Sluice with `appendfsync no`, under which nothing is
/// ever fsynced (a `WAITAOF 1 0 0` after a write waits forever, as in Redis).
fn waitaof_any(line: &str) -> Step {
    sluice_check(line, WAITAOF, |f| match f {
        Frame::Array(v)
            if v.len() == 2
                && matches!(v[0], Frame::Integer(0 | 1))
                && v[1] == Frame::Integer(0) =>
        {
            Ok(())
        }
        other => Err(format!("expected [0|1, 0], got {other}")),
    })
}

#[rustfmt::skip]
fn cases() -> Vec<Case> {
    let range = "-ERR value is out of range, value must between 0 and 1\r\n";
    vec![
        // COPY: same database, other database, REPLACE, expiry carried, errors in Redis's order
        case("copy_string", &["SET {k}a v", "COPY {k}a {k}b", "GET {k}b", "COPY {k}a {k}b", "SET {k}a w", "COPY {k}a {k}b REPLACE", "GET {k}b", "COPY {k}missing {k}b", "COPY {k}missing {k}b REPLACE", "GET {k}b", "DEL {k}a {k}b"]),
        case("copy_other_db", &["SET {k}a v", "COPY {k}a {k}a DB 3", "COPY {k}a {k}a DB 3", "SELECT 3", "GET {k}a", "DEL {k}a", "SELECT 0", "COPY {k}a {k}x db 3 replace", "SELECT 3", "GET {k}x", "DEL {k}x", "SELECT 0", "DEL {k}a"]),
        case("copy_keeps_ttl", &[step("SET {k}a v EX 100"), step("COPY {k}a {k}b"), check("TTL {k}b", "integer in 95..=100", int_between(95, 100)), step("SET {k}c v"), step("COPY {k}c {k}b REPLACE"), step("TTL {k}b"), step("DEL {k}a {k}b {k}c")]),
        case("copy_errors", &[
            "SET {k}a v", "COPY {k}a {k}a", "COPY {k}a {k}a DB 0", "COPY {k}a {k}a DB 16", "COPY {k}a {k}a DB -1", "COPY {k}a {k}b DB x", "COPY {k}a {k}b DB 2147483648",
            "COPY {k}a {k}b DB", "COPY {k}a {k}b FOO", "COPY {k}a {k}b REPLACE FOO", "COPY {k}missing {k}missing", "COPY {k}missing {k}b DB 99", "COPY {k}a", "COPY {k}a {k}b DB 16 FOO",
            "EXISTS {k}b", "DEL {k}a",
        ]),
        // A stream copy: entries, groups, PEL, consumers; independent of the source afterwards.
        case("copy_stream", &[
            "XADD {k}s 1-1 a 1", "XADD {k}s 2-1 b 2", "XADD {k}s 3-1 c 3", "XGROUP CREATE {k}s g 0", "XREADGROUP GROUP g alice COUNT 2 STREAMS {k}s >", "XACK {k}s g 1-1",
            "COPY {k}s {k}c", "XRANGE {k}c - +", "XPENDING {k}c g", "~XINFO GROUPS {k}c", "XINFO STREAM {k}c", "XLEN {k}c",
            "XADD {k}s 4-1 d 4", "XACK {k}c g 2-1", "XLEN {k}c", "XPENDING {k}s g", "XREADGROUP GROUP g bob STREAMS {k}c >", "XINFO STREAM {k}s",
            "COPY {k}c {k}s", "COPY {k}c {k}s REPLACE", "XRANGE {k}s - +", "TYPE {k}c", "DEL {k}s {k}c",
        ]),
        case("copy_wrongtype_free", &["SET {k}a v", "XADD {k}s 1-1 f v", "COPY {k}s {k}a REPLACE", "TYPE {k}a", "COPY {k}a {k}s REPLACE", "TYPE {k}s", "DEL {k}a {k}s"]),
        // MOVE
        case("move", &["SET {k}a v", "MOVE {k}a 4", "EXISTS {k}a", "SELECT 4", "GET {k}a", "MOVE {k}a 4", "SET {k}b w", "SELECT 0", "SET {k}b x", "MOVE {k}b 4", "GET {k}b", "MOVE {k}missing 4", "SELECT 4", "DEL {k}a {k}b"]),
        case("move_stream_keeps_ttl", &[
            step("XADD {k}s 1-1 f v"), step("XGROUP CREATE {k}s g 0"), step("EXPIRE {k}s 100"), step("MOVE {k}s 5"), step("SELECT 5"),
            check("TTL {k}s", "integer in 95..=100", int_between(95, 100)), step("XINFO STREAM {k}s"), step("XINFO GROUPS {k}s"), step("DEL {k}s"),
        ]),
        case("move_errors", &["SET {k}a v", "MOVE {k}a 0", "MOVE {k}a 16", "MOVE {k}a -1", "MOVE {k}a x", "MOVE {k}a 2147483648", "MOVE {k}a 1.5", "MOVE {k}a", "MOVE {k}a 1 2", "MOVE {k}missing 0", "GET {k}a", "DEL {k}a"]),
        // TOUCH
        case("touch", &["TOUCH {k}a", "MSET {k}a 1 {k}b 2", "TOUCH {k}a {k}b {k}c {k}a", "TOUCH", "DEL {k}a {k}b"]),
        // OBJECT: Redis's shared integers (0..9999 written canonically, maxmemory unset)
        case("object_refcount", &[
            "OBJECT REFCOUNT {k}a", "SET {k}a 1", "OBJECT REFCOUNT {k}a", "SET {k}a 0", "OBJECT REFCOUNT {k}a", "SET {k}a 9999", "OBJECT REFCOUNT {k}a", "SET {k}a 10000", "OBJECT REFCOUNT {k}a",
            "SET {k}a -1", "OBJECT REFCOUNT {k}a", "SET {k}a 01", "OBJECT REFCOUNT {k}a", "SET {k}a +1", "OBJECT REFCOUNT {k}a", "SET {k}a abc", "OBJECT REFCOUNT {k}a", "SET {k}a 5", "INCR {k}a", "OBJECT REFCOUNT {k}a",
            "XADD {k}s 1-1 f v", "OBJECT REFCOUNT {k}s", "OBJECT REFCOUNT {k}a {k}s", "DEL {k}a {k}s",
        ]),
        case("object_idletime", &[step("OBJECT IDLETIME {k}a"), step("SET {k}a v"), check("OBJECT IDLETIME {k}a", "0 or 1 s", int_between(0, 1)), step("OBJECT IDLETIME"), step("DEL {k}a")]),
        case("object_freq_without_lfu", &["OBJECT FREQ {k}a", "SET {k}a v", "OBJECT FREQ {k}a", "OBJECT FREQ", "DEL {k}a"]),
        case("object_help", &["OBJECT HELP", "OBJECT help", "OBJECT HELP x", "OBJECT FOO {k}", "OBJECT"]),
        // WAIT: no replicas
        case("wait", &["WAIT 0 0", "WAIT -1 0", "WAIT 0 100", "SET {k} v", "WAIT 1 30", "WAIT 2 1", "WAIT 0 9223372036854775807", "DEL {k}"]),
        case("wait_errors", &["WAIT 0 -1", "WAIT 1 -1", "WAIT x 0", "WAIT x -1", "WAIT 1 x", "WAIT 1 1.5", "WAIT 0 9223372036854775808", "WAIT 9223372036854775808 0", "WAIT 1", "WAIT 1 2 3"]),
        case("wait_in_multi", &["MULTI", "WAIT 1 0", "SET {k} v", "WAIT 3 100", "EXEC", "DEL {k}"]),
        case("wait_in_script", &["EVAL \"return redis.call('WAIT', 1, 0)\" 0"]),
        // WAITAOF (Redis 7.2)
        case("waitaof", &[
            waitaof_any("WAITAOF 0 0 0"), waitaof_any("WAITAOF 1 0 20"), step("SET {k} v"), waitaof_any("WAITAOF 0 1 20"),
            step("DEL {k}"),
        ]),
        case("waitaof_errors", &[
            so("WAITAOF 2 0 0", range.as_bytes(), WAITAOF), so("WAITAOF -1 0 0", range.as_bytes(), WAITAOF),
            so("WAITAOF x 0 0", b"-ERR value is not an integer or out of range\r\n", WAITAOF),
            so("WAITAOF 0 -1 0", b"-ERR value is out of range, must be positive\r\n", WAITAOF),
            so("WAITAOF 0 x 0", b"-ERR value is not an integer or out of range\r\n", WAITAOF),
            so("WAITAOF 0 0 -1", b"-ERR timeout is negative\r\n", WAITAOF),
            so("WAITAOF 0 0 x", b"-ERR timeout is not an integer or out of range\r\n", WAITAOF),
            so("WAITAOF 2 -1 -1", range.as_bytes(), WAITAOF),
            so("WAITAOF 0 0", b"-ERR wrong number of arguments for 'waitaof' command\r\n", WAITAOF),
        ]),
        // CLIENT NO-EVICT (7.0), NO-TOUCH (7.2), UNBLOCK of nobody and its errors
        case("client_no_evict", &["CLIENT NO-EVICT on", "CLIENT NO-EVICT OFF", "CLIENT NO-EVICT maybe", "CLIENT NO-EVICT", "CLIENT NO-EVICT on off"]),
        case("client_no_touch", &[
            so("CLIENT NO-TOUCH on", b"+OK\r\n", NO_TOUCH), so("CLIENT NO-TOUCH OFF", b"+OK\r\n", NO_TOUCH),
            so("CLIENT NO-TOUCH maybe", b"-ERR syntax error\r\n", NO_TOUCH),
            so("CLIENT NO-TOUCH", b"-ERR wrong number of arguments for 'client|no-touch' command\r\n", NO_TOUCH),
        ]),
        case("client_unblock_nobody", &["CLIENT UNBLOCK 999999", "CLIENT UNBLOCK 999999 TIMEOUT", "CLIENT UNBLOCK 999999 error", "CLIENT UNBLOCK 0", "CLIENT UNBLOCK -1"]),
        case("client_unblock_errors", &["CLIENT UNBLOCK 999999 foo", "CLIENT UNBLOCK x", "CLIENT UNBLOCK x foo", "CLIENT UNBLOCK 1.5", "CLIENT UNBLOCK", "CLIENT UNBLOCK 1 2 3"]),
        case("client_pause_errors", &["CLIENT PAUSE 10 X", "CLIENT PAUSE x X", "CLIENT PAUSE -1", "CLIENT PAUSE x", "CLIENT PAUSE 1.5", "CLIENT PAUSE", "CLIENT PAUSE 1 WRITE x", "CLIENT UNPAUSE x"]),
    ]
}

fn main() {
    run(cases());
}
