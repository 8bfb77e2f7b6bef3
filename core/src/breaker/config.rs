//! [`BreakerConfig`], its parts, and the typed error for out-of-range values.

use core::fmt;
use serde::{Deserialize, Serialize};

use crate::time::Duration;

/// The largest count-based window, in calls ([`Window::Count`]).
pub const MAX_COUNT_WINDOW: u32 = 100_000;
/// The largest time-based window, in seconds ([`Window::Seconds`]): one hour.
pub const MAX_TIME_WINDOW_SECS: u32 = 3_600;
/// The most half-open probes that may be out at once.
pub const MAX_HALF_OPEN_PROBES: u32 = 1_024;
/// The largest growth factor of [`OpenDuration::Exponential`].
pub const MAX_OPEN_FACTOR: f64 = 1_000.0;

/// The sliding window over which failure and slow-call rates are measured.
///
/// Both kinds use memory bounded by their size, fixed at construction:
/// a count window is a ring of the last `n` outcomes (one byte each), a time
/// window is one bucket of counters per second (as in resilience4j), never a
/// log of calls.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Window {
    /// The last `n` calls (1 ..= [`MAX_COUNT_WINDOW`]).
    Count(u32),
    /// The calls of the last `n` whole seconds (1 ..= [`MAX_TIME_WINDOW_SECS`]),
    /// the current second included.
    Seconds(u32),
}

/// How long the breaker stays open after it trips.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub enum OpenDuration {
    /// The same time after every trip.
    Fixed(Duration),
    /// `initial` after the first trip, then multiplied by `factor` on each
    /// further trip without a full close in between (a failed half-open probe
    /// trips it again), never more than `max`. Closing resets it to `initial`.
    Exponential {
        /// Open time after the first trip (at least 1 ms).
        initial: Duration,
        /// Growth per repeated trip (1.0 ..= [`MAX_OPEN_FACTOR`]).
        factor: f64,
        /// The cap (at least `initial`).
        max: Duration,
    },
}

impl OpenDuration {
    /// The open time after the first trip.
    #[must_use]
    pub fn initial(&self) -> Duration {
        match *self {
            OpenDuration::Fixed(d) => d,
            OpenDuration::Exponential { initial, .. } => initial,
        }
    }

    /// The open time after a repeated trip, given the previous one.
    #[must_use]
    pub fn next(&self, previous: Duration) -> Duration {
        match *self {
            OpenDuration::Fixed(d) => d,
            OpenDuration::Exponential { factor, max, .. } => previous.mul_f64(factor).min(max),
        }
    }
}

/// Slow-call tripping: calls that take longer than `duration` count as slow,
/// and the breaker trips when the share of slow calls in the window reaches
/// `rate` (with at least [`BreakerConfig::minimum_calls`] calls in it).
///
/// A call's duration is measured from the instant its permit was granted to
/// the `now` of its report. A slow call that failed counts both as a failure
/// and as slow. In half-open, a slow probe counts as a failed probe.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct SlowCalls {
    /// Calls that take strictly longer than this are slow.
    pub duration: Duration,
    /// Trip when `slow calls / calls >= rate`; in `(0.0, 1.0]`.
    pub rate: f64,
}

