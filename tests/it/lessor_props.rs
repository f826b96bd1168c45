//! Property runs: random trace commands applied to the `Replayer` (the real lessor and KV) and to the
//! naive reference model (`oracle::reference`) must give identical replies, and the oracle's
//! verdict must be Ok after every step. With each bug switch on, the same kind of run must fail
//! and shrink to a short trace that replays the violation (and replays clean without the bug).
//!
//! Owns the command generator and the rules for which generated commands a single etcd member can
//! actually see (`admissible`); it does not restate any lease semantics (that is the reference
//! model's job) nor any property (the oracle's).

use leasesim::bugs::{Bug, Bugs};
use leasesim::lease::{LeaseId, MAX_LEASE_TTL_S};
use leasesim::oracle::reference::Reference;
use leasesim::time::Duration;
use leasesim::trace::{Command, Replayer, TraceConfig, parse_line, replay_trace};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestError, TestRng, TestRunner};

/// What a run judges: replies against the reference and the oracle, or the oracle alone (used to
/// shrink a bug's run to a property violation rather than to its first differing reply).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Judge {
    RepliesAndOracle,
    OracleOnly,
}

/// The configurations runs draw from: etcd's defaults, small revoke rates (scan limits and pile-up
/// spreading with a handful of leases; at rate 2 a scan takes one lease and two leases due in the
/// same second are a pile-up), and checkpointing with and without persistence.
fn config_strategy() -> impl Strategy<Value = TraceConfig> {
    let lines = [
        "config",
        "config min_ttl=3 retry=2s election=500ms revoke_rate=4",
        "config retry=3s checkpoint=on checkpoint_interval=2s persist=off",
        "config min_ttl=2 retry=1s checkpoint=on checkpoint_interval=1s persist=on revoke_rate=6",
        "config retry=3s election=2s revoke_rate=2",
    ];
    proptest::sample::select(lines.to_vec()).prop_map(|line| match parse_line(line) {
        Ok(leasesim::trace::Line::Config(config)) => config,
        other => panic!("preset {line:?} does not parse as a config: {other:?}"),
    })
}

fn id_strategy() -> impl Strategy<Value = LeaseId> {
    prop_oneof![4 => Just(1), 3 => Just(2), 2 => Just(3), 2 => Just(-1), 1 => Just(-2), 1 => Just(0)]
}

fn ttl_strategy() -> impl Strategy<Value = i64> {
    prop_oneof![
        1 => Just(-1),
        1 => Just(0),
        2 => Just(1),
        3 => Just(2),
        4 => Just(3),
        3 => Just(5),
        2 => Just(10),
        1 => Just(MAX_LEASE_TTL_S),
        1 => Just(MAX_LEASE_TTL_S + 1),
    ]
}

fn duration_strategy() -> impl Strategy<Value = Duration> {
    proptest::sample::select(vec![100, 400, 500, 1000, 1500, 2000, 3000, 7000, 12_000]).prop_map(Duration::from_ms)
}

fn key_strategy() -> impl Strategy<Value = String> {
    proptest::sample::select(vec!["a", "b", "c"]).prop_map(str::to_owned)
}

