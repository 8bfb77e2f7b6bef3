//! Fast paths of the hot response parsers (clusters, products, instance get
//! and list): a 2xx body read straight into the typed records, without
//! building a `serde_json::Value` tree first.
//!
//! Each function answers `Some` only when the answer is the one the
//! `Value`-based path gives, and `None` otherwise; the caller then takes that
//! path, which also words every error. Two passes make that hold:
//! 1. [`scan`] walks the body the way parsing a `Value` walks it (every
//!    string checked as UTF-8, every number range-checked, the same depth
//!    limit), keeping nothing. A body that is not valid JSON goes to the slow
//!    path.
//! 2. The body is read again, into the records. A `Value` object keeps the
//!    last of duplicate keys; the derived readers fail on a duplicate known
//!    key instead, and any failure here sends the body to the slow path.
//!    Unknown fields are skipped (the first pass has checked them).
//!
//! The nested lenient readers ([`lenient::records`], [`lenient::opt_record`],
//! [`lenient::string_list`]) behave the same on both paths.
//!
//! On wasm32 every function answers `None` (see [`scan`]), so the browser
//! package carries only the `Value` path.

use alloc::vec::Vec;
use core::fmt;
use core::marker::PhantomData;
use serde::de::{
    DeserializeOwned, DeserializeSeed, Deserializer, Error as _, IgnoredAny, MapAccess, SeqAccess,
    Visitor,
};

use super::lenient::{self, Record};
use crate::http::HttpResponse;

/// The type of a JSON value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Scalar,
    Array,
    Object,
}

/// Walks one value completely, checking it as `Value` parsing would.
struct Check;

impl<'de> DeserializeSeed<'de> for Check {
    type Value = Kind;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Kind, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Check {
    type Value = Kind;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<Kind, E> {
        Ok(Kind::Scalar)
    }

    fn visit_i64<E>(self, _: i64) -> Result<Kind, E> {
        Ok(Kind::Scalar)
    }

    fn visit_u64<E>(self, _: u64) -> Result<Kind, E> {
        Ok(Kind::Scalar)
    }

    fn visit_f64<E>(self, _: f64) -> Result<Kind, E> {
        Ok(Kind::Scalar)
    }

    fn visit_str<E>(self, _: &str) -> Result<Kind, E> {
        Ok(Kind::Scalar)
    }

    fn visit_unit<E>(self) -> Result<Kind, E> {
        Ok(Kind::Scalar)
    }

    fn visit_none<E>(self) -> Result<Kind, E> {
        Ok(Kind::Scalar)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Kind, D::Error> {
        d.deserialize_any(self)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Kind, A::Error> {
        while seq.next_element_seed(Check)?.is_some() {}
        Ok(Kind::Array)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Kind, A::Error> {
        while map.next_key_seed(KeyIn(&[]))?.is_some() {
            map.next_value_seed(Check)?;
        }
        Ok(Kind::Object)
    }
}

/// Reads an object key as its index in a list of names (`None`: another key).
struct KeyIn<'k>(&'k [&'k str]);

impl<'de> DeserializeSeed<'de> for KeyIn<'_> {
    type Value = Option<usize>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Option<usize>, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeyIn<'_> {
    type Value = Option<usize>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object key")
    }

    fn visit_str<E>(self, s: &str) -> Result<Option<usize>, E> {
        Ok(self.0.iter().position(|k| *k == s))
    }
}

/// The top of a body: its kind and, for an object, the kind of the value of
/// each of `keys` (the last one, where a key repeats, as a `Value` keeps).
struct Top<'k, const N: usize>(&'k [&'k str; N]);

impl<'de, const N: usize> Visitor<'de> for Top<'_, N> {
    type Value = (Kind, [Option<Kind>; N]);

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut kinds = [None; N];
        while let Some(at) = map.next_key_seed(KeyIn(self.0))? {
            let kind = map.next_value_seed(Check)?;
            if let Some(slot) = at.and_then(|i| kinds.get_mut(i)) {
                *slot = Some(kind);
            }
        }
        Ok((Kind::Object, kinds))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        Check.visit_seq(seq).map(|k| (k, [None; N]))
    }

    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok((Kind::Scalar, [None; N]))
    }

    fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
        Ok((Kind::Scalar, [None; N]))
    }

    fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
        Ok((Kind::Scalar, [None; N]))
    }

    fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
        Ok((Kind::Scalar, [None; N]))
    }

    fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
        Ok((Kind::Scalar, [None; N]))
    }

    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok((Kind::Scalar, [None; N]))
    }
}

