//! `novitai instances list|get|create|start|stop|restart|delete|watch`, and
//! the polling loop with live progress that `create --wait`, `watch` and the
//! demo share.

use std::time::{Duration, Instant as WallClock};

use clap::Subcommand;
use indicatif::{ProgressBar, ProgressStyle};
use novitai_tokio::Novita;
use novitai_tokio::core::api::instances::{
    CreateInstanceRequest, Instance, InstanceAck, ListInstances,
};
use novitai_tokio::core::api::products::ProductQuery;

use crate::common::{Global, client, opt, print_json, table};
use crate::events;
use crate::exit::CliError;

/// The instance commands.
#[derive(Subcommand, Debug)]
pub enum InstancesCmd {
    /// Every instance (all pages).
    List {
        /// Only instances whose status is this, e.g. running.
        #[arg(long)]
        status: Option<String>,
    },
    /// One instance.
    Get {
        /// The instance id.
        id: String,
    },
    /// Create an instance; with --wait, watch it until it runs.
    Create(CreateArgs),
    /// Start a stopped instance; with --wait, watch it until it runs.
    Start(ActionArgs),
    /// Stop an instance; with --wait, watch it until it has exited.
    Stop(ActionArgs),
    /// Restart an instance; with --wait, watch it until it runs again.
    Restart(ActionArgs),
    /// Delete an instance.
    Delete {
        /// The instance id.
        id: String,
    },
    /// Poll an instance until it reaches a status (default running) or fails.
    Watch {
        /// The instance id.
        id: String,
        /// The status to wait for.
        #[arg(long, default_value = "running")]
        until: String,
        #[command(flatten)]
        wait: WaitArgs,
    },
}

/// How long and how often to poll.
#[derive(clap::Args, Debug, Clone)]
pub struct WaitArgs {
    /// Seconds between polls (default: INSTANCE_POLL_INTERVAL).
    #[arg(long, value_name = "SECS")]
    pub interval: Option<f64>,
    /// Give up after this many seconds (default: STARTUP_MAX_WAIT); exit code 4.
    #[arg(long, value_name = "SECS")]
    pub timeout: Option<f64>,
}

/// `instances start|stop|restart`.
#[derive(clap::Args, Debug)]
pub struct ActionArgs {
    /// The instance id.
    pub id: String,
    /// Watch until the action has taken effect.
    #[arg(long)]
    pub wait: bool,
    #[command(flatten)]
    pub wait_args: WaitArgs,
}

/// `instances create`.
#[derive(clap::Args, Debug)]
pub struct CreateArgs {
    /// Product id; or give --product to pick the cheapest match.
    #[arg(long, required_unless_present = "product")]
    pub product_id: Option<String>,
    /// Product name to pick the cheapest deployable spot offer of, e.g. "RTX 4090".
    #[arg(long)]
    pub product: Option<String>,
    /// Region to try first with --product (fallback regions follow).
    #[arg(long)]
    pub region: Option<String>,
    /// Container image.
    #[arg(long)]
    pub image: String,
    /// Instance name.
    #[arg(long)]
    pub name: Option<String>,
    /// Ports, e.g. "8888/http,22/tcp".
    #[arg(long)]
    pub ports: Option<String>,
    /// GPUs.
    #[arg(long, default_value_t = 1)]
    pub gpus: u32,
    /// Root filesystem, GB.
    #[arg(long, default_value_t = 60)]
    pub rootfs: u64,
    /// Watch the new instance until it runs.
    #[arg(long)]
    pub wait: bool,
    #[command(flatten)]
    pub wait_args: WaitArgs,
}

pub async fn run(g: &Global, cmd: InstancesCmd) -> Result<(), CliError> {
    let novita = client(g)?;
    match cmd {
        InstancesCmd::List { status } => {
            let list = novita
                .list_all_instances(ListInstances {
                    status,
                    ..ListInstances::default()
                })
                .await
                .map_err(CliError::api("listing instances"))?;
            if g.json {
                return print_json(&list);
            }
            print_instances(&list);
            Ok(())
        }
        InstancesCmd::Get { id } => {
            let inst = novita
                .instance(&id)
                .await
                .map_err(CliError::api(format!("reading instance {id}")))?;
            if g.json {
                return print_json(&inst);
            }
            print_instance(&inst);
            Ok(())
        }
        InstancesCmd::Create(a) => create(g, &novita, a).await,
        InstancesCmd::Start(a) => action(g, &novita, "start", a).await,
        InstancesCmd::Stop(a) => action(g, &novita, "stop", a).await,
        InstancesCmd::Restart(a) => action(g, &novita, "restart", a).await,
        InstancesCmd::Delete { id } => {
            let ack = novita
                .delete_instance(&id)
                .await
                .map_err(CliError::api(format!("deleting instance {id}")))?;
            ack_out(g, "deleted", &id, &ack)
        }
        InstancesCmd::Watch { id, until, wait } => {
            let inst = watch(&novita, &id, &until, &wait, !g.json).await?;
            if g.json {
                print_json(&inst)
            } else {
                println!("instance {id} is {}", inst.status.as_str());
                Ok(())
            }
        }
    }
}

