//! Scenario tests: each one a short story about the breaker.

use super::*;
use alloc::string::ToString;
use alloc::vec::Vec;

fn secs(s: u64) -> Instant {
    Instant::from_millis(s * 1000)
}

fn ms(m: u64) -> Instant {
    Instant::from_millis(m)
}

fn breaker(config: BreakerConfig) -> CircuitBreaker {
    CircuitBreaker::new(config).unwrap()
}

fn fail_n(b: &mut CircuitBreaker, n: u32, now: Instant) {
    for _ in 0..n {
        let p = b.try_acquire(now).unwrap();
        b.on_failure(p, now);
    }
}

fn succeed_n(b: &mut CircuitBreaker, n: u32, now: Instant) {
    for _ in 0..n {
        let p = b.try_acquire(now).unwrap();
        b.on_success(p, now);
    }
}

fn drain(b: &mut CircuitBreaker) -> Vec<(State, State, Instant)> {
    core::iter::from_fn(|| b.poll_transition())
        .map(|t| (t.from, t.to, t.at))
        .collect()
}

fn rate_config(rate: f64, window: Window, minimum_calls: u32) -> BreakerConfig {
    BreakerConfig {
        consecutive_failures: None,
        failure_rate: Some(rate),
        window,
        minimum_calls,
        ..BreakerConfig::default()
    }
}

#[test]
fn five_503s_open_the_breaker_and_after_60s_one_probe_goes_through() {
    let mut b = breaker(BreakerConfig::default());
    fail_n(&mut b, 4, secs(1));
    assert_eq!(
        b.state(secs(1)),
        State::Closed,
        "four failures are not enough"
    );
    fail_n(&mut b, 1, secs(2));
    assert_eq!(b.state(secs(2)), State::Open);
    assert_eq!(b.open_until(), Some(secs(62)));
    assert_eq!(
        b.try_acquire(secs(61)),
        Err(Rejected::Open { until: secs(62) })
    );

    let probe = b
        .try_acquire(secs(62))
        .expect("open time passed: a probe goes through");
    assert!(probe.is_probe());
    assert_eq!(b.state(secs(62)), State::HalfOpen);
    assert_eq!(
        drain(&mut b),
        [
            (State::Closed, State::Open, secs(2)),
            (State::Open, State::HalfOpen, secs(62)),
        ]
    );
    b.on_success(probe, secs(63));
}

#[test]
fn a_success_in_between_resets_the_consecutive_count() {
    let mut b = breaker(BreakerConfig::default());
    fail_n(&mut b, 4, secs(0));
    succeed_n(&mut b, 1, secs(0));
    fail_n(&mut b, 4, secs(0));
    assert_eq!(b.state(secs(0)), State::Closed);
    assert_eq!(b.metrics(secs(0)).consecutive_failures, 4);
    fail_n(&mut b, 1, secs(0));
    assert_eq!(b.state(secs(0)), State::Open);
}

#[test]
fn three_good_probes_close_it_and_one_bad_probe_reopens_it() {
    let mut b = breaker(BreakerConfig::default());
    fail_n(&mut b, 5, secs(0));
    // Three probes at once; the fourth caller is told to wait.
    let p: Vec<Permit> = (0..3).map(|_| b.try_acquire(secs(60)).unwrap()).collect();
    assert_eq!(
        b.try_acquire(secs(60)),
        Err(Rejected::ProbesBusy { until: secs(90) })
    );
    let mut p = p.into_iter();
    b.on_success(p.next().unwrap(), secs(61));
    b.on_success(p.next().unwrap(), secs(61));
    assert_eq!(b.state(secs(61)), State::HalfOpen);
    b.on_success(p.next().unwrap(), secs(62));
    assert_eq!(b.state(secs(62)), State::Closed);

    // Again: trip, then a failed probe reopens for another 60 s.
    fail_n(&mut b, 5, secs(100));
    let probe = b.try_acquire(secs(160)).unwrap();
    b.on_failure(probe, secs(161));
    assert_eq!(b.state(secs(161)), State::Open);
    assert_eq!(b.open_until(), Some(secs(221)));
}

