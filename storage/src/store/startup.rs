//! Opening a store: fjall's database and keyspaces (after the pre-open checks of `opening.rs`),
//! the data-format check, and loading the in-memory key directories, stream metadata, groups
//! and the job store from disk.
//!
//! Invariant: after `open` returns, the in-memory state equals what the keyspaces hold (keys
//! that expired while the server was down are dropped); nothing is written except the format
//! record of a new database.

use super::*;

impl Store {
    /// Opens (or creates) the store in `path` and loads the key directories and stream
    /// metadata (not the entries).
    pub fn open(path: &Path, opts: &StoreOptions, now_ms: u64) -> Result<Store> {
        assert!(
            opts.databases >= 1 && opts.databases <= 256,
            "databases must be 1..=256"
        );
        // What fjall needs is checked before fjall touches the directory (it would delete a
        // keyspace without `current`, or create a database over one without its marker).
        let layout = opening::preflight(path)?;
        let db = Database::builder(path)
            .manual_journal_persist(true)
            .cache_size(opts.cache_size)
            .open()
            .map_err(|e| opening::open_failure(path, layout.as_ref(), e))?;
        if let Some(layout) = &layout {
            opening::report_dropped_tails(layout);
            opening::report_deleted_keyspaces(layout);
        }
        opening::require_keyspaces(&db, path)?;
        // fjall's default memtable size (64 MiB) for every keyspace. Each drain rewrites a few
        // small records here (the stream's key record, group and consumer records, a PEL log
        // record), and with 16 MiB memtables these keyspaces flushed four times as often; every
        // flush installs a new version of the tree under a lock that commits wait on (lsm-tree
        // fsyncs the version file while holding it). Measured on XREADGROUP -P 16: commits
        // over 5 ms 33 -> 11, p999 32.8 -> 7.5 ms.
        let keys = db.keyspace("keys", || keyspace_options("keys"))?;
        let entries = db.keyspace("entries", || keyspace_options("entries"))?;
        let smeta = db.keyspace("smeta", || keyspace_options("smeta"))?;
        // The job store (`crate::jobs`) in its own keyspace, with smaller memtables: what a
        // queued job costs in RAM is its share of the memtables until they are flushed, so a
        // 64 MiB memtable (and the one being flushed) made a million queued jobs cost ~250 MB;
        // smaller memtables are also quicker to insert into. Measured after 1M pipelined
        // ADDJOBs of 32-byte bodies: RSS 249 -> 123 MB.
        // `jobs` came after the other keyspaces: directories from before it get it at their first
        // open (and their job records moved into it). From then on `keys` holds a marker, so a
        // `jobs` directory lost later is refused instead of recreated empty (every queued job
        // would be gone without a word).
        // The job store's records were later split over five keyspaces
        // (`jobs/spaces.rs`); the marker's value says which exist (1: `jobs`; 2: all five).
        // Only read when one is missing (a damaged `keys` is reported by `load`, with context).
        let missing: Vec<&str> = crate::jobs::spaces::NAMES
            .into_iter()
            .filter(|n| !db.keyspace_exists(n))
            .collect();
        let required: &[&str] = if missing.is_empty() {
            &[]
        } else {
            match keys.get(JOBS_KEYSPACE_KEY)?.as_deref() {
                None => &[],
                Some([JOBS_SPLIT]) => &crate::jobs::spaces::NAMES,
                Some(_) => &["jobs"],
            }
        };
        for name in required {
            if missing.contains(name) {
                return Err(StoreError::Corrupt(format!(
                    "the data directory {} lacks keyspace `{name}` (its directory under {}/ is \
                     gone, while `keys` records that it existed). {}",
                    path.display(),
                    path.join(crate::check::KEYSPACES_DIR).display(),
                    crate::check::remedy(path)
                )));
            }
        }
        let jobs = crate::jobs::spaces::Spaces::open(&db)?;

        let mut store = Store::from_parts(db, keys, entries, smeta, jobs, opts);
        store.data_dir = Some(path.to_path_buf());
        match store.load(now_ms) {
            Ok(()) => Ok(store),
            Err((opening::Loading::Keys, e)) => {
                let read = [("keys", &store.keys), ("smeta", &store.smeta)];
                Err(opening::load_failure(
                    path,
                    opening::Loading::Keys,
                    &read,
                    e,
                ))
            }
            Err((opening::Loading::Jobs, e)) => {
                let read: Vec<_> = store.jobs.spaces().all().collect();
                Err(opening::load_failure(
                    path,
                    opening::Loading::Jobs,
                    &read,
                    e,
                ))
            }
        }
    }

