//! What the engine costs in memory: bytes held per queued request, and heap
//! allocations per request cycle (a finished request's allocation is reused
//! by the next one, so a steady cycle allocates about once), and that the
//! reuse never carries one request's path, headers or body into the next.
//!
//! Run with `--nocapture` to see the figures.

use allocation_counter::measure;
use novitai_core::engine::{Engine, EngineConfig, Input, Output, RequestOptions};
use novitai_core::http::{HttpRequest, HttpResponse, Method};
use novitai_core::limiter::{GcraConfig, RateLimitConfig};
use novitai_core::queue::QueueConfig;
use novitai_core::{Duration, Instant};

/// A typical API path: about 100 bytes.
fn path(i: usize) -> String {
    let p = format!(
        "/v1/gpu/instances?pageSize=20&pageNum={i:04}&name=training-node&productName=RTX-4090-24GB&status=running"
    );
    assert!((95..=105).contains(&p.len()), "{}", p.len());
    p
}

fn drain(engine: &mut Engine) -> Vec<Output> {
    let mut outs = Vec::new();
    loop {
        match engine.poll_output() {
            o @ Output::Timeout(_) => {
                outs.push(o);
                return outs;
            }
            o => outs.push(o),
        }
    }
}

#[test]
fn a_queued_request_costs_well_under_2_kib() {
    const N: usize = 1_000;
    let config = EngineConfig {
        max_in_flight: 1,
        queue: QueueConfig::new(2 * N).expect("capacity"),
        ..EngineConfig::default()
    };
    let mut engine = Engine::new(config, 7, Instant::ZERO).expect("valid");
    // One request goes out and hangs; the rest wait in the queue.
    engine
        .submit(
            HttpRequest::new(Method::Get, path(9_999)),
            RequestOptions::new(),
            Instant::ZERO,
        )
        .expect("accepted");
    drain(&mut engine);
    // Everything a queued request holds is counted: the request itself (its
    // ~100-byte path included) and the engine's bookkeeping around it.
    let info = measure(|| {
        for i in 0..N {
            engine
                .submit(
                    HttpRequest::new(Method::Get, path(i)),
                    RequestOptions::new(),
                    Instant::ZERO,
                )
                .expect("accepted");
        }
        drain(&mut engine);
    });
    let status = engine.status(Instant::ZERO);
    assert_eq!(status.queued, N);
    assert_eq!(status.in_flight, 1);
    let held = u64::try_from(info.bytes_current).unwrap_or(0);
    let per_request = held / N as u64;
    println!(
        "engine memory: {per_request} bytes held per queued request with a {}-byte path \
         ({:.1} allocations and {} bytes allocated per request)",
        path(0).len(),
        info.count_total as f64 / N as f64,
        info.bytes_total / N as u64,
    );
    assert!(
        per_request > 0,
        "the engine must keep something per request"
    );
    assert!(
        per_request < 2_048,
        "{per_request} bytes per queued request: more than 2 KiB"
    );
}

