//! Sending webhooks: the core's delivery machine carried out over reqwest.
//!
//! [`WebhookSender::new`] starts a background task that owns one
//! [`Delivery`] machine per pending message. [`WebhookSender::send`] stores the
//! message in the [`Outbox`] and returns its id once the record is durable;
//! the task then does what the machine says — send a signed POST now, wait
//! until a wall-clock time, or finish — and after every attempt writes the
//! machine's record back to the outbox. Every message ends in exactly one
//! [`DeliveryReport`] on the channel returned by [`WebhookSender::new`] (or, if
//! that channel was dropped, in a log line): nothing is lost silently.
//!
//! What this adapter does, and nothing more (every decision is the core's):
//! - signs with the wall clock ([`SystemTime`] → [`UnixTime`]) and waits with
//!   tokio timers;
//! - never follows a redirect (`redirect::Policy::none()`), ignores proxy
//!   environment variables (a proxy would resolve names where the guard cannot
//!   see), times each attempt out after [`SenderConfig::timeout`], and reads at
//!   most [`SenderConfig::max_response_bytes`] of a response before dropping it;
//! - resolves host names itself and hands reqwest only the addresses
//!   [`check_ip`] accepts, so a public name that resolves to a private address
//!   (DNS rebinding) is refused at connection time, not just when the URL is
//!   checked;
//! - parses `Retry-After` with the core's parser and reports the status, or a
//!   transport error, to [`Delivery::handle_result`].

use super::outbox::{Outbox, OutboxError};
use novitai_core::limiter::{ConcurrencyLimiter, ConcurrencyPermit};
use novitai_core::retry::RetryAfter;
use novitai_core::webhook::delivery::DeliveryError;
use novitai_core::webhook::{
    AttemptResult, Delivery, DeliveryAction, FailReason, Notification, PendingDelivery, Schedule,
    Signer, UrlPolicy, check_ip,
};
use novitai_core::{Rng, UnixTime};
use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinSet;

/// The default time limit of one attempt (the Node client's `WEBHOOK_TIMEOUT`).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// The default number of response bytes read before the rest is dropped.
pub const DEFAULT_MAX_RESPONSE_BYTES: usize = 64 * 1024;
/// The default number of attempts in flight at once.
pub const DEFAULT_MAX_IN_FLIGHT: u32 = 64;
/// The longest the task sleeps before looking at the wall clock again (so a
/// clock step does not strand a due delivery).
const MAX_SLEEP: Duration = Duration::from_secs(30);

/// How a [`WebhookSender`] works.
///
/// # Default
/// [`SenderConfig::new`] sets:
/// - `url_policy`: [`UrlPolicy::default`] (private, loopback and reserved
///   addresses refused; `http` allowed)
/// - `timeout`: 10 s per attempt ([`DEFAULT_TIMEOUT`])
/// - `max_response_bytes`: 64 KiB ([`DEFAULT_MAX_RESPONSE_BYTES`])
/// - `max_in_flight`: 64 ([`DEFAULT_MAX_IN_FLIGHT`])
/// - `resolve_overrides`: none
/// - `seed`: `None` (the jitter generator is seeded from the OS)
#[derive(Clone)]
pub struct SenderConfig {
    /// Signs every attempt (current key first, then keys being rotated out).
    pub signer: Signer,
    /// Where webhooks may go; applied to each URL and to every address a
    /// host name resolves to.
    pub url_policy: UrlPolicy,
    /// The time limit of one attempt, connection to last byte read.
    pub timeout: Duration,
    /// Response bytes read at most; the rest is dropped unread.
    pub max_response_bytes: usize,
    /// Attempts in flight at once (1 or more).
    pub max_in_flight: u32,
    /// Where pending deliveries are kept until finished.
    pub outbox: Arc<dyn Outbox>,
    /// Fixed addresses for host names, used instead of DNS. The URL policy
    /// still applies to them (unlike reqwest's own `resolve`), which makes
    /// them a way to test the resolver guard.
    pub resolve_overrides: HashMap<String, Vec<IpAddr>>,
    /// Seed of the jitter generator; `None` draws one from the OS.
    pub seed: Option<u64>,
}

impl SenderConfig {
    /// A configuration with the defaults listed above.
    #[must_use]
    pub fn new(signer: Signer, outbox: Arc<dyn Outbox>) -> SenderConfig {
        SenderConfig {
            signer,
            url_policy: UrlPolicy::default(),
            timeout: DEFAULT_TIMEOUT,
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
            max_in_flight: DEFAULT_MAX_IN_FLIGHT,
            outbox,
            resolve_overrides: HashMap::new(),
            seed: None,
        }
    }
}

