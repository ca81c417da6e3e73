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

/// Bytes the file system has allocated to the newest journal (`<n>.jnl` with the greatest `n`)
/// in `dir`.
fn newest_journal_allocated(dir: &std::path::Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let newest = std::fs::read_dir(dir)
        .expect("list the data directory")
        .flatten()
        .filter_map(|e| {
            let n: u64 = e.file_name().to_str()?.strip_suffix(".jnl")?.parse().ok()?;
            Some((n, e.path()))
        })
        .max()
        .expect("a journal");
    std::fs::metadata(&newest.1).expect("stat").blocks() * 512
}

/// Whether the file system under `dir` allocates blocks for zeros written into a hole (ext4,
/// XFS, tmpfs do), which is what the zero-fill checks measure.
fn allocates_written_zeros(dir: &std::path::Path) -> bool {
    use std::os::unix::fs::{FileExt, MetadataExt};
    let path = dir.join("zero-probe");
    let f = std::fs::File::create(&path).expect("probe");
    f.set_len(1 << 20).expect("probe size");
    f.write_all_at(&[0u8; 1 << 16], 0).expect("probe write");
    let blocks = f.metadata().expect("probe stat").blocks() * 512;
    std::fs::remove_file(&path).expect("probe remove");
    blocks >= 1 << 16
}

/// Under `appendfsync always` the journal is kept zero-filled about 1 MiB ahead of where it is
/// written (fjall patch 8, `vendor/README.md`), so each drain's fdatasync overwrites allocated
/// blocks: from the start on a new directory, on the new journal a restart moves to, and after
/// CONFIG SET. Not under `everysec`, whose journal stays a hole past its data.
#[test]
fn the_journal_is_filled_ahead_only_under_always() {
    const AHEAD: u64 = 1 << 20;
    let mut s = Server::start(&["--appendfsync", "everysec"]);
    if !allocates_written_zeros(&s.dir) {
        // ZFS with compression keeps written zeros as holes: nothing here to measure.
        eprintln!("skipped: this file system does not allocate blocks for written zeros");
        return;
    }
    let mut c = s.conn();
    for i in 0..50 {
        assert_eq!(c.cmd(&format!("SET k{i} {i}")), b"+OK\r\n");
    }
    let sparse = newest_journal_allocated(&s.dir);
    assert!(sparse < AHEAD / 4, "everysec: {sparse} bytes allocated");
    // Turned on at runtime: this journal was created by this run, so it is filled at once.
    assert_eq!(c.cmd("CONFIG SET appendfsync always"), b"+OK\r\n");
    assert_eq!(c.cmd("SET after-config-set 1"), b"+OK\r\n");
    let filled = newest_journal_allocated(&s.dir);
    assert!(
        filled >= AHEAD,
        "after CONFIG SET: {filled} bytes allocated"
    );
    assert_eq!(c.cmd("CONFIG SET appendfsync everysec"), b"+OK\r\n");
    drop(c);
    assert!(s.stop().success());

    // A restart under `always`: the writes go to a new journal, filled ahead.
    let dir = s.dir.clone();
    let mut s = Server::start_in(&dir, &["--appendfsync", "always"]);
    let mut c = s.conn();
    assert_eq!(c.cmd("SET after-restart 1"), b"+OK\r\n");
    let filled = newest_journal_allocated(&dir);
    assert!(filled >= AHEAD, "after a restart: {filled} bytes allocated");
    // And what was written before and after reads back after a kill -9.
    drop(c);
    s.restart();
    let mut c = s.conn();
    assert_eq!(c.cmd("DBSIZE"), b":52\r\n");
    assert_eq!(c.cmd("GET after-restart"), b"$1\r\n1\r\n");
}
