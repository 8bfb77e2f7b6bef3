//! Webhook signing and verification for JavaScript: Standard Webhooks v1 by
//! default (`webhook-id`, `webhook-timestamp`, `webhook-signature`), the
//! Node client's legacy `X-Webhook-Signature` on request. An edge worker
//! verifies an inbound webhook with
//! `verifyWebhook(secret, request.headers, new Uint8Array(await request.arrayBuffer()), Date.now() / 1000)`.
//!
//! Everything is the core's [`Signer`], [`Verifier`] and [`LegacyVerifier`]:
//! raw bytes in, constant-time compare, the tolerance checked both ways.

use js_sys::{Array, Object, Reflect};
use wasm_bindgen::prelude::*;

use novitai_core::UnixTime;
use novitai_core::http::Headers;
use novitai_core::webhook::verify::{Header, VerifyError};
use novitai_core::webhook::{
    HEADER_ID, HEADER_SIGNATURE, HEADER_TIMESTAMP, LegacyVerifier, Signer, Verifier, VerifyConfig,
    WebhookKey, legacy,
};
use novitai_core::{Duration, webhook::secret::to_whsec};

use crate::js;

#[wasm_bindgen(typescript_custom_section)]
const TS_TYPES: &'static str = r#"
/** Request headers as an edge runtime or Node hands them over. */
export type HeadersLike = Headers | Map<string, string> | Record<string, string | string[] | undefined>;
/** A raw request body. */
export type BodyLike = Uint8Array | ArrayBuffer | string;
/** What a successful `verifyWebhook` established. */
export interface VerifiedWebhook { ok: true; id: string; timestamp: number; }
/** Options for `new WebhookVerifier(...)`. */
export interface WebhookVerifierOptions { toleranceSecs?: number; }
"#;

fn key(secret: &str) -> Result<WebhookKey, JsValue> {
    WebhookKey::from_whsec(secret).map_err(|e| js::error("webhook_key", &e.to_string()))
}

fn keys(secrets: &JsValue) -> Result<Vec<WebhookKey>, JsValue> {
    if let Some(s) = secrets.as_string() {
        return Ok(vec![key(&s)?]);
    }
    if Array::is_array(secrets) {
        return Array::from(secrets)
            .iter()
            .map(|v| {
                v.as_string()
                    .ok_or_else(|| js::error("invalid_argument", "every secret must be a string"))
                    .and_then(|s| key(&s))
            })
            .collect();
    }
    Err(js::error(
        "invalid_argument",
        "the webhook secret must be a `whsec_...` string or an array of them",
    ))
}

fn unix_secs(v: f64, what: &str) -> Result<UnixTime, JsValue> {
    if v.is_finite() && v >= 0.0 {
        Ok(UnixTime::from_secs(v as u64))
    } else {
        Err(js::error(
            "invalid_argument",
            &format!("{what} is {v}: it must be unix seconds (e.g. Date.now() / 1000)"),
        ))
    }
}

fn header_value(v: &JsValue) -> Option<String> {
    if let Some(s) = v.as_string() {
        return Some(s);
    }
    // Node's IncomingHttpHeaders may repeat a header as an array.
    Array::is_array(v).then(|| {
        Array::from(v)
            .iter()
            .filter_map(|x| x.as_string())
            .collect::<Vec<_>>()
            .join(" ")
    })
}

/// Reads `names` from a Fetch `Headers`, a `Map`, or a plain object (names
/// compared case-insensitively).
fn read_headers(headers: &JsValue, names: &[&str]) -> Result<Headers, JsValue> {
    if js::absent(headers) || !headers.is_object() {
        return Err(js::error(
            "invalid_argument",
            "headers must be a Headers object, a Map or a plain object",
        ));
    }
    let mut out = Headers::new();
    let get = Reflect::get(headers, &JsValue::from_str("get"))
        .ok()
        .and_then(|f| f.dyn_into::<js_sys::Function>().ok());
    if let Some(get) = get {
        for name in names {
            // Fetch `Headers.get` is case-insensitive; for a `Map` try as given
            // and lower-case.
            for candidate in [(*name).to_string(), name.to_ascii_lowercase()] {
                if let Some(v) = get
                    .call1(headers, &JsValue::from_str(&candidate))
                    .ok()
                    .as_ref()
                    .and_then(header_value)
                {
                    out.append(*name, v);
                    break;
                }
            }
        }
        return Ok(out);
    }
    for entry in Object::entries(headers.unchecked_ref::<Object>()).iter() {
        let pair = Array::from(&entry);
        let Some(k) = pair.get(0).as_string() else {
            continue;
        };
        if let Some(name) = names.iter().find(|n| n.eq_ignore_ascii_case(&k))
            && let Some(v) = header_value(&pair.get(1))
        {
            out.append(*name, v);
        }
    }
    Ok(out)
}

