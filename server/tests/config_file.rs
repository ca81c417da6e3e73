//! Starting like redis-server: `-v`/`-h`, Debian's stock redis.conf (its directives that do not
//! apply to Sluice accepted and listed in one warning), `daemonize`, `pidfile`, `logfile`,
//! optional `-` bind addresses, INFO `config_file` and CONFIG REWRITE read back by a restart.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::{free_port, sluice_bin, Conn};

const STOCK_CONF: &str = "/etc/redis/redis.conf";

#[test]
fn version_and_help_exit_zero() {
    for flag in ["-v", "--version"] {
        let out = Command::new(sluice_bin()).arg(flag).output().expect("run");
        assert!(out.status.success(), "{flag}: {:?}", out.status);
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.starts_with("Sluice server v="), "{flag}: {text}");
    }
    for flag in ["-h", "--help"] {
        let out = Command::new(sluice_bin()).arg(flag).output().expect("run");
        assert!(out.status.success(), "{flag}: {:?}", out.status);
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("--appendfsync everysec\n"), "{flag}: {text}");
        assert!(text.contains("--maxmemory 0\n"), "{flag}: {text}");
    }
    // A bad option says what is wrong and where to look, and exits 1.
    let out = Command::new(sluice_bin())
        .args(["--nosuchoption", "1"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("'nosuchoption'") && err.contains("--help"),
        "{err}"
    );
}

/// Kills the daemon named by a pid file when the test ends, whatever happened.
struct Daemon(PathBuf);

impl Daemon {
    fn pid(&self) -> Option<i32> {
        std::fs::read_to_string(&self.0).ok()?.trim().parse().ok()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(pid) = self.pid() {
            // SAFETY: sending a signal has no memory-safety preconditions.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
            }
        }
    }
}

