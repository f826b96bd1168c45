//! Per-node clocks: what a member's lessor or a client reads, as a function of true time. A clock
//! has a constant offset, a linear drift in parts per million and a bounded step offset (as an NTP
//! step would set), so its error over any interval of `L` ms is at most
//! `L * drift_ppm / 1e6 + 2 * step_bound_ms`.
//!
//! Owns the conversion both ways (true → local, local deadline → true time). It does not decide
//! when steps happen (the faults do) and never reads a real clock.

use crate::time::{Duration, Instant};

/// The largest step offset a clock step may set, in ms.
pub const CLOCK_STEP_BOUND_MS: i64 = 40;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Clock {
    /// Constant offset from true time (non-negative, so local time never precedes the epoch).
    pub offset_ms: i64,
    /// Rate error: the clock gains `drift_ppm` ms per 1,000 s of true time (negative: loses).
    pub drift_ppm: i64,
    /// The current step offset, within `±CLOCK_STEP_BOUND_MS`.
    pub step_ms: i64,
}

impl Clock {
    /// A perfect clock.
    pub fn exact() -> Clock {
        Clock { offset_ms: 0, drift_ppm: 0, step_ms: 0 }
    }

    /// The local reading at true time `now`.
    pub fn local(&self, now: Instant) -> Instant {
        // In i64 when nothing can overflow (every real run), else in i128: the same result either
        // way (both divisions truncate toward zero), without a 128-bit division on the hot path.
        if let Ok(t) = i64::try_from(now.as_ms())
            && let Some(local) = t
                .checked_mul(self.drift_ppm)
                .and_then(|scaled| t.checked_add(self.offset_ms)?.checked_add(scaled / 1_000_000))
                .and_then(|local| local.checked_add(self.step_ms))
        {
            return Instant(local.max(0) as u64);
        }
        let t = now.as_ms() as i128;
        let local = t + self.offset_ms as i128 + t * self.drift_ppm as i128 / 1_000_000 + self.step_ms as i128;
        Instant(local.max(0) as u64)
    }

    /// The true time at which this clock (as it is now, without future steps) reads `local`.
    pub fn true_time_of(&self, local: Instant) -> Instant {
        if local.is_forever() {
            return Instant::FOREVER;
        }
        // As in `local`: i64 when nothing can overflow, else i128, with the same result.
        if let Ok(local) = i64::try_from(local.as_ms())
            && let Some(scaled) = local
                .checked_sub(self.offset_ms)
                .and_then(|base| base.checked_sub(self.step_ms))
                .and_then(|base| base.checked_mul(1_000_000))
            && let Some(rate) = self.drift_ppm.checked_add(1_000_000)
            && rate != 0
        {
            return Instant((scaled / rate).max(0) as u64);
        }
        let base = local.as_ms() as i128 - self.offset_ms as i128 - self.step_ms as i128;
        let t = base * 1_000_000 / (1_000_000 + self.drift_ppm as i128);
        Instant(t.max(0) as u64)
    }

    /// The true time, strictly after `now`, at which `local_delay` of local time has passed.
    pub fn true_after(&self, now: Instant, local_delay: Duration) -> Instant {
        let target = self.local(now) + local_delay;
        self.true_time_of(target).max(Instant(now.as_ms() + 1))
    }
}

/// How much earlier (in true time) than promised a lessor may revoke a lease of `ttl` under clocks
/// bounded by `drift_bound_ppm`: the drift of the revoking member's clock over the TTL plus the
/// election-timeout extension, both ways, plus two step offsets and a millisecond of rounding.
pub fn drift_tolerance(ttl: Duration, drift_bound_ppm: u64) -> Duration {
    let drift_ms = ttl.as_ms() * 2 * drift_bound_ppm / 1_000_000;
    Duration::from_ms(drift_ms + 2 * CLOCK_STEP_BOUND_MS as u64 + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_and_true_time_round_trip() {
        let clock = Clock { offset_ms: 250, drift_ppm: 5_000, step_ms: -20 };
        let t = Instant(100_000);
        assert_eq!(clock.local(t), Instant(100_000 + 250 + 500 - 20));
        let back = clock.true_time_of(clock.local(t));
        assert!(back.as_ms().abs_diff(t.as_ms()) <= 1, "{back:?}");
        assert!(clock.true_after(t, Duration(1000)) > t);
    }

    /// The i64 fast paths give what the 128-bit formulas give, near and past the overflow limits.
    #[test]
    fn fast_paths_match_128_bit_math() {
        let local_128 = |c: &Clock, t: u64| {
            let t = t as i128;
            let local = t + c.offset_ms as i128 + t * c.drift_ppm as i128 / 1_000_000 + c.step_ms as i128;
            Instant(local.max(0) as u64)
        };
        let true_128 = |c: &Clock, l: u64| {
            let base = l as i128 - c.offset_ms as i128 - c.step_ms as i128;
            Instant((base * 1_000_000 / (1_000_000 + c.drift_ppm as i128)).max(0) as u64)
        };
        let mut rng = crate::sim::rng::SimRng::from_seed(3);
        let times = [0, 1, 999_999, 1_000_001, 1 << 40, i64::MAX as u64 / 1_000_000 + 7, i64::MAX as u64, u64::MAX - 1];
        for _ in 0..2_000 {
            let clock = Clock {
                offset_ms: rng.between_i64(0, 1_000),
                drift_ppm: rng.between_i64(-999_999, 999_999),
                step_ms: rng.between_i64(-CLOCK_STEP_BOUND_MS, CLOCK_STEP_BOUND_MS),
            };
            let t = if rng.one_in(2) { times[rng.index(times.len())] } else { rng.next_u64() >> rng.below(64) };
            assert_eq!(clock.local(Instant(t)), local_128(&clock, t), "{clock:?} at {t}");
            if t != u64::MAX {
                assert_eq!(clock.true_time_of(Instant(t)), true_128(&clock, t), "{clock:?} reading {t}");
            }
        }
    }
}
