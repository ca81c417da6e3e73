//! Appends and trims: creating streams, XADD's append into the stream's open run, the end of a
//! command (sealing what its own trim may no longer cancel), trimming and XDEL rewriting runs,
//! and the atomic sections (EXEC) that must land in one batch.
//!
//! Invariants: the run layout of `store.rs` (runs of a stream never overlap, keys are lower
//! bounds, appends open a run above every existing one) holds at every command boundary; a
//! stream's metadata and node summaries change together with the runs they describe.

use super::*;

impl Store {
    /// The stream at `name`: `Ok(None)` if missing, `Err(WrongType)` if another type.
    pub fn stream(
        &mut self,
        db: usize,
        name: &[u8],
        now_ms: u64,
    ) -> std::result::Result<Option<&StreamMeta>, WrongType> {
        match self.lookup(db, name, now_ms).map(|e| &e.value) {
            None => Ok(None),
            Some(Value::Stream(m)) => Ok(Some(m)),
            Some(_) => Err(WrongType),
        }
    }

    /// Mutable access to a stream; marks its metadata for rewriting at the next commit.
    pub fn stream_mut(
        &mut self,
        db: usize,
        name: &[u8],
        now_ms: u64,
    ) -> std::result::Result<Option<&mut StreamMeta>, WrongType> {
        if self.dirs[db].expires_len() > 0 {
            self.expire_if_due(db, name, now_ms);
        }
        let meta = match self.dirs[db].get_mut(name).map(|e| &mut e.value) {
            None => return Ok(None),
            Some(Value::Stream(m)) => m,
            Some(_) => return Err(WrongType),
        };
        // Rewritten at the next commit; WATCHers are touched only by real changes.
        mark_dirty(&mut self.dirty_streams, &mut self.last_dirty, db, name);
        Ok(Some(meta))
    }

    /// Creates an empty stream at `name` (which must not exist) with a new incarnation.
    pub fn stream_create(&mut self, db: usize, name: Bytes) {
        let sid = self.next_sid;
        self.next_sid += 1;
        self.pending_keys.insert(
            NEXT_SID_KEY.to_vec(),
            Some(self.next_sid.to_be_bytes().to_vec()),
        );
        let entry = Entry {
            value: Value::Stream(Box::new(StreamMeta::new(sid))),
            expire_at: None,
        };
        self.put(db, name, entry);
    }

    /// Appends an entry to the stream at `name`: `id` must be greater than its last ID. Updates
    /// the metadata and the node layout and stages the writes.
    pub fn stream_append(
        &mut self,
        db: usize,
        name: &[u8],
        id: StreamId,
        fields: &[Bytes],
        limits: NodeLimits,
        now_ms: u64,
    ) {
        // An earlier append of the same command (tests append several) is staged first.
        self.end_command();
        let Ok(Some(meta)) = self.stream_mut(db, name, now_ms) else {
            debug_assert!(false, "append to a missing stream");
            return;
        };
        debug_assert!(
            id > meta.last_id || (meta.last_id == StreamId::MIN && meta.entries_added == 0)
        );
        // The field/value pairs, on the stack for the usual handful of fields.
        let empty = Bytes::new();
        let mut small = [(&empty, &empty); 8];
        let heap: Vec<(&Bytes, &Bytes)>;
        let pairs: &[(&Bytes, &Bytes)] = if fields.len() <= 2 * small.len() {
            for (slot, p) in small.iter_mut().zip(fields.chunks_exact(2)) {
                *slot = (&p[0], &p[1]);
            }
            &small[..fields.len() / 2]
        } else {
            heap = fields.chunks_exact(2).map(|p| (&p[0], &p[1])).collect();
            &heap
        };
        let out = meta.layout.append(id, pairs, limits);
        if meta.len() == 1 {
            meta.first_id = id;
        }
        meta.last_id = id;
        meta.entries_added += 1;
        meta.node_changed(out.node);
        let raw = Bytes::from(entry::encode(fields));
        meta.tail_push(id, raw.clone());
        self.fresh = Some((meta.sid, id, raw));
        self.touch(db, name);
        self.ready.note(db, name);
    }