#[test]
fn a_hung_probe_times_out_and_reopens_without_any_report() {
    let mut b = breaker(BreakerConfig::default());
    fail_n(&mut b, 5, secs(0));
    let hung = b.try_acquire(secs(60)).unwrap();
    assert_eq!(
        b.poll_timeout(),
        Some(secs(90)),
        "the driver must wake at the max wait"
    );
    assert_eq!(b.state(secs(89)), State::HalfOpen);
    // Nobody reports; time alone reopens it, at the probe's deadline.
    assert_eq!(b.state(secs(90)), State::Open);
    assert_eq!(b.open_until(), Some(secs(150)));
    let changes = drain(&mut b);
    assert_eq!(
        changes.last(),
        Some(&(State::HalfOpen, State::Open, secs(90)))
    );
    // The hung probe's late success is from an older generation: ignored.
    b.on_success(hung, secs(95));
    assert_eq!(b.state(secs(95)), State::Open);
}

#[test]
fn a_hung_probe_observed_very_late_replays_each_change_at_its_due_instant() {
    let mut b = breaker(BreakerConfig::default());
    fail_n(&mut b, 5, secs(0));
    let _hung = b.try_acquire(secs(60)).unwrap();
    drain(&mut b);
    // First look at it long after: reopened at 90, half-open again at 150.
    assert_eq!(b.state(secs(1_000)), State::HalfOpen);
    assert_eq!(
        drain(&mut b),
        [
            (State::HalfOpen, State::Open, secs(90)),
            (State::Open, State::HalfOpen, secs(150)),
        ]
    );
}

#[test]
fn try_acquire_also_notices_a_hung_probe() {
    let mut b = breaker(BreakerConfig {
        half_open_probes: 1,
        ..BreakerConfig::default()
    });
    fail_n(&mut b, 5, secs(0));
    let _hung = b.try_acquire(secs(60)).unwrap();
    assert_eq!(
        b.try_acquire(secs(70)),
        Err(Rejected::ProbesBusy { until: secs(90) })
    );
    assert_eq!(
        b.try_acquire(secs(90)),
        Err(Rejected::Open { until: secs(150) })
    );
}

#[test]
fn an_ignored_probe_frees_its_slot_without_counting() {
    let mut b = breaker(BreakerConfig {
        half_open_probes: 1,
        half_open_successes: 1,
        ..BreakerConfig::default()
    });
    fail_n(&mut b, 5, secs(0));
    let probe = b.try_acquire(secs(60)).unwrap();
    b.on_ignored(probe); // a 404: says nothing about health
    assert_eq!(b.state(secs(60)), State::HalfOpen);
    assert_eq!(b.poll_timeout(), None);
    let probe = b.try_acquire(secs(61)).expect("slot is free again");
    b.on_success(probe, secs(61));
    assert_eq!(b.state(secs(61)), State::Closed);
}

#[test]
fn late_reports_from_before_the_trip_neither_close_nor_reopen_it() {
    let mut b = breaker(BreakerConfig::default());
    let early: Vec<Permit> = (0..4).map(|_| b.try_acquire(secs(0)).unwrap()).collect();
    fail_n(&mut b, 5, secs(1));
    drain(&mut b);
    let mut early = early.into_iter();
    // A slow success from before the trip does not close it...
    b.on_success(early.next().unwrap(), secs(2));
    assert_eq!(b.state(secs(2)), State::Open);
    // ...and late failures do not trip it again or extend the open time.
    b.on_failure(early.next().unwrap(), secs(3));
    assert_eq!(b.open_until(), Some(secs(61)));
    // Nor do they touch half-open.
    let probe = b.try_acquire(secs(61)).unwrap();
    b.on_failure(early.next().unwrap(), secs(62));
    assert_eq!(b.state(secs(62)), State::HalfOpen);
    assert_eq!(b.metrics(secs(62)).probes_in_flight, 1);
    succeed_n(&mut b, 2, secs(62));
    b.on_success(probe, secs(62));
    assert_eq!(b.state(secs(62)), State::Closed);
    // Once closed again, a late failure is just counted.
    b.on_failure(early.next().unwrap(), secs(63));
    assert_eq!(b.metrics(secs(63)).consecutive_failures, 1);
    assert_eq!(b.state(secs(63)), State::Closed);
    assert_eq!(
        drain(&mut b).len(),
        2,
        "only Open→HalfOpen and HalfOpen→Closed"
    );
}

