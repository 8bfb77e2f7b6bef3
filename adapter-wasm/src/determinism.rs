//! The cross-target determinism scenario (feature `sim`).
//!
//! [`trace`] runs a fixed, seeded workload and returns everything it decided
//! as text: the engine against core's simulated Novita API in virtual time
//! (with a fault plan: 5xx bursts, 429s, resets, hangs and an outage, so the
//! retry, breaker, limiter, cache and timeout paths all show up), a few
//! webhook signatures and verifications, and raw PRNG draws. The same function
//! runs natively (`tests/determinism.rs`, which keeps the golden file
//! `tests/golden/determinism.trace`) and in wasm (`tests/wasm.rs`, which
//! compares against that file): the core promises the same decisions on every
//! target, and this is where that promise is checked.

use core::fmt::Write as _;

use novitai_core::api::instances::{
    CreateInstance, CreateInstanceRequest, GetInstance, ListInstances, StartInstance, StopInstance,
};
use novitai_core::api::products::{ListProducts, ProductQuery, choose_product};
use novitai_core::api::{ApiContext, Endpoint, clusters::ListClusters};
use novitai_core::config::Config;
use novitai_core::engine::{Completed, Engine, EngineConfig, RequestId, RequestOptions};
use novitai_core::error::Error;
use novitai_core::sim::{FaultPlan, NetEvent, SimConfig, Simulator, VirtualNet};
use novitai_core::webhook::{LegacyVerifier, Signer, Verifier, WebhookKey, legacy};
use novitai_core::{Duration, Instant, Rng, UnixTime};

/// The seed of the recorded scenario.
pub const SEED: u64 = 0x5EED_2026_0001;

/// The API key the simulator accepts in the scenario.
const API_KEY: &str = "sk_sim_determinism";

/// The fault plan of the scenario.
pub const FAULTS: &str = "5xx=0.2,429=0.05,reset=0.05,hang=0.02,latency=20ms..400ms,outage=12s+5s";

/// The client settings of the scenario, as `NOVITA_*`-style pairs.
const CONFIG: &[(&str, &str)] = &[
    ("NOVITA_API_KEY", API_KEY),
    ("REQUEST_TIMEOUT", "5000"),
    ("MAX_RETRY_ATTEMPTS", "4"),
    ("RETRY_BASE_DELAY_MS", "200"),
    ("RETRY_MAX_DELAY_MS", "3000"),
    ("CIRCUIT_BREAKER_FAILURE_THRESHOLD", "4"),
    ("CIRCUIT_BREAKER_OPEN_MS", "3000"),
    ("CIRCUIT_BREAKER_SUCCESS_THRESHOLD", "2"),
    ("RATE_LIMIT_MAX_REQUESTS", "20"),
    ("RATE_LIMIT_WINDOW_MS", "2000"),
    ("MAX_CONCURRENT_REQUESTS", "4"),
    ("QUEUE_CAPACITY", "30"),
    ("CACHE_ENABLED", "true"),
    ("CACHE_TIMEOUT", "60"),
];

/// The scenario with [`SEED`].
#[must_use]
pub fn trace() -> String {
    trace_with_seed(SEED)
}

/// The scenario with another seed (same workload, different draws).
#[must_use]
pub fn trace_with_seed(seed: u64) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# novitai determinism trace, seed {seed:#x}");
    let _ = writeln!(out, "# faults {FAULTS}");
    engine_section(seed, &mut out);
    webhook_section(seed, &mut out);
    rng_section(seed, &mut out);
    out
}

struct Run {
    net: VirtualNet,
    ctx: ApiContext,
    out: String,
}

impl Run {
    fn record(&mut self, at: Instant, e: &NetEvent) {
        let _ = writeln!(
            self.out,
            "{:>8} {}",
            at.as_millis(),
            crate::trace::net_event_line(e)
        );
    }

    fn submit<E: Endpoint>(&mut self, endpoint: &E) -> Option<RequestId> {
        if let Err(problems) = endpoint.validate() {
            let _ = writeln!(self.out, "invalid {}: {problems}", endpoint.name());
            return None;
        }
        let mut request = endpoint.request();
        self.ctx.authorize(&mut request);
        let options = RequestOptions::new()
            .cacheable(endpoint.is_cacheable())
            .idempotent(endpoint.is_idempotent());
        match self.net.submit(request, options) {
            Ok(id) => {
                let _ = writeln!(
                    self.out,
                    "{:>8} submit id={} {}",
                    self.net.now().as_millis(),
                    id.get(),
                    endpoint.name()
                );
                Some(id)
            }
            Err(e) => {
                let _ = writeln!(self.out, "rejected {}: {e}", endpoint.name());
                None
            }
        }
    }

