//! The start-up `Monitor` (create, start and watch) under an arbitrary valid
//! configuration, fed an arbitrary sequence of inputs: instance snapshots
//! (every status, unknown and oddly spelled ones, missing or odd ports and
//! endpoints, `statusError`), fetch errors, probe answers for live, stale and
//! made-up probes, a refused start, aborts, and time steps that go forwards,
//! backwards or to the wake-up it asked for. After every step:
//!
//! - `poll` reaches `Wait` (bounded actions per step) and never asks to be
//!   woken at or before its own clock, nor after its deadline;
//!   `Wait(None)` exactly when it has finished;
//! - at most one fetch is out; fetches are never closer together than the
//!   configured gaps, and the first one comes one gap after the start (at
//!   once when watching, or on a refused start);
//! - probes go out only in the health phase, with the configured timeout
//!   and redirects off;
//! - at most one terminal notification, followed at once by the one
//!   `Finished` (with an agreeing outcome), then nothing ever again;
//! - notifications carry the elapsed time and timestamp of the monitor's
//!   clock;
//! - it is never still running past its deadline (the instance timeout,
//!   or the health phase's cap), and those never exceed the configured
//!   timeouts.
//!
//! At the end, a poll at start + timeout + `health.max_duration` has finished
//! it. An out-of-range configuration is refused with an error, never a panic.
#![no_main]

use arbitrary::{Arbitrary, Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use novitai_core::api::instances::{Instance, InstanceStatus, PortMapping, StatusError};
use novitai_core::monitor::{
    FetchError, FetchId, HealthConfig, Mode, Monitor, MonitorAction, MonitorConfig, Outcome,
    ProbeId, ProbeResult, Target,
};
use novitai_core::retry::{Backoff, Jitter, TransportErrorKind};
use novitai_core::webhook::payload::NotificationStatus;
use novitai_core::{Duration, Instant, Rng, UnixTime};

const STATUSES: &[&str] = &[
    "toCreate",
    "creating",
    "pulling",
    "running",
    "toStart",
    "starting",
    "toStop",
    "stopping",
    "exited",
    "toRestart",
    "restarting",
    "toRemove",
    "removing",
    "removed",
    "toMigrate",
    "migrating",
    "RUNNING",
    " running ",
    "",
    "warming",
];

const ENDPOINTS: &[&str] = &[
    "https://abc-8888.proxy.example",
    "1.2.3.4:30022",
    "http://10.0.0.1:7860/path?q=1",
    "",
    "   ",
    "ftp://x",
];

const KINDS: &[&str] = &["http", "tcp", " TCP ", "https", "udp", ""];

const MESSAGES: &[&str] = &["", "  ", "image pull failed", "OOM"];

#[derive(Debug)]
struct Port(PortMapping);

impl<'a> Arbitrary<'a> for Port {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        let port = match u.int_in_range(0..=3)? {
            0 => None,
            1 => Some(u.arbitrary::<u64>()?),
            _ => Some(u64::from(*u.choose(&[22u16, 80, 7860, 8888, 65535, 0])?)),
        };
        let endpoint = match u.int_in_range(0..=3)? {
            0 => None,
            1 => Some(u.arbitrary::<String>()?),
            _ => Some((*u.choose(ENDPOINTS)?).to_owned()),
        };
        let kind = match u.int_in_range(0..=3)? {
            0 => None,
            1 => Some(u.arbitrary::<String>()?),
            _ => Some((*u.choose(KINDS)?).to_owned()),
        };
        Ok(Port(PortMapping {
            port,
            endpoint,
            kind,
        }))
    }
}

#[derive(Debug)]
struct Snapshot(Instance);

