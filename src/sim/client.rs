//! A simulated etcd client: grants leases (choosing their IDs, negative ones too), puts keys under
//! them, keeps them alive as etcd's client does (after a reply with `ttl > 0` the next keep-alive
//! is due at `ttl/3` and the local deadline is `ttl`, and the first one either so or, as etcd's
//! client does, right after the grant (`keepalive_at_grant`); unanswered keep-alives are resent every
//! 500 ms; a reply with `ttl <= 0` or a passed deadline ends the keep-alive), calls TimeToLive,
//! Leases, KeepAliveOnce and Revoke (sometimes while still keeping the lease alive), and stops
//! keeping leases alive at random so that they really expire. Requests time out and are retried
//! against another member.
//!
//! In the lock workload a client runs a [`LockRecipe`] instead of its random actions; the recipe
//! uses the client's requests, retries and keep-alive loop for its session lease, and its random
//! choices are `ClientOp::LockAcquire` operations like any other client operation.
//!
//! Owns the client's view only: it never judges anything (the oracle does, at the member that
//! produced a reply) and reads its own clock only through the `now` it is given.

use std::collections::{BTreeMap, VecDeque};
use std::fmt;

use super::lock::{LockRecipe, Tenure};
use super::network::Addr;
use super::proto::{Payload, REQUEST_TIMEOUT, Reply, Request};
use super::rng::SimRng;
use crate::lease::{LeaseError, LeaseId};
use crate::time::{Duration, Instant};

/// How often a client looks at its timers (local time).
pub const CLIENT_POLL: Duration = Duration::from_ms(100);
/// etcd's client resends an unanswered keep-alive this often.
const KEEPALIVE_RESEND: Duration = Duration::from_ms(500);
/// A client acts (beyond keep-alives) on average once per this many polls.
const ACT_ONE_IN_POLLS: u64 = 8;
/// Below its lease quota a client grants one more on average once per this many polls.
const GRANT_ONE_IN_POLLS: u64 = 5;
/// An idle lock client tries to take the lock on average once per this many polls.
const LOCK_ONE_IN_POLLS: u64 = 5;
/// Grants, puts and revokes are tried this many times before the client gives up.
const MAX_ATTEMPTS: u32 = 4;

#[derive(Clone, Debug, PartialEq, Eq)]
struct HeldLease {
    ttl_s: i64,
    granted: bool,
    keepalive: bool,
    next_keepalive: Instant,
    deadline: Instant,
    keys: u32,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct InFlight {
    request: Request,
    sent: Instant,
    attempts: u32,
}

/// The client's settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientConfig {
    pub members: usize,
    pub leases_max: usize,
    pub ttl_min_s: i64,
    pub ttl_max_s: i64,
    /// Send a lease's first keep-alive right after its grant, as etcd's client does (its keep-alive
    /// loop starts with one), instead of `ttl/3` later as after any keep-alive reply.
    pub keepalive_at_grant: bool,
}

#[derive(Clone, Debug)]
pub struct Client {
    pub index: usize,
    config: ClientConfig,
    endpoint: usize,
    next_req: u64,
    next_lease: i64,
    next_key: u64,
    leases: BTreeMap<LeaseId, HeldLease>,
    in_flight: BTreeMap<u64, InFlight>,
    /// Leases this client stopped keeping alive (for a later KeepAliveOnce).
    abandoned: Vec<LeaseId>,
    /// Where endpoint switches come from (the stream, maybe logged; or a replayed log).
    switches: Switches,
    /// No kept-alive lease has a keep-alive or deadline due before this (a lower bound).
    next_timer: Instant,
    /// A lease stopped being kept alive since the last pass over the leases (it is to be dropped).
    stopped: bool,
    /// The lock recipe this client runs instead of its random actions (the lock workload).
    lock: Option<LockRecipe>,
}

/// What a client knows of one of its leases (for the lock recipe's session).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Session {
    pub granted: bool,
    pub keepalive: bool,
    /// The local keep-alive deadline.
    pub deadline: Instant,
}

impl Session {
    /// The client believes the lease alive: its keep-alive runs and its deadline has not passed.
    pub fn alive(&self, now: Instant) -> bool {
        self.granted && self.keepalive && now < self.deadline
    }
}

/// Requests retried (against another member) when they time out or find no leader.
fn retried(request: &Request) -> bool {
    matches!(request, Request::Grant { .. } | Request::Put { .. } | Request::Revoke { .. } | Request::LockTxn { .. })
}

