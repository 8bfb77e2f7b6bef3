//! `Simulator::handle` with arbitrary requests (known routes and others,
//! right, wrong or missing keys, arbitrary or structured JSON bodies that
//! reuse ids the simulator handed out) at arbitrary times never panics,
//! answers with a real HTTP status, and is deterministic: a second simulator
//! with the same seed gives the same replies. Fault plans come from
//! `FaultPlan::parse` on arbitrary text as well.
#![no_main]

use arbitrary::{Arbitrary, Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use novitai_core::http::{HttpRequest, Method};
use novitai_core::sim::{FaultPlan, ROUTES, SimConfig, SimReply, Simulator};
use novitai_core::{Duration, Instant};
use novitai_fuzz::{json, object};
use serde_json::Value;


const QUERY_KEYS: &[&str] = &[
    "instanceId",
    "templateId",
    "pageSize",
    "pageNum",
    "pageNo",
    "name",
    "productName",
    "status",
    "clusterId",
    "gpuNum",
    "billingMethod",
    "channel",
];

const ID_KEYS: &[&str] = &["instanceId", "templateId", "storageId", "id", "Id"];

const KEY: &str = "sk_fuzz_key";

#[derive(Debug)]
struct Req {
    request: HttpRequest,
    dt: i32,
}

#[derive(Debug)]
enum Step {
    Handle(Req),
    Probe { id: String, port: u16, dt: u32 },
    Advance { dt: u32 },
}

struct Ids(Vec<String>);

impl Ids {
    /// Remembers every id-looking string in a response, for later requests.
    fn collect(&mut self, v: &Value) {
        match v {
            Value::Object(m) => {
                for (k, v) in m {
                    if let (true, Value::String(s)) = (ID_KEYS.contains(&k.as_str()), v) {
                        if self.0.len() < 4096 && !self.0.contains(s) {
                            self.0.push(s.clone());
                        }
                    }
                    self.collect(v);
                }
            }
            Value::Array(a) => a.iter().for_each(|v| self.collect(v)),
            _ => {}
        }
    }
}

fn id(u: &mut Unstructured<'_>, ids: &Ids) -> Result<String> {
    // The newest id half the time: what was just created is what the next
    // request most likely wants to start, stop or delete.
    if let (Some(newest), true) = (ids.0.last(), u.arbitrary()?) {
        Ok(newest.clone())
    } else if !ids.0.is_empty() && u.ratio(1, 2)? {
        Ok(u.choose(&ids.0)?.clone())
    } else {
        u.arbitrary()
    }
}

fn request(u: &mut Unstructured<'_>, ids: &Ids) -> Result<HttpRequest> {
    let route = if u.ratio(15, 16)? {
        (*u.choose(&ROUTES)?).to_owned()
    } else {
        u.arbitrary::<String>()?
    };
    let method = if u.ratio(7, 8)? {
        if route.contains("/create")
            || route.contains("/delete")
            || route.contains("/save")
            || route.contains("/update")
            || route.contains("/start")
            || route.contains("/stop")
            || route.contains("/restart")
            || route.contains("/migrate")
            || route.contains("/edit")
        {
            Method::Post
        } else {
            Method::Get
        }
    } else {
        u.arbitrary()?
    };
    let mut path = route;
    for i in 0..u.int_in_range(0..=3)? {
        path.push(if i == 0 { '?' } else { '&' });
        path.push_str(u.choose(QUERY_KEYS)?);
        path.push('=');
        if u.arbitrary()? {
            path.push_str(&id(u, ids)?);
        } else {
            path.push_str(&u.int_in_range(0u64..=200)?.to_string());
        }
    }
    let mut req = HttpRequest::new(method, path);
    match u.int_in_range(0..=7)? {
        0 => {}
        1 => req.headers.set(
            "Authorization",
            format!("Bearer {}", u.arbitrary::<&str>()?),
        ),
        2 => req.headers.set("authorization", format!("bearer {KEY}")),
        _ => req.headers.set("Authorization", format!("Bearer {KEY}")),
    }
    req.body = match u.int_in_range(0..=7)? {
        0 => None,
        6 | 7 => Some(serde_json::to_vec(&well_formed(u, &req.path_and_query, ids)?).unwrap()),
        1 => Some(u.arbitrary()?),
        2 => Some(serde_json::to_vec(&json(u, 3)?).unwrap()),
        _ => {
            let mut o = object(u, 2)?;
            for _ in 0..u.int_in_range(0..=2)? {
                o.insert((*u.choose(ID_KEYS)?).to_owned(), Value::String(id(u, ids)?));
            }
            Some(serde_json::to_vec(&Value::Object(o)).unwrap())
        }
    };
    Ok(req)
}

/// `good` three times in four, else one of `edges`.
fn mostly<T: Copy>(u: &mut Unstructured<'_>, good: T, edges: &[T]) -> Result<T> {
    if u.ratio(3, 4)? {
        Ok(good)
    } else {
        Ok(*u.choose(edges)?)
    }
}

/// A body the route accepts (mostly): required fields present, values in or
/// near range, ids the simulator handed out — so requests get past
/// validation and drive instances, templates and storages through their
/// lifecycles. Extra arbitrary fields ride along.
fn well_formed(u: &mut Unstructured<'_>, path: &str, ids: &Ids) -> Result<Value> {
    let route = path.split('?').next().unwrap_or("");
    let mut o = object(u, 1)?;
    if !u.ratio(1, 4)? {
        o.clear();
    }
    let mut set = |k: &str, v: Value| {
        o.insert(k.to_owned(), v);
    };
    match route {
        "/v1/gpu/instance/create" => {
            set("productId", Value::String(id(u, ids)?));
            set("gpuNum", Value::from(mostly(u, 1, &[0, 8, 9])?));
            set(
                "rootfsSize",
                Value::from(mostly(u, 50, &[9, 10, 6144, 6145])?),
            );
            set(
                "imageUrl",
                Value::from(mostly(u, "img", &["sim-fail/img", ""])?),
            );
            set("kind", Value::from(mostly(u, "gpu", &["cpu", "tpu"])?));
            if u.arbitrary()? {
                set(
                    "ports",
                    Value::from(*u.choose(&["8888/http,22/tcp", "2222/tcp", "80/http", "x"])?),
                );
            }
            if u.arbitrary()? {
                set(
                    "billingMode",
                    Value::from(*u.choose(&["onDemand", "spot", "monthly", "x"])?),
                );
                set("month", Value::from(u.int_in_range(0..=13)?));
            }
            if u.arbitrary()? {
                set("clusterId", Value::String(id(u, ids)?));
            }
            if u.arbitrary()? {
                set("envs", serde_json::json!([{"key": "A", "value": "b"}]));
            }
        }
        "/v1/gpu/instance/start"
        | "/v1/gpu/instance/stop"
        | "/v1/gpu/instance/restart"
        | "/v1/gpu/instance/delete"
        | "/v1/gpu/instance/migrate" => {
            set("instanceId", Value::String(id(u, ids)?));
        }
        "/v1/gpu/instance/edit" => {
            set("instanceId", Value::String(id(u, ids)?));
            set(
                "ports",
                serde_json::json!([{"port": u.int_in_range(0..=70000)?, "type": *u.choose(&["http", "tcp", "udp"])?}]),
            );
            if u.arbitrary()? {
                set("expandRootDisk", Value::from(u.int_in_range(0..=100)?));
            }
        }
        "/v1/template/create" => {
            set(
                "template",
                serde_json::json!({
                    "name": "t",
                    "image": *u.choose(&["img", ""])?,
                    "rootfsSize": u.int_in_range(0..=100)?,
                    "ports": [{"type": "http", "ports": [8888]}],
                    "envs": [{"key": "K", "value": "V"}],
                }),
            );
        }
        "/v1/template/delete" => set("templateId", Value::String(id(u, ids)?)),
        "/v1/repository/auth/save" => {
            set("name", Value::from("r"));
            set("username", Value::from(*u.choose(&["me", ""])?));
            set("password", Value::from("pw"));
        }
        "/v1/repository/auth/delete" => set("id", Value::String(id(u, ids)?)),
        "/v1/networkstorage/create" => {
            set("clusterId", Value::String(id(u, ids)?));
            set("storageName", Value::from("s"));
            set("storageSize", Value::from(u.int_in_range(0..=20000)?));
        }
        "/v1/networkstorage/update" => {
            set("storageId", Value::String(id(u, ids)?));
            set("storageName", Value::from("s2"));
            set("storageSize", Value::from(u.int_in_range(0..=20000)?));
        }
        "/v1/networkstorage/delete" => set("storageId", Value::String(id(u, ids)?)),
        _ => {}
    }
    Ok(Value::Object(o))
}

fn sim(config: &SimConfig, seed: u64, start: Instant) -> Simulator {
    Simulator::new(config.clone(), seed, start).expect("checked config")
}

#[derive(Debug)]
struct Case {
    config: SimConfig,
    seed: u64,
    start: u64,
    steps: Vec<Step>,
}

impl<'a> Arbitrary<'a> for Case {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        let mut config = SimConfig {
            api_key: KEY.into(),
            ..SimConfig::default()
        };
        config.faults = match u.int_in_range(0..=3)? {
            0 => FaultPlan::none(),
            1 => FaultPlan::default_demo(),
            _ => match FaultPlan::parse(u.arbitrary()?) {
                Ok(p) => p,
                Err(e) => {
                    let _ = e.to_string();
                    FaultPlan::default_demo()
                }
            },
        };
        config.startup_failure = *u.choose(&[0.0, 0.5, 1.0])?;
        config.default_page_size = u.int_in_range(1..=5)?;
        config.max_page_size = u.int_in_range(config.default_page_size..=10)?;
        config.max_instances = u.int_in_range(1..=5)?;
        if Simulator::new(config.clone(), 0, Instant::ZERO).is_err() {
            config.faults = FaultPlan::none();
        }
        let seed = u.arbitrary()?;
        let start = u.int_in_range(0..=u64::MAX / 2)?;
        // Steps are built against the ids a dry run hands out, so requests can
        // name instances, templates and storages that exist.
        let mut dry = sim(&config, seed, Instant::from_millis(start));
        let mut ids = Ids(Vec::new());
        let mut now = start;
        let mut steps = Vec::new();
        while !u.is_empty() && steps.len() < 64 {
            let step = match u.int_in_range(0..=9)? {
                0 => Step::Probe {
                    id: id(u, &ids)?,
                    port: *u.choose(&[22, 80, 8080, 8888, 0, 65535])?,
                    dt: u.int_in_range(0..=600_000)?,
                },
                1 => Step::Advance {
                    dt: u.int_in_range(0..=3_600_000)?,
                },
                _ => Step::Handle(Req {
                    request: request(u, &ids)?,
                    dt: u.int_in_range(-10_000..=600_000)?,
                }),
            };
            if let Step::Handle(r) = &step {
                now = now.saturating_add_signed(i64::from(r.dt));
                if let SimReply::Respond { response, .. } =
                    dry.handle(&r.request, Instant::from_millis(now))
                {
                    if let Ok(v) = serde_json::from_slice::<Value>(&response.body) {
                        ids.collect(&v);
                    }
                }
            }
            steps.push(step);
        }
        Ok(Case {
            config,
            seed,
            start,
            steps,
        })
    }
}

