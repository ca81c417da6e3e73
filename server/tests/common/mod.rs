//! Test support: start the real `sluice` binary on a free port with a fresh data directory, and
//! talk to it over raw sockets.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Server {
    pub port: u16,
    pub child: Option<Child>,
    pub dir: PathBuf,
    _tmp: Option<tempfile::TempDir>,
    extra: Vec<String>,
    /// Environment variables for the server process (e.g. an LD_PRELOAD fault shim).
    pub env: Vec<(String, String)>,
    /// Where the server's stderr goes (appended), instead of nowhere.
    pub log: Option<PathBuf>,
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// The server binary: this build's, or the one `SLUICE_TEST_BIN` names (to run a test against
/// another build, e.g. an older commit's, and see whether it finds that build's bug).
pub fn sluice_bin() -> PathBuf {
    match std::env::var_os("SLUICE_TEST_BIN") {
        Some(p) => PathBuf::from(p),
        None => PathBuf::from(env!("CARGO_BIN_EXE_sluice")),
    }
}

impl Server {
    /// Starts a server with a fresh data directory and these extra flags.
    pub fn start(extra: &[&str]) -> Server {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().to_path_buf();
        let mut s = Server {
            port: free_port(),
            child: None,
            dir,
            _tmp: Some(tmp),
            extra: extra.iter().map(|s| s.to_string()).collect(),
            env: Vec::new(),
            log: None,
        };
        s.spawn();
        s
    }

    /// Starts a server on an existing data directory with environment variables set and its
    /// stderr appended to `log`.
    pub fn start_env(dir: &Path, extra: &[&str], env: &[(&str, &str)], log: &Path) -> Server {
        let mut s = Server::unstarted(dir, extra);
        s.env = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        s.log = Some(log.to_path_buf());
        s.spawn();
        s
    }

    fn unstarted(dir: &Path, extra: &[&str]) -> Server {
        Server {
            port: free_port(),
            child: None,
            dir: dir.to_path_buf(),
            _tmp: None,
            extra: extra.iter().map(|s| s.to_string()).collect(),
            env: Vec::new(),
            log: None,
        }
    }

    /// Starts a server on an existing data directory (the caller keeps it alive).
    pub fn start_in(dir: &Path, extra: &[&str]) -> Server {
        let mut s = Server::unstarted(dir, extra);
        s.spawn();
        s
    }

    /// Starts the binary and waits until *it* answers. Test binaries run in parallel and pick
    /// free ports by binding port 0, so another test's server can take the port first: the
    /// readiness check therefore asks the server for its pid, and a lost race is retried on a
    /// new port.
    fn spawn(&mut self) {
        for attempt in 0..5 {
            if attempt > 0 {
                self.port = free_port();
            }
            let child = Command::new(sluice_bin())
                .args([
                    "--port",
                    &self.port.to_string(),
                    "--bind",
                    "127.0.0.1",
                    "--dir",
                ])
                .arg(&self.dir)
                .args(&self.extra)
                .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
                .stdout(Stdio::null())
                .stderr(match &self.log {
                    Some(path) => Stdio::from(
                        std::fs::OpenOptions::new()
                            .create(true)
                            .append(true)
                            .open(path)
                            .expect("open the server log"),
                    ),
                    None if std::env::var_os("SLUICE_TEST_STDERR").is_some() => Stdio::inherit(),
                    None => Stdio::null(),
                })
                .spawn()
                .expect("spawn sluice");
            self.child = Some(child);
            if self.wait_ready() {
                return;
            }
            self.kill9();
        }
        panic!("sluice did not start after 5 attempts");
    }

