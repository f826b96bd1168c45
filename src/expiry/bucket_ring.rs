//! `BucketRing`: the hint buckets of [`super::BucketQueue`] — bucket index → `Vec` of entry
//! positions (4 bytes each; see `entry_slab.rs`).
//!
//! Owns where a bucket's hints live: a directly indexed ring of [`RING_SLOTS`] buckets starting at
//! `low` (a timing wheel's single level: no search on push), and a `BTreeMap` for every bucket
//! outside the ring's window at the time of the push (before `low`, or too far ahead) and for all
//! buckets while the queue is small (the ring is allocated only once the queue holds
//! [`RING_THRESHOLD`] hints, so small queues — a simulated member, a model-checker state — stay
//! small and cheap to clone). A bucket may have hints in both places; [`BucketRing::take`] returns
//! their union. It knows nothing of deadlines or leases: callers decide which bucket a hint goes to.

use std::collections::BTreeMap;

/// Buckets in the ring (a power of two): 65 536 × 100 ms ≈ 109 minutes, past etcd's common TTLs.
pub(crate) const RING_SLOTS: u64 = 1 << 16;
/// The ring is allocated once this many hints have been pushed since the last clear.
pub(crate) const RING_THRESHOLD: usize = 1 << 14;

#[derive(Clone, Debug, Default)]
pub(crate) struct BucketRing {
    /// Slot `b % RING_SLOTS` holds bucket `b` for `low <= b < low + RING_SLOTS`; empty until the
    /// threshold is reached.
    ring: Vec<Vec<u32>>,
    /// The first bucket the ring covers; every ring slot of a bucket before it is empty.
    low: u64,
    /// Buckets pushed outside the ring's window (or before the ring existed).
    outside: BTreeMap<u64, Vec<u32>>,
    pushed_since_clear: usize,
}

impl BucketRing {
    #[inline]
    fn in_ring(&self, bucket: u64) -> bool {
        !self.ring.is_empty() && bucket.wrapping_sub(self.low) < RING_SLOTS
    }

    #[inline]
    fn slot(bucket: u64) -> usize {
        (bucket % RING_SLOTS) as usize
    }

    #[inline]
    pub(crate) fn push(&mut self, bucket: u64, id: u32) {
        if self.in_ring(bucket) {
            self.ring[Self::slot(bucket)].push(id);
        } else {
            self.push_outside(bucket, id);
        }
    }

    #[cold]
    fn push_outside(&mut self, bucket: u64, id: u32) {
        self.outside.entry(bucket).or_default().push(id);
        self.pushed_since_clear += 1;
        if self.ring.is_empty() && self.pushed_since_clear >= RING_THRESHOLD {
            // Any start is valid for an all-empty ring; the earliest bucket in use is a good one.
            self.low = self.outside.keys().next().copied().unwrap_or(bucket);
            self.ring = vec![Vec::new(); RING_SLOTS as usize];
        }
    }

    /// Before `count` pushes from `first_bucket` on: allocates the ring now if they will reach the
    /// threshold, so none of them goes to the map outside it.
    pub(crate) fn prepare_bulk(&mut self, first_bucket: u64, count: usize) {
        if self.ring.is_empty() && self.pushed_since_clear + count >= RING_THRESHOLD {
            // Any start is valid for an all-empty ring; the earliest bucket in use is a good one.
            self.low = self.outside.keys().next().map_or(first_bucket, |&b| b.min(first_bucket));
            self.ring = vec![Vec::new(); RING_SLOTS as usize];
        }
    }

    /// Pushes every one of `ids` into `bucket` (a slice's or a range's, copied in at once).
    pub(crate) fn extend(&mut self, bucket: u64, ids: impl IntoIterator<Item = u32>) {
        if self.in_ring(bucket) {
            self.ring[Self::slot(bucket)].extend(ids);
        } else {
            for id in ids {
                self.push_outside(bucket, id);
            }
        }
    }

    /// The first bucket in `from..=until` that has hints.
    pub(crate) fn next_bucket(&self, from: u64, until: u64) -> Option<u64> {
        if from > until {
            return None;
        }
        let outside = self.outside.range(from..=until).next().map(|(&b, _)| b);
        let ring_until = until.min(outside.unwrap_or(u64::MAX));
        let in_ring = if self.ring.is_empty() {
            None
        } else {
            let ring_last = self.low.saturating_add(RING_SLOTS - 1);
            (from.max(self.low)..=ring_until.min(ring_last)).find(|&b| !self.ring[Self::slot(b)].is_empty())
        };
        match (outside, in_ring) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Removes and returns every hint of `bucket`.
    pub(crate) fn take(&mut self, bucket: u64) -> Vec<u32> {
        let mut hints =
            if self.in_ring(bucket) { std::mem::take(&mut self.ring[Self::slot(bucket)]) } else { Vec::new() };
        if let Some(outside) = self.outside.remove(&bucket) {
            if hints.is_empty() {
                hints = outside;
            } else {
                hints.extend_from_slice(&outside);
            }
        }
        hints
    }

    /// Puts a bucket's remaining hints back; the bucket must be empty (just taken).
    pub(crate) fn put_back(&mut self, bucket: u64, hints: Vec<u32>) {
        if hints.is_empty() {
            return;
        }
        if self.in_ring(bucket) {
            debug_assert!(self.ring[Self::slot(bucket)].is_empty(), "put_back into a non-empty bucket {bucket}");
            self.ring[Self::slot(bucket)] = hints;
        } else {
            self.outside.insert(bucket, hints);
        }
    }

    /// Moves the ring's window forward to start at `low`. The caller guarantees every bucket before
    /// `low` is empty (it has just taken them all).
    pub(crate) fn advance_low(&mut self, low: u64) {
        if low > self.low {
            debug_assert!(
                self.ring.is_empty()
                    || (self.low..low.min(self.low.saturating_add(RING_SLOTS)))
                        .all(|b| self.ring[Self::slot(b)].is_empty()),
                "advance_low past a non-empty ring bucket"
            );
            self.low = low;
        }
    }

    /// Every `(bucket, hints)` in bucket order (ring and outside merged; a bucket may appear twice).
    pub(crate) fn iter_in_order(&self) -> impl Iterator<Item = (u64, &[u32])> + '_ {
        let ring_buckets = if self.ring.is_empty() { 0 } else { RING_SLOTS };
        let ring = (0..ring_buckets).filter_map(move |offset| {
            let bucket = self.low.checked_add(offset)?;
            let hints = &self.ring[Self::slot(bucket)];
            (!hints.is_empty()).then_some((bucket, hints.as_slice()))
        });
        let mut ring = ring.peekable();
        let mut outside = self.outside.iter().map(|(&b, h)| (b, h.as_slice())).peekable();
        std::iter::from_fn(move || match (ring.peek(), outside.peek()) {
            (Some(r), Some(o)) if o.0 < r.0 => outside.next(),
            (Some(_), _) => ring.next(),
            (None, _) => outside.next(),
        })
    }

    pub(crate) fn clear(&mut self) {
        *self = BucketRing { low: self.low, ..BucketRing::default() };
    }
}
