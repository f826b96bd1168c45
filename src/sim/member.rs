//! One cluster member: a real raft-rs `RawNode` driven by our ticks and network, applying committed
//! entries in order to its own `Kv` and `Lessor`, and the server logic around the lessor (SPEC §4):
//! promote on applying the first entry of its own term as leader, demote on losing leadership, the
//! 500 ms expiry scan with leadership confirmed by a raft read index before revokes are proposed
//! (≤ 16 in flight), renew at the leader after its applied index reaches the confirmed commit index
//! (with the checkpoint round trip through the log when checkpointing needs it), checkpoint scans,
//! and followers forwarding renews and TimeToLive to the leader. Committed entries are applied at
//! once or, with an apply lag, from a backlog on later ticks (etcd applies asynchronously); in a
//! disk stall raft still steps messages and the lessor still scans while the Ready loop waits.
//!
//! What survives a crash: the raft storage (log, hard state), the KV, the lease records and the
//! applied index (etcd's consistent index). Everything else is lost. The member never reads a clock
//! (its local time comes in as `now`), never draws randomness (its election tick and map-order salt
//! are given) and never sends anything itself: it appends `Output`s for the runner.

use std::collections::{BTreeMap, VecDeque};

use raft::prelude::{ConfState, Entry, EntryType, Message};
use raft::storage::MemStorage;
use raft::{Config, RawNode, ReadOnlyOption, StateRole};

use super::network::Addr;
use super::proto::{Op, Payload, Proposal, Reply, Request};
use crate::bugs::Bug;
use crate::kv::{Key, Kv};
use crate::lease::{
    LeaseError, LeaseId, Lessor, LessorConfig, MAX_CHECKPOINT_BATCH, RenewBegin, RenewTicket, RevokeStep,
};
use crate::oracle::{self, Violation};
use crate::time::{Duration, Instant};
use crate::trace::Command;

/// Raft's tick, in local milliseconds (etcd's default heartbeat interval).
pub const TICK_MS: u64 = 100;
/// etcd's `maxPendingRevokes`.
pub const MAX_REVOKES_IN_FLIGHT: usize = 16;
/// A leadership confirmation older than this (from request to answer) no longer proves leadership.
pub const CONFIRMATION_FRESH: Duration = Duration::from_ms(500);
/// How long a leadership confirmation or a revoke proposal may take before it counts as failed.
pub const SERVER_REQUEST_TIMEOUT: Duration = Duration::from_ms(3_000);

/// What a member did that the runner must act on, in order.
#[derive(Clone, Debug)]
pub enum Output {
    Send {
        from: Addr,
        to: Addr,
        payload: Payload,
    },
    /// A grant succeeded when log entry `index` was applied here.
    AppliedGrant {
        index: u64,
        id: LeaseId,
        ttl_s: i64,
    },
    /// A revoke removed `id` when log entry `index` was applied here.
    AppliedRevoke {
        index: u64,
        id: LeaseId,
        by_expiry: bool,
    },
    /// A keep-alive reply `ttl_s > 0` was produced for `id` (already checked against this member),
    /// with this member's applied index then, for a keep-alive that reached it at local time
    /// `arrived`.
    RenewOk {
        member: usize,
        id: LeaseId,
        ttl_s: i64,
        arrived: Instant,
        applied: u64,
    },
    /// A keep-alive of `id` that reached this member at local time `arrived` was answered TTL 0
    /// because the lessor does not know the lease.
    RenewNotFound {
        member: usize,
        id: LeaseId,
        arrived: Instant,
    },
    /// Checkpoints were applied when log entry `index` was applied here.
    AppliedCheckpoint {
        index: u64,
        checkpoints: Vec<(LeaseId, i64)>,
    },
    /// A TimeToLive reply was produced for a known lease.
    TimeToLive {
        id: LeaseId,
        ttl_s: i64,
        granted_ttl_s: i64,
    },
    /// This member promoted its lessor; the leases' expiries in its local time, and the extend.
    Promoted {
        member: usize,
        expiries: Vec<(LeaseId, Instant)>,
        extend: Duration,
    },
    Demoted {
        member: usize,
    },
    /// A revoke proposal for `id` was lost before it was applied here.
    RevokeLost {
        id: LeaseId,
    },
    Violation(Violation),
}

/// A client request waiting at this member.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Waiter {
    client: usize,
    req: u64,
    /// When the request reached this member (local time).
    arrived: Instant,
}

/// What a leadership confirmation (read index) is for.
#[derive(Clone, Debug)]
enum Confirm {
    Renews(Vec<(Waiter, LeaseId)>),
    Scan(Vec<LeaseId>),
}

/// What a proposal of this member waits for.
#[derive(Clone, Debug)]
enum Pending {
    Client(Waiter),
    RenewCheckpoint(Waiter, RenewTicket),
    Revoke(LeaseId, Instant),
    Checkpoints,
}

