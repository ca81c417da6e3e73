//! A tiny, strict RESP2/RESP3 frame reader (RESP3 is a superset of RESP2).
//!
//! The harness keeps the raw bytes of every reply for the byte-exact
//! comparison; the parsed [`Frame`] tree is used for the looser expectations
//! (shape, unordered, predicates) and for readable failure messages.

use std::fmt;

/// One parsed reply.
#[derive(Clone, Debug, PartialEq)]
pub enum Frame {
    /// `+text\r\n`
    Simple(Vec<u8>),
    /// `-text\r\n`
    Error(Vec<u8>),
    /// `:n\r\n`
    Integer(i64),
    /// `$len\r\n...\r\n`
    Bulk(Vec<u8>),
    /// `$-1\r\n` (RESP2 null)
    NullBulk,
    /// `*len\r\n...`
    Array(Vec<Frame>),
    /// `*-1\r\n` (RESP2 null array)
    NullArray,
    /// `%len\r\n` + 2*len frames
    Map(Vec<(Frame, Frame)>),
    /// `~len\r\n...`
    Set(Vec<Frame>),
    /// `>len\r\n...`
    Push(Vec<Frame>),
    /// `_\r\n`
    Null,
    /// `#t\r\n` / `#f\r\n`
    Boolean(bool),
    /// `,text\r\n` (kept as text so that `inf`, `1e+20` etc. compare exactly)
    Double(Vec<u8>),
    /// `(digits\r\n`
    BigNumber(Vec<u8>),
    /// `!len\r\n...\r\n`
    BlobError(Vec<u8>),
    /// `=len\r\nfmt:text\r\n` (the payload includes the `fmt:` prefix)
    Verbatim(Vec<u8>),
    /// `|len\r\n` attribute map, followed by the frame it annotates.
    Attribute(Vec<(Frame, Frame)>, Box<Frame>),
}

impl Frame {
    /// A short name of the RESP type, for messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Frame::Simple(_) => "simple-string",
            Frame::Error(_) => "error",
            Frame::Integer(_) => "integer",
            Frame::Bulk(_) => "bulk-string",
            Frame::NullBulk => "null-bulk",
            Frame::Array(_) => "array",
            Frame::NullArray => "null-array",
            Frame::Map(_) => "map",
            Frame::Set(_) => "set",
            Frame::Push(_) => "push",
            Frame::Null => "null",
            Frame::Boolean(_) => "boolean",
            Frame::Double(_) => "double",
            Frame::BigNumber(_) => "big-number",
            Frame::BlobError(_) => "blob-error",
            Frame::Verbatim(_) => "verbatim-string",
            Frame::Attribute(..) => "attribute",
        }
    }

    /// The textual payload of string-like frames (simple, error, bulk, verbatim).
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            Frame::Simple(b)
            | Frame::Error(b)
            | Frame::Bulk(b)
            | Frame::BlobError(b)
            | Frame::Verbatim(b)
            | Frame::Double(b)
            | Frame::BigNumber(b) => Some(b),
            _ => None,
        }
    }

    /// The payload as (lossy) UTF-8 text, for string-like frames.
    pub fn as_text(&self) -> Option<String> {
        self.as_bytes()
            .map(|b| String::from_utf8_lossy(b).into_owned())
    }

    pub fn as_int(&self) -> Option<i64> {
        match self {
            Frame::Integer(n) => Some(*n),
            _ => None,
        }
    }

    /// Elements of an array, set or push frame.
    pub fn elements(&self) -> Option<&[Frame]> {
        match self {
            Frame::Array(v) | Frame::Set(v) | Frame::Push(v) => Some(v),
            _ => None,
        }
    }

    /// Encode the frame back to RESP bytes (the exact inverse of [`parse`]).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode_into(&mut out);
        out
    }

    fn encode_into(&self, out: &mut Vec<u8>) {
        fn line(out: &mut Vec<u8>, prefix: u8, body: &[u8]) {
            out.push(prefix);
            out.extend_from_slice(body);
            out.extend_from_slice(b"\r\n");
        }
        fn blob(out: &mut Vec<u8>, prefix: u8, body: &[u8]) {
            line(out, prefix, body.len().to_string().as_bytes());
            out.extend_from_slice(body);
            out.extend_from_slice(b"\r\n");
        }
        fn agg(out: &mut Vec<u8>, prefix: u8, items: &[Frame]) {
            line(out, prefix, items.len().to_string().as_bytes());
            for f in items {
                f.encode_into(out);
            }
        }
        fn map(out: &mut Vec<u8>, prefix: u8, items: &[(Frame, Frame)]) {
            line(out, prefix, items.len().to_string().as_bytes());
            for (k, v) in items {
                k.encode_into(out);
                v.encode_into(out);
            }
        }
        match self {
            Frame::Simple(b) => line(out, b'+', b),
            Frame::Error(b) => line(out, b'-', b),
            Frame::Integer(n) => line(out, b':', n.to_string().as_bytes()),
            Frame::Bulk(b) => blob(out, b'$', b),
            Frame::NullBulk => out.extend_from_slice(b"$-1\r\n"),
            Frame::Array(v) => agg(out, b'*', v),
            Frame::NullArray => out.extend_from_slice(b"*-1\r\n"),
            Frame::Map(m) => map(out, b'%', m),
            Frame::Set(v) => agg(out, b'~', v),
            Frame::Push(v) => agg(out, b'>', v),
            Frame::Null => out.extend_from_slice(b"_\r\n"),
            Frame::Boolean(b) => out.extend_from_slice(if *b { b"#t\r\n" } else { b"#f\r\n" }),
            Frame::Double(b) => line(out, b',', b),
            Frame::BigNumber(b) => line(out, b'(', b),
            Frame::BlobError(b) => blob(out, b'!', b),
            Frame::Verbatim(b) => blob(out, b'=', b),
            Frame::Attribute(m, f) => {
                map(out, b'|', m);
                f.encode_into(out);
            }
        }
    }
}

