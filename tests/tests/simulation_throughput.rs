//! How fast the simulation runs: simulated requests (transmissions) per
//! second, of wall time and of CPU time per core.
//!
//! ```text
//! cargo test --release -p novitai-tests --test simulation_throughput -- --nocapture
//! ```
//!
//! It runs 1,000 seeds by default (`NOVITAI_SIM_SEEDS` changes that) with
//! every invariant checked, so it is also a small extra seed sweep; the
//! figures it prints are a measurement only (nothing asserts on time).

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant as WallClock;

use novitai_tests::{SeedPlan, default_threads, replay_command, run_seed};

/// CPU time of the calling thread, where the platform tells it (Linux).
fn thread_cpu() -> Option<std::time::Duration> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let ns: u64 = s.split_whitespace().next()?.parse().ok()?;
    Some(std::time::Duration::from_nanos(ns))
}

#[test]
fn simulated_requests_per_second() {
    let seeds = SeedPlan::from_env(1_000).seeds();
    let threads = default_threads();
    let next = AtomicU64::new(seeds.start);
    let totals = Mutex::new((0u64, std::time::Duration::ZERO, true, Vec::new()));
    let started = WallClock::now();
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                let cpu0 = thread_cpu();
                let mut sent = 0u64;
                let mut failed = Vec::new();
                loop {
                    let seed = next.fetch_add(1, Ordering::Relaxed);
                    if seed >= seeds.end {
                        break;
                    }
                    let r = run_seed(seed);
                    sent += r.transmissions;
                    if !r.violations.is_empty() {
                        failed.push(seed);
                    }
                }
                let cpu = match (cpu0, thread_cpu()) {
                    (Some(a), Some(b)) => Some(b.saturating_sub(a)),
                    _ => None,
                };
                let mut t = totals
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                t.0 += sent;
                match cpu {
                    Some(c) => t.1 += c,
                    None => t.2 = false,
                }
                t.3.extend(failed);
            });
        }
    });
    let wall = started.elapsed();
    let (sent, cpu, cpu_known, failed) = totals
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let profile = if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    };
    let n = seeds.end - seeds.start;
    println!(
        "simulation throughput ({profile}, {threads} threads, {n} seeds): {sent} simulated requests in {wall:.2?} wall = {:.0}/s",
        sent as f64 / wall.as_secs_f64().max(1e-9)
    );
    if cpu_known {
        println!(
            "  per core: {:.0} simulated requests per CPU-second ({cpu:.2?} CPU)",
            sent as f64 / cpu.as_secs_f64().max(1e-9)
        );
    }
    assert!(sent > 0);
    assert!(
        failed.is_empty(),
        "seeds failed: {failed:?}; replay: {}",
        failed
            .first()
            .map(|s| replay_command(*s, "simulation"))
            .unwrap_or_default()
    );
}
