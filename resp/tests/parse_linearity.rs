//! The parser's work is linear in the bytes fed, however they are split into reads.
//!
//! Work is counted, not timed: [`RequestParser::bytes_examined`] counts every byte the parser
//! looks at (line searches and inline splitting; argument bodies are never looked at). A parser
//! that re-scanned a partial request from its start on every read would examine O(n²) bytes
//! here: a 200,000-argument command of ~3 MB fed in 16 KiB reads is ~190 reads, so re-scanning
//! would cost ~280 MB of examined bytes against the ~3 MB allowed below.

use bytes::BytesMut;
use sluice_resp::{ParseLimits, RequestParser};

/// Feeds `input` in `piece`-byte reads; returns the commands' argument counts, the bytes
/// examined and the number of parse calls.
fn feed_in_pieces(input: &[u8], piece: usize) -> (Vec<usize>, u64, u64) {
    let mut parser = RequestParser::new(ParseLimits::default());
    let mut buf = BytesMut::new();
    let mut commands = Vec::new();
    let mut calls = 0u64;
    for chunk in input.chunks(piece) {
        if let Some(needed) = parser.bytes_needed() {
            buf.reserve(needed.saturating_sub(buf.len()));
        }
        buf.extend_from_slice(chunk);
        loop {
            calls += 1;
            match parser.parse(&mut buf, true).expect("valid input") {
                Some(cmd) => commands.push(cmd.len()),
                None => break,
            }
        }
    }
    assert!(buf.is_empty());
    assert!(!parser.is_partial());
    (commands, parser.bytes_examined(), calls)
}

/// `*n` then arguments of lengths 0..=19 cycling, so headers and bodies vary.
fn big_multibulk(n: usize) -> (Vec<u8>, usize) {
    let mut input = format!("*{n}\r\n").into_bytes();
    let mut header_bytes = input.len();
    for i in 0..n {
        let len = i % 20;
        let header = format!("${len}\r\n");
        header_bytes += header.len();
        input.extend_from_slice(header.as_bytes());
        input.extend(std::iter::repeat_n(b'a' + (i % 26) as u8, len));
        input.extend_from_slice(b"\r\n");
    }
    (input, header_bytes)
}

#[test]
fn two_hundred_thousand_arguments_in_16k_reads_is_linear() {
    let n = 200_000;
    let (input, header_bytes) = big_multibulk(n);
    let (commands, examined, calls) = feed_in_pieces(&input, 16 * 1024);
    assert_eq!(commands, vec![n]);
    // Each header byte is searched once; a call may re-examine one '\r' whose following byte had
    // not arrived yet. Bodies are never examined.
    assert!(
        examined <= header_bytes as u64 + calls,
        "examined {examined} bytes for {header_bytes} header bytes in {calls} calls"
    );
    assert!(examined <= input.len() as u64);
}

#[test]
fn byte_at_a_time_is_linear() {
    let n = 20_000;
    let (input, header_bytes) = big_multibulk(n);
    let (commands, examined, calls) = feed_in_pieces(&input, 1);
    assert_eq!(commands, vec![n]);
    assert!(examined <= header_bytes as u64 + calls);
    assert!(examined <= 2 * input.len() as u64);
}

#[test]
fn pipelined_commands_split_oddly_are_linear() {
    let mut input = Vec::new();
    for i in 0..50_000 {
        input.extend_from_slice(format!("*2\r\n$3\r\nGET\r\n$5\r\nk{i:04}\r\n").as_bytes());
        if i % 3 == 0 {
            input.extend_from_slice(format!("SET k{i} \"v a l\"\r\n").as_bytes());
        }
    }
    for piece in [1, 7, 4096, 16 * 1024 + 3] {
        let (commands, examined, calls) = feed_in_pieces(&input, piece);
        assert_eq!(commands.len(), 50_000 + 50_000_usize.div_ceil(3));
        // Inline lines are searched once and split once: at most twice each byte, plus calls.
        assert!(
            examined <= 2 * input.len() as u64 + calls,
            "piece {piece}: {examined}"
        );
    }
}

#[test]
fn waiting_for_a_large_bulk_examines_nothing() {
    let len = 8 * 1024 * 1024;
    let mut input = format!("*2\r\n$3\r\nSET\r\n${len}\r\n").into_bytes();
    let header_bytes = input.len();
    input.extend(std::iter::repeat_n(b'x', len));
    input.extend_from_slice(b"\r\n");
    let (commands, examined, _) = feed_in_pieces(&input, 1024);
    assert_eq!(commands, vec![2]);
    assert!(examined <= header_bytes as u64, "examined {examined}");
}

#[test]
fn long_inline_line_byte_at_a_time_is_linear() {
    let mut input = b"SET key ".to_vec();
    input.extend(std::iter::repeat_n(b'v', 60 * 1024));
    input.extend_from_slice(b"\r\n");
    let (commands, examined, _) = feed_in_pieces(&input, 1);
    assert_eq!(commands, vec![3]);
    assert!(examined <= 2 * input.len() as u64, "examined {examined}");
}
