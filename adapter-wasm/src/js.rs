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

/// The properties of a JS options object, read one by one (no serde: a
/// derived `Deserialize` per options type costs several KiB of wasm each).
/// `undefined` and `null` count as absent; a wrong type is an
/// `invalid_argument` Error naming the object and the property.
pub(crate) struct Props<'a> {
    obj: Option<&'a JsValue>,
    what: &'static str,
}

impl<'a> Props<'a> {
    /// `obj` must be an object, or absent (then every property is absent).
    pub(crate) fn new(obj: &'a JsValue, what: &'static str) -> Result<Props<'a>, JsValue> {
        if absent(obj) {
            return Ok(Props { obj: None, what });
        }
        if !obj.is_object() {
            return Err(error(
                "invalid_argument",
                &format!("{what} must be an object"),
            ));
        }
        Ok(Props {
            obj: Some(obj),
            what,
        })
    }

    /// The property as given (`undefined` when missing).
    pub(crate) fn raw(&self, key: &str) -> JsValue {
        self.obj
            .and_then(|o| Reflect::get(o, &JsValue::from_str(key)).ok())
            .unwrap_or(JsValue::UNDEFINED)
    }

    /// The property, `None` when `undefined` or `null`.
    pub(crate) fn get(&self, key: &str) -> Option<JsValue> {
        Some(self.raw(key)).filter(|v| !absent(v))
    }

    /// An `invalid_argument` Error: `key` must be `expected`.
    pub(crate) fn bad(&self, key: &str, expected: &str) -> JsValue {
        error(
            "invalid_argument",
            &format!("{}: {key} must be {expected}", self.what),
        )
    }

    pub(crate) fn string(&self, key: &str) -> Result<Option<String>, JsValue> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => v
                .as_string()
                .map(Some)
                .ok_or_else(|| self.bad(key, "a string")),
        }
    }

    pub(crate) fn boolean(&self, key: &str) -> Result<Option<bool>, JsValue> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => v
                .as_bool()
                .map(Some)
                .ok_or_else(|| self.bad(key, "true or false")),
        }
    }

    pub(crate) fn number(&self, key: &str) -> Result<Option<f64>, JsValue> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => v
                .as_f64()
                .map(Some)
                .ok_or_else(|| self.bad(key, "a number")),
        }
    }

    /// A whole number from 0 to `max` (at most 2^53-1).
    fn whole_up_to(&self, key: &str, max: f64, expected: &str) -> Result<Option<u64>, JsValue> {
        match self.number(key)? {
            None => Ok(None),
            Some(v) if v >= 0.0 && v <= max && v.fract() == 0.0 => Ok(Some(v as u64)),
            Some(_) => Err(self.bad(key, expected)),
        }
    }

    pub(crate) fn u32(&self, key: &str) -> Result<Option<u32>, JsValue> {
        let v = self.whole_up_to(key, f64::from(u32::MAX), "a whole number from 0 to 2^32-1")?;
        Ok(v.map(|v| v as u32))
    }

    pub(crate) fn u64(&self, key: &str) -> Result<Option<u64>, JsValue> {
        self.whole_up_to(
            key,
            9_007_199_254_740_991.0,
            "a whole number from 0 to 2^53-1",
        )
    }

    /// An array of strings.
    pub(crate) fn strings(&self, key: &str) -> Result<Option<Vec<String>>, JsValue> {
        let Some(v) = self.get(key) else {
            return Ok(None);
        };
        if !js_sys::Array::is_array(&v) {
            return Err(self.bad(key, "an array of strings"));
        }
        js_sys::Array::from(&v)
            .iter()
            .map(|x| {
                x.as_string()
                    .ok_or_else(|| self.bad(key, "an array of strings"))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some)
    }
}

/// Any serde value as a plain JS object (maps as objects, `None` as `null`).
///
/// Size: through JSON text and `JSON.parse`. serde_json's writer is in the
/// module anyway (request bodies, snapshots); a serializer to JS values
/// would be a second one.
pub(crate) fn to_js<T: Serialize + ?Sized>(v: &T) -> Result<JsValue, JsValue> {
    let text = serde_json::to_string(v)
        .map_err(|e| error("internal", &format!("could not convert a result: {e}")))?;
    js_sys::JSON::parse(&text).map_err(|_| {
        error(
            "internal",
            "could not convert a result: JSON.parse refused it",
        )
    })
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
