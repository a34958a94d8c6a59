//! `wimforge wim export|split|optimize`: the WIM verbs that rewrite
//! existing WIMs (modelled on wimlib-imagex's verbs of the same names).

use crate::CmdResult;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use wim::codec::CompressionType;
use wim::format::hdr_flags;
use wim::write::lzms_compress::Level as LzmsLevel;
use wim::write::lzx_compress::Level as LzxLevel;
use wim::write::split::{split, SplitOptions};
use wim::write::writer::DEFAULT_CHUNK_SIZE;
use wim::write::{CompressorFactory, ExportNames, WimWriter, WriteOptions};

type Res<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

#[derive(clap::Args)]
pub struct ExportArgs {
    /// The WIM to copy from.
    src: PathBuf,
    /// Image index (1-based), name, or `all`.
    image: String,
    /// The WIM to write: created, or appended to when it exists.
    dest: PathBuf,
    /// Compression of a new DEST: none, xpress, lzx (lzx:fast,
    /// lzx:thorough), lzms (lzms:thorough). Default: the source's (non-
    /// solid). An existing DEST keeps its own.
    #[arg(long)]
    compress: Option<String>,
    /// Chunk size of a new DEST (default: the source's when the format is
    /// the same, else 32 KiB; K/M suffixes).
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    chunk_size: Option<u32>,
    /// Decompress and compress again even resources that could be copied
    /// as they are.
    #[arg(long)]
    recompress: bool,
    /// Pack the exported file data into one LZMS solid resource per image
    /// (64 MiB chunks); alone it also makes a new DEST LZMS.
    #[arg(long)]
    solid: bool,
    /// Make a new DEST a wimlib pipable WIM (not with --solid).
    #[arg(long, conflicts_with = "solid")]
    pipable: bool,
    /// Chunk size of the solid resources (default 64M; K/M/G suffixes).
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    solid_chunk_size: Option<u32>,
    /// Name of the exported image in DEST (one image only).
    #[arg(long)]
    dest_name: Option<String>,
    /// Description of the exported image in DEST (one image only).
    #[arg(long)]
    dest_description: Option<String>,
    /// Mark the exported image bootable (with `all`: the source's boot
    /// image).
    #[arg(long)]
    boot: bool,
    /// Write an integrity table (kept anyway when DEST has one).
    #[arg(long)]
    check: bool,
    /// Worker threads (default: all cores).
    #[arg(long, default_value_t = 0)]
    threads: usize,
    /// Fixed GUID for a new DEST (SOURCE_DATE_EPOCH, or 0), so the same
    /// input gives a byte-identical WIM. Also on when SOURCE_DATE_EPOCH is
    /// set. Image times come from the source either way.
    #[arg(long)]
    deterministic: bool,
    /// Other parts of a split source (glob, may repeat).
    #[arg(long = "ref", value_name = "GLOB")]
    refs: Vec<String>,
}

#[derive(clap::Args)]
pub struct SplitArgs {
    wim: PathBuf,
    /// First part; the others are named PART2.swm, PART3.swm… beside it.
    part: PathBuf,
    /// Largest part size in MiB (a single larger resource gets a part of
    /// its own).
    #[arg(long)]
    size: f64,
    /// Write an integrity table in every part.
    #[arg(long)]
    check: bool,
    #[arg(long, default_value_t = 0)]
    threads: usize,
    /// Split even when files named like further parts (PARTn.swm) exist
    /// that are not parts of an earlier split of this set (they are left
    /// alone; parts of an earlier split of it are always removed).
    #[arg(long)]
    force: bool,
}

#[derive(clap::Args)]
pub struct OptimizeArgs {
    wim: PathBuf,
    /// Recompress into this format: none, xpress, lzx (lzx:fast,
    /// lzx:thorough), lzms (lzms:thorough). Default: keep the WIM's.
    #[arg(long)]
    compress: Option<String>,
    /// Chunk size (default: the WIM's when the format is kept, else 32 KiB;
    /// K/M suffixes).
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    chunk_size: Option<u32>,
    /// Decompress and compress again every resource.
    #[arg(long)]
    recompress: bool,
    /// Pack file data into LZMS solid resources (default: when the WIM
    /// has solid resources already).
    #[arg(long)]
    solid: bool,
    /// Chunk size of the solid resources (default 64M; K/M/G suffixes).
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    solid_chunk_size: Option<u32>,
    /// Store file data in non-solid resources even if the WIM has solid
    /// ones.
    #[arg(long, conflicts_with = "solid")]
    no_solid: bool,
    /// Write an integrity table (kept anyway when the WIM has one).
    #[arg(long)]
    check: bool,
    #[arg(long, default_value_t = 0)]
    threads: usize,
}

