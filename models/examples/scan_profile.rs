//! Profiling aid: the `expiry-scan` bench's workload (`benches/expiry.rs`) without criterion. Builds
//! a `BucketQueue` of N leases the way the bench does, then runs 500 ms scans (limit 500, 7 s
//! retry; a reported lease counts as revoked and is replaced by a new grant) and prints, per round
//! of R reported leases, the time inside `take_due` per reported lease and how many entries the
//! check was asked about per reported lease.
//! `cargo run --release -p leasesim-models --example scan_profile [N] [R] [ROUNDS]`; run it under
//! `perf record` to see where the scan spends its time.

#[path = "../../benches/workload.rs"]
mod workload;

use leasesim::expiry::{BucketQueue, DueCheck, ExpiryQueue};
use leasesim::lease::LeaseId;
use leasesim::time::{Duration, Instant};
use workload::{SplitMix64, Ttls};

const START: Instant = Instant::from_ms(10_000_000);
const SCAN_LIMIT: usize = 500;
const SCAN_PERIOD: Duration = Duration::from_ms(500);
const RETRY: Duration = Duration::from_secs(7);

#[path = "common/args.rs"]
mod args;

fn main() {
    let mut args = args::CountArgs::new("scan_profile", "scan_profile [N] [R] [ROUNDS]");
    let n: usize = args.next("N", 10_000_000);
    let per_round: u64 = args.next("R", 1_000_000);
    let rounds: usize = args.next("ROUNDS", 5);
    let ttls = Ttls::new();
    let ttl_of = |id: LeaseId| ttls.of(id);
    let mut rng = SplitMix64(0x5eed_0002);
    let mut queue = BucketQueue::default();
    for id in 1..=n as LeaseId {
        let ttl_ms = ttl_of(id).as_ms();
        queue.upsert(id, Instant::from_ms(START.as_ms() + ttl_ms - rng.below(ttl_ms)));
    }
    let mut revoked = vec![0u64; n / 64 + 1];
    let mut next_id = n as LeaseId + 1;
    let mut out = Vec::new();
    let mut now = START;
    for _ in 0..rounds {
        let (mut timed, mut reported, mut asked) = (std::time::Duration::ZERO, 0u64, 0u64);
        while reported < per_round {
            out.clear();
            let start = std::time::Instant::now();
            queue.take_due(
                now,
                SCAN_LIMIT,
                now + RETRY,
                |id| {
                    asked += 1;
                    if revoked[id as usize / 64] & (1 << (id as usize % 64)) != 0 {
                        DueCheck::Gone
                    } else {
                        DueCheck::Expired
                    }
                },
                &mut out,
            );
            timed += start.elapsed();
            reported += out.len() as u64;
            for &id in &out {
                revoked[id as usize / 64] |= 1 << (id as usize % 64);
                if next_id as usize / 64 >= revoked.len() {
                    revoked.push(0);
                }
                queue.upsert(next_id, now + ttl_of(next_id));
                next_id += 1;
            }
            if out.len() < SCAN_LIMIT {
                now = now + SCAN_PERIOD;
            }
        }
        println!(
            "scan: {:.1} ns per reported lease, {:.2} asked per reported, clock at +{:.1} s",
            timed.as_nanos() as f64 / reported as f64,
            asked as f64 / reported as f64,
            (now.as_ms() - START.as_ms()) as f64 / 1e3
        );
    }
    if let Ok(rollup) = std::fs::read_to_string("/proc/self/smaps_rollup") {
        rollup.lines().filter(|l| l.starts_with("AnonHugePages") || l.starts_with("Rss")).for_each(|l| println!("{l}"));
    }
}
