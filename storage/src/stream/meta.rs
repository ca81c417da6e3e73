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

use std::collections::VecDeque;

use super::group::Groups;
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
    pub groups: Groups,
    /// Group id allocator (persisted with the metadata).
    pub next_gid: u32,
    /// The newest entries (ID and encoded fields), not persisted: readers at the tail — XREAD,
    /// XREADGROUP `>`, the end of XRANGE — are served from memory, without fjall and without
    /// forcing a commit. Invariant: every live entry with an ID ≥ the first cached ID is in
    /// the cache, in order. Bounded by [`TAIL_MAX_ENTRIES`] and [`TAIL_MAX_BYTES`].
    pub tail: VecDeque<(StreamId, bytes::Bytes)>,
    pub tail_bytes: usize,
    /// Nodes (by master ID) whose summary changed since the last commit; may repeat. The
    /// store writes their current state at the commit, so a hot tail node is written once per
    /// commit, not once per XADD.
    pub dirty_nodes: Vec<StreamId>,
    /// The idempotent-producer window (`XADD … IDMP`, XCFGSET), once the stream used one;
    /// persisted under its own records (`store/idmp.rs`), not in the metadata record.
    pub idmp: Option<Box<super::idmp::Idmp>>,
}

/// Most entries the tail cache of one stream holds.
pub const TAIL_MAX_ENTRIES: usize = 512;
/// Most bytes of encoded entries the tail cache of one stream holds.
pub const TAIL_MAX_BYTES: usize = 128 * 1024;

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
            groups: Groups::default(),
            next_gid: 1,
            tail: VecDeque::new(),
            tail_bytes: 0,
            dirty_nodes: Vec::new(),
            idmp: None,
        }
    }

    /// Notes that the summary of node `master` changed (see `dirty_nodes`).
    pub fn node_changed(&mut self, master: StreamId) {
        if self.dirty_nodes.last() != Some(&master) {
            self.dirty_nodes.push(master);
        }
    }

    /// Caches a newly appended entry.
    pub fn tail_push(&mut self, id: StreamId, raw: bytes::Bytes) {
        if raw.len() > TAIL_MAX_BYTES / 4 {
            // Too big to cache: the cache must stay contiguous, so it starts over after it.
            self.tail.clear();
            self.tail_bytes = 0;
            return;
        }
        self.tail_bytes += raw.len();
        self.tail.push_back((id, raw));
        while self.tail.len() > TAIL_MAX_ENTRIES || self.tail_bytes > TAIL_MAX_BYTES {
            if let Some((_, r)) = self.tail.pop_front() {
                self.tail_bytes -= r.len();
            }
        }
    }

    /// Forgets cached entries with IDs ≤ `upto` (they were trimmed).
    pub fn tail_drop_through(&mut self, upto: StreamId) {
        while self.tail.front().is_some_and(|(id, _)| *id <= upto) {
            if let Some((_, r)) = self.tail.pop_front() {
                self.tail_bytes -= r.len();
            }
        }
    }

    /// Forgets one cached entry (XDEL).
    pub fn tail_remove(&mut self, id: StreamId) {
        if let Ok(i) = self.tail.binary_search_by(|(e, _)| e.cmp(&id)) {
            if let Some((_, r)) = self.tail.remove(i) {
                self.tail_bytes -= r.len();
            }
        }
    }

    /// Entries in `from..=to` if the cache can answer alone: ascending from `from`, or
    /// descending from `to` (`rev`), at most `count`. `None` when the disk must be read.
    pub fn tail_range(
        &self,
        from: StreamId,
        to: StreamId,
        rev: bool,
        count: Option<usize>,
    ) -> Option<Vec<(StreamId, bytes::Bytes)>> {
        let first = self.tail.front()?.0;
        let limit = count.unwrap_or(usize::MAX);
        if from > to {
            return Some(Vec::new());
        }
        if !rev {
            if from < first {
                return None;
            }
            let start = self.tail.partition_point(|(id, _)| *id < from);
            return Some(
                self.tail
                    .iter()
                    .skip(start)
                    .take_while(|(id, _)| *id <= to)
                    .take(limit)
                    .cloned()
                    .collect(),
            );
        }
        let end = self.tail.partition_point(|(id, _)| *id <= to);
        let mut out = Vec::new();
        for (id, raw) in self.tail.range(..end).rev() {
            if *id < from || out.len() >= limit {
                return Some(out);
            }
            out.push((*id, raw.clone()));
        }
        // Ran off the front of the cache: complete only if nothing older can match.
        (out.len() >= limit || from >= first).then_some(out)
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
            groups: Groups::default(),
            next_gid: raw
                .get(64..68)
                .and_then(|b| b.try_into().ok())
                .map(u32::from_be_bytes)?,
            tail: VecDeque::new(),
            tail_bytes: 0,
            dirty_nodes: Vec::new(),
            idmp: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(n: u8) -> bytes::Bytes {
        bytes::Bytes::from(vec![n; 3])
    }

    #[test]
    fn tail_cache_answers_only_what_it_fully_holds() {
        let mut m = StreamMeta::new(1);
        for s in 1..=600u64 {
            m.tail_push(StreamId::new(s, 0), raw(s as u8));
        }
        assert_eq!(m.tail.len(), TAIL_MAX_ENTRIES);
        let first = m.tail.front().map(|(id, _)| *id).expect("cached");
        assert_eq!(first, StreamId::new(89, 0));
        // Forward from inside the cache: answered, in order, bounded by COUNT and `to`.
        let r = m
            .tail_range(StreamId::new(100, 0), StreamId::new(105, 0), false, None)
            .expect("hit");
        assert_eq!(
            r.iter().map(|(id, _)| id.ms).collect::<Vec<_>>(),
            vec![100, 101, 102, 103, 104, 105]
        );
        assert_eq!(
            m.tail_range(StreamId::new(100, 0), StreamId::MAX, false, Some(2))
                .expect("hit")
                .len(),
            2
        );
        // Forward from before the cache: the disk must answer.
        assert!(m
            .tail_range(StreamId::new(10, 0), StreamId::MAX, false, Some(1))
            .is_none());
        // Reverse: answered when COUNT is reached inside the cache or `from` is inside it.
        let r = m
            .tail_range(StreamId::MIN, StreamId::MAX, true, Some(1))
            .expect("hit");
        assert_eq!(r[0].0, StreamId::new(600, 0));
        assert!(m
            .tail_range(StreamId::MIN, StreamId::MAX, true, None)
            .is_none());
        assert_eq!(
            m.tail_range(StreamId::new(598, 0), StreamId::MAX, true, None)
                .expect("hit")
                .len(),
            3
        );
        // Deletes and trims keep it contiguous.
        m.tail_remove(StreamId::new(101, 0));
        let r = m
            .tail_range(StreamId::new(100, 0), StreamId::new(102, 0), false, None)
            .expect("hit");
        assert_eq!(
            r.iter().map(|(id, _)| id.ms).collect::<Vec<_>>(),
            vec![100, 102]
        );
        m.tail_drop_through(StreamId::new(300, 0));
        assert!(m
            .tail_range(StreamId::new(200, 0), StreamId::MAX, false, None)
            .is_none());
        assert_eq!(
            m.tail_range(StreamId::new(301, 0), StreamId::MAX, false, None)
                .expect("hit")
                .len(),
            300
        );
        // An entry too big to cache restarts the cache after it.
        m.tail_push(
            StreamId::new(700, 0),
            bytes::Bytes::from(vec![0u8; TAIL_MAX_BYTES]),
        );
        assert!(m.tail.is_empty());
        assert!(m
            .tail_range(StreamId::new(700, 0), StreamId::MAX, false, None)
            .is_none());
    }
}
