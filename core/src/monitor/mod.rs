//! The instance start-up monitor: from "create / start requested" to `ready`,
//! `failed` or `timeout`, as a pure state machine.
//!
//! The [`Monitor`] decides *when* to read the instance and *what* to probe; the
//! caller carries that out (through the engine, an HTTP client for probes)
//! and feeds the answers back. It also writes the webhook notifications of
//! each phase, with elapsed times and phase timestamps — but does not deliver
//! them: the adapter hands each to a delivery queue (with
//! [`crate::webhook::delivery::Schedule::node_startup`], 5 attempts with
//! jitter).
//!
//! ## Phases
//!
//! ```text
//! Initiated ──▶ Starting ──▶ (running) ──▶ HealthChecking ──▶ Ready
//!     │             │                           │
//!     └─────────────┴──▶ Failed / TimedOut ◀────┘
//! ```
//!
//! - *Initiated → Starting*: the first snapshot in a start-up status
//!   (`toCreate`, `creating`, `pulling` after a create; `toStart`, `starting`,
//!   `toRestart`, `restarting` either way; all of them when watching).
//! - *running*: the snapshot says `running`. Its HTTP endpoints (port
//!   mappings with an endpoint and a type other than `tcp`) are health-checked;
//!   with none, the monitor is `Ready` at once.
//! - *HealthChecking → Ready*: every endpoint answered 2xx or 3xx once
//!   (see [`HealthConfig`]). The instance keeps being polled meanwhile, so an
//!   instance that exits or is removed fails the monitor.
//! - *Failed*: `statusError` with a message; `removed` / `toRemove` /
//!   `removing`; `exited` (after a start: only once the start was seen to
//!   take effect, or [`EXITED_GRACE`] after the monitor began); a 404 or
//!   another non-transient fetch error; a start refused as "invalid state
//!   change" whose re-read shows neither a start-up status nor `running`; the
//!   health phase passing [`HealthConfig::max_duration`] (documented choice:
//!   this is `failed` with the health run, as the Node client's
//!   `health_check_failed`, not `timeout`); or [`Monitor::abort`].
//! - *TimedOut*: `running` not seen within `create_timeout` / `start_timeout`
//!   of the monitor's start. Unknown statuses and transient fetch errors
//!   (an outage, an open breaker) keep the monitor polling until then.
//!   When watching ([`Mode::Watch`]) the deadline is the longer of the two
//!   until the first start-up status tells which operation is under way
//!   (`toCreate` / `creating` / `pulling`: a create; the others: a start);
//!   from then on it is that operation's timeout, still counted from the
//!   monitor's start (it never moves later).
//!
//! The longest a monitor runs is the instance timeout (when watching, the
//! longer of the two) plus `health.max_duration`.
//!
//! ## Notifications
//!
//! | event | after a create ([`Mode::Create`]) or when watching ([`Mode::Watch`]) | after a start ([`Mode::Start`]) |
//! |---|---|---|
//! | monitor made | – | `startup_initiated` |
//! | `running` seen | `running` (with `data`) | `running` (progress, with `data`) |
//! | health phase begins | `health_checking` | `health_checking` (progress) |
//! | ready | `ready` | `startup_completed` |
//! | failed | `failed` (with `healthCheck` in the health phase) | `startup_failed` |
//! | timed out | `timeout` | `timeout` |
//!
//! Every notification carries `elapsedTime` (ms since the monitor began, except
//! `startup_initiated`) and `startupOperation` with the phase timestamps
//! reached so far; after a create this is an addition to the Node payload that
//! old receivers ignore. `data` holds a summary of the instance (status,
//! cluster, product, GPUs, port mappings) — never its secrets. Wall-clock
//! times are the `UnixTime` given at construction plus the elapsed time.
//! Every monitor emits exactly one terminal notification (`ready`,
//! `startup_completed`, `failed`, `startup_failed` or `timeout`) followed by
//! exactly one [`MonitorAction::Finished`].
//!
//! ## Driving it
//!
//! ```
//! use novitai_core::monitor::{Monitor, MonitorAction, MonitorConfig, Target};
//! use novitai_core::api::instances::{Instance, InstanceStatus};
//! use novitai_core::{Instant, Rng, UnixTime};
//!
//! let mut now = Instant::ZERO;
//! let mut m = Monitor::for_create(
//!     MonitorConfig::default(),
//!     Target::new("0123456789abcdef"),
//!     Rng::new(7),
//!     now,
//!     UnixTime::from_secs(1_700_000_000),
//! )
//! .unwrap();
//! loop {
//!     match m.poll(now) {
//!         MonitorAction::FetchInstance(id) => {
//!             // GET /v1/gpu/instance?instanceId=<m.target().novita_instance_id>
//!             let snapshot = Instance {
//!                 status: InstanceStatus::Running,
//!                 ..Instance::default()
//!             };
//!             m.on_instance(id, &snapshot, now);
//!         }
//!         MonitorAction::Probe(p) => { /* GET p.url, then m.on_probe_result(p.id, ..) */ }
//!         MonitorAction::Notify(n) => { /* queue the webhook */ let _ = n; }
//!         MonitorAction::Finished(outcome) => {
//!             assert!(outcome.is_ready());
//!             break;
//!         }
//!         MonitorAction::Wait(Some(at)) => now = at, // sleep until `at` or an answer
//!         MonitorAction::Wait(None) => break,
//!     }
//! }
//! ```

