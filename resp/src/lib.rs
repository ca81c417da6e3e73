//! The Redis wire protocol as Sluice speaks it.
//!
//! * [`parse`] owns the request side: an incremental, bounded parser for RESP multibulk requests
//!   and inline commands. Every length that comes from the network is checked against an explicit
//!   [`ParseLimits`] before anything is allocated, and a partial request is never re-scanned from
//!   its start, so the work per request is linear in its size however it is split across reads.
//! * [`encode`] owns the reply side: a [`ReplyWriter`] that writes RESP2 or RESP3 frames straight
//!   into a `BytesMut`, applying the downgrades Redis applies for RESP2 clients.
//!
//! Neither side allocates a frame tree: requests come out as a `Vec<Bytes>` of arguments sliced
//! from the read buffer without copying, and replies are written as they are produced.

pub mod encode;
pub mod parse;

pub use encode::{Protocol, ReplyWriter};
pub use parse::{ParseError, ParseLimits, RequestParser};
