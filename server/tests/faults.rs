//! Storage faults, injected: the real `sluice` binary runs with an `LD_PRELOAD` shim
//! (`fault_shim/shim.c`, compiled here with the system C compiler) that makes file operations
//! under its data directory fail on demand. Each test asserts the documented policy
//! (`server/src/fault.rs`, README "Durability"): EIO → fail-stop with a clear log line and
//! status 1, never a reply for the failed write; ENOSPC → writes refused with `-MISCONF`,
//! reads answered, writes resumed once the disk takes writes again; a torn journal write →
//! nothing acknowledged lost. After each, a restart finds every acknowledged write.
//!
//! Also here: the server's answer to a log pipe that breaks or is never read, and the log
//! line naming the signal that stopped it.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use common::{Conn, Server};

/// Builds the shim once per test binary; its path.
fn shim() -> &'static Path {
    static SHIM: OnceLock<PathBuf> = OnceLock::new();
    SHIM.get_or_init(|| {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fault_shim/shim.c");
        let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("sluice_fault_shim.so");
        let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
        let status = Command::new(&cc)
            .args(["-shared", "-fPIC", "-O2", "-Wall", "-o"])
            .arg(&out)
            .arg(&src)
            .arg("-ldl")
            .status()
            .unwrap_or_else(|e| {
                panic!("cannot run the C compiler {cc:?} to build the fault shim: {e}")
            });
        assert!(status.success(), "building the fault shim failed");
        out
    })
}

/// A server under the shim, with its control file and log.
struct Faulty {
    server: Server,
    ctl: PathBuf,
    log: PathBuf,
    _tmp: tempfile::TempDir,
}

impl Faulty {
    fn start(extra: &[&str]) -> Faulty {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().join("data");
        let ctl = tmp.path().join("fault-ctl");
        let log = tmp.path().join("sluice.log");
        std::fs::write(&ctl, "").expect("write ctl");
        let dir_s = dir.to_string_lossy().to_string();
        let ctl_s = ctl.to_string_lossy().to_string();
        let shim_s = shim().to_string_lossy().to_string();
        let server = Server::start_env(
            &dir,
            extra,
            &[
                ("LD_PRELOAD", shim_s.as_str()),
                ("SLUICE_FAULT_DIR", dir_s.as_str()),
                ("SLUICE_FAULT_CTL", ctl_s.as_str()),
            ],
            &log,
        );
        Faulty {
            server,
            ctl,
            log,
            _tmp: tmp,
        }
    }

    fn inject(&self, mode: &str) {
        std::fs::write(&self.ctl, mode).expect("write ctl");
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits for the server process to exit; its exit code.
    fn wait_exit(&mut self) -> Option<i32> {
        let child = self.server.child.as_mut().expect("running");
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = child.try_wait().expect("try_wait") {
                self.server.child = None;
                return status.code();
            }
            assert!(Instant::now() < deadline, "the server did not exit");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Starts the server again on the same directory, without faults.
    fn restart_clean(&mut self) {
        self.server.kill9();
        self.inject("");
        self.server.restart();
    }
}

/// Sends one command on a fresh connection and returns everything the server sent before it
/// closed the connection (or before 10 s passed).
fn send_and_read_to_close(port: u16, cmd: &[&[u8]]) -> Vec<u8> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10))).ok();
    s.write_all(&common::encode(cmd)).expect("send");
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return got,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return got,
            Err(e) => panic!(
                "no close within 10 s ({e}); got {:?}",
                String::from_utf8_lossy(&got)
            ),
        }
    }
}

/// Sends `SET probe 1` on a fresh connection: whether it was refused with `-MISCONF` (false
/// when it was answered otherwise or its connection was closed unanswered).
fn probe_refused(port: u16) -> bool {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(20))).ok();
    s.write_all(&common::encode(&[b"SET", b"probe", b"1"]))
        .expect("send");
    let mut buf = [0u8; 256];
    match s.read(&mut buf) {
        Ok(n) => buf[..n].starts_with(b"-MISCONF"),
        Err(_) => false,
    }
}

