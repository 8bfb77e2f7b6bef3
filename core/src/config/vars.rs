//! The table of configuration variables: one [`VarSpec`] per variable.
//!
//! Parsing, validation, `Config::new`'s defaults and a CLI's help text all come
//! from [`VARS`].

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
    /// A [`LogLevel`](super::LogLevel): `error`, `warn`, `info` or `debug` (any case).
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

pub(super) const API_KEY: VarSpec = VarSpec {
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
pub(super) const API_BASE_URL: VarSpec = VarSpec {
    name: "NOVITA_API_BASE_URL",
    required: false,
    default: Some("https://api.novita.ai/gpu-instance/openapi"),
    range: "http:// or https:// URL with a host, no query or fragment",
    description: "Base URL of the Novita GPU-instance API; trailing slashes are trimmed.",
    kind: VarKind::Url { base: true },
};
pub(super) const WEBHOOK_URL: VarSpec = VarSpec {
    name: "WEBHOOK_URL",
    required: false,
    default: None,
    range: "http:// or https:// URL with a host",
    description: "Where instance notifications are POSTed; unset means no notifications.",
    kind: VarKind::Url { base: false },
};
pub(super) const WEBHOOK_SECRET: VarSpec = VarSpec {
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
pub(super) const INSTANCE_POLL_INTERVAL: VarSpec = num(
    "INSTANCE_POLL_INTERVAL",
    "30",
    10,
    300,
    Unit::Seconds,
    "10–300 seconds",
    "How often a starting instance is polled.",
);
pub(super) const MAX_RETRY_ATTEMPTS: VarSpec = num(
    "MAX_RETRY_ATTEMPTS",
    "3",
    1,
    10,
    Unit::Count,
    "1–10",
    "Attempts per API request, the first one included (1 = never retry).",
);
pub(super) const REQUEST_TIMEOUT: VarSpec = num(
    "REQUEST_TIMEOUT",
    "30000",
    5000,
    120_000,
    Unit::Milliseconds,
    "5000–120000 milliseconds",
    "Timeout of one API request attempt.",
);
pub(super) const WEBHOOK_TIMEOUT: VarSpec = num(
    "WEBHOOK_TIMEOUT",
    "10000",
    1000,
    30_000,
    Unit::Milliseconds,
    "1000–30000 milliseconds",
    "Timeout of one webhook delivery attempt.",
);
pub(super) const RATE_LIMIT_WINDOW_MS: VarSpec = num(
    "RATE_LIMIT_WINDOW_MS",
    "60000",
    1000,
    3_600_000,
    Unit::Milliseconds,
    "1000–3600000 milliseconds",
    "Window of the client-side rate limiter.",
);
pub(super) const RATE_LIMIT_MAX_REQUESTS: VarSpec = num(
    "RATE_LIMIT_MAX_REQUESTS",
    "100",
    1,
    100_000,
    Unit::Count,
    "1–100000",
    "Requests the client-side rate limiter allows per window.",
);
pub(super) const LOG_LEVEL: VarSpec = VarSpec {
    name: "LOG_LEVEL",
    required: false,
    default: Some("info"),
    range: "error, warn, info or debug (any case)",
    description: "How much the adapters log.",
    kind: VarKind::LogLevel,
};
pub(super) const DEFAULT_REGION: VarSpec = VarSpec {
    name: "DEFAULT_REGION",
    required: false,
    default: Some("CN-HK-01"),
    range: "1–32 letters, digits, - or _ (stored upper-case)",
    description: "Region tried first when choosing a product.",
    kind: VarKind::Region,
};
pub(super) const CACHE_TIMEOUT: VarSpec = num(
    "CACHE_TIMEOUT",
    "300",
    60,
    3600,
    Unit::Seconds,
    "60–3600 seconds",
    "How long cached product and template lists stay fresh.",
);
pub(super) const CACHE_ENABLED: VarSpec = VarSpec {
    name: "CACHE_ENABLED",
    required: false,
    default: Some("false"),
    range: "true/false, 1/0, yes/no",
    description: "Whether product and template lists are cached.",
    kind: VarKind::Bool,
};
pub(super) const CIRCUIT_BREAKER_FAILURE_THRESHOLD: VarSpec = num(
    "CIRCUIT_BREAKER_FAILURE_THRESHOLD",
    "5",
    1,
    100,
    Unit::Count,
    "1–100",
    "Consecutive failures that open the circuit breaker.",
);
pub(super) const CIRCUIT_BREAKER_OPEN_MS: VarSpec = num(
    "CIRCUIT_BREAKER_OPEN_MS",
    "60000",
    1000,
    3_600_000,
    Unit::Milliseconds,
    "1000–3600000 milliseconds",
    "How long the breaker stays open before letting a probe through.",
);
pub(super) const CIRCUIT_BREAKER_SUCCESS_THRESHOLD: VarSpec = num(
    "CIRCUIT_BREAKER_SUCCESS_THRESHOLD",
    "3",
    1,
    20,
    Unit::Count,
    "1–20",
    "Successful half-open probes that close the breaker again.",
);
pub(super) const RETRY_BASE_DELAY_MS: VarSpec = num(
    "RETRY_BASE_DELAY_MS",
    "1000",
    100,
    60_000,
    Unit::Milliseconds,
    "100–60000 milliseconds",
    "Delay before the first retry; doubles on each further retry.",
);
pub(super) const RETRY_MAX_DELAY_MS: VarSpec = num(
    "RETRY_MAX_DELAY_MS",
    "30000",
    100,
    300_000,
    Unit::Milliseconds,
    "100–300000 milliseconds, and at least RETRY_BASE_DELAY_MS",
    "Cap on the delay between retries.",
);
pub(super) const MAX_CONCURRENT_REQUESTS: VarSpec = num(
    "MAX_CONCURRENT_REQUESTS",
    "8",
    1,
    256,
    Unit::Count,
    "1–256",
    "API requests in flight at once.",
);
pub(super) const QUEUE_CAPACITY: VarSpec = num(
    "QUEUE_CAPACITY",
    "1000",
    1,
    100_000,
    Unit::Count,
    "1–100000",
    "Requests that may wait in the queue; more are rejected at once.",
);
pub(super) const STARTUP_MAX_WAIT: VarSpec = num(
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
