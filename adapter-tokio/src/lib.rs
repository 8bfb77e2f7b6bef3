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
//!
//! With the `sim` feature, `sim_server` serves the core's deterministic
//! Novita API simulator over HTTP on 127.0.0.1, its fault plan carried out on
//! the wire (resets, hangs, cut-short bodies), for demos and end-to-end tests.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod webhook;

pub use novitai_core as core;

#[cfg(feature = "sim")]
pub mod sim_server;
