//! Checking request bodies before they are sent.
//!
//! Novita answers a bad parameter with one 400 `VALIDATOR_PARAM` naming one
//! problem at a time. The checks here run locally and list *every* problem at
//! once, as a [`ValidationErrors`] of [`FieldProblem`]s. The limits are the
//! documented ones (see `NOVITA_API.md`); the constants below name them.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;
use serde::{Deserialize, Serialize};

use super::instances::{CreateInstanceRequest, EditPort};
use super::registry::CreateRegistryAuth;
use super::storage::{CreateNetworkStorage, UpdateNetworkStorage};
use super::templates::NewTemplate;

/// GPUs per instance: 1–8.
pub const GPU_NUM: (u64, u64) = (1, 8);
/// Root filesystem size in GB: 10–6144.
pub const ROOTFS_SIZE: (u64, u64) = (10, 6144);
/// Longest image URL, in characters.
pub const MAX_IMAGE_URL: usize = 500;
/// Longest instance, template, registry-auth or storage name, in characters.
pub const MAX_NAME: usize = 255;
/// Longest command or entrypoint, in characters.
pub const MAX_COMMAND: usize = 2047;
/// Most exposed ports per instance.
pub const MAX_PORTS: usize = 15;
/// Most environment variables per instance.
pub const MAX_ENVS: usize = 100;
/// Longest environment variable name, in characters.
pub const MAX_ENV_KEY: usize = 2048;
/// Ports Novita reserves for itself (SSH and tooling); they cannot be exposed.
pub const RESERVED_PORTS: (u64, u64) = (2222, 2224);
/// Port types accepted in an instance's `ports` string.
pub const PORT_TYPES: &[&str] = &["tcp", "http"];
/// Port types accepted in a template's ports.
pub const TEMPLATE_PORT_TYPES: &[&str] = &["tcp", "http", "udp"];
/// Instance kinds.
pub const KINDS: &[&str] = &["gpu", "cpu"];
/// Billing modes.
pub const BILLING_MODES: &[&str] = &["onDemand", "monthly", "spot"];
/// Months a monthly instance may be bought or renewed for: 1–12.
pub const MONTHS: (u64, u64) = (1, 12);
/// Smallest network storage, in GB.
pub const MIN_STORAGE_SIZE: u64 = 10;
/// Longest registry user name, in characters.
pub const MAX_REGISTRY_USERNAME: usize = 511;
/// Longest registry password, in characters.
pub const MAX_REGISTRY_PASSWORD: usize = 1024;
/// Longest template README, in characters.
pub const MAX_README: usize = 20480;

/// What is wrong with one field.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Problem {
    /// The field is required but empty or missing.
    Missing,
    /// The text is longer than allowed.
    TooLong {
        /// Longest allowed, in characters.
        max: usize,
        /// Actual length, in characters.
        len: usize,
    },
    /// The number is outside the allowed range.
    OutOfRange {
        /// Smallest allowed value.
        min: u64,
        /// Largest allowed value.
        max: u64,
        /// The value given.
        value: u64,
    },
    /// The value is not one of the allowed words.
    NotAllowed {
        /// The allowed words.
        allowed: Vec<String>,
        /// The value given (at most 64 characters of it).
        value: String,
    },
    /// The list has more entries than allowed.
    TooMany {
        /// Most entries allowed.
        max: usize,
        /// Entries given.
        count: usize,
    },
    /// The text does not have the expected syntax.
    Malformed {
        /// The expected syntax, e.g. `"port/type, like 8888/http"`.
        expected: String,
        /// The value given (at most 64 characters of it; masked for secrets).
        value: String,
    },
    /// The port is reserved by Novita.
    ReservedPort {
        /// The port given.
        port: u64,
    },
    /// The same value appears twice.
    Duplicate {
        /// The repeated value.
        value: String,
    },
    /// The field is required because of another field's value.
    RequiredWhen {
        /// The condition, e.g. `"billingMode is monthly"`.
        condition: String,
    },
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::Missing => f.write_str("is required and must not be empty"),
            Problem::TooLong { max, len } => {
                write!(f, "is {len} characters long; at most {max} are allowed")
            }
            Problem::OutOfRange { min, max, value } => {
                write!(f, "is {value}; it must be between {min} and {max}")
            }
            Problem::NotAllowed { allowed, value } => {
                write!(f, "is {value:?}; it must be one of ")?;
                for (i, a) in allowed.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{a:?}")?;
                }
                Ok(())
            }
            Problem::TooMany { max, count } => {
                write!(f, "has {count} entries; at most {max} are allowed")
            }
            Problem::Malformed { expected, value } => {
                write!(f, "is {value:?}; expected {expected}")
            }
            Problem::ReservedPort { port } => write!(
                f,
                "uses port {port}, which Novita reserves ({}–{}); pick another port",
                RESERVED_PORTS.0, RESERVED_PORTS.1
            ),
            Problem::Duplicate { value } => write!(f, "lists {value:?} more than once"),
            Problem::RequiredWhen { condition } => write!(f, "is required when {condition}"),
        }
    }
}

