//! The libraries Redis ships in its Lua environment, written in Rust against mlua with the
//! outputs of Redis 7.0's C versions: `cjson` (lua-cjson 2.1.0 as Redis configures it:
//! numbers as `%.14g`, `/` escaped, an empty table is `{}`, sparse arrays refused),
//! `cmsgpack` (lua-cmsgpack 0.4.0: smallest integer encodings, float32 when exact, tables
//! with keys 1..n as arrays), `bit` (LuaBitOp 1.0.2) and `struct` (struct 0.2). Errors are the C libraries' texts; the
//! prelude wraps every function so they carry the script's position, as `luaL_error` does.

use mlua::{LightUserData, Lua, MultiValue, Table, Value};

fn err<T>(msg: impl Into<String>) -> mlua::Result<T> {
    Err(mlua::Error::RuntimeError(msg.into()))
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Nil => "nil",
        Value::Boolean(_) => "boolean",
        Value::LightUserData(_) | Value::UserData(_) => "userdata",
        Value::Integer(_) | Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Table(_) => "table",
        Value::Function(_) => "function",
        Value::Thread(_) => "thread",
        _ => "userdata",
    }
}

fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Integer(n) => Some(*n as f64),
        Value::Number(n) => Some(*n),
        Value::String(s) => std::str::from_utf8(&s.as_bytes())
            .ok()
            .and_then(|s| s.trim().parse::<f64>().ok()),
        _ => None,
    }
}

/// `printf("%.14g", n)`.
fn fmt_g14(n: f64) -> String {
    let mut buf = [0u8; 64];
    // SAFETY: a 64-byte buffer, snprintf bounded by its length, one double for one `%g`.
    let len = unsafe { libc::snprintf(buf.as_mut_ptr().cast(), buf.len(), c"%.14g".as_ptr(), n) };
    String::from_utf8_lossy(&buf[..(len.max(0) as usize).min(63)]).into_owned()
}

/// `cjson.null`: a light userdata holding NULL, as in Redis.
fn json_null() -> Value {
    Value::LightUserData(LightUserData(std::ptr::null_mut()))
}

// ---------------------------------------------------------------------------------------------
// cjson

const MAX_DEPTH: usize = 1000;

fn json_string(out: &mut Vec<u8>, s: &[u8]) {
    out.push(b'"');
    for &b in s {
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'/' => out.extend_from_slice(b"\\/"),
            8 => out.extend_from_slice(b"\\b"),
            9 => out.extend_from_slice(b"\\t"),
            10 => out.extend_from_slice(b"\\n"),
            12 => out.extend_from_slice(b"\\f"),
            13 => out.extend_from_slice(b"\\r"),
            0..=31 | 127 => out.extend_from_slice(format!("\\u{b:04x}").as_bytes()),
            _ => out.push(b),
        }
    }
    out.push(b'"');
}

fn json_number(out: &mut Vec<u8>, n: f64) -> mlua::Result<()> {
    if !n.is_finite() {
        return err("Cannot serialise number: must not be NaN or Inf");
    }
    out.extend_from_slice(fmt_g14(n).as_bytes());
    Ok(())
}

/// lua-cjson's `lua_array_length`: the array length, or None for an object.
fn array_length(t: &Table) -> mlua::Result<Option<usize>> {
    let (mut max, mut items) = (0f64, 0usize);
    for pair in t.clone().pairs::<Value, Value>() {
        let (k, _) = pair?;
        let k = match k {
            Value::Integer(n) => n as f64,
            Value::Number(n) => n,
            _ => return Ok(None),
        };
        if k.floor() != k || k < 1.0 {
            return Ok(None);
        }
        max = max.max(k);
        items += 1;
    }
    if max > (items * 2) as f64 && max > 10.0 {
        return err("Cannot serialise table: excessively sparse array");
    }
    Ok(if max > 0.0 { Some(max as usize) } else { None })
}

