//! Serving the other clients while a script runs past `busy-reply-threshold`.
//!
//! The engine is one thread, and a script runs inside a command on it, so nothing else would
//! be served until the script returns. As Redis does from its Lua hook
//! (`processEventsWhileBlocked`), the script's instruction-count hook calls [`serve`] (at most
//! every 2 ms once the threshold is passed). It does not go back to the event loop; it works
//! on the sockets directly, without epoll:
//!
//! * it accepts pending connections on every listener, the `unixsocket` one included (a dup
//!   of the engine's listening sockets) and registers them with the engine's poller (a clone of its registry), so a
//!   client connecting during the script — `redis-cli SHUTDOWN NOSAVE`, say — is served;
//! * it reads every idle client (no commands waiting, not blocked, not closing) until its
//!   socket is empty, parses its commands and answers each one at once: `SCRIPT KILL` /
//!   `FUNCTION KILL` (kill the script, or `-UNKILLABLE` once it wrote, or `-NOTBUSY` for the
//!   wrong kind), `SHUTDOWN NOSAVE` (exit now: the script's staged writes and the drain's are
//!   never committed, so the journal holds none of them), `QUIT`; unknown commands, wrong
//!   arities and missing AUTH get their usual errors and the `allow_busy` commands (MULTI,
//!   DISCARD, WATCH, UNWATCH) run as usual, through the ordinary dispatch; anything else gets
//!   `-BUSY …`, as in Redis;
//! * a reply goes out at once when the client had nothing unreleased (its earlier replies
//!   are all on the wire); otherwise it queues behind them and leaves with the drain.
//!
//! Clients with commands already waiting are left alone: their commands run after the script,
//! in order. Edge-triggered readiness is not lost: a socket drained here raises a new event
//! when more arrives, and events that came during the script are still reported by the next
//! poll.

use std::net::TcpListener;
use std::os::fd::{AsRawFd, FromRawFd};
use std::sync::atomic::Ordering;

use mio::{Interest, Registry, Token};

use crate::client::{Client, PeerAddr};
use crate::engine::Ctx;
use crate::net::{Conn, Read_, Stream};

/// The sockets [`serve`] needs besides the clients: the listeners and the poller's registry.
pub struct BusyIo {
    registry: Registry,
    /// Dups of the engine's listeners; `true` for the Disque port.
    listeners: Vec<(TcpListener, bool)>,
    /// A dup of the `unixsocket` listener, and its path.
    unix: Option<(std::os::unix::net::UnixListener, std::sync::Arc<str>)>,
}

impl BusyIo {
    /// Dups the engine's listeners and clones its registry.
    pub fn new(
        registry: &Registry,
        listeners: &[(mio::net::TcpListener, bool)],
    ) -> std::io::Result<BusyIo> {
        let mut dups = Vec::new();
        for (l, disque) in listeners {
            // SAFETY: dup(2) of a valid listening socket; the new fd is owned by the
            // TcpListener built from it and closed with it.
            let fd = unsafe { libc::dup(l.as_raw_fd()) };
            if fd < 0 {
                return Err(std::io::Error::last_os_error());
            }
            // SAFETY: `fd` is a fresh descriptor nobody else owns.
            let l = unsafe { TcpListener::from_raw_fd(fd) };
            l.set_nonblocking(true)?;
            dups.push((l, *disque));
        }
        Ok(BusyIo {
            registry: registry.try_clone()?,
            listeners: dups,
            unix: None,
        })
    }

    /// Dups the engine's `unixsocket` listener too.
    pub fn add_unix(
        &mut self,
        listener: &mio::net::UnixListener,
        path: std::sync::Arc<str>,
    ) -> std::io::Result<()> {
        // SAFETY: as in `new`: dup(2) of a valid listening socket, owned by what is built on it.
        let fd = unsafe { libc::dup(listener.as_raw_fd()) };
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: `fd` is a fresh descriptor nobody else owns.
        let l = unsafe { std::os::unix::net::UnixListener::from_raw_fd(fd) };
        l.set_nonblocking(true)?;
        self.unix = Some((l, path));
        Ok(())
    }
}

