//! The discrete-event queue of a run: events ordered by simulated true time, ties broken by the
//! order they were scheduled in (a sequence number), so a run never depends on anything but its
//! seed.
//!
//! Owns ordering only; it knows nothing of what an event means (see `runner`).

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};

use crate::time::Instant;

/// How many milliseconds ahead of the latest popped event the wheel holds (later events, and any
/// pushed before it, wait in the heap).
const WHEEL_MS: u64 = 1024;

/// A queue of `E` in `(time, sequence)` order over a slab of events, so ordering never moves an
/// event and a freed slot is reused. The order lives in two places: a wheel of one-millisecond
/// buckets covering `[base, base + WHEEL_MS)` (a bucket holds one millisecond's events, in the
/// order they were pushed, which is their sequence order) and a binary heap of `(time, sequence,
/// slot)` keys for everything else. A pop takes the smaller of the two fronts, so the order is
/// exactly `(time, sequence)` wherever an event was kept; the wheel only makes the common case (an
/// event due within a second) cheap.
#[derive(Clone, Debug)]
pub struct EventQueue<E> {
    wheel: Vec<VecDeque<(u64, usize)>>,
    /// The earliest time the wheel may hold: the latest popped event's time.
    base: u64,
    in_wheel: usize,
    order: BinaryHeap<Reverse<(Instant, u64, usize)>>,
    slots: Vec<Option<E>>,
    free: Vec<usize>,
    next_seq: u64,
}

impl<E> Default for EventQueue<E> {
    fn default() -> Self {
        EventQueue {
            wheel: (0..WHEEL_MS).map(|_| VecDeque::new()).collect(),
            base: 0,
            in_wheel: 0,
            order: BinaryHeap::new(),
            slots: Vec::new(),
            free: Vec::new(),
            next_seq: 0,
        }
    }
}

impl<E> EventQueue<E> {
    pub fn new() -> Self {
        Self::default()
    }

    /// Schedules `event` at `at`; among events at the same time it comes after those already queued.
    pub fn push(&mut self, at: Instant, event: E) {
        let slot = match self.free.pop() {
            Some(slot) => {
                self.slots[slot] = Some(event);
                slot
            }
            None => {
                self.slots.push(Some(event));
                self.slots.len() - 1
            }
        };
        // Sequence numbers are unique, so the slot never decides the order.
        let seq = self.next_seq;
        self.next_seq += 1;
        let ms = at.as_ms();
        // (Times within `WHEEL_MS` of the end of time stay out, so the wheel's range never overflows.)
        if ms >= self.base && ms - self.base < WHEEL_MS && ms <= u64::MAX - WHEEL_MS {
            self.wheel[(ms % WHEEL_MS) as usize].push_back((seq, slot));
            self.in_wheel += 1;
        } else {
            self.order.push(Reverse((at, seq, slot)));
        }
    }

    /// The earliest event with its time and sequence number.
    pub fn pop(&mut self) -> Option<(Instant, u64, E)> {
        let in_wheel = self.wheel_front();
        let from_heap = match (in_wheel, self.order.peek()) {
            (None, None) => return None,
            (Some(_), None) => false,
            (None, Some(_)) => true,
            (Some((ms, seq, _)), Some(Reverse(top))) => (top.0, top.1) < (Instant(ms), seq),
        };
        let (at, seq, slot) = if from_heap {
            let Reverse(key) = self.order.pop().expect("peeked");
            key
        } else {
            let (ms, seq, slot) = in_wheel.expect("compared");
            self.wheel[(ms % WHEEL_MS) as usize].pop_front();
            self.in_wheel -= 1;
            (Instant(ms), seq, slot)
        };
        // Time never goes back for the wheel: an event popped from the heap earlier than `base`
        // (pushed into the past) leaves it where it is.
        self.base = self.base.max(at.as_ms());
        let event = self.slots[slot].take().expect("a queued slot holds its event");
        self.free.push(slot);
        Some((at, seq, event))
    }

    /// The wheel's earliest event: (time in ms, sequence, slot).
    fn wheel_front(&self) -> Option<(u64, u64, usize)> {
        if self.in_wheel == 0 {
            return None;
        }
        (self.base..self.base + WHEEL_MS)
            .find_map(|ms| self.wheel[(ms % WHEEL_MS) as usize].front().map(|&(seq, slot)| (ms, seq, slot)))
    }

    pub fn len(&self) -> usize {
        self.in_wheel + self.order.len()
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ties_break_by_scheduling_order() {
        let mut q = EventQueue::new();
        q.push(Instant(5), "b");
        q.push(Instant(3), "a");
        q.push(Instant(5), "c");
        let order: Vec<&str> = std::iter::from_fn(|| q.pop().map(|(_, _, e)| e)).collect();
        assert_eq!(order, vec!["a", "b", "c"]);
        // Slots are reused; order still follows (time, sequence).
        for (at, e) in [(9, "f"), (2, "d"), (9, "g"), (2, "e")] {
            q.push(Instant(at), e);
        }
        q.push(Instant(1), "x");
        let popped: Vec<(u64, &str)> = std::iter::from_fn(|| q.pop().map(|(at, _, e)| (at.as_ms(), e))).collect();
        assert_eq!(popped, vec![(1, "x"), (2, "d"), (2, "e"), (9, "f"), (9, "g")]);
        assert!(q.is_empty());
    }

    /// Against a plain heap of `(time, sequence)`: random pushes near, far (past the wheel) and
    /// into the past, interleaved with pops.
    #[test]
    fn pops_in_time_and_sequence_order_like_a_heap() {
        let mut rng = crate::sim::rng::SimRng::from_seed(11);
        let mut q = EventQueue::new();
        let mut model = BinaryHeap::new();
        let (mut now, mut seq) = (0u64, 0u64);
        for _ in 0..20_000 {
            if rng.below(100) < 55 {
                let at = match rng.below(10) {
                    0 => now + rng.between(WHEEL_MS - 2, 5 * WHEEL_MS),
                    1 => now.saturating_sub(rng.below(50)),
                    2 => u64::MAX,
                    _ => now + rng.below(30),
                };
                q.push(Instant(at), seq);
                model.push(Reverse((at, seq)));
                seq += 1;
            } else {
                let expected = model.pop().map(|Reverse((at, seq))| (Instant(at), seq, seq));
                let popped = q.pop();
                assert_eq!(popped, expected);
                if let Some((at, _, _)) = popped.filter(|(at, _, _)| !at.is_forever()) {
                    now = now.max(at.as_ms());
                }
            }
            assert_eq!(q.len(), model.len());
        }
    }
}