#[test]
fn rate_policy_does_not_trip_below_the_minimum_number_of_calls() {
    let mut b = breaker(rate_config(0.5, Window::Count(20), 10));
    fail_n(&mut b, 9, secs(0));
    assert_eq!(
        b.state(secs(0)),
        State::Closed,
        "9 of 9 failed, but 9 < minimum 10"
    );
    let m = b.metrics(secs(0));
    assert_eq!((m.calls, m.failures), (9, 9));
    assert!((m.failure_rate - 1.0).abs() < f64::EPSILON);
    fail_n(&mut b, 1, secs(0));
    assert_eq!(b.state(secs(0)), State::Open);
}

#[test]
fn rate_policy_trips_exactly_at_the_threshold() {
    let mut b = breaker(rate_config(0.3, Window::Count(10), 10));
    succeed_n(&mut b, 7, secs(0));
    fail_n(&mut b, 2, secs(0));
    assert_eq!(b.state(secs(0)), State::Closed);
    fail_n(&mut b, 1, secs(0)); // 3 of 10 = 30% >= 30%
    assert_eq!(b.state(secs(0)), State::Open);
}

#[test]
fn count_window_forgets_old_failures() {
    let mut b = breaker(rate_config(0.5, Window::Count(10), 10));
    fail_n(&mut b, 4, secs(0));
    succeed_n(&mut b, 6, secs(0)); // 4/10
    // Each new success pushes out an old failure.
    succeed_n(&mut b, 4, secs(0));
    assert_eq!(b.metrics(secs(0)).failures, 0);
    fail_n(&mut b, 4, secs(0));
    assert_eq!(b.state(secs(0)), State::Closed, "4 of the last 10");
    fail_n(&mut b, 1, secs(0));
    assert_eq!(b.state(secs(0)), State::Open, "5 of the last 10");
}

#[test]
fn time_window_only_counts_the_last_seconds() {
    let mut b = breaker(rate_config(0.5, Window::Seconds(10), 5));
    fail_n(&mut b, 3, secs(0));
    succeed_n(&mut b, 1, secs(5)); // 3 of 4 failed, but 4 < minimum 5
    // At t=10 the failures of second 0 have slid out: 1 call, below minimum.
    fail_n(&mut b, 1, secs(10));
    assert_eq!(b.state(secs(10)), State::Closed);
    let m = b.metrics(secs(10));
    assert_eq!((m.calls, m.failures), (2, 1));
    fail_n(&mut b, 2, ms(10_500));
    assert_eq!(
        b.state(ms(10_500)),
        State::Closed,
        "3 of 4 in seconds 1..=10"
    );
    fail_n(&mut b, 1, ms(10_900));
    assert_eq!(b.state(ms(10_900)), State::Open, "4 of 5 in seconds 1..=10");
}

#[test]
fn slow_calls_trip_the_breaker_even_when_they_succeed() {
    let mut b = breaker(BreakerConfig {
        consecutive_failures: None,
        slow_calls: Some(SlowCalls {
            duration: Duration::from_secs(2),
            rate: 0.5,
        }),
        window: Window::Count(4),
        minimum_calls: 4,
        ..BreakerConfig::default()
    });
    let quick = [0u64, 2_000]; // exactly the threshold is not slow
    for d in quick {
        let p = b.try_acquire(ms(0)).unwrap();
        b.on_success(p, ms(d));
    }
    let p = b.try_acquire(ms(10_000)).unwrap();
    b.on_success(p, ms(12_001)); // slow
    assert_eq!(b.state(ms(12_001)), State::Closed);
    assert_eq!(b.metrics(ms(12_001)).slow_calls, 1);
    let p = b.try_acquire(ms(20_000)).unwrap();
    b.on_success(p, ms(25_000)); // slow: 2 of 4
    assert_eq!(b.state(ms(25_000)), State::Open);
}

