//! Extraction of an image into a POSIX directory: file contents byte-exact,
//! hard links as hard links, symbolic links and junctions as symlinks,
//! modification and access times. What a Linux directory cannot hold
//! (named streams, security descriptors, other reparse points, EAs, object
//! IDs, short names, encrypted data) is counted in an [`ExtractSummary`],
//! never silently dropped.
//!
//! Paths come from the archive, so every name is checked: names that are
//! empty, `.`, `..` or contain `/` or NUL never reach the filesystem, no
//! existing file is overwritten or followed (files are created exclusively,
//! symlinks are made last, after every directory and file exists), and a
//! fresh destination is built under a temporary name and renamed when done.

use super::{filetime_to_system, stream_targets};
use crate::format::{attr, reparse};
use crate::pipeline::{stream_blobs, BlobSink, Options};
use crate::read::dentry::StreamKind;
use crate::read::image::Image;
use crate::read::{BlobLoc, Wim};
use crate::{Error, Result};
use std::collections::HashMap;
use std::fs::{self, File, FileTimes, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

/// What was extracted and what a POSIX directory could not represent.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct ExtractSummary {
    pub directories: u64,
    pub files: u64,
    pub hard_links: u64,
    pub symlinks: u64,
    pub bytes: u64,
    /// Named data streams (ADS) not extracted.
    pub named_streams_skipped: u64,
    /// Files and directories whose Windows security descriptor was not applied.
    pub security_descriptors_skipped: u64,
    /// Reparse points other than symlinks/junctions, not extracted.
    pub reparse_points_skipped: u64,
    pub short_names_skipped: u64,
    pub eas_skipped: u64,
    pub object_ids_skipped: u64,
    /// Encrypted (EFS) files: created empty, their raw data not written.
    pub encrypted_files_skipped: u64,
    /// Entries whose names cannot exist on Linux (and their subtrees).
    pub invalid_names_skipped: u64,
    pub warnings: Vec<String>,
}

impl ExtractSummary {
    /// Lines describing what was not extracted (empty when nothing).
    pub fn not_extracted(&self) -> Vec<String> {
        let mut v = Vec::new();
        let mut add = |n: u64, what: &str| {
            if n > 0 {
                v.push(format!("{n} {what}"));
            }
        };
        add(
            self.named_streams_skipped,
            "named data streams (ADS) not extracted",
        );
        add(
            self.security_descriptors_skipped,
            "files with Windows security descriptors (not applied)",
        );
        add(
            self.reparse_points_skipped,
            "reparse points other than symlinks/junctions not extracted",
        );
        add(self.short_names_skipped, "DOS short names not applied");
        add(
            self.eas_skipped,
            "files with extended attributes (not applied)",
        );
        add(self.object_ids_skipped, "object IDs not applied");
        add(
            self.encrypted_files_skipped,
            "encrypted files created empty",
        );
        add(
            self.invalid_names_skipped,
            "entries with names invalid on Linux skipped",
        );
        v
    }
}

#[derive(Debug, Clone, Default)]
pub struct ExtractOptions {
    pub pipeline: Options,
}

/// Extract image `index` of `wim` into `dest`.
pub fn extract(
    wim: &Wim,
    image: &Image,
    dest: &Path,
    opts: &ExtractOptions,
    progress: &(dyn Fn(u64, u64) + Sync),
) -> Result<ExtractSummary> {
    // A fresh destination is staged under a temporary name.
    let (root, staged) = match fs::symlink_metadata(dest) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => (staging_name(dest), true),
        Err(e) => return Err(Error::io(dest, e)),
        Ok(m) if m.is_dir() => {
            let empty = fs::read_dir(dest)
                .map_err(|e| Error::io(dest, e))?
                .next()
                .is_none();
            if empty {
                fs::remove_dir(dest).map_err(|e| Error::io(dest, e))?;
                (staging_name(dest), true)
            } else {
                (dest.to_path_buf(), false)
            }
        }
        Ok(_) => {
            return Err(Error::Refused(format!(
                "{}: exists and is not a directory",
                dest.display()
            )))
        }
    };
    if staged {
        fs::create_dir(&root).map_err(|e| Error::io(&root, e))?;
    }
    // Absolute link targets are re-rooted at the final destination, as
    // wimlib does (its path with symlinks resolved).
    let final_root = match (dest.parent(), dest.file_name()) {
        (Some(parent), Some(name)) => {
            let parent = if parent.as_os_str().is_empty() {
                Path::new(".")
            } else {
                parent
            };
            fs::canonicalize(parent)
                .map_err(|e| Error::io(parent, e))?
                .join(name)
        }
        _ => fs::canonicalize(dest).map_err(|e| Error::io(dest, e))?,
    };
    let result = extract_into(wim, image, &root, &final_root, opts, progress);
    match result {
        Ok(s) => {
            if staged {
                fs::rename(&root, dest).map_err(|e| Error::io(dest, e))?;
            }
            Ok(s)
        }
        Err(e) => {
            if staged {
                let _ = fs::remove_dir_all(&root);
            }
            Err(e)
        }
    }
}

