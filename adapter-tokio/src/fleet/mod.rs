//! A fleet of workers sharing one Redis (feature `redis`).
//!
//! What is shared, and how:
//!
//! - [`RedisGcra`]: a fleet-wide GCRA rate limiter. One Redis key per limited
//!   resource holds the theoretical arrival time; one atomic Lua script
//!   ([`GCRA_LUA`], run with `EVALSHA`, falling back to `EVAL` when Redis does
//!   not know the script) applies exactly the core's
//!   [`gcra_step`](novitai_core::limiter::gcra_step) in the same integer
//!   microsecond ticks, with the time read from Redis `TIME` inside the script.
//! - [`RedisOutbox`]: the webhook [`Outbox`](crate::webhook::Outbox) in Redis,
//!   with a lease per worker so a dead worker's deliveries are finished by
//!   another ([`spawn_reclaimer`]).
//! - [`SharedTrip`]: a breaker trip published fleet-wide (a key with a `PX`
//!   expiry at the open-until time); each worker polls it at most every so
//!   often and its engine adopts it, holding the local breaker open until
//!   then. It is a [`BreakerShare`](crate::BreakerShare): put it in
//!   [`DriverOptions::breaker_share`](crate::DriverOptions::breaker_share)
//!   and the driver publishes the engine's own trips and feeds the others'
//!   to [`Engine::adopt_trip`](novitai_core::engine::Engine::adopt_trip).
//!
//! What stays local: every other decision of the engine (retries, the
//! breaker's own counting, probing and closing, timeouts, caching), and,
//! when Redis is unreachable and [`FailMode::FallbackLocal`] is chosen, the
//! rate limit (a core [`Gcra`](novitai_core::limiter::Gcra) per key in this
//! process), the breaker (no shared trip) and the outbox (see
//! [`RedisOutbox`]).
//!
//! Redis unreachable never hangs a caller: every command runs under
//! [`FleetOptions::command_timeout`], connections are made with
//! [`FleetOptions::connect_timeout`], and the connection is re-established in
//! the background with exponential backoff. What a caller gets meanwhile is
//! the configured [`FailMode`], and the switch is logged (`warn` once when
//! Redis is lost, `info` once when it is back).

mod breaker;
mod conn;
mod limiter;
mod outbox;

pub use breaker::{DEFAULT_RESOURCE, SharedTrip};
pub use conn::{FailMode, FleetError, FleetOptions};
pub use limiter::{Denied, GCRA_LUA, RedisGcra};
pub use outbox::{RedisOutbox, spawn_reclaimer};
