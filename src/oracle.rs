//! The oracle: the properties of SPEC §5 (and two structural ones) written once, as functions over
//! a view of the state and the recorded history, for proptest, the simulator and the models alike.
//!
//! Owns the property names (stable strings), [`Violation`], the [`History`] of what clients were
//! told (grants, renew replies, revokes) judged in true time, and the state checks. It does not
//! drive anything and never reads a clock: every event carries its true time. The naive reference
//! model used by the property tests lives in `oracle::reference`.

pub mod reference;

use std::fmt;

use crate::digest::Digest;
use crate::expiry::ExpiryQueue;
use crate::kv::{Key, KeyValue, Kv, Revision};
use crate::lease::{Lease, LeaseId, Lessor, NO_LEASE, RevokeTicket};
use crate::small_map::{INLINE_MAX, SmallMap};
use crate::time::{Duration, Instant};

pub const NO_KEY_OUTLIVES_ITS_LEASE: &str = "no_key_outlives_its_lease";
pub const RENEW_NEVER_RESURRECTS: &str = "renew_never_resurrects";
pub const NO_EARLY_REVOKE: &str = "no_early_revoke";
pub const REPLICAS_AGREE: &str = "replicas_agree";
pub const TTL_BOUNDED: &str = "ttl_bounded";
pub const KEEPALIVE_IMPLIES_ALIVE: &str = "keepalive_implies_alive";
/// Structural: the expiry queue holds nothing on a non-primary (catches etcd-11731).
pub const EXPIRY_QUEUE_BOUNDED: &str = "expiry_queue_bounded";
/// Timeliness: while a leader exists, a lease past its promised deadline is revoked within one scan
/// period plus the retry interval (plus commit latency) (catches etcd-10693 with a lost proposal).
pub const REVOKED_IN_TIME: &str = "revoked_in_time";
/// Leader changes: a promote does not push a live lease's deadline past the deadline in force (its
/// last renew's promise, or the previous leader's) by more than the election timeout plus one
/// checkpoint interval (the staleness of the last checkpoint) plus the drift bound. Without
/// checkpoints every promote resets leases to their full TTL (etcd issue 9888).
pub const PROMOTE_EXTENSION_BOUNDED: &str = "promote_extension_bounded";
/// Leader changes: a promote never sets a lease's deadline later than the promote time plus the
/// election timeout plus the remaining TTL of the last checkpoint the log holds for it (its TTL if
/// none since its last successful renew), within the drift bound: a checkpointed remaining TTL survives a leader change (catches
/// etcd-9888 with checkpointing on).
pub const PROMOTE_HONOURS_CHECKPOINT: &str = "promote_honours_checkpoint";
/// A keep-alive for a lease whose grant was applied before the keep-alive reached the leader, and
/// which is not revoked, is never answered "not found" (TTL 0) (catches etcd-13675).
pub const GRANTED_LEASE_RENEWABLE: &str = "granted_lease_renewable";
/// Locks built on leases (the simulator's lock workload): at the protected storage, the accepted
/// writes of two lock holders never interleave. Once a write from a later tenure (a lock key with
/// a higher create revision) is accepted, no write from an earlier tenure is (Jepsen's etcd 3.4.3
/// finding without fencing; Kleppmann's fencing tokens restore it).
pub const LOCK_EXCLUSIVE: &str = "lock_exclusive";

/// Every property name, in report order.
pub const ALL_PROPERTIES: [&str; 12] = [
    NO_KEY_OUTLIVES_ITS_LEASE,
    RENEW_NEVER_RESURRECTS,
    NO_EARLY_REVOKE,
    REPLICAS_AGREE,
    TTL_BOUNDED,
    KEEPALIVE_IMPLIES_ALIVE,
    EXPIRY_QUEUE_BOUNDED,
    REVOKED_IN_TIME,
    PROMOTE_EXTENSION_BOUNDED,
    PROMOTE_HONOURS_CHECKPOINT,
    GRANTED_LEASE_RENEWABLE,
    LOCK_EXCLUSIVE,
];

/// A broken property and what broke it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Violation {
    pub property: &'static str,
    pub detail: String,
}

impl Violation {
    fn new(property: &'static str, detail: String) -> Violation {
        Violation { property, detail }
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.property, self.detail)
    }
}

impl std::error::Error for Violation {}

pub type Verdict = Result<(), Violation>;

// ---------------------------------------------------------------------------------------------
// State properties: one member's lessor and KV.

/// `no_key_outlives_its_lease` (state part): every key bound to a lease in the KV is bound to a
/// lease that exists and lists it, and every key a lease lists is in the KV bound to that lease.
///
/// It holds exactly when the lessor's attachments and the KV's bindings are the same set of
/// `(lease, key)` pairs, and both keep that set as a running digest: a model checker, which runs
/// this after every command, compares two words. Only digests that differ are followed by a walk
/// of the entries, which names the key; a walk that finds nothing means a change bypassed a digest
/// (a programmer error, which debug builds report).
pub fn check_attachments<Q: ExpiryQueue>(lessor: &Lessor<Q>, kv: &Kv) -> Verdict {
    if lessor.digest().attachments == kv.bindings_digest() {
        return Ok(());
    }
    for (key, kv_entry) in kv.iter() {
        check_key_attachment(lessor, key, kv_entry)?;
    }
    for lease in lessor.leases_by_id() {
        check_lease_attachments(kv, lease)?;
    }
    debug_assert!(false, "the attachments agree but their digests differ: a change bypassed a digest");
    Ok(())
}

