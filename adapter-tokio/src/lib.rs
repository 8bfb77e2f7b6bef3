//! # novitai-tokio
//!
//! The native adapter of novitai: it carries out the decisions of
//! [`novitai_core`] with reqwest and tokio timers, and holds no policy of its
//! own — retries, rate limits, the circuit breaker, timeouts and caching are
//! all decided by the core's [`Engine`](novitai_core::engine::Engine).
//!
//! - [`Novita`]: the typed async client (`Novita::from_env()`,
//!   `novita.clusters().await`, `novita.create_instance(..)`, ...).
//! - [`lifecycle`]: `novita.create_and_wait(..)` / `start_and_wait(..)` /
//!   `wait_until_ready(..)`, the core's start-up monitor carried out (polls through the engine, health
//!   probes, webhook notifications, a progress stream).
//! - [`Driver`]: the engine behind one lock; callers submit and feed in
//!   their answers themselves and await their
//!   [`Completed`](novitai_core::engine::Completed), one tokio task runs its
//!   timer.
//!   An optional [`BreakerShare`] publishes the engine's breaker trips and
//!   feeds trips seen by other workers back to it ([`breaker_share`]).
//! - Logging with `tracing`, mapped one-to-one from the engine's events
//!   (see the `log` module's table); secrets are never logged.
//! - [`webhook`]: a durable webhook sender over reqwest (the core's delivery
//!   machine, an fsynced outbox, a DNS resolver that applies the URL guard) and
//!   a verifying receiver (plain function, or axum middleware with the `axum`
//!   feature).
//! - With the `redis` feature, `fleet`: a fleet-wide GCRA
//!   limiter (one Lua script), a published breaker trip and a leased webhook
//!   outbox shared by workers through one Redis.
//! - With the `sim` feature, `sim_server` serves the core's deterministic
//!   Novita API simulator over HTTP on 127.0.0.1, its fault plan carried out on
//!   the wire (resets, hangs, cut-short bodies), for demos and end-to-end tests.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let novita = novitai_tokio::Novita::from_env()?;
//! novita.health_check().await?;
//! let status = novita.status().await?;
//! println!("breaker {:?}, {} queued", status.breaker, status.queued);
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod breaker_share;
pub mod client;
pub mod driver;
pub mod lifecycle;
mod log;
pub mod webhook;

pub use breaker_share::BreakerShare;
pub use client::{BuildError, Novita, NovitaBuilder};
pub use driver::{Driver, DriverError, DriverOptions};
pub use lifecycle::{Progress, WaitError, WaitOptions, WaitOutcome, Waiting, WebhookTarget};
pub use novitai_core as core;
pub use novitai_core::error::Error;

#[cfg(feature = "sim")]
pub mod sim_server;

#[cfg(feature = "redis")]
pub mod fleet;
