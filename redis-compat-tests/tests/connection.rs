//! Connection-level commands: PING, ECHO, HELLO, AUTH, SELECT, CLIENT, QUIT, RESET.

use redis_compat_tests::pred::{help_lines, same_fields};
use redis_compat_tests::*;

/// HELLO replies: same field names in the same order; `proto`, `mode`,
/// `role`, `modules` identical; `server`, `version`, `id` only same type.
fn hello(cmd: &str) -> Step {
    pair(
        cmd,
        "HELLO fields (proto/mode/role/modules exact)",
        same_fields(&["proto", "mode", "role", "modules"]),
    )
}

/// CLIENT INFO / one line of CLIENT LIST: same `k=v` field names in the same
/// order, and the values of the listed fields identical.
fn client_info(cmd: &str) -> Step {
    const EXACT: &[&str] = &[
        "name", "flags", "db", "sub", "psub", "ssub", "multi", "cmd", "user", "redir", "resp",
        "events", "obl", "oll", "omem",
    ];
    pair(cmd, "CLIENT INFO fields", |a, b| {
        let parse = |f: &Frame| -> Result<Vec<(String, String)>, String> {
            let text = f.as_text().ok_or(format!("not a string: {f}"))?;
            let text = text.strip_prefix("txt:").unwrap_or(&text);
            let line = text.strip_suffix('\n').ok_or(r"no trailing \n")?;
            Ok(line
                .split(' ')
                .map(|kv| {
                    let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
                    (k.to_string(), v.to_string())
                })
                .collect())
        };
        if a.kind() != b.kind() {
            return Err(format!("types differ: {} vs {}", a.kind(), b.kind()));
        }
        let (fa, fb) = (parse(a)?, parse(b)?);
        let names = |v: &[(String, String)]| v.iter().map(|p| p.0.clone()).collect::<Vec<_>>();
        if names(&fa) != names(&fb) {
            return Err(format!(
                "field names differ:\n    {:?}\n    {:?}",
                names(&fa),
                names(&fb)
            ));
        }
        for ((k, va), (_, vb)) in fa.iter().zip(&fb) {
            if EXACT.contains(&k.as_str()) && va != vb {
                return Err(format!("field {k}: {va:?} vs {vb:?}"));
            }
        }
        Ok(())
    })
}

