//! The lessor's state and its single-step operations: grant, attach, detach, lookup, leases,
//! time-to-live, checkpoint, promote (with pile-up spreading), demote, recover, and the two 500 ms
//! scans (expired leases, due checkpoints). Renew and revoke live in `renew.rs` and `revoke.rs`.

use super::config::{LessorConfig, MAX_LEASE_TTL_S};
use super::keys::LeaseKeys;
use super::lease_map::{LeaseMap, ValuesMut};
use super::persist::{LeaseRecord, LeaseRecords};
use super::{LeaseError, LeaseId, NO_LEASE};
use crate::bugs::Bug;
use crate::digest::Digest;
use crate::expiry::huge_pages::vec_with_capacity_huge;
use crate::expiry::prefetch::{prefetch, prefetch_front};
use crate::expiry::radix_sort::stable_sort_by_high_bits;
use crate::expiry::{DefaultExpiryQueue, DueCheck, ExpiryHandle, ExpiryQueue, TWO_THREADS_MIN, two_threads};
use crate::kv::Key;
use crate::small_map::{INLINE_MAX, SmallMap};
use crate::time::{Duration, Instant};

/// One lease.
pub struct Lease {
    pub id: LeaseId,
    /// Granted TTL in seconds, after clamping.
    pub ttl_s: i64,
    /// Seconds from the last checkpoint; 0 = unset.
    pub remaining_ttl_s: i64,
    /// When it expires, or `Instant::FOREVER` on a non-primary lessor.
    pub expiry: Instant,
    /// Attached keys.
    pub keys: LeaseKeys,
    /// Where the expiry index keeps this lease's entry (a hint it checks; see `ExpiryHandle`), so a
    /// renew need not look the ID up twice. Not part of the lease's value: equality, hashing and
    /// `Debug` ignore it.
    pub(super) expiry_handle: ExpiryHandle,
}

crate::clone_in_place!(impl for Lease { id, ttl_s, remaining_ttl_s, expiry, keys, expiry_handle });

/// The checkpoint schedule: `(when, id)` → how many times it is scheduled. A lease may be in it
/// at more than one time, so it keeps twice the inline entries of the lease map.
type CheckpointSchedule = SmallMap<(Instant, LeaseId), u32, { 2 * INLINE_MAX }>;

impl PartialEq for Lease {
    fn eq(&self, other: &Lease) -> bool {
        (self.id, self.ttl_s, self.remaining_ttl_s, self.expiry, &self.keys)
            == (other.id, other.ttl_s, other.remaining_ttl_s, other.expiry, &other.keys)
    }
}

impl Eq for Lease {}

impl std::hash::Hash for Lease {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        (self.id, self.ttl_s, self.remaining_ttl_s, self.expiry, &self.keys).hash(state);
    }
}

impl std::fmt::Debug for Lease {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lease")
            .field("id", &self.id)
            .field("ttl_s", &self.ttl_s)
            .field("remaining_ttl_s", &self.remaining_ttl_s)
            .field("expiry", &self.expiry)
            .field("keys", &self.keys)
            .finish()
    }
}

impl Lease {
    /// `remaining_ttl` if set, else `ttl`.
    pub fn remaining_or_ttl_s(&self) -> i64 {
        if self.remaining_ttl_s > 0 { self.remaining_ttl_s } else { self.ttl_s }
    }
    /// etcd's `expired()`: no time left (never true for a FOREVER expiry).
    pub fn is_expired(&self, now: Instant) -> bool {
        !self.expiry.is_forever() && self.expiry <= now
    }
    /// etcd's `refresh(extend)`: `expiry = now + extend + remaining_or_ttl`.
    pub(super) fn refresh(&mut self, now: Instant, extend: Duration) {
        self.expiry = self.refreshed_expiry(now, extend);
    }
    /// The expiry [`Lease::refresh`] sets.
    fn refreshed_expiry(&self, now: Instant, extend: Duration) -> Instant {
        now + extend + Duration::from_secs_i64(self.remaining_or_ttl_s())
    }
    fn record(&self) -> LeaseRecord {
        LeaseRecord { id: self.id, ttl_s: self.ttl_s, remaining_ttl_s: self.remaining_ttl_s }
    }
}

/// A TimeToLive answer for a known lease.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TimeToLive {
    pub id: LeaseId,
    /// Whole seconds left, truncated toward zero; 0 or negative for an expired, unrevoked lease.
    pub ttl_s: i64,
    pub granted_ttl_s: i64,
    pub keys: Vec<String>,
}

/// etcd's lessor. `Q` is the expiry index (see `expiry`). Equality compares everything. The hash
/// leaves out the configuration (fixed for a lessor's life) and the key index (a function of the
/// leases: `assert_consistent`, run after every replayed command in debug builds, checks that it
/// names exactly the leases' keys); it hashes the leases as their running digests (IDs, TTLs,
/// remaining TTLs, keys), which stand for them as in `oracle::check_replicas_agree_by_digest`, and
/// their expiries in ID order, the one field the digests leave out: a model checker hashes the
/// lessor of every state it generates.
#[derive(Debug, PartialEq, Eq)]
pub struct Lessor<Q: ExpiryQueue = DefaultExpiryQueue> {
    pub(super) config: LessorConfig,
    pub(super) primary: bool,
    /// The leases by ID, iterated in ID order (etcd's `leaseMap`).
    pub(super) leases: LeaseMap,
    /// The reverse index: key → the lease it is attached to (etcd's `itemMap`).
    pub(super) item_map: SmallMap<Key, LeaseId, INLINE_MAX>,
    pub(super) expiry_queue: Q,
    /// The checkpoint schedule as a multiset of `(when, id)` → count (etcd's checkpoint heap, which
    /// may hold one lease more than once).
    pub(super) checkpoint_schedule: CheckpointSchedule,
    /// The lease bucket on disk.
    pub(super) records: LeaseRecords,
    /// The replicated state as digests, kept up to date by every change of a lease's ID, TTL,
    /// remaining TTL or keys (what `oracle::check_replicas_agree*` compare first).
    pub(super) digest: LessorDigest,
}

