//! `leasesim sim` and `leasesim sweep` as processes: summaries, traces, exit codes, clear errors
//! for bad options, and a failing seed's printed replay command reproducing the failure.

use std::process::{Command, Output};

fn leasesim(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_leasesim")).args(args).output().expect("the leasesim binary runs")
}

fn text(output: &Output) -> (String, String) {
    (String::from_utf8_lossy(&output.stdout).into_owned(), String::from_utf8_lossy(&output.stderr).into_owned())
}

const SHORT: [&str; 4] = ["--duration", "10s", "--heal", "20s"];

#[test]
fn sim_prints_a_summary_and_passes() {
    let output = leasesim(&[&["sim", "--seed", "3"], &SHORT[..]].concat());
    let (stdout, stderr) = text(&output);
    assert_eq!(output.status.code(), Some(0), "{stdout}{stderr}");
    for field in ["simulated time:", "events:", "leader changes:", "leases:", "keep-alives:", "faults injected:"] {
        assert!(stdout.contains(field), "no `{field}` in:\n{stdout}");
    }
    assert!(stdout.contains("max outlived promised deadline by:"), "{stdout}");
    assert!(stdout.contains("verdict:             ok"), "{stdout}");
    assert!(stdout.contains("--seed 3 "), "the options are logged with the seed:\n{stdout}");
}

#[test]
fn sim_writes_the_same_json_trace_twice() {
    let dir = crate::scratch::ScratchDir::new("sim-trace");
    let (a, b) = (dir.join("a.jsonl"), dir.join("b.jsonl"));
    for path in [&a, &b] {
        let output = leasesim(&[&["sim", "--seed", "5", "--trace", path.to_str().unwrap()], &SHORT[..]].concat());
        assert_eq!(output.status.code(), Some(0), "{:?}", text(&output));
    }
    let (ta, tb) = (std::fs::read_to_string(&a).unwrap(), std::fs::read_to_string(&b).unwrap());
    assert!(ta.lines().count() > 1000, "a short trace: {} lines", ta.lines().count());
    assert_eq!(ta, tb, "two runs of one seed wrote different traces");
    let first: serde_json::Value = serde_json::from_str(ta.lines().next().unwrap()).unwrap();
    assert_eq!(first["seed"], 5);
}

