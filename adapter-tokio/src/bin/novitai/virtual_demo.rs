//! `novitai demo --virtual`: the whole client against the embedded simulator
//! in virtual time — no sockets, no clock, finishes in well under a second
//! and replays exactly from its seed. The new instance is watched by the
//! core's start-up [`Monitor`], driven here in virtual time: its reads go
//! through the engine, its probes to the simulator's endpoints, its
//! notifications are signed and verified.

use std::time::Instant as WallClock;

use novitai_core::api::clusters::ListClusters;
use novitai_core::api::instances::{
    CreateInstance, CreateInstanceRequest, DeleteInstance, GetInstance, ListInstances,
};
use novitai_core::api::products::{FALLBACK_REGIONS, ListProducts, ProductQuery, choose_product};
use novitai_core::api::{ApiContext, Endpoint};
use novitai_core::engine::{Completion, Engine, EngineConfig, Event, RequestOptions};
use novitai_core::error::Error;
use novitai_core::monitor::{
    FetchError, Monitor, MonitorAction, MonitorConfig, Outcome, ProbeResult, Target,
};
use novitai_core::retry::TransportErrorKind;
use novitai_core::sim::{EndpointProbe, FaultPlan, NetEvent, SimConfig, Simulator, VirtualNet};
use novitai_core::webhook::{Notification, Signer, Verifier, WebhookKey};
use novitai_core::{Duration, Instant, Rng, UnixTime};

/// What the demo counted.
#[derive(Default)]
struct Tally {
    sent: u64,
    retries: u64,
    breaker_transitions: Vec<String>,
    rate_limit_waits: u64,
    failures_seen: u64,
    from_cache: u64,
    coalesced: u64,
    webhooks_verified: u64,
    webhooks_rejected: u64,
}

struct Demo {
    net: VirtualNet,
    ctx: ApiContext,
    tally: Tally,
    unix_start: u64,
    verbose: bool,
}

fn stamp(at: Instant) -> String {
    format!("{:>9}", format!("t+{:.1}s", at.as_millis() as f64 / 1000.0))
}

impl Demo {
    fn observe(&mut self, at: Instant, e: &NetEvent) {
        let t = &mut self.tally;
        match e {
            NetEvent::Sent { transmit, status } => {
                t.sent += 1;
                if self.verbose {
                    let s = status.map_or("no answer".to_owned(), |s| s.to_string());
                    println!(
                        "{}  → {} {} [{}] attempt {} ⇒ {}",
                        stamp(at),
                        transmit.request.method,
                        transmit.request.path_and_query,
                        transmit.correlation_id,
                        transmit.number,
                        s
                    );
                }
            }
            NetEvent::Engine(Event::RetryScheduled {
                correlation_id,
                attempt,
                delay,
                reason,
                ..
            }) => {
                t.retries += 1;
                println!(
                    "{}  ↻ retry #{attempt} of [{correlation_id}] in {delay}: {reason}",
                    stamp(at)
                );
            }
            NetEvent::Engine(Event::BreakerTransition(tr)) => {
                t.breaker_transitions.push(format!(
                    "{} → {} at {}",
                    tr.from,
                    tr.to,
                    stamp(tr.at).trim()
                ));
                println!("{}  ⚡ circuit breaker {} → {}", stamp(at), tr.from, tr.to);
            }
            NetEvent::Engine(Event::RateLimited { until, by_server }) => {
                t.rate_limit_waits += 1;
                if until.saturating_duration_since(at) < Duration::from_secs(1) && !self.verbose {
                    return;
                }
                let who = if *by_server {
                    "server (429)"
                } else {
                    "client limiter"
                };
                println!(
                    "{}  ⏳ rate limited by the {who} until {}",
                    stamp(at),
                    stamp(*until).trim()
                );
            }
            NetEvent::Engine(Event::AttemptFailed { .. }) => t.failures_seen += 1,
            NetEvent::Engine(Event::Coalesced { .. }) => t.coalesced += 1,
            NetEvent::Engine(Event::Completed(c)) if c.from_cache => t.from_cache += 1,
            _ => {}
        }
    }

    /// Sends one API call and waits (in virtual time) for its result.
    fn call<E: Endpoint>(&mut self, endpoint: E) -> Result<E::Output, Error> {
        endpoint.validate()?;
        let mut req = endpoint.request();
        self.ctx.authorize(&mut req);
        let options = RequestOptions::new()
            .cacheable(endpoint.is_cacheable())
            .idempotent(endpoint.is_idempotent());
        let id = self.net.submit(req, options)?;
        let limit = self.net.now() + Duration::from_mins(30);
        let mut events = Vec::new();
        let done = self
            .net
            .run_until_complete(id, limit, &mut |at, e| events.push((at, e.clone())));
        for (at, e) in &events {
            self.observe(*at, e);
        }
        match done {
            Some(c) => Error::result_of(&endpoint, &c),
            None => Err(Error::DeadlineExceeded),
        }
    }

