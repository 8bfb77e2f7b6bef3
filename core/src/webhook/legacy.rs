//! The Node client's legacy signature, for old receivers only.
//!
//! Format: `X-Webhook-Signature: sha256=<hex HMAC-SHA256(secret, body)>` plus
//! `X-Webhook-Timestamp`. The secret's text is the key, byte for byte.
//!
//! **Why this is opt-in only.** The MAC covers the body and nothing else: the
//! timestamp is not signed. Anyone who captures one webhook (a proxy log, a
//! misconfigured receiver) can resend it at any later time with a fresh
//! timestamp and it still verifies — a replay that lasts forever. Standard
//! Webhooks signs `id.timestamp.body`, so a replay outside the tolerance
//! fails. Senders add these headers only through
//! [`super::Signer::with_legacy_headers`]; a [`super::Verifier`] never
//! consults them. [`LegacyVerifier`] exists for receivers still being
//! migrated; it checks the signature only, because checking an unsigned
//! timestamp would give false assurance.

use super::secret::{HmacSha256, WebhookKey};
use alloc::string::String;
use core::fmt;
use hmac::Mac;
use subtle::ConstantTimeEq;

use super::verify::HeaderLookup;

/// The legacy signature header.
pub const HEADER_SIGNATURE: &str = "X-Webhook-Signature";
/// The legacy timestamp header (ISO 8601; not covered by the signature).
pub const HEADER_TIMESTAMP: &str = "X-Webhook-Timestamp";

const PREFIX: &str = "sha256=";

fn mac(key: &WebhookKey, body: &[u8]) -> [u8; 32] {
    let mut m: HmacSha256 = key.mac();
    m.update(body);
    m.finalize().into_bytes().into()
}

/// The legacy header value `sha256=<lowercase hex>` for `body`.
#[must_use]
pub fn sign(key: &WebhookKey, body: &[u8]) -> String {
    let tag = mac(key, body);
    let mut hexbuf = [0u8; 64];
    let mut out = String::with_capacity(PREFIX.len() + 64);
    out.push_str(PREFIX);
    if hex::encode_to_slice(tag, &mut hexbuf).is_ok() {
        for &b in &hexbuf {
            out.push(char::from(b));
        }
    }
    out
}

/// Why a legacy signature was rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LegacyError {
    /// No `X-Webhook-Signature` header.
    MissingSignature,
    /// The header is not `sha256=` followed by 64 hex digits.
    MalformedSignature,
    /// The signature does not match.
    NoMatchingSignature,
}

impl fmt::Display for LegacyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LegacyError::MissingSignature => "the webhook has no `X-Webhook-Signature` header",
            LegacyError::MalformedSignature => {
                "the webhook's `X-Webhook-Signature` is not `sha256=` followed by 64 hex digits"
            }
            LegacyError::NoMatchingSignature => "the webhook's legacy signature does not match",
        })
    }
}

/// Verifies the legacy `sha256=<hex>` signature (opt-in; see the module docs
/// for why it is weaker than [`super::Verifier`]).
#[derive(Clone, Debug)]
pub struct LegacyVerifier {
    key: WebhookKey,
}

impl LegacyVerifier {
    /// A verifier for the legacy format with the shared secret's bytes.
    #[must_use]
    pub fn new(key: WebhookKey) -> LegacyVerifier {
        LegacyVerifier { key }
    }

    /// Checks `X-Webhook-Signature` against the raw body, in constant time.
    pub fn verify<'h>(
        &self,
        headers: impl HeaderLookup<'h>,
        body: &[u8],
    ) -> Result<(), LegacyError> {
        let value = headers
            .header(HEADER_SIGNATURE)
            .ok_or(LegacyError::MissingSignature)?
            .trim();
        let hex_part = value
            .strip_prefix(PREFIX)
            .ok_or(LegacyError::MalformedSignature)?;
        let mut given = [0u8; 32];
        hex::decode_to_slice(hex_part, &mut given).map_err(|_| LegacyError::MalformedSignature)?;
        if bool::from(mac(&self.key, body).ct_eq(&given)) {
            Ok(())
        } else {
            Err(LegacyError::NoMatchingSignature)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::Headers;

    fn key() -> WebhookKey {
        WebhookKey::from_bytes(b"It's a Secret to Everybody").unwrap()
    }

    #[test]
    fn legacy_vector() {
        assert_eq!(
            sign(&key(), b"Hello, World!"),
            "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
        );
    }

    #[test]
    fn legacy_verify_accepts_good_and_rejects_bad() {
        let v = LegacyVerifier::new(key());
        let mut h = Headers::new();
        h.set(HEADER_SIGNATURE, sign(&key(), b"Hello, World!"));
        assert_eq!(v.verify(&h, b"Hello, World!"), Ok(()));
        assert_eq!(
            v.verify(&h, b"Hello, World?"),
            Err(LegacyError::NoMatchingSignature)
        );
        // Uppercase hex is the same signature.
        h.set(
            HEADER_SIGNATURE,
            "sha256=757107EA0EB2509FC211221CCE984B8A37570B6D7586C22C46F4379C8B043E17",
        );
        assert_eq!(v.verify(&h, b"Hello, World!"), Ok(()));
        for bad in [
            "757107ea",
            "sha256=xyz",
            "sha256=",
            "sha1=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
        ] {
            h.set(HEADER_SIGNATURE, bad);
            assert_eq!(
                v.verify(&h, b"Hello, World!"),
                Err(LegacyError::MalformedSignature),
                "{bad}"
            );
        }
        h.remove(HEADER_SIGNATURE);
        assert_eq!(v.verify(&h, b""), Err(LegacyError::MissingSignature));
    }

    #[test]
    fn a_captured_legacy_webhook_replays_with_any_timestamp() {
        // Documents the weakness that makes this format opt-in: the timestamp
        // is outside the MAC, so changing it does not break the signature.
        let v = LegacyVerifier::new(key());
        let mut h = Headers::new();
        h.set(HEADER_SIGNATURE, sign(&key(), b"Hello, World!"));
        h.set(HEADER_TIMESTAMP, "2021-02-25T15:02:10Z");
        assert!(v.verify(&h, b"Hello, World!").is_ok());
        h.set(HEADER_TIMESTAMP, "2099-01-01T00:00:00Z");
        assert!(v.verify(&h, b"Hello, World!").is_ok());
    }
}