    /// Stages the running command's appended entry (into its stream's open run). The engine
    /// calls this after every command.
    pub fn end_command(&mut self) {
        let Some((sid, id, raw)) = self.fresh.take() else {
            return;
        };
        let limits = self.run_limits;
        debug_assert!(
            self.open_runs.contains_key(&sid)
                || Runs::new(&self.entries, &self.overlay, None, sid)
                    .range(id, StreamId::MAX, false)
                    .next()
                    .is_none(),
            "a new open run at {id} of incarnation {sid} is not above every run"
        );
        let run_cache = &mut self.run_cache;
        let open = self.open_runs.entry(sid).or_insert_with(|| {
            run_cache.new_run(sid, id);
            RunBuilder::new(id)
        });
        if !open.is_empty()
            && (open.len() >= limits.max_entries || open.body_len() + raw.len() > limits.max_bytes)
        {
            // Full: stage it now and start the next run at this entry.
            run_cache.new_run(sid, id);
            let full = std::mem::replace(open, RunBuilder::new(id));
            self.overlay
                .put_new(sid, full.key(), Slice::from(full.finish()));
        }
        open.push(id, &raw);
    }

    /// Moves every open run into the overlay (at the commit).
    pub(super) fn seal_open_runs(&mut self) {
        for (sid, open) in self.open_runs.drain() {
            self.overlay
                .put_new(sid, open.key(), Slice::from(open.finish()));
        }
    }

    /// Moves the open run of `sid` into the overlay, so that XDEL and trimming, which rewrite
    /// runs of the overlay and of fjall, never have to rewrite an open run. The stream's next
    /// append starts a new one.
    pub(super) fn seal_open_run(&mut self, sid: u64) {
        if let Some(open) = self.open_runs.remove(&sid) {
            self.overlay
                .put_new(sid, open.key(), Slice::from(open.finish()));
        }
    }

    /// True when trimming the stream at `name` certainly changes nothing (see
    /// [`NodeLayout::trim_is_noop`]); `adding`: an entry about to be appended.
    pub fn trim_is_noop(
        &mut self,
        db: usize,
        name: &[u8],
        strategy: Trim,
        approx: bool,
        adding: Option<StreamId>,
        now_ms: u64,
    ) -> bool {
        match self.stream(db, name, now_ms) {
            Ok(Some(m)) => m.layout.trim_is_noop(strategy, approx, m.first_id, adding),
            Ok(None) => adding.is_none(),
            Err(_) => false,
        }
    }

