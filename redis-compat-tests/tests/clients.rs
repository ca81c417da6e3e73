//! Real client libraries against Sluice, unchanged: redis-py, ioredis and node-redis, each with
//! its default handshake (RESP3), run the scripts in `clients/` (strings, MULTI/EXEC, a stream
//! job queue with consumer groups). Every script also runs against the reference redis-server,
//! which proves the script's expectations right.
//!
//! The Disque client library pydisque runs `clients/python/pydisque_check.py` (the job API)
//! against Sluice's Disque port (a second Sluice, started with `--disque-port`) and against the
//! reference disque-server 1.0-rc1 built by `scripts/build-disque.sh`; without one,
//! `pydisque::disque` is reported as ignored, saying why (like the Disque-differential cases).
//!
//! taskiq (`clients/python/taskiq_check.py`: taskiq-redis's stream broker with its autoclaim
//! lock, a worker, the result backend and the schedule source) runs against a redis-server and
//! a Sluice of its own, so that redis_py_lock_check.py's SCRIPT FLUSH cannot hit its scripts.
//!
//! The libraries are installed on first use, pinned by `clients/python/requirements.txt`,
//! `clients/python/pydisque-requirements.txt`, `clients/python/taskiq-requirements.txt` and
//! `clients/node/package-lock.json`: a virtualenv per Python pin file under the target directory
//! (`<target>/<profile>/clients-deps/venv`, `.../venv-pydisque`, `.../venv-taskiq`, or
//! `pip install --target` when `venv` is not available), so pydisque's redis-py 7 never meets redis_py_check.py's
//! redis-py 8, and `npm ci` in `clients/node` (its `node_modules` is git-ignored). Each is
//! reinstalled when its pin file changes, under an exclusive file lock that scripts hold shared
//! while they run, so concurrent test runs in one tree do not pull packages from under each
//! other. Needs `python3` (>= 3.10) with pip, `node` (>= 20) and `npm`, and the registries
//! reachable on the first run.
//!
//! | variable | meaning |
//! | --- | --- |
//! | `CLIENTS_PYTHON` | interpreter that makes the virtualenvs (default `python3`) |
//! | `CLIENTS_NODE`, `CLIENTS_NPM` | default `node`, `npm` |
//! | `SLUICE_BIN`, `REDIS_SERVER_BIN`, `DISQUE_BIN` | as for the other targets (see README.md) |

use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use libtest_mimic::{Arguments, Failed, Trial};
use redis_compat_tests::server::{self, Flags, Server};
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

/// How to run a Python script with its pinned packages.
struct PythonEnv {
    python: PathBuf,
    pythonpath: Option<PathBuf>,
}

/// One pinned set of Python packages, in its own virtualenv (or `--target` directory).
#[derive(Clone, Copy)]
enum PyPins {
    /// `requirements.txt`: redis-py 8 for `redis_py_check.py`.
    RedisPy,
    /// `pydisque-requirements.txt`: pydisque and the redis-py 7 it runs on.
    Pydisque,
    /// `taskiq-requirements.txt`: taskiq, taskiq-redis and their dependencies.
    Taskiq,
    /// `redis-py-tests-requirements.txt`: redis-py 8 and pytest, to run redis-py's own stream
    /// tests (`redis_py_upstream_streams.py`).
    RedisPyTests,
}

impl PyPins {
    fn what(self) -> &'static str {
        match self {
            PyPins::RedisPy => "redis-py",
            PyPins::Pydisque => "pydisque",
            PyPins::Taskiq => "taskiq",
            PyPins::RedisPyTests => "redis-py's tests",
        }
    }
}

struct PythonPaths {
    pins: PyPins,
    lock: PathBuf,
    reqs: PathBuf,
    venv: PathBuf,
    venv_python: PathBuf,
    site: PathBuf,
    stamp_venv: PathBuf,
    stamp_site: PathBuf,
}

