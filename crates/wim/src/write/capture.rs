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
use crate::read::image::MAX_DEPTH;
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
    /// Entries that could not be read; the scan goes on to find them all,
    /// then fails listing them.
    errors: Vec<String>,
}

/// Most unreadable entries a scan error lists (the rest are counted).
const MAX_LISTED_ERRORS: usize = 20;

/// Characters Windows does not allow in a file name (besides the control
/// characters 0x01–0x1F): "Naming Files, Paths, and Namespaces", Win32 docs.
const WINDOWS_FORBIDDEN: &[char] = &['\\', ':', '*', '?', '"', '<', '>', '|'];

/// Why Windows (Win32) cannot create a file named `name`, or `None` when
/// it can. The WIM format stores any UTF-16 name, so such names are
/// captured (with a warning, as wimlib does); applying the image on
/// Windows would fail or skip them. Rules: no `\ : * ? " < > |`, no
/// control characters, no trailing dot or space, not a reserved device
/// name (`CON`, `PRN`, `AUX`, `NUL`, `COM1`–`COM9`, `LPT1`–`LPT9`, also
/// with an extension), at most 255 UTF-16 units.
pub fn windows_name_problem(name: &str) -> Option<String> {
    if let Some(c) = name.chars().find(|c| WINDOWS_FORBIDDEN.contains(c)) {
        return Some(format!(
            "holds {c:?}, which Windows does not allow in a name"
        ));
    }
    if let Some(c) = name.chars().find(|c| (*c as u32) < 0x20) {
        return Some(format!(
            "holds the control character U+{:04X}, which Windows does not allow in a name",
            c as u32
        ));
    }
    if name.ends_with('.') || name.ends_with(' ') {
        return Some("ends with a dot or a space, which Windows strips".into());
    }
    let stem = name.split('.').next().unwrap_or(name).trim_end_matches(' ');
    let upper = stem.to_ascii_uppercase();
    let reserved = matches!(upper.as_str(), "CON" | "PRN" | "AUX" | "NUL")
        || (upper.len() == 4
            && (upper.starts_with("COM") || upper.starts_with("LPT"))
            && matches!(upper.as_bytes()[3], b'1'..=b'9'));
    if reserved {
        return Some(format!("{stem:?} is a reserved device name on Windows"));
    }
    let units = name.encode_utf16().count();
    if units > 255 {
        return Some(format!("is {units} UTF-16 units long; Windows allows 255"));
    }
    None
}

/// Scan the directory `root` into a tree whose file streams read from the
/// host files when the image is written. Returns the tree and warnings.
///
/// What happens to unusual input (compare wimlib-imagex on Linux):
/// - an entry that cannot be read (a directory that cannot be listed, a
///   file that cannot be read, a name that is not UTF-8, a host path
///   too long for Linux calls) fails the scan; all of them are listed in
///   one error, before any file data is read;
/// - FIFOs, sockets and device nodes are skipped with a warning (never
///   opened);
/// - names Windows cannot hold ([`windows_name_problem`]) and names that
///   differ only in case within a directory are captured with a warning;
/// - an entry that vanishes between listing its directory and reading
///   its metadata is skipped with a warning; a file that changes size,
///   is replaced or vanishes after the scan fails the write (see
///   `open_regular`), and each blob's SHA-1 is computed over the bytes
///   written;
/// - a tree deeper than the reader's limit
///   ([`crate::read::image::MAX_DEPTH`]) is refused;
/// - symbolic links are stored as they are (dangling, looping or
///   pointing outside the tree), never followed.
pub fn scan_dir(root: &Path, opts: &CaptureOptions) -> Result<(ImageTree, Vec<String>)> {
    scan_dir_to_depth(root, opts, MAX_DEPTH)
}

