//! Errors. Structural errors name the byte offset on the device and the
//! structure that was being parsed.

use std::io;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A structure on disk is malformed.
    #[error("{structure} at offset {offset:#x}: {message}")]
    Corrupt {
        offset: u64,
        structure: &'static str,
        message: String,
    },
    #[error("I/O error: {0}")]
    Io(#[from] io::Error),
    /// The request cannot be met (volume too small, unsupported feature).
    #[error("{0}")]
    Unsupported(String),
    /// A path or stream does not exist.
    #[error("not found: {0}")]
    NotFound(String),
    /// A WIM error while applying an image.
    #[error(transparent)]
    Wim(#[from] wim::Error),
}

pub type Result<T> = std::result::Result<T, Error>;

pub(crate) fn corrupt(offset: u64, structure: &'static str, message: impl Into<String>) -> Error {
    Error::Corrupt {
        offset,
        structure,
        message: message.into(),
    }
}
