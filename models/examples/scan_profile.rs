//! Profiling aid: the `expiry-scan` bench's workload (`benches/expiry.rs`) without criterion. Builds
//! a `BucketQueue` of N leases the way the bench does, then runs 500 ms scans (limit 500, 7 s
//! retry; a reported lease counts as revoked and is replaced by a new grant) and prints, per round
//! of R reported leases, the time inside `take_due` per reported lease and how many entries the
//! check was asked about per reported lease.
//! `cargo run --release -p leasesim-models --example scan_profile [N] [R] [ROUNDS]`; run it under
//! `perf record` to see where the scan spends its time.

#[path = "../../benches/workload.rs"]
mod workload;

use leasesim::expiry::{BucketQueue, ExpiryQueue};
use leasesim::lease::LeaseId;
use workload::{SCAN_LIMIT, START, ScanState, SplitMix64, Ttls, initial_deadlines};

#[path = "common/args.rs"]
mod args;

fn main() {
    let mut args = args::CountArgs::new("scan_profile", "scan_profile [N] [R] [ROUNDS]");
    let n: usize = args.next("N", 10_000_000);
    let per_round: u64 = args.next("R", 1_000_000);
    let rounds: usize = args.next("ROUNDS", 5);
    let ttls = Ttls::new();
    let mut queue = BucketQueue::default();
    for (id, deadline) in (1..).zip(initial_deadlines(&ttls, n, &mut SplitMix64(0x5eed_0002))) {
        queue.upsert(id as LeaseId, deadline);
    }
    let mut state = ScanState::new(n, START);
    for _ in 0..rounds {
        let (mut timed, mut reported, mut gone) = (std::time::Duration::ZERO, 0u64, 0u64);
        while reported < per_round {
            let scanned = state.scan(&mut queue, &ttls, SCAN_LIMIT);
            timed += scanned.timed;
            gone += scanned.gone as u64;
            reported += state.reported().len() as u64;
        }
        // Every entry the check was asked about was reported or dropped as gone.
        println!(
            "scan: {:.1} ns per reported lease, {:.2} asked per reported, clock at +{:.1} s",
            timed.as_nanos() as f64 / reported as f64,
            (reported + gone) as f64 / reported as f64,
            (state.now().as_ms() - START.as_ms()) as f64 / 1e3
        );
    }
    if let Ok(rollup) = std::fs::read_to_string("/proc/self/smaps_rollup") {
        rollup.lines().filter(|l| l.starts_with("AnonHugePages") || l.starts_with("Rss")).for_each(|l| println!("{l}"));
    }
}
