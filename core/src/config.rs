//! Client configuration from key/value pairs, validated all at once.
//!
//! The core reads no environment and no files: an adapter passes the process
//! environment and the lines of a `.env` file in as `(key, value)` pairs, and
//! [`Config::from_pairs`] turns them into a typed [`Config`] — or into a
//! [`ConfigErrors`] that lists *every* problem at once, each naming the
//! variable, the bad value (secrets masked) and what is allowed:
//!
//! ```text
//! NOVITA_API_KEY: is required: set it to your Novita API key (at least 10 characters)
//! REQUEST_TIMEOUT=999999: must be between 5000 and 120000 milliseconds
//! ```
//!
//! Every variable is described once, in the table [`VARS`] (name, default,
//! allowed range, description, kind); parsing and validation are driven by that
//! table, and a CLI can print it as help.
//!
//! ## Rules for the pairs
//!
//! - Keys match exactly (case-sensitive); unknown keys are ignored.
//! - Values are trimmed of surrounding whitespace; an empty value counts as
//!   unset (the default applies, or the variable is missing if required).
//! - When a key appears more than once, the **last** occurrence wins — even if
//!   it is empty (then the variable is unset). Apart from that, the order of the
//!   pairs does not matter. An adapter that wants the process environment to win
//!   over a `.env` file passes the file's pairs first.
//!
//! Programmatic use: [`Config::new`] (all defaults) or [`Config::builder`]
//! (typed setters, checked by [`ConfigBuilder::build`] against the same rules).

use alloc::borrow::ToOwned;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;

use serde::{Deserialize, Serialize};

use crate::secret::{Secret, masked};
use crate::time::Duration;

mod check;
mod vars;

#[cfg(test)]
use crate::webhook::secret::is_base64;
use check::{NumError, check_region, check_secret, check_url, parse_bool, parse_u64, shown};
use vars::{
    API_BASE_URL, API_KEY, CACHE_ENABLED, CACHE_TIMEOUT, CIRCUIT_BREAKER_FAILURE_THRESHOLD,
    CIRCUIT_BREAKER_OPEN_MS, CIRCUIT_BREAKER_SUCCESS_THRESHOLD, DEFAULT_REGION,
    INSTANCE_POLL_INTERVAL, LOG_LEVEL, MAX_CONCURRENT_REQUESTS, MAX_RETRY_ATTEMPTS, QUEUE_CAPACITY,
    RATE_LIMIT_MAX_REQUESTS, RATE_LIMIT_WINDOW_MS, REQUEST_TIMEOUT, RETRY_BASE_DELAY_MS,
    RETRY_MAX_DELAY_MS, STARTUP_MAX_WAIT, WEBHOOK_SECRET, WEBHOOK_TIMEOUT, WEBHOOK_URL,
};
pub use vars::{Unit, VARS, VarKind, VarSpec, var_spec};

// ---------------------------------------------------------------------------
// Typed values
// ---------------------------------------------------------------------------

/// How much the adapters log (`LOG_LEVEL`).
///
/// # Default
///
/// [`LogLevel::Info`].
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    /// Only errors.
    Error,
    /// Errors and warnings.
    Warn,
    /// Errors, warnings and lifecycle information.
    #[default]
    Info,
    /// Everything, including each request and decision.
    Debug,
}

impl LogLevel {
    /// Parses `error`, `warn`, `info` or `debug`, in any case.
    #[must_use]
    pub fn parse(s: &str) -> Option<LogLevel> {
        [
            LogLevel::Error,
            LogLevel::Warn,
            LogLevel::Info,
            LogLevel::Debug,
        ]
        .into_iter()
        .find(|l| l.as_str().eq_ignore_ascii_case(s))
    }

    /// The lower-case name, as `LOG_LEVEL` takes it.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            LogLevel::Error => "error",
            LogLevel::Warn => "warn",
            LogLevel::Info => "info",
            LogLevel::Debug => "debug",
        }
    }
}

