//! Emulation of Redis 7.0's stream node structure, so that Sluice reports the same `XLEN`
//! after approximate trims and the same `XINFO STREAM` `radix-tree-keys` / `radix-tree-nodes`.
//!
//! Redis stores a stream as a radix tree ([`super::rax`]) of listpacks ("nodes"): each node is
//! keyed by its master ID (the ID of its first entry), starts with a master entry (live count,
//! deleted count, the field names of its first entry) and then holds entries, delta-encoded
//! against the master ID, with their field names omitted when they equal the master fields.
//! Deleted entries stay in the listpack with a flag. Approximate trimming (`~`) only drops whole
//! nodes, so the length it leaves depends on where node boundaries fall, and those depend on
//! the exact listpack byte size of each node. Sluice keeps the entries in fjall; this module
//! keeps only a [`NodeSummary`] per node, enough to decide every boundary exactly as Redis does.
//!
//! # Redis rules reproduced (all from Redis 7.0.15 sources)
//!
//! * Appending (`streamAppendItem`, `t_stream.c`): the tail node takes the entry unless
//!   `lp_bytes + totelelen >= max_bytes` (`lp_bytes` = the tail listpack's current total size,
//!   counters included; `totelelen` = the raw byte length of all fields and values of the new
//!   entry; `max_bytes` = `stream-node-max-bytes`, with 0 or more than 1 GiB meaning 1 GiB), or
//!   else `max_entries != 0 && live + deleted >= max_entries`. Otherwise a new node is made, keyed
//!   by the new ID, whose master fields are the entry's field names. An entry whose field names
//!   equal the master fields (same count, same bytes) is stored with the `SAMEFIELDS` flag and
//!   without names.
//! * Listpack sizes (`listpack.c`): 6 header bytes + elements + 1 end byte. An element that
//!   `lpStringToInt64` accepts (canonical decimal int64: no `+`, no leading zero, no `-0`, at
//!   most 20 bytes) is stored as an integer of 1/2/3/4/5/9 bytes for the ranges 0..=127,
//!   ±4096, ±32768, ±2^23, ±2^31, else; a string takes a 1/2/5-byte header for lengths <64,
//!   <4096, else. Each element is followed by its back-length, 1..5 bytes (`lpEncodeBacklen`:
//!   ≤127, <16383, <2097151, <268435455, else). Entry layout: flags, ms delta, seq delta
//!   (`id - master`, wrapped to int64), [field count, fields], values, lp-count. Master entry:
//!   live count, deleted count, field count, field names, 0.
//! * Deleting (`streamIteratorRemoveEntry`): the entry is flagged (same size), the live count
//!   drops, the deleted count grows — unless it was the node's last live entry, in which case
//!   the whole node is freed and its key removed from the rax, even if it held deleted entries.
//! * Trimming (`streamTrim`): nodes are visited from the head. MAXLEN stops as soon as
//!   `length <= maxlen`. If `limit != 0 && removed + node_live > limit` it stops. A node is
//!   dropped whole if `length - node_live >= maxlen` (MAXLEN) or if the ID of the last entry
//!   in the listpack — live or deleted — is `< minid` (MINID). A node with no live entries at
//!   all counts as removable like any other. Approximate trimming stops at the first node it
//!   cannot drop. Exact trimming then flags entries of that node from its start: for MAXLEN until
//!   `length <= maxlen`, for MINID every live entry `< minid`, and stops there; the node stays
//!   even if it is left with no live entries (possible with MINID when the last listpack entry
//!   was already deleted). The removed entries are therefore always the first `removed` live
//!   entries of the stream in ID order.
//! * LIMIT (`streamParseAddOrTrimArgsOrReply`): exact trims never have one (`LIMIT` without `~`
//!   is a syntax error, handled by the command layer); `~` without `LIMIT` uses
//!   `100 * stream-node-max-entries`, replaced by 10000 if that is not positive and capped at
//!   1000000;
//!   an explicit `LIMIT 0` means no limit. See [`effective_trim_limit`].
//!
//! # What the caller does with the results
//!
//! The layout never needs entry IDs beyond each node's master and last ID: after
//! [`NodeLayout::trim`] the caller deletes the first [`TrimOutcome::removed`] live entries of
//! the stream (in ID order). Only exact MINID trimming needs to know how many live entries of
//! one node are below `minid`; the caller answers that through a callback counting its live
//! entries in an ID range.
//!
//! # Memory and persistence
//!
//! Nothing is kept per entry (except the rare entries appended below their node's master
//! ID, see [`NodeSummary::misplaced`]). Per node: a [`NodeSummary`] (88 bytes, in a
//! `BTreeMap` keyed by the 16-byte master ID; plus a heap block of up to
//! [`MAX_INLINE_FIELDS`] bytes for the master field names when they are short, longer field
//! lists being kept as a 128-bit digest) and the node's share of the emulated rax (1.4–2.4 rax
//! nodes per key, 56 bytes each plus two small heap blocks). Measured with 100 000 nodes of 100
//! entries, when the summary was 64 bytes: 310–355 bytes of heap per node, i.e. 3.1–3.5 bytes
//! per entry; about two thirds of it is the rax (the `misplaced` list added 24 bytes per node
//! since).
//!
//! [`NodeSummary::encode`] takes 25–54 bytes per node in those measurements (counters as
//! varints, see its docs; up to about 100 bytes with long inline field names), plus the
//! 16-byte master ID the store keys it by. Nodes change only at the tail on append, at the head
//! on trim, and in their counters on delete, and every mutating call reports which nodes it
//! touched, so the store can persist just those, keyed by master ID. [`NodeLayout::from_nodes`] rebuilds the layout (and the rax, by
//! inserting the master IDs in order as Redis's RDB loading does; the resulting node count equals
//! the one before, see [`super::rax`]).

use std::collections::BTreeMap;

use super::rax::Rax;
use super::StreamId;

/// Redis's `STREAM_LISTPACK_MAX_SIZE`: no node grows past 1 GiB, and `XADD` refuses an entry
/// whose fields and values add up to more than this (`ERR Elements are too large to be stored`).
pub const STREAM_LISTPACK_MAX_SIZE: u64 = 1 << 30;

/// Master field lists whose [`NodeSummary`] encoding is at most this long are kept verbatim;
/// longer ones are kept as a 128-bit digest.
pub const MAX_INLINE_FIELDS: usize = 64;

/// Listpack header: 32-bit total bytes + 16-bit element count.
const LP_HDR_SIZE: u64 = 6;
/// Listpack end marker.
const LP_EOF_SIZE: u64 = 1;

// ---------------------------------------------------------------------------------------------
// Listpack size arithmetic (listpack.c, Redis 7.0).