fn json_encode(out: &mut Vec<u8>, v: &Value, depth: usize) -> mlua::Result<()> {
    match v {
        Value::String(s) => json_string(out, &s.as_bytes()),
        Value::Integer(n) => json_number(out, *n as f64)?,
        Value::Number(n) => json_number(out, *n)?,
        Value::Boolean(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Value::Nil => out.extend_from_slice(b"null"),
        Value::LightUserData(p) if p.0.is_null() => out.extend_from_slice(b"null"),
        Value::Table(t) => {
            let depth = depth + 1;
            if depth > MAX_DEPTH {
                return err(format!("Cannot serialise, excessive nesting ({depth})"));
            }
            if let Some(len) = array_length(t)? {
                out.push(b'[');
                for i in 1..=len {
                    if i > 1 {
                        out.push(b',');
                    }
                    json_encode(out, &t.raw_get::<Value>(i)?, depth)?;
                }
                out.push(b']');
            } else {
                out.push(b'{');
                let mut first = true;
                for pair in t.clone().pairs::<Value, Value>() {
                    let (k, val) = pair?;
                    if !first {
                        out.push(b',');
                    }
                    first = false;
                    match &k {
                        Value::Integer(_) | Value::Number(_) => {
                            out.push(b'"');
                            json_number(out, number(&k).unwrap_or(0.0))?;
                            out.extend_from_slice(b"\":");
                        }
                        Value::String(s) => {
                            json_string(out, &s.as_bytes());
                            out.push(b':');
                        }
                        other => {
                            return err(format!(
                                "Cannot serialise {}: table key must be a number or string",
                                type_name(other)
                            ))
                        }
                    }
                    json_encode(out, &val, depth)?;
                }
                out.push(b'}');
            }
        }
        other => {
            return err(format!(
                "Cannot serialise {}: type not supported",
                type_name(other)
            ))
        }
    }
    Ok(())
}

#[derive(Debug)]
enum Tok {
    ObjBegin,
    ObjEnd,
    ArrBegin,
    ArrEnd,
    Str(Vec<u8>),
    Num(f64),
    Bool(bool),
    Null,
    Colon,
    Comma,
    End,
    Error(&'static str),
}

impl Tok {
    fn name(&self) -> &'static str {
        match self {
            Tok::ObjBegin => "T_OBJ_BEGIN",
            Tok::ObjEnd => "T_OBJ_END",
            Tok::ArrBegin => "T_ARR_BEGIN",
            Tok::ArrEnd => "T_ARR_END",
            Tok::Str(_) => "T_STRING",
            Tok::Num(_) => "T_NUMBER",
            Tok::Bool(_) => "T_BOOLEAN",
            Tok::Null => "T_NULL",
            Tok::Colon => "T_COLON",
            Tok::Comma => "T_COMMA",
            Tok::End => "T_END",
            Tok::Error(e) => e,
        }
    }
}

struct Json<'a> {
    s: &'a [u8],
    pos: usize,
}

impl Json<'_> {
    /// The next token and the index where it starts.
    fn next(&mut self) -> (Tok, usize) {
        while self.pos < self.s.len() && matches!(self.s[self.pos], b' ' | b'\t' | b'\n' | b'\r') {
            self.pos += 1;
        }
        let start = self.pos;
        let Some(&c) = self.s.get(self.pos) else {
            return (Tok::End, start);
        };
        let simple = match c {
            b'{' => Some(Tok::ObjBegin),
            b'}' => Some(Tok::ObjEnd),
            b'[' => Some(Tok::ArrBegin),
            b']' => Some(Tok::ArrEnd),
            b':' => Some(Tok::Colon),
            b',' => Some(Tok::Comma),
            _ => None,
        };
        if let Some(t) = simple {
            self.pos += 1;
            return (t, start);
        }
        if c == b'"' {
            // An error inside a string is reported where it is (cjson's json_set_token_error).
            return match self.string() {
                Ok(t) => (t, start),
                Err((e, at)) => (Tok::Error(e), at),
            };
        }
        if c == b'-' || c.is_ascii_digit() {
            let end = self.s[start..]
                .iter()
                .position(|b| !matches!(b, b'0'..=b'9' | b'+' | b'-' | b'.' | b'e' | b'E'))
                .map_or(self.s.len(), |p| start + p);
            // strtod reads the longest prefix that is a number.
            let text = std::str::from_utf8(&self.s[start..end]).unwrap_or("");
            let mut best = None;
            for cut in (1..=text.len()).rev() {
                if let Ok(n) = text[..cut].parse::<f64>() {
                    best = Some((n, cut));
                    break;
                }
            }
            return match best {
                Some((n, cut)) => {
                    self.pos = start + cut;
                    (Tok::Num(n), start)
                }
                None => (Tok::Error("invalid number"), start),
            };
        }
        for (word, tok) in [
            (&b"true"[..], Tok::Bool(true)),
            (b"false", Tok::Bool(false)),
            (b"null", Tok::Null),
        ] {
            if self.s[start..].starts_with(word) {
                self.pos += word.len();
                return (tok, start);
            }
        }
        (Tok::Error("invalid token"), start)
    }

    fn hex4(&self, at: usize) -> Option<u32> {
        let h = self.s.get(at..at + 4)?;
        u32::from_str_radix(std::str::from_utf8(h).ok()?, 16).ok()
    }

    fn string(&mut self) -> Result<Tok, (&'static str, usize)> {
        let mut out = Vec::new();
        let mut i = self.pos + 1;
        loop {
            let Some(&c) = self.s.get(i) else {
                return Err(("unexpected end of string", i));
            };
            match c {
                b'"' => {
                    self.pos = i + 1;
                    return Ok(Tok::Str(out));
                }
                b'\\' => {
                    let Some(&e) = self.s.get(i + 1) else {
                        return Err(("unexpected end of string", i));
                    };
                    let simple = match e {
                        b'"' => Some(b'"'),
                        b'\\' => Some(b'\\'),
                        b'/' => Some(b'/'),
                        b'b' => Some(8),
                        b'f' => Some(12),
                        b'n' => Some(b'\n'),
                        b'r' => Some(b'\r'),
                        b't' => Some(b'\t'),
                        _ => None,
                    };
                    if let Some(b) = simple {
                        out.push(b);
                        i += 2;
                        continue;
                    }
                    if e != b'u' {
                        return Err(("invalid escape code", i));
                    }
                    let esc = i;
                    let Some(mut cp) = self.hex4(i + 2) else {
                        return Err(("invalid unicode escape code", esc));
                    };
                    i += 6;
                    if (0xD800..0xDC00).contains(&cp) {
                        let low = (self.s.get(i) == Some(&b'\\')
                            && self.s.get(i + 1) == Some(&b'u'))
                        .then(|| self.hex4(i + 2))
                        .flatten();
                        match low {
                            Some(l) if (0xDC00..0xE000).contains(&l) => {
                                cp = 0x10000 + ((cp - 0xD800) << 10) + (l - 0xDC00);
                                i += 6;
                            }
                            _ => return Err(("invalid unicode escape code", esc)),
                        }
                    } else if (0xDC00..0xE000).contains(&cp) {
                        return Err(("invalid unicode escape code", esc));
                    }
                    let ch = char::from_u32(cp).unwrap_or('\u{fffd}');
                    let mut b = [0u8; 4];
                    out.extend_from_slice(ch.encode_utf8(&mut b).as_bytes());
                }
                _ => {
                    out.push(c);
                    i += 1;
                }
            }
        }
    }
}