crate::clone_in_place!(impl<Q: ExpiryQueue> for Lessor<Q> {
    config,
    primary,
    leases,
    item_map,
    expiry_queue,
    checkpoint_schedule,
    records,
    digest,
});

impl<Q: ExpiryQueue + std::hash::Hash> std::hash::Hash for Lessor<Q> {
    #[inline]
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        let Lessor { config: _, primary, leases, item_map: _, expiry_queue, checkpoint_schedule, records, digest } =
            self;
        (primary, digest, leases.len()).hash(state);
        leases.values().for_each(|lease| lease.expiry.hash(state));
        (expiry_queue, checkpoint_schedule, records).hash(state);
    }
}

/// The replicated part of a lessor as order-independent digests (see [`crate::digest`]): its
/// leases (ID, TTL), their attachments (ID, key) apart (the KV keeps the same items for its
/// bindings, so `oracle::check_attachments` compares the two in O(1)), and the remaining TTLs (ID,
/// remaining TTL), which a comparison may ignore. Expiries and queues are local and not in it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct LessorDigest {
    pub leases: Digest,
    pub attachments: Digest,
    pub remaining_ttls: Digest,
}

impl LessorDigest {
    /// The digest of `leases` computed from scratch.
    pub fn of<'a>(leases: impl IntoIterator<Item = &'a Lease>) -> LessorDigest {
        let mut digest = LessorDigest::default();
        for lease in leases {
            digest.add_lease(lease);
        }
        digest
    }

    fn add_lease(&mut self, lease: &Lease) {
        self.leases.add(lease_item(lease));
        self.remaining_ttls.add(remaining_item(lease.id, lease.remaining_ttl_s));
        for key in &lease.keys {
            self.attachments.add(attachment_item(lease.id, key));
        }
    }

    fn remove_lease(&mut self, lease: &Lease) {
        self.leases.remove(lease_item(lease));
        self.remaining_ttls.remove(remaining_item(lease.id, lease.remaining_ttl_s));
        for key in &lease.keys {
            self.attachments.remove(attachment_item(lease.id, key));
        }
    }
}

// The digest's items, tagged by kind so that no two kinds can hash alike.
fn lease_item(lease: &Lease) -> (u8, LeaseId, i64) {
    (0, lease.id, lease.ttl_s)
}
/// The digest item of key `key` attached to lease `id`: the lessor's attachments and the KV's
/// bindings (`Kv::bindings_digest`) are sums of these.
pub(crate) fn attachment_item(id: LeaseId, key: &str) -> (u8, LeaseId, &str) {
    (1, id, key)
}
fn remaining_item(id: LeaseId, remaining_ttl_s: i64) -> (u8, LeaseId, i64) {
    (2, id, remaining_ttl_s)
}

impl<Q: ExpiryQueue> Lessor<Q> {
    /// A new, empty, non-primary lessor (as etcd's `NewLessor`; the server promotes it).
    pub fn new(config: LessorConfig) -> Lessor<Q> {
        Lessor {
            config,
            primary: false,
            leases: LeaseMap::new(),
            item_map: SmallMap::new(),
            expiry_queue: Q::default(),
            checkpoint_schedule: SmallMap::new(),
            records: LeaseRecords::default(),
            digest: LessorDigest::default(),
        }
    }

    /// Rebuilds a lessor from persisted records (etcd's `initAndRecover`): TTLs clamped up to the
    /// minimum, persisted remaining TTLs kept, every expiry FOREVER until the next promote, queues
    /// empty, non-primary. The KV layer then re-attaches keys (`Kv::reattach`).
    pub fn recover(config: LessorConfig, records: LeaseRecords) -> Lessor<Q> {
        let mut lessor = Lessor::new(config);
        for record in records.iter() {
            let ttl_s = record.ttl_s.max(lessor.config.min_ttl_s);
            lessor.leases.insert(Lease {
                id: record.id,
                ttl_s,
                remaining_ttl_s: record.remaining_ttl_s,
                expiry: Instant::FOREVER,
                keys: LeaseKeys::new(),
                expiry_handle: ExpiryHandle::NONE,
            });
        }
        lessor.records = records;
        lessor.digest = LessorDigest::of(lessor.leases.values());
        lessor
    }

