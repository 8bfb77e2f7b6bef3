//! Unit and story tests for the retry policy.

use super::*;
use alloc::string::ToString;
use alloc::vec::Vec;

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn at_secs(s: u64) -> Instant {
    Instant::from_millis(s * 1000)
}

/// The seed's schedule without jitter, so stories have exact times.
fn no_jitter() -> RetryPolicy {
    RetryPolicy::new(RetryConfig {
        jitter: Jitter::None,
        ..RetryConfig::default()
    })
    .unwrap()
}

fn retry_at(d: RetryDecision) -> (Instant, Duration, DelaySource) {
    match d {
        RetryDecision::RetryAt {
            at, delay, source, ..
        } => (at, delay, source),
        RetryDecision::GiveUp(r) => panic!("expected a retry, got give-up: {r}"),
    }
}

#[test]
fn story_503_then_503_then_200_retries_at_1s_and_2s() {
    let policy = no_jitter();
    let mut rng = Rng::new(1);
    let mut state = RetryState::new();
    // First attempt at t=0 answers 503 at t=0.2 s.
    let t0 = Instant::from_millis(200);
    let (at1, d1, _) =
        retry_at(policy.next(&mut state, &Outcome::status(503), t0, &mut rng, None, None));
    assert_eq!((at1, d1), (Instant::from_millis(1200), secs(1)));
    assert_eq!(state.attempts(), 2);
    // The retry answers 503 at t=1.5 s.
    let t1 = Instant::from_millis(1500);
    let (at2, d2, _) =
        retry_at(policy.next(&mut state, &Outcome::status(503), t1, &mut rng, None, None));
    assert_eq!((at2, d2), (Instant::from_millis(3500), secs(2)));
    // The third attempt succeeds: nothing more to do.
    assert_eq!(
        policy.next(
            &mut state,
            &Outcome::status(200),
            at_secs(4),
            &mut rng,
            None,
            None
        ),
        RetryDecision::GiveUp(GiveUpReason::NotAFailure)
    );
    assert_eq!(state.attempts(), 3);
}

#[test]
fn story_three_503s_exhaust_the_default_three_attempts() {
    let policy = no_jitter();
    let mut rng = Rng::new(1);
    let mut state = RetryState::new();
    let o = Outcome::status(503);
    retry_at(policy.next(&mut state, &o, at_secs(0), &mut rng, None, None));
    retry_at(policy.next(&mut state, &o, at_secs(1), &mut rng, None, None));
    assert_eq!(
        policy.next(&mut state, &o, at_secs(3), &mut rng, None, None),
        RetryDecision::GiveUp(GiveUpReason::AttemptsExhausted { attempts: 3 })
    );
}

#[test]
fn story_429_with_retry_after_7_waits_7s() {
    let policy = RetryPolicy::default(); // full jitter: backoff ≤ 1 s, so 7 s wins
    let mut rng = Rng::new(9);
    let mut state = RetryState::new();
    let outcome = Outcome::from_response(429, Some(b"7"), None);
    let (at, delay, source) =
        retry_at(policy.next(&mut state, &outcome, at_secs(100), &mut rng, None, None));
    assert_eq!(
        (at, delay, source),
        (at_secs(107), secs(7), DelaySource::RetryAfter)
    );
}

#[test]
fn story_retry_after_as_http_date() {
    let policy = no_jitter();
    let mut rng = Rng::new(9);
    let mut state = RetryState::new();
    // The response's Date header says 08:49:07; Retry-After says 08:49:37.
    let date = parse_http_date(b"Sun, 06 Nov 1994 08:49:07 GMT").ok();
    let outcome = Outcome::from_response(503, Some(b"Sun, 06 Nov 1994 08:49:37 GMT"), date);
    let (_, delay, source) =
        retry_at(policy.next(&mut state, &outcome, at_secs(5), &mut rng, None, None));
    assert_eq!((delay, source), (secs(30), DelaySource::RetryAfter));
}