fn parse_error<T>(expected: &str, tok: &Tok, at: usize) -> mlua::Result<T> {
    err(format!(
        "Expected {expected} but found {} at character {}",
        tok.name(),
        at + 1
    ))
}

fn json_value(
    lua: &Lua,
    j: &mut Json<'_>,
    tok: Tok,
    at: usize,
    depth: usize,
) -> mlua::Result<Value> {
    Ok(match tok {
        Tok::Str(s) => Value::String(lua.create_string(&s)?),
        Tok::Num(n) => Value::Number(n),
        Tok::Bool(b) => Value::Boolean(b),
        Tok::Null => json_null(),
        Tok::ObjBegin | Tok::ArrBegin => {
            let depth = depth + 1;
            if depth > MAX_DEPTH {
                return err(format!(
                    "Found too many nested data structures ({depth}) at character {}",
                    at + 1
                ));
            }
            let t = lua.create_table()?;
            let object = matches!(tok, Tok::ObjBegin);
            let (mut tok, mut at) = j.next();
            if object {
                if matches!(tok, Tok::ObjEnd) {
                    return Ok(Value::Table(t));
                }
                loop {
                    let Tok::Str(key) = tok else {
                        return parse_error("object key string", &tok, at);
                    };
                    let (colon, cat) = j.next();
                    if !matches!(colon, Tok::Colon) {
                        return parse_error("colon", &colon, cat);
                    }
                    let (vt, vat) = j.next();
                    let v = json_value(lua, j, vt, vat, depth)?;
                    t.raw_set(lua.create_string(&key)?, v)?;
                    let (sep, sat) = j.next();
                    match sep {
                        Tok::ObjEnd => return Ok(Value::Table(t)),
                        Tok::Comma => {}
                        other => return parse_error("comma or object end", &other, sat),
                    }
                    (tok, at) = j.next();
                }
            } else {
                if matches!(tok, Tok::ArrEnd) {
                    return Ok(Value::Table(t));
                }
                let mut i = 1;
                loop {
                    let v = json_value(lua, j, tok, at, depth)?;
                    t.raw_set(i, v)?;
                    i += 1;
                    let (sep, sat) = j.next();
                    match sep {
                        Tok::ArrEnd => return Ok(Value::Table(t)),
                        Tok::Comma => {}
                        other => return parse_error("comma or array end", &other, sat),
                    }
                    (tok, at) = j.next();
                }
            }
        }
        other => return parse_error("value", &other, at),
    })
}

fn cjson(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.raw_set(
        "encode",
        lua.create_function(|lua, args: MultiValue| {
            if args.len() != 1 {
                return err("bad argument #1 to 'encode' (expected 1 argument)");
            }
            let mut out = Vec::new();
            json_encode(&mut out, &args[0], 0)?;
            lua.create_string(&out)
        })?,
    )?;
    t.raw_set(
        "decode",
        lua.create_function(|lua, args: MultiValue| {
            if args.len() != 1 {
                return err("bad argument #1 to 'decode' (expected 1 argument)");
            }
            let s = match &args[0] {
                Value::String(s) => s.as_bytes().to_vec(),
                v @ (Value::Integer(_) | Value::Number(_)) => {
                    fmt_g14(number(v).unwrap_or(0.0)).into_bytes()
                }
                other => {
                    return err(format!(
                        "bad argument #1 to 'decode' (string expected, got {})",
                        type_name(other)
                    ))
                }
            };
            if s.len() >= 2 && (s[0] == 0 || s[1] == 0) {
                return err("JSON parser does not support UTF-16 or UTF-32");
            }
            let mut j = Json { s: &s, pos: 0 };
            let (tok, at) = j.next();
            let v = json_value(lua, &mut j, tok, at, 0)?;
            let (end, eat) = j.next();
            if !matches!(end, Tok::End) {
                return parse_error("the end", &end, eat);
            }
            Ok(v)
        })?,
    )?;
    t.raw_set("null", json_null())?;
    Ok(t)
}

