//! `LeaseMap`: the lessor's leases by ID (etcd's `leaseMap`). It owns the leases' storage and
//! order, nothing of their meaning: grants, revokes and refreshes are the lessor's.
//!
//! Two forms, chosen by size alone (a map is inline exactly when it holds at most `INLINE_MAX`
//! leases, whatever its history):
//! - **inline**: up to [`INLINE_MAX`] leases sorted by ID in an `ArrayVec` inside the value, as
//!   `SmallMap`'s inline form, so a model checker clones, hashes, compares and drops a whole lessor
//!   at its bounds without the allocator;
//! - **chunked**: a one-level B+-tree: sorted chunks of at most [`CHUNK_MAX`] leases, each with
//!   its leases' IDs in an array of their own, and each chunk's first ID, for a binary search to
//!   the chunk and then one among its IDs (8 bytes per lease more than the leases, so a lookup
//!   reads a few lines of IDs rather than a line of a lease at every probe). A walk in ID order
//!   (promote's, demote's, the hash's) is a sequential pass over arrays of leases rather than a
//!   pointer chase through tree nodes.
//!
//! Iteration is in ID order in both forms: that order is observable (listings, promote's
//! `(expiry, id)` tie-break, the lessor's hash of expiries in ID order). Equality and hashing are
//! those of the leases in ID order, so two maps with the same leases are equal and hash alike
//! whatever order built them and however their chunks happen to be cut.
//!
//! It does not know the lessor's invariants (key index, digests, expiry index): the lessor keeps
//! those.

use std::fmt;
use std::hash::{Hash, Hasher};

use arrayvec::ArrayVec;

use super::{Lease, LeaseId};
use crate::small_map::INLINE_MAX;

/// The most leases one chunk holds. A chunk is an allocation of `CHUNK_MAX` leases (4 KiB at 64
/// bytes a lease) and one of their IDs: large enough that a walk is a sequential read, small
/// enough that an insert or remove in the middle of a chunk shifts a few kilobytes. Measured at 1 M leases
/// against 128: promote's walk within noise (9–12 ms against 7–14 ms), renew and revoke about 20%
/// and 10% faster (fewer lines of IDs searched, half the bytes shifted).
pub const CHUNK_MAX: usize = 64;

/// A chunk left with fewer leases than this by a remove (not the only chunk) is merged with a
/// neighbour, or evened out with it, so no walk degrades into a chase through near-empty chunks.
const CHUNK_MIN: usize = CHUNK_MAX / 4;

/// The lessor's leases, ordered by ID.
#[derive(Default)]
pub struct LeaseMap {
    repr: Repr,
}

enum Repr {
    /// At most `INLINE_MAX` leases, sorted by ID, no duplicate IDs.
    Inline(ArrayVec<Lease, INLINE_MAX>),
    /// More than `INLINE_MAX` leases.
    Chunked(Chunks),
}

impl Default for Repr {
    fn default() -> Self {
        Repr::Inline(ArrayVec::new())
    }
}

/// The chunked form. Invariants (checked by [`LeaseMap::assert_consistent`]): every chunk is
/// non-empty, sorted by ID and holds at most `CHUNK_MAX` leases (its capacity is `CHUNK_MAX`, so
/// it never reallocates); every ID of a chunk is below every ID of the next; `firsts[c]` is the
/// first ID of `chunks[c]`; `len` is the sum of the chunks' lengths; every chunk but the last holds
/// at least `CHUNK_MIN` leases (the last may be short: appends past the last ID start a new one).
struct Chunks {
    firsts: Vec<LeaseId>,
    chunks: Vec<Chunk>,
    len: usize,
}

/// One chunk: its leases sorted by ID, and their IDs again in an array of their own (`ids[i]` is
/// `leases[i].id`), so a search in it reads at most `8 × CHUNK_MAX` bytes of IDs, a few cache
/// lines, rather than a line of a different lease at every probe.
struct Chunk {
    ids: Vec<LeaseId>,
    leases: Vec<Lease>,
}

