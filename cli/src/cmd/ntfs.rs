//! `wimforge ntfs mkfs|ls|cat|check` and the NTFS side of `wim apply`.
//!
//! TARGET is a raw volume image, or (with `--partition N`) a raw disk image
//! or VHDX whose MBR/GPT names the partition.

use super::Context;
use crate::CmdResult;
use blockdev::{BlockDev, FileDev, Window};
use clap::Subcommand;
use ntfs_inject::reader::Volume;
use ntfs_inject::{Error as NtfsError, FormatOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

type BoxErr = Box<dyn std::error::Error + Send + Sync>;

#[derive(Subcommand)]
pub enum NtfsCommand {
    /// Format TARGET as an empty NTFS 3.1 volume.
    Mkfs {
        target: PathBuf,
        /// Partition number (1-based) inside a disk image or VHDX.
        #[arg(long)]
        partition: Option<u32>,
        /// Create (or resize) a raw image of this size (e.g. 512M, 2G).
        #[arg(long)]
        size: Option<String>,
        #[arg(long, default_value = "")]
        label: String,
        /// Bytes per cluster (512 to 64K).
        #[arg(long, default_value = "4K")]
        cluster_size: String,
    },
    /// List a directory.
    Ls {
        target: PathBuf,
        #[arg(default_value = "/")]
        path: String,
        #[arg(long)]
        partition: Option<u32>,
        /// Recurse into subdirectories.
        #[arg(short = 'R', long)]
        recursive: bool,
        /// Also list the metadata files ($MFT, $Extend, ...).
        #[arg(short = 'a', long)]
        all: bool,
        #[arg(long)]
        json: bool,
    },
    /// Write a file (or PATH:STREAM) to stdout.
    Cat {
        target: PathBuf,
        path: String,
        #[arg(long)]
        partition: Option<u32>,
    },
    /// Copy a local file (or directory tree) into the volume at NTFS_PATH;
    /// existing files are replaced.
    Put {
        target: PathBuf,
        local: PathBuf,
        ntfs_path: String,
        #[arg(long)]
        partition: Option<u32>,
        /// Do not generate DOS 8.3 short names for new files and
        /// directories (by default they get one, like Windows on system
        /// volumes, unless the name already is a valid 8.3 name).
        #[arg(long)]
        no_short_names: bool,
    },
    /// Structural check: MFT mirror, bitmap vs runlists, index order.
    Check {
        target: PathBuf,
        #[arg(long)]
        partition: Option<u32>,
    },
}

pub fn run(cmd: NtfsCommand, _ctx: &Context) -> CmdResult {
    match cmd {
        NtfsCommand::Mkfs {
            target,
            partition,
            size,
            label,
            cluster_size,
        } => {
            let opts = FormatOptions {
                cluster_size: parse_size(&cluster_size)? as u32,
                label,
                ..Default::default()
            };
            with_target(&target, partition, size.as_deref(), |dev, hidden| {
                ntfs_inject::format(
                    dev,
                    &FormatOptions {
                        hidden_sectors: hidden,
                        ..opts.clone()
                    },
                )?;
                Ok(())
            })?;
            eprintln!("Formatted {} as NTFS", target.display());
            Ok(ExitCode::SUCCESS)
        }
        NtfsCommand::Ls {
            target,
            path,
            partition,
            recursive,
            all,
            json,
        } => {
            let vol = Volume::open(open_read(&target, partition)?)?;
            let rec = vol.lookup(&path)?;
            let mut out = std::io::stdout().lock();
            let mut rows = Vec::new();
            let opts = ListOpts {
                recursive,
                all,
                json,
            };
            let prefix = path.trim_end_matches(['/', '\\']);
            list(&vol, rec, prefix, &opts, &mut rows, &mut out, 0)?;
            if json {
                writeln!(out, "{}", serde_json::Value::Array(rows))?;
            }
            Ok(ExitCode::SUCCESS)
        }
        NtfsCommand::Cat {
            target,
            path,
            partition,
        } => {
            let vol = Volume::open(open_read(&target, partition)?)?;
            let (p, stream) = match path.rsplit_once(':') {
                Some((p, s)) if !p.is_empty() => (p.to_string(), s.to_string()),
                _ => (path.clone(), String::new()),
            };
            let rec = vol.record(vol.lookup(&p)?)?;
            let sname: Vec<u16> = stream.encode_utf16().collect();
            let a = rec
                .find(ntfs_inject::layout::attr_type::DATA, &sname)
                .ok_or_else(|| format!("{path}: no such stream"))?;
            let mut out = std::io::stdout().lock();
            vol.copy_attr(a, &mut |b| out.write_all(b).map_err(NtfsError::from))?;
            out.flush()?;
            Ok(ExitCode::SUCCESS)
        }
        NtfsCommand::Put {
            target,
            local,
            ntfs_path,
            partition,
            no_short_names,
        } => {
            let mut count = 0u64;
            with_target(&target, partition, None, |dev, _| {
                let mut inj = ntfs_inject::inject::Injector::open(dev)?;
                inj.set_short_names(!no_short_names);
                // Missing parent directories are created (mkdir -p).
                let comps: Vec<&str> = ntfs_path
                    .split(['/', '\\'])
                    .filter(|c| !c.is_empty())
                    .collect();
                let mut cur = String::new();
                for c in comps.iter().take(comps.len().saturating_sub(1)) {
                    cur = format!("{cur}/{c}");
                    if inj.volume().lookup(&cur).is_err() {
                        inj.create(&cur, None)?;
                        count += 1;
                    }
                }
                put_tree(&mut inj, &local, &ntfs_path, &mut count)?;
                Ok(())
            })?;
            eprintln!("Put {count} entries into {}", target.display());
            Ok(ExitCode::SUCCESS)
        }
        NtfsCommand::Check { target, partition } => {
            let vol = Volume::open(open_read(&target, partition)?)?;
            let problems = ntfs_inject::check::check(&vol)?;
            for p in &problems {
                println!("{p}");
            }
            if problems.is_empty() {
                eprintln!("{}: clean", target.display());
                Ok(ExitCode::SUCCESS)
            } else {
                eprintln!("{}: {} problems", target.display(), problems.len());
                Ok(ExitCode::from(1))
            }
        }
    }
}

struct ListOpts {
    recursive: bool,
    all: bool,
    json: bool,
}

fn list<D: BlockDev>(
    vol: &Volume<D>,
    rec: u64,
    prefix: &str,
    o: &ListOpts,
    rows: &mut Vec<serde_json::Value>,
    out: &mut dyn Write,
    depth: usize,
) -> Result<(), BoxErr> {
    if depth > 1024 {
        return Err("directory nesting deeper than 1024 (loop?)".into());
    }
    for e in vol.list(rec)? {
        // Metadata files: records 0-15 and everything under $Extend.
        if !o.all && (e.record() < 16 || rec == 11) {
            continue;
        }
        let path = format!("{prefix}/{}", e.name_string());
        if o.json {
            rows.push(serde_json::json!({
                "path": path,
                "record": e.record(),
                "directory": e.is_dir(),
                "size": e.name.data_size,
                "attributes": e.name.file_attributes,
                "namespace": e.name.namespace,
            }));
        } else {
            writeln!(out, "{path}{}", if e.is_dir() { "/" } else { "" })?;
        }
        if o.recursive && e.is_dir() && e.record() != rec {
            list(vol, e.record(), &path, o, rows, out, depth + 1)?;
        }
    }
    Ok(())
}

fn put_tree<D: BlockDev>(
    inj: &mut ntfs_inject::inject::Injector<D>,
    local: &Path,
    dest: &str,
    count: &mut u64,
) -> Result<(), BoxErr> {
    let m = std::fs::symlink_metadata(local)?;
    if m.is_dir() {
        if inj.volume().lookup(dest).is_err() {
            inj.create(dest, None)?;
            *count += 1;
        }
        let mut names: Vec<_> = std::fs::read_dir(local)?.collect::<Result<_, _>>()?;
        names.sort_by_key(|e| e.file_name());
        for e in names {
            let name = e
                .file_name()
                .into_string()
                .map_err(|n| format!("{n:?}: not UTF-8"))?;
            put_tree(
                inj,
                &e.path(),
                &format!("{}/{name}", dest.trim_end_matches('/')),
                count,
            )?;
        }
    } else if m.is_file() {
        let data = std::fs::read(local)?;
        // An existing file is replaced (like cp); a directory there is an error.
        inj.put(dest, &data)?;
        *count += 1;
    } else {
        return Err(format!("{}: only files and directories can be put", local.display()).into());
    }
    Ok(())
}

/// Parse "4096", "4K", "512M", "2G".
pub fn parse_size(s: &str) -> Result<u64, BoxErr> {
    let s = s.trim();
    let (num, mul) = match s.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => {
            let m = match c.to_ascii_uppercase() {
                'K' => 1u64 << 10,
                'M' => 1 << 20,
                'G' => 1 << 30,
                'T' => 1 << 40,
                _ => return Err(format!("bad size {s:?}").into()),
            };
            (&s[..i], m)
        }
        _ => (s, 1),
    };
    let n: u64 = num.parse().map_err(|_| format!("bad size {s:?}"))?;
    n.checked_mul(mul)
        .ok_or_else(|| format!("size {s:?} overflows").into())
}

