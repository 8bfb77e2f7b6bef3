//! Create or start an instance and wait until it is ready:
//! [`Novita::create_and_wait`] and [`Novita::start_and_wait`]; or wait for
//! one someone else created or started: [`Novita::wait_until_ready`].
//!
//! Every decision is the core's [`Monitor`]: when to read the instance, what
//! to probe, when to give up, which webhook notification to write. This
//! module only carries its actions out:
//!
//! | [`MonitorAction`] | carried out as |
//! |---|---|
//! | `FetchInstance` | [`Novita::instance`], through the engine (so polls pass its limiter, breaker and retries); the answer or [`FetchError::from_error`] goes back |
//! | `Probe` | a `GET` with reqwest, redirects off, the probe's own timeout; the status, or the [`transport_kind`] of the error, goes back as a [`ProbeResult`] |
//! | `Notify` | a [`Progress`] event, and, with a [`WebhookTarget`], [`WebhookSender::send`] with its schedule (by default [`Schedule::node_startup`]) |
//! | `Wait` | [`tokio::time::sleep_until`], woken early by any answer |
//! | `Finished` | the end: a [`WaitOutcome`] |
//!
//! There are no poll intervals, retry loops or timeouts here: they all come
//! from the [`MonitorConfig`] — by default
//! [`MonitorConfig::from_config`] of the client's configuration
//! (`INSTANCE_POLL_INTERVAL`, `STARTUP_MAX_WAIT`).
//!
//! Time: the monitor's [`Instant`] is the number of milliseconds since the
//! wait began, read from [`tokio::time::Instant`] (so a paused tokio clock
//! drives it in virtual time) and multiplied by [`WaitOptions::time_scale`]
//! (1 unless the API's world is sped up, as the simulator server's can be);
//! wall-clock times in notifications start from the system clock at that
//! moment.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use novitai_tokio::Novita;
//! use novitai_tokio::core::api::instances::CreateInstanceRequest;
//! use novitai_tokio::lifecycle::WaitOptions;
//!
//! let novita = Novita::from_env()?;
//! let request = CreateInstanceRequest::new("rtx-4090-24gb.cn-hk-01", 1, 60, "pytorch/pytorch:latest");
//! let (wait, mut progress) = novita.create_and_wait(request, WaitOptions::default()).into_parts();
//! tokio::spawn(async move {
//!     while let Some(p) = progress.recv().await {
//!         println!("{:?} after {}: {:?}", p.phase, p.elapsed, p.status);
//!     }
//! });
//! let done = wait.await?;
//! println!("{}", done.outcome);
//! # Ok(()) }
//! ```

use std::fmt;
use std::future::{Future, IntoFuture};
use std::pin::Pin;

use novitai_core::api::ApiErrorKind;
use novitai_core::api::instances::{CreateInstanceRequest, Instance, InstanceAck, InstanceStatus};
use novitai_core::error::Error;
use novitai_core::monitor::{
    FetchError, FetchId, Mode, Monitor, MonitorAction, MonitorConfig, MonitorConfigError, Outcome,
    Phase, ProbeId, ProbeRequest, ProbeResult, Target,
};
use novitai_core::webhook::Notification;
use novitai_core::webhook::delivery::Schedule;
use novitai_core::{Duration, Instant, Rng};
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use crate::client::Novita;

/// One of the monitor's constructors for an existing instance
/// (`Monitor::for_start`, `Monitor::for_watch`).
type MonitorBuilder = fn(
    MonitorConfig,
    Target,
    Rng,
    Instant,
    novitai_core::UnixTime,
) -> Result<Monitor, MonitorConfigError>;
use crate::driver::transport_kind;
use crate::webhook::receiver::unix_now;
use crate::webhook::{MessageId, WebhookSender};

/// Where a wait's webhook notifications go.
///
/// A wait queues each notification durably and returns; delivery goes on in
/// the sender's background task. Keep a clone of the [`WebhookSender`] until
/// its reports arrive: when the last clone is dropped the task stops, and
/// undelivered messages wait in the outbox for the next sender.
///
/// # Default
/// [`WebhookTarget::new`] uses [`Schedule::node_startup`] (5 attempts,
/// doubling from 1 s with jitter).
#[derive(Clone, Debug)]
pub struct WebhookTarget {
    /// The durable sender that delivers them.
    pub sender: WebhookSender,
    /// The receiver's URL.
    pub url: String,
    /// The retry schedule of each notification.
    pub schedule: Schedule,
}

