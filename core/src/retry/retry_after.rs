//! The `Retry-After` header (RFC 9110 §10.2.3): delta-seconds or an HTTP-date.
//!
//! ```text
//! Retry-After = HTTP-date / delay-seconds
//! HTTP-date   = IMF-fixdate / obs-date
//! obs-date    = rfc850-date / asctime-date
//! ```
//!
//! All three date forms are accepted (`Sun, 06 Nov 1994 08:49:37 GMT`,
//! `Sunday, 06-Nov-94 08:49:37 GMT`, `Sun Nov  6 08:49:37 1994`), with
//! optional surrounding whitespace. The parser is hand-written rather than
//! taken from the `httpdate` crate because `httpdate` converts through
//! `std::time::SystemTime`, and this crate is `no_std`: the calendar arithmetic
//! is Howard Hinnant's days-from-civil algorithm on plain integers
//! ([`crate::time::days_from_civil`]).
//!
//! Nothing here panics, whatever bytes arrive; a delay too large for a
//! [`Duration`] saturates.
//!
//! Leniencies, both common among HTTP libraries: the day name must be a valid
//! name of the right form but is not checked against the date; a two-digit
//! RFC 850 year is read as 1970..=2069 (RFC 9110 asks for "not more than 50
//! years in the future", which needs a clock this parser does not have).

use crate::time::{Duration, UnixTime, civil_from_days, days_from_civil, days_in_month};
use core::fmt;
use core::str::FromStr;
use serde::{Deserialize, Serialize};

/// A parsed `Retry-After` value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RetryAfter {
    /// `delay-seconds`: wait this long from when the response arrived.
    Delay(Duration),
    /// `HTTP-date`: do not retry before this wall-clock time.
    At(UnixTime),
}

/// Why a `Retry-After` value could not be read. The policy treats every one
/// of these as "no `Retry-After`" and uses its backoff.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RetryAfterError {
    /// The value was empty or only whitespace.
    Empty,
    /// It began like a number but was not only ASCII digits (e.g. `-5`,
    /// `1.5`, `10s`).
    InvalidDelay,
    /// It was neither digits nor one of the three HTTP-date forms.
    InvalidDate,
    /// It had the shape of an HTTP-date, but no such date or time exists
    /// (e.g. 30 February, hour 24).
    NoSuchDate,
    /// A valid date before 1970, which [`UnixTime`] cannot hold.
    BeforeUnixEpoch,
}

impl fmt::Display for RetryAfterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RetryAfterError::Empty => "the Retry-After header is empty",
            RetryAfterError::InvalidDelay => {
                "the Retry-After header is not a whole number of seconds (only digits are allowed)"
            }
            RetryAfterError::InvalidDate => {
                "the Retry-After header is neither a number of seconds nor an HTTP-date such as \
                 'Sun, 06 Nov 1994 08:49:37 GMT'"
            }
            RetryAfterError::NoSuchDate => {
                "the Retry-After header names a date or time that does not exist"
            }
            RetryAfterError::BeforeUnixEpoch => "the Retry-After header names a date before 1970",
        })
    }
}

impl RetryAfter {
    /// Parses a raw header value (bytes as received; no UTF-8 needed).
    ///
    /// # Errors
    ///
    /// A [`RetryAfterError`] saying what was wrong; never panics.
    pub fn parse(value: &[u8]) -> Result<RetryAfter, RetryAfterError> {
        let v = value.trim_ascii();
        match v.first() {
            None => Err(RetryAfterError::Empty),
            Some(b'0'..=b'9' | b'-' | b'+') => parse_delay(v).map(RetryAfter::Delay),
            Some(_) => parse_http_date(v).map(RetryAfter::At),
        }
    }

    /// How long to wait, measured from `now` (wall clock; pass the
    /// response's `Date` header when it has one). A date in the past gives
    /// [`Duration::ZERO`]; a delay is returned as it is.
    #[must_use]
    pub fn delay_from(self, now: UnixTime) -> Duration {
        match self {
            RetryAfter::Delay(d) => d,
            RetryAfter::At(t) => t.saturating_duration_since(now),
        }
    }
}

