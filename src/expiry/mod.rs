//! The expiry index: which lease is due next (etcd's `LeaseExpiredNotifier`).
//!
//! Owns one contract, [`ExpiryQueue`], and its implementations. It holds at most one entry per
//! lease ID and knows nothing of leases themselves: the lessor tells it, per due entry, whether the
//! lease is gone (drop the entry), expired (re-arm and report it) or not (re-arm only). It never
//! reads a clock: `now` is an argument.
//!
//! A lease may also be addressed by an [`ExpiryHandle`], which the lessor keeps in its lease record so
//! a renew or revoke need not look the ID up a second time; implementations without stable positions
//! hand out [`ExpiryHandle::NONE`] and fall back to the ID.
//!
//! Implementations, all held to the same contract by `tests/it/expiry.rs`: [`EtcdHeap`] (a port of
//! etcd's notifier, the baseline), [`LazyHeap`], [`BTreeQueue`] (canonical and simple) and
//! [`BucketQueue`] (deadline buckets with lazy renew, built for millions of leases; the default).

mod btree;
mod bucket_ring;
mod buckets;
mod due_sort;
mod entry_slab;
mod etcd_heap;
pub(crate) mod huge_pages;
mod id_hash;
mod id_table;
mod lazy_heap;
pub(crate) mod prefetch;
pub(crate) mod radix_sort;

pub use btree::BTreeQueue;
pub use buckets::{BUCKET_MS, BucketQueue};
pub use etcd_heap::EtcdHeap;
pub use lazy_heap::LazyHeap;

use crate::lease::LeaseId;
use crate::time::Instant;

/// From this many leases on, a bulk operation over all of them (a promote, and the expiry index's
/// bulk build within it) runs independent phases in two threads. The results are the same; below
/// it a thread costs more than it saves. Small lessors (a simulated member, a model-checker state)
/// never start one.
pub(crate) const TWO_THREADS_MIN: usize = 1 << 16;

/// Runs `background` in a second (scoped) thread while this one runs `foreground`, and answers both
/// results. If no thread can be started, `background` runs here after `foreground`: the two are
/// independent, so the results are the same either way. A panic in either is resumed here.
pub(crate) fn two_threads<A: Send, B>(background: impl FnOnce() -> A + Send, foreground: impl FnOnce() -> B) -> (A, B) {
    // The task stays here until a thread takes it, so a failed start does not lose it.
    let task = std::sync::Mutex::new(Some(background));
    let take = || task.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take();
    std::thread::scope(|scope| {
        let started = std::thread::Builder::new().spawn_scoped(scope, || take().map(|background| background()));
        let b = foreground();
        let a = started.map(|thread| thread.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)));
        match a.ok().flatten() {
            Some(a) => (a, b),
            None => (take().map(|background| background()).expect("a task no thread took"), b),
        }
    })
}

/// What the lessor says about a lease whose entry is due.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DueCheck {
    /// The lease no longer exists: drop its entry (etcd's lazy removal of revoked leases).
    Gone,
    /// The lease has expired: re-arm its entry and report it.
    Expired,
    /// The lease exists and has not expired: re-arm its entry, do not report it.
    Alive,
}

/// Where an index keeps a lease's entry, as far as it has a stable place: a hint the lessor stores in
/// its lease record and passes back. Never trusted blindly: an index checks that the entry at the
/// handle is still `id`'s and otherwise falls back to looking the ID up, so a stale handle (after a
/// remove, a clear or on another index) costs a lookup, never a wrong answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ExpiryHandle(pub(crate) u32);

impl ExpiryHandle {
    /// No handle: the index is addressed by ID only.
    pub const NONE: ExpiryHandle = ExpiryHandle(u32::MAX);
}

impl Default for ExpiryHandle {
    fn default() -> ExpiryHandle {
        ExpiryHandle::NONE
    }
}

