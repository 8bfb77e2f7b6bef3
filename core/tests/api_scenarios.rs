//! Stories of a user driving the Novita API through the typed endpoints, with
//! the server's answers written out by hand (no network).

use novitai_core::api::instances::{
    CreateInstance, CreateInstanceRequest, GetInstance, InstanceStatus, ListInstances,
    StartInstance,
};
use novitai_core::api::paging::{InstancePager, PageStep, PagerDone};
use novitai_core::api::products::{ListProducts, ProductQuery, choose_product};
use novitai_core::api::{ApiContext, ApiErrorKind, Endpoint};
use novitai_core::http::HttpResponse;

fn answer(status: u16, body: &str) -> HttpResponse {
    HttpResponse::new(status, body.as_bytes().to_vec())
}

#[test]
fn a_user_deploys_the_cheapest_4090_and_waits_for_it_to_run() {
    let ctx = ApiContext::new("sk_story_key", "novitai-story/1").unwrap();

    // 1. List products named like "4090"; the catalogue has string numbers.
    let list = ListProducts::named("4090");
    let mut req = list.request();
    ctx.authorize(&mut req);
    assert_eq!(req.path_and_query, "/v1/products?productName=4090");
    assert_eq!(
        req.headers.get("authorization"),
        Some("Bearer sk_story_key")
    );
    let products = list
        .parse(&answer(
            200,
            r#"{"data":[
              {"id":"sgp-4090","name":"RTX 4090 24GB","availableDeploy":true,"spotPrice":"20000","memoryPerGpu":"62","regions":["AS-SGP-02 Singapore"]},
              {"id":"hk-4090","name":"RTX 4090 24GB","availableDeploy":true,"spotPrice":"15000","regions":["CN-HK-01"]},
              {"id":"us-4090","name":"RTX 4090 24GB","availableDeploy":false,"spotPrice":"9000","regions":["US-CA-06"]}
            ]}"#,
        ))
        .unwrap();

    // 2. With no preference, Singapore comes first in the fallback order,
    //    even though Hong Kong is cheaper.
    let choice = choose_product(&products, &ProductQuery::named("4090")).unwrap();
    assert_eq!(choice.product.id, "sgp-4090");
    assert_eq!(choice.region, "AS-SGP-02");
    assert_eq!(choice.product.spot_price.unwrap().to_string(), "$0.20/h");

    // 3. A bad create request is stopped before it is sent, with every problem listed.
    let mut create = CreateInstanceRequest::new(&choice.product.id, 1, 60, "");
    create.ports = Some("8888/http,2222/tcp".into());
    let problems = create.validate().unwrap_err();
    assert!(problems.mentions("imageUrl") && problems.mentions("ports"));

    // 4. Fixed, it is sent; the server first has no capacity, then accepts.
    create.image_url = "pytorch/pytorch:latest".into();
    create.ports = Some("8888/http,22/tcp".into());
    let create = CreateInstance(create);
    assert_eq!(create.validate(), Ok(()));
    let busy = create
        .parse(&answer(
            400,
            r#"{"code":400,"reason":"INSUFFICIENT_RESOURCE","message":"no gpu"}"#,
        ))
        .unwrap_err();
    assert_eq!(busy.kind, ApiErrorKind::InsufficientResource);
    assert!(
        !busy.is_retryable(),
        "capacity errors are fatal for this request"
    );
    let id = create
        .parse(&answer(200, r#"{"id":"00000000deadbeef"}"#))
        .unwrap();

    // 5. Polling walks toCreate → creating → pulling → running.
    let get = GetInstance::new(&id);
    let mut seen = Vec::new();
    for status in ["toCreate", "creating", "pulling", "running"] {
        let body = format!(
            r#"{{"id":"{id}","status":"{status}","portMappings":[{{"port":8888,"type":"http","endpoint":"https://x-8888.example"}}]}}"#
        );
        let inst = get.parse(&answer(200, &body)).unwrap();
        seen.push(inst.status.clone());
        if inst.status.is_stable() {
            break;
        }
    }
    assert_eq!(seen.last(), Some(&InstanceStatus::Running));
    assert_eq!(seen.len(), 4);

    // 6. Starting it again is refused as an invalid state change.
    let again = StartInstance::new(&id)
        .parse(&answer(400, r#"{"message":"invalid state change"}"#))
        .unwrap_err();
    assert_eq!(again.kind, ApiErrorKind::InvalidStateChange);
}

#[test]
fn listing_every_instance_when_the_server_never_sends_a_total() {
    let mut pager = InstancePager::new(
        ListInstances {
            page_size: 2,
            ..ListInstances::default()
        },
        10,
    )
    .unwrap();
    let pages = [
        r#"{"instances":[{"id":"a","status":"running"},{"id":"b","status":"exited"}]}"#,
        r#"{"instances":[{"id":"c","status":"hibernating"}]}"#,
    ];
    let mut sent = Vec::new();
    for body in pages {
        let req = pager.request().expect("pager wants another page");
        sent.push(req.request().path_and_query);
        let page = req.parse(&answer(200, body)).unwrap();
        if let PageStep::Done(why) = pager.on_page(page) {
            assert_eq!(why, PagerDone::ShortPage);
        }
    }
    assert!(pager.request().is_none());
    assert_eq!(
        sent,
        [
            "/v1/gpu/instances?pageSize=2&pageNum=1",
            "/v1/gpu/instances?pageSize=2&pageNum=2"
        ]
    );
    let all = pager.into_instances();
    assert_eq!(all.len(), 3);
    assert_eq!(all[2].status, InstanceStatus::Other("hibernating".into()));
}

#[test]
fn a_wrong_key_tells_the_user_what_to_fix() {
    let e = ListProducts::default()
        .parse(&answer(401, r#"{"error":"unauthorized"}"#))
        .unwrap_err();
    assert_eq!(e.kind, ApiErrorKind::Unauthorized);
    let shown = e.to_string();
    assert!(shown.contains("check NOVITA_API_KEY"), "{shown}");
    assert!(shown.contains("unauthorized"), "{shown}");
}