impl FromStr for RetryAfter {
    type Err = RetryAfterError;
    fn from_str(s: &str) -> Result<RetryAfter, RetryAfterError> {
        RetryAfter::parse(s.as_bytes())
    }
}

fn parse_delay(v: &[u8]) -> Result<Duration, RetryAfterError> {
    let mut secs: u64 = 0;
    for &b in v {
        if !b.is_ascii_digit() {
            return Err(RetryAfterError::InvalidDelay);
        }
        secs = secs.saturating_mul(10).saturating_add(u64::from(b - b'0'));
    }
    Ok(Duration::from_secs(secs))
}

const DAYS: [&[u8]; 7] = [b"Sun", b"Mon", b"Tue", b"Wed", b"Thu", b"Fri", b"Sat"];
const DAYS_LONG: [&[u8]; 7] = [
    b"Sunday",
    b"Monday",
    b"Tuesday",
    b"Wednesday",
    b"Thursday",
    b"Friday",
    b"Saturday",
];
const MONTHS: [&[u8]; 12] = [
    b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov", b"Dec",
];

/// A tiny non-panicking reader over the header bytes.
struct Cursor<'a>(&'a [u8]);

impl Cursor<'_> {
    fn lit(&mut self, l: &[u8]) -> Option<()> {
        self.0 = self.0.strip_prefix(l)?;
        Some(())
    }

    /// The index in `names` of the name the input starts with (longest names
    /// must not be prefixes of others at the same position — true here).
    fn one_of(&mut self, names: &[&[u8]]) -> Option<usize> {
        let i = names.iter().position(|n| self.0.starts_with(n))?;
        self.lit(names.get(i)?)?;
        Some(i)
    }

    fn digits(&mut self, n: usize) -> Option<u32> {
        let (head, rest) = self.0.split_at_checked(n)?;
        let mut v: u32 = 0;
        for &b in head {
            if !b.is_ascii_digit() {
                return None;
            }
            v = v * 10 + u32::from(b - b'0');
        }
        self.0 = rest;
        Some(v)
    }

    fn time(&mut self) -> Option<(u32, u32, u32)> {
        let h = self.digits(2)?;
        self.lit(b":")?;
        let m = self.digits(2)?;
        self.lit(b":")?;
        let s = self.digits(2)?;
        Some((h, m, s))
    }

    fn end(&self) -> Option<()> {
        self.0.is_empty().then_some(())
    }
}

/// Calendar fields as read, before range checks: (year, month 1..=12, day, h, m, s).
type Fields = (i64, u32, u32, u32, u32, u32);

fn imf_fixdate(v: &[u8]) -> Option<Fields> {
    let mut c = Cursor(v);
    c.one_of(&DAYS)?;
    c.lit(b", ")?;
    let day = c.digits(2)?;
    c.lit(b" ")?;
    let month = c.one_of(&MONTHS)? as u32 + 1;
    c.lit(b" ")?;
    let year = c.digits(4)?;
    c.lit(b" ")?;
    let (h, m, s) = c.time()?;
    c.lit(b" GMT")?;
    c.end()?;
    Some((i64::from(year), month, day, h, m, s))
}

fn rfc850_date(v: &[u8]) -> Option<Fields> {
    let mut c = Cursor(v);
    c.one_of(&DAYS_LONG)?;
    c.lit(b", ")?;
    let day = c.digits(2)?;
    c.lit(b"-")?;
    let month = c.one_of(&MONTHS)? as u32 + 1;
    c.lit(b"-")?;
    let yy = c.digits(2)?;
    c.lit(b" ")?;
    let (h, m, s) = c.time()?;
    c.lit(b" GMT")?;
    c.end()?;
    let year = if yy < 70 { 2000 + yy } else { 1900 + yy };
    Some((i64::from(year), month, day, h, m, s))
}

fn asctime_date(v: &[u8]) -> Option<Fields> {
    let mut c = Cursor(v);
    c.one_of(&DAYS)?;
    c.lit(b" ")?;
    let month = c.one_of(&MONTHS)? as u32 + 1;
    c.lit(b" ")?;
    let day = if c.lit(b" ").is_some() {
        c.digits(1)?
    } else {
        c.digits(2)?
    };
    c.lit(b" ")?;
    let (h, m, s) = c.time()?;
    c.lit(b" ")?;
    let year = c.digits(4)?;
    c.end()?;
    Some((i64::from(year), month, day, h, m, s))
}

