//! What a data directory must hold before fjall may open it, found out without changing
//! anything; and the file-level verification behind `sluice check`.
//!
//! Owns Sluice's knowledge of fjall 3.1's on-disk layout (read from fjall-3.1.13 and
//! lsm-tree-3.1.10; the function names below are theirs):
//! * `version`: the database marker, `FJL` and format 3. `Database::create_or_recover` treats a
//!   directory without it as new and creates a database over whatever is there.
//! * `lock`: an empty file fjall locks while open; `LockedFileGuard::try_acquire` opens it
//!   without creating it, so a missing one fails with a bare `Io(NotFound)`.
//! * `<id>.jnl`: the journals. The highest id is the active one; rotation creates id + 1, and
//!   sealed journals are deleted oldest first once flushed, so the ids present are consecutive.
//!   A journal is a sequence of batches — `Start` (tag 1, item count u32, seqno u64), items
//!   (tag 2, or 4 = clear), `End` (tag 3, xxh3-64 of the item bytes, `FJL\x03`) — and new
//!   journals are preallocated with zeros (`Writer::create_new`, 64 MiB). Recovery
//!   (`JournalReader`, `JournalBatchReader`) truncates every journal to its last complete batch,
//!   silently (debug level): the zero padding after every crash, and any torn batch with it. A
//!   batch that fails its checksum, or has too few or too many items, fails the open
//!   (`JournalRecovery(..)`, no file named).
//! * `keyspaces/<id>/`: one LSM tree per keyspace; 0 is fjall's meta keyspace, which maps names
//!   to ids and is written only as tables (ingestion), never through the journal. A tree holds
//!   `current` (u64 version id, u128 xxh3 of the version file, u8 checksum type 0), the version
//!   file `v<id>` (an sfa archive: the manifest, then sections `tables` — per level, per run,
//!   each table's id, checksum type, xxh3-128 of the whole table file and global seqno —,
//!   `blob_files`, `blob_gc_stats`) and `tables/<table id>` (sfa archives of checksummed
//!   blocks).
//!
//! What fjall does with a damaged layout, and so why Sluice looks first:
//! * a keyspace directory without `current` is deleted at start, whole (`recover_keyspaces`);
//!   without the meta keyspace's `current`, lsm-tree creates an empty meta tree, and then every
//!   keyspace directory is unreferenced and deleted;
//! * a keyspace directory whose id the meta keyspace does not name is deleted too (this needs
//!   the meta keyspace's contents, which this module does not read: see `Store::open`);
//! * at recovery a tree deletes every version file but the current one and every table file the
//!   current version does not list (`Tree::recover_levels`) — garbage of interrupted work when
//!   `current` is right, which is why `current` and its version file are checked here;
//! * a missing version or table file, a non-numeric name under `keyspaces/` or `tables/`, a
//!   directory named like a journal: a bare error or a panic naming no file.
//!
//! So [`inspect`] lists the directory, parses `current` and the version files, checks the
//! version file's checksum, that every table it lists exists and ends in a readable archive
//! trailer, scans every journal (each batch's structure and checksum, as recovery will), and
//! verifies the meta keyspace's tables byte for byte (they are tiny). [`Layout::problems`]
//! turns what it found into messages that name the file, what is wrong and what to do. The
//! full byte-for-byte check of every table ([`verify_table`]) is left to `sluice check` and to
//! the diagnosis of a failure: it reads the whole database.
//!
//! Invariant: nothing here creates, writes, truncates or deletes anything.

use std::fs::File;
use std::io::{BufReader, Cursor, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

/// fjall's database marker file.
pub const MARKER_FILE: &str = "version";
/// fjall's lock file.
pub const LOCK_FILE: &str = "lock";
/// The folder of keyspace trees.
pub const KEYSPACES_DIR: &str = "keyspaces";
/// A tree's pointer to its current version file.
pub const CURRENT_FILE: &str = "current";
/// A tree's folder of table files.
pub const TABLES_DIR: &str = "tables";
/// The meta keyspace's id.
pub const META_KEYSPACE: u64 = 0;
/// Length of a `current` file.
pub const CURRENT_LEN: usize = 8 + 16 + 1;
/// The contents of `version` (fjall 3).
pub const MARKER: &[u8; 4] = b"FJL\x03";
/// The trailer fjall writes after every journal batch's checksum.
const JOURNAL_END_MAGIC: &[u8; 4] = b"FJL\x03";

/// What to do about a damaged file, appended to every refusal.
pub fn remedy(dir: &Path) -> String {
    format!(
        "Nothing was changed. Restore the named files from a backup, or run `sluice check {d}` \
         for a full report and `sluice repair {d} <new-dir>` to copy everything readable into a \
         new data directory.",
        d = dir.display()
    )
}

/// A file that is missing or damaged, or something fjall cannot start with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// The file or directory at fault.
    pub path: PathBuf,
    /// What is wrong with it and what that means.
    pub what: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path.display(), self.what)
    }
}

fn problem(path: impl Into<PathBuf>, what: impl Into<String>) -> Problem {
    Problem {
        path: path.into(),
        what: what.into(),
    }
}

/// One journal file and what a recovery would make of it.
#[derive(Clone, Debug)]
pub struct Journal {
    pub id: u64,
    pub path: PathBuf,
    pub len: u64,
    pub scan: JournalScan,
}

/// A journal's batches as fjall's recovery reads them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct JournalScan {
    /// Complete batches before `valid_end`.
    pub batches: u64,
    /// Seqno of the first and last complete batch.
    pub seqnos: Option<(u64, u64)>,
    /// End of the last complete batch: where recovery truncates the file.
    pub valid_end: u64,
    /// End of the last non-zero byte (the rest is preallocated padding).
    pub data_end: u64,
    /// A batch recovery refuses (bad checksum, wrong item count): its offset and why.
    pub damage: Option<(u64, String)>,
}

