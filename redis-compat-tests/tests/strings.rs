//! String commands: GET/SET and its options, SETNX, INCR family, MGET/MSET.

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
        case("incr_keeps_ttl", &[step("SET {k} 1 EX 100"), step("INCR {k}"), ttl_about("TTL {k}", 99, 100), step("DEL {k}")]),
        // MGET / MSET
        case("mget", &["MSET {k}a 1 {k}b 2", "MGET {k}a {k}b {k}missing {k}a", "MGET {k}missing", "DEL {k}a {k}b"]),
        case("mset", &["MSET {k}a 1 {k}b 2 {k}a 3", "MGET {k}a {k}b", "MSET {k}a", "MSET {k}a 1 {k}b", "SET {k}c v EX 100", "MSET {k}c w", "TTL {k}c", "DEL {k}a {k}b {k}c"]),
    ]
}

fn main() {
    run(cases());
}
