//! The process's allocator: mimalloc behind a counting wrapper ([`Counting`], installed as the
//! global allocator by the `sluice` binary), and the policy that gives freed memory back to
//! the operating system ([`cron`], [`collect`]).
//!
//! **Figures.** [`allocated`] is the bytes Rust code holds live (what was asked of the
//! allocator and not freed yet: INFO's `used_memory`). Each thread adds up its allocations and
//! frees in a thread-local and moves the sum to one shared counter once it reaches
//! [`FLUSH_AT`] either way (no atomic operation and no shared cache line on most allocations;
//! measured against an atomic add per allocation the difference was within the noise, see
//! `bench/results/2026-12-04-memory.md`), so the figure is exact to 256 KiB per thread. Memory C code takes with `malloc` (none of our
//! dependencies does on a hot path) is not counted. [`peak`] is the highest [`allocated`] seen: checked at every
//! allocation of [`LARGE`] bytes or more and at every cron tick, so small allocations between
//! two ticks can exceed it by what they add in 100 ms. When the counter is not installed (the
//! library's own unit tests), [`allocated`] is `None` and callers fall back to the RSS.
//!
//! **Giving memory back.** mimalloc keeps freed pages and purges them to the OS lazily, when a
//! thread next allocates or frees (after `purge_delay`, 1 s, times `arena_purge_mult`, 10, for
//! arenas): an idle server kept hundreds of MB it had freed (issue #11). [`cron`] calls
//! `mi_collect(true)` — which purges every arena at once, program-wide, and the engine thread's
//! own free pages — when a large free happened: [`LARGE_FREE_TRIGGER`] bytes in blocks of
//! [`LARGE`] or more since the last collect (a huge argument or reply), or the live figure fell
//! by [`DROP_TRIGGER`] and an eighth below its highest since the last collect (FLUSHALL, a large
//! DEL); at most once a second. Besides, every [`IDLE_EVERY`] (backing off to
//! [`IDLE_EVERY_MAX`] while it gives little back) it collects when the RSS exceeds the live
//! figure by 64 MiB and by half, and, with `maxmemory` set, when the RSS is above it (so pages
//! the allocator merely kept do not refuse writes: every second while that gives at least 1 MiB
//! back, then at the idle check's pace). `MEMORY PURGE` collects at once.
//!
//! **Huge pages.** mimalloc 3 asks for transparent huge pages on its arenas
//! (`madvise(MADV_HUGEPAGE)`), so even on a system whose THP mode is `madvise` a page it
//! re-commits after a purge faults in as a 2 MB huge page that the kernel zeroes whole. Under
//! the job workloads those faults took 11% of the server's CPU (`clear_page_erms`) and showed in
//! every client's tail latency. As Redis with `disable-thp yes`, [`disable_thp`] turns THP off
//! for the process at start (`PR_SET_THP_DISABLE`, which the kernel checks at every fault, so it
//! also covers what mimalloc mapped before `main`); unlike Redis, whatever the system's mode.

use std::alloc::{GlobalAlloc, Layout};
use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicIsize, AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use mimalloc::MiMalloc;

/// Allocations this large check the peak, and their frees count towards a collect.
pub const LARGE: usize = 1 << 20;
/// Bytes freed in large blocks since the last collect that trigger one.
pub const LARGE_FREE_TRIGGER: u64 = 32 << 20;
/// A fall of the live figure (and at least an eighth of its high) that triggers a collect.
pub const DROP_TRIGGER: usize = 64 << 20;
/// How often the RSS is compared with the live figure while nothing else triggers a collect.
pub const IDLE_EVERY: Duration = Duration::from_secs(10);
/// The longest that check backs off to when collecting gives little back.
pub const IDLE_EVERY_MAX: Duration = Duration::from_secs(320);
/// At most one triggered collect this often (MEMORY PURGE is not limited).
const MIN_INTERVAL: Duration = Duration::from_secs(1);

/// Bytes live, as flushed from the threads' pending deltas.
static LIVE: AtomicIsize = AtomicIsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);
static LARGE_FREED: AtomicU64 = AtomicU64::new(0);
/// Set by the first flush into [`LIVE`]: [`Counting`] is the global allocator.
static COUNTING: AtomicBool = AtomicBool::new(false);
/// A thread adds its allocations to [`LIVE`] once they differ from what it last added by this
/// much, so most allocations cost a thread-local add rather than an atomic one.
const FLUSH_AT: usize = 256 << 10;

thread_local! {
    // Const-initialised and without a destructor: usable from the allocator, at any time in a
    // thread's life (including while its other thread-locals are being destroyed).
    static PENDING: Cell<isize> = const { Cell::new(0) };
}

/// mimalloc, counting the bytes live (see the module docs).
pub struct Counting;

