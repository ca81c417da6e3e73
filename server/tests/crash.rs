//! Crash safety under load: kill -9 the server while many connections pipeline stream writes,
//! restart it on the same directory, and check that nothing acknowledged was lost, nothing was
//! torn, and the recovered state is exactly what some prefix of every connection's commands
//! produces. Twenty kill/restart cycles accumulate data in one directory.
//!
//! What the server promises (see `storage/src/store.rs`): the engine commits a drain's writes as
//! fjall batches, persists the journal (`fdatasync` under `appendfsync always`, `write(2)`
//! under `everysec`/`no`), and only then releases the drain's replies. A kill -9 is a process
//! crash, not a power loss: what was handed to the OS with `write(2)` is in the page cache and
//! survives, so under every `appendfsync` policy nothing acknowledged may be lost. (Power loss
//! would lose up to a second under `everysec`; this test cannot and does not simulate it.)
//!
//! The model. Each of the 8 writers owns two streams and writes only explicit IDs to them
//! (XADD, XADD … MAXLEN = n, XDEL, XTRIM MAXLEN = n), so it can predict every reply and the exact
//! state after any prefix of its commands. All writers also XADD `*` to three shared streams;
//! their entries carry (writer, sequence number) and deterministic fields, so an entry can be
//! checked for exact content wherever it turns up. A batch of a connection's commands is
//! executed in order and a crash loses a suffix of the journal, so after recovery, for every
//! writer, there must be a `k` (acknowledged ≤ k ≤ sent) such that its owned streams equal the
//! model after its first `k` commands and its shared entries are exactly the shared XADDs among
//! them.
//!
//! The seed is printed; set `SLUICE_CRASH_SEED` to replay the same schedule of operations and
//! kill delays (the kill moment itself still depends on timing).

mod common;

use std::collections::{BTreeMap, HashMap};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{encode, frame_len, id_str, parse_id, parse_resp, Conn, Id, Resp, Rng, Server};

const WRITERS: usize = 8;
const OWNED: usize = 2;
const SHARED: usize = 3;

fn owned_key(w: usize, s: usize) -> String {
    format!("crash:w{w}:own{s}")
}

fn shared_key(k: usize) -> String {
    format!("crash:shared{k}")
}

/// Which shared stream the writer's n-th shared XADD goes to.
fn shared_stream_of(w: usize, n: u64) -> usize {
    ((n.wrapping_mul(2654435761) >> 7) as usize + w) % SHARED
}

/// The fields of writer `w`'s n-th shared XADD: deterministic, so a torn or mixed-up entry shows.
fn shared_fields(w: usize, n: u64) -> Vec<Vec<u8>> {
    let mut f = vec![
        b"w".to_vec(),
        w.to_string().into_bytes(),
        b"n".to_vec(),
        n.to_string().into_bytes(),
    ];
    let pad_len = ((w as u64 * 7919 + n * 104_729) % 300) as usize;
    let pad: Vec<u8> = (0..pad_len)
        .map(|i| b'a' + ((i as u64 + n + w as u64) % 26) as u8)
        .collect();
    f.push(b"pad".to_vec());
    f.push(pad);
    for x in 0..(n % 3) {
        f.push(format!("x{x}").into_bytes());
        f.push(format!("{}", n * 31 + x).into_bytes());
    }
    f
}

/// One owned stream as the model sees it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct StreamModel {
    exists: bool,
    entries: BTreeMap<Id, Vec<Vec<u8>>>,
    last_id: Id,
    entries_added: u64,
    max_deleted: Id,
}

impl StreamModel {
    fn trim_to(&mut self, maxlen: usize) -> u64 {
        let mut removed = 0;
        while self.entries.len() > maxlen {
            let first = *self.entries.keys().next().expect("non-empty");
            self.entries.remove(&first);
            removed += 1;
        }
        removed
    }
}