// ---------------------------------------------------------------------------------------------
// cmsgpack

const MSGPACK_MAX_NESTING: usize = 16;

fn mp_int(out: &mut Vec<u8>, n: i64) {
    if n >= 0 {
        if n <= 127 {
            out.push(n as u8);
        } else if n <= 0xff {
            out.extend_from_slice(&[0xcc, n as u8]);
        } else if n <= 0xffff {
            out.push(0xcd);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        } else if n <= 0xffff_ffff {
            out.push(0xce);
            out.extend_from_slice(&(n as u32).to_be_bytes());
        } else {
            out.push(0xcf);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    } else if n >= -32 {
        out.push(n as i8 as u8);
    } else if n >= -128 {
        out.extend_from_slice(&[0xd0, n as i8 as u8]);
    } else if n >= -32768 {
        out.push(0xd1);
        out.extend_from_slice(&(n as i16).to_be_bytes());
    } else if n >= -2_147_483_648 {
        out.push(0xd2);
        out.extend_from_slice(&(n as i32).to_be_bytes());
    } else {
        out.push(0xd3);
        out.extend_from_slice(&n.to_be_bytes());
    }
}

fn mp_number(out: &mut Vec<u8>, n: f64) {
    // IS_INT64_EQUIVALENT: an integral value that fits an int64.
    if n.is_finite()
        && n.floor() == n
        && (super::convert::I64_LOW..super::convert::I64_HIGH).contains(&n)
    {
        return mp_int(out, n as i64);
    }
    let f = n as f32;
    if f64::from(f) == n || (n.is_nan() && f.is_nan()) {
        out.push(0xca);
        out.extend_from_slice(&f.to_be_bytes());
    } else {
        out.push(0xcb);
        out.extend_from_slice(&n.to_be_bytes());
    }
}

fn mp_len(out: &mut Vec<u8>, n: usize, fix: u8, fixmax: usize, b16: u8, b32: u8) {
    if n <= fixmax {
        out.push(fix | n as u8);
    } else if n <= 0xffff {
        out.push(b16);
        out.extend_from_slice(&(n as u16).to_be_bytes());
    } else {
        out.push(b32);
        out.extend_from_slice(&(n as u32).to_be_bytes());
    }
}

fn mp_encode(out: &mut Vec<u8>, v: &Value, level: usize) -> mlua::Result<()> {
    match v {
        Value::String(s) => {
            let b = s.as_bytes();
            let n = b.len();
            if n < 32 {
                out.push(0xa0 | n as u8);
            } else if n <= 0xff {
                out.extend_from_slice(&[0xd9, n as u8]);
            } else if n <= 0xffff {
                out.push(0xda);
                out.extend_from_slice(&(n as u16).to_be_bytes());
            } else {
                out.push(0xdb);
                out.extend_from_slice(&(n as u32).to_be_bytes());
            }
            out.extend_from_slice(&b);
        }
        Value::Boolean(b) => out.push(if *b { 0xc3 } else { 0xc2 }),
        Value::Integer(n) => mp_number(out, *n as f64),
        Value::Number(n) => mp_number(out, *n),
        Value::Table(t) if level < MSGPACK_MAX_NESTING => {
            // table_is_an_array: every key a positive integer and count == max.
            let (mut count, mut max, mut array) = (0usize, 0f64, true);
            for pair in t.clone().pairs::<Value, Value>() {
                let (k, _) = pair?;
                match number(&k).filter(|_| matches!(k, Value::Integer(_) | Value::Number(_))) {
                    Some(n) if n > 0.0 && n.floor() == n => {
                        max = max.max(n);
                        count += 1;
                    }
                    _ => {
                        array = false;
                        break;
                    }
                }
            }
            if array && max == count as f64 {
                let len = t.raw_len();
                mp_len(out, len, 0x90, 15, 0xdc, 0xdd);
                for i in 1..=len {
                    mp_encode(out, &t.raw_get::<Value>(i)?, level + 1)?;
                }
            } else {
                let pairs: Vec<(Value, Value)> = t
                    .clone()
                    .pairs::<Value, Value>()
                    .collect::<mlua::Result<_>>()?;
                mp_len(out, pairs.len(), 0x80, 15, 0xde, 0xdf);
                for (k, v) in &pairs {
                    mp_encode(out, k, level + 1)?;
                    mp_encode(out, v, level + 1)?;
                }
            }
        }
        _ => out.push(0xc0),
    }
    Ok(())
}

struct Unpacker<'a> {
    s: &'a [u8],
    pos: usize,
}