fn ack_out(g: &Global, what: &str, id: &str, ack: &InstanceAck) -> Result<(), CliError> {
    if g.json {
        print_json(ack)
    } else {
        println!("{what} instance {id}");
        Ok(())
    }
}

async fn create(g: &Global, novita: &Novita, a: CreateArgs) -> Result<(), CliError> {
    let product_id = match (a.product_id, a.product) {
        (Some(id), _) => id,
        (None, Some(name)) => {
            let choice = novita
                .optimal_product(&ProductQuery {
                    preferred_region: a.region.clone(),
                    ..ProductQuery::named(name)
                })
                .await
                .map_err(CliError::api("choosing a product"))?;
            if !g.json {
                println!(
                    "picked {} ({}) in {} at {} spot",
                    choice.product.name,
                    choice.product.id,
                    choice.region,
                    opt(choice.product.spot_price)
                );
            }
            choice.product.id
        }
        (None, None) => {
            return Err(CliError::Other(
                "give --product-id or --product NAME".to_owned(),
            ));
        }
    };
    let id = novita
        .create_instance(CreateInstanceRequest {
            name: a.name,
            product_id,
            gpu_num: a.gpus,
            rootfs_size: a.rootfs,
            image_url: a.image,
            ports: a.ports,
            ..CreateInstanceRequest::default()
        })
        .await
        .map_err(CliError::api("creating the instance"))?;
    if !a.wait {
        if g.json {
            return print_json(&serde_json::json!({ "id": id }));
        }
        println!("created instance {id}");
        println!("watch it with: novitai instances watch {id}");
        return Ok(());
    }
    if !g.json {
        println!("created instance {id}");
    }
    let inst = watch(novita, &id, "running", &a.wait_args, !g.json).await?;
    if g.json {
        print_json(&inst)
    } else {
        print_instance(&inst);
        Ok(())
    }
}

async fn action(g: &Global, novita: &Novita, what: &str, a: ActionArgs) -> Result<(), CliError> {
    let id = &a.id;
    let doing = format!("{what}ing instance {id}");
    let (ack, until) = match what {
        "start" => (novita.start_instance(id).await, "running"),
        "stop" => (novita.stop_instance(id).await, "exited"),
        _ => (novita.restart_instance(id).await, "running"),
    };
    let ack = ack.map_err(CliError::api(doing))?;
    if !a.wait {
        return ack_out(g, &format!("{what} requested for"), id, &ack);
    }
    let inst = watch(novita, id, until, &a.wait_args, !g.json).await?;
    if g.json {
        print_json(&inst)
    } else {
        println!("instance {id} is {}", inst.status.as_str());
        Ok(())
    }
}

/// Polls `id` until its status is `until`, it fails, or the timeout passes,
/// showing status, elapsed time, retries and the breaker state. Transient
/// poll errors (an outage, an open breaker) are shown and polled through.
pub async fn watch(
    novita: &Novita,
    id: &str,
    until: &str,
    wait: &WaitArgs,
    show: bool,
) -> Result<Instance, CliError> {
    let interval = secs(wait.interval, novita.config().instance_poll_interval)?;
    let timeout = secs(wait.timeout, novita.config().startup_max_wait)?;
    let progress = Progress::new(show, WallClock::now());
    let result = poll_until(novita, id, until, interval, timeout, &progress).await;
    progress.finish();
    result
}

fn secs(flag: Option<f64>, default: novitai_tokio::core::Duration) -> Result<Duration, CliError> {
    match flag {
        None => Ok(Duration::from_millis(default.as_millis())),
        Some(s) if s.is_finite() && (0.05..=86_400.0).contains(&s) => {
            Ok(Duration::from_secs_f64(s))
        }
        Some(s) => Err(CliError::Other(format!(
            "{s} seconds is not a usable interval or timeout; give a number from 0.05 to 86400"
        ))),
    }
}

