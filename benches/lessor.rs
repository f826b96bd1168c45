//! criterion benches of the whole lessor (`leasesim::lease::Lessor`) at 1 M leases, once per
//! expiry index (`EtcdHeap`, the lessor's old default `BTreeQueue`, and `BucketQueue`), in one run.
//!
//! Benches (group / index / lease count):
//! - `lessor-grant`: one Grant of a new lease, per op (the batch is revoked again, untimed);
//! - `lessor-renew`: one Renew of a random lease, per op (simulated time moves 1 ms per 1024 renews);
//! - `lessor-revoke`: one Revoke of a random lease with one attached key, per op (the lease and its
//!   key are granted and put again, untimed);
//! - `lessor-promote`: one Promote of a lessor holding every lease (etcd's took ≈ 325 ms at 1 M),
//!   per promote; the demoted lessor is cloned before each, untimed.
//!
//! With `LEASESIM_BENCH_10M=1`, `lessor-renew` also runs at 10 M leases (no keys attached; renew
//! never reads them) for `EtcdHeap` and `BucketQueue`: the whole renew, lease lookups included, next
//! to the index-level `expiry-renew-handle` of `benches/expiry.rs`.
//!
//! In criterion's `--test` mode the lessor holds 10 k leases so the smoke run is quick.

#[path = "workload.rs"]
mod workload;

use std::time::Duration as WallDuration;

use criterion::{BatchSize, BenchmarkId, Criterion};
use leasesim::expiry::{BTreeQueue, BucketQueue, EtcdHeap, ExpiryQueue};
use leasesim::kv::Kv;
use leasesim::lease::{LeaseId, Lessor, LessorConfig};
use leasesim::time::{Duration, Instant};
use workload::{SplitMix64, shuffled_ids, smoke_mode, ttl_s};

const BATCH: usize = 1024;
const START: Instant = Instant::from_ms(1_000_000);
/// etcd's default election timeout: the extension a promote adds.
const ELECTION_TIMEOUT: Duration = Duration::from_secs(1);

struct Fixture<Q: ExpiryQueue> {
    lessor: Lessor<Q>,
    kv: Kv,
    ttls_s: Vec<i64>,
    order: Vec<LeaseId>,
    cursor: usize,
    now: Instant,
}

fn key_of(id: LeaseId) -> String {
    format!("key/{id}")
}

impl<Q: ExpiryQueue> Fixture<Q> {
    /// A primary lessor with leases `1..=n`, each with one attached key if `with_keys`.
    fn build(n: usize, with_keys: bool) -> Fixture<Q> {
        let mut rng = SplitMix64(0x5eed_0003);
        let mut lessor = Lessor::<Q>::new(LessorConfig::server_defaults());
        let mut kv = Kv::new();
        lessor.promote(START, Duration::ZERO);
        let ttls_s: Vec<i64> = (0..=n).map(|_| ttl_s(&mut rng)).collect();
        for id in 1..=n as LeaseId {
            lessor.grant(START, id, ttls_s[id as usize]).expect("grant of a fresh ID");
            if with_keys {
                kv.put(&mut lessor, &key_of(id), "v", id).expect("put on a granted lease");
            }
        }
        let order = shuffled_ids(n, &mut rng);
        Fixture { lessor, kv, ttls_s, order, cursor: 0, now: START }
    }

    fn next_lease(&mut self) -> LeaseId {
        let id = self.order[self.cursor];
        self.cursor = (self.cursor + 1) % self.order.len();
        id
    }

    fn grant(&mut self, iters: u64) -> WallDuration {
        let mut timed = WallDuration::ZERO;
        let first_new = self.order.len() as LeaseId + 1;
        let mut done = 0;
        while done < iters {
            let k = (iters - done).min(BATCH as u64) as LeaseId;
            let start = std::time::Instant::now();
            for id in first_new..first_new + k {
                self.lessor.grant(self.now, id, 60).expect("grant of a fresh ID");
            }
            timed += start.elapsed();
            for id in first_new..first_new + k {
                self.lessor.revoke(&mut self.kv, id).expect("revoke of a granted lease");
            }
            done += k as u64;
        }
        timed
    }

