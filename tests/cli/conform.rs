//! `leasesim conform` and `leasesim replay --against` as a process: without the `etcd` feature both
//! say so and exit 2; with it, bad input (an unreachable endpoint, a port that never answers, no etcd
//! binary, a trace etcd cannot run, bad seeds) is a clear message and exit 2 within seconds, and a
//! spawned etcd runs seeds and traces end to end.

use std::path::PathBuf;
use std::process::{Command, Output};

use crate::scratch::ScratchDir;

fn leasesim(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_leasesim"));
    command.args(args);
    for (key, value) in env {
        command.env(key, value);
    }
    command.output().expect("run leasesim")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A trace file with `content` in a scratch directory of its own (deleted when the guard drops).
fn scratch_trace(name: &str, content: &str) -> (ScratchDir, PathBuf) {
    let dir = ScratchDir::new(&format!("conform-{name}"));
    let path = dir.write(&format!("{name}.trace"), content);
    (dir, path)
}

#[track_caller]
fn assert_exit_2_saying(out: &Output, needle: &str) {
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "stdout: {}\nstderr: {stderr}", text(&out.stdout));
    assert!(stderr.contains(needle), "stderr lacks {needle:?}: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[cfg(not(feature = "etcd"))]
#[test]
fn without_the_etcd_feature_both_commands_say_how_to_build_it() {
    let (_dir, trace) = scratch_trace("plain", "grant 1 10\n");
    for args in [vec!["conform", "--spawn-etcd"], vec!["replay", "--against", "spawn", trace.to_str().unwrap()]] {
        let out = leasesim(&args, &[]);
        assert_exit_2_saying(&out, "built without etcd support");
        assert_exit_2_saying(&out, "--features etcd");
    }
}

#[cfg(feature = "etcd")]
mod with_etcd {
    use std::net::TcpListener;
    use std::time::{Duration, Instant};

    use leasesim::conform::{EtcdOptions, EtcdProcess, etcd_installed_for_test};

    use super::*;

    /// A loopback port nothing listens on.
    fn closed_port() -> u16 {
        TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
    }

    #[test]
    fn an_unreachable_endpoint_is_a_clear_error_within_seconds() {
        let endpoint = format!("127.0.0.1:{}", closed_port());
        let (_dir, trace) = scratch_trace("unreachable", "grant 1 10\n");
        let started = Instant::now();
        let conform = leasesim(&["conform", "--endpoint", &endpoint, "--seeds", "0..1"], &[]);
        assert_exit_2_saying(&conform, &format!("cannot reach etcd at {endpoint}"));
        let replay = leasesim(&["replay", "--against", &endpoint, trace.to_str().unwrap()], &[]);
        assert_exit_2_saying(&replay, &format!("cannot reach etcd at {endpoint}"));
        assert!(started.elapsed() < Duration::from_secs(20), "took {:?}", started.elapsed());
    }

    #[test]
    fn a_port_that_never_answers_does_not_hang() {
        // Accepts TCP connections (the kernel backlog) but never speaks gRPC.
        let silent = TcpListener::bind("127.0.0.1:0").expect("bind");
        let endpoint = format!("127.0.0.1:{}", silent.local_addr().expect("addr").port());
        let started = Instant::now();
        let out = leasesim(&["conform", "--endpoint", &endpoint, "--seeds", "0..1"], &[]);
        assert_exit_2_saying(&out, &format!("cannot reach etcd at {endpoint}"));
        assert!(started.elapsed() < Duration::from_secs(15), "took {:?}", started.elapsed());
        drop(silent);
    }

    #[test]
    fn no_etcd_binary_is_a_clear_error() {
        let out = leasesim(&["conform", "--spawn-etcd", "--seeds", "0..1"], &[("LEASESIM_ETCD", "/nonexistent/etcd")]);
        assert_exit_2_saying(&out, "no etcd binary found");
        assert_exit_2_saying(&out, "/nonexistent/etcd");
    }

    #[test]
    fn a_trace_etcd_cannot_run_is_refused_with_its_line_before_etcd_starts() {
        let (_checkpoint_dir, checkpoint) = scratch_trace("checkpoint", "grant 1 10\ncheckpoint 1 5\n");
        let out = leasesim(&["replay", "--against", "spawn", checkpoint.to_str().unwrap()], &[]);
        assert_exit_2_saying(&out, "line 2: `checkpoint 1 5` cannot run against a live etcd");
        let (_restart_dir, restart) = scratch_trace("restart", "grant 1 10\nrestart\n");
        let endpoint = format!("127.0.0.1:{}", closed_port());
        let out = leasesim(&["replay", "--against", &endpoint, restart.to_str().unwrap()], &[]);
        assert_exit_2_saying(&out, "line 2: `restart` cannot run against a live etcd");
        let (_malformed_dir, malformed) = scratch_trace("malformed", "grant x 10\n");
        let out = leasesim(&["replay", "--against", "spawn", malformed.to_str().unwrap()], &[]);
        assert_exit_2_saying(&out, "line 1: `x` is not a lease ID");
    }

    #[test]
    fn bad_arguments_are_clear_errors() {
        assert_exit_2_saying(&leasesim(&["conform", "--spawn-etcd", "--seeds", "5..2"], &[]), "--seeds `5..2`");
        assert_exit_2_saying(&leasesim(&["conform", "--seeds", "0..1"], &[]), "--endpoint HOST:PORT or --spawn-etcd");
        let missing = leasesim(&["replay", "--against", "spawn", "/nonexistent/x.trace"], &[]);
        assert_exit_2_saying(&missing, "cannot read trace file");
    }

    #[test]
    fn a_spawned_etcd_runs_seeds_and_answers_a_trace_as_the_replayer_does() {
        if !etcd_installed_for_test("a_spawned_etcd_runs_seeds_and_answers_a_trace_as_the_replayer_does") {
            return;
        }
        let out = leasesim(&["conform", "--spawn-etcd", "--seeds", "0..2"], &[]);
        let stdout = text(&out.stdout);
        assert_eq!(out.status.code(), Some(0), "stdout: {stdout}\nstderr: {}", text(&out.stderr));
        assert!(stdout.contains("seed 0: agree") && stdout.contains("seed 1: agree"), "{stdout}");
        assert!(stdout.contains("conform: 2 traces, 2 agree, 0 disagree"), "{stdout}");
        // No time-derived field in this trace, so etcd's replies equal the replayer's byte for byte.
        let (_dir, trace) = scratch_trace(
            "spawned",
            "config min_ttl=1 election=500ms\ngrant -5 10\ngrant -5 10\ngrant 43 9000000001\nput k v -5\n\
             put j w 404\nget k\nrenew -5\nleases\nrevoke -5\nget k\nrenew -5\nttl -5 keys\ndelete j\n",
        );
        let against = leasesim(&["replay", "--against", "spawn", trace.to_str().unwrap()], &[]);
        let replayed = leasesim(&["replay", trace.to_str().unwrap()], &[]);
        assert_eq!(against.status.code(), Some(0), "stderr: {}", text(&against.stderr));
        assert_eq!(text(&against.stdout), text(&replayed.stdout));
        assert_eq!(text(&against.stdout).lines().count(), 13);
    }

    #[test]
    fn an_external_etcd_is_probed_run_against_and_left_empty() {
        if !etcd_installed_for_test("an_external_etcd_is_probed_run_against_and_left_empty") {
            return;
        }
        // Default raft timing: the probed minimum TTL is 2 s, and the traces are generated for it.
        let etcd = EtcdProcess::spawn(EtcdOptions::for_election(1000)).expect("start etcd");
        let endpoint = etcd.endpoint();
        for seeds in ["0..1", "1..2"] {
            let out = leasesim(&["conform", "--endpoint", &endpoint, "--seeds", seeds], &[]);
            let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
            assert_eq!(out.status.code(), Some(0), "stdout: {stdout}\nstderr: {stderr}");
            assert!(stderr.contains("(external); config min_ttl=2"), "{stderr}");
            assert!(stdout.contains("1 traces, 1 agree, 0 disagree"), "{stdout}");
        }
    }
}
