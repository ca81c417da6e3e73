//! Dispatch: from an argument vector to a handler — lookup, authentication, subcommand and
//! arity checks, the read-only state's refusals, MULTI queueing — and the call itself, which
//! ends every command (its staged writes are closed, its time counted).

use bytes::Bytes;

use super::Ctx;
use crate::commands;
use crate::reply::{printable, wrong_arity, CmdResult, ReplyError};
use crate::table::Command;

/// Executes one command from a client: authentication, lookup, arity, MULTI queueing, then the
/// handler, then the commit of its writes. An error answered before the handler ran is counted
/// (INFO errorstats, and the command's `rejected_calls`); `call` counts the handler's own.
pub fn process(ctx: &mut Ctx<'_>, argv: &[Bytes]) {
    let mark = ctx.out.len();
    if let Outcome::Rejected(cmd) = check_and_run(ctx, argv) {
        let out = &ctx.out.buffer()[mark.min(ctx.out.len())..];
        if ctx.srv.stats.count_error(out) {
            if let Some(cmd) = cmd {
                ctx.srv.stats.command(cmd).rejected += 1;
            }
        }
    }
}

/// What became of a command in `process`.
enum Outcome {
    /// Queued, or run by `call`.
    Ran,
    /// Answered with an error before running (`None`: no such command).
    Rejected(Option<&'static Command>),
}

fn check_and_run(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Outcome {
    let Some(name) = argv.first() else {
        return Outcome::Ran;
    };
    let Some(cmd) = commands::lookup(name) else {
        // Redis quotes arguments until the list reaches 128 characters.
        let mut args = String::new();
        for a in argv[1..].iter() {
            if args.len() >= 128 {
                break;
            }
            args.push_str(&format!("'{}' ", printable(a, 128 - args.len())));
        }
        let msg = format!(
            "ERR unknown command '{}', with args beginning with: {}",
            printable(name, 128),
            args
        );
        queue_error(ctx);
        ctx.out.error(&msg);
        return Outcome::Rejected(None);
    };
    if !ctx.client.authenticated && !cmd.has_flag("no_auth") {
        queue_error(ctx);
        ctx.out.error("NOAUTH Authentication required.");
        return Outcome::Rejected(Some(cmd));
    }
    let cmd = match resolve(cmd, argv) {
        Ok(c) => c,
        Err(e) => {
            if cmd.name == "exec" {
                // Redis aborts the transaction and says why, even outside MULTI.
                ctx.client.multi = None;
                ctx.client.multi_error = false;
                crate::commands::multi::unwatch_client(ctx);
                let why = e.0.strip_prefix("ERR ").unwrap_or(&e.0);
                ctx.out.error(&format!(
                    "EXECABORT Transaction discarded because of: {why}"
                ));
                return Outcome::Rejected(Some(cmd));
            }
            queue_error(ctx);
            ctx.error(&e);
            return Outcome::Rejected(Some(cmd));
        }
    };
    if let Some(f) = &ctx.srv.disk_fault {
        // Redis refuses writes, and PING (a health check should fail), while its AOF cannot
        // be written.
        if cmd.has_flag("write") || cmd.name == "ping" {
            let msg = f.reply();
            queue_error(ctx);
            ctx.out.error(&msg);
            return Outcome::Rejected(Some(cmd));
        }
    }
    if refused_for_memory(ctx, cmd) {
        queue_error(ctx);
        ctx.out
            .error("OOM command not allowed when used memory > 'maxmemory'.");
        return Outcome::Rejected(Some(cmd));
    }
    if ctx.client.multi.is_some()
        && cmd.has_flag("no_multi")
        && !matches!(cmd.name, "multi" | "watch")
    {
        // SAVE, SHUTDOWN: Redis refuses to queue them (and so fails the transaction).
        queue_error(ctx);
        ctx.out
            .error("ERR Command not allowed inside a transaction");
        return Outcome::Rejected(Some(cmd));
    }
    if ctx.srv.holds.pause.is_some() && !ctx.client.in_exec && paused(ctx, cmd) {
        // CLIENT PAUSE: Redis checks it here, after the other refusals and before MULTI
        // queueing; the client is parked until the pause ends (`engine/blocking.rs`).
        ctx.srv.holds.kind = Some(super::BlockKind::Paused);
        ctx.block = Some(super::BlockSpec {
            keys: Vec::new(),
            wake_if: Vec::new(),
            timeout_ms: 0,
            argv: argv.to_vec(),
        });
        return Outcome::Ran;
    }
    if let Some(queue) = ctx.client.multi.as_mut() {
        if !matches!(
            cmd.name,
            "exec" | "discard" | "multi" | "watch" | "quit" | "reset"
        ) {
            queue.push(argv.to_vec());
            ctx.out.simple("QUEUED");
            return Outcome::Ran;
        }
    }
    call(ctx, cmd, argv);
    Outcome::Ran
}

/// Redis's `maxmemory` rule: over the limit, refuse commands that may add data, any command
/// queued inside MULTI (queueing itself takes memory), and an EXEC whose queue holds such a
/// command; EXEC, DISCARD, QUIT and RESET themselves always run.
fn refused_for_memory(ctx: &mut Ctx<'_>, cmd: &'static Command) -> bool {
    if ctx.srv.config.maxmemory == 0 {
        return false;
    }
    let in_multi = ctx.client.multi.is_some();
    let exec_with_denyoom = cmd.name == "exec"
        && ctx.client.multi.as_ref().is_some_and(|q| {
            q.iter().any(|argv| {
                commands::lookup(&argv[0])
                    .and_then(|c| resolve(c, argv).ok())
                    .is_some_and(|c| c.has_flag("denyoom"))
            })
        });
    let candidate = cmd.has_flag("denyoom")
        || exec_with_denyoom
        || (in_multi && !matches!(cmd.name, "exec" | "discard" | "quit" | "reset"));
    candidate && ctx.srv.over_maxmemory()
}

/// Whether CLIENT PAUSE holds `cmd` now: under WRITE, commands that may write or replicate
/// (Redis's `write` and `may_replicate` flags: EVAL, FCALL, PUBLISH…) and an EXEC whose queue
/// holds one; under ALL, everything.
fn paused(ctx: &Ctx<'_>, cmd: &'static Command) -> bool {
    let may_write = |c: &Command| c.has_flag("write") || c.has_flag("may_replicate");
    let holds = &ctx.srv.holds;
    holds.holds(
        may_write(cmd)
            || (cmd.name == "exec"
                && ctx.client.multi.as_ref().is_some_and(|q| {
                    q.iter().any(|argv| {
                        commands::lookup(&argv[0])
                            .and_then(|c| resolve(c, argv).ok())
                            .is_some_and(may_write)
                    })
                })),
    )
}

/// Flags the open transaction as failed (a command could not be queued).
fn queue_error(ctx: &mut Ctx<'_>) {
    if ctx.client.multi.is_some() {
        ctx.client.multi_error = true;
    }
}

/// Finds the subcommand of a container and checks arity and key lengths.
pub fn resolve(cmd: &'static Command, argv: &[Bytes]) -> Result<&'static Command, ReplyError> {
    let mut cmd = cmd;
    let bare_container = argv.len() == 1 && cmd.handler.is_some();
    if !cmd.subcommands.is_empty() && !bare_container {
        let Some(sub) = argv.get(1) else {
            return Err(wrong_arity(cmd.name));
        };
        cmd = match cmd.subcommand(sub) {
            Some(s) => s,
            None => return Err(crate::reply::unknown_subcommand(cmd.name, sub)),
        };
    }
    if !cmd.arity_ok(argv.len()) {
        return Err(wrong_arity(cmd.name));
    }
    for i in cmd.key_indices(argv.len()) {
        if argv[i].len() > sluice_storage::MAX_KEY_LEN {
            return Err(ReplyError::new(format!(
                "ERR key too long: {} bytes, the limit is {} bytes",
                argv[i].len(),
                sluice_storage::MAX_KEY_LEN
            )));
        }
    }
    Ok(cmd)
}

/// Runs a resolved command (also used by EXEC) and commits its writes.
pub fn call(ctx: &mut Ctx<'_>, cmd: &'static Command, argv: &[Bytes]) {
    let Some(handler) = cmd.handler else {
        ctx.error(&wrong_arity(cmd.name));
        return;
    };
    if let Some(f) = &ctx.srv.disk_fault {
        // Also inside EXEC and for re-run blocked commands: nothing writes while the disk is
        // full.
        if cmd.has_flag("write") {
            let msg = f.reply();
            ctx.out.error(&msg);
            return;
        }
    }
    // Monitors see a command once it ran (a SELECT with its new database), except a script,
    // which they see before the commands it runs, as Redis 7.0 shows them; a blocked command's
    // re-run is not shown again.
    // (Scripts carry `skip_monitor` in Redis's table because the script code feeds them itself,
    // before running.)
    let watched = !ctx.srv.observers.monitors.is_empty() && ctx.wake_key.is_none();
    let script = watched
        && matches!(
            cmd.name,
            "eval" | "evalsha" | "eval_ro" | "evalsha_ro" | "fcall" | "fcall_ro"
        );
    let monitored = watched && !cmd.has_flag("admin") && !cmd.has_flag("skip_monitor");
    if script {
        commands::monitoring::feed_monitors(ctx, argv);
    }
    let start = ctx.srv.clock.mark;
    let mark = ctx.out.len();
    // CLIENT LIST shows the command being run, as Redis does.
    ctx.client.last_cmd = cmd.name;
    // Keys' access times (OBJECT IDLETIME/FREQ): a CLIENT NO-TOUCH client leaves them alone
    // (TOUCH and the commands Redis runs with LOOKUP_NOTOUCH set it themselves).
    ctx.store.set_touching(!ctx.client.no_touch);
    let result: CmdResult = handler(ctx, argv);
    if let Err(e) = result {
        // A handler that fails after it began its reply (a record that does not decode in the
        // middle of XINFO STREAM FULL, say) leaves no half-written reply: what it wrote is cut
        // off and the error is the whole reply. Nothing leaves the buffer during a command.
        debug_assert!(
            mark <= ctx.out.len(),
            "the reply buffer only grows during a command"
        );
        ctx.out.truncate(mark.min(ctx.out.len()));
        ctx.error(&e);
    }
    ctx.store.end_command();
    // WAITAOF's offset of this client (Redis sets it after every command, also a read, but
    // not between the commands of an EXEC or a script): the persist that will carry what is
    // staged now, or the last one.
    if !ctx.client.in_exec {
        ctx.client.woff = ctx.srv.stats.persists + u64::from(ctx.store.has_staged());
    }
    ctx.client.last_cmd_ms = ctx.now_ms;
    let micros = ctx.srv.clock.lap(start);
    let tracking = ctx.srv.config.latency_tracking;
    let stats = &mut ctx.srv.stats;
    // A command that parked its client (BLOCK, WAIT, …) is counted once, when it finally
    // answers (re-run here, or answered by `blocking.rs` at its timeout: `count_unblocked`),
    // as Redis 7.0 counts it (`calls`, `total_commands_processed`); its time is added now.
    let parked = ctx.block.is_some();
    let failed = !parked && stats.count_error(&ctx.out.buffer()[mark.min(ctx.out.len())..]);
    stats.commands += u64::from(!parked);
    let e = stats.command(cmd);
    e.usec += micros;
    if !parked {
        e.calls += 1;
        e.failed += u64::from(failed);
        e.record(micros, tracking);
    }
    if monitored && !script {
        commands::monitoring::feed_monitors(ctx, argv);
    }
    // Each check below costs an integer comparison unless its feature is in use. A command
    // that blocked is logged when it finally runs; a re-run is not shown to monitors again
    // (Redis's rules).
    if ctx.block.is_none() {
        let slow = ctx.srv.config.slowlog_log_slower_than;
        if slow >= 0 && micros >= slow as u64 && !cmd.has_flag("skip_slowlog") {
            commands::monitoring::record_slow(ctx, argv, micros);
        }
        let threshold = ctx.srv.config.latency_monitor_threshold;
        if threshold > 0 && micros / 1000 >= threshold {
            let event = if cmd.has_flag("fast") {
                "fast-command"
            } else {
                "command"
            };
            ctx.srv.observers.latency.add_sample(
                threshold,
                event,
                ctx.now_ms / 1000,
                micros / 1000,
            );
        }
    }
}
