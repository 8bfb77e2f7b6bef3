//! Delivering one webhook message: when to send, when to retry, when to stop.
//!
//! A [`Delivery`] is a pure machine per message. Its state is a
//! [`PendingDelivery`] record (message id, payload bytes, receiver URL,
//! attempts made, next attempt time as wall-clock [`UnixTime`], schedule),
//! which is serde-serialisable: an adapter writes it to a durable outbox after
//! every change and, after a restart, rebuilds the machine with
//! [`Delivery::from_record`] — nothing is lost. A send whose result was never
//! recorded (the process died mid-flight) is simply sent again; receivers drop
//! the duplicate by its `webhook-id`, which never changes across attempts.
//!
//! The driving loop:
//! 1. [`Delivery::poll`] with `now` and the [`Signer`]: it answers
//!    [`DeliveryAction::Send`] (a POST signed with a fresh timestamp — send it
//!    now), [`DeliveryAction::WakeAt`] (call `poll` again then), or a final
//!    outcome.
//! 2. After a `Send`, report what happened with [`Delivery::handle_result`]
//!    (status code and the already-parsed `Retry-After`, or a transport
//!    error) and `now`; it answers the next step the same way.
//!
//! Responses: 2xx is delivered. 3xx fails at once (redirects are not followed:
//! a redirect could point the signed payload anywhere). 410 Gone is its own
//! outcome, [`DeliveryAction::EndpointGone`], so the sender can disable the
//! endpoint. Other 4xx fail at once, except 408 and 429, which retry like 5xx
//! and transport errors. A `Retry-After` is honoured (never retry sooner) and
//! clamped to the schedule's `max_retry_after`.

use super::sign::{SignError, Signer, validate_message_id};
use super::url_guard::{UrlError, UrlPolicy, check_url};
use crate::http::{HttpRequest, Method};
use crate::rng::Rng;
use crate::time::{Duration, UnixTime};
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;
use serde::{Deserialize, Serialize};

/// The most attempts a schedule may have.
pub const MAX_ATTEMPTS: usize = 32;
/// The longest single wait a schedule may have (7 days).
pub const MAX_DELAY: Duration = Duration::from_secs(7 * 24 * 3600);

/// Random spread applied to each wait of a schedule.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Jitter {
    /// Exact waits.
    None,
    /// Each wait is scaled by a uniform factor in `1 ± percent/100`
    /// (0–100).
    Proportional {
        /// The spread, in percent.
        percent: u8,
    },
    /// Each wait gets a uniform extra of `0..=max` (the Node client's
    /// "+ random() × 1 s" style), then is capped at the schedule's
    /// `max_delay`.
    Additive {
        /// The largest extra (at most 1 hour).
        max: Duration,
        /// The cap applied after adding.
        max_delay: Duration,
    },
}

/// A schedule out of range.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScheduleError {
    /// `max_attempts` outside 1 ..= [`MAX_ATTEMPTS`].
    Attempts(usize),
    /// A wait longer than [`MAX_DELAY`].
    Delay(Duration),
    /// A proportional jitter above 100 %.
    JitterPercent(u8),
    /// An additive jitter above 1 hour.
    JitterMax(Duration),
    /// `max_retry_after` longer than [`MAX_DELAY`].
    MaxRetryAfter(Duration),
}

impl fmt::Display for ScheduleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            ScheduleError::Attempts(n) => write!(
                f,
                "a webhook schedule has {n} attempts; it must have between 1 and {MAX_ATTEMPTS}"
            ),
            ScheduleError::Delay(d) => write!(
                f,
                "a webhook schedule waits {d} between attempts; each wait must be at most {MAX_DELAY}"
            ),
            ScheduleError::JitterPercent(p) => write!(
                f,
                "webhook schedule jitter is {p}%; it must be between 0 and 100"
            ),
            ScheduleError::JitterMax(d) => write!(
                f,
                "webhook schedule additive jitter is up to {d}; it must be at most 1h"
            ),
            ScheduleError::MaxRetryAfter(d) => write!(
                f,
                "webhook schedule `max_retry_after` is {d}; it must be at most {MAX_DELAY}"
            ),
        }
    }
}

