//! The grammar of trace files. One command per line; `#` starts a comment; blank lines are
//! skipped; an optional leading `config` line sets the lessor's limits.

use std::fmt;

use crate::bugs::Bugs;
use crate::lease::{EtcdVersion, LeaseId, LessorConfig};
use crate::time::{Duration, parse_duration};

/// One trace command. See the README for the reply of each.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    Grant {
        id: LeaseId,
        ttl_s: i64,
    },
    Revoke {
        id: LeaseId,
    },
    Renew {
        id: LeaseId,
    },
    Put {
        key: String,
        value: String,
        lease: LeaseId,
    },
    Delete {
        key: String,
    },
    Get {
        key: String,
    },
    Ttl {
        id: LeaseId,
        keys: bool,
    },
    Leases,
    Checkpoint {
        id: LeaseId,
        remaining_ttl_s: i64,
    },
    Promote {
        extend: Duration,
    },
    Demote,
    Advance {
        by: Duration,
    },
    Restart,
    /// Renew's first step (existence, primary, expiry).
    RenewBegin {
        id: LeaseId,
    },
    /// Renew's checkpoint round trip: replicate and apply `{id, 0}`.
    RenewCheckpoint {
        id: LeaseId,
    },
    /// Renew's last step (re-check and refresh).
    RenewEnd {
        id: LeaseId,
    },
    /// Revoke's first step (existence).
    RevokeBegin {
        id: LeaseId,
    },
    /// Revoke's next step.
    RevokeStep {
        id: LeaseId,
    },
    /// Drop the next `count` revokes the expiry scan proposes (lost proposals).
    LoseRevokes {
        count: u32,
    },
}

impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Command::Grant { id, ttl_s } => write!(f, "grant {id} {ttl_s}"),
            Command::Revoke { id } => write!(f, "revoke {id}"),
            Command::Renew { id } => write!(f, "renew {id}"),
            Command::Put { key, value, lease: 0 } => write!(f, "put {key} {value}"),
            Command::Put { key, value, lease } => write!(f, "put {key} {value} {lease}"),
            Command::Delete { key } => write!(f, "delete {key}"),
            Command::Get { key } => write!(f, "get {key}"),
            Command::Ttl { id, keys: false } => write!(f, "ttl {id}"),
            Command::Ttl { id, keys: true } => write!(f, "ttl {id} keys"),
            Command::Leases => write!(f, "leases"),
            Command::Checkpoint { id, remaining_ttl_s } => write!(f, "checkpoint {id} {remaining_ttl_s}"),
            Command::Promote { extend } => write!(f, "promote {}ms", extend.as_ms()),
            Command::Demote => write!(f, "demote"),
            Command::Advance { by } => write!(f, "advance {}ms", by.as_ms()),
            Command::Restart => write!(f, "restart"),
            Command::RenewBegin { id } => write!(f, "renew-begin {id}"),
            Command::RenewCheckpoint { id } => write!(f, "renew-checkpoint {id}"),
            Command::RenewEnd { id } => write!(f, "renew-end {id}"),
            Command::RevokeBegin { id } => write!(f, "revoke-begin {id}"),
            Command::RevokeStep { id } => write!(f, "revoke-step {id}"),
            Command::LoseRevokes { count } => write!(f, "lose-revokes {count}"),
        }
    }
}

/// The `config` line: the lessor's limits plus the election timeout (restart's promote extension).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TraceConfig {
    pub lessor: LessorConfig,
    pub election_timeout: Duration,
}

impl Default for TraceConfig {
    fn default() -> TraceConfig {
        TraceConfig { lessor: LessorConfig::server_defaults(), election_timeout: Duration::from_secs(1) }
    }
}

impl TraceConfig {
    pub fn with_bugs(mut self, bugs: Bugs) -> TraceConfig {
        self.lessor.bugs = bugs;
        self
    }

    /// The config as a trace line (what `parse_line` reads back). `version=` only when not the
    /// default.
    pub fn to_line(&self) -> String {
        let on_off = |b: bool| if b { "on" } else { "off" };
        let l = &self.lessor;
        let version = match l.etcd_version {
            EtcdVersion::V3_5 => String::new(),
            other => format!(" version={}", other.name()),
        };
        format!(
            "config min_ttl={} retry={}ms election={}ms checkpoint={} persist={} revoke_rate={} checkpoint_interval={}ms",
            l.min_ttl_s,
            l.retry_interval.as_ms(),
            self.election_timeout.as_ms(),
            on_off(l.checkpointing),
            on_off(l.checkpoint_persist),
            l.revoke_rate_per_s,
            l.checkpoint_interval.as_ms()
        ) + &version
    }
}

