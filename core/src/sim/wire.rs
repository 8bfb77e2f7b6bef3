//! The simulator's response bodies as typed, borrowing `Serialize` records.
//!
//! Every body is written straight from the model with `serde_json::to_vec`,
//! without building a `serde_json::Value` tree first. The bytes are exactly
//! what a `json!` tree would give: a `Value` object (a `BTreeMap` without
//! serde_json's `preserve_order`) writes its keys in byte order, so **every
//! record below declares its fields sorted by their wire name** (byte order:
//! capitals first, so `Id` comes before `channel`). The unit test
//! `bodies_are_canonical` checks that for every renderer.

use alloc::string::String;
use serde::{Serialize, Serializer};

use super::instances::Port;

/// A number written as a JSON string (counts, prices and times as Novita
/// sends them): its decimal digits, as `u64`'s `Display` writes them,
/// formatted on the stack.
pub(crate) struct Str(pub u64);

impl Serialize for Str {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut buf = [0u8; 20];
        let mut at = buf.len();
        let mut n = self.0;
        loop {
            at -= 1;
            if let Some(d) = buf.get_mut(at) {
                *d = b'0' + (n % 10) as u8;
            }
            n /= 10;
            if n == 0 {
                break;
            }
        }
        let digits = buf.get(at..).unwrap_or_default();
        s.serialize_str(core::str::from_utf8(digits).unwrap_or_default())
    }
}

/// A slice written as a JSON array of `f(item)`, without collecting a `Vec`.
pub(crate) struct Each<'a, T, F>(pub &'a [T], pub F);

impl<'a, T, U, F> Serialize for Each<'a, T, F>
where
    F: Fn(&'a T) -> U,
    U: Serialize,
{
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter().map(&self.1))
    }
}

/// Novita's error body.
#[derive(Serialize)]
pub(crate) struct ErrorBody<'a> {
    pub code: u16,
    pub message: &'a str,
    pub reason: &'a str,
}

/// `{"data": [...]}`.
#[derive(Serialize)]
pub(crate) struct Data<T> {
    pub data: T,
}

/// `{"data": [...], "total": n}`.
#[derive(Serialize)]
pub(crate) struct DataTotal<T> {
    pub data: T,
    pub total: usize,
}

/// `{}`.
#[derive(Serialize)]
pub(crate) struct Empty {}

/// `{"id": ...}`.
#[derive(Serialize)]
pub(crate) struct IdBody<'a> {
    pub id: &'a str,
}

/// `{"templateId": ...}`.
#[derive(Serialize)]
pub(crate) struct TemplateIdBody<'a> {
    #[serde(rename = "templateId")]
    pub template_id: &'a str,
}

/// `{"storageId": ...}`.
#[derive(Serialize)]
pub(crate) struct StorageIdBody<'a> {
    #[serde(rename = "storageId")]
    pub storage_id: &'a str,
}

/// `{"template": {...}}`.
#[derive(Serialize)]
pub(crate) struct TemplateBody<T> {
    pub template: T,
}

/// A page of templates.
#[derive(Serialize)]
pub(crate) struct TemplatePage<T> {
    #[serde(rename = "pageNum")]
    pub page_num: usize,
    #[serde(rename = "pageSize")]
    pub page_size: usize,
    pub template: T,
    pub total: usize,
}

/// A page of instances.
#[derive(Serialize)]
pub(crate) struct InstancePage<T> {
    pub instances: T,
    #[serde(rename = "pageNum")]
    pub page_num: usize,
    #[serde(rename = "pageSize")]
    pub page_size: usize,
    pub total: usize,
}

/// A cluster.
#[derive(Serialize)]
pub(crate) struct Cluster<'a> {
    #[serde(rename = "availableGpuType")]
    pub available_gpu_type: alloc::vec::Vec<&'a str>,
    pub id: &'a str,
    pub name: &'a str,
    #[serde(rename = "supportInstanceNetwork")]
    pub support_instance_network: bool,
    #[serde(rename = "supportNetworkStorage")]
    pub support_network_storage: bool,
}

/// One monthly price option.
#[derive(Serialize)]
pub(crate) struct Monthly {
    pub month: u64,
    pub price: Str,
}

