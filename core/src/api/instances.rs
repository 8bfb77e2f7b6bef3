//! GPU instances: list, get, create, start, stop, restart, delete, migrate, edit.
//!
//! Instance records are parsed leniently: numbers may be strings, an unknown
//! status is kept as [`InstanceStatus::Other`], and SSH / terminal passwords and
//! environment values are [`Secret`]s, so printing an [`Instance`] never shows
//! them.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

use super::validate::{self, ValidationErrors};
use super::{
    ApiError, Endpoint, PathQuery, decode, fast, get, lenient, list_under, post, success_json,
    success_unit, top_string, top_u64,
};
use crate::http::{HttpRequest, HttpResponse};
use crate::secret::Secret;
use crate::time::UnixTime;

// ------------------------------------------------------------------ records

/// An environment variable. The value is a [`Secret`] (it often carries a
/// token), so it never prints.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnvVar {
    /// Name.
    #[serde(default, deserialize_with = "lenient::string")]
    pub key: String,
    /// Value (never printed).
    #[serde(default, deserialize_with = "lenient::secret")]
    pub value: Secret,
}

impl EnvVar {
    /// `key=value`.
    #[must_use]
    pub fn new(key: impl Into<String>, value: impl Into<Secret>) -> EnvVar {
        EnvVar {
            key: key.into(),
            value: value.into(),
        }
    }
}

/// An instance's status. Statuses this client does not know are kept as
/// [`InstanceStatus::Other`] and should be treated as "still changing".
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum InstanceStatus {
    /// `toCreate`
    ToCreate,
    /// `creating`
    Creating,
    /// `pulling` (image download)
    Pulling,
    /// `running`
    Running,
    /// `toStart`
    ToStart,
    /// `starting`
    Starting,
    /// `toStop`
    ToStop,
    /// `stopping`
    Stopping,
    /// `exited` (stopped)
    Exited,
    /// `toRestart`
    ToRestart,
    /// `restarting`
    Restarting,
    /// `toRemove`
    ToRemove,
    /// `removing`
    Removing,
    /// `removed`
    Removed,
    /// `toReset`
    ToReset,
    /// `resetting`
    Resetting,
    /// `migrating`
    Migrating,
    /// `freezing`
    Freezing,
    /// A status not in the list above, as sent (empty if the record had none).
    Other(String),
}

const STATUSES: &[(&str, InstanceStatus)] = &[
    ("toCreate", InstanceStatus::ToCreate),
    ("creating", InstanceStatus::Creating),
    ("pulling", InstanceStatus::Pulling),
    ("running", InstanceStatus::Running),
    ("toStart", InstanceStatus::ToStart),
    ("starting", InstanceStatus::Starting),
    ("toStop", InstanceStatus::ToStop),
    ("stopping", InstanceStatus::Stopping),
    ("exited", InstanceStatus::Exited),
    ("toRestart", InstanceStatus::ToRestart),
    ("restarting", InstanceStatus::Restarting),
    ("toRemove", InstanceStatus::ToRemove),
    ("removing", InstanceStatus::Removing),
    ("removed", InstanceStatus::Removed),
    ("toReset", InstanceStatus::ToReset),
    ("resetting", InstanceStatus::Resetting),
    ("migrating", InstanceStatus::Migrating),
    ("freezing", InstanceStatus::Freezing),
];

impl InstanceStatus {
    /// Reads a wire status (matched case-insensitively); anything else is
    /// [`InstanceStatus::Other`].
    #[must_use]
    pub fn from_wire(s: &str) -> InstanceStatus {
        let t = s.trim();
        STATUSES
            .iter()
            .find(|(w, _)| w.eq_ignore_ascii_case(t))
            .map_or_else(
                || InstanceStatus::Other(String::from(s)),
                |(_, st)| st.clone(),
            )
    }

