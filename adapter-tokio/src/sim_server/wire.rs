//! What goes on the wire: response bodies that can drip slowly or stop
//! short, the conversion of the core's responses, and CORS.

use std::collections::VecDeque;
use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use hyper::header::{HeaderName, HeaderValue};
use hyper::{HeaderMap, Response, StatusCode};
use novitai_core::http::HttpResponse;

/// How long a cut-short body waits after its last byte before the connection
/// is closed, so that byte is flushed to the client first.
const CUT_DELAY: Duration = Duration::from_millis(20);

/// The most chunks a slow body is dripped in.
const DRIP_CHUNKS: usize = 4;

/// The error a body ends with when it is cut short on purpose (hyper then
/// closes the connection mid-body).
#[derive(Debug)]
pub(crate) struct CutShort;

impl fmt::Display for CutShort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("body cut short by the simulator's fault plan")
    }
}

impl std::error::Error for CutShort {}

/// A response body: some chunks, optionally a pause before each, optionally
/// an error after the last.
pub(crate) struct WireBody {
    chunks: VecDeque<Bytes>,
    /// Pause before each chunk (and before the final error).
    gap: Duration,
    /// The pause in progress.
    sleep: Option<Pin<Box<tokio::time::Sleep>>>,
    /// The pause before the next item is over (or not needed).
    waited: bool,
    /// End with [`CutShort`] instead of a clean end.
    cut: bool,
    /// Total bytes still to send.
    remaining: u64,
}

impl WireBody {
    /// A whole body, sent at once.
    pub(crate) fn full(bytes: impl Into<Bytes>) -> WireBody {
        let bytes = bytes.into();
        let mut chunks = VecDeque::new();
        let remaining = bytes.len() as u64;
        if !bytes.is_empty() {
            chunks.push_back(bytes);
        }
        WireBody {
            chunks,
            gap: Duration::ZERO,
            sleep: None,
            waited: true,
            cut: false,
            remaining,
        }
    }

    /// `bytes` in up to [`DRIP_CHUNKS`] chunks spread evenly over `over`
    /// (each chunk comes after a pause of `over / chunks`).
    pub(crate) fn drip(bytes: Bytes, over: Duration) -> WireBody {
        let len = bytes.len();
        let n = len.clamp(1, DRIP_CHUNKS);
        let size = len.div_ceil(n).max(1);
        let mut chunks = VecDeque::with_capacity(n);
        let mut start = 0;
        while start < len {
            let end = start.saturating_add(size).min(len);
            chunks.push_back(bytes.slice(start..end));
            start = end;
        }
        let count = u32::try_from(chunks.len().max(1)).unwrap_or(1);
        WireBody {
            remaining: len as u64,
            chunks,
            gap: over / count,
            sleep: None,
            waited: false,
            cut: false,
        }
    }

    /// `bytes` at once, then (after a short pause so they are flushed) an
    /// error that makes hyper close the connection before the declared
    /// `Content-Length` is reached.
    pub(crate) fn cut_short(bytes: impl Into<Bytes>) -> WireBody {
        let mut body = WireBody::full(bytes);
        body.gap = CUT_DELAY;
        body.cut = true;
        body
    }
}

impl Body for WireBody {
    type Data = Bytes;
    type Error = CutShort;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, CutShort>>> {
        let this = &mut *self;
        loop {
            if let Some(sleep) = this.sleep.as_mut() {
                ready!(sleep.as_mut().poll(cx));
                this.sleep = None;
                this.waited = true;
            }
            let more = !this.chunks.is_empty() || this.cut;
            if !more {
                return Poll::Ready(None);
            }
            if !this.waited && !this.gap.is_zero() {
                this.sleep = Some(Box::pin(tokio::time::sleep(this.gap)));
                continue;
            }
            this.waited = false;
            if let Some(chunk) = this.chunks.pop_front() {
                this.remaining = this.remaining.saturating_sub(chunk.len() as u64);
                return Poll::Ready(Some(Ok(Frame::data(chunk))));
            }
            this.cut = false;
            return Poll::Ready(Some(Err(CutShort)));
        }
    }

    fn is_end_stream(&self) -> bool {
        self.chunks.is_empty() && !self.cut
    }

    fn size_hint(&self) -> SizeHint {
        if self.cut {
            // The declared Content-Length header rules; hyper must not
            // replace it with the (shorter) real length.
            SizeHint::default()
        } else {
            SizeHint::with_exact(self.remaining)
        }
    }
}

/// Headers the core's response may carry that hyper sets itself.
fn is_framing_header(name: &str) -> bool {
    name.eq_ignore_ascii_case("content-length")
        || name.eq_ignore_ascii_case("transfer-encoding")
        || name.eq_ignore_ascii_case("connection")
}

/// A hyper response with the core response's status and headers and the
/// given body (framing headers are hyper's; invalid names or values are
/// dropped).
pub(crate) fn to_hyper(response: &HttpResponse, body: WireBody) -> Response<WireBody> {
    let mut out = Response::new(body);
    *out.status_mut() =
        StatusCode::from_u16(response.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let headers = out.headers_mut();
    for (name, value) in response.headers.iter() {
        if is_framing_header(name) {
            continue;
        }
        if let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            headers.append(n, v);
        }
    }
    cors(headers);
    out
}

