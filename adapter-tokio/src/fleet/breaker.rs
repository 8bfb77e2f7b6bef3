//! A breaker trip published to the whole fleet.

use super::conn::{Conn, FleetError, FleetOptions, Health};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Publishes "the breaker for this resource is open for the next D" to every
/// worker, and tells each worker, polling at most every `poll_every`, how
/// long the published trip still holds.
///
/// The trip is the key `<prefix>:trip:<resource>` with a `PX` expiry of D:
/// it vanishes by itself when the hold ends, and the remaining time (`PTTL`)
/// is measured on Redis's clock only, so worker clock skew does not matter.
/// A publish never shortens a longer trip already published. Each worker
/// keeps its own core breaker and calls its `force_open(now)` while
/// [`SharedTrip::remaining`] is `Some` (the local breaker still decides the
/// rest: probing, closing, its own counting). No pub/sub: polling bounds the
/// delay before a worker sees a trip by `poll_every`.
///
/// When Redis is unreachable the answer is "no published trip" (the local
/// breaker alone decides), logged once.
#[derive(Debug)]
pub struct SharedTrip {
    conn: Conn,
    prefix: String,
    poll_every: Duration,
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
            poll_every,
            health: Health::default(),
            cache: Mutex::new(HashMap::new()),
        })
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
        let changed: i64 = self.conn.bounded(inv.invoke_async(&mut con)).await?;
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
    /// cached answer is aged locally.
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
        let until = match pttl {
            Ok(ms) => {
                self.health.ok("breaker");
                u64::try_from(ms)
                    .ok()
                    .filter(|&m| m > 0)
                    .map(|m| now + Duration::from_millis(m))
            }
            Err(e) => {
                self.health
                    .failed("breaker", super::FailMode::FallbackLocal, &e);
                None
            }
        };
        self.cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(resource.to_owned(), (now, until));
        until.map(|u| u.saturating_duration_since(now))
    }
}
