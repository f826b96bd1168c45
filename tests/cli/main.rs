//! The CLI integration tests (`leasesim` run as a process), one module per area.

mod bench_report;
mod conform;
mod models;
mod replay;
mod show;
mod sim;
mod zoo;