/// Everything a crash loses.
#[derive(Default)]
struct Volatile {
    node: Option<RawNode<MemStorage>>,
    promoted_term: u64,
    pending: BTreeMap<u64, Pending>,
    renews_waiting: Vec<(Waiter, LeaseId)>,
    renew_confirm_outstanding: bool,
    confirmations: BTreeMap<u64, (Confirm, Instant)>,
    after_apply: Vec<(u64, Confirm)>,
    blocked: Vec<(Waiter, LeaseId)>,
    revoke_queue: VecDeque<LeaseId>,
    revokes_in_flight: usize,
    /// Raft calls decided during apply, made after the ready is advanced.
    proposals: Vec<(u64, Op)>,
    read_requests: Vec<u64>,
    /// Committed entries raft handed over but not applied yet, each with when it is due (see
    /// `Member::apply_lag`). Lost in a crash: raft hands them over again after the restart, from
    /// the applied index on.
    backlog: VecDeque<(Instant, Entry)>,
}

/// One member.
pub struct Member {
    pub index: usize,
    election_tick: usize,
    lessor_config: LessorConfig,
    // What survives a crash.
    storage: MemStorage,
    pub lessor: Lessor,
    pub kv: Kv,
    pub applied: u64,
    next_tag: u64,
    /// How long after raft hands committed entries over this member applies them (etcd applies
    /// asynchronously; a slow disk makes a member apply late). Zero: at once.
    pub apply_lag: Duration,
    // What does not.
    v: Volatile,
    /// State changed since the runner last checked it.
    pub dirty: bool,
    /// What changed since the last check: keys and leases whose attachments may differ, or
    /// everything (after a crash).
    pub touched: Touched,
    /// When set, every lessor operation this member makes, at its local time, as the trace command
    /// that makes it (the raw material of a `leasesim replay` trace of this member).
    pub lessor_log: Option<Vec<(Instant, Command)>>,
}

/// The keys and leases an apply touched, so the runner can check attachments where they changed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Touched {
    pub all: bool,
    /// A grant was applied (the only way, besides recovery, that a lease appears).
    pub granted: bool,
    pub keys: Vec<String>,
    pub leases: Vec<LeaseId>,
}

impl Touched {
    pub fn take(&mut self) -> Touched {
        std::mem::take(self)
    }
}

impl Member {
    /// A new member of a cluster of `members`, started.
    pub fn new(index: usize, members: usize, election_tick: usize, lessor_config: LessorConfig) -> Member {
        let voters: Vec<u64> = (1..=members as u64).collect();
        let storage = MemStorage::new_with_conf_state(ConfState::from((voters, vec![])));
        let mut member = Member {
            index,
            election_tick,
            lessor: Lessor::new(lessor_config.clone()),
            lessor_config,
            storage,
            kv: Kv::new(),
            applied: 0,
            next_tag: 0,
            apply_lag: Duration::ZERO,
            v: Volatile::default(),
            dirty: true,
            touched: Touched { all: true, ..Touched::default() },
            lessor_log: None,
        };
        member.start();
        member
    }

    fn raft_id(&self) -> u64 {
        self.index as u64 + 1
    }

    fn addr(&self) -> Addr {
        Addr::Member(self.index)
    }

    /// The election timeout: the `extend` of a promote.
    pub fn election_timeout(&self) -> Duration {
        Duration::from_ms(self.election_tick as u64 * TICK_MS)
    }

    pub fn is_up(&self) -> bool {
        self.v.node.is_some()
    }

    /// Whether raft says this member is leader.
    pub fn is_leader(&self) -> bool {
        self.v.node.as_ref().is_some_and(|n| n.raft.state == StateRole::Leader)
    }

    pub fn leader_id(&self) -> Option<usize> {
        let leader = self.v.node.as_ref()?.raft.leader_id;
        (leader != 0).then(|| leader as usize - 1)
    }

    pub fn term(&self) -> u64 {
        self.v.node.as_ref().map_or(0, |n| n.raft.term)
    }

    pub fn commit_index(&self) -> u64 {
        self.storage.rl().hard_state().commit
    }

    fn start(&mut self) {
        let config = Config {
            id: self.raft_id(),
            election_tick: self.election_tick,
            heartbeat_tick: 1,
            // A one-value range: raft-rs then never needs its thread RNG's answer. Randomness comes
            // from the member's election tick and tick jitter, both drawn from the world's RNG.
            min_election_tick: self.election_tick,
            max_election_tick: self.election_tick + 1,
            applied: self.applied,
            check_quorum: true,
            pre_vote: true,
            max_size_per_msg: 1 << 20,
            max_inflight_msgs: 256,
            read_only_option: ReadOnlyOption::Safe,
            ..Config::default()
        };
        let logger = slog::Logger::root(slog::Discard, slog::o!());
        let node = RawNode::new(&config, self.storage.clone(), &logger)
            .unwrap_or_else(|e| panic!("raft member {} failed to start: {e}", self.raft_id()));
        self.v = Volatile { node: Some(node), ..Volatile::default() };
    }

