//! Runs one [`Scenario`]: the engine against the simulator on a
//! [`VirtualNet`], the workload's scripts reacting to completions, the
//! [`Checker`] watching everything, and end-state checks on the simulator.

use std::collections::BTreeMap;
use std::ops::ControlFlow;

use novitai_core::api::ApiContext;
use novitai_core::api::instances::CreateInstance;
use novitai_core::api::instances::{
    DeleteInstance, GetInstance, ListInstances, StartInstance, StopInstance,
};
use novitai_core::api::products::ListProducts;
use novitai_core::engine::{Completed, Engine, Event, RequestId};
use novitai_core::sim::{NetEvent, RunEnd, Simulator, Status, VirtualNet};
use novitai_core::{Duration, Instant, Rng};

use crate::invariants::Checker;
use crate::scenario::{Action, Call, CallResult, Scenario, Task, TaskKind, priority};

/// How long after the workload's last call the run may take to go idle.
const IDLE_HORIZON: Duration = Duration::from_secs(24 * 3600);
/// Virtual time given to instances to settle before the end-state checks.
const SETTLE: Duration = Duration::from_secs(3600);

/// What one scenario run produced.
#[derive(Clone, Debug, Default)]
pub struct RunReport {
    /// Broken invariants (empty: the seed passed).
    pub violations: Vec<String>,
    /// Requests submitted.
    pub submitted: usize,
    /// Transmissions made.
    pub transmissions: u64,
    /// Retries scheduled.
    pub retries: u64,
    /// Breaker transitions.
    pub breaker_transitions: u64,
    /// Virtual time at the end.
    pub virtual_end: Instant,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Waiting for the create's answer.
    Creating,
    /// Polling after the create or an action.
    Polling {
        polls: u32,
    },
    /// Waiting for an action's answer.
    Acting,
    Done,
}

/// The state of one script.
#[derive(Debug)]
struct Script {
    task: Task,
    step: u32,
    phase: Phase,
    instance: Option<String>,
    next_action: usize,
    /// Actions submitted so far, with whether each got a 2xx that parsed.
    actions: Vec<(Action, Option<bool>)>,
    /// Statuses seen by successful polls, with the failure flag.
    seen: Vec<(String, bool)>,
}

enum Timer {
    Submit {
        script: usize,
        call: Call,
        deadline: Option<Duration>,
        cancel_after: Option<Duration>,
    },
    Cancel(RequestId),
}

struct Driver {
    net: VirtualNet,
    checker: Checker,
    ctx: ApiContext,
    rng: Rng,
    scripts: Vec<Script>,
    timers: BTreeMap<(Instant, u64), Timer>,
    timer_seq: u64,
    pending: BTreeMap<RequestId, (usize, Call)>,
    /// Print every event (`NOVITAI_SIM_TRACE=1`, for replaying one seed).
    trace: bool,
}

/// Runs `scenario` and checks every invariant.
#[must_use]
pub fn run(scenario: &Scenario) -> RunReport {
    let engine = match Engine::new(scenario.engine.clone(), scenario.seed, Instant::ZERO) {
        Ok(e) => e,
        Err(e) => {
            return RunReport {
                violations: vec![format!("generated engine config rejected: {e}")],
                ..RunReport::default()
            };
        }
    };
    let sim = match Simulator::new(scenario.sim.clone(), scenario.seed, Instant::ZERO) {
        Ok(s) => s,
        Err(e) => {
            return RunReport {
                violations: vec![format!("generated sim config rejected: {e}")],
                ..RunReport::default()
            };
        }
    };
    let ctx = match ApiContext::new(crate::scenario::API_KEY, "novitai-tests/sim") {
        Ok(c) => c,
        Err(e) => {
            return RunReport {
                violations: vec![format!("api context: {e}")],
                ..RunReport::default()
            };
        }
    };
    let mut d = Driver {
        net: VirtualNet::new(engine, sim),
        checker: Checker::new(&scenario.engine),
        ctx,
        rng: Rng::new(scenario.seed ^ 0x5eed_d21e_u64),
        scripts: Vec::new(),
        timers: BTreeMap::new(),
        timer_seq: 0,
        pending: BTreeMap::new(),
        trace: std::env::var_os("NOVITAI_SIM_TRACE").is_some(),
    };
    for task in &scenario.tasks {
        let i = d.scripts.len();
        d.scripts.push(Script {
            task: task.clone(),
            step: 0,
            phase: Phase::Creating,
            instance: None,
            next_action: 0,
            actions: Vec::new(),
            seen: Vec::new(),
        });
        d.first_call(i);
    }
    d.drive();
    d.end_state(scenario);
    let at = d.net.now();
    let stats = d.net.sim.stats();
    let violations = d.checker.finish(&stats, at);
    RunReport {
        violations,
        submitted: d.checker.submitted(),
        transmissions: d.checker.transmissions(),
        retries: d.checker.retries(),
        breaker_transitions: d.checker.breaker_transitions(),
        virtual_end: at,
    }
}