/// The polling loop, with the progress display given.
pub async fn poll_until(
    novita: &Novita,
    id: &str,
    until: &str,
    interval: Duration,
    timeout: Duration,
    progress: &Progress,
) -> Result<Instance, CliError> {
    let start = WallClock::now();
    let origin = progress.origin;
    let mut last = String::new();
    loop {
        let polled = novita.instance(id).await;
        let breaker = novita
            .status()
            .await
            .map_or_else(|_| "?".to_owned(), |s| s.breaker.to_string());
        match polled {
            Ok(inst) => {
                let status = inst.status.as_str().to_owned();
                if status != last {
                    progress.line(format!(
                        "{:>6.1}s  instance {id} is {status}",
                        origin.elapsed().as_secs_f64()
                    ));
                    last.clone_from(&status);
                }
                progress.update(&status, start, &breaker);
                if status.eq_ignore_ascii_case(until) {
                    return Ok(inst);
                }
                if let Some(why) = inst.failure() {
                    return Err(CliError::Other(format!(
                        "instance {id} failed while waiting for {until}: {why}"
                    )));
                }
                if status == "removed" {
                    return Err(CliError::Other(format!(
                        "instance {id} was removed while waiting for {until}"
                    )));
                }
            }
            Err(e) if e.is_transient() => {
                progress.line(format!(
                    "{:>6.1}s  poll failed, polling on: {e}",
                    origin.elapsed().as_secs_f64()
                ));
                progress.update(&last, start, &breaker);
            }
            Err(e) => {
                return Err(CliError::Api {
                    doing: format!("watching instance {id}"),
                    error: e,
                });
            }
        }
        if start.elapsed() + interval > timeout {
            return Err(CliError::Timeout(format!(
                "instance {id} did not reach {until} within {:.0}s (last status: {}); \
                 watch it longer with `novitai instances watch {id} --timeout SECS`",
                timeout.as_secs_f64(),
                if last.is_empty() { "unknown" } else { &last }
            )));
        }
        progress.tick_for(interval).await;
    }
}

/// A spinner on stderr (hidden when stderr is not a terminal) plus status
/// lines on stdout.
pub struct Progress {
    bar: Option<ProgressBar>,
    lines: bool,
    /// Status lines are stamped with the time since this.
    origin: WallClock,
}

impl Progress {
    /// `show`: print status lines (stamped with the time since `origin`)
    /// and the spinner.
    pub fn new(show: bool, origin: WallClock) -> Progress {
        let bar = show.then(|| {
            let bar = ProgressBar::new_spinner();
            if let Ok(style) = ProgressStyle::with_template("{spinner} {msg}") {
                bar.set_style(style);
            }
            bar
        });
        Progress {
            bar,
            lines: show,
            origin,
        }
    }

    /// Prints a line above the spinner.
    pub fn line(&self, text: String) {
        if !self.lines {
            return;
        }
        match &self.bar {
            Some(bar) => bar.suspend(|| println!("{text}")),
            None => println!("{text}"),
        }
    }

    fn update(&self, status: &str, start: WallClock, breaker: &str) {
        if let Some(bar) = &self.bar {
            let c = events::counts();
            bar.set_message(format!(
                "{status} · {:.0}s · {} requests · {} retries · breaker {breaker}",
                start.elapsed().as_secs_f64(),
                c.requests,
                c.retries
            ));
        }
    }

    async fn tick_for(&self, d: Duration) {
        let end = tokio::time::Instant::now() + d;
        while tokio::time::Instant::now() < end {
            if let Some(bar) = &self.bar {
                bar.tick();
            }
            let step = Duration::from_millis(100).min(end - tokio::time::Instant::now());
            tokio::time::sleep(step).await;
        }
    }

    /// Removes the spinner.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

fn print_instances(list: &[Instance]) {
    let mut t = table(["id", "name", "status", "product", "cluster", "GPUs"]);
    for i in list {
        t.add_row([
            i.id.clone(),
            opt(i.name.as_deref()),
            i.status.as_str().to_owned(),
            opt(i.product_name.as_deref()),
            opt(i.cluster_name.as_deref()),
            opt(i.gpu_num),
        ]);
    }
    println!("{t}");
    println!("{} instances", list.len());
}

fn print_instance(i: &Instance) {
    let mut t = table(["field", "value"]);
    t.add_row(["id".to_owned(), i.id.clone()]);
    t.add_row(["name".to_owned(), opt(i.name.as_deref())]);
    t.add_row(["status".to_owned(), i.status.as_str().to_owned()]);
    if let Some(why) = i.failure() {
        t.add_row(["error".to_owned(), why.to_owned()]);
    }
    t.add_row(["product".to_owned(), opt(i.product_name.as_deref())]);
    t.add_row(["cluster".to_owned(), opt(i.cluster_name.as_deref())]);
    t.add_row(["image".to_owned(), opt(i.image_url.as_deref())]);
    for p in &i.port_mappings {
        t.add_row([
            format!("port {}", opt(p.port)),
            format!("{} {}", opt(p.kind.as_deref()), opt(p.endpoint.as_deref())),
        ]);
    }
    println!("{t}");
}