/// [`check_attachments`] restricted to some keys and leases (those a step touched, for callers
/// that check after every step and know what changed); with every key and lease it is the same.
pub fn check_attachments_of<'k, Q: ExpiryQueue>(
    lessor: &Lessor<Q>,
    kv: &Kv,
    keys: impl IntoIterator<Item = &'k str>,
    leases: impl IntoIterator<Item = LeaseId>,
) -> Verdict {
    for key in keys {
        if let Some(kv_entry) = kv.get(key) {
            check_key_attachment(lessor, key, kv_entry)?;
        }
    }
    for id in leases {
        if let Some(lease) = lessor.lookup(id) {
            check_lease_attachments(kv, lease)?;
        }
    }
    Ok(())
}

/// A key the KV holds: if it is bound to a lease, that lease exists and lists it.
fn check_key_attachment<Q: ExpiryQueue>(lessor: &Lessor<Q>, key: &str, kv_entry: &KeyValue) -> Verdict {
    if kv_entry.lease == NO_LEASE {
        return Ok(());
    }
    match lessor.lookup(kv_entry.lease) {
        None => Err(Violation::new(
            NO_KEY_OUTLIVES_ITS_LEASE,
            format!("key {key:?} is still attached to lease {} which is gone", kv_entry.lease),
        )),
        Some(lease) if !lease.keys.contains(key) => Err(Violation::new(
            NO_KEY_OUTLIVES_ITS_LEASE,
            format!("key {key:?} names lease {} but the lease does not list it", lease.id),
        )),
        Some(_) => Ok(()),
    }
}

/// A lease the lessor holds: every key it lists is in the KV, bound to it.
fn check_lease_attachments(kv: &Kv, lease: &Lease) -> Verdict {
    for key in &lease.keys {
        if kv.get(key).map(|e| e.lease) != Some(lease.id) {
            return Err(Violation::new(
                NO_KEY_OUTLIVES_ITS_LEASE,
                format!("lease {} lists key {key:?} which the KV does not bind to it", lease.id),
            ));
        }
    }
    Ok(())
}

/// `no_key_outlives_its_lease` (atomicity part): a revoke deletes all its keys at one revision.
pub fn check_revoke_atomic(ticket: &RevokeTicket) -> Verdict {
    if ticket.revisions.len() > 1 {
        return Err(Violation::new(
            NO_KEY_OUTLIVES_ITS_LEASE,
            format!(
                "revoke of lease {} deleted its keys at {} revisions {:?}",
                ticket.id,
                ticket.revisions.len(),
                ticket.revisions
            ),
        ));
    }
    Ok(())
}

/// `expiry_queue_bounded`: a non-primary's expiry queue is empty; a primary's holds no more entries
/// than it has leases plus `revoked_pending` (revoked leases whose entries are dropped lazily).
pub fn check_expiry_queue<Q: ExpiryQueue>(lessor: &Lessor<Q>, revoked_pending: usize) -> Verdict {
    let len = lessor.expiry_queue().len();
    if !lessor.is_primary() && len > 0 {
        return Err(Violation::new(
            EXPIRY_QUEUE_BOUNDED,
            format!("a non-primary lessor holds {len} expiry-queue entries (it must hold none)"),
        ));
    }
    let bound = lessor.lease_count() + revoked_pending;
    if lessor.is_primary() && len > bound {
        return Err(Violation::new(
            EXPIRY_QUEUE_BOUNDED,
            format!(
                "the primary's expiry queue holds {len} entries for {} leases (+{revoked_pending} revoked)",
                lessor.lease_count()
            ),
        ));
    }
    Ok(())
}

/// `keepalive_implies_alive`: when a keep-alive reply is produced, the lease exists on the lessor
/// that produced it and its keys are consistently attached.
pub fn check_keepalive_alive<Q: ExpiryQueue>(lessor: &Lessor<Q>, kv: &Kv, id: LeaseId) -> Verdict {
    let Some(lease) = lessor.lookup(id) else {
        return Err(Violation::new(
            KEEPALIVE_IMPLIES_ALIVE,
            format!("a keep-alive of lease {id} succeeded although the lease is gone"),
        ));
    };
    // The renewed lease and its own keys (the rest of the state is the state checks' business).
    check_attachments_of(lessor, kv, lease.keys.iter().map(Key::as_str), [id])
        .map_err(|v| Violation::new(KEEPALIVE_IMPLIES_ALIVE, v.detail))
}

/// `ttl_bounded`: a TimeToLive reply never exceeds the granted TTL.
///
/// A leader change legitimately pushes expiries past the client's promise (promote adds the
/// election timeout, pile-up spreading more), and etcd then reports that time too:
/// `leader_change_allowance` (see [`History::leader_change_allowance`]) is how much it may add.
pub fn check_ttl_bounded(id: LeaseId, ttl_s: i64, granted_ttl_s: i64, leader_change_allowance: Duration) -> Verdict {
    let bound_ms = granted_ttl_s.saturating_mul(1000).saturating_add(leader_change_allowance.as_ms() as i64);
    if ttl_s.saturating_mul(1000) > bound_ms {
        return Err(Violation::new(
            TTL_BOUNDED,
            format!(
                "TimeToLive of lease {id} answered ttl={ttl_s}s above its granted {granted_ttl_s}s (+{leader_change_allowance} from leader changes)"
            ),
        ));
    }
    Ok(())
}