impl fmt::Debug for SenderConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The signer's Debug shows only key lengths, never key bytes.
        f.debug_struct("SenderConfig")
            .field("signer", &self.signer)
            .field("url_policy", &self.url_policy)
            .field("timeout", &self.timeout)
            .field("max_response_bytes", &self.max_response_bytes)
            .field("max_in_flight", &self.max_in_flight)
            .field("resolve_overrides", &self.resolve_overrides)
            .field("seed", &self.seed)
            .finish_non_exhaustive()
    }
}

/// A webhook message id (`webhook-id`): `msg_` and 32 hex digits, the same on
/// every attempt and across restarts.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MessageId(String);

impl MessageId {
    /// The id as text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// How a delivery ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DeliveryOutcome {
    /// The receiver answered 2xx.
    Delivered,
    /// The receiver answered 410 Gone: stop sending to this endpoint.
    EndpointGone,
    /// The delivery failed for good (redirect, 4xx, or every attempt used).
    Failed(FailReason),
    /// A record read back from the outbox could not be resumed (its URL is
    /// refused by the current URL policy, or its id is invalid).
    Unsendable(DeliveryError),
}

/// The end of one message's delivery.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeliveryReport {
    /// The message id.
    pub id: MessageId,
    /// The receiver URL.
    pub url: String,
    /// How it ended.
    pub outcome: DeliveryOutcome,
    /// Attempts whose result is known (in this process and earlier ones).
    pub attempts: u32,
    /// The last transport error, if the last attempt had one (for example
    /// "refused by the webhook URL guard").
    pub last_error: Option<String>,
}

/// Why [`WebhookSender::new`] or [`WebhookSender::send`] failed.
#[derive(Debug)]
pub enum SenderError {
    /// The outbox could not store or read records.
    Outbox(OutboxError),
    /// The URL is refused by the URL policy, or the id cannot be signed.
    Refused(DeliveryError),
    /// The notification could not be encoded as JSON.
    Encode(serde_json::Error),
    /// The OS gave no randomness for a message id or seed.
    Entropy(String),
    /// The HTTP client could not be built.
    Client(String),
    /// `max_in_flight` is 0.
    MaxInFlight(u32),
    /// The background task has stopped. A message sent now was stored and is
    /// delivered by the next sender started on the same outbox.
    Stopped,
}

impl fmt::Display for SenderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SenderError::Outbox(e) => e.fmt(f),
            SenderError::Refused(e) => write!(f, "the webhook cannot be sent: {e}"),
            SenderError::Encode(e) => write!(f, "the notification could not be encoded: {e}"),
            SenderError::Entropy(e) => write!(f, "the OS random source failed: {e}"),
            SenderError::Client(e) => write!(f, "the HTTP client could not be built: {e}"),
            SenderError::MaxInFlight(n) => write!(
                f,
                "webhook sender `max_in_flight` is {n}; it must be at least 1 (default 64)"
            ),
            SenderError::Stopped => f.write_str(
                "the webhook sender has stopped; the message is stored and will be sent by the next sender on this outbox",
            ),
        }
    }
}

impl std::error::Error for SenderError {}

impl From<OutboxError> for SenderError {
    fn from(e: OutboxError) -> SenderError {
        SenderError::Outbox(e)
    }
}

enum Command {
    Deliver(PendingDelivery),
    Shutdown(oneshot::Sender<()>),
}

/// Sends webhooks durably in the background. Cheap to clone; the task stops
/// when the last clone is dropped or [`WebhookSender::shutdown`] is called
/// (pending messages stay in the outbox for the next start).
#[derive(Clone, Debug)]
pub struct WebhookSender {
    commands: mpsc::UnboundedSender<Command>,
    policy: UrlPolicy,
    outbox: Arc<dyn Outbox>,
}

