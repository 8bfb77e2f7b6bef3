//! The request engine: the machines composed into one sans-I/O pipeline.
//!
//! The [`Engine`] takes requests, queues them (bounded, fair FIFO with
//! priorities), admits them concurrently up to a cap, passes every attempt —
//! first tries and retries alike — through the rate limiter and the circuit
//! breaker, times attempts out by itself, schedules retries with jittered
//! backoff within a retry budget, serves slowly changing GETs from a cache and
//! lets identical GETs share one transmission. It never performs I/O: it tells
//! the caller what to send and when to wake it.
//!
//! # Driving it
//!
//! 1. Make a mutation: [`Engine::submit`], [`Engine::cancel`],
//!    [`Engine::handle_input`] (a response, a transport error, a timer), or
//!    [`Engine::shutdown`].
//! 2. Drain [`Engine::poll_output`] until it returns [`Output::Timeout`]:
//!    send each [`Output::Transmit`], log or act on each [`Output::Event`].
//! 3. Arm one timer for the instant in `Output::Timeout(Some(at))`; when it
//!    fires, call `handle_input(Input::Timeout(now))` and go to 2. `None`
//!    means nothing is pending until new input arrives.
//! 4. When a transmission answers, call `handle_input(Input::Response { .. })`
//!    (or `Input::TransportError`) with the attempt id and go to 2.
//!
//! ```
//! use novitai_core::engine::{Engine, EngineConfig, Input, Output, RequestOptions, Event, Completion};
//! use novitai_core::http::{HttpRequest, HttpResponse, Method};
//! use novitai_core::Instant;
//!
//! let mut engine = Engine::new(EngineConfig::default(), 7, Instant::ZERO).unwrap();
//! let id = engine
//!     .submit(HttpRequest::new(Method::Get, "/v1/clusters"), RequestOptions::new(), Instant::ZERO)
//!     .unwrap();
//! let mut done = None;
//! let mut now = Instant::ZERO;
//! loop {
//!     match engine.poll_output() {
//!         Output::Transmit(t) => {
//!             now = now + novitai_core::Duration::from_millis(80); // the server takes 80 ms
//!             engine.handle_input(Input::Response { attempt: t.attempt, now, response: HttpResponse::new(200, "{}") });
//!         }
//!         Output::Event(Event::Completed(c)) => done = Some(c),
//!         Output::Event(_) => {}
//!         Output::Timeout(_) => break,
//!     }
//! }
//! let done = done.unwrap();
//! assert_eq!(done.id, id);
//! assert!(done.outcome.is_success());
//! ```
//!
//! # Guarantees
//!
//! - Every request that `submit` accepted ends in exactly one
//!   [`Event::Completed`]; a late answer to a dead attempt is ignored.
//! - Nothing is transmitted while the breaker refuses; every transmission was
//!   admitted by the limiter; at most `max_in_flight` requests are active.
//! - Same config, seed and inputs: same outputs, on every target.

mod cache;
mod from_config;
mod index;
mod types;

pub use cache::CacheConfig;
pub use types::{
    AttemptId, Completed, Completion, CorrelationId, EngineStatus, Event, Failure, Input, Output,
    Rejected, RequestId, RequestOptions, Transmit,
};

use alloc::collections::{BTreeMap, BTreeSet, VecDeque};
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::fmt;

use crate::breaker::{
    BreakerConfig, BreakerConfigError, CircuitBreaker, Permit, Rejected as Refused,
};
use crate::http::{HttpRequest, Method};
use crate::limiter::{LimiterConfigError, RateLimitConfig, RateLimiter};
use crate::queue::{Queue, QueueConfig, QueueId};
use crate::retry::{
    Classification, Outcome, RetryBudget, RetryBudgetConfig, RetryBudgetError, RetryConfig,
    RetryConfigError, RetryDecision, RetryPolicy, RetryState, TransportErrorKind,
};
use crate::rng::Rng;
use crate::time::{Duration, Instant};
use cache::ResponseCache;
use index::IdMap;

/// The header that carries each request's correlation id.
pub const CORRELATION_HEADER: &str = "X-Correlation-ID";

/// Shortest allowed per-attempt timeout (as `REQUEST_TIMEOUT`).
pub const MIN_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest allowed per-attempt timeout (as `REQUEST_TIMEOUT`).
pub const MAX_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(120);

/// Everything the engine is built from.
///
/// # Default
/// - `max_in_flight`: 8 requests active at once (the Node client ran one).
/// - `attempt_timeout`: 30 s (allowed 5–120 s).
/// - `queue`: [`QueueConfig::default`].
/// - `breaker`: [`BreakerConfig::default`] (5 consecutive failures open it for
///   60 s; 3 successes close it).
/// - `rate_limit`: [`RateLimitConfig::default`] (100 requests per 60 s).
/// - `retry`: [`RetryConfig::default`] (3 attempts, 1 s, 2 s, ... ≤ 30 s, jittered).
/// - `retry_budget`: `Some(RetryBudgetConfig::default())`.
/// - `cache`: [`CacheConfig::default`] (off; 300 s TTL when on).
#[derive(Clone, Debug, PartialEq)]
pub struct EngineConfig {
    /// The most requests admitted and unfinished at once (1–1024).
    pub max_in_flight: usize,
    /// The engine times out an attempt that has not answered after this long.
    pub attempt_timeout: Duration,
    /// The waiting queue.
    pub queue: QueueConfig,
    /// The circuit breaker.
    pub breaker: BreakerConfig,
    /// The client-side rate limiter.
    pub rate_limit: RateLimitConfig,
    /// Backoff, jitter, attempts, classification.
    pub retry: RetryConfig,
    /// Retry budget (token bucket) bounding the extra load of retries.
    pub retry_budget: Option<RetryBudgetConfig>,
    /// The response cache.
    pub cache: CacheConfig,
}

