//! Consumer groups survive kill -9: with `--appendfsync always`, a producer XADDs jobs and several
//! consumer connections run `XREADGROUP … COUNT n STREAMS s >` and XACK part of what they hold,
//! recording every reply they received. The server is killed at a random moment under that load
//! and restarted on the same directory, ten times; after every restart XPENDING (extended form,
//! `- + <big>`), XPENDING (summary), XINFO GROUPS and XINFO CONSUMERS must agree with what the
//! clients were told:
//!
//! * an entry whose XACK was answered (with a count that includes it) is not pending;
//! * an entry delivered in an XREADGROUP reply and not acknowledged is pending, owned by the
//!   consumer it was delivered to (an XACK sent but unanswered at the kill may or may not have
//!   taken effect: either state is fine, and the test goes on from the recovered one);
//! * a pending entry nobody was told about belongs to a consumer whose XREADGROUP was unanswered
//!   at the kill (executed and durable, reply lost), and is newer than everything delivered
//!   before that cycle; it is then treated as delivered to that consumer;
//! * no entry is ever delivered twice by `>`, delivery counts are >= 1 (exactly 1 here: nothing
//!   re-delivers), the group's last-delivered-id is >= every delivered ID, and the pending counts
//!   of XPENDING, XPENDING summary, XINFO GROUPS and XINFO CONSUMERS are the same.
//!
//! Consumers also acknowledge entries delivered before earlier kills, so recovered PEL entries
//! are used, not only looked at. The seed is printed; `SLUICE_GROUP_CRASH_SEED` replays the same
//! choices (the kill moment still depends on timing).

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{encode, frame_len, id_str, parse_id, parse_resp, Conn, Id, Resp, Rng, Server};

const STREAM: &str = "gc:jobs";
const GROUP: &str = "workers";
const CONSUMERS: usize = 4;
const CYCLES: usize = 10;
/// The COUNT of the extended XPENDING: more than there can ever be.
const BIG: &str = "1000000000";

fn consumer_name(c: usize) -> String {
    format!("c{c}")
}

fn consumer_index(name: &str) -> Option<usize> {
    name.strip_prefix('c')?
        .parse()
        .ok()
        .filter(|&c| c < CONSUMERS)
}

/// A pipelining client that knows which of its requests were answered when the server dies.
struct Wire {
    sock: TcpStream,
    buf: Vec<u8>,
}

enum Got {
    Reply(Resp),
    /// EOF or reset: the server is gone.
    Closed,
    Timeout,
}

impl Wire {
    fn connect(port: u16) -> std::io::Result<Wire> {
        let sock = TcpStream::connect(("127.0.0.1", port))?;
        sock.set_read_timeout(Some(Duration::from_secs(15)))?;
        sock.set_nodelay(true)?;
        Ok(Wire {
            sock,
            buf: Vec::new(),
        })
    }

    fn send(&mut self, cmds: &[Vec<Vec<u8>>]) -> bool {
        let mut out = Vec::new();
        for c in cmds {
            let args: Vec<&[u8]> = c.iter().map(Vec::as_slice).collect();
            out.extend_from_slice(&encode(&args));
        }
        self.sock.write_all(&out).is_ok()
    }

    fn recv(&mut self) -> Got {
        loop {
            if let Some(n) = frame_len(&self.buf) {
                let frame: Vec<u8> = self.buf.drain(..n).collect();
                return Got::Reply(parse_resp(&frame).0);
            }
            let mut tmp = [0u8; 65536];
            match self.sock.read(&mut tmp) {
                Ok(0) => return Got::Closed,
                Ok(n) => self.buf.extend_from_slice(&tmp[..n]),
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    return Got::Timeout
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(_) => return Got::Closed,
            }
        }
    }
}

fn args(parts: &[&str]) -> Vec<Vec<u8>> {
    parts.iter().map(|p| p.as_bytes().to_vec()).collect()
}

