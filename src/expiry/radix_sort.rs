//! `stable_sort_by_high_bits`: a least-significant-digit radix sort of packed `u64` keys.
//!
//! Owns one bulk-sorting routine, used twice: by the lessor's bulk path (a promote whose expiries
//! are not whole seconds apart, or too far apart for its counting sort, sorts every lease by expiry
//! this way for its pile-up pass) and by the scan's sort of a bucket's due entries (`due_sort.rs`).
//! Keys pack a sort field above `low_bits` and a payload below (typically an input position,
//! already ascending). Sorting only the field, stably, orders the keys fully in a
//! few linear passes over the field's significant bits — several times faster than a comparison
//! sort at a million keys. Pure: no clock, no randomness.

use super::huge_pages::advise_huge_pages;

/// Bits per radix digit: 2048 counters stay in L1.
const DIGIT_BITS: u32 = 11;
const RADIX: usize = 1 << DIGIT_BITS;
/// Below this many keys a comparison sort is cheaper than the counting passes.
const SMALL: usize = 512;

/// Sorts `keys` by `key >> low_bits`, stably: keys equal above `low_bits` keep their order. Keys
/// whose low bits ascend in input order therefore come out fully sorted. `scratch` is working
/// space (its contents are lost; a caller that sorts again and again keeps its allocation).
pub(crate) fn stable_sort_by_high_bits(keys: &mut Vec<u64>, low_bits: u32, scratch: &mut Vec<u64>) {
    assert!(low_bits < 64, "a sort field needs at least one bit");
    if keys.len() < SMALL {
        keys.sort_by_key(|&key| key >> low_bits);
        return;
    }
    let field_max = keys.iter().map(|&key| key >> low_bits).max().unwrap_or(0);
    let field_bits = u64::BITS - field_max.leading_zeros();
    scratch.clear();
    if scratch.capacity() < keys.len() {
        // A fresh allocation, advised before its first touch.
        *scratch = Vec::with_capacity(keys.len());
        advise_huge_pages(scratch);
    }
    scratch.resize(keys.len(), 0u64);
    let mut counts = [0usize; RADIX];
    let mut shift = low_bits;
    while shift < low_bits + field_bits {
        let digit = |key: u64| ((key >> shift) as usize) & (RADIX - 1);
        counts.fill(0);
        for &key in keys.iter() {
            counts[digit(key)] += 1;
        }
        let mut start = 0;
        for count in counts.iter_mut() {
            let n = *count;
            *count = start;
            start += n;
        }
        for &key in keys.iter() {
            let slot = &mut counts[digit(key)];
            scratch[*slot] = key;
            *slot += 1;
        }
        std::mem::swap(keys, scratch);
        shift += DIGIT_BITS;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_rng::Xorshift;

    #[test]
    fn sorts_the_field_stably_at_every_size_and_width() {
        let mut rng = Xorshift(0x9E37_79B9_7F4A_7C15);
        for (n, field_bits) in [(0, 5), (7, 3), (600, 1), (5_000, 12), (5_000, 23), (3_000, 32)] {
            let mut keys: Vec<u64> =
                (0..n as u64).map(|position| ((rng.next_u64() >> (64 - field_bits)) << 32) | position).collect();
            let mut expected = keys.clone();
            expected.sort_unstable();
            stable_sort_by_high_bits(&mut keys, 32, &mut Vec::new());
            assert_eq!(keys, expected, "{n} keys with a {field_bits}-bit field");
        }
        // Stability when the payload does not ascend: equal fields keep input order.
        let mut keys: Vec<u64> = (0..2_000u64).map(|i| ((i % 3) << 40) | (2_000 - i)).collect();
        let mut expected = keys.clone();
        expected.sort_by_key(|&key| key >> 40);
        stable_sort_by_high_bits(&mut keys, 40, &mut vec![7; 3]);
        assert_eq!(keys, expected);
    }
}
