//! Story tests of the simulator: everything in virtual time.

use alloc::string::{String, ToString};
use alloc::vec::Vec;
use alloc::{format, vec};
use serde_json::{Value, json};

use super::*;
use crate::http::Method;

const KEY: &str = "sk_test_key";

fn config(faults: FaultPlan) -> SimConfig {
    SimConfig {
        api_key: KEY.to_string(),
        faults,
        ..SimConfig::default()
    }
}

fn sim(seed: u64) -> Simulator {
    Simulator::new(config(FaultPlan::none()), seed, Instant::ZERO).unwrap()
}

fn at(secs: u64) -> Instant {
    Instant::from_millis(secs * 1000)
}

fn request(method: Method, path: &str, body: Option<Value>) -> HttpRequest {
    let mut r = HttpRequest::new(method, path);
    r.headers.set("Authorization", format!("Bearer {KEY}"));
    r.headers.set("Content-Type", "application/json");
    r.body = body.map(|b| serde_json::to_vec(&b).unwrap());
    r
}

/// Sends a request that must get a response; returns status and JSON body.
fn call(
    s: &mut Simulator,
    method: Method,
    path: &str,
    body: Option<Value>,
    now: Instant,
) -> (u16, Value) {
    match s.handle(&request(method, path, body), now) {
        SimReply::Respond { response, .. } => {
            let v = serde_json::from_slice(&response.body).unwrap_or(Value::Null);
            if !v.is_null() {
                // The typed wire records write exactly what a `json!` tree
                // would: keys in byte order, compact (see `wire`).
                assert_eq!(
                    String::from_utf8_lossy(&serde_json::to_vec(&v).unwrap()),
                    String::from_utf8_lossy(&response.body),
                    "{method} {path}: the body is not in canonical key order"
                );
            }
            (response.status, v)
        }
        other => panic!("expected a response, got {other:?}"),
    }
}

fn get(s: &mut Simulator, path: &str, now: Instant) -> (u16, Value) {
    call(s, Method::Get, path, None, now)
}

fn post(s: &mut Simulator, path: &str, body: Value, now: Instant) -> (u16, Value) {
    call(s, Method::Post, path, Some(body), now)
}

fn create_body() -> Value {
    json!({
        "name": "story",
        "productId": "rtx-4090-24gb.cn-hk-01",
        "gpuNum": 1,
        "rootfsSize": 50,
        "imageUrl": "pytorch/pytorch:latest",
        "kind": "gpu",
        "ports": "8888/http,22/tcp",
        "envs": [{"key": "A", "value": "1"}],
    })
}

fn create(s: &mut Simulator, now: Instant) -> String {
    let (status, v) = post(s, "/v1/gpu/instance/create", create_body(), now);
    assert_eq!(status, 200, "{v}");
    v["id"].as_str().unwrap().to_string()
}

fn status_of(s: &mut Simulator, id: &str, now: Instant) -> String {
    let (code, v) = get(s, &format!("/v1/gpu/instance?instanceId={id}"), now);
    assert_eq!(code, 200, "{v}");
    v["status"].as_str().unwrap().to_string()
}

/// Polls every 5 s from `from` until `target`; returns the statuses seen
/// (deduplicated) and the time it got there.
fn poll_until(s: &mut Simulator, id: &str, from: u64, target: &str) -> (Vec<String>, u64) {
    let mut seen: Vec<String> = Vec::new();
    let mut t = from;
    loop {
        let st = status_of(s, id, at(t));
        if seen.last() != Some(&st) {
            seen.push(st.clone());
        }
        if st == target {
            return (seen, t);
        }
        assert!(t < from + 600, "never reached {target}: {seen:?}");
        t += 5;
    }
}

#[test]
fn a_created_instance_goes_through_creating_and_pulling_to_running_with_endpoints() {
    let mut s = sim(1);
    let id = create(&mut s, at(0));
    assert_eq!(id.len(), 16);
    assert!(id.chars().all(|c| c.is_ascii_hexdigit()));
    let (seen, t) = poll_until(&mut s, &id, 0, "running");
    assert_eq!(seen, ["toCreate", "creating", "pulling", "running"]);
    assert!((26..=150).contains(&t), "running after {t} s");

    let (_, v) = get(&mut s, &format!("/v1/gpu/instance?instanceId={id}"), at(t));
    assert_eq!(v["portMappings"][0]["endpoint"], "http://127.0.0.1:8888");
    assert_eq!(v["portMappings"][0]["type"], "http");
    assert_eq!(v["portMappings"][1]["port"], 22);
    assert_eq!(v["gpuNum"], "1");
    assert_eq!(v["cpuNum"], "16");
    assert_eq!(v["memory"], "62");
    assert_eq!(v["clusterId"], "CN-HK-01");
    assert_eq!(v["productName"], "RTX 4090 24GB");
    assert_eq!(v["createdAt"], "1700000000");
    assert_ne!(v["lastStartedAt"], "0");
    assert_eq!(v["statusError"]["message"], "");
    // List records carry no endpoint.
    let (_, list) = get(&mut s, "/v1/gpu/instances?pageSize=10&pageNum=1", at(t));
    assert_eq!(list["total"], 1);
    assert!(
        list["instances"][0]["portMappings"][0]
            .get("endpoint")
            .is_none()
    );
}

