//! The job store's write log: how a drain's job writes become durable without each one being
//! inserted into its keyspace.
//!
//! A job lives a few milliseconds in a busy queue: ADDJOB writes its record, its timer and its
//! queue-index record, GETJOB rewrites the record and moves the timer, ACKJOB removes them — nine
//! keyspace writes for a job that is gone a moment later. Inserting each into fjall's memtables
//! (a skiplist per keyspace) took over 40% of the engine thread in the add → get → ack flow,
//! and the flushes and compactions of those short-lived records most of the rest of the
//! process's time. So the staged writes of [`super::Jobs::pending`] are no longer drained into
//! the keyspaces at every commit: they stay in `pending` (which every read already merges over
//! fjall), and each commit writes log records instead (`TAG_LOG ‖ seq u64 BE` in `job_meta`;
//! one, or more for a large drain, see below), holding the drain's staged writes as ops, in
//! the order they were staged ([`Ops`], built as they are staged). A job added and
//! acknowledged between two folds leaves nothing in the keyspaces but those log records.
//!
//! A **fold** writes `pending` into the keyspaces and removes every log record, in one batch,
//! and empties `pending`. It happens at the commit where `pending` holds `job-log-max-records`
//! records (default [`FOLD_ENTRIES`]) or the log records since the last fold reach
//! `job-log-max-bytes` bytes (default [`FOLD_BYTES`]), so that RAM and the replay at a start
//! stay bounded whatever the load ([`LogLimits`]); at a clean close; and at every commit while
//! `job-log` is `no`.
//!
//! The log pays only when records die before the fold: a record that lives on (a backlog of
//! queued jobs, GETJOBs from a long queue) is written twice, logged and then folded. So each
//! fold looks at how many of the records created since the last fold are still there; when
//! more than half are, the store goes **direct** ([`Mode::Direct`]): every commit folds (the
//! drain's writes go straight into their keyspaces, no log record), for [`DIRECT_OPS`] staged
//! writes, then logs again to look once more. Measured on the bench (`bench/results/`, README):
//! the add → get → ack flow goes through the log, a pre-filled queue direct.
//!
//! Replay (at open): the log records in `seq` order, each setting the staged state of its keys,
//! rebuild `pending` as it was at the last commit before the stop.
//!
//! Invariants:
//! * the log records are exactly those of the commits since the last fold, `seq` contiguous
//!   from [`LogState::first`] to [`LogState::next`] (a fold removes all of them in the batch
//!   that writes what they logged, so a crash keeps either both or neither);
//! * replaying them onto the keyspaces gives the `pending` of the last commit: a drain's
//!   records hold, for each write staged in the drain, in order, the entry in `pending` it
//!   left — [`Op::New`], [`Op::Put`], [`Op::Del`], or [`Op::Cancel`] when it removed the key
//!   from `pending` (a record made and removed again since the last fold, which fjall does not
//!   hold);
//! * `Staged::New` stays true across a replay: fjall does not hold a key logged as new, since
//!   no fold has written it.
//!
//! A drain's ops are split over as many records as needed to keep each at most
//! [`RECORD_MAX`] bytes (one op larger than that gets a record of its own).
//!
//! Record format: a version byte (1), then per key: the op byte (0 new, 1 put, 2 del, 3 cancel),
//! the key length (u32 LE) and key, and for new and put the value length (u32 LE) and value.

/// Tag of the log records (in `job_meta`, `jobs/spaces.rs`).
pub(super) const TAG_LOG: u8 = 0x16;

/// `pending` entries at which a commit folds (default of `job-log-max-records`).
pub const FOLD_ENTRIES: usize = 16_384;

/// Bytes of log records since the last fold at which a commit folds (default of
/// `job-log-max-bytes`).
pub const FOLD_BYTES: usize = 4 << 20;

/// The log's limits, from the server's configuration (`job-log`, `job-log-max-records`,
/// `job-log-max-bytes`); changeable at any time, since a fold is valid at any commit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LogLimits {
    /// Off: every commit folds (writes go straight into their keyspaces; no log).
    pub enabled: bool,
    /// A commit folds once `pending` holds this many records.
    pub max_records: usize,
    /// A commit folds once the log records since the last fold hold this many bytes.
    pub max_bytes: usize,
}