mod config;
mod health;
#[cfg(test)]
mod tests;

use alloc::boxed::Box;
use alloc::collections::VecDeque;
use alloc::string::{String, ToString};
use core::fmt;
use serde::{Deserialize, Serialize};

pub use config::{HealthConfig, MonitorConfig, MonitorConfigError};
pub use health::{PROBE_GRACE, ProbeId, ProbeOutcome, ProbeRequest, ProbeResult};

use crate::api::ApiErrorKind;
use crate::api::instances::{Instance, InstanceStatus};
use crate::error::Error;
use crate::rng::Rng;
use crate::time::{Duration, Instant, UnixTime};
use crate::webhook::payload::{
    HealthCheck, HealthCheckStatus, Notification, NotificationStatus, OverallHealth,
    StartupOperation, StartupPhases, StartupStatus,
};
use health::HealthRun;

/// After a start, how long an `exited` snapshot is taken as "the start has
/// not been picked up yet" (until a start-up status is seen).
pub const EXITED_GRACE: Duration = Duration::from_secs(60);

/// Which operation is being monitored.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// A freshly created instance (deadline `create_timeout`).
    Create,
    /// A start of a stopped instance (deadline `start_timeout`).
    Start,
    /// An instance being created or started by someone else (or already
    /// running), watched without issuing anything: the first read goes out
    /// at once; the deadline is the longer of `create_timeout` and
    /// `start_timeout` until a start-up status shows which operation is
    /// under way, then that one's; notifications are those of a create.
    Watch,
}

/// The instance being monitored and the names used in notifications.
///
/// # Default
/// [`Target::new`] sets `instance_id` to the Novita id and `operation_id` to
/// `start-<novita id>`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Target {
    /// The caller's id for the instance (`instanceId` in notifications).
    pub instance_id: String,
    /// Novita's instance id: what to fetch (`novitaInstanceId`).
    pub novita_instance_id: String,
    /// `startupOperation.operationId`.
    pub operation_id: String,
}

impl Target {
    /// Monitors Novita instance `novita_instance_id`.
    #[must_use]
    pub fn new(novita_instance_id: impl Into<String>) -> Target {
        let n: String = novita_instance_id.into();
        Target {
            instance_id: n.clone(),
            operation_id: alloc::format!("start-{n}"),
            novita_instance_id: n,
        }
    }

    /// Sets the caller's id used as `instanceId`.
    #[must_use]
    pub fn instance_id(mut self, id: impl Into<String>) -> Target {
        self.instance_id = id.into();
        self
    }

    /// Sets `startupOperation.operationId`.
    #[must_use]
    pub fn operation_id(mut self, id: impl Into<String>) -> Target {
        self.operation_id = id.into();
        self
    }
}

/// Where a monitor is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Requested; no start-up status seen yet.
    Initiated,
    /// The instance was seen on its way up.
    Starting,
    /// Running; probing its endpoints.
    HealthChecking,
    /// Finished: ready.
    Ready,
    /// Finished: failed.
    Failed,
    /// Finished: timed out.
    TimedOut,
}

impl Phase {
    /// `true` for `Ready`, `Failed` and `TimedOut`.
    #[must_use]
    pub const fn is_terminal(self) -> bool {
        matches!(self, Phase::Ready | Phase::Failed | Phase::TimedOut)
    }
}

/// Identifies one fetch of the instance; an answer to a fetch the monitor no
/// longer waits for is ignored.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct FetchId(pub u64);

/// Why a fetch of the instance produced no snapshot.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum FetchError {
    /// The instance does not exist (404, `RESOURCE_NOT_FOUND`): fails the
    /// monitor.
    NotFound,
    /// An error retrying will not fix (401, 403, another 400, a request that
    /// was refused): fails the monitor.
    Fatal(String),
    /// An error that may pass (5xx, 429, timeouts, the engine gave up, an
    /// open breaker, an unreadable body): the monitor keeps polling.
    Transient(String),
}

