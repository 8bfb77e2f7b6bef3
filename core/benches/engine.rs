//! One full request cycle through the engine in steady state:
//! submit → poll Transmit → handle a 200 → poll Completed → poll Timeout,
//! with a permissive GCRA limiter (a huge rate) so nothing waits.
//!
//! Run: `cargo bench -p novitai-core --bench engine -- --warm-up-time 1 --measurement-time 3`

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use std::hint::black_box;

use novitai_core::engine::{Engine, EngineConfig, Event, Input, Output, RequestOptions};
use novitai_core::http::{HttpRequest, HttpResponse, Method};
use novitai_core::limiter::{GcraConfig, RateLimitConfig};
use novitai_core::{Duration, Instant};

fn permissive() -> EngineConfig {
    EngineConfig {
        rate_limit: RateLimitConfig::Gcra(
            GcraConfig::per_period(1_000_000, Duration::from_secs(1)).with_burst(1_000_000),
        ),
        ..EngineConfig::default()
    }
}

/// One cycle; returns whether the request succeeded (for black_box).
#[inline]
fn cycle(engine: &mut Engine, now: &mut u64, request: HttpRequest, response: HttpResponse) -> bool {
    *now += 1;
    let t = Instant::from_millis(*now);
    let _ = engine.submit(request, RequestOptions::new(), t);
    let mut attempt = None;
    loop {
        match engine.poll_output() {
            Output::Transmit(tx) => attempt = Some(tx.attempt),
            Output::Event(_) => {}
            Output::Timeout(_) => break,
        }
    }
    let Some(attempt) = attempt else { return false };
    engine.handle_input(Input::Response {
        attempt,
        now: t,
        response,
    });
    let mut ok = false;
    loop {
        match engine.poll_output() {
            Output::Event(Event::Completed(c)) => ok = c.outcome.is_success(),
            Output::Event(_) | Output::Transmit(_) => {}
            Output::Timeout(_) => break,
        }
    }
    ok
}

fn full_cycle(c: &mut Criterion) {
    let mut group = c.benchmark_group("engine_cycle");
    let request = HttpRequest::new(
        Method::Get,
        "/v1/gpu/instances?pageSize=20&pageNum=1&name=training-node&productName=RTX-4090-24GB",
    );
    let response = HttpResponse::new(200, r#"{"instances":[],"total":0}"#);
    let mut engine = Engine::new(permissive(), 7, Instant::ZERO).unwrap();
    let mut now = 0u64;
    for _ in 0..10_000 {
        assert!(cycle(
            &mut engine,
            &mut now,
            request.clone(),
            response.clone()
        ));
    }
    // The caller builds the request and receives the response: their
    // construction is set-up, not the engine's work.
    group.bench_function("submit_transmit_200_completed", |b| {
        b.iter_batched(
            || (request.clone(), response.clone()),
            |(req, resp)| black_box(cycle(&mut engine, &mut now, req, resp)),
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

criterion_group!(benches, full_cycle);
criterion_main!(benches);