#[test]
fn a_steady_state_cycle_allocates_a_bounded_handful() {
    let config = EngineConfig {
        rate_limit: RateLimitConfig::Gcra(
            GcraConfig::per_period(1_000_000, Duration::from_secs(1)).with_burst(1_000_000),
        ),
        ..EngineConfig::default()
    };
    let mut engine = Engine::new(config, 7, Instant::ZERO).expect("valid");
    let request = HttpRequest::new(Method::Get, path(1));
    let response = HttpResponse::new(200, r#"{"instances":[],"total":0}"#);
    let mut now = 0;
    let mut cycle = |engine: &mut Engine, request: HttpRequest, response: HttpResponse| {
        now += 1;
        let t = Instant::from_millis(now);
        engine
            .submit(request, RequestOptions::new(), t)
            .expect("accepted");
        // Drain without collecting, so only the engine's allocations count.
        let mut attempt = None;
        loop {
            match engine.poll_output() {
                Output::Transmit(tx) => attempt = Some(tx.attempt),
                Output::Event(_) => {}
                Output::Timeout(_) => break,
            }
        }
        let attempt = attempt.expect("sent");
        engine.handle_input(Input::Response {
            attempt,
            now: t,
            response,
        });
        while !matches!(engine.poll_output(), Output::Timeout(_)) {}
    };
    for _ in 0..1_000 {
        cycle(&mut engine, request.clone(), response.clone());
    }
    const CYCLES: u64 = 1_000;
    let inputs: Vec<(HttpRequest, HttpResponse)> = (0..CYCLES)
        .map(|_| (request.clone(), response.clone()))
        .collect();
    let info = measure(|| {
        for (req, resp) in inputs {
            cycle(&mut engine, req, resp);
        }
    });
    let per_cycle = info.count_total as f64 / CYCLES as f64;
    let bytes = info.bytes_total as f64 / CYCLES as f64;
    println!(
        "engine cycle: {per_cycle:.1} allocations and {bytes:.0} bytes allocated per request cycle (submit → transmit → 200 → completed)"
    );
    // Nothing accumulates: the engine is back to where it was.
    assert!(
        info.bytes_current <= 0,
        "leaked {} bytes",
        info.bytes_current
    );
    assert!(per_cycle <= 2.0, "{per_cycle} allocations per cycle");
}

/// Sends `request` alone and returns the request the engine transmitted,
/// completing it with a 200.
fn sent(engine: &mut Engine, request: HttpRequest, at: u64) -> HttpRequest {
    let t = Instant::from_millis(at);
    let mut options = RequestOptions::new();
    options.coalesce = false;
    options.cacheable = false;
    engine.submit(request, options, t).expect("accepted");
    let mut out = None;
    loop {
        match engine.poll_output() {
            Output::Transmit(tx) => out = Some(tx),
            Output::Event(_) => {}
            Output::Timeout(_) => break,
        }
    }
    let tx = out.expect("sent");
    let (attempt, request) = (tx.attempt, (*tx.request).clone());
    // Let go of the transmission first, as an adapter does once it has
    // made its HTTP request: the engine may then reuse the allocation.
    drop(tx);
    engine.handle_input(Input::Response {
        attempt,
        now: t,
        response: HttpResponse::new(200, "{}"),
    });
    while !matches!(engine.poll_output(), Output::Timeout(_)) {}
    request
}

#[test]
fn a_reused_request_allocation_carries_nothing_over() {
    let mut engine = Engine::new(EngineConfig::default(), 7, Instant::ZERO).expect("valid");
    let correlation = novitai_core::engine::CORRELATION_HEADER;
    // A POST with a body and headers.
    let mut a = HttpRequest::new(Method::Post, "/v1/gpu/instance/create");
    a.headers.set("Authorization", "Bearer sk_a");
    a.headers.set("X-Extra", "a");
    a.body = Some(b"{\"name\":\"a\"}".to_vec());
    let got = sent(&mut engine, a, 1);
    assert_eq!(got.method, Method::Post);
    assert_eq!(got.headers.get("x-extra"), Some("a"));
    assert!(got.headers.get(correlation).is_some());
    // A GET without headers or body, in the same allocation: none of the
    // POST's path, headers or body.
    let got = sent(
        &mut engine,
        HttpRequest::new(Method::Get, "/v1/clusters"),
        2,
    );
    assert_eq!(got.method, Method::Get);
    assert_eq!(got.path_and_query, "/v1/clusters");
    assert_eq!(got.body, None);
    assert_eq!(got.headers.len(), 1, "only the correlation header: {got:?}");
    assert!(got.headers.get(correlation).is_some());
    // A request with its own headers keeps exactly those (and the id).
    let mut c = HttpRequest::new(Method::Delete, "/v1/template/delete?templateId=7");
    c.headers.set("User-Agent", "c");
    let got = sent(&mut engine, c, 3);
    assert_eq!(got.method, Method::Delete);
    assert_eq!(got.path_and_query, "/v1/template/delete?templateId=7");
    assert_eq!(got.body, None);
    assert_eq!(got.headers.len(), 2, "{got:?}");
    assert_eq!(got.headers.get("user-agent"), Some("c"));
    assert_eq!(got.headers.get("authorization"), None);
}