    pub fn config(&self) -> &LessorConfig {
        &self.config
    }
    pub fn is_primary(&self) -> bool {
        self.primary
    }
    /// What survives a crash: the lease bucket.
    pub fn records(&self) -> &LeaseRecords {
        &self.records
    }
    /// The replicated state as digests (kept up to date in O(1) per change).
    pub fn digest(&self) -> LessorDigest {
        self.digest
    }
    pub fn expiry_queue(&self) -> &Q {
        &self.expiry_queue
    }
    /// The checkpoint schedule, `(when, id)` in order, with repeats.
    pub fn checkpoint_schedule(&self) -> impl Iterator<Item = (Instant, LeaseId)> + '_ {
        self.checkpoint_schedule
            .iter()
            .flat_map(|(&(when, id), &count)| std::iter::repeat_n((when, id), count as usize))
    }

    /// Grant(id, ttl): checks in etcd's order — zero ID, TTL too large, duplicate — then clamps the
    /// TTL up to the minimum. Returns the lease as granted.
    pub fn grant(&mut self, now: Instant, id: LeaseId, ttl_s: i64) -> Result<&Lease, LeaseError> {
        if id == NO_LEASE {
            return Err(LeaseError::LeaseNotFound);
        }
        if ttl_s > MAX_LEASE_TTL_S {
            return Err(LeaseError::TtlTooLarge);
        }
        if self.leases.contains_key(&id) {
            return Err(LeaseError::LeaseExists);
        }
        let mut lease = Lease {
            id,
            ttl_s: ttl_s.max(self.config.min_ttl_s),
            remaining_ttl_s: 0,
            expiry: Instant::FOREVER,
            keys: LeaseKeys::new(),
            expiry_handle: ExpiryHandle::NONE,
        };
        if self.primary {
            lease.refresh(now, Duration::ZERO);
        }
        self.records.put(lease.record());
        self.digest.add_lease(&lease);
        if self.primary {
            lease.expiry_handle = self.expiry_queue.upsert_handle(id, lease.expiry);
            self.schedule_checkpoint_if_needed(now, &lease);
        } else if self.config.bugs.has(Bug::Etcd11731) {
            // BUG etcd-11731: followers registered every lease in the expiry queue; with a FOREVER
            // deadline the entry is never popped, so the queue grows without bound.
            lease.expiry_handle = self.expiry_queue.upsert_handle(id, lease.expiry);
        }
        Ok(self.leases.get_or_insert_with(id, || lease))
    }

    /// Attach(id, key): the lease must exist.
    pub fn attach(&mut self, id: LeaseId, key: &str) -> Result<(), LeaseError> {
        let lease = self.leases.get_mut(&id).ok_or(LeaseError::LeaseNotFound)?;
        if lease.keys.insert(Key::from(key)) {
            self.digest.attachments.add(attachment_item(id, key));
        }
        self.item_map.insert(Key::from(key), id);
        Ok(())
    }

    /// Detach(id, key): the lease must exist.
    pub fn detach(&mut self, id: LeaseId, key: &str) -> Result<(), LeaseError> {
        let lease = self.leases.get_mut(&id).ok_or(LeaseError::LeaseNotFound)?;
        if lease.keys.remove(key) {
            self.digest.attachments.remove(attachment_item(id, key));
        }
        if self.item_map.get(key) == Some(&id) {
            self.item_map.remove(key);
        }
        Ok(())
    }

    /// The lease a key is attached to (etcd's `GetLease`), `NO_LEASE` if none.
    pub fn lease_of_key(&self, key: &str) -> LeaseId {
        self.item_map.get(key).copied().unwrap_or(NO_LEASE)
    }

    pub fn lookup(&self, id: LeaseId) -> Option<&Lease> {
        self.leases.get(&id)
    }

    /// Every lease, expired-but-unrevoked ones included, sorted by time left (ties by ID).
    pub fn leases(&self) -> Vec<&Lease> {
        let mut all: Vec<&Lease> = self.leases.values().collect();
        all.sort_by_key(|l| (l.expiry, l.id));
        all
    }

    /// Every lease in ID order.
    pub fn leases_by_id(&self) -> impl Iterator<Item = &Lease> {
        self.leases.values()
    }

    pub fn lease_count(&self) -> usize {
        self.leases.len()
    }

    /// TimeToLive(id): `Ok(None)` for an unknown lease (the server answers `ttl = -1`); a lease
    /// whose expiry is FOREVER (demoted lessor) is `LeaderChanged`, never a huge TTL.
    pub fn time_to_live(&self, now: Instant, id: LeaseId) -> Result<Option<TimeToLive>, LeaseError> {
        let Some(lease) = self.leases.get(&id) else { return Ok(None) };
        if lease.expiry.is_forever() {
            return Err(LeaseError::LeaderChanged);
        }
        // Truncation toward zero, as Go's int64(d.Seconds()).
        let ttl_s = lease.expiry.signed_ms_since(now) / 1000;
        Ok(Some(TimeToLive {
            id,
            ttl_s,
            granted_ttl_s: lease.ttl_s,
            keys: lease.keys.iter().map(Key::to_string).collect(),
        }))
    }

    /// Checkpoint(id, remaining): always succeeds, unknown leases included. Sets the remaining TTL,
    /// persists it when persistence is on, and reschedules on a primary. Never changes the expiry.
    pub fn checkpoint(&mut self, now: Instant, id: LeaseId, remaining_ttl_s: i64) {
        let Some(lease) = self.leases.get_mut(&id) else { return };
        self.digest.remaining_ttls.remove(remaining_item(id, lease.remaining_ttl_s));
        self.digest.remaining_ttls.add(remaining_item(id, remaining_ttl_s));
        lease.remaining_ttl_s = remaining_ttl_s;
        let (record, snapshot) = (lease.record(), lease.clone());
        if self.config.checkpoint_persist {
            self.records.put(record);
        }
        if self.primary {
            self.schedule_checkpoint_if_needed(now, &snapshot);
        }
    }

    /// Promote(extend): become primary; every lease gets `now + extend + remaining_or_ttl`, then
    /// pile-ups are spread so at most 3/4 of the revoke rate expire in any one second.
    pub fn promote(&mut self, now: Instant, extend: Duration) {
        self.primary = true;
        // Two walks over the leases in ID order, none looked up by ID: the first reads each lease's
        // ID and refreshed expiry into compact arrays; after one bulk registration in the expiry
        // index (whose settle step is the pile-up pass), the second writes each lease's final expiry
        // and handle.
        // Same final state as etcd's refresh-register-then-re-register: a delayed lease's expiry is
        // its refreshed one plus the delay (saturating sums of non-negative durations), and it is
        // scheduled for a checkpoint once per refresh, as etcd does.
        let Lessor { config, leases, expiry_queue, checkpoint_schedule, .. } = self;
        let base = now + extend;
        // When pile-ups are to be spread, the walk also keeps each lease's whole seconds after
        // `base` (what the pile-up pass orders by), so it need not divide them out of the expiries.
        let spread = leases.len() >= config.revoke_rate_per_s;
        // With many leases, the walk and the write-back (which read and write every lease record)
        // run in two threads, each over half the leases.
        let in_two_threads = leases.len() >= TWO_THREADS_MIN;
        // The walk's parts, in ID order (the second is empty unless two threads walked).
        let parts = if in_two_threads {
            let (front, back) = leases.values_mut_halves();
            let (back, front) = two_threads(
                || PromoteWalk::of(config, base, spread, back.map(|lease| &*lease)),
                || PromoteWalk::of(config, base, spread, front.map(|lease| &*lease)),
            );
            [front, back]
        } else {
            [PromoteWalk::of(config, base, spread, leases.values()), PromoteWalk::default()]
        };
        // Whether promote schedules checkpoints (which leases were delayed matters only to that).
        let schedules_checkpoints = if config.bugs.has(Bug::Etcd13491) {
            // BUG etcd-13491: promote did not schedule checkpoints; only grants and checkpoints
            // applied on a primary did, so a new leader (which applied them as a follower) never
            // checkpointed, and the next leader change restored the remaining TTL from before the
            // first one.
            false
        } else {
            config.checkpointing
        };
        // With pile-ups to spread, the pairs are put in `(expiry, id)` order (the pile-up pass walks
        // them so, and the expiry index builds its buckets from sorted runs), as IDs and expiries
        // apart; `ranks[i]` is where the walk's `i`th lease went.
        let (ids, mut expiries, ranks) = if spread {
            let (order, (ids, expiries)) = match PromotedSeconds::order(&parts, base) {
                // The parts are read in turn; they are never copied into one.
                Some(order) => {
                    let by_expiry = order.permute(&[parts[0].pairs(), parts[1].pairs()]);
                    // The walk's arrays are not needed past here: freed, they do not add to the peak.
                    drop(parts);
                    (order, by_expiry)
                }
                None => {
                    let (ids, expiries) = PromoteWalk::concat(parts);
                    let order = ExpiryOrder::of(&expiries);
                    let by_expiry = order.permute(&[(&ids, &expiries)]);
                    (order, by_expiry)
                }
            };
            (ids, expiries, Some(order.ranks))
        } else {
            let (ids, expiries) = PromoteWalk::concat(parts);
            (ids, expiries, None)
        };
        let slot_of = |i: usize| ranks.as_ref().map_or(i, |ranks| ranks[i] as usize);
        let mut handles = vec_with_capacity_huge(ids.len());
        // The pile-up pass settles the expiries inside the bulk registration, so the index can do
        // meanwhile what needs the IDs alone (the bucket queue fills its ID table).
        let delayed = expiry_queue.upsert_many(
            &ids,
            &mut expiries,
            |expiries| {
                if spread { spread_pile_ups(config, now, expiries, schedules_checkpoints) } else { Vec::new() }
            },
            &mut handles,
        );
        // The write-back, a second walk in the same order: the `i`th lease of `part` is the first
        // walk's `first + i`th.
        let write_back = |part: ValuesMut<'_>, first: usize| {
            for (i, lease) in (first..).zip(part) {
                // The gathers land at random: the expiry and handle of a lease a few ahead are
                // fetched now.
                if let Some(&ahead) = ranks.as_ref().and_then(|ranks| ranks.get(i + GATHER_AHEAD)) {
                    prefetch(&expiries, ahead as usize);
                    prefetch(&handles, ahead as usize);
                }
                let slot = slot_of(i);
                lease.expiry = expiries[slot];
                lease.expiry_handle = handles[slot];
            }
        };
        if in_two_threads {
            let (front, back) = leases.values_mut_halves();
            let half = front.len();
            two_threads(|| write_back(back, half), || write_back(front, 0));
        } else {
            write_back(leases.values_mut(), 0);
        }
        if !schedules_checkpoints {
            return;
        }
        for (i, lease) in leases.values().enumerate() {
            schedule_checkpoint_if_needed(config, checkpoint_schedule, now, lease);
            if delayed.get(slot_of(i)).copied().unwrap_or(false) {
                schedule_checkpoint_if_needed(config, checkpoint_schedule, now, lease);
            }
        }
    }

    /// Demote(): not primary; every expiry FOREVER; expiry and checkpoint queues cleared. The driver
    /// wakes its blocked renewers with `NotPrimary`.
    pub fn demote(&mut self) {
        self.primary = false;
        for lease in self.leases.values_mut() {
            lease.expiry = Instant::FOREVER;
            lease.expiry_handle = ExpiryHandle::NONE;
        }
        self.checkpoint_schedule.clear();
        self.expiry_queue.clear();
    }

    /// The 500 ms expired-lease scan (etcd's `revokeExpiredLeases` → `findExpiredLeases`): on a
    /// primary, at most `revoke_rate/2` expired leases, in deadline order. Entries of gone leases
    /// are dropped; due entries are re-armed at `now + retry_interval` so a lost revoke is retried.
    pub fn find_expired_leases(&mut self, now: Instant) -> Vec<LeaseId> {
        let mut expired = Vec::new();
        if !self.primary {
            return expired;
        }
        let limit = self.config.revoke_limit_per_scan();
        let rearm_at = now + self.config.retry_interval;
        let leases = &self.leases;
        self.expiry_queue.take_due(
            now,
            limit,
            rearm_at,
            |id| match leases.get(&id) {
                None => DueCheck::Gone,
                Some(lease) if lease.is_expired(now) => DueCheck::Expired,
                Some(_) => DueCheck::Alive,
            },
            &mut expired,
        );
        if self.config.bugs.has(Bug::Etcd10693) {
            // BUG etcd-10693: an expired lease was popped once and never re-armed; if its revoke
            // proposal is lost it is never tried again.
            for &id in &expired {
                self.expiry_queue.remove(id);
            }
        }
        expired
    }

    /// The 500 ms checkpoint scan (etcd's `findDueScheduledCheckpoints`): on a primary with
    /// checkpointing on, up to `limit` `(id, remaining_ttl_s)` checkpoints to replicate, skipping
    /// leases that are gone, expired, or whose remaining TTL is not below their TTL.
    pub fn find_due_checkpoints(&mut self, now: Instant, limit: usize) -> Vec<(LeaseId, i64)> {
        let mut due = Vec::new();
        if !self.primary || !self.config.checkpointing {
            return due;
        }
        while due.len() < limit {
            let Some((&(when, id), count)) = self.checkpoint_schedule.first_mut() else { break };
            if when > now {
                break;
            }
            if *count > 1 {
                *count -= 1;
            } else {
                self.checkpoint_schedule.remove(&(when, id));
            }
            let Some(lease) = self.leases.get(&id) else { continue };
            if lease.is_expired(now) {
                continue;
            }
            // ceil of the seconds left
            let remaining_ms = lease.expiry.signed_ms_since(now);
            let remaining_ttl_s = (remaining_ms + 999).div_euclid(1000);
            if remaining_ttl_s >= lease.ttl_s {
                continue;
            }
            due.push((id, remaining_ttl_s));
        }
        due
    }

    pub(super) fn schedule_checkpoint_if_needed(&mut self, now: Instant, lease: &Lease) {
        schedule_checkpoint_if_needed(&self.config, &mut self.checkpoint_schedule, now, lease);
    }

    /// Removes a lease from the map and from disk (the second half of etcd's `Revoke`).
    pub(super) fn remove_lease(&mut self, id: LeaseId) -> Option<Lease> {
        let lease = self.leases.remove(&id)?;
        self.digest.remove_lease(&lease);
        for key in &lease.keys {
            if self.item_map.get(key) == Some(&id) {
                self.item_map.remove(key);
            }
        }
        self.records.delete(id);
        Some(lease)
    }

    /// Checks the lessor's own invariants (programmer errors), O(n): `debug_assert!` callers only.
    pub fn assert_consistent(&self) {
        for (key, id) in &self.item_map {
            let lease = self.leases.get(id);
            assert!(
                lease.is_some_and(|l| l.keys.contains(key)),
                "item_map says key {key:?} is attached to lease {id}, but that lease does not list it"
            );
        }
        for lease in self.leases.values() {
            for key in &lease.keys {
                assert_eq!(self.item_map.get(key), Some(&lease.id), "lease {} lists key {key:?}", lease.id);
            }
            assert!(self.records.get(lease.id).is_some(), "lease {} has no persisted record", lease.id);
        }
        assert_eq!(self.digest, LessorDigest::of(self.leases.values()), "the running digest drifted from the leases");
        self.leases.assert_consistent();
        self.records.assert_consistent();
    }
}

