//! The Novita GPU-instance v1 API as typed request builders and lenient
//! response parsers. No I/O: an endpoint value builds an [`HttpRequest`] and
//! parses the [`HttpResponse`] an adapter brings back.
//!
//! ```
//! use novitai_core::api::{ApiContext, Endpoint, instances::GetInstance};
//! use novitai_core::http::HttpResponse;
//!
//! let ctx = ApiContext::new("sk_test", "novitai/0.1").unwrap();
//! let get = GetInstance::new("0123456789abcdef");
//! let mut request = get.request();
//! ctx.authorize(&mut request);
//! assert_eq!(request.path_and_query, "/v1/gpu/instance?instanceId=0123456789abcdef");
//! // ... an adapter sends `request` to the base URL and brings back:
//! let response = HttpResponse::new(200, br#"{"id":"0123456789abcdef","status":"running","cpuNum":"8"}"#.to_vec());
//! let instance = get.parse(&response).unwrap();
//! assert_eq!(instance.cpu_num, Some(8));
//! ```
//!
//! Parsing follows `NOVITA_API.md`: numbers may arrive as strings, unknown
//! fields are ignored, optional fields may be missing, and an optional field of
//! an unexpected type becomes `None` instead of failing the response (see
//! [`lenient`]). Non-2xx responses and unreadable 2xx bodies become an
//! [`ApiError`]. Secrets (API key, registry, SSH and terminal passwords,
//! environment values) are [`Secret`]s and never print.
//!
//! | module | endpoints |
//! |---|---|
//! | [`clusters`] | [`clusters::ListClusters`] |
//! | [`products`] | [`products::ListProducts`], [`products::choose_product`] |
//! | [`templates`] | [`templates::ListTemplates`], [`templates::GetTemplate`], [`templates::CreateTemplate`], [`templates::DeleteTemplate`] |
//! | [`registry`] | [`registry::ListRegistryAuths`], [`registry::CreateRegistryAuth`], [`registry::DeleteRegistryAuth`] |
//! | [`instances`] | [`instances::ListInstances`], [`instances::GetInstance`], [`instances::CreateInstance`], [`instances::StartInstance`], [`instances::StopInstance`], [`instances::RestartInstance`], [`instances::DeleteInstance`], [`instances::MigrateInstance`], [`instances::EditInstance`] |
//! | [`storage`] | [`storage::ListNetworkStorages`], [`storage::CreateNetworkStorage`], [`storage::UpdateNetworkStorage`], [`storage::DeleteNetworkStorage`] |
//! | [`paging`] | [`paging::Pager`], walks every page of a list |
//! | [`validate`] | [`validate::ValidationErrors`], checks bodies before they are sent |

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::http::{HttpRequest, HttpResponse, Method};
use crate::secret::Secret;

/// Defines an endpoint that acts on one thing by its id: `POST path` with
/// `{"<idField>": id}`, idempotent, the id checked by [`validate::id`]. The
/// instance actions and the deletes of storages, templates and registry auths
/// are all this shape.
///
/// `by_id_endpoint!(doc; Type { field: "jsonName", "field doc" },
/// "new() doc", "/path", "name", Output, parse_fn)`
macro_rules! by_id_endpoint {
    (
        $(#[$doc:meta])*
        $ty:ident { $field:ident: $json:literal, $field_doc:literal },
        $new_doc:literal, $path:literal, $name:literal, $out:ty, $parse:path
    ) => {
        $(#[$doc])*
        #[derive(
            Clone, Debug, Default, PartialEq, Eq, ::serde::Serialize, ::serde::Deserialize,
        )]
        #[serde(rename_all = "camelCase")]
        pub struct $ty {
            #[doc = $field_doc]
            pub $field: ::alloc::string::String,
        }

        impl $ty {
            #[doc = $new_doc]
            #[must_use]
            pub fn new($field: impl Into<::alloc::string::String>) -> $ty {
                $ty {
                    $field: $field.into(),
                }
            }
        }

        impl $crate::api::Endpoint for $ty {
            type Output = $out;

            fn name(&self) -> &'static str {
                $name
            }

            fn request(&self) -> $crate::http::HttpRequest {
                $crate::api::post($path, self)
            }

            fn parse(
                &self,
                response: &$crate::http::HttpResponse,
            ) -> Result<$out, $crate::api::ApiError> {
                $parse(response)
            }

            fn validate(&self) -> Result<(), $crate::api::validate::ValidationErrors> {
                $crate::api::validate::id($json, &self.$field)
            }

            fn is_idempotent(&self) -> bool {
                true
            }
        }
    };
}