#[test]
fn story_malformed_retry_after_falls_back_to_backoff() {
    let policy = no_jitter();
    let mut rng = Rng::new(9);
    for junk in [
        &b"soon"[..],
        b"-1",
        b"Sun, 30 Feb 1994 08:49:37 GMT",
        b"",
        b"\xff\xfe",
    ] {
        let mut state = RetryState::new();
        let outcome = Outcome::from_response(503, Some(junk), Some(UnixTime::from_secs(0)));
        let (_, delay, source) =
            retry_at(policy.next(&mut state, &outcome, at_secs(5), &mut rng, None, None));
        assert_eq!((delay, source), (secs(1), DelaySource::Backoff));
    }
}

use crate::time::UnixTime;

#[test]
fn story_a_404_is_never_retried() {
    let policy = RetryPolicy::new(RetryConfig {
        max_attempts: 10,
        ..RetryConfig::default()
    })
    .unwrap();
    let mut rng = Rng::new(1);
    let mut budget = RetryBudget::default();
    let mut state = RetryState::new();
    let before = budget.clone();
    let outcome = Outcome::from_response(404, Some(b"1"), None);
    assert_eq!(
        policy.next(
            &mut state,
            &outcome,
            at_secs(0),
            &mut rng,
            None,
            Some(&mut budget)
        ),
        RetryDecision::GiveUp(GiveUpReason::NotRetryable)
    );
    assert_eq!(state, RetryState::new());
    assert_eq!(
        budget, before,
        "a 404 says nothing about the server's health"
    );
}

#[test]
fn retry_after_is_a_floor_not_a_ceiling() {
    // Deep in the backoff (attempt 4 of 10 → 8 s), a Retry-After of 2 s does not
    // shorten the wait.
    let policy = RetryPolicy::new(RetryConfig {
        max_attempts: 10,
        jitter: Jitter::None,
        ..RetryConfig::default()
    })
    .unwrap();
    let mut rng = Rng::new(1);
    let mut state = RetryState::new();
    for _ in 0..3 {
        retry_at(policy.next(
            &mut state,
            &Outcome::status(503),
            at_secs(0),
            &mut rng,
            None,
            None,
        ));
    }
    let o = Outcome::Status {
        code: 429,
        retry_after: Some(secs(2)),
    };
    let (_, delay, source) =
        retry_at(policy.next(&mut state, &o, at_secs(0), &mut rng, None, None));
    assert_eq!((delay, source), (secs(8), DelaySource::Backoff));
}

#[test]
fn retry_after_is_clamped_to_the_maximum() {
    let policy = RetryPolicy::default();
    let mut rng = Rng::new(1);
    let mut state = RetryState::new();
    let o = Outcome::from_response(503, Some(b"86400"), None);
    let (_, delay, source) =
        retry_at(policy.next(&mut state, &o, at_secs(0), &mut rng, None, None));
    assert_eq!((delay, source), (secs(120), DelaySource::RetryAfterClamped));
    // Saturated, absurd values clamp too.
    let mut state = RetryState::new();
    let o = Outcome::from_response(503, Some(b"99999999999999999999999"), None);
    let (_, delay, _) = retry_at(policy.next(&mut state, &o, at_secs(0), &mut rng, None, None));
    assert_eq!(delay, secs(120));
}

#[test]
fn retry_after_can_be_ignored() {
    let policy = RetryPolicy::new(RetryConfig {
        honor_retry_after: false,
        jitter: Jitter::None,
        ..RetryConfig::default()
    })
    .unwrap();
    let mut rng = Rng::new(1);
    let mut state = RetryState::new();
    let o = Outcome::Status {
        code: 429,
        retry_after: Some(secs(60)),
    };
    let (_, delay, source) =
        retry_at(policy.next(&mut state, &o, at_secs(0), &mut rng, None, None));
    assert_eq!((delay, source), (secs(1), DelaySource::Backoff));
}

