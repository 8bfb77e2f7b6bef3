//! Signing outgoing webhooks (Standard Webhooks v1).
//!
//! The signed content is `{webhook-id}.{webhook-timestamp}.{body}` and the
//! signature is `v1,<base64 HMAC-SHA256(key, content)>`. A [`Signer`] holds
//! the current key and, during a rotation, previous ones: it writes one
//! `v1,` entry per key, space-separated, so receivers still on the old key and
//! those already on the new one both accept the message.
//!
//! The timestamp is signed, so a captured webhook cannot be replayed with a
//! fresh timestamp (the legacy format's weakness, see [`super::legacy`]).

use super::legacy;
use super::secret::{HmacSha256, WebhookKey, encode_base64};
use super::{HEADER_ID, HEADER_SIGNATURE, HEADER_TIMESTAMP};
use crate::http::Headers;
use crate::time::UnixTime;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;
use core::fmt::Write as _;
use hmac::Mac;

/// The longest message id accepted, in bytes.
pub const MAX_MESSAGE_ID_LEN: usize = 256;

/// The most keys a [`Signer`] signs with at once (current plus previous ones).
pub const MAX_SIGNING_KEYS: usize = 8;

/// Length of one `v1,<base64>` entry: `v1,` + 44 base64 characters.
pub(crate) const V1_ENTRY_LEN: usize = 3 + 44;

/// Why a message could not be signed or a signer could not be built.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SignError {
    /// The message id is empty.
    EmptyMessageId,
    /// The message id is longer than [`MAX_MESSAGE_ID_LEN`] bytes.
    MessageIdTooLong {
        /// Its length in bytes.
        len: usize,
    },
    /// The message id contains `.` (which would make `id.timestamp.body`
    /// ambiguous) or a byte that is not visible ASCII (`!`..=`~`), which could
    /// not travel safely in a header.
    InvalidMessageIdByte {
        /// The offending byte.
        byte: u8,
        /// Its position in the id.
        at: usize,
    },
    /// A signer was built with no key.
    NoKeys,
    /// A signer was built with more than [`MAX_SIGNING_KEYS`] keys.
    TooManyKeys {
        /// How many keys were given.
        count: usize,
    },
}

impl fmt::Display for SignError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            SignError::EmptyMessageId => {
                f.write_str("the webhook message id is empty; give each message a unique id such as `msg_<random>`")
            }
            SignError::MessageIdTooLong { len } => write!(
                f,
                "the webhook message id is {len} bytes long; it must be at most {MAX_MESSAGE_ID_LEN} bytes"
            ),
            SignError::InvalidMessageIdByte { byte, at } => write!(
                f,
                "the webhook message id has byte 0x{byte:02x} at position {at}; ids may use visible ASCII (`!` to `~`) except `.`"
            ),
            SignError::NoKeys => f.write_str("a webhook signer needs at least one key"),
            SignError::TooManyKeys { count } => write!(
                f,
                "a webhook signer was given {count} keys; at most {MAX_SIGNING_KEYS} are allowed (the current key and the previous ones still being rotated out)"
            ),
        }
    }
}

/// Checks a message id: 1 to [`MAX_MESSAGE_ID_LEN`] bytes of visible ASCII,
/// no `.`.
pub fn validate_message_id(id: &str) -> Result<(), SignError> {
    if id.is_empty() {
        return Err(SignError::EmptyMessageId);
    }
    if id.len() > MAX_MESSAGE_ID_LEN {
        return Err(SignError::MessageIdTooLong { len: id.len() });
    }
    match id
        .bytes()
        .enumerate()
        .find(|&(_, b)| b == b'.' || !(b'!'..=b'~').contains(&b))
    {
        Some((at, byte)) => Err(SignError::InvalidMessageIdByte { byte, at }),
        None => Ok(()),
    }
}

/// Writes the decimal form of `n` into `buf`, returning the digits.
pub(crate) fn decimal(n: u64, buf: &mut [u8; 20]) -> &[u8] {
    let mut i = buf.len();
    let mut v = n;
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    &buf[i..]
}

/// The raw 32-byte v1 MAC of `id.timestamp.body` under `key`.
pub(crate) fn mac_v1(key: &WebhookKey, id: &[u8], timestamp: u64, body: &[u8]) -> [u8; 32] {
    let mut buf = [0u8; 20];
    let mut mac: HmacSha256 = key.mac();
    mac.update(id);
    mac.update(b".");
    mac.update(decimal(timestamp, &mut buf));
    mac.update(b".");
    mac.update(body);
    mac.finalize().into_bytes().into()
}

