//! The single-member replayer: one lessor and KV that are leader from time 0 (promoted with extend
//! 0), time moving only with `advance`, the leader's scans at every multiple of 500 ms of trace
//! time with their revokes (and checkpoints) applied at once. Every command answers one reply
//! line; after every command the oracle checks the state and the history.

use super::parse::{Command, ParseError, TraceConfig, parse_trace};
use crate::bugs::Bugs;
use crate::expiry::{DefaultExpiryQueue, ExpiryQueue};
use crate::kv::{Kv, Revision};
use crate::lease::{
    EXPIRY_SCAN_PERIOD, EtcdVersion, LeaseError, LeaseId, Lessor, MAX_CHECKPOINT_BATCH, RenewBegin, RenewTicket,
    RevokeStep, RevokeTicket,
};
use crate::oracle::{self, History, Verdict, Violation};
use crate::small_map::{INLINE_MAX, SmallMap};
use crate::time::{Duration, Instant};

/// A single member, driven by trace commands. `Eq + Hash` so a model checker can use it as state.
/// `Q` is the lessor's expiry index (a model checker picks one that is cheap to clone and hash).
/// Equality compares everything; the hash leaves out the configuration (one per model run).
#[derive(Debug, PartialEq, Eq)]
pub struct Replayer<Q: ExpiryQueue = DefaultExpiryQueue> {
    config: TraceConfig,
    lessor: Lessor<Q>,
    kv: Kv,
    now: Instant,
    history: History,
    renews: SmallMap<LeaseId, RenewTicket, INLINE_MAX>,
    revokes: SmallMap<LeaseId, RevokeTicket, INLINE_MAX>,
    revokes_to_lose: u32,
    next_server_id: LeaseId,
    /// etcd 3.4 only (`LessorConfig::etcd_version`): the replicated writes applied since the last one
    /// that changed the KV. 3.4 persists its consistent index only with KV changes, so a restart
    /// applies these again. Always empty for 3.5 and later.
    unpersisted: Vec<LoggedWrite>,
}

crate::clone_in_place!(impl<Q: ExpiryQueue> for Replayer<Q> {
    config,
    lessor,
    kv,
    now,
    history,
    renews,
    revokes,
    revokes_to_lose,
    next_server_id,
    unpersisted,
});

impl<Q: ExpiryQueue + std::hash::Hash> std::hash::Hash for Replayer<Q> {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        let Replayer {
            config: _,
            lessor,
            kv,
            now,
            history,
            renews,
            revokes,
            revokes_to_lose,
            next_server_id,
            unpersisted,
        } = self;
        (lessor, kv, now, history, renews, revokes, revokes_to_lose, next_server_id, unpersisted).hash(state);
    }
}

/// A replicated write, as a restart of etcd 3.4 applies it again.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum LoggedWrite {
    Grant { id: LeaseId, ttl_s: i64 },
    Revoke { id: LeaseId },
    Put { key: String, value: String, lease: LeaseId },
    Delete { key: String },
    Checkpoint { id: LeaseId, remaining_ttl_s: i64 },
}

/// What a whole replay printed, and the violation that stopped it, if any.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplayOutcome {
    pub replies: Vec<String>,
    /// The 1-based line of the command after which a property failed, and the violation.
    pub violation: Option<(usize, Violation)>,
}

/// Replays a trace text; `bugs` are switched on in addition to nothing (the default path).
pub fn replay_trace(text: &str, bugs: Bugs) -> Result<ReplayOutcome, ParseError> {
    let (config, commands) = parse_trace(text)?;
    let mut replayer = Replayer::new(config.with_bugs(bugs));
    let mut replies = Vec::with_capacity(commands.len());
    for (line, command) in commands {
        let (reply, verdict) = replayer.execute(&command).map_err(|message| ParseError { line, message })?;
        replies.push(reply);
        if let Err(violation) = verdict {
            return Ok(ReplayOutcome { replies, violation: Some((line, violation)) });
        }
    }
    Ok(ReplayOutcome { replies, violation: None })
}

