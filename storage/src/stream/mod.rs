//! Streams: IDs, the emulation of Redis's node layout, and the stream store.

pub mod id;

pub use id::StreamId;
