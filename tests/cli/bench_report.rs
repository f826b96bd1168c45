//! `leasesim bench-report` as a process, on hand-written criterion result directories: the table
//! (medians, ratios to EtcdHeap, bytes per lease) and clear errors when there is nothing to read.

use std::path::Path;
use std::process::{Command, Output};

use crate::scratch::ScratchDir;

fn bench_report(dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_leasesim"))
        .args(["bench-report", "--criterion-dir"])
        .arg(dir)
        .output()
        .expect("the leasesim binary runs")
}

fn text(output: &Output) -> (String, String) {
    (String::from_utf8_lossy(&output.stdout).into_owned(), String::from_utf8_lossy(&output.stderr).into_owned())
}

/// A fresh empty directory for one test's files (deleted when the guard drops).
fn fresh_dir(name: &str) -> ScratchDir {
    ScratchDir::new(&format!("bench-report-{name}"))
}

/// Writes what criterion writes for one benchmark: `new/benchmark.json` and `new/estimates.json`.
fn write_result(dir: &Path, group: &str, implementation: &str, leases: &str, median_ns: f64) {
    let new = dir.join(group).join(implementation).join(leases).join("new");
    std::fs::create_dir_all(&new).unwrap();
    let benchmark = format!(
        r#"{{"group_id":"{group}","function_id":"{implementation}","value_str":"{leases}","throughput":null,"full_id":"{group}/{implementation}/{leases}","directory_name":"{group}/{implementation}/{leases}","title":"{group}/{implementation}/{leases}"}}"#
    );
    std::fs::write(new.join("benchmark.json"), benchmark).unwrap();
    let estimates = format!(
        r#"{{"mean":{{"point_estimate":{m}}},"median":{{"point_estimate":{median_ns},"standard_error":1.0}}}}"#,
        m = median_ns * 1.1
    );
    std::fs::write(new.join("estimates.json"), estimates).unwrap();
}

#[test]
fn tabulates_medians_ratios_and_bytes_per_lease() {
    let dir = fresh_dir("table");
    write_result(&dir, "expiry-renew", "EtcdHeap", "1000000", 800.0);
    write_result(&dir, "expiry-renew", "BucketQueue", "1000000", 200.0);
    write_result(&dir, "expiry-scan", "EtcdHeap", "1000000", 4000.0);
    write_result(&dir, "expiry-scan", "BucketQueue", "1000000", 100.0);
    write_result(&dir, "lessor-promote", "EtcdHeap", "1000000", 250_000_000.0);
    write_result(&dir, "unrelated-group", "Other", "1", 5.0);
    std::fs::write(
        dir.join("leasesim-memory.json"),
        r#"{"unit":"bytes","bytes_per_lease":{"EtcdHeap":{"1000000":65.0},"BucketQueue":{"1000000":37.25}}}"#,
    )
    .unwrap();
    let output = bench_report(&dir);
    let (stdout, stderr) = text(&output);
    assert_eq!(output.status.code(), Some(0), "{stdout}{stderr}");
    let line =
        |group: &str| stdout.lines().find(|l| l.starts_with(group)).unwrap_or_else(|| panic!("no {group}: {stdout}"));
    let renew = line("expiry-renew");
    assert!(renew.contains("800 ns (1.00x)") && renew.contains("200 ns (0.25x)"), "{renew}");
    let scan = line("expiry-scan");
    assert!(scan.contains("per expired lease") && scan.contains("100 ns (0.03x)"), "{scan}");
    assert!(line("lessor-promote").contains("250.0 ms (1.00x)"), "{stdout}");
    let memory = line("expiry-memory");
    assert!(memory.contains("65.0") && memory.contains("37.2"), "{memory}");
    assert!(!stdout.contains("unrelated-group"), "only expiry-* and lessor-* groups belong:\n{stdout}");
    // EtcdHeap is the first column, BucketQueue after it.
    let header = stdout.lines().find(|l| l.starts_with("bench")).unwrap();
    assert!(header.find("EtcdHeap") < header.find("BucketQueue"), "{header}");
}

#[test]
fn no_results_is_a_clear_error() {
    let dir = fresh_dir("empty");
    for path in [dir.to_path_buf(), dir.join("does-not-exist")] {
        let output = bench_report(&path);
        let (stdout, stderr) = text(&output);
        assert_eq!(output.status.code(), Some(2), "{stdout}{stderr}");
        assert!(stderr.contains("run `cargo bench --bench expiry`"), "{stderr}");
    }
}

#[test]
fn a_malformed_result_names_the_file() {
    let dir = fresh_dir("malformed");
    write_result(&dir, "expiry-grant", "EtcdHeap", "100000", 70.0);
    let estimates = dir.join("expiry-grant/EtcdHeap/100000/new/estimates.json");
    std::fs::write(&estimates, "{ not json").unwrap();
    let output = bench_report(&dir);
    let (stdout, stderr) = text(&output);
    assert_eq!(output.status.code(), Some(2), "{stdout}{stderr}");
    assert!(stderr.contains("estimates.json") && stderr.contains("not valid JSON"), "{stderr}");
}
