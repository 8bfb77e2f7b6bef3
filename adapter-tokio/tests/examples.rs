//! The examples' bodies run against the simulator in-process, with a quick
//! monitor configuration so each takes a few seconds.
#![cfg(feature = "sim")]
// Each example file declares `common` itself, so it is loaded once per
// example here; the copies are identical.
#![allow(clippy::duplicate_mod)]

#[path = "../examples/create_instance.rs"]
#[allow(dead_code)]
mod create_instance;

#[path = "../examples/batch_creation.rs"]
#[allow(dead_code)]
mod batch_creation;

#[path = "../examples/monitor_instances.rs"]
#[allow(dead_code)]
mod monitor_instances;

#[path = "../examples/load_test.rs"]
#[allow(dead_code)]
mod load_test;

#[cfg(feature = "axum")]
#[path = "../examples/webhook_handler.rs"]
#[allow(dead_code)]
mod webhook_handler;

#[path = "../examples/common/mod.rs"]
mod common;

#[path = "common/sim.rs"]
#[allow(dead_code)]
mod test_sim;

/// The smallest intervals the monitor allows.
fn quick() -> WaitOptions {
    WaitOptions::default()
        .seed(1)
        .monitor(test_sim::quick_monitor())
}

use novitai_tokio::Novita;
use novitai_tokio::core::sim::FaultPlan;
use novitai_tokio::lifecycle::WaitOptions;
use novitai_tokio::sim_server::SimServerHandle;

async fn setup(faults: FaultPlan) -> (SimServerHandle, Novita) {
    let sim = common::simulator(faults, 100.0).await.expect("simulator");
    let novita = common::sim_client(&sim).expect("client");
    (sim, novita)
}

#[tokio::test]
async fn create_instance_example_ends_ready_and_deletes_the_instance() {
    let (sim, novita) = setup(FaultPlan::none()).await;
    let done = create_instance::run(&novita, quick()).await.expect("runs");
    assert!(done.outcome.is_ready(), "{}", done.outcome);
    // Deleted: being removed, or already gone (404).
    if let Ok(after) = novita.instance(&done.instance_id).await {
        assert_ne!(
            after.status,
            novitai_tokio::core::api::instances::InstanceStatus::Running,
            "the instance is being deleted"
        );
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn batch_creation_example_gets_every_instance_ready() {
    let (sim, novita) = setup(FaultPlan::none()).await;
    let results = batch_creation::run(&novita, 3, quick())
        .await
        .expect("runs");
    assert_eq!(results.len(), 3);
    for r in &results {
        let done = r.as_ref().expect("created");
        assert!(done.outcome.is_ready(), "{}", done.outcome);
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn monitor_instances_example_sees_the_instances_change() {
    let (sim, novita) = setup(FaultPlan::none()).await;
    monitor_instances::seed_instances(&novita)
        .await
        .expect("seeded");
    let changes = monitor_instances::watch(&novita, 3, std::time::Duration::from_millis(500))
        .await
        .expect("runs");
    assert!(changes >= 2, "both instances were reported");
    sim.shutdown().await;
}

#[tokio::test]
async fn load_test_example_counts_calls_and_retries_under_faults() {
    let plan = FaultPlan::parse("5xx=0.2").expect("plan");
    let (sim, novita) = setup(plan).await;
    let r = load_test::run(&novita, 40).await.expect("runs");
    assert_eq!(r.calls, 40);
    assert!(r.succeeded > 0);
    assert!(
        r.retries > 0,
        "20% 5xx over 40 calls causes retries: {r:?} {:?}",
        sim.stats()
    );
    assert!(!r.breaker.is_empty(), "the breaker state was observed");
    sim.shutdown().await;
}

#[cfg(feature = "axum")]
#[tokio::test]
async fn webhook_handler_example_receives_every_notification_verified() {
    let (sim, novita) = setup(FaultPlan::none()).await;
    let (done, received) = webhook_handler::self_contained(&novita, quick())
        .await
        .expect("runs");
    assert!(done.outcome.is_ready(), "{}", done.outcome);
    assert_eq!(received.len(), done.webhooks.len());
    assert_eq!(received.len(), 3, "running, health_checking, ready");
    sim.shutdown().await;
}
