//! What travels in a run: the replicated log entries (Grant, Revoke, Checkpoint, Put, Delete) and
//! their encoding, the client requests and replies, and the network payloads.
//!
//! Owns the wire vocabulary only; it does not apply anything (members do) or decide fates (the
//! network does). Entries are JSON (serde_json): small, readable in traces, stable across runs.

use serde::{Deserialize, Serialize};

use crate::lease::{LeaseError, LeaseId};
use crate::time::Duration;

/// A replicated operation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Op {
    Grant {
        id: LeaseId,
        ttl_s: i64,
    },
    /// `by_expiry`: proposed by the leader's expiry scan (not by a client).
    Revoke {
        id: LeaseId,
        by_expiry: bool,
    },
    Checkpoint {
        checkpoints: Vec<(LeaseId, i64)>,
    },
    Put {
        key: String,
        value: String,
        lease: LeaseId,
    },
    Delete {
        key: String,
    },
}

/// A log entry's data: the operation and who proposed it (to answer the proposer's waiter).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Proposal {
    pub member: usize,
    pub tag: u64,
    pub op: Op,
}

impl Proposal {
    pub fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a proposal always serializes")
    }
    /// Decodes an entry this simulator wrote; anything else is a programmer error.
    pub fn decode(data: &[u8]) -> Proposal {
        serde_json::from_slice(data)
            .unwrap_or_else(|e| panic!("undecodable entry {:?}: {e}", String::from_utf8_lossy(data)))
    }
}

/// A client request.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Request {
    Grant {
        id: LeaseId,
        ttl_s: i64,
    },
    Revoke {
        id: LeaseId,
    },
    Put {
        key: String,
        lease: LeaseId,
    },
    Delete {
        key: String,
    },
    /// One keep-alive (from the keep-alive loop, or a KeepAliveOnce).
    KeepAlive {
        id: LeaseId,
    },
    TimeToLive {
        id: LeaseId,
    },
    Leases,
}

impl Request {
    /// Renew and TimeToLive are answered by the leader (followers forward them); the rest are
    /// proposed (or, for Leases, answered) wherever they arrive.
    pub fn goes_to_leader(&self) -> bool {
        matches!(self, Request::KeepAlive { .. } | Request::TimeToLive { .. })
    }
}

/// A reply to a client.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Reply {
    Granted {
        id: LeaseId,
        ttl_s: i64,
    },
    Revoked {
        id: LeaseId,
    },
    Put {
        key: String,
    },
    Deleted {
        key: String,
    },
    /// A keep-alive answer; `ttl_s <= 0` means the lease is gone.
    KeepAlive {
        id: LeaseId,
        ttl_s: i64,
    },
    TimeToLive {
        id: LeaseId,
        ttl_s: i64,
        granted_ttl_s: i64,
    },
    Leases {
        count: usize,
    },
    Failed(LeaseError),
    /// No leader, not primary, proposal dropped, leadership not confirmed: try again elsewhere.
    Unavailable,
}

/// What a message carries.
#[derive(Clone, Debug)]
pub enum Payload {
    Raft(Box<raft::prelude::Message>),
    /// A client request; `forwarded` once a follower has passed it to the leader.
    Request {
        client: usize,
        req: u64,
        request: Request,
        forwarded: bool,
    },
    Reply {
        req: u64,
        reply: Reply,
    },
}

/// The client's request timeout (local time), after which it retries elsewhere.
pub const REQUEST_TIMEOUT: Duration = Duration::from_ms(1_500);
