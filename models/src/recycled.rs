//! `Recycled<T>`: a value whose clone is written into one its thread dropped a moment ago.
//!
//! Why: a model checker clones a state for every generated state and drops most of them at once
//! (duplicates, and the states at the depth bound, which keep only a fingerprint). A plain clone of
//! a boxed lessor member builds the 1.3 KB member aside, piece by piece, moves it into a fresh
//! block that has left the cache (mimalloc does not hand a freed block straight back), and the
//! duplicate it replaces is dropped entry by entry; a clone of a `Vec` of cluster members
//! allocates and fills a new vector. Here a clone takes one of a few spare values of its thread
//! (last in, first out) and `clone_from`s into it: a `Box` or a `Vec` keeps its block, and the
//! core's types clone field by field down to each small map's entries
//! (`leasesim::clone_in_place!`), so nothing moves and nothing is dropped but what is overwritten.
//!
//! A spare value is never observed: it is overwritten whole before it is used again, or dropped
//! when its thread ends. Equality, hashing and `Debug` are the value's.

use std::cell::RefCell;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::mem::ManuallyDrop;
use std::ops::{Deref, DerefMut};

use leasesim::trace::Replayer;

use crate::cluster;
use crate::small_queue::SmallQueue;

/// How many dropped values of a type a thread keeps for its next clones.
const SPARES_MAX: usize = 4;

/// A type with a per-thread list of spare values (see [`pooled!`]).
pub trait Pooled: Clone + 'static {
    /// Runs `f` on this thread's spare values; `None` while the thread is being torn down.
    fn with_spares<R>(f: impl FnOnce(&mut Vec<Self>) -> R) -> Option<R>;
}

/// `Pooled` for each type named, each with its own thread-local list.
macro_rules! pooled {
    ($($ty:ty),* $(,)?) => {$(
        impl Pooled for $ty {
            fn with_spares<R>(f: impl FnOnce(&mut Vec<Self>) -> R) -> Option<R> {
                thread_local! {
                    static SPARES: RefCell<Vec<$ty>> = const { RefCell::new(Vec::new()) };
                }
                SPARES.try_with(|spares| f(&mut spares.borrow_mut())).ok()
            }
        }
    )*};
}

/// The lessor model's member; the cluster model's members, log and clients.
pub type MemberReplayer = Replayer<SmallQueue>;
pooled!(Box<MemberReplayer>, Vec<cluster::Member>, Vec<cluster::Entry>, Vec<cluster::Client>);

/// A value cloned into a spare one (see the module header).
pub struct Recycled<T: Pooled>(ManuallyDrop<T>);

impl<T: Pooled> Recycled<T> {
    pub fn new(value: T) -> Recycled<T> {
        Recycled(ManuallyDrop::new(value))
    }
}

impl<T: Pooled> Clone for Recycled<T> {
    fn clone(&self) -> Recycled<T> {
        let value = match T::with_spares(Vec::pop).flatten() {
            Some(mut spare) => {
                spare.clone_from(&self.0);
                spare
            }
            None => T::clone(&self.0),
        };
        Recycled::new(value)
    }
}

impl<T: Pooled> Drop for Recycled<T> {
    fn drop(&mut self) {
        // SAFETY: the value is taken out once, here, and `self.0` is not used after.
        let value = unsafe { ManuallyDrop::take(&mut self.0) };
        // A full list, or a thread being torn down, drops the value here instead.
        T::with_spares(|spares| {
            if spares.len() < SPARES_MAX {
                spares.push(value);
            }
        });
    }
}

impl<T: Pooled> Deref for Recycled<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: Pooled> DerefMut for Recycled<T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.0
    }
}

impl<T: Pooled + PartialEq> PartialEq for Recycled<T> {
    fn eq(&self, other: &Recycled<T>) -> bool {
        *self.0 == *other.0
    }
}

impl<T: Pooled + Eq> Eq for Recycled<T> {}

impl<T: Pooled + Hash> Hash for Recycled<T> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.0.hash(state);
    }
}

impl<T: Pooled + fmt::Debug> fmt::Debug for Recycled<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}