#[test]
fn a_slow_probe_counts_as_a_failed_probe() {
    let mut b = breaker(BreakerConfig {
        slow_calls: Some(SlowCalls {
            duration: Duration::from_secs(5),
            rate: 1.0,
        }),
        ..BreakerConfig::default()
    });
    fail_n(&mut b, 5, secs(0));
    let probe = b.try_acquire(secs(60)).unwrap();
    b.on_success(probe, secs(66));
    assert_eq!(b.state(secs(66)), State::Open);
}

#[test]
fn growing_open_time_doubles_and_caps_and_a_close_resets_it() {
    let mut b = breaker(BreakerConfig {
        open_duration: OpenDuration::Exponential {
            initial: Duration::from_secs(10),
            factor: 2.0,
            max: Duration::from_secs(35),
        },
        half_open_successes: 1,
        ..BreakerConfig::default()
    });
    fail_n(&mut b, 5, secs(0));
    let mut now = secs(0);
    let mut opens = Vec::new();
    for _ in 0..4 {
        let until = b.open_until().unwrap();
        opens.push(until.saturating_duration_since(now).as_secs());
        now = until;
        let probe = b.try_acquire(now).unwrap();
        b.on_failure(probe, now);
    }
    assert_eq!(opens, [10, 20, 35, 35]);
    assert_eq!(b.metrics(now).consecutive_trips, 5);
    // A successful probe closes it; the next trip starts from 10 s again.
    now = b.open_until().unwrap();
    succeed_n(&mut b, 1, now);
    assert_eq!(b.state(now), State::Closed);
    fail_n(&mut b, 5, now);
    assert_eq!(b.open_until(), Some(now + Duration::from_secs(10)));
}

#[test]
fn forced_open_refuses_everything_until_reset() {
    let mut b = breaker(BreakerConfig::default());
    let p = b.try_acquire(secs(0)).unwrap();
    b.force_open(secs(1));
    assert_eq!(b.try_acquire(secs(1_000_000)), Err(Rejected::ForcedOpen));
    assert_eq!(Rejected::ForcedOpen.until(), Instant::MAX);
    assert_eq!(b.open_until(), Some(Instant::MAX));
    assert_eq!(b.poll_timeout(), None, "time alone never ends it");
    b.on_failure(p, secs(1_000_001));
    b.reset(secs(1_000_002));
    assert_eq!(b.state(secs(1_000_002)), State::Closed);
    assert!(b.try_acquire(secs(1_000_002)).is_ok());
    assert_eq!(
        drain(&mut b),
        [
            (State::Closed, State::ForcedOpen, secs(1)),
            (State::ForcedOpen, State::Closed, secs(1_000_002)),
        ]
    );
}

#[test]
fn disabled_permits_everything_and_counts_nothing() {
    let mut b = breaker(BreakerConfig::default());
    b.disable(secs(0));
    fail_n(&mut b, 100, secs(1));
    assert_eq!(b.state(secs(1)), State::Disabled);
    let m = b.metrics(secs(1));
    assert_eq!((m.calls, m.consecutive_failures), (0, 0));
    // A permit from the disabled period reported after reset is not counted.
    let p = b.try_acquire(secs(2)).unwrap();
    b.reset(secs(3));
    b.on_failure(p, secs(4));
    assert_eq!(b.metrics(secs(4)).calls, 0);
}

