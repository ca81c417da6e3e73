//! Crash atomicity of Lua scripts: kill -9 the server while clients run scripts that write
//! several keys, a stream entry and a counter, restart it on the same directory, and check that
//! every script is either wholly there or wholly absent, and that every acknowledged one is
//! there.
//!
//! A script runs inside one command as an atomic section of the store (like EXEC, see
//! `server/src/scripting/mod.rs`): its writes are staged and committed with the rest of the
//! drain as one fjall batch, which recovery keeps or drops whole. Each script's four values are
//! 2–4 KiB, so one script's writes alone pass fjall's 8 KiB journal buffer: a commit inside a
//! script would let its first part reach the OS before a kill.
//!
//! Script `n` of client `c` in cycle `y` (tag `c<c>:y<y>:n<n>`):
//!
//! ```text
//! SET crs:<tag>:k0..k3 <pad + i>        four values of 2-4 KiB
//! XADD crs:stream:c<c> * y <y> n <n>
//! XREVRANGE crs:stream:c<c> + - COUNT 1 must return that entry (a read inside the script
//!                                      sees its staged writes; it must not commit them)
//! INCR crs:ctr:c<c>:y<y>                must become n + 1 (else the script errors)
//! SET crs:last:c<c>:y<y> <n>
//! ```
//!
//! After each restart, per client: the counter `k` lies between the acknowledged and the sent
//! count; scripts `0..k` have all four values, their stream entry (in order) and `last`; the
//! scripts sent after them have nothing. The seed is printed; `SLUICE_CRASH_SEED` replays the
//! schedule (the kill moment still depends on timing).

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{encode, frame_len, parse_resp, Conn, Resp, Rng, Server};

const CLIENTS: usize = 4;
const CYCLES: usize = 12;
/// Most scripts one client sends in a cycle (bounds the disk use).
const MAX_PER_CYCLE: u64 = 300;

const SCRIPT: &str = r#"
local n = tonumber(ARGV[2])
for i = 0, 3 do
  redis.call('SET', ARGV[1] .. ':k' .. i, ARGV[4] .. i)
end
local id = redis.call('XADD', KEYS[3], '*', 'y', ARGV[3], 'n', ARGV[2])
local back = redis.call('XREVRANGE', KEYS[3], '+', '-', 'COUNT', 1)
if back[1][1] ~= id then
  return redis.error_reply('read ' .. tostring(back[1][1]) .. ' after adding ' .. id)
end
local c = redis.call('INCR', KEYS[1])
if c ~= n + 1 then
  return redis.error_reply('counter ' .. c .. ' for script ' .. n)
end
redis.call('SET', KEYS[2], ARGV[2])
return c
"#;

fn tag(c: usize, y: usize, n: u64) -> String {
    format!("crs:c{c}:y{y}:n{n}")
}

/// The padding of script `n` (its length varies with the seed).
fn pad(seed: u64, c: usize, y: usize, n: u64) -> Vec<u8> {
    let mut r = Rng::new(seed ^ ((c as u64) << 48) ^ ((y as u64) << 32) ^ n);
    let len = 2048 + r.below(2048) as usize;
    let mut v = format!("{}:", tag(c, y, n)).into_bytes();
    while v.len() < len {
        v.push(b'a' + (r.below(26) as u8));
    }
    v
}

fn script_cmd(seed: u64, c: usize, y: usize, n: u64) -> Vec<u8> {
    let t = tag(c, y, n);
    let ctr = format!("crs:ctr:c{c}:y{y}");
    let last = format!("crs:last:c{c}:y{y}");
    let stream = format!("crs:stream:c{c}");
    let ns = n.to_string();
    let ys = y.to_string();
    let p = pad(seed, c, y, n);
    encode(&[
        b"EVAL",
        SCRIPT.as_bytes(),
        b"3",
        ctr.as_bytes(),
        last.as_bytes(),
        stream.as_bytes(),
        t.as_bytes(),
        ns.as_bytes(),
        ys.as_bytes(),
        &p,
    ])
}

struct ClientLog {
    sent: u64,
    acked: u64,
    error: Option<String>,
}

fn run_client(
    mut sock: TcpStream,
    seed: u64,
    c: usize,
    y: usize,
    progress: Arc<AtomicU64>,
) -> ClientLog {
    let mut log = ClientLog {
        sent: 0,
        acked: 0,
        error: None,
    };
    sock.set_read_timeout(Some(Duration::from_secs(60))).ok();
    sock.set_nodelay(true).ok();
    let mut buf = Vec::new();
    while log.sent < MAX_PER_CYCLE {
        let n = log.sent;
        if sock.write_all(&script_cmd(seed, c, y, n)).is_err() {
            break;
        }
        log.sent += 1;
        let frame = loop {
            if let Some(len) = frame_len(&buf) {
                break buf.drain(..len).collect::<Vec<u8>>();
            }
            let mut tmp = [0u8; 4096];
            match sock.read(&mut tmp) {
                Ok(0) | Err(_) => return log,
                Ok(len) => buf.extend_from_slice(&tmp[..len]),
            }
        };
        match parse_resp(&frame).0 {
            Resp::Int(v) if v == n as i64 + 1 => {}
            other => {
                log.error = Some(format!("client {c} script {n}: replied {other:?}"));
                return log;
            }
        }
        log.acked += 1;
        progress.fetch_add(1, Ordering::Relaxed);
    }
    log
}