/// One command a writer sent.
#[derive(Clone, Debug)]
enum Op {
    /// XADD to an owned stream with an explicit ID, optionally with MAXLEN = n.
    Add {
        s: usize,
        id: Id,
        fields: Vec<Vec<u8>>,
        maxlen: Option<usize>,
    },
    Del {
        s: usize,
        ids: Vec<Id>,
    },
    Trim {
        s: usize,
        maxlen: usize,
    },
    /// XADD * to a shared stream: the writer's n-th.
    Shared {
        n: u64,
    },
}

impl Op {
    fn encode(&self, w: usize) -> Vec<u8> {
        let mut args: Vec<Vec<u8>> = Vec::new();
        match self {
            Op::Add {
                s,
                id,
                fields,
                maxlen,
            } => {
                args.push(b"XADD".to_vec());
                args.push(owned_key(w, *s).into_bytes());
                if let Some(m) = maxlen {
                    args.push(b"MAXLEN".to_vec());
                    args.push(b"=".to_vec());
                    args.push(m.to_string().into_bytes());
                }
                args.push(id_str(*id).into_bytes());
                args.extend(fields.iter().cloned());
            }
            Op::Del { s, ids } => {
                args.push(b"XDEL".to_vec());
                args.push(owned_key(w, *s).into_bytes());
                args.extend(ids.iter().map(|i| id_str(*i).into_bytes()));
            }
            Op::Trim { s, maxlen } => {
                args.push(b"XTRIM".to_vec());
                args.push(owned_key(w, *s).into_bytes());
                args.push(b"MAXLEN".to_vec());
                args.push(b"=".to_vec());
                args.push(maxlen.to_string().into_bytes());
            }
            Op::Shared { n } => {
                args.push(b"XADD".to_vec());
                args.push(shared_key(shared_stream_of(w, *n)).into_bytes());
                args.push(b"*".to_vec());
                args.extend(shared_fields(w, *n));
            }
        }
        let refs: Vec<&[u8]> = args.iter().map(Vec::as_slice).collect();
        encode(&refs)
    }

    /// Applies the op to the owned-stream models; returns the reply it must get (None for a
    /// shared XADD, whose ID the server picks).
    fn apply(&self, owned: &mut [StreamModel]) -> Option<Resp> {
        match self {
            Op::Add {
                s,
                id,
                fields,
                maxlen,
            } => {
                let m = &mut owned[*s];
                m.exists = true;
                m.entries.insert(*id, fields.clone());
                m.last_id = *id;
                m.entries_added += 1;
                if let Some(n) = maxlen {
                    m.trim_to(*n);
                }
                Some(Resp::Bulk(id_str(*id).into_bytes()))
            }
            Op::Del { s, ids } => {
                let m = &mut owned[*s];
                let mut n = 0;
                for id in ids {
                    if m.entries.remove(id).is_some() {
                        n += 1;
                        if *id > m.max_deleted {
                            m.max_deleted = *id;
                        }
                    }
                }
                Some(Resp::Int(n))
            }
            Op::Trim { s, maxlen } => Some(Resp::Int(owned[*s].trim_to(*maxlen) as i64)),
            Op::Shared { .. } => None,
        }
    }
}

/// A writer's state across cycles: what was verified after the last restart.
#[derive(Clone)]
struct Writer {
    w: usize,
    /// Owned streams as verified after the last restart.
    owned: Vec<StreamModel>,
    /// Last ID sent to each owned stream (IDs are never reused, even of lost writes).
    last_sent: Vec<Id>,
    /// Shared XADDs 0..shared_done are present (verified); the next one sent is shared_done.
    shared_done: u64,
    /// Known IDs of shared XADDs: acknowledged, or found present after a restart.
    shared_ids: HashMap<u64, Id>,
}

/// What a writer did in one cycle.
struct CycleLog {
    ops: Vec<Op>,
    acked: usize,
    /// Shared XADDs acknowledged in this cycle: n → ID.
    acked_shared: Vec<(u64, Id)>,
    /// A wrong reply (a bug) or an unexpected stall.
    error: Option<String>,
}

