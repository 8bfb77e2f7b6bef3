//! Zero heap allocations per decision in steady state.

use novitai_core::limiter::{
    Gcra, GcraConfig, KeyedConfig, KeyedLimiter, RateLimitConfig, RateLimiter, SlidingWindow,
    WindowConfig,
};
use novitai_core::{Duration, Instant};

fn ms(v: u64) -> Instant {
    Instant::from_millis(v)
}

#[test]
fn gcra_check_never_allocates() {
    let mut g = Gcra::new(GcraConfig::per_minute(100).with_burst(10)).unwrap();
    let mut admitted = 0u32;
    let info = allocation_counter::measure(|| {
        for t in 0..100_000u64 {
            if g.check(ms(t * 7)).is_ok() {
                admitted += 1;
            }
            let _ = g.check_n(3, ms(t * 7));
            let _ = g.next_free(ms(t * 7));
        }
    });
    assert!(admitted > 1_000, "the loop must exercise admissions too");
    assert_eq!(info.count_total, 0);
}

#[test]
fn sliding_window_check_never_allocates_once_the_log_is_full() {
    let config = WindowConfig {
        max: 100,
        window: Duration::from_secs(60),
    };
    let mut w = SlidingWindow::new(config).unwrap();
    // Warm-up: the log grows (allocates) until it has held `max` entries.
    for _ in 0..100 {
        w.check(ms(0)).unwrap();
    }
    let (mut yes, mut no) = (0u32, 0u32);
    let info = allocation_counter::measure(|| {
        for t in 0..200_000u64 {
            match w.check(ms(t * 50)) {
                Ok(()) => yes += 1,
                Err(_) => no += 1,
            }
            let _ = w.next_free(ms(t * 50));
        }
    });
    assert!(
        yes > 1_000 && no > 1_000,
        "both answers exercised: {yes} / {no}"
    );
    assert_eq!(info.count_total, 0);
}

#[test]
fn rate_limiter_and_known_keys_never_allocate() {
    for config in [
        RateLimitConfig::default(),
        RateLimitConfig::Gcra(GcraConfig::per_second(20)),
    ] {
        let mut l = RateLimiter::new(config).unwrap();
        let mut keyed = KeyedLimiter::new(KeyedConfig {
            limit: config,
            max_keys: 16,
            max_idle: Duration::from_secs(3600),
        })
        .unwrap();
        // Warm-up: fill the window logs and create the keys.
        for t in 0..200u64 {
            let _ = l.check(ms(t));
            for key in 0..8u32 {
                let _ = keyed.check(&key, ms(t));
            }
        }
        let info = allocation_counter::measure(|| {
            for t in 200..50_000u64 {
                let _ = l.check(ms(t * 3));
                let _ = keyed.check(&((t % 8) as u32), ms(t * 3));
            }
            l.push_back(ms(1_000_000));
            let _ = l.check(ms(160_000));
        });
        assert_eq!(info.count_total, 0, "{config:?}");
    }
}

#[test]
fn the_counter_sees_allocations_so_the_tests_above_can_fail() {
    let config = WindowConfig {
        max: 1_000,
        window: Duration::from_secs(60),
    };
    let mut w = SlidingWindow::new(config).unwrap();
    // A fresh log grows while it fills: that must be counted.
    let info = allocation_counter::measure(|| {
        for t in 0..1_000u64 {
            let _ = w.check(ms(t));
        }
    });
    assert!(info.count_total > 0);
}