/// When to retry: the waits between attempts, their jitter, and how long a
/// server's `Retry-After` may push a retry out.
///
/// # Default
/// [`Schedule::node_default`]: 3 attempts, waits of 1 s then 2 s (doubling
/// from 1 s: 1 s, 2 s, 4 s, … — with 3 attempts only the first two waits
/// occur), no jitter, `Retry-After` clamped to 60 s.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "ScheduleFields")]
pub struct Schedule {
    delays: Vec<Duration>,
    jitter: Jitter,
    max_retry_after: Duration,
}

/// The serialised form of a [`Schedule`], validated by [`Schedule::new`] on
/// the way in, so a stored record cannot smuggle in an out-of-range schedule.
#[derive(Deserialize)]
struct ScheduleFields {
    delays: Vec<Duration>,
    jitter: Jitter,
    max_retry_after: Duration,
}

impl TryFrom<ScheduleFields> for Schedule {
    type Error = ScheduleError;
    fn try_from(f: ScheduleFields) -> Result<Schedule, ScheduleError> {
        Schedule::new(f.delays, f.jitter, f.max_retry_after)
    }
}

impl Schedule {
    /// A schedule from explicit waits: `delays[i]` is the wait after attempt
    /// `i + 1` fails, so there are `delays.len() + 1` attempts, the first
    /// immediate.
    pub fn new(
        delays: Vec<Duration>,
        jitter: Jitter,
        max_retry_after: Duration,
    ) -> Result<Schedule, ScheduleError> {
        let attempts = delays.len().saturating_add(1);
        if attempts > MAX_ATTEMPTS {
            return Err(ScheduleError::Attempts(attempts));
        }
        if let Some(&d) = delays.iter().find(|&&d| d > MAX_DELAY) {
            return Err(ScheduleError::Delay(d));
        }
        match jitter {
            Jitter::Proportional { percent } if percent > 100 => {
                return Err(ScheduleError::JitterPercent(percent));
            }
            Jitter::Additive { max, .. } if max > Duration::from_secs(3600) => {
                return Err(ScheduleError::JitterMax(max));
            }
            Jitter::Additive { max_delay, .. } if max_delay > MAX_DELAY => {
                return Err(ScheduleError::Delay(max_delay));
            }
            _ => {}
        }
        if max_retry_after > MAX_DELAY {
            return Err(ScheduleError::MaxRetryAfter(max_retry_after));
        }
        Ok(Schedule {
            delays,
            jitter,
            max_retry_after,
        })
    }

    /// Exponential waits: `base`, `2·base`, `4·base`, … capped at `max_delay`,
    /// for `max_attempts` attempts in all (1 ..= [`MAX_ATTEMPTS`]).
    pub fn exponential(
        max_attempts: usize,
        base: Duration,
        max_delay: Duration,
        jitter: Jitter,
        max_retry_after: Duration,
    ) -> Result<Schedule, ScheduleError> {
        if max_attempts == 0 || max_attempts > MAX_ATTEMPTS {
            return Err(ScheduleError::Attempts(max_attempts));
        }
        let mut delays = Vec::with_capacity(max_attempts - 1);
        let mut d = base;
        for _ in 1..max_attempts {
            delays.push(d.min(max_delay));
            d = d.saturating_mul(2);
        }
        Schedule::new(delays, jitter, max_retry_after)
    }

    /// The Node client's default: 3 attempts, doubling from 1 s (waits 1 s,
    /// 2 s), no jitter; `Retry-After` clamped to 60 s.
    #[must_use]
    pub fn node_default() -> Schedule {
        Schedule {
            delays: alloc::vec![Duration::from_secs(1), Duration::from_secs(2)],
            jitter: Jitter::None,
            max_retry_after: Duration::from_secs(60),
        }
    }

