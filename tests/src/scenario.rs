//! Seeded scenarios: one seed → a fault plan, an engine configuration (within
//! the allowed ranges) and a workload of real Novita API calls.
//!
//! Everything is drawn from one [`Rng`] seeded with the scenario's seed, so a
//! seed names a scenario exactly and replays it bit for bit.

use novitai_core::api::clusters::ListClusters;
use novitai_core::api::instances::{
    CreateInstance, CreateInstanceRequest, DeleteInstance, GetInstance, ListInstances,
    StartInstance, StopInstance,
};
use novitai_core::api::products::ListProducts;
use novitai_core::api::{ApiContext, Endpoint};
use novitai_core::breaker::{BreakerConfig, OpenDuration, SlowCalls, Window};
use novitai_core::engine::{CacheConfig, Completed, EngineConfig, RequestOptions};
use novitai_core::error::Error;
use novitai_core::http::HttpRequest;
use novitai_core::limiter::{GcraConfig, RateLimitConfig, WindowConfig};
use novitai_core::queue::{Priority, QueueConfig};
use novitai_core::retry::{Backoff, Jitter, RetryBudgetConfig, RetryConfig};
use novitai_core::sim::{DurationRange, FaultPlan, Outage, SimConfig, Timings};
use novitai_core::{Duration, Instant, Rng};

/// The API key the simulator accepts and the client sends.
pub const API_KEY: &str = "sk_sim_novitai_tests";

/// Products the simulator offers and can deploy (ids are fixed by its catalogue).
pub const DEPLOYABLE_PRODUCTS: [&str; 4] = [
    "rtx-4090-24gb.cn-hk-01",
    "rtx-4090-24gb.as-sgp-02",
    "l40s-48gb.eu-de-01",
    "a100-80gb.us-ca-06",
];

/// A product the simulator lists but cannot deploy (400 `INSUFFICIENT_RESOURCE`).
pub const UNDEPLOYABLE_PRODUCT: &str = "rtx-4090-24gb.oc-au-01";

/// One seeded scenario.
#[derive(Clone, Debug)]
pub struct Scenario {
    /// The seed it was generated from.
    pub seed: u64,
    /// The engine under test.
    pub engine: EngineConfig,
    /// The simulated API, with its fault plan.
    pub sim: SimConfig,
    /// What the client does.
    pub tasks: Vec<Task>,
}

/// One client-side script: a chain of calls, each submitted after the
/// previous one completed (plus a think time).
#[derive(Clone, Debug)]
pub struct Task {
    /// When its first call is submitted.
    pub start: Instant,
    /// What it does.
    pub kind: TaskKind,
}

/// The scripts a scenario is made of.
#[derive(Clone, Debug)]
pub enum TaskKind {
    /// List clusters and products (cacheable) `rounds` times, `gap` apart.
    Catalog {
        /// How many rounds (each: clusters, then products).
        rounds: u32,
        /// Pause between calls.
        gap: Duration,
        /// Fetch the whole product catalogue once (large answer) before
        /// asking for the product wanted.
        full_catalog: bool,
    },
    /// Create an instance, poll it until it is stable (or `max_polls` polls),
    /// then run `actions`, each followed by polls.
    Lifecycle {
        /// The create request.
        create: Box<CreateInstanceRequest>,
        /// Time between polls.
        poll_every: Duration,
        /// Most polls per phase.
        max_polls: u32,
        /// What to do once running.
        actions: Vec<Action>,
    },
    /// Walk the instance list page by page.
    ListPages {
        /// Page size to ask for.
        page_size: u32,
        /// Most pages to read.
        pages: u32,
    },
    /// A call that is cancelled `after` its submission.
    Cancelled {
        /// The call.
        call: CallSpec,
        /// When to cancel it, after submission.
        after: Duration,
    },
    /// A call with a deadline `within` of its submission.
    Deadline {
        /// The call.
        call: CallSpec,
        /// Deadline, after submission.
        within: Duration,
    },
}

/// An instance action in a [`TaskKind::Lifecycle`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Stop it.
    Stop,
    /// Start it.
    Start,
    /// Delete it.
    Delete,
}

/// A call that needs no earlier result.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CallSpec {
    /// `GET /v1/clusters`.
    Clusters,
    /// `GET /v1/products?productName=RTX 4090`.
    Products,
    /// `GET /v1/gpu/instances` page 1.
    ListFirstPage,
    /// `GET /v1/gpu/instance` for an id that does not exist (404).
    GetMissing,
}

