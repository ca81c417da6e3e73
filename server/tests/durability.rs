//! Restarts: what was acknowledged is there afterwards, after a clean shutdown and after kill -9.

mod common;

use common::Server;

#[test]
fn clean_shutdown_and_restart_keep_every_key() {
    let mut s = Server::start(&[]);
    let mut c = s.conn();
    for i in 0..500 {
        assert_eq!(c.cmd(&format!("SET key:{i} value:{i}")), b"+OK\r\n");
    }
    assert_eq!(c.cmd("SELECT 5"), b"+OK\r\n");
    assert_eq!(c.cmd("SET in5 x"), b"+OK\r\n");
    assert_eq!(c.cmd("PEXPIRE in5 100000000"), b":1\r\n");
    drop(c);
    assert!(s.stop().success());
    let dir = s.dir.clone();
    let s2 = Server::start_in(&dir, &[]);
    let mut c = s2.conn();
    assert_eq!(c.cmd("DBSIZE"), b":500\r\n");
    assert_eq!(c.cmd("GET key:499"), b"$9\r\nvalue:499\r\n");
    assert_eq!(c.cmd("SELECT 5"), b"+OK\r\n");
    let ttl = c.cmd("TTL in5");
    assert!(
        ttl == b":100000\r\n" || ttl.starts_with(b":99999"),
        "ttl {:?}",
        String::from_utf8_lossy(&ttl)
    );
}

#[test]
fn acknowledged_writes_survive_kill_9_under_appendfsync_always() {
    let mut s = Server::start(&["--appendfsync", "always"]);
    let mut c = s.conn();
    for i in 0..300 {
        assert_eq!(c.cmd("INCR n"), format!(":{}\r\n", i + 1).into_bytes());
        assert_eq!(c.cmd(&format!("SET k{i} {i}")), b"+OK\r\n");
    }
    drop(c);
    s.restart(); // kill -9, then start on the same directory
    let mut c = s.conn();
    assert_eq!(c.cmd("GET n"), b"$3\r\n300\r\n");
    assert_eq!(c.cmd("DBSIZE"), b":301\r\n");
}

#[test]
fn acknowledged_writes_survive_kill_9_under_everysec() {
    // everysec guarantees survival of a process crash (the OS has the journal), not of power loss.
    let mut s = Server::start(&["--appendfsync", "everysec"]);
    let mut c = s.conn();
    assert_eq!(c.cmd("MSET a 1 b 2 c 3"), b"+OK\r\n");
    assert_eq!(c.cmd("DEL b"), b":1\r\n");
    drop(c);
    s.restart();
    let mut c = s.conn();
    assert_eq!(c.cmd("MGET a b c"), b"*3\r\n$1\r\n1\r\n$-1\r\n$1\r\n3\r\n");
}