/// Everything that shapes a [`CircuitBreaker`](super::CircuitBreaker).
///
/// Any trip policy that is on can trip the breaker; with all three off it
/// never trips by itself (manual control still works).
///
/// Build it with struct-update syntax from the default:
///
/// ```
/// use novitai_core::breaker::{BreakerConfig, Window};
/// let config = BreakerConfig {
///     consecutive_failures: None,
///     failure_rate: Some(0.5),
///     window: Window::Seconds(30),
///     minimum_calls: 20,
///     ..BreakerConfig::default()
/// };
/// assert!(config.validate().is_ok());
/// ```
///
/// # Default
///
/// The Node client's breaker, plus bounded half-open:
///
/// | field | default |
/// |---|---|
/// | `consecutive_failures` | `Some(5)` |
/// | `failure_rate` | `None` (off) |
/// | `slow_calls` | `None` (off) |
/// | `window` | `Window::Count(100)` |
/// | `minimum_calls` | `100` |
/// | `open_duration` | `OpenDuration::Fixed(60 s)` |
/// | `half_open_probes` | `3` |
/// | `half_open_successes` | `3` |
/// | `probe_max_wait` | `30 s` |
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct BreakerConfig {
    /// Trip after this many failures in a row while closed (at least 1);
    /// `None` turns this policy off.
    pub consecutive_failures: Option<u32>,
    /// Trip when `failures / calls >= rate` over [`window`](Self::window), once
    /// it holds at least [`minimum_calls`](Self::minimum_calls) calls
    /// (resilience4j semantics); in `(0.0, 1.0]`. `None` turns this policy off.
    pub failure_rate: Option<f64>,
    /// Slow-call tripping; `None` turns it off.
    pub slow_calls: Option<SlowCalls>,
    /// The sliding window for the failure and slow-call rates. Outcomes are
    /// recorded in it only while closed; it is cleared on every state change.
    pub window: Window,
    /// The fewest calls in the window before a rate may trip the breaker
    /// (at least 1; for a count window, at most its size).
    pub minimum_calls: u32,
    /// How long the breaker stays open after a trip.
    pub open_duration: OpenDuration,
    /// At most this many probes out at once while half-open
    /// (1 ..= [`MAX_HALF_OPEN_PROBES`]).
    pub half_open_probes: u32,
    /// Close after this many successful probes (at least 1); any failed probe
    /// reopens it.
    pub half_open_successes: u32,
    /// A probe that has not reported back this long after its permit was
    /// granted counts as failed (at least 1 ms), so a hung probe cannot keep
    /// the breaker half-open.
    pub probe_max_wait: Duration,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        BreakerConfig {
            consecutive_failures: Some(5),
            failure_rate: None,
            slow_calls: None,
            window: Window::Count(100),
            minimum_calls: 100,
            open_duration: OpenDuration::Fixed(Duration::from_secs(60)),
            half_open_probes: 3,
            half_open_successes: 3,
            probe_max_wait: Duration::from_secs(30),
        }
    }
}

fn rate_ok(r: f64) -> bool {
    r > 0.0 && r <= 1.0 // false for NaN
}

impl BreakerConfig {
    /// Checks every field against its allowed range.
    ///
    /// # Errors
    /// The first out-of-range field, as a [`BreakerConfigError`].
    pub fn validate(&self) -> Result<(), BreakerConfigError> {
        use BreakerConfigError as E;
        if self.consecutive_failures == Some(0) {
            return Err(E::ConsecutiveFailuresZero);
        }
        if let Some(r) = self.failure_rate
            && !rate_ok(r)
        {
            return Err(E::FailureRate(r));
        }
        if let Some(s) = self.slow_calls
            && !rate_ok(s.rate)
        {
            return Err(E::SlowCallRate(s.rate));
        }
        match self.window {
            Window::Count(n) if n == 0 || n > MAX_COUNT_WINDOW => return Err(E::CountWindow(n)),
            Window::Seconds(n) if n == 0 || n > MAX_TIME_WINDOW_SECS => {
                return Err(E::TimeWindow(n));
            }
            _ => {}
        }
        let max_min = match self.window {
            Window::Count(n) => n,
            Window::Seconds(_) => u32::MAX,
        };
        if self.minimum_calls == 0 || self.minimum_calls > max_min {
            return Err(E::MinimumCalls {
                value: self.minimum_calls,
                max: max_min,
            });
        }
        match self.open_duration {
            OpenDuration::Fixed(d) if d.is_zero() => return Err(E::OpenDurationZero),
            OpenDuration::Exponential { initial, .. } if initial.is_zero() => {
                return Err(E::OpenDurationZero);
            }
            OpenDuration::Exponential { factor, .. }
                if !(1.0..=MAX_OPEN_FACTOR).contains(&factor) =>
            {
                return Err(E::OpenFactor(factor));
            }
            OpenDuration::Exponential { initial, max, .. } if max < initial => {
                return Err(E::OpenMaxBelowInitial { initial, max });
            }
            _ => {}
        }
        if self.half_open_probes == 0 || self.half_open_probes > MAX_HALF_OPEN_PROBES {
            return Err(E::HalfOpenProbes(self.half_open_probes));
        }
        if self.half_open_successes == 0 {
            return Err(E::HalfOpenSuccessesZero);
        }
        if self.probe_max_wait.is_zero() {
            return Err(E::ProbeMaxWaitZero);
        }
        Ok(())
    }
}