fn gen_fields(rng: &mut Rng) -> Vec<Vec<u8>> {
    let pairs = 1 + rng.below(4);
    let mut f = Vec::new();
    for p in 0..pairs {
        f.push(format!("f{p}").into_bytes());
        let len = if rng.chance(3) {
            1000 + rng.below(3000)
        } else {
            rng.below(60)
        } as usize;
        let b = b'A' + rng.below(26) as u8;
        f.push((0..len).map(|i| b.wrapping_add((i % 7) as u8)).collect());
    }
    f
}

fn gen_op(rng: &mut Rng, wr: &mut Writer, sent_model: &[StreamModel], next_shared: &mut u64) -> Op {
    let roll = rng.below(100);
    let s = rng.below(OWNED as u64) as usize;
    if roll < 45 {
        let n = *next_shared;
        *next_shared += 1;
        return Op::Shared { n };
    }
    if roll < 80 {
        let last = wr.last_sent[s];
        let id = if rng.chance(50) {
            (last.0, last.1 + 1)
        } else {
            (last.0 + 1 + rng.below(1000), rng.below(5))
        };
        wr.last_sent[s] = id;
        let maxlen = rng.chance(10).then(|| rng.below(60) as usize);
        return Op::Add {
            s,
            id,
            fields: gen_fields(rng),
            maxlen,
        };
    }
    if roll < 92 {
        let m = &sent_model[s];
        let mut ids = Vec::new();
        for _ in 0..1 + rng.below(3) {
            if !m.entries.is_empty() && rng.chance(80) {
                let i = rng.below(m.entries.len() as u64) as usize;
                ids.push(*m.entries.keys().nth(i).expect("index in range"));
            } else {
                // Probably absent: below the last ID, or a repeat.
                ids.push((rng.below(m.last_id.0 + 1), rng.below(7)));
            }
        }
        return Op::Del { s, ids };
    }
    Op::Trim {
        s,
        maxlen: 10 + rng.below(70) as usize,
    }
}

/// Runs one writer until its connection dies (the kill) or `deadline`.
fn run_writer(
    mut sock: TcpStream,
    mut wr: Writer,
    mut rng: Rng,
    progress: Arc<AtomicU64>,
    deadline: Instant,
) -> (Writer, CycleLog) {
    let mut log = CycleLog {
        ops: Vec::new(),
        acked: 0,
        acked_shared: Vec::new(),
        error: None,
    };
    sock.set_read_timeout(Some(Duration::from_secs(15))).ok();
    sock.set_nodelay(true).ok();
    let mut sent_model = wr.owned.clone();
    let mut next_shared = wr.shared_done;
    let mut buf: Vec<u8> = Vec::new();
    'outer: while Instant::now() < deadline {
        let batch = 1 + rng.below(32) as usize;
        let first = log.ops.len();
        let mut bytes = Vec::new();
        let mut expect = Vec::new();
        for _ in 0..batch {
            let op = gen_op(&mut rng, &mut wr, &sent_model, &mut next_shared);
            expect.push(op.apply(&mut sent_model));
            bytes.extend_from_slice(&op.encode(wr.w));
            log.ops.push(op);
        }
        if sock.write_all(&bytes).is_err() {
            break;
        }
        for (i, exp) in expect.into_iter().enumerate() {
            let frame = loop {
                if let Some(n) = frame_len(&buf) {
                    break buf.drain(..n).collect::<Vec<u8>>();
                }
                let mut tmp = [0u8; 65536];
                match sock.read(&mut tmp) {
                    Ok(0) => break 'outer,
                    Ok(n) => buf.extend_from_slice(&tmp[..n]),
                    Err(e)
                        if matches!(
                            e.kind(),
                            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                        ) =>
                    {
                        log.error = Some(format!("writer {}: no reply within 15 s", wr.w));
                        break 'outer;
                    }
                    Err(_) => break 'outer,
                }
            };
            let reply = parse_resp(&frame).0;
            let op = &log.ops[first + i];
            match (exp, op) {
                (None, Op::Shared { n }) => match &reply {
                    Resp::Bulk(b) => log.acked_shared.push((*n, parse_id(b))),
                    other => {
                        log.error = Some(format!("writer {}: {op:?} got {other:?}", wr.w));
                        break 'outer;
                    }
                },
                (Some(want), _) if want == reply => {}
                (want, _) => {
                    log.error = Some(format!(
                        "writer {}: {op:?} got {reply:?}, the model says {want:?}",
                        wr.w
                    ));
                    break 'outer;
                }
            }
            log.acked += 1;
            progress.fetch_add(1, Ordering::Relaxed);
        }
    }
    (wr, log)
}

