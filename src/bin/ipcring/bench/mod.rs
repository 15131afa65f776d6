//! `ipcring bench`.

use crate::CmdResult;
use clap::Args;

/// `ipcring bench`.
#[derive(Args, Debug)]
pub struct BenchArgs {}

/// Runs the benchmark.
pub fn run(_a: &BenchArgs) -> CmdResult {
    Err(crate::Fail::new(crate::exit::FAILED, "bench: not yet built"))
}
