//! The cluster model: 2–3 members, each a real `Lessor<SmallQueue>` and `Kv`, a replicated log,
//! 1–2 clients keeping a lease alive, leader changes, and per-member clocks within a drift bound.
//!
//! Owns the driver around the lessors: what the raft leader proposes and when members apply, the
//! leader changes (a new leader applies the whole log, then promotes; the old one demotes later,
//! and may meanwhile scan as a stalled leader that cannot confirm its leadership), renews forwarded
//! to the leader, keep-alive replies on an unordered lossy network, and time. The lease semantics
//! are the lessor's; the properties are the oracle's, judged in true time.
//!
//! Modelling choices, each deliberate:
//! - commit is instantaneous: the raft leader appends and applies its own proposals at once (after
//!   whatever it had not applied yet, in log order); a follower lags arbitrarily and catches up in
//!   log order in one action (`apply`); the prefix every member applied is compacted away;
//! - a client is connected to a follower (the lowest-numbered member that is not the leader): its
//!   grant commits and that follower applies it and answers; the leader may apply it later, within
//!   one tick (`apply` of the leader, or before its next proposal) — etcd issue 13675's window;
//! - time moves in ticks (1 s): true time advances only after the leader has run its due scans
//!   (expired leases, due checkpoints) and applied what it committed before the last tick, so a
//!   lease is never late because nobody scanned; a member's clock lags true time by at most the
//!   drift bound (default 0: one clock);
//! - a renew is forwarded to the raft leader, which confirms leadership and waits until it has
//!   applied everything committed before renewing (etcd's fixes for 15247 and 13675); its
//!   checkpoint round trip (`{id, 0}`) is appended and applied at once;
//! - a stalled old leader whose lessor was not demoted yet may scan: it fails to confirm its
//!   leadership, so it proposes no revokes (etcd's fix for 15247), and its checkpoints are lost;
//! - each client has at most one keep-alive reply in flight (delivered or lost in any order
//!   relative to the other client's); a client whose local deadline passes, or that hears
//!   `ttl <= 0`, ends its keep-alive; a scenario may have clients that never keep alive
//!   (`keepalive: false`: grant, put, and stop, as a crashed client does);
//! - leader changes are bounded (`elections_max`).
//!
//! It never returns `None` from `next_state`: disabled actions are filtered in `actions`.

use std::fmt;

use leasesim::bugs::{Bug, Bugs};
use leasesim::expiry::ExpiryQueue;
use leasesim::kv::Kv;
use leasesim::lease::{LeaseError, LeaseId, Lessor, LessorConfig, MAX_CHECKPOINT_BATCH, RenewBegin};
use leasesim::oracle::{self, History, Verdict, Violation};
use leasesim::time::{Duration, Instant};
use stateright::{Model, Property};

use crate::recycled::Recycled;
use crate::small_queue::SmallQueue;
use crate::verdict::{self, Judged};

/// The bounds of the cluster model.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClusterBounds {
    pub members: usize,
    pub clients: usize,
    /// The TTL every client grants.
    pub ttl_s: i64,
    /// True time does not advance past this.
    pub horizon: Duration,
    pub elections_max: u8,
    /// A member's clock lags true time by at most this (a multiple of the tick).
    pub drift: Duration,
    /// The lessors' checkpoint interval (a multiple of the tick).
    pub checkpoint_interval: Duration,
    /// Whether clients keep their leases alive (`false`: a client grants, puts, and stops).
    pub keepalive: bool,
}

impl ClusterBounds {
    /// 2 members, 1 client, TTL 3 s, 3 s of time, 1 leader change, no drift: exhaustive in
    /// seconds. (With checkpointing on, 4 s and 2 leader changes already exceed 3 M states: every
    /// renew that clears a checkpoint schedules one more, as etcd's checkpoint heap does.)
    pub fn small() -> ClusterBounds {
        ClusterBounds {
            members: 2,
            clients: 1,
            ttl_s: 3,
            horizon: Duration::from_secs(3),
            elections_max: 1,
            drift: Duration::ZERO,
            checkpoint_interval: Duration::from_secs(1),
            keepalive: true,
        }
    }
}