impl JournalScan {
    /// Non-zero bytes after the last complete batch: a torn tail that recovery drops (0 when
    /// only padding follows). Meaningless when `damage` is set (recovery fails instead).
    pub fn torn_bytes(&self) -> u64 {
        self.data_end.saturating_sub(self.valid_end)
    }
}

/// `current` of a tree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Current {
    Missing,
    /// Not 25 bytes, or an unknown checksum type.
    Malformed(String),
    /// Names version `id`, whose file has xxh3-128 `checksum`.
    Points {
        id: u64,
        checksum: u128,
    },
}

/// A table the current version lists.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TableRef {
    pub id: u64,
    pub level: usize,
    pub run: usize,
    /// xxh3-128 of the whole file, as written.
    pub checksum: u128,
    pub global_seqno: u64,
    pub path: PathBuf,
    /// Its length on disk, `None` if it is missing.
    pub len: Option<u64>,
    /// Why its archive trailer or table of contents does not read, if it does not.
    pub unreadable: Option<String>,
}

/// A parsed version file.
#[derive(Clone, Debug)]
pub struct Version {
    pub id: u64,
    pub path: PathBuf,
    /// The manifest sections (everything but the table and blob lists), to write a version
    /// like it (`sluice repair`).
    pub manifest: Vec<(Vec<u8>, Vec<u8>)>,
    /// Levels, runs, tables.
    pub levels: Vec<Vec<Vec<TableRef>>>,
    pub blob_files: u32,
}

impl Version {
    pub fn tables(&self) -> impl Iterator<Item = &TableRef> {
        self.levels.iter().flatten().flatten()
    }
}

/// One keyspace directory.
#[derive(Clone, Debug)]
pub struct KeyspaceDir {
    pub id: u64,
    pub path: PathBuf,
    pub current: Current,
    /// The current version, or why it cannot be read (when `current` names one).
    pub version: Option<Result<Version, String>>,
    /// Ids of the version files present.
    pub version_files: Vec<u64>,
    /// Ids of the table files present.
    pub table_files: Vec<u64>,
    /// Bytes in `tables/`.
    pub table_bytes: u64,
}

impl KeyspaceDir {
    /// Holds no version and no table: what an interrupted keyspace creation leaves.
    pub fn is_empty(&self) -> bool {
        self.version_files.is_empty() && self.table_files.is_empty()
    }

    fn current_path(&self) -> PathBuf {
        self.path.join(CURRENT_FILE)
    }
}

/// What [`inspect`] found.
#[derive(Clone, Debug)]
pub enum Inspection {
    /// Nothing of a database: fjall creates one.
    New,
    Existing(Layout),
}

/// The files of an existing database directory.
#[derive(Clone, Debug)]
pub struct Layout {
    pub dir: PathBuf,
    /// Contents of `version`, `None` if missing.
    pub marker: Option<Vec<u8>>,
    pub lock_present: bool,
    pub keyspaces_dir_present: bool,
    /// Sorted by id.
    pub journals: Vec<Journal>,
    /// Sorted by id.
    pub keyspaces: Vec<KeyspaceDir>,
    /// Names fjall cannot start with (checked by [`Layout::problems`]).
    pub odd: Vec<Problem>,
    /// Damage found in the meta keyspace's tables (verified byte for byte).
    pub meta_damage: Vec<Problem>,
}

/// Lists and parses `dir` (see the module docs). `Err` only if the directory cannot be read.
pub fn inspect(dir: &Path) -> std::io::Result<Inspection> {
    let entries = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Inspection::New),
        Err(e) => return Err(e),
    };
    let mut marker = None;
    let mut lock_present = false;
    let mut keyspaces_dir_present = false;
    let mut journals = Vec::new();
    let mut odd = Vec::new();
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name();
        let path = entry.path();
        let Some(name) = name.to_str() else {
            if Path::new(&name)
                .extension()
                .is_some_and(|e| e.eq_ignore_ascii_case("jnl"))
            {
                odd.push(problem(
                    path,
                    "a journal name that is not UTF-8: fjall cannot start with it here",
                ));
            }
            continue;
        };
        let is_dir = entry.file_type()?.is_dir();
        if name == MARKER_FILE {
            marker = Some(if is_dir {
                Vec::new()
            } else {
                std::fs::read(&path)?
            });
        } else if name == LOCK_FILE {
            lock_present = true;
        } else if name == KEYSPACES_DIR {
            keyspaces_dir_present = true;
        } else if Path::new(name)
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("jnl"))
        {
            let id = name
                .strip_suffix(".jnl")
                .and_then(|b| b.parse::<u64>().ok());
            match (id, is_dir) {
                (Some(id), false) => {
                    let len = entry.metadata()?.len();
                    let scan = scan_journal(&path)?;
                    journals.push(Journal {
                        id,
                        path,
                        len,
                        scan,
                    });
                }
                (_, true) => odd.push(problem(
                    path,
                    "a directory named like a journal: fjall panics on it at start; move it out \
                     of the data directory",
                )),
                (None, false) => odd.push(problem(
                    path,
                    "a journal name that is not a number: fjall refuses to start with it here \
                     (InvalidFileName); move it out of the data directory",
                )),
            }
        }
    }
    journals.sort_by_key(|j| j.id);
    let mut keyspaces = Vec::new();
    if keyspaces_dir_present {
        let ks_dir = dir.join(KEYSPACES_DIR);
        for entry in std::fs::read_dir(&ks_dir)? {
            let entry = entry?;
            let path = entry.path();
            if !entry.file_type()?.is_dir() {
                // fjall warns about stray files and goes on.
                continue;
            }
            let id = entry
                .file_name()
                .to_str()
                .and_then(|n| n.parse::<u64>().ok());
            let Some(id) = id else {
                odd.push(problem(
                    path,
                    "not a keyspace directory (fjall names them by number, and panics on any \
                     other name at start); move it out of the data directory",
                ));
                continue;
            };
            keyspaces.push(inspect_keyspace(id, &path, &mut odd)?);
        }
    }
    keyspaces.sort_by_key(|k| k.id);
    if marker.is_none() && !keyspaces_dir_present && journals.is_empty() && odd.is_empty() {
        // A lock file alone is what a creation interrupted before anything else leaves; fjall
        // creates over it.
        return Ok(Inspection::New);
    }
    let mut meta_damage = Vec::new();
    for ks in keyspaces.iter().filter(|k| k.id == META_KEYSPACE) {
        if let Some(Ok(v)) = &ks.version {
            for t in v.tables() {
                if t.len.is_some() && t.unreadable.is_none() {
                    if let Err(what) = verify_table(t) {
                        meta_damage.push(problem(&t.path, what));
                    }
                }
            }
        }
    }
    Ok(Inspection::Existing(Layout {
        dir: dir.to_path_buf(),
        marker,
        lock_present,
        keyspaces_dir_present,
        journals,
        keyspaces,
        odd,
        meta_damage,
    }))
}