impl Unpacker<'_> {
    fn take(&mut self, n: usize) -> mlua::Result<&[u8]> {
        if self.s.len() - self.pos < n {
            return err("Missing bytes in input.");
        }
        let b = &self.s[self.pos..self.pos + n];
        self.pos += n;
        Ok(b)
    }

    fn be(&mut self, n: usize) -> mlua::Result<u64> {
        Ok(self
            .take(n)?
            .iter()
            .fold(0u64, |a, &b| a << 8 | u64::from(b)))
    }

    fn value(&mut self, lua: &Lua) -> mlua::Result<Value> {
        let c = self.take(1)?[0];
        Ok(match c {
            0x00..=0x7f => Value::Number(f64::from(c)),
            0x80..=0x8f => self.map(lua, usize::from(c & 0x0f))?,
            0x90..=0x9f => self.array(lua, usize::from(c & 0x0f))?,
            0xa0..=0xbf => self.str(lua, usize::from(c & 0x1f))?,
            0xc0 => Value::Nil,
            0xc2 => Value::Boolean(false),
            0xc3 => Value::Boolean(true),
            0xc4 | 0xd9 => {
                let n = self.be(1)? as usize;
                self.str(lua, n)?
            }
            0xc5 | 0xda => {
                let n = self.be(2)? as usize;
                self.str(lua, n)?
            }
            0xc6 | 0xdb => {
                let n = self.be(4)? as usize;
                self.str(lua, n)?
            }
            0xca => Value::Number(f64::from(f32::from_bits(self.be(4)? as u32))),
            0xcb => Value::Number(f64::from_bits(self.be(8)?)),
            0xcc => Value::Number(self.be(1)? as f64),
            0xcd => Value::Number(self.be(2)? as f64),
            0xce => Value::Number(self.be(4)? as f64),
            0xcf => Value::Number(self.be(8)? as f64),
            0xd0 => Value::Number(f64::from(self.be(1)? as u8 as i8)),
            0xd1 => Value::Number(f64::from(self.be(2)? as u16 as i16)),
            0xd2 => Value::Number(f64::from(self.be(4)? as u32 as i32)),
            0xd3 => Value::Number(self.be(8)? as i64 as f64),
            0xdc => {
                let n = self.be(2)? as usize;
                self.array(lua, n)?
            }
            0xdd => {
                let n = self.be(4)? as usize;
                self.array(lua, n)?
            }
            0xde => {
                let n = self.be(2)? as usize;
                self.map(lua, n)?
            }
            0xdf => {
                let n = self.be(4)? as usize;
                self.map(lua, n)?
            }
            0xe0..=0xff => Value::Number(f64::from(c as i8)),
            _ => return err("Bad data format in input."),
        })
    }

    fn str(&mut self, lua: &Lua, n: usize) -> mlua::Result<Value> {
        let b = self.take(n)?.to_vec();
        Ok(Value::String(lua.create_string(&b)?))
    }

    fn array(&mut self, lua: &Lua, n: usize) -> mlua::Result<Value> {
        let t = lua.create_table()?;
        for i in 1..=n {
            let v = self.value(lua)?;
            t.raw_set(i, v)?;
        }
        Ok(Value::Table(t))
    }

    fn map(&mut self, lua: &Lua, n: usize) -> mlua::Result<Value> {
        let t = lua.create_table()?;
        for _ in 0..n {
            let k = self.value(lua)?;
            let v = self.value(lua)?;
            if !matches!(k, Value::Nil) {
                t.raw_set(k, v)?;
            }
        }
        Ok(Value::Table(t))
    }
}

fn cmsgpack(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.raw_set(
        "pack",
        lua.create_function(|lua, args: MultiValue| {
            if args.is_empty() {
                return err("bad argument #0 to 'pack' (MessagePack pack needs input.)");
            }
            let mut out = Vec::new();
            for a in args.iter() {
                mp_encode(&mut out, a, 0)?;
            }
            lua.create_string(&out)
        })?,
    )?;
    let unpack = |limit: Option<usize>, offset: bool| {
        move |lua: &Lua, args: MultiValue| -> mlua::Result<MultiValue> {
            let s = match args.front() {
                Some(Value::String(s)) => s.as_bytes().to_vec(),
                other => {
                    return err(format!(
                        "bad argument #1 to 'unpack' (string expected, got {})",
                        other.map_or("no value", type_name)
                    ))
                }
            };
            let limit = limit.or_else(|| args.get(1).and_then(number).map(|n| n as usize));
            let start = if offset {
                args.get(2).and_then(number).unwrap_or(0.0) as usize
            } else {
                0
            };
            let mut u = Unpacker {
                s: &s,
                pos: start.min(s.len()),
            };
            let mut out = MultiValue::new();
            let mut n = 0;
            while u.pos < s.len() && limit.is_none_or(|l| l == 0 || n < l) {
                out.push_back(u.value(lua)?);
                n += 1;
            }
            if offset {
                let next = if u.pos >= s.len() { -1.0 } else { u.pos as f64 };
                out.push_front(Value::Number(next));
            }
            Ok(out)
        }
    };
    t.raw_set("unpack", lua.create_function(unpack(None, false))?)?;
    t.raw_set("unpack_one", lua.create_function(unpack(Some(1), true))?)?;
    t.raw_set("unpack_limit", lua.create_function(unpack(None, true))?)?;
    Ok(t)
}

// ---------------------------------------------------------------------------------------------
// bit (LuaBitOp)

