//! Renew (keep-alive) as steps: `renew_begin` (primary? known? expired?) → the driver's optional
//! checkpoint round trip (replicate `{id, 0}` and wait for it to apply) → `renew_finish` (re-check
//! and refresh). Between the steps other operations may land, as in etcd.

use super::{LeaseError, LeaseId, Lessor};
use crate::bugs::Bug;
use crate::expiry::ExpiryQueue;
use crate::time::{Duration, Instant};

/// A renew that passed its first step.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RenewTicket {
    pub id: LeaseId,
    /// The granted TTL seen at the first step (what etcd's stale lease pointer still holds).
    pub ttl_s: i64,
    /// The driver must first replicate checkpoint `{id, 0}` and wait for it to apply.
    pub needs_checkpoint: bool,
}

/// The outcome of `renew_begin`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RenewBegin {
    /// Go on: checkpoint if the ticket says so, then `renew_finish`.
    Proceed(RenewTicket),
    /// The lease has expired but is not revoked yet: the caller waits until the revoke lands
    /// (`LeaseNotFound`) or leadership is lost (`NotPrimary`). It is never refreshed.
    Blocked,
}

impl<Q: ExpiryQueue> Lessor<Q> {
    /// Renew's first step.
    pub fn renew_begin(&self, now: Instant, id: LeaseId) -> Result<RenewBegin, LeaseError> {
        if !self.primary {
            return Err(LeaseError::NotPrimary);
        }
        let lease = self.leases.get(&id).ok_or(LeaseError::LeaseNotFound)?;
        // BUG etcd-6570: an expired lease was refreshed instead of waiting for its revoke.
        if lease.is_expired(now) && !self.config.bugs.has(Bug::Etcd6570) {
            return Ok(RenewBegin::Blocked);
        }
        Ok(RenewBegin::Proceed(RenewTicket {
            id,
            ttl_s: lease.ttl_s,
            needs_checkpoint: self.config.checkpointing && lease.remaining_ttl_s > 0,
        }))
    }

    /// Renew's last step: re-check the lease still exists, then `expiry = now + remaining_or_ttl`,
    /// update its one queue entry in place, and answer the **granted** TTL.
    ///
    /// Deliberate difference from etcd 3.6: if the lessor was demoted during the checkpoint round
    /// trip this answers `NotPrimary` instead of refreshing a lease on a non-primary (which etcd
    /// does harmlessly, since a non-primary never scans and promote refreshes every lease).
    pub fn renew_finish(&mut self, now: Instant, ticket: RenewTicket) -> Result<i64, LeaseError> {
        if !self.primary {
            return Err(LeaseError::NotPrimary);
        }
        let Some(lease) = self.leases.get_mut(&ticket.id) else {
            if self.config.bugs.has(Bug::Etcd20590) {
                // BUG etcd-20590: existence was checked only in the first step; the stale lease
                // was refreshed and re-registered, and the renew answered success.
                self.expiry_queue.upsert(ticket.id, now + Duration::from_secs_i64(ticket.ttl_s));
                return Ok(ticket.ttl_s);
            }
            return Err(LeaseError::LeaseNotFound);
        };
        lease.refresh(now, Duration::ZERO);
        // By the handle the lease record keeps: no second lookup of the ID in the index.
        lease.expiry_handle = self.expiry_queue.upsert_at(lease.expiry_handle, ticket.id, lease.expiry);
        Ok(lease.ttl_s)
    }

    /// Renew in one call, for callers that need no interleaving: `Ok(None)` means blocked (expired,
    /// revoke pending). The checkpoint a renew needs is applied locally at once.
    pub fn renew(&mut self, now: Instant, id: LeaseId) -> Result<Option<i64>, LeaseError> {
        match self.renew_begin(now, id)? {
            RenewBegin::Blocked => Ok(None),
            RenewBegin::Proceed(ticket) => {
                if ticket.needs_checkpoint {
                    self.checkpoint(now, id, 0);
                }
                self.renew_finish(now, ticket).map(Some)
            }
        }
    }
}
