//! `leasesim show` as a process: a traced run drawn to an SVG file, and bad input (missing file,
//! empty trace, malformed line with its number, an empty window, an unknown lease) as clear errors
//! with exit 2.

use std::path::Path;
use std::process::{Command, Output};

use crate::scratch::ScratchDir;

fn leasesim(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_leasesim")).args(args).output().expect("the leasesim binary runs")
}

fn text(output: &Output) -> (String, String) {
    (String::from_utf8_lossy(&output.stdout).into_owned(), String::from_utf8_lossy(&output.stderr).into_owned())
}

/// A fresh empty directory for one test's files (deleted when the guard drops).
fn temp_dir(name: &str) -> ScratchDir {
    ScratchDir::new(&format!("show-{name}"))
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn show_draws_a_traced_run_as_svg() {
    let dir = temp_dir("ok");
    let trace = dir.join("run.jsonl");
    let output = leasesim(&["sim", "--seed", "3", "--duration", "10s", "--heal", "20s", "--trace", path(&trace)]);
    assert_eq!(output.status.code(), Some(0), "{:?}", text(&output));
    // The default output sits next to the trace.
    let output = leasesim(&["show", path(&trace)]);
    let (stdout, stderr) = text(&output);
    assert_eq!(output.status.code(), Some(0), "{stdout}{stderr}");
    assert!(stdout.contains("leasesim seed 3: no violation; window ") && stdout.contains("wrote "), "{stdout}");
    let svg = std::fs::read_to_string(dir.join("run.svg")).expect("run.svg written");
    assert!(svg.starts_with("<?xml") && svg.trim_end().ends_with("</svg>"), "not a whole SVG document");
    assert!(svg.contains("class=\"lifeline member\" data-node=\"m3\""), "no lifeline for m3");
    // An explicit window and output file.
    let out = dir.join("window.svg");
    let output = leasesim(&["show", path(&trace), "-o", path(&out), "--from", "2000", "--to", "3000"]);
    assert_eq!(output.status.code(), Some(0), "{:?}", text(&output));
    assert!(text(&output).0.contains("window 2000..3000 ms (as asked)"), "{:?}", text(&output));
    assert!(std::fs::read_to_string(&out).unwrap().contains("data-from-ms=\"2000\""));
}

#[test]
fn bad_input_is_a_clear_error_with_exit_2() {
    let dir = temp_dir("bad");
    let empty = dir.join("empty.jsonl");
    std::fs::write(&empty, "").unwrap();
    let header_only = dir.join("header.jsonl");
    std::fs::write(&header_only, "{\"seed\":1,\"options\":\"--seed 1 --members 3\"}\n").unwrap();
    let malformed = dir.join("malformed.jsonl");
    std::fs::write(&malformed, "{\"seed\":1}\n{\"t_ms\":5,\"event\":\"tick m1\"}\n{\"t_ms\":6,\"event\"\n").unwrap();
    let good = dir.join("good.jsonl");
    std::fs::write(&good, "{\"t_ms\":5,\"event\":\"deliver m1->m2 MsgHeartbeat term=1 index=0 commit=0 entries=0\"}\n")
        .unwrap();
    let missing = dir.join("missing.jsonl");
    let cases: [(Vec<&str>, &str); 6] = [
        (vec!["show", path(&missing)], "cannot read trace file"),
        (vec!["show", path(&empty)], "the trace is empty"),
        (vec!["show", path(&header_only)], "has no events"),
        (vec!["show", path(&malformed)], "line 3: not JSON"),
        (vec!["show", path(&good), "--from", "10", "--to", "5"], "--from must be before --to"),
        (vec!["show", path(&good), "--lease", "-7"], "lease -7 does not occur"),
    ];
    for (args, expected) in cases {
        let output = leasesim(&args);
        let (stdout, stderr) = text(&output);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stdout}{stderr}");
        assert!(stderr.contains(expected), "{args:?}: expected `{expected}` in: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
    assert!(!dir.join("good.svg").exists(), "a failed show wrote a picture");
}
