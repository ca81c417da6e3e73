//! Corrupt or missing files (issue #10, item 7): for each fault, what the operator sees — the
//! refusal or log line naming the file, the exit code, that nothing was deleted — and that
//! `sluice check` reports it and `sluice repair` salvages the rest into a new directory.
//!
//! Each test builds a small data directory with the real server (a clean shutdown flushes the
//! memtables, so every keyspace has a table), damages it as a disk or an operator would, and
//! looks at the directory only through the binary.

mod common;

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use common::{run_tool, snapshot, start_fails, Conn, Resp, Server};

/// Entries of stream `s`.
const ENTRIES: u64 = 3000;

/// The directory of one of Sluice's keyspaces. `Store::open` creates them in this order on a
/// new database, so fjall numbers them 1, 2, 3 (0 is fjall's meta keyspace); the tests also
/// check that `sluice check` names the keyspace.
fn ks(dir: &Path, name: &str) -> PathBuf {
    let id = match name {
        "keys" => 1,
        "entries" => 2,
        "smeta" => 3,
        // The job store's, created after them (`storage/src/jobs/spaces.rs`).
        "jobs" => 4,
        "job_meta" => 8,
        other => panic!("no keyspace {other}"),
    };
    dir.join("keyspaces").join(id.to_string())
}

/// The largest table file of a keyspace (after a clean shutdown there is one).
fn table_of(dir: &Path, name: &str) -> PathBuf {
    let tables = ks(dir, name).join("tables");
    std::fs::read_dir(&tables)
        .expect("tables dir")
        .flatten()
        .map(|e| e.path())
        .max_by_key(|p| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0))
        .unwrap_or_else(|| panic!("no table in {}", tables.display()))
}

/// The version file `current` names.
fn current_version(tree: &Path) -> PathBuf {
    let raw = std::fs::read(tree.join("current")).expect("current");
    let id = u64::from_le_bytes(raw[..8].try_into().expect("8 bytes"));
    tree.join(format!("v{id}"))
}

/// Flips 8 bytes of `path` at `at`.
fn flip(path: &Path, at: usize) {
    let mut b = std::fs::read(path).expect("read");
    assert!(b.len() > at + 8, "{} is too short", path.display());
    for x in &mut b[at..at + 8] {
        *x ^= 0xFF;
    }
    std::fs::write(path, b).expect("write");
}

fn xadd_cmd(key: &str, id: &str, i: u64) -> Vec<Vec<u8>> {
    vec![
        b"XADD".to_vec(),
        key.into(),
        id.into(),
        b"f".to_vec(),
        i.to_string().into_bytes(),
        b"payload".to_vec(),
        format!("{i:0>100}").into_bytes(),
    ]
}

/// Stream `s` with ENTRIES entries (IDs 1-1 …), group `g` with 10 entries pending for
/// consumer `c`, streams t0..t4 with 5 entries each, strings k0..k19.
fn populate(c: &mut Conn) {
    for chunk in (1..=ENTRIES).collect::<Vec<_>>().chunks(500) {
        let cmds: Vec<Vec<Vec<u8>>> = chunk
            .iter()
            .map(|&i| xadd_cmd("s", &format!("1-{i}"), i))
            .collect();
        for r in c.pipeline(&cmds) {
            assert!(matches!(r, Resp::Bulk(_)), "{r:?}");
        }
    }
    assert_eq!(c.req_str("XGROUP CREATE s g 0"), Resp::Status("OK".into()));
    let read = c.req_str("XREADGROUP GROUP g c COUNT 10 STREAMS s >");
    assert_eq!(read.array()[0].array()[1].array().len(), 10);
    for t in 0..5 {
        for i in 1..=5 {
            let r = c.req(
                &xadd_cmd(&format!("t{t}"), &format!("2-{i}"), i)
                    .iter()
                    .map(Vec::as_slice)
                    .collect::<Vec<_>>(),
            );
            assert!(matches!(r, Resp::Bulk(_)), "{r:?}");
        }
    }
    for k in 0..20 {
        assert_eq!(
            c.req_str(&format!("SET k{k} v{k}")),
            Resp::Status("OK".into())
        );
    }
}

