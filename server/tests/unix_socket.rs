//! `unixsocket` and `unixsocketperm`: every kind of command over the Unix socket (plain,
//! transactions, blocking reads woken from TCP), CLIENT LIST/INFO in Redis's form for Unix
//! clients (compared with a real redis-server when one is installed), the socket file's mode,
//! a stale socket file replaced at start, the file removed at a clean stop, errors that name
//! the path, and `port 0` serving on the Unix socket alone.

mod common;

use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{encode, frame_len, parse_resp, sluice_bin, Resp, Server};

/// A client on a Unix socket.
struct UnixConn {
    s: UnixStream,
    buf: Vec<u8>,
}

impl UnixConn {
    fn new(path: &Path) -> UnixConn {
        let s = UnixStream::connect(path).expect("connect to the unix socket");
        s.set_read_timeout(Some(Duration::from_secs(20))).ok();
        UnixConn { s, buf: Vec::new() }
    }

    fn send(&mut self, line: &str) {
        let args: Vec<&[u8]> = line.split(' ').map(str::as_bytes).collect();
        self.s.write_all(&encode(&args)).expect("write");
    }

    fn read(&mut self) -> Resp {
        loop {
            if let Some(n) = frame_len(&self.buf) {
                let (r, _) = parse_resp(&self.buf[..n]);
                self.buf.drain(..n);
                return r;
            }
            let mut tmp = [0u8; 16384];
            let n = self.s.read(&mut tmp).expect("read a reply");
            assert!(n > 0, "the server closed the connection");
            self.buf.extend_from_slice(&tmp[..n]);
        }
    }

    fn req(&mut self, line: &str) -> Resp {
        self.send(line);
        self.read()
    }

    /// True once the server has closed this connection (bounded wait).
    fn closed(&mut self) -> bool {
        let mut tmp = [0u8; 64];
        matches!(self.s.read(&mut tmp), Ok(0) | Err(_))
    }
}

fn sock_path(dir: &Path, name: &str) -> PathBuf {
    dir.join(name)
}

/// `field=value` of a CLIENT LIST / CLIENT INFO line.
fn client_field(line: &str, name: &str) -> String {
    line.split(' ')
        .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
        .unwrap_or_else(|| panic!("no {name} in {line:?}"))
        .to_string()
}

#[test]
fn every_kind_of_command_works_over_the_unix_socket() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let path = sock_path(tmp.path(), "sluice.sock");
    let p = path.to_str().expect("utf-8 path");
    let s = Server::start(&["--unixsocket", p, "--unixsocketperm", "700"]);
    let mode = std::fs::metadata(&path)
        .expect("socket file")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o700, "unixsocketperm 700");

    let mut u = UnixConn::new(&path);
    assert_eq!(u.req("PING").text(), "PONG");
    assert_eq!(u.req("SET k v").text(), "OK");
    assert_eq!(u.req("GET k").bulk(), b"v");
    assert_eq!(u.req("MULTI").text(), "OK");
    assert_eq!(u.req("INCR n").text(), "QUEUED");
    assert_eq!(u.req("EXEC").array()[0].int(), 1);
    assert_eq!(u.req("HELLO 2").field("proto").int(), 2);

    // CLIENT INFO / LIST: Redis's form for a Unix client.
    let info = u.req("CLIENT INFO").text();
    assert_eq!(client_field(&info, "addr"), format!("{p}:0"));
    assert_eq!(client_field(&info, "laddr"), format!("{p}:0"));
    assert_eq!(client_field(&info, "flags"), "U");
    let unix_id = client_field(&info, "id");

    let mut t = s.conn();
    let unix_flags = |t: &mut common::Conn| {
        let list = t.req_str("CLIENT LIST").text();
        let line = list
            .lines()
            .find(|l| client_field(l, "id") == unix_id)
            .expect("the unix client in CLIENT LIST")
            .to_string();
        let tcp = list
            .lines()
            .find(|l| client_field(l, "id") != unix_id)
            .expect("the tcp client")
            .to_string();
        assert_eq!(client_field(&tcp, "flags"), "N");
        client_field(&line, "flags")
    };
    assert_eq!(unix_flags(&mut t), "U");
    assert_eq!(u.req("MULTI").text(), "OK");
    assert_eq!(unix_flags(&mut t), "xU");
    assert_eq!(u.req("DISCARD").text(), "OK");

    // A blocking read on the Unix socket, woken by a write over TCP.
    u.send("XREAD BLOCK 0 STREAMS s $");
    let deadline = Instant::now() + Duration::from_secs(20);
    while t.info_field("clients", "blocked_clients").as_deref() != Some("1") {
        assert!(Instant::now() < deadline, "the unix client never blocked");
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(unix_flags(&mut t), "bU");
    t.req_str("XADD s 1-1 f v");
    let woke = u.read();
    assert_eq!(woke.array()[0].array()[0].bulk(), b"s");

    // What the server reports.
    let got = t.req_str("CONFIG GET unixsocket").array().to_vec();
    assert_eq!(got[1].bulk(), p.as_bytes());
    let got = t.req_str("CONFIG GET unixsocketperm").array().to_vec();
    assert_eq!(got[1].bulk(), b"700");
    assert_eq!(t.info_field("sluice", "unixsocket").as_deref(), Some(p));
    let e = t.req(&[b"CONFIG", b"SET", b"unixsocket", b"/tmp/other.sock"]);
    assert!(
        matches!(&e, Resp::Error(m) if m.contains("can't set immutable config")),
        "{e:?}"
    );

    // MONITOR shows a Unix client as Redis does: `[0 unix:/path]`.
    let mut m = s.conn();
    assert_eq!(m.req_str("MONITOR").text(), "OK");
    assert_eq!(u.req("ECHO hi").bulk(), b"hi");
    let line = parse_resp(&m.read_reply()).0.text();
    assert!(
        line.ends_with(&format!("[0 unix:{p}] \"ECHO\" \"hi\"")),
        "{line}"
    );

    // CLIENT KILL ADDR with the Unix form closes that client.
    let kill = t.req(&[b"CLIENT", b"KILL", b"ADDR", format!("{p}:0").as_bytes()]);
    assert_eq!(kill.int(), 1);
    assert!(u.closed(), "the killed unix client is closed");
}

