//! The webhook receiver of the crash tests (file outbox, Redis outbox): a
//! real axum server on 127.0.0.1 that verifies every request's signature,
//! refuses the odd-numbered instances (`inst-1`, `inst-3`, …) with 503 until
//! it is opened (so a sender killed meanwhile certainly has deliveries
//! mid-schedule), records every attempt, and dedupes the accepted ones on
//! webhook-id, as a real receiver should.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use novitai_tokio::core::webhook::{Notification, Verifier, WebhookKey};
use novitai_tokio::webhook::receiver::{unix_now, verify_request};

/// What the receiver saw (see the module docs).
pub struct GatedReceiver {
    verifier: Verifier,
    /// Odd-numbered instances are refused (503) until this is set.
    pub open: AtomicBool,
    /// Every attempt: (instance id, webhook-id, status answered).
    pub attempts: Mutex<Vec<(String, String, u16)>>,
    /// Webhook-ids accepted (the first delivery of each).
    pub delivered: Mutex<HashSet<String>>,
    /// Accepted deliveries of a webhook-id already accepted.
    pub duplicates: AtomicU64,
    /// Requests whose signature did not verify.
    pub bad: AtomicU64,
}

impl GatedReceiver {
    /// Serves `POST /hook`, verifying with `key`; returns the receiver and
    /// the URL to deliver to.
    pub async fn serve(key: WebhookKey) -> (Arc<GatedReceiver>, String) {
        let rx = Arc::new(GatedReceiver {
            verifier: Verifier::new(key),
            open: AtomicBool::new(false),
            attempts: Mutex::default(),
            delivered: Mutex::default(),
            duplicates: AtomicU64::new(0),
            bad: AtomicU64::new(0),
        });
        let app = Router::new()
            .route("/hook", post(receive))
            .with_state(Arc::clone(&rx));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (rx, url)
    }

    /// How many distinct instances have had at least one attempt.
    pub fn instances_seen(&self) -> usize {
        let a = self.attempts.lock().unwrap();
        a.iter().map(|(i, _, _)| i).collect::<HashSet<_>>().len()
    }
}

async fn receive(
    State(rx): State<Arc<GatedReceiver>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> StatusCode {
    let Ok(ok) = verify_request(&rx.verifier, &headers, &body, unix_now()) else {
        rx.bad.fetch_add(1, Ordering::SeqCst);
        return StatusCode::UNAUTHORIZED;
    };
    let note: Notification = serde_json::from_slice(&body).unwrap();
    let n: u32 = note
        .instance_id
        .trim_start_matches("inst-")
        .parse()
        .unwrap();
    let id = ok.id.to_owned();
    let status = if n % 2 == 1 && !rx.open.load(Ordering::SeqCst) {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        if !rx.delivered.lock().unwrap().insert(id.clone()) {
            rx.duplicates.fetch_add(1, Ordering::SeqCst);
        }
        StatusCode::NO_CONTENT
    };
    rx.attempts
        .lock()
        .unwrap()
        .push((note.instance_id, id, status.as_u16()));
    status
}

/// Polls `done` every 20 ms; fails the test after `bound`.
pub async fn wait_for(what: &str, bound: Duration, mut done: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + bound;
    while !done() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
