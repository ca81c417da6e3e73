//! The checks around [`Store::open`]: what is refused before fjall touches the directory, what
//! is reported after fjall's recovery, and how a failure to open or load is explained.
//!
//! Before: [`crate::check::inspect`] lists and parses the directory; any problem (a missing
//! `current`, version, table or journal file, a damaged marker, a name fjall panics on) refuses
//! the open with every problem named, so fjall never gets to delete a keyspace or to create a
//! database over an existing one. The one thing recreated is the empty lock file.
//!
//! After fjall's recovery: each journal whose torn tail recovery dropped is logged with the bytes
//! lost (padding is not reported); a keyspace directory that existed before and is gone now is
//! logged as an error (fjall deletes directories its meta keyspace does not name, which only a
//! damaged meta keyspace can cause); a database missing one of Sluice's keyspaces is refused.
//!
//! On failure: fjall's errors name no file, so a failed open or load verifies the tables involved
//! byte for byte and names the damaged ones.
//!
//! Invariant: nothing here deletes, truncates or rewrites anything; only a missing lock file is
//! created.

use std::path::Path;

use fjall::{Database, Keyspace};

use super::{Result, StoreError};
use crate::check::{self, Inspection, Layout};

/// Sluice's keyspaces, in the order `Store::open` creates them.
pub(super) const KEYSPACES: [&str; 3] = ["keys", "entries", "smeta"];

/// Inspects `path` before fjall opens it: `Ok(None)` for a new directory, the layout of an
/// existing one that is safe to open, or an error naming every problem.
pub(super) fn preflight(path: &Path) -> Result<Option<Layout>> {
    let started = std::time::Instant::now();
    let layout = match check::inspect(path) {
        Ok(Inspection::New) => return Ok(None),
        Ok(Inspection::Existing(l)) => l,
        Err(e) => {
            return Err(StoreError::Corrupt(format!(
                "can't read the data directory {}: {e}",
                path.display()
            )))
        }
    };
    let problems = layout.problems();
    if !problems.is_empty() {
        return Err(StoreError::Corrupt(refusal(path, &problems)));
    }
    for note in layout.notes() {
        tracing::warn!("{note}");
    }
    if !layout.lock_present {
        let lock = path.join(check::LOCK_FILE);
        std::fs::File::create_new(&lock).map_err(|e| {
            StoreError::Corrupt(format!(
                "can't create the lock file {}: {e}",
                lock.display()
            ))
        })?;
    }
    tracing::debug!(
        ms = started.elapsed().as_millis() as u64,
        journals = layout.journals.len(),
        journal_bytes = layout.journals.iter().map(|j| j.scan.data_end).sum::<u64>(),
        keyspaces = layout.keyspaces.len(),
        "data directory checked"
    );
    Ok(Some(layout))
}

/// The message refusing a damaged directory.
pub(super) fn refusal(path: &Path, problems: &[check::Problem]) -> String {
    let list: Vec<String> = problems.iter().map(ToString::to_string).collect();
    format!(
        "the data directory {} is damaged: {}. {}",
        path.display(),
        list.join("; "),
        check::remedy(path)
    )
}

/// Logs every journal whose recovery dropped a torn tail: non-zero bytes after its last
/// complete batch (the zero padding of a preallocated journal is not reported).
pub(super) fn report_dropped_tails(layout: &Layout) {
    for j in &layout.journals {
        let torn = j.scan.torn_bytes();
        if torn == 0 || j.scan.damage.is_some() {
            continue;
        }
        // Recovery truncated the file to its last complete batch (or a flush deleted it since).
        let now = std::fs::metadata(&j.path).map(|m| m.len()).ok();
        let dropped = match now {
            Some(len) => j.scan.data_end.saturating_sub(len),
            None => torn,
        };
        if dropped == 0 {
            continue;
        }
        tracing::warn!(
            file = %j.path.display(),
            dropped_bytes = dropped,
            kept_batches = j.scan.batches,
            "the last {dropped} bytes of journal {} (bytes {}..{}) did not form a complete batch \
             and were dropped at recovery: the writes in them are lost. Under appendfsync always \
             none of them had been acknowledged; under everysec or no, writes acknowledged just \
             before the crash may be among them",
            j.path.display(),
            j.scan.valid_end,
            j.scan.data_end,
        );
    }
}