fn inspect_keyspace(id: u64, path: &Path, odd: &mut Vec<Problem>) -> std::io::Result<KeyspaceDir> {
    let mut version_files = Vec::new();
    let mut has_current = false;
    for entry in std::fs::read_dir(path)? {
        let entry = entry?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if name == CURRENT_FILE {
            has_current = true;
        } else if let Some(v) = name.strip_prefix('v').and_then(|n| n.parse::<u64>().ok()) {
            if entry.file_type()?.is_file() {
                version_files.push(v);
            }
        } else if name == MARKER_FILE {
            odd.push(problem(
                entry.path(),
                "a `version` file inside a keyspace directory: lsm-tree takes the tree for a \
                 fjall 1 database and refuses it",
            ));
        }
    }
    version_files.sort_unstable();
    let mut table_files = Vec::new();
    let mut table_bytes = 0;
    let tables_dir = path.join(TABLES_DIR);
    match std::fs::read_dir(&tables_dir) {
        Ok(rd) => {
            for entry in rd {
                let entry = entry?;
                let name = entry.file_name();
                let name = name.to_string_lossy();
                if name == ".DS_Store" || name.starts_with("._") {
                    continue;
                }
                if entry.file_type()?.is_dir() {
                    odd.push(problem(
                        entry.path(),
                        "a directory among the table files: lsm-tree panics on it at start; \
                         move it out of the data directory",
                    ));
                    continue;
                }
                match name.parse::<u64>() {
                    Ok(t) => {
                        table_files.push(t);
                        table_bytes += entry.metadata()?.len();
                    }
                    Err(_) => odd.push(problem(
                        entry.path(),
                        "not a table file (lsm-tree names them by number and refuses to start \
                         with any other name there); move it out of the data directory",
                    )),
                }
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    table_files.sort_unstable();
    let current = if has_current {
        parse_current(&std::fs::read(path.join(CURRENT_FILE))?)
    } else {
        Current::Missing
    };
    let version = match &current {
        Current::Points { id, checksum } => Some(read_version(path, *id, *checksum)?),
        _ => None,
    };
    Ok(KeyspaceDir {
        id,
        path: path.to_path_buf(),
        current,
        version,
        version_files,
        table_files,
        table_bytes,
    })
}

/// Parses a `current` file.
pub fn parse_current(raw: &[u8]) -> Current {
    if raw.len() != CURRENT_LEN {
        return Current::Malformed(format!(
            "{} bytes, where fjall writes {CURRENT_LEN} (version id, checksum, checksum type)",
            raw.len()
        ));
    }
    let id = raw
        .get(..8)
        .and_then(|b| b.try_into().ok())
        .map(u64::from_le_bytes);
    let checksum = raw
        .get(8..24)
        .and_then(|b| b.try_into().ok())
        .map(u128::from_le_bytes);
    match (id, checksum, raw.get(24)) {
        (Some(id), Some(checksum), Some(0)) => Current::Points { id, checksum },
        (_, _, Some(t)) => Current::Malformed(format!("unknown checksum type {t}")),
        _ => Current::Malformed("unreadable".into()),
    }
}

/// The bytes of a `current` file naming version `id` with file checksum `checksum`.
pub fn encode_current(id: u64, checksum: u128) -> Vec<u8> {
    let mut v = Vec::with_capacity(CURRENT_LEN);
    v.extend_from_slice(&id.to_le_bytes());
    v.extend_from_slice(&checksum.to_le_bytes());
    v.push(0);
    v
}

/// Reads and checks version file `v<id>` of the tree in `tree`: `Ok(Err(why))` if it is
/// missing, does not match `checksum` (when given) or does not parse.
pub fn read_version(
    tree: &Path,
    id: u64,
    checksum: u128,
) -> std::io::Result<Result<Version, String>> {
    read_version_checked(tree, id, Some(checksum))
}

/// [`read_version`], with the checksum check optional (`sluice repair` looks at older
/// versions, which no `current` names).
pub fn read_version_checked(
    tree: &Path,
    id: u64,
    checksum: Option<u128>,
) -> std::io::Result<Result<Version, String>> {
    let path = tree.join(format!("v{id}"));
    let raw = match std::fs::read(&path) {
        Ok(r) => r,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(Err(format!(
                "is missing ({} names it): it lists the keyspace's tables",
                tree.join(CURRENT_FILE).display()
            )))
        }
        Err(e) => return Err(e),
    };
    if let Some(want) = checksum {
        let got = xxhash_rust::xxh3::xxh3_128(&raw);
        if got != want {
            return Ok(Err(format!(
                "does not match the checksum in {} (file {got:032x}, expected {want:032x}): the \
                 file is damaged",
                tree.join(CURRENT_FILE).display()
            )));
        }
    }
    Ok(parse_version(tree, id, &path, &raw))
}

fn parse_version(tree: &Path, id: u64, path: &Path, raw: &[u8]) -> Result<Version, String> {
    let reader = sfa::Reader::from_reader(&mut Cursor::new(raw))
        .map_err(|e| format!("is not a readable version file ({e:?})"))?;
    let section = |name: &[u8]| -> Option<&[u8]> {
        let s = reader.toc().section(name)?;
        let start = usize::try_from(s.pos()).ok()?;
        let end = start.checked_add(usize::try_from(s.len()).ok()?)?;
        raw.get(start..end)
    };
    let tables = section(b"tables").ok_or("has no `tables` section")?;
    let mut levels = Vec::new();
    let mut r = Cursor::new(tables);
    let bad = |_| "has a truncated `tables` section".to_string();
    let level_count = read_u8(&mut r).map_err(bad)?;
    for level in 0..usize::from(level_count) {
        let mut runs = Vec::new();
        let run_count = read_u8(&mut r).map_err(bad)?;
        for run in 0..usize::from(run_count) {
            let n = read_u32(&mut r).map_err(bad)?;
            let mut tables = Vec::new();
            for _ in 0..n {
                let tid = read_u64(&mut r).map_err(bad)?;
                let ty = read_u8(&mut r).map_err(bad)?;
                if ty != 0 {
                    return Err(format!("lists table {tid} with unknown checksum type {ty}"));
                }
                let checksum = read_u128(&mut r).map_err(bad)?;
                let global_seqno = read_u64(&mut r).map_err(bad)?;
                let tpath = tree.join(TABLES_DIR).join(tid.to_string());
                let (len, unreadable) = match std::fs::metadata(&tpath) {
                    Ok(m) => (Some(m.len()), table_trailer_problem(&tpath)),
                    Err(_) => (None, None),
                };
                tables.push(TableRef {
                    id: tid,
                    level,
                    run,
                    checksum,
                    global_seqno,
                    path: tpath,
                    len,
                    unreadable,
                });
            }
            runs.push(tables);
        }
        levels.push(runs);
    }
    let blob_files = section(b"blob_files")
        .and_then(|s| s.get(..4))
        .and_then(|b| b.try_into().ok())
        .map(u32::from_le_bytes)
        .ok_or("has no `blob_files` section")?;
    let manifest = reader
        .toc()
        .iter()
        .filter(|s| !matches!(s.name(), b"tables" | b"blob_files" | b"blob_gc_stats"))
        .filter_map(|s| {
            let start = usize::try_from(s.pos()).ok()?;
            let end = start.checked_add(usize::try_from(s.len()).ok()?)?;
            Some((s.name().to_vec(), raw.get(start..end)?.to_vec()))
        })
        .collect();
    Ok(Version {
        id,
        path: path.to_path_buf(),
        manifest,
        levels,
        blob_files,
    })
}

/// Why a table file's archive trailer or table of contents does not read (lsm-tree reads both
/// when it opens the table: a failure there fails the whole database's open).
fn table_trailer_problem(path: &Path) -> Option<String> {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) => return Some(format!("cannot be opened: {e}")),
    };
    let mut r = BufReader::with_capacity(4096, file);
    sfa::Reader::from_reader(&mut r)
        .err()
        .map(|e| format!("its trailer or table of contents is damaged ({e:?})"))
}

