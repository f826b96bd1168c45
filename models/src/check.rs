//! Running a checker over a model and collecting what the CLI reports: state counts, depth, and
//! each property's verdict with its discovery path.
//!
//! Owns the strategies (BFS, DFS, simulation) and how each is started, following stateright 0.31's
//! verified pitfalls: no symmetry reduction at all (BFS ignores it and our states have no cheap
//! canonical form), simulation bounded by a state count. It deliberately reads no clock: timing
//! and states/s belong to the caller (the CLI, the bench).

use std::fmt;
use std::hash::Hash;

use stateright::{Checker, CheckerBuilder, Expectation, HasDiscoveries, Model, Path, UniformChooser};

use crate::bfs;
use crate::verdict::Judged;

/// How the state space is explored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Strategy {
    /// Breadth-first, exhaustive within the bounds (and `depth_max`): our level-synchronous
    /// checker (`crate::bfs`), whose result does not depend on the number of threads.
    Bfs,
    /// stateright's own breadth-first checker, for cross-checking `Bfs` (same counts).
    StaterightBfs,
    /// Depth-first, exhaustive within the bounds (and `depth_max`).
    Dfs,
    /// Uniform random walks from a seed, until `sim_state_count` states.
    Sim,
}

impl Strategy {
    pub const ALL: [Strategy; 4] = [Strategy::Bfs, Strategy::StaterightBfs, Strategy::Dfs, Strategy::Sim];
    pub fn name(self) -> &'static str {
        match self {
            Strategy::Bfs => "bfs",
            Strategy::StaterightBfs => "stateright-bfs",
            Strategy::Dfs => "dfs",
            Strategy::Sim => "sim",
        }
    }
}

impl fmt::Display for Strategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Strategy {
    type Err = String;
    fn from_str(text: &str) -> Result<Strategy, String> {
        Strategy::ALL.into_iter().find(|s| s.name() == text).ok_or_else(|| {
            let known: Vec<&str> = Strategy::ALL.iter().map(|s| s.name()).collect();
            format!("unknown strategy `{text}`; known strategies: {}", known.join(", "))
        })
    }
}

/// How to run one check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckOptions {
    pub strategy: Strategy,
    /// Explore paths of at most this many actions (`None`: the model's own bounds only).
    pub actions_max: Option<usize>,
    pub threads: usize,
    /// The simulation's seed.
    pub sim_seed: u64,
    /// The simulation stops after this many states.
    pub sim_state_count: usize,
    /// BFS and DFS stop after about this many states (checked per block of states; `None`: no cap).
    pub states_max: Option<usize>,
    /// Stop at the first violation of any of these properties (empty: check every property).
    pub stop_at_first_of: Vec<&'static str>,
}

impl CheckOptions {
    pub fn bfs() -> CheckOptions {
        CheckOptions {
            strategy: Strategy::Bfs,
            actions_max: None,
            threads: 1,
            sim_seed: 0,
            sim_state_count: 1_000_000,
            states_max: None,
            stop_at_first_of: Vec::new(),
        }
    }
    pub fn with_threads(self, threads: usize) -> CheckOptions {
        CheckOptions { threads, ..self }
    }
}

/// One property's verdict.
pub struct PropertyVerdict<M: Model> {
    pub name: &'static str,
    pub expectation: Expectation,
    /// For `always`: a counterexample; for `sometimes`: an example.
    pub discovery: Option<Path<M::State, M::Action>>,
}

impl<M: Model> PropertyVerdict<M> {
    /// An `always` property with a counterexample.
    pub fn is_violation(&self) -> bool {
        self.expectation == Expectation::Always && self.discovery.is_some()
    }
    /// `holds`, `VIOLATED`, `found` or `NOT FOUND`.
    pub fn status(&self) -> &'static str {
        match (self.expectation == Expectation::Sometimes, self.discovery.is_some()) {
            (false, false) => "holds",
            (false, true) => "VIOLATED",
            (true, true) => "found",
            (true, false) => "NOT FOUND",
        }
    }
}

impl<M: Model> PropertyVerdict<M>
where
    M::State: Clone,
    M::Action: Clone,
{
    /// The number of actions of the discovery path.
    pub fn discovery_len(&self) -> Option<usize> {
        self.discovery.as_ref().map(|p| p.clone().into_actions().len())
    }
}

/// What a check found.
pub struct CheckReport<M: Model> {
    pub states: usize,
    pub unique_states: usize,
    /// stateright's depth: the initial state is at depth 1.
    pub depth_max: usize,
    pub verdicts: Vec<PropertyVerdict<M>>,
}

