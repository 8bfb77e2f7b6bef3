//! [`RateLimiter`]: GCRA or sliding window behind one interface, plus server
//! push-back.

use super::{
    Gcra, GcraConfig, InsufficientCapacity, LimiterConfigError, NotUntil, SlidingWindow,
    WindowConfig,
};
use crate::time::Instant;
use serde::{Deserialize, Serialize};

/// Which rate limit to apply, and its parameters.
///
/// # Default
///
/// `SlidingWindow` with 100 requests per 60 s — exactly the Node client's
/// limiter (see [`WindowConfig`]'s default).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "mode", rename_all = "snake_case")]
pub enum RateLimitConfig {
    /// A GCRA rate with a burst ([`Gcra`]).
    Gcra(GcraConfig),
    /// At most `max` requests in any window ([`SlidingWindow`]).
    SlidingWindow(WindowConfig),
}

impl Default for RateLimitConfig {
    fn default() -> RateLimitConfig {
        RateLimitConfig::SlidingWindow(WindowConfig::default())
    }
}

impl RateLimitConfig {
    /// Checks the configuration.
    pub fn validate(&self) -> Result<(), LimiterConfigError> {
        RateLimiter::new(*self).map(|_| ())
    }
}

/// The limiter behind a [`RateLimiter`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Mode {
    Gcra(Gcra),
    SlidingWindow(SlidingWindow),
}

/// A rate limiter — GCRA or sliding window, chosen by [`RateLimitConfig`] —
/// that the server can also hold back.
///
/// When the server answers 429 with `Retry-After`, the caller calls
/// [`push_back`](RateLimiter::push_back) with the instant the server named:
/// nothing is admitted before it, whatever the local quota says. Holds only
/// ever extend (a shorter `Retry-After` does not shorten a longer hold).
///
/// The whole state (mode, log or TAT, hold) is serde-serialisable.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RateLimiter {
    mode: Mode,
    /// No admission before this instant (`Instant::ZERO`: no hold).
    held_until: Instant,
}

impl RateLimiter {
    /// A fresh limiter, or the reason `config` cannot work.
    pub fn new(config: RateLimitConfig) -> Result<RateLimiter, LimiterConfigError> {
        let mode = match config {
            RateLimitConfig::Gcra(c) => Mode::Gcra(Gcra::new(c)?),
            RateLimitConfig::SlidingWindow(c) => Mode::SlidingWindow(SlidingWindow::new(c)?),
        };
        Ok(RateLimiter {
            mode,
            held_until: Instant::ZERO,
        })
    }

    /// Admits one request at `now`, or says when it would be admitted.
    #[inline]
    pub fn check(&mut self, now: Instant) -> Result<(), NotUntil> {
        if now < self.held_until {
            return Err(NotUntil::new(self.next_free(now)));
        }
        match &mut self.mode {
            Mode::Gcra(g) => g.check(now),
            Mode::SlidingWindow(w) => w.check(now),
        }
    }

    /// Admits `n` requests at once (all or none) at `now`.
    ///
    /// The outer `Err` means `n` is above [`capacity`](RateLimiter::capacity)
    /// and can never be admitted; the inner `Err` says when it would be.
    /// `n = 0` always conforms and changes nothing, even during a hold.
    pub fn check_n(
        &mut self,
        n: u64,
        now: Instant,
    ) -> Result<Result<(), NotUntil>, InsufficientCapacity> {
        let capacity = self.capacity();
        if n > capacity {
            return Err(InsufficientCapacity {
                requested: n,
                capacity,
            });
        }
        if n == 0 {
            return Ok(Ok(()));
        }
        if now < self.held_until {
            let inner = self.inner_earliest_n(n, self.held_until);
            return Ok(Err(NotUntil::new(inner.max(self.held_until))));
        }
        match &mut self.mode {
            Mode::Gcra(g) => g.check_n(n, now),
            Mode::SlidingWindow(w) => w.check_n(n, now),
        }
    }

    /// The earliest instant, not before `now`, at which one request would be
    /// admitted (the later of the hold and the local quota). Changes nothing.
    #[must_use]
    #[inline]
    pub fn next_free(&self, now: Instant) -> Instant {
        self.inner_earliest_n(1, now).max(self.held_until)
    }

    fn inner_earliest_n(&self, n: u64, now: Instant) -> Instant {
        match &self.mode {
            Mode::Gcra(g) => g.earliest_n(n, now),
            Mode::SlidingWindow(w) => w.earliest_n(n, now),
        }
    }

    /// Server push-back: admit nothing before `until` (a 429's
    /// `Retry-After`, resolved to an instant by the caller). A hold only
    /// extends; an earlier `until` than the current hold changes nothing.
    pub fn push_back(&mut self, until: Instant) {
        self.held_until = self.held_until.max(until);
    }

    /// The server's hold, if one is still in force at `now`.
    #[must_use]
    pub fn held_until(&self, now: Instant) -> Option<Instant> {
        (now < self.held_until).then_some(self.held_until)
    }

    /// `true` when, at `now`, the limiter would decide exactly as a fresh one
    /// (no hold in force, quota fully recovered).
    #[must_use]
    pub fn is_idle(&self, now: Instant) -> bool {
        now >= self.held_until
            && match &self.mode {
                Mode::Gcra(g) => g.is_idle(now),
                Mode::SlidingWindow(w) => w.is_idle(now),
            }
    }

