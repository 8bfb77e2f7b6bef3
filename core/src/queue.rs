//! The request queue: bounded, fair, prioritised, with per-request deadlines.
//!
//! [`Queue<T>`] holds work that has been accepted but not yet started. The
//! request engine pushes every submitted request here and pops the next one
//! whenever its concurrency cap, rate limiter and circuit breaker allow.
//!
//! # Guarantees
//!
//! - **Bounded.** At most [`QueueConfig::capacity`] entries are queued, across
//!   all priorities. A push beyond that is refused with [`QueueFull`], which
//!   hands the item back, so nothing is silently dropped. There is no eviction:
//!   a high-priority push into a full queue is refused like any other.
//! - **Fair within a priority.** Entries of the same [`Priority`] leave in the
//!   order they arrived. Nothing overtakes an earlier entry of its own priority.
//! - **Strict priority between levels.** [`pop`](Queue::pop) always serves
//!   [`Priority::High`] before [`Priority::Normal`] before [`Priority::Low`].
//!   *Trade-off:* under a sustained stream of higher-priority work, lower
//!   levels can starve. That is deliberate — it is the simplest rule a user can
//!   predict — and it is bounded by deadlines: give low-priority requests a
//!   deadline and they leave as [`Expired`] instead of waiting forever. Watch
//!   [`oldest_wait`](Queue::oldest_wait) and the per-level
//!   [`len_of`](Queue::len_of) to notice starvation.
//! - **Deadlines.** An entry may carry a deadline. Once `now >= deadline` it is
//!   *expired*: [`pop`](Queue::pop) and [`peek`](Queue::peek) never return it,
//!   and [`poll_expired`](Queue::poll_expired) hands it out exactly once as
//!   [`Expired`], earliest deadline first.
//!   [`next_deadline`](Queue::next_deadline) says when to wake up for that.
//! - **Exactly once.** Every pushed item leaves exactly once: popped, removed by
//!   id ([`remove`](Queue::remove)), expired, or drained
//!   ([`drain`](Queue::drain)). Ids ([`QueueId`]) increase monotonically and
//!   are never reused.
//! - **Time is an argument.** Methods take `now`. A `now` earlier than one seen
//!   before is treated as "no time passed": the queue's clock never goes back,
//!   so an entry once expired stays expired.
//!
//! # Complexity
//!
//! `n` is the number of queued entries. Each priority is a `VecDeque` in arrival
//! order (so sorted by id); deadlines are indexed by a min-heap of
//! `(deadline, id)` whose entries for already-departed items are dropped lazily
//! and compacted once they outnumber the live ones.
//!
//! | operation | cost |
//! |---|---|
//! | [`push`](Queue::push) | O(1) amortised; O(log n) more with a deadline |
//! | [`pop`](Queue::pop), [`peek`](Queue::peek) | O(1) while nothing queued is expired (plus O(log n) if the popped entry held the earliest deadline); otherwise O(1 + k) for the k expired entries it steps over — drain [`poll_expired`](Queue::poll_expired) first to keep it O(1) |
//! | [`poll_expired`](Queue::poll_expired) | O(1) when nothing is due (one comparison with the earliest deadline); O(log n) amortised per expired entry, plus moving the entries between it and the nearer end of its deque |
//! | [`remove`](Queue::remove) | O(log n) to find, plus moving the entries between it and the nearer end of its deque |
//! | [`next_deadline`](Queue::next_deadline), [`len`](Queue::len), [`len_of`](Queue::len_of), [`oldest_wait`](Queue::oldest_wait) | O(1) |
//!
//! No operation allocates once the deques and the heap have grown to their
//! high-water mark (at most `capacity` entries per priority and
//! `2 × capacity + 33` heap entries); see `core/tests/queue_no_alloc.rs`.
//!
//! # Example
//!
//! ```
//! use novitai_core::queue::{Expired, Priority, Queue, QueueConfig};
//! use novitai_core::{Duration, Instant};
//!
//! let mut queue = Queue::new(QueueConfig::new(2)?);
//! let t0 = Instant::ZERO;
//!
//! let a = queue.push("list instances", Priority::Normal, None, t0).expect("room");
//! let b = queue
//!     .push("create instance", Priority::High, Some(t0 + Duration::from_secs(5)), t0)
//!     .expect("room");
//!
//! // The queue holds 2; a third push is refused and the item handed back.
//! let full = queue.push("stop instance", Priority::Low, None, t0).unwrap_err();
//! assert_eq!(full.into_inner(), "stop instance");
//!
//! // Ten seconds later the high-priority request has missed its deadline: it
//! // leaves exactly once, as `Expired`, and `pop` skips it.
//! let t1 = t0 + Duration::from_secs(10);
//! assert_eq!(queue.next_deadline(), Some(t0 + Duration::from_secs(5)));
//! let expired: Expired<&str> = queue.poll_expired(t1).expect("due");
//! assert_eq!((expired.id, expired.item), (b, "create instance"));
//! assert!(queue.poll_expired(t1).is_none());
//!
//! let next = queue.pop(t1).expect("one left");
//! assert_eq!((next.id, next.item), (a, "list instances"));
//! assert_eq!(next.waited(t1), Duration::from_secs(10));
//! assert!(queue.is_empty());
//! # Ok::<(), novitai_core::queue::QueueConfigError>(())
//! ```

