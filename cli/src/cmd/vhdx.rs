//! `wimforge vhdx` verbs: create, info, check, convert.
use super::Context;
use crate::CmdResult;
use blockdev::{BlockDev, FileDev};
use clap::{Subcommand, ValueEnum};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use vhdx::{CreateKind, CreateOptions, GuidSource, OpenOptions, ParentSource, Vhdx};

#[derive(Subcommand)]
pub enum VhdxCommand {
    /// Create an empty VHDX (dynamic, fixed or differencing).
    Create {
        /// Output file (written under a temporary name, then renamed).
        file: PathBuf,
        /// Virtual size, e.g. 20G, 512M, 1T (ignored for differencing).
        #[arg(long, value_parser = parse_size)]
        size: Option<u64>,
        /// Disk type.
        #[arg(long = "type", value_enum, default_value = "dynamic")]
        kind: KindArg,
        /// Parent disk (differencing only).
        #[arg(long)]
        parent: Option<PathBuf>,
        /// Payload block size, power of two in 1M..256M.
        #[arg(long, value_parser = parse_size, default_value = "32M")]
        block_size: u64,
        /// Logical sector size.
        #[arg(long, default_value_t = 512, value_parser = parse_sector)]
        logical_sector: u32,
        /// Physical sector size.
        #[arg(long, default_value_t = 4096, value_parser = parse_sector)]
        physical_sector: u32,
        /// Derive every GUID from this seed (reproducible output).
        #[arg(long)]
        seed: Option<String>,
    },
    /// Show the parameters of a VHDX.
    Info {
        file: PathBuf,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Verify a VHDX; exits 0 only when it is clean.
    Check {
        file: PathBuf,
        /// Replay a dirty log into the file.
        #[arg(long)]
        repair: bool,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Convert raw <-> VHDX, or VHDX -> VHDX (change type, flatten a chain).
    Convert {
        input: PathBuf,
        output: PathBuf,
        /// Output format.
        #[arg(long, value_enum, default_value = "vhdx")]
        to: FormatArg,
        /// Output VHDX type.
        #[arg(long = "type", value_enum, default_value = "dynamic")]
        kind: KindArg,
        /// Payload block size of the output VHDX.
        #[arg(long, value_parser = parse_size, default_value = "32M")]
        block_size: u64,
        /// Logical sector size of the output VHDX (default: the input's, or 512).
        #[arg(long, value_parser = parse_sector)]
        logical_sector: Option<u32>,
        /// Physical sector size of the output VHDX (default: the input's, or 4096).
        #[arg(long, value_parser = parse_sector)]
        physical_sector: Option<u32>,
        /// Derive every GUID from this seed.
        #[arg(long)]
        seed: Option<String>,
    },
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum KindArg {
    Dynamic,
    Fixed,
    Differencing,
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum FormatArg {
    Raw,
    Vhdx,
}

/// Parse "20G", "512M", "1.5T", "4096", "64KiB".
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let t = t
        .strip_suffix("iB")
        .or_else(|| t.strip_suffix('B'))
        .unwrap_or(t);
    let (num, mult) = match t.chars().last() {
        Some('K' | 'k') => (&t[..t.len() - 1], 1u64 << 10),
        Some('M' | 'm') => (&t[..t.len() - 1], 1 << 20),
        Some('G' | 'g') => (&t[..t.len() - 1], 1 << 30),
        Some('T' | 't') => (&t[..t.len() - 1], 1 << 40),
        _ => (t, 1),
    };
    if let Ok(n) = num.parse::<u64>() {
        return n
            .checked_mul(mult)
            .ok_or_else(|| format!("size {s} is too large"));
    }
    match num.parse::<f64>() {
        Ok(f) if f >= 0.0 && f * (mult as f64) < 1.8e19 => Ok((f * mult as f64).round() as u64),
        _ => Err(format!(
            "cannot parse size {s:?} (examples: 20G, 512M, 4096)"
        )),
    }
}

fn parse_sector(s: &str) -> Result<u32, String> {
    match s {
        "512" => Ok(512),
        "4096" | "4K" | "4k" => Ok(4096),
        _ => Err(format!("sector size must be 512 or 4096, not {s}")),
    }
}

fn guids(seed: &Option<String>) -> GuidSource {
    match seed {
        Some(s) => GuidSource::Seeded(s.clone()),
        None => GuidSource::Random,
    }
}

fn block_size_u32(b: u64) -> Result<u32, String> {
    u32::try_from(b).map_err(|_| format!("block size {b} is too large (max 256M)"))
}

pub fn run(cmd: VhdxCommand, ctx: &Context) -> CmdResult {
    match cmd {
        VhdxCommand::Create {
            file,
            size,
            kind,
            parent,
            block_size,
            logical_sector,
            physical_sector,
            seed,
        } => {
            let mut opts = CreateOptions {
                size: size.unwrap_or(0),
                block_size: block_size_u32(block_size)?,
                logical_sector_size: logical_sector,
                physical_sector_size: physical_sector,
                guids: guids(&seed),
                ..Default::default()
            };
            let mut parent_disk = None;
            match kind {
                KindArg::Differencing => {
                    let p = parent.ok_or("--type differencing needs --parent PARENT")?;
                    let pd = Vhdx::open(&p, OpenOptions::default())?;
                    opts.parent = Some(vhdx::parent_info_for(&pd, &p, &file));
                    opts.kind = CreateKind::Differencing;
                    parent_disk = Some(pd);
                }
                other => {
                    if parent.is_some() {
                        return Err("--parent is only valid with --type differencing".into());
                    }
                    if size.is_none() {
                        return Err("--size is required".into());
                    }
                    opts.kind = if other == KindArg::Fixed {
                        CreateKind::Fixed
                    } else {
                        CreateKind::Dynamic
                    };
                }
            }
            vhdx::create_file(&file, &opts, parent_disk, |_| Ok(()))?;
            if !ctx.quiet {
                eprintln!("created {}", file.display());
            }
            Ok(ExitCode::SUCCESS)
        }
        VhdxCommand::Info { file, json } => info(&file, json),
        VhdxCommand::Check { file, repair, json } => check(&file, repair, json),
        VhdxCommand::Convert {
            input,
            output,
            to,
            kind,
            block_size,
            logical_sector,
            physical_sector,
            seed,
        } => {
            let src: Box<dyn BlockDev> = if is_vhdx(&input)? {
                Box::new(Vhdx::open(&input, OpenOptions::default())?)
            } else {
                Box::new(FileDev::open(&input, false)?)
            };
            let (ls, ps) = match src_sectors(&input) {
                Some((l, p)) => (logical_sector.unwrap_or(l), physical_sector.unwrap_or(p)),
                None => (
                    logical_sector.unwrap_or(512),
                    physical_sector.unwrap_or(4096),
                ),
            };
            let pb = ctx.progress(src.len(), "convert");
            let progress = |n: u64| pb.set_position(n);
            match to {
                FormatArg::Raw => vhdx::convert::to_raw(&*src, &output, &progress)?,
                FormatArg::Vhdx => {
                    let opts = CreateOptions {
                        kind: match kind {
                            KindArg::Fixed => CreateKind::Fixed,
                            KindArg::Dynamic => CreateKind::Dynamic,
                            KindArg::Differencing => {
                                return Err("convert produces dynamic or fixed disks".into())
                            }
                        },
                        block_size: block_size_u32(block_size)?,
                        logical_sector_size: ls,
                        physical_sector_size: ps,
                        guids: guids(&seed),
                        ..Default::default()
                    };
                    vhdx::convert::to_vhdx(&*src, &output, &opts, &progress)?
                }
            }
            pb.finish_and_clear();
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn is_vhdx(p: &Path) -> std::io::Result<bool> {
    use std::io::Read;
    let mut f = std::fs::File::open(p)?;
    let mut sig = [0u8; 8];
    Ok(f.read(&mut sig)? == 8 && &sig == vhdx::ident::SIGNATURE)
}

fn src_sectors(p: &Path) -> Option<(u32, u32)> {
    let d = Vhdx::open(
        p,
        OpenOptions {
            writable: false,
            parent: ParentSource::Skip,
        },
    )
    .ok()?;
    Some((d.logical_sector_size(), d.physical_sector_size()))
}

#[derive(serde::Serialize)]
struct Info {
    file: String,
    virtual_size: u64,
    block_size: u64,
    logical_sector_size: u32,
    physical_sector_size: u32,
    #[serde(rename = "type")]
    kind: vhdx::DiskType,
    parent: Option<serde_json::Map<String, serde_json::Value>>,
    log_dirty: bool,
    virtual_disk_id: String,
    data_write_guid: String,
    file_write_guid: String,
    creator: String,
    allocated_blocks: u64,
    total_blocks: u64,
    file_size: u64,
    leave_block_allocated: bool,
}

fn info(file: &Path, json: bool) -> CmdResult {
    let d = Vhdx::open(
        file,
        OpenOptions {
            writable: false,
            parent: ParentSource::Skip,
        },
    )?;
    let h = d.header();
    let parent = d.params().parent_locator.as_ref().map(|l| {
        l.entries
            .iter()
            .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
            .collect()
    });
    let i = Info {
        file: file.display().to_string(),
        virtual_size: d.virtual_size(),
        block_size: d.block_size(),
        logical_sector_size: d.logical_sector_size(),
        physical_sector_size: d.physical_sector_size(),
        kind: d.disk_type(),
        parent,
        log_dirty: d.log_was_dirty(),
        virtual_disk_id: d.params().virtual_disk_id.to_string(),
        data_write_guid: h.data_write_guid.to_string(),
        file_write_guid: h.file_write_guid.to_string(),
        creator: d.creator().to_string(),
        allocated_blocks: d.allocated_blocks(),
        total_blocks: d.geometry().data_blocks,
        file_size: std::fs::metadata(file)?.len(),
        leave_block_allocated: d.params().leave_block_allocated,
    };
    if json {
        println!("{}", serde_json::to_string_pretty(&i)?);
    } else {
        println!("file:                 {}", i.file);
        println!("type:                 {}", i.kind.as_str());
        println!("virtual size:         {} bytes", i.virtual_size);
        println!("block size:           {} bytes", i.block_size);
        println!("logical sector size:  {}", i.logical_sector_size);
        println!("physical sector size: {}", i.physical_sector_size);
        println!(
            "allocated blocks:     {} of {}",
            i.allocated_blocks, i.total_blocks
        );
        println!("file size:            {} bytes", i.file_size);
        println!("log dirty:            {}", i.log_dirty);
        println!("virtual disk id:      {}", i.virtual_disk_id);
        println!("data write guid:      {}", i.data_write_guid);
        println!("creator:              {}", i.creator);
        if let Some(p) = &i.parent {
            for (k, v) in p {
                println!("parent {k}: {}", v.as_str().unwrap_or_default());
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn check(file: &Path, repair: bool, json: bool) -> CmdResult {
    if repair {
        // A read-write open replays a dirty log into the file.
        let d = Vhdx::open(
            file,
            OpenOptions {
                writable: true,
                parent: ParentSource::Skip,
            },
        )?;
        if d.log_was_dirty() {
            eprintln!("{}: log replayed", file.display());
        }
        d.close()?;
    }
    let d = match Vhdx::open(
        file,
        OpenOptions {
            writable: false,
            parent: ParentSource::Skip,
        },
    ) {
        Ok(d) => d,
        Err(e) => {
            if json {
                println!(
                    "{}",
                    serde_json::json!({"file": file.display().to_string(), "clean": false,
                        "findings": [{"severity": "error", "message": e.to_string()}]})
                );
            } else {
                println!("{}: error: {e}", file.display());
            }
            return Ok(ExitCode::from(2));
        }
    };
    let mut findings = vhdx::check::check(&d);
    // A differencing disk must also find its parent.
    if d.params().has_parent {
        drop(d);
        if let Err(e) = Vhdx::open(file, OpenOptions::default()) {
            findings.push(vhdx::check::Finding {
                severity: vhdx::check::Severity::Error,
                message: e.to_string(),
            });
        }
    }
    let errors = findings
        .iter()
        .filter(|f| f.severity == vhdx::check::Severity::Error)
        .count();
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "file": file.display().to_string(),
                "clean": errors == 0,
                "findings": findings,
            }))?
        );
    } else {
        for f in &findings {
            let s = match f.severity {
                vhdx::check::Severity::Error => "error",
                vhdx::check::Severity::Warning => "warning",
            };
            println!("{}: {s}: {}", file.display(), f.message);
        }
        if errors == 0 {
            println!("{}: clean", file.display());
        }
    }
    Ok(if errors == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