    /// The Node client's schedule for start-up notifications: 5 attempts,
    /// doubling from 1 s (1, 2, 4, 8 s) plus up to 1 s of jitter, each wait
    /// capped at 30 s; `Retry-After` clamped to 60 s.
    #[must_use]
    pub fn node_startup() -> Schedule {
        Schedule {
            delays: alloc::vec![
                Duration::from_secs(1),
                Duration::from_secs(2),
                Duration::from_secs(4),
                Duration::from_secs(8),
            ],
            jitter: Jitter::Additive {
                max: Duration::from_secs(1),
                max_delay: Duration::from_secs(30),
            },
            max_retry_after: Duration::from_secs(60),
        }
    }

    /// A long schedule like Svix's, for receivers that may be down for hours:
    /// immediately, then after 5 s, 5 min, 30 min, 2 h, 5 h, 10 h and 10 h
    /// (8 attempts over about 27.5 h), each wait ±20 %; `Retry-After` clamped
    /// to 10 h.
    #[must_use]
    pub fn long() -> Schedule {
        let h = |n: u64| Duration::from_secs(n * 3600);
        Schedule {
            delays: alloc::vec![
                Duration::from_secs(5),
                Duration::from_mins(5),
                Duration::from_mins(30),
                h(2),
                h(5),
                h(10),
                h(10),
            ],
            jitter: Jitter::Proportional { percent: 20 },
            max_retry_after: h(10),
        }
    }

    /// Total attempts, the first included.
    #[must_use]
    pub fn max_attempts(&self) -> u32 {
        u32::try_from(self.delays.len().saturating_add(1)).unwrap_or(u32::MAX)
    }

    /// The waits without jitter.
    #[must_use]
    pub fn delays(&self) -> &[Duration] {
        &self.delays
    }

    /// The jitter.
    #[must_use]
    pub fn jitter(&self) -> Jitter {
        self.jitter
    }

    /// The longest a `Retry-After` may delay a retry.
    #[must_use]
    pub fn max_retry_after(&self) -> Duration {
        self.max_retry_after
    }

    /// The smallest and largest wait after attempt `attempt` (1-based) fails,
    /// or `None` if no attempt follows it. Jitter stays within these bounds.
    #[must_use]
    pub fn wait_bounds(&self, attempt: u32) -> Option<(Duration, Duration)> {
        let i = usize::try_from(attempt).ok()?.checked_sub(1)?;
        let d = *self.delays.get(i)?;
        Some(match self.jitter {
            Jitter::None => (d, d),
            Jitter::Proportional { percent } => {
                let spread = d.as_millis() / 100 * u64::from(percent)
                    + d.as_millis() % 100 * u64::from(percent) / 100;
                (
                    Duration::from_millis(d.as_millis().saturating_sub(spread)),
                    Duration::from_millis(d.as_millis().saturating_add(spread)),
                )
            }
            Jitter::Additive { max, max_delay } => (
                d.min(max_delay),
                d.saturating_add(max).min(max_delay.max(d)),
            ),
        })
    }

    /// The wait after attempt `attempt` fails, jitter drawn from `rng`.
    fn wait_after(&self, attempt: u32, rng: &mut Rng) -> Option<Duration> {
        let (lo, hi) = self.wait_bounds(attempt)?;
        Some(Duration::from_millis(
            rng.range_inclusive(lo.as_millis(), hi.as_millis()),
        ))
    }
}

impl Default for Schedule {
    fn default() -> Schedule {
        Schedule::node_default()
    }
}

/// What happened to one attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum AttemptResult {
    /// The receiver answered with `status`; `retry_after` is its
    /// `Retry-After`, already parsed (see the retry module's parser).
    Response {
        /// The status code.
        status: u16,
        /// The parsed `Retry-After`, if any.
        retry_after: Option<Duration>,
    },
    /// No answer: connection refused, reset, TLS failure, timeout.
    Transport,
}

