//! Stories of the start-up monitor, in virtual time.

use super::*;
use crate::api::ApiError;
use crate::api::instances::{PortMapping, StatusError};
use crate::http::HttpResponse;
use crate::retry::TransportErrorKind;
use alloc::vec;
use alloc::vec::Vec;

const T0: UnixTime = UnixTime::from_secs(1_700_000_000);

fn s(n: u64) -> Instant {
    Instant::from_millis(n * 1000)
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

fn http_port(port: u64) -> PortMapping {
    PortMapping {
        port: Some(port),
        endpoint: Some(alloc::format!("https://abc-{port}.proxy.example")),
        kind: Some("http".to_string()),
    }
}

fn tcp_port(port: u64) -> PortMapping {
    PortMapping {
        port: Some(port),
        endpoint: Some(alloc::format!("1.2.3.4:{port}")),
        kind: Some("tcp".to_string()),
    }
}

fn snapshot(status: InstanceStatus, ports: Vec<PortMapping>) -> Instance {
    Instance {
        id: "0123456789abcdef".to_string(),
        status,
        port_mappings: ports,
        ..Instance::default()
    }
}

/// Drives a monitor: records every action with its time.
struct Story {
    m: Monitor,
    now: Instant,
    fetches: Vec<(Instant, FetchId)>,
    probes: Vec<(Instant, ProbeRequest)>,
    notes: Vec<(Instant, Notification)>,
    finished: Vec<(Instant, Outcome)>,
    answered: usize,
}

impl Story {
    fn create() -> Story {
        Story::with(Mode::Create, MonitorConfig::default())
    }

    fn start() -> Story {
        Story::with(Mode::Start, MonitorConfig::default())
    }

    fn with(mode: Mode, config: MonitorConfig) -> Story {
        let target = Target::new("0123456789abcdef").instance_id("inst-1");
        let m = match mode {
            Mode::Create => Monitor::for_create(config, target, Rng::new(1), Instant::ZERO, T0),
            Mode::Start => Monitor::for_start(config, target, Rng::new(1), Instant::ZERO, T0),
            Mode::Watch => Monitor::for_watch(config, target, Rng::new(1), Instant::ZERO, T0),
        }
        .unwrap();
        let mut st = Story {
            m,
            now: Instant::ZERO,
            fetches: Vec::new(),
            probes: Vec::new(),
            notes: Vec::new(),
            finished: Vec::new(),
            answered: 0,
        };
        st.drain();
        st
    }

    /// Polls until `Wait`; returns the wake-up time.
    fn drain(&mut self) -> Option<Instant> {
        loop {
            match self.m.poll(self.now) {
                MonitorAction::FetchInstance(id) => self.fetches.push((self.now, id)),
                MonitorAction::Probe(p) => self.probes.push((self.now, p)),
                MonitorAction::Notify(n) => self.notes.push((self.now, *n)),
                MonitorAction::Finished(o) => self.finished.push((self.now, o)),
                MonitorAction::Wait(at) => return at,
            }
        }
    }

    /// Sleeps until the monitor's next wake-up and drains.
    fn sleep(&mut self) {
        let at = self.drain().expect("the monitor wants waking");
        assert!(at >= self.now);
        self.now = at;
        self.drain();
    }

    fn last_fetch(&self) -> FetchId {
        self.fetches.last().expect("a fetch was sent").1
    }

    /// Sleeps until a fetch is out (unless the monitor finishes first) and
    /// answers it with `status`.
    fn answer(&mut self, status: InstanceStatus, ports: Vec<PortMapping>) {
        while self.fetches.len() == self.answered && self.finished.is_empty() {
            self.sleep();
        }
        if self.fetches.len() == self.answered {
            return;
        }
        self.answered = self.fetches.len();
        let id = self.last_fetch();
        assert!(self.m.on_instance(id, &snapshot(status, ports), self.now));
        self.drain();
    }

    fn answer_probe(&mut self, i: usize, result: ProbeResult) {
        let id = self.probes[i].1.id;
        assert!(self.m.on_probe_result(id, result, self.now));
        self.drain();
    }

    fn statuses(&self) -> Vec<NotificationStatus> {
        self.notes.iter().map(|(_, n)| n.status).collect()
    }

    fn outcome(&self) -> &Outcome {
        assert_eq!(self.finished.len(), 1, "exactly one Finished");
        &self.finished[0].1
    }
}

fn ok(ms: u64) -> ProbeResult {
    ProbeResult::status(200, Duration::from_millis(ms))
}

#[test]
fn a_created_instance_goes_pulling_running_health_checking_ready() {
    use InstanceStatus as S;
    use NotificationStatus as N;
    let mut st = Story::create();
    assert!(st.notes.is_empty(), "a create announces nothing at first");
    st.answer(S::ToCreate, vec![]);
    st.answer(S::Creating, vec![]);
    assert_eq!(st.m.phase(), Phase::Starting);
    st.answer(S::Pulling, vec![]);
    st.answer(
        S::Running,
        vec![http_port(8888), tcp_port(22), http_port(7860)],
    );
    // Polls at 5, 10, 15 s, then 30 s later.
    let times: Vec<_> = st.fetches.iter().map(|f| f.0).collect();
    assert_eq!(times, vec![s(5), s(10), s(15), s(45)]);
    assert_eq!(st.statuses(), vec![N::Running, N::HealthChecking]);
    assert_eq!(st.m.phase(), Phase::HealthChecking);
    // Both HTTP endpoints probed at once; the tcp port is not.
    let ports: Vec<_> = st.probes.iter().map(|p| p.1.port).collect();
    assert_eq!(ports, vec![8888, 7860]);
    assert!(
        st.probes
            .iter()
            .all(|p| p.0 == s(45) && p.1.timeout == secs(10) && !p.1.follow_redirects)
    );
    st.now = s(46);
    st.answer_probe(0, ok(120));
    assert!(st.finished.is_empty(), "one endpoint is not enough");
    st.answer_probe(1, ProbeResult::status(302, Duration::from_millis(80)));
    assert_eq!(st.statuses(), vec![N::Running, N::HealthChecking, N::Ready]);
    assert_eq!(st.outcome(), &Outcome::Ready { elapsed: secs(46) });
    assert_eq!(st.m.phase(), Phase::Ready);
    assert_eq!(st.m.instance().map(|i| &i.status), Some(&S::Running));
    let (at, ready) = st.notes.last().unwrap();
    assert_eq!(*at, s(46));
    assert_eq!(ready.elapsed_time, Some(46_000));
    assert_eq!(
        ready.novita_instance_id.as_deref(),
        Some("0123456789abcdef")
    );
    assert_eq!(ready.instance_id, "inst-1");
    assert_eq!(ready.timestamp, T0.saturating_add(secs(46)).to_iso8601());
    let hc = ready.health_check.as_ref().unwrap();
    assert_eq!(hc.overall_status, OverallHealth::Healthy);
    assert_eq!(hc.total_response_time, Some(200));
    let op = ready.startup_operation.as_ref().unwrap();
    let iso = |n: u64| Some(T0.saturating_add(secs(n)).to_iso8601());
    assert_eq!(op.phases.start_requested, T0.to_iso8601());
    assert_eq!(op.phases.instance_starting, iso(5));
    assert_eq!(op.phases.instance_running, iso(45));
    assert_eq!(op.phases.health_check_started, iso(45));
    assert_eq!(op.phases.ready, iso(46));
    assert_eq!(op.total_elapsed_time, Some(46_000));
    // The `running` notification carries the instance summary, no secrets.
    let running = &st.notes[0].1;
    assert_eq!(running.elapsed_time, Some(45_000));
    assert_eq!(
        running.data.as_ref().unwrap()["portMappings"][0]["port"],
        8888
    );
    // Finished: nothing more, ever.
    assert_eq!(st.m.poll(s(10_000)), MonitorAction::Wait(None));
    assert!(
        !st.m
            .on_instance(FetchId(99), &snapshot(S::Exited, vec![]), s(10_000))
    );
}

#[test]
fn status_error_fails_the_create_and_the_start() {
    let failing = |status| Instance {
        status_error: Some(StatusError {
            state: Some("pulling".to_string()),
            message: Some("image pull failed: not found".to_string()),
        }),
        ..snapshot(status, vec![])
    };
    let mut st = Story::create();
    st.answer(InstanceStatus::Pulling, vec![]);
    let id = {
        st.sleep();
        st.last_fetch()
    };
    assert!(st.m.on_instance(id, &failing(InstanceStatus::Exited), st.now));
    st.drain();
    assert_eq!(
        st.statuses(),
        vec![NotificationStatus::Failed],
        "one terminal notification"
    );
    let Outcome::Failed { reason, .. } = st.outcome() else {
        panic!("{:?}", st.outcome())
    };
    assert!(
        matches!(reason, FailReason::StatusError { message, .. } if message.contains("image pull failed"))
    );
    assert!(
        st.notes[0]
            .1
            .error
            .as_deref()
            .unwrap()
            .contains("image pull failed")
    );

    let mut st = Story::start();
    st.sleep();
    let id = st.last_fetch();
    assert!(st.m.on_instance(id, &failing(InstanceStatus::Starting), st.now));
    st.drain();
    assert_eq!(
        st.statuses(),
        vec![
            NotificationStatus::StartupInitiated,
            NotificationStatus::StartupFailed
        ]
    );
    let op = st.notes[1].1.startup_operation.as_ref().unwrap();
    assert_eq!(op.status, StartupStatus::Failed);
    assert!(op.error.as_deref().unwrap().contains("image pull failed"));
}

#[test]
fn an_instance_removed_while_starting_fails_and_so_does_a_404() {
    let mut st = Story::start();
    st.answer(InstanceStatus::Starting, vec![]);
    st.answer(InstanceStatus::ToRemove, vec![]);
    assert_eq!(
        st.outcome(),
        &Outcome::Failed {
            reason: FailReason::Removed {
                status: InstanceStatus::ToRemove
            },
            elapsed: secs(10)
        }
    );
    assert_eq!(
        st.statuses().last(),
        Some(&NotificationStatus::StartupFailed)
    );

    let mut st = Story::create();
    st.answer(InstanceStatus::Pulling, vec![]);
    st.sleep();
    let id = st.last_fetch();
    assert!(st.m.on_fetch_error(id, FetchError::NotFound, st.now));
    st.drain();
    assert!(matches!(
        st.outcome(),
        Outcome::Failed {
            reason: FailReason::NotFound,
            ..
        }
    ));
}

#[test]
fn an_instance_that_never_runs_times_out_at_20_minutes() {
    let mut st = Story::create();
    while st.finished.is_empty() {
        st.answer(InstanceStatus::Pulling, vec![]);
    }
    assert_eq!(st.finished[0].0, s(1200));
    assert!(matches!(
        st.outcome(),
        Outcome::TimedOut { elapsed, last_status: Some(InstanceStatus::Pulling) } if *elapsed == secs(1200)
    ));
    assert_eq!(st.statuses(), vec![NotificationStatus::Timeout]);
    let n = &st.notes[0].1;
    assert_eq!(n.elapsed_time, Some(1_200_000));
    assert!(n.error.as_deref().unwrap().contains("last status: pulling"));
    // 5, 10, 15 s, then every 30 s: 45 ... 1185.
    assert_eq!(st.fetches.len(), 3 + 39);
    for w in st.fetches.windows(2) {
        assert!(w[1].0.saturating_duration_since(w[0].0) >= secs(5));
    }
    for w in st.fetches[3..].windows(2) {
        assert_eq!(w[1].0.saturating_duration_since(w[0].0), secs(30));
    }
}

#[test]
fn transient_fetch_errors_keep_polling_and_a_slow_answer_delays_the_next_poll() {
    let mut st = Story::create();
    st.sleep();
    let id = st.last_fetch();
    st.now = s(7);
    assert!(st.m.on_fetch_error(id, FetchError::Transient("503".to_string()), st.now));
    assert_eq!(st.m.last_fetch_error(), Some("503"));
    // A second fetch is never sent while one is out.
    st.sleep();
    let id = st.last_fetch();
    assert_eq!(st.fetches.len(), 2);
    assert_eq!(st.fetches[1].0, s(10));
    st.now = s(40); // the engine took 30 s
    assert_eq!(st.m.poll(st.now), MonitorAction::Wait(Some(s(1200))));
    assert!(st.m.on_instance(id, &snapshot(InstanceStatus::Pulling, vec![]), st.now));
    // The next poll is due 5 s after the previous was sent: at once.
    st.drain();
    assert_eq!(st.fetches.len(), 3);
    assert_eq!(st.fetches[2].0, s(40));
    // A stale answer is ignored.
    assert!(
        !st.m
            .on_instance(id, &snapshot(InstanceStatus::Running, vec![]), st.now)
    );
    assert!(st.m.last_fetch_error().is_none());
    st.answer(InstanceStatus::Running, vec![]);
    assert!(st.outcome().is_ready());
}

#[test]
fn a_flapping_endpoint_passes_within_three_tries() {
    let mut st = Story::create();
    st.answer(InstanceStatus::Running, vec![http_port(8888)]);
    assert_eq!(st.probes.len(), 1);
    st.answer_probe(0, ProbeResult::status(503, Duration::from_millis(40)));
    st.sleep();
    assert_eq!(st.probes.len(), 2);
    let gap1 = st.probes[1].0.saturating_duration_since(st.probes[0].0);
    assert!(
        (Duration::from_millis(500)..=secs(1)).contains(&gap1),
        "{gap1}"
    );
    st.answer_probe(
        1,
        ProbeResult::transport(TransportErrorKind::ConnectionRefused, Duration::ZERO),
    );
    st.sleep();
    assert_eq!(st.probes.len(), 3);
    let gap2 = st.probes[2].0.saturating_duration_since(st.probes[1].0);
    assert!((secs(1)..=secs(2)).contains(&gap2), "{gap2}");
    st.answer_probe(2, ok(10));
    assert!(st.outcome().is_ready());
    let hc = st.notes.last().unwrap().1.health_check.clone().unwrap();
    assert_eq!(
        hc.endpoints[0].status,
        crate::webhook::payload::EndpointStatus::Healthy
    );
    assert_eq!(hc.endpoints[0].error, None);
}

#[test]
fn an_endpoint_never_healthy_fails_the_monitor_when_the_health_phase_cap_passes() {
    let mut st = Story::create();
    st.answer(InstanceStatus::Running, vec![http_port(8888)]);
    let running_at = st.now;
    // Every probe answers 503; the instance keeps running.
    while st.finished.is_empty() {
        let next = st.drain().unwrap();
        st.now = next;
        st.drain();
        if let Some((_, p)) = st.probes.last()
            && st
                .m
                .on_probe_result(p.id, ProbeResult::status(503, Duration::ZERO), st.now)
        {
            st.drain();
        }
        if let Some(&(at, id)) = st.fetches.last()
            && at == st.now
            && st.m.on_instance(
                id,
                &snapshot(InstanceStatus::Running, vec![http_port(8888)]),
                st.now,
            )
        {
            st.drain();
        }
    }
    assert_eq!(st.finished[0].0, running_at.saturating_add(secs(300)));
    let Outcome::Failed { reason, .. } = st.outcome() else {
        panic!()
    };
    assert!(matches!(reason, FailReason::HealthCheck { waited, .. } if *waited == secs(300)));
    let last = &st.notes.last().unwrap().1;
    assert_eq!(last.status, NotificationStatus::Failed);
    let hc = last.health_check.as_ref().unwrap();
    assert_eq!(hc.status, HealthCheckStatus::Failed);
    assert_eq!(hc.overall_status, OverallHealth::Unhealthy);
    assert_eq!(hc.endpoints[0].error.as_deref(), Some("HTTP 503"));
    assert!(last.error.as_deref().unwrap().contains("port 8888"));
    // Rounds of 3 tries with 15 s rests: many probes, but bounded.
    assert!(st.probes.len() >= 3 * 10, "{}", st.probes.len());
    assert!(st.probes.len() <= 3 * 20, "{}", st.probes.len());
    // Exactly one terminal notification, and it is the last.
    let terminal = st
        .statuses()
        .into_iter()
        .filter(|s| {
            matches!(
                s,
                NotificationStatus::Failed
                    | NotificationStatus::Ready
                    | NotificationStatus::Timeout
            )
        })
        .count();
    assert_eq!(terminal, 1);
}

#[test]
fn an_unanswered_probe_counts_as_timed_out_and_its_late_answer_is_ignored() {
    let mut st = Story::create();
    st.answer(InstanceStatus::Running, vec![http_port(8888)]);
    let first = st.probes[0].1.id;
    // The monitor's own timeout (10 s + grace) at 16 s, a backoff, the retry.
    while st.probes.len() < 2 {
        st.sleep();
        if st.fetches.len() > st.answered {
            st.answer(InstanceStatus::Running, vec![http_port(8888)]);
        }
    }
    let retry_at = st.probes[1].0;
    assert!(
        retry_at >= s(16) + Duration::from_millis(500),
        "{retry_at:?}"
    );
    assert!(retry_at <= s(17), "{retry_at:?}");
    assert!(
        !st.m.on_probe_result(first, ok(1), st.now),
        "late answer ignored"
    );
    st.answer_probe(1, ok(1));
    assert!(st.outcome().is_ready());
}

#[test]
fn an_instance_without_ports_is_ready_at_once() {
    let mut st = Story::create();
    st.answer(InstanceStatus::Running, vec![tcp_port(22)]);
    assert!(st.probes.is_empty());
    assert_eq!(
        st.statuses(),
        vec![NotificationStatus::Running, NotificationStatus::Ready]
    );
    assert_eq!(st.outcome(), &Outcome::Ready { elapsed: secs(5) });
    let hc = st.notes[1].1.health_check.as_ref().unwrap();
    assert!(hc.endpoints.is_empty());

    let mut st = Story::start();
    st.answer(InstanceStatus::Running, vec![]);
    assert_eq!(
        st.statuses(),
        vec![
            NotificationStatus::StartupInitiated,
            NotificationStatus::Running,
            NotificationStatus::StartupCompleted
        ]
    );
    assert!(st.notes[2].1.health_check.is_none());
}

#[test]
fn a_start_refused_as_invalid_state_change_is_accepted_when_already_running() {
    let mut st = Story::start();
    // The refusal arrives before the first poll: re-read at once.
    st.now = s(1);
    st.m.on_start_rejected_invalid_state(st.now);
    st.drain();
    assert_eq!(st.fetches.len(), 1);
    assert_eq!(st.fetches[0].0, s(1));
    st.answer(InstanceStatus::Running, vec![http_port(8888)]);
    st.answer_probe(0, ok(5));
    assert!(st.outcome().is_ready());
    assert_eq!(
        st.statuses(),
        vec![
            NotificationStatus::StartupInitiated,
            NotificationStatus::Running,
            NotificationStatus::HealthChecking,
            NotificationStatus::StartupCompleted
        ]
    );
    let op = st.notes[3].1.startup_operation.as_ref().unwrap();
    assert_eq!(op.status, StartupStatus::Completed);
    assert!(op.phases.health_check_completed.is_some());
}

#[test]
fn a_start_refused_as_invalid_state_change_is_accepted_when_the_instance_is_starting() {
    let mut st = Story::start();
    st.answer(InstanceStatus::Exited, vec![]); // within the grace
    st.now = s(7);
    st.m.on_start_rejected_invalid_state(st.now);
    st.drain();
    // Someone else's start got there first: the re-read shows it starting.
    st.answer(InstanceStatus::Starting, vec![]);
    assert_eq!(
        st.fetches[1].0,
        s(10),
        "re-read as soon as the spacing allows"
    );
    assert!(st.finished.is_empty());
    assert_eq!(st.m.phase(), Phase::Starting);
    st.answer(InstanceStatus::Running, vec![]);
    assert!(st.outcome().is_ready());
    assert_eq!(
        st.statuses(),
        vec![
            NotificationStatus::StartupInitiated,
            NotificationStatus::Running,
            NotificationStatus::StartupCompleted
        ]
    );
}

#[test]
fn a_start_refused_as_invalid_state_change_fails_when_the_instance_is_stopping() {
    let mut st = Story::start();
    st.answer(InstanceStatus::Exited, vec![]); // not picked up yet: within grace
    assert!(st.finished.is_empty());
    st.now = s(6);
    st.m.on_start_rejected_invalid_state(st.now);
    // Not faster than the poll spacing: the re-read waits for 5 s after the last.
    st.drain();
    assert_eq!(st.fetches.len(), 1);
    st.answer(InstanceStatus::Stopping, vec![]);
    assert_eq!(st.fetches[1].0, s(10));
    assert!(matches!(
        st.outcome(),
        Outcome::Failed {
            reason: FailReason::StartRejected {
                status: InstanceStatus::Stopping
            },
            ..
        }
    ));
}

#[test]
fn after_a_start_exited_is_a_failure_once_the_start_took_effect() {
    let mut st = Story::start();
    st.answer(InstanceStatus::Exited, vec![]);
    st.answer(InstanceStatus::ToStart, vec![]);
    assert_eq!(st.m.phase(), Phase::Starting);
    st.answer(InstanceStatus::Exited, vec![]);
    assert!(matches!(
        st.outcome(),
        Outcome::Failed {
            reason: FailReason::Exited,
            ..
        }
    ));
    // Never picked up: exited for longer than the grace fails too.
    let mut st = Story::start();
    while st.finished.is_empty() {
        st.answer(InstanceStatus::Exited, vec![]);
    }
    assert!(st.finished[0].0 >= Instant::ZERO.saturating_add(EXITED_GRACE));
    assert!(st.finished[0].0 <= s(60 + 30));
}

#[test]
fn unknown_statuses_keep_polling_until_the_start_timeout() {
    let mut st = Story::start();
    while st.finished.is_empty() {
        st.answer(InstanceStatus::Other("warming".to_string()), vec![]);
    }
    assert_eq!(st.finished[0].0, s(300));
    assert!(matches!(st.outcome(), Outcome::TimedOut { .. }));
    assert_eq!(
        st.statuses(),
        vec![
            NotificationStatus::StartupInitiated,
            NotificationStatus::Timeout
        ]
    );
}

#[test]
fn abort_ends_the_monitor_once() {
    let mut st = Story::start();
    st.m.abort("start request failed: 403", s(1));
    st.m.abort("again", s(2));
    st.now = s(2);
    st.drain();
    assert!(
        matches!(st.outcome(), Outcome::Failed { reason: FailReason::Aborted(r), .. } if r.contains("403"))
    );
    assert_eq!(st.statuses().len(), 2);
    assert_eq!(st.m.poll_timeout(), None);
}

#[test]
fn time_going_backwards_counts_as_no_time() {
    let mut st = Story::create();
    st.sleep();
    let id = st.last_fetch();
    assert!(st.m.on_instance(
        id,
        &snapshot(InstanceStatus::Pulling, vec![]),
        Instant::ZERO
    ));
    // The next poll is 5 s after the last one was sent, not after time zero.
    assert_eq!(st.m.poll(Instant::ZERO), MonitorAction::Wait(Some(s(10))));
}

#[test]
fn fetch_errors_are_classified_by_what_retrying_can_fix() {
    let api = |status: u16, body: &str| {
        Error::Api(ApiError::from_response(&HttpResponse::new(
            status,
            body.as_bytes().to_vec(),
        )))
    };
    assert_eq!(
        FetchError::from_error(&api(404, r#"{"message":"instance not found"}"#)),
        FetchError::NotFound
    );
    assert_eq!(
        FetchError::from_error(&api(
            400,
            r#"{"reason":"RESOURCE_NOT_FOUND","message":"x"}"#
        )),
        FetchError::NotFound
    );
    assert!(matches!(
        FetchError::from_error(&api(503, "")),
        FetchError::Transient(_)
    ));
    assert!(matches!(
        FetchError::from_error(&api(401, "")),
        FetchError::Fatal(_)
    ));
    assert!(matches!(
        FetchError::from_error(&Error::QueueFull),
        FetchError::Transient(_)
    ));
}

#[test]
fn every_notification_round_trips_and_a_monitor_round_trips_through_serde() {
    let mut st = Story::start();
    st.answer(InstanceStatus::Starting, vec![]);
    let json = serde_json::to_string(&st.m).unwrap();
    let back: Monitor = serde_json::from_str(&json).unwrap();
    assert_eq!(back, st.m);
    for (_, n) in &st.notes {
        assert_eq!(&Notification::from_json(&n.to_json().unwrap()).unwrap(), n);
    }
}

// ---- watching an instance someone else created or started ----------------

#[test]
fn a_watch_reads_at_once_and_a_running_instance_is_checked_and_ready() {
    let mut st = Story::with(Mode::Watch, MonitorConfig::default());
    assert_eq!(st.fetches.len(), 1, "the first read goes out at once");
    assert_eq!(st.fetches[0].0, Instant::ZERO);
    assert_eq!(
        st.m.deadline(),
        Instant::ZERO.saturating_add(Duration::from_mins(20)),
        "the longer of create_timeout and start_timeout until the operation is known"
    );
    st.answer(InstanceStatus::Running, vec![http_port(8888)]);
    st.answer_probe(0, ok(7));
    assert!(st.outcome().is_ready());
    // The notifications of an instance's life, not of a start this monitor
    // never requested.
    assert_eq!(
        st.statuses(),
        vec![
            NotificationStatus::Running,
            NotificationStatus::HealthChecking,
            NotificationStatus::Ready
        ]
    );
    // The second read would have come one (fast) gap after the first.
    let mut st = Story::with(Mode::Watch, MonitorConfig::default());
    st.answer(InstanceStatus::Starting, vec![]);
    st.answer(InstanceStatus::Starting, vec![]);
    assert_eq!(st.fetches[1].0, s(5));
}

#[test]
fn a_watched_instance_that_is_creating_gets_the_create_timeout() {
    let mut st = Story::with(Mode::Watch, MonitorConfig::default());
    while st.finished.is_empty() {
        st.answer(InstanceStatus::Pulling, vec![]);
    }
    assert_eq!(st.finished[0].0, s(20 * 60));
    assert!(matches!(st.outcome(), Outcome::TimedOut { .. }));
    assert_eq!(st.statuses(), vec![NotificationStatus::Timeout]);
}

#[test]
fn a_watched_instance_that_is_starting_gets_the_start_timeout() {
    let mut st = Story::with(Mode::Watch, MonitorConfig::default());
    st.answer(InstanceStatus::ToStart, vec![]);
    assert_eq!(st.m.deadline(), s(5 * 60));
    while st.finished.is_empty() {
        st.answer(InstanceStatus::Starting, vec![]);
    }
    assert_eq!(st.finished[0].0, s(5 * 60));
    assert!(matches!(st.outcome(), Outcome::TimedOut { .. }));
}

#[test]
fn a_watch_deadline_only_ever_moves_earlier() {
    // A start timeout longer than the create timeout: a creating instance
    // narrows the deadline to 20 min; a later `starting` does not widen it.
    let config = MonitorConfig {
        start_timeout: Duration::from_mins(40),
        ..MonitorConfig::default()
    };
    let mut st = Story::with(Mode::Watch, config);
    assert_eq!(st.m.deadline(), s(40 * 60));
    st.answer(InstanceStatus::Creating, vec![]);
    assert_eq!(st.m.deadline(), s(20 * 60));
    st.answer(InstanceStatus::Starting, vec![]);
    assert_eq!(st.m.deadline(), s(20 * 60));
    // Unknown statuses and transient errors do not decide it.
    let mut st = Story::with(Mode::Watch, config);
    st.answer(InstanceStatus::Other("migrating".to_string()), vec![]);
    assert_eq!(st.m.deadline(), s(40 * 60));
}

#[test]
fn a_watched_instance_that_stays_exited_fails_after_the_grace_and_a_rejection_is_ignored() {
    let mut st = Story::with(Mode::Watch, MonitorConfig::default());
    st.m.on_start_rejected_invalid_state(st.now);
    while st.finished.is_empty() {
        st.answer(InstanceStatus::Exited, vec![]);
    }
    assert!(st.finished[0].0 >= Instant::ZERO.saturating_add(EXITED_GRACE));
    assert!(matches!(
        st.outcome(),
        Outcome::Failed {
            reason: FailReason::Exited,
            ..
        }
    ));
    assert_eq!(st.statuses(), vec![NotificationStatus::Failed]);
}

// ---- regressions found by the `monitor` fuzz target ------------------------

/// fuzz `monitor`, crash-7a79228b: an answer arriving when the first poll was
/// due was matched against the fetch the monitor issued while taking that
/// very answer — one the caller had not been handed yet (ids are sequential,
/// so a made-up or another monitor's `FetchId(0)` was taken as its answer).
#[test]
fn an_answer_to_a_fetch_not_yet_handed_out_is_ignored() {
    let mut st = Story::create();
    assert!(st.fetches.is_empty());
    // 17 s in, the first poll (due at 5 s) has not been handed out yet.
    let running = snapshot(InstanceStatus::Running, vec![]);
    assert!(!st.m.on_instance(FetchId(0), &running, s(17)));
    assert!(!st.m.on_fetch_error(FetchId(0), FetchError::NotFound, s(17)));
    st.now = s(17);
    st.drain();
    // The fetch goes out now, and its real answer is taken.
    assert_eq!(st.fetches, vec![(s(17), FetchId(0))]);
    assert!(st.finished.is_empty());
    st.answered = 0;
    st.answer(InstanceStatus::Running, vec![]);
    assert!(st.outcome().is_ready());
}

/// The same for probes: a result for the probe the monitor sends while
/// taking that result (a retry of the endpoint falling due) is ignored.
#[test]
fn a_result_for_a_probe_not_yet_handed_out_is_ignored() {
    let mut st = Story::create();
    st.answer(InstanceStatus::Running, vec![http_port(8888)]);
    assert_eq!(st.probes.len(), 1);
    st.now += secs(1);
    st.answer_probe(0, ProbeResult::status(503, Duration::from_millis(5)));
    // The retry (ProbeId 1) falls due within the backoff's cap; answer it
    // "early", at a time it is due but before it was handed out.
    let due = st.m.poll_timeout().unwrap();
    assert!(!st.m.on_probe_result(ProbeId(1), ok(5), due));
    st.now = due;
    st.drain();
    assert_eq!(st.probes.len(), 2);
    assert_eq!(st.probes[1].1.id, ProbeId(1));
    assert!(st.finished.is_empty(), "the early answer did not count");
    st.answer_probe(1, ok(5));
    assert!(st.outcome().is_ready());
}
