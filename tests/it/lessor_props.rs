//! Property runs: random trace commands applied to the `Replayer` (the real lessor and KV) and to the
//! naive reference model (`oracle::reference`) must give identical replies, and the oracle's
//! verdict must be Ok after every step. With each bug switch on, the same kind of run must fail
//! and shrink to a short trace that replays the violation (and replays clean without the bug).
//!
//! Owns the runs' sizes, seeds and what they must show; the generator and the rules for which
//! generated commands a single etcd member can actually see are `leasesim::trace::strategy` (shared
//! with the bug zoo). It restates no lease semantics (the reference model's job) nor any property
//! (the oracle's).

use leasesim::bugs::{Bug, Bugs};
use leasesim::trace::replay_trace;
use leasesim::trace::strategy::{Judge, case_strategy, check, failed, run_case, runner, trace_text};
use proptest::test_runner::TestError;

/// The reply shapes a run must have produced for it to have exercised the semantics: a verb and
/// a prefix of its reply.
const MUST_SEE: [(&str, &str); 27] = [
    ("grant", "ok id=-"),
    ("grant", "err LeaseExists"),
    ("grant", "err TtlTooLarge"),
    ("revoke", "ok"),
    ("revoke", "err LeaseNotFound"),
    ("renew", "ok ttl="),
    ("renew", "blocked"),
    ("renew", "err NotPrimary"),
    ("put", "ok rev="),
    ("put", "err LeaseNotFound"),
    ("delete", "ok rev="),
    ("get", "ok value="),
    ("ttl", "ok id=1 ttl=-1"),
    ("ttl", "err LeaderChanged"),
    ("leases", "ok ids=-"),
    ("checkpoint", "ok"),
    ("promote", "ok"),
    ("demote", "ok"),
    ("advance", "ok revoked=1"),
    ("restart", "ok"),
    ("renew-begin", "ok checkpoint=needed"),
    ("renew-begin", "blocked"),
    ("renew-checkpoint", "ok"),
    ("renew-end", "ok ttl="),
    ("renew-end", "err LeaseNotFound"),
    ("revoke-step", "ok step=delete-keys keys=a"),
    ("revoke-step", "ok step=remove-lease done"),
];

#[test]
fn the_lessor_answers_as_the_reference_model_and_every_property_holds() {
    let seen = std::cell::RefCell::new(vec![0u32; MUST_SEE.len()]);
    let result = runner(70_000, 7).run(&case_strategy(25), |(config, commands)| {
        let run = run_case(&config, &commands, Bugs::NONE, Judge::RepliesAndOracle).map_err(|f| failed(&config, f))?;
        for (command, reply) in &run {
            let printed = command.to_string();
            let verb = printed.split(' ').next().unwrap_or_default();
            for (count, (want_verb, prefix)) in seen.borrow_mut().iter_mut().zip(MUST_SEE) {
                *count += u32::from(verb == want_verb && reply.starts_with(prefix));
            }
        }
        Ok(())
    });
    if let Err(error) = result {
        panic!("{error}");
    }
    let seen: Vec<((&str, &str), u32)> = MUST_SEE.into_iter().zip(seen.into_inner()).collect();
    let rare: Vec<_> = seen.iter().filter(|(_, count)| *count < 20).collect();
    assert!(rare.is_empty(), "reply shapes the generator rarely reaches: {rare:?}\nall: {seen:?}");
}

/// Runs the property with `bug` on until it fails, shrinks, and checks the shrunk trace: short,
/// and as a trace text it shows the bug's violation with the bug and replays clean without it.
#[track_caller]
fn bug_is_found_and_shrinks(bug: Bug, max_len: usize) {
    let bugs = Bugs::only(bug);
    let result = runner(2000, 11)
        .run(&case_strategy(20), |(config, commands)| check(&config, &commands, bugs, Judge::OracleOnly));
    let (config, commands) = match result {
        Err(TestError::Fail(_, shrunk)) => shrunk,
        Err(other) => panic!("{bug}: the run did not fail cleanly: {other}"),
        Ok(()) => panic!("{bug}: 2000 random runs never broke a property"),
    };
    let failure = run_case(&config, &commands, bugs, Judge::OracleOnly).expect_err("the shrunk case fails again");
    let text = trace_text(&config, &failure.trace);
    eprintln!("{bug} shrunk to {} commands ({}):\n{text}", failure.trace.len(), failure.what);
    assert!(
        failure.trace.len() <= max_len,
        "{bug}: shrunk to {} commands, more than {max_len}:\n{text}",
        failure.trace.len()
    );
    assert_eq!(failure.property, Some(bug.breaks()), "{bug}: {}\n{text}", failure.what);

    let with_bug = replay_trace(&text, bugs).expect("the shrunk trace parses");
    let (line, violation) = with_bug.violation.unwrap_or_else(|| panic!("{bug}: replay shows no violation:\n{text}"));
    assert_eq!(violation.property, bug.breaks(), "{bug}:\n{text}");
    assert_eq!(line, text.lines().count(), "{bug}: the violation comes at the last command:\n{text}");

    let without = replay_trace(&text, Bugs::NONE).expect("the shrunk trace parses");
    assert_eq!(without.violation, None, "{bug}: the trace fails without the bug too:\n{text}");
    let clean = run_case(&config, &failure.trace, Bugs::NONE, Judge::RepliesAndOracle);
    assert!(clean.is_ok(), "{bug}: without the bug the lessor and the reference disagree:\n{text}");
}

#[test]
fn etcd_6570_renew_of_an_expired_lease_is_found_and_shrunk() {
    bug_is_found_and_shrinks(Bug::Etcd6570, 8);
}

#[test]
fn etcd_10693_a_lost_revoke_never_retried_is_found_and_shrunk() {
    bug_is_found_and_shrinks(Bug::Etcd10693, 8);
}

#[test]
fn etcd_11731_a_follower_queueing_leases_is_found_and_shrunk() {
    bug_is_found_and_shrinks(Bug::Etcd11731, 8);
}

#[test]
fn etcd_20590_renew_without_a_recheck_is_found_and_shrunk() {
    bug_is_found_and_shrinks(Bug::Etcd20590, 8);
}

#[test]
fn etcd_6098_a_revoke_that_is_not_atomic_is_found_and_shrunk() {
    bug_is_found_and_shrinks(Bug::Etcd6098, 8);
}
