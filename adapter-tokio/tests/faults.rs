//! The adapter over real loopback sockets against a server with injected
//! faults. Timing asserts are lower bounds only (a guarantee, never flaky);
//! everything else is counts and order.

mod common;

use std::time::Duration;

use common::{CLUSTERS, Reply, TestServer, config};
use novitai_core::breaker::State as BreakerState;
use novitai_core::engine::{Rejected, RequestOptions};
use novitai_core::error::{Error, LastFailure};
use novitai_core::http::{HttpRequest, Method};
use novitai_core::retry::TransportErrorKind;
use novitai_tokio::Novita;

fn client(server: &TestServer, extra: &[(&str, &str)]) -> Novita {
    Novita::builder()
        .config(config(&server.base_url(), extra))
        .seed(7)
        .build()
        .unwrap()
}

/// The error of a call that gave up after `attempts` attempts, the last one
/// failing with `kind` before any answer.
fn gave_up(kind: TransportErrorKind, attempts: u32) -> Error {
    Error::GaveUp {
        last: LastFailure::Transport(kind),
        attempts,
    }
}

#[tokio::test]
async fn two_server_errors_are_retried_and_the_third_attempt_succeeds() {
    let server = TestServer::start(
        vec![Reply::status(500), Reply::status(503)],
        Reply::ok(CLUSTERS),
    )
    .await;
    let novita = client(&server, &[]);
    let clusters = novita.clusters().await.unwrap();
    assert_eq!(clusters.len(), 1);
    assert_eq!(server.requests(), 3);
}

#[tokio::test]
async fn a_dropped_connection_is_retried() {
    let server = TestServer::start(vec![Reply::Drop], Reply::ok(CLUSTERS)).await;
    let novita = client(&server, &[]);
    novita.clusters().await.unwrap();
    assert_eq!(server.requests(), 2);
}

