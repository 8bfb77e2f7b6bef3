//! What happened to an attempt ([`Outcome`]), and whether it is worth retrying
//! ([`RetryOn`] → [`Classification`]).
//!
//! The defaults follow HTTP semantics and the Novita API: transport failures
//! that say nothing about the request itself (connection refused or reset,
//! DNS, timeout), every 5xx, 408 Request Timeout and 429 Too Many Requests are
//! retryable; every other 4xx is the caller's mistake and retrying cannot fix
//! it; 1xx/2xx/3xx are not failures at all (redirects are not followed by the
//! engine, so a 3xx is an answer, not an error).

use crate::time::Duration;
use alloc::vec::Vec;
use core::fmt;
use serde::{Deserialize, Serialize};

use super::retry_after::{RetryAfter, parse_http_date};
use crate::http::HttpResponse;
use crate::time::UnixTime;

/// Why an attempt failed below HTTP: no status code arrived.
///
/// Used across the project (engine events, adapter errors); its `Display` is a
/// sentence telling the user what to check.
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TransportErrorKind {
    /// Nothing listened at the address (TCP RST on connect).
    ConnectionRefused,
    /// The connection was closed mid-request.
    ConnectionReset,
    /// The host name did not resolve.
    Dns,
    /// No (complete) answer within the attempt's timeout.
    Timeout,
    /// The response body was larger than the configured limit.
    BodyTooLarge,
    /// Anything else (TLS, proxy, malformed response, ...).
    Other,
}

impl TransportErrorKind {
    /// Every kind, in declaration order.
    pub const ALL: [TransportErrorKind; 6] = [
        TransportErrorKind::ConnectionRefused,
        TransportErrorKind::ConnectionReset,
        TransportErrorKind::Dns,
        TransportErrorKind::Timeout,
        TransportErrorKind::BodyTooLarge,
        TransportErrorKind::Other,
    ];

    /// A short stable name (`"connection_refused"`, ...) for logs and metrics.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            TransportErrorKind::ConnectionRefused => "connection_refused",
            TransportErrorKind::ConnectionReset => "connection_reset",
            TransportErrorKind::Dns => "dns",
            TransportErrorKind::Timeout => "timeout",
            TransportErrorKind::BodyTooLarge => "body_too_large",
            TransportErrorKind::Other => "other",
        }
    }

    const fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

impl fmt::Display for TransportErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TransportErrorKind::ConnectionRefused => {
                "the connection was refused: check the base URL and that the server is reachable"
            }
            TransportErrorKind::ConnectionReset => {
                "the connection was reset mid-request: the server or a proxy closed it; \
                 the request may or may not have been processed"
            }
            TransportErrorKind::Dns => {
                "the host name could not be resolved: check the base URL and the network's DNS"
            }
            TransportErrorKind::Timeout => {
                "the request timed out: the server may be overloaded, or the timeout is too short \
                 for this call"
            }
            TransportErrorKind::BodyTooLarge => {
                "the response body exceeded the configured size limit: raise the limit if such \
                 responses are expected"
            }
            TransportErrorKind::Other => {
                "the request failed below HTTP (TLS, proxy or network error): check connectivity, \
                 proxy settings and the base URL"
            }
        })
    }
}

/// What one attempt came back with, as the engine reports it to
/// [`RetryPolicy::next`](super::RetryPolicy::next).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// An HTTP response arrived.
    Status {
        /// The status code.
        code: u16,
        /// The server's `Retry-After`, already resolved to a delay (see
        /// [`Outcome::from_response`]); `None` when absent or malformed, in
        /// which case the policy uses its backoff.
        retry_after: Option<Duration>,
    },
    /// No HTTP response: the attempt failed below HTTP.
    Transport(TransportErrorKind),
}

impl Outcome {
    /// A response with status `code` and no `Retry-After`.
    #[must_use]
    pub const fn status(code: u16) -> Outcome {
        Outcome::Status {
            code,
            retry_after: None,
        }
    }

    /// A transport failure.
    #[must_use]
    pub const fn transport(kind: TransportErrorKind) -> Outcome {
        Outcome::Transport(kind)
    }

