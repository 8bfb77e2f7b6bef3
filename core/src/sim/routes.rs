//! Request → handler: authentication, routing, validation and the handlers of
//! every v1 endpoint the simulator serves.

use alloc::string::{String, ToString};
use alloc::vec::Vec;
use serde_json::{Map, Value};

use super::instances::{Instance, Operation, Port, Status};
use super::json::{
    Query, body_object, error, fuzzy_contains, invalid, ok, opt_bool, opt_int, opt_str, req_str,
    split_target,
};
use super::model::{MAX_ROOTFS, MIN_ROOTFS, Model, NetworkStorage, RegistryAuth, Template};
use super::wire;
use crate::http::{HttpRequest, HttpResponse, Method};
use crate::time::Instant;

type Reply = Result<HttpResponse, HttpResponse>;

const BILLING: [&str; 3] = ["onDemand", "monthly", "spot"];

/// Answers one request that got past the fault layer.
pub(crate) fn route(m: &mut Model, req: &HttpRequest, now: Instant) -> HttpResponse {
    let authorised = req
        .headers
        .get("authorization")
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|k| k.trim() == m.config.api_key);
    if !authorised {
        return error(
            401,
            "UNAUTHORIZED",
            "missing or invalid API key in the Authorization header",
        );
    }
    let (path, query) = split_target(&req.path_and_query);
    let q = Query::parse(query);
    let body = req.body.as_deref();
    use Method::{Get, Post};
    let result = match (req.method, path) {
        (Get, "/v1/clusters") => Ok(clusters(m)),
        (Get, "/v1/products") => products(m, &q),
        (Get, "/v1/templates") => templates(m, &q),
        (Get, "/v1/template") => template_get(m, &q),
        (Post, "/v1/template/create") => template_create(m, body, now),
        (Post, "/v1/template/delete") => template_delete(m, body),
        (Get, "/v1/repository/auths") => Ok(auths(m)),
        (Post, "/v1/repository/auth/save") => auth_save(m, body),
        (Post, "/v1/repository/auth/delete") => auth_delete(m, body),
        (Get, "/v1/networkstorages/list") => storages(m, &q),
        (Post, "/v1/networkstorage/create") => storage_create(m, body),
        (Post, "/v1/networkstorage/update") => storage_update(m, body),
        (Post, "/v1/networkstorage/delete") => storage_delete(m, body),
        (Post, "/v1/gpu/instance/create") => instance_create(m, body, now),
        (Get, "/v1/gpu/instances") => instances(m, &q),
        (Get, "/v1/gpu/instance") => instance_get(m, &q),
        (Post, "/v1/gpu/instance/start") => operate(m, body, Operation::Start, now),
        (Post, "/v1/gpu/instance/stop") => operate(m, body, Operation::Stop, now),
        (Post, "/v1/gpu/instance/restart") => operate(m, body, Operation::Restart, now),
        (Post, "/v1/gpu/instance/delete") => operate(m, body, Operation::Delete, now),
        (Post, "/v1/gpu/instance/migrate") => operate(m, body, Operation::Migrate, now),
        (Post, "/v1/gpu/instance/edit") => instance_edit(m, body),
        (method, path) => Err(unknown_route(method, path)),
    };
    result.unwrap_or_else(|e| e)
}

/// Every path the simulator serves (relative to the base URL), for tests
/// and fuzzers that need to reach real routes.
pub const ROUTES: [&str; 22] = [
    "/v1/clusters",
    "/v1/products",
    "/v1/templates",
    "/v1/template",
    "/v1/template/create",
    "/v1/template/delete",
    "/v1/repository/auths",
    "/v1/repository/auth/save",
    "/v1/repository/auth/delete",
    "/v1/networkstorages/list",
    "/v1/networkstorage/create",
    "/v1/networkstorage/update",
    "/v1/networkstorage/delete",
    "/v1/gpu/instance/create",
    "/v1/gpu/instances",
    "/v1/gpu/instance",
    "/v1/gpu/instance/start",
    "/v1/gpu/instance/stop",
    "/v1/gpu/instance/restart",
    "/v1/gpu/instance/delete",
    "/v1/gpu/instance/migrate",
    "/v1/gpu/instance/edit",
];

