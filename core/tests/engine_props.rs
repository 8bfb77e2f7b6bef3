//! Property tests for the request engine: random request mixes against a
//! random scripted server, random configs and random clock advancement, with
//! every guarantee of the engine checked after every step against a model
//! kept here (what was sent, what was answered, what is still live).
//!
//! Guarantees checked:
//! - exactly-once completion (and everything completes in the end);
//! - nothing transmitted while the breaker is open or forced open; half-open
//!   probes out never exceed the configured count;
//! - transmissions (first tries and retries together) never exceed the rate
//!   limiter's quota in any window, and nothing goes before a 429's
//!   `Retry-After` ends;
//! - attempts per request ≤ `max_attempts`; live transmissions ≤
//!   `max_in_flight`;
//! - FIFO first transmissions within a priority;
//! - `Output::Timeout(Some(t))` never in the past, strictly in the future
//!   after a mutation, and draining `poll_output` terminates;
//! - a completion's answer is one the server gave (never invented);
//! - same seed and inputs → the same outputs.

use std::collections::{BTreeMap, BTreeSet};

use novitai_core::breaker::{BreakerConfig, OpenDuration, State, Window};
use novitai_core::engine::{
    AttemptId, Completion, Engine, EngineConfig, Event, Input, Output, RequestId, RequestOptions,
};
use novitai_core::http::{HttpRequest, HttpResponse, Method};
use novitai_core::limiter::{GcraConfig, RateLimitConfig, WindowConfig};
use novitai_core::queue::{Priority, QueueConfig};
use novitai_core::retry::{
    Backoff, HttpDate, Jitter, RetryBudgetConfig, RetryConfig, TransportErrorKind,
};
use novitai_core::{Duration, Instant, UnixTime};
use proptest::prelude::*;

// ---------------------------------------------------------------------------
// Inputs
// ---------------------------------------------------------------------------

/// A 429's `Retry-After`, as the server sends it.
#[derive(Clone, Debug)]
enum RetryAfterHdr {
    Absent,
    /// Delay in seconds.
    Delta(u64),
    /// An HTTP-date this many seconds ahead of the response's `Date` header
    /// (or with no `Date` header at all, when the engine cannot resolve it).
    Date {
        ahead: u64,
        date_header: bool,
    },
}

/// What the server does with one transmission.
#[derive(Clone, Debug)]
enum Reply {
    Status {
        code: u16,
        retry_after: RetryAfterHdr,
        latency_ms: u64,
    },
    Transport {
        kind: TransportErrorKind,
        latency_ms: u64,
    },
    Hang,
}

#[derive(Clone, Debug)]
struct Req {
    get: bool,
    /// GETs share one of a few paths so duplicates coalesce and hit the cache.
    path: u8,
    priority: Priority,
    /// Deadline relative to submission, in ms.
    deadline_ms: Option<u64>,
    cacheable: bool,
    coalesce: bool,
}

#[derive(Clone, Debug)]
enum Op {
    Submit {
        req: Req,
        skew_ms: u64,
    },
    Cancel {
        pick: usize,
        skew_ms: u64,
    },
    /// Let time pass, answering transmissions and firing the engine's timer.
    Advance(u64),
    /// A spurious wake-up (possibly with an earlier `now`).
    Tick {
        skew_ms: u64,
    },
    Status,
    Shutdown,
    ForceOpen,
    ResetBreaker,
    /// A trip seen elsewhere, holding until this many ms from now.
    AdoptTrip(u64),
}

#[derive(Clone, Debug)]
struct Scenario {
    config: EngineConfig,
    seed: u64,
    replies: Vec<Reply>,
    ops: Vec<Op>,
}

// ---------------------------------------------------------------------------
// Strategies
// ---------------------------------------------------------------------------

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn ms(v: u64) -> Duration {
    Duration::from_millis(v)
}

fn breaker_strategy() -> impl Strategy<Value = BreakerConfig> {
    let open = prop_oneof![
        (1u64..=60).prop_map(|s| OpenDuration::Fixed(secs(s))),
        (1u64..=20, 1u32..=3, 20u64..=120).prop_map(|(i, f, m)| OpenDuration::Exponential {
            initial: secs(i),
            factor: f64::from(f),
            max: secs(m),
        }),
    ];
    let policy = prop_oneof![
        // consecutive failures
        (1u32..=10).prop_map(|n| (Some(n), None, Window::Count(10), 1u32)),
        // failure rate over a count window
        (1u32..=10, 1u32..=10, 1u32..=10).prop_map(|(w, m, r)| (
            None,
            Some(f64::from(r) / 10.0),
            Window::Count(w),
            m.min(w)
        )),
        // failure rate over a time window
        (1u32..=30, 1u32..=5, 1u32..=10).prop_map(|(w, m, r)| (
            None,
            Some(f64::from(r) / 10.0),
            Window::Seconds(w),
            m
        )),
        // both
        (1u32..=5, 1u32..=10).prop_map(|(n, w)| (Some(n), Some(0.5), Window::Count(w), 1)),
    ];
    (policy, open, 1u32..=3, 1u32..=3, 1u64..=60).prop_map(
        |((consecutive, rate, window, minimum), open, probes, successes, wait)| BreakerConfig {
            consecutive_failures: consecutive,
            failure_rate: rate,
            slow_calls: None,
            window,
            minimum_calls: minimum,
            open_duration: open,
            half_open_probes: probes,
            half_open_successes: successes,
            probe_max_wait: secs(wait),
        },
    )
}