/// Signs outgoing webhooks with the current key and any previous keys.
///
/// # Default
/// There is no `Default`: a signer needs a key. Legacy headers are off unless
/// [`Signer::with_legacy_headers`] turns them on.
#[derive(Clone, Debug)]
pub struct Signer {
    keys: Vec<WebhookKey>,
    legacy: Option<WebhookKey>,
}

impl Signer {
    /// A signer with one key.
    #[must_use]
    pub fn new(key: WebhookKey) -> Signer {
        Signer {
            keys: alloc::vec![key],
            legacy: None,
        }
    }

    /// A signer for a key rotation: the current key first, then previous ones
    /// (1 to [`MAX_SIGNING_KEYS`] keys). Every message carries one signature
    /// per key.
    pub fn with_keys(keys: impl IntoIterator<Item = WebhookKey>) -> Result<Signer, SignError> {
        let keys: Vec<WebhookKey> = keys.into_iter().collect();
        if keys.is_empty() {
            return Err(SignError::NoKeys);
        }
        if keys.len() > MAX_SIGNING_KEYS {
            return Err(SignError::TooManyKeys { count: keys.len() });
        }
        Ok(Signer { keys, legacy: None })
    }

    /// Also send the Node client's legacy headers (`X-Webhook-Signature:
    /// sha256=<hex>` and `X-Webhook-Timestamp`), signed with `key` (the old
    /// raw secret, typically [`WebhookKey::from_bytes`] of its text).
    ///
    /// Opt in only for receivers that cannot yet verify Standard Webhooks: the
    /// legacy signature does not cover the timestamp, so anyone who captures
    /// one webhook can replay it to such a receiver forever. The Standard
    /// headers are always sent as well.
    #[must_use]
    pub fn with_legacy_headers(mut self, key: WebhookKey) -> Signer {
        self.legacy = Some(key);
        self
    }

    /// The keys, current first.
    #[must_use]
    pub fn keys(&self) -> &[WebhookKey] {
        &self.keys
    }

    /// The `webhook-signature` value for a message: `v1,<base64>` per key,
    /// separated by single spaces.
    pub fn sign(&self, id: &str, timestamp: UnixTime, body: &[u8]) -> Result<String, SignError> {
        let mut out = String::with_capacity(self.keys.len() * (V1_ENTRY_LEN + 1));
        self.sign_into(id, timestamp, body, &mut out)?;
        Ok(out)
    }

    /// Like [`Signer::sign`] but appends to `out`; allocates nothing when
    /// `out` has room for `keys × 48` more bytes.
    pub fn sign_into(
        &self,
        id: &str,
        timestamp: UnixTime,
        body: &[u8],
        out: &mut String,
    ) -> Result<(), SignError> {
        validate_message_id(id)?;
        for (i, key) in self.keys.iter().enumerate() {
            if i > 0 {
                out.push(' ');
            }
            let tag = mac_v1(key, id.as_bytes(), timestamp.as_secs(), body);
            out.push_str("v1,");
            encode_base64(&tag, out);
        }
        Ok(())
    }

    /// Sets the signature headers on `headers`: `webhook-id`,
    /// `webhook-timestamp`, `webhook-signature`, and the legacy pair if
    /// enabled. Earlier values of these headers are replaced.
    pub fn apply(
        &self,
        id: &str,
        timestamp: UnixTime,
        body: &[u8],
        headers: &mut Headers,
    ) -> Result<(), SignError> {
        let signature = self.sign(id, timestamp, body)?;
        let mut ts = String::new();
        let _ = write!(ts, "{}", timestamp.as_secs());
        headers.set(HEADER_ID, id);
        headers.set(HEADER_TIMESTAMP, ts);
        headers.set(HEADER_SIGNATURE, signature);
        if let Some(key) = &self.legacy {
            headers.set(legacy::HEADER_SIGNATURE, legacy::sign(key, body));
            headers.set(legacy::HEADER_TIMESTAMP, timestamp.to_iso8601());
        }
        Ok(())
    }

