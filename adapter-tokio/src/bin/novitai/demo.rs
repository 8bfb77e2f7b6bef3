//! `novitai demo`: the project's main job over real sockets. The simulator
//! server and a verifying webhook receiver run in-process on 127.0.0.1; the
//! real `Novita` client picks a product, creates an instance, and the core's
//! start-up monitor ([`Novita::wait_until_ready`]) watches it start through
//! injected faults, health-checks its port over HTTP and sends a signed
//! notification of each phase through the durable webhook sender; then the
//! demo rides out an outage and summarises. No API key, no network.
//! `--live` runs the same story against the real API.

use std::sync::Arc;
use std::time::{Duration, Instant as WallClock};

use novitai_tokio::Novita;
use novitai_tokio::core::api::instances::{CreateInstanceRequest, ListInstances};
use novitai_tokio::core::api::products::{FALLBACK_REGIONS, ProductQuery};
use novitai_tokio::core::config::Config;
use novitai_tokio::core::monitor::{MonitorConfig, Outcome};
use novitai_tokio::core::sim::FaultPlan;
use novitai_tokio::core::webhook::{Signer, UrlPolicy, Verifier, WebhookKey};
use novitai_tokio::lifecycle::{WaitOptions, WebhookTarget};
use novitai_tokio::sim_server::{SimServer, SimServerConfig, SimServerHandle};
use novitai_tokio::webhook::{
    DeliveryOutcome, DeliveryReport, FileOutbox, SenderConfig, WebhookReceiver, WebhookSender,
};
use tokio::sync::mpsc::UnboundedReceiver;

use crate::events;
use crate::exit::CliError;
use crate::sim::fault_plan;
use crate::wait::{View, follow, verdict, wait_error};

/// How much faster than real time the simulated world runs in the demo: an
/// instance that takes two minutes to pull and start runs in ~6 s.
pub const TIME_SCALE: f64 = 20.0;
/// The demo gives up after this long.
const DEMO_LIMIT: Duration = Duration::from_secs(55);
const SIM_KEY: &str = "sk_demo_0123456789abcdef";
const WEBHOOK_SECRET: &[u8] = b"novitai-demo-webhook-secret-32b!";

/// `novitai demo` options (without `--virtual`).
pub struct DemoArgs {
    /// Simulator and client seed.
    pub seed: u64,
    /// Fault plan text.
    pub faults: String,
    /// Against the real API (needs NOVITA_API_KEY).
    pub live: bool,
}

struct Story {
    start: WallClock,
}

impl Story {
    fn say(&self, text: impl AsRef<str>) {
        println!(
            "{:>7}  {}",
            format!("{:.1}s", self.start.elapsed().as_secs_f64()),
            text.as_ref()
        );
    }
}

/// The demo's client settings: short timeouts and open times so faults and
/// the outage play out in seconds of wall time, a small rate limit so a
/// burst shows the limiter.
fn demo_config(base_url: &str) -> Result<Config, CliError> {
    let pairs = [
        ("NOVITA_API_KEY", SIM_KEY),
        ("NOVITA_API_BASE_URL", base_url),
        ("REQUEST_TIMEOUT", "5000"),
        ("MAX_RETRY_ATTEMPTS", "4"),
        ("RETRY_BASE_DELAY_MS", "100"),
        ("RETRY_MAX_DELAY_MS", "2000"),
        ("CIRCUIT_BREAKER_FAILURE_THRESHOLD", "3"),
        ("CIRCUIT_BREAKER_OPEN_MS", "1500"),
        ("CIRCUIT_BREAKER_SUCCESS_THRESHOLD", "2"),
        ("RATE_LIMIT_WINDOW_MS", "2000"),
        ("RATE_LIMIT_MAX_REQUESTS", "20"),
        ("CACHE_ENABLED", "true"),
    ];
    Config::from_pairs(pairs).map_err(|e| CliError::Other(format!("demo config: {e}")))
}

