//! [`MonitorConfig`] and [`HealthConfig`]: how often to poll, how long to
//! wait, how to health-check.

use core::fmt;
use serde::{Deserialize, Serialize};

use crate::config::Config;
use crate::retry::{Backoff, Jitter};
use crate::time::Duration;

const fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// How the health phase probes an instance's HTTP endpoints.
///
/// Each endpoint gets up to `tries_per_round` probes, spaced by `backoff`
/// spread with `jitter`; an endpoint that fails them all rests for
/// `round_interval` and gets a fresh round. The phase ends `ready` as soon
/// as every endpoint has answered 2xx or 3xx once, and fails when
/// `max_duration` has passed since it began.
///
/// # Default
/// - `probe_timeout`: 10 s (1 s – 60 s)
/// - `tries_per_round`: 3 (1 – 10)
/// - `backoff`: exponential, base 1 s, factor 2, cap 10 s (base 1 ms – 60 s,
///   cap base – 5 min, factor finite and ≥ 1)
/// - `jitter`: [`Jitter::Equal`]
/// - `round_interval`: 15 s (1 s – 300 s)
/// - `max_duration`: 5 min (10 s – 1 h)
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct HealthConfig {
    /// How long one probe may take before it counts as failed.
    pub probe_timeout: Duration,
    /// Probes per endpoint per round.
    pub tries_per_round: u32,
    /// The wait between failed probes of one endpoint within a round.
    pub backoff: Backoff,
    /// How that wait is randomised.
    pub jitter: Jitter,
    /// The rest after an endpoint failed a whole round.
    pub round_interval: Duration,
    /// The longest the health phase lasts.
    pub max_duration: Duration,
}

impl Default for HealthConfig {
    fn default() -> HealthConfig {
        HealthConfig {
            probe_timeout: secs(10),
            tries_per_round: 3,
            backoff: Backoff::Exponential {
                base: secs(1),
                factor: 2.0,
                cap: secs(10),
            },
            jitter: Jitter::Equal,
            round_interval: secs(15),
            max_duration: Duration::from_mins(5),
        }
    }
}

/// How an instance start-up is monitored.
///
/// Polling: the first poll goes out one gap after the monitor is made; the
/// gaps before polls 1 ..= `fast_polls` are `fast_poll_interval`, every later
/// gap is `poll_interval` (with the defaults: polls at 5 s, 10 s, 15 s, then
/// every 30 s). A gap is measured between the moments polls are *sent*, and a
/// new poll is never sent while the previous one is unanswered, so the monitor
/// never polls faster than this.
///
/// # Default
/// - `poll_interval`: 30 s (10 s – 300 s; `INSTANCE_POLL_INTERVAL`)
/// - `fast_polls`: 3 (0 – 10)
/// - `fast_poll_interval`: 5 s (1 s – `poll_interval`)
/// - `create_timeout`: 20 min (1 min – 2 h), until `running` after a create
/// - `start_timeout`: 5 min (30 s – 1 h; `STARTUP_MAX_WAIT`), until
///   `running` after a start
/// - `health`: [`HealthConfig::default`]
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct MonitorConfig {
    /// The gap between polls of the instance.
    pub poll_interval: Duration,
    /// How many of the first polls use `fast_poll_interval`.
    pub fast_polls: u32,
    /// The gap before each of the first `fast_polls` polls.
    pub fast_poll_interval: Duration,
    /// How long a created instance may take to reach `running`.
    pub create_timeout: Duration,
    /// How long a started instance may take to reach `running`.
    pub start_timeout: Duration,
    /// The health phase.
    pub health: HealthConfig,
}

impl Default for MonitorConfig {
    fn default() -> MonitorConfig {
        MonitorConfig {
            poll_interval: secs(30),
            fast_polls: 3,
            fast_poll_interval: secs(5),
            create_timeout: Duration::from_mins(20),
            start_timeout: Duration::from_mins(5),
            health: HealthConfig::default(),
        }
    }
}

/// A [`MonitorConfig`] value out of range. The `Display` names the field, the
/// value and the allowed range.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum MonitorConfigError {
    /// A duration outside its range.
    Duration {
        /// The field, e.g. `poll_interval`.
        field: &'static str,
        /// The value given.
        value: Duration,
        /// The smallest allowed value.
        min: Duration,
        /// The largest allowed value.
        max: Duration,
    },
    /// A count outside its range.
    Count {
        /// The field, e.g. `fast_polls`.
        field: &'static str,
        /// The value given.
        value: u32,
        /// The smallest allowed value.
        min: u32,
        /// The largest allowed value.
        max: u32,
    },
    /// An exponential backoff factor that is below 1, infinite or NaN.
    BackoffFactor {
        /// The value given.
        value: f64,
    },
}

impl fmt::Display for MonitorConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MonitorConfigError::Duration {
                field,
                value,
                min,
                max,
            } => write!(
                f,
                "monitor {field} is {value}, but it must be between {min} and {max}"
            ),
            MonitorConfigError::Count {
                field,
                value,
                min,
                max,
            } => write!(
                f,
                "monitor {field} is {value}, but it must be between {min} and {max}"
            ),
            MonitorConfigError::BackoffFactor { value } => write!(
                f,
                "monitor health.backoff.factor is {value}, but it must be a finite number of at least 1"
            ),
        }
    }
}

impl core::error::Error for MonitorConfigError {}

fn dur(
    field: &'static str,
    value: Duration,
    min: Duration,
    max: Duration,
) -> Result<(), MonitorConfigError> {
    if value < min || value > max {
        return Err(MonitorConfigError::Duration {
            field,
            value,
            min,
            max,
        });
    }
    Ok(())
}

