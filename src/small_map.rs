//! `SmallMap` and `SmallSet`: ordered maps and sets that keep up to `N` entries inline (a sorted
//! array inside the value: no heap allocation, so cloning one is a copy) and move to a `BTreeMap`
//! beyond that. The lessor (but for its leases: `lease/lease_map.rs`, the same inline form with a
//! chunked one beyond), the KV, the replayer and the history keep their collections in these:
//! at the lessor model's bounds (two leases, two keys) a whole member is cloned, hashed and
//! dropped without touching the allocator, once per generated state; at a million leases the same
//! code runs on the `BTreeMap`.
//!
//! Iteration is in key order in both forms, and equality and hashing are those of the sorted
//! entries, so two maps with the same entries are equal and hash alike whichever form they
//! are in (a map does not move back inline when it shrinks).

use std::borrow::Borrow;
use std::collections::{BTreeMap, btree_map};
use std::fmt;
use std::hash::{Hash, Hasher};

use arrayvec::ArrayVec;

/// How many entries the core's collections keep inline: the lessor model's default bounds (two
/// lease IDs, two keys; so also two records, history entries, renews or revokes in flight). More
/// is correct, only slower: the collection moves to a tree. Every inline slot is copied with each
/// model state, so this is kept as small as the bounds allow.
pub const INLINE_MAX: usize = 2;

/// An ordered map, inline up to `N` entries.
pub struct SmallMap<K, V, const N: usize> {
    repr: Repr<K, V, N>,
}

impl<K: Clone, V: Clone, const N: usize> Clone for SmallMap<K, V, N> {
    fn clone(&self) -> Self {
        SmallMap { repr: self.repr.clone() }
    }
    fn clone_from(&mut self, source: &Self) {
        self.repr.clone_from(&source.repr);
    }
}

enum Repr<K, V, const N: usize> {
    /// At most `N` entries, sorted by key, no duplicates.
    Inline(ArrayVec<(K, V), N>),
    Spilled(BTreeMap<K, V>),
}

impl<K: Clone, V: Clone, const N: usize> Clone for Repr<K, V, N> {
    fn clone(&self) -> Self {
        match self {
            Repr::Inline(entries) => {
                // Entry by entry: `ArrayVec`'s own clone goes through its general `extend`, which
                // costs more than the handful of entries it copies (this is the model checker's
                // inner loop).
                let mut copy = ArrayVec::new();
                for entry in entries {
                    copy.push(entry.clone());
                }
                Repr::Inline(copy)
            }
            Repr::Spilled(map) => Repr::Spilled(map.clone()),
        }
    }

    /// In place when both are inline: entry by entry, each with its own `clone_from`, so cloning
    /// into a map that already holds entries moves no whole map (see `Replayer::clone_from`).
    fn clone_from(&mut self, source: &Self) {
        match (&mut *self, source) {
            (Repr::Inline(entries), Repr::Inline(from)) => {
                entries.truncate(from.len());
                let common = entries.len();
                for ((key, value), (from_key, from_value)) in entries.iter_mut().zip(from) {
                    key.clone_from(from_key);
                    value.clone_from(from_value);
                }
                for entry in &from[common..] {
                    entries.push(entry.clone());
                }
            }
            _ => *self = source.clone(),
        }
    }
}

impl<K, V, const N: usize> Default for SmallMap<K, V, N> {
    fn default() -> Self {
        SmallMap { repr: Repr::Inline(ArrayVec::new()) }
    }
}

