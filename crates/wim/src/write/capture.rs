//! Scanning a Linux directory into an [`ImageTree`] (compare wimlib
//! `unix_capture.c`): directories, regular files, symbolic links stored as
//! `IO_REPARSE_TAG_SYMLINK` reparse points (MS-FSCC 2.1.2.4), hard links
//! detected by (device, inode), and timestamps. Other file types (FIFOs,
//! sockets, devices) cannot be represented without wimlib's UNIX data
//! extension and are skipped with a warning.
//!
//! Mapping (as wimlib does it): regular file → `FILE_ATTRIBUTE_NORMAL`;
//! directory → `FILE_ATTRIBUTE_DIRECTORY`; symlink → `REPARSE_POINT`, plus
//! `DIRECTORY` when its target is a directory. Creation time = last write
//! time = mtime; last access time = atime (= mtime in deterministic mode,
//! since reading the files changes their atime). A relative target is
//! stored with `SYMBOLIC_LINK_RELATIVE` and `\` separators; an absolute
//! one as `\??\C:\…` without the relative flag, which wimlib and Windows
//! read back as the same absolute path. With reparse point fixups
//! ([`CaptureOptions::rp_fix`]) an absolute target inside the captured tree
//! is first made absolute relative to the tree's root, found as wimlib
//! does by comparing each leading directory of the target with the root's
//! (device, inode).

use super::capture_config::CaptureConfig;
use super::metadata::{ImageTree, NewInode, NewStream};
use super::resource::BlobSource;
use super::unix_to_filetime;
use crate::error::{Error, Result};
use crate::format::{attr, reparse};
use crate::read::dentry::StreamKind;
use std::collections::HashMap;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;
use std::sync::Arc;

/// Options of a directory scan.
#[derive(Debug, Clone, Default)]
pub struct CaptureOptions {
    /// Record mtime as the last access time, so captures of an unchanged
    /// tree are byte-identical.
    pub deterministic: bool,
    /// Reparse point fixups (wimlib's `--rpfix`, its capture default): an
    /// absolute symlink whose target lies inside the captured tree is
    /// stored relative to the tree's root (`/etc/x` under root `/` of the
    /// image) and marked fixed, so extraction re-roots it at the
    /// destination. The WIM's header should then carry `RP_FIX`.
    pub rp_fix: bool,
    /// Paths left out (none when `None`; wimlib-imagex's default is
    /// [`CaptureConfig::windows_default`]). A directory left out is not
    /// read.
    pub config: Option<Arc<CaptureConfig>>,
}

/// Largest reparse data a reparse point may hold (the 16 KiB buffer limit
/// less the 8-byte header).
pub const MAX_REPARSE_DATA: usize = 16 * 1024 - 8;

/// `wimlib`'s "reparse point not fixed" flag in `rp_flags`.
pub const RP_FLAG_NOT_FIXED: u16 = 0x0001;

/// Reparse data (without the 8-byte reparse header) of a symbolic link to
/// `target` (a Linux path): `{u16 subst_off, u16 subst_len, u16 print_off,
/// u16 print_len, u32 flags}` then the substitute and print names, each
/// NUL-terminated. Slashes become backslashes and backslashes slashes, so
/// targets holding `\` survive the round trip.
pub fn symlink_reparse_data(target: &str) -> Result<Vec<u8>> {
    let swapped: String = target
        .chars()
        .map(|c| match c {
            '/' => '\\',
            '\\' => '/',
            c => c,
        })
        .collect();
    let absolute = swapped.starts_with('\\') || swapped.is_empty();
    let (subst, print, flags) = if absolute {
        (format!("\\??\\C:{swapped}"), format!("C:{swapped}"), 0u32)
    } else {
        (swapped.clone(), swapped, 1u32)
    };
    let s = super::utf16le(&subst);
    let p = super::utf16le(&print);
    let mut d = Vec::with_capacity(12 + s.len() + p.len() + 4);
    let len16 = |n: usize| -> Result<[u8; 2]> {
        u16::try_from(n)
            .map(u16::to_le_bytes)
            .map_err(|_| Error::Refused(format!("symlink target {target:?} is too long")))
    };
    d.extend_from_slice(&len16(0)?);
    d.extend_from_slice(&len16(s.len())?);
    d.extend_from_slice(&len16(s.len() + 2)?);
    d.extend_from_slice(&len16(p.len())?);
    d.extend_from_slice(&flags.to_le_bytes());
    d.extend_from_slice(&s);
    d.extend_from_slice(&[0, 0]);
    d.extend_from_slice(&p);
    d.extend_from_slice(&[0, 0]);
    if d.len() > MAX_REPARSE_DATA {
        return Err(Error::Refused(format!(
            "symlink target {target:?} is too long for a reparse point"
        )));
    }
    Ok(d)
}

