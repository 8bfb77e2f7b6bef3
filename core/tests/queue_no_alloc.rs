//! The queue makes no heap allocation per push / pop / remove / expiry once its
//! deques and deadline heap have grown to their high-water mark.

use novitai_core::queue::{Priority, Queue, QueueConfig, QueueId};
use novitai_core::{Duration, Instant};

#[derive(Default, Debug)]
struct Tally {
    pushed: u64,
    refused: u64,
    popped: u64,
    removed: u64,
    expired: u64,
}

/// One round of mixed traffic starting at `start`, ending with an empty queue
/// so every round has the same shape (and the same high-water mark).
fn round(q: &mut Queue<u64>, start: Instant, ids: &mut [QueueId; 1200], tally: &mut Tally) {
    let mut now = start;
    // Over-fill: the last 200 pushes are refused and handed back.
    for i in 0..1200u64 {
        let priority = Priority::ALL[(i % 3) as usize];
        let deadline = match i % 4 {
            0 => None,
            1 => Some(now + Duration::from_millis(50 + (i * 37) % 400)),
            2 => Some(now + Duration::from_secs(3600)), // popped long before expiry: stale heap entries
            _ => Some(now + Duration::from_millis(i % 90)),
        };
        match q.push(i, priority, deadline, now) {
            Ok(id) => {
                ids[i as usize] = id;
                tally.pushed += 1;
            }
            Err(full) => {
                assert_eq!(full.into_inner(), i);
                tally.refused += 1;
            }
        }
    }
    // Cancel every 7th.
    for i in (0..1000).step_by(7) {
        if q.remove(ids[i]).is_some() {
            tally.removed += 1;
        }
    }
    // Serve in slices of virtual time, expiring first as an engine would.
    while !q.is_empty() {
        now += Duration::from_millis(40);
        while let Some(e) = q.poll_expired(now) {
            assert!(e.deadline <= now);
            tally.expired += 1;
        }
        let _ = q.status(now);
        let _ = q.peek(now);
        for _ in 0..60 {
            match q.pop(now) {
                Some(d) => {
                    assert!(d.deadline.is_none_or(|at| at > now));
                    tally.popped += 1;
                }
                None => break,
            }
        }
    }
}

#[test]
fn steady_state_push_pop_remove_and_expiry_do_not_allocate() {
    let mut q: Queue<u64> = Queue::new(QueueConfig::default());
    let mut ids = [QueueId::from_u64(0); 1200];
    let mut tally = Tally::default();
    let mut t = Instant::ZERO;

    // Warm-up: let the deques and the heap grow to their high-water mark.
    for _ in 0..3 {
        round(&mut q, t, &mut ids, &mut tally);
        t += Duration::from_secs(10_000);
    }

    let mut measured = Tally::default();
    let info = allocation_counter::measure(|| {
        for _ in 0..30 {
            round(&mut q, t, &mut ids, &mut measured);
            t += Duration::from_secs(10_000);
        }
    });

    // The workload really exercised every path.
    assert_eq!(measured.pushed, 30 * 1000);
    assert_eq!(measured.refused, 30 * 200);
    assert!(measured.removed > 0, "{measured:?}");
    assert!(measured.expired > 0, "{measured:?}");
    assert!(measured.popped > 0, "{measured:?}");
    assert_eq!(
        measured.popped + measured.removed + measured.expired,
        measured.pushed,
        "{measured:?}"
    );
    assert_eq!(info.count_total, 0, "allocations in steady state: {info:?}");
}