impl Default for EngineConfig {
    fn default() -> EngineConfig {
        EngineConfig {
            max_in_flight: 8,
            attempt_timeout: Duration::from_secs(30),
            queue: QueueConfig::default(),
            breaker: BreakerConfig::default(),
            rate_limit: RateLimitConfig::default(),
            retry: RetryConfig::default(),
            retry_budget: Some(RetryBudgetConfig::default()),
            cache: CacheConfig::default(),
        }
    }
}

/// A configuration the engine cannot run with.
#[derive(Clone, Debug, PartialEq)]
pub enum EngineConfigError {
    /// `max_in_flight` outside 1–1024.
    MaxInFlight(usize),
    /// `attempt_timeout` outside 5–120 s.
    AttemptTimeout(Duration),
    /// The breaker's settings.
    Breaker(BreakerConfigError),
    /// The limiter's settings.
    Limiter(LimiterConfigError),
    /// The retry policy's settings.
    Retry(RetryConfigError),
    /// The retry budget's settings.
    Budget(RetryBudgetError),
}

impl fmt::Display for EngineConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EngineConfigError::MaxInFlight(n) => write!(
                f,
                "max_in_flight is {n}: it must be between 1 and 1024 (MAX_CONCURRENT_REQUESTS)"
            ),
            EngineConfigError::AttemptTimeout(d) => write!(
                f,
                "attempt timeout is {d}: it must be between 5 s and 120 s (REQUEST_TIMEOUT 5000–120000 ms)"
            ),
            EngineConfigError::Breaker(e) => write!(f, "circuit breaker: {e}"),
            EngineConfigError::Limiter(e) => write!(f, "rate limiter: {e}"),
            EngineConfigError::Retry(e) => write!(f, "retry: {e}"),
            EngineConfigError::Budget(e) => write!(f, "retry budget: {e}"),
        }
    }
}

impl core::error::Error for EngineConfigError {}

/// Internal id of a flight: one logical transmission sequence shared by one
/// request, or by several identical GETs (coalesced).
type FlightId = u64;

struct Waiter {
    id: RequestId,
    correlation_id: CorrelationId,
    deadline: Option<Instant>,
    submitted_at: Instant,
}

enum Phase {
    /// In the queue.
    Queued(QueueId),
    /// Admitted; the next attempt is due at `at` (a retry's backoff, or a wait
    /// for the limiter or a busy half-open breaker).
    Waiting { at: Instant },
    /// An attempt is out.
    InFlight {
        attempt: AttemptId,
        permit: Permit,
        timeout_at: Instant,
    },
    /// Its attempt just ended; within the same call the flight is either
    /// finished or scheduled again ([`Phase::Waiting`]).
    Settling,
}

/// The due times of active flights, kept ordered so that the timer and the
/// due-work checks read the earliest entry instead of scanning every flight.
/// A flight is active (admitted, unfinished) exactly when it is in one of
/// the two sets.
#[derive(Default)]
struct Schedule {
    /// The flight of every attempt out, by attempt id (its timeout is in
    /// the flight's phase). Attempt ids and timeouts grow together (every
    /// attempt gets the same timeout, from a clock that never goes back),
    /// so the first entry times out first.
    attempts: IdMap<FlightId>,
    /// `(at, flight)` of every flight waiting for its next attempt.
    waiting: BTreeSet<(Instant, FlightId)>,
}

impl Schedule {
    /// Flights admitted and not finished.
    fn active(&self) -> usize {
        self.attempts.len().saturating_add(self.waiting.len())
    }

    /// Replaces a flight's phase, keeping the index in step; returns the old one.
    fn set_phase(&mut self, fid: FlightId, flight: &mut Flight, phase: Phase) -> Phase {
        self.enter(fid, &phase);
        let old = core::mem::replace(&mut flight.phase, phase);
        self.leave(fid, &old);
        old
    }

    fn enter(&mut self, fid: FlightId, phase: &Phase) {
        match *phase {
            Phase::Queued(_) | Phase::Settling => {}
            Phase::Waiting { at } => {
                self.waiting.insert((at, fid));
            }
            Phase::InFlight { attempt, .. } => {
                self.attempts.insert(attempt.0, fid);
            }
        }
    }

    fn leave(&mut self, fid: FlightId, phase: &Phase) {
        match *phase {
            Phase::Queued(_) | Phase::Settling => {}
            Phase::Waiting { at } => {
                self.waiting.remove(&(at, fid));
            }
            Phase::InFlight { attempt, .. } => {
                self.attempts.remove(attempt.0);
            }
        }
    }
}

/// Spare waiter lists kept for reuse, so a steady stream of requests does
/// not allocate one per flight.
const SPARE_WAITER_LISTS: usize = 64;
/// A waiter list longer than this is not kept for reuse.
const SPARE_WAITER_CAPACITY: usize = 16;
/// Spare request allocations kept for reuse (see [`Engine::recycle_request`]).
const SPARE_REQUESTS: usize = 64;
/// A request whose header text has more room than this is not kept.
const SPARE_HEADER_BYTES: usize = 4096;