/// A parsed `--compress` value.
pub(crate) struct Codec {
    pub(crate) ctype: CompressionType,
    pub(crate) lzx_level: Option<LzxLevel>,
    pub(crate) lzms_level: Option<LzmsLevel>,
    pub(crate) xpress_level: Option<wim::write::xpress_compress::Level>,
}

impl Codec {
    /// `ctype` at its default level.
    fn plain(ctype: CompressionType) -> Codec {
        Codec {
            ctype,
            lzx_level: None,
            lzms_level: None,
            xpress_level: None,
        }
    }
}

/// Parse a `--compress` value: a format and, for LZX/LZMS, a level.
pub(crate) fn parse_compress(s: &str) -> Res<Codec> {
    use wim::write::xpress_compress::Level as XpressLevel;
    let mut xpress_level = None;
    let (ctype, lzx_level, lzms_level) = match s.to_ascii_lowercase().as_str() {
        "none" => (CompressionType::None, None, None),
        "xpress" | "xpress:fast" => (CompressionType::Xpress, None, None),
        "xpress:thorough" => {
            xpress_level = Some(XpressLevel::Thorough);
            (CompressionType::Xpress, None, None)
        }
        "lzx" | "lzx:normal" => (CompressionType::Lzx, Some(LzxLevel::Normal), None),
        "lzx:fast" => (CompressionType::Lzx, Some(LzxLevel::Fast), None),
        "lzx:thorough" => (CompressionType::Lzx, Some(LzxLevel::Thorough), None),
        "lzms" | "lzms:fast" => (CompressionType::Lzms, None, Some(LzmsLevel::Fast)),
        "lzms:thorough" => (CompressionType::Lzms, None, Some(LzmsLevel::Thorough)),
        _ => {
            return Err(format!(
            "--compress {s}: unknown format (none, xpress[:fast|:thorough], lzx[:fast|:thorough], \
                 lzms[:fast|:thorough])"
        )
            .into())
        }
    };
    Ok(Codec {
        ctype,
        lzx_level,
        lzms_level,
        xpress_level,
    })
}

/// The compressor factory for a parsed `--compress` value and chunk size.
pub(crate) fn factory(c: &Codec, chunk_size: u32) -> Option<CompressorFactory> {
    match (c.lzx_level, c.lzms_level, c.xpress_level) {
        (Some(level), _, _) => wim::write::lzx_factory(chunk_size, level),
        (_, Some(level), _) => wim::write::lzms_factory(chunk_size, level),
        (_, _, Some(level)) => Some(wim::write::xpress_factory(level)),
        _ => wim::write::compressor_for_chunk_size(c.ctype, chunk_size),
    }
}

fn check_chunk_size(cs: u32, ctype: CompressionType) -> Res<()> {
    if !cs.is_power_of_two() || !(4096..=1 << 30).contains(&cs) {
        return Err(format!("--chunk-size {cs}: must be a power of two from 4096 to 1 GiB").into());
    }
    if ctype == CompressionType::None {
        eprintln!("wimforge: note: --chunk-size has no effect with --compress none");
    } else if cs != DEFAULT_CHUNK_SIZE {
        eprintln!(
            "wimforge: warning: chunk size {cs} is not the default {DEFAULT_CHUNK_SIZE}; \
             Microsoft's tools may refuse this WIM"
        );
    }
    Ok(())
}

/// Write options for a new WIM of `codec` at `chunk_size`; an error when
/// we have no compressor for it.
fn new_wim_options(
    codec: &Codec,
    chunk_size: u32,
    threads: usize,
    integrity: bool,
) -> Res<WriteOptions> {
    let compressor = if codec.ctype == CompressionType::None {
        None
    } else {
        Some(factory(codec, chunk_size).ok_or_else(|| {
            format!(
                "{} compression at chunk size {chunk_size} is not supported yet",
                codec.ctype
            )
        })?)
    };
    Ok(WriteOptions {
        compression: codec.ctype,
        chunk_size,
        compressor,
        threads,
        integrity,
        fixed_time: None,
        rp_fix: false,
        ..Default::default()
    })
}

