//! A counting-only emulation of Redis's radix tree (`src/rax.c`, Redis 7.0), used to report
//! `XINFO STREAM`'s `radix-tree-nodes` exactly.
//!
//! Redis keeps a stream's listpacks in a rax keyed by the 16-byte big-endian master IDs; the
//! reply field `radix-tree-nodes` is that rax's `numnodes`. This module reproduces the shape of
//! the tree — which nodes exist, which are compressed, which are keys — with the same insert
//! (`raxGenericInsert`: the "ALGO 1" split of a compressed node on a mismatch, "ALGO 2" split when
//! the key ends inside a compressed node, chain compression of new tails) and remove
//! (`raxRemove`: freeing the now useless chain up to the first node that is a key or has several
//! children, `raxRemoveChild`, then re-compression of the single-child chain around the changed
//! node) algorithms, and counts nodes exactly where Redis increments and decrements `numnodes`.
//! It stores no values and never reallocates: nodes live in an arena and are edited in place,
//! which changes nothing observable because only the count is reported.
//!
//! For keys that all have the same length (as stream master IDs do) the tree Redis builds is the
//! canonical compressed trie of the key set, whatever the order of inserts and removes; so
//! rebuilding it by inserting the keys in order — which is also what Redis does when it loads an
//! RDB file — gives the same `numnodes` as the history did. The tests check this.
//!
//! Memory: one arena slot (56 bytes) plus two small heap blocks (edge bytes and child indexes)
//! per rax node; a rax of `n` equal-length keys has at most `2n` nodes (+1 for the head).

/// Redis's `RAX_NODE_MAX_SIZE`: the longest run of bytes one compressed node can hold.
const RAX_NODE_MAX_SIZE: usize = (1 << 29) - 1;

type NodeIx = u32;

#[derive(Clone, Debug, Default)]
struct RaxNode {
    /// The node represents a key (`iskey`).
    is_key: bool,
    /// `iscompr`: `edges` is a run of bytes leading to the single child.
    compressed: bool,
    /// Compressed: the run of bytes; otherwise one edge byte per child, in byte order.
    edges: Vec<u8>,
    /// Compressed: exactly one child; otherwise one child per edge byte. Empty for a leaf.
    children: Vec<NodeIx>,
}

impl RaxNode {
    /// Redis's `size` field: the number of bytes (compressed) or of children.
    fn size(&self) -> usize {
        self.edges.len()
    }

    /// Whether Redis would fold this node into a compressed chain: not a key, one child.
    fn is_chain_link(&self) -> bool {
        !self.is_key && (self.compressed || self.size() == 1)
    }
}

/// What `raxLowWalk` reports.
struct Walk {
    /// Bytes of the key consumed.
    matched: usize,
    /// The node where the walk stopped.
    stop: NodeIx,
    /// Inside a compressed `stop`: the index of the first byte not matched. 0 otherwise.
    split_pos: usize,
}

/// A Redis rax holding keys only; see the module documentation.
#[derive(Clone, Debug)]
pub struct Rax {
    nodes: Vec<RaxNode>,
    free: Vec<NodeIx>,
    head: NodeIx,
    numele: u64,
    numnodes: u64,
}

impl Default for Rax {
    fn default() -> Self {
        Self::new()
    }
}

impl Rax {
    /// An empty rax: just the head node, as `raxNew`.
    pub fn new() -> Self {
        Rax {
            nodes: vec![RaxNode::default()],
            free: Vec::new(),
            head: 0,
            numele: 0,
            numnodes: 1,
        }
    }

    /// Builds a rax by inserting `keys` in the order given (Redis's RDB load inserts a stream's
    /// node keys in ascending order).
    pub fn from_keys<K: AsRef<[u8]>>(keys: impl IntoIterator<Item = K>) -> Self {
        let mut rax = Rax::new();
        for k in keys {
            rax.insert(k.as_ref());
        }
        rax
    }

    /// Number of keys (`raxSize`).
    pub fn len(&self) -> u64 {
        self.numele
    }

    pub fn is_empty(&self) -> bool {
        self.numele == 0
    }

    /// Number of nodes (`rax->numnodes`), including the head.
    pub fn node_count(&self) -> u64 {
        self.numnodes
    }

