//! `novitai instances list|get|create|start|stop|restart|delete|watch`.
//! `create --wait`, `start|restart --wait` and `watch` wait through the
//! core's start-up monitor (see `wait.rs`); `stop --wait` polls until the
//! instance has exited.

use std::time::{Duration, Instant as WallClock};

use clap::Subcommand;
use indicatif::{ProgressBar, ProgressStyle};
use novitai_tokio::Novita;
use novitai_tokio::core::api::instances::{
    CreateInstanceRequest, Instance, InstanceAck, InstanceStatus, ListInstances,
};
use novitai_tokio::core::api::products::ProductQuery;
use novitai_tokio::lifecycle::{WaitOutcome, Waiting};

use crate::common::{Global, client, opt, print_json, table};
use crate::exit::CliError;
use crate::wait::{Op, View, WaitArgs, follow, result_json, verdict, wait_error};

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
    /// Create an instance; with --wait, watch it until it is ready.
    Create(CreateArgs),
    /// Start a stopped instance; with --wait, watch it until it is ready.
    Start(ActionArgs),
    /// Stop an instance; with --wait, poll it until it has exited.
    Stop(ActionArgs),
    /// Restart an instance; with --wait, watch it until it is ready again.
    Restart(ActionArgs),
    /// Delete an instance.
    Delete {
        /// The instance id.
        id: String,
    },
    /// Watch an instance being created or started until it is ready
    /// (running, with every HTTP endpoint healthy), failed or timed out.
    Watch {
        /// The instance id.
        id: String,
        #[command(flatten)]
        wait: WaitArgs,
    },
}

