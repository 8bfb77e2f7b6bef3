//! `RetryAfter::parse` and `parse_http_date` never panic on any bytes; a
//! parsed date written back as an `HttpDate` parses to the same instant; and
//! formatting any instant never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use novitai_core::UnixTime;
use novitai_core::retry::{DateForm, HttpDate, RetryAfter, parse_http_date};
use novitai_core::time::days_from_civil;

/// 10000-01-01T00:00:00Z: from here on the year has five digits, which no
/// HTTP-date form can carry.
const YEAR_10000: u64 = days_from_civil(10_000, 1, 1) as u64 * 86_400;
/// 2070-01-01T00:00:00Z: RFC 850's two-digit years are read as 1970..=2069.
const YEAR_2070: u64 = days_from_civil(2070, 1, 1) as u64 * 86_400;

fn round_trips(t: UnixTime) {
    for form in [DateForm::ImfFixdate, DateForm::Rfc850, DateForm::Asctime] {
        let text = HttpDate { time: t, form }.to_string();
        let fits = match form {
            DateForm::Rfc850 => t.as_secs() < YEAR_2070,
            _ => t.as_secs() < YEAR_10000,
        };
        if fits {
            assert_eq!(
                parse_http_date(text.as_bytes()),
                Ok(t),
                "{form:?} {text:?} does not parse back to {}",
                t.as_secs()
            );
            assert_eq!(RetryAfter::parse(text.as_bytes()), Ok(RetryAfter::At(t)));
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let parsed = RetryAfter::parse(data);
    let date = parse_http_date(data);
    if let Err(e) = &parsed {
        let _ = e.to_string();
    }
    // A value that does not start like a number is read as a date.
    let first = data.trim_ascii().first().copied();
    if !matches!(first, None | Some(b'0'..=b'9' | b'-' | b'+')) {
        assert_eq!(parsed, date.map(RetryAfter::At));
    }
    if let Ok(t) = date {
        round_trips(t);
    }
    // Any instant formats without panicking (and round-trips where it fits).
    if data.len() >= 8 {
        let secs = u64::from_le_bytes(data[..8].try_into().unwrap());
        round_trips(UnixTime::from_secs(secs));
        round_trips(UnixTime::from_secs(secs % YEAR_10000));
    }
});
