//! The simulated account: catalogue (clusters, products), templates, registry
//! auths, network storage and instances, and how each renders as JSON.

use alloc::string::{String, ToString};
use alloc::vec::Vec;
use serde::{Deserialize, Serialize};

use super::SimConfig;
use super::instances::{Draws, Instance, Operation, Status};
use super::wire;
use crate::rng::Rng;
use crate::time::{Instant, UnixTime};

/// A cluster (region).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Cluster {
    pub id: String,
    pub name: String,
    pub support_network_storage: bool,
    pub support_instance_network: bool,
}

/// One GPU type offered in one region.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Product {
    pub id: String,
    pub name: String,
    pub cpu_per_gpu: u32,
    pub memory_per_gpu: u32,
    pub disk_per_gpu: u32,
    pub deployable: bool,
    pub max_gpus: u32,
    pub region: String,
    /// 1e-5 USD per GPU-hour.
    pub price: u64,
    /// 1e-5 USD per GPU-hour; 0 = no spot offer.
    pub spot_price: u64,
}

pub(crate) const MIN_ROOTFS: u32 = 10;
pub(crate) const MAX_ROOTFS: u32 = 6144;

/// `(cluster id, name, network storage, instance network)`.
const CLUSTERS: [(&str, &str, bool, bool); 5] = [
    ("CN-HK-01", "Hong Kong 01", true, true),
    ("AS-SGP-02", "Singapore 02", true, false),
    ("US-CA-06", "California 06", true, true),
    ("EU-DE-01", "Frankfurt 01", false, false),
    ("OC-AU-01", "Sydney 01", false, false),
];

/// `(name, cpu/GPU, memory GB/GPU, disk GB/GPU, on-demand price)`.
const GPUS: [(&str, u32, u32, u32, u64); 6] = [
    ("RTX 4090 24GB", 16, 62, 50, 35_000),
    ("RTX 3090 24GB", 12, 46, 50, 21_000),
    ("L40S 48GB", 16, 96, 100, 86_000),
    ("A100 80GB", 16, 120, 200, 160_000),
    ("H100 80GB", 24, 200, 250, 279_000),
    ("RTX 6000 Ada 48GB", 16, 96, 100, 78_000),
];

/// `(gpu index, region, price %, spot % of on-demand (0 = none), deployable, max GPUs)`.
const OFFERS: [(usize, &str, u64, u64, bool, u32); 16] = [
    (0, "CN-HK-01", 100, 50, true, 8),
    (0, "AS-SGP-02", 95, 48, true, 8),
    (0, "US-CA-06", 110, 55, true, 8),
    (0, "EU-DE-01", 120, 0, true, 4),
    (0, "OC-AU-01", 115, 60, false, 8),
    (1, "CN-HK-01", 100, 50, false, 8),
    (1, "AS-SGP-02", 100, 45, true, 8),
    (2, "CN-HK-01", 100, 50, true, 8),
    (2, "EU-DE-01", 105, 55, true, 8),
    (3, "AS-SGP-02", 100, 0, true, 8),
    (3, "US-CA-06", 100, 50, true, 8),
    (4, "US-CA-06", 100, 50, true, 8),
    (4, "EU-DE-01", 110, 50, false, 8),
    (4, "AS-SGP-02", 105, 52, true, 2),
    (5, "US-CA-06", 100, 0, true, 4),
    (5, "OC-AU-01", 100, 40, true, 4),
];

/// A template.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Template {
    pub id: String,
    pub name: String,
    pub kind: String,
    pub channel: String,
    pub image: String,
    pub image_auth: String,
    pub start_command: String,
    pub entrypoint: String,
    pub rootfs_size: u32,
    /// `(type, ports)`.
    pub ports: Vec<(String, Vec<u16>)>,
    pub envs: Vec<(String, String)>,
    pub min_cuda_version: String,
    pub description: String,
    pub created_at: UnixTime,
}

/// A container registry credential.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct RegistryAuth {
    pub id: String,
    pub name: String,
    pub username: String,
    pub password: String,
}

