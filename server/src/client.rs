//! Per-connection state, all of it owned by the engine thread: the socket and its buffers
//! ([`Conn`]), the commands parsed and not run yet, the output buffer, and the session:
//! protocol, database, name, authentication, the MULTI queue and WATCHed keys.
//!
//! Invariants: `pending` holds at most [`crate::net::MAX_PENDING_COMMANDS`] commands; while
//! `blocked` is set none of them runs; `conn.released <= out.len()`.

use std::net::SocketAddr;

use std::collections::VecDeque;

use bytes::Bytes;
use sluice_resp::{Protocol, ReplyWriter};

use crate::net::Conn;

/// A client's address, or the address it connected to: a TCP address, or for a client of the
/// `unixsocket` its path, which CLIENT LIST, CLIENT KILL ADDR and the logs show as Redis does:
/// `/path:0`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PeerAddr {
    Tcp(SocketAddr),
    Unix(std::sync::Arc<str>),
}

impl From<SocketAddr> for PeerAddr {
    fn from(a: SocketAddr) -> Self {
        PeerAddr::Tcp(a)
    }
}

impl std::fmt::Display for PeerAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PeerAddr::Tcp(a) => a.fmt(f),
            PeerAddr::Unix(path) => write!(f, "{path}:0"),
        }
    }
}

impl PeerAddr {
    /// The TCP port (0 for the Unix socket, as Redis prints it).
    pub fn port(&self) -> u16 {
        match self {
            PeerAddr::Tcp(a) => a.port(),
            PeerAddr::Unix(_) => 0,
        }
    }

    pub fn is_unix(&self) -> bool {
        matches!(self, PeerAddr::Unix(_))
    }
}

/// What the engine knows about one connection.
pub struct Client {
    pub id: u64,
    pub addr: PeerAddr,
    pub laddr: PeerAddr,
    pub proto: Protocol,
    pub db: usize,
    pub name: Option<Bytes>,
    pub lib_name: Option<Bytes>,
    pub lib_ver: Option<Bytes>,
    pub authenticated: bool,
    /// `Some` between MULTI and EXEC/DISCARD: the queued commands.
    pub multi: Option<Vec<Vec<Bytes>>>,
    /// A command inside MULTI was rejected: EXEC must abort.
    pub multi_error: bool,
    /// Keys WATCHed, as (db, key).
    pub watched: Vec<(usize, Bytes)>,
    /// A WATCHed key changed since WATCH: EXEC must fail.
    pub dirty_cas: bool,
    pub created_ms: u64,
    pub last_cmd_ms: u64,
    pub last_cmd: &'static str,
    /// The socket, its read buffer and parser.
    pub conn: Conn,
    /// Replies not written yet (the first `conn.released` bytes may be written).
    pub out: ReplyWriter,
    /// Commands parsed and not run yet, in order.
    pub pending: VecDeque<Vec<Bytes>>,
    /// Queued for the event loop's next pass over clients with work (see `Engine::schedule`).
    pub scheduled: bool,
    /// Set when the client must be closed after its pending replies (QUIT, CLIENT KILL).
    pub close_after_reply: bool,
    /// CLIENT REPLY mode.
    pub reply_mode: ReplyMode,
    /// Set while EXEC runs the queued commands (blocking commands do not block then).
    pub in_exec: bool,
    /// Set while a blocking command waits.
    pub blocked: Option<crate::engine::Blocked>,
    /// Connected to the Disque port (`disque-port`): a bare HELLO is Disque's.
    pub disque: bool,
    /// In MONITOR mode (also listed in `Server::observers.monitors`).
    pub monitor: bool,
    /// The persist that carries this client's last write (Redis's `woff`; see
    /// `commands/replication.rs`).
    pub woff: u64,
    /// CLIENT NO-EVICT (flag `e`; Sluice never evicts clients, so it only shows).
    pub no_evict: bool,
    /// CLIENT NO-TOUCH (flag `T`): its commands leave keys' access times alone (except TOUCH).
    pub no_touch: bool,
}

