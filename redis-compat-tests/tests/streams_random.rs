//! Seeded random differential test of the stream commands: each case is a
//! deterministic sequence (xorshift64*) of a few hundred XADD (random
//! trimming options, explicit IDs, `<ms>-*`, partial IDs, and `*` only once
//! the stream's IDs lie far in the future, which makes it deterministic),
//! XDEL, XTRIM, XRANGE / XREVRANGE with random bounds and counts, XLEN,
//! XINFO STREAM, XSETID, XREAD and the occasional DEL or error, on two
//! stream keys (and a string key for WRONGTYPE). Every reply is compared
//! byte for byte, over RESP2 and RESP3.
//!
//! To replay a failure: the case name holds the seed and the profile; the
//! transcript of the failure report shows every command sent.

use redis_compat_tests::*;

/// All IDs start here: far in the future (year ~2255), so `XADD *` on a
/// stream whose last ID is above it gives `<last ms>-<last seq + 1>`,
/// independent of the clock.
const BASE_MS: u64 = 9_000_000_000_000;

/// What the generator believes about one stream key (it never sees the
/// replies; a wrong belief only produces more error replies, which are
/// compared like any other).
#[derive(Clone, Copy)]
struct Model {
    /// Last ID the generator handed out (or set with XSETID).
    ms: u64,
    seq: u64,
    /// The key holds a stream whose last ID is >= BASE_MS (so `*` is safe).
    exists: bool,
}

/// Value sizes of a profile.
#[derive(Clone, Copy)]
struct Profile {
    name: &'static str,
    /// Maximum length of a random string value.
    max_len: u64,
    /// Percentage of XADDs carrying a trimming option.
    trim_pct: u64,
    /// Largest MAXLEN threshold.
    max_maxlen: u64,
    /// Largest distance (in ms) of a MINID threshold behind the last ID.
    max_minid_back: u64,
    /// Share of XDEL commands, per mille (the rest of 500 are XADDs).
    xdel_permille: u64,
    /// Commands per case.
    len: usize,
    /// Percentage of MAXLEN thresholds that cut deep (0..=20).
    deep_cut_pct: u64,
}

const PROFILES: [Profile; 3] = [
    Profile {
        name: "small",
        max_len: 12,
        trim_pct: 20,
        max_maxlen: 250,
        max_minid_back: 300,
        xdel_permille: 60,
        len: 600,
        deep_cut_pct: 15,
    },
    // values large enough that the 4096-byte node limit matters
    Profile {
        name: "large",
        max_len: 90,
        trim_pct: 25,
        max_maxlen: 200,
        max_minid_back: 200,
        xdel_permille: 60,
        len: 600,
        deep_cut_pct: 15,
    },
    // mostly growing streams (few trims): several nodes of 100 entries
    Profile {
        name: "growing",
        max_len: 6,
        trim_pct: 4,
        max_maxlen: 400,
        max_minid_back: 600,
        xdel_permille: 15,
        len: 1200,
        deep_cut_pct: 1,
    },
];

struct Gen {
    rng: Rng,
    keys: [Model; 2],
    profile: Profile,
}

impl Gen {
    /// Key `a` three times out of four, so that it grows past one node.
    fn key(&mut self) -> (usize, String) {
        let i = usize::from(self.rng.pct(25));
        (i, format!("{{k}}{}", ["a", "b"][i]))
    }

    /// A field value: short string, number (integer-encoded in listpacks),
    /// empty, or a longer string.
    fn value(&mut self) -> String {
        match self.rng.below(10) {
            0 => r#""""#.to_string(),
            1..=3 => {
                let n = self.rng.next_u64() as i64;
                match self.rng.below(4) {
                    0 => (n % 100).to_string(),
                    1 => (n % 100_000).to_string(),
                    2 => n.to_string(),
                    _ => "18446744073709551616".to_string(),
                }
            }
            _ => {
                let len = 1 + self.rng.below(self.profile.max_len);
                (0..len)
                    .map(|_| (b'a' + self.rng.below(26) as u8) as char)
                    .collect()
            }
        }
    }

    fn fields(&mut self) -> String {
        // same field names most of the time (the listpack "same fields" flag)
        let same = self.rng.pct(60);
        let n = if same { 2 } else { 1 + self.rng.below(4) };
        let mut out = Vec::new();
        for j in 0..n {
            let f = if same {
                ["temp", "hum"][j as usize].to_string()
            } else {
                self.rng
                    .pick(&["f", "g", "temp", "hum", "x1", "a-long-field-name"])
                    .to_string()
            };
            out.push(f);
            out.push(self.value());
        }
        out.join(" ")
    }

