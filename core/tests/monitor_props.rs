//! Properties of the start-up monitor (create, start and watch) under
//! arbitrary inputs: whatever the snapshots, errors, probe answers and clock,
//! it never panics, ends at most once (with exactly one terminal
//! notification, then `Finished`, then nothing), never polls faster than
//! configured and never outlives its timeouts.

use novitai_core::api::instances::{Instance, InstanceStatus, PortMapping, StatusError};
use novitai_core::monitor::{
    FetchError, FetchId, Monitor, MonitorAction, MonitorConfig, ProbeId, ProbeResult, Target,
};
use novitai_core::retry::TransportErrorKind;
use novitai_core::webhook::payload::NotificationStatus;
use novitai_core::{Duration, Instant, Rng, UnixTime};
use proptest::prelude::*;

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
    "migrating",
    "weird",
];

#[derive(Clone, Debug)]
enum Input {
    /// Answer the fetch out (if any) with this status, ports and maybe an error.
    Snapshot {
        status: usize,
        ports: u8,
        error: bool,
    },
    FetchError(u8),
    /// Answer the n-th probe seen (maybe stale) with this status (0 = refused).
    Probe {
        nth: usize,
        status: u16,
    },
    Rejected,
    Abort,
    /// Let time pass to the monitor's wake-up plus this many ms (or go back).
    Sleep(i64),
    /// A stale or made-up fetch id.
    BogusFetch(u64),
}

fn input() -> impl Strategy<Value = Input> {
    prop_oneof![
        6 => (0..STATUSES.len(), 0u8..3, prop::bool::weighted(0.05))
            .prop_map(|(status, ports, error)| Input::Snapshot { status, ports, error }),
        2 => (0u8..3).prop_map(Input::FetchError),
        4 => (0usize..8, prop_oneof![Just(0u16), Just(200), Just(302), Just(404), Just(503)])
            .prop_map(|(nth, status)| Input::Probe { nth, status }),
        1 => Just(Input::Rejected),
        1 => Just(Input::Abort),
        6 => (-5_000i64..60_000).prop_map(Input::Sleep),
        1 => any::<u64>().prop_map(Input::BogusFetch),
    ]
}

fn snapshot(status: usize, ports: u8, error: bool) -> Instance {
    let ports = (0..ports)
        .map(|i| PortMapping {
            port: Some(8000 + u64::from(i)),
            endpoint: Some(format!("https://p{i}.example")),
            kind: Some("http".into()),
        })
        .collect();
    Instance {
        status: InstanceStatus::from_wire(STATUSES[status % STATUSES.len()]),
        status_error: error.then(|| StatusError {
            state: None,
            message: Some("boom".into()),
        }),
        port_mappings: ports,
        ..Instance::default()
    }
}