const BUSY_EVAL: &str =
    "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.";
const BUSY_FUNCTION: &str =
    "BUSY Redis is busy running a script. You can only call FUNCTION KILL or SHUTDOWN NOSAVE.";
const UNKILLABLE: &str = "UNKILLABLE Sorry the script already executed write commands against the dataset. You can either wait the script termination or kill the server in a hard way using the SHUTDOWN NOSAVE command.";

/// One pass: accept, read, answer (see the module docs).
pub fn serve(ctx: &mut Ctx<'_>) {
    accept(ctx);
    let ids: Vec<u64> = ctx.srv.clients.keys().copied().collect();
    for id in ids {
        let Some(mut c) = ctx.srv.clients.remove(&id) else {
            continue;
        };
        if c.pending.is_empty() && c.blocked.is_none() && !c.close_after_reply && !c.conn.eof {
            serve_client(ctx, &mut c);
        }
        ctx.srv.clients.insert(id, c);
    }
}

fn accept(ctx: &mut Ctx<'_>) {
    let Some(io) = ctx.srv.script.io.as_ref() else {
        return;
    };
    let mut accepted: Vec<(Stream, PeerAddr, PeerAddr, bool)> = Vec::new();
    for (l, disque) in &io.listeners {
        for _ in 0..64 {
            match l.accept() {
                Ok((s, addr)) if s.set_nonblocking(true).is_ok() => {
                    let laddr = s.local_addr().unwrap_or(addr);
                    let s = mio::net::TcpStream::from_std(s);
                    accepted.push((s.into(), addr.into(), laddr.into(), *disque));
                }
                Ok(_) => {}
                Err(_) => break,
            }
        }
    }
    if let Some((l, path)) = &io.unix {
        for _ in 0..64 {
            match l.accept() {
                Ok((s, _)) if s.set_nonblocking(true).is_ok() => {
                    let addr = PeerAddr::Unix(path.clone());
                    let s = mio::net::UnixStream::from_std(s);
                    accepted.push((s.into(), addr.clone(), addr, false));
                }
                Ok(_) => {}
                Err(_) => break,
            }
        }
    }
    for (mut sock, addr, laddr, disque) in accepted {
        let max = ctx.srv.limits.maxclients.load(Ordering::Relaxed) as usize;
        if ctx.srv.net.connected.load(Ordering::Relaxed) >= max {
            ctx.srv.net.rejected.fetch_add(1, Ordering::Relaxed);
            let _ = std::io::Write::write(&mut sock, b"-ERR max number of clients reached\r\n");
            continue;
        }
        let id = ctx.srv.next_client_id;
        ctx.srv.next_client_id += 1;
        let mut conn = Conn::new(sock, &ctx.srv.limits);
        let Some(io) = ctx.srv.script.io.as_ref() else {
            return;
        };
        if io
            .registry
            .register(
                &mut conn.sock,
                Token(id as usize),
                Interest::READABLE | Interest::WRITABLE,
            )
            .is_err()
        {
            continue;
        }
        tracing::debug!(client = id, %addr, "accepted connection while a script runs");
        let auth = ctx.srv.config.requirepass.is_none();
        let mut client = Client::new(id, conn, addr, laddr, ctx.now_ms, auth);
        client.disque = disque;
        ctx.srv.clients.insert(id, client);
        ctx.srv.net.connected.fetch_add(1, Ordering::Relaxed);
        ctx.srv.stats.connections += 1;
    }
}

fn serve_client(ctx: &mut Ctx<'_>, c: &mut Client) {
    let limits = ctx.srv.limits.clone();
    // Read what is there (bounded: the query buffer limit stops a flood).
    for _ in 0..64 {
        match c.conn.read(&limits, &ctx.srv.net) {
            Ok(Read_::Data { .. }) => {}
            Ok(Read_::WouldBlock) => {
                c.conn.maybe_unread = false;
                break;
            }
            Ok(Read_::Eof) => {
                c.conn.eof = true;
                break;
            }
            Ok(Read_::TooBig) | Err(_) => {
                c.conn.maybe_unread = true;
                break;
            }
        }
    }
    c.conn.parse_into(&mut c.pending, c.authenticated, &limits);
    if c.pending.is_empty() {
        return;
    }
    let had_unreleased = c.conn.released < c.out.len();
    c.out.set_protocol(c.proto);
    while let Some(argv) = c.pending.pop_front() {
        answer(ctx, c, &argv);
    }
    if !had_unreleased {
        c.conn.released = c.out.len();
        let _ = c.conn.write_released(&mut c.out, &ctx.srv.net);
    }
}