/// A concrete API call: the endpoint value (to build the request and parse
/// the answer).
#[derive(Clone, Debug)]
pub enum Call {
    /// List clusters.
    Clusters(ListClusters),
    /// List products.
    Products(ListProducts),
    /// Create an instance.
    Create(Box<CreateInstance>),
    /// Get one instance.
    Get(GetInstance),
    /// List a page of instances.
    List(ListInstances),
    /// Start an instance.
    Start(StartInstance),
    /// Stop an instance.
    Stop(StopInstance),
    /// Delete an instance.
    Delete(DeleteInstance),
}

/// What a completed call told the client (after [`Error::result_of`]).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct CallResult {
    /// `result_of` returned `Ok`.
    pub ok: bool,
    /// The completion was a 2xx whose body did not parse (`ApiErrorKind::Decode`).
    pub undecodable_success: bool,
    /// The completion was a 2xx that failed to parse with an error other than
    /// `Decode` (always a bug).
    pub other_parse_error: Option<String>,
    /// A created instance's id.
    pub instance_id: Option<String>,
    /// A polled instance's status (wire string) and failure message presence.
    pub instance_status: Option<(String, bool)>,
    /// Items on a listed page and the page number the server echoed.
    pub page: Option<(usize, Option<u64>)>,
}

impl Call {
    /// The spec's call.
    #[must_use]
    pub fn from_spec(spec: CallSpec) -> Call {
        match spec {
            CallSpec::Clusters => Call::Clusters(ListClusters),
            CallSpec::Products => Call::Products(ListProducts::named("RTX 4090")),
            CallSpec::ListFirstPage => Call::List(ListInstances {
                page_size: 5,
                ..ListInstances::default()
            }),
            CallSpec::GetMissing => Call::Get(GetInstance::new("00000000deadbeef")),
        }
    }

    /// The endpoint's stable name.
    #[must_use]
    pub fn name(&self) -> &'static str {
        match self {
            Call::Clusters(e) => e.name(),
            Call::Products(e) => e.name(),
            Call::Create(e) => e.name(),
            Call::Get(e) => e.name(),
            Call::List(e) => e.name(),
            Call::Start(e) => e.name(),
            Call::Stop(e) => e.name(),
            Call::Delete(e) => e.name(),
        }
    }

    /// `true` for calls that must not run twice (creates).
    #[must_use]
    pub fn is_idempotent(&self) -> bool {
        match self {
            Call::Clusters(e) => e.is_idempotent(),
            Call::Products(e) => e.is_idempotent(),
            Call::Create(e) => e.is_idempotent(),
            Call::Get(e) => e.is_idempotent(),
            Call::List(e) => e.is_idempotent(),
            Call::Start(e) => e.is_idempotent(),
            Call::Stop(e) => e.is_idempotent(),
            Call::Delete(e) => e.is_idempotent(),
        }
    }

    /// `true` for calls whose answer may be cached.
    #[must_use]
    pub fn is_cacheable(&self) -> bool {
        match self {
            Call::Clusters(e) => e.is_cacheable(),
            Call::Products(e) => e.is_cacheable(),
            Call::Create(e) => e.is_cacheable(),
            Call::Get(e) => e.is_cacheable(),
            Call::List(e) => e.is_cacheable(),
            Call::Start(e) => e.is_cacheable(),
            Call::Stop(e) => e.is_cacheable(),
            Call::Delete(e) => e.is_cacheable(),
        }
    }

    /// The authorised request, as an adapter would submit it.
    #[must_use]
    pub fn request(&self, ctx: &ApiContext) -> HttpRequest {
        let mut r = match self {
            Call::Clusters(e) => e.request(),
            Call::Products(e) => e.request(),
            Call::Create(e) => e.request(),
            Call::Get(e) => e.request(),
            Call::List(e) => e.request(),
            Call::Start(e) => e.request(),
            Call::Stop(e) => e.request(),
            Call::Delete(e) => e.request(),
        };
        ctx.authorize(&mut r);
        r
    }

    /// Options from the endpoint's own flags.
    #[must_use]
    pub fn options(&self) -> RequestOptions {
        RequestOptions::new()
            .cacheable(self.is_cacheable())
            .idempotent(self.is_idempotent())
    }

    /// Reads the completion with [`Error::result_of`].
    #[must_use]
    pub fn read(&self, done: &Completed) -> CallResult {
        fn finish<T>(
            done: &Completed,
            r: Result<T, Error>,
            f: impl FnOnce(&T, &mut CallResult),
        ) -> CallResult {
            let mut out = CallResult::default();
            match r {
                Ok(v) => {
                    out.ok = true;
                    f(&v, &mut out);
                }
                Err(e) => {
                    if done.outcome.is_success() {
                        match &e {
                            Error::Api(a) if a.kind == novitai_core::api::ApiErrorKind::Decode => {
                                out.undecodable_success = true;
                            }
                            other => out.other_parse_error = Some(format!("{other:?}")),
                        }
                    }
                    // Every error must read as a sentence.
                    if displays_blank(&e) {
                        out.other_parse_error = Some(format!("empty Display for {e:?}"));
                    }
                }
            }
            out
        }
        match self {
            Call::Clusters(e) => finish(done, Error::result_of(e, done), |_, _| {}),
            Call::Products(e) => finish(done, Error::result_of(e, done), |_, _| {}),
            Call::Create(e) => finish(done, Error::result_of(&**e, done), |id, o| {
                o.instance_id = Some(id.clone());
            }),
            Call::Get(e) => finish(done, Error::result_of(e, done), |i, o| {
                o.instance_status = Some((i.status.as_str().to_string(), i.failure().is_some()));
            }),
            Call::List(e) => finish(done, Error::result_of(e, done), |p, o| {
                o.page = Some((p.instances.len(), p.page_num));
            }),
            Call::Start(e) => finish(done, Error::result_of(e, done), |_, _| {}),
            Call::Stop(e) => finish(done, Error::result_of(e, done), |_, _| {}),
            Call::Delete(e) => finish(done, Error::result_of(e, done), |_, _| {}),
        }
    }
}