/// Reads a whole stream in pages: (ID, fields) ascending.
fn read_stream(c: &mut Conn, key: &str) -> Vec<(Id, Vec<Vec<u8>>)> {
    let mut out: Vec<(Id, Vec<Vec<u8>>)> = Vec::new();
    let mut start = "-".to_string();
    loop {
        let r = c.req(&[
            b"XRANGE",
            key.as_bytes(),
            start.as_bytes(),
            b"+",
            b"COUNT",
            b"2000",
        ]);
        let page = r.array();
        for e in page {
            let e = e.array();
            let id = parse_id(e[0].bulk());
            let fields: Vec<Vec<u8>> = e[1].array().iter().map(|f| f.bulk().to_vec()).collect();
            out.push((id, fields));
        }
        if page.len() < 2000 {
            break;
        }
        start = format!("({}", id_str(out.last().expect("non-empty page").0));
    }
    out
}

/// The recovered state of one stream: entries and XINFO STREAM's counters.
struct Observed {
    model: StreamModel,
    /// XINFO STREAM length (checked against XLEN and the entries).
    length: i64,
}

fn observe(c: &mut Conn, key: &str) -> Observed {
    let entries = read_stream(c, key);
    let xlen = c.req(&[b"XLEN", key.as_bytes()]).int();
    assert_eq!(
        xlen as usize,
        entries.len(),
        "{key}: XLEN {xlen} but XRANGE returned {} entries",
        entries.len()
    );
    let info = c.req(&[b"XINFO", b"STREAM", key.as_bytes()]);
    let mut model = StreamModel::default();
    let length = match &info {
        Resp::Error(e) => {
            assert!(e.contains("no such key"), "{key}: XINFO STREAM: {e}");
            assert!(entries.is_empty());
            0
        }
        _ => {
            model.exists = true;
            model.last_id = parse_id(info.field("last-generated-id").bulk());
            model.max_deleted = parse_id(info.field("max-deleted-entry-id").bulk());
            model.entries_added = info.field("entries-added").int() as u64;
            let length = info.field("length").int();
            assert_eq!(length, xlen, "{key}: XINFO length {length} but XLEN {xlen}");
            let first = info.field("first-entry");
            let last = info.field("last-entry");
            match (entries.first(), entries.last()) {
                (Some(f), Some(l)) => {
                    assert_eq!(parse_id(first.array()[0].bulk()), f.0, "{key}: first-entry");
                    assert_eq!(parse_id(last.array()[0].bulk()), l.0, "{key}: last-entry");
                }
                _ => {
                    assert_eq!(first, Resp::Nil, "{key}: first-entry of an empty stream");
                    assert_eq!(last, Resp::Nil, "{key}: last-entry of an empty stream");
                }
            }
            if let Some(l) = entries.last() {
                assert!(
                    model.last_id >= l.0,
                    "{key}: last-generated-id {} below the last entry {}",
                    id_str(model.last_id),
                    id_str(l.0)
                );
            }
            assert!(
                model.entries_added >= entries.len() as u64,
                "{key}: entries-added {} < length {}",
                model.entries_added,
                entries.len()
            );
            length
        }
    };
    model.entries = entries.into_iter().collect();
    Observed { model, length }
}