    /// A response with status `code` and the raw `Retry-After` header value,
    /// if any. An HTTP-date is turned into a delay from `date`, which should
    /// be the response's own `Date` header when it has one (that cancels any
    /// skew between the server's clock and ours), else the local wall clock.
    /// A malformed header, or an HTTP-date with no `date` to measure from, is
    /// dropped: the policy then falls back to its backoff.
    #[must_use]
    pub fn from_response(code: u16, retry_after: Option<&[u8]>, date: Option<UnixTime>) -> Outcome {
        let retry_after = retry_after
            .and_then(|raw| RetryAfter::parse(raw).ok())
            .and_then(|ra| match ra {
                RetryAfter::Delay(d) => Some(d),
                RetryAfter::At(_) => date.map(|now| ra.delay_from(now)),
            });
        Outcome::Status { code, retry_after }
    }
}

impl Outcome {
    /// The outcome of a received [`HttpResponse`]: its status and its
    /// `Retry-After`, an HTTP-date measured from the response's own `Date`
    /// header when that parses, else from `wall_now` (the local wall clock,
    /// if the caller has one). See [`Outcome::from_response`].
    #[must_use]
    pub fn from_http_response(response: &HttpResponse, wall_now: Option<UnixTime>) -> Outcome {
        let retry_after = response.headers.get("retry-after").map(str::as_bytes);
        // The `Date` header matters only to an HTTP-date Retry-After: most
        // responses have none, so it is not parsed for them.
        let date = match retry_after {
            Some(_) => response
                .headers
                .get("date")
                .and_then(|d| parse_http_date(d.as_bytes()).ok())
                .or(wall_now),
            None => wall_now,
        };
        Outcome::from_response(response.status, retry_after, date)
    }
}

/// How a [`RetryOn`] sees an [`Outcome`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Classification {
    /// Not a failure (1xx, 2xx, 3xx): nothing to retry.
    Success,
    /// A failure that another attempt may fix.
    Retryable,
    /// A failure that another attempt will not fix (e.g. 400, 404).
    NotRetryable,
}

/// A set of HTTP status codes (100..=999), stored as a bitmap; serialises as
/// a sorted list of codes.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(into = "Vec<u16>", from = "Vec<u16>")]
pub struct StatusSet {
    bits: [u64; 16],
}

impl StatusSet {
    /// No codes.
    pub const EMPTY: StatusSet = StatusSet { bits: [0; 16] };

    /// `true` when `code` is in the set (codes over 999 never are).
    #[must_use]
    pub const fn contains(&self, code: u16) -> bool {
        let i = (code / 64) as usize;
        if i >= 16 {
            return false;
        }
        self.bits[i] & (1 << (code % 64)) != 0
    }

    /// Adds `code` (codes over 999 are ignored). Returns the set for chaining.
    #[must_use]
    pub const fn with(mut self, code: u16) -> StatusSet {
        if code <= 999 {
            self.bits[(code / 64) as usize] |= 1 << (code % 64);
        }
        self
    }

    /// Adds every code in `lo..=hi`.
    #[must_use]
    pub const fn with_range(mut self, lo: u16, hi: u16) -> StatusSet {
        let mut c = lo;
        while c <= hi && c <= 999 {
            self = self.with(c);
            c += 1;
        }
        self
    }

    /// Removes `code`.
    #[must_use]
    pub const fn without(mut self, code: u16) -> StatusSet {
        if code <= 999 {
            self.bits[(code / 64) as usize] &= !(1 << (code % 64));
        }
        self
    }

    /// The codes in the set, ascending.
    pub fn iter(&self) -> impl Iterator<Item = u16> + '_ {
        (0..=999u16).filter(|c| self.contains(*c))
    }
}

impl Default for StatusSet {
    /// 408, 429 and 500..=599.
    fn default() -> StatusSet {
        StatusSet::EMPTY.with(408).with(429).with_range(500, 599)
    }
}

impl fmt::Debug for StatusSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

impl From<StatusSet> for Vec<u16> {
    fn from(s: StatusSet) -> Vec<u16> {
        s.iter().collect()
    }
}

impl From<Vec<u16>> for StatusSet {
    fn from(codes: Vec<u16>) -> StatusSet {
        codes.into_iter().fold(StatusSet::EMPTY, StatusSet::with)
    }
}

/// A set of [`TransportErrorKind`]s; serialises as a list of kinds.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(into = "Vec<TransportErrorKind>", from = "Vec<TransportErrorKind>")]
pub struct TransportSet {
    bits: u8,
}

