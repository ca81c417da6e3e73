//! String commands: GET/SET and its options, SETNX, SETEX/PSETEX, GETEX, GETDEL, GETSET, APPEND,
//! STRLEN, GETRANGE, SETRANGE, INCR family, INCRBYFLOAT, MGET/MSET/MSETNX.

use redis_compat_tests::pred::int_between;
use redis_compat_tests::*;

fn ttl_about(cmd: &str, lo: i64, hi: i64) -> Step {
    check(cmd, &format!("integer in {lo}..={hi}"), int_between(lo, hi))
}

#[rustfmt::skip]
fn cases() -> Vec<Case> {
    let big = format!("SET {{k}} {}", "x".repeat(100_000));
    // Lower bound of a TTL to 2100 in seconds (valid until 2033).
    let far = 4_102_444_800 - 2_000_000_000;
    // Redis parses at most 5,119 characters as a float (MAX_LONG_DOUBLE_CHARS).
    let float_5119 = format!("SET {{k}}l {}1", "0".repeat(5118));
    let float_5120 = format!("SET {{k}}l {}1", "0".repeat(5119));
    vec![
        case("set_get", &["GET {k}", "SET {k} v", "GET {k}", "GET {k}missing", "SET {k} \"\"", "GET {k}", r#"SET {k} "a b\r\n\x00""#, "GET {k}", "set {k} lower", "get {k}", "DEL {k}"]),
        case("set_get_big", &[step(&big), step("GET {k}"), step("DEL {k}")]),
        case("set_overwrites_ttl", &[step("SET {k} v EX 100"), step("SET {k} w"), step("TTL {k}"), step("DEL {k}")]),
        // Expiration options
        case("set_ex_px", &[step("SET {k} v EX 100"), ttl_about("TTL {k}", 99, 100), step("SET {k} v PX 100000"), ttl_about("PTTL {k}", 99_000, 100_000), step("set {k} v ex 50"), ttl_about("TTL {k}", 49, 50), step("DEL {k}")]),
        case("set_exat_pxat", &[step("SET {k} v EXAT 4102444800"), ttl_about("TTL {k}", far, 4_102_444_800), step("SET {k} v PXAT 4102444800000"), ttl_about("PTTL {k}", far * 1000, 4_102_444_800_000), step("SET {k} v EXAT 1"), step("GET {k}"), step("SET {k} v PXAT 1"), step("EXISTS {k}")]),
        case("set_expire_errors", &[
            "SET {k} v EX 0", "SET {k} v EX -1", "SET {k} v PX 0", "SET {k} v PX -5", "SET {k} v EXAT 0", "SET {k} v PXAT -1",
            "SET {k} v EX abc", "SET {k} v EX 1.5", "SET {k} v PX \"\"", "SET {k} v EX", "SET {k} v PX", "SET {k} v EXAT",
            "SET {k} v EX 9223372036854775807", "SET {k} v EX 9223372036854775", "SET {k} v PX 9223372036854775807", "SET {k} v EXAT 9223372036854775807", "SET {k} v PXAT 9223372036854775807",
            "SET {k} v EX 99999999999999999999", "EXISTS {k}",
        ]),
        case("set_option_conflicts", &[
            "SET {k} v EX 10 PX 100", "SET {k} v EX 10 EX 20", "SET {k} v EX 10 EXAT 4102444800", "SET {k} v PX 10 PXAT 4102444800000",
            "SET {k} v NX XX", "SET {k} v KEEPTTL EX 10", "SET {k} v EX 10 KEEPTTL", "SET {k} v PXAT 1 KEEPTTL", "SET {k} v FOO", "SET {k} v NX NX", "SET {k} v GET GET", "SET {k} v 10",
            "EXISTS {k}",
        ]),
        // NX / XX / GET / KEEPTTL
        case("set_nx_xx", &["SET {k} v XX", "GET {k}", "SET {k} v NX", "SET {k} w NX", "GET {k}", "SET {k} w XX", "GET {k}", "set {k} x xx", "GET {k}", "DEL {k}"]),
        case("set_get_option", &["SET {k} v GET", "SET {k} w GET", "SET {k} x NX GET", "GET {k}", "SET {k} y XX GET", "SET {k}missing z XX GET", "EXISTS {k}missing", "SET {k} big EX 100 GET", "DEL {k}"]),
        case("set_keepttl", &[step("SET {k} v EX 100"), step("SET {k} w KEEPTTL"), ttl_about("TTL {k}", 99, 100), step("GET {k}"), step("SET {k} x"), step("TTL {k}"), step("SET {k} y KEEPTTL"), step("TTL {k}"), step("SET {k}new z KEEPTTL"), step("TTL {k}new"), step("DEL {k} {k}new")]),
        // SETNX
        case("setnx", &["SETNX {k} a", "SETNX {k} b", "GET {k}", "SETNX {k} a b", "DEL {k}"]),
        // INCR family
        case("incr_decr", &["INCR {k}", "INCRBY {k} 10", "DECR {k}", "DECRBY {k} 5", "INCRBY {k} -10", "DECRBY {k} -3", "GET {k}", "INCRBY {k} 0", "TYPE {k}", "DEL {k}"]),
        case("incr_parsing", &[
            "SET {k} \" 1\"", "INCR {k}", "SET {k} \"1 \"", "INCR {k}", "SET {k} 01", "INCR {k}", "SET {k} +1", "INCR {k}", "SET {k} -0", "INCR {k}",
            "SET {k} 1.5", "INCR {k}", "SET {k} abc", "INCR {k}", "SET {k} \"\"", "INCR {k}", "SET {k} 10", "INCRBY {k} abc", "INCRBY {k} 1.0", "DECRBY {k} \"\"",
            "INCRBY {k} 99999999999999999999", "GET {k}", "DEL {k}",
        ]),
        case("incr_overflow", &[
            "SET {k} 9223372036854775807", "INCR {k}", "INCRBY {k} 1", "DECRBY {k} -1", "GET {k}",
            "SET {k} -9223372036854775808", "DECR {k}", "DECRBY {k} 1", "INCRBY {k} -1", "DECRBY {k} -9223372036854775808", "GET {k}",
            "SET {k} 0", "DECRBY {k} -9223372036854775808", "INCRBY {k} -9223372036854775808", "INCRBY {k} 9223372036854775807", "INCR {k}",
            "SET {k} 9223372036854775808", "INCR {k}", "DEL {k}",
        ]),
        // INCRBYFLOAT: C's long double, printed with 17 decimals and trailing zeros cut
        case("incrbyfloat", &[
            "INCRBYFLOAT {k} 1", "INCRBYFLOAT {k} 0.1", "INCRBYFLOAT {k} -1.1", "GET {k}", "SET {k} 10.50", "INCRBYFLOAT {k} 0.1",
            "SET {k} 5.0e3", "INCRBYFLOAT {k} 2.0e2", "INCRBYFLOAT {k} 1e-17", "INCRBYFLOAT {k} 1e-18", "INCRBYFLOAT {k} 0.3333333333333333333333",
            "SET {k} 17179869184", "INCRBYFLOAT {k} 1.5", "INCRBYFLOAT {k} 0x10", "INCRBYFLOAT {k} -17179869201.5", "INCRBYFLOAT {k} -0.000000000000000001",
            "INCRBYFLOAT {k} +3.0e3", "INCRBYFLOAT {k} 1.23456789012345678901", "INCRBYFLOAT {k} -1e-5000", "INCRBYFLOAT {k} 9223372036854775807",
            "INCRBYFLOAT {k} 1e300", "INCRBYFLOAT {k} 1.1e4000", "STRLEN {k}", "INCRBYFLOAT {k} -1.1e4000", "INCRBYFLOAT {k} infinity", "TYPE {k}", "DEL {k}",
        ]),
        case("incrbyfloat_errors", &[
            "SET {k} abc", "INCRBYFLOAT {k} 1", "SET {k} \" 1\"", "INCRBYFLOAT {k} 1", "SET {k} \"1 \"", "INCRBYFLOAT {k} 1", "SET {k} \"\"", "INCRBYFLOAT {k} 1",
            "SET {k} 1", "INCRBYFLOAT {k} abc", "INCRBYFLOAT {k} \"\"", "INCRBYFLOAT {k} nan", "INCRBYFLOAT {k} -nan", "INCRBYFLOAT {k} inf", "INCRBYFLOAT {k} -inf",
            "INCRBYFLOAT {k} 1e99999", "INCRBYFLOAT {k} -1e99999", "INCRBYFLOAT {k} 1e-99999", "INCRBYFLOAT {k} \"1\\x002\"", "INCRBYFLOAT {k} 1,5", "GET {k}",
            "SET {k} inf", "INCRBYFLOAT {k} 1", "SET {k} 1.1e4932", "INCRBYFLOAT {k} 1.1e4932", "INCRBYFLOAT {k} -1.1e4932", "GET {k}",
            "XADD {k}s 1-1 f v", "INCRBYFLOAT {k}s 1", "INCRBYFLOAT {k}s abc", "INCRBYFLOAT {k}", "INCRBYFLOAT {k} 1 2", "INCRBYFLOAT", "DEL {k} {k}s",
        ]),
        case("incrbyfloat_long_input", &[step(&float_5119), step("INCRBYFLOAT {k}l 1"), step(&float_5120), step("INCRBYFLOAT {k}l 1"), step("INCRBYFLOAT {k} 0000000000000000000000000000000000000000000000000001.5"), step("DEL {k} {k}l")]),
        case("incrbyfloat_keeps_ttl", &[step("SET {k} 1.5 EX 100"), step("INCRBYFLOAT {k} 1"), ttl_about("TTL {k}", 99, 100), step("GET {k}"), step("DEL {k}")]),
        case("incr_keeps_ttl", &[step("SET {k} 1 EX 100"), step("INCR {k}"), ttl_about("TTL {k}", 99, 100), step("DEL {k}")]),
        // MGET / MSET
        case("mget", &["MSET {k}a 1 {k}b 2", "MGET {k}a {k}b {k}missing {k}a", "MGET {k}missing", "DEL {k}a {k}b"]),
        case("mset", &["MSET {k}a 1 {k}b 2 {k}a 3", "MGET {k}a {k}b", "MSET {k}a", "MSET {k}a 1 {k}b", "SET {k}c v EX 100", "MSET {k}c w", "TTL {k}c", "DEL {k}a {k}b {k}c"]),
        case("msetnx", &["MSETNX {k}a 1 {k}b 2", "MGET {k}a {k}b", "MSETNX {k}b 3 {k}c 4", "MGET {k}b {k}c", "MSETNX {k}c 5 {k}c 6", "GET {k}c", "MSETNX {k}a", "MSETNX {k}d 1 {k}e", "MSETNX", "XADD {k}s 1-1 f v", "MSETNX {k}s 1 {k}f 2", "EXISTS {k}f", "DEL {k}a {k}b {k}c {k}s"]),
        // STRLEN, GETDEL, GETSET, APPEND
        case("strlen", &["STRLEN {k}", "SET {k} hello", "STRLEN {k}", "SET {k} \"\"", "STRLEN {k}", "SET {k} 12345", "INCR {k}", "STRLEN {k}", "XADD {k}s 1-1 f v", "STRLEN {k}s", "STRLEN", "STRLEN {k} x", "DEL {k} {k}s"]),
        case("getdel", &["GETDEL {k}", "SET {k} v EX 100", "GETDEL {k}", "EXISTS {k}", "GETDEL {k}", "XADD {k}s 1-1 f v", "GETDEL {k}s", "EXISTS {k}s", "GETDEL", "GETDEL {k} x", "DEL {k}s"]),
        case("getset", &["GETSET {k} a", "GETSET {k} b", "GET {k}", "SET {k} c EX 100", "GETSET {k} d", "TTL {k}", "XADD {k}s 1-1 f v", "GETSET {k}s x", "TYPE {k}s", "GETSET {k}", "DEL {k} {k}s"]),
        case("append", &[step("APPEND {k} hello"), step("APPEND {k} \" world\""), step("GET {k}"), step("APPEND {k} \"\""), step("SET {k}t 1 EX 100"), step("APPEND {k}t 2"), ttl_about("TTL {k}t", 99, 100), step("GET {k}t"), step("INCR {k}t"), step("APPEND {k}e \"\""), step("EXISTS {k}e"), step("XADD {k}s 1-1 f v"), step("APPEND {k}s x"), step("APPEND {k}"), step("DEL {k} {k}t {k}e {k}s")]),
        // SETEX / PSETEX
        case("setex_psetex", &[step("SETEX {k} 100 v"), ttl_about("TTL {k}", 99, 100), step("GET {k}"), step("PSETEX {k} 100000 w"), ttl_about("PTTL {k}", 99_000, 100_000), step("GET {k}"), step("XADD {k}s 1-1 f v"), step("SETEX {k}s 100 x"), step("TYPE {k}s"), step("DEL {k} {k}s")]),
        case("setex_errors", &[
            "SETEX {k} 0 v", "SETEX {k} -1 v", "SETEX {k} abc v", "SETEX {k} 1.5 v", "SETEX {k} 9223372036854775807 v", "SETEX {k} 9223372036854775 v",
            "PSETEX {k} 0 v", "PSETEX {k} -5 v", "PSETEX {k} x v", "PSETEX {k} 9223372036854775807 v", "SETEX {k} 10", "PSETEX {k} 10 v x", "EXISTS {k}",
        ]),
        // GETEX
        case("getex", &[
            step("GETEX {k}"), step("GETEX {k} EX 10"), step("SET {k} v"), step("GETEX {k}"), step("TTL {k}"), step("GETEX {k} EX 100"), ttl_about("TTL {k}", 99, 100),
            step("GETEX {k} PX 200000"), ttl_about("PTTL {k}", 199_000, 200_000), step("GETEX {k} PERSIST"), step("TTL {k}"), step("GETEX {k} EXAT 4102444800"), ttl_about("TTL {k}", far, 4_102_444_800),
            step("GETEX {k} PXAT 4102444800000"), ttl_about("PTTL {k}", far * 1000, 4_102_444_800_000), step("GETEX {k} persist"), step("TTL {k}"), step("GETEX {k} EX 10 EX 100"), ttl_about("TTL {k}", 99, 100),
            step("GETEX {k} PERSIST PERSIST"), step("TTL {k}"), step("GETEX {k} EXAT 1"), step("EXISTS {k}"), step("SET {k} v"), step("GETEX {k} PXAT 1"), step("EXISTS {k}"),
        ]),
        case("getex_errors", &[
            "SET {k} v", "GETEX {k} EX", "GETEX {k} EX 10 PX 100", "GETEX {k} EX 10 PERSIST", "GETEX {k} PERSIST EX 10", "GETEX {k} FOO", "GETEX {k} EX 0", "GETEX {k} EX -1",
            "GETEX {k} EX abc", "GETEX {k} PX 0", "GETEX {k} EXAT 0", "GETEX {k} EX 9223372036854775807", "GETEX {k} PX 9223372036854775807", "GETEX {k} KEEPTTL",
            "GETEX {k}missing EX 0", "GETEX {k}missing FOO", "XADD {k}s 1-1 f v", "GETEX {k}s", "GETEX {k}s EX 0", "GETEX {k}s FOO", "GETEX", "TTL {k}", "DEL {k} {k}s",
        ]),
        // GETRANGE / SETRANGE
        case("getrange", &[
            "SET {k} \"This is a string\"", "GETRANGE {k} 0 3", "GETRANGE {k} -3 -1", "GETRANGE {k} 0 -1", "GETRANGE {k} 10 100", "GETRANGE {k} 5 3", "GETRANGE {k} -1 -5",
            "GETRANGE {k} -100 2", "GETRANGE {k} -100 -100", "GETRANGE {k} 100 200", "GETRANGE {k} 0 0", "GETRANGE {k} -1 0", "GETRANGE {k} 15 15", "GETRANGE {k} 16 16",
            "GETRANGE {k} 0 9223372036854775807", "GETRANGE {k} -9223372036854775808 -1", "GETRANGE {k} a 1", "GETRANGE {k} 1 1.5", "GETRANGE {k}missing 0 -1", "GETRANGE {k}missing x 1",
            "SET {k}e \"\"", "GETRANGE {k}e 0 -1", "GETRANGE {k}e 0 0", "XADD {k}s 1-1 f v", "GETRANGE {k}s 0 1", "GETRANGE {k}s x 1", "GETRANGE {k} 0", "DEL {k} {k}e {k}s",
        ]),
        case("setrange", &[
            "SETRANGE {k} 0 hello", "GET {k}", "SETRANGE {k} 6 world", "GET {k}", "SETRANGE {k} 1 a", "GET {k}", "SETRANGE {k} 3 \"\"", "GET {k}",
            "SETRANGE {k}m 5 \"\"", "EXISTS {k}m", "SETRANGE {k}m 2 x", "GET {k}m", "SETRANGE {k} -1 x", "SETRANGE {k} abc x", "SETRANGE {k} 1.5 x",
            "SETRANGE {k} 536870912 x", "SETRANGE {k} 9223372036854775807 x", "SETRANGE {k}n 536870912 \"\"", "SETRANGE {k}n -1 \"\"", "EXISTS {k}n",
            "SET {k}t 1 EX 100", "SETRANGE {k}t 1 2", "GET {k}t", "XADD {k}s 1-1 f v", "SETRANGE {k}s 0 x", "SETRANGE {k}s 0 \"\"", "SETRANGE {k}s -1 x", "SETRANGE {k} 1", "DEL {k} {k}m {k}t {k}s",
        ]),
        case("setrange_keeps_ttl", &[step("SET {k} abc EX 100"), step("SETRANGE {k} 1 z"), ttl_about("TTL {k}", 99, 100), step("GET {k}"), step("DEL {k}")]),
        case("string_command_docs", &["COMMAND INFO strlen setex psetex getex getdel", "COMMAND INFO getset append msetnx getrange setrange", "COMMAND DOCS getset", "COMMAND DOCS getex", "COMMAND DOCS msetnx", "COMMAND DOCS append getrange setrange strlen setex psetex getdel", "COMMAND INFO incrbyfloat", "COMMAND DOCS incrbyfloat"]),
    ]
}

fn main() {
    run(cases());
}