/// A network storage volume.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct NetworkStorage {
    pub id: String,
    pub name: String,
    pub size_gb: u32,
    pub cluster_id: String,
    pub cluster_name: String,
}

/// Network storage price: 1e-5 USD per GB-hour.
const STORAGE_PRICE_PER_GB: u64 = 7;

/// The whole simulated account.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct Model {
    pub config: SimConfig,
    pub start: Instant,
    pub clusters: Vec<Cluster>,
    pub products: Vec<Product>,
    pub templates: Vec<Template>,
    pub auths: Vec<RegistryAuth>,
    pub storages: Vec<NetworkStorage>,
    /// In creation order; removed instances are dropped.
    pub instances: Vec<Instance>,
    pub next_template_id: u64,
    pub next_auth_id: u64,
    pub id_rng: Rng,
    pub lifecycle_rng: Rng,
}

fn slug(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect()
}

impl Model {
    pub(crate) fn new(config: SimConfig, start: Instant, id_rng: Rng, lifecycle_rng: Rng) -> Model {
        let clusters = CLUSTERS
            .iter()
            .map(|(id, name, ns, net)| Cluster {
                id: id.to_string(),
                name: name.to_string(),
                support_network_storage: *ns,
                support_instance_network: *net,
            })
            .collect();
        let products = OFFERS
            .iter()
            .filter_map(|(g, region, pct, spot_pct, deployable, max_gpus)| {
                let (name, cpu, mem, disk, base) = GPUS.get(*g)?;
                let price = base.saturating_mul(*pct) / 100;
                Some(Product {
                    id: alloc::format!("{}.{}", slug(name), slug(region)),
                    name: name.to_string(),
                    cpu_per_gpu: *cpu,
                    memory_per_gpu: *mem,
                    disk_per_gpu: *disk,
                    deployable: *deployable,
                    max_gpus: *max_gpus,
                    region: region.to_string(),
                    price,
                    spot_price: price.saturating_mul(*spot_pct) / 100,
                })
            })
            .collect();
        let created = config.unix_time_at_start;
        let t = |id: &str,
                 name: &str,
                 image: &str,
                 ports: &[(&str, &[u16])],
                 envs: &[(&str, &str)],
                 cuda: &str,
                 desc: &str| Template {
            id: id.to_string(),
            name: name.to_string(),
            kind: "instance".to_string(),
            channel: "public".to_string(),
            image: image.to_string(),
            image_auth: String::new(),
            start_command: String::new(),
            entrypoint: String::new(),
            rootfs_size: 60,
            ports: ports
                .iter()
                .map(|(k, p)| (k.to_string(), p.to_vec()))
                .collect(),
            envs: envs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            min_cuda_version: cuda.to_string(),
            description: desc.to_string(),
            created_at: created,
        };
        let templates = alloc::vec![
            t(
                "1001",
                "PyTorch 2.3 Jupyter",
                "pytorch/pytorch:2.3.0-cuda12.1-cudnn8-runtime",
                &[("http", &[8888]), ("tcp", &[22])],
                &[],
                "12.1",
                "PyTorch with JupyterLab"
            ),
            t(
                "1002",
                "ComfyUI",
                "ghcr.io/ai-dock/comfyui:latest",
                &[("http", &[8188])],
                &[],
                "12.1",
                "ComfyUI node editor"
            ),
            t(
                "1003",
                "vLLM OpenAI server",
                "vllm/vllm-openai:v0.5.4",
                &[("http", &[8000])],
                &[("MODEL", "meta-llama/Meta-Llama-3-8B-Instruct")],
                "12.1",
                "OpenAI-compatible LLM server"
            ),
            t(
                "1004",
                "CUDA 12.4 Ubuntu 22.04",
                "nvidia/cuda:12.4.1-devel-ubuntu22.04",
                &[("tcp", &[22])],
                &[],
                "12.4",
                "Bare CUDA development image"
            ),
            t(
                "1005",
                "Stable Diffusion WebUI",
                "ghcr.io/ai-dock/stable-diffusion-webui:latest",
                &[("http", &[7860])],
                &[],
                "11.8",
                "AUTOMATIC1111 web UI"
            ),
            t(
                "1006",
                "Ollama",
                "ollama/ollama:0.3.6",
                &[("http", &[11434])],
                &[],
                "11.8",
                "Ollama model server"
            ),
        ];
        Model {
            config,
            start,
            clusters,
            products,
            templates,
            auths: Vec::new(),
            storages: Vec::new(),
            instances: Vec::new(),
            next_template_id: 2001,
            next_auth_id: 1,
            id_rng,
            lifecycle_rng,
        }
    }