/// Reads the whole table file and compares its xxh3-128 with the version's.
pub fn verify_table(t: &TableRef) -> Result<(), String> {
    let file = File::open(&t.path).map_err(|e| format!("cannot be opened: {e}"))?;
    let mut r = BufReader::with_capacity(1 << 20, file);
    let mut h = xxhash_rust::xxh3::Xxh3::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = r
            .read(&mut buf)
            .map_err(|e| format!("cannot be read: {e}"))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    let got = h.digest128();
    if got == t.checksum {
        Ok(())
    } else {
        Err(format!(
            "damaged: its checksum does not match the one fjall recorded when it wrote the file \
             (file {got:032x}, expected {:032x}; level {}, {} bytes)",
            t.checksum,
            t.level,
            t.len.unwrap_or(0)
        ))
    }
}

/// Every table of `dir` whose bytes do not match the checksum fjall recorded for it (reads the
/// whole database), and problems with the files fjall needs.
pub fn damaged_files(dir: &Path) -> Vec<Problem> {
    let layout = match inspect(dir) {
        Ok(Inspection::Existing(l)) => l,
        Ok(Inspection::New) => return Vec::new(),
        Err(e) => {
            return vec![Problem {
                path: dir.to_path_buf(),
                what: format!("can't be read: {e}"),
            }]
        }
    };
    let mut out = layout.problems();
    for ks in &layout.keyspaces {
        if ks.id == META_KEYSPACE {
            continue; // verified by `inspect`
        }
        let Some(Ok(v)) = &ks.version else { continue };
        for t in v.tables() {
            if t.len.is_none() || t.unreadable.is_some() {
                continue; // among the problems
            }
            if let Err(what) = verify_table(t) {
                out.push(Problem {
                    path: t.path.clone(),
                    what,
                });
            }
        }
    }
    out
}

fn read_u8(r: &mut impl Read) -> std::io::Result<u8> {
    let mut b = [0u8; 1];
    r.read_exact(&mut b)?;
    Ok(b[0])
}

fn read_u32(r: &mut impl Read) -> std::io::Result<u32> {
    let mut b = [0u8; 4];
    r.read_exact(&mut b)?;
    Ok(u32::from_le_bytes(b))
}