impl<'a> Arbitrary<'a> for Snapshot {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        let status = if u.ratio(1, 8)? {
            u.arbitrary::<String>()?
        } else {
            (*u.choose(STATUSES)?).to_owned()
        };
        let n = u.int_in_range(0..=3)?;
        let mut port_mappings = Vec::new();
        for _ in 0..n {
            port_mappings.push(u.arbitrary::<Port>()?.0);
        }
        let status_error = if u.ratio(1, 10)? {
            Some(StatusError {
                state: u.arbitrary()?,
                message: if u.arbitrary()? {
                    Some((*u.choose(MESSAGES)?).to_owned())
                } else {
                    u.arbitrary()?
                },
            })
        } else {
            None
        };
        Ok(Snapshot(Instance {
            id: "0123456789abcdef".to_owned(),
            status: InstanceStatus::from_wire(&status),
            status_error,
            port_mappings,
            ..Instance::default()
        }))
    }
}

#[derive(Debug, Arbitrary)]
enum Answer {
    Status(u16),
    /// One of the statuses a probe usually gets.
    Common(u8),
    Transport(TransportErrorKind),
}

#[derive(Debug, Arbitrary)]
enum Step {
    /// Answer the fetch out (or, with `stale`, a fetch not out).
    Snapshot {
        snapshot: Snapshot,
        stale: Option<u64>,
        dt: i16,
    },
    FetchError {
        kind: u8,
        dt: i16,
    },
    /// Answer the `which`-th probe seen (recent ones more often; maybe one
    /// already answered or given up on), or a probe never sent.
    Probe {
        which: u16,
        made_up: bool,
        answer: Answer,
        response_ms: u32,
        dt: i16,
    },
    StartRejected {
        dt: i16,
    },
    Abort {
        dt: i16,
    },
    /// Time passes (or goes back) by this many ms.
    Tick {
        dt: i32,
    },
    /// The wake-up it asked for, `late` ms late.
    Wake {
        late: u16,
    },
}

fn secs(u: &mut Unstructured<'_>, lo: u64, hi: u64) -> Result<Duration> {
    Ok(Duration::from_secs(u.int_in_range(lo..=hi)?))
}

fn ms(u: &mut Unstructured<'_>, lo: u64, hi: u64) -> Result<Duration> {
    Ok(Duration::from_millis(u.int_in_range(lo..=hi)?))
}

/// A configuration inside the documented ranges.
fn config(u: &mut Unstructured<'_>) -> Result<MonitorConfig> {
    let poll_interval = secs(u, 10, 300)?;
    let base = ms(u, 1, 60_000)?;
    let cap = base.saturating_add(ms(u, 0, 240_000)?);
    let backoff = match u.int_in_range(0..=2)? {
        0 => Backoff::Exponential {
            base,
            factor: *u.choose(&[1.0, 1.5, 2.0, 10.0])?,
            cap,
        },
        1 => Backoff::Linear {
            base,
            step: ms(u, 0, 60_000)?,
            cap,
        },
        _ => Backoff::Constant { delay: base },
    };
    Ok(MonitorConfig {
        poll_interval,
        fast_polls: u.int_in_range(0..=10)?,
        fast_poll_interval: ms(u, 1_000, poll_interval.as_millis())?,
        create_timeout: secs(u, 60, 7_200)?,
        start_timeout: secs(u, 30, 3_600)?,
        health: HealthConfig {
            probe_timeout: secs(u, 1, 60)?,
            tries_per_round: u.int_in_range(1..=10)?,
            backoff,
            jitter: *u.choose(&[
                Jitter::None,
                Jitter::Full,
                Jitter::Equal,
                Jitter::Decorrelated,
            ])?,
            round_interval: secs(u, 1, 300)?,
            max_duration: secs(u, 10, 3_600)?,
        },
    })
}

/// Any configuration, in range or not (a few fields pushed out).
fn any_config(u: &mut Unstructured<'_>) -> Result<MonitorConfig> {
    let mut c = config(u)?;
    if u.ratio(1, 16)? {
        match u.int_in_range(0..=5)? {
            0 => c.poll_interval = ms(u, 0, 10_000_000)?,
            1 => c.fast_polls = u.arbitrary()?,
            2 => c.fast_poll_interval = ms(u, 0, 10_000_000)?,
            3 => c.start_timeout = Duration::from_millis(u.arbitrary()?),
            4 => c.health.tries_per_round = u.arbitrary()?,
            _ => {
                c.health.backoff = Backoff::Exponential {
                    base: ms(u, 0, 100_000)?,
                    factor: u.arbitrary()?,
                    cap: ms(u, 0, 1_000_000)?,
                }
            }
        }
    }
    Ok(c)
}

