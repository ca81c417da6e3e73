//! The bounds of Lua scripting (Sluice's own, beyond Redis): `lua-memory-limit` and
//! `lua-script-max-size` give clear errors and leave the server and its VM working; a script
//! that loops forever never makes the server unreachable: a connection opened while it runs
//! gets `-BUSY`, and `SHUTDOWN NOSAVE` from it ends the process at once, without the running
//! script's writes (they were never committed) but with everything acknowledged before.

mod common;

use common::{parse_resp, Resp, Server};

fn text(r: &[u8]) -> String {
    String::from_utf8_lossy(r).into_owned()
}

#[test]
fn heap_and_size_limits_give_clear_errors() {
    let server = Server::start(&["--lua-memory-limit", "8mb", "--lua-script-max-size", "2048"]);
    let mut c = server.conn();
    let r = c.cmd_args(&[
        b"EVAL",
        b"local t = {} for i = 1, 1e8 do t[i] = i end return #t",
        b"0",
    ]);
    assert!(
        text(&r).starts_with("-ERR Error running script ")
            && text(&r).contains("out of Lua memory (lua-memory-limit is 8388608 bytes)"),
        "{}",
        text(&r)
    );
    // The VM is fine afterwards, and memory was given back.
    assert_eq!(
        c.cmd_args(&[b"EVAL", b"return #string.rep('x', 1000000)", b"0"]),
        b":1000000\r\n"
    );
    let big = format!("return 1 --{}", "x".repeat(3000));
    for cmd in [&b"EVAL"[..], &b"SCRIPT"[..]] {
        let r = if cmd == b"EVAL" {
            c.cmd_args(&[b"EVAL", big.as_bytes(), b"0"])
        } else {
            c.cmd_args(&[b"SCRIPT", b"LOAD", big.as_bytes()])
        };
        assert_eq!(
            text(&r),
            "-ERR script too large: 3011 bytes, the limit is 2048 bytes (lua-script-max-size)\r\n"
        );
    }
    // CONFIG SET moves the limit.
    assert_eq!(c.cmd("CONFIG SET lua-script-max-size 1mb"), b"+OK\r\n");
    assert_eq!(c.cmd_args(&[b"EVAL", big.as_bytes(), b"0"]), b":1\r\n");
    // Self-referencing tables end in an error element instead of a crash.
    let r = c.cmd_args(&[b"EVAL", b"local t = {} t[1] = t return t", b"0"]);
    assert!(text(&r).contains("-ERR reached lua stack limit"));
    assert_eq!(c.cmd("PING"), b"+PONG\r\n");
}

#[test]
fn shutdown_nosave_ends_a_script_that_never_ends() {
    let mut server = Server::start(&["--busy-reply-threshold", "50", "--appendfsync", "always"]);
    let mut c = server.conn();
    assert_eq!(c.cmd("SET before 1"), b"+OK\r\n");
    c.send_raw(&common::encode(&[
        b"EVAL",
        b"redis.call('set', KEYS[1], 'staged') while true do end",
        b"1",
        b"during",
    ]));
    // A new connection, opened while the script runs: served by the busy loop.
    let mut other = server.conn();
    let r = other.cmd("PING");
    assert_eq!(
        text(&r),
        "-BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.\r\n"
    );
    let r = other.cmd("SCRIPT KILL");
    assert!(text(&r).starts_with("-UNKILLABLE "), "{}", text(&r));
    other.send_raw(b"SHUTDOWN NOSAVE\r\n");
    assert!(other.is_closed(), "SHUTDOWN NOSAVE closes the connection");
    assert!(c.is_closed(), "the script's caller sees the server go");
    // The process exited by itself.
    let status = server
        .child
        .take()
        .expect("running")
        .wait()
        .expect("wait for the server");
    assert!(status.success(), "exit status {status:?}");
    server.restart();
    let mut c = server.conn();
    assert_eq!(
        parse_resp(&c.cmd("GET before")).0,
        Resp::Bulk(b"1".to_vec())
    );
    assert_eq!(
        parse_resp(&c.cmd("GET during")).0,
        Resp::Nil,
        "the script's write was dropped"
    );
}

/// Function libraries are durable (kill -9 included); the EVAL script cache is not, as in Redis.
#[test]
fn functions_survive_a_restart_and_the_script_cache_does_not() {
    let mut server = Server::start(&["--appendfsync", "always"]);
    let mut c = server.conn();
    let lib = b"#!lua name=durable\nredis.register_function('dfn', function(keys, args) return 'from ' .. args[1] end)";
    assert_eq!(
        c.cmd_args(&[b"FUNCTION", b"LOAD", lib]),
        b"$7\r\ndurable\r\n"
    );
    let lib2 = b"#!lua name=gone\nredis.register_function('gfn', function() return 1 end)";
    assert_eq!(c.cmd_args(&[b"FUNCTION", b"LOAD", lib2]), b"$4\r\ngone\r\n");
    assert_eq!(c.cmd("FUNCTION DELETE gone"), b"+OK\r\n");
    let sha = c.cmd_args(&[b"SCRIPT", b"LOAD", b"return 1"]);
    assert_eq!(sha, b"$40\r\ne0e1f9fabfc9d4800c877a703b823ac0578ff8db\r\n");
    server.kill9();
    server.restart();
    let mut c = server.conn();
    assert_eq!(c.cmd("FCALL dfn 0 x"), b"$6\r\nfrom x\r\n");
    assert_eq!(
        text(&c.cmd("FCALL gfn 0")),
        "-ERR Function not found\r\n",
        "a deleted library stays deleted"
    );
    assert_eq!(
        text(&c.cmd("EVALSHA e0e1f9fabfc9d4800c877a703b823ac0578ff8db 0")),
        "-NOSCRIPT No matching script. Please use EVAL.\r\n"
    );
    assert_eq!(c.cmd("FUNCTION FLUSH"), b"+OK\r\n");
    server.stop();
    server.restart();
    let mut c = server.conn();
    assert_eq!(c.cmd("FUNCTION LIST"), b"*0\r\n");
}
