//! `wimforge disk`: create a partitioned disk (GPT: ESP + MSR + Windows;
//! MBR: one active NTFS partition) and show a disk's partition table.

use super::vhdx::parse_size;
use super::Context;
use crate::CmdResult;
use blockdev::{BlockDev, FileDev};
use clap::{Subcommand, ValueEnum};
use disk::{DiskCreateOptions, ImageFormat, Layout, LayoutOptions, Plan, VhdxType};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Subcommand)]
pub enum DiskCommand {
    /// Create a partitioned, formatted disk (VHDX or raw).
    Create {
        /// Output file (written under a temporary name, then renamed).
        out: PathBuf,
        /// Disk size, e.g. 20G, 512M.
        #[arg(long, value_parser = parse_size)]
        size: u64,
        /// uefi: protective MBR + GPT with ESP (FAT32), MSR and a Windows
        /// basic-data partition (NTFS); bios: MBR with one active NTFS
        /// partition.
        #[arg(long, value_enum, default_value = "uefi")]
        layout: LayoutArg,
        /// Container format (default: vhdx for a .vhdx name, raw otherwise).
        #[arg(long, value_enum)]
        format: Option<FormatArg>,
        /// VHDX type.
        #[arg(long = "type", value_enum, default_value = "dynamic")]
        kind: KindArg,
        /// VHDX payload block size, power of two in 1M..256M.
        #[arg(long, value_parser = parse_size, default_value = "32M")]
        block_size: u64,
        /// Logical sector size (512 or 4096).
        #[arg(long, default_value_t = 512)]
        logical_sector_size: u32,
        /// NTFS volume label of the Windows partition.
        #[arg(long, default_value = "")]
        label: String,
        /// ESP size (UEFI).
        #[arg(long, value_parser = parse_size, default_value = "200M")]
        esp_size: u64,
        /// MSR size (UEFI); 0 leaves it out.
        #[arg(long, value_parser = parse_size, default_value = "128M")]
        msr_size: u64,
        /// Derive every GUID, signature, serial and timestamp from this
        /// seed: the same seed gives a byte-identical file.
        #[arg(long)]
        seed: Option<u64>,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Show the partition table of a disk (VHDX or raw).
    Info {
        disk: PathBuf,
        /// Logical sector size (default: the VHDX's, 512 for raw images).
        #[arg(long)]
        sector_size: Option<u32>,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Clone, Copy, ValueEnum)]
pub enum LayoutArg {
    Uefi,
    Bios,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum FormatArg {
    Vhdx,
    Raw,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum KindArg {
    Dynamic,
    Fixed,
}

pub fn run(cmd: DiskCommand, _ctx: &Context) -> CmdResult {
    match cmd {
        DiskCommand::Create {
            out,
            size,
            layout,
            format,
            kind,
            block_size,
            logical_sector_size,
            label,
            esp_size,
            msr_size,
            seed,
            json,
        } => {
            let opts = DiskCreateOptions {
                layout: LayoutOptions {
                    disk_size: size,
                    layout: match layout {
                        LayoutArg::Uefi => Layout::Uefi,
                        LayoutArg::Bios => Layout::Bios,
                    },
                    logical_sector_size,
                    seed,
                    esp_size,
                    msr_size,
                },
                format: match format {
                    Some(FormatArg::Vhdx) => ImageFormat::Vhdx,
                    Some(FormatArg::Raw) => ImageFormat::Raw,
                    None => ImageFormat::from_path(&out),
                },
                vhdx_type: match kind {
                    KindArg::Dynamic => VhdxType::Dynamic,
                    KindArg::Fixed => VhdxType::Fixed,
                },
                block_size: u32::try_from(block_size)
                    .map_err(|_| format!("block size {block_size} is too large (max 256M)"))?,
                ntfs_label: label,
                ..Default::default()
            };
            let made = disk::create_disk(&out, &opts)?;
            if json {
                let mut v = plan_json(&made.plan);
                v["path"] = json!(made.path.display().to_string());
                v["format"] = json!(made.format.as_str());
                v["file_size"] = json!(made.file_size);
                v["ntfs_serial"] = json!(format!("{:016X}", made.ntfs_serial));
                v["fat_volume_id"] = json!(made.fat_volume_id.map(|v| format!("{v:08X}")));
                v["notes"] = json!(made.notes);
                println!("{}", serde_json::to_string_pretty(&v)?);
            } else {
                println!(
                    "created {} ({}, {} bytes on disk)",
                    made.path.display(),
                    made.format.as_str(),
                    made.file_size
                );
                print_plan(&made.plan);
                for n in &made.notes {
                    eprintln!("note: {n}");
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        DiskCommand::Info {
            disk,
            sector_size,
            json,
        } => info(&disk, sector_size, json),
    }
}

fn is_vhdx(path: &Path) -> bool {
    let mut magic = [0u8; 8];
    std::fs::File::open(path)
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut magic))
        .is_ok()
        && &magic == b"vhdxfile"
}

fn info(path: &Path, sector_size: Option<u32>, json: bool) -> CmdResult {
    let (dev, ss): (Box<dyn BlockDev>, u32) = if is_vhdx(path) {
        let d = vhdx::Vhdx::open(
            path,
            vhdx::OpenOptions {
                writable: false,
                parent: Default::default(),
            },
        )?;
        let ss = sector_size.unwrap_or(d.logical_sector_size());
        (Box::new(d), ss)
    } else {
        (
            Box::new(FileDev::open(path, false)?),
            sector_size.unwrap_or(512),
        )
    };
    let plan = disk::read_table(&*dev, ss)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&plan_json(&plan))?);
    } else {
        print_plan(&plan);
    }
    Ok(ExitCode::SUCCESS)
}

fn plan_json(p: &Plan) -> serde_json::Value {
    let parts: Vec<_> = p
        .partitions
        .iter()
        .map(|x| {
            json!({
                "number": x.number,
                "role": x.role.as_str(),
                "start": x.start,
                "length": x.len,
                "start_lba": x.start_lba(p.logical_sector_size),
                "last_lba": x.last_lba(p.logical_sector_size),
                "type_guid": x.type_guid.map(|g| g.to_string()),
                "unique_guid": x.unique_guid.map(|g| g.to_string()),
                "mbr_type": x.mbr_type,
                "active": x.active,
                "name": x.name,
                "attributes": format!("{:#018x}", x.attributes),
            })
        })
        .collect();
    json!({
        "table": match p.layout { Layout::Uefi => "gpt", Layout::Bios => "mbr" },
        "logical_sector_size": p.logical_sector_size,
        "disk_size": p.disk_size,
        "disk_guid": p.disk_guid.map(|g| g.to_string()),
        "mbr_signature": p.mbr_signature.map(|s| format!("{s:08x}")),
        "first_usable_lba": p.first_usable_lba,
        "last_usable_lba": p.last_usable_lba,
        "has_boot_code": p.has_boot_code,
        "partitions": parts,
        "warnings": p.warnings,
    })
}

fn print_plan(p: &Plan) {
    let ss = p.logical_sector_size;
    match p.layout {
        Layout::Uefi => println!(
            "table: GPT, {ss}-byte sectors, {} bytes, disk GUID {}",
            p.disk_size,
            p.disk_guid.map(|g| g.to_string()).unwrap_or_default()
        ),
        Layout::Bios => println!(
            "table: MBR, {ss}-byte sectors, {} bytes, disk signature {:08x}, boot code {}",
            p.disk_size,
            p.mbr_signature.unwrap_or(0),
            if p.has_boot_code { "present" } else { "none" }
        ),
    }
    for x in &p.partitions {
        let kind = match (x.type_guid, x.mbr_type) {
            (Some(t), _) => t.to_string(),
            (None, Some(t)) => format!("type {t:#04x}{}", if x.active { " active" } else { "" }),
            _ => String::new(),
        };
        println!(
            "{:>2}  LBA {:>10}..={:<10} {:>8} MiB  {:<8} {}{}{}",
            x.number,
            x.start_lba(ss),
            x.last_lba(ss),
            x.len >> 20,
            x.role.as_str(),
            kind,
            x.unique_guid.map(|g| format!("  {g}")).unwrap_or_default(),
            if x.name.is_empty() {
                String::new()
            } else {
                format!("  {:?}", x.name)
            }
        );
    }
    for w in &p.warnings {
        eprintln!("warning: {w}");
    }
}