/// `CLIENT REPLY ON|OFF|SKIP`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReplyMode {
    On,
    Off,
    /// Drop the reply of the next command only.
    Skip,
}

impl Client {
    pub fn new(
        id: u64,
        conn: Conn,
        addr: impl Into<PeerAddr>,
        laddr: impl Into<PeerAddr>,
        now_ms: u64,
        authenticated: bool,
    ) -> Self {
        Client {
            id,
            addr: addr.into(),
            laddr: laddr.into(),
            proto: Protocol::Resp2,
            db: 0,
            name: None,
            lib_name: None,
            lib_ver: None,
            authenticated,
            multi: None,
            multi_error: false,
            watched: Vec::new(),
            dirty_cas: false,
            created_ms: now_ms,
            last_cmd_ms: now_ms,
            last_cmd: "NULL",
            conn,
            out: ReplyWriter::new(Protocol::Resp2),
            pending: VecDeque::new(),
            scheduled: false,
            close_after_reply: false,
            reply_mode: ReplyMode::On,
            in_exec: false,
            blocked: None,
            disque: false,
            monitor: false,
            woff: 0,
            no_evict: false,
            no_touch: false,
        }
    }

    /// Memory this client holds: its record, its query buffer and parsed arguments, and its
    /// output buffer, as allocated (CLIENT LIST's `tot-mem`, INFO's `mem_clients_normal`).
    pub fn mem_bytes(&self) -> usize {
        std::mem::size_of::<Client>()
            + self.conn.read_buffer_capacity()
            + self
                .conn
                .query_buffer_len()
                .saturating_sub(self.conn.read_buffer_len())
            + self.out.capacity()
    }

    /// The line `CLIENT LIST` / `CLIENT INFO` prints for this client (Redis 7.0 fields;
    /// `rbs`/`rbp` are the query buffer's allocated size, `argv-mem` the arguments parsed and
    /// not executed yet, `qbuf-free` what the buffer can take before it grows).
    pub fn info_line(&self, now_ms: u64) -> String {
        let rbs = self.conn.read_buffer_capacity();
        let age = now_ms.saturating_sub(self.created_ms) / 1000;
        let idle = now_ms.saturating_sub(self.last_cmd_ms) / 1000;
        // Redis's letters, in its order (those Sluice has): `U` (a Unix-socket client) after
        // `x`/`b` and before `e`/`T`; `N` only when none.
        let mut flags = String::new();
        if self.monitor {
            flags.push('O');
        }
        if self.multi.is_some() {
            flags.push('x');
        }
        if self.blocked.is_some() {
            flags.push('b');
        }
        if self.addr.is_unix() {
            flags.push('U');
        }
        if self.no_evict {
            flags.push('e');
        }
        if self.no_touch {
            flags.push('T');
        }
        if flags.is_empty() {
            flags.push('N');
        }
        let unwritten = self.out.len();
        let multi = self.multi.as_ref().map_or(-1, |q| q.len() as i64);
        format!(
            "id={} addr={} laddr={} fd={} name={} age={} idle={} flags={} db={} sub=0 psub=0 ssub=0 multi={} qbuf={} qbuf-free={} argv-mem={} multi-mem=0 rbs={} rbp={} obl={} oll=0 omem={} tot-mem={} events={} cmd={} user=default redir=-1 resp={}",
            self.id,
            self.addr,
            self.laddr,
            self.conn.fd,
            self.name.as_ref().map(|n| String::from_utf8_lossy(n).into_owned()).unwrap_or_default(),
            age,
            idle,
            flags,
            self.db,
            multi,
            self.conn.query_buffer_len(),
            rbs.saturating_sub(self.conn.read_buffer_len()),
            self.conn.query_buffer_len().saturating_sub(self.conn.read_buffer_len()),
            rbs,
            rbs,
            unwritten,
            unwritten,
            self.mem_bytes(),
            if unwritten > 0 { "rw" } else { "r" },
            self.last_cmd,
            self.proto.version(),
        )
    }
}
