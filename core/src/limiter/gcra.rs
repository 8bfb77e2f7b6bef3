//! GCRA, the generic cell rate algorithm: a rate with a burst, kept in one
//! timestamp.
//!
//! The only state is the *theoretical arrival time* (TAT): the instant at
//! which the limiter would be back to idle if nothing else arrived. Each
//! admitted cell pushes the TAT one *emission interval* `T = period / cells`
//! further; a request conforms while the TAT it would leave behind is at most
//! `τ = burst × T` ahead of now. So an idle limiter admits `burst` cells at
//! once, then one every `T`.
//!
//! The arithmetic is integers in *ticks* of one microsecond
//! ([`TICKS_PER_MS`]): exact for rates such as 100 per 60 s (`T` = 600 000
//! ticks), and small enough that a Redis Lua script (whose numbers are
//! doubles, exact up to 2^53 ≈ 285 years of microseconds) can apply the very
//! same formula — see [`gcra_step`]. `T` is rounded *up* when `period / cells`
//! is not a whole number of ticks, so rounding never admits more than the quota.

use super::{InsufficientCapacity, LimiterConfigError, NotUntil};
use crate::time::{Duration, Instant};
use serde::{Deserialize, Serialize};

/// Ticks (the GCRA's internal time unit, one microsecond) per millisecond.
pub const TICKS_PER_MS: u64 = 1000;

/// One GCRA decision as a pure function on integers — the single source of
/// truth for the formula, shared by [`Gcra`] and any external store (a Redis
/// Lua script must compute exactly this).
///
/// All arguments are in the same integer unit (the limiter uses microsecond
/// ticks, [`TICKS_PER_MS`]):
///
/// - `tat`: the stored theoretical arrival time (0 for a fresh limiter);
/// - `now`: the current time;
/// - `emission_interval`: `T = period / cells`, rounded up;
/// - `delay_tolerance`: `τ = burst × T`, how far ahead of `now` the TAT may run;
/// - `n`: the number of cells asked for.
///
/// ```text
/// tat'     = max(tat, now) + n × T
/// allow_at = tat' − τ
/// if allow_at ≤ now:  conform; store tat'          -> Ok(tat')
/// else:               reject;  keep tat unchanged  -> Err(allow_at)
/// ```
///
/// On rejection `allow_at` is the earliest `now` at which the same request
/// conforms (if nothing else is admitted meanwhile). Subtraction saturates at
/// 0; if `n × T` or `tat'` would overflow `u64`, the answer is
/// `Err(u64::MAX)`: "not within representable time".
///
/// ```
/// use novitai_core::limiter::gcra_step;
/// // 100 per 60 s in microseconds: T = 600_000, burst 2 → τ = 1_200_000.
/// let (t, tau) = (600_000, 1_200_000);
/// let tat = gcra_step(0, 5_000_000, t, tau, 1).unwrap();
/// assert_eq!(tat, 5_600_000);
/// let tat = gcra_step(tat, 5_000_000, t, tau, 1).unwrap();
/// assert_eq!(gcra_step(tat, 5_000_000, t, tau, 1), Err(5_600_000));
/// ```
#[must_use = "the new TAT must be stored for the decision to take effect"]
#[inline]
pub const fn gcra_step(
    tat: u64,
    now: u64,
    emission_interval: u64,
    delay_tolerance: u64,
    n: u64,
) -> Result<u64, u64> {
    let base = if tat > now { tat } else { now };
    let Some(increment) = emission_interval.checked_mul(n) else {
        return Err(u64::MAX);
    };
    let Some(new_tat) = base.checked_add(increment) else {
        return Err(u64::MAX);
    };
    let allow_at = new_tat.saturating_sub(delay_tolerance);
    if allow_at <= now {
        Ok(new_tat)
    } else {
        Err(allow_at)
    }
}

/// Milliseconds to ticks, saturating.
#[inline]
const fn to_ticks(t: Instant) -> u64 {
    t.as_millis().saturating_mul(TICKS_PER_MS)
}

/// Ticks to milliseconds, rounded *up* so the instant is never early;
/// `u64::MAX` ticks ("never") maps to [`Instant::MAX`].
#[inline]
const fn to_instant(ticks: u64) -> Instant {
    if ticks == u64::MAX {
        return Instant::MAX;
    }
    let ms = ticks / TICKS_PER_MS;
    if ticks.is_multiple_of(TICKS_PER_MS) {
        Instant::from_millis(ms)
    } else {
        Instant::from_millis(ms + 1)
    }
}