fn times(md: &std::fs::Metadata, opts: &CaptureOptions) -> (u64, u64, u64) {
    let mtime = unix_to_filetime(md.mtime(), md.mtime_nsec() as u32);
    let atime = if opts.deterministic {
        mtime
    } else {
        unix_to_filetime(md.atime(), md.atime_nsec() as u32)
    };
    (mtime, atime, mtime)
}

struct Scan<'a> {
    opts: &'a CaptureOptions,
    root_id: (u64, u64),
    tree: ImageTree,
    hard_links: HashMap<(u64, u64), u32>,
    warnings: Vec<String>,
}

/// Scan the directory `root` into a tree whose file streams read from the
/// host files when the image is written. Returns the tree and warnings
/// (skipped special files).
pub fn scan_dir(root: &Path, opts: &CaptureOptions) -> Result<(ImageTree, Vec<String>)> {
    let md = std::fs::symlink_metadata(root).map_err(|e| Error::io(root, e))?;
    if !md.is_dir() {
        return Err(Error::Refused(format!(
            "{}: capture source must be a directory",
            root.display()
        )));
    }
    let (c, a, w) = times(&md, opts);
    let mut s = Scan {
        opts,
        root_id: (md.dev(), md.ino()),
        tree: ImageTree::new(NewInode {
            attributes: attr::DIRECTORY,
            creation_time: c,
            last_access_time: a,
            last_write_time: w,
            ..Default::default()
        }),
        hard_links: HashMap::new(),
        warnings: Vec::new(),
    };
    // Explicit stack: deep trees cannot overflow ours. Each directory
    // with its dentry and its path in the image (`/a/b`, empty for the
    // root).
    let mut stack = vec![(root.to_path_buf(), 0u32, String::new())];
    while let Some((dir, parent, dir_rel)) = stack.pop() {
        let mut names = Vec::new();
        for e in std::fs::read_dir(&dir).map_err(|e| Error::io(&dir, e))? {
            names.push(e.map_err(|e| Error::io(&dir, e))?.file_name());
        }
        names.sort();
        for os in names {
            let path = dir.join(&os);
            let name = os.to_str().ok_or_else(|| {
                Error::Refused(format!(
                    "{}: file name is not valid UTF-8 and cannot be stored in a WIM",
                    path.display()
                ))
            })?;
            let rel = format!("{dir_rel}/{name}");
            if opts.config.as_ref().is_some_and(|c| c.excludes(&rel)) {
                continue;
            }
            if let Some(d) = s.entry(&path, name.to_string(), parent)? {
                stack.push((path, d, rel));
            }
        }
    }
    Ok((s.tree, s.warnings))
}

