//! The registry of bug switches: etcd's real lease bugs (SPEC §6) that can be put back at run time.
//!
//! Owns the names (`etcd-<issue>`), their one-line mechanisms and the property each breaks. It does
//! not implement any of them: each switch is one clearly marked branch at the place the bug lived
//! (`if self.config.bugs.has(Bug::Etcd6570) { … }`). Switches are values chosen at run time, never
//! compiled-out copies of the code.

use std::fmt;

/// One bug switch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Bug {
    /// Renew of an expired, not yet revoked lease refreshed it.
    Etcd6570,
    /// An expired lease was popped from the expiry queue once and never retried.
    Etcd10693,
    /// Non-primary lessors registered leases in the expiry queue and never popped them.
    Etcd11731,
    /// Renew did not re-check that the lease still exists before refreshing it.
    Etcd20590,
    /// Revoke removed the lease separately from deleting its keys, one key per revision, in map order.
    Etcd6098,
    /// Promote ignored the checkpointed remaining TTL: every leader change reset every lease to its full TTL.
    Etcd9888,
    /// Promote did not re-arm the checkpoint schedule: no checkpoints after the first leader change.
    Etcd13491,
    /// The leader renewed without waiting to apply what was committed: a renew right after a grant got TTL 0.
    Etcd13675,
    /// The expiry scan proposed revokes without confirming leadership: a stalled old leader revoked live leases.
    Etcd15247,
}

impl Bug {
    pub const ALL: [Bug; 9] = [
        Bug::Etcd6570,
        Bug::Etcd10693,
        Bug::Etcd11731,
        Bug::Etcd20590,
        Bug::Etcd6098,
        Bug::Etcd9888,
        Bug::Etcd13491,
        Bug::Etcd13675,
        Bug::Etcd15247,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Bug::Etcd6570 => "etcd-6570",
            Bug::Etcd10693 => "etcd-10693",
            Bug::Etcd11731 => "etcd-11731",
            Bug::Etcd20590 => "etcd-20590",
            Bug::Etcd6098 => "etcd-6098",
            Bug::Etcd9888 => "etcd-9888",
            Bug::Etcd13491 => "etcd-13491",
            Bug::Etcd13675 => "etcd-13675",
            Bug::Etcd15247 => "etcd-15247",
        }
    }

    /// The mechanism, in one line.
    pub fn mechanism(self) -> &'static str {
        match self {
            Bug::Etcd6570 => "renew of an expired, not yet revoked lease refreshes it",
            Bug::Etcd10693 => "an expired lease is popped once; if its revoke is lost it is never retried",
            Bug::Etcd11731 => "non-primary lessors register leases in the expiry queue and never pop them",
            Bug::Etcd20590 => "renew does not re-check existence before refreshing; a revoke in between still succeeds",
            Bug::Etcd6098 => "revoke removes the lease, then deletes its keys one by one in map order",
            Bug::Etcd9888 => {
                "promote ignores the checkpointed remaining TTL: every leader change resets leases to full TTL"
            }
            Bug::Etcd13491 => {
                "promote does not re-arm the checkpoint schedule: no checkpoints after the first leader change"
            }
            Bug::Etcd13675 => {
                "the leader renews before applying what was committed: a renew right after grant answers TTL 0"
            }
            Bug::Etcd15247 => {
                "the expiry scan revokes without confirming leadership: a stalled old leader revokes live leases"
            }
        }
    }

    /// The property (see `oracle`) this bug breaks.
    pub fn breaks(self) -> &'static str {
        match self {
            Bug::Etcd6570 => crate::oracle::RENEW_NEVER_RESURRECTS,
            Bug::Etcd10693 => crate::oracle::REVOKED_IN_TIME,
            Bug::Etcd11731 => crate::oracle::EXPIRY_QUEUE_BOUNDED,
            Bug::Etcd20590 => crate::oracle::RENEW_NEVER_RESURRECTS,
            Bug::Etcd6098 => crate::oracle::NO_KEY_OUTLIVES_ITS_LEASE,
            Bug::Etcd9888 => crate::oracle::PROMOTE_HONOURS_CHECKPOINT,
            Bug::Etcd13491 => crate::oracle::PROMOTE_EXTENSION_BOUNDED,
            Bug::Etcd13675 => crate::oracle::GRANTED_LEASE_RENEWABLE,
            Bug::Etcd15247 => crate::oracle::NO_EARLY_REVOKE,
        }
    }

    fn bit(self) -> u32 {
        1 << (self as u32)
    }
}

impl fmt::Display for Bug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Bug {
    type Err = String;
    fn from_str(text: &str) -> Result<Bug, String> {
        Bug::ALL.into_iter().find(|b| b.name() == text).ok_or_else(|| {
            let known: Vec<&str> = Bug::ALL.iter().map(|b| b.name()).collect();
            format!("unknown bug `{text}`; known bugs: {}", known.join(", "))
        })
    }
}

/// A set of switched-on bugs. Empty (etcd's fixed behaviour) by default.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Bugs(u32);

impl Bugs {
    pub const NONE: Bugs = Bugs(0);

    pub fn only(bug: Bug) -> Bugs {
        Bugs(bug.bit())
    }
    pub fn with(self, bug: Bug) -> Bugs {
        Bugs(self.0 | bug.bit())
    }
    pub fn has(self, bug: Bug) -> bool {
        self.0 & bug.bit() != 0
    }
    pub fn iter(self) -> impl Iterator<Item = Bug> {
        Bug::ALL.into_iter().filter(move |b| self.has(*b))
    }
}

impl fmt::Display for Bugs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.iter().map(Bug::name).collect();
        if names.is_empty() { f.write_str("none") } else { f.write_str(&names.join(",")) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_names_are_errors() {
        for bug in Bug::ALL {
            assert_eq!(bug.name().parse::<Bug>(), Ok(bug));
        }
        let err = "etcd-1".parse::<Bug>().unwrap_err();
        assert!(err.contains("unknown bug `etcd-1`") && err.contains("etcd-6570"), "{err}");
    }

    #[test]
    fn sets_hold_what_was_added() {
        let bugs = Bugs::only(Bug::Etcd6570).with(Bug::Etcd6098);
        assert!(bugs.has(Bug::Etcd6570) && bugs.has(Bug::Etcd6098) && !bugs.has(Bug::Etcd10693));
        assert_eq!(bugs.to_string(), "etcd-6570,etcd-6098");
        assert_eq!(Bugs::NONE.to_string(), "none");
    }
}
