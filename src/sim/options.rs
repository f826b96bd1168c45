//! The options of one simulated run and what a seed resolves them to: everything that decides a
//! run besides the seed, printable as the command line that replays it.
//!
//! Owns validation of option values (cluster size, drift bound, phases) and the per-seed choices
//! (swarm faults, checkpointing when left to the seed). It parses nothing from a command line (the
//! CLI does) and reads no environment.

use std::fmt;

use super::faults::Faults;
use super::lock::ClientStalls;
use super::rng::SimRng;
use crate::bugs::Bugs;
use crate::time::Duration;

/// `--apply-lag-max` may not exceed this: a member must still catch up within the end-of-run
/// check's two seconds, and the revoke bound grows by it.
pub const APPLY_LAG_MAX_LIMIT: Duration = Duration::from_ms(1_000);
/// Apply lags are drawn in steps of this (a raft tick: the backlog is applied on ticks).
pub const APPLY_LAG_STEP: Duration = Duration::from_ms(100);

/// An on/off option that may be left to the seed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Switch {
    On,
    Off,
    /// Drawn per seed.
    Seed,
}

impl Switch {
    pub fn resolve(self, rng: &mut SimRng) -> bool {
        // Always draw, so the stream does not depend on the choice.
        let drawn = rng.one_in(2);
        match self {
            Switch::On => true,
            Switch::Off => false,
            Switch::Seed => drawn,
        }
    }
}

impl fmt::Display for Switch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Switch::On => "on",
            Switch::Off => "off",
            Switch::Seed => "seed",
        })
    }
}

impl std::str::FromStr for Switch {
    type Err = String;
    fn from_str(text: &str) -> Result<Switch, String> {
        match text {
            "on" => Ok(Switch::On),
            "off" => Ok(Switch::Off),
            "seed" => Ok(Switch::Seed),
            _ => Err(format!("`{text}` is not one of on, off, seed")),
        }
    }
}

/// Which faults a run has.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FaultMode {
    /// None (short delays only).
    None,
    /// Drawn per seed (swarm testing).
    Swarm,
}

impl fmt::Display for FaultMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FaultMode::None => "none",
            FaultMode::Swarm => "swarm",
        })
    }
}

impl std::str::FromStr for FaultMode {
    type Err = String;
    fn from_str(text: &str) -> Result<FaultMode, String> {
        match text {
            "none" => Ok(FaultMode::None),
            "swarm" => Ok(FaultMode::Swarm),
            _ => Err(format!("`{text}` is not one of none, swarm")),
        }
    }
}

/// Everything that decides a run, besides the seed.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SimOptions {
    /// Cluster size: 1, 3 or 5.
    pub members: usize,
    pub clients: usize,
    /// How many leases a client holds at most at once.
    pub leases_per_client: usize,
    /// Granted TTLs are drawn in `ttl_min_s..=ttl_max_s`.
    pub ttl_min_s: i64,
    pub ttl_max_s: i64,
    /// The faulty phase.
    pub duration: Duration,
    /// The healing phase after it (no faults), at whose end convergence is checked.
    pub heal: Duration,
    /// No clock drifts faster than this (parts per million).
    pub drift_bound_ppm: u64,
    pub faults: FaultMode,
    /// Forced leadership transfers this often, on top of the faults (0 = only as the faults say).
    pub churn_every_ms: u64,
    pub checkpointing: Switch,
    pub checkpoint_persist: Switch,
    /// The lessor's checkpoint interval (etcd: 5 min; scaled down here to fit short TTLs).
    pub checkpoint_interval: Duration,
    pub bugs: Bugs,
    /// The lock workload: every client runs etcd's lock recipe and writes to the protected
    /// storage while it believes it holds the lock (`sim::lock`); with swarm faults, client
    /// stalls are drawn per seed too.
    pub locks: bool,
    /// With `locks`: the storage rejects writes whose fencing token (the lock key's create
    /// revision) is below the highest it accepted.
    pub fencing: bool,
    /// Each member applies committed entries up to this late (drawn per member and seed, in
    /// 100 ms steps; with swarm faults, half the seeds have no lag at all): etcd applies
    /// asynchronously, and a leader with a slow disk applies after its followers (etcd issue
    /// 13675). With a lag, clients also send a lease's first keep-alive right after its grant, as
    /// etcd's client does. Zero (the default): members apply at once and every run is what it was.
    pub apply_lag_max: Duration,
    /// Whether a stall is a disk stall (etcd issue 15247): the member's Ready loop is stuck on a slow
    /// fdatasync while raft keeps stepping the messages it receives and the lessor keeps running
    /// its expiry scan; off (the default): a stall freezes the whole member.
    pub disk_stalls: Switch,
}

