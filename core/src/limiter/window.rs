//! The sliding-window log: at most `max` requests in any window of `window`
//! length — the Node client's limiter, reproduced exactly.
//!
//! The Node client keeps the timestamps of its recent requests; before each
//! request it drops those with `now − t ≥ window`, and if `max` remain it
//! waits until the oldest leaves the window, at `oldest + window`. This
//! module does the same, with two differences that change no decision: the
//! log is a ring of at most `max` timestamps (bounded memory, no allocation
//! once it is full), and the answer is returned as [`NotUntil`] instead of a
//! sleep.

use super::{InsufficientCapacity, LimiterConfigError, NotUntil};
use crate::time::{Duration, Instant};
use alloc::collections::VecDeque;
use serde::{Deserialize, Serialize};

/// The largest accepted `max`: the log holds one 8-byte timestamp per
/// admitted request, so this caps a window's memory at about 8 MB.
pub const MAX_WINDOW_REQUESTS: u32 = 1_000_000;

/// The configuration of a [`SlidingWindow`]: at most `max` requests in any
/// `window`.
///
/// # Default
///
/// `max` = 100 requests per `window` = 60 s (the Node client's
/// `rateLimitMaxRequests` / `rateLimitWindowMs`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct WindowConfig {
    /// The most requests in any window (1 to [`MAX_WINDOW_REQUESTS`]).
    pub max: u32,
    /// The window's length (at least 1 ms).
    pub window: Duration,
}

impl Default for WindowConfig {
    fn default() -> WindowConfig {
        WindowConfig {
            max: 100,
            window: Duration::from_secs(60),
        }
    }
}

impl WindowConfig {
    /// Checks the configuration.
    pub fn validate(&self) -> Result<(), LimiterConfigError> {
        if self.max == 0 {
            return Err(LimiterConfigError::ZeroMax);
        }
        if self.max > MAX_WINDOW_REQUESTS {
            return Err(LimiterConfigError::MaxTooLarge { max: self.max });
        }
        if self.window.is_zero() {
            return Err(LimiterConfigError::ZeroWindow);
        }
        Ok(())
    }
}

/// A sliding-window log limiter: at most `max` requests in any window of
/// `window` length.
///
/// A request at `t` occupies the window until `t + window` (exclusive), so
/// when the log is full the answer is `NotUntil(oldest + window)`. Time going
/// backwards counts as no time passing: the limiter keeps the latest `now` it
/// has seen and decides as of that instant.
///
/// Serialises as its configuration, the log and the latest `now`;
/// deserialising checks that the log fits the configuration.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "WindowState", into = "WindowState")]
pub struct SlidingWindow {
    config: WindowConfig,
    /// Admission times, oldest first, at most `max` of them.
    log: VecDeque<Instant>,
    /// The latest `now` seen (the limiter's clock never goes back).
    latest: Instant,
}

/// The serialised form of a [`SlidingWindow`].
#[derive(Clone, Debug, Serialize, Deserialize)]
struct WindowState {
    config: WindowConfig,
    log: VecDeque<Instant>,
    latest: Instant,
}

impl TryFrom<WindowState> for SlidingWindow {
    type Error = LimiterConfigError;
    fn try_from(s: WindowState) -> Result<SlidingWindow, LimiterConfigError> {
        s.config.validate()?;
        let in_order = s.log.iter().zip(s.log.iter().skip(1)).all(|(a, b)| a <= b);
        let len_ok = s.log.len() <= s.config.max as usize;
        let not_after_latest = s.log.back().is_none_or(|&t| t <= s.latest);
        if !(in_order && len_ok && not_after_latest) {
            return Err(LimiterConfigError::InconsistentState);
        }
        Ok(SlidingWindow {
            config: s.config,
            log: s.log,
            latest: s.latest,
        })
    }
}

impl From<SlidingWindow> for WindowState {
    fn from(w: SlidingWindow) -> WindowState {
        WindowState {
            config: w.config,
            log: w.log,
            latest: w.latest,
        }
    }
}

impl SlidingWindow {
    /// An empty window, or the reason `config` cannot work.
    ///
    /// The log grows as requests arrive, up to `max` entries; it never
    /// allocates again once it has held `max`.
    pub fn new(config: WindowConfig) -> Result<SlidingWindow, LimiterConfigError> {
        config.validate()?;
        Ok(SlidingWindow {
            config,
            log: VecDeque::new(),
            latest: Instant::ZERO,
        })
    }

