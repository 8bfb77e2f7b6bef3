//! The main job and the command line, through the real binary: `novitai
//! demo` runs from a fresh clone with no key and no network; the other
//! commands work against `novitai sim serve`; exit codes are as documented.
#![cfg(feature = "cli")]

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};

/// A `novitai` command with no NOVITA_* / WEBHOOK_* variables from the
/// outer environment, run in a fresh directory (no `.env` to pick up).
fn novitai(dir: &std::path::Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_novitai"));
    c.current_dir(dir);
    for (k, _) in std::env::vars_os() {
        let k = k.to_string_lossy().into_owned();
        if k.starts_with("NOVITA_")
            || k.starts_with("WEBHOOK_")
            || k.starts_with("CIRCUIT_")
            || k.starts_with("RATE_LIMIT")
            || k.starts_with("REQUEST_")
            || k.starts_with("MAX_")
        {
            c.env_remove(k);
        }
    }
    c
}

fn run(args: &[&str]) -> (i32, String) {
    let dir = tempfile::tempdir().unwrap();
    run_in(dir.path(), args, &[])
}

fn run_in(dir: &std::path::Path, args: &[&str], env: &[(&str, &str)]) -> (i32, String) {
    let mut c = novitai(dir);
    c.args(args);
    for (k, v) in env {
        c.env(k, v);
    }
    let out = c.output().expect("the novitai binary runs");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.code().unwrap_or(-1), text)
}

/// Drops the wall-clock line, the only part that may differ between runs.
fn without_wall_time(s: &str) -> String {
    s.lines()
        .filter(|l| !l.trim_start().starts_with("wall time"))
        .collect::<Vec<_>>()
        .join("\n")
}

// ---- the virtual-time demo ---------------------------------------------

