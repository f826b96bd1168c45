//! Faults as options: which fault kinds a run has and how strong they are, either none or drawn
//! per seed (swarm testing: each seed switches a random subset of kinds on at random strengths),
//! and the per-kind counts of faults actually injected.
//!
//! Owns the configuration and the counters; it does not inject anything itself (the network drops
//! and delays messages, the runner schedules partitions, crashes, stalls, steps and churn).

use std::fmt;

use super::rng::SimRng;

/// One kind of fault, for counting.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FaultKind {
    Loss,
    Duplicate,
    Reorder,
    PartitionSymmetric,
    PartitionOneWay,
    Crash,
    Stall,
    ClockDrift,
    ClockStep,
    LeaderChurn,
}

impl FaultKind {
    pub const ALL: [FaultKind; 10] = [
        FaultKind::Loss,
        FaultKind::Duplicate,
        FaultKind::Reorder,
        FaultKind::PartitionSymmetric,
        FaultKind::PartitionOneWay,
        FaultKind::Crash,
        FaultKind::Stall,
        FaultKind::ClockDrift,
        FaultKind::ClockStep,
        FaultKind::LeaderChurn,
    ];

    pub fn name(self) -> &'static str {
        match self {
            FaultKind::Loss => "loss",
            FaultKind::Duplicate => "duplicate",
            FaultKind::Reorder => "reorder",
            FaultKind::PartitionSymmetric => "partition",
            FaultKind::PartitionOneWay => "partition_one_way",
            FaultKind::Crash => "crash",
            FaultKind::Stall => "stall",
            FaultKind::ClockDrift => "clock_drift",
            FaultKind::ClockStep => "clock_step",
            FaultKind::LeaderChurn => "leader_churn",
        }
    }
}

/// How many faults of each kind were injected.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct FaultCounts([u64; 10]);

impl FaultCounts {
    pub fn add(&mut self, kind: FaultKind) {
        self.0[kind as usize] += 1;
    }
    pub fn get(&self, kind: FaultKind) -> u64 {
        self.0[kind as usize]
    }
    pub fn merge(&mut self, other: &FaultCounts) {
        for (a, b) in self.0.iter_mut().zip(other.0) {
            *a += b;
        }
    }
    pub fn total(&self) -> u64 {
        self.0.iter().sum()
    }
}

impl fmt::Display for FaultCounts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = FaultKind::ALL.iter().map(|k| format!("{}={}", k.name(), self.get(*k))).collect();
        f.write_str(&parts.join(" "))
    }
}

/// The faults of one run. Periods are mean times between occurrences (0 = off).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Faults {
    /// Per-message loss probability, parts per million.
    pub loss_ppm: u64,
    /// Per-message duplication probability, parts per million.
    pub duplicate_ppm: u64,
    /// Per-message probability of a delay spike (up to 20× the normal maximum) that reorders it.
    pub reorder_ppm: u64,
    /// Normal one-way delay, uniform in `delay_min_ms..=delay_max_ms`.
    pub delay_min_ms: u64,
    pub delay_max_ms: u64,
    pub partition_every_ms: u64,
    pub partition_max_ms: u64,
    pub crash_every_ms: u64,
    pub down_max_ms: u64,
    /// A leader stuck before persisting (etcd issue 15247) every so often, for up to `stall_max_ms`.
    pub stall_every_ms: u64,
    pub stall_max_ms: u64,
    /// Each clock's drift is drawn in `±clock_drift_ppm` (never above the run's drift bound).
    pub clock_drift_ppm: u64,
    pub clock_step_every_ms: u64,
    /// Forced leadership transfers.
    pub churn_every_ms: u64,
}

impl Faults {
    /// A healthy world: short delays, nothing else.
    pub fn none() -> Faults {
        Faults {
            loss_ppm: 0,
            duplicate_ppm: 0,
            reorder_ppm: 0,
            delay_min_ms: 1,
            delay_max_ms: 5,
            partition_every_ms: 0,
            partition_max_ms: 0,
            crash_every_ms: 0,
            down_max_ms: 0,
            stall_every_ms: 0,
            stall_max_ms: 0,
            clock_drift_ppm: 0,
            clock_step_every_ms: 0,
            churn_every_ms: 0,
        }
    }

    /// Swarm testing: each kind is on with probability 1/2, at a random strength. Clock drift never
    /// exceeds `drift_bound_ppm`.
    pub fn swarm(rng: &mut SimRng, drift_bound_ppm: u64) -> Faults {
        let mut f = Faults::none();
        if rng.one_in(2) {
            f.loss_ppm = rng.between(1_000, 100_000);
        }
        if rng.one_in(2) {
            f.duplicate_ppm = rng.between(1_000, 50_000);
        }
        if rng.one_in(2) {
            f.reorder_ppm = rng.between(1_000, 50_000);
        }
        if rng.one_in(2) {
            f.delay_min_ms = rng.between(1, 10);
            f.delay_max_ms = f.delay_min_ms + rng.between(5, 100);
        }
        if rng.one_in(2) {
            f.partition_every_ms = rng.between(5_000, 30_000);
            f.partition_max_ms = rng.between(1_000, 10_000);
        }
        if rng.one_in(2) {
            f.crash_every_ms = rng.between(10_000, 40_000);
            f.down_max_ms = rng.between(500, 8_000);
        }
        if rng.one_in(2) {
            f.stall_every_ms = rng.between(10_000, 40_000);
            f.stall_max_ms = rng.between(1_000, 6_000);
        }
        if rng.one_in(2) && drift_bound_ppm > 0 {
            f.clock_drift_ppm = rng.between(1, drift_bound_ppm);
        }
        if rng.one_in(2) {
            f.clock_step_every_ms = rng.between(2_000, 20_000);
        }
        if rng.one_in(2) {
            f.churn_every_ms = rng.between(2_000, 20_000);
        }
        f
    }
}

impl fmt::Display for Faults {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "loss_ppm={} duplicate_ppm={} reorder_ppm={} delay_ms={}..{} partition_every_ms={} partition_max_ms={} \
             crash_every_ms={} down_max_ms={} stall_every_ms={} stall_max_ms={} clock_drift_ppm={} \
             clock_step_every_ms={} churn_every_ms={}",
            self.loss_ppm,
            self.duplicate_ppm,
            self.reorder_ppm,
            self.delay_min_ms,
            self.delay_max_ms,
            self.partition_every_ms,
            self.partition_max_ms,
            self.crash_every_ms,
            self.down_max_ms,
            self.stall_every_ms,
            self.stall_max_ms,
            self.clock_drift_ppm,
            self.clock_step_every_ms,
            self.churn_every_ms
        )
    }
}
