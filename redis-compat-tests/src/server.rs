//! Starting and stopping the two servers under test.

use std::fs::File;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::client::{Conn, Outcome};

/// How long a server may take to answer PING after being spawned.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(15);

/// A running server process, killed (and its directory removed) on drop.
pub struct Server {
    pub name: &'static str,
    pub addr: SocketAddr,
    pub bin: PathBuf,
    child: Child,
    log: PathBuf,
    // Dropped last: the server's --dir and log file.
    _dir: tempfile::TempDir,
}

impl Server {
    /// The server's combined stdout/stderr so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Kill the process and reap it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The reference server (redis-server 7.0.15).
pub fn redis_server_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("REDIS_SERVER_BIN") {
        return PathBuf::from(p);
    }
    if let Some(paths) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&paths) {
            let p = dir.join("redis-server");
            if p.is_file() {
                return p;
            }
        }
    }
    PathBuf::from("/usr/bin/redis-server")
}

/// The Sluice binary: `$SLUICE_BIN`, else `sluice` next to the test
/// executable's profile directory, else `$CARGO_TARGET_DIR/debug/sluice`
/// (as set when the tests were built), else `<workspace>/target/debug/sluice`.
pub fn sluice_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("SLUICE_BIN") {
        let p = PathBuf::from(p);
        if !p.is_file() {
            panic!("SLUICE_BIN={} does not exist", p.display());
        }
        return p;
    }
    let candidates = sluice_candidates();
    for c in &candidates {
        if c.is_file() {
            return c.clone();
        }
    }
    panic!(
        "Sluice binary not found (looked at: {}).\n\
         Build it first with `cargo build -p sluice-server --bin sluice` \
         (same CARGO_TARGET_DIR as the tests), or point SLUICE_BIN at it.",
        candidates
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    );
}

fn sluice_candidates() -> Vec<PathBuf> {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("crate is inside the workspace")
        .to_path_buf();
    let mut out = Vec::new();
    // <target>/debug/deps/<test-exe>  ->  <target>/debug/sluice
    if let Ok(exe) = std::env::current_exe() {
        if let Some(profile_dir) = exe.parent().and_then(|d| d.parent()) {
            out.push(profile_dir.join("sluice"));
        }
    }
    if let Some(t) = option_env!("CARGO_TARGET_DIR") {
        let t = Path::new(t);
        let t = if t.is_absolute() {
            t.to_path_buf()
        } else {
            workspace.join(t)
        };
        out.push(t.join("debug").join("sluice"));
    }
    out.push(workspace.join("target").join("debug").join("sluice"));
    out.dedup();
    out
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("cannot find a free TCP port on 127.0.0.1")
}

/// Spawn `bin` with the flags both servers accept and wait until it answers
/// PING with +PONG. Retries on a fresh port if the chosen one was taken.
pub fn start(name: &'static str, bin: &Path, redis_flags: bool) -> Server {
    let flags = if redis_flags {
        Flags::Redis
    } else {
        Flags::Sluice
    };
    start_with(name, bin, flags, &[])
        .unwrap_or_else(|e| panic!("{e}"))
        .0
}

/// Which command-line flags a server is started with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flags {
    /// `--port P --bind 127.0.0.1 --dir D --appendfsync no --redis-version 7.0.15`: the
    /// differential cases compare with redis-server 7.0.15, so Sluice copies 7.0.15 where a
    /// reply detail changed since (its `redis-version`; the README lists those details).
    Sluice,
    /// Sluice with its default `redis-version` (8.10.0): `--port P --bind 127.0.0.1 --dir D
    /// --appendfsync no`.
    SluiceDefault,
    /// Sluice's, plus `--save "" --appendonly no` (redis-server).
    Redis,
    /// `--port P --bind 127.0.0.1 --dir D --appendonly no` (disque-server: no AOF).
    Disque,
}

/// Like [`start`] with explicit flags and extra arguments; `{port2}` in an extra argument is
/// replaced by a second free port, returned with the server (e.g. Sluice's `--disque-port`).
/// `Err` when the server cannot be started (its output included).
pub fn start_with(
    name: &'static str,
    bin: &Path,
    flags: Flags,
    extra: &[&str],
) -> Result<(Server, Option<u16>), String> {
    let mut last_err = String::new();
    for _attempt in 0..3 {
        match try_start(name, bin, flags, extra) {
            Ok(s) => return Ok(s),
            Err((msg, retry)) => {
                last_err = msg;
                if !retry {
                    break;
                }
            }
        }
    }
    Err(last_err)
}

