//! Where the boot files go: the FAT32 ESP (UEFI) or the NTFS active
//! partition (BIOS). Both are driven through [`BootFs`]; paths are
//! `/`-separated, relative to the volume root.

use crate::{Error, Result};
use blockdev::BlockDev;
use ntfs_inject::inject::Injector;
use ntfs_inject::layout::attr_type;

/// A volume boot files are written to.
pub trait BootFs {
    /// Create directory `path` and its parents where missing.
    fn mkdir_p(&mut self, path: &str) -> Result<()>;
    /// Write file `path` (its directory exists).
    fn write(&mut self, path: &str, data: &[u8]) -> Result<()>;
    /// Make everything written durable.
    fn finish(&mut self) -> Result<()>;
}

/// The NTFS partition, through the injector: a file that exists with the
/// same bytes is left alone, one with other bytes is replaced.
pub struct NtfsFs<D: BlockDev> {
    inj: Injector<D>,
}

fn ntfs(path: &str, e: ntfs_inject::Error) -> Error {
    Error::Target {
        path: path.to_string(),
        message: e.to_string(),
    }
}

impl<D: BlockDev> NtfsFs<D> {
    pub fn open(dev: D) -> Result<Self> {
        let inj = Injector::open(dev).map_err(|e| ntfs("(volume)", e))?;
        Ok(NtfsFs { inj })
    }

    fn lookup(&self, path: &str) -> Result<Option<u64>> {
        match self.inj.volume().lookup(path) {
            Ok(r) => Ok(Some(r)),
            Err(ntfs_inject::Error::NotFound(_)) => Ok(None),
            Err(e) => Err(ntfs(path, e)),
        }
    }
}

impl<D: BlockDev> BootFs for NtfsFs<D> {
    fn mkdir_p(&mut self, path: &str) -> Result<()> {
        let mut cur = String::new();
        for c in path.split('/').filter(|c| !c.is_empty()) {
            cur = format!("{cur}/{c}");
            match self.lookup(&cur)? {
                None => {
                    self.inj.create(&cur, None).map_err(|e| ntfs(&cur, e))?;
                }
                Some(r) => {
                    let rec = self.inj.volume().record(r).map_err(|e| ntfs(&cur, e))?;
                    if !rec.is_dir() {
                        return Err(Error::Target {
                            path: cur,
                            message: "exists and is not a directory".into(),
                        });
                    }
                }
            }
        }
        Ok(())
    }

    fn write(&mut self, path: &str, data: &[u8]) -> Result<()> {
        let p = format!("/{}", path.trim_start_matches('/'));
        if let Some(r) = self.lookup(&p)? {
            let vol = self.inj.volume();
            let rec = vol.record(r).map_err(|e| ntfs(&p, e))?;
            let same = match rec.find(attr_type::DATA, &[]) {
                Some(a) if !rec.is_dir() && a.data_size() == data.len() as u64 => {
                    vol.read_attr(a, data.len() as u64)
                        .map_err(|e| ntfs(&p, e))?
                        == data
                }
                _ => false,
            };
            if same {
                return Ok(());
            }
            self.inj.replace(&p, data).map_err(|e| ntfs(&p, e))?;
            return Ok(());
        }
        self.inj.create(&p, Some(data)).map_err(|e| ntfs(&p, e))?;
        Ok(())
    }

    fn finish(&mut self) -> Result<()> {
        self.inj.volume().device().flush()?;
        Ok(())
    }
}
