//! Bounded sliding windows of call outcomes: a ring of the last N outcomes, or
//! one bucket of counters per second. Both are allocated once, at construction.

use alloc::vec;
use alloc::vec::Vec;
use serde::{Deserialize, Serialize};

use super::config::Window;
use crate::time::Instant;

const FAILED: u8 = 1;
const SLOW: u8 = 2;

/// Calls, failures and slow calls currently in a window.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Totals {
    pub calls: u64,
    pub failures: u64,
    pub slow: u64,
}

impl Totals {
    fn add(&mut self, calls: u64, failures: u64, slow: u64) {
        self.calls = self.calls.saturating_add(calls);
        self.failures = self.failures.saturating_add(failures);
        self.slow = self.slow.saturating_add(slow);
    }
    fn sub(&mut self, calls: u64, failures: u64, slow: u64) {
        self.calls = self.calls.saturating_sub(calls);
        self.failures = self.failures.saturating_sub(failures);
        self.slow = self.slow.saturating_sub(slow);
    }
}

/// One second of a time window.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Bucket {
    sec: u64,
    calls: u64,
    failures: u64,
    slow: u64,
}

/// The window's storage.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Outcomes {
    /// Ring of the last `ring.len()` outcomes (bit 0 failed, bit 1 slow);
    /// `len` of them are filled, the next goes to `pos`.
    Count { ring: Vec<u8>, pos: u32, len: u32 },
    /// One bucket per second, indexed by `sec % buckets.len()`; `head` is the
    /// latest second the window has moved to.
    Time { buckets: Vec<Bucket>, head: u64 },
}

/// A sliding window with running totals.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct SlidingWindow {
    outcomes: Outcomes,
    totals: Totals,
}

impl SlidingWindow {
    /// A window of the given shape (already validated: size >= 1).
    pub fn new(shape: Window) -> Self {
        let outcomes = match shape {
            Window::Count(n) => Outcomes::Count {
                ring: vec![0; n as usize],
                pos: 0,
                len: 0,
            },
            Window::Seconds(n) => Outcomes::Time {
                buckets: vec![Bucket::default(); n as usize],
                head: 0,
            },
        };
        SlidingWindow {
            outcomes,
            totals: Totals::default(),
        }
    }

    /// Does this window's storage fit `shape`? (Checked on deserialisation.)
    pub fn fits(&self, shape: Window) -> bool {
        match (&self.outcomes, shape) {
            (Outcomes::Count { ring, pos, len }, Window::Count(n)) => {
                ring.len() == n as usize && *pos < n && *len <= n
            }
            (Outcomes::Time { buckets, .. }, Window::Seconds(n)) => buckets.len() == n as usize,
            _ => false,
        }
    }

    /// The totals as of the last recorded or advanced instant.
    pub fn totals(&self) -> Totals {
        self.totals
    }

    /// Forgets every outcome (no allocation).
    pub fn clear(&mut self) {
        match &mut self.outcomes {
            Outcomes::Count { ring, pos, len } => {
                ring.fill(0);
                *pos = 0;
                *len = 0;
            }
            Outcomes::Time { buckets, .. } => {
                for b in buckets.iter_mut() {
                    *b = Bucket {
                        sec: b.sec,
                        ..Bucket::default()
                    };
                }
            }
        }
        self.totals = Totals::default();
    }

    /// Drops what has slid out of a time window by `now` (no-op for counts).
    pub fn advance(&mut self, now: Instant) {
        let Outcomes::Time { buckets, head } = &mut self.outcomes else {
            return;
        };
        let sec = now.as_millis() / 1000;
        if sec <= *head {
            return;
        }
        let n = buckets.len() as u64;
        if n == 0 {
            return;
        }
        // Reset every bucket for the seconds (head, sec], at most n of them.
        let from = head.saturating_add(1).max(sec.saturating_sub(n - 1));
        let mut s = from;
        while s <= sec {
            if let Some(b) = buckets.get_mut((s % n) as usize) {
                self.totals.sub(b.calls, b.failures, b.slow);
                *b = Bucket {
                    sec: s,
                    ..Bucket::default()
                };
            }
            s += 1;
        }
        *head = sec;
    }

