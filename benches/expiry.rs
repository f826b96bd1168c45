//! criterion benches of the expiry index (`leasesim::expiry`) at 100 k and 1 M leases (10 M with
//! `LEASESIM_BENCH_10M=1`), every implementation in the same run, plus bytes per lease.
//!
//! Benches (group / implementation / lease count), each timed per operation:
//! - `expiry-grant`: upsert of a new lease (timed in batches; the batch is removed again, untimed,
//!   so the index stays at its size);
//! - `expiry-renew`: upsert of an existing lease by ID, leases in random order, each to `now + its
//!   TTL` (keep-alive: the deadline moves later);
//! - `expiry-renew-handle`: the same renews as the lessor issues them, `upsert_at` with the handle
//!   its lease record keeps (read here from the same sequential array as the lease ID: the record's
//!   own lookup is the lessor's cost, counted in `benches/lessor.rs`' `lessor-renew`). Indexes
//!   without handles fall back to the ID, so for them it equals `expiry-renew`;
//! - `expiry-revoke`: remove of a random lease (re-granted untimed after each batch);
//! - `expiry-scan`: the 500 ms scan, **per expired lease**: `take_due` with etcd's limit of 500 and
//!   a 7 s retry; a reported lease counts as revoked (the next time its entry is due it is `Gone`
//!   and dropped) and is replaced, untimed, by a newly granted one, so the index stays at its size.
//!   The clock moves 500 ms when a scan finds fewer than the limit (the lessor keeps up).
//!
//! TTLs are whole seconds, log-uniform in 2 s–1 h; deadlines at setup are spread as if each lease
//! had been granted at a random moment within its TTL. Memory: a counting global allocator
//! measures the bytes the index allocates while it is built, printed per lease and merged into
//! `target/criterion/leasesim-memory.json` for `leasesim bench-report`.
//! `LEASESIM_BENCH_IMPLS=EtcdHeap,BucketQueue` restricts the implementations.

#[path = "workload.rs"]
mod workload;

use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::BTreeMap;
use std::hint::black_box;
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::Duration as WallDuration;

use criterion::{BenchmarkId, Criterion};
use leasesim::expiry::{BTreeQueue, BucketQueue, EtcdHeap, ExpiryHandle, ExpiryQueue, LazyHeap};
use leasesim::lease::LeaseId;
use leasesim::time::{Duration, Instant};
use workload::{
    SCAN_LIMIT, START, ScanState, SplitMix64, Ttls, initial_deadlines, lease_counts, shuffled_ids, smoke_mode,
};

/// Counts live heap bytes, so a bench can measure what a structure allocates.
struct CountingAllocator;

static LIVE_BYTES: AtomicIsize = AtomicIsize::new(0);

// SAFETY: every call is forwarded to `System` unchanged; only a counter is added.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE_BYTES.fetch_add(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        LIVE_BYTES.fetch_add(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE_BYTES.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE_BYTES.fetch_add(new_size as isize - layout.size() as isize, Ordering::Relaxed);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

/// Operations timed together between two clock reads.
const BATCH: usize = 1024;

/// One implementation at one size, and the state its benches advance.
struct Fixture<Q> {
    queue: Q,
    lease_count: usize,
    ttls: Ttls,
    /// Leases in a random order, each with the handle its lease record would keep.
    order: Vec<(LeaseId, ExpiryHandle)>,
    cursor: usize,
    now: Instant,
}

impl<Q: ExpiryQueue> Fixture<Q> {
    /// Builds the index with leases `1..=n`; returns it and the bytes the index allocated.
    fn build(n: usize) -> (Fixture<Q>, usize) {
        let ttls = Ttls::new();
        let mut rng = SplitMix64(0x5eed_0002);
        let deadlines = initial_deadlines(&ttls, n, &mut rng);
        let shuffled = shuffled_ids(n, &mut rng);
        let before = LIVE_BYTES.load(Ordering::Relaxed);
        let mut queue = Q::default();
        let mut handles = Vec::with_capacity(n);
        for (i, &deadline) in deadlines.iter().enumerate() {
            handles.push(queue.upsert_handle(i as LeaseId + 1, deadline));
        }
        let bytes =
            (LIVE_BYTES.load(Ordering::Relaxed) - before - (n * size_of::<ExpiryHandle>()) as isize).max(0) as usize;
        let order = shuffled.into_iter().map(|id| (id, handles[id as usize - 1])).collect();
        (Fixture { queue, lease_count: n, ttls, order, cursor: 0, now: START }, bytes)
    }

    fn next_lease(&mut self) -> LeaseId {
        let (id, _) = self.order[self.cursor];
        self.cursor = (self.cursor + 1) % self.order.len();
        id
    }

    fn grant(&mut self, iters: u64) -> WallDuration {
        let mut timed = WallDuration::ZERO;
        let mut done = 0;
        let first_new = self.lease_count as LeaseId + 1;
        while done < iters {
            let k = (iters - done).min(BATCH as u64) as LeaseId;
            let now = self.now;
            let start = std::time::Instant::now();
            for id in first_new..first_new + k {
                self.queue.upsert(id, now + self.ttls.of(id));
            }
            timed += start.elapsed();
            for id in first_new..first_new + k {
                self.queue.remove(id);
            }
            done += k as u64;
        }
        timed
    }

    fn renew(&mut self, iters: u64) -> WallDuration {
        let start = std::time::Instant::now();
        for i in 0..iters {
            if i % BATCH as u64 == 0 {
                // Time passes, so every renew moves a lease's deadline later, as a keep-alive does.
                self.now = self.now + Duration::from_ms(1);
            }
            let id = self.next_lease();
            self.queue.upsert(id, self.now + self.ttls.of(id));
        }
        start.elapsed()
    }