impl Chunk {
    /// An empty chunk that will never reallocate.
    fn new() -> Chunk {
        Chunk { ids: Vec::with_capacity(CHUNK_MAX), leases: Vec::with_capacity(CHUNK_MAX) }
    }
    fn len(&self) -> usize {
        self.ids.len()
    }
    fn first_id(&self) -> LeaseId {
        self.ids[0]
    }
    /// Where `id` is, or would be inserted.
    fn search(&self, id: LeaseId) -> Result<usize, usize> {
        self.ids.binary_search(&id)
    }
    fn push(&mut self, lease: Lease) {
        self.ids.push(lease.id);
        self.leases.push(lease);
    }
    fn insert(&mut self, position: usize, lease: Lease) {
        self.ids.insert(position, lease.id);
        self.leases.insert(position, lease);
    }
    fn remove(&mut self, position: usize) -> Lease {
        self.ids.remove(position);
        self.leases.remove(position)
    }
    /// Moves the leases from position `at` on to the end of `into`.
    fn move_tail_to_end(&mut self, at: usize, into: &mut Chunk) {
        into.ids.extend(self.ids.drain(at..));
        into.leases.extend(self.leases.drain(at..));
    }
    /// Moves the leases from position `at` on to the front of `into`.
    fn move_tail_to_front(&mut self, at: usize, into: &mut Chunk) {
        into.ids.splice(0..0, self.ids.drain(at..));
        into.leases.splice(0..0, self.leases.drain(at..));
    }
    /// Moves the first `count` leases to the end of `into`.
    fn move_head_to_end(&mut self, count: usize, into: &mut Chunk) {
        into.ids.extend(self.ids.drain(..count));
        into.leases.extend(self.leases.drain(..count));
    }
}

impl Clone for Chunk {
    fn clone(&self) -> Self {
        let mut copy = Chunk::new();
        copy.ids.extend_from_slice(&self.ids);
        copy.leases.extend(self.leases.iter().cloned());
        copy
    }
}

/// Where `id` is, or would be inserted, among the inline leases: linear, they are a handful.
#[inline]
fn search_inline(leases: &[Lease], id: LeaseId) -> Result<usize, usize> {
    for (position, lease) in leases.iter().enumerate() {
        match lease.id.cmp(&id) {
            std::cmp::Ordering::Less => {}
            std::cmp::Ordering::Equal => return Ok(position),
            std::cmp::Ordering::Greater => return Err(position),
        }
    }
    Err(leases.len())
}

impl Chunks {
    /// The chunked form of `leases` (sorted by ID) plus `lease` (whose ID is not among them).
    fn spill(leases: ArrayVec<Lease, INLINE_MAX>, lease: Lease) -> Chunks {
        let mut chunk = Chunk::new();
        leases.into_iter().for_each(|lease| chunk.push(lease));
        let position = chunk.search(lease.id).expect_err("spill: the new lease's ID is not in the map");
        chunk.insert(position, lease);
        Chunks { firsts: vec![chunk.first_id()], len: chunk.len(), chunks: vec![chunk] }
    }

    /// The chunk that holds `id` or would receive it: the last whose first ID is at most `id`, or
    /// the first.
    fn chunk_of(&self, id: LeaseId) -> usize {
        self.firsts.partition_point(|&first| first <= id).saturating_sub(1)
    }

    /// `(chunk, position)` of `id`, or where it would go.
    fn find(&self, id: LeaseId) -> (usize, Result<usize, usize>) {
        let chunk = self.chunk_of(id);
        (chunk, self.chunks[chunk].search(id))
    }

    fn get(&self, id: LeaseId) -> Option<&Lease> {
        let chunk = &self.chunks[self.chunk_of(id)];
        chunk.search(id).ok().map(|position| &chunk.leases[position])
    }

    fn get_mut(&mut self, id: LeaseId) -> Option<&mut Lease> {
        let chunk = self.chunk_of(id);
        let chunk = &mut self.chunks[chunk];
        chunk.search(id).ok().map(|position| &mut chunk.leases[position])
    }

    fn lease_mut(&mut self, chunk: usize, position: usize) -> &mut Lease {
        &mut self.chunks[chunk].leases[position]
    }

    /// Inserts `lease` at `position` of chunk `chunk` (where `find` said it goes), splitting a full
    /// chunk first; answers where it ended up.
    fn insert_at(&mut self, mut chunk: usize, mut position: usize, lease: Lease) -> (usize, usize) {
        if self.chunks[chunk].len() == CHUNK_MAX {
            if position == CHUNK_MAX && chunk + 1 == self.chunks.len() {
                // Past the last ID: start a new chunk rather than split, so IDs granted in
                // ascending order (etcd's usual) fill every chunk.
                let mut fresh = Chunk::new();
                self.firsts.push(lease.id);
                fresh.push(lease);
                self.chunks.push(fresh);
                self.len += 1;
                return (chunk + 1, 0);
            }
            let mut upper = Chunk::new();
            self.chunks[chunk].move_tail_to_end(CHUNK_MAX / 2, &mut upper);
            self.firsts.insert(chunk + 1, upper.first_id());
            self.chunks.insert(chunk + 1, upper);
            if position > CHUNK_MAX / 2 {
                chunk += 1;
                position -= CHUNK_MAX / 2;
            }
        }
        if position == 0 {
            self.firsts[chunk] = lease.id;
        }
        self.chunks[chunk].insert(position, lease);
        self.len += 1;
        (chunk, position)
    }

