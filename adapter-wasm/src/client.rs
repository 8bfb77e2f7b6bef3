//! `NovitaClient`: the core's [`Engine`] carried out with `fetch` and timers.
//!
//! One engine lives in an `Rc<RefCell<..>>`. Every mutation (a call, a
//! response, a timer) is followed by draining the engine's outputs: each
//! transmission becomes a `fetch` spawned with `spawn_local`, each completion
//! resolves the Promise of its call, and the one wake-up the engine asks for
//! becomes one `setTimeout` (replaced when the engine asks for another
//! instant). Nothing here decides anything: retries, waits, the breaker, the
//! limiter, timeouts and the cache are the engine's.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::{Rc, Weak};

use futures_channel::oneshot;
use gloo_timers::callback::Timeout;
use js_sys::Promise;
use serde::{Deserialize, Serialize};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::{future_to_promise, spawn_local};

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

/** Every error thrown or rejected by novitai is an `Error` with a `code`. */
export interface NovitaError extends Error {
  code: string; transient?: boolean; status?: number; apiKind?: string; apiCode?: string;
  retryInMs?: number;
}
"#;

/// The client options read from the JS object (numbers stay `f64` so a bad
/// value reaches the core's validation and gets its sentence).
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ClientOptions {
    #[serde(default)]
    pub(crate) api_key: String,
    base_url: Option<String>,
    user_agent: Option<String>,
    pub(crate) seed: Option<f64>,
    max_in_flight: Option<f64>,
    request_timeout_ms: Option<f64>,
    max_retry_attempts: Option<f64>,
    retry_base_delay_ms: Option<f64>,
    retry_max_delay_ms: Option<f64>,
    rate_limit_max_requests: Option<f64>,
    rate_limit_window_ms: Option<f64>,
    circuit_breaker_failure_threshold: Option<f64>,
    circuit_breaker_open_ms: Option<f64>,
    circuit_breaker_success_threshold: Option<f64>,
    queue_capacity: Option<f64>,
    cache_enabled: Option<bool>,
    cache_timeout_secs: Option<f64>,
}

