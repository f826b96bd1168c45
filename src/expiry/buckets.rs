//! `BucketQueue`: leasesim's own expiry index — deadline buckets with lazy renew.
//!
//! Owns the design chosen for 1–10 M leases. Two parts:
//! - an [`IdTable`] holding each lease's exact deadline (the truth), and
//! - *hints*: per time bucket (deadlines rounded **up** to a multiple of [`BUCKET_MS`]), a plain
//!   `Vec` of lease IDs that may be due in that bucket.
//!
//! Invariant: every entry has a hint in a bucket at or before its deadline's bucket. A grant pushes
//! one hint; a renew to a later deadline only rewrites the deadline in the table (no bucket is
//! touched); a renew to an earlier bucket pushes a new hint; a remove only deletes from the table.
//! Stale hints are sorted out by the scan that reaches their bucket: a hint whose lease is gone is
//! dropped, one whose deadline moved later is moved to that bucket, and the rest — looked up with
//! prefetches, so the lookups overlap — are sorted by `(deadline, id)`, deduplicated and walked
//! exactly as etcd's `findExpiredLeases` walks its heap. Rounding up means a bucket never holds a
//! deadline later than its end, and the sort inside a bucket means nothing is reported early or
//! out of order.
//!
//! It deliberately does not keep hints in order, count stale hints, or shrink buckets it has not
//! scanned: memory for a revoked or renewed lease's old hint (8 bytes) is reclaimed when the scan
//! passes its bucket. Equality, hashing and `Debug` see only the `(id, deadline)` entries.

use std::fmt;
use std::hash::{Hash, Hasher};

use super::bucket_ring::BucketRing;
use super::id_table::IdTable;
use super::{DueCheck, ExpiryQueue};
use crate::lease::LeaseId;
use crate::time::Instant;

/// The width of a bucket. A fifth of etcd's 500 ms scan period: a scan then takes whole buckets
/// and re-reads at most one partly taken bucket per call.
pub const BUCKET_MS: u64 = 100;
/// How many table lookups a scan starts before it waits for the first.
const PREFETCH_BATCH: usize = 16;

/// The bucket of a deadline: its milliseconds rounded up to a multiple of [`BUCKET_MS`].
fn bucket_of(deadline: Instant) -> u64 {
    deadline.as_ms().div_ceil(BUCKET_MS)
}

#[derive(Clone, Default)]
pub struct BucketQueue {
    deadlines: IdTable,
    /// bucket → hints (lease IDs that may be due in it).
    buckets: BucketRing,
    /// The sorted, not yet walked due entries of the bucket a scan stopped in at its limit
    /// (`ready_bucket`), so the next scan resumes without sorting them again. They count as hints
    /// of that bucket; an upsert into or out of that bucket spills them back to plain hints.
    ready: Vec<(Instant, LeaseId)>,
    ready_bucket: Option<u64>,
    /// Scratch for the scan (no state between calls).
    due_scratch: Vec<(Instant, LeaseId)>,
    merge_scratch: Vec<(Instant, LeaseId)>,
    rearm_scratch: Vec<LeaseId>,
}

impl BucketQueue {
    /// Turns the ready entries back into plain hints of their bucket.
    fn spill_ready(&mut self) {
        if let Some(bucket) = self.ready_bucket.take() {
            for &(_, id) in &self.ready {
                self.buckets.push(bucket, id);
            }
            self.ready.clear();
        }
    }

    fn push_hint(&mut self, id: LeaseId, deadline: Instant) {
        self.buckets.push(bucket_of(deadline), id);
    }

    /// The entries in `(deadline, id)` order: what equality, hashing and `Debug` compare.
    fn sorted_entries(&self) -> Vec<(Instant, LeaseId)> {
        let mut entries: Vec<(Instant, LeaseId)> = self.deadlines.entries().map(|(id, d)| (d, id)).collect();
        entries.sort_unstable();
        entries
    }

    /// Sorts out the hints of `bucket`: drops those of gone leases and redundant ones, moves those
    /// whose deadline is later to that bucket, collects `(deadline, id)` of those due by `now` in
    /// `due` (unsorted, maybe repeated) and returns the rest (in this bucket, not yet due).
    fn sort_out_hints(
        &mut self,
        bucket: u64,
        mut hints: Vec<LeaseId>,
        now: Instant,
        due: &mut Vec<(Instant, LeaseId)>,
    ) -> Vec<LeaseId> {
        let mut kept = 0;
        for &id in hints.iter().take(PREFETCH_BATCH) {
            self.deadlines.prefetch(id);
        }
        for i in 0..hints.len() {
            if let Some(&ahead) = hints.get(i + PREFETCH_BATCH) {
                self.deadlines.prefetch(ahead);
            }
            let id = hints[i];
            let Some(deadline) = self.deadlines.get(id) else { continue };
            let home = bucket_of(deadline);
            if home > bucket {
                self.buckets.push(home, id);
            } else if home == bucket {
                if deadline <= now {
                    due.push((deadline, id));
                } else {
                    hints[kept] = id;
                    kept += 1;
                }
            }
            // home < bucket: an earlier hint exists for this deadline; this one is redundant.
        }
        hints.truncate(kept);
        hints
    }
}

impl ExpiryQueue for BucketQueue {
    fn upsert(&mut self, id: LeaseId, deadline: Instant) {
        let old = self.deadlines.insert(id, deadline);
        if let Some(ready_bucket) = self.ready_bucket
            && (bucket_of(deadline) == ready_bucket || old.is_some_and(|o| bucket_of(o) == ready_bucket))
        {
            self.spill_ready();
        }
        match old {
            // Lazy renew: the old hint is at or before the old bucket, hence before the new one.
            Some(old) if bucket_of(deadline) >= bucket_of(old) => {}
            _ => self.push_hint(id, deadline),
        }
    }

