//! Circuit breaker: stop calling a service that is failing, probe it, come back.
//!
//! [`CircuitBreaker`] is a plain state machine. Ask it before every attempt
//! ([`try_acquire`](CircuitBreaker::try_acquire)); it answers with a [`Permit`]
//! or a [`Rejected`] that says until when. Report each attempt's outcome by
//! handing the permit back ([`on_success`](CircuitBreaker::on_success),
//! [`on_failure`](CircuitBreaker::on_failure) or
//! [`on_ignored`](CircuitBreaker::on_ignored)). Time is always passed in.
//!
//! ```text
//!            trip policy met                     open time passed
//!  Closed ─────────────────────▶ Open ──────────────────────────────▶ HalfOpen
//!    ▲                            ▲   (a failed or hung probe)            │
//!    │                            └───────────────────────────────────────┤
//!    └────────────────────── M probes succeeded ──────────────────────────┘
//!  force_open(now) ─▶ ForcedOpen      disable(now) ─▶ Disabled      reset(now) ─▶ Closed
//!  trip_until(until, now): Closed / HalfOpen / Open (shorter) ─▶ Open until `until`
//! ```
//!
//! - **Trip policies** (any that is on can trip it): `consecutive_failures`
//!   (default 5, as the Node client), `failure_rate` over a count- or
//!   time-based [`Window`] once it holds `minimum_calls` calls, and
//!   [`SlowCalls`]. Windows have bounded memory: a ring of outcomes or one
//!   bucket per second.
//! - **Open** for a fixed time (default 60 s) or an [`OpenDuration::Exponential`]
//!   one that grows on repeated trips and resets on a close.
//! - **Half-open** lets at most `half_open_probes` probes out at once (default 3),
//!   closes after `half_open_successes` successes (default 3) and reopens on
//!   any failure. A probe that does not report within `probe_max_wait`
//!   (default 30 s) counts as failed at that instant, just by time passing.
//! - **Generations.** Every state change starts a new generation; a permit
//!   remembers its own. A report on a permit from an older generation never
//!   moves the breaker out of open or half-open: a late success cannot close
//!   it, a late failure cannot trip it twice. If the breaker is closed again
//!   by then, the late outcome is simply counted in the closed window.
//! - **Time-based transitions happen at their due instant**, whenever they are
//!   observed: open ends at [`open_until`](CircuitBreaker::open_until), a hung
//!   probe fails at its grant + `probe_max_wait`.
//!   [`poll_timeout`](CircuitBreaker::poll_timeout) tells a driver when to
//!   call back. A `now` earlier than one already seen counts as no time passing.
//! - **Transitions are data**: drain [`poll_transition`](CircuitBreaker::poll_transition).
//!   A change to open says until when ([`Transition::open_until`]) and
//!   whether the trip was this breaker's own or adopted
//!   ([`Transition::adopted`]).
//! - **Trips seen elsewhere** (another worker's breaker on the same
//!   service, shared through a store): [`trip_until`](CircuitBreaker::trip_until)
//!   opens this breaker until that trip's end. It never shortens a longer
//!   open time, leaves a forced-open or disabled breaker alone, and after
//!   `until` the breaker goes half-open and probes as usual. An adopted trip
//!   does not count as one of this breaker's own trips (the growing open
//!   time is not advanced by it).
//!
//! ```
//! use novitai_core::breaker::{BreakerConfig, CircuitBreaker, Rejected, State};
//! use novitai_core::{Duration, Instant};
//!
//! let mut breaker = CircuitBreaker::new(BreakerConfig::default())?;
//! let t0 = Instant::ZERO;
//!
//! // Five 503s in a row open the breaker for 60 s.
//! for _ in 0..5 {
//!     let permit = breaker.try_acquire(t0).expect("closed");
//!     breaker.on_failure(permit, t0);
//! }
//! let back_at = t0 + Duration::from_secs(60);
//! assert_eq!(breaker.try_acquire(t0).unwrap_err(), Rejected::Open { until: back_at });
//! assert_eq!(breaker.poll_timeout(), Some(back_at));
//!
//! // After 60 s it lets a probe through; three good probes close it.
//! for _ in 0..3 {
//!     let probe = breaker.try_acquire(back_at).expect("half-open");
//!     breaker.on_success(probe, back_at);
//! }
//! assert_eq!(breaker.state(back_at), State::Closed);
//!
//! let changes: Vec<_> = core::iter::from_fn(|| breaker.poll_transition()).collect();
//! assert_eq!(changes.len(), 3); // Closed→Open, Open→HalfOpen, HalfOpen→Closed
//! # Ok::<(), novitai_core::breaker::BreakerConfigError>(())
//! ```