fn verify_error(e: VerifyError) -> JsValue {
    let (code, header) = match e {
        VerifyError::MissingHeader(h) => ("webhook_missing_header", Some(h)),
        VerifyError::MalformedHeader(h) => ("webhook_malformed_header", Some(h)),
        VerifyError::Stale { .. } => ("webhook_stale", None),
        VerifyError::Future { .. } => ("webhook_future", None),
        VerifyError::NoMatchingSignature => ("webhook_no_matching_signature", None),
    };
    let js = js::error(code, &e.to_string());
    if let Some(h) = header {
        js::set(&js, "header", &JsValue::from_str(Header::name(h)));
    }
    js
}

fn verify_with(
    verifier: &Verifier,
    headers: &JsValue,
    body: &JsValue,
    now_unix_secs: f64,
) -> Result<JsValue, JsValue> {
    let headers = read_headers(headers, &[HEADER_ID, HEADER_TIMESTAMP, HEADER_SIGNATURE])?;
    let body = js::bytes(body, "body")?;
    let now = unix_secs(now_unix_secs, "nowUnixSecs")?;
    let ok = verifier
        .verify(&headers, &body, now)
        .map_err(verify_error)?;
    let out = js::string_object([("id", ok.id)]);
    js::set(&out, "ok", &JsValue::TRUE);
    js::set(
        &out,
        "timestamp",
        &JsValue::from_f64(ok.timestamp.as_secs() as f64),
    );
    Ok(out)
}

/// Signs a message: returns the `webhook-id`, `webhook-timestamp` and
/// `webhook-signature` headers as a plain object. `secret` is a `whsec_...`
/// secret (or an array of them during a key rotation: one signature each).
#[wasm_bindgen(js_name = signWebhook, unchecked_return_type = "Record<string, string>")]
pub fn sign_webhook(
    #[wasm_bindgen(unchecked_param_type = "string | string[]")] secret: JsValue,
    id: &str,
    #[wasm_bindgen(js_name = "timestampUnixSecs")] timestamp_unix_secs: f64,
    #[wasm_bindgen(unchecked_param_type = "BodyLike")] body: JsValue,
) -> Result<JsValue, JsValue> {
    let signer =
        Signer::with_keys(keys(&secret)?).map_err(|e| js::error("webhook_sign", &e.to_string()))?;
    let body = js::bytes(&body, "body")?;
    let ts = unix_secs(timestamp_unix_secs, "timestampUnixSecs")?;
    let headers = signer
        .headers(id, ts, &body)
        .map_err(|e| js::error("webhook_sign", &e.to_string()))?;
    Ok(js::string_object(headers.iter()))
}

/// Verifies an inbound webhook over its raw body bytes with the default
/// tolerance (5 minutes either way). Returns `{ ok: true, id, timestamp }`;
/// throws an Error whose `code` is `webhook_missing_header`,
/// `webhook_malformed_header` (both with a `header` property),
/// `webhook_stale`, `webhook_future`, `webhook_no_matching_signature` or
/// `webhook_key`.
#[wasm_bindgen(js_name = verifyWebhook, unchecked_return_type = "VerifiedWebhook")]
pub fn verify_webhook(
    #[wasm_bindgen(unchecked_param_type = "string | string[]")] secret: JsValue,
    #[wasm_bindgen(unchecked_param_type = "HeadersLike")] headers: JsValue,
    #[wasm_bindgen(unchecked_param_type = "BodyLike")] body: JsValue,
    #[wasm_bindgen(js_name = "nowUnixSecs")] now_unix_secs: f64,
) -> Result<JsValue, JsValue> {
    let verifier = Verifier::with_config(keys(&secret)?, VerifyConfig::default())
        .map_err(|e| js::error("webhook_config", &e.to_string()))?;
    verify_with(&verifier, &headers, &body, now_unix_secs)
}

