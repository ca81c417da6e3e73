//! Reply encoding for RESP2 and RESP3.
//!
//! [`ReplyWriter`] appends frames to a `BytesMut`. Aggregates are written as a header followed by
//! their elements, so the caller must write exactly as many elements as it announced; the
//! writer does not track nesting (that is what makes it cheap enough for XRANGE replies).
//!
//! RESP2 downgrades, as Redis performs them:
//! * map of N pairs → flat array of 2N elements; set and push → array;
//! * `null()` → `$-1` (null bulk), `null_array()` → `*-1` (null array); RESP3 has one null `_`;
//! * double → bulk string; boolean → integer 1/0; verbatim string → bulk string of the text.

use bytes::{BufMut, BytesMut};

/// The protocol a connection speaks, chosen with `HELLO`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Protocol {
    #[default]
    Resp2,
    Resp3,
}

impl Protocol {
    /// The number `HELLO` takes and reports for this protocol.
    pub fn version(self) -> i64 {
        match self {
            Protocol::Resp2 => 2,
            Protocol::Resp3 => 3,
        }
    }
}

/// Writes reply frames into a buffer for one protocol version.
#[derive(Debug, Default)]
pub struct ReplyWriter {
    buf: BytesMut,
    proto: Protocol,
    /// The buffer grew past [`KEEP_CAPACITY`] since it was last emptied: once emptied it is
    /// dropped, not kept. (Its `capacity()` alone cannot tell: after partial writes have
    /// advanced it, it reports only the room left past them.)
    grown: bool,
}

/// An emptied reply buffer up to this size is kept for the next replies; a larger one is
/// freed.
pub const KEEP_CAPACITY: usize = 64 * 1024;

impl ReplyWriter {
    pub fn new(proto: Protocol) -> Self {
        ReplyWriter {
            buf: BytesMut::new(),
            proto,
            grown: false,
        }
    }

    pub fn with_buffer(buf: BytesMut, proto: Protocol) -> Self {
        ReplyWriter {
            grown: buf.capacity() > KEEP_CAPACITY,
            buf,
            proto,
        }
    }

    pub fn protocol(&self) -> Protocol {
        self.proto
    }

    pub fn set_protocol(&mut self, proto: Protocol) {
        self.proto = proto;
    }

    pub fn is_resp3(&self) -> bool {
        self.proto == Protocol::Resp3
    }

    /// Bytes written so far.
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// Bytes the buffer holds allocated, written or not (CLIENT LIST's `tot-mem`).
    pub fn capacity(&self) -> usize {
        self.buf.capacity()
    }

    /// Drops everything written after `len` (used to discard a partially written reply).
    pub fn truncate(&mut self, len: usize) {
        self.buf.truncate(len);
    }

    /// Takes the written bytes, leaving the writer empty (its capacity stays with the writer
    /// when the taken buffer is dropped and reused by `BytesMut`'s allocator).
    pub fn take(&mut self) -> BytesMut {
        self.buf.split()
    }

    pub fn buffer(&self) -> &BytesMut {
        &self.buf
    }

    /// Drops the first `n` bytes (written to the socket). An emptied buffer that grew past
    /// [`KEEP_CAPACITY`] gives its memory back, so one large reply does not pin it for the
    /// connection's life, however many partial writes it took.
    pub fn consume(&mut self, n: usize) {
        self.grown |= self.buf.capacity() > KEEP_CAPACITY;
        if n < self.buf.len() {
            bytes::Buf::advance(&mut self.buf, n);
        } else if self.grown {
            self.buf = BytesMut::new();
            self.grown = false;
        } else {
            self.buf.clear();
        }
    }

    /// Appends bytes that are already a complete encoded frame.
    pub fn raw(&mut self, frame: &[u8]) {
        self.buf.extend_from_slice(frame);
    }

    fn header(&mut self, prefix: u8, n: i64) {
        let mut tmp = itoa_buf();
        let s = fmt_i64(&mut tmp, n);
        self.buf.reserve(s.len() + 3);
        self.buf.put_u8(prefix);
        self.buf.extend_from_slice(s);
        self.buf.extend_from_slice(b"\r\n");
    }

    /// `+text` — a status reply. CR and LF in `text` are replaced by spaces, as Redis does.
    pub fn simple(&mut self, text: &str) {
        self.line(b'+', text.as_bytes());
    }

    /// `+OK`.
    pub fn ok(&mut self) {
        self.buf.extend_from_slice(b"+OK\r\n");
    }

    /// `-text` — an error reply. `text` includes the code (`ERR …`, `WRONGTYPE …`). As Redis's
    /// `addReplyErrorFormat`: CR and LF at the end are dropped, and those inside replaced by
    /// spaces, so an error can never break the framing.
    pub fn error(&mut self, text: &str) {
        self.line(b'-', text.trim_end_matches(['\r', '\n']).as_bytes());
    }

