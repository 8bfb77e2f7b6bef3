//! Create several instances at once through one client and wait for all of
//! them. The example just starts every create-and-wait together; the
//! engine's concurrency cap, rate limiter and breaker pace the actual
//! requests (nothing here sleeps or throttles).
//!
//! ```text
//! cargo run -p novitai-tokio --example batch_creation --features sim
//! ```
//!
//! Without `NOVITA_API_KEY` it runs against the simulator started in this
//! process; with it, against the real API (this creates — and then deletes —
//! billed instances).

#[path = "common/mod.rs"]
mod common;

use std::error::Error;

use novitai_tokio::Novita;
use novitai_tokio::core::api::instances::CreateInstanceRequest;
use novitai_tokio::core::sim::FaultPlan;
use novitai_tokio::lifecycle::{WaitError, WaitOptions, WaitOutcome};
use tokio::task::JoinSet;

/// How many instances the example creates.
const COUNT: usize = 5;

/// Creates `count` instances concurrently, waits for each, deletes them.
/// Returns each wait's result in creation order.
pub async fn run(
    novita: &Novita,
    count: usize,
    options: WaitOptions,
) -> Result<Vec<Result<WaitOutcome, WaitError>>, Box<dyn Error>> {
    let started = std::time::Instant::now();
    let mut waits = JoinSet::new();
    for i in 0..count {
        let novita = novita.clone();
        let options = options.clone();
        waits.spawn(async move {
            let mut request = CreateInstanceRequest::new(
                "rtx-4090-24gb.cn-hk-01",
                1,
                60,
                "nvidia/cuda:12.4.0-runtime-ubuntu22.04",
            );
            request.name = Some(format!("batch-{i}"));
            request.ports = Some("8888/http".to_owned());
            (i, novita.create_and_wait(request, options).await)
        });
    }
    let mut results: Vec<Option<Result<WaitOutcome, WaitError>>> =
        (0..count).map(|_| None).collect();
    while let Some(joined) = waits.join_next().await {
        let (i, result) = joined?;
        match &result {
            Ok(done) => println!("batch-{i}: {} {}", done.instance_id, done.outcome),
            Err(e) => println!("batch-{i}: not created: {e}"),
        }
        if let Some(slot) = results.get_mut(i) {
            *slot = Some(result);
        }
    }
    let results: Vec<Result<WaitOutcome, WaitError>> = results.into_iter().flatten().collect();
    let ready = results
        .iter()
        .filter(|r| r.as_ref().is_ok_and(|d| d.outcome.is_ready()))
        .count();
    let status = novita.status().await?;
    println!(
        "{ready} of {count} ready in {:.1} s; at most {} requests were active at once, breaker {:?}",
        started.elapsed().as_secs_f64(),
        status.max_in_flight,
        status.breaker
    );
    for done in results.iter().flatten() {
        novita.delete_instance(&done.instance_id).await?;
    }
    Ok(results)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let setup = common::connect(FaultPlan::none()).await?;
    run(&setup.novita, COUNT, WaitOptions::default()).await?;
    setup.finish().await;
    Ok(())
}
