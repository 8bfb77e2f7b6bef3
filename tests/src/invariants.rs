//! The invariant checker: watches everything a [`VirtualNet`] reports and
//! everything the client does, and lists every broken promise.
//!
//! Checked as events arrive:
//! - exactly one `Completed` per submitted request, none for unknown ids;
//! - nothing transmitted while the breaker is open (the state is tracked
//!   from its transitions, which must chain: each `from` is the last `to`);
//!   probes exactly while half-open;
//! - every transmission's attempt number within `1..=max_attempts`, at most
//!   `max_attempts` transmissions per request, `Completed::attempts` too;
//! - a request that must not run twice (a create) is sent again only after
//!   a 429 (the server certainly did not act);
//! - the retry budget's bound (`core/src/retry/budget.rs`): with `R` retries
//!   scheduled and `S` successes, `1000 R < M − ⌊M/2⌋ + ρ S` in thousandths
//!   of a token (`M` = `max_tokens`·1000, `ρ` = `token_ratio`·1000); `S` is
//!   over-counted by every 2xx the simulator sent, which only loosens it;
//! - completions keep their promises: a deadline is never overrun, a
//!   cancellation the engine accepted completes `Cancelled` at once, cached
//!   answers made no attempt, `BreakerOpen` names a future instant;
//! - time never runs backwards.
//!
//! Checked at the end ([`Checker::finish`]):
//! - the client rate limit holds in every window (sliding window: at most
//!   `max` sends in any `window`; GCRA: at most `burst + L/T` in any span
//!   `L`);
//! - the simulator counted exactly the transmissions observed;
//! - 2xx answers that failed to parse are at most the truncated bodies the
//!   simulator sent (so none came from the cache), and they failed as
//!   `Decode` errors.
//!
//! [`VirtualNet`]: novitai_core::sim::VirtualNet

use std::collections::{BTreeMap, BTreeSet};

use novitai_core::breaker::State;
use novitai_core::engine::{Completed, Completion, EngineConfig, Event, RequestId, Transmit};
use novitai_core::limiter::RateLimitConfig;
use novitai_core::sim::{NetEvent, SimStats};
use novitai_core::{Duration, Instant};

/// At most this many violations are kept (the first ones matter).
const MAX_VIOLATIONS: usize = 20;

#[derive(Debug)]
struct Record {
    submitted_at: Instant,
    deadline: Option<Instant>,
    cacheable: bool,
    idempotent: bool,
    /// When a cancel was accepted by the engine.
    cancelled_at: Option<Instant>,
    completions: u32,
    /// Statuses of its transmissions (`None`: no answer / reset / hang).
    sent: Vec<Option<u16>>,
}

/// Watches one scenario run. Feed it with [`Checker::on_submit`],
/// [`Checker::on_cancel`] and [`Checker::observe`]; call
/// [`Checker::finish`] at the end.
#[derive(Debug)]
pub struct Checker {
    config: EngineConfig,
    last_at: Instant,
    requests: BTreeMap<RequestId, Record>,
    breaker: State,
    breaker_changed_at: Instant,
    transitions: u64,
    transmit_times: Vec<Instant>,
    sent_2xx: u64,
    retries: u64,
    undecodable: u64,
    undecodable_bodies: BTreeSet<(Instant, Vec<u8>)>,
    completed: u64,
    violations: Vec<String>,
}

impl Checker {
    /// A checker for an engine running `config`.
    #[must_use]
    pub fn new(config: &EngineConfig) -> Checker {
        Checker {
            config: config.clone(),
            last_at: Instant::ZERO,
            requests: BTreeMap::new(),
            breaker: State::Closed,
            breaker_changed_at: Instant::ZERO,
            transitions: 0,
            transmit_times: Vec::new(),
            sent_2xx: 0,
            retries: 0,
            undecodable: 0,
            undecodable_bodies: BTreeSet::new(),
            completed: 0,
            violations: Vec::new(),
        }
    }

    /// Records a broken invariant.
    pub fn violation(&mut self, at: Instant, what: impl Into<String>) {
        if self.violations.len() < MAX_VIOLATIONS {
            self.violations.push(format!("at {at}: {}", what.into()));
        }
    }

