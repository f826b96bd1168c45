//! The lessor's limits and switches, as explicit configuration (SPEC §1, §3).

use crate::bugs::Bugs;
use crate::time::Duration;

/// etcd's `MaxLeaseTTL`: 9,000,000,000 seconds.
pub const MAX_LEASE_TTL_S: i64 = 9_000_000_000;
/// The period of the expired-lease scan and of the checkpoint scan (etcd's 500 ms run loop).
pub const EXPIRY_SCAN_PERIOD: Duration = Duration::from_ms(500);
/// At most this many checkpoints go in one replicated batch.
pub const MAX_CHECKPOINT_BATCH: usize = 1000;

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct LessorConfig {
    /// Shorter TTLs (zero and negatives included) are raised to this.
    pub min_ttl_s: i64,
    /// An expired lease's queue entry is re-armed this far ahead, so a lost revoke is retried.
    pub retry_interval: Duration,
    /// Leases whose remaining TTL exceeds this get a checkpoint scheduled this often.
    pub checkpoint_interval: Duration,
    /// Checkpointing on (etcd's `--experimental-enable-lease-checkpoint`).
    pub checkpointing: bool,
    /// Checkpointed remaining TTLs are persisted (etcd's flag, or cluster version ≥ 3.6).
    pub checkpoint_persist: bool,
    /// etcd's `leaseRevokeRate`: a scan takes at most half of it; promote spreads pile-ups by it.
    pub revoke_rate_per_s: usize,
    /// Salt of the "map order" in which etcd-6098 deletes keys (differs per member, as Go's map
    /// iteration order does). Unused on the fixed path.
    pub map_order_salt: u64,
    /// Switched-on bugs; none by default.
    pub bugs: Bugs,
}

impl LessorConfig {
    /// etcd's server defaults: min TTL 2 s (100 ms heartbeat, 1 s election), retry 7 s (the server's
    /// `expiredLeaseRetryInterval` is set from the request timeout), checkpoint interval 5 min,
    /// checkpointing off, revoke rate 1000/s.
    pub fn server_defaults() -> LessorConfig {
        LessorConfig {
            min_ttl_s: 2,
            retry_interval: Duration::from_secs(7),
            checkpoint_interval: Duration::from_secs(300),
            checkpointing: false,
            checkpoint_persist: false,
            revoke_rate_per_s: 1000,
            map_order_salt: 0,
            bugs: Bugs::NONE,
        }
    }

    /// The bare lessor's defaults (`lease.NewLessor` without a server): retry 3 s.
    pub fn bare_lessor() -> LessorConfig {
        LessorConfig { retry_interval: Duration::from_secs(3), ..LessorConfig::server_defaults() }
    }

    /// etcd's minimum TTL for an election timeout: `ceil((3 * election_ticks / 2) * tick_ms / 1000)`.
    pub fn min_ttl_for(election_ticks: u64, tick_ms: u64) -> i64 {
        let ms = (3 * election_ticks / 2) * tick_ms;
        ms.div_ceil(1000) as i64
    }

    /// At most this many expired leases are taken per scan.
    pub fn revoke_limit_per_scan(&self) -> usize {
        self.revoke_rate_per_s / 2
    }
}

impl Default for LessorConfig {
    fn default() -> LessorConfig {
        LessorConfig::server_defaults()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn min_ttl_matches_etcd_defaults() {
        assert_eq!(LessorConfig::min_ttl_for(10, 100), 2);
        assert_eq!(LessorConfig::min_ttl_for(50, 100), 8);
    }
}