/// `true` when `e` displays as nothing but whitespace (checked as it is
/// written, without building the string).
fn displays_blank(e: &impl std::fmt::Display) -> bool {
    struct NonBlank(bool);
    impl std::fmt::Write for NonBlank {
        fn write_str(&mut self, s: &str) -> std::fmt::Result {
            self.0 |= s.chars().any(|c| !c.is_whitespace());
            Ok(())
        }
    }
    let mut w = NonBlank(false);
    let _ = std::fmt::write(&mut w, format_args!("{e}"));
    !w.0
}

fn secs(rng: &mut Rng, lo: u64, hi: u64) -> Duration {
    Duration::from_millis(rng.range_inclusive(lo * 1000, hi * 1000))
}

fn ms(rng: &mut Rng, lo: u64, hi: u64) -> Duration {
    Duration::from_millis(rng.range_inclusive(lo, hi))
}

fn pick<T: Copy>(rng: &mut Rng, items: &[T]) -> T {
    let i = rng.range_inclusive(0, items.len() as u64 - 1) as usize;
    items[i]
}

/// A random fault plan: every knob within its allowed range, some knobs off.
#[must_use]
pub fn fault_plan(rng: &mut Rng) -> FaultPlan {
    match rng.range_inclusive(0, 9) {
        0 => return FaultPlan::none(),
        1 => return FaultPlan::default_demo(),
        _ => {}
    }
    let mut p = FaultPlan::none();
    let on = |rng: &mut Rng, p: f64| rng.chance(p);
    if on(rng, 0.8) {
        p.server_error = rng.next_f64() * 0.3;
        let lo = rng.range_inclusive(1, 4) as u32;
        p.burst = (lo, lo + rng.range_inclusive(0, 6) as u32);
    }
    if on(rng, 0.6) {
        p.rate_limit = rng.next_f64() * 0.1;
        let lo = rng.range_inclusive(0, 5);
        p.retry_after = DurationRange::secs(lo, lo + rng.range_inclusive(0, 8));
        p.retry_after_probability = rng.next_f64();
    }
    if on(rng, 0.5) {
        p.reset = rng.next_f64() * 0.05;
    }
    if on(rng, 0.4) {
        p.hang = rng.next_f64() * 0.04;
    }
    if on(rng, 0.5) {
        p.truncate = rng.next_f64() * 0.05;
    }
    if on(rng, 0.5) {
        p.outages.push(Outage {
            start: secs(rng, 0, 240),
            length: secs(rng, 1, 120),
        });
    }
    let lo = rng.range_inclusive(0, 200);
    p.latency = DurationRange::new(
        Duration::from_millis(lo),
        Duration::from_millis(lo + rng.range_inclusive(0, 800)),
    );
    if on(rng, 0.4) {
        p.slow = rng.next_f64() * 0.05;
        // Sometimes slower than the engine's attempt timeout: late answers.
        p.slow_max = p.latency.max + secs(rng, 1, 90);
    }
    p
}