/// A populated data directory after a clean shutdown (every keyspace flushed to a table).
fn stopped_dir() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("data");
    let mut s = Server::start_in(&dir, &[]);
    populate(&mut s.conn());
    assert!(s.stop().success(), "clean shutdown");
    (tmp, dir)
}

/// The data `populate` wrote is all there.
fn assert_complete(c: &mut Conn) {
    assert_eq!(c.req_str("XLEN s").int(), ENTRIES as i64);
    let all = c.req_str("XRANGE s - +");
    assert_eq!(all.array().len(), ENTRIES as usize);
    let pending = c.req_str("XPENDING s g");
    assert_eq!(pending.array()[0].int(), 10, "{pending:?}");
    assert_eq!(c.req_str("XLEN t4").int(), 5);
    assert_eq!(c.req_str("GET k19"), Resp::Bulk(b"v19".to_vec()));
}

fn check(dir: &Path) -> (i32, String) {
    let (code, out, err) = run_tool(&[OsStr::new("check"), dir.as_os_str()]);
    assert!(err.is_empty(), "sluice check wrote to stderr: {err}");
    (code, out)
}

fn repair(dir: &Path, to: &Path) -> (i32, String) {
    let (code, out, err) = run_tool(&[OsStr::new("repair"), dir.as_os_str(), to.as_os_str()]);
    assert!(err.is_empty(), "sluice repair wrote to stderr: {err}");
    (code, out)
}

/// Repairs `dir` into a new directory, checks that the new one is clean, and starts a server
/// on it. Returns the repair report.
fn repair_and_start(dir: &Path, tmp: &Path) -> (String, Server) {
    let to = tmp.join("repaired");
    let (code, report) = repair(dir, &to);
    assert_eq!(code, 1, "repair of a damaged directory exits 1: {report}");
    assert!(
        report.contains("repaired: everything readable was copied into"),
        "{report}"
    );
    let (code, clean) = check(&to);
    assert_eq!(code, 0, "the repaired directory checks clean: {clean}");
    assert!(clean.contains("no damage found"), "{clean}");
    (report, Server::start_in(&to, &[]))
}

/// The refusal names the file and what to do, and the process exits 1.
fn assert_refused(dir: &Path, needles: &[&str]) -> String {
    let (status, log) = start_fails(dir);
    assert_eq!(status.code(), Some(1), "{log}");
    for n in needles {
        assert!(log.contains(n), "the refusal should say {n:?}: {log}");
    }
    assert!(log.contains("Nothing was changed"), "{log}");
    assert!(
        log.contains(&format!("sluice repair {}", dir.display())),
        "{log}"
    );
    log
}

// ---------------------------------------------------------------------------------------------
// Missing files: refused before fjall touches the directory, so nothing at all changes.

#[test]
fn missing_current_is_refused_naming_it_and_nothing_is_deleted() {
    let (tmp, dir) = stopped_dir();
    let current = ks(&dir, "entries").join("current");
    std::fs::remove_file(&current).expect("rm current");
    let before = snapshot(&dir);
    assert_refused(
        &dir,
        &[
            &format!("{}: is missing", current.display()),
            "fjall would delete the whole keyspace directory",
        ],
    );
    assert_eq!(
        snapshot(&dir),
        before,
        "the refused start changed the directory"
    );

    let (code, report) = check(&dir);
    assert_eq!(code, 1, "{report}");
    assert!(
        report.contains(&format!(
            "DAMAGE: {} (keyspace `entries`): is missing",
            current.display()
        )),
        "{report}"
    );
    let (_, s) = repair_and_start(&dir, tmp.path());
    assert_complete(&mut s.conn());
    assert_eq!(
        snapshot(&dir),
        before,
        "check and repair changed the directory"
    );
}

