//! XACKDEL against plain XACK + XDEL, with the harness's pipelined load generator (not part of
//! the side-by-side run: Redis 7.0.15 has no XACKDEL).
//!
//! For each repetition and mode: a fresh stream of `--entries` entries (explicit IDs), one
//! group, every entry delivered with XREADGROUP (so all are pending), then every ID
//! acknowledged and deleted — one `XACKDEL key g [ACKED] IDS 1 id` per message, or an
//! `XACK key g id` and an `XDEL key id` per message — over `--conns` connections with
//! `--pipeline` requests in flight each. Reports messages per second (XACK+XDEL: two commands
//! per message) and checks that the stream and the PEL end empty.
//!
//! ```sh
//! cargo build --release -p sluice-server --bin sluice
//! target/release/sluice --port 6390 --dir /tmp/x --appendfsync everysec &
//! cargo run --release -p sluice-bench --example xackdel -- 127.0.0.1:6390 200000 3
//! ```

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use sluice_bench::loadgen::{self, Gen, Params};
use sluice_bench::resp::{self, Conn};

const KEY: &str = "bench:xackdel";

#[derive(Clone, Copy, Debug)]
enum Mode {
    Del,
    DelAcked,
    AckThenXdel,
}

impl Mode {
    fn label(self) -> &'static str {
        match self {
            Mode::Del => "XACKDEL IDS 1 id",
            Mode::DelAcked => "XACKDEL ACKED IDS 1 id",
            Mode::AckThenXdel => "XACK id + XDEL id",
        }
    }
}

async fn cmd(c: &mut Conn, args: &[&str]) -> Result<resp::Value, String> {
    let v = c.cmd_str(args).await.map_err(|e| e.to_string())?;
    if let Some(e) = v.err() {
        return Err(format!("{args:?}: {e}"));
    }
    Ok(v)
}

async fn one(addr: &str, p: &Params, n: u64, mode: Mode) -> Result<f64, String> {
    let mut c = Conn::connect(addr).await.map_err(|e| e.to_string())?;
    cmd(&mut c, &["DEL", KEY]).await?;
    // Fill: XADD i-1 (explicit IDs), pipelined.
    let next = Arc::new(AtomicUsize::new(1));
    let fill: Gen = Arc::new(move |buf, _rng, _idx| {
        let i = next.fetch_add(1, Ordering::Relaxed);
        let id = format!("{i}-1");
        resp::encode(
            buf,
            &[b"XADD", KEY.as_bytes(), id.as_bytes(), b"f", b"value"],
        );
    });
    // One connection: the IDs must arrive in order.
    let one_conn = Params {
        conns: 1,
        pipeline: p.pipeline,
        duration: p.duration,
        warmup: p.warmup,
    };
    loadgen::pipelined(addr, &one_conn, Some(n), fill)
        .await
        .map_err(|e| format!("fill: {e:?}"))?;
    let len = cmd(&mut c, &["XLEN", KEY]).await?.as_int();
    if len != Some(n as i64) {
        return Err(format!("filled {len:?} entries, wanted {n}"));
    }
    cmd(&mut c, &["XGROUP", "CREATE", KEY, "g", "0"]).await?;
    let ids = loadgen::claim_pending(addr, KEY, "g", "c", n)
        .await
        .map_err(|e| format!("read: {e:?}"))?;
    let ids = Arc::new(ids);
    let next = Arc::new(AtomicUsize::new(0));
    let (gen, ops): (Gen, u64) = match mode {
        Mode::Del | Mode::DelAcked => {
            let acked = matches!(mode, Mode::DelAcked);
            (
                Arc::new(move |buf, _rng, _idx| {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let id = &ids[i.min(ids.len() - 1)];
                    if acked {
                        resp::encode(
                            buf,
                            &[b"XACKDEL", KEY.as_bytes(), b"g", b"ACKED", b"IDS", b"1", id],
                        );
                    } else {
                        resp::encode(buf, &[b"XACKDEL", KEY.as_bytes(), b"g", b"IDS", b"1", id]);
                    }
                }),
                n,
            )
        }
        Mode::AckThenXdel => (
            Arc::new(move |buf, _rng, _idx| {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let id = &ids[(i / 2).min(ids.len() - 1)];
                if i.is_multiple_of(2) {
                    resp::encode(buf, &[b"XACK", KEY.as_bytes(), b"g", id]);
                } else {
                    resp::encode(buf, &[b"XDEL", KEY.as_bytes(), id]);
                }
            }),
            2 * n,
        ),
    };
    let stats = loadgen::pipelined(addr, p, Some(ops), gen)
        .await
        .map_err(|e| format!("{}: {e:?}", mode.label()))?;
    let len = cmd(&mut c, &["XLEN", KEY]).await?.as_int();
    let pending = cmd(&mut c, &["XPENDING", KEY, "g", "-", "+", "1"]).await?;
    if len != Some(0) || !matches!(&pending, resp::Value::Array(a) if a.is_empty()) {
        return Err(format!(
            "{}: left XLEN {len:?}, PEL {pending:?}",
            mode.label()
        ));
    }
    cmd(&mut c, &["DEL", KEY]).await?;
    // Messages per second: XACK+XDEL spends two commands on one.
    let per_msg = if matches!(mode, Mode::AckThenXdel) {
        2.0
    } else {
        1.0
    };
    Ok(stats.rate() / per_msg)
}

fn main() {
    let mut a = std::env::args().skip(1);
    let addr = a.next().unwrap_or_else(|| "127.0.0.1:6390".into());
    let n: u64 = a.next().and_then(|s| s.parse().ok()).unwrap_or(200_000);
    let reps: usize = a.next().and_then(|s| s.parse().ok()).unwrap_or(3);
    let p = Params {
        conns: 50,
        pipeline: 16,
        duration: Duration::from_secs(600),
        warmup: Duration::ZERO,
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let modes = [Mode::Del, Mode::AckThenXdel, Mode::DelAcked];
        let mut rates: Vec<Vec<f64>> = vec![Vec::new(); modes.len()];
        for rep in 0..reps {
            for (k, m) in modes.iter().enumerate() {
                match one(&addr, &p, n, *m).await {
                    Ok(r) => {
                        println!("rep {rep} {:<24} {:>10.0} msg/s", m.label(), r);
                        rates[k].push(r);
                    }
                    Err(e) => {
                        eprintln!("{e}");
                        std::process::exit(1);
                    }
                }
            }
        }
        for (k, m) in modes.iter().enumerate() {
            let mut v = rates[k].clone();
            v.sort_by(|a, b| a.total_cmp(b));
            let med = v[v.len() / 2];
            println!(
                "median {:<24} {:>10.0} msg/s (min {:.0}, max {:.0})",
                m.label(),
                med,
                v[0],
                v[v.len() - 1]
            );
        }
    });
}
