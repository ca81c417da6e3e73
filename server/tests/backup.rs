//! Backups (SAVE / BGSAVE / LASTSAVE): a copy taken while writes go on holds every write
//! acknowledged before the command, is a data directory a fresh Sluice starts from, and a
//! shutdown during a copy leaves no half backup under a final name.

mod common;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{Conn, Server};

fn info(c: &mut Conn, field: &str) -> String {
    let raw = c.cmd("INFO persistence");
    String::from_utf8_lossy(&raw)
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .unwrap_or_default()
        .trim()
        .to_string()
}

/// Waits until no backup runs; returns the last backup's path.
fn wait_backup(c: &mut Conn) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    while info(c, "rdb_bgsave_in_progress") != "0" {
        assert!(Instant::now() < deadline, "backup still running after 60 s");
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(info(c, "rdb_last_bgsave_status"), "ok");
    info(c, "sluice_last_backup")
}

#[test]
fn a_backup_taken_under_load_restores_every_acknowledged_write() {
    let backups = tempfile::tempdir().expect("tempdir");
    let dir = backups.path().to_string_lossy().into_owned();
    let s = Server::start(&["--appendfsync", "everysec", "--backup-dir", &dir]);
    let mut c = s.conn();
    assert_eq!(c.cmd("SET k before"), b"+OK\r\n");
    assert_eq!(c.cmd("XGROUP CREATE s g $ MKSTREAM"), b"+OK\r\n");
    let before_save = c.cmd("LASTSAVE");

    // A writer adding entries 0, 1, 2, … one request at a time; `acked` counts the replies.
    let acked = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (acked, stop, port) = (Arc::clone(&acked), Arc::clone(&stop), s.port);
        std::thread::spawn(move || {
            let mut w = Conn::new(port);
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let r = w.cmd(&format!("XADD s {}-1 n {n}", n + 1));
                assert!(
                    r.starts_with(b"$"),
                    "XADD failed: {}",
                    String::from_utf8_lossy(&r)
                );
                n += 1;
                acked.store(n, Ordering::SeqCst);
            }
        })
    };
    while acked.load(Ordering::SeqCst) < 2000 {
        std::thread::sleep(Duration::from_millis(1));
    }
    // Some pending entries too: the copy must hold the group's PEL.
    assert!(c
        .cmd("XREADGROUP GROUP g alice COUNT 10 STREAMS s >")
        .starts_with(b"*1"));
    let acked_before = acked.load(Ordering::SeqCst);
    assert_eq!(c.cmd("BGSAVE"), b"+Background saving started\r\n");
    // While it runs (or right after): a second BGSAVE is refused or, with SCHEDULE, queued.
    let again = c.cmd("BGSAVE");
    assert!(
        again == b"-ERR Background save already in progress\r\n"
            || again == b"+Background saving started\r\n",
        "{}",
        String::from_utf8_lossy(&again)
    );
    let path = wait_backup(&mut c);
    stop.store(true, Ordering::Relaxed);
    writer.join().expect("writer");
    let total = acked.load(Ordering::SeqCst);
    assert!(!path.is_empty(), "INFO names no backup");
    // LASTSAVE counts seconds: it does not go back, and it is now.
    let secs = |r: Vec<u8>| -> u64 {
        String::from_utf8_lossy(&r)
            .trim_start_matches(':')
            .trim()
            .parse()
            .expect("LASTSAVE integer")
    };
    let (was, is) = (secs(before_save), secs(c.cmd("LASTSAVE")));
    assert!(is >= was, "LASTSAVE {was} -> {is}");
    assert!(total > acked_before);

    // A fresh server on the copy.
    let copy = Server::start_in(std::path::Path::new(&path), &[]);
    let mut r = copy.conn();
    assert_eq!(r.cmd("GET k"), b"$6\r\nbefore\r\n");
    let range = common::parse_resp(&r.cmd("XRANGE s - +")).0;
    let entries = range.array();
    // A prefix of what the writer added: every acknowledged entry before BGSAVE, in order,
    // nothing missing in between, nothing after what was acknowledged in the end.
    assert!(
        entries.len() as u64 >= acked_before && entries.len() as u64 <= total,
        "backup holds {} entries; {acked_before} were acknowledged before BGSAVE, {total} in all",
        entries.len()
    );
    for (i, e) in entries.iter().enumerate() {
        let e = e.array();
        assert_eq!(e[0].bulk(), format!("{}-1", i + 1).as_bytes());
        assert_eq!(e[1].array()[1].bulk(), i.to_string().as_bytes());
    }
    assert_eq!(
        r.cmd("XLEN s"),
        format!(":{}\r\n", entries.len()).into_bytes()
    );
    let pending = common::parse_resp(&r.cmd("XPENDING s g")).0;
    assert_eq!(pending.array()[0].int(), 10);
    // The copy is a working data directory: it takes writes.
    assert!(r.cmd("XADD s * n after").starts_with(b"$"));
}

