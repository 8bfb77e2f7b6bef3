//! Retry scheduling: when (and whether) to try a failed request again.
//!
//! [`RetryPolicy`] is shared and immutable; each request carries its own small
//! [`RetryState`]; a [`RetryBudget`] may be shared by all requests to one
//! server. After every failed attempt the caller asks
//! [`RetryPolicy::next`], which answers with data: [`RetryDecision::RetryAt`]
//! (when, how long, why) or [`RetryDecision::GiveUp`] (why not). It never
//! sleeps and never panics.
//!
//! ```
//! use novitai_core::retry::{Outcome, RetryDecision, RetryPolicy, RetryState};
//! use novitai_core::{Duration, Instant, Rng};
//!
//! let policy = RetryPolicy::default(); // 3 attempts, 1 s · 2^n ≤ 30 s, full jitter
//! let mut state = RetryState::new();   // the first attempt is in flight
//! let mut rng = Rng::new(42);
//! let now = Instant::from_millis(5_000);
//! match policy.next(&mut state, &Outcome::status(503), now, &mut rng, None, None) {
//!     RetryDecision::RetryAt { at, delay, .. } => assert!(at == now + delay && delay <= Duration::from_secs(1)),
//!     RetryDecision::GiveUp(reason) => panic!("{reason}"),
//! }
//! ```
//!
//! # How `next` decides
//!
//! 1. Classify the outcome with [`RetryConfig::retry_on`]. A success (below
//!    400) refills the budget and gives up with [`GiveUpReason::NotAFailure`];
//!    a non-retryable failure gives up with [`GiveUpReason::NotRetryable`].
//! 2. A retryable failure costs the budget one token (if a budget is given).
//! 3. If the request has made `max_attempts` attempts → `AttemptsExhausted`.
//! 4. If the budget is at or below half → `BudgetExhausted`.
//! 5. The delay is the jittered backoff; a `Retry-After` from the server,
//!    clamped to [`RetryConfig::max_retry_after`], acts as a **floor**: the
//!    delay is the larger of the two. (The server's minimum is respected, and
//!    a client deep in its backoff does not come back sooner because a server
//!    said "1 second".) A malformed `Retry-After` has already been dropped by
//!    [`Outcome::from_response`], so the backoff is used.
//! 6. If `now + delay` is at or past the deadline → `DeadlineWouldPass`.
//! 7. Otherwise the state advances (attempt count, previous delay) and the
//!    answer is `RetryAt { at: now + delay, .. }`.
//!
//! Only step 5 draws from the RNG (once, and not for [`Jitter::None`]), so the
//! same seed and inputs give the same decisions. The engine puts each retry
//! back through its rate limiter and circuit breaker; the policy knows nothing
//! of them.

pub mod backoff;
pub mod budget;
pub mod classify;
pub mod retry_after;

pub use backoff::{Backoff, Jitter};
pub use budget::{RetryBudget, RetryBudgetConfig, RetryBudgetError};
pub use classify::{Classification, Outcome, RetryOn, StatusSet, TransportErrorKind, TransportSet};
pub use retry_after::{DateForm, HttpDate, RetryAfter, RetryAfterError, parse_http_date};

use crate::rng::Rng;
use crate::time::{Duration, Instant};
use core::fmt;
use serde::{Deserialize, Serialize};

/// The highest `max_attempts` allowed.
pub const MAX_ATTEMPTS_LIMIT: u32 = 10;

/// The settings of a [`RetryPolicy`].
///
/// # Default
///
/// - `max_attempts`: 3 (allowed 1..=10; counts the first try, so 3 means at
///   most 3 transmissions)
/// - `backoff`: `Exponential { base: 1 s, factor: 2.0, cap: 30 s }`
/// - `jitter`: `Full`
/// - `honor_retry_after`: `true`
/// - `max_retry_after`: 120 s
/// - `retry_on`: statuses 408, 429, 500..=599; transport errors connection
///   refused, connection reset, DNS, timeout
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RetryConfig {
    /// Most transmissions of one request, the first included (1..=10).
    pub max_attempts: u32,
    /// The delay schedule.
    pub backoff: Backoff,
    /// How the delay is randomised.
    pub jitter: Jitter,
    /// Use the server's `Retry-After` as a floor under the backoff.
    pub honor_retry_after: bool,
    /// A longer `Retry-After` is clamped to this.
    pub max_retry_after: Duration,
    /// Which failures are retryable.
    pub retry_on: RetryOn,
}

