//! Webhook signing keys: `whsec_<base64>` secrets or raw bytes.
//!
//! A [`WebhookKey`] holds the HMAC-SHA256 key *already keyed*: the inner and
//! outer pads are computed once when the key is made, so signing a message
//! costs only the hashing of that message. Its `Debug` prints the key length,
//! never the key.
//!
//! The Standard Webhooks spec recommends keys of 24 to 64 bytes
//! ([`RECOMMENDED_MIN_KEY_LEN`]); shorter keys are accepted (old receivers may
//! have them) and [`WebhookKey::is_shorter_than_recommended`] lets a
//! configuration check warn about them. An empty key is always rejected: an
//! HMAC with an empty key is a checksum anyone can compute.

use alloc::string::String;
use base64ct::{Base64, Base64Unpadded, Encoding as _};
use core::fmt;
use hmac::{Hmac, KeyInit};
use sha2::Sha256;

/// The prefix of a Standard Webhooks secret: `whsec_<base64 key>`.
pub const SECRET_PREFIX: &str = "whsec_";

/// The smallest key length, in bytes, that the Standard Webhooks spec
/// recommends (it recommends 24 to 64 random bytes).
pub const RECOMMENDED_MIN_KEY_LEN: usize = 24;

/// Decodes standard base64, padded or not (what the reference libraries
/// accept), into `out`; canonical trailing bits only. Constant-time in the
/// input's bytes (RustCrypto's `base64ct`). Returns the decoded bytes.
pub(crate) fn decode_base64<'o>(text: &[u8], out: &'o mut [u8]) -> Option<&'o [u8]> {
    if text.len().is_multiple_of(4) {
        Base64::decode(text, out).ok()
    } else {
        Base64Unpadded::decode(text, out).ok()
    }
}

/// `true` when `text` is standard base64 of at least one byte, padded or not,
/// with canonical trailing bits (what [`WebhookKey::from_whsec`] accepts after
/// the prefix, for config validation).
pub(crate) fn is_base64(text: &str) -> bool {
    let mut buf = alloc::vec![0u8; text.len() / 4 * 3 + 3];
    decode_base64(text.as_bytes(), &mut buf).is_some_and(|b| !b.is_empty())
}

/// Appends the padded standard base64 of `bytes` to `out`, through a stack
/// buffer (48 input bytes, a multiple of 3, at a time), so signing allocates
/// only what `out` grows by.
pub(crate) fn encode_base64(bytes: &[u8], out: &mut String) {
    let mut buf = [0u8; 64];
    for chunk in bytes.chunks(48) {
        if let Ok(text) = Base64::encode(chunk, &mut buf) {
            out.push_str(text);
        }
    }
}

/// HMAC-SHA256, the MAC of both signature formats.
pub(crate) type HmacSha256 = Hmac<Sha256>;

/// Why a webhook secret could not be turned into a key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyError {
    /// The key (after removing `whsec_` and decoding) has no bytes.
    Empty,
    /// The text after `whsec_` is not valid base64.
    InvalidBase64,
}

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyError::Empty => f.write_str(
                "the webhook secret is empty; use `whsec_` followed by the base64 of 24 to 64 random bytes",
            ),
            KeyError::InvalidBase64 => f.write_str(
                "the webhook secret is not valid base64 after the `whsec_` prefix; expected `whsec_` followed by standard base64 (padded or unpadded)",
            ),
        }
    }
}

/// An HMAC-SHA256 key for signing or verifying webhooks.
///
/// Make one from a `whsec_` secret with [`WebhookKey::from_whsec`] or from raw
/// bytes with [`WebhookKey::from_bytes`] (the legacy format uses the secret
/// string's bytes as they are).
#[derive(Clone)]
pub struct WebhookKey {
    mac: HmacSha256,
    len: usize,
}

