//! A small RESP2 client for the load generator: commands are encoded into a write buffer (so a
//! whole pipeline goes out in one `write`), replies are parsed incrementally from a read buffer,
//! either into a [`Value`] or skipped without allocating.

use std::io;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// One reply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    Simple(String),
    Error(String),
    Int(i64),
    Bulk(Vec<u8>),
    Array(Vec<Value>),
    /// Null bulk string or null array.
    Nil,
}

impl Value {
    /// The error message when this is an error reply.
    pub fn err(&self) -> Option<&str> {
        match self {
            Value::Error(e) => Some(e),
            _ => None,
        }
    }

    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            Value::Bulk(b) => Some(b),
            Value::Simple(s) => Some(s.as_bytes()),
            _ => None,
        }
    }

    pub fn as_int(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            Value::Bulk(b) => std::str::from_utf8(b).ok()?.parse().ok(),
            _ => None,
        }
    }

    pub fn as_array(&self) -> Option<&[Value]> {
        match self {
            Value::Array(a) => Some(a),
            _ => None,
        }
    }

    /// A short human-readable form, for messages.
    pub fn brief(&self) -> String {
        let mut s = match self {
            Value::Simple(s) => format!("+{s}"),
            Value::Error(e) => format!("-{e}"),
            Value::Int(i) => format!(":{i}"),
            Value::Bulk(b) => format!("\"{}\"", String::from_utf8_lossy(b)),
            Value::Array(a) => format!("[{} elements]", a.len()),
            Value::Nil => "(nil)".into(),
        };
        s.truncate(200);
        s
    }
}

fn proto_err(msg: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("protocol error: {msg}"))
}

/// Finds the end of the line starting at `pos`; returns the index of '\r'.
fn line_end(buf: &[u8], pos: usize) -> Option<usize> {
    let i = buf[pos..].iter().position(|&b| b == b'\r')?;
    if pos + i + 1 < buf.len() {
        Some(pos + i)
    } else {
        None
    }
}

fn parse_int(b: &[u8]) -> io::Result<i64> {
    std::str::from_utf8(b)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| proto_err("bad integer"))
}

/// Parses one reply at `pos`. `Ok(None)`: incomplete.
pub fn parse(buf: &[u8], pos: usize) -> io::Result<Option<(Value, usize)>> {
    if pos >= buf.len() {
        return Ok(None);
    }
    let Some(end) = line_end(buf, pos + 1) else {
        return Ok(None);
    };
    let line = &buf[pos + 1..end];
    let next = end + 2;
    match buf[pos] {
        b'+' => Ok(Some((
            Value::Simple(String::from_utf8_lossy(line).into_owned()),
            next,
        ))),
        b'-' => Ok(Some((
            Value::Error(String::from_utf8_lossy(line).into_owned()),
            next,
        ))),
        b':' => Ok(Some((Value::Int(parse_int(line)?), next))),
        b'$' => {
            let n = parse_int(line)?;
            if n < 0 {
                return Ok(Some((Value::Nil, next)));
            }
            let n = n as usize;
            if buf.len() < next + n + 2 {
                return Ok(None);
            }
            Ok(Some((
                Value::Bulk(buf[next..next + n].to_vec()),
                next + n + 2,
            )))
        }
        b'*' => {
            let n = parse_int(line)?;
            if n < 0 {
                return Ok(Some((Value::Nil, next)));
            }
            let mut items = Vec::with_capacity(n as usize);
            let mut p = next;
            for _ in 0..n {
                match parse(buf, p)? {
                    Some((v, np)) => {
                        items.push(v);
                        p = np;
                    }
                    None => return Ok(None),
                }
            }
            Ok(Some((Value::Array(items), p)))
        }
        b'_' => Ok(Some((Value::Nil, next))),
        c => Err(proto_err(&format!("unexpected type byte {:?}", c as char))),
    }
}

/// What [`skip`] found at the top level.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Skipped {
    Ok,
    Nil,
    Error(String),
}

