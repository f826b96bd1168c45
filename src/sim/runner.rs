//! One simulated run: builds the world from a seed and options (clocks, network, members, clients,
//! faults), runs the discrete-event loop through a faulty phase and a healing phase, checks the
//! oracle after every event in true time, and reports.
//!
//! Owns the event vocabulary, fault injection timing, the bookkeeping between members and the
//! oracle's `History` (first apply of each log index is what the history records), the online state
//! checks, the end-of-run convergence check and the statistics. It does not implement lease
//! semantics (the lessor does), raft (raft-rs does) or properties (the oracle does), and it never
//! reads a wall clock: the CLI times runs.

use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::io::Write;

use super::client::{CLIENT_POLL, Client, ClientConfig, ClientOp};
use super::clock::{CLOCK_STEP_BOUND_MS, Clock, drift_tolerance};
use super::faults::{FaultCounts, FaultKind, Faults};
use super::lock::Storage;
use super::member::{Member, Output, TICK_MS};
use super::network::{Addr, Network};
use super::options::{FaultMode, Resolved, SimOptions};
use super::proto::{Payload, Reply, Request};
use super::report::{Report, Stats};
use super::rng::{SimRng, Streams};
use super::schedule::{Fate, FaultAction, Item, Schedule};
use super::trace::TraceSink;
use super::world::EventQueue;
use crate::lease::{EXPIRY_SCAN_PERIOD, LeaseId, LessorConfig};
use crate::oracle::{self, History, LockWrites, Verdict, Violation};
use crate::time::{Duration, Instant};
use crate::trace::{Command, TraceConfig};

/// Election ticks are drawn per member (and per restart) in this range: with raft-rs's own range
/// pinned to one value, this and the tick jitter are where election randomness comes from.
const ELECTION_TICKS: (u64, u64) = (10, 20);
/// Each tick interval is `TICK_MS` ± this many percent.
const TICK_JITTER_PCT: u64 = 20;
/// Every member must have applied, by the end, what any member had applied this long before it.
const CATCH_UP: Duration = Duration::from_ms(2_000);
/// Member names in reports (members are 1-based there, as raft IDs are).
const MEMBER_NAMES: [&str; 5] = ["m1", "m2", "m3", "m4", "m5"];
/// How many recent events a violation report shows.
const LAST_EVENTS: usize = 40;
/// Allowance for a revoke to be proposed, committed and applied once leadership is confirmed.
const COMMIT_ALLOWANCE: Duration = Duration::from_ms(3_000);
/// Allowance for a checkpoint to commit in an undisturbed network (judging promote extensions).
const PROMOTE_COMMIT_ALLOWANCE: Duration = Duration::from_ms(1_000);
/// Replicas are compared by digest after every change, and in full (as a safety net for the
/// digests) once every this many changed members, and at the end of a run.
const FULL_REPLICA_CHECK_EVERY: u64 = 1_000;

#[derive(Clone, Debug)]
enum Event {
    Tick(usize),
    Scan(usize),
    Deliver {
        from: Addr,
        to: Addr,
        payload: Payload,
        /// When it was sent (for the trace's readers).
        sent: Instant,
    },
    ClientPoll(usize),
    Fault(FaultKind),
    PartitionHeal(u64),
    Restart(usize),
    StallEnd(usize),
    Heal,
    /// Near the end: what every member must have applied by the end.
    CatchUpMark,
    /// The lock workload's client stall (GC pause) strikes, and ends.
    ClientStall,
    ClientStallEnd(usize),
}

/// A run in progress.
pub struct Sim<'t> {
    seed: u64,
    options: SimOptions,
    resolved: Resolved,
    streams: Streams,
    queue: EventQueue<Event>,
    now: Instant,
    end: Instant,
    healing: bool,
    network: Network,
    members: Vec<Member>,
    member_clocks: Vec<Clock>,
    /// The member clocks before any step (what a schedule records).
    initial_member_clocks: Vec<Clock>,
    stalled_until: Vec<Option<Instant>>,
    clients: Vec<Client>,
    client_clocks: Vec<Clock>,
    client_stalled_until: Vec<Option<Instant>>,
    /// Each client's latest stall (start, end), to say so when it writes as a second holder.
    client_last_stall: Vec<Option<(Instant, Instant)>>,
    /// The lock workload's protected storage and the accepted writes `lock_exclusive` judges.
    storage: Storage,
    lock_writes: LockWrites,
    history: History,
    /// What every member must have applied by the end (the highest applied index `CATCH_UP` before).
    catch_up_index: u64,
    /// The highest log index whose effects the history has recorded.
    recorded_index: u64,
    /// Where each revoked lease's revoke sits in the log (its current incarnation).
    revoke_index: BTreeMap<LeaseId, u64>,
    revoked_count: usize,
    /// The number of promotions when each lease was granted.
    promotions_at_grant: BTreeMap<LeaseId, u64>,
    /// Each lease's grant (current incarnation): its log index and first apply (true time).
    grant_applied: BTreeMap<LeaseId, (u64, Instant)>,
    /// How much later than the first apply each member applied a lease's grant (apply lag).
    grant_lateness: BTreeMap<(usize, LeaseId), Duration>,
    /// Replica checks since the last full comparison.
    replica_checks: u64,
    /// Per member: the applied index at its last crash when checkpoints are not persisted (it
    /// lost every remaining TTL checkpointed up to there, etcd issue 17132).
    forgotten_through: Vec<Option<u64>>,
    stats: Stats,
    violation: Option<Violation>,
    /// The recent trace lines, formatted only if a report shows them.
    last_events: VecDeque<(Instant, Line)>,
    trace: TraceSink<'t>,
    /// A seeded run that records its schedule.
    recording: Option<Recording>,
    /// A replay: faults and client operations come from a schedule, not from the streams.
    script: Option<Script>,
    /// The member whose event is being handled, and the one whose event led to the violation.
    acting: Option<usize>,
    violating_member: Option<usize>,
    /// What members did while handling the current event: one buffer, reused event after event.
    outputs: Vec<Output>,
}

/// One member's lessor operations in a run, as trace commands at its local times (see
/// `Member::lessor_log`), with the trace configuration that matches its lessor.
#[derive(Clone, Debug)]
pub struct MemberLog {
    pub member: usize,
    pub config: TraceConfig,
    pub commands: Vec<(Instant, Command)>,
}

/// What a seeded run records of its own choices (see `schedule`).
#[derive(Default)]
struct Recording {
    items: Vec<Item>,
    /// Per fault chain, when its next fault is due.
    pending: BTreeMap<FaultKind, Instant>,
    /// Per link, the fate of each message sent on it (not blocked), in order.
    fates: BTreeMap<(Addr, Addr), Vec<Fate>>,
    /// Per member, its tick intervals and its election ticks at restarts, in order.
    tick_draws: Vec<Vec<u64>>,
    election_draws: Vec<Vec<u64>>,
}

