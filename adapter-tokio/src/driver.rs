//! The driver: the core's [`Engine`] behind one lock, and one tokio task
//! for what no caller is there to do.
//!
//! Every change to the engine runs its loop exactly as the core documents
//! it, under the lock:
//!
//! 1. feed the engine the change (a submission, an attempt's answer, a
//!    cancellation, the timer, a command);
//! 2. drain [`Engine::poll_output`]: each [`Output::Transmit`] goes to
//!    the caller whose request it is, which makes the reqwest request
//!    (outside the lock), sends it from its own task and brings the answer
//!    back as an [`Input`] (a transmission whose caller is gone is sent by
//!    the driver task); each [`Event`] is logged (one `tracing` line per
//!    event) and a [`Event::Completed`] answers its caller;
//! 3. tell the driver task when `Output::Timeout(Some(at))` is earlier than
//!    its one timer is armed for.
//!
//! A caller submits its request and feeds in its attempts' answers itself,
//! and what that brings its own request (its attempt, its completion) is
//! handed back to it directly when it lets go of the lock: a request costs
//! its caller no more wake-ups than plain reqwest (the response wakes the
//! task that waits for it). What a change brings another caller (a queued
//! request let through, a retry the timer started) is left in that
//! caller's mailbox, with a wake-up. The driver task runs the timer, the
//! transmissions whose callers left, status, breaker control and shutdown.
//!
//! Per attempt the driver allocates little: the attempt's future
//! (`Transmission`) lives unboxed in its caller's future, mailboxes are
//! reused per thread, URLs are parsed once per path, and the request
//! builders are one per core.
//!
//! The driver decides nothing: retries, rate, breaker, timeouts and caching
//! are the engine's. It only turns reqwest's errors into
//! [`TransportErrorKind`]s and stops reading a body at the size cap.
//!
//! Time: the core's [`Instant`] is the number of milliseconds since the
//! driver started, read from [`tokio::time::Instant`], so tests with tokio's
//! paused clock run in virtual time.

use std::collections::HashMap;
use std::error::Error as StdError;
use std::future::Future;
use std::hash::{BuildHasherDefault, Hasher};
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use futures_util::FutureExt;
use futures_util::stream::{FuturesUnordered, StreamExt};
use futures_util::task::AtomicWaker;
use http_body::Body as _;
use novitai_core::engine::{
    AttemptId, Completed, Engine, EngineConfig, EngineConfigError, EngineStatus, Event, Input,
    Output, Rejected, RequestId, RequestOptions, Transmit,
};
use novitai_core::http::{Headers, HttpRequest, HttpResponse, Method, is_sensitive_header};
use novitai_core::retry::TransportErrorKind;
use novitai_core::{Duration, Instant};
use reqwest::header::{HeaderName, HeaderValue};
use tokio::sync::{Notify, mpsc, oneshot};

use crate::breaker_share::{self, BreakerShare};
use crate::log;

/// The default cap on a response body: 16 MiB (the Novita API's largest
/// answers, product and instance lists, are far smaller).
pub const DEFAULT_MAX_BODY_BYTES: usize = 16 * 1024 * 1024;

/// How a [`Driver`] reaches the network.
///
/// # Default
/// - `base_url`: [`novitai_core::api::BASE_URL`]
/// - `seed`: `None` (drawn from the operating system at start-up)
/// - `http`: `None` (a fresh [`reqwest::Client`] with a connection pool and
///   redirects off, see [`default_http_client`])
/// - `max_body_bytes`: [`DEFAULT_MAX_BODY_BYTES`] (16 MiB)
/// - `breaker_share`: `None` (the breaker is this process's alone)
#[derive(Clone, Debug)]
pub struct DriverOptions {
    /// Where request paths (`/v1/...`) are appended.
    pub base_url: String,
    /// The engine's seed (jitter, correlation ids); `None` draws one from
    /// the operating system. Set it to replay a run.
    pub seed: Option<u64>,
    /// The HTTP client to share; it should not follow redirects (the engine
    /// treats a 3xx as an answer).
    pub http: Option<reqwest::Client>,
    /// A response body longer than this fails the attempt with
    /// [`TransportErrorKind::BodyTooLarge`].
    pub max_body_bytes: usize,
    /// Shares breaker trips with other workers (see [`crate::breaker_share`]):
    /// the engine's own trips are published, and trips published elsewhere
    /// are adopted by the engine within the share's poll interval.
    pub breaker_share: Option<Arc<dyn BreakerShare>>,
}

impl Default for DriverOptions {
    fn default() -> DriverOptions {
        DriverOptions {
            base_url: String::from(novitai_core::api::BASE_URL),
            seed: None,
            http: None,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            breaker_share: None,
        }
    }
}

/// Why a [`Driver`] could not start.
#[derive(Debug)]
pub enum DriverError {
    /// The engine refused its configuration.
    Engine(EngineConfigError),
    /// The default HTTP client could not be built (TLS initialisation).
    Http(reqwest::Error),
    /// No tokio runtime is running on this thread.
    NoRuntime,
    /// The operating system gave no random seed; pass one explicitly.
    Seed(getrandom::Error),
}

impl std::fmt::Display for DriverError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DriverError::Engine(e) => write!(f, "invalid engine configuration: {e}"),
            DriverError::Http(e) => write!(f, "the HTTP client could not be built: {e}"),
            DriverError::NoRuntime => f.write_str(
                "no tokio runtime is running: create the client inside a tokio runtime \
                 (e.g. in #[tokio::main])",
            ),
            DriverError::Seed(e) => write!(
                f,
                "the operating system gave no random seed ({e}): set a seed explicitly"
            ),
        }
    }
}

impl StdError for DriverError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        match self {
            DriverError::Engine(e) => Some(e),
            DriverError::Http(e) => Some(e),
            DriverError::NoRuntime | DriverError::Seed(_) => None,
        }
    }
}

/// The HTTP client a driver builds when none is given: pooled connections,
/// no redirects (a 3xx is an answer for the engine), rustls for https.
///
/// # Errors
/// When the TLS backend cannot be initialised.
pub fn default_http_client() -> Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
}

/// Manual breaker control.
#[derive(Clone, Copy, Debug)]
enum BreakerControl {
    ForceOpen,
    Reset,
}

