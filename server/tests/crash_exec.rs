//! Crash atomicity of MULTI/EXEC: kill -9 the server while clients run transactions that write
//! several streams and keys and read stream entries in between, restart it on the same
//! directory, and check that every transaction is either wholly there or wholly absent, and
//! that every acknowledged one is there.
//!
//! Why the reads: a read of stream entries inside a transaction used to go through the store's
//! read barrier, which committed the part of the transaction executed so far as a fjall batch
//! of its own. fjall's journal buffer is 8 KiB: a batch larger than that (or one followed by
//! another) reaches the OS while the server keeps running, so a kill -9 before the drain's
//! last batch was written kept the first half of the EXEC and lost the rest. Now the whole
//! drain — every EXEC in it — is one batch, which recovery keeps or drops whole (see
//! `storage/src/store.rs` and `server/src/commands/multi.rs`).
//!
//! Each transaction, tagged `c<client>.y<cycle>.t<n>` in everything it writes:
//!
//! ```text
//! MULTI
//! XADD exec:s<a> * tag T n 0 pad <2-4 KiB, sometimes 40 KiB>
//! XADD exec:s<b> * tag T n 1 pad <2-4 KiB>
//! XREVRANGE exec:s<a> + - COUNT 1      must return the entry just added (read your writes;
//!                                      a 40 KiB entry is not in the tail cache: a disk read)
//! XRANGE exec:s<b> - + COUNT 1         or XREAD COUNT 1 STREAMS exec:s<b> 0-0: the head of a
//!                                      long stream, read from disk (the old read barrier)
//! SET exec:c<c>:y<y>:t<n>:k0 <T + 1.5-3 KiB>
//! SET exec:c<c>:y<y>:t<n>:k1 <T + 1.5-3 KiB>
//! INCR exec:ctr:c<c>                   how many of the client's transactions ran
//! SET exec:last:c<c> T
//! EXEC
//! ```
//!
//! Every reply inside EXEC is checked while the load runs. After each restart, per client:
//! every transaction of the cycle has all four of its parts (two entries, with exactly their
//! fields, and two keys) or none; the ones present are a prefix of the client's transactions
//! (a crash keeps a prefix of the journal's batches) that includes every acknowledged one; the
//! counter equals the number present since the start; `exec:last` names the last one present.
//!
//! Streams are never trimmed (an absent entry can only mean a lost transaction), so each cycle
//! writes a bounded number of transactions. The seed is printed; `SLUICE_CRASH_SEED` replays
//! the schedule (the kill moment still depends on timing). `SLUICE_TEST_BIN` runs the test
//! against another build (see `common/mod.rs`).

mod common;

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{encode, frame_len, parse_resp, Conn, Resp, Rng, Server};

const CLIENTS: usize = 8;
const STREAMS: usize = 4;
const CYCLES: usize = 20;
/// Most transactions one client sends in a cycle (bounds the disk use: streams are not trimmed).
const MAX_TXNS_PER_CYCLE: u64 = 400;

fn stream_key(s: usize) -> String {
    format!("exec:s{s}")
}

fn counter_key(c: usize) -> String {
    format!("exec:ctr:c{c}")
}

fn last_key(c: usize) -> String {
    format!("exec:last:c{c}")
}

/// One transaction, derived from (seed, client, cycle, n) alone, so the checker can rebuild it.
struct Txn {
    tag: String,
    /// Streams of the two XADDs (distinct).
    streams: [usize; 2],
    /// Fields of the two entries.
    fields: [Vec<Vec<u8>>; 2],
    /// The head read of the second stream is an XREAD (else an XRANGE).
    xread: bool,
    keys: [String; 2],
    values: [Vec<u8>; 2],
}

/// Deterministic filler: `len` bytes that depend on `tag`, so a torn or mixed-up value shows.
fn filler(tag: &str, salt: u64, len: usize) -> Vec<u8> {
    let h = tag
        .bytes()
        .fold(salt.wrapping_mul(0x9e37_79b9_7f4a_7c15), |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        });
    (0..len)
        .map(|i| b'a' + ((h >> (i % 29)) as usize + i) as u8 % 26)
        .collect()
}

