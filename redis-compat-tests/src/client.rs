//! A raw RESP client over a plain TCP socket: sends exactly the bytes it is
//! given and reads back exactly one reply frame at a time, keeping its raw
//! bytes.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use crate::resp::{self, Frame};

/// One complete reply: its exact bytes and the parsed tree.
#[derive(Clone, Debug, PartialEq)]
pub struct Reply {
    pub raw: Vec<u8>,
    pub frame: Frame,
}

/// What happened when we waited for a reply.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    /// A complete frame.
    Reply(Reply),
    /// The server closed the connection (EOF or reset). `partial` holds the
    /// bytes of an incomplete frame received before the close, if any.
    Closed { partial: Vec<u8> },
    /// Nothing complete arrived within the timeout.
    Timeout { partial: Vec<u8> },
    /// The bytes are not valid RESP.
    BadFrame { error: String, bytes: Vec<u8> },
    /// Some other socket error.
    Io(String),
}

impl Outcome {
    pub fn reply(&self) -> Option<&Reply> {
        match self {
            Outcome::Reply(r) => Some(r),
            _ => None,
        }
    }

    pub fn frame(&self) -> Option<&Frame> {
        self.reply().map(|r| &r.frame)
    }

    /// A one-line description for failure messages and traces.
    pub fn describe(&self) -> String {
        match self {
            Outcome::Reply(r) => resp::escape(&r.raw),
            Outcome::Closed { partial } if partial.is_empty() => "<connection closed>".into(),
            Outcome::Closed { partial } => {
                format!(
                    "<connection closed after partial reply {}>",
                    resp::escape(partial)
                )
            }
            Outcome::Timeout { partial } if partial.is_empty() => "<no reply (timeout)>".into(),
            Outcome::Timeout { partial } => {
                format!("<timeout after partial reply {}>", resp::escape(partial))
            }
            Outcome::BadFrame { error, bytes } => {
                format!("<invalid RESP ({error}): {}>", resp::escape(bytes))
            }
            Outcome::Io(e) => format!("<socket error: {e}>"),
        }
    }
}

/// Encode a command as a RESP multibulk (`*N\r\n$len\r\narg\r\n...`).
pub fn encode_command<A: AsRef<[u8]>>(args: &[A]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        let a = a.as_ref();
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// A connection to one server.
pub struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
    timeout: Duration,
}

impl Conn {
    pub fn connect(addr: SocketAddr, timeout: Duration) -> std::io::Result<Conn> {
        let stream = TcpStream::connect_timeout(&addr, timeout)?;
        stream.set_nodelay(true)?;
        stream.set_write_timeout(Some(timeout))?;
        Ok(Conn {
            stream,
            buf: Vec::new(),
            timeout,
        })
    }

    /// Send raw bytes as they are.
    pub fn send_raw(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.stream.write_all(bytes)?;
        self.stream.flush()
    }

    /// Send a command as a RESP multibulk.
    pub fn send_command<A: AsRef<[u8]>>(&mut self, args: &[A]) -> std::io::Result<()> {
        self.send_raw(&encode_command(args))
    }

    /// Send a command and read its reply.
    pub fn call<A: AsRef<[u8]>>(&mut self, args: &[A]) -> Outcome {
        match self.send_command(args) {
            Ok(()) => self.read_reply(),
            Err(e) => write_error(e),
        }
    }

    /// Read exactly one complete reply frame (bytes after it stay buffered
    /// for the next call).
    pub fn read_reply(&mut self) -> Outcome {
        self.read_reply_within(self.timeout)
    }

    pub fn read_reply_within(&mut self, timeout: Duration) -> Outcome {
        let deadline = Instant::now() + timeout;
        loop {
            match resp::parse(&self.buf) {
                Ok(Some((frame, used))) => {
                    let raw: Vec<u8> = self.buf.drain(..used).collect();
                    return Outcome::Reply(Reply { raw, frame });
                }
                Ok(None) => {}
                Err(error) => {
                    return Outcome::BadFrame {
                        error,
                        bytes: std::mem::take(&mut self.buf),
                    }
                }
            }
            match self.fill(deadline) {
                Fill::Data => {}
                Fill::Eof => {
                    return Outcome::Closed {
                        partial: std::mem::take(&mut self.buf),
                    }
                }
                Fill::Timeout => {
                    return Outcome::Timeout {
                        partial: std::mem::take(&mut self.buf),
                    }
                }
                Fill::Error(e) => return Outcome::Io(e),
            }
        }
    }

    /// Wait up to `wait` for the server to close the connection. Returns
    /// `Ok(())` when it did, or `Err(description)` when data arrived or the
    /// connection stayed open.
    pub fn expect_closed(&mut self, wait: Duration) -> Result<(), String> {
        if !self.buf.is_empty() {
            return Err(format!(
                "unread bytes before close: {}",
                resp::escape(&self.buf)
            ));
        }
        match self.fill(Instant::now() + wait) {
            Fill::Eof => Ok(()),
            Fill::Data => Err(format!(
                "server sent more bytes instead of closing: {}",
                resp::escape(&self.buf)
            )),
            Fill::Timeout => Err(format!("connection still open after {wait:?}")),
            Fill::Error(e) => Err(format!("socket error: {e}")),
        }
    }

    /// Wait `wait` and check that nothing arrives (for partial requests).
    pub fn expect_silence(&mut self, wait: Duration) -> Result<(), String> {
        if !self.buf.is_empty() {
            return Err(format!("unexpected bytes: {}", resp::escape(&self.buf)));
        }
        match self.fill(Instant::now() + wait) {
            Fill::Timeout => Ok(()),
            Fill::Data => Err(format!("unexpected reply: {}", resp::escape(&self.buf))),
            Fill::Eof => Err("connection closed".into()),
            Fill::Error(e) => Err(format!("socket error: {e}")),
        }
    }

    fn fill(&mut self, deadline: Instant) -> Fill {
        let now = Instant::now();
        if now >= deadline {
            return Fill::Timeout;
        }
        let left = (deadline - now).max(Duration::from_millis(1));
        if let Err(e) = self.stream.set_read_timeout(Some(left)) {
            return Fill::Error(e.to_string());
        }
        let mut chunk = [0u8; 16 * 1024];
        match self.stream.read(&mut chunk) {
            Ok(0) => Fill::Eof,
            Ok(n) => {
                self.buf.extend_from_slice(&chunk[..n]);
                Fill::Data
            }
            Err(e) => match e.kind() {
                ErrorKind::WouldBlock | ErrorKind::TimedOut => Fill::Timeout,
                ErrorKind::Interrupted => Fill::Data,
                ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted => Fill::Eof,
                _ => Fill::Error(e.to_string()),
            },
        }
    }
}

enum Fill {
    Data,
    Eof,
    Timeout,
    Error(String),
}

fn write_error(e: std::io::Error) -> Outcome {
    match e.kind() {
        ErrorKind::BrokenPipe | ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted => {
            Outcome::Closed {
                partial: Vec::new(),
            }
        }
        _ => Outcome::Io(format!("write: {e}")),
    }
}

pub(crate) fn outcome_of_write(res: std::io::Result<()>) -> Option<Outcome> {
    res.err().map(write_error)
}
