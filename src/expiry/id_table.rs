//! `IdTable`: an open-addressing map from lease ID to entry position, built for millions of entries.
//!
//! Owns the ID → position lookup of [`super::BucketQueue`] (the position is the queue's stable
//! [`super::ExpiryHandle`]). The ID itself is not stored here: the entry at the position holds it
//! (see `entry_slab.rs`), so callers pass `id_at`, which reads the ID of the entry at a position.
//! Each 8-byte slot holds the position and a 32-bit tag, the high half of the mixed ID; a probe
//! compares tags and reads an entry's ID only when they match, so a lookup of a present ID reads the
//! one entry the caller reads next anyway, and a miss reads none but by a 2^-32 chance per probe.
//! The home slot is picked from the tag by multiply-shift range reduction (so the table may have
//! any size, and growth and removal never read an ID); linear probing, backward shift on removal
//! (no tombstones), growth by half at 80 % load (the load stays within 53–80 % at every size).
//! [`IdTable::prefetch`] lets a bulk insert or a scan start lookups before it waits for the first;
//! [`IdTable::prefetch_removal`] fetches the next line too, where a removal's backward shift goes on
//! reading (at 53–80 % load a probe run often crosses a line).
//! It keeps no order and offers no iteration that could reach a simulation:
//! [`IdTable::positions`] is for equality, hashing and `Debug`, which sort what they derive from it.

use super::huge_pages::{advise_huge_pages, clone_huge, vec_with_capacity_huge};
use super::id_hash::mix_id;
use super::prefetch::{prefetch, prefetch_front};
use crate::lease::LeaseId;

const MIN_CAPACITY: usize = 16;
/// From this many IDs on, [`IdTable::insert_all_unless_present`] groups them by home first.
const BULK_GROUPED_MIN: usize = 1 << 14;
/// A grouped bulk insert's groups are the tags' leading this many bits: 256 write fronts for the
/// grouping pass fit in L1.
const GROUP_BITS: u32 = 8;
/// Slots in a 64-byte cache line.
const SLOTS_PER_LINE: usize = 64 / size_of::<Slot>();
/// The position that marks an empty slot (never an entry's: there are fewer than 2^32 − 1 entries).
const EMPTY_POSITION: u32 = u32::MAX;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Slot {
    tag: u32,
    position: u32,
}

const EMPTY_SLOT: Slot = Slot { tag: 0, position: EMPTY_POSITION };

/// The tag of an ID: the high half of its mix (which also picks its home slot).
#[inline]
fn tag_of(id: LeaseId) -> u32 {
    (mix_id(id) >> 32) as u32
}

/// Where a lookup of an absent ID ended: the empty slot it would take (valid until the table changes).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Vacant(usize);

#[derive(Debug)]
pub(crate) struct IdTable {
    slots: Vec<Slot>,
    occupied: usize,
}

impl Clone for IdTable {
    /// The slots are copied into an allocation advised for huge pages, as the original's was.
    fn clone(&self) -> IdTable {
        IdTable { slots: clone_huge(&self.slots), occupied: self.occupied }
    }
}

impl Default for IdTable {
    fn default() -> IdTable {
        IdTable::with_capacity(MIN_CAPACITY)
    }
}

impl IdTable {
    fn with_capacity(slots: usize) -> IdTable {
        // Advised before the first touch, so the kernel can fault huge pages in directly.
        let mut table = Vec::with_capacity(slots.max(MIN_CAPACITY));
        advise_huge_pages(&table);
        table.resize(slots.max(MIN_CAPACITY), EMPTY_SLOT);
        IdTable { slots: table, occupied: 0 }
    }

    #[inline]
    fn home(&self, tag: u32) -> usize {
        // The high half of tag × size: uniform over `0..size` for any size below 2^32.
        ((u64::from(tag) * self.slots.len() as u64) >> 32) as usize
    }

    /// The slot after `i`, cyclically.
    #[inline]
    fn next(&self, i: usize) -> usize {
        if i + 1 == self.slots.len() { 0 } else { i + 1 }
    }