/// The configuration of a [`Gcra`] limiter: `cells` per `period`, with a
/// `burst`.
///
/// # Default
///
/// 100 cells per 60 s with a burst of 100 — the Node client's quota
/// expressed as a rate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct GcraConfig {
    /// Cells admitted per `period` at the steady rate (at least 1).
    pub cells: u64,
    /// The period over which `cells` are admitted (at least 1 ms).
    pub period: Duration,
    /// The most cells admitted at once from idle (at least 1); also the
    /// largest batch [`Gcra::check_n`] can ever admit.
    pub burst: u64,
}

impl Default for GcraConfig {
    fn default() -> GcraConfig {
        GcraConfig::per_period(100, Duration::from_secs(60))
    }
}

impl GcraConfig {
    /// `cells` per `period`, with a burst of `cells` (a whole period's worth).
    #[must_use]
    pub const fn per_period(cells: u64, period: Duration) -> GcraConfig {
        GcraConfig {
            cells,
            period,
            burst: cells,
        }
    }

    /// `cells` per second, burst `cells`.
    #[must_use]
    pub const fn per_second(cells: u64) -> GcraConfig {
        GcraConfig::per_period(cells, Duration::from_secs(1))
    }

    /// `cells` per minute, burst `cells`.
    #[must_use]
    pub const fn per_minute(cells: u64) -> GcraConfig {
        GcraConfig::per_period(cells, Duration::from_secs(60))
    }

    /// The same rate with a different burst.
    #[must_use]
    pub const fn with_burst(self, burst: u64) -> GcraConfig {
        GcraConfig { burst, ..self }
    }

    /// Checks the configuration and returns `(T, τ)` in ticks.
    fn params(&self) -> Result<(u64, u64), LimiterConfigError> {
        if self.cells == 0 {
            return Err(LimiterConfigError::ZeroCells);
        }
        if self.period.is_zero() {
            return Err(LimiterConfigError::ZeroPeriod);
        }
        if self.burst == 0 {
            return Err(LimiterConfigError::ZeroBurst);
        }
        let Some(period) = self.period.as_millis().checked_mul(TICKS_PER_MS) else {
            return Err(LimiterConfigError::PeriodTooLong {
                period: self.period,
            });
        };
        if self.cells > period {
            return Err(LimiterConfigError::RateTooHigh {
                cells: self.cells,
                period: self.period,
            });
        }
        // Round T up: never faster than the quota.
        let t = period.div_ceil(self.cells);
        Ok((t, t.saturating_mul(self.burst)))
    }
}

/// A GCRA rate limiter: `cells` per `period` with a `burst`, one timestamp
/// of state.
///
/// In any span of length `L`, it admits at most `burst + L / T` cells, where
/// `T = period / cells` (rounded up to a microsecond): never more than
/// `cells + burst` in any window of one period. Time going backwards is
/// harmless: an earlier `now` only makes the limiter stricter.
///
/// Serialises as its configuration plus the TAT in ticks; deserialising
/// checks the configuration again.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "GcraState", into = "GcraState")]
pub struct Gcra {
    config: GcraConfig,
    /// `T` in ticks.
    emission_interval: u64,
    /// `τ = burst × T` in ticks.
    delay_tolerance: u64,
    /// The theoretical arrival time in ticks.
    tat: u64,
}

/// The serialised form of a [`Gcra`].
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
struct GcraState {
    config: GcraConfig,
    tat: u64,
}

impl TryFrom<GcraState> for Gcra {
    type Error = LimiterConfigError;
    fn try_from(s: GcraState) -> Result<Gcra, LimiterConfigError> {
        let mut g = Gcra::new(s.config)?;
        g.tat = s.tat;
        Ok(g)
    }
}

impl From<Gcra> for GcraState {
    fn from(g: Gcra) -> GcraState {
        GcraState {
            config: g.config,
            tat: g.tat,
        }
    }
}

impl Gcra {
    /// A fresh (idle) limiter, or the reason `config` cannot work.
    pub fn new(config: GcraConfig) -> Result<Gcra, LimiterConfigError> {
        let (emission_interval, delay_tolerance) = config.params()?;
        Ok(Gcra {
            config,
            emission_interval,
            delay_tolerance,
            tat: 0,
        })
    }