    fn line(&mut self, prefix: u8, text: &[u8]) {
        self.buf.reserve(text.len() + 3);
        self.buf.put_u8(prefix);
        let start = self.buf.len();
        self.buf.extend_from_slice(text);
        for b in &mut self.buf[start..] {
            if *b == b'\r' || *b == b'\n' {
                *b = b' ';
            }
        }
        self.buf.extend_from_slice(b"\r\n");
    }

    /// `:n`.
    pub fn int(&mut self, n: i64) {
        self.header(b':', n);
    }

    /// Makes room for at least `additional` more bytes at once, so that a large reply built
    /// piece by piece is not copied at every doubling of the buffer.
    pub fn reserve(&mut self, additional: usize) {
        self.buf.reserve(additional);
    }

    /// `$len\r\nbytes\r\n`.
    pub fn bulk(&mut self, data: &[u8]) {
        self.header(b'$', data.len() as i64);
        self.buf.reserve(data.len() + 2);
        self.buf.extend_from_slice(data);
        self.buf.extend_from_slice(b"\r\n");
    }

    /// An integer sent as a bulk string (as Redis does for e.g. CONFIG GET values).
    pub fn bulk_int(&mut self, n: i64) {
        let mut tmp = itoa_buf();
        let s = fmt_i64(&mut tmp, n);
        let s = s.to_vec();
        self.bulk(&s);
    }

    /// The null bulk string: RESP2 `$-1`, RESP3 `_`.
    pub fn null(&mut self) {
        match self.proto {
            Protocol::Resp2 => self.buf.extend_from_slice(b"$-1\r\n"),
            Protocol::Resp3 => self.buf.extend_from_slice(b"_\r\n"),
        }
    }

    /// The null array: RESP2 `*-1`, RESP3 `_`.
    pub fn null_array(&mut self) {
        match self.proto {
            Protocol::Resp2 => self.buf.extend_from_slice(b"*-1\r\n"),
            Protocol::Resp3 => self.buf.extend_from_slice(b"_\r\n"),
        }
    }

    /// Array header; `n` elements must follow.
    pub fn array(&mut self, n: usize) {
        self.header(b'*', n as i64);
    }

    /// Map header; `n` key/value pairs (2n frames) must follow. RESP2: an array of 2n.
    pub fn map(&mut self, n: usize) {
        match self.proto {
            Protocol::Resp2 => self.header(b'*', 2 * n as i64),
            Protocol::Resp3 => self.header(b'%', n as i64),
        }
    }

    /// Set header; `n` elements must follow. RESP2: an array.
    pub fn set(&mut self, n: usize) {
        match self.proto {
            Protocol::Resp2 => self.header(b'*', n as i64),
            Protocol::Resp3 => self.header(b'~', n as i64),
        }
    }

    /// Push header (out-of-band data); `n` elements must follow. RESP2: an array.
    pub fn push(&mut self, n: usize) {
        match self.proto {
            Protocol::Resp2 => self.header(b'*', n as i64),
            Protocol::Resp3 => self.header(b'>', n as i64),
        }
    }

    /// A double. RESP3 `,value`; RESP2 a bulk string. Formatting follows Redis: integral values
    /// without a fraction, `inf`/`-inf`, `nan`, otherwise the shortest text that reads back as
    /// the same double.
    pub fn double(&mut self, v: f64) {
        let text = format_double(v);
        match self.proto {
            Protocol::Resp2 => self.bulk(text.as_bytes()),
            Protocol::Resp3 => self.line(b',', text.as_bytes()),
        }
    }

    /// A boolean. RESP3 `#t`/`#f`; RESP2 the integer 1 or 0.
    pub fn boolean(&mut self, v: bool) {
        match (self.proto, v) {
            (Protocol::Resp3, true) => self.buf.extend_from_slice(b"#t\r\n"),
            (Protocol::Resp3, false) => self.buf.extend_from_slice(b"#f\r\n"),
            (Protocol::Resp2, v) => self.int(v as i64),
        }
    }

    /// A verbatim string with a three-letter format (`txt`, `mkd`). RESP2: a bulk string.
    pub fn verbatim(&mut self, format: &str, text: &[u8]) {
        debug_assert_eq!(format.len(), 3, "verbatim formats are three bytes");
        match self.proto {
            Protocol::Resp2 => self.bulk(text),
            Protocol::Resp3 => {
                self.header(b'=', (text.len() + 4) as i64);
                self.buf.extend_from_slice(format.as_bytes());
                self.buf.put_u8(b':');
                self.buf.extend_from_slice(text);
                self.buf.extend_from_slice(b"\r\n");
            }
        }
    }
}