    fn sleep(&mut self, d: Duration) {
        let until = self.net.now() + d;
        let mut events = Vec::new();
        self.net
            .sleep_until(until, &mut |at, e| events.push((at, e.clone())));
        for (at, e) in &events {
            self.observe(*at, e);
        }
    }

    fn unix_now(&self) -> UnixTime {
        UnixTime::from_secs(self.unix_start + self.net.now().as_millis() / 1000)
    }

    fn say(&self, text: impl AsRef<str>) {
        println!("{}  {}", stamp(self.net.now()), text.as_ref());
    }
}

/// Runs the virtual demo; returns the process exit code.
pub fn run(seed: u64, faults: &str, verbose: bool) -> i32 {
    let wall = WallClock::now();
    let plan = match faults {
        "demo" => FaultPlan::default_demo(),
        other => match FaultPlan::parse(other) {
            Ok(p) => p,
            Err(e) => {
                eprintln!("error: --faults {other:?}: {e}");
                return 2;
            }
        },
    };
    let key = "sk_demo_0123456789abcdef";
    let sim = Simulator::new(
        SimConfig {
            api_key: key.to_owned(),
            faults: plan,
            ..SimConfig::default()
        },
        seed,
        Instant::ZERO,
    )
    .expect("the demo's simulator config is valid");
    let unix_start = sim.config().unix_time_at_start.as_secs();
    let mut config = EngineConfig::default();
    config.cache.enabled = true;
    let engine =
        Engine::new(config, seed, Instant::ZERO).expect("the default engine config is valid");
    let mut d = Demo {
        net: VirtualNet::new(engine, sim),
        ctx: ApiContext::new(key, "novitai-demo/0.1").expect("valid demo key"),
        tally: Tally::default(),
        unix_start,
        verbose,
    };

    println!("novitai demo — the client against the embedded Novita simulator");
    println!("  virtual time (no sockets, no API key); seed {seed}; faults: {faults}");
    println!();

    // 1. Discover: clusters and products (cacheable GETs), then the cheapest
    //    spot offer with the Node service's region fallback.
    let clusters = match d.call(ListClusters) {
        Ok(c) => c,
        Err(e) => return fail(&d, "listing clusters", &e),
    };
    d.say(format!("found {} clusters", clusters.len()));
    let products = match d.call(ListProducts {
        product_name: Some("4090".to_owned()),
        ..ListProducts::default()
    }) {
        Ok(p) => p,
        Err(e) => return fail(&d, "listing products", &e),
    };
    let query = ProductQuery {
        name: "RTX 4090".to_owned(),
        preferred_region: Some("US-WEST-01".to_owned()),
        fallback_regions: FALLBACK_REGIONS.iter().map(|r| (*r).to_owned()).collect(),
    };
    let choice = match choose_product(&products, &query) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return 3;
        }
    };
    d.say(format!(
        "cheapest spot offer: {} in {}{} at {}",
        choice.product.name,
        choice.region,
        if choice.preferred {
            ""
        } else {
            " (region fallback: US-WEST-01 has none)"
        },
        choice
            .product
            .spot_price
            .map_or("an unknown price".to_owned(), |p| p.to_string())
    ));

    // 2. Create an instance (a POST: never retried unless surely not acted on).
    let key = WebhookKey::from_bytes(b"novitai-demo-webhook-secret-32b!").expect("non-empty key");
    let signer = Signer::new(key.clone());
    let verifier = Verifier::new(key);
    let create = CreateInstance(CreateInstanceRequest {
        name: Some("novitai-demo".to_owned()),
        product_id: choice.product.id.clone(),
        image_url: "docker.io/library/pytorch:latest".to_owned(),
        ports: Some("8888/http,22/tcp".to_owned()),
        ..CreateInstanceRequest::default()
    });
    let instance_id = match d.call(create) {
        Ok(id) => id,
        Err(e) => return fail(&d, "creating the instance", &e),
    };
    let created_at = d.net.now();
    d.say(format!("created instance {instance_id}"));

    // 3. Watch it with the core's start-up monitor (reads at 5, 10, 15 s,
    //    then every 30 s; its HTTP port probed until healthy; a signed
    //    notification at each phase). Meanwhile, 20 s in, a burst of list
    //    calls shows the limiter, and the outage window the breaker.
    let outcome = match watch(&mut d, &instance_id, seed, created_at, &signer, &verifier) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("error: {e}");
            return 1;
        }
    };

    // 4. Keep watching the fleet through the simulator's outage window: the
    //    breaker opens, callers fail fast, a probe later closes it again.
    watch_fleet(&mut d, Duration::from_mins(3));

    // 5. Clusters again: answered from the cache, nothing sent.
    let cached_before = d.tally.from_cache;
    if let Ok(c) = d.call(ListClusters) {
        let how = if d.tally.from_cache > cached_before {
            "from the response cache, nothing sent"
        } else {
            "the cached answer had expired, so it was fetched again"
        };
        d.say(format!("clusters again: {} ({how})", c.len()));
    }

    // 6. Clean up.
    match d.call(DeleteInstance::new(&instance_id)) {
        Ok(_) => d.say(format!("deleted instance {instance_id}")),
        Err(e) => d.say(format!("delete failed: {e}")),
    }

    summary(&d, wall, &outcome);
    match outcome {
        Outcome::Ready { .. } => 0,
        Outcome::TimedOut { .. } => 4,
        Outcome::Failed { .. } => 3,
    }
}