mod config;
mod window;

pub use config::{
    BreakerConfig, BreakerConfigError, MAX_COUNT_WINDOW, MAX_HALF_OPEN_PROBES, MAX_OPEN_FACTOR,
    MAX_TIME_WINDOW_SECS, OpenDuration, SlowCalls, Window,
};

use alloc::collections::VecDeque;
use alloc::vec;
use alloc::vec::Vec;
use core::fmt;
use serde::{Deserialize, Serialize};

use crate::time::{Duration, Instant};
use window::SlidingWindow;

/// How many unread transitions [`CircuitBreaker::poll_transition`] keeps;
/// past that the oldest is dropped.
pub const TRANSITION_QUEUE: usize = 16;

/// The breaker's state as callers see it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum State {
    /// Calls flow; outcomes are counted against the trip policies.
    Closed,
    /// Tripped: calls are refused until the open time has passed.
    Open,
    /// Testing the service with a bounded number of probes.
    HalfOpen,
    /// Held open by [`CircuitBreaker::force_open`] until [`CircuitBreaker::reset`].
    ForcedOpen,
    /// Held out of the way by [`CircuitBreaker::disable`]: every call is
    /// permitted, nothing is counted, until [`CircuitBreaker::reset`].
    Disabled,
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            State::Closed => "closed",
            State::Open => "open",
            State::HalfOpen => "half-open",
            State::ForcedOpen => "forced-open",
            State::Disabled => "disabled",
        })
    }
}

/// A state change, as data: `from` → `to` at the instant `at` it happened.
///
/// `from` and `to` are both [`State::Open`] when an adopted trip
/// ([`CircuitBreaker::trip_until`]) made an open breaker stay open longer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transition {
    /// The state before.
    pub from: State,
    /// The state after.
    pub to: State,
    /// When it happened (for time-driven changes: the due instant, even if
    /// the breaker was only asked later).
    pub at: Instant,
    /// For a change to [`State::Open`]: when the open time ends. `None` for
    /// every other change.
    #[serde(default)]
    pub open_until: Option<Instant>,
    /// `true` when the change to open came from a trip seen elsewhere
    /// ([`CircuitBreaker::trip_until`]), `false` for this breaker's own trip
    /// and every other change. A driver sharing trips with other workers
    /// publishes only its own (`to == Open && !adopted`), so a trip is never
    /// echoed back and forth.
    #[serde(default)]
    pub adopted: bool,
}

impl Transition {
    /// `Some(until)` when this is the breaker's own trip (a change to
    /// [`State::Open`] decided by its own counting, not adopted): what a
    /// fleet shares with its other workers.
    #[must_use]
    pub fn own_trip(&self) -> Option<Instant> {
        if self.to == State::Open && !self.adopted {
            self.open_until
        } else {
            None
        }
    }
}

/// Why [`CircuitBreaker::try_acquire`] said no.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Rejected {
    /// Tripped; at `until` it turns half-open and lets probes through.
    Open {
        /// When the open time ends.
        until: Instant,
    },
    /// Half-open with every probe slot taken. A slot frees when a probe
    /// reports back, and at `until` at the latest (the earliest probe's max wait).
    ProbesBusy {
        /// The latest instant at which a slot frees by itself.
        until: Instant,
    },
    /// Held open by [`CircuitBreaker::force_open`]; it ends only on
    /// [`CircuitBreaker::reset`], so [`Rejected::until`] is [`Instant::MAX`].
    ForcedOpen,
}

impl Rejected {
    /// The earliest instant at which asking again may succeed without anyone
    /// reporting: [`Instant::MAX`] when forced open.
    #[must_use]
    pub fn until(&self) -> Instant {
        match *self {
            Rejected::Open { until } | Rejected::ProbesBusy { until } => until,
            Rejected::ForcedOpen => Instant::MAX,
        }
    }
}

impl fmt::Display for Rejected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Rejected::Open { until } => write!(f, "circuit breaker open until {until}"),
            Rejected::ProbesBusy { until } => write!(
                f,
                "circuit breaker half-open with every probe out; a slot frees by {until}"
            ),
            Rejected::ForcedOpen => f.write_str("circuit breaker forced open until reset"),
        }
    }
}