impl fmt::Display for LogLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The client configuration, typed. Build it with [`Config::from_pairs`]
/// (environment / `.env` pairs), [`Config::new`] or [`Config::builder`].
///
/// Its `Debug` never shows the API key or the webhook secret (both are
/// [`Secret`]s). There is no `Default` impl because there is no default API key.
///
/// The fields are public for reading; a `Config` changed by hand can be
/// re-checked with [`Config::validate`].
///
/// # Default
///
/// - `api_base_url`: `https://api.novita.ai/gpu-instance/openapi`
/// - `webhook_url`: `None`; `webhook_secret`: `None`
/// - `instance_poll_interval`: 30 s
/// - `max_retry_attempts`: 3
/// - `request_timeout`: 30 s; `webhook_timeout`: 10 s
/// - `rate_limit_window`: 60 s; `rate_limit_max_requests`: 100
/// - `log_level`: [`LogLevel::Info`]
/// - `default_region`: `CN-HK-01`
/// - `cache_timeout`: 300 s; `cache_enabled`: `false`
/// - `circuit_breaker_failure_threshold`: 5; `circuit_breaker_open`: 60 s;
///   `circuit_breaker_success_threshold`: 3
/// - `retry_base_delay`: 1 s; `retry_max_delay`: 30 s
/// - `max_concurrent_requests`: 8; `queue_capacity`: 1000
/// - `startup_max_wait`: 300 s
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// `NOVITA_API_KEY` (required): the API key, at least 10 characters.
    pub api_key: Secret,
    /// `NOVITA_API_BASE_URL`: http(s) base URL without trailing slash, query
    /// or fragment. Default `https://api.novita.ai/gpu-instance/openapi`.
    pub api_base_url: String,
    /// `WEBHOOK_URL`: where notifications go, an http(s) URL. Default `None`.
    pub webhook_url: Option<String>,
    /// `WEBHOOK_SECRET`: signing key, at least 8 characters; `whsec_<base64>`
    /// accepted. Default `None` (webhooks unsigned).
    pub webhook_secret: Option<Secret>,
    /// `INSTANCE_POLL_INTERVAL` (seconds): 10–300 s, default 30 s.
    pub instance_poll_interval: Duration,
    /// `MAX_RETRY_ATTEMPTS`: attempts per request including the first, 1–10,
    /// default 3.
    pub max_retry_attempts: u32,
    /// `REQUEST_TIMEOUT` (milliseconds): 5–120 s, default 30 s.
    pub request_timeout: Duration,
    /// `WEBHOOK_TIMEOUT` (milliseconds): 1–30 s, default 10 s.
    pub webhook_timeout: Duration,
    /// `RATE_LIMIT_WINDOW_MS`: limiter window, 1 s – 1 h, default 60 s.
    pub rate_limit_window: Duration,
    /// `RATE_LIMIT_MAX_REQUESTS`: requests per window, 1–100000, default 100.
    pub rate_limit_max_requests: u32,
    /// `LOG_LEVEL`: default [`LogLevel::Info`].
    pub log_level: LogLevel,
    /// `DEFAULT_REGION`: 1–32 of `A-Z 0-9 - _`, upper-case, default `CN-HK-01`.
    pub default_region: String,
    /// `CACHE_TIMEOUT` (seconds): 60–3600 s, default 300 s.
    pub cache_timeout: Duration,
    /// `CACHE_ENABLED`: default `false`.
    pub cache_enabled: bool,
    /// `CIRCUIT_BREAKER_FAILURE_THRESHOLD`: consecutive failures that open the
    /// breaker, 1–100, default 5.
    pub circuit_breaker_failure_threshold: u32,
    /// `CIRCUIT_BREAKER_OPEN_MS`: open time, 1 s – 1 h, default 60 s.
    pub circuit_breaker_open: Duration,
    /// `CIRCUIT_BREAKER_SUCCESS_THRESHOLD`: probe successes that close it,
    /// 1–20, default 3.
    pub circuit_breaker_success_threshold: u32,
    /// `RETRY_BASE_DELAY_MS`: first retry delay, 100 ms – 60 s, default 1 s.
    pub retry_base_delay: Duration,
    /// `RETRY_MAX_DELAY_MS`: retry delay cap, 100 ms – 300 s and at least
    /// `retry_base_delay`, default 30 s.
    pub retry_max_delay: Duration,
    /// `MAX_CONCURRENT_REQUESTS`: requests in flight, 1–256, default 8.
    pub max_concurrent_requests: u32,
    /// `QUEUE_CAPACITY`: waiting requests, 1–100000, default 1000.
    pub queue_capacity: u32,
    /// `STARTUP_MAX_WAIT` (seconds): start timeout, 30–3600 s, default 300 s.
    pub startup_max_wait: Duration,
}