/// A success reply line, built only when it is asked for (`Replayer::execute`, not `execute_quiet`).
macro_rules! ok_reply {
    ($formatted:expr, $($text:tt)+) => {
        if $formatted { format!($($text)+) } else { String::new() }
    };
}

fn error_reply(error: LeaseError) -> String {
    format!("err {error}")
}

fn join<T: ToString>(items: impl IntoIterator<Item = T>) -> String {
    items.into_iter().map(|i| i.to_string()).collect::<Vec<_>>().join(",")
}

impl Replayer {
    /// A leader from time 0, promoted with extend 0, with the default expiry index.
    pub fn new(config: TraceConfig) -> Replayer {
        Replayer::with_queue(config)
    }
}

impl<Q: ExpiryQueue> Replayer<Q> {
    /// A leader from time 0, promoted with extend 0, with expiry index `Q`.
    pub fn with_queue(config: TraceConfig) -> Replayer<Q> {
        let mut lessor = Lessor::new(config.lessor.clone());
        lessor.promote(Instant::EPOCH, Duration::ZERO);
        Replayer {
            config,
            lessor,
            kv: Kv::new(),
            now: Instant::EPOCH,
            history: History::new(),
            renews: SmallMap::new(),
            revokes: SmallMap::new(),
            revokes_to_lose: 0,
            next_server_id: 1,
            unpersisted: Vec::new(),
        }
    }

    pub fn lessor(&self) -> &Lessor<Q> {
        &self.lessor
    }
    pub fn kv(&self) -> &Kv {
        &self.kv
    }
    pub fn now(&self) -> Instant {
        self.now
    }
    pub fn history(&self) -> &History {
        &self.history
    }
    pub fn config(&self) -> &TraceConfig {
        &self.config
    }
    /// Renews between `renew-begin` and `renew-end`, by lease ID.
    pub fn renews_in_flight(&self) -> &SmallMap<LeaseId, RenewTicket, INLINE_MAX> {
        &self.renews
    }
    /// Revokes between `revoke-begin` and their last `revoke-step`, by lease ID.
    pub fn revokes_in_flight(&self) -> &SmallMap<LeaseId, RevokeTicket, INLINE_MAX> {
        &self.revokes
    }
    /// Revokes the expiry scan will still drop (`lose-revokes`).
    pub fn revokes_to_lose(&self) -> u32 {
        self.revokes_to_lose
    }

    /// Runs one command: its reply line and the oracle's verdict after it. `Err` is a misuse of the
    /// step commands (for example `renew-end` with no renew begun).
    pub fn execute(&mut self, command: &Command) -> Result<(String, Verdict), String> {
        self.run(command, true)
    }

    /// `execute` without building the reply line of a command that succeeded: that reply is empty,
    /// and only a refusal (`err …`, `blocked`) is spelled out. The same state and verdict as
    /// `execute`; for a model checker, which reads no reply but whether a renew succeeded.
    pub fn execute_quiet(&mut self, command: &Command) -> Result<(String, Verdict), String> {
        self.run(command, false)
    }

    fn run(&mut self, command: &Command, formatted: bool) -> Result<(String, Verdict), String> {
        let mut verdict = Ok(());
        let revision_before = self.kv.revision();
        let reply = self.apply(command, &mut verdict, formatted)?;
        self.log_command(command, revision_before);
        debug_assert!({
            self.lessor.assert_consistent();
            self.kv.assert_consistent();
            self.history.assert_consistent();
            true
        });
        let verdict = verdict.and_then(|()| self.check_state());
        Ok((reply, verdict))
    }

