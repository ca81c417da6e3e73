//! The offline tools `sluice check <dir>` and `sluice repair <dir> <new-dir>`. No networking.
//!
//! Both read the database through a *shadow*: a scratch directory next to it holding hard
//! links to its table files (copies where linking fails) and copies of everything fjall may
//! change at open (journals up to their last data byte, `current` and version files, the
//! marker). fjall never writes into a table file, so the database itself is never changed: not
//! by the journal truncation of recovery, not by lsm-tree's cleanup of old versions, not by the
//! fixes below. The shadow is opened with no background workers (no flush, no compaction) and
//! removed at the end.
//!
//! What is fixed in the shadow so fjall can open it, each fix reported:
//! * a missing or damaged marker is written again;
//! * a journal damaged in the middle is copied up to its last good batch;
//! * a tree whose `current` or version file is missing or damaged, or whose version lists a
//!   table that is missing or unreadable, gets a new version file listing every table file
//!   present (tables whose bytes fail their checksum are kept: their readable blocks are
//!   salvaged), and a `current` naming it;
//! * if fjall still cannot open it, the tables whose bytes fail their checksum are left out.
//!
//! Then `check` verifies every table file byte for byte and reads every record with the
//! tolerant scan of `store::salvage` (and `jobs::salvage` for the job store), reporting each
//! damaged file, key range, stream, group, job and function library; `repair` also writes
//! everything readable into a new data directory through `Store`'s normal write path, so the
//! new directory is consistent (lengths, node layouts, PEL logs, and the job store's queue and
//! timer indexes, queue lengths and job count are rebuilt from what was read).
//!
//! Invariants: the source directory is only read (its lock is held while the shadow is made,
//! and a directory in use by a running server is refused); the target directory must be new or
//! empty.

use std::io::Write;
use std::path::{Path, PathBuf};

use fjall::{Database, KeyspaceCreateOptions};

use crate::check::{self, Current, Inspection, KeyspaceDir, Layout, Version};
pub use crate::store::salvage::Counts;
use crate::store::salvage::{self, Findings};
use crate::store::{Store, StoreOptions};

/// Databases the tools accept keys in (the server's `databases` may be anything up to this).
const ALL_DATABASES: usize = 256;

/// What a check or repair found.
#[derive(Debug, Default)]
pub struct Report {
    pub dir: PathBuf,
    /// Missing or damaged files, unreadable records: each line names what is lost.
    pub damage: Vec<String>,
    /// Worth knowing, loses nothing that was complete (a torn journal tail, how the shadow was
    /// read).
    pub warnings: Vec<String>,
    /// What was readable (and, for repair, copied).
    pub counts: Counts,
    /// Where `repair` wrote the salvaged data.
    pub repaired_into: Option<PathBuf>,
}

impl Report {
    /// True when nothing is damaged.
    pub fn is_clean(&self) -> bool {
        self.damage.is_empty()
    }

    /// The report as an operator reads it.
    pub fn print(&self, out: &mut impl Write) -> std::io::Result<()> {
        let c = &self.counts;
        writeln!(out, "data directory: {}", self.dir.display())?;
        for d in &self.damage {
            writeln!(out, "DAMAGE: {d}")?;
        }
        for w in &self.warnings {
            writeln!(out, "warning: {w}")?;
        }
        writeln!(
            out,
            "readable: {} strings, {} streams with {} entries, {} consumer groups with {} \
             pending entries{}",
            c.strings,
            c.streams,
            c.entries,
            c.groups,
            c.pending,
            if c.orphan_entries > 0 {
                format!(
                    ", {} entries of streams whose key is lost",
                    c.orphan_entries
                )
            } else {
                String::new()
            }
        )?;
        writeln!(
            out,
            "readable: {} jobs in {} job queues{}, {} function libraries",
            c.jobs,
            c.job_queues,
            if c.lost_jobs > 0 {
                format!(" ({} jobs lost)", c.lost_jobs)
            } else {
                String::new()
            },
            c.functions
        )?;
        match (&self.repaired_into, self.is_clean()) {
            (Some(to), true) => writeln!(
                out,
                "repaired: everything was copied into {}; start the server on it",
                to.display()
            ),
            (Some(to), false) => writeln!(
                out,
                "repaired: everything readable was copied into {}; what is listed as DAMAGE \
                 above is not in it. Start the server on it (and keep the old directory until \
                 you are satisfied)",
                to.display()
            ),
            (None, true) => writeln!(out, "no damage found"),
            (None, false) => writeln!(
                out,
                "{} problems found; `sluice repair {} <new-dir>` copies everything readable into \
                 a new data directory",
                self.damage.len(),
                self.dir.display()
            ),
        }
    }
}

