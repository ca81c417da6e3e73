//! Big streams and limits: DEL of a huge stream answers at once and the background reaper frees
//! it, restart time against the amount of data, MAXLEN keeping a queue (and its disk) bounded,
//! key length limits, and stream ID exhaustion across a restart.
//!
//! Timings are printed, never asserted tightly: debug builds on shared machines are too noisy.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::{dir_size, encode, mib, Conn, Resp, Server};

/// Appends `n` entries to `key` with `XADD key [trim…] * f <value_len bytes>`, pipelined in
/// batches; checks every reply is an ID.
fn fill(c: &mut Conn, key: &str, n: usize, value_len: usize, trim: &[&str]) {
    const BATCH: usize = 1000;
    let value = vec![b'v'; value_len];
    let mut done = 0;
    while done < n {
        let k = BATCH.min(n - done);
        let mut bytes = Vec::new();
        for i in 0..k {
            let num = (done + i).to_string();
            let mut args: Vec<&[u8]> = vec![b"XADD", key.as_bytes()];
            args.extend(trim.iter().map(|t| t.as_bytes()));
            args.extend_from_slice(&[b"*", b"n", num.as_bytes(), b"f", &value]);
            bytes.extend_from_slice(&encode(&args));
        }
        c.send_raw(&bytes);
        for _ in 0..k {
            let r = c.read_reply();
            assert_eq!(r[0], b'$', "XADD failed: {:?}", String::from_utf8_lossy(&r));
        }
        done += k;
    }
}

fn disk_bytes(c: &mut Conn) -> u64 {
    c.info_field("persistence", "sluice_disk_bytes")
        .expect("sluice_disk_bytes in INFO persistence")
        .parse()
        .expect("number")
}

