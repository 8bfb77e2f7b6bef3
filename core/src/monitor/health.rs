//! The health phase: probing each HTTP endpoint of a running instance until
//! all of them answer 2xx/3xx.
//!
//! One probe per endpoint is in flight at a time; endpoints are probed side by
//! side. A failed probe is retried after the configured backoff (jittered from
//! the monitor's [`Rng`]); after `tries_per_round` failures in a row the
//! endpoint rests for `round_interval` and starts a fresh round. A healthy
//! endpoint is not probed again. The cap (`max_duration`) is enforced by the
//! monitor.

use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;
use serde::{Deserialize, Serialize};

use super::config::HealthConfig;
use crate::api::instances::Instance;
use crate::retry::TransportErrorKind;
use crate::rng::Rng;
use crate::time::{Duration, Instant, UnixTime};
use crate::webhook::payload::{
    EndpointHealth, EndpointStatus, HealthCheck, HealthCheckStatus, OverallHealth,
};

/// Extra time the monitor allows past a probe's timeout before it counts an
/// unanswered probe as timed out itself (the adapter's own timeout normally
/// reports first, with its own error).
pub const PROBE_GRACE: Duration = Duration::from_secs(1);

/// Identifies one probe; a result for a probe the monitor no longer waits for
/// is ignored.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ProbeId(pub u64);

/// "Probe this endpoint": send `GET url` with the given timeout, following no
/// redirects, and report the answer with [`super::Monitor::on_probe_result`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProbeRequest {
    /// Quote this in the result.
    pub id: ProbeId,
    /// The instance port behind the endpoint.
    pub port: u16,
    /// The URL to `GET`.
    pub url: String,
    /// Give up on an answer after this long (report
    /// [`TransportErrorKind::Timeout`]).
    pub timeout: Duration,
    /// Always `false`: a 3xx is itself the (healthy) answer.
    pub follow_redirects: bool,
}

/// What a probe got.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ProbeOutcome {
    /// An HTTP status arrived (2xx and 3xx are healthy).
    Status(u16),
    /// No status: refused, reset, timed out, ...
    Transport(TransportErrorKind),
}

/// A probe's answer and how long it took.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProbeResult {
    /// What came back.
    pub outcome: ProbeOutcome,
    /// How long the probe took.
    pub response_time: Duration,
}

impl ProbeResult {
    /// An HTTP answer with `status`.
    #[must_use]
    pub const fn status(status: u16, response_time: Duration) -> ProbeResult {
        ProbeResult {
            outcome: ProbeOutcome::Status(status),
            response_time,
        }
    }

    /// No answer: `kind`.
    #[must_use]
    pub const fn transport(kind: TransportErrorKind, response_time: Duration) -> ProbeResult {
        ProbeResult {
            outcome: ProbeOutcome::Transport(kind),
            response_time,
        }
    }

    /// `true` for a 2xx or 3xx status.
    #[must_use]
    pub const fn is_healthy(&self) -> bool {
        matches!(self.outcome, ProbeOutcome::Status(200..=399))
    }
}

impl fmt::Display for ProbeOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProbeOutcome::Status(s) => write!(f, "HTTP {s}"),
            ProbeOutcome::Transport(k) => write!(f, "{}", k.as_str()),
        }
    }
}

/// The HTTP endpoints of `instance` worth probing: port mappings with an
/// endpoint whose type is not `tcp` (a missing type counts as `http`). An
/// endpoint without a scheme gets `http://`.
pub(crate) fn probe_targets(instance: &Instance) -> Vec<EndpointState> {
    instance
        .port_mappings
        .iter()
        .filter(|p| {
            !p.kind
                .as_deref()
                .is_some_and(|k| k.trim().eq_ignore_ascii_case("tcp"))
        })
        .filter_map(|p| {
            let ep = p
                .endpoint
                .as_deref()
                .map(str::trim)
                .filter(|e| !e.is_empty())?;
            let url = if ep.contains("://") {
                ep.to_string()
            } else {
                alloc::format!("http://{ep}")
            };
            Some(EndpointState {
                port: p
                    .port
                    .and_then(|n| u16::try_from(n).ok())
                    .unwrap_or_default(),
                url,
                kind: p.kind.clone().unwrap_or_else(|| "http".to_string()),
                healthy: false,
                tries_in_round: 0,
                previous_delay: None,
                in_flight: None,
                handed_out: false,
                next_probe_at: None,
                last_checked: None,
                last_error: None,
                response_time: None,
                probes: 0,
            })
        })
        .collect()
}

