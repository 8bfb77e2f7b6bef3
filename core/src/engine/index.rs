//! [`IdMap`]: the engine's index for the ids it hands out one after the
//! other (flight, request and attempt ids).
//!
//! Such ids are dense and go in in increasing order, and most leave soon
//! (a request lives for one round trip or a few retries), so the map is a
//! ring buffer with one slot per id from the oldest live one on: an insert
//! is a push, a lookup or removal is one subtraction and one index, and
//! removed slots at either end are trimmed. An entry that stays while many
//! later ones come and go (a request retrying for minutes) would make the
//! ring span everything since it; once the ring spans more than about
//! twice its live entries, the oldest entries move to a sorted `Vec` on the
//! side (few: only entries outliving a great many later ones go there; a
//! `Vec` links far less wasm code than a `BTreeMap`, issue #8), so memory
//! stays proportional to what is live. In steady state
//! nothing allocates, and an operation touches one or two cache lines
//! instead of a B-tree's path, which matters when the engine is shared by
//! several threads (issue #5).

use alloc::collections::VecDeque;
use alloc::vec::Vec;

/// The ring may span this many slots more than twice its live entries.
const SLACK: usize = 32;

/// A map from ids (mostly inserted in increasing order) to values.
pub(super) struct IdMap<V> {
    /// The id of `ring[0]`.
    base: u64,
    /// One slot per id from `base` on; the first and last are never `None`.
    ring: VecDeque<Option<V>>,
    /// `Some` slots in `ring`.
    live: usize,
    /// Entries older than `base` (moved out of the ring, or inserted late),
    /// sorted by id.
    old: Vec<(u64, V)>,
}

impl<V> Default for IdMap<V> {
    fn default() -> Self {
        IdMap {
            base: 0,
            ring: VecDeque::new(),
            live: 0,
            old: Vec::new(),
        }
    }
}

/// The sorted `old` side: where `id` is, or where it would go.
fn find<V>(old: &[(u64, V)], id: u64) -> Result<usize, usize> {
    old.binary_search_by(|(k, _)| k.cmp(&id))
}

/// Inserts into the sorted `old` side; returns the value replaced.
fn insert_old<V>(old: &mut Vec<(u64, V)>, id: u64, value: V) -> Option<V> {
    match find(old, id) {
        Ok(i) => Some(core::mem::replace(&mut old.get_mut(i)?.1, value)),
        Err(i) => {
            old.insert(i, (id, value));
            None
        }
    }
}

impl<V> IdMap<V> {
    /// How many entries there are.
    pub(super) fn len(&self) -> usize {
        self.live + self.old.len()
    }

    /// The ring slot of `id`, if it is within the ring.
    fn slot(&self, id: u64) -> Option<usize> {
        let i = usize::try_from(id.checked_sub(self.base)?).ok()?;
        (i < self.ring.len()).then_some(i)
    }

    /// Inserts or replaces; returns the value replaced.
    pub(super) fn insert(&mut self, id: u64, value: V) -> Option<V> {
        if self.ring.is_empty() {
            if self.old.last().is_none_or(|(k, _)| *k < id) {
                self.base = id;
                self.ring.push_back(Some(value));
                self.live = 1;
                return None;
            }
            return insert_old(&mut self.old, id, value);
        }
        if id < self.base {
            return insert_old(&mut self.old, id, value);
        }
        if let Some(i) = self.slot(id) {
            let old = self.ring.get_mut(i)?.replace(value);
            if old.is_none() {
                self.live += 1;
            }
            return old;
        }
        // Past the end: fill the ids skipped (never inserted) with holes,
        // unless there are more of them than the ring may span: then the
        // ring moves aside whole and starts again at `id`.
        let gap = id - self.base - self.ring.len() as u64;
        if gap > (2 * self.live + SLACK) as u64 {
            // Every id in the ring is above those aside: appended in order.
            for (k, v) in (self.base..).zip(self.ring.drain(..)) {
                if let Some(v) = v {
                    self.old.push((k, v));
                }
            }
            self.base = id;
            self.ring.push_back(Some(value));
            self.live = 1;
            return None;
        }
        for _ in 0..gap {
            self.ring.push_back(None);
        }
        self.ring.push_back(Some(value));
        self.live += 1;
        self.bound();
        None
    }

    /// Keeps the ring within twice its live entries (plus slack) by moving
    /// its oldest entries to `old`.
    fn bound(&mut self) {
        while self.ring.len() > 2 * self.live + SLACK {
            let Some(front) = self.ring.pop_front() else {
                return;
            };
            if let Some(v) = front {
                self.live -= 1;
                self.old.push((self.base, v));
            }
            self.base += 1;
            self.trim();
        }
    }

    /// Drops holes from both ends.
    fn trim(&mut self) {
        while self.ring.front().is_some_and(Option::is_none) {
            self.ring.pop_front();
            self.base += 1;
        }
        while self.ring.back().is_some_and(Option::is_none) {
            self.ring.pop_back();
        }
    }

    /// The value under `id`.
    pub(super) fn get(&self, id: u64) -> Option<&V> {
        match self.slot(id) {
            Some(i) => self.ring.get(i)?.as_ref(),
            None => self.old.get(find(&self.old, id).ok()?).map(|(_, v)| v),
        }
    }

    /// The value under `id`, to change.
    pub(super) fn get_mut(&mut self, id: u64) -> Option<&mut V> {
        match self.slot(id) {
            Some(i) => self.ring.get_mut(i)?.as_mut(),
            None => {
                let i = find(&self.old, id).ok()?;
                self.old.get_mut(i).map(|(_, v)| v)
            }
        }
    }

    /// Whether `id` has a value.
    pub(super) fn contains_key(&self, id: u64) -> bool {
        self.get(id).is_some()
    }