/// LuaBitOp's argument normalisation: the number modulo 2^32, as a signed 32-bit value.
fn tobit(v: Option<&Value>, i: usize, fname: &str) -> mlua::Result<i32> {
    let Some(n) = v.and_then(number) else {
        let got = v.map_or("no value", type_name);
        return err(format!(
            "bad argument #{i} to '{fname}' (number expected, got {got})"
        ));
    };
    let d = n + 6_755_399_441_055_744.0;
    Ok(d.to_bits() as u32 as i32)
}

fn bit(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    type Op = fn(i32, i32) -> i32;
    let fold = |name: &'static str, op: Op| {
        move |_: &Lua, args: MultiValue| -> mlua::Result<f64> {
            let mut acc = tobit(args.front(), 1, name)?;
            for (i, a) in args.iter().enumerate().skip(1) {
                acc = op(acc, tobit(Some(a), i + 1, name)?);
            }
            Ok(f64::from(acc))
        }
    };
    t.raw_set("band", lua.create_function(fold("band", |a, b| a & b))?)?;
    t.raw_set("bor", lua.create_function(fold("bor", |a, b| a | b))?)?;
    t.raw_set("bxor", lua.create_function(fold("bxor", |a, b| a ^ b))?)?;
    t.raw_set(
        "tobit",
        lua.create_function(|_, args: MultiValue| Ok(f64::from(tobit(args.front(), 1, "tobit")?)))?,
    )?;
    t.raw_set(
        "bnot",
        lua.create_function(|_, args: MultiValue| Ok(f64::from(!tobit(args.front(), 1, "bnot")?)))?,
    )?;
    t.raw_set(
        "bswap",
        lua.create_function(|_, args: MultiValue| {
            Ok(f64::from(tobit(args.front(), 1, "bswap")?.swap_bytes()))
        })?,
    )?;
    let shift = |name: &'static str, op: fn(u32, u32) -> u32| {
        move |_: &Lua, args: MultiValue| -> mlua::Result<f64> {
            let b = tobit(args.front(), 1, name)? as u32;
            let n = tobit(args.get(1), 2, name)? as u32 & 31;
            Ok(f64::from(op(b, n) as i32))
        }
    };
    t.raw_set(
        "lshift",
        lua.create_function(shift("lshift", |b, n| b << n))?,
    )?;
    t.raw_set(
        "rshift",
        lua.create_function(shift("rshift", |b, n| b >> n))?,
    )?;
    t.raw_set(
        "arshift",
        lua.create_function(shift("arshift", |b, n| ((b as i32) >> n) as u32))?,
    )?;
    t.raw_set(
        "rol",
        lua.create_function(shift("rol", |b, n| b.rotate_left(n)))?,
    )?;
    t.raw_set(
        "ror",
        lua.create_function(shift("ror", |b, n| b.rotate_right(n)))?,
    )?;
    t.raw_set(
        "tohex",
        lua.create_function(|lua, args: MultiValue| {
            let b = tobit(args.front(), 1, "tohex")? as u32;
            let mut n = match args.get(1) {
                None | Some(Value::Nil) => 8,
                v => tobit(v, 2, "tohex")?,
            };
            let upper = n < 0;
            if upper {
                n = -n;
            }
            let n = n.clamp(0, 8) as usize;
            let s = if upper {
                format!("{b:08X}")
            } else {
                format!("{b:08x}")
            };
            lua.create_string(&s[8 - n..])
        })?,
    )?;
    Ok(t)
}

// ---------------------------------------------------------------------------------------------
// struct (Roberto Ierusalimschy's struct 0.2, as Redis ships it): native = little endian,
// `long` and `size_t` 8 bytes, `int` 4, maximum alignment 8.

const MAXINTSIZE: usize = 32;
const MAXALIGN: usize = 8;

struct Header {
    big: bool,
    align: usize,
}

fn getnum(fmt: &[u8], i: &mut usize, default: usize) -> mlua::Result<usize> {
    if !fmt.get(*i).is_some_and(u8::is_ascii_digit) {
        return Ok(default);
    }
    let mut a: usize = 0;
    while let Some(d) = fmt.get(*i).filter(|c| c.is_ascii_digit()) {
        let d = usize::from(d - b'0');
        if a > (i32::MAX as usize) / 10 || a * 10 > i32::MAX as usize - d {
            return err("integral size overflow");
        }
        a = a * 10 + d;
        *i += 1;
    }
    Ok(a)
}

fn optsize(opt: u8, fmt: &[u8], i: &mut usize) -> mlua::Result<usize> {
    Ok(match opt {
        b'B' | b'b' => 1,
        b'H' | b'h' => 2,
        b'L' | b'l' | b'T' => 8,
        b'f' => 4,
        b'd' => 8,
        b'x' => 1,
        b'c' => getnum(fmt, i, 1)?,
        b'i' | b'I' => {
            let sz = getnum(fmt, i, 4)?;
            if sz > MAXINTSIZE {
                return err(format!(
                    "integral size {sz} is larger than limit of {MAXINTSIZE}"
                ));
            }
            sz
        }
        _ => 0,
    })
}

