//! Generic keyspace commands on the case's own keys (run in parallel):
//! DEL, UNLINK, EXISTS, TYPE, KEYS/SCAN with a `{k}` prefix, RENAME,
//! EXPIRE family, TTL/PTTL, PERSIST. Whole-keyspace checks are in
//! tests/isolated.rs.

use redis_compat_tests::pred::int_between;
use redis_compat_tests::*;

/// 2100-01-01T00:00:00Z
const Y2100: i64 = 4_102_444_800;

fn ttl_about(cmd: &str, lo: i64, hi: i64) -> Step {
    check(cmd, &format!("integer in {lo}..={hi}"), int_between(lo, hi))
}

#[rustfmt::skip]
fn cases() -> Vec<Case> {
    // Lower bound of a TTL to 2100 in seconds (valid until 2033).
    let far = Y2100 - 2_000_000_000;
    vec![
        // DEL / UNLINK / EXISTS / TYPE
        case("del", &["MSET {k}a 1 {k}b 2", "DEL {k}a {k}b {k}c", "DEL {k}a", "EXISTS {k}a {k}b", "SET {k}a 1", "DEL {k}a {k}a"]),
        case("unlink", &["MSET {k}a 1 {k}b 2", "UNLINK {k}a {k}b {k}c", "UNLINK {k}a", "EXISTS {k}a"]),
        case("exists", &["EXISTS {k}", "SET {k} v", "EXISTS {k}", "EXISTS {k} {k} {k}missing {k}", "DEL {k}", "EXISTS {k} {k}"]),
        case("type", &["TYPE {k}", "SET {k} v", "TYPE {k}", "SET {k} 12", "TYPE {k}", "DEL {k}", "TYPE {k}", "TYPE {k} x"]),
        // KEYS with a pattern (order is unspecified: compare as a set)
        case("keys_patterns", &[
            "MSET {k}:a 1 {k}:b 2 {k}:ab 3 {k}:c? 4 {k}:x*y 5 {k}:[z] 6 {k}:A 7",
            "%KEYS {k}:*", "%KEYS {k}:?", "%KEYS {k}:??", "%KEYS {k}:[ab]", "%KEYS {k}:[^a]*", "%KEYS {k}:[a-b]*",
            r"%KEYS {k}:c\?", r"%KEYS {k}:x\*y", r"%KEYS {k}:\[z\]", "%KEYS {k}:[[]z]", "%KEYS {k}:[a", "%KEYS {k}:*[", "%KEYS {k}:a*", "KEYS {k}:nomatch*", "%KEYS {k}:*b",
            "DEL {k}:a {k}:b {k}:ab {k}:c? {k}:x*y {k}:[z] {k}:A",
        ]),
        // SCAN: the set of keys collected over a full iteration is compared, not the cursors
        case("scan_match", &[
            "MSET {k}:1 a {k}:2 b {k}:3 c {k}:4 d {k}:5 e {k}:10 f {k}:11 g",
            "!scan SCAN {cursor} MATCH {k}:*", "!scan SCAN {cursor} MATCH {k}:1*", "!scan SCAN {cursor} MATCH {k}:? COUNT 2",
            "!scan SCAN {cursor} COUNT 1000 MATCH {k}:1?", "!scan SCAN {cursor} MATCH {k}:* TYPE string", "!scan SCAN {cursor} MATCH {k}:* TYPE stream",
            "!scan SCAN {cursor} TYPE STRING MATCH {k}:*", "!scan SCAN {cursor} MATCH {k}:nomatch*",
            "DEL {k}:1 {k}:2 {k}:3 {k}:4 {k}:5 {k}:10 {k}:11",
        ]),
        case("scan_errors", &["SCAN abc", "SCAN -1 MATCH {k}nomatch", "SCAN 0 COUNT 0", "SCAN 0 COUNT -1", "SCAN 0 COUNT x", "SCAN 0 COUNT", "SCAN 0 MATCH", "SCAN 0 TYPE", "SCAN 0 FOO", "SCAN 0 MATCH a MATCH {k}nomatch", "SCAN 18446744073709551616", "SCAN \"\" COUNT 0", "SCAN \" 0\"", "SCAN 0x1", "SCAN +18446744073709551615 MATCH {k}nomatch", "!scan SCAN {cursor} MATCH {k}* TYPE nosuchtype"]),
        // RENAME / RENAMENX
        case("rename", &["RENAME {k}missing {k}x", "SET {k}a 1", "RENAME {k}a {k}a", "RENAME {k}a {k}b", "EXISTS {k}a", "GET {k}b", "SET {k}c 3", "RENAME {k}b {k}c", "GET {k}c", "RENAME {k}c {k}c", "DEL {k}c"]),
        case("renamenx", &["RENAMENX {k}missing {k}x", "MSET {k}a 1 {k}b 2", "RENAMENX {k}a {k}b", "RENAMENX {k}a {k}a", "RENAMENX {k}a {k}c", "MGET {k}a {k}b {k}c", "DEL {k}b {k}c"]),
        case("rename_keeps_ttl", &[step("SET {k}a v EX 100"), step("RENAME {k}a {k}b"), ttl_about("TTL {k}b", 95, 100), step("SET {k}c w"), step("RENAME {k}c {k}b"), step("TTL {k}b"), step("DEL {k}b")]),
        // TTL / PTTL / PERSIST
        case("ttl_missing_and_persistent", &["TTL {k}", "PTTL {k}", "SET {k} v", "TTL {k}", "PTTL {k}", "PERSIST {k}", "PERSIST {k}missing", "DEL {k}"]),
        case("ttl_values", &[step("SET {k} v EX 100"), ttl_about("TTL {k}", 99, 100), ttl_about("PTTL {k}", 98_000, 100_000), step("PERSIST {k}"), step("PERSIST {k}"), step("TTL {k}"), step("DEL {k}")]),
        // EXPIRE / PEXPIRE / EXPIREAT / PEXPIREAT
        case("expire_basic", &[step("EXPIRE {k} 100"), step("SET {k} v"), step("EXPIRE {k} 100"), ttl_about("TTL {k}", 99, 100), step("PEXPIRE {k} 50000"), ttl_about("PTTL {k}", 49_000, 50_000), ttl_about("TTL {k}", 49, 50), step("DEL {k}")]),
        case("expire_at", &[step("SET {k} v"), step("EXPIREAT {k} 4102444800"), ttl_about("TTL {k}", far, Y2100), step("PEXPIREAT {k} 4102444800000"), ttl_about("PTTL {k}", far * 1000, Y2100 * 1000), step("EXPIREAT {k}missing 1"), step("DEL {k}")]),
        case("expire_in_past_deletes", &["SET {k} v", "EXPIRE {k} -1", "EXISTS {k}", "SET {k} v", "PEXPIRE {k} 0", "EXISTS {k}", "SET {k} v", "EXPIREAT {k} 1", "GET {k}", "SET {k} v", "PEXPIREAT {k} 0", "TTL {k}"]),
        case("expire_options", &[
            "SET {k} v",
            "EXPIRE {k} 100 XX", "EXPIRE {k} 100 GT", "EXPIRE {k} 100 NX", "EXPIRE {k} 200 NX", "EXPIRE {k} 50 GT", "EXPIRE {k} 200 GT",
            "EXPIRE {k} 300 LT", "EXPIRE {k} 100 LT", "EXPIRE {k} 100 XX", "EXPIRE {k} 100 xx", "EXPIRE {k} 90 LT XX",
            "PERSIST {k}", "EXPIRE {k} 100 LT", "PERSIST {k}", "PEXPIRE {k} 100000 GT", "PEXPIREAT {k} 4102444800000 NX", "EXPIREAT {k} 4102444800 NX",
            "EXPIRE {k}missing 100 NX", "DEL {k}",
        ]),
        case("expire_option_errors", &[
            "SET {k} v", "EXPIRE {k} 100 NX XX", "EXPIRE {k} 100 XX NX", "EXPIRE {k} 100 GT LT", "EXPIRE {k} 100 NX GT", "EXPIRE {k} 100 NX LT",
            "EXPIRE {k} 100 FOO", "EXPIRE {k} 100 NX NX", "PEXPIRE {k} 100 BAR", "EXPIREAT {k} 100 nx gt", "TTL {k}", "DEL {k}",
        ]),
        // The options are checked before the time (found by the differential fuzzer).
        case("expire_options_before_time", &["SET {k} v", "EXPIRE {k} abc FOO", "PEXPIREAT {k} - s", "EXPIRE {k} abc NX XX", "EXPIRE {k} abc GT LT", "EXPIRE {k} abc NX", "EXPIREAT {k}missing x FOO", "TTL {k}", "DEL {k}"]),
        // The unsupported option is echoed as C's %s does (up to a NUL, in full) and CR/LF are
        // trimmed off the end of the message (found by the differential fuzzer).
        case("expire_option_text", &[r#"EXPIRE {k} 1 "a\r""#, r#"EXPIRE {k} 1 "a\x00b""#, r#"EXPIRE {k} 1 "\r\na\r\n\r""#, "EXPIRE {k} 1 LONGoooooooooooooooooooooooooooooooooooooooooooooooooooooooooooooooooooooooooooooooooooooooooooooooooooooooooooooooooooooooooooooooooooooooooooooooooooooo"]),
        case("expire_invalid_time", &[
            "SET {k} v", "EXPIRE {k} abc", "EXPIRE {k} 1.5", "EXPIRE {k} \"\"", "EXPIRE {k} 9223372036854775807", "EXPIRE {k} 9223372036854775",
            "EXPIRE {k} -9223372036854775808", "EXPIRE {k} 9223372036854776", "PEXPIRE {k} 9223372036854775807", "EXPIREAT {k} 9223372036854775807",
            "PEXPIREAT {k} 9223372036854775807", "TTL {k}", "PEXPIRE {k} -9223372036854775808", "EXISTS {k}", "SET {k} v", "EXPIRE {k} 99999999999999999999", "TTL {k}",
            "EXPIRE {k}missing 9223372036854775807", "DEL {k}",
        ]),
        case("expiry_happens", &["SET {k} v PX 30", "SET {k}b v", "PEXPIRE {k}b 30", "!sleep 120", "GET {k}", "EXISTS {k} {k}b", "TTL {k}", "PTTL {k}b", "TYPE {k}"]),
    ]
}

fn main() {
    run(cases());
}