/// One command, weighted so that the interleavings the bugs need come up: stepped renews and
/// revokes, lost revokes followed by time passing, grants on a demoted lessor, keys on leases.
fn command_strategy() -> impl Strategy<Value = Command> {
    let put_lease = prop_oneof![2 => Just(0), 4 => Just(1), 2 => Just(2), 1 => Just(-1), 1 => Just(9)];
    prop_oneof![
        10 => (id_strategy(), ttl_strategy()).prop_map(|(id, ttl_s)| Command::Grant { id, ttl_s }),
        4 => id_strategy().prop_map(|id| Command::Revoke { id }),
        6 => id_strategy().prop_map(|id| Command::Renew { id }),
        8 => (key_strategy(), put_lease).prop_map(|(key, lease)| Command::Put { key, value: "v".into(), lease }),
        2 => key_strategy().prop_map(|key| Command::Delete { key }),
        2 => key_strategy().prop_map(|key| Command::Get { key }),
        3 => (id_strategy(), any::<bool>()).prop_map(|(id, keys)| Command::Ttl { id, keys }),
        1 => Just(Command::Leases),
        2 => (id_strategy(), -1i64..=4).prop_map(|(id, remaining_ttl_s)| Command::Checkpoint { id, remaining_ttl_s }),
        2 => proptest::sample::select(vec![0, 500, 1000]).prop_map(|ms| Command::Promote { extend: Duration::from_ms(ms) }),
        1 => Just(Command::Demote),
        12 => duration_strategy().prop_map(|by| Command::Advance { by }),
        1 => Just(Command::Restart),
        4 => id_strategy().prop_map(|id| Command::RenewBegin { id }),
        2 => id_strategy().prop_map(|id| Command::RenewCheckpoint { id }),
        4 => id_strategy().prop_map(|id| Command::RenewEnd { id }),
        4 => id_strategy().prop_map(|id| Command::RevokeBegin { id }),
        6 => id_strategy().prop_map(|id| Command::RevokeStep { id }),
        2 => (1u32..=2).prop_map(|count| Command::LoseRevokes { count }),
    ]
}

/// A command, or a stepped renew or revoke of one lease with other commands in its windows (so
/// the steps of one operation meet often enough). Each part of a stepped snippet is kept by a
/// weighted coin, so shrinking can drop parts one by one.
fn snippet_strategy() -> impl Strategy<Value = Vec<Command>> {
    let keep = || proptest::collection::vec(proptest::bool::weighted(0.95), 5);
    let kept = |parts: Vec<Command>, keep: Vec<bool>| -> Vec<Command> {
        parts.into_iter().zip(keep).filter(|(_, k)| *k).map(|(part, _)| part).collect()
    };
    prop_oneof![
        12 => command_strategy().prop_map(|command| vec![command]),
        2 => (id_strategy(), command_strategy(), command_strategy(), keep()).prop_map(move |(id, a, b, keep)| {
            let parts = vec![Command::RenewBegin { id }, a, Command::RenewCheckpoint { id }, b, Command::RenewEnd { id }];
            kept(parts, keep)
        }),
        2 => (id_strategy(), command_strategy(), keep()).prop_map(move |(id, a, keep)| {
            let parts = vec![Command::RevokeBegin { id }, Command::RevokeStep { id }, a, Command::RevokeStep { id }];
            kept(parts, keep)
        }),
    ]
}

fn case_strategy(max_snippets: usize) -> impl Strategy<Value = (TraceConfig, Vec<Command>)> {
    let commands = proptest::collection::vec(snippet_strategy(), 1..=max_snippets).prop_map(|s| s.concat());
    (config_strategy(), commands)
}

/// Whether a single etcd member could see `command` now. Generated commands it could not see are
/// skipped (they are not part of the run's trace):
/// - a stepped revoke is one apply of the log: nothing else that goes through the log (grant,
///   revoke, put, delete, checkpoint, scans) nor a crash or a leadership change lands inside it;
///   only reads and renews (which do not go through the log) do — the open window of etcd 14758;
/// - a renew's last window is short (see below);
/// - a checkpoint is what a leader with checkpointing on replicates: `{id, 0}`, or the lease's
///   seconds left rounded up (or more: it may be stale) and below its TTL. A checkpoint that
///   claims less time than is left would shorten a lease behind its client's back, which no etcd
///   leader does.
fn admissible(reference: &Reference, config: &TraceConfig, command: &Command) -> bool {
    if reference.revoke_in_progress()
        && !matches!(
            command,
            Command::RevokeStep { .. }
                | Command::Renew { .. }
                | Command::RenewBegin { .. }
                | Command::RenewEnd { .. }
                | Command::Ttl { .. }
                | Command::Get { .. }
                | Command::Leases
        )
    {
        return false;
    }
    // A renew that owes no checkpoint round trip (any more) is a few instructions from its refresh
    // in etcd: no time passes and no checkpoint lands there. (If one did, the refresh would use
    // the checkpointed remaining TTL while the reply promises the whole TTL: etcd's Renew reads
    // `remainingTTL` after dropping and retaking its lock.)
    let in_last_window = |id: LeaseId| reference.open_renews().any(|(open, owed)| !owed && open == id);
    match *command {
        Command::Advance { .. } if reference.open_renews().any(|(_, owed)| !owed) => return false,
        Command::Checkpoint { id, .. } if in_last_window(id) => return false,
        _ => {}
    }
    if let Command::Checkpoint { id, remaining_ttl_s } = *command {
        if !config.lessor.checkpointing {
            return false;
        }
        let Some(lease) = reference.lease(id) else { return true };
        if remaining_ttl_s <= 0 {
            return true;
        }
        let Some(expiry) = lease.expiry.filter(|_| reference.is_primary()) else { return false };
        let left_ms = expiry.as_ms() as i64 - reference.now().as_ms() as i64;
        let left_s = if left_ms <= 0 { 0 } else { (left_ms + 999) / 1000 };
        return remaining_ttl_s >= left_s && remaining_ttl_s < lease.ttl_s;
    }
    true
}

