//! What etcd keeps of leases on disk: `{id, ttl, remaining_ttl}` records in the lease bucket.
//!
//! Records are keyed as etcd keys them (the ID's 8 big-endian bytes), so negative IDs must
//! round-trip through the encoding (etcd issue 12535). This is a value, not a file: the simulator
//! keeps it across a crash and hands it to `Lessor::recover`.

use super::LeaseId;
use crate::digest::Digest;
use crate::small_map::{INLINE_MAX, SmallMap};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LeaseRecord {
    pub id: LeaseId,
    pub ttl_s: i64,
    pub remaining_ttl_s: i64,
}

/// The lease bucket: records by their encoded key. Equality compares the records; the hash is the
/// running digest of the records, which stands for them (equal buckets hash alike; different ones
/// alike only by a 64-bit collision, as any fingerprint): a model checker hashes the bucket of every
/// state it generates.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct LeaseRecords {
    bucket: SmallMap<[u8; 8], LeaseRecord, INLINE_MAX>,
    /// Every record as a digest item, kept up to date by every put and delete.
    digest: Digest,
}

crate::clone_in_place!(impl for LeaseRecords { bucket, digest });

impl std::hash::Hash for LeaseRecords {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.digest.hash(state);
    }
}

impl LeaseRecords {
    /// etcd's `int64ToBytes`: the ID as an unsigned big-endian u64.
    pub fn encode_key(id: LeaseId) -> [u8; 8] {
        (id as u64).to_be_bytes()
    }
    pub fn decode_key(key: [u8; 8]) -> LeaseId {
        u64::from_be_bytes(key) as LeaseId
    }

    pub fn put(&mut self, record: LeaseRecord) {
        self.digest.add(record);
        if let Some(old) = self.bucket.insert(Self::encode_key(record.id), record) {
            self.digest.remove(old);
        }
    }
    pub fn delete(&mut self, id: LeaseId) {
        if let Some(old) = self.bucket.remove(&Self::encode_key(id)) {
            self.digest.remove(old);
        }
    }
    /// Panics if the running digest drifted from the one computed from scratch.
    pub fn assert_consistent(&self) {
        assert_eq!(self.digest, Digest::of(self.bucket.values()), "the lease bucket's running digest drifted");
    }
    pub fn get(&self, id: LeaseId) -> Option<&LeaseRecord> {
        self.bucket.get(&Self::encode_key(id))
    }
    pub fn len(&self) -> usize {
        self.bucket.len()
    }
    pub fn is_empty(&self) -> bool {
        self.bucket.is_empty()
    }
    /// Records in bucket (encoded key) order, each with the ID decoded from its key.
    pub fn iter(&self) -> impl Iterator<Item = LeaseRecord> + '_ {
        self.bucket.iter().map(|(key, record)| LeaseRecord { id: Self::decode_key(*key), ..*record })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negative_ids_round_trip() {
        let mut records = LeaseRecords::default();
        for id in [-1, i64::MIN, 7, i64::MAX, -9_000] {
            records.put(LeaseRecord { id, ttl_s: 10, remaining_ttl_s: 0 });
        }
        let mut ids: Vec<LeaseId> = records.iter().map(|r| r.id).collect();
        ids.sort();
        assert_eq!(ids, vec![i64::MIN, -9_000, -1, 7, i64::MAX]);
        assert_eq!(records.get(-1).map(|r| r.ttl_s), Some(10));
        records.put(LeaseRecord { id: 7, ttl_s: 11, remaining_ttl_s: 3 });
        records.delete(-1);
        records.delete(-2);
        records.assert_consistent();
    }
}
