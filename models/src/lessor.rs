//! The lessor model: one real `Lessor` (with the models' `SmallQueue` expiry index: canonical
//! equality and hash, cloned without a heap allocation) and its `Kv`, driven through the trace
//! replayer (`leasesim::trace::Replayer`), so that every model action is a trace command and every
//! counterexample is a `leasesim replay` trace (see `export`).
//!
//! Owns the bounds (lease IDs, TTLs, keys, KV revisions, the time horizon), which commands are
//! enabled in a state, and the `sometimes` properties that show the model is not vacuous. The
//! semantics are the replayer's and the lessor's; the properties are the oracle's, judged by the
//! replayer after every command with logical time = true time (one member, no drift).
//!
//! Modelling choices, each deliberate:
//! - time advances in steps of one expiry-scan period (500 ms); the leader's scans (expired
//!   leases, due checkpoints) and the revokes they propose run inside the step, as in the
//!   replayer; `lose-revokes 1` makes the next proposed revoke be lost;
//! - a renew's steps (begin / checkpoint round trip / end) happen within one instant: time does
//!   not advance while a renew is in flight, everything else may interleave;
//! - client revokes go step by step (`revoke-begin`, `revoke-step`…); a revoke is one entry of
//!   etcd's serial apply loop, so while one is in flight only renew steps (not the checkpoint
//!   round trip, which is applied), `ttl` and `demote` interleave (etcd issue 14758's window);
//! - crash-and-recover (`restart`) only when no revoke is in flight (a revoke is one backend
//!   transaction in etcd); in-flight renews are dropped (their callers get an error);
//! - promote only a non-primary, demote only a primary (a leader steps down before re-election).
//!
//! It never returns `None` from `next_state`: disabled commands are filtered in `actions`.

use std::sync::Arc;

use leasesim::bugs::Bugs;
use leasesim::lease::{EXPIRY_SCAN_PERIOD, LeaseId, LessorConfig};
use leasesim::oracle::{self, Violation};
use leasesim::time::{Duration, Instant};
use leasesim::trace::{Command, Replayer, TraceConfig};
use stateright::{Model, Property};

use crate::recycled::{MemberReplayer, Recycled};
use crate::verdict::{self, Judged};

/// The bounds of the lessor model.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LessorBounds {
    pub lease_ids: Vec<LeaseId>,
    pub ttls_s: Vec<i64>,
    pub keys: Vec<String>,
    /// Time does not advance past this.
    pub horizon: Duration,
    /// Puts are enabled while the KV revision is below this.
    pub revision_max: i64,
}

impl LessorBounds {
    /// The default bounds: 2 lease IDs, TTLs of 1 s and 2 s (2 and 4 ticks), 2 keys, 3 s (6 ticks)
    /// of time and KV revisions up to 4.
    pub fn small() -> LessorBounds {
        LessorBounds {
            lease_ids: vec![1, 2],
            ttls_s: vec![1, 2],
            keys: vec!["a".to_owned(), "b".to_owned()],
            horizon: Duration::from_secs(3),
            revision_max: 4,
        }
    }
}

/// The lessor model.
#[derive(Clone, Debug)]
pub struct LessorModel {
    pub config: TraceConfig,
    pub bounds: LessorBounds,
    /// Every command the bounds allow, built once from `config` and `bounds`.
    commands: Arc<CommandTable>,
}

/// A lessor-model action: the position of its command in the model's table of every command the
/// bounds allow (see [`LessorModel::command`]). A plain copy: offering or dropping one touches no
/// reference count that the checker's threads would share.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct LessorAction(u16);

/// The commands of one lease ID.
#[derive(Debug)]
struct LeaseCommands {
    revoke_begin: LessorAction,
    revoke_step: LessorAction,
    renew_begin: LessorAction,
    renew_checkpoint: LessorAction,
    renew_end: LessorAction,
    ttl: LessorAction,
    /// One per TTL of the bounds, in their order.
    grants: Vec<LessorAction>,
}

/// The commands of one key.
#[derive(Debug)]
struct KeyCommands {
    /// `(lease, put)`: without a lease (lease 0) first, then one per lease ID of the bounds.
    puts: Vec<(LeaseId, LessorAction)>,
    delete: LessorAction,
}

/// Every command the lessor model can offer (`all`, indexed by [`LessorAction`]), and the actions
/// by lease ID and key in the bounds' order.
#[derive(Debug)]
struct CommandTable {
    all: Vec<Command>,
    leases: Vec<LeaseCommands>,
    keys: Vec<KeyCommands>,
    demote: LessorAction,
    advance: LessorAction,
    lose_revokes: LessorAction,
    promote: LessorAction,
    restart: LessorAction,
}