impl WebhookTarget {
    /// Sends to `url` through `sender` with [`Schedule::node_startup`].
    #[must_use]
    pub fn new(sender: WebhookSender, url: impl Into<String>) -> WebhookTarget {
        WebhookTarget {
            sender,
            url: url.into(),
            schedule: Schedule::node_startup(),
        }
    }
}

/// How [`Novita::create_and_wait`] and [`Novita::start_and_wait`] monitor.
///
/// # Default
/// - `monitor`: `None` — [`MonitorConfig::from_config`] of the client's
///   configuration
/// - `webhook`: `None` — notifications only go to the progress stream
/// - `instance_id`: `None` — notifications name the instance by its Novita id
/// - `operation_id`: `None` — `start-<novita id>`
/// - `seed`: `None` — the monitor's jitter is seeded from the OS
/// - `probe_client`: `None` — a reqwest client with redirects off
/// - `time_scale`: `None` — the monitor's clock is the real one (1×)
#[derive(Clone, Debug, Default)]
pub struct WaitOptions {
    /// The monitor's settings (poll intervals, timeouts, health checks).
    pub monitor: Option<MonitorConfig>,
    /// Also deliver the notifications as webhooks.
    pub webhook: Option<WebhookTarget>,
    /// The caller's name for the instance (`instanceId` in notifications).
    pub instance_id: Option<String>,
    /// `startupOperation.operationId` in notifications.
    pub operation_id: Option<String>,
    /// Seed of the monitor's random choices (probe jitter), to replay a run.
    pub seed: Option<u64>,
    /// The HTTP client for health probes; it must not follow redirects.
    pub probe_client: Option<reqwest::Client>,
    /// How many times faster than real time the monitor's clock runs
    /// (1 – 1000): for an API whose world is sped up by the same factor,
    /// such as the simulator server with `time_scale`. Every interval,
    /// timeout and elapsed time of the monitor is then in that world's
    /// time; a probe's HTTP timeout is shortened by the same factor.
    pub time_scale: Option<f64>,
}

impl WaitOptions {
    /// Uses this monitor configuration instead of the client's.
    #[must_use]
    pub fn monitor(mut self, config: MonitorConfig) -> WaitOptions {
        self.monitor = Some(config);
        self
    }

    /// Delivers every notification to this webhook target too.
    #[must_use]
    pub fn webhook(mut self, target: WebhookTarget) -> WaitOptions {
        self.webhook = Some(target);
        self
    }

    /// Names the instance `id` in notifications.
    #[must_use]
    pub fn instance_id(mut self, id: impl Into<String>) -> WaitOptions {
        self.instance_id = Some(id.into());
        self
    }

    /// Fixes the monitor's seed.
    #[must_use]
    pub fn seed(mut self, seed: u64) -> WaitOptions {
        self.seed = Some(seed);
        self
    }

    /// Runs the monitor's clock `scale` times faster than real time (see
    /// [`WaitOptions::time_scale`]).
    #[must_use]
    pub fn time_scale(mut self, scale: f64) -> WaitOptions {
        self.time_scale = Some(scale);
        self
    }
}

/// The allowed range of [`WaitOptions::time_scale`].
pub const TIME_SCALE_RANGE: std::ops::RangeInclusive<f64> = 1.0..=1000.0;

/// What happened, in a [`Progress`] event.
#[derive(Clone, Debug, PartialEq)]
pub enum ProgressEvent {
    /// The monitor began (after the create answered, or as the start is sent).
    Started,
    /// A read of the instance answered (see [`Progress::status`]).
    Polled,
    /// A read of the instance failed (see [`Progress::last_error`]).
    PollFailed,
    /// A health probe of `port` answered.
    Probed {
        /// The instance port.
        port: u16,
        /// What the probe got.
        result: ProbeResult,
    },
    /// The monitor wrote a notification (also sent as a webhook when a
    /// [`WebhookTarget`] is set).
    Notified(Box<Notification>),
    /// The monitor ended.
    Finished(Outcome),
}