    /// A random ID near the key's range, in one of the accepted spellings.
    fn some_id(&mut self, i: usize) -> String {
        let m = self.keys[i];
        let ms = BASE_MS + self.rng.below(m.ms.saturating_sub(BASE_MS) + 3);
        match self.rng.below(6) {
            0 => ms.to_string(),
            1 => format!("{ms}-0"),
            2 => format!("{ms}-{}", self.rng.below(m.seq + 3)),
            _ => format!("{}-{}", m.ms, self.rng.below(m.seq + 2)),
        }
    }

    fn range_bound(&mut self, i: usize, low: bool) -> String {
        match self.rng.below(8) {
            0 => {
                if low {
                    "-".into()
                } else {
                    "+".into()
                }
            }
            1 => {
                if low {
                    "+".into()
                } else {
                    "-".into()
                }
            }
            2 | 3 => format!("({}", self.some_id(i)),
            4 => "0".into(),
            _ => self.some_id(i),
        }
    }

    /// The next ID for an XADD that should succeed, and its spelling.
    fn next_add_id(&mut self, i: usize) -> String {
        let m = &mut self.keys[i];
        let r = self.rng.below(10);
        if m.exists && r == 0 {
            // `*` (deterministic: the last ID is in the future)
            m.seq += 1;
            return "*".into();
        }
        if r <= 3 {
            // `<ms>-*`: same ms (seq + 1) or a later ms (seq 0)
            if self.rng.pct(50) && (m.exists || m.ms > BASE_MS) {
                m.seq += 1;
            } else {
                m.ms += 1 + self.rng.below(3);
                m.seq = 0;
            }
            return format!("{}-*", m.ms);
        }
        if r == 4 {
            // partial: `<ms>` = `<ms>-0`
            m.ms += 1 + self.rng.below(2);
            m.seq = 0;
            return m.ms.to_string();
        }
        if self.rng.pct(50) {
            m.seq += 1 + self.rng.below(3);
        } else {
            m.ms += 1 + self.rng.below(5);
            m.seq = self.rng.below(4);
        }
        format!("{}-{}", m.ms, m.seq)
    }

    fn trim_opts(&mut self, i: usize) -> String {
        let approx = self.rng.pct(50);
        let op = if approx {
            "~ "
        } else if self.rng.pct(30) {
            "= "
        } else {
            ""
        };
        let strategy = if self.rng.pct(65) {
            // mostly generous thresholds, sometimes a deep cut
            let max = if self.rng.pct(self.profile.deep_cut_pct) {
                20
            } else {
                self.profile.max_maxlen
            };
            format!("MAXLEN {op}{}", self.rng.below(max + 1))
        } else {
            // MINID somewhere behind the last ID
            let m = self.keys[i];
            let back = self.rng.below(self.profile.max_minid_back + 1);
            format!("MINID {op}{}", m.ms.saturating_sub(back).max(BASE_MS))
        };
        if approx && self.rng.pct(30) {
            format!(
                "{strategy} LIMIT {}",
                self.rng.pick(&[0u64, 1, 10, 50, 99, 100, 101, 250])
            )
        } else {
            strategy
        }
    }

    fn xadd(&mut self) -> String {
        let (i, key) = self.key();
        let mut opts = Vec::new();
        let nomk = self.rng.pct(5);
        if nomk {
            opts.push("NOMKSTREAM".to_string());
        }
        if self.rng.pct(self.profile.trim_pct) {
            opts.push(self.trim_opts(i));
        }
        if opts.len() == 2 && self.rng.pct(50) {
            opts.swap(0, 1);
        }
        let fields = self.fields();
        if self.rng.pct(4) {
            // an ID that is not above the top: error, nothing changes
            let m = self.keys[i];
            let id = match self.rng.below(3) {
                0 => format!("{}-{}", m.ms, m.seq),
                1 => "0-0".into(),
                _ => format!("{}-*", BASE_MS),
            };
            return format!("XADD {key} {} {id} {fields}", opts.join(" "));
        }
        let id = self.next_add_id(i);
        if !nomk {
            self.keys[i].exists = true;
        }
        format!("XADD {key} {} {id} {fields}", opts.join(" "))
    }

    fn xdel(&mut self) -> String {
        let (i, key) = self.key();
        let n = 1 + self.rng.below(4);
        let ids: Vec<String> = (0..n)
            .map(|_| {
                let m = self.keys[i];
                // mostly IDs that were handed out: same ms, small seq
                let ms = m.ms.saturating_sub(self.rng.below(20)).max(BASE_MS);
                format!("{ms}-{}", self.rng.below(4))
            })
            .collect();
        format!("XDEL {key} {}", ids.join(" "))
    }

    fn xtrim(&mut self) -> String {
        let (i, key) = self.key();
        format!("XTRIM {key} {}", self.trim_opts(i))
    }

