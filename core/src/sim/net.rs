//! A virtual network: an [`Engine`] talking to a [`Simulator`] in virtual
//! time, with no sockets and no clock.
//!
//! [`VirtualNet`] carries out the engine's outputs the way an adapter would —
//! it hands each transmission to the simulator, delivers the reply after the
//! simulated latency (or a reset, or nothing for a hang), and fires the
//! engine's timers — but time jumps straight to the next thing that happens.
//! Thousands of seeded fault scenarios run per second this way, and a failing
//! one replays exactly from its seed. The CLI demo and the web demo use it too.

use alloc::collections::BTreeMap;
use core::ops::ControlFlow;

use super::{SimReply, Simulator};
use crate::engine::{Completed, Engine, Event, Input, Output, RequestId, RequestOptions, Transmit};
use crate::http::{HttpRequest, HttpResponse};
use crate::retry::TransportErrorKind;
use crate::time::Instant;

/// What [`VirtualNet`] reports as it runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NetEvent {
    /// The engine sent a request (and what the simulator will do with it).
    Sent {
        /// The transmission.
        transmit: Transmit,
        /// The simulator's status code, if it answers at all.
        status: Option<u16>,
    },
    /// An engine event.
    Engine(Event),
}

/// Why [`VirtualNet::run`] returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunEnd {
    /// Virtual time reached the horizon.
    Reached,
    /// Nothing is pending: no timer, nothing in transit.
    Idle,
    /// The observer asked to stop.
    Stopped,
}

enum Delivery {
    Response(HttpResponse),
    Error(TransportErrorKind),
}

/// An engine and a simulator wired together in virtual time.
pub struct VirtualNet {
    /// The engine under test.
    pub engine: Engine,
    /// The simulated Novita API.
    pub sim: Simulator,
    now: Instant,
    /// Replies in transit, by (delivery time, sequence).
    in_transit: BTreeMap<(Instant, u64), (Transmit, Delivery)>,
    seq: u64,
}

impl core::fmt::Debug for VirtualNet {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("VirtualNet")
            .field("now", &self.now)
            .field("in_transit", &self.in_transit.len())
            .finish_non_exhaustive()
    }
}

impl VirtualNet {
    /// Wires `engine` to `sim`; virtual time starts at the engine's `now`.
    #[must_use]
    pub fn new(engine: Engine, sim: Simulator) -> VirtualNet {
        let now = engine.now();
        VirtualNet {
            engine,
            sim,
            now,
            in_transit: BTreeMap::new(),
            seq: 0,
        }
    }

    /// The current virtual time.
    #[must_use]
    pub fn now(&self) -> Instant {
        self.now
    }

    /// Replies still travelling (answers the engine has not seen yet).
    #[must_use]
    pub fn in_transit(&self) -> usize {
        self.in_transit.len()
    }

    /// Submits a request at the current virtual time.
    ///
    /// # Errors
    /// The engine's [`crate::engine::Rejected`].
    pub fn submit(
        &mut self,
        request: HttpRequest,
        options: RequestOptions,
    ) -> Result<RequestId, crate::engine::Rejected> {
        self.engine.submit(request, options, self.now)
    }

    /// Runs until virtual time `until` (or until nothing at all is pending),
    /// reporting everything to `observe` with its virtual time.
    pub fn run_until(
        &mut self,
        until: Instant,
        observe: &mut dyn FnMut(Instant, &NetEvent),
    ) -> RunEnd {
        self.run(until, &mut |at, e| {
            observe(at, e);
            ControlFlow::Continue(())
        })
    }

    /// Runs until virtual time `until`, until nothing is pending, or until
    /// `observe` breaks (the step in progress is finished first).
    pub fn run(
        &mut self,
        until: Instant,
        observe: &mut dyn FnMut(Instant, &NetEvent) -> ControlFlow<()>,
    ) -> RunEnd {
        let stop = core::cell::Cell::new(false);
        let mut watch = |at: Instant, e: &NetEvent| {
            if observe(at, e).is_break() {
                stop.set(true);
            }
        };
        loop {
            let wake = self.drain(&mut watch);
            if stop.get() {
                return RunEnd::Stopped;
            }
            let next_delivery = self.in_transit.keys().next().map(|k| k.0);
            let next = match (wake, next_delivery) {
                (Some(a), Some(b)) => a.min(b),
                (Some(a), None) => a,
                (None, Some(b)) => b,
                (None, None) => return RunEnd::Idle,
            };
            if next > until {
                self.now = self.now.max(until);
                self.sim.advance(self.now);
                return RunEnd::Reached;
            }
            self.now = self.now.max(next);
            let due = self
                .in_transit
                .first_key_value()
                .map(|(k, _)| *k)
                .filter(|k| k.0 <= self.now);
            match due.and_then(|k| self.in_transit.remove(&k)) {
                Some((t, Delivery::Response(response))) => {
                    self.engine.handle_input(Input::Response {
                        attempt: t.attempt,
                        now: self.now,
                        response,
                    });
                }
                Some((t, Delivery::Error(kind))) => {
                    self.engine.handle_input(Input::TransportError {
                        attempt: t.attempt,
                        now: self.now,
                        kind,
                    });
                }
                None => self.engine.handle_input(Input::Timeout(self.now)),
            }
        }
    }

