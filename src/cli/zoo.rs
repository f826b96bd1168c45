//! `leasesim zoo [--budget small|default|large] [--out DIR] [--jobs J] [--bug NAME...] [--engine NAME...]
//! [--readme FILE]`:
//! the bug-detection matrix. Every bug switch (and the correct build) through every engine under
//! one budget; prints the matrix, writes `DIR/zoo.md`, `DIR/zoo.json` and each minimized
//! counterexample (`DIR/cex/<row>-<engine>.trace`; for the simulator the minimized run's event trace
//! `.jsonl` and its sequence diagram `.svg`), and with `--readme` rewrites the README's
//! generated block. Exit 0 when every cell is as expected, 1 otherwise, 2 on bad input.
//!
//! Owns the terminal (a progress bar), files, threads and wall-clock timing; the cells are
//! `leasesim_models::zoo`'s.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant as WallClock;

use indicatif::{ProgressBar, ProgressStyle};
use leasesim_models::zoo::matrix::replace_readme_block;
use leasesim_models::zoo::{Budget, CellResult, Engine, Matrix, Row, run_cell};

/// `leasesim zoo`.
#[derive(clap::Args, Clone, Debug)]
pub struct ZooArgs {
    /// How much each engine may spend per row: small (for tests), default, large.
    #[arg(long, value_name = "small|default|large", default_value = "default")]
    budget: Budget,
    /// Where to write zoo.md, zoo.json and the counterexamples.
    #[arg(long, value_name = "DIR", default_value = "zoo")]
    out: PathBuf,
    /// Cells run at once (default: all cores); each cell runs on one thread.
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..))]
    jobs: Option<u16>,
    /// Only these rows (repeatable): a bug name, or `correct` for the correct build.
    #[arg(long = "bug", value_name = "NAME")]
    rows: Vec<Row>,
    /// Only these engines (repeatable): proptest, lessor-model, cluster-model, sim.
    #[arg(long = "engine", value_name = "NAME")]
    engines: Vec<Engine>,
    /// Rewrite the block between `<!-- zoo:begin -->` and `<!-- zoo:end -->` in this file.
    #[arg(long, value_name = "FILE")]
    readme: Option<PathBuf>,
}

pub fn run(args: &ZooArgs) -> ExitCode {
    // Check the README first: a bad file is bad input, found before minutes of work.
    let readme = match &args.readme {
        Some(path) => match std::fs::read_to_string(path) {
            Ok(text) => match replace_readme_block(&text, "") {
                Ok(_) => Some((path, text)),
                Err(e) => return bad_input(&format!("{}: {e}", path.display())),
            },
            Err(e) => return bad_input(&format!("cannot read {}: {e}", path.display())),
        },
        None => None,
    };
    if let Err(e) = std::fs::create_dir_all(args.out.join("cex")) {
        return bad_input(&format!("cannot create {}: {e}", args.out.display()));
    }
    let mut rows = if args.rows.is_empty() { Row::all() } else { args.rows.clone() };
    rows.sort();
    rows.dedup();
    let jobs = args.jobs.map_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()), usize::from);
    let mut engines = if args.engines.is_empty() { Engine::ALL.to_vec() } else { args.engines.clone() };
    engines.sort();
    engines.dedup();
    let budget = args.budget;
    println!("leasesim zoo: {} rows × {} engines on {jobs} threads", rows.len(), engines.len());
    println!("{}", budget.describe());
    println!();

    let cells: Vec<(Row, Engine)> =
        rows.iter().flat_map(|&row| engines.iter().map(move |&engine| (row, engine))).collect();
    let bar = ProgressBar::new(cells.len() as u64);
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} cells, {msg} [{elapsed_precise} / eta {eta}]")
            .expect("a valid template"),
    );
    let results = run_cells(&cells, &budget, jobs, &bar);
    bar.finish_and_clear();
    let matrix = Matrix { budget, rows, cells: results };

    print!("{}", matrix.table());
    let markdown = matrix.markdown();
    let json = serde_json::to_string_pretty(&matrix.json()).expect("the matrix serializes");
    let mut written =
        vec![write(&args.out.join("zoo.md"), &markdown), write(&args.out.join("zoo.json"), &format!("{json}\n"))];
    for cell in &matrix.cells {
        if let Ok(outcome) = &cell.outcome
            && let Some(text) = &outcome.counterexample
        {
            let file = args.out.join("cex").join(format!("{}-{}.trace", cell.row, cell.engine));
            written.push(write(&file, text));
        }
        if let Ok(outcome) = &cell.outcome
            && let Some(jsonl) = &outcome.event_trace
        {
            let file = args.out.join("cex").join(format!("{}-{}", cell.row, cell.engine));
            written.push(write(&file.with_extension("jsonl"), jsonl));
            written.push(match leasesim::show::render(jsonl, &leasesim::show::Request::default()) {
                Ok(picture) => write(&file.with_extension("svg"), &picture.svg),
                Err(e) => Err(format!("cannot draw {}: {e}", file.with_extension("jsonl").display())),
            });
        }
    }
    if let Some((path, text)) = readme {
        let updated = replace_readme_block(&text, &markdown).expect("the markers were checked");
        written.push(write(path, &updated));
    }
    println!();
    for cell in matrix.cells.iter().filter(|c| !c.status().ok()) {
        let detail = match &cell.outcome {
            Ok(outcome) => outcome.detail.clone(),
            Err(e) => e.clone(),
        };
        println!("{} × {}: {} — {detail}", cell.row, cell.engine, cell.status().name());
    }
    for result in &written {
        match result {
            Ok(file) => println!("wrote {file}"),
            Err(e) => eprintln!("error: {e}"),
        }
    }
    if written.iter().any(Result::is_err) {
        return ExitCode::from(2);
    }
    if matrix.ok() {
        println!("verdict: ok — every bug found by the engines expected to find it, the correct build clean");
        ExitCode::SUCCESS
    } else {
        println!("verdict: FAILED — cells not as expected (above)");
        ExitCode::from(1)
    }
}

fn bad_input(message: &str) -> ExitCode {
    eprintln!("error: {message}");
    ExitCode::from(2)
}

fn write(file: &Path, text: &str) -> Result<String, String> {
    std::fs::write(file, text).map_err(|e| format!("cannot write {}: {e}", file.display()))?;
    Ok(file.display().to_string())
}

/// Runs the cells on `jobs` threads, each cell timed; results in the cells' order.
fn run_cells(cells: &[(Row, Engine)], budget: &Budget, jobs: usize, bar: &ProgressBar) -> Vec<CellResult> {
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<CellResult>>> = Mutex::new(vec![None; cells.len()]);
    std::thread::scope(|scope| {
        for _ in 0..jobs.clamp(1, cells.len().max(1)) {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(&(row, engine)) = cells.get(i) else { break };
                    let started = WallClock::now();
                    let outcome = run_cell(row, engine, budget);
                    let wall_s = started.elapsed().as_secs_f64();
                    let result = CellResult { row, engine, outcome, wall_s };
                    bar.set_message(format!("{row} × {engine}: {}", result.status().name()));
                    bar.inc(1);
                    results.lock().expect("no worker panicked holding the lock")[i] = Some(result);
                }
            });
        }
    });
    results.into_inner().expect("no worker panicked").into_iter().map(|r| r.expect("every cell ran")).collect()
}