/// The Node client's legacy signature `sha256=<hex>` of the body, keyed with
/// the secret string's bytes as they are. Its timestamp is not signed, so a
/// receiver should prefer Standard Webhooks.
#[wasm_bindgen(js_name = signLegacyWebhook)]
pub fn sign_legacy_webhook(
    secret: &str,
    #[wasm_bindgen(unchecked_param_type = "BodyLike")] body: JsValue,
) -> Result<String, JsValue> {
    let key = WebhookKey::from_bytes(secret.as_bytes())
        .map_err(|e| js::error("webhook_key", &e.to_string()))?;
    Ok(legacy::sign(&key, &js::bytes(&body, "body")?))
}

/// Checks the legacy `X-Webhook-Signature` header; throws an Error with code
/// `webhook_legacy` when it is missing, malformed or wrong.
#[wasm_bindgen(js_name = verifyLegacyWebhook)]
pub fn verify_legacy_webhook(
    secret: &str,
    #[wasm_bindgen(unchecked_param_type = "HeadersLike")] headers: JsValue,
    #[wasm_bindgen(unchecked_param_type = "BodyLike")] body: JsValue,
) -> Result<(), JsValue> {
    let key = WebhookKey::from_bytes(secret.as_bytes())
        .map_err(|e| js::error("webhook_key", &e.to_string()))?;
    let headers = read_headers(&headers, &[legacy::HEADER_SIGNATURE])?;
    LegacyVerifier::new(key)
        .verify(&headers, &js::bytes(&body, "body")?)
        .map_err(|e| js::error("webhook_legacy", &e.to_string()))
}

/// A fresh `whsec_` secret of 32 random bytes from `crypto.getRandomValues`.
#[wasm_bindgen(js_name = generateWebhookSecret)]
pub fn generate_webhook_secret() -> Result<String, JsValue> {
    let mut bytes = [0u8; 32];
    for chunk in bytes.chunks_mut(8) {
        let r = js::random_seed()
            .ok_or_else(|| js::error("no_crypto", "this runtime has no crypto.getRandomValues"))?;
        chunk.copy_from_slice(&r.to_le_bytes()[..chunk.len()]);
    }
    Ok(to_whsec(&bytes))
}

/// A reusable verifier: one or more secrets (a rotation) and a tolerance.
#[wasm_bindgen]
pub struct WebhookVerifier {
    inner: Verifier,
}

#[wasm_bindgen]
impl WebhookVerifier {
    /// A verifier for `secrets` (`whsec_...`, or an array of them); options
    /// `{ toleranceSecs }` (1–3600, default 300).
    #[wasm_bindgen(constructor)]
    pub fn new(
        #[wasm_bindgen(unchecked_param_type = "string | string[]")] secrets: JsValue,
        #[wasm_bindgen(unchecked_param_type = "WebhookVerifierOptions | undefined")]
        options: JsValue,
    ) -> Result<WebhookVerifier, JsValue> {
        let mut config = VerifyConfig::default();
        if !js::absent(&options) {
            let t = Reflect::get(&options, &JsValue::from_str("toleranceSecs"))?;
            if let Some(t) = t.as_f64() {
                config.tolerance = Duration::from_secs(js::whole(t, "toleranceSecs")?);
            }
        }
        let inner = Verifier::with_config(keys(&secrets)?, config)
            .map_err(|e| js::error("webhook_config", &e.to_string()))?;
        Ok(WebhookVerifier { inner })
    }

    /// As `verifyWebhook`, with this verifier's secrets and tolerance.
    #[wasm_bindgen(unchecked_return_type = "VerifiedWebhook")]
    pub fn verify(
        &self,
        #[wasm_bindgen(unchecked_param_type = "HeadersLike")] headers: JsValue,
        #[wasm_bindgen(unchecked_param_type = "BodyLike")] body: JsValue,
        #[wasm_bindgen(js_name = "nowUnixSecs")] now_unix_secs: f64,
    ) -> Result<JsValue, JsValue> {
        verify_with(&self.inner, &headers, &body, now_unix_secs)
    }
}