    /// The wire form (`"running"`, ...).
    #[must_use]
    pub fn as_str(&self) -> &str {
        match self {
            InstanceStatus::Other(s) => s,
            known => STATUSES
                .iter()
                .find(|(_, st)| st == known)
                .map_or("", |(w, _)| w),
        }
    }

    /// `true` for statuses that do not change by themselves: `running`,
    /// `exited`, `removed`.
    #[must_use]
    pub fn is_stable(&self) -> bool {
        matches!(
            self,
            InstanceStatus::Running | InstanceStatus::Exited | InstanceStatus::Removed
        )
    }

    /// `true` while the instance is on its way somewhere (every status but the
    /// stable ones, including unknown ones).
    #[must_use]
    pub fn is_transitional(&self) -> bool {
        !self.is_stable()
    }
}

impl Default for InstanceStatus {
    /// `Other("")`: no status known.
    fn default() -> InstanceStatus {
        InstanceStatus::Other(String::new())
    }
}

impl fmt::Display for InstanceStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for InstanceStatus {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for InstanceStatus {
    /// Never fails: a non-string status becomes `Other("")`.
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<InstanceStatus, D::Error> {
        let v = lenient::scalar(d)?;
        Ok(lenient::to_string(&v)
            .map_or_else(InstanceStatus::default, |s| InstanceStatus::from_wire(&s)))
    }
}

/// Why an instance is in trouble, as the server reports it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusError {
    /// The state the error belongs to.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub state: Option<String>,
    /// The error message; non-empty means the instance failed.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub message: Option<String>,
}

/// An exposed port. List records carry no `endpoint`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortMapping {
    /// Container port.
    #[serde(default, deserialize_with = "lenient::opt_u64")]
    pub port: Option<u64>,
    /// Public endpoint (URL or host:port), in single-instance records.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub endpoint: Option<String>,
    /// `http` or `tcp`.
    #[serde(rename = "type", default, deserialize_with = "lenient::opt_string")]
    pub kind: Option<String>,
}

/// How to reach an instance over SSH or the web terminal. The exact shape is
/// **uncertain**; the fields below are read when present. The password never
/// prints.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConnectInfo {
    /// A ready-made SSH command line.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub ssh_command: Option<String>,
    /// Host, URL or `host:port`.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub address: Option<String>,
    /// Port.
    #[serde(default, deserialize_with = "lenient::opt_u64")]
    pub port: Option<u64>,
    /// User name.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub username: Option<String>,
    /// Password (never printed).
    #[serde(default, deserialize_with = "lenient::opt_secret")]
    pub password: Option<Secret>,
}

fn opt_time<'de, D: Deserializer<'de>>(d: D) -> Result<Option<UnixTime>, D::Error> {
    lenient::opt_u64(d).map(|o| o.and_then(unix_time))
}

/// Unix seconds; 0 means "never"; values that can only be milliseconds
/// (after the year 5138 as seconds) are divided by 1000.
fn unix_time(n: u64) -> Option<UnixTime> {
    match n {
        0 => None,
        n if n >= 100_000_000_000 => Some(UnixTime::from_secs(n / 1000)),
        n => Some(UnixTime::from_secs(n)),
    }
}

