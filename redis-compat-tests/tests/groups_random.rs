//! Seeded random differential test of consumer groups mixed with stream
//! writes: each case is a deterministic sequence (xorshift64*) of a few
//! hundred commands on two stream keys (and a string key for WRONGTYPE):
//! XADD (explicit IDs and `<ms>-*`, never `*`), XDEL, XTRIM, XGROUP CREATE /
//! SETID / CREATECONSUMER / DELCONSUMER / DESTROY, XREADGROUP (`>` and
//! history, COUNT, NOACK, one or two streams), XACK, XPENDING (summary, and
//! the extended form with its `idle` field checked for a range and blanked),
//! XCLAIM / XAUTOCLAIM with min-idle 0 or "never" (JUSTID or not: delivery
//! counts are deterministic, only times are not), XINFO GROUPS and XINFO
//! STREAM. Every other reply is compared byte for byte, over RESP2 and RESP3.
//!
//! Consumers: Redis 7.0.15 creates a consumer only when XREADGROUP serves it
//! or XCLAIM / XAUTOCLAIM claim something, Redis 7.2 on every call. The
//! generator tracks which consumers exist and sends `XGROUP CREATECONSUMER`
//! before any `>` read or claim by an unknown consumer, so both behaviours
//! give the same replies.
//!
//! To replay a failure: the case name holds the seed; the transcript of the
//! failure report shows every command sent.

use std::collections::{BTreeMap, BTreeSet};

use redis_compat_tests::*;

const KEYS: [&str; 2] = ["{k}a", "{k}b"];
const GROUPS: [&str; 3] = ["g1", "g2", "g3"];
const CONSUMERS: [&str; 4] = ["c1", "c2", "c3", "c4"];
/// min-idle-time that is never reached (about 3 years).
const NEVER: u64 = 100_000_000_000;

/// What the generator believes about one stream key. It never sees the
/// replies; the beliefs are exact for everything that decides whether a
/// consumer exists (the key, its groups and their consumers).
#[derive(Default)]
struct Model {
    exists: bool,
    /// Last ID handed out (XADD) — the stream's last-generated-id.
    ms: u64,
    seq: u64,
    /// Group -> consumers.
    groups: BTreeMap<&'static str, BTreeSet<&'static str>>,
    /// The IDs handed out lately (likely to be in the stream or a PEL).
    added: Vec<String>,
}

struct Gen {
    rng: Rng,
    keys: [Model; 2],
    out: Vec<Step>,
}

impl Gen {
    fn emit(&mut self, s: String) {
        self.out.push(step(&s));
    }

    fn key(&mut self) -> usize {
        usize::from(self.rng.pct(30))
    }

