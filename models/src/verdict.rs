//! The property plumbing both models share: a model records the first [`Violation`] the oracle
//! reports (state checks after every action, event checks at the event) in its state and stops
//! there; each oracle property becomes one stateright `always` that holds while no violation of
//! that name is recorded.
//!
//! It owns no property: every check is a function of `leasesim::oracle`. stateright properties are
//! `fn` pointers without captures, hence one monomorphised function per property index.

use leasesim::oracle::{ALL_PROPERTIES, Violation};
use stateright::{Model, Property};

/// A model state that carries the oracle's first violation.
pub trait Judged {
    fn violation(&self) -> Option<&Violation>;
}

fn holds<M, const I: usize>(_: &M, state: &M::State) -> bool
where
    M: Model,
    M::State: Judged,
{
    state.violation().is_none_or(|v| v.property != ALL_PROPERTIES[I])
}

/// One `always` per named oracle property (names from `ALL_PROPERTIES`), in the order given.
pub fn always_properties<M>(names: &[&'static str]) -> Vec<Property<M>>
where
    M: Model,
    M::State: Judged,
{
    let table: [fn(&M, &M::State) -> bool; ALL_PROPERTIES.len()] = [
        holds::<M, 0>,
        holds::<M, 1>,
        holds::<M, 2>,
        holds::<M, 3>,
        holds::<M, 4>,
        holds::<M, 5>,
        holds::<M, 6>,
        holds::<M, 7>,
        holds::<M, 8>,
        holds::<M, 9>,
        holds::<M, 10>,
        holds::<M, 11>,
    ];
    names
        .iter()
        .map(|name| {
            let index = ALL_PROPERTIES
                .iter()
                .position(|p| p == name)
                .unwrap_or_else(|| panic!("{name} is not an oracle property ({ALL_PROPERTIES:?})"));
            Property::always(ALL_PROPERTIES[index], table[index])
        })
        .collect()
}

/// Keeps the first violation: `slot` is set only if empty.
pub fn record(slot: &mut Option<Violation>, verdict: Result<(), Violation>) {
    if slot.is_none()
        && let Err(violation) = verdict
    {
        *slot = Some(violation);
    }
}