/// One instance record (from get or list).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Instance {
    /// Instance id (16 hex digits).
    #[serde(default, deserialize_with = "lenient::string")]
    pub id: String,
    /// Name.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub name: Option<String>,
    /// Status.
    #[serde(default)]
    pub status: InstanceStatus,
    /// Error details; a message means the instance failed.
    #[serde(default, deserialize_with = "lenient::opt_record")]
    pub status_error: Option<StatusError>,
    /// Cluster id.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub cluster_id: Option<String>,
    /// Cluster name.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub cluster_name: Option<String>,
    /// Product id.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub product_id: Option<String>,
    /// Product name.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub product_name: Option<String>,
    /// `gpu` or `cpu`.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub kind: Option<String>,
    /// `onDemand`, `monthly` or `spot`.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub billing_mode: Option<String>,
    /// vCPUs.
    #[serde(default, deserialize_with = "lenient::opt_u64")]
    pub cpu_num: Option<u64>,
    /// Memory, GB.
    #[serde(default, deserialize_with = "lenient::opt_u64")]
    pub memory: Option<u64>,
    /// GPUs.
    #[serde(default, deserialize_with = "lenient::opt_u64")]
    pub gpu_num: Option<u64>,
    /// Root filesystem, GB.
    #[serde(default, deserialize_with = "lenient::opt_u64")]
    pub rootfs_size: Option<u64>,
    /// Container image.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub image_url: Option<String>,
    /// Registry auth id used for the image.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub image_auth_id: Option<String>,
    /// Start command.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub command: Option<String>,
    /// Environment (values never print).
    #[serde(default, deserialize_with = "lenient::records")]
    pub envs: Vec<EnvVar>,
    /// Exposed ports.
    #[serde(default, deserialize_with = "lenient::records")]
    pub port_mappings: Vec<PortMapping>,
    /// Creation time.
    #[serde(default, deserialize_with = "opt_time")]
    pub created_at: Option<UnixTime>,
    /// Last start.
    #[serde(default, deserialize_with = "opt_time")]
    pub last_started_at: Option<UnixTime>,
    /// Last stop.
    #[serde(default, deserialize_with = "opt_time")]
    pub last_stopped_at: Option<UnixTime>,
    /// Spot status (spot instances).
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub spot_status: Option<String>,
    /// When a spot instance will be reclaimed.
    #[serde(default, deserialize_with = "opt_time")]
    pub spot_reclaim_time: Option<UnixTime>,
    /// SSH password (never printed).
    #[serde(default, deserialize_with = "lenient::opt_secret")]
    pub ssh_password: Option<Secret>,
    /// SSH access.
    #[serde(
        rename = "connectComponentSSH",
        default,
        deserialize_with = "lenient::opt_record"
    )]
    pub connect_ssh: Option<ConnectInfo>,
    /// Web terminal access.
    #[serde(
        rename = "connectComponentWebTerminal",
        default,
        deserialize_with = "lenient::opt_record"
    )]
    pub connect_web_terminal: Option<ConnectInfo>,
}

impl Instance {
    /// The failure message, if the server reports one (a non-empty
    /// `statusError.message`).
    #[must_use]
    pub fn failure(&self) -> Option<&str> {
        self.status_error
            .as_ref()
            .and_then(|e| e.message.as_deref())
            .filter(|m| !m.trim().is_empty())
    }
}

// ------------------------------------------------------------------ list/get

/// A page of instances.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstancePage {
    /// The instances on this page.
    pub instances: Vec<Instance>,
    /// Total number of instances, if the server said (**uncertain** whether
    /// it always does).
    pub total: Option<u64>,
    /// The page size the server used, if it said.
    pub page_size: Option<u64>,
    /// The page number the server returned, if it said.
    pub page_num: Option<u64>,
}

/// `GET /v1/gpu/instances` → an [`InstancePage`]. Use
/// [`super::paging::Pager`] to walk every page.
///
/// # Default
/// `page_size` = 50, `page_num` = 1, no filters.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListInstances {
    /// Page size (sent always; required by the server).
    pub page_size: u32,
    /// Page number, from 1 (sent always; required by the server).
    pub page_num: u32,
    /// Name filter.
    pub name: Option<String>,
    /// Product-name filter.
    pub product_name: Option<String>,
    /// Status filter (a wire status such as `running`).
    pub status: Option<String>,
}

impl Default for ListInstances {
    fn default() -> ListInstances {
        ListInstances {
            page_size: 50,
            page_num: 1,
            name: None,
            product_name: None,
            status: None,
        }
    }
}

impl ListInstances {
    /// The same query for page `page_num`.
    #[must_use]
    pub fn page(&self, page_num: u32) -> ListInstances {
        ListInstances {
            page_num,
            ..self.clone()
        }
    }
}

