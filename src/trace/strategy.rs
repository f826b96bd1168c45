//! Seeded random traces for property runs (feature `proptest`): the proptest strategies that draw
//! a trace configuration and commands (weighted so that the interleavings the bugs need come up),
//! the rules for which drawn commands a single etcd member can actually see (`admissible`), and one
//! run of a drawn case on the replayer (the real lessor and KV) beside the naive reference model.
//!
//! Shared by the property tests (`tests/it/lessor_props.rs`) and the bug zoo's proptest engine, so
//! both draw the same traces. It restates no lease semantics (the reference model's job) and no
//! property (the oracle's); it reads no clock and no environment (the runner's RNG is seeded).

use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestRng, TestRunner};

use crate::bugs::Bugs;
use crate::lease::{LeaseId, MAX_LEASE_TTL_S};
use crate::oracle::reference::Reference;
use crate::time::Duration;
use crate::trace::{Command, Line, Replayer, TraceConfig, parse_line};

/// What a run judges: replies against the reference and the oracle, or the oracle alone (used to
/// shrink a bug's run to a property violation rather than to its first differing reply).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Judge {
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
        Ok(Line::Config(config)) => config,
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

/// A case: a configuration and up to `max_snippets` snippets of commands.
pub fn case_strategy(max_snippets: usize) -> impl Strategy<Value = (TraceConfig, Vec<Command>)> {
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
pub struct Failure {
    /// The commands run, the failing one last.
    pub trace: Vec<Command>,
    pub what: String,
    /// The property the oracle reported, if it was the oracle that failed.
    pub property: Option<&'static str>,
}

/// Runs `commands` (skipping inadmissible ones and step misuses both sides refuse) on the
/// replayer with `bugs` and on the reference. Returns the commands run and their replies.
pub fn run_case(
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

/// The trace text of a case: its `config` line, then one command a line.
pub fn trace_text(config: &TraceConfig, commands: &[Command]) -> String {
    let mut text = config.to_line();
    for command in commands {
        text.push('\n');
        text.push_str(&command.to_string());
    }
    text
}

/// A deterministic runner: `cases` cases drawn from a ChaCha RNG seeded with 32 copies of
/// `seed_byte`, no failure persistence, up to 20 000 shrink steps.
pub fn runner(cases: u32, seed_byte: u8) -> TestRunner {
    let config = Config { cases, failure_persistence: None, max_shrink_iters: 20_000, ..Config::default() };
    TestRunner::new_with_rng(config, TestRng::from_seed(RngAlgorithm::ChaCha, &[seed_byte; 32]))
}

/// A failure as proptest's error: what went wrong, then the trace.
pub fn failed(config: &TraceConfig, failure: Failure) -> TestCaseError {
    TestCaseError::fail(format!("{}\n--- trace ---\n{}", failure.what, trace_text(config, &failure.trace)))
}

/// One case as a proptest check: `run_case`, its failure as proptest's error.
pub fn check(config: &TraceConfig, commands: &[Command], bugs: Bugs, judge: Judge) -> Result<(), TestCaseError> {
    run_case(config, commands, bugs, judge).map(drop).map_err(|failure| failed(config, failure))
}