    /// The violations found so far.
    #[must_use]
    pub fn violations(&self) -> &[String] {
        &self.violations
    }

    /// Transmissions observed.
    #[must_use]
    pub fn transmissions(&self) -> u64 {
        self.transmit_times.len() as u64
    }

    /// Requests submitted.
    #[must_use]
    pub fn submitted(&self) -> usize {
        self.requests.len()
    }

    /// Requests submitted and not completed yet.
    #[must_use]
    pub fn outstanding(&self) -> Vec<RequestId> {
        self.requests
            .iter()
            .filter(|(_, r)| r.completions == 0)
            .map(|(id, _)| *id)
            .collect()
    }

    /// Breaker transitions observed.
    #[must_use]
    pub fn breaker_transitions(&self) -> u64 {
        self.transitions
    }

    /// Retries scheduled.
    #[must_use]
    pub fn retries(&self) -> u64 {
        self.retries
    }

    /// The engine accepted request `id` at `at`.
    pub fn on_submit(
        &mut self,
        id: RequestId,
        at: Instant,
        deadline: Option<Instant>,
        cacheable: bool,
        idempotent: bool,
    ) {
        let record = Record {
            submitted_at: at,
            deadline,
            cacheable,
            idempotent,
            cancelled_at: None,
            completions: 0,
            sent: Vec::new(),
        };
        if self.requests.insert(id, record).is_some() {
            self.violation(at, format!("{id} handed out twice"));
        }
    }

    /// The client cancelled `id` at `at`; `accepted` is what `cancel` returned.
    pub fn on_cancel(&mut self, id: RequestId, at: Instant, accepted: bool) {
        match self.requests.get_mut(&id) {
            None => self.violation(at, format!("cancelled {id}, which was never submitted")),
            Some(r) => {
                if accepted {
                    r.cancelled_at = Some(at);
                    if r.completions > 0 {
                        self.violation(
                            at,
                            format!("cancel of {id} accepted after it had completed"),
                        );
                    }
                }
            }
        }
    }

    /// A 2xx completion whose body did not parse as its endpoint's output.
    /// Coalesced requests share one answer: the same body completing at the
    /// same instant counts once.
    pub fn on_undecodable_success(&mut self, done: &Completed) {
        if let Completion::Ok(r) = &done.outcome
            && self
                .undecodable_bodies
                .insert((done.completed_at, r.body.clone()))
        {
            self.undecodable += 1;
        }
    }

    /// Everything the virtual network reports, in order.
    pub fn observe(&mut self, at: Instant, event: &NetEvent) {
        if at < self.last_at {
            self.violation(at, format!("time ran backwards from {}", self.last_at));
        }
        self.last_at = self.last_at.max(at);
        match event {
            NetEvent::Sent { transmit, status } => self.on_sent(at, transmit, *status),
            NetEvent::Engine(e) => self.on_event(at, e),
        }
    }

    fn on_sent(&mut self, at: Instant, t: &Transmit, status: Option<u16>) {
        self.transmit_times.push(at);
        if status.is_some_and(|s| (200..300).contains(&s)) {
            self.sent_2xx += 1;
        }
        if matches!(self.breaker, State::Open | State::ForcedOpen) {
            let state = self.breaker;
            let since = self.breaker_changed_at;
            self.violation(
                at,
                format!(
                    "{} (attempt {}) transmitted while the breaker is {state} (since {since})",
                    t.request_id, t.number
                ),
            );
        }
        let max = self.config.retry.max_attempts;
        if t.number == 0 || t.number > max {
            self.violation(
                at,
                format!(
                    "{} sent attempt number {} (max {max})",
                    t.request_id, t.number
                ),
            );
        }
        if t.request.headers.get("X-Correlation-ID") != Some(t.correlation_id.as_str()) {
            self.violation(
                at,
                format!("{} sent without its correlation id header", t.request_id),
            );
        }
        let Some(r) = self.requests.get_mut(&t.request_id) else {
            self.violation(at, format!("transmission for unknown {}", t.request_id));
            return;
        };
        if r.completions > 0 {
            let id = t.request_id;
            self.violation(at, format!("{id} transmitted after it completed"));
            return;
        }
        r.sent.push(status);
        let n = r.sent.len();
        let idempotent = r.idempotent;
        let earlier_not_429 = r.sent.iter().take(n - 1).any(|s| *s != Some(429));
        if n as u32 > max {
            let id = t.request_id;
            self.violation(at, format!("{id} transmitted {n} times (max {max})"));
        }
        if !idempotent && earlier_not_429 {
            let id = t.request_id;
            let sent = self
                .requests
                .get(&id)
                .map(|r| format!("{:?}", r.sent))
                .unwrap_or_default();
            self.violation(
                at,
                format!("non-idempotent {id} sent again after an answer other than 429: {sent}"),
            );
        }
    }

