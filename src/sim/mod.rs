//! The deterministic simulation: a seeded world of per-node clocks, a faulty network, a raft-rs
//! cluster of lessors, keep-alive clients and swarm-drawn faults, checked by the oracle after
//! every event and reproducible from its seed alone.
//!
//! Owns everything random and everything timed in a run (`rng`, `world`, `clock`), the wire
//! (`proto`, `network`), the members and clients (`member`, `client`), the faults (`faults`), the
//! lock workload and its protected storage (`lock`), the run itself (`runner`, `options`, `report`,
//! `trace`), its choices made explicit (`schedule`) and sweeps over many seeds (`sweep`). Built on
//! the core (lessor, KV, oracle), never the reverse; it reads no wall clock and no environment (the
//! CLI does).

pub mod client;
pub mod clock;
pub mod faults;
pub mod lock;
pub mod member;
pub mod minimize;
pub mod network;
pub mod options;
pub mod proto;
pub mod report;
pub mod rng;
pub mod runner;
pub mod schedule;
pub mod sweep;
pub mod trace;
pub mod world;

pub use faults::{FaultCounts, FaultKind, Faults};
pub use minimize::{Minimized, minimize};
pub use options::{FaultMode, Resolved, SimOptions, Switch};
pub use report::{Report, Stats};
pub use runner::{replay, replay_traced, run, run_recorded, run_traced};
pub use schedule::{FaultAction, Item, Schedule};
pub use sweep::{SweepResult, sweep};
