//! HTTP requests and responses as plain values.
//!
//! The core never sends anything: it builds an [`HttpRequest`] (method, path and
//! query relative to the configured base URL, headers, body) and an adapter
//! carries it out with whatever client the platform has, handing back an
//! [`HttpResponse`]. Header names compare case-insensitively.
//!
//! `Debug` on both types hides credentials: the values of `Authorization`,
//! `Cookie`, `Set-Cookie`, `Proxy-Authorization`, `X-Api-Key` and the webhook
//! signature headers print as `***`, and bodies print as their length only
//! (a body may carry a registry password).

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;
use serde::{Deserialize, Serialize};

/// An HTTP method.
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Method {
    /// `GET`
    Get,
    /// `POST`
    Post,
    /// `PUT`
    Put,
    /// `PATCH`
    Patch,
    /// `DELETE`
    Delete,
}

impl Method {
    /// The method as it appears on the wire (`"GET"`, ...).
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Patch => "PATCH",
            Method::Delete => "DELETE",
        }
    }

    /// `true` for methods that do not change server state (safe to cache and
    /// to coalesce).
    #[must_use]
    pub const fn is_safe(self) -> bool {
        matches!(self, Method::Get)
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Header names whose values are credentials and must never be printed.
const SENSITIVE_HEADERS: &[&str] = &[
    "authorization",
    "proxy-authorization",
    "cookie",
    "set-cookie",
    "x-api-key",
    "webhook-signature",
    "x-webhook-signature",
];

/// `true` if a header with this name carries a credential.
#[must_use]
pub fn is_sensitive_header(name: &str) -> bool {
    SENSITIVE_HEADERS
        .iter()
        .any(|s| s.eq_ignore_ascii_case(name))
}

/// An ordered list of header name/value pairs (names case-insensitive).
///
/// Stored as one text with every name and value back to back and a list of
/// where each line is: converting a response's headers costs two
/// allocations, not two per line. Serialized as a list of `[name, value]`
/// pairs.
#[derive(Clone, Default)]
pub struct Headers {
    /// Every line's name and value, back to back (and, after a removal
    /// that could not shrink it, nothing else: see [`Headers::remove`]).
    text: String,
    /// Where each line's name and value are in `text`.
    lines: Vec<Line>,
}

/// Bytes a header text first makes room for (a request's usual headers).
const FIRST_TEXT: usize = 256;
/// Lines a header list first makes room for.
const FIRST_LINES: usize = 8;

/// One header line: its name is `text[start..split]`, its value
/// `text[split..end]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Line {
    start: usize,
    split: usize,
    end: usize,
}

impl Headers {
    /// No headers.
    #[must_use]
    pub const fn new() -> Headers {
        Headers {
            text: String::new(),
            lines: Vec::new(),
        }
    }

    /// No headers, with room for `lines` lines whose names and values take
    /// `bytes` bytes in all (so that adding them allocates nothing more).
    #[must_use]
    pub fn with_capacity(lines: usize, bytes: usize) -> Headers {
        Headers {
            text: String::with_capacity(bytes),
            lines: Vec::with_capacity(lines),
        }
    }

    fn name_of(&self, l: &Line) -> &str {
        self.text.get(l.start..l.split).unwrap_or("")
    }

    fn value_of(&self, l: &Line) -> &str {
        self.text.get(l.split..l.end).unwrap_or("")
    }

    /// `true` when line `l` is header `name`.
    fn is(&self, l: &Line, name: &str) -> bool {
        is_line(&self.text, l, name)
    }

    /// The first value of header `name`, compared case-insensitively.
    #[must_use]
    pub fn get(&self, name: &str) -> Option<&str> {
        self.lines
            .iter()
            .find(|l| self.is(l, name))
            .map(|l| self.value_of(l))
    }

    /// Sets header `name`, replacing every earlier value of it.
    pub fn set(&mut self, name: impl AsRef<str>, value: impl AsRef<str>) {
        let name = name.as_ref();
        self.remove(name);
        self.append(name, value);
    }

    /// Appends a header without removing earlier values of the same name.
    pub fn append(&mut self, name: impl AsRef<str>, value: impl AsRef<str>) {
        self.append_parts(name.as_ref(), &[value.as_ref()]);
    }

    /// Sets header `name` to the concatenation of `parts` (no string is
    /// built for the value first).
    pub(crate) fn set_parts(&mut self, name: &str, parts: &[&str]) {
        self.remove(name);
        self.append_parts(name, parts);
    }