#[test]
fn save_lastsave_and_the_two_newest_backups_kept() {
    let backups = tempfile::tempdir().expect("tempdir");
    let dir = backups.path().to_string_lossy().into_owned();
    let s = Server::start(&["--backup-dir", &dir]);
    let mut c = s.conn();
    c.cmd("XADD s 1-1 f v");
    for _ in 0..3 {
        assert_eq!(c.cmd("SAVE"), b"+OK\r\n");
    }
    let last: i64 = String::from_utf8_lossy(&c.cmd("LASTSAVE"))
        .trim_start_matches(':')
        .trim()
        .parse()
        .expect("LASTSAVE integer");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64;
    assert!((now - last).abs() <= 2, "LASTSAVE {last}, now {now}");
    let names: Vec<String> = std::fs::read_dir(backups.path())
        .expect("backup dir")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
    assert!(names
        .iter()
        .all(|n| n.starts_with("sluice-") && !n.ends_with(".partial")));
    assert_eq!(c.cmd("BGSAVE NOW"), b"-ERR syntax error\r\n");
    assert!(c
        .cmd("SAVE x")
        .starts_with(b"-ERR wrong number of arguments"));
    assert_eq!(
        c.cmd("CONFIG GET backup-dir"),
        format!("*2\r\n$10\r\nbackup-dir\r\n${}\r\n{dir}\r\n", dir.len()).into_bytes()
    );
}

#[test]
fn a_shutdown_during_a_backup_leaves_no_half_copy_under_a_final_name() {
    let backups = tempfile::tempdir().expect("tempdir");
    let dir = backups.path().to_string_lossy().into_owned();
    let mut s = Server::start(&["--backup-dir", &dir]);
    let mut c = s.conn();
    // Enough data that the copy is still running when the shutdown comes, usually.
    let value = "x".repeat(512);
    for chunk in 0..40 {
        let cmds: Vec<Vec<Vec<u8>>> = (0..1000)
            .map(|i| {
                vec![
                    b"XADD".to_vec(),
                    b"s".to_vec(),
                    format!("{}-1", chunk * 1000 + i + 1).into_bytes(),
                    b"f".to_vec(),
                    value.clone().into_bytes(),
                ]
            })
            .collect();
        c.pipeline(&cmds);
    }
    assert_eq!(c.cmd("BGSAVE"), b"+Background saving started\r\n");
    assert!(s.stop().success());
    for e in std::fs::read_dir(backups.path())
        .expect("backup dir")
        .flatten()
    {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.ends_with(".partial") {
            continue;
        }
        // A backup under its final name is complete: it opens with every entry.
        let copy = Server::start_in(&e.path(), &[]);
        assert_eq!(copy.conn().cmd("XLEN s"), b":40000\r\n", "{name}");
    }
}

/// A backup holds the job store, whose records span five keyspaces (`jobs/spaces.rs`): queued
/// jobs in their order, a large body (a record of its own), a delivered job, a paused queue.
#[test]
fn a_backup_holds_every_job_queue_and_body() {
    let backups = tempfile::tempdir().expect("tempdir");
    let dir = backups.path().to_string_lossy().into_owned();
    let s = Server::start(&["--backup-dir", &dir]);
    let mut c = s.conn();
    let add = |c: &mut Conn, line: &str| match c.req_str(line) {
        common::Resp::Status(id) => id,
        other => panic!("ADDJOB {line}: {other:?}"),
    };
    let large = "L".repeat(5000);
    let queued: Vec<String> = (0..5)
        .map(|i| add(&mut c, &format!("ADDJOB q body{i} 0")))
        .collect();
    let big = add(&mut c, &format!("ADDJOB q {large} 0"));
    let taken = add(&mut c, "ADDJOB r x 0 RETRY 600");
    let got = c.req_str("GETJOB NOHANG FROM r");
    assert_eq!(got.array()[0].array()[1].bulk(), taken.as_bytes());
    assert_eq!(c.cmd("PAUSE p in"), b"+in\r\n");
    assert_eq!(c.cmd("BGSAVE"), b"+Background saving started\r\n");
    let path = wait_backup(&mut c);

    let copy = Server::start_in(std::path::Path::new(&path), &[]);
    let mut r = copy.conn();
    assert_eq!(r.cmd("QLEN q"), b":6\r\n");
    assert_eq!(r.cmd("QLEN r"), b":0\r\n");
    assert_eq!(r.cmd("PAUSE p state"), b"+in\r\n");
    let show = r.req_str(&format!("SHOW {taken}"));
    assert_eq!(
        show.field("state").text(),
        "active",
        "the delivered job stays active"
    );
    // The queued jobs come out in their order, the large body whole.
    let got = r.req_str("GETJOB NOHANG COUNT 10 FROM q");
    let ids: Vec<&[u8]> = got.array().iter().map(|j| j.array()[1].bulk()).collect();
    let mut want: Vec<&[u8]> = queued.iter().map(|s| s.as_bytes()).collect();
    want.push(big.as_bytes());
    assert_eq!(ids, want);
    assert_eq!(got.array()[5].array()[2].bulk(), large.as_bytes());
}
