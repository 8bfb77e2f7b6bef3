//! Instances and their lifecycles over virtual time.
//!
//! An operation (create, start, stop, restart, delete, migrate) draws all its
//! phase durations from the lifecycle [`Rng`] when it begins and lays them out
//! as a queue of [`Step`]s, each a status and the instant it begins. Moving
//! time forward ([`Instance::advance`]) pops the steps whose instant has come.
//! So how often a client polls never changes what it sees at a given time.
//!
//! | operation | allowed from | path |
//! |---|---|---|
//! | create | – | toCreate → creating → pulling → running |
//! | stop | running | toStop → stopping → exited |
//! | start | exited | toStart → starting → running |
//! | restart | running | toRestart → restarting → running |
//! | delete | anything but toRemove/removing/removed | toRemove → removing → removed (then gone: 404) |
//! | migrate | exited | migrating → exited |
//!
//! A start-up (create, start, restart) may fail with the configured
//! probability, or always when the image URL contains `sim-fail`: the
//! instance then ends `exited` with `statusError {state, message}` set; a
//! later start clears it.

use alloc::collections::VecDeque;
use alloc::string::String;
use alloc::vec::Vec;
use serde::{Deserialize, Serialize};

use super::faults::DurationRange;
use crate::rng::Rng;
use crate::time::{Duration, Instant};

/// Every instance status the API documents.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[allow(missing_docs)]
pub enum Status {
    ToCreate,
    Creating,
    Pulling,
    Running,
    ToStart,
    Starting,
    ToStop,
    Stopping,
    Exited,
    ToRestart,
    Restarting,
    ToRemove,
    Removing,
    Removed,
    ToReset,
    Resetting,
    Migrating,
    Freezing,
}

const ALL: [Status; 18] = [
    Status::ToCreate,
    Status::Creating,
    Status::Pulling,
    Status::Running,
    Status::ToStart,
    Status::Starting,
    Status::ToStop,
    Status::Stopping,
    Status::Exited,
    Status::ToRestart,
    Status::Restarting,
    Status::ToRemove,
    Status::Removing,
    Status::Removed,
    Status::ToReset,
    Status::Resetting,
    Status::Migrating,
    Status::Freezing,
];

impl Status {
    /// The status as it appears on the wire (`"toCreate"`, `"running"`, ...).
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Status::ToCreate => "toCreate",
            Status::Creating => "creating",
            Status::Pulling => "pulling",
            Status::Running => "running",
            Status::ToStart => "toStart",
            Status::Starting => "starting",
            Status::ToStop => "toStop",
            Status::Stopping => "stopping",
            Status::Exited => "exited",
            Status::ToRestart => "toRestart",
            Status::Restarting => "restarting",
            Status::ToRemove => "toRemove",
            Status::Removing => "removing",
            Status::Removed => "removed",
            Status::ToReset => "toReset",
            Status::Resetting => "resetting",
            Status::Migrating => "migrating",
            Status::Freezing => "freezing",
        }
    }

    /// Parses a wire status (exact spelling).
    #[must_use]
    pub fn parse(s: &str) -> Option<Status> {
        ALL.iter().copied().find(|st| st.as_str() == s)
    }
}

/// How long each phase lasts (uniform draws from the lifecycle stream).
///
/// # Default
/// queued states (toCreate, toStart, toStop, toRestart, toRemove) 1–3 s;
/// creating 5–20 s; pulling 20–120 s; starting 5–30 s; stopping 3–15 s;
/// restarting 5–30 s; removing 3–15 s; migrating 30–90 s; application warm-up
/// after `running` (until the port endpoints answer healthy) 0–20 s.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Timings {
    /// Queued states: `toCreate`, `toStart`, `toStop`, `toRestart`, `toRemove`.
    pub queued: DurationRange,
    /// `creating`.
    pub creating: DurationRange,
    /// `pulling` (the image pull).
    pub pulling: DurationRange,
    /// `starting`.
    pub starting: DurationRange,
    /// `stopping`.
    pub stopping: DurationRange,
    /// `restarting`.
    pub restarting: DurationRange,
    /// `removing`.
    pub removing: DurationRange,
    /// `migrating`.
    pub migrating: DurationRange,
    /// From `running` until the application behind the ports answers healthy.
    pub warmup: DurationRange,
}

impl Default for Timings {
    fn default() -> Timings {
        Timings {
            queued: DurationRange::secs(1, 3),
            creating: DurationRange::secs(5, 20),
            pulling: DurationRange::secs(20, 120),
            starting: DurationRange::secs(5, 30),
            stopping: DurationRange::secs(3, 15),
            restarting: DurationRange::secs(5, 30),
            removing: DurationRange::secs(3, 15),
            migrating: DurationRange::secs(30, 90),
            warmup: DurationRange::secs(0, 20),
        }
    }
}

