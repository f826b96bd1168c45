//! One cell of the zoo: one row (a bug, or the correct build) through one engine under a budget,
//! deterministically — the same row, engine and budget give the same outcome on every machine.
//!
//! Each engine is the project's own, reused, not restated: proptest runs of `trace::strategy`
//! (the property tests' generator), `check::run` and `shortest` over the models, `sim::run` over
//! seeds. Owns only the counting: the effort until the first finding, and the counterexample's
//! length before and after minimization (proptest's shrinking, the shortest path by BFS). Reads no
//! clock.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::hash::Hash;

use leasesim::sim::{SimOptions, minimize};
use leasesim::trace::replay_trace;
use leasesim::trace::strategy::{self, Judge, case_strategy, failed, run_case, trace_text};
use proptest::test_runner::TestError;
use stateright::Model;

use super::expect;
use super::{Budget, Engine, Row};
use crate::check::{self, CheckOptions};
use crate::cluster::ClusterModel;
use crate::export;
use crate::lessor::LessorModel;
use crate::shortest;
use crate::verdict::Judged;

/// What one cell found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    /// The properties violated when the engine stopped (the first finding; a model's BFS may
    /// report several found in the same block of states). Empty: nothing found within budget.
    pub violations: Vec<String>,
    /// Cases, states generated or seeds until the first finding (or all the budget, if none).
    pub effort: u64,
    /// The first counterexample's length, and after minimization.
    pub before: Option<usize>,
    pub after: Option<usize>,
    /// Whether the minimized counterexample, replayed, shows the same property's violation
    /// (`None`: the engine has no replay for it yet).
    pub replays: Option<bool>,
    /// The violation and what reproduces it.
    pub detail: String,
    /// The minimized counterexample as a file: a `leasesim replay` trace (proptest, lessor model)
    /// or the action list (cluster model).
    pub counterexample: Option<String>,
    /// The minimized run's JSON-lines event trace (simulation), which `leasesim show` draws.
    pub event_trace: Option<String>,
    /// Violations seen but not counted, with why (etcd's own design).
    pub ignored: Vec<String>,
}

/// Runs `row` through `engine` under `budget`. An `Err` is the engine failing to run (not a
/// finding).
pub fn run_cell(row: Row, engine: Engine, budget: &Budget) -> Result<Outcome, String> {
    match engine {
        Engine::Proptest => proptest_cell(row, budget),
        Engine::LessorModel => {
            let model = expect::lessor_model(row);
            let exporter = model.clone();
            let export = move |path: &stateright::Path<_, _>, title: &str| export::replay_trace(&exporter, path, title);
            let mut outcome = model_cell(row, model, &LessorModel::ALWAYS, &[], budget, Some(&export));
            if let Some(control) = expect::lessor_control(row) {
                control_cell(control, &LessorModel::ALWAYS, &[], budget, &mut outcome);
            }
            Ok(outcome)
        }
        Engine::ClusterModel => {
            let model = expect::cluster_model(row);
            let etcd_design = expect::cluster_etcd_design(&model.bounds);
            let mut outcome = model_cell(row, model, &ClusterModel::ALWAYS, etcd_design, budget, None);
            if let Some(control) = expect::cluster_control(row) {
                control_cell(control, &ClusterModel::ALWAYS, etcd_design, budget, &mut outcome);
            }
            Ok(outcome)
        }
        Engine::Sim => Ok(sim_cell(row, budget)),
    }
}