use alloc::collections::{BinaryHeap, VecDeque};
use core::cmp::{Ordering, Reverse};
use core::fmt;
use serde::{Deserialize, Serialize};

use crate::time::{Duration, Instant};

// ---------------------------------------------------------------------------
// Configuration
// ---------------------------------------------------------------------------

/// How big the queue may get.
///
/// Build it with [`QueueConfig::new`], which refuses a capacity of zero, or
/// take [`QueueConfig::default`]. Deserialising validates the same way.
///
/// # Default
///
/// | field | default |
/// |---|---|
/// | `capacity` | 1000 entries ([`QueueConfig::DEFAULT_CAPACITY`]), across all priorities |
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "RawQueueConfig")]
pub struct QueueConfig {
    capacity: usize,
}

/// The unvalidated wire form of [`QueueConfig`].
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawQueueConfig {
    #[serde(default = "default_capacity")]
    capacity: usize,
}

fn default_capacity() -> usize {
    QueueConfig::DEFAULT_CAPACITY
}

impl TryFrom<RawQueueConfig> for QueueConfig {
    type Error = QueueConfigError;
    fn try_from(raw: RawQueueConfig) -> Result<Self, Self::Error> {
        QueueConfig::new(raw.capacity)
    }
}

impl QueueConfig {
    /// The default capacity: 1000 entries.
    pub const DEFAULT_CAPACITY: usize = 1000;

    /// A queue holding at most `capacity` entries in total (all priorities).
    ///
    /// # Errors
    ///
    /// [`QueueConfigError::ZeroCapacity`] when `capacity` is 0: such a queue
    /// could accept nothing.
    pub const fn new(capacity: usize) -> Result<QueueConfig, QueueConfigError> {
        if capacity == 0 {
            return Err(QueueConfigError::ZeroCapacity);
        }
        Ok(QueueConfig { capacity })
    }

    /// The most entries the queue holds at once, across all priorities.
    #[must_use]
    pub const fn capacity(&self) -> usize {
        self.capacity
    }
}

impl Default for QueueConfig {
    fn default() -> Self {
        QueueConfig {
            capacity: QueueConfig::DEFAULT_CAPACITY,
        }
    }
}

/// Why a [`QueueConfig`] was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum QueueConfigError {
    /// `capacity` was 0.
    ZeroCapacity,
}

impl fmt::Display for QueueConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            QueueConfigError::ZeroCapacity => write!(
                f,
                "queue `capacity` is 0, but it must be between 1 and {} \
                 (the default is {})",
                usize::MAX,
                QueueConfig::DEFAULT_CAPACITY
            ),
        }
    }
}

impl core::error::Error for QueueConfigError {}

// ---------------------------------------------------------------------------
// Ids, priorities, outcomes
// ---------------------------------------------------------------------------

/// The id the queue gives an accepted entry.
///
/// Ids increase monotonically with every accepted push (a refused push uses
/// none) and are never reused by the same queue, so a later id always means a
/// later arrival. They start at 0.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct QueueId(u64);

impl QueueId {
    /// The id as a number (for logs and correlation).
    #[must_use]
    pub const fn as_u64(self) -> u64 {
        self.0
    }

    /// An id from a number, e.g. one read back from a log. An id the queue
    /// never handed out simply matches nothing.
    #[must_use]
    pub const fn from_u64(id: u64) -> QueueId {
        QueueId(id)
    }
}

impl fmt::Display for QueueId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "q{}", self.0)
    }
}

/// How urgent an entry is. Levels are strict: every `High` entry that is not
/// expired leaves before any `Normal` one, and every `Normal` before any `Low`.
///
/// The default is [`Priority::Normal`].
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Priority {
    /// Served first.
    High,
    /// Served when no `High` entry is waiting.
    #[default]
    Normal,
    /// Served only when nothing else is waiting; may starve under load (give
    /// these a deadline).
    Low,
}

impl Priority {
    /// Every level, in the order they are served.
    pub const ALL: [Priority; 3] = [Priority::High, Priority::Normal, Priority::Low];
}

impl fmt::Display for Priority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Priority::High => "high",
            Priority::Normal => "normal",
            Priority::Low => "low",
        })
    }
}

/// A push refused because the queue was full. The item is inside: take it
/// back with [`QueueFull::into_inner`] (or the public field).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueueFull<T> {
    /// The item that was not queued, handed back untouched.
    pub item: T,
    /// The queue's capacity at the time (it was holding this many entries).
    pub capacity: usize,
}

impl<T> QueueFull<T> {
    /// The item that was not queued.
    #[must_use]
    pub fn into_inner(self) -> T {
        self.item
    }
}