/// Waits until `port` answers PING (the daemon is not our child: there is no pipe to watch).
fn wait_for_ping(port: u16) -> Conn {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(s) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            drop(s);
            let mut c = Conn::new(port);
            if c.cmd("PING") == b"+PONG\r\n" {
                return c;
            }
        }
        assert!(Instant::now() < deadline, "no server on port {port}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The log file once it contains `needle` (the log's writer thread may lag the server).
fn wait_for_log(path: &Path, needle: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let log = std::fs::read_to_string(path).unwrap_or_default();
        if log.contains(needle) {
            return log;
        }
        assert!(
            Instant::now() < deadline,
            "no {needle:?} in {}: {log}",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn wait_gone(path: &Path) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while path.exists() {
        assert!(Instant::now() < deadline, "{} not removed", path.display());
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn info_field(c: &mut Conn, field: &str) -> String {
    let raw = c.cmd("INFO server");
    let text = String::from_utf8_lossy(&raw).into_owned();
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .unwrap_or_default()
        .trim()
        .to_string()
}

#[test]
fn stock_redis_conf_starts_and_config_rewrite_round_trips() {
    if !Path::new(STOCK_CONF).exists() {
        eprintln!("SKIPPED: {STOCK_CONF} is missing (Debian's redis-server package installs it)");
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let conf = tmp.path().join("redis.conf");
    std::fs::copy(STOCK_CONF, &conf).expect("copy the stock config");
    let pidfile = tmp.path().join("sluice.pid");
    let logfile = tmp.path().join("sluice.log");
    let data = tmp.path().join("data");
    let port = free_port();
    let port_s = port.to_string();
    // The stock file says `daemonize yes`, `pidfile /run/…`, `logfile /var/log/…`, `dir
    // /var/lib/redis`: the paths are overridden, daemonize is kept.
    let status = Command::new(sluice_bin())
        .arg(&conf)
        .args([
            "--port",
            &port_s,
            "--bind",
            "127.0.0.1",
            "-192.0.2.1",
            "--dir",
        ])
        .arg(&data)
        .arg("--pidfile")
        .arg(&pidfile)
        .arg("--logfile")
        .arg(&logfile)
        .status()
        .expect("run sluice");
    assert!(
        status.success(),
        "the daemonizing parent exits 0: {status:?}"
    );
    let daemon = Daemon(pidfile.clone());
    let mut c = wait_for_ping(port);
    let pid = daemon.pid().expect("the pid file holds the daemon's pid");
    assert_eq!(info_field(&mut c, "process_id"), pid.to_string());
    assert_eq!(
        info_field(&mut c, "config_file"),
        std::fs::canonicalize(&conf)
            .expect("canonical")
            .display()
            .to_string()
    );
    // The log is written by its own thread: wait for the last line expected at start.
    let log = wait_for_log(&logfile, "optional bind address unavailable");
    assert!(
        log.contains("Redis directives that do not apply to Sluice were ignored")
            && log.contains("protected-mode yes")
            && log.contains("dbfilename dump.rdb"),
        "{log}"
    );
    assert!(log.contains("optional bind address unavailable"), "{log}");
    assert!(
        !log.contains("lsm_tree"),
        "fjall internals only at debug: {log}"
    );

    assert_eq!(c.cmd("CONFIG SET maxmemory 123mb"), b"+OK\r\n");
    assert_eq!(c.cmd("CONFIG SET appendfsync always"), b"+OK\r\n");
    assert_eq!(c.cmd("CONFIG REWRITE"), b"+OK\r\n");
    let text = std::fs::read_to_string(&conf).expect("rewritten");
    assert!(text.contains("\nmaxmemory 128974848\n"), "{text}");
    assert!(text.contains("\nappendfsync always\n"), "{text}");
    assert!(text.contains(&format!("\nport {port}\n")), "{text}");
    // Lines Sluice ignores and comments stay as they were.
    assert!(text.contains("\nprotected-mode yes\n"), "{text}");
    assert!(
        text.contains("# Redis configuration file example."),
        "{text}"
    );

    c.send_raw(&common::encode(&[b"SHUTDOWN"]));
    assert!(c.is_closed(), "SHUTDOWN closes the connection");
    wait_gone(&pidfile);

    // The rewritten file starts a server (in the foreground this time) with those values.
    let mut child = Command::new(sluice_bin())
        .arg(&conf)
        .args(["--daemonize", "no", "--logfile", ""])
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("restart from the rewritten file");
    let mut c = wait_for_ping(port);
    assert_eq!(
        c.cmd("CONFIG GET maxmemory"),
        b"*2\r\n$9\r\nmaxmemory\r\n$9\r\n128974848\r\n"
    );
    assert_eq!(
        c.cmd("CONFIG GET appendfsync"),
        b"*2\r\n$11\r\nappendfsync\r\n$6\r\nalways\r\n"
    );
    c.send_raw(&common::encode(&[b"SHUTDOWN"]));
    assert!(c.is_closed(), "SHUTDOWN closes the connection");
    let status = child.wait().expect("wait");
    assert!(status.success(), "{status:?}");
    assert!(!pidfile.exists(), "the pid file is removed at a clean exit");
}

#[test]
fn directives_that_ask_for_missing_features_are_refused() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let conf = tmp.path().join("s.conf");
    std::fs::write(&conf, "port 0\nreplicaof 10.0.0.1 6379\n").expect("write");
    let out = Command::new(sluice_bin()).arg(&conf).output().expect("run");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("config file line 2") && err.contains("no replication"),
        "{err}"
    );
}

#[test]
fn a_data_directory_in_use_is_named_with_its_owner_not_called_corrupt() {
    let first = common::Server::start(&[]);
    let pid = first.pid().expect("pid");
    let out = Command::new(sluice_bin())
        .args(["--port", &free_port().to_string(), "--dir"])
        .arg(&first.dir)
        .output()
        .expect("run a second server");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!(
            "data directory {} is in use by another Sluice process (pid {pid})",
            first.dir.display()
        )),
        "{err}"
    );
    assert!(!err.contains("corrupt") && !err.contains("repair"), "{err}");
}

/// The log says whether the last run stopped cleanly: a new directory, a clean SIGTERM, then a
/// kill -9 (recovery from the journal), each seen by the next start.
#[test]
fn the_start_log_says_whether_the_last_shutdown_was_clean() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("data");
    let log = tmp.path().join("sluice.log");
    let mut s = common::Server::start_env(&dir, &[], &[], &log);
    wait_for_log(&log, "store opened: new data directory");
    assert_eq!(s.conn().cmd("SET a 1"), b"+OK\r\n");
    assert!(s.stop().success());
    let mut s = common::Server::start_env(&dir, &[], &[], &log);
    wait_for_log(&log, "store opened: the last shutdown was clean");
    assert_eq!(s.conn().cmd("SET a 2"), b"+OK\r\n");
    s.kill9();
    let s = common::Server::start_env(&dir, &[], &[], &log);
    let text = wait_for_log(&log, "did not shut down cleanly");
    assert_eq!(
        text.matches("the last shutdown was clean").count(),
        1,
        "the kill -9 was not taken for a clean stop: {text}"
    );
    assert_eq!(s.conn().cmd("GET a"), b"$1\r\n2\r\n");
}