/// Skips one reply at `pos` without allocating (except for error messages).
pub fn skip(buf: &[u8], pos: usize) -> io::Result<Option<(Skipped, usize)>> {
    if pos >= buf.len() {
        return Ok(None);
    }
    let Some(end) = line_end(buf, pos + 1) else {
        return Ok(None);
    };
    let line = &buf[pos + 1..end];
    let next = end + 2;
    match buf[pos] {
        b'+' | b':' => Ok(Some((Skipped::Ok, next))),
        b'_' => Ok(Some((Skipped::Nil, next))),
        b'-' => Ok(Some((
            Skipped::Error(String::from_utf8_lossy(line).into_owned()),
            next,
        ))),
        b'$' => {
            let n = parse_int(line)?;
            if n < 0 {
                return Ok(Some((Skipped::Nil, next)));
            }
            let e = next + n as usize + 2;
            if buf.len() < e {
                Ok(None)
            } else {
                Ok(Some((Skipped::Ok, e)))
            }
        }
        b'*' => {
            let n = parse_int(line)?;
            if n < 0 {
                return Ok(Some((Skipped::Nil, next)));
            }
            let mut p = next;
            for _ in 0..n {
                match skip(buf, p)? {
                    Some((_, np)) => p = np,
                    None => return Ok(None),
                }
            }
            Ok(Some((Skipped::Ok, p)))
        }
        c => Err(proto_err(&format!("unexpected type byte {:?}", c as char))),
    }
}

/// Appends one command in RESP form.
pub fn encode(buf: &mut Vec<u8>, args: &[&[u8]]) {
    buf.push(b'*');
    push_usize(buf, args.len());
    buf.extend_from_slice(b"\r\n");
    for a in args {
        buf.push(b'$');
        push_usize(buf, a.len());
        buf.extend_from_slice(b"\r\n");
        buf.extend_from_slice(a);
        buf.extend_from_slice(b"\r\n");
    }
}

fn push_usize(buf: &mut Vec<u8>, mut n: usize) {
    let mut tmp = [0u8; 20];
    let mut i = tmp.len();
    loop {
        i -= 1;
        tmp[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    buf.extend_from_slice(&tmp[i..]);
}

/// Writes `n` as a zero-padded 12-digit decimal (like redis-benchmark's `__rand_int__`).
pub fn rand12(n: u64) -> [u8; 12] {
    let mut out = [b'0'; 12];
    let mut n = n % 1_000_000_000_000;
    for i in (0..12).rev() {
        out[i] = b'0' + (n % 10) as u8;
        n /= 10;
    }
    out
}

/// A connection.
pub struct Conn {
    stream: TcpStream,
    rbuf: Vec<u8>,
    rpos: usize,
    rend: usize,
    /// Commands queued by [`Conn::push`] until [`Conn::flush`].
    pub wbuf: Vec<u8>,
}

impl Conn {
    pub async fn connect(addr: &str) -> io::Result<Conn> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(Conn {
            stream,
            rbuf: vec![0; 64 * 1024],
            rpos: 0,
            rend: 0,
            wbuf: Vec::with_capacity(16 * 1024),
        })
    }

    /// Connects, retrying for up to `timeout` (the server may still be starting).
    pub async fn connect_retry(addr: &str, timeout: Duration) -> io::Result<Conn> {
        let start = std::time::Instant::now();
        loop {
            match Conn::connect(addr).await {
                Ok(c) => return Ok(c),
                Err(e) if start.elapsed() >= timeout => return Err(e),
                Err(_) => tokio::time::sleep(Duration::from_millis(2)).await,
            }
        }
    }

    pub fn push(&mut self, args: &[&[u8]]) {
        encode(&mut self.wbuf, args);
    }

    pub async fn flush(&mut self) -> io::Result<()> {
        if !self.wbuf.is_empty() {
            self.stream.write_all(&self.wbuf).await?;
            self.wbuf.clear();
        }
        Ok(())
    }

    /// Reads more bytes. The buffer stays initialized (`rbuf.len()` is its capacity; the data is
    /// `rbuf[rpos..rend]`), so a read costs no memset.
    async fn fill(&mut self) -> io::Result<()> {
        if self.rpos == self.rend {
            self.rpos = 0;
            self.rend = 0;
        } else if self.rbuf.len() - self.rend < 16 * 1024 && self.rpos > 0 {
            self.rbuf.copy_within(self.rpos..self.rend, 0);
            self.rend -= self.rpos;
            self.rpos = 0;
        }
        if self.rbuf.len() - self.rend < 16 * 1024 {
            let n = self.rbuf.len() * 2;
            self.rbuf.resize(n, 0);
        }
        let n = self.stream.read(&mut self.rbuf[self.rend..]).await?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "connection closed by the server",
            ));
        }
        self.rend += n;
        Ok(())
    }

    /// Reads one reply.
    pub async fn read(&mut self) -> io::Result<Value> {
        loop {
            if let Some((v, np)) = parse(&self.rbuf[..self.rend], self.rpos)? {
                self.rpos = np;
                return Ok(v);
            }
            self.fill().await?;
        }
    }

    /// Reads one reply without keeping it.
    pub async fn read_skip(&mut self) -> io::Result<Skipped> {
        loop {
            if let Some((v, np)) = skip(&self.rbuf[..self.rend], self.rpos)? {
                self.rpos = np;
                return Ok(v);
            }
            self.fill().await?;
        }
    }

    /// Sends one command and reads its reply.
    pub async fn cmd(&mut self, args: &[&[u8]]) -> io::Result<Value> {
        self.push(args);
        self.flush().await?;
        self.read().await
    }

    /// Like [`Conn::cmd`] with string arguments.
    pub async fn cmd_str(&mut self, args: &[&str]) -> io::Result<Value> {
        let a: Vec<&[u8]> = args.iter().map(|s| s.as_bytes()).collect();
        self.cmd(&a).await
    }
}