/// The cluster model.
#[derive(Clone, Debug)]
pub struct ClusterModel {
    pub lessor: LessorConfig,
    pub bounds: ClusterBounds,
    /// The granularity of time: clocks and scans move in ticks.
    pub tick: Duration,
    /// The election timeout: a promote's extension.
    pub election_timeout: Duration,
}

/// A replicated log entry.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Entry {
    Grant { id: LeaseId, ttl_s: i64 },
    Put { key: String, lease: LeaseId },
    Revoke { id: LeaseId, by_expiry: bool },
    Checkpoint { id: LeaseId, remaining_ttl_s: i64 },
}

/// One member: its lessor and KV, its clock, how much of the (compacted) log it has applied.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct Member {
    pub lessor: Lessor<SmallQueue>,
    pub kv: Kv,
    pub clock: Instant,
    pub applied: usize,
}

leasesim::clone_in_place!(impl for Member { lessor, kv, clock, applied });

/// Where a client's keep-alive stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ClientPhase {
    /// Has not granted its lease yet.
    Idle,
    /// Keeping its lease alive; believes it lives until `deadline` (true time).
    KeepingAlive { deadline: Instant },
    /// Its keep-alive ended (`ttl <= 0` heard, or no reply before the deadline).
    Ended,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Client {
    pub phase: ClientPhase,
    /// The TTL of the keep-alive reply in flight, if one is.
    pub reply: Option<i64>,
    pub put_done: bool,
    /// Sent a keep-alive during the current tick (the keep-alive loop sends one every ttl/3,
    /// i.e. at most once per tick).
    pub sent_this_tick: bool,
}

const SEEN_RENEW_OK: u8 = 1;
const SEEN_REVOKE_DELETED_KEY: u8 = 2;
const SEEN_REPLY_DELIVERED: u8 = 4;

/// A state of the cluster model.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ClusterState {
    /// True time.
    pub now: Instant,
    /// `Recycled` (as `log` and `clients`): a clone fills vectors its thread just dropped.
    pub members: Recycled<Vec<Member>>,
    /// The log entries not yet applied by every member (the applied prefix is compacted away;
    /// `Member::applied` counts entries of this suffix).
    pub log: Recycled<Vec<Entry>>,
    /// The raft leader (whose proposals commit).
    pub leader: usize,
    pub elections: u8,
    /// The leader had entries it had not applied at the last tick: it must apply them before the
    /// next one.
    pub leader_lagged: bool,
    pub clients: Recycled<Vec<Client>>,
    pub history: History,
    seen: u8,
    violation: Option<Violation>,
}

impl Judged for ClusterState {
    fn violation(&self) -> Option<&Violation> {
        self.violation.as_ref()
    }
}

/// An action of the cluster model.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ClusterAction {
    /// True time advances one tick (clocks too far behind are dragged along).
    Tick,
    /// A member's clock advances one tick (it lags true time).
    ClockTick { member: usize },
    /// The member runs its scans (expired leases, due checkpoints) and proposes what they find.
    Scan { member: usize },
    /// A member catches up: applies the log entries it has not applied, in order.
    Apply { member: usize },
    /// Leadership moves to `member`: it applies the log, then promotes.
    Elect { member: usize },
    /// A member that is no longer raft leader demotes its lessor (late).
    Demote { member: usize },
    /// The client grants its lease through the leader.
    Grant { client: usize },
    /// The client puts its key with its lease through the leader.
    Put { client: usize },
    /// The client's keep-alive, forwarded to the leader.
    KeepAlive { client: usize },
    /// The network delivers the client's keep-alive reply.
    Deliver { client: usize },
    /// The network loses the client's keep-alive reply.
    Lose { client: usize },
}