/// The first pass: `None` unless `response` is a 2xx whose body is valid
/// JSON; then the body as text, the kind of its top value and of the values
/// under `keys`.
///
/// The body is checked as UTF-8 once as a whole (outside strings valid JSON
/// is ASCII, so a body that is not UTF-8 is not valid JSON either), and then
/// read as text: the same checks as reading the bytes, without checking
/// every string again on both passes.
pub(crate) fn scan<'b, const N: usize>(
    response: &'b HttpResponse,
    keys: &[&str; N],
) -> Option<(&'b str, Kind, [Option<Kind>; N])> {
    // The wasm client keeps to the `Value` path: same answers, less code
    // (the fast paths add a second copy of the record readers, ~6% of the
    // gzipped package), and speed matters little for a browser's few calls.
    if cfg!(target_arch = "wasm32") || !response.is_success() {
        return None;
    }
    let text = core::str::from_utf8(&response.body).ok()?;
    let (top, kinds) = read(text, Top(keys))?;
    Some((text, top, kinds))
}

/// Reads a whole body with `visitor`.
fn read<'de, V: Visitor<'de>>(text: &'de str, visitor: V) -> Option<V::Value> {
    let mut de = serde_json::Deserializer::from_str(text);
    let v = de.deserialize_any(visitor).ok()?;
    de.end().ok()?;
    Some(v)
}

/// A list field of a body: a list of records, or `null` for none; anything
/// else is an error here (the slow path words it).
struct ListField<T>(PhantomData<T>);

impl<'de, T: DeserializeOwned> DeserializeSeed<'de> for ListField<T> {
    type Value = Vec<T>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Vec<T>, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de, T: DeserializeOwned> Visitor<'de> for ListField<T> {
    type Value = Vec<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list or null")
    }

    fn visit_unit<E>(self) -> Result<Vec<T>, E> {
        Ok(Vec::new())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Vec<T>, A::Error> {
        lenient::read_records(seq)
    }
}

/// The list body visitor: `{key: [...], extras...}` or a bare list.
struct List<'k, T, const M: usize> {
    /// The list's key first, then the extra integer fields.
    keys: &'k [&'k str; M],
    items: PhantomData<T>,
}

impl<'de, T: DeserializeOwned, const M: usize> Visitor<'de> for List<'_, T, M> {
    type Value = (Vec<T>, [Option<u64>; M]);

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object with a list, or a list")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        Ok((lenient::read_records(seq)?, [None; M]))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut items = None;
        let mut seen = [false; M];
        let mut extras = [None; M];
        while let Some(at) = map.next_key_seed(KeyIn(self.keys))? {
            let Some(i) = at else {
                map.next_value::<IgnoredAny>()?;
                continue;
            };
            if let Some(s) = seen.get_mut(i) {
                if *s {
                    return Err(A::Error::custom("a repeated key"));
                }
                *s = true;
            }
            if i == 0 {
                items = Some(map.next_value_seed(ListField(PhantomData))?);
            } else if let Some(slot) = extras.get_mut(i) {
                *slot = lenient::to_u64(&map.next_value_seed(lenient::Scalar)?);
            }
        }
        match items {
            Some(items) => Ok((items, extras)),
            None => Err(A::Error::custom("no list")),
        }
    }
}

/// `{key: [...]}` (or a bare list) as the records of the list (non-objects
/// skipped), with the lenient integers under `keys[1..]`; `keys[0]` is the
/// list's key. The answer of `success_json` + `list_under` + `top_u64`.
pub(crate) fn list<T: DeserializeOwned, const M: usize>(
    response: &HttpResponse,
    keys: &[&str; M],
) -> Option<(Vec<T>, [Option<u64>; M])> {
    let (text, _, _) = scan(response, &[])?;
    let (items, mut extras) = read(
        text,
        List {
            keys,
            items: PhantomData,
        },
    )?;
    if let Some(first) = extras.first_mut() {
        *first = None;
    }
    Some((items, extras))
}

/// Reads the value under key `keys[at]` of a top-level object as a record.
struct Under<'k, T, const N: usize> {
    keys: &'k [&'k str; N],
    at: usize,
    record: PhantomData<T>,
}