    fn alloc(&mut self, node: RaxNode) -> NodeIx {
        if let Some(ix) = self.free.pop() {
            self.nodes[ix as usize] = node;
            ix
        } else {
            self.nodes.push(node);
            NodeIx::try_from(self.nodes.len() - 1).expect("rax arena exceeds u32 nodes")
        }
    }

    fn release(&mut self, ix: NodeIx) {
        self.nodes[ix as usize] = RaxNode::default();
        self.free.push(ix);
    }

    fn node(&self, ix: NodeIx) -> &RaxNode {
        &self.nodes[ix as usize]
    }

    fn node_mut(&mut self, ix: NodeIx) -> &mut RaxNode {
        &mut self.nodes[ix as usize]
    }

    /// `raxLowWalk`: follows `key` from the head as far as the tree allows. When `stack` is
    /// given, every node walked through (not the stop node) is pushed on it.
    fn low_walk(&self, key: &[u8], mut stack: Option<&mut Vec<NodeIx>>) -> Walk {
        let mut h = self.head;
        let mut i = 0;
        let mut j = 0;
        loop {
            let n = self.node(h);
            if n.size() == 0 || i >= key.len() {
                break;
            }
            if n.compressed {
                j = 0;
                while j < n.size() && i < key.len() && n.edges[j] == key[i] {
                    j += 1;
                    i += 1;
                }
                if j != n.size() {
                    break;
                }
            } else {
                match n.edges.iter().position(|&c| c == key[i]) {
                    Some(pos) => j = pos,
                    None => break,
                }
                i += 1;
            }
            if let Some(stack) = stack.as_deref_mut() {
                stack.push(h);
            }
            h = n.children[if n.compressed { 0 } else { j }];
            j = 0;
        }
        let split_pos = if self.node(h).compressed { j } else { 0 };
        Walk {
            matched: i,
            stop: h,
            split_pos,
        }
    }

    /// `raxInsert` of a key without value. Returns `false` if the key was already present.
    pub fn insert(&mut self, key: &[u8]) -> bool {
        let len = key.len();
        let Walk {
            matched: mut i,
            stop: mut h,
            split_pos: j,
        } = self.low_walk(key, None);

        // The key ends exactly at an existing node.
        if i == len && (!self.node(h).compressed || j == 0) {
            let n = self.node_mut(h);
            if n.is_key {
                return false;
            }
            n.is_key = true;
            self.numele += 1;
            return true;
        }

        if self.node(h).compressed && i != len {
            // ALGO 1: split the compressed node at the mismatching byte `j`.
            let old = std::mem::take(self.node_mut(h));
            let next = old.children[0];
            let postfix_len = old.size() - j - 1;
            let postfix = if postfix_len > 0 {
                self.numnodes += 1;
                self.alloc(RaxNode {
                    is_key: false,
                    compressed: postfix_len > 1,
                    edges: old.edges[j + 1..].to_vec(),
                    children: vec![next],
                })
            } else {
                next
            };
            let split = RaxNode {
                // When the split is at byte 0 the split node replaces the old node, key flag
                // included; otherwise the trimmed node keeps it.
                is_key: j == 0 && old.is_key,
                compressed: false,
                edges: vec![old.edges[j]],
                children: vec![postfix],
            };
            if j == 0 {
                // 3a: the split node takes the old node's place (same slot here).
                *self.node_mut(h) = split;
            } else {
                // 3b: the old node is trimmed to its first `j` bytes and points to the split node.
                let split_ix = self.alloc(split);
                *self.node_mut(h) = RaxNode {
                    is_key: old.is_key,
                    compressed: j > 1,
                    edges: old.edges[..j].to_vec(),
                    children: vec![split_ix],
                };
                h = split_ix;
                self.numnodes += 1;
            }
        } else if self.node(h).compressed && i == len {
            // ALGO 2: the key ends inside the compressed node: split it there, the second half
            // becomes the key node.
            let old = std::mem::take(self.node_mut(h));
            let postfix = self.alloc(RaxNode {
                is_key: true,
                compressed: old.size() - j > 1,
                edges: old.edges[j..].to_vec(),
                children: old.children.clone(),
            });
            self.numnodes += 1;
            *self.node_mut(h) = RaxNode {
                is_key: old.is_key,
                compressed: j > 1,
                edges: old.edges[..j].to_vec(),
                children: vec![postfix],
            };
            self.numele += 1;
            return true;
        }

        // Add the missing nodes for the rest of the key.
        while i < len {
            let child = self.alloc(RaxNode::default());
            let n = self.node_mut(h);
            if n.size() == 0 && len - i > 1 {
                // raxCompressNode: the rest of the key becomes one compressed run.
                let run = (len - i).min(RAX_NODE_MAX_SIZE);
                n.compressed = true;
                n.edges = key[i..i + run].to_vec();
                n.children = vec![child];
                i += run;
            } else {
                // raxAddChild: a new edge byte, kept in byte order.
                debug_assert!(!n.compressed);
                let pos = n.edges.iter().position(|&c| c > key[i]).unwrap_or(n.size());
                n.edges.insert(pos, key[i]);
                n.children.insert(pos, child);
                i += 1;
            }
            self.numnodes += 1;
            h = child;
        }
        if !self.node(h).is_key {
            self.numele += 1;
        }
        self.node_mut(h).is_key = true;
        true
    }