/// `sluice check <dir>`.
pub fn check(dir: &Path) -> Result<Report, String> {
    run(dir, None)
}

/// `sluice repair <dir> <new-dir>`.
pub fn repair(src: &Path, dst: &Path) -> Result<Report, String> {
    if let Ok(mut rd) = std::fs::read_dir(dst) {
        if rd.next().is_some() {
            return Err(format!(
                "{} is not empty: repair writes into a new or empty directory",
                dst.display()
            ));
        }
    }
    if same_path(src, dst) {
        return Err("the new directory must differ from the damaged one".into());
    }
    run(src, Some(dst))
}

fn same_path(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(x), Ok(y)) => x == y,
        _ => a == b,
    }
}

fn run(dir: &Path, dst: Option<&Path>) -> Result<Report, String> {
    let mut report = Report {
        dir: dir.to_path_buf(),
        ..Report::default()
    };
    if !dir.is_dir() {
        return Err(format!("{} is not a directory", dir.display()));
    }
    let _lock = lock_source(dir)?;
    let layout = match check::inspect(dir) {
        Ok(Inspection::Existing(l)) => l,
        Ok(Inspection::New) => {
            return Err(format!(
                "{} holds no database (no fjall files in it)",
                dir.display()
            ))
        }
        Err(e) => return Err(format!("can't read {}: {e}", dir.display())),
    };
    for p in layout.problems() {
        report.damage.push(p.to_string());
    }
    for n in layout.notes() {
        report.warnings.push(n.to_string());
    }
    for j in &layout.journals {
        if j.scan.damage.is_none() && j.scan.torn_bytes() > 0 {
            report.warnings.push(format!(
                "{}: its last {} bytes (from byte {}) do not form a complete batch: a write torn \
                 by a crash, which the server drops when it starts (writes acknowledged under \
                 appendfsync always are never in it)",
                j.path.display(),
                j.scan.torn_bytes(),
                j.scan.valid_end
            ));
        }
    }
    // Every table, byte for byte.
    let mut damaged_tables = Vec::new();
    for ks in &layout.keyspaces {
        let Some(Ok(v)) = &ks.version else { continue };
        for t in v.tables() {
            if t.len.is_none() || t.unreadable.is_some() {
                continue; // reported among the problems
            }
            if let Err(what) = check::verify_table(t) {
                if !layout.meta_damage.iter().any(|p| p.path == t.path) {
                    report.damage.push(format!("{}: {what}", t.path.display()));
                }
                damaged_tables.push(t.path.clone());
            }
        }
    }
    let shadow = Shadow::create(dir)?;
    build_shadow(&layout, &shadow.path, &mut report.warnings)
        .map_err(|e| format!("can't prepare a copy of {} to read: {e}", dir.display()))?;
    let db = match open_shadow(&shadow.path) {
        Ok(db) => db,
        Err(first) if !damaged_tables.is_empty() => {
            // lsm-tree could not open a damaged table at all: read without those.
            leave_out_tables(&layout, &shadow.path, &damaged_tables)
                .map_err(|e| format!("can't prepare a copy of {} to read: {e}", dir.display()))?;
            for t in &damaged_tables {
                report.damage.push(format!(
                    "{}: could not be opened at all ({first}), so none of its keys are read",
                    t.display()
                ));
            }
            open_shadow(&shadow.path).map_err(|e| {
                format!(
                    "fjall cannot open even a repaired copy of {}: {e}",
                    dir.display()
                )
            })?
        }
        Err(e) => {
            return Err(format!(
                "fjall cannot open even a repaired copy of {}: {e}",
                dir.display()
            ))
        }
    };
    name_keyspaces(&db, &mut report);
    let handle = |name: &str| {
        db.keyspace(name, KeyspaceCreateOptions::default)
            .map_err(|e| format!("can't open keyspace {name} of the copy: {e}"))
    };
    for name in ["keys", "entries", "smeta"] {
        if !db.keyspace_exists(name) {
            report.damage.push(format!(
                "keyspace `{name}` is missing: everything it held is lost"
            ));
        }
    }
    let (keys, entries, smeta) = (handle("keys")?, handle("entries")?, handle("smeta")?);
    let opts = StoreOptions {
        databases: ALL_DATABASES,
        ..StoreOptions::default()
    };
    // Directories from before keyspace `jobs` have none (their job records are in `keys`):
    // an empty one is made in the copy.
    let job_spaces = crate::jobs::spaces::NAMES;
    let existed: Vec<bool> = job_spaces.iter().map(|n| db.keyspace_exists(n)).collect();
    let jobs = crate::jobs::spaces::Spaces::open(&db)
        .map_err(|e| format!("can't open the job keyspaces of the copy: {e}"))?;
    let mut src = Store::from_parts(db, keys, entries, smeta, jobs, &opts);
    if !existed[0] && salvage::jobs_keyspace_was_made(&src) {
        report.damage.push(if salvage::jobs_split_was_made(&src) {
            "keyspace `jobs` is missing: every job record is lost (the queues and the job \
             store's node ID are in `job_meta`)"
                .into()
        } else {
            "keyspace `jobs` is missing: every job, job queue and the job store's node ID are \
             lost"
                .into()
        });
    }
    if salvage::jobs_split_was_made(&src) {
        for (name, _) in job_spaces
            .iter()
            .zip(&existed)
            .skip(1)
            .filter(|(_, e)| !**e)
        {
            report.damage.push(format!(
                "keyspace `{name}` is missing: what it held is lost (the queue and timer \
                 indexes are rebuilt from the job records; large bodies and queue records \
                 are not)"
            ));
        }
    }
    let mut findings = Findings::default();
    let mut target = match dst {
        Some(d) => Some(
            Store::open(d, &opts, 0)
                .map_err(|e| format!("can't create the new data directory {}: {e}", d.display()))?,
        ),
        None => None,
    };
    let counts = salvage::salvage(&mut src, target.as_mut(), &mut findings)
        .map_err(|e| format!("salvage stopped: {e}"))?;
    if let Some(mut t) = target {
        t.close()
            .map_err(|e| format!("can't finish the new data directory: {e}"))?;
        report.repaired_into = dst.map(Path::to_path_buf);
    }
    drop(src);
    report.counts = counts;
    report.damage.extend(findings.damage);
    report.warnings.extend(findings.warnings);
    Ok(report)
}

