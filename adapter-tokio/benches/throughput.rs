//! Requests per second through the adapter vs plain reqwest, against the same
//! local axum server answering 200 `{}` at once, with 64 concurrent callers.
//!
//! `cargo bench -p novitai-tokio --bench throughput [-- SECONDS [ROUNDS]]`
//!
//! Each round measures, for SECONDS each (default 3) after a warm-up (1 s,
//! or SECONDS / 2 when shorter):
//!
//! - `plain`: plain reqwest, `GET /v1/ping`;
//! - `driver`: the raw driver (`Driver::send`, no coalescing: every call is
//!   a transmission), the same request;
//! - `plain-typed`: plain reqwest sending what the typed client sends for
//!   `instance(id)` (query, `Authorization`, `User-Agent`, `Content-Type`,
//!   `Accept`)
//!   and parsing the JSON answer: the fair baseline for `typed`;
//! - `typed`: the typed client, `Novita::instance` (a distinct id per caller
//!   so nothing coalesces);
//! - `plain-corr`: plain reqwest sending `X-Correlation-ID` with a fresh id
//!   per request, as the driver does: what the correlation header alone
//!   costs (the server parses one more header, a name it allocates), for
//!   telling it from the driver's own cost.
//!
//! The median over ROUNDS (default 3) is reported with the ratios, and also
//! the median of each round's own ratios: on a shared, noisy machine many
//! short rounds (e.g. `-- 0.5 30`) compare the kinds under the same load.
//! CPU time per request covers the whole process (callers, adapter,
//! reqwest and the server). `BENCH_ONLY=plain,driver` runs only those kinds;
//! `BENCH_WORKERS=1` runs the runtime on one worker thread (to tell
//! instruction costs from the cost of sharing the engine between cores). The adapter runs a permissive config: a limit
//! of a million requests per second, 256 in flight.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use novitai_core::config::Config;
use novitai_core::engine::{EngineConfig, RequestOptions};
use novitai_core::http::{HttpRequest, Method};
use novitai_core::limiter::{RateLimitConfig, WindowConfig};
use novitai_core::queue::QueueConfig;
use novitai_tokio::Novita;

const CALLERS: usize = 64;

async fn server() -> String {
    let app = axum::Router::new().fallback(|| async { "{}" });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

/// The process's CPU time (user + system) in seconds, from `/proc/self/stat`
/// (clock ticks of 1/100 s); 0 where unavailable.
fn cpu_secs() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return 0.0;
    };
    let Some((_, rest)) = stat.rsplit_once(')') else {
        return 0.0;
    };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After the command name: state is field 3, utime 14, stime 15.
    let ticks = |i: usize| {
        fields
            .get(i - 3)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(14) + ticks(15)) / 100.0
}

/// One measurement: requests per second, and CPU microseconds per request
/// (the whole process: callers, adapter, reqwest and the server).
#[derive(Clone, Copy)]
struct Sample {
    rps: f64,
    cpu_us: f64,
}

