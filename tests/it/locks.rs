//! Locks built on leases (Jepsen's etcd 3.4.3 finding): a small sweep of the lock workload finds
//! two holders writing to the protected storage (`lock_exclusive`), under client stalls or the
//! delays between a holder's check and its write, each seed replaying to the same violation; the
//! same seeds with fencing tokens are clean, with the stale writes rejected by the storage.

use leasesim::oracle;
use leasesim::sim::minimize::{Budget, minimize_with};
use leasesim::sim::{Item, Report, SimOptions, replay, run, run_recorded, sweep};
use leasesim::time::Duration;

fn jobs() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}

fn lock_options(fencing: bool) -> SimOptions {
    SimOptions { duration: Duration::from_secs(40), heal: Duration::from_secs(20), ..SimOptions::locks(fencing) }
}

#[test]
fn unfenced_locks_on_leases_have_two_holders_and_fencing_tokens_prevent_it() {
    let seeds: Vec<u64> = (0..60).collect();
    let unfenced = sweep(&seeds, &lock_options(false), jobs(), &|_| {});
    eprintln!(
        "without fencing: {} of {} seeds failed\n{}",
        unfenced.failures.len(),
        seeds.len(),
        unfenced.totals.lines()
    );
    // The lock workload breaks nothing but the lock: every failure is `lock_exclusive`.
    for report in &unfenced.failures {
        let v = report.violation.as_ref().expect("a failure has a violation");
        assert_eq!(v.property, oracle::LOCK_EXCLUSIVE, "{}", report.failure_text());
        assert!(v.detail.starts_with("two lock holders"), "{v}");
        assert!(report.replay_command().ends_with(" --locks"), "{}", report.replay_command());
        let replayed = run(report.seed, &report.options);
        assert_eq!((&replayed.violation, replayed.trace_hash), (&report.violation, report.trace_hash));
    }
    let failing: Vec<u64> = unfenced.failures.iter().map(|r| r.seed).collect();
    assert!(failing.len() >= 2, "only {failing:?} of 0..60 found two holders");
    // At least one finding is a holder frozen (a GC pause) while the next one took the lock.
    let frozen = unfenced.failures.iter().filter(|r| r.violation.as_ref().unwrap().detail.contains("frozen")).count();
    assert!(frozen > 0, "no finding involved a client stall");
    assert!(unfenced.totals.locks.tenures > 100, "{}", unfenced.totals.lines());
    assert_eq!(unfenced.totals.locks.writes_fenced, 0, "nothing is fenced without fencing");

    // A finding's recorded schedule (lock operations are client operations like any other)
    // replays to the same run, and the minimizer shrinks it to a smaller run with two holders.
    let first = &unfenced.failures[0];
    let (recorded, schedule) = run_recorded(first.seed, &first.options);
    assert_eq!((recorded.trace_hash, &recorded.violation), (first.trace_hash, &first.violation));
    let replayed = replay(&schedule);
    assert_eq!((replayed.trace_hash, &replayed.violation), (first.trace_hash, &first.violation));
    assert!(schedule.items.iter().any(|i| matches!(i, Item::Client { op, .. } if op.to_string().starts_with("lock "))));
    let budget = Budget { max_runs: 40, max_rounds: 1 };
    let minimized = minimize_with(first.seed, &first.options, budget).expect("a failing seed minimizes");
    assert_eq!(minimized.property, oracle::LOCK_EXCLUSIVE, "{}", minimized.table());
    assert!(minimized.after.items < minimized.before.items, "{}", minimized.table());

    let fenced = sweep(&failing, &lock_options(true), jobs(), &|_| {});
    let texts: Vec<String> = fenced.failures.iter().map(Report::failure_text).collect();
    assert!(texts.is_empty(), "with fencing {} of {failing:?} still failed; first:\n{}", texts.len(), texts[0]);
    assert!(fenced.totals.locks.writes_fenced > 0, "fencing rejected nothing: {}", fenced.totals.lines());
    assert!(fenced.totals.locks.tenures > 20, "{}", fenced.totals.lines());
}

#[test]
fn the_lock_workload_is_off_by_default_and_recorded_in_the_replay_command() {
    let standard = SimOptions::standard();
    assert!(!standard.locks && !standard.fencing);
    assert!(!standard.to_args(1).contains("lock") && !standard.to_args(1).contains("fencing"));
    let replay = SimOptions::locks(true).replay_command(3);
    assert!(replay.starts_with("leasesim sim --seed 3 ") && replay.ends_with(" --locks --fencing"), "{replay}");
    let bad = SimOptions { fencing: true, ..SimOptions::standard() }.validate().unwrap_err();
    assert!(bad.contains("--fencing needs --locks"), "{bad}");
    // A run without locks does no lock work and draws no client stalls.
    let report = run(5, &SimOptions { duration: Duration::from_secs(10), heal: Duration::from_secs(20), ..standard });
    assert_eq!(report.stats.locks, Default::default());
    assert_eq!(report.resolved.client_stalls, None);
    assert!(!report.summary().contains("locks:"), "{}", report.summary());
}
