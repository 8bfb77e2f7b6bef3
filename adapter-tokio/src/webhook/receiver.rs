//! Receiving webhooks: verify the raw body, refuse replays, answer clearly.
//!
//! - [`verify_request`]: one call for any framework — the core's
//!   [`Verifier`] over an [`http::HeaderMap`] and the raw body bytes.
//! - [`WebhookReceiver`]: a verifier (Standard Webhooks by default, the legacy
//!   `X-Webhook-Signature` only when built with [`WebhookReceiver::legacy`] —
//!   never one falling back to the other) plus a bounded replay guard that
//!   remembers each `webhook-id` for as long as its timestamp is within the
//!   tolerance (after that the verifier refuses the message as stale anyway).
//! - With the `axum` feature: [`verify_webhook`], a middleware
//!   (`axum::middleware::from_fn_with_state`) that verifies before the handler
//!   runs and answers a refused request with `{"error", "reason"}` JSON, and
//!   the [`VerifiedWebhook`] extractor that hands the handler the id,
//!   timestamp and raw body.
//!
//! A `webhook-id` counts as seen only once the handler answered 2xx: if the
//! handler fails (or the request is dropped), the id is forgotten so the
//! sender's retry is accepted.

use novitai_core::UnixTime;
use novitai_core::webhook::legacy::LegacyError;
use novitai_core::webhook::{
    LegacyVerifier, ReplayError, ReplayGuard, Verified, Verifier, VerifyError,
};
use std::fmt;
use std::sync::Mutex;

/// The default largest body accepted, in bytes.
pub const DEFAULT_MAX_BODY: usize = 1024 * 1024;
/// The default number of ids the replay guard remembers at once.
pub const DEFAULT_REPLAY_CAPACITY: usize = 100_000;
/// How long the legacy format's ids are remembered (it has no signed
/// timestamp to bound the window).
const LEGACY_REPLAY_WINDOW_SECS: u64 = 300;

/// Verifies a Standard Webhooks request: `webhook-id`, `webhook-timestamp`
/// and `webhook-signature` from `headers`, the signature over the exact
/// `body` bytes, the timestamp within the verifier's tolerance of `now`.
pub fn verify_request<'h>(
    verifier: &Verifier,
    headers: &'h http::HeaderMap,
    body: &[u8],
    now: UnixTime,
) -> Result<Verified<'h>, VerifyError> {
    verifier.verify(lookup(headers), body, now)
}

/// Verifies a legacy request (`X-Webhook-Signature: sha256=<hex>` over the
/// body). Opt-in only: its timestamp is not signed.
pub fn verify_legacy_request(
    verifier: &LegacyVerifier,
    headers: &http::HeaderMap,
    body: &[u8],
) -> Result<(), LegacyError> {
    verifier.verify(lookup(headers), body)
}

/// The first value of a header, if it is visible ASCII text.
fn lookup<'h>(headers: &'h http::HeaderMap) -> impl Fn(&str) -> Option<&'h str> + 'h {
    move |name: &str| headers.get(name).and_then(|v| v.to_str().ok())
}

/// The current wall-clock time in unix seconds.
#[must_use]
pub fn unix_now() -> UnixTime {
    UnixTime::from_secs(
        std::time::SystemTime::now()
            .duration_since(std::time::SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
    )
}

/// Why a webhook was refused, with the HTTP answer for it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Rejection {
    /// The Standard Webhooks check failed.
    Invalid(VerifyError),
    /// The legacy check failed.
    InvalidLegacy(LegacyError),
    /// This `webhook-id` was already accepted within the tolerance window.
    Replayed,
    /// This `webhook-id` is being handled by another request right now.
    InProgress,
    /// The replay guard is full of ids still inside their window.
    ReplayGuardFull,
    /// The body is larger than the limit or could not be read.
    Body {
        /// The limit in bytes.
        limit: usize,
    },
}