/// A schedule being replayed.
struct Script {
    items: Vec<Item>,
    /// Per fault chain, its items (indices into `items`) not yet struck, in time order.
    chains: BTreeMap<FaultKind, VecDeque<usize>>,
    chain_ends: BTreeMap<FaultKind, Instant>,
    /// Per client, its operations not yet performed, in time order.
    client_ops: Vec<VecDeque<(Instant, ClientOp)>>,
    /// Per link, the recorded message fates not yet used; per member, tick and election draws.
    fates: BTreeMap<(Addr, Addr), VecDeque<Fate>>,
    tick_draws: Vec<VecDeque<u64>>,
    election_draws: Vec<VecDeque<u64>>,
}

impl Script {
    fn new(schedule: &Schedule) -> Script {
        let mut chains: BTreeMap<FaultKind, VecDeque<usize>> = BTreeMap::new();
        let mut client_ops = vec![VecDeque::new(); schedule.options.clients];
        for (index, item) in schedule.items.iter().enumerate() {
            match item {
                Item::Fault { action, .. } => chains.entry(action.chain()).or_default().push_back(index),
                Item::Client { at, client, op } => {
                    if let Some(ops) = client_ops.get_mut(*client) {
                        ops.push_back((*at, op.clone()));
                    }
                }
            }
        }
        let members = schedule.options.members;
        let per_member = |draws: &[Vec<u64>]| -> Vec<VecDeque<u64>> {
            (0..members).map(|m| draws.get(m).cloned().unwrap_or_default().into()).collect()
        };
        Script {
            items: schedule.items.clone(),
            chains,
            chain_ends: schedule.chain_ends.iter().copied().collect(),
            client_ops,
            fates: schedule.fates.iter().map(|(link, fates)| (*link, fates.iter().cloned().collect())).collect(),
            tick_draws: per_member(&schedule.tick_draws),
            election_draws: per_member(&schedule.election_draws),
        }
    }

    /// When chain `kind`'s next fault (or its no-op end) is due; the end is handed out once.
    fn next_due(&mut self, kind: FaultKind) -> Option<Instant> {
        match self.chains.get(&kind).and_then(|c| c.front()) {
            Some(&index) => Some(self.items[index].at()),
            None => self.chain_ends.remove(&kind),
        }
    }
}

/// The periodic fault chains, in the order their first faults are scheduled.
const FAULT_CHAINS: [FaultKind; 5] =
    [FaultKind::PartitionSymmetric, FaultKind::Crash, FaultKind::Stall, FaultKind::ClockStep, FaultKind::LeaderChurn];

/// Runs `seed` under `options` to the end or the first violation.
pub fn run(seed: u64, options: &SimOptions) -> Report {
    Sim::new(seed, options, TraceSink::hash_only(), false).run()
}

/// As `run`, writing the event trace as JSON lines to `out`.
pub fn run_traced(seed: u64, options: &SimOptions, out: &mut dyn Write) -> std::io::Result<Report> {
    let mut sim = Sim::new(seed, options, TraceSink::writing(out), false);
    let report = sim.run_inner();
    sim.trace.finish()?;
    Ok(report)
}

/// As `run` (the same run, event for event), recording the schedule the seed produced.
pub fn run_recorded(seed: u64, options: &SimOptions) -> (Report, Schedule) {
    let mut sim = Sim::new(seed, options, TraceSink::hash_only(), true);
    let report = sim.run_inner();
    let recording = sim.recording.take().expect("set above");
    let schedule = Schedule {
        seed,
        options: options.clone(),
        resolved: sim.resolved.clone(),
        member_clocks: sim.initial_member_clocks.clone(),
        client_clocks: sim.client_clocks.clone(),
        items: recording.items,
        chain_ends: recording.pending.into_iter().collect(),
        fates: recording.fates,
        tick_draws: recording.tick_draws,
        election_draws: recording.election_draws,
        endpoint_draws: sim.clients.iter().map(|c| c.switch_draws().to_vec()).collect(),
    };
    (report, schedule)
}

/// Runs a schedule: its faults and client operations instead of the seed's draws. The unedited
/// schedule of a seed runs exactly the seed's run (the same trace hash).
pub fn replay(schedule: &Schedule) -> Report {
    Sim::replaying(schedule, TraceSink::hash_only()).run()
}

/// As `replay`, logging every member's lessor operations; returns the log of the member whose
/// event led to the violation, if the run had one that a member's event led to.
pub fn replay_logged(schedule: &Schedule) -> (Report, Option<MemberLog>) {
    let mut sim = Sim::replaying(schedule, TraceSink::hash_only());
    for member in &mut sim.members {
        member.lessor_log = Some(Vec::new());
    }
    let report = sim.run_inner();
    let log = sim.violating_member.filter(|_| report.violation.is_some()).map(|m| {
        let member = &mut sim.members[m];
        MemberLog {
            member: m,
            config: TraceConfig { lessor: member.lessor_config().clone(), election_timeout: member.election_timeout() },
            commands: member.lessor_log.take().unwrap_or_default(),
        }
    });
    (report, log)
}

/// As `replay`, writing the event trace as JSON lines to `out`.
pub fn replay_traced(schedule: &Schedule, out: &mut dyn Write) -> std::io::Result<Report> {
    let mut sim = Sim::replaying(schedule, TraceSink::writing(out));
    let report = sim.run_inner();
    sim.trace.finish()?;
    Ok(report)
}

fn lessor_config(options: &SimOptions, resolved: &Resolved, salt: u64) -> LessorConfig {
    LessorConfig {
        min_ttl_s: LessorConfig::min_ttl_for(ELECTION_TICKS.1, TICK_MS),
        checkpointing: resolved.checkpointing,
        checkpoint_persist: resolved.checkpoint_persist,
        checkpoint_interval: options.checkpoint_interval,
        map_order_salt: salt,
        bugs: options.bugs,
        ..LessorConfig::server_defaults()
    }
}

fn draw_clock(rng: &mut SimRng, drift_ppm: u64, counts: &mut FaultCounts) -> Clock {
    let drift = drift_ppm as i64;
    let clock =
        Clock { offset_ms: rng.between(0, 1_000) as i64, drift_ppm: rng.between_i64(-drift, drift), step_ms: 0 };
    if clock.drift_ppm != 0 {
        counts.add(FaultKind::ClockDrift);
    }
    clock
}

