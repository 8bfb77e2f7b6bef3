//! The simulator server, a client for it and the quickest monitor settings,
//! shared by the tests that run against the simulator over loopback.

use novitai_core::Duration;
use novitai_core::config::Config;
use novitai_core::monitor::{HealthConfig, MonitorConfig};
use novitai_core::retry::{Backoff, Jitter};
use novitai_tokio::Novita;
use novitai_tokio::sim_server::{SimServer, SimServerConfig, SimServerHandle};

/// The simulator on 127.0.0.1, accepting only `key`, 100× faster than real time.
pub async fn sim_server(seed: u64, key: &str) -> SimServerHandle {
    SimServer::start(SimServerConfig {
        seed,
        api_key: key.to_owned(),
        time_scale: 100.0,
        ..SimServerConfig::default()
    })
    .await
    .expect("the simulator starts")
}

/// A client of `server` with `key` and a fixed seed.
pub fn sim_client(server: &SimServerHandle, key: &str, seed: u64) -> Novita {
    Novita::builder()
        .config(Config::new(key))
        .base_url(server.base_url())
        .seed(seed)
        .build()
        .expect("client")
}

/// The smallest intervals the monitor allows: ten polls one second apart,
/// probes 100 ms apart.
pub fn quick_monitor() -> MonitorConfig {
    MonitorConfig {
        poll_interval: Duration::from_secs(10),
        fast_polls: 10,
        fast_poll_interval: Duration::from_secs(1),
        create_timeout: Duration::from_mins(1),
        start_timeout: Duration::from_secs(30),
        health: HealthConfig {
            probe_timeout: Duration::from_secs(2),
            tries_per_round: 10,
            backoff: Backoff::Constant {
                delay: Duration::from_millis(100),
            },
            jitter: Jitter::None,
            round_interval: Duration::from_secs(1),
            max_duration: Duration::from_secs(30),
        },
    }
}
