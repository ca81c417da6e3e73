//! Output: markdown table, CSV files, SVG chart of the ratios.

use std::fmt::Write as _;
use std::path::Path;

use plotters::prelude::*;

use crate::model::{pair_ratios, summarize, Latency, Outcome, Row, Side, SideStatus};

/// About the run, for the header of the table.
#[derive(Clone, Debug, Default)]
pub struct RunInfo {
    pub date: String,
    pub mode: String,
    pub machine: String,
    pub sluice: String,
    pub redis: String,
    pub settings: String,
    pub duration: String,
}

fn status_cell(unit: crate::model::Unit, st: &SideStatus) -> String {
    match st {
        SideStatus::Measured(s) => {
            if s.ok_runs > 1 {
                format!(
                    "{} ({}–{})",
                    unit.fmt(s.median),
                    unit.fmt(s.min),
                    unit.fmt(s.max)
                )
            } else {
                unit.fmt(s.median)
            }
        }
        SideStatus::Unsupported(m) => format!("unsupported ({})", short(m, 60)),
        SideStatus::Failed(m) => format!("failed ({})", short(m, 60)),
        SideStatus::NotRun => "–".into(),
    }
}

fn short(s: &str, n: usize) -> String {
    let s = s.replace(['\n', '|'], " ");
    if s.chars().count() > n {
        format!("{}…", s.chars().take(n).collect::<String>())
    } else {
        s
    }
}

fn lat_cell(st: &SideStatus) -> String {
    match st {
        SideStatus::Measured(s) => match s.latency {
            Some(Latency { p50, p99, p999 }) => match p999 {
                Some(p) => format!("{} / {} / {}", ms(p50), ms(p99), ms(p)),
                None => format!("{} / {} / –", ms(p50), ms(p99)),
            },
            None => String::new(),
        },
        _ => String::new(),
    }
}

fn ms(v: f64) -> String {
    if v < 10.0 {
        format!("{v:.2}")
    } else if v < 100.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.0}")
    }
}

/// A ratio for people: two decimals, or `1/N` below 0.1 and `N×`-style integers above 100
/// (the fairness rows compare stalls of milliseconds with stalls of seconds).
pub fn fmt_ratio(m: f64) -> String {
    if m > 0.0 && m < 0.095 {
        format!("1/{:.0}", 1.0 / m)
    } else if m >= 100.0 {
        format!("{m:.0}")
    } else {
        format!("{m:.2}")
    }
}

fn ratio_cell(row: &Row) -> String {
    match pair_ratios(row) {
        Some((m, lo, hi, n)) if n > 1 => {
            format!("**{}** ({}–{})", fmt_ratio(m), fmt_ratio(lo), fmt_ratio(hi))
        }
        Some((m, _, _, _)) => format!("**{}**", fmt_ratio(m)),
        None if !row.comparable => "n/a (different work)".into(),
        None => "n/a".into(),
    }
}