/// How many leases ahead promote's write-back fetches what it gathers for a lease. On the development
/// VM it took a promote of a million leases from about 59 to 53 ms (promote_profile, alternating).
const GATHER_AHEAD: usize = 16;

/// Promote's refresh of one lease, before pile-ups are spread, as the seconds it adds to `now +
/// extend`: `remaining_or_ttl` (etcd's `refresh`).
fn promoted_ttl_s(config: &LessorConfig, lease: &Lease) -> i64 {
    if config.bugs.has(Bug::Etcd9888) {
        // BUG etcd-9888: promote ignored the checkpointed remaining TTL; every leader change reset
        // every lease to its full TTL, so under frequent elections leases never expired.
        return lease.ttl_s;
    }
    lease.remaining_or_ttl_s()
}

/// What promote's walk keeps per lease, in ID order: the IDs and the refreshed expiries apart (as
/// the expiry index's bulk registration takes them), and the refreshed whole seconds (only when
/// pile-ups are spread). Two threads each keep one for their half.
#[derive(Default)]
struct PromoteWalk {
    ids: Vec<LeaseId>,
    expiries: Vec<Instant>,
    seconds: PromotedSeconds,
}

impl PromoteWalk {
    fn of<'a>(
        config: &LessorConfig,
        base: Instant,
        spread: bool,
        leases: impl ExactSizeIterator<Item = &'a Lease>,
    ) -> PromoteWalk {
        let mut walk = PromoteWalk {
            ids: vec_with_capacity_huge(leases.len()),
            expiries: vec_with_capacity_huge(leases.len()),
            seconds: PromotedSeconds::with_capacity(if spread { leases.len() } else { 0 }),
        };
        for lease in leases {
            let ttl_s = promoted_ttl_s(config, lease);
            walk.ids.push(lease.id);
            walk.expiries.push(base + Duration::from_secs_i64(ttl_s));
            if spread {
                walk.seconds.push(ttl_s);
            }
        }
        walk
    }

    /// The IDs and expiries.
    fn pairs(&self) -> (&[LeaseId], &[Instant]) {
        (&self.ids, &self.expiries)
    }

    /// The IDs and expiries of `parts`, one after the other, each in one vector (moved, not copied,
    /// when there is one part).
    fn concat([front, back]: [PromoteWalk; 2]) -> (Vec<LeaseId>, Vec<Instant>) {
        if back.ids.is_empty() {
            return (front.ids, front.expiries);
        }
        (joined(front.ids, back.ids), joined(front.expiries, back.expiries))
    }
}

