//! Properties of the Novita API layer: parsers never panic and never fail a
//! record because of a field's type, validation never panics and accepts every
//! valid request, the pager always ends, product choice is the cheapest.

use novitai_core::api::instances::{
    CreateInstance, CreateInstanceRequest, DeleteInstance, EditInstance, EnvVar, GetInstance,
    ListInstances, MigrateInstance, NetworkStorageMount, RestartInstance, StartInstance,
    StopInstance,
};
use novitai_core::api::paging::{PageStep, Pager, PagerConfig};
use novitai_core::api::products::{ListProducts, Price, Product, ProductQuery, choose_product};
use novitai_core::api::{
    ApiErrorKind, Endpoint, clusters::ListClusters, percent_encode, registry, storage, templates,
};
use novitai_core::http::HttpResponse;
use novitai_core::secret::Secret;
use proptest::prelude::*;
use serde_json::{Map, Value};

/// Field names the parsers look at, so generated objects hit real fields.
const KEYS: &[&str] = &[
    "data",
    "instances",
    "template",
    "templates",
    "total",
    "pageSize",
    "pageNum",
    "id",
    "Id",
    "name",
    "status",
    "statusError",
    "message",
    "state",
    "cpuNum",
    "memory",
    "gpuNum",
    "rootfsSize",
    "portMappings",
    "port",
    "endpoint",
    "type",
    "envs",
    "key",
    "value",
    "createdAt",
    "sshPassword",
    "connectComponentSSH",
    "password",
    "regions",
    "spotPrice",
    "price",
    "availableDeploy",
    "monthlyPrice",
    "month",
    "templateId",
    "storageId",
    "instanceId",
    "code",
    "reason",
    "error",
    "ports",
    "username",
    "storageSize",
];

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        "[a-zA-Z0-9 ._:/-]{0,12}".prop_map(Value::String),
        (0u64..100_000).prop_map(|n| Value::String(n.to_string())),
        prop::sample::select(&["running", "exited", "weird", "toCreate", ""][..])
            .prop_map(|s| Value::String(s.to_string())),
    ]
}

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(KEYS).prop_map(str::to_string),
        1 => "[a-z]{1,6}",
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((key(), inner), 0..8)
                .prop_map(|kv| Value::Object(kv.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

fn status() -> impl Strategy<Value = u16> {
    prop_oneof![
        Just(200u16),
        Just(204),
        Just(400),
        Just(401),
        Just(403),
        Just(404),
        Just(429),
        Just(500),
        Just(503),
        100u16..600,
    ]
}

/// Runs every endpoint's parser on `r` and checks the status contract:
/// non-2xx is always an error of a non-Decode kind; a 2xx error is Decode.
fn parse_everything(r: &HttpResponse) {
    fn check<E: Endpoint>(e: &E, r: &HttpResponse) {
        match e.parse(r) {
            Ok(_) => assert!(r.is_success(), "{} accepted status {}", e.name(), r.status),
            Err(err) => {
                assert_eq!(err.status, r.status);
                assert_eq!(err.kind == ApiErrorKind::Decode, r.is_success());
                assert!(err.body().len() <= novitai_core::api::error::RAW_BODY_LIMIT);
                assert!(!err.to_string().is_empty());
            }
        }
    }
    check(&ListClusters, r);
    check(&ListProducts::default(), r);
    check(&templates::ListTemplates::default(), r);
    check(&templates::GetTemplate::new("t"), r);
    check(&templates::CreateTemplate::default(), r);
    check(&templates::DeleteTemplate::new("t"), r);
    check(&registry::ListRegistryAuths, r);
    check(&registry::CreateRegistryAuth::default(), r);
    check(&registry::DeleteRegistryAuth::new("r"), r);
    check(&ListInstances::default(), r);
    check(&GetInstance::new("i"), r);
    check(&CreateInstance::default(), r);
    check(&StartInstance::new("i"), r);
    check(&StopInstance::new("i"), r);
    check(&RestartInstance::new("i"), r);
    check(&DeleteInstance::new("i"), r);
    check(&MigrateInstance::new("i"), r);
    check(&EditInstance::default(), r);
    check(&storage::ListNetworkStorages::default(), r);
    check(&storage::CreateNetworkStorage::default(), r);
    check(&storage::UpdateNetworkStorage::default(), r);
    check(&storage::DeleteNetworkStorage::new("s"), r);
}

const INSTANCE_FIELDS: &[&str] = &[
    "id",
    "name",
    "status",
    "statusError",
    "clusterId",
    "clusterName",
    "productId",
    "productName",
    "kind",
    "billingMode",
    "cpuNum",
    "memory",
    "gpuNum",
    "rootfsSize",
    "imageUrl",
    "imageAuthId",
    "command",
    "envs",
    "portMappings",
    "createdAt",
    "lastStartedAt",
    "lastStoppedAt",
    "spotStatus",
    "spotReclaimTime",
    "sshPassword",
    "connectComponentSSH",
    "connectComponentWebTerminal",
];

const PRODUCT_FIELDS: &[&str] = &[
    "id",
    "name",
    "cpuPerGpu",
    "memoryPerGpu",
    "diskPerGpu",
    "availableDeploy",
    "minRootFS",
    "maxRootFS",
    "regions",
    "price",
    "spotPrice",
    "billingMethods",
    "monthlyPrice",
];

fn record_with(fields: &'static [&'static str]) -> impl Strategy<Value = Value> {
    prop::collection::vec(json_value(), fields.len()).prop_map(move |vals| {
        Value::Object(
            fields
                .iter()
                .map(|k| k.to_string())
                .zip(vals)
                .collect::<Map<_, _>>(),
        )
    })
}

fn env_key() -> impl Strategy<Value = String> {
    "[A-Z_][A-Z0-9_]{0,20}"
}

fn valid_ports() -> impl Strategy<Value = Option<String>> {
    prop::option::of(
        prop::collection::btree_set(
            (1u16..=65535).prop_filter("reserved", |p| !(2222..=2224).contains(p)),
            0..=15,
        )
        .prop_flat_map(|ports| {
            let n = ports.len();
            (
                Just(ports.into_iter().collect::<Vec<_>>()),
                prop::collection::vec(any::<bool>(), n),
            )
        })
        .prop_map(|(ports, http)| {
            ports
                .iter()
                .zip(http)
                .map(|(p, h)| format!("{p}/{}", if h { "http" } else { "tcp" }))
                .collect::<Vec<_>>()
                .join(",")
        }),
    )
}

prop_compose! {
    fn valid_create()(
        product_id in "[a-z0-9]{1,20}",
        gpu_num in 1u32..=8,
        rootfs_size in 10u64..=6144,
        image_url in "[a-z0-9./:-]{1,500}",
        name in prop::option::of("[a-z0-9-]{0,255}"),
        command in prop::option::of(".{0,200}"),
        kind in prop::sample::select(&["gpu", "cpu"][..]),
        ports in valid_ports(),
        envs in prop::collection::vec((env_key(), ".{0,30}"), 0..=100),
        billing in prop::option::of(prop::sample::select(&["onDemand", "monthly", "spot"][..])),
        month in 1u32..=12,
        auto_renew in prop::option::of(any::<bool>()),
        storages in prop::collection::vec(("[a-z0-9]{1,10}", "/[a-z]{1,10}"), 0..3),
    ) -> CreateInstanceRequest {
        let monthly = billing == Some("monthly");
        CreateInstanceRequest {
            name,
            product_id,
            gpu_num,
            rootfs_size,
            image_url,
            command,
            kind: kind.to_string(),
            ports,
            envs: envs.into_iter().map(|(k, v)| EnvVar::new(k, v)).collect(),
            billing_mode: billing.map(str::to_string),
            month: monthly.then_some(month),
            auto_renew,
            auto_renew_month: (auto_renew == Some(true)).then_some(month),
            network_storages: storages
                .into_iter()
                .map(|(id, mount_point)| NetworkStorageMount { id, mount_point })
                .collect(),
            ..CreateInstanceRequest::default()
        }
    }
}

prop_compose! {
    fn any_create()(
        product_id in ".{0,30}",
        gpu_num in any::<u32>(),
        rootfs_size in any::<u64>(),
        image_url in ".{0,600}",
        name in prop::option::of(".{0,300}"),
        command in prop::option::of(".{0,50}"),
        entrypoint in prop::option::of(".{0,50}"),
        image_auth in prop::option::of(".{0,20}"),
        kind in ".{0,5}",
        ports in prop::option::of("[0-9a-z/, +-]{0,80}"),
        envs in prop::collection::vec((".{0,5}", ".{0,5}"), 0..120),
        billing in prop::option::of(".{0,10}"),
        month in prop::option::of(any::<u32>()),
        auto_renew in prop::option::of(any::<bool>()),
        auto_renew_month in prop::option::of(any::<u32>()),
        storages in prop::collection::vec((".{0,5}", ".{0,5}"), 0..3),
    ) -> CreateInstanceRequest {
        CreateInstanceRequest {
            name,
            product_id,
            gpu_num,
            rootfs_size,
            image_url,
            image_auth: image_auth.map(Secret::new),
            command,
            entrypoint,
            kind,
            ports,
            envs: envs.into_iter().map(|(k, v)| EnvVar::new(k, v)).collect(),
            billing_mode: billing,
            month,
            auto_renew,
            auto_renew_month,
            network_storages: storages
                .into_iter()
                .map(|(id, mount_point)| NetworkStorageMount { id, mount_point })
                .collect(),
            ..CreateInstanceRequest::default()
        }
    }
}

const REGIONS: &[&str] = &["AS-SGP-02", "CN-HK-01", "US-CA-06", "EU-DE-01", "MARS-01"];

prop_compose! {
    fn product()(
        id in "[a-c][0-9]",
        name in prop::sample::select(&["RTX 4090", "H100", "A100"][..]),
        spot in prop::option::of(0u64..1000),
        deploy in any::<bool>(),
        mem in prop::option::of(0u64..4),
        cpu in prop::option::of(0u64..4),
        regions in prop::collection::vec(prop::sample::select(REGIONS), 0..3),
    ) -> Product {
        Product {
            id,
            name: name.to_string(),
            spot_price: spot.map(Price),
            available_deploy: deploy,
            memory_per_gpu: mem,
            cpu_per_gpu: cpu,
            regions: regions.into_iter().map(|r| format!("{r} somewhere")).collect(),
            ..Product::default()
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 256,
        failure_persistence: Some(Box::new(
            proptest::test_runner::FileFailurePersistence::WithSource("proptest-regressions"),
        )),
        ..ProptestConfig::default()
    })]

    #[test]
    fn parsers_never_panic_on_arbitrary_bytes(
        status in status(),
        body in prop::collection::vec(any::<u8>(), 0..300),
    ) {
        parse_everything(&HttpResponse::new(status, body));
    }

    #[test]
    fn parsers_never_panic_on_arbitrary_json(status in status(), v in json_value()) {
        let body = serde_json::to_vec(&v).unwrap();
        parse_everything(&HttpResponse::new(status, body));
    }

    #[test]
    fn an_instance_record_never_fails_because_of_field_types(rec in record_with(INSTANCE_FIELDS)) {
        let body = serde_json::to_vec(&rec).unwrap();
        let got = GetInstance::new("fallback").parse(&HttpResponse::new(200, body));
        prop_assert!(got.is_ok(), "{:?}", got);
        let page = serde_json::json!({"instances": [rec], "total": "1"});
        let got = ListInstances::default()
            .parse(&HttpResponse::new(200, serde_json::to_vec(&page).unwrap()))
            .unwrap();
        prop_assert_eq!(got.instances.len(), 1);
    }

    #[test]
    fn a_product_record_never_fails_because_of_field_types(rec in record_with(PRODUCT_FIELDS)) {
        let body = serde_json::to_vec(&serde_json::json!({"data": [rec]})).unwrap();
        let got = ListProducts::default().parse(&HttpResponse::new(200, body)).unwrap();
        prop_assert_eq!(got.len(), 1);
    }

    #[test]
    fn validation_never_panics_and_every_problem_names_a_field(req in any_create()) {
        if let Err(e) = req.validate() {
            prop_assert!(!e.0.is_empty());
            let shown = e.to_string();
            for p in &e.0 {
                let needle = format!("`{}`", p.field);
                prop_assert!(shown.contains(&needle), "{} not in {}", needle, shown);
            }
            // (Short values could appear in the message by coincidence.)
            if let Some(auth) = req.image_auth.as_ref().filter(|a| a.len() >= 8) {
                prop_assert!(!shown.contains(auth.expose()));
            }
        }
        let gpu_bad = !(1..=8).contains(&req.gpu_num);
        prop_assert_eq!(req.validate().err().is_some_and(|e| e.mentions("gpuNum")), gpu_bad);
        // Building the request never panics either.
        let _ = CreateInstance(req).request();
    }

    #[test]
    fn every_generated_valid_request_is_accepted(req in valid_create()) {
        prop_assert_eq!(req.validate(), Ok(()));
        let r = CreateInstance(req).request();
        let body: Value = serde_json::from_slice(r.body.as_deref().unwrap()).unwrap();
        prop_assert!(body.get("productId").is_some());
    }

    #[test]
    fn the_pager_always_ends_within_max_pages(
        page_size in 1u32..50,
        max_pages in 1u32..30,
        pages in prop::collection::vec((0usize..60, prop::option::of(0u64..500), prop::option::of(0u64..60)), 0..100),
    ) {
        let mut p = Pager::new(PagerConfig { page_size, first_page: 1, max_pages }).unwrap();
        let mut fetched = 0u32;
        let mut ended = false;
        for (items, total, reported) in pages {
            if p.next_page().is_none() {
                ended = true;
                break;
            }
            fetched += 1;
            if let PageStep::Done(_) = p.on_page(items, total, reported) {
                ended = true;
                break;
            }
        }
        prop_assert!(fetched <= max_pages);
        if fetched == max_pages {
            prop_assert!(ended && p.next_page().is_none());
        }
    }

    #[test]
    fn the_chosen_product_is_deployable_and_cheapest_in_its_region(
        products in prop::collection::vec(product(), 0..12),
        preferred in prop::option::of(prop::sample::select(REGIONS)),
    ) {
        let q = ProductQuery {
            preferred_region: preferred.map(str::to_string),
            ..ProductQuery::named("rtx")
        };
        match choose_product(&products, &q) {
            Ok(choice) => {
                let p = &choice.product;
                prop_assert!(p.available_deploy);
                prop_assert!(p.spot_price.is_some_and(|s| s.0 > 0));
                prop_assert!(p.name.to_lowercase().contains("rtx"));
                let in_region = |x: &Product| x.regions.iter().any(|r| r.split_whitespace().next() == Some(choice.region.as_str()));
                prop_assert!(in_region(p));
                for other in &products {
                    if other.available_deploy
                        && other.name.contains("RTX")
                        && in_region(other)
                        && let Some(s) = other.spot_price.filter(|s| s.0 > 0)
                    {
                        prop_assert!(s >= p.spot_price.unwrap());
                    }
                }
                let order = q.region_order();
                let pos = order.iter().position(|r| *r == choice.region).unwrap();
                // No earlier region had a candidate.
                for r in &order[..pos] {
                    prop_assert!(!products.iter().any(|x| x.available_deploy
                        && x.name.contains("RTX")
                        && x.spot_price.is_some_and(|s| s.0 > 0)
                        && x.regions.iter().any(|e| e.split_whitespace().next() == Some(*r))));
                }
            }
            Err(e) => {
                prop_assert_eq!(e.listed, products.len());
                prop_assert!(!e.to_string().is_empty());
            }
        }
    }

    #[test]
    fn percent_encoding_leaves_only_safe_characters(s in ".{0,40}") {
        let mut out = String::new();
        percent_encode(&s, &mut out);
        prop_assert!(out.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~%".contains(&b)));
        // Decoding gives the input back.
        let bytes = out.as_bytes();
        let mut decoded = Vec::new();
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] == b'%' {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap();
                decoded.push(u8::from_str_radix(hex, 16).unwrap());
                i += 3;
            } else {
                decoded.push(bytes[i]);
                i += 1;
            }
        }
        prop_assert_eq!(String::from_utf8(decoded).unwrap(), s);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2_000, ..ProptestConfig::default() })]

    /// Numeric strings are read with serde_json's parser (smaller in wasm than
    /// core's float parser) after a rewrite into JSON's grammar: every string
    /// Rust's `str::parse::<f64>` reads as a finite number is read to the same
    /// value (exactly, or within an ulp for long mantissas, where serde_json's
    /// default parser may round differently), and nothing else is read.
    #[test]
    fn numeric_strings_read_like_rusts_float_parser(
        text in "[+-]?[0-9]{0,20}(\\.[0-9]{0,20})?([eE][+-]?[0-9]{0,3})?|[+-]?[0-9.eE+-]{0,8}|\\PC{0,6}",
    ) {
        use novitai_core::api::lenient::{to_f64, to_u64};
        let ours = to_f64(&Value::String(text.clone()));
        let rust = text.trim().parse::<f64>().ok().filter(|f| f.is_finite());
        match (ours, rust) {
            (None, None) => {}
            (Some(a), Some(b)) => {
                prop_assert!(a == b || (a - b).abs() <= b.abs() * 4.0 * f64::EPSILON, "{text:?}: {a} vs {b}");
                let short = text.bytes().filter(u8::is_ascii_digit).count() <= 15 && !text.contains(['e', 'E']);
                if short {
                    prop_assert_eq!(a, b, "{:?}", text);
                    prop_assert_eq!(to_u64(&Value::String(text.clone())), text.trim().parse::<u64>().ok().or_else(|| (0.0..1.8e19).contains(&b).then_some((b + 0.5) as u64)));
                }
            }
            (a, b) => prop_assert!(false, "{text:?}: ours {a:?}, Rust {b:?}"),
        }
    }
}