/// One bad field: its JSON name (with a path such as `envs[2].key`) and what
/// is wrong with it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldProblem {
    /// The field, as named in the request JSON.
    pub field: String,
    /// What is wrong.
    pub problem: Problem,
}

impl fmt::Display for FieldProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`{}` {}", self.field, self.problem)
    }
}

/// Every problem found in a request, in field order. Never empty when returned
/// as an error.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ValidationErrors(pub Vec<FieldProblem>);

impl ValidationErrors {
    /// The problems.
    #[must_use]
    pub fn problems(&self) -> &[FieldProblem] {
        &self.0
    }

    /// `true` if some problem is about `field`.
    #[must_use]
    pub fn mentions(&self, field: &str) -> bool {
        self.0.iter().any(|p| p.field == field)
    }
}

impl fmt::Display for ValidationErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0.len();
        write!(
            f,
            "the request was not sent because {n} field{} need{} fixing: ",
            if n == 1 { "" } else { "s" },
            if n == 1 { "s" } else { "" }
        )?;
        for (i, p) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{p}")?;
        }
        Ok(())
    }
}

/// Collects problems; `finish` turns them into a result.
#[derive(Debug, Default)]
pub(crate) struct Checker {
    problems: Vec<FieldProblem>,
}

fn shown(value: &str) -> String {
    let mut s: String = value.chars().take(64).collect();
    if value.chars().nth(64).is_some() {
        s.push('…');
    }
    s
}

fn words(list: &[&str]) -> Vec<String> {
    list.iter().map(|w| String::from(*w)).collect()
}

impl Checker {
    pub(crate) fn push(&mut self, field: impl Into<String>, problem: Problem) {
        self.problems.push(FieldProblem {
            field: field.into(),
            problem,
        });
    }

    /// Non-empty (after trimming) and at most `max` characters.
    pub(crate) fn text(&mut self, field: &str, value: &str, max: usize) {
        if value.trim().is_empty() {
            self.push(field, Problem::Missing);
        } else {
            self.max_len(field, value, max);
        }
    }

    /// At most `max` characters (may be empty).
    pub(crate) fn max_len(&mut self, field: &str, value: &str, max: usize) {
        let len = value.chars().count();
        if len > max {
            self.push(field, Problem::TooLong { max, len });
        }
    }

    pub(crate) fn opt_max_len(&mut self, field: &str, value: Option<&str>, max: usize) {
        if let Some(v) = value {
            self.max_len(field, v, max);
        }
    }

    pub(crate) fn range(&mut self, field: &str, value: u64, (min, max): (u64, u64)) {
        if value < min || value > max {
            self.push(field, Problem::OutOfRange { min, max, value });
        }
    }

    pub(crate) fn one_of(&mut self, field: &str, value: &str, allowed: &[&str]) {
        if !allowed.contains(&value) {
            self.push(
                field,
                Problem::NotAllowed {
                    allowed: words(allowed),
                    value: shown(value),
                },
            );
        }
    }