fn limiter_strategy() -> impl Strategy<Value = RateLimitConfig> {
    prop_oneof![
        (1u32..=10, 1u64..=30).prop_map(|(max, w)| RateLimitConfig::SlidingWindow(WindowConfig {
            max,
            window: secs(w)
        })),
        (1u64..=10, 1u64..=30, 1u64..=5).prop_map(|(cells, p, burst)| RateLimitConfig::Gcra(
            GcraConfig {
                cells,
                period: secs(p),
                burst
            }
        )),
    ]
}

fn config_strategy() -> impl Strategy<Value = EngineConfig> {
    let jitter = prop_oneof![
        Just(Jitter::None),
        Just(Jitter::Full),
        Just(Jitter::Equal),
        Just(Jitter::Decorrelated),
    ];
    let backoff = prop_oneof![
        (100u64..=2_000).prop_map(|b| Backoff::Exponential {
            base: ms(b),
            factor: 2.0,
            cap: secs(30)
        }),
        (100u64..=5_000).prop_map(|d| Backoff::Constant { delay: ms(d) }),
    ];
    (
        1usize..=16,
        5u64..=120,
        (1u32..=10, jitter, backoff, any::<bool>()),
        breaker_strategy(),
        limiter_strategy(),
        (any::<bool>(), 1u64..=300),
        prop_oneof![3 => Just(1000usize), 1 => 1usize..=8],
    )
        .prop_map(
            |(
                max_in_flight,
                timeout,
                (attempts, jitter, backoff, budget),
                breaker,
                rate_limit,
                (cache, ttl),
                queue,
            )| {
                let mut config = EngineConfig {
                    max_in_flight,
                    attempt_timeout: secs(timeout),
                    queue: QueueConfig::new(queue).expect("capacity ≥ 1"),
                    breaker,
                    rate_limit,
                    retry: RetryConfig {
                        max_attempts: attempts,
                        backoff,
                        jitter,
                        ..RetryConfig::default()
                    },
                    retry_budget: budget.then(RetryBudgetConfig::default),
                    ..EngineConfig::default()
                };
                config.cache.enabled = cache;
                config.cache.ttl = secs(ttl);
                config
            },
        )
}

fn retry_after_strategy() -> impl Strategy<Value = RetryAfterHdr> {
    prop_oneof![
        Just(RetryAfterHdr::Absent),
        (0u64..=30).prop_map(RetryAfterHdr::Delta),
        (0u64..=30, any::<bool>())
            .prop_map(|(ahead, date_header)| RetryAfterHdr::Date { ahead, date_header }),
    ]
}

fn reply_strategy() -> impl Strategy<Value = Reply> {
    let latency = prop_oneof![3 => 0u64..=2_000, 1 => 0u64..=40_000];
    let code = prop::sample::select(vec![200u16, 201, 400, 401, 404, 408, 500, 502, 503, 504]);
    prop_oneof![
        5 => (code, latency.clone()).prop_map(|(code, latency_ms)| Reply::Status {
            code,
            retry_after: RetryAfterHdr::Absent,
            latency_ms
        }),
        2 => (retry_after_strategy(), latency.clone()).prop_map(|(retry_after, latency_ms)| {
            Reply::Status {
                code: 429,
                retry_after,
                latency_ms,
            }
        }),
        2 => (
            prop::sample::select(vec![
                TransportErrorKind::ConnectionReset,
                TransportErrorKind::ConnectionRefused,
                TransportErrorKind::Other,
                TransportErrorKind::BodyTooLarge,
            ]),
            latency
        )
            .prop_map(|(kind, latency_ms)| Reply::Transport { kind, latency_ms }),
        1 => Just(Reply::Hang),
    ]
}

fn req_strategy() -> impl Strategy<Value = Req> {
    (
        prop::bool::weighted(0.75),
        0u8..4,
        prop::sample::select(vec![Priority::High, Priority::Normal, Priority::Low]),
        prop::option::weighted(0.3, 0u64..=60_000),
        any::<bool>(),
        prop::bool::weighted(0.8),
    )
        .prop_map(
            |(get, path, priority, deadline_ms, cacheable, coalesce)| Req {
                get,
                path,
                priority,
                deadline_ms,
                cacheable,
                coalesce,
            },
        )
}

fn skew() -> impl Strategy<Value = u64> {
    prop_oneof![4 => Just(0u64), 1 => 1u64..=10_000]
}

fn op_strategy() -> impl Strategy<Value = Op> {
    prop_oneof![
        10 => (req_strategy(), skew()).prop_map(|(req, skew_ms)| Op::Submit { req, skew_ms }),
        2 => (any::<usize>(), skew()).prop_map(|(pick, skew_ms)| Op::Cancel { pick, skew_ms }),
        8 => prop_oneof![0u64..=500, 0u64..=10_000, 0u64..=120_000].prop_map(Op::Advance),
        1 => skew().prop_map(|skew_ms| Op::Tick { skew_ms }),
        1 => Just(Op::Status),
        1 => prop_oneof![3 => Just(Op::ResetBreaker), 1 => Just(Op::ForceOpen)],
        1 => prop_oneof![0u64..=2_000, 0u64..=90_000].prop_map(Op::AdoptTrip),
    ]
}

fn scenario_strategy() -> impl Strategy<Value = Scenario> {
    (
        config_strategy(),
        any::<u64>(),
        prop::collection::vec(reply_strategy(), 1..16),
        prop::collection::vec(op_strategy(), 1..80),
        prop::bool::weighted(0.2),
    )
        .prop_map(|(config, seed, replies, mut ops, shutdown)| {
            if shutdown {
                let at = (seed as usize) % (ops.len() + 1);
                ops.insert(at, Op::Shutdown);
            }
            Scenario {
                config,
                seed,
                replies,
                ops,
            }
        })
}

