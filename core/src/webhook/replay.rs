//! The replay guard: refuse a `webhook-id` that was already handled.
//!
//! A receiver that verified a message asks the guard to *reserve* its id.
//! The id is then in progress; once the handler has succeeded the receiver
//! *commits* it (a later message with that id is a replay), and when the
//! handler failed it *releases* it, so the sender's retry is accepted. Each id
//! is remembered only until its expiry — for Standard Webhooks the signed
//! timestamp plus the verifier's tolerance, after which the verifier refuses
//! the message as stale anyway — and the guard never holds more than its
//! capacity, so a flood of distinct ids cannot grow memory without bound.
//!
//! Pure: times are [`UnixTime`] arguments. Both adapters (the tokio receiver
//! and the wasm edge-worker helpers) use this one machine, so they make the
//! same decision for the same inputs.
//!
//! ```
//! use novitai_core::UnixTime;
//! use novitai_core::webhook::{ReplayError, ReplayGuard};
//!
//! let mut guard = ReplayGuard::new(1_000);
//! let now = UnixTime::from_secs(1_700_000_000);
//! let expires = UnixTime::from_secs(1_700_000_300);
//! guard.reserve("msg_1", expires, now).unwrap();
//! // A second delivery while the first is being handled: try again later.
//! assert_eq!(guard.reserve("msg_1", expires, now), Err(ReplayError::InProgress));
//! guard.commit("msg_1");
//! assert_eq!(guard.reserve("msg_1", expires, now), Err(ReplayError::Replayed));
//! // After its expiry the id is forgotten.
//! let later = UnixTime::from_secs(1_700_000_301);
//! assert!(guard.reserve("msg_1", UnixTime::from_secs(1_700_000_601), later).is_ok());
//! ```

use crate::time::UnixTime;
use alloc::collections::{BTreeMap, BTreeSet};
use alloc::string::{String, ToString};
use core::fmt;

/// Why [`ReplayGuard::reserve`] refused an id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplayError {
    /// The id was handled successfully before: the message is a replay.
    Replayed,
    /// The id is being handled right now (a concurrent duplicate); a retry
    /// later will be answered once the first finishes.
    InProgress,
    /// The guard already remembers `capacity` ids that have not expired.
    Full {
        /// The guard's capacity.
        capacity: usize,
    },
}

impl fmt::Display for ReplayError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReplayError::Replayed => f.write_str(
                "this webhook-id was already handled: the message is a replay (a sender that \
                 re-sends after a crash should treat this as delivered)",
            ),
            ReplayError::InProgress => f.write_str(
                "a message with this webhook-id is being handled right now; retry in a few seconds",
            ),
            ReplayError::Full { capacity } => write!(
                f,
                "the replay guard already remembers {capacity} unexpired ids; retry later or \
                 raise its capacity"
            ),
        }
    }
}

impl core::error::Error for ReplayError {}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Seen {
    InProgress,
    Done,
}

/// The ids handled recently, each until its expiry, at most `capacity` at
/// once. See the [module docs](self).
///
/// # Default
/// No `Default`: the capacity is the caller's choice (the tokio receiver uses
/// 100 000). A capacity of 0 is treated as 1.
#[derive(Debug, Clone)]
pub struct ReplayGuard {
    capacity: usize,
    seen: BTreeMap<String, (Seen, u64)>,
    by_expiry: BTreeSet<(u64, String)>,
}

impl ReplayGuard {
    /// An empty guard remembering at most `capacity` ids (at least 1).
    #[must_use]
    pub fn new(capacity: usize) -> ReplayGuard {
        ReplayGuard {
            capacity: capacity.max(1),
            seen: BTreeMap::new(),
            by_expiry: BTreeSet::new(),
        }
    }

    /// The most ids remembered at once.
    #[must_use]
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// How many ids are remembered now (in progress or handled), including
    /// any whose expiry passed but that no call has swept yet.
    #[must_use]
    pub fn len(&self) -> usize {
        self.seen.len()
    }

    /// `true` when no id is remembered.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }

    /// Forgets every id whose expiry is before `now`.
    pub fn expire(&mut self, now: UnixTime) {
        let now = now.as_secs();
        while let Some((at, _)) = self.by_expiry.first() {
            if *at >= now {
                break;
            }
            if let Some((_, id)) = self.by_expiry.pop_first() {
                self.seen.remove(&id);
            }
        }
    }

