//! One request: CORS preflight, the `/_sim/` paths, or the simulator's
//! answer carried out on the wire.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::{Request, Response};
use novitai_core::http::{HttpRequest, HttpResponse, Method};
use novitai_core::sim::{EndpointProbe, SimReply, Simulator};
use novitai_core::{Duration, Instant};
use serde_json::json;
use tokio::sync::watch;

use super::wire::{self, WireBody};
use super::{lock, stopped};

const LOG: &str = "novitai_tokio::sim_server";

/// What every connection shares: the simulator and the clock.
pub(crate) struct Shared {
    sim: Mutex<Simulator>,
    started: tokio::time::Instant,
    time_scale: f64,
    max_body_bytes: usize,
    /// Latency above this is a slow-tail answer whose body drips (`None`:
    /// the plan has no slow answers).
    slow_above: Option<Duration>,
    stop: watch::Receiver<bool>,
    /// TCP connections open now.
    pub(crate) open_connections: AtomicUsize,
}

impl fmt::Debug for Shared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Shared")
            .field("time_scale", &self.time_scale)
            .field("sim_now", &self.sim_now())
            .finish_non_exhaustive()
    }
}

impl Shared {
    pub(crate) fn new(
        sim: Simulator,
        time_scale: f64,
        max_body_bytes: usize,
        stop: watch::Receiver<bool>,
    ) -> Shared {
        let plan = sim.fault_plan();
        let slow_above =
            (plan.slow > 0.0 && plan.slow_max > plan.latency.max).then_some(plan.latency.max);
        Shared {
            sim: Mutex::new(sim),
            started: tokio::time::Instant::now(),
            time_scale,
            max_body_bytes,
            slow_above,
            stop,
            open_connections: AtomicUsize::new(0),
        }
    }

    /// Wall time since start × `time_scale`, in simulator milliseconds.
    pub(crate) fn sim_now(&self) -> Instant {
        let ms = self.started.elapsed().as_secs_f64() * 1000.0 * self.time_scale;
        // `as` saturates for floats; the scale is validated positive and finite.
        Instant::from_millis(ms as u64)
    }

    /// Runs `f` on the simulator under its lock (never held across an await).
    pub(crate) fn with_sim<R>(&self, f: impl FnOnce(&mut Simulator) -> R) -> R {
        let now = self.sim_now();
        let mut sim = lock(&self.sim);
        sim.advance(now);
        f(&mut sim)
    }

    /// Waits `d` of real time, or fails when the server stops first.
    async fn wait(&self, d: Duration) -> Result<(), Abort> {
        let mut stop = self.stop.clone();
        tokio::select! {
            () = tokio::time::sleep(std::time::Duration::from_millis(d.as_millis())) => Ok(()),
            () = stopped(&mut stop) => Err(Abort::Shutdown),
        }
    }
}

/// Why a request gets no HTTP response: the connection is closed instead.
#[derive(Debug)]
pub(crate) enum Abort {
    /// The fault plan reset the connection.
    Reset,
    /// The server is shutting down (hung or delayed requests end).
    Shutdown,
}

impl fmt::Display for Abort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Abort::Reset => f.write_str("connection reset by the simulator's fault plan"),
            Abort::Shutdown => f.write_str("the simulator server is shutting down"),
        }
    }
}

impl std::error::Error for Abort {}

/// The hyper service of one connection.
#[derive(Clone, Debug)]
pub(crate) struct SimService {
    shared: Arc<Shared>,
    /// Set when a fault asks for the connection to be reset (RST on close).
    reset: Arc<AtomicBool>,
}

impl SimService {
    pub(crate) fn new(shared: Arc<Shared>, reset: Arc<AtomicBool>) -> SimService {
        SimService { shared, reset }
    }
}

type ServiceFuture = Pin<Box<dyn Future<Output = Result<Response<WireBody>, Abort>> + Send>>;

impl hyper::service::Service<Request<Incoming>> for SimService {
    type Response = Response<WireBody>;
    type Error = Abort;
    type Future = ServiceFuture;