fn unknown_route(method: Method, path: &str) -> HttpResponse {
    if ROUTES.contains(&path) {
        error(
            405,
            "METHOD_NOT_ALLOWED",
            &alloc::format!("{method} is not allowed on {path}"),
        )
    } else {
        error(
            404,
            "NOT_FOUND",
            &alloc::format!("no such endpoint: {method} {path}"),
        )
    }
}

fn not_found(reason: &str, what: &str, id: &str) -> HttpResponse {
    error(404, reason, &alloc::format!("{what} {id} not found"))
}

/// `(pageSize, pageNum)` with pageNum 1-based (0 counts as 1), pageSize 0 =
/// the default, clamped to the maximum.
fn paging(
    m: &Model,
    q: &Query,
    size_key: &str,
    num_key: &str,
    required: bool,
) -> Result<(usize, usize), HttpResponse> {
    let size = q.uint(size_key)?;
    let num = q.uint(num_key)?;
    if required && (size.is_none() || num.is_none()) {
        return Err(invalid(&alloc::format!(
            "{size_key} and {num_key} are required"
        )));
    }
    let size = match size.unwrap_or(0) {
        0 => u64::from(m.config.default_page_size),
        n => n.min(u64::from(m.config.max_page_size)),
    };
    let num = num.unwrap_or(1).max(1);
    Ok((
        usize::try_from(size).unwrap_or(usize::MAX),
        usize::try_from(num).unwrap_or(usize::MAX),
    ))
}

fn page<T>(items: &[T], size: usize, num: usize) -> &[T] {
    let from = size.saturating_mul(num.saturating_sub(1));
    let to = from.saturating_add(size).min(items.len());
    items.get(from..to).unwrap_or(&[])
}

// ---- catalogue --------------------------------------------------------------

fn clusters(m: &Model) -> HttpResponse {
    let data: Vec<_> = m.clusters.iter().map(|c| m.cluster_wire(c)).collect();
    ok(&wire::Data { data })
}

fn products(m: &Model, q: &Query) -> Reply {
    let gpu_num = q.uint("gpuNum")?.unwrap_or(1);
    if gpu_num > 8 {
        return Err(invalid("gpuNum must be between 0 and 8"));
    }
    let billing = q.get("billingMethod").unwrap_or("onDemand");
    if !BILLING.contains(&billing) {
        return Err(invalid(
            "billingMethod must be one of onDemand, monthly, spot",
        ));
    }
    let cluster = q.get("clusterId");
    if let Some(c) = cluster
        && m.cluster(c).is_none()
    {
        return Err(invalid(&alloc::format!("clusterId {c} does not exist")));
    }
    let min_cpu = q.uint("minCpuPerGpu")?.unwrap_or(0);
    let min_mem = q.uint("minMemoryPerGpu")?.unwrap_or(0);
    let min_rootfs = q.uint("minRootFSSize")?.unwrap_or(0);
    let name = q.get("productName");
    let data: Vec<_> = m
        .products
        .iter()
        .filter(|p| cluster.is_none_or(|c| p.region == c))
        .filter(|p| name.is_none_or(|n| fuzzy_contains(&p.name, n)))
        .filter(|p| u64::from(p.cpu_per_gpu) >= min_cpu && u64::from(p.memory_per_gpu) >= min_mem)
        .filter(|_| u64::from(MAX_ROOTFS) >= min_rootfs)
        .filter(|p| billing != "spot" || p.spot_price > 0)
        .map(|p| Model::product_wire(p, gpu_num as u32))
        .collect();
    Ok(ok(&wire::Data { data }))
}

// ---- templates --------------------------------------------------------------

fn templates(m: &Model, q: &Query) -> Reply {
    let (size, num) = paging(m, q, "pageSize", "pageNum", false)?;
    let name = q.get("name");
    let kind = q.get("type");
    let channel = q.get("channel");
    let all: Vec<&Template> = m
        .templates
        .iter()
        .filter(|t| name.is_none_or(|n| fuzzy_contains(&t.name, n)))
        .filter(|t| kind.is_none_or(|k| t.kind == k))
        .filter(|t| channel.is_none_or(|c| t.channel == c))
        .collect();
    let items: Vec<_> = page(&all, size, num)
        .iter()
        .map(|t| Model::template_wire(t))
        .collect();
    Ok(ok(&wire::TemplatePage {
        page_num: num,
        page_size: size,
        template: items,
        total: all.len(),
    }))
}

