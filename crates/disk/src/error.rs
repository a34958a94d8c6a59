//! Typed errors: which structure, at which byte offset of the device, and
//! what is wrong with it.

use std::io;

/// Everything that can go wrong while planning, writing or reading a disk.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An on-disk structure is malformed.
    #[error("{structure} at offset {offset:#x}: {message}")]
    Corrupt {
        /// Which structure (e.g. "GPT header", "MBR partition entry 2").
        structure: &'static str,
        /// Byte offset on the device.
        offset: u64,
        /// What is wrong.
        message: String,
    },
    /// The device carries no partition table at all.
    #[error("no partition table: {0}")]
    NoTable(String),
    /// The requested layout cannot be made (bad sizes, disk too small).
    #[error("{0}")]
    InvalidArgument(String),
    /// A combination this crate (or a crate it relies on) does not support.
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// An I/O error on the device or output file.
    #[error("{what} at offset {offset:#x}: {source}")]
    Io {
        /// What was being read or written.
        what: &'static str,
        /// Byte offset.
        offset: u64,
        #[source]
        source: io::Error,
    },
    /// An error from the FAT layer (`fatfs`), with the path concerned.
    #[error("FAT: {path}: {source}")]
    Fat {
        /// Path inside the FAT volume, or the operation.
        path: String,
        #[source]
        source: io::Error,
    },
    /// Creating or writing the VHDX container failed.
    #[error(transparent)]
    Vhdx(#[from] vhdx::Error),
    /// Formatting the NTFS volume failed.
    #[error("NTFS: {0}")]
    Ntfs(#[from] ntfs_inject::Error),
    /// Creating, writing or renaming the output file failed.
    #[error("{path}: {source}")]
    Output {
        /// The output path.
        path: String,
        #[source]
        source: io::Error,
    },
}

/// Result alias.
pub type Result<T> = std::result::Result<T, Error>;

pub(crate) fn corrupt(structure: &'static str, offset: u64, message: impl Into<String>) -> Error {
    Error::Corrupt {
        structure,
        offset,
        message: message.into(),
    }
}

/// Map an I/O error on the device at `offset`.
pub(crate) fn io_at(what: &'static str, offset: u64) -> impl FnOnce(io::Error) -> Error {
    move |source| Error::Io {
        what,
        offset,
        source,
    }
}
