//! Blocking XREADGROUP, with several connections: `!send` the blocking
//! XREADGROUP on one connection, `!silence` (which also makes sure both
//! servers have executed it before the next step on another connection),
//! write from another connection, then `!read` the reply.
//!
//! Redis 7.0.15 serves blocked clients from the key's ready list, in the
//! order they blocked; a group reader is served from the group's
//! last-delivered-id at that moment (so several readers of one group get
//! distinct entries, each at most its COUNT, default 1000), and a reader
//! with nothing left to read stays blocked. What 7.0.15 answers a blocked
//! XREADGROUP when its group or key goes away:
//! * XGROUP DESTROY (or DEL + XADD in one MULTI: a new stream without the
//!   group): `-NOGROUP the consumer group this client was blocked on no
//!   longer exists`
//! * DEL, or the key overwritten with another type: `-UNBLOCKED the stream
//!   key no longer exists`
//!
//! (Redis >= 7.2 re-runs the command instead and answers `-NOGROUP No such
//! key ... in XREADGROUP with GROUP option`.) XGROUP DELCONSUMER, SETID,
//! XACK and XCLAIM do not wake anybody.
//!
//! Every consumer is created before it blocks, except in the
//! `*_creation_70` case: 7.0.15 creates a blocked reader's consumer only
//! when it is served, 7.2 when it blocks.
//!
//! `run_waiting`: up to 16 cases at a time by default (they mostly wait).

use redis_compat_tests::*;

