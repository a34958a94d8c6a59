//! The FAT32 EFI system partition as a [`BootFs`], through `disk::Esp`
//! (the `fatfs` crate). Existing directories are reused and existing files
//! replaced, so running the install again refreshes the boot files.

use crate::target::BootFs;
use crate::{Error, Result};
use blockdev::BlockDev;

/// An open ESP.
pub struct EspFs<D: BlockDev> {
    esp: Option<disk::Esp<D>>,
}

fn fat(path: &str, e: disk::Error) -> Error {
    Error::Target {
        path: format!("ESP {path}"),
        message: e.to_string(),
    }
}

impl<D: BlockDev> EspFs<D> {
    /// Mount the FAT volume on `dev`; `time` (FILETIME) stamps every entry
    /// written when given, else the clock does.
    pub fn open(dev: D, time: Option<u64>) -> Result<Self> {
        let esp = disk::Esp::open_with(dev, &disk::EspOptions { time })
            .map_err(|e| fat("(volume)", e))?;
        Ok(EspFs { esp: Some(esp) })
    }

    fn esp(&self) -> Result<&disk::Esp<D>> {
        self.esp.as_ref().ok_or_else(|| Error::Target {
            path: "ESP".into(),
            message: "already closed".into(),
        })
    }
}

impl<D: BlockDev> BootFs for EspFs<D> {
    fn mkdir_p(&mut self, path: &str) -> Result<()> {
        self.esp()?.create_dir_all(path).map_err(|e| fat(path, e))
    }

    fn write(&mut self, path: &str, data: &[u8]) -> Result<()> {
        self.esp()?.write_file(path, data).map_err(|e| fat(path, e))
    }

    /// Unmount (FSInfo written, dirty flag cleared).
    fn finish(&mut self) -> Result<()> {
        match self.esp.take() {
            Some(e) => e.close().map_err(|e| fat("(unmount)", e)),
            None => Ok(()),
        }
    }
}
