//! The core's Novita API [`Simulator`] served over HTTP on 127.0.0.1 (feature
//! `sim`).
//!
//! [`SimServer::start`] binds a port on the loopback interface and serves one
//! shared simulator: the same JSON the real API speaks, and the fault plan
//! carried out on the wire — latency, 5xx bursts, 429 with `Retry-After`,
//! connection resets, hangs, cut-short bodies and slow bodies — so a real
//! client (reqwest, a browser) meets real socket errors, not simulated ones.
//!
//! ```no_run
//! # async fn demo() -> Result<(), novitai_tokio::sim_server::SimServerError> {
//! use novitai_tokio::sim_server::{SimServer, SimServerConfig};
//! use novitai_tokio::core::sim::FaultPlan;
//!
//! let server = SimServer::start(SimServerConfig {
//!     faults: FaultPlan::default_demo(),
//!     time_scale: 60.0, // instances start in seconds, not minutes
//!     ..SimServerConfig::default()
//! })
//! .await?;
//! println!("Novita API at {}", server.base_url()); // http://127.0.0.1:PORT/gpu-instance/openapi
//! server.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! # URL layout
//!
//! | path | what | faults | auth |
//! |---|---|---|---|
//! | `/gpu-instance/openapi/v1/...` | the v1 API ([`SimServerHandle::base_url`]) | yes | `Authorization: Bearer <api_key>` |
//! | `/v1/...` | the same routes without the real host's prefix | yes | yes |
//! | `/_sim/instances/{id}/ports/{port}[/...]` | an instance's port endpoint (the `endpoint` of its `portMappings`); `GET`/`HEAD`: 200 ready, 503 warming up, 502 instance not running, 404 no such instance or port | no | no |
//! | `/_sim/stats` | [`SimStats`] as JSON | no | no |
//! | `/_sim/health` | 200 `{"status":"ok"}` while the server runs | no | no |
//! | any path, `OPTIONS` | CORS preflight: 204 | no | no |
//!
//! Every response carries `Access-Control-Allow-Origin: *` and exposes
//! `Retry-After` and `X-Correlation-ID` to scripts, so the web demo can call
//! the server from any origin and see 5xx and 429 answers as such.
//!
//! # Faults on the wire
//!
//! | [`SimReply`](novitai_core::sim::SimReply) | what the client sees |
//! |---|---|
//! | `Respond { after, .. }` | the answer after `after` (real time) |
//! | `Respond` with a slow-tail latency (plan `slow=P@MAX`) | the status and headers after the plan's normal latency maximum, then the body dripped in up to 4 chunks over the rest of `after` |
//! | `Reset { after }` | after `after`, the TCP connection is reset (RST, no HTTP response) |
//! | `Hang` | nothing, until the client gives up or the server shuts down |
//! | `Truncated { after, .. }`, body cut | after `after`, the status and headers with a `Content-Length` larger than the body, part of the body, then the connection closes: a body error |
//! | `Truncated`, body garbled | the full-length body, garbled: a parse error |
//!
//! # Time
//! The simulator's clock is the wall time since the server started multiplied
//! by [`SimServerConfig::time_scale`]. The scale speeds up what happens *in
//! the simulated world*: instance lifecycles, application warm-up and the
//! outage windows of the fault plan (all measured on the simulator's clock).
//! It does not scale what happens *on the wire*: latencies, slow bodies,
//! hangs and `Retry-After` values are real seconds, so client timeouts and
//! retry delays are exercised as they would be against the real API.
//!
//! # Logging
//! One `tracing` event per request at debug level (target
//! `novitai_tokio::sim_server`): method, path (without the query), status or
//! fault, and latency. Headers and bodies are never logged (they carry the
//! API key and registry passwords).

mod service;
mod wire;

use std::fmt;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use novitai_core::Instant;
use novitai_core::sim::{FaultPlan, SimConfig, SimConfigError, SimStats, Simulator, Timings};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};

use service::Shared;