// ---------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------

/// One thing wrong with one variable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigProblem {
    /// The variable's name, e.g. `REQUEST_TIMEOUT`.
    pub var: &'static str,
    /// The offending value as given (secrets masked, control characters
    /// escaped, long values shortened); empty when the variable is missing.
    pub value: String,
    /// What is wrong and what is allowed, e.g. `must be between 5000 and
    /// 120000 milliseconds`.
    pub problem: String,
}

impl fmt::Display for ConfigProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.value.is_empty() {
            write!(f, "{}: {}", self.var, self.problem)
        } else {
            write!(f, "{}={}: {}", self.var, self.value, self.problem)
        }
    }
}

impl core::error::Error for ConfigProblem {}

/// Every problem found in a configuration, in the order of [`VARS`].
/// `Display` prints one problem per line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<ConfigProblem>);

impl ConfigErrors {
    /// The problems, in the order of [`VARS`].
    #[must_use]
    pub fn problems(&self) -> &[ConfigProblem] {
        &self.0
    }
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{p}")?;
        }
        Ok(())
    }
}

impl core::error::Error for ConfigErrors {}

// ---------------------------------------------------------------------------
// Reading the pairs
// ---------------------------------------------------------------------------

/// Reads the raw values and collects problems in [`VARS`] order.
struct Reader {
    /// Trimmed, non-empty values, indexed like [`VARS`].
    values: Vec<Option<String>>,
    problems: Vec<ConfigProblem>,
}

impl Reader {
    fn new<I, K, V>(pairs: I) -> Reader
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: AsRef<str>,
    {
        let mut values: Vec<Option<String>> = VARS.iter().map(|_| None).collect();
        for (k, v) in pairs {
            let Some(i) = VARS.iter().position(|s| s.name == k.as_ref()) else {
                continue;
            };
            if let Some(slot) = values.get_mut(i) {
                let v = v.as_ref().trim();
                *slot = (!v.is_empty()).then(|| v.to_owned());
            }
        }
        Reader {
            values,
            problems: Vec::new(),
        }
    }

    /// The given value, else the default; `None` when neither exists.
    fn value(&self, spec: &VarSpec) -> Option<String> {
        let given = VARS
            .iter()
            .position(|s| s.name == spec.name)
            .and_then(|i| self.values.get(i))
            .and_then(Clone::clone);
        given.or_else(|| spec.default.map(ToOwned::to_owned))
    }

    fn problem(&mut self, spec: &VarSpec, value: String, problem: String) {
        self.problems.push(ConfigProblem {
            var: spec.name,
            value,
            problem,
        });
    }

    /// A secret; `None` when unset or bad (bad is recorded).
    fn secret(&mut self, spec: &VarSpec) -> Option<Secret> {
        let VarKind::Secret { min_chars, whsec } = spec.kind else {
            return None;
        };
        let Some(raw) = self.value(spec) else {
            if spec.required {
                self.problem(
                    spec,
                    String::new(),
                    format!("is required: {} ({})", spec.description, spec.range),
                );
            }
            return None;
        };
        match check_secret(&raw, min_chars, whsec) {
            Ok(()) => Some(Secret::new(raw)),
            Err(p) => {
                self.problem(spec, masked(&raw), p);
                None
            }
        }
    }

