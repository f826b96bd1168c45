//! The trace language: scenario files of one command per line, and the single-member replayer
//! that answers each with exactly one reply line (`leasesim replay`).
//!
//! Owns the grammar (`parse`), the reply format and the replayer (`replay`), and (feature
//! `proptest`) the seeded generator of random traces (`strategy`). It does not own the
//! semantics: every command goes to the lessor and KV, and every reply is checked by the oracle.

mod parse;
mod replay;
#[cfg(feature = "proptest")]
pub mod strategy;

pub use parse::{Command, Line, ParseError, TraceConfig, parse_line, parse_trace};
pub use replay::{ReplayOutcome, Replayer, replay_trace};