    /// Runs until `id` completes (or 120 virtual seconds pass).
    fn complete(&mut self, id: RequestId) -> Option<Completed> {
        let limit = self.net.now().saturating_add(Duration::from_secs(120));
        let mut lines = Vec::new();
        let done = self
            .net
            .run_until_complete(id, limit, &mut |at, e| lines.push((at, e.clone())));
        for (at, e) in &lines {
            self.record(*at, e);
        }
        done
    }

    fn call<E: Endpoint>(&mut self, endpoint: &E) -> Option<E::Output> {
        let id = self.submit(endpoint)?;
        let done = self.complete(id)?;
        match Error::result_of(endpoint, &done) {
            Ok(v) => Some(v),
            Err(e) => {
                let _ = writeln!(self.out, "error {}: [{}] {e}", endpoint.name(), e.label());
                None
            }
        }
    }

    fn run_for(&mut self, d: Duration) {
        let until = self.net.now().saturating_add(d);
        let mut lines = Vec::new();
        self.net
            .sleep_until(until, &mut |at, e| lines.push((at, e.clone())));
        for (at, e) in &lines {
            self.record(*at, e);
        }
    }
}

fn engine_section(seed: u64, out: &mut String) {
    let _ = writeln!(out, "## engine vs simulator");
    let config = match Config::from_pairs(CONFIG.iter().copied()) {
        Ok(c) => c,
        Err(e) => {
            let _ = writeln!(out, "config error: {e}");
            return;
        }
    };
    let engine = match Engine::new(EngineConfig::from_config(&config), seed, Instant::ZERO) {
        Ok(e) => e,
        Err(e) => {
            let _ = writeln!(out, "engine error: {e}");
            return;
        }
    };
    let faults = match FaultPlan::parse(FAULTS) {
        Ok(f) => f,
        Err(e) => {
            let _ = writeln!(out, "fault plan error: {e}");
            return;
        }
    };
    let sim_config = SimConfig {
        api_key: String::from(API_KEY),
        faults,
        ..SimConfig::default()
    };
    let sim = match Simulator::new(sim_config, seed ^ 0xA5A5, Instant::ZERO) {
        Ok(s) => s,
        Err(e) => {
            let _ = writeln!(out, "sim error: {e}");
            return;
        }
    };
    let ctx = match ApiContext::new(API_KEY, "novitai-determinism") {
        Ok(c) => c,
        Err(e) => {
            let _ = writeln!(out, "context error: {e}");
            return;
        }
    };
    let mut run = Run {
        net: VirtualNet::new(engine, sim),
        ctx,
        out: String::new(),
    };

    // 1. The catalogue, one call at a time, then the cheapest product.
    let clusters = run.call(&ListClusters).map_or(0, |c| c.len());
    let products = run.call(&ListProducts::default()).unwrap_or_default();
    let _ = writeln!(
        run.out,
        "catalogue clusters={clusters} products={}",
        products.len()
    );
    let product = match choose_product(&products, &ProductQuery::default()) {
        Ok(choice) => {
            let _ = writeln!(
                run.out,
                "chose product={} region={} preferred={}",
                choice.product.id, choice.region, choice.preferred
            );
            choice.product.id
        }
        Err(e) => {
            let _ = writeln!(run.out, "no product: {e}");
            String::from("missing-product")
        }
    };

    // 2. Three instances, created one after another.
    let mut instances = Vec::new();
    for i in 0..3 {
        let mut req =
            CreateInstanceRequest::new(product.as_str(), 1, 60, "docker.io/library/nginx:1");
        req.name = Some(format!("det-{i}"));
        if let Some(id) = run.call(&CreateInstance(req)) {
            let _ = writeln!(run.out, "created {id}");
            instances.push(id);
        }
    }

    // 3. A burst of concurrent work through the outage window: lists,
    //    gets (coalesced and cached), stops and starts.
    let mut pending = Vec::new();
    for round in 0..30u32 {
        pending.extend(run.submit(&ListClusters));
        pending.extend(run.submit(&ListInstances::default()));
        if let Some(id) = instances.get(round as usize % instances.len().max(1)) {
            pending.extend(run.submit(&GetInstance::new(id.as_str())));
            pending.extend(run.submit(&GetInstance::new(id.as_str())));
            if round % 4 == 1 {
                pending.extend(run.submit(&StopInstance::new(id.as_str())));
            }
            if round % 4 == 3 {
                pending.extend(run.submit(&StartInstance::new(id.as_str())));
            }
        }
        run.run_for(Duration::from_millis(900));
    }
    run.run_for(Duration::from_secs(90));
    let status = run.net.engine.status(run.net.now());
    let _ = writeln!(
        run.out,
        "end now={} submitted={} completed={} queued={} active={} breaker={} burst_requests={}",
        run.net.now().as_millis(),
        status.submitted,
        status.completed,
        status.queued,
        status.active,
        status.breaker,
        pending.len()
    );
    let _ = writeln!(run.out, "sim {:?}", run.net.sim.stats());
    out.push_str(&run.out);
}

