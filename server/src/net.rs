//! The network side: the TCP listener and one task per connection.
//!
//! A connection task reads into a buffer, parses every complete command with the bounded
//! parser, sends them to the engine as one request, and writes the engine's reply with one
//! write. Only one request per connection is in flight, so replies keep their order; while it
//! waits, the task keeps reading (up to `client-query-buffer-limit`) so a client that
//! disconnects is noticed at once. Limits: `maxclients` (checked at accept, answered with
//! Redis's error), `proto-max-bulk-len`, `client-query-buffer-limit`, and at most
//! [`MAX_COMMANDS_PER_REQUEST`] commands per request.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::Sender;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use sluice_resp::{ParseLimits, RequestParser};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};

use crate::config::SharedLimits;
use crate::engine::{Msg, Response};

/// Commands sent to the engine in one request; the rest wait for the next round.
pub const MAX_COMMANDS_PER_REQUEST: usize = 1024;
/// Read buffer sizes: a read reserves room for twice the last read, between these bounds.
/// Arguments are slices of the buffer, so a consumed buffer is not reused but replaced:
/// sizing it to the traffic (a pipeline of 16 small commands is ~1 KiB) keeps that cheap,
/// where a fixed 16 KiB per read cost page faults in the allocator.
const READ_MIN: usize = 1024;
const READ_CHUNK: usize = 16 * 1024;

/// Counters shared by all connection tasks.
#[derive(Default, Debug)]
pub struct NetStats {
    pub connected: AtomicUsize,
    pub rejected: AtomicU64,
    pub bytes_in: AtomicU64,
    pub bytes_out: AtomicU64,
}

pub struct Shared {
    pub engine: Sender<Msg>,
    pub limits: Arc<SharedLimits>,
    pub stats: Arc<NetStats>,
    pub next_id: AtomicU64,
    pub requirepass_set: Arc<std::sync::atomic::AtomicBool>,
}

/// Accepts connections until `shutdown` turns true.
pub async fn serve(
    listeners: Vec<TcpListener>,
    shared: Arc<Shared>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut tasks = Vec::new();
    for l in listeners {
        let shared = shared.clone();
        let mut shutdown = shutdown.clone();
        tasks.push(tokio::spawn(async move {
            loop {
                tokio::select! {
                    r = l.accept() => match r {
                        Ok((sock, addr)) => accept(sock, addr, &shared, shutdown.clone()),
                        Err(e) => {
                            // EMFILE and friends: back off instead of spinning.
                            tracing::warn!(error = %e, "accept failed");
                            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                        }
                    },
                    _ = shutdown.changed() => break,
                }
            }
        }));
    }
    let _ = shutdown.changed().await;
    for t in tasks {
        let _ = t.await;
    }
}

fn accept(
    sock: TcpStream,
    addr: SocketAddr,
    shared: &Arc<Shared>,
    shutdown: watch::Receiver<bool>,
) {
    let _ = sock.set_nodelay(true);
    let max = shared.limits.maxclients.load(Ordering::Relaxed) as usize;
    let n = shared.stats.connected.fetch_add(1, Ordering::SeqCst);
    if n >= max {
        shared.stats.connected.fetch_sub(1, Ordering::SeqCst);
        shared.stats.rejected.fetch_add(1, Ordering::Relaxed);
        tokio::spawn(async move {
            let mut sock = sock;
            let _ = sock
                .write_all(b"-ERR max number of clients reached\r\n")
                .await;
        });
        return;
    }
    let shared = shared.clone();
    tokio::spawn(async move {
        let id = shared.next_id.fetch_add(1, Ordering::Relaxed);
        // As redis-server logs at `verbose`: one line per accepted and per closed connection.
        tracing::debug!(client = id, %addr, "accepted connection");
        match connection(sock, addr, id, &shared, shutdown).await {
            Ok(()) => tracing::debug!(client = id, %addr, "client closed connection"),
            Err(e) => tracing::debug!(client = id, %addr, error = %e, "connection closed"),
        }
        let _ = shared.engine.send(Msg::Disconnect { id });
        shared.stats.connected.fetch_sub(1, Ordering::SeqCst);
    });
}