/// `lpStringToInt64`: the int64 a listpack stores `s` as, if `s` is a canonical decimal.
pub fn lp_string_to_int(s: &[u8]) -> Option<i64> {
    // LONG_STR_SIZE is 21: at most 20 bytes.
    if s.is_empty() || s.len() > 20 {
        return None;
    }
    if s == b"0" {
        return Some(0);
    }
    let (negative, digits) = match s[0] {
        b'-' => (true, &s[1..]),
        _ => (false, s),
    };
    match digits.first() {
        Some(b'1'..=b'9') => {}
        _ => return None,
    }
    let mut v: u64 = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
    }
    if negative {
        if v > 1u64 << 63 {
            return None;
        }
        Some((v as i64).wrapping_neg())
    } else {
        i64::try_from(v).ok()
    }
}

/// `lpEncodeBacklen`: bytes taken by the back-length of an element whose encoding is `enclen`.
pub fn lp_backlen_size(enclen: u64) -> u64 {
    match enclen {
        0..=127 => 1,
        128..=16382 => 2,
        16383..=2_097_150 => 3,
        2_097_151..=268_435_454 => 4,
        _ => 5,
    }
}

/// Total bytes (encoding + back-length) of an integer element.
pub fn lp_int_size(v: i64) -> u64 {
    let enclen = match v {
        0..=127 => 1,
        -4096..=4095 => 2,
        -32768..=32767 => 3,
        -8_388_608..=8_388_607 => 4,
        -2_147_483_648..=2_147_483_647 => 5,
        _ => 9,
    };
    enclen + 1
}

/// Total bytes (encoding + back-length) of a string element as `lpAppend` stores it: as an
/// integer when [`lp_string_to_int`] accepts it.
pub fn lp_str_size(s: &[u8]) -> u64 {
    if let Some(v) = lp_string_to_int(s) {
        return lp_int_size(v);
    }
    let len = s.len() as u64;
    let enclen = len
        + match len {
            0..=63 => 1,
            64..=4095 => 2,
            _ => 5,
        };
    enclen + lp_backlen_size(enclen)
}

/// Listpack integer for a `u64` count (Redis keeps counts in int64).
fn lp_count_size(v: u64) -> u64 {
    lp_int_size(v as i64)
}

// ---------------------------------------------------------------------------------------------
// Master fields.

/// The field names of a node's master entry, as needed to decide `SAMEFIELDS`: verbatim when
/// short, a digest otherwise. Equal field lists always give equal values, because the choice
/// between the two forms depends only on the list. The digest is not cryptographic: field lists
/// crafted to collide would make one entry's emulated size wrong (names counted as omitted),
/// never anything worse.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MasterFields {
    /// The names, each preceded by its length as a LEB128 varint.
    Inline(Box<[u8]>),
    /// A 128-bit digest of the count, lengths and names (see [`fields_digest`]); used when the
    /// inline form would exceed [`MAX_INLINE_FIELDS`] bytes.
    Digest([u8; 16]),
}

fn varint_len(mut v: u64) -> usize {
    let mut n = 1;
    while v >= 0x80 {
        v >>= 7;
        n += 1;
    }
    n
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn get_varint(buf: &mut &[u8]) -> Option<u64> {
    let mut v: u64 = 0;
    for shift in (0..64).step_by(7) {
        let (&b, rest) = buf.split_first()?;
        *buf = rest;
        v |= u64::from(b & 0x7f).checked_shl(shift)?;
        if b & 0x80 == 0 {
            return Some(v);
        }
    }
    None
}

fn inline_len<F: AsRef<[u8]>, V>(fields: &[(F, V)]) -> usize {
    fields
        .iter()
        .map(|(f, _)| varint_len(f.as_ref().len() as u64) + f.as_ref().len())
        .sum()
}

/// A stable 128-bit digest of a field-name list: two 64-bit FNV-1a lanes with different
/// offsets, over the count and every length and name, each finished with MurmurHash3's
/// `fmix64`. Not cryptographic; stable across versions because it is persisted.
pub fn fields_digest<F: AsRef<[u8]>, V>(fields: &[(F, V)]) -> [u8; 16] {
    const PRIME: u64 = 0x0000_0100_0000_01B3;
    let mut a: u64 = 0xCBF2_9CE4_8422_2325;
    let mut b: u64 = 0x6C62_272E_07BB_0142;
    let mut feed = |bytes: &[u8]| {
        for &x in bytes {
            a = (a ^ u64::from(x)).wrapping_mul(PRIME);
            b = (b ^ u64::from(x)).wrapping_mul(PRIME).rotate_left(29) ^ a;
        }
    };
    feed(&(fields.len() as u64).to_le_bytes());
    for (f, _) in fields {
        let f = f.as_ref();
        feed(&(f.len() as u64).to_le_bytes());
        feed(f);
    }
    fn fmix(mut k: u64) -> u64 {
        k ^= k >> 33;
        k = k.wrapping_mul(0xFF51_AFD7_ED55_8CCD);
        k ^= k >> 33;
        k = k.wrapping_mul(0xC4CE_B9FE_1A85_EC53);
        k ^ (k >> 33)
    }
    let mut out = [0u8; 16];
    out[..8].copy_from_slice(&fmix(a).to_le_bytes());
    out[8..].copy_from_slice(&fmix(b ^ a.rotate_left(17)).to_le_bytes());
    out
}

impl MasterFields {
    /// The master fields of a node whose first entry has these pairs.
    pub fn of<F: AsRef<[u8]>, V>(fields: &[(F, V)]) -> Self {
        let len = inline_len(fields);
        if len <= MAX_INLINE_FIELDS {
            let mut buf = Vec::with_capacity(len);
            for (f, _) in fields {
                put_varint(&mut buf, f.as_ref().len() as u64);
                buf.extend_from_slice(f.as_ref());
            }
            MasterFields::Inline(buf.into_boxed_slice())
        } else {
            MasterFields::Digest(fields_digest(fields))
        }
    }

    /// Whether an entry with these pairs has exactly the master field names (`SAMEFIELDS`).
    pub fn matches<F: AsRef<[u8]>, V>(&self, fields: &[(F, V)]) -> bool {
        let len = inline_len(fields);
        match self {
            MasterFields::Inline(stored) => {
                if stored.len() != len {
                    return false;
                }
                let mut rest: &[u8] = stored;
                for (f, _) in fields {
                    let f = f.as_ref();
                    if get_varint(&mut rest) != Some(f.len() as u64) || !rest.starts_with(f) {
                        return false;
                    }
                    rest = &rest[f.len()..];
                }
                rest.is_empty()
            }
            MasterFields::Digest(d) => len > MAX_INLINE_FIELDS && *d == fields_digest(fields),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Nodes.

/// The node limits in force at the time of an append (`stream-node-max-entries`,
/// `stream-node-max-bytes`; 0 = unlimited, as in Redis).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NodeLimits {
    pub max_entries: u64,
    pub max_bytes: u64,
}

impl Default for NodeLimits {
    /// Redis's defaults: 100 entries, 4096 bytes.
    fn default() -> Self {
        NodeLimits {
            max_entries: 100,
            max_bytes: 4096,
        }
    }
}

/// What the layout knows about one node (one Redis listpack). The master ID is the key it is
/// stored under.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeSummary {
    /// ID of the last entry in the listpack, live or deleted (what MINID trimming compares).
    pub last_id: StreamId,
    /// Entries not flagged deleted (the master entry's `count`).
    pub live: u64,
    /// Entries flagged deleted but still in the listpack.
    pub deleted: u64,
    /// Listpack bytes except the two counter elements (whose sizes follow `live`/`deleted`).
    pub fixed_bytes: u64,
    /// Field names of the master entry.
    pub master_fields: MasterFields,
    /// Live entries of this node whose ID is below its master ID, in order (usually none).
    /// Redis lets XSETID lower the last ID below entries deleted from the tail node (it checks
    /// only the last live entry), and the next XADD lands in that node anyway; the master ID
    /// then no longer tells that the entry is here, so the layout remembers it.
    pub misplaced: Vec<StreamId>,
}

impl NodeSummary {
    /// `lpBytes` of the node's listpack.
    pub fn lp_bytes(&self) -> u64 {
        self.fixed_bytes + lp_count_size(self.live) + lp_count_size(self.deleted)
    }

    /// Entries in the listpack, live or deleted.
    pub fn total_entries(&self) -> u64 {
        self.live + self.deleted
    }

    /// Appends the persistent form: a format byte (1, or 2 with misplaced entries), `last_id`
    /// (16 bytes big-endian), `live`, `deleted`, `fixed_bytes` as LEB128 varints, then either
    /// tag 0 + varint length + the inline field bytes, or tag 1 + the 16 digest bytes; format 2
    /// ends with a varint count and the misplaced IDs (16 bytes each).
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.push(if self.misplaced.is_empty() { 1 } else { 2 });
        out.extend_from_slice(&self.last_id.to_be_bytes());
        put_varint(out, self.live);
        put_varint(out, self.deleted);
        put_varint(out, self.fixed_bytes);
        match &self.master_fields {
            MasterFields::Inline(b) => {
                out.push(0);
                put_varint(out, b.len() as u64);
                out.extend_from_slice(b);
            }
            MasterFields::Digest(d) => {
                out.push(1);
                out.extend_from_slice(d);
            }
        }
        if !self.misplaced.is_empty() {
            put_varint(out, self.misplaced.len() as u64);
            for id in &self.misplaced {
                out.extend_from_slice(&id.to_be_bytes());
            }
        }
    }

    /// [`NodeSummary::encode`] into a new vector.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(40);
        self.encode(&mut out);
        out
    }

    /// Decodes [`NodeSummary::encode`]; `None` on any malformation, including trailing bytes.
    pub fn decode(mut buf: &[u8]) -> Option<Self> {
        let (&format, rest) = buf.split_first()?;
        if !(1..=2).contains(&format) || rest.len() < 16 {
            return None;
        }
        let last_id = StreamId::from_be_bytes(&rest[..16])?;
        buf = &rest[16..];
        let live = get_varint(&mut buf)?;
        let deleted = get_varint(&mut buf)?;
        let fixed_bytes = get_varint(&mut buf)?;
        let (&tag, rest) = buf.split_first()?;
        buf = rest;
        let master_fields = match tag {
            0 => {
                let len = usize::try_from(get_varint(&mut buf)?).ok()?;
                if len > buf.len() {
                    return None;
                }
                let (fields, rest) = buf.split_at(len);
                buf = rest;
                MasterFields::Inline(fields.into())
            }
            1 => {
                if buf.len() < 16 {
                    return None;
                }
                let (d, rest) = buf.split_at(16);
                buf = rest;
                MasterFields::Digest(d.try_into().ok()?)
            }
            _ => return None,
        };
        let mut misplaced = Vec::new();
        if format == 2 {
            let n = usize::try_from(get_varint(&mut buf)?).ok()?;
            if n == 0 || n > buf.len() / 16 {
                return None;
            }
            for chunk in buf[..n * 16].chunks_exact(16) {
                misplaced.push(StreamId::from_be_bytes(chunk)?);
            }
            buf = &buf[n * 16..];
        }
        if !buf.is_empty() {
            return None;
        }
        Some(NodeSummary {
            last_id,
            live,
            deleted,
            fixed_bytes,
            master_fields,
            misplaced,
        })
    }
}

