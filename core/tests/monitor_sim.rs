//! Deterministic simulation of the start-up monitor (feature `sim`): a
//! [`Monitor`] driving GETs through an [`Engine`] against the [`Simulator`]
//! in virtual time ([`VirtualNet`]), with fault plans, slow start-ups,
//! failing images, instances deleted mid-start, and endpoints that warm up
//! (flap) before they answer.
//!
//! Every seed checks: exactly one terminal notification, last, matching
//! exactly one `Finished`; polls never closer than configured; the timeouts
//! respected; and outcomes that agree with the simulator (a failing image is
//! never ready, a clean run always is, a slow pull times out, an application
//! that never warms up fails the health phase).
//!
//! `NOVITAI_MONITOR_SEEDS=N` runs N seeds (default 500); a failure prints
//! its seed; `NOVITAI_MONITOR_SEED=S` replays one.
#![cfg(feature = "sim")]

use std::ops::ControlFlow;

use novitai_core::api::instances::{
    CreateInstance, CreateInstanceRequest, DeleteInstance, GetInstance, StartInstance, StopInstance,
};
use novitai_core::api::{ApiContext, ApiErrorKind, Endpoint};
use novitai_core::engine::{Completed, Engine, EngineConfig, Event, RequestId, RequestOptions};
use novitai_core::error::Error;
use novitai_core::monitor::{
    FailReason, FetchError, FetchId, Mode, Monitor, MonitorAction, MonitorConfig, Outcome,
    PROBE_GRACE, ProbeResult, Target,
};
use novitai_core::retry::TransportErrorKind;
use novitai_core::sim::{
    DurationRange, EndpointProbe, FaultPlan, NetEvent, SimConfig, Simulator, Status, Timings,
    VirtualNet,
};
use novitai_core::webhook::payload::{Notification, NotificationStatus};
use novitai_core::{Duration, Instant, Rng, UnixTime};

const KEY: &str = "sk_sim_monitor";
const T0: UnixTime = UnixTime::from_secs(1_700_000_000);

fn ctx() -> ApiContext {
    ApiContext::new(KEY, "novitai-monitor-sim").unwrap()
}

fn request<E: Endpoint>(e: &E) -> novitai_core::http::HttpRequest {
    let mut r = e.request();
    ctx().authorize(&mut r);
    r
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Create,
    Start,
    StartAlreadyRunning,
    /// Created by someone else; watched from a little later.
    Watch,
}

#[derive(Debug)]
struct Scenario {
    kind: Kind,
    faults: &'static str,
    failing_image: bool,
    startup_failure: f64,
    slow_pull: bool,
    endless_warmup: bool,
    no_ports: bool,
    delete_after: Option<Duration>,
    hang_probe: f64,
    config: MonitorConfig,
    /// How long after the create a watch begins.
    watch_after: Duration,
}

impl Scenario {
    fn draw(seed: u64) -> Scenario {
        let mut r = Rng::new(seed ^ 0x006d_6f6e_6974_6f72);
        let kind = match r.range_inclusive(0, 11) {
            0..=4 => Kind::Create,
            5..=7 => Kind::Start,
            8..=9 => Kind::StartAlreadyRunning,
            _ => Kind::Watch,
        };
        const FAULTS: &[&str] = &[
            "none",
            "none",
            "none",
            "5xx=0.05,burst=1..3",
            "429=0.05,retry-after=1s..5s,retry-after-p=0.5",
            "reset=0.03,hang=0.01",
            "truncate=0.05,latency=10ms..300ms",
            "outage=4m+3m",
            "5xx=0.1,burst=2..6,reset=0.02,slow=0.05@20s",
        ];
        let faults = FAULTS[r.range_inclusive(0, FAULTS.len() as u64 - 1) as usize];
        let mut config = MonitorConfig {
            poll_interval: Duration::from_secs(r.range_inclusive(10, 60)),
            fast_polls: r.range_inclusive(0, 3) as u32,
            fast_poll_interval: Duration::from_secs(r.range_inclusive(1, 5)),
            start_timeout: Duration::from_secs(r.range_inclusive(120, 600)),
            ..MonitorConfig::default()
        };
        if r.chance(0.2) {
            config.create_timeout = Duration::from_mins(r.range_inclusive(5, 20));
        }
        if r.chance(0.3) {
            config.health.max_duration = Duration::from_secs(r.range_inclusive(60, 300));
        }
        Scenario {
            kind,
            faults,
            failing_image: r.chance(0.1),
            startup_failure: if r.chance(0.2) { 0.3 } else { 0.0 },
            slow_pull: matches!(kind, Kind::Create | Kind::Watch) && r.chance(0.1),
            endless_warmup: r.chance(0.1),
            no_ports: r.chance(0.15),
            delete_after: r
                .chance(0.1)
                .then(|| Duration::from_secs(r.range_inclusive(1, 120))),
            hang_probe: if r.chance(0.2) { 0.2 } else { 0.0 },
            config,
            watch_after: Duration::from_secs(r.range_inclusive(0, 90)),
        }
    }