    /// Logs a lessor operation (see `lessor_log`).
    fn log(&mut self, now: Instant, command: Command) {
        if let Some(log) = &mut self.lessor_log {
            log.push((now, command));
        }
    }

    pub fn lessor_config(&self) -> &LessorConfig {
        &self.lessor_config
    }

    /// A crash: everything volatile is lost; the lessor is rebuilt from its records and the KV
    /// re-attached (as a restart would), so what the runner checks is what survived.
    pub fn crash(&mut self, now: Instant, out: &mut Vec<Output>) {
        // A trace's restart recovers and promotes; the crashed member is no leader until elected.
        self.log(now, Command::Restart);
        self.log(now, Command::Demote);
        let lost = std::mem::take(&mut self.v);
        for (_, pending) in lost.pending {
            if let Pending::Revoke(id, _) = pending {
                out.push(Output::RevokeLost { id });
            }
        }
        for (_, (confirm, _)) in lost.confirmations {
            lose_confirm(confirm, out);
        }
        for (_, confirm) in lost.after_apply {
            lose_confirm(confirm, out);
        }
        out.extend(lost.revoke_queue.into_iter().map(|id| Output::RevokeLost { id }));
        if self.lessor.is_primary() {
            out.push(Output::Demoted { member: self.index });
        }
        self.lessor = Lessor::recover(self.lessor_config.clone(), self.lessor.records().clone());
        self.kv.reattach(&mut self.lessor);
        self.dirty = true;
        self.touched.all = true;
    }

    /// A restart after a crash.
    pub fn restart(&mut self, election_tick: usize) {
        self.election_tick = election_tick;
        self.start();
        self.dirty = true;
    }

    /// One raft tick (and the backlog's entries that are due are applied).
    pub fn tick(&mut self, now: Instant, out: &mut Vec<Output>) {
        if self.v.node.is_none() {
            return;
        }
        self.apply_due(now, out);
        self.v.node.as_mut().expect("checked up").tick();
        self.process_ready(now, out);
    }

    /// A raft message arrives while this member's Ready loop is stuck (a disk stall: a slow
    /// fdatasync, etcd issue 15247). Raft still steps it, so the member may learn of a new leader
    /// and step down, but nothing is sent, applied or persisted and the lessor is not demoted
    /// until the Ready is handled (`resume`).
    pub fn step_stalled(&mut self, payload: Payload) {
        if let (Some(node), Payload::Raft(message)) = (self.v.node.as_mut(), payload) {
            let _ = node.step(*message); // stale or unexpected messages are dropped, as in etcd
        }
    }

    /// A disk stall ends: the Ready loop handles what accumulated (messages, including proposals
    /// raft forwarded to a new leader, role changes, read states).
    pub fn resume(&mut self, now: Instant, out: &mut Vec<Output>) {
        self.process_ready(now, out);
    }

    /// Forces a leadership transfer to `to` (leader churn).
    pub fn transfer_leader(&mut self, to: usize, now: Instant, out: &mut Vec<Output>) {
        let Some(node) = self.v.node.as_mut() else { return };
        node.transfer_leader(to as u64 + 1);
        self.process_ready(now, out);
    }

    /// A message arrived.
    pub fn receive(&mut self, now: Instant, from: Addr, payload: Payload, out: &mut Vec<Output>) {
        if self.v.node.is_none() {
            return;
        }
        match payload {
            Payload::Raft(message) => {
                let node = self.v.node.as_mut().expect("checked up");
                let _ = node.step(*message); // stale or unexpected messages are dropped, as in etcd
            }
            Payload::Request { client, req, request, forwarded } => {
                self.on_request(now, from, client, req, request, forwarded, out);
            }
            Payload::Reply { .. } | Payload::ProtectedWrite { .. } => {} // not for members
        }
        self.process_ready(now, out);
    }

    fn reply(&self, waiter: &Waiter, reply: Reply, out: &mut Vec<Output>) {
        out.push(Output::Send {
            from: self.addr(),
            to: Addr::Client(waiter.client),
            payload: Payload::Reply { req: waiter.req, reply },
        });
    }

