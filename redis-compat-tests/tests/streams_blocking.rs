//! Blocking XREAD, with several connections: `!send` the blocking XREAD on
//! one connection, `!silence` to check it has not answered yet, write from
//! another connection (`@b`), then `!read` the reply.
//!
//! Two connections are not ordered with each other: the `!silence` after a
//! `!send` (300 ms per server) is also what makes sure that both servers
//! have executed the blocking XREAD before the write from the other
//! connection (otherwise `$` could resolve after that write).
//!
//! Over RESP3 the replies are maps (`%1`), and a timeout is `_`.
//!
//! `run_waiting`: up to 16 cases at a time by default (they mostly wait).

use redis_compat_tests::*;

#[rustfmt::skip]
fn cases() -> Vec<Case> {
    vec![
        // woken by an XADD from another connection; `$` = after the last ID at the time of blocking
        case("block_woken_by_xadd", &["XADD {k} 1-1 a 1", "XADD {k} 2-1 b 2", "!send XREAD BLOCK 0 STREAMS {k} $", "!silence", "@b XADD {k} 3-1 c 3", "!read", "XREAD STREAMS {k} 0", "DEL {k}"]),
        case("block_with_timeout_woken", &["XADD {k} 1-1 a 1", "!send XREAD BLOCK 10000 STREAMS {k} $", "!silence", "@b XADD {k} 2-1 b 2 c 3", "!read", "DEL {k}"]),
        case("block_missing_key", &["!send XREAD BLOCK 0 STREAMS {k} $", "!silence", "@b XADD {k} 1-1 a 1", "!read", "DEL {k}"]),
        case("block_missing_key_explicit_id", &["!send XREAD BLOCK 0 STREAMS {k} 0-0", "@b XADD {k} 0-1 a 1", "!read", "DEL {k}"]),
        // an XADD at or below the ID waited for does not wake the client
        case("block_explicit_id_not_reached", &["!send XREAD BLOCK 0 STREAMS {k} 5-0", "@b XADD {k} 3-0 a 1", "@b XADD {k} 5-0 b 2", "!silence", "@b XADD {k} 6-0 c 3", "!read", "DEL {k}"]),
        case("block_dollar_only_new_entries", &["XADD {k} 1-1 a 1", "XADD {k} 2-1 b 2", "!send XREAD COUNT 10 BLOCK 0 STREAMS {k} $", "!silence", "@b XADD {k} 2-2 c 3", "!read", "!send XREAD BLOCK 0 STREAMS {k} $", "!silence", "@b XADD {k} 9-9 d 4", "!read", "DEL {k}"]),
        // `$` on a stream whose last entry was deleted: the last *generated* ID counts
        case("block_dollar_after_xdel", &["XADD {k} 1-1 a 1", "XADD {k} 5-1 b 2", "XDEL {k} 5-1", "!send XREAD BLOCK 0 STREAMS {k} $", "!silence", "@b XADD {k} 5-2 c 3", "!read", "DEL {k}"]),
        // timeout: null (RESP2 *-1, RESP3 _), nothing arrives later
        case("block_timeout", &["XREAD BLOCK 100 STREAMS {k} $", "XADD {k} 1-1 a 1", "XREAD BLOCK 100 STREAMS {k} $", "XREAD BLOCK 50 STREAMS {k} 1-1", "XREAD BLOCK 50 COUNT 5 STREAMS {k} {k}b $ $", "@b XADD {k} 2-1 b 2", "!silence", "XREAD STREAMS {k} 1-1", "DEL {k}"]),
        case("block_timeout_then_xadd_elsewhere", &["!send XREAD BLOCK 200 STREAMS {k} $", "@b XADD {k}other 1-1 a 1", "!read", "!silence", "DEL {k}other"]),
        case("block_zero_waits", &["XADD {k} 1-1 a 1", "!send XREAD BLOCK 0 STREAMS {k} $", "!sleep 300", "!silence", "@b XADD {k} 1-2 b 2", "!read", "DEL {k}"]),
        // every client blocked on the key gets the entry (fan-out)
        case("block_several_clients", &[
            "XADD {k} 1-1 a 1", "!send XREAD BLOCK 0 STREAMS {k} $", "@c !send XREAD BLOCK 0 STREAMS {k} $", "@d !send XREAD COUNT 1 BLOCK 0 STREAMS {k} 0", "@d !read", "@d !send XREAD BLOCK 0 STREAMS {k} 1-1",
            "@d !silence", "@b XADD {k} 2-1 b 2", "!read", "@c !read", "@d !read", "DEL {k}",
        ]),
        case("block_several_clients_different_ids", &[
            "XADD {k} 5-0 a 1", "!send XREAD BLOCK 0 STREAMS {k} 6-0", "@c !send XREAD BLOCK 0 STREAMS {k} $", "@d !send XREAD BLOCK 0 STREAMS {k} 7-0",
            "@d !silence", "@b XADD {k} 6-0 b 2", "!silence", "@c !read", "@d !silence", "@b XADD {k} 8-0 c 3", "!read", "@d !read", "DEL {k}",
        ]),
        // a client blocked on several keys is woken by any of them, and gets only that one
        case("block_several_keys", &[
            "XADD {k}a 1-1 a 1", "!send XREAD BLOCK 0 STREAMS {k}a {k}b {k}c $ $ $", "!silence", "@b XADD {k}b 1-1 b 1", "!read",
            "!send XREAD BLOCK 0 STREAMS {k}a {k}b {k}c $ $ $", "!silence", "@b XADD {k}c 7-7 c 1", "!read", "!send XREAD BLOCK 0 STREAMS {k}a {k}b {k}c $ 0 0", "!read", "DEL {k}a {k}b {k}c",
        ]),
        case("block_same_key_twice", &["!send XREAD BLOCK 0 STREAMS {k} {k} $ 0", "!silence", "@b XADD {k} 6-0 a 1", "!read", "DEL {k}"]),
        // entries added by a whole MULTI are served together, COUNT applies
        case("block_multi_batch", &[
            "XADD {k} 1-1 a 1", "!send XREAD BLOCK 0 STREAMS {k} $", "@c !send XREAD COUNT 1 BLOCK 0 STREAMS {k} $",
            "@b MULTI", "@b XADD {k} 2-1 b 2", "@b XADD {k} 3-1 c 3", "!silence", "@b EXEC", "!read", "@c !read", "DEL {k}",
        ]),
        case("block_count", &["!send XREAD COUNT 2 BLOCK 0 STREAMS {k} 0", "!silence", "@b MULTI", "@b XADD {k} 1-1 a 1", "@b XADD {k} 2-1 b 2", "@b XADD {k} 3-1 c 3", "@b EXEC", "!read", "DEL {k}"]),
        // XREAD BLOCK inside MULTI never blocks
        case("block_in_multi", &["MULTI", "XREAD BLOCK 0 STREAMS {k} $", "XREAD BLOCK 100 STREAMS {k} 0", "XADD {k} 1-1 a 1", "XREAD BLOCK 0 STREAMS {k} $", "XREAD BLOCK 0 STREAMS {k} 0", "EXEC", "DEL {k}"]),
        // DEL (or a type change) while blocked: the client keeps waiting for an ID above the one it resolved `$` to
        case("block_key_deleted", &[
            "XADD {k} 1-1 a 1", "!send XREAD BLOCK 0 STREAMS {k} $", "!silence", "@b DEL {k}", "!silence", "@b XADD {k} 1-0 b 2", "!silence", "@b XADD {k} 3-0 c 3", "!read", "DEL {k}",
        ]),
        case("block_key_type_changed", &["XADD {k} 1-1 a 1", "!send XREAD BLOCK 0 STREAMS {k} $", "!silence", "@b SET {k} str", "!silence", "@b DEL {k}", "@b XADD {k} 2-0 b 2", "!read", "DEL {k}"]),
        case("block_key_renamed_onto", &["!send XREAD BLOCK 0 STREAMS {k} $", "@b XADD {k}x 6-0 a 1", "!silence", "@b RENAME {k}x {k}", "!read", "DEL {k}"]),
        // XSETID alone does not wake a blocked client
        case("block_xsetid_does_not_wake", &["XADD {k} 1-1 a 1", "!send XREAD BLOCK 0 STREAMS {k} $", "!silence", "@b XSETID {k} 5-0", "!silence", "@b XADD {k} 6-0 b 2", "!read", "DEL {k}"]),
        // woken although the new entries are already gone: the reply holds the key with an empty list
        case("block_woken_entry_deleted_in_multi", &["XADD {k} 1-1 a 1", "!send XREAD BLOCK 0 STREAMS {k} $", "!silence", "@b MULTI", "@b XADD {k} 2-0 b 2", "@b XDEL {k} 2-0", "@b EXEC", "!read", "DEL {k}"]),
        case("block_woken_entry_trimmed", &["XADD {k} 1-1 a 1", "!send XREAD BLOCK 0 STREAMS {k} $", "!silence", "@b XADD {k} MINID 100 2-1 b 2", "!read", "XLEN {k}", "!send XREAD BLOCK 0 STREAMS {k} $", "!silence", "@b MULTI", "@b XADD {k} 3-0 c 3", "@b XTRIM {k} MAXLEN 0", "@b EXEC", "!read", "DEL {k}"]),
        case("block_nomkstream_missing_key", &["!send XREAD BLOCK 0 STREAMS {k} $", "@b XADD {k} NOMKSTREAM 1-1 a 1", "!silence", "@b XADD {k} 1-1 a 1", "!read", "DEL {k}"]),
        // commands pipelined behind a blocked XREAD wait for it
        case("block_pipelined_after", &["!send XREAD BLOCK 0 STREAMS {k} $", "!send PING", "!send XLEN {k}", "!silence", "@b XADD {k} 1-1 a 1", "!read", "!read", "!read", "DEL {k}"]),
        case("block_errors", &[
            "XADD {k} 1-1 a 1", "XREAD BLOCK -1 STREAMS {k} $", "XREAD BLOCK -100 STREAMS {k} 0", "XREAD BLOCK abc STREAMS {k} $", "XREAD BLOCK 1.5 STREAMS {k} $", "XREAD BLOCK 0.0 STREAMS {k} $", "XREAD BLOCK 10s STREAMS {k} $",
            "XREAD BLOCK 99999999999999999999 STREAMS {k} $", "XREAD BLOCK STREAMS {k} $", "XREAD BLOCK 0 STREAMS {k}", "XREAD BLOCK 0 STREAMS {k} x", "XREAD BLOCK 0 STREAMS {k} >", "XREAD BLOCK 0 GROUP g c STREAMS {k} $", "DEL {k}",
        ]),
        case("block_wrongtype", &["SET {k}s v", "XREAD BLOCK 0 STREAMS {k}s $", "XREAD BLOCK 0 STREAMS {k} {k}s $ $", "XREAD BLOCK 100 STREAMS {k}s 0", "DEL {k}s"]),
        // the client keeps working normally after being served or timing out
        case("block_then_normal", &["!send XREAD BLOCK 0 STREAMS {k} $", "!silence", "@b XADD {k} 1-1 a 1", "!read", "PING", "XREAD BLOCK 50 STREAMS {k} $", "ECHO x", "XLEN {k}", "DEL {k}"]),
    ]
}

fn main() {
    // The cases mostly wait (blocked clients, `!silence`): run many at a time.
    run_waiting(cases());
}
