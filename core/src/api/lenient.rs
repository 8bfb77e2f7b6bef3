//! Lenient serde helpers for Novita's loosely typed JSON.
//!
//! Novita sends numbers as strings as often as numbers, omits fields, and the
//! public sources disagree on some shapes. Every response field in this module's
//! users is read through one of these helpers, which never fail: a value of an
//! unexpected type becomes `None` (or the field's default) instead of failing the
//! whole response. The only thing that fails is a record that is not a JSON
//! object at all.
//!
//! Use them as `#[serde(default, deserialize_with = "lenient::opt_u64")]`.

use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::marker::PhantomData;
use serde::de::value::MapAccessDeserializer;
use serde::de::{DeserializeOwned, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::Value;

use crate::secret::Secret;

/// Reads a non-negative integer from a number or a numeric string
/// (`12`, `"12"`, `" 12 "`, `12.0`, `"12.4"` → 12). Negative, non-finite,
/// non-numeric or out-of-range values give `None`.
#[must_use]
pub fn to_u64(v: &Value) -> Option<u64> {
    match v {
        Value::Number(n) => n.as_u64().or_else(|| n.as_f64().and_then(f64_to_u64)),
        Value::String(s) => {
            let t = s.trim();
            t.parse::<u64>()
                .ok()
                .or_else(|| parse_decimal(t).and_then(f64_to_u64))
        }
        _ => None,
    }
}

/// Parses a decimal number written the way Rust's `str::parse::<f64>`
/// reads one (`12.4`, `+1e3`, `.5`, `5.`, `007`; not `inf` or `NaN`), using
/// serde_json's number parser: that parser is linked anyway, while core's
/// float parser would add its own ~10 KiB power-of-ten table to the wasm
/// package. The text is rewritten into JSON's stricter grammar first (no
/// `+`, no leading zeros, digits on both sides of the point).
fn parse_decimal(t: &str) -> Option<f64> {
    let (negative, rest) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let (mantissa, exponent) = match rest.find(['e', 'E']) {
        Some(i) => (&rest[..i], Some(&rest[i + 1..])),
        None => (rest, None),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if int.len() + frac.len() == 0 || !all_digits(int) || !all_digits(frac) {
        return None;
    }
    let mut json = String::with_capacity(t.len() + 3);
    if negative {
        json.push('-');
    }
    let int = int.trim_start_matches('0');
    json.push_str(if int.is_empty() { "0" } else { int });
    if !frac.is_empty() {
        json.push('.');
        json.push_str(frac);
    }
    if let Some(e) = exponent {
        let digits = e.strip_prefix(['+', '-']).unwrap_or(e);
        if digits.is_empty() || !all_digits(digits) {
            return None;
        }
        json.push('e');
        json.push_str(e);
    }
    serde_json::from_str::<f64>(&json).ok()
}

fn f64_to_u64(f: f64) -> Option<u64> {
    // 1.8e19 is just below u64::MAX; beyond that the value is not an amount we
    // can represent, so it is not a value at all.
    if f.is_finite() && (0.0..1.8e19).contains(&f) {
        // Round half up without `f64::round` (which needs std).
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let r = (f + 0.5) as u64;
        Some(r)
    } else {
        None
    }
}

/// Reads a number (or numeric string) as `f64`; non-finite values give `None`.
#[must_use]
pub fn to_f64(v: &Value) -> Option<f64> {
    let f = match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => parse_decimal(s.trim()),
        _ => None,
    }?;
    f.is_finite().then_some(f)
}

/// Reads a string; numbers and booleans are accepted and written out
/// (`12` → `"12"`). `null`, arrays and objects give `None`.
#[must_use]
pub fn to_string(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Reads a boolean from `true`/`false`, `"true"`/`"false"` (any case), `1`/`0`
/// and `"1"`/`"0"`.
#[must_use]
pub fn to_bool(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::Number(n) => match n.as_u64() {
            Some(0) => Some(false),
            Some(1) => Some(true),
            _ => None,
        },
        Value::String(s) => {
            let t = s.trim();
            if t.eq_ignore_ascii_case("true") || t == "1" {
                Some(true)
            } else if t.eq_ignore_ascii_case("false") || t == "0" {
                Some(false)
            } else {
                None
            }
        }
        _ => None,
    }
}

/// [`to_string`] on an owned value: a string is moved out, not copied.
fn into_string(v: Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s),
        other => to_string(&other),
    }
}