fn try_start(
    name: &'static str,
    bin: &Path,
    flags: Flags,
    extra: &[&str],
) -> Result<(Server, Option<u16>), (String, bool)> {
    let dir = tempfile::Builder::new()
        .prefix(&format!("compat-{name}-"))
        .tempdir()
        .map_err(|e| (format!("tempdir: {e}"), false))?;
    let port = free_port();
    let data_dir = dir.path().join("data");
    std::fs::create_dir(&data_dir).map_err(|e| (format!("mkdir: {e}"), false))?;
    let log = dir.path().join("server.log");
    let log_file = File::create(&log).map_err(|e| (format!("log file: {e}"), false))?;
    let log_err = log_file
        .try_clone()
        .map_err(|e| (format!("log file: {e}"), false))?;

    let mut cmd = Command::new(bin);
    cmd.arg("--port")
        .arg(port.to_string())
        .arg("--bind")
        .arg("127.0.0.1")
        .arg("--dir")
        .arg(&data_dir);
    match flags {
        Flags::Sluice => {
            cmd.args(["--appendfsync", "no", "--redis-version", "7.0.15"]);
        }
        Flags::SluiceDefault => {
            cmd.args(["--appendfsync", "no"]);
        }
        // Only redis-server knows these; Sluice has no RDB and no AOF switch.
        Flags::Redis => {
            cmd.args(["--appendfsync", "no", "--save", "", "--appendonly", "no"]);
        }
        // Disque 1.0-rc1 has no RDB; its AOF is off by default, said explicitly.
        Flags::Disque => {
            cmd.args(["--appendonly", "no"]);
        }
    }
    let port2 = extra.iter().any(|a| a.contains("{port2}")).then(free_port);
    for a in extra {
        match port2 {
            Some(p2) => cmd.arg(a.replace("{port2}", &p2.to_string())),
            None => cmd.arg(a),
        };
    }
    cmd.stdin(Stdio::null())
        .stdout(Stdio::from(log_file))
        .stderr(Stdio::from(log_err));
    die_with_parent(&mut cmd);
    let child = cmd.spawn().map_err(|e| {
        let hint = if name == "redis" {
            " (install redis-server 7.0.15, e.g. `apt-get install redis-server`, \
             or set REDIS_SERVER_BIN)"
        } else if name == "disque" {
            " (build it with scripts/build-disque.sh, or set DISQUE_BIN)"
        } else {
            " (build it with `cargo build -p sluice-server --bin sluice`, or set SLUICE_BIN)"
        };
        (
            format!("cannot start {name} ({}): {e}{hint}", bin.display()),
            false,
        )
    })?;
    let mut server = Server {
        name,
        addr: SocketAddr::from(([127, 0, 0, 1], port)),
        bin: bin.to_path_buf(),
        child,
        log,
        _dir: dir,
    };

    let deadline = Instant::now() + STARTUP_TIMEOUT;
    let mut last = String::from("never connected");
    while Instant::now() < deadline {
        if let Ok(Some(status)) = server.child.try_wait() {
            let log = server.log();
            let retry = log.contains("Address already in use") || log.contains("in use");
            return Err((
                format!(
                    "{name} ({}) exited with {status} before it was ready on port {port}.\n\
                     --- its output ---\n{log}",
                    bin.display()
                ),
                retry,
            ));
        }
        match Conn::connect(server.addr, Duration::from_millis(500)) {
            Ok(mut c) => match c.call(&["PING"]) {
                Outcome::Reply(r) if r.raw == b"+PONG\r\n" => return Ok((server, port2)),
                other => last = format!("PING answered {}", other.describe()),
            },
            Err(e) => last = format!("connect: {e}"),
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    let log = server.log();
    server.kill();
    Err((
        format!(
            "{name} ({}) did not answer PING with +PONG on {} within {STARTUP_TIMEOUT:?} \
             (last: {last}).\n--- its output ---\n{log}",
            bin.display(),
            server.addr
        ),
        false,
    ))
}

/// Ask the kernel to SIGKILL the child when the thread that spawned it exits
/// (we always spawn from the test binary's main thread, so: when the test
/// binary exits, even if it is killed).
#[cfg(target_os = "linux")]
fn die_with_parent(cmd: &mut Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: prctl is async-signal-safe; nothing else runs in the closure.
    unsafe {
        cmd.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

#[cfg(not(target_os = "linux"))]
fn die_with_parent(_cmd: &mut Command) {}

/// The pair of servers a test binary compares.
pub struct ServerPair {
    pub redis: Server,
    pub sluice: Server,
}

impl ServerPair {
    pub fn start() -> ServerPair {
        let redis_bin = redis_server_bin();
        let sluice_bin = sluice_bin();
        let redis = start("redis", &redis_bin, true);
        warn_if_not_7_0_15(&redis);
        let sluice_is_redis = sluice_bin
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with("redis-server"));
        let sluice = start("sluice", &sluice_bin, sluice_is_redis);
        ServerPair { redis, sluice }
    }
}

/// The expected replies were recorded against Redis 7.0.15: say so loudly
/// when the reference is another version.
fn warn_if_not_7_0_15(server: &Server) {
    let Ok(mut c) = Conn::connect(server.addr, Duration::from_secs(5)) else {
        return;
    };
    let version = c
        .call(&["INFO", "server"])
        .frame()
        .and_then(|f| f.as_text())
        .and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("redis_version:").map(str::to_string))
        })
        .unwrap_or_default();
    if version != "7.0.15" {
        eprintln!(
            "compat: WARNING: the reference {} is version {version:?}, not 7.0.15; \
             replies may legitimately differ",
            server.bin.display()
        );
    }
}

