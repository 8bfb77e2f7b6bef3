//! The adapter in wasm, under Node (`scripts/wasm.sh` runs these with
//! `wasm-bindgen-test-runner`): webhook round trips, machine decisions, client
//! options, the in-page simulator, and the wasm half of the determinism check.
// Needs the default features (client, webhook, machines).
#![cfg(all(
    target_arch = "wasm32",
    feature = "client",
    feature = "webhook",
    feature = "machines"
))]

use js_sys::{Object, Reflect, Uint8Array};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::wasm_bindgen_test;

use novitai_wasm::client::NovitaClient;
use novitai_wasm::machines::{CircuitBreaker, RateLimiter};
use novitai_wasm::webhook::{
    WebhookVerifier, sign_legacy_webhook, sign_webhook, verify_legacy_webhook, verify_webhook,
};

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

fn get(v: &JsValue, key: &str) -> JsValue {
    Reflect::get(v, &JsValue::from_str(key)).unwrap()
}

fn code(e: &JsValue) -> String {
    assert!(e.is_instance_of::<js_sys::Error>(), "not an Error: {e:?}");
    get(e, "code").as_string().unwrap_or_default()
}

fn message(e: &JsValue) -> String {
    get(e, "message").as_string().unwrap_or_default()
}

fn obj(pairs: &[(&str, JsValue)]) -> JsValue {
    let o = Object::new();
    for (k, v) in pairs {
        Reflect::set(&o, &JsValue::from_str(k), v).unwrap();
    }
    o.into()
}

// ---------------------------------------------------------------- webhooks

