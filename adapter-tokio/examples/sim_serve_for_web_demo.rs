//! Serves the core's Novita API simulator on 127.0.0.1 for the web demo's
//! real-network mode and its browser test (`scripts/web-demo.sh`,
//! `scripts/web-demo-test.sh`), until the process is killed.
//!
//! ```text
//! cargo run -p novitai-tokio --features sim --example sim_serve_for_web_demo -- \
//!     [--port 0] [--faults none|demo|"5xx=0.05,..."] [--seed 1] [--api-key sk_sim_web_demo]
//! ```
//!
//! Prints one line `novitai sim server: <base url>` (the URL a client takes as
//! its base URL; CORS is open, so the page may live on any origin) once it
//! listens, and nothing else on stdout.

use std::io::Write as _;

use novitai_tokio::core::sim::FaultPlan;
use novitai_tokio::sim_server::{SimServer, SimServerConfig};

fn usage(problem: &str) -> ! {
    eprintln!(
        "{problem}\nusage: sim_serve_for_web_demo [--port P] [--faults PLAN] [--seed N] [--api-key KEY]"
    );
    std::process::exit(2)
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let mut config = SimServerConfig {
        api_key: String::from("sk_sim_web_demo"),
        seed: 1,
        // Instances start in seconds, not minutes; latencies stay real.
        time_scale: 60.0,
        ..SimServerConfig::default()
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let Some(value) = args.next() else {
            usage(&format!("{flag} needs a value"))
        };
        match flag.as_str() {
            "--port" => {
                config.port = value
                    .parse()
                    .unwrap_or_else(|_| usage(&format!("--port {value}: not a port number")));
            }
            "--seed" => {
                config.seed = value
                    .parse()
                    .unwrap_or_else(|_| usage(&format!("--seed {value}: not a whole number")));
            }
            "--faults" => {
                config.faults = FaultPlan::parse(&value)
                    .unwrap_or_else(|e| usage(&format!("--faults {value}: {e}")));
            }
            "--api-key" => config.api_key = value,
            other => usage(&format!("unknown flag {other}")),
        }
    }
    let server = match SimServer::start(config).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("the simulator server did not start: {e}");
            std::process::exit(1)
        }
    };
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "novitai sim server: {}", server.base_url());
    let _ = out.flush();
    drop(out);
    // Serve until killed.
    std::future::pending::<()>().await;
    drop(server);
}