fn xadd_acked(c: &mut Conn, from: u64, to: u64) {
    for i in from..=to {
        let id = format!("{i}-1");
        let r = c.cmd_args(&[b"XADD", b"s", id.as_bytes(), b"f", &[b'x'; 100]]);
        assert_eq!(r, format!("${}\r\n{id}\r\n", id.len()).into_bytes());
    }
}

fn xlen(c: &mut Conn) -> i64 {
    c.req_str("XLEN s").int()
}

/// Asserts that entries `1-1..=n-1` are all there, in order.
fn assert_entries(c: &mut Conn, n: u64) {
    let r = c.req_str(&format!("XRANGE s 1-1 {n}-1"));
    let ids: Vec<String> = r
        .array()
        .iter()
        .map(|e| String::from_utf8_lossy(e.array()[0].bulk()).to_string())
        .collect();
    let want: Vec<String> = (1..=n).map(|i| format!("{i}-1")).collect();
    assert_eq!(ids, want, "acknowledged entries after restart");
}

#[test]
fn under_always_a_reply_waits_for_the_fdatasync_of_its_write() {
    // While the fdatasync of a write is in progress, neither its reply nor that of a later
    // read (which may have seen the write) is sent. (The loop runs the sync inline; a
    // pipelined commit that went on executing during the sync would have to hold both.)
    let f = Faulty::start(&["--appendfsync", "always"]);
    let mut c = f.server.conn();
    xadd_acked(&mut c, 1, 10);
    f.inject("fsync-hold");
    let marker = PathBuf::from(format!("{}.held", f.ctl.display()));
    let mut writer = TcpStream::connect(("127.0.0.1", f.server.port)).expect("connect");
    writer
        .write_all(&common::encode(&[b"XADD", b"s", b"11-1", b"f", b"v"]))
        .expect("send");
    let deadline = Instant::now() + Duration::from_secs(20);
    while !marker.exists() {
        assert!(Instant::now() < deadline, "no fdatasync started");
        std::thread::sleep(Duration::from_millis(5));
    }
    // The sync of that write is in progress: neither its reply nor a later read's is sent.
    let mut reader = TcpStream::connect(("127.0.0.1", f.server.port)).expect("connect");
    reader
        .write_all(&common::encode(&[b"XLEN", b"s"]))
        .expect("send");
    for s in [&mut writer, &mut reader] {
        s.set_read_timeout(Some(Duration::from_millis(300))).ok();
        let mut buf = [0u8; 64];
        match s.read(&mut buf) {
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            other => panic!(
                "a reply before the fdatasync finished: {other:?} {:?}",
                &buf
            ),
        }
    }
    f.inject("");
    for (s, want) in [
        (&mut writer, &b"$4\r\n11-1\r\n"[..]),
        (&mut reader, b":11\r\n"),
    ] {
        s.set_read_timeout(Some(Duration::from_secs(10))).ok();
        let mut got = vec![0u8; want.len()];
        s.read_exact(&mut got)
            .expect("the reply once the sync is done");
        assert_eq!(got, want);
    }
}

#[test]
fn fdatasync_eio_under_always_stops_the_server_without_replying() {
    let mut f = Faulty::start(&["--appendfsync", "always"]);
    let mut c = f.server.conn();
    xadd_acked(&mut c, 1, 200);
    f.inject("fsync-eio");
    let got = send_and_read_to_close(f.server.port, &[b"XADD", b"s", b"1000-1", b"f", b"v"]);
    assert!(
        got.is_empty(),
        "a reply for a write whose fdatasync failed: {got:?}"
    );
    assert_eq!(f.wait_exit(), Some(1), "fail-stop exits with status 1");
    let log = f.log_text();
    assert!(
        log.contains("FATAL: fdatasync of the journal (appendfsync always) failed")
            && log.contains("Input/output error"),
        "the log names the failure:\n{log}"
    );
    f.restart_clean();
    let mut c = f.server.conn();
    assert_entries(&mut c, 200);
    let n = xlen(&mut c);
    assert!(n == 200 || n == 201, "XLEN {n}");
}