    /// Renews by the handle the lease record keeps, storing the handle the index answers.
    fn renew_by_handle(&mut self, iters: u64) -> WallDuration {
        let start = std::time::Instant::now();
        for i in 0..iters {
            if i % BATCH as u64 == 0 {
                self.now = self.now + Duration::from_ms(1);
            }
            let (id, handle) = self.order[self.cursor];
            let handle = self.queue.upsert_at(handle, id, self.now + self.ttls.of(id));
            self.order[self.cursor].1 = handle;
            self.cursor = (self.cursor + 1) % self.order.len();
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
                self.queue.remove(id);
            }
            timed += start.elapsed();
            for &id in &batch {
                self.queue.upsert(id, self.now + self.ttls.of(id));
            }
            done += k as u64;
        }
        timed
    }
}

impl<Q: ExpiryQueue> Fixture<Q> {
    /// `iters` expired leases taken by 500 ms scans (`ScanState`, `workload.rs`); only `take_due`
    /// is timed.
    fn scan(&mut self, state: &mut ScanState, iters: u64) -> WallDuration {
        let mut timed = WallDuration::ZERO;
        let mut reported = 0;
        while reported < iters {
            let limit = (iters - reported).min(SCAN_LIMIT as u64) as usize;
            timed += state.scan(&mut self.queue, &self.ttls, limit).timed;
            reported += state.reported().len() as u64;
        }
        timed
    }
}

fn bench_implementation<Q: ExpiryQueue>(c: &mut Criterion, name: &str, n: usize, memory: &mut Memory) {
    // Every bench starts from a freshly built index: the untimed clean-ups of one bench (millions
    // of removes and re-grants) must not leave state the next one pays for.
    let (mut fixture, bytes) = Fixture::<Q>::build(n);
    let per_lease = bytes as f64 / n as f64;
    println!("memory {name:<12} {n:>10} leases: {per_lease:7.1} bytes/lease ({:.1} MiB)", bytes as f64 / 1048576.0);
    memory.entry(name.to_owned()).or_default().insert(n.to_string(), per_lease);
    c.benchmark_group("expiry-grant")
        .bench_function(BenchmarkId::new(name, n), |b| b.iter_custom(|iters| fixture.grant(iters)));
    drop(fixture);
    let (mut fixture, _) = Fixture::<Q>::build(n);
    c.benchmark_group("expiry-renew")
        .bench_function(BenchmarkId::new(name, n), |b| b.iter_custom(|iters| fixture.renew(iters)));
    drop(fixture);
    let (mut fixture, _) = Fixture::<Q>::build(n);
    c.benchmark_group("expiry-renew-handle")
        .bench_function(BenchmarkId::new(name, n), |b| b.iter_custom(|iters| fixture.renew_by_handle(iters)));
    drop(fixture);
    let (mut fixture, _) = Fixture::<Q>::build(n);
    c.benchmark_group("expiry-revoke")
        .bench_function(BenchmarkId::new(name, n), |b| b.iter_custom(|iters| fixture.revoke(iters)));
    drop(fixture);
    let (mut fixture, _) = Fixture::<Q>::build(n);
    let mut state = ScanState::new(n, fixture.now);
    c.benchmark_group("expiry-scan")
        .bench_function(BenchmarkId::new(name, n), |b| b.iter_custom(|iters| fixture.scan(&mut state, iters)));
    black_box(&fixture.queue);
}

/// implementation → lease count → bytes per lease.
type Memory = BTreeMap<String, BTreeMap<String, f64>>;

/// Merges this run's measurements into the memory file next to criterion's results.
fn write_memory(memory: &Memory) {
    let target = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).parent().map(|p| p.join("criterion"));
    let Some(dir) = target else { return };
    let path = dir.join("leasesim-memory.json");
    let mut merged: Memory = std::fs::read_to_string(&path)
        .ok()
        .and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok())
        .and_then(|value| serde_json::from_value(value["bytes_per_lease"].clone()).ok())
        .unwrap_or_default();
    for (name, sizes) in memory {
        merged.entry(name.clone()).or_default().extend(sizes.clone());
    }
    let document = serde_json::json!({
        "unit": "bytes allocated by the index per lease, after granting every lease",
        "bytes_per_lease": merged,
    });
    let written = std::fs::create_dir_all(&dir)
        .and_then(|()| std::fs::write(&path, serde_json::to_string_pretty(&document).expect("JSON of numbers")));
    match written {
        Ok(()) => println!("memory written to {}", path.display()),
        Err(e) => eprintln!("warning: cannot write {}: {e}", path.display()),
    }
}

fn selected(name: &str) -> bool {
    match std::env::var("LEASESIM_BENCH_IMPLS") {
        Ok(list) => list.split(',').any(|n| n.trim() == name),
        Err(_) => true,
    }
}

fn main() {
    let mut c = Criterion::default()
        .sample_size(20)
        .warm_up_time(WallDuration::from_secs(1))
        .measurement_time(WallDuration::from_secs(3))
        .configure_from_args();
    let mut memory = Memory::new();
    for n in lease_counts() {
        if selected("EtcdHeap") {
            bench_implementation::<EtcdHeap>(&mut c, "EtcdHeap", n, &mut memory);
        }
        if selected("LazyHeap") {
            bench_implementation::<LazyHeap>(&mut c, "LazyHeap", n, &mut memory);
        }
        if selected("BTreeQueue") {
            bench_implementation::<BTreeQueue>(&mut c, "BTreeQueue", n, &mut memory);
        }
        if selected("BucketQueue") {
            bench_implementation::<BucketQueue>(&mut c, "BucketQueue", n, &mut memory);
        }
    }
    if !smoke_mode() {
        write_memory(&memory);
    }
    c.final_summary();
}