#[test]
fn stop_start_restart_and_delete_follow_their_documented_paths() {
    let mut s = sim(2);
    let id = create(&mut s, at(0));
    let (_, t) = poll_until(&mut s, &id, 0, "running");

    let (code, _) = post(
        &mut s,
        "/v1/gpu/instance/stop",
        json!({"instanceId": id}),
        at(t),
    );
    assert_eq!(code, 200);
    let (seen, t) = poll_until(&mut s, &id, t, "exited");
    assert_eq!(seen, ["toStop", "stopping", "exited"]);
    let (_, v) = get(&mut s, &format!("/v1/gpu/instance?instanceId={id}"), at(t));
    assert_ne!(v["lastStoppedAt"], "0");

    post(
        &mut s,
        "/v1/gpu/instance/start",
        json!({"instanceId": id}),
        at(t),
    );
    let (seen, t) = poll_until(&mut s, &id, t, "running");
    assert_eq!(seen, ["toStart", "starting", "running"]);

    post(
        &mut s,
        "/v1/gpu/instance/restart",
        json!({"instanceId": id}),
        at(t),
    );
    let (seen, t) = poll_until(&mut s, &id, t, "running");
    assert_eq!(seen, ["toRestart", "restarting", "running"]);

    let (code, _) = post(
        &mut s,
        "/v1/gpu/instance/delete",
        json!({"instanceId": id}),
        at(t),
    );
    assert_eq!(code, 200);
    assert_eq!(status_of(&mut s, &id, at(t)), "toRemove");
    assert_eq!(status_of(&mut s, &id, at(t + 4)), "removing");
    let (code, v) = get(
        &mut s,
        &format!("/v1/gpu/instance?instanceId={id}"),
        at(t + 20),
    );
    assert_eq!(code, 404, "{v}");
    assert_eq!(s.instance_count(), 0);
}

#[test]
fn impossible_transitions_are_invalid_state_changes() {
    let mut s = sim(3);
    let id = create(&mut s, at(0));
    let body = || json!({"instanceId": id});
    // Still creating: cannot stop, start or restart.
    for op in ["stop", "start", "restart", "migrate"] {
        let (code, v) = post(&mut s, &format!("/v1/gpu/instance/{op}"), body(), at(1));
        assert_eq!(code, 400, "{op}: {v}");
        assert_eq!(v["reason"], "INVALID_STATE_CHANGE");
        assert!(
            v["message"]
                .as_str()
                .unwrap()
                .starts_with("invalid state change"),
            "{v}"
        );
    }
    let (_, t) = poll_until(&mut s, &id, 0, "running");
    let (code, _) = post(&mut s, "/v1/gpu/instance/start", body(), at(t));
    assert_eq!(code, 400, "start a running instance");
    post(&mut s, "/v1/gpu/instance/stop", body(), at(t));
    let (_, t) = poll_until(&mut s, &id, t, "exited");
    for op in ["stop", "restart"] {
        let (code, _) = post(&mut s, &format!("/v1/gpu/instance/{op}"), body(), at(t));
        assert_eq!(code, 400, "{op} an exited instance");
    }
    post(&mut s, "/v1/gpu/instance/delete", body(), at(t));
    let (code, v) = post(&mut s, "/v1/gpu/instance/delete", body(), at(t));
    assert_eq!(
        (code, v["reason"].as_str()),
        (400, Some("INVALID_STATE_CHANGE"))
    );
}

#[test]
fn a_wrong_or_missing_key_is_401() {
    let mut s = sim(4);
    let mut r = request(Method::Get, "/v1/clusters", None);
    for auth in [
        None,
        Some("Bearer sk_wrong"),
        Some(KEY),
        Some("Basic sk_test_key"),
    ] {
        match auth {
            None => r.headers.remove("Authorization"),
            Some(a) => r.headers.set("Authorization", a),
        }
        let reply = s.handle(&r, at(0));
        let SimReply::Respond { response, .. } = reply else {
            panic!()
        };
        assert_eq!(response.status, 401);
        let v: Value = serde_json::from_slice(&response.body).unwrap();
        assert_eq!(v["reason"], "UNAUTHORIZED");
    }
}

