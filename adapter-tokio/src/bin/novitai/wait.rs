//! Waiting for an instance to become ready, with live progress: what
//! `instances create --wait`, `instances start|restart --wait`,
//! `instances watch` and the networked demo share.
//!
//! Every decision (when to read the instance, what to probe, when to give
//! up) is the core's start-up monitor, run by the library's
//! [`Novita::create_and_wait`], [`Novita::start_and_wait`] and
//! [`Novita::wait_until_ready`]; this module only shows its [`Progress`]
//! events — a spinner with phase, elapsed time, polls, retries and breaker
//! state plus a line per change, or with `--json` one JSON object per line —
//! and turns the outcome into an exit code and a message that says what to
//! do next.

use std::time::{Duration as StdDuration, Instant as WallClock};

use indicatif::{ProgressBar, ProgressStyle};
use novitai_tokio::Novita;
use novitai_tokio::core::Duration;
use novitai_tokio::core::api::instances::Instance;
use novitai_tokio::core::monitor::{FailReason, MonitorConfig, Outcome, Phase, ProbeOutcome};
use novitai_tokio::core::webhook::NotificationStatus;
use novitai_tokio::lifecycle::{
    Progress, ProgressEvent, TIME_SCALE_RANGE, WaitError, WaitOptions, WaitOutcome, Waiting,
};
use serde_json::{Value, json};

use crate::events;
use crate::exit::CliError;

/// How long and how often to poll (flags shared by every waiting command).
#[derive(clap::Args, Debug, Clone, Default)]
pub struct WaitArgs {
    /// Seconds between reads of the instance, 10–300 (default:
    /// INSTANCE_POLL_INTERVAL); the first few reads come every 5 s.
    #[arg(long, value_name = "SECS")]
    pub interval: Option<f64>,
    /// Give up after this many seconds; exit code 4 (default: 20 min after a
    /// create, STARTUP_MAX_WAIT after a start).
    #[arg(long, value_name = "SECS")]
    pub timeout: Option<f64>,
    /// For `novitai sim serve --time-scale N`: run the wait's clock N times
    /// faster (1–1000), so its intervals and timeouts are in the simulator's
    /// time.
    #[arg(long, value_name = "N")]
    pub time_scale: Option<f64>,
}

/// Which operation is waited for: decides which timeout `--timeout` sets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// After a create: `create_timeout`.
    Create,
    /// After a start: `start_timeout`.
    Start,
    /// Watching: both (the monitor picks the one of the operation it sees).
    Watch,
}

impl WaitArgs {
    /// The monitor settings: the client's configuration with the flags
    /// applied.
    pub fn monitor(&self, novita: &Novita, op: Op) -> Result<MonitorConfig, CliError> {
        let bad =
            |flag: &str, e: &dyn std::fmt::Display| CliError::Config(format!("  - {flag}: {e}"));
        let mut c = MonitorConfig::from_config(novita.config())
            .map_err(|e| bad("INSTANCE_POLL_INTERVAL / STARTUP_MAX_WAIT", &e))?;
        if let Some(s) = self.interval {
            let d = secs("--interval", s)?;
            c.poll_interval = d;
            c.fast_poll_interval = MonitorConfig::default().fast_poll_interval.min(d);
        }
        if let Some(s) = self.timeout {
            let d = secs("--timeout", s)?;
            match op {
                Op::Create => c.create_timeout = d,
                Op::Start => c.start_timeout = d,
                Op::Watch => {
                    c.create_timeout = d;
                    c.start_timeout = d;
                }
            }
        }
        let flag = match (self.interval.is_some(), self.timeout.is_some()) {
            (true, true) => "--interval / --timeout",
            (true, false) => "--interval",
            (false, true) => "--timeout",
            (false, false) => "INSTANCE_POLL_INTERVAL / STARTUP_MAX_WAIT",
        };
        c.validate().map_err(|e| bad(flag, &e))?;
        Ok(c)
    }