/// The monitor in the demo: the defaults (polls at 5, 10, 15 s, then every
/// 30 s; health probes with a 10 s timeout, 3 tries a round), in the
/// simulator's time; a 10-minute create timeout (30 s here) so a stuck
/// start-up ends well within the demo's limit.
fn demo_monitor() -> MonitorConfig {
    MonitorConfig {
        create_timeout: novitai_tokio::core::Duration::from_mins(10),
        ..MonitorConfig::default()
    }
}

/// Runs the networked demo; returns the process exit code.
pub async fn run(a: DemoArgs) -> Result<(), CliError> {
    match tokio::time::timeout(DEMO_LIMIT, story(a)).await {
        Ok(r) => r,
        Err(_) => Err(CliError::Timeout(format!(
            "the demo did not finish within {}s; run it again, or with --faults none",
            DEMO_LIMIT.as_secs()
        ))),
    }
}

async fn story(a: DemoArgs) -> Result<(), CliError> {
    let s = Story {
        start: WallClock::now(),
    };
    let plan = fault_plan(&a.faults)?;
    // 1. The API: the simulator in-process, or the real one.
    let (sim, novita) = if a.live {
        if std::env::var("NOVITA_API_KEY").map_or(true, |k| k.trim().is_empty()) {
            return Err(CliError::Config(
                "  - --live needs NOVITA_API_KEY (in the environment or .env); \
                 without it, run `novitai demo` against the built-in simulator"
                    .to_owned(),
            ));
        }
        println!("novitai demo --live — the client against the real Novita API");
        (None, Novita::from_env()?)
    } else {
        let sim = SimServer::start(SimServerConfig {
            seed: a.seed,
            faults: plan.clone(),
            api_key: SIM_KEY.to_owned(),
            time_scale: TIME_SCALE,
            ..SimServerConfig::default()
        })
        .await
        .map_err(|e| CliError::Config(format!("  - {e}")))?;
        let novita = Novita::builder()
            .config(demo_config(sim.base_url())?)
            .seed(a.seed)
            .build()?;
        println!("novitai demo — the client against the Novita simulator over real HTTP");
        println!(
            "  simulator at {} (time ×{TIME_SCALE}); seed {}; faults: {}",
            sim.base_url(),
            a.seed,
            a.faults
        );
        (Some(sim), novita)
    };

    // 2. A verifying webhook receiver, and the durable sender (outbox in a
    //    temporary directory) that posts to it.
    let key = WebhookKey::from_bytes(WEBHOOK_SECRET)
        .map_err(|e| CliError::Other(format!("demo webhook key: {e}")))?;
    let receiver = Arc::new(WebhookReceiver::standard(Verifier::new(key.clone())));
    let (hook_url, hooks) = crate::webhook::serve(receiver, 0, false).await?;
    let outbox_dir = tempfile::tempdir()
        .map_err(|e| CliError::Other(format!("could not make a temporary directory: {e}")))?;
    let outbox = FileOutbox::open(outbox_dir.path())
        .map_err(|e| CliError::Other(format!("could not open the webhook outbox: {e}")))?;
    let mut sender_config = SenderConfig::new(Signer::new(key), Arc::new(outbox));
    // The receiver is on 127.0.0.1: allow loopback for this demo only.
    sender_config.url_policy = UrlPolicy {
        allow_private: true,
        ..UrlPolicy::default()
    };
    sender_config.seed = Some(a.seed);
    let (sender, mut reports) = WebhookSender::new(sender_config)
        .await
        .map_err(|e| CliError::Other(format!("could not start the webhook sender: {e}")))?;
    println!("  webhook receiver at {hook_url}");
    println!();

    // 3. Discover: clusters, then the cheapest spot offer with region fallback.
    let clusters = patiently(&s, "listing clusters", true, || novita.clusters()).await?;
    s.say(format!("found {} clusters", clusters.len()));
    let preferred = "US-WEST-01";
    let query = ProductQuery {
        name: "RTX 4090".to_owned(),
        preferred_region: Some(preferred.to_owned()),
        fallback_regions: FALLBACK_REGIONS.iter().map(|r| (*r).to_owned()).collect(),
    };
    let choice = patiently(&s, "choosing a product", true, || {
        novita.optimal_product(&query)
    })
    .await?;
    s.say(format!(
        "cheapest spot offer: {} in {}{} at {}",
        choice.product.name,
        choice.region,
        if choice.preferred {
            String::new()
        } else {
            format!(" (region fallback: {preferred} has none)")
        },
        choice
            .product
            .spot_price
            .map_or("an unknown price".to_owned(), |p| p.to_string())
    ));

    // 4. A burst of list calls: the client's rate limiter makes the rest wait.
    burst(&s, &novita).await;

    // 5. Create an instance (a POST: retried only if surely not acted on).
    let name = format!("novitai-demo-{}", short_id());
    let create = CreateInstanceRequest {
        name: Some(name.clone()),
        product_id: choice.product.id.clone(),
        image_url: "docker.io/library/pytorch:latest".to_owned(),
        ports: Some("8888/http,22/tcp".to_owned()),
        ..CreateInstanceRequest::default()
    };
    let id = create_reconciled(&s, &novita, &create, &name).await?;
    s.say(format!("created instance {id}"));

    // 6-7. Watch it until it is ready: the core's start-up monitor reads the
    //    instance (through the client's limiter, breaker and retries),
    //    health-checks its HTTP port over real HTTP, and writes a
    //    notification at each phase, delivered signed with the start-up
    //    schedule. Its clock runs as fast as the simulator's world.
    let scale = if sim.is_some() { TIME_SCALE } else { 1.0 };
    let mut options = WaitOptions::default()
        .webhook(WebhookTarget::new(sender.clone(), hook_url.clone()))
        .instance_id(name.clone())
        .seed(a.seed)
        .time_scale(scale);
    if sim.is_some() {
        options = options.monitor(demo_monitor());
    }
    let view = View {
        json: false,
        lines: true,
        origin: s.start,
        scale,
        webhooks: true,
    };
    let done = match follow(&novita, novita.wait_until_ready(&id, options), &view).await {
        Ok(done) => done,
        Err(e) => {
            let _ = novita.delete_instance(&id).await;
            return Err(wait_error(&format!("watching instance {id}"), e));
        }
    };
    for e in &done.webhook_errors {
        s.say(format!("webhook not queued: {e}"));
    }
    let sent = u32::try_from(done.webhooks.len()).unwrap_or(u32::MAX);
    if let Err(e) = verdict(&done) {
        let _ = novita.delete_instance(&id).await;
        let _ = wait_reports(&s, &mut reports, sent).await;
        sender.shutdown().await;
        return Err(e);
    }
    let ready = done.outcome.is_ready();

    // 8. Ride out the simulator's outage window, if there is one ahead.
    if let Some(sim) = &sim {
        ride_out_outage(&s, &novita, sim, &plan).await;
    }

    // 9. Clean up, and wait for every webhook delivery to end.
    match patiently(&s, "deleting the instance", true, || {
        novita.delete_instance(&id)
    })
    .await
    {
        Ok(_) => s.say(format!("deleted instance {id}")),
        Err(e) => s.say(format!("{e}")),
    }
    let delivered = wait_reports(&s, &mut reports, sent).await;
    sender.shutdown().await;

    // 10. Summary.
    let c = events::counts();
    println!();
    println!("summary");
    println!(
        "  outcome              {}",
        if ready {
            "instance reached running and its ports answered"
        } else {
            "instance did not become ready"
        }
    );
    println!(
        "  start-up monitor     {} in {} polls{}",
        match &done.outcome {
            Outcome::Ready { elapsed } => format!("ready after {elapsed}"),
            other => other.to_string(),
        },
        done.polls,
        if sim.is_some() {
            " (simulator time)"
        } else {
            ""
        }
    );
    println!("  requests sent        {}", c.requests);
    println!("  retries              {}", c.retries);
    if let Some(sim) = &sim {
        println!("  faults injected      {}", faults_text(sim));
    }
    println!(
        "  breaker transitions  {}",
        if c.breaker_transitions.is_empty() {
            "none".to_owned()
        } else {
            c.breaker_transitions.join("; ")
        }
    );
    println!("  rate-limit waits     {}", c.rate_limit_waits);
    println!(
        "  webhooks verified    {} (sent {sent}, delivered {delivered})",
        hooks.verified()
    );
    println!(
        "  total time           {:.1}s",
        s.start.elapsed().as_secs_f64()
    );
    if let Some(sim) = sim {
        sim.shutdown().await;
    }
    if hooks.verified() == 0 {
        return Err(CliError::Other(
            "no webhook delivery was verified; run with --verbose to see why".to_owned(),
        ));
    }
    Ok(())
}

