//! The etcd runner: executes trace commands against a live etcd over its v3 gRPC API (the
//! `etcd-client` crate, on a tokio runtime private to the runner) and answers each with a reply
//! line in exactly the format of `leasesim replay`.
//!
//! Owns the mapping from trace commands to RPCs, from etcd's gRPC errors to reply error names, the
//! wall clock of a run (`advance` sleeps real time; every command's lateness behind trace time is
//! measured) and the revision offset that makes any empty etcd look fresh. It does not judge the
//! replies (that is `check`) and refuses, before running anything, the commands a live single
//! member cannot perform: `checkpoint`, `promote`, `demote`, the step commands, `lose-revokes`, and
//! `restart` unless it started the etcd itself.

use std::collections::BTreeSet;
use std::time::{Duration as StdDuration, Instant as StdInstant};

use etcd_client::{Client, ConnectOptions, GetOptions, LeaseGrantOptions, LeaseTimeToLiveOptions, PutOptions};

use super::error::ConformError;
use super::etcd::{EtcdOptions, EtcdProcess};
use crate::lease::{EtcdVersion, LeaseError, LeaseId, LessorConfig};
use crate::trace::{Command, TraceConfig};

/// How long connecting (and the first status call) may take before the endpoint is unreachable.
pub const CONNECT_TIMEOUT: StdDuration = StdDuration::from_secs(3);
/// The key of the write that starts every run (see `EtcdRunner::barrier`); never a trace key, since
/// trace keys cannot contain spaces.
const BARRIER_KEY: &str = "leasesim conform barrier";
/// Longer than etcd's backend batch interval (100 ms): waited before a `restart` kills etcd.
const BACKEND_COMMIT_WAIT: StdDuration = StdDuration::from_millis(300);
/// How long one RPC may take.
const RPC_TIMEOUT: StdDuration = StdDuration::from_secs(10);

/// etcd's gRPC error messages (`rpctypes`) and the reply error each maps to.
const ERROR_NAMES: [(&str, LeaseError); 7] = [
    ("requested lease not found", LeaseError::LeaseNotFound),
    ("lease already exists", LeaseError::LeaseExists),
    ("too large lease TTL", LeaseError::TtlTooLarge),
    ("leader changed", LeaseError::LeaderChanged),
    ("not primary", LeaseError::NotPrimary),
    ("not leader", LeaseError::NotPrimary),
    ("no leader", LeaseError::NotPrimary),
];

/// Why a command cannot run against a live etcd, or `None` if it can (`restart` only when the
/// runner owns the process).
pub fn refusal(command: &Command, owns_process: bool) -> Option<&'static str> {
    match command {
        Command::Grant { .. }
        | Command::Revoke { .. }
        | Command::Renew { .. }
        | Command::Put { .. }
        | Command::Delete { .. }
        | Command::Get { .. }
        | Command::Ttl { .. }
        | Command::Leases
        | Command::Advance { .. } => None,
        Command::Restart if owns_process => None,
        Command::Restart => Some(
            "restart needs an etcd that leasesim started itself (`conform --spawn-etcd`, `replay --against spawn`)",
        ),
        Command::Checkpoint { .. } => {
            Some("checkpoints are replicated by etcd's leader on its own schedule; no API injects one")
        }
        Command::Promote { .. } | Command::Demote => {
            Some("a single-member etcd is always its own leader; leadership cannot be moved from outside")
        }
        Command::RenewBegin { .. }
        | Command::RenewCheckpoint { .. }
        | Command::RenewEnd { .. }
        | Command::RevokeBegin { .. }
        | Command::RevokeStep { .. } => Some(
            "etcd performs renew and revoke atomically per request; their steps cannot be interleaved from a client",
        ),
        Command::LoseRevokes { .. } => {
            Some("a healthy single member never loses a revoke proposal; losing one cannot be injected")
        }
    }
}

/// The first command of a trace that cannot run, as an error.
pub fn check_runnable(commands: &[(usize, Command)], owns_process: bool) -> Result<(), ConformError> {
    for (line, command) in commands {
        if let Some(reason) = refusal(command, owns_process) {
            return Err(ConformError::Refused { line: *line, command: command.to_string(), reason: reason.to_owned() });
        }
    }
    Ok(())
}

/// The replies of one run, and how late (wall clock behind trace time) each command finished.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EtcdRun {
    pub replies: Vec<String>,
    pub lateness_ms: Vec<u64>,
}