/// `front` followed by `back`, in one vector.
fn joined<T: Copy>(front: Vec<T>, back: Vec<T>) -> Vec<T> {
    let mut joined = vec_with_capacity_huge(front.len() + back.len());
    joined.extend_from_slice(&front);
    joined.extend_from_slice(&back);
    joined
}

/// Promote's refreshed TTLs in walk order, kept as whole seconds while they fit a `u32`, with
/// their least and greatest: what [`ExpiryOrder::of_seconds`] orders by.
struct PromotedSeconds {
    seconds: Vec<u32>,
    range: Option<(u32, u32)>,
    /// Whether every TTL so far fitted.
    fits: bool,
}

impl Default for PromotedSeconds {
    fn default() -> PromotedSeconds {
        PromotedSeconds::with_capacity(0)
    }
}

impl PromotedSeconds {
    fn with_capacity(capacity: usize) -> PromotedSeconds {
        PromotedSeconds { seconds: vec_with_capacity_huge(capacity), range: None, fits: true }
    }

    #[inline]
    fn push(&mut self, ttl_s: i64) {
        match u32::try_from(ttl_s) {
            Ok(s) if self.fits => {
                self.seconds.push(s);
                self.range = Some(self.range.map_or((s, s), |(least, greatest)| (least.min(s), greatest.max(s))));
            }
            _ => self.fits = false,
        }
    }

