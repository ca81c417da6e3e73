//! Hostile and careless clients: protocol errors, huge lengths, nested arrays, clients that
//! vanish mid-command, floods of idle connections and of pipelined commands. Each must get a
//! Redis-style error or a close, and the server must go on serving everyone else.

mod common;

use common::{encode, Conn, Server};

fn assert_alive(s: &Server) {
    assert_eq!(s.conn().cmd("PING"), b"+PONG\r\n");
}

#[test]
fn protocol_errors_reply_then_close() {
    let s = Server::start(&[]);
    let cases: &[(&[u8], &[u8])] = &[
        (
            b"*1\r\n*1\r\n",
            b"-ERR Protocol error: expected '$', got '*'\r\n",
        ),
        (
            b"*abc\r\n",
            b"-ERR Protocol error: invalid multibulk length\r\n",
        ),
        (
            b"*1\r\n$999999999999\r\n",
            b"-ERR Protocol error: invalid bulk length\r\n",
        ),
        (
            b"*3000000000\r\n",
            b"-ERR Protocol error: invalid multibulk length\r\n",
        ),
        (
            b"SET \"a b\r\n",
            b"-ERR Protocol error: unbalanced quotes in request\r\n",
        ),
    ];
    for (input, reply) in cases {
        let mut c = s.conn();
        // A valid command first: its reply must arrive before the error.
        let mut bytes = b"PING\r\n".to_vec();
        bytes.extend_from_slice(input);
        c.send_raw(&bytes);
        assert_eq!(c.read_reply(), b"+PONG\r\n");
        assert_eq!(
            c.read_reply(),
            *reply,
            "input {:?}",
            String::from_utf8_lossy(input)
        );
        assert!(
            c.is_closed(),
            "connection must be closed after a protocol error"
        );
    }
    assert_alive(&s);
}

#[test]
fn garbage_bytes_never_crash_the_server() {
    let s = Server::start(&[]);
    let mut seed = 0x1234_5678_u64;
    for _ in 0..200 {
        let mut c = s.conn();
        let mut junk = Vec::new();
        for _ in 0..256 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            junk.push(b"*$\r\n01-9aZ \"'\\\x00\xff"[(seed % 16) as usize]);
        }
        junk.extend_from_slice(b"\r\n");
        c.send_raw(&junk);
        drop(c);
    }
    assert_alive(&s);
}

#[test]
fn clients_that_disconnect_mid_command_lose_nothing_for_others() {
    let s = Server::start(&[]);
    let mut other = s.conn();
    assert_eq!(other.cmd("SET k v"), b"+OK\r\n");
    for partial in [
        &b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$10\r\nabc"[..],
        b"*2\r\n$4\r\nPI",
        b"SET k half",
    ] {
        let mut c = s.conn();
        c.send_raw(partial);
        drop(c);
    }
    assert_eq!(other.cmd("GET k"), b"$1\r\nv\r\n");
}

#[test]
fn a_burst_of_100k_pipelined_commands_is_answered_in_order() {
    let s = Server::start(&[]);
    let mut c = s.conn();
    let mut burst = Vec::new();
    for i in 0..100_000u32 {
        if i % 10_000 == 0 {
            burst.extend_from_slice(&encode(&[b"ECHO", format!("mark{i}").as_bytes()]));
        }
        burst.extend_from_slice(&encode(&[b"INCR", b"counter"]));
    }
    let writer = {
        let mut w = c.s.try_clone().expect("clone");
        std::thread::spawn(move || std::io::Write::write_all(&mut w, &burst).expect("write burst"))
    };
    let mut n = 0i64;
    for i in 0..100_000i64 {
        if i % 10_000 == 0 {
            assert_eq!(
                c.read_reply(),
                format!("${}\r\nmark{i}\r\n", 4 + i.to_string().len()).into_bytes()
            );
        }
        n += 1;
        assert_eq!(c.read_reply(), format!(":{n}\r\n").into_bytes());
    }
    writer.join().expect("writer");
    assert_eq!(c.cmd("GET counter"), b"$6\r\n100000\r\n");
}

#[test]
fn maxclients_rejects_with_the_redis_error() {
    let s = Server::start(&["--maxclients", "3"]);
    // The readiness probe's connection may not be reaped yet: retry until three are admitted.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let mut held: Vec<Conn> = Vec::new();
    while held.len() < 3 {
        let mut c = s.conn();
        if c.cmd("PING") == b"+PONG\r\n" {
            held.push(c);
        }
        assert!(
            std::time::Instant::now() < deadline,
            "could not hold three clients"
        );
    }
    let mut extra = s.conn();
    assert_eq!(
        extra.read_reply(),
        b"-ERR max number of clients reached\r\n"
    );
    assert!(extra.is_closed());
    held.pop();
    // The slot frees once the server notices the close; wait for that event, not a timer.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let mut c = s.conn();
        if c.cmd("PING") == b"+PONG\r\n" {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "slot never freed");
    }
}

#[test]
fn the_query_buffer_limit_closes_the_client() {
    let s = Server::start(&[]);
    let mut admin = s.conn();
    assert_eq!(
        admin.cmd("CONFIG SET client-query-buffer-limit 1mb"),
        b"+OK\r\n"
    );
    let mut c = s.conn();
    // Many arguments, never finished: the parser holds them, so they count against the limit.
    let mut big = b"*100000\r\n".to_vec();
    for _ in 0..40_000 {
        big.extend_from_slice(b"$40\r\n0123456789012345678901234567890123456789\r\n");
    }
    let _ = std::io::Write::write_all(&mut c.s, &big);
    assert!(
        c.is_closed(),
        "a client over client-query-buffer-limit must be closed"
    );
    assert_alive(&s);
}

#[test]
fn ten_thousand_idle_connections_do_not_stop_service() {
    let s = Server::start(&["--maxclients", "10100"]);
    // The fd limit of this process bounds how many we can open; ask for what Redis's test does.
    let want = 10_000usize;
    let mut conns = Vec::with_capacity(want);
    for _ in 0..want {
        match std::net::TcpStream::connect(("127.0.0.1", s.port)) {
            Ok(c) => conns.push(c),
            Err(e) => panic!("could only open {} connections: {e}", conns.len()),
        }
    }
    assert_alive(&s);
    let mut c = s.conn();
    assert_eq!(c.cmd("SET after idle"), b"+OK\r\n");
    drop(conns);
    assert_alive(&s);
}