impl<K: Ord, V, const N: usize> SmallMap<K, V, N> {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn len(&self) -> usize {
        match &self.repr {
            Repr::Inline(entries) => entries.len(),
            Repr::Spilled(map) => map.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Where `key` is, or would be inserted, among the inline entries.
    fn search<Q>(entries: &[(K, V)], key: &Q) -> Result<usize, usize>
    where
        K: Borrow<Q>,
        Q: Ord + ?Sized,
    {
        // Linear: the inline form holds a handful of entries.
        for (position, (k, _)) in entries.iter().enumerate() {
            match k.borrow().cmp(key) {
                std::cmp::Ordering::Less => {}
                std::cmp::Ordering::Equal => return Ok(position),
                std::cmp::Ordering::Greater => return Err(position),
            }
        }
        Err(entries.len())
    }

    pub fn get<Q>(&self, key: &Q) -> Option<&V>
    where
        K: Borrow<Q>,
        Q: Ord + ?Sized,
    {
        match &self.repr {
            Repr::Inline(entries) => Self::search(entries, key).ok().map(|position| &entries[position].1),
            Repr::Spilled(map) => map.get(key),
        }
    }

    pub fn get_mut<Q>(&mut self, key: &Q) -> Option<&mut V>
    where
        K: Borrow<Q>,
        Q: Ord + ?Sized,
    {
        match &mut self.repr {
            Repr::Inline(entries) => Self::search(entries, key).ok().map(|position| &mut entries[position].1),
            Repr::Spilled(map) => map.get_mut(key),
        }
    }

    pub fn contains_key<Q>(&self, key: &Q) -> bool
    where
        K: Borrow<Q>,
        Q: Ord + ?Sized,
    {
        self.get(key).is_some()
    }

    /// Inserts or replaces; answers the value replaced.
    pub fn insert(&mut self, key: K, value: V) -> Option<V> {
        self.make_room_for(&key);
        match &mut self.repr {
            Repr::Inline(entries) => match Self::search(entries, &key) {
                Ok(position) => Some(std::mem::replace(&mut entries[position].1, value)),
                Err(position) => {
                    entries.insert(position, (key, value));
                    None
                }
            },
            Repr::Spilled(map) => map.insert(key, value),
        }
    }

    /// The value of `key`, inserted from `make` first if absent.
    pub fn get_or_insert_with(&mut self, key: K, make: impl FnOnce() -> V) -> &mut V {
        self.make_room_for(&key);
        match &mut self.repr {
            Repr::Inline(entries) => {
                let position = match Self::search(entries, &key) {
                    Ok(position) => position,
                    Err(position) => {
                        entries.insert(position, (key, make()));
                        position
                    }
                };
                &mut entries[position].1
            }
            Repr::Spilled(map) => map.entry(key).or_insert_with(make),
        }
    }

    /// Moves a full inline map that lacks `key` to the `BTreeMap` form.
    fn make_room_for(&mut self, key: &K) {
        if let Repr::Inline(entries) = &mut self.repr
            && entries.len() == N
            && Self::search(entries, key).is_err()
        {
            self.repr = Repr::Spilled(std::mem::take(entries).into_iter().collect());
        }
    }

    pub fn remove<Q>(&mut self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Ord + ?Sized,
    {
        match &mut self.repr {
            Repr::Inline(entries) => Self::search(entries, key).ok().map(|position| entries.remove(position).1),
            Repr::Spilled(map) => map.remove(key),
        }
    }

    /// Entries with keys at or after `from`, in key order.
    pub fn range_from<Q>(&self, from: &Q) -> Iter<'_, K, V>
    where
        K: Borrow<Q>,
        Q: Ord + ?Sized,
    {
        match &self.repr {
            Repr::Inline(entries) => {
                let start = Self::search(entries, from).unwrap_or_else(|position| position);
                Iter::Inline(entries[start..].iter())
            }
            Repr::Spilled(map) => {
                Iter::Spilled(map.range::<Q, _>((std::ops::Bound::Included(from), std::ops::Bound::Unbounded)))
            }
        }
    }

    /// The entry with the smallest key.
    pub fn first_key_value(&self) -> Option<(&K, &V)> {
        match &self.repr {
            Repr::Inline(entries) => entries.first().map(|(k, v)| (k, v)),
            Repr::Spilled(map) => map.first_key_value(),
        }
    }

    /// The entry with the smallest key, its value mutable.
    pub fn first_mut(&mut self) -> Option<(&K, &mut V)> {
        match &mut self.repr {
            Repr::Inline(entries) => entries.first_mut().map(|(k, v)| (&*k, v)),
            Repr::Spilled(map) => map.iter_mut().next(),
        }
    }

    pub fn clear(&mut self) {
        self.repr = Repr::Inline(ArrayVec::new());
    }

    /// Entries in key order.
    pub fn iter(&self) -> Iter<'_, K, V> {
        match &self.repr {
            Repr::Inline(entries) => Iter::Inline(entries.iter()),
            Repr::Spilled(map) => Iter::Spilled(map.range(..)),
        }
    }

    /// Entries in key order, values mutable.
    pub fn iter_mut(&mut self) -> IterMut<'_, K, V> {
        match &mut self.repr {
            Repr::Inline(entries) => IterMut::Inline(entries.iter_mut()),
            Repr::Spilled(map) => IterMut::Spilled(map.iter_mut()),
        }
    }