/// One step of a wait, in the order it happened.
#[derive(Clone, Debug, PartialEq)]
pub struct Progress {
    /// The Novita instance id.
    pub instance_id: String,
    /// What happened.
    pub event: ProgressEvent,
    /// Where the monitor is now.
    pub phase: Phase,
    /// The last status read, if any.
    pub status: Option<InstanceStatus>,
    /// Time since the wait began (monitor time: real time ×
    /// [`WaitOptions::time_scale`]).
    pub elapsed: Duration,
    /// Reads of the instance sent so far.
    pub polls: u32,
    /// The last transient error of a read, while the last read failed.
    pub last_error: Option<String>,
}

/// How a wait ended.
#[derive(Clone, Debug, PartialEq)]
pub struct WaitOutcome {
    /// The Novita instance id.
    pub instance_id: String,
    /// The monitor's verdict.
    pub outcome: Outcome,
    /// The `running` snapshot when ready; otherwise the last snapshot read
    /// (`None` if no read succeeded).
    pub instance: Option<Instance>,
    /// Reads of the instance sent.
    pub polls: u32,
    /// The message ids of the webhooks queued (empty without a
    /// [`WebhookTarget`]).
    pub webhooks: Vec<MessageId>,
    /// Notifications that could not be queued as webhooks, and why.
    pub webhook_errors: Vec<String>,
}

/// Why a wait could not run to the monitor's verdict.
#[derive(Debug)]
pub enum WaitError {
    /// The monitor configuration is out of range.
    Config(MonitorConfigError),
    /// The create request failed (no instance to monitor), or the start
    /// request failed other than "invalid state change" (the monitor is
    /// aborted and its `startup_failed` notification delivered first).
    Request(Error),
    /// The HTTP client for probes could not be built.
    Http(String),
    /// The OS gave no randomness for the monitor's seed.
    Entropy(String),
    /// [`WaitOptions::time_scale`] is not a number from 1 to 1000.
    TimeScale(f64),
}

impl fmt::Display for WaitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WaitError::Config(e) => write!(f, "{e}"),
            WaitError::Request(e) => write!(f, "{e}"),
            WaitError::Http(e) => write!(f, "the HTTP client for health probes failed: {e}"),
            WaitError::Entropy(e) => write!(f, "no randomness for the monitor's seed: {e}"),
            WaitError::TimeScale(x) => write!(
                f,
                "the wait's time_scale is {x}, but it must be a number from {} to {}",
                TIME_SCALE_RANGE.start(),
                TIME_SCALE_RANGE.end()
            ),
        }
    }
}

impl std::error::Error for WaitError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            WaitError::Config(e) => Some(e),
            WaitError::Request(e) => Some(e),
            WaitError::Http(_) | WaitError::Entropy(_) | WaitError::TimeScale(_) => None,
        }
    }
}

impl From<MonitorConfigError> for WaitError {
    fn from(e: MonitorConfigError) -> WaitError {
        WaitError::Config(e)
    }
}

/// The future of a wait.
pub type WaitFuture = Pin<Box<dyn Future<Output = Result<WaitOutcome, WaitError>> + Send>>;

/// A wait in the making: `.await` it for the [`WaitOutcome`], or split it
/// with [`Waiting::into_parts`] to read the [`Progress`] events as well.
/// Nothing happens until the future is polled; dropping it cancels the
/// requests and probes still out.
#[must_use = "a wait does nothing until awaited"]
pub struct Waiting {
    future: WaitFuture,
    progress: mpsc::UnboundedReceiver<Progress>,
}

impl fmt::Debug for Waiting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Waiting").finish_non_exhaustive()
    }
}

impl Waiting {
    /// The wait and its progress events (each step in order; the channel
    /// closes when the wait ends).
    pub fn into_parts(self) -> (WaitFuture, mpsc::UnboundedReceiver<Progress>) {
        (self.future, self.progress)
    }
}

impl IntoFuture for Waiting {
    type Output = Result<WaitOutcome, WaitError>;
    type IntoFuture = WaitFuture;

    fn into_future(self) -> WaitFuture {
        self.future
    }
}

