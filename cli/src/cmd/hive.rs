//! PLACEHOLDER — `wimforge hive` verbs are being written.
use super::Context;
use crate::CmdResult;
use clap::Subcommand;

#[derive(Subcommand)]
pub enum HiveCommand {
    /// Not written yet.
    Info { file: std::path::PathBuf },
}

pub fn run(_cmd: HiveCommand, _ctx: &Context) -> CmdResult {
    Err("not written yet".into())
}
