//! [`ApiError`]: every way a Novita call can fail once a response has arrived.
//!
//! The error body shape is not documented consistently; seen so far are
//! `{"message": ...}`, `{"code": ..., "reason": ..., "message": ...}` and
//! `{"error": ...}` (a string or an object with the same fields), plus non-JSON
//! and empty bodies from gateways. All of them become one [`ApiError`] that keeps
//! the status, code, reason, message, the `Retry-After` header and the first
//! [`RAW_BODY_LIMIT`] bytes of the body, classified into an [`ApiErrorKind`].

use alloc::boxed::Box;
use alloc::string::{String, ToString};
use core::fmt;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::lenient;
use crate::http::HttpResponse;

/// How many bytes of a response body an [`ApiError`] keeps.
pub const RAW_BODY_LIMIT: usize = 512;

/// What kind of failure an [`ApiError`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ApiErrorKind {
    /// 401: the API key is missing or wrong.
    Unauthorized,
    /// 403: no permission, or a quota is exhausted.
    Forbidden,
    /// 404: the resource does not exist.
    NotFound,
    /// 429: too many requests; see [`ApiError::retry_after`].
    RateLimited,
    /// 400 `VALIDATOR_PARAM`: the server rejected a parameter.
    Validation,
    /// 400 "invalid state change": e.g. starting an instance that cannot start now.
    InvalidStateChange,
    /// 400 `INSUFFICIENT_RESOURCE`: no capacity for the product right now.
    InsufficientResource,
    /// 400 `MIGRATE_INSUFFICIENT_RESOURCE`: no capacity to migrate the instance to.
    MigrateInsufficientResource,
    /// 400 `BALANCE_NOT_ENOUGH`: the account balance is too low.
    BalanceNotEnough,
    /// 400 `RESOURCE_NOT_FOUND`.
    ResourceNotFound,
    /// 400 `TEMPLATE_NOT_FOUND`.
    TemplateNotFound,
    /// 400 `CONFLICT`.
    Conflict,
    /// 400 `OPERATION_LIMIT`: too many operations of this kind.
    OperationLimit,
    /// 400 `CREATE_INSTANCE_LIMIT`: the account may not create more instances.
    CreateInstanceLimit,
    /// Another 400 (or other 4xx) the client does not recognise.
    BadRequest,
    /// 5xx: server or gateway trouble.
    Server,
    /// A 2xx response whose body could not be read as the expected shape.
    Decode,
    /// Any other status (1xx, 3xx, ...).
    Unexpected,
}

/// Named 400 errors, in the order they are matched (longer names first so
/// `MIGRATE_INSUFFICIENT_RESOURCE` is not taken for `INSUFFICIENT_RESOURCE`).
const NAMED: &[(&str, ApiErrorKind)] = &[
    ("VALIDATOR_PARAM", ApiErrorKind::Validation),
    (
        "MIGRATE_INSUFFICIENT_RESOURCE",
        ApiErrorKind::MigrateInsufficientResource,
    ),
    ("INSUFFICIENT_RESOURCE", ApiErrorKind::InsufficientResource),
    ("BALANCE_NOT_ENOUGH", ApiErrorKind::BalanceNotEnough),
    ("CREATE_INSTANCE_LIMIT", ApiErrorKind::CreateInstanceLimit),
    ("OPERATION_LIMIT", ApiErrorKind::OperationLimit),
    ("TEMPLATE_NOT_FOUND", ApiErrorKind::TemplateNotFound),
    ("RESOURCE_NOT_FOUND", ApiErrorKind::ResourceNotFound),
    ("CONFLICT", ApiErrorKind::Conflict),
];

