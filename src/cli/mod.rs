//! The subcommands of the `leasesim` CLI, one module each. `main.rs` parses arguments and
//! dispatches here; these modules own files, the terminal and wall-clock time.

pub mod bench_report;
pub mod check;
pub mod conform;
pub mod explore;
pub mod replay;
pub mod show;
pub mod sim;
pub mod sweep;
pub mod verify;
pub mod zoo;
