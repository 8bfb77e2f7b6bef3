//! A breaker trip published to the whole fleet.

use super::conn::{Conn, FailMode, FleetError, FleetOptions, Health};
use crate::breaker_share::{BreakerShare, ShareFuture};
use novitai_core::fleet;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The resource a [`SharedTrip`] shares through [`BreakerShare`] unless
/// [`SharedTrip::with_resource`] names another.
pub const DEFAULT_RESOURCE: &str = "novita";

/// Publishes "the breaker for this resource is open for the next D" to every
/// worker, and tells each worker, polling at most every `poll_every`, how
/// long the published trip still holds.
///
/// The trip is the key `<prefix>:trip:<resource>` with a `PX` expiry of D:
/// it vanishes by itself when the hold ends, and the remaining time (`PTTL`)
/// is measured on Redis's clock only, so worker clock skew does not matter.
/// A publish never shortens a longer trip already published. No pub/sub:
/// polling bounds the delay before a worker sees a trip by `poll_every`.
///
/// Each worker keeps its own core breaker, which still decides: in a
/// [`Driver`](crate::Driver), put the `SharedTrip` in
/// [`DriverOptions::breaker_share`](crate::DriverOptions::breaker_share)
/// (it implements [`BreakerShare`] for the resource set with
/// [`SharedTrip::with_resource`], default [`DEFAULT_RESOURCE`]): the
/// engine's own trips are published, and a trip published by any worker is
/// adopted by the engine ([`Engine::adopt_trip`](novitai_core::engine::Engine::adopt_trip)),
/// which holds the local breaker open until then and probes after. With a
/// bare core breaker, call its
/// [`trip_until`](novitai_core::breaker::CircuitBreaker::trip_until) yourself.
///
/// When Redis is unreachable, [`FleetOptions::fail_mode`] decides, logged
/// once when Redis is lost and once when it is back:
/// - [`FailMode::FallbackLocal`]: "no published trip"; the local breaker
///   alone decides.
/// - [`FailMode::Closed`]: the unknown counts as a trip that holds for
///   `poll_every` + twice the command timeout (past the time the next
///   answer can come), so every worker refuses calls until Redis answers
///   again.
///
/// A publish that cannot reach Redis fails with
/// [`FleetError::Unavailable`] (logged, when published through
/// [`BreakerShare`]); the trip then stays local.
#[derive(Debug)]
pub struct SharedTrip {
    conn: Conn,
    prefix: String,
    resource: String,
    poll_every: Duration,
    fail_mode: FailMode,
    command_timeout: Duration,
    health: Health,
    cache: Mutex<HashMap<String, (Instant, Option<Instant>)>>,
}

const PUBLISH_LUA: &str = r"
local ms = tonumber(ARGV[1])
if redis.call('PTTL', KEYS[1]) < ms then
  redis.call('SET', KEYS[1], '1', 'PX', ARGV[1])
  return 1
end
return 0
";

impl SharedTrip {
    /// A publisher/reader on the Redis at `url`, polling at most every
    /// `poll_every`. Must be called in a tokio runtime; does not connect yet.
    pub fn new(
        url: &str,
        opts: &FleetOptions,
        poll_every: Duration,
    ) -> Result<SharedTrip, FleetError> {
        Ok(SharedTrip {
            conn: Conn::new(url, opts)?,
            prefix: opts.prefix.clone(),
            resource: DEFAULT_RESOURCE.to_owned(),
            poll_every,
            fail_mode: opts.fail_mode,
            command_timeout: opts.command_timeout,
            health: Health::default(),
            cache: Mutex::new(HashMap::new()),
        })
    }

    /// The same, sharing `resource` through [`BreakerShare`] (one per
    /// service a breaker guards).
    #[must_use]
    pub fn with_resource(mut self, resource: impl Into<String>) -> SharedTrip {
        self.resource = resource.into();
        self
    }

    /// The resource shared through [`BreakerShare`].
    #[must_use]
    pub fn resource(&self) -> &str {
        &self.resource
    }

    fn key(&self, resource: &str) -> String {
        format!("{}:trip:{resource}", self.prefix)
    }

    /// Publishes that `resource` is open for `open_for` from now (at least
    /// 1 ms). Returns whether this extended the published trip.
    pub async fn publish(&self, resource: &str, open_for: Duration) -> Result<bool, FleetError> {
        let ms = u64::try_from(open_for.as_millis())
            .unwrap_or(u64::MAX)
            .max(1);
        let script = redis::Script::new(PUBLISH_LUA);
        let mut inv = script.key(self.key(resource));
        inv.arg(ms);
        let mut con = self.conn.manager();
        let changed: i64 = match self.conn.bounded(inv.invoke_async(&mut con)).await {
            Ok(c) => {
                self.health.ok("breaker");
                c
            }
            Err(e) => {
                self.health.failed("breaker", self.fail_mode, &e);
                return Err(e);
            }
        };
        self.forget(resource);
        Ok(changed == 1)
    }

    fn forget(&self, resource: &str) {
        self.cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(resource);
    }

    /// How long the published trip of `resource` still holds, if any. Asks
    /// Redis at most once per `poll_every` per resource; in between the
    /// cached answer is aged locally. Redis unreachable: see the type's docs
    /// (the [`FailMode`]). Never waits longer than the command timeout.
    pub async fn remaining(&self, resource: &str) -> Option<Duration> {
        let now = Instant::now();
        {
            let cache = self
                .cache
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if let Some((checked, until)) = cache.get(resource)
                && now.saturating_duration_since(*checked) < self.poll_every
            {
                return until
                    .and_then(|u| u.checked_duration_since(now))
                    .filter(|d| !d.is_zero());
            }
        }
        let mut con = self.conn.manager();
        let key = self.key(resource);
        let pttl: Result<i64, FleetError> = self
            .conn
            .bounded(redis::cmd("PTTL").arg(&key).query_async(&mut con))
            .await;
        // The hold (core: fleet::shared_trip_hold) counts from when the
        // answer arrived.
        let answered = Instant::now();
        let read = match pttl {
            Ok(ms) => {
                self.health.ok("breaker");
                Some(ms)
            }
            Err(e) => {
                self.health.failed("breaker", self.fail_mode, &e);
                None
            }
        };
        let until = fleet::shared_trip_hold(
            read,
            self.fail_mode,
            core_duration(self.poll_every),
            core_duration(self.command_timeout),
        )
        .map(|hold| answered + Duration::from_millis(hold.as_millis()));
        self.cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(resource.to_owned(), (now, until));
        until.map(|u| u.saturating_duration_since(Instant::now()))
    }
}

impl BreakerShare for SharedTrip {
    fn publish(&self, open_for: Duration) -> ShareFuture<'_, ()> {
        Box::pin(async move {
            match SharedTrip::publish(self, &self.resource, open_for).await {
                Ok(extended) => tracing::debug!(
                    resource = %self.resource,
                    extended,
                    "fleet: breaker trip published"
                ),
                Err(e) => tracing::warn!(
                    resource = %self.resource,
                    error = %e,
                    "fleet: the breaker trip could not be published; it stays local"
                ),
            }
        })
    }

    fn remaining(&self) -> ShareFuture<'_, Option<Duration>> {
        Box::pin(SharedTrip::remaining(self, &self.resource))
    }

    fn poll_interval(&self) -> Duration {
        self.poll_every
    }
}

/// A std duration as the core's whole milliseconds (saturating).
fn core_duration(d: Duration) -> novitai_core::Duration {
    novitai_core::Duration::from_millis(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}
