//! Conformance against a real etcd (feature `etcd`): the tests start etcd themselves on loopback
//! (free ports, a temporary data directory, killed on drop), run seeded random traces and every
//! shipped scenario trace a single member can run through the replayer and etcd, and require zero
//! disagreements; a disagreement is shrunk and printed in full.
//!
//! Without an etcd binary these tests fail loudly; locally (never when `CI` is set) they may be
//! skipped with `LEASESIM_SKIP_ETCD=1`.

use std::path::{Path, PathBuf};

use leasesim::bugs::{Bug, Bugs};
use leasesim::conform::timing::timing_hazard;
use leasesim::conform::{
    CheckOutcome, ConformError, EtcdOptions, EtcdRunner, check_runnable, check_trace, check_trace_retrying,
    etcd_installed_for_test, generate_trace, shrink,
};
use leasesim::lease::EtcdVersion;
use leasesim::trace::{Command, TraceConfig, parse_trace};

/// Seeds of the random differential run.
const SEEDS: std::ops::Range<u64> = 0..50;
/// Parallel lanes (each with its own etcd): the runs mostly sleep through `advance`.
const LANES: u64 = 3;
/// A run that fell behind the wall-clock budget, or disagreed, is tried again this often.
const SLOW_RETRIES: usize = 2;
/// The spawned etcd's election timeout: minimum TTL 1 s, so the traces can be short.
const ELECTION_MS: u64 = 500;

fn spawn(election_ms: u64) -> EtcdRunner {
    EtcdRunner::spawn(EtcdOptions::for_election(election_ms)).unwrap_or_else(|e| panic!("cannot start etcd: {e}"))
}

/// A disagreement, shrunk and printed; or the error.
fn report(runner: &mut EtcdRunner, what: &str, outcome: Result<CheckOutcome, ConformError>) -> Option<String> {
    match outcome {
        Ok(CheckOutcome::Agree { .. }) => None,
        Ok(CheckOutcome::Disagree(found)) => Some(match shrink(runner, *found.clone(), 40) {
            Ok(minimal) => format!("{what}: disagreement, shrunk to {} commands:\n{minimal}", minimal.commands.len()),
            Err(e) => format!("{what}: disagreement (shrinking failed: {e}):\n{found}"),
        }),
        Err(e) => Some(format!("{what}: {e}")),
    }
}

#[test]
fn random_traces_agree_with_etcd() {
    if !etcd_installed_for_test("random_traces_agree_with_etcd") {
        return;
    }
    let lanes: Vec<_> = (0..LANES)
        .map(|lane| {
            std::thread::spawn(move || {
                let mut runner = spawn(ELECTION_MS);
                let config = runner.trace_config().expect("the spawned etcd's trace config");
                let mut failures = Vec::new();
                let mut agreed = 0;
                for seed in SEEDS.filter(|s| s % LANES == lane) {
                    let commands = generate_trace(seed, &config, true);
                    let outcome = check_trace_retrying(&mut runner, &config, &commands, SLOW_RETRIES);
                    match report(&mut runner, &format!("seed {seed}"), outcome) {
                        None => agreed += 1,
                        Some(failure) => failures.push(failure),
                    }
                }
                (agreed, failures)
            })
        })
        .collect();
    let mut agreed = 0;
    let mut failures = Vec::new();
    for lane in lanes {
        let (a, f) = lane.join().expect("a conformance lane panicked");
        agreed += a;
        failures.extend(f);
    }
    eprintln!("random traces against etcd: {agreed} of {} agree", SEEDS.end - SEEDS.start);
    assert!(failures.is_empty(), "{} of the random traces failed:\n{}", failures.len(), failures.join("\n"));
    assert_eq!(agreed, SEEDS.end - SEEDS.start);
}

/// Every `*.trace` in `dir` (not recursive), sorted.
fn traces_in(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "trace"))
        .collect();
    files.sort();
    files
}

/// Why a scenario trace cannot be judged against a single live etcd, if it cannot.
fn skip_reason(runner: &mut EtcdRunner, config: &TraceConfig, commands: &[(usize, Command)]) -> Option<String> {
    if let Err(e) = check_runnable(commands, true) {
        return Some(e.to_string());
    }
    if let Err(e) = runner.check_trace(config, commands) {
        return Some(e.to_string());
    }
    timing_hazard(config, commands).map(|hazard| format!("timing-sensitive at {hazard}"))
}