/// A connection to one etcd (an external endpoint, or a process this runner started).
pub struct EtcdRunner {
    runtime: tokio::runtime::Runtime,
    client: Client,
    endpoint: String,
    process: Option<EtcdProcess>,
    /// The server's minimum TTL, known for a spawned etcd, probed once for an external one.
    min_ttl_s: Option<i64>,
    /// The server's release, as `LessorConfig::etcd_version` models it.
    version: EtcdVersion,
}

/// A run in progress: the wall clock and the revision offset.
struct Session {
    origin: StdInstant,
    trace_now: StdDuration,
    base_revision: i64,
    touched_keys: BTreeSet<String>,
}

impl Session {
    fn revision(&self, etcd_revision: i64) -> i64 {
        etcd_revision - self.base_revision + 1
    }
    fn lateness_ms(&self) -> u64 {
        self.origin.elapsed().saturating_sub(self.trace_now).as_millis() as u64
    }
}

impl EtcdRunner {
    /// Connects to an etcd someone else runs; an endpoint that does not answer within
    /// [`CONNECT_TIMEOUT`] is an error.
    pub fn connect(endpoint: &str) -> Result<EtcdRunner, ConformError> {
        let runtime = new_runtime()?;
        let (client, version) = connect_client(&runtime, endpoint)?;
        Ok(EtcdRunner { runtime, client, endpoint: endpoint.to_owned(), process: None, min_ttl_s: None, version })
    }

    /// Starts a throwaway etcd and connects to it.
    pub fn spawn(options: EtcdOptions) -> Result<EtcdRunner, ConformError> {
        let process = EtcdProcess::spawn(options)?;
        let runtime = new_runtime()?;
        let endpoint = process.endpoint();
        let (client, version) = connect_client(&runtime, &endpoint)?;
        let min_ttl_s = Some(process.options().min_ttl_s());
        Ok(EtcdRunner { runtime, client, endpoint, process: Some(process), min_ttl_s, version })
    }

    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The server's release (from its `Status`), as the lessor config models it.
    pub fn etcd_version(&self) -> EtcdVersion {
        self.version
    }

    /// The trace config a random trace for this server uses: its minimum TTL, its release and, for a
    /// spawned etcd, its election timeout.
    pub fn trace_config(&mut self) -> Result<TraceConfig, ConformError> {
        let mut config = TraceConfig::default();
        config.lessor.min_ttl_s = self.min_ttl_s()?;
        config.lessor.etcd_version = self.version;
        if let Some(options) = self.etcd_options() {
            config.election_timeout = crate::time::Duration::from_ms(options.election_ms);
        }
        Ok(config)
    }

    /// Whether this runner started its etcd (and so can `restart` it).
    pub fn owns_process(&self) -> bool {
        self.process.is_some()
    }

    /// The spawned process's options, if this runner started it.
    pub fn etcd_options(&self) -> Option<&EtcdOptions> {
        self.process.as_ref().map(EtcdProcess::options)
    }

    /// The server's minimum lease TTL (probed with a throwaway grant on an external etcd).
    pub fn min_ttl_s(&mut self) -> Result<i64, ConformError> {
        if let Some(min) = self.min_ttl_s {
            return Ok(min);
        }
        let mut client = self.client.clone();
        let endpoint = self.endpoint.clone();
        let probe = self.runtime.block_on(async move {
            let grant = rpc(client.lease_grant(1, None)).await?;
            rpc(client.lease_revoke(grant.id())).await?;
            Ok::<i64, etcd_client::Error>(grant.ttl())
        });
        let min = probe
            .map_err(|e| ConformError::Unreachable { endpoint, detail: format!("probing the minimum TTL: {e}") })?;
        self.min_ttl_s = Some(min);
        Ok(min)
    }

    /// Checks that a trace can run here: every command, and its `config` against the server.
    pub fn check_trace(&mut self, config: &TraceConfig, commands: &[(usize, Command)]) -> Result<(), ConformError> {
        check_runnable(commands, self.owns_process())?;
        let server = self.min_ttl_s()?;
        if config.lessor.min_ttl_s != server {
            return Err(ConformError::Config(format!(
                "the trace expects min_ttl={} but the etcd at {} grants at least {server} s \
                 (a spawned etcd derives it from the trace's election timeout: min_ttl = ceil(1.5 * election))",
                config.lessor.min_ttl_s, self.endpoint
            )));
        }
        let defaults = LessorConfig::server_defaults();
        let l = &config.lessor;
        if l.checkpointing || l.checkpoint_persist || l.revoke_rate_per_s != defaults.revoke_rate_per_s {
            return Err(ConformError::Config(
                "etcd runs with checkpointing off and a revoke rate of 1000/s; the trace's config differs".to_owned(),
            ));
        }
        if let Some(options) = self.etcd_options()
            && commands.iter().any(|(_, c)| *c == Command::Restart)
            && config.election_timeout.as_ms() != options.election_ms
        {
            return Err(ConformError::Config(format!(
                "the trace restarts with election={}ms but etcd runs with --election-timeout={}",
                config.election_timeout.as_ms(),
                options.election_ms
            )));
        }
        Ok(())
    }

