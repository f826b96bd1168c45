//! `leasesim bench-report`: criterion's results for the expiry-index and lessor benches as one
//! table — the median time per operation of each implementation at each lease count, its ratio to
//! `EtcdHeap` (etcd's own structure), and the bytes per lease the expiry bench measured.
//!
//! Reads `<criterion dir>/**/new/benchmark.json` + `estimates.json` (written by `cargo bench`) and
//! `<criterion dir>/leasesim-memory.json` (written by `benches/expiry.rs`). It runs no benchmark and
//! judges no target; a missing or unreadable result is a clear error, never a panic.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use serde_json::Value;

/// The baseline every ratio is taken against.
const BASELINE: &str = "EtcdHeap";
/// Column and row orders for the known names; unknown ones follow, sorted.
const IMPLEMENTATION_ORDER: [&str; 4] = ["EtcdHeap", "LazyHeap", "BTreeQueue", "BucketQueue"];
const GROUP_ORDER: [(&str, &str); 9] = [
    ("expiry-grant", "per grant"),
    ("expiry-renew", "per renew by ID"),
    ("expiry-renew-handle", "per renew by handle"),
    ("expiry-revoke", "per revoke"),
    ("expiry-scan", "per expired lease"),
    ("lessor-grant", "per grant"),
    ("lessor-renew", "per renew"),
    ("lessor-revoke", "per revoke (1 key)"),
    ("lessor-promote", "per promote"),
];

#[derive(clap::Args)]
pub struct BenchReportArgs {
    /// criterion's output directory (default: `$CARGO_TARGET_DIR/criterion`, else `target/criterion`).
    #[arg(long, value_name = "DIR")]
    criterion_dir: Option<PathBuf>,
}

/// One benchmark's median, in nanoseconds.
struct Measurement {
    group: String,
    implementation: String,
    leases: String,
    median_ns: f64,
}

pub fn run(args: &BenchReportArgs) -> ExitCode {
    let dir = args.criterion_dir.clone().unwrap_or_else(|| {
        let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| PathBuf::from("target"), PathBuf::from);
        target.join("criterion")
    });
    match report(&dir) {
        Ok(text) => {
            print!("{text}");
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::from(2)
        }
    }
}

fn report(dir: &Path) -> Result<String, String> {
    let mut files = Vec::new();
    if dir.is_dir() {
        find_benchmark_files(dir, &mut files).map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
    }
    files.sort();
    let measurements = files.iter().map(|path| read_measurement(path)).collect::<Result<Vec<_>, _>>()?;
    let measurements: Vec<Measurement> = measurements.into_iter().flatten().collect();
    if measurements.is_empty() {
        return Err(format!(
            "no expiry or lessor bench results under {}; run `cargo bench --bench expiry` (and \
             `cargo bench --bench lessor`) first",
            dir.display()
        ));
    }
    let memory = read_memory(&dir.join("leasesim-memory.json"))?;
    Ok(render(&measurements, memory.as_ref()))
}

/// Every `…/new/benchmark.json` below `dir`.
fn find_benchmark_files(dir: &Path, found: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            find_benchmark_files(&path, found)?;
        } else if path.file_name().is_some_and(|n| n == "benchmark.json")
            && path.parent().and_then(Path::file_name).is_some_and(|n| n == "new")
        {
            found.push(path);
        }
    }
    Ok(())
}

fn read_json(path: &Path) -> Result<Value, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("{} is not valid JSON: {e}", path.display()))
}

/// The measurement a `benchmark.json` describes, if it is one of ours (`expiry-*`/`lessor-*`).
fn read_measurement(benchmark_json: &Path) -> Result<Option<Measurement>, String> {
    let benchmark = read_json(benchmark_json)?;
    let field = |name: &str| benchmark[name].as_str().map(str::to_owned);
    let Some(group) = field("group_id") else { return Err(format!("{} has no group_id", benchmark_json.display())) };
    if !(group.starts_with("expiry-") || group.starts_with("lessor-")) {
        return Ok(None);
    }
    let (Some(implementation), Some(leases)) = (field("function_id"), field("value_str")) else {
        return Err(format!("{} lacks function_id or value_str", benchmark_json.display()));
    };
    let estimates_json = benchmark_json.with_file_name("estimates.json");
    let estimates = read_json(&estimates_json)?;
    let Some(median_ns) = estimates["median"]["point_estimate"].as_f64() else {
        return Err(format!("{} has no median.point_estimate", estimates_json.display()));
    };
    Ok(Some(Measurement { group, implementation, leases, median_ns }))
}

