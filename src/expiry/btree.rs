//! `BTreeQueue`: a `BTreeSet<(deadline, id)>` ordered index plus an id → deadline map.
//!
//! Simple and obviously ordered; used as the reference implementation in the expiry property
//! tests and by the model checker (its state hashes canonically). Not tuned for speed.

use std::collections::{BTreeMap, BTreeSet};

use super::{DueCheck, ExpiryHandle, ExpiryQueue, settle_deadlines, upsert_one_by_one};
use crate::lease::LeaseId;
use crate::time::Instant;

#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct BTreeQueue {
    by_deadline: BTreeSet<(Instant, LeaseId)>,
    deadline_by_id: BTreeMap<LeaseId, Instant>,
}

impl ExpiryQueue for BTreeQueue {
    fn upsert(&mut self, id: LeaseId, deadline: Instant) {
        if let Some(old) = self.deadline_by_id.insert(id, deadline) {
            self.by_deadline.remove(&(old, id));
        }
        self.by_deadline.insert((deadline, id));
    }

    fn remove(&mut self, id: LeaseId) {
        if let Some(old) = self.deadline_by_id.remove(&id) {
            self.by_deadline.remove(&(old, id));
        }
    }

    fn peek(&self) -> Option<(LeaseId, Instant)> {
        self.by_deadline.first().map(|&(deadline, id)| (id, deadline))
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
        let mut rearmed = Vec::new();
        while reported < limit {
            let Some(&(deadline, id)) = self.by_deadline.first() else { break };
            if deadline > now {
                break;
            }
            self.by_deadline.pop_first();
            match check(id) {
                DueCheck::Gone => {
                    self.deadline_by_id.remove(&id);
                }
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
        for id in rearmed {
            self.deadline_by_id.insert(id, rearm_at);
            self.by_deadline.insert((rearm_at, id));
        }
    }

    fn clear(&mut self) {
        self.by_deadline.clear();
        self.deadline_by_id.clear();
    }

    fn len(&self) -> usize {
        self.deadline_by_id.len()
    }

    fn deadline_of(&self, id: LeaseId) -> Option<Instant> {
        self.deadline_by_id.get(&id).copied()
    }

    /// Into an empty queue (a promote after a demote) both trees are built from sorted runs,
    /// instead of one insert after another at a random place of the ID map: the pairs are sorted
    /// by ID, stably, and a repeated ID keeps its last deadline, as one upsert after another would.
    fn upsert_many<R>(
        &mut self,
        ids: &[LeaseId],
        deadlines: &mut [Instant],
        settle: impl FnOnce(&mut [Instant]) -> R,
        handles: &mut Vec<ExpiryHandle>,
    ) -> R {
        let settled = settle_deadlines(ids, deadlines, settle);
        if !self.is_empty() {
            upsert_one_by_one(self, ids, deadlines, handles);
            return settled;
        }
        let mut pairs: Vec<(LeaseId, Instant)> = ids.iter().copied().zip(deadlines.iter().copied()).collect();
        pairs.sort_by_key(|&(id, _)| id);
        // `dedup_by` hands each pair with the one kept before it; a repeat passes its deadline on.
        pairs.dedup_by(|later, kept| {
            let repeat = later.0 == kept.0;
            if repeat {
                kept.1 = later.1;
            }
            repeat
        });
        self.by_deadline = pairs.iter().map(|&(id, deadline)| (deadline, id)).collect();
        self.deadline_by_id = pairs.into_iter().collect();
        handles.clear();
        handles.resize(ids.len(), ExpiryHandle::NONE);
        settled
    }
}