impl<T> fmt::Display for QueueFull<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the request queue is full ({} entries); the request was not queued — \
             retry later or raise the queue `capacity`",
            self.capacity
        )
    }
}

impl<T: fmt::Debug> core::error::Error for QueueFull<T> {}

/// An entry handed out by [`Queue::pop`] or [`Queue::drain`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dequeued<T> {
    /// Its id.
    pub id: QueueId,
    /// Its priority.
    pub priority: Priority,
    /// When it was pushed (the queue's clock at the time).
    pub enqueued_at: Instant,
    /// Its deadline, if it had one (not yet reached when popped).
    pub deadline: Option<Instant>,
    /// The item.
    pub item: T,
}

impl<T> Dequeued<T> {
    /// How long it waited in the queue, up to `now` (zero if `now` is earlier
    /// than the push).
    #[must_use]
    pub fn waited(&self, now: Instant) -> Duration {
        now.saturating_duration_since(self.enqueued_at)
    }
}

/// An entry whose deadline passed while it was queued, handed out once by
/// [`Queue::poll_expired`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Expired<T> {
    /// Its id.
    pub id: QueueId,
    /// Its priority.
    pub priority: Priority,
    /// When it was pushed (the queue's clock at the time).
    pub enqueued_at: Instant,
    /// The deadline it missed.
    pub deadline: Instant,
    /// The item.
    pub item: T,
}

impl<T> Expired<T> {
    /// How long it waited before its deadline came (zero if the deadline was
    /// already past at the push).
    #[must_use]
    pub fn waited(&self) -> Duration {
        self.deadline.saturating_duration_since(self.enqueued_at)
    }
}

/// A snapshot of the queue for dashboards and status endpoints (the seed's
/// `getQueueStatus`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct QueueStatus {
    /// Entries queued, all priorities.
    pub len: usize,
    /// Entries queued at [`Priority::High`].
    pub high: usize,
    /// Entries queued at [`Priority::Normal`].
    pub normal: usize,
    /// Entries queued at [`Priority::Low`].
    pub low: usize,
    /// The configured capacity.
    pub capacity: usize,
    /// How long the longest-waiting entry has waited, if any is queued.
    pub oldest_wait: Option<Duration>,
    /// The earliest deadline among queued entries, if any has one.
    pub next_deadline: Option<Instant>,
}

// ---------------------------------------------------------------------------
// The queue
// ---------------------------------------------------------------------------

#[derive(Clone, Debug)]
struct Slot<T> {
    id: QueueId,
    enqueued_at: Instant,
    deadline: Option<Instant>,
    item: T,
}

impl<T> Slot<T> {
    fn is_expired(&self, now: Instant) -> bool {
        self.deadline.is_some_and(|d| d <= now)
    }
}

/// One entry of the deadline index: ordered by `(at, id)`; `priority` only
/// says which deque to look in. Ids are unique, so the order is total.
#[derive(Clone, Copy, Debug)]
struct DeadlineKey {
    at: Instant,
    id: QueueId,
    priority: Priority,
}

impl PartialEq for DeadlineKey {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for DeadlineKey {}
impl PartialOrd for DeadlineKey {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for DeadlineKey {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.at, self.id).cmp(&(other.at, other.id))
    }
}

/// Stale heap entries tolerated before a compaction, on top of one per live
/// deadline (so the heap never exceeds `2 × live + COMPACT_SLACK + 1`).
const COMPACT_SLACK: usize = 32;

type Lanes<T> = [VecDeque<Slot<T>>; 3];

fn lane<T>(lanes: &Lanes<T>, p: Priority) -> &VecDeque<Slot<T>> {
    let [high, normal, low] = lanes;
    match p {
        Priority::High => high,
        Priority::Normal => normal,
        Priority::Low => low,
    }
}

fn lane_mut<T>(lanes: &mut Lanes<T>, p: Priority) -> &mut VecDeque<Slot<T>> {
    let [high, normal, low] = lanes;
    match p {
        Priority::High => high,
        Priority::Normal => normal,
        Priority::Low => low,
    }
}

/// Where entry `id` sits in its deque, if it is still queued. Each deque is in
/// arrival order, hence sorted by id.
fn position<T>(lane: &VecDeque<Slot<T>>, id: QueueId) -> Option<usize> {
    lane.binary_search_by_key(&id, |s| s.id).ok()
}

/// A bounded, fair, prioritised FIFO of `T` with per-entry deadlines.
///
/// See the [module docs](self) for the guarantees, the starvation trade-off
/// and the cost of each operation.
///
/// Methods are grouped as: construction, getters, mutations (`push`, `pop`,
/// `remove`, `drain`), and `poll_expired`.
#[derive(Clone, Debug)]
pub struct Queue<T> {
    config: QueueConfig,
    /// One deque per priority, served `High`, `Normal`, `Low`.
    lanes: Lanes<T>,
    /// Min-heap over the deadlines of queued entries. May also hold entries
    /// that already left (lazy deletion); invariant: the top, if any, is live.
    deadlines: BinaryHeap<Reverse<DeadlineKey>>,
    /// Queued entries that have a deadline (the live part of `deadlines`).
    with_deadline: usize,
    /// The id the next accepted push gets.
    next_id: u64,
    /// The latest `now` seen: the queue's clock never goes back.
    clock: Instant,
}