    fn append_parts(&mut self, name: &str, parts: &[&str]) {
        // One growth per line at most; a request's few headers fit the
        // first allocation.
        let more = parts
            .iter()
            .map(|p| p.len())
            .fold(name.len(), usize::saturating_add);
        if self.text.capacity() == 0 {
            self.text.reserve(more.max(FIRST_TEXT));
        } else {
            self.text.reserve(more);
        }
        if self.lines.capacity() == 0 {
            self.lines.reserve(FIRST_LINES);
        }
        let start = self.text.len();
        self.text.push_str(name);
        let split = self.text.len();
        for part in parts {
            self.text.push_str(part);
        }
        let end = self.text.len();
        self.lines.push(Line { start, split, end });
    }

    /// Removes every value of header `name`.
    pub fn remove(&mut self, name: &str) {
        // Usually there is nothing to remove (`set` of a new header).
        if !self.lines.iter().any(|l| self.is(l, name)) {
            return;
        }
        let (text, before) = (&self.text, self.lines.len());
        self.lines.retain(|l| !is_line(text, l, name));
        if self.lines.len() == before {
            return;
        }
        // The removed lines' bytes stay in the text until they outweigh the
        // live ones; then the text is written afresh.
        let live = self
            .lines
            .iter()
            .map(|l| l.end.saturating_sub(l.start))
            .fold(0usize, usize::saturating_add);
        if live.saturating_mul(2) < self.text.len() {
            let old = core::mem::take(self);
            for (n, v) in old.iter() {
                self.append(n, v);
            }
        }
    }

    /// Iterates over `(name, value)` pairs in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.lines
            .iter()
            .map(|l| (self.name_of(l), self.value_of(l)))
    }

    /// Removes every header, keeping the room they took.
    pub(crate) fn clear(&mut self) {
        self.text.clear();
        self.lines.clear();
    }

    /// The room of the header text, in bytes.
    pub(crate) fn text_capacity(&self) -> usize {
        self.text.capacity()
    }

    /// Number of header lines.
    #[must_use]
    pub fn len(&self) -> usize {
        self.lines.len()
    }

    /// `true` when there are no headers.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }
}

/// `true` when line `l` of `text` is header `name` (lengths compared first).
fn is_line(text: &str, l: &Line, name: &str) -> bool {
    l.split.saturating_sub(l.start) == name.len()
        && text
            .get(l.start..l.split)
            .is_some_and(|n| n.eq_ignore_ascii_case(name))
}

impl PartialEq for Headers {
    fn eq(&self, other: &Headers) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

impl Eq for Headers {}

impl<N: AsRef<str>, V: AsRef<str>> FromIterator<(N, V)> for Headers {
    fn from_iter<I: IntoIterator<Item = (N, V)>>(iter: I) -> Headers {
        let mut h = Headers::new();
        for (n, v) in iter {
            h.append(n, v);
        }
        h
    }
}

impl Serialize for Headers {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.iter())
    }
}

impl<'de> Deserialize<'de> for Headers {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Headers, D::Error> {
        let pairs = Vec::<(String, String)>::deserialize(deserializer)?;
        Ok(pairs.into_iter().collect())
    }
}

#[cfg(feature = "arbitrary")]
impl<'a> arbitrary::Arbitrary<'a> for Headers {
    fn arbitrary(u: &mut arbitrary::Unstructured<'a>) -> arbitrary::Result<Headers> {
        let pairs: Vec<(String, String)> = u.arbitrary()?;
        Ok(pairs.into_iter().collect())
    }
}

impl fmt::Debug for Headers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut m = f.debug_map();
        for (n, v) in self.iter() {
            if is_sensitive_header(n) {
                m.entry(&n, &"***");
            } else {
                m.entry(&n, &v);
            }
        }
        m.finish()
    }
}

/// A request for an adapter to send.
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HttpRequest {
    /// The method.
    pub method: Method,
    /// Path and query relative to the configured base URL, starting with `/`
    /// (e.g. `/v1/gpu/instance?instanceId=abc`), or an absolute `http(s)://` URL
    /// for requests that do not go to the API (webhooks, health probes).
    pub path_and_query: String,
    /// Headers to send.
    pub headers: Headers,
    /// The body, if any.
    pub body: Option<Vec<u8>>,
}

impl HttpRequest {
    /// A request with no headers and no body.
    #[must_use]
    pub fn new(method: Method, path_and_query: impl Into<String>) -> HttpRequest {
        HttpRequest {
            method,
            path_and_query: path_and_query.into(),
            headers: Headers::new(),
            body: None,
        }
    }