    fn on_event(&mut self, at: Instant, e: &Event) {
        match e {
            Event::BreakerTransition(t) => {
                self.transitions += 1;
                if t.from != self.breaker {
                    self.violation(
                        at,
                        format!(
                            "breaker transition {} -> {} but it was {}",
                            t.from, t.to, self.breaker
                        ),
                    );
                }
                if t.at < self.breaker_changed_at || t.at > at {
                    self.violation(
                        at,
                        format!(
                            "breaker transition stamped {} (previous {}, now {at})",
                            t.at, self.breaker_changed_at
                        ),
                    );
                }
                self.breaker = t.to;
                self.breaker_changed_at = t.at;
            }
            Event::AttemptStarted { id, probe, .. } => {
                let half_open = self.breaker == State::HalfOpen;
                if *probe != half_open {
                    self.violation(
                        at,
                        format!(
                            "{id} attempt probe={probe} while the breaker is {}",
                            self.breaker
                        ),
                    );
                }
            }
            Event::RetryScheduled { id, at: when, .. } => {
                self.retries += 1;
                if *when < at {
                    self.violation(at, format!("{id} retry scheduled in the past ({when})"));
                }
                if let Some(b) = self.config.retry_budget {
                    let m = u128::from(b.max_tokens) * 1000;
                    let ratio = ((b.token_ratio * 1000.0) + 0.5) as u128;
                    let ratio = ratio.max(1);
                    let bound = m - m / 2 + ratio * u128::from(self.sent_2xx);
                    if u128::from(self.retries) * 1000 >= bound {
                        let (r, s) = (self.retries, self.sent_2xx);
                        self.violation(
                            at,
                            format!(
                                "retry budget exceeded: {r} retries with at most {s} successes \
                                 (max_tokens {}, token_ratio {})",
                                b.max_tokens, b.token_ratio
                            ),
                        );
                    }
                }
            }
            Event::Completed(c) => self.on_completed(at, c),
            _ => {}
        }
    }

    fn on_completed(&mut self, at: Instant, c: &Completed) {
        self.completed += 1;
        let max = self.config.retry.max_attempts;
        let id = c.id;
        let Some(r) = self.requests.get_mut(&id) else {
            self.violation(at, format!("completion for unknown {id}"));
            return;
        };
        r.completions += 1;
        let mut problems: Vec<String> = Vec::new();
        if r.completions > 1 {
            problems.push(format!("{id} completed {} times", r.completions));
        }
        if c.completed_at != at
            || c.completed_at < r.submitted_at
            || c.submitted_at != r.submitted_at
        {
            problems.push(format!(
                "{id} completion stamped {} (submitted {}, observed {at})",
                c.completed_at, r.submitted_at
            ));
        }
        if c.attempts > max {
            problems.push(format!(
                "{id} completed after {} attempts (max {max})",
                c.attempts
            ));
        }
        if let Some(d) = r.deadline
            && c.completed_at > d
        {
            problems.push(format!(
                "{id} completed at {} after its deadline {d}",
                c.completed_at
            ));
        }
        match (&c.outcome, r.cancelled_at) {
            (Completion::Cancelled, None) => {
                problems.push(format!("{id} completed Cancelled but was never cancelled"));
            }
            (Completion::Cancelled, Some(t)) if t != c.completed_at => {
                problems.push(format!(
                    "{id} cancelled at {t} but completed at {}",
                    c.completed_at
                ));
            }
            (other, Some(t)) if !matches!(other, Completion::Cancelled) => {
                problems.push(format!(
                    "{id}: cancel accepted at {t} but it completed {other:?}"
                ));
            }
            _ => {}
        }
        match &c.outcome {
            Completion::DeadlineExceeded => {
                if r.deadline.is_none_or(|d| c.completed_at < d) {
                    problems.push(format!("{id} DeadlineExceeded before its deadline"));
                }
            }
            Completion::BreakerOpen { until } => {
                if *until <= c.completed_at {
                    problems.push(format!("{id} BreakerOpen until {until}, already past"));
                }
            }
            Completion::GaveUp { attempts, .. } => {
                if *attempts != c.attempts || *attempts == 0 {
                    problems.push(format!(
                        "{id} GaveUp after {attempts} attempts, completion says {}",
                        c.attempts
                    ));
                }
            }
            Completion::Ok(resp) => {
                if resp.status >= 500 || resp.status == 429 || resp.status == 408 {
                    problems.push(format!("{id} completed Ok with retryable {}", resp.status));
                }
            }
            Completion::QueueFull | Completion::Cancelled => {}
        }
        if c.from_cache && (c.attempts != 0 || !r.cacheable || !c.outcome.is_success()) {
            problems.push(format!("{id} served from cache: {c:?}"));
        }
        for p in problems {
            self.violation(at, p);
        }
    }

