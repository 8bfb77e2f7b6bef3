//! The only source of randomness in the core: a small seeded PRNG.
//!
//! [`Rng`] is xoshiro256** seeded through SplitMix64 (the seeding its authors
//! recommend). It is not cryptographic — it only spreads retry jitter and
//! generates correlation ids — but it is fast, has a 2^256 − 1 period, and gives
//! the same sequence for the same seed on every target, which is what makes a
//! failing simulation replayable from its seed. Adapters draw the seed once from
//! the platform's entropy (getrandom natively, `crypto.getRandomValues` in a
//! browser) and pass it in.

use serde::{Deserialize, Serialize};

/// A deterministic pseudo-random number generator (xoshiro256**).
///
/// Same seed, same sequence, on every target. The state is serde-serialisable
/// so a paused simulation can be resumed exactly.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rng {
    s: [u64; 4],
}

/// One step of SplitMix64: advances `state` and returns a well-mixed output.
#[must_use]
pub fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl Rng {
    /// A generator whose whole sequence is determined by `seed`.
    #[must_use]
    pub fn new(seed: u64) -> Rng {
        let mut sm = seed;
        let s = [
            splitmix64(&mut sm),
            splitmix64(&mut sm),
            splitmix64(&mut sm),
            splitmix64(&mut sm),
        ];
        // SplitMix64 outputs are never all zero for four consecutive draws, but
        // keep the invariant explicit: xoshiro's state must not be all zeros.
        if s == [0; 4] {
            return Rng { s: [1, 0, 0, 0] };
        }
        Rng { s }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let result = self.s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = self.s[1] << 17;
        self.s[2] ^= self.s[0];
        self.s[3] ^= self.s[1];
        self.s[1] ^= self.s[2];
        self.s[0] ^= self.s[3];
        self.s[2] ^= t;
        self.s[3] = self.s[3].rotate_left(45);
        result
    }

    /// The next 32 random bits.
    pub fn next_u32(&mut self) -> u32 {
        (self.next_u64() >> 32) as u32
    }

    /// A uniform float in `[0, 1)` with 53 bits of precision.
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// A uniform integer in `lo..=hi` (inclusive). If `lo > hi` the bounds are
    /// swapped rather than panicking. Unbiased (Lemire's method with rejection).
    pub fn range_inclusive(&mut self, lo: u64, hi: u64) -> u64 {
        let (lo, hi) = if lo <= hi { (lo, hi) } else { (hi, lo) };
        let span = hi - lo;
        if span == u64::MAX {
            return self.next_u64();
        }
        let n = span + 1;
        // Lemire's nearly-divisionless method.
        let mut m = (self.next_u64() as u128) * (n as u128);
        if (m as u64) < n {
            let threshold = n.wrapping_neg() % n;
            while (m as u64) < threshold {
                m = (self.next_u64() as u128) * (n as u128);
            }
        }
        lo + (m >> 64) as u64
    }

    /// `true` with probability `p` (clamped to `[0, 1]`; NaN counts as 0).
    pub fn chance(&mut self, p: f64) -> bool {
        if p.is_nan() || p <= 0.0 {
            return false;
        }
        self.next_f64() < p
    }

    /// A fresh generator for a sub-component, derived from this one's stream,
    /// so adding draws in one component does not shift another's sequence.
    pub fn fork(&mut self) -> Rng {
        Rng::new(self.next_u64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_sequence() {
        let mut a = Rng::new(42);
        let mut b = Rng::new(42);
        for _ in 0..1000 {
            assert_eq!(a.next_u64(), b.next_u64());
        }
        let mut c = Rng::new(43);
        let mut a = Rng::new(42);
        assert_ne!(
            (0..4).map(|_| a.next_u64()).collect::<alloc::vec::Vec<_>>(),
            (0..4).map(|_| c.next_u64()).collect::<alloc::vec::Vec<_>>()
        );
    }

    #[test]
    fn known_answer_pins_the_sequence_across_targets() {
        // SplitMix64 reference output for seed 1234567 (from the authors' C code).
        let mut sm = 1_234_567u64;
        assert_eq!(splitmix64(&mut sm), 6_457_827_717_110_365_317);
        assert_eq!(splitmix64(&mut sm), 3_203_168_211_198_807_973);
        // And our composed generator must never change its sequence silently:
        // simulations are replayed from seeds recorded in earlier runs.
        let mut r = Rng::new(0);
        let first: [u64; 3] = [r.next_u64(), r.next_u64(), r.next_u64()];
        let mut again = Rng::new(0);
        assert_eq!(
            first,
            [again.next_u64(), again.next_u64(), again.next_u64()]
        );
        assert_eq!(first[0], 0x99EC_5F36_CB75_F2B4);
    }

    #[test]
    fn ranges_stay_in_bounds_and_cover_them() {
        let mut r = Rng::new(7);
        let mut seen = [false; 6];
        for _ in 0..10_000 {
            let v = r.range_inclusive(10, 15);
            assert!((10..=15).contains(&v));
            seen[(v - 10) as usize] = true;
        }
        assert!(seen.iter().all(|s| *s));
        assert_eq!(r.range_inclusive(5, 5), 5);
        let v = r.range_inclusive(9, 3);
        assert!((3..=9).contains(&v));
        let _ = r.range_inclusive(0, u64::MAX);
        for _ in 0..1000 {
            let f = r.next_f64();
            assert!((0.0..1.0).contains(&f));
        }
        assert!(!r.chance(f64::NAN));
        assert!(!r.chance(0.0));
        assert!(r.chance(1.0));
    }
}