/// The reported Redis version (issue #13): 8.10.0 by default in INFO, HELLO and Lua, so that
/// client libraries switch on the 8.x stream commands; `--redis-version` pins another one (for
/// a client that misbehaves with a newer server) and a malformed one is refused at start.
#[test]
fn the_reported_redis_version_is_8_10_by_default_and_configurable() {
    let s = common::Server::start(&[]);
    let mut c = s.conn();
    assert_eq!(info_field(&mut c, "redis_version"), "8.10.0");
    let hello = common::parse_resp(&c.cmd("HELLO 2")).0;
    assert_eq!(hello.field("version").bulk(), b"8.10.0");
    assert_eq!(
        c.cmd_args(&[
            b"EVAL",
            b"return {redis.REDIS_VERSION, redis.REDIS_VERSION_NUM}",
            b"0"
        ]),
        b"*2\r\n$6\r\n8.10.0\r\n:526848\r\n"
    );
    assert_eq!(
        c.cmd("CONFIG GET redis-version"),
        b"*2\r\n$13\r\nredis-version\r\n$6\r\n8.10.0\r\n"
    );
    // Fixed at start, as the version of a running redis-server is.
    assert!(c
        .cmd("CONFIG SET redis-version 7.0.15")
        .starts_with(b"-ERR"));

    // Reply details that changed after 7.0.15 follow the reported version: ENTRIESREAD is
    // capped at entries-added (8.2.2), a group behind the first entry lags by the length (8.0).
    let groups = |c: &mut Conn| {
        for l in [
            "DEL s",
            "XADD s 1-1 f v",
            "XADD s 2-1 f v",
            "XADD s 3-1 f v",
        ] {
            c.cmd(l);
        }
        assert_eq!(c.cmd("XGROUP CREATE s g 0 ENTRIESREAD 7"), b"+OK\r\n");
        let info = common::parse_resp(&c.cmd("XINFO GROUPS s")).0;
        let g = &info.array()[0];
        (g.field("entries-read").int(), g.field("lag").int())
    };
    assert_eq!(groups(&mut c), (3, 3));
    assert_eq!(
        c.cmd("XREAD STREAMS a b 0"),
        b"-ERR Unbalanced 'xread' list of streams: for each stream key an ID, '+', or '$' must be specified.\r\n"
    );
    assert_eq!(
        c.cmd("XREADGROUP GROUP g c STREAMS a b >"),
        b"-ERR Unbalanced 'xreadgroup' list of streams: for each stream key an ID or '>' must be specified.\r\n"
    );

    let pinned = common::Server::start(&["--redis-version", "7.0.15"]);
    let mut c = pinned.conn();
    assert_eq!(info_field(&mut c, "redis_version"), "7.0.15");
    assert_eq!(groups(&mut c), (7, -4));
    assert_eq!(
        c.cmd("XREADGROUP GROUP g c STREAMS a b >"),
        b"-ERR Unbalanced XREAD list of streams: for each stream key an ID or '$' must be specified.\r\n"
    );
    assert_eq!(
        c.cmd_args(&[b"EVAL", b"return redis.REDIS_VERSION_NUM", b"0"]),
        b":458767\r\n"
    );

    for bad in ["8.10", "8.10.0.1", "8.256.0", "x.y.z", ""] {
        let out = Command::new(sluice_bin())
            .args(["--port", "0", "--redis-version", bad])
            .output()
            .expect("run");
        assert_eq!(
            out.status.code(),
            Some(1),
            "--redis-version {bad:?} accepted"
        );
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("redis-version"), "{err}");
    }
}