/// One operation a client chose (by its RNG, in a seeded run) or is given (from a schedule): the
/// client's part of a run that a schedule makes explicit and editable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClientOp {
    Grant {
        id: LeaseId,
        ttl_s: i64,
    },
    Put {
        key: String,
        lease: LeaseId,
    },
    Delete {
        key: String,
    },
    TimeToLive {
        id: LeaseId,
    },
    Leases,
    KeepAliveOnce {
        id: LeaseId,
    },
    /// Stop keeping `id` alive (so it expires).
    StopKeepAlive {
        id: LeaseId,
    },
    /// Revoke, and with `keep_alive` also send a keep-alive right after it.
    Revoke {
        id: LeaseId,
        keep_alive: bool,
    },
    /// The lock workload: take the lock with a new session lease, and hold it for this tenure
    /// (skipped unless the client's lock recipe is idle).
    LockAcquire {
        id: LeaseId,
        ttl_s: i64,
        tenure: Tenure,
    },
}

impl fmt::Display for ClientOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientOp::Grant { id, ttl_s } => write!(f, "grant {id} ttl={ttl_s}s"),
            ClientOp::Put { key, lease } => write!(f, "put {key} lease={lease}"),
            ClientOp::Delete { key } => write!(f, "delete {key}"),
            ClientOp::TimeToLive { id } => write!(f, "ttl {id}"),
            ClientOp::Leases => write!(f, "leases"),
            ClientOp::KeepAliveOnce { id } => write!(f, "keepalive-once {id}"),
            ClientOp::StopKeepAlive { id } => write!(f, "stop-keepalive {id}"),
            ClientOp::Revoke { id, keep_alive } => {
                write!(f, "revoke {id}{}", if *keep_alive { " +keepalive" } else { "" })
            }
            ClientOp::LockAcquire { id, ttl_s, tenure } => write!(f, "lock with lease {id} ttl={ttl_s}s, {tenure}"),
        }
    }
}

/// The source of a client's endpoint switches: the RNG (optionally logging each draw), or a log
/// of earlier draws (then the RNG only once the log runs out).
#[derive(Clone, Debug, Default)]
enum Switches {
    #[default]
    Drawn,
    Logged(Vec<u64>),
    Replayed(VecDeque<u64>),
}

impl Client {
    pub fn new(index: usize, config: ClientConfig, endpoint: usize) -> Client {
        Client {
            index,
            config,
            endpoint,
            next_req: 0,
            next_lease: 0,
            next_key: 0,
            leases: BTreeMap::new(),
            in_flight: BTreeMap::new(),
            abandoned: Vec::new(),
            switches: Switches::Drawn,
            next_timer: Instant::EPOCH,
            stopped: false,
            lock: None,
        }
    }

    /// This client runs the lock recipe instead of its random actions.
    pub fn with_lock(self) -> Client {
        Client { lock: Some(LockRecipe::new()), ..self }
    }

    /// Whether this client runs the lock recipe and is the lock's owner by its last answer.
    pub fn owns_lock(&self) -> bool {
        self.lock.as_ref().is_some_and(LockRecipe::owns)
    }

    /// What this client knows of lease `id`, if it still holds it.
    pub fn session(&self, id: LeaseId) -> Option<Session> {
        self.leases.get(&id).map(|l| Session { granted: l.granted, keepalive: l.keepalive, deadline: l.deadline })
    }

    /// Stops keeping lease `id` alive.
    pub fn stop_keepalive(&mut self, id: LeaseId) {
        if let Some(lease) = self.leases.get_mut(&id) {
            lease.keepalive = false;
            self.stopped = true;
        }
    }

    /// Sends a new request (first attempt).
    pub fn request(&mut self, now: Instant, request: Request, out: &mut Vec<(Addr, Payload)>) {
        self.send(now, request, 1, out);
    }

    /// From now on, log every endpoint-switch draw (see `switch_draws`).
    pub fn log_switches(&mut self) {
        self.switches = Switches::Logged(Vec::new());
    }

    /// From now on, take endpoint-switch draws from `draws` (then from the RNG).
    pub fn replay_switches(&mut self, draws: Vec<u64>) {
        self.switches = Switches::Replayed(draws.into());
    }

    /// The endpoint-switch draws logged so far.
    pub fn switch_draws(&self) -> &[u64] {
        match &self.switches {
            Switches::Logged(draws) => draws,
            _ => &[],
        }
    }

    /// How many leases this client is keeping alive.
    pub fn keeping_alive(&self) -> usize {
        self.leases.values().filter(|l| l.keepalive).count()
    }