    /// Removes the lease at `position` of chunk `chunk`, then restores the chunk's minimum.
    fn remove_at(&mut self, chunk: usize, position: usize) -> Lease {
        let lease = self.chunks[chunk].remove(position);
        self.len -= 1;
        if self.chunks[chunk].len() == 0 {
            self.chunks.remove(chunk);
            self.firsts.remove(chunk);
            return lease;
        }
        if position == 0 {
            self.firsts[chunk] = self.chunks[chunk].first_id();
        }
        if self.chunks[chunk].len() < CHUNK_MIN && self.chunks.len() > 1 {
            self.rebalance(chunk);
        }
        lease
    }

    /// Merges the short chunk `chunk` with a neighbour if both fit in one, else evens the two out.
    fn rebalance(&mut self, chunk: usize) {
        let right = if chunk + 1 < self.chunks.len() { chunk + 1 } else { chunk };
        let left = right - 1;
        let (lower, upper) = self.chunks.split_at_mut(right);
        let (lower, upper) = (&mut lower[left], &mut upper[0]);
        let total = lower.len() + upper.len();
        if total <= CHUNK_MAX {
            upper.move_tail_to_end(0, lower);
            self.chunks.remove(right);
            self.firsts.remove(right);
            return;
        }
        let half = total / 2;
        if lower.len() < half {
            upper.move_head_to_end(half - lower.len(), lower);
        } else {
            lower.move_tail_to_front(half, upper);
        }
        self.firsts[right] = upper.first_id();
    }
}

impl Clone for Chunks {
    fn clone(&self) -> Self {
        Chunks { firsts: self.firsts.clone(), chunks: self.chunks.clone(), len: self.len }
    }
}

impl Clone for Repr {
    fn clone(&self) -> Self {
        match self {
            Repr::Inline(leases) => {
                // Lease by lease: `ArrayVec`'s own clone goes through its general `extend`, which
                // costs more than the handful of leases it copies (the model checker's inner loop).
                let mut copy = ArrayVec::new();
                for lease in leases {
                    copy.push(lease.clone());
                }
                Repr::Inline(copy)
            }
            Repr::Chunked(chunks) => Repr::Chunked(chunks.clone()),
        }
    }

    /// In place when both are inline: lease by lease, each with its own `clone_from`.
    #[inline]
    fn clone_from(&mut self, source: &Self) {
        match (&mut *self, source) {
            (Repr::Inline(leases), Repr::Inline(from)) => {
                leases.truncate(from.len());
                let common = leases.len();
                for (lease, from_lease) in leases.iter_mut().zip(from) {
                    lease.clone_from(from_lease);
                }
                for lease in &from[common..] {
                    leases.push(lease.clone());
                }
            }
            _ => *self = source.clone(),
        }
    }
}

impl Clone for LeaseMap {
    fn clone(&self) -> Self {
        LeaseMap { repr: self.repr.clone() }
    }
    #[inline]
    fn clone_from(&mut self, source: &Self) {
        self.repr.clone_from(&source.repr);
    }
}

impl LeaseMap {
    pub fn new() -> LeaseMap {
        LeaseMap::default()
    }