/// A malformed line: its 1-based number and what is wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError {
    pub line: usize,
    pub message: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

impl std::error::Error for ParseError {}

/// A parsed line: a command, the config, or nothing (blank or comment).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Line {
    Empty,
    Config(TraceConfig),
    Command(Command),
}

/// Parses a whole trace: `(config, [(line number, command)])`. `config` may only be the first
/// command line.
pub fn parse_trace(text: &str) -> Result<(TraceConfig, Vec<(usize, Command)>), ParseError> {
    let mut config = TraceConfig::default();
    let mut commands = Vec::new();
    for (index, raw) in text.lines().enumerate() {
        let line = index + 1;
        match parse_line(raw).map_err(|message| ParseError { line, message })? {
            Line::Empty => {}
            Line::Config(parsed) => {
                if !commands.is_empty() {
                    return Err(ParseError { line, message: "`config` must come before every command".into() });
                }
                config = parsed;
            }
            Line::Command(command) => commands.push((line, command)),
        }
    }
    Ok((config, commands))
}

/// Parses one line.
pub fn parse_line(raw: &str) -> Result<Line, String> {
    let text = raw.split('#').next().unwrap_or("").trim();
    if text.is_empty() {
        return Ok(Line::Empty);
    }
    let words: Vec<&str> = text.split_whitespace().collect();
    let (verb, args) = (words[0], &words[1..]);
    let arity = |min: usize, max: usize, usage: &str| -> Result<(), String> {
        if args.len() < min {
            Err(format!("`{verb}` is missing arguments; usage: {usage}"))
        } else if args.len() > max {
            Err(format!("`{verb}` has too many arguments; usage: {usage}"))
        } else {
            Ok(())
        }
    };
    let command = match verb {
        "config" => return parse_config(args).map(Line::Config),
        "grant" => {
            arity(2, 2, "grant <id> <ttl seconds>")?;
            Command::Grant { id: lease_id(args[0])?, ttl_s: integer(args[1], "TTL")? }
        }
        "revoke" => {
            arity(1, 1, "revoke <id>")?;
            Command::Revoke { id: lease_id(args[0])? }
        }
        "renew" | "keepalive" => {
            arity(1, 1, "renew <id>")?;
            Command::Renew { id: lease_id(args[0])? }
        }
        "put" => {
            arity(2, 3, "put <key> <value> [<lease id>]")?;
            let lease = args.get(2).map(|a| lease_id(a)).transpose()?.unwrap_or(0);
            Command::Put { key: args[0].to_owned(), value: args[1].to_owned(), lease }
        }
        "delete" => {
            arity(1, 1, "delete <key>")?;
            Command::Delete { key: args[0].to_owned() }
        }
        "get" => {
            arity(1, 1, "get <key>")?;
            Command::Get { key: args[0].to_owned() }
        }
        "ttl" => {
            arity(1, 2, "ttl <id> [keys]")?;
            let keys = match args.get(1) {
                None => false,
                Some(&"keys") => true,
                Some(other) => return Err(format!("`ttl` takes `keys` as its second argument, not `{other}`")),
            };
            Command::Ttl { id: lease_id(args[0])?, keys }
        }
        "leases" => {
            arity(0, 0, "leases")?;
            Command::Leases
        }
        "checkpoint" => {
            arity(2, 2, "checkpoint <id> <remaining seconds>")?;
            Command::Checkpoint { id: lease_id(args[0])?, remaining_ttl_s: integer(args[1], "remaining TTL")? }
        }
        "promote" => {
            arity(1, 1, "promote <extend, e.g. 1s>")?;
            Command::Promote { extend: parse_duration(args[0])? }
        }
        "demote" => {
            arity(0, 0, "demote")?;
            Command::Demote
        }
        "advance" => {
            arity(1, 1, "advance <duration, e.g. 500ms or 3s>")?;
            Command::Advance { by: parse_duration(args[0])? }
        }
        "restart" => {
            arity(0, 0, "restart")?;
            Command::Restart
        }
        "renew-begin" | "renew-checkpoint" | "renew-end" | "revoke-begin" | "revoke-step" => {
            arity(1, 1, &format!("{verb} <id>"))?;
            let id = lease_id(args[0])?;
            match verb {
                "renew-begin" => Command::RenewBegin { id },
                "renew-checkpoint" => Command::RenewCheckpoint { id },
                "renew-end" => Command::RenewEnd { id },
                "revoke-begin" => Command::RevokeBegin { id },
                _ => Command::RevokeStep { id },
            }
        }
        "lose-revokes" => {
            arity(1, 1, "lose-revokes <count>")?;
            let count = args[0].parse().map_err(|_| format!("`{}` is not a count (a whole number ≥ 0)", args[0]))?;
            Command::LoseRevokes { count }
        }
        other => return Err(format!("unknown command `{other}`")),
    };
    Ok(Line::Command(command))
}