impl<'t> Sim<'t> {
    /// A seeded run; `record`: recording its schedule.
    fn new(seed: u64, options: &SimOptions, trace: TraceSink<'t>, record: bool) -> Sim<'t> {
        let mut streams = Streams::new(seed);
        let resolved = Resolved::new(options, &mut streams.faults);
        let mut stats = Stats::default();
        let member_clocks: Vec<Clock> = (0..options.members)
            .map(|_| draw_clock(&mut streams.clocks, resolved.faults.clock_drift_ppm, &mut stats.faults))
            .collect();
        let client_clocks: Vec<Clock> = (0..options.clients)
            .map(|_| draw_clock(&mut streams.clocks, resolved.faults.clock_drift_ppm, &mut stats.faults))
            .collect();
        let mut sim = Sim::build(seed, options, resolved, streams, stats, member_clocks, client_clocks, trace);
        if record {
            let per_member = vec![Vec::new(); options.members];
            sim.recording =
                Some(Recording { tick_draws: per_member.clone(), election_draws: per_member, ..Recording::default() });
            for client in &mut sim.clients {
                client.log_switches();
            }
        }
        sim.schedule_start();
        sim
    }

    fn replaying(schedule: &Schedule, trace: TraceSink<'t>) -> Sim<'t> {
        let options = &schedule.options;
        let mut stats = Stats::default();
        let member_clocks = schedule.member_clocks[..options.members].to_vec();
        let client_clocks = schedule.client_clocks[..options.clients].to_vec();
        for clock in member_clocks.iter().chain(&client_clocks) {
            if clock.drift_ppm != 0 {
                stats.faults.add(FaultKind::ClockDrift);
            }
        }
        let streams = Streams::new(schedule.seed);
        let resolved = schedule.resolved.clone();
        let mut sim = Sim::build(schedule.seed, options, resolved, streams, stats, member_clocks, client_clocks, trace);
        for (client, draws) in sim.clients.iter_mut().zip(&schedule.endpoint_draws) {
            client.replay_switches(draws.clone());
        }
        sim.script = Some(Script::new(schedule));
        sim.schedule_start();
        sim
    }

    #[allow(clippy::too_many_arguments)]
    fn build(
        seed: u64,
        options: &SimOptions,
        resolved: Resolved,
        mut streams: Streams,
        stats: Stats,
        member_clocks: Vec<Clock>,
        client_clocks: Vec<Clock>,
        trace: TraceSink<'t>,
    ) -> Sim<'t> {
        let members = (0..options.members)
            .map(|i| {
                let ticks = streams.members.between(ELECTION_TICKS.0, ELECTION_TICKS.1 - 1) as usize;
                let salt = streams.members.next_u64();
                let mut member = Member::new(i, options.members, ticks, lessor_config(options, &resolved, salt));
                member.apply_lag = Duration::from_ms(resolved.apply_lag_ms.get(i).copied().unwrap_or(0));
                member
            })
            .collect();
        let client_config = ClientConfig {
            members: options.members,
            leases_max: options.leases_per_client,
            ttl_min_s: options.ttl_min_s,
            ttl_max_s: options.ttl_max_s,
            keepalive_at_grant: options.apply_lag_max > Duration::ZERO,
        };
        let clients = (0..options.clients)
            .map(|i| Client::new(i, client_config, streams.clients.index(options.members)))
            .map(|client| if options.locks { client.with_lock() } else { client })
            .collect();
        let end = Instant::EPOCH + options.duration + options.heal;
        let member_clocks_copy = member_clocks.clone();
        Sim {
            seed,
            options: options.clone(),
            resolved,
            streams,
            queue: EventQueue::new(),
            now: Instant::EPOCH,
            end,
            healing: false,
            network: Network::new(),
            members,
            member_clocks,
            stalled_until: vec![None; options.members],
            clients,
            client_clocks,
            client_stalled_until: vec![None; options.clients],
            client_last_stall: vec![None; options.clients],
            storage: Storage::new(options.fencing),
            lock_writes: LockWrites::new(),
            history: History::new(),
            recorded_index: 0,
            catch_up_index: 0,
            revoke_index: BTreeMap::new(),
            revoked_count: 0,
            promotions_at_grant: BTreeMap::new(),
            grant_applied: BTreeMap::new(),
            grant_lateness: BTreeMap::new(),
            replica_checks: 0,
            forgotten_through: vec![None; options.members],
            stats,
            violation: None,
            last_events: VecDeque::with_capacity(LAST_EVENTS),
            trace,
            initial_member_clocks: member_clocks_copy,
            recording: None,
            script: None,
            acting: None,
            violating_member: None,
            outputs: Vec::new(),
        }
    }

    fn schedule_start(&mut self) {
        for m in 0..self.members.len() {
            self.schedule_tick(m);
            let at = self.member_clocks[m].true_after(self.now, EXPIRY_SCAN_PERIOD);
            self.queue.push(at, Event::Scan(m));
        }
        for c in 0..self.clients.len() {
            let at = self.client_clocks[c].true_after(self.now, CLIENT_POLL);
            self.queue.push(at, Event::ClientPoll(c));
        }
        for kind in FAULT_CHAINS {
            self.schedule_fault(kind);
        }
        self.schedule_client_stall();
        self.queue.push(Instant::EPOCH + self.options.duration, Event::Heal);
        self.queue.push(Instant(self.end.as_ms() - CATCH_UP.as_ms()), Event::CatchUpMark);
    }

    /// Schedules chain `kind`'s next fault: drawn from the faults stream at the resolved rate, or
    /// the schedule's next item of that chain in a replay.
    fn schedule_fault(&mut self, kind: FaultKind) {
        if let Some(script) = &mut self.script {
            if let Some(at) = script.next_due(kind) {
                self.queue.push(at, Event::Fault(kind));
            }
            return;
        }
        let f = &self.resolved.faults;
        let every_ms = match kind {
            FaultKind::PartitionSymmetric => f.partition_every_ms,
            FaultKind::Crash => f.crash_every_ms,
            FaultKind::Stall => f.stall_every_ms,
            FaultKind::ClockStep => f.clock_step_every_ms,
            FaultKind::LeaderChurn => f.churn_every_ms,
            _ => unreachable!("{kind:?} is not a periodic fault"),
        };
        if every_ms == 0 {
            return;
        }
        let delay = self.streams.faults.between(every_ms / 2, every_ms * 3 / 2);
        let at = self.now + Duration::from_ms(delay);
        self.queue.push(at, Event::Fault(kind));
        if let Some(recording) = &mut self.recording {
            recording.pending.insert(kind, at);
        }
    }

    fn schedule_client_stall(&mut self) {
        if let Some(stalls) = self.resolved.client_stalls {
            let delay = self.streams.client_stalls.between(stalls.every_ms / 2, stalls.every_ms * 3 / 2);
            self.queue.push(self.now + Duration::from_ms(delay), Event::ClientStall);
        }
    }

    fn schedule_tick(&mut self, m: usize) {
        let jitter = TICK_MS * TICK_JITTER_PCT / 100;
        let recorded = self.script.as_mut().and_then(|s| s.tick_draws[m].pop_front());
        let interval = recorded.unwrap_or_else(|| self.streams.members.between(TICK_MS - jitter, TICK_MS + jitter));
        if let Some(recording) = &mut self.recording {
            recording.tick_draws[m].push(interval);
        }
        let at = self.member_clocks[m].true_after(self.now, Duration::from_ms(interval));
        self.queue.push(at, Event::Tick(m));
    }

    fn local(&self, m: usize) -> Instant {
        self.member_clocks[m].local(self.now)
    }

    fn faults(&self) -> &Faults {
        &self.resolved.faults
    }

    fn run(mut self) -> Report {
        self.run_inner()
    }

    fn run_inner(&mut self) -> Report {
        self.trace.header(self.seed, &self.options, &self.resolved);
        while let Some((at, seq, event)) = self.queue.pop() {
            if at > self.end {
                break;
            }
            self.now = at;
            self.stats.events += 1;
            let line = Line::Event(describe(&event));
            let sent = match &event {
                Event::Deliver { sent, .. } => Some(*sent),
                _ => None,
            };
            self.record(seq, line, sent);
            self.handle(event);
            if self.violation.is_none() {
                self.check_state();
            }
            if self.violation.is_some() {
                break;
            }
        }
        if self.violation.is_none() {
            self.now = self.end;
            self.check_converged();
        }
        if let Some(v) = &self.violation {
            self.trace.fact(self.now, serde_json::json!({ "violation": v.property, "detail": v.detail }));
        }
        self.finish_stats();
        Report {
            seed: self.seed,
            options: self.options.clone(),
            resolved: self.resolved.clone(),
            stats: self.stats.clone(),
            violation: self.violation.clone(),
            stopped_at: self.now,
            last_events: self.last_events.iter().map(|(at, line)| format!("{:>9} {line}", at.to_string())).collect(),
            trace_hash: self.trace.hash(),
        }
    }

    fn record(&mut self, seq: u64, line: Line, sent: Option<Instant>) {
        self.trace.event(self.now, seq, &line, sent);
        if self.last_events.len() == LAST_EVENTS {
            self.last_events.pop_front();
        }
        self.last_events.push_back((self.now, line));
    }

    fn note(&mut self, text: String) {
        self.record(u64::MAX, Line::Note(text), None);
    }

    fn handle(&mut self, event: Event) {
        let mut out = std::mem::take(&mut self.outputs);
        self.acting = match &event {
            Event::Tick(m) | Event::Scan(m) | Event::Restart(m) | Event::StallEnd(m) => Some(*m),
            Event::Deliver { to: Addr::Member(m), .. } => Some(*m),
            _ => None,
        };
        match event {
            Event::Tick(m) => {
                self.schedule_tick(m);
                // Raft ticks in the Ready loop's goroutine: a stall of either kind stops them.
                if self.stalled_until[m].is_none() {
                    let now = self.local(m);
                    self.members[m].tick(now, &mut out);
                }
            }
            Event::Scan(m) => {
                let at = self.member_clocks[m].true_after(self.now, EXPIRY_SCAN_PERIOD);
                self.queue.push(at, Event::Scan(m));
                let now = self.local(m);
                if self.stalled_until[m].is_none() {
                    self.members[m].scan(now, &mut out);
                } else if self.resolved.disk_stalls {
                    self.members[m].scan_stalled(now, &mut out);
                }
            }
            Event::Deliver { from, to: Addr::Member(m), payload, sent } => {
                if let Some(until) = self.stalled_until[m] {
                    if self.resolved.disk_stalls && matches!(payload, Payload::Raft(_)) {
                        self.members[m].step_stalled(payload);
                    } else {
                        self.queue.push(until, Event::Deliver { from, to: Addr::Member(m), payload, sent });
                    }
                } else {
                    let now = self.local(m);
                    self.members[m].receive(now, from, payload, &mut out);
                }
            }
            Event::Deliver { from, to: Addr::Client(c), payload: Payload::Reply { req, reply }, sent } => {
                if let Some(until) = self.client_stalled_until[c] {
                    let payload = Payload::Reply { req, reply };
                    self.queue.push(until, Event::Deliver { from, to: Addr::Client(c), payload, sent });
                } else {
                    let now = self.client_clocks[c].local(self.now);
                    self.clients[c].on_reply(now, &mut self.streams.clients, req, reply);
                }
            }
            Event::Deliver { to: Addr::Storage, payload: Payload::ProtectedWrite { client, lease, token }, .. } => {
                if let Err(v) = self.protected_write(client, lease, token) {
                    self.violation.get_or_insert(v);
                }
            }
            Event::Deliver { .. } => {}
            Event::ClientPoll(c) => {
                let clock = self.client_clocks[c];
                self.queue.push(clock.true_after(self.now, CLIENT_POLL), Event::ClientPoll(c));
                // A stalled client is frozen: no timers, no keep-alives, no writes.
                if self.client_stalled_until[c].is_none() {
                    let mut sends = Vec::new();
                    let local = clock.local(self.now);
                    let rng = &mut self.streams.clients;
                    if let Some(script) = &mut self.script {
                        let queue = &mut script.client_ops[c];
                        let mut ops = Vec::new();
                        while let Some((at, _)) = queue.front().filter(|(at, _)| *at <= self.now) {
                            let at = *at;
                            let (_, op) = queue.pop_front().expect("looked at");
                            if at == self.now {
                                ops.push(op);
                            }
                        }
                        self.clients[c].poll_scripted(local, rng, ops, &mut sends);
                    } else {
                        let ops = self.clients[c].poll(local, rng, true, &mut sends);
                        if let Some(recording) = &mut self.recording {
                            let items = ops.into_iter().map(|op| Item::Client { at: self.now, client: c, op });
                            recording.items.extend(items);
                        }
                    }
                    for (to, payload) in sends {
                        self.send(Addr::Client(c), to, payload);
                    }
                }
            }
            Event::Fault(kind) => {
                if !self.healing {
                    self.inject(kind, &mut out);
                }
            }
            Event::PartitionHeal(id) => self.network.heal(id),
            Event::Restart(m) => self.restart(m),
            Event::StallEnd(m) => self.end_stall(m, &mut out),
            Event::Heal => self.heal(&mut out),
            Event::CatchUpMark => self.catch_up_index = self.members.iter().map(|m| m.applied).max().unwrap_or(0),
            Event::ClientStall => {
                if !self.healing {
                    self.stall_client();
                }
            }
            Event::ClientStallEnd(c) => self.client_stalled_until[c] = None,
        }
        self.process(&mut out);
        self.outputs = out;
    }

    fn send(&mut self, from: Addr, to: Addr, payload: Payload) {
        let healthy = Faults::none();
        let faults = if self.healing { &healthy } else { &self.resolved.faults };
        let blocked = self.network.is_blocked(from, to);
        let recorded = match &mut self.script {
            Some(script) if !blocked => script.fates.get_mut(&(from, to)).and_then(VecDeque::pop_front),
            _ => None,
        };
        let fated = recorded.filter(|fate| fate.fits(self.healing, faults)).map(|f| f.delays(&mut self.stats.faults));
        let reorders_before = self.stats.faults.get(FaultKind::Reorder);
        let drawn;
        let delays: &[Duration] = match &fated {
            Some(delays) => delays,
            None => {
                drawn = self.network.deliveries(&mut self.streams.network, faults, &mut self.stats.faults, from, to);
                drawn.delays()
            }
        };
        if let Some(recording) = self.recording.as_mut().filter(|_| !blocked) {
            let reorders = (self.stats.faults.get(FaultKind::Reorder) - reorders_before) as u32;
            let delays_ms = delays.iter().map(|d| d.as_ms()).collect();
            let fate = Fate { healing: self.healing, delays_ms, reorders };
            recording.fates.entry((from, to)).or_default().push(fate);
        }
        let sent = self.now;
        if let Some((&last, rest)) = delays.split_last() {
            for &delay in rest {
                self.queue.push(self.now + delay, Event::Deliver { from, to, payload: payload.clone(), sent });
            }
            self.queue.push(self.now + last, Event::Deliver { from, to, payload, sent });
        } else if self.trace.is_writing() {
            let why = if self.network.is_blocked(from, to) { "partition" } else { "loss" };
            let text = describe_message(from, to, &payload).to_string();
            let text = text.strip_prefix("deliver ").unwrap_or(&text);
            self.trace.fact(sent, serde_json::json!({ "drop": text, "why": why }));
        }
    }

    /// A client stall (a GC pause): preferably of a client that owns the lock, so that it freezes
    /// while it believes it holds it.
    fn stall_client(&mut self) {
        let Some(stalls) = self.resolved.client_stalls else { return };
        let running: Vec<usize> = (0..self.clients.len()).filter(|&c| self.client_stalled_until[c].is_none()).collect();
        let owners: Vec<usize> = running.iter().copied().filter(|&c| self.clients[c].owns_lock()).collect();
        let pool = if owners.is_empty() { &running } else { &owners };
        if !pool.is_empty() {
            let c = pool[self.streams.client_stalls.index(pool.len())];
            let length = self.streams.client_stalls.between(500, stalls.max_ms.max(500));
            let until = self.now + Duration::from_ms(length);
            self.client_stalled_until[c] = Some(until);
            self.client_last_stall[c] = Some((self.now, until));
            self.stats.locks.client_stalls += 1;
            self.queue.push(until, Event::ClientStallEnd(c));
            self.note(format!("stall c{c} for {length}ms"));
        }
        self.schedule_client_stall();
    }

    /// A lock holder's write reaches the protected storage: accepted or fenced off, and each
    /// accepted write judged by `lock_exclusive`.
    fn protected_write(&mut self, client: usize, lease: LeaseId, token: i64) -> Verdict {
        if !self.storage.write(token) {
            self.stats.locks.writes_fenced += 1;
            self.note(format!("storage fenced c{client} (token {token})"));
            return Ok(());
        }
        self.stats.locks.writes_accepted += 1;
        let revoked = self.history.fate(lease).and_then(|f| f.revoked);
        if revoked.is_some_and(|(at, _)| at <= self.now) {
            self.stats.locks.writes_after_revoke += 1;
        }
        self.note(format!("storage accepted c{client} (token {token})"));
        let before = self.lock_writes.latest();
        let verdict = self.lock_writes.on_accepted(self.now, client, token);
        if verdict.is_ok() && self.lock_writes.latest() != before {
            self.stats.locks.tenures += 1;
        }
        verdict.map_err(|v| {
            // Say so when the writer was frozen while the other holder took the lock.
            let frozen = self.client_last_stall[client].filter(|&(_, end)| before.is_some_and(|(_, _, at)| end > at));
            match frozen {
                Some((start, end)) => Violation {
                    detail: format!("{}; c{client} was frozen by a client stall from {start} to {end}", v.detail),
                    ..v
                },
                None => v,
            }
        })
    }

    fn restart(&mut self, m: usize) {
        if self.members[m].is_up() {
            return;
        }
        let recorded = self.script.as_mut().and_then(|s| s.election_draws[m].pop_front());
        let ticks = recorded.unwrap_or_else(|| self.streams.members.between(ELECTION_TICKS.0, ELECTION_TICKS.1 - 1));
        if let Some(recording) = &mut self.recording {
            recording.election_draws[m].push(ticks);
        }
        self.members[m].restart(ticks as usize);
    }

    fn end_stall(&mut self, m: usize, out: &mut Vec<Output>) {
        if self.stalled_until[m].take().is_some() {
            let now = self.local(m);
            if self.resolved.disk_stalls {
                // The Ready loop resumes; the lessor's scan kept running during the stall.
                self.members[m].resume(now, out);
            } else {
                // The frozen member resumes: its lessor scan runs at once, on a clock that jumped.
                self.members[m].scan(now, out);
            }
        }
    }

    fn leader(&self) -> Option<usize> {
        (0..self.members.len()).find(|&m| self.members[m].is_leader() && self.stalled_until[m].is_none())
    }

    /// A fault of chain `kind` strikes: drawn from the faults stream (and recorded when recording),
    /// or the schedule's, then applied, then the chain's next one scheduled.
    fn inject(&mut self, kind: FaultKind, out: &mut Vec<Output>) {
        let action = match &mut self.script {
            Some(script) => match script.chains.get_mut(&kind).and_then(VecDeque::pop_front) {
                Some(index) => match &script.items[index] {
                    Item::Fault { action, .. } => action.clone(),
                    Item::Client { .. } => unreachable!("chains hold faults only"),
                },
                None => return, // the chain's end: a fault that never struck
            },
            None => self.draw_fault(kind),
        };
        self.apply_fault(&action, out);
        if let Some(recording) = &mut self.recording {
            recording.items.push(Item::Fault { at: self.now, action });
        }
        self.schedule_fault(kind);
    }

    /// What a fault of chain `kind` does now, drawn from the faults stream.
    fn draw_fault(&mut self, kind: FaultKind) -> FaultAction {
        let n = self.members.len();
        let f = self.faults().clone();
        let rng = &mut self.streams.faults;
        match kind {
            FaultKind::PartitionSymmetric | FaultKind::PartitionOneWay => {
                let one_way = rng.one_in(2);
                let victim = rng.index(n);
                let mut blocked = Vec::new();
                if one_way {
                    let other = if n > 1 && rng.below(10) < 7 {
                        Addr::Member((victim + 1 + rng.index(n - 1)) % n)
                    } else {
                        Addr::Client(rng.index(self.clients.len().max(1)))
                    };
                    blocked.push((Addr::Member(victim), other));
                } else {
                    let mut others: Vec<Addr> = (0..n).filter(|&o| o != victim).map(Addr::Member).collect();
                    if others.is_empty() || rng.one_in(2) {
                        others.extend((0..self.clients.len()).map(Addr::Client));
                    }
                    for other in others {
                        blocked.push((Addr::Member(victim), other));
                        blocked.push((other, Addr::Member(victim)));
                    }
                }
                let length_ms = rng.between(500, f.partition_max_ms.max(500));
                FaultAction::Partition { one_way, blocked, length_ms }
            }
            FaultKind::Crash => {
                let up: Vec<usize> = (0..n).filter(|&m| self.members[m].is_up()).collect();
                if up.is_empty() {
                    return FaultAction::Idle(kind);
                }
                let member = up[rng.index(up.len())];
                FaultAction::Crash { member, down_ms: rng.between(200, f.down_max_ms.max(200)) }
            }
            FaultKind::Stall => {
                let target = self.leader().or_else(|| (0..n).find(|&m| self.members[m].is_up()));
                match target.filter(|&m| self.stalled_until[m].is_none()) {
                    Some(member) => FaultAction::Stall {
                        member,
                        length_ms: self.streams.faults.between(500, f.stall_max_ms.max(500)),
                    },
                    None => FaultAction::Idle(kind),
                }
            }
            FaultKind::ClockStep => {
                let member = rng.index(n);
                FaultAction::ClockStep { member, step_ms: rng.between_i64(-CLOCK_STEP_BOUND_MS, CLOCK_STEP_BOUND_MS) }
            }
            FaultKind::LeaderChurn => match self.leader().filter(|_| n > 1) {
                Some(leader) => FaultAction::TransferLeader { to: (leader + 1 + self.streams.faults.index(n - 1)) % n },
                None => FaultAction::Idle(kind),
            },
            FaultKind::Loss | FaultKind::Duplicate | FaultKind::Reorder | FaultKind::ClockDrift => {
                unreachable!("{kind:?} is injected per message or at start, never scheduled")
            }
        }
    }

    /// Applies a fault. A replayed one that no longer fits (its member is down or already stalled,
    /// leadership is already where it would move) does nothing.
    fn apply_fault(&mut self, action: &FaultAction, out: &mut Vec<Output>) {
        match action {
            FaultAction::Partition { one_way, blocked, length_ms } => {
                let kind = if *one_way { FaultKind::PartitionOneWay } else { FaultKind::PartitionSymmetric };
                self.stats.faults.add(kind);
                let text = format!("partition {:?} for {length_ms}ms", blocked);
                let id = self.network.partition(blocked.clone());
                self.queue.push(self.now + Duration::from_ms(*length_ms), Event::PartitionHeal(id));
                self.note(text);
            }
            &FaultAction::Crash { member: m, down_ms } => {
                if !self.members[m].is_up() {
                    return;
                }
                self.stats.faults.add(FaultKind::Crash);
                if !self.resolved.checkpoint_persist {
                    self.forgotten_through[m] = Some(self.members[m].applied);
                }
                self.acting = Some(m);
                let now = self.local(m);
                self.members[m].crash(now, out);
                self.stalled_until[m] = None;
                self.queue.push(self.now + Duration::from_ms(down_ms), Event::Restart(m));
                self.note(format!("crash m{} for {down_ms}ms", m + 1));
            }
            &FaultAction::Stall { member: m, length_ms } => {
                if !self.members[m].is_up() || self.stalled_until[m].is_some() {
                    return;
                }
                let until = self.now + Duration::from_ms(length_ms);
                self.stalled_until[m] = Some(until);
                self.stats.faults.add(FaultKind::Stall);
                self.queue.push(until, Event::StallEnd(m));
                self.note(format!("stall m{} for {length_ms}ms", m + 1));
            }
            &FaultAction::ClockStep { member: m, step_ms } => {
                self.member_clocks[m].step_ms = step_ms;
                self.stats.faults.add(FaultKind::ClockStep);
                self.note(format!("clock step m{} to {step_ms}ms", m + 1));
            }
            &FaultAction::TransferLeader { to } => {
                let Some(leader) = self.leader().filter(|&l| l != to) else { return };
                self.stats.faults.add(FaultKind::LeaderChurn);
                self.note(format!("transfer leader m{} -> m{}", leader + 1, to + 1));
                let now = self.local(leader);
                self.acting = Some(leader);
                self.members[leader].transfer_leader(to, now, out);
            }
            FaultAction::Idle(_) => {}
        }
    }

    /// The healing phase: partitions heal, crashed members restart, stalls end; from now on the
    /// network is healthy and no fault strikes (clocks keep their drift).
    fn heal(&mut self, out: &mut Vec<Output>) {
        self.healing = true;
        self.network.heal_all();
        for m in 0..self.members.len() {
            self.restart(m);
            self.end_stall(m, out);
        }
    }

    /// Acts on what members did, in order: sends, and the history the oracle judges.
    fn process(&mut self, outputs: &mut Vec<Output>) {
        for output in outputs.drain(..) {
            let verdict = self.process_one(output);
            if let Err(v) = verdict {
                if self.violation.is_none() {
                    self.violating_member = self.acting;
                }
                self.violation.get_or_insert(v);
            }
        }
    }

    fn process_one(&mut self, output: Output) -> Verdict {
        let now = self.now;
        match output {
            Output::Send { from, to, payload } => self.send(from, to, payload),
            Output::AppliedGrant { index, id, ttl_s } => {
                if let (Some(m), Some(&(first_index, first_at))) = (self.acting, self.grant_applied.get(&id))
                    && first_index == index
                    && now > first_at
                {
                    self.grant_lateness.insert((m, id), now.saturating_since(first_at));
                }
                if index > self.recorded_index {
                    self.grant_applied.insert(id, (index, now));
                    self.recorded_index = index;
                    self.history.on_grant(now, id, ttl_s);
                    self.trace_lease(id, "grant", ttl_s);
                    self.revoke_index.remove(&id);
                    self.promotions_at_grant.insert(id, self.stats.leader_changes);
                    self.stats.leases_granted += 1;
                    self.note(format!("history grant {id} ttl={ttl_s}s (index {index})"));
                }
            }
            Output::AppliedRevoke { index, id, by_expiry } => {
                if index > self.recorded_index {
                    self.recorded_index = index;
                    self.note(format!("history revoke {id} by_expiry={by_expiry} (index {index})"));
                    let Some(fate) = self.history.fate(id).cloned() else { return Ok(()) };
                    if fate.revoked.is_none() {
                        if by_expiry {
                            self.stats.leases_expired += 1;
                            self.stats.note_outlived(id, now.saturating_since(fate.promised_deadline));
                        } else {
                            self.stats.leases_revoked += 1;
                        }
                        self.revoke_index.insert(id, index);
                        self.revoked_count += 1;
                    }
                    let tolerance = self.drift_tolerance_of(id);
                    let verdict = self.history.on_revoke(now, id, by_expiry, tolerance);
                    self.trace_lease(id, if by_expiry { "expire" } else { "revoke" }, 0);
                    return verdict;
                }
            }
            Output::RenewOk { member, id, ttl_s, arrived, applied } => {
                self.stats.keepalives += 1;
                if self.promotions_at_grant.get(&id).is_some_and(|&p| p < self.stats.leader_changes) {
                    self.stats.keepalives_across_leader_change += 1;
                }
                let tolerance = self.drift_tolerance_of(id);
                // A leader that applied the grant late (an apply lag) started the lease's clock that
                // much later than the history's deadline, which counts from the first apply.
                let late = self.grant_lateness.get(&(member, id)).copied().unwrap_or(Duration::ZERO);
                self.history.check_renew_not_expired(now, id, tolerance + late)?;
                // A member that has not applied the lease's revoke served the renew from its state
                // as of the keep-alive's arrival (its apply lags): the revoke must not have been
                // applied anywhere before then. One that has applied it must not renew at all.
                let applied_revoke = self.revoke_index.get(&id).is_some_and(|&i| applied >= i);
                let since = if applied_revoke {
                    now
                } else {
                    let arrived = self.member_clocks[member].true_time_of(arrived).min(now);
                    Instant(arrived.as_ms().saturating_sub(tolerance.as_ms()))
                };
                self.history.on_renew_ok_since(now, since, id, ttl_s)?;
                self.trace_lease(id, "renew", ttl_s);
            }
            Output::RenewNotFound { member, id, arrived } => {
                let arrived = self.member_clocks[member].true_time_of(arrived);
                return self.history.check_renew_not_found(arrived, id, self.drift_tolerance_of(id));
            }
            Output::AppliedCheckpoint { index, checkpoints } => {
                if index > self.recorded_index {
                    self.recorded_index = index;
                    for (id, remaining_ttl_s) in checkpoints {
                        self.history.on_checkpoint(index, id, remaining_ttl_s);
                    }
                }
            }
            Output::TimeToLive { id, ttl_s, granted_ttl_s } => {
                let allowance = self.history.leader_change_allowance(id) + self.drift_tolerance_of(id);
                return oracle::check_ttl_bounded(id, ttl_s, granted_ttl_s, allowance);
            }
            Output::Promoted { member, expiries, extend } => {
                self.stats.leader_changes += 1;
                self.note(format!("promote m{} ({} leases)", member + 1, expiries.len()));
                let clock = self.member_clocks[member];
                let judge_checkpoints = expiries.len() < LessorConfig::server_defaults().revoke_rate_per_s;
                for (id, expiry) in expiries {
                    let expiry = clock.true_time_of(expiry);
                    if judge_checkpoints {
                        let tolerance = self.drift_tolerance_of(id);
                        let forgotten = self.forgotten_through[member];
                        self.history.check_promote_honours_checkpoint(now, id, expiry, extend, tolerance, forgotten)?;
                    }
                    // The checkpoint that bounds the extension comes at most one interval, one
                    // scan period and a commit after the last one.
                    let allowance = extend
                        + self.options.checkpoint_interval
                        + EXPIRY_SCAN_PERIOD
                        + PROMOTE_COMMIT_ALLOWANCE
                        + self.options.apply_lag_max
                        + self.drift_tolerance_of(id);
                    // `promote_extension_bounded` is measured everywhere and enforced only where etcd
                    // promises it: checkpointing on, no faults (leader churn allowed) and a lease
                    // whose checkpoint chain is alive (a checkpoint applied since its last renew).
                    // Without checkpoints every promote resets the lease (issue 9888, etcd's
                    // default); faults keep checkpoints from committing; and a renew just before a
                    // scheduled checkpoint makes the scan skip the lease (remaining TTL not below
                    // TTL) and never reschedule it — etcd's lessor does the same.
                    if let Err(v) = self.history.check_promote_extension(now, id, expiry, allowance) {
                        self.stats.ttl_resets_beyond_bound += 1;
                        let chain_alive = self.history.fate(id).is_some_and(|f| f.checkpoint.is_some());
                        if self.resolved.checkpointing && self.options.faults == FaultMode::None && chain_alive {
                            return Err(v);
                        }
                    }
                    self.history.on_promote(id, expiry);
                }
            }
            Output::Demoted { member } => self.note(format!("demote m{}", member + 1)),
            Output::RevokeLost { id } => {
                self.stats.revokes_lost += 1;
                self.history.on_revoke_lost(id);
            }
            Output::Violation(v) => return Err(v),
        }
        Ok(())
    }

    /// For the trace's readers: what happened to lease `id` and its promised deadline (true time).
    fn trace_lease(&mut self, id: LeaseId, op: &str, ttl_s: i64) {
        if !self.trace.is_writing() {
            return;
        }
        let deadline = self.history.fate(id).map(|f| f.promised_deadline.as_ms());
        let fact = serde_json::json!({ "lease": id, "op": op, "ttl_s": ttl_s, "deadline_ms": deadline });
        self.trace.fact(self.now, fact);
    }

    /// How much earlier than promised, in true time, clock drift lets `id` be judged expired.
    fn drift_tolerance_of(&self, id: LeaseId) -> Duration {
        let ttl_s = self.history.fate(id).map_or(self.options.ttl_max_s, |f| f.ttl_s);
        drift_tolerance(Duration::from_secs_i64(ttl_s), self.options.drift_bound_ppm)
    }

    /// The state properties, on every member whose state changed, and replica agreement.
    fn check_state(&mut self) {
        let mut checked = Vec::new();
        for m in 0..self.members.len() {
            if !self.members[m].dirty {
                continue;
            }
            checked.push(m);
            self.members[m].dirty = false;
            let touched = self.members[m].touched.take();
            let member = &self.members[m];
            let applied = member.applied;
            let attachments = if touched.all {
                oracle::check_attachments(&member.lessor, &member.kv)
            } else {
                let keys = touched.keys.iter().map(String::as_str);
                oracle::check_attachments_of(&member.lessor, &member.kv, keys, touched.leases.iter().copied())
            };
            let verdict = attachments
                .and_then(|()| oracle::check_expiry_queue(&member.lessor, self.revoked_count))
                .and_then(|()| {
                    // A lease can only reappear through a grant (of a touched lease) or a recovery.
                    let applied_revoke = |id| self.revoke_index.get(&id).is_some_and(|&index| applied >= index);
                    if touched.all {
                        self.history.check_not_resurrected(&member.lessor, applied_revoke)
                    } else if touched.granted {
                        let ids = touched.leases.iter().copied();
                        self.history.check_not_resurrected_of(&member.lessor, ids, applied_revoke)
                    } else {
                        Ok(())
                    }
                })
                .map_err(|v| Violation { detail: format!("on m{}: {}", m + 1, v.detail), ..v });
            if let Err(v) = verdict {
                self.violation = Some(v);
                self.violating_member = Some(m);
                return;
            }
        }
        for m in checked {
            self.replica_checks += 1;
            let verdict = if self.replica_checks >= FULL_REPLICA_CHECK_EVERY {
                self.replica_checks = 0;
                self.check_all_replicas_in_full()
            } else {
                self.check_replicas(m)
            };
            if let Err(v) = verdict {
                self.violation = Some(v);
                return;
            }
        }
    }

    fn replica_view(&self, i: usize) -> (&'static str, u64, &crate::lease::Lessor, &crate::kv::Kv) {
        let member = &self.members[i];
        (MEMBER_NAMES[i], member.applied, &member.lessor, &member.kv)
    }

    /// `replicas_agree` between member `m` (whose state changed) and every member at its applied
    /// index (pairs of unchanged members were compared when they last changed), by digest.
    fn check_replicas(&self, m: usize) -> Verdict {
        let applied = self.members[m].applied;
        for other in (0..self.members.len()).filter(|&o| o != m && self.members[o].applied == applied) {
            let pair = [self.replica_view(m), self.replica_view(other)];
            oracle::check_replicas_agree_by_digest(&pair, self.resolved.checkpoint_persist)?;
        }
        Ok(())
    }

    /// `replicas_agree` between every two members at the same applied index, compared in full.
    fn check_all_replicas_in_full(&self) -> Verdict {
        let views: Vec<_> = (0..self.members.len()).map(|i| self.replica_view(i)).collect();
        oracle::check_replicas_agree_with(&views, self.resolved.checkpoint_persist)
    }

    /// The end of the healing phase: every member caught up, and every lease whose deadline passed
    /// long enough ago is revoked (its keys gone, which the state checks already ensure).
    fn check_converged(&mut self) {
        let target = self.catch_up_index;
        if let Some(m) = self.members.iter().find(|m| m.applied < target) {
            self.violation = Some(Violation {
                property: oracle::REPLICAS_AGREE,
                detail: format!(
                    "m{} applied only up to index {} by the end of the healing phase; index {target} was applied \
                     {CATCH_UP} before the end",
                    m.index + 1,
                    m.applied
                ),
            });
            return;
        }
        let retry = LessorConfig::server_defaults().retry_interval;
        let bound = self.revoke_bound();
        let verdict =
            self.check_all_replicas_in_full().and_then(|()| self.history.check_revoked_in_time(self.now, bound, retry));
        if let Err(v) = verdict {
            self.violation = Some(v);
        }
    }

    /// The stated convergence bound: one scan period, one retry interval, the commit allowance (and
    /// the apply lag: the leader's lessor learns of grants that late) and the clock-drift tolerance
    /// of the longest TTL.
    pub fn revoke_bound(&self) -> Duration {
        let retry = LessorConfig::server_defaults().retry_interval;
        EXPIRY_SCAN_PERIOD
            + retry
            + COMMIT_ALLOWANCE
            + self.options.apply_lag_max
            + drift_tolerance(Duration::from_secs_i64(self.options.ttl_max_s), self.options.drift_bound_ppm)
    }

    fn finish_stats(&mut self) {
        self.stats.sim_time = self.now.saturating_since(Instant::EPOCH);
        let now = self.now;
        let overdue: Vec<(LeaseId, Duration)> = self
            .history
            .fates()
            .filter(|(_, f)| f.revoked.is_none())
            .map(|(id, f)| (id, now.saturating_since(f.promised_deadline)))
            .collect();
        for (id, by) in overdue {
            self.stats.note_outlived(id, by);
        }
    }
}

/// One trace line: an event (its fields, hashed as they are and formatted only when a trace is
/// written or a report shows it) or a note about the history.
#[derive(Clone, Debug, Hash)]
enum Line {
    Event(Described),
    Note(String),
}

impl fmt::Display for Line {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Line::Event(described) => described.fmt(f),
            Line::Note(text) => f.write_str(text),
        }
    }
}

