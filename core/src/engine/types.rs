//! The values that cross the engine's boundary: ids, options, inputs, outputs
//! and events.

use alloc::string::String;
use alloc::sync::Arc;
use core::fmt;

use crate::breaker::{State as BreakerState, Transition};
use crate::http::{HttpRequest, HttpResponse};
use crate::queue::Priority;
use crate::retry::{RetryReason, TransportErrorKind};
use crate::time::{Duration, Instant};

/// Identifies one submitted request for its whole life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RequestId(pub(crate) u64);

impl RequestId {
    /// The number behind the id (unique within one engine, increasing).
    #[must_use]
    pub const fn get(self) -> u64 {
        self.0
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "req#{}", self.0)
    }
}

/// Identifies one transmission. A late answer to an attempt that already
/// timed out, or whose request was cancelled, is recognised by its id and
/// ignored.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AttemptId(pub(crate) u64);

impl AttemptId {
    /// The number behind the id (unique within one engine, increasing).
    #[must_use]
    pub const fn get(self) -> u64 {
        self.0
    }
}

impl fmt::Display for AttemptId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "attempt#{}", self.0)
    }
}

/// The id sent as `X-Correlation-ID` and carried by every event of a
/// request, so logs on both sides can be joined. Cheap to clone: ids up to
/// 23 bytes (the generated `nv-` ids among them) are stored inline, longer
/// ones are shared.
#[derive(Clone)]
pub struct CorrelationId(Repr);

/// Longest id stored inline.
const INLINE: usize = 23;

#[derive(Clone)]
enum Repr {
    /// `len` bytes of valid UTF-8 at the start of `bytes`.
    Inline {
        len: u8,
        bytes: [u8; INLINE],
    },
    Shared(Arc<str>),
}

impl CorrelationId {
    /// Wraps a caller-supplied id.
    #[must_use]
    pub fn new(id: &str) -> CorrelationId {
        match u8::try_from(id.len()) {
            Ok(len) if id.len() <= INLINE => {
                let mut bytes = [0u8; INLINE];
                if let Some(dst) = bytes.get_mut(..id.len()) {
                    dst.copy_from_slice(id.as_bytes());
                }
                CorrelationId(Repr::Inline { len, bytes })
            }
            _ => CorrelationId(Repr::Shared(Arc::from(id))),
        }
    }

    /// An inline id from bytes the engine generated (ASCII by construction:
    /// anything else becomes `nv-`, without a UTF-8 check otherwise).
    pub(crate) fn from_ascii<const N: usize>(buf: [u8; N]) -> CorrelationId {
        let mut bytes = [0u8; INLINE];
        match (bytes.get_mut(..N), u8::try_from(N)) {
            (Some(dst), Ok(len)) if buf.is_ascii() => {
                dst.copy_from_slice(&buf);
                CorrelationId(Repr::Inline { len, bytes })
            }
            _ => CorrelationId::new("nv-"),
        }
    }

    /// The id as text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        match &self.0 {
            Repr::Inline { len, bytes } => bytes
                .get(..usize::from(*len))
                .and_then(|b| core::str::from_utf8(b).ok())
                .unwrap_or(""),
            Repr::Shared(s) => s,
        }
    }
}

impl PartialEq for CorrelationId {
    fn eq(&self, other: &CorrelationId) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for CorrelationId {}

impl PartialOrd for CorrelationId {
    fn partial_cmp(&self, other: &CorrelationId) -> Option<core::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for CorrelationId {
    fn cmp(&self, other: &CorrelationId) -> core::cmp::Ordering {
        self.as_str().cmp(other.as_str())
    }
}

impl core::hash::Hash for CorrelationId {
    fn hash<H: core::hash::Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

impl fmt::Debug for CorrelationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for CorrelationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Per-request options for [`super::Engine::submit`].
///
/// # Default
/// `Priority::Normal`, no deadline, a generated correlation id, not cacheable,
/// coalescing on for GETs, `idempotent: None` (decided by the method: GET,
/// PUT and DELETE are idempotent, POST and PATCH are not).
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestOptions {
    /// Queue priority (strict between levels, FIFO within one).
    pub priority: Priority,
    /// The latest instant at which the request may still complete; past it the
    /// request completes with [`Completion::DeadlineExceeded`] and no retry is
    /// scheduled beyond it.
    pub deadline: Option<Instant>,
    /// The correlation id to send; `None` generates one from the seeded PRNG.
    pub correlation_id: Option<String>,
    /// Serve from and store into the response cache (GETs only, and only
    /// when the engine's cache is enabled).
    pub cacheable: bool,
    /// Let identical GETs in flight at the same time share one transmission.
    pub coalesce: bool,
    /// Whether the request may be sent twice without harm. A request that is
    /// not idempotent (creating an instance, say) is retried only when the
    /// server certainly did not act on it: connection refused, DNS failure, or
    /// 429. `None` decides by method.
    pub idempotent: Option<bool>,
}

impl Default for RequestOptions {
    fn default() -> RequestOptions {
        RequestOptions {
            priority: Priority::Normal,
            deadline: None,
            correlation_id: None,
            cacheable: false,
            coalesce: true,
            idempotent: None,
        }
    }
}

impl RequestOptions {
    /// The default options (see the type's `# Default`).
    #[must_use]
    pub fn new() -> RequestOptions {
        RequestOptions::default()
    }