#[derive(Debug)]
struct Case {
    mode: Mode,
    config: MonitorConfig,
    seed: u64,
    start: u64,
    start_unix: u64,
    steps: Vec<Step>,
}

impl<'a> Arbitrary<'a> for Case {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        Ok(Case {
            mode: *u.choose(&[Mode::Create, Mode::Start, Mode::Watch])?,
            config: any_config(u)?,
            seed: u.arbitrary()?,
            start: u.int_in_range(0..=u64::MAX / 4)?,
            start_unix: u.int_in_range(0..=4_000_000_000)?,
            steps: u.arbitrary()?,
        })
    }
}

fn terminal(s: NotificationStatus) -> bool {
    use NotificationStatus as N;
    matches!(
        s,
        N::Ready | N::StartupCompleted | N::Failed | N::StartupFailed | N::Timeout
    )
}

struct Harness {
    m: Monitor,
    config: MonitorConfig,
    start: Instant,
    start_unix: UnixTime,
    /// The caller's clock (may go backwards).
    now: Instant,
    /// The monitor's clock: the latest `now` it was given.
    clock: Instant,
    fetch_out: Option<FetchId>,
    fetches: Vec<Instant>,
    probes: Vec<ProbeId>,
    /// A start was refused before the first fetch (it may come at once).
    rejected_early: bool,
    terminals: u32,
    last_terminal: Option<NotificationStatus>,
    finished: Option<Outcome>,
    wake: Option<Instant>,
    /// The longest the instance timeout can be for this mode.
    timeout: Duration,
}

impl Harness {
    fn advance(&mut self, dt: i64) -> Instant {
        self.now = if dt < 0 {
            self.now
                .saturating_sub(Duration::from_millis(dt.unsigned_abs()))
        } else {
            self.now.saturating_add(Duration::from_millis(dt as u64))
        };
        self.clock = self.clock.max(self.now);
        self.now
    }

