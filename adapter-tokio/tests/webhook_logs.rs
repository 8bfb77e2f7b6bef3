//! No webhook secret appears in the logs, at any level, from the sender, the
//! receiver or the HTTP stack under them. Alone in its test binary: the
//! subscriber that captures the logs is the process-wide default (a
//! thread-local one misses events whose callsites other tests registered).
#![cfg(feature = "axum")]

use axum::Router;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::routing::{any, post};
use novitai_tokio::core::webhook::{
    Jitter, Notification, NotificationStatus, Schedule, Signer, UrlPolicy, Verifier, WebhookKey,
};
use novitai_tokio::core::{Duration, UnixTime};
use novitai_tokio::webhook::receiver::{VerifiedWebhook, unix_now, verify_webhook};
use novitai_tokio::webhook::{MemoryOutbox, SenderConfig, WebhookReceiver, WebhookSender};
use std::sync::{Arc, Mutex};

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const SECRET_B64: &str = "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const LEGACY_SECRET: &str = "legacy-secret-text";

fn key() -> WebhookKey {
    WebhookKey::from_whsec(SECRET).unwrap()
}

fn notification(n: u32) -> Notification {
    Notification::new(
        format!("inst-{n}"),
        NotificationStatus::Running,
        UnixTime::from_secs(1_700_000_000),
    )
}

#[tokio::test]
async fn no_secret_appears_in_the_logs() {
    let logs = Logs::default();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(logs.clone())
        .with_ansi(false)
        .finish();
    tracing::subscriber::set_global_default(subscriber).unwrap();

    let receiver = Arc::new(WebhookReceiver::standard(Verifier::new(key())));
    let failed_once = Arc::new(Mutex::new(false));
    let app = Router::new()
        .route(
            "/verified",
            post(|_hook: VerifiedWebhook| async { StatusCode::NO_CONTENT }),
        )
        .layer(axum::middleware::from_fn_with_state(
            receiver,
            verify_webhook,
        ))
        .route(
            "/status/{code}",
            any(|Path(code): Path<u16>| async move { StatusCode::from_u16(code).unwrap() }),
        )
        .route(
            "/flaky",
            any(move || {
                let failed_once = Arc::clone(&failed_once);
                async move {
                    let mut f = failed_once.lock().unwrap();
                    if *f {
                        StatusCode::OK
                    } else {
                        *f = true;
                        StatusCode::SERVICE_UNAVAILABLE
                    }
                }
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let signer = Signer::new(key())
        .with_legacy_headers(WebhookKey::from_bytes(LEGACY_SECRET.as_bytes()).unwrap());
    let mut cfg = SenderConfig::new(signer, Arc::new(MemoryOutbox::new()));
    cfg.url_policy = UrlPolicy {
        allow_private: true,
        require_https: false,
    };
    tracing::info!(config = ?cfg, "starting");
    let (sender, mut reports) = WebhookSender::new(cfg).await.unwrap();
    let two = Schedule::new(vec![Duration::ZERO], Jitter::None, Duration::ZERO).unwrap();
    for path in ["flaky", "status/404", "verified"] {
        sender
            .send(
                &format!("http://{addr}/{path}"),
                &notification(1),
                two.clone(),
            )
            .await
            .unwrap();
    }
    for _ in 0..3 {
        tokio::time::timeout(std::time::Duration::from_secs(30), reports.recv())
            .await
            .expect("a report within 30 s")
            .unwrap();
    }
    // A tampered webhook, refused by the receiver.
    let body = serde_json::to_vec(&notification(2)).unwrap();
    let headers = Signer::new(key())
        .headers("msg_x", unix_now(), &body)
        .unwrap();
    let mut req = reqwest::Client::new()
        .post(format!("http://{addr}/verified"))
        .body("tampered");
    for (k, v) in headers.iter() {
        req = req.header(k, v);
    }
    assert_eq!(req.send().await.unwrap().status().as_u16(), 401);

    let text = logs.text();
    // The sender's and the receiver's own lines were captured.
    for line in [
        "webhook not delivered",
        "webhook sender: sending",
        "webhook delivered",
        "webhook refused",
        "SenderConfig",
    ] {
        assert!(text.contains(line), "no `{line}` in the logs:\n{text}");
    }
    for secret in [SECRET_B64, LEGACY_SECRET] {
        assert!(!text.contains(secret), "a secret was logged:\n{text}");
    }
}

#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl Logs {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl std::io::Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Logs {
    type Writer = Logs;
    fn make_writer(&'a self) -> Logs {
        self.clone()
    }
}
