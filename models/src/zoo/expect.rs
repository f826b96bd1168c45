//! What the zoo expects: for every bug × engine, whether the engine can express the bug (and so
//! must find it within the budget) or why it cannot; and each engine's scenario — the model
//! bounds and simulation options every row (the correct build too) runs under.
//!
//! Adding a bug to `Bug::ALL` makes the `match` below non-exhaustive: a new switch must say here
//! which engines find it.

use leasesim::bugs::{Bug, Bugs};
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
const LONE_MEMBER_EXTENSION: &str = "etcd-13491 breaks promote_extension_bounded (a promote honours the stale checkpoint, so promote_honours_checkpoint holds), which one member cannot judge: while it is demoted no other leader checkpoints, so a promote after a leaderless stretch longer than the election timeout extends leases by design";
const ONE_KEY_PER_LEASE: &str = "the cluster model applies a revoke as one action (no state between its steps is seen) and its client puts one key, which goes at one revision even with the bug";

/// Whether `engine` must find `row`'s bug.
pub fn expectation(row: Row, engine: Engine) -> Expect {
    let Row::Bug(bug) = row else { return Expect::Nothing };
    match (bug, engine) {
        (Bug::Etcd13675 | Bug::Etcd15247, Engine::Proptest | Engine::LessorModel) => Expect::Cannot(SIM_MEMBER_BUG),
        (Bug::Etcd13491, Engine::Proptest | Engine::LessorModel) => Expect::Cannot(LONE_MEMBER_EXTENSION),
        // A client that stops keeping alive, two leader changes (see `cluster_bounds`); the
        // leader's apply lag after a follower answered a grant; a stalled old leader's scan. The
        // sim finds them under the scenarios of `sim_options`.
        (Bug::Etcd13491 | Bug::Etcd13675 | Bug::Etcd15247, Engine::ClusterModel | Engine::Sim) => Expect::Finds,
        (_, Engine::Proptest | Engine::LessorModel | Engine::Sim) => Expect::Finds,
        // A keep-alive at the instant of the deadline, before the scan of that instant.
        (Bug::Etcd6570 | Bug::Etcd11731, Engine::ClusterModel) => Expect::Finds,
        (Bug::Etcd10693, Engine::ClusterModel) => Expect::Cannot(NO_LOST_LEADER_REVOKE),
        (Bug::Etcd20590, Engine::ClusterModel) => Expect::Cannot(NO_STEPPED_RENEW),
        (Bug::Etcd6098, Engine::ClusterModel) => Expect::Cannot(ONE_KEY_PER_LEASE),
        (Bug::Etcd9888, Engine::ClusterModel) => Expect::Finds,
    }
}

/// The lessor model's bounds for `row` (checkpointing on, etcd's fixed configuration): one lease
/// ID, a 1 s TTL, one key and 3 s of time, so that the deepest bug (etcd-10693, 8 actions) is within
/// reach of a small BFS budget (one key suffices for etcd-6098: the lease is removed before it);
/// but for etcd-9888 a 2 s TTL, which leaves a checkpoint (due after 1 s) a remaining TTL to
/// honour before a promote.
pub fn lessor_bounds(row: Row) -> LessorBounds {
    let ttls_s = match row {
        Row::Bug(Bug::Etcd9888) => vec![2],
        _ => vec![1],
    };
    LessorBounds {
        lease_ids: vec![1],
        ttls_s,
        keys: vec!["a".to_owned()],
        horizon: Duration::from_secs(3),
        revision_max: 4,
    }
}

/// The lessor model `row` runs: `lessor_bounds(row)` with the row's bugs.
pub fn lessor_model(row: Row) -> LessorModel {
    LessorModel::with_bounds(true, row.bugs(), lessor_bounds(row))
}

/// The correct build under `row`'s lessor bounds, when they are not the correct row's own (see
/// [`cluster_control`]).
pub fn lessor_control(row: Row) -> Option<LessorModel> {
    let bounds = lessor_bounds(row);
    (bounds != lessor_bounds(Row::Correct)).then(|| LessorModel::with_bounds(true, Bugs::NONE, bounds))
}

/// The cluster model's bounds for `row`: its default bounds (2 members, 1 client, TTL 3 s, 3 s of
/// time, 1 leader change), but for etcd-13491, whose client grants and stops keeping its lease
/// alive (a renew clears the checkpointed remaining TTL, hiding the bug) over two leader changes:
/// TTL 5 s, 6 s of time, a checkpoint interval of 2 s (the election timeout plus a tick, as etcd's
/// 5 min exceed its 1 s: with equal ones a promote's schedule finds the remaining TTL not below the
/// TTL and the checkpoint chain ends, by etcd's own design).
pub fn cluster_bounds(row: Row) -> ClusterBounds {
    match row {
        Row::Bug(Bug::Etcd13491) => ClusterBounds {
            ttl_s: 5,
            horizon: Duration::from_secs(6),
            elections_max: 2,
            checkpoint_interval: Duration::from_secs(2),
            keepalive: false,
            ..ClusterBounds::small()
        },
        _ => ClusterBounds::small(),
    }
}

/// The cluster model `row` runs (checkpointing on): `cluster_bounds(row)` with the row's bugs.
pub fn cluster_model(row: Row) -> ClusterModel {
    ClusterModel::with_bounds(true, row.bugs(), cluster_bounds(row))
}

/// The correct build under `row`'s cluster bounds, when they are not the correct row's own: the
/// control that shows a finding under a row's own bounds is the bug's, not the bounds'.
pub fn cluster_control(row: Row) -> Option<ClusterModel> {
    let bounds = cluster_bounds(row);
    (bounds != cluster_bounds(Row::Correct)).then(|| ClusterModel::with_bounds(true, Bugs::NONE, bounds))
}

/// The violations etcd's own design commits under `bounds` (see [`CLUSTER_ETCD_DESIGN`]): the dead
/// checkpoint chain needs a renew, so clients that never keep alive leave none.
pub fn cluster_etcd_design(bounds: &ClusterBounds) -> &'static [(&'static str, &'static str)] {
    if bounds.keepalive { &CLUSTER_ETCD_DESIGN } else { &[] }
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

/// The correct build under `row`'s simulation options, when they are not the correct row's own:
/// run on the seeds that found the bug, it shows the finding is the bug's, not the scenario's.
pub fn sim_control(row: Row) -> Option<SimOptions> {
    let options = SimOptions { bugs: Bugs::NONE, ..sim_options(row) };
    (options != sim_options(Row::Correct)).then_some(options)
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