#[test]
fn the_virtual_demo_reaches_running_rides_out_the_outage_and_verifies_webhooks() {
    let (code, out) = run(&["demo", "--virtual", "--seed", "2026"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("instance reached running"), "{out}");
    assert!(out.contains("circuit breaker closed → open"), "{out}");
    assert!(out.contains("circuit breaker half-open → closed"), "{out}");
    assert!(out.contains("webhooks verified    3"), "{out}");
    assert!(out.contains("rate limited by the client limiter"), "{out}");
    // The core's start-up monitor watched it: probed its port, notified
    // running, health_checking and ready, and ended once.
    assert!(out.contains("port 8888 (http"), "{out}");
    for note in ["Running", "HealthChecking", "Ready"] {
        assert!(
            out.contains(&format!("webhook {note} signed and verified")),
            "{out}"
        );
    }
    assert_eq!(out.matches("is ready after").count(), 1, "{out}");
}

#[test]
fn the_same_seed_gives_the_same_virtual_run() {
    let (_, a) = run(&["demo", "--virtual", "--seed", "11"]);
    let (_, b) = run(&["demo", "--virtual", "--seed", "11"]);
    assert_eq!(without_wall_time(&a), without_wall_time(&b));
    let (_, c) = run(&["demo", "--virtual", "--seed", "12"]);
    assert_ne!(without_wall_time(&a), without_wall_time(&c));
}

#[test]
fn a_bad_fault_plan_is_a_clear_error_not_a_panic() {
    for extra in [&["--virtual"][..], &[][..]] {
        let mut args = vec!["demo", "--faults", "5xx=2"];
        args.extend_from_slice(extra);
        let (code, out) = run(&args);
        assert_eq!(code, 2, "{out}");
        assert!(out.contains("--faults"), "{out}");
        assert!(!out.contains("panicked"), "{out}");
    }
}

// ---- the networked demo ----------------------------------------------------

#[test]
fn the_networked_demo_runs_over_real_http_and_verifies_webhooks() {
    let (code, out) = run(&["demo", "--seed", "2026"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("simulator at http://127.0.0.1:"), "{out}");
    assert!(out.contains("is running after"), "{out}");
    assert!(out.contains("port 8888 health: HTTP"), "{out}");
    for note in ["running", "health_checking", "ready"] {
        assert!(out.contains(&format!("webhook `{note}` queued")), "{out}");
    }
    assert!(out.contains("start-up monitor     ready after"), "{out}");
    assert!(out.contains("requests sent"), "{out}");
    let verified: u64 = out
        .lines()
        .find_map(|l| l.trim().strip_prefix("webhooks verified"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no webhook count in:\n{out}"));
    assert!(verified > 0, "{out}");
    assert!(!out.contains("panicked"), "{out}");
}

#[test]
fn the_live_demo_refuses_clearly_without_a_key() {
    let (code, out) = run(&["demo", "--live"]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("NOVITA_API_KEY"), "{out}");
}

// ---- webhooks ----------------------------------------------------------------

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

fn sign(dir: &std::path::Path, body: &str) -> Vec<String> {
    std::fs::write(dir.join("body.json"), body).unwrap();
    let (code, out) = run_in(
        dir,
        &[
            "webhook",
            "sign",
            "--secret",
            SECRET,
            "--id",
            "msg_demo1",
            "--timestamp",
            "1700000000",
            "--body-file",
            "body.json",
        ],
        &[],
    );
    assert_eq!(code, 0, "{out}");
    let lines: Vec<String> = out.lines().map(str::to_owned).collect();
    assert_eq!(lines.len(), 3, "{out}");
    assert!(lines[0].starts_with("webhook-id: msg_demo1"), "{out}");
    assert!(lines[2].starts_with("webhook-signature: v1,"), "{out}");
    lines
}

fn verify(dir: &std::path::Path, headers: &[String], now: &str) -> (i32, String) {
    let mut args = vec!["webhook", "verify", "--secret", SECRET];
    for h in headers {
        args.push("--header");
        args.push(h);
    }
    args.extend_from_slice(&["--body-file", "body.json", "--now", now]);
    run_in(dir, &args, &[])
}

#[test]
fn webhook_sign_then_verify_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let headers = sign(dir.path(), r#"{"status":"running"}"#);
    let (code, out) = verify(dir.path(), &headers, "1700000010");
    assert_eq!(code, 0, "{out}");
    assert!(out.starts_with("valid: webhook msg_demo1"), "{out}");
}

#[test]
fn a_tampered_body_or_a_stale_timestamp_is_refused_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let headers = sign(dir.path(), r#"{"status":"running"}"#);
    std::fs::write(dir.path().join("body.json"), r#"{"status":"failed"}"#).unwrap();
    let (code, out) = verify(dir.path(), &headers, "1700000010");
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("invalid: no webhook signature matches"),
        "{out}"
    );

    std::fs::write(dir.path().join("body.json"), r#"{"status":"running"}"#).unwrap();
    let (code, out) = verify(dir.path(), &headers, "1700009999");
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("too old"), "{out}");

    let (code, out) = verify(dir.path(), &headers[..2], "1700000010");
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("no `webhook-signature` header"), "{out}");
}

// ---- configuration -------------------------------------------------------------

#[test]
fn a_bad_config_exits_2_and_lists_every_problem() {
    let dir = tempfile::tempdir().unwrap();
    let (code, out) = run_in(
        dir.path(),
        &["clusters"],
        &[("REQUEST_TIMEOUT", "5"), ("MAX_RETRY_ATTEMPTS", "99")],
    );
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("NOVITA_API_KEY"), "{out}");
    assert!(out.contains("REQUEST_TIMEOUT"), "{out}");
    assert!(out.contains("MAX_RETRY_ATTEMPTS"), "{out}");
    assert!(!out.contains("panicked"), "{out}");
}

#[test]
fn a_bad_argument_is_exit_code_1_not_the_config_code() {
    let (code, out) = run(&["instances", "frobnicate"]);
    assert_eq!(code, 1, "{out}");
}

#[test]
fn help_documents_the_exit_codes() {
    let (code, out) = run(&["--help"]);
    assert_eq!(code, 0, "{out}");
    for line in ["2  configuration error", "3  API error", "4  timeout"] {
        assert!(out.contains(line), "{out}");
    }
}

// ---- sim serve + API commands -------------------------------------------------

/// `novitai sim serve` on a free port; killed when dropped.
struct SimProcess {
    child: Child,
    base_url: String,
}

impl SimProcess {
    fn start(dir: &std::path::Path, extra: &[&str]) -> SimProcess {
        let mut child = novitai(dir)
            .args(["sim", "serve", "--port", "0"])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("sim serve starts");
        let stdout = child.stdout.take().unwrap();
        let mut reader = BufReader::new(stdout);
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        // Keep draining its output so the server never writes to a closed pipe.
        std::thread::spawn(move || for _ in reader.lines() {});
        let base_url = line
            .trim()
            .strip_prefix("Novita simulator listening at ")
            .unwrap_or_else(|| panic!("unexpected first line: {line:?}"))
            .to_owned();
        SimProcess { child, base_url }
    }
}

impl Drop for SimProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const SIM_KEY: &str = "sk_sim_0123456789abcdef";

#[test]
fn clusters_and_products_work_against_sim_serve() {
    let dir = tempfile::tempdir().unwrap();
    let sim = SimProcess::start(dir.path(), &[]);
    let env = [("NOVITA_API_KEY", SIM_KEY)];
    let (code, out) = run_in(
        dir.path(),
        &["clusters", "--base-url", &sim.base_url, "--json"],
        &env,
    );
    assert_eq!(code, 0, "{out}");
    let clusters: serde_json::Value = serde_json::from_str(&out).expect("clusters --json is JSON");
    assert!(clusters.as_array().is_some_and(|a| !a.is_empty()), "{out}");
    assert!(clusters[0]["id"].is_string(), "{out}");

    let (code, out) = run_in(
        dir.path(),
        &["optimal", "--name", "4090", "--base-url", &sim.base_url],
        &env,
    );
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("4090"), "{out}");

    let (code, out) = run_in(dir.path(), &["products", "--base-url", &sim.base_url], &env);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("products"), "{out}");
}

