//! Small bridges between JavaScript values and the core's types: errors with
//! a `code`, serde to plain JS objects, the clock and the seed.

use js_sys::{Object, Reflect, Uint8Array};
use serde::Serialize;
use wasm_bindgen::{JsCast, JsValue};

/// A JS `Error` with `message` and a `code` property.
pub(crate) fn error(code: &str, message: &str) -> JsValue {
    let e = js_sys::Error::new(message);
    set(&e, "code", &JsValue::from_str(code));
    e.into()
}

/// Sets `obj[key] = value`, ignoring failure (only frozen objects fail).
pub(crate) fn set(obj: &JsValue, key: &str, value: &JsValue) {
    let _ = Reflect::set(obj, &JsValue::from_str(key), value);
}

/// A JS `Error` for a failed API call: `code` is [`Error::label`], plus
/// `transient`, and where they apply `status`, `apiKind`, `apiCode` and
/// `retryInMs`.
///
/// [`Error::label`]: novitai_core::error::Error::label
pub(crate) fn api_error(e: &novitai_core::error::Error) -> JsValue {
    use novitai_core::error::{Error, LastFailure};
    let js = error(e.label(), &e.to_string());
    set(&js, "transient", &JsValue::from_bool(e.is_transient()));
    let api = match e {
        Error::Api(a)
        | Error::GaveUp {
            last: LastFailure::Api(a),
            ..
        } => Some(a),
        _ => None,
    };
    if let Some(a) = api {
        set(&js, "status", &JsValue::from(a.status));
        set(&js, "apiKind", &JsValue::from_str(a.kind.name()));
        if let Some(code) = a.code() {
            set(&js, "apiCode", &JsValue::from_str(code));
        }
    }
    if let Error::BreakerOpen { retry_in, .. } = e {
        set(&js, "retryInMs", &ms(retry_in.as_millis()));
    }
    js
}

/// A millisecond count as a JS number (`Infinity` for "never").
pub(crate) fn ms(v: u64) -> JsValue {
    if v == u64::MAX {
        JsValue::from_f64(f64::INFINITY)
    } else {
        JsValue::from_f64(v as f64)
    }
}

/// Any serde value as a plain JS object (maps as objects, `None` as `null`).
pub(crate) fn to_js<T: Serialize + ?Sized>(v: &T) -> Result<JsValue, JsValue> {
    v.serialize(&serde_wasm_bindgen::Serializer::json_compatible())
        .map_err(|e| error("internal", &format!("could not convert a result: {e}")))
}

/// A JS value read as `T`, with an `invalid_argument` error naming `what`.
pub(crate) fn from_js<T: serde::de::DeserializeOwned>(
    v: JsValue,
    what: &str,
) -> Result<T, JsValue> {
    serde_wasm_bindgen::from_value(v)
        .map_err(|e| error("invalid_argument", &format!("{what}: {e}")))
}

/// `true` for `undefined` and `null`.
pub(crate) fn absent(v: &JsValue) -> bool {
    v.is_undefined() || v.is_null()
}

fn global_get(name: &str) -> Option<JsValue> {
    Reflect::get(&js_sys::global(), &JsValue::from_str(name))
        .ok()
        .filter(|v| !absent(v))
}

/// Monotonic milliseconds from `performance.now()` (window, worker, Node),
/// or `Date.now()` where there is no `performance`.
pub(crate) fn now_ms() -> f64 {
    match global_get("performance") {
        Some(p) => p.unchecked_into::<web_sys::Performance>().now(),
        None => js_sys::Date::now(),
    }
}

/// 64 random bits from `crypto.getRandomValues`; `None` where there is no
/// Web Crypto.
pub(crate) fn random_seed() -> Option<u64> {
    let crypto = global_get("crypto")?.unchecked_into::<web_sys::Crypto>();
    let buf = Uint8Array::new_with_length(8);
    crypto.get_random_values_with_array_buffer_view(&buf).ok()?;
    let mut bytes = [0u8; 8];
    buf.copy_to(&mut bytes);
    Some(u64::from_le_bytes(bytes))
}

/// Raw bytes from a `Uint8Array`, an `ArrayBuffer`, or a string (as UTF-8).
pub(crate) fn bytes(v: &JsValue, what: &str) -> Result<Vec<u8>, JsValue> {
    if let Some(s) = v.as_string() {
        return Ok(s.into_bytes());
    }
    if let Some(a) = v.dyn_ref::<Uint8Array>() {
        return Ok(a.to_vec());
    }
    if v.is_instance_of::<js_sys::ArrayBuffer>() {
        return Ok(Uint8Array::new(v).to_vec());
    }
    Err(error(
        "invalid_argument",
        &format!("{what} must be a Uint8Array, an ArrayBuffer or a string"),
    ))
}

/// A plain object with these string properties.
pub(crate) fn string_object<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> JsValue {
    let o = Object::new();
    for (k, v) in pairs {
        set(&o, k, &JsValue::from_str(v));
    }
    o.into()
}

/// A JS number that must be a whole, non-negative number of milliseconds or
/// seconds (`what` names it in the error).
pub(crate) fn whole(v: f64, what: &str) -> Result<u64, JsValue> {
    if v.is_finite() && v >= 0.0 && v.fract() == 0.0 && v <= 9_007_199_254_740_991.0 {
        Ok(v as u64)
    } else {
        Err(error(
            "invalid_argument",
            &format!("{what} is {v}: it must be a whole number from 0 to 2^53-1"),
        ))
    }
}

/// A non-negative JS number of milliseconds, floored (fractions of a
/// millisecond from `performance.now()` are fine).
pub(crate) fn instant(v: f64, what: &str) -> Result<novitai_core::Instant, JsValue> {
    if v.is_finite() && v >= 0.0 {
        Ok(novitai_core::Instant::from_millis(v as u64))
    } else {
        Err(error(
            "invalid_argument",
            &format!("{what} is {v}: it must be a finite number of milliseconds, 0 or more"),
        ))
    }
}