/// Formats a double the way Redis replies with one.
pub fn format_double(v: f64) -> String {
    if v.is_nan() {
        "nan".to_string()
    } else if v.is_infinite() {
        if v > 0.0 { "inf" } else { "-inf" }.to_string()
    } else if v == v.trunc() && v.abs() < 1e17 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

fn itoa_buf() -> [u8; 20] {
    [0u8; 20]
}

/// Formats `n` in decimal into `buf` and returns the digits (with sign).
fn fmt_i64(buf: &mut [u8; 20], n: i64) -> &[u8] {
    let neg = n < 0;
    let mut v = n.unsigned_abs();
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    if neg {
        i -= 1;
        buf[i] = b'-';
    }
    &buf[i..]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(p: Protocol, f: impl FnOnce(&mut ReplyWriter)) -> Vec<u8> {
        let mut r = ReplyWriter::new(p);
        f(&mut r);
        r.take().to_vec()
    }

    #[test]
    fn a_large_reply_written_in_pieces_gives_its_buffer_back() {
        for last in [1, 100, KEEP_CAPACITY / 2, KEEP_CAPACITY + 1] {
            let mut r = ReplyWriter::new(Protocol::Resp2);
            let body = vec![b'x'; 4 << 20];
            r.bulk(&body);
            let total = r.len();
            // Partial writes, the last one `last` bytes long.
            let mut left = total;
            while left > last {
                let n = (left - last).min(1 << 20);
                r.consume(n);
                left -= n;
                assert_eq!(r.len(), left);
            }
            r.consume(left);
            assert!(r.is_empty());
            assert_eq!(r.capacity(), 0, "freed after a last write of {last} bytes");
        }
        // A small buffer is kept for the next replies.
        let mut r = ReplyWriter::new(Protocol::Resp2);
        r.bulk(b"hello");
        let cap = r.capacity();
        r.consume(r.len());
        assert_eq!(r.capacity(), cap);
    }

    #[test]
    fn integers_format_every_edge() {
        assert_eq!(w(Protocol::Resp2, |r| r.int(0)), b":0\r\n");
        assert_eq!(w(Protocol::Resp2, |r| r.int(-1)), b":-1\r\n");
        assert_eq!(
            w(Protocol::Resp2, |r| r.int(i64::MIN)),
            b":-9223372036854775808\r\n"
        );
        assert_eq!(
            w(Protocol::Resp2, |r| r.int(i64::MAX)),
            b":9223372036854775807\r\n"
        );
    }

    #[test]
    fn nulls_follow_the_protocol() {
        assert_eq!(w(Protocol::Resp2, |r| r.null()), b"$-1\r\n");
        assert_eq!(w(Protocol::Resp2, |r| r.null_array()), b"*-1\r\n");
        assert_eq!(w(Protocol::Resp3, |r| r.null()), b"_\r\n");
        assert_eq!(w(Protocol::Resp3, |r| r.null_array()), b"_\r\n");
    }

    #[test]
    fn maps_flatten_in_resp2() {
        let f = |r: &mut ReplyWriter| {
            r.map(1);
            r.bulk(b"k");
            r.int(1);
        };
        assert_eq!(w(Protocol::Resp2, f), b"*2\r\n$1\r\nk\r\n:1\r\n");
        assert_eq!(w(Protocol::Resp3, f), b"%1\r\n$1\r\nk\r\n:1\r\n");
    }

    #[test]
    fn errors_cannot_break_framing() {
        assert_eq!(
            w(Protocol::Resp2, |r| r.error("ERR a\r\nb")),
            b"-ERR a  b\r\n"
        );
        assert_eq!(
            w(Protocol::Resp2, |r| r.error("ERR a\nb\r\n\n")),
            b"-ERR a b\r\n"
        );
    }

    #[test]
    fn scalars_downgrade_in_resp2() {
        assert_eq!(w(Protocol::Resp2, |r| r.boolean(true)), b":1\r\n");
        assert_eq!(w(Protocol::Resp3, |r| r.boolean(false)), b"#f\r\n");
        assert_eq!(w(Protocol::Resp2, |r| r.double(1.5)), b"$3\r\n1.5\r\n");
        assert_eq!(w(Protocol::Resp3, |r| r.double(f64::INFINITY)), b",inf\r\n");
        assert_eq!(
            w(Protocol::Resp3, |r| r.verbatim("txt", b"hi")),
            b"=6\r\ntxt:hi\r\n"
        );
        assert_eq!(
            w(Protocol::Resp2, |r| r.verbatim("txt", b"hi")),
            b"$2\r\nhi\r\n"
        );
        assert_eq!(w(Protocol::Resp3, |r| r.set(0)), b"~0\r\n");
        assert_eq!(w(Protocol::Resp3, |r| r.push(2)), b">2\r\n");
    }
}