#[test]
fn no_retry_at_or_past_the_deadline() {
    let policy = no_jitter();
    let mut rng = Rng::new(1);
    let mut state = RetryState::new();
    let o = Outcome::status(502);
    // Retry would be at t=11 s; deadline exactly then: give up.
    assert_eq!(
        policy.next(
            &mut state,
            &o,
            at_secs(10),
            &mut rng,
            Some(at_secs(11)),
            None
        ),
        RetryDecision::GiveUp(GiveUpReason::DeadlineWouldPass {
            retry_at: at_secs(11),
            deadline: at_secs(11)
        })
    );
    assert_eq!(
        state,
        RetryState::new(),
        "a refused retry leaves the state alone"
    );
    // One millisecond more and it fits.
    let (at, _, _) = retry_at(policy.next(
        &mut state,
        &o,
        at_secs(10),
        &mut rng,
        Some(Instant::from_millis(11_001)),
        None,
    ));
    assert_eq!(at, at_secs(11));
    // A Retry-After past the deadline also gives up.
    let mut state = RetryState::new();
    let o = Outcome::Status {
        code: 503,
        retry_after: Some(secs(30)),
    };
    assert!(matches!(
        policy.next(
            &mut state,
            &o,
            at_secs(0),
            &mut rng,
            Some(at_secs(20)),
            None
        ),
        RetryDecision::GiveUp(GiveUpReason::DeadlineWouldPass { .. })
    ));
}

#[test]
fn transport_errors_are_retried_with_their_reason() {
    let policy = no_jitter();
    let mut rng = Rng::new(1);
    let mut state = RetryState::new();
    let d = policy.next(
        &mut state,
        &Outcome::transport(TransportErrorKind::ConnectionRefused),
        at_secs(0),
        &mut rng,
        None,
        None,
    );
    assert_eq!(
        d,
        RetryDecision::RetryAt {
            at: at_secs(1),
            delay: secs(1),
            attempt: 2,
            reason: RetryReason::Transport(TransportErrorKind::ConnectionRefused),
            source: DelaySource::Backoff,
        }
    );
    let mut state = RetryState::new();
    assert_eq!(
        policy.next(
            &mut state,
            &Outcome::transport(TransportErrorKind::BodyTooLarge),
            at_secs(0),
            &mut rng,
            None,
            None
        ),
        RetryDecision::GiveUp(GiveUpReason::NotRetryable)
    );
}

#[test]
fn max_attempts_one_never_retries() {
    let policy = RetryPolicy::new(RetryConfig {
        max_attempts: 1,
        ..RetryConfig::default()
    })
    .unwrap();
    let mut state = RetryState::new();
    assert_eq!(
        policy.next(
            &mut state,
            &Outcome::status(503),
            at_secs(0),
            &mut Rng::new(1),
            None,
            None
        ),
        RetryDecision::GiveUp(GiveUpReason::AttemptsExhausted { attempts: 1 })
    );
}