fn read_u64(r: &mut impl Read) -> std::io::Result<u64> {
    let mut b = [0u8; 8];
    r.read_exact(&mut b)?;
    Ok(u64::from_le_bytes(b))
}

fn read_u128(r: &mut impl Read) -> std::io::Result<u128> {
    let mut b = [0u8; 16];
    r.read_exact(&mut b)?;
    Ok(u128::from_le_bytes(b))
}

/// The end of the last non-zero byte of `file` (0 if it holds only zeros).
fn data_end(file: &mut File, len: u64) -> std::io::Result<u64> {
    const CHUNK: u64 = 1 << 20;
    let mut buf = vec![0u8; CHUNK as usize];
    let zeros = vec![0u8; CHUNK as usize];
    // fjall makes each journal 64 MiB long at once (`set_len`: a hole) and writes it from the
    // start, so a fresh journal is all hole and reading it back for zeros took most of a clean
    // start. Past the last data extent the file reads as zeros without reading anything.
    let mut end = allocated_end(file, len);
    while end > 0 {
        let start = end.saturating_sub(CHUNK);
        let n = (end - start) as usize;
        file.seek(SeekFrom::Start(start))?;
        file.read_exact(&mut buf[..n])?;
        // A slice comparison is a memcmp: fast even in a debug build, and a fresh journal is
        // 64 MiB of zeros.
        if buf[..n] == zeros[..n] {
            end = start;
            continue;
        }
        if let Some(i) = buf[..n].iter().rposition(|&b| b != 0) {
            return Ok(start + i as u64 + 1);
        }
        end = start;
    }
    Ok(0)
}

/// The end of the last extent of `file` that holds data, as the filesystem reports it with
/// `SEEK_DATA`/`SEEK_HOLE`: every byte past it is in a hole and reads as zero. `len` where the
/// filesystem does not report holes (or anything fails): then the caller reads it all, as
/// before.
#[cfg(target_os = "linux")]
fn allocated_end(file: &File, len: u64) -> u64 {
    use std::os::fd::AsRawFd;
    /// Extents looked at at most; a journal written from its start has one.
    const MAX_EXTENTS: usize = 4096;
    let fd = file.as_raw_fd();
    let mut end = 0u64;
    let mut pos: libc::off_t = 0;
    for _ in 0..MAX_EXTENTS {
        // SAFETY: lseek on a file descriptor `file` owns for the duration of the call; it
        // touches no memory. The callers seek again before they read.
        let data = unsafe { libc::lseek(fd, pos, libc::SEEK_DATA) };
        if data < 0 {
            return match std::io::Error::last_os_error().raw_os_error() {
                // No data at or after `pos`: the rest of the file is a hole.
                Some(libc::ENXIO) => end,
                _ => len,
            };
        }
        // SAFETY: as above.
        let hole = unsafe { libc::lseek(fd, data, libc::SEEK_HOLE) };
        if hole < 0 || hole as u64 >= len {
            return len;
        }
        end = hole as u64;
        pos = hole;
    }
    len
}

#[cfg(not(target_os = "linux"))]
fn allocated_end(_file: &File, len: u64) -> u64 {
    len
}

/// A reader that counts what it has read.
struct Counted<R> {
    inner: R,
    pos: u64,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.pos += n as u64;
        Ok(n)
    }
}

/// Reads `n` bytes into `out` (appending), or fails at the end of the input.
fn read_into(r: &mut impl Read, n: usize, out: &mut Vec<u8>) -> std::io::Result<()> {
    let start = out.len();
    out.resize(start + n, 0);
    r.read_exact(&mut out[start..])
}

/// Bytes of a journal item's fixed part after its tag (see [`scan_journal`]).
const ITEM_HEAD: usize = 20;

/// Reads a journal as fjall's recovery does (see the module docs): where it truncates the file
/// and whether it refuses a batch.
pub fn scan_journal(path: &Path) -> std::io::Result<JournalScan> {
    let mut file = File::open(path)?;
    let len = file.metadata()?.len();
    let data_end = data_end(&mut file, len)?;
    file.seek(SeekFrom::Start(0))?;
    // Past the data there are only zeros, which read as an unknown tag and end the scan.
    let mut r = Counted {
        inner: BufReader::with_capacity(1 << 20, file.take(data_end)),
        pos: 0,
    };
    let mut scan = JournalScan {
        data_end,
        ..JournalScan::default()
    };
    let mut in_batch = false;
    let mut left: u32 = 0;
    let mut seqno = 0u64;
    let mut batch_start = 0u64;
    let mut hasher = xxhash_rust::xxh3::Xxh3::new();
    let mut item = Vec::new();
    // Every `?`-less early exit below is where recovery stops and truncates (`valid_end`);
    // `damage` is where it fails instead.
    while let Ok(tag) = read_u8(&mut r) {
        match tag {
            1 => {
                let (Ok(count), Ok(s)) = (read_u32(&mut r), read_u64(&mut r)) else {
                    break;
                };
                if in_batch {
                    break;
                }
                in_batch = true;
                left = count;
                seqno = s;
                batch_start = r.pos - 13;
                hasher = xxhash_rust::xxh3::Xxh3::new();
            }
            2 | 4 => {
                item.clear();
                item.push(tag);
                if tag == 2 {
                    // The item's fixed part in one read (a replay after a crash reads every
                    // journal, and three reads per item instead of eight halved this scan):
                    // value type u8 ‖ compression u8 ‖ keyspace u64 ‖ key length u16 ‖
                    // value length u32 ‖ stored value length u32, little endian.
                    let mut head = [0u8; ITEM_HEAD];
                    if r.read_exact(&mut head).is_err() {
                        break;
                    }
                    let (vt, comp) = (head[0], head[1]);
                    if !matches!(vt, 0 | 1 | 2 | 4) || comp > 1 {
                        break;
                    }
                    let klen = u16::from_le_bytes([head[10], head[11]]);
                    let on_disk = u32::from_le_bytes([head[16], head[17], head[18], head[19]]);
                    item.extend_from_slice(&head);
                    // Lengths come from the disk: one longer than what is left of the data
                    // (a torn or damaged item) ends the scan, as the read would, without
                    // first allocating up to 4 GiB for it.
                    let n = usize::from(klen) + on_disk as usize;
                    if n as u64 > data_end.saturating_sub(r.pos)
                        || read_into(&mut r, n, &mut item).is_err()
                    {
                        break;
                    }
                } else {
                    let Ok(ks) = read_u64(&mut r) else { break };
                    item.extend_from_slice(&ks.to_le_bytes());
                }
                hasher.update(&item);
                if !in_batch {
                    break;
                }
                if left == 0 {
                    scan.damage = Some((
                        batch_start,
                        format!("batch {seqno} holds more items than its header says"),
                    ));
                    break;
                }
                left -= 1;
            }
            3 => {
                let Ok(checksum) = read_u64(&mut r) else {
                    break;
                };
                let mut magic = [0u8; 4];
                if r.read_exact(&mut magic).is_err() || &magic != JOURNAL_END_MAGIC {
                    break;
                }
                if left > 0 {
                    scan.damage = Some((
                        batch_start,
                        format!("batch {seqno} ends {left} items short of its header"),
                    ));
                    break;
                }
                if !in_batch {
                    break;
                }
                if hasher.digest() != checksum {
                    scan.damage = Some((
                        batch_start,
                        format!("batch {seqno} fails its checksum (its bytes were changed)"),
                    ));
                    break;
                }
                in_batch = false;
                scan.valid_end = r.pos;
                scan.batches += 1;
                scan.seqnos = Some(match scan.seqnos {
                    None => (seqno, seqno),
                    Some((first, _)) => (first, seqno),
                });
            }
            _ => break,
        }
    }
    Ok(scan)
}