pub mod clusters;
pub mod error;
mod fast;
pub mod instances;
pub mod lenient;
pub mod paging;
pub mod products;
pub mod registry;
pub mod storage;
pub mod templates;
pub mod validate;

pub use error::{ApiError, ApiErrorKind};
pub use products::Price;
pub use validate::{FieldProblem, Problem, ValidationErrors};

/// The v1 base URL; endpoint paths (`/v1/...`) are relative to it.
pub const BASE_URL: &str = "https://api.novita.ai/gpu-instance/openapi";

/// One Novita API call: how to build its request and how to read its response.
pub trait Endpoint {
    /// What a successful response parses into.
    type Output;

    /// A stable name for logs and metrics, e.g. `"instances.create"`.
    fn name(&self) -> &'static str;

    /// The request: method, path and query relative to [`BASE_URL`] (starting
    /// with `/v1/`), `Content-Type: application/json`, and the JSON body for
    /// POSTs. Credentials are added by [`ApiContext::authorize`].
    fn request(&self) -> HttpRequest;

    /// Reads the response: a non-2xx status becomes an [`ApiError`] classified
    /// by [`ApiError::from_response`]; a 2xx body that cannot be read becomes
    /// [`ApiErrorKind::Decode`].
    ///
    /// # Errors
    /// Any [`ApiError`] as described above.
    fn parse(&self, response: &HttpResponse) -> Result<Self::Output, ApiError>;

    /// Checks the request before it is sent, listing every problem at once.
    /// Endpoints without a body to check always pass.
    ///
    /// # Errors
    /// [`ValidationErrors`] naming each bad field.
    fn validate(&self) -> Result<(), ValidationErrors> {
        Ok(())
    }

    /// `true` when the answer may be cached for a while (clusters, products,
    /// templates): it changes rarely and does not depend on the caller's
    /// instances.
    fn is_cacheable(&self) -> bool {
        false
    }

    /// `true` when sending the request twice has the same effect as sending it
    /// once, so a retry after a lost answer is safe. GETs and the instance
    /// actions (start, stop, ...) are; creates are not.
    fn is_idempotent(&self) -> bool {
        false
    }
}

/// Credentials and identification added to every request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiContext {
    /// The Novita API key (`sk_...`). Prints as `***`.
    pub api_key: Secret,
    /// The `User-Agent` to send.
    pub user_agent: String,
}

/// Why an [`ApiContext`] could not be made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ApiContextError {
    /// The API key is empty (or only whitespace).
    EmptyApiKey,
    /// The API key contains whitespace or control characters, which cannot be
    /// sent in a header.
    MalformedApiKey,
    /// The user agent contains control characters.
    MalformedUserAgent,
}

impl fmt::Display for ApiContextError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ApiContextError::EmptyApiKey => f.write_str(
                "the Novita API key is empty: set NOVITA_API_KEY to a key from the Novita console (sk_...)",
            ),
            ApiContextError::MalformedApiKey => f.write_str(
                "the Novita API key contains spaces or control characters: check NOVITA_API_KEY for stray quotes or newlines",
            ),
            ApiContextError::MalformedUserAgent => {
                f.write_str("the user agent contains control characters: use printable text only")
            }
        }
    }
}

impl core::error::Error for ApiContextError {}

impl ApiContext {
    /// A context for `api_key`, sending `user_agent`.
    ///
    /// # Errors
    /// [`ApiContextError`] when the key is empty or cannot be put in a header,
    /// or the user agent has control characters.
    pub fn new(
        api_key: impl Into<Secret>,
        user_agent: impl Into<String>,
    ) -> Result<ApiContext, ApiContextError> {
        let api_key = api_key.into();
        let user_agent = user_agent.into();
        let key = api_key.expose();
        if key.trim().is_empty() {
            return Err(ApiContextError::EmptyApiKey);
        }
        if key.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(ApiContextError::MalformedApiKey);
        }
        if user_agent.chars().any(char::is_control) {
            return Err(ApiContextError::MalformedUserAgent);
        }
        Ok(ApiContext {
            api_key,
            user_agent,
        })
    }

    /// Adds `Authorization: Bearer <key>`, `User-Agent` and
    /// `Content-Type: application/json` to `request`, replacing earlier values.
    pub fn authorize(&self, request: &mut HttpRequest) {
        request
            .headers
            .set_parts("Authorization", &["Bearer ", self.api_key.expose()]);
        if !self.user_agent.is_empty() {
            request.headers.set("User-Agent", self.user_agent.as_str());
        }
        // Usually there already, once (`get`, `post`): set only otherwise,
        // which saves rewriting the header list.
        let only_json = {
            let mut types = request
                .headers
                .iter()
                .filter(|(n, _)| n.eq_ignore_ascii_case("Content-Type"));
            types.next().is_some_and(|(_, v)| v == "application/json") && types.next().is_none()
        };
        if !only_json {
            request.headers.set("Content-Type", "application/json");
        }
    }
}

