//! Webhook signing and verification of a 1 KiB body, side by side with the
//! raw `hmac` + `sha2` MAC (the floor) and the `standardwebhooks` crate.
//!
//! Run: `cargo bench -p novitai-core --bench webhook -- --warm-up-time 1 --measurement-time 3`
#![allow(missing_docs)]

use criterion::{Criterion, criterion_group, criterion_main};
use hmac::{KeyInit, Mac};
use novitai_core::UnixTime;
use novitai_core::http::Headers;
use novitai_core::webhook::{Signer, Verifier, WebhookKey};
use std::hint::black_box;

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn bench(c: &mut Criterion) {
    let body: Vec<u8> = (0..1024u32)
        .map(|i| b"{\"instanceId\":\"abc\"}"[(i % 20) as usize])
        .collect();
    let key_bytes = {
        use base64ct::Encoding as _;
        base64ct::Base64::decode_vec(SECRET.trim_start_matches("whsec_")).unwrap()
    };
    let ts = now_secs();
    let now = UnixTime::from_secs(ts);
    let key = WebhookKey::from_whsec(SECRET).unwrap();
    let signer = Signer::new(key.clone());
    let verifier = Verifier::new(key);
    let sig = signer.sign(ID, now, &body).unwrap();
    let headers: Headers = [
        ("webhook-id", ID.to_string()),
        ("webhook-timestamp", ts.to_string()),
        ("webhook-signature", sig.clone()),
    ]
    .into_iter()
    .collect();

    let mut g = c.benchmark_group("webhook_1KiB");

    // The floor: HMAC-SHA256 over id.timestamp.body with hmac + sha2 directly,
    // keyed from the raw key bytes (what code using the crates directly does).
    let ts_text = ts.to_string();
    let raw_mac = |body: &[u8]| {
        let mut m =
            <hmac::Hmac<sha2::Sha256> as KeyInit>::new_from_slice(black_box(&key_bytes)).unwrap();
        m.update(ID.as_bytes());
        m.update(b".");
        m.update(ts_text.as_bytes());
        m.update(b".");
        m.update(body);
        m.finalize().into_bytes()
    };
    g.bench_function("raw_hmac_sha2_mac", |b| {
        b.iter(|| black_box(raw_mac(black_box(&body))))
    });
    // Sign + verify computes the MAC twice; its floor is two raw MACs.
    g.bench_function("raw_hmac_sha2_mac_x2", |b| {
        b.iter(|| {
            black_box(raw_mac(black_box(&body)));
            black_box(raw_mac(black_box(&body)))
        })
    });

    let mut out = String::with_capacity(64);
    g.bench_function("novitai_sign", |b| {
        b.iter(|| {
            out.clear();
            signer
                .sign_into(black_box(ID), now, black_box(&body), &mut out)
                .unwrap();
            black_box(out.len())
        })
    });

    g.bench_function("novitai_verify", |b| {
        b.iter(|| {
            black_box(
                verifier
                    .verify(black_box(&headers), black_box(&body), now)
                    .is_ok(),
            )
        })
    });

    g.bench_function("novitai_sign_plus_verify", |b| {
        b.iter(|| {
            out.clear();
            signer
                .sign_into(black_box(ID), now, black_box(&body), &mut out)
                .unwrap();
            black_box(
                verifier
                    .verify(black_box(&headers), black_box(&body), now)
                    .is_ok(),
            )
        })
    });

    let peer = standardwebhooks::Webhook::new(SECRET).unwrap();
    let mut hm = http::HeaderMap::new();
    hm.insert("webhook-id", ID.parse().unwrap());
    hm.insert("webhook-timestamp", ts.to_string().parse().unwrap());
    hm.insert("webhook-signature", sig.parse().unwrap());
    assert!(peer.verify(&body, &hm).is_ok());
    g.bench_function("standardwebhooks_verify", |b| {
        b.iter(|| black_box(peer.verify(black_box(&body), black_box(&hm)).is_ok()))
    });
    g.bench_function("standardwebhooks_sign", |b| {
        b.iter(|| {
            black_box(
                peer.sign(black_box(ID), ts as i64, black_box(&body))
                    .unwrap(),
            )
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
