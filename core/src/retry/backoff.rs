//! Backoff schedules and jitter: how long to wait before retry number `n`.
//!
//! A [`Backoff`] gives the *ceiling* delay for each retry (exponential,
//! constant or linear, always capped); a [`Jitter`] then spreads that delay
//! with the caller's [`Rng`] so that many clients that failed together do not
//! retry together. The jitter formulas are the ones from the AWS Architecture
//! Blog post "Exponential Backoff And Jitter" (full, equal, decorrelated).
//!
//! All arithmetic is on whole milliseconds and saturates; the only floating
//! point is the exponential factor, whose IEEE-754 basic operations give the
//! same answer on every target.

use crate::rng::Rng;
use crate::time::Duration;
use core::fmt;
use serde::{Deserialize, Serialize};

/// How the (un-jittered) delay before retry number `n` grows.
///
/// Retry numbers start at 1: retry 1 is the second transmission of a request.
///
/// # Default
///
/// `Exponential { base: 1 s, factor: 2.0, cap: 30 s }` — the Node client's
/// schedule 1 s, 2 s, 4 s, 8 s, 16 s, 30 s, 30 s, ...
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Backoff {
    /// `base * factor^(n-1)`, never more than `cap`.
    Exponential {
        /// Delay before the first retry. Must be at least 1 ms.
        base: Duration,
        /// Growth per retry. Must be finite and at least 1.
        factor: f64,
        /// Largest delay ever returned. Must be at least `base`.
        cap: Duration,
    },
    /// The same delay before every retry.
    Constant {
        /// The delay. Must be at least 1 ms.
        delay: Duration,
    },
    /// `base + step * (n-1)`, never more than `cap`.
    Linear {
        /// Delay before the first retry. Must be at least 1 ms.
        base: Duration,
        /// Added per further retry (may be zero).
        step: Duration,
        /// Largest delay ever returned. Must be at least `base`.
        cap: Duration,
    },
}

impl Default for Backoff {
    fn default() -> Backoff {
        Backoff::Exponential {
            base: Duration::from_secs(1),
            factor: 2.0,
            cap: Duration::from_secs(30),
        }
    }
}

/// `b^e` by repeated squaring (`f64::powi` is not in `core`). Deterministic:
/// only IEEE-754 multiplications.
fn pow_u32(mut b: f64, mut e: u32) -> f64 {
    let mut acc = 1.0;
    while e > 0 {
        if e & 1 == 1 {
            acc *= b;
        }
        b *= b;
        e >>= 1;
    }
    acc
}

impl Backoff {
    /// The delay before the first retry (for `Constant`, the delay itself).
    /// Decorrelated jitter never goes below it.
    #[must_use]
    pub fn base(&self) -> Duration {
        match *self {
            Backoff::Exponential { base, .. } | Backoff::Linear { base, .. } => base,
            Backoff::Constant { delay } => delay,
        }
    }

    /// The largest delay this schedule returns (for `Constant`, the delay).
    #[must_use]
    pub fn cap(&self) -> Duration {
        match *self {
            Backoff::Exponential { cap, .. } | Backoff::Linear { cap, .. } => cap,
            Backoff::Constant { delay } => delay,
        }
    }

    /// The un-jittered delay before retry number `retry` (1-based; 0 is
    /// treated as 1). Never more than [`Backoff::cap`]; never panics, even for
    /// an unvalidated schedule.
    #[must_use]
    pub fn delay(&self, retry: u32) -> Duration {
        let steps = retry.saturating_sub(1);
        match *self {
            Backoff::Exponential { base, factor, cap } => {
                let grown = base.as_millis() as f64 * pow_u32(factor, steps);
                // `as` saturates (inf -> u64::MAX) and maps NaN to 0.
                Duration::from_millis(grown as u64).min(cap)
            }
            Backoff::Constant { delay } => delay,
            Backoff::Linear { base, step, cap } => base
                .saturating_add(step.saturating_mul(u64::from(steps)))
                .min(cap),
        }
    }

    /// The delay before retry number `retry` after applying `jitter`.
    ///
    /// `previous` is the delay returned for the previous retry of the same
    /// request (`None` before the first retry); only
    /// [`Jitter::Decorrelated`] uses it. Draws at most one number from `rng`
    /// (none for [`Jitter::None`]). The result never exceeds [`Backoff::cap`].
    pub fn next_delay(
        &self,
        jitter: Jitter,
        retry: u32,
        previous: Option<Duration>,
        rng: &mut Rng,
    ) -> Duration {
        let cap = self.cap();
        match jitter {
            Jitter::None => self.delay(retry),
            Jitter::Full => {
                let d = self.delay(retry).as_millis();
                Duration::from_millis(rng.range_inclusive(0, d))
            }
            Jitter::Equal => {
                let d = self.delay(retry).as_millis();
                let half = d / 2;
                // half + U[0, d - half]: lands in [d/2, d] even for odd d.
                Duration::from_millis(half.saturating_add(rng.range_inclusive(0, d - half)))
            }
            Jitter::Decorrelated => {
                let base = self.base().min(cap).as_millis();
                let prev = previous.unwrap_or(self.base()).as_millis().max(base);
                let hi = prev.saturating_mul(3);
                Duration::from_millis(rng.range_inclusive(base, hi)).min(cap)
            }
        }
    }
}

