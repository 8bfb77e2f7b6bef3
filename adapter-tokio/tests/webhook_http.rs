//! The webhook sender and receiver over loopback: real sockets, real reqwest,
//! an axum receiver on 127.0.0.1:0. Schedules are short custom ones (zero
//! waits), so nothing here waits on the clock.
#![cfg(feature = "axum")]

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{any, post};
use novitai_tokio::core::webhook::delivery::DeliveryError;
use novitai_tokio::core::webhook::{
    AttemptResult, FailReason, Jitter, Notification, NotificationStatus, Schedule, Signer,
    UrlError, UrlPolicy, Verifier, WebhookKey,
};
use novitai_tokio::core::{Duration, UnixTime};
use novitai_tokio::webhook::receiver::{VerifiedWebhook, unix_now, verify_webhook};
use novitai_tokio::webhook::{
    DeliveryOutcome, DeliveryReport, MemoryOutbox, SenderConfig, SenderError, WebhookReceiver,
    WebhookSender,
};
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use tokio::sync::mpsc::UnboundedReceiver;

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

fn key() -> WebhookKey {
    WebhookKey::from_whsec(SECRET).unwrap()
}

/// `attempts` attempts with no wait between them.
fn fast(attempts: usize) -> Schedule {
    Schedule::new(
        vec![Duration::ZERO; attempts - 1],
        Jitter::None,
        Duration::ZERO,
    )
    .unwrap()
}

fn notification(n: u32) -> Notification {
    Notification::new(
        format!("inst-{n}"),
        NotificationStatus::Running,
        UnixTime::from_secs(1_700_000_000),
    )
}

/// What the test receiver saw: (path, webhook-id) per request.
#[derive(Clone, Default)]
struct Seen(Arc<Mutex<Vec<Hit>>>);

/// A request's path and its `webhook-id`.
type Hit = (String, Option<String>);

impl Seen {
    fn record(&self, path: &str, headers: &HeaderMap) {
        let id = headers
            .get("webhook-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        self.0.lock().unwrap().push((path.to_owned(), id));
    }
    fn hits(&self, path: &str) -> Vec<Option<String>> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .filter(|(p, _)| p == path)
            .map(|(_, id)| id.clone())
            .collect()
    }
}