impl Endpoint for ListInstances {
    type Output = InstancePage;

    fn name(&self) -> &'static str {
        "instances.list"
    }

    fn request(&self) -> HttpRequest {
        let mut q = PathQuery::new("/v1/gpu/instances");
        q.opt_num("pageSize", Some(u64::from(self.page_size)))
            .opt_num("pageNum", Some(u64::from(self.page_num)))
            .opt_str("name", self.name.as_deref())
            .opt_str("productName", self.product_name.as_deref())
            .opt_str("status", self.status.as_deref());
        get(q.finish())
    }

    fn parse(&self, response: &HttpResponse) -> Result<InstancePage, ApiError> {
        if let Some((instances, [_, total, page_size, page_num])) =
            fast::list(response, &["instances", "total", "pageSize", "pageNum"])
        {
            return Ok(InstancePage {
                instances,
                total,
                page_size,
                page_num,
            });
        }
        let v = success_json(response)?;
        Ok(InstancePage {
            instances: list_under(&v, "instances", response)?,
            total: top_u64(&v, "total"),
            page_size: top_u64(&v, "pageSize"),
            page_num: top_u64(&v, "pageNum"),
        })
    }

    fn is_idempotent(&self) -> bool {
        true
    }
}

/// `GET /v1/gpu/instance?instanceId=` → one [`Instance`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GetInstance {
    /// The instance id.
    pub instance_id: String,
}

impl GetInstance {
    /// Gets instance `instance_id`.
    #[must_use]
    pub fn new(instance_id: impl Into<String>) -> GetInstance {
        GetInstance {
            instance_id: instance_id.into(),
        }
    }
}

impl Endpoint for GetInstance {
    type Output = Instance;

    fn name(&self) -> &'static str {
        "instances.get"
    }

    fn request(&self) -> HttpRequest {
        let mut q = PathQuery::new("/v1/gpu/instance");
        q.push("instanceId", &self.instance_id);
        get(q.finish())
    }

    /// Accepts the record itself, or wrapped as `{"instance": {...}}` or
    /// `{"data": {...}}`. A missing id is filled with the requested one.
    fn parse(&self, response: &HttpResponse) -> Result<Instance, ApiError> {
        const WRAPPERS: [&str; 2] = ["instance", "data"];
        let mut instance: Instance = match fast::record(response, &WRAPPERS) {
            Some(instance) => instance,
            None => {
                let v = success_json(response)?;
                let record = WRAPPERS
                    .iter()
                    .find_map(|k| v.get(*k).filter(|x| x.is_object()))
                    .unwrap_or(&v);
                if !record.is_object() {
                    return Err(ApiError::decode(response, "expected an instance object"));
                }
                decode(record, response)?
            }
        };
        if instance.id.is_empty() {
            instance.id.clone_from(&self.instance_id);
        }
        Ok(instance)
    }

    fn validate(&self) -> Result<(), ValidationErrors> {
        validate::id("instanceId", &self.instance_id)
    }

    fn is_idempotent(&self) -> bool {
        true
    }
}

// ------------------------------------------------------------------ create

/// A network storage to mount at create time.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NetworkStorageMount {
    /// The storage id (the server spells it `Id`).
    #[serde(rename = "Id")]
    pub id: String,
    /// Absolute mount path, e.g. `/workspace/data`.
    pub mount_point: String,
}

