//! Error type: every failure names the file, the structure and the offset.

use std::io;

/// Result alias for this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong opening, reading or writing a VHDX file.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The file breaks MS-VHDX in a way that stops us from using it.
    #[error("{file}: {structure} at offset {offset:#x}: {msg}")]
    Corrupt {
        /// File name (or `<memory>`).
        file: String,
        /// Which on-disk structure.
        structure: &'static str,
        /// Byte offset in the file.
        offset: u64,
        /// What is wrong.
        msg: String,
    },
    /// An I/O error while touching a structure.
    #[error("{file}: {structure} at offset {offset:#x}: I/O error: {source}")]
    Io {
        /// File name.
        file: String,
        /// Which structure was being accessed.
        structure: &'static str,
        /// Byte offset in the file.
        offset: u64,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// A valid file using a feature this implementation does not handle.
    #[error("{file}: {msg}")]
    Unsupported {
        /// File name.
        file: String,
        /// What is not supported.
        msg: String,
    },
    /// A bad argument from the caller (sizes, block sizes, offsets).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// The parent of a differencing disk cannot be used.
    #[error("{file}: parent disk: {msg}")]
    Parent {
        /// The child's file name.
        file: String,
        /// What went wrong.
        msg: String,
    },
    /// A write to a disk opened read-only.
    #[error("{0}: disk is opened read-only")]
    ReadOnly(String),
}

impl Error {
    pub(crate) fn corrupt(
        file: &str,
        structure: &'static str,
        offset: u64,
        msg: impl Into<String>,
    ) -> Self {
        Error::Corrupt {
            file: file.to_string(),
            structure,
            offset,
            msg: msg.into(),
        }
    }
    pub(crate) fn io(file: &str, structure: &'static str, offset: u64, source: io::Error) -> Self {
        Error::Io {
            file: file.to_string(),
            structure,
            offset,
            source,
        }
    }
}

impl From<Error> for io::Error {
    fn from(e: Error) -> io::Error {
        match e {
            Error::Io { source, .. } if source.kind() != io::ErrorKind::Other => {
                io::Error::new(source.kind(), source.to_string())
            }
            Error::ReadOnly(_) => io::Error::new(io::ErrorKind::PermissionDenied, e.to_string()),
            Error::InvalidArgument(_) => io::Error::new(io::ErrorKind::InvalidInput, e.to_string()),
            other => io::Error::new(io::ErrorKind::InvalidData, other.to_string()),
        }
    }
}
