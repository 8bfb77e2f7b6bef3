#![allow(clippy::field_reassign_with_default)]
//! The request engine, story by story, against a scripted server in virtual
//! time.

use novitai_core::breaker::State;
use novitai_core::engine::{
    Completed, Completion, Engine, EngineConfig, Event, Input, Output, RequestId, RequestOptions,
    Transmit,
};
use novitai_core::http::{HttpRequest, HttpResponse, Method};
use novitai_core::limiter::{RateLimitConfig, WindowConfig};
use novitai_core::retry::{Jitter, RetryConfig, TransportErrorKind};
use novitai_core::{Duration, Instant};

/// What the scripted server does with one transmission.
#[derive(Clone)]
enum Reply {
    After(Duration, HttpResponse),
    Reset(Duration),
    Hang,
}

fn ok(body: &str) -> Reply {
    Reply::After(Duration::from_millis(50), HttpResponse::new(200, body))
}

fn status(code: u16) -> Reply {
    Reply::After(Duration::from_millis(50), HttpResponse::new(code, "{}"))
}

struct Harness {
    engine: Engine,
    now: Instant,
    /// (deliver at, attempt, reply)
    pending: Vec<(Instant, Transmit, Result<HttpResponse, TransportErrorKind>)>,
    events: Vec<(Instant, Event)>,
    transmits: Vec<(Instant, Transmit)>,
    max_outstanding: usize,
}

impl Harness {
    fn new(config: EngineConfig) -> Harness {
        Harness {
            engine: Engine::new(config, 42, Instant::ZERO).expect("valid config"),
            now: Instant::ZERO,
            pending: Vec::new(),
            events: Vec::new(),
            transmits: Vec::new(),
            max_outstanding: 0,
        }
    }

    fn get(&mut self, path: &str) -> RequestId {
        self.submit(HttpRequest::new(Method::Get, path), RequestOptions::new())
    }

    fn submit(&mut self, req: HttpRequest, opts: RequestOptions) -> RequestId {
        self.engine.submit(req, opts, self.now).expect("accepted")
    }

    /// Drains outputs, answering transmissions with `server`, and advances
    /// virtual time until nothing is pending or `until` is reached.
    fn run(&mut self, until: Instant, server: &mut dyn FnMut(&Transmit, Instant) -> Reply) {
        loop {
            let wake = loop {
                match self.engine.poll_output() {
                    Output::Transmit(t) => {
                        self.transmits.push((self.now, t.clone()));
                        match server(&t, self.now) {
                            Reply::After(d, r) => self.pending.push((self.now + d, t, Ok(r))),
                            Reply::Reset(d) => self.pending.push((
                                self.now + d,
                                t,
                                Err(TransportErrorKind::ConnectionReset),
                            )),
                            Reply::Hang => {}
                        }
                    }
                    Output::Event(e) => self.events.push((self.now, e)),
                    Output::Timeout(at) => break at,
                }
            };
            let outstanding = self.engine.status(self.now).in_flight;
            self.max_outstanding = self.max_outstanding.max(outstanding);
            let next_delivery = self.pending.iter().map(|p| p.0).min();
            let next = match (wake, next_delivery) {
                (Some(a), Some(b)) => a.min(b),
                (Some(a), None) => a,
                (None, Some(b)) => b,
                (None, None) => return,
            };
            if next > until {
                self.now = until;
                return;
            }
            self.now = next;
            if let Some(i) = self.pending.iter().position(|p| p.0 <= self.now) {
                let (_, t, r) = self.pending.remove(i);
                let input = match r {
                    Ok(response) => Input::Response {
                        attempt: t.attempt,
                        now: self.now,
                        response,
                    },
                    Err(kind) => Input::TransportError {
                        attempt: t.attempt,
                        now: self.now,
                        kind,
                    },
                };
                self.engine.handle_input(input);
            } else {
                self.engine.handle_input(Input::Timeout(self.now));
            }
        }
    }

    fn completions(&self) -> Vec<&Completed> {
        self.events
            .iter()
            .filter_map(|(_, e)| match e {
                Event::Completed(c) => Some(c),
                _ => None,
            })
            .collect()
    }

