//! # novitai-tokio
//!
//! The native adapter of novitai: it will carry out the decisions of
//! [`novitai_core`] with reqwest and tokio timers (issue [tokio-adapter]).
//!
//! Today it re-exports the core so that applications can already use the
//! standalone machines (breaker, limiter, retry, queue) with their own I/O; the
//! driver, the typed async Novita API and the webhook sender are not here yet.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub use novitai_core as core;