/// What the driver task is asked to do. Submissions, answers and
/// cancellations do not travel here: callers feed the engine themselves
/// (see [`Shared`]).
enum Command {
    /// A transmission whose caller stopped waiting before it ended; its
    /// answer may still matter (coalesced requests share it).
    Adopt(Sending),
    Status(oneshot::Sender<EngineStatus>),
    Breaker(BreakerControl, oneshot::Sender<()>),
    Shutdown(oneshot::Sender<()>),
    /// Breaker share: a trip published elsewhere holds for this long.
    AdoptTrip(std::time::Duration),
}

/// The most messages taken in one turn of the loop before the engine's
/// outputs are carried out.
const BATCH: usize = 256;

/// A handle to the driver. Cheap to clone (one reference count); many
/// tasks may share one. When the last handle is dropped, the driver task
/// cancels whatever is pending and exits.
#[derive(Clone, Debug)]
pub struct Driver(Arc<Handle>);

/// What every clone of a [`Driver`] shares.
#[derive(Debug)]
struct Handle {
    commands: mpsc::UnboundedSender<Command>,
    shared: Arc<Shared>,
    seed: u64,
}

impl Driver {
    /// Starts the driver task on the current tokio runtime.
    ///
    /// # Errors
    /// [`DriverError`] when the engine refuses `config`, no runtime is
    /// running, the default HTTP client cannot be built, or no seed can be
    /// drawn.
    pub fn spawn(config: EngineConfig, options: DriverOptions) -> Result<Driver, DriverError> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| DriverError::NoRuntime)?;
        let seed = match options.seed {
            Some(s) => s,
            None => getrandom::u64().map_err(DriverError::Seed)?,
        };
        let http = match options.http {
            Some(c) => c,
            None => default_http_client().map_err(DriverError::Http)?,
        };
        let start = tokio::time::Instant::now();
        let engine = Engine::new(config, seed, Instant::ZERO).map_err(DriverError::Engine)?;
        let (commands, command_rx) = mpsc::unbounded_channel();
        tracing::info!(
            seed,
            base_url = options.base_url.trim_end_matches('/'),
            "novitai driver started"
        );
        let shards = std::thread::available_parallelism()
            .map_or(1, usize::from)
            .clamp(1, MAX_SHARDS);
        let fetcher = Arc::new(Fetcher {
            http,
            max_body_bytes: options.max_body_bytes,
            start,
            requests: (0..shards)
                .map(|_| Mutex::new(Requests::new(&options.base_url)))
                .collect(),
        });
        let core = Core {
            engine,
            start,
            fetcher: Arc::clone(&fetcher),
            pending: HashMap::default(),
            orphans: Vec::new(),
            stopping: false,
            breaker_share: options.breaker_share.clone(),
            wake: None,
            caller: None,
            caller_mail: None,
        };
        let shared = Arc::new(Shared {
            core: Mutex::new(core),
            rearm: Notify::new(),
            fetcher,
        });
        // ---- breaker share (fleet): poll the share, feed the engine -------
        if let Some(share) = options.breaker_share {
            let weak = commands.downgrade();
            breaker_share::spawn_poller(share, move |left| {
                let Some(tx) = weak.upgrade() else {
                    return false;
                };
                match left {
                    Some(left) => tx.send(Command::AdoptTrip(left)).is_ok(),
                    None => !tx.is_closed(),
                }
            });
        }
        // ---- end breaker share ---------------------------------------------
        let task = Task {
            shared: Arc::clone(&shared),
        };
        runtime.spawn(task.run(command_rx));
        Ok(Driver(Arc::new(Handle {
            commands,
            shared,
            seed,
        })))
    }

    /// The engine's seed (log it to replay a run).
    #[must_use]
    pub fn seed(&self) -> u64 {
        self.0.seed
    }

    /// Sends `request` through the engine and waits for its one
    /// [`Completed`]. The engine's attempts for it are sent from the task
    /// awaiting this future, as a reqwest future is: they make progress
    /// while it is polled. Dropping the future cancels the request in the
    /// engine (an attempt already out is finished by the driver task, for
    /// requests coalesced with it).
    ///
    /// # Errors
    /// [`Rejected::ShuttingDown`] once the driver is shut down.
    pub async fn send(
        &self,
        request: HttpRequest,
        options: RequestOptions,
    ) -> Result<Completed, Rejected> {
        let mailbox = Mailbox::take();
        let (id, direct) = {
            let mut core = self.0.shared.lock();
            let now = core.now();
            let id = core.engine.submit(request, options, now)?;
            core.pending
                .insert(id.get(), Reply(Some(Arc::clone(&mailbox))));
            let direct = self.0.shared.settle(core, &self.0.commands, Some(id));
            (id, direct)
        };
        let mut call = Call {
            driver: self,
            id,
            mailbox,
            direct,
            fetch: None,
            finished: false,
        };
        std::future::poll_fn(|cx| call.poll(cx)).await
    }

    /// A snapshot of queue, breaker, limiter, retry budget and cache.
    ///
    /// # Errors
    /// [`Rejected::ShuttingDown`] once the driver is shut down.
    pub async fn status(&self) -> Result<EngineStatus, Rejected> {
        let (tx, rx) = oneshot::channel();
        self.0
            .commands
            .send(Command::Status(tx))
            .map_err(|_| Rejected::ShuttingDown)?;
        rx.await.map_err(|_| Rejected::ShuttingDown)
    }

    /// Holds the breaker open until [`Driver::reset_breaker`].
    ///
    /// # Errors
    /// [`Rejected::ShuttingDown`] once the driver is shut down.
    pub async fn force_breaker_open(&self) -> Result<(), Rejected> {
        self.breaker(BreakerControl::ForceOpen).await
    }

    /// Closes the breaker with clean counters.
    ///
    /// # Errors
    /// [`Rejected::ShuttingDown`] once the driver is shut down.
    pub async fn reset_breaker(&self) -> Result<(), Rejected> {
        self.breaker(BreakerControl::Reset).await
    }

    async fn breaker(&self, control: BreakerControl) -> Result<(), Rejected> {
        let (tx, rx) = oneshot::channel();
        self.0
            .commands
            .send(Command::Breaker(control, tx))
            .map_err(|_| Rejected::ShuttingDown)?;
        rx.await.map_err(|_| Rejected::ShuttingDown)
    }

    /// Cancels everything pending (each request completes as
    /// [`novitai_core::engine::Completion::Cancelled`]), aborts the
    /// transmissions still out, and waits for the task to exit. Later calls
    /// are rejected with [`Rejected::ShuttingDown`]. Calling it twice is
    /// harmless.
    pub async fn shutdown(&self) {
        let (tx, rx) = oneshot::channel();
        if self.0.commands.send(Command::Shutdown(tx)).is_ok() {
            let _ = rx.await;
        }
    }
}