impl fmt::Display for ClusterAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            ClusterAction::Tick => write!(f, "tick"),
            ClusterAction::ClockTick { member } => write!(f, "clock-tick m{member}"),
            ClusterAction::Scan { member } => write!(f, "scan m{member}"),
            ClusterAction::Apply { member } => write!(f, "apply m{member}"),
            ClusterAction::Elect { member } => write!(f, "elect m{member}"),
            ClusterAction::Demote { member } => write!(f, "demote m{member}"),
            ClusterAction::Grant { client } => write!(f, "grant c{client}"),
            ClusterAction::Put { client } => write!(f, "put c{client}"),
            ClusterAction::KeepAlive { client } => write!(f, "keepalive c{client}"),
            ClusterAction::Deliver { client } => write!(f, "deliver c{client}"),
            ClusterAction::Lose { client } => write!(f, "lose c{client}"),
        }
    }
}

const MEMBER_NAMES: [&str; 3] = ["m0", "m1", "m2"];

impl ClusterModel {
    /// The cluster model at its default bounds: 1 s ticks, minimum TTL 1 s, retry interval 1 s,
    /// checkpoint interval 1 s (the bounds'), election timeout 1 s.
    pub fn new(checkpointing: bool, bugs: Bugs) -> ClusterModel {
        ClusterModel::with_bounds(checkpointing, bugs, ClusterBounds::small())
    }

    pub fn with_bounds(checkpointing: bool, bugs: Bugs, bounds: ClusterBounds) -> ClusterModel {
        assert!((2..=3).contains(&bounds.members), "2 or 3 members, not {}", bounds.members);
        assert!((1..=2).contains(&bounds.clients), "1 or 2 clients, not {}", bounds.clients);
        let lessor = LessorConfig {
            min_ttl_s: 1,
            retry_interval: Duration::from_secs(1),
            checkpoint_interval: bounds.checkpoint_interval,
            checkpointing,
            bugs,
            ..LessorConfig::server_defaults()
        };
        ClusterModel { lessor, bounds, tick: Duration::from_secs(1), election_timeout: Duration::from_secs(1) }
    }

    /// The properties this model judges.
    pub const ALWAYS: [&'static str; 10] = [
        oracle::NO_KEY_OUTLIVES_ITS_LEASE,
        oracle::RENEW_NEVER_RESURRECTS,
        oracle::NO_EARLY_REVOKE,
        oracle::REPLICAS_AGREE,
        oracle::KEEPALIVE_IMPLIES_ALIVE,
        oracle::EXPIRY_QUEUE_BOUNDED,
        oracle::REVOKED_IN_TIME,
        oracle::PROMOTE_EXTENSION_BOUNDED,
        oracle::PROMOTE_HONOURS_CHECKPOINT,
        oracle::GRANTED_LEASE_RENEWABLE,
    ];

    fn lease_of(client: usize) -> LeaseId {
        client as LeaseId + 1
    }

    fn key_of(client: usize) -> String {
        format!("k{client}")
    }

    /// The member clients are connected to: the lowest-numbered one that is not the leader.
    fn follower_of(state: &ClusterState) -> usize {
        usize::from(state.leader == 0)
    }

    /// What `promote_extension_bounded` allows a leader change: the election timeout, the
    /// staleness of the last checkpoint (one interval) and the drift bound.
    pub fn promote_allowance(&self) -> Duration {
        self.election_timeout + self.lessor.checkpoint_interval + self.bounds.drift
    }

    /// What `revoked_in_time` allows past a deadline: one tick (scan granularity), the retry
    /// interval and the drift bound (commit is instantaneous).
    pub fn revoke_bound(&self) -> Duration {
        self.tick + self.lessor.retry_interval + self.bounds.drift
    }

    fn has_due_work(&self, member: &Member) -> bool {
        let lessor = &member.lessor;
        lessor.is_primary()
            && (lessor.expiry_queue().peek().is_some_and(|(_, deadline)| deadline <= member.clock)
                || (self.lessor.checkpointing
                    && lessor.checkpoint_schedule().next().is_some_and(|(when, _)| when <= member.clock)))
    }
}

/// True time of a member's local instant.
fn true_time(state: &ClusterState, member: usize, local: Instant) -> Instant {
    let lag = state.now.saturating_since(state.members[member].clock);
    local + lag
}