#[test]
fn damaged_current_is_refused_naming_it() {
    let (tmp, dir) = stopped_dir();
    let current = ks(&dir, "keys").join("current");
    std::fs::write(&current, b"garbage").expect("write");
    let before = snapshot(&dir);
    assert_refused(
        &dir,
        &[&format!(
            "{}: is damaged (7 bytes, where fjall writes 25",
            current.display()
        )],
    );
    assert_eq!(snapshot(&dir), before);
    let (code, report) = check(&dir);
    assert_eq!(code, 1, "{report}");
    assert!(report.contains("(keyspace `keys`): is damaged"), "{report}");
    let (_, s) = repair_and_start(&dir, tmp.path());
    assert_complete(&mut s.conn());
}

#[test]
fn missing_version_file_is_refused_and_repair_lists_the_tables_again() {
    let (tmp, dir) = stopped_dir();
    let version = current_version(&ks(&dir, "smeta"));
    std::fs::remove_file(&version).expect("rm version");
    let before = snapshot(&dir);
    assert_refused(
        &dir,
        &[
            &format!("{}: is missing", version.display()),
            "it lists the keyspace's tables",
        ],
    );
    assert_eq!(snapshot(&dir), before);
    let (code, report) = check(&dir);
    assert_eq!(code, 1, "{report}");
    assert!(
        report.contains("(keyspace `smeta`): is missing"),
        "{report}"
    );
    assert!(
        report.contains("read all 1 table files present"),
        "{report}"
    );
    let (_, s) = repair_and_start(&dir, tmp.path());
    assert_complete(&mut s.conn());
}

#[test]
fn missing_table_file_is_refused_naming_it() {
    let (tmp, dir) = stopped_dir();
    let table = table_of(&dir, "entries");
    std::fs::remove_file(&table).expect("rm table");
    let before = snapshot(&dir);
    assert_refused(&dir, &[&format!("{}: is missing", table.display())]);
    assert_eq!(snapshot(&dir), before);
    let (code, report) = check(&dir);
    assert_eq!(code, 1, "{report}");
    assert!(
        report.contains(&format!(
            "DAMAGE: {} (keyspace `entries`): is missing",
            table.display()
        )),
        "{report}"
    );
    // A clean shutdown leaves no journal to replay (the data is all in tables), so the
    // entries the table held are lost, and the repair says which; everything else is copied.
    let (report, s) = repair_and_start(&dir, tmp.path());
    assert!(
        report.contains("DAMAGE: stream \"s\" (db 0): 3000 of its 3000 entries could not be read"),
        "{report}"
    );
    assert!(report.contains("6 streams with 0 entries"), "{report}");
    let mut c = s.conn();
    assert_eq!(c.req_str("GET k19"), Resp::Bulk(b"v19".to_vec()));
    assert_eq!(c.req_str("XRANGE s - +").array().len(), 0);
    assert_eq!(c.req_str("EXISTS s t4").int(), 2);
}

/// Tables of a keyspace lost while the journal still holds what they held (a crash after a
/// memtable was flushed by size: fjall drops a journal only once every keyspace has flushed
/// past it, and only a clean shutdown seals it at once): the repair gets every job back from
/// the journal.
#[test]
fn missing_tables_whose_writes_are_still_in_the_journal_are_salvaged_whole() {
    /// Enough 200-byte jobs to pass the 16 MiB memtable of `jobs` once, and to stay within one
    /// 64 MB journal.
    const JOBS: usize = 70_000;
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("data");
    let mut s = Server::start_in(&dir, &[]);
    let mut c = s.conn();
    let body = vec![b'x'; 200];
    for _ in 0..JOBS / 1000 {
        let cmds: Vec<Vec<Vec<u8>>> = (0..1000)
            .map(|_| {
                vec![
                    b"ADDJOB".to_vec(),
                    b"q".to_vec(),
                    body.clone(),
                    b"0".to_vec(),
                ]
            })
            .collect();
        for r in c.pipeline(&cmds) {
            assert!(matches!(r, Resp::Status(_)), "{r:?}");
        }
    }
    // Wait (on the directory, not a sleep) for the flush the memtable's size set off.
    let tables = ks(&dir, "jobs").join("tables");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let listed = |tables: &Path| -> Vec<PathBuf> {
        std::fs::read_dir(tables)
            .map(|d| d.flatten().map(|e| e.path()).collect())
            .unwrap_or_default()
    };
    while listed(&tables).is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "no table of `jobs` after 60 s"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
        // A PING makes sure the engine goes on turning (and notices the flush).
        assert_eq!(c.req_str("PING"), Resp::Status("PONG".into()));
    }
    drop(c);
    s.kill9();
    let lost = listed(&tables);
    for t in &lost {
        std::fs::remove_file(t).expect("rm table");
    }
    assert_refused(&dir, &["is missing"]);
    let (report, s) = repair_and_start(&dir, tmp.path());
    assert!(
        report.contains(&format!("readable: {JOBS} jobs in 1 job queues")),
        "{report}"
    );
    assert_eq!(s.conn().req_str("QLEN q").int(), JOBS as i64);
}