/// How a run went wrong.
#[derive(Clone, Debug)]
struct Failure {
    /// The commands run, the failing one last.
    trace: Vec<Command>,
    what: String,
    /// The property the oracle reported, if it was the oracle that failed.
    property: Option<&'static str>,
}

/// Runs `commands` (skipping inadmissible ones and step misuses both sides refuse) on the
/// replayer with `bugs` and on the reference. Returns the commands run and their replies.
fn run_case(
    config: &TraceConfig,
    commands: &[Command],
    bugs: Bugs,
    judge: Judge,
) -> Result<Vec<(Command, String)>, Failure> {
    let mut replayer = Replayer::new(config.clone().with_bugs(bugs));
    let mut reference = Reference::new(config.clone());
    let mut trace: Vec<(Command, String)> = Vec::new();
    for command in commands {
        if !admissible(&reference, config, command) {
            continue;
        }
        let expected = reference.execute(command);
        let actual = replayer.execute(command);
        let fail = |trace: &Vec<(Command, String)>, what: String, property| {
            let mut trace: Vec<Command> = trace.iter().map(|(c, _)| c.clone()).collect();
            trace.push(command.clone());
            Err(Failure { trace, what, property })
        };
        let reply = match (expected, actual) {
            (Err(_), Err(_)) => continue,
            (Ok(expected), Ok((reply, verdict))) => {
                if let Err(violation) = verdict {
                    return fail(&trace, format!("violation {violation}"), Some(violation.property));
                }
                if judge == Judge::RepliesAndOracle && reply != expected {
                    return fail(&trace, format!("replied `{reply}`, the reference model `{expected}`"), None);
                }
                reply
            }
            (expected, actual) if judge == Judge::RepliesAndOracle => {
                return fail(&trace, format!("the reference model said {expected:?}, the replayer {actual:?}"), None);
            }
            // Judging the oracle alone, a step the buggy replayer refuses is simply not run.
            _ => continue,
        };
        trace.push((command.clone(), reply));
    }
    Ok(trace)
}

fn trace_text(config: &TraceConfig, commands: &[Command]) -> String {
    let mut text = config.to_line();
    for command in commands {
        text.push('\n');
        text.push_str(&command.to_string());
    }
    text
}

fn runner(cases: u32, seed_byte: u8) -> TestRunner {
    let config = Config { cases, failure_persistence: None, max_shrink_iters: 20_000, ..Config::default() };
    TestRunner::new_with_rng(config, TestRng::from_seed(RngAlgorithm::ChaCha, &[seed_byte; 32]))
}

fn failed(config: &TraceConfig, failure: Failure) -> TestCaseError {
    TestCaseError::fail(format!("{}\n--- trace ---\n{}", failure.what, trace_text(config, &failure.trace)))
}

fn check(config: &TraceConfig, commands: &[Command], bugs: Bugs, judge: Judge) -> Result<(), TestCaseError> {
    run_case(config, commands, bugs, judge).map(drop).map_err(|failure| failed(config, failure))
}

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