/// What kind of permit it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Origin {
    Closed,
    Probe(u32),
    Disabled,
}

/// Leave to make one call. Hand it back exactly once with the outcome.
///
/// Not `Clone` or `Copy`: reporting consumes it, so one attempt can never be
/// reported twice. Report it to the breaker that granted it. Dropping it without a report is allowed for a closed-state
/// permit; a dropped probe holds its half-open slot until `probe_max_wait`
/// and then counts as failed, so prefer [`CircuitBreaker::on_ignored`].
#[derive(Debug, PartialEq, Eq)]
#[must_use = "report the call's outcome with on_success, on_failure or on_ignored"]
pub struct Permit {
    generation: u64,
    issued: Instant,
    origin: Origin,
}

impl Permit {
    /// When it was granted (a call's duration is measured from here).
    #[must_use]
    pub fn issued_at(&self) -> Instant {
        self.issued
    }

    /// `true` for a half-open probe.
    #[must_use]
    pub fn is_probe(&self) -> bool {
        matches!(self.origin, Origin::Probe(_))
    }
}

/// Counters, for dashboards and logs.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    /// The current state.
    pub state: State,
    /// Calls in the sliding window (recorded while closed).
    pub calls: u64,
    /// Failed calls in the window.
    pub failures: u64,
    /// Slow calls in the window (always 0 unless slow-call tripping is on).
    pub slow_calls: u64,
    /// `failures / calls`, or 0.0 for an empty window.
    pub failure_rate: f64,
    /// `slow_calls / calls`, or 0.0 for an empty window.
    pub slow_call_rate: f64,
    /// Failures in a row while closed.
    pub consecutive_failures: u32,
    /// Trips since the breaker was last closed (drives a growing open time).
    pub consecutive_trips: u32,
    /// Probes out now (half-open only).
    pub probes_in_flight: u32,
    /// Successful probes so far in this half-open period.
    pub probe_successes: u32,
    /// When the open time ends (see [`CircuitBreaker::open_until`]).
    pub open_until: Option<Instant>,
}

/// Internal state, with what only that state needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
enum Phase {
    Closed,
    Open { until: Instant },
    HalfOpen,
    ForcedOpen,
    Disabled,
}

impl Phase {
    fn state(self) -> State {
        match self {
            Phase::Closed => State::Closed,
            Phase::Open { .. } => State::Open,
            Phase::HalfOpen => State::HalfOpen,
            Phase::ForcedOpen => State::ForcedOpen,
            Phase::Disabled => State::Disabled,
        }
    }
}

/// The circuit breaker. See the [module docs](self) for the behaviour.
///
/// Serde-serialisable as a whole (config, state, window, probes, unread
/// transitions), so it can be persisted or shared; deserialising checks the
/// config and that the state fits it. Permits are not part of it: permits out
/// when a snapshot was taken report as an older generation to a breaker that
/// has changed state since.
///
/// Methods are grouped as: construction and getters; [`try_acquire`](Self::try_acquire)
/// and the `on_*` reports; manual control (`force_open`, `disable`, `reset`);
/// and `poll_*` for drivers.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(try_from = "Inner")]
pub struct CircuitBreaker {
    inner: Inner,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Inner {
    config: BreakerConfig,
    phase: Phase,
    generation: u64,
    /// The latest `now` seen (the machine's clock only moves forward).
    clock: Instant,
    consecutive_failures: u32,
    window: SlidingWindow,
    /// Trips since the last close, and the open time of the latest one.
    consecutive_trips: u32,
    open_for: Duration,
    /// Half-open: grant instant of the probe in each slot.
    probes: Vec<Option<Instant>>,
    probe_successes: u32,
    transitions: VecDeque<Transition>,
}

impl Serialize for CircuitBreaker {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.inner.serialize(serializer)
    }
}

impl TryFrom<Inner> for CircuitBreaker {
    type Error = BreakerConfigError;
    fn try_from(inner: Inner) -> Result<Self, BreakerConfigError> {
        inner.config.validate()?;
        if !inner.window.fits(inner.config.window) {
            return Err(BreakerConfigError::InconsistentSnapshot(
                "window does not match config.window",
            ));
        }
        if inner.probes.len() != inner.config.half_open_probes as usize {
            return Err(BreakerConfigError::InconsistentSnapshot(
                "probe slots do not match config.half_open_probes",
            ));
        }
        if inner.transitions.len() > TRANSITION_QUEUE {
            return Err(BreakerConfigError::InconsistentSnapshot(
                "more unread transitions than the queue holds",
            ));
        }
        let mut inner = inner;
        inner
            .transitions
            .reserve(TRANSITION_QUEUE.saturating_sub(inner.transitions.len()));
        Ok(CircuitBreaker { inner })
    }
}