    /// Admits one cell at `now`, or says when it would conform.
    #[inline]
    pub fn check(&mut self, now: Instant) -> Result<(), NotUntil> {
        match gcra_step(
            self.tat,
            to_ticks(now),
            self.emission_interval,
            self.delay_tolerance,
            1,
        ) {
            Ok(tat) => {
                self.tat = tat;
                Ok(())
            }
            Err(at) => Err(NotUntil::new(to_instant(at))),
        }
    }

    /// Admits `n` cells at once (all or none) at `now`.
    ///
    /// The outer `Err` means the batch can *never* conform (`n` exceeds the
    /// burst); the inner `Err` says when it would. `n = 0` always conforms and
    /// changes nothing. Admitting `n` at once leaves the same state as `n`
    /// successive [`check`](Gcra::check)s at the same `now`.
    #[inline]
    pub fn check_n(
        &mut self,
        n: u64,
        now: Instant,
    ) -> Result<Result<(), NotUntil>, InsufficientCapacity> {
        if n > self.config.burst {
            return Err(InsufficientCapacity {
                requested: n,
                capacity: self.config.burst,
            });
        }
        if n == 0 {
            return Ok(Ok(()));
        }
        Ok(
            match gcra_step(
                self.tat,
                to_ticks(now),
                self.emission_interval,
                self.delay_tolerance,
                n,
            ) {
                Ok(tat) => {
                    self.tat = tat;
                    Ok(())
                }
                Err(at) => Err(NotUntil::new(to_instant(at))),
            },
        )
    }

    /// The earliest instant, not before `now`, at which one cell would
    /// conform. Changes nothing.
    #[must_use]
    #[inline]
    pub fn next_free(&self, now: Instant) -> Instant {
        self.earliest_n(1, now)
    }

    /// The earliest instant, not before `now`, at which `n` cells (at most
    /// the burst) would conform. Changes nothing.
    #[must_use]
    #[inline]
    pub(crate) fn earliest_n(&self, n: u64, now: Instant) -> Instant {
        match gcra_step(
            self.tat,
            to_ticks(now),
            self.emission_interval,
            self.delay_tolerance,
            n,
        ) {
            Ok(_) => now,
            Err(at) => to_instant(at).max(now),
        }
    }

    /// `true` when the limiter is back to idle at `now`: it would decide
    /// exactly as a fresh one, so it can be dropped without losing anything.
    #[must_use]
    pub fn is_idle(&self, now: Instant) -> bool {
        self.tat <= to_ticks(now)
    }

    /// The configuration.
    #[must_use]
    pub const fn config(&self) -> GcraConfig {
        self.config
    }

    /// The most cells admitted at once (the burst).
    #[must_use]
    pub const fn burst(&self) -> u64 {
        self.config.burst
    }

    /// `T`, the emission interval, in ticks ([`TICKS_PER_MS`] per ms).
    #[must_use]
    pub const fn emission_interval_ticks(&self) -> u64 {
        self.emission_interval
    }

    /// `τ = burst × T`, the delay tolerance, in ticks.
    #[must_use]
    pub const fn delay_tolerance_ticks(&self) -> u64 {
        self.delay_tolerance
    }

