//! A retry budget: a token bucket that stops retries when most calls fail,
//! so an outage does not multiply the load on a struggling server.
//!
//! This is gRPC's `retryThrottling` (gRFC A6) with its exact rules:
//!
//! - the bucket starts full, at `max_tokens`;
//! - every *retryable* failure (first attempt or retry) costs 1 token;
//! - every success refills `token_ratio` tokens (never above `max_tokens`);
//! - a retry is allowed only while the bucket holds **more than half** of
//!   `max_tokens` — checked after the failure's cost is taken.
//!
//! Non-retryable failures (a 404, say) leave the bucket alone: they say
//! nothing about the server's health.
//!
//! **The bound.** With `S` successes, the number of retries `R` ever allowed
//! is less than `max_tokens / 2 + token_ratio * S`: every allowed retry is
//! paid by one failure while the bucket stays above half, and only successes
//! refill it. In a total outage (`S = 0`) retries stop for good after fewer
//! than `max_tokens / 2` of them — at most that many extra requests, however
//! many calls are made; while a fraction of calls succeeds, retries are at
//! most `token_ratio` per success. The property test in
//! `core/tests/retry_props.rs` checks this bound.
//!
//! Tokens are kept in thousandths (as gRPC limits `token_ratio` to three
//! decimals), so the arithmetic is exact integer arithmetic on every target.
//! One budget is shared by all requests to one server; it is serde-serialisable
//! so its state can be persisted or shared.

use core::fmt;
use serde::{Deserialize, Serialize};

/// The settings of a [`RetryBudget`].
///
/// # Default
///
/// - `max_tokens`: 100 (allowed 1..=1000, as in gRPC)
/// - `token_ratio`: 0.1 (allowed 0.001..=1000; rounded to thousandths)
///
/// So in a total outage fewer than 50 retries are made in all, and when calls
/// partly fail, one retry is allowed per ten successes.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RetryBudgetConfig {
    /// Capacity of the bucket; retries stop below half of it.
    pub max_tokens: u32,
    /// Tokens refilled by each success.
    pub token_ratio: f64,
}

impl Default for RetryBudgetConfig {
    fn default() -> RetryBudgetConfig {
        RetryBudgetConfig {
            max_tokens: 100,
            token_ratio: 0.1,
        }
    }
}

/// A [`RetryBudgetConfig`] value out of range.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum RetryBudgetError {
    /// `max_tokens` outside 1..=1000.
    MaxTokens {
        /// The value given.
        value: u32,
    },
    /// `token_ratio` not a number in 0.001..=1000.
    TokenRatio {
        /// The value given.
        value: f64,
    },
}

impl fmt::Display for RetryBudgetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RetryBudgetError::MaxTokens { value } => write!(
                f,
                "retry budget max_tokens is {value}, but it must be between 1 and 1000"
            ),
            RetryBudgetError::TokenRatio { value } => write!(
                f,
                "retry budget token_ratio is {value}, but it must be a number between 0.001 and 1000"
            ),
        }
    }
}

impl core::error::Error for RetryBudgetError {}

const MILLI: u64 = 1000;

/// A gRPC-style retry token bucket (see the [module docs](self) for the
/// rules and the load bound). Shared by every request to one server.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetryBudget {
    /// Capacity in thousandths of a token.
    max_milli: u64,
    /// Refill per success in thousandths of a token.
    ratio_milli: u64,
    /// Current content in thousandths of a token.
    tokens_milli: u64,
}

impl RetryBudget {
    /// A full bucket.
    ///
    /// # Errors
    ///
    /// [`RetryBudgetError`] naming the field that is out of range.
    pub fn new(config: RetryBudgetConfig) -> Result<RetryBudget, RetryBudgetError> {
        let RetryBudgetConfig {
            max_tokens,
            token_ratio,
        } = config;
        if !(1..=1000).contains(&max_tokens) {
            return Err(RetryBudgetError::MaxTokens { value: max_tokens });
        }
        // `!(a..=b).contains` is also true for NaN.
        if !(0.001..=1000.0).contains(&token_ratio) {
            return Err(RetryBudgetError::TokenRatio { value: token_ratio });
        }
        let max_milli = u64::from(max_tokens) * MILLI;
        let ratio_milli = ((token_ratio * MILLI as f64) + 0.5) as u64;
        Ok(RetryBudget {
            max_milli,
            ratio_milli: ratio_milli.max(1),
            tokens_milli: max_milli,
        })
    }