impl Rejection {
    /// The HTTP status: 401 for a signature that does not match, 400 for a
    /// malformed, stale or replayed webhook, 413 for a body over the limit,
    /// and 503 (which senders retry) while the id is in progress or the
    /// replay guard is full.
    #[must_use]
    pub fn status(&self) -> http::StatusCode {
        use http::StatusCode;
        match self {
            Rejection::Invalid(VerifyError::NoMatchingSignature)
            | Rejection::InvalidLegacy(LegacyError::NoMatchingSignature) => {
                StatusCode::UNAUTHORIZED
            }
            Rejection::Invalid(_) | Rejection::InvalidLegacy(_) | Rejection::Replayed => {
                StatusCode::BAD_REQUEST
            }
            Rejection::Body { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Rejection::InProgress | Rejection::ReplayGuardFull => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// A short machine-readable code (the `error` field of the JSON answer).
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            Rejection::Invalid(VerifyError::MissingHeader(_))
            | Rejection::InvalidLegacy(LegacyError::MissingSignature) => "missing_header",
            Rejection::Invalid(VerifyError::MalformedHeader(_))
            | Rejection::InvalidLegacy(LegacyError::MalformedSignature) => "malformed_header",
            Rejection::Invalid(VerifyError::Stale { .. }) => "stale_timestamp",
            Rejection::Invalid(VerifyError::Future { .. }) => "future_timestamp",
            Rejection::Invalid(VerifyError::NoMatchingSignature)
            | Rejection::InvalidLegacy(LegacyError::NoMatchingSignature) => "invalid_signature",
            Rejection::Replayed => "replayed",
            Rejection::InProgress => "in_progress",
            Rejection::ReplayGuardFull => "replay_guard_full",
            Rejection::Body { .. } => "body_too_large",
        }
    }

    /// The JSON answer: `{"error": <code>, "reason": <sentence>}`.
    #[must_use]
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({ "error": self.code(), "reason": self.to_string() })
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rejection::Invalid(e) => e.fmt(f),
            Rejection::InvalidLegacy(e) => e.fmt(f),
            Rejection::Replayed => f.write_str(
                "this webhook-id was already received; a replayed or duplicate webhook is not processed twice",
            ),
            Rejection::InProgress => f.write_str(
                "a webhook with this webhook-id is being processed; retry later",
            ),
            Rejection::ReplayGuardFull => f.write_str(
                "the receiver is remembering too many recent webhooks to accept another now; retry later",
            ),
            Rejection::Body { limit } => write!(
                f,
                "the webhook body is larger than {limit} bytes or could not be read"
            ),
        }
    }
}

impl std::error::Error for Rejection {}

/// Which signature scheme a receiver checks. Exactly one: a receiver never
/// tries the legacy scheme after the Standard one fails.
#[derive(Clone, Debug)]
enum Scheme {
    Standard(Verifier),
    Legacy(LegacyVerifier),
}

/// A verified webhook admitted by [`WebhookReceiver::admit`]; hand it back
/// to [`WebhookReceiver::complete`] once handled.
#[derive(Debug)]
#[must_use = "complete the admission, or the id stays reserved until the window ends"]
pub struct Admission {
    id: Option<String>,
    timestamp: Option<UnixTime>,
}

impl Admission {
    /// The `webhook-id` (`None` for a legacy webhook sent without one).
    #[must_use]
    pub fn id(&self) -> Option<&str> {
        self.id.as_deref()
    }

    /// The signed timestamp (`None` for the legacy format, which signs none).
    #[must_use]
    pub fn timestamp(&self) -> Option<UnixTime> {
        self.timestamp
    }
}

/// Verifies incoming webhooks and refuses replays.
///
/// # Default
/// No `Default`: it needs a key. [`WebhookReceiver::standard`] and
/// [`WebhookReceiver::legacy`] set:
/// - `max_body`: 1 MiB ([`DEFAULT_MAX_BODY`])
/// - replay guard capacity: 100 000 ids ([`DEFAULT_REPLAY_CAPACITY`])
/// - duplicates: refused with 400 `replayed` (see
///   [`WebhookReceiver::acknowledge_duplicates`])
#[derive(Debug)]
pub struct WebhookReceiver {
    scheme: Scheme,
    window_secs: u64,
    max_body: usize,
    acknowledge_duplicates: bool,
    guard: Mutex<ReplayGuard>,
}

impl WebhookReceiver {
    /// A receiver for Standard Webhooks (the default and recommended
    /// scheme). Ids are remembered for the verifier's tolerance.
    #[must_use]
    pub fn standard(verifier: Verifier) -> WebhookReceiver {
        let window_secs = verifier.config().tolerance.as_secs();
        WebhookReceiver::build(Scheme::Standard(verifier), window_secs)
    }

    /// A receiver for the Node client's legacy `X-Webhook-Signature` only —
    /// opt in only for senders that cannot send Standard Webhooks. The legacy
    /// timestamp is not signed, so replays are caught only when the sender
    /// also sends a `webhook-id`, and only for 5 minutes.
    #[must_use]
    pub fn legacy(verifier: LegacyVerifier) -> WebhookReceiver {
        WebhookReceiver::build(Scheme::Legacy(verifier), LEGACY_REPLAY_WINDOW_SECS)
    }

