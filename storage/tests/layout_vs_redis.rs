//! Compares `stream::layout::NodeLayout` with a real `redis-server` 7.0: after every command of
//! seeded pseudo-random sequences (XADD with and without trimming, XDEL, XTRIM, CONFIG SET of
//! the node limits, DEL, DEBUG RELOAD), `XLEN`, the XTRIM/XDEL replies and `XINFO STREAM`'s
//! `length`, `radix-tree-keys`, `radix-tree-nodes` and `first-entry` must agree.
//!
//! Needs `redis-server` (Redis 7.0, e.g. Debian's `redis-server` package) at
//! `/usr/bin/redis-server`, on `PATH`, or named by `REDIS_SERVER`; fails if it is missing.

use std::collections::{HashMap, VecDeque};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use proptest::prelude::*;
use proptest::test_runner::{Config as PropConfig, RngAlgorithm, TestRng, TestRunner};
use sluice_storage::stream::layout::{
    effective_trim_limit, NodeLayout, NodeLimits, NodeSummary, Trim,
};
use sluice_storage::stream::rax::Rax;
use sluice_storage::stream::StreamId;

// ---------------------------------------------------------------------------------------------
// The server.

/// A `redis-server` child process, killed on drop (also when a test panics).
struct RedisServer {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            let log =
                std::fs::read_to_string(self._dir.path().join("redis.log")).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(400).collect();
            eprintln!("redis-server log (last lines):");
            for l in tail.iter().rev() {
                eprintln!("  {l}");
            }
        }
    }
}

fn redis_binary() -> PathBuf {
    let mut candidates = Vec::new();
    if let Some(p) = std::env::var_os("REDIS_SERVER") {
        candidates.push(PathBuf::from(p));
    }
    candidates.push(PathBuf::from("/usr/bin/redis-server"));
    if let Some(path) = std::env::var_os("PATH") {
        candidates.extend(std::env::split_paths(&path).map(|dir| dir.join("redis-server")));
    }
    candidates
        .into_iter()
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
            "redis-server not found (looked at $REDIS_SERVER, /usr/bin/redis-server and $PATH): \
             this test compares the stream layout emulation with a real Redis 7.0; install it \
             with `apt-get install redis-server`"
        )
        })
}