/// What one consumer connection was told during one cycle.
#[derive(Default)]
struct ConsumerLog {
    /// Entries of XREADGROUP replies, in delivery order.
    delivered: Vec<Id>,
    /// IDs of XACK requests answered with their full count.
    acked: Vec<Id>,
    /// IDs of XACK requests sent but not answered before the kill.
    unanswered_acks: Vec<Id>,
    /// The COUNTs of XREADGROUP requests sent but not answered before the kill.
    unanswered_reads: Vec<u64>,
    error: Option<String>,
}

enum Sent {
    Ack(Vec<Id>),
    Read(u64),
}

/// One consumer until its connection dies (the kill) or `deadline`. `pending` is what it holds:
/// entries delivered to it and not acknowledged, as far as it knows.
fn run_consumer(
    port: u16,
    c: usize,
    mut pending: Vec<Id>,
    mut rng: Rng,
    delivered_total: Arc<AtomicU64>,
    deadline: Instant,
) -> ConsumerLog {
    let mut log = ConsumerLog::default();
    let name = consumer_name(c);
    let mut wire = match Wire::connect(port) {
        Ok(w) => w,
        Err(e) => {
            log.error = Some(format!("{name}: connect: {e}"));
            return log;
        }
    };
    let mut last_delivered: Option<Id> = None;
    let mut just_delivered = 0usize;
    'outer: while Instant::now() < deadline {
        // XACK a random part of what it holds (old entries too, from before earlier kills), and
        // read more with the same write.
        let mut sent = Vec::new();
        let mut cmds = Vec::new();
        let n_ack = (rng.below(just_delivered as u64 * 3 / 2 + 2) as usize).min(pending.len());
        if n_ack > 0 {
            let mut ids = Vec::with_capacity(n_ack);
            for _ in 0..n_ack {
                let i = rng.below(pending.len() as u64) as usize;
                ids.push(pending.swap_remove(i));
            }
            let mut cmd = args(&["XACK", STREAM, GROUP]);
            cmd.extend(ids.iter().map(|id| id_str(*id).into_bytes()));
            cmds.push(cmd);
            sent.push(Sent::Ack(ids));
        }
        let count = 1 + rng.below(20);
        cmds.push(args(&[
            "XREADGROUP",
            "GROUP",
            GROUP,
            &name,
            "COUNT",
            &count.to_string(),
            "BLOCK",
            "200",
            "STREAMS",
            STREAM,
            ">",
        ]));
        sent.push(Sent::Read(count));
        let write_ok = wire.send(&cmds);
        just_delivered = 0;
        let mut answered = 0;
        while answered < sent.len() {
            let reply = if write_ok { wire.recv() } else { Got::Closed };
            let reply = match reply {
                Got::Reply(r) => r,
                Got::Closed => break,
                Got::Timeout => {
                    log.error = Some(format!("{name}: no reply within 15 s"));
                    return log;
                }
            };
            match &sent[answered] {
                Sent::Ack(ids) => {
                    if reply != Resp::Int(ids.len() as i64) {
                        log.error = Some(format!(
                            "{name}: XACK of {} IDs it holds ({}) answered {reply:?}",
                            ids.len(),
                            ids.iter().map(|i| id_str(*i)).collect::<Vec<_>>().join(" ")
                        ));
                        return log;
                    }
                    log.acked.extend_from_slice(ids);
                }
                Sent::Read(count) => {
                    let entries = match &reply {
                        Resp::Nil => Vec::new(),
                        Resp::Array(streams) if streams.len() == 1 => {
                            let s = streams[0].array();
                            assert_eq!(s[0].text(), STREAM);
                            s[1].array().to_vec()
                        }
                        other => {
                            log.error = Some(format!("{name}: XREADGROUP answered {other:?}"));
                            return log;
                        }
                    };
                    if entries.len() as u64 > *count {
                        log.error = Some(format!(
                            "{name}: XREADGROUP COUNT {count} delivered {}",
                            entries.len()
                        ));
                        return log;
                    }
                    for e in &entries {
                        let e = e.array();
                        let id = parse_id(e[0].bulk());
                        if last_delivered.is_some_and(|l| id <= l) {
                            log.error = Some(format!(
                                "{name}: XREADGROUP > delivered {} after {}",
                                id_str(id),
                                id_str(last_delivered.expect("set"))
                            ));
                            return log;
                        }
                        last_delivered = Some(id);
                        log.delivered.push(id);
                        pending.push(id);
                    }
                    just_delivered += entries.len();
                    delivered_total.fetch_add(entries.len() as u64, Ordering::Relaxed);
                }
            }
            answered += 1;
        }
        if answered < sent.len() {
            for s in sent.drain(answered..) {
                match s {
                    Sent::Ack(ids) => log.unanswered_acks.extend(ids),
                    Sent::Read(count) => log.unanswered_reads.push(count),
                }
            }
            break 'outer;
        }
    }
    log
}

