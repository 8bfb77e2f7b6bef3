//! The driver: one tokio task owns the core's [`Engine`] and carries out what
//! it decides.
//!
//! Callers hand requests to the task over a channel and await the
//! [`Completed`] on a oneshot. The task runs the engine's loop exactly as the
//! core documents it:
//!
//! 1. take a command (submit, cancel, status, shutdown) or an attempt's
//!    answer, and feed it to the engine;
//! 2. drain [`Engine::poll_output`]: each [`Output::Transmit`] is sent with
//!    reqwest on a task of its own (its answer comes back as an
//!    [`Input`]); each [`Event`] is logged (one `tracing` line per
//!    event) and a [`Event::Completed`] answers its caller;
//! 3. arm one timer for `Output::Timeout(Some(at))` and go to 1.
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
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use novitai_core::engine::{
    AttemptId, Completed, Engine, EngineConfig, EngineConfigError, EngineStatus, Event, Input,
    Output, Rejected, RequestId, RequestOptions, Transmit,
};
use novitai_core::http::{Headers, HttpRequest, HttpResponse, Method};
use novitai_core::retry::TransportErrorKind;
use novitai_core::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};
use tokio::task::AbortHandle;

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

enum Command {
    Submit {
        token: u64,
        request: HttpRequest,
        options: RequestOptions,
        reply: oneshot::Sender<Result<Completed, Rejected>>,
    },
    Cancel(u64),
    Status(oneshot::Sender<EngineStatus>),
    Breaker(BreakerControl, oneshot::Sender<()>),
    Shutdown(oneshot::Sender<()>),
    /// Breaker share: a trip published elsewhere holds for this long.
    AdoptTrip(std::time::Duration),
}

/// The most messages taken in one turn of the loop before the engine's
/// outputs are carried out.
const BATCH: usize = 256;

/// Tokens name a caller's request before the engine has given it an id, so
/// a dropped future can be cancelled whatever the order of events.
static NEXT_TOKEN: AtomicU64 = AtomicU64::new(1);

/// A handle to the driver task. Cheap to clone; many tasks may share one.
/// When the last handle is dropped, the task cancels whatever is pending and
/// exits.
#[derive(Clone, Debug)]
pub struct Driver {
    commands: mpsc::UnboundedSender<Command>,
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
        let (answers, answer_rx) = mpsc::unbounded_channel();
        let task = Task {
            engine,
            start,
            http,
            base_url: Arc::from(options.base_url.trim_end_matches('/')),
            max_body_bytes: options.max_body_bytes,
            answers,
            pending: HashMap::new(),
            tokens: HashMap::new(),
            attempts: HashMap::new(),
            breaker_share: options.breaker_share.clone(),
        };
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
        tracing::info!(seed, base_url = %task.base_url, "novitai driver started");
        runtime.spawn(task.run(command_rx, answer_rx));
        Ok(Driver { commands, seed })
    }

    /// The engine's seed (log it to replay a run).
    #[must_use]
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// Sends `request` through the engine and waits for its one
    /// [`Completed`]. Dropping the returned future cancels the request in
    /// the engine.
    ///
    /// # Errors
    /// [`Rejected::ShuttingDown`] once the driver is shut down.
    pub async fn send(
        &self,
        request: HttpRequest,
        options: RequestOptions,
    ) -> Result<Completed, Rejected> {
        let token = NEXT_TOKEN.fetch_add(1, Ordering::Relaxed);
        let (reply, rx) = oneshot::channel();
        self.commands
            .send(Command::Submit {
                token,
                request,
                options,
                reply,
            })
            .map_err(|_| Rejected::ShuttingDown)?;
        let mut guard = CancelOnDrop {
            commands: &self.commands,
            token,
            armed: true,
        };
        let result = rx.await;
        guard.armed = false;
        // A reply dropped unanswered means the task is gone.
        result.unwrap_or(Err(Rejected::ShuttingDown))
    }

    /// A snapshot of queue, breaker, limiter, retry budget and cache.
    ///
    /// # Errors
    /// [`Rejected::ShuttingDown`] once the driver is shut down.
    pub async fn status(&self) -> Result<EngineStatus, Rejected> {
        let (tx, rx) = oneshot::channel();
        self.commands
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
        self.commands
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
        if self.commands.send(Command::Shutdown(tx)).is_ok() {
            let _ = rx.await;
        }
    }
}

