//! A run's random choices made explicit: the *schedule* a seed produced (the resolved fault rates,
//! the clocks, every fault that struck with its time and target, every operation a client chose
//! with its time), recorded while the seed runs, and replayable with items removed or the cluster,
//! the clients or the time span cut down — the material `minimize` works on.
//!
//! Owns the schedule's vocabulary and the edits that keep it consistent (dropping members or
//! clients drops what refers to them). It runs nothing (`runner::run_recorded` records one,
//! `runner::replay` runs one). The background draws (each message's fate per link, each member's
//! tick intervals and election ticks, each client's endpoint switches) are recorded too, and drawn
//! afresh from the seed's streams only when they run out or no longer fit edited rates.

use std::collections::BTreeMap;
use std::fmt;

use super::client::ClientOp;
use super::clock::Clock;
use super::faults::{FaultCounts, FaultKind, Faults};
use super::network::Addr;
use super::options::{Resolved, SimOptions};
use crate::time::{Duration, Instant};

/// What one fault did when it struck.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FaultAction {
    Partition {
        one_way: bool,
        blocked: Vec<(Addr, Addr)>,
        length_ms: u64,
    },
    Crash {
        member: usize,
        down_ms: u64,
    },
    Stall {
        member: usize,
        length_ms: u64,
    },
    ClockStep {
        member: usize,
        step_ms: i64,
    },
    /// Leadership moves from the leader of the moment to `to`.
    TransferLeader {
        to: usize,
    },
    /// The fault's time came and it found nothing to act on (nobody up, no leader, …).
    Idle(FaultKind),
}

impl FaultAction {
    /// The periodic fault chain this action belongs to (partitions of both kinds share one).
    pub fn chain(&self) -> FaultKind {
        match self {
            FaultAction::Partition { .. } => FaultKind::PartitionSymmetric,
            FaultAction::Crash { .. } => FaultKind::Crash,
            FaultAction::Stall { .. } => FaultKind::Stall,
            FaultAction::ClockStep { .. } => FaultKind::ClockStep,
            FaultAction::TransferLeader { .. } => FaultKind::LeaderChurn,
            FaultAction::Idle(kind) => *kind,
        }
    }

    /// Whether the action refers only to members below `members` and clients below `clients`
    /// (partition links to others are dropped by `restrict`).
    fn fits(&self, members: usize) -> bool {
        match *self {
            FaultAction::Crash { member, .. }
            | FaultAction::Stall { member, .. }
            | FaultAction::ClockStep { member, .. } => member < members,
            FaultAction::TransferLeader { to } => to < members && members > 1,
            FaultAction::Partition { .. } | FaultAction::Idle(_) => true,
        }
    }
}

impl fmt::Display for FaultAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FaultAction::Partition { one_way, blocked, length_ms } => {
                let links: Vec<String> = blocked.iter().map(|(a, b)| format!("{a}->{b}")).collect();
                let kind = if *one_way { "one-way partition" } else { "partition" };
                write!(f, "{kind} [{}] for {length_ms}ms", links.join(" "))
            }
            FaultAction::Crash { member, down_ms } => write!(f, "crash m{} for {down_ms}ms", member + 1),
            FaultAction::Stall { member, length_ms } => write!(f, "stall m{} for {length_ms}ms", member + 1),
            FaultAction::ClockStep { member, step_ms } => write!(f, "clock step m{} to {step_ms}ms", member + 1),
            FaultAction::TransferLeader { to } => write!(f, "transfer leadership to m{}", to + 1),
            FaultAction::Idle(kind) => write!(f, "{} (nothing to act on)", kind.name()),
        }
    }
}

/// One editable item of a schedule, at a true time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Item {
    Fault {
        at: Instant,
        action: FaultAction,
    },
    /// Client `client`'s operation at its poll at `at`.
    Client {
        at: Instant,
        client: usize,
        op: ClientOp,
    },
}

impl Item {
    pub fn at(&self) -> Instant {
        match self {
            Item::Fault { at, .. } | Item::Client { at, .. } => *at,
        }
    }
}

impl fmt::Display for Item {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Item::Fault { at, action } => write!(f, "{:>9} fault  {action}", at.to_string()),
            Item::Client { at, client, op } => write!(f, "{:>9} c{client}     {op}", at.to_string()),
        }
    }
}

/// Everything that decided a run, explicit: replaying it (`runner::replay`) runs the same run as
/// its seed did; replaying an edited copy runs the edited run, deterministically.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Schedule {
    /// The seed the run's remaining streams (network, members, clients' endpoint switches) come from.
    pub seed: u64,
    /// Members, clients, time span, TTL range, bugs…; `members`/`clients`/`duration` may be edited.
    pub options: SimOptions,
    /// The fault rates and checkpoint switches the seed resolved (rates may be edited).
    pub resolved: Resolved,
    pub member_clocks: Vec<Clock>,
    pub client_clocks: Vec<Clock>,
    /// The editable items, in time order.
    pub items: Vec<Item>,
    /// Per fault chain, when the fault after its last item was due (it never struck: the run ended,
    /// or healing had begun). Replayed as a no-op event so a replay keeps the run's event order.
    pub chain_ends: Vec<(FaultKind, Instant)>,
    /// Per client, the draws of its endpoint switches, in order (background, not edited).
    pub endpoint_draws: Vec<Vec<u64>>,
    /// Per link, the fate of each message the run sent on it, in order (background, not edited):
    /// an edit that changes one link's traffic leaves the other links' fates where they were.
    pub fates: BTreeMap<(Addr, Addr), Vec<Fate>>,
    /// Per member, its tick intervals and its election ticks at restarts, in order (background).
    pub tick_draws: Vec<Vec<u64>>,
    pub election_draws: Vec<Vec<u64>>,
}