fn python_paths(pins: PyPins) -> PythonPaths {
    let base = deps_dir();
    let (venv, site, reqs, lock) = match pins {
        PyPins::RedisPy => ("venv", "python-site", "requirements.txt", ".python.lock"),
        PyPins::Pydisque => (
            "venv-pydisque",
            "python-site-pydisque",
            "pydisque-requirements.txt",
            ".python-pydisque.lock",
        ),
        PyPins::RedisPyTests => (
            "venv-redis-py-tests",
            "python-site-redis-py-tests",
            "redis-py-tests-requirements.txt",
            ".python-redis-py-tests.lock",
        ),
        PyPins::Taskiq => (
            "venv-taskiq",
            "python-site-taskiq",
            "taskiq-requirements.txt",
            ".python-taskiq.lock",
        ),
    };
    let venv = base.join(venv);
    let site = base.join(site);
    PythonPaths {
        pins,
        lock: base.join(lock),
        reqs: clients_dir().join("python").join(reqs),
        venv_python: venv.join("bin").join("python"),
        stamp_venv: venv.join(".sluice-requirements"),
        stamp_site: site.join(".sluice-requirements"),
        venv,
        site,
    }
}

/// The installed packages, if their stamp matches their pin file.
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
                &format!("pip install -r {} (virtualenv)", reqs_name(p)),
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
                &format!("pip install --target -r {}", reqs_name(p)),
                INSTALL_TIMEOUT,
            )
            .map_err(|e| format!("{venv_err}\nand then {e}"))?;
            &p.stamp_site
        }
    };
    fs::copy(&p.reqs, stamp).map_err(|e| format!("write {}: {e}", stamp.display()))?;
    eprintln!(
        "clients: installed {} in {:.1?}",
        p.pins.what(),
        started.elapsed()
    );
    Ok(())
}

fn reqs_name(p: &PythonPaths) -> String {
    p.reqs
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// `Ok` with a shared lock and the interpreter to run, once `pins` are installed.
fn python_env(pins: PyPins) -> Result<(FileLock, PythonEnv), String> {
    let paths = python_paths(pins);
    ensure_installed(
        &paths.lock,
        || python_ready(&paths),
        || python_install(&paths),
    )
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
    /// redis-py's Lock and scripts (`redis_py_lock_check.py`, the same pins as RedisPy).
    RedisPyLock,
    Ioredis,
    NodeRedis,
    /// The Disque client: runs against Disque ports (Sluice's `--disque-port`, disque-server).
    Pydisque,
    /// taskiq's stream broker, worker, result backend and schedule source (`taskiq_check.py`),
    /// on a server pair of its own.
    Taskiq,
    /// redis-py's own stream tests (its test suite, unchanged), on a Sluice of its own (they
    /// FLUSHDB after every test): Sluice only, as redis-server 7.0.15 skips the 8.x ones.
    RedisPyUpstream,
}

impl Lib {
    fn name(self) -> &'static str {
        match self {
            Lib::RedisPy => "redis_py",
            Lib::RedisPyLock => "redis_py_lock",
            Lib::Ioredis => "ioredis",
            Lib::NodeRedis => "node_redis",
            Lib::Pydisque => "pydisque",
            Lib::Taskiq => "taskiq",
            Lib::RedisPyUpstream => "redis_py_upstream_streams",
        }
    }
}

