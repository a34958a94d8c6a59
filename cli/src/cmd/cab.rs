//! `wimforge cab`.

use super::Context;
use crate::CmdResult;
use clap::Subcommand;

#[derive(Subcommand)]
pub enum CabCommand {}

pub fn run(cmd: CabCommand, _ctx: &Context) -> CmdResult {
    match cmd {}
}