#[rustfmt::skip]
fn cases() -> Vec<Case> {
    vec![
        // woken by an XADD from another connection; the entry is pending for the reader
        case("block_woken_by_xadd", &[
            "XGROUP CREATE {k} g $ MKSTREAM", "XGROUP CREATECONSUMER {k} g c", "!send XREADGROUP GROUP g c BLOCK 0 STREAMS {k} >", "!silence", "@b XADD {k} 1-1 a 1", "!read",
            "XPENDING {k} g", "XINFO GROUPS {k}", "XREADGROUP GROUP g c STREAMS {k} 0", "DEL {k}",
        ]),
        case("block_with_timeout_woken", &[
            "XADD {k} 1-1 a 1", "XGROUP CREATE {k} g $", "XGROUP CREATECONSUMER {k} g c", "!send XREADGROUP GROUP g c BLOCK 10000 STREAMS {k} >", "!silence", "@b XADD {k} 2-1 b 2 c 3", "!read", "XPENDING {k} g", "DEL {k}",
        ]),
        // the group is behind the stream: no blocking, served at once
        case("block_not_needed", &[
            "XADD {k} 1-1 a 1", "XADD {k} 2-1 b 2", "XGROUP CREATE {k} g 1-1", "XREADGROUP GROUP g c BLOCK 0 STREAMS {k} >", "XREADGROUP GROUP g c BLOCK 0 STREAMS {k} 0", "XREADGROUP GROUP g c BLOCK 0 STREAMS {k} 9-9",
            "XREADGROUP GROUP g c BLOCK 0 NOACK STREAMS {k} 0", "XREADGROUP GROUP g2 c BLOCK 0 STREAMS {k} >", "DEL {k}",
        ]),
        // an entry not above the group's last-delivered-id does not wake the reader
        case("block_group_ahead", &[
            "XGROUP CREATE {k} g 5-0 MKSTREAM", "XGROUP CREATECONSUMER {k} g c", "!send XREADGROUP GROUP g c BLOCK 0 STREAMS {k} >", "!silence", "@b XADD {k} 3-0 a 1", "@b XADD {k} 5-0 b 2", "!silence", "@b XADD {k} 6-0 c 3", "!read", "XPENDING {k} g", "DEL {k}",
        ]),
        // timeout: null (RESP2 *-1, RESP3 _); nothing arrives later and nothing becomes pending
        case("block_timeout", &[
            "XGROUP CREATE {k} g $ MKSTREAM", "XGROUP CREATE {k}b g $ MKSTREAM", "XGROUP CREATECONSUMER {k} g c", "XGROUP CREATECONSUMER {k}b g c", "XREADGROUP GROUP g c BLOCK 100 STREAMS {k} >", "XREADGROUP GROUP g c COUNT 5 BLOCK 50 STREAMS {k} {k}b > >",
            "XREADGROUP GROUP g c BLOCK 50 NOACK STREAMS {k} >", "@b XADD {k} 1-1 a 1", "!silence", "XPENDING {k} g", "XINFO GROUPS {k}", "XREADGROUP GROUP g c STREAMS {k} >", "DEL {k} {k}b",
        ]),
        case("block_zero_waits", &["XGROUP CREATE {k} g $ MKSTREAM", "XGROUP CREATECONSUMER {k} g c", "!send XREADGROUP GROUP g c BLOCK 0 STREAMS {k} >", "!sleep 300", "!silence", "@b XADD {k} 1-2 b 2", "!read", "DEL {k}"]),
        // readers of one group are served in the order they blocked, each with distinct entries and at most its COUNT
        case("block_same_group_arrival_order", &[
            "XGROUP CREATE {k} g $ MKSTREAM", "XGROUP CREATECONSUMER {k} g c1", "XGROUP CREATECONSUMER {k} g c2", "XGROUP CREATECONSUMER {k} g c3",
            "@c1 !send XREADGROUP GROUP g c1 COUNT 1 BLOCK 0 STREAMS {k} >", "@c1 !silence", "@c2 !send XREADGROUP GROUP g c2 COUNT 2 BLOCK 0 STREAMS {k} >", "@c2 !silence", "@c3 !send XREADGROUP GROUP g c3 BLOCK 0 STREAMS {k} >", "@c3 !silence",
            "@b MULTI", "@b XADD {k} 1-1 a 1", "@b XADD {k} 2-1 b 2", "@b XADD {k} 3-1 c 3", "@b XADD {k} 4-1 d 4", "@b XADD {k} 5-1 e 5", "@b EXEC", "@c1 !read", "@c2 !read", "@c3 !read", "XPENDING {k} g", "XINFO GROUPS {k}", "DEL {k}",
        ]),
        // one new entry serves only the first reader; the others stay blocked until there is more
        case("block_same_group_one_entry", &[
            "XGROUP CREATE {k} g $ MKSTREAM", "XGROUP CREATECONSUMER {k} g c1", "XGROUP CREATECONSUMER {k} g c2", "XGROUP CREATECONSUMER {k} g c3",
            "@c1 !send XREADGROUP GROUP g c1 BLOCK 0 STREAMS {k} >", "@c1 !silence", "@c2 !send XREADGROUP GROUP g c2 BLOCK 0 STREAMS {k} >", "@c2 !silence", "@c3 !send XREADGROUP GROUP g c3 BLOCK 0 STREAMS {k} >", "@c3 !silence",
            "@b XADD {k} 1-1 a 1", "@c1 !read", "@c2 !silence", "@c3 !silence", "@b XADD {k} 2-1 b 2", "@c2 !read", "@c3 !silence", "@b XADD {k} 3-1 c 3", "@c3 !read", "XPENDING {k} g", "DEL {k}",
        ]),
        // readers of different groups each get the new entries; a plain XREAD reader too
        case("block_different_groups_and_xread", &[
            "XGROUP CREATE {k} g $ MKSTREAM", "XGROUP CREATE {k} h $", "XGROUP CREATECONSUMER {k} g c", "XGROUP CREATECONSUMER {k} h c",
            "@r1 !send XREADGROUP GROUP g c BLOCK 0 STREAMS {k} >", "@r1 !silence", "@r2 !send XREAD BLOCK 0 STREAMS {k} $", "@r2 !silence", "@r3 !send XREADGROUP GROUP h c COUNT 1 BLOCK 0 STREAMS {k} >", "@r3 !silence",
            "@b MULTI", "@b XADD {k} 1-1 a 1", "@b XADD {k} 2-1 b 2", "@b EXEC", "@r1 !read", "@r2 !read", "@r3 !read", "XINFO GROUPS {k}", "XPENDING {k} g", "XPENDING {k} h", "DEL {k}",
        ]),
        // one XADD wakes both an XREAD and an XREADGROUP reader of the key
        case("block_xread_and_xreadgroup", &[
            "XADD {k} 1-1 a 1", "XGROUP CREATE {k} g $", "XGROUP CREATECONSUMER {k} g c", "!send XREADGROUP GROUP g c BLOCK 0 STREAMS {k} >", "!silence", "@x !send XREAD BLOCK 0 STREAMS {k} $", "@x !silence",
            "@b XADD {k} 2-1 b 2", "!read", "@x !read", "DEL {k}",
        ]),
        // blocked on several streams: woken by any, the reply holds that stream only
        case("block_several_streams", &[
            "XGROUP CREATE {k}a g $ MKSTREAM", "XGROUP CREATE {k}b g $ MKSTREAM", "XGROUP CREATE {k}c g $ MKSTREAM", "XGROUP CREATECONSUMER {k}a g c", "XGROUP CREATECONSUMER {k}b g c", "XGROUP CREATECONSUMER {k}c g c",
            "!send XREADGROUP GROUP g c BLOCK 0 STREAMS {k}a {k}b {k}c > > >", "!silence", "@b XADD {k}b 1-1 b 1", "!read",
            "!send XREADGROUP GROUP g c COUNT 1 BLOCK 0 STREAMS {k}a {k}b {k}c > > >", "!silence", "@b MULTI", "@b XADD {k}c 7-7 c 1", "@b XADD {k}c 7-8 c 2", "@b XADD {k}a 1-1 a 1", "@b EXEC", "!read",
            "XREADGROUP GROUP g c STREAMS {k}a {k}b {k}c > > >", "XPENDING {k}a g", "XPENDING {k}c g", "DEL {k}a {k}b {k}c",
        ]),
        // NOACK: served, nothing pending, the group moves on
        case("block_noack", &[
            "XGROUP CREATE {k} g $ MKSTREAM", "XGROUP CREATECONSUMER {k} g c", "!send XREADGROUP GROUP g c NOACK BLOCK 0 STREAMS {k} >", "!silence", "@b XADD {k} 1-1 a 1", "!read", "XPENDING {k} g", "XINFO GROUPS {k}",
            "@c !send XREADGROUP GROUP g c NOACK COUNT 1 BLOCK 0 STREAMS {k} >", "@c !silence", "!send XREADGROUP GROUP g c BLOCK 0 STREAMS {k} >", "!silence", "@b MULTI", "@b XADD {k} 2-1 b 2", "@b XADD {k} 3-1 c 3", "@b EXEC", "@c !read", "!read", "XPENDING {k} g", "DEL {k}",
        ]),
        // without COUNT a blocked reader gets everything new (up to 1000)
        case("block_count", &[
            "XGROUP CREATE {k} g $ MKSTREAM", "XGROUP CREATECONSUMER {k} g c", "!send XREADGROUP GROUP g c BLOCK 0 STREAMS {k} >", "!silence", "@b MULTI", "@b XADD {k} 1-1 a 1", "@b XADD {k} 2-1 b 2", "@b XADD {k} 3-1 c 3", "@b EXEC", "!read",
            "!send XREADGROUP GROUP g c COUNT 2 BLOCK 0 STREAMS {k} >", "!silence", "@b MULTI", "@b XADD {k} 4-1 a 1", "@b XADD {k} 5-1 b 2", "@b XADD {k} 6-1 c 3", "@b EXEC", "!read", "XREADGROUP GROUP g c STREAMS {k} >", "XPENDING {k} g", "DEL {k}",
        ]),
        // XGROUP DESTROY while blocked: 7.0.15 answers `-NOGROUP the consumer group this client was blocked on no longer exists`
        case("block_group_destroyed", &[
            "XGROUP CREATE {k} g $ MKSTREAM", "XGROUP CREATECONSUMER {k} g c", "!send XREADGROUP GROUP g c BLOCK 0 STREAMS {k} >", "!silence", "@b XGROUP DESTROY {k} g", "!read", "PING", "XINFO GROUPS {k}", "DEL {k}",
        ]),
        // readers of another group on the same key are not disturbed by the DESTROY
        case("block_other_group_destroyed", &[
            "XGROUP CREATE {k} g $ MKSTREAM", "XGROUP CREATE {k} h $", "XGROUP CREATECONSUMER {k} g c", "XGROUP CREATECONSUMER {k} h c", "!send XREADGROUP GROUP g c BLOCK 0 STREAMS {k} >", "!silence",
            "@h !send XREADGROUP GROUP h c BLOCK 0 STREAMS {k} >", "@h !silence", "@x !send XREAD BLOCK 0 STREAMS {k} $", "@x !silence", "@b XGROUP DESTROY {k} g", "!read", "@h !silence", "@x !silence", "@b XADD {k} 1-1 a 1", "@h !read", "@x !read", "DEL {k}",
        ]),
        // destroyed and re-created in one MULTI: the reader keeps waiting for the new group (at $), or is served (at 0)
        case("block_group_recreated_in_multi", &[
            "XADD {k} 1-1 a 1", "XGROUP CREATE {k} g $", "XGROUP CREATECONSUMER {k} g c", "!send XREADGROUP GROUP g c BLOCK 0 STREAMS {k} >", "!silence", "@b MULTI", "@b XGROUP DESTROY {k} g", "@b XGROUP CREATE {k} g $", "@b EXEC", "!silence",
            "@b MULTI", "@b XGROUP DESTROY {k} g", "@b XGROUP CREATE {k} g 0", "@b EXEC", "!read", "XINFO GROUPS {k}", "XPENDING {k} g", "DEL {k}",
        ]),
        // DEL while blocked: 7.0.15 answers `-UNBLOCKED the stream key no longer exists`; a plain XREAD reader keeps waiting
        case("block_key_deleted", &[
            "XGROUP CREATE {k} g $ MKSTREAM", "XGROUP CREATECONSUMER {k} g c", "!send XREADGROUP GROUP g c BLOCK 0 STREAMS {k} >", "!silence", "@x !send XREAD BLOCK 0 STREAMS {k} $", "@x !silence", "@b DEL {k}", "!read", "@x !silence",
            "@b XADD {k} 1-1 a 1", "@x !read", "XINFO GROUPS {k}", "DEL {k}",
        ]),
        case("block_key_deleted_several_streams", &[
            "XGROUP CREATE {k}a g $ MKSTREAM", "XGROUP CREATE {k}b g $ MKSTREAM", "XGROUP CREATECONSUMER {k}a g c", "XGROUP CREATECONSUMER {k}b g c", "!send XREADGROUP GROUP g c BLOCK 0 STREAMS {k}a {k}b > >", "!silence", "@b DEL {k}b", "!read",
            "@b XADD {k}a 1-1 a 1", "!silence", "XPENDING {k}a g", "DEL {k}a {k}b",
        ]),
        // the key overwritten with another type (SET, and DEL + SET in one MULTI; Sluice has no lists): `-UNBLOCKED the stream key no longer exists`
        case("block_key_type_changed", &[
            "XGROUP CREATE {k} g $ MKSTREAM", "XGROUP CREATECONSUMER {k} g c", "!send XREADGROUP GROUP g c BLOCK 0 STREAMS {k} >", "!silence", "@b SET {k} str", "!read", "GET {k}",
            "DEL {k}", "XGROUP CREATE {k} g $ MKSTREAM", "XGROUP CREATECONSUMER {k} g c", "!send XREADGROUP GROUP g c BLOCK 0 STREAMS {k} >", "!silence", "@b MULTI", "@b DEL {k}", "@b SET {k} x", "@b EXEC", "!read", "DEL {k}",
        ]),
        // DEL + XADD in one MULTI: the key is a stream again, without the group
        case("block_key_recreated_in_multi", &[
            "XGROUP CREATE {k} g $ MKSTREAM", "XGROUP CREATECONSUMER {k} g c", "!send XREADGROUP GROUP g c BLOCK 0 STREAMS {k} >", "!silence", "@b MULTI", "@b DEL {k}", "@b XADD {k} 1-1 a 1", "@b EXEC", "!read", "XINFO GROUPS {k}", "DEL {k}",
        ]),
        case("block_key_renamed_away", &[
            "XGROUP CREATE {k} g $ MKSTREAM", "XGROUP CREATECONSUMER {k} g c", "!send XREADGROUP GROUP g c BLOCK 0 STREAMS {k} >", "!silence", "@b RENAME {k} {k}new", "!read", "XINFO GROUPS {k}new", "DEL {k}new",
        ]),
        // a stream without the group renamed onto the key
        case("block_key_renamed_onto", &[
            "XGROUP CREATE {k} g $ MKSTREAM", "XGROUP CREATECONSUMER {k} g c", "!send XREADGROUP GROUP g c BLOCK 0 STREAMS {k} >", "!silence", "@b XADD {k}other 5-5 a 1", "@b RENAME {k}other {k}", "!read", "DEL {k}",
        ]),
        // DELCONSUMER while blocked: still blocked, served later (the consumer is created again)
        case("block_consumer_deleted", &[
            "XGROUP CREATE {k} g $ MKSTREAM", "XGROUP CREATECONSUMER {k} g c", "!send XREADGROUP GROUP g c BLOCK 0 STREAMS {k} >", "!silence", "@b XGROUP DELCONSUMER {k} g c", "!silence", "@b XADD {k} 1-1 a 1", "!read", "XINFO GROUPS {k}", "XPENDING {k} g", "DEL {k}",
        ]),
        // SETID does not wake the reader; the next XADD serves it from the group's new position
        case("block_setid_does_not_wake", &[
            "XADD {k} 1-1 a 1", "XADD {k} 2-1 b 2", "XGROUP CREATE {k} g $", "XGROUP CREATECONSUMER {k} g c", "!send XREADGROUP GROUP g c BLOCK 0 STREAMS {k} >", "!silence", "@b XGROUP SETID {k} g 0", "!silence", "@b XADD {k} 3-1 c 3", "!read", "XINFO GROUPS {k}", "DEL {k}",
        ]),
        // XACK, XCLAIM, XAUTOCLAIM, CREATECONSUMER, XSETID, XDEL do not wake it either
        case("block_other_writes_do_not_wake", &[
            "XADD {k} 1-1 a 1", "XGROUP CREATE {k} g 0", "XGROUP CREATECONSUMER {k} g c", "XREADGROUP GROUP g d STREAMS {k} >", "!send XREADGROUP GROUP g c BLOCK 0 STREAMS {k} >", "!silence", "@b XCLAIM {k} g e 0 1-1", "@b XAUTOCLAIM {k} g c 0 0",
            "@b XACK {k} g 1-1", "@b XGROUP CREATECONSUMER {k} g f", "@b XSETID {k} 5-5", "@b XDEL {k} 1-1", "@b XGROUP CREATE {k} h 0", "!silence", "@b XADD {k} 6-6 b 2", "!read", "DEL {k}",
        ]),
        // woken although the new entry is already gone: 7.0.15 replies with the key and an empty list
        case("block_woken_entry_deleted_in_multi", &[
            "XGROUP CREATE {k} g $ MKSTREAM", "XGROUP CREATECONSUMER {k} g c", "!send XREADGROUP GROUP g c BLOCK 0 STREAMS {k} >", "!silence", "@b MULTI", "@b XADD {k} 1-1 a 1", "@b XDEL {k} 1-1", "@b EXEC", "!read", "XINFO GROUPS {k}", "XPENDING {k} g", "DEL {k}",
        ]),
        case("block_woken_entry_trimmed", &[
            "XGROUP CREATE {k} g $ MKSTREAM", "XGROUP CREATECONSUMER {k} g c", "!send XREADGROUP GROUP g c BLOCK 0 STREAMS {k} >", "!silence", "@b XADD {k} MAXLEN 0 1-1 a 1", "!read", "XINFO GROUPS {k}", "DEL {k}",
        ]),
        // XREADGROUP BLOCK inside MULTI never blocks: null when there is nothing new
        case("block_in_multi", &[
            "XGROUP CREATE {k} g $ MKSTREAM", "XGROUP CREATECONSUMER {k} g c", "MULTI", "XREADGROUP GROUP g c BLOCK 0 STREAMS {k} >", "XREADGROUP GROUP g c BLOCK 100 NOACK STREAMS {k} >", "XADD {k} 1-1 a 1", "XREADGROUP GROUP g c BLOCK 0 STREAMS {k} >",
            "XREADGROUP GROUP g c BLOCK 0 STREAMS {k} >", "XREADGROUP GROUP g c BLOCK 0 STREAMS {k} 0", "EXEC", "DEL {k}",
        ]),
        // errors are immediate, nothing blocks
        case("block_errors", &[
            "XGROUP CREATE {k} g $ MKSTREAM", "XREADGROUP GROUP nog c BLOCK 0 STREAMS {k} >", "XREADGROUP GROUP g c BLOCK 0 STREAMS {k}missing >", "XREADGROUP GROUP g c BLOCK 0 STREAMS {k} $", "XREADGROUP GROUP g c BLOCK -1 STREAMS {k} >",
            "XREADGROUP GROUP g c BLOCK x STREAMS {k} >", "SET {k}s x", "XREADGROUP GROUP g c BLOCK 0 STREAMS {k}s >", "XREADGROUP GROUP g c BLOCK 0 STREAMS {k} {k}s > >", "DEL {k} {k}s",
        ]),
        // commands pipelined behind a blocked XREADGROUP wait for it
        case("block_pipelined_after", &[
            "XGROUP CREATE {k} g $ MKSTREAM", "XGROUP CREATECONSUMER {k} g c", "!send XREADGROUP GROUP g c BLOCK 0 STREAMS {k} >", "!send PING", "!send XPENDING {k} g", "!silence", "@b XADD {k} 1-1 a 1", "!read", "!read", "!read", "DEL {k}",
        ]),
        // 7.0.15 creates a blocked reader's consumer only when it is served (7.2: when it blocks)
        case("block_creation_70", &[
            "XGROUP CREATE {k} g $ MKSTREAM", "XREADGROUP GROUP g t BLOCK 50 STREAMS {k} >", "XINFO GROUPS {k}", "!send XREADGROUP GROUP g c BLOCK 0 STREAMS {k} >", "!silence", "@b XINFO GROUPS {k}", "@b XADD {k} 1-1 a 1", "!read", "XINFO GROUPS {k}", "DEL {k}",
        ]),
    ]
}

fn main() {
    // The cases mostly wait (blocked clients, `!silence`): run many at a time.
    run_waiting(cases());
}