impl Driver {
    fn schedule(&mut self, at: Instant, timer: Timer) {
        self.timer_seq += 1;
        self.timers.insert((at, self.timer_seq), timer);
    }

    fn submit_later(&mut self, script: usize, after: Duration, call: Call) {
        let at = self.net.now() + after;
        self.schedule(
            at,
            Timer::Submit {
                script,
                call,
                deadline: None,
                cancel_after: None,
            },
        );
    }

    fn first_call(&mut self, i: usize) {
        let Some(s) = self.scripts.get(i) else { return };
        let start = s.task.start;
        let (call, deadline, cancel_after) = match &s.task.kind {
            TaskKind::Catalog { .. } => (
                Call::from_spec(crate::scenario::CallSpec::Clusters),
                None,
                None,
            ),
            TaskKind::Lifecycle { create, .. } => (
                Call::Create(Box::new(CreateInstance((**create).clone()))),
                None,
                None,
            ),
            TaskKind::ListPages { page_size, .. } => (
                Call::List(ListInstances {
                    page_size: *page_size,
                    ..ListInstances::default()
                }),
                None,
                None,
            ),
            TaskKind::Cancelled { call, after } => (Call::from_spec(*call), None, Some(*after)),
            TaskKind::Deadline { call, within } => (Call::from_spec(*call), Some(*within), None),
        };
        self.schedule(
            start,
            Timer::Submit {
                script: i,
                call,
                deadline,
                cancel_after,
            },
        );
    }

    /// Runs timers and the network until nothing is left to do.
    fn drive(&mut self) {
        let mut completions: Vec<Completed> = Vec::new();
        loop {
            // Fire every timer that is due.
            while let Some(entry) = self.timers.first_entry() {
                if entry.key().0 > self.net.now() {
                    break;
                }
                let timer = entry.remove();
                self.fire(timer);
            }
            let until = match self.timers.first_key_value() {
                Some((k, _)) => k.0,
                None => self.net.now() + IDLE_HORIZON,
            };
            let checker = &mut self.checker;
            let trace = self.trace;
            let end = self.net.run(until, &mut |at, e: &NetEvent| {
                if trace {
                    println!("{at} {e:?}");
                }
                checker.observe(at, e);
                if let NetEvent::Engine(Event::Completed(c)) = e {
                    completions.push(c.clone());
                    ControlFlow::Break(())
                } else {
                    ControlFlow::Continue(())
                }
            });
            for c in completions.drain(..) {
                self.on_completed(&c);
            }
            match end {
                RunEnd::Stopped => {}
                RunEnd::Idle => {
                    if self.timers.is_empty() {
                        if !self.pending.is_empty() {
                            let n = self.pending.len();
                            let at = self.net.now();
                            self.checker.violation(
                                at,
                                format!("the net went idle with {n} requests incomplete"),
                            );
                        }
                        return;
                    }
                    // Nothing in the network: jump to the next timer.
                    self.net.sleep_until(until, &mut |_, _| {});
                }
                RunEnd::Reached => {
                    if self.timers.is_empty() {
                        let n = self.pending.len();
                        let at = self.net.now();
                        self.checker.violation(
                            at,
                            format!(
                                "still busy {IDLE_HORIZON} after the last call ({n} requests incomplete)"
                            ),
                        );
                        return;
                    }
                }
            }
        }
    }