impl WebhookKey {
    /// A key from its raw bytes. Errors with [`KeyError::Empty`] on no bytes.
    pub fn from_bytes(key: &[u8]) -> Result<WebhookKey, KeyError> {
        if key.is_empty() {
            return Err(KeyError::Empty);
        }
        // HMAC accepts keys of any length (long ones are hashed first).
        let mac = <HmacSha256 as KeyInit>::new_from_slice(key).map_err(|_| KeyError::Empty)?;
        Ok(WebhookKey {
            mac,
            len: key.len(),
        })
    }

    /// A key from a Standard Webhooks secret: `whsec_` followed by standard
    /// base64, padded or not. As in the reference libraries, the prefix may be
    /// left out (the whole string is then base64). Surrounding whitespace is
    /// ignored.
    pub fn from_whsec(secret: &str) -> Result<WebhookKey, KeyError> {
        let s = secret.trim();
        let b64 = s.strip_prefix(SECRET_PREFIX).unwrap_or(s);
        let mut buf = alloc::vec![0u8; b64.len() / 4 * 3 + 3];
        let bytes = decode_base64(b64.as_bytes(), &mut buf).ok_or(KeyError::InvalidBase64)?;
        WebhookKey::from_bytes(bytes)
    }

    /// Length of the key in bytes (safe to show).
    #[must_use]
    pub fn len(&self) -> usize {
        self.len
    }

    /// Always `false`: an empty key cannot be made. Present for API symmetry.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// `true` when the key is shorter than [`RECOMMENDED_MIN_KEY_LEN`] bytes.
    #[must_use]
    pub fn is_shorter_than_recommended(&self) -> bool {
        self.len < RECOMMENDED_MIN_KEY_LEN
    }

    /// A fresh MAC state keyed with this key (a cheap copy of the precomputed
    /// pads).
    pub(crate) fn mac(&self) -> HmacSha256 {
        self.mac.clone()
    }
}

/// The `whsec_` form of raw key bytes (for handing a freshly generated key to
/// a receiver). The caller draws the bytes from a real entropy source; the core
/// has none.
#[must_use]
pub fn to_whsec(key: &[u8]) -> String {
    let mut s = String::from(SECRET_PREFIX);
    encode_base64(key, &mut s);
    s
}

impl fmt::Debug for WebhookKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "WebhookKey(<{} bytes>)", self.len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::format;

    #[test]
    fn whsec_padded_unpadded_and_bare_base64_all_decode() {
        let a = WebhookKey::from_whsec("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        assert_eq!(a.len(), 24);
        assert!(!a.is_shorter_than_recommended());
        // 20 bytes: padded form ends in '=', unpadded does not.
        let padded = to_whsec(&[7u8; 20]);
        assert!(padded.ends_with('='));
        let unpadded = padded.trim_end_matches('=');
        assert_eq!(WebhookKey::from_whsec(&padded).unwrap().len(), 20);
        assert_eq!(WebhookKey::from_whsec(unpadded).unwrap().len(), 20);
        assert!(
            WebhookKey::from_whsec(unpadded)
                .unwrap()
                .is_shorter_than_recommended()
        );
        assert_eq!(
            WebhookKey::from_whsec("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
                .unwrap()
                .len(),
            24
        );
    }

    #[test]
    fn empty_and_garbage_secrets_are_typed_errors() {
        assert_eq!(WebhookKey::from_bytes(b"").unwrap_err(), KeyError::Empty);
        assert_eq!(
            WebhookKey::from_whsec("whsec_").unwrap_err(),
            KeyError::Empty
        );
        assert_eq!(WebhookKey::from_whsec("").unwrap_err(), KeyError::Empty);
        assert_eq!(
            WebhookKey::from_whsec("whsec_not base64!").unwrap_err(),
            KeyError::InvalidBase64
        );
        assert!(format!("{}", KeyError::Empty).contains("whsec_"));
    }

    #[test]
    fn debug_never_shows_the_key() {
        let k = WebhookKey::from_bytes(b"It's a Secret to Everybody").unwrap();
        let shown = format!("{k:?}");
        assert_eq!(shown, "WebhookKey(<26 bytes>)");
    }
}