impl ClusterState {
    /// Applies `entry` on `member` (at its clock), feeding the history where the entry is news.
    fn apply_entry(&mut self, member: usize, entry: &Entry, drift: Duration) -> Verdict {
        let now = self.now;
        let m = &mut self.members[member];
        m.applied += 1;
        match *entry {
            Entry::Grant { id, ttl_s } => {
                let lag = now.saturating_since(m.clock);
                let expiry = m.lessor.grant(m.clock, id, ttl_s).ok().map(|lease| lease.expiry);
                // The leader may apply a grant after the member that answered the client: the
                // deadline it sets then is later than the one the client was promised.
                if member == self.leader
                    && let Some(expiry) = expiry.filter(|e| !e.is_forever())
                {
                    self.history.on_leader_grant(id, expiry + lag);
                }
                Ok(())
            }
            Entry::Put { ref key, lease } => {
                let _ = m.kv.put(&mut m.lessor, key, "v", lease);
                Ok(())
            }
            Entry::Checkpoint { id, remaining_ttl_s } => {
                m.lessor.checkpoint(m.clock, id, remaining_ttl_s);
                // News only where it first applies, on the leader. The compacted log has no stable
                // indices; nothing is forgotten here (no crashes).
                if member == self.leader {
                    self.history.on_checkpoint(0, id, remaining_ttl_s);
                }
                Ok(())
            }
            Entry::Revoke { id, by_expiry } => {
                let Ok(mut ticket) = m.lessor.revoke_begin(id) else { return Ok(()) };
                let keys_before = m.kv.len();
                while !ticket.is_done() {
                    m.lessor.revoke_step(&mut m.kv, &mut ticket);
                }
                if m.kv.len() < keys_before {
                    self.seen |= SEEN_REVOKE_DELETED_KEY;
                }
                oracle::check_revoke_atomic(&ticket)?;
                self.history.on_revoke(now, id, by_expiry, drift)
            }
        }
    }

    /// `member` applies every log entry it has not applied yet, in order.
    fn catch_up(&mut self, member: usize, drift: Duration) -> Verdict {
        while self.members[member].applied < self.log.len() {
            let entry = self.log[self.members[member].applied].clone();
            self.apply_entry(member, &entry, drift)?;
        }
        Ok(())
    }

    /// The leader appends `entry` and applies it at once (after what it had not applied yet).
    fn propose(&mut self, entry: Entry, drift: Duration) -> Verdict {
        self.log.push(entry);
        self.catch_up(self.leader, drift)
    }

    /// Whether `member` has applied a revoke of `id`, for a lease the history says is revoked
    /// (each lease ID is granted once): a revoke still in the log counts once the member applied
    /// it; one compacted away was applied by every member.
    fn applied_revoke(&self, member: usize, id: LeaseId) -> bool {
        let position = self.log.iter().position(|e| matches!(*e, Entry::Revoke { id: r, .. } if r == id));
        position.is_none_or(|p| p < self.members[member].applied)
    }

    /// Drops the log prefix every member has applied.
    fn compact_log(&mut self) {
        let applied_by_all = self.members.iter().map(|m| m.applied).min().unwrap_or(0);
        if applied_by_all > 0 {
            self.log.drain(..applied_by_all);
            for m in self.members.iter_mut() {
                m.applied -= applied_by_all;
            }
        }
    }

    /// The state properties, after every action.
    fn check_state(&self) -> Verdict {
        let revoked = self.history.fates().filter(|(_, f)| f.revoked.is_some()).count();
        for (index, m) in self.members.iter().enumerate() {
            oracle::check_attachments(&m.lessor, &m.kv)?;
            oracle::check_expiry_queue(&m.lessor, revoked)?;
            self.history.check_not_resurrected(&m.lessor, |id| self.applied_revoke(index, id))?;
        }
        let replicas: Vec<(&str, u64, &Lessor<SmallQueue>, &Kv)> = self
            .members
            .iter()
            .enumerate()
            .map(|(i, m)| (MEMBER_NAMES[i], m.applied as u64, &m.lessor, &m.kv))
            .collect();
        oracle::check_replicas_agree(&replicas)
    }
}