/// A transmission in flight: its answer or transport error, as the
/// engine's input.
/// (Boxed: the driver task keeps those of callers that left in one set.)
type Fetch = Pin<Box<dyn Future<Output = Input> + Send>>;

/// An attempt being sent by its caller.
struct Sending {
    fetch: Transmission,
    attempt: AttemptId,
    /// The attempt's timeout (see [`Fetcher::bound`]).
    timeout: Duration,
}

/// What the driver tells a caller.
enum Mail {
    /// Send this attempt of the caller's request.
    Attempt(Attempt),
    /// The request is over. `adopt`: an attempt still out should be
    /// finished by the driver task (not at shutdown).
    Done {
        result: Result<Completed, Rejected>,
        adopt: bool,
    },
}

/// One attempt to send (its reqwest request is made by whoever sends it,
/// outside the engine's lock).
struct Attempt {
    id: AttemptId,
    request: Arc<HttpRequest>,
    timeout: Duration,
}

/// Where the engine's outputs for a caller are left: one slot (there is
/// never two letters for one caller at once: an attempt is taken before the
/// next one or the end can be decided) and the caller's waker.
#[derive(Default)]
struct Mailbox {
    slot: Mutex<Slot>,
    waker: AtomicWaker,
}

#[derive(Default)]
struct Slot {
    mail: Option<Mail>,
    /// The driver side is gone: no more mail will come.
    closed: bool,
    /// The caller is gone: nobody reads the mail.
    gone: bool,
}

impl Mailbox {
    fn slot(&self) -> std::sync::MutexGuard<'_, Slot> {
        self.slot.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// An empty mailbox: one this thread kept from a finished call, or a
    /// new one.
    fn take() -> Arc<Mailbox> {
        let spare = SPARE_MAILBOXES.with(|s| s.borrow_mut().pop());
        match spare {
            Some(mut m) => {
                // Kept only when unshared (see `keep`); made new again.
                if let Some(inner) = Arc::get_mut(&mut m) {
                    *inner = Mailbox::default();
                    m
                } else {
                    Arc::default()
                }
            }
            None => Arc::default(),
        }
    }

    /// Keeps a finished call's mailbox for this thread's next call, when
    /// nothing else holds it.
    fn keep(mailbox: &Arc<Mailbox>) {
        if Arc::strong_count(mailbox) == 1 && Arc::weak_count(mailbox) == 0 {
            SPARE_MAILBOXES.with(|s| {
                let mut spare = s.borrow_mut();
                if spare.len() < SPARE_MAILBOX_COUNT {
                    spare.push(Arc::clone(mailbox));
                }
            });
        }
    }
}

/// The most finished calls' mailboxes a thread keeps for reuse.
const SPARE_MAILBOX_COUNT: usize = 32;

thread_local! {
    static SPARE_MAILBOXES: std::cell::RefCell<Vec<Arc<Mailbox>>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

/// The engine's side of a caller's [`Mailbox`]. Dropped without a
/// [`Mail::Done`], it tells the caller that the driver is gone.
/// (`None` once [`Reply::done`] has said the last word.)
struct Reply(Option<Arc<Mailbox>>);

impl Reply {
    /// Hands `attempt` to the caller; gives it back when the caller is gone
    /// or has not taken its previous mail yet.
    fn offer(&self, attempt: Attempt) -> Option<Attempt> {
        let Some(mailbox) = &self.0 else {
            return Some(attempt);
        };
        {
            let mut slot = mailbox.slot();
            if slot.gone || slot.mail.is_some() {
                return Some(attempt);
            }
            slot.mail = Some(Mail::Attempt(attempt));
        }
        mailbox.waker.wake();
        None
    }

    /// Ends the caller's wait. An attempt it has not taken yet is given
    /// back.
    fn done(mut self, result: Result<Completed, Rejected>, adopt: bool) -> Option<Attempt> {
        // Taken: the drop has nothing more to tell.
        let mailbox = self.0.take()?;
        let unsent = {
            let mut slot = mailbox.slot();
            slot.mail.replace(Mail::Done { result, adopt })
        };
        mailbox.waker.wake();
        match unsent {
            Some(Mail::Attempt(a)) => Some(a),
            _ => None,
        }
    }
}

impl Drop for Reply {
    fn drop(&mut self) {
        if let Some(mailbox) = &self.0 {
            mailbox.slot().closed = true;
            mailbox.waker.wake();
        }
    }
}

/// A caller's side of one request. Dropped before the request ends, it
/// cancels the request in the engine and hands an attempt still out to the
/// driver task.
struct Call<'a> {
    driver: &'a Driver,
    id: RequestId,
    mailbox: Arc<Mailbox>,
    /// Mail the caller made for itself while it held the engine's lock
    /// (see [`Core::caller`]): read before the mailbox.
    direct: Option<Mail>,
    fetch: Option<Sending>,
    finished: bool,
}