#[test]
fn a_failed_everysec_fdatasync_stops_the_server() {
    // Under everysec the fdatasync runs on a background thread once a second; its failure
    // must not be logged and forgotten.
    let mut f = Faulty::start(&["--appendfsync", "everysec"]);
    let mut c = f.server.conn();
    xadd_acked(&mut c, 1, 100);
    f.inject("fsync-eio");
    xadd_acked(&mut c, 101, 101);
    assert_eq!(f.wait_exit(), Some(1), "fail-stop exits with status 1");
    let log = f.log_text();
    assert!(
        log.contains("FATAL: fdatasync of the journal (appendfsync everysec) failed")
            && log.contains("Input/output error"),
        "the log names the failure:\n{log}"
    );
    f.restart_clean();
    let mut c = f.server.conn();
    assert_entries(&mut c, 101);
}

#[test]
fn journal_write_eio_stops_the_server_without_replying() {
    let mut f = Faulty::start(&["--appendfsync", "no"]);
    let mut c = f.server.conn();
    xadd_acked(&mut c, 1, 150);
    assert_eq!(c.cmd("SET k v"), b"+OK\r\n");
    f.inject("write-eio");
    let got = send_and_read_to_close(f.server.port, &[b"SET", b"k", b"changed"]);
    assert!(got.is_empty(), "a reply for a write that failed: {got:?}");
    assert_eq!(f.wait_exit(), Some(1));
    let log = f.log_text();
    assert!(
        log.contains("FATAL: writing the journal failed") && log.contains("Input/output error"),
        "the log names the failure:\n{log}"
    );
    f.restart_clean();
    let mut c = f.server.conn();
    assert_entries(&mut c, 150);
    assert_eq!(xlen(&mut c), 150);
    assert_eq!(
        c.cmd("GET k"),
        b"$1\r\nv\r\n",
        "the failed SET never reached the disk"
    );
}

const MISCONF: &[u8] = b"-MISCONF Errors writing to the AOF file: No space left on device\r\n";

