//! Idempotent producers survive kill -9: with `--appendfsync always`, several producers pipeline
//! `XADD s IDMP <pid> msg-<n> * w <w> n <n>` in batches; the server is killed at a random moment
//! and restarted on the same directory, several times. After each restart every producer
//! retries from a few messages before its first unacknowledged one — as a producer that does not
//! know what got through does — and goes on. At the end the stream must hold exactly one entry
//! per message (none lost, none duplicated by a retry), and every ID a producer was ever told
//! (first time or on a retry) must be that entry's ID.
//!
//! The seed is printed; `SLUICE_IDMP_CRASH_SEED` replays the same kill delays (the kill moment
//! itself still depends on timing).

mod common;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::{encode, frame_len, parse_resp, Resp, Rng, Server};

const KEY: &[u8] = b"idmp:s";
const PRODUCERS: usize = 4;
const MESSAGES: u64 = 400;
const BATCH: u64 = 8;
/// How far back a producer retries after a crash (already acknowledged messages included).
const RETRY_BACK: u64 = 12;
const KILLS: usize = 6;

#[derive(Default, Clone)]
struct Producer {
    /// First message not acknowledged yet.
    next: u64,
    /// Every ID the producer was told, by message.
    told: BTreeMap<u64, Vec<u8>>,
}

/// Sends the producer's remaining messages; returns early (Err) when the connection dies.
fn produce(port: u16, w: usize, p: &mut Producer) -> Result<(), String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok();
    let pid = format!("producer-{w}");
    while p.next < MESSAGES {
        let batch: Vec<u64> = (p.next..(p.next + BATCH).min(MESSAGES)).collect();
        let mut out = Vec::new();
        for n in &batch {
            let msg = format!("msg-{n}");
            let (ws, ns) = (w.to_string(), n.to_string());
            out.extend(encode(&[
                b"XADD",
                KEY,
                b"IDMP",
                pid.as_bytes(),
                msg.as_bytes(),
                b"*",
                b"w",
                ws.as_bytes(),
                b"n",
                ns.as_bytes(),
            ]));
        }
        s.write_all(&out).map_err(|e| e.to_string())?;
        let mut buf = Vec::new();
        let mut tmp = [0u8; 4096];
        let mut got = 0;
        while got < batch.len() {
            while let Some(len) = frame_len(&buf) {
                let (r, _) = parse_resp(&buf[..len]);
                buf.drain(..len);
                let n = batch[got];
                let Resp::Bulk(id) = r else {
                    panic!("producer {w} message {n}: unexpected reply {r:?}");
                };
                if let Some(prev) = p.told.get(&n) {
                    assert_eq!(
                        prev, &id,
                        "producer {w} message {n}: a retry was told another ID"
                    );
                }
                p.told.insert(n, id);
                got += 1;
                p.next = p.next.max(n + 1);
            }
            if got == batch.len() {
                break;
            }
            match s.read(&mut tmp) {
                Ok(0) => return Err("closed".into()),
                Ok(k) => buf.extend_from_slice(&tmp[..k]),
                Err(e) => return Err(e.to_string()),
            }
        }
    }
    Ok(())
}

fn run_all(port: u16, producers: &mut [Producer]) {
    std::thread::scope(|sc| {
        for (w, p) in producers.iter_mut().enumerate() {
            sc.spawn(move || {
                let _ = produce(port, w, p);
            });
        }
    });
}

#[test]
fn idmp_retries_after_kill9_add_no_duplicates() {
    let seed = std::env::var("SLUICE_IDMP_CRASH_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(1)
        });
    eprintln!("SLUICE_IDMP_CRASH_SEED={seed}");
    let mut rng = Rng::new(seed);
    let tmp = tempfile::tempdir().expect("tempdir");
    let flags = ["--appendfsync", "always"];
    let mut server = Server::start_in(tmp.path(), &flags);
    // A window large enough for every retry: 1000 iids per producer.
    server.conn().req_str("XADD idmp:s 1-0 init 1");
    assert_eq!(
        server
            .conn()
            .req_str("XCFGSET idmp:s IDMP-MAXSIZE 1000")
            .text(),
        "OK"
    );
    let mut producers = vec![Producer::default(); PRODUCERS];
    for _ in 0..KILLS {
        let port = server.port;
        let delay = 20 + rng.below(200);
        std::thread::scope(|sc| {
            sc.spawn(|| run_all(port, &mut producers));
            std::thread::sleep(Duration::from_millis(delay));
            server.kill9();
        });
        let progress: Vec<u64> = producers.iter().map(|p| p.next).collect();
        eprintln!("killed after {delay} ms: acknowledged {progress:?}");
        server.restart();
        for p in producers.iter_mut() {
            p.next = p.next.saturating_sub(RETRY_BACK);
        }
    }
    run_all(server.port, &mut producers);
    for (w, p) in producers.iter().enumerate() {
        assert_eq!(p.next, MESSAGES, "producer {w} did not finish");
    }
    // Exactly one entry per message, each under the ID its producer was told.
    let mut c = server.conn();
    let all = c.req(&[b"XRANGE", KEY, b"2", b"+"]);
    let mut seen: BTreeMap<(usize, u64), Vec<u8>> = BTreeMap::new();
    for e in all.array() {
        let parts = e.array();
        let id = parts[0].bulk().to_vec();
        let f = parts[1].array();
        let w: usize = f[1].text().parse().expect("w");
        let n: u64 = f[3].text().parse().expect("n");
        if let Some(prev) = seen.insert((w, n), id.clone()) {
            panic!(
                "message {n} of producer {w} added twice: {} and {}",
                String::from_utf8_lossy(&prev),
                String::from_utf8_lossy(&id)
            );
        }
    }
    assert_eq!(seen.len() as u64, PRODUCERS as u64 * MESSAGES);
    for (w, p) in producers.iter().enumerate() {
        for (n, id) in &p.told {
            assert_eq!(seen.get(&(w, *n)), Some(id), "producer {w} message {n}");
        }
    }
    let info = c.req_str("XINFO STREAM idmp:s");
    assert_eq!(
        info.field("iids-added").int() as u64,
        PRODUCERS as u64 * MESSAGES
    );
    assert!(
        info.field("iids-duplicates").int() > 0,
        "no retry was a duplicate"
    );
}