/// Why a delivery failed for good.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum FailReason {
    /// The receiver answered with a redirect, which is not followed.
    Redirect(u16),
    /// The receiver refused the message (4xx other than 408, 410, 429).
    Rejected(u16),
    /// Every attempt of the schedule was used; the last one ended like this.
    Exhausted(AttemptResult),
    /// The message could not be signed. Cannot happen for a delivery built
    /// by [`Delivery::from_record`], which checks the id first.
    Unsignable,
}

impl fmt::Display for FailReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            FailReason::Redirect(s) => write!(
                f,
                "the receiver redirected ({s}); redirects are not followed"
            ),
            FailReason::Rejected(s) => write!(f, "the receiver rejected the webhook with {s}"),
            FailReason::Exhausted(AttemptResult::Transport) => {
                f.write_str("every attempt failed; the last could not reach the receiver")
            }
            FailReason::Exhausted(AttemptResult::Response { status, .. }) => {
                write!(f, "every attempt failed; the last got {status}")
            }
            FailReason::Unsignable => f.write_str("the webhook message id cannot be signed"),
        }
    }
}

/// One attempt to send: the signed request and which attempt it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedAttempt {
    /// 1 for the first attempt.
    pub attempt: u32,
    /// `POST` to the receiver URL with the payload, `content-type:
    /// application/json` and the signature headers (fresh timestamp).
    pub request: HttpRequest,
}

/// The delivery machine's answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DeliveryAction {
    /// Send this request now, then call [`Delivery::handle_result`].
    Send(SignedAttempt),
    /// Nothing to do before this time; call [`Delivery::poll`] then.
    WakeAt(UnixTime),
    /// An attempt is in flight; report its result first.
    AwaitingResult,
    /// The receiver accepted the message (2xx).
    Delivered {
        /// Attempts used.
        attempts: u32,
    },
    /// The receiver answered 410 Gone: stop sending to this endpoint.
    EndpointGone {
        /// Attempts used.
        attempts: u32,
    },
    /// The message could not be delivered.
    Failed {
        /// Attempts used.
        attempts: u32,
        /// Why.
        reason: FailReason,
    },
}

/// The durable state of one delivery: everything needed to resume after a
/// restart. Store it after every [`Delivery`] call that changes it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingDelivery {
    /// The `webhook-id`, the same on every attempt.
    pub message_id: String,
    /// The exact body bytes to sign and send.
    pub payload: Vec<u8>,
    /// The receiver URL.
    pub url: String,
    /// Attempts whose result is known.
    pub attempt: u32,
    /// When the next attempt is due (wall clock).
    pub next_attempt_at: UnixTime,
    /// The retry schedule.
    pub schedule: Schedule,
    /// How the last attempt ended, if any attempt has.
    #[serde(default)]
    pub last_result: Option<AttemptResult>,
}

impl PendingDelivery {
    /// A new message, first attempt due at `now`.
    #[must_use]
    pub fn new(
        message_id: impl Into<String>,
        payload: Vec<u8>,
        url: impl Into<String>,
        schedule: Schedule,
        now: UnixTime,
    ) -> PendingDelivery {
        PendingDelivery {
            message_id: message_id.into(),
            payload,
            url: url.into(),
            attempt: 0,
            next_attempt_at: now,
            schedule,
            last_result: None,
        }
    }
}

/// Why a delivery could not be set up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeliveryError {
    /// The message id cannot be signed.
    MessageId(SignError),
    /// The receiver URL is refused by the URL policy.
    Url(UrlError),
}

impl fmt::Display for DeliveryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeliveryError::MessageId(e) => e.fmt(f),
            DeliveryError::Url(e) => e.fmt(f),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Waiting,
    InFlight,
    Done(Outcome),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Outcome {
    Delivered,
    Gone,
    Failed(FailReason),
}

/// The delivery machine for one message.
#[derive(Clone, Debug)]
pub struct Delivery {
    record: PendingDelivery,
    phase: Phase,
}

