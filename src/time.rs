//! Simulated time: [`Instant`] and [`Duration`] in whole milliseconds.
//!
//! Owns the only notion of time the core knows: a point is milliseconds since a constant epoch,
//! `Instant::FOREVER` is etcd's "zero expiry" (a lease on a non-primary lessor never expires).
//! It deliberately has no `now()`: time always comes in as an argument, so nothing in the core can
//! read a clock.

use std::fmt;

/// A point in simulated time, in milliseconds since the epoch of the run.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Instant(pub u64);

/// A span of simulated time, in milliseconds.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Duration(pub u64);

impl Instant {
    /// The epoch of every run: time 0.
    pub const EPOCH: Instant = Instant(0);
    /// Never: the expiry of a lease held by a non-primary lessor.
    pub const FOREVER: Instant = Instant(u64::MAX);

    pub const fn from_ms(ms: u64) -> Instant {
        Instant(ms)
    }
    pub const fn as_ms(self) -> u64 {
        self.0
    }
    pub const fn is_forever(self) -> bool {
        self.0 == u64::MAX
    }
    /// `self + d`, saturating at [`Instant::FOREVER`].
    pub const fn saturating_add(self, d: Duration) -> Instant {
        Instant(self.0.saturating_add(d.0))
    }
    /// Signed milliseconds from `earlier` to `self` (negative when `self` is before `earlier`).
    /// Must not be called with [`Instant::FOREVER`].
    pub fn signed_ms_since(self, earlier: Instant) -> i64 {
        debug_assert!(!self.is_forever() && !earlier.is_forever(), "signed_ms_since on FOREVER");
        self.0 as i64 - earlier.0 as i64
    }
    /// Time from `earlier` to `self`, zero if `self` is not later.
    pub fn saturating_since(self, earlier: Instant) -> Duration {
        Duration(self.0.saturating_sub(earlier.0))
    }
    /// The first multiple of `period` strictly after `self`.
    pub fn next_multiple_of(self, period: Duration) -> Instant {
        assert!(period.0 > 0, "next_multiple_of with a zero period");
        Instant((self.0 / period.0 + 1) * period.0)
    }
}

impl Duration {
    pub const ZERO: Duration = Duration(0);
    pub const fn from_ms(ms: u64) -> Duration {
        Duration(ms)
    }
    pub const fn from_secs(s: u64) -> Duration {
        Duration(s * 1000)
    }
    /// Whole seconds (possibly negative, e.g. a TTL) as a duration; negatives become zero.
    pub const fn from_secs_i64(s: i64) -> Duration {
        if s <= 0 { Duration(0) } else { Duration((s as u64).saturating_mul(1000)) }
    }
    pub const fn as_ms(self) -> u64 {
        self.0
    }
}

impl std::ops::Add<Duration> for Instant {
    type Output = Instant;
    fn add(self, d: Duration) -> Instant {
        self.saturating_add(d)
    }
}

impl std::ops::Add for Duration {
    type Output = Duration;
    fn add(self, d: Duration) -> Duration {
        Duration(self.0.saturating_add(d.0))
    }
}

impl fmt::Debug for Instant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_forever() { write!(f, "forever") } else { write!(f, "{}ms", self.0) }
    }
}
impl fmt::Display for Instant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}
impl fmt::Debug for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}ms", self.0)
    }
}
impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// Parses `500ms`, `7s`, `1.5s`, `2m` into a [`Duration`].
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let (number, unit_ms) = if let Some(n) = text.strip_suffix("ms") {
        (n, 1.0)
    } else if let Some(n) = text.strip_suffix('s') {
        (n, 1000.0)
    } else if let Some(n) = text.strip_suffix('m') {
        (n, 60_000.0)
    } else if let Some(n) = text.strip_suffix('h') {
        (n, 3_600_000.0)
    } else {
        return Err(format!("duration `{text}` needs a unit: ms, s, m or h"));
    };
    let value: f64 = number.parse().map_err(|_| format!("duration `{text}` is not a number followed by a unit"))?;
    if !value.is_finite() || value < 0.0 {
        return Err(format!("duration `{text}` must be a non-negative number"));
    }
    let ms = value * unit_ms;
    if ms.fract() != 0.0 {
        return Err(format!("duration `{text}` is not a whole number of milliseconds"));
    }
    if ms > 1e15 {
        return Err(format!("duration `{text}` is too large"));
    }
    Ok(Duration(ms as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_durations_with_units() {
        assert_eq!(parse_duration("500ms"), Ok(Duration(500)));
        assert_eq!(parse_duration("7s"), Ok(Duration(7000)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration(1500)));
        assert_eq!(parse_duration("2m"), Ok(Duration(120_000)));
        assert!(parse_duration("7").unwrap_err().contains("needs a unit"));
        assert!(parse_duration("xs").is_err());
        assert!(parse_duration("-1s").is_err());
        assert!(parse_duration("0.5ms").is_err());
    }

    #[test]
    fn next_multiple_is_strictly_after() {
        assert_eq!(Instant(0).next_multiple_of(Duration(500)), Instant(500));
        assert_eq!(Instant(499).next_multiple_of(Duration(500)), Instant(500));
        assert_eq!(Instant(500).next_multiple_of(Duration(500)), Instant(1000));
    }
}