#[test]
fn a_wrong_key_is_an_api_error_and_an_unknown_instance_too() {
    let dir = tempfile::tempdir().unwrap();
    let sim = SimProcess::start(dir.path(), &[]);
    let (code, out) = run_in(
        dir.path(),
        &["clusters", "--base-url", &sim.base_url],
        &[("NOVITA_API_KEY", "sk_wrong_0123456789")],
    );
    assert_eq!(code, 3, "{out}");
    let (code, out) = run_in(
        dir.path(),
        &[
            "instances",
            "get",
            "0123456789abcdef",
            "--base-url",
            &sim.base_url,
        ],
        &[("NOVITA_API_KEY", SIM_KEY)],
    );
    assert_eq!(code, 3, "{out}");
}

/// Runs `args` and returns the exit code, stdout and stderr apart.
fn run_split(dir: &std::path::Path, args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let mut c = novitai(dir);
    c.args(args);
    for (k, v) in env {
        c.env(k, v);
    }
    let out = c.output().expect("the novitai binary runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Every stdout line of a `--json` wait, parsed.
fn json_lines(stdout: &str) -> Vec<serde_json::Value> {
    stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l:?}")))
        .collect()
}

#[test]
fn instances_create_wait_then_delete_against_sim_serve() {
    let dir = tempfile::tempdir().unwrap();
    let sim = SimProcess::start(dir.path(), &["--time-scale", "100"]);
    let env = [("NOVITA_API_KEY", SIM_KEY)];
    // The monitor's defaults (5 s fast polls, 30 s after, 20 min to run) on
    // a clock as fast as the simulator's.
    let (code, out, err) = run_split(
        dir.path(),
        &[
            "instances",
            "create",
            "--product",
            "4090",
            "--image",
            "pytorch:latest",
            "--ports",
            "8888/http",
            "--wait",
            "--time-scale",
            "100",
            "--json",
            "--base-url",
            &sim.base_url,
        ],
        &env,
    );
    assert_eq!(code, 0, "{out}{err}");
    // Progress as JSON lines, then the result.
    let lines = json_lines(&out);
    let events: Vec<&str> = lines.iter().map(|l| l["event"].as_str().unwrap()).collect();
    assert_eq!(events.first(), Some(&"started"), "{out}");
    assert!(events.contains(&"polled"), "{out}");
    assert!(events.contains(&"probed"), "{out}");
    assert_eq!(events[events.len() - 2..], ["finished", "result"], "{out}");
    let notified: Vec<&str> = lines
        .iter()
        .filter(|l| l["event"] == "notified")
        .map(|l| l["notification"]["status"].as_str().unwrap())
        .collect();
    assert_eq!(notified, ["running", "health_checking", "ready"], "{out}");
    for l in &lines[..lines.len() - 1] {
        for field in [
            "phase",
            "elapsedMs",
            "polls",
            "retries",
            "breaker",
            "instanceId",
        ] {
            assert!(!l[field].is_null(), "no {field} in {l}");
        }
    }
    let result = lines.last().unwrap();
    assert_eq!(result["outcome"], "ready", "{out}");
    assert_eq!(result["instance"]["status"], "running", "{out}");
    let id = result["instanceId"].as_str().unwrap().to_owned();
    assert_eq!(result["instance"]["id"], id.as_str());

    // Watching it again: it is running, so one read and the health check.
    let (code, out) = run_in(
        dir.path(),
        &[
            "instances",
            "watch",
            &id,
            "--time-scale",
            "100",
            "--base-url",
            &sim.base_url,
        ],
        &env,
    );
    assert_eq!(code, 0, "{out}");
    assert!(out.contains(&format!("instance {id} is running")), "{out}");
    assert!(out.contains("port 8888 health: HTTP 200"), "{out}");
    assert!(out.contains(&format!("instance {id} is ready")), "{out}");

    // Starting it while it runs: refused as an invalid state change, which
    // the monitor accepts once it reads the instance running.
    let (code, out) = run_in(
        dir.path(),
        &[
            "instances",
            "start",
            &id,
            "--wait",
            "--time-scale",
            "100",
            "--base-url",
            &sim.base_url,
        ],
        &env,
    );
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("is ready"), "{out}");

    let (code, out) = run_in(
        dir.path(),
        &["instances", "list", "--base-url", &sim.base_url],
        &env,
    );
    assert_eq!(code, 0, "{out}");
    assert!(out.contains(&id), "{out}");
    let (code, out) = run_in(
        dir.path(),
        &["instances", "delete", &id, "--base-url", &sim.base_url],
        &env,
    );
    assert_eq!(code, 0, "{out}");
}