/// `dead_streams=N` from the "keyspace loaded" line of a server log (tracing may colour it).
fn dead_streams_in_log(log: &Path) -> Option<u64> {
    let text = std::fs::read_to_string(log).ok()?;
    let line = text.lines().find(|l| l.contains("keyspace loaded"))?;
    let at = line.find("dead_streams")? + "dead_streams".len();
    let rest = &line[at..];
    // Skip '=' and any ANSI escape sequences up to the digits.
    let mut chars = rest.char_indices().peekable();
    let mut start = None;
    while let Some((i, ch)) = chars.next() {
        if ch == '\x1b' {
            for (_, c2) in chars.by_ref() {
                if c2 == 'm' {
                    break;
                }
            }
        } else if ch.is_ascii_digit() {
            start = Some(i);
            break;
        }
    }
    let digits: String = rest[start?..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

/// CPU time (user + system, in clock ticks) of a process, from /proc.
fn cpu_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = stat.rsplit_once(')')?.1;
    let f: Vec<&str> = after.split_whitespace().collect();
    Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
}

/// Waits until process `pid` has used at most 3 clock ticks (~30 ms) of CPU over a second;
/// returns when that second started. Without /proc, returns after 5 s.
fn wait_idle(pid: u32, deadline: Instant) -> Instant {
    if cpu_ticks(pid).is_none() {
        std::thread::sleep(Duration::from_secs(5));
        return Instant::now();
    }
    let mut window: Vec<(Instant, u64)> = Vec::new();
    loop {
        let now = Instant::now();
        let ticks = cpu_ticks(pid).expect("the server is running");
        window.push((now, ticks));
        window.retain(|(t, _)| now.duration_since(*t) <= Duration::from_millis(1000));
        let (t0, c0) = window[0];
        if now.duration_since(t0) >= Duration::from_millis(950) && ticks - c0 <= 3 {
            return t0;
        }
        assert!(Instant::now() < deadline, "the server never went idle");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn del_of_a_big_stream_answers_at_once_and_the_reaper_frees_it() {
    const N: usize = 300_000;
    let mut s = Server::start(&[]);
    let mut c = s.conn();
    let t = Instant::now();
    fill(&mut c, "big", N, 16, &[]);
    println!("XADD {N} entries: {:.2} s", t.elapsed().as_secs_f64());
    assert_eq!(c.req_str("XLEN big"), Resp::Int(N as i64));
    let before = (disk_bytes(&mut c), dir_size(&s.dir));

    let t = Instant::now();
    let r = c.req_str("DEL big");
    let del = t.elapsed();
    println!(
        "DEL of a {N}-entry stream answered in {:.2} ms",
        del.as_secs_f64() * 1e3
    );
    assert_eq!(r, Resp::Int(1));
    assert_eq!(c.req_str("EXISTS big"), Resp::Int(0));
    assert_eq!(c.req_str("XLEN big"), Resp::Int(0));
    assert_eq!(c.req_str("TYPE big"), Resp::Status("none".into()));

    // A new stream under the old name starts empty, while the old one is still being reaped.
    let first = c.req_str("XADD big * new 0").text();
    assert_eq!(c.req_str("XLEN big"), Resp::Int(1));
    fill(&mut c, "big", 999, 8, &[]);
    assert_eq!(c.req_str("XLEN big"), Resp::Int(1000));
    let info = c.req_str("XINFO STREAM big");
    assert_eq!(info.field("entries-added"), Resp::Int(1000));
    assert_eq!(info.field("first-entry").array()[0].text(), first);
    let last = info.field("last-generated-id").text();

    // The reaper: INFO has no counter of dead streams (a gap), so the observable is the
    // `dead_streams=N` the store logs when it opens. Wait until the server has gone idle (its
    // CPU time stops growing: the reaper is done or stuck), then restart it (kill -9, which also
    // checks that reaping resumes after a crash) and read the count; repeat until it is 0.
    let log = std::env::temp_dir().join(format!(
        "sluice-reaper-{}-{}.log",
        std::process::id(),
        s.port
    ));
    let t = Instant::now();
    let deadline = t + Duration::from_secs(120);
    let mut probes = 0;
    let mut reaped_in = None;
    loop {
        if let Some(field) = c.info_field("persistence", "sluice_dead_streams") {
            // If the server ever exports the count, watch it without restarting.
            if field == "0" {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        } else {
            let idle_at = wait_idle(s.pid().expect("running"), deadline);
            reaped_in.get_or_insert(idle_at - t);
            s.restart_logged(&log);
            c = s.conn();
            probes += 1;
            let dead =
                dead_streams_in_log(&log).expect("a `keyspace loaded … dead_streams=N` log line");
            if dead == 0 {
                break;
            }
        }
        assert!(
            Instant::now() < deadline,
            "the reaper did not finish the deleted stream within 120 s"
        );
    }
    if let Some(d) = reaped_in {
        println!(
            "reaper: server idle again {:.1} s after DEL; {probes} restart(s) to confirm \
             dead_streams=0",
            d.as_secs_f64()
        );
    }
    let _ = std::fs::remove_file(&log);
    // The new incarnation is untouched by the reaper.
    assert_eq!(c.req_str("XLEN big"), Resp::Int(1000));
    let info = c.req_str("XINFO STREAM big");
    assert_eq!(info.field("first-entry").array()[0].text(), first);
    assert_eq!(info.field("last-generated-id").text(), last);
    assert_eq!(info.field("entries-added"), Resp::Int(1000));
    let after = (disk_bytes(&mut c), dir_size(&s.dir));
    println!(
        "disk: before DEL sluice_disk_bytes {} (dir {} apparent, {} allocated); \
         after reaping + restart {} (dir {} apparent, {} allocated)",
        mib(before.0),
        mib(before.1 .0),
        mib(before.1 .1),
        mib(after.0),
        mib(after.1 .0),
        mib(after.1 .1)
    );
}

/// Time from spawn to PONG over `restarts` kill -9 restarts of a server holding `n` entries.
fn restart_times(n: usize) -> Vec<Duration> {
    let mut s = Server::start(&[]);
    let mut c = s.conn();
    // Several streams, as a real server would have.
    let per = n / 4;
    for k in 0..4 {
        fill(&mut c, &format!("s{k}"), per, 32, &[]);
    }
    drop(c);
    let mut times = Vec::new();
    for _ in 0..2 {
        times.push(s.restart_timed());
        let mut c = s.conn();
        for k in 0..4 {
            assert_eq!(
                c.req(&[b"XLEN", format!("s{k}").as_bytes()]),
                Resp::Int(per as i64)
            );
        }
    }
    // And one clean restart (SIGTERM, then start).
    assert!(s.stop().success());
    times.push(s.restart_timed());
    times
}

#[test]
fn restart_time_does_not_grow_much_with_the_amount_of_data() {
    let small = restart_times(10_000);
    let big = restart_times(500_000);
    let ms = |v: &[Duration]| {
        v.iter()
            .map(|d| format!("{:.0} ms", d.as_secs_f64() * 1e3))
            .collect::<Vec<_>>()
            .join(", ")
    };
    println!(
        "restart to first PONG (kill -9, kill -9, clean): 10k entries: {}; 500k entries: {}",
        ms(&small),
        ms(&big)
    );
    let best_small = *small.iter().min().expect("measured");
    let best_big = *big.iter().min().expect("measured");
    // Very loose: only catches restart time exploding (say, reading every entry at startup).
    assert!(
        best_big < best_small * 10 + Duration::from_secs(5),
        "restart with 500k entries took {best_big:?}, with 10k {best_small:?}"
    );
}

#[test]
fn maxlen_keeps_a_queue_and_its_disk_bounded() {
    // Write at least MIN entries, and on until the data directory has been seen to shrink
    // (old journal segments dropped), at most MAX.
    const MIN: usize = 200_000;
    // The directory shrinks once fjall's journal reaches its 512 MiB cap and the oldest
    // segments are dropped: about 520k entries of 1 KB since trims and appends of one drain
    // collapse into one write (the staged-writes overlay).
    const MAX: usize = 800_000;
    const STEP: usize = 20_000;
    const VALUE: usize = 1000;
    const MIB: u64 = 1 << 20;
    let s = Server::start(&[]);
    let mut c = s.conn();
    let mut sizes = Vec::new();
    let mut written = 0;
    let mut shrank = false;
    let t = Instant::now();
    while written < MIN || (!shrank && written < MAX) {
        fill(&mut c, "q", STEP, VALUE, &["MAXLEN", "~", "1000"]);
        written += STEP;
        let len = c.req_str("XLEN q").int();
        // Approximate trimming removes whole nodes: at most one node (100 entries) over.
        assert!(
            (1000..=1100).contains(&len),
            "after {written} entries XLEN is {len}"
        );
        let (apparent, allocated) = dir_size(&s.dir);
        if let Some(&(_, _, prev, _)) = sizes.last() {
            shrank |= allocated + 32 * MIB < prev;
        }
        sizes.push((written, apparent, allocated, disk_bytes(&mut c)));
    }
    let info = c.req_str("XINFO STREAM q");
    assert_eq!(info.field("entries-added"), Resp::Int(written as i64));
    let bytes = (written * VALUE) as u64;
    println!(
        "{written} XADDs of {VALUE} bytes with MAXLEN ~ 1000 in {:.1} s ({} of values written)",
        t.elapsed().as_secs_f64(),
        mib(bytes)
    );
    for (n, apparent, allocated, disk) in &sizes {
        println!(
            "  after {n:6} entries: dir {} apparent, {} allocated; sluice_disk_bytes {}",
            mib(*apparent),
            mib(*allocated),
            mib(*disk)
        );
    }
    // The queue holds ~1 MB, but the journal is not trimmed in place: it grows by 64 MiB
    // segments until memtables are flushed and old segments dropped. So the directory goes up
    // and down within a few segments instead of growing with everything ever written.
    let peak = sizes.iter().map(|s| s.2).max().expect("sampled");
    println!("  peak allocated {}", mib(peak));
    assert!(
        shrank,
        "the data directory never shrank while {} went through a 1000-entry queue",
        mib(bytes)
    );
    // fjall's journal limit (512 MiB) plus one memtable's worth of tables (64 MiB) is the
    // ceiling: the 1 MB queue itself adds nothing that grows.
    assert!(
        peak < (512 + 64) * MIB,
        "the data directory reached {} for a 1000-entry queue",
        mib(peak)
    );
}

#[test]
fn key_length_limit_is_a_clear_error() {
    let mut s = Server::start(&[]);
    let mut c = s.conn();
    let long = vec![b'k'; 65_001];
    let max = vec![b'm'; 65_000];
    for args in [
        vec![&b"XADD"[..], &long, b"*", b"f", b"v"],
        vec![&b"SET"[..], &long, b"v"],
        vec![&b"GET"[..], &long],
        vec![&b"XLEN"[..], &long],
        vec![&b"XRANGE"[..], &long, b"-", b"+"],
    ] {
        match c.req(&args) {
            Resp::Error(e) => assert!(
                e.contains("key too long") && e.contains("65001"),
                "{}: unclear error {e}",
                String::from_utf8_lossy(args[0])
            ),
            other => panic!(
                "{} with a 65,001-byte key: {other:?}",
                String::from_utf8_lossy(args[0])
            ),
        }
    }
    assert_eq!(c.req_str("PING"), Resp::Status("PONG".into()));
    // RENAME to a too-long name must not create it either.
    assert_eq!(c.req_str("SET short v"), Resp::Status("OK".into()));
    assert!(matches!(
        c.req(&[b"RENAME", b"short", &long]),
        Resp::Error(_)
    ));
    assert_eq!(c.req_str("GET short"), Resp::Bulk(b"v".to_vec()));

    // 65,000 bytes works, for strings and streams, and survives a crash and restart.
    let id = c.req(&[b"XADD", &max, b"1-1", b"f", b"v"]);
    assert_eq!(id, Resp::Bulk(b"1-1".to_vec()));
    let mut smax = max.clone();
    smax[0] = b's';
    assert_eq!(c.req(&[b"SET", &smax, b"value"]), Resp::Status("OK".into()));
    assert_eq!(c.req(&[b"GET", &smax]), Resp::Bulk(b"value".to_vec()));
    assert_eq!(c.req(&[b"XLEN", &max]), Resp::Int(1));
    drop(c);
    s.restart();
    let mut c = s.conn();
    assert_eq!(c.req(&[b"GET", &smax]), Resp::Bulk(b"value".to_vec()));
    assert_eq!(c.req(&[b"XLEN", &max]), Resp::Int(1));
    let r = c.req(&[b"XRANGE", &max, b"-", b"+"]);
    assert_eq!(r.array()[0].array()[0], Resp::Bulk(b"1-1".to_vec()));
    assert_eq!(c.req_str("DBSIZE"), Resp::Int(3));
    // Deleting them works too.
    assert_eq!(c.req(&[b"DEL", &max, &smax]), Resp::Int(2));
}

#[test]
fn stream_id_exhaustion_is_an_error_and_survives_a_restart() {
    const MAX: &str = "18446744073709551615-18446744073709551615";
    const EXHAUSTED: &str =
        "ERR The stream has exhausted the last possible ID, unable to add more items";
    let mut s = Server::start(&["--appendfsync", "always"]);
    let mut c = s.conn();
    assert_eq!(c.req_str("XADD s 1-1 f v"), Resp::Bulk(b"1-1".to_vec()));
    assert_eq!(
        c.req_str(&format!("XADD s {MAX} f v")),
        Resp::Bulk(MAX.as_bytes().to_vec())
    );
    let check = |c: &mut Conn| {
        assert_eq!(c.req_str("XADD s * f v"), Resp::Error(EXHAUSTED.into()));
        assert_eq!(c.req_str("XADD s 5-* f v"), Resp::Error(EXHAUSTED.into()));
        assert_eq!(
            c.req_str(&format!("XADD s {MAX} f v")),
            Resp::Error(EXHAUSTED.into())
        );
        assert_eq!(c.req_str("XLEN s"), Resp::Int(2));
        let info = c.req_str("XINFO STREAM s");
        assert_eq!(info.field("last-generated-id").text(), MAX);
        assert_eq!(info.field("entries-added"), Resp::Int(2));
        assert_eq!(info.field("last-entry").array()[0].text(), MAX);
    };
    check(&mut c);
    drop(c);
    s.restart();
    let mut c = s.conn();
    check(&mut c);
    // Deleting the last entry does not give the ID space back.
    assert_eq!(c.req_str(&format!("XDEL s {MAX}")), Resp::Int(1));
    assert_eq!(c.req_str("XADD s * f v"), Resp::Error(EXHAUSTED.into()));
    drop(c);
    assert!(s.stop().success());
    s.restart();
    let mut c = s.conn();
    assert_eq!(c.req_str("XLEN s"), Resp::Int(1));
    assert_eq!(c.req_str("XADD s * f v"), Resp::Error(EXHAUSTED.into()));
    let info = c.req_str("XINFO STREAM s");
    assert_eq!(info.field("last-generated-id").text(), MAX);
    assert_eq!(info.field("max-deleted-entry-id").text(), MAX);
}
