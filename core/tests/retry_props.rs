//! Properties of the retry policy, its `Retry-After` parser and its budget.

use novitai_core::retry::{
    Backoff, DateForm, DelaySource, GiveUpReason, HttpDate, Jitter, Outcome, RetryAfter,
    RetryBudget, RetryBudgetConfig, RetryConfig, RetryDecision, RetryPolicy, RetryState,
    TransportErrorKind, parse_http_date,
};
use novitai_core::{Duration, Instant, Rng, UnixTime};
use proptest::prelude::*;

fn backoff() -> impl Strategy<Value = Backoff> {
    prop_oneof![
        (1u64..10_000, 1.0f64..4.0, 0u64..100_000).prop_map(|(b, f, extra)| {
            Backoff::Exponential {
                base: Duration::from_millis(b),
                factor: f,
                cap: Duration::from_millis(b + extra),
            }
        }),
        (1u64..60_000).prop_map(|d| Backoff::Constant {
            delay: Duration::from_millis(d)
        }),
        (1u64..10_000, 0u64..10_000, 0u64..100_000).prop_map(|(b, s, extra)| Backoff::Linear {
            base: Duration::from_millis(b),
            step: Duration::from_millis(s),
            cap: Duration::from_millis(b + extra),
        }),
    ]
}

fn jitter() -> impl Strategy<Value = Jitter> {
    prop_oneof![
        Just(Jitter::None),
        Just(Jitter::Full),
        Just(Jitter::Equal),
        Just(Jitter::Decorrelated)
    ]
}

fn config() -> impl Strategy<Value = RetryConfig> {
    (1u32..=10, backoff(), jitter(), any::<bool>(), 0u64..300_000).prop_map(
        |(max_attempts, backoff, jitter, honor_retry_after, max_ra)| RetryConfig {
            max_attempts,
            backoff,
            jitter,
            honor_retry_after,
            max_retry_after: Duration::from_millis(max_ra),
            ..RetryConfig::default()
        },
    )
}

fn outcome() -> impl Strategy<Value = Outcome> {
    let kinds = prop_oneof![
        Just(TransportErrorKind::ConnectionRefused),
        Just(TransportErrorKind::ConnectionReset),
        Just(TransportErrorKind::Dns),
        Just(TransportErrorKind::Timeout),
        Just(TransportErrorKind::BodyTooLarge),
        Just(TransportErrorKind::Other),
    ];
    prop_oneof![
        4 => (prop_oneof![Just(429u16), Just(408), 500u16..600], proptest::option::of(0u64..1_000_000))
            .prop_map(|(code, ra)| Outcome::Status { code, retry_after: ra.map(Duration::from_millis) }),
        1 => any::<u16>().prop_map(Outcome::status),
        1 => kinds.prop_map(Outcome::Transport),
    ]
}

/// Only retryable failures, no Retry-After: the backoff alone decides.
fn plain_failure() -> impl Strategy<Value = Outcome> {
    prop_oneof![
        (500u16..600).prop_map(Outcome::status),
        Just(Outcome::status(429)),
        Just(Outcome::transport(TransportErrorKind::Timeout)),
    ]
}