    #[inline]
    pub fn len(&self) -> usize {
        match &self.repr {
            Repr::Inline(leases) => leases.len(),
            Repr::Chunked(chunks) => chunks.len,
        }
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    #[inline]
    pub fn get(&self, id: &LeaseId) -> Option<&Lease> {
        match &self.repr {
            Repr::Inline(leases) => search_inline(leases, *id).ok().map(|position| &leases[position]),
            Repr::Chunked(chunks) => chunks.get(*id),
        }
    }

    #[inline]
    pub fn get_mut(&mut self, id: &LeaseId) -> Option<&mut Lease> {
        match &mut self.repr {
            Repr::Inline(leases) => search_inline(leases, *id).ok().map(|position| &mut leases[position]),
            Repr::Chunked(chunks) => chunks.get_mut(*id),
        }
    }

    #[inline]
    pub fn contains_key(&self, id: &LeaseId) -> bool {
        self.get(id).is_some()
    }

    /// Inserts `lease` under its ID, or replaces the lease of that ID; answers the lease replaced.
    pub fn insert(&mut self, lease: Lease) -> Option<Lease> {
        match &mut self.repr {
            Repr::Inline(leases) => match search_inline(leases, lease.id) {
                Ok(position) => Some(std::mem::replace(&mut leases[position], lease)),
                Err(position) if !leases.is_full() => {
                    leases.insert(position, lease);
                    None
                }
                Err(_) => {
                    self.repr = Repr::Chunked(Chunks::spill(std::mem::take(leases), lease));
                    None
                }
            },
            Repr::Chunked(chunks) => match chunks.find(lease.id) {
                (chunk, Ok(position)) => Some(std::mem::replace(chunks.lease_mut(chunk, position), lease)),
                (chunk, Err(position)) => {
                    chunks.insert_at(chunk, position, lease);
                    None
                }
            },
        }
    }

    /// The lease of `id`, inserted from `make` first if absent (`make` must answer a lease of ID
    /// `id`).
    pub fn get_or_insert_with(&mut self, id: LeaseId, make: impl FnOnce() -> Lease) -> &mut Lease {
        let make = move || {
            let lease = make();
            assert_eq!(lease.id, id, "a lease inserted under ID {id} carries ID {}", lease.id);
            lease
        };
        if let Repr::Inline(leases) = &mut self.repr
            && leases.is_full()
            && search_inline(leases, id).is_err()
        {
            self.repr = Repr::Chunked(Chunks::spill(std::mem::take(leases), make()));
            let Repr::Chunked(chunks) = &mut self.repr else { unreachable!("just spilled") };
            return chunks.get_mut(id).expect("the spill inserted the lease");
        }
        match &mut self.repr {
            Repr::Inline(leases) => {
                let position = search_inline(leases, id).unwrap_or_else(|position| {
                    leases.insert(position, make());
                    position
                });
                &mut leases[position]
            }
            Repr::Chunked(chunks) => match chunks.find(id) {
                (chunk, Ok(position)) => chunks.lease_mut(chunk, position),
                (chunk, Err(position)) => {
                    let (chunk, position) = chunks.insert_at(chunk, position, make());
                    chunks.lease_mut(chunk, position)
                }
            },
        }
    }

    /// Removes and answers the lease of `id`. A chunked map that falls to `INLINE_MAX` leases
    /// moves inline again.
    pub fn remove(&mut self, id: &LeaseId) -> Option<Lease> {
        match &mut self.repr {
            Repr::Inline(leases) => search_inline(leases, *id).ok().map(|position| leases.remove(position)),
            Repr::Chunked(chunks) => {
                let (chunk, Ok(position)) = chunks.find(*id) else { return None };
                let lease = chunks.remove_at(chunk, position);
                if chunks.len <= INLINE_MAX {
                    let leases: ArrayVec<Lease, INLINE_MAX> =
                        chunks.chunks.drain(..).flat_map(|chunk| chunk.leases).collect();
                    self.repr = Repr::Inline(leases);
                }
                Some(lease)
            }
        }
    }

    pub fn clear(&mut self) {
        self.repr = Repr::Inline(ArrayVec::new());
    }

    /// The leases in ID order.
    #[inline]
    pub fn values(&self) -> Values<'_> {
        match &self.repr {
            Repr::Inline(leases) => Values { chunk: leases.iter(), rest: [].iter(), remaining: leases.len() },
            Repr::Chunked(chunks) => Values { chunk: [].iter(), rest: chunks.chunks.iter(), remaining: chunks.len },
        }
    }

