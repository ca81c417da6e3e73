//! The per-call conversions on Lua's C API, each in ONE protected call (`Lua::exec_raw`):
//! building KEYS/ARGV and turning a command's reply into a Lua value. Through mlua's safe API
//! every string and table store is its own protected call (a C closure pushed and pcalled), which
//! was most of a small script's cost. The conversion rules are listed in `convert.rs`.
//!
//! Safety rules for the functions below: they run inside `exec_raw`'s protected call, so a Lua
//! error (out of memory) longjmps out of them; they therefore hold nothing that needs dropping
//! (only borrowed slices and integers), and check the stack before pushing.

use std::os::raw::c_int;

use mlua::ffi;

/// Deeper replies become nil (none of the commands nests anywhere near this).
const MAX_DEPTH: usize = 64;

unsafe fn push_bytes(l: *mut ffi::lua_State, b: &[u8]) {
    ffi::lua_pushlstring_(l, b.as_ptr().cast(), b.len());
}

/// Pushes a table of strings (KEYS or ARGV).
pub unsafe fn push_strings(l: *mut ffi::lua_State, items: &[bytes::Bytes]) {
    ffi::lua_createtable(l, items.len().min(c_int::MAX as usize) as c_int, 0);
    for (i, it) in items.iter().enumerate() {
        push_bytes(l, it);
        ffi::lua_rawseti_(l, -2, (i + 1) as c_int);
    }
}

fn line(buf: &[u8], pos: &mut usize) -> Option<(usize, usize)> {
    let rest = buf.get(*pos..)?;
    let end = rest.windows(2).position(|w| w == b"\r\n")?;
    let start = *pos;
    *pos += end + 2;
    Some((start, start + end))
}

fn int(b: &[u8]) -> Option<i64> {
    std::str::from_utf8(b).ok()?.parse().ok()
}

/// Pushes `{err="CODE msg"}` for an error line `CODE msg` (or `msg`: code ERR), the message's
/// surrounding CR/LF trimmed, and `ignore_error_stats_update=true`, as Redis.
unsafe fn push_error(l: *mut ffi::lua_State, e: &[u8]) {
    let (code, msg): (&[u8], &[u8]) = match e.iter().position(|&b| b == b' ') {
        Some(sp) => (&e[..sp], &e[sp + 1..]),
        None => (b"ERR", e),
    };
    let nl = |b: &u8| *b == b'\r' || *b == b'\n';
    let start = msg.iter().position(|b| !nl(b)).unwrap_or(msg.len());
    let end = msg.iter().rposition(|b| !nl(b)).map_or(start, |p| p + 1);
    ffi::lua_createtable(l, 0, 0);
    push_bytes(l, code);
    push_bytes(l, b" ");
    push_bytes(l, &msg[start..end.max(start)]);
    ffi::lua_concat(l, 3);
    ffi::lua_setfield(l, -2, c"err".as_ptr());
    ffi::lua_pushboolean(l, 1);
    ffi::lua_setfield(l, -2, c"ignore_error_stats_update".as_ptr());
}

/// Pushes `{err="ERR msg"}` for a script error (Redis's luaPushError of a text without code).
pub unsafe fn push_plain_error(l: *mut ffi::lua_State, msg: &[u8]) {
    let nl = |b: &u8| *b == b'\r' || *b == b'\n';
    let start = msg.iter().position(|b| !nl(b)).unwrap_or(msg.len());
    let end = msg.iter().rposition(|b| !nl(b)).map_or(start, |p| p + 1);
    ffi::lua_createtable(l, 0, 1);
    push_bytes(l, b"ERR ");
    push_bytes(l, &msg[start..end.max(start)]);
    ffi::lua_concat(l, 2);
    ffi::lua_setfield(l, -2, c"err".as_ptr());
}

/// Pushes `{<field> = <top of stack>}` in place of the top value.
unsafe fn wrap_field(l: *mut ffi::lua_State, field: &std::ffi::CStr) {
    ffi::lua_createtable(l, 0, 1);
    ffi::lua_insert(l, -2);
    ffi::lua_setfield(l, -2, field.as_ptr());
}