/// One endpoint under health check.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct EndpointState {
    pub(crate) port: u16,
    pub(crate) url: String,
    kind: String,
    pub(crate) healthy: bool,
    tries_in_round: u32,
    previous_delay: Option<Duration>,
    /// The probe out and when the monitor stops waiting for it.
    in_flight: Option<(ProbeId, Instant)>,
    /// The probe out was handed to the caller (only then can its answer
    /// arrive).
    #[serde(default)]
    handed_out: bool,
    /// When to send the next probe (`None` while one is out or when healthy).
    next_probe_at: Option<Instant>,
    last_checked: Option<Instant>,
    pub(crate) last_error: Option<String>,
    response_time: Option<Duration>,
    probes: u32,
}

/// The health phase of one monitor.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct HealthRun {
    pub(crate) endpoints: Vec<EndpointState>,
    pub(crate) started: Instant,
    pub(crate) completed: Option<Instant>,
    next_id: u64,
}

impl HealthRun {
    /// Starts probing every endpoint at `now`.
    pub(crate) fn new(mut endpoints: Vec<EndpointState>, now: Instant) -> HealthRun {
        for e in &mut endpoints {
            e.next_probe_at = Some(now);
        }
        HealthRun {
            endpoints,
            started: now,
            completed: None,
            next_id: 0,
        }
    }

    /// `true` while probe `id` is out, handed to the caller and awaited.
    pub(crate) fn is_waiting(&self, id: ProbeId) -> bool {
        self.endpoints
            .iter()
            .any(|e| e.handed_out && e.in_flight.is_some_and(|(p, _)| p == id))
    }

    /// Probe `id` was handed to the caller.
    pub(crate) fn hand_out(&mut self, id: ProbeId) {
        if let Some(e) = self
            .endpoints
            .iter_mut()
            .find(|e| e.in_flight.is_some_and(|(p, _)| p == id))
        {
            e.handed_out = true;
        }
    }

    pub(crate) fn all_healthy(&self) -> bool {
        self.endpoints.iter().all(|e| e.healthy)
    }

    /// The earliest probe to send or give up on.
    pub(crate) fn next_wake(&self) -> Option<Instant> {
        self.endpoints
            .iter()
            .filter_map(|e| e.in_flight.map(|(_, d)| d).or(e.next_probe_at))
            .min()
    }

    /// Gives up on overdue probes and sends due ones (through `send`).
    pub(crate) fn advance(
        &mut self,
        now: Instant,
        cfg: &HealthConfig,
        rng: &mut Rng,
        send: &mut dyn FnMut(ProbeRequest),
    ) {
        for i in 0..self.endpoints.len() {
            let overdue = self
                .endpoints
                .get(i)
                .and_then(|e| e.in_flight)
                .filter(|(_, d)| *d <= now);
            if let Some((id, _)) = overdue {
                let r = ProbeResult::transport(TransportErrorKind::Timeout, cfg.probe_timeout);
                self.record(id, r, now, cfg, rng);
            }
            let Some(e) = self.endpoints.get_mut(i) else {
                continue;
            };
            if e.healthy || e.in_flight.is_some() || e.next_probe_at.is_none_or(|t| t > now) {
                continue;
            }
            let id = ProbeId(self.next_id);
            self.next_id = self.next_id.saturating_add(1);
            let until = now.saturating_add(cfg.probe_timeout.saturating_add(PROBE_GRACE));
            e.in_flight = Some((id, until));
            e.handed_out = false;
            e.next_probe_at = None;
            e.probes = e.probes.saturating_add(1);
            send(ProbeRequest {
                id,
                port: e.port,
                url: e.url.clone(),
                timeout: cfg.probe_timeout,
                follow_redirects: false,
            });
        }
    }

    /// Records a probe's result; `false` if no endpoint waits for `id`.
    pub(crate) fn record(
        &mut self,
        id: ProbeId,
        result: ProbeResult,
        now: Instant,
        cfg: &HealthConfig,
        rng: &mut Rng,
    ) -> bool {
        let Some(e) = self
            .endpoints
            .iter_mut()
            .find(|e| e.in_flight.is_some_and(|(p, _)| p == id))
        else {
            return false;
        };
        e.in_flight = None;
        e.last_checked = Some(now);
        e.response_time = Some(result.response_time);
        if result.is_healthy() {
            e.healthy = true;
            e.last_error = None;
            return true;
        }
        e.last_error = Some(match result.outcome {
            ProbeOutcome::Status(s) => alloc::format!("HTTP {s}"),
            ProbeOutcome::Transport(k) => k.to_string(),
        });
        e.tries_in_round = e.tries_in_round.saturating_add(1);
        let wait = if e.tries_in_round >= cfg.tries_per_round {
            e.tries_in_round = 0;
            e.previous_delay = None;
            cfg.round_interval
        } else {
            let d = cfg
                .backoff
                .next_delay(cfg.jitter, e.tries_in_round, e.previous_delay, rng);
            e.previous_delay = Some(d);
            d
        };
        e.next_probe_at = Some(now.saturating_add(wait));
        true
    }