fn start_redis() -> RedisServer {
    let bin = redis_binary();
    for _attempt in 0..5 {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let dir = tempfile::tempdir().unwrap();
        let child = Command::new(&bin)
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .args([
                "--enable-debug-command",
                "yes",
                "--daemonize",
                "no",
                "--dir",
            ])
            .arg(dir.path())
            .arg("--logfile")
            .arg(dir.path().join("redis.log"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
        let mut server = RedisServer {
            child,
            port,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = server.child.try_wait() {
                break; // exited: port taken? try another
            }
            if let Ok(mut c) = Client::connect(port) {
                if matches!(c.call(&[b"PING".to_vec()]), Resp::Simple(ref s) if s == "PONG") {
                    return server;
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        drop(server);
    }
    panic!("redis-server ({}) did not start", bin.display());
}

// ---------------------------------------------------------------------------------------------
// A minimal RESP2 client.

#[derive(Clone, Debug, PartialEq)]
enum Resp {
    Simple(String),
    Error(String),
    Int(i64),
    Bulk(Option<Vec<u8>>),
    Array(Option<Vec<Resp>>),
}

struct Client {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl Client {
    fn connect(port: u16) -> std::io::Result<Client> {
        let s = TcpStream::connect(("127.0.0.1", port))?;
        s.set_read_timeout(Some(Duration::from_secs(20)))?;
        s.set_nodelay(true)?;
        Ok(Client {
            reader: BufReader::new(s.try_clone()?),
            writer: s,
        })
    }

    fn send(&mut self, args: &[Vec<u8>]) {
        let mut buf = format!("*{}\r\n", args.len()).into_bytes();
        for a in args {
            buf.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
            buf.extend_from_slice(a);
            buf.extend_from_slice(b"\r\n");
        }
        self.writer.write_all(&buf).expect("write to redis");
    }

    fn line(&mut self) -> Result<String, String> {
        let mut l = String::new();
        self.reader
            .read_line(&mut l)
            .map_err(|e| format!("read from redis: {e}"))?;
        if !l.ends_with("\r\n") {
            return Err(format!(
                "truncated reply line {l:?} (did redis-server exit?)"
            ));
        }
        l.truncate(l.len() - 2);
        Ok(l)
    }

    fn read(&mut self) -> Resp {
        self.try_read().unwrap_or_else(|e| panic!("{e}"))
    }

    fn try_read(&mut self) -> Result<Resp, String> {
        let l = self.line()?;
        let (t, rest) = l.split_at(1);
        Ok(match t {
            "+" => Resp::Simple(rest.to_string()),
            "-" => Resp::Error(rest.to_string()),
            ":" => Resp::Int(rest.parse().unwrap()),
            "$" => {
                let n: i64 = rest.parse().unwrap();
                if n < 0 {
                    return Ok(Resp::Bulk(None));
                }
                let mut b = vec![0; n as usize + 2];
                self.reader
                    .read_exact(&mut b)
                    .map_err(|e| format!("read bulk: {e}"))?;
                b.truncate(n as usize);
                Resp::Bulk(Some(b))
            }
            "*" => {
                let n: i64 = rest.parse().unwrap();
                if n < 0 {
                    return Ok(Resp::Array(None));
                }
                Resp::Array(Some(
                    (0..n).map(|_| self.try_read()).collect::<Result<_, _>>()?,
                ))
            }
            _ => return Err(format!("unexpected reply line {l:?}")),
        })
    }

    fn call(&mut self, args: &[Vec<u8>]) -> Resp {
        self.send(args);
        self.read()
    }
}

fn b(s: impl AsRef<[u8]>) -> Vec<u8> {
    s.as_ref().to_vec()
}

fn idb(id: StreamId) -> Vec<u8> {
    id.to_string().into_bytes()
}

// ---------------------------------------------------------------------------------------------
// Sources of choices: a seeded generator, or a list of words from proptest (which shrinks it).

trait Source {
    fn word(&mut self) -> u64;
    fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.word() % n
        }
    }
}

struct SplitMix(u64);

impl Source for SplitMix {
    fn word(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

struct Words<'a> {
    words: &'a [u64],
    pos: usize,
}

impl Source for Words<'_> {
    fn word(&mut self) -> u64 {
        let w = self.words.get(self.pos).copied().unwrap_or(0);
        self.pos += 1;
        w
    }
}

// ---------------------------------------------------------------------------------------------
// The comparison.

const KEY: &[u8] = b"s";

#[derive(Clone, Copy, Debug)]
struct TrimSpec {
    strategy: Trim,
    approx: bool,
    limit: Option<u64>,
}

impl TrimSpec {
    fn args(&self) -> Vec<Vec<u8>> {
        let mut a = match self.strategy {
            Trim::MaxLen(n) => vec![
                b("MAXLEN"),
                b(if self.approx { "~" } else { "=" }),
                b(n.to_string()),
            ],
            Trim::MinId(id) => vec![b("MINID"), b(if self.approx { "~" } else { "=" }), idb(id)],
        };
        if let Some(l) = self.limit {
            a.push(b("LIMIT"));
            a.push(b(l.to_string()));
        }
        a
    }
}

struct Sim<'c> {
    c: &'c mut Client,
    /// `None` while the key does not exist.
    layout: Option<NodeLayout>,
    /// Live entry IDs in order (the model of what the store keeps on disk).
    live: Vec<StreamId>,
    /// Last ID ever added to the key (XADD must go above it).
    last_id: StreamId,
    /// Field names of the previous XADD, reused often to get same-fields entries.
    prev_names: Vec<Vec<u8>>,
    limits: NodeLimits,
    /// Listpack pre-allocation Redis used for each node when it created it (0 after DEBUG
    /// RELOAD, which allocates exact sizes); see [`Sim::avoid_redis_uaf`].
    node_prealloc: HashMap<StreamId, u64>,
    history: VecDeque<String>,
    compared: u64,
    stats: Stats,
    /// Growth mode: trims only cut a little at the head.
    growth: bool,
}

/// What the sequences exercised, printed at the end.
#[derive(Debug, Default)]
struct Stats {
    xadd: u64,
    nodes_created: u64,
    approx_trims_removing: u64,
    exact_trims_flagging: u64,
    xdel_freeing_node: u64,
    nodes_without_live_entries: u64,
    max_nodes: u64,
    max_rax_nodes: u64,
    reloads: u64,
}

impl Stats {
    fn add(&mut self, o: &Stats) {
        self.xadd += o.xadd;
        self.nodes_created += o.nodes_created;
        self.approx_trims_removing += o.approx_trims_removing;
        self.exact_trims_flagging += o.exact_trims_flagging;
        self.xdel_freeing_node += o.xdel_freeing_node;
        self.nodes_without_live_entries += o.nodes_without_live_entries;
        self.max_nodes = self.max_nodes.max(o.max_nodes);
        self.max_rax_nodes = self.max_rax_nodes.max(o.max_rax_nodes);
        self.reloads += o.reloads;
    }
}

/// `streamAppendItem`'s pre-allocation for a new listpack.
fn prealloc(max_bytes: u64) -> u64 {
    if max_bytes > 0 && max_bytes < 4096 {
        max_bytes
    } else {
        4096
    }
}

fn show(args: &[Vec<u8>]) -> String {
    args.iter()
        .map(|a| {
            if a.len() > 24 {
                format!("<{} bytes>", a.len())
            } else {
                String::from_utf8_lossy(a).into_owned()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

impl<'c> Sim<'c> {
    fn new(c: &'c mut Client) -> Self {
        let mut sim = Sim {
            c,
            layout: None,
            live: Vec::new(),
            last_id: StreamId::MIN,
            prev_names: vec![b("f")],
            limits: NodeLimits::default(),
            node_prealloc: HashMap::new(),
            history: VecDeque::new(),
            compared: 0,
            stats: Stats::default(),
            growth: false,
        };
        sim.redis(&[b("DEL"), b(KEY)]);
        sim.set_limits(NodeLimits::default());
        sim
    }

    fn fail(&self, what: String) -> ! {
        let h: Vec<&str> = self.history.iter().map(String::as_str).collect();
        panic!("{what}\nlast commands:\n  {}", h.join("\n  "));
    }

    fn redis(&mut self, args: &[Vec<u8>]) -> Resp {
        self.history.push_back(show(args));
        if self.history.len() > 25 {
            self.history.pop_front();
        }
        self.c.send(args);
        let r = self.read();
        if let Resp::Error(e) = &r {
            if !args[0].eq_ignore_ascii_case(b"XINFO") {
                self.fail(format!("redis error {e}"));
            }
        }
        r
    }

    fn read(&mut self) -> Resp {
        match self.c.try_read() {
            Ok(r) => r,
            Err(e) => self.fail(e),
        }
    }

    fn set_limits(&mut self, limits: NodeLimits) {
        self.redis(&[
            b("CONFIG"),
            b("SET"),
            b("stream-node-max-entries"),
            b(limits.max_entries.to_string()),
            b("stream-node-max-bytes"),
            b(limits.max_bytes.to_string()),
        ]);
        self.limits = limits;
    }

    fn layout(&mut self) -> &mut NodeLayout {
        self.layout.get_or_insert_with(NodeLayout::new)
    }

    /// Applies a trim to the layout and the model; returns the count removed.
    fn apply_trim(&mut self, spec: TrimSpec) -> u64 {
        let limit = effective_trim_limit(spec.approx, spec.limit, self.limits.max_entries);
        let live = &self.live;
        let Some(layout) = self.layout.as_mut() else {
            return 0;
        };
        let out = layout.trim(spec.strategy, spec.approx, limit, |from, to| {
            let lo = live.partition_point(|&x| x < from);
            let hi = live.partition_point(|&x| x < to);
            (hi - lo) as u64
        });
        if spec.approx && out.removed > 0 {
            self.stats.approx_trims_removing += 1;
        }
        if out.partial_node.is_some() {
            self.stats.exact_trims_flagging += 1;
        }
        if let Some(p) = out.partial_node {
            if layout.node(p).is_some_and(|n| n.live == 0) {
                self.stats.nodes_without_live_entries += 1;
            }
        }
        let removed = out.removed as usize;
        if removed > self.live.len() {
            self.fail(format!(
                "trim removed {removed} of {} live entries",
                self.live.len()
            ));
        }
        // Every live entry of a dropped node must be among the removed ones.
        for (from, to) in &out.dropped_nodes {
            if self.live[removed..].iter().any(|x| x >= from && x <= to) {
                self.fail(format!("dropped node {from}..={to} still has live entries"));
            }
        }
        self.live.drain(..removed);
        out.removed
    }

    fn gen_id(&mut self, src: &mut dyn Source) -> StreamId {
        let last = self.last_id;
        let r = src.word();
        let jump = match r % 10 {
            0..=4 => None,
            5..=7 => Some((1 + src.below(1000), src.below(4))),
            8 => Some(((1 << 32) + src.below(1 << 40), src.word())),
            _ => Some(((1 << 63) + src.below(1000), src.below(3))),
        };
        if let Some((d, seq)) = jump {
            if let Some(ms) = last.ms.checked_add(d) {
                return StreamId::new(ms, seq);
            }
        }
        let step = 1 + (r >> 8) % 3;
        match last.seq.checked_add(step) {
            Some(seq) => StreamId::new(last.ms, seq),
            None => StreamId::new(last.ms + 1, 0),
        }
    }

    fn gen_value(src: &mut dyn Source) -> Vec<u8> {
        let letters = |src: &mut dyn Source, n: u64| -> Vec<u8> {
            (0..n)
                .map(|i| b'a' + ((src.word() >> (i % 8)) % 26) as u8)
                .collect()
        };
        match src.below(17) {
            0 => b(src.below(128).to_string()),
            1 => b((src.below(10_000) as i64 - 5000).to_string()),
            2 => b((src.word() as i64 >> src.below(64)).to_string()),
            3 => b(["007", "00", "-0", "+5", "1.5", " 1", "1 ", "-"][src.below(8) as usize]),
            4 => b(""),
            5 => b([
                "9223372036854775807",
                "-9223372036854775808",
                "9223372036854775808",
                "-9223372036854775809",
            ][src.below(4) as usize]),
            6 => b((src.below(1 << 24) as i64 - (1 << 23)).to_string()),
            7 => b((src.below(1 << 33) as i64 - (1 << 32)).to_string()),
            8..=10 => {
                let n = 1 + src.below(20);
                letters(src, n)
            }
            11 | 12 => {
                let n = 50 + src.below(90);
                vec![b'x'; n as usize]
            }
            13 => {
                let n = 4000 + src.below(200);
                vec![b'y'; n as usize]
            }
            14 => {
                if src.below(3) == 0 {
                    vec![b'z'; 16_370 + src.below(20) as usize]
                } else {
                    vec![b'z'; 200 + src.below(400) as usize]
                }
            }
            _ => letters(src, 3),
        }
    }

    fn gen_fields(&mut self, src: &mut dyn Source) -> Vec<(Vec<u8>, Vec<u8>)> {
        const NAMES: &[&str] = &[
            "f",
            "a",
            "b",
            "name",
            "1",
            "23",
            "-5",
            "007",
            "",
            "temperature",
            "9223372036854775807",
            "a-much-longer-field-name-for-the-digest-path-of-master-fields--",
            "x",
        ];
        let names: Vec<Vec<u8>> = if src.below(10) < 6 {
            self.prev_names.clone()
        } else {
            let n = if src.below(20) == 0 {
                6 + src.below(4)
            } else {
                1 + src.below(4)
            };
            (0..n)
                .map(|_| b(NAMES[src.below(NAMES.len() as u64) as usize]))
                .collect()
        };
        self.prev_names = names.clone();
        names
            .into_iter()
            .map(|n| (n, Self::gen_value(src)))
            .collect()
    }

    fn gen_trim(&mut self, src: &mut dyn Source) -> TrimSpec {
        let approx = src.below(2) == 0;
        let len = self.live.len() as u64;
        let strategy = if self.growth {
            if src.below(2) == 0 {
                Trim::MaxLen(len.saturating_sub(src.below(6)))
            } else if let Some(&x) = self.live.get(src.below(len.min(6)) as usize) {
                Trim::MinId(x)
            } else {
                Trim::MinId(StreamId::MIN)
            }
        } else if src.below(2) == 0 {
            let n = match src.below(4) {
                0 => 0,
                1 => len.saturating_sub(src.below(5)),
                _ => src.below(len + 5),
            };
            Trim::MaxLen(n)
        } else {
            let id = if self.live.is_empty() || src.below(8) == 0 {
                match src.below(3) {
                    0 => StreamId::MIN,
                    1 => self.last_id,
                    _ => self.last_id.successor().unwrap_or(StreamId::MAX),
                }
            } else {
                let x = self.live[src.below(len) as usize];
                match src.below(4) {
                    0 => x.predecessor().unwrap_or(x),
                    1 => x.successor().unwrap_or(x),
                    _ => x,
                }
            };
            Trim::MinId(id)
        };
        let limit = if approx && src.below(3) == 0 {
            Some(match src.below(4) {
                0 => 0,
                _ => src.below(len + 3),
            })
        } else {
            None
        };
        TrimSpec {
            strategy,
            approx,
            limit,
        }
    }

    /// Redis 7.0.15 has a use-after-free in `streamAppendItem` (the same code as valkey issue
    /// #4705, fixed by valkey PR #4711): when XADD starts a new node it shrinks the old tail
    /// listpack (`lpShrinkToFit`), which may move it, but keeps comparing against the old
    /// address (`ri.data`); if the new node then grows by realloc into exactly that freed block,
    /// the rax keeps a dangling pointer and the server later crashes or returns garbage. With
    /// jemalloc that needs the new node to outgrow its pre-allocation into the old tail's
    /// allocation size class, which can only happen when the pre-allocation in force now
    /// (`min(stream-node-max-bytes, 4096)`) is smaller than when the tail was created. Before
    /// such an XADD this raises `stream-node-max-bytes` back to its value at the tail's creation
    /// (an ordinary CONFIG SET, compared like any other).
    fn avoid_redis_uaf(&mut self, id: StreamId, fields: &[(Vec<u8>, Vec<u8>)]) {
        let Some(layout) = &self.layout else { return };
        let Some((&tail, _)) = layout.nodes().next_back() else {
            return;
        };
        let tail_prealloc = self.node_prealloc.get(&tail).copied().unwrap_or(0);
        if prealloc(self.limits.max_bytes) >= tail_prealloc {
            return;
        }
        if !layout.clone().append(id, fields, self.limits).created {
            return;
        }
        let max_bytes = if tail_prealloc >= 4096 {
            0
        } else {
            tail_prealloc
        };
        self.set_limits(NodeLimits {
            max_entries: self.limits.max_entries,
            max_bytes,
        });
    }

    fn xadd(&mut self, src: &mut dyn Source, with_trim: bool) {
        let id = self.gen_id(src);
        let fields = self.gen_fields(src);
        let trim = with_trim.then(|| self.gen_trim(src));
        self.exec_xadd(id, &fields, trim);
    }

    fn exec_xadd(&mut self, id: StreamId, fields: &[(Vec<u8>, Vec<u8>)], trim: Option<TrimSpec>) {
        self.avoid_redis_uaf(id, fields);
        let mut args = vec![b("XADD"), b(KEY)];
        if let Some(t) = &trim {
            args.extend(t.args());
        }
        args.push(idb(id));
        for (f, v) in fields {
            args.push(f.clone());
            args.push(v.clone());
        }
        let reply = self.redis(&args);
        if reply != Resp::Bulk(Some(idb(id))) {
            self.fail(format!("XADD replied {reply:?}"));
        }
        let limits = self.limits;
        self.stats.xadd += 1;
        if self.layout().append(id, fields, limits).created {
            self.stats.nodes_created += 1;
            self.node_prealloc.insert(id, prealloc(limits.max_bytes));
        }
        self.live.push(id);
        self.last_id = id;
        if let Some(t) = trim {
            self.apply_trim(t);
        }
    }

    fn xdel(&mut self, src: &mut dyn Source) {
        let mut ids = Vec::new();
        for _ in 0..1 + src.below(3) {
            let id = if !self.live.is_empty() && src.below(5) != 0 {
                self.live[src.below(self.live.len() as u64) as usize]
            } else {
                StreamId::new(src.below(self.last_id.ms.saturating_add(2)), src.below(4))
            };
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
        self.exec_xdel(&ids);
    }

    fn exec_xdel(&mut self, ids: &[StreamId]) {
        let mut args = vec![b("XDEL"), b(KEY)];
        args.extend(ids.iter().map(|&id| idb(id)));
        let reply = self.redis(&args);
        let mut deleted = 0;
        for &id in ids {
            if let Ok(pos) = self.live.binary_search(&id) {
                self.live.remove(pos);
                match self.layout.as_mut().and_then(|l| l.delete(id)) {
                    None => self.fail(format!("layout could not delete live {id}")),
                    Some(o) if o.node_removed => self.stats.xdel_freeing_node += 1,
                    Some(_) => {}
                }
                deleted += 1;
            }
        }
        if reply != Resp::Int(deleted) {
            self.fail(format!("XDEL replied {reply:?}, model deleted {deleted}"));
        }
    }

    fn xtrim(&mut self, src: &mut dyn Source) {
        let spec = self.gen_trim(src);
        self.exec_xtrim(spec);
    }

    fn exec_xtrim(&mut self, spec: TrimSpec) -> u64 {
        let mut args = vec![b("XTRIM"), b(KEY)];
        args.extend(spec.args());
        let reply = self.redis(&args);
        let removed = self.apply_trim(spec);
        if reply != Resp::Int(removed as i64) {
            self.fail(format!("XTRIM replied {reply:?}, layout removed {removed}"));
        }
        removed
    }

    fn config(&mut self, src: &mut dyn Source) {
        const ENTRIES: &[u64] = &[0, 1, 2, 3, 5, 10, 100, 1000];
        const BYTES: &[u64] = &[0, 1, 30, 50, 100, 200, 300, 500, 1000, 4096, 10_000];
        let max_entries = ENTRIES[src.below(ENTRIES.len() as u64) as usize];
        let max_bytes = if src.below(3) == 0 {
            20 + src.below(600)
        } else {
            BYTES[src.below(BYTES.len() as u64) as usize]
        };
        self.set_limits(NodeLimits {
            max_entries,
            max_bytes,
        });
    }

    /// `DEBUG RELOAD` on Redis; the layout is rebuilt from its persisted node summaries.
    fn reload(&mut self) {
        self.stats.reloads += 1;
        let reply = self.redis(&[b("DEBUG"), b("RELOAD")]);
        if reply != Resp::Simple("OK".into()) {
            self.fail(format!("DEBUG RELOAD replied {reply:?}"));
        }
        if let Some(l) = &self.layout {
            let persisted: Vec<(StreamId, Vec<u8>)> =
                l.nodes().map(|(k, v)| (*k, v.to_bytes())).collect();
            let rebuilt = NodeLayout::from_nodes(
                persisted
                    .iter()
                    .map(|(k, bytes)| (*k, NodeSummary::decode(bytes).expect("decodes"))),
            );
            self.layout = Some(rebuilt);
        }
        // Loaded listpacks are allocated to their exact size.
        self.node_prealloc.values_mut().for_each(|p| *p = 0);
    }

    /// One random command, then the comparison. `growth` favours XADD so that streams reach
    /// hundreds of nodes.
    fn step(&mut self, src: &mut dyn Source, growth: bool) {
        self.growth = growth;
        let r = src.below(100);
        if growth {
            match r {
                0..=79 => self.xadd(src, false),
                80..=84 => self.xadd(src, true),
                85..=94 => self.xdel(src),
                95..=97 => self.xtrim(src),
                98 => self.config(src),
                _ => self.reload(),
            }
        } else {
            match r {
                0..=44 => self.xadd(src, false),
                45..=59 => self.xadd(src, true),
                60..=73 => self.xdel(src),
                74..=87 => self.xtrim(src),
                88..=94 => self.config(src),
                95 | 96 => self.del_key(),
                97 => self.reload(),
                _ => self.xadd(src, false),
            }
        }
        self.check();
    }

    fn del_key(&mut self) {
        self.redis(&[b("DEL"), b(KEY)]);
        self.layout = None;
        self.node_prealloc.clear();
        self.live.clear();
        self.last_id = StreamId::MIN;
    }

    /// Compares the layout with Redis: XLEN and XINFO STREAM, pipelined.
    fn check(&mut self) {
        self.c.send(&[b("XLEN"), b(KEY)]);
        self.c.send(&[b("XINFO"), b("STREAM"), b(KEY)]);
        self.history.push_back("(XLEN, XINFO STREAM)".into());
        let xlen = self.read();
        let info = self.read();
        self.history.pop_back();
        self.compared += 1;
        let model_len = self.live.len() as u64;
        let Some(layout) = &self.layout else {
            if xlen != Resp::Int(0) || !matches!(info, Resp::Error(_)) {
                self.fail(format!(
                    "key should not exist: XLEN {xlen:?}, XINFO {info:?}"
                ));
            }
            return;
        };
        let (len, keys, nodes) = (
            layout.len(),
            layout.radix_tree_keys(),
            layout.radix_tree_nodes(),
        );
        self.stats.max_nodes = self.stats.max_nodes.max(keys);
        self.stats.max_rax_nodes = self.stats.max_rax_nodes.max(nodes);
        if len != model_len {
            self.fail(format!("layout length {len} != model length {model_len}"));
        }
        if xlen != Resp::Int(len as i64) {
            self.fail(format!("XLEN {xlen:?} != layout {len}"));
        }
        let rebuilt = if keys <= 64 || self.compared.is_multiple_of(61) {
            Rax::from_keys(layout.nodes().map(|(k, _)| k.to_be_bytes())).node_count()
        } else {
            nodes
        };
        if rebuilt != nodes {
            self.fail(format!(
                "rax rebuilt from keys has {rebuilt} nodes, incremental {nodes}"
            ));
        }
        let Resp::Array(Some(fields)) = &info else {
            self.fail(format!("XINFO STREAM replied {info:?}"))
        };
        let get = |name: &str| -> Resp {
            for pair in fields.chunks(2) {
                if pair[0] == Resp::Bulk(Some(b(name))) {
                    return pair[1].clone();
                }
            }
            panic!("XINFO STREAM has no {name}");
        };
        let want = [
            ("length", len),
            ("radix-tree-keys", keys),
            ("radix-tree-nodes", nodes),
        ];
        for (name, ours) in want {
            let theirs = get(name);
            if theirs != Resp::Int(ours as i64) {
                self.fail(format!("XINFO {name}: redis {theirs:?}, layout {ours}"));
            }
        }
        let first = match get("first-entry") {
            Resp::Array(Some(e)) => match &e[0] {
                Resp::Bulk(Some(id)) => Some(String::from_utf8_lossy(id).into_owned()),
                other => self.fail(format!("first-entry id {other:?}")),
            },
            Resp::Array(None) | Resp::Bulk(None) => None,
            other => self.fail(format!("first-entry {other:?}")),
        };
        let ours = self.live.first().map(|id| id.to_string());
        if first != ours {
            self.fail(format!("first-entry: redis {first:?}, model {ours:?}"));
        }
    }
}

fn check_version(c: &mut Client) {
    let Resp::Bulk(Some(info)) = c.call(&[b("INFO"), b("server")]) else {
        panic!("INFO failed")
    };
    let info = String::from_utf8_lossy(&info).into_owned();
    let version = info
        .lines()
        .find_map(|l| l.strip_prefix("redis_version:"))
        .unwrap_or("?")
        .to_string();
    assert!(
        version.starts_with("7.0."),
        "the layout emulates Redis 7.0 (Debian bookworm's redis-server 7.0.15); found redis {version}"
    );
}

#[test]
fn seeded_sequences_match_redis() {
    let server = start_redis();
    let mut c = Client::connect(server.port).unwrap();
    check_version(&mut c);
    let started = Instant::now();
    let mut total = 0;
    let mut stats = Stats::default();
    // Mixed sequences: frequent trims, deletes, limit changes, DEL and DEBUG RELOAD.
    for seed in 0..10u64 {
        let mut src = SplitMix(0x5EED_0000 + seed);
        let mut sim = Sim::new(&mut c);
        // Some seeds start with small node limits so that boundaries are hit all the time.
        if seed % 2 == 1 {
            sim.set_limits(NodeLimits {
                max_entries: 5,
                max_bytes: 200,
            });
        }
        for _ in 0..1500 {
            sim.step(&mut src, false);
        }
        total += sim.compared;
        stats.add(&sim.stats);
    }
    // Growing streams: mostly XADD, so that the rax holds hundreds of keys.
    let growth_limits = [
        NodeLimits::default(),
        NodeLimits {
            max_entries: 3,
            max_bytes: 300,
        },
        NodeLimits {
            max_entries: 1,
            max_bytes: 0,
        },
    ];
    for (seed, limits) in growth_limits.into_iter().enumerate() {
        let mut src = SplitMix(0x6E0D_0000 + seed as u64);
        let mut sim = Sim::new(&mut c);
        sim.set_limits(limits);
        for _ in 0..2500 {
            sim.step(&mut src, true);
        }
        eprintln!(
            "growth {seed}: {} entries, {:?} nodes",
            sim.live.len(),
            sim.layout.as_ref().map(|l| l.radix_tree_keys())
        );
        total += sim.compared;
        stats.add(&sim.stats);
    }
    eprintln!(
        "compared {total} commands with redis in {:?}: {stats:?}",
        started.elapsed()
    );
}

fn fv(f: &str, v: &str) -> Vec<(Vec<u8>, Vec<u8>)> {
    vec![(b(f), b(v))]
}

fn exact(strategy: Trim) -> TrimSpec {
    TrimSpec {
        strategy,
        approx: false,
        limit: None,
    }
}

fn approx(strategy: Trim, limit: Option<u64>) -> TrimSpec {
    TrimSpec {
        strategy,
        approx: true,
        limit,
    }
}

/// Hand-written cases at the edges of Redis's rules.
#[test]
fn edge_cases_match_redis() {
    let server = start_redis();
    let mut c = Client::connect(server.port).unwrap();
    check_version(&mut c);
    let id = StreamId::new;

    // MINID exact trim leaves a node without live entries when its last entry was deleted;
    // XADD appends to it; MAXLEN then drops it.
    {
        let mut sim = Sim::new(&mut c);
        for seq in 1..=3 {
            sim.exec_xadd(id(1, seq), &fv("f", "v"), None);
            sim.check();
        }
        sim.exec_xdel(&[id(1, 3)]);
        sim.check();
        assert_eq!(sim.exec_xtrim(exact(Trim::MinId(id(1, 3)))), 2);
        sim.check();
        let l = sim.layout.as_ref().unwrap();
        assert_eq!((l.radix_tree_keys(), l.len()), (1, 0));
        sim.exec_xadd(id(1, 4), &fv("f", "v"), None);
        sim.check();
        assert_eq!(sim.layout.as_ref().unwrap().radix_tree_keys(), 1);
        sim.exec_xdel(&[id(1, 4)]);
        sim.check();
        // Again an empty node, now dropped by an approximate MINID (last ID 1-4 < 2-0).
        sim.exec_xadd(id(1, 5), &fv("f", "v"), None);
        sim.exec_xdel(&[id(1, 5)]);
        sim.check();
        sim.exec_xadd(id(1, 6), &fv("f", "v"), None);
        sim.exec_xadd(id(1, 7), &fv("f", "v"), None);
        assert_eq!(sim.exec_xtrim(exact(Trim::MinId(id(1, 7)))), 1);
        sim.check();
        sim.exec_xadd(id(2, 0), &fv("f", "v"), None);
        sim.check();
        assert_eq!(sim.exec_xtrim(approx(Trim::MaxLen(0), None)), 2);
        sim.check();
    }

    // Byte boundary: the tail takes an entry iff lp_bytes + totelelen < max_bytes. Checked at
    // the first append and after the live counter grows from 127 to 128 (one more byte).
    for entries_before in [1u64, 128] {
        for delta in [-1i64, 0, 1] {
            let entry = fv("field", "a-value");
            let mut dry = NodeLayout::new();
            for seq in 0..entries_before {
                dry.append(
                    id(5, seq),
                    &entry,
                    NodeLimits {
                        max_entries: 0,
                        max_bytes: 0,
                    },
                );
            }
            let lp_bytes = dry.nodes().next().unwrap().1.lp_bytes();
            let max_bytes = (lp_bytes as i64 + 12 + delta) as u64; // totelelen = 5 + 7
            let mut sim = Sim::new(&mut c);
            sim.set_limits(NodeLimits {
                max_entries: 0,
                max_bytes,
            });
            for seq in 0..=entries_before {
                sim.exec_xadd(id(5, seq), &entry, None);
            }
            sim.check();
            let keys = sim.layout.as_ref().unwrap().radix_tree_keys();
            assert_eq!(
                keys,
                if delta <= 0 { 2 } else { 1 },
                "{entries_before} entries, delta {delta}"
            );
        }
    }

    // Deleted entries (XDEL or exact trim) still count toward stream-node-max-entries.
    {
        let mut sim = Sim::new(&mut c);
        sim.set_limits(NodeLimits {
            max_entries: 3,
            max_bytes: 4096,
        });
        for seq in 1..=3 {
            sim.exec_xadd(id(7, seq), &fv("f", "v"), None);
        }
        assert_eq!(sim.exec_xtrim(exact(Trim::MaxLen(1))), 2);
        sim.exec_xadd(id(7, 4), &fv("f", "v"), None);
        sim.check();
        assert_eq!(sim.layout.as_ref().unwrap().radix_tree_keys(), 2);
    }

    // `~` without LIMIT stops at 100 * stream-node-max-entries entries; LIMIT 0 is unlimited;
    // an explicit LIMIT stops before the node that would exceed it.
    {
        let mut sim = Sim::new(&mut c);
        sim.set_limits(NodeLimits {
            max_entries: 1,
            max_bytes: 4096,
        });
        for ms in 1..=250 {
            sim.exec_xadd(id(ms, 0), &fv("f", "v"), None);
        }
        sim.check();
        assert_eq!(sim.exec_xtrim(approx(Trim::MaxLen(0), None)), 100);
        sim.check();
        assert_eq!(sim.exec_xtrim(approx(Trim::MaxLen(0), Some(7))), 7);
        sim.check();
        sim.exec_xadd(
            id(300, 0),
            &fv("f", "v"),
            Some(approx(Trim::MinId(id(200, 0)), Some(3))),
        );
        sim.check();
        assert_eq!(sim.exec_xtrim(approx(Trim::MaxLen(0), Some(0))), 141);
        sim.check();
    }

    // Node keys that share long prefixes and then differ in the last bytes, deleted from the
    // middle (rax splits and re-compression).
    {
        let mut sim = Sim::new(&mut c);
        sim.set_limits(NodeLimits {
            max_entries: 1,
            max_bytes: 4096,
        });
        let ids: Vec<StreamId> = [
            (0, 1),
            (0, 2),
            (0, 256),
            (0, 257),
            (0, 1 << 40),
            (1 << 40, 0),
            ((1 << 40) + 1, 0),
            ((1 << 40) + 1, u64::MAX),
            (u64::MAX - 1, 0),
            (u64::MAX, 5),
        ]
        .into_iter()
        .map(|(ms, seq)| id(ms, seq))
        .collect();
        for &x in &ids {
            sim.exec_xadd(x, &fv("f", "v"), None);
            sim.check();
        }
        for &i in &[4usize, 2, 7, 0, 9, 5, 1, 3, 8, 6] {
            sim.exec_xdel(&[ids[i]]);
            sim.check();
        }
    }
}

#[test]
fn proptest_sequences_match_redis() {
    let server = start_redis();
    check_version(&mut Client::connect(server.port).unwrap());
    // A fixed RNG keeps CI reproducible; proptest still shrinks a failing case to a minimal one.
    let config = PropConfig {
        cases: 32,
        failure_persistence: None,
        ..PropConfig::default()
    };
    let mut runner =
        TestRunner::new_with_rng(config, TestRng::deterministic_rng(RngAlgorithm::ChaCha));
    let total = std::cell::Cell::new(0);
    let stats = std::cell::RefCell::new(Stats::default());
    let result = runner.run(&proptest::collection::vec(any::<u64>(), 0..600), |words| {
        // A fresh connection per case: a failed case may leave replies unread.
        let mut c = Client::connect(server.port).unwrap();
        let mut sim = Sim::new(&mut c);
        sim.set_limits(NodeLimits {
            max_entries: 4,
            max_bytes: 150,
        });
        let mut src = Words {
            words: &words,
            pos: 0,
        };
        while src.pos < words.len() {
            sim.step(&mut src, false);
        }
        total.set(total.get() + sim.compared);
        stats.borrow_mut().add(&sim.stats);
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
    eprintln!(
        "proptest compared {} commands with redis: {:?}",
        total.get(),
        stats.borrow()
    );
}