#[inline]
fn add(n: isize) {
    let flushed = PENDING.try_with(|p| {
        let v = p.get().wrapping_add(n);
        if v.unsigned_abs() >= FLUSH_AT {
            LIVE.fetch_add(v, Ordering::Relaxed);
            COUNTING.store(true, Ordering::Relaxed);
            p.set(0);
        } else {
            p.set(v);
        }
    });
    if flushed.is_err() {
        LIVE.fetch_add(n, Ordering::Relaxed);
    }
}

fn note_peak() -> usize {
    let live = sum();
    PEAK.fetch_max(live, Ordering::Relaxed);
    live
}

fn sum() -> usize {
    LIVE.load(Ordering::Relaxed).max(0) as usize
}

// SAFETY: every call is passed to mimalloc unchanged; the wrapper only counts.
unsafe impl GlobalAlloc for Counting {
    #[inline]
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        let p = unsafe { MiMalloc.alloc(l) };
        if !p.is_null() {
            add(l.size() as isize);
            if l.size() >= LARGE {
                note_peak();
            }
        }
        p
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
        let p = unsafe { MiMalloc.alloc_zeroed(l) };
        if !p.is_null() {
            add(l.size() as isize);
            if l.size() >= LARGE {
                note_peak();
            }
        }
        p
    }

    #[inline]
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        unsafe { MiMalloc.dealloc(p, l) };
        add(-(l.size() as isize));
        if l.size() >= LARGE {
            LARGE_FREED.fetch_add(l.size() as u64, Ordering::Relaxed);
        }
    }

    #[inline]
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new_size: usize) -> *mut u8 {
        let q = unsafe { MiMalloc.realloc(p, l, new_size) };
        if !q.is_null() {
            add(new_size as isize - l.size() as isize);
            if new_size >= LARGE && new_size > l.size() {
                note_peak();
            } else if l.size() >= LARGE && new_size < l.size() {
                LARGE_FREED.fetch_add((l.size() - new_size) as u64, Ordering::Relaxed);
            }
        }
        q
    }
}

/// Bytes live in the allocator (INFO `used_memory`); `None` when [`Counting`] is not the global
/// allocator.
pub fn allocated() -> Option<usize> {
    let live = note_peak();
    COUNTING.load(Ordering::Relaxed).then_some(live)
}

/// The highest [`allocated`] figure seen (INFO `used_memory_peak`).
pub fn peak() -> usize {
    PEAK.load(Ordering::Relaxed)
}

/// Bytes mimalloc counts as committed from the OS (MEMORY MALLOC-STATS). Not reported as
/// resident memory: on Linux its purges (`MADV_DONTNEED`) do not lower it (2.1 GB committed
/// with a 376 MB RSS after 10M pending entries and FLUSHALL).
pub fn committed() -> usize {
    let (mut elapsed, mut user, mut sys, mut rss, mut peak_rss, mut commit, mut peak_commit) =
        (0, 0, 0, 0, 0, 0, 0);
    let mut faults = 0;
    // SAFETY: mi_process_info writes only through the pointers it is given, all valid.
    unsafe {
        libmimalloc_sys::mi_process_info(
            &mut elapsed,
            &mut user,
            &mut sys,
            &mut rss,
            &mut peak_rss,
            &mut commit,
            &mut peak_commit,
            &mut faults,
        );
    }
    commit
}

/// `mimalloc-<major>.<minor>.<patch>` (INFO `mem_allocator`).
pub fn name() -> String {
    // SAFETY: no arguments, returns a number.
    let v = unsafe { libmimalloc_sys::mi_version() };
    format!("mimalloc-{}.{}.{}", v / 10000, v / 100 % 100, v % 100)
}

/// mimalloc's statistics report (MEMORY MALLOC-STATS), with the live figures of this module
/// first. mimalloc is built without its detailed statistics (`MI_STAT` 0), so the report holds
/// what it always tracks (committed and reserved memory, process figures).
pub fn report() -> String {
    unsafe extern "C" fn out(msg: *const std::ffi::c_char, arg: *mut std::ffi::c_void) {
        if msg.is_null() || arg.is_null() {
            return;
        }
        // SAFETY: `arg` is the `String` passed below, alive for the call; `msg` is a C string.
        let (s, m) = unsafe { (&mut *arg.cast::<String>(), std::ffi::CStr::from_ptr(msg)) };
        s.push_str(&m.to_string_lossy());
    }
    let mut s = format!(
        "{}: allocated {} bytes live (peak {}), {} committed\n",
        name(),
        allocated().unwrap_or(0),
        peak(),
        committed()
    );
    // SAFETY: the callback only appends to `s`, which outlives the call.
    unsafe {
        libmimalloc_sys::mi_stats_print_out(Some(out), std::ptr::addr_of_mut!(s).cast());
    }
    s
}

