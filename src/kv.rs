//! The key-value store: revisions, puts with and without a lease, deletes, and the one-revision
//! delete a revoke performs. It owns the KV's binding side (which lease a put names, detaching from
//! the old lease and attaching to the new one, as etcd's mvcc does); the lessor owns leases.
//!
//! As in etcd, a new store is at revision 1 and its first write makes revision 2; a failed put and
//! a delete of nothing consume no revision. The store is what etcd persists: it survives a crash
//! as is. It keeps only the latest version of each key (no history, no compaction, no watches).

use crate::digest::Digest;
use crate::expiry::ExpiryQueue;
use crate::lease::{LeaseError, LeaseId, Lessor, NO_LEASE, attachment_item};
use crate::small_map::{INLINE_MAX, SmallMap};

/// A key (and a value): a string kept inline up to 24 bytes, so the short keys of a model or a
/// simulation are cloned without an allocation. Hashes, orders and compares as its `str`.
pub type Key = compact_str::CompactString;

/// A store revision.
pub type Revision = i64;

/// The latest version of one key.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct KeyValue {
    pub value: Key,
    pub lease: LeaseId,
    pub create_revision: Revision,
    pub mod_revision: Revision,
    pub version: i64,
}

/// Equality compares everything. The hash is the revision and the running digest of the keys, which
/// stands for them as it does in `oracle::check_replicas_agree_by_digest` (equal stores hash alike;
/// different ones alike only by a 64-bit collision, as any fingerprint): a model checker hashes the
/// store of every state it generates, and two words cost less than every key and value.
#[derive(Debug, PartialEq, Eq)]
pub struct Kv {
    revision: Revision,
    keys: SmallMap<Key, KeyValue, INLINE_MAX>,
    /// Every key with its latest version (the whole `KeyValue`) as a digest, kept up to date by
    /// every put and delete.
    digest: Digest,
    /// Every key bound to a lease as the lessor's attachment item `(lease, key)`, kept up to date
    /// by every put and delete (see `Kv::bindings_digest`).
    bindings: Digest,
}

crate::clone_in_place!(impl for Kv { revision, keys, digest, bindings });

impl std::hash::Hash for Kv {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        let Kv { revision, keys: _, digest, bindings: _ } = self;
        (revision, digest).hash(state);
    }
}

impl Default for Kv {
    fn default() -> Kv {
        Kv::new()
    }
}

impl Kv {
    pub fn new() -> Kv {
        Kv { revision: 1, keys: SmallMap::new(), digest: Digest::EMPTY, bindings: Digest::EMPTY }
    }

    /// The current revision.
    pub fn revision(&self) -> Revision {
        self.revision
    }

    pub fn get(&self, key: &str) -> Option<&KeyValue> {
        self.keys.get(key)
    }

    /// Every key with its latest version, as an order-independent digest (see [`crate::digest`]);
    /// with the revision, what `oracle::check_replicas_agree*` compare first.
    pub fn digest(&self) -> Digest {
        self.digest
    }

    /// Every binding of a key to a lease, as the digest of the same items the lessor sums for its
    /// attachments (`LessorDigest::attachments`): the two are equal exactly when the KV binds each
    /// key to the lease that lists it and no other (up to a 64-bit hash collision).
    pub fn bindings_digest(&self) -> Digest {
        self.bindings
    }

    /// Panics if a running digest drifted from the one computed from scratch (a change that
    /// bypassed it: a programmer error).
    pub fn assert_consistent(&self) {
        assert_eq!(self.digest, Digest::of(self.keys.iter()), "the KV's running digest drifted");
        let bound = self.keys.iter().filter(|(_, kv)| kv.lease != NO_LEASE);
        let bindings = Digest::of(bound.map(|(key, kv)| attachment_item(kv.lease, key)));
        assert_eq!(self.bindings, bindings, "the KV's running bindings digest drifted");
    }

