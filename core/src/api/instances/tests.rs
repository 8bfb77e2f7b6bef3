//! Golden tests for the instance endpoints.

use super::*;
use crate::api::ApiErrorKind;
use crate::http::Method;
use alloc::format;
use alloc::vec;

fn ok(body: &str) -> HttpResponse {
    HttpResponse::new(200, body.as_bytes().to_vec())
}

fn body_json(r: &HttpRequest) -> Value {
    serde_json::from_slice(r.body.as_deref().unwrap_or_default()).unwrap()
}

const FULL_RECORD: &str = r#"{
    "id": "0123456789abcdef", "name": "trainer", "status": "running",
    "statusError": {"state": "", "message": ""},
    "clusterId": "c1", "clusterName": "AS-SGP-02", "productId": "p1", "productName": "RTX 4090 24GB",
    "kind": "gpu", "billingMode": "spot", "cpuNum": "16", "memory": "62", "gpuNum": 1, "rootfsSize": "60",
    "imageUrl": "pytorch/pytorch:latest", "imageAuthId": "", "command": "python serve.py",
    "envs": [{"key": "HF_TOKEN", "value": "hf_very_secret_token"}],
    "portMappings": [{"port": 8888, "endpoint": "https://abc-8888.proxy.novita.ai", "type": "http"},
                     {"port": "22", "type": "tcp"}],
    "createdAt": "1718000000", "lastStartedAt": "1718000100", "lastStoppedAt": "0",
    "spotStatus": "", "spotReclaimTime": "0",
    "sshPassword": "ssh-pass-do-not-print",
    "connectComponentSSH": {"sshCommand": "ssh root@1.2.3.4 -p 30022", "password": "ssh-component-secret"},
    "connectComponentWebTerminal": {"address": "https://term", "password": "terminal-secret"},
    "brandNewField": [1, 2, 3]
}"#;

#[test]
fn get_builds_the_documented_path() {
    let g = GetInstance::new("0123456789abcdef");
    let r = g.request();
    assert_eq!(r.method, Method::Get);
    assert_eq!(
        r.path_and_query,
        "/v1/gpu/instance?instanceId=0123456789abcdef"
    );
    assert_eq!(r.headers.get("Content-Type"), Some("application/json"));
    assert!(g.is_idempotent());
    assert!(!g.is_cacheable());
}

#[test]
fn get_parses_a_full_record_with_numbers_as_strings() {
    let i = GetInstance::new("x").parse(&ok(FULL_RECORD)).unwrap();
    assert_eq!(i.id, "0123456789abcdef");
    assert_eq!(i.status, InstanceStatus::Running);
    assert_eq!(i.cpu_num, Some(16));
    assert_eq!(i.memory, Some(62));
    assert_eq!(i.gpu_num, Some(1));
    assert_eq!(i.rootfs_size, Some(60));
    assert_eq!(i.port_mappings.len(), 2);
    assert_eq!(
        i.port_mappings[0].endpoint.as_deref(),
        Some("https://abc-8888.proxy.novita.ai")
    );
    assert_eq!(i.port_mappings[1].port, Some(22));
    assert_eq!(i.port_mappings[1].endpoint, None);
    assert_eq!(i.created_at, Some(UnixTime::from_secs(1_718_000_000)));
    assert_eq!(i.last_stopped_at, None);
    assert_eq!(i.failure(), None);
    assert_eq!(
        i.connect_ssh
            .as_ref()
            .and_then(|c| c.ssh_command.as_deref()),
        Some("ssh root@1.2.3.4 -p 30022")
    );
    assert_eq!(i.envs[0].value.expose(), "hf_very_secret_token");
}

#[test]
fn debug_of_an_instance_never_contains_a_password_or_env_value() {
    let i = GetInstance::new("x").parse(&ok(FULL_RECORD)).unwrap();
    let shown = format!("{i:?}");
    for secret in [
        "ssh-pass-do-not-print",
        "ssh-component-secret",
        "terminal-secret",
        "hf_very_secret_token",
    ] {
        assert!(!shown.contains(secret), "{secret} leaked: {shown}");
    }
    assert!(shown.contains("HF_TOKEN"));
}

