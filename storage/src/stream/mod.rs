//! Streams: IDs, the on-disk entry and run encodings, stream metadata, and the emulation of
//! Redis's node layout (which decides approximate trimming and XINFO's radix-tree figures).

pub mod entry;
pub mod group;
pub mod id;
pub mod idmp;
pub mod layout;
pub mod meta;
pub mod queue;
pub mod rax;
pub mod run;

pub use id::StreamId;
pub use meta::StreamMeta;
