//! A deterministic model of the Novita GPU-instance v1 API with a seeded fault
//! plan (feature `sim`).
//!
//! [`Simulator`] is what the server does: a pure function of (request, now)
//! over its own state. It speaks the wire format of the real API (camelCase,
//! counts as strings, prices as strings in 1e-5 USD/h, unix-seconds strings),
//! so the same client code talks to it and to Novita. Adapters serve it on a
//! socket (carrying out [`SimReply`]: wait `after`, then answer, reset, hang or
//! send a damaged body); simulation tests call it directly in virtual time.
//!
//! ```
//! use novitai_core::http::{HttpRequest, Method};
//! use novitai_core::sim::{SimConfig, SimReply, Simulator};
//! use novitai_core::Instant;
//!
//! let config = SimConfig { api_key: "sk_test".into(), ..SimConfig::default() };
//! let mut sim = Simulator::new(config, 7, Instant::ZERO).unwrap();
//! let mut req = HttpRequest::new(Method::Get, "/v1/clusters");
//! req.headers.set("Authorization", "Bearer sk_test");
//! let SimReply::Respond { response, .. } = sim.handle(&req, Instant::ZERO) else { panic!() };
//! assert_eq!(response.status, 200);
//! ```
//!
//! ## Order of events for one request
//! 1. The clock moves to `now` (never backwards) and instances advance.
//! 2. The fault layer ([`FaultPlan`]) decides from its own stream: outage window,
//!    5xx burst, 429, reset, hang, truncation — or pass. A faulted request never
//!    reaches the model, so it changes no state (a truncated answer is computed
//!    on a scratch copy of the model and thrown away).
//! 3. Otherwise the model answers: 401 without the right `Authorization:
//!    Bearer` key, 404 for unknown paths or ids, 400 for invalid bodies
//!    (`VALIDATOR_PARAM` and friends) and impossible transitions
//!    (`INVALID_STATE_CHANGE`, message `invalid state change: ...`).
//! 4. Every answer carries a latency drawn from its own stream.
//!
//! Randomness: one [`Rng`] seeded once and forked into independent streams
//! (faults, latency, ids, lifecycle timings), so the same seed and the same
//! request sequence give the same replies, and a new kind of request does not
//! shift fault decisions.

mod faults;
mod instances;
mod json;
mod model;
mod net;
mod routes;
mod wire;

use alloc::string::String;
use core::fmt;
use serde::{Deserialize, Serialize};

pub use faults::{DurationRange, FaultPlan, FaultPlanError, Outage};
pub use instances::{Status, Timings};
pub use net::{NetEvent, RunEnd, VirtualNet};
pub use routes::ROUTES;

use crate::http::{HttpRequest, HttpResponse};
use crate::rng::Rng;
use crate::time::{Duration, Instant, UnixTime};
use faults::{Decision, FaultState};
use model::Model;

/// How the simulated API behaves.
///
/// # Default
/// `api_key` `"sk_sim"`; `faults` [`FaultPlan::none`]; `timings`
/// [`Timings::default`] (pulling 20–120 s etc.); `startup_failure` 0.0;
/// `endpoint_template` `"http://127.0.0.1:{port}"`; `default_page_size` 10;
/// `max_page_size` 100; `max_instances` 100; `unix_time_at_start`
/// 1 700 000 000 (2023-11-14T22:13:20Z).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SimConfig {
    /// The only key accepted in `Authorization: Bearer <key>`. Must not be empty.
    pub api_key: String,
    /// What goes wrong, and how often.
    pub faults: FaultPlan,
    /// Phase durations of the instance lifecycles.
    pub timings: Timings,
    /// Probability (0–1) that a start-up (create, start, restart) ends
    /// `exited` with `statusError` set. Images containing `sim-fail` always fail.
    pub startup_failure: f64,
    /// The `endpoint` of a port mapping; `{port}` and `{id}` are replaced by
    /// the port and the instance id (so a server can point endpoints at itself,
    /// e.g. `http://127.0.0.1:8080/_sim/{id}/{port}`).
    pub endpoint_template: String,
    /// Page size when a request gives none (or 0). 1 ..= `max_page_size`.
    pub default_page_size: u32,
    /// Larger page sizes are clamped to this. 1 ..= 10 000.
    pub max_page_size: u32,
    /// `CREATE_INSTANCE_LIMIT` beyond this many live instances. 1 ..= 100 000.
    pub max_instances: u32,
    /// Wall-clock time at the simulator's start (for `createdAt` and friends).
    pub unix_time_at_start: UnixTime,
}

