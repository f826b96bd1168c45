//! The lock workload (`--locks`): a lock built on a lease as etcd's `concurrency.Mutex` builds it,
//! and the protected storage its holders write to (Jepsen's etcd 3.4.3 finding, Kleppmann's fencing).
//!
//! The recipe, per client: grant a lease (the session) and keep it alive; put `lock/l0/<lease>`
//! under it unless it exists and read the owner of the prefix in one transaction (the owner is the
//! key with the smallest create revision); while not the owner, poll the owner (the simulator's
//! stand-in for etcd's watch on the keys created before its own); once the owner, believe it holds
//! the lock while its local keep-alive deadline has not passed and the keep-alive has not ended.
//! A holder does protected operations: each checks the belief, works for a while, then writes to
//! the storage with its lock key's create revision as the fencing token, without checking again
//! (a stall or GC pause in between is exactly Jepsen's and Kleppmann's case). After a few writes
//! it unlocks by closing the session (revoking the lease deletes its key). A session whose key
//! is gone is abandoned and the recipe starts over.
//!
//! Owns the recipe's state machine (driven by its [`Client`]'s polls and replies, drawing only
//! from the client's RNG stream), the storage (which, with fencing, rejects a token lower than the
//! highest it has accepted) and the lock statistics. It judges nothing: the runner hands each
//! accepted write to the oracle's `lock_exclusive`.

use std::fmt;
use std::fmt::Write as _;

use super::client::Client;
use super::network::Addr;
use super::proto::{Payload, REQUEST_TIMEOUT, Reply, Request};
use super::rng::SimRng;
use crate::kv::Revision;
use crate::lease::{LeaseError, LeaseId};
use crate::time::{Duration, Instant};

/// The one lock every lock client contends for.
pub const LOCK_PREFIX: &str = "lock/l0/";
/// A waiter asks who owns the lock this often (local time).
const OWNER_POLL: Duration = Duration::from_ms(300);
/// A step left unanswered this long (local time; the client's own retries included) is redone.
const STEP_TIMEOUT: Duration = Duration::from_ms(4 * REQUEST_TIMEOUT.as_ms());
/// A protected operation works this long (local ms) between checking the lock and writing.
const WORK_MS: (u64, u64) = (50, 400);
/// Protected writes per tenure before the holder unlocks.
const WRITES_PER_TENURE: (u64, u64) = (2, 8);

/// What a holder will do with the lock, drawn when it sets out to take it (so that a client's
/// lock operation is one `ClientOp`, recorded and replayed like the others): one protected write
/// per entry, each after that many ms of work.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tenure {
    pub work_ms: Vec<u64>,
}

impl Tenure {
    pub fn draw(rng: &mut SimRng) -> Tenure {
        let writes = rng.between(WRITES_PER_TENURE.0, WRITES_PER_TENURE.1);
        Tenure { work_ms: (0..writes).map(|_| rng.between(WORK_MS.0, WORK_MS.1)).collect() }
    }
}

impl fmt::Display for Tenure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let work: Vec<String> = self.work_ms.iter().map(u64::to_string).collect();
        write!(f, "{} writes after {} ms of work", self.work_ms.len(), work.join("/"))
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Phase {
    Idle,
    /// The session's grant was sent.
    Session {
        lease: LeaseId,
    },
    /// The lock transaction was sent at `sent`.
    Acquiring {
        lease: LeaseId,
        sent: Instant,
    },
    /// The key is in at revision `mine`; the owner was last asked at `asked`.
    Waiting {
        lease: LeaseId,
        mine: Revision,
        asked: Instant,
    },
    /// The owner: `token` is its key's create revision; `written` writes are done; `work_until`
    /// is when the protected operation in progress writes.
    Holding {
        lease: LeaseId,
        token: Revision,
        written: usize,
        work_until: Option<Instant>,
    },
}

/// One client's lock recipe.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LockRecipe {
    phase: Phase,
    tenure: Tenure,
}

