//! The conformance runner's own failures: everything that stops a run before or while it talks to
//! etcd (no binary, no server, a trace etcd cannot run, a run too slow to judge). It does not hold
//! disagreements between etcd and the replayer: those are results (`Disagreement`), not errors.

use std::fmt;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConformError {
    /// No etcd binary: where we looked.
    EtcdNotInstalled { searched: String },
    /// The etcd process did not come up (or exited); the tail of its log.
    EtcdStart { message: String, log_tail: String },
    /// The endpoint did not answer in time.
    Unreachable { endpoint: String, detail: String },
    /// A trace command a live etcd cannot run (1-based trace line).
    Refused { line: usize, command: String, reason: String },
    /// The trace's `config` line cannot hold on this server (e.g. a different minimum TTL).
    Config(String),
    /// The target etcd is not empty, so replies could not be compared with a fresh replayer.
    NotEmpty(String),
    /// An RPC failed in a way that is no reply (connection lost, deadline exceeded).
    Transport { line: usize, command: String, detail: String },
    /// A command finished later than the timing budget allows, so time-derived replies would be
    /// unreliable. The run is inconclusive, not a disagreement.
    TooSlow { line: usize, command: String, lateness_ms: u64, budget_ms: u64 },
    /// Files, processes, the runtime.
    Io(String),
}

impl fmt::Display for ConformError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConformError::EtcdNotInstalled { searched } => write!(
                f,
                "no etcd binary found (looked in {searched}); install one (Debian: `apt-get install etcd-server`) \
                 or set LEASESIM_ETCD=/path/to/etcd"
            ),
            ConformError::EtcdStart { message, log_tail } => {
                write!(f, "etcd did not start: {message}")?;
                if !log_tail.is_empty() {
                    write!(f, "\n--- last lines of the etcd log ---\n{log_tail}")?;
                }
                Ok(())
            }
            ConformError::Unreachable { endpoint, detail } => {
                write!(f, "cannot reach etcd at {endpoint}: {detail}")
            }
            ConformError::Refused { line, command, reason } => {
                write!(f, "line {line}: `{command}` cannot run against a live etcd: {reason}")
            }
            ConformError::Config(message) => write!(f, "trace config: {message}"),
            ConformError::NotEmpty(message) => write!(f, "{message}"),
            ConformError::Transport { line, command, detail } => {
                write!(f, "line {line}: `{command}`: etcd request failed: {detail}")
            }
            ConformError::TooSlow { line, command, lateness_ms, budget_ms } => write!(
                f,
                "line {line}: `{command}` finished {lateness_ms} ms behind trace time (budget {budget_ms} ms): \
                 the machine is too slow for time-derived replies to be judged"
            ),
            ConformError::Io(message) => write!(f, "{message}"),
        }
    }
}

impl std::error::Error for ConformError {}