/// The receiver under test: `/verified` behind the verifying middleware,
/// and plain routes that answer with fixed statuses.
async fn serve(seen: Seen, receiver: Arc<WebhookReceiver>) -> SocketAddr {
    let failures: Arc<Mutex<HashMap<String, u32>>> = Arc::default();
    let verified = Router::new()
        .route(
            "/verified",
            post(
                |State(seen): State<Seen>, hook: VerifiedWebhook| async move {
                    let n: Notification = hook.json().unwrap();
                    assert!(n.instance_id.starts_with("inst-"));
                    let mut h = HeaderMap::new();
                    h.insert("webhook-id", hook.id.unwrap().parse().unwrap());
                    seen.record("/verified", &h);
                    StatusCode::NO_CONTENT
                },
            ),
        )
        .layer(axum::middleware::from_fn_with_state(
            receiver,
            verify_webhook,
        ))
        .with_state(seen.clone());
    let plain = Router::new()
        .route(
            "/status/{code}",
            any(
                |State(seen): State<Seen>, Path(code): Path<u16>, headers: HeaderMap| async move {
                    seen.record(&format!("/status/{code}"), &headers);
                    StatusCode::from_u16(code).unwrap()
                },
            ),
        )
        .route(
            "/redirect",
            any(|State(seen): State<Seen>, headers: HeaderMap| async move {
                seen.record("/redirect", &headers);
                (StatusCode::TEMPORARY_REDIRECT, [("location", "/counted")])
            }),
        )
        .route(
            "/counted",
            any(|State(seen): State<Seen>, headers: HeaderMap| async move {
                seen.record("/counted", &headers);
                StatusCode::OK
            }),
        )
        .route(
            "/flaky/{fails}",
            any(
                move |State(seen): State<Seen>, Path(fails): Path<u32>, headers: HeaderMap| {
                    let failures = Arc::clone(&failures);
                    async move {
                        seen.record("/flaky", &headers);
                        let id = headers["webhook-id"].to_str().unwrap().to_owned();
                        let mut f = failures.lock().unwrap();
                        let n = f.entry(id).or_insert(0);
                        *n += 1;
                        if *n <= fails {
                            StatusCode::SERVICE_UNAVAILABLE.into_response()
                        } else {
                            StatusCode::OK.into_response()
                        }
                    }
                },
            ),
        )
        .with_state(seen);
    let app = verified.merge(plain);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

fn standard_receiver() -> Arc<WebhookReceiver> {
    Arc::new(WebhookReceiver::standard(Verifier::new(key())))
}

async fn start(
    policy: UrlPolicy,
    overrides: &[(&str, IpAddr)],
) -> (WebhookSender, UnboundedReceiver<DeliveryReport>) {
    let mut cfg = SenderConfig::new(Signer::new(key()), Arc::new(MemoryOutbox::new()));
    cfg.url_policy = policy;
    cfg.seed = Some(7);
    cfg.timeout = std::time::Duration::from_secs(5);
    for (name, ip) in overrides {
        cfg.resolve_overrides.insert((*name).to_owned(), vec![*ip]);
    }
    WebhookSender::new(cfg).await.unwrap()
}

const LOCAL: UrlPolicy = UrlPolicy {
    allow_private: true,
    require_https: false,
};

async fn next_report(reports: &mut UnboundedReceiver<DeliveryReport>) -> DeliveryReport {
    tokio::time::timeout(std::time::Duration::from_secs(30), reports.recv())
        .await
        .expect("a report within 30 s")
        .expect("the report channel is open")
}

#[tokio::test]
async fn a_signed_webhook_is_verified_by_the_receiver_and_reported_delivered() {
    let seen = Seen::default();
    let addr = serve(seen.clone(), standard_receiver()).await;
    let (sender, mut reports) = start(LOCAL, &[]).await;
    let url = format!("http://{addr}/verified");
    let id = sender.send(&url, &notification(1), fast(3)).await.unwrap();
    let r = next_report(&mut reports).await;
    assert_eq!(r.id, id);
    assert_eq!(r.outcome, DeliveryOutcome::Delivered);
    assert_eq!(r.attempts, 1);
    assert_eq!(r.url, url);
    assert_eq!(seen.hits("/verified"), vec![Some(id.to_string())]);
}

#[tokio::test]
async fn a_redirect_is_not_followed_and_fails_the_delivery() {
    let seen = Seen::default();
    let addr = serve(seen.clone(), standard_receiver()).await;
    let (sender, mut reports) = start(LOCAL, &[]).await;
    sender
        .send(
            &format!("http://{addr}/redirect"),
            &notification(1),
            fast(3),
        )
        .await
        .unwrap();
    let r = next_report(&mut reports).await;
    assert_eq!(
        r.outcome,
        DeliveryOutcome::Failed(FailReason::Redirect(307))
    );
    assert_eq!(r.attempts, 1);
    assert_eq!(seen.hits("/redirect").len(), 1);
    assert!(
        seen.hits("/counted").is_empty(),
        "the redirect target was hit"
    );
}

#[tokio::test]
async fn gone_is_reported_and_other_client_errors_are_final() {
    let seen = Seen::default();
    let addr = serve(seen.clone(), standard_receiver()).await;
    let (sender, mut reports) = start(LOCAL, &[]).await;
    sender
        .send(
            &format!("http://{addr}/status/410"),
            &notification(1),
            fast(3),
        )
        .await
        .unwrap();
    let r = next_report(&mut reports).await;
    assert_eq!(r.outcome, DeliveryOutcome::EndpointGone);
    assert_eq!(seen.hits("/status/410").len(), 1);

    for code in [400u16, 404, 422] {
        sender
            .send(
                &format!("http://{addr}/status/{code}"),
                &notification(1),
                fast(3),
            )
            .await
            .unwrap();
        let r = next_report(&mut reports).await;
        assert_eq!(
            r.outcome,
            DeliveryOutcome::Failed(FailReason::Rejected(code))
        );
        assert_eq!(r.attempts, 1);
        assert_eq!(seen.hits(&format!("/status/{code}")).len(), 1, "{code}");
    }
}

#[tokio::test]
async fn server_errors_are_retried_per_schedule_with_the_same_id() {
    let seen = Seen::default();
    let addr = serve(seen.clone(), standard_receiver()).await;
    let (sender, mut reports) = start(LOCAL, &[]).await;

    // Two 503s, then 200: delivered on the third of three attempts.
    let id = sender
        .send(&format!("http://{addr}/flaky/2"), &notification(1), fast(3))
        .await
        .unwrap();
    let r = next_report(&mut reports).await;
    assert_eq!((r.outcome, r.attempts), (DeliveryOutcome::Delivered, 3));
    assert_eq!(seen.hits("/flaky"), vec![Some(id.to_string()); 3]);

    // Always 503: the schedule's four attempts, then failure.
    sender
        .send(
            &format!("http://{addr}/status/503"),
            &notification(2),
            fast(4),
        )
        .await
        .unwrap();
    let r = next_report(&mut reports).await;
    assert_eq!(
        r.outcome,
        DeliveryOutcome::Failed(FailReason::Exhausted(AttemptResult::Response {
            status: 503,
            retry_after: None
        }))
    );
    assert_eq!(r.attempts, 4);
    assert_eq!(seen.hits("/status/503").len(), 4);
}

#[tokio::test]
async fn the_url_guard_refuses_loopback_unless_private_addresses_are_allowed() {
    let seen = Seen::default();
    let addr = serve(seen.clone(), standard_receiver()).await;
    let (strict, _reports) = start(UrlPolicy::default(), &[]).await;
    let url = format!("http://{addr}/counted");
    let err = strict
        .send(&url, &notification(1), fast(1))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            SenderError::Refused(DeliveryError::Url(UrlError::ForbiddenAddress { .. }))
        ),
        "{err}"
    );
    let err = strict
        .send("http://localhost/x", &notification(1), fast(1))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            SenderError::Refused(DeliveryError::Url(UrlError::Localhost))
        ),
        "{err}"
    );
    assert!(seen.hits("/counted").is_empty());

    let (local, mut reports) = start(LOCAL, &[]).await;
    local.send(&url, &notification(1), fast(1)).await.unwrap();
    assert_eq!(
        next_report(&mut reports).await.outcome,
        DeliveryOutcome::Delivered
    );
    assert_eq!(seen.hits("/counted").len(), 1);
}

