//! The discrete-event queue of a run: events ordered by simulated true time, ties broken by the
//! order they were scheduled in (a sequence number), so a run never depends on anything but its
//! seed.
//!
//! Owns ordering only; it knows nothing of what an event means (see `runner`).

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use crate::time::Instant;

/// A queue of `E` in `(time, sequence)` order: a binary heap of small `(time, sequence, slot)`
/// keys over a slab of events, so ordering never moves an event and a freed slot is reused.
#[derive(Clone, Debug)]
pub struct EventQueue<E> {
    order: BinaryHeap<Reverse<(Instant, u64, usize)>>,
    slots: Vec<Option<E>>,
    free: Vec<usize>,
    next_seq: u64,
}

impl<E> Default for EventQueue<E> {
    fn default() -> Self {
        EventQueue { order: BinaryHeap::new(), slots: Vec::new(), free: Vec::new(), next_seq: 0 }
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
        self.order.push(Reverse((at, self.next_seq, slot)));
        self.next_seq += 1;
    }

    /// The earliest event with its time and sequence number.
    pub fn pop(&mut self) -> Option<(Instant, u64, E)> {
        let Reverse((at, seq, slot)) = self.order.pop()?;
        let event = self.slots[slot].take().expect("a queued slot holds its event");
        self.free.push(slot);
        Some((at, seq, event))
    }

    pub fn len(&self) -> usize {
        self.order.len()
    }
    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
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
}
