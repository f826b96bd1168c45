//! The `leasesim` command line. Owns arguments, the environment, files and wall-clock time; every
//! subcommand is a thin layer over the library (`leasesim`) and the models (`leasesim_models`).
//! Bad input is a clear message on stderr and a non-zero exit, never a panic.

use std::process::ExitCode;

mod cli;

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
    /// Replay a trace file against a single-member lessor, one reply line per command.
    Replay {
        /// The trace file (one command per line; `#` comments).
        file: std::path::PathBuf,
        /// Switch a bug back on (repeatable), e.g. `--bug etcd-6570`.
        #[arg(long = "bug", value_name = "NAME")]
        bugs: Vec<Bug>,
    },
}

fn bug_set(bugs: &[Bug]) -> Bugs {
    bugs.iter().fold(Bugs::NONE, |set, bug| set.with(*bug))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Replay { file, bugs } => cli::replay::run(&file, bug_set(&bugs)),
    }
}