/// A [`BreakerConfig`] field out of its allowed range (or, from
/// deserialisation, a breaker snapshot that does not fit its own config).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum BreakerConfigError {
    /// `consecutive_failures` was `Some(0)`.
    ConsecutiveFailuresZero,
    /// `failure_rate` outside `(0.0, 1.0]` (or NaN).
    FailureRate(f64),
    /// `slow_calls.rate` outside `(0.0, 1.0]` (or NaN).
    SlowCallRate(f64),
    /// `window` was `Count(n)` with `n` outside `1 ..= MAX_COUNT_WINDOW`.
    CountWindow(u32),
    /// `window` was `Seconds(n)` with `n` outside `1 ..= MAX_TIME_WINDOW_SECS`.
    TimeWindow(u32),
    /// `minimum_calls` was 0 or larger than the count window.
    MinimumCalls {
        /// The value given.
        value: u32,
        /// The largest allowed value.
        max: u32,
    },
    /// The open duration (fixed, or the exponential `initial`) was zero.
    OpenDurationZero,
    /// The exponential `factor` outside `1.0 ..= MAX_OPEN_FACTOR` (or NaN).
    OpenFactor(f64),
    /// The exponential `max` was below `initial`.
    OpenMaxBelowInitial {
        /// The `initial` given.
        initial: Duration,
        /// The `max` given.
        max: Duration,
    },
    /// `half_open_probes` outside `1 ..= MAX_HALF_OPEN_PROBES`.
    HalfOpenProbes(u32),
    /// `half_open_successes` was 0.
    HalfOpenSuccessesZero,
    /// `probe_max_wait` was zero.
    ProbeMaxWaitZero,
    /// A deserialised breaker whose state does not match its config.
    InconsistentSnapshot(&'static str),
}

impl fmt::Display for BreakerConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use BreakerConfigError as E;
        match *self {
            E::ConsecutiveFailuresZero => f.write_str(
                "breaker consecutive_failures is 0; use at least 1, or None to turn the policy off",
            ),
            E::FailureRate(r) => write!(
                f,
                "breaker failure_rate is {r}; it must be a fraction in (0.0, 1.0], e.g. 0.5 for 50%"
            ),
            E::SlowCallRate(r) => write!(
                f,
                "breaker slow_calls.rate is {r}; it must be a fraction in (0.0, 1.0], e.g. 0.5 for 50%"
            ),
            E::CountWindow(n) => write!(
                f,
                "breaker window Count({n}) is out of range; use 1 to {MAX_COUNT_WINDOW} calls"
            ),
            E::TimeWindow(n) => write!(
                f,
                "breaker window Seconds({n}) is out of range; use 1 to {MAX_TIME_WINDOW_SECS} seconds"
            ),
            E::MinimumCalls { value, max } => write!(
                f,
                "breaker minimum_calls is {value}; use 1 to {max} (a count window cannot hold more calls than its size)"
            ),
            E::OpenDurationZero => {
                f.write_str("breaker open_duration is zero; use at least 1 ms (default 60 s)")
            }
            E::OpenFactor(x) => write!(
                f,
                "breaker open_duration factor is {x}; use 1.0 to {MAX_OPEN_FACTOR} (e.g. 2.0 to double)"
            ),
            E::OpenMaxBelowInitial { initial, max } => write!(
                f,
                "breaker open_duration max ({max}) is below its initial ({initial}); use a max of at least {initial}"
            ),
            E::HalfOpenProbes(n) => write!(
                f,
                "breaker half_open_probes is {n}; use 1 to {MAX_HALF_OPEN_PROBES} (default 3)"
            ),
            E::HalfOpenSuccessesZero => {
                f.write_str("breaker half_open_successes is 0; use at least 1 (default 3)")
            }
            E::ProbeMaxWaitZero => {
                f.write_str("breaker probe_max_wait is zero; use at least 1 ms (default 30 s)")
            }
            E::InconsistentSnapshot(what) => write!(
                f,
                "breaker snapshot is inconsistent ({what}); serialise it again from a live breaker"
            ),
        }
    }
}

impl core::error::Error for BreakerConfigError {}
