//! The start-up monitor makes no heap allocation per poll decision in steady
//! state: waiting, sending a fetch, taking a snapshot whose status did not
//! change.

use novitai_core::api::instances::{Instance, InstanceStatus};
use novitai_core::monitor::{Monitor, MonitorAction, MonitorConfig, Target};
use novitai_core::{Duration, Instant, Rng, UnixTime};

#[test]
fn polling_a_pulling_instance_allocates_nothing() {
    let config = MonitorConfig {
        create_timeout: Duration::from_mins(120),
        poll_interval: Duration::from_secs(10),
        ..MonitorConfig::default()
    };
    let mut m = Monitor::for_create(
        config,
        Target::new("0123456789abcdef"),
        Rng::new(3),
        Instant::ZERO,
        UnixTime::from_secs(1_700_000_000),
    )
    .unwrap();
    let pulling = Instance {
        status: InstanceStatus::Pulling,
        ..Instance::default()
    };
    let mut now = Instant::ZERO;
    let step = |m: &mut Monitor, now: &mut Instant| {
        let mut fetches = 0;
        loop {
            match m.poll(*now) {
                MonitorAction::FetchInstance(id) => {
                    fetches += 1;
                    assert!(m.on_instance(id, &pulling, *now));
                }
                MonitorAction::Wait(Some(at)) => {
                    *now = at;
                    return fetches;
                }
                other => panic!("unexpected {other:?}"),
            }
        }
    };
    // Warm up: the first snapshot records the status and the phase.
    for _ in 0..10 {
        step(&mut m, &mut now);
    }
    let mut fetches = 0;
    let counts = allocation_counter::measure(|| {
        for _ in 0..500 {
            fetches += step(&mut m, &mut now);
        }
    });
    assert!(fetches >= 400, "{fetches}");
    assert_eq!(counts.count_total, 0, "{counts:?}");
}