/// An index of lease deadlines with one entry per lease ID.
///
/// Every implementation must report due leases in the same order: by deadline, ties broken by
/// lease ID ascending, and must never report an entry before its deadline.
pub trait ExpiryQueue: Default + Clone {
    /// Registers `id` at `deadline`, replacing its existing entry if it has one.
    fn upsert(&mut self, id: LeaseId, deadline: Instant);
    /// Removes `id`'s entry if there is one.
    fn remove(&mut self, id: LeaseId);
    /// The earliest entry.
    fn peek(&self) -> Option<(LeaseId, Instant)>;
    /// etcd's `findExpiredLeases`: walks entries with `deadline <= now` in order; asks `check`
    /// about each; drops `Gone` ones; re-arms the others at `rearm_at`; appends `Expired` ones to
    /// `out`, stopping once `limit` have been reported.
    fn take_due<F: FnMut(LeaseId) -> DueCheck>(
        &mut self,
        now: Instant,
        limit: usize,
        rearm_at: Instant,
        check: F,
        out: &mut Vec<LeaseId>,
    );
    /// Removes every entry.
    fn clear(&mut self);
    /// Number of entries (live and lazily-removed leases alike).
    fn len(&self) -> usize;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// The deadline of `id`'s entry, if it has one.
    fn deadline_of(&self, id: LeaseId) -> Option<Instant>;

    /// [`ExpiryQueue::upsert`], returning the handle of `id`'s entry (or [`ExpiryHandle::NONE`]).
    fn upsert_handle(&mut self, id: LeaseId, deadline: Instant) -> ExpiryHandle {
        self.upsert(id, deadline);
        ExpiryHandle::NONE
    }
    /// [`ExpiryQueue::upsert`] of `id`, which the caller believes lives at `handle`; returns the
    /// handle `id`'s entry has now. Same effect as `upsert` whatever `handle` is.
    fn upsert_at(&mut self, handle: ExpiryHandle, id: LeaseId, deadline: Instant) -> ExpiryHandle {
        let _ = handle;
        self.upsert_handle(id, deadline)
    }
    /// [`ExpiryQueue::remove`] of `id`, which the caller believes lives at `handle`.
    fn remove_at(&mut self, handle: ExpiryHandle, id: LeaseId) {
        let _ = handle;
        self.remove(id);
    }
    /// Registers many leases at once, as a promote does after a clear: `ids[i]` at `deadlines[i]`,
    /// once `settle` has set the deadlines (it may change any of them; its answer is returned).
    /// `handles` gets each one's handle, in input order. Same effect as `settle` followed by
    /// upserting them one by one, in order; an index may meanwhile do the part of its work that
    /// needs the IDs alone.
    fn upsert_many<R>(
        &mut self,
        ids: &[LeaseId],
        deadlines: &mut [Instant],
        settle: impl FnOnce(&mut [Instant]) -> R,
        handles: &mut Vec<ExpiryHandle>,
    ) -> R {
        let settled = settle_deadlines(ids, deadlines, settle);
        upsert_one_by_one(self, ids, deadlines, handles);
        settled
    }
}

/// How an [`ExpiryQueue::upsert_many`] that settles first begins: one deadline per ID, then
/// `settle`'s step, whose answer it returns.
pub(crate) fn settle_deadlines<R>(
    ids: &[LeaseId],
    deadlines: &mut [Instant],
    settle: impl FnOnce(&mut [Instant]) -> R,
) -> R {
    assert_eq!(ids.len(), deadlines.len(), "upsert_many: one deadline per ID");
    settle(deadlines)
}

/// `ids[i]` at `deadlines[i]`, one upsert after another, with each one's handle in `handles`:
/// what [`ExpiryQueue::upsert_many`] does once its deadlines are settled, unless an index has a
/// faster way.
pub(crate) fn upsert_one_by_one<Q: ExpiryQueue>(
    queue: &mut Q,
    ids: &[LeaseId],
    deadlines: &[Instant],
    handles: &mut Vec<ExpiryHandle>,
) {
    handles.clear();
    handles.extend(ids.iter().zip(deadlines).map(|(&id, &deadline)| queue.upsert_handle(id, deadline)));
}

/// The implementation the lessor uses unless told otherwise.
pub type DefaultExpiryQueue = BucketQueue;

#[cfg(test)]
mod tests {
    use super::two_threads;

    #[test]
    fn two_threads_answers_both_results_over_disjoint_borrows() {
        let mut numbers: Vec<u64> = (0..10_000).collect();
        let (front, back) = numbers.split_at_mut(5_000);
        let (back_sum, front_max) = two_threads(
            || {
                back.iter_mut().for_each(|n| *n *= 2);
                back.iter().sum::<u64>()
            },
            || front.iter().copied().max(),
        );
        assert_eq!((back_sum, front_max), ((5_000..10_000).map(|n| 2 * n).sum(), Some(4_999)));
        assert_eq!(numbers[9_999], 19_998);
    }

    #[test]
    #[should_panic(expected = "from the second thread")]
    fn two_threads_resumes_a_panic_of_the_second_thread() {
        two_threads(|| panic!("from the second thread"), || ());
    }
}
