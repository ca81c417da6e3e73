//! COPY, MOVE and SWAPDB are durable (a kill -9 and restart shows them, a stream copy with its
//! groups, PEL, consumers and node layout equal to the source's), and the commands that park a
//! client without a key — WAIT, WAITAOF, a CLIENT PAUSE hold — and CLIENT UNBLOCK.
//!
//! Waits are on events (INFO `blocked_clients`, a reply that arrives), never sleeps.

mod common;

use common::{Conn, Resp, Server};

fn blocked(c: &mut Conn) -> u64 {
    c.info_field("clients", "blocked_clients")
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

fn wait_blocked(c: &mut Conn, n: u64) {
    let start = std::time::Instant::now();
    while blocked(c) != n {
        assert!(start.elapsed().as_secs() < 10, "never {n} blocked clients");
        std::thread::yield_now();
    }
}

fn ok(c: &mut Conn, line: &str) {
    assert_eq!(c.cmd(line), b"+OK\r\n", "{line}");
}

fn int(c: &mut Conn, line: &str) -> i64 {
    c.req_str(line).int()
}

/// A stream of 1,000 entries (several runs and nodes) with two groups, consumers, pending
/// entries, an acknowledgement and a delivery count above 1.
fn build_stream(c: &mut Conn, key: &str) {
    let cmds: Vec<Vec<Vec<u8>>> = (1..=1000)
        .map(|i| {
            format!("XADD {key} {i}-1 f v{i} g {}", "x".repeat(i % 40))
                .split(' ')
                .map(|s| s.as_bytes().to_vec())
                .collect()
        })
        .collect();
    for r in c.pipeline(&cmds) {
        assert!(matches!(r, Resp::Bulk(_)), "XADD answered {r:?}");
    }
    ok(c, &format!("XGROUP CREATE {key} g1 0"));
    ok(c, &format!("XGROUP CREATE {key} g2 500-1"));
    c.cmd(&format!(
        "XREADGROUP GROUP g1 alice COUNT 10 STREAMS {key} >"
    ));
    c.cmd(&format!("XREADGROUP GROUP g1 bob COUNT 5 STREAMS {key} >"));
    c.cmd(&format!(
        "XREADGROUP GROUP g2 carol COUNT 3 STREAMS {key} >"
    ));
    assert_eq!(int(c, &format!("XACK {key} g1 1-1 3-1")), 2);
    // A second delivery of alice's history.
    c.cmd(&format!("XCLAIM {key} g1 bob 0 2-1"));
    assert_eq!(int(c, &format!("XDEL {key} 700-1")), 1);
}

fn full(c: &mut Conn, key: &str) -> Vec<u8> {
    c.cmd(&format!("XINFO STREAM {key} FULL COUNT 0"))
}

#[test]
fn copy_move_swapdb_survive_a_restart() {
    let mut s = Server::start(&[]);
    let mut c = Conn::new(s.port);
    build_stream(&mut c, "s");
    ok(&mut c, "SET str hello");
    assert_eq!(int(&mut c, "PEXPIREAT str 4102444800000"), 1);

    // COPY within the database and to another one; the copies are equal to the source.
    assert_eq!(int(&mut c, "COPY s s2"), 1);
    assert_eq!(int(&mut c, "COPY s s3 DB 2"), 1);
    assert_eq!(int(&mut c, "COPY str str2"), 1);
    let source = full(&mut c, "s");
    assert_eq!(full(&mut c, "s2"), source);
    let whole = c.cmd("XRANGE s - +");
    assert_eq!(c.cmd("XRANGE s2 - +"), whole);
    assert_eq!(int(&mut c, "PEXPIRETIME str2"), 4_102_444_800_000);
    // The copy is independent of the source.
    c.cmd("XADD s 2000-1 f after");
    c.cmd("XACK s2 g1 2-1");
    assert_ne!(full(&mut c, "s"), full(&mut c, "s2"));
    let s_after = full(&mut c, "s");
    let s2_after = full(&mut c, "s2");
    // A REPLACE over an existing stream.
    assert_eq!(int(&mut c, "COPY s2 str2"), 0);
    assert_eq!(int(&mut c, "COPY str s2 REPLACE"), 1);
    assert_eq!(c.cmd("GET s2"), b"$5\r\nhello\r\n");
    assert_eq!(int(&mut c, "COPY s s2 REPLACE"), 1);
    assert_eq!(full(&mut c, "s2"), s_after);
    assert_eq!(int(&mut c, "COPY s2 s4"), 1);
    assert_eq!(c.cmd("DEL s2"), b":1\r\n");
    assert_eq!(int(&mut c, "COPY s4 s2"), 1);
    ok(&mut c, "SELECT 2");
    assert_eq!(full(&mut c, "s3"), source);
    ok(&mut c, "SELECT 0");

    // MOVE (a stream keeps its incarnation) and SWAPDB.
    assert_eq!(int(&mut c, "MOVE s4 5"), 1);
    assert_eq!(int(&mut c, "MOVE str 3"), 1);
    ok(&mut c, "SWAPDB 0 1");
    ok(&mut c, "SWAPDB 1 7");
    // Now: db 7 holds what db 0 held; db 1 what db 7 held (nothing); db 0 what db 1 held.
    assert_eq!(int(&mut c, "DBSIZE"), 0);
    ok(&mut c, "SELECT 7");
    assert_eq!(int(&mut c, "EXISTS s s2 str2"), 3);

    let check = |c: &mut Conn| {
        ok(c, "SELECT 7");
        assert_eq!(full(c, "s"), s_after);
        assert_eq!(full(c, "s2"), s_after);
        assert_eq!(c.cmd("GET str2"), b"$5\r\nhello\r\n");
        assert_eq!(int(c, "PEXPIRETIME str2"), 4_102_444_800_000);
        assert_eq!(int(c, "EXISTS str s4"), 0);
        ok(c, "SELECT 5");
        assert_eq!(full(c, "s4"), s_after);
        ok(c, "SELECT 3");
        assert_eq!(c.cmd("GET str"), b"$5\r\nhello\r\n");
        assert_eq!(int(c, "PEXPIRETIME str"), 4_102_444_800_000);
        ok(c, "SELECT 2");
        assert_eq!(full(c, "s3"), source);
        for db in [0, 1] {
            ok(c, &format!("SELECT {db}"));
            assert_eq!(int(c, "DBSIZE"), 0, "db {db}");
        }
    };
    check(&mut c);
    let _ = s2_after;
    // A group change after the restart is persisted under the copy's own incarnation.
    s.restart_timed();
    let mut c = Conn::new(s.port);
    check(&mut c);
    ok(&mut c, "SELECT 7");
    assert_eq!(int(&mut c, "XACK s2 g1 2-1 4-1"), 2);
    assert_eq!(int(&mut c, "DEL s"), 1);
    s.restart_timed();
    let mut c = Conn::new(s.port);
    ok(&mut c, "SELECT 7");
    assert_eq!(int(&mut c, "EXISTS s"), 0);
    assert_eq!(c.req_str("XPENDING s2 g1").array()[0].int(), 11);
    assert_eq!(c.cmd("XRANGE s2 - +"), {
        ok(&mut c, "SELECT 5");
        let r = c.cmd("XRANGE s4 - +");
        ok(&mut c, "SELECT 7");
        r
    });
}

#[test]
fn wait_waitaof_and_client_unblock() {
    let s = Server::start(&["--appendfsync", "everysec"]);
    let mut a = Conn::new(s.port);
    let mut b = Conn::new(s.port);
    let id = int(&mut a, "CLIENT ID");
    assert_eq!(int(&mut a, "WAIT 0 0"), 0);
    // WAIT for a replica blocks (forever with 0) until CLIENT UNBLOCK: TIMEOUT answers 0.
    a.send_raw(&common::encode(&[b"WAIT", b"1", b"0"]));
    wait_blocked(&mut b, 1);
    assert!(b.cmd("CLIENT LIST").windows(8).any(|w| w == b"flags=b "));
    assert_eq!(int(&mut b, &format!("CLIENT UNBLOCK {id}")), 1);
    assert_eq!(a.read_reply(), b":0\r\n");
    assert_eq!(int(&mut b, &format!("CLIENT UNBLOCK {id}")), 0);
    a.send_raw(&common::encode(&[b"WAITAOF", b"0", b"1", b"0"]));
    wait_blocked(&mut b, 1);
    assert_eq!(int(&mut b, &format!("CLIENT UNBLOCK {id} ERROR")), 1);
    assert_eq!(
        a.read_reply(),
        b"-UNBLOCKED client unblocked via CLIENT UNBLOCK\r\n"
    );
    // A WAIT with a timeout answers 0 when it passes.
    assert_eq!(int(&mut a, "WAIT 1 20"), 0);
    // WAITAOF after a write: answered once the background fsync covers it.
    ok(&mut a, "SET k v");
    assert_eq!(a.cmd("WAITAOF 1 0 0"), b"*2\r\n:1\r\n:0\r\n");
    // Inside MULTI nothing blocks.
    ok(&mut a, "MULTI");
    a.cmd("WAIT 5 0");
    a.cmd("WAITAOF 1 1 0");
    assert_eq!(a.cmd("EXEC"), b"*2\r\n:0\r\n*2\r\n:1\r\n:0\r\n");
    assert_eq!(blocked(&mut b), 0);
}

#[test]
fn waitaof_under_appendfsync_no_waits_for_its_timeout() {
    let s = Server::start(&["--appendfsync", "no"]);
    let mut a = Conn::new(s.port);
    // Nothing written by anyone yet: covered.
    assert_eq!(a.cmd("WAITAOF 1 0 0"), b"*2\r\n:1\r\n:0\r\n");
    ok(&mut a, "SET k v");
    // Sluice never fsyncs under `no`: as in Redis, the local count stays 0.
    assert_eq!(a.cmd("WAITAOF 1 0 30"), b"*2\r\n:0\r\n:0\r\n");
    assert_eq!(a.cmd("WAITAOF 0 0 0"), b"*2\r\n:0\r\n:0\r\n");
}

#[test]
fn client_pause_holds_writes_in_order() {
    let s = Server::start(&[]);
    let mut admin = Conn::new(s.port);
    let mut w1 = Conn::new(s.port);
    let mut w2 = Conn::new(s.port);
    ok(&mut admin, "SET k 0");
    ok(&mut admin, "CLIENT PAUSE 100000 WRITE");
    // Reads go on; writes (and a script, which may write) wait, in order.
    assert_eq!(w1.cmd("GET k"), b"$1\r\n0\r\n");
    w1.send_raw(&common::encode(&[b"SET", b"k", b"1"]));
    wait_blocked(&mut admin, 1);
    w2.send_raw(&common::encode(&[
        b"EVAL",
        b"return redis.call('SET', KEYS[1], '2')",
        b"1",
        b"k",
    ]));
    wait_blocked(&mut admin, 2);
    assert_eq!(admin.cmd("GET k"), b"$1\r\n0\r\n");
    // A client held by the pause is not released by CLIENT UNBLOCK (w1 connected after admin).
    let w1_id = int(&mut admin, "CLIENT ID") + 1;
    assert_eq!(int(&mut admin, &format!("CLIENT UNBLOCK {w1_id}")), 0);
    ok(&mut admin, "CLIENT UNPAUSE");
    assert_eq!(w1.read_reply(), b"+OK\r\n");
    assert_eq!(w2.read_reply(), b"+OK\r\n");
    assert_eq!(admin.cmd("GET k"), b"$1\r\n2\r\n");
    // A short pause ends by itself.
    ok(&mut admin, "CLIENT PAUSE 30 ALL");
    assert_eq!(w1.cmd("GET k"), b"$1\r\n2\r\n");
    assert_eq!(blocked(&mut admin), 0);
}

/// `sluice repair` reads SWAPDB's map of databases to slots: the repaired directory has every
/// key in the database it was in, and `sluice check` finds nothing wrong.
#[test]
fn repair_keeps_swapped_databases() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("data");
    let mut s = Server::start_in(&dir, &[]);
    let mut c = s.conn();
    ok(&mut c, "SET a zero");
    ok(&mut c, "SELECT 1");
    c.cmd("XADD s 1-1 f v");
    ok(&mut c, "SWAPDB 0 1");
    ok(&mut c, "SWAPDB 1 4");
    assert!(s.stop().success(), "clean shutdown");
    let to = tmp.path().join("copy");
    let (code, out, err) = common::run_tool(&[
        std::ffi::OsStr::new("repair"),
        dir.as_os_str(),
        to.as_os_str(),
    ]);
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, err) = common::run_tool(&[std::ffi::OsStr::new("check"), to.as_os_str()]);
    assert_eq!(code, 0, "{out}{err}");
    let s = Server::start_in(&to, &[]);
    let mut c = s.conn();
    assert_eq!(int(&mut c, "XLEN s"), 1);
    assert_eq!(int(&mut c, "DBSIZE"), 1);
    ok(&mut c, "SELECT 4");
    assert_eq!(c.cmd("GET a"), b"$4\r\nzero\r\n");
    ok(&mut c, "SELECT 1");
    assert_eq!(int(&mut c, "DBSIZE"), 0);
}