struct Flight {
    /// Shared with every [`Transmit`] of the flight (copied only when a
    /// new leader changes its correlation header).
    request: Arc<HttpRequest>,
    /// Coalescing / cache key (`Some` for coalescible GETs).
    key: Option<Arc<str>>,
    cacheable: bool,
    idempotent: bool,
    waiters: Vec<Waiter>,
    retry: RetryState,
    /// Attempts transmitted so far.
    attempts: u32,
    phase: Phase,
}

impl Flight {
    /// When its attempt out times out.
    fn timeout_at(&self) -> Option<Instant> {
        match self.phase {
            Phase::InFlight { timeout_at, .. } => Some(timeout_at),
            _ => None,
        }
    }

    fn leader(&self) -> Option<&Waiter> {
        self.waiters.first()
    }

    /// The latest deadline over its waiters (`None` if any has none).
    fn deadline(&self) -> Option<Instant> {
        let mut latest = Instant::ZERO;
        for w in &self.waiters {
            match w.deadline {
                None => return None,
                Some(d) => latest = latest.max(d),
            }
        }
        Some(latest)
    }
}

/// Why the next attempt cannot go now.
enum Gate {
    Go(Permit),
    /// Try again at this instant.
    Wait(Instant),
    /// The breaker is open: fail fast.
    Open(Instant),
}

/// The composed request pipeline. See the [module docs](self).
pub struct Engine {
    config: EngineConfig,
    now: Instant,
    rng: Rng,
    breaker: CircuitBreaker,
    limiter: RateLimiter,
    retry: RetryPolicy,
    budget: Option<RetryBudget>,
    queue: Queue<FlightId>,
    cache: ResponseCache,
    /// Every flight admitted or queued, by id.
    flights: IdMap<Flight>,
    /// Due times of the flights admitted and not finished (in flight or waiting).
    schedule: Schedule,
    /// Emptied waiter lists, reused by new flights.
    spare_waiters: Vec<Vec<Waiter>>,
    /// Finished requests' allocations, reused by new flights.
    spare_requests: Vec<Arc<HttpRequest>>,
    /// Where each live request is.
    requests: IdMap<FlightId>,
    /// Coalescing key → flight.
    by_key: BTreeMap<Arc<str>, FlightId>,
    /// Waiter deadlines, for the timer.
    deadlines: BTreeSet<(Instant, RequestId)>,
    outputs: VecDeque<Output>,
    next_request: u64,
    next_attempt: u64,
    next_flight: u64,
    /// The last rate-limit wait announced, so each wait is reported once.
    announced_wait: Option<Instant>,
    /// Until when a server 429 holds admissions.
    server_hold: Option<Instant>,
    shutting_down: bool,
    submitted: u64,
    completed: u64,
}

impl fmt::Debug for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Engine")
            .field("now", &self.now)
            .field("queued", &self.queue.len())
            .field("active", &self.schedule.active())
            .field("requests", &self.requests.len())
            .finish_non_exhaustive()
    }
}

impl Engine {
    /// Builds an engine; `seed` drives all jitter and generated correlation
    /// ids, `now` starts its clock.
    pub fn new(config: EngineConfig, seed: u64, now: Instant) -> Result<Engine, EngineConfigError> {
        if config.max_in_flight == 0 || config.max_in_flight > 1024 {
            return Err(EngineConfigError::MaxInFlight(config.max_in_flight));
        }
        if config.attempt_timeout < MIN_ATTEMPT_TIMEOUT
            || config.attempt_timeout > MAX_ATTEMPT_TIMEOUT
        {
            return Err(EngineConfigError::AttemptTimeout(config.attempt_timeout));
        }
        let queue = Queue::new(config.queue);
        let breaker = CircuitBreaker::new(config.breaker).map_err(EngineConfigError::Breaker)?;
        let limiter = RateLimiter::new(config.rate_limit).map_err(EngineConfigError::Limiter)?;
        let retry = RetryPolicy::new(config.retry).map_err(EngineConfigError::Retry)?;
        let budget = match config.retry_budget {
            Some(b) => Some(RetryBudget::new(b).map_err(EngineConfigError::Budget)?),
            None => None,
        };
        Ok(Engine {
            cache: ResponseCache::new(config.cache),
            config,
            now,
            rng: Rng::new(seed),
            breaker,
            limiter,
            retry,
            budget,
            queue,
            flights: IdMap::default(),
            schedule: Schedule::default(),
            spare_waiters: Vec::new(),
            spare_requests: Vec::new(),
            requests: IdMap::default(),
            by_key: BTreeMap::new(),
            deadlines: BTreeSet::new(),
            outputs: VecDeque::new(),
            next_request: 1,
            next_attempt: 1,
            next_flight: 1,
            announced_wait: None,
            server_hold: None,
            shutting_down: false,
            submitted: 0,
            completed: 0,
        })
    }

    // ---- getters -------------------------------------------------------

    /// The configuration the engine runs with.
    #[must_use]
    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    /// The latest `now` the engine has seen.
    #[must_use]
    pub fn now(&self) -> Instant {
        self.now
    }

