//! Real client libraries against Sluice, unchanged: redis-py, ioredis and node-redis, each with
//! its default handshake (RESP3), run the scripts in `clients/` (strings, MULTI/EXEC, a stream
//! job queue with consumer groups). Every script also runs against the reference redis-server,
//! which proves the script's expectations right.
//!
//! The libraries are installed on first use, pinned by `clients/python/requirements.txt` and
//! `clients/node/package-lock.json`: a virtualenv under the target directory
//! (`<target>/<profile>/clients-deps/venv`, or `pip install --target` when `venv` is not
//! available) and `npm ci` in `clients/node` (its `node_modules` is git-ignored). Each is
//! reinstalled when its pin file changes, under an exclusive file lock that scripts hold shared
//! while they run, so concurrent test runs in one tree do not pull packages from under each
//! other. Needs `python3` (>= 3.10) with pip, `node` (>= 20) and `npm`, and the registries
//! reachable on the first run.
//!
//! | variable | meaning |
//! | --- | --- |
//! | `CLIENTS_PYTHON` | interpreter that makes the virtualenv (default `python3`) |
//! | `CLIENTS_NODE`, `CLIENTS_NPM` | default `node`, `npm` |
//! | `SLUICE_BIN`, `REDIS_SERVER_BIN` | as for the other targets (see README.md) |

use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use libtest_mimic::{Arguments, Failed, Trial};
use redis_compat_tests::ServerPair;

/// How long one script may run (they take about a second).
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(90);
/// How long installing one ecosystem's packages may take.
const INSTALL_TIMEOUT: Duration = Duration::from_secs(300);

fn clients_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("clients")
}

/// `<target>/<profile>/clients-deps`: next to the test executable's `deps/`.
fn deps_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    let profile = exe
        .parent()
        .and_then(Path::parent)
        .expect("test executable is in <target>/<profile>/deps");
    profile.join("clients-deps")
}

fn env_or(var: &str, default: &str) -> OsString {
    std::env::var_os(var).unwrap_or_else(|| default.into())
}

/// Runs `cmd` to completion with a deadline; Ok(stdout+stderr) when it exits 0.
fn run(cmd: &mut Command, what: &str, timeout: Duration) -> Result<String, String> {
    let out = tempfile::tempfile().map_err(|e| format!("{what}: tempfile: {e}"))?;
    let err = out.try_clone().map_err(|e| format!("{what}: {e}"))?;
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::from(
            out.try_clone().map_err(|e| format!("{what}: {e}"))?,
        ))
        .stderr(Stdio::from(err))
        .spawn()
        .map_err(|e| format!("{what}: cannot start {:?}: {e}", cmd.get_program()))?;
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(status) = child.try_wait().map_err(|e| format!("{what}: wait: {e}"))? {
            break Some(status);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut text = String::new();
    {
        use std::io::{Read, Seek};
        let mut out = out;
        let _ = out.rewind();
        let _ = out.read_to_string(&mut text);
    }
    match status {
        Some(s) if s.success() => Ok(text),
        Some(s) => Err(format!("{what} failed ({s}):\n{}", text.trim_end())),
        None => Err(format!(
            "{what} did not finish within {timeout:?}:\n{}",
            text.trim_end()
        )),
    }
}

/// True when `stamp` holds exactly the contents of `pin` (the pins the install was made from).
fn up_to_date(stamp: &Path, pin: &Path) -> bool {
    match (fs::read(stamp), fs::read(pin)) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

/// An advisory lock on a file (flock): shared while a script uses installed packages, exclusive
/// while installing them, so that concurrent test runs (another `cargo test` in the same tree or
/// target directory) never run a script while `npm ci` or pip replaces what it imports.
/// Released when dropped.
struct FileLock(#[allow(dead_code)] fs::File);

impl FileLock {
    fn take(path: &Path, exclusive: bool) -> Result<FileLock, String> {
        use std::os::fd::AsRawFd;
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir).map_err(|e| format!("mkdir {}: {e}", dir.display()))?;
        }
        let f = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(path)
            .map_err(|e| format!("open {}: {e}", path.display()))?;
        let op = if exclusive {
            libc::LOCK_EX
        } else {
            libc::LOCK_SH
        };
        loop {
            // SAFETY: flock on a file descriptor we own.
            if unsafe { libc::flock(f.as_raw_fd(), op) } == 0 {
                return Ok(FileLock(f));
            }
            let e = std::io::Error::last_os_error();
            if e.kind() != std::io::ErrorKind::Interrupted {
                return Err(format!("flock {}: {e}", path.display()));
            }
        }
    }
}