impl Call<'_> {
    /// Sends the attempts the engine hands over and feeds it their answers,
    /// until the request is over.
    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<Result<Completed, Rejected>> {
        loop {
            let (mail, closed) = match self.direct.take() {
                Some(mail) => (Some(mail), false),
                None => {
                    let mut slot = self.mailbox.slot();
                    (slot.mail.take(), slot.closed)
                }
            };
            match mail {
                Some(Mail::Attempt(attempt)) => {
                    // A later attempt of the same request: the engine has
                    // given up on the earlier one.
                    self.fetch = Some(self.driver.0.shared.fetcher.start(attempt));
                }
                Some(Mail::Done { result, adopt }) => {
                    self.finished = true;
                    // Still sending: the request ended without this attempt
                    // (its deadline passed, say); requests coalesced with it
                    // may still wait for its answer.
                    if let Some(fetch) = self.fetch.take()
                        && adopt
                    {
                        let _ = self.driver.0.commands.send(Command::Adopt(fetch));
                    }
                    return Poll::Ready(result);
                }
                None if closed => {
                    self.finished = true;
                    return Poll::Ready(Err(Rejected::ShuttingDown));
                }
                None => {}
            }
            if let Some(fetch) = &mut self.fetch
                && let Poll::Ready(input) = Pin::new(&mut fetch.fetch).poll(cx)
            {
                self.fetch = None;
                // What the answer brings this caller comes back directly.
                let shared = &self.driver.0.shared;
                let mut core = shared.lock();
                core.answer(input);
                self.direct = shared.settle(core, &self.driver.0.commands, Some(self.id));
                continue;
            }
            // Nothing to do until the fetch or the mailbox wakes this task.
            // Mail left just before the registration woke nobody: look
            // again after it.
            self.mailbox.waker.register(cx.waker());
            let slot = self.mailbox.slot();
            if slot.mail.is_none() && !slot.closed {
                return Poll::Pending;
            }
        }
    }
}

impl Drop for Call<'_> {
    fn drop(&mut self) {
        if self.finished {
            Mailbox::keep(&self.mailbox);
            return;
        }
        let unsent = {
            let mut slot = self.mailbox.slot();
            slot.gone = true;
            match self.direct.take().or_else(|| slot.mail.take()) {
                Some(Mail::Attempt(a)) => Some(a),
                _ => None,
            }
        };
        let shared = &self.driver.0.shared;
        {
            let mut core = shared.lock();
            let now = core.now();
            core.engine.cancel(self.id, now);
            shared.settle(core, &self.driver.0.commands, None);
        }
        if let Some(attempt) = unsent {
            self.fetch = Some(shared.fetcher.start(attempt));
        }
        if let Some(fetch) = self.fetch.take() {
            let _ = self.driver.0.commands.send(Command::Adopt(fetch));
        }
    }
}

/// What callers and the driver task share: the engine with its callers
/// and request builder behind one lock, and the timer's alarm.
///
/// A caller submits its request and feeds the engine its attempts'
/// answers itself, under the lock, and carries out the engine's outputs
/// before letting go of it (its own attempt or completion lands in its own
/// mailbox, read at once; another caller's is mailed to it with a
/// wake-up). The driver task runs the engine's timer, the transmissions
/// whose callers left, and the rarer commands.
struct Shared {
    core: Mutex<Core>,
    /// Told when the engine wants to be woken earlier than the timer is
    /// armed for.
    rearm: Notify,
    fetcher: Arc<Fetcher>,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared").finish_non_exhaustive()
    }
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, Core> {
        self.core.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Carries out the engine's outputs after a change, lets go of the
    /// lock, then tells the driver task about an earlier wake-up and hands
    /// it the transmissions whose callers are gone. What concerns `caller`
    /// (the request of the task holding the lock) is returned instead of
    /// mailed.
    fn settle(
        &self,
        mut core: std::sync::MutexGuard<'_, Core>,
        commands: &mpsc::UnboundedSender<Command>,
        caller: Option<RequestId>,
    ) -> Option<Mail> {
        core.caller = caller;
        let next = core.drain();
        core.caller = None;
        let direct = core.caller_mail.take();
        let earlier = next.is_some_and(|at| core.wake.is_none_or(|armed| at < armed));
        if earlier {
            core.wake = next;
        }
        let orphans = std::mem::take(&mut core.orphans);
        drop(core);
        if earlier {
            self.rearm.notify_one();
        }
        for fetch in orphans {
            let _ = commands.send(Command::Adopt(fetch));
        }
        direct
    }
}

/// The engine and what carries out its outputs.
struct Core {
    engine: Engine,
    start: tokio::time::Instant,
    fetcher: Arc<Fetcher>,
    /// Callers waiting for a `Completed`, by request id.
    pending: HashMap<u64, Reply, BuildHasherDefault<IdHasher>>,
    /// Transmissions no caller will send (the caller is gone), for the
    /// driver task to send.
    orphans: Vec<Sending>,
    /// Shutting down: attempts still out are dropped, not adopted.
    stopping: bool,
    /// Where the engine's own breaker trips are published (fleet).
    breaker_share: Option<Arc<dyn BreakerShare>>,
    /// The earliest instant the engine asked to be woken at since the
    /// timer last fired (what the driver task's timer is armed for).
    wake: Option<Instant>,
    /// The request of the caller draining the engine (see
    /// [`Shared::settle`]): its mail goes to `caller_mail`, not through its
    /// mailbox, which saves a lock and a wake-up on each attempt and
    /// answer.
    caller: Option<RequestId>,
    /// The caller's own mail from this drain.
    caller_mail: Option<Mail>,
}

/// Hashes the engine's request ids (unique, increasing numbers chosen by
/// the engine, not by a peer) with one multiplication instead of SipHash.
#[derive(Default)]
struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64((self.0 << 8) | u64::from(b));
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

/// What the loop does after a command.
enum Flow {
    Continue,
    Exit(Option<oneshot::Sender<()>>),
}

/// The driver task: the engine's timer, orphaned transmissions and
/// commands.
struct Task {
    shared: Arc<Shared>,
}