#[test]
fn story_an_outage_drains_the_budget_and_successes_refill_it() {
    let policy = no_jitter();
    let mut rng = Rng::new(1);
    let mut budget = RetryBudget::new(RetryBudgetConfig {
        max_tokens: 10,
        token_ratio: 1.0,
    })
    .unwrap();
    let o = Outcome::status(503);
    // Request 1: fails, retried (9 tokens), fails, retried (8), fails: out of attempts (7).
    let mut s = RetryState::new();
    retry_at(policy.next(&mut s, &o, at_secs(0), &mut rng, None, Some(&mut budget)));
    retry_at(policy.next(&mut s, &o, at_secs(1), &mut rng, None, Some(&mut budget)));
    assert!(matches!(
        policy.next(&mut s, &o, at_secs(3), &mut rng, None, Some(&mut budget)),
        RetryDecision::GiveUp(GiveUpReason::AttemptsExhausted { .. })
    ));
    // Request 2: fails (6 tokens) and is retried; its retry fails (5): not > half.
    let mut s = RetryState::new();
    retry_at(policy.next(&mut s, &o, at_secs(4), &mut rng, None, Some(&mut budget)));
    assert_eq!(
        policy.next(&mut s, &o, at_secs(5), &mut rng, None, Some(&mut budget)),
        RetryDecision::GiveUp(GiveUpReason::BudgetExhausted)
    );
    // Two successes bring it to 7; the next failure (6) may be retried again.
    for _ in 0..2 {
        let mut s = RetryState::new();
        let ok = policy.next(
            &mut s,
            &Outcome::status(200),
            at_secs(6),
            &mut rng,
            None,
            Some(&mut budget),
        );
        assert_eq!(ok, RetryDecision::GiveUp(GiveUpReason::NotAFailure));
    }
    assert_eq!(budget.tokens_milli(), 7_000);
    let mut s = RetryState::new();
    retry_at(policy.next(&mut s, &o, at_secs(7), &mut rng, None, Some(&mut budget)));
}

#[test]
fn decorrelated_jitter_remembers_the_previous_delay() {
    let policy = RetryPolicy::new(RetryConfig {
        max_attempts: 10,
        jitter: Jitter::Decorrelated,
        ..RetryConfig::default()
    })
    .unwrap();
    let mut rng = Rng::new(5);
    let mut state = RetryState::new();
    let mut prev = secs(1);
    for _ in 0..9 {
        let (_, d, _) = retry_at(policy.next(
            &mut state,
            &Outcome::status(500),
            at_secs(0),
            &mut rng,
            None,
            None,
        ));
        assert_eq!(state.previous_delay(), Some(d));
        assert!(d >= secs(1) && d <= secs(30) && d.as_millis() <= prev.as_millis() * 3);
        prev = d;
    }
}