impl Default for RetryConfig {
    fn default() -> RetryConfig {
        RetryConfig {
            max_attempts: 3,
            backoff: Backoff::default(),
            jitter: Jitter::default(),
            honor_retry_after: true,
            max_retry_after: Duration::from_secs(120),
            retry_on: RetryOn::default(),
        }
    }
}

/// A [`RetryConfig`] value out of range. The `Display` names the field, the
/// value and the allowed range.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum RetryConfigError {
    /// `max_attempts` outside 1..=10.
    MaxAttempts {
        /// The value given.
        value: u32,
    },
    /// A backoff delay (`base`, or a constant `delay`) of zero.
    ZeroDelay {
        /// Which field (`"backoff.base"` or `"backoff.delay"`).
        field: &'static str,
    },
    /// An exponential `factor` that is below 1, infinite or NaN.
    Factor {
        /// The value given.
        value: f64,
    },
    /// A `cap` smaller than `base`.
    CapBelowBase {
        /// The base given.
        base: Duration,
        /// The cap given.
        cap: Duration,
    },
}

impl fmt::Display for RetryConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RetryConfigError::MaxAttempts { value } => write!(
                f,
                "retry max_attempts is {value}, but it must be between 1 and {MAX_ATTEMPTS_LIMIT} \
                 (it counts the first try; 1 means never retry)"
            ),
            RetryConfigError::ZeroDelay { field } => {
                write!(f, "retry {field} is 0 ms, but it must be at least 1 ms")
            }
            RetryConfigError::Factor { value } => write!(
                f,
                "retry backoff.factor is {value}, but it must be a finite number of at least 1"
            ),
            RetryConfigError::CapBelowBase { base, cap } => write!(
                f,
                "retry backoff.cap is {cap}, which is below backoff.base ({base}); \
                 the cap must be at least the base"
            ),
        }
    }
}

impl core::error::Error for RetryConfigError {}

/// Per-request retry state, held by the caller (one per request): the number
/// of attempts made and the previous delay (for decorrelated jitter).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct RetryState {
    attempts: u32,
    previous_delay: Option<Duration>,
}

impl RetryState {
    /// The state of a request whose first attempt is being made.
    #[must_use]
    pub const fn new() -> RetryState {
        RetryState {
            attempts: 1,
            previous_delay: None,
        }
    }

    /// Attempts made so far, including the one in flight (1 for a new state).
    #[must_use]
    pub const fn attempts(&self) -> u32 {
        self.attempts
    }

    /// The delay scheduled before the current attempt (the jittered backoff,
    /// before any `Retry-After` floor); `None` before the first retry.
    #[must_use]
    pub const fn previous_delay(&self) -> Option<Duration> {
        self.previous_delay
    }
}

impl Default for RetryState {
    fn default() -> RetryState {
        RetryState::new()
    }
}

/// Why a retry is being scheduled: the failure that caused it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RetryReason {
    /// A retryable HTTP status.
    Status(u16),
    /// A retryable transport failure.
    Transport(TransportErrorKind),
}

impl fmt::Display for RetryReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RetryReason::Status(code) => write!(f, "the server answered HTTP {code}"),
            RetryReason::Transport(kind) => write!(f, "{kind}"),
        }
    }
}

/// Where a scheduled delay came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DelaySource {
    /// The (jittered) backoff schedule.
    Backoff,
    /// The server's `Retry-After`, which was longer than the backoff.
    RetryAfter,
    /// The server's `Retry-After`, cut down to `max_retry_after`.
    RetryAfterClamped,
}