/// The smallest accepted [`SimServerConfig::time_scale`].
pub const MIN_TIME_SCALE: f64 = 0.001;
/// The largest accepted [`SimServerConfig::time_scale`].
pub const MAX_TIME_SCALE: f64 = 1_000_000.0;

/// How to run a [`SimServer`].
///
/// # Default
/// `port` 0 (any free port); `seed` 0; `faults` [`FaultPlan::none`];
/// `api_key` `"sk_sim"`; `time_scale` 1.0 (real time); `timings`
/// [`Timings::default`]; `startup_failure` 0.0; `max_body_bytes` 1 MiB;
/// `shutdown_grace` 2 s.
#[derive(Clone, Debug, PartialEq)]
pub struct SimServerConfig {
    /// The port to bind on 127.0.0.1; 0 lets the OS pick a free one (see
    /// [`SimServerHandle::addr`]).
    pub port: u16,
    /// Seeds every random choice of the simulator (faults, latencies, ids,
    /// lifecycle timings): the same seed and the same request order give the
    /// same answers.
    pub seed: u64,
    /// What goes wrong, and how often.
    pub faults: FaultPlan,
    /// The only key accepted in `Authorization: Bearer <key>`. Must not be empty.
    pub api_key: String,
    /// How much faster than real time the simulated world runs (instance
    /// lifecycles, warm-up, outage windows; not network latency, hangs or
    /// `Retry-After`). [`MIN_TIME_SCALE`] ..= [`MAX_TIME_SCALE`]; 60.0 turns
    /// a two-minute image pull into two seconds.
    pub time_scale: f64,
    /// Phase durations of the instance lifecycles, in simulated time.
    pub timings: Timings,
    /// Probability (0–1) that an instance start-up fails.
    pub startup_failure: f64,
    /// Request bodies larger than this are answered 413. At least 1.
    pub max_body_bytes: usize,
    /// On [`SimServerHandle::shutdown`], how long open connections may take to
    /// finish (a slow body still dripping) before they are cut.
    pub shutdown_grace: std::time::Duration,
}

impl Default for SimServerConfig {
    fn default() -> SimServerConfig {
        SimServerConfig {
            port: 0,
            seed: 0,
            faults: FaultPlan::none(),
            api_key: String::from("sk_sim"),
            time_scale: 1.0,
            timings: Timings::default(),
            startup_failure: 0.0,
            max_body_bytes: 1 << 20,
            shutdown_grace: std::time::Duration::from_secs(2),
        }
    }
}

/// Why a [`SimServer`] did not start.
#[derive(Debug)]
pub enum SimServerError {
    /// The simulator rejected its configuration (api key, fault plan,
    /// timings, startup failure).
    Config(SimConfigError),
    /// `time_scale` is not a number in [`MIN_TIME_SCALE`] ..= [`MAX_TIME_SCALE`].
    TimeScale(f64),
    /// `max_body_bytes` is 0.
    MaxBodyBytes,
    /// The port could not be bound on 127.0.0.1.
    Bind {
        /// The port asked for.
        port: u16,
        /// The operating system's reason.
        source: std::io::Error,
    },
}

impl fmt::Display for SimServerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SimServerError::Config(e) => write!(f, "{e}"),
            SimServerError::TimeScale(v) => write!(
                f,
                "sim server time_scale is {v}; it must be a number between {MIN_TIME_SCALE} and {MAX_TIME_SCALE} (1 = real time)"
            ),
            SimServerError::MaxBodyBytes => {
                f.write_str("sim server max_body_bytes is 0; it must be at least 1")
            }
            SimServerError::Bind { port, source } => write!(
                f,
                "sim server could not listen on 127.0.0.1:{port}: {source}; pick another port or 0 for any free one"
            ),
        }
    }
}

impl std::error::Error for SimServerError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            SimServerError::Bind { source, .. } => Some(source),
            _ => None,
        }
    }
}

impl From<SimConfigError> for SimServerError {
    fn from(e: SimConfigError) -> SimServerError {
        SimServerError::Config(e)
    }
}

