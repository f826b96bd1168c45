//! Sweeps: many seeds under one set of options, run in parallel on std threads, results collected
//! in seed order (so a sweep's outcome does not depend on thread timing), plus the parsing of seed
//! ranges (`A..B`, half-open) and shards (`I/N`: the seeds whose position in the range is I mod N).
//!
//! Owns parallelism and aggregation only: each seed is an independent `runner::run`. Progress
//! display and wall-clock timing belong to the caller (the CLI).

use std::ops::Range;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::options::SimOptions;
use super::report::{Report, Stats};
use super::runner;

/// What a sweep found.
#[derive(Clone, Debug)]
pub struct SweepResult {
    pub runs: usize,
    /// Every run's statistics added up.
    pub totals: Stats,
    /// The failing runs, in seed order.
    pub failures: Vec<Report>,
}

/// Runs every seed on `jobs` threads; `on_done` is called (from worker threads) after each run.
pub fn sweep(seeds: &[u64], options: &SimOptions, jobs: usize, on_done: &(dyn Fn(&Report) + Sync)) -> SweepResult {
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<Report>>> = Mutex::new(vec![None; seeds.len()]);
    std::thread::scope(|scope| {
        for _ in 0..jobs.max(1).min(seeds.len().max(1)) {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(&seed) = seeds.get(i) else { break };
                    let mut report = runner::run(seed, options);
                    on_done(&report);
                    if report.passed() {
                        report.last_events = Vec::new();
                    }
                    results.lock().expect("no worker panicked holding the lock")[i] = Some(report);
                }
            });
        }
    });
    let reports: Vec<Report> =
        results.into_inner().expect("no worker panicked").into_iter().map(|r| r.expect("every seed ran")).collect();
    let mut totals = Stats::default();
    for report in &reports {
        totals.merge(&report.stats);
    }
    SweepResult { runs: reports.len(), totals, failures: reports.into_iter().filter(|r| !r.passed()).collect() }
}

/// Parses `A..B` (half-open, `A < B`).
pub fn parse_seed_range(text: &str) -> Result<Range<u64>, String> {
    let (a, b) =
        text.split_once("..").ok_or_else(|| format!("seed range `{text}` must look like A..B, e.g. 0..500"))?;
    let parse = |part: &str| {
        part.trim().parse::<u64>().map_err(|_| format!("seed range `{text}`: `{part}` is not a non-negative integer"))
    };
    let (a, b) = (parse(a)?, parse(b)?);
    if a >= b {
        return Err(format!("seed range `{text}` is empty: its start must be below its end"));
    }
    Ok(a..b)
}

/// Parses a shard `I/N` (`I < N`).
pub fn parse_shard(text: &str) -> Result<(u64, u64), String> {
    let (i, n) = text.split_once('/').ok_or_else(|| format!("shard `{text}` must look like I/N, e.g. 0/4"))?;
    let i: u64 = i.trim().parse().map_err(|_| format!("shard `{text}`: `{i}` is not a non-negative integer"))?;
    let n: u64 = n.trim().parse().map_err(|_| format!("shard `{text}`: `{n}` is not a non-negative integer"))?;
    if n == 0 || i >= n {
        return Err(format!("shard `{text}`: need 0 <= I < N"));
    }
    Ok((i, n))
}

/// The seeds of `range` that belong to shard `i` of `n`.
pub fn shard_seeds(range: Range<u64>, (i, n): (u64, u64)) -> Vec<u64> {
    range.filter(|s| s % n == i).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_ranges_and_shards_parse_or_explain() {
        assert_eq!(parse_seed_range("3..7"), Ok(3..7));
        assert!(parse_seed_range("5..2").unwrap_err().contains("empty"));
        assert!(parse_seed_range("x..y").unwrap_err().contains("not a non-negative integer"));
        assert!(parse_seed_range("12").unwrap_err().contains("A..B"));
        assert_eq!(parse_shard("1/4"), Ok((1, 4)));
        assert!(parse_shard("4/4").is_err() && parse_shard("1/0").is_err());
        assert_eq!(shard_seeds(0..10, (1, 3)), vec![1, 4, 7]);
    }
}
