//! `leasesim zoo` end to end, at the `small` budget, one row per test (so the rows run in
//! parallel): each bug is found by every engine the expectation table says can express it and by
//! no other, the correct build by none; `zoo.json` parses and says what the printed matrix says;
//! `--readme` rewrites exactly the generated block; the README's block has every row; bad input is
//! exit 2.

use std::path::Path;
use std::process::{Command, Output};

use leasesim::bugs::Bug;
use leasesim_models::zoo::{Engine, Expect, Row, expectation};
use serde_json::Value;

use crate::scratch::ScratchDir;

fn leasesim(args: &[&str], dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_leasesim")).args(args).current_dir(dir).output().expect("run leasesim")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A fresh empty directory for one test's files (deleted when the guard drops).
fn scratch_dir(name: &str) -> ScratchDir {
    ScratchDir::new(&format!("zoo-{name}"))
}

const README_WITH_BLOCK: &str = "# title\n\nbefore\n<!-- zoo:begin -->\nold text\n<!-- zoo:end -->\nafter\n";

/// Runs the zoo on one row at the small budget (with a README to rewrite) and checks the row's
/// cells against the expectation table, the JSON against the printed matrix, and the README.
#[track_caller]
fn row_is_as_expected(row: Row) {
    let dir = scratch_dir(row.name());
    std::fs::write(dir.join("README.md"), README_WITH_BLOCK).expect("write README");
    let args =
        ["zoo", "--budget", "small", "--bug", row.name(), "--out", "out", "--jobs", "1", "--readme", "README.md"];
    let out = leasesim(&args, &dir);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "stdout:\n{stdout}\nstderr:\n{}", text(&out.stderr));
    assert!(stdout.contains("budget `small`"), "the budget is stated:\n{stdout}");

    let json: Value = serde_json::from_str(&std::fs::read_to_string(dir.join("out/zoo.json")).expect("zoo.json"))
        .expect("zoo.json parses");
    assert_eq!(json["ok"], true, "{json:#}");
    assert_eq!(json["budget"]["name"], "small");
    let rows = json["rows"].as_array().expect("rows");
    assert_eq!(rows.len(), 1, "{json:#}");
    assert_eq!(rows[0]["row"], row.name());
    let cells = rows[0]["cells"].as_array().expect("cells");
    assert_eq!(cells.len(), Engine::ALL.len());
    // The printed row: its name, then each cell's text in engine order.
    let line = stdout.lines().find(|l| l.starts_with(&format!("{} ", row.name()))).expect("the row is printed");
    let mut rest = line;
    for (engine, cell) in Engine::ALL.into_iter().zip(cells) {
        assert_eq!(cell["engine"], engine.name());
        let status = cell["status"].as_str().expect("status");
        let violations: Vec<&str> =
            cell["violations"].as_array().expect("violations").iter().map(|v| v.as_str().unwrap()).collect();
        match expectation(row, engine) {
            Expect::Finds => {
                assert_eq!(status, "found", "{row} × {engine}: {cell:#}");
                assert_eq!(violations, [row.property().unwrap()], "{row} × {engine}");
                assert!(cell["effort"].as_u64().unwrap() >= 1);
                if engine != Engine::Sim {
                    let (before, after) = (cell["cex_before"].as_u64().unwrap(), cell["cex_after"].as_u64().unwrap());
                    assert!(1 <= after && after <= before, "{row} × {engine}: {before} → {after}");
                }
                if engine == Engine::Sim {
                    // The minimized run's event trace and its picture, written beside the matrix.
                    let stem = dir.join(format!("out/cex/{}-sim", row.name()));
                    let jsonl = std::fs::read_to_string(stem.with_extension("jsonl")).expect("the event trace");
                    assert!(jsonl.lines().count() > 1, "{row}: an empty event trace");
                    let svg = std::fs::read_to_string(stem.with_extension("svg")).expect("the sequence diagram");
                    assert!(
                        svg.contains("<svg") && svg.contains("<line") && svg.trim_end().ends_with("</svg>"),
                        "{row}: not a picture"
                    );
                    assert!(svg.contains(row.property().unwrap()), "{row}: the violation is not marked in the picture");
                }
                if matches!(engine, Engine::Proptest | Engine::LessorModel) {
                    assert_eq!(cell["replays"], true, "{row} × {engine}: the counterexample replays");
                    let file = dir.join(format!("out/cex/{}-{}.trace", row.name(), engine.name()));
                    let replay = leasesim(&["replay", "--bug", row.name(), file.to_str().unwrap()], &dir);
                    let replayed = text(&replay.stdout);
                    assert_eq!(replay.status.code(), Some(1), "{row} × {engine}: {replayed}");
                    assert!(replayed.contains(&format!("violation {}", row.property().unwrap())), "{replayed}");
                }
            }
            Expect::Open(_) => {
                // A known gap: either outcome, but a finding must be of the row's own property.
                assert!(status == "open" || status == "found", "{row} × {engine}: {cell:#}");
                assert!(violations.iter().all(|v| Some(*v) == row.property()), "{row} × {engine}: {cell:#}");
            }
            Expect::Cannot(_) | Expect::Nothing => {
                assert_eq!(status, "clean", "{row} × {engine}: {cell:#}");
                assert!(violations.is_empty(), "{row} × {engine}: {cell:#}");
            }
        }
        let cell_text = cell["text"].as_str().expect("text");
        let at = rest.find(cell_text).unwrap_or_else(|| panic!("{cell_text:?} not printed in order in {line:?}"));
        rest = &rest[at + cell_text.len()..];
    }

    let readme = std::fs::read_to_string(dir.join("README.md")).expect("README");
    let markdown = std::fs::read_to_string(dir.join("out/zoo.md")).expect("zoo.md");
    assert_eq!(
        readme,
        format!("# title\n\nbefore\n<!-- zoo:begin -->\n{}\n<!-- zoo:end -->\nafter\n", markdown.trim_end())
    );
    assert!(markdown.contains(&format!("| `{}` |", row.name())), "{markdown}");
}