impl ApiErrorKind {
    /// A short stable name (`"unauthorized"`, `"rate_limited"`, ...), for logs
    /// and metrics.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            ApiErrorKind::Unauthorized => "unauthorized",
            ApiErrorKind::Forbidden => "forbidden",
            ApiErrorKind::NotFound => "not_found",
            ApiErrorKind::RateLimited => "rate_limited",
            ApiErrorKind::Validation => "validation",
            ApiErrorKind::InvalidStateChange => "invalid_state_change",
            ApiErrorKind::InsufficientResource => "insufficient_resource",
            ApiErrorKind::MigrateInsufficientResource => "migrate_insufficient_resource",
            ApiErrorKind::BalanceNotEnough => "balance_not_enough",
            ApiErrorKind::ResourceNotFound => "resource_not_found",
            ApiErrorKind::TemplateNotFound => "template_not_found",
            ApiErrorKind::Conflict => "conflict",
            ApiErrorKind::OperationLimit => "operation_limit",
            ApiErrorKind::CreateInstanceLimit => "create_instance_limit",
            ApiErrorKind::BadRequest => "bad_request",
            ApiErrorKind::Server => "server",
            ApiErrorKind::Decode => "decode",
            ApiErrorKind::Unexpected => "unexpected",
        }
    }
}

/// A failed Novita call: status, what the server said, and a truncated copy of
/// the body.
///
/// Build one with [`ApiError::from_response`] (non-2xx) or [`ApiError::decode`]
/// (a 2xx body that does not parse); the endpoint parsers do this for you.
/// The details live behind a box so `Result<_, ApiError>` stays small.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiError {
    /// The classification.
    pub kind: ApiErrorKind,
    /// The HTTP status.
    pub status: u16,
    details: Box<Details>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Details {
    code: Option<String>,
    reason: Option<String>,
    message: Option<String>,
    retry_after: Option<String>,
    body: String,
}

impl ApiError {
    /// Classifies a non-2xx response. (Called on a 2xx response it still
    /// returns an error, of kind [`ApiErrorKind::Unexpected`].)
    #[must_use]
    pub fn from_response(response: &HttpResponse) -> ApiError {
        let mut e = ApiError::bare(ApiErrorKind::Unexpected, response);
        if let Ok(v) = serde_json::from_slice::<Value>(&response.body) {
            e.read_fields(&v);
        }
        e.kind = classify(response.status, &e);
        e
    }

    /// A 2xx response whose body could not be read; `problem` is the parser's
    /// message (e.g. the serde error).
    #[must_use]
    pub fn decode(response: &HttpResponse, problem: impl fmt::Display) -> ApiError {
        let mut e = ApiError::bare(ApiErrorKind::Decode, response);
        e.details.message = Some(problem.to_string());
        e
    }

    fn bare(kind: ApiErrorKind, response: &HttpResponse) -> ApiError {
        let cut = response
            .body
            .get(..RAW_BODY_LIMIT)
            .unwrap_or(&response.body);
        ApiError {
            kind,
            status: response.status,
            details: Box::new(Details {
                retry_after: response
                    .headers
                    .get("retry-after")
                    .map(|v| String::from(v.trim())),
                body: lossy_prefix(cut),
                ..Details::default()
            }),
        }
    }

    fn read_fields(&mut self, v: &Value) {
        let (code, reason, message) = fields(v);
        self.details.code = code;
        self.details.reason = reason;
        self.details.message = message;
    }

    /// The `code` field of the error body, if any (numbers written out).
    #[must_use]
    pub fn code(&self) -> Option<&str> {
        self.details.code.as_deref()
    }

    /// The `reason` field of the error body, if any (e.g. `VALIDATOR_PARAM`).
    #[must_use]
    pub fn reason(&self) -> Option<&str> {
        self.details.reason.as_deref()
    }

    /// The human message: the body's `message` (or `error`, or `msg`); for
    /// [`ApiErrorKind::Decode`], the parser's message (e.g. the serde error).
    #[must_use]
    pub fn message(&self) -> Option<&str> {
        self.details.message.as_deref()
    }

    /// The raw `Retry-After` header, if the response carried one (seconds or
    /// an HTTP date; the retry policy parses it).
    #[must_use]
    pub fn retry_after(&self) -> Option<&str> {
        self.details.retry_after.as_deref()
    }

    /// The start of the body, lossily decoded as UTF-8, at most
    /// [`RAW_BODY_LIMIT`] bytes long.
    #[must_use]
    pub fn body(&self) -> &str {
        &self.details.body
    }