    fn completion(&self, id: RequestId) -> &Completed {
        let all: Vec<_> = self
            .completions()
            .into_iter()
            .filter(|c| c.id == id)
            .collect();
        assert_eq!(
            all.len(),
            1,
            "request {id} must complete exactly once: {all:?}"
        );
        all[0]
    }
}

fn secs(s: u64) -> Instant {
    Instant::from_millis(s * 1000)
}

fn no_jitter() -> EngineConfig {
    EngineConfig {
        retry: RetryConfig {
            jitter: Jitter::None,
            ..RetryConfig::default()
        },
        ..EngineConfig::default()
    }
}

#[test]
fn a_request_is_sent_with_a_correlation_id_and_completes_once() {
    let mut h = Harness::new(EngineConfig::default());
    let id = h.get("/v1/clusters");
    h.run(secs(60), &mut |_, _| ok("{\"data\":[]}"));
    let c = h.completion(id);
    assert!(c.outcome.is_success());
    assert_eq!(c.attempts, 1);
    let (_, t) = &h.transmits[0];
    let header = t
        .request
        .headers
        .get("x-correlation-id")
        .expect("header sent");
    assert_eq!(header, c.correlation_id.as_str());
    assert!(header.starts_with("nv-"));
}

#[test]
fn two_503s_then_success_retries_after_one_and_two_seconds() {
    let mut h = Harness::new(no_jitter());
    let id = h.get("/v1/products");
    let mut n = 0;
    h.run(secs(120), &mut |_, _| {
        n += 1;
        if n <= 2 { status(503) } else { ok("{}") }
    });
    let c = h.completion(id);
    assert!(c.outcome.is_success());
    assert_eq!(c.attempts, 3);
    let sent: Vec<u64> = h.transmits.iter().map(|(t, _)| t.as_millis()).collect();
    // 503 arrives after 50 ms; retries 1 s and 2 s after each failure.
    assert_eq!(sent, vec![0, 1_050, 3_100]);
}

#[test]
fn a_404_is_final_and_not_retried() {
    let mut h = Harness::new(no_jitter());
    let id = h.get("/v1/gpu/instance?instanceId=nope");
    h.run(secs(60), &mut |_, _| status(404));
    let c = h.completion(id);
    assert!(matches!(&c.outcome, Completion::Ok(r) if r.status == 404));
    assert_eq!(h.transmits.len(), 1);
}

#[test]
fn retries_stop_at_max_attempts_and_report_the_last_failure() {
    let mut h = Harness::new(no_jitter());
    let id = h.get("/v1/clusters");
    h.run(secs(120), &mut |_, _| status(502));
    let c = h.completion(id);
    match &c.outcome {
        Completion::GaveUp { last, attempts } => {
            assert_eq!(*attempts, 3);
            assert_eq!(last.status(), Some(502));
        }
        other => panic!("expected GaveUp, got {other:?}"),
    }
}

#[test]
fn five_503s_open_the_breaker_and_after_60_s_one_probe_goes_through() {
    let mut config = no_jitter();
    config.retry.max_attempts = 1;
    let mut h = Harness::new(config);
    for _ in 0..5 {
        h.get("/v1/clusters?x=1");
        h.run(h.now + Duration::from_secs(1), &mut |_, _| status(503));
    }
    assert!(h.events.iter().any(|(_, e)| matches!(
        e,
        Event::BreakerTransition(t) if t.to == State::Open
    )));
    // While open: fail fast, nothing sent.
    let sent_before = h.transmits.len();
    let id = h.get("/v1/clusters?x=2");
    h.run(h.now, &mut |_, _| ok("{}"));
    let c = h.completion(id);
    let Completion::BreakerOpen { until } = c.outcome else {
        panic!("expected BreakerOpen, got {:?}", c.outcome)
    };
    assert_eq!(h.transmits.len(), sent_before);
    assert!(until > h.now && until <= h.now + Duration::from_secs(60));
    // After the open time a probe goes through and its success is reported.
    h.run(until, &mut |_, _| ok("{}"));
    let probe = h.get("/v1/clusters?x=3");
    h.run(until + Duration::from_secs(5), &mut |_, _| ok("{}"));
    assert!(h.completion(probe).outcome.is_success());
    assert!(
        h.events
            .iter()
            .any(|(_, e)| matches!(e, Event::AttemptStarted { probe: true, .. }))
    );
}