#[test]
fn reset_from_open_closes_and_forgets_growth() {
    let mut b = breaker(BreakerConfig::default());
    fail_n(&mut b, 5, secs(0));
    b.reset(secs(10));
    assert_eq!(b.state(secs(10)), State::Closed);
    assert_eq!(b.metrics(secs(10)).consecutive_trips, 0);
    // Reset while closed clears counters silently.
    fail_n(&mut b, 4, secs(11));
    drain(&mut b);
    b.reset(secs(12));
    assert_eq!(b.metrics(secs(12)).consecutive_failures, 0);
    assert!(b.poll_transition().is_none());
}

// ---- trips seen elsewhere (trip_until) -------------------------------------

/// The transitions with their open-until and adopted flag.
fn drain_full(b: &mut CircuitBreaker) -> Vec<Transition> {
    core::iter::from_fn(|| b.poll_transition()).collect()
}

#[test]
fn a_trip_seen_elsewhere_opens_a_healthy_breaker_and_it_probes_after() {
    // Worker B has seen no failures; worker A tripped and shares "open until
    // 70 s". B refuses until then, then probes like after its own trip.
    let mut b = breaker(BreakerConfig::default());
    succeed_n(&mut b, 3, secs(5));
    assert!(b.trip_until(secs(70), secs(10)));
    assert_eq!(b.state(secs(10)), State::Open);
    assert_eq!(
        b.try_acquire(secs(69)),
        Err(Rejected::Open { until: secs(70) })
    );
    assert_eq!(b.poll_timeout(), Some(secs(70)));
    let probe = b
        .try_acquire(secs(70))
        .expect("a probe after the shared open time");
    assert!(probe.is_probe());
    b.on_success(probe, secs(71));
    succeed_n(&mut b, 2, secs(71));
    assert_eq!(b.state(secs(71)), State::Closed);
    let changes = drain_full(&mut b);
    assert_eq!(
        changes.first(),
        Some(&Transition {
            from: State::Closed,
            to: State::Open,
            at: secs(10),
            open_until: Some(secs(70)),
            adopted: true,
        })
    );
    assert_eq!(changes.first().and_then(Transition::own_trip), None);
    assert!(
        changes
            .iter()
            .skip(1)
            .all(|t| !t.adopted && t.open_until.is_none())
    );
}

#[test]
fn an_adopted_trip_never_shortens_a_longer_local_open() {
    let mut b = breaker(BreakerConfig::default());
    fail_n(&mut b, 5, secs(0)); // open until 60 s
    let own = drain_full(&mut b);
    assert_eq!(own.len(), 1);
    assert_eq!(own[0].own_trip(), Some(secs(60)), "its own trip, to share");
    assert!(!b.trip_until(secs(30), secs(1)));
    assert!(!b.trip_until(secs(60), secs(1)));
    assert_eq!(b.open_until(), Some(secs(60)));
    assert!(
        drain_full(&mut b).is_empty(),
        "nothing changed, nothing reported"
    );
}

#[test]
fn a_longer_trip_seen_elsewhere_keeps_an_open_breaker_open_longer() {
    let mut b = breaker(BreakerConfig::default());
    fail_n(&mut b, 5, secs(0)); // open until 60 s
    drain(&mut b);
    assert!(b.trip_until(secs(90), secs(20)));
    assert_eq!(
        b.try_acquire(secs(60)),
        Err(Rejected::Open { until: secs(90) })
    );
    assert_eq!(
        drain_full(&mut b),
        [Transition {
            from: State::Open,
            to: State::Open,
            at: secs(20),
            open_until: Some(secs(90)),
            adopted: true,
        }]
    );
    assert!(b.try_acquire(secs(90)).is_ok_and(|p| p.is_probe()));
}

#[test]
fn a_trip_seen_elsewhere_reopens_a_half_open_breaker_and_its_probes_go_stale() {
    let mut b = breaker(BreakerConfig::default());
    fail_n(&mut b, 5, secs(0));
    let probe = b.try_acquire(secs(60)).unwrap();
    assert!(b.trip_until(secs(100), secs(61)));
    // The probe from before the adopted trip cannot close it.
    b.on_success(probe, secs(62));
    assert_eq!(b.state(secs(62)), State::Open);
    assert_eq!(b.open_until(), Some(secs(100)));
}

