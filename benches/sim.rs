//! criterion bench of the deterministic simulation: one seed of a 3-member raft cluster whose
//! clients hold 1,000 leases (20 clients × 50, TTLs 10–60 s, kept alive at TTL/3), no faults, the
//! oracle checking after every event. Reports simulated events per second (criterion throughput)
//! and simulated time per wall second (printed once before the measurements).
//!
//! In criterion's `--test` mode the run is 80 simulated seconds shorter so the smoke run is quick.
//! Like `leasesim sim`, it runs on mimalloc (the CLI's allocator, see src/main.rs).

use std::time::Instant as WallInstant;

use criterion::{Criterion, Throughput};
use leasesim::sim::{FaultMode, SimOptions, Switch, run};
use leasesim::time::Duration;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn options(smoke: bool) -> SimOptions {
    SimOptions {
        members: 3,
        clients: 20,
        leases_per_client: 50,
        ttl_min_s: 10,
        ttl_max_s: 60,
        faults: FaultMode::None,
        checkpointing: Switch::Off,
        checkpoint_persist: Switch::Off,
        duration: Duration::from_secs(if smoke { 20 } else { 100 }),
        heal: Duration::from_secs(20),
        ..SimOptions::standard()
    }
}

fn bench_sim(c: &mut Criterion) {
    let smoke = std::env::args().any(|a| a == "--test");
    let options = options(smoke);
    let started = WallInstant::now();
    let report = run(1, &options);
    let wall_s = started.elapsed().as_secs_f64();
    assert!(report.passed(), "{}", report.failure_text());
    let sim_s = report.stats.sim_time.as_ms() as f64 / 1000.0;
    eprintln!(
        "sim-3-members-1000-leases: {} events, {} leases granted, {} keep-alives, {sim_s:.0} s simulated in \
         {wall_s:.2} s wall: {:.0} events/s, {:.0}x real time",
        report.stats.events,
        report.stats.leases_granted,
        report.stats.keepalives,
        report.stats.events as f64 / wall_s,
        sim_s / wall_s
    );
    let mut group = c.benchmark_group("sim");
    group.sample_size(10);
    group.throughput(Throughput::Elements(report.stats.events));
    group.bench_function("3-members-1000-leases", |b| b.iter(|| run(1, &options)));
    group.finish();
}

fn main() {
    let mut criterion = Criterion::default().configure_from_args();
    bench_sim(&mut criterion);
    criterion.final_summary();
}
