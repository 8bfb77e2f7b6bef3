//! The webhook outbox in Redis, leased per worker.

use crate::webhook::{Outbox, OutboxError, WebhookSender};
use novitai_core::webhook::PendingDelivery;
use std::collections::{HashMap, HashSet};
use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

const PUT_LUA: &str = r"
local tm = redis.call('TIME')
local now = tonumber(tm[1]) * 1000 + math.floor(tonumber(tm[2]) / 1000)
if ARGV[5] == 'put' and redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('HSET', KEYS[2], ARGV[1], string.format('%.0f', now + tonumber(ARGV[4])) .. '|' .. ARGV[3])
return 1
";

/// Claims records whose lease is absent or expired (and, unless only
/// orphans are asked for, the worker's own), leasing them to the worker.
const CLAIM_LUA: &str = r"
local tm = redis.call('TIME')
local now = tonumber(tm[1]) * 1000 + math.floor(tonumber(tm[2]) / 1000)
local ttl = tonumber(ARGV[2])
local out = {}
local all = redis.call('HGETALL', KEYS[1])
for i = 1, #all, 2 do
  local id = all[i]
  local l = redis.call('HGET', KEYS[2], id)
  local take = true
  if l then
    local sep = string.find(l, '|', 1, true)
    local exp = tonumber(string.sub(l, 1, (sep or 1) - 1)) or 0
    local owner = sep and string.sub(l, sep + 1) or ''
    if owner == ARGV[1] then
      take = ARGV[3] == '0'
    elseif exp > now then
      take = false
    end
  end
  if take then
    redis.call('HSET', KEYS[2], id, string.format('%.0f', now + ttl) .. '|' .. ARGV[1])
    table.insert(out, all[i + 1])
  end
end
return out
";

const RENEW_LUA: &str = r"
local tm = redis.call('TIME')
local now = tonumber(tm[1]) * 1000 + math.floor(tonumber(tm[2]) / 1000)
local all = redis.call('HGETALL', KEYS[1])
local n = 0
for i = 1, #all, 2 do
  local l = all[i + 1]
  local sep = string.find(l, '|', 1, true)
  if sep and string.sub(l, sep + 1) == ARGV[1] then
    redis.call('HSET', KEYS[1], all[i], string.format('%.0f', now + tonumber(ARGV[2])) .. '|' .. ARGV[1])
    n = n + 1
  end
end
return n
";

/// The webhook [`Outbox`] in Redis, shared by a fleet of senders.
///
/// Records live in the hash `<prefix>:outbox:records` (message id → the
/// record as JSON) and each has a lease in `<prefix>:outbox:leases`
/// (message id → `<expiry ms, Redis clock>|<worker id>`). Writing a record
/// (re)takes its lease for `lease` from now; [`Outbox::load_pending`] claims
/// the worker's own records and every record whose lease has expired;
/// [`RedisOutbox::claim_orphans`] claims only the expired ones, and
/// [`spawn_reclaimer`] renews this worker's leases and adopts orphans into a
/// running [`WebhookSender`]. A worker that dies stops renewing, so after at
/// most `lease` another worker finishes its deliveries, with the same
/// webhook-id: at least once, receivers deduplicate on the id. A `put` of an
/// id already stored keeps the stored record.
///
/// The trait is synchronous (the sender calls it on a blocking thread), so
/// this uses a synchronous connection with read, write and connect timeouts;
/// after a failure the next connection attempt waits for a backoff that
/// doubles from 50 ms to 2 s, and calls meanwhile fail at once with an I/O
/// error rather than wait. Redis must persist (AOF or RDB) for records to
/// survive a Redis restart; that is Redis's configuration, not this type's.
///
/// When Redis is unreachable (logged once when lost, once when back):
/// - by default the outbox **fails closed**: every call returns an error at
///   once, so [`WebhookSender::send`](crate::webhook::WebhookSender::send)
///   tells its caller the notification was not stored;
/// - with [`RedisOutbox::with_local_fallback`] it **falls back to a local
///   outbox** (e.g. a [`FileOutbox`](crate::webhook::FileOutbox)): records
///   written while Redis is down go there and are delivered by this worker;
///   [`RedisOutbox::flush_local`] (run by [`spawn_reclaimer`] on every tick)
///   moves them into Redis once it answers again, and removals that could
///   not reach Redis are retried then. Until flushed, such records are this
///   host's alone: another worker cannot adopt them if this one dies (this
///   one resumes them from the local outbox on restart), and a record
///   finished while Redis was down may be delivered once more by another
///   worker if this one dies before the removal reaches Redis (at least
///   once; receivers deduplicate on webhook-id).
///
/// # Default
///
/// No `Default`: it needs a URL. Lease 30 s, timeouts 1 s, no local fallback
/// (fail closed).
#[derive(Debug)]
pub struct RedisOutbox {
    client: redis::Client,
    worker: String,
    records_key: String,
    leases_key: String,
    lease: Duration,
    timeout: Duration,
    conn: Mutex<ConnState>,
    fallback: Option<Fallback>,
}