    /// Sets the priority.
    #[must_use]
    pub fn priority(mut self, p: Priority) -> RequestOptions {
        self.priority = p;
        self
    }

    /// Sets an absolute deadline.
    #[must_use]
    pub fn deadline(mut self, at: Instant) -> RequestOptions {
        self.deadline = Some(at);
        self
    }

    /// Supplies the correlation id.
    #[must_use]
    pub fn correlation_id(mut self, id: impl Into<String>) -> RequestOptions {
        self.correlation_id = Some(id.into());
        self
    }

    /// Marks the request cacheable.
    #[must_use]
    pub fn cacheable(mut self, yes: bool) -> RequestOptions {
        self.cacheable = yes;
        self
    }

    /// Overrides idempotency.
    #[must_use]
    pub fn idempotent(mut self, yes: bool) -> RequestOptions {
        self.idempotent = Some(yes);
        self
    }
}

/// Why [`super::Engine::submit`] refused to take a request at all (no id was
/// given, so no `Completed` event follows).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rejected {
    /// [`super::Engine::shutdown`] was called; the engine takes no more work.
    ShuttingDown,
}

impl fmt::Display for Rejected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rejected::ShuttingDown => f.write_str(
                "the client is shutting down and takes no new requests; create a new client",
            ),
        }
    }
}

impl core::error::Error for Rejected {}

/// What the caller tells the engine.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Input {
    /// The timer the engine asked for (or any earlier wake-up) fired.
    Timeout(Instant),
    /// An attempt got an HTTP response (any status).
    Response {
        /// The attempt, from [`Transmit::attempt`].
        attempt: AttemptId,
        /// When the response arrived.
        now: Instant,
        /// The response.
        response: HttpResponse,
    },
    /// An attempt failed below HTTP.
    TransportError {
        /// The attempt, from [`Transmit::attempt`].
        attempt: AttemptId,
        /// When the failure was seen.
        now: Instant,
        /// What went wrong.
        kind: TransportErrorKind,
    },
}

/// A request the caller must send now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transmit {
    /// Report the answer with this id.
    pub attempt: AttemptId,
    /// The request the attempt belongs to (for coalesced GETs: the first).
    pub request_id: RequestId,
    /// Its correlation id (also in the `X-Correlation-ID` header).
    pub correlation_id: CorrelationId,
    /// 1 for the first try, 2 for the first retry, ...
    pub number: u32,
    /// The request to send. Shared with the engine, which keeps it for
    /// retries: handing it out costs no copy.
    pub request: Arc<HttpRequest>,
    /// The engine times the attempt out after this long by itself; an
    /// adapter may also use it as its client timeout.
    pub timeout: Duration,
}

/// What the engine tells the caller; drain with
/// [`super::Engine::poll_output`] after every mutation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Output {
    /// Send this request.
    Transmit(Transmit),
    /// Something happened that the caller may log or act on.
    Event(Event),
    /// Nothing more to do now: call [`super::Engine::handle_input`] with
    /// [`Input::Timeout`] at this instant (`None`: only when new input arrives).
    Timeout(Option<Instant>),
}

/// Why an attempt failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Failure {
    /// The server answered with a status the engine treats as a failure.
    Status(HttpResponse),
    /// No HTTP answer: connection refused, reset, DNS, timeout, ...
    Transport(TransportErrorKind),
}

impl Failure {
    /// The HTTP status, if there was one.
    #[must_use]
    pub fn status(&self) -> Option<u16> {
        match self {
            Failure::Status(r) => Some(r.status),
            Failure::Transport(_) => None,
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Status(r) => write!(f, "the server answered HTTP {}", r.status),
            Failure::Transport(k) => write!(f, "{k}"),
        }
    }
}

/// How a request ended. Every submitted request gets exactly one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Completion {
    /// A final answer arrived: a success, or an error status that is not
    /// retried (400, 401, 404, ...). The API layer turns the latter into a
    /// typed error.
    Ok(HttpResponse),
    /// Every attempt failed, or retrying stopped (budget, deadline, a failure
    /// that is unsafe to retry for a non-idempotent request).
    GaveUp {
        /// The last attempt's failure.
        last: Failure,
        /// Attempts made.
        attempts: u32,
    },
    /// The circuit breaker is open: the request was not sent (or not sent
    /// again).
    BreakerOpen {
        /// When the breaker lets a probe through ([`Instant::MAX`] when it
        /// was forced open).
        until: Instant,
    },
    /// The queue was full when the request arrived.
    QueueFull,
    /// The request's deadline passed before it completed.
    DeadlineExceeded,
    /// [`super::Engine::cancel`] or [`super::Engine::shutdown`].
    Cancelled,
}