    /// A URL in normalised form; `None` when unset or bad (bad is recorded).
    fn url(&mut self, spec: &VarSpec) -> Option<String> {
        let VarKind::Url { base } = spec.kind else {
            return None;
        };
        let raw = self.value(spec)?;
        match check_url(&raw, base) {
            Ok(u) => Some(u),
            Err(p) => {
                self.problem(spec, shown(&raw), p);
                None
            }
        }
    }

    /// A number in the spec's unit; `None` when bad (recorded).
    fn number(&mut self, spec: &VarSpec) -> Option<u64> {
        let VarKind::Number { min, max, unit } = spec.kind else {
            return None;
        };
        let raw = self.value(spec)?;
        let unit = unit.suffix();
        match parse_u64(&raw) {
            Ok(n) if (min..=max).contains(&n) => Some(n),
            Ok(_) | Err(NumError::TooBig) => {
                self.problem(
                    spec,
                    shown(&raw),
                    format!("must be between {min} and {max}{unit}"),
                );
                None
            }
            Err(NumError::NotANumber) => {
                self.problem(
                    spec,
                    shown(&raw),
                    format!("must be a whole number between {min} and {max}{unit}"),
                );
                None
            }
        }
    }

    /// A number as a duration (seconds or milliseconds per the spec).
    fn duration(&mut self, spec: &VarSpec) -> Option<Duration> {
        let n = self.number(spec)?;
        Some(match spec.kind {
            VarKind::Number {
                unit: Unit::Seconds,
                ..
            } => Duration::from_secs(n),
            _ => Duration::from_millis(n),
        })
    }

    fn count(&mut self, spec: &VarSpec) -> Option<u32> {
        self.number(spec)
            .map(|n| u32::try_from(n).unwrap_or(u32::MAX))
    }

    fn boolean(&mut self, spec: &VarSpec) -> Option<bool> {
        let raw = self.value(spec)?;
        let b = parse_bool(&raw);
        if b.is_none() {
            self.problem(
                spec,
                shown(&raw),
                "must be true or false (also accepted: 1/0, yes/no)".to_owned(),
            );
        }
        b
    }

    fn log_level(&mut self, spec: &VarSpec) -> Option<LogLevel> {
        let raw = self.value(spec)?;
        let l = LogLevel::parse(&raw);
        if l.is_none() {
            self.problem(
                spec,
                shown(&raw),
                "must be one of error, warn, info, debug".to_owned(),
            );
        }
        l
    }

    fn region(&mut self, spec: &VarSpec) -> Option<String> {
        let raw = self.value(spec)?;
        match check_region(&raw) {
            Ok(r) => Some(r),
            Err(p) => {
                self.problem(spec, shown(&raw), p);
                None
            }
        }
    }

