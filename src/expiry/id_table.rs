//! `IdTable`: an open-addressing map from lease ID to entry number, built for millions of entries.
//!
//! Owns the ID → entry lookup of [`super::BucketQueue`] (the entry number is the queue's stable
//! [`super::ExpiryHandle`]): 12-byte slots (ID and entry number side by side, packed), linear probing
//! from a home slot picked by multiply-shift range reduction of the mixed ID (so the table may have
//! any size), backward shift on removal (no tombstones), growth by half at 80 % load (the load stays
//! within 53–80 % at every size, where a power-of-two table sits anywhere in 40–80 %),
//! and [`IdTable::prefetch`] so a scan can start lookups before it waits for the first. It keeps no
//! order and offers no iteration that could reach a simulation: [`IdTable::entries`] is for equality,
//! hashing and `Debug`, which sort what they derive from it.

use super::id_hash::mix_id;
use crate::lease::LeaseId;

/// The ID that marks an empty slot. That one ID is stored outside the slots, in `empty_id_entry`.
const EMPTY_ID: LeaseId = LeaseId::MIN;
const MIN_CAPACITY: usize = 16;

/// Packed to 12 bytes: at 10 M leases the table is a quarter smaller than with 16-byte slots, and an
/// unaligned read costs nothing on the targets we bench. Fields are only ever copied out.
#[derive(Clone, Copy, Debug)]
#[repr(C, packed(4))]
struct Slot {
    id: LeaseId,
    entry: u32,
}

const EMPTY_SLOT: Slot = Slot { id: EMPTY_ID, entry: 0 };

#[derive(Clone, Debug)]
pub(crate) struct IdTable {
    slots: Vec<Slot>,
    /// Entries in `slots` (the entry of `EMPTY_ID` is not counted here).
    occupied: usize,
    /// The entry of lease `EMPTY_ID`, which cannot live in a slot.
    empty_id_entry: Option<u32>,
}

impl Default for IdTable {
    fn default() -> IdTable {
        IdTable::with_capacity(MIN_CAPACITY)
    }
}

impl IdTable {
    fn with_capacity(slots: usize) -> IdTable {
        IdTable { slots: vec![EMPTY_SLOT; slots.max(MIN_CAPACITY)], occupied: 0, empty_id_entry: None }
    }

    #[inline]
    fn home(&self, id: LeaseId) -> usize {
        // The high half of hash × size: uniform over `0..size` for any size.
        ((u128::from(mix_id(id)) * self.slots.len() as u128) >> 64) as usize
    }

    /// The slot after `i`, cyclically.
    #[inline]
    fn next(&self, i: usize) -> usize {
        if i + 1 == self.slots.len() { 0 } else { i + 1 }
    }