impl Default for SimConfig {
    fn default() -> SimConfig {
        SimConfig {
            api_key: String::from("sk_sim"),
            faults: FaultPlan::none(),
            timings: Timings::default(),
            startup_failure: 0.0,
            endpoint_template: String::from("http://127.0.0.1:{port}"),
            default_page_size: 10,
            max_page_size: 100,
            max_instances: 100,
            unix_time_at_start: UnixTime::from_secs(1_700_000_000),
        }
    }
}

/// Why a [`SimConfig`] was rejected.
#[derive(Clone, Debug, PartialEq)]
pub enum SimConfigError {
    /// `api_key` is empty.
    EmptyApiKey,
    /// A fault-plan knob is out of range.
    Faults(FaultPlanError),
    /// A timing range has `min > max`.
    Timing {
        /// The field, e.g. `timings.pulling`.
        field: &'static str,
        /// The range given.
        range: DurationRange,
    },
    /// A numeric field is out of its range.
    OutOfRange {
        /// The field.
        field: &'static str,
        /// The value given.
        value: f64,
        /// The allowed range, in words.
        allowed: &'static str,
    },
}

impl fmt::Display for SimConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SimConfigError::EmptyApiKey => {
                f.write_str("sim api_key is empty; set the key the simulator should accept")
            }
            SimConfigError::Faults(e) => write!(f, "sim fault plan: {e}"),
            SimConfigError::Timing { field, range } => write!(
                f,
                "sim {field} is {}..{}; its minimum must not exceed its maximum",
                range.min, range.max
            ),
            SimConfigError::OutOfRange {
                field,
                value,
                allowed,
            } => {
                write!(f, "sim {field} is {value}; it must be {allowed}")
            }
        }
    }
}

impl From<FaultPlanError> for SimConfigError {
    fn from(e: FaultPlanError) -> SimConfigError {
        SimConfigError::Faults(e)
    }
}

impl SimConfig {
    /// Checks every field; [`Simulator::new`] calls this.
    ///
    /// # Errors
    /// The first field out of range.
    pub fn validate(&self) -> Result<(), SimConfigError> {
        if self.api_key.trim().is_empty() {
            return Err(SimConfigError::EmptyApiKey);
        }
        self.faults.validate()?;
        for (field, range) in self.timings.named() {
            if range.min > range.max {
                return Err(SimConfigError::Timing { field, range });
            }
        }
        if !(0.0..=1.0).contains(&self.startup_failure) {
            return Err(SimConfigError::OutOfRange {
                field: "startup_failure",
                value: self.startup_failure,
                allowed: "a probability between 0 and 1",
            });
        }
        let ints = [
            (
                "max_page_size",
                self.max_page_size,
                1,
                10_000,
                "between 1 and 10000",
            ),
            (
                "default_page_size",
                self.default_page_size,
                1,
                self.max_page_size,
                "between 1 and max_page_size",
            ),
            (
                "max_instances",
                self.max_instances,
                1,
                100_000,
                "between 1 and 100000",
            ),
        ];
        for (field, v, lo, hi, allowed) in ints {
            if v < lo || v > hi {
                return Err(SimConfigError::OutOfRange {
                    field,
                    value: f64::from(v),
                    allowed,
                });
            }
        }
        Ok(())
    }
}

/// What the simulated server does with one request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SimReply {
    /// Wait `after`, then send `response`.
    Respond {
        /// Latency before the answer.
        after: Duration,
        /// The answer.
        response: HttpResponse,
    },
    /// Wait `after`, then reset (or refuse) the connection: no response.
    Reset {
        /// Latency before the reset.
        after: Duration,
    },
    /// Never answer (exercises client timeouts).
    Hang,
    /// Wait `after`, then send a response whose body is cut short or garbled
    /// (the status and headers are those of the real answer).
    Truncated {
        /// Latency before the answer.
        after: Duration,
        /// The damaged answer.
        response: HttpResponse,
    },
}