    /// Reads every variable in [`VARS`] order. Always returns a `Config`
    /// (bad or missing values replaced by their range's lower end or empty)
    /// together with the problems found.
    fn read(mut self) -> (Config, Vec<ConfigProblem>) {
        let ms = Duration::from_millis;
        let s = Duration::from_secs;
        let api_key = self.secret(&API_KEY).unwrap_or_default();
        let api_base_url = self.url(&API_BASE_URL).unwrap_or_default();
        let webhook_url = self.url(&WEBHOOK_URL);
        let webhook_secret = self.secret(&WEBHOOK_SECRET);
        let instance_poll_interval = self.duration(&INSTANCE_POLL_INTERVAL).unwrap_or(s(30));
        let max_retry_attempts = self.count(&MAX_RETRY_ATTEMPTS).unwrap_or(3);
        let request_timeout = self.duration(&REQUEST_TIMEOUT).unwrap_or(ms(30_000));
        let webhook_timeout = self.duration(&WEBHOOK_TIMEOUT).unwrap_or(ms(10_000));
        let rate_limit_window = self.duration(&RATE_LIMIT_WINDOW_MS).unwrap_or(ms(60_000));
        let rate_limit_max_requests = self.count(&RATE_LIMIT_MAX_REQUESTS).unwrap_or(100);
        let log_level = self.log_level(&LOG_LEVEL).unwrap_or_default();
        let default_region = self.region(&DEFAULT_REGION).unwrap_or_default();
        let cache_timeout = self.duration(&CACHE_TIMEOUT).unwrap_or(s(300));
        let cache_enabled = self.boolean(&CACHE_ENABLED).unwrap_or(false);
        let circuit_breaker_failure_threshold =
            self.count(&CIRCUIT_BREAKER_FAILURE_THRESHOLD).unwrap_or(5);
        let circuit_breaker_open = self
            .duration(&CIRCUIT_BREAKER_OPEN_MS)
            .unwrap_or(ms(60_000));
        let circuit_breaker_success_threshold =
            self.count(&CIRCUIT_BREAKER_SUCCESS_THRESHOLD).unwrap_or(3);
        let base = self.duration(&RETRY_BASE_DELAY_MS);
        let max = self.duration(&RETRY_MAX_DELAY_MS);
        if let (Some(base), Some(max)) = (base, max)
            && max < base
        {
            self.problem(
                &RETRY_MAX_DELAY_MS,
                max.as_millis().to_string(),
                format!(
                    "must be at least RETRY_BASE_DELAY_MS ({} milliseconds)",
                    base.as_millis()
                ),
            );
        }
        let retry_base_delay = base.unwrap_or(ms(1000));
        let retry_max_delay = max.unwrap_or(ms(30_000));
        let max_concurrent_requests = self.count(&MAX_CONCURRENT_REQUESTS).unwrap_or(8);
        let queue_capacity = self.count(&QUEUE_CAPACITY).unwrap_or(1000);
        let startup_max_wait = self.duration(&STARTUP_MAX_WAIT).unwrap_or(s(300));
        let config = Config {
            api_key,
            api_base_url,
            webhook_url,
            webhook_secret,
            instance_poll_interval,
            max_retry_attempts,
            request_timeout,
            webhook_timeout,
            rate_limit_window,
            rate_limit_max_requests,
            log_level,
            default_region,
            cache_timeout,
            cache_enabled,
            circuit_breaker_failure_threshold,
            circuit_breaker_open,
            circuit_breaker_success_threshold,
            retry_base_delay,
            retry_max_delay,
            max_concurrent_requests,
            queue_capacity,
            startup_max_wait,
        };
        (config, self.problems)
    }
}

// ---------------------------------------------------------------------------
// Config API
// ---------------------------------------------------------------------------

/// A duration written in the unit of a seconds variable: whole seconds, or a
/// decimal that the parser rejects (so `validate` reports sub-second values).
fn secs_text(d: Duration) -> String {
    let ms = d.as_millis();
    if ms.is_multiple_of(1000) {
        (ms / 1000).to_string()
    } else {
        format!("{}.{:03}", ms / 1000, ms % 1000)
    }
}

impl Config {
    /// Reads the configuration from `(key, value)` pairs, e.g. the process
    /// environment followed by a `.env` file's lines.
    ///
    /// Unknown keys are ignored; values are trimmed and empty ones count as
    /// unset; for a repeated key the last occurrence wins. All problems are
    /// reported together, in the order of [`VARS`]. Never panics.
    ///
    /// # Errors
    ///
    /// [`ConfigErrors`] listing every missing or invalid variable.
    pub fn from_pairs<I, K, V>(pairs: I) -> Result<Config, ConfigErrors>
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: AsRef<str>,
    {
        let (config, problems) = Reader::new(pairs).read();
        if problems.is_empty() {
            Ok(config)
        } else {
            Err(ConfigErrors(problems))
        }
    }