/// Parses an HTTP-date in any of its three forms (IMF-fixdate, RFC 850,
/// asctime) into seconds since 1970. Surrounding whitespace is ignored.
///
/// # Errors
///
/// [`RetryAfterError::InvalidDate`] for anything else,
/// [`RetryAfterError::NoSuchDate`] for a well-formed but impossible date,
/// [`RetryAfterError::BeforeUnixEpoch`] for a date before 1970.
pub fn parse_http_date(value: &[u8]) -> Result<UnixTime, RetryAfterError> {
    let v = value.trim_ascii();
    if v.is_empty() {
        return Err(RetryAfterError::Empty);
    }
    let (y, mo, d, h, mi, s) = imf_fixdate(v)
        .or_else(|| rfc850_date(v))
        .or_else(|| asctime_date(v))
        .ok_or(RetryAfterError::InvalidDate)?;
    // Second 60 is a leap second; it is allowed and counts into the next minute.
    if d == 0 || d > days_in_month(y, mo) || h > 23 || mi > 59 || s > 60 {
        return Err(RetryAfterError::NoSuchDate);
    }
    let days = days_from_civil(y, mo, d);
    let secs = days * 86_400 + i64::from(h * 3600 + mi * 60 + s);
    u64::try_from(secs)
        .map(UnixTime::from_secs)
        .map_err(|_| RetryAfterError::BeforeUnixEpoch)
}

/// Which of the three RFC 9110 HTTP-date forms to write.
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DateForm {
    /// `Sun, 06 Nov 1994 08:49:37 GMT` — the form senders must use.
    #[default]
    ImfFixdate,
    /// `Sunday, 06-Nov-94 08:49:37 GMT` — obsolete, two-digit year.
    Rfc850,
    /// `Sun Nov  6 08:49:37 1994` — ANSI C's `asctime()`.
    Asctime,
}

/// Formats a [`UnixTime`] as an HTTP-date (for `Retry-After` and `Date`
/// headers sent by the simulator, and for tests). Years past 9999 are
/// written with more digits, which no parser accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct HttpDate {
    /// The instant to write.
    pub time: UnixTime,
    /// The form to write it in.
    pub form: DateForm,
}

impl HttpDate {
    /// `time` in the IMF-fixdate form.
    #[must_use]
    pub const fn new(time: UnixTime) -> HttpDate {
        HttpDate {
            time,
            form: DateForm::ImfFixdate,
        }
    }
}