/// A random engine configuration within the allowed ranges.
#[must_use]
pub fn engine_config(rng: &mut Rng) -> EngineConfig {
    let mut c = EngineConfig::default();
    if rng.chance(0.1) {
        return c;
    }
    c.max_in_flight = pick(rng, &[1, 2, 4, 8, 16]);
    c.attempt_timeout = secs(rng, 5, 60);
    c.queue = QueueConfig::new(pick(rng, &[3, 10, 50, 1000])).unwrap_or_default();
    c.breaker = breaker_config(rng);
    c.rate_limit = if rng.chance(0.5) {
        RateLimitConfig::SlidingWindow(WindowConfig {
            max: rng.range_inclusive(5, 200) as u32,
            window: secs(rng, 1, 60),
        })
    } else {
        let cells = rng.range_inclusive(1, 100);
        RateLimitConfig::Gcra(GcraConfig {
            cells,
            period: secs(rng, 1, 60),
            burst: rng.range_inclusive(1, cells * 2),
        })
    };
    c.retry = RetryConfig {
        max_attempts: rng.range_inclusive(1, 10) as u32,
        backoff: match rng.range_inclusive(0, 2) {
            0 => {
                let base = ms(rng, 1, 3000);
                Backoff::Exponential {
                    base,
                    factor: 1.0 + rng.next_f64() * 2.0,
                    cap: base + secs(rng, 0, 60),
                }
            }
            1 => Backoff::Constant {
                delay: ms(rng, 1, 5000),
            },
            _ => {
                let base = ms(rng, 1, 3000);
                Backoff::Linear {
                    base,
                    step: ms(rng, 0, 3000),
                    cap: base + secs(rng, 0, 30),
                }
            }
        },
        jitter: pick(
            rng,
            &[
                Jitter::None,
                Jitter::Full,
                Jitter::Equal,
                Jitter::Decorrelated,
            ],
        ),
        honor_retry_after: rng.chance(0.8),
        max_retry_after: secs(rng, 1, 120),
        ..RetryConfig::default()
    };
    c.retry_budget = if rng.chance(0.8) {
        Some(RetryBudgetConfig {
            max_tokens: rng.range_inclusive(1, 200) as u32,
            token_ratio: pick(rng, &[0.001, 0.01, 0.1, 0.5, 1.0, 2.0]),
        })
    } else {
        None
    };
    c.cache = CacheConfig {
        enabled: rng.chance(0.5),
        ttl: secs(rng, 10, 600),
        max_entries: rng.range_inclusive(1, 64) as usize,
    };
    c
}

fn breaker_config(rng: &mut Rng) -> BreakerConfig {
    let mut b = BreakerConfig::default();
    if rng.chance(0.2) {
        return b;
    }
    b.consecutive_failures = rng.chance(0.8).then(|| rng.range_inclusive(1, 10) as u32);
    if b.consecutive_failures.is_none() || rng.chance(0.3) {
        b.failure_rate = Some(0.1 + rng.next_f64() * 0.9);
    }
    b.window = if rng.chance(0.5) {
        Window::Count(rng.range_inclusive(5, 100) as u32)
    } else {
        Window::Seconds(rng.range_inclusive(5, 120) as u32)
    };
    let most = match b.window {
        Window::Count(n) => u64::from(n),
        Window::Seconds(_) => 50,
    };
    b.minimum_calls = rng.range_inclusive(1, most) as u32;
    if rng.chance(0.2) {
        b.slow_calls = Some(SlowCalls {
            duration: secs(rng, 1, 30),
            rate: 0.2 + rng.next_f64() * 0.8,
        });
    }
    b.open_duration = if rng.chance(0.5) {
        OpenDuration::Fixed(secs(rng, 1, 120))
    } else {
        let initial = secs(rng, 1, 30);
        OpenDuration::Exponential {
            initial,
            factor: 1.0 + rng.next_f64() * 3.0,
            max: initial + secs(rng, 0, 300),
        }
    };
    b.half_open_probes = rng.range_inclusive(1, 5) as u32;
    b.half_open_successes = rng.range_inclusive(1, 5) as u32;
    b.probe_max_wait = secs(rng, 1, 60);
    b
}

