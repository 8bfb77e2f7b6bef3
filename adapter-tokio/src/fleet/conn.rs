//! Connecting to Redis with bounded waits, and the shared error type.

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// What a fleet component does when Redis cannot be reached in time
/// (decided in the core: [`novitai_core::fleet`]).
pub use novitai_core::fleet::FailMode;

/// Options for connecting a fleet component to Redis.
///
/// # Default
///
/// Key prefix `novitai`, [`FailMode::Closed`], command timeout 500 ms,
/// connect timeout 500 ms, reconnect backoff from 50 ms doubling to at most
/// 2 s.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FleetOptions {
    /// Prefix of every Redis key written (`<prefix>:gcra:<key>`, ...).
    pub prefix: String,
    /// What to do when Redis is unreachable.
    pub fail_mode: FailMode,
    /// The longest a single decision waits for Redis, including any
    /// reconnect in progress.
    pub command_timeout: Duration,
    /// The longest one connection attempt may take.
    pub connect_timeout: Duration,
    /// First delay before reconnecting after a failure.
    pub reconnect_min_delay: Duration,
    /// Largest delay between reconnect attempts.
    pub reconnect_max_delay: Duration,
}

impl Default for FleetOptions {
    fn default() -> FleetOptions {
        FleetOptions {
            prefix: "novitai".to_owned(),
            fail_mode: FailMode::Closed,
            command_timeout: Duration::from_millis(500),
            connect_timeout: Duration::from_millis(500),
            reconnect_min_delay: Duration::from_millis(50),
            reconnect_max_delay: Duration::from_secs(2),
        }
    }
}

/// Why a fleet call could not be answered by Redis.
#[derive(Debug)]
#[non_exhaustive]
pub enum FleetError {
    /// The Redis URL is malformed.
    Url(String),
    /// Redis did not answer within the command timeout, or the connection
    /// failed; with [`FailMode::Closed`] this means "deny".
    Unavailable(String),
    /// Redis answered something the script cannot have returned.
    Protocol(String),
    /// The limiter's configuration does not fit the Redis script's number
    /// range, or is invalid.
    Config(String),
    /// More cells were asked for at once than the burst can ever admit.
    InsufficientCapacity {
        /// Cells asked for.
        requested: u64,
        /// The burst.
        capacity: u64,
    },
}

impl fmt::Display for FleetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FleetError::Url(e) => write!(f, "the Redis URL is not valid: {e}"),
            FleetError::Unavailable(e) => write!(
                f,
                "Redis is unreachable ({e}); the request is denied (fail closed)"
            ),
            FleetError::Protocol(e) => write!(f, "Redis returned an unexpected answer: {e}"),
            FleetError::Config(e) => write!(f, "the fleet limiter configuration is invalid: {e}"),
            FleetError::InsufficientCapacity {
                requested,
                capacity,
            } => write!(
                f,
                "{requested} cells were requested at once but the burst is {capacity}; ask for at most {capacity}"
            ),
        }
    }
}

impl std::error::Error for FleetError {}

/// A lazily connected, self-reconnecting Redis connection with a hard bound
/// on every command, and a flag to log loss and recovery once each.
#[derive(Clone)]
pub(crate) struct Conn {
    manager: ConnectionManager,
    timeout: Duration,
}

impl fmt::Debug for Conn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Conn")
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl Conn {
    /// Must be called inside a tokio runtime. Does not connect yet.
    pub(crate) fn new(url: &str, opts: &FleetOptions) -> Result<Conn, FleetError> {
        let client = redis::Client::open(url).map_err(|e| FleetError::Url(e.to_string()))?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(opts.connect_timeout))
            .set_response_timeout(Some(opts.command_timeout))
            .set_min_delay(opts.reconnect_min_delay)
            .set_max_delay(opts.reconnect_max_delay)
            .set_exponent_base(2.0)
            .set_number_of_retries(3);
        let manager = ConnectionManager::new_lazy_with_config(client, config)
            .map_err(|e| FleetError::Unavailable(e.to_string()))?;
        Ok(Conn {
            manager,
            timeout: opts.command_timeout,
        })
    }

    pub(crate) fn manager(&self) -> ConnectionManager {
        self.manager.clone()
    }

    /// Runs `fut` with the command timeout; any failure is `Unavailable`.
    pub(crate) async fn bounded<T>(
        &self,
        fut: impl Future<Output = redis::RedisResult<T>>,
    ) -> Result<T, FleetError> {
        match tokio::time::timeout(self.timeout, fut).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e))
                if e.kind() == redis::ErrorKind::Server(redis::ServerErrorKind::ResponseError) =>
            {
                Err(FleetError::Protocol(e.to_string()))
            }
            Ok(Err(e)) => Err(FleetError::Unavailable(e.to_string())),
            Err(_) => Err(FleetError::Unavailable(format!(
                "no answer within {} ms",
                self.timeout.as_millis()
            ))),
        }
    }
}

/// Logs the transition to and from "Redis unreachable" once each.
#[derive(Debug, Default)]
pub(crate) struct Health {
    down: AtomicBool,
}

impl Health {
    pub(crate) fn failed(&self, what: &str, mode: FailMode, e: &FleetError) {
        if !self.down.swap(true, Ordering::Relaxed) {
            tracing::warn!(component = what, fail_mode = ?mode, error = %e, "fleet: Redis unreachable; applying the fail mode until it is back");
        }
    }

    pub(crate) fn ok(&self, what: &str) {
        if self.down.swap(false, Ordering::Relaxed) {
            tracing::info!(component = what, "fleet: Redis reachable again");
        }
    }
}