impl fmt::Display for HttpDate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = self.time.as_secs();
        let days = (secs / 86_400) as i64;
        let rem = secs % 86_400;
        let (h, mi, s) = (rem / 3600, rem % 3600 / 60, rem % 60);
        let (y, mo, d) = civil_from_days(days);
        let wd = ((days + 4) % 7) as usize; // 1970-01-01 was a Thursday
        let day = core::str::from_utf8(DAYS.get(wd).copied().unwrap_or(b"???")).unwrap_or("???");
        let day_long =
            core::str::from_utf8(DAYS_LONG.get(wd).copied().unwrap_or(b"???")).unwrap_or("???");
        let month = core::str::from_utf8(
            MONTHS
                .get((mo as usize).wrapping_sub(1))
                .copied()
                .unwrap_or(b"???"),
        )
        .unwrap_or("???");
        match self.form {
            DateForm::ImfFixdate => {
                write!(f, "{day}, {d:02} {month} {y:04} {h:02}:{mi:02}:{s:02} GMT")
            }
            DateForm::Rfc850 => write!(
                f,
                "{day_long}, {d:02}-{month}-{:02} {h:02}:{mi:02}:{s:02} GMT",
                y.rem_euclid(100)
            ),
            DateForm::Asctime => write!(f, "{day} {month} {d:>2} {h:02}:{mi:02}:{s:02} {y:04}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;

    const NOV_6_1994: UnixTime = UnixTime::from_secs(784_111_777);

    fn at(s: &str) -> Result<RetryAfter, RetryAfterError> {
        s.parse()
    }

    #[test]
    fn the_three_rfc_forms_name_the_same_instant() {
        for s in [
            "Sun, 06 Nov 1994 08:49:37 GMT",
            "Sunday, 06-Nov-94 08:49:37 GMT",
            "Sun Nov  6 08:49:37 1994",
            "  Sun, 06 Nov 1994 08:49:37 GMT\t",
        ] {
            assert_eq!(at(s), Ok(RetryAfter::At(NOV_6_1994)), "{s}");
        }
    }

    #[test]
    fn known_instants() {
        let t = |s: &str| parse_http_date(s.as_bytes());
        assert_eq!(t("Thu, 01 Jan 1970 00:00:00 GMT"), Ok(UnixTime::EPOCH));
        assert_eq!(
            t("Sat, 01 Jan 2000 00:00:00 GMT"),
            Ok(UnixTime::from_secs(946_684_800))
        );
        // Leap days: 2000 (divisible by 400), 2024; and the day after.
        assert_eq!(
            t("Tue, 29 Feb 2000 00:00:00 GMT"),
            Ok(UnixTime::from_secs(951_782_400))
        );
        assert_eq!(
            t("Thu, 29 Feb 2024 12:00:00 GMT"),
            Ok(UnixTime::from_secs(1_709_208_000))
        );
        assert_eq!(
            t("Fri, 01 Mar 2024 00:00:00 GMT"),
            Ok(UnixTime::from_secs(1_709_251_200))
        );
        assert_eq!(
            t("Sun, 31 Dec 2023 23:59:59 GMT"),
            Ok(UnixTime::from_secs(1_704_067_199))
        );
        assert_eq!(
            t("Tue, 19 Jan 2038 03:14:08 GMT"),
            Ok(UnixTime::from_secs(2_147_483_648))
        );
        assert_eq!(
            t("Fri, 31 Dec 9999 23:59:59 GMT"),
            Ok(UnixTime::from_secs(253_402_300_799))
        );
        // RFC 850 two-digit years pivot at 70.
        assert_eq!(t("Thursday, 01-Jan-70 00:00:00 GMT"), Ok(UnixTime::EPOCH));
        assert_eq!(
            t("Saturday, 01-Jan-00 00:00:00 GMT"),
            Ok(UnixTime::from_secs(946_684_800))
        );
        // asctime with a two-digit day.
        assert_eq!(
            t("Thu Feb 29 12:00:00 2024"),
            Ok(UnixTime::from_secs(1_709_208_000))
        );
        // A leap second counts into the next minute.
        assert_eq!(
            t("Sat, 31 Dec 2016 23:59:60 GMT"),
            Ok(UnixTime::from_secs(1_483_228_800))
        );
    }

    #[test]
    fn impossible_dates_are_rejected() {
        let t = |s: &str| parse_http_date(s.as_bytes());
        for s in [
            "Fri, 30 Feb 2024 00:00:00 GMT",
            "Tue, 29 Feb 2100 00:00:00 GMT", // 2100 is not a leap year
            "Wed, 29 Feb 2023 00:00:00 GMT",
            "Mon, 31 Apr 2024 00:00:00 GMT",
            "Mon, 00 Jan 2024 00:00:00 GMT",
            "Mon, 01 Jan 2024 24:00:00 GMT",
            "Mon, 01 Jan 2024 23:60:00 GMT",
            "Mon, 01 Jan 2024 23:59:61 GMT",
            "Sun Feb 30 08:49:37 1994",
        ] {
            assert_eq!(t(s), Err(RetryAfterError::NoSuchDate), "{s}");
        }
        assert_eq!(
            t("Sun, 06 Nov 1960 08:49:37 GMT"),
            Err(RetryAfterError::BeforeUnixEpoch)
        );
    }

    #[test]
    fn malformed_values_are_typed_errors() {
        assert_eq!(at(""), Err(RetryAfterError::Empty));
        assert_eq!(at("  \t "), Err(RetryAfterError::Empty));
        for s in ["-5", "+5", "1.5", "10s", "12 34", "0x10"] {
            assert_eq!(at(s), Err(RetryAfterError::InvalidDelay), "{s}");
        }
        for s in [
            "soon",
            "Sun, 06 Nov 1994 08:49:37 UTC",
            "sun, 06 Nov 1994 08:49:37 GMT",
            "Sun, 6 Nov 1994 08:49:37 GMT",
            "Sun, 06 Nov 94 08:49:37 GMT",
            "Sunday, 06-Nov-1994 08:49:37 GMT",
            "Sun Nov 6 08:49:37 1994",
            "Sun, 06 Nov 1994 08:49:37 GMT extra",
            "Sun, 06 Nov 1994 8:49:37 GMT",
            "Sun, 06 Nov 1994 08:49:3",
            "Sun, 06 Nov 1994 08:49:37 GM",
            "Sun, 06 Nov 1994 08:49:37 GMT\u{0}",
            "Sun, 06 Xyz 1994 08:49:37 GMT",
            "Sun, ０６ Nov 1994 08:49:37 GMT",
        ] {
            assert_eq!(at(s), Err(RetryAfterError::InvalidDate), "{s}");
        }
        assert_eq!(
            RetryAfter::parse(&[0xff, 0xfe, b'1']),
            Err(RetryAfterError::InvalidDate)
        );
        assert!(
            RetryAfterError::InvalidDate
                .to_string()
                .contains("HTTP-date")
        );
    }

    #[test]
    fn delays_parse_and_saturate() {
        assert_eq!(at("7"), Ok(RetryAfter::Delay(Duration::from_secs(7))));
        assert_eq!(at(" 120 "), Ok(RetryAfter::Delay(Duration::from_secs(120))));
        assert_eq!(at("0"), Ok(RetryAfter::Delay(Duration::ZERO)));
        assert_eq!(at("007"), Ok(RetryAfter::Delay(Duration::from_secs(7))));
        assert_eq!(
            at("99999999999999999999999999999999999999"),
            Ok(RetryAfter::Delay(Duration::MAX))
        );
        assert_eq!(
            at("18446744073709551"),
            Ok(RetryAfter::Delay(Duration::from_millis(
                18_446_744_073_709_551_000
            )))
        );
        assert_eq!(
            at("18446744073709552"),
            Ok(RetryAfter::Delay(Duration::MAX))
        );
    }

    #[test]
    fn delay_from_measures_to_the_date_and_floors_at_zero() {
        let ra = RetryAfter::At(NOV_6_1994);
        assert_eq!(
            ra.delay_from(UnixTime::from_secs(784_111_770)),
            Duration::from_secs(7)
        );
        assert_eq!(
            ra.delay_from(UnixTime::from_secs(800_000_000)),
            Duration::ZERO
        );
        let d = RetryAfter::Delay(Duration::from_secs(3));
        assert_eq!(
            d.delay_from(UnixTime::from_secs(u64::MAX)),
            Duration::from_secs(3)
        );
    }

    #[test]
    fn formatting_round_trips_in_every_form() {
        assert_eq!(
            HttpDate::new(NOV_6_1994).to_string(),
            "Sun, 06 Nov 1994 08:49:37 GMT"
        );
        let rfc850 = HttpDate {
            time: NOV_6_1994,
            form: DateForm::Rfc850,
        };
        assert_eq!(rfc850.to_string(), "Sunday, 06-Nov-94 08:49:37 GMT");
        let asctime = HttpDate {
            time: NOV_6_1994,
            form: DateForm::Asctime,
        };
        assert_eq!(asctime.to_string(), "Sun Nov  6 08:49:37 1994");
        for secs in [0, 951_782_400, 1_709_208_000, 2_147_483_648, 3_155_759_999] {
            for form in [DateForm::ImfFixdate, DateForm::Rfc850, DateForm::Asctime] {
                let s = HttpDate {
                    time: UnixTime::from_secs(secs),
                    form,
                }
                .to_string();
                assert_eq!(
                    parse_http_date(s.as_bytes()),
                    Ok(UnixTime::from_secs(secs)),
                    "{s}"
                );
            }
        }
        // Formatting never panics, even far past year 9999.
        let _ = HttpDate::new(UnixTime::from_secs(u64::MAX)).to_string();
    }
}