impl Novita {
    /// Creates an instance and monitors it until it is ready (running with
    /// every HTTP endpoint healthy), failed or timed out. The monitor's
    /// clock starts when the create request is sent.
    ///
    /// Errors ([`WaitError`]): a monitor configuration out of range, or the
    /// create request failing (then nothing is monitored or notified).
    pub fn create_and_wait(&self, request: CreateInstanceRequest, options: WaitOptions) -> Waiting {
        let novita = self.clone();
        let (tx, progress) = mpsc::unbounded_channel();
        let future = Box::pin(async move {
            let prepared = Prepared::new(&novita, &options)?;
            let started = tokio::time::Instant::now();
            let started_unix = unix_now();
            let id = novita
                .create_instance(request)
                .await
                .map_err(WaitError::Request)?;
            let monitor = Monitor::for_create(
                prepared.config,
                target(&id, &options),
                Rng::new(prepared.seed),
                Instant::ZERO,
                started_unix,
            )?;
            let run = Run::new(novita, monitor, started, prepared, options.webhook, tx);
            run.drive(None).await
        });
        Waiting { future, progress }
    }

    /// Starts a stopped instance and monitors it until it is ready, failed
    /// or timed out. The monitor begins (and notifies `startup_initiated`)
    /// as the start request is sent. A start refused as "invalid state
    /// change" is handed to the monitor, which re-reads the instance and
    /// carries on if it is already starting or running.
    ///
    /// Errors ([`WaitError`]): a monitor configuration out of range, or the
    /// start request failing otherwise (the monitor is aborted first, so a
    /// `startup_failed` notification goes out).
    pub fn start_and_wait(&self, instance_id: impl Into<String>, options: WaitOptions) -> Waiting {
        self.monitor_existing(instance_id.into(), options, Monitor::for_start, true)
    }

    /// Runs a monitor built by `build` for an existing instance `id`;
    /// `send_start` sends the start request as the monitor begins.
    fn monitor_existing(
        &self,
        id: String,
        options: WaitOptions,
        build: MonitorBuilder,
        send_start: bool,
    ) -> Waiting {
        let novita = self.clone();
        let (tx, progress) = mpsc::unbounded_channel();
        let future = Box::pin(async move {
            let prepared = Prepared::new(&novita, &options)?;
            let started = tokio::time::Instant::now();
            let monitor = build(
                prepared.config,
                target(&id, &options),
                Rng::new(prepared.seed),
                Instant::ZERO,
                unix_now(),
            )?;
            let run = Run::new(novita, monitor, started, prepared, options.webhook, tx);
            run.drive(send_start.then_some(id)).await
        });
        Waiting { future, progress }
    }
}

impl Novita {
    /// Watches an instance that is already being created or started (or is
    /// already running) until it is ready, failed or timed out, without
    /// sending a create or start: for an instance created elsewhere, by an
    /// earlier run, or with a create whose answer was lost and found again.
    ///
    /// The first read goes out at once. The deadline counts from now: the
    /// longer of `create_timeout` and `start_timeout` until a status shows
    /// which operation is under way (`toCreate` / `creating` / `pulling`:
    /// `create_timeout`; `toStart` / `starting` / restarting:
    /// `start_timeout`). A running instance goes straight to its health
    /// checks; an `exited` one fails unless it starts within
    /// [`EXITED_GRACE`](novitai_core::monitor::EXITED_GRACE). Notifications
    /// are those of a create (`running`, `health_checking`, `ready` /
    /// `failed` / `timeout`).
    ///
    /// Errors ([`WaitError`]): a monitor configuration or time scale out of
    /// range; nothing is sent then.
    pub fn wait_until_ready(
        &self,
        instance_id: impl Into<String>,
        options: WaitOptions,
    ) -> Waiting {
        self.monitor_existing(instance_id.into(), options, Monitor::for_watch, false)
    }
}

fn target(id: &str, options: &WaitOptions) -> Target {
    let mut t = Target::new(id);
    if let Some(i) = &options.instance_id {
        t = t.instance_id(i.clone());
    }
    if let Some(o) = &options.operation_id {
        t = t.operation_id(o.clone());
    }
    t
}

/// What a wait needs before it sends anything.
struct Prepared {
    config: MonitorConfig,
    seed: u64,
    probe: reqwest::Client,
    scale: f64,
}

