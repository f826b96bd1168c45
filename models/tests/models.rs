//! The models at their default bounds: pinned unique state counts, every `always` holds, every
//! `sometimes` is found; each bug switch is found by the lessor model with its shortest
//! counterexample, which is minimal and replays to the same violation; the cluster model finds
//! etcd 9888 with checkpointing off and not with it on, and the server-side bugs (etcd 13491,
//! 13675, 15247) with their shortest counterexamples, the correct build holding under the same
//! bounds. The breadth-first checker (`leasesim_models::bfs`) agrees with stateright's own BFS on
//! the counts, and its result does not depend on the number of threads.

use std::collections::BTreeSet;

use leasesim::bugs::{Bug, Bugs};
use leasesim::oracle;
use leasesim::time::Duration;
use leasesim::trace::replay_trace;
use leasesim_models::check::{self, CheckOptions, CheckReport};
use leasesim_models::cluster::ClusterModel;
use leasesim_models::export;
use leasesim_models::lessor::{LessorBounds, LessorModel};
use leasesim_models::shortest;
use leasesim_models::zoo::{self, Row};
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

/// The lessor model's default: paths of at most `ACTIONS_MAX_DEFAULT` actions. The BFS finishes a
/// level before the next, so the count with a depth bound is the same on any number of threads.
fn lessor_bfs() -> CheckOptions {
    CheckOptions { actions_max: Some(LessorModel::ACTIONS_MAX_DEFAULT), ..bfs() }
}

/// Unique states at the default bounds (pinned: a change of the model or the core shows here).
const LESSOR_UNIQUE_STATES: usize = 196_427;
const CLUSTER_UNIQUE_STATES: usize = 152_223;

#[test]
fn lessor_model_holds_everything_at_default_bounds() {
    let report = check::run(LessorModel::new(true, Bugs::NONE), &lessor_bfs());
    assert_all_hold(&report);
    assert_eq!(report.unique_states, LESSOR_UNIQUE_STATES, "the lessor model's state space changed");
}

#[test]
fn lessor_model_without_checkpointing_holds_everything() {
    let report = check::run(LessorModel::new(false, Bugs::NONE), &lessor_bfs());
    assert_all_hold(&report);
}

/// The cluster model's shortest violation of `promote_extension_bounded`, as action lines.
fn shortest_9888(checkpointing: bool) -> Vec<String> {
    let model = ClusterModel::new(checkpointing, Bugs::NONE);
    let shortest = shortest::shortest_counterexample(&model, oracle::PROMOTE_EXTENSION_BOUNDED, 10).expect("found");
    shortest.into_actions().iter().map(|a| a.to_string()).collect()
}

#[test]
fn cluster_model_with_checkpointing_holds_everything_but_a_dead_checkpoint_chain() {
    let report = check::run(ClusterModel::new(true, Bugs::NONE), &bfs());
    assert_eq!(report.unique_states, CLUSTER_UNIQUE_STATES, "the cluster model's state space changed");
    for verdict in &report.verdicts {
        let expected_ok = verdict.name != oracle::PROMOTE_EXTENSION_BOUNDED;
        let ok = match verdict.expectation {
            Expectation::Always => verdict.discovery.is_none(),
            _ => verdict.discovery.is_some(),
        };
        assert_eq!(ok, expected_ok, "property {} is {}", verdict.name, verdict.status());
    }
    // Checkpointing stops 9888's plain reset (grant, keepalive, tick, tick, elect: see the next test). What
    // remains is a finding: a renew at the instant a scheduled checkpoint falls due makes the
    // checkpoint scan skip the lease (remaining TTL not below its TTL) without rescheduling it, as
    // etcd's findDueScheduledCheckpoints does; with no checkpoint left, the next leader change
    // resets the lease to its full TTL. (The leader applies the grant at once, after the member
    // that answered the client: had it applied it a tick late, its deadline would be a tick later.)
    assert_eq!(
        shortest_9888(true),
        ["grant c0", "apply m0", "tick", "keepalive c0", "scan m0", "tick", "tick", "elect m1"]
    );
}

#[test]
fn cluster_model_finds_etcd_9888_without_checkpointing_and_only_that() {
    let report = check::run(ClusterModel::new(false, Bugs::NONE), &bfs());
    let violated: BTreeSet<&str> = report.violations().map(|v| v.name).collect();
    assert_eq!(violated, BTreeSet::from([oracle::PROMOTE_EXTENSION_BOUNDED]));
    // Grant, the leader applies it, two ticks (1 s before its deadline), a new leader: full TTL
    // again. (The first of the 5-action paths in BFS order; grant, keep-alive, tick, tick, elect is
    // another.)
    assert_eq!(shortest_9888(false), ["grant c0", "apply m0", "tick", "tick", "elect m1"]);
}

