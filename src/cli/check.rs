//! `leasesim check <model>`: model-check the lessor or the cluster model and report states,
//! unique states, depth, seconds, states/s and each property's verdict; a violated property gets
//! its counterexample, its shortest counterexample (a breadth-first run) and, for the lessor
//! model, a `leasesim replay` trace file. Exit 0 when every `always` holds, 1 on a violation.
//!
//! Owns wall-clock timing, the terminal and the trace files; the checking is `leasesim_models`'.

use std::fmt;
use std::hash::Hash;
use std::path::{Path as FsPath, PathBuf};
use std::process::ExitCode;
use std::time::Instant as WallClock;

use leasesim::bugs::Bugs;
use leasesim_models::check::{self, CheckOptions, Strategy};
use leasesim_models::cluster::ClusterModel;
use leasesim_models::export;
use leasesim_models::lessor::LessorModel;
use leasesim_models::shortest;
use leasesim_models::verdict::Judged;
use stateright::{Expectation, Model, Path};

/// `println!` that ignores a closed stdout (`leasesim check … | head` must not panic).
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

/// The models the CLI knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ModelName {
    Lessor,
    Cluster,
}

impl std::str::FromStr for ModelName {
    type Err = String;
    fn from_str(text: &str) -> Result<ModelName, String> {
        match text {
            "lessor" => Ok(ModelName::Lessor),
            "cluster" => Ok(ModelName::Cluster),
            other => Err(format!("unknown model `{other}`; known models: lessor, cluster")),
        }
    }
}

impl fmt::Display for ModelName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ModelName::Lessor => "lessor",
            ModelName::Cluster => "cluster",
        })
    }
}

/// `on` / `off`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OnOff(pub bool);

impl std::str::FromStr for OnOff {
    type Err = String;
    fn from_str(text: &str) -> Result<OnOff, String> {
        match text {
            "on" => Ok(OnOff(true)),
            "off" => Ok(OnOff(false)),
            other => Err(format!("`{other}` must be on or off")),
        }
    }
}

/// The arguments of `leasesim check`.
pub struct CheckArgs {
    pub model: ModelName,
    pub strategy: Strategy,
    pub actions_max: Option<usize>,
    pub threads: usize,
    pub bugs: Bugs,
    pub checkpointing: bool,
    pub trace_dir: PathBuf,
}

pub fn run(args: &CheckArgs) -> ExitCode {
    let actions_max = args.actions_max.or(match args.model {
        ModelName::Lessor => Some(LessorModel::ACTIONS_MAX_DEFAULT),
        ModelName::Cluster => None,
    });
    let options = CheckOptions { strategy: args.strategy, actions_max, threads: args.threads, ..CheckOptions::bfs() };
    say!(
        "model {} (checkpointing {}, bugs {}), strategy {}, threads {}, depth {}",
        args.model,
        if args.checkpointing { "on" } else { "off" },
        args.bugs,
        args.strategy,
        args.threads,
        actions_max.map_or("unbounded".to_owned(), |d| format!("≤ {d} actions")),
    );
    match args.model {
        ModelName::Lessor => {
            let model = LessorModel::new(args.checkpointing, args.bugs);
            let write_trace = |path: &Path<_, _>, property: &str| {
                let file = args.trace_dir.join(format!("counterexample-lessor-{property}.trace"));
                let text = export::replay_trace(&model, path, &format!("shortest counterexample of {property}"));
                write_trace_file(&file, &text)
            };
            check_model(model.clone(), &options, Some(&write_trace))
        }
        ModelName::Cluster => check_model(ClusterModel::new(args.checkpointing, args.bugs), &options, None),
    }
}

fn write_trace_file(file: &FsPath, text: &str) -> Result<String, String> {
    std::fs::write(file, text).map_err(|e| format!("cannot write trace file {}: {e}", file.display()))?;
    Ok(file.display().to_string())
}

type TraceWriter<'a, M> = &'a dyn Fn(&Path<<M as Model>::State, <M as Model>::Action>, &str) -> Result<String, String>;

fn check_model<M>(model: M, options: &CheckOptions, write_trace: Option<TraceWriter<'_, M>>) -> ExitCode
where
    M: Model + Clone + Send + Sync + 'static,
    M::State: Clone + fmt::Debug + Hash + PartialEq + Send + Sync + Judged,
    M::Action: Clone + fmt::Debug + PartialEq + Send + Sync,
{
    let started = WallClock::now();
    let report = check::run(model.clone(), options);
    let seconds = started.elapsed().as_secs_f64();
    say!(
        "states {}, unique states {}, depth {}, {seconds:.2} s, {:.0} states/s",
        report.states,
        report.unique_states,
        report.depth_max,
        report.states as f64 / seconds.max(1e-9)
    );
    let mut violated = false;
    for verdict in &report.verdicts {
        let kind = match verdict.expectation {
            Expectation::Always => "always",
            Expectation::Sometimes => "sometimes",
            Expectation::Eventually => "eventually",
        };
        let Some(path) = verdict.discovery.as_ref().filter(|_| verdict.is_violation()) else {
            let depth = verdict.discovery_len().map(|n| format!(" ({n} actions)")).unwrap_or_default();
            say!("property {} ({kind}): {}{depth}", verdict.name, verdict.status());
            continue;
        };
        violated = true;
        let detail = check::violation_of::<M>(path).map(|v| v.detail).unwrap_or_default();
        say!("property {} ({kind}): VIOLATED: {detail}", verdict.name);
        let lines = check::format_path(&model, path);
        say!("  counterexample ({} actions):", lines.len());
        lines.iter().for_each(|line| say!("  {line}"));
        let started = WallClock::now();
        // A `bfs` discovery is already the shortest (the first in BFS order); the other strategies'
        // are searched again.
        let shortest = match options.strategy {
            Strategy::Bfs => Some(path.clone()),
            _ => shortest::shortest_counterexample(&model, verdict.name, lines.len()),
        };
        let Some(shortest) = shortest else {
            eprintln!("error: the breadth-first search did not re-find the counterexample of {}", verdict.name);
            continue;
        };
        let lines = check::format_path(&model, &shortest);
        say!(
            "  shortest counterexample ({} actions, breadth-first, {:.2} s):",
            lines.len(),
            started.elapsed().as_secs_f64()
        );
        lines.iter().for_each(|line| say!("  {line}"));
        if let Some(write_trace) = write_trace {
            match write_trace(&shortest, verdict.name) {
                Ok(file) => say!("  replay trace: {file}"),
                Err(e) => eprintln!("error: {e}"),
            }
        }
    }
    if violated { ExitCode::from(1) } else { ExitCode::SUCCESS }
}
