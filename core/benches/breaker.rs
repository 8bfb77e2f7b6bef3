//! Our breaker's acquire + success cycle against failsafe 1.3's
//! (`Config::new().build()`, `is_call_permitted` + `on_success`), closed state.

use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;

use failsafe::Config;
use novitai_core::Instant;
use novitai_core::breaker::{BreakerConfig, CircuitBreaker, Window};

fn acquire_success(c: &mut Criterion) {
    let mut group = c.benchmark_group("breaker acquire+success");

    let mut ours = CircuitBreaker::new(BreakerConfig::default()).unwrap();
    let mut t = 0u64;
    group.bench_function("novitai (consecutive)", |b| {
        b.iter(|| {
            t += 1;
            let now = Instant::from_millis(black_box(t));
            let p = ours.try_acquire(now).unwrap();
            ours.on_success(p, now);
        });
    });

    let mut rate = CircuitBreaker::new(BreakerConfig {
        failure_rate: Some(0.5),
        window: Window::Seconds(30),
        minimum_calls: 10,
        ..BreakerConfig::default()
    })
    .unwrap();
    let mut t = 0u64;
    group.bench_function("novitai (consecutive + rate, 30 s window)", |b| {
        b.iter(|| {
            t += 1;
            let now = Instant::from_millis(black_box(t));
            let p = rate.try_acquire(now).unwrap();
            rate.on_success(p, now);
        });
    });

    let theirs = Config::new().build();
    group.bench_function("failsafe 1.3", |b| {
        b.iter(|| {
            assert!(black_box(&theirs).is_call_permitted());
            theirs.on_success();
        });
    });
    group.finish();
}

criterion_group!(benches, acquire_success);
criterion_main!(benches);