    pub(crate) fn count(&mut self, field: &str, count: usize, max: usize) {
        if count > max {
            self.push(field, Problem::TooMany { max, count });
        }
    }

    /// A port number: 1–65535 and not reserved.
    pub(crate) fn port(&mut self, field: &str, port: u64) {
        if port == 0 || port > 65535 {
            self.range(field, port, (1, 65535));
        } else if (RESERVED_PORTS.0..=RESERVED_PORTS.1).contains(&port) {
            self.push(field, Problem::ReservedPort { port });
        }
    }

    pub(crate) fn finish(self) -> Result<(), ValidationErrors> {
        if self.problems.is_empty() {
            Ok(())
        } else {
            Err(ValidationErrors(self.problems))
        }
    }
}

/// One entry of an instance's `ports` string.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PortEntry {
    /// The port number.
    pub port: u16,
    /// `true` for `http`, `false` for `tcp`.
    pub http: bool,
}

const PORT_SYNTAX: &str = "comma-separated port/type entries, like \"8888/http,22/tcp\"";

/// Parses and checks an instance `ports` string such as `"8888/http,22/tcp"`
/// (spaces around entries allowed; an empty string means no ports).
///
/// # Errors
/// Every problem found: bad syntax, types other than `tcp`/`http`, ports
/// outside 1–65535, reserved ports 2222–2224, duplicates, more than 15 ports.
pub fn parse_ports(ports: &str) -> Result<Vec<PortEntry>, ValidationErrors> {
    let mut c = Checker::default();
    let entries = check_ports(&mut c, "ports", ports);
    c.finish().map(|()| entries)
}

fn check_ports(c: &mut Checker, field: &str, ports: &str) -> Vec<PortEntry> {
    let mut out: Vec<PortEntry> = Vec::new();
    if ports.trim().is_empty() {
        return out;
    }
    let mut count = 0usize;
    for entry in ports.split(',') {
        count = count.saturating_add(1);
        let entry = entry.trim();
        let Some((num, kind)) = entry.split_once('/') else {
            c.push(
                field,
                Problem::Malformed {
                    expected: String::from(PORT_SYNTAX),
                    value: shown(entry),
                },
            );
            continue;
        };
        let (num, kind) = (num.trim(), kind.trim());
        let Some(port) = num
            .parse::<u64>()
            .ok()
            .filter(|_| num.bytes().all(|b| b.is_ascii_digit()))
        else {
            c.push(
                field,
                Problem::Malformed {
                    expected: String::from(PORT_SYNTAX),
                    value: shown(entry),
                },
            );
            continue;
        };
        let before = c.problems.len();
        c.port(field, port);
        c.one_of(field, kind, PORT_TYPES);
        if c.problems.len() != before {
            continue;
        }
        let Ok(port) = u16::try_from(port) else {
            continue;
        };
        if out.iter().any(|p| p.port == port) {
            c.push(
                field,
                Problem::Duplicate {
                    value: alloc::format!("{port}"),
                },
            );
            continue;
        }
        out.push(PortEntry {
            port,
            http: kind == "http",
        });
    }
    c.count(field, count, MAX_PORTS);
    out
}

