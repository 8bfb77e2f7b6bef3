//! The Node client's notification payloads, field for field.
//!
//! JSON field names are the Node client's (camelCase); optional fields are
//! left out when `None`, so an existing receiver sees the same JSON it saw
//! from the Node client. Timestamps are ISO 8601 strings
//! (`2024-01-02T03:04:05Z`) made from a [`UnixTime`] the caller passes in;
//! durations (`elapsedTime`, `responseTime`, ...) are milliseconds.

use crate::time::{Duration, UnixTime};
use alloc::string::String;
use alloc::vec::Vec;
use serde::{Deserialize, Serialize};

/// The `status` of a notification.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NotificationStatus {
    /// The instance is running (the Node client's success notification).
    Running,
    /// Creating, starting or health-checking the instance failed.
    Failed,
    /// The instance did not become ready in time.
    Timeout,
    /// Running and every health-checked endpoint answered.
    Ready,
    /// Running; health checks of its endpoints are under way.
    HealthChecking,
    /// A start of a stopped instance was requested.
    StartupInitiated,
    /// A start finished: the instance is ready.
    StartupCompleted,
    /// A start failed.
    StartupFailed,
    /// The instance was stopped.
    Stopped,
    /// The instance was deleted.
    Deleted,
}

/// The overall state of a health check run (`healthCheck.status`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HealthCheckStatus {
    /// Not started yet.
    Pending,
    /// Endpoints are being probed.
    InProgress,
    /// Every endpoint was probed.
    Completed,
    /// The run gave up.
    Failed,
}

/// The verdict over all endpoints (`healthCheck.overallStatus`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OverallHealth {
    /// Every endpoint is healthy.
    Healthy,
    /// No endpoint is healthy.
    Unhealthy,
    /// Some endpoints are healthy, some not.
    Partial,
}

/// The state of one probed endpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EndpointStatus {
    /// Not probed yet.
    Pending,
    /// Answered with 2xx or 3xx.
    Healthy,
    /// Failed or answered with an error.
    Unhealthy,
}

/// One probed endpoint (`healthCheck.endpoints[]`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EndpointHealth {
    /// The instance port.
    pub port: u16,
    /// The URL probed.
    pub endpoint: String,
    /// The port's type as Novita reports it (`http`, `tcp`, ...).
    #[serde(rename = "type")]
    pub kind: String,
    /// Its state.
    pub status: EndpointStatus,
    /// When it was last probed (ISO 8601).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub last_checked: Option<String>,
    /// The last error, if any.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub error: Option<String>,
    /// The last response time in milliseconds.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub response_time: Option<u64>,
}

/// A health check run (`healthCheck`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HealthCheck {
    /// The run's state.
    pub status: HealthCheckStatus,
    /// The verdict over all endpoints.
    pub overall_status: OverallHealth,
    /// Each endpoint.
    pub endpoints: Vec<EndpointHealth>,
    /// When the run started (ISO 8601).
    pub started_at: String,
    /// When the run finished (ISO 8601).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub completed_at: Option<String>,
    /// Sum of response times in milliseconds.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub total_response_time: Option<u64>,
}

/// The state of a start operation (`startupOperation.status`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StartupStatus {
    /// The start was requested.
    Initiated,
    /// Waiting for the instance to run.
    Monitoring,
    /// Running; health checks under way.
    HealthChecking,
    /// Ready.
    Completed,
    /// Gave up.
    Failed,
}

/// When each phase of a start was reached (ISO 8601; absent = not yet).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StartupPhases {
    /// The start request was sent.
    pub start_requested: String,
    /// Novita reported the instance starting.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub instance_starting: Option<String>,
    /// Novita reported the instance running.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub instance_running: Option<String>,
    /// Health checks started.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub health_check_started: Option<String>,
    /// Health checks finished.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub health_check_completed: Option<String>,
    /// The instance was ready.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub ready: Option<String>,
}

/// A start operation (`startupOperation`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StartupOperation {
    /// The operation's id.
    pub operation_id: String,
    /// Its state.
    pub status: StartupStatus,
    /// When it started (ISO 8601).
    pub started_at: String,
    /// When each phase was reached.
    pub phases: StartupPhases,
    /// Milliseconds from start to the last phase reached.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub total_elapsed_time: Option<u64>,
    /// Why it failed, if it did.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub error: Option<String>,
}

impl StartupOperation {
    /// A just-requested start: status `initiated`, `startedAt` and
    /// `phases.startRequested` set to `at`.
    #[must_use]
    pub fn initiated(operation_id: impl Into<String>, at: UnixTime) -> StartupOperation {
        let t = at.to_iso8601();
        StartupOperation {
            operation_id: operation_id.into(),
            status: StartupStatus::Initiated,
            started_at: t.clone(),
            phases: StartupPhases {
                start_requested: t,
                ..StartupPhases::default()
            },
            total_elapsed_time: None,
            error: None,
        }
    }
}

