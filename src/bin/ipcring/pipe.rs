//! `send` and `recv`.

use crate::CmdResult;
use clap::Args;

/// `ipcring send`.
#[derive(Args, Debug)]
pub struct SendArgs {}

/// `ipcring recv`.
#[derive(Args, Debug)]
pub struct RecvArgs {}

/// Sends stdin.
pub fn send(_a: &SendArgs) -> CmdResult {
    Err(crate::Fail::new(crate::exit::FAILED, "send: not yet built"))
}

/// Receives to stdout.
pub fn recv(_a: &RecvArgs) -> CmdResult {
    Err(crate::Fail::new(crate::exit::FAILED, "recv: not yet built"))
}