impl CircuitBreaker {
    /// A closed breaker with `config`. All memory it will use (window, probe
    /// slots, transition queue) is allocated here.
    ///
    /// # Errors
    /// The first out-of-range field of `config`.
    pub fn new(config: BreakerConfig) -> Result<Self, BreakerConfigError> {
        config.validate()?;
        Ok(CircuitBreaker {
            inner: Inner {
                config,
                phase: Phase::Closed,
                generation: 0,
                clock: Instant::ZERO,
                consecutive_failures: 0,
                window: SlidingWindow::new(config.window),
                consecutive_trips: 0,
                open_for: config.open_duration.initial(),
                probes: vec![None; config.half_open_probes as usize],
                probe_successes: 0,
                transitions: VecDeque::with_capacity(TRANSITION_QUEUE),
            },
        })
    }

    /// The config it was built with.
    #[must_use]
    pub fn config(&self) -> &BreakerConfig {
        &self.inner.config
    }

    /// The state at `now`: first applies what time alone has changed by then
    /// (open → half-open, a hung probe failing).
    pub fn state(&mut self, now: Instant) -> State {
        self.inner.advance(now);
        self.inner.phase.state()
    }

    /// When the open time ends: `Some(until)` while open (as of the last
    /// `now` seen; it may already have passed), `Some(Instant::MAX)` while
    /// forced open, else `None`.
    #[must_use]
    pub fn open_until(&self) -> Option<Instant> {
        match self.inner.phase {
            Phase::Open { until } => Some(until),
            Phase::ForcedOpen => Some(Instant::MAX),
            _ => None,
        }
    }

    /// Counters at `now` (advances time like [`state`](Self::state)).
    pub fn metrics(&mut self, now: Instant) -> Metrics {
        self.inner.advance(now);
        let clock = self.inner.clock;
        self.inner.window.advance(clock);
        let t = self.inner.window.totals();
        let rate = |n: u64| {
            if t.calls == 0 {
                0.0
            } else {
                n as f64 / t.calls as f64
            }
        };
        let in_flight = self.inner.probes.iter().filter(|p| p.is_some()).count();
        Metrics {
            state: self.inner.phase.state(),
            calls: t.calls,
            failures: t.failures,
            slow_calls: t.slow,
            failure_rate: rate(t.failures),
            slow_call_rate: rate(t.slow),
            consecutive_failures: self.inner.consecutive_failures,
            consecutive_trips: self.inner.consecutive_trips,
            probes_in_flight: u32::try_from(in_flight).unwrap_or(u32::MAX),
            probe_successes: self.inner.probe_successes,
            open_until: self.open_until(),
        }
    }

    /// Asks leave for one call at `now`.
    ///
    /// # Errors
    /// [`Rejected`] while open, forced open, or half-open with every probe
    /// slot taken; it says when to ask again.
    pub fn try_acquire(&mut self, now: Instant) -> Result<Permit, Rejected> {
        let now = self.inner.advance(now);
        let s = &mut self.inner;
        let origin = match s.phase {
            Phase::Closed => Origin::Closed,
            Phase::Disabled => Origin::Disabled,
            Phase::Open { until } => return Err(Rejected::Open { until }),
            Phase::ForcedOpen => return Err(Rejected::ForcedOpen),
            Phase::HalfOpen => {
                let Some(i) = s.probes.iter().position(Option::is_none) else {
                    let until = s.earliest_probe_deadline().unwrap_or(now);
                    return Err(Rejected::ProbesBusy { until });
                };
                if let Some(slot) = s.probes.get_mut(i) {
                    *slot = Some(now);
                }
                Origin::Probe(u32::try_from(i).unwrap_or(u32::MAX))
            }
        };
        Ok(Permit {
            generation: s.generation,
            issued: now,
            origin,
        })
    }

    /// Reports that the call made with `permit` succeeded at `now`.
    pub fn on_success(&mut self, permit: Permit, now: Instant) {
        self.inner.report(permit, now, false);
    }

