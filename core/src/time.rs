//! Time as plain numbers: the caller owns the clock.
//!
//! Every machine in this crate takes "now" as an argument. [`Instant`] is a
//! monotonic point in milliseconds on an epoch the caller picks (process start,
//! `performance.now()`, a simulation's virtual zero — anything monotonic), and
//! [`Duration`] is a span of milliseconds. All arithmetic saturates: nothing here
//! overflows or panics, whatever numbers arrive.
//!
//! Time going backwards (a caller passing an earlier `now` than before) is treated
//! as "no time passed": [`Instant::saturating_duration_since`] returns
//! [`Duration::ZERO`] rather than a negative span, and the machines keep their
//! state as it was.
//!
//! [`UnixTime`] is wall-clock seconds since 1970, used only where a protocol needs
//! it (webhook timestamps, HTTP dates). It is also passed in, never read.

use core::fmt;
use core::ops::{Add, AddAssign, Sub};
use serde::{Deserialize, Serialize};

/// A span of time in whole milliseconds. Arithmetic saturates at `0` and
/// [`Duration::MAX`].
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Duration(u64);

impl Duration {
    /// No time at all.
    pub const ZERO: Duration = Duration(0);
    /// The longest representable span (about 584 million years).
    pub const MAX: Duration = Duration(u64::MAX);

    /// A span of `ms` milliseconds.
    #[must_use]
    pub const fn from_millis(ms: u64) -> Duration {
        Duration(ms)
    }

    /// A span of `secs` seconds, saturating at [`Duration::MAX`].
    #[must_use]
    pub const fn from_secs(secs: u64) -> Duration {
        Duration(secs.saturating_mul(1000))
    }

    /// A span of `mins` minutes, saturating at [`Duration::MAX`].
    #[must_use]
    pub const fn from_mins(mins: u64) -> Duration {
        Duration(mins.saturating_mul(60_000))
    }

    /// The span in whole milliseconds.
    #[must_use]
    pub const fn as_millis(self) -> u64 {
        self.0
    }

    /// The span in whole seconds, rounded down.
    #[must_use]
    pub const fn as_secs(self) -> u64 {
        self.0 / 1000
    }

    /// The span in seconds as a float (for display and for rate arithmetic).
    #[must_use]
    pub fn as_secs_f64(self) -> f64 {
        self.0 as f64 / 1000.0
    }

    /// `true` when the span is zero.
    #[must_use]
    pub const fn is_zero(self) -> bool {
        self.0 == 0
    }

    /// `self + rhs`, saturating at [`Duration::MAX`].
    #[must_use]
    pub const fn saturating_add(self, rhs: Duration) -> Duration {
        Duration(self.0.saturating_add(rhs.0))
    }

    /// `self - rhs`, saturating at [`Duration::ZERO`].
    #[must_use]
    pub const fn saturating_sub(self, rhs: Duration) -> Duration {
        Duration(self.0.saturating_sub(rhs.0))
    }

    /// `self * n`, saturating at [`Duration::MAX`].
    #[must_use]
    pub const fn saturating_mul(self, n: u64) -> Duration {
        Duration(self.0.saturating_mul(n))
    }

    /// `self * factor` for a non-negative finite factor, rounded down and
    /// saturating; a negative or NaN factor gives [`Duration::ZERO`].
    #[must_use]
    pub fn mul_f64(self, factor: f64) -> Duration {
        let v = self.0 as f64 * factor;
        // `as` from f64 to u64 saturates and maps NaN to 0 — exactly what we want.
        Duration(v as u64)
    }

    /// The smaller of two spans.
    #[must_use]
    pub fn min(self, other: Duration) -> Duration {
        if self <= other { self } else { other }
    }

    /// The larger of two spans.
    #[must_use]
    pub fn max(self, other: Duration) -> Duration {
        if self >= other { self } else { other }
    }
}

impl Add for Duration {
    type Output = Duration;
    fn add(self, rhs: Duration) -> Duration {
        self.saturating_add(rhs)
    }
}

impl AddAssign for Duration {
    fn add_assign(&mut self, rhs: Duration) {
        *self = self.saturating_add(rhs);
    }
}

impl Sub for Duration {
    type Output = Duration;
    fn sub(self, rhs: Duration) -> Duration {
        self.saturating_sub(rhs)
    }
}

