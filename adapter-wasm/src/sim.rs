//! `SimulatedNovita` (feature `sim`): the engine against core's simulated
//! Novita API, in virtual time, inside the page. A web demo submits a
//! workload, advances virtual time with `runFor`, and draws the returned
//! event trace; nothing touches the network or the clock, and the same seed
//! gives the same trace on every run and every target.

use js_sys::Array;
use wasm_bindgen::prelude::*;

use novitai_core::api::clusters::ListClusters;
use novitai_core::api::instances::{
    CreateInstance, DeleteInstance, GetInstance, ListInstances, RestartInstance, StartInstance,
    StopInstance,
};
use novitai_core::api::products::ListProducts;
use novitai_core::api::{ApiContext, Endpoint};
use novitai_core::engine::{Engine, EngineConfig, Event, RequestOptions};
use novitai_core::http::HttpRequest;
use novitai_core::sim::{FaultPlan, NetEvent, SimConfig, Simulator, VirtualNet};
use novitai_core::{Duration, Instant};

use crate::client::{ClientOptions, StatusJs};
use crate::js;

#[wasm_bindgen(typescript_custom_section)]
const TS_TYPES: &'static str = r#"
/** Options for `new SimulatedNovita(...)`: the client options (apiKey may be
 * left out) plus the simulator's seed and fault plan. */
export interface SimulatedNovitaOptions extends Partial<NovitaClientOptions> {
  /** Seeds the engine and the simulator (default 1). */
  seed?: number;
  /** A compact fault plan, e.g. "5xx=0.05,429=0.02,reset=0.01,outage=60s+30s", or "demo". */
  faults?: string;
}
/** One entry of the trace `runFor` returns. */
export interface SimEvent {
  atMs: number;
  /** `sent`, `completed`, `attempt_started`, `attempt_failed`, `retry_scheduled`,
   * `breaker`, `rate_limited`, `coalesced`, `late_answer_ignored`, `attempt_timed_out`. */
  kind: string;
  /** The request it concerns, if any. */
  requestId?: number;
  /** For `sent`: the status the simulator will answer (absent: no answer). */
  status?: number;
  /** For `completed`: whether it succeeded. */
  ok?: boolean;
  /** For `breaker`: the new state. */
  state?: string;
  /** The whole decision as a line of text. */
  line: string;
}
"#;

const DEFAULT_KEY: &str = "sk_sim_in_page_demo";

/// The engine and the simulated Novita API wired together in virtual time.
#[wasm_bindgen]
pub struct SimulatedNovita {
    net: VirtualNet,
    ctx: ApiContext,
}

fn prepare<E: Endpoint>(ctx: &ApiContext, e: &E) -> Result<(HttpRequest, RequestOptions), JsValue> {
    e.validate()
        .map_err(|v| js::error("validation", &format!("the request was not sent: {v}")))?;
    let mut request = e.request();
    ctx.authorize(&mut request);
    let options = RequestOptions::new()
        .cacheable(e.is_cacheable())
        .idempotent(e.is_idempotent());
    Ok((request, options))
}

fn instance_id(params: &JsValue) -> Result<String, JsValue> {
    params
        .as_string()
        .or_else(|| {
            js_sys::Reflect::get(params, &JsValue::from_str("instanceId"))
                .ok()
                .and_then(|v| v.as_string())
        })
        .ok_or_else(|| {
            js::error(
                "invalid_argument",
                "give the instance id (a string or { instanceId })",
            )
        })
}

fn sim_event(at: Instant, e: &NetEvent) -> JsValue {
    let line = crate::trace::net_event_line(e);
    let kind = line.split(' ').next().unwrap_or("");
    let o = js::string_object([("kind", kind), ("line", line.as_str())]);
    js::set(&o, "atMs", &js::ms(at.as_millis()));
    let num = |v: u64| JsValue::from_f64(v as f64);
    match e {
        NetEvent::Sent { transmit, status } => {
            js::set(&o, "requestId", &num(transmit.request_id.get()));
            if let Some(s) = status {
                js::set(&o, "status", &JsValue::from(*s));
            }
        }
        NetEvent::Engine(ev) => match ev {
            Event::Completed(c) => {
                js::set(&o, "requestId", &num(c.id.get()));
                js::set(&o, "ok", &JsValue::from_bool(c.outcome.is_success()));
            }
            Event::AttemptStarted { id, .. }
            | Event::AttemptFailed { id, .. }
            | Event::RetryScheduled { id, .. }
            | Event::Coalesced { id, .. }
            | Event::AttemptTimedOut { id, .. } => {
                js::set(&o, "requestId", &num(id.get()));
            }
            Event::BreakerTransition(t) => {
                js::set(&o, "state", &JsValue::from_str(&t.to.to_string()));
            }
            Event::RateLimited { .. } | Event::LateAnswerIgnored { .. } => {}
        },
    }
    o
}

