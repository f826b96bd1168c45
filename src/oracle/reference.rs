//! The naive reference model of SPEC §2–3: the lease semantics restated with plain `BTreeMap`s and
//! linear scans, answering trace [`Command`]s with the same reply lines as the trace `Replayer`.
//! The property tests run both on the same commands and demand identical replies.
//!
//! It owns nothing but this second opinion. It shares no code with `lease`, `kv` or `expiry`: no
//! expiry queue (a scan looks at every lease's "next scan" time), no key → lease index (a lease's
//! keys are the KV keys that name it), no checkpoint heap (a plain list of `(when, id)`). It does
//! not judge properties (that is the rest of the oracle) and it knows no bug switches: it is
//! etcd's fixed behaviour only, of the default version (3.5, SPEC.md); the etcd 3.4 restart
//! difference of `config version=3.4` is not modelled.
//!
//! Tie-breaks the reference and the lessor must share, because etcd leaves them to a heap or an
//! unstable sort:
//! - a scan walks due leases by "next scan" time, then by ID ascending (this decides which leases
//!   a scan limited to `revoke_rate / 2` takes, and the order of `revoked=`);
//! - due checkpoints are taken by scheduled time, then by ID ascending;
//! - promote's pile-up spreading walks leases by expiry, then by ID ascending.

use std::collections::BTreeMap;

use crate::lease::{EXPIRY_SCAN_PERIOD, LeaseId, MAX_LEASE_TTL_S};
use crate::time::{Duration, Instant};
use crate::trace::{Command, TraceConfig};

/// One lease as the reference sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReferenceLease {
    /// Granted TTL, seconds, after clamping.
    pub ttl_s: i64,
    /// From the last checkpoint; 0 or less = unset.
    pub remaining_ttl_s: i64,
    /// `None` = forever (a non-primary holds every lease forever).
    pub expiry: Option<Instant>,
    /// When the next expiry scan looks at this lease (its expiry, or a retry time once it was
    /// found expired). Meaningful on a primary only.
    pub next_scan_at: Instant,
}

impl ReferenceLease {
    fn remaining_or_ttl_s(&self) -> i64 {
        if self.remaining_ttl_s > 0 { self.remaining_ttl_s } else { self.ttl_s }
    }
    fn expired_at(&self, now: Instant) -> bool {
        self.expiry.is_some_and(|e| e <= now)
    }
}

/// One key's latest version.
#[derive(Clone, Debug, PartialEq, Eq)]
struct ReferenceKey {
    value: String,
    lease: LeaseId,
    mod_revision: i64,
}

/// A stepped renew: the granted TTL does not matter here, only whether the checkpoint round trip
/// is still owed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct OpenRenew {
    checkpoint_owed: bool,
}

/// A stepped revoke: keys not yet deleted, or deleted and the lease not yet removed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum OpenRevoke {
    KeysNext,
    LeaseNext,
}

/// The reference model of a single member driven by a trace.
#[derive(Clone, Debug)]
pub struct Reference {
    config: TraceConfig,
    now: Instant,
    primary: bool,
    leases: BTreeMap<LeaseId, ReferenceLease>,
    keys: BTreeMap<String, ReferenceKey>,
    revision: i64,
    /// What is on disk: id → (ttl, remaining ttl).
    disk: BTreeMap<LeaseId, (i64, i64)>,
    /// Scheduled checkpoints, repeats allowed.
    checkpoints_due: Vec<(Instant, LeaseId)>,
    renews: BTreeMap<LeaseId, OpenRenew>,
    revokes: BTreeMap<LeaseId, OpenRevoke>,
    revokes_to_lose: u32,
    next_server_id: LeaseId,
}

fn ms(seconds: i64) -> u64 {
    if seconds <= 0 { 0 } else { (seconds as u64).saturating_mul(1000) }
}

fn comma_list<T: ToString>(items: impl IntoIterator<Item = T>) -> String {
    items.into_iter().map(|i| i.to_string()).collect::<Vec<_>>().join(",")
}

impl Reference {
    /// A member that is leader from time 0 with no leases.
    pub fn new(config: TraceConfig) -> Reference {
        Reference {
            config,
            now: Instant::EPOCH,
            primary: true,
            leases: BTreeMap::new(),
            keys: BTreeMap::new(),
            revision: 1,
            disk: BTreeMap::new(),
            checkpoints_due: Vec::new(),
            renews: BTreeMap::new(),
            revokes: BTreeMap::new(),
            revokes_to_lose: 0,
            next_server_id: 1,
        }
    }