fn gettoalign(len: usize, h: &Header, opt: u8, size: usize) -> usize {
    if size == 0 || opt == b'c' {
        return 0;
    }
    let size = size.min(h.align);
    (size - (len & (size - 1))) & (size - 1)
}

fn controloptions(
    opt: u8,
    fmt: &[u8],
    i: &mut usize,
    h: &mut Header,
    fname: &str,
) -> mlua::Result<()> {
    match opt {
        b' ' => {}
        b'>' => h.big = true,
        b'<' => h.big = false,
        b'!' => {
            let a = getnum(fmt, i, MAXALIGN)?;
            if !a.is_power_of_two() {
                return err(format!("alignment {a} is not a power of 2"));
            }
            h.align = a;
        }
        _ => {
            return err(format!(
                "bad argument #1 to '{fname}' (invalid format option '{}')",
                opt as char
            ))
        }
    }
    Ok(())
}

fn check_number(args: &MultiValue, arg: usize, fname: &str) -> mlua::Result<f64> {
    let v = args.get(arg - 1);
    v.and_then(number).map_or_else(
        || {
            err(format!(
                "bad argument #{arg} to '{fname}' (number expected, got {})",
                v.map_or("no value", type_name)
            ))
        },
        Ok,
    )
}

fn check_bytes(args: &MultiValue, arg: usize, fname: &str) -> mlua::Result<Vec<u8>> {
    match args.get(arg - 1) {
        Some(Value::String(s)) => Ok(s.as_bytes().to_vec()),
        Some(v @ (Value::Integer(_) | Value::Number(_))) => {
            Ok(fmt_g14(number(v).unwrap_or(0.0)).into_bytes())
        }
        other => err(format!(
            "bad argument #{arg} to '{fname}' (string expected, got {})",
            other.map_or("no value", type_name)
        )),
    }
}

fn struct_pack(args: &MultiValue) -> mlua::Result<Vec<u8>> {
    let fmt = check_bytes(args, 1, "pack")?;
    let mut h = Header {
        big: false,
        align: 1,
    };
    let mut out = Vec::new();
    let mut arg = 2;
    let mut total = 0usize;
    let mut i = 0;
    while i < fmt.len() {
        let opt = fmt[i];
        i += 1;
        let mut size = optsize(opt, &fmt, &mut i)?;
        let toalign = gettoalign(total, &h, opt, size);
        total += toalign;
        out.resize(out.len() + toalign, 0);
        match opt {
            b'b' | b'B' | b'h' | b'H' | b'l' | b'L' | b'T' | b'i' | b'I' => {
                let n = check_number(args, arg, "pack")?;
                arg += 1;
                let mut value: u64 = if n < 0.0 { n as i64 as u64 } else { n as u64 };
                let mut buf = vec![0u8; size];
                if h.big {
                    for b in buf.iter_mut().rev() {
                        *b = (value & 0xff) as u8;
                        value = value.checked_shr(8).unwrap_or(0);
                    }
                } else {
                    for b in buf.iter_mut() {
                        *b = (value & 0xff) as u8;
                        value = value.checked_shr(8).unwrap_or(0);
                    }
                }
                out.extend_from_slice(&buf);
            }
            b'x' => out.push(0),
            b'f' => {
                let f = check_number(args, arg, "pack")? as f32;
                arg += 1;
                out.extend_from_slice(&if h.big {
                    f.to_be_bytes()
                } else {
                    f.to_le_bytes()
                });
            }
            b'd' => {
                let d = check_number(args, arg, "pack")?;
                arg += 1;
                out.extend_from_slice(&if h.big {
                    d.to_be_bytes()
                } else {
                    d.to_le_bytes()
                });
            }
            b'c' | b's' => {
                let s = check_bytes(args, arg, "pack")?;
                arg += 1;
                if size == 0 {
                    size = s.len();
                }
                if s.len() < size {
                    return err(format!("bad argument #{arg} to 'pack' (string too short)"));
                }
                out.extend_from_slice(&s[..size]);
                if opt == b's' {
                    out.push(0);
                    size += 1;
                }
            }
            _ => controloptions(opt, &fmt, &mut i, &mut h, "pack")?,
        }
        total += size;
    }
    Ok(out)
}