fn webhook_section(seed: u64, out: &mut String) {
    let _ = writeln!(out, "## webhooks");
    let mut rng = Rng::new(seed ^ 0x0057_EB00);
    let secrets = [
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD",
    ];
    let keys: Vec<WebhookKey> = secrets
        .iter()
        .filter_map(|s| WebhookKey::from_whsec(s).ok())
        .collect();
    let Ok(signer) = Signer::with_keys(keys.iter().cloned()) else {
        let _ = writeln!(out, "signer error");
        return;
    };
    let verifier = keys.first().cloned().map(Verifier::new);
    for i in 0..6u64 {
        let id = format!("msg_{:016x}", rng.next_u64());
        let ts = UnixTime::from_secs(1_700_000_000 + i * 37);
        let len = usize::try_from(rng.range_inclusive(0, 96)).unwrap_or(0);
        let body: Vec<u8> = (0..len).map(|_| (rng.next_u32() & 0xff) as u8).collect();
        match signer.headers(&id, ts, &body) {
            Ok(headers) => {
                for (name, value) in headers.iter() {
                    let _ = writeln!(out, "{i} {name}: {value}");
                }
                if let Some(v) = &verifier {
                    let ok = v.verify(&headers, &body, UnixTime::from_secs(ts.as_secs() + 10));
                    let _ = writeln!(out, "{i} verify: {:?}", ok.map(|x| x.timestamp.as_secs()));
                    let mut tampered = body.clone();
                    tampered.push(b'!');
                    let bad = v.verify(&headers, &tampered, ts);
                    let _ = writeln!(out, "{i} tampered: {:?}", bad.map(|_| ()));
                    let stale = v.verify(&headers, &body, UnixTime::from_secs(ts.as_secs() + 301));
                    let _ = writeln!(out, "{i} stale: {:?}", stale.map(|_| ()));
                }
            }
            Err(e) => {
                let _ = writeln!(out, "{i} sign error: {e}");
            }
        }
        if let Some(key) = keys.first() {
            let sig = legacy::sign(key, &body);
            let _ = writeln!(out, "{i} legacy: {sig}");
            let lv = LegacyVerifier::new(key.clone());
            let _ = writeln!(
                out,
                "{i} legacy verify: {:?}",
                lv.verify(
                    |n: &str| {
                        if n.eq_ignore_ascii_case(legacy::HEADER_SIGNATURE) {
                            Some(sig.as_str())
                        } else {
                            None
                        }
                    },
                    &body
                )
                .is_ok()
            );
        }
    }
}

fn rng_section(seed: u64, out: &mut String) {
    let _ = writeln!(out, "## rng");
    let mut rng = Rng::new(seed);
    for _ in 0..4 {
        let _ = writeln!(
            out,
            "u64={:#018x} f64={:?} range={} chance={}",
            rng.next_u64(),
            rng.next_f64(),
            rng.range_inclusive(10, 10_000),
            rng.chance(0.3)
        );
    }
    let d = Duration::from_millis(1234).mul_f64(1.7);
    let _ = writeln!(out, "mul_f64={}", d.as_millis());
}
