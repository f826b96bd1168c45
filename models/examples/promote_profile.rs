//! Profiling aid: builds a demoted lessor of 1 M leases (one key each, TTLs as the benches) and
//! promotes clones of it, printing each promote's wall time next to a bare walk of the lease map.
//! `cargo run --release -p leasesim-models --example promote_profile [N] [ROUNDS]`; run it under
//! `perf record` to see where promote spends its time. (An example of the models package because
//! the repository's top level holds only the two packages, the tests and the benches.)

use leasesim::lease::{Lessor, LessorConfig};
use leasesim::time::{Duration, Instant};

#[path = "common/args.rs"]
mod args;

fn main() {
    let mut args = args::CountArgs::new("promote_profile", "promote_profile [N] [ROUNDS]");
    let n: i64 = args.next("N", 1_000_000);
    let rounds: usize = args.next("ROUNDS", 5);
    let start = Instant::from_ms(1_000_000);
    let mut lessor = Lessor::<leasesim::expiry::BucketQueue>::new(LessorConfig::server_defaults());
    lessor.promote(start, Duration::ZERO);
    let mut x: u64 = 0x5eed_0003;
    for id in 1..=n {
        x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = x;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        let unit = ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64;
        let ttl_s = (2.0 * 1800f64.powf(unit)).round() as i64;
        lessor.grant(start, id, ttl_s).expect("grant of a fresh ID");
        lessor.attach(id, &format!("key/{id}")).expect("attach to a granted lease");
    }
    lessor.demote();
    for _ in 0..rounds {
        let mut copy = lessor.clone();
        let t = std::time::Instant::now();
        let sum: i64 = copy.leases_by_id().map(|l| l.remaining_or_ttl_s()).sum();
        println!("walk: {:.1} ms ({sum})", t.elapsed().as_secs_f64() * 1e3);
        let t = std::time::Instant::now();
        copy.promote(start + Duration::from_secs(5), Duration::from_secs(1));
        println!("promote of {n} leases: {:.1} ms", t.elapsed().as_secs_f64() * 1e3);
        std::hint::black_box(&copy);
        if let Ok(rollup) = std::fs::read_to_string("/proc/self/smaps_rollup") {
            rollup.lines().filter(|l| l.starts_with("AnonHugePages")).for_each(|l| println!("{l}"));
        }
    }
}