    /// The slot holding `id`, or the empty slot its probe run ends at.
    #[inline]
    fn find(&self, id: LeaseId, id_at: impl Fn(u32) -> LeaseId) -> Result<usize, Vacant> {
        self.find_where(tag_of(id), |position| id_at(position) == id)
    }

    /// [`IdTable::find`] by the ID's tag, with `is_id` telling whether the entry at a position
    /// holds the ID (asked only when the tags match).
    #[inline]
    fn find_where(&self, tag: u32, is_id: impl Fn(u32) -> bool) -> Result<usize, Vacant> {
        let mut i = self.home(tag);
        loop {
            let slot = self.slots[i];
            if slot.position == EMPTY_POSITION {
                return Err(Vacant(i));
            }
            if slot.tag == tag && is_id(slot.position) {
                return Ok(i);
            }
            i = self.next(i);
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.occupied
    }

    /// Hints the CPU to fetch the cache line where a lookup of `id` starts.
    #[inline]
    pub(crate) fn prefetch(&self, id: LeaseId) {
        self.prefetch_slot(self.home(tag_of(id)));
    }

    /// Hints the CPU to fetch the cache lines where a removal of `id` probes and shifts: its home
    /// slot's line and the next one.
    #[inline]
    pub(crate) fn prefetch_removal(&self, id: LeaseId) {
        let home = self.home(tag_of(id));
        self.prefetch_slot(home);
        self.prefetch_slot(home + SLOTS_PER_LINE);
    }

    /// Hints the CPU to fetch the cache line of slot `i`.
    #[inline]
    fn prefetch_slot(&self, i: usize) {
        prefetch(&self.slots, i);
    }

    /// `id`'s position, if it has one.
    #[inline]
    pub(crate) fn get(&self, id: LeaseId, id_at: impl Fn(u32) -> LeaseId) -> Option<u32> {
        self.find(id, id_at).ok().map(|i| self.slots[i].position)
    }

    /// `id`'s position, or where to insert it with [`IdTable::insert`].
    #[inline]
    pub(crate) fn lookup(&self, id: LeaseId, id_at: impl Fn(u32) -> LeaseId) -> Result<u32, Vacant> {
        self.find(id, id_at).map(|i| self.slots[i].position)
    }

    /// Stores the absent `id` at `position`, in the slot `vacant` that a lookup of `id` just
    /// answered (with no change to the table since).
    #[inline]
    pub(crate) fn insert(&mut self, id: LeaseId, position: u32, vacant: Vacant) {
        assert!(position != EMPTY_POSITION, "fewer than 2^32 - 1 expiry entries");
        let tag = tag_of(id);
        let mut i = vacant.0;
        // Grow first if this would pass 80 % load, then place it.
        if (self.occupied + 1) * 5 > self.slots.len() * 4 {
            self.grow();
            i = self.empty_slot_from(self.home(tag));
        }
        self.slots[i] = Slot { tag, position };
        self.occupied += 1;
    }

    /// Stores each of `ids` in turn, the `i`th at position `first_position + i`, unless it is
    /// present (one probe each), calling `present(position, earlier)` for each that was present (in
    /// this table, or earlier in `ids`) at position `earlier`. Makes room first. A large batch is
    /// inserted grouped by the tag's leading [`GROUP_BITS`], each group in input order (a repeated
    /// ID shares its tag and group, so its first occurrence is still inserted first). Homes ascend
    /// with the tag, so each group's inserts land in one window of the table, and the next group's
    /// window is fetched while one group is inserted: the inserts move through the table front to
    /// back instead of waiting for a random line of it each. On the development VM, in a promote
    /// of a million leases (beside the slab's copy in the other thread), grouping then inserting
    /// with each home prefetched a few inserts ahead took 27–33 ms (9–14 of them the grouping's
    /// scatter, before its fronts were prefetched); this way it takes about 15: 8 to group, 7 to
    /// insert.
    pub(crate) fn insert_all_unless_present(
        &mut self,
        ids: impl ExactSizeIterator<Item = LeaseId>,
        first_position: u32,
        id_at: impl Fn(u32) -> LeaseId,
        mut present: impl FnMut(u32, u32),
    ) {
        let count = ids.len();
        assert!(
            u32::try_from(count).is_ok_and(|c| c.checked_add(first_position).is_some()),
            "fewer than 2^32 positions"
        );
        self.reserve(count);
        let mut insert = |table: &mut IdTable, tag: u32, position: u32| match table
            .find_where(tag, |p| id_at(p) == id_at(position))
        {
            Ok(slot) => present(position, table.slots[slot].position),
            Err(Vacant(slot)) => {
                table.slots[slot] = Slot { tag, position };
                table.occupied += 1;
            }
        };
        if count < BULK_GROUPED_MIN {
            for (position, id) in (first_position..).zip(ids) {
                insert(self, tag_of(id), position);
            }
            return;
        }
        let group_of = |tag: u32| (tag >> (32 - GROUP_BITS)) as usize;
        let mut tags: Vec<u32> = vec_with_capacity_huge(count);
        tags.extend(ids.map(tag_of));
        let mut grouped: Vec<Slot> = vec_with_capacity_huge(count);
        let group_ends = group_stably(&tags, first_position, group_of, &mut grouped);
        drop(tags);
        // A group's homes lie in one window of the table (where its first tag's home is, up to
        // the next group's); while one group is inserted, the next one's window is fetched line
        // by line, so the inserts, at random within the window, find it in cache.
        let window_start = |table: &IdTable, group: usize| match u32::try_from((group as u64) << (32 - GROUP_BITS)) {
            Ok(first_tag) => table.home(first_tag),
            Err(_) => table.slots.len(),
        };
        let mut group_start = 0;
        for (group, &group_end) in group_ends.iter().enumerate() {
            let (mut fetch, fetch_end) = (window_start(self, group + 1), window_start(self, group + 2));
            for slot in &grouped[group_start..group_end as usize] {
                if fetch < fetch_end {
                    self.prefetch_slot(fetch);
                    fetch += SLOTS_PER_LINE;
                }
                insert(self, slot.tag, slot.position);
            }
            group_start = group_end as usize;
        }
    }

    /// The first empty slot at or after `i`, cyclically.
    #[inline]
    fn empty_slot_from(&self, mut i: usize) -> usize {
        while self.slots[i].position != EMPTY_POSITION {
            i = self.next(i);
        }
        i
    }

    /// Makes room for `additional` more entries at once (promote's bulk registration).
    pub(crate) fn reserve(&mut self, additional: usize) {
        let needed = self.occupied + additional;
        if needed * 5 > self.slots.len() * 4 {
            self.rebuild((self.slots.len() + self.slots.len() / 2).max(needed * 5 / 4 + 1));
        }
    }

    /// Removes `id`, returning its position if it was present.
    pub(crate) fn remove(&mut self, id: LeaseId, id_at: impl Fn(u32) -> LeaseId) -> Option<u32> {
        let slot = self.find(id, id_at).ok()?;
        Some(self.remove_slot(slot))
    }

    /// Removes `id`, which the caller knows lives at `position` (no ID is read), if it is there.
    pub(crate) fn remove_at(&mut self, id: LeaseId, position: u32) -> Option<u32> {
        let tag = tag_of(id);
        let mut i = self.home(tag);
        loop {
            let slot = self.slots[i];
            if slot.position == EMPTY_POSITION {
                return None;
            }
            if slot.tag == tag && slot.position == position {
                return Some(self.remove_slot(i));
            }
            i = self.next(i);
        }
    }

    /// Empties slot `hole`, returning the position it held.
    fn remove_slot(&mut self, mut hole: usize) -> u32 {
        let removed = self.slots[hole].position;
        // Backward shift (Knuth's Algorithm R): pull later entries of the probe run into the hole
        // unless their home lies cyclically in (hole, j].
        let mut j = hole;
        loop {
            j = self.next(j);
            let slot = self.slots[j];
            if slot.position == EMPTY_POSITION {
                break;
            }
            let home = self.home(slot.tag);
            let home_in_gap = if hole <= j { hole < home && home <= j } else { hole < home || home <= j };
            if !home_in_gap {
                self.slots[hole] = slot;
                hole = j;
            }
        }
        self.slots[hole] = EMPTY_SLOT;
        self.occupied -= 1;
        removed
    }

    /// Empties the table, keeping its capacity (a demoted lessor is usually promoted again).
    pub(crate) fn clear(&mut self) {
        // An empty table is all empty slots already (removal leaves no tombstones).
        if self.occupied > 0 {
            self.slots.fill(EMPTY_SLOT);
        }
        self.occupied = 0;
    }

    fn grow(&mut self) {
        self.rebuild(self.slots.len() + self.slots.len() / 2);
    }

    /// Moves every entry to a table of `slots` slots (homes come from the tags: no ID is read).
    fn rebuild(&mut self, slots: usize) {
        assert!(slots < 1 << 32, "an ID table of fewer than 2^32 slots");
        let old = std::mem::replace(self, IdTable::with_capacity(slots));
        for slot in old.slots.into_iter().filter(|s| s.position != EMPTY_POSITION) {
            let i = self.empty_slot_from(self.home(slot.tag));
            self.slots[i] = slot;
            self.occupied += 1;
        }
    }

    /// Every position, in no particular order: callers sort before anything observes it.
    pub(crate) fn positions(&self) -> impl Iterator<Item = u32> + '_ {
        self.slots.iter().filter(|s| s.position != EMPTY_POSITION).map(|s| s.position)
    }
}