fn is_vhdx(path: &Path) -> bool {
    let mut magic = [0u8; 8];
    std::fs::File::open(path)
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut magic))
        .is_ok()
        && &magic == b"vhdxfile"
}

pub(crate) fn open_read(path: &Path, partition: Option<u32>) -> Result<Box<dyn BlockDev>, BoxErr> {
    let dev: Box<dyn BlockDev> = if is_vhdx(path) {
        Box::new(vhdx::Vhdx::open(
            path,
            vhdx::OpenOptions {
                writable: false,
                parent: Default::default(),
            },
        )?)
    } else {
        Box::new(FileDev::open(path, false)?)
    };
    window(dev, partition).map(|(d, _)| d)
}

fn window(
    dev: Box<dyn BlockDev>,
    partition: Option<u32>,
) -> Result<(Box<dyn BlockDev>, u32), BoxErr> {
    match partition {
        None => Ok((dev, 0)),
        Some(n) => {
            let (off, len) = ntfs_inject::partition::find(&*dev, n)?;
            let hidden = u32::try_from(off / 512).unwrap_or(u32::MAX);
            Ok((Box::new(Window::new(dev, off, len)?), hidden))
        }
    }
}

/// Run `f` on a writable TARGET. A new raw image (`size` given, no
/// partition) is built under a temporary name and renamed when complete.
fn with_target(
    target: &Path,
    partition: Option<u32>,
    size: Option<&str>,
    f: impl FnOnce(Box<dyn BlockDev>, u32) -> Result<(), BoxErr>,
) -> Result<(), BoxErr> {
    if let Some(size) = size {
        if partition.is_some() {
            return Err(
                "--size creates a raw volume image; it cannot be combined with --partition".into(),
            );
        }
        let size = parse_size(size)?;
        let tmp = blockdev::AtomicFile::create(target)?;
        let file = tmp.file()?;
        file.set_len(size)?;
        let dev = FileDev::from_file(file, tmp.temp_path(), false)?;
        f(Box::new(dev), 0)?;
        tmp.commit()?;
        return Ok(());
    }
    if !target.exists() {
        return Err(format!(
            "{}: does not exist (give --size to create a raw image)",
            target.display()
        )
        .into());
    }
    if is_vhdx(target) {
        let disk = std::sync::Arc::new(vhdx::Vhdx::open(
            target,
            vhdx::OpenOptions {
                writable: true,
                parent: Default::default(),
            },
        )?);
        let (dev, hidden) = window(Box::new(disk.clone()), partition)?;
        f(dev, hidden)?;
        disk.close()?;
    } else {
        let (dev, hidden) = window(Box::new(FileDev::open(target, true)?), partition)?;
        f(dev, hidden)?;
    }
    Ok(())
}

