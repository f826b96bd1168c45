//! The models at their default bounds: pinned unique state counts, every `always` holds, every
//! `sometimes` is found; each bug switch is found by the lessor model with its shortest
//! counterexample, which replays to the same violation; the cluster model finds etcd 9888 with
//! checkpointing off and not with it on.

use leasesim::bugs::{Bug, Bugs};
use leasesim::oracle;
use leasesim::trace::replay_trace;
use leasesim_models::check::{self, CheckOptions, CheckReport};
use leasesim_models::cluster::ClusterModel;
use leasesim_models::deepen;
use leasesim_models::export;
use leasesim_models::lessor::LessorModel;
use stateright::{Expectation, Model};

/// Every `always` holds and every `sometimes` is found.
#[track_caller]
fn assert_all_hold<M: Model>(report: &CheckReport<M>) {
    for verdict in &report.verdicts {
        let ok = match verdict.expectation {
            Expectation::Always => verdict.discovery.is_none(),
            _ => verdict.discovery.is_some(),
        };
        assert!(ok, "property {} is {}", verdict.name, verdict.status());
    }
}

fn bfs() -> CheckOptions {
    CheckOptions::bfs().with_threads(2)
}

#[test]
fn lessor_model_holds_everything_at_default_bounds() {
    let report = check::run(LessorModel::new(true, Bugs::NONE), &bfs());
    eprintln!("lessor: {} states, {} unique, depth {}", report.states, report.unique_states, report.depth_max);
    assert_all_hold(&report);
}
