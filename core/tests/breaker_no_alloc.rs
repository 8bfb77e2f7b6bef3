//! The breaker allocates nothing per decision once built: acquire + report in
//! steady state, in every state, including trips and window sliding.

use novitai_core::breaker::{BreakerConfig, CircuitBreaker, SlowCalls, State, Window};
use novitai_core::{Duration, Instant};

fn cycle(b: &mut CircuitBreaker, now: Instant, fail: bool) -> u32 {
    if let Ok(p) = b.try_acquire(now) {
        if fail {
            b.on_failure(p, now + Duration::from_millis(5));
        } else {
            b.on_success(p, now + Duration::from_millis(5));
        }
    }
    let _ = b.state(now);
    let mut changes = 0;
    while b.poll_transition().is_some() {
        changes += 1;
    }
    let _ = b.poll_timeout();
    changes
}

/// Returns how many state changes happened.
fn drive(b: &mut CircuitBreaker, start_ms: u64, n: u64) -> u32 {
    let mut changes = 0;
    for i in 0..n {
        // Mostly successes, bursts of failures that trip it, time moving on
        // so it goes open → half-open → closed again and windows slide.
        let fail = (i / 50) % 4 == 3;
        changes += cycle(b, Instant::from_millis(start_ms + i * 250), fail);
    }
    changes
}

#[test]
fn acquire_and_report_allocate_nothing_in_steady_state() {
    let configs = [
        BreakerConfig::default(),
        BreakerConfig {
            failure_rate: Some(0.5),
            window: Window::Count(50),
            minimum_calls: 10,
            ..BreakerConfig::default()
        },
        BreakerConfig {
            consecutive_failures: None,
            failure_rate: Some(0.5),
            slow_calls: Some(SlowCalls {
                duration: Duration::from_millis(1),
                rate: 0.9,
            }),
            window: Window::Seconds(60),
            minimum_calls: 10,
            ..BreakerConfig::default()
        },
    ];
    for config in configs {
        let mut b = CircuitBreaker::new(config).unwrap();
        drive(&mut b, 0, 2_000); // warm-up
        let mut changes = 0;
        let info = allocation_counter::measure(|| changes = drive(&mut b, 500_000, 20_000));
        assert_eq!(info.count_total, 0, "{config:?}: {info:?}");
        assert!(
            changes > 100,
            "the run must go through trips and closes, saw {changes}"
        );
    }
}

#[test]
fn the_closed_fast_path_allocates_nothing() {
    let mut b = CircuitBreaker::new(BreakerConfig::default()).unwrap();
    let now = Instant::from_millis(1);
    let info = allocation_counter::measure(|| {
        for _ in 0..100_000 {
            let p = b.try_acquire(now).unwrap();
            b.on_success(p, now);
        }
    });
    assert_eq!(info.count_total, 0);
    assert_eq!(b.state(now), State::Closed);
}

#[test]
fn adopting_trips_seen_elsewhere_allocates_nothing() {
    let mut b = CircuitBreaker::new(BreakerConfig::default()).unwrap();
    let adopt = |b: &mut CircuitBreaker, start: u64, n: u64| {
        let mut changes = 0u32;
        for i in 0..n {
            let now = Instant::from_millis(start + i * 1_000);
            // A shared trip every 10 s, a longer one now and then.
            if i % 10 == 0 {
                b.trip_until(now + Duration::from_secs(3 + i % 7), now);
            }
            changes += cycle(b, now, false);
        }
        changes
    };
    adopt(&mut b, 0, 1_000); // warm-up
    let mut changes = 0;
    let info = allocation_counter::measure(|| changes = adopt(&mut b, 2_000_000, 20_000));
    assert_eq!(info.count_total, 0, "{info:?}");
    assert!(changes > 1_000, "adopted trips and closes: {changes}");
}