#[tokio::test]
async fn a_public_looking_name_that_resolves_to_loopback_is_refused_by_the_resolver() {
    let seen = Seen::default();
    let addr = serve(seen.clone(), standard_receiver()).await;
    let loopback = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let name = "hooks.rebind.example";
    let url = format!("http://{name}:{}/counted", addr.port());

    // The URL passes the URL check (a name), but every address it resolves
    // to is refused when connecting: nothing reaches the receiver.
    let (strict, mut reports) = start(UrlPolicy::default(), &[(name, loopback)]).await;
    strict.send(&url, &notification(1), fast(2)).await.unwrap();
    let r = next_report(&mut reports).await;
    assert_eq!(
        r.outcome,
        DeliveryOutcome::Failed(FailReason::Exhausted(AttemptResult::Transport))
    );
    assert_eq!(r.attempts, 2);
    let err = r.last_error.unwrap();
    assert!(err.contains("refused by the webhook URL guard"), "{err}");
    assert!(
        seen.hits("/counted").is_empty(),
        "the guard let a request through"
    );

    // Control: the same override with private addresses allowed connects,
    // so the refusal above was the guard's, not a failed lookup.
    let (local, mut reports) = start(LOCAL, &[(name, loopback)]).await;
    local.send(&url, &notification(1), fast(1)).await.unwrap();
    assert_eq!(
        next_report(&mut reports).await.outcome,
        DeliveryOutcome::Delivered
    );
    assert_eq!(seen.hits("/counted").len(), 1);
}