// ---------------------------------------------------------------------------
// The driver and its model
// ---------------------------------------------------------------------------

const WALL_EPOCH: u64 = 1_700_000_000;

enum Delivery {
    Response(HttpResponse),
    Transport(TransportErrorKind),
}

struct Pending {
    at: Instant,
    seq: u64,
    attempt: AttemptId,
    delivery: Delivery,
}

struct ReqModel {
    flight: RequestId,
    deadline: Option<Instant>,
    submitted_at: Instant,
    path: String,
    done: bool,
}

struct FlightModel {
    priority: Priority,
    members: BTreeSet<RequestId>,
    transmissions: u32,
    /// (status, body) of the last answer delivered to a live attempt.
    last_answer: Option<(u16, Vec<u8>)>,
}

struct AttemptModel {
    flight: RequestId,
    live: bool,
}

enum Limit {
    Window { max: usize, window: u64 },
    Gcra { burst: u64, interval_ticks: u64 },
}

struct Sim {
    engine: Engine,
    config: EngineConfig,
    clock: Instant,
    replies: Vec<Reply>,
    next_reply: usize,
    final_phase: bool,
    pending: Vec<Pending>,
    seq: u64,
    wake: Option<Instant>,
    /// Debug of every output, in order, for the determinism check.
    trace: Vec<String>,
    // --- model ---
    requests: BTreeMap<RequestId, ReqModel>,
    flights: BTreeMap<RequestId, FlightModel>,
    attempts: BTreeMap<AttemptId, AttemptModel>,
    /// The attempt announced by the last AttemptStarted, awaiting its Transmit.
    announced: Option<AttemptId>,
    breaker: State,
    probes_out: BTreeSet<AttemptId>,
    transmit_times: Vec<Instant>,
    limit: Limit,
    hold_until: Instant,
    last_first_try: BTreeMap<u8, RequestId>,
    /// Bodies of 2xx answers delivered to live attempts, per path (for the cache).
    ok_bodies: BTreeMap<String, BTreeSet<Vec<u8>>>,
    shut: bool,
    submitted: u64,
    completed: u64,
}

impl Sim {
    fn new(s: &Scenario) -> Sim {
        let limit = match s.config.rate_limit {
            RateLimitConfig::SlidingWindow(w) => Limit::Window {
                max: w.max as usize,
                window: w.window.as_millis(),
            },
            RateLimitConfig::Gcra(g) => Limit::Gcra {
                burst: g.burst,
                interval_ticks: (g.period.as_millis() * 1000).div_ceil(g.cells),
            },
        };
        Sim {
            engine: Engine::new(s.config.clone(), s.seed, Instant::ZERO).expect("valid config"),
            config: s.config.clone(),
            clock: Instant::ZERO,
            replies: s.replies.clone(),
            next_reply: 0,
            final_phase: false,
            pending: Vec::new(),
            seq: 0,
            wake: None,
            trace: Vec::new(),
            requests: BTreeMap::new(),
            flights: BTreeMap::new(),
            attempts: BTreeMap::new(),
            announced: None,
            breaker: State::Closed,
            probes_out: BTreeSet::new(),
            transmit_times: Vec::new(),
            limit,
            hold_until: Instant::ZERO,
            last_first_try: BTreeMap::new(),
            ok_bodies: BTreeMap::new(),
            shut: false,
            submitted: 0,
            completed: 0,
        }
    }

    fn skewed(&self, skew_ms: u64) -> Instant {
        self.clock.saturating_sub(ms(skew_ms))
    }

    fn live_attempts(&self) -> usize {
        self.attempts.values().filter(|a| a.live).count()
    }

    fn kill_flight_attempts(&mut self, flight: RequestId) {
        for (id, a) in self.attempts.iter_mut() {
            if a.flight == flight && a.live {
                a.live = false;
                self.probes_out.remove(id);
            }
        }
    }

    /// Drains `poll_output`, checking every output. `mutated`: the last call
    /// was a mutation that drives the engine (the timer must then lie strictly
    /// in the future).
    fn drain(&mut self, mutated: bool) -> Result<(), TestCaseError> {
        for _ in 0..100_000 {
            let out = self.engine.poll_output();
            self.trace.push(format!("{out:?}"));
            match out {
                Output::Timeout(at) => {
                    prop_assert!(self.announced.is_none(), "AttemptStarted without Transmit");
                    let now = self.engine.now();
                    if let Some(t) = at {
                        prop_assert!(t >= now, "timer {t} is before now {now}");
                        if mutated {
                            prop_assert!(t > now, "timer {t} at now {now}: would spin");
                        }
                    }
                    self.wake = at;
                    return Ok(());
                }
                Output::Transmit(t) => self.on_transmit(t)?,
                Output::Event(e) => self.on_event(e)?,
            }
        }
        Err(TestCaseError::fail("poll_output never returned Timeout"))
    }