impl Txn {
    fn new(seed: u64, c: usize, cycle: usize, n: u64) -> Txn {
        let tag = format!("c{c}.y{cycle}.t{n}");
        let mut rng = Rng::new(seed ^ ((c as u64) << 48) ^ ((cycle as u64) << 32) ^ n);
        let a = rng.below(STREAMS as u64) as usize;
        let b = (a + 1 + rng.below(STREAMS as u64 - 1) as usize) % STREAMS;
        // One entry in eight is too big for the tail cache: reading it back reads the runs.
        let big = rng.chance(12);
        let mut fields: [Vec<Vec<u8>>; 2] = Default::default();
        for (i, f) in fields.iter_mut().enumerate() {
            let len = if i == 0 && big {
                40_000
            } else {
                2_000 + rng.below(2_000) as usize
            };
            *f = vec![
                b"tag".to_vec(),
                tag.clone().into_bytes(),
                b"n".to_vec(),
                i.to_string().into_bytes(),
                b"pad".to_vec(),
                filler(&tag, i as u64, len),
            ];
        }
        let values = [0u64, 1].map(|j| {
            let mut v = tag.clone().into_bytes();
            v.push(b':');
            v.extend(filler(&tag, 10 + j, 1_500 + rng.below(1_500) as usize));
            v
        });
        Txn {
            keys: [0, 1].map(|j| format!("exec:c{c}:y{cycle}:t{n}:k{j}")),
            values,
            xread: rng.chance(50),
            streams: [a, b],
            fields,
            tag,
        }
    }

    /// MULTI … EXEC, as one write.
    fn encode(&self, c: usize) -> (Vec<u8>, usize) {
        let mut cmds: Vec<Vec<Vec<u8>>> = vec![vec![b"MULTI".to_vec()]];
        for i in 0..2 {
            let mut xadd = vec![
                b"XADD".to_vec(),
                stream_key(self.streams[i]).into_bytes(),
                b"*".to_vec(),
            ];
            xadd.extend(self.fields[i].iter().cloned());
            cmds.push(xadd);
        }
        let (a, b) = (stream_key(self.streams[0]), stream_key(self.streams[1]));
        cmds.push(
            ["XREVRANGE", &a, "+", "-", "COUNT", "1"]
                .map(|s| s.as_bytes().to_vec())
                .to_vec(),
        );
        cmds.push(if self.xread {
            ["XREAD", "COUNT", "1", "STREAMS", &b, "0-0"]
                .map(|s| s.as_bytes().to_vec())
                .to_vec()
        } else {
            ["XRANGE", &b, "-", "+", "COUNT", "1"]
                .map(|s| s.as_bytes().to_vec())
                .to_vec()
        });
        for j in 0..2 {
            cmds.push(vec![
                b"SET".to_vec(),
                self.keys[j].clone().into_bytes(),
                self.values[j].clone(),
            ]);
        }
        cmds.push(vec![b"INCR".to_vec(), counter_key(c).into_bytes()]);
        cmds.push(vec![
            b"SET".to_vec(),
            last_key(c).into_bytes(),
            self.tag.clone().into_bytes(),
        ]);
        cmds.push(vec![b"EXEC".to_vec()]);
        let mut out = Vec::new();
        for cmd in &cmds {
            let args: Vec<&[u8]> = cmd.iter().map(Vec::as_slice).collect();
            out.extend(encode(&args));
        }
        (out, cmds.len())
    }

    /// Checks EXEC's reply; `count`: the INCR reply it must carry.
    fn check_exec(&self, reply: &Resp, count: i64) -> Result<(), String> {
        let fail = |what: &str| Err(format!("{}: {what}: {reply:?}", self.tag));
        let Resp::Array(items) = reply else {
            return fail("EXEC did not answer an array");
        };
        if items.len() != 8 {
            return fail("EXEC answered the wrong number of replies");
        }
        let id_a = match &items[0] {
            Resp::Bulk(id) => id.clone(),
            _ => return fail("XADD"),
        };
        if !matches!(&items[1], Resp::Bulk(_)) {
            return fail("second XADD");
        }
        // Read your writes: the entry just added, exactly.
        let own = match &items[2] {
            Resp::Array(e) if e.len() == 1 => e[0].array().to_vec(),
            _ => return fail("XREVRANGE of the entry just added"),
        };
        let fields: Vec<Vec<u8>> = own[1].array().iter().map(|f| f.bulk().to_vec()).collect();
        if own[0].bulk() != id_a.as_slice() || fields != self.fields[0] {
            return fail("XREVRANGE did not return the entry just added");
        }
        let head_ok = match &items[3] {
            Resp::Array(e) if self.xread => e.len() == 1 && e[0].array()[1].array().len() == 1,
            Resp::Array(e) => e.len() == 1,
            _ => false,
        };
        if !head_ok {
            return fail("the head read of the second stream");
        }
        for (i, r) in items[4..6].iter().chain(&items[7..8]).enumerate() {
            if *r != Resp::Status("OK".into()) {
                return fail(&format!("SET {i}"));
            }
        }
        if items[6] != Resp::Int(count) {
            return fail(&format!("INCR (expected {count})"));
        }
        Ok(())
    }
}