/// Holds the source's lock while the shadow is made; refuses a directory a server has open.
fn lock_source(dir: &Path) -> Result<Option<std::fs::File>, String> {
    let path = dir.join(check::LOCK_FILE);
    let Ok(file) = std::fs::File::open(&path) else {
        return Ok(None);
    };
    match file.try_lock() {
        Ok(()) => Ok(Some(file)),
        Err(std::fs::TryLockError::WouldBlock) => Err(format!(
            "{} is in use (its lock is held): stop the server first",
            dir.display()
        )),
        Err(std::fs::TryLockError::Error(e)) => Err(format!("can't lock {}: {e}", path.display())),
    }
}

/// The scratch directory, removed when dropped.
struct Shadow {
    path: PathBuf,
}

impl Shadow {
    /// Next to `dir` (so table files can be hard-linked), else in the temp directory.
    fn create(dir: &Path) -> Result<Shadow, String> {
        let name = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "data".into());
        let leaf = format!(".{name}.sluice-shadow-{}", std::process::id());
        let beside = dir.parent().map(|p| p.join(&leaf));
        for path in beside.into_iter().chain([std::env::temp_dir().join(&leaf)]) {
            if std::fs::create_dir(&path).is_ok() {
                return Ok(Shadow { path });
            }
        }
        Err(format!(
            "can't create a scratch directory next to {} or in {}",
            dir.display(),
            std::env::temp_dir().display()
        ))
    }
}

