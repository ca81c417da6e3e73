//! Every command and subcommand of the table, called through the real dispatch path with
//! argument lists of exactly its minimal arity (and one and two more), filled with assorted
//! values: numbers, `0`, `-1`, `$`, `>`, `*`, `+`, `-`, keywords, empty strings. No call may
//! panic (a debug build also checks arithmetic overflow) — which is what "the arity covers
//! every fixed argument a handler reads" means in practice.
//!
//! The engine runs in-process on its own thread against a store in a temporary directory,
//! wired the way `lib.rs` wires it, on a loopback listener. Each call runs on a fresh
//! connection (closed with a reset, so 30,000 of them leave no TIME_WAIT behind); a `PING` on a
//! second, long-lived connection behind it tells a command that blocks (XREAD BLOCK 0, CLIENT
//! REPLY OFF) from one that killed the engine, whose thread then ends and closes every socket.
//! A failure names the command. SHUTDOWN is the one command not called: it stops the engine.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use sluice_server::config::{Config, SharedLimits};
use sluice_server::engine::{self, Engine};
use sluice_server::fsync::BackgroundFsync;
use sluice_server::net::NetStats;
use sluice_storage::Store;

/// Argument values: each argument list is filled from these.
const VALUES: &[&str] = &[
    "0",
    "-1",
    "1",
    "$",
    ">",
    "*",
    "+",
    "-",
    "(0",
    "(1-1",
    "",
    "k",
    "g",
    "c",
    "s",
    "1-1",
    "18446744073709551615-18446744073709551615",
    "9223372036854775807",
    "-9223372036854775808",
    "COUNT",
    "BLOCK",
    "STREAMS",
    "MKSTREAM",
    "GROUP",
    "NOACK",
    "MAXLEN",
    "MINID",
    "LIMIT",
    "~",
    "=",
    "IDLE",
    "FULL",
    "JUSTID",
    "FORCE",
    "ENTRIESREAD",
    "FILTERBY",
    "HELP",
];

/// State the commands find: a stream `k` with a group `g` whose consumer `c` has a pending
/// entry, and a string `s`.
const SETUP: &[&[&str]] = &[
    &["FLUSHALL"],
    &["XADD", "k", "1-1", "f", "v"],
    &["XADD", "k", "2-1", "f", "v"],
    &["XGROUP", "CREATE", "k", "g", "0"],
    &[
        "XREADGROUP",
        "GROUP",
        "g",
        "c",
        "COUNT",
        "1",
        "STREAMS",
        "k",
        ">",
    ],
    &["SET", "s", "v"],
];

struct Harness {
    addr: std::net::SocketAddr,
    /// The long-lived connection whose PING checks that the engine still runs.
    probe: TcpStream,
    stop: Arc<AtomicBool>,
    waker: Arc<mio::Waker>,
    engine: Option<std::thread::JoinHandle<()>>,
    _dir: tempfile::TempDir,
}

impl Harness {
    fn start() -> Harness {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = Config {
            dir: dir.path().to_path_buf(),
            ..Config::default()
        };
        let opts = sluice_server::store_options(&config);
        let store = Store::open(&config.dir, &opts, engine::now_ms()).expect("open the store");
        let fsync = BackgroundFsync::start(config.dir.clone()).expect("fsync thread");
        let limits = SharedLimits::new(&config);
        let listener = sluice_server::net::listen("127.0.0.1", 0, 128).expect("listen");
        let addr = listener.local_addr().expect("local address");
        let poll = mio::Poll::new().expect("poll");
        let waker = Arc::new(mio::Waker::new(poll.registry(), engine::WAKER).expect("waker"));
        let stop = Arc::new(AtomicBool::new(false));
        let engine = Engine::new(
            store,
            opts,
            fsync,
            config,
            limits,
            Arc::new(NetStats::default()),
            poll,
            vec![(listener, false)],
            stop.clone(),
        )
        .expect("engine");
        let engine = std::thread::spawn(move || {
            engine.run().expect("the engine stops cleanly");
        });
        let probe = TcpStream::connect(addr).expect("connect");
        probe
            .set_read_timeout(Some(Duration::from_secs(30)))
            .expect("timeout");
        Harness {
            addr,
            probe,
            stop,
            waker,
            engine: Some(engine),
            _dir: dir,
        }
    }

    /// Runs `argv` on a fresh client; returns what it answered by the time a PING on the
    /// probe connection is answered (`None` if it blocked or sent nothing). Panics, naming the
    /// command, if the engine died.
    fn call(&mut self, argv: &[Bytes]) -> Option<Vec<u8>> {
        let mut a = TcpStream::connect(self.addr).expect("connect");
        socket2::SockRef::from(&a)
            .set_linger(Some(Duration::ZERO))
            .expect("linger");
        let args: Vec<&[u8]> = argv.iter().map(|a| a.as_ref()).collect();
        a.write_all(&common::encode(&args)).expect("send");
        let mut pong = [0u8; 7];
        let alive = self
            .probe
            .write_all(b"PING\r\n")
            .and_then(|()| self.probe.read_exact(&mut pong))
            .is_ok()
            && &pong == b"+PONG\r\n";
        if !alive {
            let why = self.engine.take().map(|e| e.join());
            panic!(
                "the engine died running {:?} ({why:?})",
                argv.iter()
                    .map(|a| String::from_utf8_lossy(a).into_owned())
                    .collect::<Vec<_>>()
            );
        }
        // The engine runs a connection's command in the loop turn that sees its bytes, and
        // writes its reply at that turn's end: wait a moment for it when it is not there yet.
        a.set_read_timeout(Some(Duration::from_millis(200)))
            .expect("timeout");
        let mut buf = vec![0u8; 1 << 16];
        match a.read(&mut buf) {
            Ok(n) if n > 0 => Some(buf[..n].to_vec()),
            _ => None,
        }
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.waker.wake();
        if let Some(e) = self.engine.take() {
            let _ = e.join();
        }
    }
}

fn bytes(args: &[&str]) -> Vec<Bytes> {
    args.iter().map(|a| Bytes::from(a.to_string())).collect()
}

#[test]
fn every_handler_survives_its_minimal_arity() {
    let mut h = Harness::start();
    let mut calls = 0;
    for c in sluice_server::commands::all() {
        let rows = std::iter::once((vec![c.name], c)).chain(c.subcommands.iter().map(|s| {
            let sub = s.name.split_once('|').map_or(s.name, |(_, b)| b);
            (vec![c.name, sub], s)
        }));
        for (name, row) in rows {
            if row.handler.is_none() || row.name == "shutdown" {
                continue;
            }
            for setup in SETUP {
                assert!(h.call(&bytes(setup)).is_some(), "setup {setup:?}");
            }
            let min = row.arity.unsigned_abs() as usize;
            let n = VALUES.len();
            for argc in min..min + 3 {
                for v in 0..n {
                    // The same value everywhere, then two rotations through the values.
                    for stride in [0, 1, 3] {
                        let mut argv: Vec<&str> = name.clone();
                        while argv.len() < argc {
                            let p = argv.len();
                            argv.push(VALUES[(v + p * stride) % n]);
                        }
                        h.call(&bytes(&argv));
                        calls += 1;
                    }
                }
            }
        }
    }
    assert!(calls > 10_000, "{calls} calls: the table looks empty");
}
