//! `RetryPolicy::next` makes no heap allocation per decision.

use novitai_core::retry::{
    Jitter, Outcome, RetryBudget, RetryConfig, RetryDecision, RetryPolicy, RetryState,
    TransportErrorKind,
};
use novitai_core::{Duration, Instant, Rng};

#[test]
fn next_allocates_nothing_in_steady_state() {
    let outcomes = [
        Outcome::status(503),
        Outcome::Status {
            code: 429,
            retry_after: Some(Duration::from_secs(7)),
        },
        Outcome::transport(TransportErrorKind::Timeout),
        Outcome::status(200),
        Outcome::status(404),
        Outcome::Status {
            code: 503,
            retry_after: Some(Duration::from_secs(999)),
        },
    ];
    for jitter in [
        Jitter::None,
        Jitter::Full,
        Jitter::Equal,
        Jitter::Decorrelated,
    ] {
        let policy = RetryPolicy::new(RetryConfig {
            max_attempts: 10,
            jitter,
            ..RetryConfig::default()
        })
        .unwrap();
        let mut rng = Rng::new(1);
        let mut budget = RetryBudget::default();
        let mut state = RetryState::new();
        let mut now = Instant::ZERO;
        let mut step = |i: usize| {
            let o = &outcomes[i % outcomes.len()];
            let deadline = Some(now + Duration::from_secs(60));
            match policy.next(&mut state, o, now, &mut rng, deadline, Some(&mut budget)) {
                RetryDecision::RetryAt { at, .. } => now = at,
                RetryDecision::GiveUp(_) => {
                    state = RetryState::new();
                    now += Duration::from_millis(10);
                }
            }
        };
        // Warm up, then measure many decisions.
        for i in 0..100 {
            step(i);
        }
        let info = allocation_counter::measure(|| {
            for i in 0..10_000 {
                step(i);
            }
        });
        assert_eq!(info.count_total, 0, "{jitter}: {info:?}");
    }
}

#[test]
fn the_counter_does_count() {
    // Guard against a test that cannot fail: an allocation is seen.
    let info = allocation_counter::measure(|| {
        std::hint::black_box(Box::new(1u32));
    });
    assert_eq!(info.count_total, 1);
}