/// A stream entry whose record passes fjall's checksum but whose field list does not decode
/// (a bug or a bad block the checksum missed): every command that meets it answers one error,
/// and nothing of the reply it had begun (XREAD writes its key and array headers before the
/// entries) goes out ahead of it, so the connection stays in step.
#[test]
fn an_entry_that_does_not_decode_is_one_error_reply_not_a_cut_reply() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("data");
    let mut s = Server::start_in(&dir, &[]);
    let mut c = s.conn();
    assert_eq!(c.req_str("XADD s 5-1 a 1"), Resp::Bulk(b"5-1".to_vec()));
    assert_eq!(c.req_str("XGROUP CREATE s g 0"), Resp::Status("OK".into()));
    drop(c);
    assert!(s.stop().success(), "clean shutdown");
    {
        let db = fjall::Database::builder(&dir).open().expect("open fjall");
        let entries = db
            .keyspace("entries", fjall::KeyspaceCreateOptions::default)
            .expect("entries");
        let (k, v) = entries
            .iter()
            .next()
            .expect("one run")
            .into_inner()
            .expect("read");
        // The run (`storage/src/stream/run.rs`): format 1, one entry, ID deltas 0 and 0, the
        // field list's length 5, then the field list: 2 items, "a", "1". Three items do not
        // fit in it.
        assert_eq!(
            &v[..],
            &[1, 1, 0, 0, 5, 2, 1, b'a', 1, b'1'],
            "the run as encoded"
        );
        let mut bad = v.to_vec();
        bad[5] = 3;
        entries.insert(k, bad).expect("insert");
        db.persist(fjall::PersistMode::SyncAll).expect("persist");
    }
    s.restart();
    let mut c = s.conn();
    for cmd in [
        "XREAD STREAMS s 0",
        "XREAD COUNT 5 STREAMS s s 0 0",
        "XRANGE s - +",
        "XREVRANGE s + -",
        "XREADGROUP GROUP g c STREAMS s >",
        "XINFO STREAM s FULL",
    ] {
        let reply = c.cmd(cmd);
        assert_eq!(
            reply,
            b"-ERR corrupt data on disk: entry 5-1 does not decode\r\n".to_vec(),
            "{cmd}: {:?}",
            String::from_utf8_lossy(&reply)
        );
        assert_eq!(c.cmd("PING"), b"+PONG\r\n".to_vec(), "after {cmd}");
    }
}

#[test]
fn lost_meta_keyspace_is_refused_and_repair_restores_everything() {
    let (tmp, dir) = stopped_dir();
    let meta = dir.join("keyspaces").join("0");
    std::fs::remove_dir_all(&meta).expect("rm meta keyspace");
    let before = snapshot(&dir);
    assert_refused(
        &dir,
        &[
            &format!("{}: is missing: fjall's meta keyspace", meta.display()),
            "fjall would delete every keyspace directory as unreferenced",
        ],
    );
    assert_eq!(snapshot(&dir), before);
    let (code, report) = check(&dir);
    assert_eq!(code, 1, "{report}");
    assert!(
        report.contains(
            "taking keyspaces 1, 2 and 3 for `keys`, `entries` and `smeta`, and 4 to 8 for the \
             job store's `jobs` … `job_meta`"
        ),
        "{report}"
    );
    let (_, s) = repair_and_start(&dir, tmp.path());
    assert_complete(&mut s.conn());
}

