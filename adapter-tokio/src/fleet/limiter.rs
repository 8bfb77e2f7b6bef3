//! The fleet-wide GCRA limiter: one Redis key per resource, one Lua script.

use super::conn::{Conn, FailMode, FleetError, FleetOptions, Health};
use novitai_core::Instant;
use novitai_core::limiter::{Gcra, GcraConfig};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The script: exactly [`gcra_step`](novitai_core::limiter::gcra_step) on
/// Lua numbers.
///
/// `KEYS[1]` holds the TAT in microsecond ticks (absent = 0). `ARGV` is
/// `T`, `τ`, `n` (all integers in ticks / cells) and, optionally, `now` in
/// ticks; without it the time is Redis `TIME` (seconds and microseconds since
/// the epoch), so every worker shares one clock. Returns
/// `{allowed (1|0), now, tat' or allow_at}`.
///
/// Lua numbers are IEEE doubles, exact for integers below 2^53 ≈ 9.0e15: a
/// unix time in microseconds is ≈ 1.8e15 today and stays below 2^53 until
/// the year 2255, and [`RedisGcra::new`] refuses a configuration whose
/// `τ` (and so `n × T` for any admissible `n ≤ burst`) exceeds 2^50 ticks
/// (≈ 35 years), so every sum the script forms is an exact integer and no
/// overflow case of `gcra_step` can arise. Values are written back with
/// `%.0f` (never in exponent notation).
///
/// With Redis time the key gets a `PX` expiry at the moment it goes idle
/// (`tat'`), when a missing key decides exactly as the stored one would; with
/// a caller's `now` (used by the tests) there is no expiry.
pub const GCRA_LUA: &str = r"
local t = tonumber(ARGV[1])
local tau = tonumber(ARGV[2])
local n = tonumber(ARGV[3])
local now
local server_time = ARGV[4] == nil
if server_time then
  local tm = redis.call('TIME')
  now = tonumber(tm[1]) * 1000000 + tonumber(tm[2])
else
  now = tonumber(ARGV[4])
end
local tat = tonumber(redis.call('GET', KEYS[1]) or '0') or 0
local base = tat
if now > base then base = now end
local new_tat = base + n * t
local allow_at = new_tat - tau
if allow_at < 0 then allow_at = 0 end
if allow_at <= now then
  if server_time then
    local ttl = math.ceil((new_tat - now) / 1000)
    if ttl < 1 then ttl = 1 end
    redis.call('SET', KEYS[1], string.format('%.0f', new_tat), 'PX', string.format('%.0f', ttl))
  else
    redis.call('SET', KEYS[1], string.format('%.0f', new_tat))
  end
  return {1, now, new_tat}
end
return {0, now, allow_at}
";

/// The largest `τ` in ticks the script accepts (2^50 µs ≈ 35.7 years).
pub const MAX_TAU_TICKS: u64 = 1 << 50;

/// A denial: the same request conforms after `wait` (if nothing else is
/// admitted meanwhile).
///
/// `wait` is measured on one clock (Redis's, or the local one in fallback),
/// so it is free of skew between the caller's clock and Redis's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Denied {
    /// How long from the decision until the request conforms (rounded up to
    /// a whole millisecond).
    pub wait: Duration,
}

impl Denied {
    /// The local instant at which to try again, given when the call was made.
    #[must_use]
    pub fn retry_at(&self, called_at: std::time::Instant) -> std::time::Instant {
        called_at.checked_add(self.wait).unwrap_or(called_at)
    }
}

/// A GCRA limiter shared by every worker that points at the same Redis and
/// prefix. Cheap to clone.
///
/// Time comes from Redis `TIME` inside the script, not from the caller: all
/// workers then share one clock, so skew between worker clocks cannot let
/// the fleet over-admit. The cost is that Redis's own clock is trusted: if it
/// jumps backwards (a failover to a replica behind in time) decisions only
/// get stricter; if it jumps forward, up to one extra burst is admitted.
#[derive(Clone, Debug)]
pub struct RedisGcra {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    conn: Conn,
    script: redis::Script,
    config: GcraConfig,
    t: u64,
    tau: u64,
    opts: FleetOptions,
    health: Health,
    local: Mutex<HashMap<String, Gcra>>,
    epoch: std::time::Instant,
}

impl RedisGcra {
    /// A limiter of `config` on the Redis at `url` (`redis://host:port/db`).
    /// Must be called inside a tokio runtime; does not connect yet, so a
    /// Redis that is down at start-up is handled like one lost later.
    pub fn new(url: &str, config: GcraConfig, opts: FleetOptions) -> Result<RedisGcra, FleetError> {
        let g = Gcra::new(config).map_err(|e| FleetError::Config(e.to_string()))?;
        let (t, tau) = (g.emission_interval_ticks(), g.delay_tolerance_ticks());
        if tau > MAX_TAU_TICKS {
            return Err(FleetError::Config(format!(
                "burst × period / cells is {tau} µs, above the {MAX_TAU_TICKS} µs (about 35 years) that the Redis script computes exactly; use a shorter period or a smaller burst"
            )));
        }
        Ok(RedisGcra {
            inner: Arc::new(Inner {
                conn: Conn::new(url, &opts)?,
                script: redis::Script::new(GCRA_LUA),
                config,
                t,
                tau,
                opts,
                health: Health::default(),
                local: Mutex::new(HashMap::new()),
                epoch: std::time::Instant::now(),
            }),
        })
    }

