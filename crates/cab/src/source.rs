//! The bytes of one cabinet file: memory-mapped from disk, or owned (an
//! inner cabinet decompressed from an MSU).

use crate::error::{Error, Result};
use std::path::Path;
use std::sync::Arc;

/// Read-only bytes shared by every part and folder reader.
#[derive(Clone)]
pub(crate) enum Source {
    Mapped(Arc<memmap2::Mmap>),
    Owned(Arc<Vec<u8>>),
}

impl Source {
    pub(crate) fn map(path: &Path) -> Result<Source> {
        let f = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
        let meta = f.metadata().map_err(|e| Error::io(path, e))?;
        if !meta.is_file() {
            return Err(Error::io(
                path,
                std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a regular file"),
            ));
        }
        if meta.len() == 0 {
            return Ok(Source::Owned(Arc::new(Vec::new())));
        }
        // SAFETY: the map is read-only; like every mmap user we rely on the
        // file not being truncated while it is open (a cabinet being
        // rewritten under us is outside what this tool supports).
        let map = unsafe { memmap2::Mmap::map(&f) }.map_err(|e| Error::io(path, e))?;
        Ok(Source::Mapped(Arc::new(map)))
    }

    pub(crate) fn bytes(&self) -> &[u8] {
        match self {
            Source::Mapped(m) => m,
            Source::Owned(v) => v,
        }
    }
}