    fn send(&mut self, now: Instant, request: Request, attempts: u32, out: &mut Vec<(Addr, Payload)>) {
        let req = self.next_req;
        self.next_req += 1;
        self.in_flight.insert(req, InFlight { request: request.clone(), sent: now, attempts });
        out.push((
            Addr::Member(self.endpoint),
            Payload::Request { client: self.index, req, request, forwarded: false },
        ));
    }

    fn switch_endpoint(&mut self, rng: &mut SimRng) {
        if self.config.members > 1 {
            let others = self.config.members - 1;
            let draw = match &mut self.switches {
                Switches::Drawn => rng.index(others),
                Switches::Logged(log) => {
                    let draw = rng.index(others);
                    log.push(draw as u64);
                    draw
                }
                Switches::Replayed(log) => log.pop_front().map_or_else(|| rng.index(others), |d| d as usize % others),
            };
            self.endpoint = (self.endpoint + 1 + draw) % self.config.members;
        }
    }

    /// The client's periodic wake-up: time-outs and retries, the keep-alive loop, and maybe one
    /// random action. Returns the operations it chose (none besides keep-alives most of the time).
    pub fn poll(
        &mut self,
        now: Instant,
        rng: &mut SimRng,
        active: bool,
        out: &mut Vec<(Addr, Payload)>,
    ) -> Vec<ClientOp> {
        self.timers(now, rng, out);
        let mut chosen = Vec::new();
        if let Some(lock) = &self.lock {
            if active && lock.is_idle() && rng.one_in(LOCK_ONE_IN_POLLS) {
                let (id, ttl_s) = self.draw_grant(rng);
                chosen.push(ClientOp::LockAcquire { id, ttl_s, tenure: Tenure::draw(rng) });
                self.perform(now, chosen[0].clone(), out);
            }
            self.lock_step(now, out);
            return chosen;
        }
        if active && self.leases.len() < self.config.leases_max && rng.one_in(GRANT_ONE_IN_POLLS) {
            chosen.push(self.choose_grant(rng));
            self.perform(now, chosen[0].clone(), out);
        }
        if active
            && rng.one_in(ACT_ONE_IN_POLLS)
            && let Some(op) = self.choose(rng)
        {
            self.perform(now, op.clone(), out);
            chosen.push(op);
        }
        chosen
    }

    /// As `poll`, with the given operations instead of random ones (a schedule's replay).
    pub fn poll_scripted(
        &mut self,
        now: Instant,
        rng: &mut SimRng,
        ops: impl IntoIterator<Item = ClientOp>,
        out: &mut Vec<(Addr, Payload)>,
    ) {
        self.timers(now, rng, out);
        for op in ops {
            self.perform(now, op, out);
        }
        self.lock_step(now, out);
    }

    /// The lock recipe's step, after the timers and the operations of this poll.
    fn lock_step(&mut self, now: Instant, out: &mut Vec<(Addr, Payload)>) {
        if let Some(mut lock) = self.lock.take() {
            lock.poll(self, now, out);
            self.lock = Some(lock);
        }
    }

    /// Time-outs and retries, and the keep-alive loop.
    fn timers(&mut self, now: Instant, rng: &mut SimRng, out: &mut Vec<(Addr, Payload)>) {
        let timed_out: Vec<u64> =
            self.in_flight.iter().filter(|(_, f)| f.sent + REQUEST_TIMEOUT <= now).map(|(r, _)| *r).collect();
        if !timed_out.is_empty() {
            self.switch_endpoint(rng);
        }
        for req in timed_out {
            let flight = self.in_flight.remove(&req).expect("listed above");
            if retried(&flight.request) && flight.attempts < MAX_ATTEMPTS {
                self.send(now, flight.request, flight.attempts + 1, out);
            } else if let Request::Grant { id, .. } = flight.request
                && self.leases.get(&id).is_some_and(|l| !l.granted)
            {
                self.leases.remove(&id); // gave up: the grant may or may not have happened
            }
        }
        if self.stopped || now >= self.next_timer {
            self.keepalive_pass(now, out);
        } else {
            debug_assert!(
                self.leases
                    .values()
                    .all(|l| (l.keepalive || !l.granted)
                        && !(l.keepalive && (now >= l.deadline || now >= l.next_keepalive))),
                "a client skipped its pass over the leases with something due"
            );
        }
    }