    fn on_transmit(&mut self, t: novitai_core::engine::Transmit) -> Result<(), TestCaseError> {
        let now = self.engine.now();
        prop_assert_eq!(
            self.announced.take(),
            Some(t.attempt),
            "Transmit without AttemptStarted"
        );
        prop_assert!(
            !matches!(self.breaker, State::Open | State::ForcedOpen),
            "Transmit while the breaker is {:?}",
            self.breaker
        );
        prop_assert!(
            now >= self.hold_until,
            "Transmit at {} before the server's Retry-After hold ends at {}",
            now,
            self.hold_until
        );
        prop_assert!(t.timeout == self.config.attempt_timeout);
        prop_assert_eq!(
            t.request.headers.get("x-correlation-id"),
            Some(t.correlation_id.as_str()),
            "the header must carry the Transmit's correlation id"
        );
        // The limiter: every transmission counts, first tries and retries.
        self.transmit_times.push(now);
        let times = &self.transmit_times;
        let n = times.len();
        match self.limit {
            Limit::Window { max, window } => {
                let in_window = times
                    .iter()
                    .rev()
                    .take_while(|&&u| u.as_millis() + window > now.as_millis())
                    .count();
                prop_assert!(
                    in_window <= max,
                    "{} transmissions within {} ms of {} (max {})",
                    in_window,
                    window,
                    now,
                    max
                );
            }
            Limit::Gcra {
                burst,
                interval_ticks,
            } => {
                for (i, u) in times.iter().enumerate() {
                    let count = (n - i) as u64;
                    let span = (now.as_millis() - u.as_millis()) * 1000;
                    prop_assert!(
                        count <= burst + span / interval_ticks,
                        "{} transmissions in [{}, {}]: GCRA allows {} + {}",
                        count,
                        u,
                        now,
                        burst,
                        span / interval_ticks
                    );
                }
            }
        }
        // Send it to the scripted server.
        let reply = if self.final_phase {
            Reply::Status {
                code: 200,
                retry_after: RetryAfterHdr::Absent,
                latency_ms: 100,
            }
        } else {
            let r = self.replies[self.next_reply % self.replies.len()].clone();
            self.next_reply += 1;
            r
        };
        self.seq += 1;
        let seq = self.seq;
        let (at, delivery) = match reply {
            Reply::Hang => return Ok(()),
            Reply::Transport { kind, latency_ms } => {
                (now + ms(latency_ms), Delivery::Transport(kind))
            }
            Reply::Status {
                code,
                retry_after,
                latency_ms,
            } => {
                let at = now + ms(latency_ms);
                let mut r = HttpResponse::new(code, format!("answer {seq}"));
                let wall = WALL_EPOCH + at.as_millis() / 1000;
                match retry_after {
                    RetryAfterHdr::Absent => {}
                    RetryAfterHdr::Delta(s) => r.headers.set("Retry-After", s.to_string()),
                    RetryAfterHdr::Date { ahead, date_header } => {
                        if date_header {
                            r.headers
                                .set("Date", HttpDate::new(UnixTime::from_secs(wall)).to_string());
                        }
                        r.headers.set(
                            "Retry-After",
                            HttpDate::new(UnixTime::from_secs(wall + ahead)).to_string(),
                        );
                    }
                }
                (at, Delivery::Response(r))
            }
        };
        self.pending.push(Pending {
            at,
            seq,
            attempt: t.attempt,
            delivery,
        });
        Ok(())
    }