    fn fire(&mut self, timer: Timer) {
        let now = self.net.now();
        match timer {
            Timer::Cancel(id) => {
                let accepted = self.net.engine.cancel(id, now);
                self.checker.on_cancel(id, now, accepted);
            }
            Timer::Submit {
                script,
                call,
                deadline,
                cancel_after,
            } => {
                let mut options = call.options().priority(priority(&mut self.rng));
                let deadline = deadline.map(|d| now + d);
                if let Some(d) = deadline {
                    options = options.deadline(d);
                }
                let request = call.request(&self.ctx);
                let cacheable = options.cacheable;
                let idempotent = call.is_idempotent();
                match self.net.submit(request, options) {
                    Ok(id) => {
                        self.checker
                            .on_submit(id, now, deadline, cacheable, idempotent);
                        if let Some(after) = cancel_after {
                            self.schedule(now + after, Timer::Cancel(id));
                        }
                        self.pending.insert(id, (script, call));
                    }
                    Err(e) => self
                        .checker
                        .violation(now, format!("submit refused before shutdown: {e}")),
                }
            }
        }
    }

    fn on_completed(&mut self, c: &Completed) {
        let Some((script, call)) = self.pending.remove(&c.id) else {
            // The checker reports unknown or repeated completions.
            return;
        };
        let result = call.read(c);
        let at = self.net.now();
        if self.trace {
            println!("{at} {} {} -> {result:?}", c.id, call.name());
        }
        if let Some(e) = &result.other_parse_error {
            self.checker.violation(
                at,
                format!(
                    "{} ({}) completed {:?} but reads as {e}",
                    c.id,
                    call.name(),
                    short(&c.outcome)
                ),
            );
        }
        if result.undecodable_success {
            self.checker.on_undecodable_success(c);
        }
        self.advance_script(script, &call, &result);
    }

    fn advance_script(&mut self, i: usize, call: &Call, result: &CallResult) {
        let Some(s) = self.scripts.get_mut(i) else {
            return;
        };
        s.step += 1;
        let step = s.step;
        let next: Option<(Duration, Call)> = match &s.task.kind {
            TaskKind::Catalog {
                rounds,
                gap,
                full_catalog,
            } => {
                if step >= rounds * 2 {
                    None
                } else if step == 1 && *full_catalog {
                    // The whole catalogue once, then the product wanted.
                    Some((*gap, Call::Products(ListProducts::default())))
                } else if step % 2 == 1 {
                    Some((*gap, Call::from_spec(crate::scenario::CallSpec::Products)))
                } else {
                    Some((*gap, Call::from_spec(crate::scenario::CallSpec::Clusters)))
                }
            }
            TaskKind::ListPages { page_size, pages } => {
                let full = result.page.is_some_and(|(n, _)| n as u32 >= *page_size);
                (full && step < *pages).then(|| {
                    (
                        Duration::from_millis(100),
                        Call::List(ListInstances {
                            page_size: *page_size,
                            page_num: step + 1,
                            ..ListInstances::default()
                        }),
                    )
                })
            }
            TaskKind::Cancelled { .. } | TaskKind::Deadline { .. } => None,
            TaskKind::Lifecycle {
                poll_every,
                max_polls,
                actions,
                ..
            } => {
                let poll_every = *poll_every;
                let max_polls = *max_polls;
                match (s.phase, call) {
                    (Phase::Creating, _) => match &result.instance_id {
                        Some(id) => {
                            s.instance = Some(id.clone());
                            s.phase = Phase::Polling { polls: 0 };
                            Some((poll_every, Call::Get(GetInstance::new(id.clone()))))
                        }
                        None => {
                            s.phase = Phase::Done;
                            None
                        }
                    },
                    (Phase::Acting, _) => {
                        if let Some(last) = s.actions.last_mut() {
                            last.1 = Some(result.ok);
                        }
                        s.phase = Phase::Polling { polls: 0 };
                        s.instance
                            .clone()
                            .map(|id| (poll_every, Call::Get(GetInstance::new(id))))
                    }
                    (Phase::Polling { polls }, _) => {
                        let polls = polls + 1;
                        if let Some(st) = &result.instance_status
                            && s.actions.is_empty()
                        {
                            s.seen.push(st.clone());
                        }
                        let stable = result
                            .instance_status
                            .as_ref()
                            .is_some_and(|(st, _)| matches!(st.as_str(), "running" | "exited"));
                        let id = s.instance.clone().unwrap_or_default();
                        if !stable && polls < max_polls {
                            s.phase = Phase::Polling { polls };
                            Some((poll_every, Call::Get(GetInstance::new(id))))
                        } else if let Some(a) = actions.get(s.next_action).copied() {
                            s.next_action += 1;
                            s.phase = Phase::Acting;
                            s.actions.push((a, None));
                            let call = match a {
                                Action::Stop => Call::Stop(StopInstance::new(id)),
                                Action::Start => Call::Start(StartInstance::new(id)),
                                Action::Delete => Call::Delete(DeleteInstance::new(id)),
                            };
                            Some((Duration::from_millis(500), call))
                        } else {
                            s.phase = Phase::Done;
                            None
                        }
                    }
                    (Phase::Done, _) => None,
                }
            }
        };
        if let Some((after, call)) = next {
            self.submit_later(i, after, call);
        }
    }

