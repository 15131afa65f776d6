//! `ls`, `stat` and `rm`.

use crate::CmdResult;
use clap::Args;

/// `ipcring ls`.
#[derive(Args, Debug)]
pub struct LsArgs {}

/// `ipcring stat`.
#[derive(Args, Debug)]
pub struct StatArgs {}

/// `ipcring rm`.
#[derive(Args, Debug)]
pub struct RmArgs {}

/// Lists the rings.
pub fn ls(_a: &LsArgs) -> CmdResult {
    Err(crate::Fail::new(crate::exit::FAILED, "ls: not yet built"))
}

/// Shows one ring.
pub fn stat(_a: &StatArgs) -> CmdResult {
    Err(crate::Fail::new(crate::exit::FAILED, "stat: not yet built"))
}

/// Removes rings.
pub fn rm(_a: &RmArgs) -> CmdResult {
    Err(crate::Fail::new(crate::exit::FAILED, "rm: not yet built"))
}