impl CommandTable {
    fn new(config: &TraceConfig, bounds: &LessorBounds) -> CommandTable {
        let mut all = Vec::new();
        let mut shared = |command: Command| {
            all.push(command);
            LessorAction(u16::try_from(all.len() - 1).expect("fewer than 65,536 commands in a model's bounds"))
        };
        let leases = bounds
            .lease_ids
            .iter()
            .map(|&id| LeaseCommands {
                revoke_begin: shared(Command::RevokeBegin { id }),
                revoke_step: shared(Command::RevokeStep { id }),
                renew_begin: shared(Command::RenewBegin { id }),
                renew_checkpoint: shared(Command::RenewCheckpoint { id }),
                renew_end: shared(Command::RenewEnd { id }),
                ttl: shared(Command::Ttl { id, keys: false }),
                grants: bounds.ttls_s.iter().map(|&ttl_s| shared(Command::Grant { id, ttl_s })).collect(),
            })
            .collect();
        let keys = bounds
            .keys
            .iter()
            .map(|key| KeyCommands {
                puts: std::iter::once(0)
                    .chain(bounds.lease_ids.iter().copied())
                    .map(|lease| (lease, shared(Command::Put { key: key.clone(), value: "v".to_owned(), lease })))
                    .collect(),
                delete: shared(Command::Delete { key: key.clone() }),
            })
            .collect();
        let demote = shared(Command::Demote);
        let advance = shared(Command::Advance { by: EXPIRY_SCAN_PERIOD });
        let lose_revokes = shared(Command::LoseRevokes { count: 1 });
        let promote = shared(Command::Promote { extend: config.election_timeout });
        let restart = shared(Command::Restart);
        CommandTable { all, leases, keys, demote, advance, lose_revokes, promote, restart }
    }
}

/// Events seen on the path so far (for the `sometimes` properties that cannot be read off the
/// state itself).
const SEEN_RENEW_OK: u8 = 1;
const SEEN_REVOKE_DELETED_KEY: u8 = 2;
const SEEN_PROMOTE: u8 = 4;

/// A state of the lessor model.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct LessorState {
    /// The member: lessor, KV, time, history, in-flight steps. Boxed: a pointer moves between the
    /// checker's queues cheaper than the member's ~1.3 KB; `Recycled`: a clone reuses a box.
    pub member: Recycled<Box<MemberReplayer>>,
    seen: u8,
    violation: Option<Violation>,
}

impl Judged for LessorState {
    fn violation(&self) -> Option<&Violation> {
        self.violation.as_ref()
    }
}

impl LessorModel {
    /// The lessor model at its default bounds: minimum TTL 1 s, retry interval 1 s, election
    /// timeout (promote extension) 500 ms, checkpoint interval 1 s.
    pub fn new(checkpointing: bool, bugs: Bugs) -> LessorModel {
        LessorModel::with_bounds(checkpointing, bugs, LessorBounds::small())
    }

    pub fn with_bounds(checkpointing: bool, bugs: Bugs, bounds: LessorBounds) -> LessorModel {
        let lessor = LessorConfig {
            min_ttl_s: 1,
            retry_interval: Duration::from_secs(1),
            checkpoint_interval: Duration::from_secs(1),
            checkpointing,
            bugs,
            ..LessorConfig::server_defaults()
        };
        let config = TraceConfig { lessor, election_timeout: Duration::from_ms(500) };
        let commands = Arc::new(CommandTable::new(&config, &bounds));
        LessorModel { config, bounds, commands }
    }

    /// The lessor model's space is not exhausted by its own bounds in reasonable time (measured
    /// in release on 2 cores: 0.2 M unique states within 6 actions, 2 M within 8, still growing
    /// ~10x per two actions), so by default paths are bounded to this many actions: enough for
    /// every `sometimes` property and every bug switch but etcd-10693 (8 actions).
    pub const ACTIONS_MAX_DEFAULT: usize = 6;

    /// The command an action stands for.
    pub fn command(&self, action: LessorAction) -> &Command {
        &self.commands.all[usize::from(action.0)]
    }

    /// The properties this model judges: every oracle property that makes sense for one member.
    pub const ALWAYS: [&'static str; 8] = [
        oracle::NO_KEY_OUTLIVES_ITS_LEASE,
        oracle::RENEW_NEVER_RESURRECTS,
        oracle::NO_EARLY_REVOKE,
        oracle::TTL_BOUNDED,
        oracle::KEEPALIVE_IMPLIES_ALIVE,
        oracle::EXPIRY_QUEUE_BOUNDED,
        oracle::REVOKED_IN_TIME,
        oracle::PROMOTE_HONOURS_CHECKPOINT,
    ];
}

fn expired_lease_revoked(_: &LessorModel, state: &LessorState) -> bool {
    state.member.history().fates().any(|(_, fate)| matches!(fate.revoked, Some((_, true))))
}
fn renew_succeeds(_: &LessorModel, state: &LessorState) -> bool {
    state.seen & SEEN_RENEW_OK != 0
}
fn revoke_deletes_a_key(_: &LessorModel, state: &LessorState) -> bool {
    state.seen & SEEN_REVOKE_DELETED_KEY != 0
}
fn promote_happens(_: &LessorModel, state: &LessorState) -> bool {
    state.seen & SEEN_PROMOTE != 0
}
fn checkpoint_applies(_: &LessorModel, state: &LessorState) -> bool {
    state.member.lessor().leases_by_id().any(|l| l.remaining_ttl_s > 0)
}