/// Pushes the value of the reply at `pos` (exactly one value; nil for a malformed reply).
///
/// Every table is built as Redis builds it: an empty table (`lua_newtable`), then one insertion
/// per element in reply order, a RESP3 null element included. How a Lua table grew decides where
/// its keys sit, so this is what makes a map's iteration order (which the conversion back to a
/// reply follows) and `#` of an array holding RESP3 nulls the same as Redis's; a table
/// preallocated to its size gave XINFO GROUPS's fields in another order after
/// `redis.setresp(3)`.
pub unsafe fn push_reply(l: *mut ffi::lua_State, buf: &[u8], pos: &mut usize, depth: usize) {
    if ffi::lua_checkstack(l, 6) == 0 || depth > MAX_DEPTH || *pos >= buf.len() {
        if ffi::lua_checkstack(l, 1) != 0 {
            ffi::lua_pushnil(l);
        }
        *pos = buf.len();
        return;
    }
    let kind = buf[*pos];
    *pos += 1;
    let Some((s, e)) = line(buf, pos) else {
        ffi::lua_pushnil(l);
        *pos = buf.len();
        return;
    };
    let text = &buf[s..e];
    match kind {
        b':' => ffi::lua_pushnumber(l, int(text).unwrap_or(0) as f64),
        b'+' => {
            push_bytes(l, text);
            wrap_field(l, c"ok");
        }
        b'-' => push_error(l, text),
        b'$' | b'=' => {
            let n = int(text).unwrap_or(-1);
            if n < 0 {
                ffi::lua_pushboolean(l, 0);
                return;
            }
            let end = pos.saturating_add(n as usize);
            if end.saturating_add(2) > buf.len() {
                ffi::lua_pushnil(l);
                *pos = buf.len();
                return;
            }
            let data = &buf[*pos..end];
            *pos = end + 2;
            if kind == b'=' && data.len() >= 4 {
                ffi::lua_createtable(l, 0, 0);
                push_bytes(l, &data[4..]);
                ffi::lua_setfield(l, -2, c"string".as_ptr());
                push_bytes(l, &data[..3]);
                ffi::lua_setfield(l, -2, c"format".as_ptr());
                wrap_field(l, c"verbatim_string");
            } else {
                push_bytes(l, data);
            }
        }
        b'*' | b'>' => {
            let n = int(text).unwrap_or(-1);
            if n < 0 {
                ffi::lua_pushboolean(l, 0);
                return;
            }
            ffi::lua_createtable(l, 0, 0);
            for i in 0..n as usize {
                push_reply(l, buf, pos, depth + 1);
                // A RESP3 null element (nil) leaves a hole, as lua_settable with nil does.
                ffi::lua_rawseti_(l, -2, (i + 1).min(c_int::MAX as usize) as c_int);
            }
        }
        b'~' => {
            let n = int(text).unwrap_or(0).max(0) as usize;
            ffi::lua_createtable(l, 0, 0);
            for _ in 0..n {
                push_reply(l, buf, pos, depth + 1);
                if ffi::lua_type(l, -1) == ffi::LUA_TNIL {
                    ffi::lua_pop(l, 1);
                } else {
                    ffi::lua_pushboolean(l, 1);
                    ffi::lua_rawset(l, -3);
                }
            }
            wrap_field(l, c"set");
        }
        b'%' | b'|' => {
            let n = int(text).unwrap_or(0).max(0) as usize;
            ffi::lua_createtable(l, 0, 0);
            for _ in 0..n {
                push_reply(l, buf, pos, depth + 1);
                push_reply(l, buf, pos, depth + 1);
                if ffi::lua_type(l, -2) == ffi::LUA_TNIL {
                    ffi::lua_pop(l, 2);
                } else {
                    ffi::lua_rawset(l, -3);
                }
            }
            if kind == b'|' {
                // An attribute precedes the real reply, which is what the script gets.
                ffi::lua_pop(l, 1);
                return push_reply(l, buf, pos, depth);
            }
            wrap_field(l, c"map");
        }
        b'_' => ffi::lua_pushnil(l),
        b'#' => ffi::lua_pushboolean(l, c_int::from(text == b"t")),
        b',' => {
            let s = std::str::from_utf8(text).unwrap_or("0");
            let d = match s {
                "inf" => f64::INFINITY,
                "-inf" => f64::NEG_INFINITY,
                "nan" => f64::NAN,
                s => s.parse().unwrap_or(0.0),
            };
            ffi::lua_pushnumber(l, d);
            wrap_field(l, c"double");
        }
        b'(' => {
            push_bytes(l, text);
            wrap_field(l, c"big_number");
        }
        _ => {
            ffi::lua_pushnil(l);
            *pos = buf.len();
        }
    }
}
