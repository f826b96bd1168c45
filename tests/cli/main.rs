//! The CLI integration tests (`leasesim` run as a process), one module per area.

mod bench_report;
mod conform;
mod models;
mod replay;
mod scratch;
mod show;
mod sim;
mod zoo;
