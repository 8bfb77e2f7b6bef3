//! Properties of the rate limiters, over random configurations and random
//! arrival sequences (all time is virtual).

use novitai_core::limiter::{
    ConcurrencyLimiter, Gcra, GcraConfig, KeyedConfig, KeyedLimiter, NotUntil, RateLimitConfig,
    RateLimiter, SlidingWindow, TICKS_PER_MS, WindowConfig, gcra_step,
};
use novitai_core::{Duration, Instant};
use proptest::prelude::*;

fn ms(v: u64) -> Instant {
    Instant::from_millis(v)
}

/// A small GCRA configuration (so windows fill up).
fn gcra_config() -> impl Strategy<Value = GcraConfig> {
    (1u64..=20, 1u64..=5_000, 1u64..=20).prop_map(|(cells, period, burst)| GcraConfig {
        cells,
        period: Duration::from_millis(period),
        burst,
    })
}

/// A small sliding-window configuration.
fn window_config() -> impl Strategy<Value = WindowConfig> {
    (1u32..=20, 1u64..=5_000).prop_map(|(max, window)| WindowConfig {
        max,
        window: Duration::from_millis(window),
    })
}

fn any_mode() -> impl Strategy<Value = RateLimitConfig> {
    prop_oneof![
        gcra_config().prop_map(RateLimitConfig::Gcra),
        window_config().prop_map(RateLimitConfig::SlidingWindow),
    ]
}

/// Monotonic arrival times built from gaps.
fn arrivals(max_gap: u64, len: usize) -> impl Strategy<Value = Vec<u64>> {
    prop::collection::vec(0..=max_gap, 1..=len).prop_map(|gaps| {
        let mut t = 1_000u64;
        gaps.into_iter()
            .map(|g| {
                t += g;
                t
            })
            .collect()
    })
}

/// The most cells admitted within any closed window `[a, a + len]` that
/// starts at an admission.
fn max_in_closed_window(admitted: &[(u64, u64)], len: u64) -> u64 {
    admitted
        .iter()
        .map(|&(start, _)| {
            admitted
                .iter()
                .filter(|&&(t, _)| t >= start && t <= start.saturating_add(len))
                .map(|&(_, n)| n)
                .sum::<u64>()
        })
        .max()
        .unwrap_or(0)
}

/// An operation on a [`RateLimiter`].
#[derive(Clone, Debug)]
enum Op {
    Check(u64),
    CheckN(u64, u64),
    PushBack(u64),
    NextFree(u64),
}

fn ops(max_time: u64) -> impl Strategy<Value = Vec<Op>> {
    prop::collection::vec(
        prop_oneof![
            6 => (0..=max_time).prop_map(Op::Check),
            2 => (0u64..=25, 0..=max_time).prop_map(|(n, t)| Op::CheckN(n, t)),
            1 => (0..=max_time).prop_map(Op::PushBack),
            1 => (0..=max_time).prop_map(Op::NextFree),
        ],
        0..200,
    )
}

