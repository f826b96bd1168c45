//! Order-independent digests of replicated state: the wrapping sum of one hash per item (a lease,
//! an attachment, a key), so an item's arrival adds its hash and its departure subtracts it, each
//! in O(1), and two stores that hold the same items have the same digest whatever order they were
//! built in.
//!
//! Owns the item hash and the sum. It knows nothing of what the items are (the lessor and the KV
//! decide what they add) and never decides agreement (the oracle does: equal digests stand for
//! equal states, and on a mismatch the oracle compares the states in full).

use std::collections::hash_map::DefaultHasher;
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

/// SipHash-1-3 with std's fixed keys: the same in every run of one build (no per-process seed),
/// which is all a digest compared within one run needs.
fn item_hash(item: impl Hash) -> u64 {
    let mut hasher = DefaultHasher::new();
    item.hash(&mut hasher);
    hasher.finish()
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
}