/// What the producer was told during one cycle.
#[derive(Default)]
struct ProducerLog {
    acked: u64,
    last_id: Option<Id>,
    unanswered: u64,
    error: Option<String>,
}

fn run_producer(port: u16, mut rng: Rng, stop: Arc<AtomicBool>, deadline: Instant) -> ProducerLog {
    let mut log = ProducerLog::default();
    let mut wire = match Wire::connect(port) {
        Ok(w) => w,
        Err(e) => {
            log.error = Some(format!("producer: connect: {e}"));
            return log;
        }
    };
    let mut n = 0u64;
    while Instant::now() < deadline && !stop.load(Ordering::Relaxed) {
        let batch = 1 + rng.below(16);
        let cmds: Vec<Vec<Vec<u8>>> = (0..batch)
            .map(|i| {
                args(&[
                    "XADD",
                    STREAM,
                    "*",
                    "n",
                    &(n + i).to_string(),
                    "job",
                    "x".repeat(rng.below(64) as usize).as_str(),
                ])
            })
            .collect();
        n += batch;
        let ok = wire.send(&cmds);
        for i in 0..batch {
            match if ok { wire.recv() } else { Got::Closed } {
                Got::Reply(Resp::Bulk(b)) => {
                    let id = parse_id(&b);
                    if log.last_id.is_some_and(|l| id <= l) {
                        log.error = Some(format!(
                            "producer: XADD * gave {} after {}",
                            id_str(id),
                            id_str(log.last_id.unwrap())
                        ));
                        return log;
                    }
                    log.last_id = Some(id);
                    log.acked += 1;
                }
                Got::Reply(other) => {
                    log.error = Some(format!("producer: XADD answered {other:?}"));
                    return log;
                }
                Got::Closed => {
                    log.unanswered = batch - i;
                    return log;
                }
                Got::Timeout => {
                    log.error = Some("producer: no reply within 15 s".into());
                    return log;
                }
            }
        }
        // Keep the stream ahead of the consumers, but not by much: most of the load on the
        // server should be group reads and acks.
        std::thread::yield_now();
    }
    log
}

/// What the client side knows, carried over the kills.
#[derive(Default)]
struct Model {
    /// Delivered and not acknowledged: ID → consumer.
    owner: BTreeMap<Id, usize>,
    /// Acknowledged (XACK answered).
    acked: BTreeSet<Id>,
    /// Highest ID ever delivered (as far as the clients know).
    max_delivered: Option<Id>,
    /// XADDs answered, in all cycles.
    produced: u64,
    last_produced: Option<Id>,
}

#[derive(Default)]
struct Totals {
    delivered: u64,
    acked: u64,
    /// Unanswered XACKs found done / not done after the restart.
    lost_acks_done: u64,
    lost_acks_undone: u64,
    /// PEL entries of unanswered XREADGROUPs.
    adopted: u64,
    cycles_with_inflight: usize,
    restart_ms: Vec<u128>,
}

