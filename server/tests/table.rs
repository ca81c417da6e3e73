//! Every command and subcommand of the table, called through the real dispatch path with
//! argument lists of exactly its minimal arity (and one and two more), filled with assorted
//! values: numbers, `0`, `-1`, `$`, `>`, `*`, `+`, `-`, keywords, empty strings. No call may
//! panic (a debug build also checks arithmetic overflow) — which is what "the arity covers
//! every fixed argument a handler reads" means in practice.
//!
//! The engine runs in-process on its own thread against a store in a temporary directory,
//! fed through its message channel the way `lib.rs` wires it. Each call runs on a fresh client;
//! a `PING` from a second client behind it tells a command that blocks (XREAD BLOCK 0, CLIENT
//! REPLY OFF) from one that killed the engine, whose thread then ends and closes every reply
//! channel. A failure names the command.

use std::net::SocketAddr;
use std::sync::atomic::AtomicBool;
use std::sync::mpsc::Sender;
use std::sync::Arc;

use bytes::Bytes;
use sluice_server::config::{Config, SharedLimits};
use sluice_server::engine::{self, Engine, Msg, Response};
use sluice_server::fsync::BackgroundFsync;
use sluice_server::net::NetStats;
use sluice_storage::Store;
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver};

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
    tx: Sender<Msg>,
    next_id: u64,
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
        let (tx, rx) = std::sync::mpsc::channel();
        let engine = Engine::new(
            store,
            opts,
            fsync,
            config,
            limits,
            rx,
            Arc::new(AtomicBool::new(false)),
            Arc::new(NetStats::default()),
        );
        let engine = std::thread::spawn(move || {
            engine.run().expect("the engine stops cleanly");
        });
        Harness {
            tx,
            next_id: 1,
            engine: Some(engine),
            _dir: dir,
        }
    }

    fn connect(&mut self) -> (u64, UnboundedReceiver<Response>) {
        let id = self.next_id;
        self.next_id += 1;
        let addr: SocketAddr = "127.0.0.1:1".parse().expect("address");
        let (tx, rx) = unbounded_channel();
        self.send(Msg::Connect {
            id,
            addr,
            laddr: addr,
            tx,
        });
        (id, rx)
    }

    fn send(&self, m: Msg) {
        assert!(self.tx.send(m).is_ok(), "the engine is gone");
    }

    /// Runs `argv` on a fresh client; returns its reply, or `None` if it blocked or sent
    /// nothing. Panics, naming the command, if the engine died.
    fn call(&mut self, argv: &[Bytes]) -> Option<Vec<u8>> {
        let (a, mut a_rx) = self.connect();
        self.send(Msg::Request {
            id: a,
            commands: vec![argv.to_vec()],
        });
        let (b, mut b_rx) = self.connect();
        self.send(Msg::Request {
            id: b,
            commands: vec![vec![Bytes::from_static(b"PING")]],
        });
        if b_rx.blocking_recv().is_none() {
            let why = self.engine.take().map(|e| e.join());
            panic!(
                "the engine died running {:?} ({why:?})",
                argv.iter()
                    .map(|a| String::from_utf8_lossy(a).into_owned())
                    .collect::<Vec<_>>()
            );
        }
        let reply = a_rx.try_recv().ok().map(|r| r.data.to_vec());
        self.send(Msg::Disconnect { id: a });
        self.send(Msg::Disconnect { id: b });
        reply
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        let _ = self.tx.send(Msg::Shutdown);
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
            if row.handler.is_none() {
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