    fn clean(&self) -> bool {
        self.faults == "none"
            && !self.failing_image
            && self.startup_failure == 0.0
            && !self.slow_pull
            && !self.endless_warmup
            && self.delete_after.is_none()
    }
}

/// Everything the driver saw.
#[derive(Default)]
struct Log {
    fetches: Vec<Instant>,
    probes: Vec<(Instant, u16)>,
    notes: Vec<(Instant, Notification)>,
    finished: Vec<(Instant, Outcome)>,
    delete_sent: Option<Instant>,
    ready_sim_status: Option<Option<Status>>,
}

struct World {
    net: VirtualNet,
    done: Vec<Completed>,
}

impl World {
    fn new(s: &Scenario, seed: u64) -> World {
        let mut timings = Timings::default();
        if s.slow_pull {
            timings.pulling = DurationRange::secs(25 * 60, 40 * 60);
        }
        if s.endless_warmup {
            timings.warmup = DurationRange::secs(4000, 5000);
        } else {
            timings.warmup = DurationRange::secs(0, 40);
        }
        let sim = Simulator::new(
            SimConfig {
                api_key: KEY.into(),
                faults: FaultPlan::parse(s.faults).unwrap(),
                timings,
                startup_failure: s.startup_failure,
                ..SimConfig::default()
            },
            seed,
            Instant::ZERO,
        )
        .unwrap();
        let engine = Engine::new(EngineConfig::default(), seed, Instant::ZERO).unwrap();
        World {
            net: VirtualNet::new(engine, sim),
            done: Vec::new(),
        }
    }

    fn now(&self) -> Instant {
        self.net.now()
    }

    fn submit<E: Endpoint>(&mut self, e: &E) -> RequestId {
        self.net
            .submit(request(e), RequestOptions::new())
            .expect("engine accepts")
    }

    /// Runs until `until` or until any of `wanted` completes; completions
    /// land in `self.done`.
    fn run(&mut self, until: Instant, wanted: &[RequestId]) {
        let done = &mut self.done;
        let end = self.net.run(until, &mut |_, e: &NetEvent| {
            if let NetEvent::Engine(Event::Completed(c)) = e {
                done.push(c.clone());
                if wanted.contains(&c.id) {
                    return ControlFlow::Break(());
                }
            }
            ControlFlow::Continue(())
        });
        if end == novitai_core::sim::RunEnd::Idle {
            self.net.sleep_until(until, &mut |_, _| {});
        }
    }

    fn take(&mut self, id: RequestId) -> Option<Completed> {
        let i = self.done.iter().position(|c| c.id == id)?;
        Some(self.done.swap_remove(i))
    }

    /// Sends `e` until it completes successfully (at most `tries` times).
    fn call<E: Endpoint>(&mut self, e: &E, tries: u32) -> Option<E::Output> {
        for _ in 0..tries {
            let id = self.submit(e);
            let limit = self.now() + Duration::from_mins(10);
            self.run(limit, &[id]);
            if let Some(c) = self.take(id)
                && let Ok(v) = Error::result_of(e, &c)
            {
                return Some(v);
            }
        }
        None
    }

    /// Lets time pass until the instance's status is one of `want`.
    fn wait_for(&mut self, id: &str, want: &[Status], limit: Instant) -> Option<Status> {
        loop {
            let st = self.net.sim.instance_status(id)?;
            if want.contains(&st) {
                return Some(st);
            }
            let next = self.net.sim.next_change()?;
            if next > limit {
                return None;
            }
            self.run(next, &[]);
        }
    }
}

