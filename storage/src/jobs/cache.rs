//! A bounded, write-through cache of recent job records and small bodies, in front of the
//! store's point reads: a job is usually fetched soon after it is added and acknowledged soon
//! after it is fetched, and each of those would otherwise read its record (and GETJOB its
//! body) back from fjall.
//!
//! Invariant: every entry equals the job's state in pending writes merged over fjall (every
//! change of a job goes through `Jobs::put`, which updates or drops its entry); an entry with
//! a body holds the job's body. At most [`CACHE_JOBS`] entries and bodies of at most
//! [`CACHE_BODY_MAX`] bytes, so the cache holds a few MB whatever the number of jobs.

use std::collections::VecDeque;

use ahash::AHashMap as HashMap;
use bytes::Bytes;

use super::id::JobId;
use super::record::Job;

/// Most jobs in the cache.
pub const CACHE_JOBS: usize = 4096;
/// Larger bodies are not cached (read from the store when needed).
pub const CACHE_BODY_MAX: usize = 1024;

struct Entry {
    job: Job,
    body: Option<Bytes>,
}

/// See the module docs.
#[derive(Default)]
pub(super) struct RecordCache {
    map: HashMap<JobId, Entry>,
    /// Insertion order, for eviction; may name jobs no longer in `map`, or twice.
    order: VecDeque<JobId>,
}

impl RecordCache {
    pub(super) fn get(&self, id: &JobId) -> Option<&Job> {
        self.map.get(id).map(|e| &e.job)
    }

    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.map.len()
    }

    pub(super) fn body(&self, id: &JobId) -> Option<&Bytes> {
        self.map.get(id).and_then(|e| e.body.as_ref())
    }

    /// The job's record changed (or is new): `job` is its state now. A cached body is kept.
    pub(super) fn put(&mut self, id: &JobId, job: &Job) {
        if let Some(e) = self.map.get_mut(id) {
            e.job.clone_from(job);
            return;
        }
        self.put_owned(*id, job.clone());
    }

    /// [`RecordCache::put`] of a record the caller gives up (no copy).
    pub(super) fn put_owned(&mut self, id: JobId, job: Job) {
        if let Some(e) = self.map.get_mut(&id) {
            e.job = job;
            return;
        }
        self.map.insert(id, Entry { job, body: None });
        self.order.push_back(id);
        self.evict();
    }

    /// The body of a cached job (called once, when the job is added).
    pub(super) fn put_body(&mut self, id: &JobId, body: &Bytes) {
        if body.len() <= CACHE_BODY_MAX {
            if let Some(e) = self.map.get_mut(id) {
                e.body = Some(body.clone());
            }
        }
    }

    /// The job is gone.
    pub(super) fn remove(&mut self, id: &JobId) {
        self.map.remove(id);
    }

    fn evict(&mut self) {
        while self.map.len() > CACHE_JOBS {
            match self.order.pop_front() {
                Some(old) => {
                    self.map.remove(&old);
                }
                None => break,
            }
        }
        // Names of removed jobs pile up in `order`: drop them once they outnumber the live.
        if self.order.len() > 2 * CACHE_JOBS.max(self.map.len()) {
            let map = &self.map;
            self.order.retain(|id| map.contains_key(id));
        }
    }
}