impl Task {
    async fn run(self, mut commands: mpsc::UnboundedReceiver<Command>) {
        // The transmissions this task sends itself (their callers are
        // gone): each answer is fed to the engine as soon as it comes, and
        // dropping the set (at shutdown) aborts whatever is still out.
        let mut in_flight: FuturesUnordered<Fetch> = FuturesUnordered::new();
        let start = self.shared.lock().start;
        let sleep = tokio::time::sleep_until(start);
        tokio::pin!(sleep);
        // What `sleep` is armed for.
        let mut armed: Option<Instant> = None;
        let done = loop {
            let flow = tokio::select! {
                biased;
                Some(input) = in_flight.next(), if !in_flight.is_empty() => {
                    self.shared.lock().answer(input);
                    Flow::Continue
                }
                command = commands.recv() => match command {
                    Some(c) => self.command(c, &mut in_flight),
                    // Every handle is gone: nobody can wait for anything.
                    None => Flow::Exit(None),
                },
                () = self.shared.rearm.notified() => Flow::Continue,
                () = &mut sleep, if armed.is_some() => {
                    armed = None;
                    let mut core = self.shared.lock();
                    core.wake = None;
                    let now = core.now();
                    core.engine.handle_input(Input::Timeout(now));
                    Flow::Continue
                }
            };
            if let Flow::Exit(reply) = flow {
                break reply;
            }
            // Take whatever else has arrived before draining the engine
            // once. (Polling the set without a waker here is safe: the
            // `select!` above polls it again with this task's waker before
            // the task sleeps.)
            let mut exit = None;
            for _ in 0..BATCH {
                if let Ok(command) = commands.try_recv() {
                    if let Flow::Exit(reply) = self.command(command, &mut in_flight) {
                        exit = Some(reply);
                        break;
                    }
                } else if let Some(Some(input)) = in_flight.next().now_or_never() {
                    self.shared.lock().answer(input);
                } else {
                    break;
                }
            }
            if let Some(reply) = exit {
                break reply;
            }
            let wake = {
                let mut core = self.shared.lock();
                let next = core.drain();
                if next.is_some_and(|at| core.wake.is_none_or(|w| at < w)) {
                    core.wake = next;
                }
                in_flight.extend(core.orphans.drain(..).map(|s| self.shared.fetcher.bound(s)));
                core.wake
            };
            // Re-arm only when the engine wants to be woken earlier than the
            // armed timer. A timer that fires before the engine's instant is
            // harmless (the engine finds nothing due and names the next
            // instant) and saves a timer-wheel update per change.
            if let Some(at) = wake
                && armed.is_none_or(|a| at < a)
                && let Some(deadline) = tokio_instant(start, at)
            {
                armed = Some(at);
                sleep.as_mut().reset(deadline);
            }
        };
        self.shared.lock().stop();
        // Abort the transmissions still out.
        drop(in_flight);
        tracing::info!("novitai driver stopped");
        if let Some(reply) = done {
            let _ = reply.send(());
        }
    }

    fn command(&self, command: Command, in_flight: &mut FuturesUnordered<Fetch>) -> Flow {
        let mut core = self.shared.lock();
        match command {
            Command::Adopt(sending) => in_flight.push(self.shared.fetcher.bound(sending)),
            Command::Status(reply) => {
                let now = core.now();
                let _ = reply.send(core.engine.status(now));
            }
            Command::Breaker(control, reply) => {
                let now = core.now();
                match control {
                    BreakerControl::ForceOpen => core.engine.force_breaker_open(now),
                    BreakerControl::Reset => core.engine.reset_breaker(now),
                }
                let _ = reply.send(());
            }
            Command::Shutdown(reply) => return Flow::Exit(Some(reply)),
            // Breaker share: the engine decides what a trip seen elsewhere does.
            Command::AdoptTrip(left) => {
                let now = core.now();
                // Rounded up: the adopted trip never ends before the shared one.
                let left = u64::try_from(left.as_micros().div_ceil(1000)).unwrap_or(u64::MAX);
                core.engine
                    .adopt_trip(now + Duration::from_millis(left), now);
            }
        }
        Flow::Continue
    }
}

impl Core {
    fn now(&self) -> Instant {
        core_instant(self.start, tokio::time::Instant::now())
    }

    fn answer(&mut self, input: Input) {
        log::answer(&input);
        self.engine.handle_input(input);
    }

    /// Carries out every output; returns when to wake the engine.
    fn drain(&mut self) -> Option<Instant> {
        loop {
            match self.engine.poll_output() {
                Output::Transmit(t) => self.transmit(t),
                Output::Event(e) => {
                    log::event(&e);
                    // Breaker share: publish the engine's own trips (never adopted ones).
                    if let Event::BreakerTransition(t) = &e
                        && let (Some(until), Some(share)) = (t.own_trip(), &self.breaker_share)
                    {
                        let left = until.saturating_duration_since(self.now());
                        breaker_share::publish(share, std_duration(left));
                    }
                    if let Event::Completed(c) = e {
                        self.complete(c);
                    }
                }
                Output::Timeout(at) => return at,
            }
        }
    }

    fn complete(&mut self, completed: Completed) {
        let Some(mut reply) = self.pending.remove(&completed.id.get()) else {
            return;
        };
        let adopt = !self.stopping;
        let unsent = if self.caller == Some(completed.id) {
            // Its caller holds the lock: the end is handed over directly
            // (the mailbox is let go of without a word).
            reply.0 = None;
            match self.caller_mail.replace(Mail::Done {
                result: Ok(completed),
                adopt,
            }) {
                Some(Mail::Attempt(a)) => Some(a),
                _ => None,
            }
        } else {
            reply.done(Ok(completed), adopt)
        };
        if let Some(unsent) = unsent
            && !self.stopping
        {
            self.orphan(unsent);
        }
    }

    /// Hands the attempt to its caller, or to the driver task when the
    /// caller is gone.
    fn transmit(&mut self, t: Transmit) {
        log::transmit(&t);
        let attempt = Attempt {
            id: t.attempt,
            request: t.request,
            timeout: t.timeout,
        };
        let unsent = match self.pending.get(&t.request_id.get()) {
            // Its caller holds the lock and has nothing else to read.
            Some(_) if self.caller == Some(t.request_id) && self.caller_mail.is_none() => {
                self.caller_mail = Some(Mail::Attempt(attempt));
                None
            }
            Some(reply) => reply.offer(attempt),
            None => Some(attempt),
        };
        if let Some(attempt) = unsent {
            self.orphan(attempt);
        }
    }

    fn orphan(&mut self, attempt: Attempt) {
        self.orphans.push(self.fetcher.start(attempt));
    }

    /// Cancels every request (the callers drop the transmissions in
    /// flight).
    fn stop(&mut self) {
        self.stopping = true;
        let now = self.now();
        self.engine.shutdown(now);
        let _ = self.drain();
        self.orphans.clear();
        // Anything still waiting (cannot happen: shutdown completes every
        // request) learns that the driver is gone when its reply drops.
        self.pending.clear();
    }
}