/// The recovered group, as XPENDING and XINFO show it, checked for internal consistency.
struct Recovered {
    /// ID → (consumer, delivery count).
    pel: BTreeMap<Id, (String, i64)>,
    last_delivered: Id,
}

fn observe(c: &mut Conn, cycle: usize) -> Recovered {
    let ctx = format!("after kill {cycle}");
    let ext = c.req_str(&format!("XPENDING {STREAM} {GROUP} - + {BIG}"));
    let mut pel: BTreeMap<Id, (String, i64)> = BTreeMap::new();
    let mut prev: Option<Id> = None;
    for e in ext.array() {
        let e = e.array();
        assert_eq!(e.len(), 4, "{ctx}: XPENDING entry {e:?}");
        let id = parse_id(e[0].bulk());
        assert!(
            prev.is_none_or(|p| p < id),
            "{ctx}: XPENDING not ascending at {}",
            id_str(id)
        );
        prev = Some(id);
        let consumer = e[1].text();
        let deliveries = e[3].int();
        assert!(e[2].int() >= 0, "{ctx}: XPENDING idle {:?}", e[2]);
        pel.insert(id, (consumer, deliveries));
    }

    // The summary form agrees with the extended one.
    let summary = c.req_str(&format!("XPENDING {STREAM} {GROUP}"));
    let s = summary.array();
    assert_eq!(
        s[0].int() as usize,
        pel.len(),
        "{ctx}: XPENDING summary count vs the extended form"
    );
    let mut per_consumer: BTreeMap<String, usize> = BTreeMap::new();
    for (consumer, _) in pel.values() {
        *per_consumer.entry(consumer.clone()).or_default() += 1;
    }
    if pel.is_empty() {
        assert_eq!(
            s[1],
            Resp::Nil,
            "{ctx}: XPENDING summary min of an empty PEL"
        );
        assert_eq!(
            s[3],
            Resp::Nil,
            "{ctx}: XPENDING summary consumers of an empty PEL"
        );
    } else {
        assert_eq!(
            parse_id(s[1].bulk()),
            *pel.keys().next().unwrap(),
            "{ctx}: XPENDING min"
        );
        assert_eq!(
            parse_id(s[2].bulk()),
            *pel.keys().next_back().unwrap(),
            "{ctx}: XPENDING max"
        );
        let summary_counts: BTreeMap<String, usize> = s[3]
            .array()
            .iter()
            .map(|p| {
                let p = p.array();
                (p[0].text(), p[1].text().parse().expect("count"))
            })
            .collect();
        assert_eq!(
            summary_counts, per_consumer,
            "{ctx}: XPENDING summary per consumer"
        );
    }

    // XINFO GROUPS.
    let groups = c.req_str(&format!("XINFO GROUPS {STREAM}"));
    let groups = groups.array();
    assert_eq!(groups.len(), 1, "{ctx}: XINFO GROUPS {groups:?}");
    let g = &groups[0];
    assert_eq!(g.field("name").text(), GROUP);
    assert_eq!(
        g.field("pending").int() as usize,
        pel.len(),
        "{ctx}: XINFO GROUPS pending vs XPENDING"
    );
    let last_delivered = parse_id(g.field("last-delivered-id").bulk());

    // XINFO CONSUMERS.
    let consumers = c.req_str(&format!("XINFO CONSUMERS {STREAM} {GROUP}"));
    assert_eq!(
        g.field("consumers").int() as usize,
        consumers.array().len(),
        "{ctx}: XINFO GROUPS consumers vs XINFO CONSUMERS"
    );
    for cons in consumers.array() {
        let name = cons.field("name").text();
        assert!(
            consumer_index(&name).is_some(),
            "{ctx}: unknown consumer {name:?}"
        );
        assert_eq!(
            cons.field("pending").int() as usize,
            per_consumer.get(&name).copied().unwrap_or(0),
            "{ctx}: XINFO CONSUMERS pending of {name} vs XPENDING"
        );
    }
    for name in per_consumer.keys() {
        assert!(
            consumers
                .array()
                .iter()
                .any(|c| c.field("name").text() == *name),
            "{ctx}: {name} owns pending entries but is not in XINFO CONSUMERS"
        );
    }
    Recovered {
        pel,
        last_delivered,
    }
}

