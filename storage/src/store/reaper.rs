//! The reaper: deleting the entries and node records of dead stream incarnations (a DEL of a
//! stream answers at once; the data goes here, a bounded amount per periodic tick).
//!
//! Invariant: a dead incarnation's records are only deleted after its tombstone is committed,
//! and its tombstone only after its last record.

use super::*;

impl Store {
    /// Deletes up to `budget` records of dead stream incarnations; returns how many. The engine
    /// runs it from its periodic task, so DEL of a huge stream answers at once and the space
    /// comes back in the background.
    pub fn reap(&mut self, budget: usize) -> Result<usize> {
        let Some((sid, resume)) = self.dead.first().cloned() else {
            return Ok(0);
        };
        debug_assert!(self.atomic == 0, "reap inside an atomic section");
        // Nothing of a dead incarnation is staged (`drop_value`): fjall holds all there is.
        let prefix = sid.to_be_bytes();
        let start = resume.unwrap_or_else(|| prefix.to_vec());
        let mut done = 0usize;
        let mut last = None;
        let entries = self.entries.clone();
        let end = (sid.checked_add(1)).map(|s| s.to_be_bytes().to_vec());
        let range: Box<dyn Iterator<Item = fjall::Guard>> = match &end {
            Some(end) => Box::new(entries.range(start.clone()..end.clone())),
            None => Box::new(entries.range(start.clone()..)),
        };
        let batch = self.batch.get_or_insert_with(|| self.db.batch());
        for guard in range {
            if done >= budget {
                break;
            }
            let k = guard.key()?;
            batch.remove(&entries, k.to_vec());
            last = Some(k.to_vec());
            done += 1;
        }
        if done < budget {
            // Entries are gone: remove the node records and the marker.
            let smeta = self.smeta.clone();
            for guard in smeta.prefix(prefix) {
                let k = guard.key()?;
                self.batch
                    .get_or_insert_with(|| self.db.batch())
                    .remove(&smeta, k.to_vec());
                done += 1;
            }
            self.pending_keys.insert(dead_key(sid), None);
            self.dead.remove(0);
        } else if let Some(first) = self.dead.first_mut() {
            // Resume after the last key deleted, never re-walking its tombstones.
            let mut next = last.unwrap_or(start);
            next.push(0);
            first.1 = Some(next);
        }
        self.commit()?;
        Ok(done)
    }

    /// Dead stream incarnations still being reaped.
    pub fn dead_streams(&self) -> usize {
        self.dead.len()
    }
}