impl TransportSet {
    /// No kinds.
    pub const EMPTY: TransportSet = TransportSet { bits: 0 };

    /// `true` when `kind` is in the set.
    #[must_use]
    pub const fn contains(&self, kind: TransportErrorKind) -> bool {
        self.bits & kind.bit() != 0
    }

    /// Adds `kind`.
    #[must_use]
    pub const fn with(self, kind: TransportErrorKind) -> TransportSet {
        TransportSet {
            bits: self.bits | kind.bit(),
        }
    }

    /// Removes `kind`.
    #[must_use]
    pub const fn without(self, kind: TransportErrorKind) -> TransportSet {
        TransportSet {
            bits: self.bits & !kind.bit(),
        }
    }
}

impl Default for TransportSet {
    /// Connection refused, connection reset, DNS and timeout.
    fn default() -> TransportSet {
        TransportSet::EMPTY
            .with(TransportErrorKind::ConnectionRefused)
            .with(TransportErrorKind::ConnectionReset)
            .with(TransportErrorKind::Dns)
            .with(TransportErrorKind::Timeout)
    }
}

impl fmt::Debug for TransportSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set()
            .entries(
                TransportErrorKind::ALL
                    .iter()
                    .filter(|k| self.contains(**k)),
            )
            .finish()
    }
}

impl From<TransportSet> for Vec<TransportErrorKind> {
    fn from(s: TransportSet) -> Vec<TransportErrorKind> {
        TransportErrorKind::ALL
            .into_iter()
            .filter(|k| s.contains(*k))
            .collect()
    }
}

impl From<Vec<TransportErrorKind>> for TransportSet {
    fn from(kinds: Vec<TransportErrorKind>) -> TransportSet {
        kinds
            .into_iter()
            .fold(TransportSet::EMPTY, TransportSet::with)
    }
}

/// Which failures are worth another attempt.
///
/// Status codes below 400 are never failures, whatever the sets say.
///
/// # Default
///
/// - `statuses`: 408, 429, 500..=599
/// - `transport`: `ConnectionRefused`, `ConnectionReset`, `Dns`, `Timeout`
///   (not `BodyTooLarge`: the same body would come back; not `Other`: TLS and
///   proxy errors rarely heal by themselves)
///
/// Note that retrying a `Timeout` or `ConnectionReset` re-sends a request the
/// server may already have processed: the engine should only retry those for
/// idempotent calls.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(default)]
pub struct RetryOn {
    /// Failure status codes (400 and up) that are retryable.
    pub statuses: StatusSet,
    /// Transport failures that are retryable.
    pub transport: TransportSet,
}