/// Merges a cycle's logs into the model, then checks the recovered group against it and moves
/// the model to the recovered state.
fn verify(
    c: &mut Conn,
    cycle: usize,
    model: &mut Model,
    logs: &[ConsumerLog],
    producer: &ProducerLog,
    totals: &mut Totals,
) {
    let ctx = format!("after kill {cycle}");
    let max_before = model.max_delivered;
    let mut uncertain: BTreeMap<Id, usize> = BTreeMap::new();
    for (ci, log) in logs.iter().enumerate() {
        for &id in &log.delivered {
            assert!(
                !model.acked.contains(&id),
                "{ctx}: {} was delivered to c{ci} by >, but had already been delivered and acknowledged",
                id_str(id)
            );
            if let Some(other) = model.owner.insert(id, ci) {
                panic!(
                    "{ctx}: {} was delivered to c{ci} by >, but had already been delivered to c{other}",
                    id_str(id)
                );
            }
            model.max_delivered = model.max_delivered.max(Some(id));
        }
        totals.delivered += log.delivered.len() as u64;
    }
    for (ci, log) in logs.iter().enumerate() {
        for &id in &log.acked {
            assert_eq!(
                model.owner.remove(&id),
                Some(ci),
                "{ctx}: c{ci} acknowledged {} it did not hold",
                id_str(id)
            );
            model.acked.insert(id);
        }
        totals.acked += log.acked.len() as u64;
        for &id in &log.unanswered_acks {
            assert_eq!(
                model.owner.remove(&id),
                Some(ci),
                "{ctx}: c{ci} acknowledged {} it did not hold",
                id_str(id)
            );
            uncertain.insert(id, ci);
        }
    }
    model.produced += producer.acked;
    model.last_produced = model.last_produced.max(producer.last_id);

    let rec = observe(c, cycle);

    // Acknowledged entries are gone from the PEL.
    for id in &model.acked {
        if let Some((who, _)) = rec.pel.get(id) {
            panic!(
                "{ctx}: {} is pending (owner {who}) although its XACK was answered",
                id_str(*id)
            );
        }
    }
    // Delivered, unacknowledged entries are pending with their consumer.
    let mut missing = Vec::new();
    for (id, ci) in &model.owner {
        match rec.pel.get(id) {
            Some((who, _)) if *who == consumer_name(*ci) => {}
            Some((who, _)) => panic!(
                "{ctx}: {} was delivered to c{ci} and not acknowledged, but XPENDING says its owner is {who}",
                id_str(*id)
            ),
            None => missing.push(id_str(*id)),
        }
    }
    assert!(
        missing.is_empty(),
        "{ctx}: {} delivered and unacknowledged entries are not pending any more (lost PEL entries): {}",
        missing.len(),
        missing.iter().take(20).cloned().collect::<Vec<_>>().join(" ")
    );
    // Unanswered XACKs: either state; go on from the recovered one.
    for (id, ci) in uncertain {
        match rec.pel.get(&id) {
            None => {
                model.acked.insert(id);
                totals.lost_acks_done += 1;
            }
            Some((who, _)) => {
                assert_eq!(
                    *who,
                    consumer_name(ci),
                    "{ctx}: {} (XACK by c{ci} unanswered) is pending with another owner",
                    id_str(id)
                );
                model.owner.insert(id, ci);
                totals.lost_acks_undone += 1;
            }
        }
    }
    // Pending entries nobody was told about: executed XREADGROUPs whose reply was lost.
    let mut adopted = [0u64; CONSUMERS];
    for (id, (who, deliveries)) in &rec.pel {
        assert!(
            *deliveries >= 1,
            "{ctx}: {} has delivery count {deliveries}",
            id_str(*id)
        );
        assert_eq!(
            *deliveries,
            1,
            "{ctx}: {} has delivery count {deliveries}, but nothing in this test delivers an entry twice",
            id_str(*id)
        );
        if model.owner.contains_key(id) {
            continue;
        }
        let ci = consumer_index(who).unwrap_or_else(|| {
            panic!(
                "{ctx}: pending entry {} owned by unknown consumer {who:?}",
                id_str(*id)
            )
        });
        let lost_reads: u64 = logs[ci].unanswered_reads.iter().sum();
        adopted[ci] += 1;
        assert!(
            adopted[ci] <= lost_reads,
            "{ctx}: {} is pending with {who}, which was never told about it (and had no \
             unanswered XREADGROUP for it: {} such entries, unanswered COUNTs {:?})",
            id_str(*id),
            adopted[ci],
            logs[ci].unanswered_reads
        );
        assert!(
            max_before.is_none_or(|m| *id > m),
            "{ctx}: {} (pending with {who} from an unanswered XREADGROUP) is not newer than \
             {}, delivered before this cycle",
            id_str(*id),
            id_str(max_before.unwrap())
        );
        model.owner.insert(*id, ci);
        model.max_delivered = model.max_delivered.max(Some(*id));
        totals.adopted += 1;
    }
    // The group's last-delivered-id covers every delivery.
    if let Some(m) = model.max_delivered {
        assert!(
            rec.last_delivered >= m,
            "{ctx}: last-delivered-id {} is below the delivered {}",
            id_str(rec.last_delivered),
            id_str(m)
        );
    }
    // Every answered XADD is still there (nothing trims this stream).
    let xlen = c.req_str(&format!("XLEN {STREAM}")).int() as u64;
    assert!(
        xlen >= model.produced,
        "{ctx}: XLEN {xlen} but {} XADDs were answered",
        model.produced
    );
    if let Some(last) = model.last_produced {
        let info = c.req_str(&format!("XINFO STREAM {STREAM}"));
        let generated = parse_id(info.field("last-generated-id").bulk());
        assert!(
            generated >= last,
            "{ctx}: last-generated-id {} below the answered XADD {}",
            id_str(generated),
            id_str(last)
        );
        assert!(
            generated >= rec.last_delivered,
            "{ctx}: last-delivered-id {} beyond last-generated-id {}",
            id_str(rec.last_delivered),
            id_str(generated)
        );
    }
    assert_eq!(
        model.owner.len(),
        rec.pel.len(),
        "{ctx}: PEL size vs the model"
    );
}

