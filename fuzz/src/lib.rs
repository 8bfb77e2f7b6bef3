//! Helpers shared by the fuzz targets: a structured JSON generator biased
//! toward the field names the Novita API parsers and the simulator read.

use arbitrary::{Result, Unstructured};
use serde_json::{Map, Number, Value};

/// Field names the API structs, the simulator routes and the error parser
/// look for (collected from `core/src/api/*.rs`), so generated objects reach
/// past "unknown field, ignored".
pub const KEYS: &[&str] = &[
    "id",
    "name",
    "status",
    "data",
    "code",
    "message",
    "msg",
    "reason",
    "error",
    "total",
    "items",
    "instances",
    "templates",
    "ports",
    "envs",
    "port",
    "type",
    "key",
    "value",
    "image",
    "price",
    "regions",
    "endpoint",
    "password",
    "username",
    "state",
    "address",
    "autoRenew",
    "autoRenewMonth",
    "availableDeploy",
    "availableGpuType",
    "billingMethod",
    "billingMethods",
    "billingMode",
    "channel",
    "channels",
    "clusterId",
    "clusterName",
    "command",
    "connectComponentSSH",
    "connectComponentWebTerminal",
    "connectSsh",
    "connectWebTerminal",
    "cpuNum",
    "cpuPerGpu",
    "createdAt",
    "deployable",
    "diskPerGpu",
    "entrypoint",
    "expandRootDisk",
    "gpuNum",
    "http",
    "imageAuth",
    "imageAuthId",
    "imageUrl",
    "instanceId",
    "kind",
    "lastStartedAt",
    "lastStoppedAt",
    "maxRootFS",
    "maxRootFs",
    "memory",
    "memoryPerGpu",
    "minCpuPerGpu",
    "minCudaVersion",
    "minMemoryPerGpu",
    "minRootFS",
    "minRootFSSize",
    "minRootFs",
    "minRootFsSize",
    "month",
    "monthlyPrice",
    "mountPoint",
    "networkId",
    "networkStorages",
    "onDemand",
    "pageNo",
    "pageNum",
    "pageSize",
    "portMappings",
    "product",
    "productId",
    "productName",
    "readme",
    "region",
    "rootfsSize",
    "spotPrice",
    "spotReclaimTime",
    "spotStatus",
    "sshCommand",
    "sshPassword",
    "startCommand",
    "statusError",
    "storageId",
    "storageName",
    "storageSize",
    "storages",
    "supportInstanceNetwork",
    "supportNetworkStorage",
    "template",
    "templateId",
    "tools",
    "kind",
    "rootfs",
    "imageUrl",
];

/// String values worth trying: statuses, numbers as strings, odd numbers.
pub const STRINGS: &[&str] = &[
    "",
    "0",
    "1",
    "8",
    "-1",
    "1.5",
    " 12 ",
    "1e309",
    "NaN",
    "18446744073709551616",
    "running",
    "exited",
    "pulling",
    "creating",
    "toCreate",
    "removed",
    "stopping",
    "onDemand",
    "spot",
    "monthly",
    "http",
    "tcp",
    "CN-HK-01",
    "US-CA-06",
    "true",
    "false",
    "invalid state change: running -> running",
    "INVALID_STATE_CHANGE",
    "VALIDATOR_PARAM",
    "RATE_LIMIT_EXCEEDED",
    "1700000000",
    "Sun, 06 Nov 1994 08:49:37 GMT",
];

/// A JSON value at most `depth` levels deep.
pub fn json(u: &mut Unstructured<'_>, depth: u32) -> Result<Value> {
    let pick: u8 = if depth == 0 {
        u.int_in_range(0..=5)?
    } else {
        u.int_in_range(0..=7)?
    };
    Ok(match pick {
        0 => Value::Null,
        1 => Value::Bool(u.arbitrary()?),
        2 => Value::Number(match u.int_in_range(0..=3)? {
            0 => Number::from(u.arbitrary::<u64>()?),
            1 => Number::from(u.arbitrary::<i64>()?),
            2 => Number::from(u.int_in_range(0u64..=100)?),
            _ => Number::from_f64(u.arbitrary()?).unwrap_or_else(|| Number::from(0)),
        }),
        3 => Value::String((*u.choose(STRINGS)?).to_owned()),
        4 => Value::String(u.arbitrary::<String>()?),
        5 => Value::String(u.int_in_range(0u64..=u64::MAX)?.to_string()),
        6 => {
            let n = u.int_in_range(0..=4)?;
            let mut v = Vec::with_capacity(n);
            for _ in 0..n {
                v.push(json(u, depth - 1)?);
            }
            Value::Array(v)
        }
        _ => Value::Object(object(u, depth - 1)?),
    })
}

/// A JSON object whose keys are mostly known field names.
pub fn object(u: &mut Unstructured<'_>, depth: u32) -> Result<Map<String, Value>> {
    let n = u.int_in_range(0..=8)?;
    let mut m = Map::new();
    for _ in 0..n {
        let k = if u.ratio(7, 8)? {
            (*u.choose(KEYS)?).to_owned()
        } else {
            u.arbitrary::<String>()?
        };
        m.insert(k, json(u, depth)?);
    }
    Ok(m)
}