fn lease_id(text: &str) -> Result<LeaseId, String> {
    text.parse().map_err(|_| format!("`{text}` is not a lease ID (a signed 64-bit integer)"))
}

fn integer(text: &str, what: &str) -> Result<i64, String> {
    text.parse().map_err(|_| format!("`{text}` is not a valid {what} (a signed 64-bit integer)"))
}

fn parse_config(args: &[&str]) -> Result<TraceConfig, String> {
    let mut config = TraceConfig::default();
    for arg in args {
        let (key, value) = arg.split_once('=').ok_or_else(|| format!("config setting `{arg}` is not key=value"))?;
        let l = &mut config.lessor;
        match key {
            "min_ttl" => l.min_ttl_s = integer(value, "min_ttl")?,
            "retry" => l.retry_interval = parse_duration(value)?,
            "election" => config.election_timeout = parse_duration(value)?,
            "checkpoint" => l.checkpointing = on_off(key, value)?,
            "persist" => l.checkpoint_persist = on_off(key, value)?,
            "checkpoint_interval" => l.checkpoint_interval = parse_duration(value)?,
            "version" => l.etcd_version = EtcdVersion::parse(value)?,
            "revoke_rate" => {
                l.revoke_rate_per_s = value
                    .parse()
                    .ok()
                    .filter(|&r: &usize| r >= 2)
                    .ok_or_else(|| format!("revoke_rate `{value}` must be a whole number ≥ 2"))?
            }
            other => {
                return Err(format!(
                    "unknown config key `{other}`; known: min_ttl, retry, election, checkpoint, persist, checkpoint_interval, revoke_rate, version"
                ));
            }
        }
    }
    Ok(config)
}

fn on_off(key: &str, value: &str) -> Result<bool, String> {
    match value {
        "on" | "true" => Ok(true),
        "off" | "false" => Ok(false),
        other => Err(format!("config {key}=`{other}` must be on or off")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn parse_err(text: &str) -> String {
        parse_trace(text).unwrap_err().to_string()
    }

    #[test]
    fn bad_lines_say_what_is_wrong() {
        assert_eq!(parse_err("frobnicate 1"), "line 1: unknown command `frobnicate`");
        assert_eq!(parse_err("# c\ngrant x 10"), "line 2: `x` is not a lease ID (a signed 64-bit integer)");
        assert!(parse_err("grant 1").contains("missing arguments"));
        assert!(parse_err("grant 1 2 3").contains("too many arguments"));
        assert!(parse_err("advance 5").contains("needs a unit"));
        assert!(parse_err("config ttl=3").contains("unknown config key `ttl`"));
        assert!(parse_err("grant 1 10\nconfig min_ttl=3").contains("must come before"));
        assert!(parse_err("config checkpoint=maybe").contains("on or off"));
    }

    #[test]
    fn commands_print_as_they_parse() {
        let text = "grant -5 10\nput k v -5\nput k v\nttl 3 keys\nadvance 1500ms\nrenew-begin 2\nlose-revokes 1";
        let (_, commands) = parse_trace(text).unwrap();
        for (_, command) in commands {
            let printed = command.to_string();
            assert_eq!(parse_line(&printed), Ok(Line::Command(command)), "{printed}");
        }
        let config = TraceConfig::default();
        assert_eq!(parse_line(&config.to_line()), Ok(Line::Config(config)));
        let mut config = TraceConfig::default();
        config.lessor.etcd_version = EtcdVersion::V3_4;
        assert!(config.to_line().ends_with(" version=3.4"));
        assert_eq!(parse_line(&config.to_line()), Ok(Line::Config(config)));
    }
}
