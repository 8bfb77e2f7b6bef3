//! The webhook outbox in Redis, leased per worker.

use crate::webhook::{Outbox, OutboxError, WebhookSender};
use novitai_core::webhook::PendingDelivery;
use std::io;
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
/// # Default
///
/// No `Default`: it needs a URL. Lease 30 s, timeouts 1 s.
#[derive(Debug)]
pub struct RedisOutbox {
    client: redis::Client,
    worker: String,
    records_key: String,
    leases_key: String,
    lease: Duration,
    timeout: Duration,
    conn: Mutex<ConnState>,
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
        })
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
        let mut st = self.state();
        if st.conn.is_none() {
            if let Some(at) = st.next_try {
                let now = Instant::now();
                if now < at {
                    return Err(OutboxError::Io(io::Error::other(format!(
                        "Redis unreachable; next reconnect attempt in {} ms",
                        at.saturating_duration_since(now).as_millis()
                    ))));
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
                    return Err(OutboxError::Io(io::Error::other(e)));
                }
            }
        }
        let Some(conn) = st.conn.as_mut() else {
            return Err(OutboxError::Io(io::Error::other("no Redis connection")));
        };
        match f(conn) {
            Ok(v) => Ok(v),
            Err(e) => {
                if !matches!(e.kind(), redis::ErrorKind::Server(_)) {
                    st.conn = None;
                    self.backoff(&mut st, &e);
                }
                Err(OutboxError::Io(io::Error::other(e)))
            }
        }
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
        let json = serde_json::to_string(record).map_err(OutboxError::Encode)?;
        let script = redis::Script::new(PUT_LUA);
        self.with_conn(|c| {
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

    fn claim(&self, only_orphans: bool) -> Result<Vec<PendingDelivery>, OutboxError> {
        let script = redis::Script::new(CLAIM_LUA);
        let raw: Vec<String> = self.with_conn(|c| {
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
        self.claim(true)
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
        self.with_conn(|c| {
            redis::pipe()
                .atomic()
                .hdel(&self.records_key, message_id)
                .ignore()
                .hdel(&self.leases_key, message_id)
                .ignore()
                .query::<()>(c)
        })
    }

    fn load_pending(&self) -> Result<Vec<PendingDelivery>, OutboxError> {
        self.claim(false)
    }
}

/// Keeps `outbox`'s leases alive and hands deliveries of dead workers to
/// `sender`, every `every` (choose well under the lease length). Runs until
/// aborted; errors are logged and retried on the next tick.
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