impl SimReply {
    /// The HTTP status, if a response is sent at all.
    #[must_use]
    pub fn status(&self) -> Option<u16> {
        match self {
            SimReply::Respond { response, .. } | SimReply::Truncated { response, .. } => {
                Some(response.status)
            }
            SimReply::Reset { .. } | SimReply::Hang => None,
        }
    }
}

/// How many faults of each kind were injected.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FaultCounts {
    /// 5xx answers outside outages (bursts).
    pub server_error: u64,
    /// 429 answers.
    pub rate_limited: u64,
    /// Connection resets outside outages.
    pub reset: u64,
    /// Hangs.
    pub hang: u64,
    /// Truncated or garbled bodies.
    pub truncated: u64,
    /// Requests answered 503 or reset because of an outage window.
    pub outage: u64,
    /// Answers with slow-tail latency.
    pub slow: u64,
}

/// Counters of a simulator's life.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SimStats {
    /// Requests handled.
    pub requests: u64,
    /// Requests that reached the model (no fault other than latency).
    pub served: u64,
    /// Of those, answers with a 2xx status.
    pub succeeded: u64,
    /// Faults injected, by kind.
    pub faults: FaultCounts,
}

/// What a health probe of an instance's port endpoint finds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum EndpointProbe {
    /// The application answers (serve 200).
    Ready,
    /// The instance runs but the application is still warming up (serve 503).
    WarmingUp,
    /// The instance is not running (refuse the connection).
    Down,
    /// No such instance or port (serve 404).
    Unknown,
}

/// The simulated Novita API.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Simulator {
    model: Model,
    faults: FaultState,
    start: Instant,
    now: Instant,
    stats: SimStats,
}

impl Simulator {
    /// A simulator whose whole behaviour is determined by `config` and `seed`;
    /// `now` is its start (outage windows are measured from it).
    ///
    /// # Errors
    /// [`SimConfigError`] when a config field is out of range.
    pub fn new(config: SimConfig, seed: u64, now: Instant) -> Result<Simulator, SimConfigError> {
        config.validate()?;
        let mut root = Rng::new(seed);
        let fault_rng = root.fork();
        let latency_rng = root.fork();
        let id_rng = root.fork();
        let lifecycle_rng = root.fork();
        let faults = FaultState::new(config.faults.clone(), fault_rng, latency_rng);
        Ok(Simulator {
            model: Model::new(config, now, id_rng, lifecycle_rng),
            faults,
            start: now,
            now,
            stats: SimStats::default(),
        })
    }

    // ---- getters ----------------------------------------------------------

    /// The configuration in force.
    #[must_use]
    pub fn config(&self) -> &SimConfig {
        &self.model.config
    }

    /// The fault plan in force.
    #[must_use]
    pub fn fault_plan(&self) -> &FaultPlan {
        self.faults.plan()
    }

    /// Instances that exist (not yet removed).
    #[must_use]
    pub fn instance_count(&self) -> usize {
        self.model.instances.len()
    }

    /// The current status of instance `id`, as of the last `handle`/`advance`.
    #[must_use]
    pub fn instance_status(&self, id: &str) -> Option<Status> {
        self.model
            .instances
            .iter()
            .find(|i| i.id == id)
            .map(|i| i.status)
    }

    /// Counters so far.
    #[must_use]
    pub fn stats(&self) -> SimStats {
        self.stats
    }

    /// The simulator's clock (the latest `now` it has seen).
    #[must_use]
    pub fn now(&self) -> Instant {
        self.now
    }

    /// When the next instance status change is due (`None`: nothing pending).
    /// Changes only on `handle` (a lifecycle operation) or `advance`.
    #[must_use]
    pub fn next_change(&self) -> Option<Instant> {
        self.model
            .instances
            .iter()
            .filter_map(|i| i.next_change())
            .min()
    }

    // ---- inputs -------------------------------------------------------------

    /// Replaces the fault plan from the next request on (a demo's knobs).
    /// Outage windows stay measured from the simulator's start; the random
    /// streams continue, so the same seed and the same calls still give the
    /// same answers.
    ///
    /// # Errors
    /// [`FaultPlanError`] naming the first knob out of range; the plan in
    /// force is then unchanged.
    pub fn set_fault_plan(&mut self, plan: FaultPlan) -> Result<(), FaultPlanError> {
        plan.validate()?;
        self.faults.set_plan(plan);
        Ok(())
    }