fn create_body(s: &Scenario) -> CreateInstanceRequest {
    CreateInstanceRequest {
        name: Some("monitor-sim".into()),
        product_id: "rtx-4090-24gb.cn-hk-01".into(),
        image_url: if s.failing_image {
            "example/sim-fail:latest".into()
        } else {
            "pytorch/pytorch:latest".into()
        },
        ports: Some(if s.no_ports {
            "22/tcp".into()
        } else {
            "8888/http,7860/http,22/tcp".into()
        }),
        ..CreateInstanceRequest::default()
    }
}

fn is_terminal(s: NotificationStatus) -> bool {
    use NotificationStatus as N;
    matches!(
        s,
        N::Ready | N::StartupCompleted | N::Failed | N::StartupFailed | N::Timeout
    )
}

/// One seed; `Ok(None)` when the setup could not be done (e.g. the create
/// call failed under faults): no monitor ran.
fn run_seed(seed: u64) -> Result<Option<(Scenario, Outcome, bool)>, String> {
    let s = Scenario::draw(seed);
    let mut w = World::new(&s, seed);
    let Some(nid) = w.call(&CreateInstance(create_body(&s)), 3) else {
        return Ok(None);
    };
    let limit = w.now() + Duration::from_mins(60);
    // Set up the start scenarios.
    match s.kind {
        Kind::Create => {}
        Kind::Watch => {
            let until = w.now() + s.watch_after;
            w.run(until, &[]);
        }
        Kind::Start => match w.wait_for(&nid, &[Status::Running, Status::Exited], limit) {
            Some(Status::Running) => {
                if w.call(&StopInstance::new(nid.clone()), 3).is_none() {
                    return Ok(None);
                }
                if w.wait_for(&nid, &[Status::Exited], limit).is_none() {
                    return Ok(None);
                }
            }
            Some(_) => {}
            None => return Ok(None),
        },
        Kind::StartAlreadyRunning => {
            if w.wait_for(&nid, &[Status::Running, Status::Exited], limit)
                .is_none()
            {
                return Ok(None);
            }
        }
    }
    let start = w.now();
    let start_unix = T0.saturating_add(start.saturating_duration_since(Instant::ZERO));
    let target = Target::new(nid.clone()).instance_id(format!("inst-{seed}"));
    let rng = Rng::new(seed).fork();
    let mode = match s.kind {
        Kind::Create => Mode::Create,
        Kind::Watch => Mode::Watch,
        Kind::Start | Kind::StartAlreadyRunning => Mode::Start,
    };
    let mut m = match mode {
        Mode::Create => Monitor::for_create(s.config, target, rng, start, start_unix),
        Mode::Start => Monitor::for_start(s.config, target, rng, start, start_unix),
        Mode::Watch => Monitor::for_watch(s.config, target, rng, start, start_unix),
    }
    .map_err(|e| e.to_string())?;
    let mut start_req = (mode == Mode::Start).then(|| w.submit(&StartInstance::new(nid.clone())));
    let mut fetch: Option<(RequestId, FetchId)> = None;
    let mut delete_at = s.delete_after.map(|d| start + d);
    let mut probe_rng = Rng::new(seed ^ 0x0070_726f_6265);
    let mut log = Log::default();
    let mut rejected_at: Option<Instant> = None;
    let hard_stop = start + Duration::from_mins(200);

    loop {
        let now = w.now();
        if now > hard_stop {
            return Err(format!("monitor still running at {now:?}"));
        }
        // 1. Drain the monitor.
        let wake = loop {
            match m.poll(now) {
                MonitorAction::FetchInstance(fid) => {
                    if fetch.is_some() {
                        return Err("a second fetch while one is out".into());
                    }
                    log.fetches.push(now);
                    let rid = w.submit(&GetInstance::new(nid.clone()));
                    fetch = Some((rid, fid));
                }
                MonitorAction::Probe(p) => {
                    if p.follow_redirects || p.timeout != s.config.health.probe_timeout {
                        return Err(format!("bad probe {p:?}"));
                    }
                    log.probes.push((now, p.port));
                    if probe_rng.chance(s.hang_probe) {
                        continue; // never answered: the monitor must time it out
                    }
                    let rt = Duration::from_millis(probe_rng.range_inclusive(2, 300));
                    let result = match w.net.sim.probe_endpoint(&nid, p.port, now) {
                        EndpointProbe::Ready => ProbeResult::status(200, rt),
                        EndpointProbe::WarmingUp => ProbeResult::status(503, rt),
                        EndpointProbe::Unknown => ProbeResult::status(404, rt),
                        EndpointProbe::Down => {
                            ProbeResult::transport(TransportErrorKind::ConnectionRefused, rt)
                        }
                    };
                    if !m.on_probe_result(p.id, result, now) {
                        return Err("a fresh probe's answer was refused".into());
                    }
                }
                MonitorAction::Notify(n) => log.notes.push((now, *n)),
                MonitorAction::Finished(o) => {
                    if o.is_ready() {
                        log.ready_sim_status = Some(w.net.sim.instance_status(&nid));
                    }
                    log.finished.push((now, o));
                }
                MonitorAction::Wait(at) => break at,
            }
        };
        if !log.finished.is_empty() {
            if wake.is_some() {
                return Err(format!("finished but wants waking at {wake:?}"));
            }
            break;
        }
        let Some(mut until) = wake else {
            return Err("a running monitor with no wake-up time".into());
        };
        if let Some(d) = delete_at {
            until = until.min(d);
        }
        // 2. Let the network run until then, or until an answer comes.
        let mut wanted: Vec<RequestId> = fetch.iter().map(|f| f.0).collect();
        wanted.extend(start_req);
        w.run(until, &wanted);
        let now = w.now();
        // 3. Feed answers back.
        if let Some(rid) = start_req
            && let Some(c) = w.take(rid)
        {
            start_req = None;
            match Error::result_of(&StartInstance::new(nid.clone()), &c) {
                Ok(_) => {}
                Err(Error::Api(e)) if e.kind == ApiErrorKind::InvalidStateChange => {
                    rejected_at = Some(now);
                    m.on_start_rejected_invalid_state(now);
                }
                Err(e) => m.abort(format!("the start request failed: {e}"), now),
            }
        }
        if let Some((rid, fid)) = fetch
            && let Some(c) = w.take(rid)
        {
            fetch = None;
            let used = match Error::result_of(&GetInstance::new(nid.clone()), &c) {
                Ok(inst) => m.on_instance(fid, &inst, now),
                Err(e) => m.on_fetch_error(fid, FetchError::from_error(&e), now),
            };
            if !used && !m.is_finished() {
                return Err("the answer to the fetch out was refused".into());
            }
        }
        if let Some(d) = delete_at
            && now >= d
            && !m.is_finished()
        {
            delete_at = None;
            log.delete_sent = Some(now);
            let _ = w.submit(&DeleteInstance::new(nid.clone()));
        }
    }

    check(&s, &m, start, rejected_at, &log).map_err(|e| format!("{e}\n{s:#?}"))?;
    let outcome = log.finished[0].1.clone();
    // Finished for good.
    if m.poll(start + Duration::from_mins(1000)) != MonitorAction::Wait(None) {
        return Err("a finished monitor acted again".into());
    }
    Ok(Some((s, outcome, rejected_at.is_some())))
}