impl fmt::Display for Frame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&escape(&self.encode()))
    }
}

/// Parse one complete frame from the start of `buf`.
///
/// Returns `Ok(None)` when more bytes are needed, `Ok(Some((frame, used)))`
/// on success and `Err` when the bytes are not valid RESP.
pub fn parse(buf: &[u8]) -> Result<Option<(Frame, usize)>, String> {
    let mut pos = 0;
    match parse_at(buf, &mut pos, 0)? {
        Some(frame) => Ok(Some((frame, pos))),
        None => Ok(None),
    }
}

const MAX_DEPTH: usize = 64;

fn read_line<'a>(buf: &'a [u8], pos: &mut usize) -> Result<Option<&'a [u8]>, String> {
    let start = *pos;
    let Some(rel) = buf[start..].iter().position(|&b| b == b'\n') else {
        return Ok(None);
    };
    let end = start + rel;
    if end == start || buf[end - 1] != b'\r' {
        return Err(format!("line not terminated by CRLF at offset {end}"));
    }
    *pos = end + 1;
    Ok(Some(&buf[start..end - 1]))
}

fn parse_int(line: &[u8]) -> Result<i64, String> {
    std::str::from_utf8(line)
        .ok()
        .and_then(|s| s.parse::<i64>().ok())
        .ok_or_else(|| format!("bad integer {}", escape(line)))
}

fn read_blob(buf: &[u8], pos: &mut usize, len: i64) -> Result<Option<Vec<u8>>, String> {
    if len < 0 {
        return Err(format!("negative length {len}"));
    }
    let len = len as usize;
    if buf.len() < *pos + len + 2 {
        return Ok(None);
    }
    let body = buf[*pos..*pos + len].to_vec();
    if &buf[*pos + len..*pos + len + 2] != b"\r\n" {
        return Err("blob not terminated by CRLF".into());
    }
    *pos += len + 2;
    Ok(Some(body))
}

macro_rules! need {
    ($e:expr) => {
        match $e? {
            Some(v) => v,
            None => return Ok(None),
        }
    };
}

fn parse_items(
    buf: &[u8],
    pos: &mut usize,
    n: i64,
    depth: usize,
) -> Result<Option<Vec<Frame>>, String> {
    if n < 0 {
        return Err(format!("negative aggregate length {n}"));
    }
    let mut items = Vec::with_capacity((n as usize).min(1024));
    for _ in 0..n {
        items.push(need!(parse_at(buf, pos, depth + 1)));
    }
    Ok(Some(items))
}

fn pairs(items: Vec<Frame>) -> Vec<(Frame, Frame)> {
    let mut out = Vec::with_capacity(items.len() / 2);
    let mut it = items.into_iter();
    while let (Some(k), Some(v)) = (it.next(), it.next()) {
        out.push((k, v));
    }
    out
}

fn parse_at(buf: &[u8], pos: &mut usize, depth: usize) -> Result<Option<Frame>, String> {
    if depth > MAX_DEPTH {
        return Err("frame nested too deeply".into());
    }
    if *pos >= buf.len() {
        return Ok(None);
    }
    let prefix = buf[*pos];
    let mut p = *pos + 1;
    let line = need!(read_line(buf, &mut p));
    let frame = match prefix {
        b'+' => Frame::Simple(line.to_vec()),
        b'-' => Frame::Error(line.to_vec()),
        b':' => Frame::Integer(parse_int(line)?),
        b',' => Frame::Double(line.to_vec()),
        b'(' => Frame::BigNumber(line.to_vec()),
        b'_' if line.is_empty() => Frame::Null,
        b'#' if line == b"t" => Frame::Boolean(true),
        b'#' if line == b"f" => Frame::Boolean(false),
        b'$' => match parse_int(line)? {
            -1 => Frame::NullBulk,
            n => Frame::Bulk(need!(read_blob(buf, &mut p, n))),
        },
        b'!' => Frame::BlobError(need!(read_blob(buf, &mut p, parse_int(line)?))),
        b'=' => Frame::Verbatim(need!(read_blob(buf, &mut p, parse_int(line)?))),
        b'*' => match parse_int(line)? {
            -1 => Frame::NullArray,
            n => Frame::Array(need!(parse_items(buf, &mut p, n, depth))),
        },
        b'~' => Frame::Set(need!(parse_items(buf, &mut p, parse_int(line)?, depth))),
        b'>' => Frame::Push(need!(parse_items(buf, &mut p, parse_int(line)?, depth))),
        b'%' | b'|' => {
            let n = parse_int(line)?;
            if n < 0 {
                return Err(format!("negative map length {n}"));
            }
            let items = pairs(need!(parse_items(buf, &mut p, n * 2, depth)));
            if prefix == b'%' {
                Frame::Map(items)
            } else {
                let inner = need!(parse_at(buf, &mut p, depth + 1));
                Frame::Attribute(items, Box::new(inner))
            }
        }
        other => {
            return Err(format!(
                "unknown RESP type byte {}",
                escape(std::slice::from_ref(&other))
            ))
        }
    };
    *pos = p;
    Ok(Some(frame))
}