/// The local outbox used while Redis is unreachable.
#[derive(Debug)]
struct Fallback {
    local: Arc<dyn Outbox>,
    /// Ids with a record in `local` (not yet moved to Redis).
    ids: Mutex<HashSet<String>>,
    /// Finished deliveries whose removal has not reached Redis yet.
    removals: Mutex<HashSet<String>>,
    /// Logged once per outage.
    active: AtomicBool,
}

/// Why a Redis call failed: Redis unreachable (the fail mode applies) or
/// anything else (an error either way).
enum Failure {
    Down(OutboxError),
    Other(OutboxError),
}

impl Failure {
    fn into_error(self) -> OutboxError {
        match self {
            Failure::Down(e) | Failure::Other(e) => e,
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

struct ConnState {
    conn: Option<redis::Connection>,
    next_try: Option<Instant>,
    delay: Duration,
}

impl std::fmt::Debug for ConnState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnState")
            .field("connected", &self.conn.is_some())
            .field("next_try", &self.next_try)
            .field("delay", &self.delay)
            .finish()
    }
}

const MIN_BACKOFF: Duration = Duration::from_millis(50);
const MAX_BACKOFF: Duration = Duration::from_secs(2);

impl RedisOutbox {
    /// An outbox under `prefix` on the Redis at `url`, for the worker named
    /// `worker` (unique per process; see [`RedisOutbox::random_worker_id`]).
    /// Does not connect yet.
    pub fn new(url: &str, prefix: &str, worker: &str) -> Result<RedisOutbox, OutboxError> {
        let client = redis::Client::open(url).map_err(|e| OutboxError::Io(io::Error::other(e)))?;
        Ok(RedisOutbox {
            client,
            worker: worker.to_owned(),
            records_key: format!("{prefix}:outbox:records"),
            leases_key: format!("{prefix}:outbox:leases"),
            lease: Duration::from_secs(30),
            timeout: Duration::from_secs(1),
            conn: Mutex::new(ConnState {
                conn: None,
                next_try: None,
                delay: MIN_BACKOFF,
            }),
            fallback: None,
        })
    }

    /// The same outbox, falling back to `local` while Redis is unreachable
    /// instead of failing (see the type's docs). Records already in `local`
    /// (from an earlier run) are delivered by this worker and moved into
    /// Redis by [`RedisOutbox::flush_local`].
    ///
    /// # Errors
    /// When `local` cannot be read.
    pub fn with_local_fallback(
        mut self,
        local: Arc<dyn Outbox>,
    ) -> Result<RedisOutbox, OutboxError> {
        let ids = local
            .load_pending()?
            .into_iter()
            .map(|r| r.message_id)
            .collect();
        self.fallback = Some(Fallback {
            local,
            ids: Mutex::new(ids),
            removals: Mutex::new(HashSet::new()),
            active: AtomicBool::new(false),
        });
        Ok(self)
    }

    /// The same outbox with a different lease length (at least 1 ms).
    #[must_use]
    pub fn with_lease(mut self, lease: Duration) -> RedisOutbox {
        self.lease = lease.max(Duration::from_millis(1));
        self
    }

    /// The same outbox with a different connect/read/write timeout.
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> RedisOutbox {
        self.timeout = timeout.max(Duration::from_millis(1));
        self
    }