    /// Reports that the call made with `permit` failed at `now` (a 5xx, a
    /// timeout, a refused connection: anything that says the service is unwell).
    pub fn on_failure(&mut self, permit: Permit, now: Instant) {
        self.inner.report(permit, now, true);
    }

    /// Hands back `permit` without an outcome (e.g. a 4xx, which says nothing
    /// about the service's health, or a call cancelled before it was sent):
    /// a probe's slot is freed, nothing is counted. It takes no `now` because
    /// nothing is measured; a probe already past its max wait is freed too.
    pub fn on_ignored(&mut self, permit: Permit) {
        let s = &mut self.inner;
        if permit.generation == s.generation
            && let (Phase::HalfOpen, Origin::Probe(i)) = (s.phase, permit.origin)
        {
            s.free_probe(i);
        }
    }

    /// Holds the breaker open (every call refused with [`Rejected::ForcedOpen`])
    /// until [`reset`](Self::reset). No-op if already forced open.
    pub fn force_open(&mut self, now: Instant) {
        let now = self.inner.advance(now);
        if self.inner.phase != Phase::ForcedOpen {
            self.inner.enter(Phase::ForcedOpen, now);
        }
    }

    /// Adopts a trip seen elsewhere (another worker's breaker on the same
    /// service): holds the breaker open until `until`, then it goes
    /// half-open and probes as usual. Returns whether anything changed.
    ///
    /// - Closed or half-open: opens until `until` (probes out become stale,
    ///   like on any state change).
    /// - Open until an earlier instant: stays open, now until `until`
    ///   (an `Open → Open` transition).
    /// - Open until `until` or later, forced open, disabled, or `until` not
    ///   after `now`: nothing happens; a longer local open is never shortened.
    ///
    /// The transition is marked [`adopted`](Transition::adopted). An adopted
    /// trip is not one of this breaker's own trips: the growing open time
    /// ([`OpenDuration::Exponential`]) is neither advanced nor reset by it.
    pub fn trip_until(&mut self, until: Instant, now: Instant) -> bool {
        let now = self.inner.advance(now);
        if until <= now {
            return false;
        }
        match self.inner.phase {
            Phase::ForcedOpen | Phase::Disabled => false,
            Phase::Open { until: local } if local >= until => false,
            Phase::Closed | Phase::HalfOpen | Phase::Open { .. } => {
                self.inner.enter_as(Phase::Open { until }, now, true);
                true
            }
        }
    }

    /// Takes the breaker out of the way (every call permitted, nothing
    /// counted) until [`reset`](Self::reset). No-op if already disabled.
    pub fn disable(&mut self, now: Instant) {
        let now = self.inner.advance(now);
        if self.inner.phase != Phase::Disabled {
            self.inner.enter(Phase::Disabled, now);
        }
    }

    /// Back to a fresh closed state: counters, window and open-time growth
    /// cleared, outstanding permits made stale. From closed this clears the
    /// counters without a transition.
    pub fn reset(&mut self, now: Instant) {
        let now = self.inner.advance(now);
        if self.inner.phase == Phase::Closed {
            self.inner.consecutive_failures = 0;
            self.inner.window.clear();
            self.inner.consecutive_trips = 0;
            self.inner.open_for = self.inner.config.open_duration.initial();
        } else {
            self.inner.close(now);
        }
    }

    /// The next unread state change, oldest first. The queue keeps the latest
    /// [`TRANSITION_QUEUE`]; drain it after each call into the breaker.
    #[must_use]
    pub fn poll_transition(&mut self) -> Option<Transition> {
        self.inner.transitions.pop_front()
    }

    /// The next instant at which time alone changes something (the open time
    /// ends, or a probe's max wait runs out), or `None` if nothing is due.
    /// Call [`state`](Self::state) (or any method taking `now`) at that
    /// instant. Changes on every state change and probe grant or report.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.inner.phase {
            Phase::Open { until } => Some(until),
            Phase::HalfOpen => self.inner.earliest_probe_deadline(),
            _ => None,
        }
    }
}

