//! Properties of the simulated Novita API (feature `sim`).
#![cfg(feature = "sim")]

use novitai_core::Instant;
use novitai_core::http::{HttpRequest, Method};
use novitai_core::sim::{FaultPlan, ROUTES, SimConfig, SimReply, Simulator};
use proptest::prelude::*;

const KEY: &str = "sk_prop";

/// Every served route, plus the same route as an absolute URL.
fn paths() -> Vec<&'static str> {
    let mut p = ROUTES.to_vec();
    p.push("https://api.novita.ai/gpu-instance/openapi/v1/gpu/instances");
    p
}

const KEYS: &[&str] = &[
    "pageSize",
    "pageNum",
    "pageNo",
    "instanceId",
    "templateId",
    "productName",
    "clusterId",
    "gpuNum",
    "billingMethod",
    "status",
    "name",
    "minCpuPerGpu",
    "minRootFSSize",
    "type",
];

const FIELDS: &[&str] = &[
    "productId",
    "gpuNum",
    "rootfsSize",
    "imageUrl",
    "kind",
    "name",
    "ports",
    "envs",
    "billingMode",
    "month",
    "clusterId",
    "instanceId",
    "templateId",
    "template",
    "id",
    "username",
    "password",
    "storageId",
    "storageName",
    "storageSize",
    "networkStorages",
    "imageAuthId",
    "imageAuth",
    "expandRootDisk",
    "command",
    "autoRenew",
];

fn method() -> impl Strategy<Value = Method> {
    prop_oneof![
        Just(Method::Get),
        Just(Method::Post),
        Just(Method::Put),
        Just(Method::Patch),
        Just(Method::Delete)
    ]
}

fn json_value() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        (-5i64..20).prop_map(serde_json::Value::from),
        any::<f64>().prop_map(serde_json::Value::from),
        ".{0,12}".prop_map(serde_json::Value::from),
        prop_oneof![
            Just("8888/http,22/tcp"),
            Just("rtx-4090-24gb.cn-hk-01"),
            Just("gpu"),
            Just("spot"),
            Just("CN-HK-01"),
            Just("2")
        ]
        .prop_map(serde_json::Value::from),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::from),
            prop::collection::vec((prop::sample::select(FIELDS), inner), 0..4).prop_map(|kv| {
                serde_json::Value::Object(kv.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
            }),
        ]
    })
}

fn body() -> impl Strategy<Value = Option<Vec<u8>>> {
    prop_oneof![
        Just(None),
        prop::collection::vec(any::<u8>(), 0..64).prop_map(Some),
        prop::collection::vec((prop::sample::select(FIELDS), json_value()), 0..8).prop_map(|kv| {
            let m: serde_json::Map<String, serde_json::Value> =
                kv.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
            Some(serde_json::to_vec(&m).unwrap())
        }),
    ]
}

fn target() -> impl Strategy<Value = String> {
    let path = prop_oneof![
        4 => prop::sample::select(paths()).prop_map(str::to_string),
        1 => ".{0,30}",
    ];
    let query = prop::collection::vec(
        (
            prop_oneof![
                prop::sample::select(KEYS).prop_map(str::to_string),
                "[a-z%]{0,5}"
            ],
            "[-0-9a-zA-Z%+ ]{0,6}",
        ),
        0..4,
    );
    (path, query).prop_map(|(p, q)| {
        if q.is_empty() {
            return p;
        }
        let q: Vec<String> = q.into_iter().map(|(k, v)| format!("{k}={v}")).collect();
        format!("{p}?{}", q.join("&"))
    })
}

fn request() -> impl Strategy<Value = HttpRequest> {
    (method(), target(), body(), 0u8..4).prop_map(|(m, t, b, auth)| {
        let mut r = HttpRequest::new(m, t);
        match auth {
            0 => {}
            1 => r.headers.set("Authorization", "Bearer nope"),
            _ => r.headers.set("Authorization", format!("Bearer {KEY}")),
        }
        r.body = b;
        r
    })
}

fn simulator(faults: FaultPlan, seed: u64) -> Simulator {
    let config = SimConfig {
        api_key: KEY.into(),
        faults,
        ..SimConfig::default()
    };
    Simulator::new(config, seed, Instant::ZERO).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Arbitrary method, path, query and body: the simulator never panics, and
    /// every answer it sends has a status in 200..600.
    #[test]
    fn no_request_makes_it_panic(
        seed in any::<u64>(),
        demo in any::<bool>(),
        reqs in prop::collection::vec((request(), 0u64..30_000), 1..40),
    ) {
        let plan = if demo { FaultPlan::default_demo() } else { FaultPlan::none() };
        let mut sim = simulator(plan, seed);
        let mut now = Instant::ZERO;
        for (r, gap) in reqs {
            now = now.saturating_add(novitai_core::Duration::from_millis(gap));
            if let Some(status) = sim.handle(&r, now).status() {
                prop_assert!((200..600).contains(&status));
            }
        }
    }

    /// Same seed, same request sequence: the same replies.
    #[test]
    fn same_seed_same_replies(
        seed in any::<u64>(),
        reqs in prop::collection::vec((request(), 0u64..60_000), 1..30),
    ) {
        let mut a = simulator(FaultPlan::default_demo(), seed);
        let mut b = simulator(FaultPlan::default_demo(), seed);
        let mut now = Instant::ZERO;
        for (r, gap) in reqs {
            now = now.saturating_add(novitai_core::Duration::from_millis(gap));
            prop_assert_eq!(a.handle(&r, now), b.handle(&r, now));
        }
        prop_assert_eq!(a.stats(), b.stats());
    }

    /// Walking the instance list page by page visits each instance once.
    #[test]
    fn pagination_visits_each_instance_once(n in 0usize..40, size in 1u64..15, seed in any::<u64>()) {
        let mut sim = simulator(FaultPlan::none(), seed);
        let auth = |mut r: HttpRequest| { r.headers.set("Authorization", format!("Bearer {KEY}")); r };
        for _ in 0..n {
            let mut r = auth(HttpRequest::new(Method::Post, "/v1/gpu/instance/create"));
            r.body = Some(br#"{"productId":"rtx-4090-24gb.cn-hk-01","gpuNum":1,"rootfsSize":20,"imageUrl":"x","kind":"gpu"}"#.to_vec());
            prop_assert_eq!(sim.handle(&r, Instant::ZERO).status(), Some(200));
        }
        let mut seen: Vec<String> = Vec::new();
        for num in 1..=(n as u64 / size + 2) {
            let r = auth(HttpRequest::new(Method::Get, format!("/v1/gpu/instances?pageSize={size}&pageNum={num}")));
            let SimReply::Respond { response, .. } = sim.handle(&r, Instant::ZERO) else { panic!() };
            let v: serde_json::Value = serde_json::from_slice(&response.body).unwrap();
            prop_assert_eq!(v["total"].as_u64(), Some(n as u64));
            for i in v["instances"].as_array().unwrap() {
                seen.push(i["id"].as_str().unwrap().to_string());
            }
        }
        let count = seen.len();
        seen.sort();
        seen.dedup();
        prop_assert_eq!((count, seen.len()), (n, n));
    }
}
