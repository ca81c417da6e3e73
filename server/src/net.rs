//! The client side of the event loop: listening sockets (TCP, and the `unixsocket`: a client's
//! socket is a [`Stream`] of either kind), and per connection the read buffer,
//! the request parser and the rules for writing replies. No threads and no channels: the engine
//! thread polls these sockets (epoll through mio) and calls in here, so a request costs no
//! thread hand-off (see `engine.rs` for the loop).
//!
//! A connection's replies live in its client's output buffer (`Client::out`). Only the first
//! [`Conn::released`] bytes of it may be written: the replies of drains whose writes are
//! committed and persisted under `appendfsync`. Replies the current drain builds sit after
//! that mark until the drain's commit (and fdatasync under `always`) has succeeded; a failed
//! commit drops them and closes the connection (`fault.rs`).
//!
//! Limits: `maxclients` (checked at accept, answered with Redis's error), `proto-max-bulk-len`
//! and `client-query-buffer-limit` (checked as bytes arrive), at most
//! [`MAX_PENDING_COMMANDS`] parsed commands waiting per client (then the socket is not read:
//! TCP pushes back on the client), and `client-output-buffer-limit normal` on the unwritten
//! output ([`Conn::output_within_limits`]).

use std::io::{self, Write};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use sluice_resp::{ParseLimits, ReplyWriter, RequestParser};

use crate::config::SharedLimits;

/// Parsed commands a client may have waiting; past this its socket is not read until they run.
pub const MAX_PENDING_COMMANDS: usize = 1024;
/// Read buffer sizes: a read reserves room for twice the last read, between these bounds.
/// Arguments are slices of the buffer, so a consumed buffer is not reused but replaced:
/// sizing it to the traffic (a pipeline of 16 small commands is ~1 KiB) keeps that cheap,
/// where a fixed 16 KiB per read cost page faults in the allocator.
const READ_MIN: usize = 1024;
const READ_CHUNK: usize = 16 * 1024;
/// An empty read buffer with more room than this (left by a large argument) is dropped rather
/// than read into, so the memory goes back to the allocator.
const READ_KEEP: usize = 4 * READ_CHUNK;

/// Counters for INFO, kept by the engine thread (atomics so INFO reads them the same way
/// whoever updates them).
#[derive(Default, Debug)]
pub struct NetStats {
    pub connected: AtomicUsize,
    pub rejected: AtomicU64,
    pub bytes_in: AtomicU64,
    pub bytes_out: AtomicU64,
    /// Reads from and writes to client sockets (INFO `total_reads_processed`,
    /// `total_writes_processed`: one per attempt, as Redis counts its read and write handlers).
    pub reads: AtomicU64,
    pub writes: AtomicU64,
}

impl NetStats {
    /// CONFIG RESETSTAT: every counter but the connected clients.
    pub fn reset(&self) {
        for c in [
            &self.rejected,
            &self.bytes_in,
            &self.bytes_out,
            &self.reads,
            &self.writes,
        ] {
            c.store(0, Ordering::Relaxed);
        }
    }
}

