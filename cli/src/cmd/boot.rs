//! Offline `bcdboot`: boot files and the BCD store.
//! `wimforge boot install DISK [--firmware uefi|bios]`.

use super::Context;
use crate::CmdResult;
use blockdev::{BlockDev, FileDev};
use boot::{BootOptions, Firmware};
use clap::{Subcommand, ValueEnum};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Subcommand)]
pub enum BootCommand {
    /// Copy the boot manager out of the Windows partition and write the BCD
    /// store: UEFI onto the ESP (\EFI\Microsoft\Boot, \EFI\Boot\bootx64.efi),
    /// BIOS onto the active NTFS partition (\bootmgr, \Boot\BCD).
    Install {
        /// The whole disk: a VHDX or a raw image, changed in place.
        disk: PathBuf,
        /// Firmware to boot with (default: uefi for a GPT disk, bios for MBR).
        #[arg(long, value_enum)]
        firmware: Option<FirmwareArg>,
        /// Locale of the boot entries.
        #[arg(long, default_value = "en-US")]
        locale: String,
        /// Description of the Windows boot entry.
        #[arg(long, default_value = "Windows Server")]
        description: String,
        /// Boot menu timeout in seconds.
        #[arg(long, default_value_t = 30)]
        timeout: u32,
        /// Derive the entries' GUIDs and timestamps from this seed (same
        /// seed, same BCD bytes).
        #[arg(long)]
        seed: Option<u64>,
        /// Logical sector size (default: the VHDX's; raw images: 512, then
        /// 4096).
        #[arg(long)]
        sector_size: Option<u32>,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Clone, Copy, ValueEnum)]
pub enum FirmwareArg {
    Uefi,
    Bios,
}

fn is_vhdx(path: &Path) -> bool {
    let mut magic = [0u8; 8];
    std::fs::File::open(path)
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut magic))
        .is_ok()
        && &magic == b"vhdxfile"
}

pub fn run(cmd: BootCommand, ctx: &Context) -> CmdResult {
    match cmd {
        BootCommand::Install {
            disk,
            firmware,
            locale,
            description,
            timeout,
            seed,
            sector_size,
            json,
        } => {
            if !disk.is_file() {
                return Err(format!("{}: no such disk image", disk.display()).into());
            }
            let run_on = |dev: &dyn BlockDev, ss: Option<u32>| -> CmdResult {
                let fw = match firmware {
                    Some(FirmwareArg::Uefi) => Firmware::Uefi,
                    Some(FirmwareArg::Bios) => Firmware::Bios,
                    None => {
                        let l = boot::read_layout(dev, ss)?;
                        if l.gpt {
                            Firmware::Uefi
                        } else {
                            Firmware::Bios
                        }
                    }
                };
                let opts = BootOptions {
                    firmware: fw,
                    locale: locale.clone(),
                    description: description.clone(),
                    timeout,
                    seed,
                };
                let rep = boot::install_on(dev, ss, &opts)
                    .map_err(|e| format!("{}: {e}", disk.display()))?;
                report(&disk, fw, &rep, json, ctx);
                Ok(ExitCode::SUCCESS)
            };
            if is_vhdx(&disk) {
                let v = vhdx::Vhdx::open(
                    &disk,
                    vhdx::OpenOptions {
                        writable: true,
                        parent: Default::default(),
                    },
                )?;
                let ss = sector_size.or(Some(v.logical_sector_size()));
                let r = run_on(&v, ss);
                v.close()?;
                r
            } else {
                let f = FileDev::open(&disk, true)?;
                let r = run_on(&f, sector_size);
                f.flush()?;
                r
            }
        }
    }
}

fn report(disk: &Path, fw: Firmware, rep: &boot::BootReport, json: bool, ctx: &Context) {
    for w in &rep.warnings {
        eprintln!("warning: {w}");
    }
    let fw_name = match fw {
        Firmware::Uefi => "uefi",
        Firmware::Bios => "bios",
    };
    if json {
        let v = json!({
            "disk": disk.display().to_string(),
            "firmware": fw_name,
            "files": rep.files.iter().map(|(p, n)| json!({"path": p, "bytes": n})).collect::<Vec<_>>(),
            "bcd_objects": rep.bcd_objects,
            "bootable": rep.bootable,
            "warnings": rep.warnings,
        });
        println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
        return;
    }
    let place = match fw {
        Firmware::Uefi => "the EFI system partition",
        Firmware::Bios => "the Windows (active) partition",
    };
    println!("Wrote {} files to {place}:", rep.files.len());
    for (p, n) in &rep.files {
        println!("  {p}  ({n} bytes)");
    }
    println!("BCD store objects:");
    for o in &rep.bcd_objects {
        println!("  {o}");
    }
    println!(
        "bootable ({fw_name}): {}",
        if rep.bootable { "yes" } else { "NO" }
    );
    if !ctx.quiet && !rep.bootable {
        eprintln!(
            "{}: the boot files are in place, but the disk will not boot as it is",
            disk.display()
        );
    }
}