fn template_get(m: &Model, q: &Query) -> Reply {
    let id = q
        .get("templateId")
        .ok_or_else(|| invalid("templateId is required"))?;
    let t = m
        .templates
        .iter()
        .find(|t| t.id == id)
        .ok_or_else(|| not_found("TEMPLATE_NOT_FOUND", "template", id))?;
    Ok(ok(&wire::TemplateBody {
        template: Model::template_wire(t),
    }))
}

fn check_len(key: &str, s: &str, max: usize) -> Result<(), HttpResponse> {
    if s.chars().count() > max {
        return Err(invalid(&alloc::format!(
            "{key} must be at most {max} characters"
        )));
    }
    Ok(())
}

fn parse_envs(v: Option<&Value>) -> Result<Vec<(String, String)>, HttpResponse> {
    let Some(v) = v.filter(|v| !v.is_null()) else {
        return Ok(Vec::new());
    };
    let arr = v
        .as_array()
        .ok_or_else(|| invalid("envs must be a list of {key, value}"))?;
    if arr.len() > 100 {
        return Err(invalid("envs must have at most 100 entries"));
    }
    arr.iter()
        .map(|e| {
            let o = e
                .as_object()
                .ok_or_else(|| invalid("envs must be a list of {key, value}"))?;
            let key = req_str(o, "key").map_err(|_| invalid("every env needs a non-empty key"))?;
            let value = opt_str(o, "value")?.unwrap_or_default();
            Ok((key, value))
        })
        .collect()
}

fn port_number(v: i64) -> Result<u16, HttpResponse> {
    let p = u16::try_from(v)
        .ok()
        .filter(|p| *p > 0)
        .ok_or_else(|| invalid("ports must be between 1 and 65535"))?;
    if (2222..=2224).contains(&p) {
        return Err(invalid("ports 2222-2224 are reserved"));
    }
    Ok(p)
}

fn port_type(t: &str) -> Result<String, HttpResponse> {
    match t {
        "tcp" | "http" => Ok(t.to_string()),
        _ => Err(invalid("port type must be tcp or http")),
    }
}

fn template_create(m: &mut Model, body: Option<&[u8]>, now: Instant) -> Reply {
    let b = body_object(body)?;
    let t = b
        .get("template")
        .and_then(Value::as_object)
        .ok_or_else(|| invalid("template is required"))?;
    let name = req_str(t, "name")?;
    check_len("name", &name, 255)?;
    let image = req_str(t, "image")?;
    check_len("image", &image, 500)?;
    let rootfs = opt_int(t, "rootfsSize")?.unwrap_or(60);
    if !(i64::from(MIN_ROOTFS)..=i64::from(MAX_ROOTFS)).contains(&rootfs) {
        return Err(invalid("rootfsSize must be between 10 and 6144"));
    }
    let mut ports = Vec::new();
    if let Some(list) = t.get("ports").filter(|v| !v.is_null()) {
        let list = list
            .as_array()
            .ok_or_else(|| invalid("ports must be a list of {type, ports}"))?;
        for p in list {
            let o = p
                .as_object()
                .ok_or_else(|| invalid("ports must be a list of {type, ports}"))?;
            let kind = port_type(&opt_str(o, "type")?.unwrap_or_default())?;
            let nums = o
                .get("ports")
                .and_then(Value::as_array)
                .ok_or_else(|| invalid("ports[].ports must be a list of integers"))?;
            let nums = nums
                .iter()
                .map(|n| {
                    n.as_i64()
                        .ok_or_else(|| invalid("ports[].ports must be a list of integers"))
                        .and_then(port_number)
                })
                .collect::<Result<Vec<u16>, _>>()?;
            ports.push((kind, nums));
        }
    }
    let template = Template {
        id: m.next_template_id.to_string(),
        name,
        kind: opt_str(t, "type")?.unwrap_or_else(|| "instance".to_string()),
        channel: "private".to_string(),
        image,
        image_auth: opt_str(t, "imageAuth")?.unwrap_or_default(),
        start_command: opt_str(t, "startCommand")?.unwrap_or_default(),
        entrypoint: opt_str(t, "entrypoint")?.unwrap_or_default(),
        rootfs_size: rootfs as u32,
        ports,
        envs: parse_envs(t.get("envs"))?,
        min_cuda_version: opt_str(t, "minCudaVersion")?.unwrap_or_default(),
        description: opt_str(t, "description")?.unwrap_or_default(),
        created_at: m.unix(now),
    };
    m.next_template_id = m.next_template_id.saturating_add(1);
    let response = ok(&wire::TemplateIdBody {
        template_id: &template.id,
    });
    m.templates.push(template);
    Ok(response)
}