/// Applies `ops`, returning every decision as a comparable string.
fn run(limiter: &mut RateLimiter, ops: &[Op]) -> Vec<String> {
    ops.iter()
        .map(|op| match *op {
            Op::Check(t) => format!("{:?}", limiter.check(ms(t))),
            Op::CheckN(n, t) => format!("{:?}", limiter.check_n(n, ms(t))),
            Op::PushBack(t) => {
                limiter.push_back(ms(t));
                String::from("held")
            }
            Op::NextFree(t) => format!("{:?}", limiter.next_free(ms(t))),
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// GCRA never admits more than `burst + period / T` (≤ cells + burst) cells
    /// in any window of one period, for checks and batches alike.
    #[test]
    fn gcra_never_admits_more_than_rate_times_window_plus_burst(
        config in gcra_config(),
        times in arrivals(400, 300),
        batch in prop::collection::vec(0u64..=4, 300),
    ) {
        let mut g = Gcra::new(config).unwrap();
        let mut admitted = Vec::new();
        for (i, &t) in times.iter().enumerate() {
            let n = batch[i];
            let ok = if n == 1 {
                g.check(ms(t)).is_ok()
            } else {
                matches!(g.check_n(n, ms(t)), Ok(Ok(())))
            };
            if ok && n > 0 {
                admitted.push((t, n));
            }
        }
        let period = config.period.as_millis();
        let tight = config.burst + period * TICKS_PER_MS / g.emission_interval_ticks();
        let seen = max_in_closed_window(&admitted, period);
        prop_assert!(seen <= tight, "{seen} admitted in one period, bound {tight}");
        prop_assert!(seen <= config.cells + config.burst);
    }

    /// The bound holds even when time goes backwards (an earlier `now` only
    /// makes GCRA stricter).
    #[test]
    fn gcra_bound_holds_with_time_going_backwards(
        config in gcra_config(),
        times in prop::collection::vec(0u64..20_000, 1..300),
    ) {
        let mut g = Gcra::new(config).unwrap();
        let admitted: Vec<(u64, u64)> = times
            .iter()
            .filter(|&&t| g.check(ms(t)).is_ok())
            .map(|&t| (t, 1))
            .collect();
        let seen = max_in_closed_window(&admitted, config.period.as_millis());
        prop_assert!(seen <= config.cells + config.burst);
    }

    /// The sliding window never admits more than `max` in any window of its
    /// length (`[t, t + window)`, a request occupying it until `t + window`).
    #[test]
    fn sliding_window_never_admits_more_than_max_in_any_window(
        config in window_config(),
        times in arrivals(300, 300),
        batch in prop::collection::vec(0u64..=3, 300),
    ) {
        let mut w = SlidingWindow::new(config).unwrap();
        let mut admitted = Vec::new();
        for (i, &t) in times.iter().enumerate() {
            let n = batch[i];
            let ok = if n == 1 {
                w.check(ms(t)).is_ok()
            } else {
                matches!(w.check_n(n, ms(t)), Ok(Ok(())))
            };
            if ok && n > 0 {
                admitted.push((t, n));
            }
        }
        // Half-open window: a closed window of length window - 1 ms.
        let seen = max_in_closed_window(&admitted, config.window.as_millis() - 1);
        prop_assert!(seen <= u64::from(config.max), "{seen} admitted, max {}", config.max);
        prop_assert!(w.logged() <= config.max as usize);
    }

    /// With time going backwards, the window counts on its own clock (the
    /// latest `now` seen): still never more than `max` per window.
    #[test]
    fn sliding_window_bound_holds_on_its_clock_with_time_going_backwards(
        config in window_config(),
        times in prop::collection::vec(0u64..20_000, 1..300),
    ) {
        let mut w = SlidingWindow::new(config).unwrap();
        let mut clock = 0u64;
        let mut admitted = Vec::new();
        for &t in &times {
            clock = clock.max(t);
            if w.check(ms(t)).is_ok() {
                admitted.push((clock, 1));
            }
        }
        let seen = max_in_closed_window(&admitted, config.window.as_millis() - 1);
        prop_assert!(seen <= u64::from(config.max));
    }

    /// `check_n(n)` admits exactly when `n` successive `check`s at the same
    /// instant would all be admitted, and then leaves the same state;
    /// `check_n(1)` is `check`; a rejected batch fits at its `earliest`.
    #[test]
    fn check_n_is_consistent_with_check(
        config in any_mode(),
        warmup in ops(30_000),
        n in 0u64..=25,
        t in 0u64..=40_000,
    ) {
        let mut base = RateLimiter::new(config).unwrap();
        let _ = run(&mut base, &warmup);

        let mut single = base.clone();
        let mut one = base.clone();
        prop_assert_eq!(single.check(ms(t)), one.check_n(1, ms(t)).unwrap());
        prop_assert_eq!(&single, &one);

        let mut batch = base.clone();
        match batch.check_n(n, ms(t)) {
            Err(e) => prop_assert!(n > base.capacity() && e.capacity == base.capacity()),
            Ok(Ok(())) => {
                let mut seq = base.clone();
                for _ in 0..n {
                    prop_assert_eq!(seq.check(ms(t)), Ok(()));
                }
                prop_assert_eq!(&seq, &batch);
            }
            Ok(Err(NotUntil { earliest })) => {
                prop_assert!(earliest > ms(t));
                let mut seq = base.clone();
                let all = (0..n).all(|_| seq.check(ms(t)).is_ok());
                prop_assert!(!all, "batch refused but {n} single checks passed");
                if earliest != Instant::MAX {
                    prop_assert_eq!(batch.check_n(n, earliest), Ok(Ok(())));
                }
            }
        }
    }

    /// Same configuration, same inputs, same decisions and same state.
    #[test]
    fn identical_sequences_give_identical_decisions(config in any_mode(), ops in ops(50_000)) {
        let mut a = RateLimiter::new(config).unwrap();
        let mut b = RateLimiter::new(config).unwrap();
        prop_assert_eq!(run(&mut a, &ops), run(&mut b, &ops));
        prop_assert_eq!(a, b);
    }

    /// A "no" is truthful: `earliest` is after `now`, and the request is
    /// admitted at `earliest` if nothing else happens; `next_free` agrees.
    #[test]
    fn not_until_is_truthful(config in any_mode(), warmup in ops(30_000), t in 0u64..=40_000) {
        let mut l = RateLimiter::new(config).unwrap();
        let _ = run(&mut l, &warmup);
        let free = l.next_free(ms(t));
        prop_assert!(free >= ms(t));
        let mut probe = l.clone();
        match probe.check(ms(t)) {
            Ok(()) => prop_assert_eq!(free, ms(t)),
            Err(no) => {
                prop_assert!(no.earliest() > ms(t));
                prop_assert_eq!(no.earliest(), free);
                prop_assert_eq!(l.clone().check(no.earliest()), Ok(()));
            }
        }
    }

    /// No accepted configuration and no sequence of instants (any `u64`,
    /// backwards included) makes any limiter panic; state survives serde.
    #[test]
    fn nothing_panics_for_any_accepted_config_and_any_times(
        cells in prop_oneof![1u64..=1_000, any::<u64>()],
        period in prop_oneof![1u64..=10_000_000, any::<u64>()],
        burst in prop_oneof![1u64..=1_000, any::<u64>()],
        max in any::<u32>(),
        window in any::<u64>(),
        use_gcra in any::<bool>(),
        ops in prop::collection::vec(
            prop_oneof![
                any::<u64>().prop_map(Op::Check),
                (any::<u64>(), any::<u64>()).prop_map(|(n, t)| Op::CheckN(n, t)),
                any::<u64>().prop_map(Op::PushBack),
                any::<u64>().prop_map(Op::NextFree),
            ],
            0..100,
        ),
    ) {
        let config = if use_gcra {
            RateLimitConfig::Gcra(GcraConfig { cells, period: Duration::from_millis(period), burst })
        } else {
            RateLimitConfig::SlidingWindow(WindowConfig {
                max: max % 2_000,
                window: Duration::from_millis(window),
            })
        };
        let Ok(mut l) = RateLimiter::new(config) else {
            // Refused configs are covered by the unit tests; the small ranges
            // above make most configs accepted.
            return Ok(());
        };
        for op in &ops {
            let _ = run(&mut l, core::slice::from_ref(op));
            if let Op::Check(t) = *op {
                let _ = l.is_idle(ms(t));
            }
        }
        let json = serde_json::to_string(&l).unwrap();
        let back: RateLimiter = serde_json::from_str(&json).unwrap();
        prop_assert_eq!(back, l);
    }

    /// `gcra_step` and the limiter agree (the formula a Redis script copies).
    #[test]
    fn gcra_step_is_the_limiter(config in gcra_config(), times in prop::collection::vec(0u64..50_000, 1..100)) {
        let mut g = Gcra::new(config).unwrap();
        let (t_i, tau) = (g.emission_interval_ticks(), g.delay_tolerance_ticks());
        let mut tat = 0u64;
        for &t in &times {
            let pure = gcra_step(tat, t * TICKS_PER_MS, t_i, tau, 1);
            let real = g.check(ms(t));
            prop_assert_eq!(pure.is_ok(), real.is_ok());
            if let Ok(new) = pure {
                tat = new;
            }
            prop_assert_eq!(tat, g.tat_ticks());
        }
    }

    /// However many distinct keys arrive, the keyed limiter stores at most
    /// `max_keys`.
    #[test]
    fn keyed_memory_is_bounded(
        max_keys in 1usize..=32,
        mode in any_mode(),
        arrivals in prop::collection::vec((0u32..1_000, 0u64..100_000), 0..400),
    ) {
        let mut k = KeyedLimiter::new(KeyedConfig {
            limit: mode,
            max_keys,
            max_idle: Duration::from_secs(60),
        })
        .unwrap();
        for (key, t) in arrivals {
            let _ = k.check(&key, ms(t));
            prop_assert!(k.len() <= max_keys);
        }
    }

    /// The concurrency limiter never has more than `max` in flight.
    #[test]
    fn concurrency_never_exceeds_max(max in 1u32..=16, acquire in prop::collection::vec(any::<bool>(), 0..300)) {
        let mut c = ConcurrencyLimiter::new(max).unwrap();
        let mut held = Vec::new();
        for a in acquire {
            if a {
                match c.try_acquire() {
                    Ok(p) => held.push(p),
                    Err(e) => prop_assert_eq!(held.len() as u32, e.max),
                }
            } else if let Some(p) = held.pop() {
                c.release(p);
            }
            prop_assert_eq!(c.in_flight() as usize, held.len());
            prop_assert!(c.in_flight() <= max);
        }
    }
}
