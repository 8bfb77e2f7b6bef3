//! Next retry delay: novitai's `RetryPolicy::next` (exponential + full jitter,
//! the whole decision) and its bare `Backoff::next_delay`, against backon 1.6's
//! `ExponentialBuilder::default().with_jitter().build()` iterator `next()`.
//!
//! Both sides yield 3 delays (1 s, 2 s, 4 s before jitter) and are recreated
//! when exhausted, so each iteration is one delay (or one "exhausted" answer,
//! one call in four).

use backon::{BackoffBuilder, ExponentialBuilder};
use criterion::{Criterion, criterion_group, criterion_main};
use novitai_core::retry::{
    Backoff, Jitter, Outcome, RetryConfig, RetryDecision, RetryPolicy, RetryState,
};
use novitai_core::{Instant, Rng};
use std::hint::black_box;

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("retry_next_delay");

    // max_attempts 4 = backon's default max_times 3 retries.
    let policy = RetryPolicy::new(RetryConfig {
        max_attempts: 4,
        jitter: Jitter::Full,
        ..RetryConfig::default()
    })
    .unwrap();
    let outcome = Outcome::status(503);
    let mut rng = Rng::new(42);
    let mut state = RetryState::new();
    g.bench_function("novitai RetryPolicy::next (exp + full jitter)", |b| {
        b.iter(|| {
            let d = policy.next(
                &mut state,
                black_box(&outcome),
                black_box(Instant::ZERO),
                &mut rng,
                None,
                None,
            );
            if let RetryDecision::GiveUp(_) = d {
                state = RetryState::new();
            }
            black_box(d)
        })
    });

    let backoff = Backoff::default();
    let mut rng = Rng::new(42);
    let mut retry = 1u32;
    g.bench_function("novitai Backoff::next_delay (exp + full jitter)", |b| {
        b.iter(|| {
            let d = if retry > 3 {
                retry = 1;
                None
            } else {
                let d = backoff.next_delay(Jitter::Full, black_box(retry), None, &mut rng);
                retry += 1;
                Some(d)
            };
            black_box(d)
        })
    });

    let builder = ExponentialBuilder::default().with_jitter();
    let mut it = builder.build();
    g.bench_function("backon ExponentialBackoff::next (with_jitter)", |b| {
        b.iter(|| {
            let d = it.next();
            if d.is_none() {
                it = builder.build();
            }
            black_box(d)
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
