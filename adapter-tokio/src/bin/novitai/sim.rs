//! `novitai sim serve`: the Novita API simulator on 127.0.0.1 until Ctrl-C.

use std::io::Write;

use clap::Subcommand;
use novitai_tokio::core::sim::FaultPlan;
use novitai_tokio::sim_server::{SimServer, SimServerConfig};

use crate::exit::CliError;

/// The API key the simulator accepts unless `--api-key` says otherwise.
pub const DEFAULT_SIM_KEY: &str = "sk_sim_0123456789abcdef";

/// The simulator commands.
#[derive(Subcommand, Debug)]
pub enum SimCmd {
    /// Serve the simulated Novita API on 127.0.0.1 until Ctrl-C; prints the
    /// base URL to use with --base-url (or NOVITA_API_BASE_URL).
    Serve {
        /// The port (0: any free port).
        #[arg(long, default_value_t = 0)]
        port: u16,
        /// Seed of every random choice (faults, ids, timings).
        #[arg(long, default_value_t = 2026)]
        seed: u64,
        /// Fault plan: `none`, `demo`, or e.g. "5xx=0.05,429=0.02,reset=0.01,outage=120s+45s".
        #[arg(long, default_value = "none")]
        faults: String,
        /// How much faster than real time instances start (1 = real time).
        #[arg(long, default_value_t = 1.0)]
        time_scale: f64,
        /// The only API key accepted (`Authorization: Bearer <key>`).
        #[arg(long, default_value = DEFAULT_SIM_KEY)]
        api_key: String,
    },
}

/// `demo`, `none` or a plan in `FaultPlan::parse` syntax.
pub fn fault_plan(text: &str) -> Result<FaultPlan, CliError> {
    match text.trim() {
        "demo" => Ok(FaultPlan::default_demo()),
        "none" | "" => Ok(FaultPlan::none()),
        other => FaultPlan::parse(other).map_err(|e| {
            CliError::Config(format!(
                "  - --faults {other:?}: {e}; use `demo`, `none` or e.g. \"5xx=0.05,429=0.02\""
            ))
        }),
    }
}

pub async fn run(cmd: SimCmd) -> Result<(), CliError> {
    let SimCmd::Serve {
        port,
        seed,
        faults,
        time_scale,
        api_key,
    } = cmd;
    let server = SimServer::start(SimServerConfig {
        port,
        seed,
        faults: fault_plan(&faults)?,
        api_key: api_key.clone(),
        time_scale,
        ..SimServerConfig::default()
    })
    .await
    .map_err(|e| CliError::Config(format!("  - {e}")))?;
    // Written with errors ignored: a closed stdout must not stop the server.
    let mut out = std::io::stdout();
    let _ = writeln!(out, "Novita simulator listening at {}", server.base_url());
    let _ = writeln!(out, "  export NOVITA_API_BASE_URL={}", server.base_url());
    let _ = writeln!(out, "  export NOVITA_API_KEY={api_key}");
    let _ = writeln!(
        out,
        "  seed {seed}, faults {faults}, time scale {time_scale}; Ctrl-C to stop"
    );
    tokio::signal::ctrl_c()
        .await
        .map_err(|e| CliError::Other(format!("could not wait for Ctrl-C: {e}")))?;
    let stats = server.stats();
    server.shutdown().await;
    let _ = writeln!(
        out,
        "stopped after {} requests ({} served, faults {:?})",
        stats.requests, stats.served, stats.faults
    );
    Ok(())
}
