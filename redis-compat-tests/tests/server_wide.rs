//! Whole-server cases for SWAPDB, CLIENT PAUSE / UNPAUSE and an LFU `maxmemory-policy`
//! (OBJECT FREQ / IDLETIME / REFCOUNT), one at a time after a FLUSHALL (`run_isolated`); every
//! CONFIG SET and pause is undone in its case.

use redis_compat_tests::*;

const NO_TOUCH: &str = "CLIENT NO-TOUCH is Redis 7.2: checked against db.c, not 7.0.15";

#[rustfmt::skip]
fn cases() -> Vec<Case> {
    vec![
        // SWAPDB: the contents move, the connections stay in their database
        case("swapdb", &["SET a 0", "SELECT 1", "SET b 1", "SET a 1", "SWAPDB 0 1", "GET a", "GET b", "SELECT 0", "GET a", "GET b", "DBSIZE", "SWAPDB 1 0", "DBSIZE", "GET a", "SWAPDB 0 0", "GET a", "@b GET a"]),
        case("swapdb_errors", &["SWAPDB 0 16", "SWAPDB -1 0", "SWAPDB x 0", "SWAPDB 0 x", "SWAPDB x y", "SWAPDB 0 2147483648", "SWAPDB 2147483648 x", "SWAPDB 1.5 0", "SWAPDB 0", "SWAPDB 0 1 2"]),
        case("swapdb_expiry", &["SET a v EX 100", "SWAPDB 0 2", "TTL a", "SELECT 2", "~TTL a", "PERSIST a", "SWAPDB 2 0", "TTL a"]),
        case("swapdb_streams", &["XADD s 1-1 f v", "XGROUP CREATE s g 0", "SWAPDB 0 3", "XLEN s", "SELECT 3", "XINFO GROUPS s", "XREADGROUP GROUP g c STREAMS s >", "XPENDING s g", "SWAPDB 3 0", "XLEN s", "SELECT 0", "XPENDING s g"]),
        // WATCH: a watched key that exists in either database fails the EXEC
        case("swapdb_touches_watched", &["SET a 1", "WATCH a", "@b SWAPDB 0 1", "MULTI", "PING", "EXEC", "WATCH a", "@b SWAPDB 0 1", "MULTI", "PING", "EXEC", "WATCH nothere", "@b SWAPDB 0 1", "MULTI", "PING", "EXEC"]),
        // Blocked readers: a stream that now exists serves an XREAD; an XREADGROUP whose stream is gone answers its error
        case("swapdb_wakes_xread", &["SELECT 1", "XADD s 1-1 f v", "SELECT 0", "!send XREAD BLOCK 0 STREAMS s 0", "!silence", "@b SWAPDB 0 1", "!read"]),
        case("swapdb_wakes_xreadgroup", &["XADD s 1-1 f v", "XGROUP CREATE s g $", "!send XREADGROUP GROUP g c BLOCK 0 STREAMS s >", "!silence", "@b SWAPDB 0 1", "!read"]),
        // CLIENT PAUSE WRITE: reads go on, writes (and EVAL, and MULTI queueing of a write) wait, in order
        case("client_pause_write", &[
            "SET k 0", "CLIENT PAUSE 100000 WRITE", "@b GET k", "@b !send SET k 1", "@b !silence", "@c !send EVAL \"return 1\" 0", "@c !silence",
            "@d MULTI", "@d GET k", "@d !send SET k 2", "@d !silence", "GET k", "CLIENT UNPAUSE", "@b !read", "@c !read", "@d !read", "@d EXEC", "GET k",
        ]),
        // ALL holds every command, CLIENT UNPAUSE too (Redis 7.0): the pause ends at its timeout
        case("client_pause_all", &["SET k 0", "@c PING", "@b CLIENT PAUSE 2500 ALL", "!send GET k", "!silence", "@c !send CLIENT UNPAUSE", "@c !silence", "!read", "@c !read", "SET k 1"]),
        case("client_pause_ends", &["SET k 0", "CLIENT PAUSE 200 WRITE", "@b !send SET k 1", "@b !read", "GET k", "CLIENT PAUSE 0", "SET k 2"]),
        // An LFU policy: OBJECT FREQ counts (a new key starts at 5, its first access makes 6), IDLETIME is refused
        case("object_lfu", &[
            "CONFIG SET maxmemory-policy allkeys-lfu", "SET k v", "OBJECT FREQ k", "GET k", "OBJECT FREQ k", "OBJECT IDLETIME k", "OBJECT FREQ nothere", "OBJECT IDLETIME nothere",
            "CONFIG SET maxmemory-policy volatile-lfu", "OBJECT FREQ k", "CONFIG SET maxmemory-policy noeviction", "OBJECT FREQ k",
        ]),
        // CLIENT NO-TOUCH (Redis 7.2, checked on Sluice alone against db.c's lookupKey): its
        // reads leave the LFU counter alone, TOUCH still counts (5 -> 6 is certain: the first
        // step from the initial value has probability 1)
        case("client_no_touch_lfu", &[
            step("CONFIG SET maxmemory-policy allkeys-lfu"), step("SET k v"), sluice_only("CLIENT NO-TOUCH on", b"+OK\r\n", NO_TOUCH),
            step("GET k"), step("EXISTS k"), sluice_only("OBJECT FREQ k", b":5\r\n", NO_TOUCH), step("TOUCH k"), sluice_only("OBJECT FREQ k", b":6\r\n", NO_TOUCH),
            sluice_only("CLIENT NO-TOUCH off", b"+OK\r\n", NO_TOUCH), step("CONFIG SET maxmemory-policy noeviction"),
        ]),
        // No shared integers with maxmemory set and an LRU or LFU policy
        case("object_refcount_lru", &[
            "SET a 1", "CONFIG SET maxmemory 1gb", "CONFIG SET maxmemory-policy allkeys-lru", "SET b 1", "OBJECT REFCOUNT b",
            "CONFIG SET maxmemory-policy volatile-ttl", "SET c 1", "OBJECT REFCOUNT c", "CONFIG SET maxmemory 0", "CONFIG SET maxmemory-policy noeviction",
        ]),
    ]
}

fn main() {
    run_isolated(cases());
}