impl Timings {
    /// Every range with its name, for validation.
    pub(crate) fn named(&self) -> [(&'static str, DurationRange); 9] {
        [
            ("timings.queued", self.queued),
            ("timings.creating", self.creating),
            ("timings.pulling", self.pulling),
            ("timings.starting", self.starting),
            ("timings.stopping", self.stopping),
            ("timings.restarting", self.restarting),
            ("timings.removing", self.removing),
            ("timings.migrating", self.migrating),
            ("timings.warmup", self.warmup),
        ]
    }
}

/// A lifecycle operation on an existing instance.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Operation {
    Start,
    Stop,
    Restart,
    Delete,
    Migrate,
}

impl Operation {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Operation::Start => "start",
            Operation::Stop => "stop",
            Operation::Restart => "restart",
            Operation::Delete => "delete",
            Operation::Migrate => "migrate",
        }
    }

    fn allowed_from(self, s: Status) -> bool {
        match self {
            Operation::Start | Operation::Migrate => s == Status::Exited,
            Operation::Stop | Operation::Restart => s == Status::Running,
            Operation::Delete => {
                !matches!(s, Status::ToRemove | Status::Removing | Status::Removed)
            }
        }
    }

    fn needs(self) -> &'static str {
        match self {
            Operation::Start => "exited",
            Operation::Migrate => "exited",
            Operation::Stop | Operation::Restart => "running",
            Operation::Delete => "not already being removed",
        }
    }
}

/// `statusError` of an instance.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct StatusError {
    pub state: String,
    pub message: String,
}

/// One future status change.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Step {
    pub status: Status,
    pub at: Instant,
    pub error: Option<StatusError>,
}

/// A port the instance exposes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Port {
    pub port: u16,
    pub kind: String,
}

/// One simulated instance.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct Instance {
    pub id: String,
    pub name: String,
    pub product_id: String,
    pub product_name: String,
    pub cluster_id: String,
    pub cluster_name: String,
    pub kind: String,
    pub billing_mode: String,
    pub gpu_num: u32,
    pub cpu_num: u32,
    pub memory_gb: u32,
    pub rootfs_size: u32,
    pub image_url: String,
    pub image_auth_id: String,
    pub command: String,
    pub entrypoint: String,
    pub envs: Vec<(String, String)>,
    pub ports: Vec<Port>,
    pub network_storages: Vec<(String, String)>,
    pub ssh_port: u16,
    pub ssh_password: String,
    pub created_at: Instant,
    pub last_started_at: Option<Instant>,
    pub last_stopped_at: Option<Instant>,
    pub status: Status,
    pub status_error: Option<StatusError>,
    pub steps: VecDeque<Step>,
    /// When the application behind the ports answers healthy (set on reaching
    /// `running`).
    pub healthy_at: Option<Instant>,
    /// Warm-up to apply when the pending steps reach `running`.
    pub pending_warmup: Duration,
}

/// What a start-up phase needs from the outside.
pub(crate) struct Draws<'a> {
    pub rng: &'a mut Rng,
    pub timings: &'a Timings,
    pub failure_probability: f64,
}

const PULL_ERRORS: [&str; 3] = [
    "pull image failed: manifest unknown",
    "pull image failed: unauthorized: authentication required",
    "container exited with code 1 during startup",
];

impl Draws<'_> {
    /// Lays out `queued → middle... → running` (or `→ exited` with an error)
    /// starting at `now`. Draws a fixed number of values whatever the outcome.
    fn startup(
        &mut self,
        now: Instant,
        queued: Status,
        middle: &[(Status, DurationRange)],
        force_fail: bool,
    ) -> (Status, VecDeque<Step>, Duration) {
        let mut at = now.saturating_add(self.timings.queued.draw(self.rng));
        let mut steps = VecDeque::new();
        for (status, range) in middle {
            steps.push_back(Step {
                status: *status,
                at,
                error: None,
            });
            at = at.saturating_add(range.draw(self.rng));
        }
        let fails = self.rng.chance(self.failure_probability) | force_fail;
        let which = (self.rng.next_u64() % PULL_ERRORS.len() as u64) as usize;
        let warmup = self.timings.warmup.draw(self.rng);
        if fails {
            let state = middle.last().map_or(queued, |(s, _)| *s);
            steps.push_back(Step {
                status: Status::Exited,
                at,
                error: Some(StatusError {
                    state: String::from(state.as_str()),
                    message: String::from(
                        PULL_ERRORS.get(which).copied().unwrap_or("startup failed"),
                    ),
                }),
            });
        } else {
            steps.push_back(Step {
                status: Status::Running,
                at,
                error: None,
            });
        }
        (queued, steps, warmup)
    }

    /// The plan of a new instance.
    pub(crate) fn create(
        &mut self,
        now: Instant,
        image_url: &str,
    ) -> (Status, VecDeque<Step>, Duration) {
        let t = *self.timings;
        self.startup(
            now,
            Status::ToCreate,
            &[(Status::Creating, t.creating), (Status::Pulling, t.pulling)],
            image_url.contains("sim-fail"),
        )
    }
}