/// [`scan_dir`] refusing trees deeper than `max_depth` directories.
fn scan_dir_to_depth(
    root: &Path,
    opts: &CaptureOptions,
    max_depth: usize,
) -> Result<(ImageTree, Vec<String>)> {
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
        errors: Vec::new(),
    };
    // Explicit stack: deep trees cannot overflow ours. Each directory
    // with its dentry, its path in the image (`/a/b`, empty for the
    // root) and its depth (the root's children are at depth 1).
    let mut stack = vec![(root.to_path_buf(), 0u32, String::new(), 1usize)];
    while let Some((dir, parent, dir_rel, depth)) = stack.pop() {
        let mut names = Vec::new();
        match std::fs::read_dir(&dir) {
            Ok(rd) => {
                for e in rd {
                    match e {
                        Ok(e) => names.push(e.file_name()),
                        Err(e) => {
                            s.error(&dir, "cannot be listed", e);
                            break;
                        }
                    }
                }
            }
            Err(e) => s.error(&dir, "cannot be listed", e),
        }
        names.sort();
        // Upper-cased name → first name, to find names Windows would
        // take for the same file.
        let mut folded: HashMap<String, String> = HashMap::new();
        for os in names {
            let path = dir.join(&os);
            let Some(name) = os.to_str() else {
                s.errors.push(format!(
                    "{}: the name is not valid UTF-8, so it has no UTF-16 form a WIM can \
                     store (rename it, or leave its directory out with --config)",
                    shown(&path)
                ));
                continue;
            };
            let rel = format!("{dir_rel}/{name}");
            if opts.config.as_ref().is_some_and(|c| c.excludes(&rel)) {
                continue;
            }
            let Some(added) = s.entry(&path, name.to_string(), parent)? else {
                continue;
            };
            if let Some(why) = windows_name_problem(name) {
                s.warnings.push(format!(
                    "{}: name {why}; captured, but Windows cannot apply it",
                    shown(&path)
                ));
            }
            match folded.entry(name.to_uppercase()) {
                std::collections::hash_map::Entry::Occupied(o) => s.warnings.push(format!(
                    "{}: differs from {:?} only in case; both captured, but Windows \
                     (case-insensitive) can hold only one of them",
                    shown(&path),
                    o.get()
                )),
                std::collections::hash_map::Entry::Vacant(v) => {
                    v.insert(name.to_string());
                }
            }
            if let Added::Dir(d) = added {
                if depth >= max_depth {
                    return Err(Error::Refused(format!(
                        "{}: directories nested {max_depth} deep; WIM readers refuse trees \
                         this deep",
                        shown(&path)
                    )));
                }
                stack.push((path, d, rel, depth + 1));
            }
        }
    }
    if !s.errors.is_empty() {
        let n = s.errors.len();
        let mut msg = format!(
            "{}: {n} {} cannot be captured (nothing was written):",
            shown(root),
            if n == 1 { "entry" } else { "entries" }
        );
        for e in s.errors.iter().take(MAX_LISTED_ERRORS) {
            msg.push_str("\n  ");
            msg.push_str(e);
        }
        if n > MAX_LISTED_ERRORS {
            msg.push_str(&format!("\n  … and {} more", n - MAX_LISTED_ERRORS));
        }
        return Err(Error::Refused(msg));
    }
    Ok((s.tree, s.warnings))
}

/// What [`Scan::entry`] added.
enum Added {
    /// A directory (its dentry), to descend.
    Dir(u32),
    /// Anything else.
    Leaf,
}

impl Scan<'_> {
    /// Record an entry that cannot be read.
    fn error(&mut self, path: &Path, what: &str, e: std::io::Error) {
        let hint = if e.raw_os_error() == Some(libc::ENAMETOOLONG) {
            " (the host path is longer than Linux accepts in one call, 4095 bytes; \
             capture a deeper directory instead)"
        } else {
            ""
        };
        self.errors
            .push(format!("{}: {what}: {e}{hint}", shown(path)));
    }

    /// Add one entry: `None` when it is skipped (or recorded as an
    /// error), else what was added.
    fn entry(&mut self, path: &Path, name: String, parent: u32) -> Result<Option<Added>> {
        let md = match std::fs::symlink_metadata(path) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                self.warnings.push(format!(
                    "{}: removed while the tree was being scanned; not captured",
                    shown(path)
                ));
                return Ok(None);
            }
            Err(e) => {
                self.error(path, "cannot read its metadata", e);
                return Ok(None);
            }
        };
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
            return Ok(Some(Added::Dir(self.tree.add_dentry(parent, name, ino))));
        }
        if ft.is_file() {
            let key = (md.dev(), md.ino());
            if md.nlink() > 1 {
                if let Some(&ino) = self.hard_links.get(&key) {
                    self.tree.add_dentry(parent, name, ino);
                    return Ok(Some(Added::Leaf));
                }
            }
            let size = md.len();
            // Find unreadable files now, before any data is written.
            if size > 0 {
                if let Err(e) = check_readable(path) {
                    self.error(path, "cannot be read", e);
                    return Ok(None);
                }
            }
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
            return Ok(Some(Added::Leaf));
        }
        if ft.is_symlink() {
            let t = match std::fs::read_link(path) {
                Ok(t) => t,
                Err(e) => {
                    self.error(path, "cannot read the link", e);
                    return Ok(None);
                }
            };
            let Some(target) = t.to_str() else {
                self.errors.push(format!(
                    "{}: symlink target {t:?} is not valid UTF-8, so it has no UTF-16 \
                     form a reparse point can store",
                    shown(path)
                ));
                return Ok(None);
            };
            let fixed = if self.opts.rp_fix {
                fix_target(target, self.root_id)
            } else {
                None
            };
            let data = match symlink_reparse_data(fixed.as_deref().unwrap_or(target)) {
                Ok(d) => d,
                Err(e) => {
                    self.errors.push(format!("{}: {e}", shown(path)));
                    return Ok(None);
                }
            };
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
            return Ok(Some(Added::Leaf));
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
            shown(path)
        ));
        Ok(None)
    }
}

/// `path` for a message: as it is when it is UTF-8 without control
/// characters, else quoted with escapes (`"a/\xFF\t"`), so odd names
/// are visible and cannot drive the terminal.
pub fn shown(path: &Path) -> String {
    match path.to_str() {
        Some(s) if !s.chars().any(char::is_control) => s.to_string(),
        _ => format!("{path:?}"),
    }
}