impl Layout {
    /// Everything that stops fjall from opening this directory safely (a missing or damaged
    /// file, a name fjall panics on), each naming the file and what it means. Empty when fjall
    /// may open it.
    pub fn problems(&self) -> Vec<Problem> {
        let dir = &self.dir;
        let mut out = self.odd.clone();
        match &self.marker {
            Some(m) if m.as_slice() == MARKER => {}
            Some(m) if m.len() == 4 && m.starts_with(b"FJL") => out.push(problem(
                dir.join(MARKER_FILE),
                format!(
                    "the database was written by fjall format {} and this build reads format 3",
                    m[3]
                ),
            )),
            Some(m) => out.push(problem(
                dir.join(MARKER_FILE),
                format!(
                    "holds {} instead of fjall's database marker \"FJL\\x03\": the file is \
                     damaged (fjall refuses to open the database without it)",
                    show_bytes(m)
                ),
            )),
            None => {
                let has_data = self.keyspaces.iter().any(|k| !k.is_empty())
                    || self.journals.iter().any(|j| j.scan.data_end > 0);
                out.push(problem(
                    dir.join(MARKER_FILE),
                    if has_data {
                        "is missing, but the directory holds a database (keyspaces/, journals): \
                         fjall would take the directory for a new one and create a database over \
                         it"
                        .to_string()
                    } else {
                        format!(
                            "is missing and the directory holds no data: the creation of the \
                             database was interrupted. Remove the directory's contents ({}) to \
                             start with an empty database",
                            self.leftovers()
                        )
                    },
                ));
            }
        }
        if self.marker.is_none() {
            return out;
        }
        if !self.keyspaces_dir_present {
            out.push(problem(
                dir.join(KEYSPACES_DIR),
                "is missing: it holds every table of the database",
            ));
        } else if !self.keyspaces.iter().any(|k| k.id == META_KEYSPACE) {
            out.push(problem(
                dir.join(KEYSPACES_DIR).join("0"),
                "is missing: fjall's meta keyspace (which names every other keyspace) is gone, \
                 and fjall would delete every keyspace directory as unreferenced",
            ));
        }
        for ks in &self.keyspaces {
            out.extend(keyspace_problems(ks));
        }
        out.extend(self.meta_damage.iter().cloned());
        if self.journals.is_empty() {
            out.push(problem(
                dir,
                "holds no journal (*.jnl): fjall always keeps its active journal, so it was \
                 removed, and with it every write not yet flushed to the tables (none, if the \
                 server was shut down cleanly before)",
            ));
        } else {
            let first = self.journals[0].id;
            for (i, j) in self.journals.iter().enumerate() {
                let want = first + i as u64;
                if j.id != want {
                    for missing in want..j.id {
                        out.push(problem(
                            dir.join(format!("{missing}.jnl")),
                            format!(
                                "is missing: the journals run from {first}.jnl to {}.jnl and \
                                 fjall deletes only the oldest, so the writes it held are lost \
                                 unless it is restored",
                                self.journals[self.journals.len() - 1].id
                            ),
                        ));
                    }
                    break;
                }
            }
        }
        for j in &self.journals {
            if let Some((offset, what)) = &j.scan.damage {
                out.push(problem(
                    &j.path,
                    format!(
                        "damaged at byte {offset}: {what}; fjall refuses to replay a journal \
                         damaged before its end ({} complete batches before it)",
                        j.scan.batches
                    ),
                ));
            }
        }
        out
    }

    /// Things fjall copes with that an operator should still hear about.
    pub fn notes(&self) -> Vec<Problem> {
        let mut out = Vec::new();
        if !self.lock_present && self.marker.is_some() {
            out.push(problem(
                self.dir.join(LOCK_FILE),
                "is missing; it holds no data and was created again",
            ));
        }
        for ks in &self.keyspaces {
            if ks.current == Current::Missing && ks.is_empty() {
                out.push(problem(
                    &ks.path,
                    "has no `current` and no data: an interrupted keyspace creation, which \
                     fjall removes",
                ));
            }
        }
        out
    }