    fn apply(&mut self, command: &Command, verdict: &mut Verdict, formatted: bool) -> Result<String, String> {
        let now = self.now;
        let reply = match *command {
            Command::Grant { id, ttl_s } => {
                let id = if id == 0 { self.pick_server_id() } else { id };
                match self.lessor.grant(now, id, ttl_s) {
                    Ok(lease) => {
                        let ttl_s = lease.ttl_s;
                        self.history.on_grant(now, id, ttl_s);
                        ok_reply!(formatted, "ok id={id} ttl={ttl_s}")
                    }
                    Err(e) => error_reply(e),
                }
            }
            Command::Revoke { id } => match self.lessor.revoke_begin(id) {
                Ok(mut ticket) => {
                    while !ticket.is_done() {
                        self.lessor.revoke_step(&mut self.kv, &mut ticket);
                    }
                    *verdict = self.finish_revoke(&ticket, false);
                    ok_reply!(formatted, "ok")
                }
                Err(e) => error_reply(e),
            },
            Command::Renew { id } => match self.lessor.renew_begin(now, id) {
                Ok(RenewBegin::Blocked) => "blocked".to_owned(),
                Ok(RenewBegin::Proceed(ticket)) => {
                    *verdict = self.check_renew_begins_alive(id);
                    if ticket.needs_checkpoint {
                        self.lessor.checkpoint(now, id, 0);
                    }
                    self.renew_finish(ticket, verdict, formatted)
                }
                Err(e) => error_reply(e),
            },
            Command::Put { ref key, ref value, lease } => match self.kv.put(&mut self.lessor, key, value, lease) {
                Ok(revision) => ok_reply!(formatted, "ok rev={revision}"),
                Err(e) => error_reply(e),
            },
            Command::Delete { ref key } => {
                let (revision, deleted) = self.kv.delete(&mut self.lessor, key);
                ok_reply!(formatted, "ok rev={revision} deleted={deleted}")
            }
            Command::Get { ref key } => match self.kv.get(key) {
                Some(kv) => {
                    ok_reply!(formatted, "ok value={} lease={} mod_rev={}", kv.value, kv.lease, kv.mod_revision)
                }
                None => ok_reply!(formatted, "ok none"),
            },
            Command::Ttl { id, keys } => match self.lessor.time_to_live(now, id) {
                Ok(None) => ok_reply!(formatted, "ok id={id} ttl=-1"),
                Ok(Some(answer)) => {
                    *verdict = oracle::check_ttl_bounded(
                        id,
                        answer.ttl_s,
                        answer.granted_ttl_s,
                        self.history.leader_change_allowance(id),
                    );
                    let mut reply =
                        ok_reply!(formatted, "ok id={id} ttl={} granted={}", answer.ttl_s, answer.granted_ttl_s);
                    if keys && formatted {
                        reply.push_str(&format!(" keys={}", answer.keys.join(",")));
                    }
                    reply
                }
                Err(e) => error_reply(e),
            },
            Command::Leases => {
                let mut ids: Vec<LeaseId> = self.lessor.leases().iter().map(|l| l.id).collect();
                ids.sort_unstable();
                ok_reply!(formatted, "ok ids={}", join(ids))
            }
            Command::Checkpoint { id, remaining_ttl_s } => {
                self.checkpoint(id, remaining_ttl_s);
                ok_reply!(formatted, "ok")
            }
            Command::Promote { extend } => {
                *verdict = self.promote(extend);
                ok_reply!(formatted, "ok")
            }
            Command::Demote => {
                self.lessor.demote();
                self.renews.clear(); // blocked and in-flight renewers are woken with NotPrimary
                ok_reply!(formatted, "ok")
            }
            Command::Advance { by } => {
                let revoked = self.advance(by, verdict);
                ok_reply!(formatted, "ok revoked={}", join(revoked))
            }
            Command::Restart => {
                let records = self.lessor.records().clone();
                self.lessor = Lessor::recover(self.config.lessor.clone(), records);
                if !self.config.lessor.checkpoint_persist {
                    self.history.forget_checkpoints(); // etcd issue 17132
                }
                self.kv.reattach(&mut self.lessor);
                self.reapply_unpersisted();
                self.renews.clear();
                self.revokes.clear();
                *verdict = self.promote(self.config.election_timeout);
                ok_reply!(formatted, "ok")
            }
            Command::RenewBegin { id } => {
                if self.renews.contains_key(&id) {
                    return Err(format!("a renew of lease {id} is already in progress"));
                }
                match self.lessor.renew_begin(now, id) {
                    Ok(RenewBegin::Blocked) => "blocked".to_owned(),
                    Ok(RenewBegin::Proceed(ticket)) => {
                        *verdict = self.check_renew_begins_alive(id);
                        self.renews.insert(id, ticket);
                        if ticket.needs_checkpoint {
                            ok_reply!(formatted, "ok checkpoint=needed")
                        } else {
                            ok_reply!(formatted, "ok")
                        }
                    }
                    Err(e) => error_reply(e),
                }
            }
            Command::RenewCheckpoint { id } => {
                let ticket =
                    self.renews.get_mut(&id).ok_or_else(|| format!("no renew of lease {id} is in progress"))?;
                if !ticket.needs_checkpoint {
                    return Err(format!("the renew of lease {id} needs no checkpoint"));
                }
                ticket.needs_checkpoint = false; // owed no more
                self.checkpoint(id, 0);
                ok_reply!(formatted, "ok")
            }
            Command::RenewEnd { id } => {
                // etcd never refreshes without the checkpoint a renew owes: if it fails, so does the renew.
                if self.renews.get(&id).is_some_and(|t| t.needs_checkpoint) {
                    return Err(format!("the renew of lease {id} needs its checkpoint first (renew-checkpoint {id})"));
                }
                let ticket = self.renews.remove(&id).ok_or_else(|| format!("no renew of lease {id} is in progress"))?;
                self.renew_finish(ticket, verdict, formatted)
            }
            Command::RevokeBegin { id } => {
                if self.revokes.contains_key(&id) {
                    return Err(format!("a revoke of lease {id} is already in progress"));
                }
                match self.lessor.revoke_begin(id) {
                    Ok(ticket) => {
                        self.revokes.insert(id, ticket);
                        ok_reply!(formatted, "ok")
                    }
                    Err(e) => error_reply(e),
                }
            }
            Command::RevokeStep { id } => {
                let mut ticket =
                    self.revokes.remove(&id).ok_or_else(|| format!("no revoke of lease {id} is in progress"))?;
                let mut reply = match self.lessor.revoke_step(&mut self.kv, &mut ticket) {
                    RevokeStep::DeletedKeys { keys, revision } => {
                        let rev = || revision.map_or("none".to_owned(), |r| r.to_string());
                        ok_reply!(formatted, "ok step=delete-keys keys={} rev={}", keys.join(","), rev())
                    }
                    RevokeStep::RemovedLease => ok_reply!(formatted, "ok step=remove-lease"),
                    RevokeStep::Done => ok_reply!(formatted, "ok step=none"),
                };
                if ticket.is_done() {
                    if formatted {
                        reply.push_str(" done");
                    }
                    *verdict = self.finish_revoke(&ticket, false);
                } else {
                    self.revokes.insert(id, ticket);
                }
                reply
            }
            Command::LoseRevokes { count } => {
                self.revokes_to_lose += count;
                ok_reply!(formatted, "ok")
            }
        };
        Ok(reply)
    }