    /// `true` when sending the same request again later may succeed: 429 and
    /// 500, 502, 503, 504. Everything else is fatal for this request.
    #[must_use]
    pub fn is_retryable(&self) -> bool {
        match self.kind {
            ApiErrorKind::RateLimited => true,
            ApiErrorKind::Server => matches!(self.status, 500 | 502 | 503 | 504),
            _ => false,
        }
    }

    /// The server's explanation, if it gave one: message, else reason, else code.
    #[must_use]
    pub fn detail(&self) -> Option<&str> {
        self.message()
            .or(self.reason())
            .or(self.code())
            .filter(|s| !s.trim().is_empty())
    }
}

/// `(code, reason, message)` of an error body; `{"error": {...}}` is looked
/// into one level deep, `{"error": "text"}` is a message.
fn fields(v: &Value) -> (Option<String>, Option<String>, Option<String>) {
    let map = match v {
        Value::Object(map) => map,
        Value::String(s) => return (None, None, Some(s.clone())),
        _ => return (None, None, None),
    };
    let text = |k: &str| map.get(k).and_then(lenient::to_string);
    let (mut code, mut reason) = (text("code"), text("reason"));
    let mut message = text("message").or_else(|| text("msg"));
    match map.get("error") {
        Some(Value::Object(m)) => {
            let t = |k: &str| m.get(k).and_then(lenient::to_string);
            code = code.or_else(|| t("code"));
            reason = reason.or_else(|| t("reason"));
            message = message.or_else(|| t("message")).or_else(|| t("msg"));
        }
        Some(other) => message = message.or_else(|| lenient::to_string(other)),
        None => {}
    }
    (code, reason, message)
}

fn classify(status: u16, e: &ApiError) -> ApiErrorKind {
    match status {
        401 => return ApiErrorKind::Unauthorized,
        403 => return ApiErrorKind::Forbidden,
        404 => return ApiErrorKind::NotFound,
        429 => return ApiErrorKind::RateLimited,
        500..=599 => return ApiErrorKind::Server,
        400..=499 => {}
        _ => return ApiErrorKind::Unexpected,
    }
    let d = &e.details;
    let exact = |name: &str| {
        [&d.reason, &d.code].iter().any(|f| {
            f.as_deref()
                .is_some_and(|s| s.trim().eq_ignore_ascii_case(name))
        })
    };
    if let Some((_, kind)) = NAMED.iter().find(|(name, _)| exact(name)) {
        return *kind;
    }
    let said = |needle: &str| {
        [&d.message, &d.reason, &d.code]
            .iter()
            .any(|f| f.as_deref().is_some_and(|s| s.contains(needle)))
    };
    let lower_said = |needle: &str| {
        [&d.message, &d.reason].iter().any(|f| {
            f.as_deref()
                .is_some_and(|s| contains_ignore_case(s, needle))
        })
    };
    if lower_said("invalid state change") {
        return ApiErrorKind::InvalidStateChange;
    }
    // In free text only the unmistakable SHOUTING_NAMES count ("conflict" as
    // an English word does not).
    if let Some((_, kind)) = NAMED
        .iter()
        .find(|(name, _)| name.contains('_') && said(name))
    {
        return *kind;
    }
    ApiErrorKind::BadRequest
}

/// `bytes` decoded lossily, cut to at most [`RAW_BODY_LIMIT`] bytes on a char
/// boundary (each invalid byte becomes a 3-byte U+FFFD, so decoding can grow).
fn lossy_prefix(bytes: &[u8]) -> String {
    let mut s = String::from_utf8_lossy(bytes).into_owned();
    let mut end = s.len().min(RAW_BODY_LIMIT);
    while !s.is_char_boundary(end) {
        end = end.saturating_sub(1);
    }
    s.truncate(end);
    s
}