/// A stream entry ID.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct StreamId {
    pub ms: u64,
    pub seq: u64,
}

impl StreamId {
    pub fn parse(b: &[u8]) -> Option<StreamId> {
        let s = std::str::from_utf8(b).ok()?;
        let (a, c) = s.split_once('-')?;
        Some(StreamId {
            ms: a.parse().ok()?,
            seq: c.parse().ok()?,
        })
    }
}

impl std::fmt::Display for StreamId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}", self.ms, self.seq)
    }
}

/// The entries of a stream reply (`[[id, [f, v, ...]], ...]`), as (id, fields) pairs.
pub fn entries(v: &Value) -> Vec<(&[u8], &[Value])> {
    let mut out = Vec::new();
    if let Some(items) = v.as_array() {
        for e in items {
            if let Some([id, fields]) = e.as_array() {
                out.push((
                    id.as_bytes().unwrap_or(b""),
                    fields.as_array().unwrap_or(&[]),
                ));
            }
        }
    }
    out
}

/// The entries of an XREAD/XREADGROUP reply for its first stream
/// (`[[key, [[id, fields], ...]]]`, or nil).
pub fn xread_entries(v: &Value) -> Vec<(&[u8], &[Value])> {
    match v
        .as_array()
        .and_then(|a| a.first())
        .and_then(|s| s.as_array())
    {
        Some([_key, list]) => entries(list),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_skip_agree() {
        let buf = b"*2\r\n*2\r\n$3\r\n1-1\r\n*2\r\n$1\r\nf\r\n$1\r\nv\r\n$-1\r\n-ERR x\r\n:5\r\n";
        let (v, p) = parse(buf, 0).unwrap().unwrap();
        let (s, p2) = skip(buf, 0).unwrap().unwrap();
        assert_eq!(p, p2);
        assert_eq!(s, Skipped::Ok);
        assert_eq!(entries(&v).len(), 1);
        let (e, p3) = skip(buf, p).unwrap().unwrap();
        assert_eq!(e, Skipped::Error("ERR x".into()));
        assert_eq!(parse(buf, p3).unwrap().unwrap().0, Value::Int(5));
        assert!(parse(&buf[..10], 0).unwrap().is_none());
        assert!(skip(&buf[..10], 0).unwrap().is_none());
    }

    /// Replies split across reads at every size, large replies that outgrow the buffer.
    #[tokio::test]
    async fn conn_reads_replies_split_anywhere() {
        use tokio::io::AsyncWriteExt;
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap().to_string();
        let mut expect = Vec::new();
        let mut wire = Vec::new();
        for i in 0..400usize {
            let len = (i * 997) % 70_000;
            let body = vec![b'a' + (i % 26) as u8; len];
            wire.extend_from_slice(format!("${len}\r\n").as_bytes());
            wire.extend_from_slice(&body);
            wire.extend_from_slice(b"\r\n:7\r\n");
            expect.push(body);
        }
        let server = tokio::spawn(async move {
            let (mut s, _) = l.accept().await.unwrap();
            for (k, chunk) in wire.chunks(1237).enumerate() {
                s.write_all(chunk).await.unwrap();
                if k % 50 == 0 {
                    tokio::task::yield_now().await;
                }
            }
        });
        let mut c = Conn::connect(&addr).await.unwrap();
        for (i, body) in expect.iter().enumerate() {
            if i % 2 == 0 {
                assert_eq!(c.read().await.unwrap(), Value::Bulk(body.clone()));
            } else {
                assert_eq!(c.read_skip().await.unwrap(), Skipped::Ok);
            }
            assert_eq!(c.read().await.unwrap(), Value::Int(7));
        }
        server.await.unwrap();
        assert!(c.read().await.is_err());
    }

    #[test]
    fn encode_and_ids() {
        let mut b = Vec::new();
        encode(&mut b, &[b"PING", b""]);
        assert_eq!(&b, b"*2\r\n$4\r\nPING\r\n$0\r\n\r\n");
        assert_eq!(&rand12(42), b"000000000042");
        let id = StreamId::parse(b"1700000000000-7").unwrap();
        assert_eq!(id.to_string(), "1700000000000-7");
    }
}