#[test]
fn missing_journal_is_refused() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("data");
    let mut s = Server::start_in(&dir, &[]);
    populate(&mut s.conn());
    s.kill9(); // the writes are in the journal only
    let journals: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("read_dir")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "jnl"))
        .collect();
    assert!(!journals.is_empty());
    for j in &journals {
        std::fs::remove_file(j).expect("rm journal");
    }
    let before = snapshot(&dir);
    assert_refused(&dir, &["holds no journal (*.jnl)"]);
    assert_eq!(snapshot(&dir), before);
    let (code, report) = check(&dir);
    assert_eq!(code, 1, "{report}");
    assert!(report.contains("holds no journal"), "{report}");
    // What was never flushed is gone; the repaired directory is consistent and starts.
    let (_, s) = repair_and_start(&dir, tmp.path());
    assert!(s.conn().req_str("DBSIZE").int() >= 0);
}

#[test]
fn garbage_database_marker_is_refused_naming_it() {
    let (tmp, dir) = stopped_dir();
    let marker = dir.join("version");
    std::fs::write(&marker, b"garbage").expect("write");
    let before = snapshot(&dir);
    assert_refused(
        &dir,
        &[&format!(
            "{}: holds \"garbage\" instead of fjall's database marker",
            marker.display()
        )],
    );
    assert_eq!(snapshot(&dir), before);
    let (code, report) = check(&dir);
    assert_eq!(code, 1, "{report}");
    let (_, s) = repair_and_start(&dir, tmp.path());
    assert_complete(&mut s.conn());
}

// ---------------------------------------------------------------------------------------------
// A torn journal tail: recovered as before, and logged with what was dropped.

/// The end of the last non-zero byte of `path` (fjall preallocates journals with zeros).
fn data_end(path: &Path) -> u64 {
    let b = std::fs::read(path).expect("read journal");
    b.iter().rposition(|&x| x != 0).map_or(0, |i| i as u64 + 1)
}

fn active_journal(dir: &Path) -> PathBuf {
    std::fs::read_dir(dir)
        .expect("read_dir")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "jnl"))
        .max_by_key(|p| {
            p.file_stem()
                .and_then(|s| s.to_str())
                .and_then(|s| s.parse::<u64>().ok())
                .unwrap_or(0)
        })
        .expect("a journal")
}

/// 200 XADDs, one per command (each its own batch), then kill -9: they are in the journal only.
fn crashed_with_200_entries() -> (tempfile::TempDir, Server) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("data");
    let mut s = Server::start_in(&dir, &[]);
    let mut c = s.conn();
    for i in 1..=200u64 {
        let r = c.req(
            &xadd_cmd("j", &format!("1-{i}"), i)
                .iter()
                .map(Vec::as_slice)
                .collect::<Vec<_>>(),
        );
        assert!(matches!(r, Resp::Bulk(_)), "{r:?}");
    }
    drop(c);
    s.kill9();
    (tmp, s)
}

