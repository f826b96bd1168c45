//! `DueSorter`: sorts the due entries a scan collected from one bucket by `(deadline, id,
//! position)`.
//!
//! Owns one sort for [`super::BucketQueue`]'s scan, and its working space. Every entry of a bucket
//! has a deadline within the bucket's [`BUCKET_MS`] milliseconds, so the deadline takes at most
//! `BUCKET_MS` values (7 bits of rank), and lease IDs spread over a known range. Two ways:
//! - when the rank, the ID's offset in the range and the entry's index fit in one 64-bit key
//!   together (IDs within 2^40 of each other at 40,000 entries, say: etcd's IDs from one leader's
//!   generator, or the benches'), the keys are radix-sorted by rank and ID (`radix_sort.rs`: a few
//!   linear passes over 8-byte keys) and the entries gathered in that order;
//! - otherwise one counting pass scatters the entries into bins keyed by (deadline, the ID's
//!   leading bits within the range), as many bits per deadline as it has entries need, about one
//!   entry per bin, in bin order; what is left is sorting each bin, which is nearly always one or
//!   two entries (a bin that holds many — IDs bunched within a wide range — gets a comparison sort).
//!
//! At tens of thousands of entries per bucket (10 M leases) either is a few linear passes where a
//! comparison sort would go through all its levels, each a poorly predicted branch.
//! The result is exactly that of `sort_unstable` on the tuples (the order is total), so duplicates
//! end up adjacent for `dedup`. Pure: no clock, no randomness.

use super::buckets::{BUCKET_MS, Due};
use super::radix_sort::stable_sort_by_high_bits;

/// Bits of a deadline's rank within its bucket (`0..BUCKET_MS`).
const RANK_BITS: u32 = u64::BITS - (BUCKET_MS - 1).leading_zeros();

/// Below this many entries a comparison sort of the whole list is cheaper than the counting pass.
const SMALL: usize = 256;
/// Bins of up to this many entries are sorted by insertion; larger ones by `sort_unstable`.
const INSERTION_MAX: usize = 16;

#[derive(Clone, Debug, Default)]
pub(crate) struct DueSorter {
    scratch: Vec<Due>,
    /// Per bin, its count, then where it starts.
    bin_starts: Vec<u32>,
    /// Per entry, its bin.
    bins: Vec<u32>,
    /// Per entry, its packed sort key, and the radix sort's working space for them.
    keys: Vec<u64>,
    key_scratch: Vec<u64>,
}

/// The rank of `deadline_ms` among the deadlines of bucket `bucket` (`(b - 1) * BUCKET_MS + 1 ..=
/// b * BUCKET_MS`, since deadlines are rounded up): `0..BUCKET_MS`, ascending with the deadline.
/// Wrapping arithmetic, so FOREVER's bucket (whose end lies past `u64::MAX`) is no exception.
#[inline]
fn rank_in_bucket(deadline_ms: u64, bucket: u64) -> u64 {
    deadline_ms.wrapping_add(BUCKET_MS - 1).wrapping_sub(bucket.wrapping_mul(BUCKET_MS))
}

/// A lease ID as an unsigned number in the same order.
#[inline]
fn ordered_id(id: i64) -> u64 {
    (id as u64) ^ (1 << 63)
}

impl DueSorter {
    /// Sorts `due` — entries whose deadlines all lie in one bucket — by `(deadline, id, position)`.
    pub(crate) fn sort_due_of_bucket(&mut self, due: &mut Vec<Due>) {
        if due.len() < SMALL {
            due.sort_unstable();
            return;
        }
        debug_assert!(
            due.iter().all(|&(d, _, _)| d.as_ms().div_ceil(BUCKET_MS) == due[0].0.as_ms().div_ceil(BUCKET_MS)),
            "sort_due_of_bucket: deadlines from more than one bucket"
        );
        assert!(u32::try_from(due.len()).is_ok(), "fewer than 2^32 due entries");
        // Per deadline rank, how many entries, and the ID range of all of them.
        let bucket = due[0].0.as_ms().div_ceil(BUCKET_MS);
        let mut per_rank = [0u32; BUCKET_MS as usize];
        let (mut min_id, mut max_id) = (u64::MAX, 0);
        for &(deadline, id, _) in due.iter() {
            per_rank[rank_in_bucket(deadline.as_ms(), bucket) as usize] += 1;
            (min_id, max_id) = (min_id.min(ordered_id(id)), max_id.max(ordered_id(id)));
        }
        let range_bits = u64::BITS - (max_id - min_id).leading_zeros();
        let index_bits = u32::BITS - (due.len() as u32 - 1).leading_zeros();
        if RANK_BITS + range_bits + index_bits <= u64::BITS {
            self.sort_packed(due, bucket, min_id, range_bits, index_bits);
            return;
        }
        // Bins: per rank, as many leading bits of the ID's offset in the range as that rank needs
        // for about one entry per bin (a rank holding a whole scan's re-armed entries, all due at
        // the same millisecond, gets many; an empty one gets a single bin), so at most about two
        // bins per entry in all. Each entry's bin is computed once, kept, and counted.
        let mut first_bin = [0u64; BUCKET_MS as usize];
        let mut shift = [0u32; BUCKET_MS as usize];
        let mut bins: u64 = 0;
        for ((&count, first), shift) in per_rank.iter().zip(&mut first_bin).zip(&mut shift) {
            let id_bits = (u32::BITS - count.saturating_sub(1).leading_zeros()).min(range_bits);
            *first = bins;
            *shift = range_bits - id_bits;
            bins += 1 << id_bits;
        }
        let bins = bins as usize;
        self.bin_starts.clear();
        self.bin_starts.resize(bins + 1, 0);
        self.bins.clear();
        for &(deadline, id, _) in due.iter() {
            let rank = rank_in_bucket(deadline.as_ms(), bucket) as usize;
            let bin = (first_bin[rank] + (ordered_id(id) - min_id).checked_shr(shift[rank]).unwrap_or(0)) as usize;
            self.bins.push(bin as u32);
            self.bin_starts[bin + 1] += 1;
        }
        for b in 1..self.bin_starts.len() {
            self.bin_starts[b] += self.bin_starts[b - 1];
        }
        self.scratch.clear();
        self.scratch.resize(due.len(), due[0]);
        for (entry, &bin) in due.iter().zip(&self.bins) {
            let slot = &mut self.bin_starts[bin as usize];
            self.scratch[*slot as usize] = *entry;
            *slot += 1;
        }
        // Each bin's start moved to its end, which is the next bin's start.
        let mut start = 0;
        for &end in &self.bin_starts[..bins] {
            let end = end as usize;
            // Most bins hold none or one entry: nothing to sort.
            if end - start > 1 {
                let run = &mut self.scratch[start..end];
                if run.len() <= INSERTION_MAX {
                    insertion_sort(run);
                } else {
                    run.sort_unstable();
                }
            }
            start = end;
        }
        std::mem::swap(due, &mut self.scratch);
    }

