//! `NovitaClient`: the core's [`Engine`] carried out with `fetch` and timers.
//!
//! One engine lives in an `Rc<RefCell<..>>`. Every mutation (a call, a
//! response, a timer) is followed by draining the engine's outputs: each
//! transmission becomes a `fetch` spawned with `spawn_local`, each completion
//! settles the Promise of its call, and the one wake-up the engine asks for
//! becomes one `setTimeout` (replaced when the engine asks for another
//! instant). Nothing here decides anything: retries, waits, the breaker, the
//! limiter, timeouts and the cache are the engine's.
//!
//! Size: a call is submitted synchronously and its Promise is settled from
//! `pump` through a boxed `finish` closure, so the module holds one async
//! state machine (`transmit`) instead of one per method.

use std::cell::RefCell;
use std::rc::{Rc, Weak};

use gloo_timers::callback::Timeout;
use js_sys::{Function, Promise};
use serde::Serialize;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::spawn_local;

use novitai_core::api::clusters::ListClusters;
use novitai_core::api::instances::{
    CreateInstance, CreateInstanceRequest, DeleteInstance, GetInstance, InstanceAck, InstancePage,
    ListInstances, RestartInstance, StartInstance, StopInstance,
};
use novitai_core::api::products::{ListProducts, ProductQuery, choose_product};
use novitai_core::api::{ApiContext, BASE_URL, Endpoint};
use novitai_core::config::Config;
use novitai_core::engine::{
    AttemptId, Completed, Engine, EngineConfig, Event, Input, Output, RequestId, RequestOptions,
    Transmit,
};
use novitai_core::error::Error;
use novitai_core::http::{HttpResponse, Method};
use novitai_core::retry::TransportErrorKind;
use novitai_core::{Instant, Rng};

use crate::js;

#[wasm_bindgen(typescript_custom_section)]
const TS_TYPES: &'static str = r#"
/** Options for `new NovitaClient(...)`. Every field but `apiKey` is optional;
 * ranges and defaults are those of the core's configuration (the
 * `NOVITA_*` variables named in error messages). */
export interface NovitaClientOptions {
  /** The Novita API key (`sk_...`, at least 10 characters). */
  apiKey: string;
  /** Default `https://api.novita.ai/gpu-instance/openapi`. */
  baseUrl?: string;
  /** Requests in flight at once, 1–256 (default 8). */
  maxInFlight?: number;
  /** Per-attempt timeout, 5000–120000 ms (default 30000). */
  requestTimeoutMs?: number;
  /** Attempts per request including the first, 1–10 (default 3). */
  maxRetryAttempts?: number;
  retryBaseDelayMs?: number;
  retryMaxDelayMs?: number;
  rateLimitMaxRequests?: number;
  rateLimitWindowMs?: number;
  circuitBreakerFailureThreshold?: number;
  circuitBreakerOpenMs?: number;
  circuitBreakerSuccessThreshold?: number;
  queueCapacity?: number;
  cacheEnabled?: boolean;
  cacheTimeoutSecs?: number;
  /** Sent as `User-Agent` where the runtime allows it (edge workers). */
  userAgent?: string;
  /** Fixes the jitter seed (default: from `crypto.getRandomValues`). */
  seed?: number;
  /** Called with every engine decision, as a line of text and its time. */
  onEvent?: (event: { atMs: number; line: string }) => void;
}

/** What `status()` returns. */
export interface NovitaClientStatus {
  queued: number; inFlight: number; active: number; maxInFlight: number;
  oldestQueuedWaitMs: number | null;
  breaker: "closed" | "open" | "half-open" | "forced-open" | "disabled";
  breakerOpenUntilMs: number | null; limiterNextFreeMs: number;
  retryBudget: { tokens: number; max: number } | null;
  cacheEntries: number; submitted: number; completed: number; nowMs: number;
}

/** Filters for `products()`. */
export interface ProductFilter {
  clusterId?: string; gpuNum?: number; productName?: string;
  minCpuPerGpu?: number; minMemoryPerGpu?: number; minRootFsSize?: number;
  billingMethod?: "onDemand" | "monthly" | "spot";
}

/** What `optimalProduct()` looks for. */
export interface ProductQuery {
  name: string; preferredRegion?: string; fallbackRegions?: string[];
}

/** Filters and paging for `listInstances()`. */
export interface InstanceQuery {
  pageSize?: number; pageNum?: number; name?: string; productName?: string; status?: string;
}

/** One page of `listInstances()`. */
export interface InstancePage {
  instances: any[]; total: number | null; pageSize: number | null; pageNum: number | null;
}

/** What an instance action answered. */
export interface InstanceAck { instanceId: string | null; state: string | null; }

