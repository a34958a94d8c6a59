//! `wimforge disk`.

use super::Context;
use crate::CmdResult;
use clap::Subcommand;

#[derive(Subcommand)]
pub enum DiskCommand {}

pub fn run(cmd: DiskCommand, _ctx: &Context) -> CmdResult {
    match cmd {}
}
