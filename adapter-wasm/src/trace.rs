//! One line of text per engine event, the same on every target.
//!
//! The determinism check and the in-page simulator both print events with
//! these functions, so a trace computed natively and one computed in wasm can
//! be compared byte for byte. The format is compact and stable: it names every
//! decision (ids, attempts, statuses, instants in virtual milliseconds) and
//! summarises bodies by length and an FNV-1a hash instead of printing them.

use core::fmt::Write as _;

use novitai_core::engine::{Completed, Completion, Event, Failure, Transmit};
use novitai_core::retry::RetryReason;

/// FNV-1a 64 of `bytes`: a short, dependency-free fingerprint of a body.
#[must_use]
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

fn reason(r: &RetryReason) -> String {
    match r {
        RetryReason::Status(s) => format!("status:{s}"),
        RetryReason::Transport(k) => format!("transport:{}", k.as_str()),
    }
}

fn completion(c: &Completed) -> String {
    let outcome = match &c.outcome {
        Completion::Ok(r) => format!(
            "ok status={} body={}b#{:016x}",
            r.status,
            r.body.len(),
            fnv1a64(&r.body)
        ),
        Completion::GaveUp { last, attempts } => {
            let last = match last {
                Failure::Status(r) => format!("status:{}", r.status),
                Failure::Transport(k) => format!("transport:{}", k.as_str()),
            };
            format!("gave_up last={last} attempts={attempts}")
        }
        Completion::BreakerOpen { until } => format!("breaker_open until={}", until.as_millis()),
        Completion::QueueFull => String::from("queue_full"),
        Completion::DeadlineExceeded => String::from("deadline_exceeded"),
        Completion::Cancelled => String::from("cancelled"),
    };
    format!(
        "completed id={} corr={} attempts={} cache={} submitted={} {outcome}",
        c.id.get(),
        c.correlation_id,
        c.attempts,
        c.from_cache,
        c.submitted_at.as_millis()
    )
}

/// The line for one engine event (without the time prefix).
#[must_use]
pub fn event_line(e: &Event) -> String {
    match e {
        Event::Completed(c) => completion(c),
        Event::AttemptStarted {
            id,
            attempt,
            number,
            probe,
            ..
        } => format!(
            "attempt_started id={} attempt={} n={number} probe={probe}",
            id.get(),
            attempt.get()
        ),
        Event::AttemptFailed {
            id,
            attempt,
            number,
            status,
            transport,
            ..
        } => {
            let mut s = format!(
                "attempt_failed id={} attempt={} n={number}",
                id.get(),
                attempt.get()
            );
            if let Some(st) = status {
                let _ = write!(s, " status={st}");
            }
            if let Some(k) = transport {
                let _ = write!(s, " transport={}", k.as_str());
            }
            s
        }
        Event::RetryScheduled {
            id,
            attempt,
            at,
            delay,
            reason: r,
            ..
        } => format!(
            "retry_scheduled id={} n={attempt} at={} delay={} reason={}",
            id.get(),
            at.as_millis(),
            delay.as_millis(),
            reason(r)
        ),
        Event::BreakerTransition(t) => {
            format!("breaker {}->{} at={}", t.from, t.to, t.at.as_millis())
        }
        Event::RateLimited { until, by_server } => format!(
            "rate_limited until={} by_server={by_server}",
            until.as_millis()
        ),
        Event::Coalesced { id, leader, .. } => {
            format!("coalesced id={} leader={}", id.get(), leader.get())
        }
        Event::LateAnswerIgnored { attempt } => {
            format!("late_answer_ignored attempt={}", attempt.get())
        }
        Event::AttemptTimedOut { id, attempt, .. } => format!(
            "attempt_timed_out id={} attempt={}",
            id.get(),
            attempt.get()
        ),
    }
}

/// The line for one transmission (without the time prefix): method, path,
/// body fingerprint and, when known, the status the peer will answer.
#[must_use]
pub fn transmit_line(t: &Transmit, status: Option<u16>) -> String {
    let body = t.request.body.as_deref().unwrap_or(&[]);
    let status = status.map_or_else(|| String::from("none"), |s| s.to_string());
    format!(
        "sent attempt={} id={} n={} {} {} body={}b#{:016x} reply={status}",
        t.attempt.get(),
        t.request_id.get(),
        t.number,
        t.request.method,
        t.request.path_and_query,
        body.len(),
        fnv1a64(body)
    )
}

/// The line for one [`novitai_core::sim::NetEvent`] (without the time prefix).
#[cfg(feature = "sim")]
#[must_use]
pub fn net_event_line(e: &novitai_core::sim::NetEvent) -> String {
    match e {
        novitai_core::sim::NetEvent::Sent { transmit, status } => transmit_line(transmit, *status),
        novitai_core::sim::NetEvent::Engine(e) => event_line(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv_matches_the_published_vectors() {
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a64(b"foobar"), 0x8594_4171_f739_67e8);
    }
}