fn staging_name(dest: &Path) -> PathBuf {
    let name = dest
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "extract".into());
    dest.with_file_name(format!(".{name}.wimforge-partial-{}", std::process::id()))
}

fn extract_into(
    wim: &Wim,
    image: &Image,
    root: &Path,
    final_root: &Path,
    opts: &ExtractOptions,
    progress: &(dyn Fn(u64, u64) + Sync),
) -> Result<ExtractSummary> {
    let mut sum = ExtractSummary {
        warnings: image.warnings.clone(),
        ..Default::default()
    };
    let n = image.dentries.len();
    // Path of every dentry we materialise; None for skipped ones.
    let mut paths: Vec<Option<PathBuf>> = vec![None; n];
    paths[0] = Some(root.to_path_buf());
    // First path of each inode (where its data goes).
    let mut inode_path: Vec<Option<PathBuf>> = vec![None; image.inodes.len()];
    inode_path[image.dentries[0].inode as usize] = Some(root.to_path_buf());
    let mut symlinks: Vec<(u32, PathBuf)> = Vec::new();
    let mut dirs: Vec<(PathBuf, u32)> = vec![(root.to_path_buf(), image.dentries[0].inode)];

    for d in image.preorder().into_iter().skip(1) {
        let den = &image.dentries[d as usize];
        let Some(parent) = paths[den.parent as usize].clone() else {
            continue; // inside a skipped subtree
        };
        if !name_ok(&den.name) {
            sum.invalid_names_skipped += 1;
            sum.warnings.push(format!(
                "skipped {}: name cannot exist in a Linux directory",
                image.path(d)
            ));
            continue;
        }
        let path = parent.join(&den.name);
        let ino = den.inode as usize;
        let inode = &image.inodes[ino];
        if !den.short_name.is_empty() {
            sum.short_names_skipped += 1;
        }
        let first = inode_path[ino].is_none();
        if first {
            if inode.security_id.is_some() {
                sum.security_descriptors_skipped += 1;
            }
            sum.named_streams_skipped += inode.named_streams().count() as u64;
            if inode.xattrs.is_some() {
                sum.eas_skipped += 1;
            }
            if inode.object_id.is_some() {
                sum.object_ids_skipped += 1;
            }
        }
        let is_link_reparse = inode.is_reparse_point()
            && (inode.reparse_tag == reparse::SYMLINK || inode.reparse_tag == reparse::MOUNT_POINT);
        if inode.is_directory() && !(is_link_reparse && den.children.is_empty()) {
            if inode.is_reparse_point() {
                sum.reparse_points_skipped += 1;
            }
            fs::create_dir(&path).map_err(|e| Error::io(&path, e))?;
            sum.directories += 1;
            dirs.push((path.clone(), den.inode));
            paths[d as usize] = Some(path.clone());
            inode_path[ino] = Some(path);
            continue;
        }
        if is_link_reparse {
            symlinks.push((den.inode, path.clone()));
            paths[d as usize] = None;
            continue;
        }
        if inode.is_reparse_point() {
            sum.reparse_points_skipped += 1;
        }
        if let Some(target) = &inode_path[ino] {
            fs::hard_link(target, &path).map_err(|e| Error::io(&path, e))?;
            sum.hard_links += 1;
        } else {
            OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
                .map_err(|e| Error::io(&path, e))?;
            sum.files += 1;
            if inode.attributes & attr::ENCRYPTED != 0 {
                sum.encrypted_files_skipped += 1;
            }
            inode_path[ino] = Some(path.clone());
        }
        paths[d as usize] = Some(path);
    }

    // Stream contents: unnamed data of materialised, unencrypted files, and
    // reparse data of the symlinks we will create.
    let is_symlink_inode: Vec<bool> = {
        let mut v = vec![false; image.inodes.len()];
        for (ino, _) in &symlinks {
            v[*ino as usize] = true;
        }
        v
    };
    let targets = stream_targets(wim, image, |ino, si| {
        let inode = &image.inodes[ino as usize];
        let s = &inode.streams[si];
        match s.kind {
            StreamKind::Reparse => is_symlink_inode[ino as usize],
            StreamKind::Data => {
                s.name.is_empty()
                    && !inode.is_directory()
                    && inode.attributes & attr::ENCRYPTED == 0
                    && inode_path[ino as usize].is_some()
                    && !is_symlink_inode[ino as usize]
            }
        }
    })?;
    let total = targets.total_bytes;
    let mut sink = DirSink {
        image,
        inode_path: &inode_path,
        by_hash: &targets.by_hash,
        file: None,
        reparse: HashMap::new(),
        buf: None,
        bytes: 0,
    };
    let done = std::sync::atomic::AtomicU64::new(0);
    stream_blobs(
        wim,
        targets.blobs.iter().copied(),
        &mut sink,
        &opts.pipeline,
        &|n| {
            let v = done.fetch_add(n, std::sync::atomic::Ordering::Relaxed) + n;
            progress(v.min(total), total);
        },
    )?;
    sum.bytes = sink.bytes;
    let reparse_data = std::mem::take(&mut sink.reparse);

    // Symlinks last: nothing is ever created through one.
    for (ino, path) in &symlinks {
        let inode = &image.inodes[*ino as usize];
        let data = inode
            .reparse_stream()
            .and_then(|s| reparse_data.get(&s.hash))
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        match symlink_target(inode.reparse_tag, data, final_root) {
            Some(t) => {
                std::os::unix::fs::symlink(&t, path).map_err(|e| Error::io(path, e))?;
                set_link_times(path, inode.last_access_time, inode.last_write_time)?;
                sum.symlinks += 1;
            }
            None => {
                sum.reparse_points_skipped += 1;
                sum.warnings.push(format!(
                    "{}: reparse data of {:#x} could not be read as a link",
                    path.display(),
                    inode.reparse_tag
                ));
            }
        }
    }

    // Times last, deepest directories last so that creating children does
    // not disturb them.
    for (ino, p) in inode_path.iter().enumerate() {
        let inode = &image.inodes[ino];
        if let Some(p) = p {
            if !inode.is_directory() {
                set_times(p, inode.last_access_time, inode.last_write_time)?;
            }
        }
    }
    for (p, ino) in dirs.iter().rev() {
        let inode = &image.inodes[*ino as usize];
        set_times(p, inode.last_access_time, inode.last_write_time)?;
    }
    Ok(sum)
}

