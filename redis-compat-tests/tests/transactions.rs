//! MULTI / EXEC / DISCARD / WATCH / UNWATCH, including a second connection
//! (`@b`) that modifies watched keys.

use redis_compat_tests::*;

#[rustfmt::skip]
fn cases() -> Vec<Case> {
    vec![
        case("multi_exec", &["MULTI", "SET {k} 1", "INCR {k}", "GET {k}", "GET {k}missing", "PING", "ECHO x", "EXEC", "GET {k}", "DEL {k}"]),
        case("multi_empty", &["MULTI", "EXEC"]),
        case("multi_refuses_no_multi_commands", &["MULTI", "SAVE", "SET {k} v", "EXEC", "GET {k}", "MULTI", "SHUTDOWN NOSAVE", "DISCARD", "PING"]),
        // EXEC with arguments aborts, and unwatches every key (found by the command fuzzer).
        case("exec_arity_unwatches", &["WATCH {k}", "EXEC x", "@b SET {k} 1", "MULTI", "PING", "EXEC", "DEL {k}"]),
        case("multi_twice_exec", &["MULTI", "SET {k} 1", "EXEC", "EXEC", "DEL {k}"]),
        case("exec_without_multi", &["EXEC", "DISCARD"]),
        case("multi_nested", &["MULTI", "MULTI", "SET {k} 1", "EXEC", "GET {k}", "DEL {k}"]),
        case("multi_discard", &["MULTI", "SET {k} 1", "DISCARD", "GET {k}", "DISCARD", "EXEC"]),
        case("multi_other_conn_unaffected", &["MULTI", "SET {k} 1", "@b GET {k}", "@b SET {k} other", "EXEC", "@b GET {k}", "DEL {k}"]),
        // Errors while queueing abort the whole transaction
        case("multi_execabort_unknown", &["MULTI", "SET {k} 1", "NOSUCHCMD a", "SET {k}b 2", "EXEC", "GET {k}", "EXISTS {k}b"]),
        case("multi_execabort_arity", &["MULTI", "SET {k} 1", "GET", "EXEC", "GET {k}"]),
        case("multi_execabort_then_discard", &["MULTI", "NOSUCHCMD", "DISCARD", "EXEC"]),
        case("multi_exec_bad_arity", &["MULTI", "SET {k} 1", "EXEC x", "EXEC", "GET {k}"]),
        case("multi_discard_bad_arity", &["MULTI", "SET {k} 1", "DISCARD x", "EXEC", "GET {k}", "DEL {k}"]),
        // Errors at EXEC time do not stop the other commands
        case("multi_runtime_error", &["SET {k} abc", "MULTI", "INCR {k}", "SET {k}b 1", "INCRBY {k}b 5", "SET {k} v EX 0", "EXEC", "MGET {k} {k}b", "DEL {k} {k}b"]),
        case("multi_syntax_error_is_runtime", &["MULTI", "SET {k} v FOO", "SET {k}b 1", "EXEC", "EXISTS {k} {k}b", "DEL {k}b"]),
        case("multi_select", &["MULTI", "SELECT 4", "SET {k} in4", "SELECT 0", "GET {k}", "EXEC", "SELECT 4", "GET {k}", "DEL {k}"]),
        case("multi_not_allowed", &["MULTI", "WATCH {k}", "SET {k} 1", "EXEC", "GET {k}", "DEL {k}"]),
        // WATCH
        case("watch_modified_by_other", &["SET {k} 1", "WATCH {k}", "@b SET {k} 2", "MULTI", "GET {k}", "INCR {k}", "EXEC", "GET {k}", "DEL {k}"]),
        case("watch_modified_by_self", &["SET {k} 1", "WATCH {k}", "SET {k} 2", "MULTI", "GET {k}", "EXEC", "DEL {k}"]),
        case("watch_untouched", &["SET {k} 1", "WATCH {k} {k}other", "@b GET {k}", "@b SET {k}unrelated x", "MULTI", "INCR {k}", "EXEC", "DEL {k} {k}unrelated"]),
        case("watch_missing_key_created", &["WATCH {k}", "@b SET {k} x", "MULTI", "GET {k}", "EXEC", "DEL {k}"]),
        case("watch_missing_key_noop_del", &["WATCH {k}", "@b DEL {k}", "MULTI", "PING", "EXEC"]),
        case("watch_deleted", &["SET {k} 1", "WATCH {k}", "@b DEL {k}", "MULTI", "PING", "EXEC"]),
        case("watch_expire_set", &["SET {k} 1", "WATCH {k}", "@b EXPIRE {k} 100", "MULTI", "PING", "EXEC", "DEL {k}"]),
        case("watch_same_value", &["SET {k} 1", "WATCH {k}", "@b SET {k} 1", "MULTI", "PING", "EXEC", "DEL {k}"]),
        case("watch_then_unwatch", &["SET {k} 1", "WATCH {k}", "UNWATCH", "@b SET {k} 2", "MULTI", "GET {k}", "EXEC", "UNWATCH", "DEL {k}"]),
        case("watch_reset_after_exec", &["WATCH {k}", "MULTI", "EXEC", "@b SET {k} 1", "MULTI", "GET {k}", "EXEC", "DEL {k}"]),
        case("watch_reset_after_discard", &["WATCH {k}", "MULTI", "DISCARD", "@b SET {k} 1", "MULTI", "GET {k}", "EXEC", "DEL {k}"]),
        case("watch_other_db", &["WATCH {k}", "@b SELECT 1", "@b SET {k} 1", "MULTI", "PING", "EXEC", "@b DEL {k}"]),
        case("watch_multiple_times", &["WATCH {k}", "WATCH {k}", "WATCH {k}b", "@b SET {k}b 1", "MULTI", "PING", "EXEC", "DEL {k}b"]),
        case("watch_aborted_exec_discards_queue", &["WATCH {k}", "@b SET {k} 1", "MULTI", "SET {k}b 2", "EXEC", "EXISTS {k}b", "DEL {k}"]),
    ]
}

fn main() {
    run(cases());
}