#[test]
fn a_hung_server_is_timed_out_by_the_engine_and_its_late_answer_ignored() {
    let mut config = no_jitter();
    config.retry.max_attempts = 1;
    let mut h = Harness::new(config);
    let id = h.get("/v1/clusters");
    h.run(secs(100), &mut |_, _| Reply::Hang);
    let c = h.completion(id);
    assert!(matches!(
        c.outcome,
        Completion::GaveUp {
            last: novitai_core::engine::Failure::Transport(TransportErrorKind::Timeout),
            attempts: 1
        }
    ));
    assert_eq!(c.completed_at, secs(30));
    // The answer finally arrives: ignored, no second completion.
    let attempt = h.transmits[0].1.attempt;
    h.engine.handle_input(Input::Response {
        attempt,
        now: secs(101),
        response: HttpResponse::new(200, "{}"),
    });
    h.run(secs(102), &mut |_, _| ok("{}"));
    assert!(
        h.events
            .iter()
            .any(|(_, e)| matches!(e, Event::LateAnswerIgnored { .. }))
    );
    h.completion(id);
}

#[test]
fn requests_run_concurrently_up_to_the_cap_and_no_further() {
    let mut config = EngineConfig::default();
    config.max_in_flight = 4;
    let mut h = Harness::new(config);
    let ids: Vec<_> = (0..20)
        .map(|i| h.get(&format!("/v1/gpu/instance?instanceId={i}")))
        .collect();
    h.run(secs(600), &mut |_, _| {
        Reply::After(Duration::from_secs(1), HttpResponse::new(200, "{}"))
    });
    assert_eq!(h.max_outstanding, 4);
    for id in ids {
        assert!(h.completion(id).outcome.is_success());
    }
    // Four at a time, one second each: 20 requests take 5 s, not 20 s.
    assert_eq!(
        h.completions().iter().map(|c| c.completed_at).max(),
        Some(secs(5))
    );
}

#[test]
fn admission_is_fifo() {
    let mut config = EngineConfig::default();
    config.max_in_flight = 1;
    let mut h = Harness::new(config);
    let ids: Vec<_> = (0..10).map(|i| h.get(&format!("/v1/x?i={i}"))).collect();
    h.run(secs(600), &mut |_, _| ok("{}"));
    let order: Vec<RequestId> = h.transmits.iter().map(|(_, t)| t.request_id).collect();
    assert_eq!(order, ids);
}

#[test]
fn a_429_with_retry_after_holds_every_admission() {
    let mut h = Harness::new(no_jitter());
    let first = h.get("/v1/a");
    let mut n = 0;
    h.run(secs(1), &mut |_, _| {
        n += 1;
        let mut r = HttpResponse::new(429, "{}");
        r.headers.set("Retry-After", "10");
        if n == 1 {
            Reply::After(Duration::from_millis(50), r)
        } else {
            ok("{}")
        }
    });
    let other = h.get("/v1/b");
    h.run(secs(60), &mut |_, _| ok("{}"));
    assert!(h.events.iter().any(|(_, e)| matches!(
        e,
        Event::RateLimited {
            by_server: true,
            ..
        }
    )));
    // Nothing at all was sent between the 429 and its Retry-After.
    let held_until = Instant::from_millis(10_050);
    assert!(h.transmits.iter().skip(1).all(|(t, _)| *t >= held_until));
    assert!(h.completion(first).outcome.is_success());
    assert!(h.completion(other).outcome.is_success());
}

#[test]
fn identical_gets_in_flight_share_one_transmission() {
    let mut h = Harness::new(EngineConfig::default());
    let ids: Vec<_> = (0..3).map(|_| h.get("/v1/clusters")).collect();
    h.run(secs(10), &mut |_, _| ok("{\"data\":[]}"));
    assert_eq!(h.transmits.len(), 1);
    for id in ids {
        assert!(h.completion(id).outcome.is_success());
    }
    assert_eq!(
        h.events
            .iter()
            .filter(|(_, e)| matches!(e, Event::Coalesced { .. }))
            .count(),
        2
    );
}

