//! leasesim-models: stateright models that drive the **real** lessor code, and the machinery to
//! check them from the CLI.
//!
//! The crate map (no logic lives here):
//! - [`lessor`]: one lessor and its KV driven through the trace replayer, every action a trace
//!   command, so any counterexample is a `leasesim replay` trace.
//! - [`cluster`]: 2–3 members with a replicated log, leader changes, forwarded renews, a lossy
//!   unordered network of keep-alive replies and per-member clocks within a drift bound.
//! - [`recycled`]: model state parts cloned in place into ones their thread just dropped.
//! - [`verdict`]: the property plumbing both models share (a violation recorded in the state,
//!   one `always` per oracle property).
//! - [`allocator`]: the binary's and the states bench's global allocator (mimalloc).
//! - [`bfs`]: the level-synchronous breadth-first checker (the `bfs` strategy).
//! - [`check`]: running a checker (BFS, DFS, simulation) and collecting a report.
//! - [`shortest`]: the shortest counterexample of one property (one run of [`bfs`]).
//! - [`export`]: a lessor-model path as a replay trace file.
//! - [`small_queue`]: the models' expiry index (sorted inline entries: cheap to clone and hash).
//! - [`zoo`]: the bug-detection matrix: every bug switch through every engine (proptest runs, both
//!   models, the simulation) under one budget.
//!
//! It deliberately owns no lease semantics and no property: those are the core's (`leasesim`).

pub mod allocator;
pub mod bfs;
pub mod check;
pub mod cluster;
pub mod export;
pub mod lessor;
pub mod recycled;
pub mod shortest;
pub mod small_queue;
pub mod verdict;
pub mod zoo;
