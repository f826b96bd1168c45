//! The seeded randomness of a run: one root `ChaCha8Rng` from the `u64` seed and named sub-streams
//! forked from it in a fixed order, one per concern (faults, network, clocks, members, clients), so
//! that drawing more from one concern never shifts the draws of another.
//!
//! Owns the only RNG the simulator uses and the few distributions it needs (uniform integers,
//! chances in parts per million). It deliberately has no thread RNG, no OS entropy and no global
//! state: everything is a value created from the seed.

use rand_chacha::ChaCha8Rng;
use rand_core::{Rng, SeedableRng};

/// A deterministic random stream.
#[derive(Clone, Debug)]
pub struct SimRng(ChaCha8Rng);

impl SimRng {
    /// The root stream of a run.
    pub fn from_seed(seed: u64) -> SimRng {
        SimRng(ChaCha8Rng::seed_from_u64(seed))
    }

    /// A new independent stream seeded from this one (consumes 32 bytes of this stream).
    pub fn fork(&mut self) -> SimRng {
        SimRng(ChaCha8Rng::from_rng(&mut self.0))
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0.next_u64()
    }

    /// Uniform in `0..n` (`n > 0`), by the widening-multiply method.
    pub fn below(&mut self, n: u64) -> u64 {
        assert!(n > 0, "below(0)");
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// Uniform in `lo..=hi`.
    pub fn between(&mut self, lo: u64, hi: u64) -> u64 {
        assert!(lo <= hi, "between({lo}, {hi})");
        if hi - lo == u64::MAX { self.next_u64() } else { lo + self.below(hi - lo + 1) }
    }

    /// Uniform in `lo..=hi`, signed.
    pub fn between_i64(&mut self, lo: i64, hi: i64) -> i64 {
        assert!(lo <= hi, "between_i64({lo}, {hi})");
        lo.wrapping_add(self.between(0, hi.wrapping_sub(lo) as u64) as i64)
    }

    /// True with probability `ppm` parts per million.
    pub fn chance_ppm(&mut self, ppm: u64) -> bool {
        ppm > 0 && self.below(1_000_000) < ppm
    }

    /// True with probability `1/n`.
    pub fn one_in(&mut self, n: u64) -> bool {
        self.below(n) == 0
    }

    /// A uniformly chosen index into a slice of length `len > 0`.
    pub fn index(&mut self, len: usize) -> usize {
        self.below(len as u64) as usize
    }
}

/// The sub-streams of a run, forked from the root in this order (changing the order changes every
/// seed's meaning; the golden test pins it).
#[derive(Clone, Debug)]
pub struct Streams {
    /// Which faults are on and how strong, and when they strike.
    pub faults: SimRng,
    /// Per-message delay, loss, duplication and reordering.
    pub network: SimRng,
    /// Clock offsets, drift and steps.
    pub clocks: SimRng,
    /// Member tick jitter, election ticks, map-order salts.
    pub members: SimRng,
    /// Client think times and choices.
    pub clients: SimRng,
    /// The lock workload's client stalls: when, whom, how long (forked last, so it shifts nothing;
    /// not part of a schedule, so a replay draws them as the seed did).
    pub client_stalls: SimRng,
}

impl Streams {
    pub fn new(seed: u64) -> Streams {
        let mut root = SimRng::from_seed(seed);
        Streams {
            faults: root.fork(),
            network: root.fork(),
            clocks: root.fork(),
            members: root.fork(),
            clients: root.fork(),
            client_stalls: root.fork(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distributions_stay_in_range() {
        let mut rng = SimRng::from_seed(7);
        for _ in 0..1000 {
            assert!(rng.below(10) < 10);
            let x = rng.between(5, 9);
            assert!((5..=9).contains(&x));
            let y = rng.between_i64(-3, 3);
            assert!((-3..=3).contains(&y));
        }
        assert!(!rng.chance_ppm(0));
        assert!(rng.chance_ppm(1_000_000));
    }
}