/** The body of `createInstance()`, as the Novita API spells it. Omitted
 * fields take the core's defaults (`gpuNum` 1, `rootfsSize` 60, `kind`
 * "gpu"); `productId` and `imageUrl` are required. */
export interface CreateInstanceRequest {
  productId: string; imageUrl: string; name?: string; gpuNum?: number; rootfsSize?: number;
  imageAuth?: string; imageAuthId?: string; command?: string; entrypoint?: string;
  minCudaVersion?: string; ports?: string; envs?: { key: string; value: string }[];
  tools?: unknown; kind?: "gpu" | "cpu"; clusterId?: string;
  networkStorages?: { Id: string; mountPoint: string }[]; networkId?: string;
  billingMode?: "onDemand" | "monthly" | "spot"; month?: number; autoRenew?: boolean;
  autoRenewMonth?: number;
}

/** Every error thrown or rejected by novitai is an `Error` with a `code`. */
export interface NovitaError extends Error {
  code: string; transient?: boolean; status?: number; apiKind?: string; apiCode?: string;
  retryInMs?: number;
}
"#;

/// The client options read from the JS object. Numbers (and numeric
/// strings) reach the core's configuration as text, so a bad value gets the
/// core's sentence, named by its JS property.
#[derive(Default)]
pub(crate) struct ClientOptions {
    pub(crate) api_key: String,
    base_url: Option<String>,
    user_agent: Option<String>,
    pub(crate) seed: Option<f64>,
    /// `(JS name, configuration variable, value as text)` of the others.
    settings: Vec<(&'static str, &'static str, String)>,
}

/// The options that map onto a configuration variable one to one.
const SETTINGS: [(&str, &str); 13] = [
    ("maxInFlight", "MAX_CONCURRENT_REQUESTS"),
    ("requestTimeoutMs", "REQUEST_TIMEOUT"),
    ("maxRetryAttempts", "MAX_RETRY_ATTEMPTS"),
    ("retryBaseDelayMs", "RETRY_BASE_DELAY_MS"),
    ("retryMaxDelayMs", "RETRY_MAX_DELAY_MS"),
    ("rateLimitMaxRequests", "RATE_LIMIT_MAX_REQUESTS"),
    ("rateLimitWindowMs", "RATE_LIMIT_WINDOW_MS"),
    (
        "circuitBreakerFailureThreshold",
        "CIRCUIT_BREAKER_FAILURE_THRESHOLD",
    ),
    ("circuitBreakerOpenMs", "CIRCUIT_BREAKER_OPEN_MS"),
    (
        "circuitBreakerSuccessThreshold",
        "CIRCUIT_BREAKER_SUCCESS_THRESHOLD",
    ),
    ("queueCapacity", "QUEUE_CAPACITY"),
    ("cacheEnabled", "CACHE_ENABLED"),
    ("cacheTimeoutSecs", "CACHE_TIMEOUT"),
];