/// `wimforge wim apply WIM IMAGE TARGET` onto an NTFS target: format
/// TARGET and write the image into it.
#[allow(clippy::too_many_arguments)]
pub fn wim_apply(
    wim: &wim::Wim,
    image: u32,
    target: &Path,
    partition: Option<u32>,
    size: Option<&str>,
    cluster_size: &str,
    label: &str,
    threads: usize,
    ctx: &Context,
) -> CmdResult {
    let opts = FormatOptions {
        cluster_size: parse_size(cluster_size)? as u32,
        label: label.to_string(),
        ..Default::default()
    };
    let pb = ctx.progress(0, "apply");
    let mut stats = None;
    with_target(target, partition, size, |dev, hidden| {
        let done = std::sync::atomic::AtomicU64::new(0);
        let s = ntfs_inject::wim_apply::apply(
            dev,
            wim,
            image,
            &FormatOptions {
                hidden_sectors: hidden,
                ..opts.clone()
            },
            threads,
            &|n| {
                let d = done.fetch_add(n, std::sync::atomic::Ordering::Relaxed) + n;
                pb.set_position(d);
            },
        )?;
        stats = Some(s);
        Ok(())
    })?;
    pb.finish_and_clear();
    let s = stats.unwrap_or_default();
    if !ctx.quiet {
        eprintln!(
            "Applied {} directories, {} files, {} bytes to {}",
            s.directories,
            s.files,
            s.bytes,
            target.display()
        );
        for n in &s.not_written {
            eprintln!("not written (not supported yet): {n}");
        }
    }
    Ok(ExitCode::SUCCESS)
}