impl<'de, T: DeserializeOwned, const N: usize> Visitor<'de> for Under<'_, T, N> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<T, A::Error> {
        let mut found = None;
        while let Some(at) = map.next_key_seed(KeyIn(self.keys))? {
            if at == Some(self.at) {
                if found.is_some() {
                    return Err(A::Error::custom("a repeated key"));
                }
                found = Some(map.next_value_seed(Record::<T>::new())?);
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        found.flatten().ok_or_else(|| A::Error::custom("no record"))
    }
}

/// A record sent as the body itself or wrapped as `{wrapper: {...}}` (the
/// first of `wrappers` whose value is an object wins). The answer of
/// `success_json`, picking the record, and `decode`.
pub(crate) fn record<T: DeserializeOwned, const N: usize>(
    response: &HttpResponse,
    wrappers: &[&str; N],
) -> Option<T> {
    let (text, top, inner) = scan(response, wrappers)?;
    if top != Kind::Object {
        return None;
    }
    match inner.iter().position(|k| *k == Some(Kind::Object)) {
        Some(at) => read(
            text,
            Under {
                keys: wrappers,
                at,
                record: PhantomData,
            },
        ),
        // The body itself (an object, so `Record` reads it as one).
        None => read(text, Record::<T>::new()).flatten(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::clusters::Cluster;
    use crate::api::instances::{ConnectInfo, EnvVar, Instance, PortMapping, StatusError};
    use crate::api::products::{MonthlyPrice, Product};
    use crate::api::{ApiError, decode, list_under, success_json, top_u64};
    use alloc::string::String;
    use alloc::vec;
    use proptest::prelude::*;
    use serde::Deserialize;
    use serde_json::{Value, json};

    // ---- the slow paths, as the parsers take them -------------------------

    fn slow_list<T: DeserializeOwned>(r: &HttpResponse, key: &str) -> Result<Vec<T>, ApiError> {
        let v = success_json(r)?;
        list_under(&v, key, r)
    }

    type Page = (Vec<Instance>, Option<u64>, Option<u64>, Option<u64>);

    fn slow_page(r: &HttpResponse) -> Result<Page, ApiError> {
        let v = success_json(r)?;
        Ok((
            list_under(&v, "instances", r)?,
            top_u64(&v, "total"),
            top_u64(&v, "pageSize"),
            top_u64(&v, "pageNum"),
        ))
    }

    fn fast_page(r: &HttpResponse) -> Option<Page> {
        list(r, &["instances", "total", "pageSize", "pageNum"])
            .map(|(i, [_, t, s, n])| (i, t, s, n))
    }

    fn slow_record(r: &HttpResponse) -> Result<Instance, ApiError> {
        let v = success_json(r)?;
        let record = ["instance", "data"]
            .iter()
            .find_map(|k| v.get(*k).filter(|x| x.is_object()))
            .unwrap_or(&v);
        if !record.is_object() {
            return Err(ApiError::decode(r, "expected an instance object"));
        }
        decode(record, r)
    }

    /// Whenever a fast path answers, it answers what the slow path does.
    fn same_answers(r: &HttpResponse) -> usize {
        let mut hits = 0;
        if let Some(fast) = list::<Cluster, 1>(r, &["data"]) {
            assert_eq!(Ok(fast.0), slow_list(r, "data"));
            hits += 1;
        }
        if let Some(fast) = list::<Product, 1>(r, &["data"]) {
            assert_eq!(Ok(fast.0), slow_list(r, "data"));
            hits += 1;
        }
        if let Some(fast) = fast_page(r) {
            assert_eq!(Ok(fast), slow_page(r));
            hits += 1;
        }
        if let Some(fast) = record::<Instance, 2>(r, &["instance", "data"]) {
            assert_eq!(Ok(fast), slow_record(r));
            hits += 1;
        }
        hits
    }

    fn ok(body: &str) -> HttpResponse {
        HttpResponse::new(200, body.as_bytes().to_vec())
    }

    #[test]
    fn typical_bodies_take_the_fast_path_with_the_same_answer() {
        let product = json!({"id": "p", "name": "RTX 4090", "cpuPerGpu": "16", "regions": ["A"],
            "billingMethods": ["onDemand", 3], "monthlyPrice": [{"price": "1", "month": 1}, 7],
            "price": "35000", "spotPrice": 1.5, "availableDeploy": "true", "extra": {"x": [1]}});
        let instance = json!({"id": "i", "status": "running", "statusError": {"state": "", "message": "m"},
            "envs": [{"key": "A", "value": "1"}, "x"], "portMappings": [{"port": "80", "type": "http"}],
            "connectComponentSSH": {"sshCommand": "ssh", "password": 5}, "networkStorages": [{"Id": "s"}],
            "createdAt": "1700000000", "cpuNum": "8"});
        let bodies = [
            json!({"data": [product, product, 1, null]}),
            json!({"data": [{"id": "c", "availableGpuType": ["a", "b"], "supportNetworkStorage": 1}]}),
            json!({"data": null}),
            json!([product]),
            json!({"instances": [instance], "total": "1", "pageSize": 5, "pageNum": 1.0}),
            instance.clone(),
            json!({"instance": instance, "data": 1}),
            json!({"instance": 1, "data": instance}),
        ];
        for b in &bodies {
            let r = ok(&serde_json::to_string(b).unwrap());
            assert!(same_answers(&r) >= 1, "{b}");
        }
        let first = ok(&serde_json::to_string(&bodies[0]).unwrap());
        let (got, _) = list::<Product, 1>(&first, &["data"]).unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].monthly_price.len(), 1);
        assert_eq!(got[0].billing_methods, vec!["onDemand", "3"]);
    }

    #[test]
    fn what_a_value_would_see_differently_goes_the_slow_way() {
        let mut not_utf8 = b"{\"data\": [], \"x\": \"".to_vec();
        not_utf8.extend_from_slice(&[0xff, b'"', b'}']);
        let lists = [
            // A repeated key: a Value keeps the last one.
            &br#"{"data": [{"id": "a", "id": "b"}]}"#[..],
            br#"{"data": [], "data": [{"id": "b"}]}"#,
            br#"{"data": [{"id": "a", "availableGpuType": "x", "name": 1, "name": 2}]}"#,
            // Not valid JSON where a skipping reader would not look.
            br#"{"data": [], "x": 1e400}"#,
            b"{\"data\": [], \"x\": \"\\ud800\"}",
            &not_utf8,
            // Not a list, no list, not an object, nothing.
            br#"{"data": 5}"#,
            br#"{"items": []}"#,
            br#""data""#,
            b"",
        ];
        for body in lists {
            let r = HttpResponse::new(200, body.to_vec());
            assert_eq!(list::<Cluster, 1>(&r, &["data"]), None, "{body:?}");
            same_answers(&r);
        }
        let records = [
            &br#"{"id": "a", "status": "running", "status": "exited"}"#[..],
            br#"{"instance": {"id": "a"}, "instance": {"id": "b"}}"#,
            br#"{"data": {"id": "a", "envs": [{"key": "A", "key": "B"}]}}"#,
            br#"{"id": "a", "x": 1e400}"#,
            br#"[{"id": "a"}]"#,
            b"",
        ];
        for body in records {
            let r = HttpResponse::new(200, body.to_vec());
            assert_eq!(
                record::<Instance, 2>(&r, &["instance", "data"]),
                None,
                "{body:?}"
            );
            same_answers(&r);
        }
        let error = HttpResponse::new(500, b"{\"data\":[]}".to_vec());
        assert_eq!(list::<Cluster, 1>(&error, &["data"]), None);
    }

    // ---- the nested readers: the same answers as the Value-based ones ------

    fn old_string_list(v: &Value) -> Vec<String> {
        match v {
            Value::Array(items) => items.iter().filter_map(lenient::to_string).collect(),
            Value::String(s) => vec![s.clone()],
            _ => Vec::new(),
        }
    }

    fn leaf() -> impl Strategy<Value = Value> {
        prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(|n| json!(n)),
            any::<u64>().prop_map(|n| json!(n)),
            (-1e6f64..1e6).prop_map(|f| json!(f)),
            prop::sample::select(vec!["", "12", " 7 ", "true", "x", "running", "1.5"])
                .prop_map(|s| json!(s)),
        ]
    }

    fn value() -> impl Strategy<Value = Value> {
        let keys = prop::sample::select(vec![
            "key",
            "value",
            "port",
            "type",
            "endpoint",
            "state",
            "message",
            "price",
            "month",
            "sshCommand",
            "address",
            "username",
            "password",
            "other",
        ]);
        leaf().prop_recursive(4, 48, 6, move |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                prop::collection::vec((keys.clone(), inner), 0..6).prop_map(|kv| Value::Object(
                    kv.into_iter().map(|(k, v)| (k.into(), v)).collect()
                )),
            ]
        })
    }

    fn same_nested<T: DeserializeOwned + PartialEq + core::fmt::Debug>(v: &Value) {
        assert_eq!(
            lenient::records::<_, T>(v).unwrap(),
            lenient::vec_of::<_, T>(v).unwrap()
        );
        assert_eq!(
            lenient::opt_record::<_, T>(v).unwrap(),
            lenient::opt_of::<_, T>(v).unwrap()
        );
    }

    // ---- JSON text with what a Value hides: repeated keys, escapes, odd numbers

    fn text() -> impl Strategy<Value = Vec<u8>> {
        let key = prop::sample::select(vec![
            "data",
            "instances",
            "instance",
            "total",
            "pageSize",
            "pageNum",
            "id",
            "\\u0069d",
            "name",
            "status",
            "statusError",
            "state",
            "message",
            "envs",
            "key",
            "value",
            "portMappings",
            "port",
            "type",
            "monthlyPrice",
            "month",
            "price",
            "regions",
            "billingMethods",
            "availableGpuType",
            "connectComponentSSH",
            "cpuNum",
            "createdAt",
            "x",
        ]);
        let leaf = prop::sample::select(vec![
            "null",
            "true",
            "false",
            "0",
            "-0",
            "7",
            "-3",
            "1.5",
            "12.0",
            "1e3",
            "1e400",
            "-1e400",
            "18446744073709551615",
            "18446744073709551616",
            "-9223372036854775809",
            "\"\"",
            "\"running\"",
            "\"16\"",
            "\" 12 \"",
            "\"true\"",
            "\"\\u00e9\"",
            "\"\\ud800\"",
            "\"\\ud83d\\ude00\"",
            "\"a\\nb\"",
            "\"\\x\"",
            "\"\u{e9}\"",
            "BAD",
        ])
        // `BAD`: a string that is not UTF-8.
        .prop_map(|s| {
            if s == "BAD" {
                b"\"\xff\"".to_vec()
            } else {
                s.as_bytes().to_vec()
            }
        });
        let tree = leaf.prop_recursive(4, 64, 6, move |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..5).prop_map(|items| {
                    let mut out = b"[".to_vec();
                    for (i, it) in items.iter().enumerate() {
                        if i > 0 {
                            out.push(b',');
                        }
                        out.extend_from_slice(it);
                    }
                    out.push(b']');
                    out
                }),
                prop::collection::vec((key.clone(), inner), 0..6).prop_map(|kv| {
                    let mut out = b"{".to_vec();
                    for (i, (k, v)) in kv.iter().enumerate() {
                        if i > 0 {
                            out.extend_from_slice(b", ");
                        }
                        out.push(b'"');
                        out.extend_from_slice(k.as_bytes());
                        out.extend_from_slice(b"\":");
                        out.extend_from_slice(v);
                    }
                    out.push(b'}');
                    out
                }),
            ]
        });
        (tree, 0..8u8).prop_map(|(mut t, damage)| {
            match damage {
                0 => t.extend_from_slice(b" x"),
                1 => t.truncate(t.len() / 2),
                2 => t.extend_from_slice(b" \n"),
                _ => {}
            }
            t
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn the_streaming_nested_readers_answer_as_the_value_ones(v in value()) {
            same_nested::<EnvVar>(&v);
            same_nested::<PortMapping>(&v);
            same_nested::<MonthlyPrice>(&v);
            same_nested::<StatusError>(&v);
            same_nested::<ConnectInfo>(&v);
            prop_assert_eq!(lenient::string_list(&v).unwrap(), old_string_list(&v));
        }

        #[test]
        fn a_fast_path_answers_only_what_the_value_path_answers(body in text(), status in prop::sample::select(vec![200u16, 204, 404])) {
            same_answers(&HttpResponse::new(status, body));
        }
    }

    /// Records read from a `Value` whose every field is the wrong type still
    /// parse (the precondition of the streaming nested readers).
    #[test]
    fn nested_record_types_never_fail_on_an_object() {
        let odd = json!({"key": [1], "value": {}, "port": "x", "type": 5, "endpoint": [],
            "state": {}, "message": [], "price": "n/a", "month": -1, "sshCommand": 1,
            "address": [], "port2": 1, "username": true, "password": {}});
        assert!(EnvVar::deserialize(&odd).is_ok());
        assert!(PortMapping::deserialize(&odd).is_ok());
        assert!(MonthlyPrice::deserialize(&odd).is_ok());
        assert!(StatusError::deserialize(&odd).is_ok());
        assert!(ConnectInfo::deserialize(&odd).is_ok());
    }
}