    /// A snapshot of queue, breaker, limiter, budget and cache. Takes `now`
    /// because the breaker's state can change with time alone.
    pub fn status(&mut self, now: Instant) -> EngineStatus {
        let now = self.clock(now);
        EngineStatus {
            queued: self.queue.len(),
            in_flight: self.schedule.attempts.len(),
            active: self.schedule.active(),
            max_in_flight: self.config.max_in_flight,
            oldest_queued_wait: self.queue.oldest_wait(now),
            breaker: self.breaker.state(now),
            breaker_open_until: self.breaker.open_until(),
            limiter_next_free: self.next_free(now),
            retry_budget_milli: self
                .budget
                .as_ref()
                .map(|b| (b.tokens_milli(), b.max_tokens_milli())),
            cache_entries: self.cache.len(),
            submitted: self.submitted,
            completed: self.completed,
        }
    }

    /// The circuit breaker, for inspection.
    #[must_use]
    pub fn breaker(&self) -> &CircuitBreaker {
        &self.breaker
    }

    /// Manual breaker control: hold it open until [`Engine::reset_breaker`].
    pub fn force_breaker_open(&mut self, now: Instant) {
        let now = self.clock(now);
        self.breaker.force_open(now);
        self.drive(now);
    }

    /// Adopts a breaker trip seen elsewhere (another worker on the same
    /// service, through a shared store): the breaker is held open until
    /// `until`, then goes half-open and probes as usual. A longer local open
    /// time is never shortened; a forced-open or disabled breaker is left
    /// alone (see [`CircuitBreaker::trip_until`]). Requests that would go out
    /// meanwhile complete as [`Completion::BreakerOpen`]. Returns whether the
    /// breaker changed; the change is reported as an
    /// [`Event::BreakerTransition`] marked `adopted`.
    ///
    /// The engine's own trips are the transitions for which
    /// [`Transition::own_trip`](crate::breaker::Transition::own_trip) is
    /// `Some(until)`: those are what a driver shares with the fleet.
    pub fn adopt_trip(&mut self, until: Instant, now: Instant) -> bool {
        let now = self.clock(now);
        let changed = self.breaker.trip_until(until, now);
        self.drive(now);
        changed
    }

    /// Manual breaker control: back to closed with clean counters.
    pub fn reset_breaker(&mut self, now: Instant) {
        let now = self.clock(now);
        self.breaker.reset(now);
        self.drive(now);
    }

    // ---- mutations -----------------------------------------------------

    /// Takes a request. It completes later with exactly one
    /// [`Event::Completed`] (possibly at once: from the cache, or
    /// [`Completion::QueueFull`]).
    pub fn submit(
        &mut self,
        request: HttpRequest,
        options: RequestOptions,
        now: Instant,
    ) -> Result<RequestId, Rejected> {
        if self.shutting_down {
            return Err(Rejected::ShuttingDown);
        }
        let now = self.clock(now);
        let id = RequestId(self.next_request);
        self.next_request += 1;
        self.submitted += 1;
        let correlation_id = match &options.correlation_id {
            Some(c) => CorrelationId::new(c),
            None => self.generate_correlation_id(),
        };
        let waiter = Waiter {
            id,
            correlation_id,
            deadline: options.deadline,
            submitted_at: now,
        };
        let is_get = request.method == Method::Get;
        let cacheable = is_get && options.cacheable;
        let coalesce = is_get && options.coalesce;

        if cacheable && let Some(response) = self.cache.get(&request.path_and_query, now) {
            self.complete_waiter(waiter, Completion::Ok(response), 0, true);
            self.drive(now);
            return Ok(id);
        }
        if options.deadline.is_some_and(|d| d <= now) {
            self.complete_waiter(waiter, Completion::DeadlineExceeded, 0, false);
            self.drive(now);
            return Ok(id);
        }
        if coalesce
            && let Some(&fid) = self.by_key.get(request.path_and_query.as_str())
            && let Some(flight) = self.flights.get_mut(fid)
        {
            let leader = flight.leader().map_or(id, |w| w.id);
            self.outputs.push_back(Output::Event(Event::Coalesced {
                id,
                correlation_id: waiter.correlation_id.clone(),
                leader,
            }));
            if let Some(d) = waiter.deadline {
                self.deadlines.insert((d, id));
            }
            flight.waiters.push(waiter);
            self.requests.insert(id.0, fid);
            self.drive(now);
            return Ok(id);
        }

        // The coalescing / cache key, allocated once and shared with `by_key`.
        let key: Option<Arc<str>> =
            (coalesce || cacheable).then(|| Arc::from(request.path_and_query.as_str()));
        let mut request = self.share_request(request);
        if let Some(r) = Arc::get_mut(&mut request) {
            r.headers
                .set(CORRELATION_HEADER, waiter.correlation_id.as_str());
        }
        let idempotent = options.idempotent.unwrap_or(matches!(
            request.method,
            Method::Get | Method::Put | Method::Delete
        ));
        let fid = self.next_flight;
        match self.queue.push(fid, options.priority, None, now) {
            Err(_full) => {
                self.complete_waiter(waiter, Completion::QueueFull, 0, false);
            }
            Ok(qid) => {
                self.next_flight += 1;
                if let Some(d) = waiter.deadline {
                    self.deadlines.insert((d, id));
                }
                self.requests.insert(id.0, fid);
                if coalesce && let Some(k) = &key {
                    self.by_key.insert(Arc::clone(k), fid);
                }
                let mut waiters = self.spare_waiters.pop().unwrap_or_default();
                waiters.push(waiter);
                self.flights.insert(
                    fid,
                    Flight {
                        request,
                        key,
                        cacheable,
                        idempotent,
                        waiters,
                        retry: RetryState::new(),
                        attempts: 0,
                        phase: Phase::Queued(qid),
                    },
                );
            }
        }
        self.drive(now);
        Ok(id)
    }