/// Drives a start-up [`Monitor`] for `instance_id` in virtual time until it
/// finishes: each read is a `GetInstance` through the engine, each probe the
/// simulator's answer for that port, each notification signed and verified.
fn watch(
    d: &mut Demo,
    instance_id: &str,
    seed: u64,
    created_at: Instant,
    signer: &Signer,
    verifier: &Verifier,
) -> Result<Outcome, String> {
    let mut monitor = Monitor::for_create(
        MonitorConfig::default(),
        Target::new(instance_id).instance_id("novitai-demo"),
        Rng::new(seed ^ 0x006d_6f6e_6974_6f72),
        created_at,
        d.unix_now(),
    )
    .map_err(|e| e.to_string())?;
    let burst_at = created_at + Duration::from_secs(20);
    let mut burst_done = false;
    let mut last_status = String::new();
    loop {
        let now = d.net.now();
        match monitor.poll(now) {
            MonitorAction::FetchInstance(fetch) => {
                let read = d.call(GetInstance::new(instance_id));
                let now = d.net.now();
                match read {
                    Ok(inst) => {
                        let status = inst.status.as_str().to_owned();
                        if status != last_status {
                            d.say(format!("instance {instance_id} is {status}"));
                            last_status = status;
                        }
                        monitor.on_instance(fetch, &inst, now);
                    }
                    Err(e) => {
                        let e = FetchError::from_error(&e);
                        if let FetchError::Transient(why) = &e {
                            d.say(format!("read failed, the monitor polls on: {why}"));
                        }
                        monitor.on_fetch_error(fetch, e, now);
                    }
                }
            }
            MonitorAction::Probe(p) => {
                let now = d.net.now();
                let rt = Duration::from_millis(20);
                let result = match d.net.sim.probe_endpoint(instance_id, p.port, now) {
                    EndpointProbe::Ready => ProbeResult::status(200, rt),
                    EndpointProbe::WarmingUp => ProbeResult::status(503, rt),
                    EndpointProbe::Unknown => ProbeResult::status(404, rt),
                    EndpointProbe::Down => {
                        ProbeResult::transport(TransportErrorKind::ConnectionRefused, rt)
                    }
                };
                d.say(format!(
                    "port {} ({}) health: {}",
                    p.port, p.url, result.outcome
                ));
                monitor.on_probe_result(p.id, result, now);
            }
            MonitorAction::Notify(n) => deliver(d, signer, verifier, *n),
            MonitorAction::Finished(outcome) => {
                d.say(match &outcome {
                    Outcome::Ready { elapsed } => {
                        format!("instance {instance_id} is ready after {elapsed}")
                    }
                    other => format!("start-up monitor gave up: {other}"),
                });
                return Ok(outcome);
            }
            MonitorAction::Wait(at) => {
                if !burst_done && now >= burst_at {
                    burst_done = true;
                    burst(d);
                    continue;
                }
                let Some(mut at) = at else {
                    return Err("the start-up monitor waits for nothing".to_owned());
                };
                if !burst_done {
                    at = at.min(burst_at);
                }
                d.sleep(at.saturating_duration_since(now));
            }
        }
    }
}