    /// All defaults with this API key. The key is not checked here; use
    /// [`Config::builder`] or [`Config::validate`] for that.
    #[must_use]
    pub fn new(api_key: impl Into<Secret>) -> Config {
        let (mut config, _missing_key) = Reader::new(core::iter::empty::<(&str, &str)>()).read();
        config.api_key = api_key.into();
        config
    }

    /// A builder starting from the defaults with this API key.
    pub fn builder(api_key: impl Into<Secret>) -> ConfigBuilder {
        ConfigBuilder {
            config: Config::new(api_key),
        }
    }

    /// Checks every field against the rules of [`VARS`]; problems name the
    /// environment variable that corresponds to the field.
    ///
    /// # Errors
    ///
    /// [`ConfigErrors`] listing every invalid field.
    pub fn validate(&self) -> Result<(), ConfigErrors> {
        Config::from_pairs(self.pairs(true)).map(|_| ())
    }

    /// The effective configuration as `(variable, value)` pairs in [`VARS`]
    /// order, for printing (e.g. a CLI's `config show`). Unset optional
    /// variables are left out. **Secrets are masked** (`<secret, N chars>`),
    /// so these pairs do not read back into the same `Config`; everything
    /// else does.
    #[must_use]
    pub fn to_pairs(&self) -> Vec<(&'static str, String)> {
        self.pairs(false)
    }

    fn pairs(&self, expose: bool) -> Vec<(&'static str, String)> {
        let secret = |s: &Secret| {
            if expose {
                s.expose().to_owned()
            } else {
                masked(s.expose())
            }
        };
        let ms = |d: Duration| d.as_millis().to_string();
        let mut out = Vec::with_capacity(VARS.len());
        out.push((API_KEY.name, secret(&self.api_key)));
        out.push((API_BASE_URL.name, self.api_base_url.clone()));
        if let Some(u) = &self.webhook_url {
            out.push((WEBHOOK_URL.name, u.clone()));
        }
        if let Some(s) = &self.webhook_secret {
            out.push((WEBHOOK_SECRET.name, secret(s)));
        }
        out.extend([
            (
                INSTANCE_POLL_INTERVAL.name,
                secs_text(self.instance_poll_interval),
            ),
            (MAX_RETRY_ATTEMPTS.name, self.max_retry_attempts.to_string()),
            (REQUEST_TIMEOUT.name, ms(self.request_timeout)),
            (WEBHOOK_TIMEOUT.name, ms(self.webhook_timeout)),
            (RATE_LIMIT_WINDOW_MS.name, ms(self.rate_limit_window)),
            (
                RATE_LIMIT_MAX_REQUESTS.name,
                self.rate_limit_max_requests.to_string(),
            ),
            (LOG_LEVEL.name, self.log_level.as_str().to_owned()),
            (DEFAULT_REGION.name, self.default_region.clone()),
            (CACHE_TIMEOUT.name, secs_text(self.cache_timeout)),
            (CACHE_ENABLED.name, self.cache_enabled.to_string()),
            (
                CIRCUIT_BREAKER_FAILURE_THRESHOLD.name,
                self.circuit_breaker_failure_threshold.to_string(),
            ),
            (CIRCUIT_BREAKER_OPEN_MS.name, ms(self.circuit_breaker_open)),
            (
                CIRCUIT_BREAKER_SUCCESS_THRESHOLD.name,
                self.circuit_breaker_success_threshold.to_string(),
            ),
            (RETRY_BASE_DELAY_MS.name, ms(self.retry_base_delay)),
            (RETRY_MAX_DELAY_MS.name, ms(self.retry_max_delay)),
            (
                MAX_CONCURRENT_REQUESTS.name,
                self.max_concurrent_requests.to_string(),
            ),
            (QUEUE_CAPACITY.name, self.queue_capacity.to_string()),
            (STARTUP_MAX_WAIT.name, secs_text(self.startup_max_wait)),
        ]);
        out
    }
}

/// Builds a [`Config`] in code; [`ConfigBuilder::build`] checks it against the
/// same rules as [`Config::from_pairs`].
///
/// # Default
///
/// Every field starts at the defaults listed on [`Config`].
#[derive(Clone, Debug)]
#[must_use]
pub struct ConfigBuilder {
    config: Config,
}