    #[allow(clippy::too_many_arguments)]
    fn on_request(
        &mut self,
        now: Instant,
        _from: Addr,
        client: usize,
        req: u64,
        request: Request,
        forwarded: bool,
        out: &mut Vec<Output>,
    ) {
        let waiter = Waiter { client, req, arrived: now };
        if request.goes_to_leader() && !self.lessor.is_primary() {
            match self.leader_id() {
                Some(leader) if leader != self.index && !forwarded => out.push(Output::Send {
                    from: self.addr(),
                    to: Addr::Member(leader),
                    payload: Payload::Request { client, req, request, forwarded: true },
                }),
                _ => self.reply(&waiter, Reply::Unavailable, out),
            }
            return;
        }
        let op = match request {
            Request::KeepAlive { id } => {
                self.v.renews_waiting.push((waiter, id));
                if !self.v.renew_confirm_outstanding {
                    self.confirm_renews(now);
                }
                return;
            }
            Request::TimeToLive { id } => {
                let reply = match self.lessor.time_to_live(now, id) {
                    Ok(None) => Reply::TimeToLive { id, ttl_s: -1, granted_ttl_s: 0 },
                    Ok(Some(answer)) => {
                        let (ttl_s, granted_ttl_s) = (answer.ttl_s, answer.granted_ttl_s);
                        out.push(Output::TimeToLive { id, ttl_s, granted_ttl_s });
                        Reply::TimeToLive { id, ttl_s, granted_ttl_s }
                    }
                    Err(e) => Reply::Failed(e),
                };
                self.reply(&waiter, reply, out);
                return;
            }
            Request::Leases => {
                // Answered locally, not linearizable (SPEC §4).
                self.reply(&waiter, Reply::Leases { count: self.lessor.lease_count() }, out);
                return;
            }
            Request::Grant { id, ttl_s } => Op::Grant { id, ttl_s },
            Request::Revoke { id } => Op::Revoke { id, by_expiry: false },
            Request::Put { key, lease } => Op::Put { value: format!("v{req}"), key, lease },
            Request::Delete { key } => Op::Delete { key },
            Request::LockTxn { prefix, key, lease } => Op::LockTxn { prefix, key, lease },
            Request::LockOwner { prefix, key } => Op::LockOwner { prefix, key },
        };
        if let Err(()) = self.propose_now(op, Pending::Client(waiter.clone())) {
            self.reply(&waiter, Reply::Unavailable, out);
        }
    }

    /// Proposes at once (outside a ready cycle).
    fn propose_now(&mut self, op: Op, pending: Pending) -> Result<u64, ()> {
        let tag = self.next_tag;
        self.next_tag += 1;
        let data = Proposal { member: self.index, tag, op }.encode();
        let node = self.v.node.as_mut().ok_or(())?;
        node.propose(vec![], data).map_err(|_| ())?;
        self.v.pending.insert(tag, pending);
        Ok(tag)
    }

    /// Queues a proposal decided inside a ready cycle; made by `flush_raft_calls`.
    fn propose_later(&mut self, op: Op, pending: Pending) {
        let tag = self.next_tag;
        self.next_tag += 1;
        self.v.pending.insert(tag, pending);
        self.v.proposals.push((tag, op));
    }

    fn confirm_renews(&mut self, now: Instant) {
        let renews = std::mem::take(&mut self.v.renews_waiting);
        if renews.is_empty() {
            return;
        }
        self.v.renew_confirm_outstanding = true;
        self.confirm(now, Confirm::Renews(renews));
    }

    fn confirm(&mut self, now: Instant, confirm: Confirm) {
        let ctx = self.next_tag;
        self.next_tag += 1;
        self.v.confirmations.insert(ctx, (confirm, now + SERVER_REQUEST_TIMEOUT));
        self.v.read_requests.push(ctx);
    }

    /// The 500 ms scans (by this member's clock): time out what waited too long, take expired
    /// leases (to revoke once leadership is confirmed), and replicate due checkpoints.
    pub fn scan(&mut self, now: Instant, out: &mut Vec<Output>) {
        if self.v.node.is_none() {
            return;
        }
        self.scan_lessor(now, out);
        self.process_ready(now, out);
    }

    /// The scan of a member in a disk stall: the lessor's timer runs apart from the stuck Ready
    /// loop, so the scan runs and its proposals and read requests reach raft, which steps them
    /// (a follower forwards proposals to its leader); what raft sends waits for `resume`.
    pub fn scan_stalled(&mut self, now: Instant, out: &mut Vec<Output>) {
        if self.v.node.is_some() {
            self.scan_lessor(now, out);
        }
    }

    fn scan_lessor(&mut self, now: Instant, out: &mut Vec<Output>) {
        self.expire_waits(now, out);
        let expired = self.lessor.find_expired_leases(now);
        if !expired.is_empty() {
            if self.lessor_config.bugs.has(Bug::Etcd15247) {
                // BUG etcd-15247: the expiry scan proposed revokes without confirming leadership; an
                // old leader whose lessor was not demoted yet revoked leases that clients kept
                // alive through the new leader (its proposals are forwarded there and commit).
                self.confirmed(now, Confirm::Scan(expired), out);
            } else {
                self.confirm(now, Confirm::Scan(expired));
            }
        }
        if self.is_leader() {
            let due = self.lessor.find_due_checkpoints(now, MAX_CHECKPOINT_BATCH);
            if !due.is_empty() {
                self.propose_later(Op::Checkpoint { checkpoints: due }, Pending::Checkpoints);
            }
        }
        self.flush_raft_calls(out);
    }