    /// Cancels a request: it completes with [`Completion::Cancelled`] (if it
    /// had not completed already; then this does nothing and returns `false`).
    /// A transmission it had out is abandoned: its answer will be ignored.
    pub fn cancel(&mut self, id: RequestId, now: Instant) -> bool {
        let now = self.clock(now);
        // A deadline that passed before this call (the timer fired late, or
        // not at all) ends the request first.
        self.expire_deadlines(now);
        let found = self.finish_request(id, Completion::Cancelled);
        self.drive(now);
        found
    }

    /// Cancels everything and refuses new requests: every live request
    /// completes with [`Completion::Cancelled`].
    pub fn shutdown(&mut self, now: Instant) {
        let now = self.clock(now);
        self.shutting_down = true;
        self.expire_deadlines(now);
        let ids: Vec<RequestId> = self.requests.keys().map(RequestId).collect();
        for id in ids {
            self.finish_request(id, Completion::Cancelled);
        }
        self.drive(now);
    }

    /// Feeds the engine a timer, a response or a transport error.
    pub fn handle_input(&mut self, input: Input) {
        match input {
            Input::Timeout(now) => {
                let now = self.clock(now);
                self.drive(now);
            }
            Input::Response {
                attempt,
                now,
                response,
            } => {
                let now = self.clock(now);
                // Deadlines that passed before the answer came end their
                // requests first: nothing completes otherwise past its deadline.
                self.expire_deadlines(now);
                let outcome = Outcome::from_http_response(&response, None);
                self.on_answer(attempt, now, outcome, Some(response));
                self.drive(now);
            }
            Input::TransportError { attempt, now, kind } => {
                let now = self.clock(now);
                self.expire_deadlines(now);
                self.on_answer(attempt, now, Outcome::Transport(kind), None);
                self.drive(now);
            }
        }
    }

    /// The next thing to do. Drain until [`Output::Timeout`] after every
    /// mutation; its value changes only through a mutation.
    #[must_use]
    pub fn poll_output(&mut self) -> Output {
        match self.outputs.pop_front() {
            Some(o) => o,
            None => Output::Timeout(self.next_wakeup()),
        }
    }

    // ---- internals -----------------------------------------------------

    /// Time never runs backwards inside the engine.
    fn clock(&mut self, now: Instant) -> Instant {
        self.now = self.now.max(now);
        self.now
    }

    /// `nv-` and 16 lowercase hex digits, formatted on the stack.
    fn generate_correlation_id(&mut self) -> CorrelationId {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let v = self.rng.next_u64();
        let mut buf = *b"nv-0000000000000000";
        let mut shift = 64;
        for b in buf.iter_mut().skip(3) {
            shift -= 4;
            *b = HEX[((v >> shift) & 0xf) as usize];
        }
        CorrelationId::from_ascii(buf)
    }

    /// When the limiter (and a server's 429) lets the next request go.
    fn next_free(&self, now: Instant) -> Instant {
        let client = self.limiter.next_free(now);
        match self.server_hold {
            Some(h) if h > client => h,
            _ => client,
        }
    }

    fn drain_transitions(&mut self) {
        while let Some(t) = self.breaker.poll_transition() {
            self.outputs
                .push_back(Output::Event(Event::BreakerTransition(t)));
        }
    }

    /// Does everything that is due at `now`.
    fn drive(&mut self, now: Instant) {
        // Time-driven breaker changes (open → half-open, hung probes).
        let _ = self.breaker.state(now);
        self.drain_transitions();
        // Deadlines before attempt timeouts: when a late timer covers both,
        // a request past its deadline ends DeadlineExceeded, not by a retry
        // decision taken after its deadline.
        self.expire_deadlines(now);
        self.expire_attempts(now);
        self.run_due_flights(now);
        self.admit(now);
        self.drain_transitions();
    }

    fn expire_attempts(&mut self, now: Instant) {
        // Nothing due (the common case): no list is built.
        if self.first_timeout().is_none_or(|at| at > now) {
            return;
        }
        // Handled in flight order, as before the index existed: each entry
        // goes in at its place (fewer than the in-flight cap, and a binary
        // insertion links far less wasm code than a slice sort; issue #8).
        let mut due: Vec<(FlightId, AttemptId)> = Vec::new();
        for (attempt, &fid) in self.schedule.attempts.iter() {
            if self.flights.get(fid).and_then(Flight::timeout_at) > Some(now) {
                break;
            }
            let entry = (fid, AttemptId(attempt));
            let i = due.binary_search(&entry).unwrap_or_else(|i| i);
            due.insert(i, entry);
        }
        for (fid, attempt) in due {
            if let Some(f) = self.flights.get(fid)
                && let Some(w) = f.leader()
            {
                self.outputs
                    .push_back(Output::Event(Event::AttemptTimedOut {
                        id: w.id,
                        correlation_id: w.correlation_id.clone(),
                        attempt,
                    }));
            }
            self.on_answer(
                attempt,
                now,
                Outcome::Transport(TransportErrorKind::Timeout),
                None,
            );
        }
    }

    fn expire_deadlines(&mut self, now: Instant) {
        while let Some(&(at, id)) = self.deadlines.first() {
            if at > now {
                break;
            }
            self.deadlines.pop_first();
            self.finish_request(id, Completion::DeadlineExceeded);
        }
    }