fn describe(m: &StreamModel) -> String {
    format!(
        "exists={} len={} last={} added={} maxdel={} first={:?} last_entry={:?}",
        m.exists,
        m.entries.len(),
        id_str(m.last_id),
        m.entries_added,
        id_str(m.max_deleted),
        m.entries.keys().next().map(|i| id_str(*i)),
        m.entries.keys().next_back().map(|i| id_str(*i)),
    )
}

#[derive(Default)]
struct Totals {
    acked: usize,
    sent: usize,
    /// Commands that were executed and made durable although their reply never arrived.
    durable_unacked: usize,
    cycles_with_inflight: usize,
    restart_ms: Vec<u128>,
}

/// Verifies the recovered state against the writers' logs and advances their state to it.
fn verify(c: &mut Conn, writers: &mut [Writer], logs: &[CycleLog], totals: &mut Totals) {
    // Shared streams: every entry is some writer's n-th shared XADD, exact fields, right stream.
    let mut present: Vec<BTreeMap<u64, Id>> = vec![BTreeMap::new(); WRITERS];
    for k in 0..SHARED {
        let key = shared_key(k);
        let obs = observe(c, &key);
        let mut max_acked: Option<Id> = None;
        for (id, fields) in &obs.model.entries {
            assert!(
                fields.len() >= 4 && fields[0] == b"w" && fields[2] == b"n",
                "{key} {}: not a writer's entry: {fields:?}",
                id_str(*id)
            );
            let w: usize = String::from_utf8_lossy(&fields[1]).parse().expect("w");
            let n: u64 = String::from_utf8_lossy(&fields[3]).parse().expect("n");
            assert!(w < WRITERS, "{key}: writer {w}");
            assert_eq!(
                fields,
                &shared_fields(w, n),
                "{key} {}: torn or wrong fields for writer {w} #{n}",
                id_str(*id)
            );
            assert_eq!(
                shared_stream_of(w, n),
                k,
                "writer {w} #{n} found in the wrong stream"
            );
            assert!(
                present[w].insert(n, *id).is_none(),
                "writer {w} #{n} present twice"
            );
        }
        for wr in writers.iter() {
            for (n, id) in &wr.shared_ids {
                if shared_stream_of(wr.w, *n) == k {
                    max_acked = max_acked.max(Some(*id));
                }
            }
        }
        for (w, log) in logs.iter().enumerate() {
            for (n, id) in &log.acked_shared {
                if shared_stream_of(w, *n) == k {
                    max_acked = max_acked.max(Some(*id));
                }
            }
        }
        if obs.model.exists {
            // No XDEL or trim ever touches the shared streams.
            assert_eq!(
                obs.model.entries_added as i64, obs.length,
                "{key}: entries-added {} but length {}",
                obs.model.entries_added, obs.length
            );
            let last_entry = obs.model.entries.keys().next_back().copied();
            assert_eq!(
                Some(obs.model.last_id),
                last_entry,
                "{key}: last-generated-id is not the last entry (nothing is ever deleted)"
            );
        }
        if let Some(a) = max_acked {
            assert!(
                obs.model.exists && obs.model.last_id >= a,
                "{key}: last-generated-id {} below an acknowledged ID {}",
                id_str(obs.model.last_id),
                id_str(a)
            );
        }
    }

    for (wr, log) in writers.iter_mut().zip(logs) {
        let w = wr.w;
        // Acknowledged shared XADDs are present with the acknowledged ID.
        for (n, id) in wr
            .shared_ids
            .iter()
            .chain(log.acked_shared.iter().map(|(n, i)| (n, i)))
        {
            assert_eq!(
                present[w].get(n),
                Some(id),
                "writer {w}: acknowledged shared XADD #{n} ({}) lost or changed",
                id_str(*id)
            );
        }
        // The writer's shared entries are a contiguous prefix 0..m.
        let m = present[w].len() as u64;
        if let Some((&last, _)) = present[w].iter().next_back() {
            assert_eq!(
                last + 1,
                m,
                "writer {w}: shared entries have a hole: {} present, highest #{last}",
                m
            );
        }
        let observed: Vec<StreamModel> = (0..OWNED)
            .map(|s| observe(c, &owned_key(w, s)).model)
            .collect();
        // Find k with acked <= k <= sent such that the first k commands explain everything.
        let mut model = wr.owned.clone();
        let mut shared = wr.shared_done;
        for op in &log.ops[..log.acked] {
            op.apply(&mut model);
            if matches!(op, Op::Shared { .. }) {
                shared += 1;
            }
        }
        let mut found = None;
        for k in log.acked..=log.ops.len() {
            if k > log.acked {
                let op = &log.ops[k - 1];
                op.apply(&mut model);
                if matches!(op, Op::Shared { .. }) {
                    shared += 1;
                }
            }
            if model == observed && shared == m {
                found = Some(k);
                break;
            }
        }
        let Some(k) = found else {
            let mut acked_model = wr.owned.clone();
            for op in &log.ops[..log.acked] {
                op.apply(&mut acked_model);
            }
            let mut msg = format!(
                "writer {w}: the recovered state is not the result of any prefix of its commands \
                 (acked {}, sent {}); shared entries present: {m}, expected between {} and {}\n",
                log.acked,
                log.ops.len(),
                wr.shared_done
                    + log.ops[..log.acked]
                        .iter()
                        .filter(|o| matches!(o, Op::Shared { .. }))
                        .count() as u64,
                wr.shared_done
                    + log
                        .ops
                        .iter()
                        .filter(|o| matches!(o, Op::Shared { .. }))
                        .count() as u64,
            );
            for s in 0..OWNED {
                msg.push_str(&format!(
                    "  {}: recovered {}\n      acked model {}\n      unacked ops: {:?}\n",
                    owned_key(w, s),
                    describe(&observed[s]),
                    describe(&acked_model[s]),
                    log.ops[log.acked..]
                        .iter()
                        .filter(|o| match o {
                            Op::Add { s: x, .. } | Op::Del { s: x, .. } | Op::Trim { s: x, .. } =>
                                *x == s,
                            Op::Shared { .. } => false,
                        })
                        .map(|o| match o {
                            Op::Add { id, maxlen, .. } => format!("ADD {} {maxlen:?}", id_str(*id)),
                            other => format!("{other:?}"),
                        })
                        .collect::<Vec<_>>()
                ));
            }
            panic!("{msg}");
        };
        totals.acked += log.acked;
        totals.sent += log.ops.len();
        totals.durable_unacked += k - log.acked;
        // Advance to the recovered state.
        wr.owned = observed;
        wr.shared_done = m;
        for (n, id) in &log.acked_shared {
            wr.shared_ids.insert(*n, *id);
        }
        for (n, id) in &present[w] {
            wr.shared_ids.insert(*n, *id);
        }
    }
}

