//! Properties of webhook signing, verification and delivery.

use novitai_core::http::Headers;
use novitai_core::webhook::delivery::{AttemptResult, Delivery, DeliveryAction, PendingDelivery};
use novitai_core::webhook::{Schedule, Signer, UrlPolicy, Verifier, VerifyConfig, WebhookKey};
use novitai_core::{Duration, Rng, UnixTime};
use proptest::prelude::*;

fn id_strategy() -> impl Strategy<Value = String> {
    // Visible ASCII without '.', 1 to 64 bytes.
    proptest::collection::vec(
        prop_oneof![0x21u8..=0x2d, 0x2fu8..=0x7e].prop_map(char::from),
        1..64,
    )
    .prop_map(|v| v.into_iter().collect())
}

fn keys_strategy() -> impl Strategy<Value = Vec<Vec<u8>>> {
    proptest::collection::vec(proptest::collection::vec(any::<u8>(), 1..80), 1..4)
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

fn build(keys: &[Vec<u8>]) -> (Signer, Verifier) {
    let ks: Vec<WebhookKey> = keys
        .iter()
        .map(|k| WebhookKey::from_bytes(k).unwrap())
        .collect();
    (
        Signer::with_keys(ks.clone()).unwrap(),
        Verifier::with_config(ks, VerifyConfig::default()).unwrap(),
    )
}

proptest! {
    #[test]
    fn sign_then_verify_round_trips(
        keys in keys_strategy(),
        body in proptest::collection::vec(any::<u8>(), 0..2048),
        id in id_strategy(),
        ts in 0u64..=u64::MAX / 2,
        skew in -300i64..=300,
        receiver_key in 0usize..4,
    ) {
        let (signer, _) = build(&keys);
        // A receiver that knows only one of the sender's keys still accepts.
        let k = &keys[receiver_key % keys.len()];
        let verifier = Verifier::new(WebhookKey::from_bytes(k).unwrap());
        let sig = signer.sign(&id, UnixTime::from_secs(ts), &body).unwrap();
        let h = headers(&id, &ts.to_string(), &sig);
        let now = UnixTime::from_secs(ts.saturating_add_signed(skew));
        let v = verifier.verify(&h, &body, now).unwrap();
        prop_assert_eq!(v.id, id.as_str());
        prop_assert_eq!(v.timestamp, UnixTime::from_secs(ts));
    }

    #[test]
    fn any_single_bit_flip_fails_verification(
        keys in keys_strategy(),
        body in proptest::collection::vec(any::<u8>(), 1..512),
        id in id_strategy(),
        ts in 1_000_000u64..4_000_000_000,
        which in 0u8..4,
        pos in any::<usize>(),
        bit in 0u8..8,
    ) {
        let (signer, verifier) = build(&keys);
        let now = UnixTime::from_secs(ts);
        let sig = signer.sign(&id, now, &body).unwrap();
        let mut body2 = body.clone();
        let mut id2 = id.clone().into_bytes();
        let mut ts2 = ts.to_string().into_bytes();
        let mut sig2 = sig.clone().into_bytes();
        let target: &mut Vec<u8> = match which {
            0 => &mut body2,
            1 => &mut id2,
            2 => &mut ts2,
            _ => &mut sig2,
        };
        let i = pos % target.len();
        target[i] ^= 1 << bit;
        // Header values must stay strings; a flip into invalid UTF-8 is a
        // different header, which must not verify either.
        let id2 = String::from_utf8_lossy(&id2).into_owned();
        let ts2 = String::from_utf8_lossy(&ts2).into_owned();
        let sig2 = String::from_utf8_lossy(&sig2).into_owned();
        let h = headers(&id2, &ts2, &sig2);
        // A flip inside a base64 entry can land on a second signature of a
        // multi-key header; every entry is a full MAC, so any flip breaks the
        // entry it lands in, but other entries stay valid. Use one key for
        // the signature target so that "any flip fails" is meaningful.
        if which == 3 && keys.len() > 1 {
            let single = Signer::new(WebhookKey::from_bytes(&keys[0]).unwrap());
            let s = single.sign(&id, now, &body).unwrap();
            let mut s2 = s.into_bytes();
            let i = pos % s2.len();
            s2[i] ^= 1 << bit;
            let s2 = String::from_utf8_lossy(&s2).into_owned();
            let h = headers(&id, &ts.to_string(), &s2);
            prop_assert!(verifier.verify(&h, &body, now).is_err());
        } else {
            prop_assert!(verifier.verify(&h, &body2, now).is_err(), "which={which} i={i}");
        }
    }

    #[test]
    fn verify_never_panics_on_arbitrary_headers(
        id in ".{0,80}",
        ts in ".{0,30}",
        sig in ".{0,300}",
        body in proptest::collection::vec(any::<u8>(), 0..64),
        now in any::<u64>(),
    ) {
        let verifier = Verifier::new(WebhookKey::from_bytes(b"k").unwrap());
        let _ = verifier.verify(&headers(&id, &ts, &sig), &body, UnixTime::from_secs(now));
        let lookup = |name: &str| if name == "webhook-signature" { Some(sig.as_str()) } else { Some(ts.as_str()) };
        let _ = verifier.verify(lookup, &body, UnixTime::from_secs(now));
    }

    #[test]
    fn delivery_never_exceeds_its_schedule_and_keeps_its_id(
        seed in any::<u64>(),
        which in 0u8..3,
        results in proptest::collection::vec(
            prop_oneof![
                Just(AttemptResult::Transport),
                (100u16..600, proptest::option::of(0u64..200_000)).prop_map(|(s, ra)| AttemptResult::Response {
                    status: s,
                    retry_after: ra.map(Duration::from_secs),
                }),
            ],
            1..40,
        ),
        late in 0u64..100,
    ) {
        let schedule = match which {
            0 => Schedule::node_default(),
            1 => Schedule::node_startup(),
            _ => Schedule::long(),
        };
        let max = schedule.max_attempts();
        let signer = Signer::new(WebhookKey::from_bytes(b"key").unwrap());
        let mut rng = Rng::new(seed);
        let t0 = UnixTime::from_secs(1_700_000_000);
        let rec = PendingDelivery::new("msg_prop", b"{}".to_vec(), "https://example.com/h", schedule.clone(), t0);
        let mut d = Delivery::from_record(rec, &UrlPolicy::default()).unwrap();
        let mut now = t0;
        let mut sends = 0u32;
        let mut last_failure_at = None::<UnixTime>;
        for r in results {
            match d.poll(now, &signer) {
                DeliveryAction::Send(a) => {
                    sends += 1;
                    prop_assert_eq!(a.attempt, sends);
                    prop_assert!(sends <= max);
                    prop_assert_eq!(a.request.headers.get("webhook-id"), Some("msg_prop"));
                    let ts = now.as_secs().to_string();
                    prop_assert_eq!(a.request.headers.get("webhook-timestamp"), Some(ts.as_str()));
                    // Never earlier than the schedule's lower bound.
                    if let Some(prev) = last_failure_at {
                        let (lo, _) = schedule.wait_bounds(sends - 1).unwrap();
                        prop_assert!(now.as_secs() - prev.as_secs() >= lo.as_secs());
                    }
                    match d.handle_result(r, now, &mut rng) {
                        DeliveryAction::WakeAt(t) => {
                            prop_assert!(t >= now);
                            last_failure_at = Some(now);
                            now = UnixTime::from_secs(t.as_secs() + late);
                        }
                        DeliveryAction::Delivered { attempts }
                        | DeliveryAction::EndpointGone { attempts }
                        | DeliveryAction::Failed { attempts, .. } => {
                            prop_assert_eq!(attempts, sends);
                            break;
                        }
                        other => prop_assert!(false, "unexpected {:?}", other),
                    }
                }
                other => prop_assert!(false, "unexpected {:?}", other),
            }
        }
        prop_assert!(d.record().attempt <= max);
        prop_assert_eq!(d.record().message_id.as_str(), "msg_prop");
    }
}

/// One step against the replay guard: (op, id index, seconds forward, ttl).
#[derive(Debug, Clone)]
enum ReplayOp {
    Reserve(u8, u64, u64),
    Commit(u8),
    Release(u8),
}

fn replay_op() -> impl Strategy<Value = ReplayOp> {
    prop_oneof![
        3 => (0u8..6, 0u64..40, 0u64..60).prop_map(|(i, dt, ttl)| ReplayOp::Reserve(i, dt, ttl)),
        1 => (0u8..6).prop_map(ReplayOp::Commit),
        1 => (0u8..6).prop_map(ReplayOp::Release),
    ]
}

proptest! {
    /// The guard agrees with a plain model: an id handled within its window
    /// is refused as a replay, one in progress as in progress, a released or
    /// expired one is accepted again, and it never remembers more than its
    /// capacity.
    #[test]
    fn replay_guard_matches_a_reference_model(
        capacity in 1usize..5,
        ops in proptest::collection::vec(replay_op(), 1..200),
    ) {
        use novitai_core::webhook::{ReplayError, ReplayGuard};
        use std::collections::HashMap;
        let mut guard = ReplayGuard::new(capacity);
        // id -> (done, expiry secs)
        let mut model: HashMap<u8, (bool, u64)> = HashMap::new();
        let mut now = 1_000u64;
        for op in ops {
            match op {
                ReplayOp::Reserve(i, dt, ttl) => {
                    now += dt;
                    model.retain(|_, (_, exp)| *exp >= now);
                    let want = match model.get(&i) {
                        Some((true, _)) => Err(ReplayError::Replayed),
                        Some((false, _)) => Err(ReplayError::InProgress),
                        None if model.len() >= capacity => Err(ReplayError::Full { capacity }),
                        None => Ok(()),
                    };
                    let got = guard.reserve(
                        &format!("msg_{i}"),
                        UnixTime::from_secs(now + ttl),
                        UnixTime::from_secs(now),
                    );
                    prop_assert_eq!(got, want);
                    if got.is_ok() {
                        model.insert(i, (false, now + ttl));
                    }
                }
                ReplayOp::Commit(i) => {
                    guard.commit(&format!("msg_{i}"));
                    if let Some(e) = model.get_mut(&i) {
                        e.0 = true;
                    }
                }
                ReplayOp::Release(i) => {
                    guard.release(&format!("msg_{i}"));
                    if matches!(model.get(&i), Some((false, _))) {
                        model.remove(&i);
                    }
                }
            }
            prop_assert!(guard.len() <= capacity);
        }
    }
}
