//! INFO's fields against Redis 7.0.15: in every section both servers print, the fields Sluice
//! prints (except its own, `sluice_*`) are Redis's, in Redis's order (Sluice leaves out fields
//! it has no true value for, so it may print fewer); `# Latencystats` has one line per command
//! called, `latency_percentiles_usec_<cmd>:p50=…,p99=…,p99.9=…` as Redis formats it, following
//! `latency-tracking` and `latency-tracking-info-percentiles`. Values differ between servers
//! (timings, counters, sizes), so only names, order and number formats are compared.
//!
//! Isolated: CONFIG RESETSTAT and CONFIG SET change server-wide state (restored in each case).

use redis_compat_tests::*;

/// An INFO reply's text.
fn text(f: &Frame) -> Result<String, String> {
    match f {
        Frame::Bulk(b) => Ok(String::from_utf8_lossy(b).into_owned()),
        Frame::Verbatim(b) => Ok(String::from_utf8_lossy(b.get(4..).unwrap_or(b)).into_owned()),
        other => Err(format!("expected a bulk string, got {}", other.kind())),
    }
}

/// Section header → its field names, in order.
fn sections(f: &Frame) -> Result<Vec<(String, Vec<String>)>, String> {
    let mut out: Vec<(String, Vec<String>)> = Vec::new();
    for line in text(f)?.split("\r\n") {
        if let Some(h) = line.strip_prefix("# ") {
            out.push((h.to_string(), Vec::new()));
        } else if let Some((name, _)) = line.split_once(':') {
            match out.last_mut() {
                Some((_, fields)) => fields.push(name.to_string()),
                None => return Err(format!("field {name:?} before any section")),
            }
        }
    }
    Ok(out)
}

/// Sections whose lines are named after data (keys, commands, errors): their names are
/// compared by the cases that make that data, not here.
const DATA_SECTIONS: &[&str] = &["Keyspace", "Commandstats", "Errorstats", "Latencystats"];

/// Every Sluice field of a section Redis also prints is one of Redis's, in Redis's order.
fn redis_fields_in_order(redis: &Frame, sluice: &Frame) -> Result<(), String> {
    let r = sections(redis)?;
    let s = sections(sluice)?;
    for (name, fields) in &s {
        if DATA_SECTIONS.contains(&name.as_str()) {
            continue;
        }
        let Some((_, theirs)) = r.iter().find(|(n, _)| n == name) else {
            continue;
        };
        let mut at = 0;
        for f in fields.iter().filter(|f| !f.starts_with("sluice_")) {
            match theirs[at..].iter().position(|t| t == f) {
                Some(i) => at += i + 1,
                None if theirs.contains(f) => {
                    return Err(format!("# {name}: {f} is out of Redis's order"))
                }
                None => return Err(format!("# {name}: {f} is not a Redis 7.0 field")),
            }
        }
    }
    Ok(())
}

/// `name:p<a>=<n.nnn>,p<b>=<n.nnn>` → (name, [p<a>, p<b>]), checking the number format.
fn latency_line(line: &str) -> Result<(String, Vec<String>), String> {
    let (name, rest) = line
        .split_once(':')
        .ok_or(format!("not a field line: {line:?}"))?;
    let mut keys = Vec::new();
    for item in rest.split(',').filter(|i| !i.is_empty()) {
        let (k, v) = item
            .split_once('=')
            .ok_or(format!("{line:?}: {item:?} is not p<n>=<value>"))?;
        let (int, frac) = v
            .split_once('.')
            .ok_or(format!("{line:?}: {v:?} is not %.3f"))?;
        if int.is_empty()
            || !int.bytes().all(|b| b.is_ascii_digit())
            || frac.len() != 3
            || !frac.bytes().all(|b| b.is_ascii_digit())
        {
            return Err(format!("{line:?}: {v:?} is not %.3f"));
        }
        keys.push(k.to_string());
    }
    Ok((name.to_string(), keys))
}