    /// The run as a `healthCheck` payload; times are `start_unix` plus the
    /// time since `start`.
    pub(crate) fn payload(
        &self,
        status: HealthCheckStatus,
        start: Instant,
        start_unix: UnixTime,
    ) -> HealthCheck {
        let wall = |at: Instant| {
            start_unix
                .saturating_add(at.saturating_duration_since(start))
                .to_iso8601()
        };
        let endpoints: Vec<EndpointHealth> = self
            .endpoints
            .iter()
            .map(|e| EndpointHealth {
                port: e.port,
                endpoint: e.url.clone(),
                kind: e.kind.clone(),
                status: if e.healthy {
                    EndpointStatus::Healthy
                } else if e.probes == 0 || (e.in_flight.is_some() && e.last_checked.is_none()) {
                    EndpointStatus::Pending
                } else {
                    EndpointStatus::Unhealthy
                },
                last_checked: e.last_checked.map(wall),
                error: e.last_error.clone(),
                response_time: e.response_time.map(Duration::as_millis),
            })
            .collect();
        let healthy = self.endpoints.iter().filter(|e| e.healthy).count();
        let overall = if healthy == self.endpoints.len() {
            OverallHealth::Healthy
        } else if healthy == 0 {
            OverallHealth::Unhealthy
        } else {
            OverallHealth::Partial
        };
        let total: u64 = self
            .endpoints
            .iter()
            .filter_map(|e| e.response_time)
            .fold(0, |a, d| a.saturating_add(d.as_millis()));
        HealthCheck {
            status,
            overall_status: overall,
            endpoints,
            started_at: wall(self.started),
            completed_at: self.completed.map(wall),
            total_response_time: self
                .endpoints
                .iter()
                .any(|e| e.response_time.is_some())
                .then_some(total),
        }
    }

    /// `port (url): last error` for each endpoint not healthy, joined.
    pub(crate) fn unhealthy_summary(&self) -> String {
        let mut s = String::new();
        for e in self.endpoints.iter().filter(|e| !e.healthy) {
            if !s.is_empty() {
                s.push_str("; ");
            }
            s.push_str(&alloc::format!(
                "port {} ({}): {}",
                e.port,
                e.url,
                e.last_error.as_deref().unwrap_or("no answer yet")
            ));
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::instances::PortMapping;
    use alloc::vec;

    fn mapping(port: u64, kind: Option<&str>, endpoint: Option<&str>) -> PortMapping {
        PortMapping {
            port: Some(port),
            endpoint: endpoint.map(ToString::to_string),
            kind: kind.map(ToString::to_string),
        }
    }

    #[test]
    fn only_http_ports_with_an_endpoint_are_probed() {
        let inst = Instance {
            port_mappings: vec![
                mapping(8888, Some("http"), Some("https://a-8888.example")),
                mapping(22, Some("tcp"), Some("1.2.3.4:30022")),
                mapping(7860, Some("http"), None),
                mapping(8000, None, Some("5.6.7.8:8000")),
            ],
            ..Instance::default()
        };
        let t = probe_targets(&inst);
        let urls: Vec<_> = t.iter().map(|e| (e.port, e.url.as_str())).collect();
        assert_eq!(
            urls,
            vec![
                (8888, "https://a-8888.example"),
                (8000, "http://5.6.7.8:8000")
            ]
        );
    }

    #[test]
    fn two_xx_and_three_xx_are_healthy_everything_else_is_not() {
        let d = Duration::ZERO;
        assert!(ProbeResult::status(200, d).is_healthy());
        assert!(ProbeResult::status(302, d).is_healthy());
        assert!(ProbeResult::status(399, d).is_healthy());
        assert!(!ProbeResult::status(404, d).is_healthy());
        assert!(!ProbeResult::status(503, d).is_healthy());
        assert!(!ProbeResult::status(101, d).is_healthy());
        assert!(!ProbeResult::transport(TransportErrorKind::Timeout, d).is_healthy());
    }
}