    /// The sort when a key of (deadline rank, ID offset in the range, index in `due`) fits in 64
    /// bits: a stable radix sort of those keys by rank and ID, then a gather in that order. Ties
    /// in (deadline, ID) — the same entry from two hints, or (never by the queue's invariant) one
    /// ID at two positions — are put in position order by a last pass.
    fn sort_packed(&mut self, due: &mut Vec<Due>, bucket: u64, min_id: u64, range_bits: u32, index_bits: u32) {
        self.keys.clear();
        self.keys.extend(due.iter().enumerate().map(|(i, &(deadline, id, _))| {
            let rank = rank_in_bucket(deadline.as_ms(), bucket);
            (((rank << range_bits) | (ordered_id(id) - min_id)) << index_bits) | i as u64
        }));
        stable_sort_by_high_bits(&mut self.keys, index_bits, &mut self.key_scratch);
        let index_mask = (1u64 << index_bits) - 1;
        self.scratch.clear();
        self.scratch.extend(self.keys.iter().map(|&key| due[(key & index_mask) as usize]));
        std::mem::swap(due, &mut self.scratch);
        for i in 1..due.len() {
            if (due[i].0, due[i].1) == (due[i - 1].0, due[i - 1].1) && due[i].2 < due[i - 1].2 {
                let mut j = i;
                while j > 0 && due[j] < due[j - 1] {
                    due.swap(j, j - 1);
                    j -= 1;
                }
            }
        }
    }
}

fn insertion_sort(run: &mut [Due]) {
    for i in 1..run.len() {
        let mut j = i;
        while j > 0 && run[j] < run[j - 1] {
            run.swap(j, j - 1);
            j -= 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lease::LeaseId;
    use crate::test_rng::Xorshift;
    use crate::time::Instant;

    #[test]
    fn sorts_like_sort_unstable_in_every_bucket_at_every_size() {
        let mut rng = Xorshift(0x2545_F491_4F6C_DD1D);
        let mut next = move || rng.next_u64();
        let mut sorter = DueSorter::default();
        // Bucket 0 (deadline 0 only), ordinary buckets, and FOREVER's; IDs from a few values (ties
        // and duplicates) or bunched, each with far outliers (crowded bins, and too wide a range for
        // a packed key) and without (packed keys), spread over 2^41 (a packed key of all 64 bits at
        // 40,000 entries) or 2^42 (one bit too many), and spread over all of i64;
        // deadlines spread over the bucket, or three in four at one millisecond (a scan's re-armed
        // entries).
        for bucket in [0u64, 1, 7, 123_456, u64::MAX.div_ceil(BUCKET_MS)] {
            for (ids, one_ms) in (0..7).flat_map(|ids| [(ids, false), (ids, true)]) {
                for n in [0usize, 1, 5, SMALL - 1, SMALL, 3_000, 40_000] {
                    let mut due: Vec<Due> = (0..n)
                        .map(|_| {
                            let r = next();
                            let deadline_ms = if bucket == 0 {
                                0
                            } else {
                                // Anywhere in ((bucket - 1) * BUCKET_MS, bucket * BUCKET_MS], saturating.
                                let offset_ms = if one_ms && r % 4 != 0 { 37 } else { 1 + r % BUCKET_MS };
                                ((bucket - 1) * BUCKET_MS).saturating_add(offset_ms)
                            };
                            let id = match (ids, r >> 60) {
                                (0 | 1, 0) => LeaseId::MIN,
                                (0 | 1, 1) => LeaseId::MAX,
                                (0 | 3, _) => (r >> 20) as LeaseId % 50 - 25,
                                (1 | 4, _) => (r >> 20) as LeaseId % 5_000,
                                // A range of 2^41: a packed key of 40,000 entries takes all 64 bits.
                                (5, _) => (r >> 23) as LeaseId - (1 << 40),
                                // 2^42: one bit too many for a packed key at 40,000 entries.
                                (6, _) => (r >> 22) as LeaseId - (1 << 41),
                                _ => r.rotate_left(7) as LeaseId,
                            };
                            (Instant(deadline_ms), id, (r >> 40) as u32 % 8)
                        })
                        .collect();
                    let mut expected = due.clone();
                    expected.sort_unstable();
                    sorter.sort_due_of_bucket(&mut due);
                    assert_eq!(due, expected, "{n} entries in bucket {bucket}, IDs of kind {ids}, one ms: {one_ms}");
                }
            }
        }
    }
}