/// The markdown report: header and one table per section.
pub fn markdown(info: &RunInfo, rows: &[Row]) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "## Sluice vs Redis — {} ({})\n", info.date, info.mode);
    let _ = writeln!(s, "- Machine: {}", info.machine);
    let _ = writeln!(s, "- Sluice side: {}", info.sluice);
    let _ = writeln!(s, "- Redis side: {}", info.redis);
    let _ = writeln!(s, "- Settings: {}", info.settings);
    if !info.duration.is_empty() {
        let _ = writeln!(s, "- Wall time: {}", info.duration);
    }
    let _ = writeln!(
        s,
        "\nEach cell: median (min–max) over the repetitions; the ratio is Sluice/Redis: the ratio of the \
         two medians shown, then in parentheses the min–max of the per-pair ratios of consecutive \
         runs (Sluice then Redis). For throughput a ratio \
         above 1 means Sluice is faster; for memory, disk, restart time and latencies (ms) a ratio \
         below 1 means Sluice uses less or answers sooner. Latencies are p50 / p99 / p999 in ms (redis-benchmark gives no p999)."
    );
    let sections = [
        "throughput",
        "memory",
        "disk",
        "restart",
        "fairness",
        crate::queues::SECTION,
    ];
    for sec in sections {
        let rs: Vec<&Row> = rows.iter().filter(|r| r.section == sec).collect();
        if rs.is_empty() {
            continue;
        }
        let _ = writeln!(s, "\n### {}\n", capitalize(sec));
        if sec == "fairness" {
            let _ = writeln!(s, "{FAIRNESS_ABOUT}\n");
        }
        if sec == "throughput" || sec == "fairness" {
            let _ = writeln!(
                s,
                "| Workload | fsync | Unit | Sluice | Redis | Sluice/Redis | Sluice p50/p99/p999 ms | Redis p50/p99/p999 ms |"
            );
            let _ = writeln!(s, "|---|---|---|---:|---:|---:|---:|---:|");
            for r in rs {
                let ss = summarize(&r.sluice);
                let rr = summarize(&r.redis);
                let _ = writeln!(
                    s,
                    "| {} | {} | {} | {} | {} | {} | {} | {} |",
                    r.name,
                    r.level,
                    r.unit.name(),
                    status_cell(r.unit, &ss),
                    status_cell(r.unit, &rr),
                    ratio_cell(r),
                    lat_cell(&ss),
                    lat_cell(&rr)
                );
            }
        } else {
            let _ = writeln!(
                s,
                "| Measure | fsync | Unit | Sluice | Redis | Sluice/Redis |"
            );
            let _ = writeln!(s, "|---|---|---|---:|---:|---:|");
            for r in rs {
                let _ = writeln!(
                    s,
                    "| {} | {} | {} | {} | {} | {} |",
                    r.name,
                    r.level,
                    r.unit.name(),
                    status_cell(r.unit, &summarize(&r.sluice)),
                    status_cell(r.unit, &summarize(&r.redis)),
                    ratio_cell(r)
                );
            }
        }
    }
    s += &jobs_table(rows);
    let notes: Vec<String> = rows
        .iter()
        .flat_map(|r| {
            Side::BOTH.into_iter().flat_map(move |side| {
                r.runs(side)
                    .iter()
                    .filter_map(|o| o.ok())
                    .filter(|o| !o.note.is_empty())
                    .take(1)
                    .map(move |o| {
                        format!(
                            "- {} ({}), {}: {}",
                            r.name,
                            r.level,
                            side_label(r, side),
                            o.note
                        )
                    })
            })
        })
        .collect();
    if !notes.is_empty() {
        let _ = writeln!(s, "\n### Notes (first run of each)\n");
        for n in notes {
            let _ = writeln!(s, "{n}");
        }
    }
    s
}

/// What the fairness rows measure (the counts are in the rows' names, the details in the notes).
const FAIRNESS_ABOUT: &str = "Both servers at `no` durability (Sluice `appendfsync no`, Redis \
without AOF). *XRANGE pipeline*: one client pipelines `XRANGE key - +` on a stream whose \
reply is about 5.8 MB, reads nothing for a while and then everything, while another client \
sends one PING every 10 ms (one in flight); PING latency and the server's peak RSS are over \
the pipeline's lifetime, lower is better. Redis builds every reply of a pipeline in memory \
(N × 5.8 MB), so its pipeline is shorter (see the row names) and either side's greedy \
connection is closed when the server's RSS passes the harness's limit (said in the notes): the \
greedy client's total time is then not comparable. *Blocked readers*: many connections \
blocked in `XREADGROUP ... BLOCK 0` on one stream and group (each woken reader takes its entry \
and blocks again) while one producer sends unpipelined `XADD`s as fast as it can; higher is \
better. *DEL of a big stream*: a stream appended by 50 unpipelined connections is deleted \
while another client sends one PING every millisecond (one in flight) for the next few \
seconds; the DEL's own round trip, and the PINGs' p99 and max, lower is better. Redis frees \
the stream inside DEL, Sluice in the background after answering it.";

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }
}

/// The jobs phase's rows: Sluice against Disque, in their own table.
fn jobs_table(rows: &[Row]) -> String {
    let rs: Vec<&Row> = rows
        .iter()
        .filter(|r| r.section == crate::jobs::SECTION)
        .collect();
    let mut s = String::new();
    if rs.is_empty() {
        return s;
    }
    let _ = writeln!(
        s,
        "\n### Job queue: Sluice vs Disque\n\n{}\n",
        crate::jobs::ABOUT
    );
    let _ = writeln!(
        s,
        "| Workload | fsync: Sluice / Disque | Unit | Sluice | Disque | Sluice/Disque | Sluice p50/p99/p999 ms | Disque p50/p99/p999 ms |"
    );
    let _ = writeln!(s, "|---|---|---|---:|---:|---:|---:|---:|");
    for r in rs {
        let ss = summarize(&r.sluice);
        let dd = summarize(&r.redis);
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} | {} | {} |",
            r.name,
            r.level,
            r.unit.name(),
            status_cell(r.unit, &ss),
            status_cell(r.unit, &dd),
            ratio_cell(r),
            lat_cell(&ss),
            lat_cell(&dd)
        );
    }
    s
}

