//! The shortest counterexample of one property: one run of our breadth-first checker
//! ([`crate::bfs`]), stopped at the first level where the property is violated. That checker
//! finishes a level before it looks at the next and keeps the first discovery in BFS order, so the
//! path it returns has the fewest actions, and none is shorter. (stateright 0.31's BFS gives no
//! such guarantee: a later discovery overwrites an earlier one, and with threads its order is not
//! breadth-first; this used to take iterative deepening, one stateright run per depth bound.)
//!
//! Owns only the search; it reads no clock.

use std::hash::Hash;

use stateright::{Model, Path};

use crate::bfs;

/// The shortest path (fewest actions, at most `actions_max`) that violates `property`, if any.
pub fn shortest_counterexample<M>(
    model: &M,
    property: &'static str,
    actions_max: usize,
) -> Option<Path<M::State, M::Action>>
where
    M: Model + Sync,
    M::State: Clone + Hash + PartialEq + Send + Sync,
    M::Action: Clone + PartialEq,
{
    let bounds = bfs::Bounds {
        depth_target: Some(actions_max + 2),
        states_target: None,
        stop_at_first_of: vec![property],
        threads: 1,
    };
    let index = model.properties().iter().position(|p| p.name == property)?;
    bfs::search(model, &bounds).discoveries.swap_remove(index)
}