/// The faults the simulator injected, e.g. `5xx 3, 429 1, outage 9`.
fn faults_text(sim: &SimServerHandle) -> String {
    let f = sim.stats().faults;
    let parts: Vec<String> = [
        ("5xx", f.server_error),
        ("429", f.rate_limited),
        ("reset", f.reset),
        ("hang", f.hang),
        ("truncated", f.truncated),
        ("outage", f.outage),
        ("slow", f.slow),
    ]
    .iter()
    .filter(|(_, n)| *n > 0)
    .map(|(k, n)| format!("{k} {n}"))
    .collect();
    if parts.is_empty() {
        "none".to_owned()
    } else {
        parts.join(", ")
    }
}

/// Creates the instance. A create is not idempotent: when its answer is lost
/// (a reset, an outage) the instance may or may not exist, so before trying
/// again the demo looks for it by its unique name.
async fn create_reconciled(
    s: &Story,
    novita: &Novita,
    create: &CreateInstanceRequest,
    name: &str,
) -> Result<String, CliError> {
    let mut tries = 0;
    loop {
        tries += 1;
        // Tried again as is only when the breaker refused it unsent.
        let err = match patiently(s, "creating the instance", false, || {
            novita.create_instance(create.clone())
        })
        .await
        {
            Ok(id) => return Ok(id),
            Err(CliError::Api { error, .. }) if error.is_transient() && tries < 3 => error,
            Err(e) => return Err(e),
        };
        s.say(format!(
            "create ended without an answer ({err}); looking for {name} before trying again"
        ));
        let found = patiently(s, "looking for the instance", true, || {
            novita.list_all_instances(ListInstances {
                name: Some(name.to_owned()),
                ..ListInstances::default()
            })
        })
        .await?;
        if let Some(inst) = found.iter().find(|i| i.name.as_deref() == Some(name)) {
            s.say(format!("it was created after all: {}", inst.id));
            return Ok(inst.id.clone());
        }
        s.say("it was not created; creating again");
    }
}

