//! Minimization of simulator counterexamples: for a bug found by a small sweep, the minimized run
//! is strictly smaller, still violates the bug's property, is the same when minimized again, and
//! its schedule replays to the same violation.

use leasesim::bugs::{Bug, Bugs};
use leasesim::sim::minimize::{Budget, Minimized, minimize_with};
use leasesim::sim::{SimOptions, replay, sweep};

fn jobs() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}

/// The first seed of a small sweep whose run breaks `bug`'s property.
fn failing_seed(bug: Bug, options: &SimOptions) -> u64 {
    let seeds: Vec<u64> = (0..120).collect();
    let result = sweep(&seeds, options, jobs(), &|_| {});
    let mut failing: Vec<u64> = result
        .failures
        .iter()
        .filter(|r| r.violation.as_ref().is_some_and(|v| v.property == bug.breaks()))
        .map(|r| r.seed)
        .collect();
    failing.sort_unstable();
    *failing.first().unwrap_or_else(|| panic!("{bug}: no seed in 0..120 broke {}", bug.breaks()))
}

fn minimized(bug: Bug, twice: bool) -> Minimized {
    let options = SimOptions { bugs: Bugs::only(bug), ..SimOptions::short() };
    let seed = failing_seed(bug, &options);
    let budget = Budget { max_runs: 120, max_rounds: 2 };
    let started = std::time::Instant::now();
    let m = minimize_with(seed, &options, budget).unwrap_or_else(|e| panic!("{bug} seed {seed}: {e}"));
    eprintln!("{bug} seed {seed}: {} runs in {:.1}s\n{}", m.runs, started.elapsed().as_secs_f64(), m.table());
    eprintln!("{}", m.schedule_text);
    assert_eq!(m.property, bug.breaks());
    assert!(m.after.items < m.before.items, "{bug}: no item removed\n{}", m.table());
    assert!(m.after.events < m.before.events, "{bug}: no event removed\n{}", m.table());
    // The minimized schedule replays to the same violation, and so does its event trace's header.
    let replayed = replay(&m.schedule);
    assert_eq!(replayed.violation.as_ref().map(|v| v.property), Some(bug.breaks()));
    assert_eq!(replayed.trace_hash, m.report.trace_hash);
    assert!(m.jsonl.lines().count() as u64 > m.after.events, "{bug}: a short event trace");
    if !twice {
        return m;
    }
    // Minimizing again gives the same result.
    let again = minimize_with(seed, &options, budget).expect("minimizes again");
    assert_eq!(again.schedule, m.schedule, "{bug}: minimizing twice differed");
    assert_eq!(again.jsonl, m.jsonl);
    m
}

#[test]
fn etcd_6570_minimizes() {
    minimized(Bug::Etcd6570, true);
}

#[test]
fn etcd_20590_minimizes() {
    minimized(Bug::Etcd20590, false);
}
