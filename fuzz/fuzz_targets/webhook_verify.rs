//! `Verifier::verify` on arbitrary headers, body and `now` never panics and
//! only accepts what it should; sign-then-verify succeeds, and flipping any
//! byte of the body, the id, the timestamp or the signature makes it fail.
//!
//! An input starting with `T` is a readable message (the seed corpus uses
//! this for the Standard Webhooks test vectors):
//!
//! ```text
//! T
//! key: whsec_...            (one or more)
//! now: 1614265330
//! webhook-id: msg_...
//! webhook-timestamp: 1614265330
//! webhook-signature: v1,...
//!
//! <body bytes>
//! ```
//!
//! Anything else is read with `arbitrary`.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use novitai_core::UnixTime;
use novitai_core::http::Headers;
use novitai_core::time::Duration;
use novitai_core::webhook::{Signer, Verifier, VerifyConfig, VerifyError, WebhookKey};

#[derive(Debug, Arbitrary)]
enum Name<'a> {
    Id,
    Timestamp,
    Signature,
    /// Same names in another case: lookups are case-insensitive.
    Upper(u8),
    Other(&'a str),
}

#[derive(Debug, Arbitrary)]
enum Key<'a> {
    Bytes(&'a [u8]),
    Whsec(&'a str),
}

#[derive(Debug, Arbitrary)]
enum Flip {
    Body,
    Id,
    Timestamp,
    Signature,
}

#[derive(Debug, Arbitrary)]
struct Input<'a> {
    keys: Vec<Key<'a>>,
    tolerance_secs: u16,
    max_signatures: u8,
    headers: Vec<(Name<'a>, &'a str)>,
    body: &'a [u8],
    now: u64,
    // The round trip.
    rt_key: &'a [u8],
    rt_id: &'a str,
    rt_ts: u64,
    rt_skew: i16,
    flip: Flip,
    flip_at: u16,
    flip_to: u8,
}

fn key(k: &Key<'_>) -> Option<WebhookKey> {
    match k {
        Key::Bytes(b) => WebhookKey::from_bytes(b).ok(),
        Key::Whsec(s) => WebhookKey::from_whsec(s).ok(),
    }
}

fn name(n: &Name<'_>) -> String {
    match n {
        Name::Id => "webhook-id".into(),
        Name::Timestamp => "webhook-timestamp".into(),
        Name::Signature => "webhook-signature".into(),
        Name::Upper(i) => {
            ["WEBHOOK-ID", "Webhook-Timestamp", "WEBHOOK-SIGNATURE"][*i as usize % 3].into()
        }
        Name::Other(s) => (*s).into(),
    }
}

/// Parses the readable form (after the leading `T`).
fn text(data: &[u8]) -> Option<Input<'_>> {
    let split = data.windows(2).position(|w| w == b"\n\n")?;
    let head = std::str::from_utf8(&data[..split]).ok()?;
    let body = &data[split + 2..];
    let mut input = Input {
        keys: Vec::new(),
        tolerance_secs: 300,
        max_signatures: 16,
        headers: Vec::new(),
        body,
        now: 0,
        rt_key: b"",
        rt_id: "",
        rt_ts: 0,
        rt_skew: 0,
        flip: Flip::Body,
        flip_at: 0,
        flip_to: 1,
    };
    for line in head.lines() {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim_start();
        match name {
            "key" => input.keys.push(Key::Whsec(value)),
            "now" => input.now = value.parse().unwrap_or(0),
            _ => input.headers.push((Name::Other(name), value)),
        }
    }
    // The round trip re-signs the same message with the raw key bytes of the
    // first secret's text, at the message's own timestamp.
    input.rt_key = input.keys.iter().find_map(|k| match k {
        Key::Whsec(s) => Some(s.as_bytes()),
        Key::Bytes(b) => Some(*b),
    })?;
    input.rt_id = input
        .headers
        .iter()
        .find(|(n, _)| matches!(n, Name::Other("webhook-id")))
        .map_or("", |(_, v)| *v);
    input.rt_ts = input.now;
    input.flip_at = (body.len() / 2) as u16;
    Some(input)
}

fuzz_target!(|data: &[u8]| {
    let input = match data.strip_prefix(b"T\n") {
        Some(rest) => match text(rest) {
            Some(input) => input,
            None => return,
        },
        None => match Input::arbitrary_take_rest(arbitrary::Unstructured::new(data)) {
            Ok(input) => input,
            Err(_) => return,
        },
    };
    check(input);
});

