//! `wimforge package`: inspect Windows servicing packages (.cab, .msu).

use super::Context;
use crate::CmdResult;
use cab::msu::looks_like_msu;
use cab::mum::{applicability, parse_version, AssemblyIdentity, PackageInfo};
use cab::{Cabinet, Msu};
use clap::Subcommand;
use serde_json::json;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Subcommand)]
pub enum PackageCommand {
    /// Show the identity, release type, parents and update entries from a
    /// package's update.mum; for an .msu also its inner cabinets.
    Info {
        file: PathBuf,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
        /// Check applicability to an image of this version (a.b.c.d).
        #[arg(long, value_name = "VERSION")]
        image_version: Option<String>,
        /// The image's architecture for the check (default amd64).
        #[arg(long, value_name = "ARCH", default_value = "amd64")]
        image_arch: String,
    },
}

fn ident(i: &AssemblyIdentity) -> String {
    let mut s = i.name.clone();
    for v in [
        &i.version,
        &i.processor_architecture,
        &i.language,
        &i.public_key_token,
    ]
    .into_iter()
    .flatten()
    {
        s.push(' ');
        s.push_str(v);
    }
    s
}

fn opt(v: &Option<String>) -> &str {
    v.as_deref().unwrap_or("-")
}

pub fn run(cmd: PackageCommand, _ctx: &Context) -> CmdResult {
    match cmd {
        PackageCommand::Info {
            file,
            json,
            image_version,
            image_arch,
        } => {
            let outer = Cabinet::open(&file)?;
            let mut inner_list = Vec::new();
            let mut package_cab = None;
            let info: PackageInfo = if looks_like_msu(&outer) {
                let msu = Msu::open(&file)?;
                let (name, cab) = msu.package_cabinet()?;
                for f in msu.inner_cabinets() {
                    inner_list.push((f.name.clone(), f.size, f.name == name));
                }
                package_cab = Some(name);
                cab::PackageInfo::from_cab(&cab)?
            } else {
                PackageInfo::from_cab(&outer)?
            };
            let warnings = match &image_version {
                Some(v) => {
                    let t = parse_version(v)
                        .ok_or_else(|| format!("--image-version {v}: expected a.b.c.d"))?;
                    Some(applicability(&info, t, &image_arch))
                }
                None => None,
            };
            if json {
                let v = json!({
                    "file": file.display().to_string(),
                    "package": info,
                    "msu": package_cab.as_ref().map(|p| json!({
                        "package_cabinet": p,
                        "inner_cabinets": inner_list.iter().map(|(n, s, _)| json!({"name": n, "size": s})).collect::<Vec<_>>(),
                    })),
                    "applicability": warnings,
                });
                println!("{}", serde_json::to_string_pretty(&v)?);
                return Ok(ExitCode::SUCCESS);
            }
            let id = &info.identity;
            println!("Package:          {}", id.name);
            println!("Version:          {}", opt(&id.version));
            println!("Architecture:     {}", opt(&id.processor_architecture));
            println!("Language:         {}", opt(&id.language));
            println!("Public key token: {}", opt(&id.public_key_token));
            println!("Build type:       {}", opt(&id.build_type));
            println!("Identifier:       {}", opt(&info.identifier));
            println!("Release type:     {}", opt(&info.release_type));
            println!("Restart:          {}", opt(&info.restart));
            if let Some(d) = &info.description {
                println!("Description:      {d}");
            }
            for p in &info.parents {
                for i in &p.identities {
                    println!(
                        "Parent:           {} (build {}, service {})",
                        ident(i),
                        p.build_compare.as_deref().unwrap_or("EQ"),
                        p.service_compare.as_deref().unwrap_or("GE")
                    );
                }
            }
            if let Some(i) = &info.installer_assembly {
                println!("Installer:        {}", ident(i));
            }
            println!("Updates:          {}", info.updates.len());
            for u in &info.updates {
                println!(
                    "  {}  {}  {}{}",
                    opt(&u.name),
                    if u.kind.is_empty() { "?" } else { &u.kind },
                    u.identity.as_ref().map(ident).unwrap_or_default(),
                    u.integrate
                        .as_ref()
                        .map(|i| format!(" (integrate={i})"))
                        .unwrap_or_default()
                );
            }
            if !inner_list.is_empty() {
                println!("MSU cabinets:");
                for (n, s, is_pkg) in &inner_list {
                    println!("  {s:>10}  {n}{}", if *is_pkg { "  (package)" } else { "" });
                }
            }
            if let Some(w) = warnings {
                if w.is_empty() {
                    println!(
                        "Applicability:    applies to {} {image_arch}",
                        image_version.unwrap_or_default()
                    );
                }
                for x in w {
                    println!("Applicability:    WARNING: {x}");
                }
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