/// Starts simulator servers; see the [module docs](self).
#[derive(Debug)]
pub struct SimServer;

impl SimServer {
    /// Binds `127.0.0.1:{config.port}` and serves a fresh [`Simulator`] on it
    /// until [`SimServerHandle::shutdown`] (or until the handle is dropped).
    /// Must be called inside a tokio runtime.
    ///
    /// # Errors
    /// [`SimServerError`] for a bad config or a port that cannot be bound.
    pub async fn start(config: SimServerConfig) -> Result<SimServerHandle, SimServerError> {
        if !(MIN_TIME_SCALE..=MAX_TIME_SCALE).contains(&config.time_scale) {
            return Err(SimServerError::TimeScale(config.time_scale));
        }
        if config.max_body_bytes == 0 {
            return Err(SimServerError::MaxBodyBytes);
        }
        // Check the simulator's own config before binding anything.
        let mut sim_config = SimConfig {
            api_key: config.api_key,
            faults: config.faults,
            timings: config.timings,
            startup_failure: config.startup_failure,
            ..SimConfig::default()
        };
        sim_config.validate()?;
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, config.port))
            .await
            .map_err(|source| SimServerError::Bind {
                port: config.port,
                source,
            })?;
        let addr = listener
            .local_addr()
            .map_err(|source| SimServerError::Bind {
                port: config.port,
                source,
            })?;
        let root = format!("http://{addr}");
        sim_config.endpoint_template = format!("{root}/_sim/instances/{{id}}/ports/{{port}}");
        let sim = Simulator::new(sim_config, config.seed, Instant::ZERO)?;
        let (stop_tx, stop_rx) = watch::channel(false);
        let shared = Arc::new(Shared::new(
            sim,
            config.time_scale,
            config.max_body_bytes,
            stop_rx.clone(),
        ));
        let task = tokio::spawn(accept_loop(
            listener,
            Arc::clone(&shared),
            stop_rx,
            config.shutdown_grace,
        ));
        tracing::debug!(target: "novitai_tokio::sim_server", %addr, "sim server listening");
        Ok(SimServerHandle {
            addr,
            base_url: format!("{root}{API_PREFIX}"),
            root,
            shared,
            stop: stop_tx,
            task: Some(task),
        })
    }
}

/// The path prefix of the v1 API on the real host, kept so a client's base
/// URL has the same shape against the simulator and against Novita.
const API_PREFIX: &str = "/gpu-instance/openapi";

/// A running [`SimServer`]. Dropping it stops the server without waiting;
/// [`Self::shutdown`] stops it and waits until every connection is closed.
#[derive(Debug)]
pub struct SimServerHandle {
    addr: SocketAddr,
    root: String,
    base_url: String,
    shared: Arc<Shared>,
    stop: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

impl SimServerHandle {
    /// The address the server listens on (always 127.0.0.1).
    #[must_use]
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The API base URL to configure a client with, in the real API's shape:
    /// `http://127.0.0.1:PORT/gpu-instance/openapi` (paths such as
    /// `/v1/clusters` go after it).
    #[must_use]
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The server's root, `http://127.0.0.1:PORT` (the v1 routes also answer
    /// directly under it, and the `/_sim/...` paths live there).
    #[must_use]
    pub fn root_url(&self) -> &str {
        &self.root
    }

    /// The URL of `port` on instance `instance_id`, as the API reports it in
    /// `portMappings[].endpoint`.
    #[must_use]
    pub fn endpoint_url(&self, instance_id: &str, port: u16) -> String {
        format!("{}/_sim/instances/{instance_id}/ports/{port}", self.root)
    }

    /// The simulator's counters so far.
    #[must_use]
    pub fn stats(&self) -> SimStats {
        self.shared.with_sim(|sim| sim.stats())
    }

    /// Reads the simulator's state (instances, clock, config) under its lock;
    /// `f` should be quick, every request waits for it.
    pub fn inspect<R>(&self, f: impl FnOnce(&Simulator) -> R) -> R {
        self.shared.with_sim(|sim| f(sim))
    }

