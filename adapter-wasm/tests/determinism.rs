//! The native half of the cross-target determinism check: the recorded
//! scenario's trace must equal the committed golden file, which the wasm half
//! (`tests/wasm.rs`, run by `scripts/wasm.sh`) compares against too.
//!
//! After an intended change of behaviour, regenerate the file with
//! `NOVITAI_UPDATE_GOLDEN=1 cargo test -p novitai-wasm --features sim --test determinism`
//! and review the diff.
#![cfg(all(feature = "sim", not(target_arch = "wasm32")))]

use novitai_wasm::determinism;

const GOLDEN: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/golden/determinism.trace"
);

/// The first differing line, for a readable failure.
fn first_difference(a: &str, b: &str) -> String {
    for (i, (x, y)) in a.lines().zip(b.lines()).enumerate() {
        if x != y {
            return format!("line {}:\n  golden: {x}\n  now:    {y}", i + 1);
        }
    }
    format!(
        "lengths differ: golden {} lines, now {} lines",
        a.lines().count(),
        b.lines().count()
    )
}

#[test]
fn the_native_trace_matches_the_golden_file() {
    let trace = determinism::trace();
    if std::env::var_os("NOVITAI_UPDATE_GOLDEN").is_some() {
        std::fs::write(GOLDEN, &trace).expect("write the golden file");
        return;
    }
    let golden = std::fs::read_to_string(GOLDEN)
        .expect("the golden file is missing: run with NOVITAI_UPDATE_GOLDEN=1 once and commit it");
    assert!(
        golden == trace,
        "the determinism trace changed ({}); if intended, regenerate with NOVITAI_UPDATE_GOLDEN=1",
        first_difference(&golden, &trace)
    );
}

#[test]
fn the_scenario_exercises_the_interesting_paths() {
    let trace = determinism::trace();
    for needle in [
        "retry_scheduled",
        "breaker closed->open",
        "reply=5",
        "reply=429",
        "reply=none",
        "attempt_timed_out",
        "completed",
        "created ",
        "tampered: Err(NoMatchingSignature)",
        "stale: Err(Stale",
        "verify: Ok(",
    ] {
        assert!(trace.contains(needle), "the trace never shows {needle:?}");
    }
}

#[test]
fn the_same_seed_gives_the_same_trace_and_another_seed_another() {
    assert_eq!(
        determinism::trace_with_seed(7),
        determinism::trace_with_seed(7)
    );
    assert_ne!(
        determinism::trace_with_seed(7),
        determinism::trace_with_seed(8)
    );
}