fn run_script(lib: Lib, server: &str, port: u16) -> Result<(), Failed> {
    let started = Instant::now();
    // The lock is held (shared) until the script has finished.
    let (_lock, mut cmd) = match lib {
        Lib::RedisPy | Lib::RedisPyLock | Lib::Pydisque | Lib::Taskiq | Lib::RedisPyUpstream => {
            let (pins, script) = match lib {
                Lib::RedisPy => (PyPins::RedisPy, "redis_py_check.py"),
                Lib::RedisPyUpstream => (PyPins::RedisPyTests, "redis_py_upstream_streams.py"),
                Lib::RedisPyLock => (PyPins::RedisPy, "redis_py_lock_check.py"),
                Lib::Taskiq => (PyPins::Taskiq, "taskiq_check.py"),
                _ => (PyPins::Pydisque, "pydisque_check.py"),
            };
            let (lock, env) = python_env(pins)?;
            let mut cmd = Command::new(&env.python);
            if let Some(p) = &env.pythonpath {
                cmd.env("PYTHONPATH", p);
            }
            cmd.env("PYTHONDONTWRITEBYTECODE", "1");
            cmd.env(
                "REDIS_PY_TESTS_CACHE",
                deps_dir().join("redis-py-upstream-tests"),
            );
            cmd.arg(clients_dir().join("python").join(script));
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
    // redis-py's own suite is ~65 tests with pytest's start-up: give it longer.
    let timeout = match lib {
        Lib::RedisPyUpstream => SCRIPT_TIMEOUT * 4,
        _ => SCRIPT_TIMEOUT,
    };
    let out = run(&mut cmd, &what, timeout)?;
    eprintln!("clients: {} ({:.1?})", out.trim_end(), started.elapsed());
    Ok(())
}

/// Sluice with a Disque port (`--disque-port`), for pydisque: `(server, Disque port)`. With
/// `SLUICE_BIN` pointing at a disque-server (to validate the script against Disque on both
/// sides), that server's own port.
fn start_sluice_with_disque_port() -> Result<(Server, u16), String> {
    let bin = server::sluice_bin();
    if server::is_named(&bin, "disque-server") {
        let s = server::start_with("sluice", &bin, Flags::Disque, &[])?.0;
        let port = s.addr.port();
        return Ok((s, port));
    }
    let (s, port2) =
        server::start_with("sluice", &bin, Flags::Sluice, &["--disque-port", "{port2}"])?;
    Ok((s, port2.expect("{port2} was passed")))
}

fn print_log_tail(s: &Server) {
    let log = s.log();
    let tail: Vec<&str> = log.lines().rev().take(40).collect();
    if !tail.is_empty() {
        eprintln!("--- last lines of the {} server's output ---", s.name);
        for l in tail.iter().rev() {
            eprintln!("{l}");
        }
    }
}

fn main() {
    let args = Arguments::from_args();
    let ports: Arc<OnceLock<[u16; 2]>> = Arc::new(OnceLock::new());
    let mut trials = Vec::new();
    for lib in [Lib::RedisPy, Lib::RedisPyLock, Lib::Ioredis, Lib::NodeRedis] {
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
    let redis_trials = trials.len();

    // pydisque against the reference disque-server and against Sluice's Disque port. Either
    // side is skipped (reported as ignored, saying why) when its server cannot be had.
    let sluice_bin_is = |prefix: &str| {
        std::env::var_os("SLUICE_BIN").is_some_and(|p| server::is_named(Path::new(&p), prefix))
    };
    let skip: [Option<String>; 2] = [
        server::disque_bin().err(),
        sluice_bin_is("redis-server").then(|| {
            "SLUICE_BIN is a redis-server (the Redis validation run), which has no Disque port"
                .to_string()
        }),
    ];
    type DisquePorts = [Result<u16, String>; 2];
    let disque_ports: Arc<OnceLock<DisquePorts>> = Arc::new(OnceLock::new());
    for (i, server) in ["disque", "sluice"].into_iter().enumerate() {
        let ports = Arc::clone(&disque_ports);
        let skip_why = skip[i].clone();
        trials.push(
            Trial::test(format!("{}::{server}", Lib::Pydisque.name()), move || {
                if let Some(why) = skip_why {
                    return Err(format!("skipped: {why}").into());
                }
                match &ports.get().expect("servers started")[i] {
                    Ok(port) => run_script(Lib::Pydisque, server, *port),
                    Err(e) => Err(e.clone().into()),
                }
            })
            .with_ignored_flag(skip[i].is_some()),
        );
    }

    // taskiq on a redis-server and a Sluice of its own: redis_py_lock_check.py's SCRIPT FLUSH
    // could land between the worker's SCRIPT LOAD and its MULTI ... EVALSHA ... EXEC (the
    // EVALSHA then fails with NOSCRIPT inside the transaction, which ends taskiq's read loop).
    let taskiq_trials = trials.len();
    let taskiq_ports: Arc<OnceLock<[u16; 2]>> = Arc::new(OnceLock::new());
    for (i, server) in ["redis", "sluice"].into_iter().enumerate() {
        let ports = Arc::clone(&taskiq_ports);
        trials.push(Trial::test(
            format!("{}::{server}", Lib::Taskiq.name()),
            move || {
                let port = ports.get().expect("servers started")[i];
                run_script(Lib::Taskiq, server, port)
            },
        ));
    }

    // redis-py's own stream tests on a Sluice of their own (they FLUSHDB after each test).
    // Not against redis-server 7.0.15: it is too old for them (they would be skipped).
    let upstream_skip = sluice_bin_is("redis-server").then(|| {
        "SLUICE_BIN is a redis-server (the Redis validation run): redis-py's 8.x stream tests need a server reporting 8.10".to_string()
    });
    trials.push(
        Trial::test(
            format!("{}::sluice", Lib::RedisPyUpstream.name()),
            move || {
                let s = server::start_with(
                    "sluice-redis-py-tests",
                    &server::sluice_bin(),
                    Flags::SluiceDefault,
                    &[],
                )
                .map_err(Failed::from)?
                .0;
                let r = run_script(Lib::RedisPyUpstream, "sluice", s.addr.port());
                if r.is_err() {
                    print_log_tail(&s);
                }
                r
            },
        )
        .with_ignored_flag(upstream_skip.is_some()),
    );

    // As in the other targets: a filter matching nothing, or --list, starts no server.
    let runs = |t: &Trial| !args.list && !args.is_filtered_out(t) && !t.has_ignored_flag();
    let will_run = |range: std::ops::Range<usize>| trials[range].iter().any(runs);
    let servers = will_run(0..redis_trials).then(ServerPair::start);
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
    for (i, server) in ["disque", "sluice"].into_iter().enumerate() {
        if let Some(why) = &skip[i] {
            let t = &trials[redis_trials + i];
            if !args.list && !args.is_filtered_out(t) && !args.quiet {
                eprintln!("clients: {why}: skipping pydisque::{server}");
            }
        }
    }
    let disque = will_run(redis_trials..redis_trials + 1).then(|| {
        server::disque_bin().and_then(|bin| server::start_with("disque", &bin, Flags::Disque, &[]))
    });
    let sluice_disque =
        will_run(redis_trials + 1..redis_trials + 2).then(start_sluice_with_disque_port);
    if disque.is_some() || sluice_disque.is_some() {
        let not_started = || Err("not started".to_string());
        let _ = disque_ports.set([
            match &disque {
                Some(Ok((d, _))) => Ok(d.addr.port()),
                Some(Err(e)) => Err(e.clone()),
                None => not_started(),
            },
            match &sluice_disque {
                Some(Ok((_, p))) => Ok(*p),
                Some(Err(e)) => Err(e.clone()),
                None => not_started(),
            },
        ]);
        if !args.quiet {
            if let Some(Ok((d, _))) = &disque {
                eprintln!("clients: disque {} on {}", d.bin.display(), d.addr);
            }
            if let Some(Ok((s, p))) = &sluice_disque {
                eprintln!(
                    "clients: sluice {} on {} (Disque port: {p})",
                    s.bin.display(),
                    s.addr
                );
            }
        }
    }

    let taskiq_servers = will_run(taskiq_trials..taskiq_trials + 2).then(ServerPair::start);
    if let Some(s) = &taskiq_servers {
        let _ = taskiq_ports.set([s.redis.addr.port(), s.sluice.addr.port()]);
        if !args.quiet {
            eprintln!(
                "clients: for taskiq: redis on {}, sluice on {}",
                s.redis.addr, s.sluice.addr
            );
        }
    }

    let conclusion = libtest_mimic::run(&args, trials);
    if conclusion.has_failed() {
        if let Some(s) = &servers {
            print_log_tail(&s.sluice);
        }
        if let Some(s) = &taskiq_servers {
            print_log_tail(&s.sluice);
        }
        if let Some(Ok((s, _))) = &sluice_disque {
            print_log_tail(s);
        }
    }
    // Conclusion::exit() does not run destructors: kill the servers first.
    drop(servers);
    drop(taskiq_servers);
    drop(disque);
    drop(sluice_disque);
    conclusion.exit()
}