/// The name of a row's side: the reference side of the jobs rows is Disque.
fn side_label(r: &Row, side: Side) -> &'static str {
    match side {
        Side::Redis if r.section == crate::jobs::SECTION => "disque",
        s => s.name(),
    }
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

fn opt(v: Option<f64>) -> String {
    v.map(|v| format!("{v}")).unwrap_or_default()
}

/// One line per row: medians, min, max, ratio.
pub fn summary_csv(rows: &[Row]) -> String {
    let mut s = String::from(
        "section,id,workload,fsync,unit,sluice_status,sluice_median,sluice_min,sluice_max,sluice_p50_ms,sluice_p99_ms,sluice_p999_ms,redis_status,redis_median,redis_min,redis_max,redis_p50_ms,redis_p99_ms,redis_p999_ms,ratio_median,ratio_min,ratio_max,pairs\n",
    );
    for r in rows {
        let mut cells = vec![
            csv_field(&r.section),
            csv_field(&r.id),
            csv_field(&r.name),
            csv_field(&r.level),
            csv_field(r.unit.name()),
        ];
        for side in Side::BOTH {
            match summarize(r.runs(side)) {
                SideStatus::Measured(m) => {
                    let l = m.latency;
                    cells.extend([
                        "ok".into(),
                        format!("{}", m.median),
                        format!("{}", m.min),
                        format!("{}", m.max),
                        opt(l.map(|l| l.p50)),
                        opt(l.map(|l| l.p99)),
                        opt(l.and_then(|l| l.p999)),
                    ]);
                }
                other => {
                    let st = match other {
                        SideStatus::Unsupported(m) => format!("unsupported: {m}"),
                        SideStatus::Failed(m) => format!("failed: {m}"),
                        _ => "not run".into(),
                    };
                    cells.push(csv_field(&st));
                    cells.extend(std::iter::repeat_n(String::new(), 6));
                }
            }
        }
        match pair_ratios(r) {
            Some((m, lo, hi, n)) => cells.extend([
                format!("{m}"),
                format!("{lo}"),
                format!("{hi}"),
                n.to_string(),
            ]),
            None => cells.extend(["".into(), "".into(), "".into(), "0".into()]),
        }
        s.push_str(&cells.join(","));
        s.push('\n');
    }
    s
}

/// Every run.
pub fn runs_csv(rows: &[Row]) -> String {
    let mut s = String::from(
        "section,id,workload,fsync,unit,rep,server,status,value,p50_ms,p99_ms,p999_ms,note,comparable\n",
    );
    for r in rows {
        for side in Side::BOTH {
            for (i, o) in r.runs(side).iter().enumerate() {
                let (st, v, l, note) = match o {
                    Outcome::Ok(x) => (
                        "ok".to_string(),
                        format!("{}", x.value),
                        x.latency,
                        x.note.clone(),
                    ),
                    Outcome::Unsupported(m) => {
                        ("unsupported".into(), String::new(), None, m.clone())
                    }
                    Outcome::Failed(m) => ("failed".into(), String::new(), None, m.clone()),
                };
                let _ = writeln!(
                    s,
                    "{},{},{},{},{},{},{},{},{},{},{},{},{},{}",
                    csv_field(&r.section),
                    csv_field(&r.id),
                    csv_field(&r.name),
                    csv_field(&r.level),
                    r.unit.name(),
                    i + 1,
                    side_label(r, side),
                    st,
                    v,
                    opt(l.map(|l| l.p50)),
                    opt(l.map(|l| l.p99)),
                    opt(l.and_then(|l| l.p999)),
                    csv_field(&note),
                    if r.comparable { "" } else { "no" }
                );
            }
        }
    }
    s
}