    /// Logs a command's replicated write for etcd 3.4's restart (see `unpersisted`).
    fn log_command(&mut self, command: &Command, revision_before: Revision) {
        if self.config.lessor.etcd_version != EtcdVersion::V3_4 {
            return; // nothing to log (and no key to clone)
        }
        let write = match *command {
            // `pick_server_id` has just handed out `next_server_id - 1` for ID 0.
            Command::Grant { id, ttl_s } => {
                Some(LoggedWrite::Grant { id: if id == 0 { self.next_server_id - 1 } else { id }, ttl_s })
            }
            Command::Revoke { id } => Some(LoggedWrite::Revoke { id }),
            Command::RevokeStep { id } if !self.revokes.contains_key(&id) => Some(LoggedWrite::Revoke { id }),
            Command::Put { ref key, ref value, lease } => {
                Some(LoggedWrite::Put { key: key.clone(), value: value.clone(), lease })
            }
            Command::Delete { ref key } => Some(LoggedWrite::Delete { key: key.clone() }),
            Command::Checkpoint { id, remaining_ttl_s } => Some(LoggedWrite::Checkpoint { id, remaining_ttl_s }),
            _ => None,
        };
        self.log_write(write, revision_before);
    }

    /// etcd 3.4 persists the consistent index with a KV change only: a write that changed the KV
    /// empties the log of unpersisted writes, any other write joins it.
    fn log_write(&mut self, write: Option<LoggedWrite>, revision_before: Revision) {
        if self.config.lessor.etcd_version != EtcdVersion::V3_4 {
            return;
        }
        if self.kv.revision() != revision_before {
            self.unpersisted.clear();
        } else if let Some(write) = write {
            self.unpersisted.push(write);
        }
    }

