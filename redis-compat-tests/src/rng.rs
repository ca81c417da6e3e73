//! xorshift64*: the deterministic generator behind the seeded random cases (no dependencies;
//! a case's name holds its seed, so a failure replays exactly).

pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    /// True with probability `pct` percent.
    pub fn pct(&mut self, pct: u64) -> bool {
        self.below(100) < pct
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

/// `RANDOM_SEEDS=first..last` (inclusive): the seeds a seeded random suite runs instead of its
/// own, for a longer exploration by hand.
pub fn seed_range() -> Option<(u64, u64)> {
    let v = std::env::var("RANDOM_SEEDS").ok()?;
    let (a, b) = v.split_once("..")?;
    Some((a.trim().parse().ok()?, b.trim().parse().ok()?))
}
