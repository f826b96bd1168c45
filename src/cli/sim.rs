//! `leasesim sim --seed N [options]`: one simulated run, its summary on stdout, optionally its
//! event trace as JSON lines (`--trace FILE`); with `--minimize [--out DIR]` the failing run
//! minimized (`sim::minimize`), its before/after table, the files written and the commands that
//! replay them. Also owns the run options shared with `sweep`.
//!
//! Exit status: 0 when every property held, 1 on a violation (the summary then carries the seed,
//! options, property, last events and the replay command; or the minimized counterexample), 2 on
//! bad options or files that cannot be written.

use std::path::PathBuf;
use std::process::ExitCode;

use leasesim::bugs::Bug;
use leasesim::sim::{FaultMode, SimOptions, Switch};
use leasesim::time::{Duration, parse_duration};

/// The options of a run; anything not given keeps `SimOptions::standard()`'s value.
#[derive(clap::Args, Clone, Debug)]
pub struct RunArgs {
    /// Cluster size: 1, 3 or 5.
    #[arg(long)]
    members: Option<usize>,
    /// Number of clients.
    #[arg(long)]
    clients: Option<usize>,
    /// Leases a client holds at most at once.
    #[arg(long)]
    leases_per_client: Option<usize>,
    /// Granted TTLs are drawn from `--ttl-min` to `--ttl-max` seconds.
    #[arg(long, value_name = "SECONDS")]
    ttl_min: Option<i64>,
    #[arg(long, value_name = "SECONDS")]
    ttl_max: Option<i64>,
    /// Length of the faulty phase, e.g. `120s`.
    #[arg(long, value_parser = parse_duration)]
    duration: Option<Duration>,
    /// Length of the healing phase (no faults) at whose end convergence is checked, e.g. `30s`.
    #[arg(long, value_parser = parse_duration)]
    heal: Option<Duration>,
    /// No clock drifts faster than this, in parts per million.
    #[arg(long)]
    drift_bound_ppm: Option<u64>,
    /// `swarm` (drawn per seed) or `none`.
    #[arg(long)]
    faults: Option<FaultMode>,
    /// Force a leadership transfer this often (on top of the faults), e.g. `3s`.
    #[arg(long, value_parser = parse_duration)]
    churn_every: Option<Duration>,
    /// Lease checkpointing: on, off, or seed (drawn per seed).
    #[arg(long)]
    checkpointing: Option<Switch>,
    /// Checkpoint persistence: on, off, or seed.
    #[arg(long)]
    checkpoint_persist: Option<Switch>,
    /// The lessor's checkpoint interval, e.g. `4s`.
    #[arg(long, value_parser = parse_duration)]
    checkpoint_interval: Option<Duration>,
    /// Switch a bug back on (repeatable), e.g. `--bug etcd-6570`.
    #[arg(long = "bug", value_name = "NAME")]
    bugs: Vec<Bug>,
    /// The lock workload: clients take a lock built on leases (etcd's recipe) and write to a
    /// protected storage while they believe they hold it; `lock_exclusive` is judged there.
    #[arg(long)]
    locks: bool,
    /// With `--locks`: the storage rejects writes with a fencing token (the lock key's create
    /// revision) below the highest it accepted.
    #[arg(long)]
    fencing: bool,
    /// Members apply committed entries up to this late, drawn per member and seed in 100 ms steps
    /// (at most 1s; 0 = at once), e.g. `800ms`; clients then send a lease's first keep-alive right
    /// after its grant, as etcd's client does (etcd issue 13675).
    #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
    apply_lag_max: Option<Duration>,
    /// Stalls are disk stalls (etcd issue 15247: raft keeps stepping messages and the lessor keeps
    /// scanning while the Ready loop is stuck): on, off (a stall freezes the member), or seed.
    #[arg(long)]
    disk_stalls: Option<Switch>,
}

impl RunArgs {
    /// The options, validated; the error says what is wrong.
    pub fn to_options(&self) -> Result<SimOptions, String> {
        let mut o = SimOptions::standard();
        o.members = self.members.unwrap_or(o.members);
        o.clients = self.clients.unwrap_or(o.clients);
        o.leases_per_client = self.leases_per_client.unwrap_or(o.leases_per_client);
        o.ttl_min_s = self.ttl_min.unwrap_or(o.ttl_min_s);
        o.ttl_max_s = self.ttl_max.unwrap_or(o.ttl_max_s);
        o.duration = self.duration.unwrap_or(o.duration);
        o.heal = self.heal.unwrap_or(o.heal);
        o.drift_bound_ppm = self.drift_bound_ppm.unwrap_or(o.drift_bound_ppm);
        o.faults = self.faults.unwrap_or(o.faults);
        o.churn_every_ms = self.churn_every.map_or(o.churn_every_ms, Duration::as_ms);
        o.checkpointing = self.checkpointing.unwrap_or(o.checkpointing);
        o.checkpoint_persist = self.checkpoint_persist.unwrap_or(o.checkpoint_persist);
        o.checkpoint_interval = self.checkpoint_interval.unwrap_or(o.checkpoint_interval);
        o.bugs = self.bugs.iter().fold(o.bugs, |set, bug| set.with(*bug));
        o.locks = self.locks;
        o.fencing = self.fencing;
        o.apply_lag_max = self.apply_lag_max.unwrap_or(o.apply_lag_max);
        o.disk_stalls = self.disk_stalls.unwrap_or(o.disk_stalls);
        o.validate()?;
        Ok(o)
    }
}

