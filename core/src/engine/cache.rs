//! The engine's response cache for slowly changing GETs (clusters, products,
//! templates): bounded, TTL-based, keyed by path and query.

use alloc::collections::BTreeMap;
use alloc::string::String;
use serde::{Deserialize, Serialize};

use crate::http::HttpResponse;
use crate::time::{Duration, Instant};

/// Response cache settings.
///
/// # Default
/// Off (`enabled: false`); `ttl` 300 s (the Node service's `CACHE_TIMEOUT`);
/// `max_entries` 256.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CacheConfig {
    /// Whether successful cacheable GETs are kept and served again.
    pub enabled: bool,
    /// How long a cached answer stays fresh (60–3600 s when set from the
    /// environment's `CACHE_TIMEOUT`).
    pub ttl: Duration,
    /// The most answers kept; the one closest to expiry is dropped first.
    pub max_entries: usize,
}

impl Default for CacheConfig {
    fn default() -> CacheConfig {
        CacheConfig {
            enabled: false,
            ttl: Duration::from_secs(300),
            max_entries: 256,
        }
    }
}

#[derive(Debug, Clone)]
struct Entry {
    expires: Instant,
    response: HttpResponse,
}

/// A bounded TTL cache of successful responses.
#[derive(Debug, Clone)]
pub(crate) struct ResponseCache {
    config: CacheConfig,
    entries: BTreeMap<String, Entry>,
}

impl ResponseCache {
    pub(crate) fn new(config: CacheConfig) -> ResponseCache {
        ResponseCache {
            config,
            entries: BTreeMap::new(),
        }
    }

    pub(crate) fn enabled(&self) -> bool {
        self.config.enabled && self.config.max_entries > 0
    }

    /// A fresh answer for `key`, if any (expired entries are dropped here).
    pub(crate) fn get(&mut self, key: &str, now: Instant) -> Option<HttpResponse> {
        if !self.enabled() {
            return None;
        }
        match self.entries.get(key) {
            Some(e) if now < e.expires => Some(e.response.clone()),
            Some(_) => {
                self.entries.remove(key);
                None
            }
            None => None,
        }
    }

    /// Keeps a successful answer for `ttl`. A body that says it is JSON but
    /// does not parse (cut short or damaged on the way) is not kept: it would
    /// fail every caller served from the cache until the TTL runs out.
    pub(crate) fn insert(&mut self, key: &str, response: &HttpResponse, now: Instant) {
        if !self.enabled() || !response.is_success() || damaged_json(response) {
            return;
        }
        if !self.entries.contains_key(key) && self.entries.len() >= self.config.max_entries {
            self.entries.retain(|_, e| now < e.expires);
            while self.entries.len() >= self.config.max_entries {
                let soonest = self
                    .entries
                    .iter()
                    .min_by_key(|(_, e)| e.expires)
                    .map(|(k, _)| k.clone());
                match soonest {
                    Some(k) => {
                        self.entries.remove(&k);
                    }
                    None => break,
                }
            }
        }
        self.entries.insert(
            String::from(key),
            Entry {
                expires: now + self.config.ttl,
                response: response.clone(),
            },
        );
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }
}

/// `true` when the response says its body is JSON and the body is not.
fn damaged_json(response: &HttpResponse) -> bool {
    let says_json = response.headers.get("Content-Type").is_some_and(|t| {
        t.as_bytes()
            .windows(4)
            .any(|w| w.eq_ignore_ascii_case(b"json"))
    });
    says_json && serde_json::from_slice::<serde::de::IgnoredAny>(&response.body).is_err()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn on() -> ResponseCache {
        ResponseCache::new(CacheConfig {
            enabled: true,
            ttl: Duration::from_secs(300),
            max_entries: 2,
        })
    }

    #[test]
    fn answers_are_served_until_the_ttl_passes() {
        let mut c = on();
        let t0 = Instant::from_millis(1_000);
        c.insert("/v1/clusters", &HttpResponse::new(200, "[]"), t0);
        assert!(
            c.get("/v1/clusters", t0 + Duration::from_secs(299))
                .is_some()
        );
        assert!(
            c.get("/v1/clusters", t0 + Duration::from_secs(300))
                .is_none()
        );
        assert_eq!(c.len(), 0);
    }

    #[test]
    fn errors_are_never_cached_and_memory_is_bounded() {
        let mut c = on();
        let t0 = Instant::ZERO;
        c.insert("/a", &HttpResponse::new(503, ""), t0);
        assert!(c.get("/a", t0).is_none());
        for (i, k) in ["/a", "/b", "/c", "/d"].iter().enumerate() {
            c.insert(
                k,
                &HttpResponse::new(200, ""),
                t0 + Duration::from_secs(i as u64),
            );
        }
        assert_eq!(c.len(), 2);
        assert!(c.get("/d", t0).is_some());
        assert!(c.get("/a", t0).is_none());
    }

    #[test]
    fn a_damaged_json_body_is_not_cached() {
        // Found by the simulation suite (tests/, seed 4): one garbled 200
        // answer to /v1/products was served from the cache for its whole TTL.
        let mut c = on();
        let json = |body: &[u8]| {
            let mut r = HttpResponse::new(200, body.to_vec());
            r.headers
                .set("Content-Type", "application/json; charset=utf-8");
            r
        };
        c.insert("/cut", &json(br#"{"products":[{"id":"a""#), Instant::ZERO);
        c.insert("/garbled", &json(b"\xff\xfe{}"), Instant::ZERO);
        assert_eq!(c.len(), 0);
        c.insert("/fine", &json(br#"{"products":[]}"#), Instant::ZERO);
        // Bodies that do not claim to be JSON are kept as they are.
        c.insert("/text", &HttpResponse::new(200, "not json"), Instant::ZERO);
        assert_eq!(c.len(), 2);
    }

    #[test]
    fn disabled_cache_keeps_nothing() {
        let mut c = ResponseCache::new(CacheConfig::default());
        c.insert("/a", &HttpResponse::new(200, ""), Instant::ZERO);
        assert!(c.get("/a", Instant::ZERO).is_none());
        assert_eq!(c.len(), 0);
    }
}
