//! What a run reports: its statistics (events, simulated time, leader changes, leases granted,
//! expired and revoked, keep-alives, faults per kind, the largest amount by which a lease outlived
//! its promised deadline) and its verdict, with everything needed to replay a failure.
//!
//! Owns the numbers and their printing; it computes nothing about the run itself.

use std::fmt::Write as _;

use super::faults::{FaultCounts, FaultKind};
use super::lock::LockStats;
use super::options::{Resolved, SimOptions};
use crate::lease::LeaseId;
use crate::oracle::Violation;
use crate::time::{Duration, Instant};

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    pub events: u64,
    pub sim_time: Duration,
    /// Promotions (a member applied the first entry of its own term as leader).
    pub leader_changes: u64,
    pub leases_granted: u64,
    /// Revoked by the leader's expiry scan.
    pub leases_expired: u64,
    /// Revoked by a client.
    pub leases_revoked: u64,
    /// Successful keep-alive replies.
    pub keepalives: u64,
    /// Successful keep-alives of leases granted before the latest leader change.
    pub keepalives_across_leader_change: u64,
    pub revokes_lost: u64,
    /// Promotes that pushed a live lease past its deadline by more than election timeout plus one
    /// checkpoint interval (etcd issue 9888; a violation when checkpointing is on).
    pub ttl_resets_beyond_bound: u64,
    pub faults: FaultCounts,
    /// The largest amount by which a lease outlived the deadline promised to its client (revoked
    /// late, or still alive at the end), and which lease.
    pub max_outlived: Duration,
    pub max_outlived_lease: LeaseId,
    /// The lock workload's numbers (all zero without it).
    pub locks: LockStats,
}

impl Stats {
    pub fn note_outlived(&mut self, id: LeaseId, by: Duration) {
        if by > self.max_outlived {
            self.max_outlived = by;
            self.max_outlived_lease = id;
        }
    }

    /// Adds `other` in (maxima stay maxima).
    pub fn merge(&mut self, other: &Stats) {
        self.events += other.events;
        self.sim_time = self.sim_time + other.sim_time;
        self.leader_changes += other.leader_changes;
        self.leases_granted += other.leases_granted;
        self.leases_expired += other.leases_expired;
        self.leases_revoked += other.leases_revoked;
        self.keepalives += other.keepalives;
        self.keepalives_across_leader_change += other.keepalives_across_leader_change;
        self.revokes_lost += other.revokes_lost;
        self.ttl_resets_beyond_bound += other.ttl_resets_beyond_bound;
        self.faults.merge(&other.faults);
        self.note_outlived(other.max_outlived_lease, other.max_outlived);
        self.locks.merge(&other.locks);
    }

    /// The statistics as `name: value` lines.
    pub fn lines(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "simulated time:      {:.1}s", self.sim_time.as_ms() as f64 / 1000.0);
        let _ = writeln!(s, "events:              {}", self.events);
        let _ = writeln!(s, "leader changes:      {}", self.leader_changes);
        let _ = writeln!(
            s,
            "leases:              granted {} expired {} revoked {}",
            self.leases_granted, self.leases_expired, self.leases_revoked
        );
        let _ = writeln!(
            s,
            "keep-alives:         {} ({} across a leader change)",
            self.keepalives, self.keepalives_across_leader_change
        );
        let _ = writeln!(s, "revoke proposals lost: {}", self.revokes_lost);
        let _ = writeln!(s, "TTL resets past bound (etcd-9888): {}", self.ttl_resets_beyond_bound);
        let _ = writeln!(s, "faults injected:     {} ({})", self.faults.total(), self.faults);
        let _ = writeln!(
            s,
            "max outlived promised deadline by: {:.1}s (lease {})",
            self.max_outlived.as_ms() as f64 / 1000.0,
            self.max_outlived_lease
        );
        s.push_str(&self.locks.line());
        s
    }

    /// Which fault kinds never struck.
    pub fn faults_never_injected(&self) -> Vec<&'static str> {
        FaultKind::ALL.iter().filter(|k| self.faults.get(**k) == 0).map(|k| k.name()).collect()
    }
}

/// The outcome of one run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Report {
    pub seed: u64,
    pub options: SimOptions,
    pub resolved: Resolved,
    pub stats: Stats,
    pub violation: Option<Violation>,
    /// True time at which the run stopped (its end, or the violation).
    pub stopped_at: Instant,
    /// The last events before the stop, one line each.
    pub last_events: Vec<String>,
    /// FNV-1a hash of the full trace.
    pub trace_hash: u64,
}

impl Report {
    pub fn passed(&self) -> bool {
        self.violation.is_none()
    }

    pub fn replay_command(&self) -> String {
        self.options.replay_command(self.seed)
    }

    /// The summary `leasesim sim` prints.
    pub fn summary(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "seed:                {}", self.seed);
        let _ = writeln!(s, "options:             {}", self.options.to_args(self.seed));
        let _ = writeln!(s, "resolved:            {}", self.resolved);
        s.push_str(&self.stats.lines());
        let _ = writeln!(s, "trace hash:          {:016x}", self.trace_hash);
        match &self.violation {
            None => {
                let _ = writeln!(s, "verdict:             ok");
            }
            Some(v) => {
                let _ = writeln!(s, "verdict:             VIOLATION of {} at {}", v.property, self.stopped_at);
                s.push_str(&self.failure_text());
            }
        }
        s
    }

    /// Seed, options, property, the last events and the replay command.
    pub fn failure_text(&self) -> String {
        let mut s = String::new();
        if let Some(v) = &self.violation {
            let _ = writeln!(s, "property {} violated (seed {}): {}", v.property, self.seed, v.detail);
            let _ = writeln!(s, "options: {} [{}]", self.options.to_args(self.seed), self.resolved);
            let _ = writeln!(s, "last events:");
            for line in &self.last_events {
                let _ = writeln!(s, "  {line}");
            }
            let _ = writeln!(s, "replay: {}", self.replay_command());
        }
        s
    }
}
