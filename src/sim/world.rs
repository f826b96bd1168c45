//! The discrete-event queue of a run: events ordered by simulated true time, ties broken by the
//! order they were scheduled in (a sequence number), so a run never depends on anything but its
//! seed.
//!
//! Owns ordering only; it knows nothing of what an event means (see `runner`).

use std::collections::BTreeMap;

use crate::time::Instant;

/// A queue of `E` in `(time, sequence)` order.
#[derive(Clone, Debug)]
pub struct EventQueue<E> {
    queue: BTreeMap<(Instant, u64), E>,
    next_seq: u64,
}

impl<E> Default for EventQueue<E> {
    fn default() -> Self {
        EventQueue { queue: BTreeMap::new(), next_seq: 0 }
    }
}

impl<E> EventQueue<E> {
    pub fn new() -> Self {
        Self::default()
    }

    /// Schedules `event` at `at`; among events at the same time it comes after those already queued.
    pub fn push(&mut self, at: Instant, event: E) {
        self.queue.insert((at, self.next_seq), event);
        self.next_seq += 1;
    }

    /// The earliest event with its time and sequence number.
    pub fn pop(&mut self) -> Option<(Instant, u64, E)> {
        self.queue.pop_first().map(|((at, seq), event)| (at, seq, event))
    }

    pub fn len(&self) -> usize {
        self.queue.len()
    }
    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
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
    }
}