    /// Flights whose wait (backoff, limiter, busy probes) is over try their
    /// next attempt, oldest first.
    fn run_due_flights(&mut self, now: Instant) {
        // Every branch below takes the entry out of `waiting` or moves it
        // past `now` (a gate's wait is always later than `now`), so the loop
        // ends; the order is (due time, flight) as before.
        while let Some(&(at, fid)) = self.schedule.waiting.first() {
            if at > now {
                break;
            }
            if !self.flights.contains_key(fid) {
                self.schedule.waiting.remove(&(at, fid));
                continue;
            }
            match self.gate(now) {
                Gate::Go(permit) => self.transmit(fid, permit, now),
                Gate::Wait(next) => {
                    if let Some(f) = self.flights.get_mut(fid) {
                        // Never later than `now` + 1 ms at the least.
                        let next = next.max(now + Duration::from_millis(1));
                        self.schedule.set_phase(fid, f, Phase::Waiting { at: next });
                    }
                }
                Gate::Open(until) => {
                    self.finish_flight(fid, Completion::BreakerOpen { until });
                }
            }
        }
    }

    /// Moves queued flights into flight while the cap, limiter and breaker allow.
    fn admit(&mut self, now: Instant) {
        while self.schedule.active() < self.config.max_in_flight {
            let Some((_, _, &fid)) = self.queue.peek(now) else {
                return;
            };
            match self.gate(now) {
                Gate::Go(permit) => {
                    let _ = self.queue.pop(now);
                    self.transmit(fid, permit, now);
                }
                Gate::Wait(_) => return,
                Gate::Open(until) => {
                    let _ = self.queue.pop(now);
                    self.finish_flight(fid, Completion::BreakerOpen { until });
                }
            }
        }
    }

    /// Asks the limiter (without spending) and the breaker; spends the
    /// limiter's slot only once the breaker has granted a permit.
    fn gate(&mut self, now: Instant) -> Gate {
        let free = self.next_free(now);
        if free > now {
            if self.announced_wait != Some(free) {
                self.announced_wait = Some(free);
                let by_server = self.server_hold == Some(free);
                self.outputs.push_back(Output::Event(Event::RateLimited {
                    until: free,
                    by_server,
                }));
            }
            return Gate::Wait(free);
        }
        match self.breaker.try_acquire(now) {
            Ok(permit) => match self.limiter.check(now) {
                Ok(()) => Gate::Go(permit),
                Err(not_until) => {
                    // next_free said yes; cannot happen, but never transmit
                    // without the limiter's consent.
                    self.breaker.on_ignored(permit);
                    Gate::Wait(not_until.earliest().max(now + Duration::from_millis(1)))
                }
            },
            Err(Refused::ProbesBusy { until }) => {
                Gate::Wait(until.max(now + Duration::from_millis(1)))
            }
            Err(other) => Gate::Open(other.until()),
        }
    }

    fn transmit(&mut self, fid: FlightId, permit: Permit, now: Instant) {
        let timeout_at = now + self.config.attempt_timeout;
        debug_assert!(
            self.schedule
                .attempts
                .last()
                .and_then(|(_, &last)| self.flights.get(last)?.timeout_at())
                .is_none_or(|t| t <= timeout_at),
            "attempt timeouts grow with attempt ids"
        );
        let Some(f) = self.flights.get_mut(fid) else {
            self.breaker.on_ignored(permit);
            return;
        };
        let attempt = AttemptId(self.next_attempt);
        self.next_attempt += 1;
        f.attempts += 1;
        let probe = permit.is_probe();
        self.schedule.set_phase(
            fid,
            f,
            Phase::InFlight {
                attempt,
                permit,
                timeout_at,
            },
        );
        let (id, correlation_id) = match f.leader() {
            Some(w) => (w.id, w.correlation_id.clone()),
            None => (RequestId(0), CorrelationId::new("")),
        };
        self.outputs.push_back(Output::Event(Event::AttemptStarted {
            id,
            correlation_id: correlation_id.clone(),
            attempt,
            number: f.attempts,
            probe,
        }));
        self.outputs.push_back(Output::Transmit(Transmit {
            attempt,
            request_id: id,
            correlation_id,
            number: f.attempts,
            request: Arc::clone(&f.request),
            timeout: self.config.attempt_timeout,
        }));
    }