    /// The order of the expiries `base + seconds` of the walk's parts, one after the other, if
    /// they all fitted and are not too sparse.
    fn order(parts: &[PromoteWalk; 2], base: Instant) -> Option<ExpiryOrder> {
        let [front, back] = parts.each_ref().map(|part| &part.seconds);
        if !front.fits || !back.fits {
            return None;
        }
        let range = match (front.range, back.range) {
            (Some((a, b)), Some((c, d))) => Some((a.min(c), b.max(d))),
            (range, None) | (None, range) => range,
        };
        let pairs = front.seconds.len() + back.seconds.len();
        ExpiryOrder::of_seconds(front.seconds.iter().chain(&back.seconds).copied(), pairs, range, base)
    }
}

/// Promote's pile-up pass (etcd's spreading in `Promote`): walks the leases by `(expiry, id)` and
/// delays those past 3/4 of the revoke rate in any one-second window by refreshing them with a
/// longer extension. `expiries` are the leases' in `(expiry, id)` order (the delays depend on the
/// expiries alone, not on the IDs). Adds each delay to its lease's expiry in place (each lease's
/// delay is computed from its expiry before the addition, and only later leases are read after it)
/// and, if `report_delayed`, answers per position whether the lease was delayed (a delay may be 0,
/// and etcd re-registers and re-schedules such a lease all the same); otherwise the answer is
/// empty.
fn spread_pile_ups(config: &LessorConfig, now: Instant, expiries: &mut [Instant], report_delayed: bool) -> Vec<bool> {
    debug_assert!(expiries.is_sorted(), "spread_pile_ups: not in expiry order");
    let mut delayed: Vec<bool> = vec_with_capacity_huge(if report_delayed { expiries.len() } else { 0 });
    // (base, next) window in ms from now, set from the first lease in expiry order.
    let mut window_ms: Option<(i64, i64)> = None;
    let mut expires: i64 = 0;
    let target_per_s = (3 * config.revoke_rate_per_s / 4) as i64;
    for expiry in expiries.iter_mut() {
        let remaining = expiry.signed_ms_since(now);
        let (base_window_ms, next_window_ms) = window_ms.get_or_insert((remaining, remaining + 1000));
        let delay_ms = if remaining > *next_window_ms {
            (*base_window_ms, *next_window_ms) = (remaining, remaining + 1000);
            expires = 1;
            None
        } else {
            expires += 1;
            (expires > target_per_s).then(|| {
                // etcd: leases n seconds ahead of the base window are extended by only one second.
                let rate_delay_ms =
                    (1000.0 * expires as f64 / target_per_s as f64) - (remaining - *base_window_ms) as f64;
                let delay_ms = rate_delay_ms as i64; // truncation, as Go's time.Duration(float64)
                *next_window_ms = *base_window_ms + delay_ms;
                delay_ms.max(0) as u64
            })
        };
        // `now + (extend + delay) + remaining_or_ttl`, saturating: the refreshed expiry plus the delay.
        if let Some(delay_ms) = delay_ms {
            *expiry = *expiry + Duration::from_ms(delay_ms);
        }
        if report_delayed {
            delayed.push(delay_ms.is_some());
        }
    }
    delayed
}

/// The order of `(id, expiry)` pairs by `(expiry, position)`, without moving them: each position's
/// rank.
struct ExpiryOrder {
    /// Per position, its rank.
    ranks: Vec<u32>,
}

impl ExpiryOrder {
    /// A promote's expiries are `now + extend + whole seconds`. When they are all whole seconds
    /// apart and the earliest and latest are fewer than `2 × pairs + 64` seconds apart (so the
    /// counters stay within a small multiple of the pairs), a counting sort by second orders them
    /// ([`ExpiryOrder::counting`]). Otherwise [`ExpiryOrder::sorted`] sorts them.
    fn of(expiries: &[Instant]) -> ExpiryOrder {
        let Some(&first) = expiries.first() else { return ExpiryOrder { ranks: Vec::new() } };
        let residue_ms = first.as_ms() % 1000;
        let (mut min_ms, mut max_ms, mut whole_seconds_apart) = (u64::MAX, 0, true);
        for &expiry in expiries {
            let ms = expiry.as_ms();
            (min_ms, max_ms) = (min_ms.min(ms), max_ms.max(ms));
            whole_seconds_apart &= ms % 1000 == residue_ms;
        }
        let seconds = (max_ms - min_ms) / 1000 + 1;
        if !whole_seconds_apart || seconds > 2 * expiries.len() as u64 + 64 {
            return ExpiryOrder::sorted(expiries);
        }
        let second_of = |&expiry: &Instant| ((expiry.as_ms() - min_ms) / 1000) as usize;
        ExpiryOrder::counting(expiries.iter().map(second_of), seconds)
    }

