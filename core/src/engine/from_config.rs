//! [`EngineConfig::from_config`]: the validated client [`Config`] mapped onto
//! the engine's machines.

use super::{CacheConfig, EngineConfig};
use crate::breaker::{BreakerConfig, OpenDuration};
use crate::config::Config;
use crate::limiter::{RateLimitConfig, WindowConfig};
use crate::queue::QueueConfig;
use crate::retry::{Backoff, RetryConfig};

impl EngineConfig {
    /// The engine settings a validated [`Config`] asks for.
    ///
    /// | variable | engine setting |
    /// |---|---|
    /// | `REQUEST_TIMEOUT` | `attempt_timeout` (and the breaker's `probe_max_wait`) |
    /// | `MAX_RETRY_ATTEMPTS` | `retry.max_attempts` |
    /// | `RETRY_BASE_DELAY_MS`, `RETRY_MAX_DELAY_MS` | `retry.backoff`: exponential ×2 from the base, capped at the max (full jitter) |
    /// | `CIRCUIT_BREAKER_FAILURE_THRESHOLD` | `breaker.consecutive_failures` |
    /// | `CIRCUIT_BREAKER_OPEN_MS` | `breaker.open_duration` (fixed) |
    /// | `CIRCUIT_BREAKER_SUCCESS_THRESHOLD` | `breaker.half_open_successes` |
    /// | `RATE_LIMIT_MAX_REQUESTS`, `RATE_LIMIT_WINDOW_MS` | `rate_limit`: sliding window |
    /// | `MAX_CONCURRENT_REQUESTS` | `max_in_flight` |
    /// | `QUEUE_CAPACITY` | `queue` capacity |
    /// | `CACHE_ENABLED`, `CACHE_TIMEOUT` | `cache.enabled`, `cache.ttl` |
    ///
    /// Everything else keeps [`EngineConfig::default`] (retry budget, jitter,
    /// `Retry-After` handling, cache size). The result of a `Config` that
    /// passed [`Config::validate`] is accepted by [`super::Engine::new`];
    /// a hand-edited `Config` with out-of-range fields makes `Engine::new`
    /// return the matching error (a zero queue capacity falls back to the
    /// default capacity).
    #[must_use]
    pub fn from_config(config: &Config) -> EngineConfig {
        let defaults = EngineConfig::default();
        let breaker = BreakerConfig {
            consecutive_failures: Some(config.circuit_breaker_failure_threshold),
            open_duration: OpenDuration::Fixed(config.circuit_breaker_open),
            half_open_successes: config.circuit_breaker_success_threshold,
            probe_max_wait: config.request_timeout,
            ..BreakerConfig::default()
        };
        let retry = RetryConfig {
            max_attempts: config.max_retry_attempts,
            backoff: Backoff::Exponential {
                base: config.retry_base_delay,
                factor: 2.0,
                cap: config.retry_max_delay,
            },
            ..RetryConfig::default()
        };
        let rate_limit = RateLimitConfig::SlidingWindow(WindowConfig {
            max: config.rate_limit_max_requests,
            window: config.rate_limit_window,
        });
        let queue = usize::try_from(config.queue_capacity)
            .ok()
            .and_then(|c| QueueConfig::new(c).ok())
            .unwrap_or_default();
        EngineConfig {
            max_in_flight: usize::try_from(config.max_concurrent_requests).unwrap_or(usize::MAX),
            attempt_timeout: config.request_timeout,
            queue,
            breaker,
            rate_limit,
            retry,
            retry_budget: defaults.retry_budget,
            cache: CacheConfig {
                enabled: config.cache_enabled,
                ttl: config.cache_timeout,
                ..CacheConfig::default()
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::Engine;
    use crate::time::{Duration, Instant};

    #[test]
    fn the_default_config_gives_the_default_engine() {
        let config = Config::new("sk_test_0123456789");
        assert_eq!(EngineConfig::from_config(&config), EngineConfig::default());
    }

    #[test]
    fn every_variable_reaches_its_machine() {
        let config = Config::from_pairs([
            ("NOVITA_API_KEY", "sk_test_0123456789"),
            ("REQUEST_TIMEOUT", "7000"),
            ("MAX_RETRY_ATTEMPTS", "5"),
            ("RETRY_BASE_DELAY_MS", "200"),
            ("RETRY_MAX_DELAY_MS", "5000"),
            ("CIRCUIT_BREAKER_FAILURE_THRESHOLD", "2"),
            ("CIRCUIT_BREAKER_OPEN_MS", "1500"),
            ("CIRCUIT_BREAKER_SUCCESS_THRESHOLD", "1"),
            ("RATE_LIMIT_MAX_REQUESTS", "40"),
            ("RATE_LIMIT_WINDOW_MS", "2000"),
            ("MAX_CONCURRENT_REQUESTS", "16"),
            ("QUEUE_CAPACITY", "50"),
            ("CACHE_ENABLED", "true"),
            ("CACHE_TIMEOUT", "120"),
        ])
        .unwrap();
        let e = EngineConfig::from_config(&config);
        assert_eq!(e.attempt_timeout, Duration::from_millis(7000));
        assert_eq!(e.retry.max_attempts, 5);
        assert_eq!(
            e.retry.backoff,
            Backoff::Exponential {
                base: Duration::from_millis(200),
                factor: 2.0,
                cap: Duration::from_millis(5000),
            }
        );
        assert_eq!(e.breaker.consecutive_failures, Some(2));
        assert_eq!(
            e.breaker.open_duration,
            OpenDuration::Fixed(Duration::from_millis(1500))
        );
        assert_eq!(e.breaker.half_open_successes, 1);
        assert_eq!(
            e.rate_limit,
            RateLimitConfig::SlidingWindow(WindowConfig {
                max: 40,
                window: Duration::from_millis(2000),
            })
        );
        assert_eq!(e.max_in_flight, 16);
        assert_eq!(e.queue.capacity(), 50);
        assert!(e.cache.enabled);
        assert_eq!(e.cache.ttl, Duration::from_secs(120));
        assert!(Engine::new(e, 1, Instant::ZERO).is_ok());
    }

    #[test]
    fn the_extremes_of_every_range_build_an_engine() {
        for (lo_hi, pairs) in [
            (
                "low",
                [
                    ("REQUEST_TIMEOUT", "5000"),
                    ("MAX_RETRY_ATTEMPTS", "1"),
                    ("RETRY_BASE_DELAY_MS", "100"),
                    ("RETRY_MAX_DELAY_MS", "100"),
                    ("CIRCUIT_BREAKER_FAILURE_THRESHOLD", "1"),
                    ("CIRCUIT_BREAKER_OPEN_MS", "1000"),
                    ("CIRCUIT_BREAKER_SUCCESS_THRESHOLD", "1"),
                    ("RATE_LIMIT_MAX_REQUESTS", "1"),
                    ("RATE_LIMIT_WINDOW_MS", "1000"),
                    ("MAX_CONCURRENT_REQUESTS", "1"),
                    ("QUEUE_CAPACITY", "1"),
                ],
            ),
            (
                "high",
                [
                    ("REQUEST_TIMEOUT", "120000"),
                    ("MAX_RETRY_ATTEMPTS", "10"),
                    ("RETRY_BASE_DELAY_MS", "60000"),
                    ("RETRY_MAX_DELAY_MS", "300000"),
                    ("CIRCUIT_BREAKER_FAILURE_THRESHOLD", "100"),
                    ("CIRCUIT_BREAKER_OPEN_MS", "3600000"),
                    ("CIRCUIT_BREAKER_SUCCESS_THRESHOLD", "20"),
                    ("RATE_LIMIT_MAX_REQUESTS", "100000"),
                    ("RATE_LIMIT_WINDOW_MS", "3600000"),
                    ("MAX_CONCURRENT_REQUESTS", "256"),
                    ("QUEUE_CAPACITY", "100000"),
                ],
            ),
        ] {
            let config = Config::from_pairs(
                pairs
                    .into_iter()
                    .chain([("NOVITA_API_KEY", "sk_test_0123456789")]),
            )
            .unwrap();
            let e = EngineConfig::from_config(&config);
            assert!(Engine::new(e, 1, Instant::ZERO).is_ok(), "{lo_hi}");
        }
    }
}
