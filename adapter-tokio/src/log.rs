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
//! Every request line carries `correlation_id` (also sent as
//! `X-Correlation-ID`). Headers and bodies are never logged, so no API key or
//! password can reach a log.

use novitai_core::engine::{Completed, Completion, Event, Input, Transmit};

/// Logs an attempt about to be sent (debug).
pub(crate) fn transmit(t: &Transmit) {
    tracing::debug!(
        correlation_id = %t.correlation_id,
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
    match e {
        Event::Completed(c) => completed(c),
        Event::AttemptStarted {
            id,
            correlation_id,
            attempt,
            number,
            probe,
        } => tracing::trace!(
            %correlation_id,
            request = id.get(),
            attempt = attempt.get(),
            number,
            probe,
            "attempt started"
        ),
        Event::AttemptFailed {
            id,
            correlation_id,
            attempt,
            number,
            status,
            transport,
        } => tracing::debug!(
            %correlation_id,
            request = id.get(),
            attempt = attempt.get(),
            number,
            status = status.map(u32::from),
            transport = transport.map(|k| k.as_str()),
            "attempt failed"
        ),
        Event::RetryScheduled {
            id,
            correlation_id,
            attempt,
            delay,
            reason,
            ..
        } => tracing::warn!(
            %correlation_id,
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
        Event::Coalesced {
            id,
            correlation_id,
            leader,
        } => tracing::debug!(
            %correlation_id,
            request = id.get(),
            leader = leader.get(),
            "joined an identical request in flight"
        ),
        Event::LateAnswerIgnored { attempt } => {
            tracing::debug!(attempt = attempt.get(), "late answer ignored");
        }
        Event::AttemptTimedOut {
            id,
            correlation_id,
            attempt,
        } => tracing::warn!(
            %correlation_id,
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
    let cid = &c.correlation_id;
    let request = c.id.get();
    match &c.outcome {
        Completion::Ok(r) if r.is_success() => tracing::debug!(
            correlation_id = %cid,
            request,
            status = r.status,
            attempts = c.attempts,
            from_cache = c.from_cache,
            elapsed_ms,
            "request completed"
        ),
        Completion::Ok(r) => tracing::error!(
            correlation_id = %cid,
            request,
            status = r.status,
            attempts = c.attempts,
            elapsed_ms,
            "request failed with an error status"
        ),
        Completion::GaveUp { last, attempts } => tracing::error!(
            correlation_id = %cid,
            request,
            attempts,
            last = %last,
            elapsed_ms,
            "request gave up"
        ),
        Completion::BreakerOpen { until } => tracing::error!(
            correlation_id = %cid,
            request,
            until_ms = until.as_millis(),
            "request refused: circuit breaker open"
        ),
        Completion::QueueFull => {
            tracing::error!(correlation_id = %cid, request, "request refused: queue full");
        }
        Completion::DeadlineExceeded => tracing::error!(
            correlation_id = %cid,
            request,
            elapsed_ms,
            "request deadline exceeded"
        ),
        Completion::Cancelled => {
            tracing::info!(correlation_id = %cid, request, "request cancelled");
        }
    }
}
