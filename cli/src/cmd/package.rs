//! `wimforge package`.

use super::Context;
use crate::CmdResult;
use clap::Subcommand;

#[derive(Subcommand)]
pub enum PackageCommand {}

pub fn run(cmd: PackageCommand, _ctx: &Context) -> CmdResult {
    match cmd {}
}