    /// etcd 3.4's restart: the writes after the last persisted consistent index are applied again,
    /// in order, against the recovered (non-primary) lessor; outcomes are not reported to anyone.
    fn reapply_unpersisted(&mut self) {
        for write in std::mem::take(&mut self.unpersisted) {
            let revision_before = self.kv.revision();
            match &write {
                LoggedWrite::Grant { id, ttl_s } => {
                    let _ = self.lessor.grant(self.now, *id, *ttl_s);
                }
                LoggedWrite::Revoke { id } => {
                    if let Ok(mut ticket) = self.lessor.revoke_begin(*id) {
                        while !ticket.is_done() {
                            self.lessor.revoke_step(&mut self.kv, &mut ticket);
                        }
                    }
                }
                LoggedWrite::Put { key, value, lease } => {
                    let _ = self.kv.put(&mut self.lessor, key, value, *lease);
                }
                LoggedWrite::Delete { key } => {
                    self.kv.delete(&mut self.lessor, key);
                }
                LoggedWrite::Checkpoint { id, remaining_ttl_s } => {
                    self.lessor.checkpoint(self.now, *id, *remaining_ttl_s)
                }
            }
            self.log_write(Some(write), revision_before);
        }
    }

    fn pick_server_id(&mut self) -> LeaseId {
        while self.lessor.lookup(self.next_server_id).is_some() {
            self.next_server_id += 1;
        }
        self.next_server_id += 1;
        self.next_server_id - 1
    }

    /// `renew_never_resurrects` (expired part), judged when a renew is let through its first step:
    /// etcd checks expiry there only, so a lease that expires during the checkpoint round trip is
    /// still refreshed at the last step (an open window, like etcd 14758), not a resurrection.
    fn check_renew_begins_alive(&self, id: LeaseId) -> Verdict {
        self.history.check_renew_not_expired(self.now, id, Duration::ZERO)
    }

    fn renew_finish(&mut self, ticket: RenewTicket, verdict: &mut Verdict, formatted: bool) -> String {
        match self.lessor.renew_finish(self.now, ticket) {
            Ok(ttl_s) => {
                let begun = std::mem::replace(verdict, Ok(()));
                *verdict = begun
                    .and_then(|()| self.history.on_renew_ok(self.now, ticket.id, ttl_s))
                    .and_then(|()| oracle::check_keepalive_alive(&self.lessor, &self.kv, ticket.id));
                ok_reply!(formatted, "ok ttl={ttl_s}")
            }
            Err(e) => error_reply(e),
        }
    }

    /// Records a completed revoke and checks it removed its keys atomically.
    fn finish_revoke(&mut self, ticket: &RevokeTicket, by_expiry: bool) -> Verdict {
        oracle::check_revoke_atomic(ticket)?;
        self.history.on_revoke(self.now, ticket.id, by_expiry, Duration::ZERO)
    }

    /// Promotes; `promote_honours_checkpoint` judges every lease's new expiry (one clock, no drift).
    fn promote(&mut self, extend: Duration) -> Verdict {
        self.lessor.promote(self.now, extend);
        let mut verdict = Ok(());
        let judge = self.lessor.lease_count() < self.config.lessor.revoke_rate_per_s;
        for lease in self.lessor.leases_by_id() {
            if judge && verdict.is_ok() {
                verdict = self.history.check_promote_honours_checkpoint(
                    self.now,
                    lease.id,
                    lease.expiry,
                    extend,
                    Duration::ZERO,
                    None,
                );
            }
            self.history.on_promote(lease.id, lease.expiry);
        }
        verdict
    }

    /// Applies a checkpoint and tells the history (the replayer has no log indices: 0).
    fn checkpoint(&mut self, id: LeaseId, remaining_ttl_s: i64) {
        self.lessor.checkpoint(self.now, id, remaining_ttl_s);
        self.history.on_checkpoint(0, id, remaining_ttl_s);
    }