/// A stable counting sort into `out` (cleared first) of the slots `(tags[i], first_position + i)`
/// by `group_of` of their tags, one of `2^GROUP_BITS` groups; answers where each group ends in
/// `out`. The write fronts move forward, each with its next line fetched ahead (`prefetch_front`),
/// so the pass runs at about the speed of a copy even when `out` does not fit in cache.
fn group_stably(
    tags: &[u32],
    first_position: u32,
    group_of: impl Fn(u32) -> usize,
    out: &mut Vec<Slot>,
) -> [u32; 1 << GROUP_BITS] {
    // Per group: first how many it holds, then where its run starts, then where it ends.
    let mut ends = [0u32; 1 << GROUP_BITS];
    for &tag in tags {
        ends[group_of(tag)] += 1;
    }
    let mut start = 0;
    for end in ends.iter_mut() {
        start += std::mem::replace(end, start);
    }
    out.clear();
    out.resize(tags.len(), EMPTY_SLOT);
    for (position, &tag) in (first_position..).zip(tags) {
        let next = &mut ends[group_of(tag)];
        prefetch_front(out, *next as usize);
        out[*next as usize] = Slot { tag, position };
        *next += 1;
    }
    ends
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_rng::Xorshift;
    use std::collections::BTreeMap;

    #[test]
    fn agrees_with_a_btreemap_through_growth_and_backward_shift() {
        let mut table = IdTable::default();
        let mut model = BTreeMap::new();
        // What the table maps to: positions in an ID store, as the entry slab is (never reused here).
        let mut id_store: Vec<LeaseId> = Vec::new();
        // A deterministic mix: clustered IDs (long probe runs), extreme IDs, removals.
        let mut rng = Xorshift(0x2545_F491_4F6C_DD1D);
        for step in 0..20_000u64 {
            let x = rng.next_u64();
            let id = match x % 5 {
                0 => [LeaseId::MIN, LeaseId::MAX, 0][(x >> 8) as usize % 3],
                1 => (x >> 8) as i64,
                _ => (x >> 40) as i64 % 3_000 - 1_500,
            };
            let id_at = |position: u32| id_store[position as usize];
            if x.is_multiple_of(6) {
                // By position, as a scan removes what it has just read (a wrong position removes nothing).
                let position = model.get(&id).copied().unwrap_or(u32::MAX - 1);
                assert_eq!(table.remove_at(id, position), model.remove(&id), "remove_at {id} at step {step}");
                assert_eq!(table.remove_at(id, position), None);
            } else if x.is_multiple_of(3) {
                assert_eq!(table.remove(id, id_at), model.remove(&id), "remove {id} at step {step}");
            } else {
                match table.lookup(id, id_at) {
                    Ok(position) => assert_eq!(model.get(&id), Some(&position), "lookup {id} at step {step}"),
                    Err(vacant) => {
                        assert_eq!(model.get(&id), None, "lookup {id} at step {step}");
                        let position = id_store.len() as u32;
                        id_store.push(id);
                        table.insert(id, position, vacant);
                        model.insert(id, position);
                    }
                }
            }
            assert_eq!(table.len(), model.len());
            assert_eq!(table.get(id, |position| id_store[position as usize]), model.get(&id).copied());
        }
        let mut positions: Vec<u32> = table.positions().collect();
        positions.sort_unstable();
        let mut expected: Vec<u32> = model.into_values().collect();
        expected.sort_unstable();
        assert_eq!(positions, expected);
    }

    #[test]
    fn a_bulk_insert_agrees_with_one_insert_after_another() {
        let mut rng = Xorshift(0x5eed_0006);
        let mut next = move || rng.next_u64();
        // Below and above the grouped path's threshold; into an empty table and one holding IDs
        // some of the batch repeats; IDs repeated within the batch too (some three times).
        for (count, present_before) in [(0, 0), (50, 0), (3_000, 500), (BULK_GROUPED_MIN + 5_000, 0), (40_000, 7_000)] {
            let mut id_store: Vec<LeaseId> = (0..present_before).map(|_| (next() % 200_000) as LeaseId).collect();
            id_store.sort_unstable();
            id_store.dedup();
            let mut table = IdTable::default();
            let mut model: BTreeMap<LeaseId, u32> = BTreeMap::new();
            for (position, &id) in (0u32..).zip(&id_store) {
                let Err(vacant) = table.lookup(id, |p| id_store[p as usize]) else { panic!("{id} twice") };
                table.insert(id, position, vacant);
                model.insert(id, position);
            }
            let first = id_store.len() as u32;
            let batch: Vec<LeaseId> = (0..count).map(|_| (next() % 200_000) as LeaseId).collect();
            id_store.extend(&batch);
            let mut expected_present = Vec::new();
            for (position, &id) in (first..).zip(&batch) {
                match model.get(&id) {
                    Some(&earlier) => expected_present.push((position, earlier)),
                    None => {
                        model.insert(id, position);
                    }
                }
            }
            let mut present = Vec::new();
            table.insert_all_unless_present(
                batch.iter().copied(),
                first,
                |p| id_store[p as usize],
                |p, e| present.push((p, e)),
            );
            present.sort_unstable();
            assert_eq!(present, expected_present, "{count} IDs after {present_before}");
            assert_eq!(table.len(), model.len());
            for (&id, &position) in &model {
                assert_eq!(table.get(id, |p| id_store[p as usize]), Some(position), "{id} of {count}");
            }
        }
    }

    #[test]
    fn ids_with_equal_tags_are_told_apart_by_the_store() {
        // Two IDs with the same tag (so the same home): only the ID store tells them apart. Among
        // a million random IDs about a hundred pairs share a 32-bit tag; take the first.
        let mut by_tag: BTreeMap<u32, LeaseId> = BTreeMap::new();
        let mut rng = Xorshift(0x9E37_79B9_7F4A_7C15);
        let pair = (0..1_000_000).find_map(|_| {
            let id = rng.next_u64() as LeaseId;
            by_tag.insert(tag_of(id), id).map(|other| (other, id))
        });
        let (a, b) = pair.expect("two of a million IDs share a tag");
        assert_eq!(tag_of(a), tag_of(b));
        let id_store = [a, b];
        let mut table = IdTable::default();
        let Err(vacant) = table.lookup(a, |p| id_store[p as usize]) else { panic!("empty table") };
        table.insert(a, 0, vacant);
        let Err(vacant) = table.lookup(b, |p| id_store[p as usize]) else { panic!("{b} is absent") };
        table.insert(b, 1, vacant);
        assert_eq!(table.get(a, |p| id_store[p as usize]), Some(0));
        assert_eq!(table.get(b, |p| id_store[p as usize]), Some(1));
        assert_eq!(table.remove(a, |p| id_store[p as usize]), Some(0));
        assert_eq!(table.get(b, |p| id_store[p as usize]), Some(1));
    }
}