fn template_delete(m: &mut Model, body: Option<&[u8]>) -> Reply {
    let b = body_object(body)?;
    let id = req_str(&b, "templateId")?;
    let at = m
        .templates
        .iter()
        .position(|t| t.id == id)
        .ok_or_else(|| not_found("TEMPLATE_NOT_FOUND", "template", &id))?;
    if m.templates.get(at).is_some_and(|t| t.channel != "private") {
        return Err(error(
            403,
            "FORBIDDEN",
            "only private templates can be deleted",
        ));
    }
    m.templates.remove(at);
    Ok(ok(&wire::TemplateIdBody { template_id: &id }))
}

// ---- registry auths ---------------------------------------------------------

fn auths(m: &Model) -> HttpResponse {
    let data: Vec<_> = m.auths.iter().map(Model::auth_wire).collect();
    ok(&wire::Data { data })
}

fn auth_save(m: &mut Model, body: Option<&[u8]>) -> Reply {
    let b = body_object(body)?;
    let name = req_str(&b, "name")?;
    check_len("name", &name, 255)?;
    let username = req_str(&b, "username")?;
    let password = req_str(&b, "password")?;
    if let Some(a) = m.auths.iter_mut().find(|a| a.name == name) {
        a.username = username;
        a.password = password;
    } else {
        let id = m.next_auth_id.to_string();
        m.next_auth_id = m.next_auth_id.saturating_add(1);
        m.auths.push(RegistryAuth {
            id,
            name,
            username,
            password,
        });
    }
    Ok(ok(&wire::Empty {}))
}

fn auth_delete(m: &mut Model, body: Option<&[u8]>) -> Reply {
    let b = body_object(body)?;
    let id = req_str(&b, "id")?;
    let at = m
        .auths
        .iter()
        .position(|a| a.id == id)
        .ok_or_else(|| not_found("RESOURCE_NOT_FOUND", "registry auth", &id))?;
    m.auths.remove(at);
    Ok(ok(&wire::Empty {}))
}

// ---- network storage --------------------------------------------------------

const STORAGE_SIZES: core::ops::RangeInclusive<i64> = 10..=10_240;

fn storages(m: &Model, q: &Query) -> Reply {
    let (size, num) = paging(m, q, "pageSize", "pageNo", false)?;
    let items: Vec<_> = page(&m.storages, size, num)
        .iter()
        .map(Model::storage_wire)
        .collect();
    Ok(ok(&wire::DataTotal {
        data: items,
        total: m.storages.len(),
    }))
}

fn storage_create(m: &mut Model, body: Option<&[u8]>) -> Reply {
    let b = body_object(body)?;
    let cluster_id = req_str(&b, "clusterId")?;
    let name = req_str(&b, "storageName")?;
    check_len("storageName", &name, 255)?;
    let size = opt_int(&b, "storageSize")?.ok_or_else(|| invalid("storageSize is required"))?;
    if !STORAGE_SIZES.contains(&size) {
        return Err(invalid("storageSize must be between 10 and 10240"));
    }
    let cluster = m
        .cluster(&cluster_id)
        .ok_or_else(|| invalid(&alloc::format!("clusterId {cluster_id} does not exist")))?;
    if !cluster.support_network_storage {
        return Err(invalid(&alloc::format!(
            "cluster {cluster_id} does not support network storage"
        )));
    }
    let cluster_name = cluster.name.clone();
    let id = m.new_hex_id();
    m.storages.push(NetworkStorage {
        id: id.clone(),
        name,
        size_gb: size as u32,
        cluster_id,
        cluster_name,
    });
    Ok(ok(&wire::StorageIdBody { storage_id: &id }))
}

fn storage_update(m: &mut Model, body: Option<&[u8]>) -> Reply {
    let b = body_object(body)?;
    let id = req_str(&b, "storageId")?;
    let name = opt_str(&b, "storageName")?;
    let size = opt_int(&b, "storageSize")?;
    let s = m
        .storages
        .iter_mut()
        .find(|s| s.id == id)
        .ok_or_else(|| not_found("RESOURCE_NOT_FOUND", "network storage", &id))?;
    if let Some(size) = size {
        if !STORAGE_SIZES.contains(&size) {
            return Err(invalid("storageSize must be between 10 and 10240"));
        }
        if size < i64::from(s.size_gb) {
            return Err(invalid("storageSize can only grow"));
        }
    }
    if let Some(n) = name.filter(|n| !n.trim().is_empty()) {
        check_len("storageName", &n, 255)?;
        s.name = n;
    }
    if let Some(size) = size {
        s.size_gb = size as u32;
    }
    Ok(ok(&wire::Empty {}))
}

