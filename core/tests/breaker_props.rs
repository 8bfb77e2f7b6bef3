//! Properties of the circuit breaker over random op sequences in virtual time.

use novitai_core::breaker::{
    BreakerConfig, CircuitBreaker, OpenDuration, Permit, Rejected, SlowCalls, State, Window,
};
use novitai_core::{Duration, Instant};
use proptest::prelude::*;

#[derive(Clone, Debug)]
enum Op {
    /// Let `ms` pass, then ask for a permit.
    Acquire(u64),
    /// Let `ms` pass, then report held permit `idx % held` as success / failure / ignored.
    Success(u64, usize),
    Failure(u64, usize),
    Ignore(usize),
    /// Jump to the instant `poll_timeout` names (if any), then look at the state.
    WakeAtTimeout,
    /// Pass a `now` that lies `ms` in the past (must count as no time passing).
    Backwards(u64),
    ForceOpen,
    Disable,
    Reset,
    /// Adopt a trip seen elsewhere that holds until `ms` after now.
    Adopt(u64),
}

fn op() -> impl Strategy<Value = Op> {
    let dt = prop_oneof![Just(0u64), 0..2_000u64, 0..120_000u64];
    prop_oneof![
        6 => dt.clone().prop_map(Op::Acquire),
        4 => (dt.clone(), any::<usize>()).prop_map(|(d, i)| Op::Success(d, i)),
        4 => (dt, any::<usize>()).prop_map(|(d, i)| Op::Failure(d, i)),
        1 => any::<usize>().prop_map(Op::Ignore),
        2 => Just(Op::WakeAtTimeout),
        1 => (0..50_000u64).prop_map(Op::Backwards),
        1 => Just(Op::ForceOpen),
        1 => Just(Op::Disable),
        1 => Just(Op::Reset),
        2 => prop_oneof![Just(0u64), 0..120_000u64].prop_map(Op::Adopt),
    ]
}

/// Mostly-valid configs, with edges (and some out-of-range values the
/// constructor must refuse).
fn config() -> impl Strategy<Value = BreakerConfig> {
    let window = prop_oneof![
        (0..40u32).prop_map(Window::Count),
        (0..40u32).prop_map(Window::Seconds)
    ];
    let open = prop_oneof![
        (0..90_000u64).prop_map(|ms| OpenDuration::Fixed(Duration::from_millis(ms))),
        (0..30_000u64, 0.5..4.0f64, 0..200_000u64).prop_map(|(i, factor, m)| {
            OpenDuration::Exponential {
                initial: Duration::from_millis(i),
                factor,
                max: Duration::from_millis(m),
            }
        }),
    ];
    let slow = proptest::option::of((0..5_000u64, 0.0..1.2f64).prop_map(|(d, rate)| SlowCalls {
        duration: Duration::from_millis(d),
        rate,
    }));
    (
        proptest::option::of(0..8u32),
        proptest::option::of(0.0..1.1f64),
        slow,
        window,
        0..40u32,
        open,
        0..6u32,
        0..6u32,
        0..60_000u64,
    )
        .prop_map(
            |(consecutive, rate, slow, window, min, open, probes, successes, wait)| BreakerConfig {
                consecutive_failures: consecutive,
                failure_rate: rate,
                slow_calls: slow,
                window,
                minimum_calls: min,
                open_duration: open,
                half_open_probes: probes,
                half_open_successes: successes,
                probe_max_wait: Duration::from_millis(wait),
            },
        )
}

/// A permit we hold, tagged with the half-open episode it was granted in.
struct Held {
    permit: Permit,
    episode: Option<u64>,
}

/// An independent model built only from the transitions the breaker reports.
#[derive(Default)]
struct Model {
    /// Half-open periods seen so far.
    episode: u64,
    in_half_open: bool,
    /// While open: until when the breaker told us it would refuse.
    refused_until: Option<Instant>,
}