impl Delivery {
    /// Starts (or, after a restart, resumes) a delivery from its record,
    /// checking the message id and the URL against `policy`. A record whose
    /// attempts are already used up resumes as failed.
    pub fn from_record(
        record: PendingDelivery,
        policy: &UrlPolicy,
    ) -> Result<Delivery, DeliveryError> {
        validate_message_id(&record.message_id).map_err(DeliveryError::MessageId)?;
        check_url(&record.url, policy).map_err(DeliveryError::Url)?;
        let phase = if record.attempt >= record.schedule.max_attempts() {
            Phase::Done(Outcome::Failed(FailReason::Exhausted(
                record.last_result.unwrap_or(AttemptResult::Transport),
            )))
        } else {
            Phase::Waiting
        };
        Ok(Delivery { record, phase })
    }

    /// The durable record (persist it after every change).
    #[must_use]
    pub fn record(&self) -> &PendingDelivery {
        &self.record
    }

    /// `true` once delivered, gone or failed.
    #[must_use]
    pub fn is_finished(&self) -> bool {
        matches!(self.phase, Phase::Done(_))
    }

    /// What to do now. A due attempt is signed with `signer` and timestamp
    /// `now`, and the machine then waits for its result.
    #[must_use]
    pub fn poll(&mut self, now: UnixTime, signer: &Signer) -> DeliveryAction {
        match self.phase {
            Phase::Waiting if now >= self.record.next_attempt_at => {
                let mut request = HttpRequest::new(Method::Post, self.record.url.clone());
                request.headers.set("content-type", "application/json");
                let signed = signer.apply(
                    &self.record.message_id,
                    now,
                    &self.record.payload,
                    &mut request.headers,
                );
                if signed.is_err() {
                    // Not reachable: `from_record` validated the id.
                    return self.finish(Outcome::Failed(FailReason::Unsignable));
                }
                request.body = Some(self.record.payload.clone());
                self.phase = Phase::InFlight;
                DeliveryAction::Send(SignedAttempt {
                    attempt: self.record.attempt.saturating_add(1),
                    request,
                })
            }
            _ => self.status(),
        }
    }

    /// Reports how the attempt in flight ended. Ignored when no attempt is
    /// in flight. Returns the next step (never [`DeliveryAction::Send`]).
    pub fn handle_result(
        &mut self,
        result: AttemptResult,
        now: UnixTime,
        rng: &mut Rng,
    ) -> DeliveryAction {
        if self.phase != Phase::InFlight {
            return self.status();
        }
        self.record.attempt = self.record.attempt.saturating_add(1);
        self.record.last_result = Some(result);
        let retry_after = match result {
            AttemptResult::Response {
                status,
                retry_after,
            } => match status {
                200..=299 => return self.finish(Outcome::Delivered),
                300..=399 => return self.finish(Outcome::Failed(FailReason::Redirect(status))),
                410 => return self.finish(Outcome::Gone),
                408 | 429 => retry_after,
                400..=499 => return self.finish(Outcome::Failed(FailReason::Rejected(status))),
                _ => retry_after,
            },
            AttemptResult::Transport => None,
        };
        let Some(wait) = self.record.schedule.wait_after(self.record.attempt, rng) else {
            return self.finish(Outcome::Failed(FailReason::Exhausted(result)));
        };
        let wait = match retry_after {
            Some(ra) => wait.max(ra.min(self.record.schedule.max_retry_after)),
            None => wait,
        };
        // Whole seconds, rounded up: never earlier than the schedule says.
        let secs = wait.as_millis().div_ceil(1000);
        self.record.next_attempt_at = UnixTime::from_secs(now.as_secs().saturating_add(secs));
        self.phase = Phase::Waiting;
        DeliveryAction::WakeAt(self.record.next_attempt_at)
    }

    fn finish(&mut self, outcome: Outcome) -> DeliveryAction {
        self.phase = Phase::Done(outcome);
        self.status()
    }

