//! The command modules, one per family, and the command table they make up together.
//!
//! Each family module (`streams.rs`, `groups.rs`, …) declares its own rows next to its handlers,
//! `pub static COMMANDS: &[Command]`: name, arity, flags, key positions and key specs, ACL
//! categories, documentation and handler (see `crate::table`); the shorthands rows share are in
//! [`common`]. This module only lists the families ([`FAMILIES`]) and builds the lookup index
//! from their rows. Dispatch, arity errors, key-length checks, `COMMAND` and `COMMAND DOCS` all
//! read that one table.
//!
//! Adding a family: write the module with its rows and handlers, declare it below and add its
//! `COMMANDS` to [`FAMILIES`]. The table tests at the bottom check every row.

pub mod client;
pub mod common;
pub mod config_cmd;
pub mod connection;
pub mod functions;
pub mod groups;
pub mod idmp;
pub mod info;
pub mod jobs;
pub mod keys;
pub mod latency;
pub mod memory;
pub mod monitoring;
pub mod multi;
pub mod persistence;
pub mod replication;
pub mod scripting;
pub mod server;
pub mod stream_id;
pub mod stream_refs;
pub mod streams;
pub mod strings;
pub mod xq;

use ahash::AHashMap as HashMap;
use std::sync::OnceLock;

use bytes::Bytes;

use crate::engine::Ctx;
use crate::table::Command;

/// Every family's rows, in the order `COMMAND` and `COMMAND LIST` report them.
pub static FAMILIES: &[&[Command]] = &[
    connection::COMMANDS,
    client::COMMANDS,
    config_cmd::COMMANDS,
    info::COMMANDS,
    server::COMMANDS,
    keys::COMMANDS,
    strings::COMMANDS,
    streams::COMMANDS,
    idmp::COMMANDS,
    groups::COMMANDS,
    stream_refs::COMMANDS,
    multi::COMMANDS,
    jobs::COMMANDS,
    monitoring::COMMANDS,
    persistence::COMMANDS,
    replication::COMMANDS,
    memory::COMMANDS,
    latency::COMMANDS,
    scripting::COMMANDS,
    functions::COMMANDS,
    xq::COMMANDS,
];

fn index() -> &'static HashMap<String, &'static Command> {
    static INDEX: OnceLock<HashMap<String, &'static Command>> = OnceLock::new();
    INDEX.get_or_init(|| all().map(|c| (c.name.to_string(), c)).collect())
}

/// The command named `name` (any case).
pub fn lookup(name: &[u8]) -> Option<&'static Command> {
    if name.len() > 32 {
        return None;
    }
    // Lower-case into a stack buffer: every command goes through here.
    let mut buf = [0u8; 32];
    let lower = &mut buf[..name.len()];
    lower.copy_from_slice(name);
    lower.make_ascii_lowercase();
    index().get(std::str::from_utf8(lower).ok()?).copied()
}

/// Every top-level command (containers included, subcommands inside them), family by family.
pub fn all() -> impl Iterator<Item = &'static Command> + Clone {
    FAMILIES.iter().flat_map(|rows| rows.iter())
}

/// Redis's HELP reply: a header line, the lines, and the HELP entry, all status replies.
pub fn help_reply(ctx: &mut Ctx<'_>, cmd: &str, lines: &[&str]) {
    ctx.out.array(lines.len() + 3);
    ctx.out.simple(&format!(
        "{cmd} <subcommand> [<arg> [value] [opt] ...]. Subcommands are:"
    ));
    for l in lines {
        ctx.out.simple(l);
    }
    ctx.out.simple("HELP");
    ctx.out.simple("    Prints this help.");
}

/// The arguments of a command as `COMMAND GETKEYS` and the key checks see them.
pub fn keys_of(cmd: &Command, argv: &[Bytes]) -> Vec<Bytes> {
    cmd.key_indices(argv.len())
        .map(|i| argv[i].clone())
        .collect()
}

#[cfg(test)]
mod tests {
    //! Checks over every row of the table. The handlers themselves are exercised at their
    //! minimal arity by `server/tests/table.rs`.

    use super::*;
    use crate::table::KeySpec;