/// A product.
#[derive(Serialize)]
pub(crate) struct Product<'a> {
    #[serde(rename = "availableDeploy")]
    pub available_deploy: bool,
    #[serde(rename = "billingMethods")]
    pub billing_methods: &'static [&'static str],
    #[serde(rename = "cpuPerGpu")]
    pub cpu_per_gpu: u32,
    #[serde(rename = "diskPerGpu")]
    pub disk_per_gpu: u32,
    pub id: &'a str,
    #[serde(rename = "maxRootFS")]
    pub max_root_fs: u32,
    #[serde(rename = "memoryPerGpu")]
    pub memory_per_gpu: u32,
    #[serde(rename = "minRootFS")]
    pub min_root_fs: u32,
    #[serde(rename = "monthlyPrice")]
    pub monthly_price: [Monthly; 4],
    pub name: &'a str,
    pub price: Str,
    pub regions: [&'a str; 1],
    #[serde(rename = "spotPrice")]
    pub spot_price: Str,
}

/// `{key, value}` of an environment variable.
#[derive(Serialize)]
pub(crate) struct Env<'a> {
    pub key: &'a str,
    pub value: &'a str,
}

/// A list of environment variables.
pub(crate) type Envs<'a> = Each<'a, (String, String), fn(&'a (String, String)) -> Env<'a>>;

/// `envs` as `[{key, value}, ...]`.
pub(crate) fn envs(list: &[(String, String)]) -> Envs<'_> {
    Each(list, |(key, value)| Env { key, value })
}

/// A template's port group.
#[derive(Serialize)]
pub(crate) struct TemplatePorts<'a> {
    pub ports: &'a [u16],
    #[serde(rename = "type")]
    pub kind: &'a str,
}

/// A template's port groups.
pub(crate) type TemplatePortList<'a> = Each<
    'a,
    (String, alloc::vec::Vec<u16>),
    fn(&'a (String, alloc::vec::Vec<u16>)) -> TemplatePorts<'a>,
>;

/// `ports` of a template as `[{ports, type}, ...]`.
pub(crate) fn template_ports(list: &[(String, alloc::vec::Vec<u16>)]) -> TemplatePortList<'_> {
    Each(list, |(kind, ports)| TemplatePorts { ports, kind })
}

/// A template.
#[derive(Serialize)]
pub(crate) struct Template<'a> {
    #[serde(rename = "Id")]
    pub id: &'a str,
    pub channel: &'a str,
    #[serde(rename = "createdAt")]
    pub created_at: Str,
    pub description: &'a str,
    pub entrypoint: &'a str,
    pub envs: Envs<'a>,
    pub image: &'a str,
    #[serde(rename = "imageAuth")]
    pub image_auth: &'a str,
    #[serde(rename = "minCudaVersion")]
    pub min_cuda_version: &'a str,
    pub name: &'a str,
    pub ports: TemplatePortList<'a>,
    #[serde(rename = "rootfsSize")]
    pub rootfs_size: u32,
    #[serde(rename = "startCommand")]
    pub start_command: &'a str,
    #[serde(rename = "type")]
    pub kind: &'a str,
}

/// A registry credential.
#[derive(Serialize)]
pub(crate) struct Auth<'a> {
    pub id: &'a str,
    pub name: &'a str,
    pub password: &'a str,
    pub username: &'a str,
}

/// A network storage volume.
#[derive(Serialize)]
pub(crate) struct Storage<'a> {
    #[serde(rename = "clusterId")]
    pub cluster_id: &'a str,
    #[serde(rename = "clusterName")]
    pub cluster_name: &'a str,
    pub price: Str,
    #[serde(rename = "storageId")]
    pub storage_id: &'a str,
    #[serde(rename = "storageName")]
    pub storage_name: &'a str,
    #[serde(rename = "storageSize")]
    pub storage_size: u32,
}

/// A port mapping of a list record.
#[derive(Serialize)]
struct ListPort<'a> {
    port: u16,
    #[serde(rename = "type")]
    kind: &'a str,
}

/// A port mapping of a single-instance record.
#[derive(Serialize)]
struct FullPort<'a> {
    endpoint: String,
    port: u16,
    #[serde(rename = "type")]
    kind: &'a str,
}

