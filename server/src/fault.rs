//! What the server does when the disk fails: one policy, decided in one place ([`classify`]).
//!
//! fjall poisons its database after any failed journal write or sync, and after any failed
//! background flush or compaction: every later commit fails with `Poisoned`, in this process,
//! for good. Nothing written after the failure can be made durable, and the in-memory state
//! (key directories, consumer groups) may hold changes of a drain whose batch never reached the
//! journal. So there are only two honest answers, and every storage error gets one of them:
//!
//! * **Disk full → read-only** ([`Action::ReadOnly`]): an `ENOSPC`/`EDQUOT` from any write, or a
//!   poisoned store while the data directory has no room (a background flush that ran out of
//!   space poisons fjall and the next commit only sees `Poisoned`). The engine withholds the
//!   replies of the drain that failed (their connections are closed: those writes may or may
//!   not be on disk), drops the store and opens it again from disk (so memory equals what the
//!   journal holds), and from then on refuses every write command — and PING, as Redis does —
//!   with Redis's `-MISCONF Errors writing to the AOF file: No space left on device`, while
//!   reads, INFO, CONFIG and SHUTDOWN go on. Once a second it [`probe`]s the data directory;
//!   when `min-free-disk` bytes are free and a probe file can be written and synced, writes
//!   resume by themselves. INFO shows the state (`aof_last_write_status:err`).
//! * **fjall poisoned by a background flush or compaction while the disk has room → read-only
//!   until a restart** ([`Action::Damaged`]): a compaction that read a damaged table (or met
//!   an I/O error) poisons fjall, and would again after every restart, so exiting would keep
//!   the server down. As for a full disk the store is reopened and writes are refused (with
//!   `-MISCONF Writes are refused until the server restarts: …`), reads go on, and a
//!   background diagnosis logs which table is damaged; no probe resumes writes.
//! * **Anything else → fail-stop** ([`fatal`]): `EIO` from a journal write or an `fdatasync`,
//!   a store that cannot be reopened. The process logs one line
//!   saying what failed and what it means, and exits with status 1 at once, without releasing
//!   the replies of the failed drain. A supervisor restarts it; the restart recovers every
//!   committed batch from the journal. A half-alive process (connections accepted, nothing
//!   answered) is never an outcome.
//!
//! Invariant kept with the engine: a reply is released only after the drain that produced it
//! was committed and persisted per `appendfsync`; a fault in between turns into one of the two
//! answers above before any of that drain's replies leave.

use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use sluice_storage::StoreError;

/// How often a read-only server checks whether the disk has room again.
pub const PROBE_EVERY: Duration = Duration::from_secs(1);

/// Bytes written (and synced) by a [`probe`].
pub const PROBE_BYTES: usize = 64 << 10;

/// The probe file, in the data directory; removed after each probe.
pub const PROBE_FILE: &str = ".sluice-space-probe";

/// What to do about a storage error.
#[derive(Debug)]
pub enum Action {
    /// Refuse writes until the disk has room again; the error's text (`strerror`).
    ReadOnly(String),
    /// Refuse writes until a restart: fjall was poisoned by a background flush or compaction
    /// while the disk has room (a damaged table, or an I/O error). Exiting would not help: the
    /// next compaction of a damaged table poisons the restarted server again, so fail-stop
    /// would keep it down; read-only keeps the reads going. Holds the reason.
    Damaged(String),
    /// Log and exit.
    FailStop,
}

/// The read-only state after a disk-full fault.
#[derive(Debug, Clone)]
pub struct DiskFault {
    /// `strerror` of the cause, as in Redis's MISCONF text ("No space left on device").
    pub cause: String,
    /// When writes stopped.
    pub since: Instant,
    /// Unix ms when writes stopped (INFO).
    pub since_ms: u64,
    /// The last probe (at most one per [`PROBE_EVERY`]).
    pub last_probe: Instant,
    /// The last probe's verdict, for the log.
    pub last_probe_error: String,
    /// Writes stay refused until a restart (no probe): see [`Action::Damaged`].
    pub permanent: bool,
}

impl DiskFault {
    pub fn new(cause: String, now_ms: u64) -> DiskFault {
        let now = Instant::now();
        DiskFault {
            cause,
            since: now,
            since_ms: now_ms,
            last_probe: now,
            last_probe_error: String::new(),
            permanent: false,
        }
    }

    /// The state after [`Action::Damaged`].
    pub fn damaged(cause: String, now_ms: u64) -> DiskFault {
        DiskFault {
            permanent: true,
            ..DiskFault::new(cause, now_ms)
        }
    }

    /// The error every refused command gets: Redis's wording for a failed AOF write, or for a
    /// damaged store Sluice's own (with the same MISCONF code, which clients treat alike).
    pub fn reply(&self) -> String {
        if self.permanent {
            format!(
                "MISCONF Writes are refused until the server restarts: {}",
                self.cause
            )
        } else {
            format!("MISCONF Errors writing to the AOF file: {}", self.cause)
        }
    }
}