#[test]
fn unknown_ids_and_paths_are_404() {
    let mut s = sim(5);
    let (code, v) = get(
        &mut s,
        "/v1/gpu/instance?instanceId=0123456789abcdef",
        at(0),
    );
    assert_eq!(code, 404, "{v}");
    for op in ["start", "stop", "restart", "delete", "migrate", "edit"] {
        let (code, _) = post(
            &mut s,
            &format!("/v1/gpu/instance/{op}"),
            json!({"instanceId": "nope"}),
            at(0),
        );
        assert_eq!(code, 404, "{op}");
    }
    assert_eq!(get(&mut s, "/v1/template?templateId=999", at(0)).0, 404);
    assert_eq!(get(&mut s, "/v1/nothing", at(0)).0, 404);
    assert_eq!(get(&mut s, "/v2/instances", at(0)).0, 404);
    assert_eq!(post(&mut s, "/v1/clusters", json!({}), at(0)).0, 405);
    // The real base path is accepted too.
    assert_eq!(
        get(&mut s, "/gpu-instance/openapi/v1/clusters", at(0)).0,
        200
    );
}

#[test]
fn invalid_create_bodies_get_validator_errors() {
    let mut s = sim(6);
    let cases: Vec<(&str, Value, &str)> = vec![
        ("gpuNum", json!(0), "gpuNum must be between 1 and 8"),
        ("gpuNum", json!(9), "gpuNum must be between 1 and 8"),
        ("gpuNum", json!("x"), "gpuNum must be an integer"),
        (
            "rootfsSize",
            json!(5),
            "rootfsSize must be between 10 and 6144",
        ),
        (
            "rootfsSize",
            json!(7000),
            "rootfsSize must be between 10 and 6144",
        ),
        ("imageUrl", json!(""), "imageUrl is required"),
        (
            "imageUrl",
            json!("x".repeat(501)),
            "imageUrl must be at most 500 characters",
        ),
        ("kind", json!("tpu"), "kind must be gpu or cpu"),
        (
            "name",
            json!("n".repeat(256)),
            "name must be at most 255 characters",
        ),
        (
            "command",
            json!("c".repeat(2048)),
            "command must be at most 2047 characters",
        ),
        ("ports", json!("2222/tcp"), "ports 2222-2224 are reserved"),
        ("ports", json!("80/udp"), "port type must be tcp or http"),
        (
            "ports",
            json!("70000/http"),
            "ports must be between 1 and 65535",
        ),
        (
            "ports",
            json!(
                (1..=16)
                    .map(|p| format!("{}/http", 8000 + p))
                    .collect::<Vec<_>>()
                    .join(",")
            ),
            "at most 15 ports can be exposed",
        ),
        (
            "envs",
            json!(
                (0..101)
                    .map(|i| json!({"key": format!("K{i}"), "value": ""}))
                    .collect::<Vec<_>>()
            ),
            "envs must have at most 100 entries",
        ),
        (
            "billingMode",
            json!("yearly"),
            "billingMode must be one of onDemand, monthly, spot",
        ),
        (
            "month",
            json!(13),
            "month must be between 1 and 12 for monthly billing",
        ),
    ];
    for (field, value, message) in cases {
        let mut body = create_body();
        body[field] = value;
        if field == "month" {
            body["billingMode"] = json!("monthly");
        }
        let (code, v) = post(&mut s, "/v1/gpu/instance/create", body, at(0));
        assert_eq!(code, 400, "{field}: {v}");
        assert_eq!(v["code"], 400);
        assert_eq!(v["reason"], "VALIDATOR_PARAM", "{field}");
        assert_eq!(v["message"], message, "{field}");
    }
    for missing in ["productId", "gpuNum", "rootfsSize", "imageUrl", "kind"] {
        let mut body = create_body();
        body.as_object_mut().unwrap().remove(missing);
        let (code, v) = post(&mut s, "/v1/gpu/instance/create", body, at(0));
        assert_eq!(
            (code, v["message"].as_str().unwrap()),
            (400, format!("{missing} is required").as_str())
        );
    }
    // Semantic failures carry their own reasons.
    let mut body = create_body();
    body["productId"] = json!("rtx-3090-24gb.cn-hk-01"); // not deployable
    assert_eq!(
        post(&mut s, "/v1/gpu/instance/create", body, at(0)).1["reason"],
        "INSUFFICIENT_RESOURCE"
    );
    let mut body = create_body();
    body["productId"] = json!("no-such-product");
    assert_eq!(
        post(&mut s, "/v1/gpu/instance/create", body, at(0)).1["reason"],
        "RESOURCE_NOT_FOUND"
    );
    let mut body = create_body();
    body["productId"] = json!("a100-80gb.as-sgp-02"); // zero spot price
    body["billingMode"] = json!("spot");
    assert_eq!(post(&mut s, "/v1/gpu/instance/create", body, at(0)).0, 400);
    // Bodies that are not JSON objects.
    let mut r = request(Method::Post, "/v1/gpu/instance/create", None);
    r.body = Some(b"{not json".to_vec());
    let SimReply::Respond { response, .. } = s.handle(&r, at(0)) else {
        panic!()
    };
    assert_eq!(response.status, 400);
    assert_eq!(s.instance_count(), 0, "no invalid request created anything");
    // Numbers as strings are accepted, as the real API sends them.
    let mut body = create_body();
    body["gpuNum"] = json!("2");
    assert_eq!(post(&mut s, "/v1/gpu/instance/create", body, at(0)).0, 200);
}