impl Default for LockRecipe {
    fn default() -> LockRecipe {
        LockRecipe::new()
    }
}

/// The lock key of a session.
pub fn lock_key(lease: LeaseId) -> String {
    format!("{LOCK_PREFIX}{lease}")
}

impl LockRecipe {
    pub fn new() -> LockRecipe {
        LockRecipe { phase: Phase::Idle, tenure: Tenure { work_ms: Vec::new() } }
    }

    /// Whether the recipe is doing nothing (and may set out to take the lock).
    pub fn is_idle(&self) -> bool {
        self.phase == Phase::Idle
    }

    /// Whether the client is the owner by its last answer (it may no longer believe it holds the
    /// lock, or be right to).
    pub fn owns(&self) -> bool {
        matches!(self.phase, Phase::Holding { .. })
    }

    /// Sets out to take the lock with session lease `lease` (whose grant the client just sent).
    pub fn start(&mut self, lease: LeaseId, tenure: Tenure) {
        self.phase = Phase::Session { lease };
        self.tenure = tenure;
    }

    /// The client's periodic step, after its keep-alive loop ran.
    pub fn poll(&mut self, client: &mut Client, now: Instant, out: &mut Vec<(Addr, Payload)>) {
        match self.phase.clone() {
            Phase::Idle => {}
            Phase::Session { lease } => match client.session(lease) {
                None => self.phase = Phase::Idle, // the grant failed or was given up
                Some(s) if s.granted => self.acquire(client, lease, now, out),
                Some(_) => {}
            },
            Phase::Acquiring { lease, sent } => {
                if !client.session(lease).is_some_and(|s| s.alive(now)) {
                    self.abandon(client, lease);
                } else if now >= sent + STEP_TIMEOUT {
                    self.acquire(client, lease, now, out);
                }
            }
            Phase::Waiting { lease, mine, asked } => {
                if !client.session(lease).is_some_and(|s| s.alive(now)) {
                    self.abandon(client, lease);
                } else if now >= asked + OWNER_POLL {
                    let request = Request::LockOwner { prefix: LOCK_PREFIX.to_owned(), key: lock_key(lease) };
                    client.request(now, request, out);
                    self.phase = Phase::Waiting { lease, mine, asked: now };
                }
            }
            Phase::Holding { lease, token, mut written, mut work_until } => {
                if work_until.is_some_and(|until| now >= until) {
                    // The operation checked the lock when it began; it does not check again.
                    out.push((Addr::Storage, Payload::ProtectedWrite { client: client.index, lease, token }));
                    written += 1;
                    work_until = None;
                }
                if work_until.is_none() {
                    if !client.session(lease).is_some_and(|s| s.alive(now)) {
                        // The keep-alive deadline passed or the lease is gone: the client knows it lost it.
                        self.abandon(client, lease);
                        return;
                    }
                    let Some(&work_ms) = self.tenure.work_ms.get(written) else {
                        // Unlock: close the session (the revoke deletes the key).
                        client.request(now, Request::Revoke { id: lease }, out);
                        self.abandon(client, lease);
                        return;
                    };
                    work_until = Some(now + Duration::from_ms(work_ms));
                }
                self.phase = Phase::Holding { lease, token, written, work_until };
            }
        }
    }

    fn acquire(&mut self, client: &mut Client, lease: LeaseId, now: Instant, out: &mut Vec<(Addr, Payload)>) {
        let request = Request::LockTxn { prefix: LOCK_PREFIX.to_owned(), key: lock_key(lease), lease };
        client.request(now, request, out);
        self.phase = Phase::Acquiring { lease, sent: now };
    }

    fn abandon(&mut self, client: &mut Client, lease: LeaseId) {
        client.stop_keepalive(lease);
        self.phase = Phase::Idle;
    }