    /// Runs a whole trace on the (empty) etcd and leaves it empty again: every lease the trace left
    /// is revoked and every key it wrote deleted. Revisions are reported as a fresh etcd would
    /// number them.
    pub fn run(&mut self, config: &TraceConfig, commands: &[(usize, Command)]) -> Result<EtcdRun, ConformError> {
        self.check_trace(config, commands)?;
        let base_revision = self.require_empty()?;
        let mut session = Session {
            origin: StdInstant::now(),
            trace_now: StdDuration::ZERO,
            base_revision,
            touched_keys: BTreeSet::new(),
        };
        let mut run = EtcdRun { replies: Vec::with_capacity(commands.len()), lateness_ms: Vec::new() };
        let mut outcome = Ok(());
        for (line, command) in commands {
            match self.execute(&mut session, command) {
                Ok(reply) => {
                    run.replies.push(reply);
                    run.lateness_ms.push(session.lateness_ms());
                }
                Err(detail) => {
                    outcome = Err(ConformError::Transport { line: *line, command: command.to_string(), detail });
                    break;
                }
            }
        }
        let cleanup = self.clean_up(&session);
        outcome?;
        cleanup?;
        Ok(run)
    }

    /// The current revision, after checking the etcd holds no lease and no key.
    fn require_empty(&mut self) -> Result<i64, ConformError> {
        let mut client = self.client.clone();
        let answer = self.runtime.block_on(async move {
            let leases = rpc(client.leases()).await?;
            let keys = rpc(client.get(vec![0u8], Some(GetOptions::new().with_from_key().with_count_only()))).await?;
            Ok::<_, etcd_client::Error>((leases.leases().len(), keys.count(), header_revision(keys.header())))
        });
        let (leases, keys, revision) =
            answer.map_err(|e| ConformError::Unreachable { endpoint: self.endpoint.clone(), detail: e.to_string() })?;
        if leases > 0 || keys > 0 {
            return Err(ConformError::NotEmpty(format!(
                "the etcd at {} holds {leases} lease(s) and {keys} key(s); conformance runs need an empty etcd \
                 (start a throwaway one, or use --spawn-etcd)",
                self.endpoint
            )));
        }
        self.barrier().map(|barrier| barrier.max(revision))
    }

    /// A write that changes the KV (a put and a delete of [`BARRIER_KEY`]), so that etcd 3.4 persists
    /// its consistent index here and a later crash-restart does not apply writes from before this
    /// trace (an earlier trace, the clean-up) again. Returns the revision after it.
    fn barrier(&mut self) -> Result<i64, ConformError> {
        let mut client = self.client.clone();
        let answer = self.runtime.block_on(async move {
            rpc(client.put(BARRIER_KEY, "", None)).await?;
            let deleted = rpc(client.delete(BARRIER_KEY, None)).await?;
            Ok::<_, etcd_client::Error>(header_revision(deleted.header()))
        });
        answer.map_err(|e| ConformError::Unreachable { endpoint: self.endpoint.clone(), detail: e.to_string() })
    }

    fn clean_up(&mut self, session: &Session) -> Result<(), ConformError> {
        let mut client = self.client.clone();
        let keys: Vec<String> = session.touched_keys.iter().cloned().collect();
        let result = self.runtime.block_on(async move {
            for lease in rpc(client.leases()).await?.leases() {
                match rpc(client.lease_revoke(lease.id())).await {
                    Ok(_) => {}
                    Err(e) if error_name(&e) == Some(LeaseError::LeaseNotFound) => {} // expired meanwhile
                    Err(e) => return Err(e),
                }
            }
            for key in keys {
                rpc(client.delete(key, None)).await?;
            }
            Ok(())
        });
        result.map_err(|e| ConformError::Io(format!("cleaning up the etcd at {} after a trace: {e}", self.endpoint)))
    }

