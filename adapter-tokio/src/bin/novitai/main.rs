//! `novitai`: the command-line face of novitai.
//!
//! API commands (`products`, `optimal`, `clusters`, `templates`,
//! `instances ...`, `status`) use the typed [`novitai_tokio::Novita`] client
//! configured from the environment and `.env`; `webhook` signs, verifies and
//! receives Standard Webhooks; `sim serve` runs the Novita API simulator on
//! 127.0.0.1; `demo` is the project's main job (see README.md).
#![forbid(unsafe_code)]

mod api;
mod common;
mod demo;
mod events;
mod exit;
mod instances;
mod sim;
mod virtual_demo;
mod wait;
mod webhook;

use clap::{Parser, Subcommand};

use common::Global;
use exit::CliError;

/// Drive the Novita GPU-instance API reliably.
#[derive(Parser, Debug)]
#[command(name = "novitai", version, about, after_help = exit::HELP)]
struct Cli {
    #[command(flatten)]
    global: Global,
    /// Print the client's log (every request, retry and breaker change) on stderr.
    #[arg(long, short, global = true)]
    verbose: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// List GPU products, with prices and regions.
    Products(api::ProductsArgs),
    /// The cheapest deployable spot offer for a product name, with region fallback.
    Optimal(api::OptimalArgs),
    /// List clusters (regions).
    Clusters,
    /// List templates.
    Templates(api::TemplatesArgs),
    /// Manage instances.
    #[command(subcommand)]
    Instances(instances::InstancesCmd),
    /// Check the API and show the client's state (breaker, queue, cache).
    Status,
    /// Sign, verify or receive Standard Webhooks.
    #[command(subcommand)]
    Webhook(webhook::WebhookCmd),
    /// Run the Novita API simulator.
    #[command(subcommand)]
    Sim(sim::SimCmd),
    /// The main job: the client against the simulator over real HTTP with
    /// injected faults — pick a product, create an instance, watch it start,
    /// health-check it, deliver signed webhooks to a verifying receiver, ride
    /// out an outage, and summarise. No API key, no network.
    Demo {
        /// Seed for the simulator's faults and the client's jitter.
        #[arg(long, default_value_t = 2026)]
        seed: u64,
        /// Fault plan: `demo`, `none`, or e.g. "5xx=0.05,429=0.02,reset=0.01,outage=120s+45s".
        #[arg(long, default_value = "demo")]
        faults: String,
        /// Run in virtual time, without sockets (replays exactly from its seed).
        #[arg(long = "virtual", conflicts_with = "live")]
        virtual_time: bool,
        /// Run against the real Novita API (needs NOVITA_API_KEY; creates and
        /// deletes a real instance).
        #[arg(long)]
        live: bool,
    },
}

fn main() {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // --help and --version go to stdout and exit 0; a bad argument
            // is exit code 1 (2 is kept for configuration errors).
            let _ = e.print();
            std::process::exit(if e.use_stderr() {
                exit::OTHER
            } else {
                exit::OK
            });
        }
    };
    if let Command::Demo {
        seed,
        faults,
        virtual_time: true,
        ..
    } = &cli.command
    {
        std::process::exit(virtual_demo::run(*seed, faults, cli.verbose));
    }
    events::install(cli.verbose);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: could not start the async runtime: {e}");
            std::process::exit(exit::OTHER);
        }
    };
    let result = runtime.block_on(dispatch(cli.global, cli.command));
    // Background tasks (servers, drivers) must not keep the process alive.
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    let code = match result {
        Ok(()) => exit::OK,
        Err(e) => {
            eprintln!("error: {e}");
            e.code()
        }
    };
    std::process::exit(code);
}

async fn dispatch(g: Global, command: Command) -> Result<(), CliError> {
    match command {
        Command::Products(a) => api::products(&g, a).await,
        Command::Optimal(a) => api::optimal(&g, a).await,
        Command::Clusters => api::clusters(&g).await,
        Command::Templates(a) => api::templates(&g, a).await,
        Command::Instances(cmd) => instances::run(&g, cmd).await,
        Command::Status => api::status(&g).await,
        Command::Webhook(cmd) => webhook::run(&g, cmd).await,
        Command::Sim(cmd) => sim::run(cmd).await,
        Command::Demo {
            seed, faults, live, ..
        } => demo::run(demo::DemoArgs { seed, faults, live }).await,
    }
}
