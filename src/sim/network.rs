//! The simulated network: who can reach whom (partitions, symmetric and one-way, between members
//! and between clients and members) and, per message, whether it is lost, duplicated or delayed
//! enough to be reordered.
//!
//! Owns reachability and per-message fate. It does not hold messages in flight (they are events in
//! the world's queue) and does not decide when partitions start or heal (the runner does).

use std::fmt;

use super::faults::{FaultCounts, FaultKind, Faults};
use super::rng::SimRng;
use crate::time::Duration;

/// A network address.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Addr {
    Member(usize),
    Client(usize),
    /// The storage lock holders write to (the lock workload only); never partitioned.
    Storage,
}

impl fmt::Display for Addr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Addr::Member(i) => write!(f, "m{}", i + 1),
            Addr::Client(i) => write!(f, "c{i}"),
            Addr::Storage => f.write_str("storage"),
        }
    }
}

/// The delays of a message's copies (zero, one, or two when duplicated), without an allocation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Deliveries {
    delays: [Duration; 2],
    copies: usize,
}

impl Deliveries {
    pub fn delays(&self) -> &[Duration] {
        &self.delays[..self.copies]
    }
    pub fn len(&self) -> usize {
        self.copies
    }
    pub fn is_empty(&self) -> bool {
        self.copies == 0
    }
}

/// A partition in force: the directed links it blocks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Partition {
    pub id: u64,
    pub blocked: Vec<(Addr, Addr)>,
}

#[derive(Clone, Debug, Default)]
pub struct Network {
    partitions: Vec<Partition>,
    next_partition_id: u64,
}

impl Network {
    pub fn new() -> Network {
        Network::default()
    }

    /// Whether `from → to` is blocked by a partition in force.
    pub fn is_blocked(&self, from: Addr, to: Addr) -> bool {
        self.partitions.iter().any(|p| p.blocked.contains(&(from, to)))
    }

    /// Puts a partition in force; returns its ID for `heal`.
    pub fn partition(&mut self, blocked: Vec<(Addr, Addr)>) -> u64 {
        self.next_partition_id += 1;
        self.partitions.push(Partition { id: self.next_partition_id, blocked });
        self.next_partition_id
    }

    pub fn heal(&mut self, id: u64) {
        self.partitions.retain(|p| p.id != id);
    }

    pub fn heal_all(&mut self) {
        self.partitions.clear();
    }

    pub fn partitions(&self) -> &[Partition] {
        &self.partitions
    }

    /// The fate of one message: the delays of its copies (none if lost or blocked, two if
    /// duplicated).
    pub fn deliveries(
        &self,
        rng: &mut SimRng,
        faults: &Faults,
        counts: &mut FaultCounts,
        from: Addr,
        to: Addr,
    ) -> Deliveries {
        let mut deliveries = Deliveries { delays: [Duration::ZERO; 2], copies: 0 };
        if self.is_blocked(from, to) {
            return deliveries;
        }
        if rng.chance_ppm(faults.loss_ppm) {
            counts.add(FaultKind::Loss);
            return deliveries;
        }
        deliveries.copies = if rng.chance_ppm(faults.duplicate_ppm) {
            counts.add(FaultKind::Duplicate);
            2
        } else {
            1
        };
        for delay in &mut deliveries.delays[..deliveries.copies] {
            let mut delay_ms = rng.between(faults.delay_min_ms, faults.delay_max_ms);
            if rng.chance_ppm(faults.reorder_ppm) {
                counts.add(FaultKind::Reorder);
                delay_ms += rng.between(1, 20 * faults.delay_max_ms.max(1));
            }
            *delay = Duration::from_ms(delay_ms);
        }
        deliveries
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partitions_block_their_links_until_healed() {
        let mut net = Network::new();
        let (a, b) = (Addr::Member(0), Addr::Member(1));
        let id = net.partition(vec![(a, b)]);
        assert!(net.is_blocked(a, b) && !net.is_blocked(b, a));
        let mut rng = SimRng::from_seed(1);
        let mut counts = FaultCounts::default();
        assert!(net.deliveries(&mut rng, &Faults::none(), &mut counts, a, b).is_empty());
        net.heal(id);
        assert_eq!(net.deliveries(&mut rng, &Faults::none(), &mut counts, a, b).len(), 1);
    }
}