/// Reads one value as a scalar `Value` without building compound values:
/// arrays and objects are skipped (checked, not kept) and read as `null`,
/// which every scalar helper turns into `None` exactly as it would the array
/// or object itself.
pub(crate) fn scalar<'de, D: Deserializer<'de>>(d: D) -> Result<Value, D::Error> {
    d.deserialize_any(ScalarVisitor)
}

struct ScalarVisitor;

impl<'de> serde::de::Visitor<'de> for ScalarVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, b: bool) -> Result<Value, E> {
        Ok(Value::Bool(b))
    }

    fn visit_i64<E>(self, n: i64) -> Result<Value, E> {
        Ok(Value::Number(n.into()))
    }

    fn visit_u64<E>(self, n: u64) -> Result<Value, E> {
        Ok(Value::Number(n.into()))
    }

    fn visit_f64<E>(self, f: f64) -> Result<Value, E> {
        Ok(serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, s: &str) -> Result<Value, E> {
        Ok(Value::String(String::from(s)))
    }

    fn visit_string<E>(self, s: String) -> Result<Value, E> {
        Ok(Value::String(s))
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        scalar(d)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {}
        Ok(Value::Null)
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        while map
            .next_entry::<serde::de::IgnoredAny, serde::de::IgnoredAny>()?
            .is_some()
        {}
        Ok(Value::Null)
    }
}

/// Deserialises any value as `Option<u64>` via [`to_u64`].
pub fn opt_u64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    scalar(d).map(|v| to_u64(&v))
}

/// Deserialises any value as `Option<f64>` via [`to_f64`].
pub fn opt_f64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    scalar(d).map(|v| to_f64(&v))
}

/// Deserialises any value as `Option<String>` via [`to_string`]; an empty
/// string stays `Some("")`.
pub fn opt_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    scalar(d).map(into_string)
}

/// Deserialises any value as a `String`; anything that is not a string or a
/// number becomes the empty string.
pub fn string<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    scalar(d).map(|v| into_string(v).unwrap_or_default())
}

/// Deserialises any value as a `bool`; anything unreadable is `false`.
pub fn bool_or_false<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    scalar(d).map(|v| to_bool(&v).unwrap_or(false))
}

/// Deserialises any value as `Option<bool>` via [`to_bool`].
pub fn opt_bool<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    scalar(d).map(|v| to_bool(&v))
}

/// Deserialises a string (or number) as a [`Secret`]; other types give `None`.
pub fn opt_secret<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Secret>, D::Error> {
    scalar(d).map(|v| into_string(v).map(Secret::from))
}

/// Deserialises a string (or number) as a [`Secret`]; other types give the
/// empty secret.
pub fn secret<'de, D: Deserializer<'de>>(d: D) -> Result<Secret, D::Error> {
    scalar(d).map(|v| Secret::from(into_string(v).unwrap_or_default()))
}

/// Deserialises a nested record: a JSON object that fits `T`; anything else
/// (including an array, which serde would otherwise map onto struct fields by
/// position) gives `None`.
pub fn opt_of<'de, D: Deserializer<'de>, T: DeserializeOwned>(d: D) -> Result<Option<T>, D::Error> {
    Value::deserialize(d).map(|v| record(&v))
}

/// `v` as the record `T` if it is a JSON object that fits.
#[must_use]
pub fn record<T: DeserializeOwned>(v: &Value) -> Option<T> {
    if v.is_object() {
        T::deserialize(v).ok()
    } else {
        None
    }
}

/// Deserialises an array of records (JSON objects), skipping the elements that
/// are not objects or do not fit `T`; anything that is not an array is the
/// empty list.
pub fn vec_of<'de, D: Deserializer<'de>, T: DeserializeOwned>(d: D) -> Result<Vec<T>, D::Error> {
    Value::deserialize(d).map(|v| list_of(&v))
}

/// Reads an array of records (JSON objects), skipping the elements that are
/// not objects or do not fit `T`; anything that is not an array is the empty
/// list.
#[must_use]
pub fn list_of<T: DeserializeOwned>(v: &Value) -> Vec<T> {
    match v {
        Value::Array(items) => items.iter().filter_map(record).collect(),
        _ => Vec::new(),
    }
}

/// Deserialises a list of strings: an array (numbers written out, other
/// elements skipped), or a single string as a list of one.
pub fn string_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    d.deserialize_any(StringList)
}

/// [`string_list`] read as it streams: the same answer from a `Value` and
/// from JSON text, without building a `Value`.
struct StringList;

impl<'de> Visitor<'de> for StringList {
    type Value = Vec<String>;