#[test]
fn zoo_finds_etcd_6570_where_expected() {
    row_is_as_expected(Row::Bug(Bug::Etcd6570));
}

#[test]
fn zoo_finds_etcd_10693_where_expected() {
    row_is_as_expected(Row::Bug(Bug::Etcd10693));
}

#[test]
fn zoo_finds_etcd_11731_where_expected() {
    row_is_as_expected(Row::Bug(Bug::Etcd11731));
}

#[test]
fn zoo_finds_etcd_20590_where_expected() {
    row_is_as_expected(Row::Bug(Bug::Etcd20590));
}

#[test]
fn zoo_finds_etcd_6098_where_expected() {
    row_is_as_expected(Row::Bug(Bug::Etcd6098));
}

#[test]
fn zoo_finds_etcd_9888_where_expected() {
    row_is_as_expected(Row::Bug(Bug::Etcd9888));
}

#[test]
fn zoo_finds_etcd_13491_where_expected() {
    row_is_as_expected(Row::Bug(Bug::Etcd13491));
}

#[test]
fn zoo_finds_etcd_13675_where_expected() {
    row_is_as_expected(Row::Bug(Bug::Etcd13675));
}

#[test]
fn zoo_finds_etcd_15247_where_expected() {
    row_is_as_expected(Row::Bug(Bug::Etcd15247));
}

#[test]
fn zoo_finds_nothing_in_the_correct_build() {
    row_is_as_expected(Row::Correct);
}

#[test]
fn every_bug_has_a_test_row_here_and_an_engine_that_finds_it() {
    let source = include_str!("zoo.rs");
    for bug in Bug::ALL {
        let test = format!("row_is_as_expected(Row::Bug(Bug::{bug:?}));");
        assert!(source.contains(&test), "no test runs the zoo's {bug} row");
        let found_by_some = Engine::ALL.iter().any(|&e| expectation(Row::Bug(bug), e) == Expect::Finds);
        let known_gap = Engine::ALL.iter().any(|&e| matches!(expectation(Row::Bug(bug), e), Expect::Open(_)));
        assert!(found_by_some || known_gap, "{bug}: no engine finds it and no gap is declared");
    }
}

#[test]
fn the_readme_block_is_generated_and_has_every_row() {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md")).expect("README");
    let begin = readme.find("<!-- zoo:begin -->").expect("README has the zoo:begin marker");
    let end = readme.find("<!-- zoo:end -->").expect("README has the zoo:end marker");
    assert!(begin < end && readme.matches("<!-- zoo:begin -->").count() == 1, "one well-formed block");
    let block = &readme[begin..end];
    assert!(block.contains("budget `default`"), "the README matrix is the default budget's:\n{block}");
    let header = format!("| bug | property | {} |", Engine::ALL.map(Engine::name).join(" | "));
    assert!(block.contains(&header), "no table header {header:?} in:\n{block}");
    for row in Row::all() {
        let line = block
            .lines()
            .find(|l| l.starts_with(&format!("| `{}` |", row.name())))
            .unwrap_or_else(|| panic!("the README matrix has no row {row}:\n{block}"));
        assert_eq!(line.matches(" | ").count(), Engine::ALL.len() + 1, "{line}");
        assert!(!line.contains('✘'), "the README matrix has a failing cell: {line}");
    }
    assert!(block.contains("Verdict: every cell as expected"), "{block}");
}

#[test]
fn zoo_rejects_bad_input_with_exit_2() {
    let dir = scratch_dir("bad");
    std::fs::write(dir.join("plain.md"), "no markers here\n").expect("write");
    for (args, expected) in [
        (vec!["zoo", "--bug", "etcd-1"], "unknown bug `etcd-1`"),
        (vec!["zoo", "--budget", "huge"], "unknown budget `huge`"),
        (vec!["zoo", "--jobs", "0"], "--jobs"),
        (vec!["zoo", "--bug", "correct", "--readme", "plain.md"], "no `<!-- zoo:begin -->` marker"),
        (vec!["zoo", "--bug", "correct", "--readme", "missing.md"], "cannot read missing.md"),
    ] {
        let out = leasesim(&args, &dir);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
    }
}