macro_rules! setters {
    ($($(#[$doc:meta])* $name:ident: $ty:ty;)*) => {$(
        $(#[$doc])*
        pub fn $name(mut self, value: $ty) -> ConfigBuilder {
            self.config.$name = value;
            self
        }
    )*};
}

impl ConfigBuilder {
    /// Sets `NOVITA_API_BASE_URL`; trailing slashes are trimmed.
    pub fn api_base_url(mut self, url: impl Into<String>) -> ConfigBuilder {
        let url: String = url.into();
        self.config.api_base_url = url.trim_end_matches('/').to_owned();
        self
    }

    /// Sets `WEBHOOK_URL`.
    pub fn webhook_url(mut self, url: impl Into<String>) -> ConfigBuilder {
        self.config.webhook_url = Some(url.into());
        self
    }

    /// Sets `WEBHOOK_SECRET`.
    pub fn webhook_secret(mut self, secret: impl Into<Secret>) -> ConfigBuilder {
        self.config.webhook_secret = Some(secret.into());
        self
    }

    /// Sets `DEFAULT_REGION` (upper-cased).
    pub fn default_region(mut self, region: impl Into<String>) -> ConfigBuilder {
        let region: String = region.into();
        self.config.default_region = region.to_ascii_uppercase();
        self
    }

    setters! {
        /// Sets `INSTANCE_POLL_INTERVAL` (whole seconds, 10–300 s).
        instance_poll_interval: Duration;
        /// Sets `MAX_RETRY_ATTEMPTS` (1–10).
        max_retry_attempts: u32;
        /// Sets `REQUEST_TIMEOUT` (5–120 s).
        request_timeout: Duration;
        /// Sets `WEBHOOK_TIMEOUT` (1–30 s).
        webhook_timeout: Duration;
        /// Sets `RATE_LIMIT_WINDOW_MS` (1 s – 1 h).
        rate_limit_window: Duration;
        /// Sets `RATE_LIMIT_MAX_REQUESTS` (1–100000).
        rate_limit_max_requests: u32;
        /// Sets `LOG_LEVEL`.
        log_level: LogLevel;
        /// Sets `CACHE_TIMEOUT` (whole seconds, 60–3600 s).
        cache_timeout: Duration;
        /// Sets `CACHE_ENABLED`.
        cache_enabled: bool;
        /// Sets `CIRCUIT_BREAKER_FAILURE_THRESHOLD` (1–100).
        circuit_breaker_failure_threshold: u32;
        /// Sets `CIRCUIT_BREAKER_OPEN_MS` (1 s – 1 h).
        circuit_breaker_open: Duration;
        /// Sets `CIRCUIT_BREAKER_SUCCESS_THRESHOLD` (1–20).
        circuit_breaker_success_threshold: u32;
        /// Sets `RETRY_BASE_DELAY_MS` (100 ms – 60 s).
        retry_base_delay: Duration;
        /// Sets `RETRY_MAX_DELAY_MS` (100 ms – 300 s, at least the base delay).
        retry_max_delay: Duration;
        /// Sets `MAX_CONCURRENT_REQUESTS` (1–256).
        max_concurrent_requests: u32;
        /// Sets `QUEUE_CAPACITY` (1–100000).
        queue_capacity: u32;
        /// Sets `STARTUP_MAX_WAIT` (whole seconds, 30–3600 s).
        startup_max_wait: Duration;
    }

    /// Checks the configuration and returns it.
    ///
    /// # Errors
    ///
    /// [`ConfigErrors`] listing every invalid field, named by its
    /// environment variable.
    pub fn build(self) -> Result<Config, ConfigErrors> {
        // One rule set: write the fields out as variables and read them back
        // (which also normalises URLs and the region).
        Config::from_pairs(self.config.pairs(true))
    }
}

#[cfg(test)]
mod tests;