fn torn_tail(cut: u64) {
    let (tmp, mut s) = crashed_with_200_entries();
    let journal = active_journal(&s.dir);
    let end = data_end(&journal);
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(&journal)
        .expect("open journal");
    f.set_len(end - cut).expect("truncate");
    drop(f);

    let (code, report) = check(&s.dir);
    assert_eq!(code, 0, "a torn tail is not damage: {report}");
    let warned = report
        .lines()
        .find(|l| l.starts_with(&format!("warning: {}: its last ", journal.display())))
        .unwrap_or_else(|| panic!("no warning about the torn tail: {report}"));
    let torn: u64 = warned
        .split("its last ")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .and_then(|n| n.parse().ok())
        .expect("bytes in the warning");
    assert!(torn > 0 && torn < end);

    let log = tmp.path().join("restart.log");
    s.restart_logged(&log);
    let text = std::fs::read_to_string(&log).expect("log");
    let line = text
        .lines()
        .find(|l| l.contains("did not form a complete batch"))
        .unwrap_or_else(|| panic!("the dropped tail is not logged: {text}"));
    assert!(line.contains(" WARN "), "{line}");
    assert!(
        line.contains(&format!(
            "the last {torn} bytes of journal {}",
            journal.display()
        )),
        "{line}"
    );
    assert!(line.contains("were dropped at recovery"), "{line}");
    assert!(line.contains("appendfsync always"), "{line}");
    // Only the torn last batch (the last XADD) is gone.
    let mut c = s.conn();
    assert_eq!(c.req_str("XLEN j").int(), 199);
    let last = c.req_str("XREVRANGE j + - COUNT 1");
    assert_eq!(last.array()[0].array()[0].text(), "1-199");
}

#[test]
fn journal_cut_by_5_bytes_drops_the_last_batch_and_says_so() {
    torn_tail(5);
}

#[test]
fn journal_cut_by_100_bytes_drops_the_last_batch_and_says_so() {
    torn_tail(100);
}

#[test]
fn zero_padding_dropped_after_a_crash_is_not_reported() {
    let (tmp, mut s) = crashed_with_200_entries();
    let (code, report) = check(&s.dir);
    assert_eq!(code, 0, "{report}");
    assert!(!report.contains("warning"), "{report}");
    let log = tmp.path().join("restart.log");
    s.restart_logged(&log);
    let text = std::fs::read_to_string(&log).expect("log");
    assert!(!text.contains("did not form a complete batch"), "{text}");
    assert_eq!(s.conn().req_str("XLEN j").int(), 200);
}

// ---------------------------------------------------------------------------------------------
// Flipped bytes in a table of each keyspace.

#[test]
fn flipped_bytes_in_an_entries_table_fail_reads_of_that_range_only() {
    let (tmp, dir) = stopped_dir();
    let table = table_of(&dir, "entries");
    let len = std::fs::metadata(&table).expect("table").len() as usize;
    flip(&table, len / 3);

    // The server starts (entries are not read at start); the damaged range answers an error,
    // everything else works.
    let mut s = Server::start_in(&dir, &[]);
    let mut c = s.conn();
    match c.req_str("XRANGE s - +") {
        Resp::Error(e) => {
            assert!(e.starts_with("ERR storage error"), "{e}");
            assert!(e.contains("ChecksumMismatch"), "{e}");
        }
        other => panic!("a read of the damaged range succeeded: {:?}", other),
    }
    assert_eq!(c.req_str("XLEN s").int(), ENTRIES as i64);
    assert_eq!(c.req_str("XRANGE t0 - +").array().len(), 5);
    assert_eq!(c.req_str("GET k3"), Resp::Bulk(b"v3".to_vec()));
    assert!(matches!(c.req_str("XADD t0 * a b"), Resp::Bulk(_)));
    drop(c);
    assert!(s.stop().success());

    let (code, report) = check(&dir);
    assert_eq!(code, 1, "{report}");
    assert!(
        report.contains(&format!(
            "DAMAGE: {} (keyspace `entries`): damaged: its checksum does not match",
            table.display()
        )),
        "{report}"
    );
    let lost_line = report
        .lines()
        .find(|l| l.contains("DAMAGE: stream \"s\" (db 0): ") && l.contains("could not be read"))
        .unwrap_or_else(|| panic!("the damaged stream is not named: {report}"));
    let lost: i64 = lost_line
        .split("(db 0): ")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .and_then(|n| n.parse().ok())
        .expect("a count");
    assert!(lost > 0 && lost < ENTRIES as i64, "{lost_line}");

    let (_, s) = repair_and_start(&dir, tmp.path());
    let mut c = s.conn();
    assert_eq!(c.req_str("XLEN s").int(), ENTRIES as i64 - lost);
    assert_eq!(
        c.req_str("XRANGE s - +").array().len() as i64,
        ENTRIES as i64 - lost
    );
    assert_eq!(c.req_str("XPENDING s g").array()[0].int(), 10);
    assert_eq!(c.req_str("XLEN t0").int(), 6);
    assert_eq!(c.req_str("GET k19"), Resp::Bulk(b"v19".to_vec()));
}