impl From<core::time::Duration> for Duration {
    /// Converts, rounding down to whole milliseconds and saturating.
    fn from(d: core::time::Duration) -> Duration {
        Duration(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }
}

impl From<Duration> for core::time::Duration {
    fn from(d: Duration) -> core::time::Duration {
        core::time::Duration::from_millis(d.0)
    }
}

impl fmt::Display for Duration {
    /// Human form: `250ms`, `1.5s`, `2m30s`, `3h05m`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.0;
        if ms < 1000 {
            write!(f, "{ms}ms")
        } else if ms < 60_000 {
            if ms.is_multiple_of(1000) {
                write!(f, "{}s", ms / 1000)
            } else {
                write!(f, "{}.{}s", ms / 1000, (ms % 1000) / 100)
            }
        } else if ms < 3_600_000 {
            let s = ms / 1000;
            if s.is_multiple_of(60) {
                write!(f, "{}m", s / 60)
            } else {
                write!(f, "{}m{:02}s", s / 60, s % 60)
            }
        } else {
            let m = ms / 60_000;
            write!(f, "{}h{:02}m", m / 60, m % 60)
        }
    }
}

/// A monotonic point in time: milliseconds since an epoch the caller chooses.
///
/// Only differences between instants on the same epoch mean anything.
/// Adding a [`Duration`] saturates at `u64::MAX` milliseconds.
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Instant(u64);

impl Instant {
    /// The epoch itself.
    pub const ZERO: Instant = Instant(0);
    /// The far future: later than any instant a caller can reach.
    pub const MAX: Instant = Instant(u64::MAX);

    /// The instant `ms` milliseconds after the epoch.
    #[must_use]
    pub const fn from_millis(ms: u64) -> Instant {
        Instant(ms)
    }

    /// Milliseconds since the epoch.
    #[must_use]
    pub const fn as_millis(self) -> u64 {
        self.0
    }

    /// The time from `earlier` to `self`, or [`Duration::ZERO`] when `earlier`
    /// is actually later (time going backwards counts as no time passing).
    #[must_use]
    pub const fn saturating_duration_since(self, earlier: Instant) -> Duration {
        Duration(self.0.saturating_sub(earlier.0))
    }

    /// `self + d`, saturating at [`Instant::MAX`].
    #[must_use]
    pub const fn saturating_add(self, d: Duration) -> Instant {
        Instant(self.0.saturating_add(d.0))
    }

    /// `self - d`, saturating at [`Instant::ZERO`].
    #[must_use]
    pub const fn saturating_sub(self, d: Duration) -> Instant {
        Instant(self.0.saturating_sub(d.0))
    }

    /// The later of two instants (used to keep a machine's clock monotonic).
    #[must_use]
    pub fn max(self, other: Instant) -> Instant {
        if self >= other { self } else { other }
    }

    /// The earlier of two instants.
    #[must_use]
    pub fn min(self, other: Instant) -> Instant {
        if self <= other { self } else { other }
    }
}

impl Add<Duration> for Instant {
    type Output = Instant;
    fn add(self, rhs: Duration) -> Instant {
        self.saturating_add(rhs)
    }
}

impl AddAssign<Duration> for Instant {
    fn add_assign(&mut self, rhs: Duration) {
        *self = self.saturating_add(rhs);
    }
}

impl Sub<Duration> for Instant {
    type Output = Instant;
    fn sub(self, rhs: Duration) -> Instant {
        self.saturating_sub(rhs)
    }
}

impl Sub<Instant> for Instant {
    type Output = Duration;
    /// Saturating: an earlier `self` gives [`Duration::ZERO`].
    fn sub(self, rhs: Instant) -> Duration {
        self.saturating_duration_since(rhs)
    }
}

impl fmt::Display for Instant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "t+{}", Duration(self.0))
    }
}

/// Wall-clock time: whole seconds since 1970-01-01T00:00:00Z.
///
/// Used only where a protocol needs calendar time (webhook timestamps,
/// `Retry-After` HTTP dates, ISO 8601 in notification payloads). The caller
/// passes it in; the core never reads a clock.
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct UnixTime(u64);

impl UnixTime {
    /// 1970-01-01T00:00:00Z.
    pub const EPOCH: UnixTime = UnixTime(0);

    /// `secs` seconds after the Unix epoch.
    #[must_use]
    pub const fn from_secs(secs: u64) -> UnixTime {
        UnixTime(secs)
    }

    /// Seconds since the Unix epoch.
    #[must_use]
    pub const fn as_secs(self) -> u64 {
        self.0
    }

    /// `self + d` (whole seconds of `d`), saturating.
    #[must_use]
    pub const fn saturating_add(self, d: Duration) -> UnixTime {
        UnixTime(self.0.saturating_add(d.as_secs()))
    }