    /// The theoretical arrival time in ticks (0 for a fresh limiter).
    #[must_use]
    pub const fn tat_ticks(&self) -> u64 {
        self.tat
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(v: u64) -> Instant {
        Instant::from_millis(v)
    }

    #[test]
    fn rejects_configs_that_cannot_work() {
        let ok = GcraConfig::per_second(10);
        assert!(Gcra::new(ok).is_ok());
        assert_eq!(
            Gcra::new(GcraConfig { cells: 0, ..ok }),
            Err(LimiterConfigError::ZeroCells)
        );
        assert_eq!(
            Gcra::new(GcraConfig {
                period: Duration::ZERO,
                ..ok
            }),
            Err(LimiterConfigError::ZeroPeriod)
        );
        assert_eq!(
            Gcra::new(ok.with_burst(0)),
            Err(LimiterConfigError::ZeroBurst)
        );
        assert!(matches!(
            Gcra::new(GcraConfig {
                period: Duration::MAX,
                ..ok
            }),
            Err(LimiterConfigError::PeriodTooLong { .. })
        ));
        assert!(matches!(
            Gcra::new(GcraConfig::per_period(1001, Duration::from_millis(1))),
            Err(LimiterConfigError::RateTooHigh { .. })
        ));
        assert!(Gcra::new(GcraConfig::per_period(1000, Duration::from_millis(1))).is_ok());
    }

    #[test]
    fn an_idle_limiter_admits_the_burst_then_one_per_interval() {
        // 100 per 60 s, burst 5: T = 600 ms.
        let mut g = Gcra::new(GcraConfig::per_minute(100).with_burst(5)).unwrap();
        for _ in 0..5 {
            assert_eq!(g.check(ms(1000)), Ok(()));
        }
        assert_eq!(g.check(ms(1000)), Err(NotUntil::new(ms(1600))));
        assert_eq!(g.check(ms(1599)), Err(NotUntil::new(ms(1600))));
        assert_eq!(g.check(ms(1600)), Ok(()));
        assert_eq!(g.check(ms(1600)), Err(NotUntil::new(ms(2200))));
    }

    #[test]
    fn sub_millisecond_intervals_round_the_answer_up() {
        // 3 per second: T = 333 334 µs (rounded up).
        let mut g = Gcra::new(GcraConfig::per_second(3).with_burst(1)).unwrap();
        assert_eq!(g.emission_interval_ticks(), 333_334);
        assert_eq!(g.check(ms(0)), Ok(()));
        let no = g.check(ms(0)).unwrap_err();
        assert_eq!(no.earliest(), ms(334));
        assert_eq!(g.check(ms(333)), Err(no));
        assert_eq!(g.check(no.earliest()), Ok(()));
    }

    #[test]
    fn check_n_is_all_or_nothing_and_knows_what_never_fits() {
        let mut g = Gcra::new(GcraConfig::per_second(10).with_burst(4)).unwrap();
        assert_eq!(
            g.check_n(5, ms(0)),
            Err(InsufficientCapacity {
                requested: 5,
                capacity: 4
            })
        );
        assert_eq!(g.check_n(3, ms(0)), Ok(Ok(())));
        // One cell left; two do not fit until one more interval (100 ms).
        assert_eq!(g.check_n(2, ms(0)), Ok(Err(NotUntil::new(ms(100)))));
        assert_eq!(g.check_n(0, ms(0)), Ok(Ok(())));
        assert_eq!(g.check_n(2, ms(100)), Ok(Ok(())));
    }

    #[test]
    fn next_free_agrees_with_check_and_changes_nothing() {
        let mut g = Gcra::new(GcraConfig::per_second(2).with_burst(1)).unwrap();
        assert_eq!(g.next_free(ms(10)), ms(10));
        g.check(ms(10)).unwrap();
        let before = g;
        assert_eq!(g.next_free(ms(10)), ms(510));
        assert_eq!(g, before);
        assert_eq!(g.next_free(ms(700)), ms(700));
    }

    #[test]
    fn time_going_backwards_only_makes_it_stricter() {
        let mut g = Gcra::new(GcraConfig::per_second(1).with_burst(1)).unwrap();
        g.check(ms(10_000)).unwrap();
        let no = g.check(ms(5_000)).unwrap_err();
        assert_eq!(no.earliest(), ms(11_000));
    }

    #[test]
    fn the_far_future_never_over_admits() {
        let mut g = Gcra::new(GcraConfig::per_second(1).with_burst(1)).unwrap();
        assert_eq!(g.check(Instant::MAX), Err(NotUntil::new(Instant::MAX)));
        let near = Instant::from_millis(u64::MAX / TICKS_PER_MS - 2000);
        assert_eq!(g.check(near), Ok(()));
        assert!(g.check(near).is_err());
    }

    #[test]
    fn idle_means_indistinguishable_from_fresh() {
        let mut g = Gcra::new(GcraConfig::per_second(10).with_burst(2)).unwrap();
        assert!(g.is_idle(ms(0)));
        g.check(ms(0)).unwrap();
        assert!(!g.is_idle(ms(99)));
        assert!(g.is_idle(ms(100)));
    }

    #[test]
    fn state_round_trips_through_serde_and_is_revalidated() {
        let mut g = Gcra::new(GcraConfig::per_minute(100)).unwrap();
        g.check(ms(42)).unwrap();
        let json = serde_json::to_string(&g).unwrap();
        let back: Gcra = serde_json::from_str(&json).unwrap();
        assert_eq!(back, g);
        let bad = json.replace("\"burst\":100", "\"burst\":0");
        assert!(serde_json::from_str::<Gcra>(&bad).is_err());
    }
}
