//! A simulated etcd client: grants leases (choosing their IDs, negative ones too), puts keys under
//! them, keeps them alive as etcd's client does (after a reply with `ttl > 0` the next keep-alive
//! is due at `ttl/3` and the local deadline is `ttl`; unanswered keep-alives are resent every
//! 500 ms; a reply with `ttl <= 0` or a passed deadline ends the keep-alive), calls TimeToLive,
//! Leases, KeepAliveOnce and Revoke (sometimes while still keeping the lease alive), and stops
//! keeping leases alive at random so that they really expire. Requests time out and are retried
//! against another member.
//!
//! Owns the client's view only: it never judges anything (the oracle does, at the member that
//! produced a reply) and reads its own clock only through the `now` it is given.

use std::collections::BTreeMap;

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
            self.endpoint = (self.endpoint + 1 + rng.index(self.config.members - 1)) % self.config.members;
        }
    }

    /// The client's periodic wake-up: time-outs and retries, the keep-alive loop, and maybe one
    /// random action.
    pub fn poll(&mut self, now: Instant, rng: &mut SimRng, active: bool, out: &mut Vec<(Addr, Payload)>) {
        let timed_out: Vec<u64> =
            self.in_flight.iter().filter(|(_, f)| f.sent + REQUEST_TIMEOUT <= now).map(|(r, _)| *r).collect();
        if !timed_out.is_empty() {
            self.switch_endpoint(rng);
        }
        for req in timed_out {
            let flight = self.in_flight.remove(&req).expect("listed above");
            let retry = matches!(flight.request, Request::Grant { .. } | Request::Put { .. } | Request::Revoke { .. });
            if retry && flight.attempts < MAX_ATTEMPTS {
                self.send(now, flight.request, flight.attempts + 1, out);
            } else if let Request::Grant { id, .. } = flight.request {
                if self.leases.get(&id).is_some_and(|l| !l.granted) {
                    self.leases.remove(&id); // gave up: the grant may or may not have happened
                }
            }
        }
        let mut due = Vec::new();
        for (id, lease) in self.leases.iter_mut() {
            if !lease.keepalive {
                continue;
            }
            if now >= lease.deadline {
                lease.keepalive = false; // no reply before the deadline: the keep-alive ends
            } else if now >= lease.next_keepalive {
                lease.next_keepalive = now + KEEPALIVE_RESEND;
                due.push(*id);
            }
        }
        for id in due {
            self.send(now, Request::KeepAlive { id }, 1, out);
        }
        self.leases.retain(|id, l| {
            let keep = l.keepalive || !l.granted;
            if !keep {
                self.abandoned.push(*id);
            }
            keep
        });
        if active && self.leases.len() < self.config.leases_max && rng.one_in(GRANT_ONE_IN_POLLS) {
            self.grant(now, rng, out);
        }
        if active && rng.one_in(ACT_ONE_IN_POLLS) {
            self.act(now, rng, out);
        }
    }

    fn random_lease(&self, rng: &mut SimRng) -> Option<LeaseId> {
        let ids: Vec<LeaseId> = self.leases.iter().filter(|(_, l)| l.granted).map(|(id, _)| *id).collect();
        (!ids.is_empty()).then(|| ids[rng.index(ids.len())])
    }

    fn grant(&mut self, now: Instant, rng: &mut SimRng, out: &mut Vec<(Addr, Payload)>) {
        self.next_lease += 1;
        let magnitude = (self.index as i64 + 1) * 1_000_000 + self.next_lease;
        let id = if self.next_lease % 5 == 0 { -magnitude } else { magnitude };
        let ttl_s = rng.between_i64(self.config.ttl_min_s, self.config.ttl_max_s);
        let lease = HeldLease { ttl_s, granted: false, keepalive: false, next_keepalive: now, deadline: now, keys: 0 };
        self.leases.insert(id, lease);
        self.send(now, Request::Grant { id, ttl_s }, 1, out);
    }

    fn act(&mut self, now: Instant, rng: &mut SimRng, out: &mut Vec<(Addr, Payload)>) {
        let roll = rng.below(100);
        if roll < 30 {
            if self.leases.len() < self.config.leases_max {
                self.grant(now, rng, out);
            }
        } else if roll < 55 {
            if let Some(id) = self.random_lease(rng) {
                self.next_key += 1;
                let key = format!("c{}/k{}", self.index, self.next_key % 16);
                self.leases.get_mut(&id).expect("chosen above").keys += 1;
                self.send(now, Request::Put { key, lease: id }, 1, out);
            }
        } else if roll < 62 {
            let key = format!("c{}/k{}", self.index, rng.below(16));
            self.send(now, Request::Delete { key }, 1, out);
        } else if roll < 70 {
            if let Some(id) = self.random_lease(rng) {
                self.send(now, Request::TimeToLive { id }, 1, out);
            }
        } else if roll < 74 {
            self.send(now, Request::Leases, 1, out);
        } else if roll < 82 {
            // KeepAliveOnce, often on a lease this client stopped keeping alive.
            let id = if !self.abandoned.is_empty() && rng.one_in(2) {
                Some(self.abandoned[rng.index(self.abandoned.len())])
            } else {
                self.random_lease(rng)
            };
            if let Some(id) = id {
                self.send(now, Request::KeepAlive { id }, 1, out);
            }
        } else if roll < 93 {
            if let Some(id) = self.random_lease(rng) {
                self.leases.get_mut(&id).expect("chosen above").keepalive = false; // let it expire
            }
        } else if let Some(id) = self.random_lease(rng) {
            self.send(now, Request::Revoke { id }, 1, out);
            if rng.one_in(2) {
                self.send(now, Request::KeepAlive { id }, 1, out); // revoke while keeping alive
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
                    } else if ttl_s <= 0 {
                        lease.keepalive = false; // the lease is gone
                    }
                }
            }
            (Request::Revoke { id }, Reply::Revoked { .. } | Reply::Failed(LeaseError::LeaseNotFound)) => {
                if let Some(lease) = self.leases.get_mut(&id) {
                    lease.keepalive = false;
                }
            }
            (request, Reply::Unavailable) => {
                self.switch_endpoint(rng);
                if matches!(request, Request::Grant { .. } | Request::Put { .. } | Request::Revoke { .. }) {
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
            lease.next_keepalive = now + Duration::from_ms(ttl_s as u64 * 1000 / 3);
            lease.deadline = now + Duration::from_secs_i64(ttl_s);
        }
    }
}