    fn expire_waits(&mut self, now: Instant, out: &mut Vec<Output>) {
        let timed_out: Vec<u64> =
            self.v.confirmations.iter().filter(|(_, (_, deadline))| *deadline <= now).map(|(ctx, _)| *ctx).collect();
        for ctx in timed_out {
            let (confirm, _) = self.v.confirmations.remove(&ctx).expect("listed above");
            self.fail_confirm(confirm, out);
        }
        let lost: Vec<u64> = self
            .v
            .pending
            .iter()
            .filter(|(_, p)| matches!(p, Pending::Revoke(_, deadline) if *deadline <= now))
            .map(|(tag, _)| *tag)
            .collect();
        for tag in lost {
            if let Some(Pending::Revoke(id, _)) = self.v.pending.remove(&tag) {
                self.v.revokes_in_flight -= 1;
                out.push(Output::RevokeLost { id });
            }
        }
        self.pump_revokes(now, out);
    }

    fn fail_confirm(&mut self, confirm: Confirm, out: &mut Vec<Output>) {
        if let Confirm::Renews(renews) = &confirm {
            self.v.renew_confirm_outstanding = false;
            for (waiter, _) in renews {
                self.reply(waiter, Reply::Unavailable, out);
            }
        }
        lose_confirm(confirm, out);
    }

    fn flush_raft_calls(&mut self, out: &mut Vec<Output>) {
        if self.v.proposals.is_empty() && self.v.read_requests.is_empty() {
            return; // nothing to make (the common case: every turn of every ready loop comes here)
        }
        let proposals = std::mem::take(&mut self.v.proposals);
        let reads = std::mem::take(&mut self.v.read_requests);
        let Some(node) = self.v.node.as_mut() else { return };
        let mut failed = Vec::new();
        for (tag, op) in proposals {
            let data = Proposal { member: self.index, tag, op }.encode();
            if node.propose(vec![], data).is_err() {
                failed.push(tag);
            }
        }
        for ctx in reads {
            node.read_index(ctx.to_be_bytes().to_vec());
        }
        for tag in failed {
            match self.v.pending.remove(&tag) {
                Some(Pending::Client(w)) | Some(Pending::RenewCheckpoint(w, _)) => {
                    self.reply(&w, Reply::Unavailable, out)
                }
                Some(Pending::Revoke(id, _)) => {
                    self.v.revokes_in_flight -= 1;
                    out.push(Output::RevokeLost { id });
                }
                Some(Pending::Checkpoints) | None => {}
            }
        }
    }

    /// Drives raft's ready loop until it has nothing more: send, apply, persist, advance.
    fn process_ready(&mut self, now: Instant, out: &mut Vec<Output>) {
        loop {
            self.flush_raft_calls(out);
            let Some(node) = self.v.node.as_mut() else { return };
            if !node.has_ready() {
                break;
            }
            let mut ready = node.ready();
            let messages = ready.take_messages();
            self.send_raft(messages, out);
            let committed = ready.take_committed_entries();
            self.commit_entries(now, committed, out);
            if !ready.entries().is_empty() {
                self.storage.wl().append(ready.entries()).expect("append to memory storage");
            }
            if let Some(hs) = ready.hs() {
                self.storage.wl().set_hardstate(hs.clone());
            }
            let read_states = ready.take_read_states();
            let persisted = ready.take_persisted_messages();
            self.send_raft(persisted, out);
            let node = self.v.node.as_mut().expect("still up");
            let mut light = node.advance(ready);
            if let Some(commit) = light.commit_index() {
                self.storage.wl().mut_hard_state().set_commit(commit);
            }
            let messages = light.take_messages();
            self.send_raft(messages, out);
            let committed = light.take_committed_entries();
            self.commit_entries(now, committed, out);
            self.v.node.as_mut().expect("still up").advance_apply();
            for read_state in read_states {
                self.on_read_state(now, read_state.index, &read_state.request_ctx, out);
            }
            self.observe_role(now, out);
        }
        self.observe_role(now, out);
    }

    fn send_raft(&self, messages: Vec<Message>, out: &mut Vec<Output>) {
        for message in messages {
            let to = Addr::Member(message.to as usize - 1);
            out.push(Output::Send { from: self.addr(), to, payload: Payload::Raft(Box::new(message)) });
        }
    }

