//! MEMORY USAGE/STATS/DOCTOR/MALLOC-STATS/PURGE/HELP.
//!
//! What "memory" means for Sluice: a stream's entries live on disk (in fjall), so MEMORY USAGE
//! counts what a key holds in RAM — for a string, the key and value with the key directory's
//! per-key overhead; for a stream, its metadata, node index, tail cache, consumer groups,
//! consumers and pending entries — estimated from the sizes of those structures. It is an
//! estimate, like Redis's (which samples nested values); SAMPLES is parsed and checked as Redis
//! does and does not change the result, since nothing is sampled.

use bytes::Bytes;
use sluice_storage::{Entry, Value};

use super::common::*;
use crate::engine::Ctx;
use crate::reply::{CmdResult, SYNTAX};

/// Most keys MEMORY STATS looks at to estimate the dataset.
const STATS_SAMPLE: usize = 10_000;

/// Per-key overhead of the key directory: the hash map slot (name handle and entry), the SCAN
/// order set's entry and the allocation headers of the name.
const KEY_OVERHEAD: usize = 160;

fn alloc(n: usize) -> usize {
    // Allocators round small sizes up to 16 bytes.
    n.div_ceil(16) * 16
}

/// The estimated RAM held by one key.
pub fn key_memory(name: &[u8], e: &Entry) -> usize {
    let p = key_parts(name, e);
    p.keydir + p.stream_caches + p.groups
}

/// One key's RAM by where it is held.
#[derive(Default, Clone, Copy)]
struct KeyParts {
    /// Its directory entry, name and (for a string) value.
    keydir: usize,
    /// A stream's metadata, node index, tail cache and IDMP window.
    stream_caches: usize,
    /// A stream's consumer groups, consumers and pending entries (PELs).
    groups: usize,
}

fn key_parts(name: &[u8], e: &Entry) -> KeyParts {
    let mut p = KeyParts {
        keydir: KEY_OVERHEAD + alloc(name.len()),
        ..KeyParts::default()
    };
    match &e.value {
        Value::String(v) => p.keydir += alloc(v.len()),
        Value::Stream(m) => {
            let mut n = std::mem::size_of::<sluice_storage::stream::StreamMeta>();
            // Node index: a B-tree entry (ID key, summary value) per node.
            n += m.layout.radix_tree_keys() as usize * 96;
            // Tail cache: the encoded entries plus a deque slot each.
            n += m.tail_bytes + m.tail.len() * 48;
            // IDMP window (`XADD … IDMP`).
            n += m.idmp.as_deref().map_or(0, |w| w.heap_estimate());
            p.stream_caches = n;
            let mut g_bytes = 0;
            for (gname, g) in m.groups.iter() {
                g_bytes += 256 + alloc(gname.len());
                // Group PEL: ID key and delivery record per entry, B-tree overhead.
                g_bytes += g.pel().len() * 64;
                for (cname, c) in g.consumers() {
                    g_bytes += 160 + alloc(cname.len()) + c.pel().len() * 40;
                }
            }
            p.groups = g_bytes;
        }
    }
    p
}

pub fn usage(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let mut j = 3;
    while j < argv.len() {
        if argv[j].eq_ignore_ascii_case(b"samples") && j + 1 < argv.len() {
            let n = crate::args::int(&argv[j + 1])?;
            if n < 0 {
                return Err(SYNTAX.into());
            }
            j += 2;
        } else {
            return Err(SYNTAX.into());
        }
    }
    let db = ctx.db();
    match ctx.store.lookup(db, &argv[2], ctx.now_ms) {
        Some(e) => {
            let n = key_memory(&argv[2], e);
            ctx.out.int(n as i64);
        }
        None => ctx.out.null(),
    }
    Ok(())
}