/// The fate a message met: the delays of its copies (none: lost; two: duplicated).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fate {
    /// Sent in the healing phase (a replay uses the fate only in the same phase).
    pub healing: bool,
    pub delays_ms: Vec<u64>,
    /// How many of the copies the network delayed out of order (counted as `reorder` faults).
    pub reorders: u32,
}

impl Fate {
    /// Whether the fate is possible under `faults` in that phase (a replay with edited rates draws
    /// afresh for a fate that is not).
    pub fn fits(&self, healing: bool, faults: &Faults) -> bool {
        self.healing == healing
            && (!self.delays_ms.is_empty() || faults.loss_ppm > 0)
            && (self.delays_ms.len() < 2 || faults.duplicate_ppm > 0)
            && (self.reorders == 0 || faults.reorder_ppm > 0)
            && self.delays_ms.iter().all(|&d| {
                (faults.delay_min_ms..=faults.delay_max_ms).contains(&d)
                    || (faults.reorder_ppm > 0 && d > faults.delay_max_ms)
            })
    }

    /// The delays, counted as the network counts a drawn fate.
    pub fn delays(&self, counts: &mut FaultCounts) -> Vec<Duration> {
        match self.delays_ms.len() {
            0 => counts.add(FaultKind::Loss),
            2 => counts.add(FaultKind::Duplicate),
            _ => {}
        }
        for _ in 0..self.reorders {
            counts.add(FaultKind::Reorder);
        }
        self.delays_ms.iter().map(|&d| Duration::from_ms(d)).collect()
    }
}

impl Schedule {
    /// How many clients have operations.
    pub fn active_clients(&self) -> usize {
        let mut seen: Vec<usize> = self
            .items
            .iter()
            .filter_map(|i| match i {
                Item::Client { client, .. } => Some(*client),
                Item::Fault { .. } => None,
            })
            .collect();
        seen.sort_unstable();
        seen.dedup();
        seen.len()
    }

    /// The total simulated span (faulty phase and healing).
    pub fn span(&self) -> Duration {
        self.options.duration + self.options.heal
    }

    /// A copy with only the items `keep` selects.
    pub fn with_items(&self, items: Vec<Item>) -> Schedule {
        Schedule { items, ..self.clone() }
    }

    /// A copy with a cluster of `members` (fewer): faults on dropped members are dropped, and
    /// partitions lose their links to them.
    pub fn with_members(&self, members: usize) -> Schedule {
        let mut s = self.clone();
        s.options.members = members;
        s.member_clocks.truncate(members);
        s.tick_draws.truncate(members);
        s.election_draws.truncate(members);
        s.resolved.apply_lag_ms.truncate(members);
        s.restrict();
        s
    }

    /// A copy without client `client`: its operations, clock and switch draws are dropped, and the
    /// clients after it move down one place (their lease IDs and keys stay as recorded).
    pub fn without_client(&self, client: usize) -> Schedule {
        let mut s = self.clone();
        s.options.clients -= 1;
        s.client_clocks.remove(client);
        s.endpoint_draws.remove(client);
        let shift = |a: Addr| match a {
            Addr::Client(c) if c > client => Addr::Client(c - 1),
            other => other,
        };
        s.fates = std::mem::take(&mut s.fates)
            .into_iter()
            .filter(|((a, b), _)| *a != Addr::Client(client) && *b != Addr::Client(client))
            .map(|((a, b), fates)| ((shift(a), shift(b)), fates))
            .collect();
        s.items.retain(|i| !matches!(i, Item::Client { client: c, .. } if *c == client));
        for item in &mut s.items {
            match item {
                Item::Client { client: c, .. } if *c > client => *c -= 1,
                Item::Fault { action: FaultAction::Partition { blocked, .. }, .. } => {
                    blocked.retain(|(a, b)| *a != Addr::Client(client) && *b != Addr::Client(client));
                    for (a, b) in blocked.iter_mut() {
                        for addr in [a, b] {
                            if let Addr::Client(c) = addr
                                && *c > client
                            {
                                *c -= 1;
                            }
                        }
                    }
                }
                _ => {}
            }
        }
        s.restrict();
        s
    }

    /// Drops what no longer fits the cluster and the clients.
    fn restrict(&mut self) {
        let (members, clients) = (self.options.members, self.options.clients);
        let fits_addr = |a: &Addr| match *a {
            Addr::Member(m) => m < members,
            Addr::Client(c) => c < clients,
            Addr::Storage => true,
        };
        self.items.retain_mut(|item| match item {
            Item::Fault { action, .. } => {
                if let FaultAction::Partition { blocked, .. } = action {
                    blocked.retain(|(a, b)| fits_addr(a) && fits_addr(b));
                    if blocked.is_empty() {
                        return false;
                    }
                }
                action.fits(members)
            }
            Item::Client { client, .. } => *client < clients,
        });
    }

    /// The items as lines.
    pub fn item_lines(&self) -> String {
        self.items.iter().map(|i| format!("{i}\n")).collect()
    }
}