    /// The keep-alive loop over every lease: keep-alives due are sent, keep-alives past their
    /// deadline end, and leases no longer kept alive are dropped. Polls skip it while nothing is due
    /// (`next_timer`) and no lease stopped being kept alive (`stopped`): it would do nothing.
    fn keepalive_pass(&mut self, now: Instant, out: &mut Vec<(Addr, Payload)>) {
        // One walk over the leases (in ID order, as the sends and `abandoned` need): timers, what
        // to drop, and the next pass's time; the keep-alives due are sent after it.
        let mut due = Vec::new();
        let mut next_timer = Instant::FOREVER;
        let abandoned = &mut self.abandoned;
        self.leases.retain(|id, lease| {
            if lease.keepalive {
                if now >= lease.deadline {
                    lease.keepalive = false; // no reply before the deadline: the keep-alive ends
                } else if now >= lease.next_keepalive {
                    lease.next_keepalive = now + KEEPALIVE_RESEND;
                    due.push(*id);
                }
            }
            let keep = lease.keepalive || !lease.granted;
            if !keep {
                abandoned.push(*id);
            } else if lease.keepalive {
                next_timer = next_timer.min(lease.next_keepalive).min(lease.deadline);
            }
            keep
        });
        for id in due {
            self.send(now, Request::KeepAlive { id }, 1, out);
        }
        self.stopped = false;
        self.next_timer = next_timer;
    }

    /// A kept-alive lease's timers moved: the next pass may be due earlier.
    fn timers_set(&mut self, next_keepalive: Instant, deadline: Instant) {
        self.next_timer = self.next_timer.min(next_keepalive).min(deadline);
    }

    fn random_lease(&self, rng: &mut SimRng) -> Option<LeaseId> {
        let ids: Vec<LeaseId> = self.leases.iter().filter(|(_, l)| l.granted).map(|(id, _)| *id).collect();
        (!ids.is_empty()).then(|| ids[rng.index(ids.len())])
    }

    fn choose_grant(&mut self, rng: &mut SimRng) -> ClientOp {
        let (id, ttl_s) = self.draw_grant(rng);
        ClientOp::Grant { id, ttl_s }
    }

    /// A new lease ID and a TTL for it.
    fn draw_grant(&mut self, rng: &mut SimRng) -> (LeaseId, i64) {
        self.next_lease += 1;
        let magnitude = (self.index as i64 + 1) * 1_000_000 + self.next_lease;
        let id = if self.next_lease % 5 == 0 { -magnitude } else { magnitude };
        let ttl_s = rng.between_i64(self.config.ttl_min_s, self.config.ttl_max_s);
        (id, ttl_s)
    }

    /// One random action (or none: nothing to act on, or the lease quota is full).
    fn choose(&mut self, rng: &mut SimRng) -> Option<ClientOp> {
        let roll = rng.below(100);
        if roll < 30 {
            (self.leases.len() < self.config.leases_max).then(|| self.choose_grant(rng))
        } else if roll < 55 {
            let lease = self.random_lease(rng)?;
            self.next_key += 1;
            Some(ClientOp::Put { key: format!("c{}/k{}", self.index, self.next_key % 16), lease })
        } else if roll < 62 {
            Some(ClientOp::Delete { key: format!("c{}/k{}", self.index, rng.below(16)) })
        } else if roll < 70 {
            self.random_lease(rng).map(|id| ClientOp::TimeToLive { id })
        } else if roll < 74 {
            Some(ClientOp::Leases)
        } else if roll < 82 {
            // KeepAliveOnce, often on a lease this client stopped keeping alive.
            let id = if !self.abandoned.is_empty() && rng.one_in(2) {
                Some(self.abandoned[rng.index(self.abandoned.len())])
            } else {
                self.random_lease(rng)
            };
            id.map(|id| ClientOp::KeepAliveOnce { id })
        } else if roll < 93 {
            self.random_lease(rng).map(|id| ClientOp::StopKeepAlive { id }) // let it expire
        } else {
            // Revoke, and half of the time keep alive at once (revoke while keeping alive).
            let id = self.random_lease(rng)?;
            Some(ClientOp::Revoke { id, keep_alive: rng.one_in(2) })
        }
    }

