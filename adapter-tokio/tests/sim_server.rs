//! The simulator server against a plain reqwest client on 127.0.0.1: the API
//! answers in the real shape, and every fault of the plan shows up on the
//! wire the way a real network shows it.
#![cfg(feature = "sim")]

use std::time::Duration;

use novitai_core::sim::FaultPlan;
use novitai_tokio::sim_server::{SimServer, SimServerConfig, SimServerError, SimServerHandle};
use serde_json::{Value, json};

const KEY: &str = "sk_sim_test";

async fn server(faults: &str, time_scale: f64) -> SimServerHandle {
    SimServer::start(SimServerConfig {
        seed: 7,
        faults: FaultPlan::parse(faults).expect("valid fault plan"),
        api_key: KEY.to_owned(),
        time_scale,
        ..SimServerConfig::default()
    })
    .await
    .expect("server starts")
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .expect("client")
}

async fn get(c: &reqwest::Client, s: &SimServerHandle, path: &str) -> (u16, Value) {
    let r = c
        .get(format!("{}{path}", s.base_url()))
        .bearer_auth(KEY)
        .send()
        .await
        .expect("response");
    let status = r.status().as_u16();
    let body = r.bytes().await.expect("body");
    (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
}

async fn post(c: &reqwest::Client, s: &SimServerHandle, path: &str, body: &Value) -> (u16, Value) {
    let r = c
        .post(format!("{}{path}", s.base_url()))
        .bearer_auth(KEY)
        .header("Content-Type", "application/json")
        .body(serde_json::to_vec(body).expect("json"))
        .send()
        .await
        .expect("response");
    let status = r.status().as_u16();
    let body = r.bytes().await.expect("body");
    (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
}

#[tokio::test]
async fn clusters_and_products_answer_in_the_real_apis_shape() {
    let s = server("none", 1.0);
    let s = s.await;
    assert!(s.base_url().starts_with("http://127.0.0.1:"));
    assert!(s.base_url().ends_with("/gpu-instance/openapi"));
    let c = client();
    let (status, v) = get(&c, &s, "/v1/clusters").await;
    assert_eq!(status, 200, "{v}");
    let clusters = v["data"].as_array().expect("data array");
    assert!(!clusters.is_empty());
    assert!(clusters[0]["id"].is_string(), "{}", clusters[0]);
    let (status, v) = get(&c, &s, "/v1/products").await;
    assert_eq!(status, 200, "{v}");
    let products = v["data"].as_array().expect("data array");
    assert!(!products.is_empty());
    assert!(
        products[0]["id"].is_string() && products[0]["price"].is_string(),
        "{}",
        products[0]
    );
    // The v1 routes answer without the real host's prefix too.
    let r = c
        .get(format!("{}/v1/clusters", s.root_url()))
        .bearer_auth(KEY)
        .send()
        .await
        .expect("response");
    assert_eq!(r.status(), 200);
    assert_eq!(s.stats().succeeded, 3);
    s.shutdown().await;
}

#[tokio::test]
async fn a_wrong_key_is_401_and_an_unknown_path_404() {
    let s = server("none", 1.0).await;
    let c = client();
    let r = c
        .get(format!("{}/v1/clusters", s.base_url()))
        .bearer_auth("sk_wrong")
        .send()
        .await
        .expect("response");
    assert_eq!(r.status(), 401);
    let v: Value = serde_json::from_slice(&r.bytes().await.expect("body")).expect("json");
    assert_eq!(v["reason"], "UNAUTHORIZED");
    let r = c
        .get(format!("{}/v1/clusters", s.base_url()))
        .send()
        .await
        .expect("response");
    assert_eq!(r.status(), 401);
    assert_eq!(get(&c, &s, "/v1/nothing-here").await.0, 404);
    s.shutdown().await;
}

#[tokio::test]
async fn a_created_instance_runs_and_its_port_endpoint_answers() {
    // 1000x: a lifecycle of up to ~3 simulated minutes takes ~0.2 s.
    let s = server("none", 1000.0).await;
    let c = client();
    let create = json!({
        "name": "e2e",
        "productId": "rtx-4090-24gb.cn-hk-01",
        "gpuNum": 1,
        "rootfsSize": 50,
        "imageUrl": "pytorch/pytorch:latest",
        "kind": "gpu",
        "ports": "8888/http",
    });
    let (status, v) = post(&c, &s, "/v1/gpu/instance/create", &create).await;
    assert_eq!(status, 200, "{v}");
    let id = v["id"].as_str().expect("id").to_owned();

    let mut seen = Vec::new();
    let mut instance = Value::Null;
    // At most ~20 s of real time, whatever the machine's load.
    for _ in 0..1000 {
        let (status, v) = get(&c, &s, &format!("/v1/gpu/instance?instanceId={id}")).await;
        assert_eq!(status, 200, "{v}");
        let st = v["status"].as_str().expect("status").to_owned();
        if seen.last() != Some(&st) {
            seen.push(st.clone());
        }
        assert_ne!(st, "exited", "{seen:?}");
        if st == "running" {
            instance = v;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(seen.last().map(String::as_str), Some("running"), "{seen:?}");
    assert!(
        seen.len() > 1,
        "the lifecycle has phases before running: {seen:?}"
    );
    let endpoint = instance["portMappings"][0]["endpoint"]
        .as_str()
        .expect("endpoint")
        .to_owned();
    assert_eq!(endpoint, s.endpoint_url(&id, 8888));

    // The application warms up (503) and then answers 200; no auth needed.
    let mut probes = Vec::new();
    for _ in 0..500 {
        let r = c.get(&endpoint).send().await.expect("probe response");
        let status = r.status().as_u16();
        probes.push(status);
        if status == 200 {
            let v: Value = serde_json::from_slice(&r.bytes().await.expect("body")).expect("json");
            assert_eq!(v["status"], "ready");
            break;
        }
        assert_eq!(status, 503);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(probes.last(), Some(&200), "{probes:?}");
    // Unknown instances and ports are 404.
    let r = c
        .get(s.endpoint_url(&id, 9999))
        .send()
        .await
        .expect("probe");
    assert_eq!(r.status(), 404);
    let r = c
        .get(s.endpoint_url("nope", 8888))
        .send()
        .await
        .expect("probe");
    assert_eq!(r.status(), 404);
    s.shutdown().await;
}

#[tokio::test]
async fn a_reset_is_a_connection_error_not_a_status() {
    let s = server("reset=1", 1.0).await;
    let err = client()
        .get(format!("{}/v1/clusters", s.base_url()))
        .bearer_auth(KEY)
        .send()
        .await
        .expect_err("the connection is reset");
    assert!(err.is_request() || err.is_connect(), "{err:?}");
    assert!(err.status().is_none() && !err.is_timeout(), "{err:?}");
    // A real TCP reset (RST), not a clean close.
    assert_eq!(
        io_kind(&err),
        Some(std::io::ErrorKind::ConnectionReset),
        "{err:?}"
    );
    assert_eq!(s.stats().faults.reset, 1);
    s.shutdown().await;
}

#[tokio::test]
async fn a_hang_makes_the_client_time_out() {
    let s = server("hang=1", 1.0).await;
    let err = reqwest::Client::new()
        .get(format!("{}/v1/clusters", s.base_url()))
        .bearer_auth(KEY)
        .timeout(Duration::from_millis(300))
        .send()
        .await
        .expect_err("no answer");
    assert!(err.is_timeout(), "{err:?}");
    assert_eq!(s.stats().faults.hang, 1);
    // The client closed its connection; the server lets go of it too.
    for _ in 0..500 {
        if s.open_connections() == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(s.open_connections(), 0);
    s.shutdown().await;
}

#[tokio::test]
async fn server_errors_and_rate_limits_are_real_statuses() {
    let s = server("5xx=1", 1.0).await;
    let c = client();
    for _ in 0..3 {
        let status = get(&c, &s, "/v1/clusters").await.0;
        assert!((500..=504).contains(&status), "{status}");
    }
    s.shutdown().await;

    let s = server("429=1,retry-after=2s..2s", 1.0).await;
    let r = c
        .get(format!("{}/v1/clusters", s.base_url()))
        .bearer_auth(KEY)
        .header("Origin", "http://localhost:5173")
        .send()
        .await
        .expect("response");
    assert_eq!(r.status(), 429);
    assert_eq!(r.headers()["retry-after"], "2");
    // A browser script may read Retry-After.
    assert_eq!(r.headers()["access-control-allow-origin"], "*");
    let exposed = r.headers()["access-control-expose-headers"]
        .to_str()
        .expect("ascii");
    assert!(exposed.contains("Retry-After"), "{exposed}");
    s.shutdown().await;
}

#[tokio::test]
async fn damaged_bodies_fail_to_read_or_to_parse() {
    let s = server("truncate=1", 1.0).await;
    let c = client();
    let (mut cut, mut garbled) = (0, 0);
    for _ in 0..12 {
        let r = c
            .get(format!("{}/v1/clusters", s.base_url()))
            .bearer_auth(KEY)
            .send()
            .await
            .expect("status and headers arrive");
        assert_eq!(r.status(), 200);
        match r.bytes().await {
            Err(e) => {
                assert!(e.is_body() || e.is_decode(), "{e:?}");
                // The connection closed before the declared Content-Length.
                assert_eq!(
                    io_kind(&e),
                    Some(std::io::ErrorKind::UnexpectedEof),
                    "{e:?}"
                );
                cut += 1;
            }
            Ok(body) => {
                assert!(serde_json::from_slice::<Value>(&body).is_err());
                garbled += 1;
            }
        }
    }
    assert!(cut > 0 && garbled > 0, "cut {cut}, garbled {garbled}");
    assert_eq!(s.stats().faults.truncated, 12);
    s.shutdown().await;
}

#[tokio::test]
async fn slow_answers_drip_but_arrive_whole() {
    let s = server("slow=1@300ms", 1.0).await;
    let c = client();
    for _ in 0..3 {
        let (status, v) = get(&c, &s, "/v1/clusters").await;
        assert_eq!(status, 200);
        assert!(v["data"].is_array(), "{v}");
    }
    assert_eq!(s.stats().faults.slow, 3);
    s.shutdown().await;
}

#[tokio::test]
async fn the_same_seed_gives_the_same_faults() {
    async fn statuses() -> Vec<u16> {
        let s = server("5xx=0.3,429=0.2,burst=1..3", 1.0).await;
        let c = client();
        let mut out = Vec::new();
        for _ in 0..30 {
            out.push(get(&c, &s, "/v1/clusters").await.0);
        }
        s.shutdown().await;
        out
    }
    let a = statuses().await;
    assert!(a.contains(&200) && a.contains(&429) && a.iter().any(|s| *s >= 500));
    assert_eq!(a, statuses().await);
}

#[tokio::test]
async fn cors_preflight_is_answered_without_auth_or_faults() {
    let s = server("reset=1", 1.0).await;
    let r = client()
        .request(
            reqwest::Method::OPTIONS,
            format!("{}/v1/gpu/instance/create", s.base_url()),
        )
        .header("Origin", "http://localhost:5173")
        .header("Access-Control-Request-Method", "POST")
        .header(
            "Access-Control-Request-Headers",
            "authorization, content-type, x-correlation-id",
        )
        .send()
        .await
        .expect("preflight answered");
    assert_eq!(r.status(), 204);
    let h = r.headers();
    assert_eq!(h["access-control-allow-origin"], "*");
    let methods = h["access-control-allow-methods"].to_str().expect("ascii");
    for m in ["GET", "POST", "PUT", "DELETE", "OPTIONS"] {
        assert!(methods.contains(m), "{methods}");
    }
    let headers = h["access-control-allow-headers"]
        .to_str()
        .expect("ascii")
        .to_ascii_lowercase();
    for name in [
        "authorization",
        "content-type",
        "x-correlation-id",
        "webhook-signature",
    ] {
        assert!(headers.contains(name), "{headers}");
    }
    assert_eq!(s.stats().requests, 0);
    s.shutdown().await;
}

#[tokio::test]
async fn stats_and_health_are_served_under_sim() {
    let s = server("none", 1.0).await;
    let c = client();
    get(&c, &s, "/v1/clusters").await;
    let v: Value = c
        .get(format!("{}/_sim/stats", s.root_url()))
        .send()
        .await
        .expect("stats")
        .json_or_null()
        .await;
    assert_eq!(v["requests"], 1);
    assert_eq!(v["succeeded"], 1);
    let r = c
        .get(format!("{}/_sim/health", s.root_url()))
        .send()
        .await
        .expect("health");
    assert_eq!(r.status(), 200);
    let r = c
        .post(format!("{}/_sim/stats", s.root_url()))
        .send()
        .await
        .expect("answer");
    assert_eq!(r.status(), 405);
    s.shutdown().await;
}

#[tokio::test]
async fn shutdown_completes_while_a_request_hangs() {
    let s = server("hang=1", 1.0).await;
    let url = format!("{}/v1/clusters", s.base_url());
    let pending = tokio::spawn(async move {
        reqwest::Client::new()
            .get(url)
            .bearer_auth(KEY)
            .send()
            .await
    });
    // Wait (bounded) until the server holds the hung request.
    for _ in 0..500 {
        if s.stats().faults.hang == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(s.stats().faults.hang, 1);
    tokio::time::timeout(Duration::from_secs(10), s.shutdown())
        .await
        .expect("shutdown does not wait for the hung request");
    let outcome = tokio::time::timeout(Duration::from_secs(10), pending)
        .await
        .expect("the client is released")
        .expect("task");
    let err = outcome.expect_err("the hung request gets no answer");
    assert!(err.status().is_none(), "{err:?}");
}

#[tokio::test]
async fn bad_configs_are_typed_errors_with_actionable_messages() {
    for scale in [0.0, -1.0, f64::NAN, f64::INFINITY, 1e9] {
        let err = SimServer::start(SimServerConfig {
            time_scale: scale,
            ..SimServerConfig::default()
        })
        .await
        .expect_err("rejected");
        assert!(matches!(err, SimServerError::TimeScale(_)), "{err:?}");
        assert!(err.to_string().contains("time_scale"), "{err}");
    }
    let err = SimServer::start(SimServerConfig {
        api_key: String::new(),
        ..SimServerConfig::default()
    })
    .await
    .expect_err("rejected");
    assert!(matches!(err, SimServerError::Config(_)), "{err:?}");
    assert!(err.to_string().contains("api_key"), "{err}");
    let taken = server("none", 1.0).await;
    let err = SimServer::start(SimServerConfig {
        port: taken.addr().port(),
        ..SimServerConfig::default()
    })
    .await
    .expect_err("port in use");
    assert!(matches!(err, SimServerError::Bind { .. }), "{err:?}");
    assert!(
        err.to_string().contains(&taken.addr().port().to_string()),
        "{err}"
    );
    taken.shutdown().await;
}

/// Reads a JSON body, `Null` when it is not JSON.
trait JsonOrNull {
    async fn json_or_null(self) -> Value;
}

impl JsonOrNull for reqwest::Response {
    async fn json_or_null(self) -> Value {
        let body = self.bytes().await.unwrap_or_default();
        serde_json::from_slice(&body).unwrap_or(Value::Null)
    }
}

/// The kind of the first I/O error in `err`'s source chain.
fn io_kind(err: &(dyn std::error::Error + 'static)) -> Option<std::io::ErrorKind> {
    let mut next = Some(err);
    while let Some(e) = next {
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            return Some(io.kind());
        }
        next = e.source();
    }
    None
}
