//! Wire protocol: inline commands, pipelining, partial requests, malformed
//! input (error reply, then the server closes the connection), unknown
//! commands and arity errors.

use redis_compat_tests::*;

#[rustfmt::skip]
fn cases() -> Vec<Case> {
    let long = "x".repeat(200);
    let big_inline = format!(">{}", "a".repeat(70 * 1024));
    let big_mbulk = format!(">*{}", "1".repeat(70 * 1024));
    let big_bulk = format!(r">*1\r\n${}", "1".repeat(70 * 1024));
    let many_args = format!("FOO {}", (0..40).map(|i| i.to_string()).collect::<Vec<_>>().join(" "));
    vec![
        // Inline commands
        case("inline_ping", &[r">PING\r\n", r">ping\r\n", r">PING\n", r">PING hi\r\n"]),
        case("inline_echo", &[r">ECHO hi\r\n", r">ECHO   spaced   \r\n", r#">ECHO "a b"\r\n"#, r">ECHO 'c d'\r\n"]),
        case("inline_quotes", &[r#">ECHO "\\x41\\n"\r\n"#, r">ECHO 'it\\'s'\r\n", r#">ECHO a"b c"\r\n"#, r#">ECHO ""\r\n"#, r#">ECHO "a\\"b"\r\n"#]),
        case("inline_set_get", &[r#">SET {k} "two words"\r\n"#, "GET {k}", r">GET {k}\r\n", r">DEL {k}\r\n"]),
        case("inline_unknown", &[r">FOO bar baz\r\n", r">FOO\r\n", r">$5\r\n", r">+PING\r\n", r">:1\r\n"]),
        case("inline_empty_lines", &[r"!send >\r\n", "!silence", r"!send >   \r\n", "!silence", r"!send >\n", "!silence", "PING"]),
        case("inline_unbalanced_double", &[r#">ECHO "abc\r\n"#, "!closed"]),
        case("inline_unbalanced_single", &[r">ECHO 'abc\r\n", "!closed"]),
        case("inline_quote_then_char", &[r#">ECHO "a"b\r\n"#, "!closed"]),
        case("inline_too_big", &[step(&big_inline), step("!closed")]),
        // Pipelining and partial requests
        case("pipeline_inline", &[r">PING\r\nPING\r\nECHO x\r\n", "!read", "!read"]),
        case("pipeline_mixed", &[r">*1\r\n$4\r\nPING\r\nPING\r\n*2\r\n$4\r\nECHO\r\n$1\r\ny\r\n", "!read", "!read", "PING"]),
        case("partial_multibulk", &[r"!send >*2\r\n$4\r\nECHO\r\n$5\r\nhel", "!silence", r">lo\r\n", "!send >*", "!silence", r">1\r\n$4\r\nPING\r\n"]),
        case("partial_inline", &["!send >ECH", "!silence", r">O split\r\n"]),
        case("empty_multibulk", &[r"!send >*0\r\n", "!silence", r"!send >*-1\r\n", "!silence", r"!send >*-5\r\n", "!silence", r">*0\r\nPING\r\n"]),
        case("empty_command_name", &[r">*1\r\n$0\r\n\r\n", "PING"]),
        case("binary_args", &[r#"SET {k} "\x00\r\n\xff""#, "GET {k}", r">*2\r\n$4\r\nECHO\r\n$3\r\n\x00\r\n\r\n", "DEL {k}"]),
        // Malformed multibulk: error reply, then the connection is closed
        case("bad_nested_multibulk", &[r">*1\r\n*1\r\n", "!closed"]),
        case("bad_multibulk_length", &[r">*abc\r\n", "!closed"]),
        case("bad_multibulk_length_huge", &[r">*2147483648\r\n", "!closed"]),
        case("bad_multibulk_length_trailing", &[r">*1x\r\n", "!closed"]),
        case("bad_expected_dollar", &[r">*1\r\n:1\r\n", "!closed"]),
        case("bad_expected_dollar_plus", &[r">*2\r\n$4\r\nECHO\r\n+hi\r\n", "!closed"]),
        case("bad_bulk_length", &[r">*1\r\n$abc\r\n", "!closed"]),
        case("bad_bulk_length_negative", &[r">*1\r\n$-1\r\n", "!closed"]),
        case("bad_bulk_length_over_max", &[r">*1\r\n$536870913\r\n", "!closed"]),
        case("bad_mbulk_count_too_big", &[step(&big_mbulk), step("!closed")]),
        case("bad_bulk_count_too_big", &[step(&big_bulk), step("!closed")]),
        case("bad_after_good", &[r">PING\r\n*1\r\n*1\r\n", "!read", "!closed"]),
        // Unknown commands and arity
        case("unknown_command", &["FOO a b", "FOO", "foo \"\"", "\"\" x", &format!("FOO {long}"), &many_args, "\"a b\" c", "FOO \"a'b\"", r#"FOO "a\nb""#]),
        case("unknown_subcommand", &["CONFIG FOO", "CLIENT FOO", "COMMAND FOO", "OBJECT FOO"]),
        case("wrong_arity", &["GET", "GET a b", "SET k", "DEL", "UNLINK", "EXISTS", "MGET", "MSET", "MSET a", "INCR", "INCRBY k", "DECRBY k", "EXPIRE k", "PEXPIRE k", "TTL", "PTTL a b", "PERSIST", "TYPE", "RENAME a", "KEYS", "SCAN", "DBSIZE x", "SETNX k", "ECHO", "SELECT", "MULTI x", "EXEC x", "DISCARD x", "WATCH", "UNWATCH x", "TIME x", "XADD k", "XLEN", "XRANGE k -", "XREAD", "CONFIG GET", "CONFIG SET a", "CLIENT SETNAME", "COMMAND GETKEYS", "COMMAND COUNT x", "INFO a b c"]),
    ]
}

fn main() {
    run(cases());
}