    /// The [`WaitOptions`] for `op`.
    pub fn options(&self, novita: &Novita, op: Op) -> Result<WaitOptions, CliError> {
        let mut o = WaitOptions::default().monitor(self.monitor(novita, op)?);
        if let Some(x) = self.time_scale {
            if !TIME_SCALE_RANGE.contains(&x) {
                return Err(CliError::Config(format!(
                    "  - --time-scale {x}: give a number from {} to {} (the simulator's --time-scale)",
                    TIME_SCALE_RANGE.start(),
                    TIME_SCALE_RANGE.end()
                )));
            }
            o = o.time_scale(x);
        }
        Ok(o)
    }
}

/// Seconds from a flag as a monitor duration (range checks are the
/// monitor configuration's).
fn secs(flag: &str, s: f64) -> Result<Duration, CliError> {
    if !(s.is_finite() && (0.0..=86_400.0).contains(&s)) {
        return Err(CliError::Config(format!(
            "  - {flag} {s}: give a number of seconds from 0 to 86400"
        )));
    }
    Ok(Duration::from_millis((s * 1000.0).round() as u64))
}

/// How progress is shown.
pub struct View {
    /// One JSON object per event on stdout, nothing else.
    pub json: bool,
    /// A line per change on stdout and a spinner on stderr.
    pub lines: bool,
    /// Lines are stamped with the (real) time since this.
    pub origin: WallClock,
    /// The wait's time scale (elapsed times are in its time).
    pub scale: f64,
    /// Also say when a notification was queued as a webhook.
    pub webhooks: bool,
}

impl View {
    /// The view of a CLI command: lines and spinner, or JSON lines.
    pub fn cli(json: bool, scale: Option<f64>) -> View {
        View {
            json,
            lines: !json,
            origin: WallClock::now(),
            scale: scale.unwrap_or(1.0),
            webhooks: false,
        }
    }

    /// `12s`, or `4m (simulated)` on a scaled clock.
    fn elapsed(&self, d: Duration) -> String {
        if (self.scale - 1.0).abs() < f64::EPSILON {
            d.to_string()
        } else {
            format!("{d} simulated")
        }
    }
}

/// What the display knows between events.
struct Shown {
    bar: Option<ProgressBar>,
    status: String,
    phase: Phase,
    polls: u32,
    breaker: String,
    started: WallClock,
    last_elapsed: Duration,
}

/// Runs `waiting` to its end while showing its progress; returns the
/// outcome (a failed or timed-out one too: see [`verdict`]).
pub async fn follow(
    novita: &Novita,
    waiting: Waiting,
    view: &View,
) -> Result<WaitOutcome, WaitError> {
    let (wait, mut progress) = waiting.into_parts();
    let bar = view.lines.then(|| {
        let bar = ProgressBar::new_spinner();
        if let Ok(style) = ProgressStyle::with_template("{spinner} {msg}") {
            bar.set_style(style);
        }
        bar.enable_steady_tick(StdDuration::from_millis(120));
        bar
    });
    let mut shown = Shown {
        bar,
        status: "-".to_owned(),
        phase: Phase::Initiated,
        polls: 0,
        breaker: breaker(novita).await,
        started: WallClock::now(),
        last_elapsed: Duration::ZERO,
    };
    let mut ticker = tokio::time::interval(StdDuration::from_millis(500));
    tokio::pin!(wait);
    let result = loop {
        tokio::select! {
            result = &mut wait => break result,
            Some(p) = progress.recv() => {
                shown.breaker = breaker(novita).await;
                show(view, &mut shown, &p);
            }
            _ = ticker.tick() => refresh(view, &shown),
        }
    };
    // The events sent before the wait ended.
    while let Ok(p) = progress.try_recv() {
        show(view, &mut shown, &p);
    }
    if let Some(bar) = &shown.bar {
        bar.finish_and_clear();
    }
    result
}

async fn breaker(novita: &Novita) -> String {
    novita
        .status()
        .await
        .map_or_else(|_| "?".to_owned(), |s| s.breaker.to_string())
}

