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
    KEY_OVERHEAD
        + alloc(name.len())
        + match &e.value {
            Value::String(v) => alloc(v.len()),
            Value::Stream(m) => {
                let mut n = std::mem::size_of::<sluice_storage::stream::StreamMeta>();
                // Node index: a B-tree entry (ID key, summary value) per node.
                n += m.layout.radix_tree_keys() as usize * 96;
                // Tail cache: the encoded entries plus a deque slot each.
                n += m.tail_bytes + m.tail.len() * 48;
                // IDMP window (`XADD … IDMP`).
                n += m.idmp.as_deref().map_or(0, |w| w.heap_estimate());
                for (gname, g) in m.groups.iter() {
                    n += 256 + alloc(gname.len());
                    // Group PEL: ID key and delivery record per entry, B-tree overhead.
                    n += g.pel().len() * 64;
                    for (cname, c) in g.consumers() {
                        n += 160 + alloc(cname.len()) + c.pel().len() * 40;
                    }
                }
                n
            }
        }
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

/// Where memory goes, as far as Sluice can tell: the process (RSS), its peak, the key
/// directory (estimated from up to [`STATS_SAMPLE`] keys), and the store's block cache. Field names follow Redis's MEMORY STATS
/// where the meaning is the same; Sluice's own start with `sluice.`.
pub fn stats(ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> CmdResult {
    let rss = super::info::rss_bytes();
    let peak = super::info::peak_rss_bytes().max(rss);
    // The dataset is estimated from the first keys in SCAN order (all of them on a small
    // server): MEMORY STATS runs on the event loop and must not walk millions of keys.
    let mut keys = 0usize;
    let (mut sampled, mut sampled_bytes) = (0usize, 0usize);
    for db in 0..ctx.store.databases() {
        let dir = ctx.store.dir(db);
        keys += dir.len();
        for (name, e) in dir.iter().take(STATS_SAMPLE - sampled) {
            sampled += 1;
            sampled_bytes += key_memory(name, e);
        }
    }
    let per_key = sampled_bytes / sampled.max(1);
    let dataset = if sampled == keys {
        sampled_bytes
    } else {
        per_key * keys
    };
    let clients: usize = ctx
        .srv
        .clients
        .values()
        .map(|c| c.out.len() + c.conn.query_buffer_len())
        .sum::<usize>()
        + ctx.client.out.len()
        + ctx.client.conn.query_buffer_len();
    let fields: [(&str, i64); 8] = [
        ("peak.allocated", peak as i64),
        ("total.allocated", rss as i64),
        ("clients.normal", clients as i64),
        ("keys.count", keys as i64),
        ("keys.bytes-per-key", per_key as i64),
        ("dataset.bytes", dataset as i64),
        ("sluice.block-cache.bytes", ctx.srv.config.cache_size as i64),
        ("sluice.disk.bytes", ctx.store.disk_space() as i64),
    ];
    ctx.out.map(fields.len());
    for (k, v) in fields {
        ctx.out.bulk(k.as_bytes());
        ctx.out.int(v);
    }
    Ok(())
}

pub fn doctor(ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> CmdResult {
    let rss = super::info::rss_bytes();
    let peak = super::info::peak_rss_bytes().max(rss);
    let max = ctx.srv.config.maxmemory;
    let mut issues = Vec::new();
    if max > 0 && rss > max {
        issues.push(format!(
            " * Over maxmemory: the process uses {rss} bytes, above maxmemory {max}; commands that add data are refused with -OOM until it drops. Sluice never evicts: delete or trim data, lower cache-size, or raise maxmemory."
        ));
    }
    if peak > rss.saturating_mul(3) / 2 && peak > 64 << 20 {
        issues.push(format!(
            " * Peak memory: the process once used {peak} bytes, more than 150% of now ({rss}). Memory from large transient use (huge replies or arguments) is given back to the allocator, which may keep some of it."
        ));
    }
    let text = if issues.is_empty() {
        format!("Hi Sam, I can't find any memory issue in your instance. The process uses {rss} bytes (RSS); Sluice keeps stream entries on disk, so memory is the key directory, consumer groups, the block cache ({} bytes configured), memtables and client buffers.\n", ctx.srv.config.cache_size)
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
    // What Redis answers for an allocator without a stats report (it says so for libc).
    ctx.out
        .verbatim("txt", b"Stats not supported for the current allocator");
    Ok(())
}

pub fn purge(ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> CmdResult {
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