/// `leasesim sim`.
#[derive(clap::Args, Clone, Debug)]
pub struct SimCommand {
    /// The seed: the whole run follows from it and the options.
    #[arg(long)]
    seed: u64,
    /// Write the event trace here, one JSON object per line.
    #[arg(long, value_name = "FILE")]
    trace: Option<PathBuf>,
    /// Minimize the failing run (its faults, client operations, cluster, clients, time span) and
    /// write it as `<bug-or-seed>.jsonl` (event trace), `.schedule` and, when the violation is
    /// lessor-level, `.trace` (a `leasesim replay` trace) into `--out`.
    #[arg(long, conflicts_with = "trace")]
    minimize: bool,
    /// Where `--minimize` writes its files.
    #[arg(long, value_name = "DIR", default_value = ".", requires = "minimize")]
    out: PathBuf,
    #[command(flatten)]
    run: RunArgs,
}

pub fn run(command: &SimCommand) -> ExitCode {
    let options = match command.run.to_options() {
        Ok(options) => options,
        Err(message) => {
            eprintln!("error: {message}");
            return ExitCode::from(2);
        }
    };
    if command.minimize {
        return minimize(command, &options);
    }
    let started = std::time::Instant::now();
    let report = match &command.trace {
        None => leasesim::sim::run(command.seed, &options),
        Some(path) => {
            let file = match std::fs::File::create(path) {
                Ok(file) => file,
                Err(e) => {
                    eprintln!("error: cannot create trace file {}: {e}", path.display());
                    return ExitCode::from(2);
                }
            };
            let mut writer = std::io::BufWriter::new(file);
            match leasesim::sim::run_traced(command.seed, &options, &mut writer) {
                Ok(report) => report,
                Err(e) => {
                    eprintln!("error: writing trace file {}: {e}", path.display());
                    return ExitCode::from(2);
                }
            }
        }
    };
    let wall = started.elapsed().as_secs_f64();
    print!("{}", report.summary());
    let sim_s = report.stats.sim_time.as_ms() as f64 / 1000.0;
    println!(
        "wall time:           {wall:.2}s ({:.0} events/s, {:.0}x real time)",
        report.stats.events as f64 / wall.max(1e-9),
        sim_s / wall.max(1e-9)
    );
    if report.passed() { ExitCode::SUCCESS } else { ExitCode::from(1) }
}

/// `leasesim sim --minimize`.
fn minimize(command: &SimCommand, options: &SimOptions) -> ExitCode {
    let seed = command.seed;
    let started = std::time::Instant::now();
    let report = leasesim::sim::run(seed, options);
    if report.passed() {
        print!("{}", report.summary());
        println!("nothing to minimize: seed {seed} violates no property under these options");
        return ExitCode::SUCCESS;
    }
    let m = match leasesim::sim::minimize(seed, options) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let bugs: Vec<Bug> = options.bugs.iter().collect();
    let name = match bugs[..] {
        [bug] => format!("{bug}-seed-{seed}"),
        _ => format!("seed-{seed}"),
    };
    let dir = &command.out;
    let path = |ext: &str| dir.join(format!("{name}.{ext}"));
    let mut files = vec![(path("jsonl"), m.jsonl.clone()), (path("schedule"), schedule_file(&m, options))];
    if let Some(trace) = &m.replay_trace {
        files.push((path("trace"), trace.clone()));
    }
    let drawn = match leasesim::show::render(&m.jsonl, &leasesim::show::Request::default()) {
        Ok(picture) => {
            files.push((path("svg"), picture.svg));
            true
        }
        Err(e) => {
            eprintln!("warning: the minimized run's trace cannot be drawn: {e}");
            false
        }
    };
    if let Err(e) = std::fs::create_dir_all(dir) {
        eprintln!("error: cannot create {}: {e}", dir.display());
        return ExitCode::from(2);
    }
    for (file, text) in &files {
        if let Err(e) = std::fs::write(file, text) {
            eprintln!("error: cannot write {}: {e}", file.display());
            return ExitCode::from(2);
        }
    }
    println!(
        "seed {seed}: {} violated; minimized in {} runs, {:.1}s",
        m.property,
        m.runs,
        started.elapsed().as_secs_f64()
    );
    print!("{}", m.table());
    let bug_args: String = bugs.iter().map(|b| format!(" --bug {b}")).collect();
    println!("event trace of the minimized run: {}", path("jsonl").display());
    println!("its schedule:                     {}", path("schedule").display());
    if drawn {
        println!("its sequence diagram:             {}", path("svg").display());
    }
    match &m.replay_trace {
        Some(_) => {
            println!("replay the lessor-level counterexample: leasesim replay {}{bug_args}", path("trace").display())
        }
        None => println!("no lessor-level replay trace (the violation is not one member's lessor's alone)"),
    }
    println!("the seed's full run: {}", options.replay_command(seed));
    ExitCode::from(1)
}

/// The `.schedule` file: where it came from, and its items.
fn schedule_file(m: &leasesim::sim::Minimized, options: &SimOptions) -> String {
    let s = &m.schedule;
    let f = &s.resolved.faults;
    format!(
        "# minimized schedule of `{}`: {} violated\n# members {} clients {} faulty phase {} healing {}; \
         loss_ppm={} duplicate_ppm={} reorder_ppm={} delay_ms={}..{}\n{}",
        options.replay_command(m.seed),
        m.property,
        s.options.members,
        s.options.clients,
        s.options.duration,
        s.options.heal,
        f.loss_ppm,
        f.duplicate_ppm,
        f.reorder_ppm,
        f.delay_min_ms,
        f.delay_max_ms,
        m.schedule_text
    )
}