/// What a collect gave back.
#[derive(Clone, Copy, Debug)]
pub struct Collected {
    pub rss_before: u64,
    pub rss_after: u64,
}

/// Frees what mimalloc holds and can give back: the engine thread's free pages and every arena's
/// free ranges, purged now rather than after their delay (MEMORY PURGE). Call it on the engine
/// thread.
pub fn collect() -> Collected {
    let rss_before = crate::commands::info::rss_bytes();
    // SAFETY: mi_collect has no preconditions; it only returns memory mimalloc holds free.
    unsafe { libmimalloc_sys::mi_collect(true) };
    let mut g = state();
    g.after_collect(Instant::now());
    Collected {
        rss_before,
        rss_after: crate::commands::info::rss_bytes(),
    }
}

struct Giveback {
    last: Option<Instant>,
    /// The highest live figure sampled since the last collect.
    high: usize,
    /// [`LARGE_FREED`] at the last collect.
    large_at: u64,
    /// When the RSS was last compared with the live figure, and how often it is.
    idle_checked: Option<Instant>,
    idle_every: Duration,
    /// The last collect made because the RSS was above `maxmemory` gave something back: while
    /// it does, collect every second over `maxmemory`; once it does not (the live data itself
    /// is over the limit), only at the idle check's pace, so an instance that simply needs more
    /// than `maxmemory` does not pay a collect a second.
    over_max_useful: bool,
}

impl Giveback {
    fn after_collect(&mut self, now: Instant) {
        self.last = Some(now);
        self.high = sum();
        self.large_at = LARGE_FREED.load(Ordering::Relaxed);
        self.idle_checked = Some(now);
    }
}

static STATE: Mutex<Giveback> = Mutex::new(Giveback {
    last: None,
    high: 0,
    large_at: 0,
    idle_checked: None,
    idle_every: IDLE_EVERY,
    over_max_useful: true,
});

fn state() -> std::sync::MutexGuard<'static, Giveback> {
    // The state is a few counters, consistent after any panic.
    STATE.lock().unwrap_or_else(|e| e.into_inner())
}

/// The engine's cron hook: samples the peak and collects when the module docs' rules say so.
/// `maxmemory` is the configured limit (0 = none).
pub fn cron(maxmemory: u64) {
    let Some(live) = allocated() else {
        return;
    };
    let now = Instant::now();
    let mut g = state();
    g.high = g.high.max(live);
    if g.last.is_some_and(|t| now.duration_since(t) < MIN_INTERVAL) {
        return;
    }
    let large = LARGE_FREED.load(Ordering::Relaxed).wrapping_sub(g.large_at);
    let fell = g.high - live;
    let mut reason = if large >= LARGE_FREE_TRIGGER {
        Some("large blocks freed")
    } else if fell >= DROP_TRIGGER && fell >= g.high / 8 {
        Some("live memory fell")
    } else {
        None
    };
    let mut idle = false;
    let mut over_max = false;
    if reason.is_none() {
        let due = g
            .idle_checked
            .is_none_or(|t| now.duration_since(t) >= g.idle_every);
        if due || maxmemory > 0 {
            let rss = crate::commands::info::rss_bytes();
            if maxmemory > 0 && rss > maxmemory && (g.over_max_useful || due) {
                reason = Some("RSS above maxmemory");
                over_max = true;
                if due {
                    g.idle_checked = Some(now);
                }
            } else if maxmemory > 0 && rss <= maxmemory {
                g.over_max_useful = true;
            }
            if reason.is_none() && due {
                g.idle_checked = Some(now);
                let slack = rss.saturating_sub(live as u64);
                if slack >= 64 << 20 && slack >= live as u64 / 2 {
                    reason = Some("RSS well above live memory");
                    idle = true;
                }
            }
        }
    }
    let Some(reason) = reason else {
        return;
    };
    drop(g);
    let started = Instant::now();
    let c = collect();
    let gave = c.rss_before.saturating_sub(c.rss_after);
    let mut g = state();
    if over_max {
        g.over_max_useful = gave >= 1 << 20;
    }
    if idle {
        g.idle_every = if gave < 16 << 20 {
            (g.idle_every * 2).min(IDLE_EVERY_MAX)
        } else {
            IDLE_EVERY
        };
    }
    tracing::debug!(
        reason,
        live_bytes = live,
        rss_before = c.rss_before,
        rss_after = c.rss_after,
        gave_back = gave,
        took_us = started.elapsed().as_micros() as u64,
        "allocator collect"
    );
}

/// Turns transparent huge pages off for the whole process (`disable-thp yes`, see the module
/// docs). Linux only; elsewhere there is nothing to turn off.
pub fn disable_thp() -> std::io::Result<()> {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: PR_SET_THP_DISABLE takes integer arguments only and sets a flag of this
        // process's memory map.
        let r = unsafe { libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0) };
        if r != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}
