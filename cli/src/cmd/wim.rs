//! `wimforge wim info|dir|extract|verify` (modelled on wimlib-imagex).

use super::Context;
use crate::CmdResult;
use clap::Subcommand;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use wim::apply::dir::{extract, ExtractOptions};
use wim::pipeline::Options;
use wim::read::xml::{parse_time, parse_u64};
use wim::{Image, Wim};

#[derive(Subcommand)]
pub enum WimCommand {
    /// Show the header, images and their properties.
    Info {
        wim: PathBuf,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
        /// Other parts of a split WIM (glob, may repeat).
        #[arg(long = "ref", value_name = "GLOB")]
        refs: Vec<String>,
    },
    /// List the files of an image, one path per line.
    Dir {
        wim: PathBuf,
        /// Image index (1-based) or name.
        image: String,
        /// Per-entry metadata as JSON.
        #[arg(long)]
        json: bool,
        #[arg(long = "ref", value_name = "GLOB")]
        refs: Vec<String>,
    },
    /// Extract an image to a directory. WIM `-` reads a pipable WIM from
    /// stdin (spooled beside DEST while read).
    Extract {
        wim: PathBuf,
        /// Image index (1-based) or name.
        image: String,
        dest: PathBuf,
        /// Decompression threads (default: all cores).
        #[arg(long, default_value_t = 0)]
        threads: usize,
        #[arg(long = "ref", value_name = "GLOB")]
        refs: Vec<String>,
    },
    /// Apply an image to an NTFS volume (raw image, or partition N of a
    /// disk image/VHDX) formatted on the way; a directory TARGET extracts.
    Apply {
        wim: PathBuf,
        /// Image index (1-based) or name.
        image: String,
        target: PathBuf,
        #[arg(long)]
        partition: Option<u32>,
        /// Create a raw volume image of this size (e.g. 2G).
        #[arg(long)]
        size: Option<String>,
        #[arg(long, default_value = "4K")]
        cluster_size: String,
        #[arg(long, default_value = "")]
        label: String,
        #[arg(long, default_value_t = 0)]
        threads: usize,
        #[arg(long = "ref", value_name = "GLOB")]
        refs: Vec<String>,
    },
    /// Check the integrity table and every blob's SHA-1.
    Verify {
        wim: PathBuf,
        #[arg(long, default_value_t = 0)]
        threads: usize,
        #[arg(long = "ref", value_name = "GLOB")]
        refs: Vec<String>,
    },
    /// Capture a directory, or an NTFS volume (raw volume image; disk
    /// image or VHDX with --partition), as a new WIM (replaces WIM when
    /// complete).
    ///
    /// Unusual input in a directory: entries that cannot be read (no
    /// permission, a name that is not valid UTF-8, a host path longer than
    /// 4095 bytes) fail the capture, all listed in one error, and nothing
    /// is written. FIFOs, sockets and device nodes are skipped with a
    /// warning (never opened). Names Windows cannot hold (holding
    /// \ : * ? " < > | or control characters, ending in a dot or space,
    /// reserved device names such as CON, NUL, COM1, LPT1.txt, over 255
    /// UTF-16 units) and names differing only in case are captured with a
    /// warning: applying such an image on Windows fails for them. Symbolic
    /// links are stored as links (dangling, looping or pointing outside
    /// the tree alike), never followed. An entry removed while the tree is
    /// being scanned is skipped with a warning; a file that changes size,
    /// is replaced or disappears after the scan fails the capture. On any
    /// failure the destination is left as it was.
    Capture {
        src: PathBuf,
        wim: PathBuf,
        #[command(flatten)]
        image: CaptureArgs,
        /// Compression: none, xpress (also xpress:thorough), lzx (also lzx:fast, lzx:thorough) or
        /// lzms (also lzms:fast, lzms:thorough).
        #[arg(long, default_value = "none")]
        compress: String,
        /// Chunk size of compressed resources (power of two, 4096 and up;
        /// K/M suffixes).
        #[arg(long, value_name = "SIZE", value_parser = super::wim_edit::parse_size)]
        chunk_size: Option<u32>,
    },
    /// Add a directory or an NTFS volume as a new image of an existing WIM.
    ///
    /// Unusual input is handled as by `wim capture` (see its --help); on
    /// any failure the WIM is left unchanged.
    Append {
        src: PathBuf,
        wim: PathBuf,
        #[command(flatten)]
        image: CaptureArgs,
    },
    /// Copy images into a new or existing WIM (blobs shared by SHA-1).
    Export(super::wim_edit::ExportArgs),
    /// Split a WIM into a set of .swm parts.
    Split(super::wim_edit::SplitArgs),
    /// Rewrite a WIM without unreferenced data.
    Optimize(super::wim_edit::OptimizeArgs),
}