    /// Every key in order.
    pub fn iter(&self) -> impl Iterator<Item = (&Key, &KeyValue)> {
        self.keys.iter()
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Of the keys starting with `prefix`, the one created first (smallest create revision), as
    /// etcd's `Get(prefix, WithFirstCreate())` answers: the owner in etcd's lock recipe.
    pub fn first_created(&self, prefix: &str) -> Option<(&Key, &KeyValue)> {
        self.keys
            .range_from(prefix)
            .take_while(|(key, _)| key.starts_with(prefix))
            .min_by_key(|(_, kv)| kv.create_revision)
    }

    /// Put(key, value, lease): a lease that does not exist fails with `LeaseNotFound` and writes
    /// nothing; otherwise the key moves from its old lease (if another) to the new one.
    pub fn put<Q: ExpiryQueue>(
        &mut self,
        lessor: &mut Lessor<Q>,
        key: &str,
        value: &str,
        lease: LeaseId,
    ) -> Result<Revision, LeaseError> {
        if lease != NO_LEASE && lessor.lookup(lease).is_none() {
            return Err(LeaseError::LeaseNotFound);
        }
        let revision = self.revision + 1;
        let (create_revision, version) = match self.keys.get(key) {
            Some(old) => (old.create_revision, old.version + 1),
            None => (revision, 1),
        };
        let old_lease = lessor.lease_of_key(key);
        if old_lease != lease {
            if old_lease != NO_LEASE {
                // etcd logs and ignores a failed detach (the old lease may be gone).
                let _ = lessor.detach(old_lease, key);
            }
            if lease != NO_LEASE {
                lessor.attach(lease, key).expect("attach to a lease checked to exist just above");
            }
        }
        let new = KeyValue { value: Key::from(value), lease, create_revision, mod_revision: revision, version };
        self.digest.add((key, &new));
        if lease != NO_LEASE {
            self.bindings.add(attachment_item(lease, key));
        }
        if let Some(old) = self.keys.insert(Key::from(key), new) {
            self.digest.remove((key, &old));
            if old.lease != NO_LEASE {
                self.bindings.remove(attachment_item(old.lease, key));
            }
        }
        self.revision = revision;
        Ok(revision)
    }

    /// Delete(key): returns the revision after the delete and how many keys went (0 or 1).
    pub fn delete<Q: ExpiryQueue>(&mut self, lessor: &mut Lessor<Q>, key: &str) -> (Revision, u32) {
        match self.delete_keys_at_one_revision(lessor, &[key]) {
            Some(revision) => (revision, 1),
            None => (self.revision, 0),
        }
    }

    /// Deletes every existing key of `keys` at one new revision, detaching each from its lease.
    /// Returns that revision, or `None` (and no revision bump) when none of them existed.
    pub fn delete_keys_at_one_revision<Q: ExpiryQueue, K: AsRef<str>>(
        &mut self,
        lessor: &mut Lessor<Q>,
        keys: &[K],
    ) -> Option<Revision> {
        let mut deleted_any = false;
        for key in keys {
            let key = key.as_ref();
            if let Some(old) = self.keys.remove(key) {
                self.digest.remove((key, &old));
                if old.lease != NO_LEASE {
                    self.bindings.remove(attachment_item(old.lease, key));
                }
                deleted_any = true;
                let lease = lessor.lease_of_key(key);
                if lease != NO_LEASE {
                    let _ = lessor.detach(lease, key);
                }
            }
        }
        if deleted_any {
            self.revision += 1;
            Some(self.revision)
        } else {
            None
        }
    }

    /// After `Lessor::recover`: re-attach each key to the lease its latest version names (etcd's
    /// mvcc restore). A key naming a lease that no longer exists stays unattached, as in etcd,
    /// which logs the failure.
    pub fn reattach<Q: ExpiryQueue>(&self, lessor: &mut Lessor<Q>) {
        for (key, kv) in &self.keys {
            if kv.lease != NO_LEASE {
                let _ = lessor.attach(kv.lease, key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lease::{LessorConfig, RevokePhase};
    use crate::time::{Duration, Instant};

    fn leader() -> Lessor {
        let mut lessor = Lessor::new(LessorConfig::server_defaults());
        lessor.promote(Instant::EPOCH, Duration::ZERO);
        lessor
    }

    #[test]
    fn revisions_start_at_1_and_only_writes_that_happen_consume_one() {
        let (mut kv, mut lessor) = (Kv::new(), leader());
        assert_eq!(kv.revision(), 1);
        assert_eq!(kv.put(&mut lessor, "a", "1", NO_LEASE), Ok(2));
        assert_eq!(kv.put(&mut lessor, "a", "2", 7), Err(LeaseError::LeaseNotFound));
        assert_eq!(kv.delete(&mut lessor, "b"), (2, 0));
        assert_eq!(kv.put(&mut lessor, "a", "3", NO_LEASE), Ok(3));
        let a = kv.get("a").expect("a exists");
        assert_eq!((a.value.as_str(), a.create_revision, a.mod_revision, a.version), ("3", 2, 3, 2));
        assert_eq!(kv.delete(&mut lessor, "a"), (4, 1));
        kv.assert_consistent();
    }

    #[test]
    fn a_put_moves_the_key_and_a_revoke_deletes_all_keys_at_one_revision() {
        let (mut kv, mut lessor) = (Kv::new(), leader());
        lessor.grant(Instant::EPOCH, 1, 10).expect("grant 1");
        lessor.grant(Instant::EPOCH, 2, 10).expect("grant 2");
        kv.put(&mut lessor, "k", "v", 1).expect("put k");
        kv.put(&mut lessor, "j", "v", 2).expect("put j");
        kv.put(&mut lessor, "i", "v", 2).expect("put i");
        kv.put(&mut lessor, "k", "w", 2).expect("move k");
        assert_eq!(lessor.lease_of_key("k"), 2);
        assert!(lessor.lookup(1).expect("lease 1").keys.is_empty());
        assert_eq!(lessor.revoke(&mut kv, 2), Ok(vec![6]));
        assert!(kv.is_empty());
        assert_eq!(lessor.revoke(&mut kv, 1), Ok(vec![]), "no keys, no revision");
        assert_eq!(kv.revision(), 6);
        kv.assert_consistent();
        lessor.assert_consistent();
    }

    #[test]
    fn first_created_is_the_oldest_key_under_the_prefix_only() {
        let (mut kv, mut lessor) = (Kv::new(), leader());
        assert_eq!(kv.first_created("lock/"), None);
        kv.put(&mut lessor, "lock/b", "", NO_LEASE).expect("put");
        kv.put(&mut lessor, "lock/a", "", NO_LEASE).expect("put");
        kv.put(&mut lessor, "lock0", "", NO_LEASE).expect("put");
        kv.put(&mut lessor, "lock/b", "again", NO_LEASE).expect("a rewrite keeps its create revision");
        assert_eq!(kv.first_created("lock/").map(|(k, v)| (k.as_str(), v.create_revision)), Some(("lock/b", 2)));
        kv.delete(&mut lessor, "lock/b");
        assert_eq!(kv.first_created("lock/").map(|(k, _)| k.as_str()), Some("lock/a"));
    }

    #[test]
    fn reattach_binds_keys_to_recovered_leases_and_leaves_keys_of_gone_leases_unattached() {
        let (mut kv, mut lessor) = (Kv::new(), leader());
        lessor.grant(Instant::EPOCH, -4, 10).expect("grant -4");
        lessor.grant(Instant::EPOCH, 5, 10).expect("grant 5");
        kv.put(&mut lessor, "a", "v", -4).expect("put a");
        kv.put(&mut lessor, "b", "v", 5).expect("put b");
        // A revoke cut short after removing the lease but before deleting its keys leaves `b` naming
        // a lease that is gone (only reachable with etcd-6098's order; here done by hand).
        let mut ticket = lessor.revoke_begin(5).expect("revoke 5");
        ticket.phase = RevokePhase::RemoveLease;
        lessor.revoke_step(&mut kv, &mut ticket);
        let mut recovered: Lessor = Lessor::recover(LessorConfig::server_defaults(), lessor.records().clone());
        kv.reattach(&mut recovered);
        assert_eq!(recovered.lease_of_key("a"), -4);
        assert_eq!(recovered.lease_of_key("b"), NO_LEASE);
        assert_eq!(kv.get("b").map(|e| e.lease), Some(5), "the KV still names the gone lease");
        recovered.assert_consistent();
    }
}