#[test]
fn get_accepts_a_minimal_record_and_wrapped_records() {
    let i = GetInstance::new("abc")
        .parse(&ok(r#"{"status":"pulling"}"#))
        .unwrap();
    assert_eq!(i.id, "abc");
    assert_eq!(i.status, InstanceStatus::Pulling);
    assert_eq!(i.cpu_num, None);
    let i = GetInstance::new("abc")
        .parse(&ok(r#"{"instance":{"id":"abc","status":"exited"}}"#))
        .unwrap();
    assert_eq!(i.status, InstanceStatus::Exited);
    let e = GetInstance::new("abc").parse(&ok("[1,2]")).unwrap_err();
    assert_eq!(e.kind, ApiErrorKind::Decode);
}

#[test]
fn unknown_status_is_kept_and_counts_as_changing() {
    let i = GetInstance::new("a")
        .parse(&ok(r#"{"id":"a","status":"hibernating"}"#))
        .unwrap();
    assert_eq!(i.status, InstanceStatus::Other(String::from("hibernating")));
    assert!(i.status.is_transitional());
    assert_eq!(i.status.as_str(), "hibernating");
    let i = GetInstance::new("a")
        .parse(&ok(r#"{"id":"a","status":7}"#))
        .unwrap();
    assert_eq!(i.status, InstanceStatus::Other(String::from("7")));
    let i = GetInstance::new("a")
        .parse(&ok(r#"{"id":"a","status":null}"#))
        .unwrap();
    assert_eq!(i.status, InstanceStatus::default());
}

#[test]
fn every_documented_status_round_trips() {
    for (wire, st) in STATUSES {
        assert_eq!(InstanceStatus::from_wire(wire), *st);
        assert_eq!(st.as_str(), *wire);
        let json = serde_json::to_string(st).unwrap();
        assert_eq!(serde_json::from_str::<InstanceStatus>(&json).unwrap(), *st);
    }
    assert!(InstanceStatus::Running.is_stable());
    assert!(InstanceStatus::Pulling.is_transitional());
    assert_eq!(
        InstanceStatus::from_wire("RUNNING"),
        InstanceStatus::Running
    );
}

#[test]
fn optional_fields_of_the_wrong_type_become_none() {
    let i = GetInstance::new("a")
        .parse(&ok(
            r#"{"id":"a","status":"running","cpuNum":{"x":1},"memory":[1],"name":{"n":1},
                "statusError":"oops","portMappings":"8888","envs":{"k":"v"},"createdAt":"yesterday",
                "connectComponentSSH":[1],"sshPassword":{"p":1}}"#,
        ))
        .unwrap();
    assert_eq!(i.cpu_num, None);
    assert_eq!(i.memory, None);
    assert_eq!(i.name, None);
    assert_eq!(i.status_error, None);
    assert!(i.port_mappings.is_empty());
    assert!(i.envs.is_empty());
    assert_eq!(i.created_at, None);
    assert_eq!(i.connect_ssh, None);
    assert_eq!(i.ssh_password, None);
}

#[test]
fn status_error_with_a_message_is_a_failure() {
    let i = GetInstance::new("a")
        .parse(&ok(
            r#"{"id":"a","status":"pulling","statusError":{"state":"pulling","message":"image not found"}}"#,
        ))
        .unwrap();
    assert_eq!(i.failure(), Some("image not found"));
}

#[test]
fn millisecond_timestamps_are_read_as_seconds() {
    let i = GetInstance::new("a")
        .parse(&ok(r#"{"id":"a","createdAt":1718000000123}"#))
        .unwrap();
    assert_eq!(i.created_at, Some(UnixTime::from_secs(1_718_000_000)));
}

#[test]
fn list_builds_the_documented_query() {
    let l = ListInstances {
        page_size: 20,
        page_num: 2,
        name: Some(String::from("my box")),
        product_name: Some(String::from("RTX 4090")),
        status: Some(String::from("running")),
    };
    assert_eq!(
        l.request().path_and_query,
        "/v1/gpu/instances?pageSize=20&pageNum=2&name=my%20box&productName=RTX%204090&status=running"
    );
    assert_eq!(
        ListInstances::default().request().path_and_query,
        "/v1/gpu/instances?pageSize=50&pageNum=1"
    );
}

#[test]
fn list_parses_with_and_without_total() {
    let l = ListInstances::default();
    let p = l
        .parse(&ok(
            r#"{"instances":[{"id":"a","status":"running","portMappings":[{"port":8888,"type":"http"}]},
                {"id":"b","status":"exited"}],"total":"2","pageSize":"50","pageNum":"1"}"#,
        ))
        .unwrap();
    assert_eq!(p.instances.len(), 2);
    assert_eq!(p.total, Some(2));
    assert_eq!(p.page_num, Some(1));
    let p = l.parse(&ok(r#"{"instances":[{"id":"a"}]}"#)).unwrap();
    assert_eq!(p.total, None);
    let p = l.parse(&ok(r#"{"instances":null,"total":0}"#)).unwrap();
    assert!(p.instances.is_empty());
    let e = l.parse(&ok(r#"{"data":[]}"#)).unwrap_err();
    assert_eq!(e.kind, ApiErrorKind::Decode);
}

fn valid_create() -> CreateInstanceRequest {
    CreateInstanceRequest {
        name: Some(String::from("trainer")),
        ports: Some(String::from("8888/http,22/tcp")),
        envs: vec![EnvVar::new("HF_TOKEN", "hf_secret")],
        cluster_id: Some(String::from("c1")),
        billing_mode: Some(String::from("spot")),
        ..CreateInstanceRequest::new("p1", 1, 60, "pytorch/pytorch:latest")
    }
}

#[test]
fn create_sends_the_documented_body() {
    let c = CreateInstance(valid_create());
    assert_eq!(c.validate(), Ok(()));
    assert!(!c.is_idempotent());
    let r = c.request();
    assert_eq!(r.method, Method::Post);
    assert_eq!(r.path_and_query, "/v1/gpu/instance/create");
    assert_eq!(
        body_json(&r),
        serde_json::json!({
            "name": "trainer", "productId": "p1", "gpuNum": 1, "rootfsSize": 60,
            "imageUrl": "pytorch/pytorch:latest", "ports": "8888/http,22/tcp",
            "envs": [{"key": "HF_TOKEN", "value": "hf_secret"}], "kind": "gpu",
            "clusterId": "c1", "billingMode": "spot"
        })
    );
    let mut with_storage = valid_create();
    with_storage.network_storages = vec![NetworkStorageMount {
        id: String::from("s1"),
        mount_point: String::from("/data"),
    }];
    assert_eq!(
        body_json(&CreateInstance(with_storage).request())["networkStorages"],
        serde_json::json!([{"Id": "s1", "mountPoint": "/data"}])
    );
    assert!(!format!("{c:?}").contains("hf_secret"));
}

#[test]
fn create_returns_the_id() {
    let c = CreateInstance(valid_create());
    assert_eq!(
        c.parse(&ok(r#"{"id":"0123456789abcdef"}"#)).unwrap(),
        "0123456789abcdef"
    );
    assert_eq!(c.parse(&ok("{}")).unwrap_err().kind, ApiErrorKind::Decode);
    let e = c
        .parse(&HttpResponse::new(
            400,
            br#"{"code":400,"reason":"INSUFFICIENT_RESOURCE","message":"no capacity"}"#.to_vec(),
        ))
        .unwrap_err();
    assert_eq!(e.kind, ApiErrorKind::InsufficientResource);
}

#[test]
fn create_lists_every_problem_at_once() {
    let bad = CreateInstanceRequest {
        name: Some("n".repeat(256)),
        product_id: String::new(),
        gpu_num: 9,
        rootfs_size: 5,
        image_url: String::new(),
        image_auth: Some(Secret::new("nocolon")),
        command: Some("c".repeat(2048)),
        entrypoint: Some("e".repeat(2048)),
        ports: Some(String::from("2222/tcp,80/udp")),
        envs: vec![EnvVar::new("", "v")],
        kind: String::from("tpu"),
        network_storages: vec![NetworkStorageMount {
            id: String::new(),
            mount_point: String::from("data"),
        }],
        billing_mode: Some(String::from("monthly")),
        auto_renew: Some(true),
        ..CreateInstanceRequest::default()
    };
    let e = bad.validate().unwrap_err();
    let expected = [
        "productId",
        "gpuNum",
        "rootfsSize",
        "imageUrl",
        "kind",
        "name",
        "command",
        "entrypoint",
        "imageAuth",
        "ports",
        "envs[0].key",
        "networkStorages[0].Id",
        "networkStorages[0].mountPoint",
        "month",
        "autoRenewMonth",
    ];
    for f in expected {
        assert!(e.mentions(f), "{f} not reported: {e}");
    }
    let shown = format!("{e}");
    assert!(shown.contains("between 1 and 8"), "{shown}");
    assert!(shown.contains("reserves"), "{shown}");
    assert!(!shown.contains("nocolon"), "imageAuth leaked: {shown}");
    assert_eq!(e.0.len(), 16, "{shown}");
}

#[test]
fn create_limits_counts() {
    let mut r = valid_create();
    r.envs = (0..101)
        .map(|i| EnvVar::new(format!("K{i}"), "v"))
        .collect();
    r.month = Some(13);
    let e = r.validate().unwrap_err();
    assert!(e.mentions("envs"));
    assert!(e.mentions("month"));
    assert_eq!(e.0.len(), 2);
}

#[test]
fn actions_post_the_instance_id_and_accept_any_ack() {
    let cases: [(HttpRequest, &str); 5] = [
        (StartInstance::new("i1").request(), "/v1/gpu/instance/start"),
        (StopInstance::new("i1").request(), "/v1/gpu/instance/stop"),
        (
            RestartInstance::new("i1").request(),
            "/v1/gpu/instance/restart",
        ),
        (
            DeleteInstance::new("i1").request(),
            "/v1/gpu/instance/delete",
        ),
        (
            MigrateInstance::new("i1").request(),
            "/v1/gpu/instance/migrate",
        ),
    ];
    for (r, path) in cases {
        assert_eq!(r.method, Method::Post);
        assert_eq!(r.path_and_query, path);
        assert_eq!(r.body.as_deref(), Some(&br#"{"instanceId":"i1"}"#[..]));
    }
    let s = StartInstance::new("i1");
    assert_eq!(s.parse(&ok("")), Ok(InstanceAck::default()));
    assert_eq!(
        s.parse(&ok(r#"{"instanceId":"i1","state":"toStart"}"#)),
        Ok(InstanceAck {
            instance_id: Some(String::from("i1")),
            state: Some(InstanceStatus::ToStart)
        })
    );
    assert_eq!(s.parse(&ok("OK")), Ok(InstanceAck::default()));
    let e = s
        .parse(&HttpResponse::new(
            400,
            br#"{"message":"invalid state change"}"#.to_vec(),
        ))
        .unwrap_err();
    assert_eq!(e.kind, ApiErrorKind::InvalidStateChange);
    assert!(StopInstance::new(" ").validate().is_err());
}

#[test]
fn edit_sends_ports_and_checks_them() {
    let e = EditInstance {
        instance_id: String::from("i1"),
        ports: vec![
            EditPort {
                port: 8888,
                kind: String::from("http"),
            },
            EditPort {
                port: 22,
                kind: String::from("tcp"),
            },
        ],
        expand_root_disk: Some(20),
    };
    assert_eq!(e.validate(), Ok(()));
    let r = e.request();
    assert_eq!(r.path_and_query, "/v1/gpu/instance/edit");
    assert_eq!(
        body_json(&r),
        serde_json::json!({"instanceId":"i1","ports":[{"port":8888,"type":"http"},{"port":22,"type":"tcp"}],"expandRootDisk":20})
    );
    let bad = EditInstance {
        instance_id: String::new(),
        ports: vec![EditPort {
            port: 2224,
            kind: String::from("udp"),
        }],
        expand_root_disk: None,
    };
    assert_eq!(bad.validate().unwrap_err().0.len(), 3);
}