/// Bytes of one entry appended to a node with master ID `master`.
fn entry_bytes<F: AsRef<[u8]>, V: AsRef<[u8]>>(
    master: StreamId,
    id: StreamId,
    fields: &[(F, V)],
    same_fields: bool,
) -> u64 {
    let n = fields.len() as u64;
    // flags (0..=3, always one 7-bit integer), ms and seq deltas (C: uint64 difference passed
    // as int64).
    let mut bytes = lp_int_size(0)
        + lp_int_size(id.ms.wrapping_sub(master.ms) as i64)
        + lp_int_size(id.seq.wrapping_sub(master.seq) as i64);
    if !same_fields {
        bytes += lp_count_size(n);
        bytes += fields
            .iter()
            .map(|(f, _)| lp_str_size(f.as_ref()))
            .sum::<u64>();
    }
    bytes += fields
        .iter()
        .map(|(_, v)| lp_str_size(v.as_ref()))
        .sum::<u64>();
    let lp_count = if same_fields { n + 3 } else { 2 * n + 4 };
    bytes + lp_count_size(lp_count)
}

/// Bytes of a new listpack holding only the master entry, without its two counters.
fn master_fixed_bytes<F: AsRef<[u8]>, V>(fields: &[(F, V)]) -> u64 {
    LP_HDR_SIZE
        + lp_count_size(fields.len() as u64)
        + fields
            .iter()
            .map(|(f, _)| lp_str_size(f.as_ref()))
            .sum::<u64>()
        + lp_int_size(0)
        + LP_EOF_SIZE
}

// ---------------------------------------------------------------------------------------------
// Trimming arguments and results.

/// The trimming strategy of `XADD`/`XTRIM`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trim {
    /// `MAXLEN n`: keep at most `n` entries.
    MaxLen(u64),
    /// `MINID id`: remove entries with IDs below `id`.
    MinId(StreamId),
}

/// The effective trim limit (0 = none) that [`NodeLayout::trim`] takes, resolved as Redis's
/// `streamParseAddOrTrimArgsOrReply` does; `given` is the `LIMIT` argument if present, and
/// `max_entries` the current `stream-node-max-entries`.
///
/// Exact trims have no limit (the command layer must reject `LIMIT` without `~` with
/// `ERR syntax error, LIMIT cannot be used without the special ~ option`). Approximate trims
/// use `given` as is (so `LIMIT 0` means none) or else `100 * max_entries` computed as C does
/// (wrapping), replaced by 10000 if that is not positive and capped at 1000000. (Redis also
/// drops the limit for commands from its master or AOF; Sluice has neither.)
pub fn effective_trim_limit(approx: bool, given: Option<u64>, max_entries: u64) -> u64 {
    if !approx {
        return 0;
    }
    match given {
        Some(limit) => limit,
        None => {
            let limit = (max_entries as i64).wrapping_mul(100);
            if limit <= 0 {
                10_000
            } else {
                limit.min(1_000_000) as u64
            }
        }
    }
}