    fn renew(&mut self, iters: u64) -> WallDuration {
        let start = std::time::Instant::now();
        for i in 0..iters {
            if i % BATCH as u64 == 0 {
                self.now = self.now + Duration::from_ms(1);
            }
            let id = self.next_lease();
            let _ = std::hint::black_box(self.lessor.renew(self.now, id));
        }
        start.elapsed()
    }

    fn revoke(&mut self, iters: u64) -> WallDuration {
        let mut timed = WallDuration::ZERO;
        let mut done = 0;
        let mut batch = Vec::with_capacity(BATCH);
        while done < iters {
            let k = (iters - done).min(BATCH as u64) as usize;
            batch.clear();
            batch.extend((0..k).map(|_| self.next_lease()));
            let start = std::time::Instant::now();
            for &id in &batch {
                self.lessor.revoke(&mut self.kv, id).expect("revoke of a granted lease");
            }
            timed += start.elapsed();
            for &id in &batch {
                self.lessor.grant(self.now, id, self.ttls_s[id as usize]).expect("grant of a revoked ID");
                self.kv.put(&mut self.lessor, &key_of(id), "v", id).expect("put on a granted lease");
            }
            done += k as u64;
        }
        timed
    }
}

fn bench_index<Q: ExpiryQueue>(c: &mut Criterion, name: &str, n: usize) {
    let mut fixture = Fixture::<Q>::build(n, true);
    c.benchmark_group("lessor-grant")
        .bench_function(BenchmarkId::new(name, n), |b| b.iter_custom(|iters| fixture.grant(iters)));
    c.benchmark_group("lessor-renew")
        .bench_function(BenchmarkId::new(name, n), |b| b.iter_custom(|iters| fixture.renew(iters)));
    c.benchmark_group("lessor-revoke")
        .bench_function(BenchmarkId::new(name, n), |b| b.iter_custom(|iters| fixture.revoke(iters)));
    let mut demoted = fixture.lessor;
    demoted.demote();
    let promote_at = fixture.now + Duration::from_secs(5);
    c.benchmark_group("lessor-promote").sample_size(10).bench_function(BenchmarkId::new(name, n), |b| {
        b.iter_batched(
            || demoted.clone(),
            |mut lessor| {
                lessor.promote(promote_at, ELECTION_TIMEOUT);
                lessor
            },
            BatchSize::PerIteration,
        )
    });
}

/// `lessor-renew` alone, on a lessor without keys (for the 10 M run).
fn bench_renew<Q: ExpiryQueue>(c: &mut Criterion, name: &str, n: usize) {
    let mut fixture = Fixture::<Q>::build(n, false);
    c.benchmark_group("lessor-renew")
        .bench_function(BenchmarkId::new(name, n), |b| b.iter_custom(|iters| fixture.renew(iters)));
}

fn main() {
    let mut c = Criterion::default()
        .sample_size(20)
        .warm_up_time(WallDuration::from_secs(1))
        .measurement_time(WallDuration::from_secs(3))
        .configure_from_args();
    let n = if smoke_mode() { 10_000 } else { 1_000_000 };
    bench_index::<EtcdHeap>(&mut c, "EtcdHeap", n);
    bench_index::<BTreeQueue>(&mut c, "BTreeQueue", n);
    bench_index::<BucketQueue>(&mut c, "BucketQueue", n);
    if !smoke_mode() && std::env::var("LEASESIM_BENCH_10M").is_ok_and(|v| v == "1") {
        bench_renew::<EtcdHeap>(&mut c, "EtcdHeap", 10_000_000);
        bench_renew::<BucketQueue>(&mut c, "BucketQueue", 10_000_000);
    }
    c.final_summary();
}
