//! Conformance against a real etcd (feature `etcd`): the same traces the replayer answers, run
//! against a live etcd server, and the replies compared.
//!
//! - [`etcd`]: a throwaway etcd process (binary lookup, free loopback ports, temp data dir, restart).
//! - [`runner`]: trace commands as etcd v3 gRPC calls, replies in `leasesim replay`'s format.
//! - [`compare`]: reply lines compared field by field (time-derived fields within a tolerance).
//! - [`timing`]: which traces a wall-clock run can judge (no lease near its expiry when observed).
//! - [`generate`]: seeded random traces that are safe to judge.
//! - [`check`]: the differential check (replayer vs etcd) and delta-debugging shrinking.
//!
//! This is the one part of the library that reads the wall clock, starts processes and opens
//! sockets; it is compiled only with `--features etcd`, and nothing else in the crate depends on it.
//! It does not model anything itself: expected replies always come from `trace::Replayer`.

pub mod check;
pub mod compare;
pub mod error;
pub mod etcd;
pub mod generate;
pub mod runner;
pub mod timing;

pub use check::{CheckOutcome, Disagreement, check_trace, check_trace_retrying, shrink};
pub use error::ConformError;
pub use etcd::{EtcdOptions, EtcdProcess, etcd_installed_for_test, find_etcd_binary};
pub use generate::generate_trace;
pub use runner::{EtcdRun, EtcdRunner, check_runnable, refusal};
