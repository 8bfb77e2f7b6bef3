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

// ---------------------------------------------------------------------------
// The table of variables
// ---------------------------------------------------------------------------

/// The unit of a numeric variable.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Unit {
    /// Whole seconds.
    Seconds,
    /// Whole milliseconds.
    Milliseconds,
    /// A plain count (attempts, requests, slots).
    Count,
}

impl Unit {
    /// The unit as a word to put after a number (`""` for counts).
    #[must_use]
    pub const fn suffix(self) -> &'static str {
        match self {
            Unit::Seconds => " seconds",
            Unit::Milliseconds => " milliseconds",
            Unit::Count => "",
        }
    }
}

/// What kind of value a variable holds, and therefore how it is checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum VarKind {
    /// A secret: at least `min_chars` characters, no whitespace or control
    /// characters. With `whsec` set, a value starting with `whsec_` must be
    /// followed by standard base64 (padding optional). Shown masked in errors.
    Secret {
        /// The fewest characters accepted.
        min_chars: usize,
        /// Whether the Standard Webhooks `whsec_<base64>` form is checked.
        whsec: bool,
    },
    /// An absolute `http://` or `https://` URL with a host, without
    /// credentials or whitespace. With `base` set, also without query or
    /// fragment (paths are appended to it), and trailing slashes are trimmed.
    Url {
        /// Whether this is a base URL that paths get appended to.
        base: bool,
    },
    /// A whole number (digits only) between `min` and `max` inclusive.
    Number {
        /// The smallest value accepted.
        min: u64,
        /// The largest value accepted.
        max: u64,
        /// The unit the number is written in.
        unit: Unit,
    },
    /// A boolean: `true`/`false`, `1`/`0`, `yes`/`no` (any case).
    Bool,
    /// A [`LogLevel`]: `error`, `warn`, `info` or `debug` (any case).
    LogLevel,
    /// A Novita region id such as `CN-HK-01`: 1–32 ASCII letters, digits,
    /// `-` or `_`; stored upper-cased.
    Region,
}

/// One configuration variable: its name, default, allowed range and meaning.
///
/// The whole set is [`VARS`]; a CLI can print it as help.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct VarSpec {
    /// The variable's name, e.g. `REQUEST_TIMEOUT`.
    pub name: &'static str,
    /// Whether the configuration is invalid without it.
    pub required: bool,
    /// The value used when the variable is unset (`None`: required, or
    /// optional and off when unset).
    pub default: Option<&'static str>,
    /// The allowed values, for people: e.g. `5000–120000 milliseconds`.
    pub range: &'static str,
    /// What the variable does.
    pub description: &'static str,
    /// How the value is parsed and checked.
    pub kind: VarKind,
}

const fn num(
    name: &'static str,
    default: &'static str,
    min: u64,
    max: u64,
    unit: Unit,
    range: &'static str,
    description: &'static str,
) -> VarSpec {
    VarSpec {
        name,
        required: false,
        default: Some(default),
        range,
        description,
        kind: VarKind::Number { min, max, unit },
    }
}

