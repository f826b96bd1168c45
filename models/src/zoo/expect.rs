//! What the zoo expects: for every bug × engine, whether the engine can express the bug (and so
//! must find it within the budget) or why it cannot; and each engine's scenario — the model
//! bounds and simulation options every row (the correct build too) runs under.
//!
//! Adding a bug to `Bug::ALL` makes the `match` below non-exhaustive: a new switch must say here
//! which engines find it.

use leasesim::bugs::Bug;
use leasesim::sim::SimOptions;
use leasesim::time::Duration;

use super::{Engine, Row};
use crate::cluster::{ClusterBounds, ClusterModel};
use crate::lessor::{LessorBounds, LessorModel};

/// Whether an engine must find a row's bug.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expect {
    /// The engine can express the bug and must find it within the budget.
    Finds,
    /// The engine cannot express the bug, for this reason; it must find nothing (a finding would
    /// mean the reason is wrong).
    Cannot(&'static str),
    /// A known gap: the engine could express the bug but does not find it within the budget yet,
    /// for this reason. Either outcome is accepted; a finding is reported as found.
    Open(&'static str),
    /// The correct build: nothing to find.
    Nothing,
}

const NO_STEPPED_RENEW: &str =
    "the cluster model renews in one step: no revoke lands between a renew's check and its refresh";
const NO_LOST_LEADER_REVOKE: &str = "the cluster model's leader commits its revokes at once: only a stalled old leader's are lost, and it never leads again";
const SIM_MEMBER_BUG: &str = "the bug lives in the server around the lessor (raft apply wait, leadership confirmation), which this engine does not run";
const NO_SECOND_LEADER_CHANGE: &str =
    "needs two leader changes without renews between them, beyond this engine's bounds";
const NO_APPLY_LAG: &str =
    "needs a leader that confirms a renew before applying a committed grant; the cluster model applies at once";
const NO_DEPOSED_SCAN: &str = "needs a stalled, deposed leader whose lessor still believes it is primary to scan; the cluster model does not produce it";
const NINE_EIGHT_LESSOR_BOUNDS: &str =
    "the zoo's lessor-model bounds (1 s TTL, 3 s) leave no checkpoint with a remaining TTL before a promote";
const ONE_KEY_PER_LEASE: &str = "the cluster model applies a revoke as one action (no state between its steps is seen) and its client puts one key, which goes at one revision even with the bug";

/// Whether `engine` must find `row`'s bug.
pub fn expectation(row: Row, engine: Engine) -> Expect {
    let Row::Bug(bug) = row else { return Expect::Nothing };
    match (bug, engine) {
        (Bug::Etcd13675 | Bug::Etcd15247, Engine::Proptest | Engine::LessorModel) => Expect::Cannot(SIM_MEMBER_BUG),
        // Under the scenarios of `sim_options`.
        (Bug::Etcd13491 | Bug::Etcd13675 | Bug::Etcd15247, Engine::Sim) => Expect::Finds,
        (Bug::Etcd13491, _) => Expect::Open(NO_SECOND_LEADER_CHANGE),
        (Bug::Etcd13675, _) => Expect::Open(NO_APPLY_LAG),
        (Bug::Etcd15247, _) => Expect::Open(NO_DEPOSED_SCAN),
        // One lease ID, a 1 s TTL and 3 s of time leave no room for a checkpoint before a promote.
        (Bug::Etcd9888, Engine::LessorModel) => Expect::Open(NINE_EIGHT_LESSOR_BOUNDS),
        (_, Engine::Proptest | Engine::LessorModel | Engine::Sim) => Expect::Finds,
        // A keep-alive at the instant of the deadline, before the scan of that instant.
        (Bug::Etcd6570 | Bug::Etcd11731, Engine::ClusterModel) => Expect::Finds,
        (Bug::Etcd10693, Engine::ClusterModel) => Expect::Cannot(NO_LOST_LEADER_REVOKE),
        (Bug::Etcd20590, Engine::ClusterModel) => Expect::Cannot(NO_STEPPED_RENEW),
        (Bug::Etcd6098, Engine::ClusterModel) => Expect::Cannot(ONE_KEY_PER_LEASE),
        (Bug::Etcd9888, Engine::ClusterModel) => Expect::Finds,
    }
}

/// The lessor model every row runs (checkpointing on, etcd's fixed configuration): one lease ID,
/// a 1 s TTL, one key and 3 s of time, so that the deepest bug (etcd-10693, 8 actions) is within
/// reach of a small BFS budget (one key suffices for etcd-6098: the lease is removed before it).
pub fn lessor_model(row: Row) -> LessorModel {
    let bounds = LessorBounds {
        lease_ids: vec![1],
        ttls_s: vec![1],
        keys: vec!["a".to_owned()],
        horizon: Duration::from_secs(3),
        revision_max: 4,
    };
    LessorModel::with_bounds(true, row.bugs(), bounds)
}

/// The cluster model every row runs: its default bounds (2 members, 1 client, TTL 3 s, 3 s of
/// time, 1 leader change), checkpointing on.
pub fn cluster_model(row: Row) -> ClusterModel {
    ClusterModel::with_bounds(true, row.bugs(), ClusterBounds::small())
}

/// The cluster model's violations that etcd's own design commits, with the correct build too:
/// not findings of any row, and not false alarms (`leasesim verify` reports them as etcd's).
pub const CLUSTER_ETCD_DESIGN: [(&str, &str); 1] = [(
    leasesim::oracle::PROMOTE_EXTENSION_BOUNDED,
    "dead checkpoint chain: a renew at the instant a lease's checkpoint falls due makes the scan skip it \
     without rescheduling, so the next leader change resets it to its full TTL",
)];

/// The simulation options a row runs: the test suite's short swarm runs (40 s of faults, 25 s of
/// healing); for etcd-13675 and etcd-15247 [`server_race_sim_options`], for etcd-13491
/// [`churn_sim_options`].
pub fn sim_options(row: Row) -> SimOptions {
    let scenario = match row {
        Row::Bug(Bug::Etcd13675 | Bug::Etcd15247) => server_race_sim_options(),
        Row::Bug(Bug::Etcd13491) => churn_sim_options(),
        _ => SimOptions::short(),
    };
    SimOptions { bugs: row.bugs(), ..scenario }
}

/// etcd issue 9888's setting, where the simulator enforces `promote_extension_bounded`: no faults
/// but leader churn every 4–12 s, checkpointing on (every 3 s, above the election timeout), TTLs
/// of 9–12 s that outlast the gaps between leader changes, 90 s.
pub fn churn_sim_options() -> SimOptions {
    SimOptions {
        faults: leasesim::sim::FaultMode::None,
        churn_every_ms: 8_000,
        clients: 2,
        ttl_min_s: 9,
        ttl_max_s: 12,
        checkpointing: leasesim::sim::Switch::On,
        checkpoint_persist: leasesim::sim::Switch::Off,
        checkpoint_interval: Duration::from_secs(3),
        duration: Duration::from_secs(90),
        ..SimOptions::short()
    }
}

/// The short swarm runs with members that apply late (up to 1 s, etcd-13675's window) and stalls
/// that are disk stalls (etcd-15247's deposed leader still scanning), checkpointing off: with
/// an apply lag, a renew's checkpoint round trip through the log can outlast the lease, and the
/// scan's revoke then lands after the renew's success (etcd's own design: its renew checks expiry
/// only before that round trip). The correct build passes these options too
/// (`tests/it/sim.rs`).
pub fn server_race_sim_options() -> SimOptions {
    SimOptions {
        apply_lag_max: Duration::from_ms(1_000),
        disk_stalls: leasesim::sim::Switch::On,
        checkpointing: leasesim::sim::Switch::Off,
        ..SimOptions::short()
    }
}