/// The body of `POST /v1/gpu/instance/create`. String-typed fields (`kind`,
/// `billingMode`, `ports`) are checked by [`validate::create_instance`].
///
/// Rules: `productId` required; `gpuNum` 1–8; `rootfsSize` 10–6144 GB;
/// `imageUrl` required, ≤ 500 chars; `kind` `gpu` or `cpu`; `name` ≤ 255;
/// `command`, `entrypoint` ≤ 2047; `imageAuth` `user:pass`; `ports` like
/// `"8888/http,22/tcp"` (tcp/http, 1–65535, not 2222–2224, ≤ 15, no repeats);
/// ≤ 100 `envs` with non-empty keys; `networkStorages` with an id and an
/// absolute mount point; `billingMode` `onDemand`, `monthly` or `spot`;
/// `month` (1–12) required for monthly; `autoRenewMonth` (1–12) required when
/// `autoRenew`.
///
/// # Default
/// `gpuNum` = 1, `rootfsSize` = 60, `kind` = `"gpu"`, everything else empty
/// (`productId` and `imageUrl` must be set).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateInstanceRequest {
    /// Instance name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Product id (see [`super::products::choose_product`]).
    pub product_id: String,
    /// GPUs.
    pub gpu_num: u32,
    /// Root filesystem, GB.
    pub rootfs_size: u64,
    /// Container image.
    pub image_url: String,
    /// Inline registry credentials `user:pass` (never printed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image_auth: Option<Secret>,
    /// Saved registry auth id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image_auth_id: Option<String>,
    /// Start command.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    /// Entrypoint.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entrypoint: Option<String>,
    /// Minimum CUDA version.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_cuda_version: Option<String>,
    /// Ports, e.g. `"8888/http,22/tcp"`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ports: Option<String>,
    /// Environment variables.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub envs: Vec<EnvVar>,
    /// Tools to install (shape **uncertain**; sent as given).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tools: Option<Value>,
    /// `gpu` or `cpu`.
    pub kind: String,
    /// Cluster id (`None` = any).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster_id: Option<String>,
    /// Network storages to mount.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub network_storages: Vec<NetworkStorageMount>,
    /// Instance network id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub network_id: Option<String>,
    /// `onDemand`, `monthly` or `spot`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub billing_mode: Option<String>,
    /// Months (monthly billing).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub month: Option<u32>,
    /// Renew automatically (monthly billing).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auto_renew: Option<bool>,
    /// Months per automatic renewal.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auto_renew_month: Option<u32>,
}

impl Default for CreateInstanceRequest {
    fn default() -> CreateInstanceRequest {
        CreateInstanceRequest {
            name: None,
            product_id: String::new(),
            gpu_num: 1,
            rootfs_size: 60,
            image_url: String::new(),
            image_auth: None,
            image_auth_id: None,
            command: None,
            entrypoint: None,
            min_cuda_version: None,
            ports: None,
            envs: Vec::new(),
            tools: None,
            kind: String::from("gpu"),
            cluster_id: None,
            network_storages: Vec::new(),
            network_id: None,
            billing_mode: None,
            month: None,
            auto_renew: None,
            auto_renew_month: None,
        }
    }
}

impl CreateInstanceRequest {
    /// A GPU instance of `product_id` running `image_url`, other fields default.
    #[must_use]
    pub fn new(
        product_id: impl Into<String>,
        gpu_num: u32,
        rootfs_size: u64,
        image_url: impl Into<String>,
    ) -> CreateInstanceRequest {
        CreateInstanceRequest {
            product_id: product_id.into(),
            gpu_num,
            rootfs_size,
            image_url: image_url.into(),
            ..CreateInstanceRequest::default()
        }
    }

    /// Checks every rule; see [`validate::create_instance`].
    ///
    /// # Errors
    /// [`ValidationErrors`] listing every problem.
    pub fn validate(&self) -> Result<(), ValidationErrors> {
        validate::create_instance(self)
    }
}

/// `POST /v1/gpu/instance/create` → the new instance id. Not idempotent: a
/// retry after a lost answer may create a second instance.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreateInstance(pub CreateInstanceRequest);

impl Endpoint for CreateInstance {
    type Output = String;

    fn name(&self) -> &'static str {
        "instances.create"
    }

    fn request(&self) -> HttpRequest {
        post("/v1/gpu/instance/create", &self.0)
    }

    fn parse(&self, response: &HttpResponse) -> Result<String, ApiError> {
        let v = success_json(response)?;
        top_string(&v, "id")
            .or_else(|| top_string(&v, "instanceId"))
            .filter(|id| !id.is_empty())
            .ok_or_else(|| ApiError::decode(response, "the response has no instance `id`"))
    }

    fn validate(&self) -> Result<(), ValidationErrors> {
        self.0.validate()
    }
}