fn name_ok(name: &str) -> bool {
    !name.is_empty() && name != "." && name != ".." && !name.contains(['/', '\0'])
}

fn set_times(p: &Path, atime: u64, mtime: u64) -> Result<()> {
    let f = File::open(p).map_err(|e| Error::io(p, e))?;
    let t = FileTimes::new()
        .set_accessed(filetime_to_system(atime))
        .set_modified(filetime_to_system(mtime));
    f.set_times(t).map_err(|e| Error::io(p, e))
}

/// Set a symlink's own times (never its target's).
fn set_link_times(p: &Path, atime: u64, mtime: u64) -> Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(p.as_os_str().as_bytes())
        .map_err(|_| Error::Refused(format!("{}: path contains NUL", p.display())))?;
    let ts = |ft: u64| {
        let d = filetime_to_system(ft)
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        libc::timespec {
            tv_sec: d.as_secs() as libc::time_t,
            tv_nsec: d.subsec_nanos() as _,
        }
    };
    let times = [ts(atime), ts(mtime)];
    // SAFETY: `c` is a valid NUL-terminated path and `times` two timespecs.
    let r = unsafe {
        libc::utimensat(
            libc::AT_FDCWD,
            c.as_ptr(),
            times.as_ptr(),
            libc::AT_SYMLINK_NOFOLLOW,
        )
    };
    if r != 0 {
        return Err(Error::io(p, std::io::Error::last_os_error()));
    }
    Ok(())
}

/// Largest reparse data kept (the format's limit is 16 KiB).
const MAX_REPARSE: usize = 16 * 1024;