#[test]
fn when_the_leader_of_shared_gets_is_cancelled_the_retry_carries_the_next_ones_correlation_id() {
    // Found by the simulation suite (tests/, seed 26): the follower took over
    // the transmission but retries kept sending the cancelled leader's id.
    let mut h = Harness::new(no_jitter());
    let leader = h.submit(
        HttpRequest::new(Method::Get, "/v1/clusters"),
        RequestOptions::new().correlation_id("leader"),
    );
    let follower = h.submit(
        HttpRequest::new(Method::Get, "/v1/clusters"),
        RequestOptions::new().correlation_id("follower"),
    );
    h.run(secs(0) + Duration::from_millis(100), &mut |_, _| {
        status(503)
    });
    assert!(h.engine.cancel(leader, h.now));
    h.run(secs(10), &mut |_, _| ok("{\"data\":[]}"));
    assert_eq!(h.transmits.len(), 2);
    let (_, retry) = &h.transmits[1];
    assert_eq!(retry.request_id, follower);
    assert_eq!(retry.correlation_id.as_str(), "follower");
    assert_eq!(
        retry.request.headers.get("X-Correlation-ID"),
        Some("follower")
    );
    assert!(h.completion(follower).outcome.is_success());
}

#[test]
fn cached_answers_complete_without_a_transmission() {
    let mut config = EngineConfig::default();
    config.cache.enabled = true;
    let mut h = Harness::new(config);
    let opts = || RequestOptions::new().cacheable(true);
    let a = h.submit(HttpRequest::new(Method::Get, "/v1/products"), opts());
    h.run(secs(1), &mut |_, _| ok("[1]"));
    let b = h.submit(HttpRequest::new(Method::Get, "/v1/products"), opts());
    h.run(secs(2), &mut |_, _| ok("[2]"));
    assert_eq!(h.transmits.len(), 1);
    let cb = h.completion(b);
    assert!(cb.from_cache);
    assert_eq!(cb.attempts, 0);
    assert!(matches!(&cb.outcome, Completion::Ok(r) if r.body == b"[1]"));
    assert!(!h.completion(a).from_cache);
    // After the TTL the answer is fetched again.
    h.now = secs(400);
    let c = h.submit(HttpRequest::new(Method::Get, "/v1/products"), opts());
    h.run(secs(401), &mut |_, _| ok("[3]"));
    assert!(!h.completion(c).from_cache);
    assert_eq!(h.transmits.len(), 2);
}

#[test]
fn a_cancelled_request_completes_once_and_its_answer_is_ignored() {
    let mut h = Harness::new(EngineConfig::default());
    let id = h.get("/v1/slow");
    h.run(secs(1), &mut |_, _| {
        Reply::After(Duration::from_secs(5), HttpResponse::new(200, "{}"))
    });
    assert!(h.engine.cancel(id, h.now));
    assert!(!h.engine.cancel(id, h.now), "second cancel finds nothing");
    h.run(secs(10), &mut |_, _| ok("{}"));
    assert_eq!(h.completion(id).outcome, Completion::Cancelled);
    assert!(
        h.events
            .iter()
            .any(|(_, e)| matches!(e, Event::LateAnswerIgnored { .. }))
    );
}

#[test]
fn a_queued_request_past_its_deadline_completes_deadline_exceeded() {
    let mut config = EngineConfig::default();
    config.max_in_flight = 1;
    let mut h = Harness::new(config);
    let _slow = h.get("/v1/slow");
    let late = h.submit(
        HttpRequest::new(Method::Get, "/v1/other"),
        RequestOptions::new().deadline(secs(2)),
    );
    h.run(secs(20), &mut |_, _| {
        Reply::After(Duration::from_secs(5), HttpResponse::new(200, "{}"))
    });
    let c = h.completion(late);
    assert_eq!(c.outcome, Completion::DeadlineExceeded);
    assert_eq!(c.completed_at, secs(2));
    assert_eq!(h.transmits.len(), 1);
}