fn storage_delete(m: &mut Model, body: Option<&[u8]>) -> Reply {
    let b = body_object(body)?;
    let id = req_str(&b, "storageId")?;
    let at = m
        .storages
        .iter()
        .position(|s| s.id == id)
        .ok_or_else(|| not_found("RESOURCE_NOT_FOUND", "network storage", &id))?;
    if m.instances
        .iter()
        .any(|i| i.network_storages.iter().any(|(s, _)| *s == id))
    {
        return Err(error(
            400,
            "CONFLICT",
            "network storage is mounted by an instance",
        ));
    }
    m.storages.remove(at);
    Ok(ok(&wire::Empty {}))
}

// ---- instances --------------------------------------------------------------

/// Parses `"8888/http,22/tcp"` (type defaults to http).
fn parse_ports(s: &str) -> Result<Vec<Port>, HttpResponse> {
    let mut out: Vec<Port> = Vec::new();
    for item in s.split(',').map(str::trim).filter(|i| !i.is_empty()) {
        let (num, kind) = item.split_once('/').unwrap_or((item, "http"));
        let num: i64 = num
            .trim()
            .parse()
            .map_err(|_| invalid(&alloc::format!("port {item} is not a number")))?;
        let port = port_number(num)?;
        let kind = port_type(kind.trim())?;
        if out.iter().any(|p| p.port == port) {
            return Err(invalid(&alloc::format!("port {port} is listed twice")));
        }
        out.push(Port { port, kind });
    }
    if out.len() > 15 {
        return Err(invalid("at most 15 ports can be exposed"));
    }
    Ok(out)
}

