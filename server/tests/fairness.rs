//! Output fairness and limits: a client pipelining huge replies gets them built a part at a
//! time (at most `REPLY_BYTES_PER_TURN` plus one reply ahead of what it has read), other
//! clients are answered meanwhile, and `client-output-buffer-limit normal` closes a client
//! over its hard limit, or over its soft limit for longer than the soft seconds, as Redis does.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::{frame_len, Conn, Server};

/// Entries of `VALUE` bytes in stream `big`: an `XRANGE big - +` reply is ~ENTRIES × VALUE.
const ENTRIES: usize = 5_000;
const VALUE: usize = 200;

fn fill_big(c: &mut Conn) {
    let value = vec![b'v'; VALUE];
    for chunk in 0..ENTRIES / 500 {
        let cmds: Vec<Vec<Vec<u8>>> = (0..500)
            .map(|i| {
                let id = format!("{}-1", chunk * 500 + i + 1);
                vec![
                    b"XADD".to_vec(),
                    b"big".to_vec(),
                    id.into_bytes(),
                    b"f".to_vec(),
                    value.clone(),
                ]
            })
            .collect();
        for r in c.pipeline(&cmds) {
            assert!(matches!(r, common::Resp::Bulk(_)), "XADD: {r:?}");
        }
    }
}

/// A server holding the `big` stream, with `client-output-buffer-limit` set to `limit`.
fn big_stream_with_output_limit(limit: &str) -> (Server, Conn) {
    let s = Server::start(&[]);
    let mut c = s.conn();
    fill_big(&mut c);
    assert_eq!(
        c.cmd_args(&[
            b"CONFIG",
            b"SET",
            b"client-output-buffer-limit",
            limit.as_bytes()
        ]),
        b"+OK\r\n"
    );
    (s, c)
}

/// The peak RSS of the process so far (VmHWM).
fn peak_rss_bytes(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
        .expect("VmHWM");
    kb * 1024
}

fn connected_clients(c: &mut Conn) -> u64 {
    c.info_field("clients", "connected_clients")
        .and_then(|v| v.parse().ok())
        .expect("connected_clients")
}

/// Sends `n` copies of `XRANGE big - +` on a new connection without reading anything.
fn pipeline_xranges(port: u16, n: usize) -> TcpStream {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    let one = common::encode(&[b"XRANGE", b"big", b"-", b"+"]);
    let all: Vec<u8> = (0..n).flat_map(|_| one.iter().copied()).collect();
    s.write_all(&all).expect("send pipeline");
    s
}

#[test]
fn a_pipeline_of_huge_replies_is_built_a_part_at_a_time() {
    let s = Server::start(&[]);
    let mut c = s.conn();
    fill_big(&mut c);
    let pid = s.pid().expect("pid");
    // One reply built and read first: the block cache and the allocator are warm.
    assert_eq!(c.req_str("XRANGE big - +").array().len(), ENTRIES);
    let before = peak_rss_bytes(pid);

    // 200 replies of ~1.1 MB: 220 MB if they were built at once.
    const N: usize = 200;
    let mut greedy = pipeline_xranges(s.port, N);

    // The others are served while the greedy client reads nothing.
    let mut other = s.conn();
    for _ in 0..20 {
        assert_eq!(other.cmd("PING"), b"+PONG\r\n");
        assert_eq!(
            other.cmd("XLEN big"),
            format!(":{ENTRIES}\r\n").into_bytes()
        );
    }
    let during = peak_rss_bytes(pid);
    println!(
        "peak RSS {} MiB before, {} MiB with 200 MB of replies unread",
        before >> 20,
        during >> 20
    );
    assert!(
        during.saturating_sub(before) < 32 << 20,
        "peak RSS grew by {} MiB while a client had 200 MB of replies unread",
        (during.saturating_sub(before)) >> 20
    );

    // Then it reads them all, whole and in order.
    greedy.set_read_timeout(Some(Duration::from_secs(30))).ok();
    let mut buf = Vec::new();
    let mut tmp = vec![0u8; 1 << 20];
    let mut replies = 0;
    let mut first: Option<Vec<u8>> = None;
    while replies < N {
        if let Some(n) = frame_len(&buf) {
            let reply: Vec<u8> = buf.drain(..n).collect();
            match &first {
                None => first = Some(reply),
                Some(f) => assert!(f == &reply, "reply {replies} differs from the first"),
            }
            replies += 1;
            continue;
        }
        let n = greedy.read(&mut tmp).expect("read replies");
        assert!(n > 0, "closed after {replies} replies");
        buf.extend_from_slice(&tmp[..n]);
    }
    let first = first.expect("a reply");
    assert!(
        first.len() > ENTRIES * VALUE,
        "reply of {} bytes",
        first.len()
    );
    assert!(first.starts_with(format!("*{ENTRIES}\r\n").as_bytes()));
    assert_eq!(other.cmd("PING"), b"+PONG\r\n");
}

#[test]
fn a_reply_over_the_hard_output_limit_closes_the_client() {
    let (s, mut c) = big_stream_with_output_limit("normal 512kb 0 0");
    let mut greedy = pipeline_xranges(s.port, 1);
    greedy.set_read_timeout(Some(Duration::from_secs(20))).ok();
    let mut got = Vec::new();
    let n = greedy.read_to_end(&mut got).expect("read to close");
    assert_eq!(n, 0, "nothing of an over-limit reply is sent");
    // Small replies are not affected.
    assert_eq!(c.req_str("XRANGE big - + COUNT 10").array().len(), 10);
}