fn get(conn: &mut Conn, key: &str) -> Option<Vec<u8>> {
    match parse_resp(&conn.cmd_args(&[b"GET", key.as_bytes()])).0 {
        Resp::Bulk(b) => Some(b),
        Resp::Nil => None,
        other => panic!("GET {key}: {other:?}"),
    }
}

/// Checks client `c`'s scripts of cycle `y`; returns how many are on disk.
fn verify(conn: &mut Conn, seed: u64, c: usize, y: usize, log: &ClientLog) -> u64 {
    let k = get(conn, &format!("crs:ctr:c{c}:y{y}"))
        .map(|b| String::from_utf8_lossy(&b).parse::<u64>().expect("counter"))
        .unwrap_or(0);
    assert!(
        log.acked <= k && k <= log.sent,
        "client {c} cycle {y}: {k} scripts on disk, {} acknowledged, {} sent",
        log.acked,
        log.sent
    );
    for n in 0..log.sent {
        let p = pad(seed, c, y, n);
        for i in 0..4 {
            let key = format!("{}:k{i}", tag(c, y, n));
            let got = get(conn, &key);
            if n < k {
                let mut want = p.clone();
                want.extend_from_slice(i.to_string().as_bytes());
                assert_eq!(
                    got.as_deref(),
                    Some(&want[..]),
                    "client {c} cycle {y}: script {n} is counted but {key} is not whole"
                );
            } else {
                assert!(
                    got.is_none(),
                    "client {c} cycle {y}: script {n} is not counted but {key} exists (torn)"
                );
            }
        }
    }
    if k > 0 {
        assert_eq!(
            get(conn, &format!("crs:last:c{c}:y{y}")),
            Some((k - 1).to_string().into_bytes()),
            "client {c} cycle {y}: last"
        );
    }
    // The stream: this cycle's entries are exactly scripts 0..k, in order.
    let stream = format!("crs:stream:c{c}");
    let entries = parse_resp(&conn.cmd_args(&[b"XRANGE", stream.as_bytes(), b"-", b"+"])).0;
    let ys = y.to_string();
    let ns: Vec<String> = entries
        .array()
        .iter()
        .filter_map(|e| {
            let f = e.array()[1].array();
            (f[1].bulk() == ys.as_bytes()).then(|| String::from_utf8_lossy(f[3].bulk()).into())
        })
        .collect();
    let want: Vec<String> = (0..k).map(|n| n.to_string()).collect();
    assert_eq!(ns, want, "client {c} cycle {y}: stream entries");
    k
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
    let mut inflight_kills = 0;
    for y in 0..CYCLES {
        let progress = Arc::new(AtomicU64::new(0));
        let handles: Vec<_> = (0..CLIENTS)
            .map(|c| {
                let progress = progress.clone();
                let sock = TcpStream::connect(("127.0.0.1", server.port)).expect("client connects");
                std::thread::spawn(move || run_client(sock, seed, c, y, progress))
            })
            .collect();
        // Kill after a random number of acknowledged scripts (a condition, not a time).
        let min_progress = 10 + rng.below(200);
        let hang = Instant::now() + Duration::from_secs(90);
        while progress.load(Ordering::Relaxed) < min_progress {
            assert!(Instant::now() < hang, "cycle {y}: no progress");
            std::thread::sleep(Duration::from_millis(1));
        }
        std::thread::sleep(Duration::from_micros(rng.below(5_000)));
        server.kill9();
        let logs: Vec<ClientLog> = handles
            .into_iter()
            .map(|h| h.join().expect("client thread"))
            .collect();
        for l in &logs {
            if let Some(e) = &l.error {
                panic!("[{appendfsync}] cycle {y}: {e}");
            }
        }
        server.restart();
        let mut conn = server.conn();
        let mut on_disk = 0;
        for (c, l) in logs.iter().enumerate() {
            on_disk += verify(&mut conn, seed, c, y, l);
        }
        let sent: u64 = logs.iter().map(|l| l.sent).sum();
        let acked: u64 = logs.iter().map(|l| l.acked).sum();
        if sent > acked {
            inflight_kills += 1;
        }
        println!(
            "[{appendfsync}] cycle {y}: sent {sent}, acknowledged {acked}, on disk {on_disk} (all whole)"
        );
    }
    println!(
        "[{appendfsync}] {CYCLES} kills in {:.1} s, {inflight_kills} with scripts in flight; none torn",
        started.elapsed().as_secs_f64()
    );
    assert!(
        inflight_kills * 2 >= CYCLES,
        "only {inflight_kills} of {CYCLES} kills found scripts in flight"
    );
}

#[test]
fn script_is_whole_or_absent_after_kill9_appendfsync_always() {
    kill_cycles("always");
}

#[test]
fn script_is_whole_or_absent_after_kill9_appendfsync_no() {
    kill_cycles("no");
}
