//! Shared helpers for novitai's cross-crate tests (simulation drivers, scripted
//! scenarios). The tests themselves live in `tests/tests/`.
//!
//! The deterministic simulation suite: [`scenario`] turns a seed into a fault
//! plan, an engine configuration and a workload of real API calls; [`run`]
//! drives the engine against the simulator in virtual time and
//! [`invariants`] checks every promise the engine makes. [`run_seeds`] runs
//! many seeds over threads and reports each failing seed with a one-line
//! replay command.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod invariants;
pub mod run;
pub mod scenario;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

pub use run::RunReport;
pub use scenario::Scenario;

/// Seeds in the default run.
pub const DEFAULT_SEEDS: u64 = 10_000;

/// Which seeds to run, from the environment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SeedPlan {
    /// `NOVITAI_SIM_SEED=s`: just that seed.
    One(u64),
    /// Seeds `first .. first + count` (`NOVITAI_SIM_SEEDS=count`, default
    /// 10,000; `NOVITAI_SIM_SEED_BASE=first`, default 0).
    Range {
        /// The first seed.
        first: u64,
        /// How many.
        count: u64,
    },
}

impl SeedPlan {
    /// Reads `NOVITAI_SIM_SEED`, `NOVITAI_SIM_SEEDS` and `NOVITAI_SIM_SEED_BASE`;
    /// `default_count` when `NOVITAI_SIM_SEEDS` is unset.
    ///
    /// # Panics
    /// When a variable is set but is not a number (a test setup error).
    #[must_use]
    pub fn from_env(default_count: u64) -> SeedPlan {
        let num = |name: &str| {
            std::env::var(name).ok().map(|v| {
                v.trim()
                    .parse::<u64>()
                    .unwrap_or_else(|_| panic!("{name}={v:?} is not a whole number"))
            })
        };
        if let Some(s) = num("NOVITAI_SIM_SEED") {
            return SeedPlan::One(s);
        }
        SeedPlan::Range {
            first: num("NOVITAI_SIM_SEED_BASE").unwrap_or(0),
            count: num("NOVITAI_SIM_SEEDS").unwrap_or(default_count),
        }
    }

    /// The seeds, in order.
    #[must_use]
    pub fn seeds(self) -> std::ops::Range<u64> {
        match self {
            SeedPlan::One(s) => s..s.saturating_add(1),
            SeedPlan::Range { first, count } => first..first.saturating_add(count),
        }
    }
}

/// The command that replays exactly `seed` (with the test binary `test`).
#[must_use]
pub fn replay_command(seed: u64, test: &str) -> String {
    format!("NOVITAI_SIM_SEED={seed} cargo test -p novitai-tests --test {test} -- --nocapture")
}

/// Runs one seed; a panic anywhere is caught and reported as a violation.
#[must_use]
pub fn run_seed(seed: u64) -> RunReport {
    match catch_unwind(AssertUnwindSafe(|| run::run(&Scenario::generate(seed)))) {
        Ok(r) => r,
        Err(p) => {
            let msg = p
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| (*s).to_string()))
                .unwrap_or_else(|| "a non-string panic".to_string());
            RunReport {
                violations: vec![format!("panicked: {msg}")],
                ..RunReport::default()
            }
        }
    }
}

/// Totals over many seeds.
#[derive(Clone, Debug, Default)]
pub struct Summary {
    /// Seeds run.
    pub seeds: u64,
    /// Requests submitted.
    pub submitted: u64,
    /// Transmissions (simulated requests).
    pub transmissions: u64,
    /// Retries scheduled.
    pub retries: u64,
    /// Breaker transitions.
    pub breaker_transitions: u64,
    /// Failing seeds with their violations, by seed.
    pub failures: Vec<(u64, Vec<String>)>,
}

/// Runs `seeds` over `threads` threads (each takes the next seed in turn).
#[must_use]
pub fn run_seeds(seeds: std::ops::Range<u64>, threads: usize) -> Summary {
    let next = AtomicU64::new(seeds.start);
    let end = seeds.end;
    let total = Mutex::new(Summary::default());
    std::thread::scope(|scope| {
        for _ in 0..threads.max(1) {
            scope.spawn(|| {
                let mut local = Summary::default();
                loop {
                    let seed = next.fetch_add(1, Ordering::Relaxed);
                    if seed >= end {
                        break;
                    }
                    let r = run_seed(seed);
                    local.seeds += 1;
                    local.submitted += r.submitted as u64;
                    local.transmissions += r.transmissions;
                    local.retries += r.retries;
                    local.breaker_transitions += r.breaker_transitions;
                    if !r.violations.is_empty() {
                        local.failures.push((seed, r.violations));
                    }
                }
                let mut t = total
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                t.seeds += local.seeds;
                t.submitted += local.submitted;
                t.transmissions += local.transmissions;
                t.retries += local.retries;
                t.breaker_transitions += local.breaker_transitions;
                t.failures.extend(local.failures);
            });
        }
    });
    let mut s = total
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    s.failures.sort_by_key(|(seed, _)| *seed);
    s
}

/// Threads to use: the machine's parallelism (at least 1).
#[must_use]
pub fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
}
