//! `create_and_wait` / `start_and_wait` end to end over loopback: the
//! simulator server (its world sped up 100×), the typed client, real health
//! probes of the simulated port endpoints, and (feature `axum`) webhooks
//! delivered to a verifying receiver.
//!
//! The monitor runs on the real clock with its smallest allowed intervals
//! (1 s fast polls); the simulated instances start within about two seconds.
#![cfg(feature = "sim")]

use novitai_tokio::Novita;
use novitai_tokio::core::Duration;
use novitai_tokio::core::api::instances::{CreateInstanceRequest, InstanceStatus};
use novitai_tokio::core::monitor::{FailReason, Outcome, Phase, ProbeOutcome};
use novitai_tokio::core::webhook::{Notification, NotificationStatus};
use novitai_tokio::lifecycle::{Progress, ProgressEvent, WaitError, WaitOptions};
use novitai_tokio::sim_server::SimServerHandle;
use tokio::sync::mpsc::UnboundedReceiver;

const KEY: &str = "sk_sim_lifecycle";

mod common;
use common::sim::quick_monitor as quick;

async fn sim(seed: u64) -> SimServerHandle {
    common::sim::sim_server(seed, KEY).await
}

fn client(s: &SimServerHandle) -> Novita {
    common::sim::sim_client(s, KEY, 11)
}
const PRODUCT: &str = "rtx-4090-24gb.cn-hk-01";

fn options() -> WaitOptions {
    WaitOptions::default().monitor(quick()).seed(3)
}

fn request(image: &str) -> CreateInstanceRequest {
    let mut r = CreateInstanceRequest::new(PRODUCT, 1, 60, image);
    r.name = Some("lifecycle-test".to_owned());
    r.ports = Some("8888/http,22/tcp".to_owned());
    r
}

/// Every progress event (the channel closes when the wait ends).
async fn collect(mut rx: UnboundedReceiver<Progress>) -> Vec<Progress> {
    let mut all = Vec::new();
    while let Some(p) = rx.recv().await {
        all.push(p);
    }
    all
}

fn rank(p: Phase) -> u8 {
    match p {
        Phase::Initiated => 0,
        Phase::Starting => 1,
        Phase::HealthChecking => 2,
        Phase::Ready | Phase::Failed | Phase::TimedOut => 3,
    }
}

fn notified(events: &[Progress]) -> Vec<NotificationStatus> {
    events
        .iter()
        .filter_map(|p| match &p.event {
            ProgressEvent::Notified(n) => Some(n.status),
            _ => None,
        })
        .collect()
}

fn assert_phase_order(events: &[Progress]) {
    for pair in events.windows(2) {
        assert!(
            rank(pair[0].phase) <= rank(pair[1].phase),
            "phase went back: {:?} then {:?}",
            pair[0].phase,
            pair[1].phase
        );
        assert!(pair[0].polls <= pair[1].polls);
    }
    assert_eq!(
        events.first().map(|p| &p.event),
        Some(&ProgressEvent::Started)
    );
    let finished = events
        .iter()
        .filter(|p| matches!(p.event, ProgressEvent::Finished(_)))
        .count();
    assert_eq!(finished, 1, "exactly one Finished event");
    assert!(matches!(
        events.last().map(|p| &p.event),
        Some(ProgressEvent::Finished(_))
    ));
}

#[tokio::test]
async fn a_created_instance_becomes_ready_after_its_port_answers_healthy() {
    let s = sim(1).await;
    let novita = client(&s);
    let (wait, progress) = novita
        .create_and_wait(request("nvidia/cuda:12.4.0-runtime-ubuntu22.04"), options())
        .into_parts();
    let (done, events) = tokio::join!(wait, collect(progress));
    let done = done.expect("the wait runs");
    assert!(done.outcome.is_ready(), "{}", done.outcome);
    let instance = done.instance.expect("the running snapshot");
    assert_eq!(instance.status, InstanceStatus::Running);
    assert_eq!(instance.id, done.instance_id);
    assert!(done.polls >= 1);
    assert!(done.webhooks.is_empty());

    assert_phase_order(&events);
    assert!(events.iter().any(|p| p.phase == Phase::HealthChecking));
    // The HTTP port was probed through the simulator's endpoint, and the
    // last probe was healthy; the tcp port was not probed.
    let probes: Vec<(u16, ProbeOutcome)> = events
        .iter()
        .filter_map(|p| match &p.event {
            ProgressEvent::Probed { port, result } => Some((*port, result.outcome)),
            _ => None,
        })
        .collect();
    assert!(probes.iter().all(|(port, _)| *port == 8888), "{probes:?}");
    assert_eq!(probes.last().map(|p| p.1), Some(ProbeOutcome::Status(200)));
    assert_eq!(
        notified(&events),
        vec![
            NotificationStatus::Running,
            NotificationStatus::HealthChecking,
            NotificationStatus::Ready
        ]
    );
    assert!(matches!(
        &events.last().unwrap().event,
        ProgressEvent::Finished(Outcome::Ready { .. })
    ));
    s.shutdown().await;
}