    /// Moves the clock to `now` (never backwards) and every instance along its
    /// lifecycle; removed instances disappear.
    pub fn advance(&mut self, now: Instant) {
        self.now = self.now.max(now);
        self.model.advance(self.now);
    }

    /// What the server does with `request` arriving at `now`.
    pub fn handle(&mut self, request: &HttpRequest, now: Instant) -> SimReply {
        self.advance(now);
        bump(&mut self.stats.requests);
        let (after, slow) = self.faults.latency();
        if slow {
            bump(&mut self.stats.faults.slow);
        }
        let since_start = self.now.saturating_duration_since(self.start);
        let f = &mut self.stats.faults;
        match self.faults.decide(since_start) {
            Decision::Pass => {
                let response = routes::route(&mut self.model, request, self.now);
                bump(&mut self.stats.served);
                if response.is_success() {
                    bump(&mut self.stats.succeeded);
                }
                SimReply::Respond { after, response }
            }
            Decision::ServerError(status) => {
                bump(&mut f.server_error);
                SimReply::Respond {
                    after,
                    response: server_error(status),
                }
            }
            Decision::RateLimited(retry_after) => {
                bump(&mut f.rate_limited);
                let mut response = json::error(
                    429,
                    "RATE_LIMIT_EXCEEDED",
                    "too many requests, please retry later",
                );
                if let Some(secs) = retry_after {
                    response
                        .headers
                        .set("Retry-After", alloc::format!("{secs}"));
                }
                SimReply::Respond { after, response }
            }
            Decision::Reset => {
                bump(&mut f.reset);
                SimReply::Reset { after }
            }
            Decision::Hang => {
                bump(&mut f.hang);
                SimReply::Hang
            }
            Decision::Outage { reset } => {
                bump(&mut f.outage);
                if reset {
                    SimReply::Reset { after }
                } else {
                    SimReply::Respond {
                        after,
                        response: server_error(503),
                    }
                }
            }
            Decision::Truncate { garble, noise } => {
                bump(&mut f.truncated);
                let mut scratch = self.model.clone();
                let mut response = routes::route(&mut scratch, request, self.now);
                faults::damage(&mut response.body, garble, noise);
                SimReply::Truncated { after, response }
            }
        }
    }

    /// What a health probe of `port` on instance `instance_id` finds at `now`
    /// (advances the clock like [`Self::advance`]). After `running`, an
    /// instance's application warms up for a drawn time ([`Timings::warmup`]).
    pub fn probe_endpoint(&mut self, instance_id: &str, port: u16, now: Instant) -> EndpointProbe {
        self.advance(now);
        let Some(i) = self.model.instances.iter().find(|i| i.id == instance_id) else {
            return EndpointProbe::Unknown;
        };
        if !i.ports.iter().any(|p| p.port == port) {
            return EndpointProbe::Unknown;
        }
        match (i.status, i.healthy_at) {
            (Status::Running, Some(at)) if at <= self.now => EndpointProbe::Ready,
            (Status::Running, _) => EndpointProbe::WarmingUp,
            _ => EndpointProbe::Down,
        }
    }
}

/// Adds one to a counter, saturating.
fn bump(counter: &mut u64) {
    *counter = counter.saturating_add(1);
}

/// A 5xx as a gateway or the API would send it: JSON for 500/503, an HTML
/// page for 502/504 (clients must cope with non-JSON error bodies).
fn server_error(status: u16) -> HttpResponse {
    match status {
        502 | 504 => {
            let title = if status == 502 {
                "502 Bad Gateway"
            } else {
                "504 Gateway Time-out"
            };
            let body = alloc::format!(
                "<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n<center><h1>{title}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
            );
            let mut r = HttpResponse::new(status, body.into_bytes());
            r.headers.set("Content-Type", "text/html");
            r
        }
        500 => json::error(500, "INTERNAL_SERVER_ERROR", "internal server error"),
        _ => json::error(
            status,
            "SERVICE_UNAVAILABLE",
            "service temporarily unavailable",
        ),
    }
}

#[cfg(test)]
mod tests;