fn count(field: &'static str, value: u32, min: u32, max: u32) -> Result<(), MonitorConfigError> {
    if value < min || value > max {
        return Err(MonitorConfigError::Count {
            field,
            value,
            min,
            max,
        });
    }
    Ok(())
}

impl HealthConfig {
    /// Checks every field against the ranges in the type's docs.
    ///
    /// # Errors
    /// The first field out of range.
    pub fn validate(&self) -> Result<(), MonitorConfigError> {
        dur(
            "health.probe_timeout",
            self.probe_timeout,
            secs(1),
            secs(60),
        )?;
        count("health.tries_per_round", self.tries_per_round, 1, 10)?;
        let ms = Duration::from_millis(1);
        match self.backoff {
            Backoff::Exponential { base, factor, cap } => {
                dur("health.backoff.base", base, ms, secs(60))?;
                if !factor.is_finite() || factor < 1.0 {
                    return Err(MonitorConfigError::BackoffFactor { value: factor });
                }
                dur("health.backoff.cap", cap, base, Duration::from_mins(5))?;
            }
            Backoff::Linear { base, cap, .. } => {
                dur("health.backoff.base", base, ms, secs(60))?;
                dur("health.backoff.cap", cap, base, Duration::from_mins(5))?;
            }
            Backoff::Constant { delay } => dur("health.backoff.delay", delay, ms, secs(60))?,
        }
        dur(
            "health.round_interval",
            self.round_interval,
            secs(1),
            secs(300),
        )?;
        dur(
            "health.max_duration",
            self.max_duration,
            secs(10),
            Duration::from_mins(60),
        )
    }
}

impl MonitorConfig {
    /// Checks every field against the ranges in the type's docs.
    ///
    /// # Errors
    /// The first field out of range.
    pub fn validate(&self) -> Result<(), MonitorConfigError> {
        dur("poll_interval", self.poll_interval, secs(10), secs(300))?;
        count("fast_polls", self.fast_polls, 0, 10)?;
        dur(
            "fast_poll_interval",
            self.fast_poll_interval,
            secs(1),
            self.poll_interval,
        )?;
        dur(
            "create_timeout",
            self.create_timeout,
            Duration::from_mins(1),
            Duration::from_mins(120),
        )?;
        dur(
            "start_timeout",
            self.start_timeout,
            secs(30),
            Duration::from_mins(60),
        )?;
        self.health.validate()
    }

    /// The defaults with `poll_interval` from `INSTANCE_POLL_INTERVAL` and
    /// `start_timeout` from `STARTUP_MAX_WAIT`; `fast_poll_interval` is
    /// lowered to `poll_interval` if that is shorter.
    ///
    /// # Errors
    /// A value out of range (possible only if the [`Config`]'s public fields
    /// were changed after it was validated).
    pub fn from_config(config: &Config) -> Result<MonitorConfig, MonitorConfigError> {
        let d = MonitorConfig::default();
        let c = MonitorConfig {
            poll_interval: config.instance_poll_interval,
            fast_poll_interval: d.fast_poll_interval.min(config.instance_poll_interval),
            start_timeout: config.startup_max_wait,
            ..d
        };
        c.validate()?;
        Ok(c)
    }

    /// The gap before poll number `n` (1-based).
    #[must_use]
    pub fn gap_before_poll(&self, n: u32) -> Duration {
        if n <= self.fast_polls {
            self.fast_poll_interval
        } else {
            self.poll_interval
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;

    #[test]
    fn defaults_are_valid_and_match_the_docs() {
        let c = MonitorConfig::default();
        assert_eq!(c.validate(), Ok(()));
        assert_eq!(c.gap_before_poll(1), secs(5));
        assert_eq!(c.gap_before_poll(3), secs(5));
        assert_eq!(c.gap_before_poll(4), secs(30));
        assert_eq!(c.health.tries_per_round, 3);
        assert_eq!(c.health.max_duration, secs(300));
    }

    #[test]
    fn out_of_range_values_name_the_field_value_and_range() {
        let c = MonitorConfig {
            poll_interval: secs(5),
            ..MonitorConfig::default()
        };
        let e = c.validate().unwrap_err();
        assert_eq!(
            e.to_string(),
            "monitor poll_interval is 5s, but it must be between 10s and 5m"
        );
        let c = MonitorConfig {
            fast_poll_interval: secs(40),
            ..MonitorConfig::default()
        };
        assert!(matches!(
            c.validate(),
            Err(MonitorConfigError::Duration {
                field: "fast_poll_interval",
                ..
            })
        ));
        let mut c = MonitorConfig::default();
        c.health.tries_per_round = 0;
        assert_eq!(
            c.validate().unwrap_err().to_string(),
            "monitor health.tries_per_round is 0, but it must be between 1 and 10"
        );
        let mut c = MonitorConfig::default();
        c.health.backoff = Backoff::Exponential {
            base: secs(1),
            factor: f64::NAN,
            cap: secs(2),
        };
        assert!(matches!(
            c.validate(),
            Err(MonitorConfigError::BackoffFactor { .. })
        ));
    }

    #[test]
    fn from_config_takes_the_poll_interval_and_startup_max_wait() {
        let mut cfg = Config::new("sk_test");
        cfg.instance_poll_interval = secs(10);
        cfg.startup_max_wait = secs(600);
        let m = MonitorConfig::from_config(&cfg).unwrap();
        assert_eq!(m.poll_interval, secs(10));
        assert_eq!(m.fast_poll_interval, secs(5));
        assert_eq!(m.start_timeout, secs(600));
        assert_eq!(m.create_timeout, Duration::from_mins(20));
        cfg.instance_poll_interval = secs(1);
        assert!(MonitorConfig::from_config(&cfg).is_err());
    }
}