/// One webhook notification body.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Notification {
    /// Our instance id.
    pub instance_id: String,
    /// What happened.
    pub status: NotificationStatus,
    /// When (ISO 8601).
    pub timestamp: String,
    /// Novita's instance id, once known.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub novita_instance_id: Option<String>,
    /// Milliseconds since the operation began.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub elapsed_time: Option<u64>,
    /// What went wrong.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub error: Option<String>,
    /// Extra data (e.g. the instance details).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub data: Option<serde_json::Value>,
    /// The health check run.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub health_check: Option<HealthCheck>,
    /// The start operation.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub startup_operation: Option<StartupOperation>,
    /// Why (for stops and deletions).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub reason: Option<String>,
}

impl Notification {
    /// A bare notification; fill the rest with the `with_*` methods.
    #[must_use]
    pub fn new(
        instance_id: impl Into<String>,
        status: NotificationStatus,
        at: UnixTime,
    ) -> Notification {
        Notification {
            instance_id: instance_id.into(),
            status,
            timestamp: at.to_iso8601(),
            novita_instance_id: None,
            elapsed_time: None,
            error: None,
            data: None,
            health_check: None,
            startup_operation: None,
            reason: None,
        }
    }

    /// Sets `novitaInstanceId`.
    #[must_use]
    pub fn with_novita_instance_id(mut self, id: impl Into<String>) -> Notification {
        self.novita_instance_id = Some(id.into());
        self
    }

    /// Sets `elapsedTime` (milliseconds).
    #[must_use]
    pub fn with_elapsed(mut self, elapsed: Duration) -> Notification {
        self.elapsed_time = Some(elapsed.as_millis());
        self
    }

    /// Sets `error`.
    #[must_use]
    pub fn with_error(mut self, error: impl Into<String>) -> Notification {
        self.error = Some(error.into());
        self
    }

    /// Sets `data`.
    #[must_use]
    pub fn with_data(mut self, data: serde_json::Value) -> Notification {
        self.data = Some(data);
        self
    }

    /// Sets `healthCheck`.
    #[must_use]
    pub fn with_health_check(mut self, hc: HealthCheck) -> Notification {
        self.health_check = Some(hc);
        self
    }

    /// Sets `startupOperation`.
    #[must_use]
    pub fn with_startup_operation(mut self, op: StartupOperation) -> Notification {
        self.startup_operation = Some(op);
        self
    }

    /// Sets `reason`.
    #[must_use]
    pub fn with_reason(mut self, reason: impl Into<String>) -> Notification {
        self.reason = Some(reason.into());
        self
    }

    /// The Node client's success notification: status `running`.
    #[must_use]
    pub fn running(
        instance_id: impl Into<String>,
        novita_instance_id: impl Into<String>,
        elapsed: Duration,
        at: UnixTime,
    ) -> Notification {
        Notification::new(instance_id, NotificationStatus::Running, at)
            .with_novita_instance_id(novita_instance_id)
            .with_elapsed(elapsed)
    }

    /// The failure notification: status `failed` with `error`.
    #[must_use]
    pub fn failure(
        instance_id: impl Into<String>,
        error: impl Into<String>,
        at: UnixTime,
    ) -> Notification {
        Notification::new(instance_id, NotificationStatus::Failed, at).with_error(error)
    }

    /// The timeout notification: status `timeout`, with the time waited.
    #[must_use]
    pub fn timeout(
        instance_id: impl Into<String>,
        elapsed: Duration,
        error: impl Into<String>,
        at: UnixTime,
    ) -> Notification {
        Notification::new(instance_id, NotificationStatus::Timeout, at)
            .with_elapsed(elapsed)
            .with_error(error)
    }

    /// Health checks started: status `health_checking` with the run so far.
    #[must_use]
    pub fn health_check_started(
        instance_id: impl Into<String>,
        novita_instance_id: impl Into<String>,
        hc: HealthCheck,
        at: UnixTime,
    ) -> Notification {
        Notification::new(instance_id, NotificationStatus::HealthChecking, at)
            .with_novita_instance_id(novita_instance_id)
            .with_health_check(hc)
    }

    /// Every endpoint healthy: status `ready` with the completed run.
    #[must_use]
    pub fn ready(
        instance_id: impl Into<String>,
        novita_instance_id: impl Into<String>,
        hc: HealthCheck,
        elapsed: Duration,
        at: UnixTime,
    ) -> Notification {
        Notification::new(instance_id, NotificationStatus::Ready, at)
            .with_novita_instance_id(novita_instance_id)
            .with_health_check(hc)
            .with_elapsed(elapsed)
    }

