//! States per second of the model checker over the lessor and cluster models: criterion's
//! throughput is generated states (stateright's `state_count`) per second.
//!
//! Owns only the measurement; the bounds are the models' own: the lessor model at ≤ 4 actions on
//! one BFS thread (one iteration well under a second), at its default ≤ 6 actions on one and on two
//! threads (what `leasesim check lessor` runs; with two threads the number of states generated
//! varies a little with the visiting order, the throughput uses one run's count), and the cluster
//! model with checkpointing off. It uses the CLI's allocator (mimalloc), so its figures are
//! `leasesim check`'s.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use leasesim::bugs::Bugs;
use leasesim_models::check::{self, CheckOptions};
use leasesim_models::cluster::ClusterModel;
use leasesim_models::lessor::LessorModel;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

type Group<'a> = criterion::BenchmarkGroup<'a, criterion::measurement::WallTime>;

fn lessor_bfs(group: &mut Group<'_>, name: &str, options: CheckOptions) {
    let states = check::run(LessorModel::new(true, Bugs::NONE), &options).states;
    group.throughput(Throughput::Elements(states as u64));
    group.bench_function(name, |b| b.iter(|| check::run(LessorModel::new(true, Bugs::NONE), &options).states));
}

fn states_per_second(c: &mut Criterion) {
    let mut group = c.benchmark_group("model-check");
    group.sample_size(10);
    lessor_bfs(&mut group, "lessor-bfs-4-actions", CheckOptions { actions_max: Some(4), ..CheckOptions::bfs() });
    let default_depth = CheckOptions { actions_max: Some(LessorModel::ACTIONS_MAX_DEFAULT), ..CheckOptions::bfs() };
    lessor_bfs(&mut group, "lessor-bfs-6-actions-1-thread", default_depth.clone());
    lessor_bfs(&mut group, "lessor-bfs-6-actions-2-threads", default_depth.with_threads(2));
    let cluster_states = check::run(ClusterModel::new(false, Bugs::NONE), &CheckOptions::bfs()).states;
    group.throughput(Throughput::Elements(cluster_states as u64));
    group.bench_function("cluster-bfs-checkpoint-off", |b| {
        b.iter(|| check::run(ClusterModel::new(false, Bugs::NONE), &CheckOptions::bfs()).states)
    });
    group.finish();
}

criterion_group!(benches, states_per_second);
criterion_main!(benches);