/// Where memory goes: the allocator's live bytes and peak (`alloc.rs`), then what holds them
/// as far as Sluice can tell — the key directory, stream caches, consumer groups with their
/// PELs (these three estimated from up to [`STATS_SAMPLE`] keys, scaled to all of them), client
/// buffers, fjall's memtables and block cache — and what is left unattributed (the parser,
/// scripting, fjall's table indexes and filters, …). Field names follow Redis's MEMORY STATS
/// where the meaning is the same; Sluice's own start with `sluice.`.
pub fn stats(ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> CmdResult {
    let rss = super::info::rss_bytes();
    let used = crate::alloc::allocated().map_or(rss, |n| n as u64);
    let peak = (crate::alloc::peak() as u64).max(used);
    // The dataset is estimated from the first keys in SCAN order (all of them on a small
    // server): MEMORY STATS runs on the event loop and must not walk millions of keys.
    let mut keys = 0usize;
    let mut sampled = 0usize;
    let mut sum = KeyParts::default();
    for db in 0..ctx.store.databases() {
        let dir = ctx.store.dir(db);
        keys += dir.len();
        for (name, e) in dir.iter().take(STATS_SAMPLE - sampled) {
            sampled += 1;
            let p = key_parts(name, e);
            sum.keydir += p.keydir;
            sum.stream_caches += p.stream_caches;
            sum.groups += p.groups;
        }
    }
    let scale = |n: usize| -> u64 {
        if sampled == keys {
            n as u64
        } else {
            (n as u128 * keys as u128 / sampled.max(1) as u128) as u64
        }
    };
    let (_, slots) = ctx.store.keydir_slots();
    // Slots a table keeps beyond its keys (name handle, entry and control byte each).
    let spare_slots =
        slots.saturating_sub(keys) as u64 * (std::mem::size_of::<(Bytes, Entry)>() + 1) as u64;
    let keydir = scale(sum.keydir) + spare_slots;
    let stream_caches = scale(sum.stream_caches);
    let groups = scale(sum.groups);
    let dataset = keydir + stream_caches + groups;
    let per_key = dataset / keys.max(1) as u64;
    let clients = (ctx
        .srv
        .clients
        .values()
        .map(|c| c.mem_bytes())
        .sum::<usize>()
        + ctx.client.mem_bytes()) as u64;
    let memtables = ctx.store.memtable_bytes();
    let (cache, cache_capacity) = ctx.store.block_cache_bytes();
    let attributed = dataset + clients + memtables + cache;
    let fields: [(&str, Figure); 20] = [
        ("peak.allocated", Figure::Int(peak)),
        ("total.allocated", Figure::Int(used)),
        ("clients.normal", Figure::Int(clients)),
        ("keys.count", Figure::Int(keys as u64)),
        ("keys.bytes-per-key", Figure::Int(per_key)),
        ("dataset.bytes", Figure::Int(dataset)),
        ("dataset.percentage", Figure::Ratio(pct(dataset, used))),
        ("peak.percentage", Figure::Ratio(pct(used, peak))),
        ("allocator.allocated", Figure::Int(used)),
        (
            "fragmentation",
            Figure::Ratio(rss as f64 / used.max(1) as f64),
        ),
        (
            "fragmentation.bytes",
            Figure::Signed(rss as i64 - used as i64),
        ),
        ("sluice.rss.bytes", Figure::Int(rss)),
        ("sluice.keydir.bytes", Figure::Int(keydir)),
        ("sluice.stream-caches.bytes", Figure::Int(stream_caches)),
        ("sluice.groups.bytes", Figure::Int(groups)),
        ("sluice.memtables.bytes", Figure::Int(memtables)),
        ("sluice.block-cache.bytes", Figure::Int(cache)),
        ("sluice.block-cache.capacity", Figure::Int(cache_capacity)),
        (
            "sluice.unattributed.bytes",
            Figure::Signed(used as i64 - attributed as i64),
        ),
        ("sluice.disk.bytes", Figure::Int(ctx.store.disk_space())),
    ];
    ctx.out.map(fields.len());
    for (k, v) in fields {
        ctx.out.bulk(k.as_bytes());
        match v {
            Figure::Int(n) => ctx.out.int(n as i64),
            Figure::Signed(n) => ctx.out.int(n),
            Figure::Ratio(r) => ctx.out.double(r),
        }
    }
    Ok(())
}

enum Figure {
    Int(u64),
    Signed(i64),
    Ratio(f64),
}

fn pct(part: u64, whole: u64) -> f64 {
    part as f64 * 100.0 / whole.max(1) as f64
}

/// MEMORY DOCTOR: Redis's checks (peak, fragmentation, client buffers) on Sluice's true
/// figures — the allocator's live bytes and their peak (`alloc.rs`), the RSS — plus maxmemory,
/// which Sluice measures by RSS.
pub fn doctor(ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> CmdResult {
    let rss = super::info::rss_bytes();
    let used = crate::alloc::allocated().map_or(rss, |n| n as u64);
    let peak = (crate::alloc::peak() as u64).max(used);
    let max = ctx.srv.config.maxmemory;
    let clients = ctx.srv.clients.len() as u64 + 1;
    let client_bytes = (ctx
        .srv
        .clients
        .values()
        .map(|c| c.mem_bytes())
        .sum::<usize>()
        + ctx.client.mem_bytes()) as u64;
    let mut issues = Vec::new();
    if max > 0 && rss > max {
        issues.push(format!(
            " * Over maxmemory: the process uses {rss} bytes (RSS), above maxmemory {max}; commands that add data are refused with -OOM until it drops. Sluice never evicts: delete or trim data, lower cache-size, or raise maxmemory."
        ));
    }
    // Redis: a peak over 150% of what is in use now.
    if peak > used.saturating_mul(3) / 2 && peak > 64 << 20 {
        issues.push(format!(
            " * Peak memory: in the past this instance had {peak} bytes allocated, more than 150% of what it has now ({used}). Freed memory is given back to the OS on a timer (see the README's Monitoring section); MEMORY PURGE does it at once."
        ));
    }
    // Redis: a fragmentation ratio over 1.4 with more than 10 MB in it. At start the RSS is
    // mostly the binary and thread stacks, so small instances are left alone.
    if rss > used.saturating_mul(7) / 5 && rss.saturating_sub(used) > 10 << 20 && rss > 64 << 20 {
        issues.push(format!(
            " * High fragmentation: the process's RSS ({rss} bytes) is {:.2} times the bytes allocated ({used}). The allocator may hold freed pages it has not returned yet: MEMORY PURGE returns them now.",
            rss as f64 / used.max(1) as f64
        ));
    }
    // Redis: clients hold more than 200 KiB each on average.
    if client_bytes / clients > 200 << 10 {
        issues.push(format!(
            " * Big client buffers: the {clients} clients hold {client_bytes} bytes, over 200 KiB each on average (CLIENT LIST's qbuf, omem and tot-mem say which). Large pipelines or replies not read yet are the usual cause; client-output-buffer-limit and client-query-buffer-limit bound them."
        ));
    }
    let text = if issues.is_empty() {
        format!("Hi Sam, I can't find any memory issue in your instance. It has {used} bytes allocated and the process uses {rss} bytes (RSS); Sluice keeps stream entries on disk, so memory is the key directory, consumer groups, the block cache ({} bytes configured), memtables and client buffers.\n", ctx.srv.config.cache_size)
    } else {
        format!(
            "Sam, I detected a few issues in this Sluice instance memory implants:\n\n{}\n\nI'm here to keep you safe, Sam. I want to help you.\n",
            issues.join("\n\n")
        )
    };
    ctx.out.verbatim("txt", text.as_bytes());
    Ok(())
}

pub fn malloc_stats(ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> CmdResult {
    ctx.out.verbatim("txt", crate::alloc::report().as_bytes());
    Ok(())
}

/// Gives back to the OS what the allocator holds free, now (see `alloc.rs`).
pub fn purge(ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> CmdResult {
    let c = crate::alloc::collect();
    tracing::debug!(
        rss_before = c.rss_before,
        rss_after = c.rss_after,
        "MEMORY PURGE"
    );
    ctx.out.ok();
    Ok(())
}

pub fn help(ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> CmdResult {
    super::help_reply(
        ctx,
        "MEMORY",
        &[
            "DOCTOR",
            "    Return memory problems reports.",
            "MALLOC-STATS",
            "    Return internal statistics report from the memory allocator.",
            "PURGE",
            "    Attempt to purge dirty pages for reclamation by the allocator.",
            "STATS",
            "    Return information about the memory usage of the server.",
            "USAGE <key> [SAMPLES <count>]",
            "    Return memory in bytes used by <key> and its value. Nested values are",
            "    sampled up to <count> times (default: 5, 0 means sample all).",
        ],
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// The table rows of this family (see `commands/mod.rs`).

pub static COMMANDS: &[Command] = &[container("memory", &MEMORY_SUBCOMMANDS)
    .acl(&["@slow"])
    .doc(
        "server",
        "4.0.0",
        "Depends on subcommand.",
        "A container for memory diagnostics commands",
    )];

const SPECIAL: &[&str] = &[
    "nondeterministic_output",
    "request_policy:all_shards",
    "response_policy:special",
];

pub static MEMORY_SUBCOMMANDS: [Command; 6] = [
    cmd("memory|doctor", 2, doctor)
        .tips(SPECIAL)
        .acl(&["@slow"])
        .doc("server", "4.0.0", "O(1)", "Outputs memory problems report"),
    cmd("memory|malloc-stats", 2, malloc_stats)
        .tips(SPECIAL)
        .acl(&["@slow"])
        .doc(
            "server",
            "4.0.0",
            "Depends on how much memory is allocated, could be slow",
            "Show allocator internal stats",
        ),
    cmd("memory|purge", 2, purge)
        .tips(&["request_policy:all_shards", "response_policy:all_succeeded"])
        .acl(&["@slow"])
        .doc(
            "server",
            "4.0.0",
            "Depends on how much memory is allocated, could be slow",
            "Ask the allocator to release memory",
        ),
    cmd("memory|stats", 2, stats)
        .tips(SPECIAL)
        .acl(&["@slow"])
        .doc("server", "4.0.0", "O(1)", "Show memory usage details"),
    cmd("memory|usage", -3, usage)
        .flags(&["readonly"])
        .keys(2, 2, 1, &[ks(&["RO"], 2, 0, 1)])
        .acl(&["@read", "@slow"])
        .doc(
            "server",
            "4.0.0",
            "O(N) where N is the number of samples.",
            "Estimate the memory usage of a key",
        )
        .args(&[
            arg("key", "key"),
            arg("count", "integer").token("SAMPLES").opt(),
        ]),
    cmd("memory|help", 2, help)
        .flags(&["loading", "stale"])
        .acl(&["@slow"])
        .doc(
            "server",
            "4.0.0",
            "O(1)",
            "Show helpful text about the different subcommands",
        ),
];