    /// TCP connections open right now (a hung request keeps one open until
    /// its client gives up or the server shuts down).
    #[must_use]
    pub fn open_connections(&self) -> usize {
        self.shared.open_connections.load(Ordering::Acquire)
    }

    /// The simulator's clock now: wall time since start × `time_scale`.
    #[must_use]
    pub fn sim_now(&self) -> Instant {
        self.shared.sim_now()
    }

    /// Stops accepting connections, ends hung and delayed requests at once
    /// (their connections close without a response), lets answers already
    /// being sent finish for up to [`SimServerConfig::shutdown_grace`], then
    /// returns when every connection is closed.
    pub async fn shutdown(mut self) {
        self.stop.send_replace(true);
        if let Some(task) = self.task.take() {
            // A panicked or cancelled accept loop has nothing left to wait for.
            let _ = task.await;
        }
        tracing::debug!(target: "novitai_tokio::sim_server", addr = %self.addr, "sim server stopped");
    }
}

impl Drop for SimServerHandle {
    fn drop(&mut self) {
        self.stop.send_replace(true);
    }
}

/// Accepts connections until told to stop, then winds them down.
async fn accept_loop(
    listener: TcpListener,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
    grace: std::time::Duration,
) {
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => {
                    // Best effort: small answers go out at once.
                    let _ = stream.set_nodelay(true);
                    conns.spawn(serve_connection(stream, Arc::clone(&shared), stop.clone()));
                }
                Err(e) => {
                    // E.g. out of file descriptors: back off instead of spinning.
                    tracing::debug!(target: "novitai_tokio::sim_server", error = %e, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                }
            },
            () = stopped(&mut stop) => break,
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
    drop(listener);
    let drained =
        tokio::time::timeout(grace, async { while conns.join_next().await.is_some() {} }).await;
    if drained.is_err() {
        conns.abort_all();
        while conns.join_next().await.is_some() {}
    }
}

/// Serves one TCP connection with HTTP/1.1 (keep-alive), and resets it (RST)
/// if a request's fault asked for it.
async fn serve_connection(
    mut stream: TcpStream,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
) {
    let _open = OpenConnection::new(Arc::clone(&shared));
    let reset = Arc::new(AtomicBool::new(false));
    {
        let service = service::SimService::new(shared, Arc::clone(&reset));
        let conn = http1::Builder::new()
            .keep_alive(true)
            .serve_connection(TokioIo::new(&mut stream), service);
        tokio::pin!(conn);
        tokio::select! {
            result = conn.as_mut() => log_connection_end(result),
            () = stopped(&mut stop) => {
                conn.as_mut().graceful_shutdown();
                log_connection_end(conn.as_mut().await);
            }
        }
    }
    if reset.load(Ordering::Acquire) {
        // SO_LINGER 0: dropping the socket sends RST instead of FIN, which is
        // what a client sees when a peer or middlebox resets a connection.
        let _ = stream.set_zero_linger();
    }
}

/// Counts a connection as open for as long as it lives (also when its task
/// is aborted).
struct OpenConnection(Arc<Shared>);

impl OpenConnection {
    fn new(shared: Arc<Shared>) -> OpenConnection {
        shared.open_connections.fetch_add(1, Ordering::AcqRel);
        OpenConnection(shared)
    }
}

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.0.open_connections.fetch_sub(1, Ordering::AcqRel);
    }
}

fn log_connection_end(result: Result<(), hyper::Error>) {
    if let Err(e) = result {
        tracing::trace!(target: "novitai_tokio::sim_server", error = %e, "connection closed");
    }
}

/// Returns once the server is told to stop (or its handle is gone). The
/// watch guard is dropped before returning, so callers stay `Send`.
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|stopped| *stopped).await;
}

/// Locks the simulator, ignoring poisoning (the simulator never panics, and
/// a poisoned lock must not take the server down).
fn lock(sim: &Mutex<Simulator>) -> std::sync::MutexGuard<'_, Simulator> {
    sim.lock().unwrap_or_else(PoisonError::into_inner)
}