/// Why no further attempt will be made.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GiveUpReason {
    /// The outcome was not a failure (below 400): nothing to retry.
    NotAFailure,
    /// The failure is one another attempt will not fix (e.g. 404).
    NotRetryable,
    /// The request has made all the attempts it may.
    AttemptsExhausted {
        /// Attempts made, the first included.
        attempts: u32,
    },
    /// The retry would start at or after the request's deadline.
    DeadlineWouldPass {
        /// When the retry would have started.
        retry_at: Instant,
        /// The deadline.
        deadline: Instant,
    },
    /// The retry budget is spent: too many recent failures.
    BudgetExhausted,
}

impl fmt::Display for GiveUpReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GiveUpReason::NotAFailure => f.write_str("the attempt succeeded; nothing to retry"),
            GiveUpReason::NotRetryable => {
                f.write_str("the failure is not retryable: another attempt would fail the same way")
            }
            GiveUpReason::AttemptsExhausted { attempts } => {
                write!(
                    f,
                    "gave up after {attempts} attempts (raise max_attempts to try longer)"
                )
            }
            GiveUpReason::DeadlineWouldPass { retry_at, deadline } => write!(
                f,
                "the next retry ({retry_at}) would start at or after the deadline ({deadline})"
            ),
            GiveUpReason::BudgetExhausted => f.write_str(
                "the retry budget is spent: most recent calls to this server failed, so retries \
                 are paused until calls succeed again",
            ),
        }
    }
}

/// What to do after a failed attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RetryDecision {
    /// Transmit attempt number `attempt` at `at` (= `now + delay`).
    RetryAt {
        /// When to retry.
        at: Instant,
        /// How long after `now` that is.
        delay: Duration,
        /// The number of the attempt to make (2 for the first retry).
        attempt: u32,
        /// The failure that caused the retry.
        reason: RetryReason,
        /// Where `delay` came from.
        source: DelaySource,
    },
    /// Do not retry.
    GiveUp(GiveUpReason),
}

/// The retry policy: a validated [`RetryConfig`]. Immutable, cheap to copy,
/// and shared by all requests; see the [module docs](self) for how it decides.
#[derive(Clone, Copy, Debug, PartialEq, Default, Serialize)]
pub struct RetryPolicy {
    config: RetryConfig,
}

impl RetryPolicy {
    /// A policy from a checked config.
    ///
    /// # Errors
    ///
    /// A [`RetryConfigError`] naming the first field out of range.
    pub fn new(config: RetryConfig) -> Result<RetryPolicy, RetryConfigError> {
        if !(1..=MAX_ATTEMPTS_LIMIT).contains(&config.max_attempts) {
            return Err(RetryConfigError::MaxAttempts {
                value: config.max_attempts,
            });
        }
        match config.backoff {
            Backoff::Exponential { base, factor, cap } => {
                if base.is_zero() {
                    return Err(RetryConfigError::ZeroDelay {
                        field: "backoff.base",
                    });
                }
                // Also rejects NaN.
                if !(factor.is_finite() && factor >= 1.0) {
                    return Err(RetryConfigError::Factor { value: factor });
                }
                if cap < base {
                    return Err(RetryConfigError::CapBelowBase { base, cap });
                }
            }
            Backoff::Linear { base, cap, .. } => {
                if base.is_zero() {
                    return Err(RetryConfigError::ZeroDelay {
                        field: "backoff.base",
                    });
                }
                if cap < base {
                    return Err(RetryConfigError::CapBelowBase { base, cap });
                }
            }
            Backoff::Constant { delay } => {
                if delay.is_zero() {
                    return Err(RetryConfigError::ZeroDelay {
                        field: "backoff.delay",
                    });
                }
            }
        }
        Ok(RetryPolicy { config })
    }

    /// The config this policy was built from.
    #[must_use]
    pub const fn config(&self) -> &RetryConfig {
        &self.config
    }