impl Default for LogLimits {
    fn default() -> Self {
        LogLimits {
            enabled: true,
            max_records: FOLD_ENTRIES,
            max_bytes: FOLD_BYTES,
        }
    }
}

/// Most bytes of a log record, unless one op is larger: a drain's keys take as many records as
/// needed. Below fjall's journal compression threshold (4,096 bytes), so that a record is
/// written to the journal as it is (LZ4 on every drain's record took 6% of the engine thread).
pub const RECORD_MAX: usize = 4000;

/// Staged writes made direct before the log is tried again: each try costs a window of
/// records written twice and a fold of up to [`FOLD_ENTRIES`] at once (a few ms), so tries are
/// seconds apart under a load that keeps its records (about 3.5 s at 200k ADDJOB/s).
pub const DIRECT_OPS: usize = 2 << 20;

/// How commits write the job store (see the module docs).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) enum Mode {
    /// Each commit writes a log record; a fold comes at the limits.
    #[default]
    Log,
    /// Each commit folds, for this many more staged writes.
    Direct(usize),
}

const VERSION: u8 = 1;

/// Where the log stands (see the module docs).
#[derive(Debug, Default)]
pub(super) struct LogState {
    /// `seq` of the oldest log record (the first after the last fold).
    pub first: u64,
    /// `seq` of the next log record.
    pub next: u64,
    /// Bytes of the log records `first..next`.
    pub bytes: usize,
    /// The next commit folds whatever the sizes (a close, tests).
    pub fold: bool,
    pub mode: Mode,
    /// Records created (staged new, not over a staged one) since the last fold.
    pub created: usize,
    pub limits: LogLimits,
}

impl LogState {
    /// Whether the commit of a drain folds, with `pending` records staged.
    pub fn folds_now(&self, pending: usize) -> bool {
        self.fold
            || !self.limits.enabled
            || matches!(self.mode, Mode::Direct(_))
            || pending >= self.limits.max_records
            || self.bytes >= self.limits.max_bytes
    }

    /// Whether writes staged now are logged (their ops kept for the commit's records).
    pub fn logging(&self) -> bool {
        self.limits.enabled && self.mode == Mode::Log
    }

    /// A fold wrote `staged` writes of its drain, and found `alive` of the `created` records
    /// still staged as new: chooses how the next commits write. Only a fold at the limits
    /// judges the window; a forced one (a close, the log turned back on) or one with the log
    /// off keeps the log.
    pub fn folded(&mut self, staged: usize, alive: usize) {
        let judged = !self.fold && self.limits.enabled;
        self.mode = match self.mode {
            Mode::Direct(left) if left > staged => Mode::Direct(left - staged),
            Mode::Direct(_) => Mode::Log,
            Mode::Log if judged && self.created > 0 && alive * 2 > self.created => {
                Mode::Direct(DIRECT_OPS)
            }
            Mode::Log => Mode::Log,
        };
        self.first = self.next;
        self.bytes = 0;
        self.fold = false;
        self.created = 0;
    }
}