    fn leftovers(&self) -> String {
        let mut names: Vec<String> = Vec::new();
        if self.lock_present {
            names.push(LOCK_FILE.into());
        }
        if self.keyspaces_dir_present {
            names.push(format!("{KEYSPACES_DIR}/"));
        }
        names.extend(self.journals.iter().map(|j| format!("{}.jnl", j.id)));
        names.join(", ")
    }

    /// The keyspace directory with this id.
    pub fn keyspace(&self, id: u64) -> Option<&KeyspaceDir> {
        self.keyspaces.iter().find(|k| k.id == id)
    }
}

fn keyspace_problems(ks: &KeyspaceDir) -> Vec<Problem> {
    let mut out = Vec::new();
    match &ks.current {
        Current::Missing if ks.is_empty() => {}
        Current::Missing if ks.id == META_KEYSPACE => out.push(problem(
            ks.current_path(),
            format!(
                "is missing: it belongs to fjall's meta keyspace, which names every other \
                 keyspace; fjall would start an empty one and then delete every keyspace \
                 directory as unreferenced (version files present: {})",
                list_versions(&ks.version_files),
            ),
        )),
        Current::Missing => out.push(problem(
            ks.current_path(),
            format!(
                "is missing: fjall would delete the whole keyspace directory {} ({} tables, {} \
                 bytes; version files present: {})",
                ks.path.display(),
                ks.table_files.len(),
                ks.table_bytes,
                list_versions(&ks.version_files),
            ),
        )),
        Current::Malformed(why) => out.push(problem(
            ks.current_path(),
            format!("is damaged ({why}); it names the keyspace's version file"),
        )),
        Current::Points { id, .. } => match &ks.version {
            Some(Err(why)) => out.push(problem(ks.path.join(format!("v{id}")), why.clone())),
            Some(Ok(v)) => {
                if v.blob_files > 0 {
                    out.push(problem(
                        &v.path,
                        format!(
                            "lists {} blob files: Sluice never writes any, so this is not its \
                             keyspace or the file is damaged",
                            v.blob_files
                        ),
                    ));
                }
                for t in v.tables() {
                    match (&t.len, &t.unreadable) {
                        (None, _) => out.push(problem(
                            &t.path,
                            format!(
                                "is missing ({} lists it, level {}): the keys it held are lost \
                                 unless it is restored (or the journal still holds them)",
                                v.path.display(),
                                t.level
                            ),
                        )),
                        (Some(_), Some(why)) => out.push(problem(
                            &t.path,
                            format!("{why}; lsm-tree cannot open the table, so fjall cannot start"),
                        )),
                        _ => {}
                    }
                }
            }
            None => {}
        },
    }
    out
}