#[test]
fn bad_options_are_clear_errors_with_exit_2() {
    let cases: [(&[&str], &str); 13] = [
        (&["sim", "--seed", "1", "--apply-lag-max", "abc"], "invalid value 'abc'"),
        (&["sim", "--seed", "1", "--apply-lag-max", "2s"], "--apply-lag-max must be a multiple of 100ms from 0"),
        (&["sim", "--seed", "1", "--apply-lag-max", "150ms"], "--apply-lag-max must be a multiple of 100ms"),
        (&["sweep", "--seeds", "0..2", "--apply-lag-max=-1s"], "must be a non-negative number"),
        (&["sim", "--seed", "1", "--disk-stalls", "sometimes"], "is not one of on, off, seed"),
        (&["sim", "--seed", "1", "--bug", "etcd-1"], "unknown bug"),
        (&["sim", "--seed", "1", "--members", "0"], "--members must be 1, 3 or 5"),
        (&["sim", "--seed", "1", "--members", "4"], "--members must be 1, 3 or 5"),
        (&["sim", "--seed", "1", "--drift-bound-ppm", "fast"], "invalid value 'fast'"),
        (&["sim", "--seed", "x"], "invalid value 'x'"),
        (&["sweep", "--seeds", "5..2"], "is empty"),
        (&["sweep", "--seeds", "x..y"], "not a non-negative integer"),
        (&["sweep", "--seeds", "0..4", "--shard", "3/3"], "need 0 <= I < N"),
    ];
    for (args, expected) in cases {
        let output = leasesim(args);
        let (stdout, stderr) = text(&output);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stdout}{stderr}");
        assert!(stderr.contains(expected), "{args:?}: expected `{expected}` in:\n{stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
}

#[test]
fn a_sweep_shard_runs_its_share_and_passes() {
    let output = leasesim(&[&["sweep", "--seeds", "0..6", "--shard", "1/3", "--jobs", "2"], &SHORT[..]].concat());
    let (stdout, stderr) = text(&output);
    assert_eq!(output.status.code(), Some(0), "{stdout}{stderr}");
    assert!(stdout.lines().any(|l| l.starts_with("seeds run") && l.trim_end().ends_with(" 2")), "{stdout}");
    assert!(stdout.contains("verdict: ok"), "{stdout}");
}

/// The arguments of the first `replay: leasesim …` line a sweep printed.
fn replay_command_in(stdout: &str) -> &str {
    stdout
        .lines()
        .find_map(|l| l.trim().strip_prefix("replay: leasesim "))
        .unwrap_or_else(|| panic!("no replay command in:\n{stdout}"))
}

#[test]
fn a_sweep_with_etcd_6570_fails_and_its_replay_command_reproduces_the_violation() {
    let output = leasesim(&["sweep", "--seeds", "0..80", "--duration", "40s", "--heal", "25s", "--bug", "etcd-6570"]);
    let (stdout, stderr) = text(&output);
    assert_eq!(output.status.code(), Some(1), "{stdout}{stderr}");
    let replay = replay_command_in(&stdout);
    let property = stdout
        .lines()
        .find_map(|l| l.strip_prefix("seed ").and_then(|rest| rest.split(": ").nth(1)))
        .and_then(|rest| rest.split(' ').next())
        .unwrap_or_else(|| panic!("no failing seed line in:\n{stdout}"))
        .to_owned();
    let args: Vec<&str> = replay.split_whitespace().collect();
    assert!(args.contains(&"etcd-6570"), "{replay}");
    let replayed = leasesim(&args);
    let (replay_out, replay_err) = text(&replayed);
    assert_eq!(replayed.status.code(), Some(1), "{replay_out}{replay_err}");
    assert!(replay_out.contains(&format!("VIOLATION of {property}")), "expected {property} in:\n{replay_out}");
}

/// etcd-15247 under its zoo scenario (an apply lag, disk stalls, checkpointing off): a sweep
/// finds it, and its printed replay command (which carries the new options) reproduces it.
#[test]
fn a_sweep_with_etcd_15247_and_disk_stalls_fails_and_its_replay_command_reproduces_it() {
    let options = ["--apply-lag-max", "1s", "--disk-stalls", "on", "--checkpointing", "off", "--bug", "etcd-15247"];
    let output =
        leasesim(&[&["sweep", "--seeds", "0..8", "--duration", "40s", "--heal", "25s"], &options[..]].concat());
    let (stdout, stderr) = text(&output);
    assert_eq!(output.status.code(), Some(1), "{stdout}{stderr}");
    let replay = replay_command_in(&stdout);
    assert!(replay.contains("--apply-lag-max 1000ms") && replay.contains("--disk-stalls on"), "{replay}");
    let args: Vec<&str> = replay.split_whitespace().collect();
    let replayed = leasesim(&args);
    let (replay_out, replay_err) = text(&replayed);
    assert_eq!(replayed.status.code(), Some(1), "{replay_out}{replay_err}");
    assert!(replay_out.contains("VIOLATION of no_early_revoke"), "{replay_out}");
    assert!(replay_out.contains("disk_stalls=true"), "the resolved options say so:\n{replay_out}");
}

#[test]
fn a_lock_sweep_finds_two_holders_its_replay_reproduces_them_and_fencing_prevents_them() {
    let output =
        leasesim(&["sweep", "--seeds", "0..30", "--jobs", "2", "--duration", "40s", "--heal", "20s", "--locks"]);
    let (stdout, stderr) = text(&output);
    assert_eq!(output.status.code(), Some(1), "{stdout}{stderr}");
    let replay = replay_command_in(&stdout);
    let args: Vec<&str> = replay.split_whitespace().collect();
    assert_eq!(args.last(), Some(&"--locks"), "{replay}");
    let replayed = leasesim(&args);
    let (replay_out, replay_err) = text(&replayed);
    assert_eq!(replayed.status.code(), Some(1), "{replay_out}{replay_err}");
    assert!(replay_out.contains("VIOLATION of lock_exclusive"), "{replay_out}");
    assert!(replay_out.contains("two lock holders"), "{replay_out}");
    let fenced = leasesim(&[&args[..], &["--fencing"]].concat());
    let (fenced_out, fenced_err) = text(&fenced);
    assert_eq!(fenced.status.code(), Some(0), "{fenced_out}{fenced_err}");
    assert!(fenced_out.contains("verdict:             ok"), "{fenced_out}");
    let fenced_writes = fenced_out
        .lines()
        .find_map(|l| l.strip_prefix("locks:"))
        .and_then(|l| l.split(" fenced ").nth(1))
        .and_then(|l| l.split(' ').next())
        .and_then(|n| n.parse::<u64>().ok())
        .unwrap_or_else(|| panic!("no fenced count in:\n{fenced_out}"));
    assert!(fenced_writes > 0, "the storage fenced nothing:\n{fenced_out}");
}

#[test]
fn fencing_without_locks_is_a_clear_error() {
    let output = leasesim(&["sim", "--seed", "1", "--fencing"]);
    let (stdout, stderr) = text(&output);
    assert_eq!(output.status.code(), Some(2), "{stdout}{stderr}");
    assert!(stderr.contains("--fencing needs --locks"), "{stderr}");
}

#[test]
fn sim_minimize_of_a_passing_seed_says_so_and_out_needs_minimize() {
    let output = leasesim(&[&["sim", "--seed", "3", "--minimize", "--out", "/nonexistent-dir"], &SHORT[..]].concat());
    let (stdout, stderr) = text(&output);
    assert_eq!(output.status.code(), Some(0), "{stdout}{stderr}");
    assert!(stdout.contains("nothing to minimize"), "{stdout}");
    let output = leasesim(&["sim", "--seed", "3", "--out", "x"]);
    let (stdout, stderr) = text(&output);
    assert_eq!(output.status.code(), Some(2), "{stdout}{stderr}");
    assert!(stderr.contains("--minimize"), "{stderr}");
}

#[test]
fn a_closed_stdout_ends_the_run_without_a_panic() {
    use std::io::Read;
    use std::process::Stdio;
    // A sweep prints one line per seed; the reader takes one line and closes the pipe, as `head -1`.
    let mut child = Command::new(env!("CARGO_BIN_EXE_leasesim"))
        .args(["sweep", "--seeds", "0..40", "--jobs", "1", "--duration", "10s", "--heal", "20s"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the leasesim binary runs");
    let mut stdout = child.stdout.take().expect("piped");
    let mut first = [0u8; 1];
    stdout.read_exact(&mut first).expect("the sweep prints something");
    drop(stdout);
    let output = child.wait_with_output().expect("the sweep ends");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("panicked"), "a closed stdout made leasesim panic:\n{stderr}");
    assert!(!stderr.contains("Broken pipe"), "{stderr}");
}