#[tokio::test]
async fn retries_stop_at_max_attempts_and_report_the_last_status() {
    let server = TestServer::start(vec![], Reply::status(502)).await;
    let novita = client(&server, &[("MAX_RETRY_ATTEMPTS", "2")]);
    let err = novita.clusters().await.unwrap_err();
    match &err {
        Error::GaveUp {
            last: LastFailure::Api(api),
            attempts: 2,
        } => assert_eq!(api.status, 502),
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(server.requests(), 2);
}

#[tokio::test]
async fn retry_after_is_honoured() {
    // Backoff alone would wait at most 200 ms; the server asks for 1 s.
    let server = TestServer::start(
        vec![Reply::status(503).with_header("Retry-After", "1")],
        Reply::ok(CLUSTERS),
    )
    .await;
    let novita = client(&server, &[]);
    novita.clusters().await.unwrap();
    let seen = server.seen();
    assert_eq!(seen.len(), 2);
    let gap = seen[1].at - seen[0].at;
    assert!(gap >= Duration::from_millis(990), "retried after {gap:?}");
}

#[tokio::test]
async fn the_breaker_opens_after_repeated_failures_and_recovers() {
    let server = TestServer::start(vec![], Reply::status(500)).await;
    let novita = client(
        &server,
        &[
            ("MAX_RETRY_ATTEMPTS", "1"),
            ("CIRCUIT_BREAKER_FAILURE_THRESHOLD", "2"),
            ("CIRCUIT_BREAKER_OPEN_MS", "1000"),
            ("CIRCUIT_BREAKER_SUCCESS_THRESHOLD", "1"),
        ],
    );
    // Two failures in a row open it.
    for _ in 0..2 {
        assert!(matches!(
            novita.clusters().await,
            Err(Error::GaveUp { attempts: 1, .. })
        ));
    }
    assert_eq!(novita.status().await.unwrap().breaker, BreakerState::Open);
    // While open, nothing is sent.
    let err = novita.clusters().await.unwrap_err();
    assert!(matches!(err, Error::BreakerOpen { .. }), "{err:?}");
    assert!(err.to_string().contains("circuit breaker is open"));
    assert_eq!(server.requests(), 2);
    // The server heals; after the open time one probe goes through and closes it.
    server.set_default(Reply::ok(CLUSTERS));
    tokio::time::sleep(Duration::from_millis(1100)).await;
    novita.clusters().await.unwrap();
    assert_eq!(server.requests(), 3);
    assert_eq!(novita.status().await.unwrap().breaker, BreakerState::Closed);
}

#[tokio::test(start_paused = true)]
async fn the_attempt_timeout_fires_on_a_hung_server() {
    // Paused clock: the 5 s timeout passes in virtual time.
    let server = TestServer::start(vec![], Reply::Hang).await;
    let novita = client(&server, &[("MAX_RETRY_ATTEMPTS", "1")]);
    let started = tokio::time::Instant::now();
    let err = novita.clusters().await.unwrap_err();
    assert_eq!(err, gave_up(TransportErrorKind::Timeout, 1));
    assert!(started.elapsed() >= Duration::from_secs(5));
    assert!(err.to_string().contains("timed out"));
}

#[tokio::test]
async fn the_concurrency_cap_holds() {
    let server = TestServer::start(
        vec![],
        Reply::ok(CLUSTERS).delayed(Duration::from_millis(60)),
    )
    .await;
    let novita = client(&server, &[("MAX_CONCURRENT_REQUESTS", "3")]);
    let mut calls = tokio::task::JoinSet::new();
    for i in 0..12 {
        let n = novita.clone();
        // Distinct paths so identical GETs are not coalesced.
        calls.spawn(async move { n.instance(format!("instance-{i:02}")).await });
    }
    while let Some(done) = calls.join_next().await {
        // The body is not an instance; only the transmission matters here.
        let _ = done.unwrap();
    }
    assert_eq!(server.requests(), 12);
    assert_eq!(server.max_in_flight(), 3);
}

#[tokio::test]
async fn shutdown_completes_pending_calls_as_cancelled() {
    let server = TestServer::start(vec![], Reply::Hang).await;
    let novita = client(&server, &[]);
    let mut calls = tokio::task::JoinSet::new();
    for i in 0..3 {
        let n = novita.clone();
        calls.spawn(async move { n.instance(format!("instance-{i}")).await });
    }
    server
        .wait_until("three requests at the server", |s| s.requests() == 3)
        .await;
    novita.shutdown().await;
    let mut cancelled = 0;
    while let Some(done) = calls.join_next().await {
        assert_eq!(done.unwrap().unwrap_err(), Error::Cancelled);
        cancelled += 1;
    }
    assert_eq!(cancelled, 3);
    // The transmissions were aborted: the server sees the connections close.
    server
        .wait_until("connections closed", |s| s.closed() >= 3)
        .await;
    assert_eq!(
        novita.clusters().await.unwrap_err(),
        Error::Rejected(Rejected::ShuttingDown)
    );
    // Twice is harmless.
    novita.shutdown().await;
}

#[tokio::test]
async fn dropping_the_last_handle_stops_the_driver() {
    let server = TestServer::start(vec![], Reply::Hang).await;
    let novita = client(&server, &[]);
    let n = novita.clone();
    let call = tokio::spawn(async move { n.clusters().await });
    server
        .wait_until("the request at the server", |s| s.requests() == 1)
        .await;
    drop(novita);
    call.abort();
    let _ = call.await;
    // Every handle is gone: the driver cancels, aborts the transmission, exits.
    server
        .wait_until("the connection closed", |s| s.closed() >= 1)
        .await;
}

#[tokio::test]
async fn a_dropped_call_is_cancelled_in_the_engine() {
    let server = TestServer::start(vec![], Reply::Hang).await;
    let novita = client(&server, &[]);
    let timed_out = tokio::time::timeout(Duration::from_millis(100), novita.clusters()).await;
    assert!(timed_out.is_err());
    // The cancel travels over the channel; status answers after it.
    let status = novita.status().await.unwrap();
    assert_eq!(status.submitted, 1);
    assert_eq!(status.completed, 1);
    assert_eq!(status.active, 0);
    assert_eq!(status.in_flight, 0);
}

#[tokio::test]
async fn connection_refused_says_to_check_the_base_url() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let novita = Novita::builder()
        .config(config(
            &format!("http://{addr}"),
            &[("MAX_RETRY_ATTEMPTS", "2")],
        ))
        .build()
        .unwrap();
    let err = novita.clusters().await.unwrap_err();
    assert_eq!(err, gave_up(TransportErrorKind::ConnectionRefused, 2));
    assert!(err.to_string().contains("check the base URL"), "{err}");
}

#[tokio::test]
async fn a_body_over_the_cap_fails_the_call() {
    let big = format!("{{\"data\":[],\"pad\":\"{}\"}}", "x".repeat(4096));
    let server = TestServer::start(vec![], Reply::ok(&big)).await;
    let novita = Novita::builder()
        .config(config(&server.base_url(), &[]))
        .max_body_bytes(1024)
        .build()
        .unwrap();
    let err = novita.clusters().await.unwrap_err();
    assert_eq!(err, gave_up(TransportErrorKind::BodyTooLarge, 1));
    assert!(err.to_string().contains("size limit"), "{err}");
    // Under the cap the same answer is fine.
    let roomy = Novita::builder()
        .config(config(&server.base_url(), &[]))
        .build()
        .unwrap();
    roomy.clusters().await.unwrap();
}

