//! The scenario files shipped in tests/traces/: every `*.trace` replays to exactly its `*.out`.
//! A trace whose header says `# bug: etcd-NNNN` is replayed with that bug switched on (its `.out`
//! ends with the `violation …` line the CLI prints) and must replay clean without it. Every clean
//! replay must also match the reference model, so a `.out` cannot drift from SPEC unnoticed.
//!
//! Owns the file conventions; the CLI's own printing is tested in tests/cli/replay.rs.

use std::path::{Path, PathBuf};

use leasesim::bugs::{Bug, Bugs};
use leasesim::oracle::reference::Reference;
use leasesim::trace::{parse_trace, replay_trace};

fn shipped_traces() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/traces");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "trace"))
        .collect();
    files.sort();
    files
}

/// The bug a trace's header names (`# bug: etcd-6570`), if any.
fn bug_of(text: &str) -> Option<Bug> {
    let name = text.lines().find_map(|line| line.strip_prefix("# bug:"))?.trim();
    Some(name.parse().unwrap_or_else(|e| panic!("bad bug header: {e}")))
}

/// What `leasesim replay` prints on stdout: the replies, then the violation if one stopped it.
fn printed(text: &str, bugs: Bugs) -> (String, Option<&'static str>) {
    let outcome = replay_trace(text, bugs).unwrap_or_else(|e| panic!("does not replay: {e}"));
    let mut out: String = outcome.replies.iter().map(|reply| format!("{reply}\n")).collect();
    if let Some((_, violation)) = &outcome.violation {
        out += &format!("violation {violation}\n");
    }
    (out, outcome.violation.map(|(_, v)| v.property))
}

fn reference_replies(text: &str) -> String {
    let (config, commands) = parse_trace(text).expect("parses");
    let mut reference = Reference::new(config);
    commands.iter().map(|(_, c)| format!("{}\n", reference.execute(c).expect("no step misuse"))).collect()
}

#[test]
fn every_shipped_trace_replays_to_its_expected_output() {
    let files = shipped_traces();
    assert!(files.len() >= 10, "only {} shipped traces", files.len());
    let mut bugs_shown = Vec::new();
    for file in &files {
        let name = file.display();
        let text = std::fs::read_to_string(file).expect("readable trace");
        let expected = std::fs::read_to_string(file.with_extension("out"))
            .unwrap_or_else(|e| panic!("{name} has no readable .out next to it: {e}"));
        match bug_of(&text) {
            None => {
                let (out, violation) = printed(&text, Bugs::NONE);
                assert_eq!(out, expected, "{name}: the replay differs from its .out");
                assert_eq!(violation, None, "{name}");
                assert_eq!(out, reference_replies(&text), "{name}: the reference model disagrees");
            }
            Some(bug) => {
                let (out, violation) = printed(&text, Bugs::only(bug));
                assert_eq!(out, expected, "{name}: the replay with {bug} differs from its .out");
                assert_eq!(violation, Some(bug.breaks()), "{name}: {bug} must break {}", bug.breaks());
                let (clean, violation) = printed(&text, Bugs::NONE);
                assert_eq!(violation, None, "{name}: fails without {bug} too");
                assert_eq!(clean, reference_replies(&text), "{name}: without the bug, the reference disagrees");
                bugs_shown.push(bug);
            }
        }
    }
    bugs_shown.sort();
    // These need a cluster (a second leader change, a leader that applies late, a stalled old
    // leader next to a new one): the simulator and the cluster model show them, not one member.
    let cluster_only = [Bug::Etcd13491, Bug::Etcd13675, Bug::Etcd15247];
    let single_member: Vec<Bug> = Bug::ALL.into_iter().filter(|b| !cluster_only.contains(b)).collect();
    assert_eq!(bugs_shown, single_member, "one shipped trace per bug switch a single member can show");
}

#[test]
fn every_expected_output_has_its_trace() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/traces");
    for entry in std::fs::read_dir(&dir).expect("tests/traces exists") {
        let path = entry.expect("a directory entry").path();
        if path.extension().is_some_and(|ext| ext == "out") {
            assert!(path.with_extension("trace").exists(), "{} has no .trace", path.display());
        }
    }
}

#[test]
fn step_misuse_stops_the_replay_with_the_line_and_the_reason() {
    let cases = [
        ("grant 1 10\nrenew-end 1", "line 2: no renew of lease 1 is in progress"),
        ("grant 1 10\nrevoke-step 1", "line 2: no revoke of lease 1 is in progress"),
        ("grant 1 10\nrevoke-begin 1\nrevoke-begin 1", "line 3: a revoke of lease 1 is already in progress"),
        ("grant 1 10\nrenew-begin 1\nrenew-checkpoint 1", "line 3: the renew of lease 1 needs no checkpoint"),
        (
            "config checkpoint=on checkpoint_interval=2s\ngrant 1 10\nadvance 2s\nrenew-begin 1\nrenew-end 1",
            "line 5: the renew of lease 1 needs its checkpoint first (renew-checkpoint 1)",
        ),
    ];
    for (text, message) in cases {
        let error = replay_trace(text, Bugs::NONE).expect_err(text);
        assert_eq!(error.to_string(), message, "{text}");
    }
}