    /// End-of-run checks; returns every violation found.
    pub fn finish(&mut self, stats: &SimStats, at: Instant) -> Vec<String> {
        for id in self.outstanding() {
            self.violation(at, format!("{id} never completed"));
        }
        if stats.requests != self.transmissions() {
            let n = self.transmissions();
            self.violation(
                at,
                format!(
                    "the simulator handled {} requests, {n} transmissions seen",
                    stats.requests
                ),
            );
        }
        if self.undecodable > stats.faults.truncated {
            let n = self.undecodable;
            self.violation(
                at,
                format!(
                    "{n} successful answers did not parse, but only {} bodies were truncated",
                    stats.faults.truncated
                ),
            );
        }
        if let Some(v) = limiter_violation(&self.config.rate_limit, &self.transmit_times) {
            self.violation(at, v);
        }
        self.violations.clone()
    }
}

/// The first window in which `times` (sorted) exceed `limit`, as a sentence.
#[must_use]
pub fn limiter_violation(limit: &RateLimitConfig, times: &[Instant]) -> Option<String> {
    match *limit {
        RateLimitConfig::SlidingWindow(w) => {
            // At most `max` sends in any half-open span (t - window, t].
            let window = w.window.as_millis();
            let max = w.max as usize;
            let mut lo = 0;
            for (hi, t) in times.iter().enumerate() {
                while let Some(first) = times.get(lo)
                    && t.as_millis().saturating_sub(first.as_millis()) >= window
                {
                    lo += 1;
                }
                let n = hi + 1 - lo;
                if n > max {
                    return Some(format!(
                        "{n} sends within {} ending at {t} (sliding window max {max})",
                        Duration::from_millis(window)
                    ));
                }
            }
            None
        }
        RateLimitConfig::Gcra(g) => {
            // n sends in [t_i, t_j] need (n - burst) * period <= (t_j - t_i) * cells.
            // With a_k = k*period - t_k*cells: max_{i<=j} a_j - a_i <= (burst - 1) * period.
            let period = i128::from(g.period.as_millis());
            let cells = i128::from(g.cells);
            let slack = (i128::from(g.burst) - 1) * period;
            let mut min_a: Option<(i128, usize)> = None;
            for (k, t) in times.iter().enumerate() {
                let a = k as i128 * period - i128::from(t.as_millis()) * cells;
                let (m, i) = match min_a {
                    Some((m, i)) if m <= a => (m, i),
                    _ => (a, k),
                };
                min_a = Some((m, i));
                if a - m > slack {
                    let n = k - i + 1;
                    return Some(format!(
                        "{n} sends between {} and {t} (GCRA {} per {} burst {})",
                        times.get(i).copied().unwrap_or(Instant::ZERO),
                        g.cells,
                        g.period,
                        g.burst
                    ));
                }
            }
            None
        }
    }
}
