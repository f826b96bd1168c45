//! Revoke as steps: `revoke_begin` (the lease must exist) → `revoke_step` until done. On the fixed
//! path the steps are: delete every attached key, in sorted order, at one revision → remove the
//! lease from the map and from disk (the same backend transaction in etcd) → done, and the driver
//! wakes renewers blocked on the lease with `LeaseNotFound`.
//!
//! Known open window, kept because etcd has it (etcd issue 14758): between the key deletion and the
//! lease removal a renew still succeeds.

use super::{LeaseError, LeaseId, Lessor};
use crate::bugs::Bug;
use crate::expiry::ExpiryQueue;
use crate::kv::{Key, Kv, Revision};

/// Where a revoke stands.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RevokePhase {
    /// Fixed path: next, delete all keys at one revision.
    DeleteKeys,
    /// Next, remove the lease from the map and disk.
    RemoveLease,
    /// etcd-6098: next, delete these keys one at a time (each its own revision), in map order.
    DeleteKeysOneByOne(Vec<Key>),
    Done,
}

/// A revoke in progress.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RevokeTicket {
    pub id: LeaseId,
    pub phase: RevokePhase,
    /// The revisions at which this revoke deleted keys (one on the fixed path).
    pub revisions: Vec<Revision>,
}

impl RevokeTicket {
    pub fn is_done(&self) -> bool {
        self.phase == RevokePhase::Done
    }
}

/// What one `revoke_step` did.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum RevokeStep {
    /// Deleted these keys at this revision (`None`: there were no keys, no revision bump).
    DeletedKeys { keys: Vec<Key>, revision: Option<Revision> },
    /// Removed the lease from the map and from disk.
    RemovedLease,
    /// Nothing left to do.
    Done,
}

impl<Q: ExpiryQueue> Lessor<Q> {
    /// Revoke's first step: the lease must exist. Revoke is applied on every member through the
    /// log; it does not need a primary.
    pub fn revoke_begin(&self, id: LeaseId) -> Result<RevokeTicket, LeaseError> {
        if !self.leases.contains_key(&id) {
            return Err(LeaseError::LeaseNotFound);
        }
        let phase = if self.config.bugs.has(Bug::Etcd6098) {
            // BUG etcd-6098: the lease went first; its keys followed one by one, outside that
            // transaction, in Go map order (which differs between members).
            RevokePhase::RemoveLease
        } else {
            RevokePhase::DeleteKeys
        };
        Ok(RevokeTicket { id, phase, revisions: Vec::new() })
    }

    /// Performs the next step of `ticket` and says what it did.
    pub fn revoke_step(&mut self, kv: &mut Kv, ticket: &mut RevokeTicket) -> RevokeStep {
        let buggy = self.config.bugs.has(Bug::Etcd6098);
        match std::mem::replace(&mut ticket.phase, RevokePhase::Done) {
            RevokePhase::DeleteKeys => {
                // A concurrent revoke may have removed the lease already: then there is nothing.
                let keys: Vec<Key> =
                    self.leases.get(&ticket.id).map(|l| l.keys.iter().cloned().collect()).unwrap_or_default();
                let revision = kv.delete_keys_at_one_revision(self, &keys);
                ticket.revisions.extend(revision);
                ticket.phase = RevokePhase::RemoveLease;
                RevokeStep::DeletedKeys { keys, revision }
            }
            RevokePhase::RemoveLease => {
                let removed = self.remove_lease(ticket.id);
                if buggy {
                    let mut keys: Vec<Key> = removed.map(|l| l.keys.into_iter().collect()).unwrap_or_default();
                    let salt = self.config.map_order_salt;
                    keys.sort_by_key(|k| map_order(salt, k));
                    if !keys.is_empty() {
                        ticket.phase = RevokePhase::DeleteKeysOneByOne(keys);
                    }
                }
                RevokeStep::RemovedLease
            }
            RevokePhase::DeleteKeysOneByOne(mut keys) => {
                let key = keys.remove(0);
                let revision = kv.delete_keys_at_one_revision(self, &[&key]);
                ticket.revisions.extend(revision);
                if !keys.is_empty() {
                    ticket.phase = RevokePhase::DeleteKeysOneByOne(keys);
                }
                RevokeStep::DeletedKeys { keys: vec![key], revision }
            }
            RevokePhase::Done => RevokeStep::Done,
        }
    }

    /// Revoke in one call: every step, nothing interleaved. Returns the revisions at which keys
    /// were deleted (none when the lease had no keys).
    pub fn revoke(&mut self, kv: &mut Kv, id: LeaseId) -> Result<Vec<Revision>, LeaseError> {
        let mut ticket = self.revoke_begin(id)?;
        while !ticket.is_done() {
            self.revoke_step(kv, &mut ticket);
        }
        Ok(ticket.revisions)
    }
}

/// A stand-in for Go's randomized map iteration order: a fixed per-member permutation of keys.
fn map_order(salt: u64, key: &str) -> u64 {
    // FNV-1a over the salt and the key.
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in salt.to_le_bytes().iter().chain(key.as_bytes()) {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash
}
