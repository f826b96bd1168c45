//! `SmallQueue`: the models' expiry index — the `(deadline, id)` entries as one sorted inline
//! vector, for the handful of leases a model holds.
//!
//! Owns nothing but the `ExpiryQueue` contract for tiny sizes: cloning it is a copy (no heap while
//! it holds at most `INLINE` entries) and its derived equality and hash see exactly the sorted
//! entries, so two lessors with the same deadlines are the same model state (as with the default
//! `BucketQueue`, whose equality and hash also see only the entries). Linear in the number of
//! leases per operation: not for the simulator's or the benches' sizes.

use leasesim::expiry::{DueCheck, ExpiryQueue};
use leasesim::lease::LeaseId;
use leasesim::time::Instant;
use smallvec::SmallVec;

/// Entries held without a heap allocation.
const INLINE: usize = 4;

#[derive(Debug, Default, PartialEq, Eq, Hash)]
pub struct SmallQueue {
    /// Sorted by `(deadline, id)`, at most one entry per ID.
    entries: SmallVec<[(Instant, LeaseId); INLINE]>,
}

leasesim::clone_in_place!(impl for SmallQueue { entries });

impl SmallQueue {
    fn insert_sorted(&mut self, deadline: Instant, id: LeaseId) {
        let at = self.entries.partition_point(|&entry| entry < (deadline, id));
        self.entries.insert(at, (deadline, id));
    }
}

impl ExpiryQueue for SmallQueue {
    fn upsert(&mut self, id: LeaseId, deadline: Instant) {
        self.remove(id);
        self.insert_sorted(deadline, id);
    }

    fn remove(&mut self, id: LeaseId) {
        if let Some(at) = self.entries.iter().position(|&(_, e)| e == id) {
            self.entries.remove(at);
        }
    }

    fn peek(&self) -> Option<(LeaseId, Instant)> {
        self.entries.first().map(|&(deadline, id)| (id, deadline))
    }

    fn take_due<F: FnMut(LeaseId) -> DueCheck>(
        &mut self,
        now: Instant,
        limit: usize,
        rearm_at: Instant,
        mut check: F,
        out: &mut Vec<LeaseId>,
    ) {
        let mut reported = 0;
        let mut walked = 0;
        let mut rearmed: SmallVec<[LeaseId; INLINE]> = SmallVec::new();
        while reported < limit && walked < self.entries.len() {
            let (deadline, id) = self.entries[walked];
            if deadline > now {
                break;
            }
            walked += 1;
            match check(id) {
                DueCheck::Gone => {}
                verdict => {
                    rearmed.push(id);
                    if verdict == DueCheck::Expired {
                        out.push(id);
                        reported += 1;
                    }
                }
            }
        }
        // Re-armed entries go back after the walk so a `rearm_at <= now` cannot loop forever.
        self.entries.drain(..walked);
        for id in rearmed {
            self.insert_sorted(rearm_at, id);
        }
    }

    fn clear(&mut self) {
        self.entries.clear();
    }

    fn len(&self) -> usize {
        self.entries.len()
    }

    fn deadline_of(&self, id: LeaseId) -> Option<Instant> {
        self.entries.iter().find(|&&(_, e)| e == id).map(|&(deadline, _)| deadline)
    }
}

#[cfg(test)]
mod tests {
    use leasesim::expiry::BTreeQueue;

    use super::*;

    /// The lessor's view of a lease: gone, expired at `now`, or alive (from its ID and `now`).
    fn verdict(id: LeaseId, now: Instant) -> DueCheck {
        match (id + now.as_ms() as i64 / 500) % 3 {
            0 => DueCheck::Gone,
            1 => DueCheck::Expired,
            _ => DueCheck::Alive,
        }
    }

    /// The same operations on `SmallQueue` and the reference `BTreeQueue` give the same answers,
    /// in the same order, beyond the inline capacity too.
    #[test]
    fn agrees_with_the_btree_queue() {
        let (mut small, mut reference) = (SmallQueue::default(), BTreeQueue::default());
        let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = |bound: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % bound
        };
        let mut now = Instant::EPOCH;
        for _ in 0..20_000 {
            let id = next(7) as LeaseId;
            match next(4) {
                0 | 1 => {
                    let deadline = Instant(now.as_ms() + next(3000));
                    small.upsert(id, deadline);
                    reference.upsert(id, deadline);
                }
                2 => {
                    small.remove(id);
                    reference.remove(id);
                }
                _ => {
                    now = Instant(now.as_ms() + next(1000));
                    let (limit, rearm_at) = (1 + next(3) as usize, Instant(now.as_ms() + next(2000)));
                    let (mut out_small, mut out_reference) = (Vec::new(), Vec::new());
                    small.take_due(now, limit, rearm_at, |id| verdict(id, now), &mut out_small);
                    reference.take_due(now, limit, rearm_at, |id| verdict(id, now), &mut out_reference);
                    assert_eq!(out_small, out_reference);
                }
            }
            assert_eq!(small.len(), reference.len());
            assert_eq!(small.peek(), reference.peek());
            assert_eq!(small.deadline_of(id), reference.deadline_of(id));
        }
        small.clear();
        assert!(small.is_empty() && small.peek().is_none());
    }
}