impl RetryOn {
    /// Classifies one outcome.
    #[must_use]
    pub const fn classify(&self, outcome: &Outcome) -> Classification {
        match *outcome {
            Outcome::Status { code, .. } if code < 400 => Classification::Success,
            Outcome::Status { code, .. } => {
                if self.statuses.contains(code) {
                    Classification::Retryable
                } else {
                    Classification::NotRetryable
                }
            }
            Outcome::Transport(kind) => {
                if self.transport.contains(kind) {
                    Classification::Retryable
                } else {
                    Classification::NotRetryable
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;
    use alloc::vec;

    #[test]
    fn defaults_follow_http_semantics() {
        let r = RetryOn::default();
        for code in [200, 201, 204, 301, 304, 100] {
            assert_eq!(
                r.classify(&Outcome::status(code)),
                Classification::Success,
                "{code}"
            );
        }
        for code in [408, 429, 500, 502, 503, 504, 599] {
            assert_eq!(
                r.classify(&Outcome::status(code)),
                Classification::Retryable,
                "{code}"
            );
        }
        for code in [400, 401, 403, 404, 409, 422, 600, 999, u16::MAX] {
            assert_eq!(
                r.classify(&Outcome::status(code)),
                Classification::NotRetryable,
                "{code}"
            );
        }
        use TransportErrorKind::*;
        for k in [ConnectionRefused, ConnectionReset, Dns, Timeout] {
            assert_eq!(
                r.classify(&Outcome::transport(k)),
                Classification::Retryable
            );
        }
        for k in [BodyTooLarge, Other] {
            assert_eq!(
                r.classify(&Outcome::transport(k)),
                Classification::NotRetryable
            );
        }
    }

    #[test]
    fn classification_is_overridable() {
        let r = RetryOn {
            statuses: StatusSet::default().without(501).with(409),
            transport: TransportSet::default().with(TransportErrorKind::Other),
        };
        assert_eq!(
            r.classify(&Outcome::status(501)),
            Classification::NotRetryable
        );
        assert_eq!(r.classify(&Outcome::status(409)), Classification::Retryable);
        assert_eq!(
            r.classify(&Outcome::transport(TransportErrorKind::Other)),
            Classification::Retryable
        );
        // A 2xx in the set is still a success.
        let odd = RetryOn {
            statuses: StatusSet::EMPTY.with(200),
            ..RetryOn::default()
        };
        assert_eq!(odd.classify(&Outcome::status(200)), Classification::Success);
    }

    #[test]
    fn sets_serialise_as_lists() {
        let r = RetryOn {
            statuses: StatusSet::EMPTY.with(429).with(503),
            transport: TransportSet::EMPTY.with(TransportErrorKind::Dns),
        };
        let json = serde_json::to_string(&r).unwrap();
        assert_eq!(json, r#"{"statuses":[429,503],"transport":["dns"]}"#);
        let back: RetryOn = serde_json::from_str(&json).unwrap();
        assert_eq!(back, r);
        let partial: RetryOn = serde_json::from_str(r#"{"statuses":[500, 1000]}"#).unwrap();
        assert_eq!(partial.statuses.iter().collect::<Vec<_>>(), vec![500]);
        assert_eq!(partial.transport, TransportSet::default());
    }

    #[test]
    fn transport_errors_tell_the_user_what_to_check() {
        assert!(
            TransportErrorKind::ConnectionRefused
                .to_string()
                .contains("check the base URL")
        );
        assert!(TransportErrorKind::Dns.to_string().contains("base URL"));
        for k in TransportErrorKind::ALL {
            assert!(k.to_string().len() > 30);
            assert!(!k.as_str().is_empty());
        }
    }

    #[test]
    fn outcome_from_response_resolves_or_drops_retry_after() {
        assert_eq!(
            Outcome::from_response(429, Some(b"7"), None),
            Outcome::Status {
                code: 429,
                retry_after: Some(Duration::from_secs(7))
            }
        );
        // 1994-11-06T08:49:37Z = 784111777; ten seconds before it.
        let date = Some(UnixTime::from_secs(784_111_767));
        assert_eq!(
            Outcome::from_response(503, Some(b"Sun, 06 Nov 1994 08:49:37 GMT"), date),
            Outcome::Status {
                code: 503,
                retry_after: Some(Duration::from_secs(10))
            }
        );
        // An HTTP-date with nothing to measure from, and junk, are dropped.
        assert_eq!(
            Outcome::from_response(503, Some(b"Sun, 06 Nov 1994 08:49:37 GMT"), None),
            Outcome::status(503)
        );
        assert_eq!(
            Outcome::from_response(503, Some(b"soon"), date),
            Outcome::status(503)
        );
        assert_eq!(
            Outcome::from_response(503, None, date),
            Outcome::status(503)
        );
    }

    #[test]
    fn outcome_from_http_response_reads_the_headers() {
        let mut r = HttpResponse::new(503, "busy");
        r.headers
            .set("Retry-After", "Sun, 06 Nov 1994 08:49:37 GMT");
        r.headers.set("Date", "Sun, 06 Nov 1994 08:49:07 GMT");
        // The server's own Date wins over a skewed local clock.
        assert_eq!(
            Outcome::from_http_response(&r, Some(UnixTime::from_secs(0))),
            Outcome::Status {
                code: 503,
                retry_after: Some(Duration::from_secs(30))
            }
        );
        r.headers.remove("Date");
        assert_eq!(
            Outcome::from_http_response(&r, Some(UnixTime::from_secs(784_111_767))),
            Outcome::Status {
                code: 503,
                retry_after: Some(Duration::from_secs(10))
            }
        );
        assert_eq!(Outcome::from_http_response(&r, None), Outcome::status(503));
        let mut r = HttpResponse::new(429, "");
        r.headers.set("retry-after", "7");
        assert_eq!(
            Outcome::from_http_response(&r, None),
            Outcome::Status {
                code: 429,
                retry_after: Some(Duration::from_secs(7))
            }
        );
    }
}