/// With `bug` on, the zoo's cluster model for the bug (`zoo::expect::cluster_bounds`) violates the
/// property the bug breaks, with `expected` as its shortest counterexample; the correct build
/// under the same bounds violates nothing but etcd's own design (`cluster_etcd_design`).
#[track_caller]
fn assert_cluster_finds_minimally(bug: Bug, expected: &[&str]) {
    let row = Row::Bug(bug);
    let model = zoo::expect::cluster_model(row);
    let property = bug.breaks();
    let shortest = shortest::shortest_counterexample(&model, property, expected.len() + 2)
        .unwrap_or_else(|| panic!("{bug}: no violation of {property}"));
    let actions: Vec<String> = shortest.clone().into_actions().iter().map(|a| a.to_string()).collect();
    assert_eq!(actions, expected, "{bug}: {:?}", check::violation_of::<ClusterModel>(&shortest));
    assert_eq!(check::violation_of::<ClusterModel>(&shortest).map(|v| v.property), Some(property));
    let correct = ClusterModel::with_bounds(true, Bugs::NONE, zoo::expect::cluster_bounds(row));
    let etcd_design = zoo::expect::cluster_etcd_design(&correct.bounds);
    let report = check::run(correct, &bfs());
    for verdict in report.violations() {
        assert!(
            etcd_design.iter().any(|(name, _)| *name == verdict.name),
            "{bug}: the correct build under the same bounds violates {}",
            verdict.name
        );
    }
}

#[test]
fn cluster_model_finds_etcd_13675_minimally() {
    // The grant commits and the client's member (m1) answers; the leader has not applied it a tick
    // later when the keep-alive arrives, and without waiting answers TTL 0.
    assert_cluster_finds_minimally(Bug::Etcd13675, &["grant c0", "tick", "keepalive c0"]);
}

#[test]
fn cluster_model_finds_etcd_15247_minimally() {
    // m0 loses leadership without demoting; the client, now on m0, grants (m0's lessor, still
    // primary, sets its own deadline of 3 s) and renews through the new leader m1 at 1 s (4 s);
    // at 3 s m0's scan revokes without confirming leadership, and the revoke commits.
    assert_cluster_finds_minimally(
        Bug::Etcd15247,
        &["elect m1", "grant c0", "tick", "keepalive c0", "tick", "scan m1", "tick", "scan m0"],
    );
}

#[test]
fn cluster_model_finds_etcd_13491_minimally() {
    // TTL 5 s, checkpoint interval 2 s, no keep-alives: m1 leads from 0 s and never checkpoints
    // (promote did not schedule it); at 4 s m0 leads again, applies the grant, and with no
    // checkpoint in the log gives the lease its full TTL: 10 s instead of m1's 6 s.
    assert_cluster_finds_minimally(
        Bug::Etcd13491,
        &["grant c0", "elect m1", "tick", "tick", "tick", "tick", "elect m0"],
    );
}

/// With `bug` on, the lessor model violates the property the bug breaks; the shortest
/// counterexample has `expected_len` actions, no shorter one exists, and its replay trace
/// reproduces the same property's violation with `leasesim replay --bug`.
#[track_caller]
fn assert_bug_found_minimally(bug: Bug, expected_len: usize) {
    assert_found_minimally(LessorModel::new(true, Bugs::only(bug)), bug, expected_len);
}

#[track_caller]
fn assert_found_minimally(model: LessorModel, bug: Bug, expected_len: usize) {
    let property = bug.breaks();
    let shortest = shortest::shortest_counterexample(&model, property, 12)
        .unwrap_or_else(|| panic!("{bug}: no violation of {property} within 12 actions"));
    let len = shortest.clone().into_actions().len();
    let text = export::replay_trace(&model, &shortest, property);
    assert_eq!(len, expected_len, "{bug}: shortest counterexample:\n{text}");
    // Minimality, independently: a plain BFS bounded to one action less finds nothing.
    let shorter = check::run(model.clone(), &CheckOptions { actions_max: Some(len - 1), ..bfs() });
    assert!(shorter.verdict(property).unwrap().discovery.is_none(), "{bug}: a shorter counterexample exists");
    // The exported trace replays to the same property's violation, on its last command.
    let outcome = replay_trace(&text, Bugs::only(bug)).unwrap_or_else(|e| panic!("{bug}: {e}\n{text}"));
    let (line, violation) = outcome.violation.unwrap_or_else(|| panic!("{bug}: replay found nothing:\n{text}"));
    assert_eq!(violation.property, property, "{bug}: {violation}\n{text}");
    assert_eq!(line, text.lines().count(), "{bug}: the violation is not on the last line\n{text}");
    let expected = check::violation_of::<LessorModel>(&shortest).unwrap();
    assert_eq!(violation, expected, "{bug}: the replay and the model disagree");
}

