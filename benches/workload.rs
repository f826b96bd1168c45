//! The workload the expiry and lessor benches share: a seeded splitmix64 stream, etcd-like TTLs
//! (and the expiry benches' TTL of each lease ID) and the set of expiry-index implementations
//! under test.
//!
//! Owns only what the benches generate; it measures nothing and reads no clock. TTLs are whole
//! seconds, log-uniform from 2 s (etcd's minimum) to 1 h, so short TTLs are common and many leases
//! share a TTL, as with real clients.

#![allow(dead_code)] // each bench binary uses part of it

use std::time::Duration as WallDuration;

use leasesim::expiry::{DueCheck, ExpiryQueue};
use leasesim::lease::LeaseId;
use leasesim::time::{Duration, Instant};

/// When the expiry benches start: far enough from the epoch that spread-out past grants stay
/// positive.
pub const START: Instant = Instant::from_ms(10_000_000);
/// etcd's scan limit (`leaseRevokeRate / 2`) and period, and the server's retry interval.
pub const SCAN_LIMIT: usize = 500;
pub const SCAN_PERIOD: Duration = Duration::from_ms(500);
pub const RETRY: Duration = Duration::from_secs(7);

/// splitmix64: a tiny seeded generator, the same stream on every run.
pub struct SplitMix64(pub u64);

impl SplitMix64 {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }
    /// Uniform in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

pub const TTL_MIN_S: f64 = 2.0;
pub const TTL_MAX_S: f64 = 3600.0;

/// A TTL in whole seconds, log-uniform in [2 s, 1 h].
pub fn ttl_s(rng: &mut SplitMix64) -> i64 {
    (TTL_MIN_S * (TTL_MAX_S / TTL_MIN_S).powf(rng.unit())).round() as i64
}

/// The lease counts to bench: 100 k and 1 M, plus 10 M with `LEASESIM_BENCH_10M=1`; in criterion's
/// `--test` smoke mode only 10 k, so every bench runs once, quickly.
pub fn lease_counts() -> Vec<usize> {
    if smoke_mode() {
        return vec![10_000];
    }
    let mut counts = vec![100_000, 1_000_000];
    if std::env::var("LEASESIM_BENCH_10M").is_ok_and(|v| v == "1") {
        counts.push(10_000_000);
    }
    counts
}

/// criterion's `--test` mode (`cargo bench -- --test`): run each bench once as a smoke test.
pub fn smoke_mode() -> bool {
    std::env::args().any(|arg| arg == "--test")
}

/// A random permutation of `1..=n` (Fisher–Yates), the order in which benches touch leases.
pub fn shuffled_ids(n: usize, rng: &mut SplitMix64) -> Vec<i64> {
    let mut ids: Vec<i64> = (1..=n as i64).collect();
    for i in (1..ids.len()).rev() {
        let j = rng.below(i as u64 + 1) as usize;
        ids.swap(i, j);
    }
    ids
}

/// 4096 TTLs (ms) from the workload mix; a lease's TTL is a pure function of its ID, so renews
/// need no per-lease table (which would add a cache miss of its own at 10 M).
pub struct Ttls(Vec<u64>);

impl Default for Ttls {
    fn default() -> Ttls {
        Ttls::new()
    }
}

impl Ttls {
    pub fn new() -> Ttls {
        let mut rng = SplitMix64(0x5eed_0001);
        Ttls((0..4096).map(|_| ttl_s(&mut rng) as u64 * 1000).collect())
    }
    pub fn of(&self, id: LeaseId) -> Duration {
        Duration::from_ms(self.0[((id as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 52) as usize])
    }
}

/// The deadlines of leases `1..=n` at [`START`], as if each had been granted at a random moment
/// within its TTL.
pub fn initial_deadlines(ttls: &Ttls, n: usize, rng: &mut SplitMix64) -> Vec<Instant> {
    (1..=n as LeaseId)
        .map(|id| {
            let ttl_ms = ttls.of(id).as_ms();
            Instant::from_ms(START.as_ms() + ttl_ms - rng.below(ttl_ms))
        })
        .collect()
}

/// The expiry scan's workload over an index of leases `1..=n`: the clock, which leases count as
/// revoked, and the next ID to grant.
pub struct ScanState {
    now: Instant,
    revoked: Vec<u64>,
    next_id: LeaseId,
    out: Vec<LeaseId>,
}

/// What one scan took.
pub struct Scanned {
    /// The time inside `take_due`, the only part timed.
    pub timed: WallDuration,
    /// How many entries it dropped as gone.
    pub gone: usize,
}

impl ScanState {
    pub fn new(lease_count: usize, now: Instant) -> ScanState {
        ScanState { now, revoked: vec![0; lease_count / 64 + 1], next_id: lease_count as LeaseId + 1, out: Vec::new() }
    }

    /// One 500 ms scan: `take_due` with `limit` and a 7 s retry, every reported lease counting as
    /// revoked (the next time its entry is due it is `Gone`). Then the revokes land, each revoked
    /// lease replaced by a new grant, and the clock moves 500 ms if the scan found fewer than the
    /// limit (the lessor keeps up).
    pub fn scan<Q: ExpiryQueue>(&mut self, queue: &mut Q, ttls: &Ttls, limit: usize) -> Scanned {
        let (now, revoked) = (self.now, &self.revoked);
        self.out.clear();
        let len_before = queue.len();
        let start = std::time::Instant::now();
        queue.take_due(
            now,
            limit,
            now + RETRY,
            |id| {
                if revoked[id as usize / 64] & (1 << (id as usize % 64)) != 0 {
                    DueCheck::Gone
                } else {
                    DueCheck::Expired
                }
            },
            &mut self.out,
        );
        let timed = start.elapsed();
        let gone = len_before - queue.len();
        for &id in &self.out {
            self.revoked[id as usize / 64] |= 1 << (id as usize % 64);
            let new_id = self.next_id;
            self.next_id += 1;
            if new_id as usize / 64 >= self.revoked.len() {
                self.revoked.push(0);
            }
            queue.upsert(new_id, now + ttls.of(new_id));
        }
        if self.out.len() < limit {
            self.now = self.now + SCAN_PERIOD;
        }
        Scanned { timed, gone }
    }

    /// The leases the last scan reported.
    pub fn reported(&self) -> &[LeaseId] {
        &self.out
    }

    /// The clock.
    pub fn now(&self) -> Instant {
        self.now
    }
}