    /// The slot holding `id`, if any.
    #[inline]
    fn find(&self, id: LeaseId) -> Option<usize> {
        let mut i = self.home(id);
        loop {
            let slot_id = self.slots[i].id;
            if slot_id == id {
                return Some(i);
            }
            if slot_id == EMPTY_ID {
                return None;
            }
            i = self.next(i);
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.occupied + usize::from(self.empty_id_entry.is_some())
    }

    /// Hints the CPU to fetch the cache line where a lookup of `id` starts.
    #[inline]
    pub(crate) fn prefetch(&self, id: LeaseId) {
        #[cfg(target_arch = "x86_64")]
        {
            let slot: *const Slot = &self.slots[self.home(id)];
            // SAFETY: a prefetch is only a hint; it never faults and reads nothing observable. The
            // pointer comes from a live reference into `slots`.
            unsafe { std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(slot.cast::<i8>()) }
        }
        #[cfg(not(target_arch = "x86_64"))]
        let _ = id;
    }

    #[inline]
    pub(crate) fn get(&self, id: LeaseId) -> Option<u32> {
        if id == EMPTY_ID {
            return self.empty_id_entry;
        }
        self.find(id).map(|i| self.slots[i].entry)
    }

    /// `id`'s entry; if `id` is absent, first stores the one `new_entry` returns.
    #[inline]
    pub(crate) fn get_or_insert_with(&mut self, id: LeaseId, new_entry: impl FnOnce() -> u32) -> (u32, bool) {
        if id == EMPTY_ID {
            if let Some(entry) = self.empty_id_entry {
                return (entry, false);
            }
            let entry = new_entry();
            self.empty_id_entry = Some(entry);
            return (entry, true);
        }
        let mut i = self.home(id);
        loop {
            let slot = self.slots[i];
            if slot.id == id {
                return (slot.entry, false);
            }
            if slot.id == EMPTY_ID {
                break;
            }
            i = self.next(i);
        }
        let entry = new_entry();
        self.insert_new(id, entry, i);
        (entry, true)
    }

    /// Places a new `id` whose probe run ended at the empty slot `i`.
    #[inline]
    fn insert_new(&mut self, id: LeaseId, entry: u32, mut i: usize) {
        // A new entry: grow first if it would pass 80 % load, then place it.
        if (self.occupied + 1) * 5 > self.slots.len() * 4 {
            self.grow();
            i = self.home(id);
            while self.slots[i].id != EMPTY_ID {
                i = self.next(i);
            }
        }
        self.slots[i] = Slot { id, entry };
        self.occupied += 1;
    }

    /// Makes room for `additional` more entries at once (promote's bulk registration).
    pub(crate) fn reserve(&mut self, additional: usize) {
        let needed = self.occupied + additional;
        if needed * 5 > self.slots.len() * 4 {
            self.rebuild((self.slots.len() + self.slots.len() / 2).max(needed * 5 / 4 + 1));
        }
    }

    /// Removes `id`, returning its entry if it was present.
    pub(crate) fn remove(&mut self, id: LeaseId) -> Option<u32> {
        if id == EMPTY_ID {
            return self.empty_id_entry.take();
        }
        let mut hole = self.find(id)?;
        let removed = self.slots[hole].entry;
        // Backward shift (Knuth's Algorithm R): pull later entries of the probe run into the hole
        // unless their home lies cyclically in (hole, j].
        let mut j = hole;
        loop {
            j = self.next(j);
            let slot = self.slots[j];
            if slot.id == EMPTY_ID {
                break;
            }
            let home = self.home(slot.id);
            let home_in_gap = if hole <= j { hole < home && home <= j } else { hole < home || home <= j };
            if !home_in_gap {
                self.slots[hole] = slot;
                hole = j;
            }
        }
        self.slots[hole] = EMPTY_SLOT;
        self.occupied -= 1;
        Some(removed)
    }

    /// Empties the table, keeping its capacity (a demoted lessor is usually promoted again).
    pub(crate) fn clear(&mut self) {
        self.slots.fill(EMPTY_SLOT);
        self.occupied = 0;
        self.empty_id_entry = None;
    }

    fn grow(&mut self) {
        self.rebuild(self.slots.len() + self.slots.len() / 2);
    }

    /// Moves every entry to a table of `slots` slots.
    fn rebuild(&mut self, slots: usize) {
        let old = std::mem::replace(self, IdTable::with_capacity(slots));
        self.empty_id_entry = old.empty_id_entry;
        for slot in old.slots.into_iter().filter(|s| s.id != EMPTY_ID) {
            let mut i = self.home(slot.id);
            while self.slots[i].id != EMPTY_ID {
                i = self.next(i);
            }
            self.slots[i] = slot;
            self.occupied += 1;
        }
    }

    /// Every `(id, entry)`, in no particular order: callers sort before anything observes it.
    pub(crate) fn entries(&self) -> impl Iterator<Item = (LeaseId, u32)> + '_ {
        let slotted = self.slots.iter().filter(|s| s.id != EMPTY_ID).map(|s| (s.id, s.entry));
        slotted.chain(self.empty_id_entry.map(|entry| (EMPTY_ID, entry)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn agrees_with_a_btreemap_through_growth_and_backward_shift() {
        let mut table = IdTable::default();
        let mut model = BTreeMap::new();
        // A deterministic mix: clustered IDs (long probe runs), the empty-slot ID, removals.
        let mut x: u64 = 0x2545_F491_4F6C_DD1D;
        for step in 0..20_000u64 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let id = match x % 5 {
                0 => EMPTY_ID,
                1 => (x >> 8) as i64,
                _ => (x >> 40) as i64 % 3_000 - 1_500,
            };
            if x.is_multiple_of(3) {
                assert_eq!(table.remove(id), model.remove(&id), "remove {id} at step {step}");
            } else {
                let (entry, new) = table.get_or_insert_with(id, || step as u32);
                let expected = *model.entry(id).or_insert(step as u32);
                assert_eq!((entry, new), (expected, expected == step as u32), "get_or_insert {id} at step {step}");
            }
            assert_eq!(table.len(), model.len());
            assert_eq!(table.get(id), model.get(&id).copied());
        }
        let mut entries: Vec<_> = table.entries().collect();
        entries.sort();
        assert_eq!(entries, model.into_iter().collect::<Vec<_>>());
    }
}