    /// Demotes when raft says this member is no longer the leader of the term it promoted in.
    fn observe_role(&mut self, now: Instant, out: &mut Vec<Output>) {
        if !self.lessor.is_primary() {
            return;
        }
        let still = self.is_leader() && self.term() == self.v.promoted_term;
        if still {
            return;
        }
        self.lessor.demote();
        self.log(now, Command::Demote);
        self.dirty = true;
        out.push(Output::Demoted { member: self.index });
        for (waiter, _) in std::mem::take(&mut self.v.blocked) {
            self.reply(&waiter, Reply::Unavailable, out);
        }
        for (waiter, _) in std::mem::take(&mut self.v.renews_waiting) {
            self.reply(&waiter, Reply::Unavailable, out);
        }
        for (_, (confirm, _)) in std::mem::take(&mut self.v.confirmations) {
            self.fail_confirm(confirm, out);
        }
        for (_, confirm) in std::mem::take(&mut self.v.after_apply) {
            self.fail_confirm(confirm, out);
        }
        self.v.renew_confirm_outstanding = false;
        out.extend(self.v.revoke_queue.drain(..).map(|id| Output::RevokeLost { id }));
        let renewing: Vec<u64> = self
            .v
            .pending
            .iter()
            .filter(|(_, p)| matches!(p, Pending::RenewCheckpoint(..)))
            .map(|(tag, _)| *tag)
            .collect();
        for tag in renewing {
            if let Some(Pending::RenewCheckpoint(waiter, _)) = self.v.pending.remove(&tag) {
                self.reply(&waiter, Reply::Unavailable, out);
            }
        }
        // In-flight revoke proposals may still commit; they count as lost for this leader.
        let revokes: Vec<u64> =
            self.v.pending.iter().filter(|(_, p)| matches!(p, Pending::Revoke(..))).map(|(tag, _)| *tag).collect();
        for tag in revokes {
            if let Some(Pending::Revoke(id, _)) = self.v.pending.remove(&tag) {
                out.push(Output::RevokeLost { id });
            }
        }
        self.v.revokes_in_flight = 0;
    }

    fn on_read_state(&mut self, now: Instant, index: u64, ctx: &[u8], out: &mut Vec<Output>) {
        let Ok(bytes) = <[u8; 8]>::try_from(ctx) else { return };
        let Some((confirm, deadline)) = self.v.confirmations.remove(&u64::from_be_bytes(bytes)) else { return };
        // A read index proves leadership when the quorum acknowledged it, not now: after a stall
        // (etcd issue 15247) that may be long ago and a new leader may have revoked the lease.
        // Only a confirmation that came back promptly (by this member's clock) counts.
        let requested = Instant(deadline.as_ms() - SERVER_REQUEST_TIMEOUT.as_ms());
        if now.saturating_since(requested) > CONFIRMATION_FRESH {
            self.fail_confirm(confirm, out);
            return;
        }
        // A read index answered by another leader (raft forwards a follower's) confirms nothing:
        // as etcd's `ensureLeadership`, the member must still be the leader it promoted as. Only
        // a member that stepped raft messages without handling its Ready (a disk stall) can get
        // here after losing leadership with its lessor still primary.
        if !(self.is_leader() && self.term() == self.v.promoted_term) {
            self.fail_confirm(confirm, out);
            return;
        }
        // BUG etcd-13675: the leader renewed as soon as leadership was confirmed, without waiting to
        // apply what was committed, so a renew right after a grant could miss the grant.
        let skip_wait = self.lessor_config.bugs.has(Bug::Etcd13675) && matches!(confirm, Confirm::Renews(_));
        if self.applied >= index || skip_wait {
            self.confirmed(now, confirm, out);
        } else {
            self.v.after_apply.push((index, confirm));
        }
    }

    /// Leadership confirmed and everything committed at confirmation applied.
    fn confirmed(&mut self, now: Instant, confirm: Confirm, out: &mut Vec<Output>) {
        match confirm {
            Confirm::Renews(renews) => {
                self.v.renew_confirm_outstanding = false;
                for (waiter, id) in renews {
                    self.renew(now, waiter, id, out);
                }
                self.confirm_renews(now);
            }
            Confirm::Scan(ids) => {
                for id in ids {
                    if self.lessor.lookup(id).is_some() && !self.v.revoke_queue.contains(&id) {
                        self.v.revoke_queue.push_back(id);
                    }
                }
                self.pump_revokes(now, out);
            }
        }
    }

    fn pump_revokes(&mut self, now: Instant, out: &mut Vec<Output>) {
        while self.v.revokes_in_flight < MAX_REVOKES_IN_FLIGHT {
            let Some(id) = self.v.revoke_queue.pop_front() else { break };
            if !self.lessor.is_primary() {
                out.push(Output::RevokeLost { id });
                continue;
            }
            self.v.revokes_in_flight += 1;
            self.propose_later(Op::Revoke { id, by_expiry: true }, Pending::Revoke(id, now + SERVER_REQUEST_TIMEOUT));
        }
    }

    fn renew(&mut self, now: Instant, waiter: Waiter, id: LeaseId, out: &mut Vec<Output>) {
        let begun = self.lessor.renew_begin(now, id);
        match &begun {
            Ok(RenewBegin::Proceed(_)) => self.log(now, Command::RenewBegin { id }),
            Ok(RenewBegin::Blocked) => self.log(now, Command::Renew { id }),
            Err(_) => {}
        }
        match begun {
            Err(LeaseError::LeaseNotFound) => self.reply_not_found(&waiter, id, out),
            Err(_) => self.reply(&waiter, Reply::Unavailable, out),
            Ok(RenewBegin::Blocked) => self.v.blocked.push((waiter, id)),
            Ok(RenewBegin::Proceed(ticket)) if ticket.needs_checkpoint => self
                .propose_later(Op::Checkpoint { checkpoints: vec![(id, 0)] }, Pending::RenewCheckpoint(waiter, ticket)),
            Ok(RenewBegin::Proceed(ticket)) => self.renew_finish(now, waiter, ticket, out),
        }
    }