    /// The most requests ever admitted at once: the GCRA burst or the
    /// window's `max`.
    #[must_use]
    pub fn capacity(&self) -> u64 {
        match &self.mode {
            Mode::Gcra(g) => g.burst(),
            Mode::SlidingWindow(w) => u64::from(w.config().max),
        }
    }

    /// The configuration this limiter was built from.
    #[must_use]
    pub fn config(&self) -> RateLimitConfig {
        match &self.mode {
            Mode::Gcra(g) => RateLimitConfig::Gcra(g.config()),
            Mode::SlidingWindow(w) => RateLimitConfig::SlidingWindow(w.config()),
        }
    }

    /// The GCRA inside, in GCRA mode.
    #[must_use]
    pub fn as_gcra(&self) -> Option<&Gcra> {
        match &self.mode {
            Mode::Gcra(g) => Some(g),
            Mode::SlidingWindow(_) => None,
        }
    }

    /// The sliding window inside, in sliding-window mode.
    #[must_use]
    pub fn as_sliding_window(&self) -> Option<&SlidingWindow> {
        match &self.mode {
            Mode::Gcra(_) => None,
            Mode::SlidingWindow(w) => Some(w),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::Duration;

    fn ms(v: u64) -> Instant {
        Instant::from_millis(v)
    }

    #[test]
    fn the_default_is_the_node_clients_window() {
        assert_eq!(
            RateLimitConfig::default(),
            RateLimitConfig::SlidingWindow(WindowConfig {
                max: 100,
                window: Duration::from_secs(60)
            })
        );
        let l = RateLimiter::new(RateLimitConfig::default()).unwrap();
        assert_eq!(l.capacity(), 100);
        assert!(l.as_sliding_window().is_some());
    }

    #[test]
    fn config_errors_surface_at_construction() {
        let bad = RateLimitConfig::Gcra(GcraConfig::per_second(0));
        assert_eq!(RateLimiter::new(bad), Err(LimiterConfigError::ZeroCells));
        assert_eq!(bad.validate(), Err(LimiterConfigError::ZeroCells));
    }

    #[test]
    fn a_429_with_retry_after_10s_holds_every_admission_for_10s() {
        for config in [
            RateLimitConfig::default(),
            RateLimitConfig::Gcra(GcraConfig::per_second(50)),
        ] {
            let mut l = RateLimiter::new(config).unwrap();
            // Traffic flows...
            assert_eq!(l.check(ms(1_000)), Ok(()));
            // ...until the server answers 429, Retry-After: 10 (seconds).
            let now = ms(2_000);
            l.push_back(now + Duration::from_secs(10));
            for t in (2_000..12_000).step_by(250) {
                assert_eq!(
                    l.check(ms(t)),
                    Err(NotUntil::new(ms(12_000))),
                    "{config:?} t={t}"
                );
                assert_eq!(l.check_n(2, ms(t)), Ok(Err(NotUntil::new(ms(12_000)))));
                assert_eq!(l.next_free(ms(t)), ms(12_000));
            }
            assert_eq!(l.held_until(ms(11_999)), Some(ms(12_000)));
            // A shorter Retry-After arriving meanwhile does not cut the hold.
            l.push_back(ms(3_000));
            assert_eq!(l.check(ms(11_999)), Err(NotUntil::new(ms(12_000))));
            assert_eq!(l.check(ms(12_000)), Ok(()));
            assert_eq!(l.held_until(ms(12_000)), None);
        }
    }

    #[test]
    fn a_hold_and_a_full_quota_give_the_later_of_the_two() {
        let mut l = RateLimiter::new(RateLimitConfig::SlidingWindow(WindowConfig {
            max: 1,
            window: Duration::from_secs(60),
        }))
        .unwrap();
        l.check(ms(0)).unwrap();
        l.push_back(ms(10_000));
        assert_eq!(l.check(ms(5_000)), Err(NotUntil::new(ms(60_000))));
        assert_eq!(l.next_free(ms(5_000)), ms(60_000));
        assert!(!l.is_idle(ms(59_999)));
        assert!(l.is_idle(ms(60_000)));
    }

    #[test]
    fn check_n_beyond_capacity_never_fits_even_while_held() {
        let mut l = RateLimiter::new(RateLimitConfig::Gcra(GcraConfig::per_second(5))).unwrap();
        l.push_back(ms(1_000));
        assert_eq!(
            l.check_n(6, ms(0)),
            Err(InsufficientCapacity {
                requested: 6,
                capacity: 5
            })
        );
    }

    #[test]
    fn the_whole_state_round_trips_through_serde() {
        for config in [
            RateLimitConfig::default(),
            RateLimitConfig::Gcra(GcraConfig::per_minute(100).with_burst(3)),
        ] {
            let mut l = RateLimiter::new(config).unwrap();
            l.check(ms(5)).unwrap();
            l.push_back(ms(9_000));
            let json = serde_json::to_string(&l).unwrap();
            let back: RateLimiter = serde_json::from_str(&json).unwrap();
            assert_eq!(back, l);
            assert_eq!(back.config(), config);
        }
        let cfg_json = serde_json::to_string(&RateLimitConfig::default()).unwrap();
        assert_eq!(
            cfg_json,
            r#"{"mode":"sliding_window","max":100,"window":60000}"#
        );
    }
}
