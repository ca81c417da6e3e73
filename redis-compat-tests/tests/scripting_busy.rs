//! A script running past `busy-reply-threshold`: other clients get `-BUSY`, SCRIPT KILL ends
//! a script that has not written (`-UNKILLABLE` once it has), FUNCTION KILL is the wrong kill
//! for an EVAL, and the killed script's caller gets Redis's error. One case at a time (they
//! change the threshold server-wide and restore it).
//!
//! No sleeps: after the script is sent, `!until-has BUSY PING` on another connection waits
//! until each server is really running it and past the threshold (a command that arrives
//! before the server has read the script is answered normally — Redis may read the other
//! socket first — so a plain PING there would race); from then on every step is
//! deterministic. Connections are opened before the script starts (a connection's first
//! command in the RESP3 run is `HELLO 3`, which Redis answers even while busy).

use redis_compat_tests::*;

#[rustfmt::skip]
fn cases() -> Vec<Case> {
    vec![
        case("busy_then_script_kill", &["CONFIG SET busy-reply-threshold 100", "@b PING", r#"!send EVAL "while true do end" 0"#, "@b !until-has BUSY PING", "@b GET k", "@b FUNCTION KILL", "@b SCRIPT KILL", "!read", "@b PING", "PING", "SCRIPT KILL", "CONFIG SET busy-reply-threshold 5000"]),
        case("busy_pcall_cannot_swallow_kill", &["CONFIG SET lua-time-limit 100", "@b PING", r#"!send EVAL "while true do pcall(function() while true do end end) end" 0"#, "@b !until-has BUSY PING", "@b SCRIPT KILL", "!read", "PING", "CONFIG SET lua-time-limit 5000"]),
        // A script that wrote cannot be killed: it runs until it ends (here: 1.5 s by the clock).
        case("busy_unkillable_after_write", &["CONFIG SET busy-reply-threshold 100", "@b PING", "!send EVAL \"redis.call('set', KEYS[1], 'v') local t = redis.call('time') local s = t[1] * 1000000 + t[2] while true do local n = redis.call('time') if n[1] * 1000000 + n[2] - s > 1500000 then break end end return 'done'\" 1 busykey", "@b !until-has BUSY PING", "@b SCRIPT KILL", "!read", "GET busykey", "CONFIG SET busy-reply-threshold 5000"]),
        // Inside MULTI a refused command fails the transaction; SCRIPT KILL is queued, not run.
        case("busy_multi_refused", &["CONFIG SET busy-reply-threshold 100", "@b MULTI", "@c PING", r#"!send EVAL "while true do end" 0"#, "@c !until-has BUSY PING", "@b SET x 1", "@b SCRIPT KILL", "@c SCRIPT KILL", "!read", "@b EXEC", "CONFIG SET busy-reply-threshold 5000"]),
        // Unknown commands and arity errors come first; MULTI, WATCH, DISCARD run while busy.
        case("busy_allowed_commands", &["CONFIG SET busy-reply-threshold 100", "@b PING", r#"!send EVAL "while true do end" 0"#, "@b !until-has BUSY PING", "@b NOSUCH", "@b GET", "@b WATCH k", "@b MULTI", "@b GET k", "@b DISCARD", "@b UNWATCH", "@b SCRIPT KILL", "!read", "CONFIG SET busy-reply-threshold 5000"]),
        case("busy_function_kill", &["CONFIG SET busy-reply-threshold 100", "FUNCTION FLUSH", "FUNCTION LOAD \"#!lua name=loop\nredis.register_function('spin', function() while true do end end)\"", "@b PING", "!send FCALL spin 0", "@b !until-has BUSY PING", "@b SCRIPT KILL", "@b FUNCTION KILL", "!read", "PING", "FUNCTION FLUSH", "CONFIG SET busy-reply-threshold 5000"]),
    ]
}

fn main() {
    run_isolated(cases());
}
