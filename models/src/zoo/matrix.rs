//! The zoo's matrix: each cell's outcome judged against the expectation table, and the renderings
//! — the terminal table, Markdown (`zoo.md`, the README block) and JSON (`zoo.json`). Every
//! rendering is built from the same cell texts, so they cannot disagree.
//!
//! Owns the judgement (found, missed, clean, false alarm) and the text; runs nothing.

use std::fmt::Write as _;

use serde_json::{Value, json};

use super::{Budget, Engine, Expect, Outcome, Row, expectation};

/// One cell's result, as run and timed by the caller.
#[derive(Clone, Debug)]
pub struct CellResult {
    pub row: Row,
    pub engine: Engine,
    pub outcome: Result<Outcome, String>,
    pub wall_s: f64,
}

/// A cell's verdict.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// Expected, and found: a violation of the row's property and no other.
    Found,
    /// Expected, not found within the budget.
    Missed,
    /// Not expected (or the correct build), nothing found.
    Clean,
    /// A violation of another property than the row's (any, for the correct build).
    FalseAlarm,
    /// Found, although the expectation table says the engine cannot express the bug.
    Unexpected,
    /// Found, but the minimized counterexample does not replay to the same violation.
    NoReplay,
    /// A known gap: the engine could express the bug but does not find it yet (see the
    /// expectation table's reason). Reported, not a failure.
    Open,
    /// The engine failed to run.
    Error,
}

impl Status {
    pub fn name(self) -> &'static str {
        match self {
            Status::Found => "found",
            Status::Missed => "MISSED",
            Status::Clean => "clean",
            Status::FalseAlarm => "FALSE ALARM",
            Status::Unexpected => "UNEXPECTED",
            Status::NoReplay => "NO REPLAY",
            Status::Open => "open",
            Status::Error => "ERROR",
        }
    }

    /// Whether the cell is as the expectation table says.
    pub fn ok(self) -> bool {
        matches!(self, Status::Found | Status::Clean | Status::Open)
    }
}

impl CellResult {
    pub fn expect(&self) -> Expect {
        expectation(self.row, self.engine)
    }

    pub fn status(&self) -> Status {
        let Ok(outcome) = &self.outcome else { return Status::Error };
        if outcome.violations.iter().any(|v| Some(v.as_str()) != self.row.property()) {
            return Status::FalseAlarm;
        }
        match (outcome.violations.is_empty(), self.expect()) {
            (true, Expect::Finds) => Status::Missed,
            (true, Expect::Open(_)) => Status::Open,
            (true, _) => Status::Clean,
            (false, _) if outcome.replays == Some(false) => Status::NoReplay,
            (false, Expect::Finds | Expect::Open(_)) => Status::Found,
            (false, _) => Status::Unexpected,
        }
    }

    /// The cell as one short text: status, effort, wall time, counterexample length.
    pub fn text(&self) -> String {
        let outcome = match &self.outcome {
            Ok(outcome) => outcome,
            Err(e) => return format!("ERROR: {e}"),
        };
        let status = self.status();
        let effort = format!("{} {}", outcome.effort, self.engine.effort_unit());
        let mark = match status {
            Status::Found => "✔".to_owned(),
            Status::Clean if matches!(self.expect(), Expect::Cannot(_)) => "— n/e".to_owned(),
            Status::Clean => "✔ none".to_owned(),
            Status::Open => "— open".to_owned(),
            other => format!("✘ {}", other.name()),
        };
        let length = |n: Option<usize>| n.map_or("n/a".to_owned(), |n| n.to_string());
        if outcome.violations.is_empty() {
            format!("{mark}, {effort}, {:.1} s", self.wall_s)
        } else {
            let cex = format!("{} → {}", length(outcome.before), length(outcome.after));
            format!("{mark} {effort}, {:.1} s, {cex}", self.wall_s)
        }
    }