/// Options shared by `capture` and `append`.
#[derive(clap::Args)]
pub struct CaptureArgs {
    /// Image name (default: the source directory's name).
    #[arg(long)]
    name: Option<String>,
    #[arg(long)]
    description: Option<String>,
    /// Mark the new image bootable.
    #[arg(long)]
    boot: bool,
    /// Write an integrity table.
    #[arg(long)]
    check: bool,
    /// Worker threads (default: all cores).
    #[arg(long, default_value_t = 0)]
    threads: usize,
    /// Fixed GUID and times (SOURCE_DATE_EPOCH, or 0), so the same tree
    /// gives a byte-identical WIM. Also on when SOURCE_DATE_EPOCH is set.
    #[arg(long)]
    deterministic: bool,
    /// SRC is a disk image or VHDX: capture the NTFS volume of this
    /// partition (1-based).
    #[arg(long)]
    partition: Option<u32>,
    /// Pack file data into LZMS solid resources (64 MiB chunks; WIM
    /// version 0xE00). With `--compress none`, metadata is LZMS too.
    #[arg(long)]
    solid: bool,
    /// Write a wimlib pipable WIM (WLPWM magic): `wimlib-imagex apply -`
    /// can apply it from a pipe. Microsoft's tools do not read it; not
    /// with --solid; a new WIM only.
    #[arg(long, conflicts_with = "solid")]
    pipable: bool,
    /// Chunk size of the solid resources (default 64M; K/M/G suffixes).
    #[arg(long, value_name = "SIZE", value_parser = super::wim_edit::parse_size)]
    solid_chunk_size: Option<u32>,
    /// Capture configuration (wimlib's format: [ExclusionList] and
    /// [ExclusionException] globs) used instead of the default exclusions
    /// (\pagefile.sys, \hiberfil.sys, \System Volume Information…).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Capture everything: no default exclusions (like an empty --config).
    #[arg(long, conflicts_with = "config")]
    no_default_excludes: bool,
}

pub fn run(cmd: WimCommand, ctx: &Context) -> CmdResult {
    match cmd {
        WimCommand::Info { wim, json, refs } => info(&open(&wim, &refs)?, json),
        WimCommand::Dir {
            wim,
            image,
            json,
            refs,
        } => dir(&open(&wim, &refs)?, &image, json),
        WimCommand::Extract {
            wim,
            image,
            dest,
            threads,
            refs,
        } => {
            let w = if wim.as_os_str() == "-" {
                // A pipable WIM on stdin, read front to back.
                let dir = match dest.parent() {
                    Some(p) if !p.as_os_str().is_empty() => p,
                    _ => Path::new("."),
                };
                Wim::from_stream("<stdin>", std::io::stdin().lock(), dir)?
            } else {
                open(&wim, &refs)?
            };
            extract_cmd(&w, &image, &dest, threads, ctx)
        }
        WimCommand::Verify { wim, threads, refs } => verify(&open(&wim, &refs)?, threads, ctx),
        WimCommand::Capture {
            src,
            wim,
            image,
            compress,
            chunk_size,
        } => capture_cmd(&src, &wim, &image, &compress, chunk_size, false),
        WimCommand::Append { src, wim, image } => {
            capture_cmd(&src, &wim, &image, "none", None, true)
        }
        WimCommand::Export(a) => super::wim_edit::export(a),
        WimCommand::Split(a) => super::wim_edit::split_cmd(a),
        WimCommand::Optimize(a) => super::wim_edit::optimize(a),
        WimCommand::Apply {
            wim,
            image,
            target,
            partition,
            size,
            cluster_size,
            label,
            threads,
            refs,
        } => {
            let w = open(&wim, &refs)?;
            if target.is_dir() {
                return extract_cmd(&w, &image, &target, threads, ctx);
            }
            let index = w.resolve_image(&image)?;
            super::ntfs::wim_apply(
                &w,
                index,
                &target,
                partition,
                size.as_deref(),
                &cluster_size,
                &label,
                threads,
                ctx,
            )
        }
    }
}

