//! The engine's events as log lines (`tracing`). Nothing here decides
//! anything: each [`Event`] maps to one line at a fixed level.
//!
//! | level | what |
//! |---|---|
//! | info | driver start/stop, successful calls that change something (creates, deletes, instance actions), cancellations |
//! | trace | each attempt's start as the engine reports it (the send is logged at debug) |
//! | debug | each attempt sent (method, path, attempt number), each answer (status, elapsed), completions of reads, coalescing, late answers |
//! | warn | retries scheduled, attempts timed out, breaker transitions, rate-limit waits |
//! | error | final failures: gave up, breaker open, queue full, deadline passed, an error status |
//!
//! Every request line is logged inside a `novitai_request` span whose field
//! is the request's `correlation_id` (also sent as `X-Correlation-ID`), so a
//! subscriber shows it on the line (`novitai_request{correlation_id=nv-1f}:
//! ...`) or groups lines by it. Headers and bodies are never logged, so no API key or
//! password can reach a log.

use novitai_core::engine::{Completed, Completion, Event, Input, Transmit};

/// The span a request's lines are logged in: its field is the correlation
/// id. Spans are cheap when no subscriber wants them (the common case in
/// production at warn level).
fn request_span(
    correlation_id: &novitai_core::engine::CorrelationId,
) -> tracing::span::EnteredSpan {
    tracing::info_span!("novitai_request", correlation_id = %correlation_id).entered()
}

/// Logs an attempt about to be sent (debug).
pub(crate) fn transmit(t: &Transmit) {
    let _span = request_span(&t.correlation_id);
    tracing::debug!(
        request = t.request_id.get(),
        attempt = t.attempt.get(),
        number = t.number,
        method = t.request.method.as_str(),
        path = %path_only(&t.request.path_and_query),
        "sending request"
    );
}

/// Logs an attempt's answer (debug).
pub(crate) fn answer(input: &Input) {
    match input {
        Input::Response {
            attempt,
            now,
            response,
        } => tracing::debug!(
            attempt = attempt.get(),
            status = response.status,
            at_ms = now.as_millis(),
            bytes = response.body.len(),
            "response received"
        ),
        Input::TransportError { attempt, now, kind } => tracing::debug!(
            attempt = attempt.get(),
            error = kind.as_str(),
            at_ms = now.as_millis(),
            "transport error"
        ),
        Input::Timeout(_) => {}
    }
}

/// The path without its query (queries may carry names and filters; they
/// carry no secrets, but a log line needs only the route).
fn path_only(p: &str) -> &str {
    p.split('?').next().unwrap_or(p)
}

/// Logs one engine event at its level.
pub(crate) fn event(e: &Event) {
    let _span = match e {
        Event::AttemptStarted { correlation_id, .. }
        | Event::AttemptFailed { correlation_id, .. }
        | Event::RetryScheduled { correlation_id, .. }
        | Event::Coalesced { correlation_id, .. }
        | Event::AttemptTimedOut { correlation_id, .. } => Some(request_span(correlation_id)),
        Event::Completed(c) => Some(request_span(&c.correlation_id)),
        Event::BreakerTransition(_)
        | Event::RateLimited { .. }
        | Event::LateAnswerIgnored { .. } => None,
    };
    match e {
        Event::Completed(c) => completed(c),
        Event::AttemptStarted {
            id,
            attempt,
            number,
            probe,
            ..
        } => tracing::trace!(
            request = id.get(),
            attempt = attempt.get(),
            number,
            probe,
            "attempt started"
        ),
        Event::AttemptFailed {
            id,
            attempt,
            number,
            status,
            transport,
            ..
        } => tracing::debug!(
            request = id.get(),
            attempt = attempt.get(),
            number,
            status = status.map(u32::from),
            transport = transport.map(|k| k.as_str()),
            "attempt failed"
        ),
        Event::RetryScheduled {
            id,
            attempt,
            delay,
            reason,
            ..
        } => tracing::warn!(
            request = id.get(),
            next_attempt = attempt,
            delay_ms = delay.as_millis(),
            reason = %reason,
            "retry scheduled"
        ),
        Event::BreakerTransition(t) => tracing::warn!(
            from = ?t.from,
            to = ?t.to,
            at_ms = t.at.as_millis(),
            "circuit breaker changed state"
        ),
        Event::RateLimited { until, by_server } => tracing::warn!(
            until_ms = until.as_millis(),
            by_server,
            "rate limited: requests wait"
        ),
        Event::Coalesced { id, leader, .. } => tracing::debug!(
            request = id.get(),
            leader = leader.get(),
            "joined an identical request in flight"
        ),
        Event::LateAnswerIgnored { attempt } => {
            tracing::debug!(attempt = attempt.get(), "late answer ignored");
        }
        Event::AttemptTimedOut { id, attempt, .. } => tracing::warn!(
            request = id.get(),
            attempt = attempt.get(),
            "attempt timed out"
        ),
    }
}

fn completed(c: &Completed) {
    let elapsed_ms = c
        .completed_at
        .saturating_duration_since(c.submitted_at)
        .as_millis();
    let request = c.id.get();
    match &c.outcome {
        Completion::Ok(r) if r.is_success() => tracing::debug!(
            request,
            status = r.status,
            attempts = c.attempts,
            from_cache = c.from_cache,
            elapsed_ms,
            "request completed"
        ),
        Completion::Ok(r) => tracing::error!(
            request,
            status = r.status,
            attempts = c.attempts,
            elapsed_ms,
            "request failed with an error status"
        ),
        Completion::GaveUp { last, attempts } => tracing::error!(
            request,
            attempts,
            last = %last,
            elapsed_ms,
            "request gave up"
        ),
        Completion::BreakerOpen { until } => tracing::error!(
            request,
            until_ms = until.as_millis(),
            "request refused: circuit breaker open"
        ),
        Completion::QueueFull => {
            tracing::error!(request, "request refused: queue full");
        }
        Completion::DeadlineExceeded => {
            tracing::error!(request, elapsed_ms, "request deadline exceeded")
        }
        Completion::Cancelled => {
            tracing::info!(request, "request cancelled");
        }
    }
}