    pub fn keys(&self) -> impl DoubleEndedIterator<Item = &K> {
        self.iter().map(|(k, _)| k)
    }

    pub fn values(&self) -> impl DoubleEndedIterator<Item = &V> {
        self.iter().map(|(_, v)| v)
    }

    pub fn values_mut(&mut self) -> impl DoubleEndedIterator<Item = &mut V> {
        self.iter_mut().map(|(_, v)| v)
    }
}

/// Entries in key order (see [`SmallMap::iter`]).
pub enum Iter<'a, K, V> {
    Inline(std::slice::Iter<'a, (K, V)>),
    Spilled(btree_map::Range<'a, K, V>),
}

impl<'a, K, V> Iterator for Iter<'a, K, V> {
    type Item = (&'a K, &'a V);
    fn next(&mut self) -> Option<Self::Item> {
        match self {
            Iter::Inline(entries) => entries.next().map(|(k, v)| (k, v)),
            Iter::Spilled(entries) => entries.next(),
        }
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        match self {
            Iter::Inline(entries) => entries.size_hint(),
            Iter::Spilled(entries) => entries.size_hint(),
        }
    }
}

impl<K, V> DoubleEndedIterator for Iter<'_, K, V> {
    fn next_back(&mut self) -> Option<Self::Item> {
        match self {
            Iter::Inline(entries) => entries.next_back().map(|(k, v)| (k, v)),
            Iter::Spilled(entries) => entries.next_back(),
        }
    }
}

impl<K, V> ExactSizeIterator for Iter<'_, K, V> {}

/// Entries in key order, values mutable (see [`SmallMap::iter_mut`]).
pub enum IterMut<'a, K, V> {
    Inline(std::slice::IterMut<'a, (K, V)>),
    Spilled(btree_map::IterMut<'a, K, V>),
}

impl<'a, K, V> Iterator for IterMut<'a, K, V> {
    type Item = (&'a K, &'a mut V);
    fn next(&mut self) -> Option<Self::Item> {
        match self {
            IterMut::Inline(entries) => entries.next().map(|(k, v)| (&*k, v)),
            IterMut::Spilled(entries) => entries.next(),
        }
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        match self {
            IterMut::Inline(entries) => entries.size_hint(),
            IterMut::Spilled(entries) => entries.size_hint(),
        }
    }
}

impl<K, V> DoubleEndedIterator for IterMut<'_, K, V> {
    fn next_back(&mut self) -> Option<Self::Item> {
        match self {
            IterMut::Inline(entries) => entries.next_back().map(|(k, v)| (&*k, v)),
            IterMut::Spilled(entries) => entries.next_back(),
        }
    }
}

impl<K, V> ExactSizeIterator for IterMut<'_, K, V> {}

/// Entries in key order, by value.
pub enum IntoIter<K, V, const N: usize> {
    Inline(arrayvec::IntoIter<(K, V), N>),
    Spilled(btree_map::IntoIter<K, V>),
}

impl<K, V, const N: usize> Iterator for IntoIter<K, V, N> {
    type Item = (K, V);
    fn next(&mut self) -> Option<(K, V)> {
        match self {
            IntoIter::Inline(entries) => entries.next(),
            IntoIter::Spilled(entries) => entries.next(),
        }
    }
}

impl<K, V, const N: usize> IntoIterator for SmallMap<K, V, N> {
    type Item = (K, V);
    type IntoIter = IntoIter<K, V, N>;
    fn into_iter(self) -> IntoIter<K, V, N> {
        match self.repr {
            Repr::Inline(entries) => IntoIter::Inline(entries.into_iter()),
            Repr::Spilled(map) => IntoIter::Spilled(map.into_iter()),
        }
    }
}

impl<'a, K: Ord, V, const N: usize> IntoIterator for &'a SmallMap<K, V, N> {
    type Item = (&'a K, &'a V);
    type IntoIter = Iter<'a, K, V>;
    fn into_iter(self) -> Iter<'a, K, V> {
        self.iter()
    }
}

