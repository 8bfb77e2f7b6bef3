//! The standalone machines for callers who drive one themselves: the same
//! shape as in Rust — every method takes `nowMs` (your clock, milliseconds on
//! any epoch, e.g. `performance.now()`), a "no" is returned as data, nothing
//! sleeps. With the `snapshot` feature, `snapshot()` / `restore()` carry the
//! state as JSON (e.g. to `localStorage` or a Durable Object); it is not in
//! the default package because reading the state back costs about 17 KiB of
//! gzipped wasm (serde's visitors for every state type).

use wasm_bindgen::prelude::*;

use novitai_core::breaker::{self, BreakerConfig, OpenDuration, Window};
use novitai_core::limiter::{self, GcraConfig, RateLimitConfig, WindowConfig};
use novitai_core::{Duration, Instant};

use crate::js;

#[wasm_bindgen(typescript_custom_section)]
const TS_TYPES: &'static str = r#"
/** Options for `new CircuitBreaker(...)`; omitted fields keep the core's
 * defaults (5 failures in a row open it for 60 s; 3 probe successes close it). */
export interface CircuitBreakerOptions {
  /** Failures in a row that open it (null: off). */
  consecutiveFailures?: number | null;
  /** Failure rate (0–1] over the window that opens it (null: off). */
  failureRate?: number | null;
  /** The window: the last N calls... */
  windowCalls?: number;
  /** ...or the calls of the last N seconds. */
  windowSecs?: number;
  minimumCalls?: number;
  openMs?: number;
  halfOpenProbes?: number;
  halfOpenSuccesses?: number;
  probeMaxWaitMs?: number;
}
/** A breaker decision. */
export type BreakerDecision =
  | { permitted: true; permit: BreakerPermit; probe: boolean }
  | { permitted: false; reason: "open" | "probes_busy" | "forced_open"; untilMs: number; message: string };
/** Options for `new RateLimiter(...)`. */
export type RateLimiterOptions =
  | { mode?: "slidingWindow"; max: number; windowMs: number }
  | { mode: "gcra"; cells: number; periodMs: number; burst?: number };
/** A limiter decision. */
export type LimitDecision = { allowed: true } | { allowed: false; retryAtMs: number; waitMs: number };
"#;

/// `undefined` → keep the default, `null` → off, a value → on.
fn on_off<'a, T>(
    p: &js::Props<'a>,
    key: &str,
    read: fn(&js::Props<'a>, &str) -> Result<Option<T>, JsValue>,
) -> Result<Option<Option<T>>, JsValue> {
    if p.raw(key).is_null() {
        Ok(Some(None))
    } else {
        read(p, key).map(|v| v.map(Some))
    }
}

/// The breaker's configuration from `CircuitBreakerOptions` over the
/// core's defaults.
fn breaker_config(options: &JsValue) -> Result<BreakerConfig, JsValue> {
    let p = js::Props::new(options, "CircuitBreaker options")?;
    let mut c = BreakerConfig::default();
    if let Some(v) = on_off(&p, "consecutiveFailures", js::Props::u32)? {
        c.consecutive_failures = v;
    }
    if let Some(v) = on_off(&p, "failureRate", js::Props::number)? {
        c.failure_rate = v;
    }
    if let Some(n) = p.u32("windowCalls")? {
        c.window = Window::Count(n);
    }
    if let Some(n) = p.u32("windowSecs")? {
        c.window = Window::Seconds(n);
    }
    if let Some(n) = p.u32("minimumCalls")? {
        c.minimum_calls = n;
    }
    if let Some(ms) = p.u64("openMs")? {
        c.open_duration = OpenDuration::Fixed(Duration::from_millis(ms));
    }
    if let Some(n) = p.u32("halfOpenProbes")? {
        c.half_open_probes = n;
    }
    if let Some(n) = p.u32("halfOpenSuccesses")? {
        c.half_open_successes = n;
    }
    if let Some(ms) = p.u64("probeMaxWaitMs")? {
        c.probe_max_wait = Duration::from_millis(ms);
    }
    Ok(c)
}

#[cfg(feature = "snapshot")]
/// Reads a snapshot. Size: through a `serde_json::Value` and its `&Value`
/// deserializer, which the client's response parsing already holds; a
/// typed read straight from the text would add a second copy of serde_json's
/// parser for each machine's state types.
fn from_snapshot<T: serde::de::DeserializeOwned>(json: &str, what: &str) -> Result<T, JsValue> {
    serde_json::from_slice::<serde_json::Value>(json.as_bytes())
        .and_then(|v| T::deserialize(&v))
        .map_err(|e| js::error("invalid_argument", &format!("{what} snapshot: {e}")))
}

