//! Splitting a WIM into a spanned set (`.swm` parts; research notes §1.1
//! "Split WIMs", wimlib `split.c` behaviour).
//!
//! Every part is a WIM of its own with the source's header fields (GUID,
//! compression, chunk size, image count), the `SPANNED` flag, its
//! `part_number` and the set's `total_parts`, the whole XML document, and
//! a blob table listing only the resources stored in that part (each
//! entry's part number set). Part 1 holds the image metadata resources
//! first, then file blobs in the source's blob-table order; a new part
//! starts when the next resource would make the current one larger than
//! the size asked for (a resource larger than that gets a part to
//! itself). Resources are copied byte for byte, never recompressed. Like
//! wimlib, WIMs holding solid resources are refused.
//!
//! Parts are written to temporary files and renamed into place only once
//! all of them are complete.

use super::blob_table::{self, BlobRecord};
use super::header::encode_header;
use super::resource::Out;
use super::xml;
use crate::error::{Error, Result};
use crate::format::{hdr_flags, res_flags, BLOB_ENTRY_SIZE, HEADER_SIZE};
use crate::read::reshdr::ResHdr;
use crate::read::{BlobLoc, Wim};
use std::collections::HashSet;
use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};

/// How to split.
#[derive(Debug, Clone)]
pub struct SplitOptions {
    /// Largest part wanted, in bytes (a single larger resource still gets
    /// a part of its own).
    pub part_size: u64,
    /// Write an integrity table in every part.
    pub integrity: bool,
    /// Worker threads for the integrity table (0: all cores).
    pub threads: usize,
    /// Write the set even when numbered files beside it that are not
    /// parts of an earlier split of the same set would be taken for parts
    /// of it (see [`split`]); they are left alone, with a warning.
    pub force: bool,
}

/// What [`split`] did.
#[derive(Debug, Clone, Default)]
pub struct SplitReport {
    /// The parts written, part 1 first.
    pub parts: Vec<PathBuf>,
    /// Parts of an earlier split to the same name that the new set does
    /// not overwrite (`NAME4.swm` when the new set has 3 parts), removed.
    pub removed_stale_parts: Vec<PathBuf>,
    /// Temporary files of killed earlier writes, removed.
    pub removed_temps: Vec<PathBuf>,
    pub warnings: Vec<String>,
}

/// Name of part `n` (1-based) of a set whose first part is `first`:
/// `NAME.swm`, `NAME2.swm`, `NAME3.swm`… (the number goes before the
/// extension, as wimlib names them).
pub fn part_path(first: &Path, n: u16) -> PathBuf {
    if n == 1 {
        return first.to_path_buf();
    }
    let stem = first
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let name = match first.extension() {
        Some(ext) => format!("{stem}{n}.{}", ext.to_string_lossy()),
        None => format!("{stem}{n}"),
    };
    first.with_file_name(name)
}

struct Item {
    loc: BlobLoc,
    metadata: bool,
    refcnt: u32,
}

/// A temporary part file removed unless renamed.
struct TmpPart {
    tmp: PathBuf,
    dest: PathBuf,
    done: bool,
}