/// Parse a size: a number of bytes with an optional `K`, `M` or `G`
/// suffix (also `KiB`, `MiB`, `GiB`; powers of 1024), as wimlib-imagex
/// takes chunk sizes.
pub(crate) fn parse_size(s: &str) -> Result<u32, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let mult: u64 = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kib" | "kb" => 1 << 10,
        "m" | "mib" | "mb" => 1 << 20,
        "g" | "gib" | "gb" => 1 << 30,
        _ => return Err(format!("{s:?}: not a size (a number with K, M or G)")),
    };
    num.parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(mult))
        .and_then(|n| u32::try_from(n).ok())
        .ok_or_else(|| format!("{s:?}: not a size below 4 GiB"))
}

/// The solid chunk size asked for (`None`: the default), checked against
/// LZMS's limits; warns when it is not the default and notes when solid
/// mode is off (`solid`: whether it is on).
pub(crate) fn solid_chunk_size(arg: Option<u32>, solid: bool) -> Res<u32> {
    let default = wim::write::solid::DEFAULT_SOLID_CHUNK_SIZE;
    let Some(cs) = arg else {
        return Ok(default);
    };
    let (min, max) = (
        CompressionType::Lzms.min_chunk_size(),
        CompressionType::Lzms.max_chunk_size(),
    );
    if !cs.is_power_of_two() || (cs as usize) < min || cs as usize > max {
        return Err(format!(
            "--solid-chunk-size {cs}: must be a power of two from {}K to {}M (LZMS)",
            min >> 10,
            max >> 20
        )
        .into());
    }
    if !solid {
        eprintln!("wimforge: note: --solid-chunk-size has no effect without --solid");
    } else if cs > default {
        eprintln!(
            "wimforge: warning: solid chunk size {cs} is larger than {default}; Microsoft's \
             tools cannot read this WIM, and each thread needs about 10 times it in memory"
        );
    } else if cs != default {
        eprintln!(
            "wimforge: warning: solid chunk size {cs} is not the default {default}; \
             Microsoft's tools may refuse this WIM"
        );
    }
    Ok(cs)
}

/// Turn on solid mode in `opts` (LZMS at `level`, chunks of `cs` bytes).
fn set_solid(opts: &mut WriteOptions, level: Option<LzmsLevel>, cs: u32) -> Res<()> {
    opts.solid = true;
    opts.solid_chunk_size = cs;
    opts.solid_compressor = Some(
        wim::write::lzms_factory(cs, level.unwrap_or_default())
            .ok_or("no LZMS compressor for solid chunks")?,
    );
    Ok(())
}

/// The source's images named by `spec` (an index, a name or `all`).
fn images_of(w: &wim::Wim, spec: &str) -> Res<Vec<u32>> {
    if spec.eq_ignore_ascii_case("all") || spec == "*" {
        if w.image_count() == 0 {
            return Err(format!("{}: has no images", w.path().display()).into());
        }
        return Ok((1..=w.image_count()).collect());
    }
    Ok(vec![w.resolve_image(spec)?])
}

