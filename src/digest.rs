//! Order-independent digests of replicated state: the wrapping sum of one hash per item (a lease,
//! an attachment, a key), so an item's arrival adds its hash and its departure subtracts it, each
//! in O(1), and two stores that hold the same items have the same digest whatever order they were
//! built in.
//!
//! Owns the item hash and the sum. It knows nothing of what the items are (the lessor and the KV
//! decide what they add) and never decides agreement (the oracle does: equal digests stand for
//! equal states, and on a mismatch the oracle compares the states in full).

use std::hash::{Hash, Hasher};

/// A multiset of items, as the sum of their hashes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest(u64);

impl Digest {
    pub const EMPTY: Digest = Digest(0);

    /// The digest of `items` computed from scratch (what the running digest must equal).
    pub fn of<I: Hash>(items: impl IntoIterator<Item = I>) -> Digest {
        let mut digest = Digest::EMPTY;
        for item in items {
            digest.add(item);
        }
        digest
    }

    pub fn add(&mut self, item: impl Hash) {
        self.0 = self.0.wrapping_add(item_hash(item));
    }

    pub fn remove(&mut self, item: impl Hash) {
        self.0 = self.0.wrapping_sub(item_hash(item));
    }

    /// Both multisets together.
    pub fn plus(self, other: Digest) -> Digest {
        Digest(self.0.wrapping_add(other.0))
    }
}

/// A fixed-key hash of one item: the same in every run and every build (no per-process seed), as
/// a digest compared within one run needs, and cheap enough to keep per change (a model checker
/// updates digests on every transition; SipHash was ~6 % of its instructions).
fn item_hash(item: impl Hash) -> u64 {
    let mut hasher = ItemHasher(ItemHasher::SEED);
    item.hash(&mut hasher);
    hasher.finish()
}

/// Word-at-a-time multiply-rotate mixing (as rustc's FxHash) with a SplitMix64 finalizer, so every
/// input bit reaches every output bit before the hashes are summed. Not DoS-resistant; nothing
/// here hashes untrusted input into a table.
struct ItemHasher(u64);

impl ItemHasher {
    const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

    fn mix(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(ItemHasher::SEED);
    }
}

impl Hasher for ItemHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            self.mix(u64::from_le_bytes(chunk.try_into().expect("8-byte chunk")));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut word = [0u8; 8];
            word[..rest.len()].copy_from_slice(rest);
            // The length tags the tail, so "a" and "a\0" differ.
            self.mix(u64::from_le_bytes(word) ^ ((rest.len() as u64) << 59));
        }
    }

    fn write_u8(&mut self, n: u8) {
        self.mix(u64::from(n));
    }

    fn write_u32(&mut self, n: u32) {
        self.mix(u64::from(n));
    }

    fn write_u64(&mut self, n: u64) {
        self.mix(n);
    }

    fn write_i64(&mut self, n: i64) {
        self.mix(n as u64);
    }

    fn write_usize(&mut self, n: usize) {
        self.mix(n as u64);
    }

    fn finish(&self) -> u64 {
        // SplitMix64's finalizer.
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_digest_is_of_the_multiset_not_the_order() {
        let mut a = Digest::EMPTY;
        a.add((1, "k"));
        a.add((2, "j"));
        a.add((3, "i"));
        a.remove((2, "j"));
        assert_eq!(a, Digest::of([(3, "i"), (1, "k")]));
        assert_ne!(a, Digest::of([(1, "k")]));
        assert_ne!(a, Digest::of([(1, "i"), (3, "k")]), "items are hashed whole, not field by field");
        a.remove((3, "i"));
        a.remove((1, "k"));
        assert_eq!(a, Digest::EMPTY);
    }

    #[test]
    fn item_hashes_tell_small_items_apart() {
        let mut seen = std::collections::BTreeSet::new();
        for id in 0..64i64 {
            for key in ["", "a", "b", "ab", "a\0", "abcdefgh", "abcdefghi"] {
                assert!(seen.insert(item_hash((id, key))), "({id}, {key:?}) collides");
                assert!(seen.insert(item_hash((key, id, 0i64))), "({key:?}, {id}, 0) collides");
            }
            assert!(seen.insert(item_hash(id as u64)), "{id} collides");
        }
        assert_ne!(item_hash(0u64), 0, "a zero item must still count");
    }
}