impl WebhookSender {
    /// Starts the sender: builds the HTTP client, reads the pending records
    /// from the outbox and resumes them, and spawns the background task on
    /// the current tokio runtime. Returns the sender and the channel of
    /// reports (one per message).
    pub async fn new(
        config: SenderConfig,
    ) -> Result<(WebhookSender, mpsc::UnboundedReceiver<DeliveryReport>), SenderError> {
        let limiter = ConcurrencyLimiter::new(config.max_in_flight)
            .map_err(|_| SenderError::MaxInFlight(config.max_in_flight))?;
        let seed = match config.seed {
            Some(s) => s,
            None => {
                let mut b = [0u8; 8];
                getrandom::fill(&mut b).map_err(|e| SenderError::Entropy(e.to_string()))?;
                u64::from_le_bytes(b)
            }
        };
        let resolver = GuardedResolver {
            policy: config.url_policy,
            overrides: Arc::new(
                config
                    .resolve_overrides
                    .iter()
                    .map(|(k, v)| (k.to_ascii_lowercase(), v.clone()))
                    .collect(),
            ),
        };
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .timeout(config.timeout)
            .connect_timeout(config.timeout)
            .dns_resolver(Arc::new(resolver))
            .user_agent(concat!("novitai-webhooks/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| SenderError::Client(e.to_string()))?;
        let outbox = Arc::clone(&config.outbox);
        let pending = blocking(Arc::clone(&outbox), |o| o.load_pending()).await?;
        let (commands, command_rx) = mpsc::unbounded_channel();
        let (reports, report_rx) = mpsc::unbounded_channel();
        let mut worker = Worker {
            signer: config.signer,
            policy: config.url_policy,
            max_response_bytes: config.max_response_bytes,
            outbox: Arc::clone(&outbox),
            client,
            deliveries: HashMap::new(),
            due: BTreeSet::new(),
            permits: HashMap::new(),
            in_flight: JoinSet::new(),
            limiter,
            rng: Rng::new(seed),
            reports,
            commands: command_rx,
        };
        if !pending.is_empty() {
            tracing::info!(
                count = pending.len(),
                "webhook sender: resuming pending deliveries from the outbox"
            );
        }
        for record in pending {
            worker.admit(record).await;
        }
        tokio::spawn(worker.run());
        Ok((
            WebhookSender {
                commands,
                policy: config.url_policy,
                outbox,
            },
            report_rx,
        ))
    }

    /// Queues `notification` for `url` with `schedule`. Returns its message
    /// id once the record is durable in the outbox; delivery happens in the
    /// background and ends in a [`DeliveryReport`].
    pub async fn send(
        &self,
        url: &str,
        notification: &Notification,
        schedule: Schedule,
    ) -> Result<MessageId, SenderError> {
        let payload = serde_json::to_vec(notification).map_err(SenderError::Encode)?;
        self.send_payload(url, payload, schedule).await
    }

    /// Like [`WebhookSender::send`] with a body already encoded (sent as
    /// `application/json`, signed byte for byte).
    pub async fn send_payload(
        &self,
        url: &str,
        payload: Vec<u8>,
        schedule: Schedule,
    ) -> Result<MessageId, SenderError> {
        let id = new_message_id()?;
        let record = PendingDelivery::new(id.0.clone(), payload, url, schedule, unix_now());
        // Refuse a bad URL now, before anything is stored.
        Delivery::from_record(record.clone(), &self.policy).map_err(SenderError::Refused)?;
        let stored = record.clone();
        blocking(Arc::clone(&self.outbox), move |o| o.put(&stored)).await?;
        self.commands
            .send(Command::Deliver(record))
            .map_err(|_| SenderError::Stopped)?;
        Ok(id)
    }

    /// Takes over a record already stored in this sender's outbox by
    /// another sender (for example one claimed from a dead worker's lease by
    /// the fleet outbox): it is delivered with its own id and schedule state.
    pub fn adopt(&self, record: PendingDelivery) -> Result<(), SenderError> {
        Delivery::from_record(record.clone(), &self.policy).map_err(SenderError::Refused)?;
        self.commands
            .send(Command::Deliver(record))
            .map_err(|_| SenderError::Stopped)
    }

    /// Stops the background task and waits for it. Attempts in flight are
    /// abandoned; every unfinished message stays in the outbox and is sent
    /// (again, with the same id) by the next sender on it. The task has
    /// released the outbox when this returns; this handle (and its clones)
    /// still hold it until dropped.
    pub async fn shutdown(&self) {
        let (tx, rx) = oneshot::channel();
        if self.commands.send(Command::Shutdown(tx)).is_ok() {
            let _ = rx.await;
        }
    }
}

/// Runs an outbox call on a blocking thread.
async fn blocking<T: Send + 'static>(
    outbox: Arc<dyn Outbox>,
    f: impl FnOnce(&dyn Outbox) -> Result<T, OutboxError> + Send + 'static,
) -> Result<T, OutboxError> {
    match tokio::task::spawn_blocking(move || f(&*outbox)).await {
        Ok(r) => r,
        Err(e) => Err(OutboxError::Io(std::io::Error::other(format!(
            "the outbox call did not finish: {e}"
        )))),
    }
}

/// The wall clock in unix seconds (0 if it reads before 1970).
fn unix_now() -> UnixTime {
    UnixTime::from_secs(
        SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
    )
}

fn new_message_id() -> Result<MessageId, SenderError> {
    let mut b = [0u8; 16];
    getrandom::fill(&mut b).map_err(|e| SenderError::Entropy(e.to_string()))?;
    let mut s = String::with_capacity(36);
    s.push_str("msg_");
    for byte in b {
        s.push_str(&format!("{byte:02x}"));
    }
    Ok(MessageId(s))
}

/// Scheme, host and port of a URL, for logs (no path, query or userinfo,
/// which may carry tokens).
fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return String::from("<url>");
    };
    let end = rest.find(['/', '\\', '?', '#']).unwrap_or(rest.len());
    let authority = rest.get(..end).unwrap_or("");
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    format!("{scheme}://{host}")
}