impl<K: Ord, V, const N: usize> FromIterator<(K, V)> for SmallMap<K, V, N> {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(entries: I) -> Self {
        let mut map = SmallMap::new();
        for (k, v) in entries {
            map.insert(k, v);
        }
        map
    }
}

impl<K: Ord, V: PartialEq, const N: usize> PartialEq for SmallMap<K, V, N> {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

impl<K: Ord, V: Eq, const N: usize> Eq for SmallMap<K, V, N> {}

impl<K: Ord + Hash, V: Hash, const N: usize> Hash for SmallMap<K, V, N> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        // One loop per form rather than `iter()`, whose iterator matches on the form at every
        // entry: a model checker hashes every map of every generated state.
        fn entries<'a, K: Hash + 'a, V: Hash + 'a, H: Hasher>(
            len: usize,
            entries: impl Iterator<Item = (&'a K, &'a V)>,
            state: &mut H,
        ) {
            state.write_usize(len);
            for (k, v) in entries {
                k.hash(state);
                v.hash(state);
            }
        }
        match &self.repr {
            Repr::Inline(inline) => entries(inline.len(), inline.iter().map(|(k, v)| (k, v)), state),
            Repr::Spilled(map) => entries(map.len(), map.iter(), state),
        }
    }
}

impl<K: Ord + fmt::Debug, V: fmt::Debug, const N: usize> fmt::Debug for SmallMap<K, V, N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

/// An ordered set, inline up to `N` members (a [`SmallMap`] to `()`).
#[derive(Default)]
pub struct SmallSet<T, const N: usize> {
    map: SmallMap<T, (), N>,
}

impl<T: Clone, const N: usize> Clone for SmallSet<T, N> {
    fn clone(&self) -> Self {
        SmallSet { map: self.map.clone() }
    }
    fn clone_from(&mut self, source: &Self) {
        self.map.clone_from(&source.map);
    }
}

impl<T: Ord, const N: usize> PartialEq for SmallSet<T, N> {
    fn eq(&self, other: &Self) -> bool {
        self.map == other.map
    }
}

impl<T: Ord, const N: usize> Eq for SmallSet<T, N> {}

impl<T: Ord, const N: usize> SmallSet<T, N> {
    pub fn new() -> Self {
        SmallSet { map: SmallMap::new() }
    }
    pub fn len(&self) -> usize {
        self.map.len()
    }
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
    pub fn contains<Q>(&self, member: &Q) -> bool
    where
        T: Borrow<Q>,
        Q: Ord + ?Sized,
    {
        self.map.contains_key(member)
    }
    /// Answers whether `member` was new.
    pub fn insert(&mut self, member: T) -> bool {
        self.map.insert(member, ()).is_none()
    }
    /// Answers whether `member` was there.
    pub fn remove<Q>(&mut self, member: &Q) -> bool
    where
        T: Borrow<Q>,
        Q: Ord + ?Sized,
    {
        self.map.remove(member).is_some()
    }
    /// Members in order.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &T> + ExactSizeIterator {
        self.map.iter().map(|(member, ())| member)
    }
}

impl<T, const N: usize> IntoIterator for SmallSet<T, N> {
    type Item = T;
    type IntoIter = std::iter::Map<IntoIter<T, (), N>, fn((T, ())) -> T>;
    fn into_iter(self) -> Self::IntoIter {
        let members: fn((T, ())) -> T = |(member, ())| member;
        self.map.into_iter().map(members)
    }
}

impl<'a, T: Ord, const N: usize> IntoIterator for &'a SmallSet<T, N> {
    type Item = &'a T;
    type IntoIter = std::iter::Map<Iter<'a, T, ()>, fn((&'a T, &'a ())) -> &'a T>;
    fn into_iter(self) -> Self::IntoIter {
        let members: fn((&'a T, &'a ())) -> &'a T = |(member, _)| member;
        self.map.iter().map(members)
    }
}