impl Completion {
    /// `true` for [`Completion::Ok`] with a 2xx status.
    #[must_use]
    pub fn is_success(&self) -> bool {
        matches!(self, Completion::Ok(r) if r.is_success())
    }
}

/// A request's one and only completion.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Completed {
    /// The request.
    pub id: RequestId,
    /// Its correlation id.
    pub correlation_id: CorrelationId,
    /// How it ended.
    pub outcome: Completion,
    /// Transmissions made for it (0 when served from cache or rejected).
    pub attempts: u32,
    /// Served from the response cache.
    pub from_cache: bool,
    /// When it was submitted.
    pub submitted_at: Instant,
    /// When it completed.
    pub completed_at: Instant,
}

/// Everything the engine decides, as data: enough to log every decision.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// The request finished; exactly one per submitted request.
    Completed(Completed),
    /// An attempt was handed out as a [`Output::Transmit`].
    AttemptStarted {
        /// The request.
        id: RequestId,
        /// Its correlation id.
        correlation_id: CorrelationId,
        /// The attempt.
        attempt: AttemptId,
        /// 1 for the first try.
        number: u32,
        /// `true` when the breaker is half-open and this is a probe.
        probe: bool,
    },
    /// An attempt failed (the next event says whether it is retried).
    AttemptFailed {
        /// The request.
        id: RequestId,
        /// Its correlation id.
        correlation_id: CorrelationId,
        /// The attempt.
        attempt: AttemptId,
        /// 1 for the first try.
        number: u32,
        /// What went wrong (the status, or the transport error kind).
        status: Option<u16>,
        /// The transport error kind, if no HTTP answer arrived.
        transport: Option<TransportErrorKind>,
    },
    /// A retry was scheduled.
    RetryScheduled {
        /// The request.
        id: RequestId,
        /// Its correlation id.
        correlation_id: CorrelationId,
        /// The number the retry's attempt will have (2 for the first retry).
        attempt: u32,
        /// When it will be sent (if the limiter and breaker allow then).
        at: Instant,
        /// The wait.
        delay: Duration,
        /// The failure that caused it.
        reason: RetryReason,
    },
    /// The circuit breaker changed state. A change to open carries its
    /// open-until; [`Transition::own_trip`] is `Some(until)` when the engine's
    /// own breaker tripped (what a fleet driver publishes), `None` for a trip
    /// adopted with [`super::Engine::adopt_trip`].
    BreakerTransition(Transition),
    /// Admissions wait for the rate limiter until `until`.
    RateLimited {
        /// When the next admission is possible.
        until: Instant,
        /// `true` when the wait comes from the server (a 429's Retry-After).
        by_server: bool,
    },
    /// A GET joined an identical one already in flight instead of sending
    /// its own.
    Coalesced {
        /// The request that joined.
        id: RequestId,
        /// Its correlation id.
        correlation_id: CorrelationId,
        /// The request whose transmission it shares.
        leader: RequestId,
    },
    /// An answer arrived for an attempt that is no longer live (timed out,
    /// cancelled); it was ignored.
    LateAnswerIgnored {
        /// The dead attempt.
        attempt: AttemptId,
    },
    /// The engine timed out an attempt itself.
    AttemptTimedOut {
        /// The request.
        id: RequestId,
        /// Its correlation id.
        correlation_id: CorrelationId,
        /// The attempt.
        attempt: AttemptId,
    },
}

/// A snapshot of the engine for dashboards and health endpoints (the Node
/// client's `getQueueStatus` and `getCircuitBreakerState`, and more).
#[derive(Clone, Debug, PartialEq)]
pub struct EngineStatus {
    /// Requests waiting in the queue (coalesced followers not counted).
    pub queued: usize,
    /// Transmissions out, waiting for an answer.
    pub in_flight: usize,
    /// Requests admitted and not finished: in flight, or waiting to retry.
    pub active: usize,
    /// The most requests active at once.
    pub max_in_flight: usize,
    /// How long the oldest queued request has waited.
    pub oldest_queued_wait: Option<Duration>,
    /// The breaker's state.
    pub breaker: BreakerState,
    /// When an open breaker lets a probe through.
    pub breaker_open_until: Option<Instant>,
    /// The earliest instant the rate limiter admits the next request.
    pub limiter_next_free: Instant,
    /// Retry budget: tokens left and the maximum, in thousandths (`None`
    /// when no budget is configured).
    pub retry_budget_milli: Option<(u64, u64)>,
    /// Answers in the response cache.
    pub cache_entries: usize,
    /// Requests submitted so far.
    pub submitted: u64,
    /// Requests completed so far.
    pub completed: u64,
}