    /// The leases in ID order, mutable. The caller must not change a lease's ID.
    #[inline]
    pub fn values_mut(&mut self) -> ValuesMut<'_> {
        match &mut self.repr {
            Repr::Inline(leases) => {
                let remaining = leases.len();
                ValuesMut { chunk: leases.iter_mut(), rest: [].iter_mut(), remaining }
            }
            Repr::Chunked(chunks) => {
                ValuesMut { chunk: [].iter_mut(), rest: chunks.chunks.iter_mut(), remaining: chunks.len }
            }
        }
    }

    /// [`LeaseMap::values_mut`] in two parts, for a walk in two threads: the leases up to the first
    /// chunk boundary at or past half of them, then the rest (an inline map is all in the first part).
    pub fn values_mut_halves(&mut self) -> (ValuesMut<'_>, ValuesMut<'_>) {
        match &mut self.repr {
            Repr::Inline(leases) => {
                let remaining = leases.len();
                let empty = ValuesMut { chunk: [].iter_mut(), rest: [].iter_mut(), remaining: 0 };
                (ValuesMut { chunk: leases.iter_mut(), rest: [].iter_mut(), remaining }, empty)
            }
            Repr::Chunked(chunks) => {
                let (mut split, mut front_len) = (0, 0);
                while let Some(chunk) = chunks.chunks.get(split).filter(|_| 2 * front_len < chunks.len) {
                    front_len += chunk.len();
                    split += 1;
                }
                let (front, back) = chunks.chunks.split_at_mut(split);
                (
                    ValuesMut { chunk: [].iter_mut(), rest: front.iter_mut(), remaining: front_len },
                    ValuesMut { chunk: [].iter_mut(), rest: back.iter_mut(), remaining: chunks.len - front_len },
                )
            }
        }
    }

    /// Checks the form's invariants (programmer errors), O(n): for `debug_assert!` callers and
    /// tests. The IDs must also never have been changed through `values_mut`/`get_mut`.
    pub fn assert_consistent(&self) {
        match &self.repr {
            Repr::Inline(leases) => {
                assert!(leases.windows(2).all(|w| w[0].id < w[1].id), "inline leases out of ID order");
            }
            Repr::Chunked(Chunks { firsts, chunks, len }) => {
                assert!(*len > INLINE_MAX, "a chunked map of {len} leases should be inline");
                assert_eq!(firsts.len(), chunks.len(), "one first ID per chunk");
                assert_eq!(chunks.iter().map(Chunk::len).sum::<usize>(), *len, "the length is the chunks' sum");
                for (c, (chunk, &first)) in chunks.iter().zip(firsts).enumerate() {
                    let Chunk { ids, leases } = chunk;
                    assert!(!ids.is_empty() && ids.len() <= CHUNK_MAX, "chunk {c} holds {} leases", ids.len());
                    assert!(
                        c + 1 == chunks.len() || ids.len() >= CHUNK_MIN,
                        "chunk {c} holds {} leases, fewer than {CHUNK_MIN}",
                        ids.len()
                    );
                    assert!(ids.iter().eq(leases.iter().map(|lease| &lease.id)), "chunk {c}'s IDs are its leases' IDs");
                    assert_eq!(
                        (ids.capacity(), leases.capacity()),
                        (CHUNK_MAX, CHUNK_MAX),
                        "chunk {c} was reallocated"
                    );
                    assert_eq!(ids[0], first, "chunk {c}'s first ID");
                }
                let mut ids = chunks.iter().flat_map(|chunk| &chunk.ids).copied();
                let mut previous = ids.next();
                for id in ids {
                    assert!(previous < Some(id), "lease {id} follows lease {previous:?}");
                    previous = Some(id);
                }
            }
        }
    }
}

/// The leases in ID order (see [`LeaseMap::values`]): the current chunk (or the inline leases),
/// then the rest chunk after chunk; no per-lease branch on the form.
pub struct Values<'a> {
    chunk: std::slice::Iter<'a, Lease>,
    rest: std::slice::Iter<'a, Chunk>,
    remaining: usize,
}

impl<'a> Iterator for Values<'a> {
    type Item = &'a Lease;
    #[inline]
    fn next(&mut self) -> Option<&'a Lease> {
        loop {
            if let Some(lease) = self.chunk.next() {
                self.remaining -= 1;
                return Some(lease);
            }
            self.chunk = self.rest.next()?.leases.iter();
        }
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.remaining, Some(self.remaining))
    }
    #[inline]
    fn fold<B, F: FnMut(B, &'a Lease) -> B>(self, init: B, mut f: F) -> B {
        let init = self.chunk.fold(init, &mut f);
        self.rest.fold(init, |acc, chunk| chunk.leases.iter().fold(acc, &mut f))
    }
}

impl ExactSizeIterator for Values<'_> {}

/// The leases in ID order, mutable (see [`LeaseMap::values_mut`]).
pub struct ValuesMut<'a> {
    chunk: std::slice::IterMut<'a, Lease>,
    rest: std::slice::IterMut<'a, Chunk>,
    remaining: usize,
}