#[test]
fn forced_open_and_disabled_breakers_ignore_trips_seen_elsewhere() {
    let mut b = breaker(BreakerConfig::default());
    b.force_open(secs(0));
    assert!(!b.trip_until(secs(60), secs(1)));
    assert_eq!(b.state(secs(1)), State::ForcedOpen);
    let mut d = breaker(BreakerConfig::default());
    d.disable(secs(0));
    assert!(!d.trip_until(secs(60), secs(1)));
    assert_eq!(d.state(secs(1)), State::Disabled);
    assert!(d.try_acquire(secs(2)).is_ok());
}

#[test]
fn a_trip_that_already_ended_changes_nothing() {
    let mut b = breaker(BreakerConfig::default());
    assert!(!b.trip_until(secs(10), secs(10)));
    assert!(!b.trip_until(secs(5), secs(10)));
    assert!(!b.trip_until(Instant::ZERO, secs(10)));
    assert_eq!(b.state(secs(10)), State::Closed);
    assert!(b.poll_transition().is_none());
}

#[test]
fn an_adopted_trip_does_not_advance_the_growing_open_time() {
    let mut b = breaker(BreakerConfig {
        open_duration: OpenDuration::Exponential {
            initial: Duration::from_secs(10),
            factor: 2.0,
            max: Duration::from_secs(100),
        },
        ..BreakerConfig::default()
    });
    assert!(b.trip_until(secs(30), secs(0)));
    assert_eq!(b.metrics(secs(0)).consecutive_trips, 0);
    // After the adopted open time a failed probe is this breaker's first own
    // trip: the initial open time.
    let probe = b.try_acquire(secs(30)).unwrap();
    b.on_failure(probe, secs(30));
    assert_eq!(b.open_until(), Some(secs(40)));
    // A trip seen elsewhere while the own one is open only lengthens it; the
    // next own trip still grows from 10 s to 20 s.
    assert!(b.trip_until(secs(45), secs(31)));
    let probe = b.try_acquire(secs(45)).unwrap();
    b.on_failure(probe, secs(45));
    assert_eq!(b.open_until(), Some(secs(65)));
}

#[test]
fn a_snapshot_from_before_the_open_until_fields_still_loads() {
    let mut b = breaker(BreakerConfig::default());
    fail_n(&mut b, 5, secs(0));
    let mut v = serde_json::to_value(&b).unwrap();
    for t in v["transitions"].as_array_mut().unwrap() {
        let t = t.as_object_mut().unwrap();
        t.remove("open_until");
        t.remove("adopted");
    }
    let mut back: CircuitBreaker = serde_json::from_value(v).unwrap();
    let t = back.poll_transition().unwrap();
    assert_eq!((t.to, t.open_until, t.adopted), (State::Open, None, false));
}

#[test]
fn time_going_backwards_counts_as_no_time_passing() {
    let mut b = breaker(BreakerConfig::default());
    fail_n(&mut b, 5, secs(100));
    assert_eq!(b.state(secs(3)), State::Open);
    assert_eq!(
        b.try_acquire(secs(0)),
        Err(Rejected::Open { until: secs(160) })
    );
}

#[test]
fn the_transition_queue_is_bounded_and_keeps_the_latest() {
    let mut b = breaker(BreakerConfig::default());
    for i in 0..(TRANSITION_QUEUE as u64 + 5) {
        b.force_open(secs(i));
        b.reset(secs(i));
    }
    let changes = drain(&mut b);
    assert_eq!(changes.len(), TRANSITION_QUEUE);
    assert_eq!(
        changes.last().map(|c| c.2),
        Some(secs(TRANSITION_QUEUE as u64 + 4))
    );
}

