//! States per second of the model checker over the lessor and cluster models: criterion's
//! throughput is generated states (the checker's `states`, stateright's `state_count`) per second.
//!
//! Owns only the measurement; the bounds are the models' own: the lessor model at ≤ 4 actions on
//! one thread (one iteration well under a second), at its default ≤ 6 actions on one and on two
//! threads (what `leasesim check lessor` runs), and the cluster model with checkpointing off. The
//! checker is `check --strategy bfs` (`leasesim_models::bfs`), whose counts are the same on any
//! number of threads; stateright's own BFS runs the default lessor check on two threads beside it
//! (`stateright-bfs`, the checker before), so the two are compared in one run. It uses the CLI's
//! allocator (`leasesim_models::allocator`), so its figures are `leasesim check`'s. For scale,
//! `checker-floor` runs each checker over a trivial model (six digits, each action bumps one):
//! what the checker itself costs per state.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use leasesim::bugs::Bugs;
use leasesim_models::bfs;
use leasesim_models::check::{self, CheckOptions, Strategy};
use leasesim_models::cluster::ClusterModel;
use leasesim_models::lessor::LessorModel;

#[global_allocator]
static GLOBAL: leasesim_models::allocator::Allocator = leasesim_models::allocator::Allocator;

/// Six decimal digits; action `i` increments digit `i` modulo 10: 10^6 states, 6 actions each.
struct Digits;

impl stateright::Model for Digits {
    type State = [u8; 6];
    type Action = u8;
    fn init_states(&self) -> Vec<[u8; 6]> {
        vec![[0; 6]]
    }
    fn actions(&self, _: &[u8; 6], actions: &mut Vec<u8>) {
        actions.extend(0..6);
    }
    fn next_state(&self, digits: &[u8; 6], action: u8) -> Option<[u8; 6]> {
        let mut next = *digits;
        next[usize::from(action)] = (next[usize::from(action)] + 1) % 10;
        Some(next)
    }
    fn properties(&self) -> Vec<stateright::Property<Self>> {
        vec![stateright::Property::always("digits", |_, digits: &[u8; 6]| digits.iter().all(|&d| d < 10))]
    }
}

type Group<'a> = criterion::BenchmarkGroup<'a, criterion::measurement::WallTime>;

fn lessor_check(group: &mut Group<'_>, name: &str, options: CheckOptions) {
    let states = check::run(LessorModel::new(true, Bugs::NONE), &options).states;
    group.throughput(Throughput::Elements(states as u64));
    group.bench_function(name, |b| b.iter(|| check::run(LessorModel::new(true, Bugs::NONE), &options).states));
}

fn states_per_second(c: &mut Criterion) {
    let mut group = c.benchmark_group("model-check");
    group.sample_size(10);
    lessor_check(&mut group, "lessor-bfs-4-actions", CheckOptions { actions_max: Some(4), ..CheckOptions::bfs() });
    let default_depth = CheckOptions { actions_max: Some(LessorModel::ACTIONS_MAX_DEFAULT), ..CheckOptions::bfs() };
    lessor_check(&mut group, "lessor-bfs-6-actions-1-thread", default_depth.clone());
    lessor_check(&mut group, "lessor-bfs-6-actions-2-threads", default_depth.clone().with_threads(2));
    let stateright = CheckOptions { strategy: Strategy::StaterightBfs, ..default_depth.with_threads(2) };
    lessor_check(&mut group, "lessor-stateright-bfs-6-actions-2-threads", stateright);
    for threads in [1, 2] {
        let options = CheckOptions::bfs().with_threads(threads);
        let cluster_states = check::run(ClusterModel::new(false, Bugs::NONE), &options).states;
        group.throughput(Throughput::Elements(cluster_states as u64));
        group.bench_function(format!("cluster-bfs-checkpoint-off-{threads}-thread"), |b| {
            b.iter(|| check::run(ClusterModel::new(false, Bugs::NONE), &options).states)
        });
    }
    for threads in [1, 2] {
        let bounds = bfs::Bounds { threads, ..bfs::Bounds::default() };
        let floor = || bfs::search(&Digits, &bounds).states;
        group.throughput(Throughput::Elements(floor() as u64));
        group.bench_function(format!("checker-floor-bfs-{threads}-thread"), |b| b.iter(floor));
        let floor = || {
            use stateright::{Checker, Model};
            Digits.checker().threads(threads).spawn_bfs().join().state_count()
        };
        group.throughput(Throughput::Elements(floor() as u64));
        group.bench_function(format!("checker-floor-stateright-bfs-{threads}-thread"), |b| b.iter(floor));
    }
    group.finish();
}

criterion_group!(benches, states_per_second);
criterion_main!(benches);