    /// Polls until `Wait`, checking every action.
    fn drain(&mut self) {
        let now = self.now;
        let mut n = 0u32;
        let wake = loop {
            n += 1;
            assert!(n < 10_000, "poll does not reach Wait");
            let action = self.m.poll(now);
            if self.finished.is_some() {
                assert!(
                    matches!(action, MonitorAction::Wait(None)),
                    "{action:?} after Finished"
                );
            }
            match action {
                MonitorAction::FetchInstance(id) => {
                    assert!(self.fetch_out.is_none(), "two fetches out");
                    assert!(self.last_terminal.is_none(), "a fetch after the end");
                    let first_at = match (self.m.mode(), self.rejected_early) {
                        (Mode::Watch, _) | (Mode::Start, true) => self.start,
                        _ => self.start.saturating_add(self.config.gap_before_poll(1)),
                    };
                    match self.fetches.last() {
                        None => assert!(
                            self.clock >= first_at,
                            "the first fetch at {:?}, before {first_at:?}",
                            self.clock
                        ),
                        Some(prev) => {
                            let k = u32::try_from(self.fetches.len()).unwrap_or(u32::MAX);
                            let gap = self.clock.saturating_duration_since(*prev);
                            let want = self.config.gap_before_poll(k.saturating_add(1));
                            assert!(gap >= want, "poll {} after {gap}; the gap is {want}", k + 1);
                        }
                    }
                    self.fetches.push(self.clock);
                    self.fetch_out = Some(id);
                }
                MonitorAction::Probe(p) => {
                    assert!(self.last_terminal.is_none(), "a probe after the end");
                    assert!(
                        self.m.health_deadline().is_some(),
                        "a probe outside the health phase"
                    );
                    assert!(!p.follow_redirects);
                    assert_eq!(p.timeout, self.config.health.probe_timeout);
                    assert!(!self.probes.contains(&p.id), "probe id reused");
                    self.probes.push(p.id);
                }
                MonitorAction::Notify(note) => {
                    assert!(
                        self.last_terminal.is_none(),
                        "{:?} after the terminal notification",
                        note.status
                    );
                    let elapsed = self.clock.saturating_duration_since(self.start);
                    if let Some(e) = note.elapsed_time {
                        assert_eq!(e, elapsed.as_millis(), "elapsedTime");
                    }
                    assert_eq!(
                        note.timestamp,
                        self.start_unix.saturating_add(elapsed).to_iso8601()
                    );
                    if terminal(note.status) {
                        self.terminals += 1;
                        self.last_terminal = Some(note.status);
                    }
                }
                MonitorAction::Finished(outcome) => {
                    assert_eq!(
                        self.terminals, 1,
                        "Finished without one terminal notification"
                    );
                    use NotificationStatus as N;
                    let agrees = matches!(
                        (&outcome, self.last_terminal),
                        (Outcome::Ready { .. }, Some(N::Ready | N::StartupCompleted))
                            | (Outcome::Failed { .. }, Some(N::Failed | N::StartupFailed))
                            | (Outcome::TimedOut { .. }, Some(N::Timeout))
                    );
                    assert!(agrees, "{outcome:?} after {:?}", self.last_terminal);
                    if let Outcome::TimedOut { elapsed, .. } = &outcome {
                        assert!(
                            self.m.health_deadline().is_none(),
                            "timed out in the health phase"
                        );
                        assert!(
                            self.start.saturating_add(*elapsed) >= self.m.deadline(),
                            "timed out before the deadline"
                        );
                    }
                    self.finished = Some(outcome);
                }
                MonitorAction::Wait(at) => break at,
            }
        };
        assert_eq!(
            self.terminals > 0,
            self.finished.is_some(),
            "terminal notification without Finished"
        );
        assert_eq!(
            wake.is_none(),
            self.m.is_finished(),
            "Wait({wake:?}) with is_finished {}",
            self.m.is_finished()
        );
        assert_eq!(self.m.is_finished(), self.finished.is_some());
        if !self.m.is_finished() {
            // Not running past its deadline, which is within the configured
            // timeouts.
            let limit = self.m.health_deadline().unwrap_or(self.m.deadline());
            assert!(
                self.clock < limit,
                "still running at {:?}, deadline {limit:?}",
                self.clock
            );
            assert!(self.m.deadline() <= self.start.saturating_add(self.timeout));
            if let Some(h) = self.m.health_deadline() {
                let cap = self
                    .start
                    .saturating_add(self.timeout)
                    .saturating_add(self.config.health.max_duration);
                assert!(h <= cap, "health deadline {h:?} past {cap:?}");
            }
            if let Some(at) = wake {
                assert!(
                    at > self.clock,
                    "asks to be woken at {at:?}, now {:?}",
                    self.clock
                );
                assert!(at <= limit, "sleeps to {at:?}, past its deadline {limit:?}");
            }
        }
        self.wake = wake;
    }