/// The table files, which a refused start must leave alone. (fjall's open itself may truncate
/// journal padding, and a compaction started by the open may move a table to another level,
/// which writes a new version file and `current`; neither loses anything.)
fn tables(dir: &Path) -> Vec<(PathBuf, (u64, u64))> {
    snapshot(dir)
        .into_iter()
        .filter(|(p, _)| p.components().any(|c| c.as_os_str() == "tables"))
        .collect()
}

#[test]
fn flipped_bytes_in_the_keys_table_are_refused_naming_it_and_repair_keeps_the_entries() {
    let (tmp, dir) = stopped_dir();
    let table = table_of(&dir, "keys");
    flip(&table, 100);
    let before = tables(&dir);
    assert_refused(
        &dir,
        &[
            "can't read the key directory and stream metadata",
            &format!("{}: damaged: its checksum does not match", table.display()),
        ],
    );
    assert_eq!(tables(&dir), before);

    let (code, report) = check(&dir);
    assert_eq!(code, 1, "{report}");
    assert!(report.contains("(keyspace `keys`): damaged"), "{report}");
    assert!(report.contains("DAMAGE: key records from"), "{report}");
    // Stream `s` was the first stream created: incarnation 1. Its key record is lost, its
    // entries are not.
    assert!(
        report.contains("3000 readable entries belong to stream incarnation 1"),
        "{report}"
    );
    let (_, s) = repair_and_start(&dir, tmp.path());
    assert_eq!(
        s.conn().req_str("XLEN sluice-orphan:1").int(),
        ENTRIES as i64
    );
}

/// A damaged table of the job store is refused as the job store's, not blamed on the key
/// directory.
#[test]
fn flipped_bytes_in_the_job_meta_table_are_refused_naming_the_job_store() {
    let (_tmp, dir) = stopped_dir();
    let table = table_of(&dir, "job_meta");
    flip(&table, 20);
    let before = tables(&dir);
    assert_refused(
        &dir,
        &[
            "can't load the job store (keyspaces `jobs`, `job_bodies`, `job_queued`, \
             `job_timers`, `job_meta`)",
            &format!("{}: damaged: its checksum does not match", table.display()),
        ],
    );
    assert_eq!(tables(&dir), before);
}

#[test]
fn flipped_bytes_in_the_smeta_table_are_refused_naming_it_and_repair_rebuilds_the_streams() {
    let (tmp, dir) = stopped_dir();
    let table = table_of(&dir, "smeta");
    flip(&table, 100);
    let before = tables(&dir);
    assert_refused(
        &dir,
        &[
            "can't read the key directory and stream metadata",
            &format!("{}: damaged: its checksum does not match", table.display()),
        ],
    );
    assert_eq!(tables(&dir), before);

    let (code, report) = check(&dir);
    assert_eq!(code, 1, "{report}");
    assert!(report.contains("(keyspace `smeta`): damaged"), "{report}");
    assert!(
        report.contains(
            "DAMAGE: stream \"s\" (db 0): its node records (keyspace smeta) could not be read"
        ),
        "{report}"
    );
    let groups_lost = report.contains("DAMAGE: stream \"s\" (db 0): its consumer groups");
    let (_, s) = repair_and_start(&dir, tmp.path());
    let mut c = s.conn();
    // The entries are intact: the stream is rebuilt from them.
    assert_eq!(c.req_str("XLEN s").int(), ENTRIES as i64);
    assert_eq!(c.req_str("XRANGE s - +").array().len(), ENTRIES as usize);
    let groups = c.req_str("XINFO GROUPS s");
    if groups_lost {
        assert!(groups.array().is_empty(), "{groups:?}");
    } else {
        assert_eq!(c.req_str("XPENDING s g").array()[0].int(), 10);
    }
    assert_eq!(c.req_str("GET k0"), Resp::Bulk(b"v0".to_vec()));
}