    /// The signature headers for a message as a fresh [`Headers`].
    pub fn headers(
        &self,
        id: &str,
        timestamp: UnixTime,
        body: &[u8],
    ) -> Result<Headers, SignError> {
        let mut h = Headers::new();
        self.apply(id, timestamp, body, &mut h)?;
        Ok(h)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(s: &str) -> WebhookKey {
        WebhookKey::from_whsec(s).unwrap()
    }

    const K1: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const ID1: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";

    #[test]
    fn standard_webhooks_vector_one() {
        let s = Signer::new(key(K1));
        assert_eq!(
            s.sign(
                ID1,
                UnixTime::from_secs(1_614_265_330),
                br#"{"test": 2432232314}"#
            )
            .unwrap(),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    #[test]
    fn standard_webhooks_vector_two() {
        let s = Signer::new(key("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD"));
        assert_eq!(
            s.sign(
                "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk",
                UnixTime::from_secs(1_649_367_553),
                br#"{"email":"test@example.com","username":"test_user"}"#
            )
            .unwrap(),
            "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw="
        );
    }

    #[test]
    fn standard_webhooks_vector_large_body() {
        let s = Signer::new(key(K1));
        let body = alloc::vec![b'a'; 262_144];
        assert_eq!(
            s.sign(ID1, UnixTime::from_secs(1_614_265_330), &body)
                .unwrap(),
            "v1,Mw4Pe2WgApuT7NSqnSq0PQPV9gbLdggCl9B865x5Xh0="
        );
    }

    #[test]
    fn rotation_writes_one_entry_per_key_current_first() {
        let old = key("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD");
        let s = Signer::with_keys([key(K1), old]).unwrap();
        let sig = s
            .sign(
                ID1,
                UnixTime::from_secs(1_614_265_330),
                br#"{"test": 2432232314}"#,
            )
            .unwrap();
        let parts: Vec<&str> = sig.split(' ').collect();
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0], "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
        assert_eq!(parts[1].len(), V1_ENTRY_LEN);
    }

    #[test]
    fn message_ids_with_dots_or_unsafe_bytes_are_rejected() {
        let s = Signer::new(key(K1));
        let t = UnixTime::from_secs(1);
        assert_eq!(
            s.sign("msg.1", t, b""),
            Err(SignError::InvalidMessageIdByte { byte: b'.', at: 3 })
        );
        assert_eq!(s.sign("", t, b""), Err(SignError::EmptyMessageId));
        assert!(matches!(
            s.sign("a\r\nX-Evil: 1", t, b""),
            Err(SignError::InvalidMessageIdByte { byte: b'\r', .. })
        ));
        assert!(matches!(
            s.sign(&"x".repeat(257), t, b""),
            Err(SignError::MessageIdTooLong { len: 257 })
        ));
        assert!(s.sign(&"x".repeat(256), t, b"").is_ok());
    }

    #[test]
    fn signer_key_count_is_bounded() {
        assert_eq!(Signer::with_keys([]).unwrap_err(), SignError::NoKeys);
        let many = (0..9).map(|_| key(K1));
        assert_eq!(
            Signer::with_keys(many).unwrap_err(),
            SignError::TooManyKeys { count: 9 }
        );
    }

    #[test]
    fn headers_carry_id_timestamp_and_signature_and_legacy_only_when_asked() {
        let s = Signer::new(key(K1));
        let h = s
            .headers(ID1, UnixTime::from_secs(1_614_265_330), b"{}")
            .unwrap();
        assert_eq!(h.get("webhook-id"), Some(ID1));
        assert_eq!(h.get("webhook-timestamp"), Some("1614265330"));
        assert!(h.get("webhook-signature").unwrap().starts_with("v1,"));
        assert_eq!(h.get("x-webhook-signature"), None);

        let s =
            s.with_legacy_headers(WebhookKey::from_bytes(b"It's a Secret to Everybody").unwrap());
        let h = s
            .headers(ID1, UnixTime::from_secs(1_614_265_330), b"Hello, World!")
            .unwrap();
        assert_eq!(
            h.get("X-Webhook-Signature"),
            Some("sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17")
        );
        assert_eq!(h.get("X-Webhook-Timestamp"), Some("2021-02-25T15:02:10Z"));
    }

    #[test]
    fn decimal_formats_edges() {
        let mut b = [0u8; 20];
        assert_eq!(decimal(0, &mut b), b"0");
        assert_eq!(decimal(u64::MAX, &mut b), b"18446744073709551615");
    }
}