    /// Health checks failed: status `failed` with `error` and the run.
    #[must_use]
    pub fn health_check_failed(
        instance_id: impl Into<String>,
        novita_instance_id: impl Into<String>,
        hc: HealthCheck,
        error: impl Into<String>,
        at: UnixTime,
    ) -> Notification {
        Notification::new(instance_id, NotificationStatus::Failed, at)
            .with_novita_instance_id(novita_instance_id)
            .with_health_check(hc)
            .with_error(error)
    }

    /// A start was requested: status `startup_initiated`.
    #[must_use]
    pub fn startup_initiated(
        instance_id: impl Into<String>,
        novita_instance_id: impl Into<String>,
        op: StartupOperation,
        at: UnixTime,
    ) -> Notification {
        Notification::new(instance_id, NotificationStatus::StartupInitiated, at)
            .with_novita_instance_id(novita_instance_id)
            .with_startup_operation(op)
    }

    /// Progress of a start (`status` is the instance's current state, e.g.
    /// `running` or `health_checking`), with the operation so far.
    #[must_use]
    pub fn startup_progress(
        instance_id: impl Into<String>,
        novita_instance_id: impl Into<String>,
        status: NotificationStatus,
        op: StartupOperation,
        elapsed: Duration,
        at: UnixTime,
    ) -> Notification {
        Notification::new(instance_id, status, at)
            .with_novita_instance_id(novita_instance_id)
            .with_startup_operation(op)
            .with_elapsed(elapsed)
    }

    /// A start finished: status `startup_completed`, with the health run if
    /// there was one.
    #[must_use]
    pub fn startup_completed(
        instance_id: impl Into<String>,
        novita_instance_id: impl Into<String>,
        op: StartupOperation,
        hc: Option<HealthCheck>,
        elapsed: Duration,
        at: UnixTime,
    ) -> Notification {
        let mut n = Notification::new(instance_id, NotificationStatus::StartupCompleted, at)
            .with_novita_instance_id(novita_instance_id)
            .with_startup_operation(op)
            .with_elapsed(elapsed);
        n.health_check = hc;
        n
    }

    /// A start failed: status `startup_failed` with `error`.
    #[must_use]
    pub fn startup_failed(
        instance_id: impl Into<String>,
        novita_instance_id: impl Into<String>,
        op: StartupOperation,
        error: impl Into<String>,
        elapsed: Duration,
        at: UnixTime,
    ) -> Notification {
        Notification::new(instance_id, NotificationStatus::StartupFailed, at)
            .with_novita_instance_id(novita_instance_id)
            .with_startup_operation(op)
            .with_error(error)
            .with_elapsed(elapsed)
    }

    /// The instance was stopped: status `stopped`, with an optional reason.
    #[must_use]
    pub fn stopped(
        instance_id: impl Into<String>,
        novita_instance_id: impl Into<String>,
        reason: Option<String>,
        at: UnixTime,
    ) -> Notification {
        let mut n = Notification::new(instance_id, NotificationStatus::Stopped, at)
            .with_novita_instance_id(novita_instance_id);
        n.reason = reason;
        n
    }

    /// The instance was deleted: status `deleted`, with an optional reason.
    #[must_use]
    pub fn deleted(
        instance_id: impl Into<String>,
        novita_instance_id: impl Into<String>,
        reason: Option<String>,
        at: UnixTime,
    ) -> Notification {
        let mut n = Notification::new(instance_id, NotificationStatus::Deleted, at)
            .with_novita_instance_id(novita_instance_id);
        n.reason = reason;
        n
    }

    /// The JSON body, as the bytes that get signed and sent.
    pub fn to_json(&self) -> Result<Vec<u8>, serde_json::Error> {
        serde_json::to_vec(self)
    }