#[test]
fn a_client_over_the_soft_limit_for_its_seconds_is_closed() {
    let (s, mut c) = big_stream_with_output_limit("normal 0 256kb 1");
    assert_eq!(connected_clients(&mut c), 1);
    // 100 replies of 1.1 MB never read: socket buffers fill, the write of a part over the
    // soft limit waits longer than a second, and the server closes the client.
    let _greedy = pipeline_xranges(s.port, 100);
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut seen_two = false;
    loop {
        let n = connected_clients(&mut c);
        seen_two |= n == 2;
        if seen_two && n == 1 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the client over the soft limit was not closed"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn each_xadd_wakes_the_first_blocked_group_reader_only() {
    // Many clients blocked in XREADGROUP on one stream: each XADD serves the longest-waiting
    // one, exactly once; the others stay blocked (the engine checks the group's position
    // before re-running a blocked command).
    const READERS: usize = 300;
    let s = Server::start(&[]);
    let mut c = s.conn();
    assert_eq!(c.cmd("XGROUP CREATE q g $ MKSTREAM"), b"+OK\r\n");
    let mut readers: Vec<Conn> = (0..READERS)
        .map(|i| {
            let mut r = s.conn();
            r.send_raw(&common::encode(&[
                b"XREADGROUP",
                b"GROUP",
                b"g",
                format!("c{i}").as_bytes(),
                b"BLOCK",
                b"0",
                b"STREAMS",
                b"q",
                b">",
            ]));
            // Block in order: the next reader starts once this one is parked.
            let deadline = Instant::now() + Duration::from_secs(30);
            while c.info_field("clients", "blocked_clients").as_deref()
                != Some((i + 1).to_string().as_str())
            {
                assert!(Instant::now() < deadline, "reader {i} did not block");
            }
            r
        })
        .collect();
    for i in 0..READERS {
        let id = format!("{}-1", i + 1);
        assert_eq!(
            c.cmd(&format!("XADD q {id} n {i}")),
            format!("${}\r\n{id}\r\n", id.len()).into_bytes()
        );
    }
    assert_eq!(
        c.info_field("clients", "blocked_clients").as_deref(),
        Some("0")
    );
    for (i, r) in readers.iter_mut().enumerate() {
        let got = r.read_reply();
        let id = format!("{}-1", i + 1);
        let want = format!(
            "*1\r\n*2\r\n$1\r\nq\r\n*1\r\n*2\r\n${}\r\n{id}\r\n*2\r\n$1\r\nn\r\n${}\r\n{i}\r\n",
            id.len(),
            i.to_string().len()
        );
        assert_eq!(
            String::from_utf8_lossy(&got),
            want,
            "reader {i} gets entry {id}"
        );
    }
    assert_eq!(c.req_str("XPENDING q g").array()[0].int(), READERS as i64);
}

#[test]
fn a_client_that_half_closes_after_a_pipeline_of_huge_replies_gets_them_all_then_the_close() {
    // The end of its input arrives while its replies are held back by the reply budget: the
    // server must still answer every command it sent, then close (as Redis does).
    let (s, _c) = big_stream_with_output_limit("normal 0 0 0");
    const N: usize = 6;
    let mut greedy = TcpStream::connect(("127.0.0.1", s.port)).expect("connect");
    let mut all = Vec::new();
    for _ in 0..N {
        all.extend_from_slice(&common::encode(&[b"XRANGE", b"big", b"-", b"+"]));
    }
    all.extend_from_slice(&common::encode(&[b"PING"]));
    greedy.write_all(&all).expect("send pipeline");
    greedy
        .shutdown(std::net::Shutdown::Write)
        .expect("half-close");
    greedy.set_read_timeout(Some(Duration::from_secs(30))).ok();
    let mut got = Vec::new();
    greedy
        .read_to_end(&mut got)
        .expect("every reply, then the close");
    let mut replies = 0;
    let mut rest = &got[..];
    while let Some(n) = frame_len(rest) {
        replies += 1;
        rest = &rest[n..];
    }
    assert!(rest.is_empty(), "a partial reply at the end");
    assert_eq!(replies, N + 1, "replies before the close");
    assert!(got.ends_with(b"+PONG\r\n"));
}

/// CPU time (user + system) the process has used so far.
fn cpu_time(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("proc stat");
    // Fields after the command name (which is in parentheses and may hold spaces).
    let after = &stat[stat.rfind(')').expect("comm") + 2..];
    let f: Vec<&str> = after.split(' ').collect();
    let ticks: u64 = f[11].parse::<u64>().expect("utime") + f[12].parse::<u64>().expect("stime");
    // SAFETY: sysconf only reads a constant.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as u64;
    Duration::from_millis(ticks * 1000 / hz.max(1))
}

#[test]
fn a_client_that_stops_reading_costs_no_cpu() {
    // More commands than a client may have waiting, with replies it does not read: its
    // commands stop at the reply budget and its socket is not read; nothing spins meanwhile.
    let s = Server::start(&[]);
    let mut c = s.conn();
    fill_big(&mut c);
    let pid = s.pid().expect("pid");
    let _greedy = pipeline_xranges(s.port, 1_500);
    // Wait until it is stuck: its output stays at the budget and the others are answered.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let list = c.req_str("CLIENT LIST").bulk().to_vec();
        let stuck = String::from_utf8_lossy(&list).lines().any(|l| {
            l.split(' ').any(|f| {
                f.strip_prefix("obl=")
                    .and_then(|v| v.parse::<u64>().ok())
                    .is_some_and(|v| v > 0)
            })
        });
        if stuck {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the greedy client never had replies waiting"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let before = cpu_time(pid);
    std::thread::sleep(Duration::from_secs(1));
    let used = cpu_time(pid) - before;
    assert!(
        used < Duration::from_millis(300),
        "the server used {used:?} of CPU in 1 s while one client read nothing"
    );
    assert_eq!(c.cmd("PING"), b"+PONG\r\n");
}
