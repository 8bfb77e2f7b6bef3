//! A keyed limiter: one [`RateLimiter`] per key (per host, per API key), in
//! bounded memory.
//!
//! Keys live in a `BTreeMap` (no hashing, so no entropy and a deterministic
//! order). Memory is bounded two ways:
//!
//! - **Idle keys go.** A key whose limiter is back to idle (it would decide
//!   exactly as a fresh one) is dropped without losing anything; a key unused
//!   for `max_idle` is dropped even if its limiter is not idle (for example a
//!   long server hold). Idle keys are swept when room is needed, or when the
//!   caller calls [`KeyedLimiter::evict_idle`].
//! - **At most `max_keys` keys.** When a new key arrives and the map is full
//!   of non-idle keys, the *least recently used* key (the smallest last-use
//!   time; ties go to the smallest key) is dropped. LRU rather than
//!   oldest-inserted, because a key in active use is the one whose history
//!   matters; dropping a non-idle key forgets its history, so size `max_keys`
//!   above the number of keys active at once.
//!
//! Making room costs one pass over the keys (O(`max_keys`)) and happens only
//! when a new key arrives at a full map; deciding for a known key costs
//! O(log `max_keys`).

use super::{InsufficientCapacity, LimiterConfigError, NotUntil, RateLimitConfig, RateLimiter};
use crate::time::{Duration, Instant};
use alloc::collections::BTreeMap;
use serde::{Deserialize, Serialize};

/// The configuration of a [`KeyedLimiter`].
///
/// # Default
///
/// `limit` = [`RateLimitConfig::default()`] (100 requests per 60 s per key),
/// `max_keys` = 10 000, `max_idle` = 1 hour.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct KeyedConfig {
    /// The limit applied to each key separately.
    pub limit: RateLimitConfig,
    /// The most keys stored at once (at least 1).
    pub max_keys: usize,
    /// A key unused this long is dropped even if its limiter is not idle.
    pub max_idle: Duration,
}

impl Default for KeyedConfig {
    fn default() -> KeyedConfig {
        KeyedConfig {
            limit: RateLimitConfig::default(),
            max_keys: 10_000,
            max_idle: Duration::from_secs(3600),
        }
    }
}

/// One key's limiter and when it was last used.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Entry {
    limiter: RateLimiter,
    last_used: Instant,
}

impl Entry {
    fn evictable(&self, now: Instant, max_idle: Duration) -> bool {
        self.limiter.is_idle(now) || now.saturating_duration_since(self.last_used) >= max_idle
    }
}

/// One [`RateLimiter`] per key, at most `max_keys` of them.
///
/// Serialises as its configuration and every stored key's limiter;
/// deserialising checks the configuration and the key count.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    try_from = "KeyedState<K>",
    into = "KeyedState<K>",
    bound(
        serialize = "K: Ord + Clone + Serialize",
        deserialize = "K: Ord + Clone + Deserialize<'de>"
    )
)]
pub struct KeyedLimiter<K: Ord + Clone> {
    config: KeyedConfig,
    /// A fresh limiter, cloned for each new key.
    fresh: RateLimiter,
    entries: BTreeMap<K, Entry>,
}

/// The serialised form of a [`KeyedLimiter`].
#[derive(Clone, Debug, Serialize, Deserialize)]
struct KeyedState<K: Ord> {
    config: KeyedConfig,
    entries: BTreeMap<K, Entry>,
}

impl<K: Ord + Clone> TryFrom<KeyedState<K>> for KeyedLimiter<K> {
    type Error = LimiterConfigError;
    fn try_from(s: KeyedState<K>) -> Result<KeyedLimiter<K>, LimiterConfigError> {
        let mut k = KeyedLimiter::new(s.config)?;
        let fits = s.entries.len() <= s.config.max_keys
            && s.entries
                .values()
                .all(|e| e.limiter.config() == s.config.limit);
        if !fits {
            return Err(LimiterConfigError::InconsistentState);
        }
        k.entries = s.entries;
        Ok(k)
    }
}

impl<K: Ord + Clone> From<KeyedLimiter<K>> for KeyedState<K> {
    fn from(k: KeyedLimiter<K>) -> KeyedState<K> {
        KeyedState {
            config: k.config,
            entries: k.entries,
        }
    }
}

impl<K: Ord + Clone> KeyedLimiter<K> {
    /// An empty keyed limiter, or the reason `config` cannot work.
    pub fn new(config: KeyedConfig) -> Result<KeyedLimiter<K>, LimiterConfigError> {
        if config.max_keys == 0 {
            return Err(LimiterConfigError::ZeroMaxKeys);
        }
        let fresh = RateLimiter::new(config.limit)?;
        Ok(KeyedLimiter {
            config,
            fresh,
            entries: BTreeMap::new(),
        })
    }

