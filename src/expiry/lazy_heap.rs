//! `LazyHeap`: `std::collections::BinaryHeap` with lazy deletion by generation check.
//!
//! Every upsert pushes a fresh `(deadline, id, generation)` entry and records the generation as
//! the lease's current one; entries whose generation is no longer current are discarded when they
//! reach the top. The top is kept current after every operation, so `peek` is O(1). When stale
//! entries outnumber live ones the heap is rebuilt from the live map, which bounds memory at about
//! twice the live entries. It does not update anything in place.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};

use super::id_hash::IdBuildHasher;
use super::{DueCheck, ExpiryQueue};
use crate::lease::LeaseId;
use crate::time::Instant;

/// A heap entry: earliest `(deadline, id)` first.
type Entry = Reverse<(Instant, LeaseId, u64)>;

#[derive(Clone, Debug, Default)]
pub struct LazyHeap {
    heap: BinaryHeap<Entry>,
    /// id → (deadline, generation) of its one live entry.
    current: HashMap<LeaseId, (Instant, u64), IdBuildHasher>,
    next_generation: u64,
}

impl LazyHeap {
    fn is_current(&self, &Reverse((_, id, generation)): &Entry) -> bool {
        self.current.get(&id).is_some_and(|&(_, g)| g == generation)
    }

    fn register(&mut self, id: LeaseId, deadline: Instant) {
        let generation = self.next_generation;
        self.next_generation += 1;
        self.current.insert(id, (deadline, generation));
        self.heap.push(Reverse((deadline, id, generation)));
    }

    /// Drops stale entries from the top; rebuilds when stale entries dominate.
    fn settle(&mut self) {
        if self.heap.len() > 2 * self.current.len() + 1024 {
            let live: Vec<Entry> =
                self.current.iter().map(|(&id, &(deadline, generation))| Reverse((deadline, id, generation))).collect();
            self.heap = BinaryHeap::from(live);
        }
        while let Some(top) = self.heap.peek() {
            if self.is_current(top) {
                break;
            }
            self.heap.pop();
        }
    }
}

impl ExpiryQueue for LazyHeap {
    fn upsert(&mut self, id: LeaseId, deadline: Instant) {
        self.register(id, deadline);
        self.settle();
    }

    fn remove(&mut self, id: LeaseId) {
        if self.current.remove(&id).is_some() {
            self.settle();
        }
    }

    fn peek(&self) -> Option<(LeaseId, Instant)> {
        self.heap.peek().map(|&Reverse((deadline, id, _))| (id, deadline))
    }

    fn take_due<F: FnMut(LeaseId) -> DueCheck>(
        &mut self,
        now: Instant,
        limit: usize,
        rearm_at: Instant,
        mut check: F,
        out: &mut Vec<LeaseId>,
    ) {
        let rearm_in_place = rearm_at > now;
        let mut deferred = Vec::new();
        let mut reported = 0;
        while reported < limit {
            let Some(&top) = self.heap.peek() else { break };
            let Reverse((deadline, id, _)) = top;
            if deadline > now {
                break;
            }
            self.heap.pop();
            if !self.is_current(&top) {
                continue;
            }
            match check(id) {
                DueCheck::Gone => {
                    self.current.remove(&id);
                }
                verdict => {
                    if rearm_in_place {
                        self.register(id, rearm_at);
                    } else {
                        deferred.push(id);
                    }
                    if verdict == DueCheck::Expired {
                        out.push(id);
                        reported += 1;
                    }
                }
            }
        }
        for id in deferred {
            self.register(id, rearm_at);
        }
        self.settle();
    }

    fn clear(&mut self) {
        self.heap.clear();
        self.current.clear();
    }

    fn len(&self) -> usize {
        self.current.len()
    }

    fn deadline_of(&self, id: LeaseId) -> Option<Instant> {
        self.current.get(&id).map(|&(deadline, _)| deadline)
    }
}