/// A horizontal bar chart of the Sluice/Redis ratio of every row (log scale), with the min–max
/// of the pair ratios as whiskers. Green: Sluice better; red: Redis better.
pub fn chart_svg(info: &RunInfo, rows: &[Row], path: &Path) -> Result<(), String> {
    let n = rows.len().max(1);
    let row_h = 26u32;
    let label_w = 430u32;
    let width = 1200u32;
    let height = 110 + row_h * n as u32 + 60;
    let ratios: Vec<Option<(f64, f64, f64, usize)>> = rows.iter().map(pair_ratios).collect();
    // x is log2 of the ratio, symmetric around parity, labelled as ratios.
    let mut span = 1.0f64;
    for (m, a, b, _) in ratios.iter().flatten() {
        for v in [m, a, b] {
            if *v > 0.0 {
                span = span.max(v.log2().abs());
            }
        }
    }
    // At most 1/256..256: a fairness row's stall of seconds against milliseconds would
    // squeeze every other bar into the middle; such bars end at the edge, labelled.
    let span = (span + 0.15).ceil().min(8.0);

    let root = SVGBackend::new(path, (width, height)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let vs = if rows.iter().all(|r| r.section == crate::jobs::SECTION) {
        "Disque"
    } else if rows.iter().any(|r| r.section == crate::jobs::SECTION) {
        "Redis (rows marked Disque: Sluice / Disque)"
    } else {
        "Redis"
    };
    let title = format!("Sluice / {vs}, same run — {} ({})", info.date, info.mode);
    let (left, right) = root.split_horizontally(label_w);
    let mut chart = ChartBuilder::on(&right)
        .caption(&title, ("sans-serif", 20))
        .margin_right(30)
        .margin_top(10)
        .x_label_area_size(40)
        .y_label_area_size(0)
        .build_cartesian_2d(-span..span, 0f64..n as f64)
        .map_err(|e| e.to_string())?;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .disable_y_axis()
        .x_labels((2.0 * span) as usize + 1)
        .x_desc("Sluice/Redis (log scale; throughput: >1 = Sluice faster; memory, disk, restart, latency: <1 = Sluice smaller/faster)")
        .x_label_formatter(&|v| {
            let r = 2f64.powf(*v);
            if r >= 1.0 { format!("{r:.0}×") } else { format!("1/{:.0}", 1.0 / r) }
        })
        .draw()
        .map_err(|e| e.to_string())?;
    let lg = |v: f64| {
        if v > 0.0 {
            v.log2().clamp(-span, span)
        } else {
            -span
        }
    };
    // Parity line.
    chart
        .draw_series(std::iter::once(PathElement::new(
            vec![(0.0, 0.0), (0.0, n as f64)],
            BLACK.stroke_width(2),
        )))
        .map_err(|e| e.to_string())?;
    let green = RGBColor(46, 160, 67);
    let red = RGBColor(207, 34, 46);
    for (i, (row, r)) in rows.iter().zip(&ratios).enumerate() {
        // Row 0 at the top.
        let y0 = (n - 1 - i) as f64;
        let label = format!(
            "{} [{}]{}",
            row.name,
            row.level,
            if row.unit.higher_is_better() {
                ""
            } else {
                " (lower is better)"
            }
        );
        let (_, py) = chart.backend_coord(&(0.0, y0 + 0.5));
        left.draw(&Text::new(
            label,
            (8, py - 7),
            ("sans-serif", 13).into_font().color(&BLACK),
        ))
        .map_err(|e| e.to_string())?;
        match r {
            Some((m, a, b, _)) => {
                let better = if row.unit.higher_is_better() {
                    *m >= 1.0
                } else {
                    *m <= 1.0
                };
                let color = if better { green } else { red };
                chart
                    .draw_series(std::iter::once(Rectangle::new(
                        [(lg(*m).min(0.0), y0 + 0.2), (lg(*m).max(0.0), y0 + 0.8)],
                        color.mix(0.75).filled(),
                    )))
                    .map_err(|e| e.to_string())?;
                chart
                    .draw_series(std::iter::once(PathElement::new(
                        vec![(lg(*a), y0 + 0.5), (lg(*b), y0 + 0.5)],
                        BLACK.stroke_width(1),
                    )))
                    .map_err(|e| e.to_string())?;
                chart
                    .draw_series([*a, *b].into_iter().map(|x| {
                        PathElement::new(
                            vec![(lg(x), y0 + 0.35), (lg(x), y0 + 0.65)],
                            BLACK.stroke_width(1),
                        )
                    }))
                    .map_err(|e| e.to_string())?;
                chart
                    .draw_series(std::iter::once(Text::new(
                        fmt_ratio(*m),
                        (lg(*b).max(lg(*m)).max(0.0) + span * 0.015, y0 + 0.68),
                        ("sans-serif", 12).into_font().color(&BLACK),
                    )))
                    .map_err(|e| e.to_string())?;
            }
            None => {
                let why = match (summarize(&row.sluice), summarize(&row.redis)) {
                    (SideStatus::Unsupported(_), _) => "n/a: unsupported by Sluice",
                    (_, SideStatus::Unsupported(_)) => "n/a: unsupported by Redis",
                    (SideStatus::Failed(_), _) | (_, SideStatus::Failed(_)) => "n/a: failed",
                    _ if !row.comparable => "n/a: different work on each side",
                    _ => "n/a",
                };
                chart
                    .draw_series(std::iter::once(Text::new(
                        why.to_string(),
                        (span * 0.015, y0 + 0.68),
                        ("sans-serif", 12)
                            .into_font()
                            .color(&RGBColor(110, 110, 110)),
                    )))
                    .map_err(|e| e.to_string())?;
            }
        }
    }
    root.present().map_err(|e| e.to_string())?;
    Ok(())
}

/// Splits one CSV line (RFC 4180 quoting, no embedded newlines).
fn split_csv(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                cur.push('"');
                chars.next();
            }
            ('"', true) => quoted = false,
            ('"', false) if cur.is_empty() => quoted = true,
            (',', false) => out.push(std::mem::take(&mut cur)),
            (c, _) => cur.push(c),
        }
    }
    out.push(cur);
    out
}