/// Proptest runs with the row's bugs until the first failing case, then proptest's shrinking.
fn proptest_cell(row: Row, budget: &Budget) -> Result<Outcome, String> {
    let bugs = row.bugs();
    let cases = Cell::new(0u64);
    // The first failing case: its number and the failure (commands run up to the violation).
    let first: RefCell<Option<(u64, strategy::Failure)>> = RefCell::new(None);
    let mut runner = strategy::runner(budget.proptest_cases, Budget::PROPTEST_SEED_BYTE);
    let result = runner.run(&case_strategy(Budget::PROPTEST_SNIPPETS), |(config, commands)| {
        let mut first = first.borrow_mut();
        if first.is_none() {
            cases.set(cases.get() + 1);
        }
        run_case(&config, &commands, bugs, Judge::OracleOnly).map(drop).map_err(|failure| {
            if first.is_none() {
                *first = Some((cases.get(), failure.clone()));
            }
            failed(&config, failure)
        })
    });
    let (config, commands) = match result {
        Ok(()) => return Ok(Outcome { effort: cases.get(), ..Outcome::default() }),
        Err(TestError::Fail(_, shrunk)) => shrunk,
        Err(TestError::Abort(why)) => return Err(format!("proptest aborted: {why}")),
    };
    let (case, first) = first.into_inner().ok_or("proptest failed without a failing case")?;
    let shrunk = run_case(&config, &commands, bugs, Judge::OracleOnly)
        .err()
        .ok_or("the shrunk case passes when run again: the run is not deterministic")?;
    let mut violations = vec![property_name(first.property)];
    if shrunk.property != first.property {
        violations.push(property_name(shrunk.property));
    }
    let text = trace_text(&config, &shrunk.trace);
    let replays = replay_trace(&text, bugs)
        .ok()
        .and_then(|outcome| outcome.violation)
        .is_some_and(|(_, v)| Some(v.property) == shrunk.property);
    Ok(Outcome {
        violations,
        effort: case,
        before: Some(first.trace.len()),
        after: Some(shrunk.trace.len()),
        replays: Some(replays),
        detail: format!("case {case}: {}", shrunk.what),
        counterexample: Some(format!("# {row}: proptest's shrunk counterexample ({})\n{text}\n", shrunk.what)),
        ..Outcome::default()
    })
}

fn property_name(property: Option<&'static str>) -> String {
    property.unwrap_or("replies differ from the reference model").to_owned()
}

type Exporter<'a, M> = &'a dyn Fn(&stateright::Path<<M as Model>::State, <M as Model>::Action>, &str) -> String;

