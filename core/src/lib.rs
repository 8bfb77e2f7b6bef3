//! # novitai-core: the sans-I/O heart of novitai
//!
//! Every part of novitai that *decides* lives here, as plain state machines:
//! they take the current time as an argument and return decisions and actions
//! as data. Nothing in this crate reads a clock, draws entropy, sleeps, spawns,
//! or touches a socket — it is `#![no_std]` + `alloc` and `#![forbid(unsafe_code)]`.
//! The adapters (`novitai-tokio`, `novitai-wasm`) only *carry out* what the core
//! decides: send a request, arm a timer, hand an event to the caller.
//!
//! Because of that, the same inputs give the same decisions on every target
//! (natively and in wasm), every machine can be property-tested and fuzzed
//! deterministically, and every failing simulation replays from its seed.
//!
//! ## The contract: time in, decision out
//!
//! 1. The caller owns the clock. It passes `now` ([`time::Instant`], monotonic
//!    milliseconds on an epoch of its choosing) to every method that depends on
//!    time. A `now` earlier than one seen before is treated as "no time passed".
//! 2. Randomness comes only from [`rng::Rng`], seeded by the caller. Same seed,
//!    same decisions.
//! 3. A "no" is data, not an error: the limiter answers
//!    [`limiter::NotUntil`]-style values, the breaker `Open { until }`, the retry
//!    policy `GiveUp(reason)`. Errors are reserved for bad input (an out-of-range
//!    config is a typed error at construction) — and no input makes a machine panic.
//! 4. Machines never sleep. When one needs to be woken, it says when; the caller
//!    arms a timer and calls back with the new `now`.
//!
//! ## The machines
//!
//! | module | machine |
//! |---|---|
//! | [`time`] | [`time::Instant`], [`time::Duration`], [`time::UnixTime`] with saturating arithmetic |
//! | [`rng`] | [`rng::Rng`], the seeded PRNG behind all jitter |
//! | [`http`] | [`http::HttpRequest`] / [`http::HttpResponse`] as plain values, credentials hidden from `Debug` |
//! | [`config`] | [`config::Config`] from environment-style key/value pairs, every problem reported at once |
//! | [`secret`] | [`secret::Secret`], a string whose `Debug` and `Display` print `***` |
//! | [`breaker`] | circuit breaker: consecutive-failure and failure-rate trips, slow calls, half-open probes, trips adopted from other workers |
//! | [`limiter`] | GCRA, sliding-window log, keyed and concurrency limiters |
//! | [`retry`] | backoff with jitter, `Retry-After`, retry budget, deadlines |
//! | [`queue`] | bounded fair FIFO with priorities and deadlines |
//! | [`fleet`] | what an unreachable shared store means ([`fleet::FailMode`]) and how a fleet's published breaker trip is held |
//! | [`engine`] | the machines composed: queue → limiter → breaker → transmit → retry, with cache and coalescing |
//! | [`error`] | [`error::Error`], the one error a caller of the API sees, with actionable messages |
//! | `sim` (feature `sim`) | deterministic model of the Novita v1 API with a seeded fault plan |
//! | [`api`] | Novita v1 endpoints: typed request builders, lenient response parsers, validation, paging |
//! | [`monitor`] | instance start-up monitor: polls to `running`, health-checks endpoints, emits phase notifications |
//! | [`webhook`] | Standard Webhooks signing and verification, notification payloads, delivery schedule, outbound URL guard |
#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

extern crate alloc;
// Only for fuzzing: the `arbitrary` derive's recursion guard uses
// `std::thread_local!`. Normal builds (and wasm32) stay `no_std`.
#[cfg(feature = "arbitrary")]
extern crate std;

pub mod api;
pub mod breaker;
pub mod config;
pub mod engine;
pub mod error;
pub mod fleet;
pub mod http;
pub mod limiter;
pub mod monitor;
pub mod queue;
pub mod retry;
pub mod rng;
pub mod secret;
#[cfg(feature = "sim")]
pub mod sim;
pub mod time;
pub mod webhook;

pub use rng::Rng;
pub use time::{Duration, Instant, UnixTime};