const API_KEY: VarSpec = VarSpec {
    name: "NOVITA_API_KEY",
    required: true,
    default: None,
    range: "at least 10 characters, no whitespace",
    description: "Your Novita API key (sent as a Bearer token; never logged).",
    kind: VarKind::Secret {
        min_chars: 10,
        whsec: false,
    },
};
const API_BASE_URL: VarSpec = VarSpec {
    name: "NOVITA_API_BASE_URL",
    required: false,
    default: Some("https://api.novita.ai/gpu-instance/openapi"),
    range: "http:// or https:// URL with a host, no query or fragment",
    description: "Base URL of the Novita GPU-instance API; trailing slashes are trimmed.",
    kind: VarKind::Url { base: true },
};
const WEBHOOK_URL: VarSpec = VarSpec {
    name: "WEBHOOK_URL",
    required: false,
    default: None,
    range: "http:// or https:// URL with a host",
    description: "Where instance notifications are POSTed; unset means no notifications.",
    kind: VarKind::Url { base: false },
};
const WEBHOOK_SECRET: VarSpec = VarSpec {
    name: "WEBHOOK_SECRET",
    required: false,
    default: None,
    range: "at least 8 characters, no whitespace; whsec_<base64> accepted",
    description: "Key that signs outgoing webhooks; unset means unsigned webhooks.",
    kind: VarKind::Secret {
        min_chars: 8,
        whsec: true,
    },
};
const INSTANCE_POLL_INTERVAL: VarSpec = num(
    "INSTANCE_POLL_INTERVAL",
    "30",
    10,
    300,
    Unit::Seconds,
    "10–300 seconds",
    "How often a starting instance is polled.",
);
const MAX_RETRY_ATTEMPTS: VarSpec = num(
    "MAX_RETRY_ATTEMPTS",
    "3",
    1,
    10,
    Unit::Count,
    "1–10",
    "Attempts per API request, the first one included (1 = never retry).",
);
const REQUEST_TIMEOUT: VarSpec = num(
    "REQUEST_TIMEOUT",
    "30000",
    5000,
    120_000,
    Unit::Milliseconds,
    "5000–120000 milliseconds",
    "Timeout of one API request attempt.",
);
const WEBHOOK_TIMEOUT: VarSpec = num(
    "WEBHOOK_TIMEOUT",
    "10000",
    1000,
    30_000,
    Unit::Milliseconds,
    "1000–30000 milliseconds",
    "Timeout of one webhook delivery attempt.",
);
const RATE_LIMIT_WINDOW_MS: VarSpec = num(
    "RATE_LIMIT_WINDOW_MS",
    "60000",
    1000,
    3_600_000,
    Unit::Milliseconds,
    "1000–3600000 milliseconds",
    "Window of the client-side rate limiter.",
);
const RATE_LIMIT_MAX_REQUESTS: VarSpec = num(
    "RATE_LIMIT_MAX_REQUESTS",
    "100",
    1,
    100_000,
    Unit::Count,
    "1–100000",
    "Requests the client-side rate limiter allows per window.",
);
const LOG_LEVEL: VarSpec = VarSpec {
    name: "LOG_LEVEL",
    required: false,
    default: Some("info"),
    range: "error, warn, info or debug (any case)",
    description: "How much the adapters log.",
    kind: VarKind::LogLevel,
};
const DEFAULT_REGION: VarSpec = VarSpec {
    name: "DEFAULT_REGION",
    required: false,
    default: Some("CN-HK-01"),
    range: "1–32 letters, digits, - or _ (stored upper-case)",
    description: "Region tried first when choosing a product.",
    kind: VarKind::Region,
};
const CACHE_TIMEOUT: VarSpec = num(
    "CACHE_TIMEOUT",
    "300",
    60,
    3600,
    Unit::Seconds,
    "60–3600 seconds",
    "How long cached product and template lists stay fresh.",
);
const CACHE_ENABLED: VarSpec = VarSpec {
    name: "CACHE_ENABLED",
    required: false,
    default: Some("false"),
    range: "true/false, 1/0, yes/no",
    description: "Whether product and template lists are cached.",
    kind: VarKind::Bool,
};
const CIRCUIT_BREAKER_FAILURE_THRESHOLD: VarSpec = num(
    "CIRCUIT_BREAKER_FAILURE_THRESHOLD",
    "5",
    1,
    100,
    Unit::Count,
    "1–100",
    "Consecutive failures that open the circuit breaker.",
);
const CIRCUIT_BREAKER_OPEN_MS: VarSpec = num(
    "CIRCUIT_BREAKER_OPEN_MS",
    "60000",
    1000,
    3_600_000,
    Unit::Milliseconds,
    "1000–3600000 milliseconds",
    "How long the breaker stays open before letting a probe through.",
);
const CIRCUIT_BREAKER_SUCCESS_THRESHOLD: VarSpec = num(
    "CIRCUIT_BREAKER_SUCCESS_THRESHOLD",
    "3",
    1,
    20,
    Unit::Count,
    "1–20",
    "Successful half-open probes that close the breaker again.",
);
const RETRY_BASE_DELAY_MS: VarSpec = num(
    "RETRY_BASE_DELAY_MS",
    "1000",
    100,
    60_000,
    Unit::Milliseconds,
    "100–60000 milliseconds",
    "Delay before the first retry; doubles on each further retry.",
);
const RETRY_MAX_DELAY_MS: VarSpec = num(
    "RETRY_MAX_DELAY_MS",
    "30000",
    100,
    300_000,
    Unit::Milliseconds,
    "100–300000 milliseconds, and at least RETRY_BASE_DELAY_MS",
    "Cap on the delay between retries.",
);
const MAX_CONCURRENT_REQUESTS: VarSpec = num(
    "MAX_CONCURRENT_REQUESTS",
    "8",
    1,
    256,
    Unit::Count,
    "1–256",
    "API requests in flight at once.",
);
const QUEUE_CAPACITY: VarSpec = num(
    "QUEUE_CAPACITY",
    "1000",
    1,
    100_000,
    Unit::Count,
    "1–100000",
    "Requests that may wait in the queue; more are rejected at once.",
);
const STARTUP_MAX_WAIT: VarSpec = num(
    "STARTUP_MAX_WAIT",
    "300",
    30,
    3600,
    Unit::Seconds,
    "30–3600 seconds",
    "How long starting an instance may take before it counts as timed out.",
);

