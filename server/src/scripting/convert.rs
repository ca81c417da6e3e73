//! The conversions between Lua values and RESP, exactly as Redis 7.0 does them
//! (`script_lua.c`): a command's reply (bytes in the script's protocol) into a Lua value for
//! `redis.call`, and a script's return value into the caller's reply.
//!
//! Reply → Lua (built on the C API in `raw.rs`, one protected call per reply): integer → number; bulk → string; null bulk / null array → false; status →
//! `{ok=…}`; error → `{err=…}`; array → table (a RESP3 null element leaves a hole); RESP3 map
//! → `{map={…}}`, set → `{set={k=true}}`, double → `{double=n}`, boolean → boolean, big
//! number → `{big_number=…}`, verbatim → `{verbatim_string={format=…, string=…}}`, null → nil.
//!
//! Lua → reply: string → bulk; number → integer (truncated); boolean → `:1` / null under
//! RESP2 scripts, true/false under `setresp(3)`; table → `err`, `ok`, `double`, `big_number`,
//! `verbatim_string`, `map`, `set` fields in that order, else an array up to the first nil;
//! anything else → null.

use mlua::{Table, Value};
use sluice_resp::ReplyWriter;

/// Nesting beyond this is answered with an error element (Redis fails on its C stack).
const MAX_DEPTH: usize = 1000;

/// -2^63 and 2^63 as doubles.
pub(crate) const I64_LOW: f64 = -9_223_372_036_854_775_808.0;
pub(crate) const I64_HIGH: f64 = 9_223_372_036_854_775_808.0;

/// `(long long)` of a Lua number as x86-64 converts it (out of range and NaN give i64::MIN).
fn to_i64(n: f64) -> i64 {
    if !(I64_LOW..I64_HIGH).contains(&n) {
        i64::MIN
    } else {
        n as i64
    }
}

fn str_field(t: &Table, name: &str) -> Option<mlua::String> {
    match t.raw_get::<Value>(name) {
        Ok(Value::String(s)) => Some(s),
        _ => None,
    }
}

fn map_crlf(b: &[u8]) -> String {
    String::from_utf8_lossy(b).replace(['\r', '\n'], " ")
}

/// Writes a script's value as the caller's reply (`resp3`: the script called setresp(3)).
pub fn write_lua(out: &mut ReplyWriter, v: &Value, resp3: bool, depth: usize) {
    if depth > MAX_DEPTH {
        out.error("ERR reached lua stack limit");
        return;
    }
    match v {
        Value::String(s) => out.bulk(&s.as_bytes()),
        Value::Boolean(b) => {
            if resp3 {
                if out.is_resp3() {
                    out.boolean(*b)
                } else {
                    out.int(i64::from(*b))
                }
            } else if *b {
                out.int(1)
            } else {
                out.null()
            }
        }
        Value::Integer(n) => out.int(*n),
        Value::Number(n) => out.int(to_i64(*n)),
        Value::Table(t) => write_table(out, t, resp3, depth),
        _ => out.null(),
    }
}

fn write_table(out: &mut ReplyWriter, t: &Table, resp3: bool, depth: usize) {
    if let Some(e) = str_field(t, "err") {
        // addReplyErrorFormat("-%s"): trailing CR/LF trimmed, the others become spaces.
        let b = e.as_bytes();
        let end = b
            .iter()
            .rposition(|&c| c != b'\r' && c != b'\n')
            .map_or(0, |p| p + 1);
        out.error(&map_crlf(&b[..end]));
        return;
    }
    if let Some(s) = str_field(t, "ok") {
        out.simple(&map_crlf(&s.as_bytes()));
        return;
    }
    // A number only (Redis checks for LUA_TNUMBER); read as the double itself, since mlua
    // hands a whole number over as an integer, which loses -0's sign.
    if let Ok(Value::Number(_) | Value::Integer(_)) = t.raw_get::<Value>("double") {
        if let Ok(d) = t.raw_get::<f64>("double") {
            return write_double(out, d);
        }
    }
    if let Some(s) = str_field(t, "big_number") {
        let text = map_crlf(&s.as_bytes());
        if out.is_resp3() {
            out.raw(format!("({text}\r\n").as_bytes());
        } else {
            out.bulk(text.as_bytes());
        }
        return;
    }
    if let Ok(Value::Table(v)) = t.raw_get::<Value>("verbatim_string") {
        if let (Some(f), Some(s)) = (str_field(&v, "format"), str_field(&v, "string")) {
            let mut f = f.to_string_lossy();
            f.truncate(3);
            while f.len() < 3 {
                f.push(' ');
            }
            out.verbatim(&f, &s.as_bytes());
            return;
        }
    }
    if let Ok(Value::Table(m)) = t.raw_get::<Value>("map") {
        let pairs: Vec<(Value, Value)> = m.pairs::<Value, Value>().filter_map(Result::ok).collect();
        out.map(pairs.len());
        for (k, v) in &pairs {
            write_lua(out, k, resp3, depth + 1);
            write_lua(out, v, resp3, depth + 1);
        }
        return;
    }
    if let Ok(Value::Table(s)) = t.raw_get::<Value>("set") {
        let keys: Vec<Value> = s
            .pairs::<Value, Value>()
            .filter_map(Result::ok)
            .map(|(k, _)| k)
            .collect();
        out.set(keys.len());
        for k in &keys {
            write_lua(out, k, resp3, depth + 1);
        }
        return;
    }
    let mut items = Vec::new();
    let mut i = 1;
    loop {
        match t.raw_get::<Value>(i) {
            Ok(Value::Nil) | Err(_) => break,
            Ok(v) => items.push(v),
        }
        i += 1;
    }
    out.array(items.len());
    for v in &items {
        write_lua(out, v, resp3, depth + 1);
    }
}

/// A double as Redis 7.0's addReplyDouble writes it: `%.17g` (`inf`/`-inf`), a bulk string
/// under RESP2.
fn write_double(out: &mut ReplyWriter, d: f64) {
    let text = if d.is_infinite() {
        if d > 0.0 {
            "inf".to_string()
        } else {
            "-inf".to_string()
        }
    } else {
        String::from_utf8_lossy(&super::format_number(d)).into_owned()
    };
    if out.is_resp3() {
        out.raw(format!(",{text}\r\n").as_bytes());
    } else {
        out.bulk(text.as_bytes());
    }
}