/// A small JSON response (probes, stats, errors of the server itself).
pub(crate) fn json(status: u16, value: &serde_json::Value) -> Response<WireBody> {
    let body = serde_json::to_vec(value).unwrap_or_default();
    let mut r = HttpResponse::new(status, Vec::new());
    r.headers.set("Content-Type", "application/json");
    to_hyper(&r, WireBody::full(body))
}

/// The CORS headers every answer carries.
pub(crate) fn cors(headers: &mut HeaderMap) {
    headers.insert(
        hyper::header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    headers.insert(
        hyper::header::ACCESS_CONTROL_EXPOSE_HEADERS,
        HeaderValue::from_static("Retry-After, X-Correlation-ID"),
    );
}

/// Request headers a browser may send cross-origin without asking.
const ALLOWED_HEADERS: &str = "Authorization, Content-Type, X-Correlation-ID, Idempotency-Key, webhook-id, webhook-timestamp, webhook-signature";

/// The answer to a CORS preflight: any origin, the API's methods, the
/// project's headers plus whatever the browser asked for.
pub(crate) fn preflight(requested_headers: Option<&HeaderValue>) -> Response<WireBody> {
    let mut out = Response::new(WireBody::full(Bytes::new()));
    *out.status_mut() = StatusCode::NO_CONTENT;
    let headers = out.headers_mut();
    cors(headers);
    headers.insert(
        hyper::header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("GET, POST, PUT, DELETE, OPTIONS"),
    );
    let allowed = match requested_headers.and_then(|v| v.to_str().ok()) {
        Some(asked) if !asked.trim().is_empty() => {
            HeaderValue::from_str(&format!("{ALLOWED_HEADERS}, {asked}"))
                .unwrap_or(HeaderValue::from_static(ALLOWED_HEADERS))
        }
        _ => HeaderValue::from_static(ALLOWED_HEADERS),
    };
    headers.insert(hyper::header::ACCESS_CONTROL_ALLOW_HEADERS, allowed);
    headers.insert(
        hyper::header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from_static("600"),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn frames(mut body: WireBody) -> (Vec<u8>, bool) {
        let mut data = Vec::new();
        loop {
            match std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await {
                Some(Ok(f)) => data.extend_from_slice(f.data_ref().map_or(&[][..], |b| &b[..])),
                Some(Err(_)) => return (data, true),
                None => return (data, false),
            }
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_dripped_body_arrives_whole_in_at_most_four_chunks() {
        let body = WireBody::drip(Bytes::from_static(b"0123456789"), Duration::from_secs(2));
        assert_eq!(body.chunks.len(), 4);
        assert_eq!(body.gap, Duration::from_millis(500));
        assert_eq!(body.size_hint().exact(), Some(10));
        assert_eq!(frames(body).await, (b"0123456789".to_vec(), false));
        let tiny = WireBody::drip(Bytes::from_static(b"ab"), Duration::from_secs(1));
        assert_eq!(tiny.chunks.len(), 2);
        assert_eq!(frames(tiny).await, (b"ab".to_vec(), false));
        let empty = WireBody::drip(Bytes::new(), Duration::from_secs(1));
        assert!(empty.is_end_stream());
        assert_eq!(frames(empty).await, (Vec::new(), false));
    }

    #[tokio::test(start_paused = true)]
    async fn a_cut_body_sends_its_bytes_then_fails_and_hides_its_length() {
        let body = WireBody::cut_short(Bytes::from_static(b"{\"da"));
        assert_eq!(body.size_hint().exact(), None);
        assert!(!body.is_end_stream());
        assert_eq!(frames(body).await, (b"{\"da".to_vec(), true));
        let empty = WireBody::cut_short(Bytes::new());
        assert_eq!(frames(empty).await, (Vec::new(), true));
    }

    #[test]
    fn framing_headers_from_the_core_are_left_to_hyper() {
        let mut r = HttpResponse::new(429, b"{}".to_vec());
        r.headers.set("Content-Length", "999");
        r.headers.set("Retry-After", "3");
        r.headers.set("Bad Name", "x");
        let out = to_hyper(&r, WireBody::full(Bytes::from_static(b"{}")));
        assert_eq!(out.status(), 429);
        assert!(out.headers().get("content-length").is_none());
        assert_eq!(out.headers()["retry-after"], "3");
        assert_eq!(out.headers()["access-control-allow-origin"], "*");
        assert_eq!(out.headers().len(), 3);
    }

    #[test]
    fn preflight_allows_the_asked_headers_too() {
        let asked = HeaderValue::from_static("x-custom");
        let r = preflight(Some(&asked));
        assert_eq!(r.status(), 204);
        let allowed = r.headers()["access-control-allow-headers"]
            .to_str()
            .unwrap();
        assert!(allowed.contains("Authorization") && allowed.ends_with("x-custom"));
        assert!(
            r.headers()["access-control-allow-methods"]
                .to_str()
                .unwrap()
                .contains("DELETE")
        );
    }
}