#[tokio::test]
async fn an_instance_whose_image_fails_ends_failed_with_its_status_error() {
    let s = sim(2).await;
    let novita = client(&s);
    let (wait, progress) = novita
        .create_and_wait(request("registry.example/sim-fail:latest"), options())
        .into_parts();
    let (done, events) = tokio::join!(wait, collect(progress));
    let done = done.expect("the wait runs");
    match &done.outcome {
        Outcome::Failed {
            reason: FailReason::StatusError { .. },
            ..
        } => {}
        other => panic!("expected a status error, got {other:?}"),
    }
    assert!(done.instance.is_some(), "the failed snapshot is returned");
    assert_phase_order(&events);
    assert_eq!(events.last().unwrap().phase, Phase::Failed);
    assert_eq!(notified(&events), vec![NotificationStatus::Failed]);
    s.shutdown().await;
}

#[tokio::test]
async fn a_failed_create_request_is_an_error_and_nothing_is_monitored() {
    let s = sim(3).await;
    let novita = client(&s);
    let bad = CreateInstanceRequest::new("no-such-product", 1, 60, "img");
    let (wait, progress) = novita.create_and_wait(bad, options()).into_parts();
    let (done, events) = tokio::join!(wait, collect(progress));
    assert!(matches!(done, Err(WaitError::Request(_))), "{done:?}");
    assert!(events.is_empty());
    s.shutdown().await;
}

#[tokio::test]
async fn a_monitor_configuration_out_of_range_is_refused_before_anything_is_sent() {
    let s = sim(4).await;
    let novita = client(&s);
    let mut cfg = quick();
    cfg.fast_poll_interval = Duration::from_millis(10);
    let done = novita
        .create_and_wait(request("img"), WaitOptions::default().monitor(cfg))
        .await;
    let err = done.expect_err("refused");
    assert!(matches!(err, WaitError::Config(_)));
    assert!(err.to_string().contains("fast_poll_interval"), "{err}");
    assert_eq!(s.stats().requests, 0, "nothing was sent");
    s.shutdown().await;
}

