//! Properties of the request queue, checked against a plain reference model
//! over random sequences of push / pop / remove / expire / drain in virtual
//! time (including time going backwards).
//!
//! - FIFO within a priority: a popped entry never overtakes an earlier,
//!   unexpired entry of its own priority; strict priority between levels.
//! - The queue never holds more than its capacity.
//! - Every pushed item leaves exactly once — refused, popped, removed, expired,
//!   drained, or still queued at the end. Nothing is lost or duplicated.
//! - Lengths, oldest wait and next deadline match the model after every step.
//! - No sequence panics.

use std::collections::HashMap;

use novitai_core::queue::{Priority, Queue, QueueConfig, QueueId};
use novitai_core::{Duration, Instant};
use proptest::prelude::*;

#[derive(Clone, Debug)]
enum Op {
    Push {
        priority: Priority,
        /// Deadline relative to the clock; `None` = no deadline.
        deadline: Option<u64>,
    },
    Pop,
    /// Remove the id pushed `pick`-th (modulo the pushes so far), whether or
    /// not it is still queued.
    Remove {
        pick: usize,
    },
    /// Remove an id that was never handed out.
    RemoveUnknown,
    Expire,
    Advance(u64),
    /// Call with a `now` earlier than the clock.
    Rewind(u64),
    Drain,
}

fn priority() -> impl Strategy<Value = Priority> {
    prop_oneof![
        Just(Priority::High),
        Just(Priority::Normal),
        Just(Priority::Low)
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        10 => (priority(), proptest::option::weighted(0.6, 0u64..200))
            .prop_map(|(priority, deadline)| Op::Push { priority, deadline }),
        6 => Just(Op::Pop),
        3 => any::<usize>().prop_map(|pick| Op::Remove { pick }),
        1 => Just(Op::RemoveUnknown),
        4 => Just(Op::Expire),
        4 => (0u64..80).prop_map(Op::Advance),
        1 => (0u64..80).prop_map(Op::Rewind),
        1 => Just(Op::Drain),
    ]
}

#[derive(Clone, Debug)]
struct Entry {
    id: QueueId,
    priority: Priority,
    enqueued_at: Instant,
    deadline: Option<Instant>,
    token: u64,
}

fn rank(p: Priority) -> u8 {
    match p {
        Priority::High => 0,
        Priority::Normal => 1,
        Priority::Low => 2,
    }
}

fn expired(e: &Entry, now: Instant) -> bool {
    e.deadline.is_some_and(|d| d <= now)
}

#[derive(Debug, Default)]
struct Ledger {
    /// How many times each token left, by any route.
    left: HashMap<u64, u32>,
}

impl Ledger {
    fn leave(&mut self, token: u64) {
        *self.left.entry(token).or_default() += 1;
    }
}