    fn build(scheme: Scheme, window_secs: u64) -> WebhookReceiver {
        WebhookReceiver {
            scheme,
            window_secs,
            max_body: DEFAULT_MAX_BODY,
            acknowledge_duplicates: false,
            guard: Mutex::new(ReplayGuard::new(DEFAULT_REPLAY_CAPACITY)),
        }
    }

    /// Sets the largest body accepted (at least 1 byte).
    #[must_use]
    pub fn with_max_body(mut self, bytes: usize) -> WebhookReceiver {
        self.max_body = bytes.max(1);
        self
    }

    /// Sets how many ids the replay guard remembers at once (at least 1).
    #[must_use]
    pub fn with_replay_capacity(self, ids: usize) -> WebhookReceiver {
        WebhookReceiver {
            guard: Mutex::new(ReplayGuard::new(ids.max(1))),
            ..self
        }
    }

    /// Answer a duplicate `webhook-id` with 200 `{"status": "duplicate"}`
    /// (without running the handler) instead of 400 `replayed`. A sender
    /// that re-sends after a crash (at-least-once delivery) then records the
    /// message as delivered rather than rejected.
    #[must_use]
    pub fn acknowledge_duplicates(mut self, yes: bool) -> WebhookReceiver {
        self.acknowledge_duplicates = yes;
        self
    }

    /// The largest body accepted, in bytes.
    #[must_use]
    pub fn max_body(&self) -> usize {
        self.max_body
    }

    /// `true` when duplicates are acknowledged with 200 rather than refused.
    #[must_use]
    pub fn acknowledges_duplicates(&self) -> bool {
        self.acknowledge_duplicates
    }

    /// Verifies a request and reserves its `webhook-id`. On success, handle
    /// the webhook, then call [`WebhookReceiver::complete`].
    pub fn admit(
        &self,
        headers: &http::HeaderMap,
        body: &[u8],
        now: UnixTime,
    ) -> Result<Admission, Rejection> {
        if body.len() > self.max_body {
            return Err(Rejection::Body {
                limit: self.max_body,
            });
        }
        let (id, timestamp, expires) = match &self.scheme {
            Scheme::Standard(v) => {
                let ok = verify_request(v, headers, body, now).map_err(Rejection::Invalid)?;
                let expires = ok.timestamp.as_secs().saturating_add(self.window_secs);
                (Some(ok.id.to_owned()), Some(ok.timestamp), expires)
            }
            Scheme::Legacy(v) => {
                verify_legacy_request(v, headers, body).map_err(Rejection::InvalidLegacy)?;
                let id = lookup(headers)(novitai_core::webhook::HEADER_ID)
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned);
                (id, None, now.as_secs().saturating_add(self.window_secs))
            }
        };
        if let Some(id) = &id {
            self.guard()
                .reserve(id, UnixTime::from_secs(expires), now)
                .map_err(|e| match e {
                    ReplayError::Replayed => Rejection::Replayed,
                    ReplayError::InProgress => Rejection::InProgress,
                    ReplayError::Full { .. } => Rejection::ReplayGuardFull,
                })?;
        }
        Ok(Admission { id, timestamp })
    }

    /// Finishes an admission: `handled` = the handler answered 2xx, so the id
    /// is remembered and a replay refused; otherwise the id is forgotten so a
    /// retry is accepted.
    pub fn complete(&self, admission: Admission, handled: bool) {
        if let Some(id) = admission.id {
            let mut g = self.guard();
            if handled {
                g.commit(&id);
            } else {
                g.release(&id);
            }
        }
    }

    fn guard(&self) -> std::sync::MutexGuard<'_, ReplayGuard> {
        self.guard
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(feature = "axum")]
pub use with_axum::{VerifiedWebhook, verify_webhook};

#[cfg(feature = "axum")]
mod with_axum {
    use super::{Admission, Rejection, WebhookReceiver, unix_now};
    use axum::body::{Body, Bytes};
    use axum::extract::{FromRequestParts, Request, State};
    use axum::middleware::Next;
    use axum::response::{IntoResponse, Response};
    use novitai_core::UnixTime;
    use std::sync::Arc;

    impl IntoResponse for Rejection {
        fn into_response(self) -> Response {
            let mut resp = (self.status(), axum::Json(self.to_json())).into_response();
            if matches!(self, Rejection::InProgress | Rejection::ReplayGuardFull) {
                resp.headers_mut().insert(
                    http::header::RETRY_AFTER,
                    http::HeaderValue::from_static("5"),
                );
            }
            resp
        }
    }

