//! CONFIG GET, SET, RESETSTAT, HELP over the parameter table in `config`.

use bytes::Bytes;

use super::common::*;
use crate::config::{glob_match, PARAMS};
use crate::engine::Ctx;
use crate::reply::{CmdResult, ReplyError};

pub fn get(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let mut found: Vec<(String, String)> = Vec::new();
    for pattern in &argv[2..] {
        // A plain name (no glob characters) is echoed in the case the client used, as Redis.
        if !pattern.iter().any(|b| matches!(b, b'*' | b'?' | b'[')) {
            if let Some(p) = crate::config::find(&String::from_utf8_lossy(pattern)) {
                if !found.iter().any(|(n, _)| n.eq_ignore_ascii_case(p.name)) {
                    found.push((
                        String::from_utf8_lossy(pattern).into_owned(),
                        (p.get)(&ctx.srv.config),
                    ));
                }
            }
            continue;
        }
        for p in PARAMS {
            if glob_match(pattern, p.name.as_bytes(), true)
                && !found.iter().any(|(n, _)| n.eq_ignore_ascii_case(p.name))
            {
                found.push((p.name.to_string(), (p.get)(&ctx.srv.config)));
            }
        }
    }
    ctx.out.map(found.len());
    for (name, value) in found {
        ctx.out.bulk(name.as_bytes());
        ctx.out.bulk(value.as_bytes());
    }
    Ok(())
}

/// Sluice's parameters that are immutable in Redis 7.0 too (`IMMUTABLE_CONFIG` in its table).
const REDIS_IMMUTABLE: &[&str] = &[
    "databases",
    "daemonize",
    "disable-thp",
    "io-threads",
    "logfile",
    "pidfile",
    "tcp-backlog",
    "unixsocket",
    "unixsocketperm",
];

pub fn set(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let pairs = &argv[2..];
    if !pairs.len().is_multiple_of(2) {
        return Err(crate::reply::SYNTAX.into());
    }
    // Validate everything first, then apply: CONFIG SET with several pairs is all-or-nothing.
    let mut seen: Vec<String> = Vec::new();
    let mut next = ctx.srv.config.clone();
    for pair in pairs.chunks_exact(2) {
        let name = String::from_utf8_lossy(&pair[0]).to_ascii_lowercase();
        let Some(p) = crate::config::find(&name) else {
            return Err(ReplyError::new(format!(
                "ERR Unknown option or number of arguments for CONFIG SET - '{name}'"
            )));
        };
        if seen.contains(&name) {
            return Err(ReplyError::new(format!("ERR CONFIG SET failed (possibly related to argument '{name}') - duplicate parameter")));
        }
        seen.push(name.clone());
        let value = String::from_utf8_lossy(&pair[1]);
        let failed = |e: &str| {
            ReplyError::new(format!(
                "ERR CONFIG SET failed (possibly related to argument '{name}') - {e}"
            ))
        };
        // Parameters Redis 7.0 itself cannot change at runtime are refused before their value
        // is looked at, as Redis does; for those only Sluice cannot change (port, bind…), a
        // bad value is reported first, as Redis reports it.
        if REDIS_IMMUTABLE.contains(&p.name) {
            return Err(failed("can't set immutable config"));
        }
        (p.set)(&mut next, &value).map_err(|e| failed(&e))?;
        if !p.mutable {
            // Redis calls `dir` protected (settable only with enable-protected-configs).
            let why = if p.name == "dir" {
                "can't set protected config"
            } else {
                "can't set immutable config"
            };
            return Err(failed(why));
        }
    }
    ctx.srv.config = next;
    ctx.srv.limits.update(&ctx.srv.config);
    // Every drain syncs under `always`: the journal keeps the blocks ahead of its write
    // position allocated, so those syncs write no file-system metadata (`vendor/README.md`,
    // fjall patch 8). Set at start in `lib.rs`.
    sluice_storage::set_journal_zero_fill(
        ctx.srv.config.appendfsync == crate::config::Fsync::Always,
    );
    ctx.out.ok();
    Ok(())
}