    /// A fresh random worker id (`w_<16 hex>`).
    pub fn random_worker_id() -> Result<String, OutboxError> {
        let mut b = [0u8; 8];
        getrandom::fill(&mut b).map_err(|e| OutboxError::Io(io::Error::other(e.to_string())))?;
        Ok(format!("w_{:016x}", u64::from_le_bytes(b)))
    }

    /// This worker's id.
    #[must_use]
    pub fn worker(&self) -> &str {
        &self.worker
    }

    /// The lease length.
    #[must_use]
    pub fn lease(&self) -> Duration {
        self.lease
    }

    fn state(&self) -> MutexGuard<'_, ConnState> {
        self.conn
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Runs `f` on the connection, connecting (with backoff) if needed.
    fn with_conn<T>(
        &self,
        f: impl FnOnce(&mut redis::Connection) -> redis::RedisResult<T>,
    ) -> Result<T, OutboxError> {
        self.try_conn(f).map_err(Failure::into_error)
    }

    /// [`with_conn`](Self::with_conn), telling "Redis unreachable" apart.
    fn try_conn<T>(
        &self,
        f: impl FnOnce(&mut redis::Connection) -> redis::RedisResult<T>,
    ) -> Result<T, Failure> {
        let mut st = self.state();
        if st.conn.is_none() {
            if let Some(at) = st.next_try {
                let now = Instant::now();
                if now < at {
                    return Err(Failure::Down(OutboxError::Io(io::Error::other(format!(
                        "Redis unreachable; next reconnect attempt in {} ms",
                        at.saturating_duration_since(now).as_millis()
                    )))));
                }
            }
            let made = self
                .client
                .get_connection_with_timeout(self.timeout)
                .and_then(|c| {
                    c.set_read_timeout(Some(self.timeout))?;
                    c.set_write_timeout(Some(self.timeout))?;
                    Ok(c)
                });
            match made {
                Ok(c) => {
                    if st.next_try.is_some() {
                        tracing::info!(worker = %self.worker, "webhook outbox: Redis reachable again");
                    }
                    st.conn = Some(c);
                    st.next_try = None;
                    st.delay = MIN_BACKOFF;
                }
                Err(e) => {
                    self.backoff(&mut st, &e);
                    return Err(Failure::Down(OutboxError::Io(io::Error::other(e))));
                }
            }
        }
        let Some(conn) = st.conn.as_mut() else {
            return Err(Failure::Down(OutboxError::Io(io::Error::other(
                "no Redis connection",
            ))));
        };
        match f(conn) {
            Ok(v) => Ok(v),
            Err(e) if matches!(e.kind(), redis::ErrorKind::Server(_)) => {
                Err(Failure::Other(OutboxError::Io(io::Error::other(e))))
            }
            Err(e) => {
                st.conn = None;
                self.backoff(&mut st, &e);
                Err(Failure::Down(OutboxError::Io(io::Error::other(e))))
            }
        }
    }

    /// Redis is unreachable: the local outbox, if configured (logged once
    /// per outage).
    fn fall_back(&self, e: &OutboxError) -> Option<&Fallback> {
        let fb = self.fallback.as_ref()?;
        if !fb.active.swap(true, Ordering::Relaxed) {
            tracing::warn!(worker = %self.worker, error = %e, "webhook outbox: Redis unreachable; using the local outbox until it is back");
        }
        Some(fb)
    }

    /// Redis answered: a record of `id` left in the local outbox is stale
    /// now, drop it.
    fn redis_ok(&self, id: Option<&str>) -> Result<(), OutboxError> {
        let Some(fb) = &self.fallback else {
            return Ok(());
        };
        if fb.active.swap(false, Ordering::Relaxed) {
            tracing::info!(worker = %self.worker, "webhook outbox: Redis reachable again; leaving the local outbox");
        }
        if let Some(id) = id
            && lock(&fb.ids).contains(id)
        {
            fb.local.remove(id)?;
            lock(&fb.ids).remove(id);
        }
        Ok(())
    }