    /// A group of key `i`: mostly one that exists.
    fn group(&mut self, i: usize) -> &'static str {
        let known: Vec<&'static str> = self.keys[i].groups.keys().copied().collect();
        if !known.is_empty() && self.rng.pct(80) {
            known[self.rng.below(known.len() as u64) as usize]
        } else {
            GROUPS[self.rng.below(GROUPS.len() as u64) as usize]
        }
    }

    /// An ID near the key's range: mostly handed-out ones.
    fn some_id(&mut self, i: usize) -> String {
        if !self.keys[i].added.is_empty() && self.rng.pct(60) {
            let n = self.keys[i].added.len() as u64;
            // the recent ones more often
            let window = n.min(1 + self.rng.below(20));
            let back = self.rng.below(window);
            return self.keys[i].added[(n - 1 - back) as usize].clone();
        }
        let m = &self.keys[i];
        let (ms, seq) = (m.ms, m.seq);
        let ms = ms.saturating_sub(self.rng.below(12)).max(1);
        match self.rng.below(8) {
            0 => ms.to_string(),
            1 => format!("{}-{}", m.ms + 1, 0),
            _ => format!("{ms}-{}", self.rng.below(seq.max(1) + 2)),
        }
    }

    fn range_bound(&mut self, i: usize, low: bool) -> String {
        match self.rng.below(6) {
            0 => if low { "-" } else { "+" }.to_string(),
            1 => format!("({}", self.some_id(i)),
            _ => self.some_id(i),
        }
    }

    /// Make sure consumer `c` of group `g` exists on every key in `keys`
    /// where the group exists (so that a call that serves nothing does not
    /// depend on whether it creates the consumer).
    fn ensure_consumer(&mut self, keys: &[usize], g: &'static str, c: &'static str) {
        for &i in keys {
            let m = &mut self.keys[i];
            if m.exists {
                if let Some(cs) = m.groups.get_mut(g) {
                    if cs.insert(c) {
                        self.out
                            .push(step(&format!("XGROUP CREATECONSUMER {} {g} {c}", KEYS[i])));
                    }
                }
            }
        }
    }

    fn xadd(&mut self) {
        let i = self.key();
        let trim = if self.rng.pct(15) {
            if self.rng.pct(50) {
                format!(
                    "MAXLEN {}{} ",
                    if self.rng.pct(40) { "~ " } else { "" },
                    self.rng.below(30)
                )
            } else {
                format!(
                    "MINID {} ",
                    self.keys[i].ms.saturating_sub(self.rng.below(20))
                )
            }
        } else {
            String::new()
        };
        let m = &mut self.keys[i];
        let id = if self.rng.pct(4) {
            // not above the top (or 0-0): an error, nothing changes
            format!("{}-{}", m.ms, m.seq)
        } else {
            let star = self.rng.pct(25);
            if self.rng.pct(if star { 50 } else { 60 }) {
                m.ms += 1 + self.rng.below(3);
                m.seq = if star { 0 } else { self.rng.below(3) };
            } else {
                m.seq += 1 + if star { 0 } else { self.rng.below(2) };
            }
            m.exists = true;
            m.added.push(format!("{}-{}", m.ms, m.seq));
            if m.added.len() > 60 {
                m.added.remove(0);
            }
            if star {
                format!("{}-*", m.ms)
            } else {
                format!("{}-{}", m.ms, m.seq)
            }
        };
        let v = self.rng.below(1000);
        self.emit(format!("XADD {} {trim}{id} f {v}", KEYS[i]));
    }

    fn xdel(&mut self) {
        let i = self.key();
        let n = 1 + self.rng.below(3);
        let ids: Vec<String> = (0..n).map(|_| self.some_id(i)).collect();
        self.emit(format!("XDEL {} {}", KEYS[i], ids.join(" ")));
    }

    fn xtrim(&mut self) {
        let i = self.key();
        let s = if self.rng.pct(50) {
            format!(
                "MAXLEN {}{}",
                if self.rng.pct(30) { "~ " } else { "" },
                self.rng.below(25)
            )
        } else {
            format!(
                "MINID {}",
                self.keys[i].ms.saturating_sub(self.rng.below(25))
            )
        };
        self.emit(format!("XTRIM {} {s}", KEYS[i]));
    }

    fn xgroup_create(&mut self) {
        let i = self.key();
        let g = *self.rng.pick(&GROUPS);
        let id = match self.rng.below(5) {
            0 => "$".to_string(),
            1 => "0".to_string(),
            _ => self.some_id(i),
        };
        let mk = self.rng.pct(30);
        let er = if self.rng.pct(20) {
            format!(" ENTRIESREAD {}", self.rng.below(40))
        } else {
            String::new()
        };
        let m = &mut self.keys[i];
        if (m.exists || mk) && !m.groups.contains_key(g) {
            m.exists = true;
            m.groups.insert(g, BTreeSet::new());
        }
        self.emit(format!(
            "XGROUP CREATE {} {g} {id}{}{er}",
            KEYS[i],
            if mk { " MKSTREAM" } else { "" }
        ));
    }

    fn xgroup_other(&mut self) {
        let i = self.key();
        let g = self.group(i);
        let c = *self.rng.pick(&CONSUMERS);
        let k = KEYS[i];
        match self.rng.below(10) {
            0..=3 => {
                let id = match self.rng.below(4) {
                    0 => "$".to_string(),
                    1 => "0".to_string(),
                    _ => self.some_id(i),
                };
                let er = if self.rng.pct(30) {
                    format!(" ENTRIESREAD {}", self.rng.below(40))
                } else {
                    String::new()
                };
                self.emit(format!("XGROUP SETID {k} {g} {id}{er}"));
            }
            4 | 5 | 8 => {
                let m = &mut self.keys[i];
                if m.exists {
                    if let Some(cs) = m.groups.get_mut(g) {
                        cs.insert(c);
                    }
                }
                self.emit(format!("XGROUP CREATECONSUMER {k} {g} {c}"));
            }
            6 | 7 => {
                if let Some(cs) = self.keys[i].groups.get_mut(g) {
                    cs.remove(c);
                }
                self.emit(format!("XGROUP DELCONSUMER {k} {g} {c}"));
            }
            _ => {
                self.keys[i].groups.remove(g);
                self.emit(format!("XGROUP DESTROY {k} {g}"));
            }
        }
    }

    fn xreadgroup(&mut self) {
        let two = self.rng.pct(25);
        let idx: Vec<usize> = if two { vec![0, 1] } else { vec![self.key()] };
        let g = self.group(idx[0]);
        let c = *self.rng.pick(&CONSUMERS);
        let mut ids = Vec::new();
        let mut any_new = false;
        for &i in &idx {
            ids.push(if self.rng.pct(70) {
                any_new = true;
                ">".to_string()
            } else if self.rng.pct(50) {
                "0".to_string()
            } else {
                self.some_id(i)
            });
        }
        // all groups present -> the command runs (and creates the consumer when it serves)
        let runs = idx
            .iter()
            .all(|&i| self.keys[i].exists && self.keys[i].groups.contains_key(g));
        if runs {
            if any_new {
                self.ensure_consumer(&idx, g, c);
            }
            // a history read always serves, so it creates the consumer everywhere
            for (n, &i) in idx.iter().enumerate() {
                if ids[n] != ">" {
                    self.keys[i].groups.get_mut(g).map(|cs| cs.insert(c));
                }
            }
            // `>` serving also creates it: it is known to exist already
        }
        let count = if self.rng.pct(50) {
            format!("COUNT {} ", self.rng.below(5))
        } else {
            String::new()
        };
        let noack = if self.rng.pct(15) { "NOACK " } else { "" };
        let keys: Vec<&str> = idx.iter().map(|&i| KEYS[i]).collect();
        self.emit(format!(
            "XREADGROUP GROUP {g} {c} {count}{noack}STREAMS {} {}",
            keys.join(" "),
            ids.join(" ")
        ));
    }

    fn xack(&mut self) {
        let i = self.key();
        let g = self.group(i);
        let n = 1 + self.rng.below(4);
        let ids: Vec<String> = (0..n).map(|_| self.some_id(i)).collect();
        self.emit(format!("XACK {} {g} {}", KEYS[i], ids.join(" ")));
    }

    fn xpending(&mut self) {
        let i = self.key();
        let g = self.group(i);
        let k = KEYS[i];
        if self.rng.pct(40) {
            self.emit(format!("XPENDING {k} {g}"));
            return;
        }
        let idle = match self.rng.below(6) {
            0 => "IDLE 0 ",
            1 => "IDLE 100000000000 ",
            _ => "",
        };
        let (a, b) = (self.range_bound(i, true), self.range_bound(i, false));
        let count = self.rng.below(12) as i64 - 1;
        let who = if self.rng.pct(30) {
            format!(" {}", self.rng.pick(&CONSUMERS))
        } else {
            String::new()
        };
        self.out.push(xpending(&format!(
            "XPENDING {k} {g} {idle}{a} {b} {count}{who}"
        )));
    }

    fn xclaim(&mut self) {
        let i = self.key();
        let g = self.group(i);
        let c = *self.rng.pick(&CONSUMERS);
        self.ensure_consumer(&[i], g, c);
        let k = KEYS[i];
        let min_idle = if self.rng.pct(75) { 0 } else { NEVER };
        if self.rng.pct(50) {
            let n = 1 + self.rng.below(4);
            let ids: Vec<String> = (0..n).map(|_| self.some_id(i)).collect();
            let mut opts = String::new();
            if self.rng.pct(60) {
                opts += " JUSTID";
            }
            if self.rng.pct(15) {
                opts += " FORCE";
            }
            if self.rng.pct(15) {
                opts += &format!(" RETRYCOUNT {}", self.rng.below(6));
            }
            if self.rng.pct(10) {
                opts += &format!(" LASTID {}", self.some_id(i));
            }
            self.emit(format!(
                "XCLAIM {k} {g} {c} {min_idle} {}{opts}",
                ids.join(" ")
            ));
        } else {
            let start = match self.rng.below(4) {
                0 => "0".to_string(),
                1 => "-".to_string(),
                _ => self.range_bound(i, true),
            };
            let count = if self.rng.pct(60) {
                format!(" COUNT {}", 1 + self.rng.below(5))
            } else {
                String::new()
            };
            let justid = if self.rng.pct(50) { " JUSTID" } else { "" };
            self.emit(format!(
                "XAUTOCLAIM {k} {g} {c} {min_idle} {start}{count}{justid}"
            ));
        }
    }

    fn error_cmd(&mut self) {
        let i = self.key();
        let k = KEYS[i];
        let s = match self.rng.below(8) {
            0 => "XREADGROUP GROUP g1 c1 STREAMS {k}s >".to_string(),
            1 => format!("XREADGROUP GROUP g1 c1 STREAMS {k} $"),
            2 => format!("XGROUP CREATE {k} g1 x"),
            3 => format!("XACK {k} g1 bad"),
            4 => format!("XCLAIM {k} g1 c1 0 1-1 BOGUS"),
            5 => format!("XAUTOCLAIM {k} g1 c1 0 0 COUNT 0"),
            6 => "XPENDING {k}s g1".to_string(),
            _ => format!("XGROUP SETID {k} nogroup 0"),
        };
        self.emit(s);
    }

    fn command(&mut self) {
        match self.rng.below(1000) {
            0..=179 => self.xadd(),
            180..=219 => self.xdel(),
            220..=239 => self.xtrim(),
            240..=299 => self.xgroup_create(),
            300..=379 => self.xgroup_other(),
            380..=559 => self.xreadgroup(),
            560..=629 => self.xack(),
            630..=729 => self.xpending(),
            730..=829 => self.xclaim(),
            830..=909 => {
                let i = self.key();
                self.emit(format!("XINFO GROUPS {}", KEYS[i]));
            }
            910..=949 => {
                let i = self.key();
                self.emit(format!("XINFO STREAM {}", KEYS[i]));
            }
            950..=954 => {
                let i = self.key();
                let m = &mut self.keys[i];
                m.exists = false;
                m.groups.clear();
                self.emit(format!("DEL {}", KEYS[i]));
            }
            _ => self.error_cmd(),
        }
    }
}