fn opt_ms(i: Option<Instant>) -> JsValue {
    i.map_or(JsValue::NULL, |i| js::ms(i.as_millis()))
}

/// Leave to make one call, from `CircuitBreaker.tryAcquire`. Hand it back
/// exactly once with `onSuccess`, `onFailure` or `onIgnored`.
#[wasm_bindgen]
pub struct BreakerPermit {
    inner: Option<breaker::Permit>,
}

#[wasm_bindgen]
impl BreakerPermit {
    /// `true` for a half-open probe.
    #[wasm_bindgen(getter)]
    pub fn probe(&self) -> bool {
        self.inner.as_ref().is_some_and(breaker::Permit::is_probe)
    }

    /// `true` once it has been reported.
    #[wasm_bindgen(getter)]
    pub fn used(&self) -> bool {
        self.inner.is_none()
    }
}

impl BreakerPermit {
    fn take(&mut self) -> Result<breaker::Permit, JsValue> {
        self.inner.take().ok_or_else(|| {
            js::error(
                "permit_used",
                "this permit was already reported; each permit is reported exactly once",
            )
        })
    }
}

/// The core's circuit breaker (closed / open / half-open, forced open,
/// disabled), driven by your clock.
#[wasm_bindgen]
pub struct CircuitBreaker {
    inner: breaker::CircuitBreaker,
}

#[wasm_bindgen]
impl CircuitBreaker {
    /// A breaker; throws an Error with code `config` naming a bad option.
    #[wasm_bindgen(constructor)]
    pub fn new(
        #[wasm_bindgen(unchecked_param_type = "CircuitBreakerOptions | undefined")]
        options: JsValue,
    ) -> Result<CircuitBreaker, JsValue> {
        let inner = breaker::CircuitBreaker::new(breaker_config(&options)?)
            .map_err(|e| js::error("config", &e.to_string()))?;
        Ok(CircuitBreaker { inner })
    }

    /// Asks to make a call now.
    #[wasm_bindgen(js_name = tryAcquire, unchecked_return_type = "BreakerDecision")]
    pub fn try_acquire(
        &mut self,
        #[wasm_bindgen(js_name = "nowMs")] now_ms: f64,
    ) -> Result<JsValue, JsValue> {
        let now = js::instant(now_ms, "nowMs")?;
        let out = js_sys::Object::new();
        match self.inner.try_acquire(now) {
            Ok(p) => {
                js::set(&out, "permitted", &JsValue::TRUE);
                js::set(&out, "probe", &JsValue::from_bool(p.is_probe()));
                js::set(&out, "permit", &BreakerPermit { inner: Some(p) }.into());
            }
            Err(r) => {
                let reason = match r {
                    breaker::Rejected::Open { .. } => "open",
                    breaker::Rejected::ProbesBusy { .. } => "probes_busy",
                    breaker::Rejected::ForcedOpen => "forced_open",
                };
                js::set(&out, "permitted", &JsValue::FALSE);
                js::set(&out, "reason", &JsValue::from_str(reason));
                js::set(&out, "untilMs", &js::ms(r.until().as_millis()));
                js::set(&out, "message", &JsValue::from_str(&r.to_string()));
            }
        }
        Ok(out.into())
    }

    /// Reports a successful call.
    #[wasm_bindgen(js_name = onSuccess)]
    pub fn on_success(
        &mut self,
        permit: &mut BreakerPermit,
        #[wasm_bindgen(js_name = "nowMs")] now_ms: f64,
    ) -> Result<(), JsValue> {
        let now = js::instant(now_ms, "nowMs")?;
        self.inner.on_success(permit.take()?, now);
        Ok(())
    }

    /// Reports a failed call.
    #[wasm_bindgen(js_name = onFailure)]
    pub fn on_failure(
        &mut self,
        permit: &mut BreakerPermit,
        #[wasm_bindgen(js_name = "nowMs")] now_ms: f64,
    ) -> Result<(), JsValue> {
        let now = js::instant(now_ms, "nowMs")?;
        self.inner.on_failure(permit.take()?, now);
        Ok(())
    }

    /// Reports a call whose outcome says nothing about the service (e.g.
    /// cancelled by the user).
    #[wasm_bindgen(js_name = onIgnored)]
    pub fn on_ignored(&mut self, permit: &mut BreakerPermit) -> Result<(), JsValue> {
        self.inner.on_ignored(permit.take()?);
        Ok(())
    }

    /// `"closed"`, `"open"`, `"half-open"`, `"forced-open"` or `"disabled"`.
    pub fn state(
        &mut self,
        #[wasm_bindgen(js_name = "nowMs")] now_ms: f64,
    ) -> Result<String, JsValue> {
        let now = js::instant(now_ms, "nowMs")?;
        Ok(self.inner.state(now).to_string())
    }

