//! Starting, stopping and measuring the servers under test.
//!
//! Every child process is registered in a global list so that Ctrl-C (or SIGTERM) of the harness
//! kills it, and is started with `PR_SET_PDEATHSIG` so it dies with the harness even when the
//! harness itself is killed with SIGKILL. Never leave a server running.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::cli::Fsync;
use crate::model::Side;
use crate::resp::{Conn, Value};

static CHILDREN: Mutex<Vec<u32>> = Mutex::new(Vec::new());
static DIRS: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

fn register(pid: u32) {
    CHILDREN.lock().unwrap().push(pid);
}

fn unregister(pid: u32) {
    CHILDREN.lock().unwrap().retain(|&p| p != pid);
}

/// Kills every server started by this process and removes their data directories (for
/// signal handlers, which exit without running destructors).
pub fn kill_all() {
    let pids = CHILDREN.lock().map(|v| v.clone()).unwrap_or_default();
    for &pid in &pids {
        unsafe {
            libc::kill(pid as i32, libc::SIGKILL);
        }
    }
    for &pid in &pids {
        let mut status = 0;
        unsafe {
            libc::waitpid(pid as i32, &mut status, 0);
        }
    }
    let dirs = DIRS.lock().map(|v| v.clone()).unwrap_or_default();
    for d in dirs {
        let _ = std::fs::remove_dir_all(d);
    }
}

/// A fresh data directory, removed on drop (or by [`kill_all`]).
fn data_dir(work_dir: &Path, side: Side, level: Fsync) -> Result<tempfile::TempDir, String> {
    let tmp = tempfile::Builder::new()
        .prefix(&format!("sluice-bench-{}-{}-", side.name(), level.name()))
        .tempdir_in(work_dir)
        .map_err(|e| format!("creating a data directory in {}: {e}", work_dir.display()))?;
    if let Ok(mut d) = DIRS.lock() {
        d.push(tmp.path().to_path_buf());
    }
    Ok(tmp)
}

/// How a binary takes its options.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flavor {
    Sluice,
    Redis,
    /// Disque 1.0-rc1 (a Redis 3 fork): Redis's flags, no RDB, `--appendonly` for durability.
    Disque,
}

/// A binary to start.
#[derive(Clone, Debug)]
pub struct Launch {
    pub bin: PathBuf,
    pub flavor: Flavor,
}

impl Launch {
    /// A binary whose file name contains "redis" is started with Redis's flags, one whose name
    /// contains "disque" with Disque's.
    pub fn detect(bin: PathBuf) -> Launch {
        let name = bin
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let flavor = if name.contains("redis") {
            Flavor::Redis
        } else if name.contains("disque") {
            Flavor::Disque
        } else {
            Flavor::Sluice
        };
        Launch { bin, flavor }
    }

    fn args(&self, port: u16, dir: &Path, level: Fsync) -> Vec<String> {
        let mut a: Vec<String> = vec![
            "--port".into(),
            port.to_string(),
            "--bind".into(),
            "127.0.0.1".into(),
            "--dir".into(),
            dir.display().to_string(),
        ];
        match self.flavor {
            Flavor::Sluice => {
                a.extend(["--appendfsync".into(), level.name().into()]);
            }
            Flavor::Redis => {
                a.extend([
                    "--save".into(),
                    "".into(),
                    "--daemonize".into(),
                    "no".into(),
                ]);
                a.extend(["--logfile".into(), "".into()]);
                match level {
                    Fsync::No => a.extend(["--appendonly".into(), "no".into()]),
                    l => a.extend([
                        "--appendonly".into(),
                        "yes".into(),
                        "--appendfsync".into(),
                        l.name().into(),
                    ]),
                }
            }
            Flavor::Disque => {
                a.extend(["--daemonize".into(), "no".into()]);
                a.extend(["--logfile".into(), "".into()]);
                match level {
                    Fsync::No => a.extend(["--appendonly".into(), "no".into()]),
                    l => a.extend([
                        "--appendonly".into(),
                        "yes".into(),
                        "--appendfsync".into(),
                        l.name().into(),
                    ]),
                }
            }
        }
        a
    }
}

/// Asks the kernel for a free loopback port.
pub fn free_port() -> std::io::Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?.port())
}

/// One server under test: started here, or external.
pub struct Server {
    pub side: Side,
    /// None for an external server.
    pub level: Option<Fsync>,
    pub addr: String,
    launch: Option<Launch>,
    port: u16,
    dir: PathBuf,
    log: PathBuf,
    child: Option<Child>,
    _tmp: Option<tempfile::TempDir>,
    /// How many times it was (re)started.
    pub starts: u32,
}