/// A single-threaded BFS (a fixed visiting order, so the counts are reproducible) that stops at
/// the first violation of a counted property or at the budget; then the shortest counterexample
/// of the row's property (`shortest`).
fn model_cell<M>(
    row: Row,
    model: M,
    always: &[&'static str],
    etcd_design: &[(&'static str, &'static str)],
    budget: &Budget,
    export: Option<Exporter<'_, M>>,
) -> Outcome
where
    M: Model + Clone + Send + Sync + 'static,
    M::State: Clone + fmt::Debug + Hash + PartialEq + Send + Sync + Judged,
    M::Action: Clone + fmt::Debug + PartialEq + Send + Sync,
{
    let counted: Vec<&'static str> =
        always.iter().copied().filter(|p| !etcd_design.iter().any(|(name, _)| name == p)).collect();
    let options = CheckOptions {
        states_max: Some(budget.model_states),
        stop_at_first_of: counted.clone(),
        ..CheckOptions::bfs()
    };
    let report = check::run(model.clone(), &options);
    let mut outcome = Outcome { effort: report.states as u64, ..Outcome::default() };
    for verdict in report.violations() {
        match etcd_design.iter().find(|(name, _)| *name == verdict.name) {
            Some((name, why)) => outcome.ignored.push(format!("{name} (etcd's own design: {why})")),
            None => outcome.violations.push(verdict.name.to_owned()),
        }
    }
    let Some(property) = row.property().filter(|p| outcome.violations.iter().any(|v| v == p)) else {
        if let Some(verdict) = report.violations().find(|v| counted.contains(&v.name)) {
            let path = verdict.discovery.as_ref().expect("a violation has a path");
            let detail = check::violation_of::<M>(path).map(|v| v.to_string()).unwrap_or_default();
            outcome.detail = format!("{detail}; path: {}", check::format_path(&model, path).join(" "));
        }
        return outcome;
    };
    let verdict = report.verdict(property).expect("a counted property has a verdict");
    let before = verdict.discovery_len().expect("a violation has a path");
    outcome.before = Some(before);
    let Some(shortest) = shortest::shortest_counterexample(&model, property, before) else {
        outcome.detail = format!("the breadth-first search did not re-find {property} within {before} actions");
        return outcome;
    };
    let lines: Vec<String> = shortest.clone().into_actions().iter().map(|a| model.format_action(a)).collect();
    outcome.after = Some(lines.len());
    let violation = check::violation_of::<M>(&shortest);
    outcome.detail = violation.as_ref().map(|v| v.to_string()).unwrap_or_default();
    outcome.counterexample = Some(match export {
        Some(export) => {
            let text = export(&shortest, &format!("{row}: the lessor model's shortest counterexample of {property}"));
            let replayed = replay_trace(&text, row.bugs()).ok().and_then(|o| o.violation).map(|(_, v)| v);
            outcome.replays = Some(replayed.is_some() && replayed == violation);
            text
        }
        None => format!("# {row}: the cluster model's shortest counterexample of {property}\n{}\n", lines.join("\n")),
    });
    outcome
}

/// The correct build under a bug row's own bounds, through the same budget: any violation it
/// finds is the bounds', not the bug's, and is reported in the row's cell as a false alarm.
fn control_cell<M>(
    control: M,
    always: &[&'static str],
    etcd_design: &[(&'static str, &'static str)],
    budget: &Budget,
    outcome: &mut Outcome,
) where
    M: Model + Clone + Send + Sync + 'static,
    M::State: Clone + fmt::Debug + Hash + PartialEq + Send + Sync + Judged,
    M::Action: Clone + fmt::Debug + PartialEq + Send + Sync,
{
    let report = model_cell(Row::Correct, control.clone(), always, etcd_design, budget, None);
    for violation in report.violations {
        outcome.violations.push(format!("{violation} (the correct build, under this row's bounds)"));
    }
    outcome.ignored.extend(report.ignored);
    let note = format!("the correct build under the same bounds: {} states generated", report.effort);
    outcome.detail = if outcome.detail.is_empty() { note } else { format!("{}; {note}", outcome.detail) };
    if !report.detail.is_empty() {
        outcome.detail.push_str(&format!(" ({})", report.detail));
    }
}

/// Seeds in order, one at a time, until the first failing one.
fn sim_cell(row: Row, budget: &Budget) -> Outcome {
    let options = expect::sim_options(row);
    for seed in 0..budget.sim_seeds {
        let report = leasesim::sim::run(seed, &options);
        if let Some(violation) = &report.violation {
            let mut outcome = Outcome {
                violations: vec![violation.property.to_owned()],
                effort: seed + 1,
                detail: format!("seed {seed}: {violation}; replay: {}", report.replay_command()),
                ..Outcome::default()
            };
            // The counterexample's length is its schedule's items (faults and client operations).
            let limits = minimize::Budget { max_runs: budget.sim_minimize_runs, ..minimize::Budget::default() };
            match minimize::minimize_with(seed, &options, limits) {
                Ok(minimized) if minimized.property == violation.property => {
                    outcome.before = Some(minimized.before.items);
                    outcome.after = Some(minimized.after.items);
                    if let Some(commands) = minimized.after.trace_commands {
                        outcome.detail.push_str(&format!("; minimized: a replay trace of {commands} commands"));
                    }
                    outcome.counterexample = minimized.replay_trace;
                    outcome.event_trace = Some(minimized.jsonl);
                }
                Ok(minimized) => {
                    outcome.detail.push_str(&format!("; minimization drifted to {}", minimized.property));
                }
                Err(error) => outcome.detail.push_str(&format!("; minimization failed: {error}")),
            }
            if let Some(control) = expect::sim_control(row) {
                sim_control_cell(&control, seed, &mut outcome);
            }
            return outcome;
        }
    }
    Outcome { effort: budget.sim_seeds, ..Outcome::default() }
}

/// The correct build under a bug row's own simulation options, on the seeds up to and including
/// the one that found the bug: a violation there is the scenario's, not the bug's, and is reported
/// in the row's cell as a false alarm.
fn sim_control_cell(control: &SimOptions, last_seed: u64, outcome: &mut Outcome) {
    let false_alarms: Vec<String> = (0..=last_seed)
        .filter_map(|seed| {
            let violation = leasesim::sim::run(seed, control).violation?;
            Some(format!("{} (the correct build, seed {seed}, under this row's options)", violation.property))
        })
        .collect();
    outcome.detail.push_str(&format!(
        "; the correct build on seeds 0..={last_seed} under the same options: {}",
        if false_alarms.is_empty() { "clean".to_owned() } else { format!("{} failing", false_alarms.len()) }
    ));
    outcome.violations.extend(false_alarms);
}