proptest! {
    #[test]
    fn delays_stay_within_cap_and_jitter_bounds(
        cfg in config(),
        seed in any::<u64>(),
        failures in proptest::collection::vec(plain_failure(), 1..12),
    ) {
        let policy = RetryPolicy::new(cfg).unwrap();
        let mut rng = Rng::new(seed);
        let mut state = RetryState::new();
        let b = cfg.backoff;
        for (i, o) in failures.iter().enumerate() {
            let prev = state.previous_delay();
            let retry = state.attempts();
            match policy.next(&mut state, o, Instant::from_millis(i as u64), &mut rng, None, None) {
                RetryDecision::RetryAt { delay, source, .. } => {
                    prop_assert_eq!(source, DelaySource::Backoff);
                    prop_assert!(delay <= b.cap());
                    let d = b.delay(retry).as_millis();
                    let ms = delay.as_millis();
                    match cfg.jitter {
                        Jitter::None => prop_assert_eq!(ms, d),
                        Jitter::Full => prop_assert!(ms <= d),
                        Jitter::Equal => prop_assert!(ms >= d / 2 && ms <= d),
                        Jitter::Decorrelated => {
                            let p = prev.unwrap_or(b.base()).as_millis();
                            prop_assert!(ms >= b.base().as_millis());
                            prop_assert!(ms <= p.saturating_mul(3));
                        }
                    }
                }
                RetryDecision::GiveUp(r) => {
                    prop_assert_eq!(r, GiveUpReason::AttemptsExhausted { attempts: cfg.max_attempts });
                    break;
                }
            }
        }
    }

    #[test]
    fn attempts_never_exceed_max_and_deadlines_are_kept(
        cfg in config(),
        seed in any::<u64>(),
        outcomes in proptest::collection::vec(outcome(), 1..20),
        start in 0u64..1_000_000,
        deadline in proptest::option::of(0u64..2_000_000),
    ) {
        let policy = RetryPolicy::new(cfg).unwrap();
        let mut rng = Rng::new(seed);
        let mut state = RetryState::new();
        let mut now = Instant::from_millis(start);
        let deadline = deadline.map(Instant::from_millis);
        let mut transmissions = 1u32;
        for o in &outcomes {
            match policy.next(&mut state, o, now, &mut rng, deadline, None) {
                RetryDecision::RetryAt { at, delay, attempt, .. } => {
                    transmissions += 1;
                    prop_assert_eq!(attempt, transmissions);
                    prop_assert_eq!(at, now + delay);
                    if let Some(dl) = deadline {
                        prop_assert!(at < dl, "retry at {at} not before deadline {dl}");
                    }
                    if let Outcome::Status { retry_after: Some(ra), .. } = *o
                        && cfg.honor_retry_after
                    {
                        prop_assert!(delay >= ra.min(cfg.max_retry_after));
                    }
                    now = at;
                }
                RetryDecision::GiveUp(_) => break,
            }
        }
        prop_assert!(transmissions <= cfg.max_attempts);
        prop_assert_eq!(state.attempts(), transmissions);
    }

    #[test]
    fn same_seed_same_decisions(
        cfg in config(),
        seed in any::<u64>(),
        outcomes in proptest::collection::vec(outcome(), 1..20),
    ) {
        let policy = RetryPolicy::new(cfg).unwrap();
        let run = || {
            let mut rng = Rng::new(seed);
            let mut budget = RetryBudget::default();
            let mut state = RetryState::new();
            outcomes
                .iter()
                .enumerate()
                .map(|(i, o)| {
                    let now = Instant::from_millis(i as u64 * 1000);
                    policy.next(&mut state, o, now, &mut rng, None, Some(&mut budget))
                })
                .collect::<Vec<_>>()
        };
        prop_assert_eq!(run(), run());
    }

    /// gRPC's bound: retries R < max_tokens / 2 + token_ratio * successes S
    /// (exact, in thousandths). A total outage is the case S = 0: however many
    /// requests are made, fewer than max_tokens / 2 retries are added.
    #[test]
    fn the_budget_bounds_extra_load(
        max_tokens in 1u32..=1000,
        ratio_milli in 1u64..=2000,
        max_attempts in 1u32..=10,
        requests in 1usize..400,
        success_per_mille in prop_oneof![Just(0u64), 0u64..=1000],
        seed in any::<u64>(),
    ) {
        let token_ratio = ratio_milli as f64 / 1000.0;
        let mut budget = RetryBudget::new(RetryBudgetConfig { max_tokens, token_ratio }).unwrap();
        let policy = RetryPolicy::new(RetryConfig { max_attempts, ..RetryConfig::default() }).unwrap();
        let mut rng = Rng::new(seed);
        let mut server = Rng::new(seed ^ 0x5eed);
        let (mut first, mut retries, mut successes) = (0u64, 0u64, 0u64);
        for r in 0..requests {
            let mut state = RetryState::new();
            first += 1;
            loop {
                let ok = server.range_inclusive(1, 1000) <= success_per_mille;
                let o = if ok { Outcome::status(200) } else { Outcome::status(503) };
                successes += u64::from(ok);
                let now = Instant::from_millis(r as u64 * 100_000);
                match policy.next(&mut state, &o, now, &mut rng, None, Some(&mut budget)) {
                    RetryDecision::RetryAt { .. } => retries += 1,
                    RetryDecision::GiveUp(_) => break,
                }
            }
        }
        let bound_milli = u64::from(max_tokens) * 1000 / 2 + ratio_milli * successes;
        prop_assert!(retries * 1000 < bound_milli.max(1),
            "{retries} retries for {first} requests and {successes} successes");
        if success_per_mille == 0 {
            prop_assert!(u64::from(max_tokens) > 2 * retries || retries == 0);
        }
    }

    #[test]
    fn retry_after_never_panics_on_any_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
        let _ = RetryAfter::parse(&bytes);
        let _ = parse_http_date(&bytes);
    }

    #[test]
    fn retry_after_never_panics_on_any_string(s in ".{0,40}") {
        let _ = s.parse::<RetryAfter>();
    }

    #[test]
    fn retry_after_never_panics_on_near_dates(
        s in "(Sun|Mon|Sunday|Xyz)[, ]{0,2}[0-9 ]{1,3}[- ](Nov|Feb|Foo)[- ][0-9]{1,5} [0-9]{1,3}:[0-9]{2}:[0-9]{1,3}( GMT| [0-9]{4})?"
    ) {
        if let Ok(RetryAfter::At(t)) = s.parse::<RetryAfter>() {
            // Whatever parses formats back to the same instant.
            let back = HttpDate::new(t).to_string();
            prop_assert_eq!(parse_http_date(back.as_bytes()), Ok(t));
        }
    }

    #[test]
    fn delta_seconds_parse_exactly_or_saturate(n in any::<u64>()) {
        let d = n.to_string().parse::<RetryAfter>();
        prop_assert_eq!(d, Ok(RetryAfter::Delay(Duration::from_secs(n))));
    }

    #[test]
    fn formatted_dates_round_trip_in_all_three_forms(secs in 0u64..=253_402_300_799) {
        let t = UnixTime::from_secs(secs);
        for form in [DateForm::ImfFixdate, DateForm::Asctime] {
            let s = HttpDate { time: t, form }.to_string();
            prop_assert_eq!(parse_http_date(s.as_bytes()), Ok(t), "{}", s);
            prop_assert_eq!(s.parse::<RetryAfter>(), Ok(RetryAfter::At(t)));
        }
        // RFC 850's two-digit year covers 1970..=2069 only.
        if secs < 3_155_760_000 {
            let s = HttpDate { time: t, form: DateForm::Rfc850 }.to_string();
            prop_assert_eq!(parse_http_date(s.as_bytes()), Ok(t), "{}", s);
        }
    }

    #[test]
    fn delay_from_is_the_gap_or_zero(at in any::<u64>(), now in any::<u64>()) {
        let d = RetryAfter::At(UnixTime::from_secs(at)).delay_from(UnixTime::from_secs(now));
        prop_assert_eq!(d, Duration::from_secs(at.saturating_sub(now)));
    }
}