impl Server {
    /// A server that is already running.
    pub fn external(side: Side, addr: String) -> Server {
        Server {
            side,
            level: None,
            addr,
            launch: None,
            port: 0,
            dir: PathBuf::new(),
            log: PathBuf::new(),
            child: None,
            _tmp: None,
            starts: 0,
        }
    }

    /// Starts a server on a free port with a fresh data directory under `work_dir`, and waits
    /// until it answers PING.
    pub async fn start(
        side: Side,
        launch: &Launch,
        level: Fsync,
        work_dir: &Path,
        log: PathBuf,
    ) -> Result<Server, String> {
        let tmp = data_dir(work_dir, side, level)?;
        let port = free_port().map_err(|e| format!("finding a free port: {e}"))?;
        let mut s = Server {
            side,
            level: Some(level),
            addr: format!("127.0.0.1:{port}"),
            launch: Some(launch.clone()),
            port,
            dir: tmp.path().to_path_buf(),
            log,
            child: None,
            _tmp: Some(tmp),
            starts: 0,
        };
        s.spawn()?;
        s.wait_ready(Duration::from_secs(60)).await?;
        Ok(s)
    }

    pub fn is_external(&self) -> bool {
        self.launch.is_none()
    }

    /// For messages: "disque" for a Disque server, else the side's name.
    pub fn name(&self) -> &'static str {
        match &self.launch {
            Some(l) if l.flavor == Flavor::Disque => "disque",
            _ => self.side.name(),
        }
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.id())
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn spawn(&mut self) -> Result<(), String> {
        let launch = self.launch.as_ref().ok_or("external server")?;
        let level = self.level.unwrap_or(Fsync::No);
        let mut logf = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .map_err(|e| format!("opening {}: {e}", self.log.display()))?;
        let args = launch.args(self.port, &self.dir, level);
        let _ = writeln!(logf, "=== {} {}", launch.bin.display(), args.join(" "));
        let errf: File = logf.try_clone().map_err(|e| e.to_string())?;
        let mut cmd = Command::new(&launch.bin);
        cmd.args(&args)
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .stdout(Stdio::from(logf))
            .stderr(Stdio::from(errf));
        unsafe {
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let child = cmd
            .spawn()
            .map_err(|e| format!("starting {}: {e}", launch.bin.display()))?;
        register(child.id());
        self.child = Some(child);
        self.starts += 1;
        Ok(())
    }

    /// The last lines of the server's log.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(8)..].join("\n")
    }

    /// Whether the process is running (external servers: always true).
    pub fn alive(&mut self) -> bool {
        match &mut self.child {
            None => self.launch.is_none(),
            Some(c) => matches!(c.try_wait(), Ok(None)),
        }
    }

    /// Waits until PING is answered with PONG (not -LOADING); returns how long that took.
    pub async fn wait_ready(&mut self, timeout: Duration) -> Result<Duration, String> {
        self.wait_reply(timeout, &[b"PING"], is_pong).await
    }

    /// Waits until `cmd` gets a reply that `ok` accepts (a `-LOADING` error does not count);
    /// returns how long that took.
    pub async fn wait_reply(
        &mut self,
        timeout: Duration,
        cmd: &[&[u8]],
        ok: fn(&Value) -> bool,
    ) -> Result<Duration, String> {
        let start = Instant::now();
        let mut conn: Option<Conn> = None;
        let what = String::from_utf8_lossy(cmd.first().copied().unwrap_or(b"")).into_owned();
        loop {
            if let Some(c) = &mut self.child {
                if let Ok(Some(st)) = c.try_wait() {
                    let pid = c.id();
                    unregister(pid);
                    self.child = None;
                    return Err(format!(
                        "{} exited ({st}) before answering; log:\n{}",
                        self.name(),
                        self.log_tail()
                    ));
                }
            }
            if start.elapsed() > timeout {
                return Err(format!(
                    "{} did not answer {what} within {:?}",
                    self.name(),
                    timeout
                ));
            }
            if conn.is_none() {
                conn = Conn::connect(&self.addr).await.ok();
            }
            if let Some(c) = &mut conn {
                match tokio::time::timeout(Duration::from_secs(5), c.cmd(cmd)).await {
                    Ok(Ok(v)) if ok(&v) => return Ok(start.elapsed()),
                    Ok(Ok(_)) => {}
                    _ => conn = None,
                }
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }

    /// Stops the process: SIGTERM, then SIGKILL after `grace`.
    pub fn stop(&mut self, grace: Duration) {
        let Some(mut c) = self.child.take() else {
            return;
        };
        let pid = c.id();
        unsafe {
            libc::kill(pid as i32, libc::SIGTERM);
        }
        let start = Instant::now();
        loop {
            if let Ok(Some(_)) = c.try_wait() {
                break;
            }
            if start.elapsed() > grace {
                let _ = c.kill();
                let _ = c.wait();
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        unregister(pid);
    }

    /// Stops the server and starts it again on the same data; returns the time from process
    /// start to the first PONG.
    pub async fn restart_timed(&mut self, timeout: Duration) -> Result<Duration, String> {
        self.restart_timed_reply(timeout, &[b"PING"], is_pong).await
    }

    /// Like [`Server::restart_timed`], up to the first reply to `cmd` that `ok` accepts.
    pub async fn restart_timed_reply(
        &mut self,
        timeout: Duration,
        cmd: &[&[u8]],
        ok: fn(&Value) -> bool,
    ) -> Result<Duration, String> {
        self.stop(Duration::from_secs(300));
        // The port is released at once (SO_REUSEADDR); the clock starts at spawn.
        let t0 = Instant::now();
        self.spawn()?;
        self.wait_reply(timeout, cmd, ok).await?;
        Ok(t0.elapsed())
    }

    /// Stops the server and starts a fresh one (new data directory and port) after a crash.
    pub async fn respawn_fresh(&mut self, work_dir: &Path) -> Result<(), String> {
        self.stop(Duration::from_secs(10));
        if self.launch.is_none() {
            return Err("external server is down".into());
        }
        let level = self.level.unwrap_or(Fsync::No);
        let tmp = data_dir(work_dir, self.side, level)?;
        self.dir = tmp.path().to_path_buf();
        self._tmp = Some(tmp);
        self.port = free_port().map_err(|e| e.to_string())?;
        self.addr = format!("127.0.0.1:{}", self.port);
        self.spawn()?;
        self.wait_ready(Duration::from_secs(60)).await.map(|_| ())
    }

    /// Resident set size (VmRSS) in bytes.
    pub fn rss(&self) -> Option<u64> {
        rss_of(self.pid()?)
    }

    /// Bytes the data directory occupies on disk (like `du`: allocated blocks).
    pub fn disk_bytes(&self) -> Option<u64> {
        self.launch.as_ref()?;
        Some(du(&self.dir))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
            unregister(c.id());
        }
    }
}

/// A `kB` field of `/proc/<pid>/status` (`VmRSS`, `VmHWM`), in bytes.
fn status_kb(pid: u32, field: &str) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = s
        .lines()
        .find(|l| l.strip_prefix(field).is_some_and(|r| r.starts_with(':')))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// Resident set size (VmRSS) of a process, in bytes.
pub fn rss_of(pid: u32) -> Option<u64> {
    status_kb(pid, "VmRSS")
}

/// Peak resident set size (VmHWM) of a process, in bytes.
pub fn peak_rss_of(pid: u32) -> Option<u64> {
    status_kb(pid, "VmHWM")
}

/// Resets the process's VmHWM to its current RSS (`echo 5 > /proc/<pid>/clear_refs`, Linux 4.0
/// and later, our own child); false when the kernel refused.
pub fn reset_peak_rss(pid: u32) -> bool {
    std::fs::write(format!("/proc/{pid}/clear_refs"), b"5").is_ok()
}

fn is_pong(v: &Value) -> bool {
    matches!(v, Value::Simple(s) if s == "PONG")
}

/// Allocated bytes of every file under `p`.
pub fn du(p: &Path) -> u64 {
    let Ok(md) = std::fs::symlink_metadata(p) else {
        return 0;
    };
    if md.is_dir() {
        let mut total = md.blocks() * 512;
        if let Ok(rd) = std::fs::read_dir(p) {
            for e in rd.flatten() {
                total += du(&e.path());
            }
        }
        total
    } else {
        md.blocks() * 512
    }
}

/// `used_memory` from `INFO memory`, when the server has it.
pub async fn used_memory(addr: &str) -> Option<u64> {
    let mut c = Conn::connect(addr).await.ok()?;
    let v = c.cmd_str(&["INFO", "memory"]).await.ok()?;
    let text = String::from_utf8_lossy(v.as_bytes()?).into_owned();
    text.lines()
        .find_map(|l| l.strip_prefix("used_memory:"))
        .and_then(|v| v.trim().parse().ok())
}