    /// The configuration.
    #[must_use]
    pub fn config(&self) -> GcraConfig {
        self.inner.config
    }

    /// The Redis key of a limited resource.
    #[must_use]
    pub fn redis_key(&self, key: &str) -> String {
        format!("{}:gcra:{key}", self.inner.opts.prefix)
    }

    /// Admits `n` cells (all or none) of the resource `key` fleet-wide, or
    /// says how long until they would conform.
    ///
    /// `n = 0` always conforms without a round trip; `n` above the burst is
    /// [`FleetError::InsufficientCapacity`]. When Redis is unreachable, the
    /// [`FailMode`] decides: `Closed` gives [`FleetError::Unavailable`]
    /// (deny), `FallbackLocal` answers from a core [`Gcra`] in this process.
    /// Never waits longer than the command timeout.
    pub async fn check(&self, key: &str, n: u64) -> Result<Result<(), Denied>, FleetError> {
        self.check_timed(key, n).await.map(|(d, _)| d)
    }

    /// Like [`RedisGcra::check`], also returning the Redis time of the
    /// decision in microseconds since the epoch (`None` when it was made
    /// without Redis: `n = 0`, or the local fallback). For audits and tests.
    pub async fn check_timed(
        &self,
        key: &str,
        n: u64,
    ) -> Result<(Result<(), Denied>, Option<u64>), FleetError> {
        let inner = &*self.inner;
        if n > inner.config.burst {
            return Err(FleetError::InsufficientCapacity {
                requested: n,
                capacity: inner.config.burst,
            });
        }
        if n == 0 {
            return Ok((Ok(()), None));
        }
        match self.eval(key, n, None).await {
            Ok((allowed, now, at)) => {
                inner.health.ok("limiter");
                let d = if allowed {
                    Ok(())
                } else {
                    Err(Denied {
                        wait: Duration::from_millis(at.saturating_sub(now).div_ceil(1000)),
                    })
                };
                Ok((d, Some(now)))
            }
            Err(e) => {
                inner.health.failed("limiter", inner.opts.fail_mode, &e);
                match inner.opts.fail_mode {
                    FailMode::Closed => Err(e),
                    FailMode::FallbackLocal => Ok((self.check_local(key, n), None)),
                }
            }
        }
    }

    /// Runs the script once with a caller-supplied `now` in microsecond
    /// ticks, returning exactly what `gcra_step` would: `Ok(tat')` or
    /// `Err(allow_at)`. For tests and tools that drive virtual time; the key
    /// gets no expiry. No fail mode applies.
    pub async fn step_at(
        &self,
        key: &str,
        n: u64,
        now_ticks: u64,
    ) -> Result<Result<u64, u64>, FleetError> {
        let (allowed, _, v) = self.eval(key, n, Some(now_ticks)).await?;
        Ok(if allowed { Ok(v) } else { Err(v) })
    }

    async fn eval(
        &self,
        key: &str,
        n: u64,
        now: Option<u64>,
    ) -> Result<(bool, u64, u64), FleetError> {
        let inner = &*self.inner;
        let mut inv = inner.script.key(self.redis_key(key));
        inv.arg(inner.t).arg(inner.tau).arg(n);
        if let Some(now) = now {
            inv.arg(now);
        }
        let mut con = inner.conn.manager();
        // `invoke_async` sends EVALSHA and, on NOSCRIPT, loads the script
        // and retries once.
        let (allowed, now, v): (i64, u64, u64) =
            inner.conn.bounded(inv.invoke_async(&mut con)).await?;
        Ok((allowed == 1, now, v))
    }

    /// The local fallback: one core GCRA per key, on this process's clock.
    fn check_local(&self, key: &str, n: u64) -> Result<(), Denied> {
        let inner = &*self.inner;
        let now = Instant::from_millis(
            u64::try_from(inner.epoch.elapsed().as_millis()).unwrap_or(u64::MAX),
        );
        let mut map = inner
            .local
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if !map.contains_key(key) {
            match Gcra::new(inner.config) {
                Ok(g) => {
                    map.insert(key.to_owned(), g);
                }
                // Checked in `new`; unreachable, but deny rather than panic.
                Err(_) => {
                    return Err(Denied {
                        wait: Duration::from_secs(1),
                    });
                }
            }
        }
        let Some(g) = map.get_mut(key) else {
            return Err(Denied {
                wait: Duration::from_secs(1),
            });
        };
        match g.check_n(n, now) {
            Ok(Ok(())) => Ok(()),
            Ok(Err(no)) => Err(Denied {
                wait: Duration::from_millis(
                    no.earliest().as_millis().saturating_sub(now.as_millis()),
                ),
            }),
            Err(_) => Err(Denied {
                wait: Duration::MAX,
            }),
        }
    }
}