    /// When an open breaker lets a probe through (`null` when not open,
    /// `Infinity` when forced open).
    #[wasm_bindgen(js_name = openUntilMs, unchecked_return_type = "number | null")]
    pub fn open_until_ms(&self) -> JsValue {
        opt_ms(self.inner.open_until())
    }

    /// Counters for dashboards.
    #[wasm_bindgen(unchecked_return_type = "Record<string, number | string | null>")]
    pub fn metrics(
        &mut self,
        #[wasm_bindgen(js_name = "nowMs")] now_ms: f64,
    ) -> Result<JsValue, JsValue> {
        let m = self.inner.metrics(js::instant(now_ms, "nowMs")?);
        let o = js::string_object([("state", m.state.to_string().as_str())]);
        for (k, v) in [
            ("calls", m.calls as f64),
            ("failures", m.failures as f64),
            ("slowCalls", m.slow_calls as f64),
            ("failureRate", m.failure_rate),
            ("slowCallRate", m.slow_call_rate),
            ("consecutiveFailures", f64::from(m.consecutive_failures)),
            ("consecutiveTrips", f64::from(m.consecutive_trips)),
            ("probesInFlight", f64::from(m.probes_in_flight)),
            ("probeSuccesses", f64::from(m.probe_successes)),
        ] {
            js::set(&o, k, &JsValue::from_f64(v));
        }
        js::set(&o, "openUntilMs", &opt_ms(m.open_until));
        Ok(o)
    }

    /// Holds it open until `reset`.
    #[wasm_bindgen(js_name = forceOpen)]
    pub fn force_open(
        &mut self,
        #[wasm_bindgen(js_name = "nowMs")] now_ms: f64,
    ) -> Result<(), JsValue> {
        self.inner.force_open(js::instant(now_ms, "nowMs")?);
        Ok(())
    }

    /// Lets everything through, counting nothing, until `reset`.
    pub fn disable(
        &mut self,
        #[wasm_bindgen(js_name = "nowMs")] now_ms: f64,
    ) -> Result<(), JsValue> {
        self.inner.disable(js::instant(now_ms, "nowMs")?);
        Ok(())
    }

    /// Back to closed with clean counters.
    pub fn reset(&mut self, #[wasm_bindgen(js_name = "nowMs")] now_ms: f64) -> Result<(), JsValue> {
        self.inner.reset(js::instant(now_ms, "nowMs")?);
        Ok(())
    }

    /// The oldest unread state change `{ from, to, atMs }`, or `undefined`.
    #[wasm_bindgen(
        js_name = pollTransition,
        unchecked_return_type = "{ from: string; to: string; atMs: number } | undefined"
    )]
    pub fn poll_transition(&mut self) -> JsValue {
        match self.inner.poll_transition() {
            Some(t) => {
                let o = js::string_object([
                    ("from", t.from.to_string().as_str()),
                    ("to", t.to.to_string().as_str()),
                ]);
                js::set(&o, "atMs", &js::ms(t.at.as_millis()));
                o
            }
            None => JsValue::UNDEFINED,
        }
    }

    /// When to call `state(now)` again to see a time-driven change, or
    /// `undefined` when nothing is due.
    #[wasm_bindgen(js_name = pollTimeoutMs)]
    pub fn poll_timeout_ms(&self) -> Option<f64> {
        self.inner.poll_timeout().map(|i| i.as_millis() as f64)
    }
}

#[cfg(feature = "snapshot")]
#[wasm_bindgen]
impl CircuitBreaker {
    /// The whole state as JSON (feature `snapshot`).
    pub fn snapshot(&self) -> Result<String, JsValue> {
        serde_json::to_string(&self.inner).map_err(|e| js::error("internal", &e.to_string()))
    }

    /// A breaker from `snapshot()`'s JSON; throws code `invalid_argument`
    /// when it does not read back (feature `snapshot`).
    pub fn restore(json: &str) -> Result<CircuitBreaker, JsValue> {
        from_snapshot(json, "breaker").map(|inner| CircuitBreaker { inner })
    }
}

/// `{ allowed: true }` or `{ allowed: false, retryAtMs, waitMs }`.
fn decision(r: Result<(), limiter::NotUntil>, now: Instant) -> JsValue {
    let out = js_sys::Object::new();
    js::set(&out, "allowed", &JsValue::from_bool(r.is_ok()));
    if let Err(n) = r {
        js::set(&out, "retryAtMs", &js::ms(n.earliest().as_millis()));
        js::set(&out, "waitMs", &js::ms(n.wait_time_from(now).as_millis()));
    }
    out.into()
}