#[test]
fn the_breaker_round_trips_through_serde_mid_half_open() {
    let mut b = breaker(BreakerConfig::default());
    fail_n(&mut b, 5, secs(0));
    let probe = b.try_acquire(secs(60)).unwrap();
    let json = serde_json::to_string(&b).unwrap();
    let mut back: CircuitBreaker = serde_json::from_str(&json).unwrap();
    assert_eq!(back, b);
    // The restored copy still honours the outstanding probe.
    back.on_success(probe, secs(61));
    assert_eq!(back.metrics(secs(61)).probe_successes, 1);
}

#[test]
fn an_inconsistent_snapshot_is_refused_not_trusted() {
    let b = breaker(BreakerConfig::default());
    let mut v: serde_json::Value = serde_json::to_value(&b).unwrap();
    v["config"]["half_open_probes"] = 7.into();
    let err = serde_json::from_value::<CircuitBreaker>(v.clone()).unwrap_err();
    assert!(err.to_string().contains("probe slots"), "{err}");
    v["config"]["half_open_probes"] = 0.into();
    let err = serde_json::from_value::<CircuitBreaker>(v).unwrap_err();
    assert!(err.to_string().contains("half_open_probes"), "{err}");
}

#[test]
fn out_of_range_configs_are_typed_errors_with_readable_messages() {
    let d = BreakerConfig::default();
    let bad = [
        BreakerConfig {
            consecutive_failures: Some(0),
            ..d
        },
        BreakerConfig {
            failure_rate: Some(0.0),
            ..d
        },
        BreakerConfig {
            failure_rate: Some(f64::NAN),
            ..d
        },
        BreakerConfig {
            failure_rate: Some(1.5),
            ..d
        },
        BreakerConfig {
            slow_calls: Some(SlowCalls {
                duration: Duration::ZERO,
                rate: -1.0,
            }),
            ..d
        },
        BreakerConfig {
            window: Window::Count(0),
            ..d
        },
        BreakerConfig {
            window: Window::Count(MAX_COUNT_WINDOW + 1),
            ..d
        },
        BreakerConfig {
            window: Window::Seconds(0),
            ..d
        },
        BreakerConfig {
            window: Window::Count(10),
            minimum_calls: 11,
            ..d
        },
        BreakerConfig {
            minimum_calls: 0,
            ..d
        },
        BreakerConfig {
            open_duration: OpenDuration::Fixed(Duration::ZERO),
            ..d
        },
        BreakerConfig {
            open_duration: OpenDuration::Exponential {
                initial: Duration::from_secs(1),
                factor: 0.5,
                max: Duration::from_secs(10),
            },
            ..d
        },
        BreakerConfig {
            open_duration: OpenDuration::Exponential {
                initial: Duration::from_secs(10),
                factor: 2.0,
                max: Duration::from_secs(1),
            },
            ..d
        },
        BreakerConfig {
            half_open_probes: 0,
            ..d
        },
        BreakerConfig {
            half_open_probes: MAX_HALF_OPEN_PROBES + 1,
            ..d
        },
        BreakerConfig {
            half_open_successes: 0,
            ..d
        },
        BreakerConfig {
            probe_max_wait: Duration::ZERO,
            ..d
        },
    ];
    for c in bad {
        let err = CircuitBreaker::new(c).unwrap_err();
        let msg = err.to_string();
        assert!(msg.starts_with("breaker "), "{msg}");
        assert!(
            msg.contains(';'),
            "names the problem and the allowed range: {msg}"
        );
    }
    assert_eq!(
        CircuitBreaker::new(BreakerConfig {
            window: Window::Count(10),
            minimum_calls: 11,
            ..d
        })
        .unwrap_err()
        .to_string(),
        "breaker minimum_calls is 11; use 1 to 10 (a count window cannot hold more calls than its size)"
    );
}

#[test]
fn display_forms_read_well() {
    assert_eq!(State::HalfOpen.to_string(), "half-open");
    assert_eq!(
        Rejected::Open { until: secs(60) }.to_string(),
        "circuit breaker open until t+1m"
    );
}