fn list_versions(ids: &[u64]) -> String {
    if ids.is_empty() {
        "none".into()
    } else {
        ids.iter()
            .map(|v| format!("v{v}"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Bytes for a message: printable ASCII as is, the rest escaped, at most 32 of them.
pub fn show_bytes(b: &[u8]) -> String {
    let mut s = String::from("\"");
    for &c in b.iter().take(32) {
        if c.is_ascii_graphic() || c == b' ' {
            s.push(c as char);
        } else {
            s.push_str(&format!("\\x{c:02x}"));
        }
    }
    s.push('"');
    if b.len() > 32 {
        s.push_str(&format!(" ({} bytes)", b.len()));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn journal_bytes(batches: &[&[(&[u8], &[u8])]]) -> Vec<u8> {
        let mut out = Vec::new();
        for (seqno, items) in batches.iter().enumerate() {
            out.push(1);
            out.extend_from_slice(&(items.len() as u32).to_le_bytes());
            out.extend_from_slice(&(seqno as u64).to_le_bytes());
            let mut h = xxhash_rust::xxh3::Xxh3::new();
            for (k, v) in *items {
                let mut item = vec![2, 0, 0];
                item.extend_from_slice(&1u64.to_le_bytes());
                item.extend_from_slice(&(k.len() as u16).to_le_bytes());
                item.extend_from_slice(&(v.len() as u32).to_le_bytes());
                item.extend_from_slice(&(v.len() as u32).to_le_bytes());
                item.extend_from_slice(k);
                item.extend_from_slice(v);
                h.update(&item);
                out.extend_from_slice(&item);
            }
            out.push(3);
            out.extend_from_slice(&h.digest().to_le_bytes());
            out.extend_from_slice(JOURNAL_END_MAGIC);
        }
        out
    }

    fn scan(bytes: &[u8]) -> JournalScan {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("0.jnl");
        std::fs::write(&p, bytes).expect("write");
        scan_journal(&p).expect("scan")
    }

    /// A journal as fjall makes it: 64 MiB long at once, a hole, written from the start. The
    /// data's end is found past the hole too, and in a file with data after a hole.
    #[test]
    fn data_end_skips_holes_and_finds_data_after_them() {
        use std::io::Write;
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("0.jnl");
        let len = 64u64 << 20;
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .truncate(true)
            .read(true)
            .write(true)
            .open(&path)
            .expect("create");
        f.set_len(len).expect("set_len");
        let mut r = File::open(&path).expect("open");
        assert_eq!(data_end(&mut r, len).expect("scan"), 0, "all hole");
        f.write_all(&[7u8; 5000]).expect("write");
        f.sync_all().expect("sync");
        assert_eq!(data_end(&mut r, len).expect("scan"), 5000);
        // Where the filesystem reports holes, the hole past the data is not read.
        let extent = allocated_end(&r, len);
        assert!(extent == len || (5000..len).contains(&extent), "{extent}");
        // Non-zero bytes after a hole (a torn write, a damaged block) are found.
        f.seek(SeekFrom::Start(40 << 20)).expect("seek");
        f.write_all(&[0, 0, 9, 0]).expect("write");
        f.sync_all().expect("sync");
        assert_eq!(data_end(&mut r, len).expect("scan"), (40 << 20) + 3);
    }

    #[test]
    fn journal_scan_finds_complete_batches_padding_and_torn_tails() {
        let full = journal_bytes(&[&[(b"a", b"1")], &[(b"b", b"2"), (b"c", b"3")]]);
        let s = scan(&full);
        assert_eq!(
            (s.batches, s.valid_end, s.data_end),
            (2, full.len() as u64, full.len() as u64)
        );
        assert_eq!(s.seqnos, Some((0, 1)));
        assert_eq!(s.torn_bytes(), 0);
        // Zero padding after the data (a preallocated journal) is not a torn tail.
        let mut padded = full.clone();
        padded.resize(full.len() + 4096, 0);
        let s = scan(&padded);
        assert_eq!((s.batches, s.torn_bytes(), s.damage.clone()), (2, 0, None));
        // Cut in the last batch: the batch before it is where recovery truncates.
        let first = journal_bytes(&[&[(b"a", b"1")]]).len() as u64;
        let cut = &full[..full.len() - 5];
        let s = scan(cut);
        assert_eq!((s.batches, s.valid_end), (1, first));
        assert_eq!(s.torn_bytes(), cut.len() as u64 - first);
        assert!(s.damage.is_none());
        // A changed value byte (start 13 bytes, item header 21, key 1): recovery refuses the
        // batch.
        let mut flipped = full.clone();
        flipped[first as usize + 13 + 21 + 1] ^= 0x40;
        let s = scan(&flipped);
        assert_eq!(s.batches, 1);
        let (at, what) = s.damage.expect("damage found");
        assert_eq!(at, first);
        assert!(what.contains("checksum"), "{what}");
        // An item whose stored lengths run past the data (a torn or damaged header: key 64 Ki,
        // value 4 GiB) ends the scan there, a torn tail after the batches before it.
        let mut long = full.clone();
        long.extend_from_slice(&[1, 1, 0, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0]); // start: 1 item, seqno 9
        long.extend_from_slice(&[2, 0, 0]); // item: value, uncompressed
        long.extend_from_slice(&1u64.to_le_bytes());
        long.extend_from_slice(&u16::MAX.to_le_bytes());
        long.extend_from_slice(&u32::MAX.to_le_bytes());
        long.extend_from_slice(&u32::MAX.to_le_bytes());
        long.extend_from_slice(b"only a few bytes of it");
        let s = scan(&long);
        assert_eq!((s.batches, s.valid_end), (2, full.len() as u64));
        assert_eq!(s.torn_bytes(), (long.len() - full.len()) as u64);
        assert!(s.damage.is_none());
    }

    #[test]
    fn current_files_round_trip_and_garbage_is_named() {
        let raw = encode_current(7, 0xdead_beef);
        assert_eq!(
            parse_current(&raw),
            Current::Points {
                id: 7,
                checksum: 0xdead_beef
            }
        );
        assert!(matches!(parse_current(b"garbage"), Current::Malformed(_)));
        let mut bad_type = raw.clone();
        bad_type[24] = 9;
        assert!(matches!(parse_current(&bad_type), Current::Malformed(w) if w.contains('9')));
    }

    #[test]
    fn a_missing_or_empty_directory_is_new() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert!(matches!(
            inspect(&dir.path().join("nope")).expect("inspect"),
            Inspection::New
        ));
        assert!(matches!(
            inspect(dir.path()).expect("inspect"),
            Inspection::New
        ));
        std::fs::write(dir.path().join("unrelated.txt"), b"x").expect("write");
        std::fs::write(dir.path().join(LOCK_FILE), b"").expect("write");
        assert!(matches!(
            inspect(dir.path()).expect("inspect"),
            Inspection::New
        ));
    }

    fn existing(dir: &Path) -> Layout {
        match inspect(dir).expect("inspect") {
            Inspection::Existing(l) => l,
            Inspection::New => panic!("taken for a new directory"),
        }
    }

    #[test]
    fn journal_gaps_and_odd_names_are_problems() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join(MARKER_FILE), MARKER).expect("write");
        std::fs::write(dir.path().join(LOCK_FILE), b"").expect("write");
        std::fs::create_dir_all(dir.path().join("keyspaces/foo")).expect("mkdir");
        for id in [3, 5] {
            std::fs::write(dir.path().join(format!("{id}.jnl")), b"").expect("write");
        }
        std::fs::create_dir(dir.path().join("x.jnl")).expect("mkdir");
        let problems = existing(dir.path()).problems();
        let text: Vec<String> = problems.iter().map(ToString::to_string).collect();
        let has = |needle: &str| text.iter().any(|t| t.contains(needle));
        assert!(has("4.jnl: is missing"), "{text:?}");
        assert!(has("x.jnl: a directory named like a journal"), "{text:?}");
        assert!(has("keyspaces/foo: not a keyspace directory"), "{text:?}");
        assert!(has("keyspaces/0: is missing"), "{text:?}");
        assert!(!has("5.jnl:"), "{text:?}");
    }

    #[test]
    fn a_garbage_marker_is_named() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join(MARKER_FILE), b"\x00garbage").expect("write");
        std::fs::write(dir.path().join("0.jnl"), b"").expect("write");
        let text: Vec<String> = existing(dir.path())
            .problems()
            .iter()
            .map(ToString::to_string)
            .collect();
        assert!(
            text.iter()
                .any(|t| t.contains("version: holds \"\\x00garbage\" instead of fjall's")),
            "{text:?}"
        );
    }
}
