//! States per second of the model checker over the lessor and cluster models: criterion's
//! throughput is generated states (stateright's `state_count`) per second, one BFS thread.
//!
//! Owns only the measurement; the bounds are the models' own (the lessor model at 4 actions so
//! one iteration stays well under a second).

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use leasesim::bugs::Bugs;
use leasesim_models::check::{self, CheckOptions};
use leasesim_models::cluster::ClusterModel;
use leasesim_models::lessor::LessorModel;

fn states_per_second(c: &mut Criterion) {
    let mut group = c.benchmark_group("model-check");
    group.sample_size(10);
    let lessor_options = CheckOptions { actions_max: Some(4), ..CheckOptions::bfs() };
    let lessor_states = check::run(LessorModel::new(true, Bugs::NONE), &lessor_options).states;
    group.throughput(Throughput::Elements(lessor_states as u64));
    group.bench_function("lessor-bfs-4-actions", |b| {
        b.iter(|| check::run(LessorModel::new(true, Bugs::NONE), &lessor_options).states)
    });
    let cluster_states = check::run(ClusterModel::new(false, Bugs::NONE), &CheckOptions::bfs()).states;
    group.throughput(Throughput::Elements(cluster_states as u64));
    group.bench_function("cluster-bfs-checkpoint-off", |b| {
        b.iter(|| check::run(ClusterModel::new(false, Bugs::NONE), &CheckOptions::bfs()).states)
    });
    group.finish();
}

criterion_group!(benches, states_per_second);
criterion_main!(benches);
