//! Watch every instance of the account: list them page by page every few
//! seconds and print each status change.
//!
//! ```text
//! cargo run -p novitai-tokio --example monitor_instances --features sim
//! ```
//!
//! Without `NOVITA_API_KEY` it runs against the simulator started in this
//! process, after creating two instances there to watch (one whose image
//! fails); with it, it only reads the real account.

#[path = "common/mod.rs"]
mod common;

use std::collections::HashMap;
use std::error::Error;
use std::time::Duration;

use novitai_tokio::Novita;
use novitai_tokio::core::api::instances::{CreateInstanceRequest, ListInstances};
use novitai_tokio::core::sim::FaultPlan;

/// Lists the instances `rounds` times, `every` apart, printing changes.
/// Returns how many status changes were seen.
pub async fn watch(novita: &Novita, rounds: u32, every: Duration) -> Result<usize, Box<dyn Error>> {
    let mut last: HashMap<String, String> = HashMap::new();
    let mut changes = 0;
    for round in 1..=rounds {
        let instances = novita.list_all_instances(ListInstances::default()).await?;
        for i in &instances {
            let status = i.status.as_str().to_owned();
            let before = last.insert(i.id.clone(), status.clone());
            if before.as_ref() != Some(&status) {
                changes += 1;
                println!(
                    "round {round}: {} ({}) {} -> {status}{}",
                    i.id,
                    i.name.as_deref().unwrap_or("-"),
                    before.as_deref().unwrap_or("new"),
                    i.failure().map(|m| format!(" ({m})")).unwrap_or_default()
                );
            }
        }
        if round < rounds {
            tokio::time::sleep(every).await;
        }
    }
    let status = novita.status().await?;
    println!(
        "{} requests sent, breaker {:?}, {} cached answers",
        status.submitted, status.breaker, status.cache_entries
    );
    Ok(changes)
}

/// Two instances to watch on the simulator.
pub async fn seed_instances(novita: &Novita) -> Result<(), Box<dyn Error>> {
    for (name, image) in [
        ("watched-ok", "nvidia/cuda:12.4.0-runtime-ubuntu22.04"),
        ("watched-fails", "registry.example/sim-fail:latest"),
    ] {
        let mut r = CreateInstanceRequest::new("rtx-4090-24gb.cn-hk-01", 1, 60, image);
        r.name = Some(name.to_owned());
        let id = novita.create_instance(r).await?;
        println!("created {id} ({name})");
    }
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let setup = common::connect(FaultPlan::none()).await?;
    if setup.simulated() {
        seed_instances(&setup.novita).await?;
    }
    watch(&setup.novita, 8, Duration::from_secs(1)).await?;
    setup.finish().await;
    Ok(())
}