// ------------------------------------------------------------------ actions

/// What an instance action (start, stop, ...) answered: the body is empty or
/// `{instanceId, state}` (**uncertain**), so both fields are optional.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstanceAck {
    /// The instance id, if echoed.
    pub instance_id: Option<String>,
    /// The new state, if reported.
    pub state: Option<InstanceStatus>,
}

fn parse_ack(response: &HttpResponse) -> Result<InstanceAck, ApiError> {
    success_unit(response)?;
    // Any 2xx body is accepted; fields are read when the body is JSON.
    let v: Value = serde_json::from_slice(&response.body).unwrap_or(Value::Null);
    Ok(InstanceAck {
        instance_id: top_string(&v, "instanceId"),
        state: v
            .get("state")
            .or_else(|| v.get("status"))
            .and_then(lenient::to_string)
            .map(|s| InstanceStatus::from_wire(&s)),
    })
}

by_id_endpoint!(
    /// `POST /v1/gpu/instance/start` with `{instanceId}`. An instance that
    /// cannot start now answers 400 "invalid state change".
    StartInstance { instance_id: "instanceId", "The instance id." },
    "The action for instance `instance_id`.",
    "/v1/gpu/instance/start",
    "instances.start",
    InstanceAck,
    parse_ack
);
by_id_endpoint!(
    /// `POST /v1/gpu/instance/stop` with `{instanceId}`.
    StopInstance { instance_id: "instanceId", "The instance id." },
    "The action for instance `instance_id`.",
    "/v1/gpu/instance/stop",
    "instances.stop",
    InstanceAck,
    parse_ack
);
by_id_endpoint!(
    /// `POST /v1/gpu/instance/restart` with `{instanceId}`.
    RestartInstance { instance_id: "instanceId", "The instance id." },
    "The action for instance `instance_id`.",
    "/v1/gpu/instance/restart",
    "instances.restart",
    InstanceAck,
    parse_ack
);
by_id_endpoint!(
    /// `POST /v1/gpu/instance/delete` with `{instanceId}`.
    DeleteInstance { instance_id: "instanceId", "The instance id." },
    "The action for instance `instance_id`.",
    "/v1/gpu/instance/delete",
    "instances.delete",
    InstanceAck,
    parse_ack
);
by_id_endpoint!(
    /// `POST /v1/gpu/instance/migrate` with `{instanceId}`.
    MigrateInstance { instance_id: "instanceId", "The instance id." },
    "The action for instance `instance_id`.",
    "/v1/gpu/instance/migrate",
    "instances.migrate",
    InstanceAck,
    parse_ack
);

// ------------------------------------------------------------------ edit

/// A port in an edit-instance body.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EditPort {
    /// Port number (1–65535, not 2222–2224).
    pub port: u64,
    /// `http` or `tcp`.
    #[serde(rename = "type")]
    pub kind: String,
}

/// `POST /v1/gpu/instance/edit` with `{instanceId, ports, expandRootDisk}`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EditInstance {
    /// The instance id.
    pub instance_id: String,
    /// The full new port list.
    pub ports: Vec<EditPort>,
    /// GB to add to the root disk.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expand_root_disk: Option<u64>,
}

impl Endpoint for EditInstance {
    type Output = ();

    fn name(&self) -> &'static str {
        "instances.edit"
    }

    fn request(&self) -> HttpRequest {
        post("/v1/gpu/instance/edit", self)
    }

    fn parse(&self, response: &HttpResponse) -> Result<(), ApiError> {
        success_unit(response)
    }

    fn validate(&self) -> Result<(), ValidationErrors> {
        validate::edit_ports(&self.instance_id, &self.ports)
    }
}

#[cfg(test)]
mod tests;