/// What an event's trace line shows.
#[derive(Clone, Debug, Hash)]
enum Described {
    Tick(usize),
    Scan(usize),
    Raft {
        from: Addr,
        to: Addr,
        kind: raft::prelude::MessageType,
        term: u64,
        index: u64,
        commit: u64,
        entries: usize,
        reject: bool,
    },
    Request {
        from: Addr,
        to: Addr,
        req: u64,
        request: Request,
        forwarded: bool,
    },
    Reply {
        from: Addr,
        to: Addr,
        req: u64,
        reply: Reply,
    },
    ClientPoll(usize),
    Fault(FaultKind),
    PartitionHeal(u64),
    Restart(usize),
    StallEnd(usize),
    Heal,
    CatchUpMark,
    /// A lock holder's write arriving at the protected storage.
    Write {
        from: Addr,
        to: Addr,
        client: usize,
        lease: LeaseId,
        token: i64,
    },
    ClientStall,
    ClientStallEnd(usize),
}

fn describe(event: &Event) -> Described {
    match event {
        Event::Tick(m) => Described::Tick(*m),
        Event::Scan(m) => Described::Scan(*m),
        Event::Deliver { from, to, payload, .. } => describe_message(*from, *to, payload),
        Event::ClientPoll(c) => Described::ClientPoll(*c),
        Event::Fault(kind) => Described::Fault(*kind),
        Event::PartitionHeal(id) => Described::PartitionHeal(*id),
        Event::Restart(m) => Described::Restart(*m),
        Event::StallEnd(m) => Described::StallEnd(*m),
        Event::Heal => Described::Heal,
        Event::CatchUpMark => Described::CatchUpMark,
        Event::ClientStall => Described::ClientStall,
        Event::ClientStallEnd(c) => Described::ClientStallEnd(*c),
    }
}