fn phase_name(p: Phase) -> &'static str {
    match p {
        Phase::Initiated => "initiated",
        Phase::Starting => "starting",
        Phase::HealthChecking => "health-checking",
        Phase::Ready => "ready",
        Phase::Failed => "failed",
        Phase::TimedOut => "timed out",
    }
}

/// Updates the spinner's message (elapsed time moves on between events).
fn refresh(view: &View, s: &Shown) {
    let Some(bar) = &s.bar else { return };
    let terminal = matches!(s.phase, Phase::Ready | Phase::Failed | Phase::TimedOut);
    let elapsed = if terminal {
        s.last_elapsed
    } else {
        let ms = s.started.elapsed().as_secs_f64() * 1000.0 * view.scale;
        Duration::from_secs((ms as u64) / 1000).max(Duration::from_secs(s.last_elapsed.as_secs()))
    };
    let c = events::counts();
    bar.set_message(format!(
        "{} · {} · {} · {} polls · {} retries · breaker {}",
        phase_name(s.phase),
        s.status,
        view.elapsed(elapsed),
        s.polls,
        c.retries,
        s.breaker
    ));
}

/// Prints a line above the spinner.
fn say(view: &View, s: &Shown, text: &str) {
    if !view.lines {
        return;
    }
    let line = format!(
        "{:>7}  {text}",
        format!("{:.1}s", view.origin.elapsed().as_secs_f64())
    );
    match &s.bar {
        Some(bar) => bar.suspend(|| println!("{line}")),
        None => println!("{line}"),
    }
}

