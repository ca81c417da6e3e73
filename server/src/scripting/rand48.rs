//! Redis's `rand48.c`: the generator behind a script's `math.random`. Redis 7.0 never seeds
//! it (scripts are replicated by effects, so they need not be deterministic): it starts from
//! rand48's initial state when the server starts and goes on across scripts; only
//! `math.randomseed` reseeds it. Sluice does the same, so the same scripts in the same order
//! draw the same numbers as on Redis.

/// The 48-bit linear congruential generator of drand48 (a = 0x5DEECE66D, c = 0xB).
pub struct Rand48 {
    x: u64,
}

const MASK48: u64 = (1 << 48) - 1;

impl Rand48 {
    /// rand48's state before any seeding (x = {0x330E, 0xABCD, 0x1234}).
    pub const fn unseeded() -> Rand48 {
        Rand48 {
            x: 0x1234_ABCD_330E,
        }
    }

    /// `redisSrand48`: X = seed << 16 | 0x330E (the seed's low 32 bits).
    pub fn seed(&mut self, seed: i32) {
        self.x = ((u64::from(seed as u32)) << 16 | 0x330E) & MASK48;
    }

    /// `redisLrand48`: the next 31-bit value.
    pub fn lrand(&mut self) -> i32 {
        self.x = (self.x.wrapping_mul(0x5_DEEC_E66D).wrapping_add(0xB)) & MASK48;
        (self.x >> 17) as i32
    }

    /// `math.random()`'s r: `(lrand48() % INT32_MAX) / INT32_MAX`.
    pub fn random(&mut self) -> f64 {
        let v = self.lrand() % i32::MAX;
        f64::from(v) / f64::from(i32::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequence_matches_a_fresh_redis() {
        // A fresh Redis 7.0.15: `EVAL "return {math.random(), math.random(10),
        // math.random(5,9), tostring(math.random())}" 0` gives 0, 9, 6, "0.44658343468168".
        let mut r = Rand48::unseeded();
        assert!(r.random() < 1.0);
        assert_eq!((r.random() * 10.0).floor() + 1.0, 9.0);
        assert_eq!((r.random() * 5.0).floor() + 5.0, 6.0);
        assert_eq!(format!("{:.14}", r.random()), "0.44658343468168");
    }
}