/// Every configuration variable, in the order problems are reported.
///
/// | variable | default | allowed |
/// |---|---|---|
/// | `NOVITA_API_KEY` | required | at least 10 characters, no whitespace |
/// | `NOVITA_API_BASE_URL` | `https://api.novita.ai/gpu-instance/openapi` | http(s) URL, no query or fragment |
/// | `WEBHOOK_URL` | unset (no webhooks) | http(s) URL |
/// | `WEBHOOK_SECRET` | unset (unsigned) | at least 8 characters; `whsec_<base64>` accepted |
/// | `INSTANCE_POLL_INTERVAL` | `30` | 10–300 seconds |
/// | `MAX_RETRY_ATTEMPTS` | `3` | 1–10 |
/// | `REQUEST_TIMEOUT` | `30000` | 5000–120000 milliseconds |
/// | `WEBHOOK_TIMEOUT` | `10000` | 1000–30000 milliseconds |
/// | `RATE_LIMIT_WINDOW_MS` | `60000` | 1000–3600000 milliseconds |
/// | `RATE_LIMIT_MAX_REQUESTS` | `100` | 1–100000 |
/// | `LOG_LEVEL` | `info` | error, warn, info, debug |
/// | `DEFAULT_REGION` | `CN-HK-01` | 1–32 letters, digits, `-`, `_` |
/// | `CACHE_TIMEOUT` | `300` | 60–3600 seconds |
/// | `CACHE_ENABLED` | `false` | true/false, 1/0, yes/no |
/// | `CIRCUIT_BREAKER_FAILURE_THRESHOLD` | `5` | 1–100 |
/// | `CIRCUIT_BREAKER_OPEN_MS` | `60000` | 1000–3600000 milliseconds |
/// | `CIRCUIT_BREAKER_SUCCESS_THRESHOLD` | `3` | 1–20 |
/// | `RETRY_BASE_DELAY_MS` | `1000` | 100–60000 milliseconds |
/// | `RETRY_MAX_DELAY_MS` | `30000` | 100–300000 milliseconds, ≥ `RETRY_BASE_DELAY_MS` |
/// | `MAX_CONCURRENT_REQUESTS` | `8` | 1–256 |
/// | `QUEUE_CAPACITY` | `1000` | 1–100000 |
/// | `STARTUP_MAX_WAIT` | `300` | 30–3600 seconds |
pub const VARS: &[VarSpec] = &[
    API_KEY,
    API_BASE_URL,
    WEBHOOK_URL,
    WEBHOOK_SECRET,
    INSTANCE_POLL_INTERVAL,
    MAX_RETRY_ATTEMPTS,
    REQUEST_TIMEOUT,
    WEBHOOK_TIMEOUT,
    RATE_LIMIT_WINDOW_MS,
    RATE_LIMIT_MAX_REQUESTS,
    LOG_LEVEL,
    DEFAULT_REGION,
    CACHE_TIMEOUT,
    CACHE_ENABLED,
    CIRCUIT_BREAKER_FAILURE_THRESHOLD,
    CIRCUIT_BREAKER_OPEN_MS,
    CIRCUIT_BREAKER_SUCCESS_THRESHOLD,
    RETRY_BASE_DELAY_MS,
    RETRY_MAX_DELAY_MS,
    MAX_CONCURRENT_REQUESTS,
    QUEUE_CAPACITY,
    STARTUP_MAX_WAIT,
];

/// The [`VarSpec`] of the variable called `name`, if there is one.
#[must_use]
pub fn var_spec(name: &str) -> Option<&'static VarSpec> {
    VARS.iter().find(|s| s.name == name)
}

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
// Parsing
// ---------------------------------------------------------------------------