    fn on_event(&mut self, e: Event) -> Result<(), TestCaseError> {
        let now = self.engine.now();
        prop_assert!(
            self.announced.is_none(),
            "AttemptStarted not followed by its Transmit"
        );
        match e {
            Event::BreakerTransition(t) => {
                prop_assert_eq!(
                    t.from,
                    self.breaker,
                    "transition {:?} from the wrong state",
                    t
                );
                self.breaker = t.to;
                self.probes_out.clear();
            }
            Event::AttemptStarted {
                id,
                attempt,
                number,
                probe,
                ..
            } => {
                self.announced = Some(attempt);
                let r = self.requests.get(&id);
                prop_assert!(
                    r.is_some_and(|r| !r.done),
                    "attempt for dead request {}",
                    id
                );
                let fid = r.map(|r| r.flight).unwrap_or(id);
                let f = self.flights.get_mut(&fid).expect("flight");
                prop_assert!(f.members.contains(&id), "{} leads a flight it left", id);
                f.transmissions += 1;
                prop_assert_eq!(number, f.transmissions, "attempt numbers count up by one");
                prop_assert!(
                    number <= self.config.retry.max_attempts,
                    "attempt {} of at most {}",
                    number,
                    self.config.retry.max_attempts
                );
                if number == 1 {
                    let last = self.last_first_try.insert(f.priority as u8, fid);
                    prop_assert!(
                        last.is_none_or(|l| l < fid),
                        "first try of flight {} after flight {} (same priority {:?})",
                        fid,
                        last.unwrap_or(fid),
                        f.priority
                    );
                }
                match self.breaker {
                    State::Open | State::ForcedOpen => {
                        return Err(TestCaseError::fail(format!(
                            "attempt started while the breaker is {:?}",
                            self.breaker
                        )));
                    }
                    State::HalfOpen => {
                        prop_assert!(probe, "a half-open attempt must be a probe");
                        self.probes_out.insert(attempt);
                        prop_assert!(
                            self.probes_out.len() <= self.config.breaker.half_open_probes as usize,
                            "{} probes out, at most {}",
                            self.probes_out.len(),
                            self.config.breaker.half_open_probes
                        );
                    }
                    State::Closed | State::Disabled => prop_assert!(!probe),
                }
                let fresh = self
                    .attempts
                    .insert(
                        attempt,
                        AttemptModel {
                            flight: fid,
                            live: true,
                        },
                    )
                    .is_none();
                prop_assert!(fresh, "attempt id reused");
                prop_assert!(
                    self.live_attempts() <= self.config.max_in_flight,
                    "{} transmissions out, cap {}",
                    self.live_attempts(),
                    self.config.max_in_flight
                );
            }
            Event::AttemptTimedOut { attempt, .. } => {
                let a = self.attempts.get_mut(&attempt);
                prop_assert!(
                    a.as_ref().is_some_and(|a| a.live),
                    "timeout of a dead attempt"
                );
                if let Some(a) = a {
                    a.live = false;
                }
                self.probes_out.remove(&attempt);
            }
            Event::Coalesced { id, leader, .. } => {
                let lf = self.requests.get(&leader).map(|r| (r.flight, r.done));
                prop_assert!(
                    matches!(lf, Some((_, false))),
                    "coalesced into a dead leader"
                );
                let Some((lf, _)) = lf else { unreachable!() };
                let r = self.requests.get_mut(&id).expect("just submitted");
                let own = r.flight;
                r.flight = lf;
                self.flights.remove(&own);
                let f = self.flights.get_mut(&lf).expect("leader's flight");
                f.members.insert(id);
            }
            Event::Completed(c) => {
                self.completed += 1;
                let r = self.requests.get_mut(&c.id);
                prop_assert!(r.is_some(), "completion for unknown {}", c.id);
                let r = r.expect("checked");
                prop_assert!(!r.done, "{} completed twice", c.id);
                r.done = true;
                prop_assert_eq!(c.completed_at, now);
                prop_assert_eq!(c.submitted_at, r.submitted_at);
                if let Some(d) = r.deadline {
                    if c.outcome == Completion::DeadlineExceeded {
                        prop_assert!(now >= d);
                    } else {
                        prop_assert!(
                            now <= d,
                            "{} completed {:?} at {}, after its deadline {}",
                            c.id,
                            c.outcome,
                            now,
                            d
                        );
                    }
                }
                let fid = r.flight;
                let path = r.path.clone();
                let f = self.flights.get_mut(&fid).expect("flight");
                prop_assert!(c.attempts <= self.config.retry.max_attempts);
                if let Completion::BreakerOpen { until } = c.outcome {
                    prop_assert!(until > now, "BreakerOpen until {} at {}", until, now);
                }
                if c.from_cache {
                    prop_assert_eq!(c.attempts, 0);
                    let Completion::Ok(resp) = &c.outcome else {
                        return Err(TestCaseError::fail("cache hit that is not Ok"));
                    };
                    prop_assert!(
                        self.ok_bodies
                            .get(&path)
                            .is_some_and(|b| b.contains(&resp.body)),
                        "cached answer the server never gave for {}",
                        path
                    );
                } else {
                    prop_assert_eq!(c.attempts, f.transmissions, "attempts of {}", c.id);
                    if let Completion::Ok(resp) = &c.outcome {
                        prop_assert_eq!(
                            Some((resp.status, resp.body.clone())),
                            f.last_answer.clone(),
                            "{} completed Ok with an answer the server did not give",
                            c.id
                        );
                    }
                    if let Completion::GaveUp { attempts, .. } = &c.outcome {
                        prop_assert_eq!(*attempts, f.transmissions);
                    }
                }
                f.members.remove(&c.id);
                if f.members.is_empty() {
                    self.kill_flight_attempts(fid);
                }
            }
            Event::RetryScheduled { at, delay, .. } => {
                prop_assert_eq!(at, now + delay);
            }
            Event::AttemptFailed { .. }
            | Event::RateLimited { .. }
            | Event::LateAnswerIgnored { .. } => {}
        }
        Ok(())
    }

    fn submit(&mut self, req: &Req, skew_ms: u64) -> Result<(), TestCaseError> {
        let now = self.skewed(skew_ms);
        let path = if req.get {
            format!("/v1/gpu/instances?page={}&pad={}", req.path, "x".repeat(40))
        } else {
            String::from("/v1/gpu/instance/create")
        };
        let method = if req.get { Method::Get } else { Method::Post };
        let mut opts = RequestOptions::new()
            .priority(req.priority)
            .cacheable(req.cacheable);
        opts.coalesce = req.coalesce;
        let base = self.engine.now().max(now);
        let deadline = req.deadline_ms.map(|d| base + ms(d));
        if let Some(d) = deadline {
            opts = opts.deadline(d);
        }
        match self
            .engine
            .submit(HttpRequest::new(method, path.clone()), opts, now)
        {
            Err(e) => {
                prop_assert!(self.shut, "refused while running: {e}");
            }
            Ok(id) => {
                prop_assert!(!self.shut, "accepted after shutdown");
                self.submitted += 1;
                prop_assert!(!self.requests.contains_key(&id), "id reused");
                self.requests.insert(
                    id,
                    ReqModel {
                        flight: id,
                        deadline,
                        submitted_at: self.engine.now(),
                        path,
                        done: false,
                    },
                );
                self.flights.insert(
                    id,
                    FlightModel {
                        priority: req.priority,
                        members: BTreeSet::from([id]),
                        transmissions: 0,
                        last_answer: None,
                    },
                );
            }
        }
        self.drain(true)
    }