    /// Records a retryable failure: costs one token (never below zero).
    pub fn record_failure(&mut self) {
        self.tokens_milli = self.tokens_milli.saturating_sub(MILLI);
    }

    /// Records a success: refills `token_ratio` tokens (never above the max).
    pub fn record_success(&mut self) {
        self.tokens_milli = self
            .tokens_milli
            .saturating_add(self.ratio_milli)
            .min(self.max_milli);
    }

    /// `true` while the bucket holds more than half its capacity.
    #[must_use]
    pub fn allows_retry(&self) -> bool {
        self.tokens_milli > self.max_milli / 2
    }

    /// Current content, in thousandths of a token.
    #[must_use]
    pub fn tokens_milli(&self) -> u64 {
        self.tokens_milli
    }

    /// Capacity, in thousandths of a token.
    #[must_use]
    pub fn max_tokens_milli(&self) -> u64 {
        self.max_milli
    }
}

impl Default for RetryBudget {
    fn default() -> RetryBudget {
        RetryBudget {
            max_milli: 100 * MILLI,
            ratio_milli: 100,
            tokens_milli: 100 * MILLI,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;

    #[test]
    fn default_matches_default_config() {
        assert_eq!(
            RetryBudget::new(RetryBudgetConfig::default()),
            Ok(RetryBudget::default())
        );
    }

    #[test]
    fn a_total_outage_stops_retries_at_half_the_bucket() {
        let mut b = RetryBudget::new(RetryBudgetConfig {
            max_tokens: 10,
            token_ratio: 0.1,
        })
        .unwrap();
        let mut allowed = 0;
        for _ in 0..100 {
            b.record_failure();
            if b.allows_retry() {
                allowed += 1;
            }
        }
        // 10 -> 9, 8, 7, 6 allow; 5 is not more than half.
        assert_eq!(allowed, 4);
        assert_eq!(b.tokens_milli(), 0);
    }

    #[test]
    fn successes_refill_and_reopen_retries() {
        let mut b = RetryBudget::new(RetryBudgetConfig {
            max_tokens: 10,
            token_ratio: 0.5,
        })
        .unwrap();
        for _ in 0..10 {
            b.record_failure();
        }
        assert!(!b.allows_retry());
        for _ in 0..11 {
            b.record_success();
        }
        assert_eq!(b.tokens_milli(), 5_500);
        assert!(b.allows_retry());
        for _ in 0..100 {
            b.record_success();
        }
        assert_eq!(b.tokens_milli(), 10_000, "never above the max");
    }

    #[test]
    fn out_of_range_config_is_a_typed_error_with_a_sentence() {
        for (cfg, err) in [
            (
                RetryBudgetConfig {
                    max_tokens: 0,
                    token_ratio: 0.1,
                },
                RetryBudgetError::MaxTokens { value: 0 },
            ),
            (
                RetryBudgetConfig {
                    max_tokens: 1001,
                    token_ratio: 0.1,
                },
                RetryBudgetError::MaxTokens { value: 1001 },
            ),
            (
                RetryBudgetConfig {
                    max_tokens: 10,
                    token_ratio: 0.0,
                },
                RetryBudgetError::TokenRatio { value: 0.0 },
            ),
            (
                RetryBudgetConfig {
                    max_tokens: 10,
                    token_ratio: -1.0,
                },
                RetryBudgetError::TokenRatio { value: -1.0 },
            ),
            (
                RetryBudgetConfig {
                    max_tokens: 10,
                    token_ratio: f64::INFINITY,
                },
                RetryBudgetError::TokenRatio {
                    value: f64::INFINITY,
                },
            ),
        ] {
            assert_eq!(RetryBudget::new(cfg), Err(err));
        }
        assert!(matches!(
            RetryBudget::new(RetryBudgetConfig {
                max_tokens: 10,
                token_ratio: f64::NAN
            }),
            Err(RetryBudgetError::TokenRatio { .. })
        ));
        let msg = RetryBudgetError::MaxTokens { value: 0 }.to_string();
        assert!(msg.contains("max_tokens") && msg.contains('0') && msg.contains("1000"));
    }

    #[test]
    fn serde_round_trip_keeps_the_state() {
        let mut b = RetryBudget::default();
        b.record_failure();
        let json = serde_json::to_string(&b).unwrap();
        let back: RetryBudget = serde_json::from_str(&json).unwrap();
        assert_eq!(back, b);
    }
}