/// Cancels a request whose caller stopped waiting.
struct CancelOnDrop<'a> {
    commands: &'a mpsc::UnboundedSender<Command>,
    token: u64,
    armed: bool,
}

impl Drop for CancelOnDrop<'_> {
    fn drop(&mut self) {
        if self.armed {
            let _ = self.commands.send(Command::Cancel(self.token));
        }
    }
}

/// The state of the driver task.
struct Task {
    engine: Engine,
    start: tokio::time::Instant,
    http: reqwest::Client,
    base_url: Arc<str>,
    max_body_bytes: usize,
    answers: mpsc::UnboundedSender<Input>,
    /// Callers waiting for a `Completed`, with their token.
    pending: HashMap<RequestId, (u64, oneshot::Sender<Result<Completed, Rejected>>)>,
    /// Token → request, for cancellation.
    tokens: HashMap<u64, RequestId>,
    /// Transmissions out, so shutdown can abort them.
    attempts: HashMap<AttemptId, AbortHandle>,
    /// Where the engine's own breaker trips are published (fleet).
    breaker_share: Option<Arc<dyn BreakerShare>>,
}

/// What the loop does after a command.
enum Flow {
    Continue,
    Exit(Option<oneshot::Sender<()>>),
}

impl Task {
    fn now(&self) -> Instant {
        core_instant(self.start, tokio::time::Instant::now())
    }

    async fn run(
        mut self,
        mut commands: mpsc::UnboundedReceiver<Command>,
        mut answers: mpsc::UnboundedReceiver<Input>,
    ) {
        let sleep = tokio::time::sleep_until(self.start);
        tokio::pin!(sleep);
        let mut wake: Option<Instant> = None;
        let done = loop {
            let flow = tokio::select! {
                biased;
                Some(input) = answers.recv() => {
                    self.answer(input);
                    Flow::Continue
                }
                command = commands.recv() => match command {
                    Some(c) => self.command(c),
                    // Every handle is gone: nobody can wait for anything.
                    None => Flow::Exit(None),
                },
                () = &mut sleep, if wake.is_some() => {
                    wake = None;
                    let now = self.now();
                    self.engine.handle_input(Input::Timeout(now));
                    Flow::Continue
                }
            };
            if let Flow::Exit(reply) = flow {
                break reply;
            }
            // Take whatever else has arrived before draining the engine once:
            // under load this turns many messages into one drain (and one
            // wake-up computation) instead of one each.
            let mut exit = None;
            for _ in 0..BATCH {
                if let Ok(input) = answers.try_recv() {
                    self.answer(input);
                } else if let Ok(command) = commands.try_recv() {
                    if let Flow::Exit(reply) = self.command(command) {
                        exit = Some(reply);
                        break;
                    }
                } else {
                    break;
                }
            }
            if let Some(reply) = exit {
                break reply;
            }
            // Re-arm only when the engine wants to be woken earlier than the
            // armed timer. A timer that fires before the engine's instant is
            // harmless (the engine finds nothing due and names the next
            // instant) and saves a timer-wheel update per message.
            if let Some(at) = self.drain()
                && wake.is_none_or(|armed| at < armed)
                && let Some(deadline) = tokio_instant(self.start, at)
            {
                wake = Some(at);
                sleep.as_mut().reset(deadline);
            }
        };
        self.stop();
        tracing::info!("novitai driver stopped");
        if let Some(reply) = done {
            let _ = reply.send(());
        }
    }

    fn command(&mut self, command: Command) -> Flow {
        match command {
            Command::Submit {
                token,
                request,
                options,
                reply,
            } => {
                let now = self.now();
                match self.engine.submit(request, options, now) {
                    Ok(id) => {
                        self.tokens.insert(token, id);
                        self.pending.insert(id, (token, reply));
                    }
                    Err(rejected) => {
                        let _ = reply.send(Err(rejected));
                    }
                }
            }
            Command::Cancel(token) => {
                if let Some(id) = self.tokens.remove(&token) {
                    let now = self.now();
                    self.engine.cancel(id, now);
                }
            }
            Command::Status(reply) => {
                let now = self.now();
                let _ = reply.send(self.engine.status(now));
            }
            Command::Breaker(control, reply) => {
                let now = self.now();
                match control {
                    BreakerControl::ForceOpen => self.engine.force_breaker_open(now),
                    BreakerControl::Reset => self.engine.reset_breaker(now),
                }
                let _ = reply.send(());
            }
            Command::Shutdown(reply) => return Flow::Exit(Some(reply)),
            // Breaker share: the engine decides what a trip seen elsewhere does.
            Command::AdoptTrip(left) => {
                let now = self.now();
                // Rounded up: the adopted trip never ends before the shared one.
                let left = u64::try_from(left.as_micros().div_ceil(1000)).unwrap_or(u64::MAX);
                self.engine
                    .adopt_trip(now + Duration::from_millis(left), now);
            }
        }
        Flow::Continue
    }