    fn deliver(&mut self, p: Pending) -> Result<(), TestCaseError> {
        let live = self.attempts.get(&p.attempt).is_some_and(|a| a.live);
        if let Some(a) = self.attempts.get_mut(&p.attempt) {
            a.live = false;
            let fid = a.flight;
            if live {
                if let Delivery::Response(r) = &p.delivery {
                    let path = self
                        .requests
                        .get(&fid)
                        .map(|r| r.path.clone())
                        .unwrap_or_default();
                    if r.is_success() {
                        self.ok_bodies
                            .entry(path)
                            .or_default()
                            .insert(r.body.clone());
                    }
                    if let Some(f) = self.flights.get_mut(&fid) {
                        f.last_answer = Some((r.status, r.body.clone()));
                    }
                } else if let Some(f) = self.flights.get_mut(&fid) {
                    f.last_answer = None;
                }
            }
        }
        self.probes_out.remove(&p.attempt);
        let input = match p.delivery {
            Delivery::Response(response) => {
                let hold = if response.status == 429 {
                    resolved_retry_after(&response)
                } else {
                    None
                };
                let input = Input::Response {
                    attempt: p.attempt,
                    now: p.at,
                    response,
                };
                self.engine.handle_input(input);
                if let Some(d) = hold {
                    self.hold_until = self.hold_until.max(self.engine.now() + d);
                }
                return self.drain(true);
            }
            Delivery::Transport(kind) => Input::TransportError {
                attempt: p.attempt,
                now: p.at,
                kind,
            },
        };
        self.engine.handle_input(input);
        self.drain(true)
    }

    /// Runs virtual time forward to `target`, answering transmissions and
    /// firing the engine's timer in order.
    fn advance(&mut self, target: Instant) -> Result<(), TestCaseError> {
        for _ in 0..100_000 {
            let next_delivery = self
                .pending
                .iter()
                .enumerate()
                .min_by_key(|(_, p)| (p.at, p.seq))
                .map(|(i, p)| (i, p.at));
            let next = match (self.wake, next_delivery) {
                (Some(w), Some((_, d))) => w.min(d),
                (Some(w), None) => w,
                (None, Some((_, d))) => d,
                (None, None) => break,
            };
            if next > target {
                break;
            }
            self.clock = self.clock.max(next);
            match next_delivery {
                Some((i, d)) if d <= next => {
                    let p = self.pending.swap_remove(i);
                    self.deliver(p)?;
                }
                _ => {
                    self.engine.handle_input(Input::Timeout(next));
                    self.drain(true)?;
                }
            }
        }
        self.clock = self.clock.max(target);
        Ok(())
    }

    fn step(&mut self, op: &Op) -> Result<(), TestCaseError> {
        match op {
            Op::Submit { req, skew_ms } => self.submit(req, *skew_ms),
            Op::Cancel { pick, skew_ms } => {
                if self.requests.is_empty() {
                    return Ok(());
                }
                let id = *self
                    .requests
                    .keys()
                    .nth(pick % self.requests.len())
                    .expect("non-empty");
                let r = &self.requests[&id];
                let at = self.engine.now().max(self.skewed(*skew_ms));
                // A deadline already past ends the request before the cancel.
                let live = !r.done && r.deadline.is_none_or(|d| d > at);
                let found = self.engine.cancel(id, self.skewed(*skew_ms));
                prop_assert_eq!(found, live, "cancel({}) answered {}", id, found);
                self.drain(true)
            }
            Op::Advance(d) => self.advance(self.clock + ms(*d)),
            Op::Tick { skew_ms } => {
                self.engine
                    .handle_input(Input::Timeout(self.skewed(*skew_ms)));
                self.drain(true)
            }
            Op::Status => {
                let s = self.engine.status(self.clock);
                prop_assert_eq!(s.in_flight, self.live_attempts(), "status.in_flight");
                prop_assert_eq!(s.submitted, self.submitted);
                prop_assert_eq!(s.completed, self.completed);
                prop_assert!(s.active <= self.config.max_in_flight);
                self.drain(false)
            }
            Op::Shutdown => {
                self.shut = true;
                self.engine.shutdown(self.clock);
                self.drain(true)?;
                for (id, r) in &self.requests {
                    prop_assert!(r.done, "{} not completed by shutdown", id);
                }
                Ok(())
            }
            Op::ForceOpen => {
                self.engine.force_breaker_open(self.clock);
                self.drain(true)
            }
            Op::ResetBreaker => {
                self.engine.reset_breaker(self.clock);
                self.drain(true)
            }
            Op::AdoptTrip(ahead) => {
                let until = self.clock + ms(*ahead);
                let before = self.engine.status(self.clock);
                let changed = self.engine.adopt_trip(until, self.clock);
                let after = self.engine.status(self.clock);
                // Never shortened; a held breaker is left alone.
                if let Some(prev) = before.breaker_open_until {
                    prop_assert!(after.breaker_open_until >= Some(prev));
                }
                if changed {
                    prop_assert_eq!(after.breaker, State::Open);
                    prop_assert_eq!(after.breaker_open_until, Some(until));
                } else {
                    prop_assert_eq!(after.breaker, before.breaker);
                }
                self.drain(true)
            }
        }
    }

    /// The server turns healthy; run until nothing is pending.
    fn finish(&mut self) -> Result<(), TestCaseError> {
        self.final_phase = true;
        self.engine.reset_breaker(self.clock);
        self.drain(true)?;
        for _ in 0..1_000 {
            if self.wake.is_none() && self.pending.is_empty() {
                break;
            }
            self.advance(self.clock + secs(3_600))?;
        }
        for (id, r) in &self.requests {
            prop_assert!(r.done, "{} never completed", id);
        }
        let s = self.engine.status(self.clock);
        prop_assert_eq!(s.queued, 0);
        prop_assert_eq!(s.in_flight, 0);
        prop_assert_eq!(s.active, 0);
        prop_assert_eq!(s.completed, s.submitted);
        prop_assert_eq!(self.engine.poll_output(), Output::Timeout(None));
        Ok(())
    }
}

