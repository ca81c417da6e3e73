//! The in-memory head of each queue: a bounded window over the start of its queue index, so
//! GETJOB takes the next job without a range scan of the index (whose memtable holds a
//! tombstone for every job fetched before it), refilled from the store when it runs dry.
//!
//! Invariant (per queue, at every command boundary): [`Queue::head`] equals the first
//! `head.len()` entries of the queue's index (pending writes merged over fjall), in order, and
//! `head.len() <= HEAD_MAX`. [`index_insert`] and [`index_remove`] keep it; `Jobs::put` calls
//! them for every change of the queue index, before it changes the queue's length. An empty
//! head is always valid (a queue loaded from disk starts with one); `Jobs::fetch` refills it
//! with one range scan when it is empty while the queue is not, so a queue of any length costs
//! one scan per `HEAD_MAX` jobs fetched. Memory: at most `HEAD_MAX` × 28 bytes per queue,
//! whatever its length; a queue short enough to fit is wholly in its head and never scanned.

use super::id::JobId;
use super::record::Queue;

/// Most entries of a queue's head.
pub const HEAD_MAX: usize = 256;

/// `(ctime, id)` enters the queue index of `q` (whose `len` does not count it yet).
pub(super) fn index_insert(q: &mut Queue, ctime: u64, id: JobId) {
    let e = (ctime, id);
    // The head holds the whole queue, or the new entry sorts before its last one: it belongs
    // in the head. Otherwise it sorts after entries that are not in the head, and stays out.
    let whole = q.head.len() as u64 == q.len;
    if whole || q.head.back().is_some_and(|last| e < *last) {
        let at = q.head.partition_point(|x| *x < e);
        q.head.insert(at, e);
        if q.head.len() > HEAD_MAX {
            q.head.pop_back();
        }
    }
}

/// `(ctime, id)` leaves the queue index of `q` (whose `len` still counts it).
pub(super) fn index_remove(q: &mut Queue, ctime: u64, id: &JobId) {
    let e = (ctime, *id);
    if q.head.front() == Some(&e) {
        q.head.pop_front();
    } else if let Ok(at) = q.head.binary_search(&e) {
        q.head.remove(at);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u8) -> JobId {
        JobId([n; 20])
    }

    /// Applies inserts and removes to a model queue index and to a head, checking after each
    /// step that the head is a prefix of the model and refilling it when empty.
    #[test]
    fn the_head_stays_a_prefix_of_the_index() {
        let mut q = Queue::default();
        let mut model: std::collections::BTreeSet<(u64, JobId)> = Default::default();
        let mut x: u64 = 12345;
        for step in 0..20_000u64 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let r = x >> 33;
            if !r.is_multiple_of(3) || model.is_empty() {
                // Mostly appends at the tail, sometimes earlier ctimes (requeues).
                let ctime = if r.is_multiple_of(7) {
                    r % 1000
                } else {
                    1000 + step
                };
                let e = (ctime, id((r % 251) as u8));
                if model.insert(e) {
                    index_insert(&mut q, e.0, e.1);
                    q.len += 1;
                }
            } else {
                // The front (GETJOB) or any entry (ACKJOB, DEQUEUE, timers).
                let e = if r.is_multiple_of(2) {
                    *model.iter().next().expect("not empty")
                } else {
                    *model
                        .iter()
                        .nth((r as usize / 2) % model.len())
                        .expect("in range")
                };
                model.remove(&e);
                index_remove(&mut q, e.0, &e.1);
                q.len -= 1;
            }
            if q.head.is_empty() {
                q.head.extend(model.iter().take(HEAD_MAX).copied());
            }
            assert!(q.head.len() <= HEAD_MAX);
            assert!(
                q.head.iter().zip(model.iter()).all(|(a, b)| a == b),
                "step {step}: the head is not a prefix of the index"
            );
        }
    }
}