/// Runs `CALLERS` loops of `call` for `secs`.
async fn measure<F, Fut>(secs: f64, call: F) -> Sample
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = bool> + Send,
{
    let call = Arc::new(call);
    let stop = Arc::new(AtomicBool::new(false));
    let count = Arc::new(AtomicU64::new(0));
    let failures = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for caller in 0..CALLERS {
        let (call, stop, count, failures) = (
            Arc::clone(&call),
            Arc::clone(&stop),
            Arc::clone(&count),
            Arc::clone(&failures),
        );
        tasks.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                if call(caller).await {
                    count.fetch_add(1, Ordering::Relaxed);
                } else {
                    failures.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_secs_f64((secs / 2.0).min(1.0))).await;
    let before = count.load(Ordering::Relaxed);
    let started = Instant::now();
    let cpu_before = cpu_secs();
    tokio::time::sleep(Duration::from_secs_f64(secs)).await;
    let after = count.load(Ordering::Relaxed);
    let cpu = cpu_secs() - cpu_before;
    let elapsed = started.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        let _ = t.await;
    }
    assert_eq!(failures.load(Ordering::Relaxed), 0, "calls failed");
    let n = (after - before) as f64;
    if std::env::var_os("BENCH_ONLY").is_some() {
        // For instruction counts under valgrind: every call of the process.
        eprintln!("calls in total: {}", count.load(Ordering::Relaxed));
    }
    Sample {
        rps: n / elapsed,
        cpu_us: cpu * 1e6 / n.max(1.0),
    }
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let secs: f64 = args.first().and_then(|s| s.parse().ok()).unwrap_or(3.0);
    let rounds: usize = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(3);
    let mut rt = tokio::runtime::Builder::new_multi_thread();
    // BENCH_WORKERS=N: the runtime's worker threads (default: one per core).
    if let Some(n) = std::env::var("BENCH_WORKERS")
        .ok()
        .and_then(|n| n.parse().ok())
    {
        rt.worker_threads(n);
    }
    let rt = rt.enable_all().build().unwrap();
    rt.block_on(async move {
        let base = server().await;
        let plain = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let config = Config::from_pairs([
            ("NOVITA_API_KEY", "sk_bench_0123456789"),
            ("NOVITA_API_BASE_URL", base.as_str()),
        ])
        .unwrap();
        let engine = EngineConfig {
            max_in_flight: 256,
            queue: QueueConfig::new(10_000).unwrap(),
            rate_limit: RateLimitConfig::SlidingWindow(WindowConfig {
                max: 1_000_000,
                window: novitai_core::Duration::from_secs(1),
            }),
            ..EngineConfig::from_config(&config)
        };
        let novita = Novita::builder()
            .config(config)
            .engine_config(engine)
            .seed(1)
            .build()
            .unwrap();

        // BENCH_ONLY=driver (or plain, plain-typed, typed, or a comma list)
        // runs those kinds alone, for profiling, and prints how many calls the process made
        // in total (e.g. to divide `valgrind --tool=callgrind`'s
        // instruction count).
        let only = std::env::var("BENCH_ONLY").ok();
        let run = |kind: &str| only.as_deref().is_none_or(|o| o.split(',').any(|o| o == kind));
        let skipped = Sample {
            rps: f64::NAN,
            cpu_us: f64::NAN,
        };
        let auth = "Bearer sk_bench_0123456789";
        let agent = novitai_tokio::client::USER_AGENT;
        let (mut p, mut d, mut pt, mut t) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        let mut pc = Vec::new();
        let ids = Arc::new(AtomicU64::new(0));
        for round in 1..=rounds {
            let (client, url) = (plain.clone(), format!("{base}/v1/ping"));
            let rp = if !run("plain") { skipped } else { measure(secs, move |_| {
                let (client, url) = (client.clone(), url.clone());
                async move {
                    match client.get(&url).send().await {
                        Ok(r) => r.status().is_success() && r.bytes().await.is_ok(),
                        Err(_) => false,
                    }
                }
            })
            .await };
            let driver = novita.driver().clone();
            let rd = if !run("driver") { skipped } else { measure(secs, move |_| {
                let driver = driver.clone();
                async move {
                    let mut options = RequestOptions::new();
                    options.coalesce = false;
                    match driver
                        .send(HttpRequest::new(Method::Get, "/v1/ping"), options)
                        .await
                    {
                        Ok(c) => c.outcome.is_success(),
                        Err(_) => false,
                    }
                }
            })
            .await };
            let (client, base_) = (plain.clone(), base.clone());
            let rpt = if !run("plain-typed") { skipped } else { measure(secs, move |caller| {
                let client = client.clone();
                let url = format!("{base_}/v1/gpu/instance?instanceId=bench-{caller:02}");
                async move {
                    let sent = client
                        .get(&url)
                        .header("Authorization", auth)
                        .header("User-Agent", agent)
                        .header("Content-Type", "application/json")
                        .header("Accept", "application/json")
                        .send()
                        .await;
                    match sent {
                        Ok(r) if r.status().is_success() => match r.bytes().await {
                            Ok(b) => serde_json::from_slice::<serde_json::Value>(&b).is_ok(),
                            Err(_) => false,
                        },
                        _ => false,
                    }
                }
            })
            .await };
            let typed = novita.clone();
            let rt_ = if !run("typed") { skipped } else { measure(secs, move |caller| {
                let typed = typed.clone();
                async move {
                    // `{}` is not an instance: the call ends in a decode
                    // error after a full round trip; only the trip counts.
                    matches!(
                        typed.instance(format!("bench-{caller:02}")).await,
                        Ok(_) | Err(novitai_core::error::Error::Api(_))
                    )
                }
            })
            .await };
            let (client, url, ids_) = (plain.clone(), format!("{base}/v1/ping"), Arc::clone(&ids));
            let rpc = if !run("plain-corr") { skipped } else { measure(secs, move |_| {
                let (client, url) = (client.clone(), url.clone());
                let id = format!("nv-{:016x}", ids_.fetch_add(1, Ordering::Relaxed));
                async move {
                    match client.get(&url).header("X-Correlation-ID", id).send().await {
                        Ok(r) => r.status().is_success() && r.bytes().await.is_ok(),
                        Err(_) => false,
                    }
                }
            })
            .await };
            println!(
                "round {round}: plain {:>6.0} req/s {:>5.1} us/req | driver {:>6.0} {:>5.1} ({:.3}x) | plain-typed {:>6.0} {:>5.1} | typed {:>6.0} {:>5.1} ({:.3}x) | plain-corr {:>6.0} {:>5.1} (driver {:.3}x)",
                rp.rps,
                rp.cpu_us,
                rd.rps,
                rd.cpu_us,
                rd.rps / rp.rps,
                rpt.rps,
                rpt.cpu_us,
                rt_.rps,
                rt_.cpu_us,
                rt_.rps / rpt.rps,
                rpc.rps,
                rpc.cpu_us,
                rd.rps / rpc.rps
            );
            p.push(rp);
            d.push(rd);
            pt.push(rpt);
            t.push(rt_);
            pc.push(rpc);
        }
        let med = |v: &[Sample], f: fn(&Sample) -> f64| {
            let mut x: Vec<f64> = v.iter().map(f).collect();
            median(&mut x)
        };
        let rps = |s: &Sample| s.rps;
        let cpu = |s: &Sample| s.cpu_us;
        // Each round's own ratio of `v` to `base`, the median over rounds.
        let paired = |v: &[Sample], base: &[Sample], f: fn(&Sample) -> f64, inverse: bool| {
            let mut x: Vec<f64> = v
                .iter()
                .zip(base)
                .map(|(a, b)| if inverse { f(b) / f(a) } else { f(a) / f(b) })
                .collect();
            median(&mut x)
        };
        println!("median over {rounds} rounds of {secs} s, {CALLERS} callers:");
        for (name, v, base, base_name) in [
            ("plain      ", &p, None, ""),
            ("driver     ", &d, Some(&p), "plain"),
            ("plain-typed", &pt, None, ""),
            ("typed      ", &t, Some(&pt), "plain-typed"),
            ("plain-corr ", &pc, None, ""),
            ("driver     ", &d, Some(&pc), "plain-corr"),
        ] {
            let (r, c) = (med(v, rps), med(v, cpu));
            match base {
                None => println!("  {name} {r:>7.0} req/s, {c:>5.1} us cpu/req"),
                Some(b) => println!(
                    "  {name} {r:>7.0} req/s, {c:>5.1} us cpu/req; vs {base_name}: {:.3}x req/s, {:.3}x per cpu \
                     (each round's own ratio: {:.3}x req/s, {:.3}x per cpu)",
                    r / med(b, rps),
                    med(b, cpu) / c,
                    paired(v, b, rps, false),
                    paired(v, b, cpu, true),
                ),
            }
        }
        println!(
            "  typed vs plain: {:.3}x req/s, {:.3}x per cpu",
            med(&t, rps) / med(&p, rps),
            med(&p, cpu) / med(&t, cpu)
        );
        novita.shutdown().await;
    });
}
