//! Property tests of the request parser: round trips of random commands split into random
//! reads, independence from how the input is split, and no panics on arbitrary bytes.

use bytes::{Bytes, BytesMut};
use proptest::prelude::*;
use sluice_resp::{ParseError, ParseLimits, RequestParser};

/// Encodes a command as a RESP multibulk request, the way clients send it.
fn encode(args: &[Vec<u8>]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for arg in args {
        out.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
        out.extend_from_slice(arg);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// What feeding an input produced: the commands, the error if any, and how many bytes of the
/// input were consumed.
#[derive(Debug, PartialEq)]
struct Outcome {
    commands: Vec<Vec<Bytes>>,
    error: Option<ParseError>,
    consumed: usize,
}

/// Feeds `input` to a fresh parser in pieces cut at `cuts` (positions, any order, clamped),
/// parsing after each piece until more bytes are needed. Stops at the first error.
fn feed(input: &[u8], cuts: &[usize], limits: &ParseLimits, authenticated: bool) -> Outcome {
    let mut points: Vec<usize> = cuts.iter().map(|&c| c.min(input.len())).collect();
    points.push(input.len());
    points.sort_unstable();
    let mut parser = RequestParser::new(limits.clone());
    let mut buf = BytesMut::new();
    let mut commands = Vec::new();
    let mut fed = 0;
    let mut consumed = 0;
    for point in points {
        buf.extend_from_slice(&input[fed..point]);
        fed = point;
        loop {
            let before = buf.len();
            let result = parser.parse(&mut buf, authenticated);
            // The parser only ever consumes from the front, and only what it was given.
            assert!(buf.len() <= before);
            consumed += before - buf.len();
            assert_eq!(consumed + buf.len(), fed);
            assert_eq!(
                &buf[..],
                &input[consumed..fed],
                "buffer no longer a suffix of the input"
            );
            match result {
                Ok(Some(cmd)) => {
                    assert!(!cmd.is_empty(), "an empty command was returned");
                    commands.push(cmd);
                }
                Ok(None) => break,
                Err(error) => {
                    assert!(!parser.is_partial());
                    return Outcome {
                        commands,
                        error: Some(error),
                        consumed,
                    };
                }
            }
        }
    }
    Outcome {
        commands,
        error: None,
        consumed,
    }
}

fn arg() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        8 => proptest::collection::vec(any::<u8>(), 0..24),
        2 => proptest::collection::vec(prop_oneof![Just(b'\r'), Just(b'\n'), Just(0u8), Just(b'*'), Just(b'$')], 0..8),
        1 => proptest::collection::vec(any::<u8>(), 0..3000),
    ]
}

fn command() -> impl Strategy<Value = Vec<Vec<u8>>> {
    proptest::collection::vec(arg(), 1..8)
}

/// Bytes that look like protocol: the pieces the parser makes decisions on, plus junk.
fn protocolish() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        Just(b"*".to_vec()),
        Just(b"$".to_vec()),
        Just(b"\r\n".to_vec()),
        Just(b"\r".to_vec()),
        Just(b"\n".to_vec()),
        Just(b"-".to_vec()),
        Just(b"0".to_vec()),
        Just(b"1".to_vec()),
        Just(b"2".to_vec()),
        Just(b"11".to_vec()),
        Just(b" ".to_vec()),
        Just(b"\"".to_vec()),
        Just(b"'".to_vec()),
        Just(b"\\".to_vec()),
        Just(b"\\x4".to_vec()),
        Just(b"a".to_vec()),
        Just(b"\0".to_vec()),
        Just(b"*1\r\n$1\r\nx\r\n".to_vec()),
        Just(b"*0\r\n".to_vec()),
        any::<u8>().prop_map(|b| vec![b]),
    ];
    proptest::collection::vec(piece, 0..64).prop_map(|pieces| pieces.concat())
}

fn small_limits() -> ParseLimits {
    ParseLimits {
        max_bulk_len: 40,
        max_multibulk_len: 12,
        max_inline_len: 16,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Random commands, encoded and concatenated (with empty requests between some of them),
    /// fed in random reads: exactly the original commands come out and the buffer is emptied.
    #[test]
    fn multibulk_round_trip(
        commands in proptest::collection::vec((command(), 0u8..4), 1..12),
        cuts in proptest::collection::vec(any::<usize>(), 0..40),
    ) {
        let mut input = Vec::new();
        for (args, filler) in &commands {
            match filler {
                1 => input.extend_from_slice(b"*0\r\n"),
                2 => input.extend_from_slice(b"*-1\r\n\r\n  \n"),
                _ => {}
            }
            input.extend_from_slice(&encode(args));
        }
        let cuts: Vec<usize> = cuts.iter().map(|c| c % (input.len() + 1)).collect();
        let outcome = feed(&input, &cuts, &ParseLimits::default(), true);
        let expected: Vec<Vec<Bytes>> = commands
            .iter()
            .map(|(args, _)| args.iter().map(|a| Bytes::copy_from_slice(a)).collect())
            .collect();
        prop_assert_eq!(outcome.error, None);
        prop_assert_eq!(outcome.commands, expected);
        prop_assert_eq!(outcome.consumed, input.len());
    }

    /// Unauthenticated clients get the same round trip within Redis's unauthenticated limits.
    #[test]
    fn unauthenticated_round_trip(
        commands in proptest::collection::vec(
            proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..64), 1..=10), 1..6),
        cuts in proptest::collection::vec(any::<usize>(), 0..20),
    ) {
        let input: Vec<u8> = commands.iter().flat_map(|c| encode(c)).collect();
        let cuts: Vec<usize> = cuts.iter().map(|c| c % (input.len() + 1)).collect();
        let outcome = feed(&input, &cuts, &ParseLimits::default(), false);
        prop_assert_eq!(outcome.error, None);
        prop_assert_eq!(outcome.commands.len(), commands.len());
        prop_assert_eq!(outcome.consumed, input.len());
    }

    /// Arbitrary bytes in random reads never panic; each call returns a command, asks for more,
    /// or fails (checked inside `feed`), with the default limits and with tiny ones.
    #[test]
    fn arbitrary_bytes_never_panic(
        input in proptest::collection::vec(any::<u8>(), 0..2048),
        cuts in proptest::collection::vec(any::<usize>(), 0..32),
        authenticated in any::<bool>(),
    ) {
        feed(&input, &cuts, &ParseLimits::default(), authenticated);
        feed(&input, &cuts, &small_limits(), authenticated);
    }

    /// The outcome depends only on the bytes, not on how they were split into reads: every
    /// decision (a line end found, a line too long, a body complete) is made on a prefix that
    /// is already there.
    #[test]
    fn outcome_does_not_depend_on_reads(
        input in protocolish(),
        cuts in proptest::collection::vec(any::<usize>(), 0..32),
        authenticated in any::<bool>(),
        tiny in any::<bool>(),
    ) {
        let limits = if tiny { small_limits() } else { ParseLimits::default() };
        let whole = feed(&input, &[], &limits, authenticated);
        let split = feed(&input, &cuts, &limits, authenticated);
        prop_assert_eq!(&split, &whole);
        let one_by_one: Vec<usize> = (0..input.len()).collect();
        let bytewise = feed(&input, &one_by_one, &limits, authenticated);
        prop_assert_eq!(&bytewise, &whole);
    }
}