/// What one client did in a cycle.
struct ClientLog {
    sent: u64,
    acked: u64,
    error: Option<String>,
}

/// Runs client `c`'s transactions until the connection dies (the kill) or the cycle's cap.
/// `base`: how many of its transactions are on disk from earlier cycles.
fn run_client(
    mut sock: TcpStream,
    seed: u64,
    c: usize,
    cycle: usize,
    base: i64,
    progress: Arc<AtomicU64>,
) -> ClientLog {
    let mut log = ClientLog {
        sent: 0,
        acked: 0,
        error: None,
    };
    sock.set_read_timeout(Some(Duration::from_secs(60))).ok();
    sock.set_nodelay(true).ok();
    let mut buf: Vec<u8> = Vec::new();
    let mut rng = Rng::new(seed ^ 0x5eed ^ ((c as u64) << 40) ^ cycle as u64);
    'outer: while log.sent < MAX_TXNS_PER_CYCLE {
        // One to three transactions per write: drains hold several EXECs.
        let n = (1 + rng.below(3)).min(MAX_TXNS_PER_CYCLE - log.sent);
        let first = log.sent;
        let mut bytes = Vec::new();
        let mut replies = Vec::new();
        for t in first..first + n {
            let (b, cmds) = Txn::new(seed, c, cycle, t).encode(c);
            bytes.extend(b);
            replies.push(cmds);
        }
        if sock.write_all(&bytes).is_err() {
            break;
        }
        log.sent += n;
        for (i, cmds) in replies.into_iter().enumerate() {
            let t = first + i as u64;
            let mut last = Resp::Nil;
            for _ in 0..cmds {
                let frame = loop {
                    if let Some(len) = frame_len(&buf) {
                        break buf.drain(..len).collect::<Vec<u8>>();
                    }
                    let mut tmp = [0u8; 1 << 16];
                    match sock.read(&mut tmp) {
                        Ok(0) => break 'outer,
                        Ok(len) => buf.extend_from_slice(&tmp[..len]),
                        Err(e)
                            if matches!(
                                e.kind(),
                                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                            ) =>
                        {
                            log.error = Some(format!("client {c}: no reply within 20 s"));
                            break 'outer;
                        }
                        Err(_) => break 'outer,
                    }
                };
                last = parse_resp(&frame).0;
            }
            let txn = Txn::new(seed, c, cycle, t);
            if let Err(e) = txn.check_exec(&last, base + t as i64 + 1) {
                log.error = Some(e);
                break 'outer;
            }
            log.acked += 1;
            progress.fetch_add(1, Ordering::Relaxed);
        }
    }
    log
}

/// Reads the entries of `key` after `after` (exclusive; None = all), in pages.
fn read_after(c: &mut Conn, key: &str, after: Option<&str>) -> Vec<(String, Vec<Vec<u8>>)> {
    let mut out: Vec<(String, Vec<Vec<u8>>)> = Vec::new();
    let mut start = after.map_or("-".to_string(), |a| format!("({a}"));
    loop {
        let r = c.req(&[
            b"XRANGE",
            key.as_bytes(),
            start.as_bytes(),
            b"+",
            b"COUNT",
            b"500",
        ]);
        let page = r.array();
        for e in page {
            let e = e.array();
            let fields = e[1].array().iter().map(|f| f.bulk().to_vec()).collect();
            out.push((e[0].text(), fields));
        }
        match out.last() {
            Some((id, _)) if page.len() == 500 => start = format!("({id}"),
            _ => break,
        }
    }
    out
}

/// The checker's state across cycles.
struct Checker {
    seed: u64,
    /// Per client: its transactions on disk from earlier cycles.
    done: Vec<i64>,
    /// Per client: the tag `exec:last` must hold.
    last_tag: Vec<Option<String>>,
    /// Per stream: the last entry ID verified.
    last_id: Vec<Option<String>>,
}

#[derive(Default)]
struct Totals {
    acked: u64,
    sent: u64,
    durable_unacked: u64,
    cycles_with_inflight: usize,
}