impl<T> Default for Queue<T> {
    fn default() -> Self {
        Queue::new(QueueConfig::default())
    }
}

impl<T> Queue<T> {
    /// An empty queue. Allocates nothing until the first push.
    #[must_use]
    pub fn new(config: QueueConfig) -> Queue<T> {
        Queue {
            config,
            lanes: [VecDeque::new(), VecDeque::new(), VecDeque::new()],
            deadlines: BinaryHeap::new(),
            with_deadline: 0,
            next_id: 0,
            clock: Instant::ZERO,
        }
    }

    // ----- getters ---------------------------------------------------------

    /// The configuration it was built with.
    #[must_use]
    pub fn config(&self) -> QueueConfig {
        self.config
    }

    /// The most entries it holds at once, across all priorities.
    #[must_use]
    pub fn capacity(&self) -> usize {
        self.config.capacity
    }

    /// Entries queued, all priorities (including expired ones not yet drained
    /// by [`poll_expired`](Queue::poll_expired)).
    #[must_use]
    pub fn len(&self) -> usize {
        self.lanes.iter().map(VecDeque::len).sum()
    }

    /// Entries queued at `priority`.
    #[must_use]
    pub fn len_of(&self, priority: Priority) -> usize {
        lane(&self.lanes, priority).len()
    }