/// What [`NodeLayout::trim`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TrimOutcome {
    /// Live entries removed: always the first `removed` live entries of the stream in ID order.
    /// This is also `XTRIM`'s reply.
    pub removed: u64,
    /// Nodes removed whole, as (master ID, last ID) in ID order: every entry of the stream
    /// with an ID in one of these ranges is gone.
    pub dropped_nodes: Vec<(StreamId, StreamId)>,
    /// Master ID of the node in which entries were flagged deleted (exact trims only); its
    /// summary changed. It stays even if it has no live entry left.
    pub partial_node: Option<StreamId>,
}

/// What [`NodeLayout::append`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AppendOutcome {
    /// Master ID of the node that received the entry (its summary changed).
    pub node: StreamId,
    /// Whether that node was created for this entry.
    pub created: bool,
}

/// What [`NodeLayout::delete`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeleteOutcome {
    /// Master ID of the node that held the entry.
    pub node: StreamId,
    /// Whether the node was removed (the entry was its last live one); otherwise its counters
    /// changed.
    pub node_removed: bool,
}

// ---------------------------------------------------------------------------------------------
// The layout.

/// The node structure of one stream; see the module documentation.
#[derive(Clone, Debug)]
pub struct NodeLayout {
    nodes: BTreeMap<StreamId, NodeSummary>,
    rax: Rax,
    length: u64,
    /// Every node's [`NodeSummary::misplaced`] entries, to the node's master ID.
    misplaced: BTreeMap<StreamId, StreamId>,
    /// An append below deleted entries was logged: later ones are not (a client repeating
    /// the pattern would otherwise fill the log), until the process restarts.
    warned: bool,
}

impl Default for NodeLayout {
    fn default() -> Self {
        Self::new()
    }
}

impl NodeLayout {
    /// The layout of an empty stream (no nodes; the rax has just its head).
    pub fn new() -> Self {
        NodeLayout {
            nodes: BTreeMap::new(),
            rax: Rax::new(),
            length: 0,
            misplaced: BTreeMap::new(),
            warned: false,
        }
    }

    /// Rebuilds a layout from persisted nodes (in any order; keys must be distinct).
    pub fn from_nodes(nodes: impl IntoIterator<Item = (StreamId, NodeSummary)>) -> Self {
        let nodes: BTreeMap<StreamId, NodeSummary> = nodes.into_iter().collect();
        let rax = Rax::from_keys(nodes.keys().map(|id| id.to_be_bytes()));
        let length = nodes.values().map(|n| n.live).sum();
        let misplaced = nodes
            .iter()
            .flat_map(|(master, n)| n.misplaced.iter().map(move |id| (*id, *master)))
            .collect();
        NodeLayout {
            nodes,
            rax,
            length,
            misplaced,
            warned: false,
        }
    }

    /// The layout's invariants, in debug builds and for layouts of at most 512 nodes (the
    /// check walks every node): `length` is the sum of the nodes' live counts, and `misplaced`
    /// indexes exactly the nodes' misplaced entries.
    fn debug_check(&self) {
        if cfg!(debug_assertions) && self.nodes.len() <= 512 {
            let live: u64 = self.nodes.values().map(|n| n.live).sum();
            debug_assert_eq!(
                self.length, live,
                "stream length against the nodes' live counts"
            );
            let listed: usize = self.nodes.values().map(|n| n.misplaced.len()).sum();
            debug_assert_eq!(
                self.misplaced.len(),
                listed,
                "misplaced index against the nodes"
            );
        }
    }

    /// Live entries (`XLEN`).
    pub fn len(&self) -> u64 {
        self.length
    }

    pub fn is_empty(&self) -> bool {
        self.length == 0
    }

    /// `XINFO STREAM` `radix-tree-keys`: the number of nodes.
    pub fn radix_tree_keys(&self) -> u64 {
        self.nodes.len() as u64
    }

    /// `XINFO STREAM` `radix-tree-nodes`: nodes of the rax holding the master IDs.
    pub fn radix_tree_nodes(&self) -> u64 {
        self.rax.node_count()
    }

