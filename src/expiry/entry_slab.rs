//! `EntrySlab`: the `(id, deadline)` entries of [`super::BucketQueue`], each at a fixed position.
//!
//! Owns where an entry lives: a `Vec` of 16-byte entries plus a stack of free positions. A position
//! never moves while its entry lives, so it serves as the queue's [`super::ExpiryHandle`] and as the
//! bucket hints (4 bytes each): a renew by handle and a scan reach the deadline with one read, no ID
//! lookup. A freed entry reads as ID [`FREE_ID`] with deadline `FOREVER`; since a live lease may have
//! that ID, [`EntrySlab::is_live`] takes the one position where that lease lives (the caller knows it).
//! Positions are reused, so a position alone does not name a lease: callers compare the ID. The
//! entry is where the lease ID is stored: the ID table keeps only positions and reads IDs here.
//! Large slabs grow into fresh allocations advised to use huge pages (`huge_pages.rs`).

use super::huge_pages::{clone_huge, reserve_exact_huge};
use super::prefetch::prefetch;
use crate::lease::LeaseId;
use crate::time::Instant;

/// The ID a freed entry holds.
pub(crate) const FREE_ID: LeaseId = LeaseId::MIN;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Entry {
    pub(crate) id: LeaseId,
    pub(crate) deadline: Instant,
}

/// The fewest entries the slab grows by.
const GROWTH_MIN: usize = 16;

const FREE_ENTRY: Entry = Entry { id: FREE_ID, deadline: Instant::FOREVER };

#[derive(Debug, Default)]
pub(crate) struct EntrySlab {
    entries: Vec<Entry>,
    free: Vec<u32>,
}

impl Clone for EntrySlab {
    /// The entries are copied into an allocation advised for huge pages, as the original's was.
    fn clone(&self) -> EntrySlab {
        EntrySlab { entries: clone_huge(&self.entries), free: self.free.clone() }
    }
}

impl EntrySlab {
    /// Stores a new entry and returns its position.
    #[inline]
    pub(crate) fn alloc(&mut self, id: LeaseId, deadline: Instant) -> u32 {
        if let Some(position) = self.free.pop() {
            self.entries[position as usize] = Entry { id, deadline };
            position
        } else {
            let position = u32::try_from(self.entries.len()).expect("fewer than 2^32 expiry entries");
            if self.entries.len() == self.entries.capacity() {
                // Grow by an eighth, not double: at 10 M leases doubling leaves up to 16 bytes per
                // lease unused; an eighth keeps that under 2 and stays amortized O(1).
                let growth = (self.entries.len() / 8).max(GROWTH_MIN);
                reserve_exact_huge(&mut self.entries, growth);
            }
            self.entries.push(Entry { id, deadline });
            position
        }
    }

    /// Stores `(ids[i], deadlines[i])` at new positions after the last one (freed positions are
    /// not reused); answers the first: the `i`th entry is at the first position + `i`.
    pub(crate) fn append(&mut self, ids: &[LeaseId], deadlines: &[Instant]) -> u32 {
        assert_eq!(ids.len(), deadlines.len(), "one deadline per ID");
        assert!(u32::try_from(self.entries.len() + ids.len()).is_ok(), "fewer than 2^32 expiry entries");
        let first = self.entries.len() as u32;
        reserve_exact_huge(&mut self.entries, ids.len());
        self.entries.extend(ids.iter().zip(deadlines).map(|(&id, &deadline)| Entry { id, deadline }));
        first
    }

    /// Frees the entry at `position` (which must be live).
    #[inline]
    pub(crate) fn free(&mut self, position: u32) {
        self.entries[position as usize] = FREE_ENTRY;
        self.free.push(position);
    }

    /// The entry at `position`, `None` past the end. A freed entry is returned as [`FREE_ID`].
    #[inline]
    pub(crate) fn get(&self, position: u32) -> Option<Entry> {
        self.entries.get(position as usize).copied()
    }

    /// The ID of the entry at `position`, which must exist (live or freed).
    #[inline]
    pub(crate) fn id_at(&self, position: u32) -> LeaseId {
        self.entries[position as usize].id
    }

    #[inline]
    pub(crate) fn set_deadline(&mut self, position: u32, deadline: Instant) -> Instant {
        std::mem::replace(&mut self.entries[position as usize].deadline, deadline)
    }

    /// Whether `entry` (read at some position) is a live lease's: any ID but [`FREE_ID`] is;
    /// [`FREE_ID`] is live only at `free_id_position`, the position of the lease with that ID.
    #[inline]
    pub(crate) fn is_live(entry: Entry, position: u32, free_id_position: Option<u32>) -> bool {
        entry.id != FREE_ID || free_id_position == Some(position)
    }

    /// Hints the CPU to fetch the entry at `position`.
    #[inline]
    pub(crate) fn prefetch(&self, position: u32) {
        prefetch(&self.entries, position as usize);
    }

    /// Makes room for `additional` entries.
    pub(crate) fn reserve(&mut self, additional: usize) {
        reserve_exact_huge(&mut self.entries, additional.saturating_sub(self.free.len()));
    }

    /// Frees everything, keeping the capacity.
    pub(crate) fn clear(&mut self) {
        self.entries.clear();
        self.free.clear();
    }
}
