//! `LeaseKeys`: the keys attached to one lease (etcd's `Lease.itemSet`), in order.
//!
//! Owns only their storage, in 24 bytes: none, one key inline (a lease usually holds one: a lock,
//! a leader-election record), or a boxed ordered set from two keys on. Every lease record carries
//! one, and a promote or a hash walks every record, so its size is the records' size: 24 bytes
//! here against 40 for the general inline-or-tree set (`SmallSet`), which brings a lease record from
//! 80 to 64 bytes. The form follows the size alone (one key is always inline), so the derived
//! equality of forms is equality of sets; hashing and `Debug` are those of the members in order,
//! as `SmallSet`'s are.

use std::borrow::Borrow;
use std::collections::BTreeSet;
use std::hash::{Hash, Hasher};
use std::{fmt, option};

use crate::kv::Key;

/// The keys of one lease, in order.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct LeaseKeys(Form);

#[derive(Default, PartialEq, Eq)]
enum Form {
    #[default]
    None,
    One(Key),
    /// At least two keys. Boxed, so the form is 24 bytes: the pointer fits beside the niche the
    /// inline key leaves, where a `BTreeSet` (24 bytes itself) would make it 32.
    #[allow(clippy::box_collection)]
    Many(Box<BTreeSet<Key>>),
}

impl Clone for Form {
    fn clone(&self) -> Form {
        match self {
            Form::None => Form::None,
            Form::One(key) => Form::One(key.clone()),
            Form::Many(keys) => Form::Many(keys.clone()),
        }
    }
    /// Reuses the key's or the set's storage when both are of one form (a model checker clones
    /// states into ones it recycles).
    fn clone_from(&mut self, source: &Form) {
        match (self, source) {
            (Form::One(key), Form::One(from)) => key.clone_from(from),
            (Form::Many(keys), Form::Many(from)) => keys.clone_from(from),
            (this, source) => *this = source.clone(),
        }
    }
}

impl LeaseKeys {
    pub fn new() -> LeaseKeys {
        LeaseKeys(Form::None)
    }

    pub fn len(&self) -> usize {
        match &self.0 {
            Form::None => 0,
            Form::One(_) => 1,
            Form::Many(keys) => keys.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        matches!(self.0, Form::None)
    }

    pub fn contains<Q>(&self, key: &Q) -> bool
    where
        Key: Borrow<Q>,
        Q: Ord + ?Sized,
    {
        match &self.0 {
            Form::None => false,
            Form::One(one) => Borrow::<Q>::borrow(one) == key,
            Form::Many(keys) => keys.contains(key),
        }
    }

    /// Answers whether `key` was new.
    pub fn insert(&mut self, key: Key) -> bool {
        match &mut self.0 {
            Form::None => self.0 = Form::One(key),
            Form::One(one) if *one == key => return false,
            Form::One(_) => {
                let Form::One(one) = std::mem::take(&mut self.0) else { unreachable!("the form just matched") };
                self.0 = Form::Many(Box::new(BTreeSet::from([one, key])));
            }
            Form::Many(keys) => return keys.insert(key),
        }
        true
    }

    /// Answers whether `key` was there.
    pub fn remove<Q>(&mut self, key: &Q) -> bool
    where
        Key: Borrow<Q>,
        Q: Ord + ?Sized,
    {
        match &mut self.0 {
            Form::None => false,
            Form::One(one) if Borrow::<Q>::borrow(&*one) == key => {
                self.0 = Form::None;
                true
            }
            Form::One(_) => false,
            Form::Many(keys) => {
                let removed = keys.remove(key);
                if keys.len() == 1 {
                    let last = keys.pop_first().expect("one key left");
                    self.0 = Form::One(last);
                }
                removed
            }
        }
    }

    /// The keys in order.
    pub fn iter(&self) -> Iter<'_> {
        match &self.0 {
            Form::None => Iter::One(None.into_iter()),
            Form::One(key) => Iter::One(Some(key).into_iter()),
            Form::Many(keys) => Iter::Many(keys.iter()),
        }
    }
}

/// The keys of a [`LeaseKeys`] in order, by reference.
pub enum Iter<'a> {
    One(option::IntoIter<&'a Key>),
    Many(std::collections::btree_set::Iter<'a, Key>),
}

/// The keys of a [`LeaseKeys`] in order, by value.
pub enum IntoIter {
    One(option::IntoIter<Key>),
    Many(std::collections::btree_set::IntoIter<Key>),
}

/// `Iterator`, `DoubleEndedIterator` and `ExactSizeIterator` for an iterator enum of the two forms.
macro_rules! iterator_of_forms {
    ($ty:ty, $item:ty) => {
        impl<'a> Iterator for $ty {
            type Item = $item;
            fn next(&mut self) -> Option<$item> {
                match self {
                    Self::One(one) => one.next(),
                    Self::Many(many) => many.next(),
                }
            }
            fn size_hint(&self) -> (usize, Option<usize>) {
                match self {
                    Self::One(one) => one.size_hint(),
                    Self::Many(many) => many.size_hint(),
                }
            }
        }
        impl<'a> DoubleEndedIterator for $ty {
            fn next_back(&mut self) -> Option<$item> {
                match self {
                    Self::One(one) => one.next_back(),
                    Self::Many(many) => many.next_back(),
                }
            }
        }
        impl<'a> ExactSizeIterator for $ty {}
    };
}