    /// A store on an open database with its keyspaces, nothing loaded (`open` loads; the
    /// offline salvage reads the records itself).
    pub(crate) fn from_parts(
        db: Database,
        keys: Keyspace,
        entries: Keyspace,
        smeta: Keyspace,
        jobs: crate::jobs::spaces::Spaces,
        opts: &StoreOptions,
    ) -> Store {
        Store {
            db,
            keys: keys.clone(),
            entries,
            smeta,
            dirs: (0..opts.databases).map(|_| KeyDir::new()).collect(),
            slots: (0..opts.databases).map(|d| d as u8).collect(),
            batch: None,
            overlay: Overlay::default(),
            atomic: 0,
            fresh: None,
            open_runs: HashMap::new(),
            run_limits: RunLimits::default(),
            run_cache: RunCache::default(),
            pending_keys: HashMap::new(),
            pending_smeta: HashMap::new(),
            dirty_streams: AHashSet::new(),
            last_dirty: None,
            next_sid: 1,
            dead: Vec::new(),
            drop_first: AHashSet::new(),
            table_drop: None,
            data_dir: None,
            drop_min_entries: super::reaper::DROP_MIN_ENTRIES,
            unpersisted: false,
            touched: Vec::new(),
            track_touches: false,
            ready: ReadyKeys::default(),
            touching: true,
            pel_log_min_ops: opts.pel_log_min_ops,
            counter_rules: opts.counter_rules,
            jobs: crate::jobs::Jobs::new(jobs),
            queue_schedule: Default::default(),
            idmp_streams: Default::default(),
        }
    }

    /// Loads everything from disk; a failure says whether it was the job store's, so that
    /// `open` does not blame the key directory for it.
    pub(super) fn load(
        &mut self,
        now_ms: u64,
    ) -> std::result::Result<(), (opening::Loading, StoreError)> {
        use opening::Loading;
        self.check_format().map_err(|e| (Loading::Keys, e))?;
        self.jobs.load(&self.keys).map_err(|e| (Loading::Jobs, e))?;
        self.load_keyspace(now_ms).map_err(|e| (Loading::Keys, e))
    }

    /// The key directories, expiring what is due at `now_ms`; commits what loading staged
    /// (the job store's first records too).
    fn load_keyspace(&mut self, now_ms: u64) -> Result<()> {
        if let Some(raw) = self.keys.get(NEXT_SID_KEY)? {
            let b: [u8; 8] = raw
                .as_ref()
                .try_into()
                .map_err(|_| StoreError::Corrupt("next_sid".into()))?;
            self.next_sid = u64::from_be_bytes(b);
        }
        self.slots = read_db_map(&self.keys, self.dirs.len())?;
        let owners = slot_owners(&self.slots);
        let mut expired = Vec::new();
        let mut streams = 0usize;
        for guard in self.keys.prefix([TAG_KEY]) {
            let (k, v) = guard.into_inner()?;
            if k.len() < 2 {
                return Err(StoreError::Corrupt(format!("key record too short: {k:?}")));
            }
            // The database whose slot this is (see `DB_MAP_KEY`).
            let slot = usize::from(k[1]);
            let db = owners[slot].unwrap_or(usize::MAX);
            let mut entry = decode_entry(&v)
                .ok_or_else(|| StoreError::Corrupt(format!("bad key record for {k:?}")))?;
            if db >= self.dirs.len() {
                return Err(StoreError::Corrupt(format!(
                    "key in database {slot} but only {} databases are configured",
                    self.dirs.len()
                )));
            }
            if let Value::Stream(meta) = &mut entry.value {
                meta.layout = self.load_layout(meta.sid)?;
                self.load_groups(meta)?;
                self.load_idmp(meta)?;
                if meta.idmp.is_some() {
                    self.idmp_streams.note(meta.sid, db, &k[2..]);
                }
                queue::schedule_loaded(&mut self.queue_schedule, db, &k[2..], meta);
                streams += 1;
            }
            if entry.expire_at.is_some_and(|at| at <= now_ms) {
                expired.push((db, Bytes::copy_from_slice(&k[2..]), entry));
                continue;
            }
            self.dirs[db].insert(Bytes::copy_from_slice(&k[2..]), entry);
        }
        for guard in self.keys.prefix([TAG_DEAD]) {
            let k = guard.key()?;
            let sid = k
                .get(1..9)
                .and_then(|b| b.try_into().ok())
                .map(u64::from_be_bytes);
            let sid =
                sid.ok_or_else(|| StoreError::Corrupt(format!("bad dead-stream marker {k:?}")))?;
            self.dead.push((sid, reaper::ReapAt::Start));
        }
        for (db, name, entry) in expired {
            self.pending_keys
                .insert(disk_key(self.slots[db], &name), None);
            self.drop_value(entry);
        }
        let written = self.commit().and_then(|()| {
            self.db
                .persist(PersistMode::Buffer)
                .map_err(StoreError::from)
        });
        match written {
            // A compaction started by the open crashed on a damaged table (see
            // `store/damage.rs`): the store is readable and refuses writes; the server starts
            // and its first commit reports it.
            Err(e) if e.is_poisoned() => {
                tracing::error!(
                    "a background compaction or flush failed while the store opened (see \
                     fjall's `Worker #n crashed` line): fjall refuses every write until the \
                     server restarts; reads go on. Looking for the damaged table"
                );
                self.diagnose_in_background();
            }
            other => other?,
        }
        tracing::info!(
            keys = self.dirs.iter().map(KeyDir::len).sum::<usize>(),
            streams,
            dead_streams = self.dead.len(),
            "keyspace loaded"
        );
        Ok(())
    }