    /// An attempt ended (answer, transport error, or the engine's timeout).
    fn on_answer(
        &mut self,
        attempt: AttemptId,
        now: Instant,
        outcome: Outcome,
        response: Option<crate::http::HttpResponse>,
    ) {
        // A 429 speaks for the whole client, not for one request: its hold
        // applies even when the attempt is dead (timed out, cancelled), or the
        // next transmission would go before the server's Retry-After.
        if let Outcome::Status {
            code: 429,
            retry_after,
        } = outcome
        {
            let hold = now + retry_after.unwrap_or(Duration::from_secs(1));
            self.server_hold = Some(self.server_hold.map_or(hold, |h| h.max(hold)));
            self.limiter.push_back(hold);
        }
        let Some(&fid) = self.schedule.attempts.get(attempt.0) else {
            self.outputs
                .push_back(Output::Event(Event::LateAnswerIgnored { attempt }));
            return;
        };
        // An attempt out is its flight's current phase (never otherwise:
        // the index and the phases change together).
        let Some(flight) = self
            .flights
            .get_mut(fid)
            .filter(|f| matches!(f.phase, Phase::InFlight { attempt: a, .. } if a == attempt))
        else {
            self.schedule.attempts.remove(attempt.0);
            return;
        };
        let Phase::InFlight { permit, .. } = self.schedule.set_phase(fid, flight, Phase::Settling)
        else {
            return;
        };
        let class = self.retry.classify(&outcome);
        let status = match outcome {
            Outcome::Status { code, .. } => Some(code),
            Outcome::Transport(_) => None,
        };
        // What the breaker learns: the server's health, not the caller's
        // mistakes. A 429 is the limiter's business, not a failure. A
        // transport error is never a success, retryable or not: an oversized
        // body (the server did answer) is ignored, any other is a failure.
        match (class, outcome) {
            (_, Outcome::Status { code: 429, .. })
            | (_, Outcome::Transport(TransportErrorKind::BodyTooLarge)) => {
                self.breaker.on_ignored(permit);
            }
            (Classification::Retryable, _) | (_, Outcome::Transport(_)) => {
                self.breaker.on_failure(permit, now);
            }
            _ => self.breaker.on_success(permit, now),
        }

        let Some(flight) = self.flights.get_mut(fid) else {
            return;
        };
        let attempts = flight.attempts;
        let (leader_id, leader_cid) = match flight.leader() {
            Some(w) => (w.id, w.correlation_id.clone()),
            None => (RequestId(0), CorrelationId::new("")),
        };

        if class != Classification::Retryable {
            if class == Classification::Success
                && let Some(b) = self.budget.as_mut()
            {
                b.record_success();
            }
            // A transport error that is not retried is a failure, not an
            // answer: there is no response to hand out.
            let response = match (outcome, response) {
                (Outcome::Status { .. }, Some(r)) => r,
                (Outcome::Transport(k), _) => {
                    let last = Failure::Transport(k);
                    self.finish_flight(fid, Completion::GaveUp { last, attempts });
                    return;
                }
                (Outcome::Status { code, .. }, None) => {
                    crate::http::HttpResponse::new(code, alloc::vec::Vec::new())
                }
            };
            if flight.cacheable
                && let Some(k) = &flight.key
            {
                self.cache.insert(k, &response, now);
            }
            self.finish_flight(fid, Completion::Ok(response));
            return;
        }

        let failure = match (&outcome, response) {
            (Outcome::Transport(k), _) => Failure::Transport(*k),
            (_, Some(r)) => Failure::Status(r),
            (_, None) => Failure::Transport(TransportErrorKind::Other),
        };
        self.outputs.push_back(Output::Event(Event::AttemptFailed {
            id: leader_id,
            correlation_id: leader_cid.clone(),
            attempt,
            number: attempts,
            status,
            transport: match outcome {
                Outcome::Transport(k) => Some(k),
                Outcome::Status { .. } => None,
            },
        }));

        // A request that must not run twice is retried only when the server
        // certainly did not act on it.
        let safe_to_repeat = flight.idempotent
            || matches!(
                outcome,
                Outcome::Transport(TransportErrorKind::ConnectionRefused | TransportErrorKind::Dns)
                    | Outcome::Status { code: 429, .. }
            );
        if !safe_to_repeat {
            if let Some(b) = self.budget.as_mut() {
                b.record_failure();
            }
            self.finish_flight(
                fid,
                Completion::GaveUp {
                    last: failure,
                    attempts,
                },
            );
            return;
        }
        let deadline = flight.deadline();
        let decision = self.retry.next(
            &mut flight.retry,
            &outcome,
            now,
            &mut self.rng,
            deadline,
            self.budget.as_mut(),
        );
        match decision {
            RetryDecision::RetryAt {
                at,
                delay,
                attempt: number,
                reason,
                ..
            } => {
                self.schedule.set_phase(fid, flight, Phase::Waiting { at });
                self.outputs.push_back(Output::Event(Event::RetryScheduled {
                    id: leader_id,
                    correlation_id: leader_cid,
                    attempt: number,
                    at,
                    delay,
                    reason,
                }));
            }
            RetryDecision::GiveUp(_) => {
                self.finish_flight(
                    fid,
                    Completion::GaveUp {
                        last: failure,
                        attempts,
                    },
                );
            }
        }
    }

    /// Completes one request; if it was the last waiter of its flight, the
    /// flight is abandoned (its permit released, its answer to be ignored).
    fn finish_request(&mut self, id: RequestId, outcome: Completion) -> bool {
        let Some(fid) = self.requests.get(id.0).copied() else {
            return false;
        };
        let Some(flight) = self.flights.get_mut(fid) else {
            self.requests.remove(id.0);
            return false;
        };
        let Some(pos) = flight.waiters.iter().position(|w| w.id == id) else {
            self.requests.remove(id.0);
            return false;
        };
        let attempts = flight.attempts;
        let waiter = flight.waiters.remove(pos);
        let empty = flight.waiters.is_empty();
        // The next waiter leads now: later attempts carry its correlation id,
        // in the header as in the events.
        if pos == 0
            && let Some(next) = flight.waiters.first()
        {
            Arc::make_mut(&mut flight.request)
                .headers
                .set(CORRELATION_HEADER, next.correlation_id.as_str());
        }
        self.requests.remove(id.0);
        if let Some(d) = waiter.deadline {
            self.deadlines.remove(&(d, id));
        }
        self.complete_waiter(waiter, outcome, attempts, false);
        if empty {
            self.drop_flight(fid);
        }
        true
    }