    /// How this policy sees `outcome`.
    #[must_use]
    pub const fn classify(&self, outcome: &Outcome) -> Classification {
        self.config.retry_on.classify(outcome)
    }

    /// Decides what to do after an attempt of a request ended with `outcome`.
    ///
    /// - `state`: the request's own [`RetryState`]; advanced only when a
    ///   retry is scheduled.
    /// - `now`: when the outcome arrived.
    /// - `rng`: jitter source (one draw per scheduled retry at most).
    /// - `deadline`: the request's overall deadline; no retry is scheduled at
    ///   or after it.
    /// - `budget`: the server's shared [`RetryBudget`], if retries are
    ///   throttled. Every retryable failure is charged to it and every success
    ///   credited, so the engine should call `next` for successes too (or
    ///   call [`RetryBudget::record_success`] itself).
    ///
    /// Steps are listed in the [module docs](self). Never panics; does not
    /// allocate.
    #[allow(clippy::too_many_arguments)] // the issue's signature plus the optional budget
    pub fn next(
        &self,
        state: &mut RetryState,
        outcome: &Outcome,
        now: Instant,
        rng: &mut Rng,
        deadline: Option<Instant>,
        budget: Option<&mut RetryBudget>,
    ) -> RetryDecision {
        let (reason, retry_after) = match (self.classify(outcome), *outcome) {
            (Classification::Success, _) => {
                if let Some(b) = budget {
                    b.record_success();
                }
                return RetryDecision::GiveUp(GiveUpReason::NotAFailure);
            }
            (Classification::NotRetryable, _) => {
                return RetryDecision::GiveUp(GiveUpReason::NotRetryable);
            }
            (Classification::Retryable, Outcome::Status { code, retry_after }) => {
                (RetryReason::Status(code), retry_after)
            }
            (Classification::Retryable, Outcome::Transport(kind)) => {
                (RetryReason::Transport(kind), None)
            }
        };

        let mut throttled = false;
        if let Some(b) = budget {
            b.record_failure();
            throttled = !b.allows_retry();
        }
        if state.attempts >= self.config.max_attempts {
            return RetryDecision::GiveUp(GiveUpReason::AttemptsExhausted {
                attempts: state.attempts,
            });
        }
        if throttled {
            return RetryDecision::GiveUp(GiveUpReason::BudgetExhausted);
        }

        let retry = state.attempts; // retry number n is attempt n + 1
        let backoff =
            self.config
                .backoff
                .next_delay(self.config.jitter, retry, state.previous_delay, rng);
        let (delay, source) = match retry_after {
            Some(ra) if self.config.honor_retry_after => {
                let (floor, clamped) = if ra > self.config.max_retry_after {
                    (self.config.max_retry_after, true)
                } else {
                    (ra, false)
                };
                if floor > backoff {
                    let src = if clamped {
                        DelaySource::RetryAfterClamped
                    } else {
                        DelaySource::RetryAfter
                    };
                    (floor, src)
                } else {
                    (backoff, DelaySource::Backoff)
                }
            }
            _ => (backoff, DelaySource::Backoff),
        };

        let at = now.saturating_add(delay);
        if let Some(deadline) = deadline
            && at >= deadline
        {
            return RetryDecision::GiveUp(GiveUpReason::DeadlineWouldPass {
                retry_at: at,
                deadline,
            });
        }

        state.attempts = state.attempts.saturating_add(1);
        state.previous_delay = Some(backoff);
        RetryDecision::RetryAt {
            at,
            delay,
            attempt: state.attempts,
            reason,
            source,
        }
    }
}

impl<'de> Deserialize<'de> for RetryPolicy {
    /// Deserialises a [`RetryConfig`] and validates it like [`RetryPolicy::new`].
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<RetryPolicy, D::Error> {
        #[derive(Deserialize)]
        struct Wire {
            config: RetryConfig,
        }
        let wire = Wire::deserialize(d)?;
        RetryPolicy::new(wire.config).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests;
