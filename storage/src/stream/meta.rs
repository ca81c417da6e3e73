//! A stream's metadata: everything about a stream except its entries and consumer groups.
//!
//! It lives in memory (in the key directory) and on disk in the key's record in the `keys`
//! keyspace, rewritten once per commit when it changed. The node layout is persisted separately,
//! one record per node (see `Store`).
//!
//! Invariants: `layout.len()` is the number of live entries on disk under `sid`; `first_id` is
//! the smallest of them (0-0 when there is none); every entry ID is ≤ `last_id`;
//! `max_deleted` and `entries_added` follow Redis 7.0's rules (XDEL raises `max_deleted`,
//! trimming does not; XSETID may set both).

use std::collections::BTreeMap;

use bytes::Bytes;

use super::group::Group;
use super::layout::NodeLayout;
use super::StreamId;

#[derive(Clone, Debug)]
pub struct StreamMeta {
    /// Incarnation id: entries live under this prefix; never reused, so DEL is O(1).
    pub sid: u64,
    pub last_id: StreamId,
    pub first_id: StreamId,
    pub max_deleted: StreamId,
    pub entries_added: u64,
    pub layout: NodeLayout,
    /// Consumer groups by name (Redis lists them in byte order).
    pub groups: BTreeMap<Bytes, Group>,
    /// Group id allocator (persisted with the metadata).
    pub next_gid: u32,
}

/// Bytes of [`StreamMeta::encode`].
pub const META_LEN: usize = 8 + 16 * 3 + 8 + 4;

impl StreamMeta {
    pub fn new(sid: u64) -> Self {
        StreamMeta {
            sid,
            last_id: StreamId::MIN,
            first_id: StreamId::MIN,
            max_deleted: StreamId::MIN,
            entries_added: 0,
            layout: NodeLayout::new(),
            groups: BTreeMap::new(),
            next_gid: 1,
        }
    }

    /// XLEN.
    pub fn len(&self) -> u64 {
        self.layout.len()
    }

    pub fn is_empty(&self) -> bool {
        self.layout.is_empty()
    }

    pub fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.sid.to_be_bytes());
        out.extend_from_slice(&self.last_id.to_be_bytes());
        out.extend_from_slice(&self.first_id.to_be_bytes());
        out.extend_from_slice(&self.max_deleted.to_be_bytes());
        out.extend_from_slice(&self.entries_added.to_be_bytes());
        out.extend_from_slice(&self.next_gid.to_be_bytes());
    }

    /// Decodes [`StreamMeta::encode`] (the layout is loaded separately).
    pub fn decode(raw: &[u8]) -> Option<Self> {
        if raw.len() != META_LEN {
            return None;
        }
        let u64_at = |i: usize| {
            raw.get(i..i + 8)
                .and_then(|b| b.try_into().ok())
                .map(u64::from_be_bytes)
        };
        let id_at = |i: usize| raw.get(i..i + 16).and_then(StreamId::from_be_bytes);
        Some(StreamMeta {
            sid: u64_at(0)?,
            last_id: id_at(8)?,
            first_id: id_at(24)?,
            max_deleted: id_at(40)?,
            entries_added: u64_at(56)?,
            layout: NodeLayout::new(),
            groups: BTreeMap::new(),
            next_gid: raw
                .get(64..68)
                .and_then(|b| b.try_into().ok())
                .map(u32::from_be_bytes)?,
        })
    }
}