impl Drop for Shadow {
    fn drop(&mut self) {
        if let Err(e) = std::fs::remove_dir_all(&self.path) {
            tracing::warn!(dir = %self.path.display(), "can't remove the scratch copy: {e}");
        }
    }
}

fn open_shadow(path: &Path) -> fjall::Result<Database> {
    // No workers: nothing is flushed or compacted in the copy while it is read.
    Database::builder(path)
        .manual_journal_persist(true)
        .worker_threads_unchecked(0)
        .open()
}

/// Adds the keyspace names to the report's lines that name keyspace directories.
fn name_keyspaces(db: &Database, report: &mut Report) {
    let mut names = Vec::new();
    for name in db.list_keyspace_names() {
        if let Ok(ks) = db.keyspace(&name, KeyspaceCreateOptions::default) {
            names.push((format!("keyspaces/{}/", ks.id()), name.to_string()));
        }
    }
    for line in report.damage.iter_mut().chain(report.warnings.iter_mut()) {
        for (dir, name) in &names {
            if line.contains(dir.as_str()) && !line.contains("(keyspace `") {
                if let Some(at) = line.find(": ") {
                    line.insert_str(at, &format!(" (keyspace `{name}`)"));
                }
            }
        }
    }
}

fn link_or_copy(from: &Path, to: &Path) -> std::io::Result<()> {
    if std::fs::hard_link(from, to).is_ok() {
        return Ok(());
    }
    std::fs::copy(from, to).map(drop)
}

/// Copies the first `n` bytes of `from`.
fn copy_prefix(from: &Path, to: &Path, n: u64) -> std::io::Result<()> {
    use std::io::Read;
    let src = std::fs::File::open(from)?;
    let mut dst = std::fs::File::create_new(to)?;
    std::io::copy(&mut src.take(n), &mut dst)?;
    dst.sync_all()
}

/// True when fjall's meta keyspace (which names the others) cannot be read: missing, or a
/// table of it missing or damaged. (A missing `current` or version file of it is fixed like
/// any other tree's.)
fn meta_unusable(layout: &Layout) -> bool {
    if !layout.meta_damage.is_empty() {
        return true;
    }
    match layout.keyspace(check::META_KEYSPACE) {
        None => true,
        Some(ks) => match &ks.version {
            Some(Ok(v)) => v
                .tables()
                .any(|t| t.len.is_none() || t.unreadable.is_some()),
            _ => ks.table_files.is_empty(),
        },
    }
}

/// Starts the shadow as a new database whose meta keyspace names Sluice's keyspaces 1, 2, 3
/// (the order `Store::open` creates them in), then drops the new, empty trees and journal: the
/// source's are copied in their place. For a source whose meta keyspace is lost.
fn fresh_meta(layout: &Layout, shadow: &Path, notes: &mut Vec<String>) -> std::io::Result<()> {
    let ids: Vec<u64> = layout
        .keyspaces
        .iter()
        .map(|k| k.id)
        .filter(|&id| id != check::META_KEYSPACE)
        .collect();
    // Keyspace 4 (`jobs`) exists in directories made since the job store has its own, and
    // 5 to 8 (`job_bodies` … `job_meta`) in those made since it has five.
    if ids != [1, 2, 3] && ids != [1, 2, 3, 4] && ids != [1, 2, 3, 4, 5, 6, 7, 8] {
        return Err(std::io::Error::other(format!(
            "fjall's meta keyspace (keyspaces/0) is lost, and the keyspace directories ({ids:?}) \
             are not the 1, 2, 3(, 4(, 5 to 8)) Sluice creates, so which is which is unknown"
        )));
    }
    {
        let db = open_shadow(shadow).map_err(|e| std::io::Error::other(e.to_string()))?;
        let fail = |e: fjall::Error| std::io::Error::other(e.to_string());
        db.keyspace("keys", KeyspaceCreateOptions::default)
            .map_err(fail)?;
        db.keyspace("entries", || {
            KeyspaceCreateOptions::default().filter_policy(fjall::config::FilterPolicy::disabled())
        })
        .map_err(fail)?;
        db.keyspace("smeta", KeyspaceCreateOptions::default)
            .map_err(fail)?;
        // In the order `Spaces::open` creates them, so that each gets its directory's ID.
        let jobs = &crate::jobs::spaces::NAMES[..ids.len() - 3];
        for name in jobs {
            db.keyspace(name, || {
                crate::jobs::spaces::options(name).unwrap_or_default()
            })
            .map_err(fail)?;
        }
    }
    for entry in std::fs::read_dir(shadow)? {
        let p = entry?.path();
        if p.extension().is_some_and(|e| e == "jnl") {
            std::fs::remove_file(p)?;
        }
    }
    for id in &ids {
        std::fs::remove_dir_all(shadow.join(check::KEYSPACES_DIR).join(id.to_string()))?;
    }
    let jobs = match ids.len() {
        4 => ", and 4 for `jobs`",
        8 => ", and 4 to 8 for the job store's `jobs` … `job_meta`",
        _ => "",
    };
    notes.push(format!(
        "fjall's meta keyspace is lost: the copy was read taking keyspaces 1, 2 and 3 for \
         `keys`, `entries` and `smeta`{jobs}, the order Sluice creates them in"
    ));
    Ok(())
}