fn instance_create(m: &mut Model, body: Option<&[u8]>, now: Instant) -> Reply {
    let b = body_object(body)?;
    let product_id = req_str(&b, "productId")?;
    let gpu_num = opt_int(&b, "gpuNum")?.ok_or_else(|| invalid("gpuNum is required"))?;
    if !(1..=8).contains(&gpu_num) {
        return Err(invalid("gpuNum must be between 1 and 8"));
    }
    let rootfs = opt_int(&b, "rootfsSize")?.ok_or_else(|| invalid("rootfsSize is required"))?;
    if !(i64::from(MIN_ROOTFS)..=i64::from(MAX_ROOTFS)).contains(&rootfs) {
        return Err(invalid("rootfsSize must be between 10 and 6144"));
    }
    let image_url = req_str(&b, "imageUrl").map_err(|_| invalid("imageUrl is required"))?;
    check_len("imageUrl", &image_url, 500)?;
    let kind = req_str(&b, "kind")?;
    if kind != "gpu" && kind != "cpu" {
        return Err(invalid("kind must be gpu or cpu"));
    }
    let name = opt_str(&b, "name")?.unwrap_or_default();
    check_len("name", &name, 255)?;
    let command = opt_str(&b, "command")?.unwrap_or_default();
    check_len("command", &command, 2047)?;
    let entrypoint = opt_str(&b, "entrypoint")?.unwrap_or_default();
    check_len("entrypoint", &entrypoint, 2047)?;
    if let Some(auth) = opt_str(&b, "imageAuth")?
        && !auth.is_empty()
        && !auth.contains(':')
    {
        return Err(invalid("imageAuth must be user:password"));
    }
    let ports = parse_ports(&opt_str(&b, "ports")?.unwrap_or_default())?;
    let envs = parse_envs(b.get("envs"))?;
    let billing = opt_str(&b, "billingMode")?
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "onDemand".to_string());
    if !BILLING.contains(&billing.as_str()) {
        return Err(invalid(
            "billingMode must be one of onDemand, monthly, spot",
        ));
    }
    if billing == "monthly" {
        let month = opt_int(&b, "month")?.unwrap_or(0);
        if !(1..=12).contains(&month) {
            return Err(invalid(
                "month must be between 1 and 12 for monthly billing",
            ));
        }
    }
    let _ = opt_bool(&b, "autoRenew")?;
    let image_auth_id = opt_str(&b, "imageAuthId")?.unwrap_or_default();
    if !image_auth_id.is_empty() && !m.auths.iter().any(|a| a.id == image_auth_id) {
        return Err(error(
            400,
            "RESOURCE_NOT_FOUND",
            &alloc::format!("registry auth {image_auth_id} not found"),
        ));
    }
    let product = m
        .products
        .iter()
        .find(|p| p.id == product_id)
        .cloned()
        .ok_or_else(|| {
            error(
                400,
                "RESOURCE_NOT_FOUND",
                &alloc::format!("product {product_id} not found"),
            )
        })?;
    let cluster_id = opt_str(&b, "clusterId")?
        .filter(|c| !c.is_empty())
        .unwrap_or_else(|| product.region.clone());
    let cluster = m
        .cluster(&cluster_id)
        .cloned()
        .ok_or_else(|| invalid(&alloc::format!("clusterId {cluster_id} does not exist")))?;
    if product.region != cluster.id {
        return Err(error(
            400,
            "INSUFFICIENT_RESOURCE",
            &alloc::format!("product {product_id} is not offered in cluster {cluster_id}"),
        ));
    }
    if !product.deployable || gpu_num > i64::from(product.max_gpus) {
        return Err(error(
            400,
            "INSUFFICIENT_RESOURCE",
            &alloc::format!(
                "no capacity for {gpu_num} x {} in {cluster_id}",
                product.name
            ),
        ));
    }
    if billing == "spot" && product.spot_price == 0 {
        return Err(invalid(
            "billingMode spot is not available for this product",
        ));
    }
    let mut network_storages = Vec::new();
    if let Some(list) = b.get("networkStorages").filter(|v| !v.is_null()) {
        let list = list
            .as_array()
            .ok_or_else(|| invalid("networkStorages must be a list of {Id, mountPoint}"))?;
        for ns in list {
            let o: &Map<String, Value> = ns
                .as_object()
                .ok_or_else(|| invalid("networkStorages must be a list of {Id, mountPoint}"))?;
            let id = req_str(o, "Id")?;
            let mount = opt_str(o, "mountPoint")?.unwrap_or_else(|| "/network".to_string());
            match m.storages.iter().find(|s| s.id == id) {
                None => {
                    return Err(error(
                        400,
                        "RESOURCE_NOT_FOUND",
                        &alloc::format!("network storage {id} not found"),
                    ));
                }
                Some(s) if s.cluster_id != cluster.id => {
                    return Err(invalid(&alloc::format!(
                        "network storage {id} is in another cluster"
                    )));
                }
                Some(_) => network_storages.push((id, mount)),
            }
        }
    }
    let live = m.instances.len();
    if live >= m.config.max_instances as usize {
        return Err(error(
            400,
            "CREATE_INSTANCE_LIMIT",
            &alloc::format!("at most {} instances per account", m.config.max_instances),
        ));
    }
    let id = m.new_hex_id();
    let ssh_password = alloc::format!("{:016x}", m.id_rng.next_u64());
    let ssh_port = 30_000 + (m.id_rng.next_u64() % 30_000) as u16;
    let (status, steps, warmup) = {
        let Model {
            lifecycle_rng,
            config,
            ..
        } = &mut *m;
        let mut d = super::instances::Draws {
            rng: lifecycle_rng,
            timings: &config.timings,
            failure_probability: config.startup_failure,
        };
        d.create(now, &image_url)
    };
    let g = gpu_num as u32;
    m.instances.push(Instance {
        id: id.clone(),
        name,
        product_id: product.id.clone(),
        product_name: product.name.clone(),
        cluster_id: cluster.id.clone(),
        cluster_name: cluster.name.clone(),
        kind,
        billing_mode: billing,
        gpu_num: g,
        cpu_num: product.cpu_per_gpu.saturating_mul(g),
        memory_gb: product.memory_per_gpu.saturating_mul(g),
        rootfs_size: rootfs as u32,
        image_url,
        image_auth_id,
        command,
        entrypoint,
        envs,
        ports,
        network_storages,
        ssh_port,
        ssh_password,
        created_at: now,
        last_started_at: None,
        last_stopped_at: None,
        status,
        status_error: None,
        steps,
        healthy_at: None,
        pending_warmup: warmup,
    });
    Ok(ok(&wire::IdBody { id: &id }))
}

