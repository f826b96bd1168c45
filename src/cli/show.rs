//! `leasesim show <trace.jsonl> [-o out.svg] [--from MS] [--to MS] [--lease ID]`: a run's event
//! trace (`leasesim sim --trace`) drawn as an SVG sequence diagram (see `leasesim::show`).
//!
//! Owns the files: reads the trace, writes the picture (next to the trace, `.svg`, unless `-o`
//! says where). Exit status 0 when written, 2 on bad input (missing file, malformed line, empty
//! trace, empty window), with the reason on stderr.

use std::path::PathBuf;
use std::process::ExitCode;

use leasesim::show::{self, Request};

/// `leasesim show`.
#[derive(clap::Args, Clone, Debug)]
pub struct ShowArgs {
    /// The JSON-lines event trace of a run (`leasesim sim --seed N --trace FILE`).
    trace: PathBuf,
    /// Where to write the SVG (default: the trace's path with the extension `.svg`).
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// Start of the window, in true (simulated) ms (default: a few seconds before the violation).
    #[arg(long, value_name = "MS")]
    from: Option<u64>,
    /// End of the window, in true ms (default: just after the violation, or the end of the run).
    #[arg(long, value_name = "MS")]
    to: Option<u64>,
    /// Show only the messages and marks of this lease (default window: its lifetime).
    #[arg(long, value_name = "ID", allow_negative_numbers = true)]
    lease: Option<i64>,
}

pub fn run(args: &ShowArgs) -> ExitCode {
    let text = match std::fs::read_to_string(&args.trace) {
        Ok(text) => text,
        Err(e) => {
            eprintln!("error: cannot read trace file {}: {e}", args.trace.display());
            return ExitCode::from(2);
        }
    };
    let request = Request { from_ms: args.from, to_ms: args.to, lease: args.lease };
    let picture = match show::render(&text, &request) {
        Ok(picture) => picture,
        Err(e) => {
            eprintln!("error: {}: {e}", args.trace.display());
            return ExitCode::from(2);
        }
    };
    let output = args.output.clone().unwrap_or_else(|| args.trace.with_extension("svg"));
    if let Err(e) = std::fs::write(&output, &picture.svg) {
        eprintln!("error: cannot write {}: {e}", output.display());
        return ExitCode::from(2);
    }
    println!("{}", picture.title);
    println!("wrote {} ({} lifelines, {} messages)", output.display(), picture.lifelines, picture.messages);
    ExitCode::SUCCESS
}