fn check(
    s: &Scenario,
    m: &Monitor,
    start: Instant,
    rejected_at: Option<Instant>,
    log: &Log,
) -> Result<(), String> {
    let c = &s.config;
    // Exactly one Finished, and one terminal notification, last.
    if log.finished.len() != 1 {
        return Err(format!("{} Finished actions", log.finished.len()));
    }
    let (end, outcome) = &log.finished[0];
    let terminal: Vec<_> = log
        .notes
        .iter()
        .filter(|(_, n)| is_terminal(n.status))
        .collect();
    if terminal.len() != 1 {
        return Err(format!("{} terminal notifications", terminal.len()));
    }
    let last = &log.notes.last().ok_or("no notifications")?.1;
    if !is_terminal(last.status) {
        return Err(format!("the last notification is {:?}", last.status));
    }
    use NotificationStatus as N;
    let consistent = matches!(
        (outcome, last.status),
        (Outcome::Ready { .. }, N::Ready | N::StartupCompleted)
            | (Outcome::Failed { .. }, N::Failed | N::StartupFailed)
            | (Outcome::TimedOut { .. }, N::Timeout)
    );
    if !consistent {
        return Err(format!(
            "outcome {outcome:?} but notification {:?}",
            last.status
        ));
    }
    if m.mode() == Mode::Start && log.notes[0].1.status != N::StartupInitiated {
        return Err("a start must announce startup_initiated first".into());
    }
    // Elapsed times and timestamps agree with virtual time.
    for (at, n) in &log.notes {
        let elapsed = at.saturating_duration_since(start);
        if n.elapsed_time.is_some_and(|e| e != elapsed.as_millis()) {
            return Err(format!("elapsedTime {:?} at {elapsed}", n.elapsed_time));
        }
        // The monitor's wall clock: its start's UnixTime plus the elapsed time.
        let start_unix = T0.saturating_add(start.saturating_duration_since(Instant::ZERO));
        let wall = start_unix.saturating_add(elapsed);
        if n.timestamp != wall.to_iso8601() {
            return Err(format!(
                "timestamp {} != {}",
                n.timestamp,
                wall.to_iso8601()
            ));
        }
        if n.startup_operation.is_none() {
            return Err("a notification without startupOperation".into());
        }
    }
    // Polls: never faster than configured.
    if log.fetches.first().is_some_and(|t| *t < start) {
        return Err("a fetch before the start".into());
    }
    if rejected_at.is_none()
        && m.mode() != Mode::Watch
        && log
            .fetches
            .first()
            .is_some_and(|t| *t < start + c.gap_before_poll(1))
    {
        return Err("the first poll came early".into());
    }
    for (k, pair) in log.fetches.windows(2).enumerate() {
        let n = k as u32 + 2;
        let gap = pair[1].saturating_duration_since(pair[0]);
        if gap < c.gap_before_poll(n) {
            return Err(format!(
                "poll {n} came {gap} after the previous; the configured gap is {}",
                c.gap_before_poll(n)
            ));
        }
    }
    // Timeouts respected.
    let timeout = match m.mode() {
        Mode::Create => c.create_timeout,
        Mode::Start => c.start_timeout,
        // The longer of the two until a start-up status showed the
        // operation (here always a create), then that one's.
        Mode::Watch => {
            let t = m.deadline().saturating_duration_since(start);
            let longer = c.create_timeout.max(c.start_timeout);
            let seen_creating = m.phase() != novitai_core::monitor::Phase::Initiated
                || log.notes.iter().any(|(_, n)| {
                    n.startup_operation
                        .as_ref()
                        .is_some_and(|o| o.phases.instance_starting.is_some())
                });
            if t != longer && t != c.create_timeout {
                return Err(format!("a watch deadline of {t}"));
            }
            if !seen_creating && t != longer {
                return Err(format!(
                    "a watch deadline of {t} before any start-up status"
                ));
            }
            t
        }
    };
    let running_at = m.health_deadline().map(|d| d - c.health.max_duration);
    match (outcome, running_at) {
        (Outcome::TimedOut { .. }, _) if *end != start + timeout => {
            return Err(format!(
                "timed out at {end:?}, deadline {:?}",
                start + timeout
            ));
        }
        (_, None) if *end > start + timeout => {
            return Err(format!("ended at {end:?} past the deadline"));
        }
        (_, Some(r)) if *end > r + c.health.max_duration || r > start + timeout => {
            return Err(format!("health phase from {r:?} ended at {end:?}"));
        }
        _ => {}
    }
    // Probes of one port: never two at once, at least the backoff's minimum apart.
    for port in [8888u16, 7860] {
        let times: Vec<_> = log
            .probes
            .iter()
            .filter(|p| p.1 == port)
            .map(|p| p.0)
            .collect();
        for pair in times.windows(2) {
            if pair[1].saturating_duration_since(pair[0]) < Duration::from_millis(500) {
                return Err(format!("port {port} probed twice within 500 ms"));
            }
        }
    }
    if s.no_ports && !log.probes.is_empty() {
        return Err("probes of an instance without HTTP ports".into());
    }
    let _ = PROBE_GRACE;
    // Outcomes agree with the simulator.
    let ready = outcome.is_ready();
    if ready && s.failing_image {
        return Err("an image that always fails became ready".into());
    }
    if ready && log.delete_sent.is_none() && log.ready_sim_status != Some(Some(Status::Running)) {
        return Err(format!(
            "ready while the sim says {:?}",
            log.ready_sim_status
        ));
    }
    if let Outcome::Failed {
        reason: FailReason::StatusError { .. },
        ..
    } = outcome
        && !s.failing_image
        && s.startup_failure == 0.0
    {
        return Err("a statusError nobody injected".into());
    }
    if s.failing_image
        && !matches!(
            outcome,
            Outcome::Failed {
                reason: FailReason::StatusError { .. }
                    | FailReason::Removed { .. }
                    | FailReason::NotFound
                    | FailReason::Aborted(_),
                ..
            } | Outcome::TimedOut { .. }
        )
    {
        return Err(format!("a failing image ended {outcome:?}"));
    }
    if s.clean() && !ready {
        return Err(format!("a clean start-up ended {outcome}"));
    }
    if s.slow_pull
        && !s.failing_image
        && s.startup_failure == 0.0
        && s.delete_after.is_none()
        && !matches!(outcome, Outcome::TimedOut { .. })
    {
        return Err(format!("a 25-minute pull ended {outcome}"));
    }
    if s.endless_warmup
        && !s.no_ports
        && !s.failing_image
        && s.startup_failure == 0.0
        && s.delete_after.is_none()
        && !s.slow_pull
        && matches!(outcome, Outcome::Ready { .. })
    {
        return Err("an application that never warms up became ready".into());
    }
    Ok(())
}