    pub fn now(&self) -> Instant {
        self.now
    }
    pub fn lease(&self, id: LeaseId) -> Option<&ReferenceLease> {
        self.leases.get(&id)
    }
    pub fn is_primary(&self) -> bool {
        self.primary
    }
    /// Whether a stepped revoke has begun and not finished.
    pub fn revoke_in_progress(&self) -> bool {
        !self.revokes.is_empty()
    }
    /// Stepped renews begun and not finished: lease ID, and whether the checkpoint round trip is
    /// still owed.
    pub fn open_renews(&self) -> impl Iterator<Item = (LeaseId, bool)> + '_ {
        self.renews.iter().map(|(id, open)| (*id, open.checkpoint_owed))
    }

    /// The keys naming `id`, sorted (the reference's whole notion of attachment).
    fn keys_of(&self, id: LeaseId) -> Vec<String> {
        if !self.leases.contains_key(&id) {
            return Vec::new();
        }
        self.keys.iter().filter(|(_, k)| k.lease == id).map(|(name, _)| name.clone()).collect()
    }

    /// One command: its reply line, or `Err` for a misuse of the step commands (the replayer
    /// refuses those too, changing nothing).
    pub fn execute(&mut self, command: &Command) -> Result<String, String> {
        let now = self.now;
        Ok(match command {
            Command::Grant { id, ttl_s } => self.grant(*id, *ttl_s),
            Command::Revoke { id } => {
                if !self.leases.contains_key(id) {
                    return Ok("err LeaseNotFound".into());
                }
                self.delete_keys_of(*id);
                self.remove_lease(*id);
                "ok".into()
            }
            Command::Renew { id } => match self.renew_check(*id) {
                Err(reply) => reply,
                Ok(checkpoint_owed) => {
                    if checkpoint_owed {
                        self.checkpoint(*id, 0);
                    }
                    self.renew_refresh(*id)
                }
            },
            Command::Put { key, value, lease } => {
                if *lease != 0 && !self.leases.contains_key(lease) {
                    return Ok("err LeaseNotFound".into());
                }
                self.revision += 1;
                let entry = ReferenceKey { value: value.clone(), lease: *lease, mod_revision: self.revision };
                self.keys.insert(key.clone(), entry);
                format!("ok rev={}", self.revision)
            }
            Command::Delete { key } => {
                let deleted = self.keys.remove(key).is_some();
                if deleted {
                    self.revision += 1;
                }
                format!("ok rev={} deleted={}", self.revision, u8::from(deleted))
            }
            Command::Get { key } => match self.keys.get(key) {
                Some(k) => format!("ok value={} lease={} mod_rev={}", k.value, k.lease, k.mod_revision),
                None => "ok none".into(),
            },
            Command::Ttl { id, keys } => match self.leases.get(id) {
                None => format!("ok id={id} ttl=-1"),
                Some(ReferenceLease { expiry: None, .. }) => "err LeaderChanged".into(),
                Some(lease @ ReferenceLease { expiry: Some(expiry), .. }) => {
                    let left_ms = expiry.as_ms() as i128 - now.as_ms() as i128;
                    let mut reply = format!("ok id={id} ttl={} granted={}", left_ms / 1000, lease.ttl_s);
                    if *keys {
                        reply += &format!(" keys={}", self.keys_of(*id).join(","));
                    }
                    reply
                }
            },
            Command::Leases => format!("ok ids={}", comma_list(self.leases.keys())),
            Command::Checkpoint { id, remaining_ttl_s } => {
                self.checkpoint(*id, *remaining_ttl_s);
                "ok".into()
            }
            Command::Promote { extend } => {
                self.promote(*extend);
                "ok".into()
            }
            Command::Demote => {
                self.primary = false;
                for lease in self.leases.values_mut() {
                    lease.expiry = None;
                }
                self.checkpoints_due.clear();
                self.renews.clear();
                "ok".into()
            }
            Command::Advance { by } => format!("ok revoked={}", comma_list(self.advance(*by))),
            Command::Restart => {
                self.restart();
                "ok".into()
            }
            Command::RenewBegin { id } => {
                if self.renews.contains_key(id) {
                    return Err(format!("a renew of lease {id} is already in progress"));
                }
                match self.renew_check(*id) {
                    Err(reply) => reply,
                    Ok(checkpoint_owed) => {
                        self.renews.insert(*id, OpenRenew { checkpoint_owed });
                        if checkpoint_owed { "ok checkpoint=needed".into() } else { "ok".into() }
                    }
                }
            }
            Command::RenewCheckpoint { id } => {
                match self.renews.get_mut(id) {
                    Some(open) if open.checkpoint_owed => open.checkpoint_owed = false,
                    _ => return Err(format!("no renew of lease {id} owes a checkpoint")),
                }
                self.checkpoint(*id, 0);
                "ok".into()
            }
            Command::RenewEnd { id } => {
                match self.renews.get(id) {
                    None => return Err(format!("no renew of lease {id} is in progress")),
                    Some(open) if open.checkpoint_owed => {
                        return Err(format!("the renew of lease {id} owes its checkpoint"));
                    }
                    Some(_) => self.renews.remove(id),
                };
                if !self.primary {
                    "err NotPrimary".into()
                } else if !self.leases.contains_key(id) {
                    "err LeaseNotFound".into()
                } else {
                    self.renew_refresh(*id)
                }
            }
            Command::RevokeBegin { id } => {
                if self.revokes.contains_key(id) {
                    return Err(format!("a revoke of lease {id} is already in progress"));
                }
                if !self.leases.contains_key(id) {
                    return Ok("err LeaseNotFound".into());
                }
                self.revokes.insert(*id, OpenRevoke::KeysNext);
                "ok".into()
            }
            Command::RevokeStep { id } => match self.revokes.get(id).copied() {
                None => return Err(format!("no revoke of lease {id} is in progress")),
                Some(OpenRevoke::KeysNext) => {
                    let keys = self.keys_of(*id);
                    let revision = self.delete_keys_of(*id);
                    self.revokes.insert(*id, OpenRevoke::LeaseNext);
                    let rev = revision.map_or("none".to_owned(), |r| r.to_string());
                    format!("ok step=delete-keys keys={} rev={rev}", keys.join(","))
                }
                Some(OpenRevoke::LeaseNext) => {
                    self.revokes.remove(id);
                    self.remove_lease(*id);
                    "ok step=remove-lease done".into()
                }
            },
            Command::LoseRevokes { count } => {
                self.revokes_to_lose += count;
                "ok".into()
            }
        })
    }

    fn grant(&mut self, id: LeaseId, ttl_s: i64) -> String {
        let id = if id != 0 {
            id
        } else {
            // The server picks the lowest unused ID at or above its counter, and moves past it
            // whether or not the grant then succeeds.
            while self.leases.contains_key(&self.next_server_id) {
                self.next_server_id += 1;
            }
            self.next_server_id += 1;
            self.next_server_id - 1
        };
        if ttl_s > MAX_LEASE_TTL_S {
            return "err TtlTooLarge".into();
        }
        if self.leases.contains_key(&id) {
            return "err LeaseExists".into();
        }
        let ttl_s = ttl_s.max(self.config.lessor.min_ttl_s);
        let mut lease = ReferenceLease { ttl_s, remaining_ttl_s: 0, expiry: None, next_scan_at: Instant::EPOCH };
        if self.primary {
            let expiry = self.now + Duration::from_ms(ms(ttl_s));
            lease.expiry = Some(expiry);
            lease.next_scan_at = expiry;
        }
        self.leases.insert(id, lease);
        self.disk.insert(id, (ttl_s, 0));
        if self.primary {
            self.schedule_checkpoint(id);
        }
        format!("ok id={id} ttl={ttl_s}")
    }

    /// Renew's checks: `Ok(checkpoint owed)` to go on, `Err(reply)` to answer at once.
    fn renew_check(&self, id: LeaseId) -> Result<bool, String> {
        if !self.primary {
            return Err("err NotPrimary".into());
        }
        let Some(lease) = self.leases.get(&id) else { return Err("err LeaseNotFound".into()) };
        if lease.expired_at(self.now) {
            return Err("blocked".into());
        }
        Ok(self.config.lessor.checkpointing && lease.remaining_ttl_s > 0)
    }

    fn renew_refresh(&mut self, id: LeaseId) -> String {
        let now = self.now;
        let lease = self.leases.get_mut(&id).expect("renew_refresh of a lease checked to exist");
        let expiry = now + Duration::from_ms(ms(lease.remaining_or_ttl_s()));
        lease.expiry = Some(expiry);
        lease.next_scan_at = expiry;
        format!("ok ttl={}", lease.ttl_s)
    }

    fn checkpoint(&mut self, id: LeaseId, remaining_ttl_s: i64) {
        let Some(lease) = self.leases.get_mut(&id) else { return };
        lease.remaining_ttl_s = remaining_ttl_s;
        if self.config.lessor.checkpoint_persist {
            self.disk.insert(id, (lease.ttl_s, remaining_ttl_s));
        }
        if self.primary {
            self.schedule_checkpoint(id);
        }
    }

    fn schedule_checkpoint(&mut self, id: LeaseId) {
        let lessor = &self.config.lessor;
        let left_ms = ms(self.leases[&id].remaining_or_ttl_s());
        if lessor.checkpointing && left_ms > lessor.checkpoint_interval.as_ms() {
            self.checkpoints_due.push((self.now + lessor.checkpoint_interval, id));
        }
    }

    /// Deletes every key naming `id` at one new revision; `None` (no bump) if there were none.
    fn delete_keys_of(&mut self, id: LeaseId) -> Option<i64> {
        let doomed = self.keys_of(id);
        if doomed.is_empty() {
            return None;
        }
        for key in &doomed {
            self.keys.remove(key);
        }
        self.revision += 1;
        Some(self.revision)
    }

    fn remove_lease(&mut self, id: LeaseId) {
        self.leases.remove(&id);
        self.disk.remove(&id);
    }

    fn set_expiry_from_promote(&mut self, id: LeaseId, extend_ms: u64) {
        let now = self.now;
        let lease = self.leases.get_mut(&id).expect("promote of a known lease");
        let expiry = now + Duration::from_ms(extend_ms.saturating_add(ms(lease.remaining_or_ttl_s())));
        lease.expiry = Some(expiry);
        lease.next_scan_at = expiry;
        self.schedule_checkpoint(id);
    }

    fn promote(&mut self, extend: Duration) {
        self.primary = true;
        let ids: Vec<LeaseId> = self.leases.keys().copied().collect();
        for &id in &ids {
            self.set_expiry_from_promote(id, extend.as_ms());
        }
        let rate = self.config.lessor.revoke_rate_per_s;
        if ids.len() < rate {
            return;
        }
        // Pile-up spreading, in one-second windows of expiry: the first 3/4 * rate leases of a
        // window keep their expiry; the k-th beyond that is pushed back to about k/(3/4 * rate)
        // seconds after the window's start, and the window ends there.
        let per_window = (3 * rate / 4) as i64;
        let mut by_expiry: Vec<(Instant, LeaseId)> =
            self.leases.iter().map(|(id, l)| (l.expiry.expect("promoted"), *id)).collect();
        by_expiry.sort();
        let left_ms = |expiry: Instant| expiry.as_ms() as i64 - self.now.as_ms() as i64;
        let mut window_start = left_ms(by_expiry[0].0);
        let mut window_end = window_start + 1000;
        let mut in_window: i64 = 0;
        let mut pushed: Vec<(LeaseId, u64)> = Vec::new();
        for (expiry, id) in by_expiry {
            let left = left_ms(expiry);
            if left > window_end {
                window_start = left;
                window_end = left + 1000;
                in_window = 1;
                continue;
            }
            in_window += 1;
            if in_window <= per_window {
                continue;
            }
            // trunc(1000 * in_window / per_window - (left - window_start)), in exact integers.
            let delay_ms = (1000 * in_window - (left - window_start) * per_window) / per_window;
            window_end = window_start + delay_ms;
            pushed.push((id, extend.as_ms() + delay_ms.max(0) as u64));
        }
        for (id, extend_ms) in pushed {
            self.set_expiry_from_promote(id, extend_ms);
        }
    }

    fn restart(&mut self) {
        let min_ttl_s = self.config.lessor.min_ttl_s;
        self.leases = self
            .disk
            .iter()
            .map(|(&id, &(ttl_s, remaining_ttl_s))| {
                let lease = ReferenceLease {
                    ttl_s: ttl_s.max(min_ttl_s),
                    remaining_ttl_s,
                    expiry: None,
                    next_scan_at: Instant::EPOCH,
                };
                (id, lease)
            })
            .collect();
        self.checkpoints_due.clear();
        self.renews.clear();
        self.revokes.clear();
        self.promote(self.config.election_timeout);
    }

    /// Time passes; at every multiple of 500 ms the leader scans for expired leases (revoking
    /// them at once unless told to lose the revokes) and for due checkpoints (applying them at
    /// once). Returns the IDs revoked, in order.
    fn advance(&mut self, by: Duration) -> Vec<LeaseId> {
        let end = self.now + by;
        let period = EXPIRY_SCAN_PERIOD.as_ms();
        let mut revoked = Vec::new();
        let mut tick = (self.now.as_ms() / period + 1) * period;
        while tick <= end.as_ms() {
            self.now = Instant::from_ms(tick);
            if self.primary {
                for id in self.scan_expired() {
                    if self.revokes_to_lose > 0 {
                        self.revokes_to_lose -= 1;
                        continue;
                    }
                    self.delete_keys_of(id);
                    self.remove_lease(id);
                    revoked.push(id);
                }
                if self.config.lessor.checkpointing {
                    self.scan_checkpoints();
                }
            }
            tick += period;
        }
        self.now = end;
        revoked
    }

    /// Every lease whose scan time has come, by (scan time, ID); each expired one is reported
    /// until `revoke_rate / 2` are; every lease looked at is looked at again after the retry
    /// interval (unless something refreshes it first).
    fn scan_expired(&mut self) -> Vec<LeaseId> {
        let now = self.now;
        let limit = self.config.lessor.revoke_rate_per_s / 2;
        let retry_at = now + self.config.lessor.retry_interval;
        let mut due: Vec<(Instant, LeaseId)> =
            self.leases.iter().filter(|(_, l)| l.next_scan_at <= now).map(|(id, l)| (l.next_scan_at, *id)).collect();
        due.sort();
        let mut expired = Vec::new();
        for (_, id) in due {
            if expired.len() == limit {
                break;
            }
            let lease = self.leases.get_mut(&id).expect("due lease exists");
            if lease.expired_at(now) {
                expired.push(id);
            }
            lease.next_scan_at = retry_at;
        }
        expired
    }

    /// Every scheduled checkpoint whose time has come, by (time, ID): a lease that is gone,
    /// expired, or has its whole TTL left is skipped (and not rescheduled); the others get
    /// `ceil(seconds left)` as their remaining TTL.
    fn scan_checkpoints(&mut self) {
        let now = self.now;
        let mut due: Vec<(Instant, LeaseId)> =
            self.checkpoints_due.iter().copied().filter(|&(at, _)| at <= now).collect();
        self.checkpoints_due.retain(|&(at, _)| at > now);
        due.sort();
        for (_, id) in due {
            let Some(lease) = self.leases.get(&id) else { continue };
            let Some(expiry) = lease.expiry.filter(|&e| e > now) else { continue };
            let left_s = (expiry.as_ms() - now.as_ms()).div_ceil(1000) as i64;
            if left_s >= lease.ttl_s {
                continue;
            }
            self.checkpoint(id, left_s);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace::parse_trace;

    fn run(text: &str) -> Vec<String> {
        let (config, commands) = parse_trace(text).expect("test trace parses");
        let mut reference = Reference::new(config);
        commands.iter().map(|(_, c)| reference.execute(c).unwrap_or_else(|e| format!("error: {e}"))).collect()
    }

    #[test]
    fn grant_renew_and_expiry_by_scan() {
        let replies = run("grant 1 1\ngrant 0 5\ngrant 1 5\nadvance 1900ms\nrenew 1\nrenew 2\nadvance 100ms");
        assert_eq!(
            replies,
            ["ok id=1 ttl=2", "ok id=2 ttl=5", "err LeaseExists", "ok revoked=", "ok ttl=2", "ok ttl=5", "ok revoked="]
        );
    }

    #[test]
    fn a_lost_revoke_is_retried_after_the_retry_interval() {
        let replies =
            run("config retry=3s\ngrant 1 2\nlose-revokes 1\nadvance 2s\nrenew 1\nadvance 2500ms\nadvance 500ms");
        assert_eq!(replies, ["ok id=1 ttl=2", "ok", "ok revoked=", "blocked", "ok revoked=", "ok revoked=1"]);
    }

    #[test]
    fn steps_refuse_misuse() {
        let replies = run("grant 1 5\nrenew-end 1\nrevoke-step 1\nrevoke-begin 1\nrevoke-begin 1");
        assert!(replies[1].starts_with("error: ") && replies[2].starts_with("error: "), "{replies:?}");
        assert_eq!(replies[3], "ok");
        assert!(replies[4].starts_with("error: "), "{replies:?}");
    }
}