#[rustfmt::skip]
fn cases() -> Vec<Case> {
    vec![
        // PING / ECHO
        case("ping", &["PING", "PING hello", "PING \"\"", "ping", "PiNg x"]),
        case("ping_arity", &["PING a b", "PING a b c"]),
        case("echo", &["ECHO hi", "ECHO \"\"", r#"ECHO "a b\r\n\x00\xff""#]),
        case("echo_arity", &["ECHO", "ECHO a b"]),
        // HELLO
        case("hello_noargs", &[hello("HELLO"), step("GET {k}missing")]),
        case("hello_2", &[hello("HELLO 2"), step("GET {k}missing"), step("CONFIG GET maxclients")]),
        case("hello_3", &[hello("HELLO 3"), step("GET {k}missing"), step("CONFIG GET maxclients")]),
        case("hello_3_then_2", &[hello("HELLO 3"), hello("HELLO 2"), step("GET {k}missing")]),
        case("hello_bad_version", &["HELLO 4", "HELLO 1", "HELLO 0", "HELLO -1", "HELLO x", "HELLO 3.0", "HELLO \"\"", "HELLO 99999999999999999999", "GET {k}missing"]),
        case("hello_setname", &[hello("HELLO 3 SETNAME x"), step("CLIENT GETNAME"), hello("HELLO 2 SETNAME y"), step("CLIENT GETNAME")]),
        case("hello_setname_bad", &["HELLO 3 SETNAME \"a b\"", "HELLO 3 SETNAME", "CLIENT GETNAME", "GET {k}missing"]),
        case("hello_auth", &["HELLO 3 AUTH", "HELLO 3 AUTH default", "HELLO 3 AUTH default wrong extra", "HELLO 3 AUTH nosuchuser pw", "GET {k}missing"]),
        case("hello_auth_default_ok", &[hello("HELLO 3 AUTH default anything"), step("GET {k}missing")]),
        // Quirk: SETNAME is applied while parsing, before the bad option is seen.
        case("hello_bad_option", &["HELLO 2 FOO", "HELLO 3 SETNAME x FOO", "CLIENT GETNAME", "GET {k}missing", "HELLO 3 FOO SETNAME y", "CLIENT GETNAME"]),
        // AUTH without requirepass
        case("auth", &["AUTH secret", "AUTH default secret", "AUTH nosuchuser secret", "AUTH", "AUTH a b c"]),
        // SELECT (per connection; keyspace-wide checks live in tests/isolated.rs)
        case("select", &["SELECT 0", "SELECT 15", "SELECT 16", "SELECT -1", "SELECT x", "SELECT 1.5", "SELECT \"\"", "SELECT", "SELECT 1 2"]),
        // The index is a C int first (found by the differential fuzzer).
        case("select_int_range", &["SELECT 2147483647", "SELECT 2147483648", "SELECT -2147483648", "SELECT -2147483649", "SELECT 9223372036854775807", "SELECT 99999999999999999999"]),
        case("select_keys", &["SET {k} db0", "SELECT 3", "GET {k}", "SET {k} db3", "GET {k}", "SELECT 0", "GET {k}", "@b GET {k}", "SELECT 3", "DEL {k}"]),
        // CLIENT
        case("client_id", &["~CLIENT ID", "CLIENT ID x"]),
        case("client_name", &["CLIENT GETNAME", "CLIENT SETNAME foo", "CLIENT GETNAME", "@b CLIENT GETNAME", "CLIENT SETNAME \"\"", "CLIENT GETNAME"]),
        case("client_name_bad", &["CLIENT SETNAME \"a b\"", r#"CLIENT SETNAME "a\nb""#, r#"CLIENT SETNAME "\x01""#, "CLIENT SETNAME", "CLIENT SETNAME a b", "CLIENT GETNAME x", "CLIENT GETNAME"]),
        // CLIENT SETINFO is Redis 7.2 (7.0.15 answers "unknown subcommand"). Clients send it on
        // every connect and ignore the error; Sluice answers it as 7.2 does.
        case("client_setinfo", &[
            sluice_only("CLIENT SETINFO lib-name redis-py", b"+OK\r\n", "CLIENT SETINFO is Redis 7.2"),
            sluice_only("CLIENT SETINFO lib-ver 1.0", b"+OK\r\n", "CLIENT SETINFO is Redis 7.2"),
            sluice_only("CLIENT SETINFO bad x", b"-ERR Unrecognized option 'bad'\r\n", "CLIENT SETINFO is Redis 7.2"),
            sluice_only("CLIENT SETINFO lib-name", b"-ERR wrong number of arguments for 'client|setinfo' command\r\n", "CLIENT SETINFO is Redis 7.2"),
        ]),
        case("client_info", &[client_info("CLIENT INFO"), step("CLIENT SETNAME conn-a"), step("SELECT 2"), client_info("CLIENT INFO"), step("CLIENT INFO x")]),
        case("client_list", &["~CLIENT LIST TYPE pubsub", "~CLIENT LIST TYPE master", "CLIENT LIST TYPE foo", "CLIENT LIST ID", "CLIENT LIST ID abc", "CLIENT LIST ID 0", "CLIENT LIST foo"]),
        case("client_list_shape", &[step("CLIENT SETNAME listed"), check("CLIENT LIST", "bulk of k=v lines", client_list_lines), check("CLIENT LIST TYPE normal", "bulk of k=v lines", client_list_lines)]),
        // The help text lists the subcommands each server has, so only its form is compared.
        case("client_help", &[check("CLIENT HELP", "help lines", help_lines("CLIENT")), step("CLIENT HELP x")]),
        case("client_unknown", &["CLIENT FOO", "CLIENT foo bar", "CLIENT"]),
        case("client_kill", &["CLIENT KILL 1.2.3.4:5", "CLIENT KILL ID 999999999", "CLIENT KILL ID abc", "CLIENT KILL ID 0", "CLIENT KILL ADDR 1.2.3.4:5", "CLIENT KILL ADDR", "CLIENT KILL FOO bar", "CLIENT KILL LADDR 1.2.3.4:5", "CLIENT KILL TYPE foo", "CLIENT KILL USER nosuchuser", "CLIENT KILL SKIPME maybe", "CLIENT KILL ID 999999999 SKIPME yes"]),
        // TYPE master/replica/slave/pubsub match no client (all are normal ones); another
        // connection is open so that a filter that matched everything would show.
        case("client_kill_type", &["@b PING", "CLIENT KILL TYPE master", "CLIENT KILL TYPE replica", "CLIENT KILL TYPE slave", "CLIENT KILL TYPE pubsub", "CLIENT KILL TYPE master SKIPME no", "@b PING"]),
        case("client_reply", &["!send CLIENT REPLY OFF", "!send SET {k} 1", "!send PING", "CLIENT REPLY ON", "GET {k}", "!send CLIENT REPLY SKIP", "!send SET {k} 2", "GET {k}", "CLIENT REPLY FOO", "CLIENT REPLY", "DEL {k}"]),
        // SHUTDOWN's flags are all parsed before ABORT is acted on; ABORT with another flag,
        // and NOSAVE with SAVE, are syntax errors (found by the differential fuzzer). None of
        // these shuts the server down.
        case("shutdown_flag_errors", &["SHUTDOWN ABORT", "SHUTDOWN abort ABORT", "SHUTDOWN ABORT x", "SHUTDOWN x ABORT", "SHUTDOWN ABORT NOW", "SHUTDOWN FORCE ABORT", "SHUTDOWN NOSAVE ABORT", "SHUTDOWN NOSAVE SAVE", "SHUTDOWN save nosave now", "SHUTDOWN NOW x", "PING"]),
        // QUIT / RESET
        case("quit", &["QUIT", "!closed"]),
        case("quit_extra_args", &["QUIT now", "!closed"]),
        case("reset", &["CLIENT SETNAME x", "SELECT 5", "SET {k} in5", "MULTI", "RESET", "CLIENT GETNAME", "GET {k}", "SELECT 5", "DEL {k}", "GET {k}missing", "RESET x"]),
        case("reset_proto", &[hello("HELLO 3"), step("GET {k}missing"), step("RESET"), step("GET {k}missing")]),
        case("reset_watch", &["WATCH {k}", "RESET", "@b SET {k} x", "MULTI", "GET {k}", "EXEC", "DEL {k}"]),
    ]
}

/// Every line of CLIENT LIST is `id=... addr=... ... resp=N` and ends in \n.
fn client_list_lines(f: &Frame) -> Result<(), String> {
    let text = f.as_text().ok_or(format!("not a string: {f}"))?;
    let text = text.strip_prefix("txt:").unwrap_or(&text);
    if !text.ends_with('\n') {
        return Err(r"does not end with \n".into());
    }
    for line in text.lines() {
        if !line.starts_with("id=") || !line.contains(" addr=") || !line.contains(" resp=") {
            return Err(format!("odd line {line:?}"));
        }
    }
    if !text.contains(" name=listed ") {
        return Err("own connection (name=listed) missing".into());
    }
    Ok(())
}

fn main() {
    run(cases());
}
