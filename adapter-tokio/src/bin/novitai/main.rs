//! `novitai`: the command-line face of novitai.
//!
//! Today it has one subcommand, `demo`, the project's main job: the whole
//! client (engine, API layer, webhooks) against the embedded Novita simulator
//! with injected faults, in virtual time. No API key, no network.
#![forbid(unsafe_code)]

mod virtual_demo;

use clap::{Parser, Subcommand};

/// Drive the Novita GPU-instance API reliably.
#[derive(Parser, Debug)]
#[command(name = "novitai", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the client against the embedded simulator with injected faults:
    /// pick a product, create an instance, watch it start, health-check it,
    /// sign and verify webhooks, ride out an outage, and summarise.
    Demo {
        /// Seed for the simulator's faults and the client's jitter (same seed,
        /// same run).
        #[arg(long, default_value_t = 2026)]
        seed: u64,
        /// Fault plan: `demo`, `none`, or e.g. "5xx=0.05,429=0.02,reset=0.01,outage=120s+45s".
        #[arg(long, default_value = "demo")]
        faults: String,
        /// Print every request sent.
        #[arg(long, short)]
        verbose: bool,
    },
}

fn main() {
    let cli = Cli::parse();
    let code = match cli.command {
        Command::Demo {
            seed,
            faults,
            verbose,
        } => virtual_demo::run(seed, &faults, verbose),
    };
    std::process::exit(code);
}