/// XPENDING: the extended form's `idle` (3rd element of each entry) must be
/// an integer in 0..=600000 and is blanked; everything else byte-identical.
fn xpending(line: &str) -> Step {
    fn mask(f: &Frame) -> Result<Frame, String> {
        match f {
            Frame::Array(entries)
                if entries
                    .iter()
                    .all(|e| matches!(e, Frame::Array(x) if x.len() == 4)) =>
            {
                let mut out = Vec::new();
                for e in entries {
                    let Frame::Array(x) = e else { unreachable!() };
                    match x[2] {
                        Frame::Integer(n) if (0..=600_000).contains(&n) => {}
                        ref other => {
                            return Err(format!("idle {other} not an integer in 0..=600000"))
                        }
                    }
                    let mut x = x.clone();
                    x[2] = Frame::Integer(0);
                    out.push(Frame::Array(x));
                }
                Ok(Frame::Array(out))
            }
            other => Ok(other.clone()),
        }
    }
    pair(line, "same reply, idle blanked", |a, b| {
        let ma = mask(a).map_err(|e| format!("case bug: redis {e}"))?;
        let mb = mask(b).map_err(|e| format!("sluice {e}"))?;
        if ma.encode() == mb.encode() {
            Ok(())
        } else {
            Err(format!(
                "replies differ beyond idle:\n    redis (masked):  {ma}\n    sluice (masked): {mb}"
            ))
        }
    })
}