    /// Refuses a data directory of another format; marks a new one with [`DATA_FORMAT`].
    pub(super) fn check_format(&mut self) -> Result<()> {
        match self.keys.get(FORMAT_KEY)? {
            Some(raw) => {
                let found = <[u8; 4]>::try_from(raw.as_ref())
                    .map(u32::from_be_bytes)
                    .map_err(|_| {
                        StoreError::Corrupt(format!(
                            "the data format marker (key \"\\xFFformat\" in keyspace `keys`) \
                             holds {}, not a 4-byte format number: the record is damaged or was \
                             written by another program. {}",
                            crate::check::show_bytes(&raw),
                            crate::check::remedy(&damage::data_dir_of(self.keys.path()))
                        ))
                    })?;
                if found != DATA_FORMAT {
                    return Err(StoreError::Corrupt(format!(
                        "data directory has format {found}, this build reads {DATA_FORMAT}"
                    )));
                }
                // A directory from before the `jobs` keyspace or its split (see `open`):
                // marked now, as its own one-record write (opening stages nothing). The
                // keyspaces exist already (`Spaces::open`); `Jobs::load` moves the records.
                if self.keys.get(JOBS_KEYSPACE_KEY)?.as_deref() != Some(&[JOBS_SPLIT][..]) {
                    self.keys.insert(JOBS_KEYSPACE_KEY, [JOBS_SPLIT])?;
                }
            }
            None => {
                if !(self.keys.is_empty()? && self.entries.is_empty()? && self.smeta.is_empty()?) {
                    return Err(StoreError::Corrupt(format!(
                        "data directory has format 1 (one record per stream entry), this build \
                         reads {DATA_FORMAT}"
                    )));
                }
                self.pending_keys.insert(
                    FORMAT_KEY.to_vec(),
                    Some(DATA_FORMAT.to_be_bytes().to_vec()),
                );
                // In the same first batch as the format marker.
                self.pending_keys
                    .insert(JOBS_KEYSPACE_KEY.to_vec(), Some(vec![JOBS_SPLIT]));
            }
        }
        Ok(())
    }

    /// Sets where open runs are cut (tests use small runs to exercise run boundaries).
    pub fn set_run_limits(&mut self, limits: RunLimits) {
        assert!(limits.max_entries >= 1, "runs hold at least one entry");
        self.run_limits = limits;
    }

    pub(super) fn load_layout(&self, sid: u64) -> Result<NodeLayout> {
        let mut prefix = sid.to_be_bytes().to_vec();
        prefix.push(SMETA_NODE);
        let mut nodes = Vec::new();
        for guard in self.smeta.prefix(&prefix) {
            let (k, v) = guard.into_inner()?;
            let master = k.get(9..).and_then(StreamId::from_be_bytes);
            let summary = NodeSummary::decode(&v);
            match (master, summary) {
                (Some(m), Some(s)) => nodes.push((m, s)),
                _ => return Err(StoreError::Corrupt(format!("bad node record {k:?}"))),
            }
        }
        Ok(NodeLayout::from_nodes(nodes))
    }
}

/// The options each of Sluice's keyspaces is created with (also by backups, `store/backup.rs`).
pub(super) fn keyspace_options(name: &str) -> KeyspaceCreateOptions {
    match name {
        // Nothing does point reads on `entries` (a read finds the run at or before an ID with
        // a range scan), so bloom filters would only cost flush time and space.
        "entries" => KeyspaceCreateOptions::default().filter_policy(FilterPolicy::disabled()),
        _ => crate::jobs::spaces::options(name).unwrap_or_default(),
    }
}