/// The message of an error and its sources, joined with `: `.
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(inner) = cur {
        let text = inner.to_string();
        if !s.contains(&text) {
            s.push_str(": ");
            s.push_str(&text);
        }
        cur = inner.source();
    }
    s
}

struct AttemptDone {
    id: String,
    result: AttemptResult,
    error: Option<String>,
}

struct Worker {
    signer: Signer,
    policy: UrlPolicy,
    max_response_bytes: usize,
    outbox: Arc<dyn Outbox>,
    client: reqwest::Client,
    deliveries: HashMap<String, Tracked>,
    /// Waiting deliveries by due time (unix seconds).
    due: BTreeSet<(u64, String)>,
    permits: HashMap<String, ConcurrencyPermit>,
    in_flight: JoinSet<AttemptDone>,
    limiter: ConcurrencyLimiter,
    rng: Rng,
    reports: mpsc::UnboundedSender<DeliveryReport>,
    commands: mpsc::UnboundedReceiver<Command>,
}

struct Tracked {
    delivery: Delivery,
    last_error: Option<String>,
}

impl Worker {
    /// Takes a record (new, or read back from the outbox) under management.
    async fn admit(&mut self, record: PendingDelivery) {
        let id = record.message_id.clone();
        let url = record.url.clone();
        let attempts = record.attempt;
        match Delivery::from_record(record, &self.policy) {
            Ok(delivery) => {
                let at = delivery.record().next_attempt_at.as_secs();
                self.deliveries.insert(
                    id.clone(),
                    Tracked {
                        delivery,
                        last_error: None,
                    },
                );
                self.due.insert((at, id));
            }
            Err(e) => {
                self.report(DeliveryReport {
                    id: MessageId(id.clone()),
                    url,
                    outcome: DeliveryOutcome::Unsendable(e),
                    attempts,
                    last_error: None,
                })
                .await;
            }
        }
    }

    async fn run(mut self) {
        let ack = loop {
            self.start_due().await;
            let sleep = self.due.first().map(|&(at, _)| {
                let now_ms = SystemTime::now()
                    .duration_since(SystemTime::UNIX_EPOCH)
                    .map_or(0, |d| d.as_millis());
                let at_ms = u128::from(at).saturating_mul(1000);
                let wait = u64::try_from(at_ms.saturating_sub(now_ms)).unwrap_or(u64::MAX);
                Duration::from_millis(wait).min(MAX_SLEEP)
            });
            tokio::select! {
                cmd = self.commands.recv() => match cmd {
                    Some(Command::Deliver(record)) => self.admit(record).await,
                    Some(Command::Shutdown(ack)) => break Some(ack),
                    None => break None,
                },
                Some(done) = self.in_flight.join_next(), if !self.in_flight.is_empty() => {
                    match done {
                        Ok(done) => self.finish_attempt(done).await,
                        // A panicking attempt task is a bug; its delivery stays
                        // in flight in memory and is resent after a restart.
                        Err(e) => tracing::error!(error = %e, "webhook sender: an attempt task failed"),
                    }
                }
                () = tokio::time::sleep(sleep.unwrap_or(MAX_SLEEP)), if sleep.is_some() => {}
            }
        };
        // Let go of the client, the attempts and this task's share of the
        // outbox before acknowledging.
        self.in_flight.abort_all();
        drop(self);
        if let Some(ack) = ack {
            let _ = ack.send(());
        }
    }

