//! A fixed-seed hasher for lease IDs, shared by the expiry indexes that keep an ID map.
//!
//! Owns one thing: turning an `i64` lease ID into a well-mixed `u64` with no per-process seed, so
//! lookups cost the same in every run and nothing depends on a random seed. It is for pure lookups
//! only: no expiry index ever lets the iteration order of a hashed map reach its output.

use std::hash::{BuildHasherDefault, Hasher};

/// The odd 64-bit constant of Fibonacci hashing (2^64 / φ).
const GOLDEN_GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;

/// Mixes a lease ID into 64 well-distributed bits: a folded 128-bit multiply, so both the high
/// bits (table index) and the low bits (hashbrown's control byte) depend on every input bit.
#[inline]
pub(crate) fn mix_id(id: i64) -> u64 {
    let product = u128::from(id as u64 ^ GOLDEN_GAMMA) * u128::from(GOLDEN_GAMMA);
    (product as u64) ^ ((product >> 64) as u64)
}

/// A `Hasher` for maps keyed by lease ID.
#[derive(Clone, Copy, Default)]
pub(crate) struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        // Only reached for non-integer keys; kept correct (FNV-1a) rather than fast.
        for &byte in bytes {
            self.0 = (self.0 ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
        }
    }
    fn write_i64(&mut self, id: i64) {
        self.0 = mix_id(id ^ self.0 as i64);
    }
}

/// `BuildHasher` for `HashMap<LeaseId, _, IdBuildHasher>`.
pub(crate) type IdBuildHasher = BuildHasherDefault<IdHasher>;
