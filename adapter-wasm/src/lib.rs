//! # novitai-wasm
//!
//! The browser and edge-worker adapter of novitai: wasm-bindgen bindings with
//! a JavaScript / TypeScript API. It carries out what `novitai-core` decides —
//! sends each transmission with `fetch` (gloo-net), arms the one timer the
//! engine asks for (gloo-timers), reads the time from `performance.now()` and
//! a seed from `crypto.getRandomValues` — and holds no policy of its own.
//!
//! From JavaScript (after `wasm-bindgen --target web`):
//!
//! ```js
//! import init, { NovitaClient, verifyWebhook } from "./novitai_wasm.js";
//! await init();
//! const client = new NovitaClient({ apiKey: "sk_...", maxInFlight: 8 });
//! const clusters = await client.clusters();
//! const { id, timestamp } = verifyWebhook(secret, request.headers, body, Date.now() / 1000);
//! ```
//!
//! Every failure is a JS `Error` with a `code` property (`"api"`,
//! `"gave_up"`, `"breaker_open"`, `"webhook_stale"`, ...) and the core error's
//! sentence as its message.
//!
//! | module | feature | what |
//! |---|---|---|
//! | `client` | `client` (default) | `NovitaClient`: the engine driven by fetch and timers |
//! | `webhook` | `webhook` (default) | `signWebhook`, `verifyWebhook`, `WebhookVerifier` |
//! | `machines` | `machines` (default) | `CircuitBreaker`, `RateLimiter` for callers who drive a machine themselves |
//! | `machines` | `snapshot` | `snapshot()` / `restore()` of the machines' state as JSON |
//! | [`trace`] | always | the text form of engine events, identical on every target |
//! | `determinism` | `sim` | the recorded cross-target scenario |
//! | `sim` | `sim` | `SimulatedNovita`: the engine against the in-page simulator in virtual time |
//!
//! The default features are what a user installs (and what the size budget
//! in `scripts/wasm.sh` applies to). A smaller module for one job:
//! `--no-default-features --features webhook` for an edge worker that only
//! signs and verifies webhooks, `--no-default-features --features machines`
//! for the standalone breaker and limiter; feature `snapshot` adds their
//! snapshots.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub use novitai_core as core;

#[cfg(feature = "client")]
pub mod client;
#[cfg(feature = "sim")]
pub mod determinism;
// Helpers shared by the feature modules; a build with some features off
// leaves a few unused.
#[cfg_attr(
    not(all(feature = "client", feature = "webhook", feature = "machines")),
    allow(dead_code)
)]
mod js;
#[cfg(feature = "machines")]
pub mod machines;
#[cfg(feature = "sim")]
pub mod sim;
pub mod trace;
#[cfg(feature = "webhook")]
pub mod webhook;