/// The `Retry-After` delay the engine can know from this 429 (`None` when
/// absent, or an HTTP-date without a `Date` header to measure it from).
fn resolved_retry_after(r: &HttpResponse) -> Option<Duration> {
    let ra = r.headers.get("retry-after")?;
    if let Ok(s) = ra.parse::<u64>() {
        return Some(secs(s));
    }
    let at = novitai_core::retry::parse_http_date(ra.as_bytes()).ok()?;
    let date = novitai_core::retry::parse_http_date(r.headers.get("date")?.as_bytes()).ok()?;
    Some(at.saturating_duration_since(date))
}

fn run(s: &Scenario) -> Result<Vec<String>, TestCaseError> {
    let mut sim = Sim::new(s);
    sim.drain(false)?;
    for op in &s.ops {
        sim.step(op)?;
    }
    sim.finish()?;
    Ok(sim.trace)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1500))]

    /// Every guarantee, after every step, over random mixes, servers and configs.
    #[test]
    fn the_engine_keeps_its_guarantees(s in scenario_strategy()) {
        run(&s)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// Same seed, same inputs: the same outputs, byte for byte.
    #[test]
    fn same_seed_and_inputs_give_the_same_outputs(s in scenario_strategy()) {
        let a = run(&s)?;
        let b = run(&s)?;
        prop_assert_eq!(a, b);
    }
}

// ---------------------------------------------------------------------------
// Regressions: each case the properties found, kept as a named story.
// ---------------------------------------------------------------------------

fn drain_all(engine: &mut Engine) -> (Vec<Output>, Option<Instant>) {
    let mut outs = Vec::new();
    loop {
        match engine.poll_output() {
            Output::Timeout(at) => return (outs, at),
            o => outs.push(o),
        }
    }
}

fn transmits(outs: &[Output]) -> Vec<novitai_core::engine::Transmit> {
    outs.iter()
        .filter_map(|o| match o {
            Output::Transmit(t) => Some(t.clone()),
            _ => None,
        })
        .collect()
}

fn completions(outs: &[Output]) -> Vec<novitai_core::engine::Completed> {
    outs.iter()
        .filter_map(|o| match o {
            Output::Event(Event::Completed(c)) => Some(c.clone()),
            _ => None,
        })
        .collect()
}

fn at_secs(s: u64) -> Instant {
    Instant::from_millis(s * 1000)
}

fn one_attempt_config() -> EngineConfig {
    let mut c = EngineConfig::default();
    c.retry.max_attempts = 1;
    c.attempt_timeout = secs(5);
    c
}

/// Found by `the_engine_keeps_its_guarantees`: a transport error outside
/// `retry_on` (an oversized body, a TLS failure) completed as
/// `Completion::Ok` with an invented status 0, and told the breaker the call
/// had succeeded.
#[test]
fn a_transport_error_that_is_not_retried_gives_up_and_is_no_success() {
    let mut config = one_attempt_config();
    config.breaker.consecutive_failures = Some(2);
    let mut engine = Engine::new(config, 1, Instant::ZERO).expect("valid");
    let get = |p: &str| HttpRequest::new(Method::Get, p);

    // A 503, then a TLS failure: two failures in a row open the breaker.
    engine
        .submit(get("/v1/a"), RequestOptions::new(), at_secs(0))
        .expect("accepted");
    let t = transmits(&drain_all(&mut engine).0).remove(0);
    engine.handle_input(Input::Response {
        attempt: t.attempt,
        now: at_secs(1),
        response: HttpResponse::new(503, "{}"),
    });
    drain_all(&mut engine);
    let id = engine
        .submit(get("/v1/b"), RequestOptions::new(), at_secs(2))
        .expect("accepted");
    let t = transmits(&drain_all(&mut engine).0).remove(0);
    engine.handle_input(Input::TransportError {
        attempt: t.attempt,
        now: at_secs(3),
        kind: TransportErrorKind::Other,
    });
    let (outs, _) = drain_all(&mut engine);
    let c = completions(&outs).remove(0);
    assert_eq!(c.id, id);
    assert!(
        matches!(
            c.outcome,
            Completion::GaveUp {
                last: novitai_core::engine::Failure::Transport(TransportErrorKind::Other),
                attempts: 1
            }
        ),
        "{:?}",
        c.outcome
    );
    assert!(outs.iter().any(|o| matches!(
        o,
        Output::Event(Event::BreakerTransition(t)) if t.to == State::Open
    )));

    // An oversized body is not the server's ill health: it gives up too, but
    // the breaker (reset) does not count it.
    engine.reset_breaker(at_secs(4));
    drain_all(&mut engine);
    engine
        .submit(get("/v1/c"), RequestOptions::new(), at_secs(4))
        .expect("accepted");
    let t = transmits(&drain_all(&mut engine).0).remove(0);
    engine.handle_input(Input::TransportError {
        attempt: t.attempt,
        now: at_secs(5),
        kind: TransportErrorKind::BodyTooLarge,
    });
    let c = completions(&drain_all(&mut engine).0).remove(0);
    assert!(
        matches!(c.outcome, Completion::GaveUp { .. }),
        "{:?}",
        c.outcome
    );
    assert_eq!(
        engine
            .breaker()
            .clone()
            .metrics(at_secs(5))
            .consecutive_failures,
        0
    );
}