fn random_case(seed: u64, len: usize) -> Case {
    let mut g = Gen {
        rng: Rng::new(seed),
        keys: [Model::default(), Model::default()],
        out: vec![step("SET {k}s not-a-stream")],
    };
    for _ in 0..len {
        g.command();
    }
    // final state
    for (i, key) in KEYS.iter().enumerate() {
        g.emit(format!("XINFO STREAM {key}"));
        g.emit(format!("XINFO GROUPS {key}"));
        g.emit(format!("XRANGE {key} - +"));
        let groups: Vec<&str> = g.keys[i].groups.keys().copied().collect();
        for grp in groups {
            g.emit(format!("XPENDING {key} {grp}"));
            g.out
                .push(xpending(&format!("XPENDING {key} {grp} - + 1000")));
        }
    }
    g.emit("DEL {k}a {k}b {k}s".to_string());
    case(&format!("random_groups_seed{seed}"), &g.out)
}

/// `RANDOM_SEEDS=first..last` runs other seeds (500 steps each), for a longer exploration by
/// hand.
fn cases() -> Vec<Case> {
    if let Some((a, b)) = seed_range() {
        return (a..=b).map(|s| random_case(s, 500)).collect();
    }
    (1..=12u64)
        .map(|s| random_case(s, if s <= 2 { 1000 } else { 500 }))
        .collect()
}

fn main() {
    run(cases());
}