    /// Carries out one operation. An operation on a lease this client does not hold (granted) is
    /// skipped, as is a grant of a lease it already holds: a schedule with items removed can ask
    /// for those.
    pub fn perform(&mut self, now: Instant, op: ClientOp, out: &mut Vec<(Addr, Payload)>) {
        let holds = |client: &Client, id: LeaseId| client.leases.get(&id).is_some_and(|l| l.granted);
        match op {
            ClientOp::Grant { id, ttl_s } => {
                if self.leases.contains_key(&id) {
                    return;
                }
                let lease =
                    HeldLease { ttl_s, granted: false, keepalive: false, next_keepalive: now, deadline: now, keys: 0 };
                self.leases.insert(id, lease);
                self.send(now, Request::Grant { id, ttl_s }, 1, out);
            }
            ClientOp::Put { key, lease } => {
                if let Some(held) = self.leases.get_mut(&lease).filter(|l| l.granted) {
                    held.keys += 1;
                    self.send(now, Request::Put { key, lease }, 1, out);
                }
            }
            ClientOp::Delete { key } => self.send(now, Request::Delete { key }, 1, out),
            ClientOp::TimeToLive { id } => self.send(now, Request::TimeToLive { id }, 1, out),
            ClientOp::Leases => self.send(now, Request::Leases, 1, out),
            ClientOp::KeepAliveOnce { id } => self.send(now, Request::KeepAlive { id }, 1, out),
            ClientOp::StopKeepAlive { id } => {
                if let Some(held) = self.leases.get_mut(&id).filter(|l| l.granted) {
                    held.keepalive = false;
                    self.stopped = true;
                }
            }
            ClientOp::Revoke { id, keep_alive } => {
                if holds(self, id) {
                    self.send(now, Request::Revoke { id }, 1, out);
                    if keep_alive {
                        self.send(now, Request::KeepAlive { id }, 1, out);
                    }
                }
            }
            ClientOp::LockAcquire { id, ttl_s, tenure } => {
                if self.lock.as_ref().is_some_and(LockRecipe::is_idle) && !self.leases.contains_key(&id) {
                    self.perform(now, ClientOp::Grant { id, ttl_s }, out);
                    self.lock.as_mut().expect("checked above").start(id, tenure);
                }
            }
        }
    }

    /// A reply arrived.
    pub fn on_reply(&mut self, now: Instant, rng: &mut SimRng, req: u64, reply: Reply) {
        let Some(flight) = self.in_flight.remove(&req) else { return }; // late or duplicate
        match (flight.request, reply) {
            (Request::Grant { id, .. }, Reply::Granted { ttl_s, .. }) => self.granted(now, id, ttl_s),
            (Request::Grant { id, ttl_s }, Reply::Failed(LeaseError::LeaseExists)) if flight.attempts > 1 => {
                self.granted(now, id, ttl_s) // an earlier attempt went through
            }
            (Request::Grant { id, .. }, Reply::Failed(_)) => {
                self.leases.remove(&id);
            }
            (_, Reply::KeepAlive { id, ttl_s }) => {
                if let Some(lease) = self.leases.get_mut(&id) {
                    if ttl_s > 0 && lease.keepalive {
                        lease.next_keepalive = now + Duration::from_ms(ttl_s as u64 * 1000 / 3);
                        lease.deadline = now + Duration::from_secs_i64(ttl_s);
                        let (next_keepalive, deadline) = (lease.next_keepalive, lease.deadline);
                        self.timers_set(next_keepalive, deadline);
                    } else if ttl_s <= 0 {
                        lease.keepalive = false; // the lease is gone
                        self.stopped = true;
                    }
                }
            }
            (Request::Revoke { id }, Reply::Revoked { .. } | Reply::Failed(LeaseError::LeaseNotFound)) => {
                if let Some(lease) = self.leases.get_mut(&id) {
                    lease.keepalive = false;
                    self.stopped = true;
                }
            }
            (Request::LockTxn { key, .. } | Request::LockOwner { key, .. }, reply)
                if !matches!(reply, Reply::Unavailable) =>
            {
                if let Some(mut lock) = self.lock.take() {
                    lock.on_reply(self, &key, reply);
                    self.lock = Some(lock);
                }
            }
            (request, Reply::Unavailable) => {
                self.switch_endpoint(rng);
                if retried(&request) {
                    // Retried (elsewhere) at the next poll, as a timed-out request would be.
                    let sent = Instant(now.as_ms().saturating_sub(REQUEST_TIMEOUT.as_ms()));
                    self.in_flight.insert(req, InFlight { request, sent, attempts: flight.attempts });
                }
            }
            _ => {}
        }
    }

    fn granted(&mut self, now: Instant, id: LeaseId, ttl_s: i64) {
        if let Some(lease) = self.leases.get_mut(&id) {
            lease.ttl_s = ttl_s;
            lease.granted = true;
            lease.keepalive = true;
            lease.next_keepalive =
                if self.config.keepalive_at_grant { now } else { now + Duration::from_ms(ttl_s as u64 * 1000 / 3) };
            lease.deadline = now + Duration::from_secs_i64(ttl_s);
            let (next_keepalive, deadline) = (lease.next_keepalive, lease.deadline);
            self.timers_set(next_keepalive, deadline);
        }
    }
}