    /// Reserves `id` until `expires` (first forgetting expired ids): `Ok`
    /// means handle the message, then call [`ReplayGuard::commit`] or
    /// [`ReplayGuard::release`]. An `expires` already before `now` is
    /// remembered until `now`, so an immediate duplicate is still caught.
    pub fn reserve(
        &mut self,
        id: &str,
        expires: UnixTime,
        now: UnixTime,
    ) -> Result<(), ReplayError> {
        self.expire(now);
        match self.seen.get(id) {
            Some((Seen::Done, _)) => return Err(ReplayError::Replayed),
            Some((Seen::InProgress, _)) => return Err(ReplayError::InProgress),
            None => {}
        }
        if self.seen.len() >= self.capacity {
            return Err(ReplayError::Full {
                capacity: self.capacity,
            });
        }
        let expires = expires.as_secs().max(now.as_secs());
        self.seen
            .insert(id.to_string(), (Seen::InProgress, expires));
        self.by_expiry.insert((expires, id.to_string()));
        Ok(())
    }

    /// The handler succeeded: a later message with `id` is a replay (until
    /// the id expires). Does nothing for an id not reserved.
    pub fn commit(&mut self, id: &str) {
        if let Some(entry) = self.seen.get_mut(id) {
            entry.0 = Seen::Done;
        }
    }

    /// The handler failed or the request was dropped: forget `id` so the
    /// sender's retry is accepted. Does nothing for an id already committed
    /// or not reserved.
    pub fn release(&mut self, id: &str) {
        if let Some((Seen::InProgress, expires)) = self.seen.get(id).copied() {
            self.seen.remove(id);
            self.by_expiry.remove(&(expires, id.to_string()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: u64) -> UnixTime {
        UnixTime::from_secs(s)
    }

    #[test]
    fn a_failed_handler_lets_the_senders_retry_through() {
        let mut g = ReplayGuard::new(10);
        g.reserve("a", t(400), t(100)).unwrap();
        g.release("a");
        assert_eq!(g.reserve("a", t(400), t(101)), Ok(()));
        g.commit("a");
        assert_eq!(g.reserve("a", t(400), t(102)), Err(ReplayError::Replayed));
        // Releasing a committed id does not reopen it.
        g.release("a");
        assert_eq!(g.reserve("a", t(400), t(103)), Err(ReplayError::Replayed));
    }

    #[test]
    fn a_full_guard_refuses_until_ids_expire() {
        let mut g = ReplayGuard::new(2);
        g.reserve("a", t(110), t(100)).unwrap();
        g.reserve("b", t(120), t(100)).unwrap();
        assert_eq!(
            g.reserve("c", t(130), t(100)),
            Err(ReplayError::Full { capacity: 2 })
        );
        // At 111 "a" has expired, making room.
        assert_eq!(g.reserve("c", t(130), t(111)), Ok(()));
        assert_eq!(g.len(), 2);
    }

    #[test]
    fn an_id_is_remembered_through_its_expiry_second() {
        let mut g = ReplayGuard::new(10);
        g.reserve("a", t(200), t(100)).unwrap();
        g.commit("a");
        assert_eq!(g.reserve("a", t(500), t(200)), Err(ReplayError::Replayed));
        assert_eq!(g.reserve("a", t(500), t(201)), Ok(()));
    }

    #[test]
    fn an_expiry_in_the_past_still_catches_an_immediate_duplicate() {
        let mut g = ReplayGuard::new(10);
        g.reserve("a", t(50), t(100)).unwrap();
        g.commit("a");
        assert_eq!(g.reserve("a", t(50), t(100)), Err(ReplayError::Replayed));
    }

    #[test]
    fn zero_capacity_means_one() {
        let mut g = ReplayGuard::new(0);
        assert_eq!(g.capacity(), 1);
        assert!(g.reserve("a", t(10), t(1)).is_ok());
    }

    #[test]
    fn every_refusal_reads_as_a_sentence() {
        for e in [
            ReplayError::Replayed,
            ReplayError::InProgress,
            ReplayError::Full { capacity: 7 },
        ] {
            let s = alloc::format!("{e}");
            assert!(s.len() > 30, "{s}");
        }
    }
}