fn show(view: &View, s: &mut Shown, p: &Progress) {
    let status = p
        .status
        .as_ref()
        .map_or_else(|| "-".to_owned(), |st| st.as_str().to_owned());
    if view.json {
        println!("{}", progress_json(p, &s.breaker));
    }
    let id = &p.instance_id;
    match &p.event {
        ProgressEvent::Started => say(view, s, &format!("watching instance {id}")),
        ProgressEvent::Polled if status != s.status => {
            if status == "running" {
                say(
                    view,
                    s,
                    &format!("instance {id} is running after {}", view.elapsed(p.elapsed)),
                );
            } else {
                say(view, s, &format!("instance {id} is {status}"));
            }
        }
        ProgressEvent::Polled => {}
        // Only a transient error keeps the monitor polling (and is kept as
        // `last_error`); any other ends it, and `Finished` says why.
        ProgressEvent::PollFailed => {
            if let Some(e) = &p.last_error {
                say(
                    view,
                    s,
                    &format!("reading the instance failed, polling on: {e}"),
                );
            }
        }
        ProgressEvent::Probed { port, result } => {
            let verdict = if result.is_healthy() {
                "healthy"
            } else {
                "not healthy yet"
            };
            let what = match result.outcome {
                ProbeOutcome::Status(code) => format!("HTTP {code}"),
                ProbeOutcome::Transport(k) => k.as_str().to_owned(),
            };
            say(
                view,
                s,
                &format!(
                    "port {port} health: {what} in {} ({verdict})",
                    result.response_time
                ),
            );
        }
        ProgressEvent::Notified(n) => {
            if let Some(hc) = &n.health_check
                && n.status == NotificationStatus::HealthChecking
            {
                say(
                    view,
                    s,
                    &format!(
                        "checking {} HTTP endpoint(s): {}",
                        hc.endpoints.len(),
                        hc.endpoints
                            .iter()
                            .map(|e| e.endpoint.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                );
            }
            if view.webhooks {
                say(
                    view,
                    s,
                    &format!(
                        "webhook `{}` queued (signed, durable outbox)",
                        serde_json::to_value(n.status)
                            .ok()
                            .and_then(|v| v.as_str().map(str::to_owned))
                            .unwrap_or_default()
                    ),
                );
            }
        }
        ProgressEvent::Finished(o) => {
            let text = match o {
                Outcome::Ready { elapsed } => {
                    format!("instance {id} is ready after {}", view.elapsed(*elapsed))
                }
                Outcome::Failed { .. } | Outcome::TimedOut { .. } => format!("gave up: {o}"),
            };
            say(view, s, &text);
        }
    }
    s.status = status;
    s.phase = p.phase;
    s.polls = p.polls;
    s.last_elapsed = p.elapsed;
    refresh(view, s);
}

/// One progress event as a JSON object.
fn progress_json(p: &Progress, breaker: &str) -> Value {
    let c = events::counts();
    let mut v = json!({
        "event": match &p.event {
            ProgressEvent::Started => "started",
            ProgressEvent::Polled => "polled",
            ProgressEvent::PollFailed => "poll_failed",
            ProgressEvent::Probed { .. } => "probed",
            ProgressEvent::Notified(_) => "notified",
            ProgressEvent::Finished(_) => "finished",
        },
        "instanceId": p.instance_id,
        "phase": p.phase,
        "status": p.status.as_ref().map(|s| s.as_str()),
        "elapsedMs": p.elapsed.as_millis(),
        "polls": p.polls,
        "retries": c.retries,
        "breaker": breaker,
        "lastError": p.last_error,
    });
    match &p.event {
        ProgressEvent::Probed { port, result } => {
            v["port"] = json!(port);
            v["healthy"] = json!(result.is_healthy());
            v["probe"] = json!(result.outcome.to_string());
            v["responseTimeMs"] = json!(result.response_time.as_millis());
        }
        ProgressEvent::Notified(n) => {
            v["notification"] = serde_json::to_value(n).unwrap_or(Value::Null);
        }
        ProgressEvent::Finished(o) => {
            v["outcome"] = json!(outcome_name(o));
            v["message"] = json!(o.to_string());
        }
        ProgressEvent::Started | ProgressEvent::Polled | ProgressEvent::PollFailed => {}
    }
    v
}

fn outcome_name(o: &Outcome) -> &'static str {
    match o {
        Outcome::Ready { .. } => "ready",
        Outcome::Failed { .. } => "failed",
        Outcome::TimedOut { .. } => "timed_out",
    }
}

/// The last JSON line of a wait: how it ended and the instance.
pub fn result_json(done: &WaitOutcome) -> Value {
    json!({
        "event": "result",
        "instanceId": done.instance_id,
        "outcome": outcome_name(&done.outcome),
        "message": done.outcome.to_string(),
        "elapsedMs": done.outcome.elapsed().as_millis(),
        "polls": done.polls,
        "instance": done.instance,
    })
}

/// A wait that could not run, as a CLI error; `doing` names the request
/// (e.g. "creating the instance").
pub fn wait_error(doing: &str, e: WaitError) -> CliError {
    match e {
        WaitError::Request(error) => CliError::Api {
            doing: doing.to_owned(),
            error,
        },
        WaitError::Config(e) => CliError::Config(format!("  - {e}")),
        WaitError::TimeScale(_) => CliError::Config(format!("  - --time-scale: {e}")),
        WaitError::Http(_) | WaitError::Entropy(_) => CliError::Other(e.to_string()),
    }
}

/// `Ok` when ready; otherwise the error with its exit code (timeout: 4, a
/// failed start: 3) and a message that says what to do next.
pub fn verdict(done: &WaitOutcome) -> Result<&Instance, CliError> {
    let id = &done.instance_id;
    match &done.outcome {
        Outcome::Ready { .. } => done.instance.as_ref().ok_or_else(|| {
            CliError::Other(format!("instance {id} is ready but no snapshot was kept"))
        }),
        Outcome::TimedOut {
            elapsed,
            last_status,
        } => Err(CliError::Timeout(format!(
            "instance {id} was not running after {elapsed} (last status: {}). It may still \
             come up: keep watching with `novitai instances watch {id} --timeout SECS`, or \
             delete it with `novitai instances delete {id}`.",
            last_status
                .as_ref()
                .map_or("none could be read", |s| s.as_str())
        ))),
        Outcome::Failed { reason, elapsed } => Err(CliError::Failed(failure(id, reason, *elapsed))),
    }
}

fn failure(id: &str, reason: &FailReason, elapsed: Duration) -> String {
    match reason {
        FailReason::StatusError { status, message } => format!(
            "instance {id} failed while {status} (after {elapsed}): {message}. See it with \
             `novitai instances get {id}`; delete it with `novitai instances delete {id}` and \
             create another (another image, product or region)."
        ),
        FailReason::Removed { status } => format!(
            "instance {id} was removed while starting (status {status}); create a new one \
             with `novitai instances create ... --wait`."
        ),
        FailReason::Exited => format!(
            "instance {id} exited instead of running (after {elapsed}). Start it with \
             `novitai instances start {id} --wait`; if it exits again, check its image and \
             start command."
        ),
        FailReason::NotFound => {
            format!("instance {id} does not exist (404). List yours with `novitai instances list`.")
        }
        FailReason::StartRejected { status } => format!(
            "the start of instance {id} was refused: it is {status}, neither starting nor \
             running. Wait until it has stopped, then `novitai instances start {id} --wait`."
        ),
        FailReason::Fetch(e) => format!(
            "reading instance {id} failed: {e}. Check NOVITA_API_KEY and `novitai status`, \
             then `novitai instances watch {id}`."
        ),
        FailReason::HealthCheck { unhealthy, waited } => format!(
            "instance {id} is running, but its HTTP endpoints did not answer healthy within \
             {waited}: {unhealthy}. Check the service inside the container, then \
             `novitai instances watch {id}` again."
        ),
        FailReason::Aborted(r) => format!("watching instance {id} stopped: {r}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_failure_says_what_to_do_next() {
        use novitai_tokio::core::api::instances::InstanceStatus;
        let reasons = [
            FailReason::StatusError {
                status: InstanceStatus::Pulling,
                message: "image not found".to_owned(),
            },
            FailReason::Removed {
                status: InstanceStatus::Removed,
            },
            FailReason::Exited,
            FailReason::NotFound,
            FailReason::StartRejected {
                status: InstanceStatus::Stopping,
            },
            FailReason::Fetch("401".to_owned()),
            FailReason::HealthCheck {
                unhealthy: "port 8888: HTTP 503".to_owned(),
                waited: Duration::from_mins(5),
            },
        ];
        for r in &reasons {
            let m = failure("abc", r, Duration::from_secs(3));
            assert!(m.contains("abc"), "{m}");
            assert!(m.contains("`novitai "), "no next step in: {m}");
        }
    }

    #[tokio::test]
    async fn flags_become_the_monitor_settings_and_bad_ones_are_config_errors() {
        let novita = Novita::builder()
            .config(novitai_tokio::core::config::Config::new(
                "sk_test_0123456789",
            ))
            .build()
            .unwrap();
        let a = WaitArgs {
            interval: Some(12.0),
            timeout: Some(90.0),
            time_scale: None,
        };
        let c = a.monitor(&novita, Op::Watch).unwrap();
        assert_eq!(c.poll_interval, Duration::from_secs(12));
        assert_eq!(c.fast_poll_interval, Duration::from_secs(5));
        assert_eq!(c.create_timeout, Duration::from_secs(90));
        assert_eq!(c.start_timeout, Duration::from_secs(90));
        let c = a.monitor(&novita, Op::Start).unwrap();
        assert_eq!(c.create_timeout, Duration::from_mins(20));
        let too_fast = WaitArgs {
            interval: Some(0.2),
            ..WaitArgs::default()
        };
        let e = too_fast.monitor(&novita, Op::Create).unwrap_err();
        assert_eq!(e.code(), crate::exit::CONFIG);
        assert!(e.to_string().contains("--interval"), "{e}");
        assert!(e.to_string().contains("poll_interval"), "{e}");
        let scale = WaitArgs {
            time_scale: Some(0.0),
            ..WaitArgs::default()
        };
        assert!(scale.options(&novita, Op::Create).is_err());
    }
}