    /// Moves time forward, running the leader's scans at each multiple of 500 ms passed.
    fn advance(&mut self, by: Duration, verdict: &mut Verdict) -> Vec<LeaseId> {
        let end = self.now + by;
        let mut revoked = Vec::new();
        loop {
            let tick = self.now.next_multiple_of(EXPIRY_SCAN_PERIOD);
            if tick > end {
                break;
            }
            self.now = tick;
            for id in self.lessor.find_expired_leases(tick) {
                if self.revokes_to_lose > 0 {
                    self.revokes_to_lose -= 1;
                    self.history.on_revoke_lost(id);
                    continue;
                }
                let revision_before = self.kv.revision();
                let Ok(mut ticket) = self.lessor.revoke_begin(id) else { continue };
                while !ticket.is_done() {
                    self.lessor.revoke_step(&mut self.kv, &mut ticket);
                }
                self.log_write(Some(LoggedWrite::Revoke { id }), revision_before);
                revoked.push(id);
                if verdict.is_ok() {
                    *verdict = self.finish_revoke(&ticket, true);
                }
            }
            loop {
                let due = self.lessor.find_due_checkpoints(tick, MAX_CHECKPOINT_BATCH);
                for &(id, remaining_ttl_s) in &due {
                    self.checkpoint(id, remaining_ttl_s);
                }
                if due.len() < MAX_CHECKPOINT_BATCH {
                    break;
                }
            }
            if verdict.is_ok() && self.lessor.is_primary() {
                let bound = EXPIRY_SCAN_PERIOD + self.config.lessor.retry_interval;
                *verdict = self.history.check_revoked_in_time(tick, bound, self.config.lessor.retry_interval);
            }
        }
        self.now = end;
        revoked
    }

    /// The state properties after every command.
    fn check_state(&self) -> Verdict {
        oracle::check_attachments(&self.lessor, &self.kv)?;
        let revoked = self.history.fates().filter(|(_, f)| f.revoked.is_some()).count();
        oracle::check_expiry_queue(&self.lessor, revoked)?;
        self.history.check_not_resurrected(&self.lessor, |_| true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bugs::Bugs;

    /// `execute_quiet` reaches the same states and verdicts as `execute` on every golden trace
    /// (the fixed build and each trace's bug), and drops exactly the success replies' text.
    #[test]
    fn quiet_execution_changes_nothing_but_the_success_replies() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/traces");
        let mut traces = 0;
        for entry in std::fs::read_dir(dir).expect("the golden traces") {
            let path = entry.expect("a directory entry").path();
            if path.extension().is_none_or(|e| e != "trace") {
                continue;
            }
            let text = std::fs::read_to_string(&path).expect("a golden trace");
            let (config, commands) = parse_trace(&text).expect("golden traces parse");
            let bug = text.lines().find_map(|l| l.strip_prefix("# bug: ")).map(str::trim);
            let bug_sets =
                [Bugs::default()].into_iter().chain(bug.map(|b| Bugs::only(b.parse().expect("a known bug"))));
            for bugs in bug_sets {
                let (mut loud, mut quiet) =
                    (Replayer::new(config.clone().with_bugs(bugs)), Replayer::new(config.clone().with_bugs(bugs)));
                for (line, command) in &commands {
                    let (loud_reply, loud_verdict) = loud.execute(command).expect("golden traces replay");
                    let (quiet_reply, quiet_verdict) = quiet.execute_quiet(command).expect("golden traces replay");
                    let at = format!("{}:{line}", path.display());
                    assert_eq!(quiet_verdict, loud_verdict, "{at}");
                    assert_eq!(quiet, loud, "{at}");
                    if loud_reply.starts_with("ok") {
                        assert_eq!(quiet_reply, "", "{at}");
                    } else {
                        assert_eq!(quiet_reply, loud_reply, "{at}");
                    }
                }
            }
            traces += 1;
        }
        assert!(traces >= 5, "found only {traces} golden traces in {dir}");
    }
}
