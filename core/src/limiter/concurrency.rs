//! A concurrency cap: at most `max_in_flight` requests at once.
//!
//! Unlike the Node client, which ran one request at a time, the engine runs
//! requests concurrently up to this cap. A slot is taken with
//! [`ConcurrencyLimiter::try_acquire`], which hands out a
//! [`ConcurrencyPermit`]; the slot is given back by passing the permit to
//! [`ConcurrencyLimiter::release`]. The permit is neither `Clone` nor `Copy`,
//! so a slot cannot be released twice through the same permit.
//!
//! Being sans-I/O, the permit cannot give itself back when dropped: a permit
//! dropped without `release` keeps its slot taken (it is `#[must_use]`).

use super::LimiterConfigError;
use core::fmt;
use serde::{Deserialize, Serialize};

/// Proof of one slot taken from a [`ConcurrencyLimiter`]. Give it back with
/// [`ConcurrencyLimiter::release`].
#[derive(Debug, PartialEq, Eq)]
#[must_use = "a permit keeps its slot until passed to ConcurrencyLimiter::release"]
pub struct ConcurrencyPermit {
    _private: (),
}

/// "No slot free": `max` requests are already in flight. Release a permit
/// and try again.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct AtCapacity {
    /// The cap that was reached.
    pub max: u32,
}

impl fmt::Display for AtCapacity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "all {} request slots are in flight; retry when one completes",
            self.max
        )
    }
}

/// At most `max_in_flight` requests at once.
///
/// Serialisable, but note that permits are not: a restored limiter counts
/// slots taken by permits that no longer exist. Persist its configuration,
/// or restore it only alongside the requests it counts.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "ConcurrencyState", into = "ConcurrencyState")]
pub struct ConcurrencyLimiter {
    max: u32,
    in_flight: u32,
}

/// The serialised form of a [`ConcurrencyLimiter`].
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
struct ConcurrencyState {
    max_in_flight: u32,
    in_flight: u32,
}

impl TryFrom<ConcurrencyState> for ConcurrencyLimiter {
    type Error = LimiterConfigError;
    fn try_from(s: ConcurrencyState) -> Result<ConcurrencyLimiter, LimiterConfigError> {
        let mut c = ConcurrencyLimiter::new(s.max_in_flight)?;
        if s.in_flight > s.max_in_flight {
            return Err(LimiterConfigError::InconsistentState);
        }
        c.in_flight = s.in_flight;
        Ok(c)
    }
}

impl From<ConcurrencyLimiter> for ConcurrencyState {
    fn from(c: ConcurrencyLimiter) -> ConcurrencyState {
        ConcurrencyState {
            max_in_flight: c.max,
            in_flight: c.in_flight,
        }
    }
}

impl ConcurrencyLimiter {
    /// A limiter with no request in flight, or
    /// [`LimiterConfigError::ZeroConcurrency`] when `max_in_flight` is 0.
    pub fn new(max_in_flight: u32) -> Result<ConcurrencyLimiter, LimiterConfigError> {
        if max_in_flight == 0 {
            return Err(LimiterConfigError::ZeroConcurrency);
        }
        Ok(ConcurrencyLimiter {
            max: max_in_flight,
            in_flight: 0,
        })
    }

    /// Takes a slot, or says that all are taken.
    pub fn try_acquire(&mut self) -> Result<ConcurrencyPermit, AtCapacity> {
        if self.in_flight < self.max {
            self.in_flight += 1;
            Ok(ConcurrencyPermit { _private: () })
        } else {
            Err(AtCapacity { max: self.max })
        }
    }

    /// Gives a slot back. (Permits from another limiter are accepted too —
    /// the count never goes below zero.)
    pub fn release(&mut self, permit: ConcurrencyPermit) {
        let ConcurrencyPermit { _private: () } = permit;
        self.in_flight = self.in_flight.saturating_sub(1);
    }

    /// Requests in flight now.
    #[must_use]
    pub const fn in_flight(&self) -> u32 {
        self.in_flight
    }

    /// Slots free now.
    #[must_use]
    pub const fn available(&self) -> u32 {
        self.max.saturating_sub(self.in_flight)
    }

    /// The cap.
    #[must_use]
    pub const fn max_in_flight(&self) -> u32 {
        self.max
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_slots_is_a_config_error() {
        assert_eq!(
            ConcurrencyLimiter::new(0),
            Err(LimiterConfigError::ZeroConcurrency)
        );
    }

    #[test]
    fn three_slots_admit_three_until_one_completes() {
        let mut c = ConcurrencyLimiter::new(3).unwrap();
        let a = c.try_acquire().unwrap();
        let b = c.try_acquire().unwrap();
        let d = c.try_acquire().unwrap();
        assert_eq!(c.in_flight(), 3);
        assert_eq!(c.available(), 0);
        assert_eq!(c.try_acquire(), Err(AtCapacity { max: 3 }));
        c.release(b);
        assert_eq!(c.in_flight(), 2);
        let e = c.try_acquire().unwrap();
        for p in [a, d, e] {
            c.release(p);
        }
        assert_eq!(c.in_flight(), 0);
        assert_eq!(c.available(), 3);
    }

    #[test]
    fn a_stray_permit_cannot_push_the_count_below_zero() {
        let mut other = ConcurrencyLimiter::new(1).unwrap();
        let mut c = ConcurrencyLimiter::new(1).unwrap();
        let stray = other.try_acquire().unwrap();
        c.release(stray);
        assert_eq!(c.in_flight(), 0);
        assert!(c.try_acquire().is_ok());
    }

    #[test]
    fn state_round_trips_and_impossible_counts_are_refused() {
        let mut c = ConcurrencyLimiter::new(4).unwrap();
        let _p = c.try_acquire().unwrap();
        let json = serde_json::to_string(&c).unwrap();
        assert_eq!(json, r#"{"max_in_flight":4,"in_flight":1}"#);
        assert_eq!(
            serde_json::from_str::<ConcurrencyLimiter>(&json).unwrap(),
            c
        );
        let bad = r#"{"max_in_flight":1,"in_flight":2}"#;
        assert!(serde_json::from_str::<ConcurrencyLimiter>(bad).is_err());
    }
}
