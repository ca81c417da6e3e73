//! Ready-made predicates for [`crate::check`] and [`crate::pair`].

use crate::resp::{shape_diff, Frame};

/// An integer reply in `lo..=hi`.
pub fn int_between(lo: i64, hi: i64) -> impl Fn(&Frame) -> Result<(), String> + Send + Sync {
    move |f| match f {
        Frame::Integer(n) if (lo..=hi).contains(n) => Ok(()),
        Frame::Integer(n) => Err(format!("{n} not in {lo}..={hi}")),
        other => Err(format!("expected an integer, got {other}")),
    }
}

/// A bulk (or verbatim) string containing a line starting with each of
/// `prefixes` (e.g. `"# Server"`, `"redis_version:"`, `"loading:0"`).
pub fn has_lines(
    prefixes: &'static [&'static str],
) -> impl Fn(&Frame) -> Result<(), String> + Send + Sync {
    move |f| {
        let text = match f {
            Frame::Bulk(b) => String::from_utf8_lossy(b).into_owned(),
            Frame::Verbatim(b) => String::from_utf8_lossy(b.get(4..).unwrap_or(b)).into_owned(),
            other => return Err(format!("expected a bulk string, got {}", other.kind())),
        };
        let missing: Vec<&str> = prefixes
            .iter()
            .copied()
            .filter(|p| !text.split("\r\n").any(|l| l.starts_with(p)))
            .collect();
        if missing.is_empty() {
            Ok(())
        } else {
            Err(format!("missing lines starting with {missing:?}"))
        }
    }
}

/// A bulk (or verbatim) string in which no line starts with any of `prefixes`.
pub fn lacks_lines(
    prefixes: &'static [&'static str],
) -> impl Fn(&Frame) -> Result<(), String> + Send + Sync {
    move |f| {
        let text = f.as_text().unwrap_or_default();
        let found: Vec<&str> = prefixes
            .iter()
            .copied()
            .filter(|p| text.split("\r\n").any(|l| l.starts_with(p)))
            .collect();
        if found.is_empty() {
            Ok(())
        } else {
            Err(format!("unexpected lines starting with {found:?}"))
        }
    }
}

/// An error reply starting with `prefix`.
pub fn error_starting(prefix: &'static str) -> impl Fn(&Frame) -> Result<(), String> + Send + Sync {
    move |f| match f {
        Frame::Error(e) if e.starts_with(prefix.as_bytes()) => Ok(()),
        other => Err(format!(
            "expected an error starting with {prefix:?}, got {other}"
        )),
    }
}

/// For field/value replies (a RESP3 map, or a RESP2 flat array of
/// alternating names and values, like HELLO or CLIENT INFO-style replies):
/// the same field names in the same order, values of the same shape, and the
/// values of `exact` fields byte-identical.
pub fn same_fields(
    exact: &'static [&'static str],
) -> impl Fn(&Frame, &Frame) -> Result<(), String> + Send + Sync {
    move |a, b| {
        let (fa, fb) = (fields(a)?, fields(b)?);
        let names = |v: &[(Frame, Frame)]| -> Vec<String> {
            v.iter().map(|(k, _)| k.to_string()).collect()
        };
        if names(&fa) != names(&fb) {
            return Err(format!(
                "field names differ: {:?} vs {:?}",
                names(&fa),
                names(&fb)
            ));
        }
        for ((k, va), (_, vb)) in fa.iter().zip(&fb) {
            let name = k.as_text().unwrap_or_default();
            if exact.contains(&name.as_str()) {
                if va != vb {
                    return Err(format!("field {name}: {va} vs {vb}"));
                }
            } else if let Some(d) = shape_diff(va, vb, &name) {
                return Err(format!("field {name}: {d}"));
            }
        }
        Ok(())
    }
}

fn fields(f: &Frame) -> Result<Vec<(Frame, Frame)>, String> {
    match f {
        Frame::Map(m) => Ok(m.clone()),
        Frame::Array(v) if v.len() % 2 == 0 => {
            Ok(v.chunks(2).map(|c| (c[0].clone(), c[1].clone())).collect())
        }
        other => Err(format!("expected a map or a flat field list, got {other}")),
    }
}