#[tokio::test]
async fn a_redirect_is_an_answer_not_followed() {
    let server = TestServer::start(
        vec![Reply::status(302).with_header("Location", "http://127.0.0.1:1/elsewhere")],
        Reply::ok(CLUSTERS),
    )
    .await;
    let novita = client(&server, &[]);
    let err = novita.clusters().await.unwrap_err();
    assert!(
        matches!(err, Error::Api(ref e) if e.status == 302),
        "{err:?}"
    );
    assert_eq!(server.requests(), 1);
}

#[tokio::test]
async fn an_invalid_request_is_never_sent() {
    let server = TestServer::start(vec![], Reply::ok("{}")).await;
    let novita = client(&server, &[]);
    let bad = novitai_core::api::instances::CreateInstanceRequest::new("", 0, 0, "");
    let err = novita.create_instance(bad).await.unwrap_err();
    assert!(matches!(err, Error::Validation(_)), "{err:?}");
    assert_eq!(server.requests(), 0);
}

#[tokio::test]
async fn requests_carry_credentials_and_a_correlation_id() {
    let server = TestServer::start(vec![], Reply::ok(CLUSTERS)).await;
    let novita = client(&server, &[]);
    assert!(novita.health_check().await.is_ok());
    let head = server.seen()[0].head.to_ascii_lowercase();
    assert!(head.starts_with("get /v1/clusters http/1.1"), "{head}");
    assert!(head.contains(&format!(
        "authorization: bearer {}",
        common::API_KEY.to_ascii_lowercase()
    )));
    assert!(head.contains("x-correlation-id: nv-"));
    assert!(head.contains("user-agent: novitai-tokio/"));
}

#[tokio::test]
async fn repeated_headers_are_sent_each_time_and_a_new_value_replaces_an_old_one() {
    // The driver keeps header values that repeat; a changed key must still
    // go out as it is now.
    let server = TestServer::start(vec![], Reply::ok(CLUSTERS)).await;
    let novita = client(&server, &[]);
    for _ in 0..3 {
        novita.clusters().await.unwrap();
    }
    let mut request = HttpRequest::new(Method::Get, "/v1/clusters");
    request
        .headers
        .set("Authorization", "Bearer sk_other_key_0000");
    let mut options = RequestOptions::new();
    options.coalesce = false;
    let done = novita.driver().send(request, options).await.unwrap();
    assert!(done.outcome.is_success());
    let heads: Vec<String> = server
        .seen()
        .iter()
        .map(|s| s.head.to_ascii_lowercase())
        .collect();
    assert_eq!(heads.len(), 4);
    let key = format!(
        "authorization: bearer {}",
        common::API_KEY.to_ascii_lowercase()
    );
    assert!(heads[..3].iter().all(|h| h.contains(&key)), "{heads:?}");
    assert!(heads[3].contains("authorization: bearer sk_other_key_0000"));
    // Each request has its own correlation id.
    let ids: std::collections::HashSet<&str> = heads
        .iter()
        .filter_map(|h| h.lines().find(|l| l.starts_with("x-correlation-id:")))
        .collect();
    assert_eq!(ids.len(), 4);
}

#[tokio::test]
async fn a_caller_that_leaves_mid_request_still_serves_the_callers_sharing_it() {
    // Two identical GETs share one transmission, sent from the first
    // caller's task. The first caller leaves while it is out: the driver
    // finishes it, and the second caller gets the answer.
    let server = TestServer::start(
        vec![],
        Reply::ok(CLUSTERS).delayed(Duration::from_millis(300)),
    )
    .await;
    let novita = client(&server, &[]);
    let driver = novita.driver().clone();
    let first = tokio::spawn({
        let driver = driver.clone();
        async move {
            driver
                .send(
                    HttpRequest::new(Method::Get, "/v1/clusters"),
                    RequestOptions::new(),
                )
                .await
        }
    });
    server
        .wait_until("the request at the server", |s| s.requests() == 1)
        .await;
    let second = tokio::spawn(async move {
        driver
            .send(
                HttpRequest::new(Method::Get, "/v1/clusters"),
                RequestOptions::new(),
            )
            .await
    });
    // Wait until the second call has joined the first's flight.
    for _ in 0..1000 {
        if novita.status().await.unwrap().submitted == 2 {
            break;
        }
        tokio::task::yield_now().await;
    }
    assert_eq!(novita.status().await.unwrap().submitted, 2);
    first.abort();
    assert!(first.await.unwrap_err().is_cancelled());
    let done = second.await.unwrap().unwrap();
    assert!(done.outcome.is_success());
    assert_eq!(server.requests(), 1);
    let status = novita.status().await.unwrap();
    assert_eq!(status.completed, 2);
    assert_eq!(status.active, 0);
}