impl FetchError {
    /// Classifies the error of a `GET instance` call.
    #[must_use]
    pub fn from_error(e: &Error) -> FetchError {
        match e {
            Error::Api(a) if a.status == 404 => FetchError::NotFound,
            Error::Api(a)
                if matches!(
                    a.kind,
                    ApiErrorKind::NotFound | ApiErrorKind::ResourceNotFound
                ) =>
            {
                FetchError::NotFound
            }
            Error::Api(a) if a.is_retryable() || a.kind == ApiErrorKind::Decode => {
                FetchError::Transient(a.to_string())
            }
            Error::Api(_) | Error::Validation(_) | Error::Rejected(_) => {
                FetchError::Fatal(e.to_string())
            }
            _ => FetchError::Transient(e.to_string()),
        }
    }
}

/// Why a monitor failed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum FailReason {
    /// The instance reports `statusError` with this message.
    StatusError {
        /// The status it was in.
        status: InstanceStatus,
        /// `statusError.message`.
        message: String,
    },
    /// The instance is being or has been removed.
    Removed {
        /// `toRemove`, `removing` or `removed`.
        status: InstanceStatus,
    },
    /// The instance exited instead of running.
    Exited,
    /// The instance no longer exists (404).
    NotFound,
    /// The start was refused as "invalid state change" and the instance is
    /// neither starting nor running.
    StartRejected {
        /// The status the re-read showed.
        status: InstanceStatus,
    },
    /// Reading the instance failed for good (e.g. 401).
    Fetch(String),
    /// Some endpoints never answered healthy within the health phase's cap.
    HealthCheck {
        /// `port (url): last error` for each unhealthy endpoint.
        unhealthy: String,
        /// How long the health phase lasted.
        waited: Duration,
    },
    /// The caller ended the monitor ([`Monitor::abort`]).
    Aborted(String),
}

impl fmt::Display for FailReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FailReason::StatusError { status, message } => {
                write!(f, "the instance failed while {status}: {message}")
            }
            FailReason::Removed { status } => {
                write!(
                    f,
                    "the instance was removed while starting (status {status})"
                )
            }
            FailReason::Exited => f.write_str("the instance exited instead of running"),
            FailReason::NotFound => f.write_str("the instance no longer exists (404)"),
            FailReason::StartRejected { status } => write!(
                f,
                "the start was refused (invalid state change) and the instance is {status}, \
                 neither starting nor running"
            ),
            FailReason::Fetch(e) => write!(f, "reading the instance failed: {e}"),
            FailReason::HealthCheck { unhealthy, waited } => write!(
                f,
                "health check failed: not healthy after {waited}: {unhealthy}"
            ),
            FailReason::Aborted(r) => write!(f, "monitoring stopped: {r}"),
        }
    }
}

/// How a monitor ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Outcome {
    /// Running with every endpoint healthy ([`Monitor::instance`] holds the
    /// `running` snapshot).
    Ready {
        /// Time from the monitor's start.
        elapsed: Duration,
    },
    /// Gave up on the instance.
    Failed {
        /// Why.
        reason: FailReason,
        /// Time from the monitor's start.
        elapsed: Duration,
    },
    /// `running` was not seen in time.
    TimedOut {
        /// Time from the monitor's start (the configured timeout).
        elapsed: Duration,
        /// The last status seen, if any snapshot arrived.
        last_status: Option<InstanceStatus>,
    },
}

impl Outcome {
    /// `true` for [`Outcome::Ready`].
    #[must_use]
    pub const fn is_ready(&self) -> bool {
        matches!(self, Outcome::Ready { .. })
    }

    /// Time from the monitor's start to the end.
    #[must_use]
    pub const fn elapsed(&self) -> Duration {
        match self {
            Outcome::Ready { elapsed }
            | Outcome::Failed { elapsed, .. }
            | Outcome::TimedOut { elapsed, .. } => *elapsed,
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Ready { elapsed } => write!(f, "ready after {elapsed}"),
            Outcome::Failed { reason, elapsed } => write!(f, "{reason} (after {elapsed})"),
            Outcome::TimedOut {
                elapsed,
                last_status,
            } => {
                write!(f, "the instance was not running after {elapsed}")?;
                match last_status {
                    Some(s) => write!(f, " (last status: {s})"),
                    None => f.write_str(" (no status could be read)"),
                }
            }
        }
    }
}

/// What the monitor wants done next ([`Monitor::poll`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum MonitorAction {
    /// Read the instance (`GET /v1/gpu/instance?instanceId=`
    /// [`Target::novita_instance_id`]) and report with
    /// [`Monitor::on_instance`] or [`Monitor::on_fetch_error`].
    FetchInstance(FetchId),
    /// Probe an endpoint and report with [`Monitor::on_probe_result`].
    Probe(ProbeRequest),
    /// Deliver this webhook notification.
    Notify(Box<Notification>),
    /// The monitor ended; emitted exactly once, after the terminal
    /// notification.
    Finished(Outcome),
    /// Nothing to do until this time (or until an answer arrives); `None`:
    /// finished, or waiting only for answers.
    Wait(Option<Instant>),
}