/// The core's rate limiter: a sliding window (the Node client's 100 per
/// 60 s) or GCRA with a burst, plus server push-back.
#[wasm_bindgen]
pub struct RateLimiter {
    inner: limiter::RateLimiter,
}

#[wasm_bindgen]
impl RateLimiter {
    /// A limiter; throws an Error with code `config` naming a bad option.
    /// No options: 100 requests per 60 s, sliding window.
    #[wasm_bindgen(constructor)]
    pub fn new(
        #[wasm_bindgen(unchecked_param_type = "RateLimiterOptions | undefined")] options: JsValue,
    ) -> Result<RateLimiter, JsValue> {
        let config = if js::absent(&options) {
            RateLimitConfig::default()
        } else {
            let o = js::Props::new(&options, "RateLimiter options")?;
            match o.string("mode")?.as_deref() {
                Some("gcra") => {
                    let cells = o.u64("cells")?.unwrap_or(0);
                    let mut g = GcraConfig::per_period(
                        cells,
                        Duration::from_millis(o.u64("periodMs")?.unwrap_or(0)),
                    );
                    if let Some(b) = o.u64("burst")? {
                        g.burst = b;
                    }
                    RateLimitConfig::Gcra(g)
                }
                None | Some("slidingWindow") => {
                    let d = WindowConfig::default();
                    RateLimitConfig::SlidingWindow(WindowConfig {
                        max: o.u32("max")?.unwrap_or(d.max),
                        window: o.u64("windowMs")?.map_or(d.window, Duration::from_millis),
                    })
                }
                Some(other) => {
                    return Err(js::error(
                        "config",
                        &format!(
                            "RateLimiter mode is \"{other}\": use \"slidingWindow\" or \"gcra\""
                        ),
                    ));
                }
            }
        };
        let inner =
            limiter::RateLimiter::new(config).map_err(|e| js::error("config", &e.to_string()))?;
        Ok(RateLimiter { inner })
    }

    /// Admits one request now, or says when it would be admitted.
    #[wasm_bindgen(unchecked_return_type = "LimitDecision")]
    pub fn check(
        &mut self,
        #[wasm_bindgen(js_name = "nowMs")] now_ms: f64,
    ) -> Result<JsValue, JsValue> {
        let now = js::instant(now_ms, "nowMs")?;
        Ok(decision(self.inner.check(now), now))
    }

    /// Admits `n` requests at once (all or none). Throws code
    /// `insufficient_capacity` when `n` exceeds what the limiter can ever
    /// admit at once.
    #[wasm_bindgen(js_name = checkN, unchecked_return_type = "LimitDecision")]
    pub fn check_n(
        &mut self,
        n: f64,
        #[wasm_bindgen(js_name = "nowMs")] now_ms: f64,
    ) -> Result<JsValue, JsValue> {
        let n = js::whole(n, "n")?;
        let now = js::instant(now_ms, "nowMs")?;
        match self.inner.check_n(n, now) {
            Ok(r) => Ok(decision(r, now)),
            Err(e) => Err(js::error("insufficient_capacity", &e.to_string())),
        }
    }

    /// The earliest instant one request would be admitted (changes nothing).
    #[wasm_bindgen(js_name = nextFreeMs)]
    pub fn next_free_ms(
        &self,
        #[wasm_bindgen(js_name = "nowMs")] now_ms: f64,
    ) -> Result<f64, JsValue> {
        let now = js::instant(now_ms, "nowMs")?;
        Ok(self.inner.next_free(now).as_millis() as f64)
    }

    /// The server asked to wait (a 429's `Retry-After`): admit nothing
    /// before `untilMs`. Holds only ever extend.
    #[wasm_bindgen(js_name = pushBack)]
    pub fn push_back(
        &mut self,
        #[wasm_bindgen(js_name = "untilMs")] until_ms: f64,
    ) -> Result<(), JsValue> {
        self.inner.push_back(js::instant(until_ms, "untilMs")?);
        Ok(())
    }

    /// The most requests it admits at once.
    pub fn capacity(&self) -> f64 {
        self.inner.capacity() as f64
    }
}

#[cfg(feature = "snapshot")]
#[wasm_bindgen]
impl RateLimiter {
    /// The whole state as JSON (feature `snapshot`).
    pub fn snapshot(&self) -> Result<String, JsValue> {
        serde_json::to_string(&self.inner).map_err(|e| js::error("internal", &e.to_string()))
    }

    /// A limiter from `snapshot()`'s JSON (feature `snapshot`).
    pub fn restore(json: &str) -> Result<RateLimiter, JsValue> {
        from_snapshot(json, "limiter").map(|inner| RateLimiter { inner })
    }
}