impl<M: Model> CheckReport<M> {
    pub fn violations(&self) -> impl Iterator<Item = &PropertyVerdict<M>> {
        self.verdicts.iter().filter(|v| v.is_violation())
    }
    pub fn verdict(&self, name: &str) -> Option<&PropertyVerdict<M>> {
        self.verdicts.iter().find(|v| v.name == name)
    }
}

/// Runs `model` to completion under `options`.
pub fn run<M>(model: M, options: &CheckOptions) -> CheckReport<M>
where
    M: Model + Send + Sync + 'static,
    M::State: Clone + fmt::Debug + Hash + PartialEq + Send + Sync + Judged,
    M::Action: Clone + fmt::Debug + PartialEq + Send + Sync,
{
    match options.strategy {
        Strategy::Bfs => run_bfs(&model, options),
        Strategy::StaterightBfs => report(stateright_checker(model, options).spawn_bfs().join()),
        Strategy::Dfs => report(stateright_checker(model, options).spawn_dfs().join()),
        Strategy::Sim => report(
            stateright_checker(model, options)
                .target_state_count(options.sim_state_count)
                .spawn_simulation(options.sim_seed, UniformChooser)
                .join(),
        ),
    }
}

/// stateright's checker for `model` under `options` (every strategy but `bfs`).
fn stateright_checker<M>(model: M, options: &CheckOptions) -> CheckerBuilder<M>
where
    M: Model + Send + Sync + 'static,
    M::State: Clone + fmt::Debug + Hash + PartialEq + Send + Sync,
    M::Action: Clone + fmt::Debug + PartialEq + Send + Sync,
{
    let finish_when = if options.stop_at_first_of.is_empty() {
        HasDiscoveries::All
    } else {
        HasDiscoveries::AnyOf(options.stop_at_first_of.iter().copied().collect())
    };
    let mut builder = model.checker().threads(options.threads.max(1)).finish_when(finish_when);
    if let Some(actions_max) = options.actions_max {
        // stateright counts the initial state as depth 1 and does not expand states at the target.
        builder = builder.target_max_depth(actions_max + 2);
    }
    if let (Some(states_max), Strategy::StaterightBfs | Strategy::Dfs) = (options.states_max, options.strategy) {
        builder = builder.target_state_count(states_max);
    }
    builder
}

/// `run` for the `bfs` strategy: our level-synchronous checker (`crate::bfs`).
fn run_bfs<M>(model: &M, options: &CheckOptions) -> CheckReport<M>
where
    M: Model + Sync,
    M::State: Clone + Hash + PartialEq + Send + Sync,
    M::Action: Clone + PartialEq,
{
    let bounds = bfs::Bounds {
        depth_target: options.actions_max.map(|actions_max| actions_max + 2),
        states_target: options.states_max,
        stop_at_first_of: options.stop_at_first_of.clone(),
        threads: options.threads,
    };
    let outcome = bfs::search(model, &bounds);
    let verdicts = model
        .properties()
        .into_iter()
        .zip(outcome.discoveries)
        .map(|(p, discovery)| PropertyVerdict { name: p.name, expectation: p.expectation, discovery })
        .collect();
    CheckReport { states: outcome.states, unique_states: outcome.unique_states, depth_max: outcome.depth_max, verdicts }
}

fn report<M, C>(checker: C) -> CheckReport<M>
where
    M: Model,
    M::State: Clone + Hash + PartialEq,
    M::Action: Clone + PartialEq,
    C: Checker<M>,
{
    let verdicts = checker
        .model()
        .properties()
        .into_iter()
        .map(|p| PropertyVerdict {
            name: p.name,
            expectation: p.expectation.clone(),
            discovery: checker.discovery(p.name),
        })
        .collect();
    CheckReport {
        states: checker.state_count(),
        unique_states: checker.unique_state_count(),
        depth_max: checker.max_depth(),
        verdicts,
    }
}

/// A path as readable lines, one action per line, numbered from 1.
pub fn format_path<M>(model: &M, path: &Path<M::State, M::Action>) -> Vec<String>
where
    M: Model,
    M::State: Clone,
    M::Action: Clone + fmt::Debug,
{
    path.clone()
        .into_actions()
        .iter()
        .enumerate()
        .map(|(i, a)| format!("{:>3}. {}", i + 1, model.format_action(a)))
        .collect()
}

/// The violation recorded in the last state of a path.
pub fn violation_of<M>(path: &Path<M::State, M::Action>) -> Option<leasesim::oracle::Violation>
where
    M: Model,
    M::State: Judged,
{
    path.last_state().violation().cloned()
}
