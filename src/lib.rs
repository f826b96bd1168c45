//! leasesim: a deterministic simulation and model-checking harness for etcd-style leases.
//!
//! The crate map (no logic lives here):
//! - [`time`]: simulated instants and durations in milliseconds; no clock.
//! - [`lease`]: the lessor, etcd's lease state machine, sans-IO.
//! - [`expiry`]: the expiry index the lessor scans.
//! - [`kv`]: the key-value store with lease attachment and revisions.
//! - [`digest`]: order-independent digests of replicated state, updated in O(1) per change.
//! - [`oracle`]: the properties of SPEC §5, written once, and the naive reference model.
//! - [`bugs`]: the named switches that put real etcd bugs back.
//! - [`trace`]: the trace language and the single-member replayer.
//! - [`sim`]: the seeded world: clocks, network, raft cluster, clients, faults.
//! - [`clone_in_place`]: `Clone` with a field-by-field `clone_from`, for model checkers.
//! - [`ddmin`]: delta debugging, shared by every shrinker.
//! - [`show`]: a run's event trace drawn as an SVG sequence diagram.
//! - `conform` (feature `etcd`): the same traces against a live etcd, replies compared.
//! - `test_rng` (unit tests only): the tests' seeded xorshift stream.

pub mod bugs;
pub mod clone_in_place;
#[cfg(feature = "etcd")]
pub mod conform;
pub mod ddmin;
pub mod digest;
pub mod expiry;
pub mod kv;
pub mod lease;
pub mod oracle;
pub mod show;
pub mod sim;
pub mod small_map;
#[cfg(test)]
mod test_rng;
pub mod time;
pub mod trace;