    fn backoff(&self, st: &mut ConnState, e: &redis::RedisError) {
        if st.next_try.is_none() {
            tracing::warn!(worker = %self.worker, error = %e, "webhook outbox: Redis unreachable; reconnecting with backoff");
        }
        st.next_try = Some(Instant::now() + st.delay);
        st.delay = (st.delay * 2).min(MAX_BACKOFF);
    }

    fn lease_ms(&self) -> u64 {
        u64::try_from(self.lease.as_millis()).unwrap_or(u64::MAX)
    }

    fn write(&self, record: &PendingDelivery, mode: &str) -> Result<(), OutboxError> {
        match self.write_redis(record, mode) {
            Ok(()) => self.redis_ok(Some(&record.message_id)),
            Err(Failure::Down(e)) => match self.fall_back(&e) {
                Some(fb) => {
                    fb.local.update(record)?;
                    lock(&fb.ids).insert(record.message_id.clone());
                    Ok(())
                }
                None => Err(e),
            },
            Err(Failure::Other(e)) => Err(e),
        }
    }

    fn write_redis(&self, record: &PendingDelivery, mode: &str) -> Result<(), Failure> {
        let json =
            serde_json::to_string(record).map_err(|e| Failure::Other(OutboxError::Encode(e)))?;
        let script = redis::Script::new(PUT_LUA);
        self.try_conn(|c| {
            script
                .key(&self.records_key)
                .key(&self.leases_key)
                .arg(&record.message_id)
                .arg(&json)
                .arg(&self.worker)
                .arg(self.lease_ms())
                .arg(mode)
                .invoke::<i64>(c)
        })
        .map(|_| ())
    }

    fn remove_redis(&self, message_id: &str) -> Result<(), Failure> {
        self.try_conn(|c| {
            redis::pipe()
                .atomic()
                .hdel(&self.records_key, message_id)
                .ignore()
                .hdel(&self.leases_key, message_id)
                .ignore()
                .query::<()>(c)
        })
    }

    /// Moves the records written to the local fallback while Redis was
    /// unreachable into Redis (leased to this worker), and retries the
    /// removals that could not reach it. Returns how many records moved.
    /// Without a local fallback, or with nothing local, it does nothing.
    ///
    /// # Errors
    /// When Redis is still unreachable (nothing is lost: the records stay
    /// local) or the local outbox fails.
    pub fn flush_local(&self) -> Result<usize, OutboxError> {
        let Some(fb) = &self.fallback else {
            return Ok(0);
        };
        let removals: Vec<String> = lock(&fb.removals).iter().cloned().collect();
        for id in removals {
            self.remove_redis(&id).map_err(Failure::into_error)?;
            lock(&fb.removals).remove(&id);
        }
        if lock(&fb.ids).is_empty() {
            return Ok(0);
        }
        let mut moved = 0;
        for record in fb.local.load_pending()? {
            self.write_redis(&record, "update")
                .map_err(Failure::into_error)?;
            fb.local.remove(&record.message_id)?;
            lock(&fb.ids).remove(&record.message_id);
            moved += 1;
        }
        if moved > 0 {
            tracing::info!(worker = %self.worker, moved, "webhook outbox: moved records from the local outbox into Redis");
        }
        self.redis_ok(None)?;
        Ok(moved)
    }

    /// Records in the local fallback not yet moved into Redis.
    #[must_use]
    pub fn local_len(&self) -> usize {
        self.fallback.as_ref().map_or(0, |fb| lock(&fb.ids).len())
    }

    fn claim(&self, only_orphans: bool) -> Result<Vec<PendingDelivery>, Failure> {
        let script = redis::Script::new(CLAIM_LUA);
        let raw: Vec<String> = self.try_conn(|c| {
            script
                .key(&self.records_key)
                .key(&self.leases_key)
                .arg(&self.worker)
                .arg(self.lease_ms())
                .arg(if only_orphans { "1" } else { "0" })
                .invoke(c)
        })?;
        let mut out = Vec::with_capacity(raw.len());
        for text in raw {
            match serde_json::from_str::<PendingDelivery>(&text) {
                Ok(r) => out.push(r),
                Err(e) => {
                    tracing::warn!(error = %e, "webhook outbox: skipping an unreadable record in Redis")
                }
            }
        }
        Ok(out)
    }

