//! The simulated account: catalogue (clusters, products), templates, registry
//! auths, network storage and instances, and how each renders as JSON.

use alloc::string::{String, ToString};
use alloc::vec::Vec;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::SimConfig;
use super::instances::{Draws, Instance, Operation, Status};
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

    // ---- JSON renderers -------------------------------------------------

    pub(crate) fn cluster_json(&self, c: &Cluster) -> Value {
        let mut gpus: Vec<&str> = self
            .products
            .iter()
            .filter(|p| p.region == c.id)
            .map(|p| p.name.as_str())
            .collect();
        gpus.dedup();
        json!({
            "id": c.id,
            "name": c.name,
            "availableGpuType": gpus,
            "supportNetworkStorage": c.support_network_storage,
            "supportInstanceNetwork": c.support_instance_network,
        })
    }

    pub(crate) fn product_json(p: &Product, gpu_num: u32) -> Value {
        let mut methods = alloc::vec!["onDemand", "monthly"];
        if p.spot_price > 0 {
            methods.push("spot");
        }
        let monthly: Vec<Value> = [(1u64, 100u64), (3, 95), (6, 90), (12, 80)]
            .iter()
            .map(|(month, pct)| {
                // Monthly price: 730 hours at the discounted hourly rate.
                let v = p.price.saturating_mul(730).saturating_mul(*pct) / 100;
                json!({ "price": v.to_string(), "month": month })
            })
            .collect();
        json!({
            "id": p.id,
            "name": p.name,
            "cpuPerGpu": p.cpu_per_gpu,
            "memoryPerGpu": p.memory_per_gpu,
            "diskPerGpu": p.disk_per_gpu,
            "availableDeploy": p.deployable && gpu_num <= p.max_gpus,
            "minRootFS": MIN_ROOTFS,
            "maxRootFS": MAX_ROOTFS,
            "regions": [p.region],
            "price": p.price.to_string(),
            "spotPrice": p.spot_price.to_string(),
            "billingMethods": methods,
            "monthlyPrice": monthly,
        })
    }

    pub(crate) fn template_json(t: &Template) -> Value {
        let ports: Vec<Value> = t
            .ports
            .iter()
            .map(|(k, p)| json!({ "type": k, "ports": p }))
            .collect();
        let envs: Vec<Value> = t
            .envs
            .iter()
            .map(|(k, v)| json!({ "key": k, "value": v }))
            .collect();
        json!({
            "Id": t.id,
            "name": t.name,
            "type": t.kind,
            "channel": t.channel,
            "image": t.image,
            "imageAuth": t.image_auth,
            "startCommand": t.start_command,
            "entrypoint": t.entrypoint,
            "rootfsSize": t.rootfs_size,
            "ports": ports,
            "envs": envs,
            "minCudaVersion": t.min_cuda_version,
            "description": t.description,
            "createdAt": t.created_at.as_secs().to_string(),
        })
    }

    pub(crate) fn auth_json(a: &RegistryAuth) -> Value {
        json!({ "id": a.id, "name": a.name, "username": a.username, "password": a.password })
    }

    pub(crate) fn storage_json(s: &NetworkStorage) -> Value {
        json!({
            "storageId": s.id,
            "storageName": s.name,
            "storageSize": s.size_gb,
            "clusterId": s.cluster_id,
            "clusterName": s.cluster_name,
            "price": u64::from(s.size_gb).saturating_mul(STORAGE_PRICE_PER_GB).to_string(),
        })
    }

    /// The endpoint URL of `port` on instance `id` from the configured template.
    pub(crate) fn endpoint(&self, id: &str, port: u16) -> String {
        self.config
            .endpoint_template
            .replace("{id}", id)
            .replace("{port}", &port.to_string())
    }

    fn unix_str(&self, at: Option<Instant>) -> String {
        at.map_or_else(|| "0".to_string(), |t| self.unix(t).as_secs().to_string())
    }

    /// An instance record; list records (`full == false`) lack `endpoint`.
    pub(crate) fn instance_json(&self, i: &Instance, full: bool) -> Value {
        let ports: Vec<Value> = i
            .ports
            .iter()
            .map(|p| {
                if full {
                    json!({ "port": p.port, "type": p.kind, "endpoint": self.endpoint(&i.id, p.port) })
                } else {
                    json!({ "port": p.port, "type": p.kind })
                }
            })
            .collect();
        let envs: Vec<Value> = i
            .envs
            .iter()
            .map(|(k, v)| json!({ "key": k, "value": v }))
            .collect();
        let storages: Vec<Value> = i
            .network_storages
            .iter()
            .map(|(id, mount)| json!({ "Id": id, "mountPoint": mount }))
            .collect();
        let (err_state, err_msg) = i
            .status_error
            .as_ref()
            .map_or(("", ""), |e| (e.state.as_str(), e.message.as_str()));
        let mut v = json!({
            "id": i.id,
            "name": i.name,
            "status": i.status.as_str(),
            "statusError": { "state": err_state, "message": err_msg },
            "clusterId": i.cluster_id,
            "clusterName": i.cluster_name,
            "productId": i.product_id,
            "productName": i.product_name,
            "kind": i.kind,
            "billingMode": i.billing_mode,
            "cpuNum": i.cpu_num.to_string(),
            "memory": i.memory_gb.to_string(),
            "gpuNum": i.gpu_num.to_string(),
            "rootfsSize": i.rootfs_size,
            "imageUrl": i.image_url,
            "imageAuthId": i.image_auth_id,
            "command": i.command,
            "entrypoint": i.entrypoint,
            "envs": envs,
            "portMappings": ports,
            "networkStorages": storages,
            "createdAt": self.unix(i.created_at).as_secs().to_string(),
            "lastStartedAt": self.unix_str(i.last_started_at),
            "lastStoppedAt": self.unix_str(i.last_stopped_at),
            "spotStatus": "",
            "spotReclaimTime": "0",
        });
        if full && let Some(obj) = v.as_object_mut() {
            let running = i.status == Status::Running;
            obj.insert(
                "connectComponentSSH".to_string(),
                json!({
                    "sshCommand": if running { alloc::format!("ssh root@127.0.0.1 -p {}", i.ssh_port) } else { String::new() },
                    "sshPassword": i.ssh_password,
                }),
            );
        }
        v
    }
}