    /// Wall-clock seconds at `at`.
    pub(crate) fn unix(&self, at: Instant) -> UnixTime {
        self.config
            .unix_time_at_start
            .saturating_add(at.saturating_duration_since(self.start))
    }

    /// Moves every instance along; drops the removed ones.
    pub(crate) fn advance(&mut self, now: Instant) {
        self.instances.retain_mut(|i| !i.advance(now));
    }

    /// A fresh 16-hex-digit id not used by any instance or storage.
    pub(crate) fn new_hex_id(&mut self) -> String {
        loop {
            let id = alloc::format!("{:016x}", self.id_rng.next_u64());
            if !self.instances.iter().any(|i| i.id == id)
                && !self.storages.iter().any(|s| s.id == id)
            {
                return id;
            }
        }
    }

    pub(crate) fn cluster(&self, id: &str) -> Option<&Cluster> {
        self.clusters.iter().find(|c| c.id == id)
    }

    pub(crate) fn instance_mut(&mut self, id: &str) -> Option<&mut Instance> {
        self.instances.iter_mut().find(|i| i.id == id)
    }

    /// Begins `op` on instance `id`: `Ok(None)` unknown id, `Ok(Some(Err))`
    /// invalid state change.
    pub(crate) fn operate(
        &mut self,
        id: &str,
        op: Operation,
        now: Instant,
    ) -> Option<Result<(), String>> {
        let Model {
            instances,
            lifecycle_rng,
            config,
            ..
        } = self;
        let inst = instances.iter_mut().find(|i| i.id == id)?;
        let mut d = Draws {
            rng: lifecycle_rng,
            timings: &config.timings,
            failure_probability: config.startup_failure,
        };
        Some(inst.begin(op, now, &mut d))
    }

    // ---- wire renderers (see `wire`: fields in byte order of their names) --

    pub(crate) fn cluster_wire<'a>(&'a self, c: &'a Cluster) -> wire::Cluster<'a> {
        let mut gpus: Vec<&str> = self
            .products
            .iter()
            .filter(|p| p.region == c.id)
            .map(|p| p.name.as_str())
            .collect();
        gpus.dedup();
        wire::Cluster {
            available_gpu_type: gpus,
            id: &c.id,
            name: &c.name,
            support_instance_network: c.support_instance_network,
            support_network_storage: c.support_network_storage,
        }
    }