    /// Joins [`Self::path_and_query`] to `base_url` (no trailing slash needed);
    /// an absolute URL is returned as it is.
    #[must_use]
    pub fn url(&self, base_url: &str) -> String {
        let p = self.path_and_query.as_str();
        if p.starts_with("http://") || p.starts_with("https://") {
            return String::from(p);
        }
        let mut url = String::from(base_url.trim_end_matches('/'));
        if !p.starts_with('/') {
            url.push('/');
        }
        url.push_str(p);
        url
    }
}

impl fmt::Debug for HttpRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpRequest")
            .field("method", &self.method)
            .field("path_and_query", &self.path_and_query)
            .field("headers", &self.headers)
            .field("body", &BodyLen(self.body.as_deref()))
            .finish()
    }
}

/// A response an adapter received.
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HttpResponse {
    /// The status code.
    pub status: u16,
    /// Response headers.
    pub headers: Headers,
    /// The body as received (possibly truncated by the adapter's size cap).
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// A response with a status and body and no headers.
    #[must_use]
    pub fn new(status: u16, body: impl Into<Vec<u8>>) -> HttpResponse {
        HttpResponse {
            status,
            headers: Headers::new(),
            body: body.into(),
        }
    }

    /// `true` for 2xx.
    #[must_use]
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

impl fmt::Debug for HttpResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpResponse")
            .field("status", &self.status)
            .field("headers", &self.headers)
            .field("body", &BodyLen(Some(&self.body)))
            .finish()
    }
}

struct BodyLen<'a>(Option<&'a [u8]>);

impl fmt::Debug for BodyLen<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            None => f.write_str("None"),
            Some(b) => write!(f, "<{} bytes>", b.len()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::format;

    #[test]
    fn headers_are_case_insensitive_and_set_replaces() {
        let mut h = Headers::new();
        h.set("Content-Type", "application/json");
        h.set("content-type", "text/plain");
        assert_eq!(h.len(), 1);
        assert_eq!(h.get("CONTENT-TYPE"), Some("text/plain"));
        h.append("Accept", "a");
        h.append("accept", "b");
        assert_eq!(h.get("accept"), Some("a"));
        h.remove("ACCEPT");
        assert_eq!(h.get("accept"), None);
    }

    #[test]
    fn removing_a_line_keeps_the_others_in_order() {
        let mut h: Headers = [("A", "1"), ("B", "22"), ("a", "333"), ("C", "4")]
            .into_iter()
            .collect();
        h.remove("a");
        assert_eq!(h.iter().collect::<Vec<_>>(), [("B", "22"), ("C", "4")]);
        assert_eq!(h.text, "B22C4");
        h.set("b", "x");
        assert_eq!(h.iter().collect::<Vec<_>>(), [("C", "4"), ("b", "x")]);
        h.remove("C");
        h.remove("B");
        assert!(h.is_empty());
        assert_eq!(h, Headers::new());
        assert!(h.text.is_empty());
    }

    #[test]
    fn headers_serialize_as_a_list_of_pairs() {
        let mut h = Headers::with_capacity(2, 8);
        h.append("Retry-After", "7");
        h.append("x-id", "abc");
        let json = serde_json::to_string(&h).unwrap();
        assert_eq!(json, r#"[["Retry-After","7"],["x-id","abc"]]"#);
        let back: Headers = serde_json::from_str(&json).unwrap();
        assert_eq!(back, h);
        // Equal lines are equal headers, however the text got there.
        let mut other = Headers::new();
        other.append("gone", "soon");
        other.append("Retry-After", "7");
        other.append("x-id", "abc");
        other.remove("gone");
        assert_eq!(other, h);
    }

    #[test]
    fn debug_hides_credentials_and_bodies() {
        let mut r = HttpRequest::new(Method::Post, "/v1/repository/auth/save");
        r.headers.set("Authorization", "Bearer sk_secret_123");
        r.body = Some(b"{\"password\":\"hunter2\"}".to_vec());
        let shown = format!("{r:?}");
        assert!(!shown.contains("sk_secret_123"), "{shown}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("<22 bytes>"), "{shown}");
    }

    #[test]
    fn urls_join_without_double_slashes() {
        let r = HttpRequest::new(Method::Get, "/v1/clusters");
        assert_eq!(
            r.url("https://x.test/openapi/"),
            "https://x.test/openapi/v1/clusters"
        );
        assert_eq!(
            r.url("https://x.test/openapi"),
            "https://x.test/openapi/v1/clusters"
        );
        let abs = HttpRequest::new(Method::Get, "http://127.0.0.1:9/health");
        assert_eq!(abs.url("https://x.test"), "http://127.0.0.1:9/health");
    }
}