impl<'a> Iterator for ValuesMut<'a> {
    type Item = &'a mut Lease;
    #[inline]
    fn next(&mut self) -> Option<&'a mut Lease> {
        loop {
            if let Some(lease) = self.chunk.next() {
                self.remaining -= 1;
                return Some(lease);
            }
            self.chunk = self.rest.next()?.leases.iter_mut();
        }
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.remaining, Some(self.remaining))
    }
    #[inline]
    fn fold<B, F: FnMut(B, &'a mut Lease) -> B>(self, init: B, mut f: F) -> B {
        let init = self.chunk.fold(init, &mut f);
        self.rest.fold(init, |acc, chunk| chunk.leases.iter_mut().fold(acc, &mut f))
    }
}

impl ExactSizeIterator for ValuesMut<'_> {}

impl<'a> IntoIterator for &'a LeaseMap {
    type Item = &'a Lease;
    type IntoIter = Values<'a>;
    fn into_iter(self) -> Values<'a> {
        self.values()
    }
}

impl PartialEq for LeaseMap {
    fn eq(&self, other: &LeaseMap) -> bool {
        match (&self.repr, &other.repr) {
            (Repr::Inline(leases), Repr::Inline(others)) => leases[..] == others[..],
            _ => self.len() == other.len() && self.values().eq(other.values()),
        }
    }
}

impl Eq for LeaseMap {}

impl Hash for LeaseMap {
    /// The length, then each lease (its ID included) in ID order.
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_usize(self.len());
        match &self.repr {
            Repr::Inline(leases) => leases.iter().for_each(|lease| lease.hash(state)),
            Repr::Chunked(chunks) => {
                chunks.chunks.iter().flat_map(|chunk| &chunk.leases).for_each(|lease| lease.hash(state))
            }
        }
    }
}

impl fmt::Debug for LeaseMap {
    /// As a map from ID to lease (as the `SmallMap` the lessor kept its leases in before printed).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.values().map(|lease| (&lease.id, lease))).finish()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::expiry::ExpiryHandle;
    use crate::lease::LeaseKeys;
    use crate::small_map::SmallMap;
    use crate::test_rng::Xorshift;
    use crate::time::Instant;

    /// A lease whose every field derives from `id` and `version`, so a replaced lease differs.
    fn lease(id: LeaseId, version: i64) -> Lease {
        let mut keys = LeaseKeys::new();
        keys.insert(format!("k{id}").as_str().into());
        Lease {
            id,
            ttl_s: 10 + version,
            remaining_ttl_s: version,
            expiry: Instant::from_ms(1000 * id.unsigned_abs() + version as u64),
            keys,
            expiry_handle: ExpiryHandle::NONE,
        }
    }

    fn ids_of(map: &LeaseMap) -> Vec<LeaseId> {
        map.values().map(|lease| lease.id).collect()
    }

    fn is_inline(map: &LeaseMap) -> bool {
        matches!(map.repr, Repr::Inline(_))
    }

    /// Checks `map` against `reference` in full: invariants, form, length, order and contents.
    #[track_caller]
    fn assert_agrees(map: &LeaseMap, reference: &BTreeMap<LeaseId, Lease>, context: &str) {
        map.assert_consistent();
        assert_eq!(is_inline(map), reference.len() <= INLINE_MAX, "{context}: form at {} leases", reference.len());
        assert_eq!(map.len(), reference.len(), "{context}");
        assert_eq!(map.values().len(), reference.len(), "{context}");
        assert!(map.values().eq(reference.values()), "{context}: leases in ID order");
        assert_eq!(map.values().map(|l| l.id).sum::<i64>(), reference.keys().sum::<i64>(), "{context}: fold");
    }

