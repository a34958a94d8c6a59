//! Typed errors. Every parse error names the file (when known), the byte
//! offset in that file and the structure being read, so a hostile or damaged
//! hive is reported precisely instead of panicking.

use std::fmt;
use std::path::PathBuf;

/// What went wrong.
#[derive(Debug)]
pub enum ErrorKind {
    /// The structure extends past the end of the data.
    Truncated,
    /// A signature ("regf", "hbin", "nk", ...) does not match.
    BadSignature,
    /// A cell offset points outside the hive bins, into a free cell, or is
    /// not 8-byte aligned.
    OutOfBounds,
    /// A size or count field is impossible (too large for its cell, zero
    /// where it cannot be, or not a multiple of what it must be).
    BadSize(String),
    /// The base block checksum does not match its contents.
    BadChecksum { stored: u32, computed: u32 },
    /// A key is reachable twice (cyclic or shared subkey lists).
    Cycle,
    /// Keys nest deeper than the 512 levels Windows allows.
    TooDeep,
    /// A field holds a value this implementation does not accept.
    Unsupported(String),
    /// A key or value named by the caller does not exist.
    NotFound(String),
    /// The caller asked for something invalid (empty name, deleting the root...).
    Invalid(String),
    /// Reading or writing a file failed.
    Io(std::io::Error),
}

/// A hive error: kind plus where it happened.
#[derive(Debug)]
pub struct Error {
    pub file: Option<PathBuf>,
    pub offset: Option<u64>,
    pub structure: &'static str,
    pub kind: ErrorKind,
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub(crate) fn at(offset: u64, structure: &'static str, kind: ErrorKind) -> Self {
        Error {
            file: None,
            offset: Some(offset),
            structure,
            kind,
        }
    }
    pub(crate) fn api(kind: ErrorKind) -> Self {
        Error {
            file: None,
            offset: None,
            structure: "request",
            kind,
        }
    }
    pub(crate) fn io(file: &std::path::Path, e: std::io::Error) -> Self {
        Error {
            file: Some(file.to_path_buf()),
            offset: None,
            structure: "file",
            kind: ErrorKind::Io(e),
        }
    }
    /// Attach the file name (keeps one already set).
    pub fn in_file(mut self, file: &std::path::Path) -> Self {
        if self.file.is_none() {
            self.file = Some(file.to_path_buf());
        }
        self
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ErrorKind::Truncated => write!(f, "truncated"),
            ErrorKind::BadSignature => write!(f, "bad signature"),
            ErrorKind::OutOfBounds => write!(f, "cell offset out of bounds"),
            ErrorKind::BadSize(s) => write!(f, "bad size: {s}"),
            ErrorKind::BadChecksum { stored, computed } => write!(
                f,
                "bad checksum (stored {stored:#010x}, computed {computed:#010x})"
            ),
            ErrorKind::Cycle => write!(f, "key reachable twice (cyclic subkey list)"),
            ErrorKind::TooDeep => write!(f, "keys nested deeper than 512 levels"),
            ErrorKind::Unsupported(s) => write!(f, "unsupported: {s}"),
            ErrorKind::NotFound(s) => write!(f, "not found: {s}"),
            ErrorKind::Invalid(s) => write!(f, "invalid request: {s}"),
            ErrorKind::Io(e) => write!(f, "{e}"),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(p) = &self.file {
            write!(f, "{}: ", p.display())?;
        }
        match self.offset {
            Some(o) => write!(f, "{} at file offset {o:#x}: {}", self.structure, self.kind),
            None if self.structure == "request" || self.structure == "file" => {
                write!(f, "{}", self.kind)
            }
            None => write!(f, "{}: {}", self.structure, self.kind),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.kind {
            ErrorKind::Io(e) => Some(e),
            _ => None,
        }
    }
}