    /// True once our process answers on `self.port`; false if it exited (port taken).
    fn wait_ready(&mut self) -> bool {
        let pid = self.child.as_ref().map(|c| c.id()).unwrap_or(0);
        let want = format!("process_id:{pid}\r\n");
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(mut c) = TcpStream::connect(("127.0.0.1", self.port)) {
                c.set_read_timeout(Some(Duration::from_secs(2))).ok();
                if c.write_all(b"INFO server\r\n").is_ok() {
                    let mut buf = Vec::new();
                    let mut tmp = [0u8; 4096];
                    while frame_len(&buf).is_none() {
                        match c.read(&mut tmp) {
                            Ok(n) if n > 0 => buf.extend_from_slice(&tmp[..n]),
                            _ => break,
                        }
                    }
                    if String::from_utf8_lossy(&buf).contains(&want) {
                        return true;
                    }
                }
            }
            if let Some(Ok(Some(_))) = self.child.as_mut().map(|c| c.try_wait()) {
                return false;
            }
            assert!(
                Instant::now() < deadline,
                "sluice did not start on port {}",
                self.port
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn conn(&self) -> Conn {
        Conn::new(self.port)
    }

    /// SIGKILL, as a crash.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM and wait for a clean exit.
    pub fn stop(&mut self) -> std::process::ExitStatus {
        let mut c = self.child.take().expect("running");
        let _ = Command::new("kill")
            .args(["-TERM", &c.id().to_string()])
            .status();
        c.wait().expect("wait")
    }

    pub fn restart(&mut self) {
        self.kill9();
        self.port = free_port();
        self.spawn();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill9();
    }
}

pub struct Conn {
    pub s: TcpStream,
    buf: Vec<u8>,
}

pub fn encode(args: &[&[u8]]) -> Vec<u8> {
    let mut v = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        v.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        v.extend_from_slice(a);
        v.extend_from_slice(b"\r\n");
    }
    v
}

impl Conn {
    pub fn new(port: u16) -> Conn {
        let s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(20)))
            .expect("timeout");
        Conn { s, buf: Vec::new() }
    }

    pub fn send_raw(&mut self, b: &[u8]) {
        self.s.write_all(b).expect("write");
    }

    /// Sends a command split on spaces and returns the raw reply.
    pub fn cmd(&mut self, line: &str) -> Vec<u8> {
        let args: Vec<&[u8]> = line.split(' ').map(str::as_bytes).collect();
        self.send_raw(&encode(&args));
        self.read_reply()
    }

    pub fn cmd_args(&mut self, args: &[&[u8]]) -> Vec<u8> {
        self.send_raw(&encode(args));
        self.read_reply()
    }

    /// Reads one complete reply frame.
    pub fn read_reply(&mut self) -> Vec<u8> {
        loop {
            if let Some(n) = frame_len(&self.buf) {
                return self.buf.drain(..n).collect();
            }
            let mut tmp = [0u8; 65536];
            let n = self.s.read(&mut tmp).expect("read reply");
            assert!(
                n > 0,
                "connection closed while waiting for a reply; got {:?}",
                String::from_utf8_lossy(&self.buf)
            );
            self.buf.extend_from_slice(&tmp[..n]);
        }
    }

    /// True if the server closed the connection (EOF) within the read timeout.
    pub fn is_closed(&mut self) -> bool {
        let mut tmp = [0u8; 1024];
        loop {
            match self.s.read(&mut tmp) {
                Ok(0) => return true,
                Ok(_) => continue,
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return true,
                Err(_) => return false,
            }
        }
    }
}

/// The length of the complete RESP2/RESP3 frame at the start of `b`, if there is one.
pub fn frame_len(b: &[u8]) -> Option<usize> {
    let line_end = b.windows(2).position(|w| w == b"\r\n")?;
    let head = std::str::from_utf8(&b[1..line_end]).ok()?;
    let after = line_end + 2;
    match b.first()? {
        b'+' | b'-' | b':' | b'_' | b',' | b'#' | b'(' => Some(after),
        b'$' | b'=' | b'!' => {
            let n: i64 = head.parse().ok()?;
            if n < 0 {
                return Some(after);
            }
            let end = after + n as usize + 2;
            (b.len() >= end).then_some(end)
        }
        b'*' | b'~' | b'>' | b'%' => {
            let n: i64 = head.parse().ok()?;
            if n < 0 {
                return Some(after);
            }
            let items = if b[0] == b'%' { 2 * n } else { n };
            let mut pos = after;
            for _ in 0..items {
                pos += frame_len(&b[pos..])?;
            }
            Some(pos)
        }
        _ => None,
    }
}

// ---------------------------------------------------------------------------------------------
// Helpers for the crash and big-stream tests: parsed replies, timed restarts, logs, disk sizes.

/// One parsed RESP2 reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resp {
    Status(String),
    Error(String),
    Int(i64),
    Bulk(Vec<u8>),
    Nil,
    Array(Vec<Resp>),
}

impl Resp {
    pub fn int(&self) -> i64 {
        match self {
            Resp::Int(n) => *n,
            other => panic!("expected an integer reply, got {other:?}"),
        }
    }

    pub fn bulk(&self) -> &[u8] {
        match self {
            Resp::Bulk(b) => b,
            other => panic!("expected a bulk reply, got {other:?}"),
        }
    }