    /// The limiter for `key`, created (making room if needed) when absent,
    /// with its last use moved to `now`. Always `Some`; callers fall back to a
    /// fresh limiter on `None` so that no path can panic.
    fn entry(&mut self, key: &K, now: Instant) -> Option<&mut RateLimiter> {
        if !self.entries.contains_key(key) {
            self.make_room(now);
            self.entries.insert(
                key.clone(),
                Entry {
                    limiter: self.fresh.clone(),
                    last_used: now,
                },
            );
        }
        self.entries.get_mut(key).map(|e| {
            e.last_used = e.last_used.max(now);
            &mut e.limiter
        })
    }

    /// Ensures there is room for one more key.
    fn make_room(&mut self, now: Instant) {
        if self.entries.len() < self.config.max_keys {
            return;
        }
        self.evict_idle(now);
        if self.entries.len() < self.config.max_keys {
            return;
        }
        let lru = self
            .entries
            .iter()
            .min_by_key(|(_, e)| e.last_used)
            .map(|(k, _)| k.clone());
        if let Some(k) = lru {
            self.entries.remove(&k);
        }
    }

    /// Admits one request for `key` at `now`, or says when it would be.
    pub fn check(&mut self, key: &K, now: Instant) -> Result<(), NotUntil> {
        match self.entry(key, now) {
            Some(l) => l.check(now),
            None => self.fresh.clone().check(now),
        }
    }

    /// Admits `n` requests for `key` at once (all or none); see
    /// [`RateLimiter::check_n`].
    pub fn check_n(
        &mut self,
        key: &K,
        n: u64,
        now: Instant,
    ) -> Result<Result<(), NotUntil>, InsufficientCapacity> {
        let capacity = self.fresh.capacity();
        if n > capacity {
            return Err(InsufficientCapacity {
                requested: n,
                capacity,
            });
        }
        match self.entry(key, now) {
            Some(l) => l.check_n(n, now),
            None => self.fresh.clone().check_n(n, now),
        }
    }

    /// Server push-back for one key: admit nothing for `key` before `until`
    /// (see [`RateLimiter::push_back`]). `now` is the time of the answer.
    pub fn push_back(&mut self, key: &K, until: Instant, now: Instant) {
        if let Some(l) = self.entry(key, now) {
            l.push_back(until);
        }
    }

    /// The earliest instant, not before `now`, at which one request for `key`
    /// would be admitted (`now` for an unknown key). Changes nothing.
    #[must_use]
    pub fn next_free(&self, key: &K, now: Instant) -> Instant {
        self.entries
            .get(key)
            .map_or(now, |e| e.limiter.next_free(now))
    }

    /// Drops every key whose limiter is idle at `now` or that has been unused
    /// for `max_idle`. Returns how many were dropped.
    pub fn evict_idle(&mut self, now: Instant) -> usize {
        let before = self.entries.len();
        let max_idle = self.config.max_idle;
        self.entries.retain(|_, e| !e.evictable(now, max_idle));
        before - self.entries.len()
    }

    /// The limiter stored for `key`, if any.
    #[must_use]
    pub fn get(&self, key: &K) -> Option<&RateLimiter> {
        self.entries.get(key).map(|e| &e.limiter)
    }

