//! `wimforge cab`: list and extract Microsoft Cabinet files.

use super::Context;
use crate::CmdResult;
use cab::{Cabinet, FileEntry};
use clap::Subcommand;
use serde_json::json;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Subcommand)]
pub enum CabCommand {
    /// List the files of a cabinet (or of every cabinet inside FILE, and of
    /// the whole set when the cabinet continues into others).
    List {
        file: PathBuf,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Extract files below DEST (default: the current directory). Names
    /// with `..`, absolute paths or drive letters are refused.
    Extract {
        file: PathBuf,
        dest: Option<PathBuf>,
        /// Only this file (repeatable; case-insensitive, `/` or `\`).
        #[arg(long = "file", value_name = "NAME")]
        only: Vec<String>,
    },
}

pub(crate) fn entry_json(cab: &Cabinet, f: &FileEntry) -> serde_json::Value {
    let t = f.datetime();
    json!({
        "name": f.name,
        "size": f.size,
        "date": format!("{:04}-{:02}-{:02}", t.year, t.month, t.day),
        "time": format!("{:02}:{:02}:{:02}", t.hour, t.minute, t.second),
        "datetime": t,
        "attributes": f.attributes,
        "attribute_flags": f.attribute_string(),
        "folder": f.folder,
        "compression": cab.folder_compression(f.folder).map(|c| c.to_string()),
        "folder_offset": f.folder_offset,
        "continued": f.continued,
        "cabinet_part": f.part,
    })
}

fn warn(cab: &Cabinet) {
    for w in cab.warnings() {
        eprintln!("wimforge: warning: {w}");
    }
}

pub fn run(cmd: CabCommand, _ctx: &Context) -> CmdResult {
    match cmd {
        CabCommand::List { file, json } => {
            let cabs = Cabinet::search(&file)?;
            if json {
                let v: Vec<_> = cabs
                    .iter()
                    .map(|c| {
                        json!({
                            "cabinet": c.name(),
                            "set": c.cabinet_names(),
                            "set_id": c.header().set_id,
                            "warnings": c.warnings(),
                            "folders": c.folders(),
                            "files": c.files().iter().map(|f| entry_json(c, f)).collect::<Vec<_>>(),
                        })
                    })
                    .collect();
                println!(
                    "{}",
                    serde_json::to_string_pretty(&json!({ "cabinets": v }))?
                );
                return Ok(ExitCode::SUCCESS);
            }
            for c in &cabs {
                warn(c);
                if cabs.len() > 1 || c.cabinet_names().len() > 1 {
                    println!("# {}", c.cabinet_names().join(" + "));
                }
                for f in c.files() {
                    let t = f.datetime();
                    let comp = c
                        .folder_compression(f.folder)
                        .map(|c| c.to_string())
                        .unwrap_or_default();
                    println!(
                        "{:>10}  {:04}-{:02}-{:02} {:02}:{:02}:{:02}  {}  {:>3} {:<11} {}",
                        f.size,
                        t.year,
                        t.month,
                        t.day,
                        t.hour,
                        t.minute,
                        t.second,
                        f.attribute_string(),
                        f.folder,
                        comp,
                        f.name
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        CabCommand::Extract { file, dest, only } => {
            let dest = dest.unwrap_or_else(|| PathBuf::from("."));
            let cabs = Cabinet::search(&file)?;
            let mut found = vec![false; only.len()];
            let mut plan = Vec::new();
            for c in &cabs {
                warn(c);
                let idx: Vec<usize> = if only.is_empty() {
                    (0..c.files().len()).collect()
                } else {
                    let mut v = Vec::new();
                    for (k, name) in only.iter().enumerate() {
                        if let Some(f) = c.find(name) {
                            found[k] = true;
                            v.push(f.index);
                        }
                    }
                    v
                };
                plan.push((c, idx));
            }
            if let Some(k) = found.iter().position(|f| !f) {
                return Err(Box::new(cab::Error::NoSuchFile {
                    file: file.display().to_string(),
                    name: only[k].clone(),
                }));
            }
            let (mut files, mut bytes) = (0usize, 0u64);
            for (c, idx) in plan {
                let s = c.extract_some(&dest, &idx)?;
                files += s.files;
                bytes += s.bytes;
            }
            eprintln!(
                "extracted {files} files ({bytes} bytes) to {}",
                dest.display()
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}