fn seed() -> u64 {
    std::env::var("SLUICE_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(1)
        })
}

/// `cycles` rounds of: writers under load, kill -9 at a random moment, restart, verify.
fn kill_cycles(appendfsync: &str, cycles: usize) {
    let seed = seed();
    println!("[{appendfsync}] seed {seed} (set SLUICE_CRASH_SEED={seed} to replay)");
    let mut rng = Rng::new(seed);
    let test_start = Instant::now();
    let mut server = Server::start(&["--appendfsync", appendfsync]);
    let mut writers: Vec<Writer> = (0..WRITERS)
        .map(|w| Writer {
            w,
            owned: vec![StreamModel::default(); OWNED],
            last_sent: vec![(0, 0); OWNED],
            shared_done: 0,
            shared_ids: HashMap::new(),
        })
        .collect();
    let mut totals = Totals::default();
    for cycle in 0..cycles {
        let progress = Arc::new(AtomicU64::new(0));
        let deadline = Instant::now() + Duration::from_secs(20);
        let handles: Vec<_> = writers
            .iter()
            .map(|wr| {
                let (wr, progress) = (wr.clone(), progress.clone());
                let wrng = Rng::new(rng.next());
                // Connect before the thread starts: under load a thread can start so late that
                // the kill already happened, which would look like a refused connection.
                let sock = TcpStream::connect(("127.0.0.1", server.port)).expect("writer connects");
                std::thread::spawn(move || run_writer(sock, wr, wrng, progress, deadline))
            })
            .collect();
        // Kill at a random point of the load: once the writers have had a random number of
        // commands acknowledged (a condition, so the work per cycle does not depend on the
        // machine's speed), plus a random few milliseconds.
        let min_progress = 100 + rng.below(4000);
        let wait_until = Instant::now() + Duration::from_secs(15);
        while progress.load(Ordering::Relaxed) < min_progress {
            assert!(
                Instant::now() < wait_until,
                "[{appendfsync}] cycle {cycle}: writers made no progress"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
        std::thread::sleep(Duration::from_micros(rng.below(20_000)));
        server.kill9();
        let mut logs = Vec::new();
        for (i, h) in handles.into_iter().enumerate() {
            let (wr, log) = h.join().expect("writer thread");
            if let Some(e) = &log.error {
                panic!("[{appendfsync}] cycle {cycle}: {e}");
            }
            writers[i] = wr;
            logs.push(log);
        }
        let inflight: usize = logs.iter().map(|l| l.ops.len() - l.acked).sum();
        if inflight > 0 {
            totals.cycles_with_inflight += 1;
        }
        let restart = server.restart_timed();
        totals.restart_ms.push(restart.as_millis());
        let mut c = server.conn();
        let before = totals.durable_unacked;
        verify(&mut c, &mut writers, &logs, &mut totals);
        let shared_total: u64 = writers.iter().map(|w| w.shared_done).sum();
        println!(
            "[{appendfsync}] cycle {cycle:2}: acked {:5}, in flight at kill {inflight:3}, \
             durable but unacked {:2}, shared entries {shared_total:6}, restart to PONG {} ms",
            logs.iter().map(|l| l.acked).sum::<usize>(),
            totals.durable_unacked - before,
            restart.as_millis()
        );
    }
    let r = &totals.restart_ms;
    println!(
        "[{appendfsync}] {cycles} kills in {:.1} s: {} commands acknowledged (all recovered), \
         {} sent, {} durable without a reply; restart to PONG min {} / max {} ms",
        test_start.elapsed().as_secs_f64(),
        totals.acked,
        totals.sent,
        totals.durable_unacked,
        r.iter().min().unwrap_or(&0),
        r.iter().max().unwrap_or(&0)
    );
    // The kills must really have hit the server under load.
    assert!(
        totals.cycles_with_inflight * 2 >= cycles,
        "only {} of {cycles} kills found writes in flight",
        totals.cycles_with_inflight
    );
}

#[test]
fn no_acknowledged_entry_lost_over_20_kills_appendfsync_always() {
    kill_cycles("always", 20);
}

/// `everysec` fsyncs once a second, but every reply still waits for the journal to be handed to
/// the OS (`write(2)`): a process crash (kill -9) loses nothing acknowledged. Only a power loss
/// or kernel crash could lose the last second, which this test does not simulate.
#[test]
fn no_acknowledged_entry_lost_over_20_kills_appendfsync_everysec() {
    kill_cycles("everysec", 20);
}

/// `no` never fsyncs, but as with `everysec` the journal is in the OS page cache before any
/// reply, so kill -9 (a process crash, not a power loss) loses nothing acknowledged.
#[test]
fn no_acknowledged_entry_lost_over_20_kills_appendfsync_no() {
    kill_cycles("no", 20);
}