    fn xrange(&mut self) -> String {
        let (i, key) = self.key();
        let rev = self.rng.pct(35);
        let (a, b) = (self.range_bound(i, true), self.range_bound(i, false));
        let count = match self.rng.below(10) {
            0 => " COUNT 0".to_string(),
            1 => " COUNT -1".to_string(),
            2..=5 => format!(" COUNT {}", 1 + self.rng.below(20)),
            _ => String::new(),
        };
        if rev {
            format!("XREVRANGE {key} {b} {a}{count}")
        } else {
            format!("XRANGE {key} {a} {b}{count}")
        }
    }

    fn xread(&mut self) -> String {
        let count = if self.rng.pct(50) {
            format!("COUNT {} ", self.rng.below(15))
        } else {
            String::new()
        };
        let two = self.rng.pct(40);
        let mut keys = Vec::new();
        let mut ids = Vec::new();
        for n in 0..(if two { 2 } else { 1 }) {
            let i = if two { n } else { self.rng.below(2) as usize };
            keys.push(format!("{{k}}{}", ["a", "b"][i]));
            ids.push(match self.rng.below(6) {
                0 => "$".to_string(),
                1 => "0".to_string(),
                _ => self.some_id(i),
            });
        }
        format!("XREAD {count}STREAMS {} {}", keys.join(" "), ids.join(" "))
    }

    fn xsetid(&mut self) -> String {
        let (i, key) = self.key();
        let m = &mut self.keys[i];
        let (ms, seq) = if self.rng.pct(80) {
            (m.ms + self.rng.below(4), m.seq + 5)
        } else {
            (m.ms.saturating_sub(3).max(BASE_MS), 0)
        };
        if ms > m.ms || (ms == m.ms && seq > m.seq) {
            (m.ms, m.seq) = (ms, seq);
        }
        let mut cmd = format!("XSETID {key} {ms}-{seq}");
        if self.rng.pct(30) {
            cmd += &format!(" ENTRIESADDED {}", self.rng.below(400));
        }
        if self.rng.pct(30) {
            cmd += &format!(
                " MAXDELETEDID {}-{}",
                ms.saturating_sub(self.rng.below(3)),
                self.rng.below(3)
            );
        }
        cmd
    }

    fn error_cmd(&mut self) -> String {
        let (i, key) = self.key();
        match self.rng.below(8) {
            0 => format!("XADD {key} MAXLEN -1 {}-1 f v", self.keys[i].ms + 1),
            1 => format!("XADD {key} MAXLEN 5 LIMIT 10 {}-1 f v", self.keys[i].ms + 1),
            2 => format!("XRANGE {key} (18446744073709551615-18446744073709551615 +"),
            3 => format!("XRANGE {key} - + COUNT x"),
            4 => format!("XREAD STREAMS {key} x"),
            5 => format!("XADD {{k}}s {}-1 f v", self.keys[i].ms + 1),
            6 => "XRANGE {k}s - +".to_string(),
            _ => format!("XDEL {key} bad-id"),
        }
    }

    fn command(&mut self) -> String {
        // the XDEL share is taken from the XADD share
        let adds = 500 - self.profile.xdel_permille;
        match self.rng.below(1000) {
            n if n < adds => self.xadd(),
            n if n < 500 => self.xdel(),
            500..=549 => self.xtrim(),
            550..=699 => self.xrange(),
            700..=739 => format!("XLEN {}", self.key().1),
            740..=799 => format!("XINFO STREAM {}", self.key().1),
            800..=829 => self.xsetid(),
            830..=939 => self.xread(),
            940..=942 => {
                let (i, key) = self.key();
                self.keys[i].exists = false;
                format!("DEL {key}")
            }
            _ => self.error_cmd(),
        }
    }
}

fn random_case(seed: u64, profile: Profile) -> Case {
    let mut g = Gen {
        rng: Rng::new(seed),
        keys: [Model {
            ms: BASE_MS,
            seq: 0,
            exists: false,
        }; 2],
        profile,
    };
    let mut steps = vec![step("SET {k}s not-a-stream")];
    for _ in 0..profile.len {
        steps.push(step(&g.command()));
    }
    // final state of both streams
    for key in ["{k}a", "{k}b"] {
        steps.push(step(&format!("XINFO STREAM {key}")));
        steps.push(step(&format!("XRANGE {key} - +")));
    }
    steps.push(step("DEL {k}a {k}b {k}s"));
    case(&format!("random_{}_seed{seed}", profile.name), &steps)
}

/// `RANDOM_SEEDS=first..last` runs those seeds under every profile, for a longer exploration
/// by hand.
fn cases() -> Vec<Case> {
    let mut v = Vec::new();
    for (p, profile) in PROFILES.iter().enumerate() {
        match seed_range() {
            Some((a, b)) => v.extend((a..=b).map(|s| random_case(s, *profile))),
            None => {
                for s in 0..6u64 {
                    let seed = 1 + 1000 * p as u64 + s;
                    v.push(random_case(seed, *profile));
                }
            }
        }
    }
    v
}

fn main() {
    run(cases());
}