impl Model for LessorModel {
    type State = LessorState;
    type Action = LessorAction;

    fn init_states(&self) -> Vec<LessorState> {
        vec![LessorState {
            member: Recycled::new(Box::new(Replayer::with_queue(self.config.clone()))),
            seen: 0,
            violation: None,
        }]
    }

    fn actions(&self, state: &LessorState, actions: &mut Vec<LessorAction>) {
        if state.violation.is_some() {
            return; // a violation ends the path
        }
        let table = &*self.commands;
        let offer = |actions: &mut Vec<LessorAction>, action: &LessorAction| actions.push(*action);
        let member = &state.member;
        let (lessor, kv) = (member.lessor(), member.kv());
        let (renews, revokes) = (member.renews_in_flight(), member.revokes_in_flight());
        let primary = lessor.is_primary();
        // A revoke is one entry of etcd's serial apply loop: until it is done, nothing else that
        // goes through the log (grants, puts, deletes, checkpoints, other revokes, the scans' revokes)
        // can interleave; renews (gRPC goroutines) and demote (the raft goroutine) can.
        let applying = !revokes.is_empty();
        for (&id, lease) in self.bounds.lease_ids.iter().zip(&table.leases) {
            let exists = lessor.lookup(id).is_some();
            if revokes.contains_key(&id) {
                offer(actions, &lease.revoke_step);
            }
            match renews.get(&id) {
                // The replayer clears `needs_checkpoint` once the round trip is done.
                Some(ticket) if ticket.needs_checkpoint && !applying => offer(actions, &lease.renew_checkpoint),
                Some(ticket) if ticket.needs_checkpoint => {}
                Some(_) => offer(actions, &lease.renew_end),
                None if exists && primary => offer(actions, &lease.renew_begin),
                None => {}
            }
            if exists && primary {
                offer(actions, &lease.ttl);
            }
        }
        if primary {
            offer(actions, &table.demote);
        }
        if applying {
            return;
        }
        if renews.is_empty() && member.now() + EXPIRY_SCAN_PERIOD <= Instant::EPOCH + self.bounds.horizon {
            offer(actions, &table.advance);
        }
        for (&id, lease) in self.bounds.lease_ids.iter().zip(&table.leases) {
            if lessor.lookup(id).is_some() {
                offer(actions, &lease.revoke_begin);
            } else {
                actions.extend(lease.grants.iter().cloned());
            }
        }
        for (key, commands) in self.bounds.keys.iter().zip(&table.keys) {
            if kv.revision() < self.bounds.revision_max {
                for (lease, put) in &commands.puts {
                    if *lease == 0 || lessor.lookup(*lease).is_some() {
                        offer(actions, put);
                    }
                }
            }
            if kv.get(key).is_some() {
                offer(actions, &commands.delete);
            }
        }
        if primary && member.revokes_to_lose() == 0 && lessor.lease_count() > 0 {
            offer(actions, &table.lose_revokes);
        }
        if !primary {
            offer(actions, &table.promote);
        }
        offer(actions, &table.restart);
    }

    fn next_state(&self, state: &LessorState, action: LessorAction) -> Option<LessorState> {
        let command = self.command(action);
        let mut next = state.clone();
        let keys_before = next.member.kv().len();
        let (reply, verdict) = next
            .member
            .execute_quiet(command)
            .unwrap_or_else(|e| panic!("the lessor model offered `{command}` where it is not allowed: {e}"));
        match command {
            // `execute_quiet` leaves a success's reply empty and spells out only a refusal (`err …`).
            Command::RenewEnd { .. } if !reply.starts_with("err") => next.seen |= SEEN_RENEW_OK,
            Command::Advance { .. } | Command::RevokeStep { .. } if next.member.kv().len() < keys_before => {
                next.seen |= SEEN_REVOKE_DELETED_KEY;
            }
            Command::Promote { .. } => next.seen |= SEEN_PROMOTE,
            _ => {}
        }
        verdict::record(&mut next.violation, verdict);
        Some(next)
    }

    fn format_action(&self, action: &LessorAction) -> String {
        self.command(*action).to_string()
    }

    fn properties(&self) -> Vec<Property<Self>> {
        let mut properties = verdict::always_properties(&LessorModel::ALWAYS);
        properties.push(Property::sometimes("lease_expires_and_is_revoked", expired_lease_revoked));
        properties.push(Property::sometimes("renew_succeeds", renew_succeeds));
        properties.push(Property::sometimes("revoke_deletes_a_key", revoke_deletes_a_key));
        properties.push(Property::sometimes("promote_happens", promote_happens));
        if self.config.lessor.checkpointing {
            properties.push(Property::sometimes("checkpoint_applies", checkpoint_applies));
        }
        properties
    }

    fn within_boundary(&self, state: &LessorState) -> bool {
        state.member.now() <= Instant::EPOCH + self.bounds.horizon
    }
}
