//! `leasesim replay` as a process: a shipped trace prints its `.out` and exits 0; a bug trace with
//! `--bug` prints the violation and exits 1; bad input (unknown command, bad number, missing
//! argument, unknown config key, a missing file, an unknown bug) is one clear line on stderr and a
//! non-zero exit, never a panic.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::scratch::ScratchDir;

fn traces_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/traces")
}

fn replay(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_leasesim")).arg("replay").args(args).output().expect("run leasesim replay")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A trace file with `content` in a scratch directory of its own (deleted when the guard drops).
fn scratch_trace(name: &str, content: &str) -> (ScratchDir, PathBuf) {
    let dir = ScratchDir::new(&format!("replay-{name}"));
    let path = dir.write(&format!("{name}.trace"), content);
    (dir, path)
}

#[test]
fn a_shipped_trace_prints_its_expected_output_and_exits_0() {
    let trace = traces_dir().join("revoke.trace");
    let out = replay(&[trace.to_str().expect("utf-8 path")]);
    let expected = std::fs::read_to_string(trace.with_extension("out")).expect("revoke.out");
    assert_eq!(text(&out.stdout), expected);
    assert_eq!(out.status.code(), Some(0), "stderr: {}", text(&out.stderr));
    assert!(out.stderr.is_empty(), "stderr: {}", text(&out.stderr));
}

#[test]
fn a_bug_trace_with_its_bug_prints_the_violation_and_exits_1() {
    let trace = traces_dir().join("bug-etcd-20590.trace");
    let path = trace.to_str().expect("utf-8 path");
    let out = replay(&[path, "--bug", "etcd-20590"]);
    let stdout = text(&out.stdout);
    let expected = std::fs::read_to_string(trace.with_extension("out")).expect("bug-etcd-20590.out");
    assert_eq!(stdout, expected);
    assert!(stdout.lines().last().is_some_and(|l| l.starts_with("violation renew_never_resurrects: ")), "{stdout}");
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("line 7: property renew_never_resurrects violated (bugs: etcd-20590)"), "{stderr}");

    // Without the bug the same file replays clean.
    let out = replay(&[path]);
    assert_eq!(out.status.code(), Some(0), "stderr: {}", text(&out.stderr));
    assert!(text(&out.stdout).ends_with("err LeaseNotFound\n"), "{}", text(&out.stdout));
}

/// Runs `args` and demands a failure with exactly one `error: …` line containing `message`.
#[track_caller]
fn fails_cleanly(args: &[&str], message: &str) {
    let out = replay(args);
    let stderr = text(&out.stderr);
    assert!(!out.status.success(), "{args:?} succeeded:\n{}", text(&out.stdout));
    assert_ne!(out.status.code(), Some(101), "{args:?} panicked:\n{stderr}");
    assert!(!stderr.contains("panicked"), "{args:?} panicked:\n{stderr}");
    assert!(stderr.contains(message), "{args:?}: stderr lacks {message:?}:\n{stderr}");
}

#[test]
fn bad_trace_lines_name_the_line_and_what_is_wrong() {
    let cases = [
        ("unknown-command", "grant 1 10\nfrobnicate 1\n", "error: line 2: unknown command `frobnicate`"),
        ("bad-number", "grant one 10\n", "error: line 1: `one` is not a lease ID"),
        ("bad-ttl", "grant 1 ten\n", "error: line 1: `ten` is not a valid TTL"),
        ("bad-duration", "advance 5\n", "error: line 1: duration `5` needs a unit"),
        (
            "missing-argument",
            "# c\n\nput k\n",
            "error: line 3: `put` is missing arguments; usage: put <key> <value> [<lease id>]",
        ),
        ("unknown-config-key", "config ttl=3\ngrant 1 10\n", "error: line 1: unknown config key `ttl`"),
        ("late-config", "grant 1 10\nconfig min_ttl=3\n", "error: line 2: `config` must come before every command"),
        ("step-misuse", "grant 1 10\nrenew-end 1\n", "error: line 2: no renew of lease 1 is in progress"),
        ("bad-count", "lose-revokes -1\n", "error: line 1: `-1` is not a count"),
        ("bad-config-value", "config revoke_rate=1\n", "error: line 1: revoke_rate `1` must be a whole number ≥ 2"),
        ("extra-argument", "renew 1 2\n", "error: line 1: `renew` has too many arguments; usage: renew <id>"),
    ];
    for (name, content, message) in cases {
        let (_dir, path) = scratch_trace(name, content);
        fails_cleanly(&[path.to_str().expect("utf-8 path")], message);
    }
}

#[test]
fn a_missing_file_and_an_unknown_bug_are_clear_errors() {
    fails_cleanly(
        &["/nonexistent/leasesim/none.trace"],
        "error: cannot read trace file /nonexistent/leasesim/none.trace",
    );
    let trace = traces_dir().join("grant.trace");
    fails_cleanly(&[trace.to_str().expect("utf-8 path"), "--bug", "etcd-1"], "unknown bug `etcd-1`");
    fails_cleanly(&[], "FILE");
}