#[test]
fn monitors_over_many_seeds_end_once_poll_politely_and_respect_timeouts() {
    let seeds: u64 = std::env::var("NOVITAI_MONITOR_SEEDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(500)
        .max(500);
    let only: Option<u64> = std::env::var("NOVITAI_MONITOR_SEED")
        .ok()
        .and_then(|v| v.parse().ok());
    let mut ran = 0u64;
    let mut tally = std::collections::BTreeMap::<String, u32>::new();
    let mut seed = only.unwrap_or(0);
    // Seeds until `seeds` monitors ran (a seed whose setup failed under
    // faults runs none), or just the one replayed.
    while (only.is_none() && ran < seeds && seed < seeds * 2) || (only == Some(seed) && ran == 0) {
        match run_seed(seed) {
            Ok(Some((s, o, rejected))) => {
                ran += 1;
                let label = match &o {
                    Outcome::Ready { .. } => "ready".to_string(),
                    Outcome::TimedOut { .. } => "timed_out".to_string(),
                    Outcome::Failed { reason, .. } => {
                        let r = format!("{reason:?}");
                        format!("failed:{}", r.split([' ', '(', '{']).next().unwrap_or(""))
                    }
                };
                *tally.entry(format!("{:?}/{label}", s.kind)).or_default() += 1;
                if rejected {
                    *tally
                        .entry(format!("invalid_state_change/{label}"))
                        .or_default() += 1;
                }
            }
            Ok(None) => {
                *tally.entry("setup_failed".into()).or_default() += 1;
                if only.is_some() {
                    break;
                }
            }
            Err(e) => panic!(
                "seed {seed} failed: {e}\nreplay: NOVITAI_MONITOR_SEED={seed} cargo test -p novitai-core --features sim --test monitor_sim"
            ),
        }
        seed += 1;
    }
    eprintln!("monitor_sim: {ran} monitors ran; {tally:#?}");
    if only.is_none() {
        assert_eq!(ran, seeds, "too many seeds failed their setup: {tally:?}");
        for needed in [
            "Create/ready",
            "Start/ready",
            "StartAlreadyRunning/ready",
            "Watch/ready",
            "Watch/timed_out",
            "Create/timed_out",
            "invalid_state_change/ready",
        ] {
            assert!(tally.contains_key(needed), "no {needed} run: {tally:?}");
        }
        assert!(
            tally.keys().any(|k| k.contains("failed:StatusError")),
            "{tally:?}"
        );
        assert!(
            tally.keys().any(|k| k.contains("failed:HealthCheck")),
            "{tally:?}"
        );
        assert!(
            tally
                .keys()
                .any(|k| k.contains("failed:Removed") || k.contains("failed:NotFound")),
            "{tally:?}"
        );
    }
}