#[wasm_bindgen]
impl SimulatedNovita {
    /// A simulated API and an engine configured like `NovitaClient`. Throws
    /// code `config` for a bad option or fault plan.
    #[wasm_bindgen(constructor)]
    pub fn new(
        #[wasm_bindgen(unchecked_param_type = "SimulatedNovitaOptions | undefined")]
        options: JsValue,
    ) -> Result<SimulatedNovita, JsValue> {
        let mut opts = ClientOptions::read(&options, "SimulatedNovita options")?;
        let faults = js::Props::new(&options, "SimulatedNovita options")?.string("faults")?;
        if opts.api_key.is_empty() {
            opts.api_key = String::from(DEFAULT_KEY);
        }
        let seed = match opts.seed {
            Some(s) => js::whole(s, "seed")?,
            None => 1,
        };
        let config = opts.config()?;
        let faults = FaultPlan::parse(faults.as_deref().unwrap_or("none"))
            .map_err(|e| js::error("config", &format!("fault plan: {e}")))?;
        let engine = Engine::new(EngineConfig::from_config(&config), seed, Instant::ZERO)
            .map_err(|e| js::error("config", &e.to_string()))?;
        let sim = Simulator::new(
            SimConfig {
                api_key: opts.api_key.clone(),
                faults,
                ..SimConfig::default()
            },
            seed,
            Instant::ZERO,
        )
        .map_err(|e| js::error("config", &e.to_string()))?;
        let ctx = ApiContext::new(opts.api_key, "novitai-wasm-sim")
            .map_err(|e| js::error("config", &e.to_string()))?;
        Ok(SimulatedNovita {
            net: VirtualNet::new(engine, sim),
            ctx,
        })
    }

    /// Submits a call at the current virtual time and returns its request id.
    /// `call` is one of `clusters`, `products`, `listInstances`,
    /// `getInstance`, `createInstance`, `startInstance`, `stopInstance`,
    /// `restartInstance`, `deleteInstance`; `params` is what the client
    /// method of the same name takes.
    pub fn submit(&mut self, call: &str, params: JsValue) -> Result<f64, JsValue> {
        let ctx = &self.ctx;
        let (request, options) = match call {
            "clusters" => prepare(ctx, &ListClusters)?,
            "products" => prepare(ctx, &ListProducts::default())?,
            "listInstances" => prepare(ctx, &ListInstances::default())?,
            "getInstance" => prepare(ctx, &GetInstance::new(instance_id(&params)?))?,
            "startInstance" => prepare(ctx, &StartInstance::new(instance_id(&params)?))?,
            "stopInstance" => prepare(ctx, &StopInstance::new(instance_id(&params)?))?,
            "restartInstance" => prepare(ctx, &RestartInstance::new(instance_id(&params)?))?,
            "deleteInstance" => prepare(ctx, &DeleteInstance::new(instance_id(&params)?))?,
            "createInstance" => {
                prepare(ctx, &CreateInstance(crate::client::create_request(params)?))?
            }
            other => {
                return Err(js::error(
                    "invalid_argument",
                    &format!("unknown call {other:?}"),
                ));
            }
        };
        self.net
            .submit(request, options)
            .map(|id| id.get() as f64)
            .map_err(|e| js::error("rejected", &e.to_string()))
    }

    /// Advances virtual time by `ms` and returns everything that happened.
    #[wasm_bindgen(js_name = runFor, unchecked_return_type = "SimEvent[]")]
    pub fn run_for(&mut self, ms: f64) -> Result<Array, JsValue> {
        let d = Duration::from_millis(js::whole(ms, "ms")?);
        let until = self.net.now().saturating_add(d);
        let out = Array::new();
        self.net.sleep_until(until, &mut |at, e| {
            out.push(&sim_event(at, e));
        });
        Ok(out)
    }

    /// The current virtual time in milliseconds.
    #[wasm_bindgen(getter, js_name = nowMs)]
    pub fn now_ms(&self) -> f64 {
        self.net.now().as_millis() as f64
    }

    /// The engine's status, as `NovitaClient.status()`.
    #[wasm_bindgen(unchecked_return_type = "NovitaClientStatus")]
    pub fn status(&mut self) -> Result<JsValue, JsValue> {
        let now = self.net.now();
        js::to_js(&StatusJs::new(&mut self.net.engine, now))
    }

    /// The simulator's counters (requests, served, succeeded, faults by kind).
    #[wasm_bindgen(js_name = simStats)]
    pub fn sim_stats(&self) -> Result<JsValue, JsValue> {
        js::to_js(&self.net.sim.stats())
    }

    /// Replaces the simulator's fault plan from the next request on (same
    /// compact form as the `faults` option; outage windows count from virtual
    /// time 0). Throws code `config` for a bad plan, which changes nothing.
    #[wasm_bindgen(js_name = setFaults)]
    pub fn set_faults(&mut self, faults: &str) -> Result<(), JsValue> {
        let plan = FaultPlan::parse(faults)
            .map_err(|e| js::error("config", &format!("fault plan: {e}")))?;
        self.net
            .sim
            .set_fault_plan(plan)
            .map_err(|e| js::error("config", &format!("fault plan: {e}")))
    }

    /// Holds the engine's breaker open until `resetBreaker()`.
    #[wasm_bindgen(js_name = forceBreakerOpen)]
    pub fn force_breaker_open(&mut self) {
        let now = self.net.now();
        self.net.engine.force_breaker_open(now);
    }

    /// Closes the engine's breaker with clean counters.
    #[wasm_bindgen(js_name = resetBreaker)]
    pub fn reset_breaker(&mut self) {
        let now = self.net.now();
        self.net.engine.reset_breaker(now);
    }
}

/// The recorded cross-target determinism scenario as text (see
/// `novitai_wasm::determinism`); identical to the native run's golden file.
#[wasm_bindgen(js_name = determinismTrace)]
pub fn determinism_trace() -> String {
    crate::determinism::trace()
}