impl Drop for TmpPart {
    fn drop(&mut self) {
        if !self.done {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

/// The number `n` of a file named like part `n` of the set whose first
/// part is `first` (`NAMEn.EXT`, any run of digits), if `file_name` is one.
fn numbered_part(first: &Path, file_name: &str) -> Option<u64> {
    let stem = first.file_stem()?.to_str()?;
    let rest = file_name.strip_prefix(stem)?;
    let digits = match first.extension() {
        Some(e) => rest.strip_suffix(&format!(".{}", e.to_str()?))?,
        None => rest,
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(digits.parse().unwrap_or(u64::MAX))
}

/// The header of the WIM at `path`, if it is one.
fn read_header(path: &Path) -> Option<crate::read::header::Header> {
    use std::io::Read;
    let mut buf = vec![0u8; HEADER_SIZE];
    File::open(path).ok()?.read_exact(&mut buf).ok()?;
    crate::read::header::Header::parse(&buf).ok()
}

/// Files beside `first` named like parts of its set but not among the
/// `total` parts about to be written: (stale parts of an earlier split of
/// the same set, anything else).
fn leftover_parts(src: &Wim, first: &Path, total: u16) -> (Vec<PathBuf>, Vec<PathBuf>) {
    let dir = match first.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    // GUIDs of the set being replaced: the source's (a split of the same
    // WIM) and the one of the part 1 about to be overwritten.
    let mut guids = vec![src.header().guid];
    if let Some(h) = read_header(first) {
        if h.flags & hdr_flags::SPANNED != 0 {
            guids.push(h.guid);
        }
    }
    let (mut stale, mut other) = (Vec::new(), Vec::new());
    let Ok(rd) = std::fs::read_dir(&dir) else {
        return (stale, other);
    };
    for e in rd.flatten() {
        let os = e.file_name();
        let Some(name) = os.to_str() else { continue };
        let Some(n) = numbered_part(first, name) else {
            continue;
        };
        let path = e.path();
        if (2..=total as u64).contains(&n) && path == part_path(first, n as u16) {
            continue;
        }
        let is_file = std::fs::symlink_metadata(&path)
            .map(|m| m.file_type().is_file())
            .unwrap_or(false);
        match read_header(&path) {
            Some(h)
                if is_file
                    && h.flags & hdr_flags::SPANNED != 0
                    && h.total_parts > 1
                    && guids.contains(&h.guid) =>
            {
                stale.push(path)
            }
            _ => other.push(path),
        }
    }
    stale.sort();
    other.sort();
    (stale, other)
}

/// Split `src` into parts named after `first` (see [`part_path`]).
///
/// Files beside `first` named like further parts of its set
/// (`NAMEn.EXT`) but not overwritten by the new set would be picked up
/// with it by `--ref 'NAME*.EXT'` and make the set unreadable. Those that
/// are parts of an earlier split of the same set (a WIM part header with
/// the source's GUID or the GUID of the `first` being replaced) are
/// removed once the new set is in place. Any other such file makes the
/// split fail before anything is written, unless `opts.force` (then it is
/// left alone, with a warning).
pub fn split(src: &Wim, first: &Path, opts: &SplitOptions) -> Result<SplitReport> {
    if src.has_solid_resources() {
        return Err(Error::Refused(format!(
            "{}: splitting a WIM that holds solid resources is not supported (export it to a \
             non-solid WIM first)",
            src.path().display()
        )));
    }
    if src.header().is_pipable() {
        // Parts are raw copies of the source's resources, and pipable
        // resources are framed differently.
        return Err(Error::Refused(format!(
            "{}: splitting a pipable WIM is not supported (export it to an ordinary WIM first)",
            src.path().display()
        )));
    }
    let missing = src.missing_parts();
    if !missing.is_empty() {
        return Err(Error::NotFound(format!(
            "{}: parts {missing:?} of the split set are missing (pass them with --ref)",
            src.path().display()
        )));
    }
    if opts.part_size == 0 {
        return Err(Error::Refused("part size must be at least 1 byte".into()));
    }
    let h = src.header();
    // Items in order: metadata, then blobs as the source lists them.
    let mut items: Vec<Item> = Vec::new();
    for m in src.metadata.iter().take(h.image_count as usize) {
        items.push(Item {
            loc: *m,
            metadata: true,
            refcnt: 1,
        });
    }
    let mut seen = HashSet::new();
    for (_, e) in &src.entries {
        if e.reshdr.is_metadata() || e.is_solid_resource() || e.hash == [0; 20] {
            continue;
        }
        if !seen.insert(e.hash) {
            continue;
        }
        if let Some(loc) = src.blob(&e.hash) {
            items.push(Item {
                loc: *loc,
                metadata: false,
                refcnt: e.refcnt,
            });
        }
    }
    let doc = xml::encode_document(&src.xml.root);
    // Plan the parts.
    let overhead = HEADER_SIZE as u64 + doc.len() as u64;
    let mut parts: Vec<Vec<usize>> = vec![Vec::new()];
    let mut cur = overhead;
    for (k, it) in items.iter().enumerate() {
        let size = src.resource_of(&it.loc).size_in_wim + BLOB_ENTRY_SIZE as u64;
        let last = parts.last_mut().expect("one part");
        if !last.is_empty() && cur + size > opts.part_size {
            parts.push(vec![k]);
            cur = overhead + size;
        } else {
            last.push(k);
            cur += size;
        }
    }
    let total = u16::try_from(parts.len()).map_err(|_| {
        Error::Refused(format!(
            "{} parts needed, more than a WIM set can number (65535); choose a larger part size",
            parts.len()
        ))
    })?;
    let mut report = SplitReport {
        removed_temps: super::temp::remove_stale_split_temps(first),
        ..Default::default()
    };
    let (stale, other) = leftover_parts(src, first, total);
    if !other.is_empty() {
        let list = other
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", ");
        if !opts.force {
            return Err(Error::Refused(format!(
                "{list}: named like a part of the new split set but not one of its {total}                  parts nor a part of an earlier split of it; a glob over the set's names would                  pick it up with the new parts. Move it away (or force the split and leave it)"
            )));
        }
        report.warnings.push(format!(
            "{list}: named like a part of the new set but not one of its {total} parts; left              alone (do not read the set with a glob that matches it)"
        ));
    }
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(opts.threads)
        .build()
        .map_err(|e| Error::Refused(format!("cannot start worker threads: {e}")))?;
    let mut written: Vec<TmpPart> = Vec::new();
    for (pi, members) in parts.iter().enumerate() {
        let n = pi as u16 + 1;
        let dest = part_path(first, n);
        let tmp = super::temp::temp_path(&dest);
        let file = OpenOptions::new()
            .write(true)
            .read(true)
            .create_new(true)
            .open(&tmp)
            .map_err(|e| Error::io(&tmp, e))?;
        written.push(TmpPart {
            tmp: tmp.clone(),
            dest,
            done: false,
        });
        let mut out = Out::new(file, 0, tmp.clone());
        out.write_all(&[0u8; HEADER_SIZE])?;
        let mut entries: Vec<BlobRecord> = Vec::with_capacity(members.len());
        let mut boot_metadata = ResHdr::default();
        for &k in members {
            let it = &items[k];
            let res = src.resource_of(&it.loc);
            let data = src.part_data(res.part);
            let end = res
                .offset
                .checked_add(res.size_in_wim)
                .filter(|&e| e <= data.len() as u64)
                .ok_or_else(|| {
                    Error::Refused(format!(
                        "{}: resource at {:#x} of {} bytes runs past the end of the file",
                        src.parts[res.part as usize].path.display(),
                        res.offset,
                        res.size_in_wim
                    ))
                })?;
            let offset = out.pos;
            out.write_all(&data[res.offset as usize..end as usize])?;
            let reshdr = ResHdr {
                size_in_wim: res.size_in_wim,
                flags: if it.metadata { res_flags::METADATA } else { 0 }
                    | if res.compressed {
                        res_flags::COMPRESSED
                    } else {
                        0
                    },
                offset,
                uncompressed_size: res.uncompressed_size,
            };
            if it.metadata && h.boot_index != 0 && k + 1 == h.boot_index as usize {
                boot_metadata = reshdr;
            }
            entries.push(BlobRecord {
                reshdr,
                part_number: n,
                refcnt: it.refcnt,
                hash: it.loc.hash,
            });
        }
        let table = blob_table::encode(&entries);
        let raw = |offset: u64, len: u64, flags: u8| ResHdr {
            size_in_wim: len,
            flags,
            offset,
            uncompressed_size: len,
        };
        let bt = raw(out.pos, table.len() as u64, res_flags::METADATA);
        out.write_all(&table)?;
        let xml_hdr = raw(out.pos, doc.len() as u64, res_flags::METADATA);
        out.write_all(&doc)?;
        let mut integrity = ResHdr::default();
        if opts.integrity {
            out.flush()?;
            let t = super::integrity::build(
                out.w.get_ref(),
                &out.path,
                HEADER_SIZE as u64,
                bt.offset + bt.size_in_wim,
                &pool,
            )?;
            integrity = raw(out.pos, t.len() as u64, 0);
            out.write_all(&t)?;
        }
        let mut hdr = h.clone();
        hdr.flags = (hdr.flags | hdr_flags::SPANNED) & !hdr_flags::WRITE_IN_PROGRESS;
        hdr.part_number = n;
        hdr.total_parts = total;
        hdr.blob_table = bt;
        hdr.xml = xml_hdr;
        hdr.integrity = integrity;
        hdr.boot_metadata = boot_metadata;
        let end = out.pos;
        out.seek_to(0)?;
        out.write_all(&encode_header(&hdr))?;
        out.flush()?;
        let f = out.w.get_ref();
        f.set_len(end).map_err(|e| Error::io(&tmp, e))?;
        f.sync_all().map_err(|e| Error::io(&tmp, e))?;
    }
    for p in &mut written {
        std::fs::rename(&p.tmp, &p.dest).map_err(|e| Error::io(&p.dest, e))?;
        p.done = true;
        report.parts.push(p.dest.clone());
    }
    for p in stale {
        std::fs::remove_file(&p).map_err(|e| Error::io(&p, e))?;
        report.removed_stale_parts.push(p);
    }
    if let Some(dir) = first.parent() {
        let dir = if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        };
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn part_names_put_the_number_before_the_extension() {
        let p = Path::new("/x/install.swm");
        assert_eq!(part_path(p, 1), Path::new("/x/install.swm"));
        assert_eq!(part_path(p, 2), Path::new("/x/install2.swm"));
        assert_eq!(part_path(p, 12), Path::new("/x/install12.swm"));
        assert_eq!(part_path(Path::new("set"), 3), Path::new("set3"));
    }

    #[test]
    fn numbered_part_names() {
        let p = Path::new("/x/install.swm");
        assert_eq!(numbered_part(p, "install4.swm"), Some(4));
        assert_eq!(numbered_part(p, "install04.swm"), Some(4));
        assert_eq!(numbered_part(p, "install.swm"), None);
        assert_eq!(numbered_part(p, "installx.swm"), None);
        assert_eq!(numbered_part(p, "install4.wim"), None);
        assert_eq!(numbered_part(Path::new("set"), "set12"), Some(12));
    }
}