fn build_shadow(layout: &Layout, shadow: &Path, notes: &mut Vec<String>) -> std::io::Result<()> {
    let new_meta = meta_unusable(layout);
    if new_meta {
        fresh_meta(layout, shadow, notes)?;
    }
    std::fs::write(shadow.join(check::MARKER_FILE), check::MARKER)?;
    std::fs::write(shadow.join(check::LOCK_FILE), b"")?;
    for j in &layout.journals {
        let keep = match &j.scan.damage {
            Some((at, _)) => {
                notes.push(format!(
                    "{}: read up to byte {at} (its damaged batch); the {} bytes after it are not \
                     read",
                    j.path.display(),
                    j.scan.data_end.saturating_sub(*at)
                ));
                j.scan.valid_end
            }
            None => j.scan.data_end,
        };
        copy_prefix(&j.path, &shadow.join(format!("{}.jnl", j.id)), keep)?;
    }
    let ks_root = shadow.join(check::KEYSPACES_DIR);
    std::fs::create_dir_all(&ks_root)?;
    for ks in &layout.keyspaces {
        if (ks.current == Current::Missing && ks.is_empty())
            || (new_meta && ks.id == check::META_KEYSPACE)
        {
            continue;
        }
        let tree = ks_root.join(ks.id.to_string());
        std::fs::create_dir_all(tree.join(check::TABLES_DIR))?;
        for t in &ks.table_files {
            let name = t.to_string();
            link_or_copy(
                &ks.path.join(check::TABLES_DIR).join(&name),
                &tree.join(check::TABLES_DIR).join(&name),
            )?;
        }
        for v in &ks.version_files {
            std::fs::copy(ks.path.join(format!("v{v}")), tree.join(format!("v{v}")))?;
        }
        let usable = match (&ks.current, &ks.version) {
            (Current::Points { .. }, Some(Ok(v))) => v
                .tables()
                .all(|t| t.len.is_some() && t.unreadable.is_none())
                .then_some(v),
            _ => None,
        };
        match usable {
            Some(_) => {
                std::fs::copy(
                    ks.path.join(check::CURRENT_FILE),
                    tree.join(check::CURRENT_FILE),
                )?;
            }
            None => {
                let (id, n) = rebuild_version(ks, &tree, &[])?;
                notes.push(format!(
                    "{}: its version (the list of its tables) is unusable, so the copy read all \
                     {n} table files present through a new version v{id}",
                    ks.path.display()
                ));
            }
        }
    }
    Ok(())
}

/// Rewrites the versions of the shadow's trees that list one of `tables` (source paths)
/// without them.
fn leave_out_tables(layout: &Layout, shadow: &Path, tables: &[PathBuf]) -> std::io::Result<()> {
    for ks in &layout.keyspaces {
        let ids: Vec<u64> = ks
            .table_files
            .iter()
            .copied()
            .filter(|t| tables.contains(&ks.path.join(check::TABLES_DIR).join(t.to_string())))
            .collect();
        if ids.is_empty() {
            continue;
        }
        let tree = shadow.join(check::KEYSPACES_DIR).join(ks.id.to_string());
        rebuild_version(ks, &tree, &ids)?;
    }
    Ok(())
}