/// Returns a shared lock on `lock` once `ready()` says the packages are installed, running
/// `install` (under the exclusive lock) first when they are not.
fn ensure_installed<T>(
    lock: &Path,
    ready: impl Fn() -> Option<T>,
    install: impl FnOnce() -> Result<(), String>,
) -> Result<(FileLock, T), String> {
    let shared = FileLock::take(lock, false)?;
    if let Some(t) = ready() {
        return Ok((shared, t));
    }
    drop(shared);
    {
        let _exclusive = FileLock::take(lock, true)?;
        // Somebody else may have installed while we waited.
        if ready().is_none() {
            install()?;
        }
    }
    let shared = FileLock::take(lock, false)?;
    match ready() {
        Some(t) => Ok((shared, t)),
        None => Err(format!(
            "packages still not ready after installing (lock {})",
            lock.display()
        )),
    }
}

/// How to run a Python script with the pinned redis-py.
struct PythonEnv {
    python: PathBuf,
    pythonpath: Option<PathBuf>,
}

struct PythonPaths {
    reqs: PathBuf,
    venv: PathBuf,
    venv_python: PathBuf,
    site: PathBuf,
    stamp_venv: PathBuf,
    stamp_site: PathBuf,
}

fn python_paths() -> PythonPaths {
    let base = deps_dir();
    let venv = base.join("venv");
    let site = base.join("python-site");
    PythonPaths {
        reqs: clients_dir().join("python").join("requirements.txt"),
        venv_python: venv.join("bin").join("python"),
        stamp_venv: venv.join(".sluice-requirements"),
        stamp_site: site.join(".sluice-requirements"),
        venv,
        site,
    }
}

/// The installed redis-py, if its stamp matches requirements.txt.
fn python_ready(p: &PythonPaths) -> Option<PythonEnv> {
    if up_to_date(&p.stamp_venv, &p.reqs) && p.venv_python.is_file() {
        return Some(PythonEnv {
            python: p.venv_python.clone(),
            pythonpath: None,
        });
    }
    if up_to_date(&p.stamp_site, &p.reqs) {
        return Some(PythonEnv {
            python: env_or("CLIENTS_PYTHON", "python3").into(),
            pythonpath: Some(p.site.clone()),
        });
    }
    None
}

fn python_install(p: &PythonPaths) -> Result<(), String> {
    let started = Instant::now();
    let base_python = env_or("CLIENTS_PYTHON", "python3");
    let pip = |python: &OsString| {
        let mut c = Command::new(python);
        c.args(["-m", "pip", "install", "--disable-pip-version-check", "-q"]);
        c
    };
    // A virtualenv first; Debian's python3 without python3-venv cannot make one, so fall back to
    // `pip install --target`.
    let _ = fs::remove_dir_all(&p.venv);
    let _ = fs::remove_dir_all(&p.site);
    let made_venv = run(
        Command::new(&base_python).args(["-m", "venv"]).arg(&p.venv),
        "python3 -m venv",
        INSTALL_TIMEOUT,
    );
    let stamp = match made_venv {
        Ok(_) => {
            run(
                pip(&p.venv_python.clone().into_os_string())
                    .arg("-r")
                    .arg(&p.reqs),
                "pip install -r requirements.txt (virtualenv)",
                INSTALL_TIMEOUT,
            )?;
            &p.stamp_venv
        }
        Err(venv_err) => {
            run(
                pip(&base_python)
                    .arg("--target")
                    .arg(&p.site)
                    .arg("-r")
                    .arg(&p.reqs),
                "pip install --target -r requirements.txt",
                INSTALL_TIMEOUT,
            )
            .map_err(|e| format!("{venv_err}\nand then {e}"))?;
            &p.stamp_site
        }
    };
    fs::copy(&p.reqs, stamp).map_err(|e| format!("write {}: {e}", stamp.display()))?;
    eprintln!("clients: installed redis-py in {:.1?}", started.elapsed());
    Ok(())
}