/// Binds a non-blocking listener with `tcp-backlog` (a short backlog drops SYNs under a burst
/// of connections, which clients see as multi-second connect stalls).
pub fn listen(addr: &str, port: u16, backlog: u32) -> io::Result<mio::net::TcpListener> {
    let ip: std::net::IpAddr = match addr {
        "localhost" => std::net::Ipv4Addr::LOCALHOST.into(),
        "*" | "-*" => std::net::Ipv4Addr::UNSPECIFIED.into(),
        "::*" | "-::*" => std::net::Ipv6Addr::UNSPECIFIED.into(),
        other => other.trim_start_matches('-').parse().map_err(|_| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("bad bind address {other:?}"),
            )
        })?,
    };
    let sa = SocketAddr::new(ip, port);
    let domain = if sa.is_ipv4() {
        socket2::Domain::IPV4
    } else {
        socket2::Domain::IPV6
    };
    let socket = socket2::Socket::new(domain, socket2::Type::STREAM, Some(socket2::Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    if sa.is_ipv6() {
        // As Redis: `bind * ::*` listens on both families without the IPv6 socket taking the
        // IPv4 port too.
        socket.set_only_v6(true)?;
    }
    socket.set_nonblocking(true)?;
    socket.bind(&sa.into())?;
    socket.listen(i32::try_from(backlog).unwrap_or(i32::MAX))?;
    Ok(mio::net::TcpListener::from_std(socket.into()))
}

/// Binds the `unixsocket` listener at `path`, non-blocking, with `backlog`, and gives the file
/// mode `perm` (0: as the umask leaves it), as Redis. A stale socket file (nobody accepts on
/// it: a server that was killed) is replaced, as Redis does; unlike Redis, a socket a live
/// server still accepts on, or a file that is not a socket, is left alone and refused. Errors
/// name the path.
pub fn listen_unix(path: &str, perm: u32, backlog: u32) -> Result<mio::net::UnixListener, String> {
    use std::os::unix::fs::{FileTypeExt, PermissionsExt};
    let fail = |what: &str, e: io::Error| format!("can't {what} unixsocket {path}: {e}");
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_socket() => {
            if std::os::unix::net::UnixStream::connect(path).is_ok() {
                return Err(format!(
                    "unixsocket {path} is in use: another server accepts connections on it"
                ));
            }
            tracing::info!(path, "replacing a stale unixsocket file");
            std::fs::remove_file(path).map_err(|e| fail("remove the stale", e))?;
        }
        Ok(_) => {
            return Err(format!(
                "unixsocket {path} exists and is not a socket: remove it or choose another path"
            ))
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(fail("inspect", e)),
    }
    let addr = socket2::SockAddr::unix(path).map_err(|e| fail("use", e))?;
    let socket = socket2::Socket::new(socket2::Domain::UNIX, socket2::Type::STREAM, None)
        .map_err(|e| fail("create a socket for", e))?;
    socket.bind(&addr).map_err(|e| fail("bind", e))?;
    socket
        .listen(i32::try_from(backlog).unwrap_or(i32::MAX))
        .map_err(|e| fail("listen on", e))?;
    socket
        .set_nonblocking(true)
        .map_err(|e| fail("set up", e))?;
    if perm != 0 {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(perm))
            .map_err(|e| fail("set the mode of", e))?;
    }
    let fd: std::os::fd::OwnedFd = socket.into();
    Ok(mio::net::UnixListener::from_std(fd.into()))
}

/// A client's socket: TCP, or the `unixsocket`.
pub enum Stream {
    Tcp(mio::net::TcpStream),
    Unix(mio::net::UnixStream),
}

impl From<mio::net::TcpStream> for Stream {
    fn from(s: mio::net::TcpStream) -> Self {
        Stream::Tcp(s)
    }
}

impl From<mio::net::UnixStream> for Stream {
    fn from(s: mio::net::UnixStream) -> Self {
        Stream::Unix(s)
    }
}

impl Stream {
    /// The local TCP address (an error for a Unix socket, whose address is its path).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        match self {
            Stream::Tcp(s) => s.local_addr(),
            Stream::Unix(_) => Err(io::ErrorKind::Unsupported.into()),
        }
    }
}

impl std::os::fd::AsRawFd for Stream {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        match self {
            Stream::Tcp(s) => s.as_raw_fd(),
            Stream::Unix(s) => s.as_raw_fd(),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.write(buf),
            Stream::Unix(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl mio::event::Source for Stream {
    fn register(
        &mut self,
        registry: &mio::Registry,
        token: mio::Token,
        interests: mio::Interest,
    ) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.register(registry, token, interests),
            Stream::Unix(s) => s.register(registry, token, interests),
        }
    }