    /// Trims the stream at `name` as XTRIM/XADD do; returns how many entries were removed.
    /// `protect`: an entry staged by the running command (XADD's own), which may be trimmed too.
    pub fn stream_trim(
        &mut self,
        db: usize,
        name: &[u8],
        spec: TrimSpec,
        protect: Option<StreamId>,
        now_ms: u64,
    ) -> Result<u64> {
        let TrimSpec {
            strategy,
            approx,
            limit,
        } = spec;
        if self.trim_is_noop(db, name, strategy, approx, None, now_ms) {
            return Ok(0);
        }
        let Some((sid, first)) = self
            .stream(db, name, now_ms)
            .ok()
            .flatten()
            .map(|m| (m.sid, m.first_id))
        else {
            return Ok(0);
        };
        // Earlier commands' entries are read through the overlay; the running command's own
        // (XADD's, `protect`) waits in `fresh` and is counted apart. Trimming may rewrite the
        // run the stream's appends are gathered in: seal it first.
        self.seal_open_run(sid);
        // Read what trimming may need before changing anything: the live IDs from the head.
        let mut reader_error = None;
        let outcome = {
            let Store {
                dirs,
                entries,
                overlay,
                dirty_streams,
                last_dirty,
                ..
            } = self;
            let Some(Value::Stream(meta)) = dirs[db].get_mut(name).map(|e| &mut e.value) else {
                return Ok(0);
            };
            mark_dirty(dirty_streams, last_dirty, db, name);
            let runs = Runs::new(entries, overlay, None, sid);
            meta.layout.trim(strategy, approx, limit, |from, to| {
                match count_live(&runs, from.max(first), to) {
                    Ok(n) => n + u64::from(protect.is_some_and(|p| p >= from && p < to)),
                    Err(e) => {
                        reader_error = Some(e);
                        0
                    }
                }
            })
        };
        if let Some(e) = reader_error {
            return Err(e);
        }
        if outcome.removed == 0 {
            // Nodes left with no live entry (by an exact MINID trim) can still have been
            // dropped: the layout changed even though no entry did.
            for (m, _) in &outcome.dropped_nodes {
                self.pending_smeta.insert(node_key(sid, *m), None);
            }
            return Ok(0);
        }
        self.touch(db, name);
        // The removed entries are the first `removed` live ones: whole runs from the head go,
        // the run holding the last of them is rewritten without them.
        let mut left = outcome.removed;
        let mut last_doomed = None;
        let mut next_first = None;
        let mut gone: Vec<StreamId> = Vec::new();
        let mut rewrite = None;
        visit_runs(
            &self.runs(sid),
            None,
            first,
            StreamId::MAX,
            false,
            |key, value| {
                let ids = decode_run(sid, key, &value)?;
                debug_assert!(ids.first().is_some_and(|(id, _)| *id >= first));
                if left == 0 {
                    next_first = ids.first().map(|(id, _)| *id);
                    return Ok(false);
                }
                let n = ids.len() as u64;
                if left >= n {
                    left -= n;
                    gone.push(key);
                    last_doomed = ids.last().map(|(id, _)| *id);
                    return Ok(true);
                }
                let cut = left as usize;
                left = 0;
                last_doomed = Some(ids[cut - 1].0);
                next_first = Some(ids[cut].0);
                let mut b = RunBuilder::new(key);
                for (id, r) in &ids[cut..] {
                    b.push(*id, &value[r.clone()]);
                }
                rewrite = Some((key, b.finish()));
                Ok(false)
            },
        )?;
        let mut removed_own = false;
        if let Some(p) = protect {
            if left > 0 {
                debug_assert_eq!(left, 1, "trim removed more entries than the stream has");
                removed_own = true;
                last_doomed = Some(p);
            } else if next_first.is_none() {
                next_first = Some(p);
            }
        }
        debug_assert!(left == u64::from(removed_own), "trim past the stream's end");
        self.run_cache.rewritten(sid);
        for key in gone {
            self.overlay.remove(sid, key);
        }
        if let Some((key, value)) = rewrite {
            self.overlay.rewrite(sid, key, Slice::from(value));
        }
        if removed_own {
            // The command's own entry was never staged: dropping it is all it takes.
            debug_assert!(self
                .fresh
                .as_ref()
                .is_some_and(|(s, id, _)| *s == sid && Some(*id) == protect));
            self.fresh = None;
        }
        let Ok(Some(meta)) = self.stream_mut(db, name, now_ms) else {
            return Ok(outcome.removed);
        };
        if let Some(last_doomed) = last_doomed {
            meta.tail_drop_through(last_doomed);
        }
        meta.first_id = if meta.is_empty() {
            StreamId::MIN
        } else {
            next_first.unwrap_or(StreamId::MIN)
        };
        let changed: Vec<(StreamId, Option<Vec<u8>>)> = outcome
            .dropped_nodes
            .iter()
            .map(|(m, _)| (*m, None))
            .chain(
                outcome
                    .partial_node
                    .map(|m| (m, meta.layout.node(m).map(NodeSummary::to_bytes))),
            )
            .collect();
        for (m, v) in changed {
            self.pending_smeta.insert(node_key(sid, m), v);
        }
        Ok(outcome.removed)
    }