#[test]
fn pagination_walks_every_instance_and_template_exactly_once() {
    let mut s = sim(7);
    let mut ids: Vec<String> = (0..23).map(|i| create(&mut s, at(i))).collect();
    for size in [1u64, 4, 10, 23, 50] {
        let mut seen: Vec<String> = Vec::new();
        for num in 1.. {
            let (code, v) = get(
                &mut s,
                &format!("/v1/gpu/instances?pageSize={size}&pageNum={num}"),
                at(30),
            );
            assert_eq!(code, 200);
            assert_eq!(v["total"], 23);
            let page = v["instances"].as_array().unwrap();
            if page.is_empty() {
                break;
            }
            assert!(page.len() as u64 <= size);
            seen.extend(page.iter().map(|i| i["id"].as_str().unwrap().to_string()));
        }
        let mut sorted = seen.clone();
        sorted.sort();
        ids.sort();
        assert_eq!(sorted, ids, "page size {size}");
    }
    // Required paging parameters.
    assert_eq!(get(&mut s, "/v1/gpu/instances", at(30)).0, 400);
    assert_eq!(
        get(&mut s, "/v1/gpu/instances?pageSize=-1&pageNum=1", at(30)).0,
        400
    );
    // Templates: 6 public + 9 private.
    for i in 0..9 {
        let t = json!({"template": {"name": format!("mine-{i}"), "image": "busybox"}});
        assert_eq!(post(&mut s, "/v1/template/create", t, at(31)).0, 200);
    }
    let mut names: Vec<String> = Vec::new();
    for num in 1..=4 {
        let (_, v) = get(
            &mut s,
            &format!("/v1/templates?pageSize=4&pageNum={num}"),
            at(32),
        );
        assert_eq!(v["total"], 15);
        names.extend(
            v["template"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t["name"].as_str().unwrap().to_string()),
        );
    }
    let before = names.len();
    names.sort();
    names.dedup();
    assert_eq!((before, names.len()), (15, 15));
}