fn leader_change_happens(_: &ClusterModel, state: &ClusterState) -> bool {
    state.elections > 0
}
fn renew_succeeds(_: &ClusterModel, state: &ClusterState) -> bool {
    state.seen & SEEN_RENEW_OK != 0
}
fn expired_lease_revoked(_: &ClusterModel, state: &ClusterState) -> bool {
    state.history.fates().any(|(_, fate)| matches!(fate.revoked, Some((_, true))))
}
fn revoke_deletes_a_key(_: &ClusterModel, state: &ClusterState) -> bool {
    state.seen & SEEN_REVOKE_DELETED_KEY != 0
}
fn keepalive_reply_delivered(_: &ClusterModel, state: &ClusterState) -> bool {
    state.seen & SEEN_REPLY_DELIVERED != 0
}
fn checkpoint_applies(_: &ClusterModel, state: &ClusterState) -> bool {
    state.members.iter().any(|m| m.lessor.leases_by_id().any(|l| l.remaining_ttl_s > 0))
}

impl Model for ClusterModel {
    type State = ClusterState;
    type Action = ClusterAction;

    fn init_states(&self) -> Vec<ClusterState> {
        let mut members: Vec<Member> = (0..self.bounds.members)
            .map(|i| Member {
                lessor: Lessor::new(LessorConfig { map_order_salt: i as u64, ..self.lessor.clone() }),
                kv: Kv::new(),
                clock: Instant::EPOCH,
                applied: 0,
            })
            .collect();
        members[0].lessor.promote(Instant::EPOCH, Duration::ZERO);
        let client = Client { phase: ClientPhase::Idle, reply: None, put_done: false, sent_this_tick: false };
        vec![ClusterState {
            now: Instant::EPOCH,
            members: Recycled::new(members),
            log: Recycled::new(Vec::new()),
            leader: 0,
            elections: 0,
            leader_lagged: false,
            clients: Recycled::new(vec![client; self.bounds.clients]),
            history: History::new(),
            seen: 0,
            violation: None,
        }]
    }

    fn actions(&self, state: &ClusterState, actions: &mut Vec<ClusterAction>) {
        if state.violation.is_some() {
            return;
        }
        let leader = &state.members[state.leader];
        let leader_behind = leader.applied < state.log.len();
        if state.now + self.tick <= Instant::EPOCH + self.bounds.horizon
            && !self.has_due_work(leader)
            && !(state.leader_lagged && leader_behind)
        {
            actions.push(ClusterAction::Tick);
        }
        for (member, m) in state.members.iter().enumerate() {
            if m.clock + self.tick <= state.now {
                actions.push(ClusterAction::ClockTick { member });
            }
            if self.has_due_work(m) {
                actions.push(ClusterAction::Scan { member });
            }
            if m.applied < state.log.len() {
                actions.push(ClusterAction::Apply { member });
            }
            if member == state.leader {
                continue;
            }
            if state.elections < self.bounds.elections_max {
                actions.push(ClusterAction::Elect { member });
            }
            if m.lessor.is_primary() {
                actions.push(ClusterAction::Demote { member });
            }
        }
        for (client, c) in state.clients.iter().enumerate() {
            match c.phase {
                ClientPhase::Idle => actions.push(ClusterAction::Grant { client }),
                ClientPhase::KeepingAlive { .. } => {
                    let id = ClusterModel::lease_of(client);
                    if !c.put_done && leader.lessor.lookup(id).is_some() {
                        actions.push(ClusterAction::Put { client });
                    }
                    if self.bounds.keepalive && c.reply.is_none() && !c.sent_this_tick {
                        actions.push(ClusterAction::KeepAlive { client });
                    }
                }
                ClientPhase::Ended => {}
            }
            if c.reply.is_some() {
                actions.push(ClusterAction::Deliver { client });
                actions.push(ClusterAction::Lose { client });
            }
        }
    }