/// `# Latencystats`: the same commands (in any order: Redis prints them in its command table's
/// hash order) with the same percentile names.
fn same_latencystats(redis: &Frame, sluice: &Frame) -> Result<(), String> {
    let lines = |f: &Frame| -> Result<Vec<(String, Vec<String>)>, String> {
        let mut v: Vec<_> = text(f)?
            .split("\r\n")
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(latency_line)
            .collect::<Result<_, _>>()?;
        v.sort();
        Ok(v)
    };
    let (r, s) = (lines(redis)?, lines(sluice)?);
    if r != s {
        return Err(format!("redis {r:?} vs sluice {s:?}"));
    }
    Ok(())
}

fn fields(cmd: &str) -> Step {
    pair(
        cmd,
        "Redis's field names in Redis's order",
        redis_fields_in_order,
    )
}

fn latency(cmd: &str) -> Step {
    pair(
        cmd,
        "the same commands and percentiles, %.3f values",
        same_latencystats,
    )
}

#[rustfmt::skip]
fn cases() -> Vec<Case> {
    vec![
        case("info_fields_in_redis_order", &[
            step("SET a 1"), step("XADD s 1-1 f v"), step("GET a"),
            fields("INFO"), fields("INFO everything"), fields("INFO stats"), fields("INFO clients"), fields("INFO cpu"),
            fields("INFO replication"), fields("INFO server"), fields("INFO persistence"),
        ]),
        case("info_latencystats", &[
            step("CONFIG RESETSTAT"), latency("INFO latencystats"),
            step("SET a 1"), step("GET a"), step("GET a"), step("XADD s 1-1 f v"), step("CONFIG GET maxmemory"),
            latency("INFO latencystats"),
            step("CONFIG SET latency-tracking-info-percentiles \"0 12.5 100\""), step("CONFIG GET latency-tracking-info-percentiles"),
            latency("INFO latencystats"),
            step("CONFIG SET latency-tracking-info-percentiles \"\""), step("CONFIG GET latency-tracking-info-percentiles"),
            latency("INFO latencystats"),
            step("CONFIG SET latency-tracking-info-percentiles \"50.0 99.90 1e1\""), step("CONFIG GET latency-tracking-info-percentiles"),
            // Not tracked: no line for a command first called now.
            step("CONFIG SET latency-tracking no"), step("CONFIG GET latency-tracking"), step("STRLEN a"),
            latency("INFO latencystats"),
            step("CONFIG SET latency-tracking yes"), step("STRLEN a"), latency("INFO latencystats"),
            step("CONFIG RESETSTAT"), latency("INFO latencystats"),
            step("CONFIG SET latency-tracking-info-percentiles \"50 99 99.9\""),
        ]),
        case("latency_tracking_config_errors", &[
            "CONFIG SET latency-tracking maybe", "CONFIG SET latency-tracking-info-percentiles \"50 x\"",
            "CONFIG SET latency-tracking-info-percentiles 101", "CONFIG SET latency-tracking-info-percentiles -1",
            "CONFIG SET latency-tracking-info-percentiles \" 50\"", "CONFIG SET latency-tracking-info-percentiles \"50  99\"",
            "CONFIG SET latency-tracking-info-percentiles nan", "CONFIG SET latency-tracking-info-percentiles 50,99",
            "CONFIG GET latency-tracking-info-percentiles", "CONFIG GET latency-tracking", "%CONFIG GET latency-tracking*",
        ]),
        // Start-only in Redis: refused whatever the value (before looking at it), as are the
        // other parameters Redis cannot change at runtime.
        case("unixsocket_config", &[
            "CONFIG GET unixsocket", "CONFIG GET unixsocketperm", "%CONFIG GET unixsocket*",
            "CONFIG SET unixsocket /tmp/x.sock", "CONFIG SET unixsocketperm 700", "CONFIG SET unixsocketperm 800",
            "CONFIG SET databases abc", "CONFIG SET databases 16", "CONFIG SET daemonize maybe", "CONFIG SET tcp-backlog x",
            "CONFIG SET io-threads 0", "CONFIG SET logfile x", "CONFIG SET pidfile x",
        ]),
        // disable-thp: yes by default, start-only.
        case("disable_thp_config", &[
            "CONFIG GET disable-thp", "CONFIG SET disable-thp no", "CONFIG SET disable-thp yes",
            "CONFIG SET disable-thp maybe", "CONFIG GET disable-thp",
        ]),
    ]
}

fn main() {
    run_isolated(cases());
}