/// Checks a create-instance body. See [`CreateInstanceRequest`] for the rules.
///
/// # Errors
/// [`ValidationErrors`] listing every problem.
pub fn create_instance(r: &CreateInstanceRequest) -> Result<(), ValidationErrors> {
    let mut c = Checker::default();
    c.text("productId", &r.product_id, MAX_NAME);
    c.range("gpuNum", u64::from(r.gpu_num), GPU_NUM);
    c.range("rootfsSize", r.rootfs_size, ROOTFS_SIZE);
    c.text("imageUrl", &r.image_url, MAX_IMAGE_URL);
    c.one_of("kind", &r.kind, KINDS);
    c.opt_max_len("name", r.name.as_deref(), MAX_NAME);
    c.opt_max_len("command", r.command.as_deref(), MAX_COMMAND);
    c.opt_max_len("entrypoint", r.entrypoint.as_deref(), MAX_COMMAND);
    if let Some(auth) = &r.image_auth {
        let v = auth.expose();
        let ok = v.split_once(':').is_some_and(|(u, _)| !u.trim().is_empty());
        if !ok {
            c.push(
                "imageAuth",
                Problem::Malformed {
                    expected: String::from("\"username:password\""),
                    value: crate::secret::masked(v),
                },
            );
        }
    }
    if let Some(ports) = &r.ports {
        check_ports(&mut c, "ports", ports);
    }
    c.count("envs", r.envs.len(), MAX_ENVS);
    for (i, e) in r.envs.iter().enumerate() {
        c.text(&alloc::format!("envs[{i}].key"), &e.key, MAX_ENV_KEY);
    }
    for (i, m) in r.network_storages.iter().enumerate() {
        if m.id.trim().is_empty() {
            c.push(alloc::format!("networkStorages[{i}].Id"), Problem::Missing);
        }
        let f = alloc::format!("networkStorages[{i}].mountPoint");
        if m.mount_point.trim().is_empty() {
            c.push(f, Problem::Missing);
        } else if !m.mount_point.starts_with('/') {
            c.push(
                f,
                Problem::Malformed {
                    expected: String::from("an absolute path such as /workspace"),
                    value: shown(&m.mount_point),
                },
            );
        }
    }
    if let Some(mode) = &r.billing_mode {
        c.one_of("billingMode", mode, BILLING_MODES);
        if mode == "monthly" && r.month.is_none() {
            c.push(
                "month",
                Problem::RequiredWhen {
                    condition: String::from("billingMode is \"monthly\""),
                },
            );
        }
    }
    if let Some(m) = r.month {
        c.range("month", u64::from(m), MONTHS);
    }
    if r.auto_renew == Some(true) && r.auto_renew_month.is_none() {
        c.push(
            "autoRenewMonth",
            Problem::RequiredWhen {
                condition: String::from("autoRenew is true"),
            },
        );
    }
    if let Some(m) = r.auto_renew_month {
        c.range("autoRenewMonth", u64::from(m), MONTHS);
    }
    c.finish()
}

/// Checks the ports of an edit-instance body.
///
/// # Errors
/// [`ValidationErrors`] listing every problem.
pub fn edit_ports(instance_id: &str, ports: &[EditPort]) -> Result<(), ValidationErrors> {
    let mut c = Checker::default();
    c.text("instanceId", instance_id, MAX_NAME);
    c.count("ports", ports.len(), MAX_PORTS);
    for (i, p) in ports.iter().enumerate() {
        c.port(&alloc::format!("ports[{i}].port"), p.port);
        c.one_of(&alloc::format!("ports[{i}].type"), &p.kind, PORT_TYPES);
    }
    c.finish()
}

/// Checks a new template.
///
/// # Errors
/// [`ValidationErrors`] listing every problem.
pub fn new_template(t: &NewTemplate) -> Result<(), ValidationErrors> {
    let mut c = Checker::default();
    c.text("template.name", &t.name, MAX_NAME);
    c.one_of("template.type", &t.kind, &["instance", "serverless"]);
    c.one_of("template.channel", &t.channel, &["private", "community"]);
    c.text("template.image", &t.image, MAX_IMAGE_URL);
    c.opt_max_len(
        "template.startCommand",
        t.start_command.as_deref(),
        MAX_COMMAND,
    );
    c.opt_max_len("template.entrypoint", t.entrypoint.as_deref(), MAX_COMMAND);
    c.opt_max_len("template.readme", t.readme.as_deref(), MAX_README);
    c.range("template.rootfsSize", t.rootfs_size, ROOTFS_SIZE);
    let total: usize = t.ports.iter().map(|p| p.ports.len()).sum();
    c.count("template.ports", total, MAX_PORTS);
    for (i, group) in t.ports.iter().enumerate() {
        c.one_of(
            &alloc::format!("template.ports[{i}].type"),
            &group.kind,
            TEMPLATE_PORT_TYPES,
        );
        for (j, p) in group.ports.iter().enumerate() {
            c.port(&alloc::format!("template.ports[{i}].ports[{j}]"), *p);
        }
    }
    c.count("template.envs", t.envs.len(), MAX_ENVS);
    for (i, e) in t.envs.iter().enumerate() {
        c.text(
            &alloc::format!("template.envs[{i}].key"),
            &e.key,
            MAX_ENV_KEY,
        );
    }
    c.finish()
}