fn check(input: Input<'_>) {
    let config = VerifyConfig {
        tolerance: Duration::from_secs(u64::from(input.tolerance_secs)),
        max_signatures: usize::from(input.max_signatures),
    };
    let keys: Vec<WebhookKey> = input.keys.iter().filter_map(key).collect();
    let tolerance_ok = config.validate().is_ok();
    let verifier = match Verifier::with_config(keys.clone(), config) {
        Ok(v) => {
            assert!(tolerance_ok && !keys.is_empty());
            v
        }
        Err(e) => {
            let _ = e.to_string();
            Verifier::new(WebhookKey::from_bytes(b"fallback key for the fuzzer").unwrap())
        }
    };
    let tol = verifier.config().tolerance.as_secs();

    // 1. Arbitrary headers: never panics; an accepted message is in tolerance
    //    and its id is the (trimmed) id header.
    let headers: Headers = input
        .headers
        .iter()
        .map(|(n, v)| (name(n), (*v).to_owned()))
        .collect();
    let now = UnixTime::from_secs(input.now);
    match verifier.verify(&headers, input.body, now) {
        Ok(v) => {
            assert!(v.timestamp.as_secs().saturating_add(tol) >= now.as_secs());
            assert!(v.timestamp.as_secs() <= now.as_secs().saturating_add(tol));
            assert_eq!(Some(v.id), headers.get("webhook-id").map(str::trim));
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }

    // 2. Round trip with one key: sign, verify, then flip one byte.
    let Ok(rt_key) = WebhookKey::from_bytes(input.rt_key) else {
        return;
    };
    let mut id: String = input
        .rt_id
        .chars()
        .filter(|c| ('!'..='~').contains(c) && *c != '.')
        .take(256)
        .collect();
    if id.is_empty() {
        id.push_str("msg_fuzz");
    }
    let ts = UnixTime::from_secs(input.rt_ts);
    let signer = Signer::new(rt_key.clone());
    let signed = signer
        .headers(&id, ts, input.body)
        .expect("a valid id signs");
    let receiver = Verifier::new(rt_key);
    let rtol = receiver.config().tolerance.as_secs() as i64;
    let skew = i64::from(input.rt_skew).clamp(-rtol, rtol);
    let rnow = UnixTime::from_secs(input.rt_ts.saturating_add_signed(skew));
    let ok = receiver.verify(&signed, input.body, rnow);
    assert!(ok.is_ok(), "sign then verify failed: {ok:?}");

    let mut body = input.body.to_vec();
    let mut h_id = signed.get("webhook-id").unwrap().to_owned();
    let mut h_ts = signed.get("webhook-timestamp").unwrap().to_owned();
    let mut h_sig = signed.get("webhook-signature").unwrap().to_owned();
    let at = usize::from(input.flip_at);
    // A printable ASCII byte different from the one it replaces, so header
    // values stay valid UTF-8.
    let printable = |old: u8| {
        let mut b = b' ' + input.flip_to % 95;
        if b == old {
            b = if b == b'~' { b' ' } else { b + 1 };
        }
        b
    };
    fn replace(s: &mut String, i: usize, b: u8) {
        let mut v = std::mem::take(s).into_bytes();
        v[i] = b;
        *s = String::from_utf8(v).unwrap();
    }
    match input.flip {
        Flip::Body => {
            if body.is_empty() {
                return;
            }
            let i = at % body.len();
            body[i] ^= input.flip_to.max(1);
        }
        Flip::Id => {
            let i = at % h_id.len();
            let b = printable(h_id.as_bytes()[i]);
            replace(&mut h_id, i, b);
        }
        Flip::Timestamp => {
            let i = at % h_ts.len();
            let b = printable(h_ts.as_bytes()[i]);
            replace(&mut h_ts, i, b);
        }
        Flip::Signature => {
            // `v1,` + 43 significant base64 characters + `=`. The padding is
            // optional on decode (as in the reference libraries), so turning
            // it into trailing whitespace is not a change of the signature:
            // flip only the significant part.
            let i = at % (h_sig.len() - 1);
            let b = printable(h_sig.as_bytes()[i]);
            replace(&mut h_sig, i, b);
        }
    }
    let flipped: Headers = [
        ("webhook-id", h_id.as_str()),
        ("webhook-timestamp", h_ts.as_str()),
        ("webhook-signature", h_sig.as_str()),
    ]
    .into_iter()
    .collect();
    let r = receiver.verify(&flipped, &body, rnow);
    assert!(
        matches!(
            r,
            Err(VerifyError::NoMatchingSignature
                | VerifyError::MalformedHeader(_)
                | VerifyError::MissingHeader(_)
                | VerifyError::Stale { .. }
                | VerifyError::Future { .. })
        ),
        "a flipped message verified: {:?} id={h_id:?} ts={h_ts:?} sig={h_sig:?}",
        input.flip
    );
}