#[test]
fn a_create_that_timed_out_is_not_sent_twice() {
    let mut h = Harness::new(no_jitter());
    let id = h.submit(
        HttpRequest::new(Method::Post, "/v1/gpu/instance/create"),
        RequestOptions::new(),
    );
    h.run(secs(120), &mut |_, _| {
        Reply::Reset(Duration::from_millis(10))
    });
    assert_eq!(h.transmits.len(), 1, "a reset POST may have been processed");
    assert!(matches!(
        h.completion(id).outcome,
        Completion::GaveUp { attempts: 1, .. }
    ));
}

#[test]
fn shutdown_cancels_everything_and_refuses_new_work() {
    let mut config = EngineConfig::default();
    config.max_in_flight = 1;
    let mut h = Harness::new(config);
    let ids: Vec<_> = (0..5).map(|i| h.get(&format!("/v1/x?{i}"))).collect();
    h.run(secs(1), &mut |_, _| Reply::Hang);
    h.engine.shutdown(h.now);
    h.run(secs(2), &mut |_, _| Reply::Hang);
    for id in ids {
        assert_eq!(h.completion(id).outcome, Completion::Cancelled);
    }
    assert!(
        h.engine
            .submit(
                HttpRequest::new(Method::Get, "/v1/y"),
                RequestOptions::new(),
                h.now
            )
            .is_err()
    );
    assert_eq!(h.engine.poll_output(), Output::Timeout(None));
}

#[test]
fn the_sliding_window_admits_100_per_minute_like_the_node_client() {
    let mut config = EngineConfig::default();
    config.max_in_flight = 64;
    config.queue = novitai_core::queue::QueueConfig::new(1000).unwrap();
    config.rate_limit = RateLimitConfig::SlidingWindow(WindowConfig::default());
    let mut h = Harness::new(config);
    let ids: Vec<_> = (0..150).map(|i| h.get(&format!("/v1/x?{i}"))).collect();
    h.run(secs(300), &mut |_, _| ok("{}"));
    let times: Vec<Instant> = h.transmits.iter().map(|(t, _)| *t).collect();
    assert_eq!(times.len(), 150);
    for (i, t) in times.iter().enumerate() {
        let in_window = times[i..]
            .iter()
            .take_while(|u| **u < *t + Duration::from_secs(60))
            .count();
        assert!(
            in_window <= 100,
            "{in_window} admissions in the minute from {t}"
        );
    }
    assert!(times[100] >= times[0] + Duration::from_secs(60));
    for id in ids {
        assert!(h.completion(id).outcome.is_success());
    }
}

#[test]
fn status_reports_queue_breaker_and_limiter() {
    let mut config = EngineConfig::default();
    config.max_in_flight = 2;
    let mut h = Harness::new(config);
    for i in 0..5 {
        h.get(&format!("/v1/x?{i}"));
    }
    h.run(Instant::from_millis(10), &mut |_, _| Reply::Hang);
    let s = h.engine.status(h.now);
    assert_eq!(s.queued, 3);
    assert_eq!(s.in_flight, 2);
    assert_eq!(s.active, 2);
    assert_eq!(s.breaker, State::Closed);
    assert_eq!(s.submitted, 5);
    assert_eq!(s.completed, 0);
}

#[test]
fn a_body_too_large_gives_up_at_once_without_a_fake_response() {
    let mut h = Harness::new(no_jitter());
    let id = h.get("/v1/gpu/instances?pageSize=10&pageNum=1");
    h.run(secs(1), &mut |_, _| Reply::Hang);
    let t = h.transmits[0].1.clone();
    h.engine.handle_input(Input::TransportError {
        attempt: t.attempt,
        now: h.now,
        kind: TransportErrorKind::BodyTooLarge,
    });
    h.run(secs(60), &mut |_, _| ok("{}"));
    let c = h.completion(id);
    assert_eq!(
        c.outcome,
        Completion::GaveUp {
            last: novitai_core::engine::Failure::Transport(TransportErrorKind::BodyTooLarge),
            attempts: 1
        }
    );
    assert_eq!(h.transmits.len(), 1);
}