/// One staged write, as a log record holds it: the staged state it left its key in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Op<'a> {
    New(&'a [u8]),
    Put(&'a [u8]),
    Del,
    Cancel,
}

/// The key of log record `seq`.
pub(super) fn key(seq: u64) -> [u8; 9] {
    let mut k = [0u8; 9];
    k[0] = TAG_LOG;
    k[1..].copy_from_slice(&seq.to_be_bytes());
    k
}

/// The `seq` of a log record's key.
pub(super) fn seq_of(key: &[u8]) -> Option<u64> {
    match key {
        [TAG_LOG, rest @ ..] => Some(u64::from_be_bytes(rest.try_into().ok()?)),
        _ => None,
    }
}

/// The log records of the writes staged since the last commit, built as they are staged: one
/// op per staged write, in order (a key staged twice in a drain has two ops; the replay applies
/// them in order, so the last wins as it did in `pending`). Kept between drains, so its buffer
/// is not allocated again.
///
/// Invariant: `buf` is a sequence of complete records, each a version byte and its ops,
/// starting at the offsets in `starts`; each is at most [`RECORD_MAX`] bytes unless it holds
/// one op only.
#[derive(Debug, Default)]
pub(super) struct Ops {
    buf: Vec<u8>,
    starts: Vec<usize>,
}

impl Ops {
    /// Appends one staged write's op, starting a new record if the current one would pass
    /// [`RECORD_MAX`].
    pub fn push(&mut self, key: &[u8], op: &Op<'_>) {
        let current = self.starts.last().copied();
        let full = current.is_none_or(|at| {
            self.buf.len() - at > 1 && self.buf.len() - at + size(key, op) > RECORD_MAX
        });
        if full {
            self.starts.push(self.buf.len());
            self.buf.push(VERSION);
        }
        push(&mut self.buf, key, op);
    }

    /// The records, in order (none if nothing was staged).
    pub fn records(&self) -> impl Iterator<Item = &[u8]> {
        self.starts.iter().enumerate().map(|(i, &at)| {
            let end = self.starts.get(i + 1).copied().unwrap_or(self.buf.len());
            &self.buf[at..end]
        })
    }

    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.starts.is_empty()
    }

    /// Forgets the ops (written, or folded instead).
    pub fn clear(&mut self) {
        self.buf.clear();
        self.starts.clear();
    }
}

fn len32(n: usize) -> [u8; 4] {
    debug_assert!(
        n <= u32::MAX as usize,
        "job keys and records are far below 4 GiB"
    );
    (n as u32).to_le_bytes()
}

/// The bytes [`push`] appends for one op.
pub(super) fn size(key: &[u8], op: &Op<'_>) -> usize {
    1 + 4
        + key.len()
        + match op {
            Op::New(v) | Op::Put(v) => 4 + v.len(),
            Op::Del | Op::Cancel => 0,
        }
}

/// Appends one key's op.
pub(super) fn push(out: &mut Vec<u8>, key: &[u8], op: &Op<'_>) {
    let (code, value) = match op {
        Op::New(v) => (0u8, Some(*v)),
        Op::Put(v) => (1, Some(*v)),
        Op::Del => (2, None),
        Op::Cancel => (3, None),
    };
    let before = out.len();
    out.push(code);
    out.extend_from_slice(&len32(key.len()));
    out.extend_from_slice(key);
    if let Some(v) = value {
        out.extend_from_slice(&len32(v.len()));
        out.extend_from_slice(v);
    }
    debug_assert_eq!(out.len() - before, size(key, op));
}