/// A random simulator configuration around `faults`, with short lifecycles
/// so that instances settle within a few polls.
#[must_use]
pub fn sim_config(rng: &mut Rng, faults: FaultPlan) -> SimConfig {
    let s = |lo: u64, hi: u64| DurationRange::secs(lo, hi);
    SimConfig {
        api_key: API_KEY.to_string(),
        faults,
        timings: Timings {
            queued: s(0, 2),
            creating: s(1, 5),
            pulling: s(2, 20),
            starting: s(1, 8),
            stopping: s(1, 5),
            restarting: s(1, 8),
            removing: s(1, 5),
            migrating: s(5, 20),
            warmup: s(0, 5),
        },
        startup_failure: if rng.chance(0.5) {
            0.0
        } else {
            rng.next_f64() * 0.3
        },
        default_page_size: 10,
        max_page_size: 100,
        max_instances: pick(rng, &[3, 100]),
        ..SimConfig::default()
    }
}

fn call_spec(rng: &mut Rng) -> CallSpec {
    pick(
        rng,
        &[
            CallSpec::Clusters,
            CallSpec::Products,
            CallSpec::ListFirstPage,
            CallSpec::GetMissing,
        ],
    )
}

fn create_request(rng: &mut Rng, n: usize) -> CreateInstanceRequest {
    let product = match rng.range_inclusive(0, 19) {
        0 => UNDEPLOYABLE_PRODUCT,
        _ => pick(rng, &DEPLOYABLE_PRODUCTS),
    };
    let image = if rng.chance(0.1) {
        "registry.example/sim-fail:latest"
    } else {
        "nvidia/cuda:12.4.0-runtime-ubuntu22.04"
    };
    let mut r = CreateInstanceRequest::new(product, rng.range_inclusive(1, 2) as u32, 60, image);
    r.name = Some(format!("sim-{n}"));
    r.ports = Some("8888/http,22/tcp".to_string());
    r
}

/// The workload: a handful of scripts starting within the first minutes.
#[must_use]
pub fn workload(rng: &mut Rng) -> Vec<Task> {
    let n = rng.range_inclusive(3, 9) as usize;
    let mut tasks = Vec::with_capacity(n);
    for i in 0..n {
        let start = Instant::ZERO + secs(rng, 0, 180);
        let kind = match rng.range_inclusive(0, 9) {
            0 | 1 => TaskKind::Catalog {
                rounds: rng.range_inclusive(1, 3) as u32,
                gap: secs(rng, 0, 20),
                full_catalog: rng.chance(0.25),
            },
            2..=5 => {
                let actions = match rng.range_inclusive(0, 4) {
                    0 => vec![],
                    1 => vec![Action::Delete],
                    2 => vec![Action::Stop, Action::Delete],
                    3 => vec![Action::Stop, Action::Start],
                    _ => vec![Action::Stop, Action::Start, Action::Delete],
                };
                TaskKind::Lifecycle {
                    create: Box::new(create_request(rng, i)),
                    poll_every: secs(rng, 2, 10),
                    max_polls: rng.range_inclusive(3, 12) as u32,
                    actions,
                }
            }
            6 => TaskKind::ListPages {
                page_size: rng.range_inclusive(1, 4) as u32,
                pages: rng.range_inclusive(1, 4) as u32,
            },
            7 => TaskKind::Cancelled {
                call: call_spec(rng),
                after: ms(rng, 0, 3000),
            },
            _ => TaskKind::Deadline {
                call: call_spec(rng),
                within: ms(rng, 1, 20_000),
            },
        };
        tasks.push(Task { start, kind });
    }
    tasks
}

/// A random priority (mostly normal).
#[must_use]
pub fn priority(rng: &mut Rng) -> Priority {
    match rng.range_inclusive(0, 9) {
        0 => Priority::High,
        1 => Priority::Low,
        _ => Priority::Normal,
    }
}

impl Scenario {
    /// The scenario named by `seed`.
    #[must_use]
    pub fn generate(seed: u64) -> Scenario {
        let mut rng = Rng::new(seed);
        let faults = fault_plan(&mut rng);
        let sim = sim_config(&mut rng, faults);
        let engine = engine_config(&mut rng);
        let tasks = workload(&mut rng);
        Scenario {
            seed,
            engine,
            sim,
            tasks,
        }
    }
}