#[test]
fn filters_narrow_instances_and_products() {
    let mut s = sim(8);
    let a = create(&mut s, at(0));
    let mut body = create_body();
    body["productId"] = json!("h100-80gb.us-ca-06");
    body["name"] = json!("big");
    body["billingMode"] = json!("spot");
    post(&mut s, "/v1/gpu/instance/create", body, at(0));
    let (_, v) = get(
        &mut s,
        "/v1/gpu/instances?pageSize=10&pageNum=1&productName=h100",
        at(1),
    );
    assert_eq!(v["total"], 1);
    assert_eq!(v["instances"][0]["billingMode"], "spot");
    let (_, v) = get(
        &mut s,
        "/v1/gpu/instances?pageSize=10&pageNum=1&clusterId=CN-HK-01",
        at(1),
    );
    assert_eq!(v["instances"][0]["id"], a.as_str());
    let (_, v) = get(
        &mut s,
        "/v1/gpu/instances?pageSize=10&pageNum=1&status=toCreate",
        at(0),
    );
    assert_eq!(v["total"], 2);
    assert_eq!(
        get(
            &mut s,
            "/v1/gpu/instances?pageSize=10&pageNum=1&status=bogus",
            at(1)
        )
        .0,
        400
    );

    let (_, all) = get(&mut s, "/v1/products", at(1));
    let all = all["data"].as_array().unwrap().clone();
    assert!(all.len() >= 12);
    assert!(all.iter().any(|p| p["availableDeploy"] == false));
    assert!(all.iter().any(|p| p["spotPrice"] == "0"));
    let p = &all[0];
    assert_eq!(p["price"], "35000");
    assert_eq!(p["regions"][0], "CN-HK-01");
    assert!(p["monthlyPrice"][0]["price"].is_string());
    let (_, v) = get(
        &mut s,
        "/v1/products?productName=rtx%204090&clusterId=US-CA-06",
        at(1),
    );
    assert_eq!(v["data"].as_array().unwrap().len(), 1);
    let (_, v) = get(&mut s, "/v1/products?billingMethod=spot", at(1));
    assert!(
        v["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["spotPrice"] != "0")
    );
    let (_, v) = get(&mut s, "/v1/products?productName=H100&gpuNum=4", at(1));
    assert!(
        v["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["id"] == "h100-80gb.as-sgp-02" && p["availableDeploy"] == false)
    );
    assert_eq!(get(&mut s, "/v1/products?gpuNum=9", at(1)).0, 400);
    assert_eq!(get(&mut s, "/v1/products?billingMethod=free", at(1)).0, 400);
    assert_eq!(get(&mut s, "/v1/products?clusterId=MARS-01", at(1)).0, 400);
    let (_, c) = get(&mut s, "/v1/clusters", at(1));
    assert_eq!(c["data"].as_array().unwrap().len(), 5);
    assert!(c["data"][0]["availableGpuType"].as_array().unwrap().len() >= 2);
}

#[test]
fn templates_auths_and_storage_round_trip() {
    let mut s = sim(9);
    let (_, v) = get(&mut s, "/v1/template?templateId=1001", at(0));
    assert_eq!(v["template"]["Id"], "1001");
    assert_eq!(v["template"]["ports"][0]["ports"][0], 8888);
    let t = json!({"template": {"name": "mine", "image": "img", "ports": [{"type": "http", "ports": [8080]}], "envs": [{"key": "K", "value": "V"}]}});
    let (_, v) = post(&mut s, "/v1/template/create", t, at(0));
    let tid = v["templateId"].as_str().unwrap().to_string();
    let (_, v) = get(&mut s, &format!("/v1/template?templateId={tid}"), at(0));
    assert_eq!(v["template"]["channel"], "private");
    assert_eq!(
        post(
            &mut s,
            "/v1/template/delete",
            json!({"templateId": "1001"}),
            at(0)
        )
        .0,
        403
    );
    assert_eq!(
        post(
            &mut s,
            "/v1/template/delete",
            json!({"templateId": tid}),
            at(0)
        )
        .0,
        200
    );
    assert_eq!(
        get(&mut s, &format!("/v1/template?templateId={tid}"), at(0)).0,
        404
    );
    assert_eq!(
        post(
            &mut s,
            "/v1/template/create",
            json!({"template": {"name": "x"}}),
            at(0)
        )
        .1["message"],
        "image is required"
    );

    post(
        &mut s,
        "/v1/repository/auth/save",
        json!({"name": "ghcr", "username": "u", "password": "p"}),
        at(0),
    );
    post(
        &mut s,
        "/v1/repository/auth/save",
        json!({"name": "ghcr", "username": "u2", "password": "p2"}),
        at(0),
    );
    let (_, v) = get(&mut s, "/v1/repository/auths", at(0));
    assert_eq!(v["data"].as_array().unwrap().len(), 1);
    assert_eq!(v["data"][0]["username"], "u2");
    let auth_id = v["data"][0]["id"].as_str().unwrap().to_string();
    assert_eq!(
        post(
            &mut s,
            "/v1/repository/auth/save",
            json!({"name": "x"}),
            at(0)
        )
        .0,
        400
    );

    let (code, v) = post(
        &mut s,
        "/v1/networkstorage/create",
        json!({"clusterId": "CN-HK-01", "storageName": "data", "storageSize": 100}),
        at(0),
    );
    assert_eq!(code, 200, "{v}");
    let sid = v["storageId"].as_str().unwrap().to_string();
    assert_eq!(
        post(
            &mut s,
            "/v1/networkstorage/create",
            json!({"clusterId": "EU-DE-01", "storageName": "d", "storageSize": 100}),
            at(0)
        )
        .0,
        400
    );
    assert_eq!(
        post(
            &mut s,
            "/v1/networkstorage/update",
            json!({"storageId": sid, "storageSize": 50}),
            at(0)
        )
        .0,
        400
    );
    assert_eq!(
        post(
            &mut s,
            "/v1/networkstorage/update",
            json!({"storageId": sid, "storageSize": 200, "storageName": "big"}),
            at(0)
        )
        .0,
        200
    );
    let (_, v) = get(
        &mut s,
        "/v1/networkstorages/list?pageNo=1&pageSize=10",
        at(0),
    );
    assert_eq!(v["total"], 1);
    assert_eq!(v["data"][0]["storageSize"], 200);
    assert_eq!(v["data"][0]["storageName"], "big");
    assert_eq!(v["data"][0]["clusterName"], "Hong Kong 01");

    let mut body = create_body();
    body["imageAuthId"] = json!(auth_id);
    body["networkStorages"] = json!([{"Id": sid, "mountPoint": "/data"}]);
    let (code, v) = post(&mut s, "/v1/gpu/instance/create", body, at(0));
    assert_eq!(code, 200, "{v}");
    let (code, v) = post(
        &mut s,
        "/v1/networkstorage/delete",
        json!({"storageId": sid}),
        at(1),
    );
    assert_eq!((code, v["reason"].as_str()), (400, Some("CONFLICT")));
    assert_eq!(
        post(
            &mut s,
            "/v1/repository/auth/delete",
            json!({"id": auth_id}),
            at(1)
        )
        .0,
        200
    );
    assert_eq!(
        post(
            &mut s,
            "/v1/repository/auth/delete",
            json!({"id": auth_id}),
            at(1)
        )
        .0,
        404
    );
}

#[test]
fn a_failing_image_ends_exited_with_status_error_and_start_clears_it() {
    let mut s = sim(10);
    let mut body = create_body();
    body["imageUrl"] = json!("registry.example/sim-fail:1");
    let (_, v) = post(&mut s, "/v1/gpu/instance/create", body, at(0));
    let id = v["id"].as_str().unwrap().to_string();
    let (seen, t) = poll_until(&mut s, &id, 0, "exited");
    assert_eq!(seen, ["toCreate", "creating", "pulling", "exited"]);
    let (_, v) = get(&mut s, &format!("/v1/gpu/instance?instanceId={id}"), at(t));
    assert_eq!(v["statusError"]["state"], "pulling");
    assert!(!v["statusError"]["message"].as_str().unwrap().is_empty());
    post(
        &mut s,
        "/v1/gpu/instance/start",
        json!({"instanceId": id}),
        at(t),
    );
    let (_, v) = get(&mut s, &format!("/v1/gpu/instance?instanceId={id}"), at(t));
    assert_eq!(
        v["statusError"]["message"], "",
        "start clears the old error"
    );

    let mut cfg = config(FaultPlan::none());
    cfg.startup_failure = 1.0;
    let mut s = Simulator::new(cfg, 10, Instant::ZERO).unwrap();
    let id = create(&mut s, at(0));
    poll_until(&mut s, &id, 0, "exited");
}

#[test]
fn endpoints_warm_up_after_running() {
    let mut cfg = config(FaultPlan::none());
    cfg.timings.warmup = DurationRange::secs(10, 10);
    cfg.endpoint_template = "http://127.0.0.1:9000/_sim/{id}/{port}".into();
    let mut s = Simulator::new(cfg, 11, Instant::ZERO).unwrap();
    let id = create(&mut s, at(0));
    assert_eq!(s.probe_endpoint(&id, 8888, at(0)), EndpointProbe::Down);
    let (_, t) = poll_until(&mut s, &id, 0, "running");
    let running_at = s.model.instances[0].last_started_at.unwrap();
    assert_eq!(
        s.probe_endpoint(&id, 8888, running_at),
        EndpointProbe::WarmingUp
    );
    assert_eq!(
        s.probe_endpoint(&id, 8888, running_at + Duration::from_secs(10)),
        EndpointProbe::Ready
    );
    assert_eq!(
        s.probe_endpoint(&id, 9999, at(t + 20)),
        EndpointProbe::Unknown
    );
    assert_eq!(
        s.probe_endpoint("nope", 8888, at(t + 20)),
        EndpointProbe::Unknown
    );
    let (_, v) = get(
        &mut s,
        &format!("/v1/gpu/instance?instanceId={id}"),
        at(t + 20),
    );
    assert_eq!(
        v["portMappings"][0]["endpoint"],
        format!("http://127.0.0.1:9000/_sim/{id}/8888")
    );
}

/// A fixed script of requests touching every route, with some failures.
fn script(s: &mut Simulator) -> Vec<SimReply> {
    let mut out = Vec::new();
    let mut ids: Vec<String> = Vec::new();
    for step in 0u64..400 {
        let now = at(step * 2);
        let r = match step % 8 {
            0 => request(Method::Post, "/v1/gpu/instance/create", Some(create_body())),
            1 => request(Method::Get, "/v1/gpu/instances?pageSize=5&pageNum=1", None),
            2 => request(Method::Get, "/v1/products?productName=4090", None),
            3 | 4 => {
                let id = ids
                    .get(step as usize % ids.len().max(1))
                    .cloned()
                    .unwrap_or_default();
                request(
                    Method::Get,
                    &format!("/v1/gpu/instance?instanceId={id}"),
                    None,
                )
            }
            5 => {
                let id = ids.first().cloned().unwrap_or_default();
                request(
                    Method::Post,
                    "/v1/gpu/instance/stop",
                    Some(json!({"instanceId": id})),
                )
            }
            6 => request(Method::Get, "/v1/templates?pageSize=2&pageNum=2", None),
            _ => request(Method::Get, "/v1/clusters", None),
        };
        let reply = s.handle(&r, now);
        if let SimReply::Respond { response, .. } = &reply
            && let Ok(v) = serde_json::from_slice::<Value>(&response.body)
            && let Some(id) = v.get("id").and_then(Value::as_str)
        {
            ids.push(id.to_string());
        }
        out.push(reply);
    }
    out
}

#[test]
fn same_seed_same_replies() {
    let run = |seed| {
        let mut s = Simulator::new(config(FaultPlan::default_demo()), seed, Instant::ZERO).unwrap();
        (script(&mut s), s.stats())
    };
    let (a, sa) = run(42);
    let (b, sb) = run(42);
    assert_eq!(a, b);
    assert_eq!(sa, sb);
    let (c, _) = run(43);
    assert_ne!(a, c);
    assert!(
        sa.faults.outage > 0,
        "the demo outage at 2 min is hit: {sa:?}"
    );
}

#[test]
fn fault_decisions_do_not_depend_on_what_is_requested() {
    let plan = FaultPlan::parse("5xx=0.1,429=0.05,reset=0.05,hang=0.02").unwrap();
    let kinds = |paths: &[&str]| -> Vec<Option<u16>> {
        let mut s = Simulator::new(config(plan.clone()), 5, Instant::ZERO).unwrap();
        (0..500)
            .map(|i| {
                let p = paths[i % paths.len()];
                let reply = s.handle(&request(Method::Get, p, None), at(i as u64));
                match reply.status() {
                    Some(c) if c >= 429 => Some(c),
                    Some(_) => Some(200), // reached the model (any answer)
                    None => match reply {
                        SimReply::Hang => Some(1),
                        _ => Some(0),
                    },
                }
            })
            .collect()
    };
    let a = kinds(&["/v1/clusters"]);
    let b = kinds(&[
        "/v1/products",
        "/v1/nothing",
        "/v1/gpu/instances?pageSize=1&pageNum=1",
    ]);
    assert_eq!(a, b);
}

#[test]
fn configured_rates_show_up_over_ten_thousand_requests() {
    let plan = FaultPlan::parse(
        "5xx=0.05,429=0.02,reset=0.01,hang=0.005,truncate=0.01,latency=50ms..400ms,slow=0.01@5s",
    )
    .unwrap();
    let mut s = Simulator::new(config(plan), 99, Instant::ZERO).unwrap();
    let r = request(Method::Get, "/v1/clusters", None);
    let n = 10_000u64;
    let mut five_xx = 0u64;
    let mut max_latency = Duration::ZERO;
    for i in 0..n {
        let reply = s.handle(&r, Instant::from_millis(i * 100));
        if let SimReply::Respond { after, response } = &reply {
            if response.status >= 500 {
                five_xx += 1;
            }
            if response.status == 429 {
                let ra: u64 = response
                    .headers
                    .get("Retry-After")
                    .unwrap()
                    .parse()
                    .unwrap();
                assert!((1..=5).contains(&ra));
            }
            assert!(*after >= Duration::from_millis(50) && *after <= Duration::from_secs(5));
            max_latency = max_latency.max(*after);
        }
    }
    let st = s.stats();
    let rate = |c: u64| c as f64 / n as f64;
    let near = |got: f64, want: f64| got > want * 0.6 && got < want * 1.4;
    assert_eq!(five_xx, st.faults.server_error);
    assert!(near(rate(st.faults.server_error), 0.05), "{st:?}");
    assert!(near(rate(st.faults.rate_limited), 0.02), "{st:?}");
    assert!(near(rate(st.faults.reset), 0.01), "{st:?}");
    assert!(near(rate(st.faults.hang), 0.005), "{st:?}");
    assert!(near(rate(st.faults.truncated), 0.01), "{st:?}");
    assert!(near(rate(st.faults.slow), 0.01), "{st:?}");
    assert!(max_latency > Duration::from_millis(400));
    assert_eq!(st.requests, n);
    assert_eq!(st.served, st.succeeded);
}

#[test]
fn five_xx_come_in_bursts() {
    let plan = FaultPlan::parse("5xx=0.2,burst=3..3").unwrap();
    let mut s = Simulator::new(config(plan), 1, Instant::ZERO).unwrap();
    let r = request(Method::Get, "/v1/clusters", None);
    let statuses: Vec<u16> = (0..2000)
        .map(|i| s.handle(&r, at(i)).status().unwrap())
        .collect();
    let mut run = 0;
    for st in statuses {
        if st >= 500 {
            run += 1;
        } else {
            assert!(
                run % 3 == 0,
                "bursts of exactly 3 (possibly back to back), got a run of {run}"
            );
            run = 0;
        }
    }
}

#[test]
fn the_outage_window_answers_only_errors_inside_it() {
    let plan = FaultPlan::parse("outage=120s+45s").unwrap();
    let mut s = Simulator::new(config(plan), 3, Instant::from_millis(5_000)).unwrap();
    let r = request(Method::Get, "/v1/clusters", None);
    let mut resets = 0;
    for t in (0..300_000u64).step_by(500) {
        let now = Instant::from_millis(5_000 + t);
        let reply = s.handle(&r, now);
        let inside = (120_000..165_000).contains(&t);
        match reply {
            SimReply::Respond { response, .. } if inside => assert_eq!(response.status, 503),
            SimReply::Reset { .. } if inside => resets += 1,
            SimReply::Respond { response, .. } => assert_eq!(response.status, 200, "at {t} ms"),
            other => panic!("unexpected {other:?} at {t} ms"),
        }
    }
    assert!(resets > 10);
    assert_eq!(s.stats().faults.outage, 90);
}

#[test]
fn a_new_fault_plan_takes_effect_on_the_next_request_and_a_bad_one_is_refused() {
    let mut s = sim(4);
    let r = request(Method::Get, "/v1/clusters", None);
    assert_eq!(get(&mut s, "/v1/clusters", at(1)).0, 200);
    // The knob turned at 10 s: an outage from 10 s to 20 s of simulator time.
    s.set_fault_plan(FaultPlan::parse("outage=10s+10s").unwrap())
        .unwrap();
    for t in 10..20 {
        match s.handle(&r, at(t)) {
            SimReply::Respond { response, .. } => assert_eq!(response.status, 503),
            SimReply::Reset { .. } => {}
            other => panic!("unexpected {other:?} at {t} s"),
        }
    }
    assert_eq!(get(&mut s, "/v1/clusters", at(20)).0, 200);
    let mut bad = FaultPlan::none();
    bad.rate_limit = 2.0;
    assert!(s.set_fault_plan(bad).is_err());
    assert_eq!(s.fault_plan(), &FaultPlan::parse("outage=10s+10s").unwrap());
}

#[test]
fn faulted_requests_change_no_state() {
    for plan in ["reset=1", "hang=1", "truncate=1", "429=1", "5xx=0.999"] {
        let mut s =
            Simulator::new(config(FaultPlan::parse(plan).unwrap()), 8, Instant::ZERO).unwrap();
        for i in 0..20 {
            let reply = s.handle(
                &request(Method::Post, "/v1/gpu/instance/create", Some(create_body())),
                at(i),
            );
            if plan == "truncate=1" {
                let SimReply::Truncated { response, .. } = reply else {
                    panic!("{reply:?}")
                };
                assert_eq!(response.status, 200);
                assert!(serde_json::from_slice::<Value>(&response.body).is_err());
            }
        }
        if plan == "5xx=0.999" {
            assert!(s.instance_count() <= 1, "{plan}");
        } else {
            assert_eq!(s.instance_count(), 0, "{plan}");
        }
    }
}

#[test]
fn five_xx_bodies_are_json_or_gateway_html_and_429_carries_retry_after() {
    let mut s = Simulator::new(
        config(FaultPlan::parse("5xx=0.5,429=0.5").unwrap()),
        2,
        Instant::ZERO,
    )
    .unwrap();
    let r = request(Method::Get, "/v1/clusters", None);
    let mut seen = Vec::new();
    for i in 0..400 {
        let SimReply::Respond { response, .. } = s.handle(&r, at(i)) else {
            panic!()
        };
        if !seen.contains(&response.status) {
            seen.push(response.status);
        }
        match response.status {
            502 | 504 => assert!(response.body.starts_with(b"<html>")),
            429 => assert!(response.headers.get("Retry-After").is_some()),
            200 => {}
            _ => {
                let v: Value = serde_json::from_slice(&response.body).unwrap();
                assert!(v["reason"].is_string());
            }
        }
    }
    seen.sort_unstable();
    assert_eq!(seen, [200, 429, 500, 502, 503, 504]);
}

#[test]
fn bad_configs_are_typed_errors() {
    let mut c = config(FaultPlan::none());
    c.api_key = String::new();
    assert_eq!(
        Simulator::new(c, 0, Instant::ZERO).unwrap_err(),
        SimConfigError::EmptyApiKey
    );
    let mut c = config(FaultPlan::none());
    c.startup_failure = 1.5;
    let e = Simulator::new(c, 0, Instant::ZERO).unwrap_err();
    assert!(format!("{e}").contains("startup_failure"), "{e}");
    let mut c = config(FaultPlan::none());
    c.timings.pulling = DurationRange::secs(100, 10);
    assert!(matches!(
        Simulator::new(c, 0, Instant::ZERO),
        Err(SimConfigError::Timing {
            field: "timings.pulling",
            ..
        })
    ));
    let mut c = config(FaultPlan::none());
    c.default_page_size = 500;
    assert!(Simulator::new(c, 0, Instant::ZERO).is_err());
    let mut c = config(FaultPlan::none());
    c.faults.hang = 2.0;
    assert!(matches!(
        Simulator::new(c, 0, Instant::ZERO),
        Err(SimConfigError::Faults(_))
    ));
}

#[test]
fn the_simulator_round_trips_through_serde_and_carries_on_identically() {
    let mut a = Simulator::new(config(FaultPlan::default_demo()), 77, Instant::ZERO).unwrap();
    let _ = script(&mut a);
    let saved = serde_json::to_string(&a).unwrap();
    let mut b: Simulator = serde_json::from_str(&saved).unwrap();
    let r = request(Method::Get, "/v1/gpu/instances?pageSize=50&pageNum=1", None);
    for i in 0..50 {
        assert_eq!(a.handle(&r, at(800 + i)), b.handle(&r, at(800 + i)));
    }
}

#[test]
fn time_going_backwards_counts_as_no_time() {
    let mut s = sim(12);
    let id = create(&mut s, at(0));
    let (_, t) = poll_until(&mut s, &id, 0, "running");
    assert_eq!(status_of(&mut s, &id, at(0)), "running");
    assert_eq!(s.now(), at(t));
    assert_eq!(s.next_change(), None);
}
