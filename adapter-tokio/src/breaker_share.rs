//! Sharing breaker trips between drivers (the fleet hook of [`Driver`]).
//!
//! A [`BreakerShare`] in [`DriverOptions::breaker_share`] connects a
//! driver's engine to a store every worker sees (with the `redis` feature:
//! `fleet::SharedTrip`). The driver only carries
//! messages; what a trip means is the core's decision:
//!
//! - when the engine reports its own trip (an
//!   [`Event::BreakerTransition`](novitai_core::engine::Event::BreakerTransition)
//!   whose [`own_trip`](novitai_core::breaker::Transition::own_trip) is
//!   `Some(until)`), the driver calls [`BreakerShare::publish`] with the open
//!   time left, on a task of its own (the engine's loop never waits for the
//!   store);
//! - every [`BreakerShare::poll_interval`], a task of the driver asks
//!   [`BreakerShare::remaining`] and, when a trip holds, hands it to the
//!   engine's [`adopt_trip`](novitai_core::engine::Engine::adopt_trip), which
//!   opens the local breaker until then (never shortening a longer local
//!   open, leaving a forced-open or disabled breaker alone). Trips the engine
//!   adopted are never published again.
//!
//! So a worker that has seen no failure refuses requests as breaker-open
//! within one poll interval of another worker's trip, and probes on its own
//! once the shared open time has passed.
//!
//! [`Driver`]: crate::Driver
//! [`DriverOptions::breaker_share`]: crate::DriverOptions::breaker_share

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

/// A boxed future returned by [`BreakerShare`]'s methods.
pub type ShareFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The shortest interval at which a driver asks [`BreakerShare::remaining`]
/// (a share asking for less is polled this often).
pub const MIN_POLL_INTERVAL: Duration = Duration::from_millis(10);

/// Where a driver publishes its breaker's trips and reads the trips of
/// other workers. Implementations must bound their waits (a store that does
/// not answer must not hold a task forever) and log their own failures.
pub trait BreakerShare: fmt::Debug + Send + Sync + 'static {
    /// Tells every worker that this worker's breaker opened for `open_for`
    /// from now. Must never shorten a longer trip already published.
    fn publish(&self, open_for: Duration) -> ShareFuture<'_, ()>;

    /// How long a published trip (this worker's or another's) still holds;
    /// `None` when none does. Err on the long side (measure from when the
    /// store answered, round up): the engine holds its breaker open exactly
    /// that long, and a hold that ends early lets the worker go half-open
    /// while the trip still stands. When the store cannot be reached, the
    /// answer is the implementation's configured choice (for example "no
    /// trip": the local breaker alone decides).
    fn remaining(&self) -> ShareFuture<'_, Option<Duration>>;

    /// How often the driver asks [`BreakerShare::remaining`] (at least
    /// [`MIN_POLL_INTERVAL`]): the longest a worker may take to see another
    /// worker's trip, plus one round trip to the store.
    fn poll_interval(&self) -> Duration;
}

/// Publishes an own trip of `open_for` on a task of its own.
pub(crate) fn publish(share: &Arc<dyn BreakerShare>, open_for: Duration) {
    if open_for.is_zero() {
        return;
    }
    let share = Arc::clone(share);
    tokio::spawn(async move {
        tracing::info!(
            open_for_ms = u64::try_from(open_for.as_millis()).unwrap_or(u64::MAX),
            "breaker share: publishing this worker's trip"
        );
        share.publish(open_for).await;
    });
}

/// Asks `share` every poll interval and hands a trip that holds to
/// `adopt`; `adopt` is also called with `None` so it can say whether the
/// driver is still there. Ends when `adopt` returns `false`.
pub(crate) fn spawn_poller(
    share: Arc<dyn BreakerShare>,
    mut adopt: impl FnMut(Option<Duration>) -> bool + Send + 'static,
) {
    tokio::spawn(async move {
        let every = share.poll_interval().max(MIN_POLL_INTERVAL);
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let left = share.remaining().await.filter(|d| !d.is_zero());
            if !adopt(left) {
                break;
            }
        }
    });
}