    fn next_state(&self, state: &ClusterState, action: ClusterAction) -> Option<ClusterState> {
        let mut next = state.clone();
        let drift = self.bounds.drift;
        let verdict = match action {
            ClusterAction::Tick => {
                next.leader_lagged = next.members[next.leader].applied < next.log.len();
                next.now = next.now + self.tick;
                let floor = Instant::from_ms(next.now.as_ms().saturating_sub(drift.as_ms()));
                for m in next.members.iter_mut() {
                    m.clock = m.clock.max(floor);
                }
                let now = next.now;
                for c in next.clients.iter_mut() {
                    c.sent_this_tick = false;
                    if matches!(c.phase, ClientPhase::KeepingAlive { deadline } if deadline < now) {
                        c.phase = ClientPhase::Ended;
                    }
                }
                next.history.check_revoked_in_time(now, self.revoke_bound(), self.lessor.retry_interval)
            }
            ClusterAction::ClockTick { member } => {
                next.members[member].clock = next.members[member].clock + self.tick;
                Ok(())
            }
            ClusterAction::Scan { member } => self.scan(&mut next, member),
            ClusterAction::Apply { member } => next.catch_up(member, drift),
            ClusterAction::Elect { member } => self.elect(&mut next, member),
            ClusterAction::Demote { member } => {
                next.members[member].lessor.demote();
                Ok(())
            }
            ClusterAction::Grant { client } => {
                let (id, ttl_s) = (ClusterModel::lease_of(client), self.bounds.ttl_s);
                let ttl_s = ttl_s.max(self.lessor.min_ttl_s);
                next.clients[client].phase =
                    ClientPhase::KeepingAlive { deadline: next.now + Duration::from_secs_i64(ttl_s) };
                // Committed, applied and answered by the client's member; the leader may lag.
                next.history.on_grant(next.now, id, ttl_s);
                next.log.push(Entry::Grant { id, ttl_s });
                next.catch_up(ClusterModel::follower_of(&next), drift)
            }
            ClusterAction::Put { client } => {
                next.clients[client].put_done = true;
                let entry = Entry::Put { key: ClusterModel::key_of(client), lease: ClusterModel::lease_of(client) };
                next.propose(entry, drift)
            }
            ClusterAction::KeepAlive { client } => {
                next.clients[client].sent_this_tick = true;
                self.keep_alive(&mut next, client)
            }
            ClusterAction::Deliver { client } => {
                let now = next.now;
                let c = &mut next.clients[client];
                let ttl_s = c.reply.take().expect("Deliver is enabled only with a reply in flight");
                next.seen |= SEEN_REPLY_DELIVERED;
                if let ClientPhase::KeepingAlive { .. } = c.phase {
                    c.phase = if ttl_s > 0 {
                        ClientPhase::KeepingAlive { deadline: now + Duration::from_secs_i64(ttl_s) }
                    } else {
                        ClientPhase::Ended
                    };
                }
                Ok(())
            }
            ClusterAction::Lose { client } => {
                next.clients[client].reply = None;
                Ok(())
            }
        };
        let verdict = verdict.and_then(|()| next.check_state());
        verdict::record(&mut next.violation, verdict);
        if next.members[next.leader].applied == next.log.len() {
            next.leader_lagged = false;
        }
        next.compact_log();
        Some(next)
    }

    fn format_action(&self, action: &ClusterAction) -> String {
        action.to_string()
    }

    fn properties(&self) -> Vec<Property<Self>> {
        let mut properties = verdict::always_properties(&ClusterModel::ALWAYS);
        properties.push(Property::sometimes("leader_change_happens", leader_change_happens));
        properties.push(Property::sometimes("renew_succeeds", renew_succeeds));
        properties.push(Property::sometimes("lease_expires_and_is_revoked", expired_lease_revoked));
        properties.push(Property::sometimes("revoke_deletes_a_key", revoke_deletes_a_key));
        properties.push(Property::sometimes("keepalive_reply_delivered", keepalive_reply_delivered));
        if self.lessor.checkpointing {
            properties.push(Property::sometimes("checkpoint_applies", checkpoint_applies));
        }
        properties
    }

    fn within_boundary(&self, state: &ClusterState) -> bool {
        state.now <= Instant::EPOCH + self.bounds.horizon
    }
}

