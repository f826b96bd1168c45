//! The lessor model's member in its box: a `Replayer<SmallQueue>` on the heap, cloned into a box
//! its thread dropped a moment ago.
//!
//! Why: a model checker clones a member for every generated state and drops most of them at once
//! (duplicates, and the states at the depth bound, which keep only a fingerprint). A plain
//! `Box::clone` builds the 1.3 KB member aside, piece by piece, moves it into a fresh block that
//! has left the cache (mimalloc does not hand a freed block straight back), and the old member is
//! dropped entry by entry. Here a clone takes one of a few spare boxes of its thread (last in,
//! first out) and clones into it in place (`leasesim::clone_in_place!`): each small map's entries
//! are written where they already are, and nothing is dropped but what the clone overwrites.
//!
//! The spare boxes still hold their old member (never observed) until they are reused or their
//! thread ends. Owns only the box; equality, hashing and `Debug` are the replayer's.

use std::cell::RefCell;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::mem::ManuallyDrop;
use std::ops::{Deref, DerefMut};

use leasesim::trace::Replayer;

use crate::small_queue::SmallQueue;

/// The replayer the lessor model drives.
pub type MemberReplayer = Replayer<SmallQueue>;

/// How many dropped boxes a thread keeps for its next clones.
const SPARE_BOXES_MAX: usize = 4;

thread_local! {
    // Boxes, not members: the point is to keep the heap blocks, which a `Vec<MemberReplayer>`
    // would copy out of.
    #[allow(clippy::vec_box)]
    static SPARE_BOXES: RefCell<Vec<Box<MemberReplayer>>> = const { RefCell::new(Vec::new()) };
}

/// A boxed member (see the module header).
pub struct Member(ManuallyDrop<Box<MemberReplayer>>);

impl Member {
    pub fn new(replayer: MemberReplayer) -> Member {
        Member(ManuallyDrop::new(Box::new(replayer)))
    }
}

impl Clone for Member {
    fn clone(&self) -> Member {
        let spare = SPARE_BOXES.try_with(|spare| spare.borrow_mut().pop()).ok().flatten();
        let boxed = match spare {
            Some(mut boxed) => {
                boxed.clone_from(&self.0);
                boxed
            }
            None => (*self.0).clone(),
        };
        Member(ManuallyDrop::new(boxed))
    }
}

impl Drop for Member {
    fn drop(&mut self) {
        // SAFETY: the box is taken out once, here, and `self.0` is not used after.
        let boxed = unsafe { ManuallyDrop::take(&mut self.0) };
        // A full list, or a thread being torn down, drops the box here instead.
        let _ = SPARE_BOXES.try_with(|spare| {
            let mut spare = spare.borrow_mut();
            if spare.len() < SPARE_BOXES_MAX {
                spare.push(boxed);
            }
        });
    }
}

impl Deref for Member {
    type Target = MemberReplayer;
    fn deref(&self) -> &MemberReplayer {
        &self.0
    }
}

impl DerefMut for Member {
    fn deref_mut(&mut self) -> &mut MemberReplayer {
        &mut self.0
    }
}

impl PartialEq for Member {
    fn eq(&self, other: &Member) -> bool {
        **self == **other
    }
}

impl Eq for Member {}

impl Hash for Member {
    fn hash<H: Hasher>(&self, state: &mut H) {
        (**self).hash(state);
    }
}

impl fmt::Debug for Member {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        (**self).fmt(f)
    }
}