    fn call(&self, req: Request<Incoming>) -> ServiceFuture {
        let shared = Arc::clone(&self.shared);
        let reset = Arc::clone(&self.reset);
        Box::pin(async move {
            let started = std::time::Instant::now();
            let method = req.method().clone();
            let path = req.uri().path().to_owned();
            let result = respond(&shared, req).await;
            let latency_ms = started.elapsed().as_millis();
            match &result {
                Ok((response, outcome)) => tracing::debug!(
                    target: LOG,
                    %method, %path, status = response.status().as_u16(), fault = outcome.fault(),
                    latency_ms, "sim request"
                ),
                Err(abort) => {
                    if matches!(abort, Abort::Reset) {
                        reset.store(true, Ordering::Release);
                    }
                    let fault = match abort {
                        Abort::Reset => "reset",
                        Abort::Shutdown => "closed at shutdown",
                    };
                    tracing::debug!(target: LOG, %method, %path, fault, latency_ms, "sim request");
                }
            }
            result.map(|(response, _)| response)
        })
    }
}

/// How an answered request was carried out (for the access log).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Outcome {
    Plain,
    Slow,
    Truncated,
    Garbled,
}

impl Outcome {
    fn fault(self) -> &'static str {
        match self {
            Outcome::Plain => "none",
            Outcome::Slow => "slow body",
            Outcome::Truncated => "truncated",
            Outcome::Garbled => "garbled",
        }
    }
}

async fn respond(
    shared: &Shared,
    req: Request<Incoming>,
) -> Result<(Response<WireBody>, Outcome), Abort> {
    if req.method() == hyper::Method::OPTIONS {
        let asked = req
            .headers()
            .get(hyper::header::ACCESS_CONTROL_REQUEST_HEADERS);
        return Ok((wire::preflight(asked), Outcome::Plain));
    }
    if let Some(rest) = req.uri().path().strip_prefix("/_sim/") {
        let is_read = matches!(*req.method(), hyper::Method::GET | hyper::Method::HEAD);
        return Ok((control(shared, rest, is_read), Outcome::Plain));
    }
    let request = match to_core(shared, req).await {
        Ok(r) => r,
        Err(response) => return Ok((response, Outcome::Plain)),
    };
    let now = shared.sim_now();
    let reply = lock(&shared.sim).handle(&request, now);
    match reply {
        SimReply::Respond {
            after,
            mut response,
        } => match shared.slow_above {
            Some(normal) if after > normal && !response.body.is_empty() => {
                shared.wait(normal).await?;
                let body = Bytes::from(std::mem::take(&mut response.body));
                let rest =
                    std::time::Duration::from_millis(after.saturating_sub(normal).as_millis());
                Ok((
                    wire::to_hyper(&response, WireBody::drip(body, rest)),
                    Outcome::Slow,
                ))
            }
            _ => {
                shared.wait(after).await?;
                let body = WireBody::full(std::mem::take(&mut response.body));
                Ok((wire::to_hyper(&response, body), Outcome::Plain))
            }
        },
        SimReply::Reset { after } => {
            shared.wait(after).await?;
            Err(Abort::Reset)
        }
        SimReply::Hang => {
            tracing::debug!(target: LOG, path = %path_of(&request), "sim request hangs");
            let mut stop = shared.stop.clone();
            // Only shutdown (or the client closing the connection, which
            // drops this future) ends a hang.
            stopped(&mut stop).await;
            Err(Abort::Shutdown)
        }
        SimReply::Truncated { after, response } => {
            shared.wait(after).await?;
            Ok(truncated(response))
        }
    }
}

/// The path of a request without its query (for logs: queries may carry names).
fn path_of(request: &HttpRequest) -> &str {
    let p = request.path_and_query.as_str();
    p.split_once('?').map_or(p, |(path, _)| path)
}