#[test]
fn same_seed_same_decisions() {
    let policy = RetryPolicy::new(RetryConfig {
        max_attempts: 10,
        ..RetryConfig::default()
    })
    .unwrap();
    let run = |seed| {
        let mut rng = Rng::new(seed);
        let mut state = RetryState::new();
        (0..10)
            .map(|i| {
                policy.next(
                    &mut state,
                    &Outcome::status(503),
                    at_secs(i),
                    &mut rng,
                    None,
                    None,
                )
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(run(11), run(11));
    assert_ne!(run(11), run(12));
}

#[test]
fn invalid_configs_are_typed_errors_that_name_the_field() {
    let base = RetryConfig::default();
    let exp = |base_ms, factor, cap_ms| RetryConfig {
        backoff: Backoff::Exponential {
            base: Duration::from_millis(base_ms),
            factor,
            cap: Duration::from_millis(cap_ms),
        },
        ..RetryConfig::default()
    };
    let cases: [(RetryConfig, RetryConfigError, &str); 9] = [
        (
            RetryConfig {
                max_attempts: 0,
                ..base
            },
            RetryConfigError::MaxAttempts { value: 0 },
            "max_attempts is 0",
        ),
        (
            RetryConfig {
                max_attempts: 11,
                ..base
            },
            RetryConfigError::MaxAttempts { value: 11 },
            "between 1 and 10",
        ),
        (
            exp(0, 2.0, 1000),
            RetryConfigError::ZeroDelay {
                field: "backoff.base",
            },
            "backoff.base is 0 ms",
        ),
        (
            exp(1000, 0.5, 30_000),
            RetryConfigError::Factor { value: 0.5 },
            "backoff.factor is 0.5",
        ),
        (
            exp(1000, f64::INFINITY, 30_000),
            RetryConfigError::Factor {
                value: f64::INFINITY,
            },
            "at least 1",
        ),
        (
            exp(2000, 2.0, 1000),
            RetryConfigError::CapBelowBase {
                base: secs(2),
                cap: secs(1),
            },
            "backoff.cap is 1s",
        ),
        (
            RetryConfig {
                backoff: Backoff::Constant {
                    delay: Duration::ZERO,
                },
                ..base
            },
            RetryConfigError::ZeroDelay {
                field: "backoff.delay",
            },
            "backoff.delay",
        ),
        (
            RetryConfig {
                backoff: Backoff::Linear {
                    base: Duration::ZERO,
                    step: secs(1),
                    cap: secs(5),
                },
                ..base
            },
            RetryConfigError::ZeroDelay {
                field: "backoff.base",
            },
            "at least 1 ms",
        ),
        (
            RetryConfig {
                backoff: Backoff::Linear {
                    base: secs(5),
                    step: secs(1),
                    cap: secs(4),
                },
                ..base
            },
            RetryConfigError::CapBelowBase {
                base: secs(5),
                cap: secs(4),
            },
            "at least the base",
        ),
    ];
    for (cfg, err, text) in cases {
        assert_eq!(RetryPolicy::new(cfg), Err(err));
        let msg = err.to_string();
        assert!(msg.contains(text), "{msg:?} should contain {text:?}");
    }
    assert!(matches!(
        RetryPolicy::new(exp(1000, f64::NAN, 30_000)),
        Err(RetryConfigError::Factor { .. })
    ));
    // Edge values that are allowed.
    assert!(
        RetryPolicy::new(RetryConfig {
            max_attempts: 10,
            ..base
        })
        .is_ok()
    );
    assert!(RetryPolicy::new(exp(1, 1.0, 1)).is_ok());
}

#[test]
fn config_deserialises_with_defaults_and_validates() {
    let cfg: RetryConfig = serde_json::from_str(r#"{"max_attempts":5,"jitter":"equal"}"#).unwrap();
    assert_eq!(cfg.max_attempts, 5);
    assert_eq!(cfg.jitter, Jitter::Equal);
    assert_eq!(cfg.backoff, Backoff::default());
    let json = serde_json::to_string(&RetryPolicy::default()).unwrap();
    let back: RetryPolicy = serde_json::from_str(&json).unwrap();
    assert_eq!(back, RetryPolicy::default());
    let bad = json.replace("\"max_attempts\":3", "\"max_attempts\":0");
    let err = serde_json::from_str::<RetryPolicy>(&bad)
        .unwrap_err()
        .to_string();
    assert!(err.contains("max_attempts is 0"), "{err}");
}

#[test]
fn give_up_reasons_read_as_sentences() {
    for r in [
        GiveUpReason::NotAFailure,
        GiveUpReason::NotRetryable,
        GiveUpReason::AttemptsExhausted { attempts: 3 },
        GiveUpReason::DeadlineWouldPass {
            retry_at: at_secs(2),
            deadline: at_secs(1),
        },
        GiveUpReason::BudgetExhausted,
    ] {
        assert!(r.to_string().len() > 20);
    }
    assert_eq!(
        RetryReason::Status(503).to_string(),
        "the server answered HTTP 503"
    );
}

#[test]
fn a_huge_now_saturates_instead_of_panicking() {
    let policy = RetryPolicy::default();
    let mut state = RetryState::new();
    let d = policy.next(
        &mut state,
        &Outcome::status(503),
        Instant::MAX,
        &mut Rng::new(1),
        None,
        None,
    );
    assert!(matches!(
        d,
        RetryDecision::RetryAt {
            at: Instant::MAX,
            ..
        }
    ));
    // And with a deadline, MAX is never before it.
    let mut state = RetryState::new();
    let d = policy.next(
        &mut state,
        &Outcome::status(503),
        Instant::MAX,
        &mut Rng::new(1),
        Some(Instant::MAX),
        None,
    );
    assert!(matches!(
        d,
        RetryDecision::GiveUp(GiveUpReason::DeadlineWouldPass { .. })
    ));
}