/// Open a file that the scan found to be a regular file, for reading:
/// without blocking (a FIFO swapped in after the scan reads as empty
/// instead of hanging the capture) and without following a symbolic link
/// swapped in. Anything else swapped in (a FIFO, a device, a directory)
/// fails on reading or reads a size other than the scanned one, which
/// the writers refuse ("changed while being captured"); no `fstat` here
/// keeps the per-file cost of large trees down.
pub(crate) fn open_regular(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOFOLLOW)
        .open(path)
        .map_err(|e| {
            if e.raw_os_error() == Some(libc::ELOOP) {
                std::io::Error::new(e.kind(), "replaced by a symbolic link")
            } else {
                e
            }
        })
}

/// Whether we may read `path` (`faccessat(R_OK)` with the effective ids):
/// one system call per file finds unreadable files during the scan,
/// before any data is written. Other read failures still surface when
/// the file is read.
fn check_readable(path: &Path) -> std::io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes())
        .map_err(|_| std::io::Error::from(std::io::ErrorKind::InvalidInput))?;
    // SAFETY: `c` is a valid NUL-terminated path that outlives the call.
    let r = unsafe { libc::faccessat(libc::AT_FDCWD, c.as_ptr(), libc::R_OK, libc::AT_EACCESS) };
    if r == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
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
    fn windows_name_rules() {
        for ok in [
            "a",
            "COM10",
            "CONSOLE",
            "nul-ish.txt",
            "a.b c",
            ".hidden",
            "日本",
        ] {
            assert_eq!(windows_name_problem(ok), None, "{ok}");
        }
        let long = "é".repeat(256);
        for (bad, why) in [
            ("a:b", "':'"),
            ("a\\b", "'\\\\'"),
            ("a\u{1f}", "U+001F"),
            ("x.", "ends with"),
            ("x ", "ends with"),
            ("con", "reserved"),
            ("NUL.tar.gz", "reserved"),
            ("Com7.txt", "reserved"),
            ("LPT1 .log", "reserved"),
            (long.as_str(), "256 UTF-16 units"),
        ] {
            let got = windows_name_problem(bad).unwrap_or_else(|| panic!("{bad:?} passed"));
            assert!(got.contains(why), "{bad:?}: {got}");
        }
    }

    /// A file swapped for a FIFO or a symbolic link after the scan fails
    /// the write; it never blocks and never reads the link's target.
    #[test]
    fn files_swapped_after_the_scan_fail_without_blocking() {
        use crate::write::{WimWriter, WriteOptions};
        let t = tempfile::tempdir().unwrap();
        let src = t.path().join("src");
        std::fs::create_dir(&src).unwrap();
        std::fs::write(src.join("f"), b"data").unwrap();
        std::fs::write(t.path().join("other"), b"othr").unwrap();
        for swap in ["fifo", "symlink"] {
            let (tree, _) = scan_dir(&src, &CaptureOptions::default()).unwrap();
            std::fs::remove_file(src.join("f")).unwrap();
            if swap == "fifo" {
                let c = std::ffi::CString::new(src.join("f").to_str().unwrap()).unwrap();
                // SAFETY: a valid NUL-terminated path.
                assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
            } else {
                std::os::unix::fs::symlink(t.path().join("other"), src.join("f")).unwrap();
            }
            let dest = t.path().join("o.wim");
            let (tx, rx) = std::sync::mpsc::channel();
            std::thread::spawn(move || {
                let mut w = WimWriter::create(&dest, WriteOptions::default()).unwrap();
                let _ = tx.send(w.add_image(tree, "x", None).map(|_| ()));
            });
            let r = rx
                .recv_timeout(std::time::Duration::from_secs(60))
                .unwrap_or_else(|_| panic!("{swap}: the write blocked"));
            let e = r.expect_err(swap).to_string();
            let want = if swap == "fifo" {
                "changed while being captured (expected 4 bytes)"
            } else {
                "replaced by a symbolic link"
            };
            assert!(e.contains(want), "{swap}: {e}");
            assert!(e.contains(&src.join("f").display().to_string()), "{e}");
            std::fs::remove_file(src.join("f")).unwrap();
            std::fs::write(src.join("f"), b"data").unwrap();
        }
    }

    #[test]
    fn trees_deeper_than_the_limit_are_refused() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path().join("r");
        std::fs::create_dir_all(root.join("a/b/c")).unwrap();
        std::fs::write(root.join("a/b/c/f"), b"x").unwrap();
        // A directory at depth d (the root's children at 1) is refused
        // when d reaches the limit, as the reader refuses the children of
        // one at depth MAX_DEPTH (root at 0).
        assert!(scan_dir_to_depth(&root, &CaptureOptions::default(), 4).is_ok());
        let e = scan_dir_to_depth(&root, &CaptureOptions::default(), 3)
            .unwrap_err()
            .to_string();
        assert!(e.contains("directories nested 3 deep"), "{e}");
        assert!(e.contains(&root.join("a/b/c").display().to_string()), "{e}");
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