impl SimOptions {
    /// The default run: 3 members, 3 clients, 2 simulated minutes of swarm faults, 30 s healing.
    pub fn standard() -> SimOptions {
        SimOptions {
            members: 3,
            clients: 3,
            leases_per_client: 4,
            ttl_min_s: 3,
            ttl_max_s: 12,
            duration: Duration::from_secs(120),
            heal: Duration::from_secs(30),
            drift_bound_ppm: 1_000,
            faults: FaultMode::Swarm,
            churn_every_ms: 0,
            checkpointing: Switch::Seed,
            checkpoint_persist: Switch::Seed,
            checkpoint_interval: Duration::from_secs(4),
            bugs: Bugs::NONE,
            locks: false,
            fencing: false,
            apply_lag_max: Duration::ZERO,
            disk_stalls: Switch::Off,
        }
    }

    /// A short run for large sweeps in tests: 40 simulated seconds plus 25 s healing.
    pub fn short() -> SimOptions {
        SimOptions { duration: Duration::from_secs(40), heal: Duration::from_secs(25), ..SimOptions::standard() }
    }

    /// The lock workload (`--locks`, with `--fencing` if `fencing`) on the standard run.
    pub fn locks(fencing: bool) -> SimOptions {
        SimOptions { locks: true, fencing, ..SimOptions::standard() }
    }

    /// Checks the values; the message says what is wrong.
    pub fn validate(&self) -> Result<(), String> {
        if ![1, 3, 5].contains(&self.members) {
            return Err(format!("--members must be 1, 3 or 5 (got {})", self.members));
        }
        if self.ttl_min_s < 1 || self.ttl_min_s > self.ttl_max_s {
            return Err(format!("the TTL range {}..={} s is empty or not positive", self.ttl_min_s, self.ttl_max_s));
        }
        if self.drift_bound_ppm > 100_000 {
            return Err(format!("--drift-bound-ppm must be at most 100000 (got {})", self.drift_bound_ppm));
        }
        if self.heal < Duration::from_secs(20) {
            return Err(format!("--heal must be at least 20s to judge convergence (got {})", self.heal));
        }
        if self.checkpoint_interval < Duration::from_ms(500) {
            return Err(format!("--checkpoint-interval must be at least 500ms (got {})", self.checkpoint_interval));
        }
        if self.apply_lag_max > APPLY_LAG_MAX_LIMIT
            || !self.apply_lag_max.as_ms().is_multiple_of(APPLY_LAG_STEP.as_ms())
        {
            return Err(format!(
                "--apply-lag-max must be a multiple of {APPLY_LAG_STEP} from 0 to {APPLY_LAG_MAX_LIMIT} (got {})",
                self.apply_lag_max
            ));
        }
        if self.fencing && !self.locks {
            return Err("--fencing needs --locks (it fences the lock holders' writes)".to_owned());
        }
        Ok(())
    }