    /// Moves the clock to `now` (never back) and drops requests that have
    /// left the window. Returns the effective now.
    #[inline]
    fn advance(&mut self, now: Instant) -> Instant {
        let now = self.latest.max(now);
        self.latest = now;
        let window = self.config.window;
        while self.log.front().is_some_and(|&t| t + window <= now) {
            self.log.pop_front();
        }
        now
    }

    /// Admits one request at `now`, or says when the oldest leaves the window.
    #[inline]
    pub fn check(&mut self, now: Instant) -> Result<(), NotUntil> {
        let now = self.advance(now);
        if self.log.len() < self.config.max as usize {
            self.log.push_back(now);
            Ok(())
        } else {
            let oldest = self.log.front().copied().unwrap_or(now);
            Err(NotUntil::new(oldest + self.config.window))
        }
    }

    /// Admits `n` requests at once (all or none) at `now`.
    ///
    /// The outer `Err` means `n` exceeds `max` and can never fit; the inner
    /// `Err` says when enough old requests will have left the window. `n = 0`
    /// always conforms and changes nothing. Admitting `n` at once
    /// leaves the same state as `n` successive [`check`](SlidingWindow::check)s
    /// at the same `now`.
    pub fn check_n(
        &mut self,
        n: u64,
        now: Instant,
    ) -> Result<Result<(), NotUntil>, InsufficientCapacity> {
        let max = self.config.max as usize;
        let n_usize = match usize::try_from(n) {
            Ok(v) if v <= max => v,
            _ => {
                return Err(InsufficientCapacity {
                    requested: n,
                    capacity: u64::from(self.config.max),
                });
            }
        };
        if n_usize == 0 {
            return Ok(Ok(()));
        }
        let now = self.advance(now);
        let len = self.log.len();
        let total = len.saturating_add(n_usize);
        if total <= max {
            for _ in 0..n_usize {
                self.log.push_back(now);
            }
            Ok(Ok(()))
        } else {
            // The request fits once `total - max` of the oldest have left.
            let must_leave = total - max;
            let gate = self.log.get(must_leave - 1).copied().unwrap_or(now);
            Ok(Err(NotUntil::new(gate + self.config.window)))
        }
    }

    /// The earliest instant, not before `now`, at which one request would be
    /// admitted. Changes nothing.
    #[must_use]
    #[inline]
    pub fn next_free(&self, now: Instant) -> Instant {
        self.earliest_n(1, now)
    }

    /// The earliest instant, not before `now`, at which `n` requests (at most
    /// `max`) would be admitted at once. Changes nothing.
    #[must_use]
    pub(crate) fn earliest_n(&self, n: u64, now: Instant) -> Instant {
        let asked = now;
        let now = self.latest.max(now);
        let window = self.config.window;
        let max = u64::from(self.config.max);
        let expired = self.log.iter().take_while(|&&t| t + window <= now).count();
        let live = (self.log.len() - expired) as u64;
        let total = live.saturating_add(n);
        if total <= max {
            // Free now: answer the caller's instant, even if behind our clock.
            return asked;
        }
        // `total - max` of the oldest live requests must leave first.
        let must_leave = usize::try_from(total - max).unwrap_or(usize::MAX);
        self.log
            .get(expired.saturating_add(must_leave - 1))
            .map_or(Instant::MAX, |&t| t + window)
    }

    /// `true` when every logged request has left the window at `now`: the
    /// limiter would decide exactly as a fresh one.
    #[must_use]
    pub fn is_idle(&self, now: Instant) -> bool {
        let now = self.latest.max(now);
        self.log
            .back()
            .is_none_or(|&t| t + self.config.window <= now)
    }

    /// The configuration.
    #[must_use]
    pub const fn config(&self) -> WindowConfig {
        self.config
    }