/// The `# Section` header lines of an INFO reply, in order.
pub fn info_sections(f: &Frame) -> Result<Vec<String>, String> {
    let text = match f {
        Frame::Bulk(b) => String::from_utf8_lossy(b).into_owned(),
        Frame::Verbatim(b) => String::from_utf8_lossy(b.get(4..).unwrap_or(b)).into_owned(),
        other => return Err(format!("expected a bulk string, got {}", other.kind())),
    };
    Ok(text
        .split("\r\n")
        .filter(|l| l.starts_with("# "))
        .map(str::to_string)
        .collect())
}

/// INFO replies: same RESP type (bulk in RESP2, verbatim `txt` in RESP3),
/// the same `# Section` headers in the same order, and both containing a
/// line starting with each of `required`. Sluice's own last section,
/// `# Sluice` (the store's figures, in its default and `all` INFO the way a
/// module's section is), is left out of the comparison.
pub fn same_info(
    required: &'static [&'static str],
) -> impl Fn(&Frame, &Frame) -> Result<(), String> + Send + Sync {
    let lines = has_lines(required);
    move |a, b| {
        if a.kind() != b.kind() {
            return Err(format!("types differ: {} vs {}", a.kind(), b.kind()));
        }
        if let (Frame::Verbatim(x), Frame::Verbatim(y)) = (a, b) {
            if x.get(..4) != y.get(..4) {
                return Err("verbatim formats differ".into());
            }
        }
        let sa = info_sections(a)?;
        let mut sb = info_sections(b)?;
        if sb.last().is_some_and(|s| s == "# Sluice") {
            sb.pop();
        }
        if sa != sb {
            return Err(format!("sections differ: {sa:?} vs {sb:?}"));
        }
        lines(a).map_err(|e| format!("case bug: redis reply {e}"))?;
        lines(b).map_err(|e| format!("sluice reply {e}"))
    }
}

/// A `<CMD> HELP` reply: an array of status lines, opening with Redis's header line and closing
/// with the HELP entry. The lines in between list what each server implements, so they are not
/// compared.
pub fn help_lines(cmd: &'static str) -> impl Fn(&Frame) -> Result<(), String> + Send + Sync {
    move |f| {
        let Frame::Array(items) = f else {
            return Err(format!("expected an array, got {}", f.kind()));
        };
        let lines: Vec<String> = items
            .iter()
            .map(|i| match i {
                Frame::Simple(s) => Ok(String::from_utf8_lossy(s).into_owned()),
                other => Err(format!("expected status lines, got {}", other.kind())),
            })
            .collect::<Result<_, _>>()?;
        let header = format!("{cmd} <subcommand> [<arg> [value] [opt] ...]. Subcommands are:");
        if lines.first() != Some(&header) {
            return Err(format!(
                "first line {:?}, expected {header:?}",
                lines.first()
            ));
        }
        if lines.len() < 3
            || lines[lines.len() - 2] != "HELP"
            || lines[lines.len() - 1] != "    Prints this help."
        {
            return Err("the reply must end with the HELP entry".into());
        }
        Ok(())
    }
}

/// For replies holding field/value lists (RESP2 flat arrays like Disque's SHOW and QSTAT, at any
/// depth, e.g. inside JSCAN's reply, or RESP3 maps): everything byte-identical, except the
/// values of the fields named in `shape_only`, which need only the same shape (RESP type,
/// aggregate length), and those named in `near` with a tolerance, which must be integers at
/// most that far apart (e.g. a TTL in seconds read a moment apart). A field is a bulk or status
/// string at an even index of an array, or a map key.
pub fn same_but(
    shape_only: &'static [&'static str],
    near: &'static [(&'static str, i64)],
) -> impl Fn(&Frame, &Frame) -> Result<(), String> + Send + Sync {
    move |a, b| same_but_at(a, b, "reply", shape_only, near)
}

fn field_name(f: &Frame) -> Option<&[u8]> {
    match f {
        Frame::Bulk(s) | Frame::Simple(s) => Some(s),
        _ => None,
    }
}