    /// The order of the `pairs` expiries `base + seconds[i]` (no sum saturating), whose least and
    /// greatest second are `range`, by a counting sort; `None` when they are too sparse for one (as in
    /// [`ExpiryOrder::of`]) or the latest would saturate. Promote's usual path: the walk kept the
    /// seconds, so neither a division nor a pass to check them is needed.
    fn of_seconds(
        seconds: impl Iterator<Item = u32> + Clone,
        pairs: usize,
        range: Option<(u32, u32)>,
        base: Instant,
    ) -> Option<ExpiryOrder> {
        let Some((least, greatest)) = range else { return Some(ExpiryOrder { ranks: Vec::new() }) };
        base.as_ms().checked_add(u64::from(greatest) * 1000)?;
        let span = u64::from(greatest - least) + 1;
        if span > 2 * pairs as u64 + 64 {
            return None;
        }
        Some(ExpiryOrder::counting(seconds.map(move |s| (s - least) as usize), span))
    }

    /// The counting sort: `seconds` yields each pair's second (below `span`), in position order. It
    /// reads them twice and writes the ranks front to back (ties stay in position order), where a
    /// sort would move every pair and leave the ranks to be written at random.
    fn counting(seconds: impl Iterator<Item = usize> + Clone, span: u64) -> ExpiryOrder {
        // Per second: first how many expire in it, then the next free rank of it.
        let mut next_rank = vec![0u32; span as usize];
        let mut pairs: usize = 0;
        // `for_each`, not a `for` loop: a chain of parts then runs one plain loop per part.
        seconds.clone().for_each(|second| {
            next_rank[second] += 1;
            pairs += 1;
        });
        assert!(u32::try_from(pairs).is_ok(), "fewer than 2^32 leases");
        let mut rank = 0;
        for slot in next_rank.iter_mut() {
            rank += std::mem::replace(slot, rank);
        }
        let mut ranks = vec_with_capacity_huge(pairs);
        ranks.extend(seconds.map(|second| {
            let slot = &mut next_rank[second];
            *slot += 1;
            *slot - 1
        }));
        ExpiryOrder { ranks }
    }

    /// [`ExpiryOrder::of`] for any expiries, by sorting.
    fn sorted(expiries: &[Instant]) -> ExpiryOrder {
        let mut ranks = vec_with_capacity_huge(expiries.len());
        ranks.resize(expiries.len(), 0);
        let mut rank = 0;
        for_each_by_expiry(expiries, |position| {
            ranks[position as usize] = rank;
            rank += 1;
        });
        ExpiryOrder { ranks }
    }

    /// The IDs and expiries of `parts`, one part after the other, in this order.
    /// The writes go to as many
    /// places at once as there are distinct expiries (each moving front to back), not to random
    /// ones.
    fn permute(&self, parts: &[(&[LeaseId], &[Instant])]) -> (Vec<LeaseId>, Vec<Instant>) {
        let pairs = self.ranks.len();
        let mut ids = vec_with_capacity_huge(pairs);
        ids.resize(pairs, 0);
        let mut expiries = vec_with_capacity_huge(pairs);
        expiries.resize(pairs, Instant::EPOCH);
        // One plain loop per part (a loop over the parts chained would branch at every pair).
        let mut ranks = self.ranks.as_slice();
        for &(part_ids, part_expiries) in parts {
            let (part_ranks, rest) = ranks.split_at(part_ids.len());
            for ((&id, &expiry), &rank) in part_ids.iter().zip(part_expiries).zip(part_ranks) {
                let rank = rank as usize;
                prefetch_front(&ids, rank);
                prefetch_front(&expiries, rank);
                ids[rank] = id;
                expiries[rank] = expiry;
            }
            ranks = rest;
        }
        (ids, expiries)
    }
}

/// Calls `f(position)` for every lease in `(expiry, position)` order. When every expiry
/// lies within 2^32 ms of the first (always, in practice), the pair is packed into one `u64` key and
/// radix-sorted (positions already ascend, so a stable sort of the expiry field sorts the pairs);
/// otherwise the pairs are sorted.
fn for_each_by_expiry(expiries: &[Instant], mut f: impl FnMut(u32)) {
    let min = expiries.iter().copied().min().unwrap_or(Instant::EPOCH);
    let max = expiries.iter().copied().max().unwrap_or(Instant::EPOCH);
    if max.as_ms() - min.as_ms() > u64::from(u32::MAX) {
        let mut pairs: Vec<(Instant, u32)> =
            expiries.iter().enumerate().map(|(position, &expiry)| (expiry, position as u32)).collect();
        pairs.sort_unstable();
        pairs.into_iter().for_each(|(_, position)| f(position));
        return;
    }
    let mut keys: Vec<u64> = vec_with_capacity_huge(expiries.len());
    keys.extend(
        expiries.iter().enumerate().map(|(position, expiry)| ((expiry.as_ms() - min.as_ms()) << 32) | position as u64),
    );
    stable_sort_by_high_bits(&mut keys, 32, &mut Vec::new());
    keys.into_iter().for_each(|key| f(key as u32));
}