/// Turns the engine's [`HttpRequest`]s into reqwest requests. Behind one
/// lock of its own, so its caches need no other: the base URL is
/// parsed once (a request's path is then parsed relative to it, without
/// parsing the scheme and host again), each path's URL is kept once parsed,
/// and header names are kept once made.
struct Requests {
    /// The base URL as configured, without trailing slashes.
    base_url: String,
    /// The parsed base URL, when a path can be joined to it by parsing the
    /// path alone (an http(s) URL without query or fragment).
    base: Option<reqwest::Url>,
    /// The base URL's path without trailing slash (`""` or e.g.
    /// `/gpu-instance/openapi`), put before each request's path.
    base_path: String,
    /// Headers already made, by name; at most [`MAX_NAMES`]. A name outside
    /// the standard set and every value cost an allocation each time they
    /// are made.
    names: Vec<KnownHeader>,
    /// URLs already parsed, by path and query (a retry, or another
    /// request to the same path, copies the parsed URL instead of parsing
    /// it again); at most [`MAX_URLS`], emptied when full.
    /// Hashed with FNV-1a (a few instructions a byte instead of SipHash's
    /// set-up): the paths are the application's own and the cache is
    /// bounded, so colliding paths could only slow a lookup.
    urls: HashMap<String, reqwest::Url, fnv::FnvBuildHasher>,
}

/// A header name seen before, with its last value while that value does
/// not change (`Authorization`, `User-Agent`: the same on every request;
/// `X-Correlation-ID`: different each time, so not kept).
struct KnownHeader {
    /// The name as the first request spelled it (compared byte for byte
    /// before the case-insensitive comparison).
    spelled: String,
    name: HeaderName,
    value: Option<HeaderValue>,
    varies: bool,
    /// A credential: its values are marked sensitive.
    sensitive: bool,
}

/// The most distinct header names [`Requests`] keeps.
const MAX_NAMES: usize = 32;

/// The most parsed URLs [`Requests`] keeps.
const MAX_URLS: usize = 256;

impl Requests {
    fn new(base_url: &str) -> Requests {
        let base_url = String::from(base_url.trim_end_matches('/'));
        let base = reqwest::Url::parse(&base_url).ok().filter(|u| {
            matches!(u.scheme(), "http" | "https")
                && u.has_host()
                && u.query().is_none()
                && u.fragment().is_none()
        });
        let base_path = base
            .as_ref()
            .map(|u| String::from(u.path().trim_end_matches('/')))
            .unwrap_or_default();
        Requests {
            base_url,
            base,
            base_path,
            names: Vec::new(),
            urls: HashMap::default(),
        }
    }

    /// The reqwest request for `request`, or the kind of error reqwest
    /// would have reported for it (an unusable URL or header:
    /// [`TransportErrorKind::Other`]).
    fn build(&mut self, request: &HttpRequest) -> Result<reqwest::Request, TransportErrorKind> {
        let url = self.cached_url(request).ok_or(TransportErrorKind::Other)?;
        let mut out = reqwest::Request::new(method(request.method), url);
        let headers = out.headers_mut();
        for (i, (name, value)) in request.headers.iter().enumerate() {
            let (name, value) = self
                .header(i, name, value)
                .ok_or(TransportErrorKind::Other)?;
            headers.append(name, value);
        }
        if let Some(body) = &request.body {
            *out.body_mut() = Some(reqwest::Body::from(body.clone()));
        }
        Ok(out)
    }

    /// [`Requests::url`], parsed once per path and query.
    fn cached_url(&mut self, request: &HttpRequest) -> Option<reqwest::Url> {
        if let Some(url) = self.urls.get(request.path_and_query.as_str()) {
            return Some(url.clone());
        }
        let url = self.url(request)?;
        if self.urls.len() >= MAX_URLS {
            self.urls.clear();
        }
        self.urls
            .insert(request.path_and_query.clone(), url.clone());
        Some(url)
    }

    /// The request's URL, as [`HttpRequest::url`] would spell it.
    fn url(&self, request: &HttpRequest) -> Option<reqwest::Url> {
        let p = request.path_and_query.as_str();
        if p.starts_with("http://") || p.starts_with("https://") {
            return reqwest::Url::parse(p).ok();
        }
        if let Some(base) = &self.base {
            let joined;
            let path = if self.base_path.is_empty() && p.starts_with('/') {
                p
            } else {
                let mut j = String::with_capacity(self.base_path.len() + 1 + p.len());
                j.push_str(&self.base_path);
                if !p.starts_with('/') {
                    j.push('/');
                }
                j.push_str(p);
                joined = j;
                joined.as_str()
            };
            // A path that starts like `//host` would be read as a new host
            // relative to the base; concatenated to the base it is a path.
            let mut start = path.bytes().take(2);
            let slash = |b: Option<u8>| matches!(b, Some(b'/' | b'\\'));
            if !(slash(start.next()) && slash(start.next())) {
                return base.join(path).ok();
            }
        }
        reqwest::Url::parse(&request.url(&self.base_url)).ok()
    }

    /// The header `name: value`, made once when it repeats. `hint`: its
    /// place in its request (requests of one kind list their headers in the
    /// same order, so the name kept there is tried first).
    fn header(
        &mut self,
        hint: usize,
        name: &str,
        value: &str,
    ) -> Option<(HeaderName, HeaderValue)> {
        let at_hint = self.names.get(hint).is_some_and(|k| k.spelled == name);
        let found = if at_hint {
            Some(hint)
        } else {
            self.names
                .iter()
                .position(|k| k.spelled == name || k.name.as_str().eq_ignore_ascii_case(name))
        };
        let known = match found {
            Some(i) => self.names.get_mut(i)?,
            None => {
                let spelled = name;
                let name = HeaderName::from_bytes(name.as_bytes()).ok()?;
                let sensitive = is_sensitive_header(name.as_str());
                let value = header_value(value, sensitive)?;
                if self.names.len() < MAX_NAMES {
                    self.names.push(KnownHeader {
                        spelled: String::from(spelled),
                        name: name.clone(),
                        value: Some(value.clone()),
                        varies: false,
                        sensitive,
                    });
                }
                return Some((name, value));
            }
        };
        if let Some(v) = &known.value
            && v.as_bytes() == value.as_bytes()
        {
            return Some((known.name.clone(), v.clone()));
        }
        let v = header_value(value, known.sensitive)?;
        if !known.varies {
            known.varies = known.value.is_some();
            known.value = (!known.varies).then(|| v.clone());
        }
        Some((known.name.clone(), v))
    }
}