fn same_but_at(
    a: &Frame,
    b: &Frame,
    path: &str,
    shape_only: &[&str],
    near: &[(&str, i64)],
) -> Result<(), String> {
    let value = |name: Option<&[u8]>, va: &Frame, vb: &Frame, p: &str| -> Result<(), String> {
        let name = name.map(|n| String::from_utf8_lossy(n).into_owned());
        if let Some(n) = &name {
            if shape_only.contains(&n.as_str()) {
                return match shape_diff(va, vb, p) {
                    None => Ok(()),
                    Some(d) => Err(format!("shapes differ: {d}")),
                };
            }
            if let Some((_, tol)) = near.iter().find(|(f, _)| f == n) {
                return match (va, vb) {
                    (Frame::Integer(x), Frame::Integer(y)) if (x - y).abs() <= *tol => Ok(()),
                    _ => Err(format!(
                        "{p}: {va} vs {vb} (integers at most {tol} apart expected)"
                    )),
                };
            }
        }
        same_but_at(va, vb, p, shape_only, near)
    };
    match (a, b) {
        (Frame::Array(x), Frame::Array(y)) => {
            if x.len() != y.len() {
                return Err(format!("{path}: length {} vs {}", x.len(), y.len()));
            }
            let mut i = 0;
            while i < x.len() {
                // A field name is followed by its value.
                let name = field_name(&x[i]).filter(|n| Some(*n) == field_name(&y[i]));
                let is_field = name.is_some_and(|n| {
                    let n = String::from_utf8_lossy(n);
                    shape_only.contains(&n.as_ref()) || near.iter().any(|(f, _)| *f == n)
                });
                if is_field && i % 2 == 0 && i + 1 < x.len() {
                    let p = format!("{path}.{}", String::from_utf8_lossy(name.unwrap()));
                    value(name, &x[i + 1], &y[i + 1], &p)?;
                    i += 2;
                } else {
                    same_but_at(&x[i], &y[i], &format!("{path}[{i}]"), shape_only, near)?;
                    i += 1;
                }
            }
            Ok(())
        }
        (Frame::Map(x), Frame::Map(y)) => {
            if x.len() != y.len() {
                return Err(format!("{path}: {} entries vs {}", x.len(), y.len()));
            }
            for ((ka, va), (kb, vb)) in x.iter().zip(y) {
                if ka != kb {
                    return Err(format!("{path}: key {ka} vs {kb}"));
                }
                let p = format!("{path}.{ka}");
                value(field_name(ka), va, vb, &p)?;
            }
            Ok(())
        }
        _ if a == b => Ok(()),
        _ => Err(format!("{path}: {a} vs {b}")),
    }
}

/// A `[cursor, [items…]]` reply (SCAN-like: Disque's QSCAN, JSCAN): the same cursor and the
/// same items in any order (hash-table order differs between servers).
pub fn scan_reply_unordered(a: &Frame, b: &Frame) -> Result<(), String> {
    let parts = |f: &Frame| -> Result<(Frame, Vec<Vec<u8>>), String> {
        match f {
            Frame::Array(v) if v.len() == 2 => match &v[1] {
                Frame::Array(items) => {
                    let mut e: Vec<Vec<u8>> = items.iter().map(Frame::encode).collect();
                    e.sort();
                    Ok((v[0].clone(), e))
                }
                other => Err(format!("items: expected an array, got {other}")),
            },
            other => Err(format!("expected [cursor, items], got {other}")),
        }
    };
    if a.kind() != b.kind() {
        return Err(format!("types differ: {} vs {}", a.kind(), b.kind()));
    }
    if !matches!(a, Frame::Array(_)) {
        return if a == b {
            Ok(())
        } else {
            Err(format!("{a} vs {b}"))
        };
    }
    let ((ca, ia), (cb, ib)) = (parts(a)?, parts(b)?);
    if ca != cb {
        return Err(format!("cursors differ: {ca} vs {cb}"));
    }
    if ia != ib {
        return Err(format!(
            "items differ: {} vs {} items, or other items",
            ia.len(),
            ib.len()
        ));
    }
    Ok(())
}
