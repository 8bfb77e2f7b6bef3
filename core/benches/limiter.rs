//! Our GCRA `check(now)` against governor 0.10's direct limiter, one run.
//!
//! governor reads its own clock (quanta) on every check; ours takes `now`,
//! which the loop supplies from a counter (as the engine would from its
//! input). Two cases: a generous quota (every check admitted) and a
//! saturated one (every check after the first refused).
//!
//! Run: `cargo bench -p novitai-core --bench limiter -- --warm-up-time 1 --measurement-time 3`

use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use std::num::NonZeroU32;

use governor::{Quota, RateLimiter as Governor};
use novitai_core::Instant;
use novitai_core::limiter::{Gcra, GcraConfig, SlidingWindow, WindowConfig};

fn generous(c: &mut Criterion) {
    let mut group = c.benchmark_group("gcra_check_admitted");
    let mut ours = Gcra::new(GcraConfig::per_second(1_000_000).with_burst(1_000)).unwrap();
    let mut now = 0u64;
    group.bench_function("novitai", |b| {
        b.iter(|| {
            now += 1;
            black_box(ours.check(black_box(Instant::from_millis(now))))
        })
    });
    let theirs = Governor::direct(Quota::per_second(NonZeroU32::MAX));
    group.bench_function("governor", |b| b.iter(|| black_box(theirs.check())));
    group.finish();
}

fn saturated(c: &mut Criterion) {
    let mut group = c.benchmark_group("gcra_check_refused");
    let hour = novitai_core::Duration::from_secs(3600);
    let mut ours = Gcra::new(GcraConfig::per_period(1, hour)).unwrap();
    let mut now = 0u64;
    let _ = ours.check(Instant::from_millis(0));
    // One ms per check: one admission per 3.6 million checks, the rest refused.
    group.bench_function("novitai", |b| {
        b.iter(|| {
            now += 1;
            black_box(ours.check(black_box(Instant::from_millis(now))))
        })
    });
    let one = NonZeroU32::MIN;
    let theirs = Governor::direct(Quota::per_hour(one));
    let _ = theirs.check();
    group.bench_function("governor", |b| b.iter(|| black_box(theirs.check())));
    group.finish();
}

/// For reference: the Node-compatible sliding window (no peer to compare).
fn window(c: &mut Criterion) {
    let mut w = SlidingWindow::new(WindowConfig::default()).unwrap();
    let mut now = 0u64;
    c.bench_function("sliding_window_check", |b| {
        b.iter(|| {
            now += 100;
            black_box(w.check(black_box(Instant::from_millis(now))))
        })
    });
}

criterion_group!(benches, generous, saturated, window);
criterion_main!(benches);