/// The ops of a log record, in order; `None` if it does not decode.
pub(super) fn decode(rec: &[u8]) -> Option<Vec<(&[u8], Op<'_>)>> {
    let (&version, mut rest) = rec.split_first()?;
    if version != VERSION {
        return None;
    }
    fn take<'a>(rest: &mut &'a [u8], n: usize) -> Option<&'a [u8]> {
        if rest.len() < n {
            return None;
        }
        let (a, b) = rest.split_at(n);
        *rest = b;
        Some(a)
    }
    fn sized<'a>(rest: &mut &'a [u8]) -> Option<&'a [u8]> {
        let n = u32::from_le_bytes(take(rest, 4)?.try_into().ok()?);
        take(rest, usize::try_from(n).ok()?)
    }
    let mut ops = Vec::new();
    while let Some((&code, r)) = rest.split_first() {
        rest = r;
        let key = sized(&mut rest)?;
        let op = match code {
            0 => Op::New(sized(&mut rest)?),
            1 => Op::Put(sized(&mut rest)?),
            2 => Op::Del,
            3 => Op::Cancel,
            _ => return None,
        };
        ops.push((key, op));
    }
    Some(ops)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fold that finds more than half the records created since the last one still there
    /// goes direct for `DIRECT_OPS` staged writes, then back to the log.
    #[test]
    fn folds_choose_the_mode() {
        let mut st = LogState {
            created: 10,
            next: 4,
            bytes: 100,
            ..LogState::default()
        };
        st.folded(2, 5);
        assert_eq!(
            (st.mode, st.first, st.bytes, st.created),
            (Mode::Log, 4, 0, 0)
        );
        st.created = 10;
        st.folded(2, 6);
        assert_eq!(st.mode, Mode::Direct(DIRECT_OPS));
        assert!(st.folds_now(0), "direct: every commit folds");
        st.folded(DIRECT_OPS - 1, 0);
        assert_eq!(st.mode, Mode::Direct(1));
        st.folded(1, 0);
        assert_eq!(st.mode, Mode::Log);
        assert!(!st.folds_now(FOLD_ENTRIES - 1));
        assert!(st.folds_now(FOLD_ENTRIES));
        st.bytes = FOLD_BYTES;
        assert!(st.folds_now(0));
        st.bytes = 0;
        st.fold = true;
        assert!(st.folds_now(0));
        // A forced fold does not judge its window.
        st.created = 10;
        st.folded(0, 10);
        assert_eq!(st.mode, Mode::Log);
        assert!(!st.fold);
        st.limits = LogLimits {
            enabled: true,
            max_records: 10,
            max_bytes: 100,
        };
        assert!(!st.folds_now(9) && st.folds_now(10));
        st.bytes = 100;
        assert!(st.folds_now(0));
        st.bytes = 0;
        st.limits.enabled = false;
        assert!(st.folds_now(0) && !st.logging(), "off: every commit folds");
        // Nothing created: the log stays.
        st.folded(0, 0);
        assert_eq!(st.mode, Mode::Log);
    }

    /// `Ops` splits its ops into records of at most `RECORD_MAX` bytes (one op alone may be
    /// larger), in order, each decoding on its own.
    #[test]
    fn ops_split_into_records_in_order() {
        let mut ops = Ops::default();
        assert!(ops.is_empty() && ops.records().next().is_none());
        let big = vec![7u8; RECORD_MAX + 10];
        let mut pushed = Vec::new();
        for i in 0..200u32 {
            let key = i.to_be_bytes().to_vec();
            let op = match i % 5 {
                0 => Op::New(&b"value of a job record, about this long"[..]),
                1 => Op::Put(b"x"),
                2 => Op::Del,
                3 => Op::Cancel,
                _ if i == 104 => Op::Put(&big),
                _ => Op::New(b""),
            };
            ops.push(&key, &op);
            pushed.push((key, op));
        }
        let records: Vec<&[u8]> = ops.records().collect();
        assert!(records.len() > 2);
        let mut decoded = Vec::new();
        for r in &records {
            let d = decode(r).expect("each record decodes alone");
            assert!(
                r.len() <= RECORD_MAX || d.len() == 1,
                "only a lone op passes the limit"
            );
            decoded.extend(d.into_iter().map(|(k, op)| (k.to_vec(), op)));
        }
        assert_eq!(decoded, pushed);
        ops.clear();
        assert!(ops.is_empty() && ops.records().next().is_none());
    }

    #[test]
    fn records_decode_to_what_was_pushed() {
        let mut rec = vec![VERSION];
        let ops = [
            (&b"\x10abc"[..], Op::New(b"v1")),
            (b"\x13", Op::Put(b"")),
            (b"\x12q", Op::Del),
            (b"", Op::Cancel),
        ];
        for (k, op) in &ops {
            push(&mut rec, k, op);
        }
        assert_eq!(decode(&rec).expect("decodes"), ops.to_vec());
        assert_eq!(decode(&[VERSION]).expect("empty"), vec![]);
        // A truncated record either fails or gives the ops before the cut.
        for cut in 1..rec.len() {
            if let Some(d) = decode(&rec[..cut]) {
                assert!(d.len() < ops.len() && d[..] == ops[..d.len()], "cut {cut}");
            }
        }
        let mut bad = rec.clone();
        bad[0] = 2;
        assert!(decode(&bad).is_none());
        let mut bad = rec.clone();
        bad[1] = 9;
        assert!(decode(&bad).is_none());
        assert_eq!(seq_of(&key(7)), Some(7));
        assert_eq!(seq_of(&key(u64::MAX)), Some(u64::MAX));
        assert_eq!(seq_of(b"\x16abc"), None);
        assert_eq!(seq_of(b"\x15node"), None);
    }
}