#[test]
fn a_stale_socket_file_is_replaced_and_the_file_is_removed_at_a_clean_stop() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let path = sock_path(tmp.path(), "stale.sock");
    // A socket file nobody accepts on, as a killed server leaves behind.
    drop(std::os::unix::net::UnixListener::bind(&path).expect("bind"));
    assert!(path.exists());
    let p = path.to_str().expect("utf-8 path");
    let mut s = Server::start(&["--unixsocket", p]);
    assert_eq!(UnixConn::new(&path).req("PING").text(), "PONG");
    assert!(s.stop().success());
    assert!(!path.exists(), "the socket file is removed at a clean stop");
}

/// Runs the binary expecting it to fail at start; returns its stderr.
fn start_fails(args: &[&str], dir: &Path) -> String {
    let out = Command::new(sluice_bin())
        .args(["--bind", "127.0.0.1", "--port"])
        .arg(common::free_port().to_string())
        .arg("--dir")
        .arg(dir)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run sluice");
    assert!(!out.status.success(), "sluice started with {args:?}");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn a_socket_in_use_or_a_path_that_is_not_a_socket_is_refused_with_its_path() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let path = sock_path(tmp.path(), "live.sock");
    let p = path.to_str().expect("utf-8 path");
    let _s = Server::start(&["--unixsocket", p]);
    let err = start_fails(&["--unixsocket", p], &tmp.path().join("d1"));
    assert!(err.contains(&format!("unixsocket {p} is in use")), "{err}");
    // The live server's socket still works.
    assert_eq!(UnixConn::new(&path).req("PING").text(), "PONG");

    let file = tmp.path().join("plain-file");
    std::fs::write(&file, b"keep me").expect("write");
    let f = file.to_str().expect("utf-8 path");
    let err = start_fails(&["--unixsocket", f], &tmp.path().join("d2"));
    assert!(
        err.contains(&format!("unixsocket {f} exists and is not a socket")),
        "{err}"
    );
    assert_eq!(std::fs::read(&file).expect("still there"), b"keep me");

    let missing = tmp.path().join("no-such-dir").join("s.sock");
    let m = missing.to_str().expect("utf-8 path");
    let err = start_fails(&["--unixsocket", m], &tmp.path().join("d3"));
    assert!(err.contains(&format!("can't bind unixsocket {m}")), "{err}");

    let err = start_fails(&["--unixsocketperm", "800"], &tmp.path().join("d4"));
    assert!(err.contains("unixsocketperm"), "{err}");
}

