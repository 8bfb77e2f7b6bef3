//! [`IdMap`]: the engine's index for keys it hands out in increasing order
//! (flight, request and attempt ids; attempt timeouts, which grow with the
//! attempt ids because every attempt gets the same timeout from a clock
//! that never goes back).
//!
//! Such keys always go in at the end, so the map is one ring buffer of
//! `(key, value)` pairs in key order: an insert is a push, a lookup is a
//! binary search over contiguous memory, and a removal leaves a hole that
//! is trimmed when it reaches either end, or squeezed out once holes
//! outnumber the live entries (so the buffer never holds more than about
//! twice the live entries, and each removal costs O(1) amortised). Compared
//! with a `BTreeMap` of a few hundred entries this does no allocation in
//! steady state and touches far fewer cache lines per operation, which
//! matters when the engine is shared by several threads (issue #5).
//!
//! A key smaller than the last one is still accepted (it is put in its
//! place, O(n)), so the map is correct for any insertion order; it is only
//! fast for increasing keys.

use alloc::collections::VecDeque;

/// Holes are squeezed out when there are more than this many and more
/// holes than live entries.
const SLACK: usize = 32;

/// An ordered map whose keys are mostly inserted in increasing order.
pub(super) struct IdMap<K, V> {
    /// In increasing key order; `None` is a removed entry (never at either
    /// end).
    slots: VecDeque<(K, Option<V>)>,
    /// Entries that are `Some`.
    live: usize,
}

impl<K, V> Default for IdMap<K, V> {
    fn default() -> Self {
        IdMap {
            slots: VecDeque::new(),
            live: 0,
        }
    }
}

impl<K: Ord + Copy, V> IdMap<K, V> {
    /// How many entries there are.
    pub(super) fn len(&self) -> usize {
        self.live
    }

    fn find(&self, key: &K) -> Option<usize> {
        self.slots.binary_search_by(|(k, _)| k.cmp(key)).ok()
    }

    /// Inserts or replaces; returns the value replaced.
    pub(super) fn insert(&mut self, key: K, value: V) -> Option<V> {
        if self.slots.back().is_none_or(|(last, _)| *last < key) {
            self.slots.push_back((key, Some(value)));
            self.live += 1;
            return None;
        }
        match self.slots.binary_search_by(|(k, _)| k.cmp(&key)) {
            Ok(i) => {
                let slot = &mut self.slots.get_mut(i)?.1;
                let old = slot.replace(value);
                if old.is_none() {
                    self.live += 1;
                }
                old
            }
            Err(i) => {
                self.slots.insert(i, (key, Some(value)));
                self.live += 1;
                None
            }
        }
    }

    /// The value under `key`.
    pub(super) fn get(&self, key: &K) -> Option<&V> {
        self.slots.get(self.find(key)?)?.1.as_ref()
    }

    /// The value under `key`, to change.
    pub(super) fn get_mut(&mut self, key: &K) -> Option<&mut V> {
        let i = self.find(key)?;
        self.slots.get_mut(i)?.1.as_mut()
    }

    /// Whether `key` has a value.
    pub(super) fn contains_key(&self, key: &K) -> bool {
        self.get(key).is_some()
    }

    /// Takes the value under `key` out.
    pub(super) fn remove(&mut self, key: &K) -> Option<V> {
        let i = self.find(key)?;
        let value = self.slots.get_mut(i)?.1.take()?;
        self.live -= 1;
        while self.slots.front().is_some_and(|(_, v)| v.is_none()) {
            self.slots.pop_front();
        }
        while self.slots.back().is_some_and(|(_, v)| v.is_none()) {
            self.slots.pop_back();
        }
        let holes = self.slots.len() - self.live;
        if holes > SLACK && holes > self.live {
            self.slots.retain(|(_, v)| v.is_some());
        }
        Some(value)
    }

    /// The entry with the smallest key.
    pub(super) fn first(&self) -> Option<(&K, &V)> {
        // Never a hole at the front.
        self.slots.front().and_then(|(k, v)| Some((k, v.as_ref()?)))
    }

    /// The entries in increasing key order.
    pub(super) fn iter(&self) -> impl Iterator<Item = (&K, &V)> {
        self.slots
            .iter()
            .filter_map(|(k, v)| Some((k, v.as_ref()?)))
    }

    /// The keys in increasing order.
    pub(super) fn keys(&self) -> impl Iterator<Item = &K> {
        self.iter().map(|(k, _)| k)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::collections::BTreeMap;
    use alloc::vec::Vec;

    /// The same answers as a `BTreeMap` for any sequence of operations,
    /// increasing keys or not, and a buffer that stays within twice the
    /// live entries plus the slack.
    #[test]
    fn behaves_like_a_btree_map() {
        let mut rng = crate::rng::Rng::new(42);
        for round in 0..200 {
            let mut ours: IdMap<u64, u64> = IdMap::default();
            let mut model: BTreeMap<u64, u64> = BTreeMap::new();
            let mut next = 0u64;
            for step in 0..2_000u64 {
                let r = rng.next_u64();
                match r % 8 {
                    // Mostly increasing inserts, as the engine does.
                    0..=2 => {
                        next += 1 + (r >> 8) % 3;
                        assert_eq!(ours.insert(next, step), model.insert(next, step));
                    }
                    // Sometimes any key (replacing or out of order).
                    3 if round % 2 == 0 => {
                        let k = (r >> 8) % (next + 1);
                        assert_eq!(ours.insert(k, step), model.insert(k, step));
                    }
                    _ => {
                        let k = (r >> 8) % (next + 1);
                        assert_eq!(ours.remove(&k), model.remove(&k), "remove {k}");
                    }
                }
                let k = (r >> 16) % (next + 2);
                assert_eq!(ours.get(&k), model.get(&k));
                assert_eq!(ours.contains_key(&k), model.contains_key(&k));
                assert_eq!(ours.len(), model.len());
                assert_eq!(ours.first(), model.iter().next());
                assert!(ours.slots.len() <= 2 * ours.len() + SLACK + 1);
            }
            let a: Vec<(u64, u64)> = ours.iter().map(|(k, v)| (*k, *v)).collect();
            let b: Vec<(u64, u64)> = model.iter().map(|(k, v)| (*k, *v)).collect();
            assert_eq!(a, b);
            assert!(ours.keys().copied().eq(model.keys().copied()));
            if let Some(v) = ours.get_mut(&next) {
                *v = 7;
                assert_eq!(ours.get(&next), Some(&7));
            }
        }
    }

    /// A long-lived entry at the front does not make the buffer grow with
    /// everything inserted and removed after it.
    #[test]
    fn one_old_entry_does_not_pin_the_buffer() {
        let mut map: IdMap<u64, ()> = IdMap::default();
        map.insert(0, ());
        // 64 live after the old one, the oldest of them removed each time.
        for k in 1..100_000u64 {
            map.insert(k, ());
            if k > 64 {
                assert_eq!(map.remove(&(k - 64)), Some(()));
            }
            assert!(map.slots.len() <= 2 * map.len() + SLACK + 1);
        }
        for k in 100_000 - 64..100_000 {
            map.remove(&k);
        }
        assert_eq!(map.len(), 1);
        assert!(map.slots.len() <= 2 + SLACK);
        assert_eq!(map.first(), Some((&0, &())));
    }
}
