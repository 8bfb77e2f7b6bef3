//! # novitai-tokio
//!
//! The native adapter of novitai: it will carry out the decisions of
//! [`novitai_core`] with reqwest and tokio timers (issue [tokio-adapter]).
//!
//! Today it re-exports the core so that applications can already use the
//! standalone machines (breaker, limiter, retry, queue) with their own I/O.
//!
//! [`webhook`]: a durable webhook sender over reqwest (the core's delivery
//! machine, an fsynced outbox, a DNS resolver that applies the URL guard) and a
//! verifying receiver (plain function, or axum middleware with the `axum`
//! feature).
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod webhook;

pub use novitai_core as core;
