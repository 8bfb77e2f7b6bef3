//! Small helpers for the wire format: request targets, query strings, JSON
//! bodies and the error body `{"code", "reason", "message"}`.

use alloc::string::{String, ToString};
use alloc::vec::Vec;
use serde::Serialize;
use serde_json::{Map, Value};

use super::wire::ErrorBody;
use crate::http::HttpResponse;

/// The path prefix of the v1 API on the real host; accepted and stripped so a
/// client configured with either base URL reaches the same routes.
const API_PREFIX: &str = "/gpu-instance/openapi";

/// Splits a request target into `(path, query)`, dropping any
/// `scheme://host` part and the `/gpu-instance/openapi` prefix, and trailing
/// slashes of the path.
pub(crate) fn split_target(target: &str) -> (&str, &str) {
    let mut rest = target;
    for scheme in ["http://", "https://"] {
        if let Some(after) = rest.strip_prefix(scheme) {
            rest = after
                .find('/')
                .map_or("/", |i| after.get(i..).unwrap_or("/"));
        }
    }
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    let path = path.strip_prefix(API_PREFIX).unwrap_or(path);
    let path = path.trim_end_matches('/');
    (path, query)
}

/// Percent-decodes a query component (`+` is a space); malformed escapes are
/// kept as written, invalid UTF-8 is replaced.
pub(crate) fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = |j: usize| bytes.get(j).and_then(|c| (*c as char).to_digit(16));
                if let (Some(h), Some(l)) = (hex(i + 1), hex(i + 2)) {
                    out.push((h * 16 + l) as u8);
                    i += 3;
                    continue;
                }
                out.push(b'%');
            }
            _ => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A decoded query string; the first value of a repeated name wins.
pub(crate) struct Query(Vec<(String, String)>);

impl Query {
    pub(crate) fn parse(q: &str) -> Query {
        Query(
            q.split('&')
                .filter(|p| !p.is_empty())
                .map(|p| {
                    let (k, v) = p.split_once('=').unwrap_or((p, ""));
                    (percent_decode(k), percent_decode(v))
                })
                .collect(),
        )
    }

    /// The value of `name`, `None` when absent or empty.
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    }

    /// An optional non-negative integer parameter.
    pub(crate) fn uint(&self, name: &str) -> Result<Option<u64>, HttpResponse> {
        match self.get(name) {
            None => Ok(None),
            Some(v) => v
                .trim()
                .parse::<u64>()
                .map(Some)
                .map_err(|_| invalid(&alloc::format!("{name} must be a non-negative integer"))),
        }
    }
}

/// A JSON response with `Content-Type: application/json`.
pub(crate) fn respond<T: Serialize + ?Sized>(status: u16, value: &T) -> HttpResponse {
    // The wire records hold strings, numbers, bools and lists only:
    // serialising them cannot fail (an empty body would be the fallback).
    let body = serde_json::to_vec(value).unwrap_or_default();
    let mut r = HttpResponse::new(status, body);
    r.headers.set("Content-Type", "application/json");
    r
}

/// 200 with a JSON body.
pub(crate) fn ok<T: Serialize + ?Sized>(value: &T) -> HttpResponse {
    respond(200, value)
}

/// An error in Novita's `{code, reason, message}` shape.
pub(crate) fn error(status: u16, reason: &str, message: &str) -> HttpResponse {
    respond(
        status,
        &ErrorBody {
            code: status,
            message,
            reason,
        },
    )
}

/// 400 `VALIDATOR_PARAM`.
pub(crate) fn invalid(message: &str) -> HttpResponse {
    error(400, "VALIDATOR_PARAM", message)
}

/// Parses a request body as a JSON object; an absent or empty body is `{}`.
pub(crate) fn body_object(body: Option<&[u8]>) -> Result<Map<String, Value>, HttpResponse> {
    let bytes = body.unwrap_or_default();
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(invalid("request body must be a JSON object")),
        Err(_) => Err(invalid("request body is not valid JSON")),
    }
}

/// Reads an optional string field; numbers are accepted and written out.
pub(crate) fn opt_str(m: &Map<String, Value>, key: &str) -> Result<Option<String>, HttpResponse> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(_) => Err(invalid(&alloc::format!("{key} must be a string"))),
    }
}