/// Phase timestamps (monotonic), for `startupOperation.phases`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
struct PhaseTimes {
    starting: Option<Instant>,
    running: Option<Instant>,
    health_started: Option<Instant>,
    health_completed: Option<Instant>,
    ready: Option<Instant>,
}

/// The start-up monitor of one instance. See the [module docs](self).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Monitor {
    config: MonitorConfig,
    target: Target,
    mode: Mode,
    rng: Rng,
    start: Instant,
    start_unix: UnixTime,
    now: Instant,
    deadline: Instant,
    phase: Phase,
    phases: PhaseTimes,
    /// Fetches sent so far.
    polls: u32,
    last_poll_at: Option<Instant>,
    /// When to send the next fetch (`None` while one is out, or finished).
    next_poll_at: Option<Instant>,
    in_flight: Option<FetchId>,
    /// The fetch in flight was handed to the caller by [`Monitor::poll`]
    /// (only then can its answer arrive).
    #[serde(default)]
    fetch_handed_out: bool,
    /// A start was refused as "invalid state change": the next snapshot
    /// decides.
    verify_start: bool,
    last_status: Option<InstanceStatus>,
    last_fetch_error: Option<String>,
    running_snapshot: Option<Instance>,
    health: Option<HealthRun>,
    outcome: Option<Outcome>,
    outbox: VecDeque<MonitorAction>,
}

impl Monitor {
    /// Monitors a freshly created instance from `now` (the create call's
    /// time); `now_unix` is the wall-clock time at `now`.
    ///
    /// # Errors
    /// A `config` value out of range.
    pub fn for_create(
        config: MonitorConfig,
        target: Target,
        rng: Rng,
        now: Instant,
        now_unix: UnixTime,
    ) -> Result<Monitor, MonitorConfigError> {
        Monitor::new(Mode::Create, config, target, rng, now, now_unix)
    }

    /// Monitors a start of a stopped instance from `now` (when the start
    /// request is sent); emits `startup_initiated` at once. If the start
    /// request is refused as "invalid state change", call
    /// [`Monitor::on_start_rejected_invalid_state`]; if it fails otherwise,
    /// [`Monitor::abort`].
    ///
    /// # Errors
    /// A `config` value out of range.
    pub fn for_start(
        config: MonitorConfig,
        target: Target,
        rng: Rng,
        now: Instant,
        now_unix: UnixTime,
    ) -> Result<Monitor, MonitorConfigError> {
        let mut m = Monitor::new(Mode::Start, config, target, rng, now, now_unix)?;
        let op = m.operation(StartupStatus::Initiated, None);
        let n = Notification::startup_initiated(
            m.target.instance_id.clone(),
            m.target.novita_instance_id.clone(),
            op,
            now_unix,
        );
        m.outbox.push_back(MonitorAction::Notify(Box::new(n)));
        Ok(m)
    }

    /// Watches an instance that is already being created or started (or is
    /// running) from `now`, without issuing anything: the first read goes
    /// out at once. See [`Mode::Watch`] for the deadline; `exited` is taken
    /// as "a start not picked up yet" for [`EXITED_GRACE`], as after a start.
    ///
    /// # Errors
    /// A `config` value out of range.
    pub fn for_watch(
        config: MonitorConfig,
        target: Target,
        rng: Rng,
        now: Instant,
        now_unix: UnixTime,
    ) -> Result<Monitor, MonitorConfigError> {
        Monitor::new(Mode::Watch, config, target, rng, now, now_unix)
    }

    fn new(
        mode: Mode,
        config: MonitorConfig,
        target: Target,
        rng: Rng,
        now: Instant,
        now_unix: UnixTime,
    ) -> Result<Monitor, MonitorConfigError> {
        config.validate()?;
        let timeout = match mode {
            Mode::Create => config.create_timeout,
            Mode::Start => config.start_timeout,
            Mode::Watch => config.create_timeout.max(config.start_timeout),
        };
        let first_poll = match mode {
            Mode::Watch => now,
            Mode::Create | Mode::Start => now.saturating_add(config.gap_before_poll(1)),
        };
        Ok(Monitor {
            config,
            target,
            mode,
            rng,
            start: now,
            start_unix: now_unix,
            now,
            deadline: now.saturating_add(timeout),
            phase: Phase::Initiated,
            phases: PhaseTimes::default(),
            polls: 0,
            last_poll_at: None,
            next_poll_at: Some(first_poll),
            in_flight: None,
            fetch_handed_out: false,
            verify_start: false,
            last_status: None,
            last_fetch_error: None,
            running_snapshot: None,
            health: None,
            outcome: None,
            outbox: VecDeque::with_capacity(8),
        })
    }

