//! Every API response parser (`Endpoint::parse` of each endpoint in
//! `core/src/api`) on arbitrary bytes with an arbitrary status, and on
//! structured JSON biased toward the fields the parsers read, never panics;
//! a non-2xx status is always an error.
//!
//! An input starting with `HTTP ` is a readable response (the seed corpus
//! holds the documented example responses in this form):
//!
//! ```text
//! HTTP 200
//! Retry-After: 5            (optional header lines)
//!
//! {"data":[...]}
//! ```
//!
//! Anything else is read with `arbitrary`.
#![no_main]

use arbitrary::{Arbitrary, Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use novitai_core::api::clusters::ListClusters;
use novitai_core::api::instances::{
    CreateInstance, DeleteInstance, EditInstance, GetInstance, ListInstances, MigrateInstance,
    RestartInstance, StartInstance, StopInstance,
};
use novitai_core::api::paging::InstancePager;
use novitai_core::api::products::ListProducts;
use novitai_core::api::registry::{CreateRegistryAuth, DeleteRegistryAuth, ListRegistryAuths};
use novitai_core::api::storage::{
    CreateNetworkStorage, DeleteNetworkStorage, ListNetworkStorages, UpdateNetworkStorage,
};
use novitai_core::api::templates::{CreateTemplate, DeleteTemplate, GetTemplate, ListTemplates};
use novitai_core::api::{ApiError, Endpoint};
use novitai_core::http::{Headers, HttpResponse};
use novitai_fuzz::{KEYS, json, object};
use serde_json::Value;

const STATUSES: &[u16] = &[
    200, 201, 204, 299, 300, 301, 400, 401, 403, 404, 408, 409, 413, 422, 429, 500, 502, 503, 504,
    0, 99, 600, 65535,
];

#[derive(Debug)]
struct Input(HttpResponse);

fn body(u: &mut Unstructured<'_>) -> Result<Vec<u8>> {
    Ok(match u.int_in_range(0..=3)? {
        0 => u.arbitrary::<Vec<u8>>()?,
        1 => serde_json::to_vec(&json(u, 4)?).unwrap(),
        2 => {
            // The documented envelopes: a list under a known key, maybe with
            // paging fields, or an error object.
            let mut top = object(u, 2)?;
            let key = *u.choose(KEYS)?;
            let n = u.int_in_range(0..=3)?;
            let mut items = Vec::new();
            for _ in 0..n {
                items.push(Value::Object(object(u, 3)?));
            }
            top.insert(key.to_owned(), Value::Array(items));
            serde_json::to_vec(&Value::Object(top)).unwrap()
        }
        _ => {
            // JSON cut short or with junk after it.
            let mut b = serde_json::to_vec(&json(u, 3)?).unwrap();
            let cut = u.int_in_range(0..=b.len())?;
            b.truncate(cut);
            b.extend_from_slice(u.arbitrary::<&[u8]>()?);
            b
        }
    })
}

impl<'a> Arbitrary<'a> for Input {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        let status = if u.ratio(3, 4)? {
            *u.choose(STATUSES)?
        } else {
            u.arbitrary()?
        };
        let mut headers = Headers::new();
        for _ in 0..u.int_in_range(0..=2)? {
            let name = *u.choose(&["Retry-After", "Content-Type", "Date", "X-Other"])?;
            headers.append(name, u.arbitrary::<String>()?);
        }
        let body = body(u)?;
        Ok(Input(HttpResponse {
            status,
            headers,
            body,
        }))
    }
}

fn check<E: Endpoint>(e: &E, r: &HttpResponse) -> Option<E::Output> {
    match e.parse(r) {
        Ok(out) => {
            assert!(r.is_success(), "{} accepted HTTP {}", e.name(), r.status);
            Some(out)
        }
        Err(err) => {
            look_at(&err);
            None
        }
    }
}

fn look_at(err: &ApiError) {
    let _ = err.to_string();
    let _ = format!("{err:?}");
    let _ = (err.code(), err.reason(), err.message(), err.retry_after());
    let _ = (err.body(), err.is_retryable(), err.detail());
}

/// Parses the readable form (after `HTTP `).
fn text(data: &[u8]) -> Option<HttpResponse> {
    let split = data
        .windows(2)
        .position(|w| w == b"\n\n")
        .unwrap_or(data.len());
    let head = std::str::from_utf8(&data[..split]).ok()?;
    let body = data.get(split + 2..).unwrap_or_default().to_vec();
    let mut lines = head.lines();
    let status = lines.next()?.trim().parse().ok()?;
    let mut response = HttpResponse::new(status, body);
    for line in lines {
        if let Some((n, v)) = line.split_once(':') {
            response.headers.append(n.trim(), v.trim());
        }
    }
    Some(response)
}

fuzz_target!(|data: &[u8]| {
    let input = match data.strip_prefix(b"HTTP ") {
        Some(rest) => match text(rest) {
            Some(r) => Input(r),
            None => return,
        },
        None => match Input::arbitrary_take_rest(Unstructured::new(data)) {
            Ok(i) => i,
            Err(_) => return,
        },
    };
    let r = &input.0;
    look_at(&ApiError::from_response(r));
    check(&ListClusters, r);
    check(&ListProducts::default(), r);
    check(&ListTemplates::default(), r);
    check(&GetTemplate::new("t1"), r);
    check(&CreateTemplate::default(), r);
    check(&DeleteTemplate::new("t1"), r);
    check(&ListRegistryAuths, r);
    check(&CreateRegistryAuth::default(), r);
    check(&DeleteRegistryAuth::new("a1"), r);
    check(&ListNetworkStorages::default(), r);
    check(&CreateNetworkStorage::default(), r);
    check(&UpdateNetworkStorage::default(), r);
    check(&DeleteNetworkStorage::new("s1"), r);
    check(&GetInstance::new("i1"), r);
    check(&CreateInstance::default(), r);
    check(&StartInstance::new("i1"), r);
    check(&StopInstance::new("i1"), r);
    check(&RestartInstance::new("i1"), r);
    check(&DeleteInstance::new("i1"), r);
    check(&MigrateInstance::new("i1"), r);
    check(&EditInstance::default(), r);
    if let Some(page) = check(&ListInstances::default(), r) {
        // The pager takes any page the parser produced.
        if let Ok(mut pager) = InstancePager::new(ListInstances::default(), 3) {
            let _ = pager.on_page(page);
            let _ = pager.request();
        }
    }
});
