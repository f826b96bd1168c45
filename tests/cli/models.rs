//! `leasesim check` and `leasesim explore` end to end: verdicts and exit codes, the shortest
//! counterexample written as a replay trace that `leasesim replay --bug` reproduces, bad input as
//! exit 2 with a clear message, and the Explorer served and fetched over HTTP on loopback.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::scratch::ScratchDir;

fn leasesim(args: &[&str], dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_leasesim")).args(args).current_dir(dir).output().expect("run leasesim")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A fresh empty directory for one test's files (deleted when the guard drops).
fn scratch_dir(name: &str) -> ScratchDir {
    ScratchDir::new(&format!("models-{name}"))
}

#[test]
fn check_finds_etcd_6098_and_its_trace_replays_to_the_same_violation() {
    let dir = scratch_dir("6098");
    let out = leasesim(&["check", "lessor", "--bug", "etcd-6098", "--depth", "5", "--threads", "1"], &dir);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "stdout:\n{stdout}\nstderr:\n{}", text(&out.stderr));
    for expected in [
        "states ",
        "states/s",
        "property no_key_outlives_its_lease (always): VIOLATED",
        "shortest counterexample (4 actions",
        "property renew_never_resurrects (always): holds",
    ] {
        assert!(stdout.contains(expected), "missing {expected:?} in:\n{stdout}");
    }
    let trace = dir.join("counterexample-lessor-no_key_outlives_its_lease.trace");
    let written = std::fs::read_to_string(&trace).expect("the trace file is written");
    assert!(written.lines().any(|l| l.starts_with("config ")), "{written}");
    let replay = leasesim(&["replay", "--bug", "etcd-6098", trace.to_str().unwrap()], &dir);
    assert_eq!(replay.status.code(), Some(1), "{}", text(&replay.stdout));
    assert!(text(&replay.stdout).contains("violation no_key_outlives_its_lease"), "{}", text(&replay.stdout));
}

#[test]
fn check_of_the_fixed_lessor_holds_and_exits_zero() {
    let dir = scratch_dir("fixed");
    let out = leasesim(&["check", "lessor", "--depth", "4", "--strategy", "dfs"], &dir);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "stdout:\n{stdout}\nstderr:\n{}", text(&out.stderr));
    assert!(stdout.contains("property no_key_outlives_its_lease (always): holds"), "{stdout}");
    assert!(!stdout.contains("VIOLATED"), "{stdout}");
}

#[test]
fn bad_check_and_explore_arguments_exit_2_with_a_message() {
    let dir = scratch_dir("bad");
    for (args, message) in [
        (&["check", "nosuch"][..], "unknown model `nosuch`"),
        (&["check", "lessor", "--strategy", "bogo"][..], "unknown strategy `bogo`"),
        (&["check", "lessor", "--bug", "etcd-1"][..], "unknown bug `etcd-1`"),
        (&["check", "lessor", "--depth", "0"][..], "--depth"),
        (&["check", "lessor", "--depth", "x"][..], "--depth"),
        (&["check", "cluster", "--checkpoint", "maybe"][..], "must be on or off"),
        (&["explore", "nosuch"][..], "unknown model `nosuch`"),
    ] {
        let out = leasesim(args, &dir);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", text(&out.stderr));
        assert!(text(&out.stderr).contains(message), "{args:?}: {}", text(&out.stderr));
    }
}

#[test]
fn explore_on_a_taken_port_is_a_clear_error() {
    let taken = TcpListener::bind("127.0.0.1:0").expect("bind a port");
    let port = taken.local_addr().unwrap().port().to_string();
    let out = leasesim(&["explore", "lessor", "--port", &port], &scratch_dir("taken"));
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(stderr.contains(&format!("127.0.0.1:{port}")) && stderr.contains("in use"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// `GET path` over HTTP/1.0 on loopback: (status line, body).
fn http_get(port: u16, path: &str) -> std::io::Result<(String, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    Ok((head.lines().next().unwrap_or("").to_owned(), body.to_owned()))
}

/// Kills the child when dropped, so a failing assertion does not leak the server.
struct KillOnDrop(std::process::Child);
impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn explore_serves_the_explorer_and_its_state_listing_over_http() {
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let child = Command::new(env!("CARGO_BIN_EXE_leasesim"))
        .args(["explore", "lessor", "--port", &port.to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start leasesim explore");
    let mut server = KillOnDrop(child);
    let mut first_line = [0u8; 80];
    let n = server.0.stdout.as_mut().unwrap().read(&mut first_line).unwrap();
    assert!(text(&first_line[..n]).contains(&format!("http://127.0.0.1:{port}/")), "{}", text(&first_line[..n]));
    let started = Instant::now();
    let (status, page) = loop {
        match http_get(port, "/") {
            Ok(response) => break response,
            Err(e) if started.elapsed() < Duration::from_secs(20) => {
                let _ = e;
                std::thread::sleep(Duration::from_millis(100));
            }
            Err(e) => panic!("the Explorer never answered on port {port}: {e}"),
        }
    };
    assert!(status.contains("200"), "{status}");
    assert!(page.contains("<html") || page.contains("<!DOCTYPE"), "{page}");
    let (status, init) = http_get(port, "/.states").unwrap();
    assert!(status.contains("200"), "{status}");
    let init: serde_json::Value = serde_json::from_str(&init).expect("the state listing is JSON");
    assert_eq!(init.as_array().map(Vec::len), Some(1), "one initial state: {init}");
    assert!(init[0]["state"].as_str().is_some_and(|s| s.contains("LessorState")), "{init}");
    let (status, next) = http_get(port, "/.states/0").unwrap();
    assert!(status.contains("200"), "{status}");
    let next: serde_json::Value = serde_json::from_str(&next).expect("the successor listing is JSON");
    let actions: Vec<&str> = next.as_array().unwrap().iter().filter_map(|s| s["action"].as_str()).collect();
    assert!(actions.contains(&"grant 1 1") && actions.contains(&"advance 500ms"), "{actions:?}");
}
