//! Streams: IDs, the emulation of Redis's node layout, and the stream store.

pub mod id;
pub mod layout;
pub mod rax;

pub use id::StreamId;
