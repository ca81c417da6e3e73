//! Fuzzes `RequestParser::parse`: the input after its first byte is fed in two reads, split at
//! a position taken from the first byte (which also picks the limits and whether the client is
//! authenticated). Checks that nothing panics, that consumption is consistent (the parser only
//! takes bytes from the front of the buffer, never more than it was given, and never returns an
//! empty command), and that the outcome is the same as feeding everything in one read.

#![no_main]

use bytes::{Bytes, BytesMut};
use libfuzzer_sys::fuzz_target;
use sluice_resp::{ParseError, ParseLimits, RequestParser};

#[derive(Debug, PartialEq)]
struct Outcome {
    commands: Vec<Vec<Bytes>>,
    error: Option<ParseError>,
    consumed: usize,
}

fn feed(input: &[u8], split: usize, limits: &ParseLimits, authenticated: bool) -> Outcome {
    let mut parser = RequestParser::new(limits.clone());
    let mut buf = BytesMut::new();
    let mut commands = Vec::new();
    let mut consumed = 0;
    let mut fed = 0;
    for end in [split.min(input.len()), input.len()] {
        buf.extend_from_slice(&input[fed..end]);
        fed = end;
        loop {
            let before = buf.len();
            let result = parser.parse(&mut buf, authenticated);
            assert!(buf.len() <= before, "the parser grew the buffer");
            consumed += before - buf.len();
            assert_eq!(
                &buf[..],
                &input[consumed..fed],
                "buffer is not the unconsumed input"
            );
            match result {
                Ok(Some(command)) => {
                    assert!(!command.is_empty(), "empty command returned");
                    if let Some(needed) = parser.bytes_needed() {
                        assert!(needed <= limits.max_bulk_len.saturating_add(2));
                    }
                    commands.push(command);
                }
                Ok(None) => break,
                Err(error) => {
                    assert!(error.reply_text().starts_with("ERR Protocol error: "));
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

fuzz_target!(|data: &[u8]| {
    let Some((&selector, input)) = data.split_first() else {
        return;
    };
    let split = usize::from(selector) * input.len() / 255;
    let authenticated = selector & 1 == 0;
    let limits = if selector & 2 == 0 {
        ParseLimits::default()
    } else {
        ParseLimits {
            max_bulk_len: 64,
            max_multibulk_len: 16,
            max_inline_len: 32,
        }
    };
    let split_outcome = feed(input, split, &limits, authenticated);
    let whole_outcome = feed(input, input.len(), &limits, authenticated);
    assert_eq!(
        split_outcome, whole_outcome,
        "outcome depends on how the input was split"
    );
});