/// What the simulator said, step by step.
#[derive(Debug, PartialEq)]
enum Seen {
    Reply(SimReply),
    Other(String),
}

fn run(case: &Case) -> Vec<Seen> {
    let mut s = sim(&case.config, case.seed, Instant::from_millis(case.start));
    let mut now = case.start;
    let mut log = Vec::new();
    for step in &case.steps {
        match step {
            Step::Handle(r) => {
                now = now.saturating_add_signed(i64::from(r.dt));
                let reply = s.handle(&r.request, Instant::from_millis(now));
                if let Some(status) = reply.status() {
                    assert!((100..=599).contains(&status), "HTTP {status}");
                }
                if let SimReply::Respond { after, .. } | SimReply::Reset { after } = &reply {
                    assert!(*after <= Duration::from_secs(3600), "latency {after}");
                }
                log.push(Seen::Reply(reply));
            }
            Step::Probe { id, port, dt } => {
                now = now.saturating_add(u64::from(*dt));
                let probe = s.probe_endpoint(id, *port, Instant::from_millis(now));
                log.push(Seen::Other(format!("{probe:?}")));
            }
            Step::Advance { dt } => {
                now = now.saturating_add(u64::from(*dt));
                s.advance(Instant::from_millis(now));
                if let Some(next) = s.next_change() {
                    assert!(next >= s.now(), "next change in the past");
                }
            }
        }
        let _ = s.stats();
        assert!(s.instance_count() <= case.config.max_instances as usize);
    }
    log
}

fuzz_target!(|case: Case| {
    let first = run(&case);
    let second = run(&case);
    assert_eq!(first, second, "same seed, same requests, different replies");
});
