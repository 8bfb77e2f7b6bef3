//! # novitai-wasm
//!
//! The browser and edge-worker adapter of novitai. The wasm-bindgen bindings,
//! fetch transport and timers arrive with issue [wasm]; until then this crate
//! only re-exports [`novitai_core`], which already builds for
//! `wasm32-unknown-unknown` and makes the same decisions there as natively.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub use novitai_core as core;