/// `npm ci` in clients/node, pinned by package-lock.json; the stamp is a copy of the lock file
/// inside node_modules (which `npm ci` starts by deleting).
fn node_stamp() -> (PathBuf, PathBuf) {
    let dir = clients_dir().join("node");
    (
        dir.join("node_modules").join(".sluice-package-lock.json"),
        dir.join("package-lock.json"),
    )
}

fn node_install() -> Result<(), String> {
    let started = Instant::now();
    let (stamp, lock) = node_stamp();
    run(
        Command::new(env_or("CLIENTS_NPM", "npm"))
            .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
            .current_dir(clients_dir().join("node")),
        "npm ci (clients/node)",
        INSTALL_TIMEOUT,
    )?;
    fs::copy(&lock, &stamp).map_err(|e| format!("write {}: {e}", stamp.display()))?;
    eprintln!(
        "clients: installed ioredis and node-redis in {:.1?}",
        started.elapsed()
    );
    Ok(())
}

#[derive(Clone, Copy)]
enum Lib {
    RedisPy,
    Ioredis,
    NodeRedis,
}

impl Lib {
    fn name(self) -> &'static str {
        match self {
            Lib::RedisPy => "redis_py",
            Lib::Ioredis => "ioredis",
            Lib::NodeRedis => "node_redis",
        }
    }
}

fn run_script(lib: Lib, server: &str, port: u16) -> Result<(), Failed> {
    let started = Instant::now();
    // The lock is held (shared) until the script has finished.
    let (_lock, mut cmd) = match lib {
        Lib::RedisPy => {
            let paths = python_paths();
            let (lock, env) = ensure_installed(
                &deps_dir().join(".python.lock"),
                || python_ready(&paths),
                || python_install(&paths),
            )?;
            let mut cmd = Command::new(&env.python);
            if let Some(p) = &env.pythonpath {
                cmd.env("PYTHONPATH", p);
            }
            cmd.env("PYTHONDONTWRITEBYTECODE", "1");
            cmd.arg(clients_dir().join("python").join("redis_py_check.py"));
            (lock, cmd)
        }
        Lib::Ioredis | Lib::NodeRedis => {
            let (stamp, pin) = node_stamp();
            let (lock, ()) = ensure_installed(
                &clients_dir().join("node").join(".npm-ci.lock"),
                || up_to_date(&stamp, &pin).then_some(()),
                node_install,
            )?;
            let script = match lib {
                Lib::Ioredis => "ioredis_check.js",
                _ => "node_redis_check.js",
            };
            let mut cmd = Command::new(env_or("CLIENTS_NODE", "node"));
            cmd.arg(clients_dir().join("node").join(script));
            (lock, cmd)
        }
    };
    cmd.arg("127.0.0.1").arg(port.to_string());
    let what = format!("{} against {server}", lib.name());
    let out = run(&mut cmd, &what, SCRIPT_TIMEOUT)?;
    eprintln!("clients: {} ({:.1?})", out.trim_end(), started.elapsed());
    Ok(())
}

fn main() {
    let args = Arguments::from_args();
    let ports: Arc<OnceLock<[u16; 2]>> = Arc::new(OnceLock::new());
    let mut trials = Vec::new();
    for lib in [Lib::RedisPy, Lib::Ioredis, Lib::NodeRedis] {
        for (i, server) in ["redis", "sluice"].into_iter().enumerate() {
            let ports = Arc::clone(&ports);
            trials.push(Trial::test(
                format!("{}::{server}", lib.name()),
                move || {
                    let port = ports.get().expect("servers started")[i];
                    run_script(lib, server, port)
                },
            ));
        }
    }
    // As in the other targets: a filter matching nothing, or --list, starts no server.
    let will_run = !args.list && trials.iter().any(|t| !args.is_filtered_out(t));
    let servers = will_run.then(ServerPair::start);
    if let Some(s) = &servers {
        let _ = ports.set([s.redis.addr.port(), s.sluice.addr.port()]);
        if !args.quiet {
            eprintln!(
                "clients: redis {} on {}, sluice {} on {}",
                s.redis.bin.display(),
                s.redis.addr,
                s.sluice.bin.display(),
                s.sluice.addr
            );
        }
    }
    redis_compat_tests::run_and_exit(&args, trials, servers)
}