// ---------------------------------------------------------------- requests

/// Percent-encodes `s` for a query component (everything but RFC 3986
/// unreserved characters is escaped) onto `out`.
pub fn percent_encode(s: &str, out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    // Room for the usual case (nothing escaped) up front: no growth per byte.
    out.reserve(s.len());
    for &b in s.as_bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0x0F)]));
        }
    }
}

/// Builds `path?k=v&k2=v2` with percent-encoded keys and values.
#[derive(Debug)]
pub(crate) struct PathQuery {
    s: String,
    has_query: bool,
}

impl PathQuery {
    pub(crate) fn new(path: &str) -> PathQuery {
        // Room for a query or two without growing.
        let mut s = String::with_capacity(path.len().saturating_add(48));
        s.push_str(path);
        PathQuery {
            s,
            has_query: false,
        }
    }

    pub(crate) fn push(&mut self, key: &str, value: &str) -> &mut Self {
        self.s.push(if self.has_query { '&' } else { '?' });
        self.has_query = true;
        percent_encode(key, &mut self.s);
        self.s.push('=');
        percent_encode(value, &mut self.s);
        self
    }

    pub(crate) fn opt_str(&mut self, key: &str, value: Option<&str>) -> &mut Self {
        if let Some(v) = value {
            self.push(key, v);
        }
        self
    }

    pub(crate) fn opt_num(&mut self, key: &str, value: Option<u64>) -> &mut Self {
        if let Some(v) = value {
            self.push(key, &alloc::format!("{v}"));
        }
        self
    }

    pub(crate) fn finish(&mut self) -> String {
        core::mem::take(&mut self.s)
    }
}

/// A GET request for `path_and_query` with the JSON content type.
pub(crate) fn get(path_and_query: String) -> HttpRequest {
    let mut r = HttpRequest::new(Method::Get, path_and_query);
    r.headers.set("Content-Type", "application/json");
    r.headers.set("Accept", "application/json");
    r
}

/// A POST request for `path` with `body` as JSON.
pub(crate) fn post<B: Serialize>(path: &str, body: &B) -> HttpRequest {
    let mut r = HttpRequest::new(Method::Post, path);
    r.headers.set("Content-Type", "application/json");
    r.headers.set("Accept", "application/json");
    // Serialising our own body types (string keys, no maps with non-string
    // keys, no non-finite floats) cannot fail; `{}` is a safe fallback.
    r.body = Some(serde_json::to_vec(body).unwrap_or_else(|_| b"{}".to_vec()));
    r
}

// ---------------------------------------------------------------- responses

/// The body of a 2xx response as JSON: an empty (or all-whitespace) body is
/// `null`; a non-2xx status is an [`ApiError`]; a body that is not JSON is a
/// decode error.
pub(crate) fn success_json(response: &HttpResponse) -> Result<Value, ApiError> {
    if !response.is_success() {
        return Err(ApiError::from_response(response));
    }
    if response.body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Null);
    }
    serde_json::from_slice(&response.body).map_err(|e| ApiError::decode(response, e))
}

/// A 2xx response whose body does not matter (empty, `{}`, or anything else);
/// a non-2xx status is an [`ApiError`].
pub(crate) fn success_unit(response: &HttpResponse) -> Result<(), ApiError> {
    if response.is_success() {
        Ok(())
    } else {
        Err(ApiError::from_response(response))
    }
}