    /// Runs until request `id` completes (or `limit` passes, or nothing is
    /// pending) and returns its completion.
    pub fn run_until_complete(
        &mut self,
        id: RequestId,
        limit: Instant,
        observe: &mut dyn FnMut(Instant, &NetEvent),
    ) -> Option<Completed> {
        let mut done = None;
        self.run(limit, &mut |at, e| {
            observe(at, e);
            match e {
                NetEvent::Engine(Event::Completed(c)) if c.id == id => {
                    done = Some(c.clone());
                    ControlFlow::Break(())
                }
                _ => ControlFlow::Continue(()),
            }
        });
        done
    }

    /// Lets virtual time pass (with no request activity beyond what is
    /// pending) up to `until`.
    pub fn sleep_until(&mut self, until: Instant, observe: &mut dyn FnMut(Instant, &NetEvent)) {
        if self.run_until(until, observe) == RunEnd::Idle {
            self.now = self.now.max(until);
            self.sim.advance(self.now);
        }
    }

    /// Drains the engine's outputs; returns its requested wake-up.
    fn drain(&mut self, observe: &mut dyn FnMut(Instant, &NetEvent)) -> Option<Instant> {
        loop {
            match self.engine.poll_output() {
                Output::Transmit(t) => {
                    let reply = self.sim.handle(&t.request, self.now);
                    let status = reply.status();
                    observe(
                        self.now,
                        &NetEvent::Sent {
                            transmit: t.clone(),
                            status,
                        },
                    );
                    let delivery = match reply {
                        SimReply::Respond { after, response }
                        | SimReply::Truncated { after, response } => {
                            Some((after, Delivery::Response(response)))
                        }
                        SimReply::Reset { after } => {
                            Some((after, Delivery::Error(TransportErrorKind::ConnectionReset)))
                        }
                        SimReply::Hang => None,
                    };
                    if let Some((after, d)) = delivery {
                        self.seq += 1;
                        self.in_transit.insert((self.now + after, self.seq), (t, d));
                    }
                }
                Output::Event(e) => observe(self.now, &NetEvent::Engine(e)),
                Output::Timeout(at) => return at,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{ApiContext, Endpoint, clusters::ListClusters};
    use crate::engine::EngineConfig;
    use crate::sim::{FaultPlan, SimConfig};
    use alloc::string::String;
    use alloc::vec::Vec;

    fn net(faults: FaultPlan, seed: u64) -> VirtualNet {
        let engine = Engine::new(EngineConfig::default(), seed, Instant::ZERO).unwrap();
        let sim = Simulator::new(
            SimConfig {
                api_key: String::from("sk_sim_test_key"),
                faults,
                ..SimConfig::default()
            },
            seed,
            Instant::ZERO,
        )
        .unwrap();
        VirtualNet::new(engine, sim)
    }

    fn clusters_request() -> HttpRequest {
        let mut req = ListClusters.request();
        ApiContext::new("sk_sim_test_key", "novitai-test")
            .unwrap()
            .authorize(&mut req);
        req
    }

    #[test]
    fn a_call_through_the_virtual_network_completes_with_the_sims_answer() {
        let mut n = net(FaultPlan::none(), 1);
        let id = n.submit(clusters_request(), RequestOptions::new()).unwrap();
        let mut log = Vec::new();
        let done = n
            .run_until_complete(id, Instant::from_millis(60_000), &mut |at, e| {
                log.push((at, e.clone()))
            })
            .expect("completes");
        let clusters = crate::error::Error::result_of(&ListClusters, &done).expect("parses");
        assert!(!clusters.is_empty());
        let sent: Vec<_> = log
            .iter()
            .filter(|(_, e)| matches!(e, NetEvent::Sent { .. }))
            .collect();
        assert_eq!(sent.len(), 1);
        assert!(matches!(
            sent[0].1,
            NetEvent::Sent {
                status: Some(200),
                ..
            }
        ));
    }

    #[test]
    fn time_only_jumps_forward_and_idle_nets_report_idle() {
        let mut n = net(FaultPlan::none(), 2);
        assert_eq!(
            n.run_until(Instant::from_millis(5_000), &mut |_, _| {}),
            RunEnd::Idle
        );
        n.sleep_until(Instant::from_millis(5_000), &mut |_, _| {});
        assert_eq!(n.now(), Instant::from_millis(5_000));
        let _ = n.submit(clusters_request(), RequestOptions::new());
        // A hung request keeps a timer pending: the horizon is reached.
        let mut hung = net(FaultPlan::parse("hang=1").unwrap(), 3);
        let _ = hung.submit(clusters_request(), RequestOptions::new());
        let end = hung.run_until(Instant::from_millis(1_000), &mut |_, _| {});
        assert_eq!(end, RunEnd::Reached);
        assert_eq!(hung.now(), Instant::from_millis(1_000));
        assert_eq!(
            n.run_until(Instant::from_millis(9_000), &mut |_, _| {}),
            RunEnd::Idle
        );
    }
}