impl Inner {
    /// Moves the clock to `now` (never back) and applies every time-driven
    /// change due by then, each at its due instant. Returns the clock.
    fn advance(&mut self, now: Instant) -> Instant {
        let now = self.clock.max(now);
        self.clock = now;
        // At most: open → half-open → (hung probe) open → half-open, since
        // entering half-open empties the probe slots.
        loop {
            match self.phase {
                Phase::Open { until } if until <= now => self.enter(Phase::HalfOpen, until),
                Phase::HalfOpen => match self.earliest_probe_deadline() {
                    Some(deadline) if deadline <= now => self.trip(deadline),
                    _ => break,
                },
                _ => break,
            }
        }
        now
    }

    fn earliest_probe_deadline(&self) -> Option<Instant> {
        let wait = self.config.probe_max_wait;
        self.probes.iter().flatten().min().map(|&t| t + wait)
    }

    /// Frees probe slot `i`; `false` if it was not taken.
    fn free_probe(&mut self, i: u32) -> bool {
        match self.probes.get_mut(i as usize) {
            Some(slot @ Some(_)) => {
                *slot = None;
                true
            }
            _ => false,
        }
    }

    fn report(&mut self, permit: Permit, now: Instant, failed: bool) {
        let now = self.advance(now);
        let slow = self
            .config
            .slow_calls
            .is_some_and(|s| now.saturating_duration_since(permit.issued) > s.duration);
        if permit.generation == self.generation {
            match (self.phase, permit.origin) {
                (Phase::Closed, Origin::Closed) => self.record_closed(failed, slow, now),
                (Phase::HalfOpen, Origin::Probe(i)) => {
                    if !self.free_probe(i) {
                        return;
                    }
                    if failed || slow {
                        self.trip(now);
                    } else {
                        self.probe_successes = self.probe_successes.saturating_add(1);
                        if self.probe_successes >= self.config.half_open_successes {
                            self.close(now);
                        }
                    }
                }
                _ => {}
            }
        } else if self.phase == Phase::Closed && permit.origin != Origin::Disabled {
            // A late report from before the last state change: evidence about
            // the service, but it must not move an open or half-open breaker.
            self.record_closed(failed, slow, now);
        }
    }

    fn record_closed(&mut self, failed: bool, slow: bool, now: Instant) {
        self.consecutive_failures = if failed {
            self.consecutive_failures.saturating_add(1)
        } else {
            0
        };
        self.window.record(failed, slow, now);
        if self.should_trip() {
            self.trip(now);
        }
    }

    fn should_trip(&self) -> bool {
        let c = &self.config;
        if c.consecutive_failures
            .is_some_and(|n| self.consecutive_failures >= n)
        {
            return true;
        }
        let t = self.window.totals();
        if t.calls == 0 || t.calls < u64::from(c.minimum_calls) {
            return false;
        }
        let calls = t.calls as f64;
        c.failure_rate
            .is_some_and(|r| t.failures as f64 / calls >= r)
            || c.slow_calls
                .is_some_and(|s| t.slow as f64 / calls >= s.rate)
    }

    /// Opens the breaker at `at`, for longer if it tripped before without a close.
    fn trip(&mut self, at: Instant) {
        self.open_for = if self.consecutive_trips == 0 {
            self.config.open_duration.initial()
        } else {
            self.config.open_duration.next(self.open_for)
        };
        self.consecutive_trips = self.consecutive_trips.saturating_add(1);
        let until = at + self.open_for;
        self.enter(Phase::Open { until }, at);
    }

    /// Closes the breaker at `at`, with fresh counters.
    fn close(&mut self, at: Instant) {
        self.consecutive_trips = 0;
        self.open_for = self.config.open_duration.initial();
        self.enter(Phase::Closed, at);
    }

    /// Switches to `phase` at `at`: new generation, state-local data reset,
    /// transition queued.
    fn enter(&mut self, phase: Phase, at: Instant) {
        self.enter_as(phase, at, false);
    }

    /// [`enter`](Self::enter), saying whether the change was adopted.
    fn enter_as(&mut self, phase: Phase, at: Instant, adopted: bool) {
        let from = self.phase.state();
        self.phase = phase;
        self.generation = self.generation.wrapping_add(1);
        self.consecutive_failures = 0;
        self.window.clear();
        self.probes.fill(None);
        self.probe_successes = 0;
        if self.transitions.len() >= TRANSITION_QUEUE {
            self.transitions.pop_front();
        }
        let open_until = match phase {
            Phase::Open { until } => Some(until),
            _ => None,
        };
        self.transitions.push_back(Transition {
            from,
            to: phase.state(),
            at,
            open_until,
            adopted,
        });
    }
}

#[cfg(test)]
mod tests;
