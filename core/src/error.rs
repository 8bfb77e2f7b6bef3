//! The one error a caller of the Novita API sees.
//!
//! The engine reports how a request ended ([`Completion`]); the API layer
//! parses answers ([`ApiError`]). [`Error`] joins them into one typed error
//! whose `Display` is a sentence a user can act on — covering the Node
//! client's troubleshooting list: connection refused (check the base URL),
//! timeouts, 429 (and when to come back), 401 (check `NOVITA_API_KEY`), and an
//! open circuit breaker (until when).

use core::fmt;

use crate::api::products::NoProductError;
use crate::api::validate::ValidationErrors;
use crate::api::{ApiError, Endpoint};
use crate::engine::{Completed, Completion, Failure, Rejected};
use crate::retry::TransportErrorKind;
use crate::time::{Duration, Instant};

/// Why a call to the Novita API did not produce a result.
#[derive(Clone, Debug, PartialEq)]
pub enum Error {
    /// The server answered with an error that retrying will not fix (400,
    /// 401, 403, 404, ...), or a success body that could not be read.
    Api(ApiError),
    /// The request was invalid and was not sent; every problem is listed.
    Validation(ValidationErrors),
    /// Every attempt failed with a retryable error, or retrying stopped.
    GaveUp {
        /// What the last attempt got.
        last: LastFailure,
        /// Attempts made.
        attempts: u32,
    },
    /// The circuit breaker is open after repeated failures; nothing was sent.
    BreakerOpen {
        /// When it lets a trial request through ([`Instant::MAX`]: held open
        /// by hand).
        until: Instant,
        /// How long from the moment of the error that is.
        retry_in: Duration,
    },
    /// The client's queue was full.
    QueueFull,
    /// The request's deadline passed.
    DeadlineExceeded,
    /// The request was cancelled (or the client shut down).
    Cancelled,
    /// The client refused the request outright.
    Rejected(Rejected),
    /// The product list arrived, but no product matched the search
    /// ([`crate::api::products::choose_product`]).
    NoProduct(NoProductError),
}

/// The last failure of a request that gave up.
#[derive(Clone, Debug, PartialEq)]
pub enum LastFailure {
    /// An error answer (5xx, 429, 408).
    Api(ApiError),
    /// No answer: connection refused, reset, DNS, timeout, ...
    Transport(TransportErrorKind),
}

impl Error {
    /// Reads a completed request as the result of `endpoint`.
    ///
    /// # Errors
    /// Anything but a successful, readable answer.
    pub fn result_of<E: Endpoint>(endpoint: &E, done: &Completed) -> Result<E::Output, Error> {
        match &done.outcome {
            Completion::Ok(response) => endpoint.parse(response).map_err(Error::Api),
            Completion::GaveUp { last, attempts } => Err(Error::GaveUp {
                last: match last {
                    Failure::Status(r) => LastFailure::Api(ApiError::from_response(r)),
                    Failure::Transport(k) => LastFailure::Transport(*k),
                },
                attempts: *attempts,
            }),
            Completion::BreakerOpen { until } => Err(Error::BreakerOpen {
                until: *until,
                retry_in: until.saturating_duration_since(done.completed_at),
            }),
            Completion::QueueFull => Err(Error::QueueFull),
            Completion::DeadlineExceeded => Err(Error::DeadlineExceeded),
            Completion::Cancelled => Err(Error::Cancelled),
        }
    }

    /// A short stable label for metrics and exit codes (`"api"`,
    /// `"timeout"`, `"breaker_open"`, ...).
    #[must_use]
    pub fn label(&self) -> &'static str {
        match self {
            Error::Api(_) => "api",
            Error::Validation(_) => "validation",
            Error::GaveUp {
                last: LastFailure::Transport(TransportErrorKind::Timeout),
                ..
            }
            | Error::DeadlineExceeded => "timeout",
            Error::GaveUp { .. } => "gave_up",
            Error::BreakerOpen { .. } => "breaker_open",
            Error::QueueFull => "queue_full",
            Error::Cancelled => "cancelled",
            Error::Rejected(_) => "rejected",
            Error::NoProduct(_) => "no_product",
        }
    }

    /// `true` when the same call may succeed later without any change
    /// (outage, rate limit, timeout, open breaker, full queue).
    #[must_use]
    pub fn is_transient(&self) -> bool {
        match self {
            Error::Api(e) => e.is_retryable(),
            Error::GaveUp { .. }
            | Error::BreakerOpen { .. }
            | Error::QueueFull
            | Error::DeadlineExceeded => true,
            Error::Validation(_) | Error::Cancelled | Error::Rejected(_) => false,
            // Capacity comes and goes: the same search may succeed later.
            Error::NoProduct(_) => true,
        }
    }
}

impl fmt::Display for LastFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LastFailure::Api(e) => write!(f, "{e}"),
            LastFailure::Transport(k) => write!(f, "{k}"),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Api(e) => write!(f, "{e}"),
            Error::Validation(v) => write!(f, "the request was not sent: {v}"),
            Error::GaveUp { last, attempts } => {
                write!(f, "gave up after {attempts} attempt")?;
                if *attempts != 1 {
                    f.write_str("s")?;
                }
                write!(f, ": {last}")
            }
            Error::BreakerOpen { until, retry_in } => {
                if *until == Instant::MAX {
                    f.write_str(
                        "the circuit breaker is held open by hand; reset it to send requests again",
                    )
                } else {
                    write!(
                        f,
                        "the Novita API failed repeatedly, so the circuit breaker is open: \
                         no request is sent for {retry_in}; wait, or check the service's status"
                    )
                }
            }
            Error::QueueFull => f.write_str(
                "the client's request queue is full; slow down, or raise QUEUE_CAPACITY",
            ),
            Error::DeadlineExceeded => f.write_str(
                "the request's deadline passed before it completed; the API may be slow or \
                 rate-limiting — try again later or allow more time",
            ),
            Error::Cancelled => f.write_str("the request was cancelled"),
            Error::Rejected(r) => write!(f, "{r}"),
            Error::NoProduct(e) => write!(f, "{e}"),
        }
    }
}

impl core::error::Error for Error {}

impl From<ApiError> for Error {
    fn from(e: ApiError) -> Error {
        Error::Api(e)
    }
}

impl From<ValidationErrors> for Error {
    fn from(e: ValidationErrors) -> Error {
        Error::Validation(e)
    }
}

impl From<NoProductError> for Error {
    fn from(e: NoProductError) -> Error {
        Error::NoProduct(e)
    }
}

impl From<Rejected> for Error {
    fn from(e: Rejected) -> Error {
        Error::Rejected(e)
    }
}