    /// `true` when nothing is queued.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.lanes.iter().all(VecDeque::is_empty)
    }

    /// `true` when a push would be refused with [`QueueFull`].
    #[must_use]
    pub fn is_full(&self) -> bool {
        self.len() >= self.config.capacity
    }

    /// How many more entries fit.
    #[must_use]
    pub fn remaining(&self) -> usize {
        self.config.capacity.saturating_sub(self.len())
    }

    /// `true` while entry `id` is queued (expired but not yet drained counts).
    #[must_use]
    pub fn contains(&self, id: QueueId) -> bool {
        self.locate(id).is_some()
    }

    /// The item of queued entry `id`.
    #[must_use]
    pub fn get(&self, id: QueueId) -> Option<&T> {
        let (p, i) = self.locate(id)?;
        lane(&self.lanes, p).get(i).map(|s| &s.item)
    }

    /// How long the longest-waiting queued entry has waited at `now`, or
    /// `None` when the queue is empty. Counts entries of every priority,
    /// including expired ones not yet drained.
    ///
    /// Changes with every push, pop, removal and expiry, and as `now` moves.
    #[must_use]
    pub fn oldest_wait(&self, now: Instant) -> Option<Duration> {
        let now = now.max(self.clock);
        self.lanes
            .iter()
            .filter_map(|l| l.front().map(|s| s.enqueued_at))
            .min()
            .map(|t| now.saturating_duration_since(t))
    }

    /// The earliest deadline among queued entries, or `None` if none has one.
    ///
    /// If it is at or before `now`, [`poll_expired`](Queue::poll_expired) has
    /// something to hand out; otherwise the caller should wake up at this
    /// instant to expire it. Changes with every push with a deadline and every
    /// departure of the entry that holds it.
    #[must_use]
    pub fn next_deadline(&self) -> Option<Instant> {
        self.deadlines.peek().map(|Reverse(k)| k.at)
    }

    /// A snapshot of lengths, capacity, oldest wait and next deadline.
    #[must_use]
    pub fn status(&self, now: Instant) -> QueueStatus {
        QueueStatus {
            len: self.len(),
            high: self.len_of(Priority::High),
            normal: self.len_of(Priority::Normal),
            low: self.len_of(Priority::Low),
            capacity: self.config.capacity,
            oldest_wait: self.oldest_wait(now),
            next_deadline: self.next_deadline(),
        }
    }

    /// The entry [`pop`](Queue::pop) would return at `now`, without removing
    /// it: its id, priority and item.
    #[must_use]
    pub fn peek(&self, now: Instant) -> Option<(QueueId, Priority, &T)> {
        let now = now.max(self.clock);
        let (p, i) = self.next_ready(now)?;
        lane(&self.lanes, p).get(i).map(|s| (s.id, p, &s.item))
    }

    /// Every queued entry, in the order `pop` would serve them if no deadline
    /// passed: `High` first, then `Normal`, then `Low`, each in arrival order.
    /// Expired entries not yet drained are included.
    pub fn iter(&self) -> impl Iterator<Item = (QueueId, Priority, &T)> + '_ {
        Priority::ALL
            .into_iter()
            .flat_map(move |p| lane(&self.lanes, p).iter().map(move |s| (s.id, p, &s.item)))
    }

    // ----- mutations -------------------------------------------------------

    /// Queues `item` at `priority`, optionally with a `deadline`, and returns
    /// its id.
    ///
    /// A deadline at or before `now` is accepted: the entry is expired at once
    /// and leaves through [`poll_expired`](Queue::poll_expired), so the caller
    /// still gets exactly one outcome for it.
    ///
    /// # Errors
    ///
    /// [`QueueFull`] when [`capacity`](Queue::capacity) entries are already
    /// queued; it carries `item` back. No id is used up.
    pub fn push(
        &mut self,
        item: T,
        priority: Priority,
        deadline: Option<Instant>,
        now: Instant,
    ) -> Result<QueueId, QueueFull<T>> {
        // Every call that takes `now` moves the clock, a refused push included.
        self.clock = self.clock.max(now);
        if self.is_full() {
            return Err(QueueFull {
                item,
                capacity: self.config.capacity,
            });
        }
        let id = QueueId(self.next_id);
        // 2^64 pushes are out of reach (585 years at one per nanosecond).
        self.next_id = self.next_id.saturating_add(1);
        lane_mut(&mut self.lanes, priority).push_back(Slot {
            id,
            enqueued_at: self.clock,
            deadline,
            item,
        });
        if let Some(at) = deadline {
            self.deadlines
                .push(Reverse(DeadlineKey { at, id, priority }));
            self.with_deadline = self.with_deadline.saturating_add(1);
        }
        Ok(id)
    }

    /// Takes the next entry to run at `now`: the earliest-pushed entry of the
    /// highest priority that has one whose deadline has not been reached.
    /// Never returns an expired entry; those stay for
    /// [`poll_expired`](Queue::poll_expired). `None` when nothing is ready.
    #[must_use = "a popped entry must be run or otherwise completed"]
    pub fn pop(&mut self, now: Instant) -> Option<Dequeued<T>> {
        self.clock = self.clock.max(now);
        let (priority, i) = self.next_ready(self.clock)?;
        let slot = lane_mut(&mut self.lanes, priority).remove(i)?;
        self.forget_deadline(&slot);
        Some(Dequeued {
            id: slot.id,
            priority,
            enqueued_at: slot.enqueued_at,
            deadline: slot.deadline,
            item: slot.item,
        })
    }

    /// Cancels queued entry `id` and hands its item back, or `None` if it is
    /// not queued (never was, or already left). FIFO order of the rest is kept.
    pub fn remove(&mut self, id: QueueId) -> Option<T> {
        let (p, i) = self.locate(id)?;
        let slot = lane_mut(&mut self.lanes, p).remove(i)?;
        self.forget_deadline(&slot);
        Some(slot.item)
    }

    /// Hands out one entry whose deadline is at or before `now`, earliest
    /// deadline first (ties in arrival order), or `None` when none is due.
    /// Each expired entry comes out exactly once; call until `None`.
    ///
    /// Costs one comparison when nothing is due.
    #[must_use = "an expired entry must be completed (e.g. as timed out)"]
    pub fn poll_expired(&mut self, now: Instant) -> Option<Expired<T>> {
        self.clock = self.clock.max(now);
        let Reverse(key) = *self.deadlines.peek()?;
        if key.at > self.clock {
            return None;
        }
        self.deadlines.pop();
        // The top is live by invariant, so this finds it.
        let lane = lane_mut(&mut self.lanes, key.priority);
        let slot = position(lane, key.id).and_then(|i| lane.remove(i));
        self.with_deadline = self.with_deadline.saturating_sub(1);
        self.settle();
        let slot = slot?;
        Some(Expired {
            id: slot.id,
            priority: key.priority,
            enqueued_at: slot.enqueued_at,
            deadline: key.at,
            item: slot.item,
        })
    }

    /// Removes every entry, in the order `pop` would serve them if no deadline
    /// passed (deadlines are ignored: use this to hand everything back on
    /// shutdown). The queue is empty afterwards even if the iterator is dropped
    /// early.
    pub fn drain(&mut self) -> impl Iterator<Item = Dequeued<T>> + '_ {
        self.deadlines.clear();
        self.with_deadline = 0;
        let [high, normal, low] = &mut self.lanes;
        let tag = |p: Priority| {
            move |s: Slot<T>| Dequeued {
                id: s.id,
                priority: p,
                enqueued_at: s.enqueued_at,
                deadline: s.deadline,
                item: s.item,
            }
        };
        high.drain(..)
            .map(tag(Priority::High))
            .chain(normal.drain(..).map(tag(Priority::Normal)))
            .chain(low.drain(..).map(tag(Priority::Low)))
    }

    /// Gives memory above the current contents back to the allocator (the
    /// queue otherwise keeps its high-water mark so steady state never
    /// allocates).
    pub fn shrink_to_fit(&mut self) {
        self.compact();
        for lane in &mut self.lanes {
            lane.shrink_to_fit();
        }
        self.deadlines.shrink_to_fit();
    }

    // ----- internals -------------------------------------------------------

    fn locate(&self, id: QueueId) -> Option<(Priority, usize)> {
        Priority::ALL
            .into_iter()
            .find_map(|p| position(lane(&self.lanes, p), id).map(|i| (p, i)))
    }

    /// The deque and index of the entry to serve at `now`.
    fn next_ready(&self, now: Instant) -> Option<(Priority, usize)> {
        // Fast path: the earliest deadline is still ahead, so nothing is expired.
        let any_expired = self.deadlines.peek().is_some_and(|Reverse(k)| k.at <= now);
        Priority::ALL.into_iter().find_map(|p| {
            let lane = lane(&self.lanes, p);
            if any_expired {
                lane.iter().position(|s| !s.is_expired(now)).map(|i| (p, i))
            } else if lane.is_empty() {
                None
            } else {
                Some((p, 0))
            }
        })
    }

    /// Bookkeeping after `slot` left by pop or remove.
    fn forget_deadline(&mut self, slot: &Slot<T>) {
        if slot.deadline.is_none() {
            return;
        }
        self.with_deadline = self.with_deadline.saturating_sub(1);
        let was_top = self
            .deadlines
            .peek()
            .is_some_and(|Reverse(k)| k.id == slot.id);
        if was_top {
            self.deadlines.pop();
            self.settle();
        } else {
            // Its heap entry is now stale; compact once stale ones dominate.
            let stale = self.deadlines.len().saturating_sub(self.with_deadline);
            if stale > COMPACT_SLACK && stale > self.with_deadline {
                self.compact();
            }
        }
    }

    /// Restores the invariant "the heap's top is live" by dropping stale tops.
    fn settle(&mut self) {
        while let Some(Reverse(k)) = self.deadlines.peek() {
            if position(lane(&self.lanes, k.priority), k.id).is_some() {
                return;
            }
            self.deadlines.pop();
        }
    }

    /// Drops every stale heap entry, in place.
    fn compact(&mut self) {
        let lanes = &self.lanes;
        self.deadlines
            .retain(|Reverse(k)| position(lane(lanes, k.priority), k.id).is_some());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;
    use alloc::vec::Vec;

    fn t(ms: u64) -> Instant {
        Instant::from_millis(ms)
    }

    fn queue(capacity: usize) -> Queue<u32> {
        Queue::new(QueueConfig::new(capacity).expect("valid"))
    }

    fn pop_all(q: &mut Queue<u32>, now: Instant) -> Vec<u32> {
        core::iter::from_fn(|| q.pop(now).map(|d| d.item)).collect()
    }

    #[test]
    fn zero_capacity_is_a_typed_error_that_names_the_field() {
        assert_eq!(QueueConfig::new(0), Err(QueueConfigError::ZeroCapacity));
        let msg = QueueConfigError::ZeroCapacity.to_string();
        assert!(msg.contains("`capacity` is 0"), "{msg}");
        assert!(msg.contains("between 1 and"), "{msg}");
        assert_eq!(QueueConfig::new(1).map(|c| c.capacity()), Ok(1));
    }

    #[test]
    fn default_config_holds_a_thousand() {
        assert_eq!(QueueConfig::default().capacity(), 1000);
        assert_eq!(Queue::<u8>::default().capacity(), 1000);
    }

    #[test]
    fn config_deserialisation_validates_and_defaults() {
        let c: QueueConfig = serde_json::from_str(r#"{"capacity":7}"#).expect("valid");
        assert_eq!(c.capacity(), 7);
        let d: QueueConfig = serde_json::from_str("{}").expect("defaulted");
        assert_eq!(d, QueueConfig::default());
        let err = serde_json::from_str::<QueueConfig>(r#"{"capacity":0}"#).unwrap_err();
        assert!(err.to_string().contains("`capacity` is 0"), "{err}");
        assert!(serde_json::from_str::<QueueConfig>(r#"{"capacity":1,"x":2}"#).is_err());
        let back = serde_json::to_string(&c).expect("serialises");
        assert_eq!(back, r#"{"capacity":7}"#);
    }

    #[test]
    fn priority_and_id_serialise_plainly() {
        assert_eq!(serde_json::to_string(&Priority::High).unwrap(), r#""high""#);
        assert_eq!(serde_json::to_string(&QueueId(42)).unwrap(), "42");
        assert_eq!(Priority::default(), Priority::Normal);
        assert_eq!(QueueId::from_u64(9).to_string(), "q9");
    }

    #[test]
    fn story_a_full_queue_rejects_the_1001st_request_and_hands_it_back() {
        let mut q: Queue<u32> = Queue::default();
        for i in 0..1000 {
            q.push(i, Priority::Normal, None, t(0))
                .expect("room for 1000");
        }
        assert!(q.is_full());
        assert_eq!(q.remaining(), 0);
        let full = q.push(1000, Priority::High, None, t(0)).unwrap_err();
        assert_eq!(full.capacity, 1000);
        assert!(full.to_string().contains("full (1000 entries)"));
        assert_eq!(full.into_inner(), 1000);
        assert_eq!(q.len(), 1000);
        // Once one leaves, there is room again, and the refused push used no id.
        assert_eq!(q.pop(t(1)).map(|d| d.item), Some(0));
        assert_eq!(
            q.push(1000, Priority::Normal, None, t(1)),
            Ok(QueueId(1000))
        );
    }

    #[test]
    fn story_a_high_request_overtakes_normal_ones_but_never_an_earlier_high_one() {
        let mut q = queue(10);
        q.push(1, Priority::Normal, None, t(0)).unwrap();
        q.push(2, Priority::Normal, None, t(1)).unwrap();
        q.push(10, Priority::High, None, t(2)).unwrap();
        q.push(3, Priority::Low, None, t(3)).unwrap();
        q.push(11, Priority::High, None, t(4)).unwrap();
        assert_eq!(pop_all(&mut q, t(5)), [10, 11, 1, 2, 3]);
    }

    #[test]
    fn story_an_expired_request_leaves_exactly_once_with_expired() {
        let mut q = queue(10);
        let a = q.push(1, Priority::High, Some(t(100)), t(0)).unwrap();
        let b = q.push(2, Priority::Normal, None, t(0)).unwrap();
        assert_eq!(q.next_deadline(), Some(t(100)));
        // Before the deadline nothing expires.
        assert_eq!(q.poll_expired(t(99)), None);
        // At the deadline it is expired: pop skips it...
        assert_eq!(q.peek(t(100)).map(|(id, _, _)| id), Some(b));
        // ...and poll_expired hands it out once.
        let e = q.poll_expired(t(100)).expect("due");
        assert_eq!(
            (e.id, e.item, e.deadline, e.priority),
            (a, 1, t(100), Priority::High)
        );
        assert_eq!(e.waited(), Duration::from_millis(100));
        assert_eq!(q.poll_expired(t(100)), None);
        assert_eq!(q.poll_expired(t(1_000_000)), None);
        assert_eq!(q.next_deadline(), None);
        assert_eq!(q.remove(a), None);
        assert_eq!(pop_all(&mut q, t(200)), [2]);
    }

    #[test]
    fn pop_never_returns_an_expired_entry_even_if_expiry_is_not_drained() {
        let mut q = queue(10);
        q.push(1, Priority::High, Some(t(10)), t(0)).unwrap();
        q.push(2, Priority::High, Some(t(50)), t(0)).unwrap();
        q.push(3, Priority::High, None, t(0)).unwrap();
        q.push(4, Priority::Low, Some(t(5)), t(0)).unwrap();
        assert_eq!(q.pop(t(20)).map(|d| d.item), Some(2));
        assert_eq!(q.pop(t(20)).map(|d| d.item), Some(3));
        assert_eq!(q.pop(t(20)), None);
        assert_eq!(q.len(), 2);
        // Expired leave earliest deadline first.
        assert_eq!(q.poll_expired(t(20)).map(|e| e.item), Some(4));
        assert_eq!(q.poll_expired(t(20)).map(|e| e.item), Some(1));
        assert!(q.is_empty());
    }

    #[test]
    fn a_deadline_already_past_at_push_expires_at_once() {
        let mut q = queue(2);
        let id = q.push(7, Priority::Normal, Some(t(5)), t(10)).unwrap();
        assert_eq!(q.pop(t(10)), None);
        let e = q.poll_expired(t(10)).expect("already due");
        assert_eq!((e.id, e.item, e.waited()), (id, 7, Duration::ZERO));
    }

    #[test]
    fn time_going_backwards_is_no_time_passing() {
        let mut q = queue(4);
        q.push(1, Priority::Normal, Some(t(100)), t(50)).unwrap();
        // Seen at t=150: expired...
        assert_eq!(q.pop(t(150)), None);
        // ...and a later call with an earlier clock does not un-expire it.
        assert_eq!(q.poll_expired(t(60)).map(|e| e.item), Some(1));
        // A push with an earlier clock is stamped with the queue's clock.
        q.push(2, Priority::Normal, None, t(10)).unwrap();
        assert_eq!(q.oldest_wait(t(0)), Some(Duration::ZERO));
        assert_eq!(q.pop(t(0)).map(|d| d.enqueued_at), Some(t(150)));
    }

    #[test]
    fn remove_cancels_by_id_and_keeps_fifo() {
        let mut q = queue(10);
        let ids: Vec<QueueId> = (0..5)
            .map(|i| {
                q.push(i, Priority::Normal, Some(t(100 + u64::from(i))), t(0))
                    .unwrap()
            })
            .collect();
        assert_eq!(q.remove(ids[2]), Some(2));
        assert_eq!(q.remove(ids[2]), None);
        assert_eq!(q.remove(QueueId(999)), None);
        assert_eq!(q.remove(ids[0]), Some(0));
        // Removing the earliest deadline moves next_deadline on.
        assert_eq!(q.next_deadline(), Some(t(101)));
        assert!(!q.contains(ids[0]));
        assert_eq!(q.get(ids[3]), Some(&3));
        assert_eq!(pop_all(&mut q, t(0)), [1, 3, 4]);
        assert_eq!(q.next_deadline(), None);
    }

    #[test]
    fn lengths_oldest_wait_and_status() {
        let mut q = queue(10);
        assert_eq!(q.oldest_wait(t(0)), None);
        q.push(1, Priority::Low, None, t(10)).unwrap();
        q.push(2, Priority::High, None, t(30)).unwrap();
        q.push(3, Priority::High, Some(t(500)), t(40)).unwrap();
        assert_eq!(
            (
                q.len(),
                q.len_of(Priority::High),
                q.len_of(Priority::Normal)
            ),
            (3, 2, 0)
        );
        // The oldest is the Low one, although High is served first.
        assert_eq!(q.oldest_wait(t(100)), Some(Duration::from_millis(90)));
        let s = q.status(t(100));
        assert_eq!(
            s,
            QueueStatus {
                len: 3,
                high: 2,
                normal: 0,
                low: 1,
                capacity: 10,
                oldest_wait: Some(Duration::from_millis(90)),
                next_deadline: Some(t(500)),
            }
        );
        let order: Vec<u32> = q.iter().map(|(_, _, &x)| x).collect();
        assert_eq!(order, [2, 3, 1]);
    }

    #[test]
    fn drain_empties_everything_in_serving_order() {
        let mut q = queue(10);
        q.push(1, Priority::Low, Some(t(1)), t(0)).unwrap();
        q.push(2, Priority::High, None, t(0)).unwrap();
        q.push(3, Priority::Normal, Some(t(1)), t(0)).unwrap();
        {
            let mut d = q.drain();
            assert_eq!(d.next().map(|d| d.item), Some(2));
            // Dropped early: the rest go anyway.
        }
        assert!(q.is_empty());
        assert_eq!(q.next_deadline(), None);
        assert_eq!(q.poll_expired(t(100)), None);
        // Ids keep increasing after a drain.
        assert_eq!(q.push(4, Priority::Low, None, t(0)), Ok(QueueId(3)));
    }

    #[test]
    fn stale_deadline_entries_are_compacted_so_memory_stays_bounded() {
        let mut q = queue(4);
        // Entries with far deadlines popped before they expire leave stale heap
        // entries behind the live top; they must not pile up.
        q.push(0, Priority::Low, Some(t(1)), t(0)).unwrap(); // holds the top
        for i in 1..10_000u32 {
            q.push(i, Priority::High, Some(t(1_000_000 + u64::from(i))), t(0))
                .unwrap();
            assert_eq!(q.pop(t(0)).map(|d| d.item), Some(i));
            assert!(q.deadlines.len() <= 2 * q.with_deadline + COMPACT_SLACK + 1);
        }
        assert_eq!(q.next_deadline(), Some(t(1)));
        q.shrink_to_fit();
        assert_eq!(q.deadlines.len(), 1);
    }

    /// Found by `queue_props`: a refused push did not move the queue's clock,
    /// so `oldest_wait` lagged behind the `now` the caller had already shown.
    #[test]
    fn regression_a_refused_push_still_moves_the_clock() {
        let mut q = queue(1);
        q.push(1, Priority::High, None, t(0)).unwrap();
        assert!(q.push(2, Priority::High, None, t(1)).is_err());
        assert_eq!(q.oldest_wait(t(0)), Some(Duration::from_millis(1)));
    }

    #[test]
    fn story_under_sustained_high_load_a_low_request_starves_until_its_deadline_then_expires() {
        let mut q = queue(10);
        let low = q.push(0, Priority::Low, Some(t(1_000)), t(0)).unwrap();
        // Every 100 ms a high-priority request arrives and is served at once.
        for step in 1..=20u32 {
            let now = t(u64::from(step) * 100);
            q.push(step, Priority::High, None, now).unwrap();
            while let Some(e) = q.poll_expired(now) {
                assert_eq!(
                    (e.id, now),
                    (low, t(1_000)),
                    "expires exactly at its deadline"
                );
            }
            assert_eq!(
                q.pop(now).map(|d| d.item),
                Some(step),
                "high is always served first"
            );
        }
        assert!(q.is_empty(), "the low request left once, as Expired");
    }

    #[test]
    fn equal_deadlines_expire_in_arrival_order() {
        let mut q = queue(5);
        q.push(1, Priority::Low, Some(t(10)), t(0)).unwrap();
        q.push(2, Priority::High, Some(t(10)), t(0)).unwrap();
        q.push(3, Priority::Normal, Some(t(10)), t(0)).unwrap();
        let out: Vec<u32> = core::iter::from_fn(|| q.poll_expired(t(10)).map(|e| e.item)).collect();
        assert_eq!(out, [1, 2, 3]);
    }
}