    /// Polls every delivery that is due, while slots are free.
    async fn start_due(&mut self) {
        let now = unix_now();
        while let Some((at, _)) = self.due.first() {
            if *at > now.as_secs() {
                break;
            }
            let Ok(permit) = self.limiter.try_acquire() else {
                break;
            };
            let Some((_, id)) = self.due.pop_first() else {
                self.limiter.release(permit);
                break;
            };
            let Some(tracked) = self.deliveries.get_mut(&id) else {
                self.limiter.release(permit);
                continue;
            };
            match tracked.delivery.poll(now, &self.signer) {
                DeliveryAction::Send(attempt) => {
                    tracing::debug!(
                        id = %id,
                        attempt = attempt.attempt,
                        url = %redact(&tracked.delivery.record().url),
                        "webhook sender: sending"
                    );
                    self.permits.insert(id.clone(), permit);
                    let client = self.client.clone();
                    let max = self.max_response_bytes;
                    self.in_flight.spawn(async move {
                        let (result, error) = attempt_once(&client, attempt.request, max).await;
                        AttemptDone { id, result, error }
                    });
                }
                DeliveryAction::WakeAt(t) => {
                    self.limiter.release(permit);
                    self.due.insert((t.as_secs(), id));
                }
                DeliveryAction::AwaitingResult => self.limiter.release(permit),
                done => {
                    self.limiter.release(permit);
                    self.finish(&id, done).await;
                }
            }
        }
    }

    async fn finish_attempt(&mut self, done: AttemptDone) {
        if let Some(permit) = self.permits.remove(&done.id) {
            self.limiter.release(permit);
        }
        let now = unix_now();
        let Some(tracked) = self.deliveries.get_mut(&done.id) else {
            return;
        };
        tracked.last_error.clone_from(&done.error);
        let action = tracked
            .delivery
            .handle_result(done.result, now, &mut self.rng);
        match action {
            DeliveryAction::WakeAt(t) => {
                tracing::debug!(
                    id = %done.id,
                    result = ?done.result,
                    error = done.error.as_deref().unwrap_or(""),
                    retry_at = t.as_secs(),
                    "webhook sender: attempt failed, retrying later"
                );
                let record = tracked.delivery.record().clone();
                if let Err(e) = blocking(Arc::clone(&self.outbox), move |o| o.update(&record)).await
                {
                    // Keep delivering from memory; after a crash the older
                    // record is resumed, which only repeats an attempt.
                    tracing::error!(id = %done.id, error = %e, "webhook sender: could not store the delivery's progress");
                }
                self.due.insert((t.as_secs(), done.id));
            }
            DeliveryAction::Send(_) | DeliveryAction::AwaitingResult => {
                // Not returned by handle_result; poll again when due.
                let at = tracked.delivery.record().next_attempt_at.as_secs();
                self.due.insert((at, done.id));
            }
            finished => self.finish(&done.id, finished).await,
        }
    }

    /// Removes a finished delivery from the outbox and reports it.
    async fn finish(&mut self, id: &str, action: DeliveryAction) {
        let Some(tracked) = self.deliveries.remove(id) else {
            return;
        };
        let (outcome, attempts) = match action {
            DeliveryAction::Delivered { attempts } => (DeliveryOutcome::Delivered, attempts),
            DeliveryAction::EndpointGone { attempts } => (DeliveryOutcome::EndpointGone, attempts),
            DeliveryAction::Failed { attempts, reason } => {
                (DeliveryOutcome::Failed(reason), attempts)
            }
            DeliveryAction::Send(_)
            | DeliveryAction::WakeAt(_)
            | DeliveryAction::AwaitingResult => {
                return;
            }
        };
        let record = tracked.delivery.record();
        self.report(DeliveryReport {
            id: MessageId(id.to_owned()),
            url: record.url.clone(),
            outcome,
            attempts,
            last_error: tracked.last_error,
        })
        .await;
    }

