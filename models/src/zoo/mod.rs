//! The bug zoo (`leasesim zoo`): every bug switch, and the correct build, run through every engine
//! under one stated budget, as a detection matrix — found or not, the effort until the first
//! finding (cases, states or seeds), the counterexample's length before and after minimization.
//!
//! The crate map of the zoo (no logic lives here):
//! - [`expect`]: which engines are expected to find which bug (and why the others cannot), and
//!   each engine's scenario (model bounds, simulation options);
//! - [`budget`]: the named budgets (`small`, `default`, `large`);
//! - [`engines`]: one cell: one row through one engine, deterministically;
//! - [`matrix`]: the cells' results judged against the expectations, rendered as a text table,
//!   Markdown, JSON and the README block.
//!
//! A finding counts only if it is a violation of the row's own property (`Bug::breaks()`); any
//! other violation, and any violation in the correct build, is a false alarm. It reads no clock:
//! the caller (the CLI) times the cells and runs them on threads.

pub mod budget;
pub mod engines;
pub mod expect;
pub mod matrix;

use std::fmt;

use leasesim::bugs::{Bug, Bugs};

pub use budget::Budget;
pub use engines::{Outcome, run_cell};
pub use expect::{Expect, expectation};
pub use matrix::{CellResult, Matrix};

/// One engine of the matrix.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Engine {
    /// Seeded proptest runs on the lessor (the replayer beside the reference model).
    Proptest,
    /// stateright BFS over the lessor model.
    LessorModel,
    /// stateright BFS over the cluster model.
    ClusterModel,
    /// A seed sweep of the deterministic simulation.
    Sim,
}

impl Engine {
    pub const ALL: [Engine; 4] = [Engine::Proptest, Engine::LessorModel, Engine::ClusterModel, Engine::Sim];

    pub fn name(self) -> &'static str {
        match self {
            Engine::Proptest => "proptest",
            Engine::LessorModel => "lessor-model",
            Engine::ClusterModel => "cluster-model",
            Engine::Sim => "sim",
        }
    }

    /// What the effort until the first finding is counted in.
    pub fn effort_unit(self) -> &'static str {
        match self {
            Engine::Proptest => "cases",
            Engine::LessorModel | Engine::ClusterModel => "states",
            Engine::Sim => "seeds",
        }
    }

    /// What a counterexample's length is counted in.
    pub fn length_unit(self) -> &'static str {
        match self {
            Engine::Proptest => "commands",
            Engine::LessorModel | Engine::ClusterModel => "actions",
            Engine::Sim => "schedule items",
        }
    }
}

impl std::str::FromStr for Engine {
    type Err = String;
    fn from_str(text: &str) -> Result<Engine, String> {
        Engine::ALL.into_iter().find(|e| e.name() == text).ok_or_else(|| {
            format!("unknown engine `{text}`; known engines: proptest, lessor-model, cluster-model, sim")
        })
    }
}

impl fmt::Display for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One row of the matrix: a bug switched on, or the correct build.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Row {
    Bug(Bug),
    /// No bug: every engine must find nothing.
    Correct,
}

impl Row {
    /// Every bug in `Bug::ALL`, then the correct build.
    pub fn all() -> Vec<Row> {
        Bug::ALL.into_iter().map(Row::Bug).chain([Row::Correct]).collect()
    }

    pub fn name(self) -> &'static str {
        match self {
            Row::Bug(bug) => bug.name(),
            Row::Correct => "correct",
        }
    }

    pub fn bugs(self) -> Bugs {
        match self {
            Row::Bug(bug) => Bugs::only(bug),
            Row::Correct => Bugs::NONE,
        }
    }

    /// The one property a finding may violate (`None`: the correct build may violate none).
    pub fn property(self) -> Option<&'static str> {
        match self {
            Row::Bug(bug) => Some(bug.breaks()),
            Row::Correct => None,
        }
    }

    pub fn mechanism(self) -> &'static str {
        match self {
            Row::Bug(bug) => bug.mechanism(),
            Row::Correct => "no bug switched on: etcd's fixed behaviour",
        }
    }
}

impl fmt::Display for Row {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Row {
    type Err = String;
    fn from_str(text: &str) -> Result<Row, String> {
        if text == "correct" {
            return Ok(Row::Correct);
        }
        text.parse::<Bug>().map(Row::Bug).map_err(|e| format!("{e}, or `correct` for the correct build"))
    }
}