pub fn export(a: ExportArgs) -> CmdResult {
    let src = std::sync::Arc::new(super::wim::open(&a.src, &a.refs)?);
    let missing = src.missing_parts();
    if !missing.is_empty() {
        return Err(format!(
            "{}: parts {missing:?} of the split set are missing (pass them with --ref)",
            a.src.display()
        )
        .into());
    }
    let images = images_of(&src, &a.image)?;
    if images.len() > 1 && (a.dest_name.is_some() || a.dest_description.is_some()) {
        return Err("--dest-name/--dest-description need a single image, not all".into());
    }
    let fixed = super::wim::fixed_time(a.deterministic)?;
    let solid_cs = solid_chunk_size(a.solid_chunk_size, a.solid)?;
    let sh = src.header();
    let src_ctype = sh.compression().map_err(|e| e.in_file(src.path()))?;
    let appending = a.dest.exists();
    let mut w = if appending {
        let dest = wim::Wim::open(&a.dest, &[])?;
        let dh = dest.header();
        let (dctype, dcs) = (
            dh.compression().map_err(|e| e.in_file(dest.path()))?,
            dh.chunk_size,
        );
        drop(dest);
        let codec = match &a.compress {
            Some(c) => {
                let c = parse_compress(c)?;
                if c.ctype != dctype {
                    return Err(format!(
                        "{} exists and uses {dctype} compression; --compress {} cannot change it \
                         (export to a new file, or optimize it with --compress)",
                        a.dest.display(),
                        c.ctype
                    )
                    .into());
                }
                c
            }
            None => Codec::plain(dctype),
        };
        if let Some(cs) = a.chunk_size {
            if cs != dcs && dctype != CompressionType::None {
                return Err(format!(
                    "{} exists with chunk size {dcs}; --chunk-size {cs} cannot change it",
                    a.dest.display()
                )
                .into());
            }
        }
        let mut opts = WriteOptions {
            compression: dctype,
            chunk_size: dcs,
            compressor: factory(&codec, dcs),
            threads: a.threads,
            integrity: a.check,
            fixed_time: fixed,
            rp_fix: false,
            pipable: a.pipable,
            ..Default::default()
        };
        if a.solid {
            set_solid(&mut opts, codec.lzms_level, solid_cs)?;
        }
        WimWriter::append_to(&a.dest, opts)?
    } else {
        let codec = match &a.compress {
            Some(c) => parse_compress(c)?,
            // `--solid` alone means LZMS for everything, as in capture.
            None if a.solid => Codec::plain(CompressionType::Lzms),
            None => {
                let c = Codec::plain(src_ctype);
                if src_ctype != CompressionType::None
                    && factory(&c, sh.chunk_size.max(4096)).is_none()
                {
                    eprintln!(
                        "wimforge: warning: {src_ctype} compression cannot be written yet; \
                         {} gets LZX",
                        a.dest.display()
                    );
                    Codec::plain(CompressionType::Lzx)
                } else {
                    c
                }
            }
        };
        let cs = match a.chunk_size {
            Some(cs) => {
                check_chunk_size(cs, codec.ctype)?;
                cs
            }
            None if codec.ctype == src_ctype && sh.chunk_size != 0 => sh.chunk_size,
            None => DEFAULT_CHUNK_SIZE,
        };
        let mut opts = new_wim_options(&codec, cs, a.threads, a.check)?;
        if a.solid {
            set_solid(&mut opts, codec.lzms_level, solid_cs)?;
        }
        opts.fixed_time = fixed;
        opts.rp_fix = sh.flags & hdr_flags::RP_FIX != 0;
        opts.pipable = a.pipable;
        WimWriter::create(&a.dest, opts)?
    };
    w.set_recompress(a.recompress);
    let mut boot = None;
    for &i in &images {
        let names = ExportNames {
            name: a.dest_name.as_deref(),
            description: a.dest_description.as_deref(),
        };
        let n = w.export_image(&src, i, &names)?;
        if a.boot && (images.len() == 1 || i == sh.boot_index) {
            boot = Some(n);
        }
        eprintln!(
            "Exported image {i} of {} as image {n} of {}",
            a.src.display(),
            a.dest.display()
        );
    }
    if let Some(b) = boot {
        w.set_boot_index(b)?;
    } else if a.boot {
        eprintln!(
            "wimforge: warning: --boot: {} has no boot image; none marked",
            a.src.display()
        );
    }
    let s = w.finish()?;
    for warn in &s.warnings {
        eprintln!("wimforge: warning: {warn}");
    }
    eprintln!(
        "{} {}: {} resources copied as they were, {} recompressed, {} duplicate blobs shared; \
         file is {} bytes",
        if appending { "Appended to" } else { "Wrote" },
        a.dest.display(),
        s.copied_raw,
        s.recompressed,
        s.deduplicated,
        s.file_size
    );
    Ok(ExitCode::SUCCESS)
}