    /// The number of keys stored (never above `max_keys`).
    #[must_use]
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// `true` when no key is stored.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The configuration.
    #[must_use]
    pub const fn config(&self) -> KeyedConfig {
        self.config
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::limiter::{GcraConfig, WindowConfig};
    use alloc::string::{String, ToString};

    fn ms(v: u64) -> Instant {
        Instant::from_millis(v)
    }

    fn one_per_minute(max_keys: usize) -> KeyedConfig {
        KeyedConfig {
            limit: RateLimitConfig::SlidingWindow(WindowConfig {
                max: 1,
                window: Duration::from_secs(60),
            }),
            max_keys,
            max_idle: Duration::from_secs(3600),
        }
    }

    #[test]
    fn each_key_has_its_own_quota() {
        let mut k = KeyedLimiter::new(one_per_minute(10)).unwrap();
        assert_eq!(k.check(&"api.novita.ai", ms(0)), Ok(()));
        assert_eq!(k.check(&"hooks.example", ms(0)), Ok(()));
        assert_eq!(
            k.check(&"api.novita.ai", ms(1)),
            Err(NotUntil::new(ms(60_000)))
        );
        assert_eq!(k.next_free(&"api.novita.ai", ms(1)), ms(60_000));
        assert_eq!(k.next_free(&"unknown", ms(1)), ms(1));
        assert_eq!(k.len(), 2);
    }

    #[test]
    fn rejects_zero_keys_and_bad_limits() {
        assert_eq!(
            KeyedLimiter::<u32>::new(one_per_minute(0)).unwrap_err(),
            LimiterConfigError::ZeroMaxKeys
        );
        let bad = KeyedConfig {
            limit: RateLimitConfig::Gcra(GcraConfig::per_second(1).with_burst(0)),
            ..KeyedConfig::default()
        };
        assert_eq!(
            KeyedLimiter::<u32>::new(bad).unwrap_err(),
            LimiterConfigError::ZeroBurst
        );
    }

    #[test]
    fn memory_stops_growing_at_the_cap_however_many_keys_arrive() {
        let mut k = KeyedLimiter::new(one_per_minute(64)).unwrap();
        for i in 0..20_000u64 {
            // All keys are busy (each within its window): eviction is LRU.
            let _ = k.check(&i, ms(i));
            assert!(k.len() <= 64);
        }
        assert_eq!(k.len(), 64);
        // The survivors are the 64 most recently used.
        assert!(k.get(&19_999).is_some());
        assert!(k.get(&(20_000 - 64)).is_some());
        assert!(k.get(&(20_000 - 65)).is_none());
    }

    #[test]
    fn idle_keys_are_dropped_before_busy_ones() {
        let mut k = KeyedLimiter::new(one_per_minute(2)).unwrap();
        k.check(&1, ms(0)).unwrap(); // idle again at 60 s
        k.check(&2, ms(50_000)).unwrap(); // busy until 110 s
        // At 70 s a third key arrives: key 1 is idle, key 2 is not.
        k.check(&3, ms(70_000)).unwrap();
        assert!(k.get(&1).is_none());
        assert!(k.get(&2).is_some());
        assert_eq!(k.check(&2, ms(70_000)), Err(NotUntil::new(ms(110_000))));
    }

    #[test]
    fn lru_not_insertion_order_decides_under_pressure() {
        let mut k = KeyedLimiter::new(one_per_minute(2)).unwrap();
        k.check(&"a", ms(0)).unwrap();
        k.check(&"b", ms(10)).unwrap();
        let _ = k.check(&"a", ms(20)); // "a" used again: "b" is now the LRU
        k.check(&"c", ms(30)).unwrap();
        assert!(k.get(&"a").is_some());
        assert!(k.get(&"b").is_none());
    }

    #[test]
    fn evict_idle_drops_idle_and_long_unused_keys() {
        let mut cfg = one_per_minute(10);
        cfg.max_idle = Duration::from_secs(120);
        let mut k = KeyedLimiter::new(cfg).unwrap();
        k.check(&1, ms(0)).unwrap();
        k.push_back(&2, ms(1_000_000), ms(0)); // held far ahead: not idle
        assert_eq!(k.evict_idle(ms(59_999)), 0);
        assert_eq!(k.evict_idle(ms(60_000)), 1); // key 1 idle
        assert_eq!(k.evict_idle(ms(119_999)), 0);
        assert_eq!(k.evict_idle(ms(120_000)), 1); // key 2 unused for max_idle
        assert!(k.is_empty());
    }

    #[test]
    fn a_429_holds_only_its_own_key() {
        let mut k = KeyedLimiter::new(KeyedConfig::default()).unwrap();
        k.push_back(&"slow.host", ms(10_000), ms(0));
        assert_eq!(k.check(&"slow.host", ms(1)), Err(NotUntil::new(ms(10_000))));
        assert_eq!(k.check(&"fast.host", ms(1)), Ok(()));
        assert_eq!(
            k.check_n(&"fast.host", 101, ms(1)),
            Err(InsufficientCapacity {
                requested: 101,
                capacity: 100
            })
        );
    }

    #[test]
    fn state_round_trips_and_oversized_state_is_refused() {
        let mut k: KeyedLimiter<String> = KeyedLimiter::new(one_per_minute(2)).unwrap();
        k.check(&"x".to_string(), ms(3)).unwrap();
        let json = serde_json::to_string(&k).unwrap();
        let back: KeyedLimiter<String> = serde_json::from_str(&json).unwrap();
        assert_eq!(back, k);
        let shrunk = json.replace("\"max_keys\":2", "\"max_keys\":0");
        assert!(serde_json::from_str::<KeyedLimiter<String>>(&shrunk).is_err());
    }
}