/// Checks a new network storage.
///
/// # Errors
/// [`ValidationErrors`] listing every problem.
pub fn create_storage(s: &CreateNetworkStorage) -> Result<(), ValidationErrors> {
    let mut c = Checker::default();
    c.text("clusterId", &s.cluster_id, MAX_NAME);
    c.text("storageName", &s.storage_name, MAX_NAME);
    c.range("storageSize", s.storage_size, (MIN_STORAGE_SIZE, u64::MAX));
    c.finish()
}

/// Checks a network storage update.
///
/// # Errors
/// [`ValidationErrors`] listing every problem.
pub fn update_storage(s: &UpdateNetworkStorage) -> Result<(), ValidationErrors> {
    let mut c = Checker::default();
    c.text("storageId", &s.storage_id, MAX_NAME);
    if let Some(name) = &s.storage_name {
        c.text("storageName", name, MAX_NAME);
    }
    if let Some(size) = s.storage_size {
        c.range("storageSize", size, (MIN_STORAGE_SIZE, u64::MAX));
    }
    if s.storage_name.is_none() && s.storage_size.is_none() {
        c.push(
            "storageSize",
            Problem::RequiredWhen {
                condition: String::from("storageName is not given (nothing to update)"),
            },
        );
    }
    c.finish()
}

/// Checks a new registry auth.
///
/// # Errors
/// [`ValidationErrors`] listing every problem.
pub fn create_registry_auth(a: &CreateRegistryAuth) -> Result<(), ValidationErrors> {
    let mut c = Checker::default();
    c.text("name", &a.name, MAX_NAME);
    c.text("username", &a.username, MAX_REGISTRY_USERNAME);
    let len = a.password.expose().chars().count();
    if a.password.expose().is_empty() {
        c.push("password", Problem::Missing);
    } else if len > MAX_REGISTRY_PASSWORD {
        c.push(
            "password",
            Problem::TooLong {
                max: MAX_REGISTRY_PASSWORD,
                len,
            },
        );
    }
    c.finish()
}

/// Checks that an id is given.
pub(crate) fn id(field: &str, value: &str) -> Result<(), ValidationErrors> {
    let mut c = Checker::default();
    c.text(field, value, MAX_NAME);
    c.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::format;

    #[test]
    fn ports_parse_and_every_problem_is_listed() {
        assert_eq!(
            parse_ports(" 8888/http, 22/tcp ").unwrap(),
            alloc::vec![
                PortEntry {
                    port: 8888,
                    http: true
                },
                PortEntry {
                    port: 22,
                    http: false
                }
            ]
        );
        assert!(parse_ports("").unwrap().is_empty());
        let e =
            parse_ports("2222/tcp,0/http,70000/tcp,80/udp,abc,80/http,80/http,+5/tcp").unwrap_err();
        let shown = format!("{e}");
        assert_eq!(e.0.len(), 7, "{shown}");
        assert!(shown.contains("reserves"), "{shown}");
        assert!(shown.contains("between 1 and 65535"), "{shown}");
        assert!(shown.contains("\"udp\""), "{shown}");
        assert!(shown.contains("more than once"), "{shown}");
    }

    #[test]
    fn sixteen_ports_are_too_many() {
        let many: Vec<String> = (1..=16).map(|p| format!("{}/tcp", 8000 + p)).collect();
        let e = parse_ports(&many.join(",")).unwrap_err();
        assert_eq!(
            e.0,
            alloc::vec![FieldProblem {
                field: String::from("ports"),
                problem: Problem::TooMany { max: 15, count: 16 }
            }]
        );
    }
}