/// Posts a hand-signed webhook to `/verified` and returns the status and the
/// JSON error code.
async fn post_signed(
    addr: SocketAddr,
    id: &str,
    ts: UnixTime,
    signed_body: &[u8],
    sent_body: &[u8],
) -> (u16, String) {
    let headers = Signer::new(key()).headers(id, ts, signed_body).unwrap();
    let mut req = reqwest::Client::new()
        .post(format!("http://{addr}/verified"))
        .body(sent_body.to_vec());
    for (k, v) in headers.iter() {
        req = req.header(k, v);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    let code = serde_json::from_str::<serde_json::Value>(&text)
        .ok()
        .and_then(|v| v["error"].as_str().map(str::to_owned))
        .unwrap_or_default();
    (status, code)
}

#[tokio::test]
async fn the_receiver_refuses_tampered_stale_and_replayed_webhooks_with_reasons() {
    let seen = Seen::default();
    let addr = serve(seen.clone(), standard_receiver()).await;
    let body = serde_json::to_vec(&notification(1)).unwrap();
    let now = unix_now();

    let mut tampered = body.clone();
    tampered[2] ^= 1;
    assert_eq!(
        post_signed(addr, "msg_t", now, &body, &tampered).await,
        (401, "invalid_signature".to_owned())
    );
    let stale = UnixTime::from_secs(now.as_secs() - 600);
    assert_eq!(
        post_signed(addr, "msg_s", stale, &body, &body).await,
        (400, "stale_timestamp".to_owned())
    );
    assert_eq!(
        post_signed(addr, "msg_r", now, &body, &body).await,
        (204, String::new())
    );
    assert_eq!(
        post_signed(addr, "msg_r", now, &body, &body).await,
        (400, "replayed".to_owned())
    );
    let resp = reqwest::Client::new()
        .post(format!("http://{addr}/verified"))
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 400);
    let json: serde_json::Value = resp.json_text().await;
    assert_eq!(json["error"], "missing_header");
    assert!(json["reason"].as_str().unwrap().contains("webhook-id"));
    // Only the one good webhook reached the handler.
    assert_eq!(seen.hits("/verified"), vec![Some("msg_r".to_owned())]);
}

#[tokio::test]
async fn a_receiver_that_acknowledges_duplicates_answers_200_without_running_the_handler() {
    let seen = Seen::default();
    let receiver =
        Arc::new(WebhookReceiver::standard(Verifier::new(key())).acknowledge_duplicates(true));
    let addr = serve(seen.clone(), receiver).await;
    let body = serde_json::to_vec(&notification(1)).unwrap();
    let now = unix_now();
    assert_eq!(post_signed(addr, "msg_d", now, &body, &body).await.0, 204);
    assert_eq!(post_signed(addr, "msg_d", now, &body, &body).await.0, 200);
    assert_eq!(seen.hits("/verified").len(), 1);
}

trait JsonText {
    async fn json_text(self) -> serde_json::Value;
}

impl JsonText for reqwest::Response {
    async fn json_text(self) -> serde_json::Value {
        serde_json::from_str(&self.text().await.unwrap()).unwrap()
    }
}

/// A receiver that answers 200 and then streams a body that never ends: the
/// sender reads at most `max_response_bytes` of it, records the delivery and
/// moves on, instead of reading forever (or buffering it all).
#[tokio::test]
async fn an_endless_response_body_is_read_only_up_to_the_cap() {
    use std::sync::atomic::{AtomicU64, Ordering};
    let streamed = Arc::new(AtomicU64::new(0));
    let counter = Arc::clone(&streamed);
    let app = Router::new().route(
        "/endless",
        post(move || {
            let counter = Arc::clone(&counter);
            async move {
                let chunk = axum::body::Bytes::from(vec![b'x'; 4096]);
                let stream = futures_util::stream::repeat_with(move || {
                    counter.fetch_add(4096, Ordering::Relaxed);
                    Ok::<_, std::convert::Infallible>(chunk.clone())
                });
                (StatusCode::OK, axum::body::Body::from_stream(stream))
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let mut cfg = SenderConfig::new(Signer::new(key()), Arc::new(MemoryOutbox::new()));
    cfg.url_policy = LOCAL;
    cfg.seed = Some(7);
    cfg.timeout = std::time::Duration::from_secs(20);
    cfg.max_response_bytes = 16 * 1024;
    let (sender, mut reports) = WebhookSender::new(cfg).await.unwrap();
    let url = format!("http://{addr}/endless");
    let id = sender.send(&url, &notification(1), fast(1)).await.unwrap();
    let r = next_report(&mut reports).await;
    assert_eq!(r.id, id);
    assert_eq!(r.outcome, DeliveryOutcome::Delivered);
    // The server kept producing only while the sender read (plus what the
    // socket buffers hold); far less than an unbounded read would pull in
    // 20 s on loopback.
    let produced = streamed.load(Ordering::Relaxed);
    assert!(produced < 64 * 1024 * 1024, "{produced} bytes streamed");
}