/// What the replica comparison looks at: everything replicated, nothing local (expiries and
/// queues differ legitimately between a primary and the rest).
#[derive(Debug, PartialEq, Eq)]
struct ReplicatedState<'a> {
    leases: Vec<(LeaseId, i64, i64, Vec<&'a Key>)>,
    kv: &'a Kv,
}

fn replicated_state<'a, Q: ExpiryQueue>(
    lessor: &'a Lessor<Q>,
    kv: &'a Kv,
    compare_remaining_ttl: bool,
) -> ReplicatedState<'a> {
    let remaining = |l: &Lease| if compare_remaining_ttl { l.remaining_ttl_s } else { 0 };
    ReplicatedState {
        leases: lessor.leases_by_id().map(|l| (l.id, l.ttl_s, remaining(l), l.keys.iter().collect())).collect(),
        kv,
    }
}

/// `replicas_agree`: members that applied the same log prefix (`applied_index`) hold identical
/// leases (ID, TTL, remaining TTL), attachments and keys. `members` is `(name, applied, lessor, kv)`.
pub fn check_replicas_agree<Q: ExpiryQueue>(members: &[(&str, u64, &Lessor<Q>, &Kv)]) -> Verdict {
    check_replicas_agree_with(members, true)
}

/// `replicas_agree`, optionally ignoring remaining TTLs: without checkpoint persistence a restarted
/// member legitimately lost them (etcd issue 17132), so a simulator with crashes compares them
/// only when they are persisted.
pub fn check_replicas_agree_with<Q: ExpiryQueue>(
    members: &[(&str, u64, &Lessor<Q>, &Kv)],
    compare_remaining_ttl: bool,
) -> Verdict {
    for (i, (name_a, applied_a, lessor_a, kv_a)) in members.iter().enumerate() {
        for (name_b, applied_b, lessor_b, kv_b) in &members[i + 1..] {
            if applied_a != applied_b {
                continue;
            }
            let a = replicated_state(*lessor_a, kv_a, compare_remaining_ttl);
            let b = replicated_state(*lessor_b, kv_b, compare_remaining_ttl);
            if a != b {
                return Err(Violation::new(
                    REPLICAS_AGREE,
                    format!(
                        "{name_a} and {name_b} both applied index {applied_a} but differ: {}",
                        describe_difference(&a, &b)
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// What `replicas_agree` compares, as the running digests the lessor and the KV keep: equal states
/// have equal digests, and different states have equal digests only by a 64-bit hash collision.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct ReplicaDigest {
    leases: Digest,
    attachments: Digest,
    remaining_ttls: Digest,
    kv: Digest,
    revision: Revision,
}

fn replica_digest<Q: ExpiryQueue>(lessor: &Lessor<Q>, kv: &Kv, compare_remaining_ttl: bool) -> ReplicaDigest {
    let digest = lessor.digest();
    ReplicaDigest {
        leases: digest.leases,
        attachments: digest.attachments,
        remaining_ttls: if compare_remaining_ttl { digest.remaining_ttls } else { Digest::EMPTY },
        kv: kv.digest(),
        revision: kv.revision(),
    }
}

/// `replicas_agree` exactly as [`check_replicas_agree_with`], for callers that check after every
/// step: pairs at the same applied index are compared by their running digests (O(1) a pair
/// instead of O(state)), and a pair whose digests differ is compared in full, which decides and
/// describes the difference. A full comparison that finds no difference means a change bypassed
/// the running digest: a programmer error, which debug builds report.
pub fn check_replicas_agree_by_digest<Q: ExpiryQueue>(
    members: &[(&str, u64, &Lessor<Q>, &Kv)],
    compare_remaining_ttl: bool,
) -> Verdict {
    for (i, a) in members.iter().enumerate() {
        for b in &members[i + 1..] {
            if a.1 != b.1
                || replica_digest(a.2, a.3, compare_remaining_ttl) == replica_digest(b.2, b.3, compare_remaining_ttl)
            {
                continue;
            }
            check_replicas_agree_with(&[*a, *b], compare_remaining_ttl)?;
            debug_assert!(false, "{} and {} agree but their digests differ: a change bypassed the digest", a.0, b.0);
        }
    }
    Ok(())
}

fn describe_difference(a: &ReplicatedState<'_>, b: &ReplicatedState<'_>) -> String {
    if a.leases != b.leases {
        return format!("leases {:?} vs {:?}", a.leases, b.leases);
    }
    if a.kv.revision() != b.kv.revision() {
        return format!("KV revision {} vs {}", a.kv.revision(), b.kv.revision());
    }
    let keys_a: Vec<_> = a.kv.iter().collect();
    let keys_b: Vec<_> = b.kv.iter().collect();
    format!("keys {keys_a:?} vs {keys_b:?}")
}

// ---------------------------------------------------------------------------------------------
// History properties, judged in true time.

/// What the history knows of one lease ID's current incarnation.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct LeaseFate {
    pub ttl_s: i64,
    pub granted_at: Instant,
    /// The latest deadline any successful grant or renew promised a client, in true time.
    pub promised_deadline: Instant,
    /// The latest deadline any leader set for it (promised deadline, or a promote's extension), in
    /// true time: what `revoked_in_time` allows.
    pub server_deadline: Instant,
    /// Revoke proposals for it that were lost (each one allows a retry interval more).
    pub lost_revokes: u32,
    /// When a revoke of it was first applied (true time), and whether it was the expiry scan's.
    pub revoked: Option<(Instant, bool)>,
    /// Since the last grant or renew, a leader change set its deadline *before* the promised one:
    /// the new leader promoted from a checkpointed remaining TTL older than the last renew.
    pub shortened_by_promote: bool,
    /// The last checkpoint applied for this incarnation, as (log index, remaining TTL in s); `None`
    /// before the first and after one of 0 (a renew's `{id, 0}` clears the remaining TTL).
    pub checkpoint: Option<(u64, i64)>,
}

/// What an early revoke's detail says when a leader change shortened the lease below its promise
/// (see [`LeaseFate::shortened_by_promote`]): etcd's stale-checkpoint race. A checkpoint the scan
/// computed before a renew applies after it (the renew saw no remaining TTL, so it did not clear
/// one); the next leader promotes from that stale remaining TTL and revokes the lease early.
pub const STALE_CHECKPOINT_RACE: &str = "a leader change promoted it from a checkpoint older than its last renew";

/// The recorded history that the history properties are judged against. Equality compares the
/// fates; the hash is their running digest, which stands for them (equal histories hash alike,
/// different ones alike only by a 64-bit collision, as any fingerprint): a model checker hashes the
/// history of every state it generates.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct History {
    leases: SmallMap<LeaseId, LeaseFate, INLINE_MAX>,
    /// Every `(id, fate)` as a digest item, kept up to date by every change (see `History::update`).
    digest: Digest,
}

crate::clone_in_place!(impl for History { leases, digest });

impl std::hash::Hash for History {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.digest.hash(state);
    }
}

/// [`History::check_not_resurrected`] for one lease: revoked, that revoke applied, and present.
fn check_fate_not_resurrected<Q: ExpiryQueue>(
    id: LeaseId,
    fate: &LeaseFate,
    lessor: &Lessor<Q>,
    applied_revoke: &impl Fn(LeaseId) -> bool,
) -> Verdict {
    if fate.revoked.is_some() && applied_revoke(id) && lessor.lookup(id).is_some() {
        return Err(Violation::new(
            RENEW_NEVER_RESURRECTS,
            format!("lease {id} was revoked but is present again without a new grant"),
        ));
    }
    Ok(())
}

impl History {
    pub fn new() -> History {
        History::default()
    }

    pub fn fate(&self, id: LeaseId) -> Option<&LeaseFate> {
        self.leases.get(&id)
    }

    pub fn fates(&self) -> impl Iterator<Item = (LeaseId, &LeaseFate)> {
        self.leases.iter().map(|(id, fate)| (*id, fate))
    }

    /// Changes the fate of `id`, if the history knows it, keeping the digest up to date: every
    /// change of one fate goes through here (`forget_checkpoints`, which changes them all,
    /// recomputes the digest instead).
    fn update<R>(&mut self, id: LeaseId, change: impl FnOnce(&mut LeaseFate) -> R) -> Option<R> {
        let fate = self.leases.get_mut(&id)?;
        self.digest.remove((id, &*fate));
        let result = change(fate);
        self.digest.add((id, &*fate));
        Some(result)
    }

    /// Panics if the running digest drifted from the one computed from scratch.
    pub fn assert_consistent(&self) {
        assert_eq!(self.digest, Digest::of(self.leases.iter()), "the history's running digest drifted");
    }

    /// A grant was applied (a new incarnation of `id` starts) at true time `at`.
    pub fn on_grant(&mut self, at: Instant, id: LeaseId, ttl_s: i64) {
        let deadline = at + Duration::from_secs_i64(ttl_s);
        let fate = LeaseFate {
            ttl_s,
            granted_at: at,
            promised_deadline: deadline,
            server_deadline: deadline,
            lost_revokes: 0,
            shortened_by_promote: false,
            revoked: None,
            checkpoint: None,
        };
        self.digest.add((id, &fate));
        if let Some(old) = self.leases.insert(id, fate) {
            self.digest.remove((id, &old));
        }
    }

    /// A keep-alive reply `ttl_s` for `id` was produced at true time `at`. `renew_never_resurrects`:
    /// a lease that was revoked (and not granted again) never renews successfully.
    pub fn on_renew_ok(&mut self, at: Instant, id: LeaseId, ttl_s: i64) -> Verdict {
        self.on_renew_ok_since(at, at, id, ttl_s)
    }

    /// As [`History::on_renew_ok`], for a renew that reached its leader at true time `since` and
    /// was served from the leader's state as of then: a leader that applies committed entries
    /// late (etcd applies asynchronously) may serve it after another member applied a revoke
    /// committed later, which orders the renew before the revoke. Only a revoke applied by
    /// `since` makes it a resurrection; a later one leaves the lease revoked and its deadline as
    /// it was.
    pub fn on_renew_ok_since(&mut self, at: Instant, since: Instant, id: LeaseId, ttl_s: i64) -> Verdict {
        let renewed = self.update(id, |fate| {
            if let Some((revoked_at, _)) = fate.revoked {
                if revoked_at > since {
                    return Ok(()); // ordered before the revoke (see above)
                }
                return Err(Violation::new(
                    RENEW_NEVER_RESURRECTS,
                    format!("renew of lease {id} succeeded at {at} after it was revoked at {revoked_at}"),
                ));
            }
            fate.promised_deadline = fate.promised_deadline.max(at + Duration::from_secs_i64(ttl_s));
            fate.shortened_by_promote = false;
            // etcd's renew clears the remaining TTL (a checkpoint of 0 through the log): after a
            // renew a new leader may give the lease its full TTL again.
            fate.checkpoint = None;
            fate.server_deadline = fate.server_deadline.max(fate.promised_deadline);
            Ok(())
        });
        renewed.unwrap_or_else(|| {
            Err(Violation::new(
                RENEW_NEVER_RESURRECTS,
                format!("renew of lease {id} succeeded but it was never granted"),
            ))
        })
    }

    /// `renew_never_resurrects` (expired part): a renew that succeeds at true time `at` must find
    /// the lease not yet past the deadline its leaders set (`server_deadline`), give or take
    /// `drift_tolerance` (a leader whose clock runs slow may legitimately renew a little later).
    /// Call it before `on_renew_ok`, which moves the deadline.
    pub fn check_renew_not_expired(&self, at: Instant, id: LeaseId, drift_tolerance: Duration) -> Verdict {
        match self.leases.get(&id) {
            Some(fate) if fate.revoked.is_none() && fate.server_deadline + drift_tolerance <= at => {
                Err(Violation::new(
                    RENEW_NEVER_RESURRECTS,
                    format!("renew of lease {id} succeeded at {at} although it expired at {}", fate.server_deadline),
                ))
            }
            _ => Ok(()),
        }
    }

    /// `promote_extension_bounded`: a leader promoted at true time `at` sets `id` to expire at
    /// `expiry` (true time). A lease still live at `at` (its deadline in force not passed) must not
    /// be pushed more than `allowance` past that deadline; `allowance` is the election timeout plus
    /// one checkpoint interval plus the drift bound. Leases already past their deadline (expired on
    /// the old leader, revoke not committed) are re-armed by design and not judged here; leases
    /// are judged before `on_promote` moves their deadline.
    pub fn check_promote_extension(&self, at: Instant, id: LeaseId, expiry: Instant, allowance: Duration) -> Verdict {
        let Some(fate) = self.leases.get(&id) else { return Ok(()) };
        if fate.revoked.is_some() || fate.server_deadline < at || expiry <= fate.server_deadline + allowance {
            return Ok(());
        }
        Err(Violation::new(
            PROMOTE_EXTENSION_BOUNDED,
            format!(
                "a leader change at {at} pushed lease {id} from its deadline {} to {expiry}, more than {allowance} later",
                fate.server_deadline
            ),
        ))
    }

    /// A checkpoint `{id, remaining_ttl_s}` at log index `index` was applied (first anywhere).
    pub fn on_checkpoint(&mut self, index: u64, id: LeaseId, remaining_ttl_s: i64) {
        self.update(id, |fate| fate.checkpoint = (remaining_ttl_s > 0).then_some((index, remaining_ttl_s)));
    }

    /// A member restarted without checkpoint persistence: the remaining TTLs it held are gone
    /// (for drivers with one member and no log indices).
    pub fn forget_checkpoints(&mut self) {
        for fate in self.leases.values_mut() {
            fate.checkpoint = None;
        }
        self.digest = Digest::of(self.leases.iter());
    }

    /// `promote_honours_checkpoint`: a leader promoted at true time `at` with extension `extend`
    /// sets `id` to expire at `expiry` (true time). That is at most `at + extend + r` (plus
    /// `tolerance`, the drift bound), where `r` is the remaining TTL of the last checkpoint applied
    /// for the lease, or its TTL if there is none. The promoting member may have lost checkpoints
    /// up to log index `forgotten_through` (it restarted without checkpoint persistence, etcd
    /// issue 17132): those do not bind it. Pile-up spreading (≥ revoke-rate leases) is not allowed
    /// for: drivers judge promotes of fewer leases. Judge before `on_promote`.
    pub fn check_promote_honours_checkpoint(
        &self,
        at: Instant,
        id: LeaseId,
        expiry: Instant,
        extend: Duration,
        tolerance: Duration,
        forgotten_through: Option<u64>,
    ) -> Verdict {
        let Some(fate) = self.leases.get(&id) else { return Ok(()) };
        if fate.revoked.is_some() {
            return Ok(());
        }
        let remaining_s = match fate.checkpoint {
            Some((index, remaining_s)) if remaining_s > 0 && forgotten_through.is_none_or(|f| index > f) => remaining_s,
            _ => fate.ttl_s,
        };
        let bound = at + extend + Duration::from_secs_i64(remaining_s) + tolerance;
        if expiry <= bound {
            return Ok(());
        }
        Err(Violation::new(
            PROMOTE_HONOURS_CHECKPOINT,
            format!(
                "a leader change at {at} set lease {id} to expire at {expiry}, later than {at} + {extend} (election \
                 timeout) + {remaining_s}s (its checkpointed remaining TTL; TTL {}s) + {tolerance} (drift)",
                fate.ttl_s
            ),
        ))
    }

    /// `granted_lease_renewable`: a keep-alive of `id` that reached the leader at true time
    /// `arrived` was answered "not found" (TTL 0). That is wrong if the lease's grant was applied
    /// before the keep-alive arrived (more than `tolerance` before: clock conversions) and the
    /// lease is not revoked.
    pub fn check_renew_not_found(&self, arrived: Instant, id: LeaseId, tolerance: Duration) -> Verdict {
        match self.leases.get(&id) {
            Some(fate) if fate.revoked.is_none() && fate.granted_at + tolerance < arrived => Err(Violation::new(
                GRANTED_LEASE_RENEWABLE,
                format!(
                    "a keep-alive of lease {id} that reached the leader at {arrived} was answered TTL 0 (not found), \
                     although its grant was applied at {} and it is not revoked",
                    fate.granted_at
                ),
            )),
            _ => Ok(()),
        }
    }

    /// How far leader changes pushed `id`'s deadline past its client's last promise (zero when a
    /// grant or renew set it): what a TimeToLive reply may exceed the granted TTL by.
    pub fn leader_change_allowance(&self, id: LeaseId) -> Duration {
        self.leases
            .get(&id)
            .map_or(Duration::ZERO, |fate| fate.server_deadline.saturating_since(fate.promised_deadline))
    }

    /// A new leader promoted its lessor and set `id` to expire at `expiry` (in true time).
    pub fn on_promote(&mut self, id: LeaseId, expiry: Instant) {
        self.update(id, |fate| {
            fate.server_deadline = fate.server_deadline.max(expiry);
            if fate.revoked.is_none() && expiry < fate.promised_deadline {
                fate.shortened_by_promote = true;
            }
        });
    }

    /// The leader applied the grant of `id` after the member that answered the client, and set it
    /// to expire at `expiry` (true time): a later deadline a leader set, as a promote's may be.
    pub fn on_leader_grant(&mut self, id: LeaseId, expiry: Instant) {
        self.update(id, |fate| fate.server_deadline = fate.server_deadline.max(expiry));
    }

    /// A revoke proposal for `id` was lost (dropped before it committed).
    pub fn on_revoke_lost(&mut self, id: LeaseId) {
        self.update(id, |fate| fate.lost_revokes += 1);
    }

    /// A revoke of `id` was applied at true time `at`; `by_expiry` when the expiry scan proposed
    /// it. `no_early_revoke`: an expiry revoke comes no earlier than the promised deadline minus
    /// `drift_tolerance` (the clock-drift bound over the lease's TTL).
    pub fn on_revoke(&mut self, at: Instant, id: LeaseId, by_expiry: bool, drift_tolerance: Duration) -> Verdict {
        let revoked = self.update(id, |fate| {
            if fate.revoked.is_some() {
                return Ok(());
            }
            fate.revoked = Some((at, by_expiry));
            if by_expiry && at + drift_tolerance < fate.promised_deadline {
                let cause =
                    if fate.shortened_by_promote { format!(": {STALE_CHECKPOINT_RACE}") } else { String::new() };
                return Err(Violation::new(
                    NO_EARLY_REVOKE,
                    format!(
                        "lease {id} was revoked by expiry at {at}, before its promised deadline {} (tolerance {drift_tolerance}){cause}",
                        fate.promised_deadline
                    ),
                ));
            }
            Ok(())
        });
        revoked.unwrap_or(Ok(()))
    }

    /// `renew_never_resurrects` (state part): a lease revoked and not granted again is absent from
    /// a member that has applied the revoke (`applied_revoke(id)` says whether it has).
    pub fn check_not_resurrected<Q: ExpiryQueue>(
        &self,
        lessor: &Lessor<Q>,
        applied_revoke: impl Fn(LeaseId) -> bool,
    ) -> Verdict {
        for (&id, fate) in self.leases.iter() {
            check_fate_not_resurrected(id, fate, lessor, &applied_revoke)?;
        }
        Ok(())
    }

    /// [`History::check_not_resurrected`] restricted to some lease IDs (those a step granted, for
    /// callers that check after every step and know that only a grant or a recovery can bring a
    /// lease back); with every ID the history knows it is the same.
    pub fn check_not_resurrected_of<Q: ExpiryQueue>(
        &self,
        lessor: &Lessor<Q>,
        ids: impl IntoIterator<Item = LeaseId>,
        applied_revoke: impl Fn(LeaseId) -> bool,
    ) -> Verdict {
        for id in ids {
            if let Some(fate) = self.leases.get(&id) {
                check_fate_not_resurrected(id, fate, lessor, &applied_revoke)?;
            }
        }
        Ok(())
    }

    /// `revoked_in_time`: at true time `now`, while a stable leader exists, no unrevoked lease is
    /// past the deadline its leaders set (`server_deadline`) by more than `bound` (the scan period
    /// plus the retry interval plus commit latency), plus one more `retry_interval` for each of
    /// its revoke proposals beyond the first that was lost.
    pub fn check_revoked_in_time(&self, now: Instant, bound: Duration, retry_interval: Duration) -> Verdict {
        for (id, fate) in &self.leases {
            let retries = Duration::from_ms(retry_interval.as_ms() * u64::from(fate.lost_revokes.saturating_sub(1)));
            if fate.revoked.is_none() && fate.server_deadline + bound + retries < now {
                return Err(Violation::new(
                    REVOKED_IN_TIME,
                    format!(
                        "lease {id} due at {} is still not revoked at {now} (allowed {bound} + {retries} for {} lost revokes)",
                        fate.server_deadline, fate.lost_revokes
                    ),
                ));
            }
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Locks built on leases, judged at the protected storage in true time.

/// The first accepted write of the latest tenure the storage has seen.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct TenureWrite {
    client: usize,
    token: i64,
    at: Instant,
}

/// The accepted protected writes, as `lock_exclusive` needs them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct LockWrites {
    latest: Option<TenureWrite>,
}

impl LockWrites {
    pub fn new() -> LockWrites {
        LockWrites::default()
    }

    /// The latest tenure that wrote: its holder, token and first accepted write.
    pub fn latest(&self) -> Option<(usize, i64, Instant)> {
        self.latest.map(|l| (l.client, l.token, l.at))
    }

    /// `lock_exclusive`: the storage accepted, at true time `at`, a write from `client` as the
    /// holder of the lock key created at revision `token`. It must not come from an earlier tenure
    /// than one that has already written: that is two holders writing at once.
    pub fn on_accepted(&mut self, at: Instant, client: usize, token: i64) -> Verdict {
        match self.latest {
            Some(latest) if token < latest.token => Err(Violation::new(
                LOCK_EXCLUSIVE,
                format!(
                    "two lock holders: c{client} (lock key created at revision {token}) wrote at {at} after c{} \
                     (lock key created at revision {}, a later tenure) had written as holder at {}",
                    latest.client, latest.token, latest.at
                ),
            )),
            Some(latest) if token == latest.token => Ok(()),
            _ => {
                self.latest = Some(TenureWrite { client, token, at });
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn promote_extension_is_judged_against_the_deadline_in_force() {
        let mut history = History::new();
        history.on_grant(Instant(0), 1, 3); // deadline 3 s
        let allowance = Duration::from_secs(2);
        // A promote at 2 s that resets to the full TTL (2 + 1 + 3 = 6 s) is 3 s late: 9888.
        let err = history.check_promote_extension(Instant(2000), 1, Instant(6000), allowance).unwrap_err();
        assert_eq!(err.property, PROMOTE_EXTENSION_BOUNDED, "{err}");
        // One that honours the checkpointed remaining TTL (2 + 1 + 1 = 4 s) is within the allowance.
        assert_eq!(history.check_promote_extension(Instant(2000), 1, Instant(4000), allowance), Ok(()));
        // A lease already past its deadline at the promote is not judged.
        assert_eq!(history.check_promote_extension(Instant(3500), 1, Instant(9000), allowance), Ok(()));
    }

    #[test]
    fn an_early_revoke_after_a_shortening_promote_names_the_stale_checkpoint_race() {
        let tolerance = Duration::ZERO;
        // Renewed at 1 s for 10 s (deadline 11 s); a leader change at 2 s promotes from a stale
        // checkpoint of 3 s (expiry 2 + 1 + 3 = 6 s): the revoke at 6 s is early, and says why.
        let mut history = History::new();
        history.on_grant(Instant(0), 1, 10);
        history.on_renew_ok(Instant(1000), 1, 10).unwrap();
        history.on_promote(1, Instant(6000));
        let err = history.on_revoke(Instant(6000), 1, true, tolerance).unwrap_err();
        assert_eq!(err.property, NO_EARLY_REVOKE);
        assert!(err.detail.ends_with(STALE_CHECKPOINT_RACE), "{err}");
        // A renew after the shortening promote sets a new promise: an early revoke then has
        // another cause, and does not name the race.
        let mut history = History::new();
        history.on_grant(Instant(0), 1, 10);
        history.on_promote(1, Instant(6000));
        history.on_renew_ok(Instant(7000), 1, 10).unwrap();
        let err = history.on_revoke(Instant(9000), 1, true, tolerance).unwrap_err();
        assert!(!err.detail.contains(STALE_CHECKPOINT_RACE), "{err}");
    }

    /// Two replicas that applied the same grants and puts, as members do (`records` persisted).
    fn replica(bugs: crate::bugs::Bugs) -> (Lessor, Kv) {
        let config = crate::lease::LessorConfig { bugs, ..crate::lease::LessorConfig::server_defaults() };
        let (mut lessor, mut kv): (Lessor, Kv) = (Lessor::new(config), Kv::new());
        for id in [3, 1, 2] {
            lessor.grant(Instant::EPOCH, id, 30).expect("grant");
            for key in ["a", "b", "c"] {
                kv.put(&mut lessor, &format!("{key}{id}"), "v", id).expect("put");
            }
        }
        (lessor, kv)
    }

    fn agree_both_ways(a: &(Lessor, Kv), b: &(Lessor, Kv), compare_remaining_ttl: bool) -> (Verdict, Verdict) {
        let members = [("m1", 9, &a.0, &a.1), ("m2", 9, &b.0, &b.1)];
        (
            check_replicas_agree_with(&members, compare_remaining_ttl),
            check_replicas_agree_by_digest(&members, compare_remaining_ttl),
        )
    }

    #[test]
    fn the_digest_comparison_catches_what_the_full_comparison_catches() {
        use crate::bugs::{Bug, Bugs};
        let (mut a, mut b) = (replica(Bugs::NONE), replica(Bugs::NONE));
        assert_eq!(agree_both_ways(&a, &b, true), (Ok(()), Ok(())));
        // etcd-6098 on one replica, its revoke cut short after removing the lease: its keys survive
        // there, naming a lease that is gone, while the other replica revoked atomically.
        let mut torn = replica(Bugs::only(Bug::Etcd6098));
        let mut ticket = torn.0.revoke_begin(2).expect("revoke 2");
        torn.0.revoke_step(&mut torn.1, &mut ticket); // RemoveLease
        torn.0.revoke_step(&mut torn.1, &mut ticket); // one key of three
        a.0.revoke(&mut a.1, 2).expect("revoke 2");
        let (full, by_digest) = agree_both_ways(&a, &torn, true);
        assert_eq!(full.as_ref().map_err(|v| v.property), Err(REPLICAS_AGREE));
        assert_eq!(by_digest, full, "the digest comparison must report what the full one does");
        // Finishing the torn revoke converges the KV keys, but not the revision (three deletes).
        while !ticket.is_done() {
            torn.0.revoke_step(&mut torn.1, &mut ticket);
        }
        let (full, by_digest) = agree_both_ways(&a, &torn, true);
        assert!(full.as_ref().is_err_and(|v| v.detail.contains("KV revision")), "{full:?}");
        assert_eq!(by_digest, full);
        // A checkpoint applied on one replica only: found when remaining TTLs are compared.
        b.0.checkpoint(Instant::EPOCH, 1, 7);
        let (full, by_digest) = agree_both_ways(&replica(Bugs::NONE), &b, true);
        assert!(full.is_err());
        assert_eq!(by_digest, full);
        assert_eq!(agree_both_ways(&replica(Bugs::NONE), &b, false), (Ok(()), Ok(())));
        // A value written on one replica only, and a key moved to another lease on one only.
        let (mut c, mut d) = (replica(Bugs::NONE), replica(Bugs::NONE));
        c.1.put(&mut c.0, "a1", "w", 1).expect("put");
        d.1.put(&mut d.0, "a1", "v", 1).expect("put");
        let (full, by_digest) = agree_both_ways(&c, &d, true);
        assert!(full.is_err());
        assert_eq!(by_digest, full);
        let (mut c, mut d) = (replica(Bugs::NONE), replica(Bugs::NONE));
        c.1.put(&mut c.0, "a1", "v", 3).expect("put");
        d.1.put(&mut d.0, "a1", "v", 1).expect("put");
        let (full, by_digest) = agree_both_ways(&c, &d, true);
        assert!(full.is_err());
        assert_eq!(by_digest, full);
        for (lessor, kv) in [&a, &b, &c, &d, &torn] {
            lessor.assert_consistent();
            kv.assert_consistent();
        }
    }

    #[test]
    fn attachments_compared_by_digest_fail_where_the_walk_does() {
        use crate::bugs::{Bug, Bugs};
        let detail = |verdict: Verdict| verdict.map_err(|v| (v.property, v.detail));
        let (mut lessor, mut kv) = replica(Bugs::NONE);
        assert_eq!(check_attachments(&lessor, &kv), Ok(()));
        kv.put(&mut lessor, "a1", "v", 3).expect("put"); // a key moved to another lease
        kv.delete(&mut lessor, "b2");
        assert_eq!(check_attachments(&lessor, &kv), Ok(()));
        // etcd-6098: the lease removed, its keys still bound to it.
        let (mut torn, mut torn_kv) = replica(Bugs::only(Bug::Etcd6098));
        let mut ticket = torn.revoke_begin(2).expect("revoke 2");
        torn.revoke_step(&mut torn_kv, &mut ticket); // RemoveLease
        let err = detail(check_attachments(&torn, &torn_kv)).expect_err("keys outlive lease 2");
        assert_eq!(
            err,
            (NO_KEY_OUTLIVES_ITS_LEASE, "key \"a2\" is still attached to lease 2 which is gone".to_owned())
        );
        // The lessor's side changed alone, each way.
        let (mut detached, kv) = replica(Bugs::NONE);
        detached.detach(1, "b1").expect("detach");
        let err = detail(check_attachments(&detached, &kv)).expect_err("b1 unlisted");
        assert_eq!(err.1, "key \"b1\" names lease 1 but the lease does not list it");
        let (mut attached, kv) = replica(Bugs::NONE);
        attached.attach(3, "z").expect("attach");
        let err = detail(check_attachments(&attached, &kv)).expect_err("z not in the KV");
        assert_eq!(err.1, "lease 3 lists key \"z\" which the KV does not bind to it");
        for (lessor, kv) in [(&lessor, &kv), (&torn, &torn_kv), (&detached, &kv), (&attached, &kv)] {
            lessor.assert_consistent();
            kv.assert_consistent();
        }
    }

    #[test]
    fn replicas_built_in_different_orders_have_the_same_digest() {
        let (a, _) = replica(crate::bugs::Bugs::NONE);
        let mut b: Lessor = Lessor::new(crate::lease::LessorConfig::server_defaults());
        let mut kv = Kv::new();
        for id in [2, 1, 3] {
            b.grant(Instant::EPOCH, id, 30).expect("grant");
        }
        for key in ["c", "b", "a"] {
            for id in [1, 3, 2] {
                kv.put(&mut b, &format!("{key}{id}"), "v", id).expect("put");
            }
        }
        assert_eq!(a.digest(), b.digest());
    }

    #[test]
    fn lock_writes_of_an_earlier_tenure_after_a_later_one_are_two_holders() {
        let mut writes = LockWrites::new();
        assert_eq!(writes.on_accepted(Instant(100), 0, 7), Ok(()));
        assert_eq!(writes.on_accepted(Instant(200), 0, 7), Ok(()), "one holder writes again");
        assert_eq!(writes.on_accepted(Instant(300), 1, 9), Ok(()), "the next tenure begins");
        let err = writes.on_accepted(Instant(400), 0, 7).unwrap_err();
        assert_eq!(err.property, LOCK_EXCLUSIVE);
        assert!(err.detail.contains("c0") && err.detail.contains("c1") && err.detail.contains("300"), "{err}");
    }

    #[test]
    fn a_renew_after_the_deadline_resurrects() {
        let mut history = History::new();
        history.on_grant(Instant(0), 1, 1);
        assert_eq!(history.check_renew_not_expired(Instant(999), 1, Duration::ZERO), Ok(()));
        let err = history.check_renew_not_expired(Instant(1000), 1, Duration::ZERO).unwrap_err();
        assert_eq!(err.property, RENEW_NEVER_RESURRECTS, "{err}");
        assert_eq!(history.check_renew_not_expired(Instant(1000), 1, Duration::from_ms(1)), Ok(()));
    }
}
