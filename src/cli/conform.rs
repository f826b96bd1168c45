//! `leasesim conform` and `leasesim replay --against`: traces against a live etcd (issue 6).
//!
//! Owns the arguments, the terminal output and the exit codes of the conformance subcommands: 0 all
//! agree, 1 a disagreement (printed shrunk), 2 bad input or an etcd that cannot be used. The work is
//! `leasesim::conform`. Built without the `etcd` feature, both say so and exit 2.

/// The arguments of `leasesim conform`.
#[derive(clap::Args, Debug)]
pub struct ConformArgs {
    /// An etcd to run against (host:port); it must hold no leases and no keys.
    #[arg(long, value_name = "HOST:PORT", conflicts_with = "spawn_etcd")]
    pub endpoint: Option<String>,
    /// Start a throwaway etcd (from $LEASESIM_ETCD, PATH or /usr/bin/etcd) on loopback instead.
    #[arg(long)]
    pub spawn_etcd: bool,
    /// The seeds of the random traces: `A..B` (B excluded) or one seed.
    #[arg(long, value_name = "A..B", default_value = "0..50")]
    pub seeds: String,
    /// The spawned etcd's election timeout in ms (heartbeat = 1/10); sets its minimum TTL.
    #[arg(long, value_name = "MS", default_value_t = 500)]
    pub election_ms: u64,
    /// At most this many etcd runs to shrink a disagreement.
    #[arg(long, value_name = "N", default_value_t = 60)]
    pub shrink_runs: usize,
    /// Print every trace with etcd's replies, not only disagreements.
    #[arg(long)]
    pub show: bool,
}

#[cfg(not(feature = "etcd"))]
pub use without_etcd::{replay_against, run};

#[cfg(not(feature = "etcd"))]
mod without_etcd {
    use std::process::ExitCode;

    use super::ConformArgs;

    const NO_ETCD_FEATURE: &str = "this leasesim was built without etcd support; rebuild it with \
        `cargo build --release --features etcd --bin leasesim` (needs protoc: `apt-get install protobuf-compiler`)";

    pub fn run(_args: ConformArgs) -> ExitCode {
        eprintln!("error: `conform`: {NO_ETCD_FEATURE}");
        ExitCode::from(2)
    }

    pub fn replay_against(_file: &std::path::Path, _endpoint: &str) -> ExitCode {
        eprintln!("error: `replay --against`: {NO_ETCD_FEATURE}");
        ExitCode::from(2)
    }
}

#[cfg(feature = "etcd")]
pub use with_etcd::{replay_against, run};

#[cfg(feature = "etcd")]
mod with_etcd {
    use std::process::ExitCode;

    use leasesim::conform::{CheckOutcome, EtcdOptions, EtcdRunner, check_trace_retrying, generate_trace, shrink};
    use leasesim::trace::parse_trace;

    use super::ConformArgs;

    /// Parses `A..B` or `N`.
    pub fn parse_seeds(text: &str) -> Result<std::ops::Range<u64>, String> {
        let bad = || format!("--seeds `{text}` must be `A..B` (B excluded, A < B) or one seed, e.g. 0..50");
        match text.split_once("..") {
            Some((a, b)) => {
                let (a, b): (u64, u64) = (a.parse().map_err(|_| bad())?, b.parse().map_err(|_| bad())?);
                if a < b { Ok(a..b) } else { Err(bad()) }
            }
            None => {
                let seed: u64 = text.parse().map_err(|_| bad())?;
                Ok(seed..seed + 1)
            }
        }
    }

    /// How often a run that fell behind the wall-clock budget, or disagreed, is retried before giving
    /// up (`check_trace_retrying`).
    const SLOW_RETRIES: usize = 2;

    fn fail(e: impl std::fmt::Display) -> ExitCode {
        eprintln!("error: {e}");
        ExitCode::from(2)
    }