/// Decides between read-only and fail-stop for `e`, met while doing `during` (see the module
/// docs). `dir` is the data directory, `min_free` the `min-free-disk` setting.
pub fn classify(e: &StoreError, dir: &Path, min_free: u64) -> Action {
    if let Some(io) = e.os_error() {
        return classify_io(io);
    }
    if e.is_poisoned() {
        // Poisoned by a background flush or compaction (a failed journal write or sync was
        // answered when it was reported). If the disk is full now, that is the likely cause
        // and writes resume with the space; otherwise see [`Action::Damaged`].
        if let Err(io) = probe(dir, min_free) {
            if is_disk_full(&io) {
                return Action::ReadOnly(strerror(&io));
            }
        }
        return Action::Damaged(DAMAGED_CAUSE.into());
    }
    Action::FailStop
}

/// Why writes stop after [`Action::Damaged`].
pub const DAMAGED_CAUSE: &str = "a background flush or compaction failed (a damaged table or an I/O error; the log names the file). Run `sluice check` on the data directory";

/// [`classify`] for an OS error met outside the store (the background fsync).
pub fn classify_io(e: &std::io::Error) -> Action {
    if is_disk_full(e) {
        Action::ReadOnly(strerror(e))
    } else {
        Action::FailStop
    }
}

/// `ENOSPC` or `EDQUOT`.
pub fn is_disk_full(e: &std::io::Error) -> bool {
    e.kind() == std::io::ErrorKind::StorageFull
        || e.kind() == std::io::ErrorKind::QuotaExceeded
        || matches!(e.raw_os_error(), Some(libc::ENOSPC) | Some(libc::EDQUOT))
}

/// The OS's text for an error, without Rust's " (os error N)" suffix, as Redis prints it.
pub fn strerror(e: &std::io::Error) -> String {
    let s = e.to_string();
    match s.find(" (os error ") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

/// Checks that the data directory can take writes again: at least `min_free` bytes available
/// (statvfs), and a [`PROBE_BYTES`] file can be written, synced and removed.
pub fn probe(dir: &Path, min_free: u64) -> std::io::Result<()> {
    let free = available_bytes(dir)?;
    if free < min_free {
        return Err(std::io::Error::from_raw_os_error(libc::ENOSPC));
    }
    let path = dir.join(PROBE_FILE);
    let result = (|| {
        let mut f = std::fs::File::create(&path)?;
        f.write_all(&[0u8; PROBE_BYTES])?;
        f.sync_data()
    })();
    let removed = std::fs::remove_file(&path);
    result?;
    removed
}

/// Bytes available to an unprivileged user on the file system holding `dir`.
pub fn available_bytes(dir: &Path) -> std::io::Result<u64> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(dir.as_os_str().as_bytes())
        .map_err(|_| std::io::Error::from(std::io::ErrorKind::InvalidInput))?;
    // SAFETY: `c` is a valid NUL-terminated path; `st` is written by statvfs before it is read.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    if unsafe { libc::statvfs(c.as_ptr(), &mut st) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // The field types differ between platforms (u64 on 64-bit Linux, u32 elsewhere).
    #[allow(clippy::useless_conversion)]
    Ok(u64::from(st.f_bavail).saturating_mul(u64::from(st.f_frsize)))
}

/// Fail-stop: logs `what` at error level, makes sure the line is written, and exits with
/// status 1 without running anything else (no reply of the failed drain leaves, nothing more
/// is written to the store; a restart recovers from the journal).
pub fn fatal(what: &str) -> ! {
    tracing::error!("FATAL: {what}; exiting (status 1)");
    crate::logging::flush();
    std::process::exit(1);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disk_full_is_recognised_by_errno() {
        let e = std::io::Error::from_raw_os_error(libc::ENOSPC);
        assert!(is_disk_full(&e));
        assert_eq!(strerror(&e), "No space left on device");
        assert!(is_disk_full(&std::io::Error::from_raw_os_error(
            libc::EDQUOT
        )));
        assert!(!is_disk_full(&std::io::Error::from_raw_os_error(libc::EIO)));
    }

    #[test]
    fn the_misconf_text_is_redis_s() {
        let f = DiskFault::new("No space left on device".into(), 0);
        assert_eq!(
            f.reply(),
            "MISCONF Errors writing to the AOF file: No space left on device"
        );
    }

    #[test]
    fn probe_needs_the_configured_free_space() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert!(probe(dir.path(), 0).is_ok());
        assert!(
            !dir.path().join(PROBE_FILE).exists(),
            "the probe file is removed"
        );
        let err = probe(dir.path(), u64::MAX).expect_err("no disk has u64::MAX bytes free");
        assert!(is_disk_full(&err));
    }
}