fn struct_unpack(lua: &Lua, args: &MultiValue) -> mlua::Result<MultiValue> {
    let fmt = check_bytes(args, 1, "unpack")?;
    let data = check_bytes(args, 2, "unpack")?;
    let ld = data.len();
    let start = match args.get(2) {
        None | Some(Value::Nil) => 1.0,
        Some(_) => check_number(args, 3, "unpack")?,
    };
    let mut pos = (start as i64 - 1) as usize;
    if start < 1.0 || pos > ld {
        return err("bad argument #3 to 'unpack' (offset must be 1 or greater)");
    }
    let mut h = Header {
        big: false,
        align: 1,
    };
    let mut out = MultiValue::new();
    let mut i = 0;
    while i < fmt.len() {
        let opt = fmt[i];
        i += 1;
        let mut size = optsize(opt, &fmt, &mut i)?;
        pos += gettoalign(pos, &h, opt, size);
        if !(size <= ld && pos <= ld - size) {
            return err("bad argument #2 to 'unpack' (data string too short)");
        }
        match opt {
            b'b' | b'B' | b'h' | b'H' | b'l' | b'L' | b'T' | b'i' | b'I' => {
                let bytes = &data[pos..pos + size];
                let mut l: u64 = 0;
                let iter: Box<dyn Iterator<Item = &u8>> = if h.big {
                    Box::new(bytes.iter())
                } else {
                    Box::new(bytes.iter().rev())
                };
                for &b in iter {
                    l = l.wrapping_shl(8) | u64::from(b);
                }
                let v = if opt.is_ascii_lowercase() && size > 0 && size <= 8 {
                    let mask = (!0u64).wrapping_shl((size * 8 - 1) as u32);
                    if l & mask != 0 {
                        l |= mask;
                    }
                    l as i64 as f64
                } else {
                    l as f64
                };
                out.push_back(Value::Number(v));
            }
            b'x' => {}
            b'f' => {
                let b: [u8; 4] = data[pos..pos + 4].try_into().unwrap_or([0; 4]);
                let f = if h.big {
                    f32::from_be_bytes(b)
                } else {
                    f32::from_le_bytes(b)
                };
                out.push_back(Value::Number(f64::from(f)));
            }
            b'd' => {
                let b: [u8; 8] = data[pos..pos + 8].try_into().unwrap_or([0; 8]);
                let d = if h.big {
                    f64::from_be_bytes(b)
                } else {
                    f64::from_le_bytes(b)
                };
                out.push_back(Value::Number(d));
            }
            b'c' => {
                if size == 0 {
                    let prev = out.back().and_then(number);
                    let Some(n) = prev.filter(|_| !out.is_empty()) else {
                        return err("format 'c0' needs a previous size");
                    };
                    out.pop_back();
                    size = n as usize;
                    if !(size <= ld && pos <= ld - size) {
                        return err("bad argument #2 to 'unpack' (data string too short)");
                    }
                }
                out.push_back(Value::String(lua.create_string(&data[pos..pos + size])?));
            }
            b's' => {
                let Some(e) = data[pos..].iter().position(|&b| b == 0) else {
                    return err("unfinished string in data");
                };
                size = e + 1;
                out.push_back(Value::String(lua.create_string(&data[pos..pos + e])?));
            }
            _ => controloptions(opt, &fmt, &mut i, &mut h, "unpack")?,
        }
        pos += size;
    }
    out.push_back(Value::Number((pos + 1) as f64));
    Ok(out)
}

fn struct_size(args: &MultiValue) -> mlua::Result<f64> {
    let fmt = check_bytes(args, 1, "size")?;
    let mut h = Header {
        big: false,
        align: 1,
    };
    let mut pos = 0usize;
    let mut i = 0;
    while i < fmt.len() {
        let opt = fmt[i];
        i += 1;
        let size = optsize(opt, &fmt, &mut i)?;
        pos += gettoalign(pos, &h, opt, size);
        if opt == b's' {
            return err("bad argument #1 to 'size' (option 's' has no fixed size)");
        } else if opt == b'c' && size == 0 {
            return err("bad argument #1 to 'size' (option 'c0' has no fixed size)");
        }
        if !opt.is_ascii_alphanumeric() {
            controloptions(opt, &fmt, &mut i, &mut h, "size")?;
        }
        pos += size;
    }
    Ok(pos as f64)
}

fn strukt(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.raw_set(
        "pack",
        lua.create_function(|lua, args: MultiValue| lua.create_string(struct_pack(&args)?))?,
    )?;
    t.raw_set(
        "unpack",
        lua.create_function(|lua, args: MultiValue| struct_unpack(lua, &args))?,
    )?;
    t.raw_set(
        "size",
        lua.create_function(|_, args: MultiValue| struct_size(&args))?,
    )?;
    Ok(t)
}

/// The library tables, by the global names Redis gives them.
pub fn create(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.raw_set("cjson", cjson(lua)?)?;
    t.raw_set("cmsgpack", cmsgpack(lua)?)?;
    t.raw_set("bit", bit(lua)?)?;
    t.raw_set("struct", strukt(lua)?)?;
    Ok(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn msgpack_integers_take_the_smallest_encoding() {
        let mut out = Vec::new();
        for n in [1, 300, 70000, -1, -100, -40000, -3_000_000_000] {
            mp_int(&mut out, n);
        }
        // As Redis 7.0.15's cmsgpack.pack(1, 300, 70000, -1, -100, -40000, -3000000000).
        assert_eq!(
            out,
            b"\x01\xcd\x01,\xce\x00\x01\x11p\xff\xd0\x9c\xd2\xff\xffc\xc0\xd3\xff\xff\xff\xffM/\xa2\x00"
        );
    }

    #[test]
    fn g14_formats_as_printf() {
        assert_eq!(fmt_g14(1.0 / 3.0), "0.33333333333333");
        assert_eq!(fmt_g14(1e20), "1e+20");
        assert_eq!(fmt_g14(-0.0), "-0");
    }
}