    fn renew_finish(&mut self, now: Instant, waiter: Waiter, ticket: RenewTicket, out: &mut Vec<Output>) {
        let id = ticket.id;
        self.log(now, Command::RenewEnd { id });
        match self.lessor.renew_finish(now, ticket) {
            Ok(ttl_s) => {
                // The history judges the renew first (`renew_never_resurrects`), then the state.
                let (member, arrived, applied) = (self.index, waiter.arrived, self.applied);
                out.push(Output::RenewOk { member, id, ttl_s, arrived, applied });
                if let Err(v) = oracle::check_keepalive_alive(&self.lessor, &self.kv, id) {
                    out.push(Output::Violation(v));
                }
                self.reply(&waiter, Reply::KeepAlive { id, ttl_s }, out);
            }
            Err(LeaseError::LeaseNotFound) => self.reply_not_found(&waiter, id, out),
            Err(_) => self.reply(&waiter, Reply::Unavailable, out),
        }
    }

    /// The keep-alive stream's answer for an unknown lease: `{id, ttl: 0}`.
    fn reply_not_found(&self, waiter: &Waiter, id: LeaseId, out: &mut Vec<Output>) {
        out.push(Output::RenewNotFound { member: self.index, id, arrived: waiter.arrived });
        self.reply(waiter, Reply::KeepAlive { id, ttl_s: 0 }, out);
    }

    /// Raft handed `entries` over as committed: applied at once, or after the apply lag (in order,
    /// behind any backlog).
    fn commit_entries(&mut self, now: Instant, entries: Vec<Entry>, out: &mut Vec<Output>) {
        if self.apply_lag == Duration::ZERO && self.v.backlog.is_empty() {
            self.apply_entries(now, entries, out);
            return;
        }
        let due = now + self.apply_lag;
        self.v.backlog.extend(entries.into_iter().map(|entry| (due, entry)));
        self.apply_due(now, out);
    }

    /// Applies the backlog's entries that are due; the rest wait for a later tick.
    fn apply_due(&mut self, now: Instant, out: &mut Vec<Output>) {
        let mut due = Vec::new();
        while self.v.backlog.front().is_some_and(|(at, _)| *at <= now) {
            due.push(self.v.backlog.pop_front().expect("looked at").1);
        }
        if !due.is_empty() {
            self.apply_entries(now, due, out);
        }
    }

    fn apply_entries(&mut self, now: Instant, entries: Vec<Entry>, out: &mut Vec<Output>) {
        for entry in entries {
            if entry.index <= self.applied {
                continue;
            }
            self.applied = entry.index;
            self.dirty = true;
            self.maybe_promote(now, entry.term, out);
            if entry.get_entry_type() != EntryType::EntryNormal || entry.data.is_empty() {
                continue;
            }
            let proposal = Proposal::decode(&entry.data);
            let pending = if proposal.member == self.index { self.v.pending.remove(&proposal.tag) } else { None };
            self.apply(now, entry.index, proposal.op, pending, out);
        }
        if self.v.after_apply.is_empty() {
            return; // no confirmation waits for an apply (the common case)
        }
        let ready: Vec<Confirm> = {
            let applied = self.applied;
            let (ready, waiting): (Vec<_>, Vec<_>) =
                std::mem::take(&mut self.v.after_apply).into_iter().partition(|(index, _)| *index <= applied);
            self.v.after_apply = waiting;
            ready.into_iter().map(|(_, c)| c).collect()
        };
        for confirm in ready {
            self.confirmed(now, confirm, out);
        }
    }

    /// The member that applies the first entry of its own term as leader promotes.
    fn maybe_promote(&mut self, now: Instant, entry_term: u64, out: &mut Vec<Output>) {
        let term = self.term();
        if !self.is_leader() || entry_term != term || self.v.promoted_term == term {
            return;
        }
        self.v.promoted_term = term;
        self.lessor.promote(now, self.election_timeout());
        self.log(now, Command::Promote { extend: self.election_timeout() });
        let expiries = self.lessor.leases_by_id().map(|l| (l.id, l.expiry)).collect();
        out.push(Output::Promoted { member: self.index, expiries, extend: self.election_timeout() });
    }