/// CONFIG REWRITE: the config file given at start, rewritten with the current values (see
/// `Config::rewritten`), replaced atomically (a temporary file, fsynced, then renamed).
pub fn rewrite(ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> CmdResult {
    let Some(path) = ctx.srv.config.config_file.clone() else {
        return Err(ReplyError::new(
            "ERR The server is running without a config file",
        ));
    };
    let failed = |what: &str, e: std::io::Error| {
        tracing::warn!(file = %path.display(), "CONFIG REWRITE failed: {what}: {e}");
        ReplyError::new(format!("ERR Rewriting config file: {e}"))
    };
    let old = std::fs::read_to_string(&path).or_else(|e| {
        // Redis rewrites a config file that was deleted meanwhile from scratch.
        if e.kind() == std::io::ErrorKind::NotFound {
            Ok(String::new())
        } else {
            Err(failed("reading it", e))
        }
    })?;
    let text = ctx.srv.config.rewritten(&old);
    let tmp = path.with_extension(format!("rewrite-{}.tmp", std::process::id()));
    let write = || -> std::io::Result<()> {
        use std::io::Write;
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, &path)
    };
    if let Err(e) = write() {
        let _ = std::fs::remove_file(&tmp);
        return Err(failed("writing it", e));
    }
    tracing::info!(file = %path.display(), "CONFIG REWRITE executed with success");
    ctx.out.ok();
    Ok(())
}

pub fn resetstat(ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> CmdResult {
    ctx.srv.stats = Default::default();
    ctx.srv.net.reset();
    ctx.srv.info.reset();
    ctx.out.ok();
    Ok(())
}

pub fn help(ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> CmdResult {
    super::help_reply(
        ctx,
        "CONFIG",
        &[
            "GET <pattern>",
            "    Return parameters matching the glob-like <pattern> and their values.",
            "SET <directive> <value>",
            "    Set the configuration <directive> to <value>.",
            "RESETSTAT",
            "    Reset statistics reported by the INFO command.",
            "REWRITE",
            "    Rewrite the configuration file.",
        ],
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// The table rows of this family (see `commands/mod.rs`).

pub static COMMANDS: &[Command] = &[container("config", &CONFIG_SUBCOMMANDS)
    .acl(&["@slow"])
    .doc(
        "server",
        "2.0.0",
        "Depends on subcommand.",
        "A container for server configuration commands",
    )];

const CONFIG_FLAGS: &[&str] = &["admin", "noscript", "loading", "stale"];

const CONFIG_ACL: &[&str] = &["@admin", "@slow", "@dangerous"];

pub static CONFIG_SUBCOMMANDS: [Command; 5] = [
    cmd("config|get", -3, get)
        .flags(CONFIG_FLAGS)
        .acl(CONFIG_ACL)
        .doc(
            "server",
            "2.0.0",
            "O(N) when N is the number of configuration parameters provided",
            "Get the values of configuration parameters",
        )
        .args(&[arg("parameter", "string").many()]),
    cmd("config|set", -4, set)
        .tips(&["request_policy:all_nodes", "response_policy:all_succeeded"])
        .flags(&["admin", "noscript", "loading", "stale"])
        .acl(CONFIG_ACL)
        .doc(
            "server",
            "2.0.0",
            "O(N) when N is the number of configuration parameters provided",
            "Set configuration parameters to the given values",
        )
        .args(&[arg("data", "block")
            .many()
            .of(&[arg("parameter", "string"), arg("value", "string")])]),
    cmd("config|rewrite", 2, rewrite)
        .flags(CONFIG_FLAGS)
        .acl(CONFIG_ACL)
        .doc(
            "server",
            "2.8.0",
            "O(1)",
            "Overwrite the configuration file",
        ),
    cmd("config|resetstat", 2, resetstat)
        .flags(CONFIG_FLAGS)
        .acl(CONFIG_ACL)
        .doc(
            "server",
            "2.0.0",
            "O(1)",
            "Reset the stats returned by INFO",
        ),
    cmd("config|help", 2, help)
        .flags(&["loading", "stale"])
        .acl(&["@slow"])
        .doc(
            "server",
            "5.0.0",
            "O(1)",
            "Show helpful text about the different subcommands",
        ),
];
