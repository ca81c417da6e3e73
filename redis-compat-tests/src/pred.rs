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
/// line starting with each of `required`.
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
        let (sa, sb) = (info_sections(a)?, info_sections(b)?);
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
