//! The `leasesim` command line. Owns arguments, the environment, files and wall-clock time; every
//! subcommand is a thin layer over the library (`leasesim`) and the models (`leasesim_models`).
//! Bad input is a clear message on stderr and a non-zero exit, never a panic.

use std::process::ExitCode;

mod cli;

/// mimalloc instead of the system allocator: the model checker builds and drops a whole lessor
/// state per transition, and glibc's malloc and free were over a third of its instructions
/// (callgrind on `check lessor`). The allocator decides no outcome: runs stay deterministic.
#[global_allocator]
static GLOBAL: leasesim_models::allocator::Allocator = leasesim_models::allocator::Allocator;

use clap::{Parser, Subcommand};
use leasesim::bugs::{Bug, Bugs};

#[derive(Parser)]
#[command(name = "leasesim", version, about = "Deterministic simulation and model checking of etcd-style leases")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// The main job: a simulation sweep and the model checks of the lessor, with one report.
    Verify(cli::verify::VerifyArgs),
    /// Replay a trace file against a single-member lessor, one reply line per command.
    Replay {
        /// The trace file (one command per line; `#` comments).
        file: std::path::PathBuf,
        /// Switch a bug back on (repeatable), e.g. `--bug etcd-6570`.
        #[arg(long = "bug", value_name = "NAME")]
        bugs: Vec<Bug>,
        /// Run the trace against a live etcd (host:port, or `spawn` for a throwaway one) instead and
        /// print etcd's replies (needs the `etcd` feature).
        #[arg(long, value_name = "HOST:PORT|spawn", conflicts_with = "bugs")]
        against: Option<String>,
    },
    /// Random traces through the replayer and a live etcd, replies compared; a disagreement is shrunk
    /// and printed (needs the `etcd` feature).
    Conform(cli::conform::ConformArgs),
    /// Draw a run's event trace (`sim --trace`) as an SVG sequence diagram: lifelines, messages,
    /// true time, lease deadlines and the violation.
    Show(cli::show::ShowArgs),
    /// Run one seed of the deterministic simulation and print its summary.
    Sim(cli::sim::SimCommand),
    /// Run many seeds of the simulation in parallel and print a summary table.
    Sweep(cli::sweep::SweepCommand),
    /// Model-check a stateright model; report states, states/s and every property's verdict,
    /// with the shortest counterexample of each violation (exit 1 on a violation).
    Check {
        #[command(flatten)]
        model: ModelArgs,
        /// How to explore: bfs, stateright-bfs (stateright's own BFS, to cross-check), dfs or sim
        /// (random walks).
        #[arg(long, value_name = "bfs|stateright-bfs|dfs|sim", default_value = "bfs")]
        strategy: leasesim_models::check::Strategy,
        /// Explore paths of at most D actions (default: the model's own bounds only).
        #[arg(long, value_name = "D", value_parser = clap::value_parser!(u32).range(1..))]
        depth: Option<u32>,
        /// Checker threads.
        #[arg(long, value_name = "T", default_value_t = 2, value_parser = clap::value_parser!(u16).range(1..))]
        threads: u16,
        /// Where to write the lessor model's counterexamples as replay traces.
        #[arg(long, value_name = "DIR", default_value = ".")]
        trace_dir: std::path::PathBuf,
    },
    /// Tabulate the expiry-index and lessor bench results (run `cargo bench --bench expiry` first):
    /// median ns per op, ratio to EtcdHeap, bytes per lease.
    BenchReport(cli::bench_report::BenchReportArgs),
    /// The bug zoo: every bug switch (and the correct build) through every engine under one
    /// budget, as a detection matrix (exit 1 when a cell is not as expected).
    Zoo(cli::zoo::ZooArgs),
    /// Serve stateright's Explorer for a model on 127.0.0.1.
    Explore {
        #[command(flatten)]
        model: ModelArgs,
        /// The port (0 picks a free one).
        #[arg(long, value_name = "P", default_value_t = 3000)]
        port: u16,
    },
}

/// The options shared by the model subcommands.
#[derive(clap::Args)]
struct ModelArgs {
    /// The model: `lessor` (one lessor and its KV) or `cluster` (members, log, clients).
    model: cli::check::ModelName,
    /// Switch a bug back on (repeatable), e.g. `--bug etcd-6570`.
    #[arg(long = "bug", value_name = "NAME")]
    bugs: Vec<Bug>,
    /// Lease checkpointing (`on`: etcd's fix for issue 9888; `off`: etcd's default).
    #[arg(long, value_name = "on|off", default_value = "on")]
    checkpoint: cli::check::OnOff,
}

fn bug_set(bugs: &[Bug]) -> Bugs {
    bugs.iter().fold(Bugs::NONE, |set, bug| set.with(*bug))
}

/// Lets a closed stdout end the process quietly, as it ends `cat` or `grep`: `leasesim sim | head`
/// must not panic in `println!`. Rust starts programs with SIGPIPE ignored (a write to a closed pipe
/// then fails with `EPIPE`, and `println!` panics on it); the default action terminates the process
/// without output. Only for commands whose sole peer is the terminal or a pipe: the Explorer's web
/// server and the etcd client write to sockets, where a vanished peer must stay an error.
fn end_quietly_on_closed_stdout() {
    #[cfg(unix)]
    // SAFETY: setting a signal disposition to its default, before any thread is spawned.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let uses_sockets =
        matches!(cli.command, Command::Explore { .. } | Command::Conform(_) | Command::Replay { against: Some(_), .. });
    if !uses_sockets {
        end_quietly_on_closed_stdout();
    }
    match cli.command {
        Command::Verify(args) => cli::verify::run(&args),
        Command::Replay { file, bugs, against: None } => cli::replay::run(&file, bug_set(&bugs)),
        Command::Replay { file, against: Some(endpoint), .. } => cli::conform::replay_against(&file, &endpoint),
        Command::Conform(args) => cli::conform::run(args),
        Command::Show(args) => cli::show::run(&args),
        Command::Sim(command) => cli::sim::run(&command),
        Command::Sweep(command) => cli::sweep::run(&command),
        Command::Check { model, strategy, depth, threads, trace_dir } => cli::check::run(&cli::check::CheckArgs {
            model: model.model,
            strategy,
            actions_max: depth.map(|d| d as usize),
            threads: usize::from(threads),
            bugs: bug_set(&model.bugs),
            checkpointing: model.checkpoint.0,
            trace_dir,
        }),
        Command::BenchReport(args) => cli::bench_report::run(&args),
        Command::Zoo(args) => cli::zoo::run(&args),
        Command::Explore { model, port } => {
            cli::explore::run(model.model, port, model.checkpoint.0, bug_set(&model.bugs))
        }
    }
}
