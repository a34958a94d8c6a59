//! Error types. Every failure that comes from the bytes of a WIM names the
//! file, the byte offset and the on-disk structure being read.

use crate::codec::DecodeError;
use std::path::PathBuf;

/// What is wrong with a structure read from disk.
#[derive(Debug, thiserror::Error)]
pub enum FormatErrorKind {
    #[error("truncated: need {needed} bytes, only {available} available")]
    Truncated { needed: u64, available: u64 },
    #[error("bad magic {0:02x?}")]
    BadMagic([u8; 8]),
    #[error("unsupported: {0}")]
    Unsupported(String),
    #[error("invalid: {0}")]
    Invalid(String),
    #[error("decompression failed: {0}")]
    Decode(#[from] DecodeError),
    #[error("SHA-1 mismatch: expected {expected}, got {actual}")]
    HashMismatch { expected: String, actual: String },
    #[error("directory tree is cyclic")]
    Cyclic,
    #[error("directory tree deeper than {0} levels")]
    TooDeep(usize),
}

/// A structural error without the file name attached yet (parsers work on
/// byte slices and do not know which file they came from).
#[derive(Debug)]
pub struct FormatError {
    pub offset: u64,
    pub structure: &'static str,
    pub kind: FormatErrorKind,
}

impl FormatError {
    pub fn new(offset: u64, structure: &'static str, kind: FormatErrorKind) -> Self {
        FormatError {
            offset,
            structure,
            kind,
        }
    }

    pub fn invalid(offset: u64, structure: &'static str, msg: impl Into<String>) -> Self {
        Self::new(offset, structure, FormatErrorKind::Invalid(msg.into()))
    }

    pub fn unsupported(offset: u64, structure: &'static str, msg: impl Into<String>) -> Self {
        Self::new(offset, structure, FormatErrorKind::Unsupported(msg.into()))
    }

    pub fn truncated(offset: u64, structure: &'static str, needed: u64, available: u64) -> Self {
        Self::new(
            offset,
            structure,
            FormatErrorKind::Truncated { needed, available },
        )
    }

    /// Attach the file this structure was read from.
    pub fn in_file(self, file: impl Into<PathBuf>) -> Error {
        Error::Format {
            file: file.into(),
            offset: self.offset,
            structure: self.structure,
            kind: self.kind,
        }
    }
}

impl std::fmt::Display for FormatError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} at offset {:#x}: {}",
            self.structure, self.offset, self.kind
        )
    }
}

impl std::error::Error for FormatError {}

/// Every error the WIM crate returns.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{}: {structure} at offset {offset:#x}: {kind}", file.display())]
    Format {
        file: PathBuf,
        offset: u64,
        structure: &'static str,
        kind: FormatErrorKind,
    },
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A request that cannot be satisfied by this WIM (no such image, a part
    /// of a split set is missing, a blob is absent).
    #[error("{0}")]
    NotFound(String),
    /// The destination refused something (unsafe path, existing file...).
    #[error("{0}")]
    Refused(String),
}

impl Error {
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
