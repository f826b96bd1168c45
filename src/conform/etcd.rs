//! A throwaway etcd server: find the binary, start it on loopback with free ports and a temporary
//! data directory, wait until it answers `/health`, restart it on the same data directory, and kill
//! it and remove the directory on drop.
//!
//! It owns processes, ports and files; it does not talk etcd's gRPC API (that is `runner`) and it
//! never touches an etcd it did not start.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::error::ConformError;

/// Where the binary is looked for, in order, after `$LEASESIM_ETCD`.
const FALLBACK_BINARY: &str = "/usr/bin/etcd";
/// How long a start may take before it is a failure.
const START_TIMEOUT: Duration = Duration::from_secs(20);
/// How often readiness is polled.
const POLL: Duration = Duration::from_millis(25);

/// How to start etcd: its raft timing, which sets the server's minimum lease TTL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EtcdOptions {
    /// The binary; `None` = `$LEASESIM_ETCD`, then `etcd` on `PATH`, then `/usr/bin/etcd`.
    pub binary: Option<PathBuf>,
    pub heartbeat_ms: u64,
    pub election_ms: u64,
}

impl EtcdOptions {
    /// Raft timing for an election timeout: heartbeat = election / 10, etcd's default ratio.
    pub fn for_election(election_ms: u64) -> EtcdOptions {
        EtcdOptions { binary: None, heartbeat_ms: (election_ms / 10).max(1), election_ms }
    }

    /// etcd's minimum lease TTL under these options: `ceil(1.5 * election ticks * tick)` seconds.
    pub fn min_ttl_s(&self) -> i64 {
        let ticks = self.election_ms / self.heartbeat_ms;
        crate::lease::LessorConfig::min_ttl_for(ticks, self.heartbeat_ms)
    }
}

/// Finds the etcd binary: `$LEASESIM_ETCD`, `etcd` on `PATH`, `/usr/bin/etcd`.
pub fn find_etcd_binary() -> Result<PathBuf, ConformError> {
    let mut searched = Vec::new();
    if let Some(path) = std::env::var_os("LEASESIM_ETCD") {
        // An explicit choice that is wrong is an error, not a reason to pick another binary.
        let path = PathBuf::from(path);
        if is_executable(&path) {
            return Ok(path);
        }
        return Err(ConformError::EtcdNotInstalled {
            searched: format!("$LEASESIM_ETCD={}, which is not an executable file", path.display()),
        });
    }
    if let Some(dirs) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&dirs) {
            let candidate = dir.join("etcd");
            if is_executable(&candidate) {
                return Ok(candidate);
            }
        }
        searched.push("$PATH".to_owned());
    }
    let fallback = PathBuf::from(FALLBACK_BINARY);
    if is_executable(&fallback) {
        return Ok(fallback);
    }
    searched.push(FALLBACK_BINARY.to_owned());
    Err(ConformError::EtcdNotInstalled { searched: searched.join(", ") })
}