    /// Lets the instances settle, shuts the engine down (nothing may be left
    /// to cancel), and checks the simulator's final state against what the
    /// client saw.
    fn end_state(&mut self, scenario: &Scenario) {
        let checker = &mut self.checker;
        self.net.engine.shutdown(self.net.now());
        let _ = self
            .net
            .run_until(self.net.now(), &mut |at, e| checker.observe(at, e));
        let settle = self.net.now() + SETTLE;
        self.net
            .sleep_until(settle, &mut |at, e| checker.observe(at, e));
        let at = self.net.now();
        let failures_possible = scenario.sim.startup_failure > 0.0;
        let truncation = scenario.sim.faults.truncate > 0.0;
        for s in &self.scripts {
            let (TaskKind::Lifecycle { create, .. }, Some(id)) = (&s.task.kind, &s.instance) else {
                continue;
            };
            let fail_image = create.image_url.contains("sim-fail");
            let fin = self.net.sim.instance_status(id);
            let mut problems = Vec::new();
            if s.actions.is_empty() {
                // Created and polled only: it reaches running unless it was
                // faulted into failure.
                let ok = match fin {
                    Some(Status::Running) => !fail_image,
                    Some(Status::Exited) => fail_image || failures_possible,
                    _ => false,
                };
                if !ok {
                    problems.push(format!(
                        "instance {id} (image {}) ended {fin:?} after create and polls",
                        create.image_url
                    ));
                }
                // What the polls saw moves forward along the create path.
                let rank = |st: &str| match st {
                    "toCreate" => Some(0),
                    "creating" => Some(1),
                    "pulling" => Some(2),
                    "running" | "exited" => Some(3),
                    _ => None,
                };
                let mut last = 0;
                for (st, failed) in &s.seen {
                    match rank(st) {
                        Some(r) if r >= last => last = r,
                        _ => problems.push(format!("instance {id} polls saw {:?}", s.seen)),
                    }
                    if st == "exited" && !*failed {
                        problems.push(format!(
                            "instance {id} exited without a failure: {:?}",
                            s.seen
                        ));
                    }
                    let fin_str = fin.map(|f| f.as_str());
                    if (st == "running" || st == "exited") && fin_str != Some(st.as_str()) {
                        problems.push(format!("instance {id} polled {st} but ended {fin:?}"));
                    }
                }
            } else if !truncation
                && let Some((a, Some(true))) = s.actions.last()
                && s.actions.len() == s.next_action
            {
                // The last action was acknowledged: the server carried it out.
                let ok = match a {
                    Action::Delete => fin.is_none(),
                    Action::Stop => fin == Some(Status::Exited),
                    Action::Start => matches!(fin, Some(Status::Running | Status::Exited)),
                };
                if !ok {
                    problems.push(format!(
                        "instance {id}: {a:?} acknowledged but it ended {fin:?}"
                    ));
                }
            }
            for p in problems {
                checker.violation(at, p);
            }
        }
    }
}

fn short(c: &novitai_core::engine::Completion) -> String {
    match c {
        novitai_core::engine::Completion::Ok(r) => format!("Ok({})", r.status),
        other => format!("{other:?}"),
    }
}
