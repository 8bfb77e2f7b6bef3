//! Create a GPU instance and wait until it is ready: the cheapest RTX 4090
//! in the preferred regions, created, polled through the engine until
//! `running`, its HTTP port health-checked, then deleted again.
//!
//! ```text
//! cargo run -p novitai-tokio --example create_instance --features sim
//! ```
//!
//! Without `NOVITA_API_KEY` it runs against the simulator started in this
//! process; with it, against the real API (this creates — and then deletes —
//! a billed instance).

#[path = "common/mod.rs"]
mod common;

use std::error::Error;

use novitai_tokio::Novita;
use novitai_tokio::core::api::instances::CreateInstanceRequest;
use novitai_tokio::core::api::products::ProductQuery;
use novitai_tokio::core::sim::FaultPlan;
use novitai_tokio::lifecycle::{Progress, ProgressEvent, WaitOptions, WaitOutcome};

/// Picks a product, creates the instance, waits, deletes it.
pub async fn run(novita: &Novita, options: WaitOptions) -> Result<WaitOutcome, Box<dyn Error>> {
    let choice = novita
        .optimal_product(&ProductQuery::named("RTX 4090"))
        .await?;
    println!(
        "product {} in {} (spot price {})",
        choice.product.id,
        choice.region,
        choice
            .product
            .spot_price
            .map_or_else(|| "unknown".to_owned(), |p| p.to_string())
    );
    let mut request = CreateInstanceRequest::new(
        choice.product.id.clone(),
        1,
        60,
        "nvidia/cuda:12.4.0-runtime-ubuntu22.04",
    );
    request.name = Some("novitai-example".to_owned());
    request.ports = Some("8888/http,22/tcp".to_owned());

    let (wait, mut progress) = novita.create_and_wait(request, options).into_parts();
    let printer = tokio::spawn(async move {
        while let Some(p) = progress.recv().await {
            print_progress(&p);
        }
    });
    let done = wait.await?;
    printer.await?;
    println!("instance {}: {}", done.instance_id, done.outcome);
    if let Some(instance) = &done.instance {
        for port in &instance.port_mappings {
            println!(
                "  port {} -> {}",
                port.port.unwrap_or_default(),
                port.endpoint.as_deref().unwrap_or("-")
            );
        }
    }
    novita.delete_instance(&done.instance_id).await?;
    println!("instance {} deleted", done.instance_id);
    Ok(done)
}

/// One line per step.
pub fn print_progress(p: &Progress) {
    let status = p.status.as_ref().map_or("-", |s| s.as_str());
    match &p.event {
        ProgressEvent::Started => println!("[{:>6}] monitoring {}", p.elapsed, p.instance_id),
        ProgressEvent::Polled => println!("[{:>6}] poll {}: {status}", p.elapsed, p.polls),
        ProgressEvent::PollFailed => println!(
            "[{:>6}] poll {} failed: {}",
            p.elapsed,
            p.polls,
            p.last_error.as_deref().unwrap_or("?")
        ),
        ProgressEvent::Probed { port, result } => println!(
            "[{:>6}] probe of port {port}: {} in {}",
            p.elapsed, result.outcome, result.response_time
        ),
        ProgressEvent::Notified(n) => {
            println!("[{:>6}] notification: {:?}", p.elapsed, n.status);
        }
        ProgressEvent::Finished(outcome) => println!("[{:>6}] finished: {outcome}", p.elapsed),
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let setup = common::connect(FaultPlan::none()).await?;
    run(&setup.novita, WaitOptions::default()).await?;
    setup.finish().await;
    Ok(())
}