fn instances(m: &Model, q: &Query) -> Reply {
    let (size, num) = paging(m, q, "pageSize", "pageNum", true)?;
    let name = q.get("name");
    let product = q.get("productName");
    let cluster = q.get("clusterId");
    let billing = q.get("billingMode").or_else(|| q.get("billingMethod"));
    let status = match q.get("status") {
        None => None,
        Some(s) => Some(Status::parse(s).ok_or_else(|| {
            invalid(&alloc::format!("status {s} is not a known instance status"))
        })?),
    };
    let all: Vec<&Instance> = m
        .instances
        .iter()
        .filter(|i| name.is_none_or(|n| fuzzy_contains(&i.name, n)))
        .filter(|i| product.is_none_or(|p| fuzzy_contains(&i.product_name, p)))
        .filter(|i| cluster.is_none_or(|c| i.cluster_id == c))
        .filter(|i| billing.is_none_or(|b| i.billing_mode == b))
        .filter(|i| status.is_none_or(|s| i.status == s))
        .collect();
    let items: Vec<_> = page(&all, size, num)
        .iter()
        .map(|i| m.instance_wire(i, None))
        .collect();
    Ok(ok(&wire::InstancePage {
        instances: items,
        page_num: num,
        page_size: size,
        total: all.len(),
    }))
}

fn instance_get(m: &Model, q: &Query) -> Reply {
    let id = q
        .get("instanceId")
        .ok_or_else(|| invalid("instanceId is required"))?;
    let i = m
        .instances
        .iter()
        .find(|i| i.id == id)
        .ok_or_else(|| not_found("RESOURCE_NOT_FOUND", "instance", id))?;
    let endpoint = |port: u16| m.endpoint(&i.id, port);
    Ok(ok(&m.instance_wire(i, Some(&endpoint))))
}

fn operate(m: &mut Model, body: Option<&[u8]>, op: Operation, now: Instant) -> Reply {
    let b = body_object(body)?;
    let id = req_str(&b, "instanceId")?;
    match m.operate(&id, op, now) {
        None => Err(not_found("RESOURCE_NOT_FOUND", "instance", &id)),
        Some(Err(msg)) => Err(error(400, "INVALID_STATE_CHANGE", &msg)),
        Some(Ok(())) => Ok(ok(&wire::Empty {})),
    }
}

fn instance_edit(m: &mut Model, body: Option<&[u8]>) -> Reply {
    let b = body_object(body)?;
    let id = req_str(&b, "instanceId")?;
    let mut ports = None;
    if let Some(list) = b.get("ports").filter(|v| !v.is_null()) {
        let list = list
            .as_array()
            .ok_or_else(|| invalid("ports must be a list of {port, type}"))?;
        let mut out: Vec<Port> = Vec::new();
        for p in list {
            let o = p
                .as_object()
                .ok_or_else(|| invalid("ports must be a list of {port, type}"))?;
            let port = port_number(
                opt_int(o, "port")?.ok_or_else(|| invalid("ports[].port is required"))?,
            )?;
            let kind = port_type(&opt_str(o, "type")?.unwrap_or_else(|| "http".to_string()))?;
            out.push(Port { port, kind });
        }
        if out.len() > 15 {
            return Err(invalid("at most 15 ports can be exposed"));
        }
        ports = Some(out);
    }
    let expand = opt_int(&b, "expandRootDisk")?.unwrap_or(0);
    if !(0..=i64::from(MAX_ROOTFS)).contains(&expand) {
        return Err(invalid("expandRootDisk must be between 0 and 6144"));
    }
    let inst = m
        .instance_mut(&id)
        .ok_or_else(|| not_found("RESOURCE_NOT_FOUND", "instance", &id))?;
    if !matches!(inst.status, Status::Running | Status::Exited) {
        return Err(error(
            400,
            "INVALID_STATE_CHANGE",
            &alloc::format!(
                "invalid state change: cannot edit instance {id} while it is {}",
                inst.status.as_str()
            ),
        ));
    }
    let new_size = i64::from(inst.rootfs_size).saturating_add(expand);
    if new_size > i64::from(MAX_ROOTFS) {
        return Err(invalid("rootfsSize after expansion must be at most 6144"));
    }
    if let Some(p) = ports {
        inst.ports = p;
    }
    inst.rootfs_size = new_size as u32;
    Ok(ok(&wire::Empty {}))
}