    /// `raxRemove`. Returns `false` if the key was not present.
    pub fn remove(&mut self, key: &[u8]) -> bool {
        let mut stack = Vec::new();
        let walk = self.low_walk(key, Some(&mut stack));
        let mut h = walk.stop;
        {
            let n = self.node(h);
            if walk.matched != key.len() || (n.compressed && walk.split_pos != 0) || !n.is_key {
                return false;
            }
        }
        self.node_mut(h).is_key = false;
        self.numele -= 1;

        let mut try_compress = false;
        if self.node(h).size() == 0 {
            // Free the leaf and the chain of single-child non-key nodes above it.
            let mut child = None;
            while h != self.head {
                child = Some(h);
                self.release(h);
                self.numnodes -= 1;
                h = stack.pop().expect("rax walk stack holds the parents");
                let n = self.node(h);
                if n.is_key || (!n.compressed && n.size() != 1) {
                    break;
                }
            }
            if let Some(child) = child {
                // raxRemoveChild.
                let n = self.node_mut(h);
                if n.compressed {
                    n.compressed = false;
                    n.edges.clear();
                    n.children.clear();
                } else {
                    let pos = n
                        .children
                        .iter()
                        .position(|&c| c == child)
                        .expect("child is linked from its parent");
                    n.edges.remove(pos);
                    n.children.remove(pos);
                }
                if n.size() == 1 && !n.is_key {
                    try_compress = true;
                }
            }
        } else if self.node(h).size() == 1 {
            try_compress = true;
        }

        if try_compress {
            // Climb to the highest node of the compressible chain.
            while let Some(p) = stack.pop() {
                if !self.node(p).is_chain_link() {
                    break;
                }
                h = p;
            }
            let start = h;
            // Collect the chain below it.
            let mut chain = vec![start];
            let mut run = self.node(start).size();
            let mut cur = start;
            while self.node(cur).size() != 0 {
                cur = *self
                    .node(cur)
                    .children
                    .last()
                    .expect("non-empty node has a child");
                let n = self.node(cur);
                if n.is_key || (!n.compressed && n.size() != 1) {
                    break;
                }
                if run + n.size() > RAX_NODE_MAX_SIZE {
                    break;
                }
                chain.push(cur);
                run += n.size();
            }
            if chain.len() > 1 {
                // One new compressed node replaces the whole chain. It reuses `start`'s slot, so
                // the parent's link (Redis's `raxFindParentLink` fix-up) stays valid.
                let tail = *self.node(*chain.last().unwrap()).children.last().unwrap();
                let mut edges = Vec::with_capacity(run);
                for &ix in &chain {
                    edges.extend_from_slice(&self.node(ix).edges);
                }
                self.numnodes += 1;
                for &ix in &chain[1..] {
                    self.release(ix);
                }
                self.numnodes -= chain.len() as u64;
                *self.node_mut(start) = RaxNode {
                    is_key: false,
                    compressed: true,
                    edges,
                    children: vec![tail],
                };
            }
        }
        true
    }