impl Checker {
    /// Verifies the recovered state after cycle `cycle`; returns per client how many of the
    /// cycle's transactions are on disk.
    fn verify(&mut self, conn: &mut Conn, cycle: usize, logs: &[ClientLog]) -> Vec<u64> {
        // Which parts of which transaction are on disk: the new entries of every stream…
        let mut parts: HashMap<String, u32> = HashMap::new();
        for s in 0..STREAMS {
            let key = stream_key(s);
            let entries = read_after(conn, &key, self.last_id[s].as_deref());
            for (id, fields) in &entries {
                assert!(
                    fields.len() == 6 && fields[0] == b"tag" && fields[2] == b"n",
                    "{key} {id}: not a transaction's entry"
                );
                let tag = String::from_utf8_lossy(&fields[1]).into_owned();
                let (c, n) = parse_tag(&tag, cycle)
                    .unwrap_or_else(|| panic!("{key} {id}: entry of an unknown transaction {tag}"));
                let txn = Txn::new(self.seed, c, cycle, n);
                let i: usize = if fields[3] == b"0" { 0 } else { 1 };
                assert_eq!(
                    (txn.streams[i], fields),
                    (s, &txn.fields[i]),
                    "{key} {id}: torn or misplaced entry of {tag}"
                );
                let bit = 1 << i;
                let p = parts.entry(tag.clone()).or_default();
                assert_eq!(*p & bit, 0, "{key} {id}: entry {i} of {tag} twice");
                *p |= bit;
            }
            if let Some((id, _)) = entries.last() {
                self.last_id[s] = Some(id.clone());
            }
        }
        // … and every key a transaction of this cycle may have set.
        let mut present = Vec::new();
        for (c, log) in logs.iter().enumerate() {
            let txns: Vec<Txn> = (0..log.sent)
                .map(|n| Txn::new(self.seed, c, cycle, n))
                .collect();
            let gets: Vec<Vec<Vec<u8>>> = txns
                .iter()
                .flat_map(|t| t.keys.iter())
                .map(|k| vec![b"GET".to_vec(), k.clone().into_bytes()])
                .collect();
            let mut values = Vec::new();
            for chunk in gets.chunks(200) {
                values.extend(conn.pipeline(chunk));
            }
            let mut whole = Vec::new();
            for (n, txn) in txns.iter().enumerate() {
                let mut p = parts.remove(&txn.tag).unwrap_or(0);
                for j in 0..2 {
                    match &values[2 * n + j] {
                        Resp::Nil => {}
                        Resp::Bulk(v) => {
                            assert_eq!(
                                v, &txn.values[j],
                                "{}: torn value of {}",
                                txn.tag, txn.keys[j]
                            );
                            p |= 4 << j;
                        }
                        other => panic!("GET {}: {other:?}", txn.keys[j]),
                    }
                }
                assert!(
                    p == 0 || p == 0b1111,
                    "{}: half a transaction on disk after the crash: {} (entries {}/{}, keys {}/{}) \
                     (client {c}: sent {}, acknowledged {})",
                    txn.tag,
                    if p == 0 { "nothing" } else { "some parts" },
                    p & 1,
                    (p >> 1) & 1,
                    (p >> 2) & 1,
                    (p >> 3) & 1,
                    log.sent,
                    log.acked
                );
                whole.push(p != 0);
            }
            // A prefix of the client's transactions, with every acknowledged one.
            let m = whole.iter().take_while(|w| **w).count() as u64;
            assert!(
                whole[m as usize..].iter().all(|w| !w),
                "client {c}: the transactions on disk are not a prefix: {:?}",
                whole
                    .iter()
                    .enumerate()
                    .filter(|(_, w)| **w)
                    .map(|(n, _)| n)
                    .collect::<Vec<_>>()
            );
            assert!(
                m >= log.acked,
                "client {c}: acknowledged {} transactions, only {m} on disk",
                log.acked
            );
            self.done[c] += m as i64;
            let ctr = conn.req(&[b"GET", counter_key(c).as_bytes()]);
            let ctr = match ctr {
                Resp::Nil => 0,
                r => r.text().parse::<i64>().expect("counter"),
            };
            assert_eq!(
                ctr, self.done[c],
                "client {c}: counter vs transactions on disk"
            );
            if m > 0 {
                self.last_tag[c] = Some(txns[m as usize - 1].tag.clone());
            }
            let last = match conn.req(&[b"GET", last_key(c).as_bytes()]) {
                Resp::Nil => None,
                r => Some(r.text()),
            };
            assert_eq!(last, self.last_tag[c], "client {c}: exec:last");
            present.push(m);
        }
        assert!(
            parts.is_empty(),
            "entries of transactions never sent: {:?}",
            parts.keys().collect::<Vec<_>>()
        );
        present
    }
}

