//! The shortest counterexample of one property, by iterative deepening on `target_max_depth`:
//! stateright 0.31's BFS no longer guarantees minimal traces (a later discovery overwrites an
//! earlier one), so this runs single-threaded BFS at increasing depth bounds and returns the first
//! discovery. With one thread BFS is FIFO, so the first bound that finds a counterexample finds
//! one of exactly that length, and none is shorter.
//!
//! Owns only the search; it reads no clock.

use std::collections::BTreeSet;
use std::fmt;
use std::hash::Hash;

use stateright::{Checker, HasDiscoveries, Model, Path};

/// The shortest path (fewest actions, at most `actions_max`) that violates `property`, if any.
pub fn shortest_counterexample<M>(
    model: &M,
    property: &'static str,
    actions_max: usize,
) -> Option<Path<M::State, M::Action>>
where
    M: Model + Clone + Send + Sync + 'static,
    M::State: Clone + fmt::Debug + Hash + PartialEq + Send + Sync,
    M::Action: Clone + fmt::Debug + PartialEq + Send + Sync,
{
    (0..=actions_max).find_map(|actions| {
        let checker = model
            .clone()
            .checker()
            .threads(1)
            .target_max_depth(actions + 2)
            .finish_when(HasDiscoveries::AnyOf(BTreeSet::from([property])))
            .spawn_bfs()
            .join();
        checker.discovery(property)
    })
}