    fn status(&self) -> DeliveryAction {
        let attempts = self.record.attempt;
        match self.phase {
            Phase::Waiting => DeliveryAction::WakeAt(self.record.next_attempt_at),
            Phase::InFlight => DeliveryAction::AwaitingResult,
            Phase::Done(Outcome::Delivered) => DeliveryAction::Delivered { attempts },
            Phase::Done(Outcome::Gone) => DeliveryAction::EndpointGone { attempts },
            Phase::Done(Outcome::Failed(reason)) => DeliveryAction::Failed { attempts, reason },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::webhook::{Verifier, WebhookKey};

    const T0: UnixTime = UnixTime::from_secs(1_700_000_000);
    const URL: &str = "https://hooks.example.com/novita";

    fn key() -> WebhookKey {
        WebhookKey::from_whsec("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap()
    }

    fn delivery(schedule: Schedule) -> Delivery {
        let rec = PendingDelivery::new("msg_1", b"{\"a\":1}".to_vec(), URL, schedule, T0);
        Delivery::from_record(rec, &UrlPolicy::default()).unwrap()
    }

    fn status(s: u16) -> AttemptResult {
        AttemptResult::Response {
            status: s,
            retry_after: None,
        }
    }

    fn send(d: &mut Delivery, now: UnixTime, signer: &Signer) -> SignedAttempt {
        match d.poll(now, signer) {
            DeliveryAction::Send(a) => a,
            other => panic!("expected a send, got {other:?}"),
        }
    }

    #[test]
    fn two_503s_then_200_is_delivered_on_the_third_attempt_with_the_same_id() {
        let signer = Signer::new(key());
        let verifier = Verifier::new(key());
        let mut rng = Rng::new(1);
        let mut d = delivery(Schedule::node_default());
        let mut now = T0;
        let mut ids = Vec::new();
        for (n, code, wait) in [(1, 503, 1), (2, 503, 2)] {
            let a = send(&mut d, now, &signer);
            assert_eq!(a.attempt, n);
            let h = &a.request.headers;
            assert_eq!(
                h.get("webhook-timestamp"),
                Some(alloc::format!("{}", now.as_secs()).as_str())
            );
            assert!(
                verifier
                    .verify(h, a.request.body.as_deref().unwrap(), now)
                    .is_ok()
            );
            ids.push(String::from(h.get("webhook-id").unwrap()));
            assert_eq!(d.poll(now, &signer), DeliveryAction::AwaitingResult);
            let next = d.handle_result(status(code), now, &mut rng);
            assert_eq!(
                next,
                DeliveryAction::WakeAt(UnixTime::from_secs(now.as_secs() + wait))
            );
            // Too early: still waiting.
            assert_eq!(d.poll(now, &signer), next);
            now = UnixTime::from_secs(now.as_secs() + wait);
        }
        let a = send(&mut d, now, &signer);
        assert_eq!(a.attempt, 3);
        assert_eq!(a.request.headers.get("webhook-id"), Some(ids[0].as_str()));
        assert_eq!(ids[0], ids[1]);
        assert_eq!(
            d.handle_result(status(204), now, &mut rng),
            DeliveryAction::Delivered { attempts: 3 }
        );
        assert!(d.is_finished());
    }

    #[test]
    fn three_failures_exhaust_the_node_default_schedule() {
        let signer = Signer::new(key());
        let mut rng = Rng::new(2);
        let mut d = delivery(Schedule::node_default());
        let mut now = T0;
        for _ in 0..2 {
            let _ = send(&mut d, now, &signer);
            let DeliveryAction::WakeAt(t) =
                d.handle_result(AttemptResult::Transport, now, &mut rng)
            else {
                panic!("expected a wait")
            };
            now = t;
        }
        let _ = send(&mut d, now, &signer);
        assert_eq!(
            d.handle_result(status(500), now, &mut rng),
            DeliveryAction::Failed {
                attempts: 3,
                reason: FailReason::Exhausted(status(500))
            }
        );
        assert_eq!(
            d.poll(now, &signer),
            d.handle_result(status(200), now, &mut rng)
        );
    }

    #[test]
    fn redirects_and_client_errors_are_final_but_408_and_429_retry() {
        let signer = Signer::new(key());
        let mut rng = Rng::new(3);
        for (code, want) in [
            (301, Some(FailReason::Redirect(301))),
            (302, Some(FailReason::Redirect(302))),
            (400, Some(FailReason::Rejected(400))),
            (401, Some(FailReason::Rejected(401))),
            (404, Some(FailReason::Rejected(404))),
            (408, None),
            (429, None),
            (500, None),
            (502, None),
        ] {
            let mut d = delivery(Schedule::node_default());
            let _ = send(&mut d, T0, &signer);
            let got = d.handle_result(status(code), T0, &mut rng);
            match want {
                Some(reason) => assert_eq!(
                    got,
                    DeliveryAction::Failed {
                        attempts: 1,
                        reason
                    },
                    "{code}"
                ),
                None => assert!(matches!(got, DeliveryAction::WakeAt(_)), "{code}: {got:?}"),
            }
        }
        let mut d = delivery(Schedule::node_default());
        let _ = send(&mut d, T0, &signer);
        assert_eq!(
            d.handle_result(status(410), T0, &mut rng),
            DeliveryAction::EndpointGone { attempts: 1 }
        );
    }

    #[test]
    fn retry_after_is_honoured_and_clamped() {
        let signer = Signer::new(key());
        let mut rng = Rng::new(4);
        let mut d = delivery(Schedule::node_default());
        let _ = send(&mut d, T0, &signer);
        let r = AttemptResult::Response {
            status: 429,
            retry_after: Some(Duration::from_secs(30)),
        };
        assert_eq!(
            d.handle_result(r, T0, &mut rng),
            DeliveryAction::WakeAt(UnixTime::from_secs(T0.as_secs() + 30))
        );
        let now = UnixTime::from_secs(T0.as_secs() + 30);
        let _ = send(&mut d, now, &signer);
        let r = AttemptResult::Response {
            status: 503,
            retry_after: Some(Duration::from_secs(86_400)),
        };
        // Clamped to the schedule's 60 s.
        assert_eq!(
            d.handle_result(r, now, &mut rng),
            DeliveryAction::WakeAt(UnixTime::from_secs(now.as_secs() + 60))
        );
        // A Retry-After shorter than the schedule does not hurry the retry.
        let mut d = delivery(Schedule::node_default());
        let _ = send(&mut d, T0, &signer);
        let r = AttemptResult::Response {
            status: 503,
            retry_after: Some(Duration::ZERO),
        };
        assert_eq!(
            d.handle_result(r, T0, &mut rng),
            DeliveryAction::WakeAt(UnixTime::from_secs(T0.as_secs() + 1))
        );
    }

    #[test]
    fn a_restart_mid_flight_resends_the_same_attempt_from_the_stored_record() {
        let signer = Signer::new(key());
        let mut rng = Rng::new(5);
        let mut d = delivery(Schedule::long());
        let _ = send(&mut d, T0, &signer);
        let _ = d.handle_result(status(503), T0, &mut rng);
        let now = d.record().next_attempt_at;
        let _ = send(&mut d, now, &signer);
        // Crash before the result arrives: only the record survives.
        let stored = serde_json::to_string(d.record()).unwrap();
        drop(d);
        let rec: PendingDelivery = serde_json::from_str(&stored).unwrap();
        let mut d = Delivery::from_record(rec, &UrlPolicy::default()).unwrap();
        let later = UnixTime::from_secs(now.as_secs() + 3600);
        let a = send(&mut d, later, &signer);
        assert_eq!(a.attempt, 2);
        assert_eq!(a.request.headers.get("webhook-id"), Some("msg_1"));
        assert_eq!(
            d.handle_result(status(200), later, &mut rng),
            DeliveryAction::Delivered { attempts: 2 }
        );
    }

    #[test]
    fn long_schedule_waits_stay_within_twenty_percent() {
        let s = Schedule::long();
        assert_eq!(s.max_attempts(), 8);
        assert_eq!(
            s.wait_bounds(1),
            Some((Duration::from_secs(4), Duration::from_secs(6)))
        );
        assert_eq!(
            s.wait_bounds(7),
            Some((
                Duration::from_secs(8 * 3600),
                Duration::from_secs(12 * 3600)
            ))
        );
        assert_eq!(s.wait_bounds(8), None);
        assert_eq!(s.wait_bounds(0), None);
    }

    #[test]
    fn startup_schedule_has_five_attempts_and_jitter_under_the_cap() {
        let s = Schedule::node_startup();
        assert_eq!(s.max_attempts(), 5);
        assert_eq!(
            s.wait_bounds(1),
            Some((Duration::from_secs(1), Duration::from_secs(2)))
        );
        assert_eq!(
            s.wait_bounds(4),
            Some((Duration::from_secs(8), Duration::from_secs(9)))
        );
        let capped = Schedule::exponential(
            10,
            Duration::from_secs(1),
            Duration::from_secs(30),
            Jitter::Additive {
                max: Duration::from_secs(1),
                max_delay: Duration::from_secs(30),
            },
            Duration::from_secs(60),
        )
        .unwrap();
        assert_eq!(
            capped.wait_bounds(9),
            Some((Duration::from_secs(30), Duration::from_secs(30)))
        );
        let mut rng = Rng::new(9);
        for _ in 0..100 {
            let w = s.wait_after(2, &mut rng).unwrap();
            assert!(w >= Duration::from_secs(2) && w <= Duration::from_secs(3));
        }
    }

    #[test]
    fn bad_schedules_and_records_are_typed_errors() {
        assert_eq!(
            Schedule::exponential(
                0,
                Duration::from_secs(1),
                Duration::from_secs(1),
                Jitter::None,
                Duration::ZERO
            ),
            Err(ScheduleError::Attempts(0))
        );
        assert_eq!(
            Schedule::new(
                alloc::vec![Duration::from_secs(8 * 86_400)],
                Jitter::None,
                Duration::ZERO
            ),
            Err(ScheduleError::Delay(Duration::from_secs(8 * 86_400)))
        );
        assert_eq!(
            Schedule::new(
                alloc::vec![],
                Jitter::Proportional { percent: 101 },
                Duration::ZERO
            ),
            Err(ScheduleError::JitterPercent(101))
        );
        let rec = PendingDelivery::new("a.b", alloc::vec![], URL, Schedule::default(), T0);
        assert!(matches!(
            Delivery::from_record(rec, &UrlPolicy::default()),
            Err(DeliveryError::MessageId(_))
        ));
        let rec = PendingDelivery::new(
            "m",
            alloc::vec![],
            "http://169.254.169.254/latest",
            Schedule::default(),
            T0,
        );
        assert!(matches!(
            Delivery::from_record(rec, &UrlPolicy::default()),
            Err(DeliveryError::Url(_))
        ));
        assert!(alloc::format!("{}", ScheduleError::Attempts(0)).contains("between 1 and 32"));
    }

    #[test]
    fn stored_schedules_are_validated_when_read_back() {
        let ok = serde_json::to_string(&Schedule::long()).unwrap();
        assert_eq!(
            serde_json::from_str::<Schedule>(&ok).unwrap(),
            Schedule::long()
        );
        let bad = ok.replace("20", "200");
        assert!(serde_json::from_str::<Schedule>(&bad).is_err(), "{bad}");
    }

    #[test]
    fn a_result_with_nothing_in_flight_is_ignored() {
        let mut rng = Rng::new(6);
        let mut d = delivery(Schedule::default());
        assert_eq!(
            d.handle_result(status(200), T0, &mut rng),
            DeliveryAction::WakeAt(T0)
        );
        assert_eq!(d.record().attempt, 0);
    }
}
