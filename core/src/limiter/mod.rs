//! Rate limiters: GCRA, the Node client's sliding-window log, keyed limiters
//! with bounded memory, and a concurrency cap.
//!
//! Every limiter here is a plain value: it takes `now` ([`Instant`]) and
//! answers with data. A "no" is not an error — it is [`NotUntil`], which says
//! when the same request would conform. Errors are reserved for requests that
//! can *never* conform ([`InsufficientCapacity`]) and for bad configuration
//! ([`LimiterConfigError`], returned at construction).
//!
//! | type | what it limits |
//! |---|---|
//! | [`Gcra`] | a rate with a burst, one timestamp of state (the theoretical arrival time) |
//! | [`SlidingWindow`] | at most `max` requests in any window of `window` length — the Node client, exactly |
//! | [`RateLimiter`] | either of the above, chosen by [`RateLimitConfig`], plus server push-back (a 429's `Retry-After`) |
//! | [`KeyedLimiter`] | one [`RateLimiter`] per key (host, API key), with a cap on stored keys |
//! | [`ConcurrencyLimiter`] | requests in flight, with a non-`Clone` [`ConcurrencyPermit`] |
//!
//! ```
//! use novitai_core::limiter::{RateLimitConfig, RateLimiter};
//! use novitai_core::{Duration, Instant};
//!
//! // The default is the Node client's: 100 requests in any 60 s window.
//! let mut limiter = RateLimiter::new(RateLimitConfig::default()).unwrap();
//! let t0 = Instant::from_millis(0);
//! for _ in 0..100 {
//!     assert!(limiter.check(t0).is_ok());
//! }
//! // The 101st waits until the first leaves the window.
//! let no = limiter.check(t0).unwrap_err();
//! assert_eq!(no.earliest(), t0 + Duration::from_secs(60));
//! ```

use crate::time::{Duration, Instant};
use core::fmt;
use serde::{Deserialize, Serialize};

pub mod concurrency;
pub mod gcra;
pub mod keyed;
pub mod window;

mod unified;

pub use concurrency::{AtCapacity, ConcurrencyLimiter, ConcurrencyPermit};
pub use gcra::{Gcra, GcraConfig, TICKS_PER_MS, gcra_step};
pub use keyed::{KeyedConfig, KeyedLimiter};
pub use unified::{RateLimitConfig, RateLimiter};
pub use window::{SlidingWindow, WindowConfig};

/// A "not yet": the request does not conform now, but would at
/// [`NotUntil::earliest`].
///
/// This is a decision, not a failure: the caller waits (arms a timer for
/// `earliest`) and asks again.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct NotUntil {
    /// The earliest instant at which the same request would conform, if
    /// nothing else is admitted in between.
    pub earliest: Instant,
}

impl NotUntil {
    /// A "not until `earliest`".
    #[must_use]
    pub const fn new(earliest: Instant) -> NotUntil {
        NotUntil { earliest }
    }

    /// The earliest instant at which the same request would conform.
    #[must_use]
    pub const fn earliest(self) -> Instant {
        self.earliest
    }

    /// How long to wait from `now` (zero if `earliest` has already passed).
    #[must_use]
    pub const fn wait_time_from(self, now: Instant) -> Duration {
        self.earliest.saturating_duration_since(now)
    }
}

impl fmt::Display for NotUntil {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "rate limited: try again at {}", self.earliest)
    }
}

/// A batch that can never conform: it asks for more cells at once than the
/// limiter's capacity (the GCRA burst, or the window's `max`).
///
/// Waiting does not help; split the batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct InsufficientCapacity {
    /// The number of cells asked for.
    pub requested: u64,
    /// The most cells the limiter can ever admit at once.
    pub capacity: u64,
}

impl fmt::Display for InsufficientCapacity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "a batch of {} cells can never be admitted: the limiter admits at most {} at once; split the batch",
            self.requested, self.capacity
        )
    }
}

/// A limiter configuration that cannot work, reported at construction.
///
/// Each variant's `Display` names the field, the bad value and the allowed
/// range.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LimiterConfigError {
    /// GCRA `cells` was zero: a quota must allow at least one cell per period.
    ZeroCells,
    /// GCRA `period` was zero.
    ZeroPeriod,
    /// GCRA `period` is longer than the limiter can represent.
    PeriodTooLong {
        /// The period given.
        period: Duration,
    },
    /// GCRA `cells` per `period` is faster than one cell per tick
    /// (one microsecond, see [`TICKS_PER_MS`]).
    RateTooHigh {
        /// The cells given.
        cells: u64,
        /// The period given.
        period: Duration,
    },
    /// GCRA `burst` was zero: the limiter could never admit anything.
    ZeroBurst,
    /// Sliding-window `max` was zero: the window could never admit anything.
    ZeroMax,
    /// Sliding-window `max` is above [`window::MAX_WINDOW_REQUESTS`] (the log
    /// holds one timestamp per request, so this bounds its memory).
    MaxTooLarge {
        /// The `max` given.
        max: u32,
    },
    /// Sliding-window `window` was zero.
    ZeroWindow,
    /// Keyed limiter `max_keys` was zero.
    ZeroMaxKeys,
    /// Concurrency limiter `max_in_flight` was zero.
    ZeroConcurrency,
    /// Persisted state does not fit its configuration (for example a
    /// sliding-window log longer than `max`, or out of order).
    InconsistentState,
}