fn run(capacity: usize, ops: Vec<Op>) -> Result<(), TestCaseError> {
    let mut q: Queue<u64> = Queue::new(QueueConfig::new(capacity).expect("capacity >= 1"));
    let mut model: Vec<Entry> = Vec::new();
    // `now` is what the test passes; `clock` is the queue's view: the latest
    // `now` any mutating call has seen (time never goes back for the queue).
    let mut clock = Instant::ZERO;
    let mut now = Instant::ZERO;
    let mut next_token = 0u64;
    let mut pushed: Vec<QueueId> = Vec::new();
    let mut last_id: Option<QueueId> = None;
    let mut ledger = Ledger::default();

    for op in ops {
        let mutates = matches!(op, Op::Push { .. } | Op::Pop | Op::Expire);
        if mutates {
            clock = clock.max(now);
        }
        match op {
            Op::Push { priority, deadline } => {
                let token = next_token;
                next_token += 1;
                let deadline = deadline.map(|d| now + Duration::from_millis(d));
                match q.push(token, priority, deadline, now) {
                    Ok(id) => {
                        prop_assert!(model.len() < capacity, "accepted past capacity");
                        if let Some(last) = last_id {
                            prop_assert!(id > last, "ids must increase");
                        }
                        last_id = Some(id);
                        pushed.push(id);
                        model.push(Entry {
                            id,
                            priority,
                            enqueued_at: clock,
                            deadline,
                            token,
                        });
                    }
                    Err(full) => {
                        prop_assert_eq!(model.len(), capacity, "refused while not full");
                        prop_assert_eq!(full.capacity, capacity);
                        prop_assert_eq!(full.into_inner(), token, "the item comes back");
                        ledger.leave(token);
                    }
                }
            }
            Op::Pop => {
                let expect = model
                    .iter()
                    .enumerate()
                    .filter(|(_, e)| !expired(e, clock))
                    .min_by_key(|(_, e)| (rank(e.priority), e.id))
                    .map(|(i, _)| i);
                let got = q.pop(now);
                match (expect, got) {
                    (None, None) => {}
                    (Some(i), Some(d)) => {
                        let e = model.remove(i);
                        prop_assert_eq!(d.id, e.id);
                        prop_assert_eq!(d.item, e.token);
                        prop_assert_eq!(d.priority, e.priority);
                        prop_assert_eq!(d.enqueued_at, e.enqueued_at);
                        prop_assert_eq!(d.deadline, e.deadline);
                        prop_assert!(!expired(&e, clock), "popped an expired entry");
                        // FIFO within the level; strict priority between levels.
                        for other in model.iter().filter(|o| !expired(o, clock)) {
                            prop_assert!(
                                !(other.priority == e.priority && other.id < e.id),
                                "{:?} overtook earlier {:?}",
                                e.id,
                                other.id
                            );
                            prop_assert!(rank(other.priority) >= rank(e.priority));
                        }
                        ledger.leave(d.item);
                    }
                    (e, g) => prop_assert!(false, "pop: model {e:?}, queue {g:?}"),
                }
            }
            Op::Remove { pick } => {
                if pushed.is_empty() {
                    continue;
                }
                let id = pushed[pick % pushed.len()];
                let expect = model.iter().position(|e| e.id == id);
                let got = q.remove(id);
                match (expect, got) {
                    (None, None) => {}
                    (Some(i), Some(item)) => {
                        let e = model.remove(i);
                        prop_assert_eq!(item, e.token);
                        ledger.leave(item);
                    }
                    (e, g) => prop_assert!(false, "remove {id:?}: model {e:?}, queue {g:?}"),
                }
            }
            Op::RemoveUnknown => {
                prop_assert_eq!(q.remove(QueueId::from_u64(u64::MAX)), None);
            }
            Op::Expire => {
                let expect = model
                    .iter()
                    .enumerate()
                    .filter(|(_, e)| expired(e, clock))
                    .min_by_key(|(_, e)| (e.deadline, e.id))
                    .map(|(i, _)| i);
                let got = q.poll_expired(now);
                match (expect, got) {
                    (None, None) => {}
                    (Some(i), Some(x)) => {
                        let e = model.remove(i);
                        prop_assert_eq!(x.id, e.id);
                        prop_assert_eq!(x.item, e.token);
                        prop_assert_eq!(x.priority, e.priority);
                        prop_assert_eq!(Some(x.deadline), e.deadline);
                        prop_assert!(x.deadline <= clock);
                        ledger.leave(x.item);
                    }
                    (e, g) => prop_assert!(false, "poll_expired: model {e:?}, queue {g:?}"),
                }
            }
            Op::Advance(ms) => {
                now = now.max(clock) + Duration::from_millis(ms);
            }
            Op::Rewind(ms) => {
                // The queue must treat this as "no time passed".
                now = now - Duration::from_millis(ms);
            }
            Op::Drain => {
                let mut expect = std::mem::take(&mut model);
                expect.sort_by_key(|e| (rank(e.priority), e.id));
                let got: Vec<(QueueId, u64)> = q.drain().map(|d| (d.id, d.item)).collect();
                let want: Vec<(QueueId, u64)> = expect.iter().map(|e| (e.id, e.token)).collect();
                prop_assert_eq!(&got, &want);
                for (_, token) in got {
                    ledger.leave(token);
                }
            }
        }

        // Observable state matches the model after every step. Read-only
        // calls see `max(now, clock)` without moving the clock.
        let seen = clock.max(now);
        prop_assert!(q.len() <= capacity, "over capacity");
        prop_assert_eq!(q.len(), model.len());
        prop_assert_eq!(q.is_full(), model.len() == capacity);
        for p in Priority::ALL {
            prop_assert_eq!(
                q.len_of(p),
                model.iter().filter(|e| e.priority == p).count()
            );
        }
        let next_deadline = model.iter().filter_map(|e| e.deadline).min();
        prop_assert_eq!(q.next_deadline(), next_deadline);
        let oldest = model
            .iter()
            .map(|e| e.enqueued_at)
            .min()
            .map(|t| seen.saturating_duration_since(t));
        prop_assert_eq!(q.oldest_wait(now), oldest);
        let expect_peek = model
            .iter()
            .filter(|e| !expired(e, seen))
            .min_by_key(|e| (rank(e.priority), e.id))
            .map(|e| (e.id, e.token));
        prop_assert_eq!(q.peek(now).map(|(id, _, &t)| (id, t)), expect_peek);
    }

    // Whatever is still queued leaves "by staying": count it once too.
    for (_, _, &token) in q.iter() {
        ledger.leave(token);
    }
    prop_assert_eq!(ledger.left.len() as u64, next_token, "an item was lost");
    for (token, times) in &ledger.left {
        prop_assert_eq!(*times, 1, "token {} left {} times", token, times);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn queue_matches_model_and_loses_nothing(
        capacity in 1usize..8,
        ops in proptest::collection::vec(op(), 0..200),
    ) {
        run(capacity, ops)?;
    }
}

proptest! {
    // Longer sequences; fewer cases keep the debug-build run short.
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn larger_queues_match_model(
        capacity in 8usize..80,
        ops in proptest::collection::vec(op(), 0..600),
    ) {
        run(capacity, ops)?;
    }
}