    pub fn array(&self) -> &[Resp] {
        match self {
            Resp::Array(a) => a,
            other => panic!("expected an array reply, got {other:?}"),
        }
    }

    /// The text of a bulk or status reply.
    pub fn text(&self) -> String {
        match self {
            Resp::Bulk(b) => String::from_utf8_lossy(b).into_owned(),
            Resp::Status(s) => s.clone(),
            other => panic!("expected a string reply, got {other:?}"),
        }
    }

    /// A flat `[name, value, name, value, …]` array (XINFO STREAM in RESP2) as pairs.
    pub fn pairs(&self) -> Vec<(String, Resp)> {
        self.array()
            .chunks_exact(2)
            .map(|p| (p[0].text(), p[1].clone()))
            .collect()
    }

    pub fn field(&self, name: &str) -> Resp {
        self.pairs()
            .into_iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v)
            .unwrap_or_else(|| panic!("no field {name} in {self:?}"))
    }
}

/// Parses the complete RESP2 frame at the start of `b`; returns it and its length.
pub fn parse_resp(b: &[u8]) -> (Resp, usize) {
    let line_end = b
        .windows(2)
        .position(|w| w == b"\r\n")
        .expect("incomplete reply line");
    let head = std::str::from_utf8(&b[1..line_end]).expect("reply header is not UTF-8");
    let after = line_end + 2;
    match b[0] {
        b'+' => (Resp::Status(head.to_string()), after),
        b'-' => (Resp::Error(head.to_string()), after),
        b':' => (Resp::Int(head.parse().expect("integer reply")), after),
        b'$' => {
            let n: i64 = head.parse().expect("bulk length");
            if n < 0 {
                return (Resp::Nil, after);
            }
            let end = after + n as usize;
            assert_eq!(&b[end..end + 2], b"\r\n", "bulk not terminated");
            (Resp::Bulk(b[after..end].to_vec()), end + 2)
        }
        b'*' => {
            let n: i64 = head.parse().expect("array length");
            if n < 0 {
                return (Resp::Nil, after);
            }
            let mut pos = after;
            let mut items = Vec::with_capacity(n as usize);
            for _ in 0..n {
                let (item, len) = parse_resp(&b[pos..]);
                items.push(item);
                pos += len;
            }
            (Resp::Array(items), pos)
        }
        other => panic!("unexpected reply type byte {:?}", other as char),
    }
}

impl Conn {
    /// Sends one command and parses its reply.
    pub fn req(&mut self, args: &[&[u8]]) -> Resp {
        let raw = self.cmd_args(args);
        parse_resp(&raw).0
    }

    /// [`Conn::req`] with the command split on spaces.
    pub fn req_str(&mut self, line: &str) -> Resp {
        let raw = self.cmd(line);
        parse_resp(&raw).0
    }

    /// Sends many commands in one write and reads all their replies.
    pub fn pipeline(&mut self, cmds: &[Vec<Vec<u8>>]) -> Vec<Resp> {
        let mut out = Vec::new();
        for c in cmds {
            let args: Vec<&[u8]> = c.iter().map(Vec::as_slice).collect();
            out.extend_from_slice(&encode(&args));
        }
        self.send_raw(&out);
        (0..cmds.len())
            .map(|_| parse_resp(&self.read_reply()).0)
            .collect()
    }

    /// One field of `INFO <section>`.
    pub fn info_field(&mut self, section: &str, field: &str) -> Option<String> {
        let text = self.req_str(&format!("INFO {section}")).text();
        text.lines()
            .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
            .map(str::to_string)
    }
}

impl Server {
    /// The server's process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// kill -9, then start again on the same directory (and a new port). Returns the time from
    /// spawning the process to its first PONG.
    pub fn restart_timed(&mut self) -> Duration {
        self.kill9();
        self.port = free_port();
        self.spawn_timed(None)
    }

    /// Like [`Server::restart_timed`] but with the server's log (stderr, `SLUICE_LOG=info`)
    /// written to `log`.
    pub fn restart_logged(&mut self, log: &Path) -> Duration {
        self.kill9();
        self.port = free_port();
        self.spawn_timed(Some(log))
    }

