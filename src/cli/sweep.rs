//! `leasesim sweep --seeds A..B [--jobs J] [--shard I/N] [options]`: many seeds on all cores with a
//! progress bar, then one summary table; exit 1 if any seed violated a property (each failing
//! seed's replay command is printed), 2 on bad options.
//!
//! Owns the terminal (indicatif) and wall-clock timing; the runs themselves are `sim::sweep`.

use std::ops::Range;
use std::process::ExitCode;

use indicatif::{ProgressBar, ProgressStyle};
use leasesim::sim::FaultKind;
use leasesim::sim::sweep::{parse_seed_range, parse_shard, shard_seeds};

use super::sim::RunArgs;

/// `leasesim sweep`.
#[derive(clap::Args, Clone, Debug)]
pub struct SweepCommand {
    /// Seeds to run, half-open: `0..500` runs seeds 0 to 499.
    #[arg(long, value_parser = parse_seed_range)]
    seeds: Range<u64>,
    /// Worker threads (default: all cores).
    #[arg(long)]
    jobs: Option<usize>,
    /// Run only shard I of N (the seeds whose value is I mod N), e.g. `0/4`.
    #[arg(long, value_parser = parse_shard)]
    shard: Option<(u64, u64)>,
    #[command(flatten)]
    run: RunArgs,
}

pub fn run(command: &SweepCommand) -> ExitCode {
    let options = match command.run.to_options() {
        Ok(options) => options,
        Err(message) => {
            eprintln!("error: {message}");
            return ExitCode::from(2);
        }
    };
    if command.jobs == Some(0) {
        eprintln!("error: --jobs must be at least 1");
        return ExitCode::from(2);
    }
    let jobs = command.jobs.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let seeds = shard_seeds(command.seeds.clone(), command.shard.unwrap_or((0, 1)));
    eprintln!("sweep: {} seeds on {jobs} threads; options: {}", seeds.len(), options.to_args(seeds[0]));
    let bar = ProgressBar::new(seeds.len() as u64);
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} seeds, {msg} [{elapsed_precise} / eta {eta}]")
            .expect("a valid template"),
    );
    let failed = std::sync::atomic::AtomicU64::new(0);
    let started = std::time::Instant::now();
    let result = leasesim::sim::sweep(&seeds, &options, jobs, &|report| {
        if !report.passed() {
            let n = failed.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
            bar.set_message(format!("{n} failing"));
        }
        bar.inc(1);
    });
    bar.finish_and_clear();
    let wall = started.elapsed().as_secs_f64();
    let t = &result.totals;
    println!("{:<34} {:>14}", "seeds run", result.runs);
    println!("{:<34} {:>14}", "seeds failing", result.failures.len());
    println!("{:<34} {:>14.1}", "simulated time (s)", t.sim_time.as_ms() as f64 / 1000.0);
    println!("{:<34} {:>14}", "events", t.events);
    println!("{:<34} {:>14.2}", "wall time (s)", wall);
    println!("{:<34} {:>14.0}", "simulated / wall time", t.sim_time.as_ms() as f64 / 1000.0 / wall.max(1e-9));
    println!("{:<34} {:>14}", "leader changes", t.leader_changes);
    println!("{:<34} {:>14}", "leases granted", t.leases_granted);
    println!("{:<34} {:>14}", "leases expired (revoked by scan)", t.leases_expired);
    println!("{:<34} {:>14}", "leases revoked by clients", t.leases_revoked);
    println!("{:<34} {:>14}", "keep-alives", t.keepalives);
    println!("{:<34} {:>14}", "keep-alives across leader change", t.keepalives_across_leader_change);
    println!("{:<34} {:>14}", "revoke proposals lost", t.revokes_lost);
    println!("{:<34} {:>14}", "TTL resets past bound (etcd-9888)", t.ttl_resets_beyond_bound);
    println!("{:<34} {:>14.1}", "max outlived promised deadline (s)", t.max_outlived.as_ms() as f64 / 1000.0);
    for kind in FaultKind::ALL {
        println!("{:<34} {:>14}", format!("faults: {}", kind.name()), t.faults.get(kind));
    }
    if options.locks {
        println!("{:<34} {:>14}", "lock tenures that wrote", t.locks.tenures);
        println!("{:<34} {:>14}", "lock writes accepted", t.locks.writes_accepted);
        println!("{:<34} {:>14}", "lock writes fenced", t.locks.writes_fenced);
        println!("{:<34} {:>14}", "accepted after writer's revoke", t.locks.writes_after_revoke);
        println!("{:<34} {:>14}", "client stalls", t.locks.client_stalls);
    }
    if result.failures.is_empty() {
        println!("verdict: ok");
        return ExitCode::SUCCESS;
    }
    println!("verdict: {} failing seeds", result.failures.len());
    for report in &result.failures {
        let v = report.violation.as_ref().expect("a failure has a violation");
        println!("seed {}: {} — {}", report.seed, v.property, v.detail);
        println!("  replay: {}", report.replay_command());
    }
    if let Some(first) = result.failures.first() {
        println!("\nfirst failure in detail:\n{}", first.failure_text());
    }
    ExitCode::from(1)
}