fn status(r: Resp) -> String {
    match r {
        Resp::Status(s) => s,
        other => panic!("not a status: {other:?}"),
    }
}

const LIB: &[u8] =
    b"#!lua name=kept\nredis.register_function('kfn', function(keys, args) return 'kept ' .. args[1] end)";

#[test]
fn check_of_a_clean_directory_exits_0_and_repair_copies_everything() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("data");
    let mut s = Server::start_in(&dir, &[]);
    let mut c = s.conn();
    populate(&mut c);
    // Jobs: queued (in order), delivered (active, RETRY timer), delayed; a paused queue; a
    // function library.
    let queued: Vec<String> = (0..3)
        .map(|i| status(c.req_str(&format!("ADDJOB jq job{i} 0 RETRY 60"))))
        .collect();
    let got = c.req_str("GETJOB FROM jq");
    assert_eq!(got.array()[0].array()[1].text(), queued[0]);
    let delayed = status(c.req_str("ADDJOB later d 0 DELAY 3600"));
    assert_eq!(c.req_str("PAUSE jq out"), Resp::Status("out".into()));
    assert_eq!(c.cmd_args(&[b"FUNCTION", b"LOAD", LIB]), b"$4\r\nkept\r\n");
    drop(c);
    assert!(s.stop().success(), "clean shutdown");

    let (code, report) = check(&dir);
    assert_eq!(code, 0, "{report}");
    assert!(report.contains("no damage found"), "{report}");
    assert!(
        report.contains("readable: 20 strings, 6 streams with 3025 entries, 1 consumer groups with 10 pending entries"),
        "{report}"
    );
    assert!(
        report.contains("readable: 4 jobs in 1 job queues, 1 function libraries"),
        "{report}"
    );
    let to = tmp.path().join("copy");
    let (code, out) = repair(&dir, &to);
    assert_eq!(code, 0, "{out}");
    let s = Server::start_in(&to, &[]);
    let mut c = s.conn();
    assert_complete(&mut c);
    // The jobs, under the same IDs (the node ID was kept), in the same states and order.
    let show = c.req_str(&format!("SHOW {}", queued[0]));
    assert_eq!(show.field("state").text(), "active");
    let within = show.field("next-requeue-within").int();
    assert!(within > 0 && within <= 60_000, "{within}");
    assert_eq!(
        c.req_str(&format!("SHOW {delayed}")).field("state").text(),
        "active"
    );
    assert_eq!(c.req_str("PAUSE jq state"), Resp::Status("out".into()));
    assert_eq!(c.req_str("PAUSE jq none"), Resp::Status("none".into()));
    let peek: Vec<String> = c
        .req_str("QPEEK jq 10")
        .array()
        .iter()
        .map(|j| j.array()[1].text())
        .collect();
    assert_eq!(peek, queued[1..].to_vec());
    let got = c.req_str("GETJOB FROM jq");
    assert_eq!(got.array()[0].array()[1].text(), queued[1]);
    assert_eq!(got.array()[0].array()[2].bulk(), b"job1");
    assert_eq!(
        c.info_field("jobs", "registered_jobs").as_deref(),
        Some("4")
    );
    // The function library is loaded again at start.
    assert_eq!(
        c.cmd_args(&[b"FCALL", b"kfn", b"0", b"x"]),
        b"$6\r\nkept x\r\n"
    );
}

#[test]
fn the_tools_refuse_a_directory_in_use() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("data");
    let _s = Server::start_in(&dir, &[]);
    let (code, out, err) = run_tool(&[OsStr::new("check"), dir.as_os_str()]);
    assert_eq!(code, 2, "{out}");
    assert!(
        err.contains("is in use (its lock is held): stop the server first"),
        "{err}"
    );
}