/// The value as it may appear in an error message: control characters
/// escaped, at most 64 characters.
fn shown(value: &str) -> String {
    const MAX: usize = 64;
    let mut out = String::new();
    for (i, c) in value.chars().enumerate() {
        if i == MAX {
            out.push('…');
            break;
        }
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

enum NumError {
    NotANumber,
    TooBig,
}

/// Digits only; no sign, no spaces, no decimal point. Never panics.
fn parse_u64(s: &str) -> Result<u64, NumError> {
    if s.is_empty() {
        return Err(NumError::NotANumber);
    }
    let mut n: u64 = 0;
    let mut overflow = false;
    for b in s.bytes() {
        if !b.is_ascii_digit() {
            return Err(NumError::NotANumber);
        }
        match n
            .checked_mul(10)
            .and_then(|n| n.checked_add(u64::from(b - b'0')))
        {
            Some(v) => n = v,
            None => overflow = true,
        }
    }
    if overflow {
        Err(NumError::TooBig)
    } else {
        Ok(n)
    }
}

fn parse_bool(s: &str) -> Option<bool> {
    const TRUE: [&str; 3] = ["true", "1", "yes"];
    const FALSE: [&str; 3] = ["false", "0", "no"];
    if TRUE.iter().any(|t| t.eq_ignore_ascii_case(s)) {
        Some(true)
    } else if FALSE.iter().any(|t| t.eq_ignore_ascii_case(s)) {
        Some(false)
    } else {
        None
    }
}

fn has_space_or_control(s: &str) -> bool {
    s.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// Standard base64 (`A–Z a–z 0–9 + /`), padding optional, canonical trailing
/// bits, at least one byte.
fn is_base64(s: &str) -> bool {
    fn val(b: u8) -> Option<u8> {
        match b {
            b'A'..=b'Z' => Some(b - b'A'),
            b'a'..=b'z' => Some(b - b'a' + 26),
            b'0'..=b'9' => Some(b - b'0' + 52),
            b'+' => Some(62),
            b'/' => Some(63),
            _ => None,
        }
    }
    let body = s.trim_end_matches('=');
    let pad = s.len().saturating_sub(body.len());
    let mut last = 0;
    for b in body.bytes() {
        match val(b) {
            Some(v) => last = v,
            None => return false,
        }
    }
    match body.len() % 4 {
        0 => !body.is_empty() && pad == 0,
        2 => (pad == 0 || pad == 2) && last & 0x0F == 0,
        3 => (pad == 0 || pad == 1) && last & 0x03 == 0,
        _ => false,
    }
}

/// Checks a secret; `Err` is the problem text.
fn check_secret(value: &str, min_chars: usize, whsec: bool) -> Result<(), String> {
    if has_space_or_control(value) {
        return Err("must not contain whitespace or control characters".to_owned());
    }
    if value.chars().count() < min_chars {
        return Err(format!("must be at least {min_chars} characters long"));
    }
    if whsec
        && let Some(b64) = value.strip_prefix("whsec_")
        && !is_base64(b64)
    {
        return Err(
            "starts with whsec_ but the rest is not valid base64 (A-Z a-z 0-9 + /, optional = padding)"
                .to_owned(),
        );
    }
    Ok(())
}

/// Checks an http(s) URL and returns its normalised form (as the `url` crate
/// serialises it; trailing slashes trimmed for a base URL).
fn check_url(value: &str, base: bool) -> Result<String, String> {
    const WANT: &str = "must be an http:// or https:// URL with a host";
    if has_space_or_control(value) || value.contains('\\') {
        return Err(format!(
            "{WANT}, without whitespace, control characters or backslashes"
        ));
    }
    let lower_prefix = |p: &str| {
        value
            .get(..p.len())
            .is_some_and(|head| head.eq_ignore_ascii_case(p))
    };
    // The WHATWG parser would read `http:///x` as host `x`: insist on a host
    // right after `//`.
    let after_scheme = value.split_once("://").map_or("", |(_, rest)| rest);
    if !(lower_prefix("http://") || lower_prefix("https://"))
        || after_scheme.starts_with(['/', '?', '#'])
        || after_scheme.is_empty()
    {
        return Err(WANT.to_owned());
    }
    let url = url::Url::parse(value).map_err(|e| format!("{WANT} ({e})"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none_or(str::is_empty) {
        return Err(WANT.to_owned());
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("must not contain credentials (user:password@)".to_owned());
    }
    if base && (url.query().is_some() || url.fragment().is_some()) {
        return Err(format!(
            "{WANT}, without query (?) or fragment (#): paths are appended to it"
        ));
    }
    let s = url.as_str();
    Ok(if base { s.trim_end_matches('/') } else { s }.to_owned())
}

fn check_region(value: &str) -> Result<String, String> {
    let ok = (1..=32).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(value.to_ascii_uppercase())
    } else {
        Err("must be a region id like CN-HK-01: 1 to 32 letters, digits, - or _".to_owned())
    }
}

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