fn number_text(v: f64) -> String {
    if v.is_finite() && v.fract() == 0.0 && v.abs() < 1e18 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

impl ClientOptions {
    /// Reads `options` (absent: all defaults); `what` names it in errors.
    pub(crate) fn read(options: &JsValue, what: &'static str) -> Result<ClientOptions, JsValue> {
        let p = js::Props::new(options, what)?;
        let mut settings = Vec::new();
        for (js, var) in SETTINGS {
            let Some(v) = p.get(js) else { continue };
            let text = if let Some(n) = v.as_f64() {
                number_text(n)
            } else if let Some(b) = v.as_bool() {
                String::from(if b { "true" } else { "false" })
            } else if let Some(t) = v.as_string() {
                t
            } else {
                return Err(p.bad(js, "a number"));
            };
            settings.push((js, var, text));
        }
        Ok(ClientOptions {
            api_key: p.string("apiKey")?.unwrap_or_default(),
            base_url: p.string("baseUrl")?,
            user_agent: p.string("userAgent")?,
            seed: p.number("seed")?,
            settings,
        })
    }

    /// The options as the core's configuration pairs, each with its JS name.
    fn pairs(&self) -> Vec<(&'static str, &'static str, String)> {
        let mut out = vec![("apiKey", "NOVITA_API_KEY", self.api_key.clone())];
        if let Some(u) = &self.base_url {
            out.push(("baseUrl", "NOVITA_API_BASE_URL", u.clone()));
        }
        out.extend(self.settings.iter().cloned());
        out
    }

    /// The core's [`Config`], or an Error (code `config`) listing every
    /// problem by its JS name.
    pub(crate) fn config(&self) -> Result<Config, JsValue> {
        let pairs = self.pairs();
        Config::from_pairs(pairs.iter().map(|(_, var, v)| (*var, v.as_str()))).map_err(|errs| {
            let lines: Vec<String> = errs
                .problems()
                .iter()
                .map(|p| {
                    let js = pairs
                        .iter()
                        .find(|(_, var, _)| *var == p.var)
                        .map_or(p.var, |(js, _, _)| *js);
                    format!("{js} ({p})")
                })
                .collect();
            js::error(
                "config",
                &format!("invalid NovitaClient options: {}", lines.join("; ")),
            )
        })
    }
}

/// Turns a call's completion into the value its Promise resolves to, or the
/// Error it rejects with.
type Finish = Box<dyn FnOnce(&Completed) -> Result<JsValue, JsValue>>;

/// A call waiting for its completion: its Promise's `resolve` and `reject`.
struct Waiter {
    id: RequestId,
    resolve: Function,
    reject: Function,
    finish: Finish,
}

impl Waiter {
    fn settle(self, done: &Completed) {
        let _ = match (self.finish)(done) {
            Ok(v) => self.resolve.call1(&JsValue::NULL, &v),
            Err(e) => self.reject.call1(&JsValue::NULL, &e),
        };
    }
}

/// The state behind one client.
struct Driver {
    engine: Engine,
    /// `performance.now()` when the client was made: instants count from it.
    origin: f64,
    base_url: String,
    ctx: ApiContext,
    /// Pending calls (at most the queue plus the in-flight cap: a short list).
    waiters: Vec<Waiter>,
    aborts: Vec<(AttemptId, web_sys::AbortController)>,
    /// The armed timer and the instant it was armed for.
    timer: Option<(Instant, Timeout)>,
    on_event: Option<js_sys::Function>,
}

type Shared = Rc<RefCell<Driver>>;

impl Driver {
    fn now(&self) -> Instant {
        Instant::from_millis((js::now_ms() - self.origin).max(0.0) as u64)
    }

    fn take_abort(&mut self, attempt: AttemptId) -> Option<web_sys::AbortController> {
        let i = self.aborts.iter().position(|(a, _)| *a == attempt)?;
        Some(self.aborts.swap_remove(i).1)
    }
}

impl Drop for Driver {
    /// The client went away with calls pending: they reject with code
    /// `cancelled`.
    fn drop(&mut self) {
        let cancelled = js::api_error(&Error::Cancelled);
        for w in self.waiters.drain(..) {
            let _ = w.reject.call1(&JsValue::NULL, &cancelled);
        }
    }
}

/// Drains the engine after a mutation and carries out what it asks.
fn pump(shared: &Shared) {
    let mut transmits = Vec::new();
    let mut completions = Vec::new();
    let mut lines = Vec::new();
    let on_event;
    {
        let mut d = shared.borrow_mut();
        let now = d.now();
        on_event = d.on_event.clone();
        loop {
            match d.engine.poll_output() {
                Output::Transmit(t) => transmits.push(t),
                Output::Event(e) => {
                    if on_event.is_some() {
                        lines.push(crate::trace::event_line(&e));
                    }
                    match e {
                        Event::AttemptTimedOut { attempt, .. } => {
                            if let Some(a) = d.take_abort(attempt) {
                                a.abort();
                            }
                        }
                        Event::Completed(c) => completions.push(c),
                        _ => {}
                    }
                }
                Output::Timeout(at) => {
                    arm(&mut d, shared, at, now);
                    break;
                }
            }
        }
    }
    // Settle outside the borrow: a `then` callback may call the client.
    for c in completions {
        let waiter = {
            let mut d = shared.borrow_mut();
            let i = d.waiters.iter().position(|w| w.id == c.id);
            i.map(|i| d.waiters.swap_remove(i))
        };
        if let Some(w) = waiter {
            w.settle(&c);
        }
    }
    for t in transmits {
        spawn_local(transmit(shared.clone(), t));
    }
    if let Some(f) = on_event {
        let at = shared.borrow().now();
        for line in lines {
            let ev = js::string_object([("line", line.as_str())]);
            js::set(&ev, "atMs", &js::ms(at.as_millis()));
            let _ = f.call1(&JsValue::NULL, &ev);
        }
    }
}

/// Keeps exactly one timer, for the instant the engine asked for.
fn arm(d: &mut Driver, shared: &Shared, at: Option<Instant>, now: Instant) {
    let Some(at) = at else {
        d.timer = None;
        return;
    };
    if d.timer.as_ref().is_some_and(|(armed, _)| *armed == at) {
        return;
    }
    // setTimeout takes at most 2^31-1 ms; a later wake-up re-arms on firing.
    let delay = at
        .saturating_duration_since(now)
        .as_millis()
        .min(i32::MAX as u64) as u32;
    let weak: Weak<RefCell<Driver>> = Rc::downgrade(shared);
    let timeout = Timeout::new(delay, move || {
        if let Some(s) = weak.upgrade() {
            {
                let mut d = s.borrow_mut();
                d.timer = None;
                let now = d.now();
                d.engine.handle_input(Input::Timeout(now));
            }
            pump(&s);
        }
    });
    d.timer = Some((at, timeout));
}

/// Sends one transmission with fetch and hands the answer to the engine.
async fn transmit(shared: Shared, t: Transmit) {
    let (url, signal) = {
        let mut d = shared.borrow_mut();
        let url = t.request.url(&d.base_url);
        let signal = web_sys::AbortController::new().ok().map(|a| {
            let s = a.signal();
            d.aborts.push((t.attempt, a));
            s
        });
        (url, signal)
    };
    let result = fetch(&t, &url, signal.as_ref()).await;
    {
        let mut d = shared.borrow_mut();
        d.take_abort(t.attempt);
        let now = d.now();
        let input = match result {
            Ok(response) => Input::Response {
                attempt: t.attempt,
                now,
                response,
            },
            Err(kind) => Input::TransportError {
                attempt: t.attempt,
                now,
                kind,
            },
        };
        d.engine.handle_input(input);
    }
    pump(&shared);
}

#[wasm_bindgen]
extern "C" {
    /// The global `fetch` (window, worker, Node 18+).
    #[wasm_bindgen(js_name = fetch, catch)]
    fn global_fetch(url: &str, init: &JsValue) -> Result<Promise, JsValue>;
}

/// One request with the global `fetch`, straight from `web-sys` types (no
/// HTTP wrapper crate: the module stays smaller).
async fn fetch(
    t: &Transmit,
    url: &str,
    signal: Option<&web_sys::AbortSignal>,
) -> Result<HttpResponse, TransportErrorKind> {
    use wasm_bindgen_futures::JsFuture;
    let method = match t.request.method {
        Method::Get => "GET",
        Method::Post => "POST",
        Method::Put => "PUT",
        Method::Patch => "PATCH",
        Method::Delete => "DELETE",
    };
    let init = js_sys::Object::new();
    js::set(&init, "method", &JsValue::from_str(method));
    let headers = js_sys::Array::new();
    for (name, value) in t.request.headers.iter() {
        let pair = js_sys::Array::of2(&JsValue::from_str(name), &JsValue::from_str(value));
        headers.push(&pair);
    }
    js::set(&init, "headers", &headers);
    if let Some(body) = &t.request.body {
        js::set(&init, "body", &js_sys::Uint8Array::from(body.as_slice()));
    }
    if let Some(signal) = signal {
        js::set(&init, "signal", signal);
    }
    // fetch cannot tell a refused connection from a reset, DNS, offline or a
    // CORS refusal, so a failed fetch is reported as `ConnectionReset`: the
    // server may or may not have acted. The core then retries idempotent
    // calls and never resends a create.
    let promise = global_fetch(url, &init).map_err(|_| TransportErrorKind::Other)?;
    let response: web_sys::Response = JsFuture::from(promise)
        .await
        .map_err(|_| TransportErrorKind::ConnectionReset)?
        .dyn_into()
        .map_err(|_| TransportErrorKind::Other)?;
    let status = response.status();
    // A network error (and an opaque response) surfaces as status 0.
    if status == 0 {
        return Err(TransportErrorKind::ConnectionReset);
    }
    let mut headers = novitai_core::http::Headers::new();
    if let Ok(Some(entries)) = js_sys::try_iter(&response.headers()) {
        for entry in entries.flatten() {
            let pair = js_sys::Array::from(&entry);
            if let (Some(k), Some(v)) = (pair.get(0).as_string(), pair.get(1).as_string()) {
                headers.append(k, v);
            }
        }
    }
    let buffer = response
        .array_buffer()
        .map_err(|_| TransportErrorKind::ConnectionReset)?;
    let buffer = JsFuture::from(buffer)
        .await
        .map_err(|_| TransportErrorKind::ConnectionReset)?;
    Ok(HttpResponse {
        status,
        headers,
        body: js_sys::Uint8Array::new(&buffer).to_vec(),
    })
}

/// Submits `request` now and returns the Promise that `finish` settles when
/// it completes (rejected at once when the engine refuses it).
fn submit(
    shared: &Shared,
    request: novitai_core::http::HttpRequest,
    options: RequestOptions,
    finish: Finish,
) -> Promise {
    let mut slot = None;
    let promise = Promise::new(&mut |resolve, reject| slot = Some((resolve, reject)));
    let Some((resolve, reject)) = slot else {
        return promise;
    };
    let submitted = {
        let mut d = shared.borrow_mut();
        let mut request = request;
        d.ctx.authorize(&mut request);
        let now = d.now();
        d.engine.submit(request, options, now).map(|id| {
            d.waiters.push(Waiter {
                id,
                resolve,
                reject: reject.clone(),
                finish,
            });
        })
    };
    match submitted {
        Ok(()) => pump(shared),
        Err(e) => {
            let _ = reject.call1(&JsValue::NULL, &js::api_error(&e.into()));
        }
    }
    promise
}

/// Calls `endpoint` and resolves with `then(output)` as a plain JS value.
fn call<E, T>(shared: &Shared, endpoint: E, then: fn(E::Output) -> Result<T, Error>) -> Promise
where
    E: Endpoint + 'static,
    T: Serialize + 'static,
{
    if let Err(e) = endpoint.validate() {
        return rejected(js::api_error(&e.into()));
    }
    let request = endpoint.request();
    let options = RequestOptions::new()
        .cacheable(endpoint.is_cacheable())
        .idempotent(endpoint.is_idempotent());
    let finish: Finish = Box::new(move |done| {
        Error::result_of(&endpoint, done)
            .and_then(then)
            .map_err(|e| js::api_error(&e))
            .and_then(|v| js::to_js(&v))
    });
    submit(shared, request, options, finish)
}

fn same<T>(v: T) -> Result<T, Error> {
    Ok(v)
}

fn ack(a: InstanceAck) -> Result<InstanceAckJs, Error> {
    Ok(InstanceAckJs::from(a))
}

/// The records of an array property, each read by `read`.
fn records<T>(
    p: &js::Props<'_>,
    key: &str,
    what: &'static str,
    read: fn(&js::Props<'_>) -> Result<T, JsValue>,
) -> Result<Vec<T>, JsValue> {
    let Some(v) = p.get(key) else {
        return Ok(Vec::new());
    };
    if !js_sys::Array::is_array(&v) {
        return Err(p.bad(key, "an array"));
    }
    js_sys::Array::from(&v)
        .iter()
        .map(|item| {
            if item.is_object() {
                read(&js::Props::new(&item, what)?)
            } else {
                Err(p.bad(key, "an array of objects"))
            }
        })
        .collect()
}

/// A string, or a number written as text (env values are often numbers).
fn text(p: &js::Props<'_>, key: &str) -> Result<Option<String>, JsValue> {
    match p.get(key) {
        Some(v) if v.as_f64().is_some() => Ok(v.as_f64().map(number_text)),
        _ => p.string(key),
    }
}

/// A create-instance request from JS: the fields given over the core's
/// documented defaults (`gpuNum` 1, `rootfsSize` 60, `kind` "gpu"). The
/// core's validation then checks it before anything is sent. A unit test
/// checks that it reads every field of the core's type.
///
/// Size: read property by property; a derived `Deserialize` for this type
/// (and its nested records) costs about 18 KiB of wasm.
pub(crate) fn create_request(v: JsValue) -> Result<CreateInstanceRequest, JsValue> {
    use novitai_core::api::instances::{EnvVar, NetworkStorageMount};
    let p = js::Props::new(&v, "create-instance request")?;
    let d = CreateInstanceRequest::default();
    // `tools` is sent as given (its shape is not documented).
    let tools = match p.get("tools") {
        None => None,
        Some(tools) => {
            let json = js_sys::JSON::stringify(&tools)
                .ok()
                .and_then(|t| t.as_string())
                .ok_or_else(|| p.bad("tools", "JSON"))?;
            Some(serde_json::from_slice(json.as_bytes()).map_err(|_| p.bad("tools", "JSON"))?)
        }
    };
    Ok(CreateInstanceRequest {
        name: p.string("name")?,
        product_id: p.string("productId")?.unwrap_or(d.product_id),
        gpu_num: p.u32("gpuNum")?.unwrap_or(d.gpu_num),
        rootfs_size: p.u64("rootfsSize")?.unwrap_or(d.rootfs_size),
        image_url: p.string("imageUrl")?.unwrap_or(d.image_url),
        image_auth: p.string("imageAuth")?.map(Into::into),
        image_auth_id: p.string("imageAuthId")?,
        command: p.string("command")?,
        entrypoint: p.string("entrypoint")?,
        min_cuda_version: p.string("minCudaVersion")?,
        ports: p.string("ports")?,
        envs: records(&p, "envs", "create-instance request env", |e| {
            Ok(EnvVar::new(
                text(e, "key")?.unwrap_or_default(),
                text(e, "value")?.unwrap_or_default(),
            ))
        })?,
        tools,
        kind: p.string("kind")?.unwrap_or(d.kind),
        cluster_id: p.string("clusterId")?,
        network_storages: records(
            &p,
            "networkStorages",
            "create-instance request network storage",
            |m| {
                Ok(NetworkStorageMount {
                    id: p_or(m.string("Id")?, m.string("id")?),
                    mount_point: m.string("mountPoint")?.unwrap_or_default(),
                })
            },
        )?,
        network_id: p.string("networkId")?,
        billing_mode: p.string("billingMode")?,
        month: p.u32("month")?,
        auto_renew: p.boolean("autoRenew")?,
        auto_renew_month: p.u32("autoRenewMonth")?,
    })
}

/// The first of two spellings that is present (or empty).
fn p_or(a: Option<String>, b: Option<String>) -> String {
    a.or(b).unwrap_or_default()
}

fn rejected(e: JsValue) -> Promise {
    Promise::reject(&e)
}

/// `products()`'s filter object (see `ProductFilter`).
fn product_filter(filter: &JsValue) -> Result<ListProducts, JsValue> {
    let p = js::Props::new(filter, "product filter")?;
    Ok(ListProducts {
        cluster_id: p.string("clusterId")?,
        gpu_num: p.u32("gpuNum")?,
        product_name: p.string("productName")?,
        min_cpu_per_gpu: p.u32("minCpuPerGpu")?,
        min_memory_per_gpu: p.u32("minMemoryPerGpu")?,
        min_root_fs_size: p.u32("minRootFsSize")?,
        billing_method: p.string("billingMethod")?,
    })
}

/// `optimalProduct()`'s query: a name, or `{ name, preferredRegion, fallbackRegions }`.
fn product_query(query: &JsValue) -> Result<ProductQuery, JsValue> {
    if let Some(name) = query.as_string() {
        return Ok(ProductQuery::named(name));
    }
    let p = js::Props::new(query, "product query")?;
    let mut q = ProductQuery::named(p.string("name")?.unwrap_or_default());
    q.preferred_region = p.string("preferredRegion")?;
    if let Some(f) = p.strings("fallbackRegions")? {
        q.fallback_regions = f;
    }
    Ok(q)
}

/// `listInstances()`'s query (see `InstanceQuery`).
fn instance_query(query: &JsValue) -> Result<ListInstances, JsValue> {
    let p = js::Props::new(query, "instance query")?;
    let defaults = ListInstances::default();
    Ok(ListInstances {
        page_size: p.u32("pageSize")?.unwrap_or(defaults.page_size),
        page_num: p.u32("pageNum")?.unwrap_or(defaults.page_num),
        name: p.string("name")?,
        product_name: p.string("productName")?,
        status: p.string("status")?,
    })
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct InstancePageJs {
    instances: Vec<novitai_core::api::instances::Instance>,
    total: Option<u64>,
    page_size: Option<u64>,
    page_num: Option<u64>,
}

impl From<InstancePage> for InstancePageJs {
    fn from(p: InstancePage) -> InstancePageJs {
        InstancePageJs {
            instances: p.instances,
            total: p.total,
            page_size: p.page_size,
            page_num: p.page_num,
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct InstanceAckJs {
    instance_id: Option<String>,
    state: Option<novitai_core::api::instances::InstanceStatus>,
}

impl From<InstanceAck> for InstanceAckJs {
    fn from(a: InstanceAck) -> InstanceAckJs {
        InstanceAckJs {
            instance_id: a.instance_id,
            state: a.state,
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RetryBudgetJs {
    tokens: f64,
    max: f64,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct StatusJs {
    queued: usize,
    in_flight: usize,
    active: usize,
    max_in_flight: usize,
    oldest_queued_wait_ms: Option<f64>,
    breaker: String,
    breaker_open_until_ms: Option<f64>,
    limiter_next_free_ms: f64,
    retry_budget: Option<RetryBudgetJs>,
    cache_entries: usize,
    submitted: f64,
    completed: f64,
    now_ms: f64,
}

impl StatusJs {
    pub(crate) fn new(engine: &mut Engine, now: Instant) -> StatusJs {
        let s = engine.status(now);
        let opt_ms = |i: Option<Instant>| i.map(|i| i.as_millis() as f64);
        StatusJs {
            queued: s.queued,
            in_flight: s.in_flight,
            active: s.active,
            max_in_flight: s.max_in_flight,
            oldest_queued_wait_ms: s.oldest_queued_wait.map(|d| d.as_millis() as f64),
            breaker: s.breaker.to_string(),
            breaker_open_until_ms: opt_ms(s.breaker_open_until.filter(|u| *u != Instant::MAX)),
            limiter_next_free_ms: s.limiter_next_free.as_millis() as f64,
            retry_budget: s.retry_budget_milli.map(|(t, m)| RetryBudgetJs {
                tokens: t as f64 / 1000.0,
                max: m as f64 / 1000.0,
            }),
            cache_entries: s.cache_entries,
            submitted: s.submitted as f64,
            completed: s.completed as f64,
            now_ms: now.as_millis() as f64,
        }
    }
}

/// A Novita API client for browsers and edge workers. Every method returns a
/// Promise; failures reject with an `Error` carrying a `code`.
#[wasm_bindgen]
pub struct NovitaClient {
    shared: Shared,
}

#[wasm_bindgen]
impl NovitaClient {
    /// A client from an options object (see `NovitaClientOptions`). Throws an
    /// Error with code `config` listing every bad option.
    #[wasm_bindgen(constructor)]
    pub fn new(
        #[wasm_bindgen(unchecked_param_type = "NovitaClientOptions")] options: JsValue,
    ) -> Result<NovitaClient, JsValue> {
        let on_event = js_sys::Reflect::get(&options, &JsValue::from_str("onEvent"))
            .ok()
            .and_then(|f| f.dyn_into::<js_sys::Function>().ok());
        let opts = ClientOptions::read(&options, "NovitaClient options")?;
        let config = opts.config()?;
        let ctx = ApiContext::new(config.api_key.clone(), opts.user_agent.unwrap_or_default())
            .map_err(|e| js::error("config", &e.to_string()))?;
        let seed = match opts.seed {
            Some(s) => js::whole(s, "seed")?,
            // Without Web Crypto, fall back to the clock: jitter only needs
            // to differ between clients, not to be secret.
            None => js::random_seed()
                .unwrap_or_else(|| Rng::new((js_sys::Date::now() * 1000.0) as u64).next_u64()),
        };
        let engine = Engine::new(EngineConfig::from_config(&config), seed, Instant::ZERO)
            .map_err(|e| js::error("config", &e.to_string()))?;
        let base_url = if config.api_base_url.is_empty() {
            String::from(BASE_URL)
        } else {
            config.api_base_url.clone()
        };
        Ok(NovitaClient {
            shared: Rc::new(RefCell::new(Driver {
                engine,
                origin: js::now_ms(),
                base_url,
                ctx,
                waiters: Vec::new(),
                aborts: Vec::new(),
                timer: None,
                on_event,
            })),
        })
    }

    /// Queue, breaker, limiter, retry budget and cache, as a plain object.
    #[wasm_bindgen(unchecked_return_type = "NovitaClientStatus")]
    pub fn status(&self) -> Result<JsValue, JsValue> {
        let mut d = self.shared.borrow_mut();
        let now = d.now();
        js::to_js(&StatusJs::new(&mut d.engine, now))
    }

    /// `GET /v1/clusters`.
    #[wasm_bindgen(unchecked_return_type = "Promise<any[]>")]
    pub fn clusters(&self) -> Promise {
        call(&self.shared, ListClusters, same)
    }

    /// `GET /v1/products`, optionally filtered (see `ProductFilter`).
    #[wasm_bindgen(unchecked_return_type = "Promise<any[]>")]
    pub fn products(
        &self,
        #[wasm_bindgen(unchecked_param_type = "ProductFilter | undefined")] filter: JsValue,
    ) -> Promise {
        match product_filter(&filter) {
            Ok(endpoint) => call(&self.shared, endpoint, same),
            Err(e) => rejected(e),
        }
    }

    /// The cheapest deployable product named like `query.name`, trying the
    /// preferred region and then the fallbacks (the core's `choose_product`).
    /// Rejects with code `no_product` when none fits.
    #[wasm_bindgen(
        js_name = optimalProduct,
        unchecked_return_type = "Promise<{ product: any; region: string; preferred: boolean }>"
    )]
    pub fn optimal_product(
        &self,
        #[wasm_bindgen(unchecked_param_type = "ProductQuery | string")] query: JsValue,
    ) -> Promise {
        let q = match product_query(&query) {
            Ok(q) => q,
            Err(e) => return rejected(e),
        };
        let list = ListProducts {
            product_name: (!q.name.trim().is_empty()).then(|| q.name.clone()),
            ..ListProducts::default()
        };
        if let Err(e) = list.validate() {
            return rejected(js::api_error(&e.into()));
        }
        let request = list.request();
        let options = RequestOptions::new()
            .cacheable(list.is_cacheable())
            .idempotent(list.is_idempotent());
        let finish: Finish = Box::new(move |done| {
            Error::result_of(&list, done)
                .and_then(|products| Ok(choose_product(&products, &q)?))
                .map_err(|e| js::api_error(&e))
                .and_then(|v| js::to_js(&v))
        });
        submit(&self.shared, request, options, finish)
    }

    /// `GET /v1/gpu/instances`: one page (see `InstanceQuery`).
    #[wasm_bindgen(js_name = listInstances, unchecked_return_type = "Promise<InstancePage>")]
    pub fn list_instances(
        &self,
        #[wasm_bindgen(unchecked_param_type = "InstanceQuery | undefined")] query: JsValue,
    ) -> Promise {
        match instance_query(&query) {
            Ok(endpoint) => call(&self.shared, endpoint, |p| Ok(InstancePageJs::from(p))),
            Err(e) => rejected(e),
        }
    }

    /// `GET /v1/gpu/instance?instanceId=...`.
    #[wasm_bindgen(js_name = getInstance, unchecked_return_type = "Promise<any>")]
    pub fn get_instance(&self, id: String) -> Promise {
        call(&self.shared, GetInstance::new(id), same)
    }

    /// `POST /v1/gpu/instance/create` with a camelCase request body (as the
    /// Novita API takes it); resolves to the new instance id. Invalid
    /// requests reject with code `validation` listing every problem, unsent.
    #[wasm_bindgen(js_name = createInstance, unchecked_return_type = "Promise<string>")]
    pub fn create_instance(
        &self,
        #[wasm_bindgen(unchecked_param_type = "CreateInstanceRequest")] request: JsValue,
    ) -> Promise {
        match create_request(request) {
            Ok(r) => call(&self.shared, CreateInstance(r), same),
            Err(e) => rejected(e),
        }
    }

    /// `POST /v1/gpu/instance/start`.
    #[wasm_bindgen(js_name = startInstance, unchecked_return_type = "Promise<InstanceAck>")]
    pub fn start_instance(&self, id: String) -> Promise {
        call(&self.shared, StartInstance::new(id), ack)
    }

    /// `POST /v1/gpu/instance/stop`.
    #[wasm_bindgen(js_name = stopInstance, unchecked_return_type = "Promise<InstanceAck>")]
    pub fn stop_instance(&self, id: String) -> Promise {
        call(&self.shared, StopInstance::new(id), ack)
    }

    /// `POST /v1/gpu/instance/restart`.
    #[wasm_bindgen(js_name = restartInstance, unchecked_return_type = "Promise<InstanceAck>")]
    pub fn restart_instance(&self, id: String) -> Promise {
        call(&self.shared, RestartInstance::new(id), ack)
    }

    /// `POST /v1/gpu/instance/delete`.
    #[wasm_bindgen(js_name = deleteInstance, unchecked_return_type = "Promise<InstanceAck>")]
    pub fn delete_instance(&self, id: String) -> Promise {
        call(&self.shared, DeleteInstance::new(id), ack)
    }

    /// Holds the circuit breaker open until `resetBreaker()`.
    #[wasm_bindgen(js_name = forceBreakerOpen)]
    pub fn force_breaker_open(&self) {
        {
            let mut d = self.shared.borrow_mut();
            let now = d.now();
            d.engine.force_breaker_open(now);
        }
        pump(&self.shared);
    }

    /// Closes the circuit breaker with clean counters.
    #[wasm_bindgen(js_name = resetBreaker)]
    pub fn reset_breaker(&self) {
        {
            let mut d = self.shared.borrow_mut();
            let now = d.now();
            d.engine.reset_breaker(now);
        }
        pump(&self.shared);
    }

    /// Cancels every pending call (they reject with code `cancelled`) and
    /// refuses new ones (code `rejected`).
    pub fn shutdown(&self) {
        {
            let mut d = self.shared.borrow_mut();
            let now = d.now();
            d.engine.shutdown(now);
        }
        pump(&self.shared);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fields `create_request` reads, as the API spells them.
    const CREATE_FIELDS: [&str; 21] = [
        "name",
        "productId",
        "gpuNum",
        "rootfsSize",
        "imageUrl",
        "imageAuth",
        "imageAuthId",
        "command",
        "entrypoint",
        "minCudaVersion",
        "ports",
        "envs",
        "tools",
        "kind",
        "clusterId",
        "networkStorages",
        "networkId",
        "billingMode",
        "month",
        "autoRenew",
        "autoRenewMonth",
    ];

    #[test]
    fn the_create_reader_knows_every_field_of_the_core_request() {
        use novitai_core::api::instances::{EnvVar, NetworkStorageMount};
        // Every optional field set, so serialisation names all of them.
        let mut r = CreateInstanceRequest::new("p", 1, 60, "img");
        r.name = Some("n".into());
        r.image_auth = Some("u:p".into());
        r.image_auth_id = Some("a".into());
        r.command = Some("c".into());
        r.entrypoint = Some("e".into());
        r.min_cuda_version = Some("12".into());
        r.ports = Some("80/http".into());
        r.envs = vec![EnvVar::new("K", "V")];
        r.tools = Some(serde_json::Value::Bool(true));
        r.cluster_id = Some("c".into());
        r.network_storages = vec![NetworkStorageMount::default()];
        r.network_id = Some("n".into());
        r.billing_mode = Some("monthly".into());
        r.month = Some(1);
        r.auto_renew = Some(true);
        r.auto_renew_month = Some(1);
        let v = serde_json::to_value(&r).unwrap();
        let mut core: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        let mut ours = CREATE_FIELDS.to_vec();
        core.sort_unstable();
        ours.sort_unstable();
        assert_eq!(core, ours, "update create_request and CREATE_FIELDS");
    }
}
