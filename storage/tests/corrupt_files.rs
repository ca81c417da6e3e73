//! Corrupt records and journals seen through `Store::open` and the offline tools' API (the
//! server-level cases are in `server/tests/corrupt_files.rs`): what the error names.

use std::path::{Path, PathBuf};

use bytes::Bytes;
use sluice_storage::stream::layout::NodeLimits;
use sluice_storage::stream::StreamId;
use sluice_storage::{Store, StoreError, StoreOptions};

fn open(path: &Path) -> Result<Store, StoreError> {
    Store::open(path, &StoreOptions::default(), 0)
}

fn refusal(path: &Path) -> String {
    match open(path) {
        Ok(_) => panic!("opened a directory it should refuse"),
        Err(StoreError::Corrupt(what)) => what,
        Err(e) => panic!("an error that names nothing: {e}"),
    }
}

/// A store with stream `s` holding `n` entries, one commit (one journal batch) each, dropped
/// without a clean shutdown: the writes are in the journal only.
fn journaled(path: &Path, n: u64) {
    let mut s = open(path).expect("open");
    s.stream_create(0, Bytes::from_static(b"s"));
    for seq in 1..=n {
        let fields = [
            Bytes::from_static(b"field"),
            Bytes::from(format!("value-{seq:040}")),
        ];
        s.stream_append(
            0,
            b"s",
            StreamId::new(1, seq),
            &fields,
            NodeLimits::default(),
            0,
        );
        s.end_command();
        s.commit().expect("commit");
    }
    s.persist(sluice_storage::Sync::Os).expect("persist");
}

fn journal(path: &Path) -> PathBuf {
    path.join("0.jnl")
}

#[test]
fn a_journal_batch_damaged_in_the_middle_is_refused_naming_the_file_and_the_byte() {
    let dir = tempfile::tempdir().expect("tempdir");
    journaled(dir.path(), 20);
    let j = journal(dir.path());
    let mut bytes = std::fs::read(&j).expect("journal");
    // A value byte of an entry appended half-way (its text is in the run).
    let at = bytes
        .windows(10)
        .position(|w| w.ends_with(b"0000000010"))
        .expect("entry 10 in the journal");
    bytes[at] ^= 0x01;
    std::fs::write(&j, &bytes).expect("write");

    let what = refusal(dir.path());
    assert!(
        what.contains(&format!("{}: damaged at byte", j.display())),
        "{what}"
    );
    assert!(what.contains("fails its checksum"), "{what}");
    assert!(what.contains("fjall refuses to replay"), "{what}");

    // check names it; repair keeps the batches before it.
    let report = sluice_storage::repair::check(dir.path()).expect("check");
    assert!(!report.is_clean());
    assert!(
        report
            .damage
            .iter()
            .any(|d| d.contains("damaged at byte") && d.contains("0.jnl")),
        "{:?}",
        report.damage
    );
    let to = dir.path().join("repaired");
    let report = sluice_storage::repair::repair(dir.path(), &to).expect("repair");
    assert_eq!(report.repaired_into.as_deref(), Some(to.as_path()));
    let mut s = open(&to).expect("the repaired directory opens");
    let len = s.stream(0, b"s", 0).expect("type").expect("stream").len();
    assert!((1..10).contains(&len), "{len} entries kept");
    assert_eq!(report.counts.entries, len);
}

#[test]
fn a_garbage_data_format_record_is_refused_naming_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    drop(open(dir.path()).expect("create"));
    {
        let db = fjall::Database::builder(dir.path()).open().expect("fjall");
        let keys = db
            .keyspace("keys", fjall::KeyspaceCreateOptions::default)
            .expect("keys");
        keys.insert(b"\xFFformat", b"\x01\x02\x03").expect("insert");
        db.persist(fjall::PersistMode::SyncAll).expect("persist");
    }
    let what = refusal(dir.path());
    assert!(
        what.contains(
            "the data format marker (key \"\\xFFformat\" in keyspace `keys`) holds \
             \"\\x01\\x02\\x03\", not a 4-byte format number"
        ),
        "{what}"
    );
    assert!(what.contains("sluice repair"), "{what}");
}

#[test]
fn a_lost_keyspace_directory_is_refused_instead_of_recreated_empty() {
    let dir = tempfile::tempdir().expect("tempdir");
    journaled(dir.path(), 3);
    {
        let mut s = open(dir.path()).expect("reopen");
        s.close().expect("close");
    }
    // smeta is the third keyspace Store::open creates.
    std::fs::remove_dir_all(dir.path().join("keyspaces/3")).expect("rm smeta");
    let what = refusal(dir.path());
    assert!(what.contains("lacks keyspace `smeta`"), "{what}");
}

#[test]
fn a_lost_jobs_keyspace_directory_is_refused_instead_of_recreated_empty() {
    let dir = tempfile::tempdir().expect("tempdir");
    journaled(dir.path(), 3);
    {
        let mut s = open(dir.path()).expect("reopen");
        s.close().expect("close");
    }
    // jobs is the fourth keyspace Store::open creates.
    std::fs::remove_dir_all(dir.path().join("keyspaces/4")).expect("rm jobs");
    let what = refusal(dir.path());
    assert!(what.contains("lacks keyspace `jobs`"), "{what}");
}

#[test]
fn a_lost_job_index_keyspace_directory_is_refused_instead_of_recreated_empty() {
    let dir = tempfile::tempdir().expect("tempdir");
    journaled(dir.path(), 3);
    {
        let mut s = open(dir.path()).expect("reopen");
        s.close().expect("close");
    }
    // job_queued is the sixth keyspace Store::open creates (`jobs/spaces.rs`).
    std::fs::remove_dir_all(dir.path().join("keyspaces/6")).expect("rm job_queued");
    let what = refusal(dir.path());
    assert!(what.contains("lacks keyspace `job_queued`"), "{what}");
}

#[test]
fn a_new_or_empty_directory_is_still_created() {
    let dir = tempfile::tempdir().expect("tempdir");
    let nested = dir.path().join("a/b");
    std::fs::create_dir_all(&nested).expect("mkdir");
    drop(open(&nested).expect("an empty directory opens"));
    drop(open(&dir.path().join("fresh")).expect("a missing directory is created"));
    drop(open(&nested).expect("and reopens"));
}

#[test]
fn a_missing_lock_file_is_created_again() {
    let dir = tempfile::tempdir().expect("tempdir");
    journaled(dir.path(), 3);
    std::fs::remove_file(dir.path().join("lock")).expect("rm lock");
    let mut s = open(dir.path()).expect("opens without its lock file");
    assert_eq!(
        s.stream(0, b"s", 0).expect("type").expect("stream").len(),
        3
    );
    assert!(dir.path().join("lock").exists());
}