/// implementation → lease count → bytes per lease.
type Memory = BTreeMap<String, BTreeMap<String, f64>>;

fn read_memory(path: &Path) -> Result<Option<Memory>, String> {
    if !path.exists() {
        return Ok(None);
    }
    let document = read_json(path)?;
    serde_json::from_value(document["bytes_per_lease"].clone())
        .map(Some)
        .map_err(|e| format!("{}: `bytes_per_lease` is not a map of maps of numbers: {e}", path.display()))
}

/// Known names in their fixed order, then the others sorted.
fn ordered<'a>(names: impl Iterator<Item = &'a str>, known: &[&str]) -> Vec<String> {
    let mut all: Vec<String> = names.map(str::to_owned).collect();
    all.sort_by_key(|n| (known.iter().position(|k| k == n).unwrap_or(known.len()), n.clone()));
    all.dedup();
    all
}

/// Lease counts in numeric order.
fn by_count(mut counts: Vec<String>) -> Vec<String> {
    counts.sort_by_key(|c| (c.parse::<u64>().unwrap_or(u64::MAX), c.clone()));
    counts.dedup();
    counts
}

fn format_time(ns: f64) -> String {
    if ns < 10_000.0 {
        format!("{ns:.0} ns")
    } else if ns < 10_000_000.0 {
        format!("{:.1} µs", ns / 1e3)
    } else {
        format!("{:.1} ms", ns / 1e6)
    }
}

fn render(measurements: &[Measurement], memory: Option<&Memory>) -> String {
    let known_groups: Vec<&str> = GROUP_ORDER.iter().map(|(g, _)| *g).collect();
    let groups = ordered(measurements.iter().map(|m| m.group.as_str()), &known_groups);
    let implementations = ordered(measurements.iter().map(|m| m.implementation.as_str()), &IMPLEMENTATION_ORDER);
    let median = |group: &str, implementation: &str, leases: &str| {
        measurements
            .iter()
            .find(|m| m.group == group && m.implementation == implementation && m.leases == leases)
            .map(|m| m.median_ns)
    };
    let mut out = String::new();
    out.push_str(&format!("median time per operation; in brackets the ratio to {BASELINE} (lower is better)\n\n"));
    out.push_str(&format!("{:<20} {:<20} {:>10}", "bench", "unit", "leases"));
    for implementation in &implementations {
        out.push_str(&format!(" {implementation:>20}"));
    }
    out.push('\n');
    for group in &groups {
        let unit = GROUP_ORDER.iter().find(|(g, _)| g == group).map_or("per op", |(_, u)| u);
        let counts = by_count(measurements.iter().filter(|m| &m.group == group).map(|m| m.leases.clone()).collect());
        for leases in &counts {
            out.push_str(&format!("{group:<20} {unit:<20} {leases:>10}"));
            let baseline = median(group, BASELINE, leases);
            for implementation in &implementations {
                let cell = match (median(group, implementation, leases), baseline) {
                    (None, _) => "-".to_owned(),
                    (Some(ns), Some(base)) if base > 0.0 => format!("{} ({:.2}x)", format_time(ns), ns / base),
                    (Some(ns), _) => format_time(ns),
                };
                out.push_str(&format!(" {cell:>20}"));
            }
            out.push('\n');
        }
    }
    out.push('\n');
    match memory {
        None => out.push_str("bytes per lease: no leasesim-memory.json yet (run `cargo bench --bench expiry`)\n"),
        Some(memory) => {
            out.push_str("index bytes per lease (counting allocator, after granting every lease)\n\n");
            let names = ordered(memory.keys().map(String::as_str), &IMPLEMENTATION_ORDER);
            let counts = by_count(memory.values().flat_map(|sizes| sizes.keys().cloned()).collect());
            out.push_str(&format!("{:<20} {:<20} {:>10}", "memory", "unit", "leases"));
            for name in &names {
                out.push_str(&format!(" {name:>20}"));
            }
            out.push('\n');
            for leases in &counts {
                out.push_str(&format!("{:<20} {:<20} {leases:>10}", "expiry-memory", "bytes per lease"));
                for name in &names {
                    let cell = memory[name].get(leases).map_or("-".to_owned(), |b| format!("{b:.1}"));
                    out.push_str(&format!(" {cell:>20}"));
                }
                out.push('\n');
            }
        }
    }
    out
}