impl Model {
    fn follow(
        &mut self,
        b: &mut CircuitBreaker,
        now: Instant,
        decisions: &mut Vec<String>,
    ) -> Result<(), TestCaseError> {
        while let Some(t) = b.poll_transition() {
            prop_assert!(t.at <= now, "transition dated in the future");
            // A change to open says until when; no other change does.
            prop_assert_eq!(t.to == State::Open, t.open_until.is_some(), "{:?}", t);
            prop_assert!(t.open_until.is_none_or(|u| u >= t.at), "{:?}", t);
            if t.to == State::HalfOpen {
                self.episode += 1;
            }
            self.in_half_open = t.to == State::HalfOpen;
            self.refused_until = None;
            decisions.push(format!("{t:?}"));
        }
        Ok(())
    }
}

/// Runs `ops`, checking the invariants after every step, and returns the
/// decisions made (for the determinism property).
fn run(config: BreakerConfig, ops: &[Op]) -> Result<Vec<String>, TestCaseError> {
    let Ok(mut b) = CircuitBreaker::new(config) else {
        return Ok(Vec::new());
    };
    let max_probes = config.half_open_probes as usize;
    let mut now = Instant::from_millis(1_000);
    let mut held: Vec<Held> = Vec::new();
    let mut decisions = Vec::new();
    let mut model = Model::default();

    for op in ops {
        match *op {
            Op::Acquire(d) => {
                now += Duration::from_millis(d);
                let state = b.state(now);
                model.follow(&mut b, now, &mut decisions)?;
                let open_until = b.open_until();
                let r = b.try_acquire(now);
                match state {
                    State::Open => {
                        let until = open_until.unwrap_or(Instant::ZERO);
                        prop_assert!(now < until, "open past its end");
                        prop_assert_eq!(&r, &Err(Rejected::Open { until }));
                    }
                    State::ForcedOpen => prop_assert_eq!(&r, &Err(Rejected::ForcedOpen)),
                    State::Closed | State::Disabled => prop_assert!(r.is_ok()),
                    State::HalfOpen => {}
                }
                if let Some(u) = model.refused_until
                    && now < u
                {
                    prop_assert!(r.is_err(), "granted a permit at {now} while open until {u}");
                }
                decisions.push(format!("{now} {r:?}"));
                if let Ok(permit) = r {
                    let episode = permit.is_probe().then_some(model.episode);
                    held.push(Held { permit, episode });
                }
            }
            Op::Success(d, i) | Op::Failure(d, i) if !held.is_empty() => {
                now += Duration::from_millis(d);
                let h = held.swap_remove(i % held.len());
                if matches!(op, Op::Success(..)) {
                    b.on_success(h.permit, now);
                } else {
                    b.on_failure(h.permit, now);
                }
            }
            Op::Ignore(i) if !held.is_empty() => {
                let h = held.swap_remove(i % held.len());
                b.on_ignored(h.permit);
            }
            Op::WakeAtTimeout => {
                if let Some(t) = b.poll_timeout() {
                    prop_assert!(t > now, "poll_timeout {t} is already overdue at {now}");
                    now = now.max(t);
                }
                let was = b.state(now);
                decisions.push(format!("{now} wake {was:?}"));
            }
            Op::Backwards(d) => {
                let _ = b.state(now);
                model.follow(&mut b, now, &mut decisions)?;
                let before = b.clone();
                let mut after = b.clone();
                let _ = after.state(now - Duration::from_millis(d));
                prop_assert_eq!(&before, &after, "an earlier now changed the state");
            }
            Op::Adopt(ahead) => {
                let before = b.state(now);
                model.follow(&mut b, now, &mut decisions)?;
                let prev_until = b.open_until();
                let until = now + Duration::from_millis(ahead);
                let changed = b.trip_until(until, now);
                let after = b.state(now);
                match before {
                    State::ForcedOpen | State::Disabled => {
                        prop_assert!(!changed);
                        prop_assert_eq!(after, before, "a held breaker adopted a trip");
                    }
                    _ if until <= now => prop_assert!(!changed),
                    _ => {
                        // Open until the later of the two: never shortened.
                        let want = match (before, prev_until) {
                            (State::Open, Some(p)) => p.max(until),
                            _ => until,
                        };
                        prop_assert_eq!(after, State::Open);
                        prop_assert_eq!(b.open_until(), Some(want));
                        prop_assert_eq!(changed, Some(want) != prev_until || before != State::Open);
                    }
                }
                // An adopted change says so; it is never an own trip.
                let mut peek = b.clone();
                while let Some(t) = peek.poll_transition() {
                    if changed {
                        prop_assert!(t.adopted && t.own_trip().is_none());
                        prop_assert_eq!(t.open_until, b.open_until());
                    }
                }
                decisions.push(format!("{now} adopt {until} {changed}"));
            }
            Op::ForceOpen => b.force_open(now),
            Op::Disable => b.disable(now),
            Op::Reset => b.reset(now),
            _ => {}
        }

        model.follow(&mut b, now, &mut decisions)?;
        let state = b.state(now);
        model.follow(&mut b, now, &mut decisions)?;
        if state == State::Open {
            let until = b.open_until().unwrap_or(Instant::ZERO);
            prop_assert!(until > now);
            model.refused_until = Some(until);
            // Once the open time has passed, it lets a probe through.
            let mut probe = b.clone();
            prop_assert_eq!(probe.state(until), State::HalfOpen);
            prop_assert!(probe.try_acquire(until).is_ok_and(|p| p.is_probe()));
        }
        prop_assert_eq!(model.in_half_open, state == State::HalfOpen);

        // Half-open never has more than N probes out.
        let m = b.metrics(now);
        prop_assert!(m.probes_in_flight as usize <= max_probes);
        if state == State::HalfOpen {
            let ours = held
                .iter()
                .filter(|h| h.episode == Some(model.episode))
                .count();
            prop_assert!(ours <= max_probes, "{ours} probes out, limit {max_probes}");
            prop_assert!(ours >= m.probes_in_flight as usize);
        } else {
            prop_assert_eq!(m.probes_in_flight, 0);
        }
        // Nothing time-driven is overdue.
        if let Some(t) = b.poll_timeout() {
            prop_assert!(t > now);
        }
        prop_assert!(m.failure_rate.is_finite() && (0.0..=1.0).contains(&m.failure_rate));
    }
    decisions.push(serde_json::to_string(&b).map_err(|e| TestCaseError::fail(e.to_string()))?);
    Ok(decisions)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// Never a permit while open, a probe once the open time has passed, never
    /// more than N probes out, nothing overdue, and no panic for any config the
    /// constructor accepts.
    #[test]
    fn invariants_hold_for_any_accepted_config(config in config(), ops in prop::collection::vec(op(), 0..200)) {
        run(config, &ops)?;
    }

    /// Same ops, same decisions, same final state.
    #[test]
    fn identical_op_sequences_give_identical_decisions(config in config(), ops in prop::collection::vec(op(), 0..120)) {
        let a = run(config, &ops)?;
        let b = run(config, &ops)?;
        prop_assert_eq!(a, b);
    }

    /// A serialised breaker, restored, makes the same decisions from there on.
    #[test]
    fn a_restored_snapshot_decides_like_the_original(
        ops in prop::collection::vec(0..120_000u64, 0..60),
        outcomes in prop::collection::vec(any::<bool>(), 60),
    ) {
        let mut a = CircuitBreaker::new(BreakerConfig::default()).unwrap();
        let mut now = Instant::ZERO;
        for (d, ok) in ops.iter().zip(&outcomes) {
            now += Duration::from_millis(*d);
            let json = serde_json::to_string(&a).unwrap();
            let mut b: CircuitBreaker = serde_json::from_str(&json).unwrap();
            prop_assert_eq!(&a, &b);
            let (ra, rb) = (a.try_acquire(now), b.try_acquire(now));
            prop_assert_eq!(format!("{ra:?}"), format!("{rb:?}"));
            if let (Ok(pa), Ok(pb)) = (ra, rb) {
                if *ok { a.on_success(pa, now); b.on_success(pb, now); }
                else { a.on_failure(pa, now); b.on_failure(pb, now); }
            }
            prop_assert_eq!(&a, &b);
        }
    }
}

#[test]
fn default_config_is_accepted() {
    assert!(CircuitBreaker::new(BreakerConfig::default()).is_ok());
}