    fn json(&self) -> Value {
        let (reason, expected) = match self.expect() {
            Expect::Finds => (None, true),
            Expect::Cannot(why) | Expect::Open(why) => (Some(why), false),
            Expect::Nothing => (None, false),
        };
        let mut cell = json!({
            "engine": self.engine.name(),
            "expected": expected,
            "cannot_because": reason,
            "status": self.status().name(),
            "ok": self.status().ok(),
            "wall_s": (self.wall_s * 100.0).round() / 100.0,
            "text": self.text(),
        });
        match &self.outcome {
            Err(e) => cell["error"] = json!(e),
            Ok(o) => {
                cell["violations"] = json!(o.violations);
                cell["effort"] = json!(o.effort);
                cell["effort_unit"] = json!(self.engine.effort_unit());
                cell["cex_before"] = json!(o.before);
                cell["cex_after"] = json!(o.after);
                cell["cex_unit"] = json!(self.engine.length_unit());
                cell["replays"] = json!(o.replays);
                cell["detail"] = json!(o.detail);
                cell["ignored"] = json!(o.ignored);
            }
        }
        cell
    }
}

/// Every cell of a run, rows in order, engines in `Engine::ALL` order within a row.
#[derive(Clone, Debug)]
pub struct Matrix {
    pub budget: Budget,
    pub rows: Vec<Row>,
    pub cells: Vec<CellResult>,
}

impl Matrix {
    pub fn ok(&self) -> bool {
        self.cells.iter().all(|c| c.status().ok())
    }

    pub fn cell(&self, row: Row, engine: Engine) -> Option<&CellResult> {
        self.cells.iter().find(|c| c.row == row && c.engine == engine)
    }

    fn row_cells(&self, row: Row) -> impl Iterator<Item = Option<&CellResult>> {
        Engine::ALL.into_iter().map(move |engine| self.cell(row, engine))
    }

    /// The matrix as a fixed-width table for the terminal.
    pub fn table(&self) -> String {
        let width = 34;
        let mut out = format!("{:<12} {:<27}", "row", "property");
        for engine in Engine::ALL {
            let _ = write!(out, " {:<width$}", engine.name());
        }
        out.push('\n');
        for &row in &self.rows {
            let _ = write!(out, "{:<12} {:<27}", row.name(), row.property().unwrap_or("(none may fail)"));
            for cell in self.row_cells(row) {
                let _ = write!(out, " {:<width$}", cell.map_or("-".to_owned(), CellResult::text));
            }
            out.push('\n');
        }
        out
    }

    /// The legend and the reasons of the engines that cannot express a bug, numbered.
    fn notes(&self) -> Vec<String> {
        let mut notes = Vec::new();
        for &row in &self.rows {
            for cell in self.row_cells(row).flatten() {
                match cell.expect() {
                    Expect::Cannot(why) => {
                        notes.push(format!("{} × {}: not expected — {why}", row.name(), cell.engine.name()))
                    }
                    Expect::Open(why) => {
                        notes.push(format!("{} × {}: open (a known gap) — {why}", row.name(), cell.engine.name()))
                    }
                    Expect::Finds | Expect::Nothing => {}
                }
            }
        }
        notes
    }

    /// The matrix as Markdown: the budget, the table, the legend and the notes.
    pub fn markdown(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "{}.", self.budget.describe());
        out.push('\n');
        out.push_str("| bug | property |");
        for engine in Engine::ALL {
            let _ = write!(out, " {} |", engine.name());
        }
        out.push_str("\n|---|---|");
        out.push_str(&"---|".repeat(Engine::ALL.len()));
        out.push('\n');
        for &row in &self.rows {
            let _ = write!(out, "| `{}` | `{}` |", row.name(), row.property().unwrap_or("none may fail"));
            for cell in self.row_cells(row) {
                let _ = write!(out, " {} |", cell.map_or("-".to_owned(), CellResult::text));
            }
            out.push('\n');
        }
        out.push('\n');
        out.push_str(
            "Each cell: ✔ found (a violation of the row's property and no other), the effort until the first \
             finding (proptest cases, model states generated, simulation seeds), wall time, and the \
             counterexample's length before → after minimization (proptest: commands, shrunk; models: actions, \
             shortest by BFS; simulation: schedule items, `sim::minimize`); `— n/e` not expected and nothing \
             found; `— open` a known gap, nothing found yet; `✔ none` the correct build found nothing; ✘ a \
             cell that is not as expected.\n",
        );
        for note in self.notes() {
            let _ = writeln!(out, "- {note}");
        }
        let ignored: Vec<String> = self
            .cells
            .iter()
            .filter_map(|c| c.outcome.as_ref().ok())
            .flat_map(|o| o.ignored.iter().cloned())
            .collect::<std::collections::BTreeSet<String>>()
            .into_iter()
            .collect();
        for note in ignored {
            let _ = writeln!(out, "- not counted anywhere: {note}");
        }
        let _ = writeln!(out, "\nVerdict: {}", if self.ok() { "every cell as expected" } else { "NOT as expected" });
        out
    }

    /// The matrix as JSON.
    pub fn json(&self) -> Value {
        let rows: Vec<Value> = self
            .rows
            .iter()
            .map(|&row| {
                let cells: Vec<Value> = self.row_cells(row).flatten().map(CellResult::json).collect();
                json!({
                    "row": row.name(),
                    "property": row.property(),
                    "mechanism": row.mechanism(),
                    "cells": cells,
                })
            })
            .collect();
        json!({
            "budget": {
                "name": self.budget.name,
                "proptest_cases": self.budget.proptest_cases,
                "model_states": self.budget.model_states,
                "sim_seeds": self.budget.sim_seeds,
                "description": self.budget.describe(),
            },
            "engines": Engine::ALL.iter().map(|e| e.name()).collect::<Vec<_>>(),
            "rows": rows,
            "ok": self.ok(),
        })
    }
}

