//! The main job: `novitai demo` runs from a fresh clone with no key and no
//! network, tells the story, and replays exactly from its seed.
#![cfg(feature = "cli")]

use std::process::Command;

fn demo(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_novitai"))
        .arg("demo")
        .args(args)
        .output()
        .expect("the novitai binary runs");
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

#[test]
fn the_demo_reaches_running_rides_out_the_outage_and_verifies_webhooks() {
    let (code, out) = demo(&["--seed", "2026"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("instance reached running"), "{out}");
    assert!(out.contains("circuit breaker closed → open"), "{out}");
    assert!(out.contains("circuit breaker half-open → closed"), "{out}");
    assert!(out.contains("webhooks verified    3"), "{out}");
    assert!(out.contains("rate limited by the client limiter"), "{out}");
}

#[test]
fn the_same_seed_gives_the_same_run() {
    let (_, a) = demo(&["--seed", "11"]);
    let (_, b) = demo(&["--seed", "11"]);
    assert_eq!(without_wall_time(&a), without_wall_time(&b));
    let (_, c) = demo(&["--seed", "12"]);
    assert_ne!(without_wall_time(&a), without_wall_time(&c));
}

#[test]
fn a_bad_fault_plan_is_a_clear_error_not_a_panic() {
    let (code, out) = demo(&["--faults", "5xx=2"]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("--faults"), "{out}");
    assert!(!out.contains("panicked"), "{out}");
}