    /// Parses a JSON body (for receivers).
    pub fn from_json(bytes: &[u8]) -> Result<Notification, serde_json::Error> {
        serde_json::from_slice(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;
    use alloc::vec;
    use serde_json::json;

    const T0: UnixTime = UnixTime::from_secs(1_700_000_000);

    fn json_of(n: &Notification) -> serde_json::Value {
        serde_json::from_slice(&n.to_json().unwrap()).unwrap()
    }

    #[test]
    fn success_notification_has_the_node_field_names_and_no_nulls() {
        let n = Notification::running("inst-1", "nov-9", Duration::from_millis(65_000), T0)
            .with_data(json!({"gpu": "RTX 4090"}));
        assert_eq!(
            json_of(&n),
            json!({
                "instanceId": "inst-1",
                "status": "running",
                "timestamp": "2023-11-14T22:13:20Z",
                "novitaInstanceId": "nov-9",
                "elapsedTime": 65000,
                "data": {"gpu": "RTX 4090"}
            })
        );
    }

    #[test]
    fn every_status_serialises_in_snake_case() {
        use NotificationStatus::*;
        let names = [
            (Running, "running"),
            (Failed, "failed"),
            (Timeout, "timeout"),
            (Ready, "ready"),
            (HealthChecking, "health_checking"),
            (StartupInitiated, "startup_initiated"),
            (StartupCompleted, "startup_completed"),
            (StartupFailed, "startup_failed"),
            (Stopped, "stopped"),
            (Deleted, "deleted"),
        ];
        for (s, name) in names {
            assert_eq!(serde_json::to_value(s).unwrap(), json!(name));
        }
    }

    #[test]
    fn health_check_and_startup_operation_nest_with_camel_case() {
        let hc = HealthCheck {
            status: HealthCheckStatus::Completed,
            overall_status: OverallHealth::Healthy,
            endpoints: vec![EndpointHealth {
                port: 8888,
                endpoint: "https://abc-8888.proxy.example/health".to_string(),
                kind: "http".to_string(),
                status: EndpointStatus::Healthy,
                last_checked: Some(T0.to_iso8601()),
                error: None,
                response_time: Some(42),
            }],
            started_at: T0.to_iso8601(),
            completed_at: Some(T0.to_iso8601()),
            total_response_time: Some(42),
        };
        let mut op = StartupOperation::initiated("op-1", T0);
        op.status = StartupStatus::Completed;
        op.phases.ready = Some(T0.to_iso8601());
        op.total_elapsed_time = Some(90_000);
        let n =
            Notification::startup_completed("i", "n", op, Some(hc), Duration::from_secs(90), T0);
        let v = json_of(&n);
        assert_eq!(v["status"], "startup_completed");
        assert_eq!(v["healthCheck"]["overallStatus"], "healthy");
        assert_eq!(v["healthCheck"]["endpoints"][0]["type"], "http");
        assert_eq!(v["healthCheck"]["endpoints"][0]["responseTime"], 42);
        assert_eq!(
            v["healthCheck"]["endpoints"][0]["lastChecked"],
            "2023-11-14T22:13:20Z"
        );
        assert!(v["healthCheck"]["endpoints"][0].get("error").is_none());
        assert_eq!(v["startupOperation"]["operationId"], "op-1");
        assert_eq!(v["startupOperation"]["status"], "completed");
        assert_eq!(
            v["startupOperation"]["phases"]["startRequested"],
            "2023-11-14T22:13:20Z"
        );
        assert!(
            v["startupOperation"]["phases"]
                .get("instanceRunning")
                .is_none()
        );
        assert_eq!(v["startupOperation"]["totalElapsedTime"], 90_000);
        // And back.
        assert_eq!(Notification::from_json(&n.to_json().unwrap()).unwrap(), n);
    }

    #[test]
    fn each_node_notification_has_its_status() {
        let hc = HealthCheck {
            status: HealthCheckStatus::InProgress,
            overall_status: OverallHealth::Partial,
            endpoints: vec![],
            started_at: T0.to_iso8601(),
            completed_at: None,
            total_response_time: None,
        };
        let op = StartupOperation::initiated("op", T0);
        let d = Duration::from_secs(1);
        use NotificationStatus as S;
        let cases = [
            (Notification::failure("i", "boom", T0), S::Failed),
            (Notification::timeout("i", d, "waited 20m", T0), S::Timeout),
            (
                Notification::health_check_started("i", "n", hc.clone(), T0),
                S::HealthChecking,
            ),
            (Notification::ready("i", "n", hc.clone(), d, T0), S::Ready),
            (
                Notification::health_check_failed("i", "n", hc, "port 80 down", T0),
                S::Failed,
            ),
            (
                Notification::startup_initiated("i", "n", op.clone(), T0),
                S::StartupInitiated,
            ),
            (
                Notification::startup_progress("i", "n", S::Running, op.clone(), d, T0),
                S::Running,
            ),
            (
                Notification::startup_failed("i", "n", op, "no capacity", d, T0),
                S::StartupFailed,
            ),
            (
                Notification::stopped("i", "n", Some("user request".to_string()), T0),
                S::Stopped,
            ),
            (Notification::deleted("i", "n", None, T0), S::Deleted),
        ];
        for (n, s) in cases {
            assert_eq!(n.status, s);
            assert_eq!(Notification::from_json(&n.to_json().unwrap()).unwrap(), n);
        }
        let v = json_of(&Notification::stopped(
            "i",
            "n",
            Some("user request".to_string()),
            T0,
        ));
        assert_eq!(v["reason"], "user request");
        assert!(
            json_of(&Notification::deleted("i", "n", None, T0))
                .get("reason")
                .is_none()
        );
    }
}