    // ---- getters ------------------------------------------------------------

    /// The configuration in force.
    #[must_use]
    pub fn config(&self) -> &MonitorConfig {
        &self.config
    }

    /// The instance and names.
    #[must_use]
    pub fn target(&self) -> &Target {
        &self.target
    }

    /// Create or start.
    #[must_use]
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// Where the monitor is.
    #[must_use]
    pub fn phase(&self) -> Phase {
        self.phase
    }

    /// When the monitor began.
    #[must_use]
    pub fn started_at(&self) -> Instant {
        self.start
    }

    /// When the wait for `running` times out. When watching it may move
    /// earlier once a start-up status shows the operation (never later).
    #[must_use]
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// When the health phase gives up (`None` before it began).
    #[must_use]
    pub fn health_deadline(&self) -> Option<Instant> {
        self.health
            .as_ref()
            .map(|h| h.started.saturating_add(self.config.health.max_duration))
    }

    /// How it ended (`None` while running).
    #[must_use]
    pub fn outcome(&self) -> Option<&Outcome> {
        self.outcome.as_ref()
    }

    /// `true` once it ended (the `Finished` action may still be queued).
    #[must_use]
    pub fn is_finished(&self) -> bool {
        self.outcome.is_some()
    }

    /// The snapshot that showed `running` (`None` before).
    #[must_use]
    pub fn instance(&self) -> Option<&Instance> {
        self.running_snapshot.as_ref()
    }

    /// The last status read.
    #[must_use]
    pub fn last_status(&self) -> Option<&InstanceStatus> {
        self.last_status.as_ref()
    }

    /// The last transient fetch error, if the last fetch failed.
    #[must_use]
    pub fn last_fetch_error(&self) -> Option<&str> {
        self.last_fetch_error.as_deref()
    }

    /// Fetches sent so far.
    #[must_use]
    pub fn polls(&self) -> u32 {
        self.polls
    }