fn seed() -> u64 {
    std::env::var("SLUICE_GROUP_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(1)
        })
}

#[test]
fn consumer_groups_survive_10_kills_appendfsync_always() {
    let seed = seed();
    println!("seed {seed} (set SLUICE_GROUP_CRASH_SEED={seed} to replay)");
    let mut rng = Rng::new(seed);
    let started = Instant::now();
    let mut server = Server::start(&["--appendfsync", "always"]);
    {
        let mut c = server.conn();
        assert_eq!(
            c.req_str(&format!("XGROUP CREATE {STREAM} {GROUP} $ MKSTREAM")),
            Resp::Status("OK".into())
        );
    }
    let mut model = Model::default();
    let mut totals = Totals::default();
    for cycle in 1..=CYCLES {
        let deadline = Instant::now() + Duration::from_secs(20);
        let delivered = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let consumers: Vec<_> = (0..CONSUMERS)
            .map(|ci| {
                let holds: Vec<Id> = model
                    .owner
                    .iter()
                    .filter(|(_, &o)| o == ci)
                    .map(|(id, _)| *id)
                    .collect();
                let (port, crng, delivered) =
                    (server.port, Rng::new(rng.next()), delivered.clone());
                std::thread::spawn(move || run_consumer(port, ci, holds, crng, delivered, deadline))
            })
            .collect();
        let producer = {
            let (port, prng, stop) = (server.port, Rng::new(rng.next()), stop.clone());
            std::thread::spawn(move || run_producer(port, prng, stop, deadline))
        };
        // Kill at a random point of the load: once the consumers have been handed a random
        // number of entries (a condition, so the work per cycle does not depend on the machine's
        // speed), plus a random few milliseconds.
        let min_delivered = 100 + rng.below(1500);
        let wait_until = Instant::now() + Duration::from_secs(15);
        while delivered.load(Ordering::Relaxed) < min_delivered {
            assert!(
                Instant::now() < wait_until,
                "kill {cycle}: consumers were handed only {} entries in 15 s",
                delivered.load(Ordering::Relaxed)
            );
            std::thread::sleep(Duration::from_millis(1));
        }
        std::thread::sleep(Duration::from_micros(rng.below(20_000)));
        server.kill9();
        stop.store(true, Ordering::Relaxed);
        let logs: Vec<ConsumerLog> = consumers
            .into_iter()
            .map(|h| h.join().expect("consumer thread"))
            .collect();
        let plog = producer.join().expect("producer thread");
        let errors: Vec<&String> = logs
            .iter()
            .filter_map(|l| l.error.as_ref())
            .chain(plog.error.as_ref())
            .collect();
        assert!(errors.is_empty(), "kill {cycle}: {errors:?}");
        let unanswered_reads: usize = logs.iter().map(|l| l.unanswered_reads.len()).sum();
        let unanswered_acks: usize = logs.iter().map(|l| l.unanswered_acks.len()).sum();
        if unanswered_reads + unanswered_acks > 0 || plog.unanswered > 0 {
            totals.cycles_with_inflight += 1;
        }
        let restart = server.restart_timed();
        totals.restart_ms.push(restart.as_millis());
        let mut c = server.conn();
        let (adopted_before, done_before, undone_before) = (
            totals.adopted,
            totals.lost_acks_done,
            totals.lost_acks_undone,
        );
        verify(&mut c, cycle, &mut model, &logs, &plog, &mut totals);
        println!(
            "kill {cycle:2}: delivered {:5}, acked {:5}, XADDs {:5}; in flight: {unanswered_reads} \
             reads (→ {} pending), {unanswered_acks} acked IDs (→ {} done, {} not), {} XADDs; \
             pending now {:5}; restart to PONG {} ms",
            logs.iter().map(|l| l.delivered.len()).sum::<usize>(),
            logs.iter().map(|l| l.acked.len()).sum::<usize>(),
            plog.acked,
            totals.adopted - adopted_before,
            totals.lost_acks_done - done_before,
            totals.lost_acks_undone - undone_before,
            plog.unanswered,
            model.owner.len(),
            restart.as_millis()
        );
    }
    let r = &totals.restart_ms;
    println!(
        "{CYCLES} kills in {:.1} s: {} entries delivered, {} acknowledged, {} adopted from \
         unanswered reads, unanswered XACKs {} done / {} not; {} still pending; restart to PONG \
         min {} / max {} ms",
        started.elapsed().as_secs_f64(),
        totals.delivered,
        totals.acked,
        totals.adopted,
        totals.lost_acks_done,
        totals.lost_acks_undone,
        model.owner.len(),
        r.iter().min().unwrap_or(&0),
        r.iter().max().unwrap_or(&0)
    );
    // The kills must really have hit the server under load.
    assert!(
        totals.cycles_with_inflight * 2 >= CYCLES,
        "only {} of {CYCLES} kills found requests in flight",
        totals.cycles_with_inflight
    );
}
