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
        let t = now.as_ms() as i128;
        let local = t + self.offset_ms as i128 + t * self.drift_ppm as i128 / 1_000_000 + self.step_ms as i128;
        Instant(local.max(0) as u64)
    }

    /// The true time at which this clock (as it is now, without future steps) reads `local`.
    pub fn true_time_of(&self, local: Instant) -> Instant {
        if local.is_forever() {
            return Instant::FOREVER;
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
}