    fn expecting(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("a list of strings")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<String>, A::Error> {
        let mut out = Vec::new();
        while let Some(v) = seq.next_element_seed(Scalar)? {
            out.extend(into_string(v));
        }
        Ok(out)
    }

    fn visit_str<E>(self, s: &str) -> Result<Vec<String>, E> {
        Ok(alloc::vec![String::from(s)])
    }

    fn visit_string<E>(self, s: String) -> Result<Vec<String>, E> {
        Ok(alloc::vec![s])
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Vec<String>, A::Error> {
        ScalarVisitor.visit_map(map).map(|_| Vec::new())
    }

    fn visit_bool<E>(self, _: bool) -> Result<Vec<String>, E> {
        Ok(Vec::new())
    }

    fn visit_i64<E>(self, _: i64) -> Result<Vec<String>, E> {
        Ok(Vec::new())
    }

    fn visit_u64<E>(self, _: u64) -> Result<Vec<String>, E> {
        Ok(Vec::new())
    }

    fn visit_f64<E>(self, _: f64) -> Result<Vec<String>, E> {
        Ok(Vec::new())
    }

    fn visit_unit<E>(self) -> Result<Vec<String>, E> {
        Ok(Vec::new())
    }

    fn visit_none<E>(self) -> Result<Vec<String>, E> {
        Ok(Vec::new())
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Vec<String>, D::Error> {
        d.deserialize_any(self)
    }
}

// ---- streaming record readers (the api's own types) ------------------------
//
// [`vec_of`] and [`opt_of`] read a nested `Value` first and skip a record
// that does not fit `T`. The readers below stream instead: a record that does
// not fit fails the whole read. For the api's record types that makes no
// difference on a `Value` (every field is `default` and read by a helper of
// this module that never fails, so a record fails only on a repeated key,
// which a `Value` object cannot hold); on JSON text a repeated key fails the
// fast path of `api::fast`, which then reads the body as a `Value`.
// **Only use them for such types.**

/// One scalar read with [`scalar`], as a seed.
pub(crate) struct Scalar;

impl<'de> DeserializeSeed<'de> for Scalar {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        scalar(d)
    }
}

/// One element of a record list: `Some` record for an object, `None` for
/// anything else (skipped, not kept).
pub(crate) struct Record<T>(PhantomData<T>);

impl<T> Record<T> {
    pub(crate) const fn new() -> Record<T> {
        Record(PhantomData)
    }
}

impl<'de, T: DeserializeOwned> DeserializeSeed<'de> for Record<T> {
    type Value = Option<T>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Option<T>, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de, T: DeserializeOwned> Visitor<'de> for Record<T> {
    type Value = Option<T>;

    fn expecting(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("a record")
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Option<T>, A::Error> {
        T::deserialize(MapAccessDeserializer::new(map)).map(Some)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Option<T>, A::Error> {
        ScalarVisitor.visit_seq(seq).map(|_| None)
    }

    fn visit_bool<E>(self, _: bool) -> Result<Option<T>, E> {
        Ok(None)
    }

    fn visit_i64<E>(self, _: i64) -> Result<Option<T>, E> {
        Ok(None)
    }

    fn visit_u64<E>(self, _: u64) -> Result<Option<T>, E> {
        Ok(None)
    }

    fn visit_f64<E>(self, _: f64) -> Result<Option<T>, E> {
        Ok(None)
    }

    fn visit_str<E>(self, _: &str) -> Result<Option<T>, E> {
        Ok(None)
    }

    fn visit_unit<E>(self) -> Result<Option<T>, E> {
        Ok(None)
    }

    fn visit_none<E>(self) -> Result<Option<T>, E> {
        Ok(None)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Option<T>, D::Error> {
        d.deserialize_any(self)
    }
}

/// The records (objects) of a list, other elements skipped.
pub(crate) fn read_records<'de, A: SeqAccess<'de>, T: DeserializeOwned>(
    mut seq: A,
) -> Result<Vec<T>, A::Error> {
    let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(64));
    while let Some(r) = seq.next_element_seed(Record::<T>::new())? {
        out.extend(r);
    }
    Ok(out)
}

/// A list of records.
struct Records<T>(PhantomData<T>);

impl<'de, T: DeserializeOwned> Visitor<'de> for Records<T> {
    type Value = Vec<T>;

    fn expecting(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("a list of records")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Vec<T>, A::Error> {
        read_records(seq)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Vec<T>, A::Error> {
        ScalarVisitor.visit_map(map).map(|_| Vec::new())
    }

    fn visit_bool<E>(self, _: bool) -> Result<Vec<T>, E> {
        Ok(Vec::new())
    }

    fn visit_i64<E>(self, _: i64) -> Result<Vec<T>, E> {
        Ok(Vec::new())
    }

    fn visit_u64<E>(self, _: u64) -> Result<Vec<T>, E> {
        Ok(Vec::new())
    }

    fn visit_f64<E>(self, _: f64) -> Result<Vec<T>, E> {
        Ok(Vec::new())
    }

    fn visit_str<E>(self, _: &str) -> Result<Vec<T>, E> {
        Ok(Vec::new())
    }

    fn visit_unit<E>(self) -> Result<Vec<T>, E> {
        Ok(Vec::new())
    }

    fn visit_none<E>(self) -> Result<Vec<T>, E> {
        Ok(Vec::new())
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Vec<T>, D::Error> {
        d.deserialize_any(self)
    }
}

/// [`vec_of`] for the api's record types, streaming (see above).
pub(crate) fn records<'de, D: Deserializer<'de>, T: DeserializeOwned>(
    d: D,
) -> Result<Vec<T>, D::Error> {
    d.deserialize_any(Records(PhantomData))
}

/// [`opt_of`] for the api's record types, streaming (see above).
pub(crate) fn opt_record<'de, D: Deserializer<'de>, T: DeserializeOwned>(
    d: D,
) -> Result<Option<T>, D::Error> {
    d.deserialize_any(Record::<T>::new())
}

/// Deserialises a list of non-negative integers (numbers or numeric strings),
/// skipping elements that are neither.
pub fn u64_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u64>, D::Error> {
    Value::deserialize(d).map(|v| match v {
        Value::Array(items) => items.iter().filter_map(to_u64).collect(),
        other => to_u64(&other).into_iter().collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn numbers_arrive_as_numbers_or_strings() {
        assert_eq!(to_u64(&json!(12)), Some(12));
        assert_eq!(to_u64(&json!("12")), Some(12));
        assert_eq!(to_u64(&json!(" 12 ")), Some(12));
        assert_eq!(to_u64(&json!(12.0)), Some(12));
        assert_eq!(to_u64(&json!("12.6")), Some(13));
        assert_eq!(to_u64(&json!(-1)), None);
        assert_eq!(to_u64(&json!("abc")), None);
        assert_eq!(to_u64(&json!(1e300)), None);
        assert_eq!(to_u64(&json!(null)), None);
        assert_eq!(to_u64(&json!([1])), None);
        assert_eq!(to_u64(&json!("18446744073709551615")), Some(u64::MAX));
    }

    #[test]
    fn strings_and_bools_are_read_generously() {
        assert_eq!(to_string(&json!(7)).as_deref(), Some("7"));
        assert_eq!(to_string(&json!({})), None);
        assert_eq!(to_bool(&json!("TRUE")), Some(true));
        assert_eq!(to_bool(&json!(0)), Some(false));
        assert_eq!(to_bool(&json!("yes")), None);
        assert_eq!(to_f64(&json!("0.5")), Some(0.5));
    }

    #[test]
    fn numeric_strings_in_rust_float_syntax_are_read() {
        for (text, want) in [
            ("12.4", Some(12)),
            ("+12.6", Some(13)),
            (".5", Some(1)),
            ("5.", Some(5)),
            ("007.5", Some(8)),
            ("1e3", Some(1000)),
            ("1.5E+2", Some(150)),
            ("2.e1", Some(20)),
            ("-0.4", None),
            ("inf", None),
            ("NaN", None),
            ("1e400", None),
            (".", None),
            ("1e", None),
            ("1e+", None),
            ("1.2.3", None),
            ("--1", None),
            ("0x10", None),
            ("١٢", None),
        ] {
            assert_eq!(to_u64(&json!(text)), want, "{text}");
        }
        assert_eq!(to_f64(&json!("-2.5e-1")), Some(-0.25));
        assert_eq!(to_f64(&json!("+.25")), Some(0.25));
    }

    #[test]
    fn lists_skip_what_does_not_fit() {
        #[derive(serde::Deserialize, Debug, PartialEq)]
        struct P {
            #[serde(default, deserialize_with = "opt_u64")]
            port: Option<u64>,
        }
        let v = json!([{"port": "80"}, 5, {"port": []}, [7]]);
        let got: Vec<P> = list_of(&v);
        assert_eq!(got, alloc::vec![P { port: Some(80) }, P { port: None }]);
        assert!(list_of::<P>(&json!({"a": 1})).is_empty());
    }
}