    async fn report(&mut self, report: DeliveryReport) {
        let id = report.id.0.clone();
        if let Err(e) = blocking(Arc::clone(&self.outbox), move |o| o.remove(&id)).await {
            // The record stays; the next start delivers it again (same id).
            tracing::error!(id = %report.id, error = %e, "webhook sender: could not remove a finished delivery from the outbox");
        }
        match &report.outcome {
            DeliveryOutcome::Delivered => {
                tracing::debug!(id = %report.id, attempts = report.attempts, "webhook delivered");
            }
            other => tracing::warn!(
                id = %report.id,
                url = %redact(&report.url),
                attempts = report.attempts,
                outcome = ?other,
                last_error = report.last_error.as_deref().unwrap_or(""),
                "webhook not delivered"
            ),
        }
        if let Err(mpsc::error::SendError(r)) = self.reports.send(report) {
            tracing::info!(id = %r.id, outcome = ?r.outcome, "webhook report (nobody is reading reports)");
        }
    }
}

/// Sends one attempt and reads at most `max_body` bytes of the answer.
async fn attempt_once(
    client: &reqwest::Client,
    request: novitai_core::http::HttpRequest,
    max_body: usize,
) -> (AttemptResult, Option<String>) {
    let mut builder = client.post(request.path_and_query.as_str());
    for (name, value) in request.headers.iter() {
        builder = builder.header(name, value);
    }
    if let Some(body) = request.body {
        builder = builder.body(body);
    }
    let mut response = match builder.send().await {
        Ok(r) => r,
        Err(e) => {
            let e = e.without_url();
            return (AttemptResult::Transport, Some(error_chain(&e)));
        }
    };
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get(http::header::RETRY_AFTER)
        .and_then(|v| RetryAfter::parse(v.as_bytes()).ok())
        .map(|ra| ra.delay_from(unix_now()));
    // Drain a bounded amount so the connection can be reused; drop the rest.
    let mut read = 0usize;
    while read < max_body {
        match response.chunk().await {
            Ok(Some(chunk)) => read = read.saturating_add(chunk.len()),
            Ok(None) | Err(_) => break,
        }
    }
    (
        AttemptResult::Response {
            status,
            retry_after,
        },
        None,
    )
}

/// Resolves host names with tokio (or the overrides) and keeps only the
/// addresses the URL policy accepts.
struct GuardedResolver {
    policy: UrlPolicy,
    overrides: Arc<HashMap<String, Vec<IpAddr>>>,
}

/// Every address of a host name was refused by the URL guard.
#[derive(Debug)]
struct Refused {
    host: String,
    reason: String,
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "refused by the webhook URL guard: {} resolves only to refused addresses ({})",
            self.host, self.reason
        )
    }
}

impl std::error::Error for Refused {}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_ascii_lowercase();
        let policy = self.policy;
        let overrides = Arc::clone(&self.overrides);
        Box::pin(async move {
            let found: Vec<SocketAddr> = match overrides.get(&host) {
                Some(ips) => ips.iter().map(|&ip| SocketAddr::new(ip, 0)).collect(),
                None => tokio::net::lookup_host((host.as_str(), 0)).await?.collect(),
            };
            let mut reason = String::from("no addresses");
            let allowed: Vec<SocketAddr> = found
                .into_iter()
                .filter(|a| match check_ip(a.ip(), &policy) {
                    Ok(()) => true,
                    Err(e) => {
                        reason = e.to_string();
                        false
                    }
                })
                .collect();
            if allowed.is_empty() {
                tracing::warn!(host = %host, reason = %reason, "webhook sender: refused every address of a host");
                return Err(Box::new(Refused { host, reason }) as Box<_>);
            }
            Ok(Box::new(allowed.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_ids_are_fresh_and_signable() {
        let a = new_message_id().unwrap();
        let b = new_message_id().unwrap();
        assert_ne!(a, b);
        assert_eq!(a.as_str().len(), 36);
        assert!(novitai_core::webhook::sign::validate_message_id(a.as_str()).is_ok());
    }

    #[test]
    fn logged_urls_keep_only_scheme_host_and_port() {
        assert_eq!(
            redact("https://user:pw@hooks.example.com:8443/p/a?token=x#f"),
            "https://hooks.example.com:8443"
        );
        assert_eq!(redact("not a url"), "<url>");
    }

    #[test]
    fn zero_in_flight_is_a_config_error_naming_the_field() {
        let e = SenderError::MaxInFlight(0).to_string();
        assert!(
            e.contains("max_in_flight") && e.contains("at least 1"),
            "{e}"
        );
    }
}