    fn reregister(
        &mut self,
        registry: &mio::Registry,
        token: mio::Token,
        interests: mio::Interest,
    ) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.reregister(registry, token, interests),
            Stream::Unix(s) => s.reregister(registry, token, interests),
        }
    }

    fn deregister(&mut self, registry: &mio::Registry) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.deregister(registry),
            Stream::Unix(s) => s.deregister(registry),
        }
    }
}

/// What one read from a client's socket gave.
#[derive(Debug, PartialEq, Eq)]
pub enum Read_ {
    /// Bytes arrived; `more` when the read filled the room offered (there may be more).
    Data { more: bool },
    /// Nothing to read now.
    WouldBlock,
    /// The client closed its side.
    Eof,
    /// The query buffer reached `client-query-buffer-limit`.
    TooBig,
}

/// One client connection's socket and input state.
pub struct Conn {
    pub sock: Stream,
    pub fd: i32,
    rbuf: BytesMut,
    /// `rbuf` was last grown past [`READ_KEEP`] (for a large argument).
    big: bool,
    last_read: usize,
    parser: RequestParser,
    /// The client closed its side: answer what it sent, then close.
    pub eof: bool,
    /// The socket may hold input not read yet (the last read filled its buffer, or it was not
    /// read for lack of room for more commands): with edge-triggered polling no new event
    /// will say so, so the engine schedules the client again.
    pub maybe_unread: bool,
    /// A protocol error was found: answer the commands before it, then this error, then close.
    pub protocol_error: Option<String>,
    /// Bytes at the front of the output buffer that may be written (see the module docs).
    pub released: usize,
    /// Since when the unwritten output is over the soft limit.
    soft_since: Option<Instant>,
}

impl Conn {
    pub fn new(sock: impl Into<Stream>, limits: &SharedLimits) -> Conn {
        let sock = sock.into();
        if let Stream::Tcp(s) = &sock {
            let _ = s.set_nodelay(true);
        }
        let fd = std::os::fd::AsRawFd::as_raw_fd(&sock);
        Conn {
            sock,
            fd,
            rbuf: BytesMut::new(),
            big: false,
            last_read: READ_MIN / 2,
            parser: RequestParser::new(parse_limits(limits)),
            eof: false,
            maybe_unread: false,
            protocol_error: None,
            released: 0,
            soft_since: None,
        }
    }

    /// Bytes received and not parsed into commands yet (CLIENT LIST's `qbuf`).
    pub fn query_buffer_len(&self) -> usize {
        self.rbuf.len() + self.parser.pending_bytes()
    }

    /// Bytes received and not yet parsed at all (the rest of `qbuf` is parsed arguments).
    pub fn read_buffer_len(&self) -> usize {
        self.rbuf.len()
    }

    /// The query buffer's allocated size (CLIENT LIST's `rbs`; `qbuf-free` is this less what
    /// it holds).
    pub fn read_buffer_capacity(&self) -> usize {
        self.rbuf.capacity()
    }

    /// Reads once into the query buffer, under `client-query-buffer-limit`.
    pub fn read(&mut self, limits: &SharedLimits, stats: &NetStats) -> io::Result<Read_> {
        let limit = limits.client_query_buffer_limit.load(Ordering::Relaxed) as usize;
        let held = self.query_buffer_len();
        if held >= limit {
            return Ok(Read_::TooBig);
        }
        let want = (self.last_read * 2).clamp(READ_MIN, READ_CHUNK).max(
            self.parser
                .bytes_needed()
                .unwrap_or(0)
                .saturating_sub(self.rbuf.len())
                .min(limit - held),
        );
        if self.rbuf.is_empty() && (self.big || self.rbuf.capacity() > READ_KEEP) {
            // The buffer a huge argument was read into: once its arguments are dropped,
            // `reserve` would take the whole allocation back and keep it for the
            // connection's life.
            self.rbuf = BytesMut::new();
            self.big = false;
        }
        self.big |= want > READ_KEEP;
        self.rbuf.reserve(want);
        let start = self.rbuf.len();
        let spare = self.rbuf.spare_capacity_mut();
        let room = spare.len();
        // SAFETY: read(2) writes at most `room` bytes into the spare capacity it is given, and
        // `set_len` below covers only the bytes it reports written.
        let n = unsafe { libc::read(self.fd, spare.as_mut_ptr().cast(), room) };
        if n < 0 {
            let e = io::Error::last_os_error();
            return match e.kind() {
                io::ErrorKind::WouldBlock => Ok(Read_::WouldBlock),
                io::ErrorKind::Interrupted => Ok(Read_::Data { more: true }),
                _ => Err(e),
            };
        }
        let n = n as usize;
        if n == 0 {
            return Ok(Read_::Eof);
        }
        // SAFETY: the kernel initialised these `n` bytes (n <= room).
        unsafe { self.rbuf.set_len(start + n) };
        self.last_read = n;
        stats.bytes_in.fetch_add(n as u64, Ordering::Relaxed);
        Ok(Read_::Data { more: n == room })
    }