impl Scan<'_> {
    /// Add one entry; returns its dentry when it is a directory to descend.
    fn entry(&mut self, path: &Path, name: String, parent: u32) -> Result<Option<u32>> {
        let md = std::fs::symlink_metadata(path).map_err(|e| Error::io(path, e))?;
        let ft = md.file_type();
        let (c, a, w) = times(&md, self.opts);
        let base = NewInode {
            creation_time: c,
            last_access_time: a,
            last_write_time: w,
            ..Default::default()
        };
        if ft.is_dir() {
            let ino = self.tree.add_inode(NewInode {
                attributes: attr::DIRECTORY,
                ..base
            });
            return Ok(Some(self.tree.add_dentry(parent, name, ino)));
        }
        if ft.is_file() {
            let key = (md.dev(), md.ino());
            if md.nlink() > 1 {
                if let Some(&ino) = self.hard_links.get(&key) {
                    self.tree.add_dentry(parent, name, ino);
                    return Ok(None);
                }
            }
            let size = md.len();
            let ino = self.tree.add_inode(NewInode {
                attributes: attr::NORMAL,
                streams: vec![NewStream {
                    name: String::new(),
                    kind: StreamKind::Data,
                    size,
                    hash: [0; 20],
                    source: (size > 0).then(|| BlobSource::File(path.to_path_buf())),
                }],
                ..base
            });
            if md.nlink() > 1 {
                self.hard_links.insert(key, ino);
            }
            self.tree.add_dentry(parent, name, ino);
            return Ok(None);
        }
        if ft.is_symlink() {
            let t = std::fs::read_link(path).map_err(|e| Error::io(path, e))?;
            let target = t.to_str().ok_or_else(|| {
                Error::Refused(format!(
                    "{}: symlink target is not valid UTF-8",
                    path.display()
                ))
            })?;
            let fixed = if self.opts.rp_fix {
                fix_target(target, self.root_id)
            } else {
                None
            };
            let data = symlink_reparse_data(fixed.as_deref().unwrap_or(target))
                .map_err(|e| Error::Refused(format!("{}: {e}", path.display())))?;
            let to_dir = std::fs::metadata(path).map(|m| m.is_dir()).unwrap_or(false);
            let ino = self.tree.add_inode(NewInode {
                attributes: attr::REPARSE_POINT | if to_dir { attr::DIRECTORY } else { 0 },
                reparse_tag: reparse::SYMLINK,
                rp_flags: if fixed.is_some() {
                    0
                } else {
                    RP_FLAG_NOT_FIXED
                },
                streams: vec![NewStream {
                    name: String::new(),
                    kind: StreamKind::Reparse,
                    size: data.len() as u64,
                    hash: [0; 20],
                    source: Some(BlobSource::Bytes(Arc::new(data))),
                }],
                ..base
            });
            self.tree.add_dentry(parent, name, ino);
            return Ok(None);
        }
        let what = if ft.is_fifo() {
            "FIFO"
        } else if ft.is_socket() {
            "socket"
        } else if ft.is_block_device() || ft.is_char_device() {
            "device node"
        } else {
            "special file"
        };
        self.warnings.push(format!(
            "{}: {what} cannot be stored in a WIM; skipped",
            path.display()
        ));
        Ok(None)
    }
}

/// The target of an absolute link relative to the capture root (with a
/// leading `/`, or empty for the root itself), when a leading part of it
/// is the root directory (same device and inode).
fn fix_target(target: &str, root: (u64, u64)) -> Option<String> {
    if !target.starts_with('/') {
        return None;
    }
    let ends = target
        .char_indices()
        .filter(|&(i, c)| c == '/' && i > 0)
        .map(|(i, _)| i)
        .chain(std::iter::once(target.len()));
    for end in ends {
        let prefix = &target[..end];
        if let Ok(m) = std::fs::metadata(prefix) {
            if (m.dev(), m.ino()) == root {
                return Some(target[end..].to_string());
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symlink_data_matches_the_reparse_layout() {
        let d = symlink_reparse_data("a/b").unwrap();
        // subst at 0, 6 bytes; print at 8, 6 bytes; relative.
        assert_eq!(&d[..12], &[0, 0, 6, 0, 8, 0, 6, 0, 1, 0, 0, 0]);
        assert_eq!(&d[12..18], &[b'a', 0, b'\\', 0, b'b', 0]);
        let d = symlink_reparse_data("/etc/x").unwrap();
        assert_eq!(u32::from_le_bytes(d[8..12].try_into().unwrap()), 0);
        let subst_len = u16::from_le_bytes([d[2], d[3]]) as usize;
        let s = crate::bytes::utf16le_to_string(&d[12..12 + subst_len]);
        assert_eq!(s, "\\??\\C:\\etc\\x");
        assert!(symlink_reparse_data(&"x".repeat(9000)).is_err());
    }

    #[test]
    fn absolute_targets_inside_the_root_are_fixed() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path().join("r");
        std::fs::create_dir_all(root.join("d")).unwrap();
        let m = std::fs::metadata(&root).unwrap();
        let id = (m.dev(), m.ino());
        let r = root.to_str().unwrap();
        assert_eq!(fix_target(&format!("{r}/d/x"), id).as_deref(), Some("/d/x"));
        assert_eq!(fix_target(r, id).as_deref(), Some(""));
        assert_eq!(fix_target("/etc/hostname", id), None);
        assert_eq!(fix_target("d/x", id), None);
    }
}