/// Where the reference disque-server is: `$DISQUE_BIN`, else what `scripts/build-disque.sh`
/// built (`<target>/disque/bin/disque-server`, next to the test executable's profile directory,
/// or under `$CARGO_TARGET_DIR` / `<workspace>/target`). `Err` says why there is none.
pub fn disque_bin() -> Result<PathBuf, String> {
    if let Some(p) = std::env::var_os("DISQUE_BIN") {
        let p = PathBuf::from(p);
        if p.is_file() {
            return Ok(p);
        }
        return Err(format!("DISQUE_BIN={} does not exist", p.display()));
    }
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("crate is inside the workspace")
        .to_path_buf();
    let mut candidates = Vec::new();
    if let Ok(exe) = std::env::current_exe() {
        // <target>/debug/deps/<test-exe>  ->  <target>/disque/bin/disque-server
        if let Some(target) = exe
            .parent()
            .and_then(|d| d.parent())
            .and_then(|d| d.parent())
        {
            candidates.push(target.join("disque/bin/disque-server"));
        }
    }
    if let Some(t) = option_env!("CARGO_TARGET_DIR") {
        candidates.push(workspace.join(t).join("disque/bin/disque-server"));
    }
    candidates.push(workspace.join("target/disque/bin/disque-server"));
    if let Some(p) = candidates.iter().find(|p| p.is_file()) {
        return Ok(p.clone());
    }
    let src = workspace.join("../shared/reference");
    let why = if src.is_dir() {
        "not built yet: run scripts/build-disque.sh, or set DISQUE_BIN"
    } else {
        "../shared/reference is missing, so scripts/build-disque.sh cannot build it"
    };
    Err(format!("disque-server not found ({why})"))
}

/// True when `bin`'s file name starts with `prefix` (`redis-server`, `disque-server`): the
/// harness is then validated against the reference itself.
pub fn is_named(bin: &Path, prefix: &str) -> bool {
    bin.file_name()
        .is_some_and(|n| n.to_string_lossy().starts_with(prefix))
}

/// The reference disque-server and Sluice, for the Disque-differential cases. Sluice is
/// started with `--disque-port P2` (its listener where bare `HELLO` is Disque's); when it does
/// not accept that flag it is started without it and `sluice_disque` says why, so that the
/// cases that need that port fail saying so. With `SLUICE_BIN` pointing at a disque-server
/// (to validate the cases against Disque itself), both sides are Disque.
pub struct DisquePair {
    pub disque: Server,
    pub sluice: Server,
    /// Sluice's Disque listener.
    pub sluice_disque: Result<SocketAddr, String>,
}

impl DisquePair {
    pub fn start(disque_bin: &Path) -> Result<DisquePair, String> {
        let disque = start_with("disque", disque_bin, Flags::Disque, &[])?.0;
        let sluice_bin = sluice_bin();
        if is_named(&sluice_bin, "disque-server") {
            let sluice = start_with("sluice", &sluice_bin, Flags::Disque, &[])?.0;
            let addr = sluice.addr;
            return Ok(DisquePair {
                disque,
                sluice,
                sluice_disque: Ok(addr),
            });
        }
        match start_with(
            "sluice",
            &sluice_bin,
            Flags::Sluice,
            &["--disque-port", "{port2}"],
        ) {
            Ok((sluice, Some(p2))) => Ok(DisquePair {
                disque,
                sluice,
                sluice_disque: Ok(SocketAddr::from(([127, 0, 0, 1], p2))),
            }),
            Ok((_, None)) => unreachable!("{{port2}} was passed"),
            Err(e) => {
                let sluice = start_with("sluice", &sluice_bin, Flags::Sluice, &[])?.0;
                let first = e
                    .lines()
                    .find(|l| l.contains("disque-port"))
                    .unwrap_or_else(|| e.lines().next().unwrap_or_default());
                Ok(DisquePair {
                    disque,
                    sluice,
                    sluice_disque: Err(format!(
                        "Sluice did not start with `--disque-port` ({}), so it was started \
                         without it and has no Disque port",
                        first.trim()
                    )),
                })
            }
        }
    }
}