/// Writes version `v<n>` into `tree` (a shadow tree) listing every table file of `ks` but
/// `leave_out`, each as a run of its own, and a `current` naming it. Returns its id and the
/// number of tables. (Runs in arbitrary order are fine for the range reads of the salvage; a
/// point read could see an older value first.)
fn rebuild_version(
    ks: &KeyspaceDir,
    tree: &Path,
    leave_out: &[u64],
) -> std::io::Result<(u64, usize)> {
    // The manifest and the tables' global seqnos from whatever version still parses.
    let mut manifest = None;
    let mut seqnos = std::collections::HashMap::new();
    let mut parsed: Vec<Version> = Vec::new();
    if let Some(Ok(v)) = &ks.version {
        parsed.push(v.clone());
    }
    for &v in ks.version_files.iter().rev() {
        if let Ok(Ok(v)) = check::read_version_checked(&ks.path, v, None) {
            parsed.push(v);
        }
    }
    for v in &parsed {
        manifest.get_or_insert_with(|| v.manifest.clone());
        for t in v.tables() {
            seqnos.entry(t.id).or_insert(t.global_seqno);
        }
    }
    let manifest = manifest.unwrap_or_else(|| {
        vec![
            (b"format_version".to_vec(), vec![3]),
            (b"crate_version".to_vec(), b"3.1.10".to_vec()),
            (b"tree_type".to_vec(), vec![0]),
            (b"level_count".to_vec(), vec![7]),
            (b"filter_hash_type".to_vec(), vec![0]),
        ]
    });
    let mut tables = Vec::new();
    for &t in ks.table_files.iter().filter(|t| !leave_out.contains(t)) {
        let path = tree.join(check::TABLES_DIR).join(t.to_string());
        let raw = std::fs::read(&path)?;
        tables.push((
            t,
            xxhash_rust::xxh3::xxh3_128(&raw),
            seqnos.get(&t).copied().unwrap_or(0),
        ));
    }
    // Newest tables first, as flushes add them to level 0 (a guess: see above).
    tables.sort_by_key(|t| std::cmp::Reverse(t.0));
    const LEVELS: usize = 7;
    const RUNS: usize = 255;
    if tables.len() > LEVELS * RUNS {
        return Err(std::io::Error::other(format!(
            "{} tables are more than one version can list as runs of their own",
            tables.len()
        )));
    }
    let mut body = Vec::new();
    body.push(LEVELS as u8);
    let mut chunks = tables.chunks(RUNS);
    for _ in 0..LEVELS {
        let runs = chunks.next().unwrap_or(&[]);
        body.push(runs.len() as u8);
        for (id, checksum, seqno) in runs {
            body.extend_from_slice(&1u32.to_le_bytes());
            body.extend_from_slice(&id.to_le_bytes());
            body.push(0);
            body.extend_from_slice(&checksum.to_le_bytes());
            body.extend_from_slice(&seqno.to_le_bytes());
        }
    }
    let mut file = std::io::Cursor::new(Vec::new());
    {
        let mut w = sfa::Writer::from_writer(&mut file);
        for (name, data) in &manifest {
            w.start(name.clone())?;
            w.write_all(data)?;
        }
        w.start("tables")?;
        w.write_all(&body)?;
        w.start("blob_files")?;
        w.write_all(&0u32.to_le_bytes())?;
        w.start("blob_gc_stats")?;
        w.write_all(&0u32.to_le_bytes())?;
        w.finish()
            .map_err(|e| std::io::Error::other(format!("{e:?}")))?;
    }
    let raw = file.into_inner();
    let id = ks.version_files.iter().max().map_or(0, |v| v + 1);
    std::fs::write(tree.join(format!("v{id}")), &raw)?;
    std::fs::write(
        tree.join(check::CURRENT_FILE),
        check::encode_current(id, xxhash_rust::xxh3::xxh3_128(&raw)),
    )?;
    Ok((id, tables.len()))
}
