//! # novitai-tokio
//!
//! The native adapter of novitai: it will carry out the decisions of
//! [`novitai_core`] with reqwest and tokio timers (issue [tokio-adapter]).
//!
//! Today it re-exports the core so that applications can already use the
//! standalone machines (breaker, limiter, retry, queue) with their own I/O; the
//! driver, the typed async Novita API and the webhook sender are not here yet.
//!
//! With the `sim` feature, [`sim_server`] serves the core's deterministic
//! Novita API simulator over HTTP on 127.0.0.1, its fault plan carried out on
//! the wire (resets, hangs, cut-short bodies), for demos and end-to-end tests.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub use novitai_core as core;

#[cfg(feature = "sim")]
pub mod sim_server;