fn unit_from(name: &str) -> Option<crate::model::Unit> {
    use crate::model::Unit::*;
    [
        OpsPerSec,
        MsgPerSec,
        JobsPerSec,
        EntriesPerSec,
        BytesPerEntry,
        Bytes,
        Seconds,
        Millis,
    ]
    .into_iter()
    .find(|u| u.name() == name)
}

/// Reads back what [`runs_csv`] wrote.
pub fn parse_runs_csv(text: &str) -> Result<Vec<Row>, String> {
    let mut rows: Vec<Row> = Vec::new();
    for (n, line) in text.lines().enumerate().skip(1) {
        if line.trim().is_empty() {
            continue;
        }
        let f = split_csv(line);
        if f.len() < 13 {
            return Err(format!("runs.csv line {}: {} fields", n + 1, f.len()));
        }
        let unit = unit_from(&f[4]).ok_or_else(|| format!("unknown unit {}", f[4]))?;
        let side = match f[6].as_str() {
            "sluice" => Side::Sluice,
            "redis" | "disque" => Side::Redis,
            o => return Err(format!("unknown server {o}")),
        };
        let num = |s: &str| s.parse::<f64>().ok();
        let o = match f[7].as_str() {
            "ok" => Outcome::Ok(crate::model::RunResult {
                value: num(&f[8]).ok_or("bad value")?,
                latency: match (num(&f[9]), num(&f[10])) {
                    (Some(p50), Some(p99)) => Some(Latency {
                        p50,
                        p99,
                        p999: num(&f[11]),
                    }),
                    _ => None,
                },
                note: f[12].clone(),
            }),
            "unsupported" => Outcome::Unsupported(f[12].clone()),
            _ => Outcome::Failed(f[12].clone()),
        };
        let idx = match rows.iter().position(|r| r.id == f[1] && r.level == f[3]) {
            Some(i) => i,
            None => {
                let mut row = Row::new(&f[0], &f[1], &f[2], &f[3], unit);
                // Written since the fairness phase; older files have 13 fields.
                row.comparable = f.get(13).map(String::as_str) != Some("no");
                rows.push(row);
                rows.len() - 1
            }
        };
        rows[idx].push(side, o);
    }
    Ok(rows)
}

/// The run description, as `key: value` lines (read back by [`parse_info`]).
pub fn info_text(info: &RunInfo) -> String {
    format!(
        "date: {}\nmode: {}\nmachine: {}\nsluice: {}\nredis: {}\nsettings: {}\nduration: {}\n",
        info.date, info.mode, info.machine, info.sluice, info.redis, info.settings, info.duration
    )
}

pub fn parse_info(text: &str) -> RunInfo {
    let mut i = RunInfo::default();
    for l in text.lines() {
        if let Some((k, v)) = l.split_once(": ") {
            let v = v.to_string();
            match k {
                "date" => i.date = v,
                "mode" => i.mode = v,
                "machine" => i.machine = v,
                "sluice" => i.sluice = v,
                "redis" => i.redis = v,
                "settings" => i.settings = v,
                "duration" => i.duration = v,
                _ => {}
            }
        }
    }
    i
}