    /// Whether `key` is present.
    pub fn contains(&self, key: &[u8]) -> bool {
        let w = self.low_walk(key, None);
        let n = self.node(w.stop);
        w.matched == key.len() && (!n.compressed || w.split_pos == 0) && n.is_key
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    /// Counts nodes by walking the tree (checks the bookkeeping) and checks invariants.
    fn walk_count(rax: &Rax) -> u64 {
        fn go(rax: &Rax, ix: NodeIx, keys: &mut u64) -> u64 {
            let n = rax.node(ix);
            if n.compressed {
                assert_eq!(n.children.len(), 1);
                assert!(n.size() > 1);
            } else {
                assert_eq!(n.children.len(), n.edges.len());
                assert!(n.edges.windows(2).all(|w| w[0] < w[1]));
            }
            if n.is_key {
                *keys += 1;
            }
            1 + n.children.iter().map(|&c| go(rax, c, keys)).sum::<u64>()
        }
        let mut keys = 0;
        let count = go(rax, rax.head, &mut keys);
        assert_eq!(keys, rax.len());
        count
    }

    #[test]
    fn empty_and_single_key() {
        let mut rax = Rax::new();
        assert_eq!(rax.node_count(), 1);
        assert!(rax.insert(b"0123456789abcdef"));
        assert!(!rax.insert(b"0123456789abcdef"));
        // The head becomes a compressed node of 16 bytes pointing to the key leaf.
        assert_eq!(rax.node_count(), 2);
        assert!(rax.remove(b"0123456789abcdef"));
        assert!(!rax.remove(b"0123456789abcdef"));
        assert_eq!(rax.node_count(), 1);
        assert!(rax.is_empty());
    }

    #[test]
    fn split_and_recompress() {
        let mut rax = Rax::new();
        rax.insert(b"aaaaXbbb");
        rax.insert(b"aaaaYccc");
        // "aaaa" -> [X|Y] -> "bbb" -> leaf, "ccc" -> leaf
        assert_eq!(rax.node_count(), 6);
        rax.insert(b"aaaaYccd");
        // "ccc" splits into "cc" -> [c|d] -> two leaves
        assert_eq!(rax.node_count(), 8);
        assert_eq!(walk_count(&rax), 8);
        rax.remove(b"aaaaYccd");
        assert_eq!(rax.node_count(), 6);
        rax.remove(b"aaaaXbbb");
        // Back to a single compressed chain.
        assert_eq!(rax.node_count(), 2);
        assert_eq!(walk_count(&rax), 2);
    }

    #[test]
    fn variable_length_keys() {
        let mut rax = Rax::new();
        for k in [
            &b"ANNIBALE"[..],
            b"ANNIBALESCO",
            b"ANNI",
            b"AGO",
            b"CIAO",
            b"ANNIENTARE",
        ] {
            assert!(rax.insert(k));
            walk_count(&rax);
        }
        for k in [
            &b"ANNI"[..],
            b"CIAO",
            b"ANNIBALESCO",
            b"AGO",
            b"ANNIENTARE",
            b"ANNIBALE",
        ] {
            assert!(rax.contains(k));
            assert!(rax.remove(k));
            assert!(!rax.contains(k));
            assert_eq!(walk_count(&rax), rax.node_count());
        }
        assert_eq!(rax.node_count(), 1);
    }

    fn splitmix(state: &mut u64) -> u64 {
        *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = *state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// With equal-length keys the tree is the same whatever the history: after random inserts
    /// and removes, a fresh rax built from the surviving keys in order has the same node count.
    #[test]
    fn equal_length_keys_are_history_independent() {
        for seed in 0..40u64 {
            let mut st = seed;
            let mut rax = Rax::new();
            let mut keys = BTreeSet::new();
            for _ in 0..400 {
                let mut k = [0u8; 6];
                let r = splitmix(&mut st);
                // Few distinct bytes so prefixes are shared a lot.
                for (i, b) in k.iter_mut().enumerate() {
                    *b = ((r >> (i * 3)) & 3) as u8;
                }
                if splitmix(&mut st).is_multiple_of(3) {
                    assert_eq!(rax.remove(&k), keys.remove(&k));
                } else {
                    assert_eq!(rax.insert(&k), keys.insert(k));
                }
                assert_eq!(walk_count(&rax), rax.node_count());
                assert_eq!(
                    Rax::from_keys(keys.iter()).node_count(),
                    rax.node_count(),
                    "seed {seed}"
                );
            }
        }
    }
}