impl Prepared {
    fn new(novita: &Novita, options: &WaitOptions) -> Result<Prepared, WaitError> {
        let scale = options.time_scale.unwrap_or(1.0);
        if !TIME_SCALE_RANGE.contains(&scale) {
            return Err(WaitError::TimeScale(scale));
        }
        let config = match options.monitor {
            Some(c) => {
                c.validate()?;
                c
            }
            None => MonitorConfig::from_config(novita.config())?,
        };
        let seed = match options.seed {
            Some(s) => s,
            None => getrandom::u64().map_err(|e| WaitError::Entropy(e.to_string()))?,
        };
        let probe = match &options.probe_client {
            Some(c) => c.clone(),
            None => probe_client()?,
        };
        Ok(Prepared {
            config,
            seed,
            probe,
            scale,
        })
    }
}

/// An answer from a task the wait started.
enum Answer {
    Fetch(FetchId, Box<Result<Instance, Error>>),
    Probe(ProbeId, u16, ProbeResult),
    Start(Result<InstanceAck, Error>),
}

/// One wait in progress.
struct Run {
    novita: Novita,
    monitor: Monitor,
    started: tokio::time::Instant,
    probe: reqwest::Client,
    /// Monitor time per unit of real time.
    scale: f64,
    webhook: Option<WebhookTarget>,
    progress: mpsc::UnboundedSender<Progress>,
    tasks: JoinSet<Answer>,
    last_instance: Option<Instance>,
    webhooks: Vec<MessageId>,
    webhook_errors: Vec<String>,
    start_error: Option<Error>,
}

impl Run {
    fn new(
        novita: Novita,
        monitor: Monitor,
        started: tokio::time::Instant,
        prepared: Prepared,
        webhook: Option<WebhookTarget>,
        progress: mpsc::UnboundedSender<Progress>,
    ) -> Run {
        Run {
            novita,
            monitor,
            started,
            probe: prepared.probe,
            scale: prepared.scale,
            webhook,
            progress,
            tasks: JoinSet::new(),
            last_instance: None,
            webhooks: Vec::new(),
            webhook_errors: Vec::new(),
            start_error: None,
        }
    }

    /// The monitor's clock: whole milliseconds (of monitor time) since the
    /// wait began.
    fn now(&self) -> Instant {
        let real = tokio::time::Instant::now().saturating_duration_since(self.started);
        Instant::from_millis(to_monitor(real, self.scale).as_millis())
    }

    fn emit(&self, event: ProgressEvent) {
        let m = &self.monitor;
        // A receiver that was dropped simply does not want progress.
        let _ = self.progress.send(Progress {
            instance_id: m.target().novita_instance_id.clone(),
            event,
            phase: m.phase(),
            status: m.last_status().cloned(),
            elapsed: self.now().saturating_duration_since(m.started_at()),
            polls: m.polls(),
            last_error: m.last_fetch_error().map(str::to_owned),
        });
    }

    /// Runs the monitor to its end; `start` sends that instance's start
    /// request first (start mode).
    async fn drive(mut self, start: Option<String>) -> Result<WaitOutcome, WaitError> {
        self.emit(ProgressEvent::Started);
        if let Some(id) = start {
            let novita = self.novita.clone();
            self.tasks
                .spawn(async move { Answer::Start(novita.start_instance(id).await) });
        }
        let outcome = loop {
            let now = self.now();
            match self.monitor.poll(now) {
                MonitorAction::FetchInstance(fetch) => {
                    let novita = self.novita.clone();
                    let id = self.monitor.target().novita_instance_id.clone();
                    self.tasks.spawn(async move {
                        Answer::Fetch(fetch, Box::new(novita.instance(id).await))
                    });
                }
                MonitorAction::Probe(p) => {
                    let client = self.probe.clone();
                    self.tasks.spawn(probe(client, p, self.scale));
                }
                MonitorAction::Notify(n) => self.notify(n).await,
                MonitorAction::Finished(outcome) => {
                    self.emit(ProgressEvent::Finished(outcome.clone()));
                    break outcome;
                }
                MonitorAction::Wait(at) => self.wait(at).await,
            }
        };
        if let Some(e) = self.start_error.take() {
            return Err(WaitError::Request(e));
        }
        let instance = self
            .monitor
            .instance()
            .cloned()
            .or_else(|| self.last_instance.take());
        Ok(WaitOutcome {
            instance_id: self.monitor.target().novita_instance_id.clone(),
            outcome,
            instance,
            polls: self.monitor.polls(),
            webhooks: self.webhooks,
            webhook_errors: self.webhook_errors,
        })
    }