/// The test suites' shared policy when they need etcd: `true` if it is installed; otherwise a loud
/// failure (a panic naming the test), except that outside CI (`CI` unset) `LEASESIM_SKIP_ETCD=1`
/// turns it into a loud skip (`false`).
pub fn etcd_installed_for_test(test: &str) -> bool {
    let Err(e) = find_etcd_binary() else { return true };
    let in_ci = std::env::var_os("CI").is_some();
    let skip = std::env::var("LEASESIM_SKIP_ETCD").is_ok_and(|v| v == "1");
    if skip && !in_ci {
        eprintln!("\n!!!!!!!! {test}: SKIPPED (LEASESIM_SKIP_ETCD=1): {e} !!!!!!!!\n");
        return false;
    }
    panic!(
        "{test}: {e}\nThe etcd conformance tests need an etcd binary{}; to skip them locally, set LEASESIM_SKIP_ETCD=1.",
        if in_ci { " (CI is set: they may not be skipped)" } else { "" }
    );
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata().is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// A running etcd this process started. Killed, and its directory removed, on drop.
#[derive(Debug)]
pub struct EtcdProcess {
    binary: PathBuf,
    options: EtcdOptions,
    dir: PathBuf,
    client_port: u16,
    peer_port: u16,
    child: Option<Child>,
}

impl EtcdProcess {
    /// Starts a fresh single-member etcd on loopback, retrying with other ports if one was taken.
    pub fn spawn(options: EtcdOptions) -> Result<EtcdProcess, ConformError> {
        let binary = match &options.binary {
            Some(path) if is_executable(path) => path.clone(),
            Some(path) => {
                return Err(ConformError::EtcdNotInstalled {
                    searched: format!("{} (not an executable)", path.display()),
                });
            }
            None => find_etcd_binary()?,
        };
        let mut last_error = None;
        for _attempt in 0..3 {
            let dir = fresh_temp_dir()?;
            let (client_port, peer_port) = (free_port()?, free_port()?);
            let mut process = EtcdProcess {
                binary: binary.clone(),
                options: options.clone(),
                dir,
                client_port,
                peer_port,
                child: None,
            };
            match process.start() {
                Ok(()) => return Ok(process),
                Err(e) => {
                    let port_clash = matches!(&e, ConformError::EtcdStart { log_tail, .. } if log_tail.contains("address already in use"));
                    last_error = Some(e);
                    if !port_clash {
                        break;
                    }
                }
            }
        }
        Err(last_error.expect("at least one start attempt"))
    }

    /// `127.0.0.1:<client port>`.
    pub fn endpoint(&self) -> String {
        format!("127.0.0.1:{}", self.client_port)
    }

    pub fn options(&self) -> &EtcdOptions {
        &self.options
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.join("data")
    }

    /// Kills the process and starts it again on the same data directory and ports; returns once it
    /// answers `/health` again.
    pub fn restart(&mut self) -> Result<(), ConformError> {
        self.stop();
        self.start()
    }

    fn log_path(&self) -> PathBuf {
        self.dir.join("etcd.log")
    }

    fn start(&mut self) -> Result<(), ConformError> {
        let client_url = format!("http://127.0.0.1:{}", self.client_port);
        let peer_url = format!("http://127.0.0.1:{}", self.peer_port);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .map_err(|e| ConformError::Io(format!("cannot create {}: {e}", self.log_path().display())))?;
        let log_err = log.try_clone().map_err(|e| ConformError::Io(format!("cannot duplicate the log file: {e}")))?;
        let child = Command::new(&self.binary)
            .arg("--name=leasesim")
            .arg(format!("--data-dir={}", self.data_dir().display()))
            .arg(format!("--listen-client-urls={client_url}"))
            .arg(format!("--advertise-client-urls={client_url}"))
            .arg(format!("--listen-peer-urls={peer_url}"))
            .arg(format!("--initial-advertise-peer-urls={peer_url}"))
            .arg(format!("--initial-cluster=leasesim={peer_url}"))
            .arg(format!("--heartbeat-interval={}", self.options.heartbeat_ms))
            .arg(format!("--election-timeout={}", self.options.election_ms))
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err)
            .spawn()
            .map_err(|e| ConformError::EtcdStart {
                message: format!("cannot run {}: {e}", self.binary.display()),
                log_tail: String::new(),
            })?;
        self.child = Some(child);
        self.wait_healthy()
    }

    fn wait_healthy(&mut self) -> Result<(), ConformError> {
        let deadline = Instant::now() + START_TIMEOUT;
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, self.client_port));
        loop {
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                self.child = None;
                return Err(ConformError::EtcdStart {
                    message: format!("etcd exited with {status}"),
                    log_tail: self.log_tail(),
                });
            }
            if health_ok(addr) {
                return Ok(());
            }
            if Instant::now() >= deadline {
                self.stop();
                return Err(ConformError::EtcdStart {
                    message: format!("no healthy answer on {addr} within {} s", START_TIMEOUT.as_secs()),
                    log_tail: self.log_tail(),
                });
            }
            std::thread::sleep(POLL);
        }
    }

    /// Kills the process (SIGKILL: a crash, as the replayer's `restart` models; etcd fsyncs its WAL
    /// before it answers, so every acknowledged write survives).
    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// The last lines of etcd's log, for error messages.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(self.log_path()).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(15)..].join("\n")
    }
}

impl Drop for EtcdProcess {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// `GET /health` over plain HTTP/1.0: true when etcd answers `"health":"true"` (it has a leader
/// and serves linearizable reads).
fn health_ok(addr: SocketAddr) -> bool {
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_millis(200)) else { return false };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    if stream.write_all(b"GET /health HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").is_err() {
        return false;
    }
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    response.replace(' ', "").contains("\"health\":\"true\"")
}

/// A loopback port nobody listens on right now.
fn free_port() -> Result<u16, ConformError> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .map_err(|e| ConformError::Io(format!("cannot find a free loopback port: {e}")))?;
    listener.local_addr().map(|a| a.port()).map_err(|e| ConformError::Io(format!("cannot read a port: {e}")))
}

fn fresh_temp_dir() -> Result<PathBuf, ConformError> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    let name = format!("leasesim-etcd-{}-{}-{nanos}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed));
    let dir = std::env::temp_dir().join(name);
    std::fs::create_dir_all(&dir).map_err(|e| ConformError::Io(format!("cannot create {}: {e}", dir.display())))?;
    Ok(dir)
}