/// `instances start|stop|restart`.
#[derive(clap::Args, Debug)]
pub struct ActionArgs {
    /// The instance id.
    pub id: String,
    /// Wait until the action has taken effect (start / restart: ready).
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
    /// Watch the new instance until it is ready.
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
        InstancesCmd::Watch { id, wait } => {
            let options = wait.options(&novita, Op::Watch)?;
            let waiting = novita.wait_until_ready(&id, options);
            let doing = format!("watching instance {id}");
            finish(g, &novita, waiting, &wait, &doing, false).await
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
    let request = CreateInstanceRequest {
        name: a.name,
        product_id,
        gpu_num: a.gpus,
        rootfs_size: a.rootfs,
        image_url: a.image,
        ports: a.ports,
        ..CreateInstanceRequest::default()
    };
    if a.wait {
        let options = a.wait_args.options(novita, Op::Create)?;
        let waiting = novita.create_and_wait(request, options);
        return finish(
            g,
            novita,
            waiting,
            &a.wait_args,
            "creating the instance",
            true,
        )
        .await;
    }
    let id = novita
        .create_instance(request)
        .await
        .map_err(CliError::api("creating the instance"))?;
    if g.json {
        return print_json(&serde_json::json!({ "id": id }));
    }
    println!("created instance {id}");
    println!("watch it with: novitai instances watch {id}");
    Ok(())
}

/// Runs a wait with live progress and prints how it ended: with `--json`,
/// the progress events and then the result, one JSON object per line;
/// otherwise the progress lines and the instance (`table`) or one line.
/// A wait that did not end ready is an error with its exit code.
async fn finish(
    g: &Global,
    novita: &Novita,
    waiting: Waiting,
    wait: &WaitArgs,
    doing: &str,
    table: bool,
) -> Result<(), CliError> {
    let view = View::cli(g.json, wait.time_scale);
    let done: WaitOutcome = follow(novita, waiting, &view)
        .await
        .map_err(|e| wait_error(doing, e))?;
    if g.json {
        println!("{}", result_json(&done));
    }
    let inst = verdict(&done)?;
    if !g.json {
        if table {
            print_instance(inst);
        } else {
            println!(
                "instance {} is ready ({})",
                done.instance_id,
                inst.status.as_str()
            );
        }
    }
    Ok(())
}

async fn action(g: &Global, novita: &Novita, what: &str, a: ActionArgs) -> Result<(), CliError> {
    let id = &a.id;
    let doing = format!("{what}ing instance {id}");
    if a.wait && what == "start" {
        // The monitor sends the start itself (and accepts an instance that
        // is already starting or running).
        let options = a.wait_args.options(novita, Op::Start)?;
        let waiting = novita.start_and_wait(id, options);
        return finish(g, novita, waiting, &a.wait_args, &doing, false).await;
    }
    // Check the flags before acting.
    let options = match (a.wait, what) {
        (true, "restart") => Some(a.wait_args.options(novita, Op::Watch)?),
        _ => None,
    };
    let ack = match what {
        "start" => novita.start_instance(id).await,
        "stop" => novita.stop_instance(id).await,
        _ => novita.restart_instance(id).await,
    }
    .map_err(CliError::api(doing.clone()))?;
    if !a.wait {
        return ack_out(g, &format!("{what} requested for"), id, &ack);
    }
    if let Some(options) = options {
        let waiting = novita.wait_until_ready(id, options);
        return finish(g, novita, waiting, &a.wait_args, &doing, false).await;
    }
    let inst = wait_exited(novita, id, &a.wait_args, !g.json).await?;
    if g.json {
        print_json(&inst)
    } else {
        println!("instance {id} is {}", inst.status.as_str());
        Ok(())
    }
}

/// After a stop: reads `id` every `--interval` seconds (default
/// INSTANCE_POLL_INTERVAL) until it has exited, up to `--timeout` (default
/// STARTUP_MAX_WAIT). A stop has no start-up to monitor or endpoints to
/// check, so this is a plain poll; transient read errors are polled through.
async fn wait_exited(
    novita: &Novita,
    id: &str,
    wait: &WaitArgs,
    show: bool,
) -> Result<Instance, CliError> {
    let scale = wait.time_scale.unwrap_or(1.0).clamp(1.0, 1000.0);
    let real = |d: novitai_tokio::core::Duration| {
        Duration::from_secs_f64(d.as_millis() as f64 / 1000.0 / scale)
    };
    let interval = match wait.interval {
        Some(s) if s.is_finite() && (1.0..=300.0).contains(&s) => {
            Duration::from_secs_f64(s / scale)
        }
        Some(s) => {
            return Err(CliError::Config(format!(
                "  - --interval {s}: give a number of seconds from 1 to 300"
            )));
        }
        None => real(novita.config().instance_poll_interval),
    };
    let timeout = match wait.timeout {
        Some(s) if s.is_finite() && (1.0..=86_400.0).contains(&s) => {
            Duration::from_secs_f64(s / scale)
        }
        Some(s) => {
            return Err(CliError::Config(format!(
                "  - --timeout {s}: give a number of seconds from 1 to 86400"
            )));
        }
        None => real(novita.config().startup_max_wait),
    };
    let bar = show.then(|| {
        let bar = ProgressBar::new_spinner();
        if let Ok(style) = ProgressStyle::with_template("{spinner} {msg} · {elapsed}") {
            bar.set_style(style);
        }
        bar.enable_steady_tick(Duration::from_millis(120));
        bar
    });
    let start = WallClock::now();
    let mut last = String::from("unknown");
    let result = loop {
        match novita.instance(id).await {
            Ok(inst) if inst.status == InstanceStatus::Exited => break Ok(inst),
            Ok(inst) => {
                if let Some(why) = inst.failure() {
                    break Err(CliError::Failed(format!(
                        "instance {id} failed while stopping: {why}; see `novitai instances get {id}`"
                    )));
                }
                last = inst.status.as_str().to_owned();
                if let Some(bar) = &bar {
                    bar.set_message(format!("instance {id} is {last}"));
                }
            }
            Err(e) if e.is_transient() => {
                if let Some(bar) = &bar {
                    bar.set_message(format!("reading failed, polling on: {e}"));
                }
            }
            Err(e) => {
                break Err(CliError::Api {
                    doing: format!("watching instance {id}"),
                    error: e,
                });
            }
        }
        if start.elapsed() + interval > timeout {
            break Err(CliError::Timeout(format!(
                "instance {id} had not exited after {:.0}s (last status: {last}); check it \
                 with `novitai instances get {id}`",
                timeout.as_secs_f64() * scale
            )));
        }
        tokio::time::sleep(interval).await;
    };
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    result
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