    /// Sleeps until `at` or the next answer, and feeds the answer.
    async fn wait(&mut self, at: Option<Instant>) {
        let deadline = at.and_then(|at| {
            let real = to_real(Duration::from_millis(at.as_millis()), self.scale);
            // Round up: waking a little late is fine, early wakes spin.
            self.started
                .checked_add(real.saturating_add(std::time::Duration::from_micros(999)))
        });
        if self.tasks.is_empty() && deadline.is_none() {
            // Nothing can wake the monitor: end it rather than hang.
            let now = self.now();
            self.monitor
                .abort("the monitor waits for nothing (internal error)", now);
            return;
        }
        let sleep = async {
            match deadline {
                Some(d) => tokio::time::sleep_until(d).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            joined = self.tasks.join_next(), if !self.tasks.is_empty() => {
                match joined {
                    Some(Ok(answer)) => self.feed(answer),
                    Some(Err(e)) => {
                        // A task panicked or was cancelled: the monitor's own
                        // timeouts cover the lost answer.
                        tracing::warn!(error = %e, "a monitor task ended without an answer");
                    }
                    None => {}
                }
            }
            () = sleep => {}
        }
    }

    fn feed(&mut self, answer: Answer) {
        let now = self.now();
        match answer {
            Answer::Fetch(fetch, result) => self.fed_fetch(fetch, *result, now),
            Answer::Probe(id, port, result) => {
                if self.monitor.on_probe_result(id, result, now) {
                    self.emit(ProgressEvent::Probed { port, result });
                }
            }
            Answer::Start(Ok(_)) => {}
            Answer::Start(Err(Error::Api(a))) if a.kind == ApiErrorKind::InvalidStateChange => {
                tracing::info!(
                    instance_id = %self.monitor.target().novita_instance_id,
                    "start refused as invalid state change; re-reading the instance"
                );
                self.monitor.on_start_rejected_invalid_state(now);
            }
            Answer::Start(Err(e)) => {
                if self.monitor.mode() == Mode::Start && !self.monitor.is_finished() {
                    self.monitor
                        .abort(format!("the start request failed: {e}"), now);
                    self.start_error = Some(e);
                }
            }
        }
    }

    fn fed_fetch(&mut self, fetch: FetchId, result: Result<Instance, Error>, now: Instant) {
        match result {
            Ok(instance) => {
                if self.monitor.on_instance(fetch, &instance, now) {
                    self.last_instance = Some(instance);
                    self.emit(ProgressEvent::Polled);
                }
            }
            Err(e) => {
                if self
                    .monitor
                    .on_fetch_error(fetch, FetchError::from_error(&e), now)
                {
                    self.emit(ProgressEvent::PollFailed);
                }
            }
        }
    }

    /// Reports a notification and queues it as a webhook.
    async fn notify(&mut self, n: Box<Notification>) {
        if let Some(w) = &self.webhook {
            match w.sender.send(&w.url, &n, w.schedule.clone()).await {
                Ok(id) => self.webhooks.push(id),
                Err(e) => {
                    tracing::warn!(
                        instance_id = %n.instance_id,
                        error = %e,
                        "a start-up notification could not be queued as a webhook"
                    );
                    self.webhook_errors.push(e.to_string());
                }
            }
        }
        self.emit(ProgressEvent::Notified(n));
    }
}

/// The default HTTP client of health probes: redirects off (a 3xx is itself
/// the healthy answer).
fn probe_client() -> Result<reqwest::Client, WaitError> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| WaitError::Http(e.to_string()))
}

/// Real time as monitor time (`scale` ≥ 1), saturating.
fn to_monitor(real: std::time::Duration, scale: f64) -> Duration {
    let ms = real.as_secs_f64() * 1000.0 * scale;
    // `as` saturates (NaN → 0); the scale is validated finite and ≥ 1.
    Duration::from_millis(ms as u64)
}

