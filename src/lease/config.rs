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
    /// Which etcd release to follow where releases differ (the README's version table); the newer
    /// behaviour (SPEC.md) by default.
    pub etcd_version: EtcdVersion,
}

/// The etcd releases whose behaviour differs in ways leasesim models.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EtcdVersion {
    /// etcd 3.4: the consistent index is persisted only with a write that changes the KV, so after a
    /// crash every write applied since the last such write is applied again, against the recovered
    /// leases (a put that failed with `LeaseNotFound` can then succeed and shift revisions).
    V3_4,
    /// etcd 3.5 and later (SPEC.md): what was applied stays applied.
    #[default]
    V3_5,
}

impl EtcdVersion {
    /// `3.4` or `3.5`.
    pub fn name(self) -> &'static str {
        match self {
            EtcdVersion::V3_4 => "3.4",
            EtcdVersion::V3_5 => "3.5",
        }
    }

    /// From a trace's `version=` or a server's version string (`3.4.23` → 3.4; 3.5 and later → 3.5).
    pub fn parse(text: &str) -> Result<EtcdVersion, String> {
        let mut parts = text.trim_start_matches('v').split('.');
        let major_minor =
            (parts.next().and_then(|m| m.parse::<u32>().ok()), parts.next().and_then(|m| m.parse::<u32>().ok()));
        match major_minor {
            (Some(3), Some(4)) => Ok(EtcdVersion::V3_4),
            (Some(3), Some(minor)) if minor >= 5 => Ok(EtcdVersion::V3_5),
            (Some(major), Some(_)) if major > 3 => Ok(EtcdVersion::V3_5),
            _ => Err(format!("etcd version `{text}` is not modelled; known: 3.4, 3.5 (and later)")),
        }
    }
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
            etcd_version: EtcdVersion::V3_5,
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

    #[test]
    fn etcd_versions_parse_from_trace_keys_and_server_strings() {
        assert_eq!(EtcdVersion::parse("3.4"), Ok(EtcdVersion::V3_4));
        assert_eq!(EtcdVersion::parse("3.4.23"), Ok(EtcdVersion::V3_4));
        assert_eq!(EtcdVersion::parse("3.5.17"), Ok(EtcdVersion::V3_5));
        assert_eq!(EtcdVersion::parse("3.6.0"), Ok(EtcdVersion::V3_5));
        assert!(EtcdVersion::parse("3.3.1").unwrap_err().contains("not modelled"));
        assert!(EtcdVersion::parse("x").is_err());
        assert_eq!(LessorConfig::server_defaults().etcd_version, EtcdVersion::V3_5);
    }
}