    /// An answer to one of the recipe's lock requests (`key` is the lock key it asked about).
    pub fn on_reply(&mut self, client: &mut Client, key: &str, reply: Reply) {
        let (lease, mine) = match self.phase {
            Phase::Acquiring { lease, .. } => (lease, None),
            Phase::Waiting { lease, mine, .. } => (lease, Some(mine)),
            _ => return, // a late answer to an abandoned attempt
        };
        if key != lock_key(lease) {
            return;
        }
        match reply {
            Reply::LockState { mine: Some(rev), owner } if mine.is_none_or(|m| m == rev) => {
                if owner.is_some_and(|(_, owner_rev)| owner_rev == rev) {
                    self.phase = Phase::Holding { lease, token: rev, written: 0, work_until: None };
                } else if mine.is_none() {
                    self.phase = Phase::Waiting { lease, mine: rev, asked: Instant::EPOCH };
                }
            }
            // The key is gone (its session expired) or the session lease was not found.
            Reply::LockState { .. } | Reply::Failed(LeaseError::LeaseNotFound) => self.abandon(client, lease),
            _ => {}
        }
    }
}

/// The storage lock holders protect (outside etcd): it accepts every write, or with fencing only
/// writes whose token is at least the highest it has accepted.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Storage {
    fencing: bool,
    highest_token: Option<Revision>,
}

impl Storage {
    pub fn new(fencing: bool) -> Storage {
        Storage { fencing, highest_token: None }
    }

    /// A write with `token` arrives: whether it is accepted.
    pub fn write(&mut self, token: Revision) -> bool {
        if self.fencing && self.highest_token.is_some_and(|highest| token < highest) {
            return false;
        }
        self.highest_token = self.highest_token.max(Some(token));
        true
    }
}

/// What the lock workload did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LockStats {
    /// Protected writes the storage accepted.
    pub writes_accepted: u64,
    /// Writes the storage rejected for a stale fencing token.
    pub writes_fenced: u64,
    /// Accepted writes whose writer's lease had already been revoked.
    pub writes_after_revoke: u64,
    /// Tenures that wrote (distinct tokens that were the highest when accepted).
    pub tenures: u64,
    pub client_stalls: u64,
}

impl LockStats {
    pub fn merge(&mut self, other: &LockStats) {
        self.writes_accepted += other.writes_accepted;
        self.writes_fenced += other.writes_fenced;
        self.writes_after_revoke += other.writes_after_revoke;
        self.tenures += other.tenures;
        self.client_stalls += other.client_stalls;
    }

    /// One summary line (empty when the lock workload did nothing).
    pub fn line(&self) -> String {
        let mut s = String::new();
        if *self != LockStats::default() {
            let _ = writeln!(
                s,
                "locks:               {} tenures, writes accepted {} fenced {} (accepted after the writer's lease was \
                 revoked: {}), client stalls {}",
                self.tenures, self.writes_accepted, self.writes_fenced, self.writes_after_revoke, self.client_stalls
            );
        }
        s
    }
}

/// The client-stall fault of the lock workload (a GC pause: the process freezes, timers and all).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ClientStalls {
    pub every_ms: u64,
    pub max_ms: u64,
}

impl ClientStalls {
    /// Swarm testing: on for half the seeds, at a random strength.
    pub fn draw(rng: &mut SimRng) -> Option<ClientStalls> {
        let on = rng.one_in(2);
        let every_ms = rng.between(5_000, 30_000);
        let max_ms = rng.between(1_000, 15_000);
        on.then_some(ClientStalls { every_ms, max_ms })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fencing_storage_rejects_only_tokens_below_the_highest_accepted() {
        let mut fenced = Storage::new(true);
        assert!(fenced.write(5) && fenced.write(5) && fenced.write(9));
        assert!(!fenced.write(5), "a stale token is rejected");
        assert!(fenced.write(9) && fenced.write(12));
        let mut open = Storage::new(false);
        assert!(open.write(9) && open.write(5), "without fencing every write is accepted");
    }
}