/// A header value, marked sensitive (never printed by the HTTP stack) when
/// it is a credential.
fn header_value(value: &str, sensitive: bool) -> Option<HeaderValue> {
    let mut v = HeaderValue::from_str(value).ok()?;
    if sensitive {
        v.set_sensitive(true);
    }
    Some(v)
}

/// The most request builders a driver keeps (see [`Fetcher::requests`]).
const MAX_SHARDS: usize = 16;

/// Threads are numbered as they first build a request.
static NEXT_THREAD: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

thread_local! {
    /// This thread's number, which picks its request builder.
    static THREAD_SHARD: usize = NEXT_THREAD.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
}

/// What a transmission in flight needs, shared by the driver task and its
/// handles.
struct Fetcher {
    http: reqwest::Client,
    max_body_bytes: usize,
    start: tokio::time::Instant,
    /// Make the reqwest request of each transmission: one per core (up to
    /// [`MAX_SHARDS`]), each behind its own lock held only while one request
    /// is made. A thread always uses the same one, so each stays in its
    /// core's cache instead of moving between cores on every request.
    requests: Box<[Mutex<Requests>]>,
}

impl std::fmt::Debug for Fetcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fetcher")
            .field("max_body_bytes", &self.max_body_bytes)
            .finish_non_exhaustive()
    }
}

impl Fetcher {
    /// Starts sending one attempt (or reporting why it could not be
    /// built).
    ///
    /// It has no timer of its own: the engine times the attempt out (its
    /// caller then drops it); [`Fetcher::bound`] gives one to a
    /// transmission nobody waits for.
    fn start(self: &Arc<Self>, attempt: Attempt) -> Sending {
        let shard = THREAD_SHARD.with(|s| *s) % self.requests.len().max(1);
        let built = match self.requests.get(shard) {
            Some(r) => r
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .build(&attempt.request),
            None => Err(TransportErrorKind::Other),
        };
        let state = match built {
            Ok(r) => Stage::Sending(tower_service::Service::call(&mut &self.http, r)),
            Err(kind) => Stage::Failed(kind),
        };
        Sending {
            fetch: Transmission {
                attempt: attempt.id,
                start: self.start,
                max_body_bytes: self.max_body_bytes,
                stage: state,
            },
            attempt: attempt.id,
            timeout: attempt.timeout,
        }
    }

    /// A transmission whose caller left, for the driver task: it ends as a
    /// [`TransportErrorKind::Timeout`] at the latest the attempt's timeout
    /// after now (the engine has timed it out by then).
    fn bound(self: &Arc<Self>, sending: Sending) -> Fetch {
        let fetcher = Arc::clone(self);
        Box::pin(async move {
            let Sending {
                fetch,
                attempt,
                timeout,
            } = sending;
            match tokio::time::timeout(std_duration(timeout), fetch).await {
                Ok(input) => input,
                Err(_) => Input::TransportError {
                    attempt,
                    now: core_instant(fetcher.start, tokio::time::Instant::now()),
                    kind: TransportErrorKind::Timeout,
                },
            }
        })
    }
}

/// One attempt on the wire, as a future of the engine's input: reqwest's
/// pending response, then its body, read up to the size cap. Written by
/// hand rather than as an `async fn` so that it is `Unpin` and needs no box:
/// a caller keeps it inside its own future, and hands it over to the driver
/// task if it leaves.
struct Transmission {
    attempt: AttemptId,
    /// The driver's start (the core's clock).
    start: tokio::time::Instant,
    max_body_bytes: usize,
    stage: Stage,
}

enum Stage {
    Sending(<reqwest::Client as tower_service::Service<reqwest::Request>>::Future),
    Reading {
        status: u16,
        headers: Headers,
        body: Vec<u8>,
        stream: reqwest::Body,
    },
    /// The request could not be made (reported at the first poll).
    Failed(TransportErrorKind),
    /// The input was given.
    Done,
}

impl Future for Transmission {
    type Output = Input;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Input> {
        let this = &mut *self;
        loop {
            let result = match &mut this.stage {
                Stage::Sending(pending) => match Pin::new(pending).poll(cx) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(Ok(response)) => match this.begin(response) {
                        Ok(stage) => {
                            this.stage = stage;
                            continue;
                        }
                        Err(kind) => Err(kind),
                    },
                    Poll::Ready(Err(e)) => Err(transport_kind(&e)),
                },
                Stage::Reading { body, stream, .. } => {
                    match Pin::new(stream).poll_frame(cx) {
                        Poll::Pending => return Poll::Pending,
                        Poll::Ready(Some(Ok(frame))) => {
                            // Trailers are not part of the answer.
                            if let Ok(data) = frame.into_data() {
                                if body.len().saturating_add(data.len()) > this.max_body_bytes {
                                    Err(TransportErrorKind::BodyTooLarge)
                                } else {
                                    body.extend_from_slice(&data);
                                    continue;
                                }
                            } else {
                                continue;
                            }
                        }
                        Poll::Ready(Some(Err(e))) => Err(transport_kind(&e)),
                        Poll::Ready(None) => {
                            match std::mem::replace(&mut this.stage, Stage::Done) {
                                Stage::Reading {
                                    status,
                                    headers,
                                    body,
                                    ..
                                } => {
                                    let mut out = HttpResponse::new(status, body);
                                    out.headers = headers;
                                    Ok(out)
                                }
                                _ => Err(TransportErrorKind::Other),
                            }
                        }
                    }
                }
                Stage::Failed(kind) => Err(*kind),
                // Polled again after its input: the engine ignores a second
                // answer to an attempt.
                Stage::Done => Err(TransportErrorKind::Other),
            };
            this.stage = Stage::Done;
            let now = core_instant(this.start, tokio::time::Instant::now());
            let attempt = this.attempt;
            return Poll::Ready(match result {
                Ok(response) => Input::Response {
                    attempt,
                    now,
                    response,
                },
                Err(kind) => Input::TransportError { attempt, now, kind },
            });
        }
    }
}