impl ClusterModel {
    /// A member's scans. The raft leader proposes (and applies) what they find. A stalled old
    /// leader fails to confirm its leadership, so it proposes no revokes, and its checkpoints are
    /// lost (it is no longer leader).
    fn scan(&self, state: &mut ClusterState, member: usize) -> Verdict {
        let drift = self.bounds.drift;
        let m = &mut state.members[member];
        let expired = m.lessor.find_expired_leases(m.clock);
        let checkpoints = m.lessor.find_due_checkpoints(m.clock, MAX_CHECKPOINT_BATCH);
        if member != state.leader {
            if self.lessor.bugs.has(Bug::Etcd15247) {
                // BUG etcd-15247: the scan proposed revokes without confirming leadership; raft
                // forwards the old leader's proposals to the new leader, and they commit in log
                // order, revoking leases that clients keep alive through the new leader.
                for id in expired {
                    state.propose(Entry::Revoke { id, by_expiry: true }, drift)?;
                }
            }
            return Ok(());
        }
        for id in expired {
            state.propose(Entry::Revoke { id, by_expiry: true }, drift)?;
        }
        for (id, remaining_ttl_s) in checkpoints {
            state.propose(Entry::Checkpoint { id, remaining_ttl_s }, drift)?;
        }
        Ok(())
    }

    /// Leadership moves to `member`: it applies the rest of the log, then promotes; each lease's
    /// new deadline is judged against the deadline in force.
    fn elect(&self, state: &mut ClusterState, member: usize) -> Verdict {
        state.catch_up(member, self.bounds.drift)?;
        state.leader = member;
        state.elections += 1;
        let clock = state.members[member].clock;
        state.members[member].lessor.promote(clock, self.election_timeout);
        let expiries: Vec<(LeaseId, Instant)> =
            state.members[member].lessor.leases_by_id().map(|l| (l.id, true_time(state, member, l.expiry))).collect();
        for (id, expiry) in expiries {
            let (extend, drift) = (self.election_timeout, self.bounds.drift);
            state.history.check_promote_honours_checkpoint(state.now, id, expiry, extend, drift, None)?;
            state.history.check_promote_extension(state.now, id, expiry, self.promote_allowance())?;
            state.history.on_promote(id, expiry);
        }
        Ok(())
    }

    /// A keep-alive forwarded to the leader: once the leader has applied everything committed,
    /// renew (with its checkpoint round trip when needed), and a reply on the network, unless the
    /// renew blocks on an expired lease.
    fn keep_alive(&self, state: &mut ClusterState, client: usize) -> Verdict {
        let (id, drift, leader) = (ClusterModel::lease_of(client), self.bounds.drift, state.leader);
        // BUG etcd-13675 (the catch-up skipped): the leader renewed without waiting to apply what
        // was committed, so a keep-alive right after a grant could miss the grant.
        if !self.lessor.bugs.has(Bug::Etcd13675) {
            state.catch_up(leader, drift)?; // etcd's fix: wait until applied reaches committed
        }
        let clock = state.members[leader].clock;
        let ticket = match state.members[leader].lessor.renew_begin(clock, id) {
            Ok(RenewBegin::Proceed(ticket)) => ticket,
            Ok(RenewBegin::Blocked) => return Ok(()), // waits for the revoke; no reply yet
            Err(error) => {
                state.clients[client].reply = Some(0); // the stream answers ttl 0
                if error == LeaseError::LeaseNotFound {
                    return state.history.check_renew_not_found(state.now, id, drift);
                }
                return Ok(());
            }
        };
        if ticket.needs_checkpoint {
            state.propose(Entry::Checkpoint { id, remaining_ttl_s: 0 }, drift)?;
        }
        match state.members[leader].lessor.renew_finish(clock, ticket) {
            Ok(ttl_s) => {
                state.seen |= SEEN_RENEW_OK;
                state.clients[client].reply = Some(ttl_s);
                state.history.check_renew_not_expired(state.now, id, drift)?;
                state.history.on_renew_ok(state.now, id, ttl_s)?;
                let m = &state.members[leader];
                oracle::check_keepalive_alive(&m.lessor, &m.kv, id)
            }
            Err(_) => {
                state.clients[client].reply = Some(0);
                Ok(())
            }
        }
    }
}