async fn connection(
    sock: TcpStream,
    addr: SocketAddr,
    id: u64,
    shared: &Shared,
    mut shutdown: watch::Receiver<bool>,
) -> std::io::Result<()> {
    let laddr = sock.local_addr()?;
    let (mut rd, mut wr) = sock.into_split();
    let (tx, mut rx) = mpsc::unbounded_channel::<Response>();
    if shared
        .engine
        .send(Msg::Connect {
            id,
            addr,
            laddr,
            tx,
        })
        .is_err()
    {
        return Ok(());
    }
    let mut parser = RequestParser::new(limits(&shared.limits));
    let mut buf = BytesMut::with_capacity(READ_MIN);
    let mut last_read = READ_MIN / 2;
    let mut pending: Vec<Vec<Bytes>> = Vec::new();
    let mut in_flight = false;
    // Redis applies tighter parse limits to unauthenticated clients; every Response tells us
    // whether the client is authenticated now.
    let mut authenticated = !shared.requirepass_set.load(Ordering::Relaxed);
    let mut protocol_error: Option<String> = None;
    let mut eof = false;
    loop {
        // Parse everything complete that is buffered (bounded per request).
        if protocol_error.is_none() {
            while pending.len() < MAX_COMMANDS_PER_REQUEST {
                match parser.parse(&mut buf, authenticated) {
                    Ok(Some(argv)) => pending.push(argv),
                    Ok(None) => break,
                    Err(e) => {
                        protocol_error = Some(e.reply_text());
                        break;
                    }
                }
            }
        }
        if !in_flight && !pending.is_empty() {
            let commands = std::mem::take(&mut pending);
            if shared.engine.send(Msg::Request { id, commands }).is_err() {
                return Ok(());
            }
            in_flight = true;
            continue;
        }
        if !in_flight {
            if let Some(text) = protocol_error.take() {
                // As Redis: the error, then close (after the replies to earlier commands).
                let msg = format!("-{text}\r\n");
                wr.write_all(msg.as_bytes()).await?;
                tracing::debug!(client = id, %addr, error = %text, "protocol error");
                return Ok(());
            }
            if eof {
                return Ok(());
            }
        }
        let limit = shared
            .limits
            .client_query_buffer_limit
            .load(Ordering::Relaxed) as usize;
        let held = buf.len() + parser.pending_bytes();
        let can_read = !eof && held < limit && protocol_error.is_none();
        if held >= limit {
            tracing::warn!(client = id, %addr, bytes = buf.len(), "closing client that reached max query buffer length");
            return Ok(());
        }
        if can_read {
            buf.reserve(
                (last_read * 2).clamp(READ_MIN, READ_CHUNK).max(
                    parser
                        .bytes_needed()
                        .unwrap_or(0)
                        .saturating_sub(buf.len())
                        .min(limit - held),
                ),
            );
        }
        tokio::select! {
            r = rd.read_buf(&mut buf), if can_read => {
                let n = r?;
                last_read = n;
                if n == 0 {
                    // Like Redis, answer what was already received, then close. A client that
                    // left while blocked is dropped by the engine instead.
                    eof = true;
                    if in_flight {
                        let _ = shared.engine.send(Msg::Eof { id });
                    }
                }
                shared.stats.bytes_in.fetch_add(n as u64, Ordering::Relaxed);
            }
            resp = rx.recv() => {
                let Some(resp) = resp else { return Ok(()) };
                if !resp.data.is_empty() {
                    shared.stats.bytes_out.fetch_add(resp.data.len() as u64, Ordering::Relaxed);
                    if !write_within_limits(&mut wr, &resp.data, &shared.limits).await? {
                        tracing::warn!(client = id, %addr, bytes = resp.data.len(), "client closed for overcoming of output buffer limits (client-output-buffer-limit normal)");
                        return Ok(());
                    }
                }
                if resp.close {
                    return Ok(());
                }
                if resp.more {
                    // The engine holds the rest of the request until this part is written.
                    if shared.engine.send(Msg::Continue { id }).is_err() {
                        return Ok(());
                    }
                    continue;
                }
                in_flight = false;
                authenticated = resp.authenticated;
                // Limits may have changed with CONFIG SET.
                parser.set_limits(limits(&shared.limits));
            }
            _ = shutdown.changed(), if !in_flight => return Ok(()),
        }
    }
}

/// Writes a reply under `client-output-buffer-limit normal` (hard, soft bytes, soft seconds):
/// false (write nothing more, close) if the reply is over the hard limit, or over the soft
/// limit and not written within the soft seconds (at once when they are 0). The engine builds
/// at most [`crate::engine::REPLY_BYTES_PER_TURN`] plus one reply before this write finishes,
/// so that is what a client's output buffer holds at most.
async fn write_within_limits(
    wr: &mut tokio::net::tcp::OwnedWriteHalf,
    data: &[u8],
    l: &SharedLimits,
) -> std::io::Result<bool> {
    let len = data.len() as u64;
    let hard = l.output_hard.load(Ordering::Relaxed);
    if hard > 0 && len > hard {
        return Ok(false);
    }
    let soft = l.output_soft.load(Ordering::Relaxed);
    if soft > 0 && len > soft {
        let secs = l.output_soft_seconds.load(Ordering::Relaxed);
        if secs == 0 {
            return Ok(false);
        }
        return match tokio::time::timeout(Duration::from_secs(secs), wr.write_all(data)).await {
            Ok(r) => r.map(|()| true),
            Err(_) => Ok(false),
        };
    }
    wr.write_all(data).await.map(|()| true)
}

fn limits(l: &SharedLimits) -> ParseLimits {
    ParseLimits {
        max_bulk_len: l.proto_max_bulk_len.load(Ordering::Relaxed) as usize,
        ..ParseLimits::default()
    }
}