impl Instance {
    /// Applies every step whose time has come. Returns `true` once the
    /// instance has reached `removed` (the caller drops it).
    pub(crate) fn advance(&mut self, now: Instant) -> bool {
        while self.steps.front().is_some_and(|s| s.at <= now) {
            let Some(step) = self.steps.pop_front() else {
                break;
            };
            self.status = step.status;
            match step.status {
                Status::Running => {
                    self.last_started_at = Some(step.at);
                    self.healthy_at = Some(step.at.saturating_add(self.pending_warmup));
                }
                Status::Exited => {
                    self.last_stopped_at = Some(step.at);
                    self.healthy_at = None;
                }
                _ => self.healthy_at = None,
            }
            if step.error.is_some() {
                self.status_error = step.error;
            }
        }
        self.status == Status::Removed
    }

    /// The earliest pending status change, if any.
    pub(crate) fn next_change(&self) -> Option<Instant> {
        self.steps.front().map(|s| s.at)
    }

    /// Begins `op` at `now`, or explains why the state does not allow it.
    pub(crate) fn begin(
        &mut self,
        op: Operation,
        now: Instant,
        d: &mut Draws<'_>,
    ) -> Result<(), String> {
        if !op.allowed_from(self.status) {
            return Err(alloc::format!(
                "invalid state change: cannot {} instance {} while it is {} (it must be {})",
                op.name(),
                self.id,
                self.status.as_str(),
                op.needs()
            ));
        }
        let t = *d.timings;
        let (first, steps, warmup) = match op {
            Operation::Start => d.startup(
                now,
                Status::ToStart,
                &[(Status::Starting, t.starting)],
                self.image_url.contains("sim-fail"),
            ),
            Operation::Restart => d.startup(
                now,
                Status::ToRestart,
                &[(Status::Restarting, t.restarting)],
                self.image_url.contains("sim-fail"),
            ),
            Operation::Stop => (
                Status::ToStop,
                shutdown(now, d, Status::Stopping, t.stopping, Status::Exited),
                Duration::ZERO,
            ),
            Operation::Delete => (
                Status::ToRemove,
                shutdown(now, d, Status::Removing, t.removing, Status::Removed),
                Duration::ZERO,
            ),
            Operation::Migrate => {
                let at = now.saturating_add(t.migrating.draw(d.rng));
                let mut steps = VecDeque::new();
                steps.push_back(Step {
                    status: Status::Exited,
                    at,
                    error: None,
                });
                (Status::Migrating, steps, Duration::ZERO)
            }
        };
        if matches!(op, Operation::Start | Operation::Restart) {
            self.status_error = None;
        }
        self.status = first;
        self.steps = steps;
        self.pending_warmup = warmup;
        self.healthy_at = None;
        Ok(())
    }
}

fn shutdown(
    now: Instant,
    d: &mut Draws<'_>,
    middle: Status,
    range: DurationRange,
    last: Status,
) -> VecDeque<Step> {
    let at = now.saturating_add(d.timings.queued.draw(d.rng));
    let end = at.saturating_add(range.draw(d.rng));
    let mut steps = VecDeque::new();
    steps.push_back(Step {
        status: middle,
        at,
        error: None,
    });
    steps.push_back(Step {
        status: last,
        at: end,
        error: None,
    });
    steps
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_status_round_trips() {
        for s in ALL {
            assert_eq!(Status::parse(s.as_str()), Some(s));
        }
        assert_eq!(Status::parse("failed"), None);
    }

    #[test]
    fn startup_steps_are_ordered_and_bounded() {
        let timings = Timings::default();
        let mut rng = Rng::new(3);
        let mut d = Draws {
            rng: &mut rng,
            timings: &timings,
            failure_probability: 0.0,
        };
        let now = Instant::from_millis(1000);
        let (first, steps, _) = d.create(now, "nginx");
        assert_eq!(first, Status::ToCreate);
        let statuses: Vec<Status> = steps.iter().map(|s| s.status).collect();
        assert_eq!(
            statuses,
            [Status::Creating, Status::Pulling, Status::Running]
        );
        let ats: Vec<Instant> = steps.iter().map(|s| s.at).collect();
        assert!(ats.windows(2).all(|w| w[0] <= w[1]));
        let total = ats[2] - now;
        assert!(
            total >= Duration::from_secs(26) && total <= Duration::from_secs(143),
            "{total}"
        );
        let (_, steps, _) = d.create(now, "registry/sim-fail:latest");
        let last = steps.back().unwrap();
        assert_eq!(last.status, Status::Exited);
        assert_eq!(last.error.as_ref().unwrap().state, "pulling");
    }
}
