//! `wimforge boot`.

use super::Context;
use crate::CmdResult;
use clap::Subcommand;

#[derive(Subcommand)]
pub enum BootCommand {}

pub fn run(cmd: BootCommand, _ctx: &Context) -> CmdResult {
    match cmd {}
}