/// (client, n) of a tag of cycle `cycle`.
fn parse_tag(tag: &str, cycle: usize) -> Option<(usize, u64)> {
    let rest = tag.strip_prefix('c')?;
    let (c, rest) = rest.split_once(".y")?;
    let (y, n) = rest.split_once(".t")?;
    (y.parse::<usize>().ok()? == cycle).then_some(())?;
    Some((c.parse().ok()?, n.parse().ok()?))
}

fn seed() -> u64 {
    std::env::var("SLUICE_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(1)
        })
}

fn kill_cycles(appendfsync: &str) {
    let seed = seed();
    println!("[{appendfsync}] seed {seed} (set SLUICE_CRASH_SEED={seed} to replay)");
    let mut rng = Rng::new(seed);
    let started = Instant::now();
    let mut server = Server::start(&["--appendfsync", appendfsync]);
    let mut checker = Checker {
        seed,
        done: vec![0; CLIENTS],
        last_tag: vec![None; CLIENTS],
        last_id: vec![None; STREAMS],
    };
    let mut totals = Totals::default();
    for cycle in 0..CYCLES {
        let progress = Arc::new(AtomicU64::new(0));
        let handles: Vec<_> = (0..CLIENTS)
            .map(|c| {
                let progress = progress.clone();
                let base = checker.done[c];
                // Connect before the thread starts, so a late thread does not meet the kill.
                let sock = TcpStream::connect(("127.0.0.1", server.port)).expect("client connects");
                std::thread::spawn(move || run_client(sock, seed, c, cycle, base, progress))
            })
            .collect();
        // Kill once the clients have had a random number of transactions acknowledged (a
        // condition, not a time: the work per cycle does not depend on the machine), plus a
        // random few milliseconds.
        let min_progress = 20 + rng.below(300);
        // A hang detector, not a timing: generous for a loaded 2-core machine.
        let wait_until = Instant::now() + Duration::from_secs(90);
        while progress.load(Ordering::Relaxed) < min_progress {
            assert!(
                Instant::now() < wait_until,
                "[{appendfsync}] cycle {cycle}: clients made no progress"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
        std::thread::sleep(Duration::from_micros(rng.below(15_000)));
        server.kill9();
        let logs: Vec<ClientLog> = handles
            .into_iter()
            .map(|h| h.join().expect("client thread"))
            .collect();
        for log in &logs {
            if let Some(e) = &log.error {
                panic!("[{appendfsync}] cycle {cycle}: {e}");
            }
        }
        let restart = server.restart_timed();
        let mut conn = server.conn();
        let present = checker.verify(&mut conn, cycle, &logs);
        let sent: u64 = logs.iter().map(|l| l.sent).sum();
        let acked: u64 = logs.iter().map(|l| l.acked).sum();
        let on_disk: u64 = present.iter().sum();
        if sent > acked {
            totals.cycles_with_inflight += 1;
        }
        totals.sent += sent;
        totals.acked += acked;
        totals.durable_unacked += on_disk - acked;
        println!(
            "[{appendfsync}] cycle {cycle}: sent {sent:4}, acknowledged {acked:4}, on disk \
             {on_disk:4} (all whole), restart to PONG {} ms",
            restart.as_millis()
        );
    }
    println!(
        "[{appendfsync}] {CYCLES} kills in {:.1} s: {} transactions acknowledged (all \
         recovered whole), {} sent, {} whole on disk without a reply, none torn",
        started.elapsed().as_secs_f64(),
        totals.acked,
        totals.sent,
        totals.durable_unacked
    );
    // The kills must really have hit the server with transactions in flight.
    assert!(
        totals.cycles_with_inflight * 2 >= CYCLES,
        "only {} of {CYCLES} kills found transactions in flight",
        totals.cycles_with_inflight
    );
}

#[test]
fn exec_is_whole_or_absent_after_kill9_appendfsync_always() {
    kill_cycles("always");
}

#[test]
fn exec_is_whole_or_absent_after_kill9_appendfsync_no() {
    kill_cycles("no");
}