/// Link target of a symlink or junction's reparse data
/// (MS-FSCC 2.1.2.4 / 2.1.2.5: substitute and print names as UTF-16
/// offsets/lengths after the 8-byte header, which WIM does not store; for
/// symlinks a 4-byte flags field follows, bit 0 = relative). Absolute
/// targets are re-rooted under the extraction root.
fn symlink_target(tag: u32, data: &[u8], root: &Path) -> Option<PathBuf> {
    let b = crate::bytes::Bytes::new(data, 0, "reparse data");
    let sub_off = b.u16(0).ok()? as usize;
    let sub_len = b.u16(2).ok()? as usize;
    let print_off = b.u16(4).ok()? as usize;
    let print_len = b.u16(6).ok()? as usize;
    let (base, relative) = if tag == reparse::SYMLINK {
        (12usize, b.u32(8).ok()? & 1 != 0)
    } else {
        (8usize, false)
    };
    let name = |off: usize, len: usize| -> Option<String> {
        let raw = b.slice(base.checked_add(off)?, len).ok()?;
        Some(crate::bytes::utf16le_to_string(raw))
    };
    let print = name(print_off, print_len).filter(|s| !s.is_empty());
    let target = match print {
        Some(p) => p,
        None => name(sub_off, sub_len)?,
    };
    if relative {
        return Some(PathBuf::from(target.replace('\\', "/")));
    }
    // Absolute: strip an NT prefix and a drive letter, then re-root.
    let t = target
        .strip_prefix("\\??\\")
        .or_else(|| target.strip_prefix("\\\\?\\"))
        .unwrap_or(&target);
    let t = if t.len() >= 2 && t.as_bytes()[1] == b':' {
        &t[2..]
    } else {
        t
    };
    let rel: PathBuf = t
        .split('\\')
        .filter(|c| !c.is_empty() && *c != "." && *c != "..")
        .collect();
    Some(root.join(rel))
}

struct DirSink<'a> {
    image: &'a Image,
    inode_path: &'a [Option<PathBuf>],
    by_hash: &'a HashMap<[u8; 20], Vec<(u32, usize)>>,
    file: Option<(File, PathBuf)>,
    reparse: HashMap<[u8; 20], Vec<u8>>,
    /// Reparse data being collected.
    buf: Option<Vec<u8>>,
    bytes: u64,
}

impl DirSink<'_> {
    fn data_targets(&self, hash: &[u8; 20]) -> impl Iterator<Item = &PathBuf> {
        self.by_hash
            .get(hash)
            .into_iter()
            .flatten()
            .filter(|(ino, si)| {
                self.image.inodes[*ino as usize].streams[*si].kind == StreamKind::Data
            })
            .filter_map(|(ino, _)| self.inode_path[*ino as usize].as_ref())
    }

    fn wants_reparse(&self, hash: &[u8; 20]) -> bool {
        self.by_hash
            .get(hash)
            .into_iter()
            .flatten()
            .any(|(ino, si)| {
                self.image.inodes[*ino as usize].streams[*si].kind == StreamKind::Reparse
            })
    }
}

impl BlobSink for DirSink<'_> {
    fn begin(&mut self, blob: &BlobLoc) -> Result<()> {
        let first = self.data_targets(&blob.hash).next().cloned();
        if let Some(p) = first {
            let f = OpenOptions::new()
                .write(true)
                .open(&p)
                .map_err(|e| Error::io(&p, e))?;
            self.file = Some((f, p));
        }
        if self.wants_reparse(&blob.hash) {
            if blob.size as usize > MAX_REPARSE {
                return Err(Error::Refused(format!(
                    "reparse data blob {} is {} bytes (limit {MAX_REPARSE})",
                    crate::bytes::hex(&blob.hash),
                    blob.size
                )));
            }
            self.buf = Some(Vec::with_capacity(blob.size as usize));
        }
        Ok(())
    }

    fn data(&mut self, _blob: &BlobLoc, bytes: &[u8]) -> Result<()> {
        if let Some((f, p)) = &mut self.file {
            f.write_all(bytes).map_err(|e| Error::io(&*p, e))?;
        }
        if let Some(b) = &mut self.buf {
            b.extend_from_slice(bytes);
        }
        Ok(())
    }

    fn end(&mut self, blob: &BlobLoc) -> Result<()> {
        if let Some((f, p)) = self.file.take() {
            drop(f);
            self.bytes = self.bytes.saturating_add(blob.size);
            // Other files with the same contents get a copy.
            let others: Vec<PathBuf> = self.data_targets(&blob.hash).skip(1).cloned().collect();
            for o in others {
                fs::copy(&p, &o).map_err(|e| Error::io(&o, e))?;
                self.bytes = self.bytes.saturating_add(blob.size);
            }
        }
        if let Some(b) = self.buf.take() {
            self.reparse.insert(blob.hash, b);
        }
        Ok(())
    }
}