/// 8 random hex digits (a unique instance name per run).
fn short_id() -> String {
    let mut b = [0u8; 4];
    let _ = getrandom::fill(&mut b);
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Runs `call` again while it fails without having sent anything (the
/// breaker is open), waiting as long as the breaker says, and — when
/// `idempotent` — after any transient failure too; at most 6 tries.
async fn patiently<T, F, Fut>(
    s: &Story,
    what: &str,
    idempotent: bool,
    mut call: F,
) -> Result<T, CliError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, novitai_tokio::Error>>,
{
    let mut tries = 0;
    loop {
        tries += 1;
        match call().await {
            Ok(v) => return Ok(v),
            Err(novitai_tokio::Error::BreakerOpen { retry_in, .. }) if tries < 6 => {
                s.say(format!(
                    "{what}: breaker open, nothing sent; trying again in {retry_in}"
                ));
                let ms = retry_in.as_millis().clamp(100, 5_000);
                tokio::time::sleep(Duration::from_millis(ms)).await;
            }
            Err(e) if idempotent && e.is_transient() && tries < 6 => {
                s.say(format!("{what} failed ({e}); trying again in 1s"));
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            Err(e) => {
                return Err(CliError::Api {
                    doing: what.to_owned(),
                    error: e,
                });
            }
        }
    }
}

/// 30 list calls at once against a limit of 20 per 2 s.
async fn burst(s: &Story, novita: &Novita) {
    s.say("burst: 30 list-instances calls at once (client limit: 20 per 2 s)");
    let mut calls = tokio::task::JoinSet::new();
    for i in 0..30u32 {
        let novita = novita.clone();
        calls.spawn(async move {
            novita
                .instances(ListInstances {
                    page_size: 10,
                    page_num: 1 + i,
                    ..ListInstances::default()
                })
                .await
                .is_ok()
        });
    }
    let (mut ok, mut failed) = (0, 0);
    while let Some(done) = calls.join_next().await {
        if done.unwrap_or(false) {
            ok += 1;
        } else {
            failed += 1;
        }
    }
    s.say(format!(
        "burst done: {ok} succeeded, {failed} failed; rate-limit waits so far: {}",
        events::counts().rate_limit_waits
    ));
}

/// Lists instances every 500 ms until the plan's next outage (if it starts
/// within ~20 s of wall time) has passed and the breaker has closed again.
async fn ride_out_outage(s: &Story, novita: &Novita, sim: &SimServerHandle, plan: &FaultPlan) {
    let now = sim.sim_now().as_millis();
    let Some(outage) = plan
        .outages
        .iter()
        .find(|o| o.start.as_millis() + o.length.as_millis() > now)
    else {
        return;
    };
    let end = outage.start.as_millis() + outage.length.as_millis();
    let wall_ms = (end.saturating_sub(now) as f64 / TIME_SCALE) as u64;
    if wall_ms > 20_000 {
        return;
    }
    s.say(format!(
        "watching the fleet through the simulator's outage ({} s simulated, {:.1} s here)",
        outage.length.as_secs(),
        outage.length.as_millis() as f64 / TIME_SCALE / 1000.0
    ));
    let limit = WallClock::now() + Duration::from_millis(wall_ms) + Duration::from_secs(8);
    let (mut ok, mut failed_fast, mut failed) = (0u32, 0u32, 0u32);
    let mut last_breaker = String::from("closed");
    while WallClock::now() < limit {
        match novita.instances(ListInstances::default()).await {
            Ok(_) => ok += 1,
            Err(novitai_tokio::Error::BreakerOpen { .. }) => failed_fast += 1,
            Err(_) => failed += 1,
        }
        let breaker = novita
            .status()
            .await
            .map_or_else(|_| "?".to_owned(), |st| st.breaker.to_string());
        if breaker != last_breaker {
            s.say(format!("circuit breaker {last_breaker} → {breaker}"));
            last_breaker = breaker;
        }
        if sim.sim_now().as_millis() > end && last_breaker == "closed" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    s.say(format!(
        "fleet watch done: {ok} ok, {failed_fast} failed fast (breaker open), {failed} gave up"
    ));
}

/// Waits (up to 10 s) for the sender's report on every message sent;
/// returns how many were delivered.
async fn wait_reports(
    s: &Story,
    reports: &mut UnboundedReceiver<DeliveryReport>,
    sent: u32,
) -> u32 {
    let mut delivered = 0;
    let mut seen = 0;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while seen < sent {
        match tokio::time::timeout_at(deadline, reports.recv()).await {
            Ok(Some(r)) => {
                seen += 1;
                if r.outcome == DeliveryOutcome::Delivered {
                    delivered += 1;
                } else {
                    s.say(format!(
                        "webhook {} not delivered: {:?}",
                        r.id.as_str(),
                        r.outcome
                    ));
                }
            }
            _ => break,
        }
    }
    delivered
}