fn terminal(s: NotificationStatus) -> bool {
    use NotificationStatus as N;
    matches!(
        s,
        N::Ready | N::StartupCompleted | N::Failed | N::StartupFailed | N::Timeout
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn any_input_sequence_keeps_the_contract(
        mode in 0u8..3,
        seed in any::<u64>(),
        poll_s in 10u64..60,
        fast in 0u32..4,
        inputs in prop::collection::vec(input(), 1..120),
    ) {
        let config = MonitorConfig {
            poll_interval: Duration::from_secs(poll_s),
            fast_polls: fast,
            ..MonitorConfig::default()
        };
        let t = Target::new("abc");
        let t0 = Instant::from_millis(1_000_000);
        let u0 = UnixTime::from_secs(1_700_000_000);
        let mut m = match mode {
            0 => Monitor::for_create(config, t, Rng::new(seed), t0, u0),
            1 => Monitor::for_start(config, t, Rng::new(seed), t0, u0),
            _ => Monitor::for_watch(config, t, Rng::new(seed), t0, u0),
        }.unwrap();
        let mut now = t0;
        let mut clock = t0; // the monitor's view: never backwards
        let mut fetch: Option<FetchId> = None;
        let mut fetch_times: Vec<Instant> = Vec::new();
        let mut probes: Vec<ProbeId> = Vec::new();
        let mut terminals = 0;
        let mut finished = 0;
        let mut after_finish = 0;
        let steps = inputs.into_iter().map(Some).chain(std::iter::once(None));
        for inp in steps {
            // Drain.
            let wake = loop {
                let action = m.poll(now);
                if finished > 0 && !matches!(action, MonitorAction::Wait(_)) {
                    after_finish += 1;
                }
                match action {
                    MonitorAction::FetchInstance(id) => {
                        prop_assert!(fetch.is_none(), "two fetches out");
                        prop_assert_eq!(finished, 0);
                        fetch = Some(id);
                        fetch_times.push(clock);
                    }
                    MonitorAction::Probe(p) => {
                        prop_assert_eq!(finished, 0);
                        prop_assert!(!p.follow_redirects);
                        probes.push(p.id);
                    }
                    MonitorAction::Notify(n) => {
                        prop_assert_eq!(finished, 0, "a notification after Finished");
                        if terminal(n.status) { terminals += 1; }
                    }
                    MonitorAction::Finished(_) => {
                        finished += 1;
                        prop_assert_eq!(terminals, 1);
                    }
                    MonitorAction::Wait(at) => break at,
                }
            };
            prop_assert!(finished <= 1);
            prop_assert_eq!(wake.is_none(), finished == 1 || m.is_finished());
            // Never beyond its timeouts.
            let limit = m.health_deadline().unwrap_or(m.deadline());
            prop_assert!(clock <= limit || m.is_finished());
            let Some(inp) = inp else { break };
            match inp {
                Input::Snapshot { status, ports, error } => {
                    if let Some(id) = fetch.take() {
                        m.on_instance(id, &snapshot(status, ports, error), now);
                    }
                }
                Input::FetchError(k) => {
                    if let Some(id) = fetch.take() {
                        let e = match k {
                            0 => FetchError::NotFound,
                            1 => FetchError::Fatal("401".into()),
                            _ => FetchError::Transient("503".into()),
                        };
                        m.on_fetch_error(id, e, now);
                    }
                }
                Input::Probe { nth, status } => {
                    if let Some(id) = probes.get(nth % probes.len().max(1)) {
                        let r = if status == 0 {
                            ProbeResult::transport(TransportErrorKind::ConnectionRefused, Duration::ZERO)
                        } else {
                            ProbeResult::status(status, Duration::from_millis(5))
                        };
                        m.on_probe_result(*id, r, now);
                    }
                }
                Input::Rejected => m.on_start_rejected_invalid_state(now),
                Input::Abort => m.abort("gave up", now),
                Input::Sleep(ms) => {
                    if ms < 0 {
                        now = now.saturating_sub(Duration::from_millis(ms.unsigned_abs()));
                    } else if let Some(at) = wake {
                        now = at.saturating_add(Duration::from_millis(ms as u64 % 3)).max(now);
                    } else {
                        now = now.saturating_add(Duration::from_millis(ms as u64));
                    }
                }
                Input::BogusFetch(n) => {
                    prop_assert!(fetch == Some(FetchId(n)) || !m.on_instance(FetchId(n), &snapshot(3, 0, false), now));
                }
            }
            clock = clock.max(now);
        }
        prop_assert_eq!(after_finish, 0);
        // Polls: never faster than configured.
        for (k, w) in fetch_times.windows(2).enumerate() {
            let gap = w[1].saturating_duration_since(w[0]);
            let n = k as u32 + 2;
            prop_assert!(gap >= config.gap_before_poll(n), "poll {} after {}", n, gap);
        }
        if m.is_finished() {
            prop_assert_eq!(terminals, 1);
            prop_assert_eq!(m.poll(now.saturating_add(Duration::from_mins(999))), MonitorAction::Wait(None));
        } else {
            prop_assert_eq!(terminals, 0);
        }
    }
}