#[test]
fn a_full_disk_refuses_writes_serves_reads_and_resumes() {
    let mut f = Faulty::start(&["--appendfsync", "everysec", "--min-free-disk", "0"]);
    let mut c = f.server.conn();
    xadd_acked(&mut c, 1, 100);
    assert_eq!(c.cmd("SET a 1"), b"+OK\r\n");
    assert_eq!(c.cmd("XGROUP CREATE s g 0"), b"+OK\r\n");
    assert_eq!(
        c.req_str("XREADGROUP GROUP g alice COUNT 10 STREAMS s >")
            .array()
            .len(),
        1
    );
    f.inject("write-enospc");

    // The write that meets the full disk: its connection is closed without a reply.
    let got = send_and_read_to_close(f.server.port, &[b"XADD", b"s", b"1000-1", b"f", b"v"]);
    assert!(got.is_empty(), "a reply for a write that failed: {got:?}");

    // Reads go on; writes and PING get Redis's MISCONF error.
    let mut c = f.server.conn();
    assert_eq!(c.cmd("PING"), MISCONF);
    assert_eq!(xlen(&mut c), 100, "the failed XADD is not there");
    assert_eq!(c.cmd("GET a"), b"$1\r\n1\r\n");
    assert_eq!(c.req_str("XRANGE s - + COUNT 1").array().len(), 1);
    assert_eq!(c.req_str("XPENDING s g").array()[0].int(), 10);
    assert_eq!(c.cmd("SET b 2"), MISCONF);
    assert_eq!(c.cmd("XADD s 2000-1 f v"), MISCONF);
    assert_eq!(c.cmd("XREADGROUP GROUP g bob STREAMS s >"), MISCONF);
    assert_eq!(c.cmd("XACK s g 1-1"), MISCONF);
    assert_eq!(c.cmd("DEL a"), MISCONF);
    // In a transaction the refused write aborts EXEC, as in Redis.
    assert_eq!(c.cmd("MULTI"), b"+OK\r\n");
    assert_eq!(c.cmd("SET b 2"), MISCONF);
    assert_eq!(
        c.cmd("EXEC"),
        b"-EXECABORT Transaction discarded because of previous errors.\r\n"
    );
    assert_eq!(
        c.info_field("persistence", "aof_last_write_status")
            .as_deref(),
        Some("err")
    );
    assert_eq!(
        c.info_field("persistence", "sluice_writes_refused_cause")
            .as_deref(),
        Some("No space left on device")
    );
    assert!(f.log_text().contains("disk full: refusing writes"));

    // Space comes back: writes resume by themselves (the probe runs once a second).
    f.inject("");
    let deadline = Instant::now() + Duration::from_secs(15);
    while c
        .info_field("persistence", "aof_last_write_status")
        .as_deref()
        != Some("ok")
    {
        assert!(Instant::now() < deadline, "writes did not resume");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(c.cmd("PING"), b"+PONG\r\n");
    assert_eq!(c.cmd("SET b 2"), b"+OK\r\n");
    xadd_acked(&mut c, 101, 120);
    assert!(f.log_text().contains("writes resume"));

    // Everything acknowledged survives kill -9.
    f.restart_clean();
    let mut c = f.server.conn();
    assert_entries(&mut c, 120);
    assert_eq!(xlen(&mut c), 120);
    assert_eq!(c.cmd("MGET a b"), b"*2\r\n$1\r\n1\r\n$1\r\n2\r\n");
    assert_eq!(c.req_str("XPENDING s g").array()[0].int(), 10);
}

/// WAITJOB across a failed commit: an ACKJOB whose commit met the full disk is lost (the store
/// is reopened from disk), so it neither answers a waiter nor counts for one; once writes
/// resume, removals wake waiters again.
#[test]
fn a_waitjob_client_counts_only_committed_removals_across_a_full_disk() {
    let f = Faulty::start(&["--appendfsync", "everysec", "--min-free-disk", "0"]);
    let mut c = f.server.conn();
    let add = |c: &mut Conn, body: &str| c.req_str(&format!("ADDJOB q {body} 0")).text();
    let (a, b, d, e) = (
        add(&mut c, "a"),
        add(&mut c, "b"),
        add(&mut c, "d"),
        add(&mut c, "e"),
    );
    let blocked = |c: &mut Conn| c.info_field("clients", "blocked_clients");
    let mut w = f.server.conn();
    let wid = w.req_str("CLIENT ID").int();
    w.send_raw(&common::encode(&[
        b"WAITJOB",
        a.as_bytes(),
        b.as_bytes(),
        e.as_bytes(),
    ]));
    let mut w1 = f.server.conn();
    w1.send_raw(&common::encode(&[b"WAITJOB", d.as_bytes()]));
    let deadline = Instant::now() + Duration::from_secs(10);
    while blocked(&mut c).as_deref() != Some("2") {
        assert!(Instant::now() < deadline, "WAITJOB did not block");
        std::thread::sleep(Duration::from_millis(20));
    }
    f.inject("write-enospc");
    // The ACKJOB that meets the full disk: no reply, and the waiter of its job is closed
    // unanswered with it (its reply waited on the same commit).
    let got = send_and_read_to_close(f.server.port, &[b"ACKJOB", a.as_bytes(), d.as_bytes()]);
    assert!(got.is_empty(), "a reply for an ACKJOB that failed: {got:?}");
    assert!(
        w1.is_closed(),
        "the waiter woken by the lost ACKJOB is closed"
    );
    let mut c = f.server.conn();
    assert_eq!(c.cmd(&format!("SHOW {a}"))[..3], *b"*30", "the lost ACKJOB");
    f.inject("");
    let deadline = Instant::now() + Duration::from_secs(15);
    while c.cmd("PING") != b"+PONG\r\n" {
        assert!(Instant::now() < deadline, "writes did not resume");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(blocked(&mut c).as_deref(), Some("1"));
    // Removals after the reopen count, the lost one of `a` does not: two of three are gone
    // at CLIENT UNBLOCK.
    assert_eq!(c.cmd(&format!("ACKJOB {b}")), b":1\r\n");
    assert_eq!(c.cmd(&format!("ACKJOB {e}")), b":1\r\n");
    assert_eq!(blocked(&mut c).as_deref(), Some("1"));
    assert_eq!(c.req_str(&format!("CLIENT UNBLOCK {wid}")).int(), 1);
    assert_eq!(w.read_reply(), b":2\r\n");
    // A new waiter is woken as usual.
    w.send_raw(&common::encode(&[b"WAITJOB", a.as_bytes(), b.as_bytes()]));
    let deadline = Instant::now() + Duration::from_secs(10);
    while blocked(&mut c).as_deref() != Some("1") {
        assert!(Instant::now() < deadline, "WAITJOB did not block");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(c.cmd(&format!("ACKJOB {a}")), b":1\r\n");
    assert_eq!(w.read_reply(), b":2\r\n");
}

#[test]
fn shutdown_works_while_the_disk_is_full() {
    let mut f = Faulty::start(&["--appendfsync", "always", "--min-free-disk", "0"]);
    let mut c = f.server.conn();
    xadd_acked(&mut c, 1, 50);
    f.inject("write-enospc");
    let got = send_and_read_to_close(f.server.port, &[b"XADD", b"s", b"1000-1", b"f", b"v"]);
    assert!(got.is_empty(), "a reply for a write that failed: {got:?}");
    let mut c = f.server.conn();
    assert_eq!(c.cmd("SET x 1"), MISCONF);
    // SHUTDOWN closes the connection and the process exits cleanly.
    c.send_raw(&common::encode(&[b"SHUTDOWN"]));
    assert!(c.is_closed());
    assert_eq!(f.wait_exit(), Some(0));
    f.restart_clean();
    let mut c = f.server.conn();
    assert_entries(&mut c, 50);
    assert_eq!(xlen(&mut c), 50);
}

#[test]
fn a_clean_stop_with_no_room_for_the_next_journal_still_stops_cleanly() {
    // The stop flushes every memtable and syncs, then seals the journal by opening the next
    // one. With no room for that file the seal fails after everything is already in synced
    // tables: the stop is still clean (status 0, a warning naming it), and the next start
    // replays the old journal, with the new one's empty file beside it.
    let mut f = Faulty::start(&["--appendfsync", "always"]);
    let mut c = f.server.conn();
    xadd_acked(&mut c, 1, 100);
    f.inject("new-journal-enospc");
    c.send_raw(&common::encode(&[b"SHUTDOWN"]));
    assert!(c.is_closed());
    assert_eq!(f.wait_exit(), Some(0));
    let log = f.log_text();
    assert!(
        log.contains("the journal could not be sealed: the next start replays it"),
        "log:\n{log}"
    );
    f.restart_clean();
    let mut c = f.server.conn();
    assert_entries(&mut c, 100);
    assert_eq!(xlen(&mut c), 100);
    // And the stop after that seals it as usual.
    xadd_acked(&mut c, 101, 110);
    c.send_raw(&common::encode(&[b"SHUTDOWN"]));
    assert!(c.is_closed());
    assert_eq!(f.wait_exit(), Some(0));
    f.restart_clean();
    let mut c = f.server.conn();
    assert_entries(&mut c, 110);
}

#[test]
fn a_flush_that_finds_the_disk_full_does_not_hang_shutdown() {
    // The stop flushes memtables to tables; the table writes fail with ENOSPC, fjall's flush
    // worker dies and poisons the store. The stop must still end (it used to wait forever),
    // with a non-zero status and a line naming the failure; the journal keeps everything.
    let mut f = Faulty::start(&["--appendfsync", "always"]);
    let mut c = f.server.conn();
    xadd_acked(&mut c, 1, 100);
    f.inject("table-write-enospc");
    c.send_raw(&common::encode(&[b"SHUTDOWN"]));
    assert!(c.is_closed());
    assert_eq!(f.wait_exit(), Some(1));
    let log = f.log_text();
    assert!(
        log.contains("FATAL: engine stopped on a storage error") && log.contains("Poisoned"),
        "log:\n{log}"
    );
    f.restart_clean();
    let mut c = f.server.conn();
    assert_entries(&mut c, 100);
    assert_eq!(xlen(&mut c), 100);
}

#[test]
fn a_failed_background_flush_makes_the_server_read_only_until_restart() {
    // A memtable flush that fails with EIO (not a full disk) poisons fjall in the background.
    // Exiting would not help (a damaged table would poison every restart again): writes are
    // refused until a restart, reads go on.
    let mut f = Faulty::start(&["--appendfsync", "everysec", "--min-free-disk", "0"]);
    let mut c = f.server.conn();
    xadd_acked(&mut c, 1, 10);
    f.inject("table-write-eio");
    // Fill the entries memtable (64 MiB) so that fjall flushes it, in batches of 4 KiB values.
    let value = vec![b'x'; 4096];
    let mut next = 11u64;
    let deadline = Instant::now() + Duration::from_secs(120);
    let refused = loop {
        let cmds: Vec<Vec<Vec<u8>>> = (0..500)
            .map(|i| {
                vec![
                    b"XADD".to_vec(),
                    b"s".to_vec(),
                    format!("{}-1", next + i).into_bytes(),
                    b"f".to_vec(),
                    value.clone(),
                ]
            })
            .collect();
        let mut s2 = std::net::TcpStream::connect(("127.0.0.1", f.server.port)).expect("connect");
        s2.set_read_timeout(Some(Duration::from_secs(20))).ok();
        let all: Vec<u8> = cmds
            .iter()
            .flat_map(|c| common::encode(&c.iter().map(|a| a.as_slice()).collect::<Vec<_>>()))
            .collect();
        s2.write_all(&all).expect("send");
        let mut got = Vec::new();
        let mut buf = [0u8; 65536];
        let mut acked = 0u64;
        let mut refused = false;
        loop {
            while let Some(n) = common::frame_len(&got) {
                let frame: Vec<u8> = got.drain(..n).collect();
                if frame.starts_with(b"-MISCONF") {
                    refused = true;
                } else {
                    assert!(
                        frame.starts_with(b"$"),
                        "{:?}",
                        String::from_utf8_lossy(&frame)
                    );
                    acked += 1;
                }
            }
            if acked >= 500 || refused {
                break;
            }
            match s2.read(&mut buf) {
                Ok(0) | Err(_) => break, // the drain that met the failure is withheld
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
        next += 500;
        if refused {
            break true;
        }
        // The probe's own drain may be the one that meets the failure: then its connection is
        // closed unanswered (withheld), and the next round sees the refusal.
        if probe_refused(f.server.port) {
            break true;
        }
        assert!(
            Instant::now() < deadline,
            "the failed flush was never noticed"
        );
    };
    assert!(refused);
    let mut c = f.server.conn();
    let refused = c.cmd("SET k v");
    assert!(
        refused.starts_with(b"-MISCONF Writes are refused until the server restarts"),
        "{}",
        String::from_utf8_lossy(&refused)
    );
    assert!(c.req_str("XLEN s").int() >= 10, "reads go on");
    assert_eq!(c.req_str("XRANGE s 1-1 10-1").array().len(), 10);
    assert_eq!(
        c.info_field("persistence", "aof_last_write_status")
            .as_deref(),
        Some("err")
    );
    let log = f.log_text();
    assert!(
        log.contains("refuses writes after a failed background flush or compaction"),
        "log:\n{log}"
    );
    // A restart (the shim off) takes writes again, with every acknowledged entry there.
    f.restart_clean();
    let mut c = f.server.conn();
    assert_entries(&mut c, 10);
    assert_eq!(c.cmd("SET k v"), b"+OK\r\n");
}

#[test]
fn a_torn_journal_write_loses_nothing_acknowledged() {
    let mut f = Faulty::start(&["--appendfsync", "always"]);
    let mut c = f.server.conn();
    xadd_acked(&mut c, 1, 300);
    assert_eq!(c.cmd("SET k before"), b"+OK\r\n");
    // The next journal write is cut in half and the process dies (a crash mid-write).
    f.inject("write-torn");
    let got = send_and_read_to_close(f.server.port, &[b"SET", b"k", b"after"]);
    assert!(got.is_empty(), "a reply for a write that was torn: {got:?}");
    f.wait_exit();
    f.restart_clean();
    let mut c = f.server.conn();
    assert_entries(&mut c, 300);
    assert_eq!(xlen(&mut c), 300);
    assert_eq!(
        c.cmd("GET k"),
        b"$6\r\nbefore\r\n",
        "the torn batch is dropped whole"
    );
    // The server works on: the journal's torn tail was cut off, new writes land after it.
    assert_eq!(c.cmd("SET k again"), b"+OK\r\n");
    f.server.restart();
    let mut c = f.server.conn();
    assert_eq!(c.cmd("GET k"), b"$5\r\nagain\r\n");
    assert_eq!(xlen(&mut c), 300);
}

/// A server process started by hand; killed when dropped (also when a test panics).
struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts the binary with stderr on a pipe; waits until it answers PING.
fn spawn_with_stderr_pipe(dir: &Path, loglevel: &str) -> (Killed, u16) {
    for _ in 0..5 {
        let port = common::free_port();
        let mut child = Command::new(env!("CARGO_BIN_EXE_sluice"))
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--dir"])
            .arg(dir)
            .args(["--loglevel", loglevel])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn sluice");
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                break; // lost the port race
            }
            if let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) {
                s.set_read_timeout(Some(Duration::from_secs(2))).ok();
                let mut buf = [0u8; 64];
                if s.write_all(b"PING\r\n").is_ok() && matches!(s.read(&mut buf), Ok(n) if n > 0) {
                    return (Killed(child), port);
                }
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = child.kill();
        let _ = child.wait();
    }
    panic!("sluice did not start");
}

#[test]
fn a_broken_log_pipe_does_not_stop_the_server() {
    // `sluice … 2>&1 | head -c 200`: the reader goes away, every later log write fails (EPIPE).
    let tmp = tempfile::tempdir().expect("tempdir");
    let (mut child, port) = spawn_with_stderr_pipe(tmp.path(), "debug");
    drop(child.0.stderr.take()); // close the read end: writes to stderr now fail
    let mut c = Conn::new(port);
    for i in 0..2000 {
        assert_eq!(c.cmd(&format!("SET k{i} {i}")), b"+OK\r\n");
    }
    // Commands that log (a client's CONFIG SET of the log level) still get answered.
    assert_eq!(c.cmd("CONFIG SET loglevel debug"), b"+OK\r\n");
    assert_eq!(c.cmd("DBSIZE"), b":2000\r\n");
    assert_alive_then_kill(child);
}

fn assert_alive_then_kill(mut child: Killed) {
    assert!(
        child.0.try_wait().expect("try_wait").is_none(),
        "the server died"
    );
}

#[test]
fn a_log_pipe_nobody_reads_does_not_block_the_server() {
    // stderr is a pipe whose reader never reads: once its 64 KiB buffer is full, a blocking
    // log write would stall the engine. Lines are dropped instead.
    let tmp = tempfile::tempdir().expect("tempdir");
    let (mut child, port) = spawn_with_stderr_pipe(tmp.path(), "debug");
    let _unread = child.0.stderr.take(); // kept open, never read
    let mut c = Conn::new(port);
    // Every new connection and every flush logs at debug level; far more than 64 KiB.
    for i in 0..3000 {
        let mut k = Conn::new(port);
        assert_eq!(k.cmd(&format!("SET k{i} {}", "v".repeat(64))), b"+OK\r\n");
    }
    assert_eq!(c.cmd("DBSIZE"), b":3000\r\n");
    drop(_unread);
    assert_alive_then_kill(child);
}

#[test]
fn the_log_names_the_signal_that_stopped_the_server() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let log = tmp.path().join("sluice.log");
    let mut s = Server::start_env(&tmp.path().join("data"), &[], &[], &log);
    let mut c = s.conn();
    assert_eq!(c.cmd("SET k v"), b"+OK\r\n");
    assert!(s.stop().success(), "SIGTERM stops the server with status 0");
    let text = std::fs::read_to_string(&log).expect("log");
    assert!(text.contains("received SIGTERM"), "log:\n{text}");
}