pub(crate) fn open(
    path: &Path,
    refs: &[String],
) -> Result<Wim, Box<dyn std::error::Error + Send + Sync>> {
    let mut parts = Vec::new();
    for pattern in refs {
        let mut matched = false;
        for entry in glob::glob(pattern).map_err(|e| format!("--ref {pattern:?}: {e}"))? {
            parts.push(entry.map_err(|e| format!("--ref {pattern:?}: {e}"))?);
            matched = true;
        }
        if !matched {
            return Err(format!("--ref {pattern:?} matches no file").into());
        }
    }
    Ok(Wim::open(path, &parts)?)
}

fn image_json(w: &Wim, i: u32) -> Value {
    let e = w.xml.image(i);
    let txt = |k: &str| e.and_then(|e| e.text_at(k)).map(str::to_string);
    let num = |k: &str| e.and_then(|e| e.text_at(k)).and_then(parse_u64);
    let time = |k: &str| e.and_then(|e| e.child(k)).and_then(parse_time);
    let win = e.and_then(|e| e.child("WINDOWS"));
    let windows = win.map(|w| {
        let t = |k: &str| w.text_at(k).map(str::to_string);
        json!({
            "arch": t("ARCH").and_then(|a| a.parse::<u32>().ok()).map(arch_name),
            "product_name": t("PRODUCTNAME"),
            "edition_id": t("EDITIONID"),
            "installation_type": t("INSTALLATIONTYPE"),
            "product_type": t("PRODUCTTYPE"),
            "system_root": t("SYSTEMROOT"),
            "version": {
                "major": w.text_at("VERSION/MAJOR").and_then(parse_u64),
                "minor": w.text_at("VERSION/MINOR").and_then(parse_u64),
                "build": w.text_at("VERSION/BUILD").and_then(parse_u64),
                "sp_build": w.text_at("VERSION/SPBUILD").and_then(parse_u64),
                "sp_level": w.text_at("VERSION/SPLEVEL").and_then(parse_u64),
            },
            "languages": w.child("LANGUAGES").map(|l| l.children.iter()
                .filter(|c| c.name.eq_ignore_ascii_case("LANGUAGE"))
                .map(|c| c.text.clone()).collect::<Vec<_>>()),
            "default_language": w.text_at("LANGUAGES/DEFAULT"),
        })
    });
    json!({
        "index": i,
        "name": txt("NAME").unwrap_or_default(),
        "description": txt("DESCRIPTION").unwrap_or_default(),
        "display_name": txt("DISPLAYNAME"),
        "display_description": txt("DISPLAYDESCRIPTION"),
        "flags": txt("FLAGS"),
        "dir_count": num("DIRCOUNT").unwrap_or(0),
        "file_count": num("FILECOUNT").unwrap_or(0),
        "total_bytes": num("TOTALBYTES").unwrap_or(0),
        "hard_link_bytes": num("HARDLINKBYTES").unwrap_or(0),
        "creation_time": time("CREATIONTIME"),
        "last_modification_time": time("LASTMODIFICATIONTIME"),
        "wimboot": num("WIMBOOT").map(|v| v != 0).unwrap_or(false),
        "windows": windows,
    })
}

fn arch_name(a: u32) -> String {
    match a {
        0 => "x86".into(),
        5 => "arm".into(),
        6 => "ia64".into(),
        9 => "x86_64".into(),
        12 => "arm64".into(),
        n => format!("unknown ({n})"),
    }
}