/// The breaker trips the engine has shared (its own, not adopted ones).
fn own_trips(h: &Harness) -> Vec<Instant> {
    h.events
        .iter()
        .filter_map(|(_, e)| match e {
            Event::BreakerTransition(t) => t.own_trip(),
            _ => None,
        })
        .collect()
}

#[test]
fn a_trip_in_one_worker_holds_another_healthy_worker_open_until_then_and_it_probes_after() {
    let mut config = no_jitter();
    config.retry.max_attempts = 1;
    // Worker A sees five 503s and trips; worker B has seen only successes.
    let mut a = Harness::new(config.clone());
    let mut b = Harness::new(config);
    for _ in 0..5 {
        a.get("/v1/clusters?x=1");
        a.run(a.now + Duration::from_secs(1), &mut |_, _| status(503));
    }
    b.get("/v1/clusters?x=1");
    b.run(a.now, &mut |_, _| ok("{}"));
    let shared = own_trips(&a);
    assert_eq!(shared.len(), 1, "A reports its own trip, once");
    let until = shared[0];
    let tripped_at = a
        .events
        .iter()
        .find_map(|(_, e)| match e {
            Event::BreakerTransition(t) if t.to == State::Open => Some(t.at),
            _ => None,
        })
        .unwrap();
    assert_eq!(
        until,
        tripped_at + Duration::from_secs(60),
        "open for the default 60 s"
    );

    // A's trip reaches B through the store a little later.
    b.now = a.now + Duration::from_millis(300);
    assert!(b.engine.adopt_trip(until, b.now));
    assert!(
        !b.engine.adopt_trip(until, b.now),
        "the same trip twice: no change"
    );
    b.run(b.now, &mut |_, _| ok("{}"));
    assert!(
        own_trips(&b).is_empty(),
        "an adopted trip is not shared again"
    );
    assert!(b.events.iter().any(|(_, e)| matches!(
        e,
        Event::BreakerTransition(t) if t.to == State::Open && t.adopted && t.open_until == Some(until)
    )));

    // B refuses at once, sending nothing, and says until when.
    let sent = b.transmits.len();
    let id = b.get("/v1/clusters?x=2");
    b.run(b.now, &mut |_, _| ok("{}"));
    assert_eq!(
        b.completion(id).outcome,
        Completion::BreakerOpen { until },
        "B holds its request as breaker-open"
    );
    assert_eq!(b.transmits.len(), sent);

    // After the shared open time B probes, and three good probes close it.
    b.run(until, &mut |_, _| ok("{}"));
    for i in 0..3 {
        let probe = b.get(&format!("/v1/clusters?p={i}"));
        b.run(b.now + Duration::from_secs(1), &mut |_, _| ok("{}"));
        assert!(b.completion(probe).outcome.is_success());
    }
    assert_eq!(b.engine.status(b.now).breaker, State::Closed);
    assert!(
        b.events
            .iter()
            .any(|(_, e)| matches!(e, Event::AttemptStarted { probe: true, .. }))
    );
}

#[test]
fn an_adopted_trip_never_shortens_the_engines_own_longer_open_time() {
    let mut config = no_jitter();
    config.retry.max_attempts = 1;
    let mut h = Harness::new(config);
    for _ in 0..5 {
        h.get("/v1/clusters?x=1");
        h.run(h.now + Duration::from_secs(1), &mut |_, _| status(503));
    }
    let own = own_trips(&h)[0];
    assert!(!h.engine.adopt_trip(own - Duration::from_secs(30), h.now));
    assert_eq!(h.engine.status(h.now).breaker_open_until, Some(own));
    // A longer one lengthens it.
    assert!(h.engine.adopt_trip(own + Duration::from_secs(30), h.now));
    assert_eq!(
        h.engine.status(h.now).breaker_open_until,
        Some(own + Duration::from_secs(30))
    );
    // A forced-open engine is left alone.
    h.engine.force_breaker_open(h.now);
    assert!(!h.engine.adopt_trip(own + Duration::from_secs(90), h.now));
    assert_eq!(h.engine.status(h.now).breaker, State::ForcedOpen);
}
