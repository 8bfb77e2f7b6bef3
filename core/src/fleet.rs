//! Decisions for workers that share state through a store (Redis in the
//! tokio adapter's `fleet` module): what a store that cannot be reached
//! means, and how a published breaker trip is read.
//!
//! The adapter only talks to the store; what its answers (or its silence)
//! mean for the limiter and the breaker is decided here.

use crate::time::Duration;

/// What a fleet component does when its store cannot be reached in time.
///
/// # Default
///
/// [`FailMode::Closed`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum FailMode {
    /// Deny: a rate decision is "not allowed", and the fleet's breaker is
    /// taken as open (see [`shared_trip_hold`]). Safe for a hard upstream
    /// quota.
    #[default]
    Closed,
    /// Decide with the local machine instead (a per-process limiter, the
    /// local breaker alone). The fleet as a whole may then exceed the shared
    /// quota, by up to one local quota per worker, until the store is back.
    FallbackLocal,
}

/// How long a worker holds its breaker open for the fleet's published trip,
/// counted from when the store's answer arrived; `None`: no trip to hold.
///
/// `read` is the trip's remaining time in whole milliseconds as the store
/// answered it (Redis's `PTTL`: 0 or negative when there is no trip), or
/// `None` when the store could not be reached. An answer is rounded up by
/// 1 ms, so a worker's adopted trip never ends before the published one
/// (it cannot go half-open and then adopt the last sliver of the same trip).
/// An unreachable store holds for [`unreachable_hold`] under
/// [`FailMode::Closed`], and gives no trip under [`FailMode::FallbackLocal`].
#[must_use]
pub fn shared_trip_hold(
    read: Option<i64>,
    mode: FailMode,
    poll_every: Duration,
    command_timeout: Duration,
) -> Option<Duration> {
    match read {
        Some(ms) => u64::try_from(ms)
            .ok()
            .filter(|&m| m > 0)
            .map(|m| Duration::from_millis(m.saturating_add(1))),
        None => match mode {
            FailMode::Closed => Some(unreachable_hold(poll_every, command_timeout)),
            FailMode::FallbackLocal => None,
        },
    }
}

/// The hold of an unreachable store under [`FailMode::Closed`]: the next
/// answer comes at most `poll_every` + one command timeout after this one,
/// and twice the timeout leaves a margin, so the hold does not lapse
/// (half-open) between two failed polls. At least 1 ms.
#[must_use]
pub fn unreachable_hold(poll_every: Duration, command_timeout: Duration) -> Duration {
    poll_every
        .saturating_add(command_timeout.saturating_mul(2))
        .max(Duration::from_millis(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLL: Duration = Duration::from_millis(200);
    const TIMEOUT: Duration = Duration::from_millis(500);

    #[test]
    fn a_published_trip_is_held_one_ms_longer_than_the_store_says() {
        for mode in [FailMode::Closed, FailMode::FallbackLocal] {
            assert_eq!(
                shared_trip_hold(Some(1_500), mode, POLL, TIMEOUT),
                Some(Duration::from_millis(1_501))
            );
            // PTTL: -2 no key, -1 no expiry (never written so), 0 expiring.
            for none in [-2, -1, 0] {
                assert_eq!(shared_trip_hold(Some(none), mode, POLL, TIMEOUT), None);
            }
        }
    }

    #[test]
    fn an_unreachable_store_is_a_trip_only_when_failing_closed() {
        assert_eq!(
            shared_trip_hold(None, FailMode::Closed, POLL, TIMEOUT),
            Some(Duration::from_millis(1_200)),
            "poll interval + twice the command timeout"
        );
        assert_eq!(
            shared_trip_hold(None, FailMode::FallbackLocal, POLL, TIMEOUT),
            None
        );
        assert_eq!(
            unreachable_hold(Duration::ZERO, Duration::ZERO),
            Duration::from_millis(1)
        );
        assert_eq!(unreachable_hold(Duration::MAX, TIMEOUT), Duration::MAX);
    }
}