    /// Records one outcome at `now`.
    pub fn record(&mut self, failed: bool, slow: bool, now: Instant) {
        self.advance(now);
        let (f, s) = (u64::from(failed), u64::from(slow));
        match &mut self.outcomes {
            Outcomes::Count { ring, pos, len } => {
                let cap = ring.len() as u32;
                let Some(slot) = ring.get_mut(*pos as usize) else {
                    return;
                };
                if *len == cap {
                    let old = *slot;
                    self.totals
                        .sub(1, u64::from(old & FAILED != 0), u64::from(old & SLOW != 0));
                } else {
                    *len += 1;
                }
                *slot = (if failed { FAILED } else { 0 }) | (if slow { SLOW } else { 0 });
                *pos = if *pos + 1 >= cap { 0 } else { *pos + 1 };
            }
            Outcomes::Time { buckets, head } => {
                let n = buckets.len() as u64;
                if n == 0 {
                    return;
                }
                let Some(b) = buckets.get_mut((*head % n) as usize) else {
                    return;
                };
                b.calls = b.calls.saturating_add(1);
                b.failures = b.failures.saturating_add(f);
                b.slow = b.slow.saturating_add(s);
            }
        }
        self.totals.add(1, f, s);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: u64) -> Instant {
        Instant::from_millis(ms)
    }

    #[test]
    fn count_window_keeps_only_the_last_n_outcomes() {
        let mut w = SlidingWindow::new(Window::Count(3));
        w.record(true, false, at(0));
        w.record(true, true, at(0));
        w.record(false, false, at(0));
        assert_eq!(
            w.totals(),
            Totals {
                calls: 3,
                failures: 2,
                slow: 1
            }
        );
        w.record(false, false, at(0)); // pushes out the first failure
        assert_eq!(
            w.totals(),
            Totals {
                calls: 3,
                failures: 1,
                slow: 1
            }
        );
        w.record(false, false, at(0)); // pushes out the slow failure
        assert_eq!(
            w.totals(),
            Totals {
                calls: 3,
                failures: 0,
                slow: 0
            }
        );
    }

    #[test]
    fn time_window_forgets_seconds_that_slid_out() {
        let mut w = SlidingWindow::new(Window::Seconds(10));
        w.record(true, false, at(500)); // second 0
        w.record(true, false, at(5_200)); // second 5
        assert_eq!(w.totals().failures, 2);
        w.advance(at(9_999)); // second 9: both still in (0..=9)
        assert_eq!(w.totals().failures, 2);
        w.advance(at(10_000)); // second 10: second 0 slid out
        assert_eq!(w.totals().failures, 1);
        w.advance(at(1_000_000)); // far later: everything gone, in at most 10 steps
        assert_eq!(w.totals(), Totals::default());
        w.record(false, false, at(1_000_500));
        assert_eq!(w.totals().calls, 1);
    }

    #[test]
    fn time_window_ignores_time_going_backwards() {
        let mut w = SlidingWindow::new(Window::Seconds(2));
        w.record(true, false, at(10_000));
        w.record(true, false, at(3_000)); // counted in the current head second
        assert_eq!(w.totals().failures, 2);
        w.advance(at(12_000));
        assert_eq!(w.totals().failures, 0);
    }

    #[test]
    fn clear_forgets_everything() {
        for shape in [Window::Count(4), Window::Seconds(4)] {
            let mut w = SlidingWindow::new(shape);
            w.record(true, true, at(1_000));
            w.clear();
            assert_eq!(w.totals(), Totals::default());
            assert!(w.fits(shape));
            w.advance(at(9_000));
            assert_eq!(w.totals(), Totals::default());
        }
    }
}