    /// When the monitor next needs [`Monitor::poll`] called even if no
    /// answer arrives: the next fetch, a probe to send or give up on, or a
    /// deadline. `None` when finished. Changes with every input.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.outcome.is_some() {
            return None;
        }
        let mut at = self.next_poll_at;
        let mut min = |t: Option<Instant>| {
            if let Some(t) = t {
                at = Some(at.map_or(t, |a| a.min(t)));
            }
        };
        match &self.health {
            Some(h) => {
                min(h.next_wake());
                min(self.health_deadline());
            }
            None => min(Some(self.deadline)),
        }
        at
    }

    // ---- inputs -------------------------------------------------------------

    /// A snapshot of the instance answering fetch `fetch`. Returns `false`
    /// (and ignores it) if the monitor does not wait for that fetch: one it
    /// has not handed out through [`Monitor::poll`] yet counts as not
    /// waited for.
    pub fn on_instance(&mut self, fetch: FetchId, instance: &Instance, now: Instant) -> bool {
        if !self.take_fetch(fetch, now) {
            return false;
        }
        self.last_fetch_error = None;
        if self.last_status.as_ref() != Some(&instance.status) {
            self.last_status = Some(instance.status.clone());
        }
        self.evaluate(instance);
        true
    }

    /// Fetch `fetch` failed. [`FetchError::Transient`] keeps the monitor
    /// polling (until its deadline); the others fail it. Returns `false` (and
    /// ignores it) if the monitor does not wait for that fetch.
    pub fn on_fetch_error(&mut self, fetch: FetchId, error: FetchError, now: Instant) -> bool {
        if !self.take_fetch(fetch, now) {
            return false;
        }
        match error {
            FetchError::NotFound => self.fail(FailReason::NotFound),
            FetchError::Fatal(e) => self.fail(FailReason::Fetch(e)),
            FetchError::Transient(e) => self.last_fetch_error = Some(e),
        }
        true
    }

    /// The answer to probe `probe`. Returns `false` (and ignores it) if the
    /// monitor does not wait for that probe (it timed out, or the phase is
    /// over).
    pub fn on_probe_result(&mut self, probe: ProbeId, result: ProbeResult, now: Instant) -> bool {
        // Only a probe handed out by `poll`: not one still queued, nor one
        // the clock advance below sends (found by the `monitor` fuzz target:
        // ids are sequential, easy to make up).
        let waiting = self.health.as_ref().is_some_and(|h| h.is_waiting(probe));
        self.tick(now);
        if !waiting || self.outcome.is_some() {
            return false;
        }
        let Some(h) = self.health.as_mut() else {
            return false;
        };
        if !h.record(probe, result, self.now, &self.config.health, &mut self.rng) {
            return false;
        }
        if h.all_healthy() {
            self.become_ready();
        }
        true
    }

    /// The start request was answered 400 "invalid state change" (start
    /// mode). The instance is read again as soon as the poll spacing allows;
    /// if it is starting or running the monitor carries on, otherwise it
    /// fails with [`FailReason::StartRejected`]. Ignored after a create or
    /// once finished.
    pub fn on_start_rejected_invalid_state(&mut self, now: Instant) {
        self.tick(now);
        if self.mode != Mode::Start || self.outcome.is_some() {
            return;
        }
        self.verify_start = true;
        if self.in_flight.is_none() {
            let soonest = match self.last_poll_at {
                None => self.now,
                Some(t) => t
                    .saturating_add(self.config.gap_before_poll(self.polls.saturating_add(1)))
                    .max(self.now),
            };
            self.next_poll_at = Some(self.next_poll_at.map_or(soonest, |t| t.min(soonest)));
        }
    }

    /// Ends the monitor as failed with `reason` (e.g. the start request
    /// failed, or the caller gave up). Ignored once finished.
    pub fn abort(&mut self, reason: impl Into<String>, now: Instant) {
        self.tick(now);
        self.fail(FailReason::Aborted(reason.into()));
    }

    // ---- output -------------------------------------------------------------

    /// Moves the clock to `now` (never backwards), fires what is due, and
    /// returns the next action. Call it after every input and whenever the
    /// last [`MonitorAction::Wait`] time comes, until it returns `Wait`.
    #[must_use]
    pub fn poll(&mut self, now: Instant) -> MonitorAction {
        self.tick(now);
        match self.outbox.pop_front() {
            Some(a) => {
                // From now on the caller may answer it.
                match &a {
                    MonitorAction::FetchInstance(id) if self.in_flight == Some(*id) => {
                        self.fetch_handed_out = true;
                    }
                    MonitorAction::Probe(p) => {
                        if let Some(h) = self.health.as_mut() {
                            h.hand_out(p.id);
                        }
                    }
                    _ => {}
                }
                a
            }
            None => MonitorAction::Wait(self.poll_timeout()),
        }
    }

    // ---- internals ------------------------------------------------------------

    /// Advances the clock and fires timers.
    fn tick(&mut self, now: Instant) {
        self.now = self.now.max(now);
        if self.outcome.is_some() {
            return;
        }
        let now = self.now;
        if let Some(cap) = self.health_deadline() {
            if now >= cap {
                self.health_gave_up();
                return;
            }
        } else if now >= self.deadline {
            self.time_out();
            return;
        }
        if self.in_flight.is_none() && self.next_poll_at.is_some_and(|t| t <= now) {
            let id = FetchId(u64::from(self.polls));
            self.polls = self.polls.saturating_add(1);
            self.in_flight = Some(id);
            self.fetch_handed_out = false;
            self.last_poll_at = Some(now);
            self.next_poll_at = None;
            self.outbox.push_back(MonitorAction::FetchInstance(id));
        }
        if let Some(h) = self.health.as_mut() {
            let out = &mut self.outbox;
            h.advance(now, &self.config.health, &mut self.rng, &mut |p| {
                out.push_back(MonitorAction::Probe(p));
            });
            // A probe that timed out can only make things worse; nothing to
            // check here: readiness comes only from a healthy answer.
        }
    }

    /// Accepts the answer to `fetch` if it is the one out; schedules the next.
    fn take_fetch(&mut self, fetch: FetchId, now: Instant) -> bool {
        // Only the fetch handed out by `poll`: not one still queued, nor one
        // the clock advance below sends (found by the `monitor` fuzz target).
        let was_out = self.in_flight == Some(fetch) && self.fetch_handed_out;
        self.tick(now);
        if !was_out || self.outcome.is_some() || self.in_flight != Some(fetch) {
            return false;
        }
        self.in_flight = None;
        let gap = self.config.gap_before_poll(self.polls.saturating_add(1));
        self.next_poll_at = self.last_poll_at.map(|t| t.saturating_add(gap));
        true
    }

    fn evaluate(&mut self, instance: &Instance) {
        if let Some(msg) = instance.failure() {
            self.fail(FailReason::StatusError {
                status: instance.status.clone(),
                message: msg.to_string(),
            });
            return;
        }
        use InstanceStatus as S;
        let status = &instance.status;
        let start_up = match self.mode {
            Mode::Create => matches!(
                status,
                S::ToCreate | S::Creating | S::Pulling | S::ToRestart | S::Restarting
            ),
            Mode::Start => matches!(
                status,
                S::ToStart | S::Starting | S::ToRestart | S::Restarting
            ),
            Mode::Watch => matches!(
                status,
                S::ToCreate
                    | S::Creating
                    | S::Pulling
                    | S::ToStart
                    | S::Starting
                    | S::ToRestart
                    | S::Restarting
            ),
        };
        match status {
            S::Removed | S::ToRemove | S::Removing => {
                self.fail(FailReason::Removed {
                    status: status.clone(),
                });
            }
            S::Running => {
                self.verify_start = false;
                if self.health.is_none() {
                    self.became_running(instance);
                }
            }
            S::Exited => {
                let grace_over = self.now.saturating_duration_since(self.start) >= EXITED_GRACE;
                if self.verify_start {
                    self.fail(FailReason::StartRejected {
                        status: status.clone(),
                    });
                } else if self.mode == Mode::Create || self.phase != Phase::Initiated || grace_over
                {
                    self.fail(FailReason::Exited);
                }
            }
            _ if start_up => {
                self.verify_start = false;
                if self.phase == Phase::Initiated {
                    self.phase = Phase::Starting;
                    self.phases.starting = Some(self.now);
                    if self.mode == Mode::Watch {
                        let creating = matches!(status, S::ToCreate | S::Creating | S::Pulling);
                        let timeout = if creating {
                            self.config.create_timeout
                        } else {
                            self.config.start_timeout
                        };
                        self.deadline = self.deadline.min(self.start.saturating_add(timeout));
                    }
                }
            }
            S::Other(_) => {}
            _ => {
                if self.verify_start {
                    self.fail(FailReason::StartRejected {
                        status: status.clone(),
                    });
                }
            }
        }
    }

    fn elapsed(&self) -> Duration {
        self.now.saturating_duration_since(self.start)
    }

    fn wall(&self, at: Instant) -> UnixTime {
        self.start_unix
            .saturating_add(at.saturating_duration_since(self.start))
    }

    fn wall_now(&self) -> UnixTime {
        self.wall(self.now)
    }

    /// `startupOperation` with the phases reached so far.
    fn operation(&self, status: StartupStatus, error: Option<String>) -> StartupOperation {
        let iso = |t: Option<Instant>| t.map(|t| self.wall(t).to_iso8601());
        let p = self.phases;
        let last = [
            p.starting,
            p.running,
            p.health_started,
            p.health_completed,
            p.ready,
        ]
        .into_iter()
        .flatten()
        .max();
        let start = self.start_unix.to_iso8601();
        StartupOperation {
            operation_id: self.target.operation_id.clone(),
            status,
            started_at: start.clone(),
            phases: StartupPhases {
                start_requested: start,
                instance_starting: iso(p.starting),
                instance_running: iso(p.running),
                health_check_started: iso(p.health_started),
                health_check_completed: iso(p.health_completed),
                ready: iso(p.ready),
            },
            total_elapsed_time: last.map(|t| t.saturating_duration_since(self.start).as_millis()),
            error,
        }
    }

    fn notify(&mut self, n: Notification) {
        self.outbox.push_back(MonitorAction::Notify(Box::new(n)));
    }

    fn ids(&self) -> (String, String) {
        (
            self.target.instance_id.clone(),
            self.target.novita_instance_id.clone(),
        )
    }

    fn became_running(&mut self, instance: &Instance) {
        let now = self.now;
        if self.phases.starting.is_none() {
            self.phases.starting = Some(now);
        }
        self.phases.running = Some(now);
        self.running_snapshot = Some(instance.clone());
        let (iid, nid) = self.ids();
        let at = self.wall_now();
        let elapsed = self.elapsed();
        let data = summary(instance);
        let n = match self.mode {
            Mode::Create | Mode::Watch => Notification::running(iid, nid, elapsed, at)
                .with_startup_operation(self.operation(StartupStatus::Monitoring, None)),
            Mode::Start => Notification::startup_progress(
                iid,
                nid,
                NotificationStatus::Running,
                self.operation(StartupStatus::Monitoring, None),
                elapsed,
                at,
            ),
        }
        .with_data(data);
        self.notify(n);
        let targets = health::probe_targets(instance);
        if targets.is_empty() {
            self.become_ready();
            return;
        }
        self.phase = Phase::HealthChecking;
        self.phases.health_started = Some(now);
        self.health = Some(HealthRun::new(targets, now));
        let hc = self.health_payload(HealthCheckStatus::InProgress);
        let (iid, nid) = self.ids();
        let op = self.operation(StartupStatus::HealthChecking, None);
        let n = match self.mode {
            Mode::Create | Mode::Watch => Notification::health_check_started(iid, nid, hc, at)
                .with_elapsed(elapsed)
                .with_startup_operation(op),
            Mode::Start => Notification::startup_progress(
                iid,
                nid,
                NotificationStatus::HealthChecking,
                op,
                elapsed,
                at,
            )
            .with_health_check(hc),
        };
        self.notify(n);
        // Probes go out on this same poll.
        let now = self.now;
        self.tick(now);
    }

    fn health_payload(&self, status: HealthCheckStatus) -> HealthCheck {
        match &self.health {
            Some(h) => h.payload(status, self.start, self.start_unix),
            None => HealthCheck {
                status,
                overall_status: OverallHealth::Healthy,
                endpoints: alloc::vec::Vec::new(),
                started_at: self.wall_now().to_iso8601(),
                completed_at: Some(self.wall_now().to_iso8601()),
                total_response_time: None,
            },
        }
    }

    fn become_ready(&mut self) {
        if self.outcome.is_some() {
            return;
        }
        let now = self.now;
        if let Some(h) = self.health.as_mut() {
            h.completed = Some(now);
            self.phases.health_completed = Some(now);
        }
        self.phases.ready = Some(now);
        self.phase = Phase::Ready;
        let elapsed = self.elapsed();
        let at = self.wall_now();
        let (iid, nid) = self.ids();
        let op = self.operation(StartupStatus::Completed, None);
        let n = match self.mode {
            Mode::Create | Mode::Watch => {
                let hc = self.health_payload(HealthCheckStatus::Completed);
                Notification::ready(iid, nid, hc, elapsed, at).with_startup_operation(op)
            }
            Mode::Start => {
                let hc = self
                    .health
                    .is_some()
                    .then(|| self.health_payload(HealthCheckStatus::Completed));
                Notification::startup_completed(iid, nid, op, hc, elapsed, at)
            }
        };
        self.finish(n, Outcome::Ready { elapsed });
    }

    fn fail(&mut self, reason: FailReason) {
        if self.outcome.is_some() {
            return;
        }
        self.phase = Phase::Failed;
        let elapsed = self.elapsed();
        let at = self.wall_now();
        let error = reason.to_string();
        let (iid, nid) = self.ids();
        let hc = self.health.is_some().then(|| {
            if let Some(h) = self.health.as_mut() {
                h.completed = Some(self.now);
            }
            self.health_payload(HealthCheckStatus::Failed)
        });
        let op = self.operation(StartupStatus::Failed, Some(error.clone()));
        let mut n = match self.mode {
            Mode::Create | Mode::Watch => Notification::failure(iid, error, at)
                .with_novita_instance_id(nid)
                .with_elapsed(elapsed)
                .with_startup_operation(op),
            Mode::Start => Notification::startup_failed(iid, nid, op, error, elapsed, at),
        };
        n.health_check = hc;
        self.finish(n, Outcome::Failed { reason, elapsed });
    }

    fn time_out(&mut self) {
        self.phase = Phase::TimedOut;
        let elapsed = self.elapsed();
        let at = self.wall_now();
        let outcome = Outcome::TimedOut {
            elapsed,
            last_status: self.last_status.clone(),
        };
        let mut error = outcome.to_string();
        if let Some(e) = &self.last_fetch_error {
            error.push_str("; last error: ");
            error.push_str(e);
        }
        let (iid, nid) = self.ids();
        let op = self.operation(StartupStatus::Failed, Some(error.clone()));
        let n = Notification::timeout(iid, elapsed, error, at)
            .with_novita_instance_id(nid)
            .with_startup_operation(op);
        self.finish(n, outcome);
    }

    fn health_gave_up(&mut self) {
        let (unhealthy, started) = match &self.health {
            Some(h) => (h.unhealthy_summary(), h.started),
            None => (String::new(), self.now),
        };
        self.fail(FailReason::HealthCheck {
            unhealthy,
            waited: self.now.saturating_duration_since(started),
        });
    }

    fn finish(&mut self, n: Notification, outcome: Outcome) {
        self.in_flight = None;
        self.next_poll_at = None;
        self.notify(n);
        self.outbox
            .push_back(MonitorAction::Finished(outcome.clone()));
        self.outcome = Some(outcome);
    }
}

/// The instance fields a notification's `data` carries (no secrets).
fn summary(i: &Instance) -> serde_json::Value {
    let ports: alloc::vec::Vec<serde_json::Value> = i
        .port_mappings
        .iter()
        .map(|p| {
            serde_json::json!({
                "port": p.port,
                "type": p.kind,
                "endpoint": p.endpoint,
            })
        })
        .collect();
    serde_json::json!({
        "id": i.id,
        "name": i.name,
        "status": i.status.as_str(),
        "clusterId": i.cluster_id,
        "clusterName": i.cluster_name,
        "productName": i.product_name,
        "gpuNum": i.gpu_num,
        "imageUrl": i.image_url,
        "portMappings": ports,
    })
}