/// Waits (bounded) until the socket at `path` accepts a connection.
fn wait_for_socket(path: &Path, child: &mut std::process::Child) -> UnixConn {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if UnixStream::connect(path).is_ok() {
            return UnixConn::new(path);
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("the server exited: {status}");
        }
        assert!(Instant::now() < deadline, "no socket at {}", path.display());
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn port_0_serves_on_the_unix_socket_alone() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let path = sock_path(tmp.path(), "only.sock");
    let mut child = Command::new(sluice_bin())
        .args(["--port", "0", "--unixsocket"])
        .arg(&path)
        .arg("--dir")
        .arg(tmp.path().join("data"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn sluice");
    let mut u = wait_for_socket(&path, &mut child);
    let info = u.req("INFO server").text();
    assert!(info.contains("\r\ntcp_port:0\r\n"), "{info}");
    u.send("SHUTDOWN");
    assert!(child.wait().expect("wait").success());
    assert!(!path.exists(), "the socket file is removed at SHUTDOWN");

    // Nowhere to listen at all: refused at start, as Redis.
    let out = Command::new(sluice_bin())
        .args(["--port", "0", "--dir"])
        .arg(tmp.path().join("data2"))
        .output()
        .expect("run sluice");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("not listen anywhere"), "{err}");
}

/// The field names of a CLIENT INFO line, and its addr, laddr and flags with the socket path
/// replaced by `P`.
fn client_info_shape(line: &str, path: &str) -> (Vec<String>, Vec<String>) {
    let names = line
        .split(' ')
        .filter_map(|kv| kv.split_once('=').map(|(k, _)| k.to_string()))
        .collect();
    let values = ["addr", "laddr", "flags"]
        .iter()
        .map(|f| client_field(line, f).replace(path, "P"))
        .collect();
    (names, values)
}

#[test]
fn client_info_of_a_unix_client_has_redis_form() {
    let redis = ["/usr/bin/redis-server", "/usr/local/bin/redis-server"]
        .into_iter()
        .find(|p| Path::new(p).exists());
    let Some(redis) = redis else {
        // The form itself is asserted in `every_kind_of_command_works_over_the_unix_socket`.
        eprintln!("redis-server is not installed: CLIENT INFO not compared with Redis");
        return;
    };
    let tmp = tempfile::tempdir().expect("tempdir");
    let rpath = sock_path(tmp.path(), "redis.sock");
    let mut child = Command::new(redis)
        .args([
            "--port",
            "0",
            "--save",
            "",
            "--appendonly",
            "no",
            "--unixsocket",
        ])
        .arg(&rpath)
        .arg("--dir")
        .arg(tmp.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn redis-server");
    let mut r = wait_for_socket(&rpath, &mut child);
    let theirs = r.req("CLIENT INFO").text();
    let _ = child.kill();
    let _ = child.wait();

    let spath = sock_path(tmp.path(), "sluice.sock");
    let _s = Server::start(&["--unixsocket", spath.to_str().expect("utf-8 path")]);
    let ours = UnixConn::new(&spath).req("CLIENT INFO").text();
    assert_eq!(
        client_info_shape(ours.trim_end(), spath.to_str().unwrap_or_default()),
        client_info_shape(theirs.trim_end(), rpath.to_str().unwrap_or_default()),
        "sluice {ours:?} vs redis {theirs:?}"
    );
}

#[test]
fn a_unix_client_is_answered_while_a_script_runs_past_the_busy_threshold() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let path = sock_path(tmp.path(), "busy.sock");
    let p = path.to_str().expect("utf-8 path");
    let s = Server::start(&["--unixsocket", p, "--busy-reply-threshold", "100"]);
    let mut t = s.conn();
    t.send_raw(&encode(&[b"EVAL", b"while true do end", b"0"]));
    // Accepted and answered by the script's busy loop, not after the script (it never ends).
    let mut u = UnixConn::new(&path);
    let busy = u.req("PING");
    assert!(
        matches!(&busy, Resp::Error(m) if m.starts_with("BUSY ")),
        "{busy:?}"
    );
    assert_eq!(u.req("SCRIPT KILL").text(), "OK");
    let killed = parse_resp(&t.read_reply()).0;
    assert!(
        matches!(&killed, Resp::Error(m) if m.contains("Script killed")),
        "{killed:?}"
    );
    assert_eq!(u.req("PING").text(), "PONG");
}