    /// The span from `earlier` to `self`, zero if `earlier` is later.
    #[must_use]
    pub const fn saturating_duration_since(self, earlier: UnixTime) -> Duration {
        Duration::from_secs(self.0.saturating_sub(earlier.0))
    }
}

/// Days since 1970-01-01 of the proleptic Gregorian date `year-month-day`
/// (Howard Hinnant's `days_from_civil`). Inputs are not range-checked here;
/// callers validate month (1–12) and day first (see [`days_in_month`]).
#[must_use]
pub const fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let m = month as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + day as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The proleptic Gregorian `(year, month, day)` of a count of days since
/// 1970-01-01 (Howard Hinnant's `civil_from_days`).
#[must_use]
pub const fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// `true` for Gregorian leap years.
#[must_use]
pub const fn is_leap_year(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

/// Number of days in `month` (1–12) of `year`; 0 for a month out of range.
#[must_use]
pub const fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap_year(year) => 29,
        2 => 28,
        _ => 0,
    }
}

impl UnixTime {
    /// The calendar form `YYYY-MM-DDTHH:MM:SSZ` (ISO 8601 / RFC 3339, UTC), as
    /// used in notification payloads.
    #[must_use]
    pub fn to_iso8601(self) -> alloc::string::String {
        let secs = self.0;
        let days = (secs / 86_400) as i64;
        let rem = secs % 86_400;
        let (y, m, d) = civil_from_days(days);
        alloc::format!(
            "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
            rem / 3600,
            (rem % 3600) / 60,
            rem % 60
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;

    #[test]
    fn arithmetic_saturates_instead_of_panicking() {
        assert_eq!(Instant::MAX + Duration::from_secs(1), Instant::MAX);
        assert_eq!(Instant::ZERO - Duration::from_secs(1), Instant::ZERO);
        assert_eq!(Duration::MAX + Duration::from_millis(1), Duration::MAX);
        assert_eq!(Duration::from_secs(u64::MAX), Duration::MAX);
        assert_eq!(
            Duration::from_millis(5).saturating_mul(u64::MAX),
            Duration::MAX
        );
        assert_eq!(Duration::from_millis(100).mul_f64(f64::NAN), Duration::ZERO);
        assert_eq!(Duration::from_millis(100).mul_f64(-3.0), Duration::ZERO);
        assert_eq!(Duration::MAX.mul_f64(2.0), Duration::MAX);
    }

    #[test]
    fn time_going_backwards_is_no_time_passing() {
        let later = Instant::from_millis(10_000);
        let earlier = Instant::from_millis(4_000);
        assert_eq!(earlier - later, Duration::ZERO);
        assert_eq!(later - earlier, Duration::from_secs(6));
    }

    #[test]
    fn durations_display_for_people() {
        assert_eq!(Duration::from_millis(250).to_string(), "250ms");
        assert_eq!(Duration::from_millis(1500).to_string(), "1.5s");
        assert_eq!(Duration::from_secs(60).to_string(), "1m");
        assert_eq!(Duration::from_secs(150).to_string(), "2m30s");
        assert_eq!(Duration::from_secs(3 * 3600 + 300).to_string(), "3h05m");
    }

    #[test]
    fn civil_dates_round_trip_and_format() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(civil_from_days(11_017), (2000, 3, 1));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
        for d in (-800_000..800_000).step_by(997) {
            let (y, m, day) = civil_from_days(d);
            assert!(day >= 1 && day <= days_in_month(y, m));
            assert_eq!(days_from_civil(y, m, day), d);
        }
        assert_eq!(days_in_month(2024, 2), 29);
        assert_eq!(days_in_month(1900, 2), 28);
        assert_eq!(days_in_month(2000, 2), 29);
        assert_eq!(days_in_month(2023, 13), 0);
        assert_eq!(
            UnixTime::from_secs(784_111_777).to_iso8601(),
            "1994-11-06T08:49:37Z"
        );
        assert_eq!(UnixTime::EPOCH.to_iso8601(), "1970-01-01T00:00:00Z");
    }

    #[test]
    fn converts_to_and_from_core_duration() {
        let d: Duration = core::time::Duration::from_micros(2_500_999).into();
        assert_eq!(d, Duration::from_millis(2500));
        let big: Duration = core::time::Duration::MAX.into();
        assert_eq!(big, Duration::MAX);
        assert_eq!(
            core::time::Duration::from(Duration::from_secs(3)),
            core::time::Duration::from_secs(3)
        );
    }
}
