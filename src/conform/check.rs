//! The differential check: one trace through the replayer (the expected replies) and through a live
//! etcd (the actual ones), compared reply by reply; and delta debugging (`crate::ddmin`) that shrinks a
//! disagreeing trace to a minimal one, re-running etcd (emptied between runs) for every candidate.
//!
//! Owns `Disagreement` and its printout. It does not generate traces (`generate`) and does not
//! decide what may be compared loosely (`compare`).

use std::fmt;

use super::compare::{Comparator, Mismatch};
use super::error::ConformError;
use super::runner::{EtcdRun, EtcdRunner, check_runnable};
use super::timing::{LATENESS_BUDGET_MS, timing_hazard};
use crate::ddmin::{Trial, ddmin};
use crate::trace::{Command, Replayer, TraceConfig};

/// A trace on which the replayer and etcd answer differently.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Disagreement {
    pub config: TraceConfig,
    pub commands: Vec<Command>,
    /// 0-based index of the first differing reply.
    pub index: usize,
    pub mismatch: Mismatch,
    pub expected: Vec<String>,
    pub actual: Vec<String>,
}

impl Disagreement {
    /// What "the same disagreement" means while shrinking: the same verb and the same field.
    fn signature(&self) -> (String, String) {
        let verb = self.commands[self.index].to_string().split_whitespace().next().unwrap_or("").to_owned();
        (verb, self.mismatch.field.clone())
    }

    /// The trace as a file `leasesim replay` and `replay --against` read.
    pub fn trace_text(&self) -> String {
        let mut text = self.config.to_line();
        for command in &self.commands {
            text.push('\n');
            text.push_str(&command.to_string());
        }
        text.push('\n');
        text
    }
}

impl fmt::Display for Disagreement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "disagreement at command {} `{}`: {}", self.index + 1, self.commands[self.index], self.mismatch)?;
        writeln!(f, "{}", self.config.to_line())?;
        for (i, command) in self.commands.iter().enumerate() {
            let expected = self.expected.get(i).map_or("", String::as_str);
            let actual = self.actual.get(i).map_or("", String::as_str);
            let marker = if i == self.index { ">>" } else { "  " };
            writeln!(f, "{marker} {:<28} # replayer: {expected:<36} etcd: {actual}", command.to_string())?;
        }
        Ok(())
    }
}

/// The result of one differential run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CheckOutcome {
    Agree { replies: Vec<String> },
    Disagree(Box<Disagreement>),
}

/// The replayer's replies to a trace.
pub fn expected_replies(config: &TraceConfig, commands: &[(usize, Command)]) -> Result<Vec<String>, ConformError> {
    let mut replayer = Replayer::new(config.clone());
    commands
        .iter()
        .map(|(line, command)| {
            replayer.execute(command).map(|(reply, _verdict)| reply).map_err(|e| ConformError::Refused {
                line: *line,
                command: command.to_string(),
                reason: e,
            })
        })
        .collect()
}

/// `check_trace`, tried again (up to `retries` more times) while the machine was too slow to judge
/// time-derived replies (`TooSlow`) or etcd disagreed. The replayer is deterministic, so a
/// semantic disagreement comes back on every run and is reported (the last run's); one that was
/// etcd's own timing on a loaded machine (a revoke its scan and commit made later than the timing
/// guard's margin, which covers only the client's lateness) goes away on a rerun.
pub fn check_trace_retrying(
    runner: &mut EtcdRunner,
    config: &TraceConfig,
    commands: &[(usize, Command)],
    retries: usize,
) -> Result<CheckOutcome, ConformError> {
    let mut attempt = 0;
    loop {
        match check_trace(runner, config, commands) {
            Err(ConformError::TooSlow { .. }) | Ok(CheckOutcome::Disagree(_)) if attempt < retries => attempt += 1,
            other => return other,
        }
    }
}

/// Runs `commands` through the replayer and etcd and compares. A run whose wall clock fell more
/// than the lateness budget behind trace time before the first disagreement is `TooSlow`.
pub fn check_trace(
    runner: &mut EtcdRunner,
    config: &TraceConfig,
    commands: &[(usize, Command)],
) -> Result<CheckOutcome, ConformError> {
    check_runnable(commands, runner.owns_process())?;
    if config.lessor.etcd_version != runner.etcd_version() {
        return Err(ConformError::Config(format!(
            "the trace models etcd version={} but the server is {}: set `version=` in its config line",
            config.lessor.etcd_version.name(),
            runner.etcd_version().name()
        )));
    }
    let expected = expected_replies(config, commands)?;
    let EtcdRun { replies: actual, lateness_ms } = runner.run(config, commands)?;
    let mut comparator = Comparator::new();
    for (index, (line, command)) in commands.iter().enumerate() {
        if lateness_ms[index] > LATENESS_BUDGET_MS {
            return Err(ConformError::TooSlow {
                line: *line,
                command: command.to_string(),
                lateness_ms: lateness_ms[index],
                budget_ms: LATENESS_BUDGET_MS,
            });
        }
        if let Err(mismatch) = comparator.compare(command, &expected[index], &actual[index]) {
            return Ok(CheckOutcome::Disagree(Box::new(Disagreement {
                config: config.clone(),
                commands: commands.iter().map(|(_, c)| c.clone()).collect(),
                index,
                mismatch,
                expected,
                actual,
            })));
        }
    }
    Ok(CheckOutcome::Agree { replies: actual })
}

/// Shrinks a disagreement by delta debugging (`ddmin`) on its command list: a candidate counts if
/// it is judgeable on the wall clock and etcd still disagrees on the same verb and field. At most
/// `max_runs` etcd runs; the smallest disagreement found so far is returned.
pub fn shrink(runner: &mut EtcdRunner, found: Disagreement, max_runs: usize) -> Result<Disagreement, ConformError> {
    let signature = found.signature();
    let config = found.config.clone();
    // Only the prefix up to the disagreement matters.
    let prefix: Vec<Command> = found.commands[..=found.index].to_vec();
    let mut best = found;
    ddmin(prefix, max_runs, |candidate: &[Command]| {
        let numbered: Vec<(usize, Command)> = candidate.iter().cloned().enumerate().map(|(i, c)| (i + 2, c)).collect();
        if timing_hazard(&config, &numbered).is_some() {
            return Ok(Trial::Skipped);
        }
        match check_trace(runner, &config, &numbered) {
            Ok(CheckOutcome::Disagree(d)) if d.signature() == signature => {
                let smaller = d.commands[..=d.index].to_vec();
                best = *d;
                Ok(Trial::Fails(smaller))
            }
            Ok(_) | Err(ConformError::TooSlow { .. }) => Ok(Trial::Passes),
            Err(e) => Err(e),
        }
    })?;
    Ok(best)
}