impl Transmission {
    /// The answer's status and headers; its body is read next (refused at
    /// once when its declared length is over the cap).
    fn begin(&self, response: reqwest::Response) -> Result<Stage, TransportErrorKind> {
        let status = response.status().as_u16();
        // Sized first: the conversion then allocates twice in all.
        let map = response.headers();
        let bytes = map
            .iter()
            .map(|(n, v)| n.as_str().len().saturating_add(v.len()))
            .fold(0usize, usize::saturating_add);
        let mut headers = Headers::with_capacity(map.len(), bytes);
        for (name, value) in map {
            if let Ok(value) = value.to_str() {
                headers.append(name.as_str(), value);
            }
        }
        let limit = self.max_body_bytes;
        let length = response.content_length();
        if length.is_some_and(|n| n > u64::try_from(limit).unwrap_or(u64::MAX)) {
            return Err(TransportErrorKind::BodyTooLarge);
        }
        let body = Vec::with_capacity(
            length
                .and_then(|n| usize::try_from(n).ok())
                .unwrap_or(0)
                .min(limit),
        );
        let stream = http::Response::from(response).into_body();
        Ok(Stage::Reading {
            status,
            headers,
            body,
            stream,
        })
    }
}

fn method(m: Method) -> reqwest::Method {
    match m {
        Method::Get => reqwest::Method::GET,
        Method::Post => reqwest::Method::POST,
        Method::Put => reqwest::Method::PUT,
        Method::Patch => reqwest::Method::PATCH,
        Method::Delete => reqwest::Method::DELETE,
    }
}

fn std_duration(d: Duration) -> std::time::Duration {
    std::time::Duration::from_millis(d.as_millis())
}

/// The core's clock: whole milliseconds since `start`.
fn core_instant(start: tokio::time::Instant, now: tokio::time::Instant) -> Instant {
    let ms = now.saturating_duration_since(start).as_millis();
    Instant::from_millis(u64::try_from(ms).unwrap_or(u64::MAX))
}

/// The tokio instant of a core instant; `None` if it lies beyond what the
/// platform's clock can represent (then no timer is needed).
fn tokio_instant(start: tokio::time::Instant, at: Instant) -> Option<tokio::time::Instant> {
    start.checked_add(std::time::Duration::from_millis(at.as_millis()))
}

/// Maps a reqwest error onto the core's transport error kinds by walking its
/// source chain.
#[must_use]
pub fn transport_kind(error: &reqwest::Error) -> TransportErrorKind {
    if error.is_timeout() {
        return TransportErrorKind::Timeout;
    }
    match kind_of_chain(error) {
        Some(kind) => kind,
        None if error.is_body() || error.is_decode() => TransportErrorKind::ConnectionReset,
        None => TransportErrorKind::Other,
    }
}

/// The kind named by the first recognisable error in `error`'s source chain
/// (itself included).
#[must_use]
pub fn kind_of_chain(error: &(dyn StdError + 'static)) -> Option<TransportErrorKind> {
    let mut next: Option<&(dyn StdError + 'static)> = Some(error);
    while let Some(e) = next {
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            use std::io::ErrorKind as K;
            match io.kind() {
                K::ConnectionRefused => return Some(TransportErrorKind::ConnectionRefused),
                K::ConnectionReset | K::ConnectionAborted | K::BrokenPipe | K::UnexpectedEof => {
                    return Some(TransportErrorKind::ConnectionReset);
                }
                K::TimedOut => return Some(TransportErrorKind::Timeout),
                _ => {}
            }
        }
        if let Some(h) = e.downcast_ref::<hyper::Error>() {
            if h.is_timeout() {
                return Some(TransportErrorKind::Timeout);
            }
            if h.is_incomplete_message() || h.is_closed() || h.is_canceled() {
                return Some(TransportErrorKind::ConnectionReset);
            }
        }
        // hyper-util's connector reports resolver failures as "dns error"
        // (its error type is private, so it is recognised by its message).
        if e.to_string() == "dns error" {
            return Some(TransportErrorKind::Dns);
        }
        next = e.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Wrap(&'static str, Box<dyn StdError + Send + Sync>);

    impl std::fmt::Display for Wrap {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(self.0)
        }
    }

    impl StdError for Wrap {
        fn source(&self) -> Option<&(dyn StdError + 'static)> {
            Some(&*self.1)
        }
    }

    fn io(kind: std::io::ErrorKind) -> Box<dyn StdError + Send + Sync> {
        Box::new(std::io::Error::from(kind))
    }

    #[test]
    fn the_source_chain_names_the_kind() {
        use std::io::ErrorKind as K;
        let refused = Wrap("tcp connect error", io(K::ConnectionRefused));
        assert_eq!(
            kind_of_chain(&refused),
            Some(TransportErrorKind::ConnectionRefused)
        );
        let dns = Wrap(
            "client error",
            Box::new(Wrap(
                "dns error",
                Box::new(std::io::Error::other("failed to lookup address")),
            )),
        );
        assert_eq!(kind_of_chain(&dns), Some(TransportErrorKind::Dns));
        let reset = Wrap("body", io(K::ConnectionReset));
        assert_eq!(
            kind_of_chain(&reset),
            Some(TransportErrorKind::ConnectionReset)
        );
        let eof = Wrap("body", io(K::UnexpectedEof));
        assert_eq!(
            kind_of_chain(&eof),
            Some(TransportErrorKind::ConnectionReset)
        );
        let timed_out = Wrap("connect", io(K::TimedOut));
        assert_eq!(kind_of_chain(&timed_out), Some(TransportErrorKind::Timeout));
        let other = Wrap("tls", Box::new(std::io::Error::other("bad certificate")));
        assert_eq!(kind_of_chain(&other), None);
    }

    #[test]
    fn core_time_is_whole_milliseconds_since_start() {
        let start = tokio::time::Instant::now();
        let later = start + std::time::Duration::from_micros(2_999);
        assert_eq!(core_instant(start, later), Instant::from_millis(2));
        assert_eq!(core_instant(later, start), Instant::ZERO);
        let back = tokio_instant(start, Instant::from_millis(1500)).unwrap();
        assert_eq!(back - start, std::time::Duration::from_millis(1500));
        // The far end of the core's clock is either unrepresentable or far.
        let year = std::time::Duration::from_secs(365 * 24 * 3600);
        assert!(tokio_instant(start, Instant::MAX).is_none_or(|t| t > start + year));
    }
}
