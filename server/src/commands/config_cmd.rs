//! CONFIG GET, SET, RESETSTAT, HELP over the parameter table in `config`.

use bytes::Bytes;

use crate::config::{glob_match, PARAMS};
use crate::engine::Ctx;
use crate::reply::{printable, CmdResult, ReplyError};

pub fn get(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let mut found: Vec<(&str, String)> = Vec::new();
    for pattern in &argv[2..] {
        for p in PARAMS {
            if glob_match(pattern, p.name.as_bytes(), true)
                && !found.iter().any(|(n, _)| *n == p.name)
            {
                found.push((p.name, (p.get)(&ctx.srv.config)));
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

pub fn set(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let pairs = &argv[2..];
    if pairs.len() % 2 != 0 {
        return Err(ReplyError::new(format!(
            "ERR Unknown option or number of arguments for CONFIG SET - '{}'",
            printable(&pairs[pairs.len() - 1], 128)
        )));
    }
    // Validate everything first, then apply: CONFIG SET with several pairs is all-or-nothing.
    let mut next = ctx.srv.config.clone();
    for pair in pairs.chunks_exact(2) {
        let name = String::from_utf8_lossy(&pair[0]).to_ascii_lowercase();
        let Some(p) = crate::config::find(&name) else {
            return Err(ReplyError::new(format!(
                "ERR Unknown option or number of arguments for CONFIG SET - '{name}'"
            )));
        };
        if !p.mutable {
            return Err(ReplyError::new(format!("ERR CONFIG SET failed (possibly related to argument '{name}') - can't set immutable config")));
        }
        let value = String::from_utf8_lossy(&pair[1]);
        (p.set)(&mut next, &value).map_err(|e| {
            ReplyError::new(format!(
                "ERR CONFIG SET failed (possibly related to argument '{name}') - {e}"
            ))
        })?;
    }
    ctx.srv.config = next;
    ctx.srv.limits.update(&ctx.srv.config);
    ctx.srv.requirepass_set.store(
        ctx.srv.config.requirepass.is_some(),
        std::sync::atomic::Ordering::Relaxed,
    );
    ctx.out.ok();
    Ok(())
}

pub fn resetstat(ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> CmdResult {
    ctx.srv.stats = Default::default();
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