    fn remove(&mut self, id: LeaseId) {
        self.deadlines.remove(id);
    }

    fn peek(&self) -> Option<(LeaseId, Instant)> {
        // Every entry has a hint at or before its bucket, so once the buckets pass the best
        // deadline's bucket nothing earlier can remain.
        let mut best: Option<(Instant, LeaseId)> =
            self.ready.iter().copied().filter(|&(d, id)| self.deadlines.get(id) == Some(d)).min();
        for (bucket, hints) in self.buckets.iter_in_order() {
            if best.is_some_and(|(deadline, _)| bucket > bucket_of(deadline)) {
                break;
            }
            for &id in hints {
                if let Some(deadline) = self.deadlines.get(id)
                    && best.is_none_or(|b| (deadline, id) < b)
                {
                    best = Some((deadline, id));
                }
            }
        }
        best.map(|(deadline, id)| (id, deadline))
    }

    fn take_due<F: FnMut(LeaseId) -> DueCheck>(
        &mut self,
        now: Instant,
        limit: usize,
        rearm_at: Instant,
        mut check: F,
        out: &mut Vec<LeaseId>,
    ) {
        if limit == 0 {
            return;
        }
        let last_bucket = bucket_of(now);
        let mut due = std::mem::take(&mut self.due_scratch);
        let mut merged = std::mem::take(&mut self.merge_scratch);
        let mut rearmed = std::mem::take(&mut self.rearm_scratch);
        let mut reported = 0;
        let mut cursor = 0;
        while reported < limit {
            let next_hinted = self.buckets.next_bucket(cursor, last_bucket);
            let ready = self.ready_bucket.filter(|&b| b >= cursor && b <= last_bucket);
            let Some(bucket) = next_hinted.into_iter().chain(ready).min() else { break };
            let hints = self.buckets.take(bucket);
            due.clear();
            let rest = self.sort_out_hints(bucket, hints, now, &mut due);
            due.sort_unstable();
            // Resume a bucket left at the limit: merge its sorted remainder with the new entries.
            merged.clear();
            if self.ready_bucket == Some(bucket) {
                self.ready_bucket = None;
                merge_sorted(&self.ready, &due, &mut merged);
                self.ready.clear();
            } else {
                merged.extend_from_slice(&due);
            }
            merged.dedup();
            let mut walked = 0;
            for &(deadline, id) in &merged {
                walked += 1;
                // A resumed entry may have been removed or renewed since it was sorted.
                match self.deadlines.get(id) {
                    Some(current) if current == deadline => {}
                    Some(current) if bucket_of(current) > bucket => {
                        self.buckets.push(bucket_of(current), id);
                        continue;
                    }
                    _ => continue,
                }
                match check(id) {
                    DueCheck::Gone => {
                        self.deadlines.remove(id);
                    }
                    verdict => {
                        rearmed.push(id);
                        if verdict == DueCheck::Expired {
                            out.push(id);
                            reported += 1;
                            if reported == limit {
                                break;
                            }
                        }
                    }
                }
            }
            if walked < merged.len() {
                self.ready.extend_from_slice(&merged[walked..]);
                self.ready_bucket = Some(bucket);
            }
            self.buckets.put_back(bucket, rest);
            cursor = bucket + 1;
        }
        // Every bucket before the last one taken is empty now; if the walk ran out (rather than
        // stopping at the limit), every bucket before `now`'s is empty too.
        self.buckets.advance_low(if reported == limit { cursor - 1 } else { last_bucket });
        // Re-armed entries go back after the walk so a `rearm_at <= now` cannot loop forever. Their
        // hints were consumed by the walk, so each gets a new one.
        let rearm_bucket = bucket_of(rearm_at);
        if self.ready_bucket == Some(rearm_bucket) && !rearmed.is_empty() {
            self.spill_ready();
        }
        for &id in &rearmed {
            self.deadlines.insert(id, rearm_at);
        }
        self.buckets.extend(rearm_bucket, &rearmed);
        rearmed.clear();
        self.due_scratch = due;
        self.merge_scratch = merged;
        self.rearm_scratch = rearmed;
    }

    fn clear(&mut self) {
        self.deadlines.clear();
        self.buckets.clear();
        self.ready.clear();
        self.ready_bucket = None;
    }

    fn len(&self) -> usize {
        self.deadlines.len()
    }

    fn deadline_of(&self, id: LeaseId) -> Option<Instant> {
        self.deadlines.get(id)
    }
}

impl PartialEq for BucketQueue {
    fn eq(&self, other: &BucketQueue) -> bool {
        self.len() == other.len() && self.deadlines.entries().all(|(id, d)| other.deadlines.get(id) == Some(d))
    }
}

impl Eq for BucketQueue {}

impl Hash for BucketQueue {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.sorted_entries().hash(state);
    }
}

impl fmt::Debug for BucketQueue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.sorted_entries().into_iter().map(|(d, id)| (id, d))).finish()
    }
}

/// Merges two sorted runs into `out`.
fn merge_sorted(a: &[(Instant, LeaseId)], b: &[(Instant, LeaseId)], out: &mut Vec<(Instant, LeaseId)>) {
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        if a[i] <= b[j] {
            out.push(a[i]);
            i += 1;
        } else {
            out.push(b[j]);
            j += 1;
        }
    }
    out.extend_from_slice(&a[i..]);
    out.extend_from_slice(&b[j..]);
}
