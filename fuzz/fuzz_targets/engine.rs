//! The `Engine` fed an arbitrary sequence of inputs — submits with arbitrary
//! options, cancels, timers at arbitrary times (backwards too), responses and
//! transport errors for live or dead attempts, manual breaker control,
//! shutdown — under an arbitrary (valid) configuration. After every step:
//!
//! - `poll_output` reaches `Output::Timeout` (bounded outputs per mutation),
//!   and never asks to be woken in the past;
//! - every accepted request completes exactly once, and only accepted ones;
//! - no `Transmit` is handed out while the breaker is open;
//! - attempt numbers and per-request attempts stay ≤ `max_attempts`;
//! - active requests and transmissions in flight stay ≤ `max_in_flight`;
//! - the status counters agree with what the caller saw.
//!
//! At the end, `shutdown` completes everything that is left.
#![no_main]

use std::collections::BTreeSet;

use arbitrary::{Arbitrary, Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use novitai_core::breaker::{OpenDuration, Window};
use novitai_core::engine::{
    AttemptId, Engine, EngineConfig, Event, Input, Output, Rejected, RequestId, RequestOptions,
};
use novitai_core::http::{HttpRequest, HttpResponse, Method};
use novitai_core::limiter::{GcraConfig, RateLimitConfig, WindowConfig};
use novitai_core::queue::QueueConfig;
use novitai_core::retry::{Jitter, RetryBudgetConfig, TransportErrorKind};
use novitai_core::{Duration, Instant};

const PATHS: &[&str] = &[
    "/v1/clusters",
    "/v1/products",
    "/v1/gpu/instances",
    "/v1/gpu/instance?instanceId=a",
    "/v1/gpu/instance/create",
];

const STATUSES: &[u16] = &[
    200, 201, 204, 400, 401, 404, 408, 409, 429, 500, 502, 503, 504,
];

const RETRY_AFTERS: &[&str] = &[
    "0",
    "1",
    "30",
    "120",
    "99999999999999999999999",
    "Sun, 06 Nov 1994 08:49:37 GMT",
    "soon",
    "",
];

#[derive(Debug, Arbitrary)]
enum Op {
    Submit {
        method: Method,
        path: u8,
        options: RequestOptions,
        /// A deadline relative to now (the arbitrary absolute one in
        /// `options` is mostly far away).
        deadline_in: Option<u32>,
        dt: u16,
    },
    Cancel {
        which: u16,
        dt: u16,
    },
    /// A timer at an arbitrary time, possibly earlier than before.
    Tick {
        dt: i32,
    },
    /// The timer the engine asked for.
    Wake,
    Respond {
        which: u16,
        status: u16,
        pick_status: bool,
        retry_after: Option<u8>,
        dt: u16,
    },
    Transport {
        which: u16,
        kind: TransportErrorKind,
        dt: i16,
    },
    ForceOpen,
    ResetBreaker,
    /// A trip seen elsewhere (a fleet's shared breaker), ending `until_in`
    /// ms from now (possibly already past).
    AdoptTrip {
        until_in: i32,
        dt: u16,
    },
    Shutdown,
}

struct Harness {
    engine: Engine,
    now: u64,
    max_attempts: u32,
    cap: usize,
    accepted: Vec<RequestId>,
    accepted_set: BTreeSet<RequestId>,
    completed: BTreeSet<RequestId>,
    attempts: Vec<AttemptId>,
    last_attempt: u64,
    wakeup: Option<Instant>,
    shut_down: bool,
    /// Until when an adopted trip forbids transmissions (cleared by a reset).
    adopted_until: Option<Instant>,
    /// `adopt_trip` returned true and its transition is still to be seen.
    adoption_pending: bool,
}

impl Harness {
    fn at(&mut self, dt: i64) -> Instant {
        self.now = self.now.saturating_add_signed(dt);
        Instant::from_millis(self.now)
    }

    /// Drains the outputs of one mutation and checks every invariant.
    fn drain(&mut self) {
        let mut transmitted = false;
        let mut n = 0u32;
        loop {
            n += 1;
            assert!(n < 100_000, "poll_output does not reach Output::Timeout");
            match self.engine.poll_output() {
                Output::Transmit(t) => {
                    transmitted = true;
                    assert!(
                        (1..=self.max_attempts).contains(&t.number),
                        "attempt number {} with max_attempts {}",
                        t.number,
                        self.max_attempts
                    );
                    assert!(t.attempt.get() > self.last_attempt, "attempt ids reused");
                    self.last_attempt = t.attempt.get();
                    assert!(
                        self.accepted_set.contains(&t.request_id)
                            && !self.completed.contains(&t.request_id),
                        "transmit for a request that is not live: {}",
                        t.request_id
                    );
                    self.attempts.push(t.attempt);
                    if let Some(until) = self.adopted_until {
                        assert!(
                            self.engine.now() >= until,
                            "transmitted at {} under a trip adopted until {until}",
                            self.engine.now()
                        );
                    }
                }
                Output::Event(Event::BreakerTransition(t)) if t.adopted => {
                    assert!(self.adoption_pending, "an adopted transition nobody adopted");
                    assert!(t.own_trip().is_none(), "an adopted trip reported as the engine's own");
                    self.adoption_pending = false;
                }
                Output::Event(Event::Completed(c)) => {
                    assert!(
                        self.accepted_set.contains(&c.id),
                        "completion of a request never accepted: {}",
                        c.id
                    );
                    assert!(self.completed.insert(c.id), "{} completed twice", c.id);
                    assert!(c.attempts <= self.max_attempts, "{} attempts", c.attempts);
                    assert!(c.completed_at >= c.submitted_at);
                }
                Output::Event(Event::AttemptStarted { number, .. }) => {
                    assert!(number <= self.max_attempts);
                }
                Output::Event(Event::RetryScheduled { attempt, .. }) => {
                    assert!(attempt <= self.max_attempts, "retry #{attempt} scheduled");
                }
                Output::Event(_) => {}
                Output::Timeout(at) => {
                    if let Some(at) = at {
                        assert!(at >= self.engine.now(), "wake-up in the past");
                    }
                    self.wakeup = at;
                    break;
                }
            }
        }
        assert!(!self.adoption_pending, "adopt_trip changed the breaker without a transition");
        // Every failure and time-driven breaker change of a mutation happens
        // before its transmissions, so the state after the mutation is the
        // state the transmissions were admitted under.
        if transmitted {
            assert_eq!(
                self.engine.breaker().open_until(),
                None,
                "transmitted while the breaker is open"
            );
        }
        let now = self.engine.now();
        let st = self.engine.status(now);
        assert!(
            st.active <= self.cap,
            "{} active > cap {}",
            st.active,
            self.cap
        );
        assert!(
            st.in_flight <= st.active,
            "{} in flight, {} active",
            st.in_flight,
            st.active
        );
        assert_eq!(st.submitted, self.accepted.len() as u64);
        assert_eq!(st.completed, self.completed.len() as u64);
        // Every queued or active flight has at least one live request.
        let live = self.accepted.len() - self.completed.len();
        assert!(
            st.queued + st.active <= live,
            "{st:?} with {live} live requests"
        );
    }

    fn pick_attempt(&self, which: u16) -> Option<AttemptId> {
        let n = self.attempts.len();
        // Recent attempts are more often still live.
        (n > 0).then(|| self.attempts[n - 1 - usize::from(which) % n])
    }

    fn step(&mut self, op: Op) {
        match op {
            Op::Submit {
                method,
                path,
                mut options,
                deadline_in,
                dt,
            } => {
                let now = self.at(i64::from(dt));
                if let Some(d) = deadline_in {
                    options.deadline = Some(now + Duration::from_millis(u64::from(d)));
                }
                let path = PATHS[usize::from(path) % PATHS.len()];
                let request = HttpRequest::new(method, path);
                match self.engine.submit(request, options, now) {
                    Ok(id) => {
                        assert!(!self.shut_down);
                        assert!(self.accepted_set.insert(id), "id {id} reused");
                        self.accepted.push(id);
                    }
                    Err(Rejected::ShuttingDown) => assert!(self.shut_down),
                }
            }
            Op::Cancel { which, dt } => {
                let now = self.at(i64::from(dt));
                if self.accepted.is_empty() {
                    return;
                }
                let id = self.accepted[usize::from(which) % self.accepted.len()];
                let was_live = !self.completed.contains(&id);
                let found = self.engine.cancel(id, now);
                // A live request is always found, unless its deadline passed
                // at this `now`: then it ends DeadlineExceeded instead (checked
                // below: every live request completes within this step).
                assert!(!found || was_live, "cancel({id}) found a completed request");
                if was_live {
                    self.drain();
                    assert!(
                        self.completed.contains(&id),
                        "cancel({id}) left it live (found: {found})"
                    );
                }
            }
            Op::Tick { dt } => {
                let now = self.at(i64::from(dt));
                self.engine.handle_input(Input::Timeout(now));
            }
            Op::Wake => {
                let Some(at) = self.wakeup else { return };
                self.now = self.now.max(at.as_millis());
                self.engine.handle_input(Input::Timeout(at));
            }
            Op::Respond {
                which,
                status,
                pick_status,
                retry_after,
                dt,
            } => {
                let Some(attempt) = self.pick_attempt(which) else {
                    return;
                };
                let now = self.at(i64::from(dt));
                let status = if pick_status {
                    STATUSES[usize::from(status) % STATUSES.len()]
                } else {
                    status
                };
                let mut response = HttpResponse::new(status, &b"{}"[..]);
                if let Some(r) = retry_after {
                    response.headers.set(
                        "Retry-After",
                        RETRY_AFTERS[usize::from(r) % RETRY_AFTERS.len()],
                    );
                }
                self.engine.handle_input(Input::Response {
                    attempt,
                    now,
                    response,
                });
            }
            Op::Transport { which, kind, dt } => {
                let Some(attempt) = self.pick_attempt(which) else {
                    return;
                };
                let now = self.at(i64::from(dt));
                self.engine
                    .handle_input(Input::TransportError { attempt, now, kind });
            }
            Op::ForceOpen => {
                let now = self.at(0);
                self.engine.force_breaker_open(now);
            }
            Op::ResetBreaker => {
                let now = self.at(0);
                self.engine.reset_breaker(now);
                self.adopted_until = None;
            }
            Op::AdoptTrip { until_in, dt } => {
                let now = self.at(i64::from(dt));
                let until = Instant::from_millis(self.now.saturating_add_signed(i64::from(until_in)));
                let was_open = self.engine.breaker().open_until();
                if self.engine.adopt_trip(until, now) {
                    assert!(until > now, "adopted a trip that already ended");
                    assert!(
                        was_open.is_none_or(|o| o < until),
                        "adopting shortened or repeated an open until {was_open:?}"
                    );
                    self.adopted_until = Some(self.adopted_until.map_or(until, |u| u.max(until)));
                    self.adoption_pending = true;
                }
            }
            Op::Shutdown => {
                let now = self.at(0);
                self.engine.shutdown(now);
                self.shut_down = true;
            }
        }
        self.drain();
    }
}

fn ms(u: &mut Unstructured<'_>, lo: u64, hi: u64) -> Result<Duration> {
    Ok(Duration::from_millis(u.int_in_range(lo..=hi)?))
}

fn config(u: &mut Unstructured<'_>) -> Result<EngineConfig> {
    let mut c = EngineConfig::default();
    c.max_in_flight = u.int_in_range(1..=4)?;
    c.attempt_timeout = ms(u, 5_000, 120_000)?;
    c.queue = QueueConfig::new(u.int_in_range(1..=8)?).unwrap();
    let b = &mut c.breaker;
    b.consecutive_failures = if u.ratio(1, 4)? {
        None
    } else {
        Some(u.int_in_range(1..=5)?)
    };
    if u.ratio(1, 3)? {
        b.failure_rate = Some(*u.choose(&[0.1, 0.5, 1.0])?);
        b.window = if u.arbitrary()? {
            Window::Count(u.int_in_range(1..=10)?)
        } else {
            Window::Seconds(u.int_in_range(1..=60)?)
        };
        b.minimum_calls = match b.window {
            Window::Count(n) => u.int_in_range(1..=n)?,
            Window::Seconds(_) => u.int_in_range(1..=10)?,
        };
    }
    b.open_duration = if u.arbitrary()? {
        OpenDuration::Fixed(ms(u, 1, 120_000)?)
    } else {
        let initial = ms(u, 1, 10_000)?;
        OpenDuration::Exponential {
            initial,
            factor: 2.0,
            max: initial.saturating_add(ms(u, 0, 100_000)?),
        }
    };
    b.half_open_probes = u.int_in_range(1..=3)?;
    b.half_open_successes = u.int_in_range(1..=3)?;
    b.probe_max_wait = ms(u, 1, 60_000)?;
    c.rate_limit = match u.int_in_range(0..=2)? {
        0 => RateLimitConfig::default(),
        1 => RateLimitConfig::SlidingWindow(WindowConfig {
            max: u.int_in_range(1..=10)?,
            window: ms(u, 1_000, 60_000)?,
        }),
        _ => RateLimitConfig::Gcra(GcraConfig::per_period(
            u.int_in_range(1..=10)?,
            ms(u, 1_000, 60_000)?,
        )),
    };
    c.retry.max_attempts = u.int_in_range(1..=10)?;
    c.retry.jitter = *u.choose(&[
        Jitter::None,
        Jitter::Full,
        Jitter::Equal,
        Jitter::Decorrelated,
    ])?;
    c.retry.honor_retry_after = u.arbitrary()?;
    c.retry_budget = if u.arbitrary()? {
        Some(RetryBudgetConfig {
            max_tokens: u.int_in_range(1..=20)?,
            token_ratio: 0.5,
        })
    } else {
        None
    };
    c.cache.enabled = u.arbitrary()?;
    c.cache.ttl = ms(u, 1_000, 600_000)?;
    c.cache.max_entries = u.int_in_range(0..=4)?;
    Ok(c)
}

#[derive(Debug)]
struct Case {
    config: EngineConfig,
    seed: u64,
    start: u64,
    ops: Vec<Op>,
}

impl<'a> Arbitrary<'a> for Case {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        Ok(Case {
            config: config(u)?,
            seed: u.arbitrary()?,
            start: u.int_in_range(0..=u64::MAX / 2)?,
            ops: u.arbitrary()?,
        })
    }
}

fuzz_target!(|case: Case| {
    let engine = match Engine::new(
        case.config.clone(),
        case.seed,
        Instant::from_millis(case.start),
    ) {
        Ok(e) => e,
        Err(e) => panic!("a valid config was refused: {e} ({:?})", case.config),
    };
    let mut h = Harness {
        engine,
        now: case.start,
        max_attempts: case.config.retry.max_attempts,
        cap: case.config.max_in_flight,
        accepted: Vec::new(),
        accepted_set: BTreeSet::new(),
        completed: BTreeSet::new(),
        attempts: Vec::new(),
        last_attempt: 0,
        wakeup: None,
        shut_down: false,
        adopted_until: None,
        adoption_pending: false,
    };
    h.drain();
    for op in case.ops {
        h.step(op);
    }
    // Whatever is left completes on shutdown.
    h.step(Op::Shutdown);
    for id in &h.accepted {
        assert!(h.completed.contains(id), "{id} never completed");
    }
    let now = h.engine.now();
    let st = h.engine.status(now);
    assert_eq!((st.queued, st.active, st.in_flight), (0, 0, 0), "{st:?}");
});
