//! The log: `tracing` events, formatted on the thread that emits them and written to stderr by
//! one background thread, so that logging can never stop or kill the server.
//!
//! What it guarantees, and why:
//! * **A log write never blocks a server thread.** Lines go through a bounded queue
//!   ([`QUEUE_LINES`]) to the writer thread. When stderr is a pipe nobody reads, the writer
//!   blocks and the queue fills; further lines are dropped (counted, and the count is logged
//!   once the writer gets through again), never waited for.
//! * **A failed log write never kills the server.** The writer thread ignores write errors
//!   (`EPIPE` when the reader of `sluice … | head` exits, `EIO`, a full disk behind a
//!   redirect): the line is lost, the server goes on. tracing-subscriber's own fallback for a
//!   failed write (`eprintln!`, which panics on a broken stderr, and our panic hook aborts) is
//!   switched off. `SIGPIPE` is ignored (see [`ignore_sigpipe`]), so a write to a closed pipe
//!   or socket is an error return, not a signal.
//! * **A fatal line gets out before the process exits.** [`flush`] waits (bounded) until the
//!   writer has written every line queued so far; [`crate::fault::fatal`] calls it before
//!   `exit`.

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::EnvFilter;

/// Lines held for the writer thread before new ones are dropped.
pub const QUEUE_LINES: usize = 16 * 1024;

/// How long [`flush`] waits for the writer thread.
pub const FLUSH_WAIT: Duration = Duration::from_secs(2);

enum Item {
    Line(Vec<u8>),
    /// Answered once every line before it is written.
    Flush(SyncSender<()>),
}

struct Queue {
    tx: SyncSender<Item>,
    dropped: AtomicU64,
}

static QUEUE: OnceLock<Queue> = OnceLock::new();

/// Sets up the global subscriber: `level` unless `SLUICE_LOG` gives a filter, ANSI colours only
/// when stderr is a terminal, the writer thread described in the module docs.
pub fn init(level: &str) {
    let (tx, rx) = sync_channel(QUEUE_LINES);
    let queue = QUEUE.get_or_init(|| Queue {
        tx,
        dropped: AtomicU64::new(0),
    });
    // Only the first `init` owns a receiver whose sender is the global one.
    if std::thread::Builder::new()
        .name("sluice-log".into())
        .spawn(move || writer_thread(rx))
        .is_err()
    {
        // No thread, no log: lines fill the queue and are dropped; the server still runs.
        queue.dropped.fetch_add(1, Ordering::Relaxed);
    }
    // fjall's and lsm-tree's own lines (flushes, ingestion, recovery details) are internals: an
    // operator sees them at `loglevel debug`, or with SLUICE_LOG.
    let directives = if level == "debug" {
        level.to_string()
    } else {
        format!("{level},fjall=warn,lsm_tree=warn")
    };
    let filter =
        EnvFilter::try_from_env("SLUICE_LOG").unwrap_or_else(|_| EnvFilter::new(directives));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(QueueWriter)
        .log_internal_errors(false)
        .try_init();
}

/// Maps Redis's `loglevel` names to tracing's.
pub fn level_for(loglevel: &str) -> &'static str {
    match loglevel {
        "debug" => "debug",
        "verbose" | "notice" => "info",
        "warning" => "warn",
        _ => "error",
    }
}

fn writer_thread(rx: Receiver<Item>) {
    let mut stderr = std::io::stderr();
    let mut reported = 0u64;
    while let Ok(item) = rx.recv() {
        match item {
            Item::Line(line) => {
                if let Some(q) = QUEUE.get() {
                    let dropped = q.dropped.load(Ordering::Relaxed);
                    if dropped > reported {
                        let note = format!(
                            "sluice: {} log lines were dropped: stderr was not being read\n",
                            dropped - reported
                        );
                        let _ = stderr.write_all(note.as_bytes());
                        reported = dropped;
                    }
                }
                // Errors are ignored on purpose: see the module docs.
                let _ = stderr.write_all(&line);
            }
            Item::Flush(done) => {
                let _ = stderr.flush();
                let _ = done.send(());
            }
        }
    }
}

/// Waits until the lines logged so far are written, at most [`FLUSH_WAIT`].
pub fn flush() {
    let Some(q) = QUEUE.get() else { return };
    let (tx, rx) = sync_channel(1);
    let deadline = Instant::now() + FLUSH_WAIT;
    let mut item = Item::Flush(tx);
    loop {
        match q.tx.try_send(item) {
            Ok(()) => break,
            Err(TrySendError::Full(back)) => {
                if Instant::now() >= deadline {
                    return;
                }
                item = back;
                std::thread::sleep(Duration::from_millis(1));
            }
            Err(TrySendError::Disconnected(_)) => return,
        }
    }
    let _ = rx.recv_timeout(deadline.saturating_duration_since(Instant::now()));
}

/// Ignores `SIGPIPE` as redis-server does: a write to a closed socket or pipe returns `EPIPE`.
/// (Rust's runtime already does this for `main`; this makes it explicit and holds for any
/// embedding.)
pub fn ignore_sigpipe() {
    #[cfg(unix)]
    // SAFETY: setting a signal's disposition to SIG_IGN has no memory-safety preconditions.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_IGN);
    }
}

/// The `MakeWriter` behind the subscriber: each event becomes one queued line.
struct QueueWriter;

/// Buffers one event and queues it when dropped (tracing-subscriber writes an event in pieces).
struct LineBuf(Vec<u8>);

impl Write for LineBuf {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for LineBuf {
    fn drop(&mut self) {
        if self.0.is_empty() {
            return;
        }
        let Some(q) = QUEUE.get() else { return };
        let line = std::mem::take(&mut self.0);
        if q.tx.try_send(Item::Line(line)).is_err() {
            q.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}

impl<'a> MakeWriter<'a> for QueueWriter {
    type Writer = LineBuf;

    fn make_writer(&'a self) -> LineBuf {
        LineBuf(Vec::with_capacity(256))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_follow_redis_names() {
        assert_eq!(level_for("debug"), "debug");
        assert_eq!(level_for("verbose"), "info");
        assert_eq!(level_for("notice"), "info");
        assert_eq!(level_for("warning"), "warn");
        assert_eq!(level_for("nothing"), "error");
    }
}