fn schedule_checkpoint_if_needed(
    config: &LessorConfig,
    checkpoint_schedule: &mut CheckpointSchedule,
    now: Instant,
    lease: &Lease,
) {
    if !config.checkpointing {
        return;
    }
    let interval = config.checkpoint_interval;
    if lease.remaining_or_ttl_s() * 1000 > interval.as_ms() as i64 {
        *checkpoint_schedule.get_or_insert_with((now + interval, lease.id), || 0) += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_rng::Xorshift;

    fn hash_of(lessor: &Lessor) -> u64 {
        use std::hash::{Hash, Hasher};
        let mut hasher = std::hash::DefaultHasher::new();
        lessor.hash(&mut hasher);
        hasher.finish()
    }

    /// A primary with leases 1..=3 granted in `order` (lease `id` with TTL `ttl_s(id)`), keys
    /// attached, one remaining TTL set.
    fn lessor_granted_in(order: [LeaseId; 3], ttl_s: impl Fn(LeaseId) -> i64) -> Lessor {
        let mut lessor = Lessor::new(LessorConfig::server_defaults());
        lessor.promote(Instant::EPOCH, Duration::ZERO);
        for id in order {
            lessor.grant(Instant::EPOCH, id, ttl_s(id)).expect("grant");
            lessor.attach(id, &format!("k{id}")).expect("attach");
        }
        lessor.checkpoint(Instant::EPOCH, 2, 7);
        lessor
    }

    #[test]
    fn the_hash_by_digests_agrees_with_equality_and_sees_every_field() {
        let ttl_s = |id| 10 * id;
        let a = lessor_granted_in([1, 2, 3], ttl_s);
        let b = lessor_granted_in([3, 1, 2], ttl_s);
        assert_eq!(a, b);
        assert_eq!(hash_of(&a), hash_of(&b), "equal lessors hash alike whatever order built them");
        // A lessor that differs in one lease's TTL, keys, remaining TTL or expiry hashes apart (the
        // digests `leases`, `attachments` and `remaining_ttls`, and the expiries hashed in ID order;
        // a TTL or an expiry also moves the lease's entry in the expiry index, which is hashed too).
        let ttl = lessor_granted_in([1, 2, 3], |id| if id == 3 { 31 } else { 10 * id });
        let mut key = lessor_granted_in([1, 2, 3], ttl_s);
        key.attach(1, "k1b").expect("attach");
        let mut remaining = lessor_granted_in([1, 2, 3], ttl_s);
        remaining.checkpoint(Instant::EPOCH, 2, 8);
        let mut expiry = lessor_granted_in([1, 2, 3], ttl_s);
        expiry.renew(Instant::EPOCH + Duration::from_secs(1), 1).expect("renew");
        for changed in [&ttl, &key, &remaining, &expiry] {
            assert_ne!(&a, changed);
            assert_ne!(hash_of(&a), hash_of(changed), "{changed:?}");
            changed.assert_consistent();
        }
    }

    /// The ranks by sorting `(expiry, position)` pairs outright.
    fn naive_ranks(leases: &[(LeaseId, Instant)]) -> Vec<u32> {
        let mut pairs: Vec<(Instant, u32)> = (0u32..).zip(leases).map(|(p, &(_, e))| (e, p)).collect();
        pairs.sort_unstable();
        let mut ranks = vec![0u32; leases.len()];
        for (rank, &(_, position)) in (0u32..).zip(&pairs) {
            ranks[position as usize] = rank;
        }
        ranks
    }

    #[test]
    fn expiry_order_is_the_sorted_order_on_every_path() {
        let mut rng = Xorshift(0x5eed_0005);
        let mut next = move |bound: u64| rng.below(bound);
        // (pairs, spread in ms, whole seconds apart): counting sort, radix sort, comparison sort.
        for (n, spread_ms, whole_seconds) in [
            (0, 1, true),
            (1, 1, true),
            (3_000, 3_600_000, true),
            (700, 1_000_000_000, true),
            (700, 100_000_000_000, true),
            (3_000, 3_600_000, false),
            (500, 1 << 40, false),
        ] {
            let base_ms = 1_000_000 + next(1000);
            let leases: Vec<(LeaseId, Instant)> = (1..=n as LeaseId)
                .map(|id| {
                    let offset_ms = next(spread_ms);
                    let offset_ms = if whole_seconds { offset_ms / 1000 * 1000 } else { offset_ms };
                    (id, Instant::from_ms(base_ms + offset_ms))
                })
                .collect();
            let (ids, expiries): (Vec<LeaseId>, Vec<Instant>) = leases.iter().copied().unzip();
            let order = ExpiryOrder::of(&expiries);
            let ranks = naive_ranks(&leases);
            assert_eq!(order.ranks, ranks, "{n} pairs over {spread_ms} ms");
            // Permuted, the pairs are in `(expiry, id)` order (IDs ascend with position here).
            let mut by_expiry = leases.clone();
            by_expiry.sort_unstable_by_key(|&(id, expiry)| (expiry, id));
            let unzipped: (Vec<LeaseId>, Vec<Instant>) = by_expiry.iter().copied().unzip();
            assert_eq!(order.permute(&[(&ids, &expiries)]), unzipped, "{n} pairs over {spread_ms} ms, permuted");
            // The walk's path: the same expiries as seconds after a base (when they are whole
            // seconds apart), or none when too sparse; kept in two parts, as two threads keep them.
            if whole_seconds && n > 0 {
                let base = Instant::from_ms(base_ms);
                let part = |leases: &[(LeaseId, Instant)]| {
                    let mut seconds = PromotedSeconds::with_capacity(leases.len());
                    for &(_, expiry) in leases {
                        seconds.push(((expiry.as_ms() - base_ms) / 1000) as i64);
                    }
                    let (ids, expiries) = leases.iter().copied().unzip();
                    PromoteWalk { ids, expiries, seconds }
                };
                let (front, back) = leases.split_at(n / 3);
                let offsets = leases.iter().map(|&(_, expiry)| (expiry.as_ms() - base_ms) / 1000);
                let span = offsets.clone().max().unwrap_or(0) - offsets.min().unwrap_or(0) + 1;
                let sparse = span > 2 * n as u64 + 64;
                match PromotedSeconds::order(&[part(front), part(back)], base) {
                    Some(by_seconds) => {
                        assert!(!sparse, "{n} pairs over {spread_ms} ms ordered by seconds");
                        assert_eq!(by_seconds.ranks, ranks);
                    }
                    None => assert!(sparse, "{n} pairs over {spread_ms} ms not ordered by seconds"),
                }
            }
            let sorted = ExpiryOrder::sorted(&expiries);
            assert_eq!(sorted.ranks, ranks, "{n} pairs over {spread_ms} ms, sorted");
        }
    }
}