    pub(crate) fn product_wire(p: &Product, gpu_num: u32) -> wire::Product<'_> {
        const METHODS: &[&str] = &["onDemand", "monthly"];
        const METHODS_SPOT: &[&str] = &["onDemand", "monthly", "spot"];
        // Monthly price: 730 hours at the discounted hourly rate.
        let monthly = |month: u64, pct: u64| wire::Monthly {
            month,
            price: wire::Str(p.price.saturating_mul(730).saturating_mul(pct) / 100),
        };
        wire::Product {
            available_deploy: p.deployable && gpu_num <= p.max_gpus,
            billing_methods: if p.spot_price > 0 {
                METHODS_SPOT
            } else {
                METHODS
            },
            cpu_per_gpu: p.cpu_per_gpu,
            disk_per_gpu: p.disk_per_gpu,
            id: &p.id,
            max_root_fs: MAX_ROOTFS,
            memory_per_gpu: p.memory_per_gpu,
            min_root_fs: MIN_ROOTFS,
            monthly_price: [
                monthly(1, 100),
                monthly(3, 95),
                monthly(6, 90),
                monthly(12, 80),
            ],
            name: &p.name,
            price: wire::Str(p.price),
            regions: [&p.region],
            spot_price: wire::Str(p.spot_price),
        }
    }

    pub(crate) fn template_wire(t: &Template) -> wire::Template<'_> {
        wire::Template {
            id: &t.id,
            channel: &t.channel,
            created_at: wire::Str(t.created_at.as_secs()),
            description: &t.description,
            entrypoint: &t.entrypoint,
            envs: wire::envs(&t.envs),
            image: &t.image,
            image_auth: &t.image_auth,
            min_cuda_version: &t.min_cuda_version,
            name: &t.name,
            ports: wire::template_ports(&t.ports),
            rootfs_size: t.rootfs_size,
            start_command: &t.start_command,
            kind: &t.kind,
        }
    }

    pub(crate) fn auth_wire(a: &RegistryAuth) -> wire::Auth<'_> {
        wire::Auth {
            id: &a.id,
            name: &a.name,
            password: &a.password,
            username: &a.username,
        }
    }

    pub(crate) fn storage_wire(s: &NetworkStorage) -> wire::Storage<'_> {
        wire::Storage {
            cluster_id: &s.cluster_id,
            cluster_name: &s.cluster_name,
            price: wire::Str(u64::from(s.size_gb).saturating_mul(STORAGE_PRICE_PER_GB)),
            storage_id: &s.id,
            storage_name: &s.name,
            storage_size: s.size_gb,
        }
    }

    /// The endpoint URL of `port` on instance `id` from the configured template.
    pub(crate) fn endpoint(&self, id: &str, port: u16) -> String {
        self.config
            .endpoint_template
            .replace("{id}", id)
            .replace("{port}", &port.to_string())
    }

    /// Unix seconds at `at`, 0 for never.
    fn unix_secs(&self, at: Option<Instant>) -> u64 {
        at.map_or(0, |t| self.unix(t).as_secs())
    }

    /// An instance record; list records (`endpoint == None`) lack the ports'
    /// `endpoint` and `connectComponentSSH`. `endpoint` gives a port's
    /// endpoint URL ([`Self::endpoint`]).
    pub(crate) fn instance_wire<'a>(
        &'a self,
        i: &'a Instance,
        endpoint: Option<&'a dyn Fn(u16) -> String>,
    ) -> wire::Instance<'a> {
        let (err_state, err_msg) = i
            .status_error
            .as_ref()
            .map_or(("", ""), |e| (e.state.as_str(), e.message.as_str()));
        let connect_ssh = endpoint.map(|_| wire::Ssh {
            ssh_command: if i.status == Status::Running {
                alloc::format!("ssh root@127.0.0.1 -p {}", i.ssh_port)
            } else {
                String::new()
            },
            ssh_password: &i.ssh_password,
        });
        wire::Instance {
            billing_mode: &i.billing_mode,
            cluster_id: &i.cluster_id,
            cluster_name: &i.cluster_name,
            command: &i.command,
            connect_ssh,
            cpu_num: wire::Str(u64::from(i.cpu_num)),
            created_at: wire::Str(self.unix(i.created_at).as_secs()),
            entrypoint: &i.entrypoint,
            envs: wire::envs(&i.envs),
            gpu_num: wire::Str(u64::from(i.gpu_num)),
            id: &i.id,
            image_auth_id: &i.image_auth_id,
            image_url: &i.image_url,
            kind: &i.kind,
            last_started_at: wire::Str(self.unix_secs(i.last_started_at)),
            last_stopped_at: wire::Str(self.unix_secs(i.last_stopped_at)),
            memory: wire::Str(u64::from(i.memory_gb)),
            name: &i.name,
            network_storages: wire::mounts(&i.network_storages),
            port_mappings: wire::PortMappings {
                ports: &i.ports,
                endpoint,
            },
            product_id: &i.product_id,
            product_name: &i.product_name,
            rootfs_size: i.rootfs_size,
            spot_reclaim_time: "0",
            spot_status: "",
            status: i.status.as_str(),
            status_error: wire::StatusError {
                message: err_msg,
                state: err_state,
            },
        }
    }
}
