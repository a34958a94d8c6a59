//! Reading the boot files out of the Windows partition (NTFS, through
//! `ntfs_inject`'s reader): single files and whole directory trees.

use crate::{Error, Result};
use blockdev::BlockDev;
use ntfs_inject::layout::attr_type;
use ntfs_inject::Volume;

/// Largest single boot file read (bootmgfw.efi is about 2 MiB; the largest
/// files under `Windows\Boot` are fonts of a few MiB).
pub const MAX_FILE: u64 = 64 << 20;
/// Most bytes one directory tree may hold.
pub const MAX_TREE: u64 = 512 << 20;
/// Deepest directory nesting followed.
pub const MAX_DEPTH: usize = 16;
/// Most entries one tree may hold.
pub const MAX_ENTRIES: usize = 20_000;

/// An entry of a collected tree: a path relative to the tree's root
/// (`/`-separated) and the file's bytes, or `None` for a directory.
pub type Entry = (String, Option<Vec<u8>>);

/// The Windows volume, read-only.
pub struct WindowsTree<D: BlockDev> {
    vol: Volume<D>,
}

fn ntfs(path: &str, e: ntfs_inject::Error) -> Error {
    Error::Source {
        path: path.to_string(),
        source: e,
    }
}

impl<D: BlockDev> WindowsTree<D> {
    pub fn open(dev: D) -> Result<Self> {
        let vol = Volume::open(dev).map_err(|e| ntfs("(volume)", e))?;
        Ok(WindowsTree { vol })
    }

    /// The record of `path`, or `None` when it does not exist.
    fn find(&self, path: &str) -> Result<Option<u64>> {
        match self.vol.lookup(path) {
            Ok(r) => Ok(Some(r)),
            Err(ntfs_inject::Error::NotFound(_)) => Ok(None),
            Err(e) => Err(ntfs(path, e)),
        }
    }

    /// Is `path` an existing directory?
    pub fn is_dir(&self, path: &str) -> Result<bool> {
        match self.find(path)? {
            Some(r) => Ok(self.vol.record(r).map_err(|e| ntfs(path, e))?.is_dir()),
            None => Ok(false),
        }
    }

    /// The unnamed data stream of the file `path`; `None` when there is no
    /// such file.
    pub fn read_file(&self, path: &str) -> Result<Option<Vec<u8>>> {
        let Some(r) = self.find(path)? else {
            return Ok(None);
        };
        self.read_record(r, path).map(Some)
    }

    fn read_record(&self, r: u64, path: &str) -> Result<Vec<u8>> {
        let rec = self.vol.record(r).map_err(|e| ntfs(path, e))?;
        if rec.is_dir() {
            return Err(Error::Layout(format!(
                "{path} in the Windows partition is a directory, expected a file"
            )));
        }
        let a = rec.find(attr_type::DATA, &[]).ok_or_else(|| {
            Error::Layout(format!(
                "{path} in the Windows partition has no data stream"
            ))
        })?;
        if a.data_size() > MAX_FILE {
            return Err(Error::Layout(format!(
                "{path} in the Windows partition is {} bytes; boot files over {MAX_FILE} bytes are refused",
                a.data_size()
            )));
        }
        self.vol.read_attr(a, MAX_FILE).map_err(|e| ntfs(path, e))
    }

    /// Every directory and file below `dir` (which must exist), parents
    /// before children, names in directory order.
    pub fn collect(&self, dir: &str) -> Result<Vec<Entry>> {
        let r = self
            .find(dir)?
            .ok_or_else(|| Error::Missing(dir.to_string()))?;
        let mut out = Vec::new();
        let mut bytes = 0u64;
        self.walk(r, dir, "", 0, &mut out, &mut bytes)?;
        Ok(out)
    }

    fn walk(
        &self,
        rec: u64,
        full: &str,
        rel: &str,
        depth: usize,
        out: &mut Vec<Entry>,
        bytes: &mut u64,
    ) -> Result<()> {
        if depth > MAX_DEPTH {
            return Err(Error::Layout(format!(
                "{full}: nested deeper than {MAX_DEPTH} directories"
            )));
        }
        for e in self.vol.list(rec).map_err(|e| ntfs(full, e))? {
            if e.record() == rec {
                continue;
            }
            let name = e.name_string();
            let child_full = format!("{full}\\{name}");
            let child_rel = if rel.is_empty() {
                name.clone()
            } else {
                format!("{rel}/{name}")
            };
            if out.len() >= MAX_ENTRIES {
                return Err(Error::Layout(format!(
                    "{full}: more than {MAX_ENTRIES} entries"
                )));
            }
            if e.is_dir() {
                out.push((child_rel.clone(), None));
                self.walk(e.record(), &child_full, &child_rel, depth + 1, out, bytes)?;
            } else {
                let data = self.read_record(e.record(), &child_full)?;
                *bytes += data.len() as u64;
                if *bytes > MAX_TREE {
                    return Err(Error::Layout(format!(
                        "{full}: more than {MAX_TREE} bytes of boot files"
                    )));
                }
                out.push((child_rel, Some(data)));
            }
        }
        Ok(())
    }
}