/// A message as its delivery's trace line shows it.
fn describe_message(from: Addr, to: Addr, payload: &Payload) -> Described {
    match payload {
        Payload::Raft(msg) => Described::Raft {
            from,
            to,
            kind: msg.get_msg_type(),
            term: msg.term,
            index: msg.index,
            commit: msg.commit,
            entries: msg.entries.len(),
            reject: msg.reject,
        },
        Payload::Request { req, request, forwarded, .. } => {
            Described::Request { from, to, req: *req, request: request.clone(), forwarded: *forwarded }
        }
        Payload::Reply { req, reply } => Described::Reply { from, to, req: *req, reply: reply.clone() },
        Payload::ProtectedWrite { client, lease, token } => {
            Described::Write { from, to, client: *client, lease: *lease, token: *token }
        }
    }
}

impl fmt::Display for Described {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Described::Tick(m) => write!(f, "tick m{}", m + 1),
            Described::Scan(m) => write!(f, "scan m{}", m + 1),
            Described::Raft { from, to, kind, term, index, commit, entries, reject } => write!(
                f,
                "deliver {from}->{to} {kind:?} term={term} index={index} commit={commit} entries={entries}{}",
                if *reject { " reject" } else { "" }
            ),
            Described::Request { from, to, req, request, forwarded } => {
                write!(f, "deliver {from}->{to} req#{req} {request:?}{}", if *forwarded { " forwarded" } else { "" })
            }
            Described::Reply { from, to, req, reply } => write!(f, "deliver {from}->{to} reply#{req} {reply:?}"),
            Described::ClientPoll(c) => write!(f, "poll c{c}"),
            Described::Fault(kind) => write!(f, "fault {}", kind.name()),
            Described::PartitionHeal(id) => write!(f, "heal partition {id}"),
            Described::Restart(m) => write!(f, "restart m{}", m + 1),
            Described::StallEnd(m) => write!(f, "stall end m{}", m + 1),
            Described::Heal => f.write_str("healing phase begins"),
            Described::CatchUpMark => f.write_str("catch-up mark"),
            Described::Write { from, to, client, lease, token } => {
                write!(f, "deliver {from}->{to} write by c{client} lease={lease} token={token}")
            }
            Described::ClientStall => f.write_str("fault client_stall"),
            Described::ClientStallEnd(c) => write!(f, "stall end c{c}"),
        }
    }
}
