//! Which traces a wall-clock run can judge. The replayer's time moves only with `advance` and its
//! scans fall on exact 500 ms multiples; etcd's clock keeps running while commands execute, its scan
//! has its own phase and a revoke takes a commit. A trace is fair to compare only if, whenever a
//! reply is produced, every lease is either clearly alive or clearly revoked in both.
//!
//! Owns the margins and the check, run on the replayer alone (no etcd). It does not compare replies
//! and does not loosen any comparison: a trace that fails this check is skipped or not generated.

use crate::lease::LeaseId;
use crate::trace::{Command, Replayer, TraceConfig};

/// How far behind trace time the wall clock may be when a command finishes (checked per command on
/// every run; a slower run is inconclusive, not a disagreement).
pub const LATENESS_BUDGET_MS: u64 = 300;
/// Every lease present at a command must have at least this long left in trace time: lateness
/// budget + the gap between etcd's promote and the runner seeing it healthy again after a restart +
/// slack.
pub const ALIVE_MARGIN_MS: i64 = 700;
/// A lease the replayer revoked by expiry during an advance must have expired at least this long
/// before the advance ends: lateness of its grant or renew + one 500 ms scan period + commit + slack.
pub const REVOKED_MARGIN_MS: i64 = 1000;

/// Why a trace cannot be judged on the wall clock: the 1-based position of the command in
/// `commands`, its line, and what is too close.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hazard {
    pub index: usize,
    pub line: usize,
    pub detail: String,
}

impl std::fmt::Display for Hazard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}: {}", self.line, self.detail)
    }
}

/// The first place where a wall-clock run could not be judged, if any.
pub fn timing_hazard(config: &TraceConfig, commands: &[(usize, Command)]) -> Option<Hazard> {
    let mut replayer = Replayer::new(config.clone());
    for (index, (line, command)) in commands.iter().enumerate() {
        if let Some(detail) = step_hazard(&mut replayer, command) {
            return Some(Hazard { index, line: *line, detail });
        }
    }
    None
}

/// Runs one command on `replayer`; what makes it unjudgeable, if anything. Commands the replayer
/// rejects (step misuse) are left to the caller's own checks.
pub fn step_hazard(replayer: &mut Replayer, command: &Command) -> Option<String> {
    let before: Vec<(LeaseId, i64)> = expiries(replayer);
    let (_reply, _verdict) = replayer.execute(command).ok()?;
    let now = replayer.now().as_ms() as i64;
    if let Command::Advance { .. } = command {
        for &(id, expiry) in &before {
            let revoked = replayer.lessor().lookup(id).is_none();
            if revoked && now - expiry < REVOKED_MARGIN_MS {
                return Some(format!(
                    "lease {id} expires at {expiry} ms and is revoked by the advance to {now} ms, less than \
                     {REVOKED_MARGIN_MS} ms before its end: etcd's scan and commit may not have revoked it yet"
                ));
            }
        }
    }
    for (id, expiry) in expiries(replayer) {
        if expiry - now < ALIVE_MARGIN_MS {
            return Some(format!(
                "lease {id} expires at {expiry} ms, within {ALIVE_MARGIN_MS} ms of trace time {now} ms: \
                 on the wall clock it may already have expired"
            ));
        }
    }
    None
}

/// `(id, expiry in ms)` of every lease (the replayer is primary, so no expiry is FOREVER).
fn expiries(replayer: &Replayer) -> Vec<(LeaseId, i64)> {
    replayer
        .lessor()
        .leases_by_id()
        .filter(|l| !l.expiry.is_forever())
        .map(|l| (l.id, l.expiry.as_ms().min(i64::MAX as u64) as i64))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace::parse_trace;

    #[track_caller]
    fn hazard(text: &str) -> Option<usize> {
        let (config, commands) = parse_trace(text).expect("valid trace");
        timing_hazard(&config, &commands).map(|h| h.line)
    }

    #[test]
    fn leases_near_their_expiry_make_a_trace_unjudgeable() {
        assert_eq!(hazard("grant 1 2\nadvance 3s\nleases"), None); // revoked 1 s before the end
        assert_eq!(hazard("grant 1 2\nadvance 1200ms\nrenew 1"), None); // 800 ms left
        assert_eq!(hazard("grant 1 2\nadvance 2s"), Some(2)); // revoked right at the end
        assert_eq!(hazard("grant 1 2\nadvance 2500ms"), Some(2)); // revoked 500 ms before the end
        assert_eq!(hazard("grant 1 2\nadvance 1500ms"), Some(2)); // 500 ms left
        assert_eq!(hazard("grant 1 2\nadvance 1s\nrenew 1\nadvance 1500ms"), Some(4));
    }
}
