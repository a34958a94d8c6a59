//! `wimforge bcd`: inspect BCD stores (boot configuration).
use super::Context;
use crate::CmdResult;
use clap::Subcommand;
use hive::bcd;
use hive::Hive;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Subcommand)]
pub enum BcdCommand {
    /// List objects and their elements by their well-known names, with
    /// device elements decoded.
    Dump {
        store: PathBuf,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
}

pub fn run(cmd: BcdCommand, _ctx: &Context) -> CmdResult {
    match cmd {
        BcdCommand::Dump { store, json } => {
            let h = Hive::open(&store)?;
            let s = bcd::decode(&h);
            if h.key("Objects").is_none() {
                return Err(
                    format!("{}: not a BCD store (no Objects key)", store.display()).into(),
                );
            }
            if json {
                println!("{}", serde_json::to_string_pretty(&s)?);
                return Ok(ExitCode::SUCCESS);
            }
            if let Some(k) = &s.key_name {
                println!("store {k}");
            }
            for o in &s.objects {
                println!();
                match o.alias {
                    Some(a) => println!("{{{a}}} {}", o.guid),
                    None => println!("{}", o.guid),
                }
                match (o.object_type, &o.type_description) {
                    (Some(t), Some(d)) => println!("  type {t:#010x} ({d})"),
                    _ => println!("  type (missing)"),
                }
                for e in &o.elements {
                    println!("  {} {:<24} {}", e.id, e.name.unwrap_or("-"), e.value);
                }
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