    /// A webhook the [`verify_webhook`] middleware accepted; take it as a
    /// handler argument.
    #[derive(Clone, Debug)]
    pub struct VerifiedWebhook {
        /// The `webhook-id` (`None` only for a legacy webhook without one).
        pub id: Option<String>,
        /// The signed timestamp (`None` for the legacy format).
        pub timestamp: Option<UnixTime>,
        /// The raw body, exactly as verified.
        pub body: Bytes,
    }

    impl VerifiedWebhook {
        /// The body parsed as JSON.
        pub fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
            serde_json::from_slice(&self.body)
        }
    }

    impl<S: Send + Sync> FromRequestParts<S> for VerifiedWebhook {
        type Rejection = (http::StatusCode, axum::Json<serde_json::Value>);

        async fn from_request_parts(
            parts: &mut http::request::Parts,
            _state: &S,
        ) -> Result<VerifiedWebhook, Self::Rejection> {
            parts.extensions.get::<VerifiedWebhook>().cloned().ok_or((
                http::StatusCode::INTERNAL_SERVER_ERROR,
                axum::Json(serde_json::json!({
                    "error": "not_verified",
                    "reason": "the route takes a VerifiedWebhook but the verify_webhook middleware is not installed on it",
                })),
            ))
        }
    }

    /// Forgets a reserved id if the handler never finished (panic or
    /// dropped request), so the sender's retry is accepted.
    struct Pending<'a> {
        receiver: &'a WebhookReceiver,
        admission: Option<Admission>,
    }

    impl Pending<'_> {
        fn complete(mut self, handled: bool) {
            if let Some(a) = self.admission.take() {
                self.receiver.complete(a, handled);
            }
        }
    }

    impl Drop for Pending<'_> {
        fn drop(&mut self) {
            if let Some(a) = self.admission.take() {
                self.receiver.complete(a, false);
            }
        }
    }

    /// Middleware: verifies the webhook over its raw body before the
    /// handler runs, refuses replays, and answers a refused request with
    /// `{"error", "reason"}` JSON (see [`Rejection::status`]).
    ///
    /// ```no_run
    /// # use std::sync::Arc;
    /// # use novitai_tokio::webhook::receiver::{WebhookReceiver, VerifiedWebhook, verify_webhook};
    /// # use novitai_tokio::core::webhook::{Verifier, WebhookKey};
    /// # fn app(key: WebhookKey) -> axum::Router {
    /// let receiver = Arc::new(WebhookReceiver::standard(Verifier::new(key)));
    /// axum::Router::new()
    ///     .route("/hooks", axum::routing::post(|hook: VerifiedWebhook| async move {
    ///         let _id = hook.id;
    ///         "ok"
    ///     }))
    ///     .layer(axum::middleware::from_fn_with_state(receiver, verify_webhook))
    /// # }
    /// ```
    pub async fn verify_webhook(
        State(receiver): State<Arc<WebhookReceiver>>,
        request: Request,
        next: Next,
    ) -> Response {
        let (parts, body) = request.into_parts();
        let limit = receiver.max_body();
        let declared_too_long = parts
            .headers
            .get(http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok())
            .is_some_and(|n| n > limit as u64);
        if declared_too_long {
            return Rejection::Body { limit }.into_response();
        }
        let Ok(bytes) = axum::body::to_bytes(body, limit).await else {
            return Rejection::Body { limit }.into_response();
        };
        let admission = match receiver.admit(&parts.headers, &bytes, unix_now()) {
            Ok(a) => a,
            Err(Rejection::Replayed) if receiver.acknowledges_duplicates() => {
                return (
                    http::StatusCode::OK,
                    axum::Json(serde_json::json!({ "status": "duplicate" })),
                )
                    .into_response();
            }
            Err(r) => {
                tracing::debug!(error = r.code(), "webhook refused");
                return r.into_response();
            }
        };
        let verified = VerifiedWebhook {
            id: admission.id().map(str::to_owned),
            timestamp: admission.timestamp(),
            body: bytes.clone(),
        };
        let pending = Pending {
            receiver: &receiver,
            admission: Some(admission),
        };
        let mut request = Request::from_parts(parts, Body::from(bytes));
        request.extensions_mut().insert(verified);
        let response = next.run(request).await;
        pending.complete(response.status().is_success());
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use novitai_core::webhook::verify::Header;
    use novitai_core::webhook::{Signer, WebhookKey};

    const K: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const T: UnixTime = UnixTime::from_secs(1_700_000_000);

    fn key() -> WebhookKey {
        WebhookKey::from_whsec(K).unwrap()
    }

    fn signed(id: &str, ts: UnixTime, body: &[u8]) -> http::HeaderMap {
        let h = Signer::new(key()).headers(id, ts, body).unwrap();
        let mut m = http::HeaderMap::new();
        for (k, v) in h.iter() {
            m.insert(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        m
    }

    #[test]
    fn verify_request_accepts_a_signed_request_and_refuses_a_tampered_body() {
        let v = Verifier::new(key());
        let h = signed("msg_1", T, b"{}");
        assert_eq!(verify_request(&v, &h, b"{}", T).unwrap().id, "msg_1");
        assert_eq!(
            verify_request(&v, &h, b"{ }", T),
            Err(VerifyError::NoMatchingSignature)
        );
        let stale = UnixTime::from_secs(T.as_secs() + 301);
        assert!(matches!(
            verify_request(&v, &h, b"{}", stale),
            Err(VerifyError::Stale { .. })
        ));
    }

    #[test]
    fn an_id_is_refused_as_replayed_only_after_it_was_handled() {
        let r = WebhookReceiver::standard(Verifier::new(key()));
        let h = signed("msg_1", T, b"{}");
        let a = r.admit(&h, b"{}", T).unwrap();
        assert_eq!(r.admit(&h, b"{}", T).unwrap_err(), Rejection::InProgress);
        // The handler failed: the retry is accepted.
        r.complete(a, false);
        let a = r.admit(&h, b"{}", T).unwrap();
        r.complete(a, true);
        let e = r.admit(&h, b"{}", T).unwrap_err();
        assert_eq!(e, Rejection::Replayed);
        assert_eq!(e.status(), http::StatusCode::BAD_REQUEST);
        assert_eq!(e.to_json()["error"], "replayed");
    }

    #[test]
    fn ids_are_forgotten_after_their_window_and_memory_is_bounded() {
        let r = WebhookReceiver::standard(Verifier::new(key())).with_replay_capacity(2);
        for id in ["msg_1", "msg_2"] {
            let a = r.admit(&signed(id, T, b"x"), b"x", T).unwrap();
            r.complete(a, true);
        }
        assert_eq!(
            r.admit(&signed("msg_3", T, b"x"), b"x", T).unwrap_err(),
            Rejection::ReplayGuardFull
        );
        // 301 s later the first two are past their window (and would be
        // refused as stale anyway), so there is room again.
        let later = UnixTime::from_secs(T.as_secs() + 301);
        let a = r.admit(&signed("msg_3", later, b"x"), b"x", later).unwrap();
        r.complete(a, true);
        assert_eq!(r.guard().len(), 1);
    }

    #[test]
    fn a_legacy_receiver_checks_only_the_legacy_header_and_a_standard_one_only_the_standard() {
        let legacy_key = WebhookKey::from_bytes(b"It's a Secret to Everybody").unwrap();
        let body = b"Hello, World!";
        let mut h = http::HeaderMap::new();
        h.insert(
            "x-webhook-signature",
            novitai_core::webhook::legacy::sign(&legacy_key, body)
                .parse()
                .unwrap(),
        );
        let standard = WebhookReceiver::standard(Verifier::new(key()));
        assert_eq!(
            standard.admit(&h, body, T).unwrap_err(),
            Rejection::Invalid(VerifyError::MissingHeader(Header::Id))
        );
        let legacy = WebhookReceiver::legacy(LegacyVerifier::new(legacy_key));
        let a = legacy.admit(&h, body, T).unwrap();
        assert_eq!(a.id(), None);
        legacy.complete(a, true);
        assert_eq!(
            legacy.admit(&h, b"tampered", T).unwrap_err().status(),
            http::StatusCode::UNAUTHORIZED
        );
    }

    #[test]
    fn rejections_have_codes_statuses_and_sentences() {
        let cases = [
            (
                Rejection::Invalid(VerifyError::NoMatchingSignature),
                401,
                "invalid_signature",
            ),
            (
                Rejection::Invalid(VerifyError::Stale {
                    timestamp: T,
                    now: T,
                }),
                400,
                "stale_timestamp",
            ),
            (
                Rejection::Invalid(VerifyError::MalformedHeader(Header::Signature)),
                400,
                "malformed_header",
            ),
            (Rejection::Body { limit: 10 }, 413, "body_too_large"),
            (Rejection::InProgress, 503, "in_progress"),
        ];
        for (r, status, code) in cases {
            assert_eq!(r.status().as_u16(), status, "{r}");
            assert_eq!(r.code(), code);
            assert!(!r.to_string().is_empty());
        }
    }
}