    /// Parses complete commands into `pending` (up to [`MAX_PENDING_COMMANDS`]); a protocol
    /// error stops parsing for good.
    pub fn parse_into(
        &mut self,
        pending: &mut std::collections::VecDeque<Vec<Bytes>>,
        authenticated: bool,
        limits: &SharedLimits,
    ) {
        if self.protocol_error.is_some() {
            return;
        }
        // Limits may have changed with CONFIG SET.
        self.parser.set_limits(parse_limits(limits));
        while pending.len() < MAX_PENDING_COMMANDS {
            match self.parser.parse(&mut self.rbuf, authenticated) {
                Ok(Some(argv)) => pending.push_back(argv),
                Ok(None) => break,
                Err(e) => {
                    self.protocol_error = Some(e.reply_text());
                    break;
                }
            }
        }
        // Everything read was parsed out of a buffer grown for a large argument: let go of it
        // now rather than at the next read (which may not come for a long time), so the
        // allocation is freed as soon as the parsed arguments are.
        if self.rbuf.is_empty() && (self.big || self.rbuf.capacity() > READ_KEEP) {
            self.rbuf = BytesMut::new();
            self.big = false;
        }
    }

    /// Writes released output until it is all written or the socket is full. Returns whether
    /// everything released is written.
    pub fn write_released(&mut self, out: &mut ReplyWriter, stats: &NetStats) -> io::Result<bool> {
        debug_assert!(
            self.released <= out.len(),
            "released bytes are in the buffer"
        );
        if self.released > 0 {
            stats.writes.fetch_add(1, Ordering::Relaxed);
        }
        while self.released > 0 {
            let data = &out.buffer()[..self.released];
            match self.sock.write(data) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => {
                    stats.bytes_out.fetch_add(n as u64, Ordering::Relaxed);
                    out.consume(n);
                    self.released -= n;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(true)
    }

    /// `client-output-buffer-limit normal` (hard, soft bytes, soft seconds) on `unwritten`
    /// bytes: false when the client must be closed (over the hard limit, or over the soft limit
    /// for longer than the soft seconds; at once when they are 0).
    pub fn output_within_limits(
        &mut self,
        unwritten: usize,
        l: &SharedLimits,
        now: Instant,
    ) -> bool {
        let len = unwritten as u64;
        let hard = l.output_hard.load(Ordering::Relaxed);
        if hard > 0 && len > hard {
            return false;
        }
        let soft = l.output_soft.load(Ordering::Relaxed);
        if soft > 0 && len > soft {
            let secs = l.output_soft_seconds.load(Ordering::Relaxed);
            let since = *self.soft_since.get_or_insert(now);
            return secs > 0 && now.saturating_duration_since(since) < Duration::from_secs(secs);
        }
        self.soft_since = None;
        true
    }
}

fn parse_limits(l: &SharedLimits) -> ParseLimits {
    ParseLimits {
        max_bulk_len: l.proto_max_bulk_len.load(Ordering::Relaxed) as usize,
        ..ParseLimits::default()
    }
}