/// 120 list calls at once: the client limiter (100 per 60 s) makes the rest wait.
fn burst(d: &mut Demo) {
    d.say("burst: 120 list-instances calls at once");
    let mut ids = Vec::new();
    for i in 0..120u32 {
        let ep = ListInstances {
            page_size: 10,
            page_num: 1 + i,
            ..ListInstances::default()
        };
        let mut req = ep.request();
        d.ctx.authorize(&mut req);
        if let Ok(id) = d.net.submit(req, RequestOptions::new()) {
            ids.push(id);
        }
    }
    let mut events = Vec::new();
    let limit = d.net.now() + Duration::from_mins(10);
    let mut left = ids.len();
    let mut ok = 0;
    let mut failed = 0;
    d.net.run(limit, &mut |at, e| {
        events.push((at, e.clone()));
        if let NetEvent::Engine(Event::Completed(c)) = e
            && ids.contains(&c.id)
        {
            left -= 1;
            match &c.outcome {
                Completion::Ok(r) if r.is_success() => ok += 1,
                _ => failed += 1,
            }
        }
        if left == 0 {
            std::ops::ControlFlow::Break(())
        } else {
            std::ops::ControlFlow::Continue(())
        }
    });
    for (at, e) in &events {
        d.observe(*at, e);
    }
    d.say(format!(
        "burst done: {ok} succeeded, {failed} failed fast or gave up"
    ));
}

/// Lists instances every 5 s for `span`, reporting how each call ended.
fn watch_fleet(d: &mut Demo, span: Duration) {
    d.say(format!(
        "watching the fleet for {span} (a list call every 5 s)"
    ));
    let end = d.net.now() + span;
    let (mut ok, mut failed_fast, mut gave_up) = (0, 0, 0);
    while d.net.now() < end {
        match d.call(ListInstances {
            page_size: 10,
            page_num: 1,
            ..ListInstances::default()
        }) {
            Ok(_) => ok += 1,
            Err(Error::BreakerOpen { .. }) => failed_fast += 1,
            Err(e) => {
                gave_up += 1;
                d.say(format!("list failed: {e}"));
            }
        }
        d.sleep(Duration::from_secs(5));
    }
    d.say(format!(
        "fleet watch done: {ok} ok, {failed_fast} failed fast (breaker open), {gave_up} gave up"
    ));
}

fn deliver(d: &mut Demo, signer: &Signer, verifier: &Verifier, note: Notification) {
    let Ok(body) = note.to_json() else {
        d.say("could not encode a notification");
        return;
    };
    let id = format!(
        "msg_{:016x}",
        d.tally.webhooks_verified + d.tally.webhooks_rejected + 1
    );
    let now = d.unix_now();
    let headers = match signer.headers(&id, now, &body) {
        Ok(h) => h,
        Err(e) => {
            d.say(format!("could not sign: {e}"));
            return;
        }
    };
    match verifier.verify(&headers, &body, now) {
        Ok(v) => {
            d.tally.webhooks_verified += 1;
            d.say(format!(
                "webhook {:?} signed and verified (id {})",
                note.status, v.id
            ));
        }
        Err(e) => {
            d.tally.webhooks_rejected += 1;
            d.say(format!("webhook rejected: {e}"));
        }
    }
    // A replay with a tampered body must fail.
    let mut tampered = body;
    tampered.push(b' ');
    if verifier.verify(&headers, &tampered, now).is_err() {
        d.tally.webhooks_rejected += 1;
    }
}

fn fail(d: &Demo, what: &str, e: &Error) -> i32 {
    eprintln!("error while {what}: {e}");
    let _ = d;
    if e.label() == "timeout" { 4 } else { 3 }
}

fn summary(d: &Demo, wall: WallClock, outcome: &Outcome) {
    let t = &d.tally;
    let stats = d.net.sim.stats();
    println!();
    println!("summary");
    println!(
        "  outcome              {}",
        if outcome.is_ready() {
            "instance reached running and its ports answered".to_owned()
        } else {
            format!("instance did not become ready: {outcome}")
        }
    );
    println!("  requests sent        {}", t.sent);
    println!("  retries              {}", t.retries);
    println!("  failed attempts      {}", t.failures_seen);
    println!("  faults injected      {:?}", stats.faults);
    println!(
        "  breaker transitions  {}",
        if t.breaker_transitions.is_empty() {
            "none".to_owned()
        } else {
            t.breaker_transitions.join("; ")
        }
    );
    println!("  rate-limit waits     {}", t.rate_limit_waits);
    println!("  served from cache    {}", t.from_cache);
    println!("  coalesced GETs       {}", t.coalesced);
    println!(
        "  webhooks verified    {} (tampered copies rejected: {})",
        t.webhooks_verified, t.webhooks_rejected
    );
    println!(
        "  virtual time         {}",
        Duration::from_millis(d.net.now().as_millis())
    );
    println!("  wall time            {:.0?}", wall.elapsed());
}
