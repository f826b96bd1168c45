
mod bench_report;
mod models;
mod replay;
mod sim;
mod conform;