    /// Runs one command: its reply line, or why etcd gave no reply at all.
    fn execute(&mut self, session: &mut Session, command: &Command) -> Result<String, String> {
        let mut client = self.client.clone();
        match command {
            Command::Advance { by } => return self.advance(session, StdDuration::from_millis(by.as_ms())),
            Command::Restart => return self.restart(session),
            Command::Put { key, .. } | Command::Delete { key } => {
                session.touched_keys.insert(key.clone());
            }
            _ => {}
        }
        let command = command.clone();
        let revision = |r: i64| session.revision(r);
        let reply = self.runtime.block_on(async move {
            match command {
                Command::Grant { id, ttl_s } => {
                    let options = LeaseGrantOptions::new().with_id(id);
                    rpc(client.lease_grant(ttl_s, Some(options)))
                        .await
                        .map(|r| format!("ok id={} ttl={}", r.id(), r.ttl()))
                }
                Command::Revoke { id } => rpc(client.lease_revoke(id)).await.map(|_| "ok".to_owned()),
                Command::Renew { id } => renew(&mut client, id).await,
                Command::Put { key, value, lease } => {
                    let options = (lease != 0).then(|| PutOptions::new().with_lease(lease));
                    rpc(client.put(key, value, options))
                        .await
                        .map(|r| format!("ok rev={}", revision(header_revision(r.header()))))
                }
                Command::Delete { key } => rpc(client.delete(key, None))
                    .await
                    .map(|r| format!("ok rev={} deleted={}", revision(header_revision(r.header())), r.deleted())),
                Command::Get { key } => rpc(client.get(key, None)).await.map(|r| match r.kvs().first() {
                    Some(kv) => format!(
                        "ok value={} lease={} mod_rev={}",
                        String::from_utf8_lossy(kv.value()),
                        kv.lease(),
                        revision(kv.mod_revision())
                    ),
                    None => "ok none".to_owned(),
                }),
                Command::Ttl { id, keys } => {
                    let options =
                        if keys { LeaseTimeToLiveOptions::new().with_keys() } else { LeaseTimeToLiveOptions::new() };
                    rpc(client.lease_time_to_live(id, Some(options))).await.map(|r| {
                        if r.ttl() == -1 {
                            return format!("ok id={} ttl=-1", r.id());
                        }
                        let mut reply = format!("ok id={} ttl={} granted={}", r.id(), r.ttl(), r.granted_ttl());
                        if keys {
                            let mut names: Vec<String> =
                                r.keys().iter().map(|k| String::from_utf8_lossy(k).into_owned()).collect();
                            names.sort();
                            reply.push_str(&format!(" keys={}", names.join(",")));
                        }
                        reply
                    })
                }
                Command::Leases => rpc(client.leases()).await.map(|r| {
                    let mut ids: Vec<LeaseId> = r.leases().iter().map(|l| l.id()).collect();
                    ids.sort_unstable();
                    format!("ok ids={}", join(&ids))
                }),
                other => unreachable!("`{other}` was refused before the run started"),
            }
        });
        match reply {
            Ok(reply) => Ok(reply),
            Err(e) => match error_name(&e) {
                Some(name) => Ok(format!("err {name}")),
                None => Err(e.to_string()),
            },
        }
    }

    /// Sleeps until the wall clock reaches the new trace time; the reply lists the leases that were
    /// there before and are gone after (revoked by expiry), in ID order.
    fn advance(&mut self, session: &mut Session, by: StdDuration) -> Result<String, String> {
        let before = self.lease_ids()?;
        session.trace_now += by;
        let target = session.origin + session.trace_now;
        let now = StdInstant::now();
        if target > now {
            std::thread::sleep(target - now);
        }
        let after = self.lease_ids()?;
        let revoked: Vec<LeaseId> = before.difference(&after).copied().collect();
        Ok(format!("ok revoked={}", join(&revoked)))
    }

    /// Kills and restarts the spawned etcd on its data directory, reconnects, and re-aligns the
    /// wall clock with trace time (the replayer's restart takes no trace time).
    fn restart(&mut self, session: &mut Session) -> Result<String, String> {
        let process = self.process.as_mut().expect("restart was refused up front for an etcd we do not own");
        // Let etcd's backend commit its batch (every 100 ms) first, so what survives the crash is
        // exactly what was applied, not a timing-dependent prefix of it.
        std::thread::sleep(BACKEND_COMMIT_WAIT);
        process.restart().map_err(|e| e.to_string())?;
        self.client = connect_client(&self.runtime, &self.endpoint).map_err(|e| e.to_string())?.0;
        session.origin = StdInstant::now() - session.trace_now;
        Ok("ok".to_owned())
    }