pub fn split_cmd(a: SplitArgs) -> CmdResult {
    if !(a.size.is_finite() && a.size > 0.0) {
        return Err(format!("--size {}: must be a positive number of MiB", a.size).into());
    }
    let src = wim::Wim::open(&a.wim, &[])?;
    if src.header().total_parts != 1 {
        return Err(format!("{}: is already part of a split set", a.wim.display()).into());
    }
    let part_size = (a.size * 1_048_576.0) as u64;
    let report = split(
        &src,
        &a.part,
        &SplitOptions {
            part_size: part_size.max(1),
            integrity: a.check,
            threads: a.threads,
            force: a.force,
        },
    )?;
    for p in &report.removed_temps {
        eprintln!(
            "wimforge: warning: removed {} left by an interrupted write",
            p.display()
        );
    }
    for w in &report.warnings {
        eprintln!("wimforge: warning: {w}");
    }
    for p in &report.removed_stale_parts {
        eprintln!(
            "wimforge: warning: removed {}, a part of an earlier split that the new set does \
             not replace",
            p.display()
        );
    }
    let paths = &report.parts;
    for p in paths {
        let len = std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
        eprintln!("Wrote {} ({len} bytes)", p.display());
    }
    eprintln!(
        "Split {} into {} part(s); read them with --ref '{}'",
        a.wim.display(),
        paths.len(),
        glob_hint(&a.part)
    );
    Ok(ExitCode::SUCCESS)
}

fn glob_hint(first: &Path) -> String {
    let stem = first
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let name = match first.extension() {
        Some(e) => format!("{stem}*.{}", e.to_string_lossy()),
        None => format!("{stem}*"),
    };
    first.with_file_name(name).display().to_string()
}

pub fn optimize(a: OptimizeArgs) -> CmdResult {
    let src = std::sync::Arc::new(wim::Wim::open(&a.wim, &[])?);
    let h = src.header().clone();
    if h.total_parts != 1 {
        return Err(format!(
            "{}: optimizing a split WIM is not supported (export it whole first)",
            a.wim.display()
        )
        .into());
    }
    let before = src.parts[0].data.len() as u64;
    let cur = h.compression().map_err(|e| e.in_file(src.path()))?;
    let codec = match &a.compress {
        Some(c) => parse_compress(c)?,
        None => Codec::plain(cur),
    };
    let cs = match a.chunk_size {
        Some(cs) => {
            check_chunk_size(cs, codec.ctype)?;
            cs
        }
        None if codec.ctype == cur && h.chunk_size != 0 => h.chunk_size,
        None => DEFAULT_CHUNK_SIZE,
    };
    let mut opts = new_wim_options(&codec, cs, a.threads, a.check || h.has_integrity())?;
    let solid = a.solid || (!a.no_solid && src.has_solid_resources());
    let solid_cs = solid_chunk_size(a.solid_chunk_size, solid)?;
    if solid {
        set_solid(&mut opts, codec.lzms_level, solid_cs)?;
    }
    opts.rp_fix = h.flags & hdr_flags::RP_FIX != 0;
    // A pipable WIM stays pipable, as with wimlib-imagex optimize.
    opts.pipable = h.is_pipable();
    let mut w = WimWriter::create(&a.wim, opts)?;
    w.set_guid(h.guid);
    w.set_recompress(a.recompress);
    w.keep_xml_extras(&src);
    for i in 1..=src.image_count() {
        w.export_image(&src, i, &ExportNames::default())?;
    }
    if h.boot_index != 0 && h.boot_index <= src.image_count() {
        w.set_boot_index(h.boot_index)?;
    }
    let s = w.finish()?;
    drop(src);
    for warn in &s.warnings {
        eprintln!("wimforge: warning: {warn}");
    }
    eprintln!(
        "Optimized {}: {before} -> {} bytes ({} resources copied as they were, {} recompressed)",
        a.wim.display(),
        s.file_size,
        s.copied_raw,
        s.recompressed
    );
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::parse_size;

    #[test]
    fn sizes_take_binary_suffixes() {
        assert_eq!(parse_size("32768"), Ok(32768));
        assert_eq!(parse_size("32K"), Ok(32768));
        assert_eq!(parse_size("1M"), Ok(1 << 20));
        assert_eq!(parse_size("16MiB"), Ok(16 << 20));
        assert_eq!(parse_size("1g"), Ok(1 << 30));
        assert!(parse_size("4G").is_err());
        assert!(parse_size("1.5M").is_err());
        assert!(parse_size("M").is_err());
        assert!(parse_size("12X").is_err());
    }
}