    /// The nodes in ID order, by master ID.
    pub fn nodes(&self) -> impl DoubleEndedIterator<Item = (&StreamId, &NodeSummary)> + '_ {
        self.nodes.iter()
    }

    /// The node with this master ID.
    pub fn node(&self, master: StreamId) -> Option<&NodeSummary> {
        self.nodes.get(&master)
    }

    /// The node that holds (or would hold) `id`: the last one whose master ID is `<= id`, or
    /// the one it was appended to below its master ID (see [`NodeSummary::misplaced`]).
    pub fn node_of(&self, id: StreamId) -> Option<(StreamId, &NodeSummary)> {
        if let Some(master) = self.misplaced.get(&id) {
            return self.nodes.get(master).map(|n| (*master, n));
        }
        self.nodes.range(..=id).next_back().map(|(k, v)| (*k, v))
    }

    /// `XADD` of `id`, which must be greater than every ID ever added, with these field/value
    /// pairs, under the node limits in force.
    pub fn append<F: AsRef<[u8]>, V: AsRef<[u8]>>(
        &mut self,
        id: StreamId,
        fields: &[(F, V)],
        limits: NodeLimits,
    ) -> AppendOutcome {
        let totelelen: u64 = fields
            .iter()
            .map(|(f, v)| (f.as_ref().len() + v.as_ref().len()) as u64)
            .sum();
        let max_bytes = match limits.max_bytes {
            0 => STREAM_LISTPACK_MAX_SIZE,
            b => b.min(STREAM_LISTPACK_MAX_SIZE),
        };
        self.length += 1;
        if let Some((&master, tail)) = self.nodes.iter_mut().next_back() {
            // Reachable from clients: Redis's XSETID may lower the last ID below the tail node's
            // deleted entries, and the next XADD then appends below them (a known gap of this
            // emulation, see storage/tests/model.rs). Not worth a crash.
            if id <= tail.last_id && !std::mem::replace(&mut self.warned, true) {
                tracing::warn!(%id, tail_last = %tail.last_id, "append below the tail node's last ID (XSETID below deleted entries); logged once per stream");
            }
            let full = tail.lp_bytes() + totelelen >= max_bytes
                || (limits.max_entries != 0 && tail.total_entries() >= limits.max_entries);
            if !full {
                let same = tail.master_fields.matches(fields);
                tail.fixed_bytes += entry_bytes(master, id, fields, same);
                tail.live += 1;
                tail.last_id = id;
                if id < master {
                    tail.misplaced.push(id);
                    self.misplaced.insert(id, master);
                }
                self.debug_check();
                return AppendOutcome {
                    node: master,
                    created: false,
                };
            }
        }
        // A new node is keyed by the new ID. After an XSETID below deleted entries, an XADD can
        // reach the master ID of a node that still holds them; Redis 7.0 then overwrites that
        // rax key with a fresh listpack (`raxInsert`), losing the old node's live entries while
        // its length still counts them. Sluice keeps them: the entry joins that node instead,
        // so the length stays the sum of the nodes' live counts. The node boundaries differ
        // from Redis's from there on; only this already-broken case.
        if let Some(node) = self.nodes.get_mut(&id) {
            if !std::mem::replace(&mut self.warned, true) {
                tracing::warn!(%id, "append at the master ID of a node holding deleted entries (XSETID below deleted entries); it joins that node; logged once per stream");
            }
            let same = node.master_fields.matches(fields);
            node.fixed_bytes += entry_bytes(id, id, fields, same);
            node.live += 1;
            node.last_id = id;
            self.debug_check();
            return AppendOutcome {
                node: id,
                created: false,
            };
        }
        let node = NodeSummary {
            last_id: id,
            live: 1,
            deleted: 0,
            fixed_bytes: master_fixed_bytes(fields) + entry_bytes(id, id, fields, true),
            master_fields: MasterFields::of(fields),
            misplaced: Vec::new(),
        };
        self.nodes.insert(id, node);
        self.rax.insert(&id.to_be_bytes());
        self.debug_check();
        AppendOutcome {
            node: id,
            created: true,
        }
    }

    /// True when [`NodeLayout::trim`] with these arguments certainly removes no entry and
    /// drops no node, so callers can skip reading the stream's head (and committing the drain
    /// so far to make it readable). `first_live` is the stream's first live ID; `adding` an
    /// entry about to be appended (XADD checks before it appends). Conservative: false when
    /// unsure (a first node with no live entry, exact MAXLEN over the limit).
    pub fn trim_is_noop(
        &self,
        strategy: Trim,
        approx: bool,
        first_live: StreamId,
        adding: Option<StreamId>,
    ) -> bool {
        let len = self.length + u64::from(adding.is_some());
        match self.nodes.values().next() {
            None => match (strategy, adding) {
                (_, None) => true,
                (Trim::MaxLen(max), Some(_)) => len <= max,
                (Trim::MinId(min), Some(id)) => id >= min,
            },
            // Redis stops before the first node when the stream is short enough; approximate
            // trimming only removes whole nodes, and the first one (with live entries, which the
            // new entry only adds to) cannot go; no ID below MINID means nothing to remove.
            Some(first) => match strategy {
                Trim::MaxLen(max) => {
                    len <= max || (approx && first.live > 0 && len - first.live < max)
                }
                Trim::MinId(min) => first.live > 0 && first_live >= min,
            },
        }
    }

    /// `XDEL` of `id`, which must be a live entry. Returns `None` (and changes nothing) if no
    /// node could hold it or that node has no live entry.
    pub fn delete(&mut self, id: StreamId) -> Option<DeleteOutcome> {
        let (master, node) = match self.misplaced.remove(&id) {
            Some(master) => {
                let node = self.nodes.get_mut(&master)?;
                node.misplaced.retain(|m| *m != id);
                (master, node)
            }
            None => {
                let (&master, node) = self.nodes.range_mut(..=id).next_back()?;
                (master, node)
            }
        };
        if node.live == 0 {
            return None;
        }
        self.length -= 1;
        let out = if node.live == 1 {
            self.nodes.remove(&master);
            self.rax.remove(&master.to_be_bytes());
            DeleteOutcome {
                node: master,
                node_removed: true,
            }
        } else {
            node.live -= 1;
            node.deleted += 1;
            DeleteOutcome {
                node: master,
                node_removed: false,
            }
        };
        self.debug_check();
        Some(out)
    }

    /// `streamTrim`. `limit` is the effective limit from [`effective_trim_limit`] (0 = none).
    ///
    /// `live_in_range(from, to)` must return how many live entries the stream has with
    /// `from <= id < to`, counting as the stream was before this call; it is only called for
    /// an exact MINID trim that stops inside a node, with `from` = that node's master ID.
    pub fn trim(
        &mut self,
        strategy: Trim,
        approx: bool,
        limit: u64,
        mut live_in_range: impl FnMut(StreamId, StreamId) -> u64,
    ) -> TrimOutcome {
        let mut out = TrimOutcome::default();
        while let Some((&master, node)) = self.nodes.iter_mut().next() {
            if let Trim::MaxLen(maxlen) = strategy {
                if self.length <= maxlen {
                    break;
                }
            }
            let entries = node.live;
            if limit != 0 && out.removed.saturating_add(entries) > limit {
                break;
            }
            let remove_node = match strategy {
                Trim::MaxLen(maxlen) => self.length - entries >= maxlen,
                Trim::MinId(minid) => node.last_id < minid,
            };
            if remove_node {
                let last = node.last_id;
                for id in &node.misplaced {
                    self.misplaced.remove(id);
                }
                self.nodes.remove(&master);
                self.rax.remove(&master.to_be_bytes());
                self.length -= entries;
                out.removed += entries;
                out.dropped_nodes.push((master, last));
                continue;
            }
            if approx {
                break;
            }
            let flagged = match strategy {
                // Not removable means entries > length - maxlen.
                Trim::MaxLen(maxlen) => self.length - maxlen,
                // The node's live entries below `minid`: its misplaced ones, and those from its
                // master ID on, less other nodes' misplaced entries counted in that range.
                Trim::MinId(minid) if minid > master => {
                    let own = node.misplaced.iter().filter(|id| **id < minid).count() as u64;
                    let others = self
                        .misplaced
                        .range(master..minid)
                        .filter(|(_, m)| **m != master)
                        .count() as u64;
                    (own + live_in_range(master, minid).saturating_sub(others)).min(entries)
                }
                Trim::MinId(minid) => {
                    (node.misplaced.iter().filter(|id| **id < minid).count() as u64).min(entries)
                }
            };
            if flagged > 0 {
                // Live entries are flagged in listpack order, which is ID order: the misplaced
                // ones come first.
                let gone = (flagged as usize).min(node.misplaced.len());
                for id in node.misplaced.drain(..gone) {
                    self.misplaced.remove(&id);
                }
                node.live -= flagged;
                node.deleted += flagged;
                self.length -= flagged;
                out.removed += flagged;
                out.partial_node = Some(master);
            }
            break;
        }
        self.debug_check();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(ms: u64, seq: u64) -> StreamId {
        StreamId::new(ms, seq)
    }

    /// Whenever `trim_is_noop` says so, the trim indeed changes nothing — with and without an
    /// entry about to be appended — over random layouts built by appends, deletes and trims.
    #[test]
    fn trim_is_noop_is_never_wrong() {
        let mut rng = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move |n: u64| {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng % n
        };
        let fields = [(b"f".as_slice(), b"v".as_slice())];
        let mut noops = 0;
        for _ in 0..300 {
            let limits = NodeLimits {
                max_entries: 1 + next(6),
                max_bytes: 0,
            };
            let mut layout = NodeLayout::new();
            let mut live: Vec<StreamId> = Vec::new();
            let mut seq = 0;
            for _ in 0..next(40) {
                match next(4) {
                    0 if !live.is_empty() => {
                        let victim = live.remove(next(live.len() as u64) as usize);
                        layout.delete(victim);
                    }
                    1 if !live.is_empty() => {
                        // An exact trim leaves nodes with deleted entries behind, some with
                        // no live entry at all (when MINID falls past a node's live ones).
                        let min = id(1, next(seq + 2));
                        let l = live.clone();
                        layout.trim(Trim::MinId(min), false, 0, |a, b| {
                            l.iter().filter(|i| **i >= a && **i < b).count() as u64
                        });
                        live.retain(|i| *i >= min);
                    }
                    _ => {
                        seq += 1;
                        layout.append(id(1, seq), &fields, limits);
                        live.push(id(1, seq));
                    }
                }
            }
            let first = live.first().copied().unwrap_or(StreamId::MIN);
            for _ in 0..10 {
                let strategy = if next(2) == 0 {
                    Trim::MaxLen(next(live.len() as u64 + 3))
                } else {
                    Trim::MinId(id(1, next(seq + 3)))
                };
                let approx = next(2) == 0;
                let adding = (next(2) == 0).then(|| id(1, seq + 1));
                if !layout.trim_is_noop(strategy, approx, first, adding) {
                    continue;
                }
                noops += 1;
                let mut l = layout.clone();
                let mut ids = live.clone();
                if let Some(a) = adding {
                    l.append(a, &fields, limits);
                    ids.push(a);
                }
                let out = l.trim(strategy, approx, 0, |a, b| {
                    ids.iter().filter(|i| **i >= a && **i < b).count() as u64
                });
                assert_eq!(
                    out,
                    TrimOutcome::default(),
                    "{strategy:?} approx={approx} adding={adding:?} on {layout:?}"
                );
            }
        }
        assert!(noops > 500, "the test reached too few no-op trims: {noops}");
    }

    #[test]
    fn string_to_int_matches_lp_string_to_int64() {
        let yes: &[(&[u8], i64)] = &[
            (b"0", 0),
            (b"1", 1),
            (b"-1", -1),
            (b"127", 127),
            (b"9223372036854775807", i64::MAX),
            (b"-9223372036854775808", i64::MIN),
        ];
        for (s, v) in yes {
            assert_eq!(
                lp_string_to_int(s),
                Some(*v),
                "{:?}",
                String::from_utf8_lossy(s)
            );
        }
        let no: &[&[u8]] = &[
            b"",
            b"-",
            b"-0",
            b"007",
            b"00",
            b"+5",
            b" 5",
            b"5 ",
            b"1.0",
            b"9223372036854775808",
            b"-9223372036854775809",
            b"18446744073709551616",
            b"123456789012345678901",
            b"a",
        ];
        for s in no {
            assert_eq!(
                lp_string_to_int(s),
                None,
                "{:?}",
                String::from_utf8_lossy(s)
            );
        }
    }

    #[test]
    fn element_sizes() {
        assert_eq!(lp_int_size(0), 2);
        assert_eq!(lp_int_size(127), 2);
        assert_eq!(lp_int_size(128), 3);
        assert_eq!(lp_int_size(-1), 3);
        assert_eq!(lp_int_size(-4096), 3);
        assert_eq!(lp_int_size(4095), 3);
        assert_eq!(lp_int_size(4096), 4);
        assert_eq!(lp_int_size(-32768), 4);
        assert_eq!(lp_int_size(32768), 5);
        assert_eq!(lp_int_size(8_388_607), 5);
        assert_eq!(lp_int_size(8_388_608), 6);
        assert_eq!(lp_int_size(i32::MIN.into()), 6);
        assert_eq!(lp_int_size(i64::from(i32::MAX) + 1), 10);
        assert_eq!(lp_int_size(i64::MIN), 10);

        assert_eq!(lp_str_size(b""), 2);
        assert_eq!(lp_str_size(b"v"), 3);
        assert_eq!(lp_str_size(b"007"), 5);
        assert_eq!(lp_str_size(b"300"), 3); // int 300: 13-bit
        assert_eq!(lp_str_size(&[b'x'; 63]), 65);
        assert_eq!(lp_str_size(&[b'x'; 64]), 66 + 1); // 12-bit header, 2-byte backlen (66 > 127? no)
        assert_eq!(lp_str_size(&[b'x'; 125]), 127 + 1);
        assert_eq!(lp_str_size(&[b'x'; 126]), 128 + 2);
        assert_eq!(lp_str_size(&[b'x'; 4095]), 4097 + 2);
        assert_eq!(lp_str_size(&[b'x'; 4096]), 4101 + 2);
        assert_eq!(lp_str_size(&[b'x'; 16377]), 16382 + 2);
        assert_eq!(lp_str_size(&[b'x'; 16378]), 16383 + 3);

        assert_eq!(lp_backlen_size(127), 1);
        assert_eq!(lp_backlen_size(128), 2);
        assert_eq!(lp_backlen_size(16382), 2);
        assert_eq!(lp_backlen_size(16383), 3);
        assert_eq!(lp_backlen_size(2_097_150), 3);
        assert_eq!(lp_backlen_size(2_097_151), 4);
        assert_eq!(lp_backlen_size(268_435_454), 4);
        assert_eq!(lp_backlen_size(268_435_455), 5);
    }

    #[test]
    fn one_entry_node_bytes() {
        let mut l = NodeLayout::new();
        l.append(id(1, 0), &[(b"f", b"v")], NodeLimits::default());
        let n = l.node(id(1, 0)).unwrap();
        // header 6 | count 2, deleted 2, nfields 2, "f" 3, 0 2 | flags 2, ms 2, seq 2, "v" 3,
        // lp-count 2 | eof 1
        assert_eq!(n.lp_bytes(), 6 + 2 + 2 + 2 + 3 + 2 + 2 + 2 + 2 + 3 + 2 + 1);
        // Same fields: values only.
        l.append(id(1, 1), &[(b"f", b"w")], NodeLimits::default());
        assert_eq!(l.node(id(1, 0)).unwrap().lp_bytes(), 29 + 2 + 2 + 2 + 3 + 2);
        // Different fields: count and names too, lp-count = 2n+4.
        l.append(id(2, 0), &[(b"g", b"1000")], NodeLimits::default());
        assert_eq!(
            l.node(id(1, 0)).unwrap().lp_bytes(),
            40 + 2 + 2 + 2 + 2 + 3 + 3 + 2
        );
        assert_eq!(l.radix_tree_keys(), 1);
        assert_eq!(l.len(), 3);
    }

    #[test]
    fn counter_growth_changes_size() {
        let mut l = NodeLayout::new();
        let lim = NodeLimits {
            max_entries: 0,
            max_bytes: 0,
        };
        for i in 0..127 {
            l.append(id(0, i + 1), &[(b"f", b"v")], lim);
        }
        let before = l.node(id(0, 1)).unwrap().lp_bytes();
        l.append(id(0, 200), &[(b"f", b"v")], lim);
        // +9 for the entry (seq delta 199 is a 13-bit int), +1 for count 128.
        assert_eq!(
            l.node(id(0, 1)).unwrap().lp_bytes(),
            before + 2 + 2 + 3 + 3 + 2 + 1
        );
    }

    #[test]
    fn boundaries_by_entries_and_bytes() {
        let mut l = NodeLayout::new();
        let lim = NodeLimits {
            max_entries: 2,
            max_bytes: 0,
        };
        for i in 1..=5 {
            l.append(id(i, 0), &[(b"f", b"v")], lim);
        }
        assert_eq!(l.radix_tree_keys(), 3);
        // Deleted entries count toward max_entries.
        let mut l = NodeLayout::new();
        l.append(id(1, 0), &[(b"f", b"v")], lim);
        l.append(id(2, 0), &[(b"f", b"v")], lim);
        l.delete(id(2, 0));
        l.append(id(3, 0), &[(b"f", b"v")], lim);
        assert_eq!(l.radix_tree_keys(), 2);

        // Bytes: the node of 29 bytes takes an entry of totelelen t iff 29 + t < max_bytes.
        let mut l = NodeLayout::new();
        let lim = NodeLimits {
            max_entries: 0,
            max_bytes: 31,
        };
        l.append(id(1, 0), &[(b"f", b"v")], lim);
        l.append(id(2, 0), &[(b"f", b"v")], lim); // 29 + 2 >= 31: new node
        assert_eq!(l.radix_tree_keys(), 2);
        let lim = NodeLimits {
            max_entries: 0,
            max_bytes: 32,
        };
        let mut l = NodeLayout::new();
        l.append(id(1, 0), &[(b"f", b"v")], lim);
        l.append(id(2, 0), &[(b"f", b"v")], lim);
        assert_eq!(l.radix_tree_keys(), 1);
    }

    #[test]
    fn delete_last_live_entry_frees_node() {
        let mut l = NodeLayout::new();
        let lim = NodeLimits::default();
        l.append(id(1, 0), &[(b"f", b"v")], lim);
        l.append(id(1, 1), &[(b"f", b"v")], lim);
        assert_eq!(
            l.delete(id(1, 0)),
            Some(DeleteOutcome {
                node: id(1, 0),
                node_removed: false
            })
        );
        assert_eq!(
            l.delete(id(1, 1)),
            Some(DeleteOutcome {
                node: id(1, 0),
                node_removed: true
            })
        );
        assert_eq!(l.radix_tree_keys(), 0);
        assert_eq!(l.radix_tree_nodes(), 1);
        assert!(l.is_empty());
        assert_eq!(l.delete(id(1, 1)), None);
    }

    #[test]
    fn trims() {
        let lim = NodeLimits {
            max_entries: 3,
            max_bytes: 0,
        };
        let build = || {
            let mut l = NodeLayout::new();
            for i in 1..=10 {
                l.append(id(i, 0), &[(b"f", b"v")], lim);
            }
            l
        };
        // Nodes: [1,2,3] [4,5,6] [7,8,9] [10]
        let mut l = build();
        let out = l.trim(Trim::MaxLen(5), true, 0, |_, _| unreachable!());
        assert_eq!(out.removed, 3);
        assert_eq!(out.dropped_nodes, vec![(id(1, 0), id(3, 0))]);
        assert_eq!(l.len(), 7);

        let mut l = build();
        let out = l.trim(Trim::MaxLen(5), false, 0, |_, _| unreachable!());
        assert_eq!(out.removed, 5);
        assert_eq!(out.partial_node, Some(id(4, 0)));
        assert_eq!(l.node(id(4, 0)).unwrap().live, 1);
        assert_eq!(l.len(), 5);

        // LIMIT stops before a node that would go past it.
        let mut l = build();
        let out = l.trim(Trim::MaxLen(0), true, 5, |_, _| unreachable!());
        assert_eq!(out.removed, 3);

        // MINID compares the node's last ID.
        let mut l = build();
        let out = l.trim(Trim::MinId(id(7, 0)), true, 0, |_, _| unreachable!());
        assert_eq!(out.removed, 6);
        let out = l.trim(Trim::MinId(id(9, 0)), false, 0, |from, to| {
            assert_eq!((from, to), (id(7, 0), id(9, 0)));
            2
        });
        assert_eq!(out.removed, 2);
        assert_eq!(l.len(), 2);
    }

    #[test]
    fn minid_can_leave_node_without_live_entries() {
        let lim = NodeLimits::default();
        let mut l = NodeLayout::new();
        for i in 1..=3 {
            l.append(id(i, 0), &[(b"f", b"v")], lim);
        }
        l.delete(id(3, 0));
        // Last listpack entry 3-0 >= minid, so the node stays with no live entry.
        let out = l.trim(Trim::MinId(id(3, 0)), false, 0, |_, _| 2);
        assert_eq!(out.removed, 2);
        assert_eq!(l.radix_tree_keys(), 1);
        assert_eq!(l.len(), 0);
        let n = l.node(id(1, 0)).unwrap();
        assert_eq!((n.live, n.deleted), (0, 3));
        // A later MAXLEN trim drops it.
        l.append(id(4, 0), &[(b"f", b"v")], lim);
        let out = l.trim(Trim::MaxLen(0), false, 0, |_, _| unreachable!());
        assert_eq!(out.removed, 1);
        assert_eq!(l.radix_tree_keys(), 0);
    }

    #[test]
    fn limit_resolution() {
        assert_eq!(effective_trim_limit(false, None, 100), 0);
        assert_eq!(effective_trim_limit(true, None, 100), 10_000);
        assert_eq!(effective_trim_limit(true, None, 0), 10_000);
        assert_eq!(effective_trim_limit(true, None, 5), 500);
        assert_eq!(effective_trim_limit(true, None, 1_000_000), 1_000_000);
        assert_eq!(effective_trim_limit(true, None, i64::MAX as u64), 10_000);
        assert_eq!(effective_trim_limit(true, Some(0), 100), 0);
        assert_eq!(effective_trim_limit(true, Some(7), 100), 7);
    }

    #[test]
    fn master_fields_compare() {
        let a: &[(&[u8], &[u8])] = &[(b"a", b"1"), (b"bb", b"2")];
        let m = MasterFields::of(a);
        let pairs = |p: &[(&'static [u8], &'static [u8])]| p.to_vec();
        assert!(m.matches(&pairs(&[(b"a", b"x"), (b"bb", b"y")])));
        assert!(!m.matches(&pairs(&[(b"a", b"x")])));
        assert!(!m.matches(&pairs(&[(b"a", b"x"), (b"b", b"y")])));
        assert!(!m.matches(&pairs(&[(b"ab", b"x"), (b"b", b"y")])));
        let long = vec![(vec![b'k'; 100], b"v".to_vec())];
        let m = MasterFields::of(&long);
        assert!(matches!(m, MasterFields::Digest(_)));
        assert!(m.matches(&long));
        assert!(!m.matches(&[(vec![b'k'; 99], b"v".to_vec())]));
    }

    #[test]
    fn summary_round_trip_and_rebuild() {
        let mut l = NodeLayout::new();
        let lim = NodeLimits {
            max_entries: 4,
            max_bytes: 0,
        };
        for i in 1..=30u64 {
            let name = vec![b'n'; (i as usize * 7) % 90];
            l.append(id(i * 1000, i), &[(name.as_slice(), b"v".as_slice())], lim);
        }
        for i in [3u64, 4, 17, 30] {
            l.delete(id(i * 1000, i));
        }
        let persisted: Vec<(StreamId, Vec<u8>)> =
            l.nodes().map(|(k, v)| (*k, v.to_bytes())).collect();
        let back = NodeLayout::from_nodes(
            persisted
                .iter()
                .rev()
                .map(|(k, b)| (*k, NodeSummary::decode(b).unwrap())),
        );
        assert_eq!(back.len(), l.len());
        assert_eq!(back.radix_tree_keys(), l.radix_tree_keys());
        assert_eq!(back.radix_tree_nodes(), l.radix_tree_nodes());
        assert!(back.nodes().eq(l.nodes()));
        for (_, b) in &persisted {
            assert!(NodeSummary::decode(&b[..b.len() - 1]).is_none());
            let mut longer = b.clone();
            longer.push(0);
            assert!(NodeSummary::decode(&longer).is_none());
        }
    }

    /// The size the module docs give.
    #[test]
    fn node_summary_size() {
        assert_eq!(std::mem::size_of::<NodeSummary>(), 88);
    }

    /// Entries appended below their node's master ID (XSETID below a node whose entries are
    /// all deleted): deletes and trims find them, and they survive encoding.
    #[test]
    fn misplaced_entries_are_found_and_persisted() {
        let lim = NodeLimits {
            max_entries: 4,
            max_bytes: 0,
        };
        let f = [(b"f".as_slice(), b"v".as_slice())];
        let mut l = NodeLayout::new();
        for i in 1..=6 {
            l.append(id(0, i), &f, lim);
        }
        l.delete(id(0, 6));
        // Exact MINID 0-6: the first node goes, the second keeps 0-5 and 0-6, both deleted.
        let out = l.trim(Trim::MinId(id(0, 6)), false, 0, |_, _| 1);
        assert_eq!((out.removed, l.len(), l.radix_tree_keys()), (5, 0, 1));
        // XSETID 0-1, then XADD 0-2 and 0-3 land in that node, below its master ID 0-5.
        l.append(id(0, 2), &f, lim);
        l.append(id(0, 3), &f, lim);
        assert_eq!(l.radix_tree_keys(), 1);
        assert_eq!(l.node_of(id(0, 3)).map(|(m, _)| m), Some(id(0, 5)));
        assert_eq!(
            l.node(id(0, 5)).map(|n| n.misplaced.clone()),
            Some(vec![id(0, 2), id(0, 3)])
        );
        let persisted: Vec<(StreamId, Vec<u8>)> =
            l.nodes().map(|(k, v)| (*k, v.to_bytes())).collect();
        assert_eq!(persisted[0].1[0], 2, "format 2 holds the misplaced IDs");
        let b = &persisted[0].1;
        assert!(NodeSummary::decode(&b[..b.len() - 1]).is_none());
        let back = NodeLayout::from_nodes(
            persisted
                .iter()
                .map(|(k, b)| (*k, NodeSummary::decode(b).unwrap())),
        );
        assert!(back.nodes().eq(l.nodes()));
        assert_eq!(back.node_of(id(0, 2)).map(|(m, _)| m), Some(id(0, 5)));
        // Exact MINID 0-3 flags the misplaced 0-2 (the range from the master counts nothing).
        let mut trimmed = back.clone();
        let out = trimmed.trim(Trim::MinId(id(0, 3)), false, 0, |_, _| 0);
        assert_eq!(out.removed, 1);
        assert_eq!(
            trimmed
                .node(id(0, 5))
                .map(|n| (n.live, n.misplaced.clone())),
            Some((1, vec![id(0, 3)]))
        );
        assert_eq!(trimmed.node_of(id(0, 2)).map(|(m, _)| m), None);
        // XDEL of both: the node goes with the last of them.
        let d = l.delete(id(0, 2)).expect("found");
        assert_eq!((d.node, d.node_removed), (id(0, 5), false));
        let d = l.delete(id(0, 3)).expect("found");
        assert_eq!((d.node, d.node_removed), (id(0, 5), true));
        assert_eq!((l.len(), l.radix_tree_keys()), (0, 0));
    }

    /// After XSETID below deleted entries, appends can come back to the master ID of a full node
    /// that still holds a live (misplaced) entry. The entry joins that node rather than replacing
    /// it, so the length stays the sum of the live counts and survives a rebuild.
    #[test]
    fn an_append_at_an_existing_master_id_joins_that_node() {
        let lim = NodeLimits {
            max_entries: 3,
            max_bytes: 0,
        };
        let f = [(b"f".as_slice(), b"v".as_slice())];
        let mut l = NodeLayout::new();
        for i in 1..=5 {
            l.append(id(0, i), &f, lim);
        }
        // Nodes 0-1 (0-1..0-3) and 0-4 (0-4, 0-5). XDEL 0-4 and 0-5 would free the node, so
        // XDEL 0-5 first, then land 0-3 back below its master and XDEL 0-4.
        l.delete(id(0, 5));
        // XTRIM MINID 0-4 exact drops the node 0-1; XSETID 0-2; XADD 0-3 lands in node 0-4.
        let out = l.trim(Trim::MinId(id(0, 4)), false, 0, |_, _| 0);
        assert_eq!(out.removed, 3);
        assert!(!l.warned);
        l.append(id(0, 3), &f, lim);
        // Logged once for this stream; the append at 0-4 below is not logged again.
        assert!(l.warned, "the append below deleted entries was logged");
        l.delete(id(0, 4));
        // Node 0-4 is full (three entries, two deleted) and holds 0-3; XADD 0-4 again.
        assert_eq!(l.node(id(0, 4)).map(|n| (n.live, n.deleted)), Some((1, 2)));
        let out = l.append(id(0, 4), &f, lim);
        assert_eq!((out.node, out.created), (id(0, 4), false));
        assert_eq!((l.len(), l.radix_tree_keys()), (2, 1));
        let back = NodeLayout::from_nodes(l.nodes().map(|(k, v)| (*k, v.clone())));
        assert_eq!(back.len(), 2);
        assert_eq!(back.node_of(id(0, 3)).map(|(m, _)| m), Some(id(0, 4)));
    }
}