    /// Random inserts, replacements, updates through `get_mut`, `get_or_insert_with` and removes
    /// against a `BTreeMap`, in phases that grow the map across the spill and through many splits,
    /// churn it at size, then shrink it through merges and back inline; ID ranges narrow and wide.
    #[test]
    fn agrees_with_btree_map_across_the_spill_splits_and_merges() {
        let mut rng = Xorshift(0x5eed_1ea5);
        for (round, id_range) in [(0, 8), (1, 300), (2, 5_000), (3, 1 << 40)] {
            let mut map = LeaseMap::new();
            let mut reference: BTreeMap<LeaseId, Lease> = BTreeMap::new();
            let mut peak = 0;
            // (steps, chance in 8 of an insert-like operation): grow, churn, shrink.
            for (phase, (steps, inserts_in_8)) in [(6_000, 7), (3_000, 4), (8_000, 1)].into_iter().enumerate() {
                for step in 0..steps {
                    let context = format!("round {round}, phase {phase}, step {step}");
                    let drawn = rng.below(id_range) as LeaseId - id_range as LeaseId / 4;
                    // Half the time the first ID present from the drawn one on, so removes and
                    // replacements hit.
                    let id = match reference.range(drawn..).next() {
                        Some((&present, _)) if rng.below(2) == 0 => present,
                        _ => drawn,
                    };
                    let version = step as i64;
                    if rng.below(8) < inserts_in_8 {
                        match rng.below(3) {
                            0 => assert_eq!(map.insert(lease(id, version)), reference.insert(id, lease(id, version))),
                            1 => {
                                let got = map.get_or_insert_with(id, || lease(id, version)).clone();
                                assert_eq!(got, *reference.entry(id).or_insert_with(|| lease(id, version)));
                            }
                            _ => {
                                if let Some(l) = map.get_mut(&id) {
                                    l.remaining_ttl_s += 1;
                                }
                                if let Some(l) = reference.get_mut(&id) {
                                    l.remaining_ttl_s += 1;
                                }
                            }
                        }
                    } else {
                        assert_eq!(map.remove(&id), reference.remove(&id), "{context}: remove {id}");
                    }
                    assert_eq!(map.get(&id), reference.get(&id), "{context}: get {id}");
                    assert_eq!(map.contains_key(&id), reference.contains_key(&id), "{context}");
                    peak = peak.max(reference.len());
                    if step % 97 == 0 || reference.len() <= INLINE_MAX + 1 {
                        assert_agrees(&map, &reference, &context);
                    }
                }
                assert_agrees(&map, &reference, &format!("round {round}, end of phase {phase}"));
                // The two halves of a walk are the leases in ID order, split at a chunk boundary.
                let (front, back) = map.values_mut_halves();
                let (front_len, back_len) = (front.len(), back.len());
                let ids: Vec<LeaseId> = front.chain(back).map(|l| l.id).collect();
                assert_eq!(ids, reference.keys().copied().collect::<Vec<_>>(), "round {round}, phase {phase}: halves");
                assert_eq!(front_len + back_len, reference.len());
                if reference.len() > INLINE_MAX {
                    assert!(front_len.abs_diff(back_len) <= 2 * CHUNK_MAX, "{front_len} and {back_len} leases");
                }
            }
            // The wide rounds went through many chunks and came back inline.
            if id_range >= 5_000 {
                assert!(peak > 8 * CHUNK_MAX, "round {round}: peak of {peak} leases");
                assert!(map.len() <= INLINE_MAX, "round {round}: {} leases left", map.len());
            }
        }
    }

    /// Ascending, descending and interleaved insertion, then removal of every other lease and of
    /// whole runs: the split paths (append past the end, before the start, in the middle) and the
    /// merge and borrow paths.
    #[test]
    fn bulk_patterns_keep_the_invariants() {
        let n: LeaseId = 20 * CHUNK_MAX as LeaseId;
        let orders: [Vec<LeaseId>; 3] = [
            (1..=n).collect(),
            (1..=n).rev().collect(),
            (1..=n).filter(|id| id % 2 == 0).chain((1..=n).filter(|id| id % 2 == 1)).collect(),
        ];
        for (o, order) in orders.iter().enumerate() {
            let mut map = LeaseMap::new();
            let mut reference = BTreeMap::new();
            for &id in order {
                assert!(map.insert(lease(id, 0)).is_none());
                reference.insert(id, lease(id, 0));
            }
            assert_agrees(&map, &reference, &format!("order {o}, built"));
            if o == 0 {
                let Repr::Chunked(chunks) = &map.repr else { panic!("{n} leases inline") };
                assert_eq!(chunks.chunks.len(), n as usize / CHUNK_MAX, "ascending IDs fill every chunk");
            }
            for id in (1..=n).filter(|id| id % 2 == 1) {
                assert_eq!(map.remove(&id), reference.remove(&id));
            }
            assert_agrees(&map, &reference, &format!("order {o}, odd IDs removed"));
            for id in (n / 4..3 * n / 4).rev() {
                assert_eq!(map.remove(&id), reference.remove(&id));
                if id % 50 == 0 {
                    assert_agrees(&map, &reference, &format!("order {o}, middle removed down to {id}"));
                }
            }
            assert_agrees(&map, &reference, &format!("order {o}, middle removed"));
            for id in 1..=n {
                assert_eq!(map.remove(&id), reference.remove(&id));
            }
            assert_agrees(&map, &reference, &format!("order {o}, emptied"));
        }
    }

    fn hash_of(map: &LeaseMap) -> u64 {
        let mut hasher = std::hash::DefaultHasher::new();
        map.hash(&mut hasher);
        hasher.finish()
    }