    /// Requests currently in the log (some may have left the window since the
    /// last call; they are dropped on the next `check`).
    #[must_use]
    pub fn logged(&self) -> usize {
        self.log.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(v: u64) -> Instant {
        Instant::from_millis(v)
    }

    fn small(max: u32, window_ms: u64) -> SlidingWindow {
        SlidingWindow::new(WindowConfig {
            max,
            window: Duration::from_millis(window_ms),
        })
        .unwrap()
    }

    #[test]
    fn rejects_configs_that_cannot_work() {
        let ok = WindowConfig::default();
        assert_eq!(
            SlidingWindow::new(WindowConfig { max: 0, ..ok }),
            Err(LimiterConfigError::ZeroMax)
        );
        assert_eq!(
            SlidingWindow::new(WindowConfig {
                max: MAX_WINDOW_REQUESTS + 1,
                ..ok
            }),
            Err(LimiterConfigError::MaxTooLarge {
                max: MAX_WINDOW_REQUESTS + 1
            })
        );
        assert_eq!(
            SlidingWindow::new(WindowConfig {
                window: Duration::ZERO,
                ..ok
            }),
            Err(LimiterConfigError::ZeroWindow)
        );
    }

    #[test]
    fn the_101st_request_in_a_minute_waits_until_the_first_leaves_the_window() {
        let mut w = SlidingWindow::new(WindowConfig::default()).unwrap();
        // One request every 100 ms, starting at t = 5 s.
        for i in 0..100 {
            assert_eq!(w.check(ms(5_000 + i * 100)), Ok(()), "request {i}");
        }
        // The 101st, at 15 s, must wait until the first (at 5 s) is 60 s old.
        assert_eq!(w.check(ms(15_000)), Err(NotUntil::new(ms(65_000))));
        assert_eq!(w.next_free(ms(15_000)), ms(65_000));
        assert_eq!(w.check(ms(64_999)), Err(NotUntil::new(ms(65_000))));
        assert_eq!(w.check(ms(65_000)), Ok(()));
        // Then the second request (at 5.1 s) gates the next one.
        assert_eq!(w.check(ms(65_000)), Err(NotUntil::new(ms(65_100))));
    }

    #[test]
    fn check_n_waits_for_enough_old_requests_to_leave() {
        let mut w = small(4, 1000);
        assert_eq!(w.check(ms(0)), Ok(()));
        assert_eq!(w.check(ms(10)), Ok(()));
        assert_eq!(w.check(ms(20)), Ok(()));
        // One slot free; three need the two oldest (0 and 10) to leave.
        assert_eq!(w.check_n(3, ms(30)), Ok(Err(NotUntil::new(ms(1010)))));
        assert_eq!(w.check_n(3, ms(1010)), Ok(Ok(())));
        assert_eq!(
            w.check_n(5, ms(5000)),
            Err(InsufficientCapacity {
                requested: 5,
                capacity: 4
            })
        );
        assert_eq!(w.check_n(0, ms(1010)), Ok(Ok(())));
    }

    #[test]
    fn time_going_backwards_counts_as_no_time_passing() {
        let mut w = small(1, 1000);
        w.check(ms(5_000)).unwrap();
        assert_eq!(w.check(ms(100)), Err(NotUntil::new(ms(6_000))));
        assert_eq!(w.next_free(ms(100)), ms(6_000));
        assert_eq!(w.check(ms(6_000)), Ok(()));
    }

    #[test]
    fn regression_next_free_answers_the_callers_now_when_free_after_time_went_back() {
        // Found by `not_until_is_truthful`: the window answered its own clock
        // (5541) although a check at 0 was admitted at once.
        let mut w = small(8, 1);
        w.check(ms(5541)).unwrap();
        assert_eq!(w.next_free(ms(0)), ms(0));
        assert_eq!(w.check(ms(0)), Ok(()));
    }

    #[test]
    fn memory_is_bounded_by_max() {
        let mut w = small(3, 1_000_000);
        for t in 0..1000 {
            let _ = w.check(ms(t));
            assert!(w.logged() <= 3);
        }
    }

    #[test]
    fn idleness_and_next_free_see_expired_entries_without_dropping_them() {
        let mut w = small(2, 100);
        w.check(ms(0)).unwrap();
        w.check(ms(50)).unwrap();
        assert_eq!(w.next_free(ms(60)), ms(100));
        assert_eq!(w.next_free(ms(120)), ms(120));
        assert!(!w.is_idle(ms(149)));
        assert!(w.is_idle(ms(150)));
        assert_eq!(w.logged(), 2);
    }

    #[test]
    fn state_round_trips_and_bad_state_is_refused() {
        let mut w = small(2, 100);
        w.check(ms(7)).unwrap();
        let json = serde_json::to_string(&w).unwrap();
        assert_eq!(serde_json::from_str::<SlidingWindow>(&json).unwrap(), w);
        let too_long = r#"{"config":{"max":1,"window":100},"log":[1,2],"latest":2}"#;
        assert!(serde_json::from_str::<SlidingWindow>(too_long).is_err());
        let unordered = r#"{"config":{"max":3,"window":100},"log":[2,1],"latest":2}"#;
        assert!(serde_json::from_str::<SlidingWindow>(unordered).is_err());
    }
}