    /// Deletes entries by ID (XDEL); returns how many existed.
    pub fn stream_delete(
        &mut self,
        db: usize,
        name: &[u8],
        ids: &[StreamId],
        now_ms: u64,
    ) -> Result<u64> {
        let Some(sid) = self.stream(db, name, now_ms).ok().flatten().map(|m| m.sid) else {
            return Ok(0);
        };
        // XDEL may rewrite the run the stream's appends are gathered in: seal it first.
        self.seal_open_run(sid);
        let mut first_deleted = false;
        let mut seen = HashSet::new();
        let mut deleted: AHashSet<StreamId> = AHashSet::new();
        // The runs this command changes, by key: their value and the entries still in them.
        struct Touched {
            value: Slice,
            ids: Vec<(StreamId, std::ops::Range<usize>)>,
            changed: bool,
        }
        let mut touched: std::collections::BTreeMap<StreamId, Touched> = Default::default();
        for &id in ids {
            if !seen.insert(id) {
                continue;
            }
            // The runs do not change during the command (the rewrites are staged at its end),
            // so the run that may hold `id` is still the one at or before it.
            let Some((key, value)) = self.runs(sid).at_or_before(id)? else {
                continue;
            };
            let run = match touched.entry(key) {
                std::collections::btree_map::Entry::Occupied(o) => o.into_mut(),
                std::collections::btree_map::Entry::Vacant(v) => {
                    let ids = decode_run(sid, key, &value)?;
                    v.insert(Touched {
                        value,
                        ids,
                        changed: false,
                    })
                }
            };
            let Ok(at) = run.ids.binary_search_by(|(e, _)| e.cmp(&id)) else {
                continue;
            };
            let Ok(Some(meta)) = self.stream_mut(db, name, now_ms) else {
                break;
            };
            let Some(out) = meta.layout.delete(id) else {
                continue;
            };
            meta.tail_remove(id);
            if id == meta.first_id {
                first_deleted = true;
            }
            if id > meta.max_deleted {
                meta.max_deleted = id;
            }
            let node = if out.node_removed {
                None
            } else {
                meta.layout.node(out.node).map(NodeSummary::to_bytes)
            };
            self.pending_smeta.insert(node_key(sid, out.node), node);
            run.ids.remove(at);
            run.changed = true;
            deleted.insert(id);
        }
        if deleted.is_empty() {
            return Ok(0);
        }
        self.touch(db, name);
        // The deletes are not staged yet: find the new first entry past them.
        let (empty, first) = match self.stream(db, name, now_ms) {
            Ok(Some(m)) => (m.is_empty(), m.first_id),
            _ => return Ok(deleted.len() as u64),
        };
        let new_first = if empty {
            StreamId::MIN
        } else if first_deleted {
            let mut found = StreamId::MIN;
            self.scan_ids(sid, first, StreamId::MAX, |id| {
                if deleted.contains(&id) {
                    true
                } else {
                    found = id;
                    false
                }
            })?;
            found
        } else {
            first
        };
        if let Ok(Some(meta)) = self.stream_mut(db, name, now_ms) {
            meta.first_id = new_first;
        }
        self.run_cache.rewritten(sid);
        for (key, run) in touched {
            if !run.changed {
                continue;
            }
            if run.ids.is_empty() {
                self.overlay.remove(sid, key);
            } else {
                // Same key: still a lower bound of what is left.
                let mut b = RunBuilder::new(key);
                for (id, r) in &run.ids {
                    b.push(*id, &run.value[r.clone()]);
                }
                self.overlay.rewrite(sid, key, Slice::from(b.finish()));
            }
        }
        Ok(deleted.len() as u64)
    }

    /// Starts an atomic section: everything staged from here to the matching
    /// [`Store::end_atomic`] reaches the disk in the same fjall batch, committed after the
    /// section ends (at the end of the drain). EXEC runs its queued commands in one; so will
    /// scripts. Sections nest.
    ///
    /// Nothing in a command commits — reads see staged writes through the overlay, and the
    /// engine commits only between commands — so a section is kept whole by construction; the
    /// section asserts it: [`Store::commit`] and [`Store::reap`] inside one are bugs
    /// (`debug_assert!`; a release build commits anyway rather than leave the drain's
    /// writes unpersisted behind its replies).
    pub fn begin_atomic(&mut self) {
        self.atomic += 1;
    }

    /// Ends the atomic section started by the matching [`Store::begin_atomic`].
    pub fn end_atomic(&mut self) {
        debug_assert!(self.atomic > 0, "end_atomic without begin_atomic");
        self.atomic = self.atomic.saturating_sub(1);
    }

    /// True inside an atomic section.
    pub fn in_atomic(&self) -> bool {
        self.atomic > 0
    }
}