#[test]
fn shipped_scenario_traces_agree_with_etcd() {
    if !etcd_installed_for_test("shipped_scenario_traces_agree_with_etcd") {
        return;
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/traces");
    let ours = traces_in(&root.join("etcd"));
    let files: Vec<PathBuf> = traces_in(&root).into_iter().chain(ours.iter().cloned()).collect();
    // One etcd per election timeout the traces ask for (it sets the server's minimum TTL).
    let mut runners: std::collections::BTreeMap<u64, EtcdRunner> = std::collections::BTreeMap::new();
    let (mut ran, mut skipped, mut failures) = (Vec::new(), Vec::new(), Vec::new());
    for file in &files {
        let name = file.strip_prefix(&root).unwrap_or(file).display().to_string();
        let text = std::fs::read_to_string(file).expect("readable trace");
        let (mut config, commands) = parse_trace(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
        if text.lines().any(|l| l.trim_start().starts_with("# bug:")) {
            skipped.push(format!("{name}: replays with a bug switched on (etcd runs without it)"));
            continue;
        }
        let runner = runners.entry(config.election_timeout.as_ms()).or_insert_with_key(|&ms| spawn(ms));
        // The scenario is judged as the server's release behaves (the README's version table).
        config.lessor.etcd_version = runner.etcd_version();
        if let Some(reason) = skip_reason(runner, &config, &commands) {
            skipped.push(format!("{name}: {reason}"));
            continue;
        }
        let outcome = check_trace_retrying(runner, &config, &commands, SLOW_RETRIES);
        match report(runner, &name, outcome) {
            None => ran.push(name),
            Some(failure) => failures.push(failure),
        }
    }
    eprintln!("scenario traces run against etcd ({}): {}", ran.len(), ran.join(", "));
    eprintln!("scenario traces skipped ({}):\n  {}", skipped.len(), skipped.join("\n  "));
    assert!(failures.is_empty(), "{} scenario traces failed:\n{}", failures.len(), failures.join("\n"));
    for file in &ours {
        let name = file.strip_prefix(&root).unwrap_or(file).display().to_string();
        assert!(ran.contains(&name), "{name} is written for etcd but was not run: {skipped:?}");
    }
}

#[test]
fn a_disagreement_is_found_and_shrunk() {
    if !etcd_installed_for_test("a_disagreement_is_found_and_shrunk") {
        return;
    }
    // With etcd-6098 the replayer's revoke deletes keys one revision each; etcd 3.4 deletes them at
    // one revision, so the next write's revision differs.
    let text = "config min_ttl=1 election=500ms\ngrant 100 10\nput x 1\ngrant -1 10\nput a v -1\nget x\n\
                put b v -1\nttl -1 keys\nleases\nrenew 100\nrevoke -1\nget x\nput z v\nget z\nleases";
    let (mut config, commands) = parse_trace(text).expect("a valid trace");
    let mut runner = spawn(ELECTION_MS);
    config.lessor.etcd_version = runner.etcd_version();
    assert!(matches!(check_trace(&mut runner, &config, &commands), Ok(CheckOutcome::Agree { .. })));
    let buggy = config.clone().with_bugs(Bugs::NONE.with(Bug::Etcd6098));
    let Ok(CheckOutcome::Disagree(found)) = check_trace(&mut runner, &buggy, &commands) else {
        panic!("etcd-6098 in the replayer must disagree with etcd");
    };
    assert_eq!(found.mismatch.field, "rev", "{found}");
    let minimal = shrink(&mut runner, *found, 60).expect("shrinking runs");
    // grant, two puts on the lease, revoke, and the write whose revision shows it.
    assert_eq!(minimal.commands.len(), 5, "{minimal}");
    assert!(minimal.commands.contains(&Command::Revoke { id: -1 }), "{minimal}");
    let numbered: Vec<(usize, Command)> = minimal.commands.iter().cloned().zip(2..).map(|(c, l)| (l, c)).collect();
    assert!(matches!(check_trace(&mut runner, &buggy, &numbered), Ok(CheckOutcome::Disagree(_))), "{minimal}");
}

#[test]
fn etcd_3_4_reapplies_unpersisted_writes_after_a_restart_as_the_version_setting_models() {
    if !etcd_installed_for_test("etcd_3_4_reapplies_unpersisted_writes_after_a_restart_as_the_version_setting_models") {
        return;
    }
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/traces/etcd/v34-restart-reapplies.trace");
    let (config, commands) = parse_trace(&std::fs::read_to_string(path).expect("readable")).expect("valid");
    let mut runner = spawn(ELECTION_MS);
    if runner.etcd_version() != EtcdVersion::V3_4 {
        eprintln!("the installed etcd is not 3.4; this test pins 3.4's restart, skipping its etcd half");
        return;
    }
    let run = runner.run(&config, &commands).expect("the trace runs on etcd 3.4");
    let get = commands.iter().position(|(_, c)| matches!(c, Command::Get { .. })).expect("a get");
    assert_eq!(run.replies[get], "ok value=v lease=7 mod_rev=3", "etcd 3.4 applies the failed put again");
    // A run the loaded machine made too slow to judge (or whose wall-clock-derived replies drifted)
    // is retried, as the other comparisons with etcd are.
    let outcome = check_trace_retrying(&mut runner, &config, &commands, SLOW_RETRIES);
    assert!(matches!(outcome, Ok(CheckOutcome::Agree { .. })), "{outcome:?}");
    // The same trace modelled as 3.5 (SPEC) keeps the put failed: the setting, not a loose
    // comparison, is what makes the replies agree.
    let mut newer = config.clone();
    newer.lessor.etcd_version = EtcdVersion::V3_5;
    let expected = leasesim::conform::check::expected_replies(&newer, &commands).expect("replays");
    assert_eq!(expected[get], "ok none");
}

#[test]
fn commands_a_live_etcd_cannot_run_are_refused_with_their_line() {
    let text = "grant 1 10\n# comment\ncheckpoint 1 5\n";
    let (_, commands) = parse_trace(text).expect("valid");
    let error = check_runnable(&commands, true).expect_err("checkpoint is refused");
    assert!(matches!(error, ConformError::Refused { line: 3, .. }), "{error}");
    assert!(error.to_string().contains("line 3: `checkpoint 1 5` cannot run against a live etcd"), "{error}");
    for refused in ["promote 1s", "demote", "renew-begin 1", "revoke-step 1", "lose-revokes 1"] {
        let (_, commands) = parse_trace(refused).expect("valid");
        assert!(check_runnable(&commands, true).is_err(), "{refused}");
    }
    let (_, restart) = parse_trace("restart").expect("valid");
    assert!(check_runnable(&restart, true).is_ok());
    let error = check_runnable(&restart, false).expect_err("restart needs our own etcd");
    assert!(error.to_string().contains("--spawn-etcd"), "{error}");
}
