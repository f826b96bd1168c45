
mod bench_report;
mod replay;
mod sim;