    fn apply(&mut self, now: Instant, index: u64, op: Op, pending: Option<Pending>, out: &mut Vec<Output>) {
        let waiter = match &pending {
            Some(Pending::Client(w)) => Some(w.clone()),
            _ => None,
        };
        let reply = match op {
            Op::Grant { id, ttl_s } => {
                self.log(now, Command::Grant { id, ttl_s });
                match self.lessor.grant(now, id, ttl_s).inspect(|_| {
                    self.touched.leases.push(id);
                    self.touched.granted = true;
                }) {
                    Ok(lease) => {
                        let ttl_s = lease.ttl_s;
                        out.push(Output::AppliedGrant { index, id, ttl_s });
                        Reply::Granted { id, ttl_s }
                    }
                    Err(e) => Reply::Failed(e),
                }
            }
            Op::Revoke { id, by_expiry } => {
                if let Some(Pending::Revoke(..)) = pending {
                    self.v.revokes_in_flight -= 1;
                }
                self.log(now, Command::Revoke { id });
                let reply = self.apply_revoke(index, id, by_expiry, out);
                self.pump_revokes(now, out);
                reply
            }
            Op::Checkpoint { checkpoints } => {
                for &(id, remaining_ttl_s) in &checkpoints {
                    let renewing = matches!(&pending, Some(Pending::RenewCheckpoint(_, t)) if t.id == id);
                    let command = if renewing && remaining_ttl_s == 0 {
                        Command::RenewCheckpoint { id }
                    } else {
                        Command::Checkpoint { id, remaining_ttl_s }
                    };
                    self.log(now, command);
                    self.lessor.checkpoint(now, id, remaining_ttl_s);
                }
                out.push(Output::AppliedCheckpoint { index, checkpoints });
                if let Some(Pending::RenewCheckpoint(waiter, ticket)) = pending {
                    self.renew_finish(now, waiter, ticket, out);
                }
                return;
            }
            Op::Put { key, value, lease } => {
                self.touch_key(&key, lease);
                self.log(now, Command::Put { key: key.clone(), value: value.clone(), lease });
                match self.kv.put(&mut self.lessor, &key, &value, lease) {
                    Ok(_) => Reply::Put { key },
                    Err(e) => Reply::Failed(e),
                }
            }
            Op::Delete { key } => {
                self.touch_key(&key, crate::lease::NO_LEASE);
                self.log(now, Command::Delete { key: key.clone() });
                self.kv.delete(&mut self.lessor, &key);
                Reply::Deleted { key }
            }
            Op::LockTxn { prefix, key, lease } => {
                // etcd's Mutex: `If(CreateRevision(key) == 0).Then(Put(key, lease))`, then the owner.
                let put = if self.kv.get(&key).is_none() {
                    self.touch_key(&key, lease);
                    self.kv.put(&mut self.lessor, &key, "", lease).map(|_| ())
                } else {
                    Ok(())
                };
                match put {
                    Ok(()) => self.lock_state(&prefix, &key),
                    Err(e) => Reply::Failed(e),
                }
            }
            Op::LockOwner { prefix, key } => self.lock_state(&prefix, &key),
        };
        if let Some(waiter) = waiter {
            self.reply(&waiter, reply, out);
        }
    }

    /// The lock recipe's view: `key`'s create revision and the owner (first-created key) of `prefix`.
    fn lock_state(&self, prefix: &str, key: &str) -> Reply {
        Reply::LockState {
            mine: self.kv.get(key).map(|e| e.create_revision),
            owner: self.kv.first_created(prefix).map(|(k, e)| (k.to_string(), e.create_revision)),
        }
    }

    /// Notes that `key` (and its old and new leases) may change attachment.
    fn touch_key(&mut self, key: &str, new_lease: LeaseId) {
        let old_lease = self.kv.get(key).map_or(crate::lease::NO_LEASE, |e| e.lease);
        self.touched.keys.push(key.to_owned());
        self.touched.leases.extend([old_lease, new_lease]);
    }

    fn apply_revoke(&mut self, index: u64, id: LeaseId, by_expiry: bool, out: &mut Vec<Output>) -> Reply {
        if let Some(lease) = self.lessor.lookup(id) {
            self.touched.keys.extend(lease.keys.iter().map(Key::to_string));
            self.touched.leases.push(id);
        }
        let mut ticket = match self.lessor.revoke_begin(id) {
            Ok(ticket) => ticket,
            Err(e) => return Reply::Failed(e),
        };
        while !ticket.is_done() {
            if self.lessor.revoke_step(&mut self.kv, &mut ticket) == RevokeStep::Done {
                break;
            }
        }
        if let Err(v) = oracle::check_revoke_atomic(&ticket) {
            out.push(Output::Violation(v));
        }
        out.push(Output::AppliedRevoke { index, id, by_expiry });
        // Renewers blocked on the lease learn it is gone.
        let (woken, still): (Vec<_>, Vec<_>) =
            std::mem::take(&mut self.v.blocked).into_iter().partition(|(_, b)| *b == id);
        self.v.blocked = still;
        for (waiter, _) in woken {
            self.reply(&waiter, Reply::KeepAlive { id, ttl_s: 0 }, out);
        }
        Reply::Revoked { id }
    }
}

/// A confirmation that will never come: expired leases it would have revoked count as lost.
fn lose_confirm(confirm: Confirm, out: &mut Vec<Output>) {
    if let Confirm::Scan(ids) = confirm {
        out.extend(ids.into_iter().map(|id| Output::RevokeLost { id }));
    }
}