#[tokio::test]
async fn starting_a_stopped_instance_and_starting_a_running_one_both_end_ready() {
    let s = sim(5).await;
    let novita = client(&s);
    let done = novita
        .create_and_wait(request("nvidia/cuda:12.4.0-runtime-ubuntu22.04"), options())
        .await
        .expect("create");
    assert!(done.outcome.is_ready(), "{}", done.outcome);
    let id = done.instance_id;

    // Running already: the start is refused as an invalid state change, the
    // monitor re-reads the instance, sees it running and checks its port.
    let (wait, progress) = novita.start_and_wait(&id, options()).into_parts();
    let (again, events) = tokio::join!(wait, collect(progress));
    let again = again.expect("the wait runs");
    assert!(again.outcome.is_ready(), "{}", again.outcome);
    assert_phase_order(&events);
    assert_eq!(
        notified(&events).first(),
        Some(&NotificationStatus::StartupInitiated)
    );
    assert_eq!(
        notified(&events).last(),
        Some(&NotificationStatus::StartupCompleted)
    );

    // Stopped: the start goes through and the instance comes back up.
    novita.stop_instance(&id).await.expect("stop");
    let mut stopped = false;
    for _ in 0..100 {
        if novita.instance(&id).await.expect("get").status == InstanceStatus::Exited {
            stopped = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(stopped, "the instance stops");
    let (wait, progress) = novita.start_and_wait(&id, options()).into_parts();
    let (restarted, events) = tokio::join!(wait, collect(progress));
    let restarted = restarted.expect("the wait runs");
    assert!(restarted.outcome.is_ready(), "{}", restarted.outcome);
    assert_phase_order(&events);
    assert!(
        events
            .iter()
            .any(|p| p.phase == Phase::Starting || p.status == Some(InstanceStatus::Running))
    );
    s.shutdown().await;
}

#[tokio::test]
async fn watching_an_instance_created_elsewhere_ends_ready_with_the_create_notifications() {
    let s = sim(7).await;
    let novita = client(&s);
    let id = novita
        .create_instance(request("nvidia/cuda:12.4.0-runtime-ubuntu22.04"))
        .await
        .expect("create");
    // The monitor's own defaults (5 s fast polls, then 30 s), on a clock
    // sped up as much as the simulator's world.
    let (wait, progress) = novita
        .wait_until_ready(&id, WaitOptions::default().seed(5).time_scale(100.0))
        .into_parts();
    let (done, events) = tokio::join!(wait, collect(progress));
    let done = done.expect("the wait runs");
    assert!(done.outcome.is_ready(), "{}", done.outcome);
    assert_eq!(done.instance_id, id);
    assert_phase_order(&events);
    // Nothing was initiated by this wait: no startup_initiated, the
    // notifications of an instance's life.
    assert_eq!(
        notified(&events),
        vec![
            NotificationStatus::Running,
            NotificationStatus::HealthChecking,
            NotificationStatus::Ready
        ]
    );
    // The elapsed times are the simulator's (monitor) time: the instance
    // took longer than the 5 s before a create's first poll.
    let first = events
        .iter()
        .find(|p| p.event == ProgressEvent::Polled)
        .expect("a read");
    assert_eq!(first.polls, 1);
    assert!(
        done.outcome.elapsed() > Duration::from_secs(5),
        "{}",
        done.outcome
    );
    // A watch of the same instance, now running: ready after its health check.
    let again = novita
        .wait_until_ready(&id, WaitOptions::default().seed(6).time_scale(100.0))
        .await
        .expect("the wait runs");
    assert!(again.outcome.is_ready(), "{}", again.outcome);
    assert_eq!(again.polls, 1, "one read: it was running");
    s.shutdown().await;
}

#[tokio::test]
async fn watching_an_instance_that_does_not_exist_fails_at_the_first_read() {
    let s = sim(8).await;
    let novita = client(&s);
    let done = novita
        .wait_until_ready("0123456789abcdef", options())
        .await
        .expect("the wait runs");
    match &done.outcome {
        Outcome::Failed {
            reason: FailReason::NotFound | FailReason::Fetch(_),
            ..
        } => {}
        other => panic!("expected not found, got {other:?}"),
    }
    assert_eq!(done.polls, 1);
    s.shutdown().await;
}

#[tokio::test]
async fn a_time_scale_out_of_range_is_refused_before_anything_is_sent() {
    let s = sim(9).await;
    let novita = client(&s);
    for bad in [0.0, 0.5, f64::NAN, f64::INFINITY, 5000.0] {
        let err = novita
            .wait_until_ready("0123456789abcdef", options().time_scale(bad))
            .await
            .expect_err("refused");
        assert!(matches!(err, WaitError::TimeScale(_)), "{err:?}");
        assert!(err.to_string().contains("from 1 to 1000"), "{err}");
    }
    assert_eq!(s.stats().requests, 0, "nothing was sent");
    s.shutdown().await;
}

#[cfg(feature = "axum")]
mod webhooks {
    use super::*;
    use axum::Router;
    use axum::extract::State;
    use axum::http::StatusCode;
    use axum::routing::post;
    use novitai_tokio::core::webhook::{Schedule, Signer, UrlPolicy, Verifier, WebhookKey};
    use novitai_tokio::lifecycle::WebhookTarget;
    use novitai_tokio::webhook::receiver::{VerifiedWebhook, verify_webhook};
    use novitai_tokio::webhook::{
        DeliveryOutcome, MemoryOutbox, SenderConfig, WebhookReceiver, WebhookSender,
    };
    use std::sync::{Arc, Mutex};

    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

    type Inbox = Arc<Mutex<Vec<Notification>>>;

    /// A verifying receiver on 127.0.0.1 that keeps what it admitted.
    async fn receiver(inbox: Inbox) -> String {
        let key = WebhookKey::from_whsec(SECRET).unwrap();
        let verifying = Arc::new(WebhookReceiver::standard(Verifier::new(key)));
        let app = Router::new()
            .route(
                "/hooks",
                post(
                    |State(inbox): State<Inbox>, hook: VerifiedWebhook| async move {
                        let n: Notification = hook.json().expect("a notification");
                        inbox.lock().unwrap().push(n);
                        StatusCode::NO_CONTENT
                    },
                ),
            )
            .layer(axum::middleware::from_fn_with_state(
                verifying,
                verify_webhook,
            ))
            .with_state(inbox);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        format!("http://{addr}/hooks")
    }

    #[tokio::test]
    async fn every_notification_arrives_signed_and_verified_ending_in_one_terminal_one() {
        let s = sim(6).await;
        let novita = client(&s);
        let inbox: Inbox = Arc::default();
        let url = receiver(Arc::clone(&inbox)).await;
        let key = WebhookKey::from_whsec(SECRET).unwrap();
        let mut cfg = SenderConfig::new(Signer::new(key), Arc::new(MemoryOutbox::new()));
        cfg.url_policy = UrlPolicy {
            allow_private: true,
            require_https: false,
        };
        cfg.seed = Some(9);
        let (sender, mut reports) = WebhookSender::new(cfg).await.expect("sender");

        let done = novita
            .create_and_wait(
                request("nvidia/cuda:12.4.0-runtime-ubuntu22.04"),
                options()
                    .webhook(WebhookTarget::new(sender.clone(), url))
                    .instance_id("my-box"),
            )
            .await
            .expect("the wait runs");
        assert!(done.outcome.is_ready(), "{}", done.outcome);
        assert!(done.webhook_errors.is_empty(), "{:?}", done.webhook_errors);
        assert_eq!(done.webhooks.len(), 3, "running, health_checking, ready");
        for _ in 0..done.webhooks.len() {
            let r = tokio::time::timeout(std::time::Duration::from_secs(30), reports.recv())
                .await
                .expect("a report in time")
                .expect("reports open");
            assert_eq!(r.outcome, DeliveryOutcome::Delivered, "{r:?}");
            assert!(done.webhooks.contains(&r.id));
        }
        let got = inbox.lock().unwrap().clone();
        assert_eq!(got.len(), 3, "{got:?}");
        assert!(got.iter().all(|n| n.instance_id == "my-box"));
        let terminal = got
            .iter()
            .filter(|n| n.status == NotificationStatus::Ready)
            .count();
        assert_eq!(terminal, 1);
        s.shutdown().await;
    }

    /// Every delivery attempt: (webhook-id, notification status).
    type Attempts = Arc<Mutex<Vec<(String, String)>>>;

    /// A receiver that refuses (503) every delivery of `running` and the
    /// first four of any other notification; counts attempts per message.
    async fn stubborn_receiver(attempts: Attempts) -> String {
        let app =
            Router::new().route(
                "/hooks",
                post(
                    |State(attempts): State<Attempts>,
                     headers: axum::http::HeaderMap,
                     body: String| async move {
                        let id = headers
                            .get("webhook-id")
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or_default()
                            .to_owned();
                        let n: serde_json::Value = serde_json::from_str(&body).unwrap();
                        let status = n["status"].as_str().unwrap_or_default().to_owned();
                        let mut a = attempts.lock().unwrap();
                        a.push((id.clone(), status.clone()));
                        let tries = a.iter().filter(|(i, _)| *i == id).count();
                        if status == "running" || tries < 5 {
                            StatusCode::SERVICE_UNAVAILABLE
                        } else {
                            StatusCode::OK
                        }
                    },
                ),
            );
        let app = app.with_state(attempts);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        format!("http://{addr}/hooks")
    }

    #[tokio::test]
    async fn notifications_are_delivered_with_the_startup_schedule_of_five_attempts() {
        let s = sim(10).await;
        let novita = client(&s);
        let attempts: Attempts = Arc::default();
        let url = stubborn_receiver(Arc::clone(&attempts)).await;
        let key = WebhookKey::from_whsec(SECRET).unwrap();
        let mut cfg = SenderConfig::new(Signer::new(key), Arc::new(MemoryOutbox::new()));
        cfg.url_policy = UrlPolicy {
            allow_private: true,
            require_https: false,
        };
        cfg.seed = Some(4);
        let (sender, mut reports) = WebhookSender::new(cfg).await.expect("sender");
        let target = WebhookTarget::new(sender.clone(), url);
        assert_eq!(target.schedule, Schedule::node_startup());
        // No HTTP ports: `running`, then `ready` at once.
        let mut r = request("nvidia/cuda:12.4.0-runtime-ubuntu22.04");
        r.ports = Some("22/tcp".to_owned());
        let done = novita
            .create_and_wait(r, options().webhook(target))
            .await
            .expect("the wait runs");
        assert!(done.outcome.is_ready(), "{}", done.outcome);
        assert_eq!(done.webhooks.len(), 2, "running, ready");
        let mut got = Vec::new();
        for _ in 0..2 {
            // 1 + 2 + 4 + 8 s of backoff plus up to 1 s of jitter each.
            let r = tokio::time::timeout(std::time::Duration::from_secs(60), reports.recv())
                .await
                .expect("a report in time")
                .expect("reports open");
            got.push(r);
        }
        for r in &got {
            assert_eq!(r.attempts, 5, "{r:?}");
        }
        let outcomes: Vec<bool> = got
            .iter()
            .map(|r| r.outcome == DeliveryOutcome::Delivered)
            .collect();
        assert_eq!(
            outcomes.iter().filter(|d| **d).count(),
            1,
            "ready delivered at the 5th attempt, running given up after 5: {got:?}"
        );
        let a = attempts.lock().unwrap().clone();
        assert_eq!(a.iter().filter(|(_, st)| st == "running").count(), 5);
        assert_eq!(a.iter().filter(|(_, st)| st == "ready").count(), 5);
        s.shutdown().await;
    }
}