/// Writes results.md, results.csv, runs.csv, run.txt and ratios.svg into `dir`.
pub fn write_all(dir: &Path, info: &RunInfo, rows: &[Row]) -> Result<(), String> {
    let w = |name: &str, text: String| {
        std::fs::write(dir.join(name), text).map_err(|e| format!("writing {name}: {e}"))
    };
    w("results.md", markdown(info, rows))?;
    w("results.csv", summary_csv(rows))?;
    w("runs.csv", runs_csv(rows))?;
    w("run.txt", info_text(info))?;
    chart_svg(info, rows, &dir.join("ratios.svg"))
}

/// Rebuilds the table, CSV summary and chart of an earlier run from its runs.csv and run.txt.
pub fn replot(dir: &Path) -> Result<(), String> {
    let runs = std::fs::read_to_string(dir.join("runs.csv"))
        .map_err(|e| format!("reading {}/runs.csv: {e}", dir.display()))?;
    let rows = parse_runs_csv(&runs)?;
    let info = parse_info(&std::fs::read_to_string(dir.join("run.txt")).unwrap_or_default());
    write_all(dir, &info, &rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{RunResult, Unit};

    fn sample() -> Vec<Row> {
        let mut a = Row::new("throughput", "xadd", "XADD", "no", Unit::OpsPerSec);
        let mut b = Row::new("memory", "rss-1m", "RSS 1M", "no", Unit::BytesPerEntry);
        for i in 0..3 {
            a.push(
                Side::Sluice,
                Outcome::Ok(RunResult::value(100.0 + i as f64)),
            );
            a.push(Side::Redis, Outcome::Ok(RunResult::value(50.0)));
        }
        b.push(
            Side::Sluice,
            Outcome::Unsupported("ERR unknown command 'XADD'".into()),
        );
        b.push(Side::Redis, Outcome::Ok(RunResult::value(31.0)));
        vec![a, b]
    }

    #[test]
    fn renders_all_outputs() {
        let rows = sample();
        let info = RunInfo {
            date: "2026-01-01".into(),
            mode: "test".into(),
            ..Default::default()
        };
        let md = markdown(&info, &rows);
        assert!(md.contains("**2.02** (2.00–2.04)"), "{md}");
        assert!(md.contains("unsupported (ERR unknown command 'XADD')"));
        assert!(summary_csv(&rows).lines().count() == 3);
        assert!(runs_csv(&rows).lines().count() == 1 + 6 + 2);
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.svg");
        chart_svg(&info, &rows, &p).unwrap();
        let svg = std::fs::read_to_string(&p).unwrap();
        assert!(svg.contains("<svg") && svg.contains("XADD [no]"));
        // The runs CSV reads back to the same table.
        let back = parse_runs_csv(&runs_csv(&rows)).unwrap();
        assert_eq!(markdown(&info, &back), md);
        assert_eq!(parse_info(&info_text(&info)).date, "2026-01-01");
        assert_eq!(split_csv("a,\"b,\"\"c\"\"\",d"), vec!["a", "b,\"c\"", "d"]);
    }

    #[test]
    fn fairness_rows() {
        assert_eq!(fmt_ratio(0.03), "1/33");
        assert_eq!(fmt_ratio(0.5), "0.50");
        assert_eq!(fmt_ratio(250.0), "250");
        let mut stall = Row::new("fairness", "fair-max", "PING max", "no", Unit::Millis);
        stall.push(Side::Sluice, Outcome::Ok(RunResult::value(150.0)));
        stall.push(Side::Redis, Outcome::Ok(RunResult::value(5000.0)));
        let mut time = Row::new("fairness", "fair-time", "greedy time", "no", Unit::Seconds);
        time.comparable = false;
        time.push(Side::Sluice, Outcome::Ok(RunResult::value(25.0)));
        time.push(Side::Redis, Outcome::Ok(RunResult::value(6.0)));
        let rows = vec![stall, time];
        let info = RunInfo::default();
        let md = markdown(&info, &rows);
        assert!(md.contains("### Fairness"), "{md}");
        assert!(
            md.contains("| PING max | no | ms | 150 | 5000 | **1/33** |"),
            "{md}"
        );
        assert!(md.contains("n/a (different work)"), "{md}");
        assert!(summary_csv(&rows)
            .lines()
            .nth(2)
            .unwrap()
            .ends_with(",,,,0"));
        // Read back, the row is still not comparable.
        let back = parse_runs_csv(&runs_csv(&rows)).unwrap();
        assert!(back[0].comparable && !back[1].comparable);
        assert_eq!(markdown(&info, &back), md);
    }
}