    fn lease_ids(&mut self) -> Result<BTreeSet<LeaseId>, String> {
        let mut client = self.client.clone();
        let leases = self.runtime.block_on(async move { rpc(client.leases()).await }).map_err(|e| e.to_string())?;
        Ok(leases.leases().iter().map(|l| l.id()).collect())
    }
}

/// Renew = one keep-alive exchange on a fresh stream. etcd answers a lease it does not know with
/// TTL 0, which is `LeaseNotFound` (SPEC §4). etcd-client consumes the first answer itself and
/// keeps only "TTL > 0"; to report the TTL etcd returns, a second keep-alive is sent on the same
/// stream at once and its answer reported (it renews the same lease to the same deadline, within
/// the same millisecond).
async fn renew(client: &mut Client, id: LeaseId) -> Result<String, etcd_client::Error> {
    let (mut keeper, mut stream) = match rpc(client.lease_keep_alive(id)).await {
        Ok(pair) => pair,
        Err(etcd_client::Error::LeaseKeepAliveError(message)) if message.contains("not found") => {
            return Ok(format!("err {}", LeaseError::LeaseNotFound));
        }
        Err(e) => return Err(e),
    };
    rpc(keeper.keep_alive()).await?;
    match rpc(stream.message()).await? {
        Some(answer) if answer.ttl() > 0 => Ok(format!("ok ttl={}", answer.ttl())),
        Some(_) => Ok(format!("err {}", LeaseError::LeaseNotFound)),
        None => Err(etcd_client::Error::LeaseKeepAliveError("the keep-alive stream closed without an answer".into())),
    }
}

/// One RPC under [`RPC_TIMEOUT`].
async fn rpc<T>(
    call: impl std::future::Future<Output = Result<T, etcd_client::Error>>,
) -> Result<T, etcd_client::Error> {
    match tokio::time::timeout(RPC_TIMEOUT, call).await {
        Ok(result) => result,
        Err(_) => Err(etcd_client::Error::Internal(format!("no answer within {} s", RPC_TIMEOUT.as_secs()))),
    }
}

/// The reply error name of an etcd gRPC error, if it is one of the lease errors.
fn error_name(error: &etcd_client::Error) -> Option<LeaseError> {
    let etcd_client::Error::GRpcStatus(status) = error else { return None };
    let message = status.message().trim_start_matches("etcdserver: ");
    ERROR_NAMES.iter().find(|(text, _)| *text == message).map(|&(_, name)| name)
}

fn header_revision(header: Option<&etcd_client::ResponseHeader>) -> i64 {
    header.map_or(0, |h| h.revision())
}

fn join(ids: &[LeaseId]) -> String {
    ids.iter().map(|i| i.to_string()).collect::<Vec<_>>().join(",")
}

fn new_runtime() -> Result<tokio::runtime::Runtime, ConformError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| ConformError::Io(format!("cannot start the tokio runtime: {e}")))
}

/// Connects and proves the endpoint answers (a `status` call) within [`CONNECT_TIMEOUT`]; the
/// client and the server's release.
fn connect_client(runtime: &tokio::runtime::Runtime, endpoint: &str) -> Result<(Client, EtcdVersion), ConformError> {
    let unreachable = |detail: String| ConformError::Unreachable { endpoint: endpoint.to_owned(), detail };
    let url = if endpoint.contains("://") { endpoint.to_owned() } else { format!("http://{endpoint}") };
    runtime.block_on(async {
        let options = ConnectOptions::new().with_connect_timeout(CONNECT_TIMEOUT).with_timeout(RPC_TIMEOUT);
        let attempt = async {
            let mut client = Client::connect([url.as_str()], Some(options)).await?;
            let status = client.status().await?;
            Ok::<_, etcd_client::Error>((client, status.version().to_owned()))
        };
        match tokio::time::timeout(CONNECT_TIMEOUT, attempt).await {
            Ok(Ok((client, version))) => {
                let version =
                    EtcdVersion::parse(&version).map_err(|e| unreachable(format!("unsupported server: {e}")))?;
                Ok((client, version))
            }
            Ok(Err(e)) => Err(unreachable(e.to_string())),
            Err(_) => Err(unreachable(format!("no answer within {} s", CONNECT_TIMEOUT.as_secs()))),
        }
    })
}
