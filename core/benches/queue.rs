//! The queue against what a user would reach for instead: a bare `VecDeque`
//! (FIFO, no priorities, no deadlines) and a `BinaryHeap` keyed by
//! `(priority, sequence)` (priorities, no deadlines, no cancellation by id).
//!
//! Each iteration is one push and one pop on a queue holding 500 entries.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use novitai_core::queue::{Priority, Queue, QueueConfig};
use novitai_core::{Duration, Instant};

const DEPTH: u64 = 500;

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("queue push+pop (500 queued)");

    g.bench_function("novitai Queue, no deadlines", |b| {
        let mut q: Queue<u64> = Queue::new(QueueConfig::default());
        for i in 0..DEPTH {
            let _ = q.push(i, Priority::ALL[(i % 3) as usize], None, Instant::ZERO);
        }
        let mut i = DEPTH;
        b.iter(|| {
            let _ = q.push(
                black_box(i),
                Priority::ALL[(i % 3) as usize],
                None,
                Instant::ZERO,
            );
            i += 1;
            black_box(q.pop(Instant::ZERO))
        });
    });

    g.bench_function("novitai Queue, every entry with a deadline", |b| {
        let mut q: Queue<u64> = Queue::new(QueueConfig::default());
        let mut now = Instant::ZERO;
        for i in 0..DEPTH {
            let at = now + Duration::from_secs(60 + i % 7);
            let _ = q.push(i, Priority::ALL[(i % 3) as usize], Some(at), now);
        }
        let mut i = DEPTH;
        b.iter(|| {
            now += Duration::from_millis(1);
            let at = now + Duration::from_secs(60 + i % 7);
            let _ = q.push(black_box(i), Priority::ALL[(i % 3) as usize], Some(at), now);
            i += 1;
            while let Some(e) = q.poll_expired(now) {
                black_box(e);
            }
            black_box(q.pop(now))
        });
    });

    g.bench_function("std VecDeque (FIFO only)", |b| {
        let mut q: VecDeque<u64> = (0..DEPTH).collect();
        let mut i = DEPTH;
        b.iter(|| {
            q.push_back(black_box(i));
            i += 1;
            black_box(q.pop_front())
        });
    });

    g.bench_function("std BinaryHeap by (priority, seq)", |b| {
        let mut q: BinaryHeap<Reverse<(u8, u64, u64)>> = BinaryHeap::new();
        for i in 0..DEPTH {
            q.push(Reverse(((i % 3) as u8, i, i)));
        }
        let mut i = DEPTH;
        b.iter(|| {
            q.push(Reverse(((i % 3) as u8, i, black_box(i))));
            i += 1;
            black_box(q.pop())
        });
    });

    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