/// The list under `key`: `{key: [...]}` (or a bare top-level array); `null`
/// or a missing body is an empty list; elements that do not fit `T` are
/// skipped. An object without `key`, or `key` holding something other than a
/// list, is a decode error.
pub(crate) fn list_under<T: DeserializeOwned>(
    v: &Value,
    key: &str,
    response: &HttpResponse,
) -> Result<Vec<T>, ApiError> {
    match v {
        Value::Array(_) => Ok(lenient::list_of(v)),
        Value::Object(map) => match map.get(key) {
            Some(items @ Value::Array(_)) => Ok(lenient::list_of(items)),
            Some(Value::Null) => Ok(Vec::new()),
            Some(_) => Err(ApiError::decode(
                response,
                alloc::format!("`{key}` is not a list"),
            )),
            None => Err(ApiError::decode(
                response,
                alloc::format!("the response has no `{key}` list"),
            )),
        },
        _ => Err(ApiError::decode(
            response,
            alloc::format!("expected an object with a `{key}` list"),
        )),
    }
}

/// Reads `v` as `T`, turning a serde error into a decode error.
pub(crate) fn decode<T: DeserializeOwned>(
    v: &Value,
    response: &HttpResponse,
) -> Result<T, ApiError> {
    T::deserialize(v).map_err(|e| ApiError::decode(response, e))
}

/// A top-level field read as a lenient string.
pub(crate) fn top_string(v: &Value, key: &str) -> Option<String> {
    v.get(key).and_then(lenient::to_string)
}

/// A top-level field read as a lenient integer.
pub(crate) fn top_u64(v: &Value, key: &str) -> Option<u64> {
    v.get(key).and_then(lenient::to_u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::format;

    #[test]
    fn query_values_are_percent_encoded() {
        let mut q = PathQuery::new("/v1/x");
        q.push("name", "a b&c=d/é")
            .opt_str("none", None)
            .opt_num("n", Some(3));
        assert_eq!(q.finish(), "/v1/x?name=a%20b%26c%3Dd%2F%C3%A9&n=3");
    }

    #[test]
    fn authorize_adds_headers_and_hides_the_key() {
        let ctx = ApiContext::new("sk_live_abc", "novitai/test").unwrap();
        let mut r = get(String::from("/v1/clusters"));
        ctx.authorize(&mut r);
        assert_eq!(r.headers.get("authorization"), Some("Bearer sk_live_abc"));
        assert_eq!(r.headers.get("user-agent"), Some("novitai/test"));
        assert_eq!(r.headers.get("content-type"), Some("application/json"));
        assert!(!format!("{ctx:?}").contains("abc"));
        assert!(!format!("{r:?}").contains("abc"));
    }

    #[test]
    fn authorize_leaves_exactly_one_json_content_type() {
        let ctx = ApiContext::new("sk_live_abc", "novitai/test").unwrap();
        let count = |r: &HttpRequest| {
            r.headers
                .iter()
                .filter(|(n, _)| n.eq_ignore_ascii_case("content-type"))
                .map(|(_, v)| String::from(v))
                .collect::<Vec<_>>()
        };
        // Already right: left as it is.
        let mut r = get(String::from("/v1/clusters"));
        ctx.authorize(&mut r);
        assert_eq!(count(&r), ["application/json"]);
        // Another type, or the right one twice: replaced by one.
        for extra in ["text/plain", "application/json"] {
            let mut r = get(String::from("/v1/clusters"));
            r.headers.append("content-type", extra);
            ctx.authorize(&mut r);
            assert_eq!(count(&r), ["application/json"], "after {extra}");
        }
        let mut r = HttpRequest::new(Method::Get, "/v1/clusters");
        r.headers.set("Content-Type", "text/plain");
        ctx.authorize(&mut r);
        assert_eq!(count(&r), ["application/json"]);
    }

    #[test]
    fn bad_keys_are_refused_with_a_hint() {
        assert_eq!(
            ApiContext::new("  ", "ua").unwrap_err(),
            ApiContextError::EmptyApiKey
        );
        let e = ApiContext::new("sk_abc\n", "ua").unwrap_err();
        assert_eq!(e, ApiContextError::MalformedApiKey);
        assert!(format!("{e}").contains("NOVITA_API_KEY"));
        assert_eq!(
            ApiContext::new("sk", "ua\r\nX: y").unwrap_err(),
            ApiContextError::MalformedUserAgent
        );
    }

    #[test]
    fn empty_bodies_are_null_and_garbage_is_a_decode_error() {
        assert_eq!(
            success_json(&HttpResponse::new(200, b" \n".to_vec())),
            Ok(Value::Null)
        );
        let e = success_json(&HttpResponse::new(200, b"<html>".to_vec())).unwrap_err();
        assert_eq!(e.kind, ApiErrorKind::Decode);
        assert!(e.message().is_some());
    }
}