/// Found by `the_engine_keeps_its_guarantees`: a 429 that arrived after its
/// attempt had timed out (or was cancelled) was ignored whole, Retry-After
/// included, so the next request went out while the server still said wait.
#[test]
fn a_late_429_still_holds_every_admission_until_its_retry_after() {
    let mut engine = Engine::new(one_attempt_config(), 1, Instant::ZERO).expect("valid");
    let get = |p: &str| HttpRequest::new(Method::Get, p);
    engine
        .submit(get("/v1/a"), RequestOptions::new(), at_secs(0))
        .expect("accepted");
    let t = transmits(&drain_all(&mut engine).0).remove(0);
    // The engine times the attempt out at 5 s ...
    engine.handle_input(Input::Timeout(at_secs(5)));
    drain_all(&mut engine);
    // ... and at 6 s the server's answer comes: 429, wait 20 s.
    let mut r = HttpResponse::new(429, "{}");
    r.headers.set("Retry-After", "20");
    engine.handle_input(Input::Response {
        attempt: t.attempt,
        now: at_secs(6),
        response: r,
    });
    let (outs, _) = drain_all(&mut engine);
    assert!(
        outs.iter()
            .any(|o| matches!(o, Output::Event(Event::LateAnswerIgnored { .. })))
    );
    // A new request waits for the server's hold.
    engine
        .submit(get("/v1/b"), RequestOptions::new(), at_secs(7))
        .expect("accepted");
    let (outs, wake) = drain_all(&mut engine);
    assert!(transmits(&outs).is_empty(), "sent during the server's hold");
    assert_eq!(wake, Some(at_secs(26)));
    engine.handle_input(Input::Timeout(at_secs(26)));
    assert_eq!(transmits(&drain_all(&mut engine).0).len(), 1);
}

/// Found by `the_engine_keeps_its_guarantees`: when the caller's timer fired
/// late, a request past its deadline completed by whatever came first in the
/// engine's order of work (an attempt timeout, an answer, a cancel) instead of
/// `DeadlineExceeded`.
#[test]
fn a_request_past_its_deadline_ends_deadline_exceeded_even_when_the_timer_is_late() {
    let post = || HttpRequest::new(Method::Post, "/v1/gpu/instance/create");
    let deadline = |s| RequestOptions::new().deadline(at_secs(s));

    // The timer for the 1 s deadline fires only at 10 s, after the 5 s
    // attempt timeout too.
    let mut engine = Engine::new(one_attempt_config(), 1, Instant::ZERO).expect("valid");
    engine
        .submit(post(), deadline(1), at_secs(0))
        .expect("accepted");
    drain_all(&mut engine);
    engine.handle_input(Input::Timeout(at_secs(10)));
    let c = completions(&drain_all(&mut engine).0).remove(0);
    assert_eq!(c.outcome, Completion::DeadlineExceeded);

    // The answer comes at 2 s, before anyone fired the 1 s timer.
    let mut engine = Engine::new(one_attempt_config(), 1, Instant::ZERO).expect("valid");
    engine
        .submit(post(), deadline(1), at_secs(0))
        .expect("accepted");
    let t = transmits(&drain_all(&mut engine).0).remove(0);
    engine.handle_input(Input::Response {
        attempt: t.attempt,
        now: at_secs(2),
        response: HttpResponse::new(201, "{}"),
    });
    let c = completions(&drain_all(&mut engine).0).remove(0);
    assert_eq!(c.outcome, Completion::DeadlineExceeded);

    // A cancel at 2 s finds the request already over.
    let mut engine = Engine::new(one_attempt_config(), 1, Instant::ZERO).expect("valid");
    let id = engine
        .submit(post(), deadline(1), at_secs(0))
        .expect("accepted");
    drain_all(&mut engine);
    assert!(!engine.cancel(id, at_secs(2)));
    let c = completions(&drain_all(&mut engine).0).remove(0);
    assert_eq!(c.outcome, Completion::DeadlineExceeded);
}

/// Found by `the_engine_keeps_its_guarantees`: when the first of several
/// coalesced GETs was cancelled, the next one led the flight (its id and
/// correlation id in the events and the `Transmit`) but the request still
/// carried the cancelled one's `X-Correlation-ID`.
#[test]
fn when_a_coalesced_leader_is_cancelled_the_header_names_the_new_leader() {
    let config = EngineConfig {
        max_in_flight: 1,
        ..EngineConfig::default()
    };
    let mut engine = Engine::new(config, 1, Instant::ZERO).expect("valid");
    let get = |p: &str| HttpRequest::new(Method::Get, p);
    let cid = |c: &str| RequestOptions::new().correlation_id(c);
    engine
        .submit(get("/v1/busy"), RequestOptions::new(), at_secs(0))
        .expect("accepted");
    let busy = transmits(&drain_all(&mut engine).0).remove(0);
    let first = engine
        .submit(get("/v1/clusters"), cid("first"), at_secs(0))
        .expect("accepted");
    let second = engine
        .submit(get("/v1/clusters"), cid("second"), at_secs(0))
        .expect("accepted");
    drain_all(&mut engine);
    assert!(engine.cancel(first, at_secs(1)));
    drain_all(&mut engine);
    engine.handle_input(Input::Response {
        attempt: busy.attempt,
        now: at_secs(2),
        response: HttpResponse::new(200, "{}"),
    });
    let t = transmits(&drain_all(&mut engine).0).remove(0);
    assert_eq!(t.request_id, second);
    assert_eq!(t.correlation_id.as_str(), "second");
    assert_eq!(t.request.headers.get("X-Correlation-ID"), Some("second"));
}
