//! Receive start-up webhooks with axum: every request is verified (Standard
//! Webhooks signature, timestamp window, replayed ids refused) by the
//! adapter's middleware before the handler sees it.
//!
//! ```text
//! cargo run -p novitai-tokio --example webhook_handler --features sim,axum
//! ```
//!
//! Without `NOVITA_API_KEY` the example plays both sides: it serves the
//! receiver on 127.0.0.1, creates an instance on the in-process simulator
//! with `create_and_wait`, sends its notifications to the receiver through
//! the durable [`WebhookSender`], prints what arrived, and exits. With a key
//! it only serves: `WEBHOOK_SECRET` (`whsec_...`) is the signing secret and
//! `WEBHOOK_ADDR` (default `127.0.0.1:3000`) the address, until stopped.

#[path = "common/mod.rs"]
mod common;

use std::error::Error;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use novitai_tokio::Novita;
use novitai_tokio::core::api::instances::CreateInstanceRequest;
use novitai_tokio::core::sim::FaultPlan;
use novitai_tokio::core::webhook::{Notification, Signer, UrlPolicy, Verifier, WebhookKey};
use novitai_tokio::lifecycle::{WaitOptions, WaitOutcome, WebhookTarget};
use novitai_tokio::webhook::receiver::{VerifiedWebhook, verify_webhook};
use novitai_tokio::webhook::{
    DeliveryOutcome, MemoryOutbox, SenderConfig, WebhookReceiver, WebhookSender,
};
use tokio::sync::mpsc;

/// The secret of the self-contained run.
const DEMO_KEY: &[u8] = b"novitai-example-webhook-secret!!";

/// Serves `POST /webhooks` on `addr` behind the verifying middleware; each
/// verified notification is printed and passed on.
pub async fn serve(
    key: WebhookKey,
    addr: &str,
) -> Result<(SocketAddr, mpsc::UnboundedReceiver<Notification>), Box<dyn Error>> {
    let receiver = Arc::new(WebhookReceiver::standard(Verifier::new(key)));
    let (tx, rx) = mpsc::unbounded_channel();
    let app =
        Router::new()
            .route(
                "/webhooks",
                post(
                    |State(tx): State<mpsc::UnboundedSender<Notification>>,
                     hook: VerifiedWebhook| async move {
                        match hook.json::<Notification>() {
                            Ok(n) => {
                                println!(
                                    "webhook {}: {} is {:?} (after {} ms)",
                                    hook.id.as_deref().unwrap_or("-"),
                                    n.instance_id,
                                    n.status,
                                    n.elapsed_time.unwrap_or_default()
                                );
                                let _ = tx.send(n);
                                StatusCode::NO_CONTENT
                            }
                            Err(_) => StatusCode::UNPROCESSABLE_ENTITY,
                        }
                    },
                ),
            )
            .layer(axum::middleware::from_fn_with_state(
                receiver,
                verify_webhook,
            ))
            .with_state(tx);
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            eprintln!("the webhook server stopped: {e}");
        }
    });
    Ok((local, rx))
}

/// Both sides on loopback: a receiver, a sender, one instance created and
/// awaited. Returns the wait's outcome and the notifications received.
pub async fn self_contained(
    novita: &Novita,
    options: WaitOptions,
) -> Result<(WaitOutcome, Vec<Notification>), Box<dyn Error>> {
    let key = WebhookKey::from_bytes(DEMO_KEY).map_err(|e| e.to_string())?;
    let (addr, mut received) = serve(key.clone(), "127.0.0.1:0").await?;
    let mut config = SenderConfig::new(Signer::new(key), Arc::new(MemoryOutbox::new()));
    // The receiver is on loopback, which the URL guard refuses by default.
    config.url_policy = UrlPolicy {
        allow_private: true,
        require_https: false,
    };
    let (sender, mut reports) = WebhookSender::new(config).await?;
    let target = WebhookTarget::new(sender.clone(), format!("http://{addr}/webhooks"));
    let mut request = CreateInstanceRequest::new(
        "rtx-4090-24gb.cn-hk-01",
        1,
        60,
        "nvidia/cuda:12.4.0-runtime-ubuntu22.04",
    );
    request.ports = Some("8888/http".to_owned());
    let done = novita
        .create_and_wait(request, options.webhook(target))
        .await?;
    println!("instance {}: {}", done.instance_id, done.outcome);
    let mut notifications = Vec::new();
    for _ in 0..done.webhooks.len() {
        let report = reports.recv().await.ok_or("the sender stopped")?;
        if report.outcome != DeliveryOutcome::Delivered {
            return Err(format!("a webhook was not delivered: {report:?}").into());
        }
        notifications.push(received.recv().await.ok_or("the receiver stopped")?);
    }
    sender.shutdown().await;
    Ok((done, notifications))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let setup = common::connect(FaultPlan::none()).await?;
    if setup.simulated() {
        self_contained(&setup.novita, WaitOptions::default()).await?;
        setup.finish().await;
        return Ok(());
    }
    let secret = std::env::var("WEBHOOK_SECRET")
        .map_err(|_| "set WEBHOOK_SECRET (whsec_...) to verify incoming webhooks")?;
    let addr = std::env::var("WEBHOOK_ADDR").unwrap_or_else(|_| "127.0.0.1:3000".to_owned());
    let (local, mut received) = serve(
        WebhookKey::from_whsec(&secret).map_err(|e| e.to_string())?,
        &addr,
    )
    .await?;
    println!("listening on http://{local}/webhooks (Ctrl-C to stop)");
    while received.recv().await.is_some() {}
    Ok(())
}