    /// The command-line arguments that reproduce these options (with `--seed`).
    pub fn to_args(&self, seed: u64) -> String {
        let mut args = format!(
            "--seed {seed} --members {} --clients {} --leases-per-client {} --ttl-min {} --ttl-max {} --duration {}ms \
             --heal {}ms --drift-bound-ppm {} --faults {} --checkpointing {} --checkpoint-persist {} \
             --checkpoint-interval {}ms",
            self.members,
            self.clients,
            self.leases_per_client,
            self.ttl_min_s,
            self.ttl_max_s,
            self.duration.as_ms(),
            self.heal.as_ms(),
            self.drift_bound_ppm,
            self.faults,
            self.checkpointing,
            self.checkpoint_persist,
            self.checkpoint_interval.as_ms()
        );
        if self.churn_every_ms > 0 {
            args.push_str(&format!(" --churn-every {}ms", self.churn_every_ms));
        }
        for bug in self.bugs.iter() {
            args.push_str(&format!(" --bug {bug}"));
        }
        if self.locks {
            args.push_str(" --locks");
        }
        if self.fencing {
            args.push_str(" --fencing");
        }
        if self.apply_lag_max > Duration::ZERO {
            args.push_str(&format!(" --apply-lag-max {}ms", self.apply_lag_max.as_ms()));
        }
        if self.disk_stalls != Switch::Off {
            args.push_str(&format!(" --disk-stalls {}", self.disk_stalls));
        }
        args
    }

    /// The one command that replays `seed` under these options.
    pub fn replay_command(&self, seed: u64) -> String {
        format!("leasesim sim {}", self.to_args(seed))
    }
}

/// What a seed made of the options: the choices left to it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Resolved {
    pub faults: Faults,
    pub checkpointing: bool,
    pub checkpoint_persist: bool,
    /// The lock workload's client stalls (drawn only with locks and swarm faults).
    pub client_stalls: Option<ClientStalls>,
    /// Per member, how late it applies committed entries, in ms (empty without `apply_lag_max`).
    pub apply_lag_ms: Vec<u64>,
    /// Whether stalls are disk stalls (see `SimOptions::disk_stalls`).
    pub disk_stalls: bool,
}

impl Resolved {
    pub fn new(options: &SimOptions, rng: &mut SimRng) -> Resolved {
        let mut faults = match options.faults {
            FaultMode::None => Faults::none(),
            FaultMode::Swarm => Faults::swarm(rng, options.drift_bound_ppm),
        };
        if options.churn_every_ms > 0 {
            faults.churn_every_ms = options.churn_every_ms;
        }
        let checkpointing = options.checkpointing.resolve(rng);
        let checkpoint_persist = options.checkpoint_persist.resolve(rng);
        // Drawn last and only for the lock workload, so that other runs draw exactly as before.
        let client_stalls =
            if options.locks && options.faults == FaultMode::Swarm { ClientStalls::draw(rng) } else { None };
        // Drawn after everything else and only when asked for, for the same reason.
        let mut apply_lag_ms = Vec::new();
        if options.apply_lag_max > Duration::ZERO {
            let lagging = options.faults == FaultMode::None || rng.one_in(2);
            let steps = options.apply_lag_max.as_ms() / APPLY_LAG_STEP.as_ms();
            apply_lag_ms = (0..options.members).map(|_| rng.between(0, steps) * APPLY_LAG_STEP.as_ms()).collect();
            if !lagging {
                apply_lag_ms.fill(0);
            }
        }
        let disk_stalls = options.disk_stalls != Switch::Off && options.disk_stalls.resolve(rng);
        Resolved { faults, checkpointing, checkpoint_persist, client_stalls, apply_lag_ms, disk_stalls }
    }
}

impl fmt::Display for Resolved {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "checkpointing={} checkpoint_persist={} {}",
            self.checkpointing, self.checkpoint_persist, self.faults
        )?;
        if let Some(stalls) = self.client_stalls {
            write!(f, " client_stall_every_ms={} client_stall_max_ms={}", stalls.every_ms, stalls.max_ms)?;
        }
        if !self.apply_lag_ms.is_empty() {
            let lags: Vec<String> = self.apply_lag_ms.iter().map(u64::to_string).collect();
            write!(f, " apply_lag_ms={}", lags.join(","))?;
        }
        if self.disk_stalls {
            f.write_str(" disk_stalls=true")?;
        }
        Ok(())
    }
}