    /// Completes every waiter of a flight with the same outcome.
    fn finish_flight(&mut self, fid: FlightId, outcome: Completion) {
        let Some(mut flight) = self.flights.remove(fid) else {
            return;
        };
        let mut waiters = core::mem::take(&mut flight.waiters);
        let attempts = flight.attempts;
        self.forget_flight(fid, &mut flight);
        let last = waiters.len().saturating_sub(1);
        let mut outcome = outcome;
        for (i, w) in waiters.drain(..).enumerate() {
            self.requests.remove(w.id.0);
            if let Some(d) = w.deadline {
                self.deadlines.remove(&(d, w.id));
            }
            // Clone for all but the last waiter, which takes the original.
            let o = if i == last {
                core::mem::replace(&mut outcome, Completion::Cancelled)
            } else {
                outcome.clone()
            };
            self.complete_waiter(w, o, attempts, false);
        }
        self.recycle_waiters(waiters);
        self.recycle_request(flight.request);
    }

    /// Keeps a finished flight's request (its allocation, and its headers'
    /// room) for the next one, when no transmission shares it any more.
    fn recycle_request(&mut self, mut request: Arc<HttpRequest>) {
        if self.spare_requests.len() >= SPARE_REQUESTS {
            return;
        }
        if let Some(r) = Arc::get_mut(&mut request)
            && r.headers.text_capacity() <= SPARE_HEADER_BYTES
        {
            r.body = None;
            r.headers.clear();
            self.spare_requests.push(request);
        }
    }

    /// `request`, shared, in a spare allocation when there is one: its path,
    /// headers and body move in (an empty header list keeps the spare's
    /// room for the correlation header).
    fn share_request(&mut self, request: HttpRequest) -> Arc<HttpRequest> {
        let Some(mut spare) = self.spare_requests.pop() else {
            return Arc::new(request);
        };
        let Some(r) = Arc::get_mut(&mut spare) else {
            return Arc::new(request);
        };
        // Every field named, so that a new one cannot be forgotten here.
        let HttpRequest {
            method,
            path_and_query,
            headers,
            body,
        } = request;
        r.method = method;
        r.path_and_query = path_and_query;
        r.body = body;
        if !headers.is_empty() {
            r.headers = headers;
        }
        spare
    }

    /// Keeps an emptied waiter list for the next flight.
    fn recycle_waiters(&mut self, mut waiters: Vec<Waiter>) {
        waiters.clear();
        if waiters.capacity() > 0
            && waiters.capacity() <= SPARE_WAITER_CAPACITY
            && self.spare_waiters.len() < SPARE_WAITER_LISTS
        {
            self.spare_waiters.push(waiters);
        }
    }

    /// Abandons a flight nobody waits for any more.
    fn drop_flight(&mut self, fid: FlightId) {
        if let Some(mut flight) = self.flights.remove(fid) {
            self.forget_flight(fid, &mut flight);
            self.recycle_request(flight.request);
        }
    }

    /// Removes every trace of a flight: queue entry, active slot, attempt,
    /// coalescing key; an outstanding permit is released without counting.
    fn forget_flight(&mut self, fid: FlightId, flight: &mut Flight) {
        self.schedule.leave(fid, &flight.phase);
        self.recycle_waiters(core::mem::take(&mut flight.waiters));
        match core::mem::replace(&mut flight.phase, Phase::Settling) {
            Phase::Queued(qid) => {
                self.queue.remove(qid);
            }
            // (`leave` took the attempt out of the index.)
            Phase::InFlight { permit, .. } => {
                self.breaker.on_ignored(permit);
            }
            Phase::Waiting { .. } | Phase::Settling => {}
        }
        if let Some(k) = flight.key.as_deref()
            && self.by_key.get(k) == Some(&fid)
        {
            self.by_key.remove(k);
        }
    }

    fn complete_waiter(
        &mut self,
        waiter: Waiter,
        outcome: Completion,
        attempts: u32,
        from_cache: bool,
    ) {
        self.completed += 1;
        self.outputs
            .push_back(Output::Event(Event::Completed(Completed {
                id: waiter.id,
                correlation_id: waiter.correlation_id,
                outcome,
                attempts,
                from_cache,
                submitted_at: waiter.submitted_at,
                completed_at: self.now,
            })));
    }

    /// When the first attempt out times out.
    fn first_timeout(&self) -> Option<Instant> {
        let (_, &fid) = self.schedule.attempts.first()?;
        self.flights.get(fid)?.timeout_at()
    }

    /// The earliest instant at which time alone changes something.
    fn next_wakeup(&self) -> Option<Instant> {
        let mut next: Option<Instant> = None;
        let mut consider = |t: Instant| {
            next = Some(next.map_or(t, |n: Instant| n.min(t)));
        };
        if let Some(t) = self.first_timeout() {
            consider(t);
        }
        if let Some(&(t, _)) = self.schedule.waiting.first() {
            consider(t);
        }
        if let Some(&(d, _)) = self.deadlines.first() {
            consider(d);
        }
        if let Some(t) = self.breaker.poll_timeout() {
            consider(t);
        }
        if !self.queue.is_empty() && self.schedule.active() < self.config.max_in_flight {
            let free = self.next_free(self.now);
            if free > self.now {
                consider(free);
            }
        }
        // Never ask to be woken in the past: that would spin.
        next.map(|t| t.max(self.now))
    }
}