/// How the backoff delay is randomised ("Exponential Backoff And Jitter",
/// AWS Architecture Blog). With `d` the schedule's delay for this retry:
///
/// | kind | delay |
/// |---|---|
/// | `None` | `d` |
/// | `Full` | uniform in `[0, d]` |
/// | `Equal` | `d/2` + uniform in `[0, d/2]` |
/// | `Decorrelated` | `min(cap, uniform in [base, 3 * previous])`, `previous` starting at `base` |
///
/// # Default
///
/// `Full`: the Node client used none, which makes clients that failed
/// together retry together (a thundering herd).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Jitter {
    /// Exactly the schedule's delay.
    None,
    /// Uniform between zero and the schedule's delay.
    #[default]
    Full,
    /// Half the schedule's delay plus uniform up to the other half.
    Equal,
    /// Uniform between `base` and three times the previous delay, capped.
    /// Grows on its own; ignores the schedule's shape (only base and cap).
    Decorrelated,
}

impl fmt::Display for Jitter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Jitter::None => "no jitter",
            Jitter::Full => "full jitter",
            Jitter::Equal => "equal jitter",
            Jitter::Decorrelated => "decorrelated jitter",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn default_exponential_is_the_node_clients_schedule() {
        let b = Backoff::default();
        let got: [u64; 7] = core::array::from_fn(|i| b.delay(i as u32 + 1).as_secs());
        assert_eq!(got, [1, 2, 4, 8, 16, 30, 30]);
        assert_eq!(b.delay(0), secs(1));
        assert_eq!(b.delay(u32::MAX), secs(30));
    }

    #[test]
    fn constant_and_linear_schedules() {
        let c = Backoff::Constant { delay: secs(5) };
        assert_eq!(c.delay(1), secs(5));
        assert_eq!(c.delay(9), secs(5));
        let l = Backoff::Linear {
            base: secs(1),
            step: secs(3),
            cap: secs(8),
        };
        assert_eq!(l.delay(1), secs(1));
        assert_eq!(l.delay(2), secs(4));
        assert_eq!(l.delay(3), secs(7));
        assert_eq!(l.delay(4), secs(8));
        assert_eq!(l.delay(u32::MAX), secs(8));
    }

    #[test]
    fn fractional_factor_grows_slowly() {
        let b = Backoff::Exponential {
            base: secs(1),
            factor: 1.5,
            cap: secs(60),
        };
        assert_eq!(b.delay(2), Duration::from_millis(1500));
        assert_eq!(b.delay(3), Duration::from_millis(2250));
    }

    #[test]
    fn unvalidated_nonsense_does_not_panic() {
        let nan = Backoff::Exponential {
            base: secs(1),
            factor: f64::NAN,
            cap: secs(3),
        };
        assert_eq!(nan.delay(3), Duration::ZERO);
        let inf = Backoff::Exponential {
            base: secs(1),
            factor: f64::INFINITY,
            cap: secs(3),
        };
        assert_eq!(inf.delay(2), secs(3));
        let upside_down = Backoff::Linear {
            base: secs(9),
            step: secs(1),
            cap: secs(2),
        };
        let mut rng = Rng::new(1);
        for j in [
            Jitter::None,
            Jitter::Full,
            Jitter::Equal,
            Jitter::Decorrelated,
        ] {
            assert!(upside_down.next_delay(j, 3, Some(Duration::MAX), &mut rng) <= secs(2));
        }
    }

    #[test]
    fn jitter_stays_in_its_bounds() {
        let b = Backoff::default();
        let mut rng = Rng::new(7);
        for retry in 1..=8 {
            let d = b.delay(retry);
            for _ in 0..200 {
                assert_eq!(b.next_delay(Jitter::None, retry, None, &mut rng), d);
                assert!(b.next_delay(Jitter::Full, retry, None, &mut rng) <= d);
                let e = b.next_delay(Jitter::Equal, retry, None, &mut rng);
                assert!(e >= Duration::from_millis(d.as_millis() / 2) && e <= d);
            }
        }
        let mut prev = None;
        for _ in 0..500 {
            let d = b.next_delay(Jitter::Decorrelated, 1, prev, &mut rng);
            assert!(d >= secs(1) && d <= secs(30));
            if let Some(p) = prev {
                assert!(d.as_millis() <= Duration::as_millis(p) * 3);
            }
            prev = Some(d);
        }
    }

    #[test]
    fn full_jitter_uses_the_whole_range() {
        let b = Backoff::Constant {
            delay: Duration::from_millis(1000),
        };
        let mut rng = Rng::new(3);
        let (mut low, mut high) = (false, false);
        for _ in 0..1000 {
            let d = b.next_delay(Jitter::Full, 1, None, &mut rng).as_millis();
            low |= d < 100;
            high |= d > 900;
        }
        assert!(low && high);
    }
}
