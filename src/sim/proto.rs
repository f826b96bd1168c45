//! What travels in a run: the replicated log entries (Grant, Revoke, Checkpoint, Put, Delete, and
//! the lock recipe's transaction and read) and their encoding, the client requests and replies, and
//! the network payloads (including lock holders' writes to the protected storage).
//!
//! Owns the wire vocabulary only; it does not apply anything (members do) or decide fates (the
//! network does). Entries are a fixed little-endian layout (no serde: encoding and decoding every
//! entry on every member is on the simulator's hot path), stable across runs.

use crate::kv::Revision;
use crate::lease::{LeaseError, LeaseId};
use crate::time::Duration;

/// A replicated operation.
#[derive(Clone, Debug, PartialEq, Eq)]
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
    /// etcd's lock recipe in one transaction (`concurrency.Mutex.tryAcquire`): put `key` under
    /// `lease` unless it exists, then read the owner of `prefix` (its first-created key).
    LockTxn {
        prefix: String,
        key: String,
        lease: LeaseId,
    },
    /// A linearizable read (through the log) of the owner of `prefix` and of `key`'s create revision.
    LockOwner {
        prefix: String,
        key: String,
    },
}

/// A log entry's data: the operation and who proposed it (to answer the proposer's waiter).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Proposal {
    pub member: usize,
    pub tag: u64,
    pub op: Op,
}

impl Proposal {
    /// The layout: member (u64), tag (u64), then the operation's kind (u8) and fields; integers
    /// little-endian, strings as a u64 length and UTF-8 bytes, lists as a u64 count and items.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(40);
        put_u64(&mut out, self.member as u64);
        put_u64(&mut out, self.tag);
        match &self.op {
            Op::Grant { id, ttl_s } => {
                out.push(0);
                put_i64(&mut out, *id);
                put_i64(&mut out, *ttl_s);
            }
            Op::Revoke { id, by_expiry } => {
                out.push(1);
                put_i64(&mut out, *id);
                out.push(u8::from(*by_expiry));
            }
            Op::Checkpoint { checkpoints } => {
                out.push(2);
                put_u64(&mut out, checkpoints.len() as u64);
                for &(id, remaining_ttl_s) in checkpoints {
                    put_i64(&mut out, id);
                    put_i64(&mut out, remaining_ttl_s);
                }
            }
            Op::Put { key, value, lease } => {
                out.push(3);
                put_str(&mut out, key);
                put_str(&mut out, value);
                put_i64(&mut out, *lease);
            }
            Op::Delete { key } => {
                out.push(4);
                put_str(&mut out, key);
            }
            Op::LockTxn { prefix, key, lease } => {
                out.push(5);
                put_str(&mut out, prefix);
                put_str(&mut out, key);
                put_i64(&mut out, *lease);
            }
            Op::LockOwner { prefix, key } => {
                out.push(6);
                put_str(&mut out, prefix);
                put_str(&mut out, key);
            }
        }
        out
    }

    /// Decodes an entry this simulator wrote; anything else is a programmer error.
    pub fn decode(data: &[u8]) -> Proposal {
        let mut reader = Reader(data);
        let proposal = reader.proposal();
        match proposal {
            Some(proposal) if reader.0.is_empty() => proposal,
            _ => panic!("undecodable entry {data:?}"),
        }
    }
}

fn put_u64(out: &mut Vec<u8>, value: u64) {
    out.extend_from_slice(&value.to_le_bytes());
}

fn put_i64(out: &mut Vec<u8>, value: i64) {
    out.extend_from_slice(&value.to_le_bytes());
}

fn put_str(out: &mut Vec<u8>, text: &str) {
    put_u64(out, text.len() as u64);
    out.extend_from_slice(text.as_bytes());
}

/// The unread rest of an entry.
struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn bytes(&mut self, n: usize) -> Option<&[u8]> {
        let (head, rest) = self.0.split_at_checked(n)?;
        self.0 = rest;
        Some(head)
    }
    fn u8(&mut self) -> Option<u8> {
        self.bytes(1).map(|b| b[0])
    }
    fn u64(&mut self) -> Option<u64> {
        self.bytes(8).map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes")))
    }
    fn i64(&mut self) -> Option<i64> {
        self.u64().map(|v| v as i64)
    }
    fn string(&mut self) -> Option<String> {
        let len = usize::try_from(self.u64()?).ok()?;
        String::from_utf8(self.bytes(len)?.to_vec()).ok()
    }
    fn proposal(&mut self) -> Option<Proposal> {
        let member = usize::try_from(self.u64()?).ok()?;
        let tag = self.u64()?;
        let op = match self.u8()? {
            0 => Op::Grant { id: self.i64()?, ttl_s: self.i64()? },
            1 => Op::Revoke { id: self.i64()?, by_expiry: self.u8()? != 0 },
            2 => {
                let count = self.u64()?;
                let mut checkpoints = Vec::new();
                for _ in 0..count {
                    checkpoints.push((self.i64()?, self.i64()?));
                }
                Op::Checkpoint { checkpoints }
            }
            3 => Op::Put { key: self.string()?, value: self.string()?, lease: self.i64()? },
            4 => Op::Delete { key: self.string()? },
            5 => Op::LockTxn { prefix: self.string()?, key: self.string()?, lease: self.i64()? },
            6 => Op::LockOwner { prefix: self.string()?, key: self.string()? },
            _ => return None,
        };
        Some(Proposal { member, tag, op })
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
    /// See [`Op::LockTxn`].
    LockTxn {
        prefix: String,
        key: String,
        lease: LeaseId,
    },
    /// See [`Op::LockOwner`].
    LockOwner {
        prefix: String,
        key: String,
    },
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
    /// The answer to a lock request: the asker's key's create revision (`None`: the key is gone)
    /// and the owner of the prefix (its first-created key and that key's create revision).
    LockState {
        mine: Option<Revision>,
        owner: Option<(String, Revision)>,
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
    /// A lock holder's write to the protected storage (outside etcd), carrying the create revision
    /// of the holder's lock key as its fencing token.
    ProtectedWrite {
        client: usize,
        lease: LeaseId,
        token: Revision,
    },
}

/// The client's request timeout (local time), after which it retries elsewhere.
pub const REQUEST_TIMEOUT: Duration = Duration::from_ms(1_500);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_operation_round_trips() {
        let ops = [
            Op::Grant { id: -7, ttl_s: 30 },
            Op::Revoke { id: i64::MAX, by_expiry: true },
            Op::Revoke { id: 3, by_expiry: false },
            Op::Checkpoint { checkpoints: vec![(1, 5), (-2, 0)] },
            Op::Checkpoint { checkpoints: vec![] },
            Op::Put { key: "c1/k3".to_owned(), value: "v12".to_owned(), lease: 0 },
            Op::Delete { key: "é".to_owned() },
            Op::LockTxn { prefix: "lock/l0/".to_owned(), key: "lock/l0/-5".to_owned(), lease: -5 },
            Op::LockOwner { prefix: "lock/l0/".to_owned(), key: "lock/l0/7".to_owned() },
        ];
        for (tag, op) in ops.into_iter().enumerate() {
            let proposal = Proposal { member: 2, tag: tag as u64, op };
            assert_eq!(Proposal::decode(&proposal.encode()), proposal);
        }
    }
}