/// Reads a required non-empty string field.
pub(crate) fn req_str(m: &Map<String, Value>, key: &str) -> Result<String, HttpResponse> {
    match opt_str(m, key)? {
        Some(s) if !s.trim().is_empty() => Ok(s),
        _ => Err(invalid(&alloc::format!("{key} is required"))),
    }
}

/// Reads an optional integer field, given as a JSON number or a numeric string.
pub(crate) fn opt_int(m: &Map<String, Value>, key: &str) -> Result<Option<i64>, HttpResponse> {
    let bad = || invalid(&alloc::format!("{key} must be an integer"));
    match m.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n.as_i64().map(Some).ok_or_else(bad),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(Value::String(s)) => s.trim().parse::<i64>().map(Some).map_err(|_| bad()),
        Some(_) => Err(bad()),
    }
}

/// Reads an optional boolean field (also `"true"`/`"false"`).
pub(crate) fn opt_bool(m: &Map<String, Value>, key: &str) -> Result<Option<bool>, HttpResponse> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(Value::String(s)) if s == "true" => Ok(Some(true)),
        Some(Value::String(s)) if s == "false" => Ok(Some(false)),
        Some(_) => Err(invalid(&alloc::format!("{key} must be a boolean"))),
    }
}

/// Case-insensitive "fuzzy" match: every character of `needle` (spaces
/// ignored) appears in `hay` in order as a substring once spaces are dropped.
pub(crate) fn fuzzy_contains(hay: &str, needle: &str) -> bool {
    fn norm(s: &str) -> impl Iterator<Item = char> + Clone + '_ {
        s.chars()
            .filter(|c| !c.is_whitespace())
            .flat_map(char::to_lowercase)
    }
    // `norm(hay).contains(norm(needle))` without building either string: try
    // every position of the normalised hay (including the end, where only
    // an empty needle matches).
    let mut rest = norm(hay);
    loop {
        let mut h = rest.clone();
        if norm(needle).all(|c| h.next() == Some(c)) {
            return true;
        }
        if rest.next().is_none() {
            return false;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_split_with_or_without_prefix_and_host() {
        assert_eq!(
            split_target("/v1/gpu/instance?instanceId=a"),
            ("/v1/gpu/instance", "instanceId=a")
        );
        assert_eq!(
            split_target("https://api.novita.ai/gpu-instance/openapi/v1/clusters/"),
            ("/v1/clusters", "")
        );
        assert_eq!(split_target("http://h"), ("", ""));
        assert_eq!(split_target(""), ("", ""));
    }

    #[test]
    fn queries_decode() {
        let q = Query::parse("productName=RTX%204090+24GB&x=%zz&x=2&empty=");
        assert_eq!(q.get("productName"), Some("RTX 4090 24GB"));
        assert_eq!(q.get("x"), Some("%zz"));
        assert_eq!(q.get("empty"), None);
        assert!(Query::parse("n=-1").uint("n").is_err());
        assert_eq!(Query::parse("n=7").uint("n").ok().flatten(), Some(7));
        assert_eq!(percent_decode("%"), "%");
        assert_eq!(percent_decode("%4"), "%4");
        assert_eq!(percent_decode("%ff"), "\u{fffd}");
    }

    #[test]
    fn fuzzy_ignores_case_and_spaces() {
        assert!(fuzzy_contains("RTX 4090 24GB", "rtx4090"));
        assert!(fuzzy_contains("RTX 4090 24GB", "4090"));
        assert!(!fuzzy_contains("RTX 4090 24GB", "A100"));
    }

    #[test]
    fn fuzzy_matches_what_comparing_normalised_strings_matches() {
        let norm = |s: &str| -> String {
            s.chars()
                .filter(|c| !c.is_whitespace())
                .flat_map(char::to_lowercase)
                .collect()
        };
        let words = [
            "",
            " ",
            "a",
            "A",
            "ab",
            "b a",
            "RTX 4090 24GB",
            "x 40",
            "4090 24",
            "GB",
            "gbx",
            "\u{130}",
            "i\u{307}",
            "\u{307}",
            "İx",
            "aaab",
            "aab",
            "ß",
            "SS",
        ];
        for hay in words {
            for needle in words {
                assert_eq!(
                    fuzzy_contains(hay, needle),
                    norm(hay).contains(norm(needle).as_str()),
                    "{hay:?} {needle:?}"
                );
            }
        }
    }
}