fn contains_ignore_case(haystack: &str, needle: &str) -> bool {
    let (h, n) = (haystack.as_bytes(), needle.as_bytes());
    n.is_empty() || h.windows(n.len()).any(|w| w.eq_ignore_ascii_case(n))
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.status;
        match self.kind {
            ApiErrorKind::Unauthorized => write!(
                f,
                "Novita rejected the API key (HTTP 401): check NOVITA_API_KEY — it must be set to a valid key from the Novita console (they start with sk_)"
            )?,
            ApiErrorKind::Forbidden => write!(
                f,
                "Novita refused the request (HTTP 403): the API key lacks permission for it or an account quota is used up"
            )?,
            ApiErrorKind::NotFound => write!(
                f,
                "Novita has no such resource (HTTP 404): check the id, it may have been deleted"
            )?,
            ApiErrorKind::RateLimited => {
                write!(f, "Novita is rate-limiting this API key (HTTP 429): ")?;
                match self.retry_after() {
                    Some(ra) => write!(f, "retry after {ra}")?,
                    None => write!(f, "slow down and retry later")?,
                }
            }
            ApiErrorKind::Validation => write!(
                f,
                "Novita rejected a request parameter (HTTP {s} VALIDATOR_PARAM): fix the request before sending it again"
            )?,
            ApiErrorKind::InvalidStateChange => write!(
                f,
                "the instance cannot make that state change now (HTTP {s} invalid state change): wait until it is running or exited, then retry"
            )?,
            ApiErrorKind::InsufficientResource => write!(
                f,
                "Novita has no free capacity for this product now (HTTP {s} INSUFFICIENT_RESOURCE): try another region or product, or retry later"
            )?,
            ApiErrorKind::MigrateInsufficientResource => write!(
                f,
                "Novita has no capacity to migrate the instance to (HTTP {s} MIGRATE_INSUFFICIENT_RESOURCE): retry the migration later"
            )?,
            ApiErrorKind::BalanceNotEnough => write!(
                f,
                "the Novita account balance is too low (HTTP {s} BALANCE_NOT_ENOUGH): top up the account, then retry"
            )?,
            ApiErrorKind::ResourceNotFound => write!(
                f,
                "Novita could not find a resource the request names (HTTP {s} RESOURCE_NOT_FOUND): check the ids in the request"
            )?,
            ApiErrorKind::TemplateNotFound => write!(
                f,
                "Novita has no such template (HTTP {s} TEMPLATE_NOT_FOUND): check the template id"
            )?,
            ApiErrorKind::Conflict => write!(
                f,
                "the request conflicts with existing state (HTTP {s} CONFLICT): a resource with that name may already exist"
            )?,
            ApiErrorKind::OperationLimit => write!(
                f,
                "too many operations of this kind (HTTP {s} OPERATION_LIMIT): wait a while before retrying"
            )?,
            ApiErrorKind::CreateInstanceLimit => write!(
                f,
                "the account may not create more instances (HTTP {s} CREATE_INSTANCE_LIMIT): delete unused instances or ask Novita to raise the limit"
            )?,
            ApiErrorKind::BadRequest => write!(
                f,
                "Novita rejected the request (HTTP {s}): check the request against the API reference"
            )?,
            ApiErrorKind::Server => write!(
                f,
                "Novita had a server or gateway error (HTTP {s}): retry later with backoff"
            )?,
            ApiErrorKind::Decode => write!(
                f,
                "Novita answered HTTP {s} but the body did not have the expected shape; the API may have changed (report it with the body)"
            )?,
            ApiErrorKind::Unexpected => {
                write!(f, "Novita answered with unexpected HTTP status {s}")?;
            }
        }
        match self.detail() {
            Some(d) => write!(f, " (server said: {d})"),
            None if !self.body().trim().is_empty() && self.kind != ApiErrorKind::Decode => {
                let snippet: String = self.body().chars().take(120).collect();
                write!(f, " (body: {snippet})")
            }
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::format;
    use alloc::vec;

    fn err(status: u16, body: &str) -> ApiError {
        ApiError::from_response(&HttpResponse::new(status, body.as_bytes().to_vec()))
    }

    #[test]
    fn every_body_shape_keeps_its_fields() {
        let e = err(400, r#"{"message":"bad things"}"#);
        assert_eq!(e.message(), Some("bad things"));
        assert_eq!(e.kind, ApiErrorKind::BadRequest);

        let e = err(
            400,
            r#"{"code":400,"reason":"VALIDATOR_PARAM","message":"gpuNum must be 1-8"}"#,
        );
        assert_eq!(e.code(), Some("400"));
        assert_eq!(e.reason(), Some("VALIDATOR_PARAM"));
        assert_eq!(e.kind, ApiErrorKind::Validation);
        assert!(format!("{e}").contains("gpuNum must be 1-8"));

        let e = err(500, r#"{"error":"boom"}"#);
        assert_eq!(e.message(), Some("boom"));
        assert_eq!(e.kind, ApiErrorKind::Server);
        assert!(e.is_retryable());

        let e = err(
            400,
            r#"{"error":{"reason":"BALANCE_NOT_ENOUGH","message":"m"}}"#,
        );
        assert_eq!(e.kind, ApiErrorKind::BalanceNotEnough);
        assert_eq!(e.message(), Some("m"));

        let e = err(502, "<html>Bad Gateway</html>");
        assert_eq!(e.kind, ApiErrorKind::Server);
        assert_eq!(e.message(), None);
        assert!(format!("{e}").contains("Bad Gateway"));

        let e = err(503, "");
        assert_eq!(e.body(), "");
        assert!(format!("{e}").contains("503"));
    }

    #[test]
    fn named_400s_are_typed() {
        let e = err(400, r#"{"message":"invalid state change"}"#);
        assert_eq!(e.kind, ApiErrorKind::InvalidStateChange);
        let e = err(400, r#"{"reason":"MIGRATE_INSUFFICIENT_RESOURCE"}"#);
        assert_eq!(e.kind, ApiErrorKind::MigrateInsufficientResource);
        let e = err(400, r#"{"code":"INSUFFICIENT_RESOURCE"}"#);
        assert_eq!(e.kind, ApiErrorKind::InsufficientResource);
        let e = err(
            400,
            r#"{"message":"failed: CREATE_INSTANCE_LIMIT reached"}"#,
        );
        assert_eq!(e.kind, ApiErrorKind::CreateInstanceLimit);
        let e = err(400, r#"{"message":"a conflict of interest"}"#);
        assert_eq!(e.kind, ApiErrorKind::BadRequest);
        let e = err(400, r#"{"reason":"conflict"}"#);
        assert_eq!(e.kind, ApiErrorKind::Conflict);
    }

    #[test]
    fn unauthorized_tells_the_user_what_to_check() {
        let e = err(401, r#"{"message":"invalid token"}"#);
        assert_eq!(e.kind, ApiErrorKind::Unauthorized);
        assert!(format!("{e}").contains("check NOVITA_API_KEY"));
        assert!(!e.is_retryable());
    }

    #[test]
    fn rate_limit_keeps_retry_after() {
        let mut r = HttpResponse::new(429, b"{}".to_vec());
        r.headers.set("Retry-After", " 7 ");
        let e = ApiError::from_response(&r);
        assert_eq!(e.kind, ApiErrorKind::RateLimited);
        assert_eq!(e.retry_after(), Some("7"));
        assert!(e.is_retryable());
        assert!(format!("{e}").contains("retry after 7"));
    }

    /// Found by `parsers_never_panic_on_arbitrary_bytes`: every invalid byte
    /// decodes to a 3-byte U+FFFD, so a lossy decode of 512 bytes could be
    /// three times the limit.
    #[test]
    fn regression_invalid_bytes_do_not_grow_the_body_past_the_limit() {
        let e = ApiError::from_response(&HttpResponse::new(500, vec![0xFF; 600]));
        assert!(e.body().len() <= RAW_BODY_LIMIT);
        assert!(e.body().starts_with('\u{FFFD}'));
    }

    #[test]
    fn raw_body_is_truncated_lossily() {
        let mut body = vec![b'x'; 1000];
        body[RAW_BODY_LIMIT - 1] = 0xE2; // start of a 3-byte char cut in half
        let e = ApiError::from_response(&HttpResponse::new(500, body));
        assert_eq!(e.body().len(), RAW_BODY_LIMIT - 1);
        assert!(e.body().bytes().all(|b| b == b'x'));
        let e = ApiError::from_response(&HttpResponse::new(501, b"x".to_vec()));
        assert!(!e.is_retryable());
        assert_eq!(err(302, "").kind, ApiErrorKind::Unexpected);
    }
}
