//! The lessor: etcd's server-side lease state machine (SPEC §1–3), sans-IO.
//!
//! Owns leases, the key → lease index, the expiry queue, the checkpoint schedule, primary/non-primary
//! status and the persisted lease records. Time comes in as `now`; the lessor never expires anything
//! by itself (a scan returns due leases, the driver proposes `Revoke`), never reads a clock, an RNG or
//! a file, and knows nothing of raft, the simulator, stateright or proptest.
//!
//! Operations etcd performs in several steps with a window between them are exposed as steps
//! (`renew_begin`/`renew_finish`, `revoke_begin`/`revoke_step`) so drivers can interleave other
//! operations into the windows; `renew`/`revoke` wrap the steps for ordinary callers.

mod config;
mod keys;
mod lease_map;
mod lessor;
mod persist;
mod renew;
mod revoke;

pub use config::{EXPIRY_SCAN_PERIOD, EtcdVersion, LessorConfig, MAX_CHECKPOINT_BATCH, MAX_LEASE_TTL_S};
pub use keys::LeaseKeys;
pub(crate) use lessor::attachment_item;
pub use lessor::{Lease, Lessor, LessorDigest, TimeToLive};
pub use persist::{LeaseRecord, LeaseRecords};
pub use renew::{RenewBegin, RenewTicket};
pub use revoke::{RevokePhase, RevokeStep, RevokeTicket};

use std::fmt;

/// A lease ID: signed 64-bit; `NO_LEASE` (0) means none.
pub type LeaseId = i64;
/// "No lease".
pub const NO_LEASE: LeaseId = 0;

/// The operating errors of the lessor and the layer around it, named as etcd names them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LeaseError {
    LeaseNotFound,
    LeaseExists,
    TtlTooLarge,
    NotPrimary,
    LeaderChanged,
}

impl LeaseError {
    pub fn name(self) -> &'static str {
        match self {
            LeaseError::LeaseNotFound => "LeaseNotFound",
            LeaseError::LeaseExists => "LeaseExists",
            LeaseError::TtlTooLarge => "TtlTooLarge",
            LeaseError::NotPrimary => "NotPrimary",
            LeaseError::LeaderChanged => "LeaderChanged",
        }
    }
}

impl fmt::Display for LeaseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl std::error::Error for LeaseError {}