    fn answer(&mut self, input: Input) {
        let attempt = match &input {
            Input::Response { attempt, .. } | Input::TransportError { attempt, .. } => *attempt,
            Input::Timeout(_) => return,
        };
        self.attempts.remove(&attempt);
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
        if let Some((token, reply)) = self.pending.remove(&completed.id) {
            self.tokens.remove(&token);
            let _ = reply.send(Ok(completed));
        }
    }

    fn transmit(&mut self, t: Transmit) {
        log::transmit(&t);
        let attempt = t.attempt;
        let fetch = Fetch {
            http: self.http.clone(),
            base_url: Arc::clone(&self.base_url),
            max_body_bytes: self.max_body_bytes,
            start: self.start,
            answers: self.answers.clone(),
        };
        let handle = tokio::spawn(fetch.run(t));
        self.attempts.insert(attempt, handle.abort_handle());
    }

    /// Cancels every request and aborts every transmission.
    fn stop(&mut self) {
        let now = self.now();
        self.engine.shutdown(now);
        let _ = self.drain();
        for (_, handle) in self.attempts.drain() {
            handle.abort();
        }
        // Anything still waiting (cannot happen: shutdown completes every
        // request) learns that the driver is gone when its sender drops.
        self.pending.clear();
        self.tokens.clear();
    }
}

/// One transmission, run on its own task.
struct Fetch {
    http: reqwest::Client,
    base_url: Arc<str>,
    max_body_bytes: usize,
    start: tokio::time::Instant,
    answers: mpsc::UnboundedSender<Input>,
}

impl Fetch {
    async fn run(self, t: Transmit) {
        let result = self.fetch(&t.request, t.timeout).await;
        let now = core_instant(self.start, tokio::time::Instant::now());
        let input = match result {
            Ok(response) => Input::Response {
                attempt: t.attempt,
                now,
                response,
            },
            Err(kind) => Input::TransportError {
                attempt: t.attempt,
                now,
                kind,
            },
        };
        let _ = self.answers.send(input);
    }

    async fn fetch(
        &self,
        request: &HttpRequest,
        timeout: Duration,
    ) -> Result<HttpResponse, TransportErrorKind> {
        let url = request.url(&self.base_url);
        let mut builder = self
            .http
            .request(method(request.method), url)
            .timeout(std_duration(timeout));
        for (name, value) in request.headers.iter() {
            builder = builder.header(name, value);
        }
        if let Some(body) = &request.body {
            builder = builder.body(body.clone());
        }
        let mut response = builder.send().await.map_err(|e| transport_kind(&e))?;
        let status = response.status().as_u16();
        let mut headers = Headers::new();
        for (name, value) in response.headers() {
            if let Ok(v) = value.to_str() {
                headers.append(name.as_str(), v);
            }
        }
        let limit = self.max_body_bytes;
        if response
            .content_length()
            .is_some_and(|n| n > u64::try_from(limit).unwrap_or(u64::MAX))
        {
            return Err(TransportErrorKind::BodyTooLarge);
        }
        let mut body = Vec::with_capacity(
            response
                .content_length()
                .and_then(|n| usize::try_from(n).ok())
                .unwrap_or(0)
                .min(limit),
        );
        while let Some(chunk) = response.chunk().await.map_err(|e| transport_kind(&e))? {
            if body.len().saturating_add(chunk.len()) > limit {
                return Err(TransportErrorKind::BodyTooLarge);
            }
            body.extend_from_slice(&chunk);
        }
        let mut out = HttpResponse::new(status, body);
        out.headers = headers;
        Ok(out)
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
