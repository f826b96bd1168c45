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
use workload::{SplitMix64, ttl_s};

const START: Instant = Instant::from_ms(10_000_000);
const SCAN_LIMIT: usize = 500;
const SCAN_PERIOD: Duration = Duration::from_ms(500);
const RETRY: Duration = Duration::from_secs(7);

/// The positional argument `name`, or `default` when absent; a malformed one ends the run (exit 2).
fn count_arg<T: std::str::FromStr>(arg: Option<String>, name: &str, default: T) -> T {
    let Some(arg) = arg else { return default };
    arg.parse().unwrap_or_else(|_| {
        eprintln!("scan_profile: {name} must be a whole number, got {arg:?} (usage: scan_profile [N] [R] [ROUNDS])");
        std::process::exit(2)
    })
}

fn main() {
    let mut args = std::env::args().skip(1);
    let n: usize = count_arg(args.next(), "N", 10_000_000);
    let per_round: u64 = count_arg(args.next(), "R", 1_000_000);
    let rounds: usize = count_arg(args.next(), "ROUNDS", 5);
    // The bench's TTL table: a lease's TTL is a pure function of its ID.
    let mut rng = SplitMix64(0x5eed_0001);
    let ttls: Vec<u64> = (0..4096).map(|_| ttl_s(&mut rng) as u64 * 1000).collect();
    let ttl_of =
        |id: LeaseId| Duration::from_ms(ttls[((id as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 52) as usize]);
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