/// Render bytes as a Rust byte-string literal: `b"*2\r\n$3\r\nfoo\r\n..."`.
pub fn escape(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() + 3);
    s.push_str("b\"");
    for &b in bytes {
        match b {
            b'\r' => s.push_str("\\r"),
            b'\n' => s.push_str("\\n"),
            b'\t' => s.push_str("\\t"),
            b'\\' => s.push_str("\\\\"),
            b'"' => s.push_str("\\\""),
            0x20..=0x7e => s.push(b as char),
            _ => s.push_str(&format!("\\x{b:02x}")),
        }
    }
    s.push('"');
    s
}

/// Same RESP type tree: same frame kinds everywhere, same aggregate lengths,
/// same map keys (map keys are field names, i.e. structure); scalar values may
/// differ. Returns a description of the first difference.
pub fn shape_diff(a: &Frame, b: &Frame, path: &str) -> Option<String> {
    use Frame::*;
    if a.kind() != b.kind() {
        return Some(format!("{path}: {} vs {}", a.kind(), b.kind()));
    }
    let seq = |x: &[Frame], y: &[Frame]| -> Option<String> {
        if x.len() != y.len() {
            return Some(format!("{path}: length {} vs {}", x.len(), y.len()));
        }
        x.iter()
            .zip(y)
            .enumerate()
            .find_map(|(i, (p, q))| shape_diff(p, q, &format!("{path}[{i}]")))
    };
    let maps = |x: &[(Frame, Frame)], y: &[(Frame, Frame)]| -> Option<String> {
        if x.len() != y.len() {
            return Some(format!("{path}: {} entries vs {}", x.len(), y.len()));
        }
        x.iter().zip(y).enumerate().find_map(|(i, (p, q))| {
            if p.0 != q.0 {
                return Some(format!("{path}: key #{i} is {} vs {}", p.0, q.0));
            }
            let key = p.0.as_text().unwrap_or_else(|| i.to_string());
            shape_diff(&p.1, &q.1, &format!("{path}.{key}"))
        })
    };
    match (a, b) {
        (Array(x), Array(y)) | (Set(x), Set(y)) | (Push(x), Push(y)) => seq(x, y),
        (Map(x), Map(y)) => maps(x, y),
        (Attribute(x, f), Attribute(y, g)) => maps(x, y).or_else(|| shape_diff(f, g, path)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip(bytes: &[u8]) -> Frame {
        let (f, n) = parse(bytes).unwrap().unwrap();
        assert_eq!(n, bytes.len());
        assert_eq!(f.encode(), bytes);
        for cut in 0..bytes.len() {
            assert_eq!(parse(&bytes[..cut]).unwrap(), None, "cut at {cut}");
        }
        f
    }

    #[test]
    fn parses_all_types() {
        roundtrip(b"+OK\r\n");
        roundtrip(b"-ERR x\r\n");
        roundtrip(b":-12\r\n");
        roundtrip(b"$3\r\na\r\n\r\n");
        roundtrip(b"$-1\r\n");
        roundtrip(b"*-1\r\n");
        roundtrip(b"*2\r\n$1\r\na\r\n*0\r\n");
        roundtrip(b"%1\r\n+a\r\n~2\r\n:1\r\n,1.5\r\n");
        roundtrip(b">2\r\n+message\r\n_\r\n");
        roundtrip(b"#t\r\n");
        roundtrip(b"(123456789012345678901234567890\r\n");
        roundtrip(b"!5\r\nERR x\r\n");
        roundtrip(b"=7\r\ntxt:abc\r\n");
        roundtrip(b"|1\r\n+k\r\n+v\r\n:1\r\n");
    }

    #[test]
    fn leaves_trailing_bytes() {
        let (f, n) = parse(b"+PONG\r\n+PONG\r\n").unwrap().unwrap();
        assert_eq!(f, Frame::Simple(b"PONG".to_vec()));
        assert_eq!(n, 7);
    }

    #[test]
    fn rejects_garbage() {
        assert!(parse(b"?x\r\n").is_err());
        assert!(parse(b"+x\n").is_err());
        assert!(parse(b"$1\r\nab\r\n").is_err());
    }
}