    /// Like `spawn`, timing process start to the first answer (retried on a new port if
    /// another test's server took this one).
    fn spawn_timed(&mut self, log: Option<&Path>) -> Duration {
        for attempt in 0..5 {
            if attempt > 0 {
                self.port = free_port();
            }
            let stderr = match log {
                Some(p) => Stdio::from(std::fs::File::create(p).expect("create log file")),
                None => Stdio::null(),
            };
            let started = Instant::now();
            let child = Command::new(sluice_bin())
                .args([
                    "--port",
                    &self.port.to_string(),
                    "--bind",
                    "127.0.0.1",
                    "--dir",
                ])
                .arg(&self.dir)
                .args(&self.extra)
                .env("SLUICE_LOG", "info")
                .stdout(Stdio::null())
                .stderr(stderr)
                .spawn()
                .expect("spawn sluice");
            self.child = Some(child);
            if self.wait_ready() {
                let took = started.elapsed();
                if let Some(p) = log {
                    wait_for_log_line(p, "listening");
                }
                return took;
            }
            self.kill9();
        }
        panic!("sluice did not start after 5 attempts");
    }
}

/// Waits until the server's log holds a line containing `needle`: the log is written by its
/// own thread, which may lag the server's first answer, and lines come out in order, so once
/// "listening" is there every start-up line before it is too.
pub fn wait_for_log_line(path: &Path, needle: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        if text.contains(needle) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "no {needle:?} in {}: {text}",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Apparent and allocated size in bytes of every file under `path`.
pub fn dir_size(path: &Path) -> (u64, u64) {
    use std::os::unix::fs::MetadataExt;
    let mut apparent = 0;
    let mut allocated = 0;
    let Ok(rd) = std::fs::read_dir(path) else {
        return (0, 0);
    };
    for e in rd.flatten() {
        let Ok(md) = e.metadata() else { continue };
        if md.is_dir() {
            let (a, b) = dir_size(&e.path());
            apparent += a;
            allocated += b;
        } else {
            apparent += md.len();
            allocated += md.blocks() * 512;
        }
    }
    (apparent, allocated)
}

pub fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

/// A stream ID as (ms, seq).
pub type Id = (u64, u64);

pub fn id_str(id: Id) -> String {
    format!("{}-{}", id.0, id.1)
}

/// Parses an ID reply; panics on anything else (tests only).
pub fn parse_id(b: &[u8]) -> Id {
    let s = std::str::from_utf8(b).expect("id is UTF-8");
    let (ms, seq) = s.split_once('-').unwrap_or_else(|| panic!("bad id {s}"));
    (ms.parse().expect("ms"), seq.parse().expect("seq"))
}

/// xorshift64*: enough randomness for test schedules, reproducible from a seed.
#[derive(Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        let mut r = Rng(seed ^ 0x9e37_79b9_7f4a_7c15 | 1);
        for _ in 0..4 {
            r.next();
        }
        r
    }
    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

// ---------------------------------------------------------------------------------------------
// Helpers for the corrupt-file tests: a start that is expected to fail, the offline tools, and
// a snapshot of a data directory's files.

/// Starts the binary on `dir` expecting it to refuse to start: returns its exit status and its
/// log (stderr, `SLUICE_LOG=info`). Panics if it is still running after 20 s.
pub fn start_fails(dir: &Path) -> (std::process::ExitStatus, String) {
    let port = free_port();
    let out = std::env::temp_dir().join(format!(
        "sluice-start-fails-{}-{port}.log",
        std::process::id()
    ));
    let mut child = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--dir"])
        .arg(dir)
        .env("SLUICE_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::from(
            std::fs::File::create(&out).expect("create log file"),
        ))
        .spawn()
        .expect("spawn sluice");
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(st) = child.try_wait().expect("wait") {
            break st;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "sluice started on {} (or hung) instead of refusing: {}",
                dir.display(),
                std::fs::read_to_string(&out).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let log = std::fs::read_to_string(&out).unwrap_or_default();
    let _ = std::fs::remove_file(&out);
    (status, log)
}

/// Runs `sluice <args>` (the offline tools) to completion: exit code, stdout, stderr.
pub fn run_tool(args: &[&std::ffi::OsStr]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(args)
        .output()
        .expect("run sluice");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Every file under `dir` (relative path) with its length and contents' hash.
pub fn snapshot(dir: &Path) -> std::collections::BTreeMap<PathBuf, (u64, u64)> {
    use std::hash::{Hash, Hasher};
    let mut out = std::collections::BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).expect("read_dir").flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let bytes = std::fs::read(&p).expect("read");
                let mut h = std::collections::hash_map::DefaultHasher::new();
                bytes.hash(&mut h);
                let rel = p.strip_prefix(dir).expect("under dir").to_path_buf();
                out.insert(rel, (bytes.len() as u64, h.finish()));
            }
        }
    }
    out
}