fn number_text(v: f64) -> String {
    if v.is_finite() && v.fract() == 0.0 && v.abs() < 1e18 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

impl ClientOptions {
    /// The options as the core's configuration pairs, each with its JS name.
    fn pairs(&self) -> Vec<(&'static str, &'static str, String)> {
        let mut out = vec![("apiKey", "NOVITA_API_KEY", self.api_key.clone())];
        if let Some(u) = &self.base_url {
            out.push(("baseUrl", "NOVITA_API_BASE_URL", u.clone()));
        }
        let numbers = [
            ("maxInFlight", "MAX_CONCURRENT_REQUESTS", self.max_in_flight),
            (
                "requestTimeoutMs",
                "REQUEST_TIMEOUT",
                self.request_timeout_ms,
            ),
            (
                "maxRetryAttempts",
                "MAX_RETRY_ATTEMPTS",
                self.max_retry_attempts,
            ),
            (
                "retryBaseDelayMs",
                "RETRY_BASE_DELAY_MS",
                self.retry_base_delay_ms,
            ),
            (
                "retryMaxDelayMs",
                "RETRY_MAX_DELAY_MS",
                self.retry_max_delay_ms,
            ),
            (
                "rateLimitMaxRequests",
                "RATE_LIMIT_MAX_REQUESTS",
                self.rate_limit_max_requests,
            ),
            (
                "rateLimitWindowMs",
                "RATE_LIMIT_WINDOW_MS",
                self.rate_limit_window_ms,
            ),
            (
                "circuitBreakerFailureThreshold",
                "CIRCUIT_BREAKER_FAILURE_THRESHOLD",
                self.circuit_breaker_failure_threshold,
            ),
            (
                "circuitBreakerOpenMs",
                "CIRCUIT_BREAKER_OPEN_MS",
                self.circuit_breaker_open_ms,
            ),
            (
                "circuitBreakerSuccessThreshold",
                "CIRCUIT_BREAKER_SUCCESS_THRESHOLD",
                self.circuit_breaker_success_threshold,
            ),
            ("queueCapacity", "QUEUE_CAPACITY", self.queue_capacity),
            ("cacheTimeoutSecs", "CACHE_TIMEOUT", self.cache_timeout_secs),
        ];
        for (js, var, v) in numbers {
            if let Some(v) = v {
                out.push((js, var, number_text(v)));
            }
        }
        if let Some(b) = self.cache_enabled {
            out.push(("cacheEnabled", "CACHE_ENABLED", b.to_string()));
        }
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

/// The state behind one client.
struct Driver {
    engine: Engine,
    /// `performance.now()` when the client was made: instants count from it.
    origin: f64,
    base_url: String,
    ctx: ApiContext,
    waiters: BTreeMap<RequestId, oneshot::Sender<Completed>>,
    aborts: BTreeMap<AttemptId, web_sys::AbortController>,
    /// The armed timer and the instant it was armed for.
    timer: Option<(Instant, Timeout)>,
    on_event: Option<js_sys::Function>,
}

type Shared = Rc<RefCell<Driver>>;

impl Driver {
    fn now(&self) -> Instant {
        Instant::from_millis((js::now_ms() - self.origin).max(0.0) as u64)
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
                            if let Some(a) = d.aborts.remove(&attempt) {
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
        for c in completions {
            if let Some(tx) = d.waiters.remove(&c.id) {
                let _ = tx.send(c);
            }
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
            d.aborts.insert(t.attempt, a);
            s
        });
        (url, signal)
    };
    let result = fetch(&t, &url, signal.as_ref()).await;
    {
        let mut d = shared.borrow_mut();
        d.aborts.remove(&t.attempt);
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

async fn fetch(
    t: &Transmit,
    url: &str,
    signal: Option<&web_sys::AbortSignal>,
) -> Result<HttpResponse, TransportErrorKind> {
    use gloo_net::http::{Method as M, RequestBuilder};
    let method = match t.request.method {
        Method::Get => M::GET,
        Method::Post => M::POST,
        Method::Put => M::PUT,
        Method::Patch => M::PATCH,
        Method::Delete => M::DELETE,
    };
    let mut builder = RequestBuilder::new(url).method(method).abort_signal(signal);
    for (name, value) in t.request.headers.iter() {
        builder = builder.header(name, value);
    }
    let request = match &t.request.body {
        Some(body) => builder.body(js_sys::Uint8Array::from(body.as_slice())),
        None => builder.build(),
    }
    .map_err(|_| TransportErrorKind::Other)?;
    // fetch cannot tell a refused connection from a reset, DNS, offline or a
    // CORS refusal, so a failed fetch is reported as `ConnectionReset`: the
    // server may or may not have acted. The core then retries idempotent
    // calls and never resends a create.
    let response = request
        .send()
        .await
        .map_err(|_| TransportErrorKind::ConnectionReset)?;
    let status = response.status();
    // A network error (and an opaque response) surfaces as status 0.
    if status == 0 {
        return Err(TransportErrorKind::ConnectionReset);
    }
    let headers = response.headers().entries().collect();
    let body = response
        .binary()
        .await
        .map_err(|_| TransportErrorKind::ConnectionReset)?;
    Ok(HttpResponse {
        status,
        headers,
        body,
    })
}

/// Submits `endpoint` and waits for its one completion.
async fn call<E: Endpoint>(shared: Shared, endpoint: E) -> Result<E::Output, Error> {
    endpoint.validate()?;
    let rx = {
        let mut d = shared.borrow_mut();
        let mut request = endpoint.request();
        d.ctx.authorize(&mut request);
        let options = RequestOptions::new()
            .cacheable(endpoint.is_cacheable())
            .idempotent(endpoint.is_idempotent());
        let now = d.now();
        let id = d.engine.submit(request, options, now)?;
        let (tx, rx) = oneshot::channel();
        d.waiters.insert(id, tx);
        rx
    };
    pump(&shared);
    match rx.await {
        Ok(done) => Error::result_of(&endpoint, &done),
        // The client was dropped with the call pending.
        Err(_) => Err(Error::Cancelled),
    }
}

fn promise<T, F>(fut: F) -> Promise
where
    T: Serialize,
    F: core::future::Future<Output = Result<T, Error>> + 'static,
{
    future_to_promise(async move {
        match fut.await {
            Ok(v) => js::to_js(&v),
            Err(e) => Err(js::api_error(&e)),
        }
    })
}

/// A create-instance request from JS: the fields given over the core's
/// documented defaults (`gpuNum` 1, `rootfsSize` 60, `kind` "gpu").
pub(crate) fn create_request(v: JsValue) -> Result<CreateInstanceRequest, JsValue> {
    let given: serde_json::Value = js::from_js(v, "create-instance request")?;
    let mut merged = serde_json::to_value(CreateInstanceRequest::default())
        .map_err(|e| js::error("internal", &e.to_string()))?;
    if let (Some(m), serde_json::Value::Object(g)) = (merged.as_object_mut(), given) {
        m.extend(g);
    }
    serde_json::from_value(merged)
        .map_err(|e| js::error("invalid_argument", &format!("create-instance request: {e}")))
}

fn rejected(e: JsValue) -> Promise {
    Promise::reject(&e)
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct ProductFilter {
    cluster_id: Option<String>,
    gpu_num: Option<u32>,
    product_name: Option<String>,
    min_cpu_per_gpu: Option<u32>,
    min_memory_per_gpu: Option<u32>,
    min_root_fs_size: Option<u32>,
    billing_method: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ProductQueryJs {
    #[serde(default)]
    name: String,
    preferred_region: Option<String>,
    fallback_regions: Option<Vec<String>>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct InstanceQuery {
    page_size: Option<u32>,
    page_num: Option<u32>,
    name: Option<String>,
    product_name: Option<String>,
    status: Option<String>,
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
        let opts: ClientOptions = js::from_js(options, "NovitaClient options")?;
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
                waiters: BTreeMap::new(),
                aborts: BTreeMap::new(),
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
        promise(call(self.shared.clone(), ListClusters))
    }

    /// `GET /v1/products`, optionally filtered (see `ProductFilter`).
    #[wasm_bindgen(unchecked_return_type = "Promise<any[]>")]
    pub fn products(
        &self,
        #[wasm_bindgen(unchecked_param_type = "ProductFilter | undefined")] filter: JsValue,
    ) -> Promise {
        let f: ProductFilter = if js::absent(&filter) {
            ProductFilter::default()
        } else {
            match js::from_js(filter, "product filter") {
                Ok(f) => f,
                Err(e) => return rejected(e),
            }
        };
        let endpoint = ListProducts {
            cluster_id: f.cluster_id,
            gpu_num: f.gpu_num,
            product_name: f.product_name,
            min_cpu_per_gpu: f.min_cpu_per_gpu,
            min_memory_per_gpu: f.min_memory_per_gpu,
            min_root_fs_size: f.min_root_fs_size,
            billing_method: f.billing_method,
        };
        promise(call(self.shared.clone(), endpoint))
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
        let q = if let Some(name) = query.as_string() {
            ProductQuery::named(name)
        } else {
            match js::from_js::<ProductQueryJs>(query, "product query") {
                Ok(q) => {
                    let mut p = ProductQuery::named(q.name);
                    p.preferred_region = q.preferred_region;
                    if let Some(f) = q.fallback_regions {
                        p.fallback_regions = f;
                    }
                    p
                }
                Err(e) => return rejected(e),
            }
        };
        let shared = self.shared.clone();
        promise(async move {
            let list = ListProducts {
                product_name: (!q.name.trim().is_empty()).then(|| q.name.clone()),
                ..ListProducts::default()
            };
            let products = call(shared, list).await?;
            Ok(choose_product(&products, &q)?)
        })
    }

    /// `GET /v1/gpu/instances`: one page (see `InstanceQuery`).
    #[wasm_bindgen(js_name = listInstances, unchecked_return_type = "Promise<InstancePage>")]
    pub fn list_instances(
        &self,
        #[wasm_bindgen(unchecked_param_type = "InstanceQuery | undefined")] query: JsValue,
    ) -> Promise {
        let q: InstanceQuery = if js::absent(&query) {
            InstanceQuery::default()
        } else {
            match js::from_js(query, "instance query") {
                Ok(q) => q,
                Err(e) => return rejected(e),
            }
        };
        let defaults = ListInstances::default();
        let endpoint = ListInstances {
            page_size: q.page_size.unwrap_or(defaults.page_size),
            page_num: q.page_num.unwrap_or(defaults.page_num),
            name: q.name,
            product_name: q.product_name,
            status: q.status,
        };
        let shared = self.shared.clone();
        promise(async move { call(shared, endpoint).await.map(InstancePageJs::from) })
    }

    /// `GET /v1/gpu/instance?instanceId=...`.
    #[wasm_bindgen(js_name = getInstance, unchecked_return_type = "Promise<any>")]
    pub fn get_instance(&self, id: String) -> Promise {
        promise(call(self.shared.clone(), GetInstance::new(id)))
    }

    /// `POST /v1/gpu/instance/create` with a camelCase request body (as the
    /// Novita API takes it); resolves to the new instance id. Invalid
    /// requests reject with code `validation` listing every problem, unsent.
    #[wasm_bindgen(js_name = createInstance, unchecked_return_type = "Promise<string>")]
    pub fn create_instance(&self, request: JsValue) -> Promise {
        match create_request(request) {
            Ok(r) => promise(call(self.shared.clone(), CreateInstance(r))),
            Err(e) => rejected(e),
        }
    }

    /// `POST /v1/gpu/instance/start`.
    #[wasm_bindgen(js_name = startInstance, unchecked_return_type = "Promise<InstanceAck>")]
    pub fn start_instance(&self, id: String) -> Promise {
        let shared = self.shared.clone();
        promise(async move {
            call(shared, StartInstance::new(id))
                .await
                .map(InstanceAckJs::from)
        })
    }

    /// `POST /v1/gpu/instance/stop`.
    #[wasm_bindgen(js_name = stopInstance, unchecked_return_type = "Promise<InstanceAck>")]
    pub fn stop_instance(&self, id: String) -> Promise {
        let shared = self.shared.clone();
        promise(async move {
            call(shared, StopInstance::new(id))
                .await
                .map(InstanceAckJs::from)
        })
    }

    /// `POST /v1/gpu/instance/restart`.
    #[wasm_bindgen(js_name = restartInstance, unchecked_return_type = "Promise<InstanceAck>")]
    pub fn restart_instance(&self, id: String) -> Promise {
        let shared = self.shared.clone();
        promise(async move {
            call(shared, RestartInstance::new(id))
                .await
                .map(InstanceAckJs::from)
        })
    }

    /// `POST /v1/gpu/instance/delete`.
    #[wasm_bindgen(js_name = deleteInstance, unchecked_return_type = "Promise<InstanceAck>")]
    pub fn delete_instance(&self, id: String) -> Promise {
        let shared = self.shared.clone();
        promise(async move {
            call(shared, DeleteInstance::new(id))
                .await
                .map(InstanceAckJs::from)
        })
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