#[test]
fn a_failed_start_up_is_exit_code_3_and_says_what_to_do_next() {
    let dir = tempfile::tempdir().unwrap();
    let sim = SimProcess::start(dir.path(), &["--time-scale", "100"]);
    let env = [("NOVITA_API_KEY", SIM_KEY)];
    let (code, out) = run_in(
        dir.path(),
        &[
            "instances",
            "create",
            "--product",
            "4090",
            "--image",
            "registry.example/sim-fail:latest",
            "--wait",
            "--time-scale",
            "100",
            "--base-url",
            &sim.base_url,
        ],
        &env,
    );
    assert_eq!(code, 3, "{out}");
    assert!(out.contains("failed while"), "{out}");
    assert!(out.contains("novitai instances delete"), "{out}");
    assert!(!out.contains("panicked"), "{out}");
}

#[test]
fn watch_times_out_with_exit_code_4() {
    let dir = tempfile::tempdir().unwrap();
    // Real time: an instance takes minutes to start.
    let sim = SimProcess::start(dir.path(), &[]);
    let env = [("NOVITA_API_KEY", SIM_KEY)];
    // A one-minute create timeout on a clock 60 times too fast: 1 s.
    let (code, out) = run_in(
        dir.path(),
        &[
            "instances",
            "create",
            "--product",
            "4090",
            "--image",
            "pytorch:latest",
            "--wait",
            "--timeout",
            "60",
            "--time-scale",
            "60",
            "--base-url",
            &sim.base_url,
        ],
        &env,
    );
    assert_eq!(code, 4, "{out}");
    assert!(out.contains("was not running after 1m"), "{out}");
    assert!(out.contains("novitai instances watch"), "{out}");
}

#[test]
fn wait_flags_out_of_the_monitors_range_are_configuration_errors() {
    let dir = tempfile::tempdir().unwrap();
    let sim = SimProcess::start(dir.path(), &[]);
    let env = [("NOVITA_API_KEY", SIM_KEY)];
    for (flag, value, field) in [
        ("--interval", "0.2", "poll_interval"),
        ("--timeout", "5", "start_timeout"),
        ("--time-scale", "0", "from 1 to 1000"),
    ] {
        let (code, out) = run_in(
            dir.path(),
            &[
                "instances",
                "start",
                "0123456789abcdef",
                "--wait",
                flag,
                value,
                "--base-url",
                &sim.base_url,
            ],
            &env,
        );
        assert_eq!(code, 2, "{out}");
        assert!(out.contains(flag) && out.contains(field), "{out}");
    }
}

#[test]
fn webhook_serve_verifies_a_signed_delivery() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = novitai(dir.path())
        .args(["webhook", "serve", "--secret", SECRET, "--count", "1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap_or_else(|| panic!("no URL in {line:?}"))
        .to_owned();
    // Sign now (the receiver checks the timestamp against its clock) and post.
    std::fs::write(dir.path().join("body.json"), r#"{"status":"ready"}"#).unwrap();
    let (code, out) = run_in(
        dir.path(),
        &[
            "webhook",
            "sign",
            "--secret",
            SECRET,
            "--body-file",
            "body.json",
        ],
        &[],
    );
    assert_eq!(code, 0, "{out}");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let status = rt.block_on(async {
        let mut req = reqwest::Client::new()
            .post(&url)
            .body(r#"{"status":"ready"}"#);
        for l in out.lines() {
            let (k, v) = l.split_once(": ").unwrap();
            req = req.header(k, v);
        }
        req.send().await.unwrap().status()
    });
    assert_eq!(status, 200);
    let mut rest = String::new();
    for l in stdout.lines() {
        let l = l.unwrap();
        rest.push_str(&l);
        rest.push('\n');
    }
    let _ = child.wait();
    assert!(rest.contains("verified webhook msg_"), "{rest}");
    assert!(rest.contains("1 deliveries verified"), "{rest}");
    let _ = std::io::stdout().flush();
}
