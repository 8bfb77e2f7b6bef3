//! What every example shares: a client for the real API when
//! `NOVITA_API_KEY` is set, otherwise one for the simulator started in this
//! process (its world sped up 60×, so instances start in seconds).
#![allow(dead_code)]

use novitai_tokio::Novita;
use novitai_tokio::core::config::Config;
use novitai_tokio::core::sim::FaultPlan;
use novitai_tokio::sim_server::{SimServer, SimServerConfig, SimServerHandle};

/// The key the in-process simulator accepts.
pub const SIM_KEY: &str = "sk_sim_examples";

/// A client, and the simulator behind it when there is no API key.
pub struct Setup {
    /// The client.
    pub novita: Novita,
    /// The in-process simulator (`None` against the real API).
    pub sim: Option<SimServerHandle>,
}

impl Setup {
    /// `true` against the in-process simulator.
    pub fn simulated(&self) -> bool {
        self.sim.is_some()
    }

    /// Stops the client and the simulator.
    pub async fn finish(self) {
        self.novita.shutdown().await;
        if let Some(sim) = self.sim {
            sim.shutdown().await;
        }
    }
}

/// The real API with `NOVITA_API_KEY` (configuration from the environment
/// and `.env`), else the simulator with `faults`.
pub async fn connect(faults: FaultPlan) -> Result<Setup, Box<dyn std::error::Error>> {
    if std::env::var("NOVITA_API_KEY").is_ok_and(|k| !k.trim().is_empty()) {
        println!("NOVITA_API_KEY is set: using the real Novita API");
        return Ok(Setup {
            novita: Novita::from_env()?,
            sim: None,
        });
    }
    let sim = simulator(faults, 60.0).await?;
    println!(
        "NOVITA_API_KEY is not set: using the simulator at {}",
        sim.base_url()
    );
    let novita = sim_client(&sim)?;
    Ok(Setup {
        novita,
        sim: Some(sim),
    })
}

/// The simulator on 127.0.0.1 with `faults`, its world `time_scale`× faster.
pub async fn simulator(
    faults: FaultPlan,
    time_scale: f64,
) -> Result<SimServerHandle, Box<dyn std::error::Error>> {
    Ok(SimServer::start(SimServerConfig {
        faults,
        api_key: SIM_KEY.to_owned(),
        time_scale,
        ..SimServerConfig::default()
    })
    .await?)
}

/// A client for `sim`.
pub fn sim_client(sim: &SimServerHandle) -> Result<Novita, Box<dyn std::error::Error>> {
    Ok(Novita::builder()
        .config(Config::new(SIM_KEY))
        .base_url(sim.base_url())
        .build()?)
}
