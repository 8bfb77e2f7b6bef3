//! A small load test: N concurrent calls through one client, then the
//! throughput, the retries the engine made, and the breaker's transitions
//! as seen from `status()`.
//!
//! ```text
//! cargo run -p novitai-tokio --example load_test --features sim -- 500
//! ```
//!
//! Without `NOVITA_API_KEY` it runs against the simulator started in this
//! process with its demo fault plan (latency, 5xx bursts, 429s, resets,
//! outages), so retries and breaker trips show up; with it, against the
//! real API (read-only calls: pages of the instance list).

#[path = "common/mod.rs"]
mod common;

use std::error::Error;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use novitai_tokio::Novita;
use novitai_tokio::client::USER_AGENT;
use novitai_tokio::core::api::instances::ListInstances;
use novitai_tokio::core::api::{ApiContext, Endpoint};
use novitai_tokio::core::breaker::State as BreakerState;
use novitai_tokio::core::engine::RequestOptions;
use novitai_tokio::core::error::Error as ApiError;
use novitai_tokio::core::sim::FaultPlan;
use tokio::task::JoinSet;

/// What a load test measured.
#[derive(Debug)]
pub struct Report {
    /// Calls made.
    pub calls: usize,
    /// Calls that succeeded.
    pub succeeded: usize,
    /// Attempts beyond the first, over all calls.
    pub retries: u64,
    /// Wall time of the whole run.
    pub elapsed: Duration,
    /// The breaker's states in the order seen, with the time since start.
    pub breaker: Vec<(Duration, BreakerState)>,
}

/// Sends `calls` instance-list calls at once (page 1, 2, ...) and measures
/// them.
pub async fn run(novita: &Novita, calls: usize) -> Result<Report, Box<dyn Error>> {
    // The driver is used directly (rather than `novita.instances`) to see
    // each call's attempt count.
    let context = Arc::new(ApiContext::new(
        novita.config().api_key.clone(),
        USER_AGENT,
    )?);
    let started = Instant::now();
    let initial = novita.status().await?.breaker;
    let done = Arc::new(AtomicBool::new(false));
    let watcher = {
        let novita = novita.clone();
        let done = Arc::clone(&done);
        tokio::spawn(async move {
            let mut seen: Vec<(Duration, BreakerState)> = vec![(Duration::ZERO, initial)];
            while !done.load(Ordering::Relaxed) {
                if let Ok(s) = novita.status().await
                    && seen.last().map(|l| l.1) != Some(s.breaker)
                {
                    seen.push((started.elapsed(), s.breaker));
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            seen
        })
    };
    let mut tasks = JoinSet::new();
    for i in 0..calls {
        let novita = novita.clone();
        let context = Arc::clone(&context);
        tasks.spawn(async move {
            // Distinct pages: identical GETs in flight together would be
            // coalesced by the engine into one request.
            let endpoint = ListInstances {
                page_num: u32::try_from(i).unwrap_or(u32::MAX).saturating_add(1),
                ..ListInstances::default()
            };
            let mut request = endpoint.request();
            context.authorize(&mut request);
            let options = RequestOptions::new().idempotent(endpoint.is_idempotent());
            match novita.driver().send(request, options).await {
                Ok(completed) => {
                    let ok = ApiError::result_of(&endpoint, &completed).is_ok();
                    (ok, completed.attempts)
                }
                Err(_) => (false, 0),
            }
        });
    }
    let (mut succeeded, mut retries) = (0, 0u64);
    while let Some(joined) = tasks.join_next().await {
        let (ok, attempts) = joined?;
        succeeded += usize::from(ok);
        retries += u64::from(attempts.saturating_sub(1));
    }
    let elapsed = started.elapsed();
    done.store(true, Ordering::Relaxed);
    let breaker = watcher.await?;
    Ok(Report {
        calls,
        succeeded,
        retries,
        elapsed,
        breaker,
    })
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let calls: usize = match std::env::args().nth(1) {
        Some(n) => n.parse()?,
        None => 200,
    };
    let setup = common::connect(FaultPlan::default_demo()).await?;
    let r = run(&setup.novita, calls).await?;
    println!(
        "{} calls in {:.2} s: {:.1} calls/s, {} succeeded, {} retries",
        r.calls,
        r.elapsed.as_secs_f64(),
        r.calls as f64 / r.elapsed.as_secs_f64().max(0.001),
        r.succeeded,
        r.retries
    );
    for (at, state) in &r.breaker {
        println!("  breaker {state:?} at {:.2} s", at.as_secs_f64());
    }
    setup.finish().await;
    Ok(())
}