fn is(a: Option<&bytes::Bytes>, s: &str) -> bool {
    a.is_some_and(|a| a.eq_ignore_ascii_case(s.as_bytes()))
}

fn answer(ctx: &mut Ctx<'_>, c: &mut Client, argv: &[bytes::Bytes]) {
    let (is_function, wrote) =
        super::with_run(|r| (r.is_function, r.wrote)).unwrap_or((false, false));
    if is(argv.first(), "quit") {
        c.out.ok();
        ctx.srv.kill.push(c.id);
        return;
    }
    // As Redis's processCommand: an unknown command, a wrong arity or a missing AUTH get their
    // own error before the busy check; commands flagged allow_busy (MULTI, DISCARD, WATCH,
    // UNWATCH) run as usual.
    let resolved = argv
        .first()
        .and_then(|name| crate::commands::lookup(name))
        .map(|cmd| crate::engine::resolve(cmd, argv));
    let normal = match resolved {
        None | Some(Err(_)) => true,
        Some(Ok(cmd)) => {
            (!c.authenticated && !cmd.has_flag("no_auth"))
                || (cmd.has_flag("allow_busy")
                    && !matches!(
                        cmd.name,
                        "shutdown" | "script|kill" | "function|kill" | "function|stats"
                    ))
        }
    };
    if normal {
        run_normally(ctx, c, argv);
        return;
    }
    let kill = if is(argv.first(), "script") && is(argv.get(1), "kill") && argv.len() == 2 {
        Some(false)
    } else if is(argv.first(), "function") && is(argv.get(1), "kill") && argv.len() == 2 {
        Some(true)
    } else {
        None
    };
    if kill.is_some() && c.multi.is_some() {
        // Allowed while busy, so queued like any command inside MULTI (as Redis).
        if let Some(q) = c.multi.as_mut() {
            q.push(argv.to_vec());
        }
        c.out.simple("QUEUED");
        return;
    }
    if let Some(kill_function) = kill {
        // Redis's scriptKill: a write makes it unkillable; the wrong KILL gets the BUSY error
        // of what runs.
        if wrote {
            c.out.error(UNKILLABLE);
        } else if kill_function != is_function {
            c.out.error(if is_function {
                BUSY_FUNCTION
            } else {
                BUSY_EVAL
            });
        } else {
            super::with_run(|r| r.kill = true);
            c.out.ok();
        }
        return;
    }
    if is(argv.first(), "shutdown") && argv[1..].iter().any(|a| a.eq_ignore_ascii_case(b"nosave")) {
        tracing::warn!(
            "SHUTDOWN NOSAVE while a script runs: exiting now, the script's writes are dropped"
        );
        // Nothing of this drain was committed: the journal holds only acknowledged work.
        std::process::exit(0);
    }
    if c.multi.is_some() {
        // A refused command fails the transaction, as Redis's rejectCommand.
        c.multi_error = true;
    }
    c.out.error(if is_function {
        BUSY_FUNCTION
    } else {
        BUSY_EVAL
    });
}

/// Runs a command for `c` through the ordinary dispatch (its reply goes to `c.out`).
fn run_normally(ctx: &mut Ctx<'_>, c: &mut Client, argv: &[bytes::Bytes]) {
    let mut out = std::mem::take(&mut c.out);
    out.set_protocol(c.proto);
    let mut cctx = Ctx {
        store: &mut *ctx.store,
        client: c,
        out: &mut out,
        srv: &mut *ctx.srv,
        now_ms: ctx.now_ms,
        block: None,
        wake_key: None,
    };
    crate::engine::process(&mut cctx, argv);
    c.out = out;
}