#[tokio::test]
async fn a_call_dropped_after_its_first_poll_is_cancelled_in_the_engine() {
    use std::future::Future;
    use std::task::{Context, Poll, Waker};
    let server = TestServer::start(vec![], Reply::ok(CLUSTERS)).await;
    let novita = client(&server, &[]);
    // Polled once (submitted; its attempt handed to reqwest), then dropped
    // before the answer can come (this test's runtime has one thread).
    let mut call = Box::pin(novita.clusters());
    let mut cx = Context::from_waker(Waker::noop());
    assert!(matches!(call.as_mut().poll(&mut cx), Poll::Pending));
    assert_eq!(novita.status().await.unwrap().in_flight, 1);
    drop(call);
    let status = novita.status().await.unwrap();
    assert_eq!(status.submitted, 1);
    assert_eq!(status.completed, 1);
    assert_eq!(status.active, 0);
    assert_eq!(status.in_flight, 0);
}

#[tokio::test]
async fn a_name_that_does_not_resolve_is_a_dns_error() {
    // `.invalid` never resolves (RFC 6761): the resolver's failure is
    // reported as a DNS error, not as a refused connection or a timeout.
    let novita = Novita::builder()
        .config(config(
            "http://novitai-test.invalid",
            &[("MAX_RETRY_ATTEMPTS", "1")],
        ))
        .build()
        .unwrap();
    let err = novita.clusters().await.unwrap_err();
    assert_eq!(err, gave_up(TransportErrorKind::Dns, 1));
}

/// Serves each connection one answer with a chunked body (no declared
/// length): `chunks` chunks of `body`, then the end, or (`cut`) the
/// connection closed instead of the end.
async fn chunked_server(body: &'static str, chunks: usize, cut: bool) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut seen = Vec::new();
                let mut buf = [0u8; 1024];
                while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => seen.extend_from_slice(&buf[..n]),
                    }
                }
                let mut out = String::from(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n",
                );
                for _ in 0..chunks {
                    out.push_str(&format!("{:x}\r\n{body}\r\n", body.len()));
                }
                if !cut {
                    out.push_str("0\r\n\r\n");
                }
                let _ = stream.write_all(out.as_bytes()).await;
                if cut {
                    let _ = stream.shutdown().await;
                }
            });
        }
    });
    format!("http://{addr}")
}

#[tokio::test]
async fn a_chunked_body_is_read_whole_under_the_cap_and_refused_over_it() {
    // 40 chunks of 2 bytes, no declared length: read frame by frame.
    let base = chunked_server("[]", 40, false).await;
    let one = |cap: usize| {
        Novita::builder()
            .config(config(&base, &[("MAX_RETRY_ATTEMPTS", "1")]))
            .max_body_bytes(cap)
            .build()
            .unwrap()
    };
    let driver = one(1024).driver().clone();
    let done = driver
        .send(
            HttpRequest::new(Method::Get, "/v1/clusters"),
            RequestOptions::new(),
        )
        .await
        .unwrap();
    match done.outcome {
        novitai_core::engine::Completion::Ok(r) => {
            assert_eq!(r.status, 200);
            assert_eq!(r.body, "[]".repeat(40).as_bytes());
            assert_eq!(r.headers.get("content-type"), Some("application/json"));
        }
        other => panic!("{other:?}"),
    }
    // The same answer over a 79-byte cap: refused once the chunks pass it,
    // not retried (the server did answer).
    let err = one(79).clusters().await.unwrap_err();
    assert_eq!(err, gave_up(TransportErrorKind::BodyTooLarge, 1));
}

#[tokio::test]
async fn a_chunked_body_cut_short_is_a_connection_error() {
    let base = chunked_server("[]", 3, true).await;
    let novita = Novita::builder()
        .config(config(&base, &[("MAX_RETRY_ATTEMPTS", "2")]))
        .build()
        .unwrap();
    let err = novita.clusters().await.unwrap_err();
    assert_eq!(err, gave_up(TransportErrorKind::ConnectionReset, 2));
}