/// A damaged answer. The simulator marks a garbled body by an invalid first
/// byte (0xFF) and keeps its length: send it whole. A cut body is shorter
/// than the real answer: declare a longer `Content-Length`, send what there
/// is, and close the connection, so the client sees a body error.
fn truncated(mut response: HttpResponse) -> (Response<WireBody>, Outcome) {
    let body = std::mem::take(&mut response.body);
    if body.first() == Some(&0xFF) {
        return (
            wire::to_hyper(&response, WireBody::full(body)),
            Outcome::Garbled,
        );
    }
    let declared = body.len().saturating_mul(2).saturating_add(1);
    let mut out = wire::to_hyper(&response, WireBody::cut_short(body));
    out.headers_mut().insert(
        hyper::header::CONTENT_LENGTH,
        hyper::header::HeaderValue::from(declared),
    );
    (out, Outcome::Truncated)
}

/// Converts a hyper request into the core's, or answers it at once (405
/// unknown method, 413 body too large, 400 unreadable body).
async fn to_core(
    shared: &Shared,
    req: Request<Incoming>,
) -> Result<HttpRequest, Response<WireBody>> {
    let method = match *req.method() {
        hyper::Method::GET => Method::Get,
        hyper::Method::POST => Method::Post,
        hyper::Method::PUT => Method::Put,
        hyper::Method::PATCH => Method::Patch,
        hyper::Method::DELETE => Method::Delete,
        ref other => {
            return Err(error(
                405,
                "METHOD_NOT_ALLOWED",
                &format!("method {other} is not served"),
            ));
        }
    };
    let (parts, body) = req.into_parts();
    let target = parts
        .uri
        .path_and_query()
        .map_or("/", |pq| pq.as_str())
        .to_owned();
    let mut request = HttpRequest::new(method, target);
    for (name, value) in &parts.headers {
        if let Ok(v) = value.to_str() {
            request.headers.append(name.as_str(), v);
        }
    }
    let bytes = match Limited::new(body, shared.max_body_bytes).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => {
            return Err(error(
                413,
                "PAYLOAD_TOO_LARGE",
                &format!(
                    "request body is larger than {} bytes",
                    shared.max_body_bytes
                ),
            ));
        }
        Err(_) => return Err(error(400, "BAD_REQUEST", "request body could not be read")),
    };
    if !bytes.is_empty() {
        request.body = Some(bytes.to_vec());
    }
    Ok(request)
}

/// An error in the API's shape `{"code", "reason", "message"}`.
fn error(status: u16, reason: &str, message: &str) -> Response<WireBody> {
    wire::json(
        status,
        &json!({ "code": status, "reason": reason, "message": message }),
    )
}

/// The `/_sim/...` paths (`rest` is the path after `/_sim/`).
fn control(shared: &Shared, rest: &str, is_read: bool) -> Response<WireBody> {
    if !is_read {
        return error(
            405,
            "METHOD_NOT_ALLOWED",
            "/_sim/ paths answer GET and HEAD only",
        );
    }
    let segments: Vec<&str> = rest.trim_end_matches('/').split('/').collect();
    match segments.as_slice() {
        ["health"] => wire::json(200, &json!({ "status": "ok" })),
        ["stats"] => {
            let stats = shared.with_sim(|sim| sim.stats());
            wire::json(200, &serde_json::to_value(stats).unwrap_or_default())
        }
        ["instances", id, "ports", port, ..] => match port.parse::<u16>() {
            Ok(port) => probe(shared, id, port),
            Err(_) => error(404, "NOT_FOUND", "port must be a number 0-65535"),
        },
        _ => error(404, "NOT_FOUND", "no such /_sim/ path"),
    }
}

/// An instance's port endpoint, answered from [`Simulator::probe_endpoint`].
fn probe(shared: &Shared, id: &str, port: u16) -> Response<WireBody> {
    let now = shared.sim_now();
    let found = lock(&shared.sim).probe_endpoint(id, port, now);
    let (status, state) = match found {
        EndpointProbe::Ready => (200, "ready"),
        EndpointProbe::WarmingUp => (503, "warming_up"),
        EndpointProbe::Down => (502, "down"),
        EndpointProbe::Unknown => (404, "unknown"),
    };
    wire::json(
        status,
        &json!({ "status": state, "instanceId": id, "port": port }),
    )
}