impl<T: Ord, const N: usize> FromIterator<T> for SmallSet<T, N> {
    fn from_iter<I: IntoIterator<Item = T>>(members: I) -> Self {
        SmallSet { map: members.into_iter().map(|member| (member, ())).collect() }
    }
}

impl<T: Ord + Hash, const N: usize> Hash for SmallSet<T, N> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.map.hash(state);
    }
}

impl<T: Ord + fmt::Debug, const N: usize> fmt::Debug for SmallSet<T, N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use crate::digest::Digest;

    /// `clone_from` into a map of either form, with fewer or more entries, gives the source.
    #[test]
    fn clone_from_gives_the_source_whatever_it_overwrites() {
        let map = |entries: &[u32]| {
            let mut map: SmallMap<u32, SmallSet<String, 1>, 2> = SmallMap::new();
            for &e in entries {
                let mut keys = SmallSet::new();
                keys.insert(format!("k{e}"));
                map.insert(e, keys);
            }
            map
        };
        let shapes: [&[u32]; 5] = [&[], &[1], &[2, 3], &[1, 2, 3], &[4, 5, 6, 7]];
        for source in shapes {
            for target in shapes {
                let mut copy = map(target);
                copy.clone_from(&map(source));
                assert!(copy == map(source), "{target:?} <- {source:?}");
                assert_eq!(copy.iter().map(|(k, _)| *k).collect::<Vec<_>>(), source, "{target:?} <- {source:?}");
            }
        }
    }

    /// Every operation, on both forms, agrees with a `BTreeMap` driven alike.
    #[test]
    fn agrees_with_btree_map_across_the_spill() {
        let mut small: SmallMap<u32, u32, 3> = SmallMap::new();
        let mut reference: BTreeMap<u32, u32> = BTreeMap::new();
        // A fixed pseudo-random walk of inserts and removes over keys 0..8.
        let mut x: u32 = 12345;
        for step in 0..2_000 {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            let key = (x >> 16) % 8;
            match (x >> 8) % 4 {
                0 | 1 => assert_eq!(small.insert(key, step), reference.insert(key, step)),
                2 => assert_eq!(small.remove(&key), reference.remove(&key)),
                _ => {
                    *small.get_or_insert_with(key, || 0) += 1;
                    *reference.entry(key).or_insert(0) += 1;
                }
            }
            assert_eq!(small.len(), reference.len());
            assert!(small.iter().eq(reference.iter()), "step {step}");
            assert_eq!(small.first_key_value(), reference.first_key_value());
            assert_eq!(small.get(&key), reference.get(&key));
        }
    }

    #[test]
    fn equal_contents_are_equal_and_hash_alike_in_either_form() {
        let mut spilled: SmallMap<u32, u32, 2> = (0..3).map(|k| (k, k)).collect();
        spilled.remove(&2);
        let inline: SmallMap<u32, u32, 2> = (0..2).map(|k| (k, k)).collect();
        assert!(matches!(spilled.repr, Repr::Spilled(_)) && matches!(inline.repr, Repr::Inline(_)));
        assert_eq!(spilled, inline);
        assert_eq!(Digest::of([&spilled]), Digest::of([&inline]));
        let mut other = inline.clone();
        other.insert(1, 7);
        assert_ne!(other, inline);
        assert_ne!(Digest::of([&other]), Digest::of([&inline]));
    }

    #[test]
    fn set_keeps_members_in_order() {
        let mut set: SmallSet<String, 2> = SmallSet::new();
        for member in ["c", "a", "b", "a"] {
            set.insert(member.to_owned());
        }
        assert_eq!(set.iter().map(String::as_str).collect::<Vec<_>>(), ["a", "b", "c"]);
        assert!(set.remove("b") && !set.remove("b") && set.contains("c"));
        let reference: BTreeSet<String> = set.clone().into_iter().collect();
        assert_eq!(reference.into_iter().collect::<Vec<_>>(), ["a", "c"]);
    }
}
