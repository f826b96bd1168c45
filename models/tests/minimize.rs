//! Minimization of simulator counterexamples (`leasesim::sim::minimize`), judged against the
//! lessor model: for etcd-6570 and etcd-20590, a seed found by a small sweep is minimized; the
//! minimized run is strictly smaller, still violates the bug's property and replays to it from its
//! schedule; minimizing twice gives the same result; and the lessor-level replay trace replays to
//! the same violation and is no longer than the lessor model's shortest counterexample (by
//! breadth-first search) for the same bug.

use leasesim::bugs::{Bug, Bugs};
use leasesim::sim::minimize::{Budget, Minimized, minimize_with, trace_commands};
use leasesim::sim::{SimOptions, replay, sweep};
use leasesim::trace::replay_trace;
use leasesim_models::lessor::LessorModel;
use leasesim_models::shortest;

/// Re-runs per minimization: enough for these bugs, small enough for the default test run.
const BUDGET: Budget = Budget { max_runs: 80, max_rounds: 2 };

fn jobs() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}

/// The first seed of a small sweep whose run breaks `bug`'s property.
fn failing_seed(bug: Bug, options: &SimOptions) -> u64 {
    let seeds: Vec<u64> = (0..60).collect();
    let result = sweep(&seeds, options, jobs(), &|_| {});
    let mut failing: Vec<u64> = result
        .failures
        .iter()
        .filter(|r| r.violation.as_ref().is_some_and(|v| v.property == bug.breaks()))
        .map(|r| r.seed)
        .collect();
    failing.sort_unstable();
    *failing.first().unwrap_or_else(|| panic!("{bug}: no seed in 0..60 broke {}", bug.breaks()))
}

/// Minimizes `bug`'s first failing seed and checks everything but the comparison with the model.
fn minimized(bug: Bug, twice: bool) -> Minimized {
    let options = SimOptions { bugs: Bugs::only(bug), ..SimOptions::short() };
    let seed = failing_seed(bug, &options);
    let started = std::time::Instant::now();
    let m = minimize_with(seed, &options, BUDGET).unwrap_or_else(|e| panic!("{bug} seed {seed}: {e}"));
    eprintln!("{bug} seed {seed}: {} runs in {:.1}s\n{}", m.runs, started.elapsed().as_secs_f64(), m.table());
    assert_eq!(m.property, bug.breaks());
    assert!(m.after.items < m.before.items, "{bug}: no schedule item removed\n{}", m.table());
    assert!(m.after.events <= m.before.events, "{bug}: more events than before\n{}", m.table());
    // The minimized schedule replays to the same violation; the event trace is of that run.
    let replayed = replay(&m.schedule);
    assert_eq!(replayed.violation.as_ref().map(|v| v.property), Some(bug.breaks()));
    assert_eq!(replayed.trace_hash, m.report.trace_hash);
    assert!(m.jsonl.lines().count() as u64 > m.after.events, "{bug}: a short event trace");
    // The replay trace replays to the same violation, on its last command.
    let text = m.replay_trace.clone().unwrap_or_else(|| panic!("{bug}: no lessor-level replay trace"));
    let outcome = replay_trace(&text, Bugs::only(bug)).unwrap_or_else(|e| panic!("{bug}: {e}\n{text}"));
    let (line, violation) = outcome.violation.unwrap_or_else(|| panic!("{bug}: the trace replays clean:\n{text}"));
    assert_eq!(violation.property, bug.breaks(), "{bug}: {violation}\n{text}");
    assert_eq!(line, text.lines().count(), "{bug}: the violation is not on the last line\n{text}");
    let (before, after) = (m.before.trace_commands.unwrap(), m.after.trace_commands.unwrap());
    assert_eq!(after, trace_commands(&text));
    assert!(after < before, "{bug}: the replay trace did not shrink ({before} -> {after})");
    // Without the bug the same trace shows nothing.
    let fixed = replay_trace(&text, Bugs::NONE).expect("parses");
    assert!(fixed.violation.is_none(), "{bug}: the trace fails without the bug too:\n{text}");
    if twice {
        let again = minimize_with(seed, &options, BUDGET).expect("minimizes again");
        assert_eq!(again.schedule, m.schedule, "{bug}: minimizing twice differed");
        assert_eq!((&again.jsonl, &again.replay_trace), (&m.jsonl, &m.replay_trace));
    }
    m
}

/// The replay trace is at least as short as the lessor model's shortest counterexample.
fn no_longer_than_the_model(bug: Bug, m: &Minimized) {
    let model = LessorModel::new(true, Bugs::only(bug));
    let shortest = shortest::shortest_counterexample(&model, bug.breaks(), 12).expect("the model finds the bug");
    let model_len = shortest.into_actions().len();
    let ours = m.after.trace_commands.expect("a replay trace");
    eprintln!("{bug}: replay trace {ours} commands, lessor model's shortest {model_len} actions");
    assert!(
        ours <= model_len,
        "{bug}: {ours} commands > the model's {model_len}:\n{}",
        m.replay_trace.as_ref().unwrap()
    );
}

#[test]
fn etcd_6570_minimizes_to_a_replay_trace_as_short_as_the_models() {
    let m = minimized(Bug::Etcd6570, true);
    no_longer_than_the_model(Bug::Etcd6570, &m);
}

#[test]
fn etcd_20590_minimizes_to_a_replay_trace_as_short_as_the_models() {
    let m = minimized(Bug::Etcd20590, false);
    no_longer_than_the_model(Bug::Etcd20590, &m);
}