/// Monitor time as real time (`scale` ≥ 1), at least 1 ms for a non-zero
/// duration.
fn to_real(monitor: Duration, scale: f64) -> std::time::Duration {
    let ms = monitor.as_millis() as f64 / scale;
    let real =
        std::time::Duration::try_from_secs_f64(ms / 1000.0).unwrap_or(std::time::Duration::MAX);
    if monitor.as_millis() > 0 {
        real.max(std::time::Duration::from_millis(1))
    } else {
        real
    }
}

/// One health probe: `GET url`, no redirects, the probe's timeout (in
/// monitor time, so shortened by `scale`).
async fn probe(client: reqwest::Client, p: ProbeRequest, scale: f64) -> Answer {
    let sent = tokio::time::Instant::now();
    let timeout = to_real(p.timeout, scale);
    let result = client.get(&p.url).timeout(timeout).send().await;
    let took = to_monitor(sent.elapsed(), scale);
    let result = match result {
        Ok(response) => ProbeResult::status(response.status().as_u16(), took),
        Err(e) => ProbeResult::transport(transport_kind(&e), took),
    };
    Answer::Probe(p.id, p.port, result)
}

#[cfg(test)]
mod tests {
    use super::*;
    use novitai_core::monitor::ProbeOutcome;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A server on 127.0.0.1 that answers every request with `response`.
    async fn serve(response: &'static str) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                let mut buf = [0u8; 2048];
                let _ = s.read(&mut buf).await;
                let _ = s.write_all(response.as_bytes()).await;
                let _ = s.shutdown().await;
            }
        });
        format!("http://{addr}/health")
    }

    fn request(url: String) -> ProbeRequest {
        ProbeRequest {
            id: ProbeId(7),
            port: 8888,
            url,
            timeout: Duration::from_secs(5),
            follow_redirects: false,
        }
    }

    #[tokio::test]
    async fn a_probe_does_not_follow_a_redirect_and_a_refused_port_is_a_transport_error() {
        // Redirects to a port where nothing listens: following it would
        // turn the healthy 302 into a refused connection.
        let url = serve(
            "HTTP/1.1 302 Found\r\nLocation: http://127.0.0.1:1/\r\nContent-Length: 0\r\n\r\n",
        )
        .await;
        let Answer::Probe(id, port, result) =
            probe(probe_client().unwrap(), request(url), 1.0).await
        else {
            panic!("a probe answers with a probe result");
        };
        assert_eq!((id, port), (ProbeId(7), 8888));
        assert_eq!(result.outcome, ProbeOutcome::Status(302));
        assert!(result.is_healthy());

        let url = serve("HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n").await;
        let Answer::Probe(_, _, result) = probe(probe_client().unwrap(), request(url), 1.0).await
        else {
            panic!("a probe answers with a probe result");
        };
        assert_eq!(result.outcome, ProbeOutcome::Status(503));
        assert!(!result.is_healthy());

        let Answer::Probe(_, _, result) = probe(
            probe_client().unwrap(),
            request("http://127.0.0.1:1/".to_owned()),
            1.0,
        )
        .await
        else {
            panic!("a probe answers with a probe result");
        };
        assert!(
            matches!(result.outcome, ProbeOutcome::Transport(_)),
            "{result:?}"
        );
    }

    #[test]
    fn monitor_time_is_real_time_times_the_scale_and_back() {
        let real = std::time::Duration::from_millis(1500);
        assert_eq!(to_monitor(real, 1.0), Duration::from_millis(1500));
        assert_eq!(to_monitor(real, 20.0), Duration::from_secs(30));
        assert_eq!(
            to_real(Duration::from_secs(30), 20.0),
            std::time::Duration::from_millis(1500)
        );
        // A short monitor time never becomes a zero real timeout.
        assert_eq!(
            to_real(Duration::from_millis(1), 1000.0),
            std::time::Duration::from_millis(1)
        );
        assert_eq!(to_real(Duration::ZERO, 1000.0), std::time::Duration::ZERO);
        // Saturating at the ends.
        assert_eq!(
            to_monitor(std::time::Duration::MAX, 1000.0),
            Duration::from_millis(u64::MAX)
        );
        assert!(
            to_real(Duration::from_millis(u64::MAX), 1.0) > std::time::Duration::from_secs(1 << 40)
        );
    }
}