#[wasm_bindgen_test]
fn a_signed_webhook_verifies_and_a_tampered_one_does_not() {
    let body = Uint8Array::from(&br#"{"test": 2432232314}"#[..]);
    let headers = sign_webhook(
        SECRET.into(),
        "msg_p5jXN8AQM9LWM0D4loKWxJek",
        1_614_265_330.0,
        body.clone().into(),
    )
    .unwrap();
    // The Standard Webhooks test vector.
    assert_eq!(
        get(&headers, "webhook-signature").as_string().unwrap(),
        "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    );
    let ok = verify_webhook(SECRET.into(), headers.clone(), body.into(), 1_614_265_331.0).unwrap();
    assert_eq!(get(&ok, "ok"), JsValue::TRUE);
    assert_eq!(
        get(&ok, "id").as_string().unwrap(),
        "msg_p5jXN8AQM9LWM0D4loKWxJek"
    );
    assert_eq!(get(&ok, "timestamp").as_f64(), Some(1_614_265_330.0));

    let tampered = Uint8Array::from(&br#"{"test": 2432232315}"#[..]);
    let e = verify_webhook(
        SECRET.into(),
        headers.clone(),
        tampered.into(),
        1_614_265_331.0,
    )
    .unwrap_err();
    assert_eq!(code(&e), "webhook_no_matching_signature");
    assert!(message(&e).contains("signature"), "{}", message(&e));
}

#[wasm_bindgen_test]
fn stale_missing_and_bad_secrets_are_errors_with_codes() {
    let body: JsValue = "hello".into();
    let headers = sign_webhook(SECRET.into(), "msg_1", 1_700_000_000.0, body.clone()).unwrap();
    let stale = verify_webhook(
        SECRET.into(),
        headers.clone(),
        body.clone(),
        1_700_000_301.0,
    )
    .unwrap_err();
    assert_eq!(code(&stale), "webhook_stale");
    let future = verify_webhook(
        SECRET.into(),
        headers.clone(),
        body.clone(),
        1_699_999_000.0,
    )
    .unwrap_err();
    assert_eq!(code(&future), "webhook_future");

    let missing = obj(&[("webhook-id", "msg_1".into())]);
    let e = verify_webhook(SECRET.into(), missing, body.clone(), 1_700_000_000.0).unwrap_err();
    assert_eq!(code(&e), "webhook_missing_header");
    assert_eq!(get(&e, "header").as_string().unwrap(), "webhook-timestamp");

    let e = verify_webhook("whsec_!!!".into(), headers, body, 1_700_000_000.0).unwrap_err();
    assert_eq!(code(&e), "webhook_key");
}

#[wasm_bindgen_test]
fn fetch_headers_with_other_case_work_and_rotation_accepts_either_key() {
    let old = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
    let body: JsValue = "{}".into();
    let signed = sign_webhook(old.into(), "msg_2", 1_700_000_000.0, body.clone()).unwrap();
    let h = web_sys::Headers::new().unwrap();
    for name in ["Webhook-Id", "Webhook-Timestamp", "Webhook-Signature"] {
        h.set(
            name,
            &get(&signed, &name.to_ascii_lowercase())
                .as_string()
                .unwrap(),
        )
        .unwrap();
    }
    let secrets = js_sys::Array::of2(&SECRET.into(), &old.into());
    let v = WebhookVerifier::new(secrets.into(), obj(&[("toleranceSecs", 60.into())])).unwrap();
    let ok = v
        .verify(h.clone().into(), body.clone(), 1_700_000_030.0)
        .unwrap();
    assert_eq!(get(&ok, "id").as_string().unwrap(), "msg_2");
    let e = v.verify(h.into(), body, 1_700_000_061.0).unwrap_err();
    assert_eq!(code(&e), "webhook_stale");
}

#[wasm_bindgen_test]
fn the_legacy_signature_round_trips() {
    let body: JsValue = "payload".into();
    let sig = sign_legacy_webhook("legacy-secret", body.clone()).unwrap();
    assert!(sig.starts_with("sha256="));
    let headers = obj(&[("x-webhook-signature", sig.into())]);
    verify_legacy_webhook("legacy-secret", headers.clone(), body).unwrap();
    let e = verify_legacy_webhook("legacy-secret", headers, "other".into()).unwrap_err();
    assert_eq!(code(&e), "webhook_legacy");
}

// ---------------------------------------------------------------- machines

#[wasm_bindgen_test]
fn two_failures_open_the_breaker_and_after_the_open_time_a_probe_goes_through() {
    let options = obj(&[
        ("consecutiveFailures", 2.into()),
        ("openMs", 1000.into()),
        ("halfOpenSuccesses", 1.into()),
    ]);
    let mut b = CircuitBreaker::new(options).unwrap();
    for t in [0.0, 10.0] {
        let d = b.try_acquire(t).unwrap();
        assert_eq!(get(&d, "permitted"), JsValue::TRUE);
        let mut p: novitai_wasm::machines::BreakerPermit =
            wasm_bindgen::convert::TryFromJsValue::try_from_js_value(get(&d, "permit")).unwrap();
        b.on_failure(&mut p, t + 1.0).unwrap();
        let again = b.on_failure(&mut p, t + 1.0).unwrap_err();
        assert_eq!(code(&again), "permit_used");
    }
    assert_eq!(b.state(20.0).unwrap(), "open");
    let d = b.try_acquire(20.0).unwrap();
    assert_eq!(get(&d, "permitted"), JsValue::FALSE);
    assert_eq!(get(&d, "reason").as_string().unwrap(), "open");
    assert_eq!(get(&d, "untilMs").as_f64(), Some(1011.0));
    let d = b.try_acquire(1011.0).unwrap();
    assert_eq!(get(&d, "permitted"), JsValue::TRUE);
    assert_eq!(get(&d, "probe"), JsValue::TRUE);
    let t = b.poll_transition();
    assert_eq!(get(&t, "to").as_string().unwrap(), "open");
    // A snapshot restores the same state.
    #[cfg(feature = "snapshot")]
    {
        let copy = CircuitBreaker::restore(&b.snapshot().unwrap()).unwrap();
        assert_eq!(copy.snapshot().unwrap(), b.snapshot().unwrap());
    }
}

#[wasm_bindgen_test]
fn a_bad_breaker_option_is_a_config_error() {
    let e = CircuitBreaker::new(obj(&[("halfOpenProbes", 0.into())]))
        .err()
        .unwrap();
    assert_eq!(code(&e), "config");
    assert!(message(&e).contains("half_open_probes"), "{}", message(&e));
}

#[wasm_bindgen_test]
fn the_limiter_admits_two_per_second_and_says_when_the_third_may_go() {
    let mut l = RateLimiter::new(obj(&[("max", 2.into()), ("windowMs", 1000.into())])).unwrap();
    assert_eq!(get(&l.check(0.0).unwrap(), "allowed"), JsValue::TRUE);
    assert_eq!(get(&l.check(100.0).unwrap(), "allowed"), JsValue::TRUE);
    let no = l.check(200.0).unwrap();
    assert_eq!(get(&no, "allowed"), JsValue::FALSE);
    assert_eq!(get(&no, "retryAtMs").as_f64(), Some(1000.0));
    assert_eq!(get(&no, "waitMs").as_f64(), Some(800.0));
    let e = l.check_n(3.0, 2000.0).unwrap_err();
    assert_eq!(code(&e), "insufficient_capacity");
    let g = RateLimiter::new(obj(&[("mode", "gcra".into()), ("cells", 0.into())]));
    assert_eq!(code(&g.err().unwrap()), "config");
}

#[wasm_bindgen_test]
fn null_turns_a_breaker_trigger_off_and_a_wrong_type_is_an_invalid_argument() {
    // consecutiveFailures: null switches consecutive tripping off, so ten
    // failures in a row leave it closed (the failure rate needs 100 calls).
    let mut b = CircuitBreaker::new(obj(&[("consecutiveFailures", JsValue::NULL)])).unwrap();
    for t in 0..10 {
        let d = b.try_acquire(f64::from(t)).unwrap();
        let mut p: novitai_wasm::machines::BreakerPermit =
            wasm_bindgen::convert::TryFromJsValue::try_from_js_value(get(&d, "permit")).unwrap();
        b.on_failure(&mut p, f64::from(t)).unwrap();
    }
    assert_eq!(b.state(10.0).unwrap(), "closed");
    let e = CircuitBreaker::new(obj(&[("openMs", "soon".into())]))
        .err()
        .unwrap();
    assert_eq!(code(&e), "invalid_argument");
    assert!(message(&e).contains("openMs"), "{}", message(&e));
    let e = RateLimiter::new(obj(&[("max", 1.5.into())])).err().unwrap();
    assert_eq!(code(&e), "invalid_argument");
    assert!(message(&e).contains("max"), "{}", message(&e));
}

#[cfg(feature = "snapshot")]
#[wasm_bindgen_test]
fn a_limiter_snapshot_restores_the_same_state() {
    let mut l = RateLimiter::new(obj(&[
        ("mode", "gcra".into()),
        ("cells", 2.into()),
        ("periodMs", 1000.into()),
        ("burst", 2.into()),
    ]))
    .unwrap();
    assert_eq!(get(&l.check(0.0).unwrap(), "allowed"), JsValue::TRUE);
    assert_eq!(get(&l.check(0.0).unwrap(), "allowed"), JsValue::TRUE);
    let mut copy = RateLimiter::restore(&l.snapshot().unwrap()).unwrap();
    assert_eq!(copy.snapshot().unwrap(), l.snapshot().unwrap());
    let no = copy.check(0.0).unwrap();
    assert_eq!(get(&no, "allowed"), JsValue::FALSE);
    assert_eq!(get(&no, "retryAtMs").as_f64(), Some(500.0));
    let e = RateLimiter::restore("{").err().unwrap();
    assert_eq!(code(&e), "invalid_argument");
}

// ---------------------------------------------------------------- client

#[wasm_bindgen_test]
fn bad_client_options_are_listed_by_their_js_names() {
    let e = NovitaClient::new(obj(&[
        ("apiKey", "sk_test_0123456789".into()),
        ("requestTimeoutMs", 999.into()),
        ("maxInFlight", 0.into()),
    ]))
    .err()
    .unwrap();
    assert_eq!(code(&e), "config");
    let m = message(&e);
    assert!(m.contains("requestTimeoutMs"), "{m}");
    assert!(m.contains("maxInFlight"), "{m}");
    let e = NovitaClient::new(obj(&[])).err().unwrap();
    assert!(message(&e).contains("apiKey"), "{}", message(&e));
    // A numeric string is read as the number; other text gets the core's
    // sentence under its JS name; a wrong type is an invalid argument.
    let e = NovitaClient::new(obj(&[
        ("apiKey", "sk_test_0123456789".into()),
        ("maxInFlight", "8".into()),
        ("queueCapacity", "lots".into()),
    ]))
    .err()
    .unwrap();
    assert_eq!(code(&e), "config");
    let m = message(&e);
    assert!(
        m.contains("queueCapacity") && !m.contains("maxInFlight"),
        "{m}"
    );
    let e = NovitaClient::new(obj(&[("apiKey", 7.into())]))
        .err()
        .unwrap();
    assert_eq!(code(&e), "invalid_argument");
    assert!(message(&e).contains("apiKey"), "{}", message(&e));
}

#[wasm_bindgen_test]
async fn bad_call_arguments_reject_with_invalid_argument() {
    let client = NovitaClient::new(obj(&[("apiKey", "sk_test_0123456789".into())])).unwrap();
    let e = JsFuture::from(client.products(obj(&[("gpuNum", (-1).into())])))
        .await
        .unwrap_err();
    assert_eq!(code(&e), "invalid_argument");
    assert!(message(&e).contains("gpuNum"), "{}", message(&e));
    let e = JsFuture::from(client.list_instances(obj(&[("pageSize", "ten".into())])))
        .await
        .unwrap_err();
    assert_eq!(code(&e), "invalid_argument");
    let q = obj(&[("name", "RTX 4090".into()), ("fallbackRegions", 3.into())]);
    let e = JsFuture::from(client.optimal_product(q)).await.unwrap_err();
    assert_eq!(code(&e), "invalid_argument");
    assert_eq!(
        get(&client.status().unwrap(), "submitted").as_f64(),
        Some(0.0)
    );
}

#[wasm_bindgen_test]
async fn a_call_to_a_dead_address_rejects_with_a_code_and_the_status_shows_it() {
    // onEvent: a JS function that collects the lines in a global array.
    let log = js_sys::Function::new_with_args(
        "e",
        "(globalThis.novitaiTestLines = globalThis.novitaiTestLines || []).push(e.line)",
    );
    let client = NovitaClient::new(obj(&[
        ("apiKey", "sk_test_0123456789".into()),
        ("baseUrl", "http://127.0.0.1:9".into()),
        ("maxRetryAttempts", 1.into()),
        ("seed", 42.into()),
        ("onEvent", log.clone().into()),
    ]))
    .unwrap();
    let e = JsFuture::from(client.clusters()).await.unwrap_err();
    let lines: Vec<String> = js_sys::Array::from(&get(&js_sys::global(), "novitaiTestLines"))
        .iter()
        .filter_map(|v| v.as_string())
        .collect();
    assert_eq!(code(&e), "gave_up", "{}: {lines:?}", message(&e));
    assert!(
        lines.iter().any(|l| l.starts_with("attempt_failed")),
        "{lines:?}"
    );
    assert_eq!(get(&e, "transient"), JsValue::TRUE);
    let s = client.status().unwrap();
    assert_eq!(get(&s, "submitted").as_f64(), Some(1.0));
    assert_eq!(get(&s, "completed").as_f64(), Some(1.0));
    assert_eq!(get(&s, "breaker").as_string().unwrap(), "closed");
    client.shutdown();
    let e = JsFuture::from(client.clusters()).await.unwrap_err();
    assert_eq!(code(&e), "rejected");
}

#[wasm_bindgen_test]
async fn an_invalid_create_is_refused_before_sending() {
    let client = NovitaClient::new(obj(&[("apiKey", "sk_test_0123456789".into())])).unwrap();
    let req = obj(&[("productId", "".into()), ("imageUrl", "".into())]);
    let e = JsFuture::from(client.create_instance(req))
        .await
        .unwrap_err();
    assert_eq!(code(&e), "validation", "{}", message(&e));
    assert_eq!(
        get(&client.status().unwrap(), "submitted").as_f64(),
        Some(0.0)
    );
}

// ---------------------------------------------------------------- simulator

#[cfg(feature = "sim")]
mod sim {
    use super::*;
    use novitai_wasm::sim::SimulatedNovita;

    const GOLDEN: &str = include_str!("golden/determinism.trace");

    #[wasm_bindgen_test]
    fn the_wasm_trace_is_byte_identical_to_the_native_golden_file() {
        let trace = novitai_wasm::determinism::trace();
        if trace != GOLDEN {
            let line = GOLDEN
                .lines()
                .zip(trace.lines())
                .position(|(a, b)| a != b)
                .map_or(0, |i| i + 1);
            panic!("wasm trace differs from the native golden file at line {line}");
        }
        assert_eq!(novitai_wasm::sim::determinism_trace(), GOLDEN);
    }

    #[wasm_bindgen_test]
    fn the_in_page_simulator_runs_a_workload_in_virtual_time() {
        let mut sim = SimulatedNovita::new(obj(&[
            ("seed", 3.into()),
            ("faults", "none".into()),
            ("onEvent", JsValue::NULL),
        ]))
        .unwrap();
        for _ in 0..3 {
            sim.submit("clusters", JsValue::UNDEFINED).unwrap();
        }
        let id = sim.submit("listInstances", JsValue::UNDEFINED).unwrap();
        assert!(id >= 1.0);
        let events = sim.run_for(10_000.0).unwrap();
        let completed: Vec<JsValue> = events
            .iter()
            .filter(|e| get(e, "kind").as_string().as_deref() == Some("completed"))
            .collect();
        assert_eq!(completed.len(), 4);
        assert!(completed.iter().all(|e| get(e, "ok") == JsValue::TRUE));
        assert_eq!(sim.now_ms(), 10_000.0);
        let e = sim.submit("nope", JsValue::UNDEFINED).unwrap_err();
        assert_eq!(code(&e), "invalid_argument");
        // A create request: the given fields over the core's defaults
        // (gpuNum, rootfsSize, kind), so one with a product and an image is
        // valid; one without them lists both problems.
        let req = obj(&[
            ("productId", "p-1".into()),
            ("imageUrl", "ubuntu:22.04".into()),
            ("name", "demo".into()),
        ]);
        assert!(sim.submit("createInstance", req).is_ok());
        let e = sim.submit("createInstance", obj(&[])).unwrap_err();
        assert_eq!(code(&e), "validation");
        let m = message(&e);
        assert!(m.contains("productId") && m.contains("imageUrl"), "{m}");
        let e = sim
            .submit("createInstance", obj(&[("gpuNum", "two".into())]))
            .unwrap_err();
        assert_eq!(code(&e), "invalid_argument", "{}", message(&e));
        let bad = SimulatedNovita::new(obj(&[("faults", "5xx=2".into())]));
        assert_eq!(code(&bad.err().unwrap()), "config");
    }

    #[wasm_bindgen_test]
    fn set_faults_turns_a_knob_mid_run_and_refuses_a_bad_plan() {
        let mut sim = SimulatedNovita::new(obj(&[("seed", 5.into())])).unwrap();
        // An outage over the whole next minute of virtual time: every call fails.
        sim.set_faults("outage=0s+60s").unwrap();
        sim.submit("clusters", JsValue::UNDEFINED).unwrap();
        let events = sim.run_for(30_000.0).unwrap();
        let ok: Vec<JsValue> = events
            .iter()
            .filter(|e| get(e, "kind").as_string().as_deref() == Some("completed"))
            .map(|e| get(&e, "ok"))
            .collect();
        assert_eq!(ok, vec![JsValue::FALSE]);
        let e = sim.set_faults("429=7").unwrap_err();
        assert_eq!(code(&e), "config");
        // Back to no faults: the next call succeeds.
        sim.set_faults("none").unwrap();
        sim.run_for(60_000.0).unwrap();
        sim.submit("clusters", JsValue::UNDEFINED).unwrap();
        let events = sim.run_for(10_000.0).unwrap();
        assert!(events.iter().any(|e| get(&e, "ok") == JsValue::TRUE));
    }
}