    fn step(&mut self, step: Step) {
        let was_finished = self.m.is_finished();
        match step {
            Step::Snapshot {
                snapshot,
                stale,
                dt,
            } => {
                let now = self.advance(i64::from(dt));
                match (stale, self.fetch_out) {
                    (Some(n), out) if out != Some(FetchId(n)) => {
                        assert!(
                            !self.m.on_instance(FetchId(n), &snapshot.0, now),
                            "a stale answer taken"
                        );
                    }
                    (_, Some(id)) => {
                        self.fetch_out = None;
                        let used = self.m.on_instance(id, &snapshot.0, now);
                        if was_finished {
                            assert!(!used, "an answer taken after the end");
                        } else {
                            // Refused only if its deadline passed at `now`.
                            assert!(
                                used || self.m.is_finished(),
                                "the answer to the fetch out refused"
                            );
                        }
                    }
                    _ => {}
                }
            }
            Step::FetchError { kind, dt } => {
                let now = self.advance(i64::from(dt));
                if let Some(id) = self.fetch_out.take() {
                    let e = match kind % 3 {
                        0 => FetchError::NotFound,
                        1 => FetchError::Fatal("HTTP 401".to_owned()),
                        _ => FetchError::Transient("HTTP 503".to_owned()),
                    };
                    let used = self.m.on_fetch_error(id, e, now);
                    if was_finished {
                        assert!(!used, "an error taken after the end");
                    } else {
                        assert!(
                            used || self.m.is_finished(),
                            "the error of the fetch out refused"
                        );
                    }
                }
            }
            Step::Probe {
                which,
                made_up,
                answer,
                response_ms,
                dt,
            } => {
                let now = self.advance(i64::from(dt));
                let result = match answer {
                    Answer::Status(s) => {
                        ProbeResult::status(s, Duration::from_millis(response_ms.into()))
                    }
                    Answer::Common(c) => ProbeResult::status(
                        [200, 204, 301, 302, 404, 500, 502, 503][usize::from(c) % 8],
                        Duration::from_millis(response_ms.into()),
                    ),
                    Answer::Transport(k) => {
                        ProbeResult::transport(k, Duration::from_millis(response_ms.into()))
                    }
                };
                if made_up || self.probes.is_empty() {
                    let id = ProbeId(u64::from(which).saturating_add(1_000_000));
                    assert!(
                        !self.m.on_probe_result(id, result, now),
                        "a made-up probe taken"
                    );
                } else {
                    let n = self.probes.len();
                    let id = self.probes[n - 1 - usize::from(which) % n];
                    let used = self.m.on_probe_result(id, result, now);
                    assert!(
                        !(used && was_finished),
                        "a probe answer taken after the end"
                    );
                }
            }
            Step::StartRejected { dt } => {
                let now = self.advance(i64::from(dt));
                if self.fetches.is_empty() && self.m.mode() == Mode::Start {
                    self.rejected_early = true;
                }
                self.m.on_start_rejected_invalid_state(now);
            }
            Step::Abort { dt } => {
                let now = self.advance(i64::from(dt));
                self.m.abort("gave up", now);
            }
            Step::Tick { dt } => {
                self.advance(i64::from(dt));
            }
            Step::Wake { late } => {
                let Some(at) = self.wake else { return };
                self.now = self
                    .now
                    .max(at)
                    .saturating_add(Duration::from_millis(late.into()));
                self.clock = self.clock.max(self.now);
            }
        }
        self.drain();
    }
}

fuzz_target!(|case: Case| {
    let target = Target::new("0123456789abcdef").instance_id("fuzz");
    let start = Instant::from_millis(case.start);
    let start_unix = UnixTime::from_secs(case.start_unix);
    let rng = Rng::new(case.seed);
    let made = match case.mode {
        Mode::Create => Monitor::for_create(case.config, target, rng, start, start_unix),
        Mode::Start => Monitor::for_start(case.config, target, rng, start, start_unix),
        Mode::Watch => Monitor::for_watch(case.config, target, rng, start, start_unix),
    };
    let m = match made {
        Ok(m) => m,
        Err(e) => {
            assert!(case.config.validate().is_err());
            assert!(!e.to_string().is_empty());
            return;
        }
    };
    let c = case.config;
    let timeout = match case.mode {
        Mode::Create => c.create_timeout,
        Mode::Start => c.start_timeout,
        Mode::Watch => c.create_timeout.max(c.start_timeout),
    };
    let mut h = Harness {
        m,
        config: c,
        start,
        start_unix,
        now: start,
        clock: start,
        fetch_out: None,
        fetches: Vec::new(),
        probes: Vec::new(),
        rejected_early: false,
        terminals: 0,
        last_terminal: None,
        finished: None,
        wake: None,
        timeout,
    };
    h.drain();
    for step in case.steps {
        h.step(step);
    }
    // However it was fed, it is over by its longest possible run.
    let end = start
        .saturating_add(timeout)
        .saturating_add(c.health.max_duration);
    h.now = h.now.max(end);
    h.clock = h.clock.max(h.now);
    h.drain();
    assert!(h.m.is_finished(), "still running at {end:?}");
    assert!(h.finished.is_some());
});