/// The README markers around the generated block.
pub const README_BEGIN: &str = "<!-- zoo:begin -->";
pub const README_END: &str = "<!-- zoo:end -->";

/// `readme` with the text between the markers replaced by `block` (the markers kept); an error if
/// the markers are missing, repeated or out of order.
pub fn replace_readme_block(readme: &str, block: &str) -> Result<String, String> {
    let begin = readme.find(README_BEGIN).ok_or_else(|| format!("no `{README_BEGIN}` marker"))?;
    let end = readme.find(README_END).ok_or_else(|| format!("no `{README_END}` marker"))?;
    if readme.matches(README_BEGIN).count() != 1 || readme.matches(README_END).count() != 1 {
        return Err(format!("the markers `{README_BEGIN}` and `{README_END}` must each appear once"));
    }
    if end < begin {
        return Err(format!("`{README_END}` comes before `{README_BEGIN}`"));
    }
    let head = &readme[..begin + README_BEGIN.len()];
    let tail = &readme[end..];
    Ok(format!("{head}\n{}\n{tail}", block.trim_end()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_readme_block_is_replaced_between_its_markers_only() {
        let readme = "a\n<!-- zoo:begin -->\nold\n<!-- zoo:end -->\nb\n";
        assert_eq!(replace_readme_block(readme, "new\n").unwrap(), "a\n<!-- zoo:begin -->\nnew\n<!-- zoo:end -->\nb\n");
        assert!(replace_readme_block("a\n", "x").unwrap_err().contains("no `<!-- zoo:begin -->`"));
        let reversed = "<!-- zoo:end -->\n<!-- zoo:begin -->\n";
        assert!(replace_readme_block(reversed, "x").unwrap_err().contains("comes before"));
        let twice = "<!-- zoo:begin -->\n<!-- zoo:end -->\n<!-- zoo:begin -->\n";
        assert!(replace_readme_block(twice, "x").unwrap_err().contains("once"));
    }

    #[test]
    fn a_violation_of_another_property_is_a_false_alarm() {
        let row = Row::Bug(leasesim::bugs::Bug::Etcd6570);
        let cell = |violations: Vec<&str>| CellResult {
            row,
            engine: Engine::Proptest,
            outcome: Ok(Outcome {
                violations: violations.into_iter().map(str::to_owned).collect(),
                ..Outcome::default()
            }),
            wall_s: 0.0,
        };
        assert_eq!(cell(vec![leasesim::oracle::RENEW_NEVER_RESURRECTS]).status(), Status::Found);
        assert_eq!(cell(vec![]).status(), Status::Missed);
        assert_eq!(cell(vec![leasesim::oracle::NO_EARLY_REVOKE]).status(), Status::FalseAlarm);
        let both = vec![leasesim::oracle::RENEW_NEVER_RESURRECTS, leasesim::oracle::NO_EARLY_REVOKE];
        assert_eq!(cell(both).status(), Status::FalseAlarm);
        let correct = CellResult { row: Row::Correct, ..cell(vec![leasesim::oracle::RENEW_NEVER_RESURRECTS]) };
        assert_eq!(correct.status(), Status::FalseAlarm);
        assert_eq!(CellResult { row: Row::Correct, ..cell(vec![]) }.status(), Status::Clean);
    }
}
