//! `leasesim replay <file>`: a trace against the single-member replayer, replies on stdout.

use std::process::ExitCode;

use leasesim::bugs::Bugs;

pub fn run(file: &std::path::Path, bugs: Bugs) -> ExitCode {
    let text = match std::fs::read_to_string(file) {
        Ok(text) => text,
        Err(e) => {
            eprintln!("error: cannot read trace file {}: {e}", file.display());
            return ExitCode::from(2);
        }
    };
    match leasesim::trace::replay_trace(&text, bugs) {
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
        Ok(outcome) => {
            for reply in &outcome.replies {
                println!("{reply}");
            }
            match outcome.violation {
                None => ExitCode::SUCCESS,
                Some((line, violation)) => {
                    println!("violation {violation}");
                    eprintln!("error: line {line}: property {} violated (bugs: {bugs})", violation.property);
                    ExitCode::from(1)
                }
            }
        }
    }
}