iterator_of_forms!(Iter<'a>, &'a Key);
iterator_of_forms!(IntoIter, Key);

impl IntoIterator for LeaseKeys {
    type Item = Key;
    type IntoIter = IntoIter;
    fn into_iter(self) -> IntoIter {
        match self.0 {
            Form::None => IntoIter::One(None.into_iter()),
            Form::One(key) => IntoIter::One(Some(key).into_iter()),
            Form::Many(keys) => IntoIter::Many(keys.into_iter()),
        }
    }
}

impl<'a> IntoIterator for &'a LeaseKeys {
    type Item = &'a Key;
    type IntoIter = Iter<'a>;
    fn into_iter(self) -> Iter<'a> {
        self.iter()
    }
}

impl FromIterator<Key> for LeaseKeys {
    fn from_iter<I: IntoIterator<Item = Key>>(keys: I) -> LeaseKeys {
        let mut set = LeaseKeys::new();
        for key in keys {
            set.insert(key);
        }
        set
    }
}

impl Hash for LeaseKeys {
    /// The number of keys, then each in order (as `SmallSet` hashes).
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_usize(self.len());
        self.iter().for_each(|key| key.hash(state));
    }
}

impl fmt::Debug for LeaseKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::small_map::SmallSet;
    use crate::test_rng::Xorshift;

    fn hash_of(value: &impl Hash) -> u64 {
        let mut hasher = std::hash::DefaultHasher::new();
        value.hash(&mut hasher);
        hasher.finish()
    }

    #[test]
    fn it_is_24_bytes_and_a_lease_record_64() {
        assert_eq!(size_of::<LeaseKeys>(), 24);
        assert_eq!(size_of::<crate::lease::Lease>(), 64);
    }

    /// Random inserts and removes of a few keys agree with an ordered set at every step: members,
    /// order (both ways), length, equality with a set built afresh, clone and `clone_from` into
    /// every form, and hash and `Debug` with `SmallSet`'s.
    #[test]
    fn it_answers_as_an_ordered_set_after_every_change() {
        let mut rng = Xorshift(0x2545_F491_4F6C_DD1D);
        let mut next = |bound: u64| rng.below(bound);
        let mut keys = LeaseKeys::new();
        let mut reference: BTreeSet<Key> = BTreeSet::new();
        // Earlier states, of every form, to `clone_from` into.
        let mut earlier: Vec<LeaseKeys> = vec![LeaseKeys::new()];
        for step in 0..5_000 {
            let key = Key::from(format!("key/{}", next(5)));
            if next(3) == 0 {
                assert_eq!(keys.remove(key.as_str()), reference.remove(&key), "step {step}: remove {key}");
            } else {
                assert_eq!(keys.insert(key.clone()), reference.insert(key.clone()), "step {step}: insert {key}");
            }
            assert_eq!(keys.len(), reference.len(), "step {step}");
            assert_eq!(keys.is_empty(), reference.is_empty(), "step {step}");
            assert!(keys.iter().eq(reference.iter()), "step {step}: {keys:?} against {reference:?}");
            assert!(keys.iter().rev().eq(reference.iter().rev()), "step {step}: reversed");
            assert_eq!(keys.iter().len(), reference.len(), "step {step}: exact size");
            assert!(keys.clone().into_iter().eq(reference.iter().cloned()), "step {step}: by value");
            for probe in 0..5 {
                let probe = format!("key/{probe}");
                assert_eq!(keys.contains(probe.as_str()), reference.contains(probe.as_str()), "step {step}: {probe}");
            }
            let afresh: LeaseKeys = reference.iter().rev().cloned().collect();
            assert_eq!(keys, afresh, "step {step}: the form follows the size");
            let small: SmallSet<Key, 1> = reference.iter().cloned().collect();
            assert_eq!(hash_of(&keys), hash_of(&small), "step {step}: hash");
            assert_eq!(format!("{keys:?}"), format!("{small:?}"), "step {step}: Debug");
            for target in &earlier {
                let mut target = target.clone();
                target.clone_from(&keys);
                assert_eq!(target, keys, "step {step}: clone_from");
            }
            if step % 97 == 0 && earlier.len() < 12 {
                earlier.push(keys.clone());
            }
        }
    }
}
