//! Verifying, signing into a reused buffer and the delivery decision after a
//! result allocate nothing in steady state.

use novitai_core::http::Headers;
use novitai_core::webhook::delivery::{AttemptResult, Delivery, DeliveryAction, PendingDelivery};
use novitai_core::webhook::{Schedule, Signer, UrlPolicy, Verifier, WebhookKey};
use novitai_core::{Rng, UnixTime};

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";

#[test]
fn verify_and_sign_into_allocate_nothing() {
    let key = WebhookKey::from_whsec(SECRET).unwrap();
    let signer = Signer::new(key.clone());
    let verifier = Verifier::new(key);
    let body = vec![b'x'; 1024];
    let now = UnixTime::from_secs(1_614_265_330);
    let sig = signer.sign(ID, now, &body).unwrap();
    let headers: Headers = [
        ("webhook-id", ID.to_string()),
        ("webhook-timestamp", "1614265330".to_string()),
        ("webhook-signature", format!("v1,bm90IGl0 {sig}")),
    ]
    .into_iter()
    .collect();
    let mut out = String::with_capacity(64);
    // Warm-up.
    assert!(verifier.verify(&headers, &body, now).is_ok());
    let counts = allocation_counter::measure(|| {
        for i in 0..1000u64 {
            let r = verifier.verify(
                &headers,
                &body,
                UnixTime::from_secs(1_614_265_330 + i % 300),
            );
            assert!(r.is_ok());
            out.clear();
            signer.sign_into(ID, now, &body, &mut out).unwrap();
        }
    });
    assert_eq!(counts.count_total, 0, "{counts:?}");
}

#[test]
fn delivery_decisions_allocate_nothing() {
    let signer = Signer::new(WebhookKey::from_whsec(SECRET).unwrap());
    let mut rng = Rng::new(7);
    let t0 = UnixTime::from_secs(1_700_000_000);
    let mut deliveries: Vec<Delivery> = (0..200)
        .map(|_| {
            let rec = PendingDelivery::new(
                ID,
                b"{}".to_vec(),
                "https://example.com/h",
                Schedule::long(),
                t0,
            );
            let mut d = Delivery::from_record(rec, &UrlPolicy::default()).unwrap();
            assert!(matches!(d.poll(t0, &signer), DeliveryAction::Send(_)));
            d
        })
        .collect();
    let counts = allocation_counter::measure(|| {
        for (i, d) in deliveries.iter_mut().enumerate() {
            let r = if i % 2 == 0 {
                AttemptResult::Transport
            } else {
                AttemptResult::Response {
                    status: 503,
                    retry_after: None,
                }
            };
            assert!(matches!(
                d.handle_result(r, t0, &mut rng),
                DeliveryAction::WakeAt(_)
            ));
            // Polling before the due time is a decision too.
            assert!(matches!(d.poll(t0, &signer), DeliveryAction::WakeAt(_)));
        }
    });
    assert_eq!(counts.count_total, 0, "{counts:?}");
}