impl fmt::Display for LimiterConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LimiterConfigError::ZeroCells => f.write_str(
                "rate limit `cells` is 0; it must be at least 1 (cells admitted per period)",
            ),
            LimiterConfigError::ZeroPeriod => f.write_str(
                "rate limit `period` is 0 ms; it must be at least 1 ms (for example 60000 for a minute)",
            ),
            LimiterConfigError::PeriodTooLong { period } => write!(
                f,
                "rate limit `period` is {} ms; it must be at most {} ms",
                period.as_millis(),
                u64::MAX / TICKS_PER_MS
            ),
            LimiterConfigError::RateTooHigh { cells, period } => write!(
                f,
                "rate limit of {cells} `cells` per {} ms is too fast; at most {} cells per period of that length (one per microsecond) are supported",
                period.as_millis(),
                period.as_millis().saturating_mul(TICKS_PER_MS)
            ),
            LimiterConfigError::ZeroBurst => f.write_str(
                "rate limit `burst` is 0; it must be at least 1 (1 means no burst beyond the steady rate)",
            ),
            LimiterConfigError::ZeroMax => f.write_str(
                "sliding-window `max` is 0; it must be between 1 and 1000000 requests per window",
            ),
            LimiterConfigError::MaxTooLarge { max } => write!(
                f,
                "sliding-window `max` is {max}; it must be between 1 and {} requests per window",
                window::MAX_WINDOW_REQUESTS
            ),
            LimiterConfigError::ZeroWindow => f.write_str(
                "sliding-window `window` is 0 ms; it must be at least 1 ms (for example 60000 for a minute)",
            ),
            LimiterConfigError::ZeroMaxKeys => f.write_str(
                "keyed limiter `max_keys` is 0; it must be at least 1 key",
            ),
            LimiterConfigError::ZeroConcurrency => f.write_str(
                "concurrency limit `max_in_flight` is 0; it must be at least 1 request in flight",
            ),
            LimiterConfigError::InconsistentState => f.write_str(
                "persisted limiter state does not fit its configuration (log longer than `max` or out of order); discard the state and start fresh",
            ),
        }
    }
}

impl core::error::Error for LimiterConfigError {}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;

    #[test]
    fn config_errors_name_the_field_the_value_and_the_range() {
        let cases = [
            (LimiterConfigError::ZeroCells, "`cells` is 0"),
            (LimiterConfigError::ZeroPeriod, "`period` is 0 ms"),
            (LimiterConfigError::ZeroBurst, "`burst` is 0"),
            (LimiterConfigError::ZeroMax, "`max` is 0"),
            (
                LimiterConfigError::MaxTooLarge { max: 2_000_000 },
                "`max` is 2000000",
            ),
            (LimiterConfigError::ZeroWindow, "`window` is 0 ms"),
            (LimiterConfigError::ZeroMaxKeys, "`max_keys` is 0"),
            (LimiterConfigError::ZeroConcurrency, "`max_in_flight` is 0"),
            (
                LimiterConfigError::RateTooHigh {
                    cells: 5000,
                    period: Duration::from_millis(2),
                },
                "5000 `cells` per 2 ms",
            ),
        ];
        for (err, needle) in cases {
            let text = err.to_string();
            assert!(text.contains(needle), "{text}");
            assert!(
                text.contains("must be") || text.contains("at most"),
                "{text}"
            );
        }
    }

    #[test]
    fn a_no_says_how_long_to_wait() {
        let no = NotUntil::new(Instant::from_millis(1_500));
        assert_eq!(
            no.wait_time_from(Instant::from_millis(1_000)),
            Duration::from_millis(500)
        );
        assert_eq!(
            no.wait_time_from(Instant::from_millis(2_000)),
            Duration::ZERO
        );
        assert_eq!(no.to_string(), "rate limited: try again at t+1.5s");
        let never = InsufficientCapacity {
            requested: 7,
            capacity: 5,
        };
        assert!(never.to_string().contains("batch of 7"));
    }
}