fn info(w: &Wim, json_out: bool) -> CmdResult {
    let h = w.header();
    let compression = h.compression().map_err(|e| e.in_file(w.path()))?;
    // A WIM whose non-solid compression is "none" but that holds solid
    // resources reports the solid format, as wimlib does.
    let solid_ctype = w.resources.iter().find(|r| r.solid).map(|r| r.ctype);
    let shown_ctype = if compression == wim::codec::CompressionType::None {
        solid_ctype.unwrap_or(compression)
    } else {
        compression
    };
    let images: Vec<Value> = (1..=w.image_count()).map(|i| image_json(w, i)).collect();
    let v = json!({
        "path": w.path(),
        "guid": h.guid_hex(),
        "version": h.version,
        "compression": shown_ctype.name(),
        "chunk_size": h.chunk_size,
        "solid": w.has_solid_resources(),
        "pipable": h.is_pipable(),
        "solid_chunk_size": w.resources.iter().find(|r| r.solid).map(|r| r.chunk_size),
        "part_number": h.part_number,
        "total_parts": h.total_parts,
        "image_count": h.image_count,
        "boot_index": h.boot_index,
        "has_integrity": h.has_integrity(),
        "flags": h.flags,
        "readonly": h.flags & wim::format::hdr_flags::READONLY != 0,
        "rp_fix": h.flags & wim::format::hdr_flags::RP_FIX != 0,
        "size": w.parts[0].data.len(),
        "total_bytes": w.xml.total_bytes(),
        "images": images,
    });
    if json_out {
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!("WIM Information:");
    println!("----------------");
    println!("Path:           {}", w.path().display());
    println!("GUID:           {}", h.guid_hex());
    println!("Version:        {}", h.version);
    println!("Image Count:    {}", h.image_count);
    // As wimlib-imagex prints it: codec names in capitals, "None" not.
    let cname = match shown_ctype {
        wim::codec::CompressionType::None => "None".to_string(),
        c => c.name().to_uppercase(),
    };
    println!("Compression:    {cname}");
    println!("Chunk Size:     {} bytes", h.chunk_size);
    println!(
        "Solid:          {}",
        if w.has_solid_resources() { "yes" } else { "no" }
    );
    println!(
        "Pipable:        {}",
        if h.is_pipable() { "yes" } else { "no" }
    );
    println!("Part Number:    {}/{}", h.part_number, h.total_parts);
    println!("Boot Index:     {}", h.boot_index);
    println!("Size:           {} bytes", w.parts[0].data.len());
    println!(
        "Integrity:      {}",
        if h.has_integrity() { "yes" } else { "no" }
    );
    println!();
    println!("Available Images:");
    println!("-----------------");
    for img in v["images"].as_array().into_iter().flatten() {
        println!("Index:                  {}", img["index"]);
        println!(
            "Name:                   {}",
            img["name"].as_str().unwrap_or("")
        );
        println!(
            "Description:            {}",
            img["description"].as_str().unwrap_or("")
        );
        println!("Directory Count:        {}", img["dir_count"]);
        println!("File Count:             {}", img["file_count"]);
        println!("Total Bytes:            {}", img["total_bytes"]);
        println!("Hard Link Bytes:        {}", img["hard_link_bytes"]);
        if let Some(p) = img["windows"]["product_name"].as_str() {
            println!("Product Name:           {p}");
        }
        if let Some(b) = img["windows"]["version"]["build"].as_u64() {
            println!("Build:                  {b}");
        }
        println!();
    }
    Ok(ExitCode::SUCCESS)
}

fn load_image(w: &Wim, spec: &str) -> Result<(u32, Image), wim::Error> {
    let i = w.resolve_image(spec)?;
    let img = w.image(i)?;
    for warn in &img.warnings {
        eprintln!("wimforge: warning: {warn}");
    }
    Ok((i, img))
}

fn dir(w: &Wim, spec: &str, json_out: bool) -> CmdResult {
    let (_, img) = load_image(w, spec)?;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    use std::io::Write;
    if !json_out {
        for d in img.preorder() {
            writeln!(out, "{}", img.path(d))?;
        }
        out.flush()?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut entries = Vec::with_capacity(img.dentries.len());
    for d in img.preorder() {
        let den = &img.dentries[d as usize];
        let ino = img.inode_of(d);
        let streams: Vec<Value> = ino
            .streams
            .iter()
            .map(|s| {
                json!({
                    "name": s.name,
                    "kind": s.kind,
                    "hash": if s.is_empty() { None } else { Some(wim::bytes::hex(&s.hash)) },
                    "size": if s.is_empty() { Some(0) } else { w.blob(&s.hash).map(|b| b.size) },
                })
            })
            .collect();
        entries.push(json!({
            "path": img.path(d),
            "attributes": ino.attributes,
            "creation_time": ino.creation_time,
            "last_access_time": ino.last_access_time,
            "last_write_time": ino.last_write_time,
            "security_id": ino.security_id,
            "streams": streams,
            "reparse_tag": if ino.is_reparse_point() { Some(ino.reparse_tag) } else { None },
            "hard_link_group": if ino.links.len() > 1 || ino.hard_link_group != 0 { Some(ino.hard_link_group) } else { None },
            "link_count": ino.links.len(),
            "short_name": if den.short_name.is_empty() { None } else { Some(&den.short_name) },
            "object_id": ino.object_id.as_ref().map(|o| wim::bytes::hex(o)),
            "has_eas": ino.xattrs.is_some(),
        }));
    }
    serde_json::to_writer_pretty(&mut out, &entries)?;
    writeln!(out)?;
    Ok(ExitCode::SUCCESS)
}

fn extract_cmd(w: &Wim, spec: &str, dest: &Path, threads: usize, ctx: &Context) -> CmdResult {
    let (_, img) = load_image(w, spec)?;
    let pb = ctx.progress(0, "extract");
    let opts = ExtractOptions {
        pipeline: Options {
            threads,
            ..Options::default()
        },
    };
    let sum = extract(w, &img, dest, &opts, &|done, total| {
        pb.set_length(total);
        pb.set_position(done);
    })?;
    pb.finish_and_clear();
    eprintln!(
        "Extracted {} directories, {} files, {} hard links, {} symlinks, {} bytes to {}",
        sum.directories,
        sum.files,
        sum.hard_links,
        sum.symlinks,
        sum.bytes,
        dest.display()
    );
    let skipped = sum.not_extracted();
    if !skipped.is_empty() {
        eprintln!("Not representable in a Linux directory:");
        for s in skipped {
            eprintln!("  {s}");
        }
    }
    for warn in sum.warnings.iter().skip(img.warnings.len()) {
        eprintln!("wimforge: warning: {warn}");
    }
    Ok(ExitCode::SUCCESS)
}

fn verify(w: &Wim, threads: usize, ctx: &Context) -> CmdResult {
    let pb = ctx.progress(0, "verify");
    let opts = Options {
        threads,
        ..Options::default()
    };
    let r = wim::verify::verify(w, &opts, &|done, total| {
        pb.set_length(total);
        pb.set_position(done);
    })?;
    pb.finish_and_clear();
    if r.integrity_tables_checked == 0 {
        eprintln!("No integrity table; checked blob hashes only");
    }
    println!(
        "{}: OK — integrity tables: {}, {} image(s), {} blobs, {} bytes verified",
        w.path().display(),
        r.integrity_tables_checked,
        r.images,
        r.blobs,
        r.bytes
    );
    Ok(ExitCode::SUCCESS)
}

/// The fixed time of deterministic mode: `SOURCE_DATE_EPOCH` when set
/// (which alone turns the mode on), else 0 with `--deterministic`.
pub(crate) fn fixed_time(
    deterministic: bool,
) -> Result<Option<i64>, Box<dyn std::error::Error + Send + Sync>> {
    match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(v) if !v.trim().is_empty() => {
            Ok(Some(v.trim().parse::<i64>().map_err(|_| {
                format!("SOURCE_DATE_EPOCH={v:?} is not a number of seconds")
            })?))
        }
        _ => Ok(deterministic.then_some(0)),
    }
}

fn capture_cmd(
    src: &Path,
    wim_path: &Path,
    a: &CaptureArgs,
    compress: &str,
    chunk_size: Option<u32>,
    append: bool,
) -> CmdResult {
    use wim::codec::CompressionType;
    use wim::write::lzms_compress::Level as LzmsLevel;
    use wim::write::{scan_dir, CaptureOptions, WimWriter, WriteOptions};
    let codec = super::wim_edit::parse_compress(compress)?;
    let (compression, lzms_level) = (codec.ctype, codec.lzms_level);
    // `--solid` alone means LZMS for everything, as wimlib-imagex does.
    let (compression, lzms_level) = if a.solid && compression == CompressionType::None && !append {
        (CompressionType::Lzms, Some(LzmsLevel::Fast))
    } else {
        (compression, lzms_level)
    };
    if let Some(cs) = chunk_size {
        if !cs.is_power_of_two() || !(4096..=1 << 30).contains(&cs) {
            return Err(
                format!("--chunk-size {cs}: must be a power of two from 4096 to 1 GiB").into(),
            );
        }
        if compression == CompressionType::None {
            eprintln!("wimforge: note: --chunk-size has no effect with --compress none");
        } else if cs != wim::write::writer::DEFAULT_CHUNK_SIZE {
            eprintln!(
                "wimforge: warning: chunk size {cs} is not the default {}; Microsoft's tools may refuse this WIM",
                wim::write::writer::DEFAULT_CHUNK_SIZE
            );
        }
    }
    let config = std::sync::Arc::new(match &a.config {
        Some(path) => wim::write::CaptureConfig::load(path)?,
        None if a.no_default_excludes => wim::write::CaptureConfig::default(),
        None => wim::write::CaptureConfig::windows_default(),
    });
    for w in &config.warnings {
        eprintln!("wimforge: warning: {w}");
    }
    let fixed = fixed_time(a.deterministic)?;
    let solid_cs = super::wim_edit::solid_chunk_size(a.solid_chunk_size, a.solid)?;
    let opts = WriteOptions {
        compression,
        chunk_size: chunk_size.unwrap_or(0),
        compressor: {
            let cs = chunk_size.unwrap_or(wim::write::writer::DEFAULT_CHUNK_SIZE);
            let codec = super::wim_edit::Codec {
                ctype: compression,
                lzms_level,
                ..codec
            };
            super::wim_edit::factory(&codec, cs)
        },
        threads: a.threads,
        integrity: a.check,
        fixed_time: fixed,
        // wimlib's capture default (--rpfix); an append follows the WIM.
        rp_fix: true,
        solid: a.solid,
        solid_chunk_size: solid_cs,
        solid_compressor: if a.solid {
            wim::write::lzms_factory(solid_cs, lzms_level.unwrap_or_default())
        } else {
            None
        },
        pipable: a.pipable,
    };
    let name = match &a.name {
        Some(n) => n.clone(),
        None => std::fs::canonicalize(src)
            .ok()
            .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
            .unwrap_or_else(|| "image".into()),
    };
    let mut w = if append {
        WimWriter::append_to(wim_path, opts)?
    } else {
        WimWriter::create(wim_path, opts)?
    };
    let (tree, warnings) = if src.is_dir() && a.partition.is_none() {
        scan_dir(
            src,
            &CaptureOptions {
                deterministic: fixed.is_some(),
                rp_fix: w.rp_fix(),
                config: Some(config),
            },
        )?
    } else {
        super::wim_ntfs_capture::scan(src, a.partition, Some(config))?
    };
    for w in &warnings {
        eprintln!("wimforge: warning: {w}");
    }
    let scan_warnings = warnings.len();
    let index = w.add_image(tree, &name, a.description.as_deref())?;
    if a.boot {
        w.set_boot_index(index)?;
    }
    let s = w.finish()?;
    for warn in &s.warnings {
        eprintln!("wimforge: warning: {warn}");
    }
    eprintln!(
        "{} image {index} ({name:?}) of {}: {} blobs, {} bytes stored, {} duplicate streams; file is {} bytes",
        if append { "Appended" } else { "Captured" },
        wim_path.display(),
        s.blobs_written,
        s.bytes_written,
        s.deduplicated,
        s.file_size
    );
    let n = scan_warnings + s.warnings.len();
    if n > 0 {
        eprintln!(
            "wimforge: {n} warning{} (listed above)",
            if n == 1 { "" } else { "s" }
        );
    }
    Ok(ExitCode::SUCCESS)
}