/// Refuses a database that holds some of Sluice's keyspaces but not all, unless those it holds
/// are empty (a first start that stopped half-way) or it has no data format marker (format 1,
/// refused later by that name). fjall would create the missing one empty.
pub(super) fn require_keyspaces(db: &Database, path: &Path) -> Result<()> {
    let present: Vec<&str> = KEYSPACES
        .iter()
        .copied()
        .filter(|n| db.keyspace_exists(n))
        .collect();
    if present.is_empty() || present.len() == KEYSPACES.len() {
        return Ok(());
    }
    if db.keyspace_exists("keys") {
        let keys = db.keyspace("keys", fjall::KeyspaceCreateOptions::default)?;
        if keys.get(super::FORMAT_KEY)?.is_none() {
            // No data format marker: a directory of format 1 (or not Sluice's), which
            // `check_format` refuses by that name.
            return Ok(());
        }
    }
    let mut holds_data = false;
    for name in &present {
        let ks = db.keyspace(name, fjall::KeyspaceCreateOptions::default)?;
        holds_data |= !ks.is_empty()?;
    }
    if !holds_data {
        return Ok(());
    }
    let missing: Vec<String> = KEYSPACES
        .iter()
        .filter(|n| !present.contains(n))
        .map(|n| format!("`{n}`"))
        .collect();
    Err(StoreError::Corrupt(format!(
        "the data directory {} lacks keyspace {} (its directory under {}/ is gone, while the \
         other keyspaces hold data). {}",
        path.display(),
        missing.join(" and "),
        path.join(check::KEYSPACES_DIR).display(),
        check::remedy(path)
    )))
}

/// Logs every keyspace directory that held data before the open and is gone after it.
pub(super) fn report_deleted_keyspaces(layout: &Layout) {
    for ks in &layout.keyspaces {
        if !ks.is_empty() && !ks.path.exists() {
            tracing::error!(
                dir = %ks.path.display(),
                tables = ks.table_files.len(),
                bytes = ks.table_bytes,
                "fjall deleted keyspace directory {} at start: its meta keyspace (keyspaces/0) \
                 does not name it. Restore the directory from a backup if it held Sluice's data",
                ks.path.display()
            );
        }
    }
}

/// Explains a failed `Database::open`: fjall's error names no file, so the tables of every
/// keyspace are verified byte for byte and the damaged ones named.
pub(super) fn open_failure(path: &Path, layout: Option<&Layout>, e: fjall::Error) -> StoreError {
    // Another process holds the directory: nothing is damaged, and the server says who.
    if matches!(e, fjall::Error::Locked) {
        return StoreError::Fjall(e);
    }
    let damaged = layout
        .map(|l| damaged_tables(l, |_| true))
        .unwrap_or_default();
    if damaged.is_empty() {
        return StoreError::Corrupt(format!(
            "fjall could not open the database in {}: {e}. {}",
            path.display(),
            check::remedy(path)
        ));
    }
    StoreError::Corrupt(format!(
        "fjall could not open the database in {} ({e}): {}. {}",
        path.display(),
        damaged.join("; "),
        check::remedy(path)
    ))
}

/// What failed to load at start, for [`load_failure`]'s message.
pub(super) enum Loading {
    /// The key directory and stream metadata (`Store::load`, keyspaces `keys` and `smeta`).
    Keys,
    /// The job store (`Jobs::load`, its keyspaces), including the one-time moves of its
    /// records from older layouts.
    Jobs,
}

/// Explains a failure to load `what` at start: names the damaged tables of the keyspaces in
/// `read` (those the load reads).
pub(super) fn load_failure(
    path: &Path,
    what: Loading,
    read: &[(&str, &Keyspace)],
    e: StoreError,
) -> StoreError {
    let StoreError::Fjall(inner) = &e else {
        return e;
    };
    // Inspected again: fjall may have flushed or compacted since the open.
    let damaged = match check::inspect(path) {
        Ok(Inspection::Existing(l)) => damaged_tables(&l, |ks| {
            read.iter()
                .any(|(_, handle)| same_dir(handle.path(), &ks.path))
        }),
        _ => Vec::new(),
    };
    let names: Vec<String> = read.iter().map(|(n, _)| format!("`{n}`")).collect();
    let found = if damaged.is_empty() {
        String::new()
    } else {
        format!(": {}", damaged.join("; "))
    };
    let names = names.join(if names.len() == 2 { " and " } else { ", " });
    let remedy = check::remedy(path);
    StoreError::Corrupt(match what {
        Loading::Keys => format!(
            "can't read the key directory and stream metadata (keyspaces {names}) at start \
             ({inner}){found}. The server needs all of them to start: a key record it could not \
             read would be shadowed by the next write to that name. {remedy}"
        ),
        Loading::Jobs => format!(
            "can't load the job store (keyspaces {names}) at start ({inner}){found}. The server \
             needs it to start: a job or queue it could not read would be missing from every \
             reply. If the error is a full disk or another write error, fix that and start again: \
             a move of job records from an older layout resumes where it stopped (it is \
             journaled record by record). Otherwise: {remedy}"
        ),
    })
}

fn same_dir(a: &Path, b: &Path) -> bool {
    a == b
        || match (a.canonicalize(), b.canonicalize()) {
            (Ok(x), Ok(y)) => x == y,
            _ => false,
        }
}

/// The tables of the keyspaces `which` selects whose bytes do not match their checksum, as
/// messages naming the file.
fn damaged_tables(layout: &Layout, which: impl Fn(&check::KeyspaceDir) -> bool) -> Vec<String> {
    let mut out = Vec::new();
    for ks in layout.keyspaces.iter().filter(|k| which(k)) {
        let Some(Ok(v)) = &ks.version else { continue };
        for t in v.tables() {
            if let Err(what) = check::verify_table(t) {
                out.push(format!("{}: {what}", t.path.display()));
            }
        }
    }
    out
}