    pub fn run(args: ConformArgs) -> ExitCode {
        let seeds = match parse_seeds(&args.seeds) {
            Ok(seeds) => seeds,
            Err(e) => return fail(e),
        };
        let runner = match (&args.endpoint, args.spawn_etcd) {
            (Some(endpoint), _) => EtcdRunner::connect(endpoint),
            (None, true) => EtcdRunner::spawn(EtcdOptions::for_election(args.election_ms)),
            (None, false) => return fail("give --endpoint HOST:PORT or --spawn-etcd"),
        };
        let mut runner = match runner {
            Ok(runner) => runner,
            Err(e) => return fail(e),
        };
        let config = match runner.trace_config() {
            Ok(config) => config,
            Err(e) => return fail(e),
        };
        eprintln!(
            "conform: seeds {}..{} against etcd at {} ({}); {}",
            seeds.start,
            seeds.end,
            runner.endpoint(),
            if runner.owns_process() { "spawned" } else { "external" },
            config.to_line()
        );
        let (mut agreed, mut disagreed) = (0, 0);
        for seed in seeds.clone() {
            let commands = generate_trace(seed, &config, runner.owns_process());
            let outcome = match check_trace_retrying(&mut runner, &config, &commands, SLOW_RETRIES) {
                Ok(outcome) => outcome,
                Err(e) => return fail(format!("seed {seed}: {e}")),
            };
            match outcome {
                CheckOutcome::Agree { replies } => {
                    agreed += 1;
                    println!("seed {seed}: agree ({} replies)", replies.len());
                    if args.show {
                        for ((_, command), reply) in commands.iter().zip(&replies) {
                            println!("  {:<28} # {reply}", command.to_string());
                        }
                    }
                }
                CheckOutcome::Disagree(found) => {
                    disagreed += 1;
                    println!("seed {seed}: DISAGREE at command {}: {}", found.index + 1, found.mismatch);
                    match shrink(&mut runner, *found, args.shrink_runs) {
                        Ok(minimal) => {
                            println!("seed {seed}: shrunk to {} commands:\n{minimal}", minimal.commands.len());
                            println!(
                                "reproduce with `leasesim replay --against spawn FILE` on:\n{}",
                                minimal.trace_text()
                            );
                        }
                        Err(e) => return fail(format!("seed {seed}: while shrinking: {e}")),
                    }
                }
            }
        }
        println!("conform: {} traces, {agreed} agree, {disagreed} disagree", seeds.end - seeds.start);
        if disagreed == 0 { ExitCode::SUCCESS } else { ExitCode::from(1) }
    }

    /// `replay --against ENDPOINT FILE`: etcd's replies, one line per command, in replay's format.
    /// `ENDPOINT` = `spawn` starts a throwaway etcd whose minimum TTL and election timeout are the
    /// trace's (so `restart` works).
    pub fn replay_against(file: &std::path::Path, endpoint: &str) -> ExitCode {
        let text = match std::fs::read_to_string(file) {
            Ok(text) => text,
            Err(e) => return fail(format!("cannot read trace file {}: {e}", file.display())),
        };
        let (config, commands) = match parse_trace(&text) {
            Ok(parsed) => parsed,
            Err(e) => return fail(e),
        };
        let owns = endpoint == "spawn";
        if let Err(e) = leasesim::conform::check_runnable(&commands, owns) {
            return fail(e);
        }
        let runner = if owns {
            EtcdRunner::spawn(EtcdOptions::for_election(config.election_timeout.as_ms()))
        } else {
            EtcdRunner::connect(endpoint)
        };
        let mut runner = match runner {
            Ok(runner) => runner,
            Err(e) => return fail(e),
        };
        match runner.run(&config, &commands) {
            Ok(run) => {
                for reply in &run.replies {
                    println!("{reply}");
                }
                ExitCode::SUCCESS
            }
            Err(e) => fail(e),
        }
    }
}