#[test]
fn lessor_model_finds_etcd_6570_minimally() {
    assert_bug_found_minimally(Bug::Etcd6570, 5);
}

#[test]
fn lessor_model_finds_etcd_20590_minimally() {
    assert_bug_found_minimally(Bug::Etcd20590, 6);
}

#[test]
fn lessor_model_finds_etcd_6098_minimally() {
    assert_bug_found_minimally(Bug::Etcd6098, 4);
}

#[test]
fn lessor_model_finds_etcd_11731_minimally() {
    assert_bug_found_minimally(Bug::Etcd11731, 2);
}

#[test]
fn lessor_model_finds_etcd_9888_minimally() {
    // Grant with a 2 s TTL, a checkpoint of its remaining 1 s inside the second step, a leader
    // change: the promote gives the lease its full 2 s again. The default bounds (TTLs 1 s and 2 s).
    assert_bug_found_minimally(Bug::Etcd9888, 5);
}

#[test]
fn lessor_model_finds_etcd_10693_minimally() {
    // 8 actions deep: one lease, one TTL and one key keep the search small.
    let bounds = LessorBounds {
        lease_ids: vec![1],
        ttls_s: vec![1],
        keys: vec!["a".to_owned()],
        horizon: Duration::from_secs(3),
        revision_max: 2,
    };
    let model = LessorModel::with_bounds(true, Bugs::only(Bug::Etcd10693), bounds);
    assert_found_minimally(model, Bug::Etcd10693, 8);
}

/// What two runs must share to count as the same result: the counts (states, unique states,
/// depth) and, per property, the discovery's actions.
type Summary = (usize, usize, usize, Vec<(&'static str, Option<Vec<String>>)>);

fn summary<M: Model>(report: &CheckReport<M>) -> Summary
where
    M::State: Clone,
    M::Action: Clone + std::fmt::Debug,
{
    let verdicts = report
        .verdicts
        .iter()
        .map(|v| (v.name, v.discovery.clone().map(|p| p.into_actions().iter().map(|a| format!("{a:?}")).collect())))
        .collect();
    (report.states, report.unique_states, report.depth_max, verdicts)
}

#[test]
fn bfs_counts_agree_with_staterights_bfs() {
    // One stateright thread: with a depth bound, its counts depend on its visiting order.
    let stateright =
        |threads| CheckOptions { strategy: check::Strategy::StaterightBfs, threads, ..CheckOptions::bfs() };
    let lessor_depth = CheckOptions { actions_max: Some(5), ..CheckOptions::bfs() };
    let ours = check::run(LessorModel::new(true, Bugs::NONE), &lessor_depth);
    let theirs =
        check::run(LessorModel::new(true, Bugs::NONE), &CheckOptions { actions_max: Some(5), ..stateright(1) });
    assert_eq!(
        (ours.states, ours.unique_states, ours.depth_max),
        (theirs.states, theirs.unique_states, theirs.depth_max),
        "lessor model, at most 5 actions"
    );
    // Without a depth bound (and no property discovered by all), both explore everything.
    let ours = check::run(ClusterModel::new(true, Bugs::NONE), &bfs());
    let theirs = check::run(ClusterModel::new(true, Bugs::NONE), &stateright(2));
    assert_eq!((ours.states, ours.unique_states), (theirs.states, theirs.unique_states), "cluster model");
    for (a, b) in ours.verdicts.iter().zip(&theirs.verdicts) {
        assert_eq!((a.name, a.status()), (b.name, b.status()), "cluster model verdicts");
    }
}

#[test]
fn bfs_result_does_not_depend_on_the_thread_count() {
    let options = |threads| CheckOptions { actions_max: Some(5), ..CheckOptions::bfs().with_threads(threads) };
    for bugs in [Bugs::NONE, Bugs::only(Bug::Etcd6570)] {
        let one = summary(&check::run(LessorModel::new(true, bugs), &options(1)));
        for threads in [2, 3] {
            let many = summary(&check::run(LessorModel::new(true, bugs), &options(threads)));
            assert_eq!(one, many, "{threads} threads, bugs {bugs:?}");
        }
    }
}