    /// Claims the records of dead workers (lease expired) for this worker.
    pub fn claim_orphans(&self) -> Result<Vec<PendingDelivery>, OutboxError> {
        self.claim(true).map_err(Failure::into_error)
    }

    /// Extends every lease this worker holds by the lease length; returns
    /// how many. Call it more often than the lease length.
    pub fn renew_leases(&self) -> Result<u64, OutboxError> {
        let script = redis::Script::new(RENEW_LUA);
        self.with_conn(|c| {
            script
                .key(&self.leases_key)
                .arg(&self.worker)
                .arg(self.lease_ms())
                .invoke(c)
        })
    }

    /// How many records are stored (every worker's).
    pub fn len(&self) -> Result<u64, OutboxError> {
        self.with_conn(|c| redis::cmd("HLEN").arg(&self.records_key).query(c))
    }

    /// `true` when no record is stored.
    pub fn is_empty(&self) -> Result<bool, OutboxError> {
        self.len().map(|n| n == 0)
    }
}

impl Outbox for RedisOutbox {
    fn put(&self, record: &PendingDelivery) -> Result<(), OutboxError> {
        self.write(record, "put")
    }

    fn update(&self, record: &PendingDelivery) -> Result<(), OutboxError> {
        self.write(record, "update")
    }

    fn remove(&self, message_id: &str) -> Result<(), OutboxError> {
        match self.remove_redis(message_id) {
            Ok(()) => self.redis_ok(Some(message_id)),
            Err(Failure::Down(e)) => match self.fall_back(&e) {
                Some(fb) => {
                    if lock(&fb.ids).remove(message_id) {
                        fb.local.remove(message_id)?;
                    }
                    lock(&fb.removals).insert(message_id.to_owned());
                    Ok(())
                }
                None => Err(e),
            },
            Err(Failure::Other(e)) => Err(e),
        }
    }

    /// This worker's records and every orphan in Redis, plus (with a local
    /// fallback) the local records, which win over Redis's copy of the same
    /// id. With a fallback and Redis unreachable: the local records only.
    fn load_pending(&self) -> Result<Vec<PendingDelivery>, OutboxError> {
        let from_redis = match self.claim(false) {
            Ok(v) => {
                self.redis_ok(None)?;
                v
            }
            Err(Failure::Down(e)) => match self.fall_back(&e) {
                Some(_) => Vec::new(),
                None => return Err(e),
            },
            Err(Failure::Other(e)) => return Err(e),
        };
        let Some(fb) = &self.fallback else {
            return Ok(from_redis);
        };
        let mut all: HashMap<String, PendingDelivery> = from_redis
            .into_iter()
            .map(|r| (r.message_id.clone(), r))
            .collect();
        for r in fb.local.load_pending()? {
            all.insert(r.message_id.clone(), r);
        }
        Ok(all.into_values().collect())
    }
}

/// Keeps `outbox`'s leases alive, moves records of its local fallback into
/// Redis ([`RedisOutbox::flush_local`]) and hands deliveries of dead workers
/// to `sender`, every `every` (choose well under the lease length). Runs
/// until aborted; errors are logged and retried on the next tick.
pub fn spawn_reclaimer(
    outbox: Arc<RedisOutbox>,
    sender: WebhookSender,
    every: Duration,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every.max(Duration::from_millis(1)));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let o = Arc::clone(&outbox);
            let claimed = tokio::task::spawn_blocking(move || {
                o.renew_leases()?;
                o.flush_local()?;
                o.claim_orphans()
            })
            .await;
            match claimed {
                Ok(Ok(records)) => {
                    for r in records {
                        tracing::info!(id = %r.message_id, "webhook outbox: adopting a delivery from a dead worker");
                        if let Err(e) = sender.adopt(r) {
                            tracing::warn!(error = %e, "webhook outbox: could not adopt a delivery");
                        }
                    }
                }
                Ok(Err(e)) => tracing::warn!(error = %e, "webhook outbox: lease renewal failed"),
                Err(e) => tracing::warn!(error = %e, "webhook outbox: reclaimer task failed"),
            }
        }
    })
}