    /// Takes the value under `id` out.
    pub(super) fn remove(&mut self, id: u64) -> Option<V> {
        let Some(i) = self.slot(id) else {
            let i = find(&self.old, id).ok()?;
            return Some(self.old.remove(i).1);
        };
        let value = self.ring.get_mut(i)?.take()?;
        self.live -= 1;
        // Only an end can have become a hole.
        if i == 0 || i + 1 == self.ring.len() {
            self.trim();
        }
        Some(value)
    }

    /// The entry with the smallest id.
    pub(super) fn first(&self) -> Option<(u64, &V)> {
        if let Some((k, v)) = self.old.first() {
            return Some((*k, v));
        }
        // Never a hole at the front.
        self.ring
            .front()
            .and_then(|v| Some((self.base, v.as_ref()?)))
    }

    /// The entry with the largest id.
    pub(super) fn last(&self) -> Option<(u64, &V)> {
        // Never a hole at the back.
        match self.ring.back() {
            Some(v) => Some((self.base + self.ring.len() as u64 - 1, v.as_ref()?)),
            None => self.old.last().map(|(k, v)| (*k, v)),
        }
    }

    /// The entries in increasing id order.
    pub(super) fn iter(&self) -> impl Iterator<Item = (u64, &V)> {
        let old = self.old.iter().map(|(k, v)| (*k, v));
        let ring = (self.base..)
            .zip(self.ring.iter())
            .filter_map(|(k, v)| Some((k, v.as_ref()?)));
        old.chain(ring)
    }

    /// The ids in increasing order.
    pub(super) fn keys(&self) -> impl Iterator<Item = u64> {
        self.iter().map(|(k, _)| k)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::collections::BTreeMap;

    /// The map agrees with the model; right after an insert (`inserted`)
    /// the ring spans at most twice its live entries plus the slack (a
    /// removal leaves the span as it is until the next insert).
    fn check(ours: &IdMap<u64>, model: &BTreeMap<u64, u64>, inserted: bool) {
        assert_eq!(ours.len(), model.len());
        assert_eq!(ours.first(), model.iter().next().map(|(k, v)| (*k, v)));
        assert_eq!(ours.last(), model.iter().next_back().map(|(k, v)| (*k, v)));
        if inserted {
            assert!(ours.ring.len() <= 2 * ours.live + SLACK + 1);
        }
        assert!(ours.ring.front().is_none_or(Option::is_some));
        assert!(ours.ring.back().is_none_or(Option::is_some));
        assert!(ours.old.iter().all(|(k, _)| *k < ours.base));
        assert!(ours.old.windows(2).all(|w| w[0].0 < w[1].0));
    }

    /// The same answers as a `BTreeMap` for any sequence of operations,
    /// increasing ids or not, and a ring that stays within twice the live
    /// entries plus the slack.
    #[test]
    fn behaves_like_a_btree_map() {
        let mut rng = crate::rng::Rng::new(42);
        for round in 0..200 {
            let mut ours: IdMap<u64> = IdMap::default();
            let mut model: BTreeMap<u64, u64> = BTreeMap::new();
            let mut next = 0u64;
            for step in 0..2_000u64 {
                let r = rng.next_u64();
                match r % 8 {
                    // Mostly increasing inserts (some ids skipped), as the
                    // engine does.
                    0..=2 => {
                        next += 1 + (r >> 8) % 3;
                        assert_eq!(ours.insert(next, step), model.insert(next, step));
                    }
                    // Sometimes a long run of ids skipped.
                    3 if round % 3 == 1 => {
                        next += 100 + (r >> 8) % 200;
                        assert_eq!(ours.insert(next, step), model.insert(next, step));
                    }
                    // Sometimes any id (replacing, or older than the ring).
                    3 if round % 2 == 0 => {
                        let k = (r >> 8) % (next + 1);
                        assert_eq!(ours.insert(k, step), model.insert(k, step));
                    }
                    _ => {
                        let k = (r >> 8) % (next + 1);
                        assert_eq!(ours.remove(k), model.remove(&k), "remove {k}");
                    }
                }
                let k = (r >> 16) % (next + 2);
                assert_eq!(ours.get(k), model.get(&k));
                assert_eq!(ours.contains_key(k), model.contains_key(&k));
                // Increasing inserts (the first two arms) bound the ring.
                check(&ours, &model, r % 8 <= 2 || (r % 8 == 3 && round % 3 == 1));
            }
            let a: Vec<(u64, u64)> = ours.iter().map(|(k, v)| (k, *v)).collect();
            let b: Vec<(u64, u64)> = model.iter().map(|(k, v)| (*k, *v)).collect();
            assert_eq!(a, b);
            assert!(ours.keys().eq(model.keys().copied()));
            if let Some(v) = ours.get_mut(next) {
                *v = 7;
                assert_eq!(ours.get(next), Some(&7));
            }
        }
    }

    /// A long-lived entry does not make the ring span everything inserted
    /// and removed after it: it moves aside and is still found.
    #[test]
    fn one_old_entry_does_not_pin_the_ring() {
        let mut map: IdMap<u64> = IdMap::default();
        let mut model = BTreeMap::new();
        map.insert(0, 0);
        model.insert(0, 0);
        // 64 live after the old one, the oldest of them removed each time.
        for k in 1..100_000u64 {
            map.insert(k, k);
            model.insert(k, k);
            check(&map, &model, true);
            if k > 64 {
                assert_eq!(map.remove(k - 64), Some(k - 64));
                model.remove(&(k - 64));
            }
            check(&map, &model, false);
        }
        assert_eq!(map.get(0), Some(&0));
        assert_eq!(map.remove(0), Some(0));
        assert_eq!(map.len(), 64);
    }
}