/// `portMappings`: with each port's `endpoint` (from `endpoint(port)`) in a
/// single-instance record, without in a list record.
pub(crate) struct PortMappings<'a> {
    pub ports: &'a [Port],
    pub endpoint: Option<&'a dyn Fn(u16) -> String>,
}

impl Serialize for PortMappings<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.endpoint {
            Some(endpoint) => s.collect_seq(self.ports.iter().map(|p| FullPort {
                endpoint: endpoint(p.port),
                port: p.port,
                kind: &p.kind,
            })),
            None => s.collect_seq(self.ports.iter().map(|p| ListPort {
                port: p.port,
                kind: &p.kind,
            })),
        }
    }
}

/// A mounted network storage.
#[derive(Serialize)]
pub(crate) struct Mount<'a> {
    #[serde(rename = "Id")]
    pub id: &'a str,
    #[serde(rename = "mountPoint")]
    pub mount_point: &'a str,
}

/// `networkStorages` as `[{Id, mountPoint}, ...]`.
pub(crate) type Mounts<'a> = Each<'a, (String, String), fn(&'a (String, String)) -> Mount<'a>>;

/// `networkStorages` of an instance.
pub(crate) fn mounts(list: &[(String, String)]) -> Mounts<'_> {
    Each(list, |(id, mount_point)| Mount { id, mount_point })
}

/// `statusError`.
#[derive(Serialize)]
pub(crate) struct StatusError<'a> {
    pub message: &'a str,
    pub state: &'a str,
}

/// `connectComponentSSH`.
#[derive(Serialize)]
pub(crate) struct Ssh<'a> {
    #[serde(rename = "sshCommand")]
    pub ssh_command: String,
    #[serde(rename = "sshPassword")]
    pub ssh_password: &'a str,
}

/// An instance record; `connect_ssh` is `None` in list records (and then not
/// written at all).
#[derive(Serialize)]
pub(crate) struct Instance<'a> {
    #[serde(rename = "billingMode")]
    pub billing_mode: &'a str,
    #[serde(rename = "clusterId")]
    pub cluster_id: &'a str,
    #[serde(rename = "clusterName")]
    pub cluster_name: &'a str,
    pub command: &'a str,
    #[serde(
        rename = "connectComponentSSH",
        skip_serializing_if = "Option::is_none"
    )]
    pub connect_ssh: Option<Ssh<'a>>,
    #[serde(rename = "cpuNum")]
    pub cpu_num: Str,
    #[serde(rename = "createdAt")]
    pub created_at: Str,
    pub entrypoint: &'a str,
    pub envs: Envs<'a>,
    #[serde(rename = "gpuNum")]
    pub gpu_num: Str,
    pub id: &'a str,
    #[serde(rename = "imageAuthId")]
    pub image_auth_id: &'a str,
    #[serde(rename = "imageUrl")]
    pub image_url: &'a str,
    pub kind: &'a str,
    #[serde(rename = "lastStartedAt")]
    pub last_started_at: Str,
    #[serde(rename = "lastStoppedAt")]
    pub last_stopped_at: Str,
    pub memory: Str,
    pub name: &'a str,
    #[serde(rename = "networkStorages")]
    pub network_storages: Mounts<'a>,
    #[serde(rename = "portMappings")]
    pub port_mappings: PortMappings<'a>,
    #[serde(rename = "productId")]
    pub product_id: &'a str,
    #[serde(rename = "productName")]
    pub product_name: &'a str,
    #[serde(rename = "rootfsSize")]
    pub rootfs_size: u32,
    #[serde(rename = "spotReclaimTime")]
    pub spot_reclaim_time: &'static str,
    #[serde(rename = "spotStatus")]
    pub spot_status: &'static str,
    pub status: &'static str,
    #[serde(rename = "statusError")]
    pub status_error: StatusError<'a>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;

    #[test]
    fn numbers_as_strings_write_what_display_writes() {
        for n in [
            0,
            7,
            10,
            35_000,
            1_700_000_000,
            u64::from(u32::MAX),
            u64::MAX,
        ] {
            let got = serde_json::to_string(&Str(n)).unwrap();
            assert_eq!(got, serde_json::to_string(&n.to_string()).unwrap());
        }
    }
}