    /// The same leases reached by different histories (orders, chunk cuts, a detour through the
    /// chunked form) are equal, hash alike and print alike; a lease more or a field changed is not
    /// equal and hashes apart.
    #[test]
    fn equal_contents_are_equal_and_hash_alike_whatever_built_them() {
        let mut rng = Xorshift(0x5eed_0e0a);
        for n in [0, 1, INLINE_MAX, INLINE_MAX + 1, CHUNK_MAX, 5 * CHUNK_MAX + 3] {
            let ids: Vec<LeaseId> = (1..=n as LeaseId).map(|i| 3 * i).collect();
            let ascending: LeaseMap = {
                let mut map = LeaseMap::new();
                ids.iter().for_each(|&id| drop(map.insert(lease(id, 1))));
                map
            };
            let shuffled = {
                let mut order = ids.clone();
                for i in (1..order.len()).rev() {
                    order.swap(i, rng.below(i as u64 + 1) as usize);
                }
                let mut map = LeaseMap::new();
                order.iter().for_each(|&id| drop(map.insert(lease(id, 1))));
                map
            };
            // Grown well past its final contents (other IDs, and these at another version), then
            // cut back and the leases replaced.
            let detour = {
                let mut map = LeaseMap::new();
                (1..=4 * n as LeaseId + 10).rev().for_each(|id| drop(map.insert(lease(id, 2))));
                (1..=4 * n as LeaseId + 10).filter(|id| !ids.contains(id)).for_each(|id| drop(map.remove(&id)));
                ids.iter().for_each(|&id| assert!(map.insert(lease(id, 1)).is_some()));
                map
            };
            let mut cloned = LeaseMap::new();
            cloned.clone_from(&shuffled);
            for other in [&shuffled, &detour, &cloned] {
                other.assert_consistent();
                assert_eq!(&ascending, other, "{n} leases");
                assert_eq!(hash_of(&ascending), hash_of(other), "{n} leases");
                assert_eq!(format!("{ascending:?}"), format!("{other:?}"), "{n} leases");
                assert_eq!(ids_of(other), ids, "{n} leases");
            }
            let mut more = ascending.clone();
            more.insert(lease(1, 1));
            let mut changed = ascending.clone();
            if let Some(&id) = ids.last() {
                changed.get_mut(&id).expect("present").remaining_ttl_s += 1;
            }
            for different in [&more].into_iter().chain((n > 0).then_some(&changed)) {
                assert_ne!(&ascending, different, "{n} leases");
                assert_ne!(hash_of(&ascending), hash_of(different), "{n} leases");
            }
        }
    }

    /// `Debug` prints the map from ID to lease that the lessor's `SmallMap` printed.
    #[test]
    fn debug_prints_as_the_small_map_did() {
        for n in [0, 2, 40] {
            let map: LeaseMap = {
                let mut map = LeaseMap::new();
                (1..=n).rev().for_each(|id| drop(map.insert(lease(id, 0))));
                map
            };
            let small: SmallMap<LeaseId, Lease, INLINE_MAX> = (1..=n).map(|id| (id, lease(id, 0))).collect();
            assert_eq!(format!("{map:?}"), format!("{small:?}"));
        }
    }

    /// `clone_from` into a map of either form, smaller or larger, gives the source.
    #[test]
    fn clone_from_gives_the_source_whatever_it_overwrites() {
        let map = |ids: &[LeaseId]| {
            let mut map = LeaseMap::new();
            ids.iter().for_each(|&id| drop(map.insert(lease(id, id))));
            map
        };
        let many: Vec<LeaseId> = (100..400).collect();
        let shapes: [&[LeaseId]; 6] = [&[], &[1], &[2, 3], &[1, 2, 3], &[4, 5, 6, 7], &many];
        for source in shapes {
            for target in shapes {
                let mut copy = map(target);
                copy.clone_from(&map(source));
                copy.assert_consistent();
                assert!(copy == map(source), "{target:?} <- {source:?}");
                assert_eq!(ids_of(&copy), source, "{target:?} <- {source:?}");
                // The copy is a map in its own right: it grows and shrinks like any other.
                copy.insert(lease(1000, 0));
                copy.remove(&1000);
                copy.assert_consistent();
            }
        }
    }

    #[test]
    #[should_panic(expected = "a lease inserted under ID 5 carries ID 6")]
    fn get_or_insert_with_refuses_a_lease_of_another_id() {
        LeaseMap::new().get_or_insert_with(5, || lease(6, 0));
    }
}