    /// Write commands that touch no key argument (they act on whole databases), as in Redis.
    const KEYLESS_WRITES: &[&str] = &[
        "flushdb",
        "flushall",
        "swapdb",
        "function|load",
        "function|delete",
        "function|flush",
        "function|restore",
    ];

    /// Every command and subcommand.
    fn every_row() -> Vec<&'static Command> {
        all()
            .flat_map(|c| std::iter::once(c).chain(c.subcommands.iter()))
            .collect()
    }

    #[test]
    fn names_are_unique_lower_case_and_subcommands_are_named_after_their_container() {
        let mut seen = std::collections::HashSet::new();
        for c in every_row() {
            assert!(seen.insert(c.name), "{} is declared twice", c.name);
            assert_eq!(c.name, c.name.to_ascii_lowercase(), "{}", c.name);
            assert!(
                c.name.len() <= 32,
                "{}: lookup() takes names up to 32 bytes",
                c.name
            );
        }
        for c in all() {
            assert!(
                !c.name.contains('|'),
                "{}: a subcommand at the top level",
                c.name
            );
            assert!(
                lookup(c.name.to_ascii_uppercase().as_bytes()).is_some_and(|f| std::ptr::eq(f, c))
            );
            for s in c.subcommands {
                let (container, sub) = s.name.split_once('|').unwrap_or(("", ""));
                assert_eq!(container, c.name, "{}", s.name);
                assert!(c
                    .subcommand(sub.as_bytes())
                    .is_some_and(|f| std::ptr::eq(f, s)));
                assert!(s.subcommands.is_empty(), "{}: nested subcommands", s.name);
                assert!(
                    s.handler.is_some(),
                    "{}: a subcommand without a handler",
                    s.name
                );
            }
            if c.subcommands.is_empty() {
                assert!(
                    c.handler.is_some(),
                    "{}: neither handler nor subcommands",
                    c.name
                );
            }
        }
    }

    #[test]
    fn write_commands_declare_their_keys() {
        for c in every_row() {
            // Disque's job commands write jobs and queues, which are not Redis keys.
            if c.has_flag("write") && !KEYLESS_WRITES.contains(&c.name) && c.group != "jobs" {
                assert!(
                    c.first_key > 0 || c.key_specs.iter().any(|k| k.keyword.is_some()),
                    "{}: a write command without key positions",
                    c.name
                );
            }
        }
    }

    /// The legacy first/last/step of `COMMAND INFO` as Redis derives them from the key specs
    /// (`populateCommandLegacyRangeSpec`): keyword specs make the keys movable (0, 0, 0).
    fn legacy_range(specs: &[KeySpec]) -> (i32, i32, i32) {
        if specs.is_empty() || specs.iter().any(|k| k.keyword.is_some()) {
            return (0, 0, 0);
        }
        let first = specs.iter().map(|k| k.index).min().unwrap_or(0);
        let last = if let Some(k) = specs.iter().find(|k| k.lastkey < 0) {
            k.lastkey
        } else {
            specs.iter().map(|k| k.index + k.lastkey).max().unwrap_or(0)
        };
        let step = if specs.len() == 1 {
            specs[0].keystep
        } else {
            1
        };
        (first, last, step)
    }

    #[test]
    fn key_positions_agree_with_key_specs_and_arity() {
        for c in every_row() {
            assert_eq!(
                (c.first_key, c.last_key, c.step),
                legacy_range(c.key_specs),
                "{}: first/last/step disagree with the key specs",
                c.name
            );
            let movable = c.key_specs.iter().any(|k| k.keyword.is_some());
            assert_eq!(movable, c.has_flag("movablekeys"), "{}", c.name);
            // A fixed key position is an argument every call has.
            let min_argc = c.arity.unsigned_abs() as i32;
            if c.last_key > 0 {
                assert!(c.last_key < min_argc, "{}: key past the arity", c.name);
            }
            if c.first_key > 0 {
                assert!(c.first_key < min_argc, "{}: key past the arity", c.name);
            }
            // COMMAND DOCS numbers key arguments by key spec.
            fn key_args(args: &[crate::table::Arg]) -> usize {
                args.iter()
                    .map(|a| usize::from(a.kind == "key") + key_args(a.children))
                    .sum()
            }
            assert!(
                key_args(c.args) <= c.key_specs.len(),
                "{}: more key arguments than key specs",
                c.name
            );
        }
    }
}
